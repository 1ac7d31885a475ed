#!/usr/bin/env bash
# profs tokenize: ids per stdin line equal the reference's (tests/data/tokenizers/*/expected.jsonl) for
# every corpus string without a line break, with and without --no-special; usage and failure exits.
set -uo pipefail
bin=${PROFS_BIN:?}
data=${PROFS_TEST_DATA:?}/tokenizers
tmp=${PROFS_TEST_TMP:?}/tool_tokenize.$$
rm -rf "$tmp"; mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT
command -v python3 >/dev/null || { echo "skipped: python3 (to read the JSON corpus) not found"; exit 77; }
fail=0
check() { # check NAME WANT_RC PATTERN -- cmd...
  local name=$1 want=$2 pat=$3; shift 4
  local out rc
  out=$("$@" 2>&1); rc=$?
  if [ "$rc" != "$want" ]; then echo "FAIL $name: exit $rc, want $want: $out"; fail=1; return; fi
  if [ -n "$pat" ] && ! grep -qF -- "$pat" <<<"$out"; then echo "FAIL $name: output lacks '$pat': $out"; fail=1; return; fi
  echo "ok $name"
}

# Corpus strings without \n, \r or NUL become input lines; expected output from the reference's ids.
for name in gpt2 mistral llama3-style; do
  python3 - "$data/corpus.jsonl" "$data/$name/expected.jsonl" "$tmp/$name" <<'PY'
import json, sys
corpus = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8")]
expected = [json.loads(l) for l in open(sys.argv[2], encoding="utf-8")]
out = sys.argv[3]
with open(out + ".in", "w", encoding="utf-8", newline="") as fin, \
     open(out + ".special", "w") as fs, open(out + ".plain", "w") as fp:
    for x, e in zip(corpus, expected):
        if any(c in x for c in "\n\r\0\u0085\u2028\u2029\x0b\x0c\x1c\x1d\x1e"):
            continue
        fin.write(x + "\n")
        fs.write(json.dumps(e["ids_special"], separators=(",", ":")) + "\n")
        fp.write(json.dumps(e["ids"], separators=(",", ":")) + "\n")
PY
  if "$bin" tokenize --tokenizer "$data/$name" < "$tmp/$name.in" > "$tmp/$name.out" &&
     cmp -s "$tmp/$name.out" "$tmp/$name.special"; then
    echo "ok $name: $(wc -l < "$tmp/$name.in") lines as the reference"
  else
    echo "FAIL $name: output differs from the reference"; diff "$tmp/$name.out" "$tmp/$name.special" | head -5; fail=1
  fi
  if "$bin" tokenize --tokenizer "$data/$name/tokenizer.json" --no-special < "$tmp/$name.in" > "$tmp/$name.out2" &&
     cmp -s "$tmp/$name.out2" "$tmp/$name.plain"; then
    echo "ok $name --no-special"
  else
    echo "FAIL $name --no-special: output differs from the reference"; fail=1
  fi
done

# the example of the documentation, CRLF line endings, an empty line
check mistral-example 0 "[1,22557,1526]" -- bash -c "printf 'Hello world\r\n' | '$bin' tokenize --tokenizer '$data/mistral'"
out=$(printf '\n' | "$bin" tokenize --tokenizer "$data/mistral" --no-special)
if [ "$out" = "[]" ]; then echo "ok empty line"; else echo "FAIL empty line: '$out'"; fail=1; fi
# several CRLF lines and a last line without a line ending; a CR not followed by LF is text
out=$(printf 'Hello world\r\nHello world\nHello world' | "$bin" tokenize --tokenizer "$data/mistral")
want=$'[1,22557,1526]\n[1,22557,1526]\n[1,22557,1526]'
if [ "$out" = "$want" ]; then echo "ok CRLF and last line"; else echo "FAIL CRLF and last line: '$out'"; fail=1; fi
cr=$(printf 'Hello\r\n' | "$bin" tokenize --tokenizer "$data/gpt2" --no-special)
bare=$(printf 'Hello\r' | "$bin" tokenize --tokenizer "$data/gpt2" --no-special)
if [ "$cr" = "[15496]" ] && [ "$bare" = "[15496,201]" ]; then echo "ok bare CR"; else
  echo "FAIL bare CR: '$cr' '$bare'"; fail=1; fi
# a line far longer than the first buffer (the ids buffer grows)
long=$(head -c 300000 /dev/zero | tr '\0' 'a' | "$bin" tokenize --tokenizer "$data/gpt2" --no-special |
  tr -d '[]' | tr ',' '\n' | sort | uniq -c | tr -s ' ')
if [ "$long" = " 75000 24794" ]; then echo "ok long line"; else echo "FAIL long line: '$long'"; fail=1; fi # 'aaaa' x 75000
# errors
if [ -w /dev/full ]; then
  check write-error 1 "error writing standard output" -- \
    bash -c "printf 'hello\n' | '$bin' tokenize --tokenizer '$data/gpt2' > /dev/full"
fi
check help 0 "usage: profs tokenize" -- "$bin" tokenize --help
check no-tokenizer 2 "--tokenizer is required" -- "$bin" tokenize
check bad-option 2 "" -- "$bin" tokenize --tokenizer "$data/gpt2" --bogus
check missing 1 "cannot open the tokenizer" -- bash -c "'$bin' tokenize --tokenizer '$tmp/none' < /dev/null"
check bad-utf8 1 "stdin line 2: malformed input: invalid UTF-8 at byte offset 1" -- \
  bash -c "printf 'ok\na\377b\n' | '$bin' tokenize --tokenizer '$data/gpt2'"
exit $fail
