#!/usr/bin/python3
"""Mixture-of-experts fixtures and goldens made by transformers itself (issue 17).

Tiny random Mixtral, Qwen2-MoE and Qwen3-MoE checkpoints (4-8 experts, top-2, F32 and BF16) written by
transformers' own save_pretrained, in both on-disk layouts:
  - per-expert tensors (save_pretrained's default: block_sparse_moe.experts.{e}.w1/w2/w3 for Mixtral,
    mlp.experts.{e}.{gate,up,down}_proj for the Qwen families), and
  - the fused 3-D tensors transformers 5 holds in memory (save_original_format=False:
    mlp.experts.gate_up_proj [E, 2I, D], mlp.experts.down_proj [E, D, I], Mixtral's router as mlp.gate.weight).

The module follows the fixture contract of tests/reference/tf_goldens.py (a list FIXTURES of records) and is
also its own driver, writing the same layout, so it runs without tf_goldens.py.  It runs INSIDE the
transformers environment (default /var/tmp/profs-transformers, ${PROFS_TRANSFORMERS_ENV}) with the repository
visible there.  Regenerate, from the repository root:

    E=${PROFS_TRANSFORMERS_ENV:-/var/tmp/profs-transformers}; mkdir -p $E/xchg/moe
    cp -r tests/reference tests/data/tokenizers/gpt2 $E/xchg/moe/
    chroot $E python3 /xchg/moe/reference/tf_fixtures_moe.py /xchg/moe/out /xchg/moe/gpt2/tokenizer.json
    rm -rf tests/data/tf/{mixtral,qwen2_moe,qwen3_moe}_* && cp -r $E/xchg/moe/out/* tests/data/tf/

Per fixture it writes tests/data/tf/<name>/: the checkpoint exactly as save_pretrained wrote it (config.json,
model.safetensors, generation_config.json), tokenizer.json (GPT-2's byte-level tokenizer cut to its 256 byte
tokens plus <|endoftext|> as id 256; ids made by HF tokenizers), and golden.safetensors with, per test
sequence i:
  ids.i        I32 [T]
  hidden.i     F32 [L+1, T, D]  embedding output and RAW decoder-layer outputs (forward hooks; no final norm)
  logits.i     F32 [T, V]
  route.i      I32 [M, T, k]    experts chosen by each of the M sparse layers (in layer order), topk order
  route_w.i    F32 [M, T, k]    their routing weights (after norm_topk_prob where the family applies it)
  route_margin.i F32 [M, T]     router-logit gap between the k-th and (k+1)-th expert (no ties: > MIN_MARGIN)
and greedy.0 (I32: prompt ids.{GREEDY_SEQ} followed by the greedy continuation of transformers' generate),
ppl_ids + ppl.{max_length}.{stride} (F64 [2]: mean NLL, ppl; the transformers perplexity guide's loop);
__metadata__: transformers_version, torch_version, seed, compute_dtype, moe_layers, min_route_margin,
min_greedy_margin, layout.

BF16 checkpoints are stored in BF16 and their goldens are computed by transformers on the same weights loaded
as float32 (dtype=torch.float32): that is the arithmetic libprofs does (f32 on weights of any dtype), so the
1e-4 tolerance holds.  Inputs are drawn from a seeded generator and redrawn until no routing decision (and no
greedy step) is within MIN_MARGIN of a tie; the smallest margin met is recorded.
"""
import json
import math
import os
import shutil
import sys

import numpy as np
import torch

torch.set_num_threads(1)
torch.set_grad_enabled(False)

MIN_MARGIN = 1e-3      # router-logit and greedy-logit gap below which an input counts as a near-tie
GREEDY_SEQ = 2
GREEDY_NEW = 8
SEQ_LENS = [1, 3, 12, 23]
PPL = ((16, 16), (16, 5), (40, 40))
VOCAB = 260            # tokenizer has 257 ids; the embedding is padded as real checkpoints are

COMMON = dict(vocab_size=VOCAB, hidden_size=64, num_attention_heads=4, num_key_value_heads=2,
              max_position_embeddings=256, rms_norm_eps=1e-6, tie_word_embeddings=False,
              bos_token_id=None, eos_token_id=None, pad_token_id=None, initializer_range=0.05)


def mixtral(**kw):
    from transformers import MixtralConfig, MixtralForCausalLM
    cfg = dict(COMMON, num_hidden_layers=3, intermediate_size=32, num_local_experts=8, num_experts_per_tok=2,
               rope_parameters={"rope_type": "default", "rope_theta": 10000.0})
    cfg.update(kw)
    return MixtralForCausalLM(MixtralConfig(**cfg))


def qwen2_moe(**kw):
    from transformers import Qwen2MoeConfig, Qwen2MoeForCausalLM
    cfg = dict(COMMON, num_hidden_layers=4, intermediate_size=48, moe_intermediate_size=24,
               shared_expert_intermediate_size=40, num_experts=6, num_experts_per_tok=2,
               rope_parameters={"rope_type": "default", "rope_theta": 10000.0})
    cfg.update(kw)
    return Qwen2MoeForCausalLM(Qwen2MoeConfig(**cfg))


def qwen3_moe(**kw):
    from transformers import Qwen3MoeConfig, Qwen3MoeForCausalLM
    cfg = dict(COMMON, num_hidden_layers=3, intermediate_size=48, moe_intermediate_size=24, num_experts=4,
               num_experts_per_tok=2, head_dim=24, rope_parameters={"rope_type": "default", "rope_theta": 10000.0})
    cfg.update(kw)
    return Qwen3MoeForCausalLM(Qwen3MoeConfig(**cfg))


# Contract record: name, build (config -> model), dtypes, tokenizer, goldens; plus the layout to save in.
FIXTURES = [
    # sliding window 8 < the 12- and 23-token sequences: the window matters
    dict(name="mixtral_f32", build=lambda: mixtral(sliding_window=8), dtypes=["float32"], tokenizer="gpt2-bytes",
         goldens=["hidden", "logits", "greedy", "ppl", "route"], layout="per-expert"),
    dict(name="mixtral_bf16_fused", build=lambda: mixtral(), dtypes=["bfloat16"], tokenizer="gpt2-bytes",
         goldens=["hidden", "logits", "greedy", "ppl", "route"], layout="fused"),
    # dense layers 0 and 2 (decoder_sparse_step 2), sliding layer 0 and 2 below max_window_layers 3, shared expert
    dict(name="qwen2_moe_f32", build=lambda: qwen2_moe(decoder_sparse_step=2, use_sliding_window=True,
                                                       sliding_window=8, max_window_layers=3),
         dtypes=["float32"], tokenizer="gpt2-bytes", goldens=["hidden", "logits", "greedy", "ppl", "route"],
         layout="per-expert"),
    # mlp_only_layers wins over decoder_sparse_step; norm_topk_prob on
    dict(name="qwen2_moe_bf16_fused", build=lambda: qwen2_moe(num_hidden_layers=3, mlp_only_layers=[1],
                                                              norm_topk_prob=True, num_experts=8),
         dtypes=["bfloat16"], tokenizer="gpt2-bytes", goldens=["hidden", "logits", "greedy", "ppl", "route"],
         layout="fused"),
    dict(name="qwen3_moe_f32", build=lambda: qwen3_moe(norm_topk_prob=True, mlp_only_layers=[1]),
         dtypes=["float32"], tokenizer="gpt2-bytes", goldens=["hidden", "logits", "greedy", "ppl", "route"],
         layout="per-expert"),
    dict(name="qwen3_moe_bf16_fused", build=lambda: qwen3_moe(num_experts=6), dtypes=["bfloat16"],
         tokenizer="gpt2-bytes", goldens=["hidden", "logits", "greedy", "ppl", "route"], layout="fused"),
    # BF16 in the default per-expert layout too (both layouts in both dtypes across the set)
    dict(name="qwen3_moe_bf16", build=lambda: qwen3_moe(num_experts=6, norm_topk_prob=True), dtypes=["bfloat16"],
         tokenizer="gpt2-bytes", goldens=["hidden", "logits", "greedy", "route"], layout="per-expert"),
]


def seed_of(name):
    return sum((i + 1) * ord(c) for i, c in enumerate(name))


def randomize(model, seed):
    """transformers' own init, then norms around 1 and routers scaled so that routing is decisive."""
    g = torch.Generator().manual_seed(seed)
    for name, p in model.named_parameters():
        if name.endswith("norm.weight"):
            p.copy_(1.0 + 0.2 * torch.randn(p.shape, generator=g))
        elif name.endswith("gate.weight") and p.shape[0] > 1:           # router [E, D]
            p.copy_(torch.randn(p.shape, generator=g) * (2.0 / math.sqrt(p.shape[1])))
        elif name.endswith("shared_expert_gate.weight"):
            p.copy_(torch.randn(p.shape, generator=g) * (1.0 / math.sqrt(p.shape[1])))
        elif name.endswith("bias"):
            p.copy_(0.1 * torch.randn(p.shape, generator=g))
        else:
            p.copy_(torch.randn(p.shape, generator=g) * 0.08)


def byte_tokenizer(gpt2_path, out_path):
    t = json.load(open(gpt2_path))
    vocab = {k: i for k, i in t["model"]["vocab"].items() if i < 256}
    t["model"]["vocab"] = vocab
    t["model"]["merges"] = [m for m in t["model"]["merges"]
                            if all(p in vocab for p in (m.split(" ") if isinstance(m, str) else m))
                            and "".join(m.split(" ") if isinstance(m, str) else m) in vocab]
    t["added_tokens"] = [dict(t["added_tokens"][0], id=256)]
    json.dump(t, open(out_path, "w"), ensure_ascii=False, separators=(",", ":"))


def sparse_gates(model):
    """The router modules of the sparse layers, in layer order."""
    out = []
    for i, layer in enumerate(model.model.layers):
        blk = layer.mlp
        if hasattr(blk, "experts"):
            out.append((i, blk.gate))
    return out


def run(model, ids):
    """One forward: hidden [L+1,T,D], logits [T,V], routing per sparse layer (indices, weights, margins)."""
    hs, routes = [], []
    hooks = [model.model.embed_tokens.register_forward_hook(lambda m, a, o: hs.append(o[0].clone()))]
    for layer in model.model.layers:
        hooks.append(layer.register_forward_hook(
            lambda m, a, o: hs.append((o[0] if isinstance(o, tuple) else o)[0].clone())))
    for _, gate in sparse_gates(model):
        hooks.append(gate.register_forward_hook(lambda m, a, o: routes.append(o)))
    try:
        out = model(input_ids=torch.tensor([ids]), use_cache=False)
    finally:
        for h in hooks:
            h.remove()
    k = model.config.num_experts_per_tok
    idx, wts, margins = [], [], []
    for logits_r, scores, indices in routes:
        srt = torch.sort(logits_r.float(), dim=-1, descending=True).values
        margins.append((srt[:, k - 1] - srt[:, k]))
        idx.append(indices.int())
        wts.append(scores.float())
    return torch.stack(hs), out.logits[0].float(), idx, wts, margins


def perplexity(model, ids, max_length, stride):
    """The transformers perplexity guide's loop (batch size 1)."""
    seq_len = len(ids)
    nll_sum, n_tokens, prev_end = 0.0, 0, 0
    for begin in range(0, seq_len, stride):
        end = min(begin + max_length, seq_len)
        trg_len = end - prev_end
        inp = torch.tensor([ids[begin:end]])
        target = inp.clone()
        target[:, :-trg_len] = -100
        out = model(input_ids=inp, labels=target, use_cache=False)
        num_valid = int((target != -100).sum())
        num_loss = num_valid - 1
        nll_sum += float(out.loss) * num_loss
        n_tokens += num_loss
        prev_end = end
        if end == seq_len:
            break
    avg = nll_sum / n_tokens
    return avg, math.exp(avg)


def make(fx, out_root, tok_src):
    from safetensors.torch import save_file
    import transformers
    from tokenizers import Tokenizer
    name = fx["name"]
    seed = seed_of(name)
    torch.manual_seed(seed)
    model = fx["build"]()
    randomize(model, seed)
    dtype = getattr(torch, fx["dtypes"][0])
    d = os.path.join(out_root, name)
    shutil.rmtree(d, ignore_errors=True)
    model.to(dtype).save_pretrained(d, save_original_format=(fx["layout"] == "per-expert"))
    byte_tokenizer(tok_src, os.path.join(d, "tokenizer.json"))
    # the goldens: transformers on the saved checkpoint, in float32
    ref = type(model).from_pretrained(d, dtype=torch.float32, attn_implementation="eager")
    ref.eval()
    tok = Tokenizer.from_file(os.path.join(d, "tokenizer.json"))
    texts = ["a", "The cat", "Experts route tokens.", "Mixture of experts: every expert is edited."]
    g = np.random.default_rng(seed)
    tensors = {}
    min_route, min_greedy = float("inf"), float("inf")
    for i, n in enumerate(SEQ_LENS):
        for attempt in range(200):
            if attempt == 0 and i < len(texts) and len(tok.encode(texts[i]).ids) == n:
                ids = tok.encode(texts[i]).ids
            else:
                ids = g.integers(0, 257, size=n).tolist()
            hs, logits, idx, wts, margins = run(ref, ids)
            m = min(float(x.min()) for x in margins) if margins else float("inf")
            if m > MIN_MARGIN:
                break
        else:
            raise SystemExit(f"{name}: no input of length {n} without a routing near-tie")
        min_route = min(min_route, m)
        tensors[f"ids.{i}"] = torch.tensor(ids, dtype=torch.int32)
        tensors[f"hidden.{i}"] = hs.float().contiguous()
        tensors[f"logits.{i}"] = logits.contiguous()
        tensors[f"route.{i}"] = torch.stack(idx).contiguous()
        tensors[f"route_w.{i}"] = torch.stack(wts).contiguous()
        tensors[f"route_margin.{i}"] = torch.stack(margins).float().contiguous()
    # greedy continuation of sequence GREEDY_SEQ; every step checked for ties (logits and routing)
    prompt = tensors[f"ids.{GREEDY_SEQ}"].tolist()
    # attention_mask given: generate() would otherwise mask every prompt token equal to pad_token_id
    gen = ref.generate(input_ids=torch.tensor([prompt]), attention_mask=torch.ones(1, len(prompt), dtype=torch.long),
                       max_new_tokens=GREEDY_NEW, do_sample=False, num_beams=1, pad_token_id=0,
                       eos_token_id=None)[0].tolist()
    for t in range(len(prompt), len(gen)):
        _, lg, _, _, margins = run(ref, gen[:t])
        top = torch.sort(lg[-1], descending=True).values
        min_greedy = min(min_greedy, float(top[0] - top[1]))
        if margins:
            min_route = min(min_route, min(float(x[-1:].min()) for x in margins))
    if min_greedy <= MIN_MARGIN or min_route <= MIN_MARGIN:
        raise SystemExit(f"{name}: greedy continuation meets a near-tie ({min_greedy}, {min_route})")
    tensors["greedy.0"] = torch.tensor(gen, dtype=torch.int32)
    if "ppl" in fx["goldens"]:
        pids = g.integers(0, 257, size=40).tolist()
        tensors["ppl_ids"] = torch.tensor(pids, dtype=torch.int32)
        for ml, st in PPL:
            nll, ppl = perplexity(ref, pids, ml, st)
            tensors[f"ppl.{ml}.{st}"] = torch.tensor([nll, ppl], dtype=torch.float64)
    meta = {
        "transformers_version": transformers.__version__,
        "torch_version": torch.__version__,
        "seed": str(seed),
        "compute_dtype": "float32",
        "checkpoint_dtype": fx["dtypes"][0],
        "layout": fx["layout"],
        "moe_layers": ",".join(str(i) for i, _ in sparse_gates(ref)),
        "min_route_margin": repr(min_route),
        "min_greedy_margin": repr(min_greedy),
        "greedy_prompt": f"ids.{GREEDY_SEQ}",
    }
    save_file(tensors, os.path.join(d, "golden.safetensors"), metadata=meta)
    print(f"{name}: {fx['layout']} {fx['dtypes'][0]}, moe layers {meta['moe_layers']}, "
          f"min route margin {min_route:.4g}, min greedy margin {min_greedy:.4g}")


def main():
    if len(sys.argv) < 3:
        raise SystemExit("usage: tf_fixtures_moe.py OUT_DIR GPT2_TOKENIZER_JSON [NAME...]")
    out, tok = sys.argv[1], sys.argv[2]
    want = set(sys.argv[3:])
    os.makedirs(out, exist_ok=True)
    for fx in FIXTURES:
        if not want or fx["name"] in want:
            make(fx, out, tok)


if __name__ == "__main__":
    main()
