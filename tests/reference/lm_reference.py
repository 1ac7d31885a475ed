#!/usr/bin/python3
"""Independent PyTorch re-implementation of the runtime's architectures, used to
make the golden files of tests/test_lm.c.

It follows the transformers modelling code (GPT2Model, MistralModel /
LlamaModel, OPTDecoder, GPTJModel: eager attention, float32), reading the
fixture checkpoints that tests/gen/gen_lm_fixtures writes (config.json +
safetensors, parsed here with numpy: no transformers, no safetensors package).

Regenerate (from the repository root, after building):
    build/tests/gen_lm_fixtures /tmp/lmfx
    /usr/bin/python3 tests/reference/lm_reference.py /tmp/lmfx tests/data/lm

Per fixture it writes tests/data/lm/<name>.safetensors with, for each test
sequence i: ids.i (I32 [T]), hidden.i (F32 [L+1, T, D]: embedding output and
raw block outputs, NO final norm on the last entry), logits.i (F32 [T, V]);
and perplexity results ppl.{max_length}.{stride} (F64 [2]: mean NLL, ppl)
over the sequence ppl_ids (I32) computed as the transformers perplexity guide.
"""
import json
import math
import os
import struct
import sys

import numpy as np
import torch

torch.set_grad_enabled(False)
torch.manual_seed(0)

DT = {"F32": np.float32, "F16": np.float16, "BF16": np.uint16, "F64": np.float64, "I32": np.int32}


def read_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    n = struct.unpack("<Q", raw[:8])[0]
    hdr = json.loads(raw[8:8 + n])
    base = 8 + n
    out = {}
    for name, info in hdr.items():
        if name == "__metadata__":
            continue
        a, b = info["data_offsets"]
        arr = np.frombuffer(raw[base + a:base + b], dtype=DT[info["dtype"]])
        if info["dtype"] == "BF16":
            arr = (arr.astype(np.uint32) << 16).view(np.float32)
        out[name] = torch.from_numpy(arr.astype(np.float32).reshape(info["shape"]))
    return out


def load_dir(d):
    cfg = json.load(open(os.path.join(d, "config.json")))
    idx = os.path.join(d, "model.safetensors.index.json")
    w = {}
    if os.path.exists(idx):
        for f in sorted(set(json.load(open(idx))["weight_map"].values())):
            w.update(read_safetensors(os.path.join(d, f)))
    else:
        w = read_safetensors(os.path.join(d, "model.safetensors"))
    return cfg, w


def write_safetensors(path, tensors):
    hdr, blobs, off = {}, [], 0
    for name, (dtype, arr) in tensors.items():
        b = np.ascontiguousarray(arr).tobytes()
        hdr[name] = {"dtype": dtype, "shape": list(arr.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(hdr, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


# ---- shared pieces, as in transformers ----

def gelu_new(x):  # transformers.activations.NewGELUActivation
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


def act_fn(name):
    return {"gelu_new": gelu_new, "relu": torch.relu, "silu": torch.nn.functional.silu,
            "gelu": torch.nn.functional.gelu}[name]


def layer_norm(x, w, b, eps):
    return torch.nn.functional.layer_norm(x, (x.shape[-1],), w, b, eps)


def causal_mask(T, window=None):
    q = torch.arange(T)[:, None]
    k = torch.arange(T)[None, :]
    ok = k <= q
    if window:
        ok = ok & (k > q - window)
    m = torch.zeros(T, T)
    m[~ok] = torch.finfo(torch.float32).min
    return m


def eager_attention(q, k, v, mask, scaling):
    # q (H, T, hd), k/v (H, T, hd) already repeated for GQA
    s = torch.matmul(q, k.transpose(1, 2)) * scaling + mask
    p = torch.softmax(s, dim=-1, dtype=torch.float32)
    return torch.matmul(p, v)


# ---- GPT-2 (GPT2Model, Conv1D weights [in, out]) ----

def gpt2(cfg, w, ids):
    p = "transformer." if "transformer.wte.weight" in w else ""
    D, H = cfg["n_embd"], cfg["n_head"]
    hd = D // H
    eps = cfg.get("layer_norm_epsilon", 1e-5)
    act = act_fn(cfg.get("activation_function", "gelu_new"))
    T = len(ids)
    x = w[p + "wte.weight"][ids] + w[p + "wpe.weight"][torch.arange(T)]
    hs = [x]
    mask = causal_mask(T)
    # GPT2Attention: divide by sqrt(head_dim) when scale_attn_weights (default true),
    # and by layer_idx + 1 when scale_attn_by_inverse_layer_idx
    base = 1.0 / math.sqrt(hd) if cfg.get("scale_attn_weights", True) else 1.0
    for i in range(cfg["n_layer"]):
        scale = base / (i + 1) if cfg.get("scale_attn_by_inverse_layer_idx", False) else base
        g = lambda n: w[f"{p}h.{i}.{n}"]
        h = layer_norm(x, g("ln_1.weight"), g("ln_1.bias"), eps)
        qkv = torch.addmm(g("attn.c_attn.bias"), h, g("attn.c_attn.weight"))
        q, k, v = qkv.split(D, dim=1)
        q, k, v = (t.view(T, H, hd).transpose(0, 1) for t in (q, k, v))
        a = eager_attention(q, k, v, mask, scale).transpose(0, 1).reshape(T, D)
        a = torch.addmm(g("attn.c_proj.bias"), a, g("attn.c_proj.weight"))
        x = a + x
        h = layer_norm(x, g("ln_2.weight"), g("ln_2.bias"), eps)
        m = act(torch.addmm(g("mlp.c_fc.bias"), h, g("mlp.c_fc.weight")))
        m = torch.addmm(g("mlp.c_proj.bias"), m, g("mlp.c_proj.weight"))
        x = x + m
        hs.append(x)
    f = layer_norm(x, w[p + "ln_f.weight"], w[p + "ln_f.bias"], eps)
    # GPT2LMHeadModel: lm_head (no bias) tied to wte unless tie_word_embeddings is false
    head = w[p + "wte.weight"] if cfg.get("tie_word_embeddings", True) else w["lm_head.weight"]
    return hs, f @ head.T


# ---- Mistral / Llama (MistralModel / LlamaModel) ----

def rms_norm(x, wt, eps):
    var = x.pow(2).mean(-1, keepdim=True)
    return wt * (x * torch.rsqrt(var + eps))


def rotate_half(x):
    x1 = x[..., : x.shape[-1] // 2]
    x2 = x[..., x.shape[-1] // 2:]
    return torch.cat((-x2, x1), dim=-1)


def llama_inv_freq(cfg, dim):
    # transformers 5 keeps rope_theta and the scaling inside rope_parameters
    rp = cfg.get("rope_parameters") or {}
    base = cfg.get("rope_theta", rp.get("rope_theta", 10000.0))
    inv = 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.int64).float() / dim))
    rs = cfg.get("rope_scaling") or rp
    if rs:
        t = rs.get("rope_type", rs.get("type"))
        if t == "linear":
            inv = inv / rs["factor"]
        elif t == "llama3":  # _compute_llama3_parameters
            factor, lo, hi = rs["factor"], rs["low_freq_factor"], rs["high_freq_factor"]
            old = rs["original_max_position_embeddings"]
            lo_wl, hi_wl = old / lo, old / hi
            wl = 2 * math.pi / inv
            inv_l = torch.where(wl > lo_wl, inv / factor, inv)
            smooth = (old / wl - lo) / (hi - lo)
            smoothed = (1 - smooth) * inv_l / factor + smooth * inv_l
            medium = ~(wl < hi_wl) * ~(wl > lo_wl)
            inv = torch.where(medium, smoothed, inv_l)
        elif t not in (None, "default"):
            raise SystemExit("unsupported rope_scaling " + t)
    return inv


def llama(cfg, w, ids):
    D, H = cfg["hidden_size"], cfg["num_attention_heads"]
    KV = cfg.get("num_key_value_heads") or H
    hd = cfg.get("head_dim") or D // H
    eps = cfg["rms_norm_eps"]
    window = cfg.get("sliding_window") if cfg["model_type"] == "mistral" else None
    T = len(ids)
    x = w["model.embed_tokens.weight"][ids]
    hs = [x]
    inv = llama_inv_freq(cfg, hd)
    pos = torch.arange(T).float()
    freqs = (inv[:, None] @ pos[None, :]).T  # (T, hd/2) as LlamaRotaryEmbedding
    emb = torch.cat((freqs, freqs), dim=-1)
    cos, sin = emb.cos(), emb.sin()
    mask = causal_mask(T, window)
    # LlamaAttention / LlamaMLP: bias=config.attention_bias / config.mlp_bias (q, k, v, o and
    # gate, up, down); MistralAttention / MistralMLP have no bias at all. Biases follow the
    # config, not whatever the file holds.
    is_llama = cfg["model_type"] == "llama"
    attn_b = is_llama and cfg.get("attention_bias", False)
    mlp_b = is_llama and cfg.get("mlp_bias", False)
    lin_b = lambda h, n, b: torch.nn.functional.linear(h, w[n + ".weight"], w[n + ".bias"] if b else None)
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        lin = lambda h, n: lin_b(h, n, mlp_b if ".mlp." in n else attn_b)
        h = rms_norm(x, w[p + "input_layernorm.weight"], eps)
        q = lin(h, p + "self_attn.q_proj").view(T, H, hd).transpose(0, 1)
        k = lin(h, p + "self_attn.k_proj").view(T, KV, hd).transpose(0, 1)
        v = lin(h, p + "self_attn.v_proj").view(T, KV, hd).transpose(0, 1)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        k = k.repeat_interleave(H // KV, dim=0)  # repeat_kv
        v = v.repeat_interleave(H // KV, dim=0)
        a = eager_attention(q, k, v, mask, hd ** -0.5).transpose(0, 1).reshape(T, H * hd)
        x = x + lin(a, p + "self_attn.o_proj")
        h = rms_norm(x, w[p + "post_attention_layernorm.weight"], eps)
        m = torch.nn.functional.silu(lin(h, p + "mlp.gate_proj")) * lin(h, p + "mlp.up_proj")
        x = x + lin(m, p + "mlp.down_proj")
        hs.append(x)
    f = rms_norm(x, w["model.norm.weight"], eps)
    head = w["model.embed_tokens.weight"] if cfg.get("tie_word_embeddings", False) else w["lm_head.weight"]
    return hs, f @ head.T


# ---- OPT (OPTDecoder) ----

def opt(cfg, w, ids):
    p = "model.decoder." if "model.decoder.embed_tokens.weight" in w else "decoder."
    D, H = cfg["hidden_size"], cfg["num_attention_heads"]
    hd = D // H
    before = cfg.get("do_layer_norm_before", True)
    act = act_fn(cfg.get("activation_function", "relu"))
    T = len(ids)
    # q/k/v/out_proj, fc1, fc2: bias=config.enable_bias; project_in/out never have one
    bias = cfg.get("enable_bias", True)
    lin = lambda h, n: torch.nn.functional.linear(h, w[n + ".weight"], w[n + ".bias"] if bias else None)
    proj = cfg.get("word_embed_proj_dim") or D
    e = w[p + "embed_tokens.weight"][ids]
    if proj != D:
        e = torch.nn.functional.linear(e, w[p + "project_in.weight"])
    # OPTLearnedPositionalEmbedding: cumsum(mask) * mask - 1, offset 2
    positions = torch.cumsum(torch.ones(T, dtype=torch.long), 0) - 1
    x = e + w[p + "embed_positions.weight"][positions + 2]
    hs = [x]
    mask = causal_mask(T)
    for i in range(cfg["num_hidden_layers"]):
        q_ = p + f"layers.{i}."
        ln = lambda t, n: layer_norm(t, w[q_ + n + ".weight"], w[q_ + n + ".bias"], 1e-5)
        res = x
        h = ln(x, "self_attn_layer_norm") if before else x
        q = lin(h, q_ + "self_attn.q_proj") * hd ** -0.5
        k = lin(h, q_ + "self_attn.k_proj")
        v = lin(h, q_ + "self_attn.v_proj")
        q, k, v = (t.view(T, H, hd).transpose(0, 1) for t in (q, k, v))
        a = eager_attention(q, k, v, mask, 1.0).transpose(0, 1).reshape(T, D)
        x = res + lin(a, q_ + "self_attn.out_proj")
        if not before:
            x = ln(x, "self_attn_layer_norm")
        res = x
        h = ln(x, "final_layer_norm") if before else x
        h = lin(act(lin(h, q_ + "fc1")), q_ + "fc2")
        x = res + h
        if not before:
            x = ln(x, "final_layer_norm")
        hs.append(x)
    f = x
    if before and not cfg.get("_remove_final_layer_norm", False):
        f = layer_norm(f, w[p + "final_layer_norm.weight"], w[p + "final_layer_norm.bias"], 1e-5)
    if proj != D:
        f = torch.nn.functional.linear(f, w[p + "project_out.weight"])
    head = w[p + "embed_tokens.weight"] if cfg.get("tie_word_embeddings", True) else w["lm_head.weight"]
    return hs, f @ head.T


# ---- GPT-J (GPTJModel) ----

def rotate_every_two(x):
    x1 = x[..., ::2]
    x2 = x[..., 1::2]
    return torch.stack((-x2, x1), dim=-1).flatten(-2)


def gptj(cfg, w, ids):
    D, H = cfg["n_embd"], cfg["n_head"]
    hd = D // H
    # GPTJAttention: the sin/cos table has rotary_dim entries, or n_embd when rotary_dim is None
    # (then applied to whole heads, which only broadcasts with a single head); GPTJConfig's
    # default is 64
    rot = cfg.get("rotary_dim", 64)
    if rot is None:
        assert H == 1, "rotary_dim None needs one head, as in transformers"
        rot = D
    eps = cfg.get("layer_norm_epsilon", 1e-5)
    act = act_fn(cfg.get("activation_function", "gelu_new"))
    T = len(ids)
    # q/k/v/out_proj have no bias; fc_in, fc_out and lm_head have one
    lin = lambda h, n: torch.nn.functional.linear(h, w[n + ".weight"], None)
    linb = lambda h, n: torch.nn.functional.linear(h, w[n + ".weight"], w[n + ".bias"])
    # create_sinusoidal_positions
    inv = 1.0 / (10000 ** (torch.arange(0, rot, 2, dtype=torch.int64) / rot))
    sinus = torch.einsum("i , j -> i j", torch.arange(T, dtype=torch.int64).float(), inv).float()
    sin = torch.sin(sinus).repeat_interleave(2, dim=-1)  # duplicate_interleave
    cos = torch.cos(sinus).repeat_interleave(2, dim=-1)
    x = w["transformer.wte.weight"][ids]
    hs = [x]
    mask = causal_mask(T)
    for i in range(cfg["n_layer"]):
        p = f"transformer.h.{i}."
        h = layer_norm(x, w[p + "ln_1.weight"], w[p + "ln_1.bias"], eps)
        q = lin(h, p + "attn.q_proj").view(T, H, hd)
        k = lin(h, p + "attn.k_proj").view(T, H, hd)
        v = lin(h, p + "attn.v_proj").view(T, H, hd).transpose(0, 1)
        def rope(t):
            tr, tp = t[..., :rot], t[..., rot:]
            tr = tr * cos[:, None, :] + rotate_every_two(tr) * sin[:, None, :]
            return torch.cat([tr, tp], dim=-1)
        q, k = rope(q).transpose(0, 1), rope(k).transpose(0, 1)
        s = torch.matmul(q, k.transpose(-1, -2)) / torch.sqrt(torch.tensor(hd, dtype=torch.float32)) + mask
        a = torch.matmul(torch.softmax(s, dim=-1), v).transpose(0, 1).reshape(T, D)
        a = lin(a, p + "attn.out_proj")
        m = linb(act(linb(h, p + "mlp.fc_in")), p + "mlp.fc_out")
        x = a + m + x
        hs.append(x)
    f = layer_norm(x, w["transformer.ln_f.weight"], w["transformer.ln_f.bias"], eps)
    # lm_head keeps its bias when tie_word_embeddings (default false) shares the weight
    hw = w["transformer.wte.weight"] if cfg.get("tie_word_embeddings", False) else w["lm_head.weight"]
    return hs, torch.nn.functional.linear(f, hw, w["lm_head.bias"])


ARCH = {"gpt2": gpt2, "mistral": llama, "llama": llama, "opt": opt, "gptj": gptj}


def perplexity(run, cfg, w, ids, max_length, stride):
    """The transformers perplexity guide's loop (batch size 1)."""
    seq_len = len(ids)
    nll_sum, n_tokens, prev_end = 0.0, 0, 0
    for begin in range(0, seq_len, stride):
        end = min(begin + max_length, seq_len)
        trg_len = end - prev_end
        inp = ids[begin:end]
        target = torch.tensor(inp)
        target[:-trg_len] = -100
        _, logits = run(cfg, w, inp)
        # CausalLM loss: shift, mean over labels != -100
        loss = torch.nn.functional.cross_entropy(logits[:-1].double(), target[1:], ignore_index=-100)
        num_valid = int((target != -100).sum())
        num_loss = num_valid - 1
        nll_sum += float(loss) * num_loss
        n_tokens += num_loss
        prev_end = end
        if end == seq_len:
            break
    avg = nll_sum / n_tokens
    return avg, math.exp(avg)


def test_sequences(name, vocab, n_special):
    g = np.random.default_rng(sum(map(ord, name)))
    lens = [1, 3, 12, 23]
    return [g.integers(0, vocab, size=n).astype(np.int32).tolist() for n in lens]


def main():
    if len(sys.argv) != 3:
        raise SystemExit("usage: lm_reference.py FIXTURES_DIR OUT_DIR")
    src, dst = sys.argv[1], sys.argv[2]
    os.makedirs(dst, exist_ok=True)
    for name in sorted(os.listdir(src)):
        d = os.path.join(src, name)
        if not os.path.exists(os.path.join(d, "config.json")):
            continue
        cfg, w = load_dir(d)
        run = ARCH[cfg["model_type"]]
        out = {}
        seqs = test_sequences(name, cfg["vocab_size"], 2)
        for i, ids in enumerate(seqs):
            hs, logits = run(cfg, w, ids)
            out[f"ids.{i}"] = ("I32", np.array(ids, dtype=np.int32))
            out[f"hidden.{i}"] = ("F32", torch.stack(hs).numpy().astype(np.float32))
            out[f"logits.{i}"] = ("F32", logits.numpy().astype(np.float32))
        g = np.random.default_rng(7 + len(name))
        pids = g.integers(0, cfg["vocab_size"], size=40).astype(np.int32).tolist()
        out["ppl_ids"] = ("I32", np.array(pids, dtype=np.int32))
        for ml, st in ((16, 16), (16, 5), (40, 40), (64, 64)):
            nll, ppl = perplexity(run, cfg, w, pids, ml, st)
            out[f"ppl.{ml}.{st}"] = ("F64", np.array([nll, ppl], dtype=np.float64))
        write_safetensors(os.path.join(dst, name + ".safetensors"), out)
        print(name, "ok")


if __name__ == "__main__":
    main()
