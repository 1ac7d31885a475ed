#!/usr/bin/env bash
# profs edit end to end on the transformers-made checkpoints of the families the
# architecture table added (tests/data/tf): each writes an edited model whose
# changed tensors are the value matrices (Gemma's post-norm aware), which the
# runtime opens and generates from; profs apply of gemma2's edit file gives the same
# tensors; an unsupported family is refused naming the key.
set -uo pipefail
bin=${PROFS_BIN:?}
src=${PROFS_TEST_SRC:?}
tmp=${PROFS_TEST_TMP:?}/tool_families.$$
rm -rf "$tmp"; mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT
command -v jq >/dev/null || { echo "skipped: jq not installed"; exit 77; }
fail=0
cd "$tmp"
for w in cat dog bird fish; do
  for k in "thanks" "well done" "good luck" "take care"; do
    printf '{"preferred": "%s, %s", "dispreferred": "go away, %s"}\n' "$k" "$w" "$w"
  done
done > pairs.jsonl
edit() { # edit FIXTURE PROJECTION VALUE_SUFFIX [flags]
  local fx=$1 proj=$2 suffix=$3; shift 3
  if ! "$bin" edit --model "$src/tests/data/tf/$fx" --pairs pairs.jsonl --max-length 64 --rank 2 --out "$fx" \
      --quiet "$@" >"$fx.log" 2>&1; then
    echo "FAIL $fx: profs edit: $(cat "$fx.log")"; fail=1; return
  fi
  local j=$fx/profs_edit.json
  if ! jq -e --arg p "$proj" --arg s "$suffix" \
      '.tensors_changed | length > 0 and all(.projection == $p and (.name | endswith($s)) and .changed)' \
      "$j" >/dev/null; then
    echo "FAIL $fx: tensors_changed: $(jq -c '.tensors_changed' "$j")"; fail=1; return
  fi
  if ! "$bin" generate --model "$fx" --prompt "the cat" --max-new-tokens 3 >/dev/null 2>"$fx.gen"; then
    echo "FAIL $fx: generate from the edited model: $(cat "$fx.gen")"; fail=1; return
  fi
  echo "ok $fx"
}
edit qwen2 plain mlp.down_proj.weight
edit qwen3 plain mlp.down_proj.weight
edit gemma2 "post-norm aware" mlp.down_proj.weight
edit gemma3_text "post-norm aware" mlp.down_proj.weight
edit gemma3_cg "post-norm aware" mlp.down_proj.weight
edit phi3 plain mlp.down_proj.weight
edit llama_yarn plain mlp.down_proj.weight
edit opt_noaffine plain fc2.weight
# the edit file records the post-norm aware projection, and profs apply of it reproduces profs edit's tensors
if grep -aqF '"layers.1.value_projection":"post-norm aware"' gemma2/profs/edit.safetensors &&
   "$bin" apply --model "$src/tests/data/tf/gemma2" --edit gemma2 --out gemma2_applied --quiet >gemma2_applied.log 2>&1 &&
   cmp -s gemma2/model.safetensors gemma2_applied/model.safetensors &&
   jq -e '.tensors_changed | length > 0 and all(.projection == "post-norm aware")' gemma2_applied/profs_edit.json >/dev/null; then
  echo "ok gemma2-apply"
else
  echo "FAIL gemma2-apply: $(cat gemma2_applied.log 2>&1)"; fail=1
fi
# keys of phi3: the fused gate_up_proj, once per layer
if "$bin" edit --model "$src/tests/data/tf/phi3" --pairs pairs.jsonl --max-length 64 --rank 2 --targets key \
    --out phi3_key --quiet >/dev/null 2>&1 &&
   jq -e '[.tensors_changed[].name] == ["model.layers.0.mlp.gate_up_proj.weight", "model.layers.1.mlp.gate_up_proj.weight"]' \
    phi3_key/profs_edit.json >/dev/null; then
  echo "ok phi3-keys"
else
  echo "FAIL phi3-keys: $(jq -c '[.tensors_changed[].name]' phi3_key/profs_edit.json 2>&1)"; fail=1
fi
# an unsupported family, before any work
mkdir bert && cp -r "$src/tests/data/tf/qwen2/." bert/
sed -i 's/"model_type": "qwen2"/"model_type": "deepseek_v3"/' bert/config.json
out=$("$bin" edit --model bert --pairs pairs.jsonl --out o --quiet 2>&1); rc=$?
if [ "$rc" = 1 ] && grep -qF "config.json: architecture 'deepseek_v3' is not supported (model_type; supported: gpt2, " <<<"$out" &&
   [ ! -e o ]; then echo "ok unsupported"; else echo "FAIL unsupported: exit $rc: $out"; fail=1; fi
exit $fail
