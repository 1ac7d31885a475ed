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
 */
#ifndef PROFS_EDIT_H
#define PROFS_EDIT_H

#include "common.h"
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
 * F32 is updated directly; BF16 and F16 are converted block by block to f32,
 * projected and rounded back to nearest even. Peak extra memory is one block
 * (about 1 MiB), independent of the matrix size.
 *
 * @param[out] delta_norm  Frobenius norm of the change V (V^T W) computed in f32
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
 *         PROFS_EUNSUPPORTED (other dtype); PROFS_ENUMERIC (result not finite, e.g. F16
 *         overflow; the buffer is then partly modified); PROFS_ENOMEM. Thread-safe.
 */
PROFS_API PROFS_NODISCARD int profs_project(double *delta_norm, void *weight, int dtype,
                                            size_t rows, size_t cols, profs_layout layout,
                                            const float *basis, size_t rank, size_t dim);

/** profs_project() for an f32 buffer. */
PROFS_API PROFS_NODISCARD int profs_project_f32(double *delta_norm, float *weight, size_t rows,
                                                size_t cols, profs_layout layout,
                                                const float *basis, size_t rank, size_t dim);

/** profs_project() with a subspace's basis. */
PROFS_API PROFS_NODISCARD int profs_project_subspace(double *delta_norm, void *weight, int dtype,
                                                     size_t rows, size_t cols, profs_layout layout,
                                                     const profs_subspace *s);

#ifdef __cplusplus
}
#endif
#endif /* PROFS_EDIT_H */
