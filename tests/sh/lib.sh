# The preamble of the tool tests, sourced as . "$(dirname "$0")/lib.sh" after their `set -uo pipefail`;
# not a test itself (tests/CMakeLists.txt leaves it out of the sh/*.sh tests). It sets bin (the tool)
# and src (the source tree) from the ctest environment, skips the test (77) without jq, makes the
# scratch directory tmp=$PROFS_TEST_TMP/<test name>.<pid> (removed on exit), and defines say and
# expect, which count a failure in fail (the test ends with exit $fail).
bin=${PROFS_BIN:?}
src=${PROFS_TEST_SRC:?}
tmp=${PROFS_TEST_TMP:?}/$(basename "$0" .sh).$$
command -v jq >/dev/null || { echo "skipped: jq not installed (scripts/deps installs it)"; exit 77; }
rm -rf "$tmp"; mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT
fail=0
say() { echo "$1 $2"; [ "$1" = ok ] || fail=1; }
expect() { # expect NAME WANT_RC PATTERN -- cmd...
  local name=$1 want=$2 pat=$3; shift 4
  local out rc
  out=$("$@" 2>&1); rc=$?
  if [ "$rc" != "$want" ]; then say FAIL "$name: exit $rc, want $want: $out"; return; fi
  if [ -n "$pat" ] && ! grep -qF -- "$pat" <<<"$out"; then say FAIL "$name: output lacks '$pat': $out"; return; fi
  say ok "$name"
}
