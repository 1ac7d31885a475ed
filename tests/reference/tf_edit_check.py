#!/usr/bin/python3
"""Checks, with transformers itself, a model directory that `profs edit` wrote.
Runs inside the transformers environment (tests/reference/transformers-env);
tests/reference/tf_live.sh calls it for every fixture of tests/data/tf:

    tf_edit_check.py PROMPT MAX_NEW SRC_DIR OUT_DIR PROFS_TEXT_FILE [SRC_DIR OUT_DIR PROFS_TEXT_FILE...]

(one process for all the models: importing torch is the slow part). It exits 1 unless, for each
  1. AutoModelForCausalLM.from_pretrained(OUT_DIR, output_loading_info=True)
     reports no missing, unexpected or mismatched keys (and no error messages);
  2. every edited matrix (the MLP value matrix of each layer in OUT_DIR's
     profs/edit.safetensors) is the float64 projection of the source matrix,
     W - V (V^T W) or W - (W V) V^T on the D axis, with V the edit's basis
     (its F32 values, as the projector uses them): BF16/F16 exactly its nearest
     value (round to nearest even, every element); F32 one of the two float32
     neighbours of it (profs rounds the float64 result to odd in float32, so
     that the same path is exact for BF16/F16: docs/core.md);
  3. every other tensor is bit-identical to the source (same names, dtypes,
     shapes and bytes);
  4. transformers' greedy text (tokenizers' ids of PROMPT, generate with
     do_sample=False and MAX_NEW new tokens, decoded skipping special tokens)
     equals `profs generate`'s output in PROFS_TEXT_FILE (phi3: generate without
     a cache, see docs/runtime.md);
  5. for Gemma-2/3 (the MLP output normalised by post_feedforward_layernorm) the
     edited matrices are the post-norm aware projection (the basis of
     span(diag(1 + w) V)) and the MLP's contribution to the residual stream, captured
     by a hook on post_feedforward_layernorm, has at most 1e-5 of its norm in span(V)
     (BF16 / F16 checkpoints: the unit roundoff of the dtype, 2^-8 / 2^-11, as the
     projected matrix is rounded to it).
"""
import glob
import json
import os
import sys

import numpy as np
import torch

torch.set_num_threads(1)
torch.set_grad_enabled(False)
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import transformers  # noqa: E402
from safetensors import safe_open  # noqa: E402
from transformers import AutoModelForCausalLM  # noqa: E402

transformers.logging.set_verbosity_error()
transformers.logging.disable_progress_bar()

# model_type -> (value matrix name suffix, which axis is D): as lib/edit/arch.c (docs/core.md section 5)

VALUE = {
    "gpt2": ("h.{l}.mlp.c_proj.weight", "last"),
    "llama": ("layers.{l}.mlp.down_proj.weight", "first"),
    "mistral": ("layers.{l}.mlp.down_proj.weight", "first"),
    "qwen2": ("layers.{l}.mlp.down_proj.weight", "first"),
    "opt": ("layers.{l}.fc2.weight", "first"),
    "gptj": ("h.{l}.mlp.fc_out.weight", "first"),
    "qwen3": ("layers.{l}.mlp.down_proj.weight", "first"),
    "phi3": ("layers.{l}.mlp.down_proj.weight", "first"),
    "gemma2": ("layers.{l}.mlp.down_proj.weight", "first"),
    "gemma3_text": ("layers.{l}.mlp.down_proj.weight", "first"),
    "gemma3": ("layers.{l}.mlp.down_proj.weight", "first"),
}
# Families whose MLP output passes through a norm g * y / rms(y) (g = 1 + w of
# post_feedforward_layernorm): profs projects post-norm aware, W <- (I - Q Q^T) W with
# Q an orthonormal basis of span(diag(g) V) (docs/core.md), and what the MLP writes into the
# residual stream then has no component in span(V).
POST_NORM = {"gemma2", "gemma3_text", "gemma3"}
POST_NORM_TOL = 1e-5


def post_norm_basis(V, g):
    """Orthonormal rows spanning diag(g) V (float64 QR), rounded to float32 as profs hands its
    basis to the projector (lib/edit/apply.c: Gram-Schmidt in double, then float): the rows agree
    with profs' up to sign, which Q^T Q does not see, and the float32 values are then the same."""
    q, _ = np.linalg.qr((V * g[None, :]).T)
    return q.T.astype(np.float32).astype(np.float64)


def raw_tensors(d):
    """name -> (dtype string, shape, numpy array of the raw values in their own dtype)."""
    out = {}
    for p in sorted(glob.glob(os.path.join(d, "model*.safetensors"))):
        with safe_open(p, framework="pt") as f:
            for k in f.keys():
                out[k] = f.get_tensor(k)
    return out


def to_f64(t):
    return t.to(torch.float64).numpy()


def nearest(x64, dtype):
    """Round float64 to dtype (BF16/F16) once, to nearest, ties to even. torch's float64 -> bfloat16 /
    float16 conversion rounds through float32 on the CPU (1 + 2^-8 + 2^-40 becomes bfloat16 1.0,
    not 1.0078125), so it only gives a first guess within one step; the nearest of the guess and its
    two neighbours is chosen by distance in float64 (exact: the differences are of nearby values)."""
    a = np.abs(x64)
    g = torch.from_numpy(a).to(dtype).view(torch.int16).numpy().astype(np.int32) & 0x7FFF

    def value(bits):
        return torch.from_numpy(bits.astype(np.uint16).view(np.int16)).view(dtype).to(torch.float64).numpy()

    def dist(bits):
        with np.errstate(invalid="ignore"):
            d = np.abs(value(bits) - a)
        return np.where(np.isnan(d), np.inf, d)

    best, bd = g, dist(g)
    for c in (np.maximum(g - 1, 0), g + 1):
        d = dist(c)
        better = (d < bd) | ((d == bd) & (c % 2 == 0))
        best, bd = np.where(better, c, best), np.where(better, d, bd)
    bits = best | np.where(np.signbit(x64), 0x8000, 0)
    return torch.from_numpy(bits.astype(np.uint16).view(np.int16)).view(dtype)


def faithful_f32(y32, x64):
    """True where the float32 y is one of the two float32 neighbours of the float64 x (|y - x| < ulp)."""
    y = y32.numpy()
    lo = np.nextafter(y, np.float32(-np.inf)).astype(np.float64)
    hi = np.nextafter(y, np.float32(np.inf)).astype(np.float64)
    return (x64 > lo) & (x64 < hi)


def raw_bytes(t):
    return t.contiguous().reshape(-1).view(torch.uint8)


def main():
    a = sys.argv[1:]
    if len(a) < 5 or (len(a) - 2) % 3:
        raise SystemExit(__doc__)
    prompt, max_new = a[0], int(a[1])
    failed = 0
    for i in range(2, len(a), 3):
        failed += check(a[i], a[i + 1], prompt, max_new, a[i + 2])
    return 1 if failed else 0


def check(src, out, prompt, max_new, text_file):
    name = os.path.basename(os.path.normpath(src))
    bad = []
    if json.load(open(os.path.join(src, "config.json")))["model_type"] in ("mixtral", "qwen2_moe", "qwen3_moe"):
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        import tf_edit_check_moe  # every expert's output matrix is edited (issue 17)
        return tf_edit_check_moe.check(src, out, prompt, max_new, text_file)

    # 1. loads in transformers with nothing missing, unexpected or mismatched
    model, info = AutoModelForCausalLM.from_pretrained(out, output_loading_info=True, dtype=torch.float32,
                                                       attn_implementation="eager")
    model.eval()
    for k in ("missing_keys", "unexpected_keys", "mismatched_keys", "error_msgs"):
        if info.get(k):
            bad.append(f"from_pretrained reports {k}: {sorted(map(str, info[k]))}")

    # 2./3. edited matrices are the float64 projection, everything else bit-identical
    cfg = json.load(open(os.path.join(src, "config.json")))
    suffix, axis = VALUE[cfg["model_type"]]
    a, b = raw_tensors(src), raw_tensors(out)
    if set(a) != set(b):
        bad.append(f"tensor names differ: {sorted(set(a) ^ set(b))}")
    with safe_open(os.path.join(out, "profs", "edit.safetensors"), framework="pt") as f:
        meta = f.metadata()
        layers = [int(x) for x in meta["layers"].split(",") if x != ""]
        basis = {l: f.get_tensor(f"layers.{l}.basis").to(torch.float64).numpy() for l in layers}
    edited = {}
    for l in layers:
        want = suffix.format(l=l)
        names = [k for k in a if k == want or k.endswith("." + want)]
        if len(names) != 1:
            bad.append(f"layer {l}: {len(names)} tensors named like '{want}'")
            continue
        edited[names[0]] = l
    worst_f32, n_low = 0.0, 0
    for k in sorted(set(a) & set(b)):
        x, y = a[k], b[k]
        if x.dtype != y.dtype or x.shape != y.shape:
            bad.append(f"{k}: {x.dtype} {list(x.shape)} became {y.dtype} {list(y.shape)}")
            continue
        if k not in edited:
            if not torch.equal(raw_bytes(x), raw_bytes(y)):
                bad.append(f"{k}: not bit-identical to the source (and not an edited matrix)")
            continue
        V = basis[edited[k]]  # (rank, D)
        W = to_f64(x)
        if cfg["model_type"] in POST_NORM and V.shape[0] > 0:
            gname = k.replace("mlp.down_proj.weight", "post_feedforward_layernorm.weight")
            V = post_norm_basis(V, 1.0 + to_f64(a[gname]))
        if V.shape[0] == 0:
            P = W
        elif axis == "first":  # W [D, X]: (I - V^T V) W with V rows the directions
            P = W - V.T @ (V @ W)
        else:  # W [X, D]
            P = W - (W @ V.T) @ V
        if x.dtype == torch.float32:
            e = float(np.max(np.abs(to_f64(y) - P)) / max(np.max(np.abs(P)), 1e-30))
            worst_f32 = max(worst_f32, e)
            off = ~faithful_f32(y, P)
            if np.any(off):
                i = tuple(np.argwhere(off)[0])
                bad.append(f"{k}: element {i} is {float(y[i])!r}, not a float32 neighbour of the float64 projection "
                           f"{float(P[i])!r} ({int(np.sum(off))} such elements)")
        else:
            want = nearest(P, x.dtype)
            diff = (want.view(torch.int16) != y.contiguous().view(torch.int16)).numpy()
            n_low += int(diff.size)
            if np.any(diff):
                i = tuple(np.argwhere(diff)[0])
                bad.append(f"{k}: element {i} is {float(y[i])!r}, the nearest {x.dtype} of the float64 projection "
                           f"{float(P[i])!r} is {float(want[i])!r} ({int(np.sum(diff))} such elements)")
        if np.array_equal(to_f64(y), W) and V.shape[0] > 0:
            bad.append(f"{k}: unchanged although layer {edited[k]} has rank {V.shape[0]}")

    # 5. (post-norm families) the MLP's contribution to the residual stream has no component in span(V)
    if cfg["model_type"] in POST_NORM:
        from tokenizers import Tokenizer as _T
        ids5 = _T.from_file(os.path.join(out, "tokenizer.json")).encode(prompt).ids
        outs = {}
        mods = {n: mod for n, mod in model.named_modules() if n.endswith("post_feedforward_layernorm")}
        hooks = []
        for n, mod in mods.items():
            l = int(n.split(".layers.")[1].split(".")[0])
            hooks.append(mod.register_forward_hook(lambda m_, i_, o_, l=l: outs.__setitem__(l, o_[0].double().numpy())))
        model(torch.tensor([ids5]), use_cache=False)
        for h in hooks:
            h.remove()
        for l in layers:
            if basis[l].shape[0] == 0:
                continue
            M = outs[l]
            share = float(np.linalg.norm(M @ basis[l].T) / max(np.linalg.norm(M), 1e-30))
            # BF16 / F16 checkpoints: the projected matrix is rounded to its dtype (unit roundoff 2^-8 / 2^-11)
            wdt = a[[k for k in edited if edited[k] == l][0]].dtype
            tol = {torch.bfloat16: 2.0 ** -8, torch.float16: 2.0 ** -11}.get(wdt, POST_NORM_TOL)
            print(f"{name}: layer {l}: span(V) share of the MLP output in transformers {share:.3g} (at most {tol:.3g})")
            if share > tol:
                bad.append(f"layer {l}: the MLP still writes {share:.3g} of its output into span(V)")

    # 4. transformers' greedy text equals profs generate
    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(os.path.join(out, "tokenizer.json"))
    ids = tok.encode(prompt).ids
    eos = model.generation_config.eos_token_id
    # Phi-3 crossing its longrope switch: transformers 5.12's cached generation drops the prompt there
    # (docs/runtime.md); profs recomputes the cache, which is generation without a cache
    nocache = cfg["model_type"] == "phi3"
    gen = model.generate(torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                         max_new_tokens=max_new, do_sample=False, eos_token_id=eos, pad_token_id=eos,
                         use_cache=not nocache)
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
          f"{len(edited)} edited matrices (ranks {ranks}; F32 within one ulp, worst {worst_f32:.2g} of the "
          f"largest entry; all {n_low} BF16/F16 elements the nearest of the float64 projection), "
          f"{len(a) - len(edited)} tensors bit-identical, greedy text {text!r}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
