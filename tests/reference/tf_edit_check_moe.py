#!/usr/bin/python3
"""tf_edit_check.py for mixture-of-experts models (mixtral, qwen2_moe, qwen3_moe); tf_edit_check.py
hands these model types to main() here. Same arguments and the same four checks, with the edited
set of issue 17: in every edited layer that is sparse, EVERY expert's output matrix (per-expert
tensors, or each slice e of the fused mlp.experts.down_proj [E, D, I]) and the shared expert's
down_proj (qwen2_moe); in a dense layer (Qwen's decoder_sparse_step / mlp_only_layers) mlp.down_proj.
The routers, the experts' input matrices and everything else must be bit-identical. The number of
expert matrices found must equal the expert count transformers read from config.json.

    tf_edit_check_moe.py PROMPT MAX_NEW SRC_DIR OUT_DIR PROFS_TEXT_FILE [SRC_DIR OUT_DIR PROFS_TEXT_FILE ...]
"""
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tf_edit_check as base  # noqa: E402

MOE_TYPES = ("mixtral", "qwen2_moe", "qwen3_moe")


def edited_matrices(cfg, model, tensors, layers):
    """name -> (layer, fused): the matrices the edit of `layers` must have projected (D axis first)."""
    mt = cfg["model_type"]
    E = model.config.num_local_experts if mt == "mixtral" else model.config.num_experts
    out, bad = {}, []
    for l in layers:
        blk = model.model.layers[l].mlp
        if not hasattr(blk, "experts"):
            want = [f"layers.{l}.mlp.down_proj.weight"]
        else:
            fused = f"layers.{l}.mlp.experts.down_proj"
            if any(k.endswith("." + fused) for k in tensors):
                want = [fused]
            elif mt == "mixtral":
                want = [f"layers.{l}.block_sparse_moe.experts.{e}.w2.weight" for e in range(E)]
            else:
                want = [f"layers.{l}.mlp.experts.{e}.down_proj.weight" for e in range(E)]
            if mt == "qwen2_moe":
                want.append(f"layers.{l}.mlp.shared_expert.down_proj.weight")
        for w in want:
            names = [k for k in tensors if k == w or k.endswith("." + w)]
            if len(names) != 1:
                bad.append(f"layer {l}: {len(names)} tensors named like '{w}'")
                continue
            t = tensors[names[0]]
            if w.endswith("experts.down_proj") and t.shape[0] != E:
                bad.append(f"{names[0]}: {t.shape[0]} expert slices, config.json declares {E}")
            out[names[0]] = (l, w.endswith("experts.down_proj"))
    return out, bad


def project(W, V):
    """(I - V^T V) W on the first axis of each matrix (W [..., D, X])."""
    if V.shape[0] == 0:
        return W
    return W - V.T @ (V @ W) if W.ndim == 2 else W - np.einsum("rd,erx->edx", V, np.einsum("rd,edx->erx", V, W))


def main():
    """Same arguments as tf_edit_check.py: PROMPT MAX_NEW then (SRC_DIR OUT_DIR PROFS_TEXT_FILE) triples."""
    a = sys.argv[1:]
    if len(a) < 5 or (len(a) - 2) % 3:
        raise SystemExit(__doc__)
    failed = sum(check(a[i], a[i + 1], a[0], int(a[1]), a[i + 2]) for i in range(2, len(a), 3))
    return 1 if failed else 0


def check(src, out, prompt, max_new, text_file):
    """1 when the MoE edit output OUT of SRC fails a check (printed), else 0."""
    name = os.path.basename(os.path.normpath(src))
    bad = []
    model, info = base.AutoModelForCausalLM.from_pretrained(out, output_loading_info=True, dtype=torch.float32,
                                                            attn_implementation="eager")
    model.eval()
    for k in ("missing_keys", "unexpected_keys", "mismatched_keys", "error_msgs"):
        if info.get(k):
            bad.append(f"from_pretrained reports {k}: {sorted(map(str, info[k]))}")
    cfg = json.load(open(os.path.join(src, "config.json")))
    a, b = base.raw_tensors(src), base.raw_tensors(out)
    if set(a) != set(b):
        bad.append(f"tensor names differ: {sorted(set(a) ^ set(b))}")
    with base.safe_open(os.path.join(out, "profs", "edit.safetensors"), framework="pt") as f:
        meta = f.metadata()
        layers = [int(x) for x in meta["layers"].split(",") if x != ""]
        basis = {l: f.get_tensor(f"layers.{l}.basis").to(torch.float64).numpy() for l in layers}
    edited, why = edited_matrices(cfg, model, a, layers)
    bad += why
    worst_f32, n_amb, n_low, n_mat = 0.0, 0, 0, 0
    for k in sorted(set(a) & set(b)):
        x, y = a[k], b[k]
        if x.dtype != y.dtype or x.shape != y.shape:
            bad.append(f"{k}: {x.dtype} {list(x.shape)} became {y.dtype} {list(y.shape)}")
            continue
        if k not in edited:
            if not torch.equal(base.raw_bytes(x), base.raw_bytes(y)):
                bad.append(f"{k}: not bit-identical to the source (and not an edited matrix)")
            continue
        l, fused = edited[k]
        V = basis[l]
        n_mat += x.shape[0] if fused else 1
        W = base.to_f64(x)
        P = project(W, V)
        if x.dtype == torch.float32:
            scale = np.max(np.abs(P), axis=(-2, -1), keepdims=True) if fused else max(np.max(np.abs(P)), 1e-30)
            e = float(np.max(np.abs(base.to_f64(y) - P) / np.maximum(scale, 1e-30)))
            worst_f32 = max(worst_f32, e)
            off = ~base.faithful_f32(y, P)
            if np.any(off):
                i = tuple(np.argwhere(off)[0])
                bad.append(f"{k}: element {i} is {float(y[i])!r}, not a float32 neighbour of the float64 projection "
                           f"{float(P[i])!r} ({int(np.sum(off))} such elements)")
        else:
            want = base.nearest(P, x.dtype)
            diff = (want.view(torch.int16) != y.contiguous().view(torch.int16)).numpy()
            n_low += int(diff.size)
            if np.any(diff):
                i = tuple(np.argwhere(diff)[0])
                n_amb += int(np.sum(diff))
                bad.append(f"{k}: element {i} is {float(y[i])!r}, the nearest {x.dtype} of the float64 projection "
                           f"{float(P[i])!r} is {float(want[i])!r} ({int(np.sum(diff))} such elements)")
        slices = [base.to_f64(y)[e] for e in range(x.shape[0])] if fused else [base.to_f64(y)]
        origs = [W[e] for e in range(x.shape[0])] if fused else [W]
        for e, (ys, ws) in enumerate(zip(slices, origs)):
            if np.array_equal(ys, ws) and V.shape[0] > 0:
                bad.append(f"{k}{f'[{e}]' if fused else ''}: unchanged although layer {l} has rank {V.shape[0]}")

    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(os.path.join(out, "tokenizer.json"))
    ids = tok.encode(prompt).ids
    eos = model.generation_config.eos_token_id
    gen = model.generate(torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                         max_new_tokens=max_new, do_sample=False, eos_token_id=eos, pad_token_id=eos)
    text = tok.decode(gen[0].tolist(), skip_special_tokens=True)
    profs_text = open(text_file, encoding="utf-8").read()
    if profs_text.endswith("\n"):
        profs_text = profs_text[:-1]
    if text != profs_text:
        bad.append(f"greedy text differs:\n  transformers: {text!r}\n  profs:        {profs_text!r}")
    ranks = ",".join(f"{l}:{basis[l].shape[0]}" for l in layers)
    for m in bad:
        print(f"{name}: {m}")
    print(f"{name}: {'ok' if not bad else 'FAILED'}: loads with no missing/unexpected/mismatched keys, "
          f"{n_mat} edited expert/value matrices in {len(edited)} tensors (ranks {ranks}; F32 worst {worst_f32:.2g}, "
          f"{n_amb} of {n_low} BF16 elements not the nearest), "
          f"{len(a) - len(edited)} tensors bit-identical, greedy text {text!r}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
