#!/usr/bin/env bash
# Hostile and degenerate inputs (issue 11): the numerical floor leaves real
# edits alone; reports of denormal singular values render at once; --out is
# committed atomically and never deletes what the run did not create; symlinks
# out of the model are refused and modes never widen; a source truncated while
# mapped ends with a message; stale temporaries are reclaimed; odd shards and
# odd pair files are named for what they are.
set -uo pipefail
build=${PROFS_TEST_BUILD:?}
. "$(dirname "$0")/lib.sh"
cd "$tmp"
data=$src/data
pairs=$data/pairs.jsonl
"$bin" demo-model --out m --data "$data" >/dev/null || { echo "FAIL: demo-model"; exit 1; }

# ---- finding 1: the numerical floor does not touch a real edit ----
# On the demo model and on the golden fixtures every layer keeps exactly the
# directions ScreeNOT puts above its threshold (the floor is far below them).
floor_untouched() { # NAME MODEL LAYERS WANT_RANKS
  "$bin" edit --model "$2" --pairs "$pairs" --out "e_$1" --layers "$3" --report "e_$1.json" --quiet >/dev/null 2>&1 \
    || { say FAIL "floor-$1: edit failed"; return; }
  local ranks; ranks=$(jq -c '[.layers[].rank]' "e_$1.json")
  jq -e '.layers | all(. as $l | $l.rank > 0 and $l.rank == ([$l.singular_values[] | select(. > $l.threshold)] | length))' \
    "e_$1.json" >/dev/null && [ "$ranks" = "$4" ] && say ok "floor-untouched-$1" || say FAIL "floor-$1: ranks $ranks, want $4"
}
floor_untouched demo m 2-5 "[2,2,2,2]"
# the edit file of that output (profs/edit.safetensors in the newer layout)
edfile=e_demo/profs/edit.safetensors; [ -f "$edfile" ] || edfile=e_demo/profs_edit.safetensors
gen=$build/tests/gen_lm_fixtures
if [ -x "$gen" ]; then
  "$gen" fx gpt2 mistral llama >/dev/null
  floor_untouched gpt2 fx/gpt2 1 "[3]"
  floor_untouched mistral fx/mistral 1 "[4]"
  floor_untouched llama fx/llama 1 "[3]"
fi

# ---- finding 2: a report of denormal singular values renders at once ----
# (the y-axis ticks came from a step accumulated against an absolute epsilon:
# ~1e28 iterations; now a bounded count). A stuck render is killed by timeout.
cat > denormal.json <<'J'
{"model": {"path": "m"}, "settings": {"rank": "screenot"},
 "layers": [{"layer": 0, "rank": 0, "threshold": 4e-320, "singular_values": [5e-310, 3e-315, 2e-320, 0]},
            {"layer": 1, "rank": 0, "threshold": 0, "singular_values": [1e-300, 1e-301]}]}
J
t0=$(date +%s%N)
expect report-denormal 0 "wrote" -- timeout 20 "$bin" report --report denormal.json
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
echo "   (rendered in $ms ms)"
[ "$(grep -o 'class="tick" text-anchor="end"' denormal.html | wc -l)" -le 26 ] && say ok report-denormal-ticks-bounded \
  || say FAIL "report-denormal: $(grep -o 'class="tick" text-anchor="end"' denormal.html | wc -l) y ticks"

# ---- finding 3: --out is committed atomically; nothing is removed without --force ----
# A directory (the user's files) created at --out while the run writes its
# temporary output survives untouched, and the run fails saying so. The model
# carries a 64 MiB extra file so the save lasts long enough to be caught.
race=$build/tests/race_out
if [ -x "$race" ]; then
  cp -r m mbig && head -c 67108864 /dev/zero > mbig/extra.data
  out=$("$race" . .raced.profs-tmp- mkdir raced -- "$bin" edit --model mbig --pairs "$pairs" --out raced --quiet 2>&1); rc=$?
  [ "$rc" = 1 ] && grep -qF "while this run was writing its output; it was left as it is and nothing was written (use --force to replace it)" <<<"$out" \
    && say ok out-race-refused || say FAIL "out-race: exit $rc: $out"
  [ "$(cat raced/user-file 2>/dev/null)" = mine ] && [ "$(ls -A raced)" = user-file ] && say ok out-race-user-data-kept \
    || say FAIL "out-race: raced/ now holds: $(ls -A raced 2>&1)"
  [ -z "$(find . -maxdepth 1 -name '.raced.profs-tmp-*')" ] && say ok out-race-no-leftovers || say FAIL "out-race: temporaries left"
  # with --force the same race replaces the directory
  rm -rf raced
  out=$("$race" . .raced.profs-tmp- mkdir raced -- "$bin" edit --model mbig --pairs "$pairs" --out raced --force --quiet 2>&1); rc=$?
  [ "$rc" = 0 ] && [ -s raced/profs_edit.json ] && [ ! -e raced/user-file ] && say ok out-race-force-replaces \
    || say FAIL "out-race --force: exit $rc: $out"
  rm -rf mbig raced
fi
# two runs to one --out: the second does not silently replace the first
expect out-second-run 1 "exists and is not empty (use --force to replace it)" -- "$bin" edit --model m --pairs "$pairs" --out e_demo --quiet
# an empty directory at --out is fine and is replaced
mkdir empty_out && expect out-empty-dir 0 "" -- "$bin" edit --model m --pairs "$pairs" --out empty_out --quiet
[ -s empty_out/profs_edit.json ] && say ok out-empty-dir-filled || say FAIL "empty_out not filled"

# ---- finding 7: --out . is refused before any work, also with --force ----
mkdir dot && (cd dot && touch keep && expect out-dot-force 1 "--out '.' names the current directory; it cannot be replaced" -- "$bin" edit --model ../m --pairs "$pairs" --out . --force --quiet)
[ -e dot/keep ] && say ok out-dot-kept || say FAIL "dot/keep removed"
expect out-dotdot 1 "names a parent directory" -- "$bin" apply --model m --edit "$edfile" --out dot/.. --force --quiet

# ---- finding 7: temporaries of killed runs are reclaimed, live ones kept ----
host=$(uname -n | tr -c 'A-Za-z0-9.\n' '_' | cut -c1-32)
dead=$(sh -c 'echo $$')           # a process that has exited
mkdir -p ".e_st.profs-tmp-$dead@$host-AAAAAA/sub" ".e_st.profs-tmp-$$@$host-BBBBBB" ".e_st.profs-tmp-CCCCCC" \
         ".e_st.profs-tmp-$dead@otherhost-DDDDDD"
head -c 1000 /dev/zero > ".e_st.profs-tmp-$dead@$host-AAAAAA/sub/model.safetensors"
expect stale-reclaimed 0 "removed './.e_st.profs-tmp-$dead@$host-AAAAAA', left by an interrupted run (process $dead) that no longer exists" \
  -- "$bin" edit --model m --pairs "$pairs" --out e_st --quiet
[ ! -e ".e_st.profs-tmp-$dead@$host-AAAAAA" ] && [ -d ".e_st.profs-tmp-$$@$host-BBBBBB" ] && [ -d ".e_st.profs-tmp-CCCCCC" ] \
  && [ -d ".e_st.profs-tmp-$dead@otherhost-DDDDDD" ] && say ok stale-only-dead-owners \
  || say FAIL "stale reclaim: $(ls -d .e_st.* 2>&1)"
rm -rf .e_st.profs-tmp-*
# a kill -9 mid-save leaves a temporary that the next run removes
cp -r m mbig2 && head -c 134217728 /dev/zero > mbig2/extra.data  # copied (a top-level .bin would be left out as a foreign weight file)
"$bin" edit --model mbig2 --pairs "$pairs" --out e_k --quiet >/dev/null 2>&1 & kp=$!
for _ in $(seq 200); do ls -d .e_k.profs-tmp-* >/dev/null 2>&1 && break; sleep 0.02; done
kill -9 $kp 2>/dev/null; wait $kp 2>/dev/null
left=$(ls -d .e_k.profs-tmp-* 2>/dev/null | wc -l)
expect stale-after-kill9 0 "" -- "$bin" edit --model m --pairs "$pairs" --out e_k --quiet
[ "$left" -ge 1 ] && [ -z "$(ls -d .e_k.profs-tmp-* 2>/dev/null)" ] && [ -s e_k/profs_edit.json ] && say ok stale-after-kill9-reclaimed \
  || say FAIL "after kill -9: $left left before, now: $(ls -d .e_k.* 2>&1)"
rm -rf mbig2

# ---- finding 5: symbolic links out of the model are refused; modes never widen ----
umask 022
mkdir -p outside/dir && echo "not the model's" > outside/secret && chmod 640 outside/secret && echo x > outside/dir/f
cp -r m ml && ln -s "$PWD/outside/secret" ml/secret
expect link-outside-refused 1 "ml/secret: symbolic link to '$PWD/outside/secret', outside the model directory; refused" \
  -- "$bin" edit --model ml --pairs "$pairs" --out e_ml --quiet
[ ! -e e_ml ] && say ok link-outside-nothing-written || say FAIL "e_ml written"
expect link-outside-refused-apply 1 "symbolic link to '$PWD/outside/secret'" -- "$bin" apply --model ml --edit "$edfile" --out a_ml --quiet
rm ml/secret && ln -s "$PWD/outside/dir" ml/extdir
expect link-dir-outside-refused 1 "ml/extdir: symbolic link to '$PWD/outside/dir', outside the model directory; refused" \
  -- "$bin" edit --model ml --pairs "$pairs" --out e_ml --quiet
rm ml/extdir
echo hf_secret > ml/hf_token && chmod 600 ml/hf_token && mkdir ml/sub && echo s > ml/sub/notes.txt && chmod 700 ml/sub
ln -s tokenizer.json ml/tokenizer_copy.json && ln -s sub ml/sublink
expect link-inside-followed 0 "" -- "$bin" edit --model ml --pairs "$pairs" --out e_ml --quiet
[ "$(stat -c %a e_ml/hf_token)" = 600 ] && say ok mode-600-kept || say FAIL "hf_token mode $(stat -c %a e_ml/hf_token)"
[ "$(stat -c %a e_ml/sub)" = 700 ] && say ok dir-mode-kept || say FAIL "sub mode $(stat -c %a e_ml/sub)"
[ -f e_ml/tokenizer_copy.json ] && [ ! -L e_ml/tokenizer_copy.json ] && cmp -s e_ml/tokenizer_copy.json m/tokenizer.json \
  && [ -f e_ml/sublink/notes.txt ] && say ok link-inside-copied || say FAIL "inside links not copied"
[ "$(stat -c %a e_ml/config.json)" = 644 ] && say ok mode-644-default || say FAIL "config.json mode $(stat -c %a e_ml/config.json)"
# the flag allows an outside link; the copy keeps the target's mode 640
ln -s "$PWD/outside/secret" ml/secret
expect link-outside-allowed 0 "" -- "$bin" edit --model ml --pairs "$pairs" --out e_ml2 --follow-outside-links --quiet
[ "$(cat e_ml2/secret 2>/dev/null)" = "not the model's" ] && [ "$(stat -c %a e_ml2/secret)" = 640 ] && say ok link-outside-mode-640 \
  || say FAIL "secret copy: $(stat -c %a e_ml2/secret 2>&1)"
# the Hugging Face cache layout: snapshot files are links into the repository's blobs/
repo=hub/models--org--tiny && mkdir -p "$repo/blobs" "$repo/snapshots/abc123"
for f in m/*; do
  h=$(sha256sum "$f" | cut -c1-40); cp "$f" "$repo/blobs/$h"; ln -s "../../blobs/$h" "$repo/snapshots/abc123/$(basename "$f")"
done
expect hf-cache-links 0 "" -- "$bin" edit --model "$repo/snapshots/abc123" --pairs "$pairs" --out e_hf --quiet
[ -f e_hf/config.json ] && [ ! -L e_hf/config.json ] && cmp -s e_hf/tokenizer.json m/tokenizer.json && say ok hf-cache-copied \
  || say FAIL "hf cache copy"
# a link from one snapshot into another repository's blobs is still refused
mkdir -p hub/models--other--x/blobs && echo '{}' > hub/models--other--x/blobs/ff && ln -s ../../../models--other--x/blobs/ff "$repo/snapshots/abc123/extra.json"
expect hf-cache-other-repo 1 "extra.json: symbolic link to '$PWD/hub/models--other--x/blobs/ff', outside the model directory" \
  -- "$bin" edit --model "$repo/snapshots/abc123" --pairs "$pairs" --out e_hf2 --quiet

# ---- finding 6: a source truncated while mapped ends with a message, not SIGBUS ----
# Truncated when the save starts, just past the page holding the first edited
# tensor's start: the copy before it reads fine, the edited tensor's next page
# is gone from the mapping (SIGBUS on the read).
if [ -x "$race" ]; then
  cp -r m mbus && head -c 67108864 /dev/zero > mbus/extra.data
  page=$(getconf PAGESIZE)
  hn=$(od -An -t u8 -N8 mbus/model.safetensors | tr -d ' ')
  begin=$(( 8 + hn + $(tail -c +9 mbus/model.safetensors | head -c "$hn" | jq '.["transformer.h.2.mlp.c_proj.weight"].data_offsets[0]') ))
  cut=$(( begin / page * page + page ))
  out=$("$race" . .e_bus.profs-tmp- truncate mbus/model.safetensors "$cut" -- "$bin" edit --model mbus --pairs "$pairs" --out e_bus --quiet 2>&1); rc=$?
  [ "$rc" = 1 ] && grep -qF "/mbus/model.safetensors changed while it was being read (truncated or rewritten while mapped; inputs must not change while profs runs): stopped, nothing written" <<<"$out" \
    && say ok sigbus-message || say FAIL "sigbus: exit $rc: $out"
  [ ! -e e_bus ] && [ -z "$(ls -d .e_bus.profs-tmp-* 2>/dev/null)" ] && say ok sigbus-temporary-removed \
    || say FAIL "sigbus: left $(ls -d e_bus .e_bus.* 2>&1)"
  rm -rf mbus
fi

# ---- finding 7: a gzip of zeros is named for what it holds, not "empty" ----
head -c 10000000 /dev/zero | gzip -c > zeros.jsonl.gz
expect gzip-of-zeros 1 "zeros.jsonl.gz:1: contains a NUL byte" \
  -- "$bin" edit --model m --pairs zeros.jsonl.gz --out e_z --quiet

# ---- finding 7: NaN in a weight no computation reads is warned, naming the tensor ----
# the last row of the position table is never read by these short pairs
cp -r m mnan
hn=$(od -An -t u8 -N8 mnan/model.safetensors | tr -d ' ')
end=$(tail -c +9 mnan/model.safetensors | head -c "$hn" | jq '.["transformer.wpe.weight"].data_offsets[1]')
numel=$(tail -c +9 mnan/model.safetensors | head -c "$hn" | jq '.["transformer.wpe.weight"].shape | .[0] * .[1]')
printf '\000\000\300\177' | dd of=mnan/model.safetensors bs=1 seek=$((8 + hn + end - 4)) conv=notrunc status=none
expect nan-unread-warned 0 "profs: warning: tensor 'transformer.wpe.weight' of the source holds 1 NaN/Inf value (first at element $((numel - 1)))" \
  -- "$bin" edit --model mnan --pairs "$pairs" --out e_nan --quiet
rm -rf mnan e_nan

# ---- a pair file that never ends (a pipe kept open): SIGTERM stops the reading loop, exit 1, nothing written ----
mkfifo endless.fifo
( while :; do echo '{"preferred": "a kind word", "dispreferred": "a rude word"}'; sleep 0.002; done > endless.fifo ) 2>/dev/null &
writer=$!
"$bin" edit --model m --pairs endless.fifo --out e_endless --quiet > /dev/null 2> endless.err & pid=$!
sleep 1.5
kill -TERM $pid 2>/dev/null; t0=$(date +%s%N)
wait $pid; rc=$?; t1=$(date +%s%N)
kill $writer 2>/dev/null; wait $writer 2>/dev/null
if [ $rc = 1 ] && grep -q 'endless.fifo:[0-9]*: interrupted' endless.err && [ ! -e e_endless ] && [ $(( (t1 - t0) / 1000000 )) -lt 2000 ]; then
  say ok endless-pair-file-interrupted
else say FAIL "endless pair file: exit $rc after $(( (t1 - t0) / 1000000 )) ms: $(cat endless.err)"; fi
rm -f endless.fifo endless.err

exit $fail
