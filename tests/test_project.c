/* Projector kernel: equals the dense (I - V V^T) reference in F32 (1e-5 relative) and
 * within rounding in BF16/F16, both layouts, several block counts; nothing left in the
 * subspace; delta norm; errors. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/dtype.h"
#include "edit/project.h"
#include "profs/profs.h"
#include "testutil.h"
#include "tu_rand.h"

/* Dense reference in double: out (rows, cols) = P W (D_FIRST) or W P (D_LAST), P = I - V^T V. */
static double *dense_reference(const double *w, size_t rows, size_t cols, int layout, const float *v, size_t k, size_t dim)
{
    double *p = malloc(dim * dim * sizeof *p);
    for (size_t i = 0; i < dim; i++)
        for (size_t j = 0; j < dim; j++) {
            double s = i == j ? 1.0 : 0.0;
            for (size_t r = 0; r < k; r++) s -= (double)v[r * dim + i] * v[r * dim + j];
            p[i * dim + j] = s;
        }
    double *out = calloc(rows * cols, sizeof *out);
    if (layout == PROFS_LAYOUT_D_FIRST) {
        for (size_t i = 0; i < rows; i++)
            for (size_t x = 0; x < dim; x++) {
                double pix = p[i * dim + x];
                for (size_t j = 0; j < cols; j++) out[i * cols + j] += pix * w[x * cols + j];
            }
    } else {
        for (size_t i = 0; i < rows; i++)
            for (size_t x = 0; x < dim; x++) {
                double wix = w[i * cols + x];
                for (size_t j = 0; j < cols; j++) out[i * cols + j] += wix * p[x * dim + j];
            }
    }
    free(p);
    return out;
}

static float *random_basis(size_t k, size_t dim, tu_rng *rng)
{
    double *q = malloc(k * dim * sizeof *q);
    tu_orthonormal_rows(q, (int)k, (int)dim, rng);
    float *v = malloc(k * dim * sizeof *v);
    for (size_t i = 0; i < k * dim; i++) v[i] = (float)q[i];
    free(q);
    return v;
}

static void check_case(int dtype, int layout, size_t dim, size_t other, size_t k, unsigned seed, int allow_kernel)
{
    tu_rng rng = {seed};
    size_t rows = layout == PROFS_LAYOUT_D_FIRST ? dim : other, cols = layout == PROFS_LAYOUT_D_FIRST ? other : dim;
    size_t n = rows * cols, es = profs_dtype_size(dtype);
    float *v = random_basis(k, dim, &rng);
    uint8_t *buf = malloc(n * es);
    float *f = malloc(n * sizeof *f);
    for (size_t i = 0; i < n; i++) f[i] = (float)tu_normal(&rng);
    pf_convert_from_f32(buf, f, dtype, n);
    pf_convert_to_f32(f, buf, dtype, n);          /* the exact input values */
    double *w = malloc(n * sizeof *w);
    for (size_t i = 0; i < n; i++) w[i] = f[i];
    double *ref = dense_reference(w, rows, cols, layout, v, k, dim);
    double delta;
    if (allow_kernel) ck_assert_profs_ok(profs_project(&delta, buf, dtype, rows, cols, (profs_layout)layout, v, k, dim));
    else ck_assert_profs_ok(pf_project(&delta, buf, dtype, rows, cols, layout, v, k, dim, 0));
    pf_convert_to_f32(f, buf, dtype, n);
    double err = 0, norm = 0, dnorm = 0, maxref = 0;
    for (size_t i = 0; i < n; i++) {
        err += (f[i] - ref[i]) * (f[i] - ref[i]);
        norm += ref[i] * ref[i];
        dnorm += (w[i] - ref[i]) * (w[i] - ref[i]);
        if (fabs(ref[i]) > maxref) maxref = fabs(ref[i]);
    }
    if (dtype == PROFS_DTYPE_F32) {
        ck_assert_msg(sqrt(err / norm) <= 1e-5, "dtype %d layout %d %zux%zu: relative error %g", dtype, layout, rows, cols,
                      sqrt(err / norm));
    } else {
        /* within rounding: each element is the reference rounded once (plus f32 noise) */
        double ulp = dtype == PROFS_DTYPE_BF16 ? 1.0 / 256 : 1.0 / 2048;
        /* (one assertion at the end: Check records every assertion, which is slow in loops) */
        size_t bad = SIZE_MAX;
        for (size_t i = 0; i < n && bad == SIZE_MAX; i++)
            if (!(fabs(f[i] - ref[i]) <= ulp * fabs(ref[i]) + 1e-6 * maxref)) bad = i;
        ck_assert_msg(bad == SIZE_MAX, "dtype %d layout %d: element %zu is %.9g, reference %.9g", dtype, layout, bad,
                      bad == SIZE_MAX ? 0.0 : f[bad], bad == SIZE_MAX ? 0.0 : ref[bad]);
    }
    /* delta norm: |V V^T W| (exact math change) */
    ck_assert_msg(fabs(delta - sqrt(dnorm)) <= 1e-4 * sqrt(dnorm), "delta %g vs %g", delta, sqrt(dnorm));
    /* nothing left in the subspace (relative to |W|): V^T W or W V */
    double left = 0;
    for (size_t r = 0; r < k; r++) {
        size_t m = layout == PROFS_LAYOUT_D_FIRST ? cols : rows;
        for (size_t j = 0; j < m; j++) {
            double d = 0;
            for (size_t x = 0; x < dim; x++)
                d += v[r * dim + x] * (layout == PROFS_LAYOUT_D_FIRST ? f[x * cols + j] : f[j * cols + x]);
            left += d * d;
        }
    }
    double tol = dtype == PROFS_DTYPE_F32 ? 1e-5 : dtype == PROFS_DTYPE_F16 ? 1e-3 : 1e-2;
    ck_assert_msg(sqrt(left / norm) < tol, "dtype %d layout %d: component left %g", dtype, layout, sqrt(left / norm));
    free(v); free(buf); free(f); free(w); free(ref);
}

START_TEST(matches_dense_reference)
{
    static const int dtypes[3] = {PROFS_DTYPE_F32, PROFS_DTYPE_BF16, PROFS_DTYPE_F16};
    /* both implementations of D_FIRST: the vector kernel (where the CPU has AVX2/FMA)
     * and the portable sgemm path */
    for (int t = 0; t < 3; t++)
        for (int layout = 0; layout < 2; layout++)
            for (int kernel = 0; kernel < 2; kernel++) {
                check_case(dtypes[t], layout, 48, 80, 5, 11u + (unsigned)t, kernel);
                check_case(dtypes[t], layout, 7, 3, 1, 21u + (unsigned)t, kernel);
                check_case(dtypes[t], layout, 16, 13, 2, 41u + (unsigned)t, kernel);   /* ragged vector tail */
            }
    for (int t = 0; t < 3; t++)
        for (int layout = 0; layout < 2; layout++) {
            /* three blocks with a ragged tail: 524288 / 64 = 8192 columns (or rows) per block */
            check_case(dtypes[t], layout, 64, 20000, 4, 31u + (unsigned)t, 1);
            check_case(dtypes[t], layout, 64, 20000, 4, 31u + (unsigned)t, 0);
        }
}
END_TEST

START_TEST(subspace_and_f32_wrappers)
{
    float b[2 * 3] = {1, 0, 0, 0, 0.6f, 0.8f};
    profs_subspace *s;
    ck_assert_profs_ok(profs_subspace_from_basis(&s, b, 2, 3));
    float w[3 * 2] = {1, 2, 3, 4, 5, 6};   /* [D=3, 2] */
    ck_assert_profs_ok(profs_project_subspace(NULL, w, PROFS_DTYPE_F32, 3, 2, PROFS_LAYOUT_D_FIRST, s));
    /* (I - e0 e0^T - b b^T) with b = (0, .6, .8): row 0 -> 0; rows 1, 2 -> c (-.8, .6) (-.8 r1 + .6 r2) */
    ck_assert_float_eq_tol(w[0], 0.0f, 1e-6f);
    ck_assert_float_eq_tol(w[1], 0.0f, 1e-6f);
    ck_assert_float_eq_tol(w[2], 0.64f * 3 - 0.48f * 5, 1e-5f);
    ck_assert_float_eq_tol(w[5], -0.48f * 4 + 0.36f * 6, 1e-5f);
    float g[2 * 3] = {1, 2, 3, 4, 5, 6};   /* [2, D=3] */
    double delta = -1;
    ck_assert_profs_ok(profs_project_f32(&delta, g, 2, 3, PROFS_LAYOUT_D_LAST, b, 0, 3));
    ck_assert_double_eq(delta, 0.0);
    ck_assert_float_eq(g[4], 5.0f);
    ck_assert_profs_ok(profs_project_f32(&delta, g, 2, 3, PROFS_LAYOUT_D_LAST, b, 1, 3));
    ck_assert_float_eq(g[0], 0.0f);
    ck_assert_float_eq(g[3], 0.0f);
    ck_assert_double_eq_tol(delta, sqrt(17.0), 1e-6);
    ck_assert_profs_error(profs_project_subspace(NULL, g, PROFS_DTYPE_F32, 2, 3, PROFS_LAYOUT_D_LAST, NULL), PROFS_EINVAL,
                          "subspace is NULL");
    profs_subspace_free(s);
}
END_TEST

START_TEST(errors)
{
    float v[2] = {0.6f, -0.8f};
    float w[4] = {1, 2, 3, 4};
    ck_assert_profs_error(profs_project(NULL, NULL, PROFS_DTYPE_F32, 2, 2, PROFS_LAYOUT_D_FIRST, v, 1, 2), PROFS_EINVAL, "NULL");
    ck_assert_profs_error(profs_project(NULL, w, PROFS_DTYPE_F32, 2, 2, PROFS_LAYOUT_D_FIRST, NULL, 1, 2), PROFS_EINVAL, "NULL");
    ck_assert_profs_error(profs_project(NULL, w, PROFS_DTYPE_F32, 2, 2, (profs_layout)2, v, 1, 2), PROFS_EINVAL, "unknown layout 2");
    ck_assert_profs_error(profs_project(NULL, w, PROFS_DTYPE_F64, 2, 2, PROFS_LAYOUT_D_FIRST, v, 1, 2), PROFS_EUNSUPPORTED,
                          "dtype F64 is not F32, BF16 or F16");
    ck_assert_profs_error(profs_project(NULL, w, PROFS_DTYPE_F32, 1, 4, PROFS_LAYOUT_D_FIRST, v, 1, 2), PROFS_ESHAPE,
                          "weight is [1, 4] but its first axis must equal dim 2");
    ck_assert_profs_error(profs_project(NULL, w, PROFS_DTYPE_F32, 2, 2, PROFS_LAYOUT_D_LAST, v, 3, 2), PROFS_ESHAPE,
                          "rank 3 exceeds dim 2");
    w[3] = NAN;
    ck_assert_profs_error(profs_project(NULL, w, PROFS_DTYPE_F32, 2, 2, PROFS_LAYOUT_D_FIRST, v, 1, 2), PROFS_ENUMERIC,
                          "non-finite values");
    /* F16 overflow: projection can raise one entry above 65504 */
    float big[2] = {60000.0f, 60000.0f};
    uint16_t h[2];
    pf_convert_from_f32(h, big, PROFS_DTYPE_F16, 2);
    float u[2] = {0.3f, -sqrtf(1.0f - 0.09f)};
    ck_assert_profs_error(profs_project(NULL, h, PROFS_DTYPE_F16, 2, 1, PROFS_LAYOUT_D_FIRST, u, 1, 2), PROFS_ENUMERIC,
                          "F16 overflow");
    /* BF16 has the range: the same values are fine */
    uint16_t hb[2];
    pf_convert_from_f32(hb, big, PROFS_DTYPE_BF16, 2);
    ck_assert_profs_ok(profs_project(NULL, hb, PROFS_DTYPE_BF16, 2, 1, PROFS_LAYOUT_D_FIRST, u, 1, 2));
    ck_assert_float_gt(pf_bf16_to_f32(hb[0]), 65504.0f);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("project");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, matches_dense_reference);
    tcase_add_test(tc, subspace_and_f32_wrappers);
    tcase_add_test(tc, errors);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
