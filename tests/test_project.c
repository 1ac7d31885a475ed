/* Projector kernel: equals a long double reference W - V (V^T W) by naive loops — F32 one of
 * the two f32 neighbours, BF16/F16 exactly the nearest value — both layouts, both D_FIRST
 * implementations, several block counts; constructed elements where any float32 computation
 * rounds to the wrong neighbour; round-to-odd of profs_project_f32; nothing left in the
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

/* Reference in long double by naive loops, with the f32 basis values as given:
 * D_FIRST out = W - V^T (V W); D_LAST out = W - (W V^T) V. */
static long double *lowrank_reference(const double *w, size_t rows, size_t cols, int layout, const float *v, size_t k,
                                      size_t dim)
{
    long double *out = malloc(rows * cols * sizeof *out);
    for (size_t i = 0; i < rows * cols; i++) out[i] = w[i];
    size_t m = layout == PROFS_LAYOUT_D_FIRST ? cols : rows;   /* vectors of length dim */
    for (size_t j = 0; j < m; j++)
        for (size_t r = 0; r < k; r++) {
            long double c = 0;
            for (size_t x = 0; x < dim; x++)
                c += (long double)v[r * dim + x] * (layout == PROFS_LAYOUT_D_FIRST ? w[x * cols + j] : w[j * cols + x]);
            for (size_t x = 0; x < dim; x++)
                out[layout == PROFS_LAYOUT_D_FIRST ? x * cols + j : j * cols + x] -= (long double)v[r * dim + x] * c;
        }
    return out;
}

static double val16(uint16_t h, int dtype) { return dtype == PROFS_DTYPE_BF16 ? pf_bf16_to_f32(h) : pf_f16_to_f32(h); }

/* The nearest BF16/F16 of x (ties to even), found by comparing distances in long double
 * among the neighbours of a first guess: independent of lib/core/dtype.c's rounding. */
static uint16_t nearest16(long double x, int dtype)
{
    uint16_t sign = signbit(x) ? 0x8000u : 0;
    long double a = fabsl(x);
    uint16_t g = (uint16_t)((dtype == PROFS_DTYPE_BF16 ? pf_f32_to_bf16((float)a) : pf_f32_to_f16((float)a)) & 0x7fffu);
    uint16_t best = g;
    long double bd = fabsl(val16(g, dtype) - a);
    for (int s = -1; s <= 1; s += 2) {
        if ((s < 0 && g == 0)) continue;
        uint16_t c = (uint16_t)(g + s);
        long double d = fabsl(val16(c, dtype) - a);
        if (d < bd || (d == bd && !(c & 1))) { best = c; bd = d; }
    }
    return (uint16_t)(best | sign);
}

/* The f32 neighbours of a long double: |f - x| below one f32 ulp of f (faithful). */
static int faithful_f32(float f, long double x)
{
    float up = nextafterf(f, INFINITY), dn = nextafterf(f, -INFINITY);
    return x > (long double)dn && x < (long double)up;
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
    long double *ref = lowrank_reference(w, rows, cols, layout, v, k, dim);
    double delta;
    if (allow_kernel) ck_assert_profs_ok(profs_project(&delta, buf, dtype, rows, cols, (profs_layout)layout, v, k, dim));
    else ck_assert_profs_ok(pf_project(&delta, buf, dtype, rows, cols, layout, v, k, dim, 0));
    pf_convert_to_f32(f, buf, dtype, n);
    double norm = 0, dnorm = 0;
    for (size_t i = 0; i < n; i++) {
        norm += (double)(ref[i] * ref[i]);
        dnorm += (double)((w[i] - ref[i]) * (w[i] - ref[i]));
    }
    /* (one assertion at the end: Check records every assertion, which is slow in loops) */
    size_t bad = SIZE_MAX;
    if (dtype == PROFS_DTYPE_F32) {
        /* the float64 projection rounded to nearest: one of the two f32 neighbours of the exact value */
        for (size_t i = 0; i < n && bad == SIZE_MAX; i++)
            if (!faithful_f32(f[i], ref[i])) bad = i;
    } else {
        /* exactly the nearest BF16/F16 of the reference */
        for (size_t i = 0; i < n && bad == SIZE_MAX; i++)
            if ((uint16_t)(buf[2 * i] | (buf[2 * i + 1] << 8)) != nearest16(ref[i], dtype)) bad = i;
    }
    ck_assert_msg(bad == SIZE_MAX, "dtype %d layout %d %zux%zu kernel %d: element %zu is %.9g, reference %.12Lg", dtype,
                  layout, rows, cols, allow_kernel, bad, bad == SIZE_MAX ? 0.0 : f[bad], bad == SIZE_MAX ? 0.0L : ref[bad]);
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

/* Constructed vectors (D = 2, rank 1) whose first projected entry lies within half an f32 ulp of a
 * BF16/F16 rounding midpoint, on the side away from the even neighbour: any computation that
 * produces an f32 result — even the correctly rounded one — then rounds to the midpoint and from
 * there to the wrong neighbour. The projector must give the nearest value of the reference. */
#define MID_N 4
static void midpoint_case(int dtype, int layout, int allow_kernel)
{
    const float v[2] = {0.6f, 0.8f};
    double wv[MID_N][2];
    size_t found = 0;
    uint16_t base = dtype == PROFS_DTYPE_BF16 ? 0x3f80 : 0x3c00;   /* 1.0 */
    for (unsigned a = 0; a < 2048 && found < MID_N; a++)
        for (unsigned b = 0; b < 2048 && found < MID_N; b++) {
            double w0 = val16((uint16_t)(base + a), dtype), w1 = val16((uint16_t)(base - 0x200 + b), dtype);
            long double c = (long double)v[0] * w0 + (long double)v[1] * w1;
            long double p0 = w0 - (long double)v[0] * c;
            uint16_t near = nearest16(p0, dtype);
            float f = (float)p0;   /* the best any f32 computation can give */
            uint16_t via = dtype == PROFS_DTYPE_BF16 ? pf_f32_to_bf16(f) : pf_f32_to_f16(f);
            /* and far from the midpoint compared with double rounding error (|p0| ~ 1..300) */
            long double mid = ((long double)val16(near, dtype) + val16(via, dtype)) / 2;
            if (via != near && fabsl(p0 - mid) > 1e-12L * fabsl(p0)) {
                wv[found][0] = w0;
                wv[found][1] = w1;
                found++;
            }
        }
    ck_assert_uint_eq(found, MID_N);
    /* D_FIRST: [2, MID_N], one vector per column; D_LAST: [MID_N, 2], one per row */
    size_t rows = layout == PROFS_LAYOUT_D_FIRST ? 2 : MID_N, cols = layout == PROFS_LAYOUT_D_FIRST ? MID_N : 2;
    double w[2 * MID_N];
    uint8_t buf[4 * MID_N];
    float wf[2 * MID_N];
    for (size_t j = 0; j < MID_N; j++)
        for (size_t x = 0; x < 2; x++) w[layout == PROFS_LAYOUT_D_FIRST ? x * cols + j : j * cols + x] = wv[j][x];
    for (size_t i = 0; i < 2 * MID_N; i++) wf[i] = (float)w[i];
    pf_convert_from_f32(buf, wf, dtype, 2 * MID_N);
    long double *ref = lowrank_reference(w, rows, cols, layout, v, 1, 2);
    ck_assert_profs_ok(pf_project(NULL, buf, dtype, rows, cols, layout, v, 1, 2, allow_kernel));
    /* the edit's path: an f32 copy through profs_project_f32 (round to odd), then to dtype */
    ck_assert_profs_ok(profs_project_f32(NULL, wf, rows, cols, (profs_layout)layout, v, 1, 2));
    uint8_t viaf32[4 * MID_N];
    pf_convert_from_f32(viaf32, wf, dtype, 2 * MID_N);
    for (size_t i = 0; i < 2 * MID_N; i++) {
        uint16_t want = nearest16(ref[i], dtype);
        uint16_t got = (uint16_t)(buf[2 * i] | (buf[2 * i + 1] << 8));
        uint16_t got2 = (uint16_t)(viaf32[2 * i] | (viaf32[2 * i + 1] << 8));
        ck_assert_msg(got == want, "dtype %d layout %d kernel %d: element %zu is %04x, nearest of %.15Lg is %04x",
                      dtype, layout, allow_kernel, i, got, ref[i], want);
        ck_assert_msg(got2 == want, "dtype %d layout %d via profs_project_f32: element %zu is %04x, want %04x", dtype,
                      layout, i, got2, want);
        ck_assert(faithful_f32(wf[i], ref[i]));
    }
    /* the constructed entries: the f32-nearest result would have rounded the other way */
    for (size_t j = 0; j < MID_N; j++) {
        size_t i = layout == PROFS_LAYOUT_D_FIRST ? j : j * cols;
        float f = (float)ref[i];
        uint16_t via = dtype == PROFS_DTYPE_BF16 ? pf_f32_to_bf16(f) : pf_f32_to_f16(f);
        ck_assert_uint_ne(via, nearest16(ref[i], dtype));
    }
    free(ref);
}

START_TEST(rounds_once_at_midpoints)
{
    for (int t = 0; t < 2; t++)
        for (int layout = 0; layout < 2; layout++)
            for (int kernel = 0; kernel < 2; kernel++)
                midpoint_case(t ? PROFS_DTYPE_F16 : PROFS_DTYPE_BF16, layout, kernel);
}
END_TEST

/* profs_project_f32 rounds to odd: exact results stay, inexact ones have an odd last bit and
 * lie within one ulp; profs_project on F32 rounds to nearest. */
START_TEST(f32_round_to_odd)
{
    tu_rng rng = {77};
    size_t dim = 32, other = 40, k = 3, n = dim * other;
    float *v = random_basis(k, dim, &rng);
    float *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b);
    double *w = malloc(n * sizeof *w);
    for (size_t i = 0; i < n; i++) w[i] = a[i] = b[i] = (float)tu_normal(&rng);
    long double *ref = lowrank_reference(w, dim, other, PROFS_LAYOUT_D_FIRST, v, k, dim);
    ck_assert_profs_ok(profs_project_f32(NULL, a, dim, other, PROFS_LAYOUT_D_FIRST, v, k, dim));
    ck_assert_profs_ok(profs_project(NULL, b, PROFS_DTYPE_F32, dim, other, PROFS_LAYOUT_D_FIRST, v, k, dim));
    size_t odd_bad = SIZE_MAX, near_bad = SIZE_MAX, differ = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &a[i], 4);
        if (((long double)a[i] != ref[i] && !(u & 1u)) || !faithful_f32(a[i], ref[i])) odd_bad = i;
        /* nearest: no f32 neighbour of b is closer */
        long double d = fabsl((long double)b[i] - ref[i]);
        if (fabsl((long double)nextafterf(b[i], INFINITY) - ref[i]) < d ||
            fabsl((long double)nextafterf(b[i], -INFINITY) - ref[i]) < d) near_bad = i;
        differ += a[i] != b[i];
    }
    ck_assert_msg(odd_bad == SIZE_MAX, "element %zu: %a is not the odd rounding of %La", odd_bad,
                  odd_bad == SIZE_MAX ? 0.0 : a[odd_bad], odd_bad == SIZE_MAX ? 0.0L : ref[odd_bad]);
    ck_assert_msg(near_bad == SIZE_MAX, "element %zu: %a is not the nearest f32 of %La", near_bad,
                  near_bad == SIZE_MAX ? 0.0 : b[near_bad], near_bad == SIZE_MAX ? 0.0L : ref[near_bad]);
    ck_assert_uint_gt(differ, n / 4);   /* the two roundings do differ (about half the elements) */
    free(v); free(a); free(b); free(w); free(ref);
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
    tcase_add_test(tc, rounds_once_at_midpoints);
    tcase_add_test(tc, f32_round_to_odd);
    tcase_add_test(tc, subspace_and_f32_wrappers);
    tcase_add_test(tc, errors);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
