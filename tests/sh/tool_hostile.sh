#!/usr/bin/env bash
# Hostile and degenerate inputs (issue 11): the numerical floor leaves real
# edits alone; reports of denormal singular values render at once; --out is
# committed atomically and never deletes what the run did not create; symlinks
# out of the model are refused and modes never widen; a source truncated while
# mapped ends with a message; stale temporaries are reclaimed; odd shards and
# odd pair files are named for what they are.
set -uo pipefail
bin=${PROFS_BIN:?}
src=${PROFS_TEST_SRC:?}
build=${PROFS_TEST_BUILD:?}
tmp=${PROFS_TEST_TMP:?}/tool_hostile.$$
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
cd "$tmp"
data=$src/data
pairs=$data/pairs.jsonl
"$bin" demo-model --out m --data "$data" >/dev/null || { echo "FAIL: demo-model"; exit 1; }

# ---- finding 1: the numerical floor does not touch a real edit ----
# On the demo model and on the golden fixtures every layer keeps exactly the
# directions ScreeNOT puts above its threshold (the floor is far below them).
floor_untouched() { # NAME MODEL LAYERS WANT_RANKS
  "$bin" edit --model "$2" --pairs "$pairs" --out "e_$1" --layers "$3" --report "e_$1.json" --quiet >/dev/null 2>&1 \
    || { say FAIL "floor-$1: edit failed"; return; }
  local ranks; ranks=$(jq -c '[.layers[].rank]' "e_$1.json")
  jq -e '.layers | all(. as $l | $l.rank > 0 and $l.rank == ([$l.singular_values[] | select(. > $l.threshold)] | length))' \
    "e_$1.json" >/dev/null && [ "$ranks" = "$4" ] && say ok "floor-untouched-$1" || say FAIL "floor-$1: ranks $ranks, want $4"
}
floor_untouched demo m 2-5 "[2,2,2,2]"
gen=$build/tests/gen_lm_fixtures
if [ -x "$gen" ]; then
  "$gen" fx gpt2 mistral llama >/dev/null
  floor_untouched gpt2 fx/gpt2 1 "[3]"
  floor_untouched mistral fx/mistral 1 "[4]"
  floor_untouched llama fx/llama 1 "[3]"
fi

# ---- finding 2: a report of denormal singular values renders at once ----
# (the y-axis ticks came from a step accumulated against an absolute epsilon:
# ~1e28 iterations; now a bounded count). A stuck render is killed by timeout.
cat > denormal.json <<'J'
{"model": {"path": "m"}, "settings": {"rank": "screenot"},
 "layers": [{"layer": 0, "rank": 0, "threshold": 4e-320, "singular_values": [5e-310, 3e-315, 2e-320, 0]},
            {"layer": 1, "rank": 0, "threshold": 0, "singular_values": [1e-300, 1e-301]}]}
J
t0=$(date +%s%N)
expect report-denormal 0 "wrote" -- timeout 20 "$bin" report --report denormal.json
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
echo "   (rendered in $ms ms)"
[ "$(grep -o 'class="tick" text-anchor="end"' denormal.html | wc -l)" -le 26 ] && say ok report-denormal-ticks-bounded \
  || say FAIL "report-denormal: $(grep -o 'class="tick" text-anchor="end"' denormal.html | wc -l) y ticks"

exit $fail
