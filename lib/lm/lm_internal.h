/* Internal: the transformer runtime's configuration, weights and forward pass. */
#ifndef PF_LM_INTERNAL_H
#define PF_LM_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "profs/lm.h"
#include "profs/model.h"

#include "arch/arch.h"

enum pf_int8_kernel { PF_I8_AMX, PF_I8_AVX512_VNNI, PF_I8_AVX_VNNI };

enum pf_act { PF_ACT_GELU_TANH, PF_ACT_GELU_ERF, PF_ACT_RELU, PF_ACT_SILU };

/* Rope scaling variants (rope_scaling / rope_parameters rope_type). */
enum pf_rope_scaling { PF_RS_DEFAULT, PF_RS_LINEAR, PF_RS_LLAMA3, PF_RS_YARN, PF_RS_DYNAMIC, PF_RS_LONGROPE };

typedef struct pf_rope_cfg {
    int type;                      /* enum pf_rope_scaling */
    double factor, lo, hi;         /* factor, low_freq_factor, high_freq_factor */
    double beta_fast, beta_slow, attention_factor, mscale, mscale_all_dim;
    int truncate;
    size_t original_max;           /* original_max_position_embeddings (0: absent) */
} pf_rope_cfg;

typedef struct pf_rope_tab {
    float *inv;                    /* (rotary_dim / 2) inverse frequencies (longrope: the short factors) */
    float *inv_long;               /* longrope: past original_max (NULL otherwise) */
    float mscale;                  /* multiplies cos and sin (yarn / longrope attention factor) */
    size_t original_max;           /* longrope: the switch point */
    double theta;
    pf_rope_cfg cfg;
} pf_rope_tab;

typedef struct pf_lm_config {
    const pf_family *fam;          /* the row of the architecture table */
    pf_features f;                 /* its features */
    char model_type[32];
    unsigned flags;                /* enum pf_cond bits the config sets */
    size_t n_layers, dim, n_heads, n_kv_heads, head_dim, ffn_dim, vocab, max_pos;
    size_t q_dim, kv_dim;          /* n_heads * head_dim, n_kv_heads * head_dim */
    double norm_eps;
    int rms_norm;                  /* features.norm == PF_NORM_RMS */
    int act;
    int parallel;                  /* gptj: attention and MLP both from ln_1 */
    int ln_before;                 /* 0 only for OPT with do_layer_norm_before = false */
    int has_final_norm;
    int rope;                      /* enum pf_rope */
    size_t rotary_dim;
    double theta, theta_local;
    pf_rope_cfg rope_global;
    char rope_sec[64];             /* config section of the rope parameters */
    pf_rope_tab rope_tab;          /* global layers */
    pf_rope_tab rope_local;        /* local (sliding) layers of gemma3 */
    size_t top_original_max;       /* top-level original_max_position_embeddings (0: absent) */
    size_t sliding_window;         /* 0: none */
    unsigned char *slides;         /* (n_layers) 1: the layer attends over the last sliding_window keys */
    size_t pos_offset;             /* OPT: 2 */
    size_t embed_dim;              /* OPT word_embed_proj_dim (== dim elsewhere) */
    int tied;
    float attn_scale;              /* multiplies q.k */
    int scale_by_layer;            /* gpt2 scale_attn_by_inverse_layer_idx */
    float attn_softcap, final_softcap; /* 0: none */
    int embed_scale;               /* gemma: embeddings times sqrt(dim) rounded to the embedding dtype */
    /* mixture of experts (moe.c); n_experts 0: dense */
    pf_moe_info moe;               /* expert count, sparse layers (moe.sparse), layout */
    size_t n_experts, top_k, moe_ffn, shared_ffn; /* shared_ffn 0: no shared expert */
    int norm_topk;                 /* renormalise the top-k probabilities */
    unsigned char *moe_layer;      /* (n_layers) 1 where the block is sparse (= moe.sparse), or NULL */
} pf_lm_config;

/* One weight tensor as f32: borrowed from the mapping (F32, aligned) or converted. Under a
 * reduced-precision compute mode a matrix of the blocks' products is held instead as q: rows
 * [out][ldq] of BF16 (bf16 mode) or int8 with per-row scales qscale (int8 mode), W[o][k] in
 * nn.Linear orientation whatever the checkpoint's; the first in_p elements of each row are read
 * (a multiple of 32, int8: 64), zero past the tensor's columns; rows are readable up to out
 * rounded up to 32. Then p is NULL. */
typedef struct pf_wt {
    const float *p;
    float *owned;
    const void *q;
    const void *qlo;               /* bf16 mode, weights not BF16 on disk: W - bf16(W) as BF16 (same rows) */
    const float *qscale;
    size_t ldq, in_p, cols;        /* cols: the matrix's inputs (in) */
    void *qowned;
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
    char prefix[64];               /* the tensor name prefix of the family's rows */
    char **lname;                  /* (n_layers * PF_SLOT_COUNT) tensor names, NULL when absent */
    int ltrans[PF_SLOT_COUNT];     /* 1 when stored [in, out] (Conv1D) */
    int lowner[PF_SLOT_COUNT];     /* the slot whose tensor this slot is a row block of (itself otherwise) */
    size_t loff[PF_SLOT_COUNT];    /* float offset of that row block */
    char *gname[PF_GSLOT_COUNT];   /* global tensor names, NULL when absent */
    /* options */
    size_t batch_tokens, max_length, resident_bytes;
    int pool_skip_bos;
    size_t att_rows;               /* query rows per attention block (128; tests lower it) */
    /* resident converted weights (all layers) when the model is small enough */
    pf_layer_w *cache;             /* (n_layers) or NULL */
    pf_arena *arena;               /* streaming conversion buffer (mutable through const lm) */
    int no_prefix_sharing;         /* 1: pairs run whole (profs_lm_set_prefix_sharing) */
    int compute;                   /* PROFS_COMPUTE_* (profs_lm_set_compute) */
    int int8_kernel;               /* int8 mode: PF_I8_AMX, PF_I8_AVX512_VNNI or PF_I8_AVX_VNNI */
    pf_wt head;                    /* converted head when resident */
    /* expert tensors (moe.c): per-expert layout (n_layers * n_experts * 3: gate, up, down) or fused
     * (n_layers * 3: gate_up_proj [E, 2I, D] twice (gate rows, up rows), down_proj [E, D, I]); NULL in dense layers */
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
/* pf_lm_forward without a KV cache over a batch with shared prefixes (prefix.c):
 * prefix[s] < s is the sequence of the batch whose tokens come before sequence s
 * (its keys and values are attended to first; b->past[s] must be its length), or
 * PF_NO_PREFIX. A prefix sequence has no prefix itself. */
#define PF_NO_PREFIX ((size_t)-1)
int pf_lm_forward_prefix(const profs_lm *lm, float *x, const int32_t *ids, const pf_batch *b,
                         const size_t *prefix, pf_layer_cb cb, void *ud);

/* Final norm (+ OPT project_out) and head for the n rows of x (n, D), which is
 * modified; fn receives each row's logits (V) in order. Non-zero return aborts. */
typedef int (*pf_logits_cb)(void *ud, size_t row, float *logits);
int pf_lm_head(const profs_lm *lm, float *x, size_t n, pf_logits_cb fn, void *ud);
/* Make the converted weights resident when they fit the budget (no-op otherwise). */
int pf_lm_prepare(profs_lm *lm);

int pf_kv_init(pf_kv *kv, const profs_lm *lm, size_t capacity);
void pf_kv_free(pf_kv *kv, size_t n_layers);

/* Opening, options and checks (lm.c). */
int pf_lm_open_common(profs_lm **out, profs_model *model, int own);
int pf_lm_check_ids(const profs_lm *lm, const int32_t *ids, size_t n, const char *what);

/* The run (lm_run.c). Forward one sequence and run the head on rows [r0, r0 + n). */
int pf_lm_forward_head(profs_lm *lm, const int32_t *ids, size_t n_ids, size_t r0, size_t n, pf_logits_cb fn,
                       void *ud);
/* Pool n_seqs sequences in passes of at most batch_tokens tokens. skip[s] (or
 * NULL) is 1 to leave token 0 of sequence s out. Progress counts sentences or
 * tokens from done0 of total. */
int pf_lm_pool(profs_lm *lm, float *out, const int32_t *const *ids, const size_t *lens, size_t n_seqs,
               const size_t *skip, profs_progress_fn progress, void *userdata, const char *stage,
               int count_sentences, uint64_t done0, uint64_t total);

/* Prefix sharing (prefix.c). Pool n_pairs pairs (sequences 2i, 2i + 1) into out
 * (2 n_pairs, L, D) as pf_lm_pool, each pair's common token prefix computed once
 * unless lm->no_prefix_sharing; *saved (may be NULL) receives the tokens not computed. */
int pf_lm_pool_pairs(profs_lm *lm, float *out, uint64_t *saved, const int32_t *const *ids, const size_t *lens,
                     size_t n_pairs, const size_t *skip, profs_progress_fn progress, void *userdata,
                     const char *stage, int count_sentences, uint64_t done0, uint64_t total);

/* The text side (text.c). */
void pf_lm_free_tokenizer(profs_lm *lm);

/* The sampler (lm_sampler.c). */
struct profs_sampler {
    double temperature, top_p;
    size_t top_k;
    uint64_t seed;
};
typedef struct pf_rng { uint64_t s[4]; } pf_rng;
struct pf_cand { float logit; int32_t id; };
uint64_t pf_splitmix64(uint64_t *x);
/* Pick the next token from logits (V); cd is (V) scratch. */
int32_t pf_sample(const profs_sampler *s, const float *logits, size_t V, struct pf_cand *cd, pf_rng *r);

/* Config parsing and tensor table (config.c). */
int pf_lm_config_read(profs_lm *lm);
int pf_lm_check_tensors(profs_lm *lm);
int pf_lm_rope_init(profs_lm *lm);
void pf_lm_config_free(pf_lm_config *c);

/* Mixture of experts (moe.c). */
int pf_moe_config_read(profs_lm *lm);                  /* after the slides table exists */
int pf_moe_names(profs_lm *lm);                        /* the expert rows' names, every declared expert checked */
void pf_moe_free(profs_lm *lm);
/* The sparse MLP of block `layer`: x (T, D) += MoE(h) with h (T, D) the normalised input. */
int pf_moe_block(const profs_lm *lm, const pf_layer_w *lw, size_t layer, float *x, const float *h, size_t T);

/* Shared kernels (forward.c). */
void pf_linear(float *y, size_t ldy, const float *x, size_t ldx, size_t n, const float *W, int conv1d,
               size_t in, size_t out, const float *b, float beta);
void pf_silu_mul(float *gate, const float *up, size_t n);  /* gate = silu(gate) * up */
/* pf_linear through the runtime's compute mode: w->q (reduced precision) when set, else w->p.
 * Returns 0 or PROFS_ENOMEM. */
int pf_lin(const profs_lm *lm, float *y, size_t ldy, const float *x, size_t ldx, size_t n, const pf_wt *w,
           int conv1d, size_t in, size_t out, const float *b, float beta);

/* Weights (weights.c). */
int pf_wt_load(const profs_lm *lm, pf_wt *w, const char *name);
void pf_wt_drop(const profs_lm *lm, pf_wt *w, const char *name);
/* Load block `layer`; with an arena, converted tensors share its buffer (valid until the next load). */
int pf_layer_load(const profs_lm *lm, pf_layer_w *lw, size_t layer, pf_arena *arena);
void pf_layer_drop(const profs_lm *lm, pf_layer_w *lw, size_t layer);
/* The f32 view of numel elements at element offset off of tensor `name` (a slice of a fused tensor):
 * in place for aligned F32, else converted into arena. Release the pages with profs_model_release. */
int pf_wt_slice(const profs_lm *lm, const float **out, const char *name, size_t off, size_t numel, pf_arena *arena);
/* Rows [0, out) of the [out, in] matrix at element offset off of tensor `name` (an expert of a fused
 * tensor, or the whole tensor) as the compute mode needs it: f32 as pf_wt_slice, or w->q. */
int pf_wt_matrix(const profs_lm *lm, pf_wt *w, const char *name, size_t off, size_t out, size_t in, pf_arena *arena);
/* 1 when slot s is a matrix of the blocks' products (held in reduced precision under such a mode). */
int pf_slot_is_product(int s);

#endif
