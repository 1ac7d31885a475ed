#!/usr/bin/env bash
# tests/reference/transformers-env: usage, and the reasons it gives when it cannot build the chroot (not root,
# a directory that is not a chroot, too little disk, no network for debootstrap or apt-get), with stand-in
# debootstrap/chroot/mount tools, so nothing is downloaded or mounted.
set -uo pipefail
src=${PROFS_TEST_SRC:?}
env_sh=$src/tests/reference/transformers-env
tmp=${PROFS_TEST_TMP:?}/transformers_env.$$
rm -rf "$tmp"; mkdir -p "$tmp/bin"
trap 'rm -rf "$tmp"' EXIT
fail=0
check() { # check NAME WANT_RC PATTERN -- cmd...
  local name=$1 want=$2 pat=$3; shift 4
  local out rc
  out=$("$@" 2>&1); rc=$?
  if [ "$rc" != "$want" ]; then echo "FAIL $name: exit $rc, want $want: $out"; fail=1; return; fi
  if [ -n "$pat" ] && ! grep -qF -- "$pat" <<<"$out"; then echo "FAIL $name: output lacks '$pat': $out"; fail=1; return; fi
  echo "ok $name"
}

# stand-ins: debootstrap fails as it does offline; chroot runs nothing (no python in the "chroot")
cat >"$tmp/bin/debootstrap" <<'SH'
#!/bin/sh
echo "I: Retrieving InRelease"
echo "E: Failed getting release file http://mirror/debian/dists/sid/Release" >&2
exit 1
SH
cat >"$tmp/bin/chroot" <<'SH'
#!/bin/sh
case "$*" in *apt-get*update*) echo "E: Failed to fetch http://mirror/debian/dists/sid/InRelease  Temporary failure resolving 'mirror'"; exit 100 ;; esac
exit 1
SH
printf '#!/bin/sh\nexit 1\n' >"$tmp/bin/mountpoint"
printf '#!/bin/sh\nexit 0\n' >"$tmp/bin/mount"
chmod +x "$tmp/bin/"*
fake=(env "PATH=$tmp/bin:$PATH")

check help 0 "debootstrap --variant=minbase sid DIR" -- "$env_sh" --help
check bad-option 2 "unknown option '--frobnicate'" -- "$env_sh" --frobnicate
check two-args 2 "at most one argument" -- "$env_sh" a b
check not-root 1 "must run as root" -- env PROFS_TRANSFORMERS_ENV_UID=1000 "$env_sh" "$tmp/env"
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
  check not-root-really 1 "must run as root" -- setpriv --reuid=65534 --regid=65534 --clear-groups "$env_sh" "$tmp/env"
elif [ "$(id -u)" != 0 ]; then
  check not-root-really 1 "must run as root" -- "$env_sh" "$tmp/env"
fi
# the default directory comes from PROFS_TRANSFORMERS_ENV
check default-dir 1 "$tmp/chosen" -- env PROFS_TRANSFORMERS_ENV_UID=1000 PROFS_TRANSFORMERS_ENV="$tmp/chosen" "$env_sh"

mkdir -p "$tmp/notchroot"; echo keep >"$tmp/notchroot/file"
check not-a-chroot 1 "is not empty and is not a Debian chroot" -- \
  "${fake[@]}" PROFS_TRANSFORMERS_ENV_UID=0 "$env_sh" "$tmp/notchroot"
[ -f "$tmp/notchroot/file" ] || { echo "FAIL not-a-chroot: removed a file"; fail=1; }
check disk 1 "MB free; the environment needs about 99999999 MB" -- \
  "${fake[@]}" PROFS_TRANSFORMERS_ENV_UID=0 PROFS_TRANSFORMERS_ENV_NEED_MB=99999999 "$env_sh" "$tmp/new"
check no-network-debootstrap 1 "debootstrap cannot reach Debian's mirror: no network?" -- \
  "${fake[@]}" PROFS_TRANSFORMERS_ENV_UID=0 PROFS_TRANSFORMERS_ENV_NEED_MB=1 "$env_sh" "$tmp/new"
# a finished debootstrap whose apt-get update cannot reach the mirror
mkdir -p "$tmp/boot/usr/bin" "$tmp/boot/var/lib/dpkg" "$tmp/boot/etc"
printf '#!/bin/sh\n' >"$tmp/boot/usr/bin/apt-get"; chmod +x "$tmp/boot/usr/bin/apt-get"
echo "Package: base-files" >"$tmp/boot/var/lib/dpkg/status"
check no-network-apt 1 "apt-get update inside $tmp/boot cannot reach Debian's mirror: no network?" -- \
  "${fake[@]}" PROFS_TRANSFORMERS_ENV_UID=0 PROFS_TRANSFORMERS_ENV_NEED_MB=1 "$env_sh" "$tmp/boot"
exit $fail
