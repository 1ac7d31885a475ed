#!/usr/bin/env bash
# profs report: the HTML page of a report has one scree plot per layer with the
# threshold and rank, the vocabulary view and the before/after table; malformed
# reports are refused. When chromium is installed, the page renders to a PNG.
set -uo pipefail
bin=${PROFS_BIN:?}
src=${PROFS_TEST_SRC:?}
tmp=${PROFS_TEST_TMP:?}/tool_report.$$
rm -rf "$tmp"; mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT
fail=0
say() { echo "$1 $2"; [ "$1" = ok ] || fail=1; }
cd "$tmp"
cat > r.json <<'J'
{"libprofs_version": "0.1.0", "created": "2026-01-01T00:00:00Z",
 "model": {"path": "m<odel>", "architecture": "gpt2", "n_layers": 6, "hidden_size": 64},
 "data": {"file": "pairs.jsonl", "sha256": "ab", "n_pairs": 3},
 "settings": {"layers": "2-3", "rank": "screenot", "rank_max": 2},
 "layers": [
   {"layer": 2, "rank": 1, "threshold": 0.75, "singular_values": [1.5, 0.6, 0.5, 0.4],
    "directions": [{"promotes": [" blorf"], "suppresses": [" the"]}]},
   {"layer": 3, "rank": 2, "threshold": 0.55, "singular_values": [2.5, 0.9, 0.5, 0.4]}],
 "tensors_changed": [{"name": "transformer.h.2.mlp.c_proj.weight", "layer": 2, "rank": 1, "role": "value",
                      "delta_norm": 1.0, "weight_norm": 4.0}],
 "timings_s": {"total": 1.25}, "peak_rss_bytes": 10485760,
 "before": {"toxic_mass": 0.5, "perplexity": 100, "continuation_rate": 0.75},
 "after": {"toxic_mass": 0.05, "perplexity": 101, "continuation_rate": 0.125}}
J
"$bin" report --report r.json >/dev/null && [ -s r.html ] && say ok writes-html || say FAIL "no r.html"
n=$(grep -o '<svg ' r.html | wc -l)
[ "$n" = 2 ] && say ok two-plots || say FAIL "expected 2 scree plots, found $n"
grep -q 'ScreeNOT threshold 0.75' r.html && say ok threshold || say FAIL threshold
grep -q '>rank 2<' r.html && say ok rank-label || say FAIL rank-label
[ "$(grep -o 'r="4" fill="#0969da"' r.html | wc -l)" = 3 ] && say ok kept-points || say FAIL "kept points"
grep -q '<code> blorf</code>' r.html && say ok vocab-view || say FAIL vocab-view
grep -q 'm&lt;odel&gt;' r.html && say ok escaped || say FAIL "model path not escaped"
grep -q -- '-90.0%' r.html && say ok before-after || say FAIL before-after
grep -q '>75%</td><td class="num">12.5%</td>' r.html && say ok rate-in-percent || say FAIL "continuation rate not in percent"
grep -q '>0.25<' r.html && say ok delta-ratio || say FAIL delta-ratio
grep -q '10.0 MiB' r.html && say ok peak-memory || say FAIL peak-memory
"$bin" report --report r.json --html other.html >/dev/null && [ -s other.html ] && say ok html-flag || say FAIL html-flag
echo '{"layers": 3}' > bad.json
out=$("$bin" report --report bad.json 2>&1); rc=$?
[ $rc = 1 ] && grep -q "not a profs report" <<<"$out" && say ok not-report || say FAIL "not-report: $rc $out"
printf '{"layers": [' > trunc.json
out=$("$bin" report --report trunc.json 2>&1); rc=$?
[ $rc = 1 ] && grep -q "trunc.json:1:" <<<"$out" && say ok truncated || say FAIL "truncated: $rc $out"
out=$("$bin" report 2>&1); rc=$?
[ $rc = 2 ] && say ok usage || say FAIL "usage: $rc"
if command -v chromium >/dev/null && [ "${PROFS_SANITIZE:-0}" != 1 ]; then
  timeout 120 "$src/scripts/report-screenshot" r.html shot.png 800x900 >/dev/null 2>&1
  [ -s shot.png ] && say ok screenshot || say FAIL "chromium produced no screenshot"
fi
. "$src/tests/util/outdir_check.sh"
check_outputs "$tmp" || fail=1
exit $fail
