/* Tensor store: opening, queries, reading, metadata, config.json, profs_safetensors_write,
 * and one test per validation rule of safetensors headers and sharded indexes. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "model_fixtures.h"
#include "profs/profs.h"
#include "testutil.h"

static char *dir;

static void setup(void) { dir = tu_tmpdir("model"); ck_assert_ptr_nonnull(dir); }
static void teardown(void) { tu_rmtree(dir); free(dir); }

static char *at(const char *name) { return tu_join(dir, name); }

/* ---------------------------------------------------------------- round trips */

START_TEST(float_dtypes_round_trip)
{
    /* values exact in every dtype */
    static const float vals[6] = { 0.0f, 1.5f, -2.25f, 1024.0f, -0.125f, 3.0f };
    uint16_t bf[6], hf[6];
    double d[6];
    float f[6];
    for (int i = 0; i < 6; i++) {
        uint32_t u;
        memcpy(&u, &vals[i], 4);
        bf[i] = (uint16_t)(u >> 16);
        d[i] = vals[i];
        f[i] = vals[i];
    }
    /* F16 bit patterns of the same values */
    hf[0] = 0x0000; hf[1] = 0x3e00; hf[2] = 0xc080; hf[3] = 0x6400; hf[4] = 0xb000; hf[5] = 0x4200;
    const char *names[] = { "f32", "f16", "bf16", "f64" };
    int dt[] = { PROFS_DTYPE_F32, PROFS_DTYPE_F16, PROFS_DTYPE_BF16, PROFS_DTYPE_F64 };
    size_t nd[] = { 2, 2, 2, 1 };
    int64_t s23[] = { 2, 3 }, s6[] = { 6 };
    const int64_t *shapes[] = { s23, s23, s23, s6 };
    const void *data[] = { f, hf, bf, d };
    char *p = at("all.safetensors");
    ck_assert_profs_ok(profs_safetensors_write(p, 4, names, dt, nd, shapes, data, 0, NULL, NULL));
    profs_model *m = NULL;
    ck_assert_profs_ok(profs_model_open(&m, p));
    ck_assert_uint_eq(profs_model_tensor_count(m), 4);
    ck_assert_str_eq(profs_model_path(m), p);
    for (int k = 0; k < 4; k++) {
        float out[6] = { 99, 99, 99, 99, 99, 99 };
        ck_assert_profs_ok(profs_model_read_f32(m, names[k], out, 6));
        for (int i = 0; i < 6; i++) ck_assert_float_eq(out[i], vals[i]);
        int dtype = -1;
        size_t ndim = 9;
        const int64_t *shape = NULL;
        ck_assert_profs_ok(profs_model_tensor_info(m, names[k], &dtype, &ndim, &shape));
        ck_assert_int_eq(dtype, dt[k]);
        ck_assert_uint_eq(ndim, nd[k]);
        ck_assert_int_eq(shape[0], nd[k] == 2 ? 2 : 6);
        uint64_t numel = 0, nbytes = 0;
        ck_assert_profs_ok(profs_model_tensor_size(m, names[k], &numel, &nbytes));
        ck_assert_uint_eq(numel, 6);
        ck_assert_uint_eq(nbytes, 6 * profs_dtype_size(dt[k]));
        const void *raw = NULL;
        ck_assert_profs_ok(profs_model_tensor_data(m, names[k], &raw, &nbytes));
        ck_assert_int_eq(memcmp(raw, data[k], nbytes), 0);
        ck_assert_profs_ok(profs_model_release(m, names[k]));
        ck_assert_profs_ok(profs_model_read_f32(m, names[k], out, 6));   /* pages fault back in */
        ck_assert_float_eq(out[2], -2.25f);
    }
    float out[6];
    ck_assert_profs_error(profs_model_read_f32(m, "f32", out, 5), PROFS_ESHAPE, "'f32' has 6 elements");
    ck_assert_profs_error(profs_model_read_f32(m, "nope", out, 6), PROFS_ENOTFOUND, "no tensor 'nope'");
    ck_assert_int_eq(profs_model_has_tensor(m, "bf16"), 1);
    ck_assert_int_eq(profs_model_has_tensor(m, "bf"), 0);
    /* names in ascending byte order */
    ck_assert_str_eq(profs_model_tensor_name(m, 0), "bf16");
    ck_assert_str_eq(profs_model_tensor_name(m, 1), "f16");
    ck_assert_str_eq(profs_model_tensor_name(m, 2), "f32");
    ck_assert_str_eq(profs_model_tensor_name(m, 3), "f64");
    ck_assert_ptr_null(profs_model_tensor_name(m, 4));
    profs_model_free(m);
    free(p);
}
END_TEST

START_TEST(other_dtypes_raw_bytes)
{
    enum { N = PROFS_DTYPE_COUNT_ - 4 };
    const char *names[N];
    int dt[N];
    size_t nd[N];
    int64_t shape[1] = { 3 };
    const int64_t *shapes[N];
    unsigned char bufs[N][24];
    const void *data[N];
    for (int k = 0; k < N; k++) {
        dt[k] = PROFS_DTYPE_I8 + k;
        names[k] = profs_dtype_name(dt[k]);
        nd[k] = 1;
        shapes[k] = shape;
        for (int i = 0; i < 24; i++) bufs[k][i] = (unsigned char)(k * 31 + i);
        data[k] = bufs[k];
    }
    char *p = at("ints.safetensors");
    ck_assert_profs_ok(profs_safetensors_write(p, N, names, dt, nd, shapes, data, 0, NULL, NULL));
    profs_model *m = NULL;
    ck_assert_profs_ok(profs_model_open(&m, p));
    ck_assert_uint_eq(profs_model_tensor_count(m), N);
    for (int k = 0; k < N; k++) {
        const void *raw;
        uint64_t nb;
        int dtype;
        ck_assert_profs_ok(profs_model_tensor_data(m, names[k], &raw, &nb));
        ck_assert_uint_eq(nb, 3 * profs_dtype_size(dt[k]));
        ck_assert_int_eq(memcmp(raw, bufs[k], nb), 0);
        ck_assert_profs_ok(profs_model_tensor_info(m, names[k], &dtype, NULL, NULL));
        ck_assert_int_eq(dtype, dt[k]);
        float f[3];
        ck_assert_profs_error(profs_model_read_f32(m, names[k], f, 3), PROFS_EUNSUPPORTED, names[k]);
    }
    profs_model_free(m);
    free(p);
}
END_TEST

START_TEST(scalars_and_zero_size)
{
    float s = 42.5f;
    const char *names[] = { "empty", "scalar", "after", "empty2" };
    int dt[] = { PROFS_DTYPE_F32, PROFS_DTYPE_F32, PROFS_DTYPE_BF16, PROFS_DTYPE_F16 };
    size_t nd[] = { 2, 0, 1, 1 };
    int64_t e[] = { 0, 5 }, one[] = { 1 }, z[] = { 0 };
    const int64_t *shapes[] = { e, NULL, one, z };
    uint16_t bf = 0x3f80;  /* 1.0 */
    const void *data[] = { NULL, &s, &bf, NULL };
    char *p = at("edge.safetensors");
    ck_assert_profs_ok(profs_safetensors_write(p, 4, names, dt, nd, shapes, data, 0, NULL, NULL));
    profs_model *m = NULL;
    ck_assert_profs_ok(profs_model_open(&m, p));
    size_t ndim = 7;
    uint64_t numel = 9, nbytes = 9;
    ck_assert_profs_ok(profs_model_tensor_info(m, "scalar", NULL, &ndim, NULL));
    ck_assert_uint_eq(ndim, 0);
    ck_assert_profs_ok(profs_model_tensor_size(m, "scalar", &numel, &nbytes));
    ck_assert_uint_eq(numel, 1);
    ck_assert_uint_eq(nbytes, 4);
    float out = 0;
    ck_assert_profs_ok(profs_model_read_f32(m, "scalar", &out, 1));
    ck_assert_float_eq(out, 42.5f);
    ck_assert_profs_ok(profs_model_tensor_size(m, "empty", &numel, &nbytes));
    ck_assert_uint_eq(numel, 0);
    ck_assert_uint_eq(nbytes, 0);
    ck_assert_profs_ok(profs_model_read_f32(m, "empty", NULL, 0));
    ck_assert_profs_ok(profs_model_read_f32(m, "empty2", NULL, 0));
    ck_assert_profs_ok(profs_model_release(m, "empty"));
    ck_assert_profs_ok(profs_model_read_f32(m, "after", &out, 1));
    ck_assert_float_eq(out, 1.0f);
    profs_model_free(m);
    free(p);

    /* a file with no tensors at all */
    p = at("none.safetensors");
    ck_assert_profs_ok(profs_safetensors_write(p, 0, NULL, NULL, NULL, NULL, NULL, 0, NULL, NULL));
    ck_assert_profs_ok(profs_model_open(&m, p));
    ck_assert_uint_eq(profs_model_tensor_count(m), 0);
    profs_model_free(m);
    free(p);
}
END_TEST

START_TEST(metadata_preserved)
{
    const char *mk[] = { "zeta", "format", "alpha" }, *mv[] = { "last", "pt", "ünïcode ✓" };
    float x = 1;
    const char *names[] = { "x" };
    int dt[] = { PROFS_DTYPE_F32 };
    size_t nd[] = { 1 };
    int64_t s[] = { 1 };
    const int64_t *shapes[] = { s };
    const void *data[] = { &x };
    char *p = at("meta.safetensors");
    ck_assert_profs_ok(profs_safetensors_write(p, 1, names, dt, nd, shapes, data, 3, mk, mv));
    profs_model *m = NULL;
    ck_assert_profs_ok(profs_model_open(&m, p));
    ck_assert_uint_eq(profs_model_metadata_count(m), 3);
    ck_assert_str_eq(profs_model_metadata_key(m, 0), "alpha");
    ck_assert_str_eq(profs_model_metadata_key(m, 1), "format");
    ck_assert_str_eq(profs_model_metadata_key(m, 2), "zeta");
    ck_assert_ptr_null(profs_model_metadata_key(m, 3));
    ck_assert_str_eq(profs_model_metadata(m, "alpha"), "ünïcode ✓");
    ck_assert_str_eq(profs_model_metadata(m, "zeta"), "last");
    ck_assert_ptr_null(profs_model_metadata(m, "missing"));
    ck_assert_int_eq(profs_model_has_config(m), 0);   /* single files do not read config.json */
    profs_model_free(m);
    free(p);
}
END_TEST

START_TEST(header_written_padded_and_compact)
{
    char *p = at("pad.safetensors");
    ck_assert_int_eq(fx_small_f32(p, 1.0f, "pt"), 0);
    size_t len;
    unsigned char *b = tu_read_file(p, &len);
    ck_assert_ptr_nonnull(b);
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = (n << 8) | b[i];
    ck_assert_uint_eq(n % 8, 0);
    ck_assert_uint_eq(len, 8 + n + 40);
    ck_assert_int_eq(b[8], '{');
    ck_assert(tu_contains((char *)b + 8, "\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]}"));
    free(b);
    free(p);
}
END_TEST

START_TEST(sharded_directory)
{
    ck_assert_int_eq(fx_sharded(dir), 0);
    profs_model *m = NULL;
    ck_assert_profs_ok(profs_model_open(&m, dir));
    ck_assert_uint_eq(profs_model_tensor_count(m), 5);
    ck_assert_str_eq(profs_model_tensor_name(m, 0), "embed");
    ck_assert_str_eq(profs_model_tensor_name(m, 4), "scalar");
    float w[8];
    ck_assert_profs_ok(profs_model_read_f32(m, "layers.0.w", w, 8));
    for (int i = 0; i < 8; i++) ck_assert_float_eq(w[i], (float)i * 0.5f);
    ck_assert_profs_ok(profs_model_read_f32(m, "layers.1.w", w, 8));
    for (int i = 0; i < 8; i++) ck_assert_float_eq(w[i], -(float)i * 0.25f);
    float s;
    ck_assert_profs_ok(profs_model_read_f32(m, "scalar", &s, 1));
    ck_assert_float_eq(s, 7.0f);
    ck_assert_str_eq(profs_model_metadata(m, "format"), "pt");   /* first shard's metadata */
    ck_assert_int_eq(profs_model_has_config(m), 1);
    profs_model_free(m);
}
END_TEST

START_TEST(single_file_directory)
{
    char *p = at("model.safetensors");
    ck_assert_int_eq(fx_small_f32(p, 2.0f, "pt"), 0);
    ck_assert_int_eq(fx_text(dir, "config.json", "{\"hidden_size\": 3}"), 0);
    profs_model *m = NULL;
    ck_assert_profs_ok(profs_model_open(&m, dir));
    ck_assert_uint_eq(profs_model_tensor_count(m), 2);
    float b[4];
    ck_assert_profs_ok(profs_model_read_f32(m, "b", b, 4));
    ck_assert_float_eq(b[3], -5.0f);
    int64_t h = 0;
    ck_assert_profs_ok(profs_model_config_int(m, "hidden_size", &h));
    ck_assert_int_eq(h, 3);
    profs_model_free(m);
    free(p);
}
END_TEST

START_TEST(single_file_wins_over_index)
{
    /* as in transformers: a directory with both layouts is opened as model.safetensors */
    ck_assert_int_eq(fx_sharded(dir), 0);
    char *p = at("model.safetensors");
    ck_assert_int_eq(fx_small_f32(p, 2.0f, NULL), 0);
    profs_model *m = NULL;
    ck_assert_profs_ok(profs_model_open(&m, dir));
    ck_assert_uint_eq(profs_model_tensor_count(m), 2);
    ck_assert(profs_model_has_tensor(m, "b"));
    ck_assert(!profs_model_has_tensor(m, "layers.0.w"));
    profs_model_free(m);
    free(p);
}
END_TEST

START_TEST(open_errors)
{
    profs_model *m = NULL;
    char *p = at("missing.safetensors");
    ck_assert_profs_error(profs_model_open(&m, p), PROFS_EIO, "missing.safetensors");
    ck_assert(tu_contains(profs_last_error(), "No such file"));
    ck_assert_ptr_null(m);
    free(p);
    ck_assert_profs_error(profs_model_open(&m, dir), PROFS_ENOTFOUND, "holds none of model.safetensors, model.safetensors.index.json, pytorch_model.bin, pytorch_model.bin.index.json");
    ck_assert_profs_error(profs_model_open(NULL, dir), PROFS_EINVAL, "NULL");
    profs_model_free(NULL);
}
END_TEST

/* ---------------------------------------------------------------- config.json */

static profs_model *open_with_config(const char *json)
{
    char *p = at("model.safetensors");
    ck_assert_int_eq(fx_small_f32(p, 0.0f, NULL), 0);
    free(p);
    ck_assert_int_eq(fx_text(dir, "config.json", json), 0);
    profs_model *m = NULL;
    ck_assert_profs_ok(profs_model_open(&m, dir));
    return m;
}

START_TEST(config_getters)
{
    profs_model *m = open_with_config(
        "{\"hidden_size\": 64, \"rms_norm_eps\": 1e-05, \"model_type\": \"llama\",\n"
        " \"tie_word_embeddings\": true, \"use_cache\": false, \"whole\": 3.0,\n"
        " \"rope_scaling\": {\"factor\": 8.0, \"rope_type\": \"llama3\", \"inner\": {\"k\": 5}},\n"
        " \"eos_token_id\": [1, 2, 32000], \"architectures\": [\"LlamaForCausalLM\"],\n"
        " \"sliding_window\": null, \"a.b\": 11}");
    int64_t i = 0;
    double d = 0;
    const char *s = NULL;
    int b = -1;
    size_t n = 0;
    ck_assert_profs_ok(profs_model_config_int(m, "hidden_size", &i));
    ck_assert_int_eq(i, 64);
    ck_assert_profs_ok(profs_model_config_int(m, "whole", &i));
    ck_assert_int_eq(i, 3);
    ck_assert_profs_ok(profs_model_config_float(m, "rms_norm_eps", &d));
    ck_assert_double_eq(d, 1e-05);
    ck_assert_profs_ok(profs_model_config_float(m, "hidden_size", &d));
    ck_assert_double_eq(d, 64.0);
    ck_assert_profs_ok(profs_model_config_string(m, "model_type", &s));
    ck_assert_str_eq(s, "llama");
    ck_assert_profs_ok(profs_model_config_bool(m, "tie_word_embeddings", &b));
    ck_assert_int_eq(b, 1);
    ck_assert_profs_ok(profs_model_config_bool(m, "use_cache", &b));
    ck_assert_int_eq(b, 0);
    /* dotted keys */
    ck_assert_profs_ok(profs_model_config_float(m, "rope_scaling.factor", &d));
    ck_assert_double_eq(d, 8.0);
    ck_assert_profs_ok(profs_model_config_string(m, "rope_scaling.rope_type", &s));
    ck_assert_str_eq(s, "llama3");
    ck_assert_profs_ok(profs_model_config_int(m, "rope_scaling.inner.k", &i));
    ck_assert_int_eq(i, 5);
    ck_assert_profs_ok(profs_model_config_int(m, "a.b", &i));   /* a literal dotted key */
    ck_assert_int_eq(i, 11);
    /* arrays */
    ck_assert_profs_ok(profs_model_config_array_size(m, "eos_token_id", &n));
    ck_assert_uint_eq(n, 3);
    ck_assert_profs_ok(profs_model_config_array_int(m, "eos_token_id", 2, &i));
    ck_assert_int_eq(i, 32000);
    ck_assert_profs_ok(profs_model_config_array_string(m, "architectures", 0, &s));
    ck_assert_str_eq(s, "LlamaForCausalLM");
    ck_assert_profs_error(profs_model_config_array_int(m, "eos_token_id", 3, &i), PROFS_EINVAL, "out of range");
    ck_assert_profs_error(profs_model_config_array_string(m, "eos_token_id", 0, &s), PROFS_EFORMAT,
                          "'eos_token_id': element 0 is an integer");
    profs_model_free(m);
}
END_TEST

START_TEST(config_wrong_type_and_missing)
{
    profs_model *m = open_with_config("{\"hidden_size\": 64, \"model_type\": \"gpt2\", \"eps\": 0.5,"
                                      " \"rope\": {\"f\": 1}, \"sliding_window\": null}");
    int64_t i = 77;
    double d;
    const char *s;
    int b;
    size_t n;
    ck_assert_profs_error(profs_model_config_int(m, "model_type", &i), PROFS_EFORMAT,
                          "config.json: key 'model_type' is a string, expected an integer");
    ck_assert_int_eq(i, 77);
    ck_assert_profs_error(profs_model_config_int(m, "eps", &i), PROFS_EFORMAT, "key 'eps' is a real number");
    ck_assert_profs_error(profs_model_config_float(m, "model_type", &d), PROFS_EFORMAT, "'model_type'");
    ck_assert_profs_error(profs_model_config_string(m, "hidden_size", &s), PROFS_EFORMAT, "'hidden_size' is an integer");
    ck_assert_profs_error(profs_model_config_bool(m, "hidden_size", &b), PROFS_EFORMAT, "expected a boolean");
    ck_assert_profs_error(profs_model_config_array_size(m, "rope", &n), PROFS_EFORMAT, "'rope' is an object");
    ck_assert_profs_error(profs_model_config_int(m, "vocab_size", &i), PROFS_ENOTFOUND, "no key 'vocab_size'");
    ck_assert_profs_error(profs_model_config_int(m, "rope.g", &i), PROFS_ENOTFOUND, "'rope.g'");
    ck_assert_profs_error(profs_model_config_int(m, "sliding_window", &i), PROFS_ENOTFOUND, "is null");
    profs_model_free(m);

    /* no config.json at all */
    char *p = at("plain.safetensors");
    ck_assert_int_eq(fx_small_f32(p, 0.0f, NULL), 0);
    ck_assert_profs_ok(profs_model_open(&m, p));
    ck_assert_profs_error(profs_model_config_int(m, "hidden_size", &i), PROFS_ENOTFOUND, "no config.json");
    profs_model_free(m);
    free(p);
}
END_TEST

START_TEST(config_invalid_json_rejected)
{
    char *p = at("model.safetensors");
    ck_assert_int_eq(fx_small_f32(p, 0.0f, NULL), 0);
    free(p);
    ck_assert_int_eq(fx_text(dir, "config.json", "{\"a\": 1,\n \"b\": }"), 0);
    profs_model *m = NULL;
    ck_assert_profs_error(profs_model_open(&m, dir), PROFS_EFORMAT, "config.json: invalid JSON");
    ck_assert(tu_contains(profs_last_error(), "line 2"));
    ck_assert_int_eq(fx_text(dir, "config.json", "{\"a\": 1, \"a\": 2}"), 0);
    ck_assert_profs_error(profs_model_open(&m, dir), PROFS_EFORMAT, "duplicate");
    ck_assert_int_eq(fx_text(dir, "config.json", "[1]"), 0);
    ck_assert_profs_error(profs_model_open(&m, dir), PROFS_EFORMAT, "config.json: not a JSON object");
}
END_TEST

/* ---------------------------------------------------------------- profs_safetensors_write */

START_TEST(write_rejects_bad_arguments)
{
    float x[2] = { 1, 2 };
    int64_t s[] = { 2 }, neg[] = { -2 };
    size_t nd[] = { 1, 1 };
    const void *data[] = { x, x };
    char *p = at("w.safetensors");
    {
        const char *names[] = { "x", "x" };
        int dt[] = { PROFS_DTYPE_F32, PROFS_DTYPE_F32 };
        const int64_t *shapes[] = { s, s };
        ck_assert_profs_error(profs_safetensors_write(p, 2, names, dt, nd, shapes, data, 0, NULL, NULL),
                              PROFS_EINVAL, "duplicate or reserved tensor name 'x'");
    }
    {
        const char *names[] = { "x" };
        int dt[] = { 99 };
        const int64_t *shapes[] = { s };
        ck_assert_profs_error(profs_safetensors_write(p, 1, names, dt, nd, shapes, data, 0, NULL, NULL),
                              PROFS_EINVAL, "unknown dtype 99");
    }
    {
        const char *names[] = { "x" };
        int dt[] = { PROFS_DTYPE_F32 };
        const int64_t *shapes[] = { neg };
        ck_assert_profs_error(profs_safetensors_write(p, 1, names, dt, nd, shapes, data, 0, NULL, NULL),
                              PROFS_EINVAL, "negative size -2");
    }
    {
        const char *names[] = { "x" };
        int dt[] = { PROFS_DTYPE_F32 };
        const int64_t *shapes[] = { s };
        const char *mk[] = { "k", "k" }, *mv[] = { "1", "2" };
        ck_assert_profs_error(profs_safetensors_write(p, 1, names, dt, nd, shapes, data, 2, mk, mv),
                              PROFS_EINVAL, "duplicate metadata key 'k'");
    }
    ck_assert_int_eq(access(p, F_OK), -1);
    free(p);
    /* unwritable destination */
    char *sub = at("no/such/dir/w.safetensors");
    const char *names[] = { "x" };
    int dt[] = { PROFS_DTYPE_F32 };
    const int64_t *shapes[] = { s };
    ck_assert_profs_error(profs_safetensors_write(sub, 1, names, dt, nd, shapes, data, 0, NULL, NULL),
                          PROFS_EIO, "w.safetensors: cannot create temporary file");
    free(sub);
}
END_TEST

/* ---------------------------------------------------------------- rejection rules, one each */

static const float zeros[64];

/* Write `header` + `dlen` zero bytes as bad.safetensors and expect EFORMAT mentioning the
 * file name and `problem`. */
static void expect_bad_header(const char *header, size_t dlen, const char *problem)
{
    char *p = at("bad.safetensors");
    ck_assert_int_eq(fx_raw_st(p, header, zeros, dlen), 0);
    profs_model *m = NULL;
    ck_assert_profs_error(profs_model_open(&m, p), PROFS_EFORMAT, "bad.safetensors: ");
    ck_assert_msg(tu_contains(profs_last_error(), problem), "message '%s' lacks '%s'", profs_last_error(), problem);
    ck_assert_ptr_null(m);
    free(p);
}

START_TEST(reject_file_shorter_than_8_bytes)
{
    char *p = at("bad.safetensors");
    ck_assert_int_eq(tu_write_file(p, "\x02\0\0\0", 4), 0);
    profs_model *m = NULL;
    ck_assert_profs_error(profs_model_open(&m, p), PROFS_EFORMAT, "bad.safetensors: file is 4 bytes, too short");
    ck_assert_int_eq(tu_write_file(p, "", 0), 0);
    ck_assert_profs_error(profs_model_open(&m, p), PROFS_EFORMAT, "bad.safetensors: file is 0 bytes");
    free(p);
}
END_TEST

START_TEST(reject_header_length_over_limit)
{
    char *p = at("bad.safetensors");
    ck_assert_int_eq(fx_raw_st_len(p, 100000001u, "{}", 2, NULL, 0), 0);
    profs_model *m = NULL;
    ck_assert_profs_error(profs_model_open(&m, p), PROFS_EFORMAT,
                          "bad.safetensors: header length 100000001 exceeds the limit of 100000000 bytes");
    ck_assert_int_eq(fx_raw_st_len(p, UINT64_MAX, "{}", 2, NULL, 0), 0);
    ck_assert_profs_error(profs_model_open(&m, p), PROFS_EFORMAT, "exceeds the limit");
    free(p);
}
END_TEST

START_TEST(reject_header_past_end_of_file)
{
    char *p = at("bad.safetensors");
    ck_assert_int_eq(fx_raw_st_len(p, 64, "{}", 2, NULL, 0), 0);
    profs_model *m = NULL;
    ck_assert_profs_error(profs_model_open(&m, p), PROFS_EFORMAT,
                          "bad.safetensors: header length 64 extends past the end of the file (10 bytes)");
    free(p);
}
END_TEST

START_TEST(reject_header_not_json)
{
    expect_bad_header("{\"a\": {\"dtype\": \"F32\",\n \"shape\": [1] \"data_offsets\": [0, 4]}}", 4,
                      "header is not valid JSON");
    ck_assert(tu_contains(profs_last_error(), "line 2"));
    expect_bad_header("{\"a\": 1} trailing", 0, "header is not valid JSON");
}
END_TEST

START_TEST(reject_header_not_utf8)
{
    expect_bad_header("{\"__metadata__\": {\"k\": \"\xff\xfe\"}}", 0, "header is not valid UTF-8");
}
END_TEST

START_TEST(reject_header_not_object)
{
    expect_bad_header("[{\"dtype\": \"F32\"}]", 0, "header is not a JSON object");
}
END_TEST

START_TEST(reject_metadata_not_string_map)
{
    expect_bad_header("{\"__metadata__\": {\"format\": \"pt\", \"n\": 3}}", 0,
                      "__metadata__ entry 'n' is not a string");
    expect_bad_header("{\"__metadata__\": [\"pt\"]}", 0, "__metadata__ is not an object of strings");
}
END_TEST

START_TEST(reject_entry_not_object)
{
    expect_bad_header("{\"w\": [0, 4]}", 0, "tensor 'w': entry is not an object");
}
END_TEST

START_TEST(reject_unknown_dtype)
{
    expect_bad_header("{\"w\": {\"dtype\": \"Q4_K\", \"shape\": [1], \"data_offsets\": [0, 1]}}", 1,
                      "tensor 'w': unknown dtype 'Q4_K'");
    expect_bad_header("{\"w\": {\"shape\": [1], \"data_offsets\": [0, 4]}}", 4,
                      "tensor 'w': dtype is missing or not a string");
}
END_TEST

START_TEST(reject_bad_shape)
{
    expect_bad_header("{\"w\": {\"dtype\": \"F32\", \"shape\": [2, -1], \"data_offsets\": [0, 0]}}", 0,
                      "tensor 'w': shape[1] is not a non-negative integer");
    expect_bad_header("{\"w\": {\"dtype\": \"F32\", \"shape\": [2.0], \"data_offsets\": [0, 8]}}", 8,
                      "tensor 'w': shape[0] is not a non-negative integer");
    expect_bad_header("{\"w\": {\"dtype\": \"F32\", \"shape\": 2, \"data_offsets\": [0, 8]}}", 8,
                      "tensor 'w': shape is missing or not an array");
}
END_TEST

START_TEST(reject_bad_data_offsets)
{
    expect_bad_header("{\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0]}}", 4,
                      "tensor 'w': data_offsets is missing or not a pair of non-negative integers");
    expect_bad_header("{\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [-4, 0]}}", 4,
                      "data_offsets is missing or not a pair");
    expect_bad_header("{\"w\": {\"dtype\": \"F32\", \"shape\": [1]}}", 4, "data_offsets is missing");
    expect_bad_header("{\"w\": {\"dtype\": \"F32\", \"shape\": [0], \"data_offsets\": [4, 0]}}", 4,
                      "tensor 'w': data_offsets [4, 0) end before they begin");
}
END_TEST

START_TEST(reject_duplicate_names)
{
    expect_bad_header("{\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]},\n"
                      " \"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [4, 8]}}", 8,
                      "header has a duplicate key");
    ck_assert(tu_contains(profs_last_error(), "\"w\""));
    ck_assert(tu_contains(profs_last_error(), "line 2"));
}
END_TEST

START_TEST(reject_hole_between_tensors)
{
    expect_bad_header("{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]},"
                      " \"b\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [8, 12]}}", 12,
                      "data section has a hole: bytes [4, 8) before tensor 'b' belong to no tensor");
}
END_TEST

START_TEST(reject_offsets_not_from_zero)
{
    expect_bad_header("{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [4, 8]}}", 8,
                      "data section has a hole: bytes [0, 4) before tensor 'a'");
}
END_TEST

START_TEST(reject_overlapping_tensors)
{
    expect_bad_header("{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]},"
                      " \"b\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [4, 12]}}", 12,
                      "tensor 'b': data_offsets [4, 12) overlap tensor 'a'");
    /* the same bytes claimed twice */
    expect_bad_header("{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]},"
                      " \"b\": {\"dtype\": \"I32\", \"shape\": [2], \"data_offsets\": [0, 8]}}", 8,
                      "overlap tensor 'a'");
}
END_TEST

START_TEST(reject_size_mismatch)
{
    expect_bad_header("{\"w\": {\"dtype\": \"BF16\", \"shape\": [3, 2], \"data_offsets\": [0, 10]}}", 10,
                      "tensor 'w': data_offsets [0, 10) do not match shape [3, 2] x BF16 (12 bytes)");
}
END_TEST

START_TEST(reject_size_overflow)
{
    expect_bad_header("{\"w\": {\"dtype\": \"F64\", \"shape\": [4294967296, 4294967296], \"data_offsets\": [0, 8]}}",
                      8, "tensor 'w': shape [4294967296, 4294967296] x F64 overflows");
    expect_bad_header("{\"w\": {\"dtype\": \"F64\", \"shape\": [2305843009213693952], \"data_offsets\": [0, 8]}}",
                      8, "overflows 64-bit");
}
END_TEST

START_TEST(reject_length_mismatch_with_file)
{
    const char *h = "{\"w\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]}}";
    expect_bad_header(h, 12, "tensors end at data offset 8");
    ck_assert(tu_contains(profs_last_error(), "trailing bytes"));
    expect_bad_header(h, 4, "file truncated");
}
END_TEST

/* ---- sharded index rules */

START_TEST(reject_index_missing_shard)
{
    ck_assert_int_eq(fx_sharded(dir), 0);
    char *p = at("model-00002-of-00003.safetensors");
    ck_assert_int_eq(unlink(p), 0);
    free(p);
    profs_model *m = NULL;
    ck_assert_profs_error(profs_model_open(&m, dir), PROFS_EFORMAT,
                          "model.safetensors.index.json: weight_map names shard 'model-00002-of-00003.safetensors', which does not exist");
}
END_TEST

/* A shard that is a directory, a FIFO or a device is named for what it is,
 * not reported as missing; so is a model.safetensors that is a directory. */
START_TEST(reject_index_shard_of_the_wrong_kind)
{
    ck_assert_int_eq(fx_sharded(dir), 0);
    char *p = at("model-00002-of-00003.safetensors");
    profs_model *m = NULL;
    ck_assert_int_eq(unlink(p), 0);
    ck_assert_int_eq(mkdir(p, 0755), 0);
    ck_assert_profs_error(profs_model_open(&m, dir), PROFS_EFORMAT,
                          "weight_map names shard 'model-00002-of-00003.safetensors', which is a directory, not a safetensors file");
    ck_assert_int_eq(rmdir(p), 0);
    ck_assert_int_eq(mkfifo(p, 0644), 0);
    ck_assert_profs_error(profs_model_open(&m, dir), PROFS_EFORMAT, "which is a FIFO (named pipe), not a safetensors file");
    ck_assert_int_eq(unlink(p), 0);
    ck_assert_int_eq(symlink("/dev/null", p), 0);
    ck_assert_profs_error(profs_model_open(&m, dir), PROFS_EFORMAT, "which is a character device, not a safetensors file");
    ck_assert_ptr_null(m);
    /* opened directly: the same words */
    ck_assert_profs_error(profs_model_open(&m, p), PROFS_EIO, "is a character device, not a regular file");
    ck_assert_int_eq(unlink(p), 0);
    free(p);
    char *other = tu_tmpdir("model_kind"), *single = tu_join(other, "model.safetensors");
    ck_assert_int_eq(mkdir(single, 0755), 0);
    ck_assert_profs_error(profs_model_open(&m, other), PROFS_EFORMAT, "model.safetensors: is a directory, not a safetensors file");
    tu_rmtree(other);
    free(other);
    free(single);
}
END_TEST

START_TEST(reject_index_tensor_absent_from_shard)
{
    ck_assert_int_eq(fx_sharded(dir), 0);
    ck_assert_int_eq(fx_text(dir, "model.safetensors.index.json",
                             "{\"weight_map\": {\"layers.0.w\": \"model-00001-of-00003.safetensors\","
                             " \"embed\": \"model-00001-of-00003.safetensors\","
                             " \"layers.1.w\": \"model-00002-of-00003.safetensors\","
                             " \"norm\": \"model-00003-of-00003.safetensors\","
                             " \"scalar\": \"model-00003-of-00003.safetensors\","
                             " \"ghost\": \"model-00002-of-00003.safetensors\"}}"), 0);
    profs_model *m = NULL;
    ck_assert_profs_error(profs_model_open(&m, dir), PROFS_EFORMAT,
                          "model.safetensors.index.json: weight_map maps tensor 'ghost' to shard 'model-00002-of-00003.safetensors', which does not contain it");
}
END_TEST

START_TEST(reject_shard_tensor_not_in_index)
{
    ck_assert_int_eq(fx_sharded(dir), 0);
    ck_assert_int_eq(fx_text(dir, "model.safetensors.index.json",
                             "{\"weight_map\": {\"layers.0.w\": \"model-00001-of-00003.safetensors\","
                             " \"embed\": \"model-00001-of-00003.safetensors\","
                             " \"layers.1.w\": \"model-00002-of-00003.safetensors\","
                             " \"norm\": \"model-00003-of-00003.safetensors\"}}"), 0);
    profs_model *m = NULL;
    ck_assert_profs_error(profs_model_open(&m, dir), PROFS_EFORMAT,
                          "model-00003-of-00003.safetensors: tensor 'scalar' is not in the weight_map");
}
END_TEST

START_TEST(reject_index_malformed)
{
    ck_assert_int_eq(fx_sharded(dir), 0);
    profs_model *m = NULL;
    ck_assert_int_eq(fx_text(dir, "model.safetensors.index.json", "{\"weight_map\": {\"a\": \"x\",}}"), 0);
    ck_assert_profs_error(profs_model_open(&m, dir), PROFS_EFORMAT, "model.safetensors.index.json: invalid JSON");
    ck_assert(tu_contains(profs_last_error(), "line 1"));
    ck_assert_int_eq(fx_text(dir, "model.safetensors.index.json", "{\"metadata\": {}}"), 0);
    ck_assert_profs_error(profs_model_open(&m, dir), PROFS_EFORMAT, "no \"weight_map\" object");
    ck_assert_int_eq(fx_text(dir, "model.safetensors.index.json", "{\"weight_map\": {\"a\": \"../x.safetensors\"}}"), 0);
    ck_assert_profs_error(profs_model_open(&m, dir), PROFS_EFORMAT, "weight_map entry 'a' is not a file name in this directory");
    ck_assert_int_eq(fx_text(dir, "model.safetensors.index.json", "{\"weight_map\": {\"a\": 3}}"), 0);
    ck_assert_profs_error(profs_model_open(&m, dir), PROFS_EFORMAT, "weight_map entry 'a'");
    /* a tensor named twice in the weight_map */
    ck_assert_int_eq(fx_text(dir, "model.safetensors.index.json",
                             "{\"weight_map\": {\"norm\": \"model-00003-of-00003.safetensors\",\n"
                             " \"norm\": \"model-00002-of-00003.safetensors\"}}"), 0);
    ck_assert_profs_error(profs_model_open(&m, dir), PROFS_EFORMAT, "model.safetensors.index.json: ");
    ck_assert(tu_contains(profs_last_error(), "duplicate"));
    ck_assert(tu_contains(profs_last_error(), "line 2"));
}
END_TEST

START_TEST(reject_tensor_in_two_shards)
{
    ck_assert_int_eq(fx_sharded(dir), 0);
    /* shard 2 also holds 'norm', which the weight_map puts in shard 3 */
    char *p = at("model-00002-of-00003.safetensors");
    const float two[4] = { 0 };
    const uint16_t w[8] = { 0 };
    const char *names[] = { "layers.1.w", "norm" };
    int dt[] = { PROFS_DTYPE_F16, PROFS_DTYPE_F32 };
    size_t nd[] = { 2, 1 };
    int64_t s0[] = { 2, 4 }, s1[] = { 4 };
    const int64_t *shapes[] = { s0, s1 };
    const void *data[] = { w, two };
    ck_assert_profs_ok(profs_safetensors_write(p, 2, names, dt, nd, shapes, data, 0, NULL, NULL));
    free(p);
    profs_model *m = NULL;
    ck_assert_profs_error(profs_model_open(&m, dir), PROFS_EFORMAT,
                          "model-00002-of-00003.safetensors: tensor 'norm' is also in shard "
                          "'model-00003-of-00003.safetensors', where the weight_map of");
    ck_assert(tu_contains(profs_last_error(), "model.safetensors.index.json"));
    ck_assert_ptr_null(m);
}
END_TEST

START_TEST(reject_invalid_shard_names_its_file)
{
    ck_assert_int_eq(fx_sharded(dir), 0);
    char *p = at("model-00003-of-00003.safetensors");
    ck_assert_int_eq(fx_raw_st(p, "{\"norm\": 1}", NULL, 0), 0);
    free(p);
    profs_model *m = NULL;
    ck_assert_profs_error(profs_model_open(&m, dir), PROFS_EFORMAT,
                          "model-00003-of-00003.safetensors: tensor 'norm': entry is not an object");
}
END_TEST

/* ---------------------------------------------------------------- memory: headers on open, one tensor on read */

/* Resident set size of this process in bytes, from /proc/self/statm; -1 when unavailable. */
static long long rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f) return -1;
    long long size = 0, resident = -1;
    if (fscanf(f, "%lld %lld", &size, &resident) != 2) resident = -1;
    fclose(f);
    return resident < 0 ? -1 : resident * (long long)sysconf(_SC_PAGESIZE);
}

START_TEST(open_costs_headers_read_costs_one_tensor)
{
    /* two 16 MiB tensors and a small one, written with write(): none of the file is mapped here yet */
    enum { BIG = 4 << 20 };
    const long long MIB = 1 << 20;
    float *v = calloc(BIG, sizeof *v);
    ck_assert_ptr_nonnull(v);
    v[0] = 1.5f;
    v[BIG - 1] = -2.5f;
    float small4[4] = { 1, 2, 3, 4 };
    const char *names[] = { "a", "b", "s" };
    int dt[] = { PROFS_DTYPE_F32, PROFS_DTYPE_F32, PROFS_DTYPE_F32 };
    size_t nd[] = { 1, 1, 1 };
    int64_t sb[] = { BIG }, ss[] = { 4 };
    const int64_t *shapes[] = { sb, sb, ss };
    const void *data[] = { v, v, small4 };
    char *p = at("big.safetensors");
    ck_assert_profs_ok(profs_safetensors_write(p, 3, names, dt, nd, shapes, data, 0, NULL, NULL));
    /* the destination buffer is touched now, so it is resident before the measurements */
    memset(v, 0, (size_t)BIG * sizeof *v);
    long long r0 = rss_bytes();
    if (r0 < 0) { free(v); free(p); return; }   /* no /proc: nothing to measure */

    profs_model *m = NULL;
    ck_assert_profs_ok(profs_model_open(&m, p));
    long long r1 = rss_bytes();
    ck_assert_msg(r1 - r0 < 4 * MIB, "opening a 32 MiB file made %lld KiB resident", (r1 - r0) / 1024);

    float s[4];
    ck_assert_profs_ok(profs_model_read_f32(m, "s", s, 4));
    ck_assert_float_eq(s[3], 4.0f);
    long long r2 = rss_bytes();
    ck_assert_msg(r2 - r0 < 4 * MIB, "reading a 16-byte tensor made %lld KiB resident", (r2 - r0) / 1024);

    ck_assert_profs_ok(profs_model_read_f32(m, "a", v, BIG));
    ck_assert_float_eq(v[0], 1.5f);
    ck_assert_float_eq(v[BIG - 1], -2.5f);
    long long r3 = rss_bytes();
    /* about the 16 MiB of 'a' (mapped pages), not the 32 MiB of the whole file */
    ck_assert_msg(r3 - r2 > 12 * MIB && r3 - r2 < 20 * MIB,
                  "reading a 16 MiB tensor changed resident memory by %lld KiB", (r3 - r2) / 1024);

    ck_assert_profs_ok(profs_model_release(m, "a"));
    long long r4 = rss_bytes();
    ck_assert_msg(r3 - r4 > 12 * MIB, "releasing a 16 MiB tensor freed only %lld KiB", (r3 - r4) / 1024);
    profs_model_free(m);
    free(v);
    free(p);
}
END_TEST

static Suite *model_suite(void)
{
    Suite *s = suite_create("model");
    TCase *tc = tcase_create("read");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, float_dtypes_round_trip);
    tcase_add_test(tc, other_dtypes_raw_bytes);
    tcase_add_test(tc, scalars_and_zero_size);
    tcase_add_test(tc, metadata_preserved);
    tcase_add_test(tc, header_written_padded_and_compact);
    tcase_add_test(tc, sharded_directory);
    tcase_add_test(tc, single_file_directory);
    tcase_add_test(tc, single_file_wins_over_index);
    tcase_add_test(tc, open_errors);
    tcase_add_test(tc, config_getters);
    tcase_add_test(tc, config_wrong_type_and_missing);
    tcase_add_test(tc, config_invalid_json_rejected);
    tcase_add_test(tc, write_rejects_bad_arguments);
    tcase_add_test(tc, open_costs_headers_read_costs_one_tensor);
    suite_add_tcase(s, tc);
    TCase *rj = tcase_create("reject");
    tcase_add_checked_fixture(rj, setup, teardown);
    tcase_add_test(rj, reject_file_shorter_than_8_bytes);
    tcase_add_test(rj, reject_header_length_over_limit);
    tcase_add_test(rj, reject_header_past_end_of_file);
    tcase_add_test(rj, reject_header_not_json);
    tcase_add_test(rj, reject_header_not_utf8);
    tcase_add_test(rj, reject_header_not_object);
    tcase_add_test(rj, reject_metadata_not_string_map);
    tcase_add_test(rj, reject_entry_not_object);
    tcase_add_test(rj, reject_unknown_dtype);
    tcase_add_test(rj, reject_bad_shape);
    tcase_add_test(rj, reject_bad_data_offsets);
    tcase_add_test(rj, reject_duplicate_names);
    tcase_add_test(rj, reject_hole_between_tensors);
    tcase_add_test(rj, reject_offsets_not_from_zero);
    tcase_add_test(rj, reject_overlapping_tensors);
    tcase_add_test(rj, reject_size_mismatch);
    tcase_add_test(rj, reject_size_overflow);
    tcase_add_test(rj, reject_length_mismatch_with_file);
    tcase_add_test(rj, reject_index_missing_shard);
    tcase_add_test(rj, reject_index_shard_of_the_wrong_kind);
    tcase_add_test(rj, reject_index_tensor_absent_from_shard);
    tcase_add_test(rj, reject_shard_tensor_not_in_index);
    tcase_add_test(rj, reject_index_malformed);
    tcase_add_test(rj, reject_tensor_in_two_shards);
    tcase_add_test(rj, reject_invalid_shard_names_its_file);
    suite_add_tcase(s, rj);
    return s;
}

int main(void) { return tu_run_suite(model_suite()); }
