/* Internal: the body of profs_model, shared by the files of lib/io/. */
#ifndef PF_MODEL_IMPL_H
#define PF_MODEL_IMPL_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "io/safetensors.h"
#include "io/torchbin.h"
#include "profs/model.h"

enum pf_stage_kind { PF_STAGE_NONE = 0, PF_STAGE_DATA, PF_STAGE_TRANSFORM };

typedef struct pf_stage {
    int kind;
    void *bytes;               /* PF_STAGE_DATA: nbytes in the tensor's dtype */
    profs_transform_fn fn;     /* PF_STAGE_TRANSFORM */
    void *userdata;
} pf_stage;

/* One tensor of the store: which file and which header entry. */
typedef struct pf_model_tensor {
    const char *name;          /* borrowed from the file's header */
    size_t file;               /* index into files */
    const pf_st_tensor *t;
} pf_model_tensor;

struct profs_model {
    char *path;                /* as given */
    int is_dir;                /* opened from a directory */
    char *dir;                 /* the directory (is_dir), else NULL */
    char *index_name;          /* the index file when sharded ("model.safetensors.index.json" or
                                  "pytorch_model.bin.index.json"), else NULL */
    size_t n_files;
    pf_st_file *files;         /* (n_files); sharded: sorted by file name */
    pf_tb_file **bins;         /* (n_files): the PyTorch checkpoint behind files[i], or NULL for safetensors */
    int from_bin;              /* the weights are PyTorch checkpoints (saved as safetensors) */
    uint64_t max_shard_size;   /* saving a PyTorch source: bytes per safetensors shard */
    size_t n_tensors;
    pf_model_tensor *tensors;  /* (n_tensors) sorted by name */
    pf_stage *stages;          /* (n_tensors) */
    size_t n_staged;
    json_t *config;            /* config.json or NULL */
    int follow_outside_links;  /* profs_model_set_follow_outside_links */
};

/* transformers 5's default max_shard_size ("50GB", decimal units). */
#define PF_DEFAULT_MAX_SHARD_SIZE 50000000000ull

/* Load config.json of m->dir when present (config.c). */
int pf_model_config_load(profs_model *m);
/* Free the staged edits (stage.c). */
void pf_model_stages_free(profs_model *m);
/* Index of tensor `name`, or -1. */
long pf_model_find(const profs_model *m, const char *name);
/* 1 when config.json has `key` (dotted like the getters) set to JSON null, else 0. */
int pf_model_config_is_null(const profs_model *m, const char *key);
/* 1 when config.json has `key` set to anything but null (an object too), else 0. */
int pf_model_config_has(const profs_model *m, const char *key);
/* Element `index` of the number array at `key` (integers too). */
int pf_model_config_array_float(const profs_model *m, const char *key, size_t index, double *out);

/* The bytes of tensor table entry mt into *out: into a mapping, or a PyTorch
 * view materialised on first use (kept until profs_model_release). 0 or an error code. */
int pf_model_bytes(const uint8_t **out, const profs_model *m, const pf_model_tensor *mt);
/* Index of mt within its file's header. */
size_t pf_model_file_index(const profs_model *m, const pf_model_tensor *mt);
/* Bytes per shard when a PyTorch source is saved (tests use small values). */
void pf_model_set_max_shard_size(profs_model *m, uint64_t bytes);

#endif
