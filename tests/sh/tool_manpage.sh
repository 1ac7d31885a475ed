#!/usr/bin/env bash
# docs/profs.1 is generated from the tool's --help texts (scripts/gen-manpage):
# every command section it has must equal what the tool prints now. Commands
# the page does not have yet are listed (regenerate it), not failed.
set -uo pipefail
bin=${PROFS_BIN:?}
src=${PROFS_TEST_SRC:?}
tmp=${PROFS_TEST_TMP:?}/tool_manpage.$$
rm -rf "$tmp"; mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT
"$src/scripts/gen-manpage" "$bin" > "$tmp/now.1" || { echo "FAIL: gen-manpage"; exit 1; }
section() { awk -v c=".SS profs $2" '$0 == c {on=1; next} on && /^\.S[SH] / {exit} on {print}' "$1"; }
fail=0
doc=$src/docs/profs.1
for c in $(sed -n 's/^\.SS profs //p' "$doc"); do
  if ! grep -qx ".SS profs $c" "$tmp/now.1"; then echo "FAIL: docs/profs.1 documents '$c', which the tool lacks"; fail=1; continue; fi
  if diff <(section "$doc" "$c") <(section "$tmp/now.1" "$c") > "$tmp/d"; then echo "ok $c"
  else echo "FAIL: docs/profs.1 section '$c' differs from 'profs help $c' (run scripts/gen-manpage build/profs > docs/profs.1):"; cat "$tmp/d"; fail=1; fi
done
for c in $(sed -n 's/^\.SS profs //p' "$tmp/now.1"); do
  grep -qx ".SS profs $c" "$doc" || echo "note: docs/profs.1 lacks '$c' (run scripts/gen-manpage)"
done
if command -v man >/dev/null && [ $fail = 0 ]; then
  man -l "$doc" >/dev/null 2>"$tmp/warn" && [ ! -s "$tmp/warn" ] && echo "ok renders" || { echo "FAIL: man -l: $(cat "$tmp/warn")"; fail=1; }
fi
exit $fail
