/* Internal: how a PyTorch-checkpoint source is written out as safetensors,
 * the way transformers 5's save_pretrained writes a model:
 *  - tensors in the order transformers 5 saves them: its revert_weight_conversion
 *    sorts the state dict by dot_natural_key (dotted components in turn, digits
 *    as numbers and before words), checked for gpt2, opt, llama, mistral, qwen2, gptj;
 *  - tied weights (several keys on one view of one storage) written once:
 *    names starting with "lm_head." are dropped first (transformers'
 *    _tied_weights_keys of causal LMs), then all but the first by name;
 *  - split as huggingface_hub's split_torch_state_dict_into_shards does: a
 *    tensor larger than max_shard_size gets a shard of its own, otherwise a
 *    new shard starts when the current one would exceed max_shard_size;
 *  - one shard: "model.safetensors"; n shards: "model-0000i-of-0000n.safetensors"
 *    plus "model.safetensors.index.json" = {"metadata": {"total_parameters",
 *    "total_size"}, "weight_map"} (2-space indent, sorted keys, final newline);
 *  - every shard's header carries __metadata__ {"format": "pt"}; data ordered
 *    by dtype size (largest first), then name, as the safetensors package does. */
#ifndef PF_SHARDS_H
#define PF_SHARDS_H

#include <stddef.h>
#include <stdint.h>

#include "io/model_impl.h"

typedef struct pf_shard {
    char *name;          /* file name */
    size_t n;
    size_t *tensors;     /* (n) indices into m->tensors, in data order */
    uint64_t bytes;      /* data bytes */
} pf_shard;

typedef struct pf_shard_plan {
    size_t n;
    pf_shard *s;
    char *index_json;    /* text of model.safetensors.index.json, or NULL for one shard */
    size_t n_dropped;    /* tied aliases not written */
} pf_shard_plan;

int pf_shard_plan_make(pf_shard_plan *out, const profs_model *m);
void pf_shard_plan_free(pf_shard_plan *p);
/* The 8-byte length and padded JSON header of shard s (malloc'ed). */
int pf_shard_header(uint8_t **out, size_t *len, const profs_model *m, const pf_shard *s);

#endif
