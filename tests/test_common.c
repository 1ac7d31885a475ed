/* Error codes, messages, versions, dtype tables and f32 <-> F16/BF16 conversions. */
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
    tcase_add_test(tc, convert_buffers);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
