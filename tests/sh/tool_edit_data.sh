#!/usr/bin/env bash
# profs edit and collect with published pair data and the paper's presets, on the demo model:
# --preset NAME sets the authors' rank, layers, centering and 500 pairs, each overridable, printed
# and recorded in profs_edit.json and the card; the pair file is read once (stdin, FIFO), and the
# SHA-256 recorded is of the bytes read.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
cd "$tmp"
data=$src/data
pairs=$data/pairs.jsonl
fx=$src/tests/data/pairs
"$bin" demo-model --out m --data "$data" >/dev/null || { echo "FAIL: demo-model"; exit 1; }

# every preset: its settings as printed, and its layers checked against the model before any collection
# (the demo model has 6 blocks, so every preset's layer range is out of range here)
while read -r name rank layers; do
  expect "preset-$name" 1 "preset $name (the authors' configs/$name.ini): rank $rank, layers $layers, centering top-singular, 500 pairs" \
    -- "$bin" edit --model m --pairs "$pairs" --out "o-$name" --preset "$name"
  expect "preset-$name-layers" 1 "from --preset $name" -- "$bin" edit --model m --pairs "$pairs" --out "o-$name" --preset "$name"
  [ ! -e "o-$name" ] && say ok "preset-$name-no-output" || say FAIL "preset $name left o-$name"
done <<'EOF'
gpt2-medium 2 10-23
mistral-7b 10 15-31
mistral-sft-7b 10 15-31
opt-6.7b 10 10-31
gptj-6b 10 10-26
EOF
expect preset-unknown 2 "--preset: 'llama' is not one of gpt2-medium, mistral-7b, mistral-sft-7b, opt-6.7b, gptj-6b" \
  -- "$bin" edit --model m --pairs "$pairs" --out x --preset llama

# a preset with its layers overridden runs, and everything else is the preset's
expect preset-run 0 "preset mistral-7b (the authors' configs/mistral-7b.ini): rank 10, layers 15-31, centering top-singular, 500 pairs; overridden by --layers" \
  -- "$bin" edit --model m --pairs "$pairs" --out e1 --preset mistral-7b --layers 2-5 --quiet
expect preset-few-pairs 0 "--max-pairs 500 (from --preset): the file has 256 pairs; all are used" \
  -- "$bin" edit --model m --pairs "$pairs" --out e1b --preset mistral-7b --layers 2-5
jq -e '.settings.rank == "10" and .settings.centering == "top-singular" and .settings.max_pairs == 500 and .settings.layers == "2-5"
       and .settings.preset.name == "mistral-7b" and .settings.preset.config == "configs/mistral-7b.ini"
       and .settings.preset.overridden == ["layers"] and .settings.preset.layers == "15-31"
       and ([.layers[].rank] | all(. == 10)) and .data.n_pairs == 256' e1/profs_edit.json >/dev/null \
  && say ok preset-recorded || say FAIL "preset in profs_edit.json: $(jq -c '.settings' e1/profs_edit.json)"
grep -qF '| preset | `mistral-7b` (the authors'"'"' `configs/mistral-7b.ini`, some settings overridden) |' e1/README.md \
  && say ok preset-card || say FAIL "card: $(grep -i preset e1/README.md)"
# every preset's settings recorded as set (its layers overridden to fit the demo model)
while read -r name rank layers; do
  "$bin" edit --model m --pairs "$pairs" --out "r-$name" --preset "$name" --layers 2-5 --quiet >/dev/null
  jq -e --arg n "$name" --arg r "$rank" --arg l "$layers" '.settings.rank == $r and .settings.centering == "top-singular"
       and .settings.max_pairs == 500 and .settings.targets == "value" and .settings.preset.name == $n
       and .settings.preset.rank == $r and .settings.preset.layers == $l and ([.layers[].rank] | all(. == ($r | tonumber)))' \
       "r-$name/profs_edit.json" >/dev/null && say ok "preset-$name-recorded" || say FAIL "preset $name: $(jq -c .settings "r-$name/profs_edit.json" 2>&1)"
done <<'EOF'
gpt2-medium 2 10-23
mistral-7b 10 15-31
mistral-sft-7b 10 15-31
opt-6.7b 10 10-31
gptj-6b 10 10-26
EOF
# explicit flags win over every preset setting
"$bin" edit --model m --pairs "$pairs" --out e2 --preset gpt2-medium --layers 3-4 --rank 1 --centering mean --max-pairs 100 --quiet >/dev/null
jq -e '.settings.rank == "1" and .settings.centering == "mean" and .settings.max_pairs == 100 and .settings.layers == "3-4"
       and .data.n_pairs == 100 and .settings.preset.overridden == ["rank", "layers", "centering", "max_pairs"]' e2/profs_edit.json >/dev/null \
  && say ok preset-overridden || say FAIL "overrides: $(jq -c '{settings, n: .data.n_pairs}' e2/profs_edit.json)"
# without a preset, nothing is recorded for one
"$bin" edit --model m --pairs "$pairs" --out e3 --quiet >/dev/null
jq -e '.settings | has("preset") | not' e3/profs_edit.json >/dev/null && ! grep -q '| preset |' e3/README.md \
  && say ok no-preset || say FAIL "a preset recorded without --preset"

# the pairs read once: from standard input and from a FIFO, the hash of the bytes read
want=$(sha256sum "$pairs" | cut -d' ' -f1)
cat "$pairs" | "$bin" edit --model m --pairs - --out s1 --quiet >/dev/null
jq -e --arg h "$want" '.data.sha256 == $h and .data.n_pairs == 256 and .data.file == "(standard input)" and .data.layout == "preferred"' s1/profs_edit.json >/dev/null \
  && say ok edit-stdin || say FAIL "edit from stdin: $(jq -c .data s1/profs_edit.json 2>&1)"
cmp -s s1/model.safetensors e3/model.safetensors && say ok edit-stdin-same-weights || say FAIL "stdin and file give different weights"
gzip -c "$pairs" > pairs.jsonl.gz
wantgz=$(sha256sum pairs.jsonl.gz | cut -d' ' -f1)
mkfifo fifo
( cat pairs.jsonl.gz > fifo ) &
"$bin" edit --model m --pairs fifo --out s2 --quiet >/dev/null
wait
jq -e --arg h "$wantgz" '.data.sha256 == $h and .data.gzip == true and .data.n_pairs == 256' s2/profs_edit.json >/dev/null \
  && say ok edit-fifo-gzip || say FAIL "edit from a FIFO: $(jq -c .data s2/profs_edit.json 2>&1)"
cat "$pairs" | "$bin" collect --model m --pairs /dev/stdin --out c.safetensors --quiet >/dev/null \
  && [ -s c.safetensors ] && say ok collect-stdin || say FAIL "collect from stdin"

# published layouts reach the edit as rendered: HH-Golden sentences keep their prompts
"$bin" edit --model m --pairs "$fx/hh_golden.jsonl" --out g1 --layers 2-5 --rank 1 --quiet >/dev/null
jq -e '.data.layout == "prompt-reply" and .data.fields == ["prompt", "chosen", "rejected"] and .data.n_pairs == 3
       and (.data.rendering | startswith("preferred = prompt + \" \" + chosen"))' g1/profs_edit.json >/dev/null \
  && say ok edit-hh-golden || say FAIL "HH-Golden provenance: $(jq -c .data g1/profs_edit.json 2>&1)"
"$bin" edit --model m --pairs "$fx/pku_saferlhf.jsonl" --out k1 --layers 2-5 --rank 1 --quiet >/dev/null
jq -e '.data.layout == "pku-saferlhf" and .data.n_pairs == 3 and .data.rows_left_out == {"both_safe": 1, "neither_safe": 1, "other_harm_category": 0}' k1/profs_edit.json >/dev/null \
  && say ok edit-pku || say FAIL "PKU provenance: $(jq -c .data k1/profs_edit.json 2>&1)"
expect edit-bad-pairs 1 "pkubad.jsonl:1:is_response_1_safe: expected true or false, found a number" \
  -- bash -c 'printf "{\"prompt\":\"p\",\"response_0\":\"a\",\"response_1\":\"b\",\"is_response_0_safe\":true,\"is_response_1_safe\":1}\n" > pkubad.jsonl; "$0" edit --model m --pairs pkubad.jsonl --out k2' "$bin"
[ ! -e k2 ] && say ok edit-bad-pairs-no-output || say FAIL "k2 left behind"
exit $fail
