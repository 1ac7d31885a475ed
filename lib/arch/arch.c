/* The architecture table: one row per model family (see arch.h). */
#include "arch/arch.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "io/model_impl.h"
#include "profs/edit.h"

#define L_ PF_TL_LINEAR
#define C_ PF_TL_CONV1D
#define V_ PF_TL_VECTOR
#define VAL PF_ROLE_VALUE
#define KEY PF_ROLE_KEY
#define END {0, NULL, 0, 0, 0, 0, 0, 0, 0}

/* ---- tensor rows ---- */

static const pf_tensor_row gpt2_layer[] = {
    {PF_LN1_W, "h.%zu.ln_1.weight", V_, 0, 0, 0, 1, 0, 0}, {PF_LN1_B, "h.%zu.ln_1.bias", V_, 0, 0, 0, 1, 0, 0},
    {PF_QKV_W, "h.%zu.attn.c_attn.weight", C_, 0, 0, 0, 1, 0, 0},
    {PF_QKV_B, "h.%zu.attn.c_attn.bias", V_, 0, 0, 0, 1, 0, 0},
    {PF_O_W, "h.%zu.attn.c_proj.weight", C_, 0, 0, 0, 1, 0, 0}, {PF_O_B, "h.%zu.attn.c_proj.bias", V_, 0, 0, 0, 1, 0, 0},
    {PF_LN2_W, "h.%zu.ln_2.weight", V_, 0, 0, 0, 1, 0, 0}, {PF_LN2_B, "h.%zu.ln_2.bias", V_, 0, 0, 0, 1, 0, 0},
    {PF_UP_W, "h.%zu.mlp.c_fc.weight", C_, KEY, 0, 0, 1, 0, 0}, {PF_UP_B, "h.%zu.mlp.c_fc.bias", V_, 0, 0, 0, 1, 0, 0},
    {PF_DOWN_W, "h.%zu.mlp.c_proj.weight", C_, VAL, 0, 0, 1, 0, 0},
    {PF_DOWN_B, "h.%zu.mlp.c_proj.bias", V_, 0, 0, 0, 1, 0, 0},
    END};
static const pf_tensor_row gpt2_global[] = {
    {PF_G_EMBED, "wte.weight", L_, 0, 0, 0, 1, 0, 0}, {PF_G_POS, "wpe.weight", L_, 0, 0, 0, 1, 0, 0},
    {PF_G_NORM_W, "ln_f.weight", V_, 0, 0, 0, 1, 0, 0}, {PF_G_NORM_B, "ln_f.bias", V_, 0, 0, 0, 1, 0, 0},
    {PF_G_HEAD_W, "lm_head.weight", L_, 0, PF_IF_UNTIED, 0, 1, 1, 0},
    END};

static const pf_tensor_row gptj_layer[] = {
    {PF_LN1_W, "h.%zu.ln_1.weight", V_, 0, 0, 0, 1, 0, 0}, {PF_LN1_B, "h.%zu.ln_1.bias", V_, 0, 0, 0, 1, 0, 0},
    {PF_Q_W, "h.%zu.attn.q_proj.weight", L_, 0, 0, 0, 1, 0, 0}, {PF_K_W, "h.%zu.attn.k_proj.weight", L_, 0, 0, 0, 1, 0, 0},
    {PF_V_W, "h.%zu.attn.v_proj.weight", L_, 0, 0, 0, 1, 0, 0},
    {PF_O_W, "h.%zu.attn.out_proj.weight", L_, 0, 0, 0, 1, 0, 0},
    {PF_UP_W, "h.%zu.mlp.fc_in.weight", L_, KEY, 0, 0, 1, 0, 0}, {PF_UP_B, "h.%zu.mlp.fc_in.bias", V_, 0, 0, 0, 1, 0, 0},
    {PF_DOWN_W, "h.%zu.mlp.fc_out.weight", L_, VAL, 0, 0, 1, 0, 0},
    {PF_DOWN_B, "h.%zu.mlp.fc_out.bias", V_, 0, 0, 0, 1, 0, 0},
    END};
static const pf_tensor_row gptj_global[] = {
    {PF_G_EMBED, "wte.weight", L_, 0, 0, 0, 1, 0, 0},
    {PF_G_NORM_W, "ln_f.weight", V_, 0, 0, 0, 1, 0, 0}, {PF_G_NORM_B, "ln_f.bias", V_, 0, 0, 0, 1, 0, 0},
    {PF_G_HEAD_W, "lm_head.weight", L_, 0, PF_IF_UNTIED, 0, 1, 1, 0},
    {PF_G_HEAD_B, "lm_head.bias", V_, 0, 0, 0, 1, 1, 0}, /* kept when tied: tying shares only the weight */
    END};

static const pf_tensor_row opt_layer[] = {
    {PF_LN1_W, "layers.%zu.self_attn_layer_norm.weight", V_, 0, PF_IF_NORM_AFFINE, 0, 1, 0, 0},
    {PF_LN1_B, "layers.%zu.self_attn_layer_norm.bias", V_, 0, PF_IF_NORM_AFFINE, 0, 1, 0, 0},
    {PF_Q_W, "layers.%zu.self_attn.q_proj.weight", L_, 0, 0, 0, 1, 0, 0},
    {PF_Q_B, "layers.%zu.self_attn.q_proj.bias", V_, 0, PF_IF_ATTN_BIAS, 0, 1, 0, 0},
    {PF_K_W, "layers.%zu.self_attn.k_proj.weight", L_, 0, 0, 0, 1, 0, 0},
    {PF_K_B, "layers.%zu.self_attn.k_proj.bias", V_, 0, PF_IF_ATTN_BIAS, 0, 1, 0, 0},
    {PF_V_W, "layers.%zu.self_attn.v_proj.weight", L_, 0, 0, 0, 1, 0, 0},
    {PF_V_B, "layers.%zu.self_attn.v_proj.bias", V_, 0, PF_IF_ATTN_BIAS, 0, 1, 0, 0},
    {PF_O_W, "layers.%zu.self_attn.out_proj.weight", L_, 0, 0, 0, 1, 0, 0},
    {PF_O_B, "layers.%zu.self_attn.out_proj.bias", V_, 0, PF_IF_ATTN_BIAS, 0, 1, 0, 0},
    {PF_LN2_W, "layers.%zu.final_layer_norm.weight", V_, 0, PF_IF_NORM_AFFINE, 0, 1, 0, 0},
    {PF_LN2_B, "layers.%zu.final_layer_norm.bias", V_, 0, PF_IF_NORM_AFFINE, 0, 1, 0, 0},
    {PF_UP_W, "layers.%zu.fc1.weight", L_, KEY, 0, 0, 1, 0, 0},
    {PF_UP_B, "layers.%zu.fc1.bias", V_, 0, PF_IF_MLP_BIAS, 0, 1, 0, 0},
    {PF_DOWN_W, "layers.%zu.fc2.weight", L_, VAL, 0, 0, 1, 0, 0},
    {PF_DOWN_B, "layers.%zu.fc2.bias", V_, 0, PF_IF_MLP_BIAS, 0, 1, 0, 0},
    END};
static const pf_tensor_row opt_global[] = {
    {PF_G_EMBED, "embed_tokens.weight", L_, 0, 0, 0, 1, 0, 0},
    {PF_G_POS, "embed_positions.weight", L_, 0, 0, 0, 1, 0, 0},
    {PF_G_NORM_W, "final_layer_norm.weight", V_, 0, PF_IF_FINAL_NORM | PF_IF_NORM_AFFINE, 0, 1, 0, 0},
    {PF_G_NORM_B, "final_layer_norm.bias", V_, 0, PF_IF_FINAL_NORM | PF_IF_NORM_AFFINE, 0, 1, 0, 0},
    {PF_G_PROJ_IN, "project_in.weight", L_, 0, PF_IF_EMBED_PROJ, 0, 1, 0, 0},
    {PF_G_PROJ_OUT, "project_out.weight", L_, 0, PF_IF_EMBED_PROJ, 0, 1, 0, 0},
    {PF_G_HEAD_W, "lm_head.weight", L_, 0, PF_IF_UNTIED, 0, 1, 1, 0},
    END};

/* llama, mistral, qwen2, qwen3 (rows by condition), gemma (its four norms) */
#define LLAMA_ATTN(QB, OB)                                                                          \
    {PF_LN1_W, "layers.%zu.input_layernorm.weight", V_, 0, 0, 0, 1, 0, 0},                          \
    {PF_Q_W, "layers.%zu.self_attn.q_proj.weight", L_, 0, 0, 0, 1, 0, 0},                           \
    {PF_Q_B, "layers.%zu.self_attn.q_proj.bias", V_, 0, QB, 0, 1, 0, 0},                            \
    {PF_K_W, "layers.%zu.self_attn.k_proj.weight", L_, 0, 0, 0, 1, 0, 0},                           \
    {PF_K_B, "layers.%zu.self_attn.k_proj.bias", V_, 0, QB, 0, 1, 0, 0},                            \
    {PF_V_W, "layers.%zu.self_attn.v_proj.weight", L_, 0, 0, 0, 1, 0, 0},                           \
    {PF_V_B, "layers.%zu.self_attn.v_proj.bias", V_, 0, QB, 0, 1, 0, 0},                            \
    {PF_O_W, "layers.%zu.self_attn.o_proj.weight", L_, 0, 0, 0, 1, 0, 0},                           \
    {PF_O_B, "layers.%zu.self_attn.o_proj.bias", V_, 0, OB, 0, 1, 0, 0}
#define GATED_MLP(B)                                                                                \
    {PF_GATE_W, "layers.%zu.mlp.gate_proj.weight", L_, KEY, 0, 0, 1, 0, 0},                         \
    {PF_GATE_B, "layers.%zu.mlp.gate_proj.bias", V_, 0, B, 0, 1, 0, 0},                             \
    {PF_UP_W, "layers.%zu.mlp.up_proj.weight", L_, KEY, 0, 0, 1, 0, 0},                             \
    {PF_UP_B, "layers.%zu.mlp.up_proj.bias", V_, 0, B, 0, 1, 0, 0},                                 \
    {PF_DOWN_W, "layers.%zu.mlp.down_proj.weight", L_, VAL, 0, 0, 1, 0, 0},                         \
    {PF_DOWN_B, "layers.%zu.mlp.down_proj.bias", V_, 0, B, 0, 1, 0, 0}
#define LLAMA_MLP GATED_MLP(PF_IF_MLP_BIAS)
#define PLAIN_MLP GATED_MLP(PF_IF_NEVER)
#define QK_NORM                                                                                     \
    {PF_QNORM_W, "layers.%zu.self_attn.q_norm.weight", V_, 0, 0, 0, 1, 0, 0},                       \
    {PF_KNORM_W, "layers.%zu.self_attn.k_norm.weight", V_, 0, 0, 0, 1, 0, 0}

static const pf_tensor_row llama_layer[] = {
    LLAMA_ATTN(PF_IF_ATTN_BIAS, PF_IF_ATTN_BIAS),
    {PF_LN2_W, "layers.%zu.post_attention_layernorm.weight", V_, 0, 0, 0, 1, 0, 0},
    LLAMA_MLP, END};
static const pf_tensor_row qwen2_layer[] = {
    LLAMA_ATTN(PF_IF_ALWAYS, PF_IF_NEVER),
    {PF_LN2_W, "layers.%zu.post_attention_layernorm.weight", V_, 0, 0, 0, 1, 0, 0},
    PLAIN_MLP, END};
static const pf_tensor_row qwen3_layer[] = {
    LLAMA_ATTN(PF_IF_ATTN_BIAS, PF_IF_ATTN_BIAS), QK_NORM,
    {PF_LN2_W, "layers.%zu.post_attention_layernorm.weight", V_, 0, 0, 0, 1, 0, 0},
    PLAIN_MLP, END};
static const pf_tensor_row llama_global[] = {
    {PF_G_EMBED, "embed_tokens.weight", L_, 0, 0, 0, 1, 0, 0}, {PF_G_NORM_W, "norm.weight", V_, 0, 0, 0, 1, 0, 0},
    {PF_G_HEAD_W, "lm_head.weight", L_, 0, PF_IF_UNTIED, 0, 1, 1, 0},
    END};

#define GEMMA_NORMS                                                                                 \
    {PF_ATTN_OUT_NORM_W, "layers.%zu.post_attention_layernorm.weight", V_, 0, 0, 0, 1, 0, 0},       \
    {PF_LN2_W, "layers.%zu.pre_feedforward_layernorm.weight", V_, 0, 0, 0, 1, 0, 0},                \
    {PF_MLP_OUT_NORM_W, "layers.%zu.post_feedforward_layernorm.weight", V_, 0, 0, 0, 1, 0, 0}
static const pf_tensor_row gemma2_layer[] = {
    LLAMA_ATTN(PF_IF_ATTN_BIAS, PF_IF_ATTN_BIAS), GEMMA_NORMS, PLAIN_MLP, END};
static const pf_tensor_row gemma3_layer[] = {
    LLAMA_ATTN(PF_IF_ATTN_BIAS, PF_IF_ATTN_BIAS), QK_NORM, GEMMA_NORMS, PLAIN_MLP, END};

static const pf_tensor_row phi3_layer[] = {
    {PF_LN1_W, "layers.%zu.input_layernorm.weight", V_, 0, 0, 0, 1, 0, 0},
    {PF_QKV_W, "layers.%zu.self_attn.qkv_proj.weight", L_, 0, 0, 0, 1, 0, 0},
    {PF_O_W, "layers.%zu.self_attn.o_proj.weight", L_, 0, 0, 0, 1, 0, 0},
    {PF_LN2_W, "layers.%zu.post_attention_layernorm.weight", V_, 0, 0, 0, 1, 0, 0},
    /* gate_up_proj [2F, D]: rows [0, F) gate, [F, 2F) up; both are key matrices */
    {PF_GATE_W, "layers.%zu.mlp.gate_up_proj.weight", L_, KEY, 0, 0, 2, 0, 0},
    {PF_UP_W, "layers.%zu.mlp.gate_up_proj.weight", L_, KEY, 0, 1, 2, 0, 0},
    {PF_DOWN_W, "layers.%zu.mlp.down_proj.weight", L_, VAL, 0, 0, 1, 0, 0},
    END};

/* mixture of experts: rows by layer kind (PF_IF_SPARSE / PF_IF_DENSE) and by the checkpoint's expert layout */
#define SP PF_IF_SPARSE
#define EACH (PF_IF_SPARSE | PF_IF_EXPERTS_EACH)
#define FUSED (PF_IF_SPARSE | PF_IF_EXPERTS_FUSED)
#define FUSED_EXPERTS                                                                               \
    {PF_EXP_GATE, "layers.%zu.mlp.experts.gate_up_proj", L_, KEY, FUSED, 0, 2, 0, PF_EXPERT_FUSED},  \
    {PF_EXP_UP, "layers.%zu.mlp.experts.gate_up_proj", L_, KEY, FUSED, 1, 2, 0, PF_EXPERT_FUSED},    \
    {PF_EXP_DOWN, "layers.%zu.mlp.experts.down_proj", L_, VAL, FUSED, 0, 1, 0, PF_EXPERT_FUSED}
#define QWEN_EXPERTS                                                                                \
    {PF_ROUTER_W, "layers.%zu.mlp.gate.weight", L_, 0, SP, 0, 1, 0, 0},                             \
    {PF_EXP_GATE, "layers.%zu.mlp.experts.%zu.gate_proj.weight", L_, KEY, EACH, 0, 1, 0, PF_EXPERT_EACH}, \
    {PF_EXP_UP, "layers.%zu.mlp.experts.%zu.up_proj.weight", L_, KEY, EACH, 0, 1, 0, PF_EXPERT_EACH},     \
    {PF_EXP_DOWN, "layers.%zu.mlp.experts.%zu.down_proj.weight", L_, VAL, EACH, 0, 1, 0, PF_EXPERT_EACH}, \
    FUSED_EXPERTS
#define DENSE_MLP                                                                                   \
    {PF_GATE_W, "layers.%zu.mlp.gate_proj.weight", L_, KEY, PF_IF_DENSE, 0, 1, 0, 0},               \
    {PF_UP_W, "layers.%zu.mlp.up_proj.weight", L_, KEY, PF_IF_DENSE, 0, 1, 0, 0},                   \
    {PF_DOWN_W, "layers.%zu.mlp.down_proj.weight", L_, VAL, PF_IF_DENSE, 0, 1, 0, 0}

static const pf_tensor_row mixtral_layer[] = {
    LLAMA_ATTN(PF_IF_NEVER, PF_IF_NEVER),
    {PF_LN2_W, "layers.%zu.post_attention_layernorm.weight", V_, 0, 0, 0, 1, 0, 0},
    {PF_ROUTER_W, "layers.%zu.block_sparse_moe.gate.weight", L_, 0, EACH, 0, 1, 0, 0},
    {PF_ROUTER_W, "layers.%zu.mlp.gate.weight", L_, 0, FUSED, 0, 1, 0, 0},
    {PF_EXP_GATE, "layers.%zu.block_sparse_moe.experts.%zu.w1.weight", L_, KEY, EACH, 0, 1, 0, PF_EXPERT_EACH},
    {PF_EXP_UP, "layers.%zu.block_sparse_moe.experts.%zu.w3.weight", L_, KEY, EACH, 0, 1, 0, PF_EXPERT_EACH},
    {PF_EXP_DOWN, "layers.%zu.block_sparse_moe.experts.%zu.w2.weight", L_, VAL, EACH, 0, 1, 0, PF_EXPERT_EACH},
    FUSED_EXPERTS, END};
static const pf_tensor_row qwen2_moe_layer[] = {
    LLAMA_ATTN(PF_IF_QKV_BIAS, PF_IF_NEVER),
    {PF_LN2_W, "layers.%zu.post_attention_layernorm.weight", V_, 0, 0, 0, 1, 0, 0},
    DENSE_MLP, QWEN_EXPERTS,
    {PF_SH_GATE_W, "layers.%zu.mlp.shared_expert.gate_proj.weight", L_, KEY, SP, 0, 1, 0, 0},
    {PF_SH_UP_W, "layers.%zu.mlp.shared_expert.up_proj.weight", L_, KEY, SP, 0, 1, 0, 0},
    {PF_SH_DOWN_W, "layers.%zu.mlp.shared_expert.down_proj.weight", L_, VAL, SP, 0, 1, 0, 0},
    {PF_SH_GATE, "layers.%zu.mlp.shared_expert_gate.weight", L_, 0, SP, 0, 1, 0, 0},
    END};
static const pf_tensor_row qwen3_moe_layer[] = {
    LLAMA_ATTN(PF_IF_ATTN_BIAS, PF_IF_ATTN_BIAS), QK_NORM,
    {PF_LN2_W, "layers.%zu.post_attention_layernorm.weight", V_, 0, 0, 0, 1, 0, 0},
    DENSE_MLP, QWEN_EXPERTS, END};

/* ---- key maps ---- */

#define REQ NAN
#define HF_KEYS(EPS, ACT, ACTDEF, HEADDIM)                                                          \
    {{"num_hidden_layers", REQ, NULL}, {"hidden_size", REQ, NULL}, {"num_attention_heads", REQ, NULL}, \
     {"num_key_value_heads", -1, NULL}, {"intermediate_size", REQ, NULL}, {"vocab_size", REQ, NULL},   \
     {"max_position_embeddings", REQ, NULL}, {"head_dim", HEADDIM, NULL}, {"rms_norm_eps", EPS, NULL}, \
     {ACT, 0, ACTDEF}}
#define GPT_KEYS(ACT)                                                                               \
    {{"n_layer", REQ, NULL}, {"n_embd", REQ, NULL}, {"n_head", REQ, NULL}, {NULL, -1, NULL},        \
     {"n_inner", 0, NULL}, {"vocab_size", REQ, NULL}, {"n_positions", REQ, NULL}, {NULL, 0, NULL},  \
     {"layer_norm_epsilon", 1e-5, NULL}, {"activation_function", 0, ACT}}

/* features: norm, plus_one, rope, rope_scaling, partial_rotary, gated, parallel, learned_pos, qk_norm,
 * post_norms, embed_scale, softcap, final_softcap, query_scalar, local_rope, sliding, tied_default, router,
 * rope_recompute */
static const pf_family table[] = {
    {"gpt2", {"gpt2", NULL}, {"GPT2LMHeadModel", "GPT2Model", NULL}, "", {"transformer.", "", NULL},
     GPT_KEYS("gelu_new"),
     {PF_NORM_LAYER, 0, PF_ROPE_NONE, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, PF_SW_NONE, 1, 0, 0},
     gpt2_layer, gpt2_global, PF_Q_GPT2, 10, 24},
    {"mistral", {"mistral", NULL}, {"MistralForCausalLM", "MistralModel", NULL}, "", {"model.", "", NULL},
     HF_KEYS(1e-6, "hidden_act", "silu", 0),
     {PF_NORM_RMS, 0, PF_ROPE_HALF, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, PF_SW_ALL, 0, 0, 0},
     llama_layer, llama_global, PF_Q_MISTRAL, 15, 32},
    {"llama", {"llama", NULL}, {"LlamaForCausalLM", "LlamaModel", NULL}, "", {"model.", "", NULL},
     HF_KEYS(1e-6, "hidden_act", "silu", 0),
     {PF_NORM_RMS, 0, PF_ROPE_HALF, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, PF_SW_NONE, 0, 0, 0},
     llama_layer, llama_global, PF_Q_LLAMA, 15, 32},
    {"qwen2", {"qwen2", NULL}, {"Qwen2ForCausalLM", "Qwen2Model", NULL}, "", {"model.", "", NULL},
     HF_KEYS(1e-6, "hidden_act", "silu", 0),
     {PF_NORM_RMS, 0, PF_ROPE_HALF, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, PF_SW_QWEN2, 0, 0, 0},
     qwen2_layer, llama_global, PF_Q_QWEN2, 15, 32},
    {"qwen3", {"qwen3", NULL}, {"Qwen3ForCausalLM", "Qwen3Model", NULL}, "", {"model.", "", NULL},
     HF_KEYS(1e-6, "hidden_act", "silu", 128),
     {PF_NORM_RMS, 0, PF_ROPE_HALF, 1, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, PF_SW_QWEN2, 0, 0, 0},
     qwen3_layer, llama_global, PF_Q_LLAMA, 15, 32},
    {"gemma2", {"gemma2", NULL}, {"Gemma2ForCausalLM", "Gemma2Model", NULL}, "", {"model.", "", NULL},
     HF_KEYS(1e-6, "hidden_activation", "gelu_pytorch_tanh", 256),
     {PF_NORM_RMS, 1, PF_ROPE_HALF, 1, 0, 1, 0, 0, 0, 1, 1, 2, 1, 1, 0, PF_SW_ALTERNATE, 1, 0, 0},
     gemma2_layer, llama_global, PF_Q_GEMMA, 15, 32},
    {"gemma3_text", {"gemma3_text", NULL}, {"Gemma3ForCausalLM", "Gemma3TextModel", NULL}, "", {"model.", "", NULL},
     HF_KEYS(1e-6, "hidden_activation", "gelu_pytorch_tanh", 256),
     {PF_NORM_RMS, 1, PF_ROPE_HALF, 1, 0, 1, 0, 0, 1, 1, 1, 1, 1, 1, 1, PF_SW_ALTERNATE, 1, 0, 0},
     gemma3_layer, llama_global, PF_Q_GEMMA, 15, 32},
    /* Gemma3ForConditionalGeneration: the text model under text_config and language_model.model.,
     * the vision tower ignored, final_logit_softcapping not applied (as transformers does) */
    {"gemma3", {"gemma3", NULL}, {"Gemma3ForConditionalGeneration", NULL}, "text_config.",
     {"language_model.model.", "model.language_model.", NULL},
     HF_KEYS(1e-6, "hidden_activation", "gelu_pytorch_tanh", 256),
     {PF_NORM_RMS, 1, PF_ROPE_HALF, 1, 0, 1, 0, 0, 1, 1, 1, 1, 0, 1, 1, PF_SW_ALTERNATE, 1, 0, 0},
     gemma3_layer, llama_global, PF_Q_GEMMA, 15, 32},
    {"phi3", {"phi3", NULL}, {"Phi3ForCausalLM", "Phi3Model", NULL}, "", {"model.", "", NULL},
     HF_KEYS(1e-5, "hidden_act", "silu", 0),
     {PF_NORM_RMS, 0, PF_ROPE_HALF, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, PF_SW_ALL, 0, 0, 1},
     phi3_layer, llama_global, PF_Q_PHI3, 15, 32},
    {"opt", {"opt", NULL}, {"OPTForCausalLM", "OPTModel", NULL}, "", {"model.decoder.", "decoder.", NULL},
     {{"num_hidden_layers", REQ, NULL}, {"hidden_size", REQ, NULL}, {"num_attention_heads", REQ, NULL},
      {NULL, -1, NULL}, {"ffn_dim", REQ, NULL}, {"vocab_size", REQ, NULL}, {"max_position_embeddings", REQ, NULL},
      {NULL, 0, NULL}, {NULL, 1e-5, NULL}, {"activation_function", 0, "relu"}},
     {PF_NORM_LAYER, 0, PF_ROPE_NONE, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, PF_SW_NONE, 1, 0, 0},
     opt_layer, opt_global, PF_Q_OPT, 15, 32},
    {"gptj", {"gptj", NULL}, {"GPTJForCausalLM", "GPTJModel", NULL}, "", {"transformer.", "", NULL},
     GPT_KEYS("gelu_new"),
     {PF_NORM_LAYER, 0, PF_ROPE_INTERLEAVED, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, PF_SW_NONE, 0, 0, 0},
     gptj_layer, gptj_global, PF_Q_GPTJ, 15, 32},
    {"mixtral", {"mixtral", NULL}, {"MixtralForCausalLM", "MixtralModel", NULL}, "", {"model.", "", NULL},
     HF_KEYS(1e-5, "hidden_act", "silu", 0),
     {PF_NORM_RMS, 0, PF_ROPE_HALF, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, PF_SW_ALL, 0, 1, 0},
     mixtral_layer, llama_global, PF_Q_MOE, 15, 32},
    {"qwen2_moe", {"qwen2_moe", NULL}, {"Qwen2MoeForCausalLM", "Qwen2MoeModel", NULL}, "", {"model.", "", NULL},
     HF_KEYS(1e-6, "hidden_act", "silu", 0),
     {PF_NORM_RMS, 0, PF_ROPE_HALF, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, PF_SW_QWEN2_MOE, 0, 1, 0},
     qwen2_moe_layer, llama_global, PF_Q_MOE, 15, 32},
    {"qwen3_moe", {"qwen3_moe", NULL}, {"Qwen3MoeForCausalLM", "Qwen3MoeModel", NULL}, "", {"model.", "", NULL},
     HF_KEYS(1e-6, "hidden_act", "silu", 0),
     {PF_NORM_RMS, 0, PF_ROPE_HALF, 1, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, PF_SW_USE, 0, 1, 0},
     qwen3_moe_layer, llama_global, PF_Q_MOE, 15, 32},
};
#define N_FAM (sizeof table / sizeof *table)

size_t pf_arch_count(void) { return N_FAM; }
const pf_family *pf_arch_at(size_t i) { return i < N_FAM ? &table[i] : NULL; }

const char *pf_arch_supported(void)
{
    return "gpt2, mistral, llama, qwen2, qwen3, gemma2, gemma3_text, gemma3, phi3, opt, gptj, mixtral, qwen2_moe, "
           "qwen3_moe";
}

const pf_family *pf_arch_by_name(const char *name)
{
    if (!name) return NULL;
    for (size_t i = 0; i < N_FAM; i++)
        if (!strcmp(table[i].name, name)) return &table[i];
    for (size_t i = 0; i < N_FAM; i++)
        for (int j = 0; table[i].model_types[j]; j++)
            if (!strcmp(table[i].model_types[j], name)) return &table[i];
    return NULL;
}

int pf_arch_identify(const pf_family **out, const profs_model *m)
{
    *out = NULL;
    const char *mt = NULL, *cls = NULL;
    if (profs_model_config_string(m, "model_type", &mt) != PROFS_OK) mt = NULL;
    if (profs_model_config_array_string(m, "architectures", 0, &cls) != PROFS_OK) cls = NULL;
    for (size_t i = 0; i < N_FAM; i++) {
        for (int j = 0; mt && table[i].model_types[j]; j++)
            if (!strcmp(table[i].model_types[j], mt)) { *out = &table[i]; return PROFS_OK; }
        for (int j = 0; !mt && cls && table[i].classes[j]; j++)
            if (!strcmp(table[i].classes[j], cls)) { *out = &table[i]; return PROFS_OK; }
    }
    if (mt)
        return pf_error(PROFS_EUNSUPPORTED, "%s: config.json: model_type '%s' is not supported (supported: %s)",
                        profs_model_path(m), mt, pf_arch_supported());
    if (cls)
        return pf_error(PROFS_EUNSUPPORTED, "%s: config.json: architectures '%s' is not supported (supported: %s)",
                        profs_model_path(m), cls, pf_arch_supported());
    return PROFS_OK;
}

const pf_tensor_row *pf_arch_row(const pf_family *f, int global, int slot)
{
    for (const pf_tensor_row *r = global ? f->global : f->layer; r->pattern; r++)
        if (r->slot == slot) return r;
    return NULL;
}

void pf_arch_name(char *buf, size_t n, const pf_family *f, const char *prefix, const pf_tensor_row *row,
                  size_t layer, size_t expert)
{
    (void)f;
    char tail[256];
    snprintf(tail, sizeof tail, row->pattern, layer, expert);
    snprintf(buf, n, "%s%s", row->root ? "" : prefix, tail);
}

const char *pf_arch_find_prefix(const pf_family *f, const profs_model *m, const pf_tensor_row *row)
{
    char name[320];
    for (int p = 0; f->prefixes[p]; p++) {
        pf_arch_name(name, sizeof name, f, f->prefixes[p], row, 0, 0);
        if (profs_model_has_tensor(m, name)) return f->prefixes[p];
    }
    return NULL;
}

void pf_arch_slot_dims(int slot, size_t D, size_t F, size_t Q, size_t KV, size_t head_dim, size_t *out, size_t *in)
{
    *in = 0;
    switch (slot) {
    case PF_QKV_W: *out = Q + 2 * KV; *in = D; break;
    case PF_QKV_B: *out = Q + 2 * KV; break;
    case PF_Q_W: *out = Q; *in = D; break;
    case PF_Q_B: *out = Q; break;
    case PF_K_W: case PF_V_W: *out = KV; *in = D; break;
    case PF_K_B: case PF_V_B: *out = KV; break;
    case PF_O_W: *out = D; *in = Q; break;
    case PF_GATE_W: case PF_UP_W: *out = F; *in = D; break;
    case PF_GATE_B: case PF_UP_B: *out = F; break;
    case PF_DOWN_W: *out = D; *in = F; break;
    case PF_QNORM_W: case PF_KNORM_W: *out = head_dim; break;
    default: *out = D; break;
    }
}

int pf_arch_edit_layout(const pf_tensor_row *row)
{
    int conv = row->layout == PF_TL_CONV1D;
    if (row->role == PF_ROLE_VALUE) return conv ? PROFS_LAYOUT_D_LAST : PROFS_LAYOUT_D_FIRST;
    return conv ? PROFS_LAYOUT_D_FIRST : PROFS_LAYOUT_D_LAST;
}

/* ---- mixture of experts ---- */

int pf_arch_row_present(const pf_tensor_row *r, unsigned flags, const pf_moe_info *mi, size_t l)
{
    unsigned have = flags;
    have |= mi && mi->sparse && mi->sparse[l] ? PF_IF_SPARSE : PF_IF_DENSE;
    if (mi) have |= mi->layout;
    return (have & r->present_if) == r->present_if;
}

static int moe_int(const profs_model *m, const pf_family *f, const char *key, int64_t *out)
{
    char full[160];
    snprintf(full, sizeof full, "%s%s", f->config_prefix, key);
    int rc = profs_model_config_int(m, full, out);
    if (rc == PROFS_OK) return 1;
    if (rc == PROFS_ENOTFOUND || pf_model_config_is_null(m, full)) return 0;
    return pf_error(PROFS_EFORMAT, "%s: config.json: field '%s' is not an integer", profs_model_path(m), full);
}

int pf_arch_moe_info(pf_moe_info *out, const pf_family *f, const profs_model *m, const char *prefix, size_t n_layers)
{
    memset(out, 0, sizeof *out);
    int mix = !strcmp(f->name, "mixtral");
    int64_t nl = -1, ne = -1, step = 1, v;
    int a = moe_int(m, f, "num_local_experts", &nl), b = moe_int(m, f, "num_experts", &ne);
    if (a < 0) return a;
    if (b < 0) return b;
    if (a && b && nl != ne)
        return pf_error(PROFS_EFORMAT, "%s: config.json: num_local_experts %lld and num_experts %lld disagree",
                        profs_model_path(m), (long long)nl, (long long)ne);
    int64_t E = a ? nl : b ? ne : mix ? 8 : !strcmp(f->name, "qwen2_moe") ? 60 : 128; /* the config classes' defaults */
    out->experts_key = a ? "num_local_experts" : b ? "num_experts" : "";
    if (E < (mix ? 1 : 0) || E > 1 << 20)
        return pf_error(PROFS_EFORMAT, "%s: config.json: field '%s' = %lld is out of range", profs_model_path(m),
                        a ? "num_local_experts" : "num_experts", (long long)E);
    out->n_experts = (size_t)E;
    if (!E) return PROFS_OK; /* Qwen with num_experts 0: every layer dense */
    int rc = mix ? 0 : moe_int(m, f, "decoder_sparse_step", &step);
    if (rc < 0) return rc;
    if (step < 1)
        return pf_error(PROFS_EFORMAT, "%s: config.json: field 'decoder_sparse_step' = %lld must be positive",
                        profs_model_path(m), (long long)step);
    out->sparse = malloc(n_layers ? n_layers : 1);
    if (!out->sparse) return pf_enomem("MoE layers");
    for (size_t l = 0; l < n_layers; l++) out->sparse[l] = mix || (l + 1) % (size_t)step == 0;
    size_t n_only = 0;
    if (!mix && profs_model_config_array_size(m, "mlp_only_layers", &n_only) == PROFS_OK)
        for (size_t i = 0; i < n_only; i++) {
            if (profs_model_config_array_int(m, "mlp_only_layers", i, &v) != PROFS_OK || v < 0 ||
                (uint64_t)v >= n_layers) {
                free(out->sparse);
                out->sparse = NULL;
                return pf_error(PROFS_EFORMAT, "%s: config.json: mlp_only_layers[%zu] is not a layer index below %zu",
                                profs_model_path(m), i, n_layers);
            }
            out->sparse[v] = 0;
        }
    size_t first = n_layers;
    for (size_t l = 0; l < n_layers && first == n_layers; l++)
        if (out->sparse[l]) first = l;
    if (first == n_layers) return PROFS_OK;
    /* the layout: the first sparse layer's expert down matrix, per expert or fused */
    char each[320] = "", fused[320] = "";
    for (const pf_tensor_row *r = f->layer; r->pattern; r++) {
        if (r->slot != PF_EXP_DOWN) continue;
        pf_arch_name(r->expert == PF_EXPERT_EACH ? each : fused, 320, f, prefix, r, first, 0);
    }
    if (profs_model_has_tensor(m, fused)) out->layout = PF_IF_EXPERTS_FUSED;
    else if (profs_model_has_tensor(m, each)) out->layout = PF_IF_EXPERTS_EACH;
    else {
        free(out->sparse);
        out->sparse = NULL;
        return pf_error(PROFS_ENOTFOUND, "%s: %s layer %zu: unknown expert layout: neither '%s' (per-expert tensors, "
                        "save_pretrained's default) nor '%s' (fused 3-D tensors) is present", profs_model_path(m),
                        f->name, first, each, fused);
    }
    return PROFS_OK;
}

/* ---- public queries ---- */

int profs_arch_default_first_layer(size_t *first, const char *arch, size_t n_layers)
{
    if (!first) return pf_error(PROFS_EINVAL, "profs_arch_default_first_layer: NULL argument");
    unsigned num = 15, den = 32;
    if (arch) {
        const pf_family *f = pf_arch_by_name(arch);
        if (!f)
            return pf_error(PROFS_EUNSUPPORTED, "architecture '%s' is not supported (supported: %s)", arch,
                            pf_arch_supported());
        num = f->first_num;
        den = f->first_den;
    }
    size_t l = n_layers <= 1 ? 0 : n_layers * num / den;
    *first = n_layers && l >= n_layers ? n_layers - 1 : l;
    return PROFS_OK;
}

int profs_arch_unembedding(char *buf, size_t size, const profs_model *m)
{
    if (!buf || !m || size == 0) return pf_error(PROFS_EINVAL, "profs_arch_unembedding: NULL argument");
    const pf_family *f = NULL;
    int rc = pf_arch_identify(&f, m);
    if (rc) return rc;
    const char *prefix = NULL;
    for (size_t i = 0; !f && i < N_FAM; i++) /* no config.json: the family whose embedding is there */
        if (pf_arch_find_prefix(&table[i], m, pf_arch_row(&table[i], 1, PF_G_EMBED))) f = &table[i];
    if (!f)
        return pf_error(PROFS_ENOTFOUND, "%s: no unembedding: no config.json and no known embedding tensor "
                        "(supported: %s)", profs_model_path(m), pf_arch_supported());
    const pf_tensor_row *er = pf_arch_row(f, 1, PF_G_EMBED), *hr = pf_arch_row(f, 1, PF_G_HEAD_W);
    prefix = pf_arch_find_prefix(f, m, er);
    char name[320];
    /* the head when the checkpoint has one (untied), else the tied embedding */
    pf_arch_name(name, sizeof name, f, prefix ? prefix : "", hr, 0, 0);
    if (!profs_model_has_tensor(m, name)) {
        if (!prefix)
            return pf_error(PROFS_ENOTFOUND, "%s: %s model without '%s' or an embedding '%s%s'", profs_model_path(m),
                            f->name, name, f->prefixes[0], er->pattern);
        pf_arch_name(name, sizeof name, f, prefix, er, 0, 0);
    }
    if (strlen(name) + 1 > size)
        return pf_error(PROFS_EINVAL, "profs_arch_unembedding: %zu bytes are too few for '%s'", size, name);
    memcpy(buf, name, strlen(name) + 1);
    return PROFS_OK;
}
