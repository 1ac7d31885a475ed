/* Projector kernel: W - V (V^T W) in blocks, computed in double and rounded once, for
 * F32 / BF16 / F16 weights in either layout. */
#include <cblas.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/dtype.h"
#include "core/error.h"
#include "edit/project.h"
#include "profs/edit.h"

/* Doubles per working block (512 KiB): fits L2 with its C; for D = 4096, 16 columns. */
#define PF_BLOCK_DOUBLES 65536

/* How results are rounded from double (internal modes of pf_project_mode). */
enum { PF_ROUND_NEAREST = 0, PF_ROUND_ODD = 1 };

/* |x| at or above this rounds to Inf in dtype (nearest even): F32 2^128 - 2^103, BF16 0x1.ffp127, F16 65520. */
static double overflow_limit(int dtype)
{
    return dtype == PROFS_DTYPE_F32 ? 0x1.ffffffp127 : dtype == PROFS_DTYPE_BF16 ? 0x1.ffp127 : 65520.0;
}

static int all_finite(const double *x, size_t n)
{
    for (size_t i = 0; i < n; i++) if (!isfinite(x[i])) return 0;
    return 1;
}

static double sum_squares(const double *x, size_t n)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += x[i] * x[i];
    return s;
}

static double elem_to_f64(const uint8_t *p, int dtype)
{
    if (dtype == PROFS_DTYPE_F32) { float f; memcpy(&f, p, 4); return f; }
    uint16_t h = (uint16_t)(p[0] | (p[1] << 8));
    return dtype == PROFS_DTYPE_BF16 ? pf_bf16_to_f32(h) : pf_f16_to_f32(h);
}

/* One element from double, rounded once (F32: nearest even or odd; BF16/F16: nearest even). */
static void elem_from_f64(uint8_t *p, double x, int dtype, int mode)
{
    if (dtype == PROFS_DTYPE_F32) {
        float f = mode == PF_ROUND_ODD ? pf_f64_to_f32_odd(x) : (float)x;
        memcpy(p, &f, 4);
        return;
    }
    uint16_t h = dtype == PROFS_DTYPE_BF16 ? pf_f64_to_bf16(x) : pf_f64_to_f16(x);
    p[0] = (uint8_t)h;
    p[1] = (uint8_t)(h >> 8);
}

/* ---- the D_FIRST kernel: W (D, cols) <- W - V^T (V W), one column block at a time, in double ----
 * Written with GCC vector extensions (4 doubles) so that the conversion from BF16 and
 * both rank-k updates run in one pass over each row of the block; on x86-64 GCC it is
 * compiled twice (AVX2+FMA and baseline) and the best is picked at load time. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define PF_CLONES __attribute__((target_clones("arch=x86-64-v3", "default"), optimize("fp-contract=fast")))
/* The vector kernel beats OpenBLAS only when AVX2 and FMA are there; elsewhere dgemm is used. */
static int have_vector_kernel(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}
#else
#define PF_CLONES
static int have_vector_kernel(void) { return 0; }
#endif

typedef double pf_v4d __attribute__((vector_size(32)));
typedef int64_t pf_v4l __attribute__((vector_size(32)));
typedef float pf_v4f __attribute__((vector_size(16)));
typedef uint32_t pf_v4u __attribute__((vector_size(16)));
typedef int32_t pf_v4i __attribute__((vector_size(16)));
typedef uint16_t pf_v4h __attribute__((vector_size(8)));

/* row (wpad doubles, 32-byte aligned) <- wd elements of dtype at src, zero-padded */
static inline __attribute__((always_inline)) void load_row(double *row, const uint8_t *src, int dtype, size_t wd, size_t wpad)
{
    size_t j = 0;
    if (dtype == PROFS_DTYPE_BF16) {
        for (; j + 4 <= wd; j += 4) {
            pf_v4h h;
            memcpy(&h, src + 2 * j, sizeof h);
            pf_v4u u = __builtin_convertvector(h, pf_v4u) << 16;
            pf_v4f f;
            memcpy(&f, &u, sizeof f);
            pf_v4d d = __builtin_convertvector(f, pf_v4d);
            memcpy(row + j, &d, sizeof d);
        }
    } else if (dtype == PROFS_DTYPE_F32) {
        for (; j + 4 <= wd; j += 4) {
            pf_v4f f;
            memcpy(&f, src + 4 * j, sizeof f);
            pf_v4d d = __builtin_convertvector(f, pf_v4d);
            memcpy(row + j, &d, sizeof d);
        }
    }
    for (; j < wd; j++) row[j] = elem_to_f64(src + j * (dtype == PROFS_DTYPE_F32 ? 4 : 2), dtype);
    for (; j < wpad; j++) row[j] = 0.0;
}

/* wd elements of dtype at dst <- row (finite values), rounded once (see elem_from_f64).
 * Returns nonzero if a value rounds to Inf in dtype. */
static inline __attribute__((always_inline)) int store_row(uint8_t *dst, const double *row, int dtype, int mode, size_t wd)
{
    size_t j = 0;
    const double lim = overflow_limit(dtype);
    int ovf = 0;
    if (dtype == PROFS_DTYPE_BF16 || dtype == PROFS_DTYPE_F32) {
        pf_v4l big = {0, 0, 0, 0};
        for (; j + 4 <= wd; j += 4) {
            pf_v4d x;
            memcpy(&x, row + j, sizeof x);
            pf_v4f f = __builtin_convertvector(x, pf_v4f);          /* nearest even */
            big |= (x >= lim) | (x <= -lim);
            if (dtype == PROFS_DTYPE_F32 && mode == PF_ROUND_NEAREST) {
                memcpy(dst + 4 * j, &f, sizeof f);
                continue;
            }
            /* round to odd in f32: step toward zero where nearest went past x, last bit 1 if inexact */
            pf_v4d back = __builtin_convertvector(f, pf_v4d);
            pf_v4l past = ((back > x) & (x > 0.0)) | ((back < x) & (x < 0.0));
            pf_v4l inexact = back != x;
            pf_v4u u;
            memcpy(&u, &f, sizeof u);
            u += (pf_v4u)__builtin_convertvector(past, pf_v4i);   /* -1 where past */
            u |= (pf_v4u)__builtin_convertvector(inexact, pf_v4i) & 1u;
            if (dtype == PROFS_DTYPE_BF16) {
                u = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;       /* nearest even */
                pf_v4h h = __builtin_convertvector(u, pf_v4h);
                memcpy(dst + 2 * j, &h, sizeof h);
            } else {
                memcpy(dst + 4 * j, &u, sizeof u);
            }
        }
        ovf = (big[0] | big[1] | big[2] | big[3]) != 0;
    }
    size_t es = dtype == PROFS_DTYPE_F32 ? 4 : 2;
    for (; j < wd; j++) {
        ovf |= fabs(row[j]) >= lim;
        elem_from_f64(dst + j * es, row[j], dtype, mode);
    }
    return ovf;
}

/* Convert the (r, width) sub-block at (r0, j0) of a (rows, cols) matrix of dtype to double (ld width). */
static void load_block(double *dst, const uint8_t *w, int dtype, size_t es, size_t cols,
                       size_t r0, size_t r, size_t j0, size_t width)
{
    for (size_t i = 0; i < r; i++) load_row(dst + i * width, w + ((r0 + i) * cols + j0) * es, dtype, width, width);
}

/* Round the block back; returns 1 if some value rounds to Inf in dtype (the block is then written anyway). */
static int store_block(uint8_t *w, const double *src, int dtype, int mode, size_t es, size_t cols,
                       size_t r0, size_t r, size_t j0, size_t width)
{
    int ovf = 0;
    for (size_t i = 0; i < r; i++) ovf |= store_row(w + ((r0 + i) * cols + j0) * es, src + i * width, dtype, mode, width);
    return ovf;
}

/* One column block [j0, j0 + wd) of W (d rows, cols columns, dtype es bytes each).
 * vt: (d, k) = V^T in double; buf: (d, wpad) aligned; c: (k, wpad) aligned.
 * Returns 0, -1 when V^T W is not finite (the block is then left unchanged), or 1 when a
 * result rounds to Inf in dtype (the block is written). */
PF_CLONES
static int dfirst_block(uint8_t *w, int dtype, int mode, size_t es, size_t cols, size_t d, size_t j0, size_t wd,
                        size_t wpad, const double *vt, size_t k, double *buf, double *c, double *ss)
{
    size_t nv = wpad / 4;   /* wpad is a multiple of 8: vectors come in pairs */
    pf_v4d *cv = (pf_v4d *)c;
    memset(c, 0, k * wpad * sizeof *c);
    /* pass 1: load and convert the rows, C += v[:, x] row_x, four rows at a time
     * (one load and store of C per four FMAs) */
    size_t x = 0;
    for (; x < d; x++) {
        double *row = buf + x * wpad;
        load_row(row, w + (x * cols + j0) * es, dtype, wd, wpad);
        if (x % 4 != 3) continue;
        const pf_v4d *r0 = (const pf_v4d *)(row - 3 * wpad), *r1 = (const pf_v4d *)(row - 2 * wpad),
                     *r2 = (const pf_v4d *)(row - wpad), *r3 = (const pf_v4d *)row;
        const double *a = vt + (x - 3) * k;
        for (size_t r = 0; r < k; r++) {
            pf_v4d a0 = {a[r], a[r], a[r], a[r]}, a1 = {a[k + r], a[k + r], a[k + r], a[k + r]},
                   a2 = {a[2 * k + r], a[2 * k + r], a[2 * k + r], a[2 * k + r]},
                   a3 = {a[3 * k + r], a[3 * k + r], a[3 * k + r], a[3 * k + r]};
            pf_v4d *cr = cv + r * nv;
            for (size_t t = 0; t < nv; t++) cr[t] += a0 * r0[t] + a1 * r1[t] + a2 * r2[t] + a3 * r3[t];
        }
    }
    for (size_t y = d / 4 * 4; y < d; y++) {   /* the last d % 4 rows */
        const pf_v4d *rv = (const pf_v4d *)(buf + y * wpad);
        const double *a = vt + y * k;
        for (size_t r = 0; r < k; r++) {
            pf_v4d ar = {a[r], a[r], a[r], a[r]};
            pf_v4d *cr = cv + r * nv;
            for (size_t t = 0; t < nv; t++) cr[t] += ar * rv[t];
        }
    }
    double sum = 0.0;
    for (size_t i = 0; i < k * wpad; i++) {
        if (!isfinite(c[i])) return -1;
        sum += c[i] * c[i];
    }
    *ss += sum;
    /* pass 2: row_x -= sum_r v[r][x] C_r, two vectors of a row at a time, round back once */
    int ovf = 0;
    for (x = 0; x < d; x++) {
        double *row = buf + x * wpad;
        pf_v4d *rv = (pf_v4d *)row;
        const double *a = vt + x * k;
        for (size_t t = 0; t < nv; t += 2) {
            pf_v4d acc0 = rv[t], acc1 = rv[t + 1];
            for (size_t r = 0; r < k; r++) {
                pf_v4d ar = {a[r], a[r], a[r], a[r]};
                acc0 -= ar * cv[r * nv + t];
                acc1 -= ar * cv[r * nv + t + 1];
            }
            rv[t] = acc0;
            rv[t + 1] = acc1;
        }
        ovf |= store_row(w + (x * cols + j0) * es, row, dtype, mode, wd);
    }
    return ovf;
}

int profs_project(double *delta_norm, void *weight, int dtype, size_t rows, size_t cols,
                  profs_layout layout, const float *basis, size_t rank, size_t dim)
{
    return pf_project_mode(delta_norm, weight, dtype, rows, cols, (int)layout, basis, rank, dim, 1, PF_ROUND_NEAREST);
}

int pf_project(double *delta_norm, void *weight, int dtype, size_t rows, size_t cols, int layout,
               const float *basis, size_t rank, size_t dim, int allow_kernel)
{
    return pf_project_mode(delta_norm, weight, dtype, rows, cols, layout, basis, rank, dim, allow_kernel,
                           PF_ROUND_NEAREST);
}

static int overflow_error(int dtype, const char *where, size_t at)
{
    return pf_error(PROFS_ENUMERIC, "profs_project: %s overflow in the projected weight near %s %zu",
                    profs_dtype_name(dtype), where, at);
}

int pf_project_mode(double *delta_norm, void *weight, int dtype, size_t rows, size_t cols, int layout,
                    const float *basis, size_t rank, size_t dim, int allow_kernel, int round_odd)
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

    int mode = round_odd ? PF_ROUND_ODD : PF_ROUND_NEAREST;
    size_t es = profs_dtype_size(dtype);
    uint8_t *w8 = weight;
    int k = (int)rank, d = (int)dim;
    double ss = 0.0;
    int rc = PROFS_OK;
    /* the basis in double, exactly the f32 values given: V (k, D) */
    double *vd = malloc(rank * dim * sizeof *vd);
    if (!vd) return pf_enomem("projection basis");
    for (size_t i = 0; i < rank * dim; i++) vd[i] = basis[i];
    if (layout == PROFS_LAYOUT_D_FIRST && allow_kernel && have_vector_kernel()) {
        /* column blocks (D, wpad) through the fused vector kernel */
        size_t width = PF_BLOCK_DOUBLES / rows;
        if (width < 16) width = 16;
        width = (width + 7) / 8 * 8;
        if (width > (cols + 7) / 8 * 8) width = (cols + 7) / 8 * 8;
        double *vt = malloc(rows * rank * sizeof *vt);   /* (D, k) */
        double *buf = aligned_alloc(32, rows * width * sizeof *buf);
        double *c = aligned_alloc(32, rank * width * sizeof *c);
        if (!vt || !buf || !c) { free(vt); free(buf); free(c); free(vd); return pf_enomem("projection block"); }
        for (size_t r = 0; r < rank; r++)
            for (size_t x = 0; x < rows; x++) vt[x * rank + r] = vd[r * dim + x];
        for (size_t j0 = 0; j0 < cols; j0 += width) {
            size_t wd = cols - j0 < width ? cols - j0 : width;
            size_t wpad = (wd + 7) / 8 * 8;
            int b = dfirst_block(w8, dtype, mode, es, cols, rows, j0, wd, wpad, vt, rank, buf, c, &ss);
            if (b < 0) {
                rc = pf_error(PROFS_ENUMERIC, "profs_project: the weight has non-finite values near column %zu", j0);
                break;
            }
            if (b > 0) { rc = overflow_error(dtype, "column", j0); break; }
        }
        free(vt);
        free(buf);
        free(c);
    } else if (layout == PROFS_LAYOUT_D_FIRST) {
        /* column blocks Wb (D, width) through dgemm: C = V Wb (k, width); Wb -= V^T C */
        size_t width = PF_BLOCK_DOUBLES / rows;
        if (width < 16) width = 16;
        if (width > cols) width = cols;
        double *c = malloc(rank * width * sizeof *c);
        double *buf = malloc(rows * width * sizeof *buf);
        if (!c || !buf) { free(c); free(buf); free(vd); return pf_enomem("projection block"); }
        for (size_t j0 = 0; j0 < cols; j0 += width) {
            size_t wd = cols - j0 < width ? cols - j0 : width;
            load_block(buf, w8, dtype, es, cols, 0, rows, j0, wd);
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, k, (int)wd, d, 1.0, vd, d, buf, (int)wd,
                        0.0, c, (int)wd);
            if (!all_finite(c, rank * wd)) { rc = pf_error(PROFS_ENUMERIC, "profs_project: the weight has non-finite values near column %zu", j0); break; }
            ss += sum_squares(c, rank * wd);
            cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, d, (int)wd, k, -1.0, vd, d, c, (int)wd,
                        1.0, buf, (int)wd);
            if (store_block(w8, buf, dtype, mode, es, cols, 0, rows, j0, wd)) { rc = overflow_error(dtype, "column", j0); break; }
        }
        free(c);
        free(buf);
    } else {
        /* row blocks Wb (nr, D): C = Wb V^T (nr, k); Wb -= C V */
        size_t nr = PF_BLOCK_DOUBLES / cols;
        if (nr < 1) nr = 1;
        if (nr > rows) nr = rows;
        double *c = malloc(nr * rank * sizeof *c);
        double *buf = malloc(nr * cols * sizeof *buf);
        if (!c || !buf) { free(c); free(buf); free(vd); return pf_enomem("projection block"); }
        for (size_t r0 = 0; r0 < rows; r0 += nr) {
            size_t rr = rows - r0 < nr ? rows - r0 : nr;
            load_block(buf, w8, dtype, es, cols, r0, rr, 0, cols);
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rr, k, d, 1.0, buf, d, vd, d,
                        0.0, c, k);
            if (!all_finite(c, rr * rank)) { rc = pf_error(PROFS_ENUMERIC, "profs_project: the weight has non-finite values near row %zu", r0); break; }
            ss += sum_squares(c, rr * rank);
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)rr, d, k, -1.0, c, k, vd, d,
                        1.0, buf, d);
            if (store_block(w8, buf, dtype, mode, es, cols, r0, rr, 0, cols)) { rc = overflow_error(dtype, "row", r0); break; }
        }
        free(c);
        free(buf);
    }
    free(vd);
    if (rc == PROFS_OK && delta_norm) *delta_norm = sqrt(ss);
    return rc;
}

int profs_project_f32(double *delta_norm, float *weight, size_t rows, size_t cols, profs_layout layout,
                      const float *basis, size_t rank, size_t dim)
{
    /* round to odd: the f32 result is within one ulp of the float64 projection, and rounding it
     * to BF16/F16 afterwards (as profs_model_save does for a transform) gives exactly the nearest
     * BF16/F16 of the float64 projection */
    return pf_project_mode(delta_norm, weight, PROFS_DTYPE_F32, rows, cols, (int)layout, basis, rank, dim, 1,
                           PF_ROUND_ODD);
}

int profs_project_subspace(double *delta_norm, void *weight, int dtype, size_t rows, size_t cols,
                           profs_layout layout, const profs_subspace *s)
{
    if (!s) return pf_error(PROFS_EINVAL, "profs_project_subspace: subspace is NULL");
    return profs_project(delta_norm, weight, dtype, rows, cols, layout, profs_subspace_basis(s),
                         profs_subspace_rank(s), profs_subspace_dim(s));
}
