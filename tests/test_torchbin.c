/* PyTorch checkpoints (pytorch_model.bin) in the tensor store: the fixtures
 * torch.save wrote in the transformers environment (tests/data/bin/, made by
 * tests/reference/tf_bin_fixtures.py) read exactly as torch has them, the
 * runtime on them matches transformers, saving writes safetensors as
 * transformers 5 does, and every hand-made hostile file
 * (tests/reference/make_hostile_checkpoints.py) is refused with its message
 * without running anything. */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/model_impl.h"
#include "io/pickle.h"
#include "profs/profs.h"
#include "testutil.h"

#define MARKER "profs_hostile_marker"

static char *dir;

static void setup(void) { dir = tu_tmpdir("torchbin"); ck_assert_ptr_nonnull(dir); }
static void teardown(void) { tu_rmtree(dir); free(dir); }

static char *fixture(const char *name)
{
    char rel[256];
    snprintf(rel, sizeof rel, "bin/%s", name);
    return tu_data_path(rel);
}

static profs_model *golden(const char *name)
{
    char rel[256];
    snprintf(rel, sizeof rel, "bin/%s/golden.safetensors", name);
    char *p = tu_data_path(rel);
    profs_model *g = NULL;
    ck_assert_profs_ok(profs_model_open(&g, p));
    free(p);
    return g;
}

static int exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* Every "w.<name>" of the golden is tensor <name> of m with the same dtype, shape and bytes;
 * returns how many there are. skip: a name that m must NOT have (NULL: none). */
static size_t check_weights(const profs_model *m, const profs_model *g, const char *skip)
{
    size_t n = 0;
    for (size_t i = 0; i < profs_model_tensor_count(g); i++) {
        const char *gn = profs_model_tensor_name(g, i);
        if (strncmp(gn, "w.", 2) != 0) continue;
        const char *name = gn + 2;
        if (skip && strcmp(name, skip) == 0) {
            ck_assert_msg(!profs_model_has_tensor(m, name), "tensor '%s' should not be there", name);
            continue;
        }
        int dg, dm;
        size_t ng, nm;
        const int64_t *sg, *sm;
        ck_assert_profs_ok(profs_model_tensor_info(g, gn, &dg, &ng, &sg));
        ck_assert_profs_ok(profs_model_tensor_info(m, name, &dm, &nm, &sm));
        ck_assert_int_eq(dm, dg);
        ck_assert_uint_eq(nm, ng);
        for (size_t d = 0; d < ng; d++) ck_assert_int_eq(sm[d], sg[d]);
        const void *bg, *bm;
        uint64_t lg, lm;
        ck_assert_profs_ok(profs_model_tensor_data(g, gn, &bg, &lg));
        ck_assert_profs_ok(profs_model_tensor_data(m, name, &bm, &lm));
        ck_assert_uint_eq(lm, lg);
        ck_assert_msg(memcmp(bm, bg, (size_t)lg) == 0, "tensor '%s' differs from torch's", name);
        n++;
    }
    return n;
}

static const char *const FIXTURES[] = { "gpt2_f32", "gpt2_bf16", "opt_f16", "gpt2_zip" };

START_TEST(reads_every_tensor_as_torch_has_it)
{
    const char *name = FIXTURES[_i];
    char *p = fixture(name);
    profs_model *m = NULL, *g = golden(name);
    ck_assert_profs_ok(profs_model_open(&m, p));
    size_t n = check_weights(m, g, NULL);
    ck_assert_uint_eq(profs_model_tensor_count(m), n);
    ck_assert_uint_gt(n, 10);
    /* both tied keys are there, as in the state dict */
    ck_assert(profs_model_has_tensor(m, "lm_head.weight"));
    /* a materialised tensor can be released and read again */
    const char *nc = strcmp(name, "opt_f16") == 0 ? "model.decoder.layers.0.fc2.weight" : "lm_head.weight";
    uint64_t ne;
    ck_assert_profs_ok(profs_model_tensor_size(m, nc, &ne, NULL));
    float *a = malloc(ne * sizeof *a), *b = malloc(ne * sizeof *b);
    ck_assert_profs_ok(profs_model_read_f32(m, nc, a, ne));
    ck_assert_profs_ok(profs_model_release(m, nc));
    ck_assert_profs_ok(profs_model_read_f32(m, nc, b, ne));
    ck_assert(memcmp(a, b, ne * sizeof *a) == 0);
    free(a);
    free(b);
    profs_model_free(m);
    profs_model_free(g);
    free(p);
}
END_TEST

START_TEST(non_contiguous_view_is_materialised_in_row_major_order)
{
    char *p = fixture("opt_f16");
    profs_model *m = NULL, *g = golden("opt_f16");
    ck_assert_profs_ok(profs_model_open(&m, p));
    const char *name = "model.decoder.layers.0.fc2.weight";
    const int64_t *shape;
    size_t nd;
    ck_assert_profs_ok(profs_model_tensor_info(m, name, NULL, &nd, &shape));
    ck_assert_uint_eq(nd, 2);
    ck_assert_int_eq(shape[0], 32);
    ck_assert_int_eq(shape[1], 64);
    float *x = malloc(32 * 64 * sizeof *x), *y = malloc(32 * 64 * sizeof *y);
    ck_assert_profs_ok(profs_model_read_f32(m, name, x, 32 * 64));
    ck_assert_profs_ok(profs_model_read_f32(g, "w.model.decoder.layers.0.fc2.weight", y, 32 * 64));
    for (int i = 0; i < 32 * 64; i++) ck_assert_float_eq(x[i], y[i]);
    free(x);
    free(y);
    profs_model_free(m);
    profs_model_free(g);
    free(p);
}
END_TEST

START_TEST(runtime_on_a_checkpoint_matches_transformers)
{
    const char *name = FIXTURES[_i];
    char *p = fixture(name);
    profs_lm *lm = NULL;
    ck_assert_profs_ok(profs_lm_open(&lm, p));
    profs_model *g = golden(name);
    size_t L = profs_lm_n_layers(lm), D = profs_lm_hidden_size(lm), V = profs_lm_vocab_size(lm);
    ck_assert_uint_eq(L, 2);
    ck_assert_uint_eq(D, 32);
    ck_assert_uint_eq(V, 512);
    const void *raw;
    uint64_t nb;
    ck_assert_profs_ok(profs_model_tensor_data(g, "ids.0", &raw, &nb));
    size_t T = (size_t)nb / 4;
    int32_t *ids = malloc(nb);
    memcpy(ids, raw, nb);
    float *want = malloc((L + 1) * T * D * sizeof *want), *got = malloc((L + 1) * T * D * sizeof *got);
    ck_assert_profs_ok(profs_model_read_f32(g, "hidden.0", want, (L + 1) * T * D));
    ck_assert_profs_ok(profs_lm_hidden_states(lm, got, ids, T));
    for (size_t l = 0; l <= L; l++) {
        double e = tu_rel_err(got + l * T * D, want + l * T * D, T * D);
        ck_assert_msg(e < 1e-4, "%s: hidden state %zu: relative error %g", name, l, e);
    }
    float *wl = malloc(T * V * sizeof *wl), *gl = malloc(T * V * sizeof *gl);
    ck_assert_profs_ok(profs_model_read_f32(g, "logits.0", wl, T * V));
    ck_assert_profs_ok(profs_lm_logits(lm, gl, ids, T));
    double e = tu_rel_err(gl, wl, T * V);
    ck_assert_msg(e < 1e-4, "%s: logits: relative error %g", name, e);
    free(ids); free(want); free(got); free(wl); free(gl);
    profs_model_free(g);
    profs_lm_free(lm);
    free(p);
}
END_TEST

START_TEST(safetensors_win_over_a_checkpoint_in_one_directory)
{
    char *src = fixture("gpt2_f32");
    char *bin = tu_join(src, "pytorch_model.bin"), *cfg = tu_join(src, "config.json");
    char *d_bin = tu_join(dir, "pytorch_model.bin"), *d_cfg = tu_join(dir, "config.json"), *d_st = tu_join(dir, "model.safetensors");
    size_t len;
    void *b = tu_read_file(bin, &len);
    ck_assert_int_eq(tu_write_file(d_bin, b, len), 0);
    free(b);
    b = tu_read_file(cfg, &len);
    ck_assert_int_eq(tu_write_file(d_cfg, b, len), 0);
    free(b);
    const char *names[] = { "only" };
    int dt[] = { PROFS_DTYPE_F32 };
    size_t nd[] = { 1 };
    int64_t s1[] = { 1 };
    const int64_t *shapes[] = { s1 };
    float one = 1;
    const void *data[] = { &one };
    ck_assert_profs_ok(profs_safetensors_write(d_st, 1, names, dt, nd, shapes, data, 0, NULL, NULL));
    profs_model *m = NULL;
    ck_assert_profs_ok(profs_model_open(&m, dir));
    ck_assert_uint_eq(profs_model_tensor_count(m), 1);
    ck_assert(profs_model_has_tensor(m, "only"));
    profs_model_free(m);
    free(src); free(bin); free(cfg); free(d_bin); free(d_cfg); free(d_st);
}
END_TEST

/* No top-level file of an output directory that a weight glob would pick up, except the listed weights. */
static void check_no_stray_weights(const char *out)
{
    char *idx = tu_join(out, "model.safetensors.index.json");
    json_t *index = exists(idx) ? json_load_file(idx, 0, NULL) : NULL;
    free(idx);
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "ls -1 '%s'", out);
    FILE *ls = popen(cmd, "r");
    ck_assert_ptr_nonnull(ls);
    char line[1024];
    while (fgets(line, sizeof line, ls)) {
        line[strcspn(line, "\n")] = '\0';
        size_t n = strlen(line);
        int w = (n > 12 && strcmp(line + n - 12, ".safetensors") == 0) || (n > 4 && strcmp(line + n - 4, ".bin") == 0) ||
                (n > 3 && strcmp(line + n - 3, ".pt") == 0) || (n > 4 && strcmp(line + n - 4, ".pth") == 0);
        if (!w) continue;
        int listed = 0;
        if (index) {
            const char *k;
            json_t *v;
            json_object_foreach(json_object_get(index, "weight_map"), k, v)
                if (strcmp(json_string_value(v), line) == 0) listed = 1;
        } else listed = strcmp(line, "model.safetensors") == 0;
        ck_assert_msg(listed, "%s: top-level '%s' is not a listed weight file", out, line);
    }
    pclose(ls);
    json_decref(index);
}

START_TEST(saving_a_checkpoint_writes_one_safetensors_file_with_tied_weights_once)
{
    char *src = fixture("gpt2_f32");
    profs_model *m = NULL, *g = golden("gpt2_f32");
    ck_assert_profs_ok(profs_model_open(&m, src));
    char *out = tu_join(dir, "out");
    ck_assert_profs_ok(profs_model_save(m, out, NULL, NULL));
    profs_model_free(m);
    char *st = tu_join(out, "model.safetensors"), *bin = tu_join(out, "pytorch_model.bin"),
         *gold = tu_join(out, "golden.safetensors"), *cfg = tu_join(out, "config.json"),
         *idx = tu_join(out, "model.safetensors.index.json");
    ck_assert(exists(st));
    ck_assert(!exists(bin));
    ck_assert(!exists(gold));   /* another set of weights at the top level is not copied */
    ck_assert(!exists(idx));
    ck_assert(exists(cfg));
    check_no_stray_weights(out);
    ck_assert_profs_ok(profs_model_open(&m, out));
    size_t n = check_weights(m, g, "lm_head.weight");
    ck_assert_uint_eq(profs_model_tensor_count(m), n);
    ck_assert(profs_model_has_tensor(m, "transformer.wte.weight"));
    ck_assert_str_eq(profs_model_metadata(m, "format"), "pt");
    /* byte for byte what transformers' save_pretrained writes for this checkpoint */
    char *tp = tu_data_path("bin/goldens/gpt2_f32.model.safetensors");
    size_t la, lb;
    char *a = tu_read_file(st, &la), *b = tu_read_file(tp, &lb);
    ck_assert_msg(a && b && la == lb && memcmp(a, b, la) == 0, "model.safetensors differs from transformers' (%zu vs %zu bytes)", la, lb);
    free(a); free(b); free(tp);
    profs_model_free(m);
    profs_model_free(g);
    free(st); free(bin); free(gold); free(cfg); free(idx); free(out); free(src);
}
END_TEST

START_TEST(saving_leaves_out_top_level_weights_that_are_not_the_outputs_own)
{
    /* a safetensors model beside the same weights as .bin, training state and a stray edit file */
    char *src = tu_join(dir, "src"), *sub = tu_join(dir, "src/sub");
    ck_assert_int_eq(mkdir(src, 0777), 0);
    ck_assert_int_eq(mkdir(sub, 0777), 0);
    const char *names[] = { "w" };
    int dt[] = { PROFS_DTYPE_F32 };
    size_t nd[] = { 1 };
    int64_t s1[] = { 2 };
    const int64_t *shapes[] = { s1 };
    float two[2] = { 1, 2 };
    const void *data[] = { two };
    static const char *const files[] = { "model.safetensors", "profs_edit.safetensors", "extra.safetensors", "sub/kept.safetensors" };
    for (int i = 0; i < 4; i++) {
        char *p = tu_join(src, files[i]);
        ck_assert_profs_ok(profs_safetensors_write(p, 1, names, dt, nd, shapes, data, 0, NULL, NULL));
        free(p);
    }
    static const char *const others[] = { "pytorch_model.bin", "training_args.bin", "optimizer.pt", "rng_state.pth",
                                          "pytorch_model.bin.index.json", "model.safetensors.index.json", "config.json" };
    for (int i = 0; i < 7; i++) {
        char *p = tu_join(src, others[i]);
        ck_assert_int_eq(tu_write_file(p, "{}", 2), 0);
        free(p);
    }
    profs_model *m = NULL;
    ck_assert_profs_ok(profs_model_open(&m, src));   /* model.safetensors wins over the index and the .bin */
    char *out = tu_join(dir, "out");
    ck_assert_profs_ok(profs_model_save(m, out, NULL, NULL));
    profs_model_free(m);
    static const char *const kept[] = { "model.safetensors", "config.json", "sub/kept.safetensors" };
    for (int i = 0; i < 3; i++) {
        char *p = tu_join(out, kept[i]);
        ck_assert_msg(exists(p), "%s was not copied", kept[i]);
        free(p);
    }
    static const char *const dropped[] = { "profs_edit.safetensors", "extra.safetensors", "pytorch_model.bin", "training_args.bin",
                                           "optimizer.pt", "rng_state.pth", "pytorch_model.bin.index.json",
                                           "model.safetensors.index.json" };
    for (int i = 0; i < 8; i++) {
        char *p = tu_join(out, dropped[i]);
        ck_assert_msg(!exists(p), "%s was copied", dropped[i]);
        free(p);
    }
    check_no_stray_weights(out);
    free(out); free(sub); free(src);
}
END_TEST

/* transformers' own save_pretrained(max_shard_size=20000) of the same checkpoint
 * (tests/data/bin/goldens/, made by tests/reference/tf_bin_fixtures.py): the index text, byte for byte */
START_TEST(saving_a_checkpoint_in_shards_writes_what_transformers_writes)
{
    static const char *const names[] = { "gpt2_bf16", "opt_f16" };
    const char *name = names[_i];
    char *src = fixture(name);
    profs_model *m = NULL, *g = golden(name);
    ck_assert_profs_ok(profs_model_open(&m, src));
    pf_model_set_max_shard_size(m, 20000);
    char *out = tu_join(dir, "out");
    ck_assert_profs_ok(profs_model_save(m, out, NULL, NULL));
    profs_model_free(m);
    char rel[256];
    snprintf(rel, sizeof rel, "bin/goldens/%s.index-20000.json", name);
    char *gp = tu_data_path(rel), *ip = tu_join(out, "model.safetensors.index.json");
    size_t lw, lg;
    char *want = tu_read_file(gp, &lw), *got = tu_read_file(ip, &lg);
    ck_assert_ptr_nonnull(want);
    ck_assert_ptr_nonnull(got);
    ck_assert_msg(lg == lw && memcmp(got, want, lw) == 0, "%s: index differs from transformers':\n%.*s\nwant:\n%.*s", name,
                  (int)lg, got, (int)lw, want);
    /* every shard it names exists, nothing else of the source's weights came along */
    json_t *index = json_loadb(want, lw, 0, NULL);
    const char *k;
    json_t *v;
    json_object_foreach(json_object_get(index, "weight_map"), k, v) {
        char *sp = tu_join(out, json_string_value(v));
        snprintf(rel, sizeof rel, "bin/goldens/%s.shards-20000/%s", name, json_string_value(v));
        char *tp = tu_data_path(rel);
        size_t la, lb;
        char *a = tu_read_file(sp, &la), *b = tu_read_file(tp, &lb);
        ck_assert_msg(a && b && la == lb && memcmp(a, b, la) == 0, "%s: %s differs from transformers' shard", name,
                      json_string_value(v));
        free(a); free(b); free(sp); free(tp);
    }
    char *bi = tu_join(out, "pytorch_model.bin.index.json");
    ck_assert(!exists(bi));
    check_no_stray_weights(out);
    ck_assert_profs_ok(profs_model_open(&m, out));
    ck_assert_uint_eq(check_weights(m, g, "lm_head.weight"), profs_model_tensor_count(m));
    profs_model_free(m);
    json_decref(index);
    profs_model_free(g);
    free(want); free(got); free(gp); free(ip); free(bi); free(out); free(src);
}
END_TEST

/* ---------------------------------------------------------------- hostile files */

static const struct hostile { const char *file; int code; const char *message; } HOSTILE[] = {
    {"os_system.bin", PROFS_EFORMAT, "GLOBAL 'os.system' is not allowed"},
    {"builtins_eval.bin", PROFS_EFORMAT, "GLOBAL '__builtin__.eval' is not allowed"},
    {"reduce_storage_class.bin", PROFS_EFORMAT, "REDUCE of torch.FloatStorage is not allowed"},
    {"build_on_tensor.bin", PROFS_EFORMAT, "BUILD on a tensor is not allowed"},
    {"duplicate_key.bin", PROFS_EFORMAT, "duplicate key 'w'"},
    {"storage_too_short.bin", PROFS_EFORMAT, "offset 0 + strided extent 16 elements of F32 exceed its storage '0' of 6 elements"},
    {"storage_entry_short.bin", PROFS_EFORMAT, "storage '0' holds 4 bytes, fewer than the 6 elements x F32 (24 bytes)"},
    {"storage_missing.bin", PROFS_EFORMAT, "its storage entry 'pytorch_model/data/7' is missing"},
    {"entry_past_end.bin", PROFS_EFORMAT, "zip entry 'pytorch_model/data/0': data [269, 1000269) extends past the end of the archive"},
    {"legacy_format.bin", PROFS_EUNSUPPORTED, "legacy format of torch < 1.6"},
};

START_TEST(hostile_checkpoint_is_refused_and_nothing_runs)
{
    const struct hostile *h = &HOSTILE[_i];
    char rel[256];
    snprintf(rel, sizeof rel, "bin/hostile/%s", h->file);
    char *p = tu_data_path(rel);
    char cwd[4096];
    ck_assert_ptr_nonnull(getcwd(cwd, sizeof cwd));
    ck_assert_int_eq(chdir(dir), 0);   /* a payload that ran would create MARKER here */
    profs_model *m = NULL;
    ck_assert_profs_error(profs_model_open(&m, p), h->code, h->message);
    ck_assert_ptr_null(m);
    ck_assert(tu_contains(profs_last_error(), h->file));
    ck_assert_msg(!exists(MARKER), "%s: the marker file exists: something ran", h->file);
    ck_assert_int_eq(chdir(cwd), 0);
    free(p);
}
END_TEST

START_TEST(hostile_builder_makes_readable_checkpoints)
{
    /* valid_zip64.bin: the same with zip64 extra fields in its local headers (torch writes zip64 for shards over 4 GiB) */
    char *p = tu_data_path(_i ? "bin/hostile/valid_zip64.bin" : "bin/hostile/valid.bin");
    profs_model *m = NULL;
    ck_assert_profs_ok(profs_model_open(&m, p));
    float x[6];
    ck_assert_profs_ok(profs_model_read_f32(m, "w", x, 6));
    for (int i = 0; i < 6; i++) ck_assert_float_eq(x[i], (float)(i + 1));
    profs_model_free(m);
    free(p);
}
END_TEST

START_TEST(a_checkpoint_file_saves_as_one_safetensors_file)
{
    char *p = tu_data_path("bin/gpt2_f32/pytorch_model.bin");
    profs_model *m = NULL, *g = golden("gpt2_f32");
    ck_assert_profs_ok(profs_model_open(&m, p));
    char *out = tu_join(dir, "converted.safetensors");
    ck_assert_profs_ok(profs_model_save(m, out, NULL, NULL));
    profs_model_free(m);
    ck_assert_profs_ok(profs_model_open(&m, out));
    ck_assert_uint_eq(check_weights(m, g, "lm_head.weight"), profs_model_tensor_count(m));
    profs_model_free(m);
    /* the same bytes transformers writes as model.safetensors */
    char *tp = tu_data_path("bin/goldens/gpt2_f32.model.safetensors");
    size_t la, lb;
    char *a = tu_read_file(out, &la), *b = tu_read_file(tp, &lb);
    ck_assert(a && b && la == lb && memcmp(a, b, la) == 0);
    free(a); free(b); free(tp);
    profs_model_free(g);
    free(out);
    free(p);
}
END_TEST

START_TEST(editing_a_tied_tensor_of_a_checkpoint_is_refused_when_saved)
{
    char *p = fixture("gpt2_f32");
    profs_model *m = NULL;
    ck_assert_profs_ok(profs_model_open(&m, p));
    uint64_t n;
    ck_assert_profs_ok(profs_model_tensor_size(m, "lm_head.weight", &n, NULL));
    float *z = calloc(n, sizeof *z);
    ck_assert_profs_ok(profs_model_stage_f32(m, "lm_head.weight", z, n));
    char *out = tu_join(dir, "out");
    ck_assert_profs_error(profs_model_save(m, out, NULL, NULL), PROFS_EUNSUPPORTED,
                          "tensor 'lm_head.weight' shares its storage with 'transformer.wte.weight' (tied weights)");
    ck_assert(!exists(out));
    free(z);
    free(out);
    profs_model_free(m);
    free(p);
}
END_TEST

START_TEST(deflated_entry_that_inflates_past_its_size_is_refused_when_read)
{
    char *p = tu_data_path("bin/hostile/inflates_past_size.bin");
    profs_model *m = NULL;
    ck_assert_profs_ok(profs_model_open(&m, p));
    float x[6];
    ck_assert_profs_error(profs_model_read_f32(m, "w", x, 6), PROFS_EFORMAT,
                          "zip entry 'pytorch_model/data/0' inflates past its declared size of 24 bytes");
    const void *d = NULL;
    ck_assert_profs_error(profs_model_tensor_data(m, "w", &d, NULL), PROFS_EFORMAT, "inflates past");
    profs_model_free(m);
    free(p);
}
END_TEST

START_TEST(zip_without_a_pickle_is_not_a_checkpoint)
{
    /* valid.bin with its data.pkl renamed: a zip, but not a PyTorch checkpoint */
    char *p = tu_data_path("bin/hostile/valid.bin");
    size_t len;
    char *b = tu_read_file(p, &len);
    for (size_t i = 0; i + 8 <= len; i++)
        if (memcmp(b + i, "data.pkl", 8) == 0) memcpy(b + i, "data.pkX", 8);
    char *q = tu_join(dir, "pytorch_model.bin");
    ck_assert_int_eq(tu_write_file(q, b, len), 0);
    profs_model *m = NULL;
    ck_assert_profs_error(profs_model_open(&m, dir), PROFS_EFORMAT, "not a PyTorch checkpoint (no <name>/data.pkl entry)");
    free(b); free(p); free(q);
}
END_TEST

/* ---------------------------------------------------------------- the unpickler, rule by rule */

#define OD "ccollections\nOrderedDict\n)R"
#define RB "ctorch._utils\n_rebuild_tensor_v2\n"
#define PID "(X\x07\0\0\0storagectorch\nFloatStorage\nX\x01\0\0\0" "0X\x03\0\0\0cpuK\x06tQ"
#define TENSOR RB "(" PID "K\x00(K\x02K\x03t(K\x03K\x01t\x89" OD "tR"

static const struct pkl_case { const char *name; const char *bytes; size_t len; const char *message; } PKL[] = {
#define C(n, b, m) { n, b, sizeof b - 1, m }
    C("a state dict", "\x80\x02" OD "(X\x01\0\0\0w" TENSOR "u.", NULL),
    C("_rebuild_parameter", "\x80\x02" OD "(X\x01\0\0\0wctorch._utils\n_rebuild_parameter\n(" TENSOR "\x88" OD "tRu.", NULL),
    C("empty", "", "pickle ends without STOP"),
    C("no STOP", "\x80\x02}", "pickle ends without STOP"),
    C("protocol 6", "\x80\x06}.", "PROTO: unknown protocol"),
    C("GLOBAL of subprocess", "\x80\x02" "csubprocess\nPopen\n.", "GLOBAL 'subprocess.Popen' is not allowed"),
    C("STACK_GLOBAL of builtins.exec", "\x80\x04\x8c\x08" "builtins\x8c\x04" "exec\x93.", "GLOBAL 'builtins.exec' is not allowed"),
    C("copy_reg._reconstructor", "\x80\x02" "ccopy_reg\n_reconstructor\n.", "GLOBAL 'copy_reg._reconstructor' is not allowed"),
    C("INST", "\x80\x02(ios\nsystem\nX\x01\0\0\0xo.", "opcode 0x69 (INST) is not allowed"),
    C("NEWOBJ", "\x80\x02" OD "\x81.", "opcode 0x81 (NEWOBJ) is not allowed"),
    C("EXT1", "\x80\x02\x82\x01.", "opcode 0x82 (EXT1) is not allowed"),
    C("REDUCE of a string", "\x80\x02X\x01\0\0\0x)R.", "REDUCE of a str is not allowed"),
    C("OrderedDict with arguments", "\x80\x02" "ccollections\nOrderedDict\n(K\x01tR.", "REDUCE of collections.OrderedDict with arguments"),
    C("BUILD on a dict", "\x80\x02}}b.", "BUILD on a dict is not allowed"),
    C("persistent id of a wrong kind", "\x80\x02(X\x03\0\0\0fooK\x01tQ.", "persistent id is not ('storage'"),
    C("storage class not allowed as a storage", "\x80\x02(X\x07\0\0\0storage" OD "X\x01\0\0\0" "0X\x03\0\0\0cpuK\x06tQ.",
      "storage class is not one of"),
    C("storage key with a slash", "\x80\x02(X\x07\0\0\0storagectorch\nFloatStorage\nX\x04\0\0\0../xX\x03\0\0\0cpuK\x06tQ.",
      "storage key or location is not a plain string"),
    /* found by fuzz_pickle: a key starting with a NUL byte named no zip entry at all */
    C("storage key with a NUL byte", "\x80\x02(X\x07\0\0\0storagectorch\nFloatStorage\nX\x02\0\0\0\0" "0X\x03\0\0\0cpuK\x06tQ.",
      "storage key or location is not a plain string"),
    C("negative stride", "\x80\x02" OD "(X\x01\0\0\0w" RB "(" PID "K\x00(K\x02K\x03t(J\xfd\xff\xff\xffK\x01t\x89" OD "tRu.",
      "a stride is not a non-negative int"),
    C("size and stride of different lengths", "\x80\x02" OD "(X\x01\0\0\0w" RB "(" PID "K\x00(K\x02K\x03t(K\x03t\x89" OD "tRu.",
      "size and stride are not tuples of one length"),
    C("backward hooks", "\x80\x02" OD "(X\x01\0\0\0w" RB "(" PID "K\x00(K\x02K\x03t(K\x03K\x01t\x89K\x01tRu.",
      "backward hooks are not an empty OrderedDict"),
    C("a value that is not a tensor", "\x80\x02" OD "(X\x01\0\0\0wK\x05u.", "state dict entry 'w' is a int, not a tensor"),
    C("a key that is not a string", "\x80\x02" OD "(K\x01" TENSOR "u.", "state dict entry 0: key is a int"),
    C("not a dict", "\x80\x02]." , "the pickle holds a list, not a state dict"),
    C("memo get never stored", "\x80\x02h\x05.", "memo get of an index never stored"),
    C("memo index past the pickle", "\x80\x02}r\xff\xff\xff\x7f.", "memo index larger than the pickle"),
    C("string past the end", "\x80\x02X\xff\0\0\0ab", "string runs past the end of the pickle"),
    C("LONG1 wider than 64 bits", "\x80\x02\x8a\x09\1\2\3\4\5\6\7\x08\x09.", "LONG1: integer wider than 64 bits"),
    C("TUPLE without a MARK", "\x80\x02K\x01t.", "TUPLE without a MARK"),
    C("SETITEMS odd", "\x80\x02}(K\x01u.", "SETITEMS with an odd number of items"),
    C("SETITEM on a list", "\x80\x02]K\x01K\x02s.", "SETITEM on a list, not a dict"),
    C("STOP with two objects", "\x80\x02}}.", "STOP with a stack that does not hold one object"),
#undef C
};

START_TEST(unpickler_rule)
{
    const struct pkl_case *c = &PKL[_i];
    pf_pkl_dict d;
    int rc = pf_pkl_parse(&d, "case.pkl", (const uint8_t *)c->bytes, c->len);
    if (!c->message) {
        ck_assert_msg(rc == 0, "%s: %s", c->name, profs_last_error());
        ck_assert_uint_eq(d.n, 1);
        ck_assert_str_eq(d.t[0].name, "w");
        ck_assert_str_eq(d.t[0].storage_key, "0");
        ck_assert_int_eq(d.t[0].dtype, PROFS_DTYPE_F32);
        ck_assert_uint_eq(d.t[0].storage_numel, 6);
        ck_assert_uint_eq(d.t[0].ndim, 2);
        ck_assert_int_eq(d.t[0].shape[0], 2);
        ck_assert_int_eq(d.t[0].stride[0], 3);
        pf_pkl_dict_free(&d);
        return;
    }
    ck_assert_msg(rc == PROFS_EFORMAT, "%s: accepted (rc %d)", c->name, rc);
    ck_assert_msg(tu_contains(profs_last_error(), c->message), "%s: message '%s' lacks '%s'", c->name,
                  profs_last_error(), c->message);
    ck_assert(tu_contains(profs_last_error(), "case.pkl"));
}
END_TEST

static Suite *torchbin_suite(void)
{
    Suite *s = suite_create("torchbin");
    TCase *tc = tcase_create("read");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_loop_test(tc, reads_every_tensor_as_torch_has_it, 0, 4);
    tcase_add_test(tc, non_contiguous_view_is_materialised_in_row_major_order);
    tcase_add_loop_test(tc, runtime_on_a_checkpoint_matches_transformers, 0, 4);
    tcase_add_test(tc, safetensors_win_over_a_checkpoint_in_one_directory);
    suite_add_tcase(s, tc);
    TCase *sv = tcase_create("save");
    tcase_add_checked_fixture(sv, setup, teardown);
    tcase_add_test(sv, saving_a_checkpoint_writes_one_safetensors_file_with_tied_weights_once);
    tcase_add_loop_test(sv, saving_a_checkpoint_in_shards_writes_what_transformers_writes, 0, 2);
    tcase_add_test(sv, saving_leaves_out_top_level_weights_that_are_not_the_outputs_own);
    suite_add_tcase(s, sv);
    TCase *h = tcase_create("hostile");
    tcase_add_checked_fixture(h, setup, teardown);
    tcase_add_loop_test(h, hostile_checkpoint_is_refused_and_nothing_runs, 0, (int)(sizeof HOSTILE / sizeof HOSTILE[0]));
    tcase_add_loop_test(h, hostile_builder_makes_readable_checkpoints, 0, 2);
    tcase_add_test(h, a_checkpoint_file_saves_as_one_safetensors_file);
    tcase_add_test(h, editing_a_tied_tensor_of_a_checkpoint_is_refused_when_saved);
    tcase_add_test(h, deflated_entry_that_inflates_past_its_size_is_refused_when_read);
    tcase_add_test(h, zip_without_a_pickle_is_not_a_checkpoint);
    suite_add_tcase(s, h);
    TCase *pk = tcase_create("unpickler");
    tcase_add_loop_test(pk, unpickler_rule, 0, (int)(sizeof PKL / sizeof PKL[0]));
    suite_add_tcase(s, pk);
    return s;
}

int main(void) { return tu_run_suite(torchbin_suite()); }
