#!/usr/bin/env bash
# Every public header compiles on its own, as C99 and as C++ (-Wall -Wextra
# -Werror -pedantic), includes only <stddef.h>/<stdint.h> and other profs
# headers, and gives its functions C linkage when included from C++.
set -euo pipefail
src=${PROFS_TEST_SRC:?}
build=${PROFS_TEST_BUILD:?}
tmp=${PROFS_TEST_TMP:?}/headers.$$
rm -rf "$tmp"; mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT
CC=${CC:-cc}
CXX=${CXX:-c++}
command -v "$CXX" >/dev/null || { echo "FAIL: no C++ compiler ($CXX); install g++ (scripts/deps)"; exit 1; }
inc=(-I"$src/include" -I"$build/include")
flags=(-Wall -Wextra -Werror -pedantic)
fail=0
headers=("$src"/include/profs/*.h "$build"/include/profs/version.h)
for h in "${headers[@]}"; do
  name=$(basename "$h")
  # Only <stddef.h>, <stdint.h> and quoted profs headers.
  bad=$(grep -E '^[[:space:]]*#[[:space:]]*include' "$h" |
        grep -v -E '#[[:space:]]*include[[:space:]]*(<(stddef|stdint)\.h>|"(profs/)?[a-z_0-9]+\.h")' || true)
  if [ -n "$bad" ]; then echo "FAIL: $name includes: $bad"; fail=1; fi
  # Include guard: including twice must work.
  printf '#include <profs/%s>\n#include <profs/%s>\nint profs_header_test_dummy;\n' "$name" "$name" > "$tmp/c_$name.c"
  if ! "$CC" -std=c99 "${flags[@]}" "${inc[@]}" -c "$tmp/c_$name.c" -o "$tmp/c_$name.o" 2> "$tmp/err"; then
    echo "FAIL: $name does not compile alone as C99:"; cat "$tmp/err"; fail=1
  fi
  if ! "$CC" -std=c11 "${flags[@]}" -Wstrict-prototypes -Wmissing-prototypes "${inc[@]}" -c "$tmp/c_$name.c" -o "$tmp/c11_$name.o" 2> "$tmp/err"; then
    echo "FAIL: $name does not compile alone as C11:"; cat "$tmp/err"; fail=1
  fi
  # C++: compile, and reference every function the header declares; the
  # undefined symbols of the object must be unmangled (extern "C").
  fns=$(tr '\n' ' ' < "$h" | grep -oE 'PROFS_API[^;{]*\(' | sed -E 's/[[:space:]]*\($//; s/.*[^A-Za-z0-9_]//' | sort -u || true)
  {
    printf '#include <profs/%s>\n' "$name"
    printf 'extern "C++" const void *profs_header_refs[];\nconst void *profs_header_refs[] = {\n'
    for f in $fns; do printf '  reinterpret_cast<const void *>(&%s),\n' "$f"; done
    printf '  0 };\n'
  } > "$tmp/cxx_$name.cc"
  if ! "$CXX" -std=c++11 "${flags[@]}" "${inc[@]}" -c "$tmp/cxx_$name.cc" -o "$tmp/cxx_$name.o" 2> "$tmp/err"; then
    echo "FAIL: $name does not compile alone as C++11:"; cat "$tmp/err"; fail=1
    continue
  fi
  mangled=$(nm -u "$tmp/cxx_$name.o" | awk '{print $2}' | grep '^_Z' || true)
  if [ -n "$mangled" ]; then
    echo "FAIL: $name: functions without C linkage in C++ (missing extern \"C\"):"; echo "$mangled"; fail=1
  fi
  for f in $fns; do
    nm -u "$tmp/cxx_$name.o" | awk '{print $2}' | grep -x "$f" >/dev/null ||
      { echo "FAIL: $name: $f not referenced with C linkage"; fail=1; }
  done
  echo "$name: $(echo $fns | wc -w) functions"
done
# The umbrella header includes every public header.
for h in "$src"/include/profs/*.h; do
  name=$(basename "$h")
  [ "$name" = profs.h ] && continue
  grep -qE "#include \"(profs/)?$name\"" "$src/include/profs/profs.h" ||
    { echo "FAIL: profs.h does not include $name"; fail=1; }
done
[ $fail -eq 0 ] || exit 1
echo "headers: ok"
