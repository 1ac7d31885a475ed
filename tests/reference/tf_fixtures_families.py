"""Fixtures of the dense families added with the architecture table (issue 16):
qwen2, qwen3, gemma2, gemma3 (text and Gemma3ForConditionalGeneration), phi3,
llama with yarn / dynamic / longrope rope, and OPT without elementwise affine
norms. Discovered by tests/reference/tf_goldens.py (the record format is
documented at its top); regenerate with

    chroot "${PROFS_TRANSFORMERS_ENV:-/var/tmp/profs-transformers}" \\
        python3 /REPO/tests/reference/tf_goldens.py /REPO/tests/data/tf NAME...

Each fixture has one `features` entry per feature it exists for: switching it
off moves transformers' outputs by more than 1e-2 (tests/test_lm.c checks the
recorded numbers). BF16 Gemma fixtures use hidden size 64, where sqrt(hidden)
is exact in BF16: the goldens run transformers in float32, where the embedding
scale is not rounded, while a BF16 Gemma rounds it (the runtime does, see
docs/runtime.md; tests/test_lm.c checks that rounding on its own).
"""
import torch


def _ones(pred):
    def f(sd):
        return {k: (torch.ones_like(v) if pred(k) else v) for k, v in sd.items()}
    return f


def _zeros(pred):
    def f(sd):
        return {k: (torch.zeros_like(v) if pred(k) else v) for k, v in sd.items()}
    return f


def _attn_bias(k):
    return "self_attn" in k and k.endswith(".bias")


BASE = dict(hidden_size=32, intermediate_size=64, num_attention_heads=4, num_key_value_heads=2,
            num_hidden_layers=2, max_position_embeddings=64, vocab_size=300, bos_token_id=1, eos_token_id=2)

QWEN2 = dict(BASE, model_type="qwen2", tie_word_embeddings=True, use_sliding_window=True, sliding_window=5,
             max_window_layers=1, rope_parameters={"rope_type": "default", "rope_theta": 10000.0})
QWEN3 = dict(BASE, model_type="qwen3", head_dim=16, tie_word_embeddings=False, attention_bias=False,
             use_sliding_window=True, sliding_window=5, max_window_layers=1,
             rope_parameters={"rope_type": "default", "rope_theta": 1000000.0})
GEMMA2 = dict(BASE, model_type="gemma2", head_dim=16, query_pre_attn_scalar=24, attn_logit_softcapping=2.0,
              final_logit_softcapping=3.0, sliding_window=5, layer_types=["sliding_attention", "full_attention"],
              hidden_activation="gelu_pytorch_tanh", pad_token_id=0)
GEMMA3 = dict(BASE, model_type="gemma3_text", head_dim=16, query_pre_attn_scalar=16, sliding_window=5,
              layer_types=["sliding_attention", "full_attention"], final_logit_softcapping=3.0, pad_token_id=0,
              rope_parameters={"sliding_attention": {"rope_type": "default", "rope_theta": 10000.0},
                               "full_attention": {"rope_type": "linear", "rope_theta": 1000000.0, "factor": 4.0}})
PHI3 = dict(BASE, model_type="phi3", num_key_value_heads=4, tie_word_embeddings=False, pad_token_id=0,
            original_max_position_embeddings=16, partial_rotary_factor=0.5,
            rope_parameters={"rope_type": "longrope", "rope_theta": 10000.0,
                             "short_factor": [1.0, 1.5], "long_factor": [3.0, 7.0]})
LLAMA = dict(BASE, model_type="llama", tie_word_embeddings=False)


def _big(cfg):
    """The same shape at hidden size 64 (sqrt(64) is exact in BF16)."""
    return dict(cfg, hidden_size=64, intermediate_size=96)


def _gemma3_cg():
    t = {k: v for k, v in GEMMA3.items() if k not in ("model_type",)}
    # vocab_size at the top too: tf_goldens.py derives the tokenizer from config["vocab_size"]
    return dict(model_type="gemma3", text_config=t, vocab_size=t["vocab_size"], tie_word_embeddings=True, mm_tokens_per_image=4,
                boi_token_index=297, eoi_token_index=298, image_token_index=299,
                vision_config=dict(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
                                   image_size=28, patch_size=14))


SOFTCAPS_OFF = {"attn_logit_softcapping": None}
FIXTURES = [
    dict(name="qwen2", config=QWEN2, seed=601, tokenizer="mistral",
         note="Qwen2: q/k/v biases without an o bias, tied head, layer 1 slides (use_sliding_window, "
              "max_window_layers 1)",
         features={"qkv_bias": {"weights": _zeros(_attn_bias)},
                   "sliding_window": {"config": {"use_sliding_window": False}}}),
    dict(name="qwen2_bf16", seed=602, dtype="bfloat16", tokenizer="mistral",
         config=dict(QWEN2, use_sliding_window=False, tie_word_embeddings=False),
         note="Qwen2.5 Hub style: sliding_window set with use_sliding_window false (no window), BF16, untied",
         features={"qkv_bias": {"weights": _zeros(_attn_bias)}}),
    dict(name="qwen3", config=QWEN3, seed=611, tokenizer="mistral",
         note="Qwen3: per-head q_norm / k_norm before rope, head_dim 16 != 32/4, layer 1 slides",
         features={"qk_norm_weights": {"weights": _ones(lambda k: "q_norm" in k or "k_norm" in k)},
                   "sliding_window": {"config": {"use_sliding_window": False}}}),
    dict(name="qwen3_bf16", config=dict(QWEN3, attention_bias=True), seed=612, dtype="bfloat16", tokenizer="mistral",
         note="Qwen3 in BF16 with attention_bias",
         features={"attention_bias": {"weights": _zeros(_attn_bias)}}),
    dict(name="gemma2", config=GEMMA2, seed=621, tokenizer="mistral",
         note="Gemma-2: (1 + w) RMSNorm, four norms per block, embeddings x sqrt(hidden), gelu_pytorch_tanh, "
              "query_pre_attn_scalar 24, attention and final soft-capping, local/global layers",
         features={"attn_softcap": {"config": {"attn_logit_softcapping": None}},
                   "final_softcap": {"config": {"final_logit_softcapping": None}, "on": "logits"},
                   "sliding_window": {"config": {"layer_types": ["full_attention", "full_attention"]}},
                   "post_norm_weights": {"weights": _zeros(lambda k: "post_" in k and "layernorm" in k)}}),
    dict(name="gemma2_bf16", config=_big(GEMMA2), seed=622, dtype="bfloat16", tokenizer="mistral",
         note="Gemma-2 in BF16 at hidden size 64",
         features={"attn_softcap": {"config": {"attn_logit_softcapping": None}}}),
    dict(name="gemma3_text", config=GEMMA3, seed=631, tokenizer="mistral",
         note="Gemma-3 text: q/k norms, local rope base 10000 on sliding layers, linear scaling on global ones only",
         features={"local_rope": {"config": {"rope_parameters": {
                       "sliding_attention": {"rope_type": "default", "rope_theta": 1000000.0},
                       "full_attention": {"rope_type": "linear", "rope_theta": 1000000.0, "factor": 4.0}}}},
                   "global_rope_scaling": {"config": {"rope_parameters": {
                       "sliding_attention": {"rope_type": "default", "rope_theta": 10000.0},
                       "full_attention": {"rope_type": "default", "rope_theta": 1000000.0}}}},
                   "qk_norm_weights": {"weights": _zeros(lambda k: "q_norm" in k or "k_norm" in k)},
                   "final_softcap": {"config": {"final_logit_softcapping": None}, "on": "logits"}}),
    dict(name="gemma3_bf16", config=_big(GEMMA3), seed=632, dtype="bfloat16", tokenizer="mistral",
         note="Gemma-3 text in BF16 at hidden size 64",
         features={"qk_norm_weights": {"weights": _zeros(lambda k: "q_norm" in k or "k_norm" in k)}}),
    dict(name="gemma3_cg", config=_gemma3_cg(), seed=633, tokenizer="mistral",
         note="Gemma3ForConditionalGeneration: text_config, language_model.model. tensors, a vision tower the "
              "runtime ignores, no final soft-capping",
         features={"qk_norm_weights": {"weights": _zeros(lambda k: "q_norm" in k or "k_norm" in k)}}),
    dict(name="phi3", config=PHI3, seed=641, tokenizer="mistral",
         note="Phi-3: fused qkv_proj and gate_up_proj, partial_rotary_factor 0.5, longrope past "
              "original_max_position_embeddings 16 (generation recomputes the cache when it crosses it)",
         features={"longrope": {"config": {"rope_parameters": {"rope_type": "default", "rope_theta": 10000.0}}},
                   "partial_rotary": {"config": {"partial_rotary_factor": 1.0, "rope_parameters": {
                       "rope_type": "default", "rope_theta": 10000.0}}}}),
    dict(name="phi3_bf16", config=dict(PHI3, num_key_value_heads=2), seed=642, dtype="bfloat16", tokenizer="mistral",
         note="Phi-3 in BF16, GQA 4:2 in the fused qkv_proj",
         features={"longrope": {"config": {"rope_parameters": {"rope_type": "default", "rope_theta": 10000.0}}}}),
    dict(name="llama_yarn", seed=651, tokenizer="mistral",
         config=dict(LLAMA, rope_parameters={"rope_type": "yarn", "rope_theta": 10000.0, "factor": 4.0,
                                             "original_max_position_embeddings": 16}),
         note="Llama with yarn rope (factor 4 over 16 positions; attention factor 0.1 ln 4 + 1)",
         features={"yarn": {"config": {"rope_parameters": {"rope_type": "default", "rope_theta": 10000.0}}}}),
    dict(name="llama_dynamic", seed=652, tokenizer="mistral",
         config=dict(LLAMA, rope_parameters={"rope_type": "dynamic", "rope_theta": 10000.0, "factor": 4.0}),
         note="Llama with dynamic rope: below max_position_embeddings it is the default rope"),
    dict(name="llama_longrope", seed=653, tokenizer="mistral",
         config=dict(LLAMA, rope_parameters={"rope_type": "longrope", "rope_theta": 10000.0,
                                             "original_max_position_embeddings": 16,
                                             "short_factor": [1.0, 1.2, 1.5, 2.0], "long_factor": [2.0, 3.0, 5.0, 8.0]}),
         note="Llama with longrope: long factors once a call passes 16 positions; cached keys keep theirs",
         features={"longrope": {"config": {"rope_parameters": {"rope_type": "default", "rope_theta": 10000.0}}}}),
    dict(name="opt_noaffine", seed=661, tokenizer="gpt2",
         config=dict(model_type="opt", hidden_size=32, ffn_dim=64, num_attention_heads=4, num_hidden_layers=2,
                     max_position_embeddings=64, vocab_size=300, word_embed_proj_dim=32, bos_token_id=299,
                     eos_token_id=299, pad_token_id=1, layer_norm_elementwise_affine=False),
         note="OPT with layer_norm_elementwise_affine false: layer norms without weight and bias",
         features={"biases": {"weights": _zeros(lambda k: k.endswith(".bias"))}}),
]
