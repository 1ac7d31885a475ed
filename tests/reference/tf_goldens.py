#!/usr/bin/python3
"""Fixture checkpoints and goldens for the runtime tests, made by Hugging Face
transformers itself (not by a re-implementation of it).

Regenerate the committed files with one command, from the repository root (as root):

    tests/reference/tf-regenerate [NAME...]

which builds the environment if needed (tests/reference/transformers-env), copies
tests/reference and tests/data/tokenizers into it and runs, inside it,

    python3 REPO/tests/reference/tf_goldens.py OUT_DIR [NAME...]

then replaces tests/data/tf/<name>/ with OUT_DIR/<name>/. The repository root REPO
is taken from this file's own path (--repo ROOT overrides it); the script reads
only tests/reference and tests/data/tokenizers from it. `scripts/test --transformers`
(tests/reference/tf_live.sh) regenerates into a temporary directory and compares.
Other modes:

    tf_goldens.py --list                      the fixture names, one a line
    tf_goldens.py --compare NEW OLD [NAME...] exit 1 unless NEW matches OLD
                                              (checkpoint tensors bit-identical,
                                              ids/greedy equal, floats to 1e-6)
    tf_goldens.py --tokenizer-note            the Mistral LlamaTokenizer check
                                              of docs/tokenizer.md

Output, one directory per fixture, OUT_DIR/<name>/:
  config.json, generation_config.json, model.safetensors (or shards +
  model.safetensors.index.json) exactly as save_pretrained wrote them (a
  fixture's `layout` hook may then rename tensors into a Hub layout, and
  config_style "v4" rewrites config.json the way transformers 4 wrote it);
  tokenizer.json + tokenizer_config.json when the fixture has a tokenizer;
  golden.safetensors with, per test sequence i:
    ids.i     I32 [T]           the input ids
    hidden.i  F32 [L+1, T, D]   embedding output (transformers' hidden_states[0])
                                and the RAW output of every block, captured by a
                                forward hook (transformers' last hidden_states
                                entry has the final norm applied; ours does not)
    logits.i  F32 [T, V]
    greedy.i  I32 [n]           model.generate(do_sample=False) continuation
                                (new ids only; stops at generation_config's EOS,
                                or never when the fixture has no tokenizer, as
                                the runtime takes its EOS from tokenizer.json)
  ppl_ids (I32) and ppl.{max_length}.{stride} (F64 [2]: mean NLL, perplexity),
  the loop of transformers' guide "Perplexity of fixed-length models";
  __metadata__: transformers_version, torch_version, fixture, seed, dtype,
  sequences (how many ids.i), greedy_new (max new tokens of greedy.i),
  compute_dtype ("float32": BF16/F16 goldens are transformers in float32 on the
  upcast, already rounded weights), config_style, command, and
  feature.<name> = the relative change of transformers' outputs when that
  feature is switched off (see FEATURES below), which tests/test_lm.c asserts
  to be > 1e-2 so that no golden can pass by accident.

THE FIXTURE RECORD (the contract other tests/reference/tf_fixtures_*.py
modules rely on; each such module exports a list FIXTURES of these dicts and
is discovered automatically, sorted by file name, after this file's own table):

  name          str, required. Directory name under tests/data/tf/ (unique).
  config        dict, required. Keyword arguments of
                transformers.AutoConfig.for_model(); must hold "model_type".
                "initializer_range" defaults to INIT_RANGE; attn_implementation
                is "eager".
  seed          int, required. torch.manual_seed before the model is built.
  dtype         "float32" (default), "bfloat16" or "float16": the dtype of the
                saved checkpoint. Goldens are always computed in float32.
  tokenizer     None (default: random test ids), or the name of a derived
                tokenizer in TOKENIZERS ("gpt2", "mistral"): its first
                config["vocab_size"] ids of a committed real tokenizer.json.
                Test sequences then include tokenised texts.
  build         optional callable(config, seed) -> model in float32. Default:
                build_default (random init by transformers' _init_weights,
                then biases ~ N(0, BIAS_STD) and norm weights ~ U(0.75, 1.25),
                seeded, so that biases and norms visibly matter).
  goldens       tuple, subset of ("hidden", "logits", "greedy", "ppl");
                default all four.
  features      dict feature-name -> switch. A switch is a dict with
                "config": {overrides} (a changed config; tensors it does not know
                or whose shape it changes are dropped, new ones keep their
                transformers default init) and/or "weights": callable(state_dict)
                -> state_dict (applied first), and optionally "on": "hidden"
                (default) or "logits" (a feature of the head only), and
                optionally "control": a switch that must change nothing (<= 1e-6),
                proving that the difference comes from the feature and not from
                the switching itself (e.g. GQA heads expanded in the right order).
  shard         optional max_shard_size for save_pretrained (e.g. "40KB"):
                the sharded layout with model.safetensors.index.json.
  config_style  "v5" (default, as transformers 5 writes it) or "v4"
                (torch_dtype, rope_theta + rope_scaling instead of dtype and
                rope_parameters).
  layout        optional callable(out_dir) run after saving (Hub layouts such
                as GPT-2's unprefixed tensor names); must leave a checkpoint
                that transformers loads with no missing/unexpected keys.
  sequences     optional callable(fixture, tokenizer_or_None) -> list of id
                lists (default: default_sequences: lengths 1, 3, 12, 23 with
                texts when there is a tokenizer).
  greedy_new    int, new tokens per greedy continuation (default 12).
  ppl           tuple of (max_length, stride) (default PPL_SETTINGS); the
                perplexity text is 40 ids (ppl_ids).
  note          str, one line saying what the fixture is for.

tests/test_lm.c checks every fixture directory of tests/data/tf: a new fixture
needs a row in its table tf_fixtures (name, dtype, the features it shows to
matter); the test every_committed_fixture_is_tested fails until it has one.
"""
import argparse
import copy
import glob
import importlib.util
import json
import math
import os
import shutil
import sys
import tempfile

import numpy as np
import torch

torch.set_num_threads(1)
torch.set_grad_enabled(False)
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import transformers  # noqa: E402
from safetensors.torch import load_file, save_file  # noqa: E402
from transformers import AutoConfig, AutoModelForCausalLM  # noqa: E402

transformers.logging.set_verbosity_error()
transformers.logging.disable_progress_bar()

INIT_RANGE = 0.2
BIAS_STD = 0.1
PPL_SETTINGS = ((16, 16), (16, 5), (40, 40), (64, 64))
FEATURE_MIN = 1e-2
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

TEXTS = ["the cat sat on the mat", "we should talk about it calmly and listen to each other, then decide"]

# Derived tokenizers: the first vocab_size ids of a committed real tokenizer.json and
# the merges among them (special tokens past the cut are renumbered to the end).
TOKENIZERS = {
    "gpt2": "tests/data/tokenizers/gpt2",
    "mistral": "tests/data/tokenizers/mistral",
}


# ---------------------------------------------------------------- building

def randomize_biases_and_norms(model, seed):
    """Biases ~ N(0, BIAS_STD), norm weights ~ U(0.75, 1.25): transformers' own init
    leaves them at 0 and 1, which would hide a runtime that ignores them."""
    g = torch.Generator().manual_seed(seed + 7919)
    seen = set()
    for mname, mod in model.named_modules():
        for pname, p in mod.named_parameters(recurse=False):
            if id(p) in seen:
                continue
            seen.add(id(p))
            cls = type(mod).__name__
            is_norm = isinstance(mod, torch.nn.LayerNorm) or "Norm" in cls
            if pname == "bias":
                p.copy_(torch.randn(p.shape, generator=g) * BIAS_STD)
            elif is_norm and pname == "weight":
                p.copy_(0.75 + 0.5 * torch.rand(p.shape, generator=g))


def build_default(config, seed):
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config, attn_implementation="eager", dtype=torch.float32)
    randomize_biases_and_norms(model, seed)
    return model.eval()


def make_config(fx, overrides=None):
    kw = dict(fx["config"])
    kw.setdefault("initializer_range", INIT_RANGE)
    if overrides:
        kw.update(overrides)
    mt = kw.pop("model_type")
    return AutoConfig.for_model(mt, **kw)


# ---------------------------------------------------------------- tokenizers

def derive_tokenizer(kind, vocab_size, out_dir):
    """Write tokenizer.json (+ tokenizer_config.json) keeping the first ids of the real one."""
    src = os.path.join(REPO, TOKENIZERS[kind])
    t = json.load(open(os.path.join(src, "tokenizer.json"), encoding="utf-8"))
    m = t["model"]
    specials = [a for a in t["added_tokens"] if a["id"] >= vocab_size]
    keep = vocab_size - len(specials)
    vocab = {k: i for k, i in m["vocab"].items() if i < keep}
    renum = {}
    for j, a in enumerate(specials):
        renum[a["id"]] = keep + j
        vocab[a["content"]] = keep + j
    for a in t["added_tokens"]:
        a["id"] = renum.get(a["id"], a["id"])
    merges = []
    for mg in m["merges"]:
        a, b = mg.split(" ", 1) if isinstance(mg, str) else mg
        if a in vocab and b in vocab and a + b in vocab and vocab[a + b] < keep:
            merges.append(mg)
    m["vocab"], m["merges"] = vocab, merges
    pp = t.get("post_processor")
    if pp and pp.get("type") == "TemplateProcessing":
        for st in pp["special_tokens"].values():
            st["ids"] = [renum.get(i, i) for i in st["ids"]]
    with open(os.path.join(out_dir, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(t, f, ensure_ascii=False, indent=None, separators=(",", ":"))
        f.write("\n")
    cfg_src = os.path.join(src, "tokenizer_config.json")
    if os.path.exists(cfg_src):
        c = json.load(open(cfg_src, encoding="utf-8"))
        dec = c.get("added_tokens_decoder")
        if dec:
            c["added_tokens_decoder"] = {str(renum.get(int(k), int(k))): v for k, v in dec.items()}
        with open(os.path.join(out_dir, "tokenizer_config.json"), "w", encoding="utf-8") as f:
            json.dump(c, f, ensure_ascii=False, indent=2)
            f.write("\n")
    from tokenizers import Tokenizer
    return Tokenizer.from_file(os.path.join(out_dir, "tokenizer.json"))


def special_id(tok, names):
    for n in names:
        i = tok.token_to_id(n)
        if i is not None:
            return i
    return None


# ---------------------------------------------------------------- sequences

def default_sequences(fx, tok):
    V = fx["config"]["vocab_size"]
    g = np.random.default_rng(sum(map(ord, fx["name"])))
    rnd = lambda n: g.integers(0, V, size=n).astype(np.int64).tolist()  # noqa: E731
    if tok is None:
        return [rnd(1), rnd(3), rnd(12), rnd(23)]
    a = tok.encode(TEXTS[0]).ids
    b = tok.encode(TEXTS[1]).ids[:23]
    return [rnd(1), a, rnd(12), b]


# ---------------------------------------------------------------- running

def block_list(model):
    n = model.config.get_text_config().num_hidden_layers  # multimodal configs nest it (gemma3)
    for name, mod in model.named_modules():
        if isinstance(mod, torch.nn.ModuleList) and len(mod) == n and name.split(".")[-1] in ("layers", "h"):
            return mod
    raise SystemExit(f"tf_goldens: cannot find the {n} blocks of {type(model).__name__}")


def run_hidden(model, ids):
    """[L+1, T, D]: hidden_states[0] and the raw output of each block (hooks)."""
    outs = []
    hooks = [b.register_forward_hook(lambda m, i, o: outs.append((o[0] if isinstance(o, tuple) else o).detach()))
             for b in block_list(model)]
    try:
        r = model(torch.tensor([ids]), output_hidden_states=True, use_cache=False)
    finally:
        for h in hooks:
            h.remove()
    hs = [r.hidden_states[0][0]] + [o[0] for o in outs]
    return torch.stack(hs).float(), r.logits[0].float()


def greedy(model, ids, n, eos):
    """Greedy continuation; eos None: never stop early (fixtures without a tokenizer, since the runtime
    takes its EOS from tokenizer.json)."""
    gc = copy.deepcopy(model.generation_config)
    gc.eos_token_id = eos
    gc.pad_token_id = eos if eos is not None else 0
    gc.do_sample, gc.max_new_tokens, gc.min_new_tokens = False, n, None
    out = model.generate(torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                         generation_config=gc)
    return out[0, len(ids):].tolist()


def perplexity(model, ids, max_length, stride):
    """transformers' guide 'Perplexity of fixed-length models', batch size 1."""
    enc = torch.tensor([ids])
    seq_len = enc.size(1)
    nll_sum, n_tokens, prev_end = 0.0, 0, 0
    for begin in range(0, seq_len, stride):
        end = min(begin + max_length, seq_len)
        trg_len = end - prev_end
        inp = enc[:, begin:end]
        target = inp.clone()
        target[:, :-trg_len] = -100
        loss = model(inp, labels=target, use_cache=False).loss
        num_valid = int((target != -100).sum())
        num_loss = num_valid - target.size(0)
        nll_sum += float(loss) * num_loss
        n_tokens += num_loss
        prev_end = end
        if end == seq_len:
            break
    avg = nll_sum / n_tokens
    return avg, math.exp(avg)


def rel(a, b):
    return float(torch.linalg.vector_norm((a - b).double()) / max(float(torch.linalg.vector_norm(b.double())), 1e-30))


def switched(fx, model, sw):
    """The golden's model with one feature switched off."""
    sd = {k: v.clone() for k, v in model.state_dict().items()}
    if "weights" in sw:
        sd = sw["weights"](sd)
    if "config" not in sw:
        m2 = copy.deepcopy(model)
        m2.load_state_dict(sd, strict=True)
        return m2.eval()
    cfg = make_config(fx, sw["config"])
    torch.manual_seed(fx["seed"])
    m2 = AutoModelForCausalLM.from_config(cfg, attn_implementation="eager", dtype=torch.float32).eval()
    own = m2.state_dict()
    m2.load_state_dict({k: v for k, v in sd.items() if k in own and own[k].shape == v.shape}, strict=False)
    return m2


def feature_change(fx, model, sw, seqs):
    m2 = switched(fx, model, sw)
    on = sw.get("on", "hidden")
    worst = 0.0
    for ids in seqs:
        h1, l1 = run_hidden(model, ids)
        h2, l2 = run_hidden(m2, ids)
        worst = max(worst, rel(l2, l1) if on == "logits" else rel(h2, h1))
    return worst


# ---------------------------------------------------------------- layouts

def rename_tensors(out_dir, fn):
    """Rewrite the checkpoint's tensor names with fn (None drops a tensor)."""
    idx = os.path.join(out_dir, "model.safetensors.index.json")
    files = sorted(set(json.load(open(idx))["weight_map"].values())) if os.path.exists(idx) else ["model.safetensors"]
    wm = {}
    for f in files:
        p = os.path.join(out_dir, f)
        t = load_file(p)
        new = {fn(k): v for k, v in t.items() if fn(k) is not None}
        save_file(new, p, metadata={"format": "pt"})
        wm.update({k: f for k in new})
    if os.path.exists(idx):
        ix = json.load(open(idx))
        ix["weight_map"] = dict(sorted(wm.items()))
        with open(idx, "w") as f:
            json.dump(ix, f, indent=2)
            f.write("\n")


def strip_prefix(prefix, new=""):
    def hook(out_dir):
        rename_tensors(out_dir, lambda k: new + k[len(prefix):] if k.startswith(prefix) else k)
    return hook


def v4_config(path):
    """Rewrite a transformers-5 config.json the way transformers 4 wrote it."""
    c = json.load(open(path))
    if "dtype" in c:
        c["torch_dtype"] = c.pop("dtype")
    rp = c.pop("rope_parameters", None)
    if rp is not None:
        rp = dict(rp)
        c["rope_theta"] = rp.pop("rope_theta")
        c["rope_scaling"] = None if rp.get("rope_type", "default") == "default" else rp
    with open(path, "w") as f:
        json.dump(dict(sorted(c.items())), f, indent=2)
        f.write("\n")


# ---------------------------------------------------------------- the fixtures

def _zero(pred):
    def f(sd):
        return {k: (torch.zeros_like(v) if pred(k) else v) for k, v in sd.items()}
    return f


def _ones(pred):
    def f(sd):
        return {k: (torch.ones_like(v) if pred(k) else v) for k, v in sd.items()}
    return f


def _is_bias(k):
    return k.endswith(".bias")


def _is_norm_w(*names):
    return lambda k: k.endswith(".weight") and any(n in k for n in names)


GPT2 = dict(model_type="gpt2", n_embd=32, n_head=4, n_layer=2, n_positions=64, vocab_size=300,
            bos_token_id=299, eos_token_id=299)
MISTRAL = dict(model_type="mistral", hidden_size=32, intermediate_size=64, num_attention_heads=4,
               num_key_value_heads=2, num_hidden_layers=2, max_position_embeddings=64, vocab_size=300,
               sliding_window=5, tie_word_embeddings=False, bos_token_id=1, eos_token_id=2)
LLAMA = dict(model_type="llama", hidden_size=32, intermediate_size=48, num_attention_heads=4, num_key_value_heads=1,
             head_dim=16, num_hidden_layers=2, max_position_embeddings=64, vocab_size=300, attention_bias=True,
             mlp_bias=True, tie_word_embeddings=True, bos_token_id=1, eos_token_id=2,
             rope_parameters={"rope_type": "llama3", "rope_theta": 500000.0, "factor": 8.0, "low_freq_factor": 1.0,
                              "high_freq_factor": 4.0, "original_max_position_embeddings": 16})
OPT = dict(model_type="opt", hidden_size=32, ffn_dim=64, num_attention_heads=4, num_hidden_layers=2,
           max_position_embeddings=64, vocab_size=300, word_embed_proj_dim=32, bos_token_id=299, eos_token_id=299,
           pad_token_id=1)
GPTJ = dict(model_type="gptj", n_embd=32, n_head=4, n_layer=2, n_positions=64, rotary_dim=4, vocab_size=300,
            bos_token_id=299, eos_token_id=299)

def _gqa_expanded(kv_heads, head_dim, n_heads, right):
    """k/v projections of kv_heads heads repeated for each of n_heads query heads, in the right order
    (query head h reads kv head h // group) or interleaved (h % kv_heads, a mis-grouping runtime)."""
    group = n_heads // kv_heads

    def f(sd):
        out = dict(sd)
        for k, v in sd.items():
            if k.endswith(("self_attn.k_proj.weight", "self_attn.v_proj.weight")):
                w = v.view(kv_heads, head_dim, -1)
                out[k] = torch.cat([w[h // group if right else h % kv_heads] for h in range(n_heads)], dim=0)
        return out
    return f


NORMS_GPT = {"weights": _ones(_is_norm_w("ln_")), "on": "hidden"}
BIASES = {"weights": _zero(_is_bias)}

FIXTURES = [
    dict(name="gpt2", config=GPT2, seed=101, tokenizer="gpt2", layout=strip_prefix("transformer."),
         note="GPT-2 with the Hub's unprefixed tensor names (h.0..., wte), tied head",
         features={"biases": BIASES, "norm_weights": NORMS_GPT}),
    dict(name="gpt2_bf16", config=GPT2, seed=102, dtype="bfloat16", tokenizer="gpt2", shard="40KB",
         config_style="v4", note="GPT-2, BF16, 2+ shards, transformer. prefix, transformers-4 config",
         features={"biases": BIASES}),
    dict(name="gpt2_inv", config={**GPT2, "scale_attn_by_inverse_layer_idx": True}, seed=103, tokenizer="gpt2",
         note="GPT-2 with scale_attn_by_inverse_layer_idx",
         features={"scale_attn_by_inverse_layer_idx": {"config": {"scale_attn_by_inverse_layer_idx": False}}}),
    dict(name="mistral", config=MISTRAL, seed=201, tokenizer="mistral",
         note="Mistral, GQA 4:2, sliding window 5 < 23-token sequences",
         features={"sliding_window": {"config": {"sliding_window": None}},
                   "norm_weights": {"weights": _ones(_is_norm_w("norm"))},
                   "gqa_grouping": {"config": {"num_key_value_heads": 4}, "weights": _gqa_expanded(2, 8, 4, False),
                                    "control": {"config": {"num_key_value_heads": 4},
                                                "weights": _gqa_expanded(2, 8, 4, True)}}}),
    dict(name="mistral_bf16", config=MISTRAL, seed=202, dtype="bfloat16", tokenizer="mistral", shard="30KB",
         config_style="v4", note="Mistral, BF16, sharded, transformers-4 config",
         features={"sliding_window": {"config": {"sliding_window": None}}}),
    dict(name="llama", config=LLAMA, seed=301, tokenizer="mistral",
         note="Llama, GQA 4:1, head_dim 16 != 32/4, attention and MLP biases, tied head, llama3 rope",
         features={"llama3_rope": {"config": {"rope_parameters": {"rope_type": "default", "rope_theta": 500000.0}}},
                   "attention_bias": {"weights": _zero(lambda k: "self_attn" in k and _is_bias(k))},
                   "mlp_bias": {"weights": _zero(lambda k: "mlp" in k and _is_bias(k))}}),
    dict(name="llama_f16", config=LLAMA, seed=302, dtype="float16", tokenizer="mistral", config_style="v4",
         note="the llama fixture's shape in F16 with a transformers-4 config (rope_scaling llama3)",
         features={"llama3_rope": {"config": {"rope_parameters": {"rope_type": "default", "rope_theta": 500000.0}}}}),
    dict(name="llama_linear", seed=303, tokenizer="mistral",
         config={**LLAMA, "attention_bias": False, "tie_word_embeddings": False,
                 "rope_parameters": {"rope_type": "linear", "rope_theta": 10000.0, "factor": 4.0}},
         note="Llama with linear rope scaling, MLP bias only, untied head",
         features={"linear_rope": {"config": {"rope_parameters": {"rope_type": "default", "rope_theta": 10000.0}}},
                   "mlp_bias": {"weights": _zero(lambda k: "mlp" in k and _is_bias(k))}}),
    dict(name="opt", config=OPT, seed=401, tokenizer="gpt2", note="OPT, pre-LN (OPT-125m layout)",
         features={"biases": BIASES, "norm_weights": {"weights": _ones(_is_norm_w("layer_norm"))}}),
    dict(name="opt_proj", config={**OPT, "word_embed_proj_dim": 16, "do_layer_norm_before": False}, seed=402,
         tokenizer="gpt2", layout=strip_prefix("model.decoder.", "decoder."),
         note="OPT-350m layout: post-LN, project_in/project_out, decoder. prefix",
         features={"post_ln": {"config": {"do_layer_norm_before": True}}}),
    dict(name="opt_nobias", config={**OPT, "enable_bias": False, "tie_word_embeddings": False}, seed=403,
         tokenizer="gpt2", note="OPT with enable_bias false and an untied lm_head",
         features={"untied_head": {"config": {"tie_word_embeddings": True}, "on": "logits"}}),
    dict(name="gptj", config=GPTJ, seed=501, tokenizer="gpt2", note="GPT-J, rotary_dim 4 of head_dim 8",
         features={"partial_rotary": {"config": {"rotary_dim": 8}}, "biases": BIASES}),
]


def discover():
    fx = list(FIXTURES)
    for path in sorted(glob.glob(os.path.join(os.path.dirname(os.path.abspath(__file__)), "tf_fixtures_*.py"))):
        modname = os.path.splitext(os.path.basename(path))[0]
        spec = importlib.util.spec_from_file_location(modname, path)
        mod = importlib.util.module_from_spec(spec)
        sys.modules[modname] = mod
        spec.loader.exec_module(mod)
        fx.extend(getattr(mod, "FIXTURES"))
    names = [f["name"] for f in fx]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise SystemExit(f"tf_goldens: fixture names defined twice: {', '.join(dup)}")
    for f in fx:
        for k in ("name", "config", "seed"):
            if k not in f:
                raise SystemExit(f"tf_goldens: fixture {f.get('name', '?')} has no '{k}'")
        if "model_type" not in f["config"]:
            raise SystemExit(f"tf_goldens: fixture {f['name']}: config has no 'model_type'")
    return fx


# ---------------------------------------------------------------- writing

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def make_fixture(fx, out_root):
    name = fx["name"]
    out = os.path.join(out_root, name)
    tmp = tempfile.mkdtemp(prefix=name + ".", dir=out_root)
    try:
        cfg = make_config(fx)
        model = (fx.get("build") or build_default)(cfg, fx["seed"])
        dtype = fx.get("dtype", "float32")
        if dtype not in DTYPES:
            raise SystemExit(f"tf_goldens: fixture {name}: dtype '{dtype}' is not one of {', '.join(DTYPES)}")
        # the saved weights are rounded to the checkpoint dtype; goldens use them upcast to float32
        model = model.to(DTYPES[dtype])
        model.config.dtype = DTYPES[dtype]
        save = {"max_shard_size": fx["shard"]} if fx.get("shard") else {}
        model.save_pretrained(tmp, **save)
        model = model.to(torch.float32)
        tok = None
        if fx.get("tokenizer"):
            tok = derive_tokenizer(fx["tokenizer"], fx["config"]["vocab_size"], tmp)
        if fx.get("layout"):
            fx["layout"](tmp)
        if fx.get("config_style", "v5") == "v4":
            v4_config(os.path.join(tmp, "config.json"))
        elif fx.get("config_style", "v5") != "v5":
            raise SystemExit(f"tf_goldens: fixture {name}: config_style must be 'v4' or 'v5'")
        # the goldens come from the checkpoint as transformers loads it back
        ref = AutoModelForCausalLM.from_pretrained(tmp, dtype=torch.float32, attn_implementation="eager").eval()
        check_same_weights(model, ref, name)
        want = set(fx.get("goldens", ("hidden", "logits", "greedy", "ppl")))
        seqs = (fx.get("sequences") or default_sequences)(fx, tok)
        eos = ref.generation_config.eos_token_id if tok is not None else None
        g = {}
        for i, ids in enumerate(seqs):
            g[f"ids.{i}"] = torch.tensor(ids, dtype=torch.int32)
            hs, logits = run_hidden(ref, ids)
            if "hidden" in want:
                g[f"hidden.{i}"] = hs.contiguous()
            if "logits" in want:
                g[f"logits.{i}"] = logits.contiguous()
            if "greedy" in want:
                g[f"greedy.{i}"] = torch.tensor(greedy(ref, ids, fx.get("greedy_new", 12), eos), dtype=torch.int32)
        meta = {
            "transformers_version": transformers.__version__,
            "torch_version": torch.__version__,
            "fixture": name,
            "seed": str(fx["seed"]),
            "dtype": dtype,
            "compute_dtype": "float32",
            "config_style": fx.get("config_style", "v5"),
            "initializer_range": str(cfg.initializer_range),
            "command": "tests/reference/tf_goldens.py OUT_DIR " + name,
            "note": fx.get("note", ""),
            "sequences": str(len(seqs)),
            "greedy_new": str(fx.get("greedy_new", 12)),
        }
        if "ppl" in want:
            gr = np.random.default_rng(7 + len(name))
            pids = gr.integers(0, fx["config"]["vocab_size"], size=40).tolist()
            g["ppl_ids"] = torch.tensor(pids, dtype=torch.int32)
            for ml, st in fx.get("ppl", PPL_SETTINGS):
                nll, ppl = perplexity(ref, pids, ml, st)
                g[f"ppl.{ml}.{st}"] = torch.tensor([nll, ppl], dtype=torch.float64)
        for feat, sw in sorted(fx.get("features", {}).items()):
            d = feature_change(fx, ref, sw, seqs)
            meta[f"feature.{feat}"] = f"{d:.6g}"
            flag = "" if d > FEATURE_MIN else "   <-- does NOT matter"
            print(f"  {name}: switching off {feat} changes the {sw.get('on', 'hidden')} by {d:.3g}{flag}")
            if "control" in sw:
                c = feature_change(fx, ref, sw["control"], seqs)
                print(f"  {name}: its control changes the {sw.get('on', 'hidden')} by {c:.3g}")
                if c > 1e-6:
                    raise SystemExit(f"tf_goldens: fixture {name}: the control of feature {feat} changes "
                                     f"transformers' outputs by {c:.3g}; the switch itself is not neutral")
                meta[f"feature.{feat}.control"] = f"{c:.6g}"
            if d <= FEATURE_MIN:
                raise SystemExit(f"tf_goldens: fixture {name}: feature {feat} moves transformers' outputs by only "
                                 f"{d:.3g} (need > {FEATURE_MIN}); the golden would not test it")
        write_golden(os.path.join(tmp, "golden.safetensors"), g, meta)
        if os.path.exists(out):
            shutil.rmtree(out)
        os.chmod(tmp, 0o755)
        for f in os.listdir(tmp):
            os.chmod(os.path.join(tmp, f), 0o644)
        os.rename(tmp, out)
        tmp = None
        print(f"{name}: ok ({dtype}, {sum(os.path.getsize(os.path.join(out, f)) for f in os.listdir(out))} bytes)")
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)


def write_golden(path, tensors, meta):
    """safetensors with tensors and metadata in sorted order, so that the bytes are reproducible
    (safetensors' own writer orders the metadata by a hash map)."""
    st = {torch.float32: "F32", torch.float64: "F64", torch.int32: "I32"}
    hdr, blobs, off = {"__metadata__": dict(sorted(meta.items()))}, [], 0
    for k in sorted(tensors):
        t = tensors[k].contiguous()
        b = t.numpy().tobytes()
        hdr[k] = {"dtype": st[t.dtype], "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(hdr, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(len(h).to_bytes(8, "little"))
        f.write(h)
        for b in blobs:
            f.write(b)


def check_same_weights(model, ref, name):
    a, b = model.state_dict(), ref.state_dict()
    for k, v in a.items():
        if k not in b or not torch.equal(v, b[k]):
            raise SystemExit(f"tf_goldens: fixture {name}: '{k}' does not load back as saved")


# ---------------------------------------------------------------- comparing

def checkpoint_tensors(d):
    out = {}
    for p in sorted(glob.glob(os.path.join(d, "model*.safetensors"))):
        out.update(load_file(p))
    return out


def compare(new_root, old_root, names):
    bad = 0
    for name in names:
        nd, od = os.path.join(new_root, name), os.path.join(old_root, name)
        if not os.path.isdir(od):
            print(f"{name}: not committed ({od} missing)")
            bad += 1
            continue
        a, b = checkpoint_tensors(nd), checkpoint_tensors(od)
        if set(a) != set(b):
            print(f"{name}: checkpoint tensor names differ: {sorted(set(a) ^ set(b))}")
            bad += 1
        for k in sorted(set(a) & set(b)):
            if a[k].dtype != b[k].dtype or a[k].shape != b[k].shape or not torch.equal(a[k], b[k]):
                print(f"{name}: checkpoint tensor {k} differs")
                bad += 1
        for f in ("config.json", "tokenizer.json"):
            if os.path.exists(os.path.join(od, f)) and json.load(open(os.path.join(nd, f))) != \
                    json.load(open(os.path.join(od, f))):
                print(f"{name}: {f} differs")
                bad += 1
        ga, gb = load_file(os.path.join(nd, "golden.safetensors")), load_file(os.path.join(od, "golden.safetensors"))
        if set(ga) != set(gb):
            print(f"{name}: golden tensor names differ: {sorted(set(ga) ^ set(gb))}")
            bad += 1
        worst = 0.0
        for k in sorted(set(ga) & set(gb)):
            x, y = ga[k], gb[k]
            if x.shape != y.shape:
                print(f"{name}: golden {k} has shape {list(x.shape)}, committed {list(y.shape)}")
                bad += 1
            elif x.dtype in (torch.int32, torch.int64):
                if not torch.equal(x, y):
                    print(f"{name}: golden {k} differs: {x.tolist()} vs committed {y.tolist()}")
                    bad += 1
            else:
                e = rel(x, y)
                worst = max(worst, e)
                if e > 1e-6:
                    print(f"{name}: golden {k} differs from the committed one by {e:.3g} (relative)")
                    bad += 1
        print(f"{name}: {'matches' if not bad else 'checked'} the committed golden (worst float difference {worst:.3g})")
    return bad


# ---------------------------------------------------------------- the tokenizer note

def tokenizer_note():
    """The Mistral tokenizer.json through transformers 5's LlamaTokenizer and through tokenizers."""
    from tokenizers import Tokenizer
    from transformers import LlamaTokenizer, AutoTokenizer
    src = os.path.join(REPO, "tests/data/tokenizers/mistral")
    text = " leading space"
    raw = Tokenizer.from_file(os.path.join(src, "tokenizer.json")).encode(text).ids
    lt = LlamaTokenizer(tokenizer_file=os.path.join(src, "tokenizer.json"))
    at = AutoTokenizer.from_pretrained(src)
    print(f"tokenizers {__import__('tokenizers').__version__}: {text!r} -> {raw}")
    print(f"transformers {transformers.__version__} LlamaTokenizer: {text!r} -> {lt(text).input_ids}")
    print(f"transformers {transformers.__version__} AutoTokenizer ({type(at).__name__}): {text!r} -> "
          f"{at(text).input_ids}")


def main():
    ap = argparse.ArgumentParser(description="fixtures and goldens from transformers (see the file header)")
    ap.add_argument("out", nargs="?", help="output directory (e.g. tests/data/tf)")
    ap.add_argument("names", nargs="*", help="fixtures to make (default: all)")
    ap.add_argument("--repo", help="repository root (default: from this file's path)")
    ap.add_argument("--list", action="store_true", help="print the fixture names")
    ap.add_argument("--compare", nargs=2, metavar=("NEW", "OLD"), help="compare two fixture trees")
    ap.add_argument("--tokenizer-note", action="store_true", help="the Mistral LlamaTokenizer divergence")
    a = ap.parse_args()
    global REPO
    if a.repo:
        REPO = os.path.abspath(a.repo)
    if a.tokenizer_note:
        tokenizer_note()
        return 0
    fx = discover()
    byname = {f["name"]: f for f in fx}
    if a.list:
        print("\n".join(byname))
        return 0
    if a.compare:
        names = ([a.out] if a.out else []) + a.names
        for n in names:
            if n not in byname:
                raise SystemExit(f"tf_goldens: unknown fixture '{n}' (known: {', '.join(byname)})")
        return 1 if compare(a.compare[0], a.compare[1], names or list(byname)) else 0
    if not a.out:
        ap.error("OUT_DIR is required")
    for n in a.names:
        if n not in byname:
            raise SystemExit(f"tf_goldens: unknown fixture '{n}' (known: {', '.join(byname)})")
    os.makedirs(a.out, exist_ok=True)
    print(f"transformers {transformers.__version__}, torch {torch.__version__}")
    for f in (byname[n] for n in (a.names or list(byname))):
        make_fixture(f, a.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
