/* Internal: one PyTorch checkpoint file (pytorch_model.bin) as a tensor source.
 *
 * Format (torch.save since PyTorch 1.6, "zip" serialization):
 *   a zip archive (see zip.h) whose entries share one top-level folder, the
 *   file's stem or "archive":
 *     <prefix>/data.pkl        the pickled object (pickle.h: a state dict of
 *                              _rebuild_tensor_v2 calls on persistent storages)
 *     <prefix>/data/<key>      the raw bytes of storage <key>, little-endian,
 *                              storage numel x dtype size
 *     <prefix>/byteorder       "little" (torch >= 2.1; absent means little)
 *     <prefix>/version, .format_version, .storage_alignment, .data/serialization_id
 *   A tensor is (storage, storage_offset, size, stride) in elements.
 * The legacy format (torch < 1.6: pickles concatenated, no zip) is refused
 * with a message naming it.
 * Rules enforced at open (each refusal names the file and the tensor): the
 * archive has exactly one data.pkl; byteorder is little; every storage entry
 * exists and holds at least numel x dtype size bytes; offset + strided extent
 * fits the storage (overflow-checked); keys are unique (pickle.h).
 * Tensors are exposed as pf_st_tensor records (name, dtype, shape, numel,
 * begin/end of a contiguous layout in pickle order), so the tensor store can
 * treat them like safetensors entries. A contiguous tensor in a stored entry is
 * read straight from the mapping; a strided view or a deflated entry is
 * materialised (one tensor at a time) on first use and kept until
 * pf_tb_release. */
#ifndef PF_TORCHBIN_H
#define PF_TORCHBIN_H

#include <stddef.h>
#include <stdint.h>

#include "io/safetensors.h"
#include "io/zip.h"

typedef struct pf_tb_tensor {
    const pf_zip_entry *entry;  /* the storage */
    uint64_t offset;            /* storage offset in bytes */
    int64_t *stride;            /* (ndim) elements */
    int contiguous;
    uint8_t *cache;             /* materialised bytes, or NULL */
} pf_tb_tensor;

typedef struct pf_tb_file {
    pf_zip_entry *entries;
    size_t n_entries;
    pf_tb_tensor *t;            /* (h.n_tensors) in the order of f->h.tensors (by name) */
    size_t *pickle_order;       /* (h.n_tensors) header indices in the state dict's order */
} pf_tb_file;

/* Open path as a torch checkpoint: fills f (path, fd, map, size, id and a
 * header of the tensors; f->h.header_len is 0 and pf_st_data must not be used)
 * and *out. Close with pf_tb_close then pf_st_close. */
int pf_tb_open(pf_st_file *f, pf_tb_file **out, const char *path);
void pf_tb_close(pf_tb_file *tb);
/* Bytes of tensor i (index into f->h.tensors) into *out: into the mapping, or
 * the materialised copy. Returns 0 or an error code (inflation, memory). */
int pf_tb_data(const uint8_t **out, pf_tb_file *tb, const pf_st_file *f, size_t i);
/* Drop tensor i's materialised copy (if any). */
void pf_tb_release(pf_tb_file *tb, size_t i);
/* 1 when tensors i and j of the file are the same view of one storage
 * (tied weights saved as two keys). */
int pf_tb_same_view(const pf_tb_file *tb, const pf_st_file *f, size_t i, size_t j);
/* 1 when the file starts like a zip archive, 2 with the legacy format's magic number, else 0. */
int pf_tb_sniff(const char *path);

#endif
