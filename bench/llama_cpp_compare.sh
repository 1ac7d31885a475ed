#!/usr/bin/env bash
# profs next to llama.cpp on the same checkpoint, in one run:
#   bench/llama_cpp_compare.sh LLAMA_CPP_DIR [LAYERS] [THREADS]
#
# 1. writes a random Mistral-7B-shaped checkpoint with LAYERS blocks (default 4; BF16,
#    build/tests/gen_hf_model) with Mistral-7B-v0.1's tokenizer (tests/data/tokenizers/mistral);
# 2. converts it to GGUF F32, BF16 and Q8_0 with llama.cpp's own converter
#    (LLAMA_CPP_DIR/convert_hf_to_gguf.py);
# 3. runs `llama-bench -p 512 -n 0 -t THREADS -r 3` on each GGUF and
#    `build/bench/bench_forward --model DIR --tokens 512` (profs in every compute mode this
#    processor has) with OPENBLAS_NUM_THREADS=THREADS (default 2), and prints the ratios.
#
# LLAMA_CPP_DIR is a llama.cpp checkout built beside this project (llama.cpp is not part
# of it); LLAMA_BENCH names another llama-bench (default LLAMA_CPP_DIR/build/bin/llama-bench).
# The converter needs Python with torch, numpy, sentencepiece and transformers: PYTHON
# names such an interpreter; without it the script uses the transformers chroot of
# tests/reference/transformers-env (${PROFS_TRANSFORMERS_ENV:-/var/tmp/profs-transformers}),
# bind-mounting the work directory and LLAMA_CPP_DIR into it (root), and installs
# python3-sentencepiece there when it is missing. Needs about 11 GB free under TMPDIR.
set -euo pipefail
cd "$(dirname "$0")/.."
src=$(pwd)
[ $# -ge 1 ] || { sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 2; }
llama=$(cd "$1" && pwd)
layers=${2:-4}
threads=${3:-2}
bench=${LLAMA_BENCH:-$llama/build/bin/llama-bench}
[ -x "$bench" ] || { echo "llama_cpp_compare: no llama-bench at $bench (build llama.cpp first)" >&2; exit 1; }
[ -x build/tests/gen_hf_model ] && [ -x build/bench/bench_forward ] || { echo "llama_cpp_compare: build profs first (cmake --build build)" >&2; exit 1; }
work=$(mktemp -d "${TMPDIR:-/tmp}/profs-llamacpp.XXXXXX")
env_dir=${PROFS_TRANSFORMERS_ENV:-/var/tmp/profs-transformers}
mounted=()
cleanup() {
  for m in "${mounted[@]}"; do umount "$m" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

echo "== $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) CPUs; flags: $(grep -o -w -E 'avx2|avx512f|avx512_bf16|avx512_vnni|avx_vnni|amx_tile|amx_bf16|amx_int8' /proc/cpuinfo | sort -u | tr '\n' ' ')"
echo "== llama.cpp $(git -C "$llama" log -1 --format='%h %cd' --date=short 2>/dev/null || echo '(not a git checkout)')"
echo "== a Mistral-7B-shaped checkpoint with $layers blocks (BF16)"
build/tests/gen_hf_model "$work/model" mistral-7b "$layers"
cp tests/data/tokenizers/mistral/tokenizer.json tests/data/tokenizers/mistral/tokenizer_config.json "$work/model/"

convert() { # OUTTYPE
  if [ -n "${PYTHON:-}" ]; then
    (cd "$llama" && $PYTHON convert_hf_to_gguf.py "$work/model" --outtype "$1" --outfile "$work/model-$1.gguf") > "$work/convert-$1.log" 2>&1
    return
  fi
  [ -d "$env_dir/usr" ] || { echo "llama_cpp_compare: set PYTHON, or build the chroot with tests/reference/transformers-env" >&2; exit 1; }
  if [ ${#mounted[@]} -eq 0 ]; then
    mkdir -p "$env_dir/mnt/profs-work" "$env_dir/mnt/profs-llama"
    mount --bind "$work" "$env_dir/mnt/profs-work" && mounted+=("$env_dir/mnt/profs-work")
    mount --bind "$llama" "$env_dir/mnt/profs-llama" && mounted+=("$env_dir/mnt/profs-llama")
    chroot "$env_dir" python3 -c 'import sentencepiece' 2>/dev/null ||
      chroot "$env_dir" sh -c 'DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-sentencepiece' > /dev/null
  fi
  chroot "$env_dir" sh -c "cd /mnt/profs-llama && python3 convert_hf_to_gguf.py /mnt/profs-work/model --outtype $1 --outfile /mnt/profs-work/model-$1.gguf" > "$work/convert-$1.log" 2>&1
}

declare -A llama_tps
best=0 best_type=""
for t in f32 bf16 q8_0; do
  convert "$t" || { echo "llama_cpp_compare: conversion to $t failed:" >&2; tail -5 "$work/convert-$t.log" >&2; exit 1; }
  line=$("$bench" -m "$work/model-$t.gguf" -p 512 -n 0 -t "$threads" -r 3 2>/dev/null | grep pp512 || true)
  rm -f "$work/model-$t.gguf"
  if [ -z "$line" ]; then echo "llama.cpp $t: llama-bench failed"; continue; fi
  tps=$(echo "$line" | awk -F'|' '{print $(NF-1)}' | awk '{print $1}')
  llama_tps[$t]=$tps
  echo "llama.cpp $t: pp512 $tps tokens/s"
  if awk -v a="$tps" -v b="$best" 'BEGIN{exit !(a > b)}'; then best=$tps best_type=$t; fi
done
echo "== profs (bench_forward --model, OPENBLAS_NUM_THREADS=$threads)"
out=$(OPENBLAS_NUM_THREADS=$threads build/bench/bench_forward --model "$work/model" --tokens 512 --reps 3)
echo "$out"
[ -n "$best_type" ] || exit 1
echo "$out" | awk -v best="$best" -v bt="$best_type" '/ tokens\/s/ { printf "profs %s / llama.cpp best (%s, %s tokens/s): %.2fx\n", $1, bt, best, $2 / best }'
