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
} pf_arch;

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
} pf_arch_model;

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
