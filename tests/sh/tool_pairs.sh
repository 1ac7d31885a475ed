#!/usr/bin/env bash
# profs pairs: every pair-file format, the default field conventions, and each
# kind of malformed file (plain and gzip) with its message and exit status.
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
check not-string 1 "m3.jsonl:1: field 'rejected' is not a string" -- "$bin" pairs --pairs m3.jsonl
printf '{"chosen":"","rejected":"b"}\n' > m4.jsonl
check empty-field 1 "m4.jsonl:1: field 'chosen' is empty" -- "$bin" pairs --pairs m4.jsonl
printf '{"chosen":"a","chosen":"x","rejected":"b"}\n' > m5.jsonl
check duplicate-key 1 "m5.jsonl:1: invalid JSON" -- "$bin" pairs --pairs m5.jsonl
printf '{"chosen":"\xff","rejected":"b"}\n' > m6.jsonl
check bad-utf8 1 "m6.jsonl:1: invalid JSON" -- "$bin" pairs --pairs m6.jsonl
: > empty.jsonl
check empty-file 1 "empty.jsonl: no pairs (the file is empty)" -- "$bin" pairs --pairs empty.jsonl
printf 'x\n' > allbad.jsonl
check all-bad 1 "no pairs (every line was bad)" -- "$bin" pairs --pairs allbad.jsonl --skip-bad-lines
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

# usage errors name the flag
check no-pairs 2 "--pairs is required" -- "$bin" pairs
check bad-flag 2 "unknown option '--bogus'" -- "$bin" pairs --pairs x --bogus
check bad-format 2 "--format: 'csv' is not one of" -- "$bin" pairs --pairs x --format csv
check bad-max 2 "--max-pairs: '-1' is not a non-negative integer" -- "$bin" pairs --pairs x --max-pairs -1
check twice 2 "--pairs given twice" -- "$bin" pairs --pairs x --pairs y
check help 0 "usage: profs pairs" -- "$bin" pairs --help
check help-cmd 0 "usage: profs pairs" -- "$bin" help pairs
. "$src/tests/util/outdir_check.sh"
check_outputs "$tmp" || fail=1
exit $fail
