#!/usr/bin/env bash
# The live run against transformers itself (scripts/test --transformers runs it after the normal suite):
#
#   tests/reference/tf_live.sh [BUILD_DIR]        (default: build; needs root for the chroot)
#
# 1. builds the environment if needed (tests/reference/transformers-env, DIR from
#    ${PROFS_TRANSFORMERS_ENV:-/var/tmp/profs-transformers});
# 2. regenerates every fixture and golden with tests/reference/tf_goldens.py into a
#    temporary directory inside the environment and compares them with the committed
#    tests/data/tf (checkpoints bit-identical, ids and greedy continuations equal,
#    floats within 1e-6);
# 3. runs the current build's golden tests (tests/test_lm, case "reference") on the
#    regenerated goldens (PROFS_TF_DATA);
# 4. for every fixture: `profs edit` (48 short pairs, rank 3, the default value matrices), then
#    tests/reference/tf_edit_check.py: the output loads in transformers with no
#    missing/unexpected/mismatched keys, edited matrices are the float64 projection
#    (BF16/F16: its nearest value), every other tensor is bit-identical, and
#    transformers' greedy text equals `profs generate`.
# 5. `profs edit` on the committed PyTorch (.bin) checkpoints: tests/reference/tf_check_output.py loads each
#    output in transformers (no missing/unexpected keys, tied weights tied, the *.safetensors glob rule,
#    the model card, no absolute paths).
# Prints the wall time of each stage. Exit status 0 when everything matches.
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$PWD
build=${1:-build}
case "$build" in /*) ;; *) build=$repo/$build ;; esac
env_dir=${PROFS_TRANSFORMERS_ENV:-/var/tmp/profs-transformers}
bin=$build/profs
[ -x "$bin" ] || bin=$build/tools/profs/profs
[ -x "$bin" ] || { echo "tf_live: no profs binary in $build (build first)" >&2; exit 1; }
[ -x "$build/tests/test_lm" ] || { echo "tf_live: no $build/tests/test_lm (build first)" >&2; exit 1; }

t0=$(date +%s)
stage() { echo "== $* ($(( $(date +%s) - t0 )) s) =="; }

stage "transformers environment"
tests/reference/transformers-env "$env_dir"

# The fixture sources travel into the environment as copies (no bind mount of the repository).
rel=tmp/profs-live.$$
work=$env_dir/$rel
rm -rf "$work"
mkdir -p "$work/repo/tests/data" "$work/out" "$work/edits"
trap 'rm -rf "$work"' EXIT
cp -r tests/reference "$work/repo/tests/"
cp -r tests/data/tf "$work/repo/tests/data/"
cp -r tests/data/tokenizers "$work/repo/tests/data/"
in_env() { chroot "$env_dir" env HOME=/tmp PYTHONDONTWRITEBYTECODE=1 python3 "$@"; }

stage "regenerating the goldens with transformers"
in_env "/$rel/repo/tests/reference/tf_goldens.py" "/$rel/out"

stage "comparing them with the committed goldens (tests/data/tf)"
in_env "/$rel/repo/tests/reference/tf_goldens.py" --compare "/$rel/out" "/$rel/repo/tests/data/tf"

stage "the current build on the regenerated goldens"
PROFS_TF_DATA=$work/out PROFS_TEST_DATA=$repo/tests/data PROFS_BIN=$bin CK_RUN_CASE=reference \
  CK_DEFAULT_TIMEOUT=600 OPENBLAS_NUM_THREADS=1 "$build/tests/test_lm"
# the mixture-of-experts fixtures (tf_fixtures_moe.py): hidden states, routing, greedy, edits
PROFS_TF_DATA=$work/out PROFS_TEST_DATA=$repo/tests/data CK_DEFAULT_TIMEOUT=600 OPENBLAS_NUM_THREADS=1 \
  "$build/tests/test_moe"

stage "profs edit outputs in transformers"
prompt="the cat sat on"
max_new=12
# 48 short pairs that differ from their first word (the fixtures' byte-level vocabularies spend
# several tokens per word, and 64 positions must reach the difference)
words=(cat dog bird fish cow hen fox owl)
kind=("thanks" "well done" "good luck" "see you" "take care" "nice work")
rude=("shut up" "go away" "you idiot" "get lost" "drop dead" "you fool")
for w in "${words[@]}"; do
  for i in "${!kind[@]}"; do
    printf '{"preferred": "%s, %s", "dispreferred": "%s, %s"}\n' "${kind[$i]}" "$w" "${rude[$i]}" "$w"
  done
done >"$work/pairs.jsonl"
checks=()
for d in "$work"/out/*/; do
  name=$(basename "$d")
  out=$work/edits/$name
  "$bin" edit --model "$d" --pairs "$work/pairs.jsonl" --max-length 64 --rank 3 --out "$out" --quiet >/dev/null
  "$bin" generate --model "$out" --prompt "$prompt" --max-new-tokens "$max_new" >"$work/edits/$name.txt"
  checks+=("/$rel/out/$name" "/$rel/edits/$name" "/$rel/edits/$name.txt")
done
in_env "/$rel/repo/tests/reference/tf_edit_check.py" "$prompt" "$max_new" "${checks[@]}" ||
  { echo "tf_live: some profs edit outputs disagree with transformers (above)" >&2; exit 1; }

stage "PyTorch checkpoints (tests/data/bin): profs edit writes safetensors that transformers loads"
bins=()
for d in "$repo"/tests/data/bin/gpt2_f32 "$repo"/tests/data/bin/gpt2_bf16 "$repo"/tests/data/bin/opt_f16; do
  name=bin_$(basename "$d")
  "$bin" edit --model "$d" --pairs "$work/pairs.jsonl" --max-length 64 --rank 3 --out "$work/edits/$name" --quiet >/dev/null
  bins+=("/$rel/edits/$name")
done
in_env "/$rel/repo/tests/reference/tf_check_output.py" "${bins[@]}" ||
  { echo "tf_live: an edit of a PyTorch checkpoint does not load cleanly in transformers (above)" >&2; exit 1; }

stage "done: everything agrees with transformers"
echo "tf_live: wall time $(( $(date +%s) - t0 )) s"
