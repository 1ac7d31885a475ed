#!/usr/bin/env bash
# profs eval / perplexity / classify against the transformers goldens of tests/data/eval/
# (tests/reference/tf_goldens_eval.py): the authors' perplexity, lm-evaluation-harness scoring of the
# task samples, Detoxify-style toxicity of greedy continuations, the prompt formats, the task converter,
# and the errors of each.
set -euo pipefail
[ -n "${PROFS_BIN:-}" ] || exit 77
command -v jq >/dev/null || { echo "FAIL: jq missing (scripts/deps)"; exit 1; }
d="$PROFS_TEST_DATA/eval"
g="$d/gpt2-tiny/golden.json"
tmp="$PROFS_TEST_TMP/eval_cli.$$"
rm -rf "$tmp"; mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
status() { set +e; "$@" >"$tmp/out" 2>"$tmp/err"; local s=$?; set -e; echo $s; }
# close A B TOL: |A - B| <= TOL * max(1, |B|)
close() { jq -n --argjson a "$1" --argjson b "$2" --argjson t "$3" '($a - $b | fabs) <= $t * ([1, ($b | fabs)] | max)' | grep -q true; }

# ---- perplexity: the authors' function (JSONL "prompt" fields, empty ones dropped, joined by "\n\n") ----
for i in 0 1 2 3 4; do
  ml=$(jq ".ppl[$i].max_length" "$g"); st=$(jq ".ppl[$i].stride" "$g")
  "$PROFS_BIN" perplexity --model "$d/gpt2-tiny" --text-file "$d/wiki_sample.jsonl" --max-length "$ml" --stride "$st" \
    --json - --quiet >"$tmp/p.json"
  close "$(jq .perplexity "$tmp/p.json")" "$(jq ".ppl[$i].ppl" "$g")" 1e-4 || fail "perplexity $ml/$st: $(cat "$tmp/p.json")"
  [ "$(jq .windows "$tmp/p.json")" = "$(jq ".ppl[$i].windows" "$g")" ] || fail "windows $ml/$st"
  [ "$(jq .tokens "$tmp/p.json")" = "$(jq .ppl_tokens "$g")" ] || fail "tokens $ml/$st"
  [ "$(jq .samples "$tmp/p.json")" = 10 ] || fail "samples (10 non-empty)"
done
# the cost is printed up front
"$PROFS_BIN" perplexity --model "$d/gpt2-tiny" --text-file "$d/wiki_sample.jsonl" --max-length 64 --stride 16 >"$tmp/out" 2>"$tmp/err"
grep -q '420 tokens, 24 windows of up to 64 tokens (stride 16)' "$tmp/err" || fail "cost line: $(cat "$tmp/err")"
grep -q '^windows: 24$' "$tmp/out" || fail "windows line"
# a plain text file is the text itself; a .txt holding JSONL is read as JSONL, never as raw text
jq -r '.prompt' "$d/wiki_sample.jsonl" | awk 'NF' | awk 'NR > 1 { printf "\n\n" } { printf "%s", $0 }' >"$tmp/wiki.txt"
"$PROFS_BIN" perplexity --model "$d/gpt2-tiny" --text-file "$tmp/wiki.txt" --max-length 64 --stride 16 --json - --quiet >"$tmp/p.json"
close "$(jq .perplexity "$tmp/p.json")" "$(jq '.ppl[0].ppl' "$g")" 1e-4 || fail "plain text perplexity"
cp "$d/wiki_sample.jsonl" "$tmp/wiki_as.txt"
"$PROFS_BIN" perplexity --model "$d/gpt2-tiny" --text-file "$tmp/wiki_as.txt" --max-length 64 --stride 16 --json - --quiet >"$tmp/p.json"
close "$(jq .perplexity "$tmp/p.json")" "$(jq '.ppl[0].ppl' "$g")" 1e-4 || fail "JSONL under a .txt name"
# errors
[ "$(status "$PROFS_BIN" perplexity --model "$d/gpt2-tiny" --text-file "$d/wiki_sample.jsonl" --stride 100)" = 2 ] || fail "stride > window"
grep -q 'stride 100 exceeds the window of 64 tokens' "$tmp/err" || fail "message: $(cat "$tmp/err")"
[ "$(status "$PROFS_BIN" perplexity --model "$d/gpt2-tiny" --text-file "$d/wiki_sample.jsonl" --max-length 65)" = 2 ] || fail "window > positions"
grep -q 'max-length 65 exceeds the model.s 64 positions' "$tmp/err" || fail "message: $(cat "$tmp/err")"
printf '{"text": "a"}\n{"title": "b"}\n' >"$tmp/bad.jsonl"
[ "$(status "$PROFS_BIN" perplexity --model "$d/gpt2-tiny" --text-file "$tmp/bad.jsonl")" = 1 ] || fail "record without text"
grep -q 'bad.jsonl: record 2: no string field "prompt" or "text"' "$tmp/err" || fail "message: $(cat "$tmp/err")"
printf '{"prompt": ""}\n' >"$tmp/empty.jsonl"
[ "$(status "$PROFS_BIN" perplexity --model "$d/gpt2-tiny" --text-file "$tmp/empty.jsonl")" = 1 ] || fail "only empty samples"
grep -q 'no non-empty samples' "$tmp/err" || fail "message: $(cat "$tmp/err")"

# ---- zero-shot tasks: per request log-likelihood, per task acc / acc_norm as the harness ----
args=()
for t in boolq rte hellaswag winogrande arc_easy arc_challenge openbookqa custom; do args+=(--task "$d/tasks/$t.jsonl"); done
"$PROFS_BIN" eval --model "$d/gpt2-tiny" "${args[@]}" --json "$tmp/e.json" --quiet >"$tmp/table"
# one jq program compares every request of every task: |ll - golden| <= 1e-4, token counts and is_greedy equal,
# acc / acc_norm per task within 1e-9; it prints what differs
jq -n -r --slurpfile e "$tmp/e.json" --slurpfile g "$g" '
  $e[0].model.capability.tasks as $mt | $g[0].tasks | to_entries[] | .key as $t | .value as $gt |
  ( (["acc", "acc_norm"][] | select((($mt[$t][.] - $gt[.]) | fabs) > 1e-9) | "\($t) \(.): \($mt[$t][.]) vs harness \($gt[.])"),
    ($gt.docs | to_entries[] | .key as $i | .value.requests | to_entries[] | .key as $j | .value as $r |
     $mt[$t].docs[$i].choices[$j] as $c |
     select((($c.ll - $r.ll) | fabs) > 1e-4 or $c.tokens != ($r.continuation_ids | length) or $c.is_greedy != $r.is_greedy) |
     "\($t) doc \($i) choice \($j): \($c) vs \($r.ll) \($r.continuation_ids | length) \($r.is_greedy)") )' >"$tmp/diff"
[ ! -s "$tmp/diff" ] || fail "zero-shot scores differ from the harness computation: $(head -5 "$tmp/diff")"
[ "$(jq '[.model.capability.tasks[].docs[].choices[]] | length' "$tmp/e.json")" = "$(jq '[.tasks[].docs[].requests[]] | length' "$g")" ] ||
  fail "request count"
mean=$(jq '[.tasks | to_entries[] | .value.acc] | add / length' "$g")
close "$(jq .model.capability.mean_acc "$tmp/e.json")" "$mean" 1e-9 || fail "capability mean"
grep -q '^  boolq acc (%)' "$tmp/table" || fail "boolq row"
grep -q 'boolq acc_norm' "$tmp/table" && fail "boolq reports no acc_norm in the harness"
grep -q '^  hellaswag acc_norm (%)' "$tmp/table" || fail "hellaswag acc_norm row"
# the model card of an edit shows these numbers (profs edit --eval), x100 as in the paper's table
head -40 "$PROFS_TEST_DATA/../../data/pairs.jsonl" >"$tmp/pairs.jsonl"
"$PROFS_BIN" edit --model "$d/gpt2-tiny" --pairs "$tmp/pairs.jsonl" --out "$tmp/edited" --rank 1 --layers 0-1 \
  --eval "$tmp/e.json" --quiet >/dev/null 2>"$tmp/err" || fail "edit --eval: $(cat "$tmp/err")"
cap=$(printf '%.4g' "$(jq '.model.capability.mean_acc * 100' "$tmp/e.json")")
grep -q "^| Capability: mean zero-shot accuracy x100 over the tasks (higher is better) | $cap |$" "$tmp/edited/README.md" ||
  fail "card capability row: $(sed -n '/## Evaluation/,/## Citation/p' "$tmp/edited/README.md")"
boolq=$(printf '%.4g' "$(jq '.model.capability.tasks.boolq.acc * 100' "$tmp/e.json")")
grep -q "^| boolq acc | $boolq |$" "$tmp/edited/README.md" || fail "card boolq row"
grep -q '^| hellaswag acc_norm |' "$tmp/edited/README.md" || fail "card hellaswag acc_norm row"
grep -q '^| boolq acc_norm |' "$tmp/edited/README.md" && fail "card: boolq reports no acc_norm"
# task errors name file and document
printf '{"context": "a", "choices": ["b", "c"], "gold": 2}\n' >"$tmp/t1.jsonl"
[ "$(status "$PROFS_BIN" eval --model "$d/gpt2-tiny" --task "$tmp/t1.jsonl")" = 1 ] || fail "gold out of range"
grep -q 't1.jsonl: document 1: "gold" 2 is not an index of the 2 choices' "$tmp/err" || fail "message: $(cat "$tmp/err")"
printf '{"context": "a", "choices": ["b"], "gold": 0}\n{"contexts": ["a"], "gold": 0}\n' >"$tmp/t2.jsonl"
[ "$(status "$PROFS_BIN" eval --model "$d/gpt2-tiny" --task "$tmp/t2.jsonl")" = 1 ] || fail "no continuation"
grep -q 't2.jsonl: document 2: "continuation" must be a string' "$tmp/err" || fail "message: $(cat "$tmp/err")"
[ "$(status "$PROFS_BIN" eval --model "$d/gpt2-tiny" --task "$d/tasks/rte.jsonl" --task "$d/tasks/rte.jsonl")" = 1 ] || fail "task twice"
grep -q 'task rte is given twice' "$tmp/err" || fail "message: $(cat "$tmp/err")"

# ---- toxicity: greedy continuations of 10 tokens, decoded without the prompt, stripped, sigmoid ----
"$PROFS_BIN" eval --model "$d/gpt2-tiny" --baseline "$d/gpt2-tiny" --prompts "$d/prompts_challenge.jsonl" \
  --toxicity-model "$d/bert-tiny-cls" --text-file "$d/wiki_sample.jsonl" --max-length 64 --stride 16 \
  --task "$d/tasks/arc_easy.jsonl" --json "$tmp/t.json" --quiet >"$tmp/table"
for i in 0 1 2 3 4; do
  [ "$(jq -r ".model.toxicity.continuations[$i].continuation" "$tmp/t.json")" = "$(jq -r ".toxicity[$i].response" "$g")" ] ||
    fail "continuation $i: $(jq ".model.toxicity.continuations[$i]" "$tmp/t.json")"
  close "$(jq ".model.toxicity.continuations[$i].toxicity" "$tmp/t.json")" "$(jq ".toxicity[$i].toxic_response" "$g")" 1e-4 ||
    fail "toxicity $i"
done
close "$(jq .model.toxicity.mean "$tmp/t.json")" "$(jq .toxicity_mean_response "$g")" 1e-4 || fail "toxicity mean"
close "$(jq .model.toxicity.share_above_0_5 "$tmp/t.json")" "$(jq .toxicity_share_above_response "$g")" 1e-9 || fail "share"
[ "$(jq .change.toxicity_x100 "$tmp/t.json")" = 0 ] || fail "change of a model against itself"
[ "$(jq -r .settings.toxicity_label "$tmp/t.json")" = toxic ] || fail "default label: toxicity, else toxic"
grep -q '^Toxicity ↓ (mean x 100) ' "$tmp/table" || fail "toxicity row: $(cat "$tmp/table")"
grep -q '^Perplexity ↓ ' "$tmp/table" || fail "perplexity row"
grep -q '^Capability ↑ (mean acc, %) ' "$tmp/table" || fail "capability row"
head -1 "$tmp/table" | grep -q 'model *baseline *change' || fail "header: $(head -1 "$tmp/table")"
# the prompt formats: RealToxicityPrompts {"prompt": {"text"}}, plain lines, --skip-special-tokens
for f in prompts_rtp.jsonl prompts.txt; do
  "$PROFS_BIN" eval --model "$d/gpt2-tiny" --prompts "$d/$f" --toxicity-model "$d/bert-tiny-cls" --json - --quiet 2>/dev/null >"$tmp/f.json"
  [ "$(jq '.model.toxicity.prompts' "$tmp/f.json")" = 3 ] || fail "$f: prompts"
  for i in 0 1 2; do
    [ "$(jq -r ".model.toxicity.continuations[$i].continuation" "$tmp/f.json")" = "$(jq -r ".toxicity[$i].response" "$g")" ] ||
      fail "$f: continuation $i"
  done
done
"$PROFS_BIN" eval --model "$d/gpt2-tiny" --prompts "$d/prompts_challenge.jsonl" --toxicity-model "$d/bert-tiny-cls" \
  --skip-special-tokens --toxicity-label insult --json - --quiet 2>/dev/null >"$tmp/f.json"
[ "$(jq -r .settings.toxicity_label "$tmp/f.json")" = insult ] || fail "--toxicity-label"
# (no greedy continuation of the fixture reaches EOS, so this checks the flag against transformers'
# skip_special_tokens=True decoding, which equals the plain one here; the decoder's flag has its own tests)
[ "$(jq -r '.model.toxicity.continuations[1].continuation' "$tmp/f.json")" = "$(jq -r '.toxicity[1].response_skip_special' "$g")" ] ||
  fail "--skip-special-tokens"
# errors
printf '{"prompt": "a"}\n{"text_": "b"}\n' >"$tmp/p.jsonl"
[ "$(status "$PROFS_BIN" eval --model "$d/gpt2-tiny" --prompts "$tmp/p.jsonl" --toxicity-model "$d/bert-tiny-cls")" = 1 ] ||
  fail "prompt record without text"
grep -q 'p.jsonl: record 2: no string field "prompt" or "text"' "$tmp/err" || fail "message: $(cat "$tmp/err")"
[ "$(status "$PROFS_BIN" eval --model "$d/gpt2-tiny" --prompts "$d/prompts.txt" --toxicity-model "$d/bert-tiny-cls" --toxicity-label nope)" = 1 ] ||
  fail "unknown label"
grep -q 'no label "nope" (labels: toxic insult threat)' "$tmp/err" || fail "message: $(cat "$tmp/err")"
[ "$(status "$PROFS_BIN" eval --model "$d/gpt2-tiny" --prompts "$d/prompts.txt" --toxicity-model "$d/gpt2-tiny")" = 1 ] ||
  fail "a causal model as classifier"
grep -q "architecture 'GPT2LMHeadModel' is not a supported sequence classifier" "$tmp/err" || fail "message: $(cat "$tmp/err")"
[ "$(status "$PROFS_BIN" eval --model "$d/gpt2-tiny" --toxicity-model "$d/bert-tiny-cls")" = 2 ] || fail "--toxicity-model without --prompts"
[ "$(status "$PROFS_BIN" eval --model "$d/gpt2-tiny")" = 2 ] || fail "nothing to measure"
grep -q 'nothing to measure' "$tmp/err" || fail "message: $(cat "$tmp/err")"
[ "$(status "$PROFS_BIN" eval --model "$d/gpt2-tiny" --text-file "$d/wiki_sample.jsonl" --max-length 8 --stride 9)" = 2 ] || fail "eval stride"
[ "$(status "$PROFS_BIN" eval --model "$d/gpt2-tiny" --prompts "$d/prompts.txt" --toxicity-model "$d/bert-tiny-cls" --new-tokens 64)" = 1 ] ||
  fail "continuation past the positions"
grep -q 'prompt 1: .* tokens + 64 new do not fit the model.s 64 positions' "$tmp/err" || fail "message: $(cat "$tmp/err")"

# ---- profs classify ----
"$PROFS_BIN" classify --model "$d/bert-tiny-cls" --text "$(jq -r '.texts[0].text' "$d/bert-tiny-cls/golden.json")" --json - --quiet >"$tmp/c.json"
for j in 0 1 2; do
  l=$(jq -r ".labels[$j]" "$tmp/c.json")
  close "$(jq ".results[0].probabilities.\"$l\"" "$tmp/c.json")" "$(jq ".texts[0].sigmoid[$j]" "$d/bert-tiny-cls/golden.json")" 1e-4 || fail "classify $l"
done
[ "$(jq -r .activation "$tmp/c.json")" = sigmoid ] || fail "multi_label_classification is a sigmoid"
"$PROFS_BIN" classify --model "$d/roberta-tiny-cls" --text "$(jq -r '.texts[2].text' "$d/roberta-tiny-cls/golden.json")" --label toxicity --quiet >"$tmp/out"
[ "$(head -1 "$tmp/out")" = "$(printf 'toxicity\ttext')" ] || fail "header: $(head -1 "$tmp/out")"
close "$(tail -1 "$tmp/out" | cut -f1)" "$(jq '.texts[2].softmax[1]' "$d/roberta-tiny-cls/golden.json")" 1e-4 || fail "roberta softmax"
"$PROFS_BIN" classify --model "$d/roberta-tiny-cls" --text-file "$d/prompts_challenge.jsonl" --sigmoid --json - --quiet >"$tmp/c.json"
[ "$(jq '.results | length' "$tmp/c.json")" = 5 ] && [ "$(jq -r .activation "$tmp/c.json")" = sigmoid ] || fail "--text-file / --sigmoid"
[ "$(status "$PROFS_BIN" classify --model "$d/bert-tiny-cls")" = 2 ] || fail "no text"
[ "$(status "$PROFS_BIN" classify --model "$d/bert-tiny-cls" --text a --text-file "$d/prompts.txt")" = 2 ] || fail "both"
[ "$(status "$PROFS_BIN" classify --model "$d/bert-tiny-cls" --text a --label nope)" = 1 ] || fail "unknown label"
grep -q "no label 'nope' (labels: toxic insult threat)" "$tmp/err" || fail "message: $(cat "$tmp/err")"
[ "$(status "$PROFS_BIN" classify --model "$d/bert-tiny-cls" --text a --max-length 65)" = 2 ] || fail "max length"

# ---- scripts/eval-task-convert: the committed samples, and its errors ----
py=$(command -v python3)
for t in boolq rte hellaswag winogrande arc_easy arc_challenge openbookqa; do
  "$py" "$PROFS_TEST_SRC/scripts/eval-task-convert" "$t" "$d/tasks/$t.raw.jsonl" >"$tmp/$t.jsonl"
  cmp -s "$tmp/$t.jsonl" "$d/tasks/$t.jsonl" || fail "converter output of $t differs from tests/data/eval/tasks/$t.jsonl"
done
# hellaswag's preprocessing: [title] -> ". ", brackets removed, ctx_b capitalised (rest lowered)
jq -r '.context' "$d/tasks/hellaswag.jsonl" | sed -n 3p | grep -qx 'Personal Care and Style: How to wash your hair. Wet your hair with warm water. warm water opens the cuticle' ||
  fail "hellaswag preprocessing"
[ "$(jq -c '[.gold]' "$d/tasks/openbookqa.jsonl" | tr -d '\n')" = '[3][3][1]' ] || fail "openbookqa answerKey (stripped)"
printf '{"sentence": "no blank", "option1": "a", "option2": "b", "answer": "1"}\n' >"$tmp/w.jsonl"
set +e; "$py" "$PROFS_TEST_SRC/scripts/eval-task-convert" winogrande "$tmp/w.jsonl" >"$tmp/out" 2>"$tmp/err"; s=$?; set -e
[ "$s" = 1 ] && grep -q "w.jsonl: line 1: field 'sentence' has no '_'" "$tmp/err" || fail "converter error: $(cat "$tmp/err")"
set +e; "$py" "$PROFS_TEST_SRC/scripts/eval-task-convert" arc_easy "$d/tasks/boolq.raw.jsonl" >"$tmp/out" 2>"$tmp/err"; s=$?; set -e
[ "$s" = 1 ] && grep -q "line 1: missing field 'choices'" "$tmp/err" || fail "converter error: $(cat "$tmp/err")"
set +e; "$py" "$PROFS_TEST_SRC/scripts/eval-task-convert" squad "$d/tasks/boolq.raw.jsonl" >"$tmp/out" 2>"$tmp/err"; s=$?; set -e
[ "$s" = 2 ] || fail "unknown task"
echo "eval_cli: ok"
