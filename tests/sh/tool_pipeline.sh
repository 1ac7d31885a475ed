#!/usr/bin/env bash
# The pipeline subcommands on the demo model (a tiny GPT-2 with a planted toxic
# mechanism): demo, edit, collect -> estimate -> apply, inspect, eval; and the
# failures: --out in the model, wrong model directories, malformed pair files,
# bad flags -- each with its message and exit status, never a partial output.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
no_leftovers() { # no temporary build directories anywhere under $tmp
  local left; left=$(find "$tmp" -name '.*profs-tmp-*' | head -3)
  [ -z "$left" ] && say ok "no-leftovers-$1" || say FAIL "temporary directories left ($1): $left"
}
cd "$tmp"
data=$src/data
"$bin" demo-model --out m --data "$data" >/dev/null || { echo "FAIL: demo-model"; exit 1; }

# ---- demo: the exact report keys, and the goal ----
expect demo 0 "goal (toxic mass -80% or more, perplexity +10% or less): met" -- "$bin" demo --out d --data "$data" --report r.json --quiet
jq -e '(.before.toxic_mass|type=="number") and (.after.toxic_mass|type=="number") and (.before.perplexity|type=="number") and (.after.perplexity|type=="number")' r.json >/dev/null \
  && say ok demo-report-keys || say FAIL "demo report lacks before/after numbers"
jq -e '.after.toxic_mass <= 0.2 * .before.toxic_mass and .after.perplexity <= 1.1 * .before.perplexity and .before.toxic_mass > 0.5' r.json >/dev/null \
  && say ok demo-goal || say FAIL "demo numbers: $(jq -c '{before,after}' r.json)"
[ -s r.html ] && grep -q '<svg' r.html && say ok demo-html || say FAIL "no HTML report beside r.json"
for f in config.json tokenizer.json model.safetensors profs_edit.json profs/edit.safetensors README.md generation_config.json; do
  [ -s "d/edited/$f" ] || say FAIL "d/edited/$f missing"
done
grep -q '^library_name: transformers$' d/edited/README.md && grep -q '^license: mit$' d/edited/README.md && grep -q '^- model-editing$' d/edited/README.md \
  && say ok model-card || say FAIL "model card front matter: $(head -12 d/edited/README.md)"
# deterministic: a second run gives the same edited weights
"$bin" demo --out d2 --data "$data" --quiet >/dev/null
cmp -s d/edited/model.safetensors d2/edited/model.safetensors && say ok demo-deterministic || say FAIL "two demo runs differ"
expect demo-rerun 0 "" -- "$bin" demo --out d --data "$data" --quiet
# what scripts/demo runs on a fresh checkout: the report inside a demo directory that does not exist yet
expect demo-report-inside-new-out 0 "goal (toxic mass -80% or more, perplexity +10% or less): met" -- "$bin" demo --out fresh --data "$data" --report fresh/report.json
[ -s fresh/report.json ] && [ -s fresh/report.html ] && say ok demo-report-inside || say FAIL "no fresh/report.json"
expect demo-report-missing-dir 1 "directory 'nodir' does not exist" -- "$bin" demo --out d3 --data "$data" --report nodir/r.json --quiet
[ ! -e d3 ] && say ok demo-report-missing-dir-no-output || say FAIL "d3 left behind"
mkdir foreign && echo x > foreign/file
expect demo-foreign-dir 1 "was not made by 'profs demo'" -- "$bin" demo --out foreign --data "$data" --quiet

# ---- edit ----
pairs=$data/pairs.jsonl
expect edit 0 "tensors changed" -- "$bin" edit --model m --pairs "$pairs" --out e --report er.json --save-edit x.safetensors --save-embeddings emb.safetensors --quiet
jq -e --arg h "$(sha256sum "$pairs" | cut -d' ' -f1)" '.data.sha256 == $h and .data.n_pairs == 256 and .settings.layers == "2-5" and .settings.rank == "screenot"' e/profs_edit.json >/dev/null \
  && say ok provenance || say FAIL "profs_edit.json: $(jq -c '{data,settings}' e/profs_edit.json)"
[ "$(jq -r '[.tensors_changed[].name] | join(",")' e/profs_edit.json)" = "transformer.h.2.mlp.c_proj.weight,transformer.h.3.mlp.c_proj.weight,transformer.h.4.mlp.c_proj.weight,transformer.h.5.mlp.c_proj.weight" ] \
  && say ok tensors-changed || say FAIL "tensors: $(jq -c '.tensors_changed' e/profs_edit.json)"
jq -e '.tensors_changed | all(.delta_norm > 0)' e/profs_edit.json >/dev/null && say ok delta-norms || say FAIL "delta norms"
jq -e '(.layers | length) == 4 and (.layers[0].singular_values | length) > 10 and (.timings_s.total > 0) and (.peak_rss_bytes > 0)' er.json >/dev/null \
  && say ok edit-report || say FAIL "edit report"
jq -e '[.layers[3].directions[0].promotes[]] | any(. == " blorf" or . == " snerkel" or . == " grumwad" or . == " flonker" or . == " skrunt" or . == " zorpling" or . == " glibbet" or . == " dorkle" or . == " splunge" or . == " kravvit" or . == " plonkus" or . == " grizzwit" or . == " snoof" or . == " wubbock" or . == " thrunk" or . == " mibbler")' er.json >/dev/null \
  && say ok vocab-view-insults || say FAIL "layer 5 direction 1 does not promote an insult: $(jq -c '.layers[3].directions[0]' er.json)"
[ -s x.safetensors ] && [ -s emb.safetensors ] && say ok save-files || say FAIL "--save-edit / --save-embeddings"
cmp -s m/config.json e/config.json && cmp -s m/tokenizer.json e/tokenizer.json && ! cmp -s m/model.safetensors e/model.safetensors \
  && say ok copied-and-edited || say FAIL "source files not copied or weights unchanged"
expect edit-fixed 0 "" -- "$bin" edit --model m --pairs "$pairs" --out e2 --layers 3-4 --rank 1 --targets both --quiet
jq -e '.settings.layers == "3-4" and .settings.rank == "1" and (.tensors_changed | length) == 4 and all(.layers[]; .rank == 1)' e2/profs_edit.json >/dev/null \
  && say ok edit-options || say FAIL "edit options: $(jq -c '{settings, n: (.tensors_changed|length)}' e2/profs_edit.json)"
gzip -c "$pairs" > pairs.jsonl.gz
expect edit-gz-subset 0 "" -- "$bin" edit --model m --pairs pairs.jsonl.gz --out e3 --max-pairs 64 --seed 3 --quiet
jq -e '.data.n_pairs == 64 and .data.gzip == true' e3/profs_edit.json >/dev/null && say ok edit-gz || say FAIL "gz subset"

# ---- collect -> estimate -> apply reproduces edit ----
expect collect 0 "256 pairs x 6 layers x 64 dims" -- "$bin" collect --model m --pairs "$pairs" --out emb2.safetensors --quiet
expect estimate 0 "layer" -- "$bin" estimate --embeddings emb2.safetensors --out ed2.safetensors --architecture gpt2 --quiet
expect apply 0 "4 tensors changed" -- "$bin" apply --model m --edit ed2.safetensors --out a --quiet
cmp -s a/model.safetensors e/model.safetensors && say ok steps-equal-edit || say FAIL "collect/estimate/apply differs from edit"
[ -s a/README.md ] && [ -s a/profs_edit.json ] && say ok apply-card || say FAIL "apply: card or provenance missing"
expect apply-base-model 0 "" -- "$bin" apply --model m --edit ed2.safetensors --out a2 --base-model example-org/tiny-gpt2 --quiet
grep -q '^base_model: "example-org/tiny-gpt2"$' a2/README.md && grep -q 'huggingface.co/example-org/tiny-gpt2' a2/README.md \
  && say ok card-base-model || say FAIL "card base_model: $(head -3 a2/README.md)"

# ---- inspect ----
expect inspect 0 "layer 5: rank" -- "$bin" inspect --model m --edit x.safetensors --top 5
"$bin" inspect --model m --edit x.safetensors --json | jq -e '.layers | length == 4' >/dev/null && say ok inspect-json || say FAIL inspect-json
"$bin" inspect --model m --edit x.safetensors --embeddings emb.safetensors --json | jq -e '.directions_oriented and ([.layers[3].directions[0].promotes[]] | index(" thrunk") != null)' >/dev/null \
  && say ok inspect-oriented || say FAIL "inspect --embeddings does not orient towards the insults"
expect inspect-dim-mismatch 1 "" -- "$bin" inspect --model m --edit /dev/null

# ---- eval ----
expect eval 0 "toxic next-token mass" -- "$bin" eval --model e --baseline m --prompts "$data/prompts.txt" --watch-words "$data/watch_words.txt" --text-file "$data/neutral.txt" --samples 2 --json ev.json --quiet
jq -e '.model.watch_words.toxic_mass < 0.2 * .baseline.watch_words.toxic_mass and (.model.perplexity.perplexity|type=="number") and (.model.watch_words.prompts|length) == 24 and .model.watch_words.watch_tokens == 16' ev.json >/dev/null \
  && say ok eval-json || say FAIL "eval json: $(jq -c '{m: .model.watch_words.toxic_mass, b: .baseline.watch_words.toxic_mass}' ev.json)"
"$bin" eval --model m --prompts "$data/prompts.txt" --watch-words "$data/watch_words.txt" --samples 0 --json - --quiet 2>/dev/null | jq -e '.model.watch_words.continuation_rate == null and .model.watch_words.toxic_mass > 0.5' >/dev/null \
  && say ok eval-json-stdout || say FAIL "eval --json - is not pure JSON on stdout"
expect eval-new-tokens 2 "--new-tokens must be between 1 and 512" -- "$bin" eval --model m --prompts "$data/prompts.txt" --watch-words "$data/watch_words.txt" --new-tokens 9999
expect eval-no-prompts 1 "cannot open" -- "$bin" eval --model m --prompts nope.txt --watch-words "$data/watch_words.txt"
: > empty.txt
expect eval-empty-prompts 1 "empty.txt: no prompts" -- "$bin" eval --model m --prompts empty.txt --watch-words "$data/watch_words.txt"
expect eval-empty-watch 1 "empty.txt: no watch words" -- "$bin" eval --model m --prompts "$data/prompts.txt" --watch-words empty.txt
expect eval-empty-text 1 "empty.txt: perplexity needs at least 2 tokens, got 0" -- "$bin" eval --model m --prompts "$data/prompts.txt" --watch-words "$data/watch_words.txt" --text-file empty.txt --samples 0 --quiet
expect eval-bad-baseline 1 "'nope' is not a directory" -- "$bin" eval --model m --baseline nope --prompts "$data/prompts.txt" --watch-words "$data/watch_words.txt" --quiet
expect eval-rate-percent 0 "watch-word continuation rate (%)          100" -- "$bin" eval --model m --prompts "$data/prompts.txt" --watch-words "$data/watch_words.txt" --samples 1 --quiet

# ---- every architecture of the runtime (tiny random fixtures) ----
gen=${PROFS_TEST_BUILD:?}/tests/gen_hf_model
if [ -x "$gen" ]; then
  for a in gpt2 gpt2_bf16 mistral_bf16 llama opt opt_proj gptj; do
    "$gen" "fx_$a" "$a" || { say FAIL "gen_hf_model $a"; continue; }
    out=$("$bin" edit --model "fx_$a" --pairs "$pairs" --max-pairs 24 --out "fx_$a.out" --quiet 2>&1); rc=$?
    if [ $rc = 0 ] && jq -e '(.tensors_changed | length) == 2' "fx_$a.out/profs_edit.json" >/dev/null \
       && grep -q '^library_name: transformers$' "fx_$a.out/README.md" && ! grep -q '^license:' "fx_$a.out/README.md"; then say ok "edit-$a"
    else say FAIL "edit $a: $rc $out"; fi
  done
else
  say FAIL "no $gen"
fi

# ---- failures: never a partial output ----
expect out-is-model 1 "is the model directory itself" -- "$bin" edit --model m --pairs "$pairs" --out m --quiet
expect out-in-model 1 "is inside the model directory" -- "$bin" edit --model m --pairs "$pairs" --out m/sub --quiet
ln -s m mlink
expect out-in-model-symlink 1 "is inside the model directory" -- "$bin" edit --model m --pairs "$pairs" --out mlink/sub --quiet
expect out-is-model-trailing 1 "is the model directory itself" -- "$bin" apply --model mlink/ --edit x.safetensors --out ./m// --quiet
[ ! -e m/sub ] && say ok nothing-in-model || say FAIL "m/sub created"
mkdir -p outer && cp -r m outer/m
expect out-contains-model 1 "contains the model directory" -- "$bin" edit --model outer/m --pairs "$pairs" --out outer --force --quiet
[ -s outer/m/model.safetensors ] && say ok source-intact || say FAIL "the source model was touched"
expect apply-out-in-model 1 "is inside the model directory" -- "$bin" apply --model m --edit x.safetensors --out ./m/../m/x --quiet
mkdir notamodel
cp -r m arch && sed -i 's/"model_type": *"gpt2"/"model_type": "bert"/' arch/config.json
expect unsupported-arch 1 "arch: config.json: architecture 'bert' is not supported" -- "$bin" edit --model arch --pairs "$pairs" --out o1 --quiet
expect unsupported-arch-apply 1 "model_type 'bert' is not supported" -- "$bin" apply --model arch --edit x.safetensors --out o1 --quiet
cp -r m badcfg && echo '{"model_type": "gpt2",' > badcfg/config.json
expect bad-config 1 "badcfg/config.json: invalid JSON" -- "$bin" edit --model badcfg --pairs "$pairs" --out o1 --quiet
expect no-config 1 "no config.json: not a Hugging Face model directory" -- "$bin" edit --model notamodel --pairs "$pairs" --out o1 --quiet
expect no-model 1 "is not a directory" -- "$bin" edit --model nosuchdir --pairs "$pairs" --out o1 --quiet
cp -r m notok && rm notok/tokenizer.json
expect no-tokenizer 1 "no tokenizer.json" -- "$bin" edit --model notok --pairs "$pairs" --out o1 --quiet
cp -r m badw && head -c 100 m/model.safetensors > badw/model.safetensors
expect bad-weights 1 "model.safetensors" -- "$bin" apply --model badw --edit x.safetensors --out o1 --quiet
# a save that fails part-way (a source file that cannot be copied): no output, no temporary directory
cp -r m dangl && ln -s nowhere dangl/notes.txt
expect failing-save 1 "dangl/notes.txt: cannot stat" -- "$bin" edit --model dangl --pairs "$pairs" --out o1 --quiet
expect failing-save-apply 1 "dangl/notes.txt: cannot stat" -- "$bin" apply --model dangl --edit x.safetensors --out o1 --quiet
{ head -3 "$pairs"; echo '{"preferred": "a"}'; } | gzip > bad.jsonl.gz
expect bad-pairs-gz 1 "bad.jsonl.gz:4: missing field 'dispreferred'" -- "$bin" edit --model m --pairs bad.jsonl.gz --out o1 --quiet
expect skip-bad 0 "" -- "$bin" edit --model m --pairs bad.jsonl.gz --skip-bad-lines --out o2 --layers 5 --rank 1 --quiet
expect bad-layers 1 "layer 9 is out of range (the model has layers 0-5)" -- "$bin" edit --model m --pairs "$pairs" --out o1 --layers 2-9
# ... found before the collection starts
"$bin" edit --model m --pairs "$pairs" --out o1 --layers 2-9 2>&1 | grep -q 'collect' && say FAIL "out-of-range --layers reported after collection" || say ok bad-layers-early
expect layers-syntax 2 "--layers 'x' is not a layer list" -- "$bin" edit --model m --pairs "$pairs" --out o1 --layers x
expect layers-backwards 2 "--layers '3-1': range 3-1 is backwards" -- "$bin" edit --model m --pairs "$pairs" --out o1 --layers 3-1
expect layers-empty-item 2 "--layers '1,,2' is not a layer list" -- "$bin" estimate --embeddings emb.safetensors --out o1.safetensors --layers 1,,2
expect layers-estimate-range 1 "layer 7 is out of range" -- "$bin" estimate --embeddings emb.safetensors --out o1.safetensors --layers 7 --quiet
expect no-parent 1 "parent directory" -- "$bin" edit --model m --pairs "$pairs" --out nodir/o1 --quiet
expect report-dir 1 "--report 'nodir/r.json': directory 'nodir' does not exist" -- "$bin" edit --model m --pairs "$pairs" --out o1 --report nodir/r.json --quiet
expect collect-out-dir 1 "is a directory" -- "$bin" collect --model m --pairs "$pairs" --out m --quiet
expect collect-no-model 1 "'nope' is not a directory" -- "$bin" collect --model nope --pairs "$pairs" --out o1.safetensors --quiet
printf '{"preferred":"a"}\n' > nofield.jsonl
expect collect-bad-pairs 1 "nofield.jsonl:1: no known pair of fields" -- "$bin" collect --model m --pairs nofield.jsonl --out o1.safetensors --quiet
expect collect-no-out 2 "--out is required" -- "$bin" collect --model m --pairs "$pairs"
expect estimate-missing 1 "nope.safetensors: cannot open" -- "$bin" estimate --embeddings nope.safetensors --out o1.safetensors --quiet
expect estimate-not-collector 1 "not a collector file (metadata format is 'profs-edit'" -- "$bin" estimate --embeddings x.safetensors --out o1.safetensors --quiet
expect estimate-not-safetensors 1 "exceeds the limit" -- "$bin" estimate --embeddings "$pairs" --out o1.safetensors --quiet
expect estimate-no-embeddings 2 "--embeddings is required" -- "$bin" estimate --out o1.safetensors
expect apply-missing-edit 1 "nope.safetensors: cannot open" -- "$bin" apply --model m --edit nope.safetensors --out o1 --quiet
[ -x "$gen" ] && expect apply-dim-mismatch 1 "fx_gpt2: the model's n_embd is 32 but the edit's dim is 64" -- "$bin" apply --model fx_gpt2 --edit x.safetensors --out o1 --quiet
[ ! -e o1.safetensors ] && say ok no-partial-file || say FAIL "o1.safetensors written by a failing command"
expect exists 1 "exists and is not empty" -- "$bin" edit --model m --pairs "$pairs" --out e --quiet
expect bad-edit-file 1 "" -- "$bin" apply --model m --edit "$pairs" --out o1 --quiet
[ ! -e o1 ] && say ok no-partial-output || say FAIL "o1 exists after failures"
no_leftovers failures
expect rank-zero 2 "--rank: '0' is not 'screenot' or a positive integer" -- "$bin" edit --model m --pairs "$pairs" --out o1 --rank 0
expect rank-max-fixed 2 "--rank-max applies to --rank screenot only" -- "$bin" edit --model m --pairs "$pairs" --out o1 --rank 2 --rank-max 3
expect bad-centering 2 "--centering: 'avg' is not one of mean, top-singular, none" -- "$bin" edit --model m --pairs "$pairs" --out o1 --centering avg
expect bad-targets 2 "--targets: 'all' is not one of value, key, both" -- "$bin" edit --model m --pairs "$pairs" --out o1 --targets all
expect bad-strategy 2 "--screenot-strategy" -- "$bin" edit --model m --pairs "$pairs" --out o1 --screenot-strategy x
expect missing-out 2 "--out is required" -- "$bin" edit --model m --pairs "$pairs"
expect help-with-value 2 "--help takes no value" -- "$bin" edit --help=yes
expect flag-with-value 2 "--quiet takes no value" -- "$bin" edit --model m --pairs "$pairs" --out o1 --quiet=1
expect max-length-zero 2 "--max-length must be at least 1" -- "$bin" edit --model m --pairs "$pairs" --out o1 --max-length 0
expect unknown-flag 2 "unknown option '--layer'" -- "$bin" edit --model m --pairs "$pairs" --out o1 --layer 3
# interrupted (SIGINT) at an arbitrary moment: either complete or absent, never partial
for delay in 0.05 0.3; do
  rm -rf int_out
  timeout -s INT "$delay" "$bin" edit --model m --pairs "$pairs" --out int_out --quiet >/dev/null 2>&1; rc=$?
  if [ $rc = 0 ]; then [ -s int_out/profs_edit.json ] && [ -s int_out/README.md ] && say ok "interrupt-$delay-complete" || say FAIL "interrupt $delay: exit 0 but incomplete"
  else [ ! -e int_out ] && say ok "interrupt-$delay-absent" || say FAIL "interrupt $delay: exit $rc left int_out"; fi
done
no_leftovers interrupt
# SIGTERM and SIGINT in the middle of collection (once a progress line with a rate has appeared): exit 1, nothing
# long enough that a plain progress line (every 2 s) appears mid-collection on an idle machine
for i in $(seq 100); do cat "$pairs"; done > many.jsonl
for sig in TERM INT; do
  rm -rf sig_out; : > sig.err
  "$bin" edit --model m --pairs many.jsonl --out sig_out > sig.out 2> sig.err & pid=$!
  for _ in $(seq 300); do grep -q 'tokens/s, ETA' sig.err && break; kill -0 $pid 2>/dev/null || break; sleep 0.1; done
  mid=$(grep -c 'tokens/s, ETA' sig.err)
  kill -s $sig $pid 2>/dev/null; wait $pid; rc=$?
  if [ "$mid" -ge 1 ] && [ $rc = 1 ] && grep -q '^profs: interrupted' sig.err && [ ! -e sig_out ]; then say ok "sig$sig-mid-collection"
  else say FAIL "SIG$sig mid-collection: mid=$mid exit $rc, out: $(ls -d sig_out 2>&1), err: $(tail -2 sig.err)"; fi
done
no_leftovers signal

# progress: plain lines when stderr is not a terminal, a bar when it is, nothing with --quiet
out=$("$bin" edit --model m --pairs "$pairs" --out p1 2>&1 >/dev/null)
grep -q '^profs: collect .* tokens (100%)' <<<"$out" && grep -q 'tokens/s' <<<"$out" && say ok progress-lines || say FAIL "progress lines: $out"
out=$("$bin" edit --model m --pairs "$pairs" --out p2 --quiet 2>&1 >/dev/null)
[ -z "$out" ] && say ok progress-quiet || say FAIL "--quiet printed: $out"
if command -v script >/dev/null; then
  script -qec "$bin edit --model m --pairs $pairs --out p3" /dev/null > tty.txt 2>&1
  grep -q $'\r.*collect  \[' tty.txt && say ok progress-bar || say FAIL "no progress bar on a terminal: $(head -c 300 tty.txt | od -c | head -5)"
fi

for c in edit collect estimate apply inspect eval classify demo demo-model pairs report tokenize hidden-states perplexity generate version; do
  out=$("$bin" "$c" --help) && grep -q "^usage: profs $c" <<<"$out" || say FAIL "$c --help (exit $?)"
  out=$("$bin" help "$c") && grep -q "^usage: profs $c" <<<"$out" || say FAIL "help $c (exit $?)"
done
say ok help-everywhere
expect help-unknown 2 "unknown command 'nosuch'" -- "$bin" help nosuch
expect unknown-command 2 "unknown command 'nosuch'" -- "$bin" nosuch
expect version 0 "libprofs" -- "$bin" --version
. "$src/tests/util/outdir_check.sh"
check_outputs "$tmp" || fail=1
exit $fail
