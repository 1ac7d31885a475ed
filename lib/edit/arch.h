/* Internal: a model resolved against the architecture table (lib/arch) for an
 * edit: its family, the name prefix its tensors use, layer count, hidden size,
 * and the rows the edit targets (by role). */
#ifndef PF_EDIT_ARCH_H
#define PF_EDIT_ARCH_H

#include <stddef.h>

#include "arch/arch.h"
#include "profs/model.h"

#define PF_EDIT_MAX_KEYS 4

typedef struct pf_arch_model {
    const pf_family *fam;
    const char *prefix;                      /* the prefix its tensors use */
    size_t n_layers;
    size_t hidden;                           /* residual width (0 when not known from config.json) */
    const pf_tensor_row *value;              /* the value row */
    const pf_tensor_row *keys[PF_EDIT_MAX_KEYS]; /* key rows, one per stored tensor */
    size_t n_keys;
    const pf_tensor_row *post_norm;          /* the norm applied to the MLP output (gemma), or NULL */
    pf_moe_info moe;                         /* MoE families: experts, sparse layers, layout (sparse owned) */
} pf_arch_model;

void pf_arch_model_free(pf_arch_model *am);

/* One matrix an MoE edit reaches: a tensor, or slice `expert` of a fused 3-D tensor. */
typedef struct pf_arch_target {
    char tensor[256];        /* the stored tensor */
    char name[272];          /* what the report calls it: tensor, or tensor[expert] for a fused slice */
    int role;                /* PROFS_TARGET_VALUE or PROFS_TARGET_KEY */
    int layout;              /* profs_layout of the matrix (of each slice) */
    long expert;             /* expert index, -1 when not an expert */
    int fused;               /* 1: a slice of a 3-D tensor */
} pf_arch_target;

/* MoE families: the matrices of `layer` that `targets` reach, from the family's rows by role (dense layers:
 * the dense MLP's; sparse layers: every expert's, the shared expert's; never the router), validated against
 * m (present, float, D axis = dim, every declared expert present: the missing ones named). *out is
 * malloc'd. */
int pf_arch_layer_targets(pf_arch_target **out, size_t *n, const pf_arch_model *am, const profs_model *m,
                          size_t layer, int targets, size_t dim);

/* Detect the family of m: config.json model_type, then architectures[0], then
 * tensor names; then the name prefix, layer count and hidden size.
 * hint (may be NULL) is used when nothing else identifies the model.
 * Errors: PROFS_EUNSUPPORTED (unknown model type), PROFS_ENOTFOUND (no known tensors),
 * PROFS_EFORMAT (bad config values). */
int pf_arch_resolve(pf_arch_model *out, const profs_model *m, const char *hint);

/* Write the name of the value (key_index < 0) or key_index-th key matrix of layer into buf. */
void pf_arch_tensor_name(char *buf, size_t n, const pf_arch_model *am, int key_index, size_t layer);

#endif
