#!/usr/bin/env bash
# Collection at scale: prefix sharing in the tool and 'mpirun -n N profs
# collect|edit'. With one BLAS thread per process, mpirun -n 2 and -n 3 write
# exactly the bytes of the single-process run (ranks take whole passes of it, in
# order); prefix_tokens_saved equals the common token prefixes counted here from
# 'profs tokenize'; a rank that fails stops every rank, non-zero, with its
# message, and nothing is written; other commands refuse to run under mpirun.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
cd "$tmp"
data=$src/data
"$bin" demo-model --out m --data "$data" >/dev/null || { echo "FAIL: demo-model"; exit 1; }
head -60 "$data/pairs.jsonl" > pairs.jsonl
export OPENBLAS_NUM_THREADS=1

# ---- prefix sharing without MPI: the exact count, the flag, the report ----
jq -r .preferred pairs.jsonl | "$bin" tokenize --tokenizer m > pref.ids
jq -r .dispreferred pairs.jsonl | "$bin" tokenize --tokenizer m > disp.ids
want=$(paste -d'\t' pref.ids disp.ids | jq -R -s '[split("\n")[] | select(length > 0) | split("\t") | map(fromjson)
  | .[0][:128] as $a | .[1][:128] as $b | [range(0; ([$a, $b] | map(length) | min))]
  | [foreach .[] as $i (true; . and $a[$i] == $b[$i]; .)] | map(select(.)) | length] | add')
[ "${want:-0}" -gt 100 ] && say ok "pairs-share-prefixes ($want tokens)" || say FAIL "the test pairs share only '$want' tokens"
out=$("$bin" collect --model m --pairs pairs.jsonl --out one.safetensors --batch-tokens 150 2>&1)
grep -qF "prefix sharing: $want of " <<<"$out" && grep -qF "prefix sharing saved $want tokens" <<<"$out" \
  && say ok collect-progress-saved || say FAIL "collect does not report $want saved tokens: $out"
"$bin" collect --model m --pairs pairs.jsonl --out whole.safetensors --batch-tokens 150 --no-prefix-sharing 2>err.txt \
  && ! grep -q "prefix sharing" err.txt && say ok collect-no-prefix-sharing || say FAIL "--no-prefix-sharing: $(cat err.txt)"
"$bin" edit --model m --pairs pairs.jsonl --out e1 --batch-tokens 150 --report r1.json --quiet >/dev/null \
  && jq -e --argjson w "$want" '.prefix_tokens_saved == $w and .prefix_sharing == true and .processes == 1' r1.json >/dev/null \
  && say ok edit-report-prefix-tokens-saved || say FAIL "edit report: $(jq -c '{prefix_tokens_saved, prefix_sharing, processes}' r1.json)"
"$bin" edit --model m --pairs pairs.jsonl --out e0 --batch-tokens 150 --no-prefix-sharing --report r0.json --quiet >/dev/null \
  && jq -e '.prefix_tokens_saved == 0 and .prefix_sharing == false' r0.json >/dev/null \
  && say ok edit-report-no-sharing || say FAIL "edit --no-prefix-sharing report: $(jq -c '{prefix_tokens_saved, prefix_sharing}' r0.json)"
out=$("$bin" collect --model m --pairs pairs.jsonl --out x.safetensors --batch-tokens 0 2>&1); rc=$?
[ $rc = 2 ] && grep -qF -- "--batch-tokens must be at least 1" <<<"$out" && say ok batch-tokens-zero || say FAIL "--batch-tokens 0: $rc $out"

# ---- MPI ----
mpiexec=${PROFS_MPIEXEC:-}
if [ -z "$mpiexec" ] || [ ! -x "$mpiexec" ]; then
  echo "note: the tool is built without MPI or there is no mpirun (PROFS_MPI; Debian libopenmpi-dev and" \
       "openmpi-bin): the mpirun checks are skipped"
  exit $fail
fi
# CI runs as root; Open MPI refuses that without these
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
# Open MPI's own allocations at exit are not ours
if [ "${PROFS_SANITIZE:-0}" = "1" ]; then export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0; fi
mpi() { local n=$1; shift; "$mpiexec" --oversubscribe -n "$n" -x OPENBLAS_NUM_THREADS ${ASAN_OPTIONS:+-x ASAN_OPTIONS} "$@"; }
same_tree() { # every file but the timings of the reports is byte-identical
  local a=$1 b=$2 f
  (cd "$a" && find . -type f | sort) > "$tmp/fa"; (cd "$b" && find . -type f | sort) > "$tmp/fb"
  cmp -s "$tmp/fa" "$tmp/fb" || return 1
  while read -r f; do
    case $f in *.json|*.md) continue;; esac
    cmp -s "$a/$f" "$b/$f" || { echo "differs: $f"; return 1; }
  done < "$tmp/fa"
}
for n in 2 3; do
  mpi $n "$bin" collect --model m --pairs pairs.jsonl --out c$n.safetensors --batch-tokens 150 --quiet >out.txt 2>&1 \
    && cmp -s one.safetensors c$n.safetensors && say ok "mpirun-n$n-collect-bit-identical" \
    || say FAIL "mpirun -n $n collect differs from the single run: $(cat out.txt)"
  mpi $n "$bin" collect --model m --pairs pairs.jsonl --out w$n.safetensors --batch-tokens 150 --no-prefix-sharing --quiet \
    >out.txt 2>&1 && cmp -s whole.safetensors w$n.safetensors && say ok "mpirun-n$n-collect-no-sharing-bit-identical" \
    || say FAIL "mpirun -n $n collect --no-prefix-sharing differs: $(cat out.txt)"
  mpi $n "$bin" edit --model m --pairs pairs.jsonl --out e$n-out --batch-tokens 150 --report r$n.json --quiet >out.txt 2>&1 \
    && same_tree e1 e$n-out && cmp -s <(jq -S 'del(.timings_s, .peak_rss_bytes, .processes, .output, .output_name, .command_line, .created)' r1.json) \
         <(jq -S 'del(.timings_s, .peak_rss_bytes, .processes, .output, .output_name, .command_line, .created)' r$n.json) \
    && jq -e --argjson w "$want" --argjson n $n '.prefix_tokens_saved == $w and .processes == $n' r$n.json >/dev/null \
    && say ok "mpirun-n$n-edit-bit-identical" || say FAIL "mpirun -n $n edit differs from profs edit: $(cat out.txt)"
done
# bf16 compute (where the processor has AMX): the kernels' sums do not depend on the batch, so the
# shards equal the single run there too
if grep -qw amx_bf16 /proc/cpuinfo; then
  "$bin" collect --model m --pairs pairs.jsonl --out one16.safetensors --batch-tokens 150 --compute bf16 --quiet &&
    mpi 2 "$bin" collect --model m --pairs pairs.jsonl --out c16.safetensors --batch-tokens 150 --compute bf16 --quiet       >out.txt 2>&1 && cmp -s one16.safetensors c16.safetensors && ! cmp -s one.safetensors one16.safetensors \
    && say ok mpirun-n2-collect-bf16-bit-identical || say FAIL "mpirun -n 2 collect --compute bf16: $(cat out.txt)"
else
  echo "note: no amx_bf16 on this processor: the bf16 mpirun check is skipped"
fi
# more processes than passes: the idle ones send nothing
mpi 3 "$bin" collect --model m --pairs pairs.jsonl --out big.safetensors --batch-tokens 100000 --quiet >out.txt 2>&1 \
  && "$bin" collect --model m --pairs pairs.jsonl --out big1.safetensors --batch-tokens 100000 --quiet \
  && cmp -s big1.safetensors big.safetensors && say ok mpirun-idle-ranks || say FAIL "idle ranks: $(cat out.txt)"

# a rank that fails: the tokenizer knows a token the model lacks, in the last pair only (the last rank's pass)
cp -r m bad
jq '.added_tokens += [{"id": 5000, "content": "ZZZ", "single_word": false, "lstrip": false, "rstrip": false,
  "normalized": false, "special": false}]' m/tokenizer.json > bad/tokenizer.json
cp pairs.jsonl badpairs.jsonl
echo '{"preferred": "the boy ZZZ smiled", "dispreferred": "the boy smiled"}' >> badpairs.jsonl
for cmd in collect edit; do
  o=$([ $cmd = collect ] && echo f.safetensors || echo fdir)
  mpi 3 "$bin" $cmd --model bad --pairs badpairs.jsonl --out $o --batch-tokens 150 --quiet >out.txt 2>&1; rc=$?
  if [ $rc != 0 ] && grep -qE "pass of pairs [0-9]+-61 " out.txt && grep -qF "outside the vocabulary" out.txt \
     && grep -qF "rank 2 of 3 failed" out.txt && [ ! -e $o ] && [ -z "$(find . -maxdepth 1 -name '.*profs-tmp-*')" ]; then
    say ok "mpirun-failing-rank-$cmd"
  else
    say FAIL "mpirun -n 3 $cmd with a failing rank: exit $rc, $(ls -d $o 2>/dev/null): $(cat out.txt)"
  fi
done
# only collect and edit are shared between processes
mpi 2 "$bin" inspect m >out.txt 2>&1; rc=$?
[ $rc = 2 ] && grep -qF "only 'collect' and 'edit'" out.txt && say ok mpirun-other-commands-refused \
  || say FAIL "mpirun -n 2 profs inspect: exit $rc: $(cat out.txt)"
exit $fail
