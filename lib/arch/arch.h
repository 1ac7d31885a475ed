/* Internal: the architecture table. One row (pf_family) per model family says
 * everything the library knows about it: how config.json names it (model_type,
 * architectures[]), how its config keys map onto the runtime's fields (with
 * defaults), which features its blocks have, and its tensors as rows
 * {slot, name pattern, layout, role, present-if}. The runtime (lib/lm) builds
 * its weight table from the rows and tests features; the edit (lib/edit) picks
 * its targets by role; the tool asks through profs_arch_* (edit.h).
 *
 * Adding a family = one row here (+ a quirk hook in lib/lm/config.c when its
 * config needs one) + goldens + a docs line. Mixture-of-experts families
 * (mixtral, qwen2_moe, qwen3_moe) use the same rows: an expert tensor is a row
 * with `expert` set (PF_EXPERT_EACH: its pattern takes the expert index after
 * the layer; PF_EXPERT_FUSED: one 3-D tensor [E, out, in] holding every expert,
 * with row blocks for gate|up), the router is a feature (f.router) with its own
 * slot, and the presence conditions PF_IF_SPARSE / PF_IF_DENSE (per layer) and
 * PF_IF_EXPERTS_EACH / PF_IF_EXPERTS_FUSED (the checkpoint's layout) pick the rows. */
#ifndef PF_ARCH_TABLE_H
#define PF_ARCH_TABLE_H

#include <stddef.h>

#include "profs/model.h"

/* Per-layer weight slots. */
enum pf_slot {
    PF_LN1_W, PF_LN1_B,            /* norm before attention (input_layernorm, ln_1, self_attn_layer_norm) */
    PF_LN2_W, PF_LN2_B,            /* norm before the MLP (post_attention_layernorm in llama, pre_feedforward in gemma) */
    PF_QKV_W, PF_QKV_B,            /* fused q|k|v (GPT-2 Conv1D c_attn, phi3 qkv_proj) */
    PF_Q_W, PF_Q_B, PF_K_W, PF_K_B, PF_V_W, PF_V_B,
    PF_O_W, PF_O_B,
    PF_GATE_W, PF_GATE_B,          /* gate_proj (or block 0 of phi3 gate_up_proj) */
    PF_UP_W, PF_UP_B,              /* up_proj, c_fc, fc1, fc_in (or block 1 of gate_up_proj) */
    PF_DOWN_W, PF_DOWN_B,          /* down_proj, c_proj, fc2, fc_out: the value matrix */
    PF_QNORM_W, PF_KNORM_W,        /* per-head norms of q and k before rope (qwen3, gemma3) */
    PF_ATTN_OUT_NORM_W,            /* norm of the attention output before the residual add (gemma post_attention_layernorm) */
    PF_MLP_OUT_NORM_W,             /* norm of the MLP output before the residual add (gemma post_feedforward_layernorm) */
    PF_ROUTER_W,                   /* MoE router [E, D] */
    PF_SH_GATE_W, PF_SH_UP_W, PF_SH_DOWN_W, /* qwen2_moe shared expert */
    PF_SH_GATE,                    /* qwen2_moe shared_expert_gate [1, D] (sigmoid) */
    PF_EXP_GATE, PF_EXP_UP, PF_EXP_DOWN,    /* expert rows (never loaded with the block: on demand, lib/lm/moe.c) */
    PF_SLOT_COUNT
};

/* Global (non-layer) tensors. */
enum pf_gslot {
    PF_G_EMBED, PF_G_POS, PF_G_PROJ_IN, PF_G_PROJ_OUT, PF_G_NORM_W, PF_G_NORM_B,
    PF_G_HEAD_W, PF_G_HEAD_B, PF_GSLOT_COUNT
};

/* How a tensor is stored. */
enum pf_tlayout {
    PF_TL_VECTOR,                  /* [n] */
    PF_TL_LINEAR,                  /* nn.Linear [out, in] */
    PF_TL_CONV1D                   /* GPT-2 Conv1D [in, out] */
};

/* What ProFS does with a tensor. */
enum pf_role { PF_ROLE_OTHER, PF_ROLE_VALUE, PF_ROLE_KEY };

/* Conditions a row's presence depends on (set from config.json by the runtime). */
enum pf_cond {
    PF_IF_ALWAYS = 0,
    PF_IF_ATTN_BIAS = 1 << 0,      /* q/k/v/o biases (llama attention_bias, opt enable_bias) */
    PF_IF_MLP_BIAS = 1 << 1,       /* MLP biases (llama mlp_bias, opt enable_bias) */
    PF_IF_QKV_BIAS = 1 << 2,       /* q/k/v biases without an o bias (qwen2) */
    PF_IF_NORM_AFFINE = 1 << 3,    /* layer norms with weights and biases (opt layer_norm_elementwise_affine) */
    PF_IF_FINAL_NORM = 1 << 4,     /* a final norm (opt do_layer_norm_before and not _remove_final_layer_norm) */
    PF_IF_EMBED_PROJ = 1 << 5,     /* opt word_embed_proj_dim != hidden_size */
    PF_IF_UNTIED = 1 << 6,         /* tie_word_embeddings false */
    PF_IF_NEVER = 1 << 7,          /* documented but never loaded */
    PF_IF_SPARSE = 1 << 8,         /* MoE: only in sparse layers */
    PF_IF_DENSE = 1 << 9,          /* MoE family: only in dense layers (Qwen's decoder_sparse_step, mlp_only_layers) */
    PF_IF_EXPERTS_EACH = 1 << 10,  /* the checkpoint stores one tensor per expert (save_pretrained's default) */
    PF_IF_EXPERTS_FUSED = 1 << 11  /* the checkpoint stores fused 3-D expert tensors (save_original_format=False) */
};

enum pf_expert { PF_EXPERT_NONE, PF_EXPERT_EACH, PF_EXPERT_FUSED };

typedef struct pf_tensor_row {
    int slot;                      /* enum pf_slot (layer rows) or enum pf_gslot (global rows) */
    const char *pattern;           /* after the family prefix; %zu = the layer (then the expert, in an expert row) */
    int layout;                    /* enum pf_tlayout */
    int role;                      /* enum pf_role */
    unsigned present_if;           /* 0: always; else present when the config sets every bit (enum pf_cond) */
    unsigned char block, blocks;   /* this slot is row block `block` of `blocks` of the stored tensor (0 of 1: all) */
    unsigned char root;            /* global row named without the family prefix (lm_head.weight) */
    unsigned char expert;          /* enum pf_expert */
} pf_tensor_row;

/* Canonical config fields a family's key map fills. */
enum pf_cfg_field {
    PF_C_LAYERS, PF_C_HIDDEN, PF_C_HEADS, PF_C_KV_HEADS, PF_C_FFN, PF_C_VOCAB, PF_C_MAX_POS,
    PF_C_HEAD_DIM, PF_C_EPS, PF_C_ACT, PF_C_FIELD_COUNT
};

/* One key of the map: the field, the config.json key (NULL: the family has none) and a
 * default (NAN: required; for PF_C_ACT the default is `act`). */
typedef struct pf_cfg_key {
    const char *key;
    double dflt;
    const char *act;
} pf_cfg_key;

enum pf_norm { PF_NORM_LAYER, PF_NORM_RMS };
enum pf_rope { PF_ROPE_NONE, PF_ROPE_HALF, PF_ROPE_INTERLEAVED };
/* Which layers slide (attention over the last sliding_window keys only). */
enum pf_sliding {
    PF_SW_NONE,                    /* never (llama, gpt2, ...) */
    PF_SW_ALL,                     /* every layer when sliding_window is set (mistral) */
    PF_SW_QWEN2,                   /* layer_types, else use_sliding_window and i >= max_window_layers */
    PF_SW_ALTERNATE,               /* layer_types, else every layer but each sliding_window_pattern-th (gemma) */
    PF_SW_QWEN2_MOE,               /* layer_types, else use_sliding_window and even i < max_window_layers */
    PF_SW_USE,                     /* every layer when use_sliding_window (qwen3_moe) */
};

typedef struct pf_features {
    unsigned char norm;            /* enum pf_norm */
    unsigned char norm_plus_one;   /* RMSNorm weights applied as (1 + w) (gemma) */
    unsigned char rope;            /* enum pf_rope */
    unsigned char rope_scaling;    /* reads rope_scaling / rope_parameters (linear, llama3, yarn, dynamic, longrope) */
    unsigned char partial_rotary;  /* reads partial_rotary_factor (phi3) */
    unsigned char gated;           /* MLP act(gate) * up */
    unsigned char parallel;        /* attention and MLP both from the first norm (gptj) */
    unsigned char learned_pos;     /* learned position embeddings (gpt2, opt) */
    unsigned char qk_norm;         /* per-head norms of q and k before rope (qwen3, gemma3) */
    unsigned char post_norms;      /* attention and MLP outputs normalised before the residual add (gemma) */
    unsigned char embed_scale;     /* embeddings times sqrt(hidden) rounded to the embedding's dtype (gemma) */
    unsigned char softcap;         /* reads attn_logit_softcapping / final_logit_softcapping; 2: absent means
                                    * Gemma2Config's 50 / 30, 1: absent means none (gemma3) */
    unsigned char final_softcap;   /* applies final_logit_softcapping (0: Gemma3ForConditionalGeneration) */
    unsigned char query_scalar;    /* attention scale query_pre_attn_scalar^-1/2 (gemma) */
    unsigned char local_rope;      /* local layers use their own rope base (gemma3) */
    unsigned char sliding;         /* enum pf_sliding */
    unsigned char tied_default;    /* tie_word_embeddings when config.json does not say */
    unsigned char router;          /* MoE: sparse layers with a router (mixtral, qwen2_moe, qwen3_moe) */
    unsigned char rope_recompute;  /* generation recomputes the cache when it crosses the longrope switch (phi3) */
} pf_features;

typedef struct pf_family {
    const char *name;              /* reported architecture (profs_lm_architecture, edit reports) */
    const char *model_types[4];    /* config.json model_type values (NULL-terminated) */
    const char *classes[4];        /* config.json architectures[] class names (NULL-terminated) */
    const char *config_prefix;     /* "" or "text_config." where the text model's keys sit */
    const char *prefixes[4];       /* tensor name prefixes, in order of preference (NULL-terminated) */
    pf_cfg_key keys[PF_C_FIELD_COUNT];
    pf_features f;
    const pf_tensor_row *layer;    /* per-layer rows, ended by a row with pattern NULL */
    const pf_tensor_row *global;   /* global rows, ended by a row with pattern NULL */
    int quirk;                     /* enum pf_quirk: the hook of lib/lm/config.c for what the key map cannot say */
    unsigned first_num, first_den; /* default first edited layer floor(L * num / den) */
} pf_family;

enum pf_quirk { PF_Q_NONE, PF_Q_GPT2, PF_Q_GPTJ, PF_Q_OPT, PF_Q_LLAMA, PF_Q_MISTRAL, PF_Q_QWEN2, PF_Q_GEMMA, PF_Q_PHI3,
                PF_Q_MOE };


/* The table, in order (pf_arch_count entries). */
const pf_family *pf_arch_at(size_t i);
size_t pf_arch_count(void);
/* A family by name; NULL when unknown. */
const pf_family *pf_arch_by_name(const char *name);
/* "gpt2, llama, ..." (static string). */
const char *pf_arch_supported(void);

/* Identify m's family from config.json (model_type, else architectures[0]).
 * *out = NULL and 0 when config.json names neither; PROFS_EUNSUPPORTED naming the
 * file, the key and the supported values when it names an unknown family. */
int pf_arch_identify(const pf_family **out, const profs_model *m);

/* The row of a slot (layer rows when global = 0), or NULL. */
const pf_tensor_row *pf_arch_row(const pf_family *f, int global, int slot);

/* The first prefix under which `row` of layer 0 exists in m, or NULL. */
const char *pf_arch_find_prefix(const pf_family *f, const profs_model *m, const pf_tensor_row *row);

/* Format a row's tensor name for layer (and expert) into buf. */
void pf_arch_name(char *buf, size_t n, const pf_family *f, const char *prefix, const pf_tensor_row *row,
                  size_t layer, size_t expert);

/* (out, in) of a layer slot (in = 0 for a vector) for hidden D, intermediate F, q_dim Q,
 * kv_dim KV and head_dim; a fused row's stored tensor has `blocks` times the rows. */
void pf_arch_slot_dims(int slot, size_t D, size_t F, size_t Q, size_t KV, size_t head_dim, size_t *out, size_t *in);

/* The edit's layout (PROFS_LAYOUT_D_FIRST / D_LAST) of a value or key row. */
int pf_arch_edit_layout(const pf_tensor_row *row);

/* Mixture of experts, read from config.json as transformers reads it (shared by the runtime and the edit). */
typedef struct pf_moe_info {
    size_t n_experts;              /* num_local_experts or num_experts (both read; they must agree) */
    const char *experts_key;       /* which key gave it ("" for the class default) */
    unsigned char *sparse;         /* (n_layers) 1 where the layer is sparse (malloc'd; NULL when none is) */
    unsigned layout;               /* PF_IF_EXPERTS_EACH or PF_IF_EXPERTS_FUSED (0: no sparse layer) */
} pf_moe_info;
/* Expert count and sparse layers of an MoE family's model with n_layers layers; then the layout of the
 * first sparse layer's experts under `prefix` (PROFS_ENOTFOUND naming both layouts' tensors when neither). */
int pf_arch_moe_info(pf_moe_info *out, const pf_family *f, const profs_model *m, const char *prefix, size_t n_layers);
/* Whether row r is present in layer l given the config's flag bits (and MoE info, NULL for dense families). */
int pf_arch_row_present(const pf_tensor_row *r, unsigned flags, const pf_moe_info *mi, size_t l);

#endif
