/* Internal: the architecture table (which tensors ProFS edits, and how). */
#ifndef PF_ARCH_H
#define PF_ARCH_H

#include <stddef.h>

#include "profs/edit.h"
#include "profs/model.h"

#define PF_ARCH_MAX_PREFIXES 3
#define PF_ARCH_MAX_KEYS 2

typedef struct pf_arch {
    const char *name;                                   /* "gpt2", "llama", ... */
    const char *model_types[4];                         /* config.json model_type values (NULL-terminated) */
    const char *classes[4];                             /* config.json architectures[] class names */
    const char *layers_key;                             /* config key of the layer count */
    const char *hidden_key;                             /* config key of the residual width */
    const char *prefixes[PF_ARCH_MAX_PREFIXES + 1];     /* accepted name prefixes, in order of preference */
    const char *value;                                  /* value matrix name after the prefix, with %zu = layer */
    int value_layout;                                   /* profs_layout of the value matrix */
    const char *keys[PF_ARCH_MAX_KEYS + 1];             /* key matrices (NULL-terminated) */
    int key_layout;                                     /* profs_layout of the key matrices */
    /* Mixture of experts (moe != PF_MOE_NONE): an expert is a tensor row with an index. In a sparse
     * layer the value matrices are every expert's output matrix (and the shared expert's); the
     * router is never edited. Dense layers (Qwen's decoder_sparse_step, mlp_only_layers) use value/keys. */
    int moe;                                            /* PF_MOE_* */
    const char *probe;                                  /* a tensor of every layer, to find the prefix */
    const char *expert_value;                           /* per-expert layout: %zu layer, %zu expert */
    const char *expert_keys[PF_ARCH_MAX_KEYS + 1];
    const char *fused_value;                            /* fused layout: [E, D, I], %zu layer */
    const char *fused_key;                              /* fused layout: [E, 2I, D] (gate and up) */
    const char *shared_value;                           /* shared expert (qwen2_moe) or NULL */
    const char *shared_keys[PF_ARCH_MAX_KEYS + 1];
} pf_arch;

enum { PF_MOE_NONE, PF_MOE_ALL, PF_MOE_STEP }; /* ALL: every layer sparse (Mixtral); STEP: Qwen's rule */

/* Find an architecture by name ("gpt2", ...); NULL when unknown. */
const pf_arch *pf_arch_by_name(const char *name);

/* The comma-separated list of supported names (static string). */
const char *pf_arch_supported(void);

/* A model resolved against the table. */
typedef struct pf_arch_model {
    const pf_arch *arch;
    const char *prefix;      /* the prefix its tensors use */
    size_t n_layers;
    size_t hidden;           /* residual width (0 when not known from config.json) */
    size_t n_experts;        /* MoE: experts per sparse layer (config.json), else 0 */
    unsigned char *sparse;   /* MoE: (n_layers) 1 where the layer is sparse, else NULL (owned) */
    int fused;               /* MoE: experts stored as fused 3-D tensors */
} pf_arch_model;

void pf_arch_model_free(pf_arch_model *am);

/* One tensor the edit reaches: a matrix, or slice `expert` of a fused 3-D tensor. */
typedef struct pf_arch_target {
    char tensor[256];        /* the stored tensor */
    char name[272];          /* what the report calls it: tensor, or tensor[expert] for a fused slice */
    int role;                /* PROFS_TARGET_VALUE or PROFS_TARGET_KEY */
    int layout;              /* profs_layout of the matrix (of each slice) */
    long expert;             /* expert index, -1 when not an expert */
    int fused;               /* 1: a slice of a 3-D tensor */
} pf_arch_target;

/* The matrices of `layer` that `targets` reach, validated against m (present, float, the D axis
 * equal to dim, every declared expert present: the missing ones named). *out is malloc'd (free it). */
int pf_arch_layer_targets(pf_arch_target **out, size_t *n, const pf_arch_model *am, const profs_model *m,
                          size_t layer, int targets, size_t dim);

/* Detect the architecture of m: config.json model_type, then architectures[0], then
 * tensor names; then the name prefix, layer count and hidden size.
 * hint (may be NULL) is used when nothing else identifies the model.
 * Errors: PROFS_EUNSUPPORTED (unknown model type), PROFS_ENOTFOUND (no known tensors),
 * PROFS_EFORMAT (bad config values). */
int pf_arch_resolve(pf_arch_model *out, const profs_model *m, const char *hint);

/* Write the name of the value (key_index < 0) or key_index-th key matrix of layer into
 * buf (size n). */
void pf_arch_tensor_name(char *buf, size_t n, const pf_arch_model *am, int key_index, size_t layer);

#endif
