/* Error codes, messages, versions, dtype tables, f32 <-> F16/BF16 conversions and the
 * single-rounding double -> f32 (odd) / BF16 / F16 conversions. */
#include <math.h>
#include <pthread.h>
#include <string.h>

#include "core/dtype.h"
#include "core/error.h"
#include "profs/profs.h"
#include "testutil.h"

START_TEST(version_matches_header)
{
    ck_assert_str_eq(profs_version_string(), PROFS_VERSION_STRING);
    ck_assert_int_eq(profs_version_number(), PROFS_VERSION_NUMBER);
    ck_assert_int_eq(PROFS_VERSION_NUMBER,
                     PROFS_VERSION_MAJOR * 10000 + PROFS_VERSION_MINOR * 100 + PROFS_VERSION_PATCH);
}
END_TEST

START_TEST(codes_are_fixed)
{
    /* These numbers are part of the ABI: never renumbered. */
    ck_assert_int_eq(PROFS_OK, 0);
    ck_assert_int_eq(PROFS_EINVAL, -1);
    ck_assert_int_eq(PROFS_ENOMEM, -2);
    ck_assert_int_eq(PROFS_EIO, -3);
    ck_assert_int_eq(PROFS_EFORMAT, -4);
    ck_assert_int_eq(PROFS_EUNSUPPORTED, -5);
    ck_assert_int_eq(PROFS_ESHAPE, -6);
    ck_assert_int_eq(PROFS_ENUMERIC, -7);
    ck_assert_int_eq(PROFS_ECANCELLED, -8);
    ck_assert_int_eq(PROFS_ESTATE, -9);
    ck_assert_int_eq(PROFS_EBUFS, -10);
    ck_assert_int_eq(PROFS_ENOTFOUND, -11);
    ck_assert_int_eq(PROFS_EEXIST, -12);
    ck_assert_str_eq(profs_strerror(PROFS_ESHAPE), "shape or size mismatch");
    ck_assert_str_eq(profs_strerror(PROFS_OK), "success");
    ck_assert_str_eq(profs_strerror(-999), "unknown error");
    ck_assert_str_eq(profs_strerror(7), "unknown error");
}
END_TEST

START_TEST(last_error_never_null_and_formats)
{
    profs_clear_error();
    ck_assert_ptr_nonnull(profs_last_error());
    ck_assert_str_eq(profs_last_error(), "");
    ck_assert_int_eq(pf_error(PROFS_EFORMAT, "%s: field '%s' bad", "a.json", "x"), PROFS_EFORMAT);
    ck_assert_str_eq(profs_last_error(), "a.json: field 'x' bad");
    ck_assert_int_eq(pf_error_prefix(PROFS_EIO, "dir/%s: ", "f"), PROFS_EIO);
    ck_assert_str_eq(profs_last_error(), "dir/f: a.json: field 'x' bad");
    ck_assert_int_eq(pf_enomem("tensor 'w'"), PROFS_ENOMEM);
    ck_assert_str_eq(profs_last_error(), "out of memory (tensor 'w')");
}
END_TEST

static void *set_other_thread(void *arg)
{
    (void)arg;
    pf_error(PROFS_EIO, "other thread");
    return NULL;
}

START_TEST(last_error_is_per_thread)
{
    pf_error(PROFS_EINVAL, "main thread");
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, set_other_thread, NULL), 0);
    pthread_join(t, NULL);
    ck_assert_str_eq(profs_last_error(), "main thread");
}
END_TEST

START_TEST(dtype_table)
{
    int d = -1;
    ck_assert_int_eq(profs_dtype_size(PROFS_DTYPE_BF16), 2);
    ck_assert_int_eq(profs_dtype_size(PROFS_DTYPE_F64), 8);
    ck_assert_int_eq(profs_dtype_size(PROFS_DTYPE_BOOL), 1);
    ck_assert_int_eq(profs_dtype_size(99), 0);
    ck_assert_int_eq(profs_dtype_size(-1), 0);
    ck_assert_str_eq(profs_dtype_name(PROFS_DTYPE_F8_E4M3), "F8_E4M3");
    ck_assert_ptr_null(profs_dtype_name(PROFS_DTYPE_COUNT_));
    ck_assert_int_eq(profs_dtype_from_name(&d, "BF16"), PROFS_OK);
    ck_assert_int_eq(d, PROFS_DTYPE_BF16);
    ck_assert_int_eq(profs_dtype_from_name(&d, "bf16"), PROFS_ENOTFOUND);
    ck_assert_int_eq(profs_dtype_from_name(NULL, "F32"), PROFS_EINVAL);
}
END_TEST

START_TEST(bf16_rounding)
{
    ck_assert_uint_eq(pf_f32_to_bf16(1.0f), 0x3f80);
    /* 1 + 2^-8 is exactly halfway between bf16 1.0 and 1.0078125: ties to even (1.0) */
    ck_assert_uint_eq(pf_f32_to_bf16(1.0f + 0x1p-8f), 0x3f80);
    /* 1 + 3*2^-8 is halfway between 1.0078125 (odd) and 1.015625 (even): up */
    ck_assert_uint_eq(pf_f32_to_bf16(1.0f + 3 * 0x1p-8f), 0x3f82);
    ck_assert_uint_eq(pf_f32_to_bf16(1.0f + 0x1p-8f + 0x1p-20f), 0x3f81);
    ck_assert_uint_eq(pf_f32_to_bf16(-2.0f), 0xc000);
    ck_assert(isnan(pf_bf16_to_f32(pf_f32_to_bf16(NAN))));
    ck_assert(isinf(pf_bf16_to_f32(pf_f32_to_bf16(3.4e38f))));
    ck_assert(pf_bf16_to_f32(0x3f81) == 1.0078125f);
}
END_TEST

START_TEST(f16_exhaustive_round_trip)
{
    /* Every finite f16 value converts to f32 and back to itself. */
    for (uint32_t h = 0; h < 0x10000; h++) {
        uint32_t exp = (h >> 10) & 0x1f;
        if (exp == 31) continue;
        float f = pf_f16_to_f32((uint16_t)h);
        ck_assert_msg(pf_f32_to_f16(f) == h, "f16 %04x -> %g -> %04x", h, f, pf_f32_to_f16(f));
    }
    ck_assert(pf_f16_to_f32(0x3c00) == 1.0f);
    ck_assert(pf_f16_to_f32(0x0001) == 0x1p-24f);
    ck_assert(pf_f16_to_f32(0x7bff) == 65504.0f);
    ck_assert_uint_eq(pf_f32_to_f16(65520.0f), 0x7c00);   /* rounds up to Inf */
    ck_assert_uint_eq(pf_f32_to_f16(65519.0f), 0x7bff);
    ck_assert_uint_eq(pf_f32_to_f16(0x1p-25f), 0x0000);   /* tie to even: 0 */
    ck_assert_uint_eq(pf_f32_to_f16(0x1.8p-24f), 0x0002); /* 1.5 units: tie to even 2 */
    ck_assert_uint_eq(pf_f32_to_f16(1.0f + 0x1p-11f), 0x3c00); /* halfway: even */
    ck_assert_uint_eq(pf_f32_to_f16(1.0f + 3 * 0x1p-11f), 0x3c02);
    ck_assert(isnan(pf_f16_to_f32(pf_f32_to_f16(NAN))));
}
END_TEST

START_TEST(f16_matches_nearest)
{
    /* For many f32 values, the f16 result is the nearest representable value. */
    uint32_t state = 12345;
    for (int i = 0; i < 200000; i++) {
        state = state * 1664525u + 1013904223u;
        float f = ldexpf((float)(state >> 8) / 16777216.0f, (int)(state % 40) - 26);
        uint16_t h = pf_f32_to_f16(f);
        float r = pf_f16_to_f32(h);
        /* neighbours of a positive value; 0 has no lower positive neighbour */
        float lo = h ? pf_f16_to_f32((uint16_t)(h - 1)) : 0.0f, hi = pf_f16_to_f32((uint16_t)(h + 1));
        ck_assert_msg(fabsf(r - f) <= fabsf(lo - f) && fabsf(r - f) <= fabsf(hi - f),
                      "f=%a -> %a", f, r);
    }
}
END_TEST

static uint32_t fbits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }

START_TEST(f64_to_f32_round_to_odd)
{
    ck_assert_uint_eq(fbits(pf_f64_to_f32_odd(1.0)), 0x3f800000u);             /* exact stays */
    ck_assert_uint_eq(fbits(pf_f64_to_f32_odd(-0.0)), 0x80000000u);
    ck_assert_uint_eq(fbits(pf_f64_to_f32_odd(1.0 + 0x1p-30)), 0x3f800001u);   /* truncate, last bit 1 */
    ck_assert_uint_eq(fbits(pf_f64_to_f32_odd(1.0 + 0x1p-22 + 0x1p-30)), 0x3f800003u);
    /* nearest would be 1 + 2^-23 (above x): truncation 1.0, made odd */
    ck_assert_uint_eq(fbits(pf_f64_to_f32_odd(1.0 + 0x1p-23 - 0x1p-40)), 0x3f800001u);
    ck_assert_uint_eq(fbits(pf_f64_to_f32_odd(-(1.0 + 0x1p-22 - 0x1p-40))), 0xbf800001u);
    ck_assert_uint_eq(fbits(pf_f64_to_f32_odd(1e300)), 0x7f7fffffu);           /* never Inf: FLT_MAX */
    ck_assert_uint_eq(fbits(pf_f64_to_f32_odd(-1e300)), 0xff7fffffu);
    ck_assert_uint_eq(fbits(pf_f64_to_f32_odd(1e-50)), 0x00000001u);           /* below the subnormals */
    ck_assert_uint_eq(fbits(pf_f64_to_f32_odd(0x1p-149 * 2.5)), 0x00000003u);  /* subnormal, inexact */
    ck_assert(isnan(pf_f64_to_f32_odd(NAN)));
}
END_TEST

START_TEST(f64_to_bf16_rounds_once)
{
    ck_assert_uint_eq(pf_f64_to_bf16(1.0 + 0x1p-8), 0x3f80);        /* halfway: even */
    ck_assert_uint_eq(pf_f64_to_bf16(1.0 + 3 * 0x1p-8), 0x3f82);
    /* just above / below a midpoint by far less than an f32 ulp: through f32 nearest these
     * would land on the midpoint and tie the wrong way */
    ck_assert_uint_eq(pf_f32_to_bf16((float)(1.0 + 0x1p-8 + 0x1p-40)), 0x3f80);
    ck_assert_uint_eq(pf_f64_to_bf16(1.0 + 0x1p-8 + 0x1p-40), 0x3f81);
    ck_assert_uint_eq(pf_f64_to_bf16(1.0 + 3 * 0x1p-8 - 0x1p-40), 0x3f81);
    ck_assert_uint_eq(pf_f64_to_bf16(-(1.0 + 0x1p-8 + 0x1p-40)), 0xbf81);
    /* subnormals (unit 2^-133) */
    ck_assert_uint_eq(pf_f64_to_bf16(0x1p-134), 0x0000);             /* half a unit: even 0 */
    ck_assert_uint_eq(pf_f64_to_bf16(0x1p-134 + 0x1p-160), 0x0001);
    ck_assert_uint_eq(pf_f64_to_bf16(3 * 0x1p-134), 0x0002);
    ck_assert_uint_eq(pf_f64_to_bf16(3 * 0x1p-134 - 0x1p-170), 0x0001);
    ck_assert_uint_eq(pf_f64_to_bf16(1e-60), 0x0000);
    ck_assert_uint_eq(pf_f64_to_bf16(-1e-60), 0x8000);
    /* overflow: the largest BF16 is 0x1.fep127; from the midpoint 0x1.ffp127 on it is Inf */
    ck_assert_uint_eq(pf_f64_to_bf16(0x1.ffp127 - 0x1p90), 0x7f7f);
    ck_assert_uint_eq(pf_f64_to_bf16(0x1.ffp127), 0x7f80);
    ck_assert_uint_eq(pf_f64_to_bf16(1e300), 0x7f80);
    ck_assert_uint_eq(pf_f64_to_bf16(-1e300), 0xff80);
    uint16_t n = pf_f64_to_bf16(NAN);
    ck_assert((n & 0x7f80) == 0x7f80 && (n & 0x7f));
}
END_TEST

START_TEST(f64_to_f16_rounds_once)
{
    ck_assert_uint_eq(pf_f64_to_f16(1.0 + 0x1p-11), 0x3c00);         /* halfway: even */
    ck_assert_uint_eq(pf_f32_to_f16((float)(1.0 + 0x1p-11 + 0x1p-40)), 0x3c00);
    ck_assert_uint_eq(pf_f64_to_f16(1.0 + 0x1p-11 + 0x1p-40), 0x3c01);
    ck_assert_uint_eq(pf_f64_to_f16(1.0 + 3 * 0x1p-11 - 0x1p-40), 0x3c01);
    ck_assert_uint_eq(pf_f64_to_f16(-(1.0 + 3 * 0x1p-11)), 0xbc02);
    /* subnormals (unit 2^-24) */
    ck_assert_uint_eq(pf_f64_to_f16(0x1p-25), 0x0000);
    ck_assert_uint_eq(pf_f64_to_f16(0x1p-25 + 0x1p-60), 0x0001);
    ck_assert_uint_eq(pf_f64_to_f16(3 * 0x1p-25), 0x0002);
    ck_assert_uint_eq(pf_f64_to_f16(3 * 0x1p-25 - 0x1p-60), 0x0001);
    /* overflow: 65504 is the largest; 65520 (the midpoint) and above are Inf; just below 65520
     * is 65504 although f32 nearest would give 65520 */
    ck_assert_uint_eq(pf_f32_to_f16((float)(65520.0 - 0x1p-20)), 0x7c00);
    ck_assert_uint_eq(pf_f64_to_f16(65520.0 - 0x1p-20), 0x7bff);
    ck_assert_uint_eq(pf_f64_to_f16(65520.0), 0x7c00);
    ck_assert_uint_eq(pf_f64_to_f16(-1e300), 0xfc00);
    uint16_t n = pf_f64_to_f16(NAN);
    ck_assert((n & 0x7c00) == 0x7c00 && (n & 0x3ff));
}
END_TEST

/* For many doubles (53-bit mantissas; normal and subnormal results), the BF16 / F16 result is
 * the nearest value, ties to even; distances in long double. */
START_TEST(f64_to_16_matches_nearest)
{
    uint64_t state = 987654321u;
    for (int t = 0; t < 2; t++) {
        int bf = t == 0;
        size_t bad = 0;
        double bad_x = 0;
        for (int i = 0; i < 200000; i++) {
            state = state * 6364136223846793005u + 1442695040888963407u;
            double m = (double)(state >> 11) * 0x1p-53;                 /* [0, 1) with 53 bits */
            int e = bf ? (int)((state >> 3) % 60) - 150 + ((i & 1) ? 140 : 0) : (int)((state >> 3) % 43) - 28;   /* below 2^15: overflow is tested above */
            double x = ldexp(1.0 + m, e);
            uint16_t h = bf ? pf_f64_to_bf16(x) : pf_f64_to_f16(x);
            long double r = bf ? pf_bf16_to_f32(h) : pf_f16_to_f32(h);
            long double lo = h ? (bf ? pf_bf16_to_f32((uint16_t)(h - 1)) : pf_f16_to_f32((uint16_t)(h - 1))) : -1e30L;
            long double hi = bf ? pf_bf16_to_f32((uint16_t)(h + 1)) : pf_f16_to_f32((uint16_t)(h + 1));
            long double d = fabsl(r - x), dl = fabsl(lo - x), dh = fabsl(hi - x);
            int ok = d <= dl && d <= dh && !((d == dl || d == dh) && (h & 1));
            if (!ok && !bad) { bad = (size_t)i + 1; bad_x = x; }
            /* the sign only flips the sign bit */
            uint16_t hn = bf ? pf_f64_to_bf16(-x) : pf_f64_to_f16(-x);
            if (hn != (h | 0x8000u) && !bad) { bad = (size_t)i + 1; bad_x = -x; }
        }
        ck_assert_msg(bad == 0, "%s: %a is not rounded to the nearest", bf ? "BF16" : "F16", bad_x);
    }
}
END_TEST

START_TEST(convert_buffers)
{
    float src[5] = {0.5f, -1.25f, 3.0f, 1e-3f, 100.0f}, dst[5];
    unsigned char buf[40];
    int types[] = {PROFS_DTYPE_F32, PROFS_DTYPE_F16, PROFS_DTYPE_BF16, PROFS_DTYPE_F64};
    for (int t = 0; t < 4; t++) {
        ck_assert_int_eq(pf_convert_from_f32(buf, src, types[t], 5), 0);
        ck_assert_int_eq(pf_convert_to_f32(dst, buf, types[t], 5), 0);
        for (int i = 0; i < 5; i++) ck_assert_float_eq_tol(dst[i], src[i], fabsf(src[i]) * 4e-3f);
    }
    ck_assert_int_eq(pf_convert_to_f32(dst, buf, PROFS_DTYPE_I32, 1), -1);
    ck_assert_int_eq(pf_convert_from_f32(buf, src, PROFS_DTYPE_U8, 1), -1);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("common");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, version_matches_header);
    tcase_add_test(tc, codes_are_fixed);
    tcase_add_test(tc, last_error_never_null_and_formats);
    tcase_add_test(tc, last_error_is_per_thread);
    tcase_add_test(tc, dtype_table);
    tcase_add_test(tc, bf16_rounding);
    tcase_add_test(tc, f16_exhaustive_round_trip);
    tcase_add_test(tc, f16_matches_nearest);
    tcase_add_test(tc, f64_to_f32_round_to_odd);
    tcase_add_test(tc, f64_to_bf16_rounds_once);
    tcase_add_test(tc, f64_to_f16_rounds_once);
    tcase_add_test(tc, f64_to_16_matches_nearest);
    tcase_add_test(tc, convert_buffers);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
