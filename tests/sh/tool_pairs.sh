#!/usr/bin/env bash
# profs pairs: every container and published layout (sentences checked against goldens built
# by tests/data/pairs/reference.py from the authors' loaders), reading once from pipes, FIFOs and
# standard input (plain and gzip), the Parquet refusal, and each kind of bad record with its message.
set -uo pipefail
bin=${PROFS_BIN:?}
src=${PROFS_TEST_SRC:?}
tmp=${PROFS_TEST_TMP:?}/tool_pairs.$$
rm -rf "$tmp"; mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT
fail=0
check() { # check NAME WANT_RC PATTERN -- cmd...
  local name=$1 want=$2 pat=$3; shift 4
  local out rc
  out=$("$@" 2>&1); rc=$?
  if [ "$rc" != "$want" ]; then echo "FAIL $name: exit $rc, want $want: $out"; fail=1; return; fi
  if [ -n "$pat" ] && ! grep -qF -- "$pat" <<<"$out"; then echo "FAIL $name: output lacks '$pat': $out"; fail=1; return; fi
  echo "ok $name"
}
cd "$tmp"

# the bundled data and its hash
check bundled 0 "pairs: 256" -- "$bin" pairs --pairs "$src/data/pairs.jsonl"
want=$(sha256sum "$src/data/pairs.jsonl" | cut -d' ' -f1)
check bundled-sha 0 "sha256: $want" -- "$bin" pairs --pairs "$src/data/pairs.jsonl"
# sha256 of the empty-ish and multi-block inputs against sha256sum
head -c 1000 /dev/zero | tr '\0' 'a' | sed 's/^/{"preferred":"/; s/$/","dispreferred":"x"}/' > long.jsonl
check sha-long 0 "sha256: $(sha256sum long.jsonl | cut -d' ' -f1)" -- "$bin" pairs --pairs long.jsonl

# known conventions
printf '{"chosen":"good","rejected":"bad"}\n\n{"chosen":"c","rejected":"d"}\n' > hh.jsonl
check chosen-rejected 0 "fields: chosen, rejected" -- "$bin" pairs --pairs hh.jsonl
printf '{"pert_gen_text":"toxic","unpert_gen_text":"clean"}\n' > lee.jsonl
check lee-fields 0 "fields: unpert_gen_text, pert_gen_text" -- "$bin" pairs --pairs lee.jsonl
out=$("$bin" pairs --pairs lee.jsonl --jsonl)
[ "$out" = '{"preferred":"clean","dispreferred":"toxic"}' ] && echo "ok lee-order" || { echo "FAIL lee-order: $out"; fail=1; }
printf '{"a":"x","b":"y"}\n' > custom.jsonl
check custom-fields 0 "fields: a, b" -- "$bin" pairs --pairs custom.jsonl --preferred-field a --dispreferred-field b
check unknown-fields 1 "custom.jsonl:1: no known pair of fields" -- "$bin" pairs --pairs custom.jsonl
check half-fields 2 "go together" -- "$bin" pairs --pairs custom.jsonl --preferred-field a

# gzip
gzip -c hh.jsonl > hh.jsonl.gz
check gzip 0 "format: jsonl (gzip)" -- "$bin" pairs --pairs hh.jsonl.gz
head -c 40 hh.jsonl.gz > trunc.jsonl.gz
check gzip-truncated 1 "trunc.jsonl.gz:" -- "$bin" pairs --pairs trunc.jsonl.gz
printf '{"chosen":"a","rejected":"b"}\n{"chosen":"c"}\n[1]\n{"chosen":"e","rejected":"f"}\n' | gzip > bad.jsonl.gz
check gzip-bad-line 1 "bad.jsonl.gz:2: missing field 'rejected'" -- "$bin" pairs --pairs bad.jsonl.gz
check gzip-skip 0 "pairs: 2" -- "$bin" pairs --pairs bad.jsonl.gz --skip-bad-lines
check gzip-skip-count 0 "skipped 2 bad lines (first: line 2: missing field 'rejected')" -- "$bin" pairs --pairs bad.jsonl.gz --skip-bad-lines

# malformed JSONL, one problem each
printf '{"chosen":"a","rejected":"b"}\n{"chosen":"a",\n' > m1.jsonl
check invalid-json 1 "m1.jsonl:2: invalid JSON" -- "$bin" pairs --pairs m1.jsonl
printf '{"chosen":"a","rejected":"b"}\n["a","b"]\n' > m2.jsonl
check not-object 1 "m2.jsonl:2: expected a JSON object, found an array" -- "$bin" pairs --pairs m2.jsonl
printf '{"chosen":"a","rejected":3}\n' > m3.jsonl
check not-string 1 "m3.jsonl:1:rejected: expected a string, found a number" -- "$bin" pairs --pairs m3.jsonl
printf '{"chosen":"","rejected":"b"}\n' > m4.jsonl
check empty-field 1 "m4.jsonl:1:chosen: is empty (expected a non-empty string)" -- "$bin" pairs --pairs m4.jsonl
printf '{"chosen":"a","chosen":"x","rejected":"b"}\n' > m5.jsonl
check duplicate-key 1 "m5.jsonl:1: invalid JSON" -- "$bin" pairs --pairs m5.jsonl
printf '{"chosen":"\xff","rejected":"b"}\n' > m6.jsonl
check bad-utf8 1 "m6.jsonl:1: invalid JSON" -- "$bin" pairs --pairs m6.jsonl
: > empty.jsonl
check empty-file 1 "empty.jsonl: no pairs (the file is empty)" -- "$bin" pairs --pairs empty.jsonl
printf 'x\n' > allbad.jsonl
check all-bad 1 "no pairs (every line was bad; first: line 1: invalid JSON" -- "$bin" pairs --pairs allbad.jsonl --skip-bad-lines
check missing-file 1 "nope.jsonl: cannot open: No such file or directory" -- "$bin" pairs --pairs nope.jsonl
check directory 1 "is a directory" -- "$bin" pairs --pairs "$tmp"

# TSV
printf 'preferred\tdispreferred\nhello there\tgo away\\tnow\n' > p.tsv
check tsv 0 "pairs: 1" -- "$bin" pairs --pairs p.tsv
out=$("$bin" pairs --pairs p.tsv --jsonl)
[ "$out" = '{"preferred":"hello there","dispreferred":"go away\tnow"}' ] && echo "ok tsv-escape" || { echo "FAIL tsv-escape: $out"; fail=1; }
printf 'a\tb\tc\n' > t2.tsv
check tsv-columns 1 "t2.tsv:1: expected 2 tab-separated columns, found 3" -- "$bin" pairs --pairs t2.tsv
printf 'a\t\n' > t3.tsv
check tsv-empty 1 "t3.tsv:1: column 2 (dispreferred) is empty" -- "$bin" pairs --pairs t3.tsv
gzip -c t2.tsv > t2.tsv.gz
check tsv-gz 1 "t2.tsv.gz:1: expected 2 tab-separated columns" -- "$bin" pairs --pairs t2.tsv.gz
printf 'a\t\xc3\n' > t4.txt
check tsv-forced-utf8 1 "t4.txt:1: invalid UTF-8" -- "$bin" pairs --pairs t4.txt --format tsv
check max-pairs 0 "pairs: 10" -- "$bin" pairs --pairs "$src/data/pairs.jsonl" --max-pairs 10

# published layouts: every fixture's sentences, byte for byte, against the goldens that
# tests/data/pairs/reference.py builds with the authors' loaders (cases.tsv lists them)
fx="$src/tests/data/pairs"
while IFS=$'\t' read -r golden fixture loader flags; do
  case $golden in '#'*|'') continue;; esac
  # shellcheck disable=SC2086
  out=$(cd "$fx" && "$bin" pairs --pairs "$fixture" $flags --jsonl 2>&1)
  if [ "$out" = "$(cat "$fx/$golden.expected.jsonl")" ]; then echo "ok golden-$golden ($fixture $flags)"
  else echo "FAIL golden-$golden ($fixture $flags):"; diff <(printf '%s\n' "$out") "$fx/$golden.expected.jsonl" | head -6; fail=1; fi
done < "$fx/cases.tsv"
n_cases=$(grep -vc '^#' "$fx/cases.tsv")
[ "$n_cases" -ge 12 ] && echo "ok golden-cases ($n_cases)" || { echo "FAIL golden-cases: only $n_cases"; fail=1; }

# which layout, and why
check layout-hh-golden 0 "layout prompt-reply (HH-Golden, TRL explicit-prompt format): the first record has prompt, chosen, rejected" -- "$bin" pairs --pairs "$fx/hh_golden.jsonl"
check layout-hh-golden-rule 0 'rendering: preferred = prompt + " " + chosen; dispreferred = prompt + " " + rejected' -- "$bin" pairs --pairs "$fx/hh_golden.jsonl"
check layout-hh-rlhf 0 "layout: chosen-rejected" -- "$bin" pairs --pairs "$fx/hh_rlhf.jsonl"
check layout-pku 0 "layout: pku-saferlhf" -- "$bin" pairs --pairs "$fx/pku_saferlhf.jsonl"
check pku-left-out 0 "left out: 1 rows with both replies safe, 1 with neither, 0 of another harm category" -- "$bin" pairs --pairs "$fx/pku_saferlhf.jsonl"
check pku-category-space 0 "pairs: 2" -- "$bin" pairs --pairs "$fx/pku_saferlhf.jsonl" --harm-category "Economic Crime"
check pku-category-left-out 0 "1 of another harm category" -- "$bin" pairs --pairs "$fx/pku_saferlhf.jsonl" --harm-category "Economic Crime"
check pku-category-unknown 1 "pku_saferlhf.jsonl:1:response_1_harm_category: has no category 'Violenc' (it has: Endangering National Security," -- "$bin" pairs --pairs "$fx/pku_saferlhf.jsonl" --harm-category Violenc
check pku-category-none 1 "no pairs: of 5 rows, 1 have both replies safe, 1 neither, 3 another harm category than 'Drugs'" -- "$bin" pairs --pairs "$fx/pku_saferlhf.jsonl" --harm-category Drugs
check layout-conversation 0 "layout conversation (TRL conversational preference format): the first record has chosen, rejected as lists of messages" -- "$bin" pairs --pairs "$fx/conversation.jsonl"
check layout-lee 0 "layout: lee-toxicity" -- "$bin" pairs --pairs "$fx/lee_toxicity.jsonl"
check layout-lee-prompt 0 "fields: prompt_text, unpert_gen_text, pert_gen_text" -- "$bin" pairs --pairs "$fx/lee_toxicity.jsonl" --with-prompt
check format-json 0 "format: json" -- "$bin" pairs --pairs "$fx/hh_golden.json"
check format-json-why 0 "why: the first character is '['" -- "$bin" pairs --pairs "$fx/hh_golden.json"
check tsv-header 0 "the name ends in .tsv; the first line is a header; layout prompt-reply" -- "$bin" pairs --pairs "$fx/prompt_reply.tsv"
printf 'chosen\trejected\nyes\tno\n' > cr.tsv
check tsv-header-not-a-pair 0 "pairs: 1" -- "$bin" pairs --pairs cr.tsv
printf 'prompt\tchosen\trejected\nq\ta\n' > short.tsv
check tsv-header-columns 1 "short.tsv:2: expected 3 tab-separated columns as in the header, found 2" -- "$bin" pairs --pairs short.tsv
check with-prompt-not-lee 1 "hh_golden.jsonl:1: --with-prompt applies to the toxicity pairs of Lee et al." -- "$bin" pairs --pairs "$fx/hh_golden.jsonl" --with-prompt
check category-not-pku 1 "--harm-category applies to PKU-SafeRLHF rows, not to the prompt-reply layout" -- "$bin" pairs --pairs "$fx/hh_golden.jsonl" --harm-category Violence
check template-not-conv 1 "--template applies to conversations" -- "$bin" pairs --pairs "$fx/hh_golden.jsonl" --template "$fx/template.json"
printf '{"user": 3}\n' > badtpl.json
check template-bad 1 "badtpl.json:user: expected a string, found a number" -- "$bin" pairs --pairs "$fx/conversation.jsonl" --template badtpl.json
check template-missing 1 "nope.json:" -- "$bin" pairs --pairs "$fx/conversation.jsonl" --template nope.json

# explicit and nested fields
printf '{"q":{"text":"Why?"},"answers":[{"text":"Because."},{"text":"No."}]}\n' > nested.jsonl
out=$("$bin" pairs --pairs nested.jsonl --preferred-field answers.0.text --dispreferred-field answers.1.text --prompt-field q.text --jsonl)
[ "$out" = '{"preferred":"Why? Because.","dispreferred":"Why? No."}' ] && echo "ok dotted-fields" || { echo "FAIL dotted-fields: $out"; fail=1; }
check dotted-missing 1 "nested.jsonl:1: missing field 'answers.2.text'" -- "$bin" pairs --pairs nested.jsonl --preferred-field answers.0.text --dispreferred-field answers.2.text
check fields-override 0 "layout from --preferred-field/--dispreferred-field" -- "$bin" pairs --pairs "$fx/hh_golden.jsonl" --preferred-field chosen --dispreferred-field rejected
check prompt-field-alone 2 "--prompt-field goes with --preferred-field and --dispreferred-field" -- "$bin" pairs --pairs x --prompt-field p

# bad records name file:line:field and what was expected
printf '{"prompt":"p","response_0":"a","response_1":"b","is_response_0_safe":"maybe","is_response_1_safe":false}\n' > pkubad.jsonl
check pku-bad-bool 1 "pkubad.jsonl:1:is_response_0_safe: expected true or false, found 'maybe'" -- "$bin" pairs --pairs pkubad.jsonl
printf '{"chosen":[{"role":"user","content":"hi"}],"rejected":[{"content":"x"}]}\n' > convbad.jsonl
check conv-no-role 1 "convbad.jsonl:1:rejected.0: message without a 'role'" -- "$bin" pairs --pairs convbad.jsonl
printf '{"chosen":[{"role":"user","content":[{"type":"text","text":"hi"}]}],"rejected":[{"role":"user","content":"x"}]}\n' > convparts.jsonl
check conv-content-parts 1 "convparts.jsonl:1:chosen.0.content: expected a string, found an array (content parts are not supported)" -- "$bin" pairs --pairs convparts.jsonl
printf '[\n  {"chosen": "a", "rejected": "b"},\n  {"chosen": "c",\n   "rejected": 7}\n]\n' > arr.json
check json-item-field 1 "arr.json:3:[1]:rejected: expected a string, found a number" -- "$bin" pairs --pairs arr.json
printf '[\n  {"chosen": "a", "rejected": "b"}\n  {"chosen": "c"}\n]\n' > arr2.json
check json-item-comma 1 "arr2.json:3: expected ',' or ']' after array item 0" -- "$bin" pairs --pairs arr2.json
printf '[{"chosen": "a", "rejected": "b"},\n {"chosen": "c", "rejected": }]\n' > arr3.json
check json-item-syntax 1 "arr3.json:2:[1]: invalid JSON" -- "$bin" pairs --pairs arr3.json
{ echo '{"chosen":"a","rejected":"b"}'; for i in 1 2 3; do echo '{"chosen":"a"}'; done; } > mostly.jsonl
check mostly-bad 1 "mostly.jsonl: 3 of 4 records are unusable as jsonl chosen-rejected" -- "$bin" pairs --pairs mostly.jsonl --skip-bad-lines
check mostly-bad-reasons 1 "the first: line 2: missing field 'rejected'; line 3: missing field 'rejected'; line 4:" -- "$bin" pairs --pairs mostly.jsonl --skip-bad-lines

# read once: standard input, pipes, FIFOs, process substitution, plain and gzip
want=$(sha256sum "$fx/hh_golden.jsonl" | cut -d' ' -f1)
check stdin 0 "sha256: $want" -- bash -c '"$0" pairs --pairs - < "$1"' "$bin" "$fx/hh_golden.jsonl"
check stdin-pipe 0 "pairs: 3" -- bash -c 'cat "$1" | "$0" pairs --pairs /dev/stdin' "$bin" "$fx/hh_golden.jsonl"
out=$(cat "$fx/hh_golden.jsonl" | "$bin" pairs --pairs - --jsonl)
[ "$out" = "$(cat "$fx/hh_golden.expected.jsonl")" ] && echo "ok stdin-sentences" || { echo "FAIL stdin-sentences"; fail=1; }
gzip -c "$fx/pku_saferlhf.jsonl" > pku.jsonl.gz
wantgz=$(sha256sum pku.jsonl.gz | cut -d' ' -f1)
check stdin-gzip 0 "format: jsonl (gzip)" -- bash -c 'cat "$1" | "$0" pairs --pairs -' "$bin" pku.jsonl.gz
check stdin-gzip-sha 0 "sha256: $wantgz" -- bash -c 'cat "$1" | "$0" pairs --pairs -' "$bin" pku.jsonl.gz
out=$("$bin" pairs --pairs <(gzip -c "$fx/pku_saferlhf.jsonl") --jsonl)
[ "$out" = "$(cat "$fx/pku_saferlhf.expected.jsonl")" ] && echo "ok process-substitution-gzip" || { echo "FAIL process-substitution-gzip: $out"; fail=1; }
check process-substitution 0 "layout: conversation" -- bash -c '"$0" pairs --pairs <(cat "$1")' "$bin" "$fx/conversation.jsonl"
mkfifo fifo
( cat "$fx/hh_golden.json" > fifo ) &
check fifo 0 "format: json" -- "$bin" pairs --pairs fifo
wait
( gzip -c "$fx/prompt_reply.tsv" > fifo ) &
check fifo-gzip-tsv 0 "the first line is a header; layout prompt-reply" -- "$bin" pairs --pairs fifo --format tsv
wait
check stdin-max-pairs-sha 0 "sha256: $want" -- bash -c 'cat "$1" | "$0" pairs --pairs - --max-pairs 1' "$bin" "$fx/hh_golden.jsonl"
check stdin-empty 1 "-: no pairs (the file is empty)" -- bash -c '"$0" pairs --pairs - < /dev/null' "$bin"
head -c 30 pku.jsonl.gz > trunc-stdin.gz
check stdin-gzip-truncated 1 "truncated gzip stream" -- bash -c '"$0" pairs --pairs - < "$1"' "$bin" trunc-stdin.gz

# Parquet: recognised by its magic, refused with a conversion command
printf 'PAR1\x15\x04\x15\x00PAR1' > train.parquet
check parquet 1 "train.parquet: a Parquet file (it starts with the magic bytes PAR1)" -- "$bin" pairs --pairs train.parquet
check parquet-command 1 "duckdb -c \"COPY (FROM 'train.parquet') TO 'pairs.jsonl' (FORMAT json)\"" -- "$bin" pairs --pairs train.parquet
check parquet-stdin 1 "-: a Parquet file" -- bash -c '"$0" pairs --pairs - < "$1"' "$bin" train.parquet

# usage errors name the flag
check no-pairs 2 "--pairs is required" -- "$bin" pairs
check bad-flag 2 "unknown option '--bogus'" -- "$bin" pairs --pairs x --bogus
check bad-format 2 "--format: 'csv' is not one of auto, jsonl, json, tsv" -- "$bin" pairs --pairs x --format csv
check bad-max 2 "--max-pairs: '-1' is not a non-negative integer" -- "$bin" pairs --pairs x --max-pairs -1
check twice 2 "--pairs given twice" -- "$bin" pairs --pairs x --pairs y
check help 0 "usage: profs pairs" -- "$bin" pairs --help
check help-cmd 0 "usage: profs pairs" -- "$bin" help pairs
. "$src/tests/util/outdir_check.sh"
check_outputs "$tmp" || fail=1
exit $fail
