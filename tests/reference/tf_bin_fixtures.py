#!/usr/bin/env python3
"""PyTorch-checkpoint (.bin) fixtures and their goldens, made with transformers
and torch in the transformers environment (tests/reference/transformers-env).

transformers 5 no longer writes .bin files (safe_serialization=False writes
safetensors), so the checkpoints are written with torch.save the way
transformers 4's save_pretrained(safe_serialization=False) wrote them:
  - one file: torch.save(model.state_dict(), "pytorch_model.bin"): an
    OrderedDict with a BUILD of its _metadata, tied weights as two keys on
    one storage, zip entries under "pytorch_model/";
  - sharded: plain dicts per shard, "pytorch_model-0000i-of-0000n.bin" plus
    "pytorch_model.bin.index.json" = {"metadata": {"total_size"}, "weight_map"},
    one shard written through a file object (zip entries under "archive/").

Regenerate: the script runs inside the transformers environment and needs the repository there
(REPO: its path as seen inside the environment, e.g. a copy under the environment's /xchg):
    chroot "${PROFS_TRANSFORMERS_ENV:-/var/tmp/profs-transformers}" python3 \
        REPO/tests/reference/tf_bin_fixtures.py REPO
It rewrites REPO/tests/data/bin/ except hostile/ (made by make_hostile_checkpoints.py).

Fixtures, under tests/data/bin/<name>/ (config.json, generation_config.json,
tokenizer.json, the .bin file(s), golden.safetensors):
  gpt2_f32     GPT-2, F32, one pytorch_model.bin, tied wte / lm_head, transformer.h.1.mlp.c_proj.weight
               stored as a non-contiguous (transposed) view
  gpt2_bf16    GPT-2, BF16, three shards + index, one shard under "archive/"
  opt_f16      OPT, F16, one file, model.decoder.layers.0.fc2.weight stored as a
               non-contiguous (transposed) view, tied embed_tokens / lm_head
  gpt2_zip     gpt2_f32's checkpoint re-zipped with every entry deflated
tests/data/bin/goldens/: what transformers' own save_pretrained writes after loading the .bin
files (what profs must reproduce byte for byte when it saves a .bin source): for gpt2_bf16 and
opt_f16 with max_shard_size=20000, <name>.index-20000.json (model.safetensors.index.json) and
<name>.shards-20000/model-0000i-of-0000n.safetensors; for gpt2_f32 with the default shard size,
gpt2_f32.model.safetensors.

golden.safetensors (written by the safetensors package) holds every state-dict
tensor as "w.<name>" (its own dtype, contiguous), and for one token sequence:
"ids.0" (I32 [T]), "hidden.0" (F32 [L+1, T, D]: embedding output and raw block
outputs from hooks, no final norm), "logits.0" (F32 [T, V]); __metadata__ has
transformers_version, torch_version and seed.

The tokenizer is derived from the committed GPT-2 tokenizer.json: its first 512
ids (the 256 byte symbols and the first 256 merges' results) and the merges
among them; no added tokens.
"""
import copy
import json
import os
import shutil
import sys
import tempfile
import zipfile

import torch
import transformers
from safetensors.torch import save_file

torch.set_num_threads(1)
torch.set_grad_enabled(False)
SEED = 1234
VOCAB = 512
IDS = [31, 77, 260, 300, 45, 99, 410, 12, 7, 501, 66, 3]


def small_tokenizer(repo):
    with open(os.path.join(repo, "tests/data/tokenizers/gpt2/tokenizer.json"), encoding="utf-8") as f:
        t = json.load(f)
    vocab = {k: v for k, v in t["model"]["vocab"].items() if v < VOCAB}
    merges = []
    for m in t["model"]["merges"]:
        a, b = m.split(" ") if isinstance(m, str) else m
        if a in vocab and b in vocab and a + b in vocab:
            merges.append(m)
    t["model"]["vocab"] = vocab
    t["model"]["merges"] = merges
    t["added_tokens"] = []
    return t


def hidden_and_logits(model, blocks):
    caught = []
    hooks = [b.register_forward_hook(lambda mod, inp, out: caught.append(out[0] if isinstance(out, tuple) else out))
             for b in blocks]
    ids = torch.tensor([IDS])
    out = model(ids, output_hidden_states=True)
    for h in hooks:
        h.remove()
    hidden = torch.stack([out.hidden_states[0][0]] + [c[0] for c in caught]).float()
    return ids[0].to(torch.int32), hidden.contiguous(), out.logits[0].float().contiguous()


def write_common(out, model, tok):
    os.makedirs(out, exist_ok=True)
    model.config.save_pretrained(out)
    model.generation_config.save_pretrained(out)
    with open(os.path.join(out, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(tok, f, ensure_ascii=False)


def golden(out, sd, model, blocks_of):
    # hidden states and logits of an F32 copy: the runtime converts F16/BF16 weights to F32 and computes in F32
    ref = copy.deepcopy(model).float()
    ids, hidden, logits = hidden_and_logits(ref, blocks_of(ref))
    g = {"w." + k: v.detach().clone().contiguous() for k, v in sd.items()}
    g.update({"ids.0": ids, "hidden.0": hidden, "logits.0": logits})
    save_file(g, os.path.join(out, "golden.safetensors"),
              metadata={"transformers_version": transformers.__version__, "torch_version": torch.__version__,
                        "seed": str(SEED)})


def gpt2(dtype):
    torch.manual_seed(SEED)
    cfg = transformers.GPT2Config(vocab_size=VOCAB, n_positions=64, n_embd=32, n_layer=2, n_head=2,
                                  bos_token_id=0, eos_token_id=0)
    m = transformers.GPT2LMHeadModel(cfg).eval().to(dtype)
    return m, lambda x: x.transformer.h


def opt():
    torch.manual_seed(SEED)
    cfg = transformers.OPTConfig(vocab_size=VOCAB, hidden_size=32, ffn_dim=64, num_hidden_layers=2,
                                 num_attention_heads=2, max_position_embeddings=64, word_embed_proj_dim=32,
                                 bos_token_id=2, eos_token_id=2, pad_token_id=1)
    m = transformers.OPTForCausalLM(cfg).eval().to(torch.float16)
    return m, lambda x: x.model.decoder.layers


def main():
    repo = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", ".."))
    base = os.path.join(repo, "tests/data/bin")
    tok = small_tokenizer(repo)
    for d in ("gpt2_f32", "gpt2_zip", "gpt2_bf16", "opt_f16", "goldens"):
        shutil.rmtree(os.path.join(base, d), ignore_errors=True)

    # gpt2_f32: one file, the state dict itself (OrderedDict + _metadata, tied keys on one storage)
    m, blocks = gpt2(torch.float32)
    out = os.path.join(base, "gpt2_f32")
    write_common(out, m, tok)
    sd = m.state_dict()
    assert sd["lm_head.weight"].data_ptr() == sd["transformer.wte.weight"].data_ptr()
    # an F32 strided view too, in the matrix an edit changes (the runtime may use F32 data in place)
    name = "transformer.h.1.mlp.c_proj.weight"
    sd[name] = sd[name].t().contiguous().t()
    assert not sd[name].is_contiguous()
    torch.save(sd, os.path.join(out, "pytorch_model.bin"))
    golden(out, sd, m, blocks)

    # gpt2_zip: the same checkpoint with every zip entry deflated
    zout = os.path.join(base, "gpt2_zip")
    os.makedirs(zout)
    for f in ("config.json", "generation_config.json", "tokenizer.json", "golden.safetensors"):
        shutil.copy(os.path.join(out, f), zout)
    with zipfile.ZipFile(os.path.join(out, "pytorch_model.bin")) as zin, \
            zipfile.ZipFile(os.path.join(zout, "pytorch_model.bin"), "w", zipfile.ZIP_DEFLATED) as zo:
        for info in zin.infolist():
            zo.writestr(info.filename, zin.read(info.filename))
    assert sorted(torch.load(os.path.join(zout, "pytorch_model.bin"), weights_only=True).keys()) == sorted(sd.keys())

    # gpt2_bf16: three shards of plain dicts + index; the last one written through a file object
    m, blocks = gpt2(torch.bfloat16)
    out = os.path.join(base, "gpt2_bf16")
    write_common(out, m, tok)
    sd = m.state_dict()
    keys = list(sd.keys())
    parts = [keys[:len(keys) // 3], keys[len(keys) // 3:2 * len(keys) // 3], keys[2 * len(keys) // 3:]]
    # tied keys stay in one shard (as huggingface_hub's split does)
    for p in parts[1:]:
        if "lm_head.weight" in p:
            p.remove("lm_head.weight")
            parts[0].append("lm_head.weight")
    weight_map, total = {}, 0
    for i, p in enumerate(parts):
        name = f"pytorch_model-{i + 1:05d}-of-{len(parts):05d}.bin"
        shard = {k: sd[k] for k in p}
        if i == len(parts) - 1:
            with open(os.path.join(out, name), "wb") as f:
                torch.save(shard, f)
        else:
            torch.save(shard, os.path.join(out, name))
        for k in p:
            weight_map[k] = name
            if k != "lm_head.weight":
                total += sd[k].numel() * sd[k].element_size()
    with open(os.path.join(out, "pytorch_model.bin.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=2, sort_keys=True)
        f.write("\n")
    golden(out, sd, m, blocks)

    # opt_f16: one file; fc2 of layer 0 as a transposed view of a transposed copy (same values, strides (1, 64))
    m, blocks = opt()
    out = os.path.join(base, "opt_f16")
    write_common(out, m, tok)
    sd = m.state_dict()
    name = "model.decoder.layers.0.fc2.weight"
    sd[name] = sd[name].t().contiguous().t()
    assert not sd[name].is_contiguous()
    torch.save(sd, os.path.join(out, "pytorch_model.bin"))
    golden(out, sd, m, blocks)
    # what transformers itself writes when it re-saves the checkpoints as safetensors with 20 kB shards
    gold = os.path.join(base, "goldens")
    os.makedirs(gold)
    for name in ("gpt2_bf16", "opt_f16"):
        m = transformers.AutoModelForCausalLM.from_pretrained(os.path.join(base, name), dtype="auto")
        with tempfile.TemporaryDirectory() as t:
            m.save_pretrained(t, max_shard_size=20000)
            shutil.copy(os.path.join(t, "model.safetensors.index.json"),
                        os.path.join(gold, name + ".index-20000.json"))
            os.makedirs(os.path.join(gold, name + ".shards-20000"))
            for f in sorted(os.listdir(t)):
                if f.endswith(".safetensors"):
                    shutil.copy(os.path.join(t, f), os.path.join(gold, name + ".shards-20000", f))
    m = transformers.AutoModelForCausalLM.from_pretrained(os.path.join(base, "gpt2_f32"), dtype="auto")
    with tempfile.TemporaryDirectory() as t:
        m.save_pretrained(t)
        shutil.copy(os.path.join(t, "model.safetensors"), os.path.join(gold, "gpt2_f32.model.safetensors"))
    print("wrote", base)


if __name__ == "__main__":
    main()
