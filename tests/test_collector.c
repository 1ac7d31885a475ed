/* Collector: growth, accessors, NaN/Inf rejection, merge, metadata strings, mean pooling. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "profs/profs.h"
#include "testutil.h"

/* pair p of a (L=3, D=4) collector: value = 1000 p + 100 side + 10 l + i */
static void fill_pair(float *x, int p, int side)
{
    for (int l = 0; l < 3; l++)
        for (int i = 0; i < 4; i++) x[l * 4 + i] = (float)(1000 * p + 100 * side + 10 * l + i);
}

START_TEST(grows_and_reads_back)
{
    profs_collector *c;
    ck_assert_profs_ok(profs_collector_new(&c, 3, 4));
    ck_assert_uint_eq(profs_collector_n_layers(c), 3);
    ck_assert_uint_eq(profs_collector_dim(c), 4);
    ck_assert_uint_eq(profs_collector_n_pairs(c), 0);
    ck_assert_ptr_null(profs_collector_preferred(c, 0));
    float a[12], b[12];
    for (int p = 0; p < 100; p++) {
        fill_pair(a, p, 0);
        fill_pair(b, p, 1);
        ck_assert_profs_ok(profs_collector_add_pair(c, a, b));
    }
    ck_assert_uint_eq(profs_collector_n_pairs(c), 100);
    for (int l = 0; l < 3; l++) {
        const float *xp = profs_collector_preferred(c, (size_t)l), *xm = profs_collector_dispreferred(c, (size_t)l);
        for (int p = 0; p < 100; p++)
            for (int i = 0; i < 4; i++) {
                ck_assert_float_eq(xp[p * 4 + i], (float)(1000 * p + 10 * l + i));
                ck_assert_float_eq(xm[p * 4 + i], (float)(1000 * p + 100 + 10 * l + i));
            }
    }
    ck_assert_ptr_null(profs_collector_preferred(c, 3));
    ck_assert_ptr_null(profs_collector_dispreferred(c, 3));
    /* batch add: (n_pairs, n_layers, dim) */
    float batch_a[24], batch_b[24];
    fill_pair(batch_a, 100, 0); fill_pair(batch_a + 12, 101, 0);
    fill_pair(batch_b, 100, 1); fill_pair(batch_b + 12, 101, 1);
    ck_assert_profs_ok(profs_collector_add_pairs(c, 2, batch_a, batch_b));
    ck_assert_uint_eq(profs_collector_n_pairs(c), 102);
    ck_assert_float_eq(profs_collector_preferred(c, 2)[101 * 4 + 3], 101023.0f);
    ck_assert_float_eq(profs_collector_dispreferred(c, 1)[100 * 4 + 0], 100110.0f);
    profs_collector_free(c);
    profs_collector_free(NULL);
}
END_TEST

START_TEST(rejects_bad_input)
{
    profs_collector *c = NULL;
    ck_assert_profs_error(profs_collector_new(NULL, 3, 4), PROFS_EINVAL, "out is NULL");
    ck_assert_profs_error(profs_collector_new(&c, 0, 4), PROFS_EINVAL, "n_layers (0) and dim (4) must be >= 1");
    ck_assert_profs_error(profs_collector_new(&c, 3, 0), PROFS_EINVAL, "must be >= 1");
    ck_assert_profs_error(profs_collector_new(&c, SIZE_MAX / 2, 4), PROFS_EINVAL, "overflows");
    ck_assert_ptr_null(c);
    ck_assert_profs_ok(profs_collector_new(&c, 3, 4));
    float a[12], b[12];
    fill_pair(a, 0, 0);
    fill_pair(b, 0, 1);
    ck_assert_profs_error(profs_collector_add_pair(c, NULL, b), PROFS_EINVAL, "NULL");
    ck_assert_profs_error(profs_collector_add_pair(NULL, a, b), PROFS_EINVAL, "NULL");
    b[1 * 4 + 2] = NAN;
    ck_assert_profs_error(profs_collector_add_pair(c, a, b), PROFS_ENUMERIC,
                          "pair 0: dispreferred embedding of layer 1 has a non-finite value at index 2");
    b[1 * 4 + 2] = 0;
    a[2 * 4 + 3] = -INFINITY;
    ck_assert_profs_error(profs_collector_add_pair(c, a, b), PROFS_ENUMERIC,
                          "pair 0: preferred embedding of layer 2 has a non-finite value at index 3");
    ck_assert_uint_eq(profs_collector_n_pairs(c), 0);
    /* all-or-nothing batch: the second pair is bad */
    float ba[24], bb[24];
    fill_pair(ba, 0, 0); fill_pair(ba + 12, 1, 0);
    fill_pair(bb, 0, 1); fill_pair(bb + 12, 1, 1);
    bb[12 + 5] = NAN;
    ck_assert_profs_error(profs_collector_add_pairs(c, 2, ba, bb), PROFS_ENUMERIC, "pair 1: dispreferred embedding of layer 1");
    ck_assert_uint_eq(profs_collector_n_pairs(c), 0);
    ck_assert_profs_ok(profs_collector_add_pairs(c, 0, ba, bb));
    ck_assert_uint_eq(profs_collector_n_pairs(c), 0);
    profs_collector_free(c);
    ck_assert_uint_eq(profs_collector_n_pairs(NULL), 0);
    ck_assert_uint_eq(profs_collector_dim(NULL), 0);
    ck_assert_uint_eq(profs_collector_n_layers(NULL), 0);
}
END_TEST

START_TEST(merges_shards)
{
    profs_collector *a, *b, *odd;
    ck_assert_profs_ok(profs_collector_new(&a, 3, 4));
    ck_assert_profs_ok(profs_collector_new(&b, 3, 4));
    ck_assert_profs_ok(profs_collector_new(&odd, 3, 5));
    float x[12], y[12];
    for (int p = 0; p < 5; p++) {
        fill_pair(x, p, 0); fill_pair(y, p, 1);
        ck_assert_profs_ok(profs_collector_add_pair(p < 2 ? a : b, x, y));
    }
    ck_assert_profs_ok(profs_collector_set_model_id(b, "gpt2"));
    ck_assert_profs_ok(profs_collector_merge(a, b));
    ck_assert_uint_eq(profs_collector_n_pairs(a), 5);
    ck_assert_uint_eq(profs_collector_n_pairs(b), 3);
    ck_assert_str_eq(profs_collector_model_id(a), "gpt2");
    for (int p = 0; p < 5; p++) ck_assert_float_eq(profs_collector_preferred(a, 1)[p * 4 + 2], (float)(1000 * p + 12));
    ck_assert_profs_error(profs_collector_merge(a, odd), PROFS_ESHAPE, "shapes differ: 3 layers x 4 dims vs 3 x 5");
    ck_assert_profs_error(profs_collector_merge(a, a), PROFS_EINVAL, "into itself");
    ck_assert_profs_error(profs_collector_merge(NULL, a), PROFS_EINVAL, "NULL");
    ck_assert_profs_ok(profs_collector_set_model_id(b, "opt"));
    ck_assert_profs_error(profs_collector_merge(a, b), PROFS_EINVAL, "model ids differ: 'gpt2' vs 'opt'");
    ck_assert_uint_eq(profs_collector_n_pairs(a), 5);
    /* merging an empty collector is a no-op */
    profs_collector *empty;
    ck_assert_profs_ok(profs_collector_new(&empty, 3, 4));
    ck_assert_profs_ok(profs_collector_merge(a, empty));
    ck_assert_uint_eq(profs_collector_n_pairs(a), 5);
    ck_assert_profs_ok(profs_collector_merge(empty, a));
    ck_assert_uint_eq(profs_collector_n_pairs(empty), 5);
    ck_assert_float_eq(profs_collector_dispreferred(empty, 2)[4 * 4 + 1], 4121.0f);
    profs_collector_free(empty);
    profs_collector_free(a);
    profs_collector_free(b);
    profs_collector_free(odd);
}
END_TEST

START_TEST(metadata_strings)
{
    profs_collector *c;
    ck_assert_profs_ok(profs_collector_new(&c, 1, 2));
    ck_assert_ptr_null(profs_collector_model_id(c));
    ck_assert_str_eq(profs_collector_producer(c), "libprofs " PROFS_VERSION_STRING);
    ck_assert_profs_ok(profs_collector_set_model_id(c, "mistralai/Mistral-7B-v0.1"));
    ck_assert_str_eq(profs_collector_model_id(c), "mistralai/Mistral-7B-v0.1");
    ck_assert_profs_ok(profs_collector_set_model_id(c, NULL));
    ck_assert_ptr_null(profs_collector_model_id(c));
    ck_assert_profs_ok(profs_collector_set_producer(c, "my-pytorch-hooks"));
    ck_assert_str_eq(profs_collector_producer(c), "my-pytorch-hooks");
    ck_assert_profs_ok(profs_collector_set_producer(c, NULL));
    ck_assert_str_eq(profs_collector_producer(c), "libprofs " PROFS_VERSION_STRING);
    ck_assert_profs_error(profs_collector_set_model_id(NULL, "x"), PROFS_EINVAL, "collector is NULL");
    ck_assert_profs_error(profs_collector_set_producer(NULL, "x"), PROFS_EINVAL, "collector is NULL");
    ck_assert_ptr_null(profs_collector_producer(NULL));
    profs_collector_free(c);
}
END_TEST

START_TEST(mean_pool_respects_mask)
{
    /* 4 tokens x 3 dims; token 2 is padding holding garbage (even NaN) */
    float states[12] = {1, 2, 3, 3, 4, 5, NAN, 1e30f, -7, 5, 6, 7};
    uint8_t mask[4] = {1, 1, 0, 1};
    float out[3];
    ck_assert_profs_ok(profs_mean_pool(out, states, mask, 4, 3));
    ck_assert_float_eq(out[0], 3.0f);
    ck_assert_float_eq(out[1], 4.0f);
    ck_assert_float_eq(out[2], 5.0f);
    /* without a mask all tokens count: the NaN is then an error */
    ck_assert_profs_error(profs_mean_pool(out, states, NULL, 4, 3), PROFS_ENUMERIC,
                          "token 2 has a non-finite value at index 0");
    ck_assert_profs_ok(profs_mean_pool(out, states, NULL, 2, 3));
    ck_assert_float_eq(out[2], 4.0f);
    uint8_t none[4] = {0, 0, 0, 0};
    ck_assert_profs_error(profs_mean_pool(out, states, none, 4, 3), PROFS_EINVAL, "no token selected (4 tokens");
    ck_assert_profs_error(profs_mean_pool(out, states, mask, 0, 3), PROFS_EINVAL, "no token selected");
    ck_assert_profs_error(profs_mean_pool(NULL, states, mask, 4, 3), PROFS_EINVAL, "NULL");
    ck_assert_profs_error(profs_mean_pool(out, states, mask, 4, 0), PROFS_EINVAL, "dim is 0");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("collector");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, grows_and_reads_back);
    tcase_add_test(tc, rejects_bad_input);
    tcase_add_test(tc, merges_shards);
    tcase_add_test(tc, metadata_strings);
    tcase_add_test(tc, mean_pool_respects_mask);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
