#!/usr/bin/env bash
# The ABI promise: the built libprofs.so.0 must match the committed baseline
# abi/libprofs.abi exactly (abidiff exit status 0), and every exported symbol
# must be declared in a public header and in both bindings. A deliberate change to the public API
# updates the baseline in the same commit: scripts/abi-update (docs/abi.md).
set -euo pipefail
if [ "${PROFS_SANITIZE:-0}" = "1" ]; then echo "skipped under sanitizers (the ABI is read from the RelWithDebInfo build)"; exit 77; fi
src=${PROFS_TEST_SRC:?}
build=${PROFS_TEST_BUILD:?}
tmp=${PROFS_TEST_TMP:?}/abi.$$
for t in abidw abidiff readelf nm; do
  command -v $t >/dev/null || { echo "skipped: $t not installed (Debian abigail-tools / binutils; scripts/deps installs them)"; exit 77; }
done
lib=$build/libprofs.so.0
if ! readelf -S "$lib" | grep '\.debug_info' >/dev/null; then
  echo "skipped: $lib has no debug information; the ABI check runs on a RelWithDebInfo build"
  exit 77
fi
baseline=$src/abi/libprofs.abi
[ -f "$baseline" ] || { echo "FAIL: no baseline $baseline (run scripts/abi-update)"; exit 1; }
rm -rf "$tmp"; mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT

fail=0
hint() {
  echo
  echo "If this change of the public API is deliberate: run scripts/abi-update and commit"
  echo "abi/libprofs.abi with it (docs/abi.md: after a release, new symbols go into a new"
  echo "version node of lib/profs.map; nothing is ever removed or changed)."
}

# 1. Exported symbols: readable list of what was added or removed.
nm -D --defined-only "$lib" | awk '$2 ~ /^[TDBRVW]$/ {print $3}' | grep -v '^PROFS_' | sort > "$tmp/now.syms"
grep -o "<elf-symbol name='[^']*' version='[^']*'" "$baseline" |
  sed -e "s/<elf-symbol name='\([^']*\)' version='\([^']*\)'/\1@@\2/" | sort > "$tmp/base.syms"
if ! diff -u "$tmp/base.syms" "$tmp/now.syms" > "$tmp/syms.diff"; then
  echo "FAIL: exported symbols differ from abi/libprofs.abi (- baseline, + built):"
  tail -n +3 "$tmp/syms.diff" | grep '^[-+]' || true
  fail=1
fi

# 2. Every exported symbol is declared in a public header (nothing leaks).
for s in $(sed 's/@.*//' "$tmp/now.syms"); do
  if ! grep -qE "\\b$s\\b *\\(" "$src"/include/profs/*.h; then
    echo "FAIL: $s is exported but not declared in include/profs/*.h"
    fail=1
  fi
done

# 3. Functions, variables and public types: abidiff, any difference fails.
"$src/scripts/abi-dump" "$src" "$build" > "$tmp/now.abi"
set +e
abidiff --no-show-locs --harmless "$baseline" "$tmp/now.abi" > "$tmp/abidiff.txt" 2>&1
rc=$?
set -e
if [ $rc -ne 0 ]; then
  echo "FAIL: abidiff abi/libprofs.abi <built> exited with $rc:"
  cat "$tmp/abidiff.txt"
  fail=1
fi
# 4. Numeric constants (enumerators, flags): bindings copy them, so none may change.
if [ -f "$src/abi/constants.txt" ]; then
  "$src/scripts/abi-constants" "$src" "$build" > "$tmp/constants.txt"
  if ! diff -u "$src/abi/constants.txt" "$tmp/constants.txt" > "$tmp/constants.diff"; then
    echo "FAIL: public constants differ from abi/constants.txt (- baseline, + headers):"
    tail -n +3 "$tmp/constants.diff" | grep '^[-+]' || true
    fail=1
  fi
else
  echo "FAIL: no abi/constants.txt (run scripts/abi-update)"; fail=1
fi
# 5. The bindings declare every exported function (docs/bindings.md, "When the C API changes").
for s in $(sed 's/@.*//' "$tmp/now.syms"); do
  grep -q "\"$s\"" "$src/bindings/python/profs/_lib.py" ||
    { echo "FAIL: $s is exported but not declared in bindings/python/profs/_lib.py (_PROTOTYPES)"; fail=1; }
  grep -qE "fn $s *\(" "$src/bindings/rust/profs-sys/src/lib.rs" ||
    { echo "FAIL: $s is exported but not declared in bindings/rust/profs-sys/src/lib.rs"; fail=1; }
done
if [ $fail -ne 0 ]; then hint; exit 1; fi
echo "abi: ok ($(wc -l < "$tmp/now.syms") exported symbols match abi/libprofs.abi, $(wc -l < "$tmp/constants.txt") constants match abi/constants.txt)"
