#!/usr/bin/env bash
# The Rust bindings (bindings/rust: profs-sys + profs) against this build's
# libprofs.so: cargo test --offline, with Cargo's target directory inside the
# build tree.
set -euo pipefail
if [ "${PROFS_SANITIZE:-0}" = "1" ]; then
  echo "skipped under sanitizers (the Rust test programs do not link the ASan runtime)"; exit 77
fi
src=${PROFS_TEST_SRC:?}
build=${PROFS_TEST_BUILD:?}
CARGO=${CARGO:-cargo}
if ! command -v "$CARGO" >/dev/null; then
  [ -x "$HOME/.cargo/bin/cargo" ] && CARGO=$HOME/.cargo/bin/cargo ||
    { echo "skipped: cargo not found (install Rust's cargo to test bindings/rust)"; exit 77; }
fi
export PROFS_LIB_DIR=$build
export LD_LIBRARY_PATH=$build${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export CARGO_TARGET_DIR=$build/cargo-target
export CARGO_BUILD_JOBS=2
export OPENBLAS_NUM_THREADS=1
export PROFS_TEST_SRC=$src
export PROFS_TEST_TMP=${PROFS_TEST_TMP:-/tmp}
# Tiny random checkpoints for the runtime tests (tests/gen/gen_lm_fixtures).
fixtures=$PROFS_TEST_TMP/rust-lm.$$
trap 'rm -rf "$fixtures"' EXIT
if [ -x "$build/tests/gen_lm_fixtures" ]; then
  "$build/tests/gen_lm_fixtures" "$fixtures" gpt2
  export PROFS_LM_FIXTURES=$fixtures
fi
if [ -n "${PROFS_BIN:-}" ] && "$PROFS_BIN" demo-model --out "$fixtures/demo" >/dev/null; then
  export PROFS_DEMO_MODEL=$fixtures/demo
fi
cd "$src/bindings/rust"
"$CARGO" test --offline --locked 2>&1

# profs-sys also finds an installed libprofs through pkg-config alone.
if command -v pkg-config >/dev/null; then
  prefix=$fixtures/prefix
  cmake --install "$build" --prefix "$prefix" >/dev/null
  libdir=$(dirname "$(find "$prefix" -name profs.pc | head -1)")/..
  ( unset PROFS_LIB_DIR
    export PKG_CONFIG_PATH=$libdir/pkgconfig LD_LIBRARY_PATH=$libdir CARGO_TARGET_DIR=$build/cargo-target-pc
    "$CARGO" test --offline --locked -p profs-sys 2>&1 ) | tee "$fixtures/pc.log" | tail -3
  grep -q 'test tests::version_and_strerror ... ok' "$fixtures/pc.log" ||
    { echo "FAIL: profs-sys against the installed library found by pkg-config"; exit 1; }
fi
echo "rust: ok"
