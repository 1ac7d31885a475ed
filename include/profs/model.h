/**
 * @file model.h
 * @brief Tensor store: safetensors files and Hugging Face model directories.
 *
 * A profs_model is a read-only, memory-mapped view of
 *  - one `.safetensors` file or PyTorch checkpoint, or
 *  - a directory holding `model.safetensors`, or
 *  - a directory holding `model.safetensors.index.json` plus its shards, or
 *  - (when it has no safetensors weights) a directory holding
 *    `pytorch_model.bin`, or `pytorch_model.bin.index.json` plus its shards:
 *    PyTorch's zip format, read by a restricted unpickler that never runs
 *    anything from the file. Such a model is always saved as safetensors.
 * `config.json` next to the weights is parsed when present and can be queried.
 * Every header is validated before use (see docs/formats.md for each rule).
 * Opening costs the headers only; reading a tensor costs that tensor.
 *
 * Edits are staged (never written into the source) and written out by
 * profs_model_save(), which streams one tensor at a time.
 *
 * Thread safety: read-only queries on one handle may run concurrently;
 * staging and saving need exclusive use of the handle.
 */
#ifndef PROFS_MODEL_H
#define PROFS_MODEL_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Opaque tensor store. */
typedef struct profs_model profs_model;

/**
 * Open a safetensors file or a Hugging Face model directory.
 * @param[out] out  the new handle (set only on success)
 * @param path      a `.safetensors` file, or a directory with `model.safetensors`
 *                  or `model.safetensors.index.json` and its shards
 * @return PROFS_OK; PROFS_EIO (cannot open/map), PROFS_EFORMAT (invalid header,
 *         index or config.json; the message names the file and the problem),
 *         PROFS_ENOTFOUND (no weights in the directory), PROFS_ENOMEM.
 */
PROFS_API PROFS_NODISCARD int profs_model_open(profs_model **out, const char *path);

/** Close the store, unmap its files and drop staged edits. Accepts NULL. */
PROFS_API void profs_model_free(profs_model *m);

/** The path the store was opened from (valid until profs_model_free). */
PROFS_API const char *profs_model_path(const profs_model *m);

/** Number of tensors over all shards. */
PROFS_API size_t profs_model_tensor_count(const profs_model *m);

/**
 * Name of tensor @p index (0 <= index < count), in ascending byte order of names.
 * @return the name (valid until profs_model_free), or NULL when out of range.
 */
PROFS_API const char *profs_model_tensor_name(const profs_model *m, size_t index);

/** 1 when the store has a tensor called @p name, else 0. */
PROFS_API int profs_model_has_tensor(const profs_model *m, const char *name);

/**
 * Describe a tensor. Any output pointer may be NULL.
 * @param[out] dtype  a #profs_dtype
 * @param[out] ndim   number of dimensions (0 for a scalar)
 * @param[out] shape  borrowed array of @p ndim sizes, valid until profs_model_free
 * @param name        tensor name
 * @return PROFS_OK or PROFS_ENOTFOUND.
 */
PROFS_API int profs_model_tensor_info(const profs_model *m, const char *name,
                                      int *dtype, size_t *ndim, const int64_t **shape);

/**
 * Element count and byte size of a tensor (either output may be NULL).
 * @return PROFS_OK or PROFS_ENOTFOUND.
 */
PROFS_API int profs_model_tensor_size(const profs_model *m, const char *name,
                                      uint64_t *numel, uint64_t *nbytes);

/**
 * Read a tensor converted to f32 (from F32, F16, BF16 or F64).
 * @param dst    (count) floats
 * @param count  must equal the tensor's element count, else PROFS_ESHAPE
 * @return PROFS_OK, PROFS_ENOTFOUND, PROFS_ESHAPE, PROFS_EUNSUPPORTED (other dtypes).
 */
PROFS_API PROFS_NODISCARD int profs_model_read_f32(const profs_model *m, const char *name,
                                                   float *dst, size_t count);

/**
 * Borrow a tensor's raw little-endian bytes straight from the mapping.
 * A strided view or a deflated entry of a PyTorch checkpoint is materialised
 * (row-major) on first use instead.
 * @param[out] data    pointer into the read-only mapping (or the materialised copy), valid
 *                     until profs_model_free, or profs_model_release of this tensor
 * @param[out] nbytes  byte length
 */
PROFS_API int profs_model_tensor_data(const profs_model *m, const char *name,
                                      const void **data, uint64_t *nbytes);

/**
 * Tell the kernel the pages of tensor @p name are not needed now
 * (madvise DONTNEED on the read-only mapping; a materialised PyTorch view is
 * freed), so streaming over a model larger than RAM keeps resident memory
 * flat. Later reads fault pages in (or materialise) again.
 */
PROFS_API int profs_model_release(const profs_model *m, const char *name);

/** Number of `__metadata__` entries of the first (or only) safetensors file. */
PROFS_API size_t profs_model_metadata_count(const profs_model *m);
/** Key of metadata entry @p index (sorted by key), or NULL when out of range. */
PROFS_API const char *profs_model_metadata_key(const profs_model *m, size_t index);
/** Value of `__metadata__[key]` of the first (or only) file, or NULL when absent. */
PROFS_API const char *profs_model_metadata(const profs_model *m, const char *key);

/* ---- config.json ----
 * Keys are top-level names, or dotted paths into nested objects
 * ("rope_scaling.factor", "text_config.hidden_size").
 * Each getter returns PROFS_ENOTFOUND when there is no config.json or no such
 * key, PROFS_EFORMAT when the value has another JSON type (message names the key). */

/** 1 when a config.json was found and parsed, else 0. */
PROFS_API int profs_model_has_config(const profs_model *m);
/** Integer value (JSON integer, or a real with an integral value). */
PROFS_API int profs_model_config_int(const profs_model *m, const char *key, int64_t *out);
/** Real value (JSON real or integer). */
PROFS_API int profs_model_config_float(const profs_model *m, const char *key, double *out);
/** String value, borrowed until profs_model_free. */
PROFS_API int profs_model_config_string(const profs_model *m, const char *key, const char **out);
/** Boolean value: 0 or 1. */
PROFS_API int profs_model_config_bool(const profs_model *m, const char *key, int *out);
/** Length of an array value. */
PROFS_API int profs_model_config_array_size(const profs_model *m, const char *key, size_t *out);
/** Integer element @p index of an array value (PROFS_EINVAL when out of range). */
PROFS_API int profs_model_config_array_int(const profs_model *m, const char *key, size_t index, int64_t *out);
/** String element @p index of an array value, borrowed until profs_model_free. */
PROFS_API int profs_model_config_array_string(const profs_model *m, const char *key, size_t index,
                                              const char **out);

/* ---- staging and saving ---- */

/**
 * Stage a replacement for tensor @p name. The values are converted at once to
 * the tensor's own dtype (BF16/F16 rounded to nearest even) and kept until
 * save or free, so a staged tensor costs its on-disk size in memory.
 * @param src    (count) floats, copied
 * @param count  the tensor's element count, else PROFS_ESHAPE
 * @return PROFS_OK, PROFS_ENOTFOUND, PROFS_ESHAPE, PROFS_EUNSUPPORTED
 *         (dtype not F32/F16/BF16/F64), PROFS_ENUMERIC (NaN/Inf in src, or a value
 *         that rounds to Inf in F16/BF16, such as 70000 for F16), PROFS_ENOMEM.
 */
PROFS_API PROFS_NODISCARD int profs_model_stage_f32(profs_model *m, const char *name,
                                                    const float *src, size_t count);

/**
 * A deferred edit: called by profs_model_save() with the tensor's current
 * values converted to f32; it modifies @p data in place. A result that is
 * NaN/Inf, or rounds to Inf in the tensor's dtype, fails the save with
 * PROFS_ENUMERIC.
 * @param userdata  the pointer given to profs_model_stage_transform()
 * @param name      tensor name
 * @param data      (numel) floats, row-major with @p shape
 * @return 0, or a negative PROFS_E* code (with profs_last_error set) that aborts the save.
 */
typedef int (*profs_transform_fn)(void *userdata, const char *name, float *data,
                                  size_t ndim, const int64_t *shape);

/**
 * Stage a deferred in-place transform of tensor @p name, run while saving.
 * Streaming: only one tensor is held in memory at a time. @p userdata must
 * stay valid until profs_model_save() returns or the model is freed.
 * Staging a tensor again replaces the earlier staging.
 */
PROFS_API PROFS_NODISCARD int profs_model_stage_transform(profs_model *m, const char *name,
                                                          profs_transform_fn fn, void *userdata);

/** Drop the staging of @p name (PROFS_ENOTFOUND when nothing is staged for it). */
PROFS_API int profs_model_unstage(profs_model *m, const char *name);

/** Number of tensors with a staged replacement or transform. */
PROFS_API size_t profs_model_staged_count(const profs_model *m);

/**
 * Write the model with its staged edits.
 *
 * When the store was opened from a directory, @p out_path is a directory
 * (created when missing): shards with nothing staged are copied byte for byte,
 * shards with staged tensors are rewritten with the identical header and only
 * those tensors' bytes changed, and the index and every non-weight file of the
 * source directory (config.json, tokenizer files, ...) are copied.
 * When it was opened from a single file, @p out_path is the output file.
 *
 * Every file is written to a temporary name in the destination, fsynced and
 * renamed into place; on failure the temporaries are removed. Saving onto the
 * source itself is refused (PROFS_EEXIST). The source is never modified.
 * Staged edits remain staged after the call.
 *
 * Symbolic links in the source directory are followed only when they resolve
 * inside it or, for a Hugging Face cache snapshot (`<repo>/snapshots/<rev>/`),
 * into the same repository's `blobs/`; any other link is refused
 * (PROFS_EUNSUPPORTED naming the link and its target) before anything is
 * written, unless profs_model_set_follow_outside_links() allowed it. Every
 * copied file and directory gets its source's permission bits (less the
 * umask), never wider ones.
 *
 * The source files must not change while the model is open: the weights are
 * memory-mapped, and a file truncated under the mapping faults (SIGBUS) on
 * the next read. Re-download or sync into a new directory, not over an open one.
 *
 * @param progress  optional; stage "save", done/total in bytes
 * @return PROFS_OK, PROFS_EEXIST, PROFS_EIO, PROFS_EUNSUPPORTED, PROFS_ECANCELLED,
 *         PROFS_ENOMEM, or the code a transform returned.
 */
PROFS_API PROFS_NODISCARD int profs_model_save(profs_model *m, const char *out_path,
                                               profs_progress_fn progress, void *userdata);

/**
 * Let profs_model_save() follow symbolic links that point outside the model
 * directory (and outside a Hugging Face cache repository's blobs/), copying
 * their targets into the output. Off by default: a link such as
 * `secret -> /etc/shadow` would otherwise copy a file the model does not own.
 * @param allow  non-zero to follow every link, 0 for the default policy
 * @return PROFS_OK, or PROFS_EINVAL for a NULL model.
 */
PROFS_API int profs_model_set_follow_outside_links(profs_model *m, int allow);

/**
 * Check, without writing anything, that profs_model_save() can copy the source
 * directory: every entry is a regular file or a directory, and every symbolic
 * link obeys the link policy above. Hosts call it before long work whose
 * result will be saved, so a refused link is reported at once.
 * @return PROFS_OK (always for a single-file model), PROFS_EUNSUPPORTED naming
 *         the entry, PROFS_EIO, PROFS_ENOMEM, PROFS_EINVAL for a NULL model.
 */
PROFS_API int profs_model_check_save(const profs_model *m);

/* ---- writing new safetensors files ---- */

/**
 * Write a complete safetensors file atomically (temporary name in the same
 * directory, fsync, rename). Tensors are laid out in the order given.
 * Used for the library's own artifacts (collector, edit, hidden states) and
 * available to hosts.
 * @param path        output file
 * @param n_tensors   number of tensors
 * @param names       (n_tensors) distinct names
 * @param dtypes      (n_tensors) #profs_dtype values
 * @param ndims       (n_tensors) number of dimensions of each tensor
 * @param shapes      (n_tensors) arrays of ndims[i] non-negative sizes
 * @param data        (n_tensors) little-endian element data, numel x dtype size bytes each
 * @param n_meta      number of `__metadata__` entries (may be 0)
 * @param meta_keys   (n_meta) keys
 * @param meta_values (n_meta) values
 * @return PROFS_OK, PROFS_EINVAL (duplicate names, unknown dtype, negative size),
 *         PROFS_EIO, PROFS_ENOMEM.
 */
PROFS_API PROFS_NODISCARD int profs_safetensors_write(const char *path, size_t n_tensors,
        const char *const *names, const int *dtypes, const size_t *ndims,
        const int64_t *const *shapes, const void *const *data,
        size_t n_meta, const char *const *meta_keys, const char *const *meta_values);

#ifdef __cplusplus
}
#endif
#endif /* PROFS_MODEL_H */
