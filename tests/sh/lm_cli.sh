#!/usr/bin/env bash
# profs hidden-states / perplexity / generate on a generated fixture: outputs,
# determinism of seeded sampling, and the exit statuses of bad usage.
set -euo pipefail
[ -n "${PROFS_BIN:-}" ] || exit 77
gen="$PROFS_TEST_BUILD/tests/gen_lm_fixtures"
[ -x "$gen" ] || exit 77
tmp="$PROFS_TEST_TMP/lm_cli.$$"
rm -rf "$tmp"; mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT
"$gen" "$tmp" mistral gpt2
m="$tmp/mistral"

fail() { echo "FAIL: $*" >&2; exit 1; }
status() { set +e; "$@" >"$tmp/out" 2>"$tmp/err"; local s=$?; set -e; echo $s; }

# hidden-states from text: <s> the (t + he) cat (Ġc + at): 5 tokens; shape (L+1) x T x D
"$PROFS_BIN" hidden-states --model "$m" --text "the cat" --out "$tmp/hs.safetensors" >"$tmp/out"
grep -q 'hidden_states \[3, 5, 32\], input_ids \[5\]' "$tmp/out" || fail "hidden-states: $(cat "$tmp/out")"
[ -s "$tmp/hs.safetensors" ] || fail "no output file"

# perplexity prints the numbers
printf 'the cat sat on the mat and the dog sat on the log\n' >"$tmp/text.txt"
"$PROFS_BIN" perplexity --model "$m" --text-file "$tmp/text.txt" --max-length 16 --stride 5 --quiet >"$tmp/ppl"
grep -q '^perplexity: [0-9]' "$tmp/ppl" || fail "perplexity: $(cat "$tmp/ppl")"
grep -q '^stride: 5$' "$tmp/ppl" || fail "stride not reported"

# seeded sampling is reproducible; greedy is the default
a=$("$PROFS_BIN" generate --model "$m" --prompt "the cat" --max-new-tokens 8 --temperature 0.9 --top-k 20 --seed 5)
b=$("$PROFS_BIN" generate --model "$m" --prompt "the cat" --max-new-tokens 8 --temperature 0.9 --top-k 20 --seed 5)
[ "$a" = "$b" ] || fail "same seed, different text"
case "$a" in "the cat"*) ;; *) fail "output does not start with the prompt: $a" ;; esac

# usage errors exit 2, failures exit 1
[ "$(status "$PROFS_BIN" hidden-states --model "$m" --out "$tmp/x.safetensors")" = 2 ] || fail "no --text/--ids"
[ "$(status "$PROFS_BIN" hidden-states --model "$m" --text a --ids 1 --out "$tmp/x")" = 2 ] || fail "both"
[ "$(status "$PROFS_BIN" hidden-states --model "$m" --ids 1,x --out "$tmp/x")" = 2 ] || fail "bad ids"
[ "$(status "$PROFS_BIN" hidden-states --model "$m" --ids 1,300 --out "$tmp/x")" = 1 ] || fail "id out of range"
grep -q 'token id 300 at index 1' "$tmp/err" || fail "message: $(cat "$tmp/err")"
[ "$(status "$PROFS_BIN" hidden-states --model "$tmp/none" --ids 1 --out "$tmp/x")" = 1 ] || fail "missing model"
[ "$(status "$PROFS_BIN" perplexity --model "$m")" = 2 ] || fail "perplexity without --text-file"
[ "$(status "$PROFS_BIN" perplexity --model "$m" --text-file "$tmp/text.txt" --max-length 4 --stride 5)" = 2 ] ||
    fail "stride > max length"
# the default max length (the model's 64 positions) is known only once the model is open
[ "$(status "$PROFS_BIN" perplexity --model "$m" --text-file "$tmp/text.txt" --stride 100)" = 2 ] ||
    fail "stride > default max length"
grep -q 'stride 100 exceeds the window of 64 tokens' "$tmp/err" || fail "message: $(cat "$tmp/err")"
[ "$(status "$PROFS_BIN" perplexity --model "$m" --text-file "$tmp/none.txt")" = 1 ] || fail "missing text file"
grep -q 'none.txt: cannot open: No such file' "$tmp/err" || fail "message: $(cat "$tmp/err")"
: >"$tmp/one.txt" # only <s>
[ "$(status "$PROFS_BIN" perplexity --model "$m" --text-file "$tmp/one.txt")" = 1 ] || fail "one token"
grep -q 'one.txt: .*needs at least 2 tokens, got 1' "$tmp/err" || fail "message: $(cat "$tmp/err")"
[ "$(status "$PROFS_BIN" generate --model "$m" --prompt x --top-p 0)" = 2 ] || fail "top-p 0"
[ "$(status "$PROFS_BIN" generate --model "$m" --prompt x --max-new-tokens 100)" = 1 ] || fail "past max positions"
# <s> the cat: 5 tokens; the last new token is never fed back, so 5 + 60 - 1 = 64 positions fit, 61 do not
[ "$(status "$PROFS_BIN" generate --model "$m" --prompt "the cat" --max-new-tokens 60)" = 0 ] ||
    fail "prompt + max new - 1 = positions: $(cat "$tmp/err")"
[ "$(status "$PROFS_BIN" generate --model "$m" --prompt "the cat" --max-new-tokens 61)" = 1 ] ||
    fail "prompt + max new - 1 > positions"
grep -q "exceed the model's 64 positions" "$tmp/err" || fail "message: $(cat "$tmp/err")"
for c in hidden-states perplexity generate; do
    "$PROFS_BIN" "$c" --help | grep "^usage: profs $c" >/dev/null || fail "$c --help"
done
echo ok
