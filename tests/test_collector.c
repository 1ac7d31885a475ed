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

START_TEST(save_load_round_trip)
{
    char *dir = tu_tmpdir("collector_rt");
    char *p = tu_join(dir, "pairs.safetensors");
    profs_collector *c, *back;
    ck_assert_profs_ok(profs_collector_new(&c, 3, 4));
    /* empty collectors round-trip too */
    ck_assert_profs_ok(profs_collector_save(c, p));
    ck_assert_profs_ok(profs_collector_load(&back, p));
    ck_assert_uint_eq(profs_collector_n_pairs(back), 0);
    ck_assert_uint_eq(profs_collector_dim(back), 4);
    ck_assert_ptr_null(profs_collector_model_id(back));
    profs_collector_free(back);
    float a[12], b[12];
    for (int q = 0; q < 21; q++) {
        fill_pair(a, q, 0);
        fill_pair(b, q, 1);
        a[5] = 0.1f * (float)q;   /* not an integer */
        ck_assert_profs_ok(profs_collector_add_pair(c, a, b));
    }
    ck_assert_profs_ok(profs_collector_set_model_id(c, "gpt2-medium"));
    ck_assert_profs_ok(profs_collector_set_producer(c, "host hooks 1.0"));
    ck_assert_profs_ok(profs_collector_save(c, p));
    ck_assert_profs_ok(profs_collector_load(&back, p));
    ck_assert_uint_eq(profs_collector_n_pairs(back), 21);
    ck_assert_uint_eq(profs_collector_n_layers(back), 3);
    ck_assert_str_eq(profs_collector_model_id(back), "gpt2-medium");
    ck_assert_str_eq(profs_collector_producer(back), "host hooks 1.0");
    for (size_t l = 0; l < 3; l++) {
        ck_assert_int_eq(memcmp(profs_collector_preferred(c, l), profs_collector_preferred(back, l), 21 * 4 * sizeof(float)), 0);
        ck_assert_int_eq(memcmp(profs_collector_dispreferred(c, l), profs_collector_dispreferred(back, l), 21 * 4 * sizeof(float)), 0);
    }
    /* a loaded collector keeps growing */
    ck_assert_profs_ok(profs_collector_add_pair(back, a, b));
    ck_assert_uint_eq(profs_collector_n_pairs(back), 22);
    /* metadata as plain safetensors */
    profs_model *m;
    ck_assert_profs_ok(profs_model_open(&m, p));
    ck_assert_str_eq(profs_model_metadata(m, "format"), "profs-collector");
    ck_assert_str_eq(profs_model_metadata(m, "n_pairs"), "21");
    ck_assert_str_eq(profs_model_metadata(m, "n_layers"), "3");
    ck_assert_str_eq(profs_model_metadata(m, "dim"), "4");
    int dt;
    size_t nd;
    const int64_t *shape;
    ck_assert_profs_ok(profs_model_tensor_info(m, "layers.2.dispreferred", &dt, &nd, &shape));
    ck_assert_int_eq(dt, PROFS_DTYPE_F32);
    ck_assert_int_eq(shape[0], 21);
    ck_assert_int_eq(shape[1], 4);
    profs_model_free(m);
    ck_assert_profs_error(profs_collector_save(NULL, p), PROFS_EINVAL, "NULL");
    ck_assert_profs_error(profs_collector_load(NULL, p), PROFS_EINVAL, "NULL");
    profs_collector_free(back);
    profs_collector_free(c);
    tu_rmtree(dir);
    free(dir);
    free(p);
}
END_TEST

/* Write a collector-like file: tensors layers.{0}.preferred/dispreferred of the given
 * dtype and shape, metadata as given. */
static void write_fake(const char *path, int dtype, int64_t rows, int64_t cols, float fill, size_t n_meta,
                       const char **k, const char **v, int n_tensors)
{
    size_t n = (size_t)(rows * cols);
    double *buf = calloc(n ? n : 1, sizeof *buf);   /* big enough for F32 and F64 */
    float *f = (float *)buf;
    if (dtype == PROFS_DTYPE_F32) for (size_t i = 0; i < n; i++) f[i] = 1.0f;
    if (n && dtype == PROFS_DTYPE_F32) f[n - 1] = fill;
    const char *names[3] = {"layers.0.preferred", "layers.0.dispreferred", "extra"};
    int dts[3] = {dtype, dtype, dtype};
    size_t nds[3] = {2, 2, 2};
    int64_t shape[2] = {rows, cols};
    const int64_t *shapes[3] = {shape, shape, shape};
    const void *data[3] = {buf, buf, buf};
    ck_assert_profs_ok(profs_safetensors_write(path, (size_t)n_tensors, names, dts, nds, shapes, data, n_meta, k, v));
    free(buf);
}

START_TEST(load_rejects)
{
    char *dir = tu_tmpdir("collector_bad");
    char *p = tu_join(dir, "c.safetensors");
    const char *k[4] = {"format", "n_layers", "dim", "n_pairs"};
    const char *v[4] = {"profs-collector", "1", "3", "2"};
    profs_collector *c = NULL;
    write_fake(p, PROFS_DTYPE_F32, 2, 3, 5.0f, 4, k, v, 2);
    ck_assert_profs_ok(profs_collector_load(&c, p));
    ck_assert_float_eq(profs_collector_dispreferred(c, 0)[5], 5.0f);
    profs_collector_free(c);
    c = NULL;
    write_fake(p, PROFS_DTYPE_F32, 2, 3, NAN, 4, k, v, 2);
    ck_assert_profs_error(profs_collector_load(&c, p), PROFS_ENUMERIC,
                          "tensor 'layers.0.preferred': non-finite value at pair 1, index 2");
    write_fake(p, PROFS_DTYPE_F64, 2, 3, 0, 4, k, v, 2);
    ck_assert_profs_error(profs_collector_load(&c, p), PROFS_EFORMAT, "tensor 'layers.0.preferred' has dtype F64, expected F32");
    write_fake(p, PROFS_DTYPE_F32, 3, 3, 0, 4, k, v, 2);
    ck_assert_profs_error(profs_collector_load(&c, p), PROFS_EFORMAT,
                          "tensor 'layers.0.preferred' does not have shape [2, 3] (n_pairs, dim)");
    write_fake(p, PROFS_DTYPE_F32, 2, 3, 0, 4, k, v, 1);
    ck_assert_profs_error(profs_collector_load(&c, p), PROFS_EFORMAT, "1 tensors, expected 2");
    write_fake(p, PROFS_DTYPE_F32, 2, 3, 0, 4, k, v, 3);
    ck_assert_profs_error(profs_collector_load(&c, p), PROFS_EFORMAT, "3 tensors, expected 2");
    write_fake(p, PROFS_DTYPE_F32, 2, 3, 0, 3, k, v, 2);
    ck_assert_profs_error(profs_collector_load(&c, p), PROFS_EFORMAT, "metadata key 'n_pairs' is missing");
    const char *v2[4] = {"profs-collector", "1", "3", "-2"};
    write_fake(p, PROFS_DTYPE_F32, 2, 3, 0, 4, k, v2, 2);
    ck_assert_profs_error(profs_collector_load(&c, p), PROFS_EFORMAT, "metadata 'n_pairs' = '-2' is not a non-negative integer");
    const char *v3[4] = {"profs-collector", "0", "3", "2"};
    write_fake(p, PROFS_DTYPE_F32, 2, 3, 0, 4, k, v3, 2);
    ck_assert_profs_error(profs_collector_load(&c, p), PROFS_EFORMAT, "n_layers (0) and dim (3) must be >= 1");
    const char *v4[4] = {"profs-edit", "1", "3", "2"};
    write_fake(p, PROFS_DTYPE_F32, 2, 3, 0, 4, k, v4, 2);
    ck_assert_profs_error(profs_collector_load(&c, p), PROFS_EFORMAT, "not a collector file (metadata format is 'profs-edit'");
    write_fake(p, PROFS_DTYPE_F32, 2, 3, 0, 0, k, v, 2);
    ck_assert_profs_error(profs_collector_load(&c, p), PROFS_EFORMAT, "metadata format is '(missing)'");
    ck_assert_ptr_null(c);
    char *missing = tu_join(dir, "nope.safetensors");
    ck_assert_int_ne(profs_collector_load(&c, missing), PROFS_OK);
    free(missing);
    tu_rmtree(dir);
    free(dir);
    free(p);
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
    tcase_add_test(tc, save_load_round_trip);
    tcase_add_test(tc, load_rejects);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
