//! The constants declared here equal the C headers' (abi/constants.txt,
//! generated from them by scripts/abi-constants).
use profs_sys::*;
use std::collections::HashMap;
use std::path::PathBuf;

#[test]
fn constants_match_the_headers() {
    let src = std::env::var("PROFS_TEST_SRC").map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.."));
    let text = std::fs::read_to_string(src.join("abi/constants.txt")).expect("abi/constants.txt");
    let c: HashMap<&str, i64> = text.lines()
        .map(|l| { let mut it = l.split_whitespace(); (it.next().unwrap(), it.next().unwrap().parse().unwrap()) })
        .collect();
    macro_rules! pairs { ($($n:ident),* $(,)?) => { &[$((stringify!($n), $n as i64)),*] } }
    let ours: &[(&str, i64)] = pairs![
        PROFS_OK, PROFS_EINVAL, PROFS_ENOMEM, PROFS_EIO, PROFS_EFORMAT, PROFS_EUNSUPPORTED, PROFS_ESHAPE,
        PROFS_ENUMERIC, PROFS_ECANCELLED, PROFS_ESTATE, PROFS_EBUFS, PROFS_ENOTFOUND, PROFS_EEXIST,
        PROFS_DTYPE_F32, PROFS_DTYPE_F16, PROFS_DTYPE_BF16, PROFS_DTYPE_F64, PROFS_DTYPE_I8, PROFS_DTYPE_I16,
        PROFS_DTYPE_I32, PROFS_DTYPE_I64, PROFS_DTYPE_U8, PROFS_DTYPE_U16, PROFS_DTYPE_U32, PROFS_DTYPE_U64,
        PROFS_DTYPE_BOOL, PROFS_DTYPE_F8_E4M3, PROFS_DTYPE_F8_E5M2,
        PROFS_CENTER_NONE, PROFS_CENTER_MEAN, PROFS_CENTER_TOP_SINGULAR,
        PROFS_RANK_SCREENOT, PROFS_RANK_FIXED,
        PROFS_SCREENOT_IMPUTE, PROFS_SCREENOT_WINSORIZE, PROFS_SCREENOT_ZERO,
        PROFS_LAYOUT_D_FIRST, PROFS_LAYOUT_D_LAST,
        PROFS_TARGET_VALUE, PROFS_TARGET_KEY, PROFS_TARGET_BOTH,
        PROFS_COMPUTE_F32, PROFS_COMPUTE_BF16, PROFS_COMPUTE_INT8,
    ];
    for (name, value) in ours {
        assert_eq!(c.get(name), Some(value), "{}", name);
    }
    // the flags are read through their function twins
    unsafe {
        assert_eq!(profs_encode_flag_add_special() as i64, c["PROFS_ENCODE_ADD_SPECIAL"]);
        assert_eq!(profs_encode_flag_special_as_text() as i64, c["PROFS_ENCODE_SPECIAL_AS_TEXT"]);
        assert_eq!(profs_decode_flag_skip_special() as i64, c["PROFS_DECODE_SKIP_SPECIAL"]);
    }
}
