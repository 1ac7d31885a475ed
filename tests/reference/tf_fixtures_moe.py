#!/usr/bin/python3
"""Mixture-of-experts fixtures for tests/reference/tf_goldens.py (issue 17): tiny random Mixtral,
Qwen2-MoE and Qwen3-MoE checkpoints made and saved by transformers itself, 4-8 experts, top-2,
F32 and BF16, in both on-disk layouts:
  - per-expert tensors, as save_pretrained writes them by default
    (block_sparse_moe.experts.{e}.w1/w2/w3 for Mixtral, mlp.experts.{e}.{gate,up,down}_proj for Qwen);
  - the fused 3-D tensors transformers 5 holds in memory (save_original_format=False:
    mlp.experts.gate_up_proj [E, 2I, D], mlp.experts.down_proj [E, D, I], Mixtral's router as mlp.gate.weight).

FIXTURES follows tf_goldens.py's fixture record; tf_goldens.py discovers this module and makes the
checkpoints and golden.safetensors (hidden states, logits, greedy, perplexity) like every other fixture.
From the repository root, as root: `tests/reference/tf-regenerate mixtral_f32 ...` (or with no names, every
fixture); by hand, with the repository visible inside the environment at /REPO:

    chroot "${PROFS_TRANSFORMERS_ENV:-/var/tmp/profs-transformers}" \\
        python3 /REPO/tests/reference/tf_goldens.py /REPO/tests/data/tf mixtral_f32 mixtral_bf16_fused \\
        qwen2_moe_f32 qwen2_moe_bf16_fused qwen3_moe_f32 qwen3_moe_bf16_fused qwen3_moe_bf16

What this module adds, through the record's hooks:
  sequences  the default lengths (1, texts, 12, texts) drawn again until no routing decision of any
             sparse block, and no greedy step, is within MIN_MARGIN of a tie (transformers itself, on the
             weights as saved, upcast to float32): near-ties are avoided, not hidden.
  layout     re-saves the fused fixtures with save_original_format=False, then writes route.safetensors
             next to the golden: per test sequence i
               route.i         I32 [M, T, k]  the experts each of the M sparse blocks chose (topk order)
               route_w.i       F32 [M, T, k]  their routing weights (after norm_topk_prob where it applies)
               route_margin.i  F32 [M, T]     router-logit gap between the k-th and (k+1)-th expert
             __metadata__: transformers_version, torch_version, moe_layers, min_route_margin,
             min_greedy_margin, layout.
"""
import json
import math
import os
import sys

import numpy as np
import torch

MIN_MARGIN = 1e-3   # router-logit and greedy-logit gap below which an input counts as a near-tie
GREEDY_NEW = 12     # tf_goldens' default greedy_new
EOS = 259           # the derived GPT-2 tokenizer's <|endoftext|> at vocab_size 260

COMMON = dict(vocab_size=260, hidden_size=32, num_attention_heads=4, num_key_value_heads=2,
              max_position_embeddings=128, rms_norm_eps=1e-6, tie_word_embeddings=False,
              bos_token_id=None, eos_token_id=EOS, pad_token_id=None,
              rope_parameters={"rope_type": "default", "rope_theta": 10000.0})
MIXTRAL = dict(COMMON, model_type="mixtral", num_hidden_layers=3, intermediate_size=24, num_local_experts=8,
               num_experts_per_tok=2)
QWEN2_MOE = dict(COMMON, model_type="qwen2_moe", num_hidden_layers=4, intermediate_size=40, moe_intermediate_size=16,
                 shared_expert_intermediate_size=28, num_experts=6, num_experts_per_tok=2)
QWEN3_MOE = dict(COMMON, model_type="qwen3_moe", num_hidden_layers=3, intermediate_size=40, moe_intermediate_size=16,
                 num_experts=4, num_experts_per_tok=2, head_dim=12)


def _tg():
    """tf_goldens (the driver that imports this module), for its helpers."""
    main = sys.modules.get("__main__")
    if main is not None and hasattr(main, "make_config") and hasattr(main, "build_default"):
        return main
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import tf_goldens
    return tf_goldens


def _zero(pred):
    def f(sd):
        return {k: (torch.zeros_like(v) if pred(k) else v) for k, v in sd.items()}
    return f


def sparse_gates(model):
    return [(i, layer.mlp.gate) for i, layer in enumerate(model.model.layers) if hasattr(layer.mlp, "experts")]


def routing(model, ids):
    """Per sparse block: (indices [T, k], weights [T, k], margins [T]) and the last-token logits."""
    got = []
    hooks = [g.register_forward_hook(lambda m, a, o: got.append(o)) for _, g in sparse_gates(model)]
    try:
        out = model(input_ids=torch.tensor([ids]), use_cache=False)
    finally:
        for h in hooks:
            h.remove()
    k = model.config.num_experts_per_tok
    res = []
    for logits_r, scores, indices in got:
        srt = torch.sort(logits_r.float(), dim=-1, descending=True).values
        res.append((indices.int(), scores.float(), (srt[:, k - 1] - srt[:, k]).float()))
    return res, out.logits[0, -1].float()


def margins(model, ids, eos):
    """Smallest routing margin over ids and its greedy continuation, and smallest greedy margin."""
    mr, mg = float("inf"), float("inf")
    seq = list(ids)
    for step in range(GREEDY_NEW + 1):
        res, last = routing(model, seq)
        if step == 0:
            mr = min([mr] + [float(r[2].min()) for r in res])
        else:
            mr = min([mr] + [float(r[2][-1]) for r in res])
        if step == GREEDY_NEW:
            break
        top = torch.sort(last, descending=True).values
        mg = min(mg, float(top[0] - top[1]))
        nxt = int(last.argmax())
        seq.append(nxt)
        if nxt == eos:
            break
    return mr, mg


def saved_model(fx):
    """The fixture's model with its weights as saved (rounded to the checkpoint dtype), in float32."""
    tg = _tg()
    model = (fx.get("build") or tg.build_default)(tg.make_config(fx), fx["seed"])
    return model.to(tg.DTYPES[fx.get("dtype", "float32")]).to(torch.float32).eval()


_SEQ_CACHE = {}


def sequences(fx, tok):
    """tf_goldens' default sequences, each redrawn (random ids of the same length) until it has no near-tie."""
    if fx["name"] in _SEQ_CACHE:
        return _SEQ_CACHE[fx["name"]]
    tg = _tg()
    model = saved_model(fx)
    base = tg.default_sequences(fx, tok)
    g = np.random.default_rng(1000 + fx["seed"])
    out = []
    for ids in base:
        for attempt in range(500):
            mr, mg = margins(model, ids, EOS)
            if mr > MIN_MARGIN and mg > MIN_MARGIN:
                break
            ids = g.integers(0, fx["config"]["vocab_size"], size=len(ids)).tolist()
        else:
            raise SystemExit(f"tf_fixtures_moe: {fx['name']}: no input of length {len(ids)} without a near-tie")
        out.append(list(ids))
    _SEQ_CACHE[fx["name"]] = out
    return out


def write_routes(fx, out_dir):
    import transformers
    from safetensors.torch import save_file
    from tokenizers import Tokenizer
    from transformers import AutoModelForCausalLM
    ref = AutoModelForCausalLM.from_pretrained(out_dir, dtype=torch.float32, attn_implementation="eager").eval()
    tok = Tokenizer.from_file(os.path.join(out_dir, "tokenizer.json")) if fx.get("tokenizer") else None
    t, min_r, min_g = {}, float("inf"), float("inf")
    for i, ids in enumerate(sequences(fx, tok)):
        res, _ = routing(ref, ids)
        t[f"route.{i}"] = torch.stack([r[0] for r in res]).contiguous()
        t[f"route_w.{i}"] = torch.stack([r[1] for r in res]).contiguous()
        t[f"route_margin.{i}"] = torch.stack([r[2] for r in res]).contiguous()
        mr, mg = margins(ref, ids, EOS)
        min_r, min_g = min(min_r, mr), min(min_g, mg)
    if not (min_r > MIN_MARGIN and min_g > MIN_MARGIN):
        raise SystemExit(f"tf_fixtures_moe: {fx['name']}: near-tie in the saved checkpoint ({min_r}, {min_g})")
    meta = {"transformers_version": transformers.__version__, "torch_version": torch.__version__,
            "fixture": fx["name"], "moe_layers": ",".join(str(i) for i, _ in sparse_gates(ref)),
            "min_route_margin": repr(min_r), "min_greedy_margin": repr(min_g),
            "layout": "fused" if fx.get("fused") else "per-expert"}
    save_file(t, os.path.join(out_dir, "route.safetensors"), metadata=meta)
    print(f"  {fx['name']}: routing goldens, moe layers {meta['moe_layers']}, min route margin {min_r:.3g}, "
          f"min greedy margin {min_g:.3g}")


def layout_hook(fx):
    def hook(out_dir):
        if fx.get("fused"):
            from transformers import AutoModelForCausalLM
            m = AutoModelForCausalLM.from_pretrained(out_dir, dtype="auto")
            for f in os.listdir(out_dir):
                if f.startswith("model") and (f.endswith(".safetensors") or f.endswith(".json")):
                    os.remove(os.path.join(out_dir, f))
            m.save_pretrained(out_dir, save_original_format=False)
        write_routes(fx, out_dir)
    return hook


def _fx(**kw):
    fx = dict(tokenizer="gpt2", sequences=sequences, **kw)
    fx["layout"] = layout_hook(fx)
    return fx


_is_shared_down = lambda k: k.endswith("shared_expert.down_proj.weight")  # noqa: E731

FIXTURES = [
    _fx(name="mixtral_f32", seed=1701, config=dict(MIXTRAL, sliding_window=8),
        note="Mixtral, 8 experts top-2, per-expert tensors, sliding window 8",
        features={"sliding_window": {"config": {"sliding_window": None}}}),
    _fx(name="mixtral_bf16_fused", seed=1702, dtype="bfloat16", fused=True, config=dict(MIXTRAL),
        note="Mixtral BF16, fused 3-D expert tensors (save_original_format=False)"),
    _fx(name="qwen2_moe_f32", seed=1703,
        config=dict(QWEN2_MOE, decoder_sparse_step=2, use_sliding_window=True, sliding_window=8, max_window_layers=3),
        note="Qwen2-MoE, 6 experts top-2, shared expert, dense layers 0 and 2, layers 0 and 2 slide",
        features={"sliding_window": {"config": {"use_sliding_window": False}},
                  "shared_expert": {"weights": _zero(_is_shared_down)}}),
    _fx(name="qwen2_moe_bf16_fused", seed=1704, dtype="bfloat16", fused=True,
        config=dict(QWEN2_MOE, num_hidden_layers=3, num_experts=8, mlp_only_layers=[1], norm_topk_prob=True),
        note="Qwen2-MoE BF16, fused, 8 experts, mlp_only_layers [1], norm_topk_prob",
        features={"norm_topk_prob": {"config": {"norm_topk_prob": False}}}),
    _fx(name="qwen3_moe_f32", seed=1705, config=dict(QWEN3_MOE, norm_topk_prob=True, mlp_only_layers=[1]),
        note="Qwen3-MoE, 4 experts top-2, q/k norm, mlp_only_layers [1], norm_topk_prob",
        features={"norm_topk_prob": {"config": {"norm_topk_prob": False}}}),
    _fx(name="qwen3_moe_bf16_fused", seed=1706, dtype="bfloat16", fused=True, config=dict(QWEN3_MOE, num_experts=6),
        note="Qwen3-MoE BF16, fused, 6 experts"),
    _fx(name="qwen3_moe_bf16", seed=1707, dtype="bfloat16", config=dict(QWEN3_MOE, num_experts=6, norm_topk_prob=True),
        note="Qwen3-MoE BF16, per-expert tensors, norm_topk_prob"),
]
