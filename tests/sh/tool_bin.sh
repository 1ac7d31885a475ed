#!/usr/bin/env bash
# The tool on PyTorch checkpoints as published (tests/data/bin/: pytorch_model.bin, sharded .bin + index,
# F16/BF16/F32, tied weights, a strided view, a deflated archive): 'profs edit' and 'profs hidden-states'
# read them and write safetensors outputs; the output layout (profs/edit.safetensors, nothing a weight glob
# would pick up); the model card (front matter, sections, --base-model, Hugging Face cache paths, --eval);
# apply/inspect on edited directories (also the older top-level edit file); and the refusals: an edit that
# edits nothing, too few pairs for the rank rule (before the collection), a malformed --eval file.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
cd "$tmp"
fx=$src/tests/data/bin
pairs=$src/data/pairs.jsonl

# ---- edit on every checkpoint: safetensors out, nothing of the .bin layout copied ----
for f in gpt2_f32 gpt2_bf16 opt_f16 gpt2_zip; do
  expect "edit-$f" 0 "tensors changed" -- "$bin" edit --model "$fx/$f" --pairs "$pairs" --out "e_$f" --layers 0-1 --quiet
  if [ -s "e_$f/model.safetensors" ] && [ -s "e_$f/profs/edit.safetensors" ] && [ -s "e_$f/profs_edit.json" ] &&
     [ -s "e_$f/README.md" ] && [ -s "e_$f/config.json" ] && [ -s "e_$f/tokenizer.json" ] &&
     ! ls "e_$f" | grep -qE '\.bin$|^pytorch_model|^golden|^profs_edit\.safetensors$'; then say ok "layout-$f"
  else say FAIL "layout-$f: $(ls "e_$f" "e_$f/profs" 2>&1 | tr '\n' ' ')"; fi
done
# the output is a safetensors model the tool reads back, with the tied lm_head written once
expect reread 0 "tensors changed" -- "$bin" edit --model e_gpt2_f32 --pairs "$pairs" --out e_again --layers 0-1 --quiet
grep -q 'converted from the base model.s PyTorch checkpoint' e_gpt2_f32/README.md &&
  ! grep -q 'converted from' e_again/README.md && say ok card-says-converted || say FAIL "card: converted-from line"

# ---- hidden-states on a checkpoint equal transformers' (golden.safetensors of the fixture) ----
PY=/usr/bin/python3
if "$PY" -c 'import numpy' 2>/dev/null; then
  for f in gpt2_f32 opt_f16; do
    ids=$("$PY" - "$fx/$f/golden.safetensors" <<'EOF'
import json, struct, sys
import numpy as np
raw = open(sys.argv[1], "rb").read(); n = struct.unpack("<Q", raw[:8])[0]; h = json.loads(raw[8:8 + n])
a, b = h["ids.0"]["data_offsets"]
print(",".join(str(x) for x in np.frombuffer(raw[8 + n + a:8 + n + b], dtype=np.int32)))
EOF
)
    expect "hidden-states-$f" 0 "" -- "$bin" hidden-states --model "$fx/$f" --ids "$ids" --out "hs_$f.safetensors"
    "$PY" - "$fx/$f/golden.safetensors" "hs_$f.safetensors" <<'EOF' && say ok "hidden-states-match-$f" || say FAIL "hidden-states-match-$f"
import json, struct, sys
import numpy as np
def read(p, name):
    raw = open(p, "rb").read(); n = struct.unpack("<Q", raw[:8])[0]; h = json.loads(raw[8:8 + n])
    a, b = h[name]["data_offsets"]
    return np.frombuffer(raw[8 + n + a:8 + n + b], dtype=np.float32).reshape(h[name]["shape"])
want, got = read(sys.argv[1], "hidden.0"), read(sys.argv[2], "hidden_states")
err = np.linalg.norm(got - want) / np.linalg.norm(want)
print("relative error", err)
sys.exit(0 if got.shape == want.shape and err < 1e-4 else 1)
EOF
  done
else
  echo "note: numpy not importable by $PY; hidden-states comparison not run"
fi

# ---- the model card ----
card=e_gpt2_f32/README.md
fm=$(awk 'NR==1 && /^---$/ {on=1; next} on && /^---$/ {exit} on {print}' "$card")
grep -qx 'base_model: "gpt2_f32"' <<<"$fm" && grep -qx 'library_name: transformers' <<<"$fm" &&
  grep -qx -- '- profs' <<<"$fm" && grep -qx -- '- model-editing' <<<"$fm" && grep -qx -- 'tags:' <<<"$fm" \
  && say ok card-front-matter || say FAIL "card front matter: $fm"
for s in "## Model Details" "## How to use" "## Editing details" "## Evaluation" "## Citation"; do
  grep -qx "$s" "$card" || say FAIL "card lacks section '$s'"
done
grep -q 'AutoModelForCausalLM.from_pretrained(model_id)' "$card" && grep -q '@inproceedings{uppaal2025profs' "$card" &&
  grep -q "\`pairs.jsonl\`: 256 pairs, sha256 \`$(sha256sum "$pairs" | cut -d' ' -f1)\`" "$card" &&
  grep -q '^profs edit --model gpt2_f32 --pairs pairs.jsonl --out e_gpt2_f32 --layers 0-1 --quiet$' "$card" &&
  grep -q 'No evaluation was run' "$card" && say ok card-sections || say FAIL "card body: $(sed -n '/## Editing/,/## Files/p' "$card")"
jq -e --arg h "$(sha256sum e_gpt2_f32/profs/edit.safetensors | cut -d' ' -f1)" \
  '.edit_file == "profs/edit.safetensors" and .edit_sha256 == $h and .source.name == "gpt2_f32" and (.data | has("path") | not)' \
  e_gpt2_f32/profs_edit.json >/dev/null && say ok provenance-names-and-hashes || say FAIL "profs_edit.json: $(jq -c '{edit_file,edit_sha256,source,data}' e_gpt2_f32/profs_edit.json)"
# license from config.json when the source has no card
mkdir lic && cp "$fx/gpt2_f32"/{tokenizer.json,pytorch_model.bin} lic/ && jq '.license = "apache-2.0"' "$fx/gpt2_f32/config.json" > lic/config.json
expect edit-license 0 "" -- "$bin" edit --model lic --pairs "$pairs" --out w0 --layers 0-1 --quiet
grep -qx 'license: apache-2.0' w0/README.md && ! grep -q '^license:' "$card" && say ok card-license-from-config || say FAIL "card license: $(head -4 w0/README.md)"
# no absolute path in the card, the provenance or the report, even when every path given is absolute
expect edit-absolute-paths 0 "" -- "$bin" edit --model "$fx/gpt2_f32" --pairs "$pairs" --out "$tmp/abs" --layers 0-1 --report "$tmp/abs.json" --quiet
if grep -lF -e "$tmp" -e "$src" abs/README.md abs/profs_edit.json abs.json abs.html; then say FAIL "an absolute path is recorded (files above)"
else say ok no-absolute-paths; fi
# base_model: the directory name with a warning; --base-model; a Hugging Face cache path
expect base-model-warning 0 "warning: base model id 'gpt2_f32' is the directory name; give --base-model" -- \
  "$bin" edit --model "$fx/gpt2_f32" --pairs "$pairs" --out w1 --layers 0-1
expect base-model-flag 0 "" -- "$bin" edit --model "$fx/gpt2_f32" --pairs "$pairs" --out w2 --layers 0-1 --base-model acme/tiny-gpt2 --quiet
grep -qx 'base_model: "acme/tiny-gpt2"' w2/README.md && grep -q 'huggingface.co/acme/tiny-gpt2' w2/README.md &&
  say ok card-base-model-flag || say FAIL "card base_model with --base-model: $(head -3 w2/README.md)"
snap=hub/models--acme-labs--tiny-gpt2/snapshots/0123abcd
mkdir -p "$snap" && cp "$fx/gpt2_f32"/{config.json,tokenizer.json,pytorch_model.bin} "$snap/"
out=$("$bin" edit --model "$snap" --pairs "$pairs" --out w3 --layers 0-1 2>&1)
grep -qx 'base_model: "acme-labs/tiny-gpt2"' w3/README.md && ! grep -q 'warning: base model' <<<"$out" &&
  say ok card-base-model-from-hub-cache || say FAIL "hub cache path: $(head -3 w3/README.md) $out"

# ---- --eval: the before/after table; tolerant of added keys; a malformed file refused before anything ----
printf 'you are a\nthe weather is\n' > prompts.txt
printf 'thrunk\nwubbock\n' > watch.txt
expect eval-json 0 "" -- "$bin" eval --model e_gpt2_f32 --baseline "$fx/gpt2_f32" --prompts prompts.txt --watch-words watch.txt \
  --samples 1 --new-tokens 2 --json ev.json --quiet
jq '.model.future_metric = 0.25 | .baseline.future_metric = 0.5 | .extra = {"a": [1]}' ev.json > ev2.json
expect edit-eval 0 "" -- "$bin" edit --model "$fx/gpt2_f32" --pairs "$pairs" --out v1 --layers 0-1 --eval ev2.json --quiet
tm_b=$(jq -r '.baseline.watch_words.toxic_mass' ev.json); tm_a=$(jq -r '.model.watch_words.toxic_mass' ev.json)
grep -q '^| metric | base model (before) | edited model (after) |$' v1/README.md &&
  grep -q "^| next-token probability mass on watch-word tokens .* | $(printf '%.4g' "$tm_b") | $(printf '%.4g' "$tm_a") |$" v1/README.md &&
  grep -q '^| future_metric | 0.5 | 0.25 |$' v1/README.md && grep -q "(\`ev2.json\`, sha256 \`$(sha256sum ev2.json | cut -d' ' -f1)\`)" v1/README.md &&
  ! grep -q 'No evaluation was run' v1/README.md && say ok card-evaluation || say FAIL "evaluation table: $(sed -n '/## Evaluation/,/## Files/p' v1/README.md)"
jq -e '.evaluation.after["watch_words.toxic_mass"] == '"$tm_a" v1/profs_edit.json >/dev/null && say ok provenance-evaluation || say FAIL "profs_edit.json evaluation"
echo '{"model": "x"}' > bad_eval.json
out=$("$bin" edit --model "$fx/gpt2_f32" --pairs "$pairs" --out v2 --eval bad_eval.json 2>&1); rc=$?
[ $rc = 1 ] && grep -q "bad_eval.json: not what 'profs eval --json' writes" <<<"$out" && ! grep -q collect <<<"$out" && [ ! -e v2 ] &&
  say ok eval-malformed-refused-first || say FAIL "malformed --eval: exit $rc: $out"
expect eval-missing 1 "--eval nope.json:" -- "$bin" edit --model "$fx/gpt2_f32" --pairs "$pairs" --out v3 --eval nope.json

# ---- an edit that edits nothing is a failure, with no output ----
/usr/bin/python3 -c '
import json
for i in range(40): print(json.dumps({"preferred": "the cat sat on mat %d" % i, "dispreferred": "the cat sat on mat %d" % i}))' > same.jsonl
out=$("$bin" edit --model "$fx/gpt2_f32" --pairs same.jsonl --out z1 --quiet 2>&1); rc=$?
[ $rc = 1 ] && grep -q "every layer's rank is 0" <<<"$out" && grep -q -- "--rank K" <<<"$out" && [ ! -e z1 ] &&
  say ok all-rank-zero-refused || say FAIL "all ranks 0: exit $rc: $out $(ls z1 2>&1)"
expect collect-same 0 "" -- "$bin" collect --model "$fx/gpt2_f32" --pairs same.jsonl --out same_emb.safetensors --quiet
expect estimate-same 0 "" -- "$bin" estimate --embeddings same_emb.safetensors --out zero_edit.safetensors --layers 0-1
out=$("$bin" apply --model "$fx/gpt2_f32" --edit zero_edit.safetensors --out z2 --quiet 2>&1); rc=$?
[ $rc = 1 ] && grep -q "every layer's rank is 0, so the edit would change nothing" <<<"$out" && [ ! -e z2 ] &&
  say ok apply-all-rank-zero-refused || say FAIL "apply of an all-zero edit: exit $rc: $out"

# ---- too few pairs: refused or k_max lowered, before the collection ----
head -3 "$pairs" > p3.jsonl; head -5 "$pairs" > p5.jsonl; head -9 "$pairs" > p9.jsonl
out=$("$bin" edit --model "$fx/gpt2_f32" --pairs p3.jsonl --out f1 2>&1); rc=$?
[ $rc = 1 ] && grep -q 'ScreeNOT needs 2 k_max + 1 < min(pairs, hidden size), so at least 4 pairs; 3 were given' <<<"$out" &&
  ! grep -q 'collect' <<<"$out" && [ ! -e f1 ] && say ok screenot-too-few-pairs || say FAIL "3 pairs: exit $rc: $out"
out=$("$bin" edit --model "$fx/gpt2_f32" --pairs p5.jsonl --out f2 --rank 9 2>&1); rc=$?
[ $rc = 1 ] && grep -q -- '--rank 9 needs at least 9 pairs' <<<"$out" && ! grep -q 'collect' <<<"$out" && [ ! -e f2 ] &&
  say ok fixed-rank-too-few-pairs || say FAIL "--rank 9 with 5 pairs: exit $rc: $out"
"$bin" demo-model --out dm --data "$src/data" >/dev/null || say FAIL demo-model   # a planted mechanism: ScreeNOT finds it in 9 pairs
out=$("$bin" edit --model dm --pairs p9.jsonl --out f3 --rank-max 6 2>&1); rc=$?
note=$(grep -n 'lowering --rank-max k_max 6 to 3: ScreeNOT needs 2 k_max + 1 < min(pairs, hidden size) = 9' <<<"$out" | cut -d: -f1)
first_collect=$(grep -n 'collect' <<<"$out" | head -1 | cut -d: -f1)
[ $rc = 0 ] && [ -n "$note" ] && [ -n "$first_collect" ] && [ "$note" -lt "$first_collect" ] &&
  jq -e '.settings.rank_max == 3' f3/profs_edit.json >/dev/null && say ok rank-max-lowered-with-a-note || say FAIL "--rank-max 6 with 5 pairs: exit $rc: $out"
out=$("$bin" edit --model dm --pairs p9.jsonl --out f4 2>&1)
grep -q 'lowering the default k_max 10 to 3' <<<"$out" && say ok default-rank-max-lowered-with-a-note || say FAIL "default k_max note: $out"

# ---- apply and inspect take an edited directory; the older top-level edit file is still read ----
expect apply-from-dir 0 "tensors changed" -- "$bin" apply --model "$fx/gpt2_f32" --edit e_gpt2_f32 --out a1 --quiet
cmp -s a1/model.safetensors e_gpt2_f32/model.safetensors && cmp -s a1/profs/edit.safetensors e_gpt2_f32/profs/edit.safetensors &&
  say ok apply-reproduces-edit || say FAIL "apply --edit DIR differs from the edit"
jq -e '.data.edit_file == "edit.safetensors" and (.data.edit_file_sha256 | length == 64) and .source.name == "gpt2_f32"' a1/profs_edit.json >/dev/null &&
  say ok apply-provenance || say FAIL "apply provenance: $(jq -c '{data,source}' a1/profs_edit.json)"
mkdir old && cp e_gpt2_f32/config.json old/ && cp e_gpt2_f32/profs/edit.safetensors old/profs_edit.safetensors
expect apply-old-layout 0 "tensors changed" -- "$bin" apply --model "$fx/gpt2_f32" --edit old --out a2 --quiet
cmp -s a2/model.safetensors e_gpt2_f32/model.safetensors && say ok apply-old-layout-same || say FAIL "apply of the old layout differs"
expect apply-dir-without-edit 1 "is a directory without profs/edit.safetensors (nor the older profs_edit.safetensors)" -- \
  "$bin" apply --model "$fx/gpt2_f32" --edit "$fx/gpt2_f32" --out a3 --quiet
expect inspect-dir 0 "layer 1: rank" -- "$bin" inspect --model "$fx/gpt2_f32" --edit e_gpt2_f32 --top 3
# an edited directory (older layout) used as the source: its edit is not carried over, the new one is under profs/
cp -r e_gpt2_f32 oldfull && mv oldfull/profs/edit.safetensors oldfull/profs_edit.safetensors && rmdir oldfull/profs
expect edit-of-old-edited 0 "" -- "$bin" edit --model oldfull --pairs "$pairs" --out a4 --layers 1 --rank 1 --quiet
[ ! -e a4/profs_edit.safetensors ] && [ -s a4/profs/edit.safetensors ] &&
  ! cmp -s a4/profs/edit.safetensors oldfull/profs_edit.safetensors && say ok edited-source-edit-replaced || say FAIL "a4: $(ls a4)"
rm -rf oldfull   # a source made here in the old layout, not an output

# ---- hostile checkpoints through the tool: refused, nothing written, nothing run ----
mkdir evil && cp "$fx/gpt2_f32/config.json" "$fx/gpt2_f32/tokenizer.json" evil/ && cp "$fx/hostile/os_system.bin" evil/pytorch_model.bin
out=$("$bin" edit --model evil --pairs "$pairs" --out h1 2>&1); rc=$?
[ $rc = 1 ] && grep -q "GLOBAL 'os.system' is not allowed" <<<"$out" && [ ! -e h1 ] && [ ! -e profs_hostile_marker ] &&
  say ok hostile-refused-by-edit || say FAIL "hostile checkpoint via edit: exit $rc: $out"

. "$src/tests/util/outdir_check.sh"
check_outputs "$tmp" || fail=1
exit $fail
