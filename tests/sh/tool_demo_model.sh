#!/usr/bin/env bash
# profs demo-model: a complete, loadable GPT-2 directory, deterministic, built
# atomically; bad data directories fail cleanly without leaving an output.
set -uo pipefail
bin=${PROFS_BIN:?}
src=${PROFS_TEST_SRC:?}
tmp=${PROFS_TEST_TMP:?}/tool_demo_model.$$
rm -rf "$tmp"; mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT
fail=0
say() { echo "$1 $2"; [ "$1" = ok ] || fail=1; }
cd "$tmp"

"$bin" demo-model --out m1 --data "$src/data" >/dev/null || say FAIL "demo-model exit $?"
for f in config.json tokenizer.json tokenizer_config.json generation_config.json model.safetensors README.md; do
  [ -s "m1/$f" ] && say ok "has-$f" || say FAIL "missing m1/$f"
done
grep -q '"model_type": "gpt2"' m1/config.json && say ok config || say FAIL "config.json: $(cat m1/config.json)"
# every word of the data is one token: the vocabulary holds " blorf" as a whole
grep -q '"Ġblorf": ' m1/tokenizer.json && say ok insult-token || say FAIL "no whole-word token for blorf"
# header of the safetensors file names the GPT-2 tensors
grep -qa 'transformer.h.5.mlp.c_proj.weight' <(head -c 20000 m1/model.safetensors) && say ok tensors || say FAIL "tensor names"
perm=$(stat -c %a m1)
[ "$perm" != 700 ] && say ok "permissions-$perm" || say FAIL "output directory left 0700"
# deterministic
"$bin" demo-model --out m2 --data "$src/data" >/dev/null
if cmp -s m1/model.safetensors m2/model.safetensors && cmp -s m1/tokenizer.json m2/tokenizer.json; then say ok deterministic
else say FAIL "two runs differ"; fi
# existing non-empty output refused unless --force
out=$("$bin" demo-model --out m1 --data "$src/data" 2>&1); rc=$?
[ $rc = 1 ] && grep -q "exists and is not empty (use --force" <<<"$out" && say ok refuse-existing || say FAIL "existing out: $rc $out"
"$bin" demo-model --out m1 --data "$src/data" --force >/dev/null && cmp -s m1/model.safetensors m2/model.safetensors && say ok force || say FAIL force
# bad data directory: message names the file, nothing left behind
mkdir bad && printf '{"preferred":"a","dispreferred":"b"}\n{"preferred":"a"}\n' > bad/pairs.jsonl
out=$("$bin" demo-model --out m3 --data bad 2>&1); rc=$?
[ $rc = 1 ] && grep -q "bad/pairs.jsonl:2: missing field 'dispreferred'" <<<"$out" && say ok bad-data || say FAIL "bad data: $rc $out"
[ ! -e m3 ] && [ -z "$(ls -A . | grep profs-tmp)" ] && say ok no-partial || say FAIL "partial output left: $(ls -A)"
out=$("$bin" demo-model --out nodir/m4 --data "$src/data" 2>&1); rc=$?
[ $rc = 1 ] && grep -q "parent directory 'nodir' does not exist" <<<"$out" && say ok no-parent || say FAIL "no parent: $rc $out"
out=$("$bin" demo-model 2>&1); rc=$?
[ $rc = 2 ] && grep -q -- "--out is required" <<<"$out" && say ok usage || say FAIL "usage: $rc $out"
. "$src/tests/util/outdir_check.sh"
check_outputs "$tmp" || fail=1
exit $fail
