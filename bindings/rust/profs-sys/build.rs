//! Find libprofs.so for linking, without any crates.io dependency:
//! 1. `PROFS_LIB_DIR`: the directory holding libprofs.so (a build tree or a prefix's lib/);
//! 2. otherwise `pkg-config --libs profs`, run as a command (PKG_CONFIG overrides the program);
//! 3. otherwise plain `-lprofs` through the system linker paths.
use std::env;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=PROFS_LIB_DIR");
    println!("cargo:rerun-if-env-changed=PKG_CONFIG_PATH");
    println!("cargo:rerun-if-env-changed=PKG_CONFIG");

    if let Ok(dir) = env::var("PROFS_LIB_DIR") {
        if !dir.is_empty() {
            println!("cargo:rustc-link-search=native={}", dir);
            println!("cargo:rustc-link-lib=dylib=profs");
            return;
        }
    }

    let pkg_config = env::var("PKG_CONFIG").unwrap_or_else(|_| "pkg-config".to_string());
    if let Ok(out) = Command::new(&pkg_config).args(["--libs", "profs"]).output() {
        if out.status.success() {
            let flags = String::from_utf8_lossy(&out.stdout);
            let mut linked = false;
            for flag in flags.split_whitespace() {
                if let Some(dir) = flag.strip_prefix("-L") {
                    println!("cargo:rustc-link-search=native={}", dir);
                } else if let Some(lib) = flag.strip_prefix("-l") {
                    println!("cargo:rustc-link-lib=dylib={}", lib);
                    linked |= lib == "profs";
                }
            }
            if linked {
                return;
            }
        }
    }
    println!("cargo:warning=libprofs: neither PROFS_LIB_DIR nor `pkg-config profs` found; linking -lprofs from the default paths");
    println!("cargo:rustc-link-lib=dylib=profs");
}
