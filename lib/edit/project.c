/* Projector kernel: W - V (V^T W) in blocks, for F32 / BF16 / F16 weights in either layout. */
#include <cblas.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/dtype.h"
#include "core/error.h"
#include "profs/edit.h"

/* Floats per working block (1 MiB): big enough for sgemm, small enough for cache. */
#define PF_BLOCK_FLOATS 524288

static int all_finite(const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++) if (!isfinite(x[i])) return 0;
    return 1;
}

static double sum_squares(const float *x, size_t n)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += (double)x[i] * x[i];
    return s;
}

/* Convert the (r, w) sub-block at column j0 of a (rows, cols) matrix of dtype to f32 (ld w). */
static void load_block(float *dst, const uint8_t *w, int dtype, size_t es, size_t cols,
                       size_t r0, size_t r, size_t j0, size_t width)
{
    for (size_t i = 0; i < r; i++)
        pf_convert_to_f32(dst + i * width, w + ((r0 + i) * cols + j0) * es, dtype, width);
}

static void store_block(uint8_t *w, const float *src, int dtype, size_t es, size_t cols,
                        size_t r0, size_t r, size_t j0, size_t width)
{
    for (size_t i = 0; i < r; i++)
        pf_convert_from_f32(w + ((r0 + i) * cols + j0) * es, src + i * width, dtype, width);
}

static int has_f16_inf(const uint8_t *w, size_t cols, size_t r0, size_t r, size_t j0, size_t width)
{
    for (size_t i = 0; i < r; i++) {
        const uint8_t *p = w + ((r0 + i) * cols + j0) * 2;
        for (size_t j = 0; j < width; j++) {
            uint16_t h = (uint16_t)(p[2 * j] | (p[2 * j + 1] << 8));
            if ((h & 0x7c00u) == 0x7c00u) return 1;
        }
    }
    return 0;
}

int profs_project(double *delta_norm, void *weight, int dtype, size_t rows, size_t cols,
                  profs_layout layout, const float *basis, size_t rank, size_t dim)
{
    if (!weight || (rank && !basis)) return pf_error(PROFS_EINVAL, "profs_project: NULL argument");
    if (layout != PROFS_LAYOUT_D_FIRST && layout != PROFS_LAYOUT_D_LAST)
        return pf_error(PROFS_EINVAL, "profs_project: unknown layout %d", (int)layout);
    if (dtype != PROFS_DTYPE_F32 && dtype != PROFS_DTYPE_BF16 && dtype != PROFS_DTYPE_F16)
        return pf_error(PROFS_EUNSUPPORTED, "profs_project: dtype %s is not F32, BF16 or F16",
                        profs_dtype_name(dtype) ? profs_dtype_name(dtype) : "(unknown)");
    size_t daxis = layout == PROFS_LAYOUT_D_FIRST ? rows : cols;
    if (daxis != dim)
        return pf_error(PROFS_ESHAPE, "profs_project: weight is [%zu, %zu] but its %s axis must equal dim %zu",
                        rows, cols, layout == PROFS_LAYOUT_D_FIRST ? "first" : "last", dim);
    if (rank > dim) return pf_error(PROFS_ESHAPE, "profs_project: rank %zu exceeds dim %zu", rank, dim);
    if (rows > INT32_MAX || cols > INT32_MAX)
        return pf_error(PROFS_EUNSUPPORTED, "profs_project: dimension above 2^31 ([%zu, %zu])", rows, cols);
    if (delta_norm) *delta_norm = 0.0;
    if (rank == 0 || rows == 0 || cols == 0) return PROFS_OK;

    size_t es = profs_dtype_size(dtype);
    uint8_t *w8 = weight;
    int k = (int)rank, d = (int)dim;
    double ss = 0.0;
    int rc = PROFS_OK;
    if (layout == PROFS_LAYOUT_D_FIRST) {
        /* column blocks Wb (D, width): C = V^T Wb (k, width); Wb -= V C */
        size_t width = PF_BLOCK_FLOATS / rows;
        if (width < 16) width = 16;
        width = (width + 7) / 8 * 8;
        if (width > cols) width = cols;
        float *c = malloc(rank * width * sizeof *c);
        float *buf = dtype == PROFS_DTYPE_F32 ? NULL : malloc(rows * width * sizeof *buf);
        if (!c || (dtype != PROFS_DTYPE_F32 && !buf)) { free(c); free(buf); return pf_enomem("projection block"); }
        for (size_t j0 = 0; j0 < cols; j0 += width) {
            size_t wd = cols - j0 < width ? cols - j0 : width;
            float *wb;
            int ld;
            if (buf) { load_block(buf, w8, dtype, es, cols, 0, rows, j0, wd); wb = buf; ld = (int)wd; }
            else { wb = (float *)weight + j0; ld = (int)cols; }
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, k, (int)wd, d, 1.0f, basis, d, wb, ld,
                        0.0f, c, (int)wd);
            if (!all_finite(c, rank * wd)) { rc = pf_error(PROFS_ENUMERIC, "profs_project: the weight has non-finite values near column %zu", j0); break; }
            ss += sum_squares(c, rank * wd);
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, d, (int)wd, k, -1.0f, basis, d, c, (int)wd,
                        1.0f, wb, ld);
            if (buf) {
                store_block(w8, buf, dtype, es, cols, 0, rows, j0, wd);
                if (dtype == PROFS_DTYPE_F16 && has_f16_inf(w8, cols, 0, rows, j0, wd)) {
                    rc = pf_error(PROFS_ENUMERIC, "profs_project: F16 overflow in the projected weight near column %zu", j0);
                    break;
                }
            }
        }
        free(c);
        free(buf);
    } else {
        /* row blocks Wb (nr, D): C = Wb V (nr, k); Wb -= C V^T */
        size_t nr = PF_BLOCK_FLOATS / cols;
        if (nr < 1) nr = 1;
        if (nr > rows) nr = rows;
        float *c = malloc(nr * rank * sizeof *c);
        float *buf = dtype == PROFS_DTYPE_F32 ? NULL : malloc(nr * cols * sizeof *buf);
        if (!c || (dtype != PROFS_DTYPE_F32 && !buf)) { free(c); free(buf); return pf_enomem("projection block"); }
        for (size_t r0 = 0; r0 < rows; r0 += nr) {
            size_t rr = rows - r0 < nr ? rows - r0 : nr;
            float *wb;
            if (buf) { load_block(buf, w8, dtype, es, cols, r0, rr, 0, cols); wb = buf; }
            else wb = (float *)weight + r0 * cols;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rr, k, d, 1.0f, wb, d, basis, d,
                        0.0f, c, k);
            if (!all_finite(c, rr * rank)) { rc = pf_error(PROFS_ENUMERIC, "profs_project: the weight has non-finite values near row %zu", r0); break; }
            ss += sum_squares(c, rr * rank);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)rr, d, k, -1.0f, c, k, basis, d,
                        1.0f, wb, d);
            if (buf) {
                store_block(w8, buf, dtype, es, cols, r0, rr, 0, cols);
                if (dtype == PROFS_DTYPE_F16 && has_f16_inf(w8, cols, r0, rr, 0, cols)) {
                    rc = pf_error(PROFS_ENUMERIC, "profs_project: F16 overflow in the projected weight near row %zu", r0);
                    break;
                }
            }
        }
        free(c);
        free(buf);
    }
    if (rc == PROFS_OK && delta_norm) *delta_norm = sqrt(ss);
    return rc;
}

int profs_project_f32(double *delta_norm, float *weight, size_t rows, size_t cols, profs_layout layout,
                      const float *basis, size_t rank, size_t dim)
{
    return profs_project(delta_norm, weight, PROFS_DTYPE_F32, rows, cols, layout, basis, rank, dim);
}

int profs_project_subspace(double *delta_norm, void *weight, int dtype, size_t rows, size_t cols,
                           profs_layout layout, const profs_subspace *s)
{
    if (!s) return pf_error(PROFS_EINVAL, "profs_project_subspace: subspace is NULL");
    return profs_project(delta_norm, weight, dtype, rows, cols, layout, profs_subspace_basis(s),
                         profs_subspace_rank(s), profs_subspace_dim(s));
}
