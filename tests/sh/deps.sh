#!/usr/bin/env bash
# scripts/deps (run first by scripts/test and scripts/demo) installs only the
# Debian packages that are missing, says which, and runs `apt-get update`
# before `apt-get install`; with nothing missing it runs no apt-get at all.
# dpkg-query, apt-get and id are replaced by fakes on PATH: nothing is installed.
set -euo pipefail
src=${PROFS_TEST_SRC:?}
tmp=${PROFS_TEST_TMP:?}/deps.$$
rm -rf "$tmp"; mkdir -p "$tmp/bin"
trap 'rm -rf "$tmp"' EXIT
log=$tmp/apt.log

# dpkg-query -W -f=... PKG: installed unless PKG is listed in $FAKE_MISSING
cat > "$tmp/bin/dpkg-query" <<'SH'
#!/usr/bin/env bash
pkg=${!#}
for m in $FAKE_MISSING; do
  if [ "$m" = "$pkg" ]; then echo "dpkg-query: no packages found matching $pkg" >&2; exit 1; fi
done
printf 'install ok installed'
SH
cat > "$tmp/bin/apt-get" <<'SH'
#!/usr/bin/env bash
echo "apt-get $*" >> "$FAKE_APT_LOG"
SH
cat > "$tmp/bin/id" <<'SH'
#!/usr/bin/env bash
echo 0
SH
chmod +x "$tmp/bin/"*
export PATH="$tmp/bin:$PATH" FAKE_APT_LOG=$log
fail() { echo "FAIL: $*"; exit 1; }

# 1) nothing missing: silent, exit 0, no apt-get
out=$(FAKE_MISSING="" "$src/scripts/deps" 2>&1) || fail "deps failed with nothing missing: $out"
[ -z "$out" ] || fail "deps printed with nothing missing: $out"
[ ! -e "$log" ] || fail "apt-get ran with nothing missing: $(cat "$log")"

# 2) --check with two missing: names them, exit 1, no apt-get
if out=$(FAKE_MISSING="check jq" "$src/scripts/deps" --check 2>&1); then fail "--check succeeded with packages missing"; fi
[ "$out" = "missing Debian packages: check jq" ] || fail "--check said: $out"
[ ! -e "$log" ] || fail "apt-get ran under --check: $(cat "$log")"

# 3) two missing: says what it installs, apt-get update first, installs exactly those
out=$(FAKE_MISSING="check jq" "$src/scripts/deps" 2>&1) || fail "deps failed: $out"
[ "$out" = "scripts/deps: installing missing Debian packages: check jq" ] || fail "deps said: $out"
[ "$(wc -l < "$log")" -eq 2 ] || fail "expected 2 apt-get calls, got: $(cat "$log")"
[ "$(head -1 "$log" | cut -d' ' -f1-2)" = "apt-get update" ] || fail "first apt-get call is not update: $(cat "$log")"
[[ "$(tail -1 "$log")" == "apt-get install "*" check jq" ]] || fail "second apt-get call: $(tail -1 "$log")"

# 4) scripts/test and scripts/demo call scripts/deps before building
for s in test demo; do
  first=$(grep -n -E '^(scripts/deps|cmake )' "$src/scripts/$s" | head -1)
  case "$first" in *scripts/deps*) ;; *) fail "scripts/$s does not run scripts/deps before cmake" ;; esac
done
echo "deps: ok"
