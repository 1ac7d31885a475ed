/**
 * @file collector.h
 * @brief Collector: the pooled hidden states of N preference pairs, per layer.
 *
 * A profs_collector holds, for every layer l in [0, n_layers), two growing
 * matrices X+_l and X-_l of shape (n_pairs, dim): the mean-pooled residual
 * stream after block l for the preferred and the dispreferred sentence of
 * each pair. Any producer may fill it: the built-in runtime, or a host that
 * runs the model elsewhere (PyTorch hooks, llama.cpp callbacks) and pushes
 * pooled embeddings in with profs_collector_add_pair().
 *
 * File format (profs_collector_save / profs_collector_load): one safetensors
 * file with tensors `layers.{l}.preferred` and `layers.{l}.dispreferred`, each
 * (n_pairs, dim) F32, and `__metadata__` keys `format` = "profs-collector",
 * `n_layers`, `dim`, `n_pairs`, `producer`, and `model_id` when known.
 *
 * Thread safety: distinct collectors may be used from different threads;
 * one collector needs external locking when it is modified.
 */
#ifndef PROFS_COLLECTOR_H
#define PROFS_COLLECTOR_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Opaque collector of pooled embeddings. */
typedef struct profs_collector profs_collector;

/**
 * Create an empty collector.
 * @param[out] out   the new collector (set only on success)
 * @param n_layers   number of layers (>= 1)
 * @param dim        hidden size (>= 1)
 * @return PROFS_OK, PROFS_EINVAL (NULL out, zero size, n_layers x dim overflow), PROFS_ENOMEM.
 */
PROFS_API PROFS_NODISCARD int profs_collector_new(profs_collector **out, size_t n_layers, size_t dim);

/** Free a collector. Accepts NULL. */
PROFS_API void profs_collector_free(profs_collector *c);

/**
 * Append one pair. Storage grows as needed (no fixed capacity).
 * @param preferred     (n_layers, dim) row-major: pooled states of the preferred sentence, copied
 * @param dispreferred  (n_layers, dim) row-major: pooled states of the dispreferred sentence, copied
 * @return PROFS_OK; PROFS_EINVAL (NULL); PROFS_ENUMERIC (a NaN or Inf: the message names
 *         which side, layer and index; nothing is appended); PROFS_ENOMEM.
 */
PROFS_API PROFS_NODISCARD int profs_collector_add_pair(profs_collector *c, const float *preferred,
                                                       const float *dispreferred);

/**
 * Append @p n_pairs pairs at once (all or nothing).
 * @param preferred     (n_pairs, n_layers, dim) row-major
 * @param dispreferred  (n_pairs, n_layers, dim) row-major
 * @return as profs_collector_add_pair(); the message names the pair index.
 */
PROFS_API PROFS_NODISCARD int profs_collector_add_pairs(profs_collector *c, size_t n_pairs,
                                                        const float *preferred,
                                                        const float *dispreferred);

/** Number of pairs collected so far (0 for NULL). */
PROFS_API size_t profs_collector_n_pairs(const profs_collector *c);
/** Number of layers (0 for NULL). */
PROFS_API size_t profs_collector_n_layers(const profs_collector *c);
/** Hidden size (0 for NULL). */
PROFS_API size_t profs_collector_dim(const profs_collector *c);

/**
 * Borrow layer @p layer's preferred rows X+ (n_pairs, dim), row-major.
 * @return the rows, valid until the collector is next modified or freed;
 *         NULL when @p layer is out of range or no pair was added yet.
 */
PROFS_API const float *profs_collector_preferred(const profs_collector *c, size_t layer);
/** Borrow layer @p layer's dispreferred rows X- (n_pairs, dim); as profs_collector_preferred(). */
PROFS_API const float *profs_collector_dispreferred(const profs_collector *c, size_t layer);

/**
 * Append all pairs of @p src to @p dst (for shards collected on different machines).
 * @return PROFS_OK; PROFS_EINVAL (NULL, or dst == src); PROFS_ESHAPE (n_layers or dim differ);
 *         PROFS_EINVAL when both have a model id and they differ; PROFS_ENOMEM.
 *         dst is unchanged on error. When dst has no model id it takes src's.
 */
PROFS_API PROFS_NODISCARD int profs_collector_merge(profs_collector *dst, const profs_collector *src);

/**
 * Record which model produced the embeddings (saved as metadata `model_id`).
 * @param model_id  copied; NULL clears it
 */
PROFS_API int profs_collector_set_model_id(profs_collector *c, const char *model_id);
/** The model id, or NULL when unknown. Valid until the next set or free. */
PROFS_API const char *profs_collector_model_id(const profs_collector *c);
/**
 * Record the producer (metadata `producer`; default "libprofs <version>").
 * @param producer  copied; NULL restores the default
 */
PROFS_API int profs_collector_set_producer(profs_collector *c, const char *producer);
/** The producer string (never NULL for a valid collector). */
PROFS_API const char *profs_collector_producer(const profs_collector *c);

/**
 * Save as a safetensors file (format described at the top of this header),
 * written atomically.
 * @return PROFS_OK, PROFS_EINVAL, PROFS_EIO, PROFS_ENOMEM.
 */
PROFS_API PROFS_NODISCARD int profs_collector_save(const profs_collector *c, const char *path);

/**
 * Load a collector saved by profs_collector_save().
 * Validates every tensor's presence, dtype (F32) and shape against the metadata,
 * and rejects NaN/Inf.
 * @return PROFS_OK, PROFS_EIO, PROFS_EFORMAT (message names the file and the
 *         tensor or key), PROFS_ENUMERIC, PROFS_ENOMEM.
 */
PROFS_API PROFS_NODISCARD int profs_collector_load(profs_collector **out, const char *path);

/**
 * Mean-pool token states under a mask: out = mean of the rows of @p states whose
 * mask entry is non-zero (accumulated in double).
 * @param[out] out  (dim) floats
 * @param states    (n_tokens, dim) row-major
 * @param mask      (n_tokens) bytes, non-zero = real token; NULL = all tokens count
 * @return PROFS_OK; PROFS_EINVAL (NULL pointers, dim == 0, no token selected);
 *         PROFS_ENUMERIC (NaN/Inf in a selected row: message names token and index).
 */
PROFS_API PROFS_NODISCARD int profs_mean_pool(float *out, const float *states, const uint8_t *mask,
                                              size_t n_tokens, size_t dim);

#ifdef __cplusplus
}
#endif
#endif /* PROFS_COLLECTOR_H */
