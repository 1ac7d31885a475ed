#!/usr/bin/env bash
# examples/edit_model.c end to end: the demo model (profs demo-model) and the
# bundled pairs (data/pairs.jsonl, as TSV) in, an edited model out; the edited
# model differs from the source exactly in the MLP value matrices the report names.
set -euo pipefail
src=${PROFS_TEST_SRC:?}
build=${PROFS_TEST_BUILD:?}
prog=$build/examples/edit_model
[ -x "$prog" ] || { echo "FAIL: $prog not built"; exit 1; }
[ -n "${PROFS_BIN:-}" ] || { echo "skipped: the profs tool is not built (PROFS_BUILD_TOOLS=OFF)"; exit 77; }
tmp=${PROFS_TEST_TMP:?}/edit_model.$$
rm -rf "$tmp"; mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT
"$PROFS_BIN" demo-model --out "$tmp/model" >/dev/null
# {"preferred": "...", "dispreferred": "..."} -> preferred<TAB>dispreferred (the data has no escapes)
head -64 "$src/data/pairs.jsonl" | sed -e 's/^{"preferred": "\(.*\)", "dispreferred": "\(.*\)"}$/\1\t\2/' > "$tmp/pairs.tsv"
[ "$(grep -c "$(printf '\t')" "$tmp/pairs.tsv")" = 64 ] || { echo "FAIL: could not convert data/pairs.jsonl"; exit 1; }
out=$(OPENBLAS_NUM_THREADS=1 "$prog" "$tmp/model" "$tmp/pairs.tsv" "$tmp/edited" 5)
echo "$out"
grep -q '^gpt2: 64 pairs, 6 layers x 64$' <<<"$out" || { echo "FAIL: unexpected collection summary"; exit 1; }
grep -q "edited model written to $tmp/edited" <<<"$out" || { echo "FAIL: no output model"; exit 1; }
[ -f "$tmp/edited/model.safetensors" ] && [ -f "$tmp/edited/config.json" ] && [ -f "$tmp/edited/tokenizer.json" ] ||
  { echo "FAIL: incomplete output directory"; ls -la "$tmp/edited"; exit 1; }
# Every edited tensor is an MLP value matrix (GPT-2: mlp.c_proj), with a non-zero change.
edited=$(echo "$out" | awk '/^layer/ && $4 != "0" {print $5}')
[ -n "$edited" ] || { echo "FAIL: nothing was edited"; exit 1; }
for t in $edited; do
  case "$t" in *.mlp.c_proj.weight) ;; *) echo "FAIL: edited $t, not an MLP value matrix"; exit 1;; esac
done
# The source model is untouched and the edit changed the bytes of the weights file.
if cmp -s "$tmp/model/model.safetensors" "$tmp/edited/model.safetensors"; then
  echo "FAIL: the edited weights equal the source"; exit 1
fi
cmp "$tmp/model/config.json" "$tmp/edited/config.json"
. "$src/tests/util/outdir_check.sh"
check_outputs "$tmp" "$tmp/edited" || exit 1
echo "example edit_model: ok"
