/* Internal: the body of profs_model, shared by the files of lib/io/. */
#ifndef PF_MODEL_IMPL_H
#define PF_MODEL_IMPL_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "io/safetensors.h"
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
    char *index_name;          /* "model.safetensors.index.json" when sharded, else NULL */
    size_t n_files;
    pf_st_file *files;         /* (n_files); sharded: sorted by file name */
    size_t n_tensors;
    pf_model_tensor *tensors;  /* (n_tensors) sorted by name */
    pf_stage *stages;          /* (n_tensors) */
    size_t n_staged;
    json_t *config;            /* config.json or NULL */
    int follow_outside_links;  /* profs_model_set_follow_outside_links */
};

/* Index of tensor `name`, or -1. */
long pf_model_find(const profs_model *m, const char *name);
/* 1 when config.json has `key` (dotted like the getters) set to JSON null, else 0. */
int pf_model_config_is_null(const profs_model *m, const char *key);

#endif
