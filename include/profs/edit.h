/**
 * @file edit.h
 * @brief Projector: remove subspaces from weight matrices.
 *
 * For a subspace with orthonormal basis V (dim x rank; stored as its transpose,
 * the (rank, dim) rows of profs_subspace_basis()), a weight matrix whose model
 * dimension D = dim is
 *  - its first axis ([D, X]: nn.Linear value matrices down_proj / fc2 / fc_out,
 *    GPT-2 Conv1D key c_fc) becomes W <- (I - V V^T) W,
 *  - its last axis ([X, D]: GPT-2 Conv1D value c_proj, nn.Linear key matrices
 *    up_proj / gate_proj / fc1 / fc_in) becomes W <- W (I - V V^T).
 * Both are computed low-rank, W - V (V^T W), in blocks that touch each weight
 * once; the dim x dim projector is never formed.
 *
 * A profs_edit is a set of per-layer subspaces: the subspace estimated from
 * block l's output edits block l's own MLP. It is saved as a safetensors file
 * (see docs/core.md): tensors `layers.{l}.basis` (rank, dim) F32 and
 * `layers.{l}.singular_values` (p) F64; `__metadata__` keys `format` =
 * "profs-edit", `format_version` = "1", `libprofs_version`, `dim`, `layers`
 * (comma-separated layer indices), `layers.{l}.rank`, `layers.{l}.threshold`,
 * `n_pairs`, `centering`, `rank_rule`, `rank_k`, `screenot_strategy`, and
 * `architecture` / `model_id` when set.
 *
 * Thread safety: distinct handles may be used from different threads.
 */
#ifndef PROFS_EDIT_H
#define PROFS_EDIT_H

#include "common.h"
#include "model.h"
#include "subspace.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Which axis of a weight matrix is the model dimension D. Fixed numbers. */
typedef enum profs_layout {
    PROFS_LAYOUT_D_FIRST = 0,  /**< W is [D, X] (rows = D): W <- (I - V V^T) W */
    PROFS_LAYOUT_D_LAST = 1    /**< W is [X, D] (cols = D): W <- W (I - V V^T) */
} profs_layout;

/**
 * Project a subspace out of a weight buffer in place.
 *
 * The result is the float64 projection W - V (V^T W) (V: the f32 basis values, widened
 * exactly), rounded once to @p dtype, to nearest even: the weight is converted block by
 * block to double, V^T W and the correction are accumulated in double, and each element
 * is rounded directly from double (BF16/F16 without an intermediate f32 rounding). Peak
 * extra memory is one block of doubles (512 KiB; at least 16 columns or one row of the
 * matrix) and the basis in double, independent of the matrix size.
 *
 * @param[out] delta_norm  Frobenius norm of the change V (V^T W) computed in double
 *                         before rounding to @p dtype (may be NULL)
 * @param weight  (rows, cols) row-major little-endian elements of @p dtype, modified in place
 * @param dtype   #PROFS_DTYPE_F32, #PROFS_DTYPE_BF16 or #PROFS_DTYPE_F16
 * @param rows    number of rows
 * @param cols    number of columns
 * @param layout  #PROFS_LAYOUT_D_FIRST (rows must equal dim) or #PROFS_LAYOUT_D_LAST (cols must equal dim)
 * @param basis   (rank, dim) row-major, orthonormal rows (e.g. profs_subspace_basis())
 * @param rank    number of basis rows (0: nothing to do, *delta_norm = 0)
 * @param dim     the model dimension D
 * @return PROFS_OK; PROFS_EINVAL (NULL, unknown layout); PROFS_ESHAPE (D axis != dim);
 *         PROFS_EUNSUPPORTED (other dtype); PROFS_ENUMERIC (a non-finite weight, or a
 *         result that rounds to Inf in @p dtype, e.g. above 65504 in F16: never written as
 *         a success; the buffer is then partly modified); PROFS_ENOMEM. Thread-safe.
 */
PROFS_API PROFS_NODISCARD int profs_project(double *delta_norm, void *weight, int dtype,
                                            size_t rows, size_t cols, profs_layout layout,
                                            const float *basis, size_t rank, size_t dim);

/**
 * profs_project() for an f32 buffer that may be a copy of a BF16/F16 weight (as in a
 * profs_transform_fn): the same float64 projection, but rounded to odd in f32 (exact
 * values stay; otherwise the f32 neighbour toward zero with its last bit set to 1,
 * within one f32 ulp). Rounding that f32 result to nearest BF16 or F16 afterwards (as
 * profs_model_save() does) then gives exactly the nearest BF16/F16 of the float64
 * projection, which rounding a nearest-f32 result could miss (double rounding).
 * For an F32 weight kept in F32 it is within one ulp; profs_project() with
 * #PROFS_DTYPE_F32 gives the nearest.
 */
PROFS_API PROFS_NODISCARD int profs_project_f32(double *delta_norm, float *weight, size_t rows,
                                                size_t cols, profs_layout layout,
                                                const float *basis, size_t rank, size_t dim);

/** profs_project() with a subspace's basis. */
PROFS_API PROFS_NODISCARD int profs_project_subspace(double *delta_norm, void *weight, int dtype,
                                                     size_t rows, size_t cols, profs_layout layout,
                                                     const profs_subspace *s);

/* ---- edits: per-layer subspaces ---- */

/** Opaque set of per-layer subspaces. */
typedef struct profs_edit profs_edit;

/**
 * Create an empty edit for models of hidden size @p dim.
 * @return PROFS_OK, PROFS_EINVAL (NULL out, dim 0), PROFS_ENOMEM.
 */
PROFS_API PROFS_NODISCARD int profs_edit_new(profs_edit **out, size_t dim);

/** Free an edit. Accepts NULL. */
PROFS_API void profs_edit_free(profs_edit *e);

/**
 * Add (a copy of) the subspace of layer @p layer.
 * @return PROFS_OK; PROFS_EINVAL (NULL); PROFS_ESHAPE (subspace dim differs from the edit's);
 *         PROFS_EEXIST (the layer already has a subspace); PROFS_ENOMEM.
 */
PROFS_API PROFS_NODISCARD int profs_edit_add(profs_edit *e, size_t layer, const profs_subspace *s);

/**
 * Estimate the subspaces of several layers and collect them in a new edit.
 * @param[out] out     the new edit (set only on success)
 * @param est          options (NULL = defaults)
 * @param c            collector
 * @param layers       (n_layers) layer indices, or NULL for every layer of the collector
 * @param n_layers     number of entries of @p layers (ignored when layers is NULL)
 * @param progress     optional; stage "estimate", done/total in layers
 * @return as profs_estimate() (the message names the layer), PROFS_ECANCELLED, PROFS_EEXIST (repeated layer).
 */
PROFS_API PROFS_NODISCARD int profs_edit_estimate(profs_edit **out, const profs_estimator *est,
                                                  const profs_collector *c, const size_t *layers,
                                                  size_t n_layers, profs_progress_fn progress,
                                                  void *userdata);

/** Hidden size (0 for NULL). */
PROFS_API size_t profs_edit_dim(const profs_edit *e);
/** Number of layers with a subspace (0 for NULL). */
PROFS_API size_t profs_edit_count(const profs_edit *e);
/** Layer index of entry @p index (entries ascend by layer); SIZE_MAX when out of range. */
PROFS_API size_t profs_edit_layer_at(const profs_edit *e, size_t index);
/** The subspace of layer @p layer, or NULL when it has none. Borrowed until profs_edit_free. */
PROFS_API const profs_subspace *profs_edit_get(const profs_edit *e, size_t layer);

/** Record the architecture name (metadata; also the fallback when a model has no config.json). NULL clears. */
PROFS_API int profs_edit_set_architecture(profs_edit *e, const char *name);
/** The architecture name or NULL. Valid until the next set or free. */
PROFS_API const char *profs_edit_architecture(const profs_edit *e);
/** Record the model id (metadata). NULL clears. */
PROFS_API int profs_edit_set_model_id(profs_edit *e, const char *model_id);
/** The model id or NULL. */
PROFS_API const char *profs_edit_model_id(const profs_edit *e);

/**
 * Save the edit as a safetensors file (atomically).
 * @return PROFS_OK, PROFS_EINVAL, PROFS_EIO, PROFS_ENOMEM.
 */
PROFS_API PROFS_NODISCARD int profs_edit_save(const profs_edit *e, const char *path);

/**
 * Load an edit saved by profs_edit_save(). Validates the format, every layer's tensors
 * (dtype, shape against `dim` and `layers.{l}.rank`), orthonormality of each basis
 * (max |B B^T - I| <= 1e-4), and that no other tensors are present.
 * @return PROFS_OK, PROFS_EIO, PROFS_EFORMAT (message names the file and the tensor
 *         or key), PROFS_ENUMERIC (basis not orthonormal), PROFS_ENOMEM.
 */
PROFS_API PROFS_NODISCARD int profs_edit_load(profs_edit **out, const char *path);

/** Which MLP matrices an edit changes (bit flags). Fixed numbers. */
typedef enum profs_edit_target {
    PROFS_TARGET_VALUE = 1,  /**< the MLP output ("value") matrix: down_proj / fc2 / fc_out / c_proj (default) */
    PROFS_TARGET_KEY = 2,    /**< the MLP input ("key") matrices: up_proj + gate_proj / fc1 / fc_in / c_fc */
    PROFS_TARGET_BOTH = 3
} profs_edit_target;

/** Opaque report of an applied edit: one entry per targeted tensor. */
typedef struct profs_edit_report profs_edit_report;

/**
 * Apply an edit to a tensor store: find every targeted tensor of every layer of the
 * edit through the architecture table (config.json model_type / architectures, or
 * the tensor names; the edit's architecture is the fallback), check its shape
 * (2-D, the model-dimension axis equal to the edit's dim), and stage a deferred
 * projection with profs_model_stage_transform(); profs_model_save() then streams
 * one tensor at a time. Nothing is staged when an error is returned.
 *
 * Layers of rank 0 are listed in the report with rank 0 and are not staged.
 *
 * The report's delta norms are computed while the model is saved: the report must
 * stay alive until profs_model_save() returns (or the model is freed or the names
 * unstaged) and is complete afterwards.
 *
 * @param[out] report  the new report (set only on success)
 * @param e            the edit (read; may be freed after this call)
 * @param m            the model to stage into
 * @param targets      #profs_edit_target flags
 * @return PROFS_OK; PROFS_EINVAL (NULL, bad targets); PROFS_ENOTFOUND (a targeted tensor or
 *         layer is missing: named); PROFS_ESHAPE (unexpected shape or hidden size: named);
 *         PROFS_EUNSUPPORTED (architecture or dtype); PROFS_ENOMEM.
 */
PROFS_API PROFS_NODISCARD int profs_edit_apply(profs_edit_report **report, const profs_edit *e,
                                               profs_model *m, int targets);

/** Free a report. Accepts NULL. See profs_edit_apply() for when it may be freed. */
PROFS_API void profs_edit_report_free(profs_edit_report *r);
/** Architecture the model was resolved as ("gpt2", ...), valid until the report is freed. */
PROFS_API const char *profs_edit_report_architecture(const profs_edit_report *r);
/** Number of entries (targeted tensors, staged or of rank 0). */
PROFS_API size_t profs_edit_report_count(const profs_edit_report *r);
/** Tensor name of entry @p i (NULL when out of range), valid until the report is freed. A slice of a
 *  fused 3-D expert tensor (mixture-of-experts checkpoints saved with the experts fused) is named
 *  "TENSOR[e]", e being the expert: every expert's matrix has its own entry. */
PROFS_API const char *profs_edit_report_name(const profs_edit_report *r, size_t i);
/** Layer of entry @p i (SIZE_MAX when out of range). */
PROFS_API size_t profs_edit_report_layer(const profs_edit_report *r, size_t i);
/** Rank projected out of entry @p i (0: unchanged). */
PROFS_API size_t profs_edit_report_rank(const profs_edit_report *r, size_t i);
/** #PROFS_TARGET_VALUE or #PROFS_TARGET_KEY for entry @p i (0 when out of range). */
PROFS_API int profs_edit_report_role(const profs_edit_report *r, size_t i);
/** 1 once the projection of entry @p i ran (during profs_model_save), else 0; rank-0 entries stay 0. */
PROFS_API int profs_edit_report_applied(const profs_edit_report *r, size_t i);
/**
 * Frobenius norm of the change of entry @p i, |V V^T W| (f32, before rounding to the
 * tensor's dtype); 0 for rank 0, NaN until the projection ran.
 */
PROFS_API double profs_edit_report_delta_norm(const profs_edit_report *r, size_t i);
/** Frobenius norm of entry @p i's weight before the edit; NaN until the projection ran and for rank-0 entries. */
PROFS_API double profs_edit_report_weight_norm(const profs_edit_report *r, size_t i);
/**
 * 1 when value entry @p i was projected post-norm aware: the model normalises the MLP
 * output (Gemma-2/3 post_feedforward_layernorm with g = 1 + w), so the projection removes
 * span(diag(g) V) from W instead of span(V) (docs/core.md); 0 otherwise. Since 0.2.
 */
PROFS_API int profs_edit_report_post_norm(const profs_edit_report *r, size_t i);

/* ---- architectures: queries of the architecture table (since 0.2) ---- */

/**
 * The first layer ProFS edits by default in a model of architecture @p arch with
 * @p n_layers blocks: floor(L * 10 / 24) for gpt2, floor(L * 15 / 32) for the others
 * (and for arch NULL); the default range runs from there to L - 1.
 * @return PROFS_OK; PROFS_EINVAL (first NULL); PROFS_EUNSUPPORTED (unknown name, naming the supported ones).
 */
PROFS_API int profs_arch_default_first_layer(size_t *first, const char *arch, size_t n_layers);

/**
 * The name of @p m's unembedding matrix [vocab, hidden]: its lm_head, or the input
 * embedding when the model ties them; found through the architecture table
 * (config.json, else the tensor names). Written NUL-terminated into @p buf.
 * @return PROFS_OK; PROFS_EINVAL (NULL, size too small); PROFS_EUNSUPPORTED (unknown
 *         architecture); PROFS_ENOTFOUND (no such tensor in @p m).
 */
PROFS_API int profs_arch_unembedding(char *buf, size_t size, const profs_model *m);

#ifdef __cplusplus
}
#endif
#endif /* PROFS_EDIT_H */
