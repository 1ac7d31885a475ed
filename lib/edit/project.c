/* Projector kernel: W - V (V^T W) in blocks, for F32 / BF16 / F16 weights in either layout. */
#include <cblas.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/dtype.h"
#include "core/error.h"
#include "edit/project.h"
#include "profs/edit.h"

/* Floats per working block (2 MiB of f32): big enough for sgemm, small enough for cache. */
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

/* ---- the D_FIRST kernel: W (D, cols) <- W - V^T (V W), one column block at a time ----
 * Written with GCC vector extensions (8 floats) so that the conversion from BF16 and
 * both rank-k updates run in one pass over each row of the block; on x86-64 GCC it is
 * compiled twice (AVX2+FMA and baseline) and the best is picked at load time. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define PF_CLONES __attribute__((target_clones("arch=x86-64-v3", "default"), optimize("fp-contract=fast")))
/* The vector kernel beats OpenBLAS only when AVX2 and FMA are there; elsewhere sgemm is used. */
static int have_vector_kernel(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}
#else
#define PF_CLONES
static int have_vector_kernel(void) { return 0; }
#endif

typedef float pf_v8f __attribute__((vector_size(32)));
typedef uint32_t pf_v8u __attribute__((vector_size(32)));
typedef uint16_t pf_v8h __attribute__((vector_size(16)));

/* row (wpad floats, 32-byte aligned) <- wd elements of dtype at src, zero-padded */
static inline __attribute__((always_inline)) void load_row(float *row, const uint8_t *src, int dtype, size_t wd, size_t wpad)
{
    size_t j = 0;
    if (dtype == PROFS_DTYPE_BF16) {
        for (; j + 8 <= wd; j += 8) {
            pf_v8h h;
            memcpy(&h, src + 2 * j, sizeof h);
            pf_v8u u = __builtin_convertvector(h, pf_v8u) << 16;
            memcpy(row + j, &u, sizeof u);
        }
        for (; j < wd; j++) row[j] = pf_bf16_to_f32((uint16_t)(src[2 * j] | (src[2 * j + 1] << 8)));
    } else if (dtype == PROFS_DTYPE_F32) {
        memcpy(row, src, wd * sizeof *row);
        j = wd;
    } else {
        pf_convert_to_f32(row, src, dtype, wd);
        j = wd;
    }
    for (; j < wpad; j++) row[j] = 0.0f;
}

/* wd elements of dtype at dst <- row (finite values), round to nearest even */
static inline __attribute__((always_inline)) void store_row(uint8_t *dst, const float *row, int dtype, size_t wd)
{
    if (dtype == PROFS_DTYPE_BF16) {
        size_t j = 0;
        for (; j + 8 <= wd; j += 8) {
            pf_v8u u;
            memcpy(&u, row + j, sizeof u);
            u = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
            pf_v8h h = __builtin_convertvector(u, pf_v8h);
            memcpy(dst + 2 * j, &h, sizeof h);
        }
        if (j < wd) pf_convert_from_f32(dst + 2 * j, row + j, dtype, wd - j);
    } else if (dtype == PROFS_DTYPE_F32) {
        memcpy(dst, row, wd * sizeof *row);
    } else {
        pf_convert_from_f32(dst, row, dtype, wd);
    }
}

/* One column block [j0, j0 + wd) of W (d rows, cols columns, dtype es bytes each).
 * vt: (d, k) = V^T; buf: (d, wpad) aligned; c: (k, wpad) aligned.
 * Returns 0, or -1 when V^T W is not finite (the block is then left unchanged). */
PF_CLONES
static int dfirst_block(uint8_t *w, int dtype, size_t es, size_t cols, size_t d, size_t j0, size_t wd, size_t wpad,
                        const float *vt, size_t k, float *buf, float *c, double *ss)
{
    size_t nv = wpad / 8;
    pf_v8f *cv = (pf_v8f *)c;
    memset(c, 0, k * wpad * sizeof *c);
    /* pass 1: load and convert each row, C += v[:, x] row_x */
    for (size_t x = 0; x < d; x++) {
        float *row = buf + x * wpad;
        load_row(row, w + (x * cols + j0) * es, dtype, wd, wpad);
        const pf_v8f *rv = (const pf_v8f *)row;
        const float *a = vt + x * k;
        for (size_t r = 0; r < k; r++) {
            pf_v8f ar = {a[r], a[r], a[r], a[r], a[r], a[r], a[r], a[r]};
            pf_v8f *cr = cv + r * nv;
            for (size_t t = 0; t < nv; t++) cr[t] += ar * rv[t];
        }
    }
    double sum = 0.0;
    for (size_t i = 0; i < k * wpad; i++) {
        if (!isfinite(c[i])) return -1;
        sum += (double)c[i] * c[i];
    }
    *ss += sum;
    /* pass 2: row_x -= sum_r v[r][x] C_r, convert back */
    for (size_t x = 0; x < d; x++) {
        float *row = buf + x * wpad;
        pf_v8f *rv = (pf_v8f *)row;
        const float *a = vt + x * k;
        for (size_t t = 0; t < nv; t++) {
            pf_v8f acc = rv[t];
            for (size_t r = 0; r < k; r++) {
                pf_v8f ar = {a[r], a[r], a[r], a[r], a[r], a[r], a[r], a[r]};
                acc -= ar * cv[r * nv + t];
            }
            rv[t] = acc;
        }
        store_row(w + (x * cols + j0) * es, row, dtype, wd);
    }
    return 0;
}

int profs_project(double *delta_norm, void *weight, int dtype, size_t rows, size_t cols,
                  profs_layout layout, const float *basis, size_t rank, size_t dim)
{
    return pf_project(delta_norm, weight, dtype, rows, cols, (int)layout, basis, rank, dim, 1);
}

int pf_project(double *delta_norm, void *weight, int dtype, size_t rows, size_t cols, int layout,
               const float *basis, size_t rank, size_t dim, int allow_kernel)
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
    if (layout == PROFS_LAYOUT_D_FIRST && allow_kernel && have_vector_kernel()) {
        /* column blocks (D, wpad) through the fused vector kernel */
        size_t width = PF_BLOCK_FLOATS / rows;
        if (width < 16) width = 16;
        width = (width + 7) / 8 * 8;
        if (width > (cols + 7) / 8 * 8) width = (cols + 7) / 8 * 8;
        float *vt = malloc(rows * rank * sizeof *vt);   /* (D, k) */
        float *buf = aligned_alloc(32, rows * width * sizeof *buf);
        float *c = aligned_alloc(32, rank * width * sizeof *c);
        if (!vt || !buf || !c) { free(vt); free(buf); free(c); return pf_enomem("projection block"); }
        for (size_t r = 0; r < rank; r++)
            for (size_t x = 0; x < rows; x++) vt[x * rank + r] = basis[r * dim + x];
        for (size_t j0 = 0; j0 < cols; j0 += width) {
            size_t wd = cols - j0 < width ? cols - j0 : width;
            size_t wpad = (wd + 7) / 8 * 8;
            if (dfirst_block(w8, dtype, es, cols, rows, j0, wd, wpad, vt, rank, buf, c, &ss)) {
                rc = pf_error(PROFS_ENUMERIC, "profs_project: the weight has non-finite values near column %zu", j0);
                break;
            }
            if (dtype == PROFS_DTYPE_F16 && has_f16_inf(w8, cols, 0, rows, j0, wd)) {
                rc = pf_error(PROFS_ENUMERIC, "profs_project: F16 overflow in the projected weight near column %zu", j0);
                break;
            }
        }
        free(vt);
        free(buf);
        free(c);
    } else if (layout == PROFS_LAYOUT_D_FIRST) {
        /* column blocks Wb (D, width) through sgemm: C = V^T Wb (k, width); Wb -= V C */
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
