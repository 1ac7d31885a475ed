#!/usr/bin/env bash
# Regenerate the seed corpora of the file-based fuzz targets (index, config,
# pairs) from the test fixtures:   fuzz/corpus/make_seeds.sh [BUILD_DIR]
# (BUILD_DIR: a normal build with tests/gen_lm_fixtures; default build).
set -euo pipefail
cd "$(dirname "$0")/../.."
gen=${1:-build}/tests/gen_lm_fixtures
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
"$gen" "$tmp" gpt2 llama mistral opt gptj mistral_bf16
c=fuzz/corpus
mkdir -p $c/index $c/config $c/pairs
ix=$tmp/mistral_bf16/model.safetensors.index.json
cp "$ix" $c/index/fixture
sed 's/"total_size":[0-9]*/"total_size":1/' "$ix" > $c/index/total_size
sed 's/model-00003-of-00003/model-00004-of-00003/' "$ix" > $c/index/missing_shard
printf '{"weight_map": {}}' > $c/index/empty_map
printf '{"weight_map": {"a": "../model-00001-of-00003.safetensors"}}' > $c/index/escape
i=0
for f in gpt2 llama mistral opt gptj; do   # the selector byte picks the family in this order
  { printf "\\$(printf %03o $i)"; cat "$tmp/$f/config.json"; } > $c/config/$f
  i=$((i + 1))
done
printf '\000{"model_type": "gpt2", "n_head": 0}' > $c/config/zero_heads
# issue 11 finding 6: n_head 0 divided by zero in lib/lm/arch.c before its range check
printf '\000{"model_type":"gpt2","n_embd":32,"n_layer":2,"n_head":0,"vocab_size":300,"n_positions":64}' > $c/config/n_head_zero_sigfpe
line='{"preferred": "the cat sat", "dispreferred": "the dog bit"}'
printf '\000%s\n%s\n' "$line" "$line" > $c/pairs/jsonl
printf '\001%s\n' "$line" > $c/pairs/jsonl_gz
printf '\003%s\n%s\n' "$line" "$line" > $c/pairs/jsonl_gz_cut
printf '\004preferred\tdispreferred\na\\tb\tc\\\\d\n' > $c/pairs/tsv
printf '\010{"preferred": 1}\n%s\n' "$line" > $c/pairs/skip_bad
printf '\020{"p": "x", "d": "y"}\n' > $c/pairs/fields
printf '\040{"chosen": "x", "rejected": "\\u00e9\\ud83d\\ude00"}\n' > $c/pairs/chosen_max1
echo "make_seeds: $(ls $c/index | wc -l) index, $(ls $c/config | wc -l) config, $(ls $c/pairs | wc -l) pairs seeds"
