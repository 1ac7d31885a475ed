/* Internal: the transformer runtime's configuration, weights and forward pass. */
#ifndef PF_LM_INTERNAL_H
#define PF_LM_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "profs/lm.h"
#include "profs/model.h"

enum pf_arch { PF_ARCH_GPT2, PF_ARCH_LLAMA, PF_ARCH_OPT, PF_ARCH_GPTJ };
enum pf_act { PF_ACT_GELU_TANH, PF_ACT_GELU_ERF, PF_ACT_RELU, PF_ACT_SILU };
enum pf_rope { PF_ROPE_NONE, PF_ROPE_HALF, PF_ROPE_INTERLEAVED };

/* Per-layer weight slots. A slot with no name is absent for the architecture. */
enum pf_slot {
    PF_LN1_W, PF_LN1_B, PF_LN2_W, PF_LN2_B,
    PF_QKV_W, PF_QKV_B,            /* GPT-2 fused Conv1D c_attn [D, 3D] */
    PF_Q_W, PF_Q_B, PF_K_W, PF_K_B, PF_V_W, PF_V_B,
    PF_O_W, PF_O_B,
    PF_GATE_W, PF_GATE_B,          /* llama gate_proj */
    PF_UP_W, PF_UP_B,              /* llama up_proj, gpt2 c_fc, opt fc1, gptj fc_in */
    PF_DOWN_W, PF_DOWN_B,          /* llama down_proj, gpt2 c_proj, opt fc2, gptj fc_out */
    PF_QN_W, PF_KN_W,              /* qwen3_moe per-head RMSNorm of q and k [head_dim] */
    PF_ROUTER_W,                   /* MoE router [n_experts, D] */
    PF_SH_GATE_W, PF_SH_UP_W, PF_SH_DOWN_W, /* qwen2_moe shared expert [S, D], [S, D], [D, S] */
    PF_SH_GATE,                    /* qwen2_moe shared_expert_gate [1, D] (sigmoid) */
    PF_SLOT_COUNT
};

/* Global (non-layer) tensors. */
enum pf_gslot {
    PF_G_EMBED, PF_G_POS, PF_G_PROJ_IN, PF_G_PROJ_OUT, PF_G_NORM_W, PF_G_NORM_B,
    PF_G_HEAD_W, PF_G_HEAD_B, PF_GSLOT_COUNT
};

typedef struct pf_lm_config {
    int arch;
    char model_type[32];
    size_t n_layers, dim, n_heads, n_kv_heads, head_dim, ffn_dim, vocab, max_pos;
    size_t q_dim, kv_dim;          /* n_heads * head_dim, n_kv_heads * head_dim */
    double norm_eps;
    int rms_norm;                  /* llama family */
    int act;
    int parallel;                  /* gptj: attention and MLP both from ln_1 */
    int ln_before;                 /* 0 only for OPT with do_layer_norm_before = false */
    int has_final_norm;
    int rope;
    size_t rotary_dim;
    float *inv_freq;               /* (rotary_dim / 2) */
    size_t sliding_window;         /* 0: none */
    size_t pos_offset;             /* OPT: 2 */
    size_t embed_dim;              /* OPT word_embed_proj_dim (== dim elsewhere) */
    int tied;
    int opt_bias;                  /* OPT enable_bias (1 elsewhere, unused) */
    float attn_scale;              /* multiplies q.k */
    int scale_by_layer;            /* gpt2 scale_attn_by_inverse_layer_idx */
    size_t *layer_window;          /* (n_layers) sliding window per layer (0: none), or NULL: sliding_window */
    /* mixture of experts (moe.c); n_experts 0: dense */
    size_t n_experts, top_k, moe_ffn, shared_ffn; /* shared_ffn 0: no shared expert */
    int norm_topk;                 /* renormalise the top-k probabilities */
    unsigned char *moe_layer;      /* (n_layers) 1 where the block is sparse, or NULL */
} pf_lm_config;

/* One weight tensor as f32: borrowed from the mapping (F32, aligned) or converted. */
typedef struct pf_wt {
    const float *p;
    float *owned;
} pf_wt;

typedef struct pf_layer_w {
    pf_wt w[PF_SLOT_COUNT];
    int loaded;
} pf_layer_w;

/* Reused buffer for the converted weights of the streamed block: one
 * allocation for the whole run instead of fresh pages (and page faults) per block. */
typedef struct pf_arena {
    float *buf;
    size_t cap;        /* floats */
} pf_arena;

struct profs_lm {
    profs_model *model;            /* owned when own_model */
    int own_model;
    const profs_tokenizer *tok; /* owned when own_tok */
    int32_t eos_id;                /* -1: none */
    char tok_error[512];           /* why tokenizer.json could not be opened ("" when fine or absent) */
    int own_tok;
    pf_lm_config cfg;
    char **lname;                  /* (n_layers * PF_SLOT_COUNT) tensor names, NULL when absent */
    int *ltrans;                   /* (PF_SLOT_COUNT) 1 when stored [in, out] (Conv1D) */
    char *gname[PF_GSLOT_COUNT];   /* global tensor names, NULL when absent */
    /* options */
    size_t batch_tokens, max_length, resident_bytes;
    int pool_skip_bos;
    size_t att_rows;               /* query rows per attention block (128; tests lower it) */
    /* resident converted weights (all layers) when the model is small enough */
    pf_layer_w *cache;             /* (n_layers) or NULL */
    pf_arena *arena;               /* streaming conversion buffer (mutable through const lm) */
    pf_wt head;                    /* converted head when resident */
    /* expert tensors (moe.c): per-expert layout (n_layers * n_experts * 3: gate, up, down) or fused
     * (n_layers * 2: gate_up_proj [E, 2I, D], down_proj [E, D, I]); NULL for dense layers */
    char **ename;
    int moe_fused;
    pf_arena *earena;              /* one expert matrix in f32 at a time */
    /* tests: called with each sparse block's routing, sel and wt (T, top_k) in rank order */
    void (*route_cb)(void *ud, size_t layer, size_t n_tokens, const size_t *sel, const float *wt);
    void *route_ud;
};

/* A batch of sequences laid out back to back: sequence s has tokens
 * [start[s], start[s+1]) of the (T, D) activation matrix and absolute
 * positions past[s] .. past[s] + len - 1. */
typedef struct pf_batch {
    size_t n_seqs;
    const size_t *start;           /* (n_seqs + 1) */
    const size_t *past;            /* (n_seqs) tokens already in the KV cache, or NULL */
} pf_batch;

/* KV cache of one sequence: per layer (capacity, kv_dim) keys and values after RoPE. */
typedef struct pf_kv {
    size_t capacity, len;
    float **k, **v;                /* (n_layers) each (capacity, kv_dim) */
} pf_kv;

/* Called with the residual stream after the embedding (layer 0) and after block
 * l - 1 (layer l = 1..L): x is (T, D). Non-zero return aborts with that code. */
typedef int (*pf_layer_cb)(void *ud, size_t layer, const float *x, size_t n_tokens, size_t dim);

/* Run the embedding and all blocks over ids (T) laid out as batch; x (T, D) holds
 * the last block's raw output on return. kv may be NULL (single-sequence batch otherwise). */
int pf_lm_forward(const profs_lm *lm, float *x, const int32_t *ids, const pf_batch *b,
                  pf_kv *kv, pf_layer_cb cb, void *ud);

/* Final norm (+ OPT project_out) and head for the n rows of x (n, D), which is
 * modified; fn receives each row's logits (V) in order. Non-zero return aborts. */
typedef int (*pf_logits_cb)(void *ud, size_t row, float *logits);
int pf_lm_head(const profs_lm *lm, float *x, size_t n, pf_logits_cb fn, void *ud);
/* Make the converted weights resident when they fit the budget (no-op otherwise). */
int pf_lm_prepare(profs_lm *lm);

int pf_kv_init(pf_kv *kv, const profs_lm *lm, size_t capacity);
void pf_kv_free(pf_kv *kv, size_t n_layers);

/* Config parsing and tensor table (arch.c). */
int pf_lm_config_read(profs_lm *lm);
int pf_lm_check_tensors(profs_lm *lm);

/* Mixture of experts (moe.c). */
int pf_moe_config_read(profs_lm *lm);
int pf_moe_names(profs_lm *lm, const char *prefix);   /* router, shared expert and expert tensors */
int pf_moe_check(profs_lm *lm);                        /* every expert tensor present with its shape */
void pf_moe_free(profs_lm *lm);
/* The sparse MLP of block `layer`: x (T, D) += MoE(h) with h (T, D) the normalised input. */
int pf_moe_block(const profs_lm *lm, const pf_layer_w *lw, size_t layer, float *x, const float *h, size_t T);

/* Shared kernels (forward.c). */
void pf_linear(float *y, size_t ldy, const float *x, size_t ldx, size_t n, const float *W, int conv1d,
               size_t in, size_t out, const float *b, float beta);
void pf_silu_mul(float *gate, const float *up, size_t n);  /* gate = silu(gate) * up */

/* Weights (weights.c). */
int pf_wt_load(const profs_lm *lm, pf_wt *w, const char *name);
void pf_wt_drop(const profs_lm *lm, pf_wt *w, const char *name);
/* Load block `layer`; with an arena, converted tensors share its buffer (valid until the next load). */
int pf_layer_load(const profs_lm *lm, pf_layer_w *lw, size_t layer, pf_arena *arena);
void pf_layer_drop(const profs_lm *lm, pf_layer_w *lw, size_t layer);
/* The f32 view of numel elements at element offset off of tensor `name` (a slice of a fused tensor):
 * in place for aligned F32, else converted into arena. Release the pages with profs_model_release. */
int pf_wt_slice(const profs_lm *lm, const float **out, const char *name, size_t off, size_t numel, pf_arena *arena);

#endif
