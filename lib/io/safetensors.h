/* Internal: one safetensors file — header parsing, validation and mapping.
 *
 * Format (https://github.com/huggingface/safetensors):
 *   bytes [0, 8)       N, little-endian u64: header length
 *   bytes [8, 8+N)     UTF-8 JSON object:
 *                        "__metadata__": {string: string}          (optional)
 *                        "<name>": {"dtype": "F32"|..., "shape": [d0, d1, ...],
 *                                   "data_offsets": [begin, end]}
 *   bytes [8+N, end)   data; tensor offsets are relative to 8+N
 * Rules enforced here (each rejection names the file and the problem):
 *   file >= 8 bytes; N <= 100,000,000 and 8+N <= file size; the header is valid
 *   UTF-8 JSON and an object, with no duplicate keys; __metadata__ maps strings
 *   to strings; every other entry is an object with a known dtype, a shape of
 *   non-negative integers and a data_offsets pair of integers begin <= end;
 *   numel x dtype size == end - begin (overflow-checked); offsets sorted are
 *   contiguous from 0 (no hole, no overlap); last end + 8 + N == file size. */
#ifndef PF_SAFETENSORS_H
#define PF_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#define PF_ST_MAX_HEADER 100000000u

typedef struct pf_st_tensor {
    char *name;
    int dtype;
    size_t ndim;
    int64_t *shape;      /* (ndim) */
    uint64_t numel;
    uint64_t begin, end; /* byte offsets relative to the data section */
} pf_st_tensor;

typedef struct pf_st_header {
    uint64_t header_len;   /* N */
    size_t n_tensors;
    pf_st_tensor *tensors; /* sorted by name (strcmp) */
    size_t n_meta;
    char **meta_keys;      /* (n_meta), sorted */
    char **meta_values;    /* (n_meta) */
} pf_st_header;

/* Parse and validate the header of a whole safetensors file held in memory
 * (`data`, `size` bytes). `name` is used in messages. Pure: no I/O. */
int pf_st_parse(pf_st_header *out, const char *name, const void *data, uint64_t size);
void pf_st_header_free(pf_st_header *h);
/* Index of tensor `name` in h->tensors, or -1. */
long pf_st_find(const pf_st_header *h, const char *name);

/* A mapped, validated file. */
typedef struct pf_st_file {
    char *path;            /* as opened, used in messages */
    int fd;
    const uint8_t *map;    /* read-only mapping of the whole file (NULL when size 0) */
    uint64_t size;
    struct stat_id { uint64_t dev, ino; } id;
    pf_st_header h;
} pf_st_file;

int pf_st_open(pf_st_file *f, const char *path);
void pf_st_close(pf_st_file *f);
/* Start of tensor t's bytes in the mapping. */
static inline const uint8_t *pf_st_data(const pf_st_file *f, const pf_st_tensor *t)
{
    return f->map + 8 + f->h.header_len + t->begin;
}

#endif
