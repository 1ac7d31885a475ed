#!/usr/bin/env bash
# profs edit on the transformers-made mixture-of-experts fixtures (tests/data/tf): every expert's
# output matrix is listed and changed (per-expert and fused layouts, the shared expert, dense Qwen
# layers), --targets both reaches the experts' input matrices, apply reproduces edit, and a
# checkpoint missing an expert tensor is refused by name with no output left behind.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
cd "$tmp"
tf=$src/tests/data/tf
pairs=$src/data/pairs.jsonl
[ -s "$pairs" ] || { echo "FAIL: no $pairs"; exit 1; }

expect mixtral-edit 0 "16 tensors changed" -- "$bin" edit --model "$tf/mixtral_f32" --pairs "$pairs" --max-pairs 32 --layers 1-2 --rank 2 --out mx
[ "$(jq -r '[.tensors_changed[].name] | join(",")' mx/profs_edit.json)" = "$(for l in 1 2; do for e in 0 1 2 3 4 5 6 7; do printf 'model.layers.%s.block_sparse_moe.experts.%s.w2.weight,' $l $e; done; done | sed 's/,$//')" ] \
  && say ok mixtral-every-expert || say FAIL "mixtral tensors: $(jq -c '[.tensors_changed[].name]' mx/profs_edit.json)"
jq -e '.tensors_changed | all(.delta_norm > 0 and .role == "value")' mx/profs_edit.json >/dev/null && say ok mixtral-deltas || say FAIL "mixtral delta norms"

expect fused-edit 0 "2 tensors changed (16 expert matrices in 2 fused tensors)" -- "$bin" edit --model "$tf/mixtral_bf16_fused" --pairs "$pairs" --max-pairs 32 --layers 1-2 --rank 2 --out fx --save-edit fx.safetensors
jq -e '[.tensors_changed[].name] == ([range(1;3) as $l | range(0;8) as $e | "model.layers.\($l).mlp.experts.down_proj[\($e)]"])' fx/profs_edit.json >/dev/null \
  && say ok fused-every-slice || say FAIL "fused tensors: $(jq -c '[.tensors_changed[].name]' fx/profs_edit.json)"
expect fused-apply 0 "2 tensors changed (16 expert matrices in 2 fused tensors)" -- "$bin" apply --model "$tf/mixtral_bf16_fused" --edit fx.safetensors --out fa --quiet
cmp -s fa/model.safetensors fx/model.safetensors && say ok fused-apply-equals-edit || say FAIL "apply differs from edit"

# layer 0 dense, layer 1 sparse: the dense down_proj, 6 experts, the shared expert
expect qwen2-both 0 "" -- "$bin" edit --model "$tf/qwen2_moe_f32" --pairs "$pairs" --max-pairs 32 --layers 0-1 --rank 1 --targets both --out q2 --quiet
jq -e '(.tensors_changed | length) == 24 and ([.tensors_changed[] | select(.role == "value")] | length) == 8
       and ([.tensors_changed[].name] | index("model.layers.1.mlp.shared_expert.down_proj.weight") != null)
       and ([.tensors_changed[].name] | index("model.layers.1.mlp.experts.5.gate_proj.weight") != null)
       and ([.tensors_changed[].name] | map(select(test("mlp\\.gate\\.weight|shared_expert_gate"))) | length) == 0' q2/profs_edit.json >/dev/null \
  && say ok qwen2-targets || say FAIL "qwen2 targets: $(jq -c '[.tensors_changed[] | [.name, .role]]' q2/profs_edit.json)"

# an expert tensor removed from a sharded copy (its shard and model.safetensors.index.json):
# refused by name, nothing written
mkdir broken
cp "$tf/qwen3_moe_f32/config.json" "$tf/qwen3_moe_f32/tokenizer.json" broken/
/usr/bin/python3 - "$tf/qwen3_moe_f32/model.safetensors" broken <<'PY'
import json, struct, sys
src, d = sys.argv[1], sys.argv[2]
drop = "model.layers.2.mlp.experts.3.down_proj.weight"
b = open(src, "rb").read()
n = struct.unpack("<Q", b[:8])[0]
h = json.loads(b[8:8 + n])
items = sorted(((k, v) for k, v in h.items() if k != "__metadata__"), key=lambda kv: kv[1]["data_offsets"])
shards = [items[:len(items) // 2], items[len(items) // 2:]]
wm = {}
for i, part in enumerate(shards):
    fn = f"model-0000{i + 1}-of-00002.safetensors"
    hdr, data, o = {}, b"", 0
    for k, v in part:
        if k == drop:
            continue
        a, e = v["data_offsets"]
        data += b[8 + n + a:8 + n + e]
        hdr[k] = dict(v, data_offsets=[o, o + e - a])
        o += e - a
        wm[k] = fn
    s = json.dumps(hdr).encode()
    s += b" " * ((8 - len(s) % 8) % 8)
    open(f"{d}/{fn}", "wb").write(struct.pack("<Q", len(s)) + s + data)
json.dump({"metadata": {}, "weight_map": wm}, open(f"{d}/model.safetensors.index.json", "w"))
PY
expect missing-expert 1 "declares 4 experts per sparse layer but 1 expert tensor is missing: 'model.layers.2.mlp.experts.3.down_proj.weight'" -- "$bin" edit --model broken --pairs "$pairs" --max-pairs 8 --out bo --quiet
[ ! -e bo ] && say ok missing-expert-no-output || say FAIL "bo left behind"

exit $fail
