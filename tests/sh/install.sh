#!/usr/bin/env bash
# Install the build tree into a temporary prefix, check the exported symbols,
# then build and run a small consumer twice: through pkg-config and through
# CMake's find_package(profs).
set -euo pipefail
if [ "${PROFS_SANITIZE:-0}" = "1" ]; then echo "skipped under sanitizers"; exit 77; fi
build=${PROFS_TEST_BUILD:?}
tmp=${PROFS_TEST_TMP:?}/install.$$
rm -rf "$tmp"; mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix
cmake --install "$build" --prefix "$prefix" >/dev/null
# lib/, lib64/ or lib/<multiarch triplet>/, as CMAKE_INSTALL_LIBDIR says
libdir=$(dirname "$(find "$prefix" -name 'libprofs.so.0' | head -1)")

# SONAME and real file name
so=$(find "$libdir" -name 'libprofs.so.0.*' -type f | head -1)
[ -n "$so" ] || { echo "FAIL: no libprofs.so.0.<minor>.<patch> installed"; exit 1; }
soname=$(objdump -p "$so" | awk '/SONAME/ {print $2}')
[ "$soname" = "libprofs.so.0" ] || { echo "FAIL: SONAME is '$soname'"; exit 1; }
# libprofs.a is installed exactly when PROFS_BUILD_STATIC is on
static=0
grep -q -E '^PROFS_BUILD_STATIC:BOOL=(ON|1|TRUE|YES)$' "$build/CMakeCache.txt" && static=1
if [ $static = 1 ]; then
  [ -f "$libdir/libprofs.a" ] || { echo "FAIL: libprofs.a not installed"; exit 1; }
else
  [ ! -e "$libdir/libprofs.a" ] || { echo "FAIL: libprofs.a installed with PROFS_BUILD_STATIC=OFF"; exit 1; }
fi
[ -x "$prefix/bin/profs" ] || { echo "FAIL: profs tool not installed"; exit 1; }
# the installed tool finds the installed library by itself (RUNPATH $ORIGIN/../lib), except
# when configured for a system library directory (-DCMAKE_INSTALL_PREFIX=/usr: no RUNPATH)
version=$(sed -n 's/^#define PROFS_VERSION_STRING "\(.*\)"$/\1/p' "$prefix/include/profs/version.h")
[ -n "$version" ] || { echo "FAIL: no PROFS_VERSION_STRING in the installed version.h"; exit 1; }
if readelf -d "$prefix/bin/profs" | grep RUNPATH >/dev/null; then
  toolout=$(env -u LD_LIBRARY_PATH "$prefix/bin/profs" --version)
else
  toolout=$(LD_LIBRARY_PATH=$libdir "$prefix/bin/profs" --version)
fi
[ "$toolout" = "profs $version (libprofs $version)" ] || { echo "FAIL: installed profs --version: $toolout"; exit 1; }
[ "$so" = "$libdir/libprofs.so.$version" ] || { echo "FAIL: real file $so for version $version"; exit 1; }
# a distribution library carries no RPATH/RUNPATH
if readelf -d "$so" | grep -E 'RPATH|RUNPATH' >/dev/null; then echo "FAIL: installed library has an RPATH"; exit 1; fi

# Exactly profs_* (and the PROFS_0 version node) exported
bad=$(nm -D --defined-only "$so" | awk '{print $NF}' | grep -v -E '^profs_[a-z0-9_]+(@@PROFS_0(\.[0-9]+)*)?$' | grep -v -E '^PROFS_0(\.[0-9]+)*$' || true)
if [ -n "$bad" ]; then echo "FAIL: unexpected exported symbols:"; echo "$bad"; exit 1; fi
nm -D --defined-only "$so" | grep 'profs_version_number@@PROFS_0' >/dev/null || { echo "FAIL: symbols not versioned PROFS_0"; exit 1; }

# The library never prints, exits or aborts: it imports none of the functions that would
imported=$(nm -D --undefined-only "$so" | awk '{print $NF}' | sed 's/@.*//')
forbidden=$(echo "$imported" | grep -x -E '(printf|vprintf|puts|putchar|fprintf|vfprintf|fputs|fputc|perror|exit|_exit|_Exit|abort|__assert_fail|__printf_chk|__fprintf_chk|__vfprintf_chk|stdout|stderr)' || true)
[ -z "$forbidden" ] || { echo "FAIL: the library imports:" $forbidden; exit 1; }

# Public headers include only <stddef.h> and <stdint.h>
badinc=$(grep -h '#include <' "$prefix"/include/profs/*.h | grep -v -E '<(stddef|stdint)\.h>' || true)
[ -z "$badinc" ] || { echo "FAIL: public headers include: $badinc"; exit 1; }

cat > "$tmp/consumer.c" <<'C'
#include <profs/profs.h>
#include <stdio.h>
#include <string.h>
int main(void) {
    if (strcmp(profs_strerror(PROFS_ESHAPE), "shape or size mismatch") != 0) return 1;
    if (profs_version_number() != PROFS_VERSION_NUMBER) return 2;
    profs_model *m = NULL;
    if (profs_model_open(&m, "no/such/model.safetensors") != PROFS_EIO || m != NULL) return 3;
    if (profs_last_error()[0] == '\0') return 4;
    profs_model_free(NULL);
    printf("consumer ok %s\n", profs_version_string());
    return 0;
}
C
export LD_LIBRARY_PATH=$libdir
# 1) pkg-config
PKG_CONFIG_PATH=$libdir/pkgconfig
export PKG_CONFIG_PATH
[ "$(pkg-config --modversion profs)" = "$version" ] || { echo "FAIL: pkg-config --modversion profs"; exit 1; }
cc -std=c99 -Wall -Werror -o "$tmp/consumer_pc" "$tmp/consumer.c" $(pkg-config --cflags --libs profs)
"$tmp/consumer_pc" | grep "consumer ok" >/dev/null || { echo "FAIL: pkg-config consumer"; exit 1; }
# static link through pkg-config --static
if [ $static = 1 ]; then
  cc -std=c99 -o "$tmp/consumer_static" "$tmp/consumer.c" $(pkg-config --cflags profs) "$libdir/libprofs.a" $(pkg-config --libs-only-l --static profs | sed 's/-lprofs//')
  "$tmp/consumer_static" | grep "consumer ok" >/dev/null || { echo "FAIL: static consumer"; exit 1; }
fi

# 2) CMake find_package
mkdir -p "$tmp/cm"
cp "$tmp/consumer.c" "$tmp/cm/"
cat > "$tmp/cm/CMakeLists.txt" <<'CM'
cmake_minimum_required(VERSION 3.25)
project(consumer C)
find_package(profs 0 REQUIRED)
add_executable(consumer consumer.c)
target_link_libraries(consumer PRIVATE profs::profs)
CM
cmake -S "$tmp/cm" -B "$tmp/cm/build" -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$tmp/cm/build" >/dev/null
"$tmp/cm/build/consumer" | grep "consumer ok" >/dev/null || { echo "FAIL: find_package consumer"; exit 1; }
# SameMajorVersion: asking for major 1 must fail
sed -i 's/find_package(profs 0 REQUIRED)/find_package(profs 1 REQUIRED)/' "$tmp/cm/CMakeLists.txt"
if cmake -S "$tmp/cm" -B "$tmp/cm/build2" -DCMAKE_PREFIX_PATH="$prefix" >/dev/null 2>&1; then
  echo "FAIL: find_package(profs 1) accepted version 0"; exit 1
fi
echo "install: ok"
