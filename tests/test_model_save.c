/* Tensor store: staging and saving (byte-identical copies, staged bytes only,
 * transforms, BF16 rounding, refusal to overwrite the source, failing and
 * cancelled saves leave nothing complete-looking behind). */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "model_fixtures.h"
#include "profs/profs.h"
#include "testutil.h"

static char *dir;   /* scratch root of this test */
static char *src;   /* dir/src: the source model */

static void setup(void)
{
    dir = tu_tmpdir("save");
    ck_assert_ptr_nonnull(dir);
    src = tu_join(dir, "src");
    ck_assert_int_eq(mkdir(src, 0755), 0);
}

static void teardown(void)
{
    tu_rmtree(dir);
    free(src);
    free(dir);
}

static char *at(const char *base, const char *name) { return tu_join(base, name); }

static int files_equal(const char *a, const char *b)
{
    size_t la, lb;
    char *x = tu_read_file(a, &la), *y = tu_read_file(b, &lb);
    int eq = x && y && la == lb && memcmp(x, y, la) == 0;
    free(x);
    free(y);
    return eq;
}

static int exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

/* Number of leftover temporaries (".<name>.tmp-...") under d, recursively. */
static int count_temporaries(const char *d)
{
    DIR *dd = opendir(d);
    if (!dd) return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(dd)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        if (strstr(e->d_name, ".tmp-")) n++;
        char *p = tu_join(d, e->d_name);
        struct stat st;
        if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode)) n += count_temporaries(p);
        free(p);
    }
    closedir(dd);
    return n;
}

/* Snapshot of every file of the source, to prove it is never modified. */
typedef struct snap { char *names[16]; char *data[16]; size_t len[16]; int n; } snap;

static void snap_take(snap *s, const char *d)
{
    memset(s, 0, sizeof *s);
    DIR *dd = opendir(d);
    ck_assert_ptr_nonnull(dd);
    struct dirent *e;
    while ((e = readdir(dd)) != NULL) {
        char *p = tu_join(d, e->d_name);
        struct stat st;
        if (stat(p, &st) == 0 && S_ISREG(st.st_mode) && s->n < 16) {
            s->names[s->n] = p;
            s->data[s->n] = tu_read_file(p, &s->len[s->n]);
            s->n++;
        } else {
            free(p);
        }
    }
    closedir(dd);
}

static void snap_check_and_free(snap *s)
{
    for (int i = 0; i < s->n; i++) {
        size_t len;
        char *now = tu_read_file(s->names[i], &len);
        ck_assert_msg(now && len == s->len[i] && memcmp(now, s->data[i], len) == 0, "%s changed", s->names[i]);
        free(now);
        free(s->names[i]);
        free(s->data[i]);
    }
}

static const char *const sharded_files[] = {
    "model-00001-of-00003.safetensors", "model-00002-of-00003.safetensors", "model-00003-of-00003.safetensors",
    "model.safetensors.index.json", "config.json", "tokenizer.json", "README.md",
};
#define N_SHARDED_FILES (sizeof sharded_files / sizeof *sharded_files)

/* Offset of tensor `name`'s bytes in safetensors file `path`. */
static size_t tensor_file_offset(const char *path, const char *name, size_t *nbytes)
{
    profs_model *m = NULL;
    ck_assert_profs_ok(profs_model_open(&m, path));
    const void *data;
    uint64_t nb;
    ck_assert_profs_ok(profs_model_tensor_data(m, name, &data, &nb));
    size_t len;
    char *bytes = tu_read_file(path, &len);
    /* the header length tells where data starts; find the tensor by comparing bytes */
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--) hl = (hl << 8) | (unsigned char)bytes[i];
    size_t off = SIZE_MAX;
    for (size_t o = 8 + hl; o + nb <= len; o++)
        if (memcmp(bytes + o, data, nb) == 0) { off = o; break; }
    free(bytes);
    profs_model_free(m);
    *nbytes = (size_t)nb;
    return off;
}

/* ---------------------------------------------------------------- unstaged saves */

START_TEST(unstaged_single_file_is_byte_identical)
{
    char *in = at(src, "w.safetensors"), *out = at(dir, "out.safetensors");
    ck_assert_int_eq(fx_small_f32(in, 3.0f, "pt"), 0);
    profs_model *m = NULL;
    ck_assert_profs_ok(profs_model_open(&m, in));
    ck_assert_profs_ok(profs_model_save(m, out, NULL, NULL));
    ck_assert(files_equal(in, out));
    ck_assert_int_eq(count_temporaries(dir), 0);
    profs_model_free(m);
    free(in);
    free(out);
}
END_TEST

START_TEST(unstaged_directory_is_byte_identical)
{
    ck_assert_int_eq(fx_sharded(src), 0);
    /* a subdirectory and a symlinked file (pointing inside the model) are copied too */
    char *sub = at(src, "original");
    ck_assert_int_eq(mkdir(sub, 0755), 0);
    ck_assert_int_eq(fx_text(sub, "params.json", "{\"dim\": 4}"), 0);
    char *blob = at(sub, "blob"), *link = at(src, "generation_config.json");
    ck_assert_int_eq(tu_write_file(blob, "{\"do_sample\": true}", 19), 0);
    ck_assert_int_eq(symlink(blob, link), 0);
    snap before;
    snap_take(&before, src);
    profs_model *m = NULL;
    ck_assert_profs_ok(profs_model_open(&m, src));
    char *out = at(dir, "out");
    ck_assert_profs_ok(profs_model_save(m, out, NULL, NULL));
    for (size_t i = 0; i < N_SHARDED_FILES; i++) {
        char *a = at(src, sharded_files[i]), *b = at(out, sharded_files[i]);
        ck_assert_msg(files_equal(a, b), "%s differs", sharded_files[i]);
        free(a);
        free(b);
    }
    char *gen = at(out, "generation_config.json"), *params = at(out, "original/params.json"),
         *sparams = at(src, "original/params.json");
    struct stat st;
    ck_assert_int_eq(lstat(gen, &st), 0);
    ck_assert(S_ISREG(st.st_mode));            /* the link's content, as a regular file */
    ck_assert(files_equal(gen, blob));
    ck_assert(files_equal(params, sparams));
    ck_assert_int_eq(count_temporaries(out), 0);
    snap_check_and_free(&before);
    /* the output opens as the same model */
    profs_model *o = NULL;
    ck_assert_profs_ok(profs_model_open(&o, out));
    ck_assert_uint_eq(profs_model_tensor_count(o), 5);
    /* saving again over an existing output directory replaces its files */
    ck_assert_profs_ok(profs_model_save(m, out, NULL, NULL));
    ck_assert_int_eq(count_temporaries(out), 0);
    profs_model_free(o);
    profs_model_free(m);
    free(gen); free(params); free(sparams); free(out); free(sub); free(blob); free(link);
}
END_TEST

/* The link policy: links inside the model and into the same Hugging Face cache
 * repository's blobs/ are followed; others are refused before anything is
 * written, naming the link and its target, unless allowed. Modes never widen. */
START_TEST(links_outside_the_model_are_refused_and_modes_kept)
{
    /* dir/hub/models--o--m/{blobs/cfg, snapshots/r1/}: the snapshot is the model */
    char *hub = at(dir, "hub"), *repo = at(hub, "models--o--m"), *blobs = at(repo, "blobs"),
         *snaps = at(repo, "snapshots"), *snap_dir = at(snaps, "r1");
    ck_assert_int_eq(mkdir(hub, 0755) | mkdir(repo, 0755) | mkdir(blobs, 0755) | mkdir(snaps, 0755) |
                     mkdir(snap_dir, 0755), 0);
    ck_assert_int_eq(fx_sharded(snap_dir), 0);
    char *cfg_blob = at(blobs, "cfg"), *cfg_link = at(snap_dir, "generation_config.json");
    ck_assert_int_eq(tu_write_file(cfg_blob, "{}", 2), 0);
    ck_assert_int_eq(symlink("../../blobs/cfg", cfg_link), 0);
    char *tok = at(snap_dir, "hf_token");
    ck_assert_int_eq(tu_write_file(tok, "secret", 6), 0);
    ck_assert_int_eq(chmod(tok, 0600), 0);
    profs_model *m = NULL;
    ck_assert_profs_ok(profs_model_open(&m, snap_dir));
    ck_assert_profs_ok(profs_model_check_save(m));
    char *out = at(dir, "out");
    ck_assert_profs_ok(profs_model_save(m, out, NULL, NULL));
    char *otok = at(out, "hf_token"), *ocfg = at(out, "generation_config.json");
    struct stat st;
    ck_assert_int_eq(stat(otok, &st), 0);
    ck_assert_uint_eq(st.st_mode & 0777, 0600);      /* not widened to 0644 */
    ck_assert_int_eq(lstat(ocfg, &st), 0);
    ck_assert(S_ISREG(st.st_mode));
    tu_rmtree(out);
    profs_model_free(m);

    /* a link out of the repository: refused, nothing created */
    char *secret = at(dir, "secret"), *slink = at(snap_dir, "secret");
    ck_assert_int_eq(tu_write_file(secret, "shadow", 6), 0);
    ck_assert_int_eq(chmod(secret, 0640), 0);
    ck_assert_int_eq(symlink(secret, slink), 0);
    ck_assert_profs_ok(profs_model_open(&m, snap_dir));
    char want[1024];
    snprintf(want, sizeof want, "%s: symbolic link to '", slink);
    ck_assert_profs_error(profs_model_check_save(m), PROFS_EUNSUPPORTED, want);
    ck_assert(tu_contains(profs_last_error(), "/secret', outside the model directory; refused"));
    ck_assert_profs_error(profs_model_save(m, out, NULL, NULL), PROFS_EUNSUPPORTED, want);
    ck_assert(!exists(out));
    /* allowed: copied with the target's mode */
    ck_assert_profs_ok(profs_model_set_follow_outside_links(m, 1));
    ck_assert_profs_ok(profs_model_check_save(m));
    ck_assert_profs_ok(profs_model_save(m, out, NULL, NULL));
    char *osec = at(out, "secret");
    ck_assert_int_eq(stat(osec, &st), 0);
    ck_assert_uint_eq(st.st_mode & 0777, 0640);
    ck_assert_profs_ok(profs_model_set_follow_outside_links(m, 0));
    ck_assert_profs_error(profs_model_check_save(m), PROFS_EUNSUPPORTED, want);
    ck_assert_profs_error(profs_model_set_follow_outside_links(NULL, 1), PROFS_EINVAL, "model is NULL");
    ck_assert_profs_error(profs_model_check_save(NULL), PROFS_EINVAL, "model is NULL");
    profs_model_free(m);
    free(hub); free(repo); free(blobs); free(snaps); free(snap_dir); free(cfg_blob); free(cfg_link); free(tok);
    free(out); free(otok); free(ocfg); free(secret); free(slink); free(osec);
}
END_TEST

/* ---------------------------------------------------------------- staged saves */

START_TEST(staged_bytes_only_differ_and_bf16_rounds_to_nearest_even)
{
    ck_assert_int_eq(fx_sharded(src), 0);
    snap before;
    snap_take(&before, src);
    profs_model *m = NULL;
    ck_assert_profs_ok(profs_model_open(&m, src));
    /* layers.0.w is BF16 [2,4]. Halfway cases: 1+2^-8 lies between 1.0 (0x3f80) and
     * 1+2^-7 (0x3f81): ties to even -> 0x3f80. 1+3*2^-8 lies between 0x3f81 and 0x3f82 -> 0x3f82.
     * 1+2^-8+2^-12 is above halfway -> 0x3f81. -2.0 exact -> 0xc000. */
    const float v[8] = { 1.00390625f, 1.01171875f, 1.00415039f, -2.0f, 0.0f, 3.0f, 0.5f, -0.5f };
    const uint16_t expect[8] = { 0x3f80, 0x3f82, 0x3f81, 0xc000, 0x0000, 0x4040, 0x3f00, 0xbf00 };
    /* the largest f32 rounds to Inf in BF16: refused */
    const float big[8] = { 0, 0, 0, 0, 0, 3.4028235e38f, 0, 0 };
    ck_assert_profs_error(profs_model_stage_f32(m, "layers.0.w", big, 8), PROFS_ENUMERIC,
                          "tensor 'layers.0.w': staged element 5 (3.40282e+38) overflows BF16");
    ck_assert_profs_ok(profs_model_stage_f32(m, "layers.0.w", v, 8));
    ck_assert_uint_eq(profs_model_staged_count(m), 1);
    char *out = at(dir, "out");
    ck_assert_profs_ok(profs_model_save(m, out, NULL, NULL));
    ck_assert_uint_eq(profs_model_staged_count(m), 1);   /* stays staged */
    snap_check_and_free(&before);
    /* untouched shards and other files: identical */
    for (size_t i = 1; i < N_SHARDED_FILES; i++) {
        char *a = at(src, sharded_files[i]), *b = at(out, sharded_files[i]);
        ck_assert_msg(files_equal(a, b), "%s differs", sharded_files[i]);
        free(a);
        free(b);
    }
    /* touched shard: identical outside the tensor's bytes */
    char *a = at(src, sharded_files[0]), *b = at(out, sharded_files[0]);
    size_t nb, off = tensor_file_offset(a, "layers.0.w", &nb);
    ck_assert_uint_eq(nb, 16);
    size_t la, lb;
    unsigned char *x = tu_read_file(a, &la), *y = tu_read_file(b, &lb);
    ck_assert_uint_eq(la, lb);
    ck_assert_int_eq(memcmp(x, y, off), 0);
    ck_assert_int_eq(memcmp(x + off + nb, y + off + nb, la - off - nb), 0);
    for (int i = 0; i < 8; i++) {
        uint16_t h = (uint16_t)(y[off + 2 * i] | (y[off + 2 * i + 1] << 8));
        ck_assert_msg(h == expect[i], "element %d: 0x%04x, expected 0x%04x", i, h, expect[i]);
    }
    free(x);
    free(y);
    free(a);
    free(b);
    /* unstage: the next save is byte-identical again */
    ck_assert_profs_ok(profs_model_unstage(m, "layers.0.w"));
    ck_assert_uint_eq(profs_model_staged_count(m), 0);
    char *out2 = at(dir, "out2");
    ck_assert_profs_ok(profs_model_save(m, out2, NULL, NULL));
    a = at(src, sharded_files[0]);
    b = at(out2, sharded_files[0]);
    ck_assert(files_equal(a, b));
    free(a); free(b); free(out2); free(out);
    profs_model_free(m);
}
END_TEST

START_TEST(staged_single_file_and_f16_f64)
{
    const char *names[] = { "h", "d", "keep" };
    int dt[] = { PROFS_DTYPE_F16, PROFS_DTYPE_F64, PROFS_DTYPE_F32 };
    size_t nd[] = { 1, 1, 1 };
    int64_t s3[] = { 3 };
    const int64_t *shapes[] = { s3, s3, s3 };
    uint16_t h[3] = { 0, 0, 0 };
    double d[3] = { 0, 0, 0 };
    float k[3] = { 1, 2, 3 };
    const void *data[] = { h, d, k };
    char *in = at(src, "m.safetensors"), *out = at(dir, "m2.safetensors");
    ck_assert_profs_ok(profs_safetensors_write(in, 3, names, dt, nd, shapes, data, 0, NULL, NULL));
    profs_model *m = NULL;
    ck_assert_profs_ok(profs_model_open(&m, in));
    /* F16: 1+2^-11 is halfway between 1.0 (0x3c00) and 1+2^-10 (0x3c01): ties to even -> 0x3c00;
     * 1+3*2^-11 -> 0x3c02; 70000 overflows -> +Inf? No: staged values must be finite and
     * representable results are rounded; 65504 is the largest finite F16 (0x7bff). */
    const float hv[3] = { 1.00048828125f, 1.00146484375f, 65504.0f };
    const float dv[3] = { 0.1f, -1e30f, 7.0f };
    /* values that round to Inf in F16 are refused; 65519 still rounds to 65504 */
    const float over[3] = { 1.0f, 65519.0f, -65520.0f };
    ck_assert_profs_error(profs_model_stage_f32(m, "h", over, 3), PROFS_ENUMERIC,
                          "m.safetensors: tensor 'h': staged element 2 (-65520) overflows F16");
    ck_assert_uint_eq(profs_model_staged_count(m), 0);
    ck_assert_profs_ok(profs_model_stage_f32(m, "h", hv, 3));
    ck_assert_profs_ok(profs_model_stage_f32(m, "d", dv, 3));
    ck_assert_profs_ok(profs_model_save(m, out, NULL, NULL));
    profs_model *o = NULL;
    ck_assert_profs_ok(profs_model_open(&o, out));
    const void *raw;
    uint64_t nb;
    ck_assert_profs_ok(profs_model_tensor_data(o, "h", &raw, &nb));
    const unsigned char *r = raw;
    ck_assert_uint_eq((unsigned)(r[0] | r[1] << 8), 0x3c00);
    ck_assert_uint_eq((unsigned)(r[2] | r[3] << 8), 0x3c02);
    ck_assert_uint_eq((unsigned)(r[4] | r[5] << 8), 0x7bff);
    float back[3];
    ck_assert_profs_ok(profs_model_read_f32(o, "d", back, 3));
    ck_assert_float_eq(back[0], 0.1f);
    ck_assert_float_eq(back[1], -1e30f);
    ck_assert_profs_ok(profs_model_read_f32(o, "keep", back, 3));
    ck_assert_float_eq(back[2], 3.0f);
    /* only the staged tensors' bytes differ */
    size_t la, lb;
    unsigned char *x = tu_read_file(in, &la), *y = tu_read_file(out, &lb);
    ck_assert_uint_eq(la, lb);
    size_t diff_lo = SIZE_MAX, diff_hi = 0;
    for (size_t i = 0; i < la; i++)
        if (x[i] != y[i]) { if (i < diff_lo) diff_lo = i; diff_hi = i; }
    size_t nh, offh = tensor_file_offset(out, "h", &nh), ndd, offd = tensor_file_offset(out, "d", &ndd);
    size_t lo = offh < offd ? offh : offd, hi = (offh + nh > offd + ndd ? offh + nh : offd + ndd);
    ck_assert_uint_ge(diff_lo, lo);
    ck_assert_uint_lt(diff_hi, hi);
    free(x); free(y);
    profs_model_free(o);
    profs_model_free(m);
    free(in); free(out);
}
END_TEST

static int scale_by_two(void *ud, const char *name, float *data, size_t ndim, const int64_t *shape)
{
    int *calls = ud;
    (*calls)++;
    if (strcmp(name, "layers.1.w") != 0 || ndim != 2 || shape[0] != 2 || shape[1] != 4) return PROFS_EINVAL;
    for (int i = 0; i < 8; i++) data[i] *= 2.0f;
    return 0;
}

static int add_one(void *ud, const char *name, float *data, size_t ndim, const int64_t *shape)
{
    (void)ud; (void)name; (void)shape;
    if (ndim == 0) data[0] += 1.0f;
    else for (int64_t i = 0; i < shape[0]; i++) data[i] += 1.0f;
    return 0;
}

START_TEST(transforms_run_during_save)
{
    ck_assert_int_eq(fx_sharded(src), 0);
    profs_model *m = NULL;
    ck_assert_profs_ok(profs_model_open(&m, src));
    int calls = 0;
    ck_assert_profs_ok(profs_model_stage_transform(m, "layers.1.w", scale_by_two, &calls));
    ck_assert_profs_ok(profs_model_stage_transform(m, "norm", add_one, NULL));
    ck_assert_profs_ok(profs_model_stage_transform(m, "scalar", add_one, NULL));
    ck_assert_uint_eq(profs_model_staged_count(m), 3);
    ck_assert_int_eq(calls, 0);   /* deferred */
    char *out = at(dir, "out");
    ck_assert_profs_ok(profs_model_save(m, out, NULL, NULL));
    ck_assert_int_eq(calls, 1);
    profs_model *o = NULL;
    ck_assert_profs_ok(profs_model_open(&o, out));
    float w[8], n[4], s;
    ck_assert_profs_ok(profs_model_read_f32(o, "layers.1.w", w, 8));
    for (int i = 0; i < 8; i++) ck_assert_float_eq(w[i], -(float)i * 0.5f);
    ck_assert_profs_ok(profs_model_read_f32(o, "norm", n, 4));
    for (int i = 0; i < 4; i++) ck_assert_float_eq(n[i], (float)i + 2.0f);
    ck_assert_profs_ok(profs_model_read_f32(o, "scalar", &s, 1));
    ck_assert_float_eq(s, 8.0f);
    /* the source still holds the old values */
    ck_assert_profs_ok(profs_model_read_f32(m, "scalar", &s, 1));
    ck_assert_float_eq(s, 7.0f);
    /* staging again replaces the earlier staging */
    float z[4] = { 0, 0, 0, 0 };
    ck_assert_profs_ok(profs_model_stage_f32(m, "norm", z, 4));
    ck_assert_uint_eq(profs_model_staged_count(m), 3);
    profs_model_free(o);
    profs_model_free(m);
    free(out);
}
END_TEST

static int failing_transform(void *ud, const char *name, float *data, size_t ndim, const int64_t *shape)
{
    (void)ud; (void)data; (void)ndim; (void)shape;
    /* a transform reports its own message through its return code */
    return name[0] == 'n' ? PROFS_ESHAPE : 0;
}

static int nan_transform(void *ud, const char *name, float *data, size_t ndim, const int64_t *shape)
{
    (void)ud; (void)name; (void)ndim; (void)shape;
    data[1] = NAN;
    return 0;
}

static int times_1e5(void *ud, const char *name, float *data, size_t ndim, const int64_t *shape)
{
    (void)ud; (void)name;
    int64_t n = 1;
    for (size_t i = 0; i < ndim; i++) n *= shape[i];
    for (int64_t i = 0; i < n; i++) data[i] *= 1e5f;
    return 0;
}

START_TEST(failing_transform_aborts_and_cleans_up)
{
    ck_assert_int_eq(fx_sharded(src), 0);
    profs_model *m = NULL;
    ck_assert_profs_ok(profs_model_open(&m, src));
    ck_assert_profs_ok(profs_model_stage_transform(m, "norm", failing_transform, NULL));
    char *out = at(dir, "out");
    ck_assert_int_eq(profs_model_save(m, out, NULL, NULL), PROFS_ESHAPE);
    ck_assert(!exists(out));   /* created by the save, removed with its temporaries */
    ck_assert_profs_ok(profs_model_stage_transform(m, "norm", nan_transform, NULL));
    ck_assert_profs_error(profs_model_save(m, out, NULL, NULL), PROFS_ENUMERIC,
                          "transform of tensor 'norm' produced NaN at element 1");
    ck_assert(!exists(out));
    /* layers.1.w is F16 holding -i*0.25: element 1 times 1e5 is -25000 (fine), element 3 is -75000 */
    ck_assert_profs_ok(profs_model_unstage(m, "norm"));
    ck_assert_profs_ok(profs_model_stage_transform(m, "layers.1.w", times_1e5, NULL));
    ck_assert_profs_error(profs_model_save(m, out, NULL, NULL), PROFS_ENUMERIC,
                          "model-00002-of-00003.safetensors: transform of tensor 'layers.1.w' produced -75000 at "
                          "element 3, which overflows F16");
    ck_assert(!exists(out));
    ck_assert_int_eq(count_temporaries(dir), 0);
    profs_model_free(m);
    free(out);
}
END_TEST

START_TEST(staging_errors)
{
    const char *names[] = { "f", "i" };
    int dt[] = { PROFS_DTYPE_F32, PROFS_DTYPE_I32 };
    size_t nd[] = { 1, 1 };
    int64_t s2[] = { 2 };
    const int64_t *shapes[] = { s2, s2 };
    int32_t iv[2] = { 1, 2 };
    float fv[2] = { 1, 2 };
    const void *data[] = { fv, iv };
    char *in = at(src, "m.safetensors");
    ck_assert_profs_ok(profs_safetensors_write(in, 2, names, dt, nd, shapes, data, 0, NULL, NULL));
    profs_model *m = NULL;
    ck_assert_profs_ok(profs_model_open(&m, in));
    float bad[3] = { 1, NAN, 3 };
    ck_assert_profs_error(profs_model_stage_f32(m, "f", fv, 3), PROFS_ESHAPE, "tensor 'f' has 2 elements");
    ck_assert_profs_error(profs_model_stage_f32(m, "g", fv, 2), PROFS_ENOTFOUND, "no tensor 'g'");
    ck_assert_profs_error(profs_model_stage_f32(m, "f", bad, 2), PROFS_ENUMERIC, "staged element 1 is NaN");
    ck_assert_profs_error(profs_model_stage_f32(m, "i", fv, 2), PROFS_EUNSUPPORTED, "cannot stage a I32 tensor");
    ck_assert_profs_error(profs_model_stage_transform(m, "i", add_one, NULL), PROFS_EUNSUPPORTED, "'i'");
    ck_assert_profs_error(profs_model_stage_transform(m, "f", NULL, NULL), PROFS_EINVAL, "NULL function");
    ck_assert_profs_error(profs_model_unstage(m, "f"), PROFS_ENOTFOUND, "nothing is staged for tensor 'f'");
    ck_assert_uint_eq(profs_model_staged_count(m), 0);
    profs_model_free(m);
    free(in);
}
END_TEST

/* ---------------------------------------------------------------- refusals and failures */

START_TEST(refuses_to_save_onto_source)
{
    ck_assert_int_eq(fx_sharded(src), 0);
    snap before;
    snap_take(&before, src);
    profs_model *m = NULL;
    ck_assert_profs_ok(profs_model_open(&m, src));
    float z[4] = { 0, 0, 0, 0 };
    ck_assert_profs_ok(profs_model_stage_f32(m, "norm", z, 4));
    ck_assert_profs_error(profs_model_save(m, src, NULL, NULL), PROFS_EEXIST, "source directory itself");
    char *dot = at(src, ".");   /* another spelling of the same directory */
    ck_assert_profs_error(profs_model_save(m, dot, NULL, NULL), PROFS_EEXIST, "source directory itself");
    profs_model_free(m);
    snap_check_and_free(&before);
    ck_assert_int_eq(count_temporaries(src), 0);
    /* single file, also through a symlink */
    char *in = at(dir, "one.safetensors"), *ln = at(dir, "link.safetensors");
    ck_assert_int_eq(fx_small_f32(in, 1.0f, NULL), 0);
    ck_assert_int_eq(symlink(in, ln), 0);
    ck_assert_profs_ok(profs_model_open(&m, in));
    ck_assert_profs_error(profs_model_save(m, in, NULL, NULL), PROFS_EEXIST, "source file itself");
    ck_assert_profs_error(profs_model_save(m, ln, NULL, NULL), PROFS_EEXIST, "source file itself");
    profs_model_free(m);
    free(dot); free(in); free(ln);
}
END_TEST

START_TEST(unwritable_destination_leaves_nothing)
{
    ck_assert_int_eq(fx_sharded(src), 0);
    profs_model *m = NULL;
    ck_assert_profs_ok(profs_model_open(&m, src));
    /* a path through a regular file can never be created */
    char *file = at(dir, "plainfile");
    ck_assert_int_eq(tu_write_file(file, "x", 1), 0);
    char *out = at(file, "out");
    ck_assert_profs_error(profs_model_save(m, out, NULL, NULL), PROFS_EIO, "plainfile/out: cannot create directory");
    /* a destination that is a file */
    ck_assert_profs_error(profs_model_save(m, file, NULL, NULL), PROFS_EIO, "exists and is not a directory");
    if (geteuid() != 0) {   /* permissions do not stop root */
        char *ro = at(dir, "ro");
        ck_assert_int_eq(mkdir(ro, 0555), 0);
        char *out2 = at(ro, "out");
        ck_assert_profs_error(profs_model_save(m, out2, NULL, NULL), PROFS_EIO, "cannot create directory");
        ck_assert_profs_error(profs_model_save(m, ro, NULL, NULL), PROFS_EIO, "cannot create temporary file");
        ck_assert_int_eq(count_temporaries(ro), 0);
        chmod(ro, 0755);
        free(out2);
        free(ro);
    }
    profs_model_free(m);
    free(out);
    free(file);
}
END_TEST

/* In a child limited to `limit`-byte files (SIGXFSZ ignored, so write() fails with EFBIG),
 * save `model` to `out`; the child exits 0 when the save failed with PROFS_EIO and a
 * message naming the OS error, 1 otherwise. */
static int save_in_limited_child(const char *model, const char *out, rlim_t limit)
{
    pid_t pid = fork();
    if (pid == 0) {
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit rl = { limit, limit };
        if (setrlimit(RLIMIT_FSIZE, &rl) != 0) _exit(2);
        profs_model *m = NULL;
        if (profs_model_open(&m, model) != 0) _exit(3);
        int rc = profs_model_save(m, out, NULL, NULL);
        int ok = rc == PROFS_EIO && strstr(profs_last_error(), "File too large") != NULL;
        profs_model_free(m);
        _exit(ok ? 0 : 1);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 100 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

START_TEST(write_error_leaves_no_complete_output)
{
    ck_assert_int_eq(fx_sharded(src), 0);
    /* a 64 KiB non-weight file: small files fit the limit, this one does not */
    char *big = at(src, "tokenizer.model");
    char *junk = calloc(1, 65536);
    ck_assert_int_eq(tu_write_file(big, junk, 65536), 0);
    free(junk);
    free(big);
    char *out = at(dir, "out");
    ck_assert_int_eq(save_in_limited_child(src, out, 4096), 0);
    ck_assert(!exists(out));
    ck_assert_int_eq(count_temporaries(dir), 0);
    /* into an existing directory holding an older output: the old files stay as they were */
    ck_assert_int_eq(mkdir(out, 0755), 0);
    ck_assert_int_eq(fx_text(out, "config.json", "{\"old\": true}"), 0);
    ck_assert_int_eq(save_in_limited_child(src, out, 4096), 0);
    char *cfg = at(out, "config.json"), *idx = at(out, "model.safetensors.index.json");
    size_t len;
    char *text = tu_read_file(cfg, &len);
    ck_assert_str_eq(text, "{\"old\": true}");
    ck_assert(!exists(idx));
    ck_assert_int_eq(count_temporaries(dir), 0);
    /* a single-file save failing in its tensor data */
    char *one = at(dir, "one.safetensors"), *oneout = at(dir, "one-out.safetensors");
    float v[2048] = { 0 };
    const char *names[] = { "v" };
    int dt[] = { PROFS_DTYPE_F32 };
    size_t nd[] = { 1 };
    int64_t s[] = { 2048 };
    const int64_t *shapes[] = { s };
    const void *data[] = { v };
    ck_assert_profs_ok(profs_safetensors_write(one, 1, names, dt, nd, shapes, data, 0, NULL, NULL));
    ck_assert_int_eq(save_in_limited_child(one, oneout, 1024), 0);
    ck_assert(!exists(oneout));
    ck_assert_int_eq(count_temporaries(dir), 0);
    free(text); free(cfg); free(idx); free(out); free(one); free(oneout);
}
END_TEST

static int count_progress(void *ud, const char *stage, uint64_t done, uint64_t total)
{
    (*(int *)ud)++;
    return 0;
}

/* SIGKILL the process at the progress call number *ud (1-based). */
static int kill_at_call(void *ud, const char *stage, uint64_t done, uint64_t total)
{
    if (--*(int *)ud == 0) raise(SIGKILL);
    return 0;
}

/* Every entry of `out` that has a final name (not a ".tmp-" temporary) is byte-identical to
 * the same file of the complete save `ref`; and the index is there only with all its shards. */
static void check_partial_output(const char *out, const char *ref, int k)
{
    DIR *dd = opendir(out);
    if (!dd) return;   /* the directory itself is created only with the output */
    struct dirent *e;
    while ((e = readdir(dd)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") || strstr(e->d_name, ".tmp-")) continue;
        char *a = at(out, e->d_name), *b = at(ref, e->d_name);
        ck_assert_msg(files_equal(a, b), "killed at progress call %d: %s is under its final name but differs "
                      "from the complete output", k, e->d_name);
        free(a);
        free(b);
    }
    closedir(dd);
    char *idx = at(out, "model.safetensors.index.json");
    if (exists(idx)) {
        for (size_t i = 0; i < 3; i++) {
            char *shard = at(out, sharded_files[i]);
            ck_assert_msg(exists(shard), "killed at progress call %d: the index is there without %s", k,
                          sharded_files[i]);
            free(shard);
        }
    }
    free(idx);
}

START_TEST(killed_save_leaves_nothing_complete_looking)
{
    ck_assert_int_eq(fx_sharded(src), 0);
    profs_model *m = NULL;
    ck_assert_profs_ok(profs_model_open(&m, src));
    const float v[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
    ck_assert_profs_ok(profs_model_stage_f32(m, "layers.1.w", v, 8));
    char *ref = at(dir, "ref");
    int calls = 0;
    ck_assert_profs_ok(profs_model_save(m, ref, count_progress, &calls));
    ck_assert_int_ge(calls, 4);
    int killed = 0;
    for (int k = 1; k <= calls; k++) {
        char name[32];
        snprintf(name, sizeof name, "out-%d", k);
        char *out = at(dir, name);
        pid_t pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
            int left = k;
            int rc = profs_model_save(m, out, kill_at_call, &left);
            _exit(rc == PROFS_OK ? 0 : 1);
        }
        int status = 0;
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "save not killed at call %d", k);
        killed++;
        check_partial_output(out, ref, k);
        free(out);
    }
    ck_assert_int_eq(killed, calls);   /* every progress call is a point where a kill can land */
    profs_model_free(m);
    free(ref);
}
END_TEST

typedef struct progress_log { int calls, cancel_at; uint64_t last_done, total; int monotone; } progress_log;

static int on_progress(void *ud, const char *stage, uint64_t done, uint64_t total)
{
    progress_log *p = ud;
    p->calls++;
    if (strcmp(stage, "save") != 0 || done < p->last_done || done > total) p->monotone = 0;
    p->last_done = done;
    p->total = total;
    return p->cancel_at && p->calls >= p->cancel_at;
}

START_TEST(progress_and_cancellation)
{
    ck_assert_int_eq(fx_sharded(src), 0);
    profs_model *m = NULL;
    ck_assert_profs_ok(profs_model_open(&m, src));
    float z[4] = { 0, 0, 0, 0 };
    ck_assert_profs_ok(profs_model_stage_f32(m, "norm", z, 4));
    uint64_t expected_total = 0;
    for (size_t i = 0; i < N_SHARDED_FILES; i++) {
        char *p = at(src, sharded_files[i]);
        struct stat st;
        ck_assert_int_eq(stat(p, &st), 0);
        expected_total += (uint64_t)st.st_size;
        free(p);
    }
    char *out = at(dir, "out");
    progress_log log = { .monotone = 1 };
    ck_assert_profs_ok(profs_model_save(m, out, on_progress, &log));
    ck_assert_int_gt(log.calls, 1);
    ck_assert(log.monotone);
    ck_assert_uint_eq(log.total, expected_total);
    ck_assert_uint_eq(log.last_done, expected_total);
    tu_rmtree(out);
    /* cancel at every possible point: nothing is left behind */
    int calls = log.calls;
    for (int k = 1; k <= calls; k++) {
        progress_log c = { .monotone = 1, .cancel_at = k };
        ck_assert_profs_error(profs_model_save(m, out, on_progress, &c), PROFS_ECANCELLED, "cancelled");
        ck_assert_int_eq(c.calls, k);
        ck_assert(!exists(out));
        ck_assert_int_eq(count_temporaries(dir), 0);
    }
    profs_model_free(m);
    free(out);
}
END_TEST

START_TEST(output_inside_source_and_special_files)
{
    ck_assert_int_eq(fx_sharded(src), 0);
    profs_model *m = NULL;
    ck_assert_profs_ok(profs_model_open(&m, src));
    /* an output directory inside the source is not copied into itself */
    char *inner = at(src, "edited");
    ck_assert_profs_ok(profs_model_save(m, inner, NULL, NULL));
    char *nested = at(inner, "edited");
    ck_assert(!exists(nested));
    char *a = at(src, "config.json"), *b = at(inner, "config.json");
    ck_assert(files_equal(a, b));
    ck_assert_profs_ok(profs_model_save(m, inner, NULL, NULL));   /* again, over itself */
    ck_assert(!exists(nested));
    /* a FIFO in the source is neither skipped nor copied: the save fails and leaves nothing */
    char *fifo = at(src, "pipe"), *out = at(dir, "out");
    ck_assert_int_eq(mkfifo(fifo, 0644), 0);
    ck_assert_profs_error(profs_model_save(m, out, NULL, NULL), PROFS_EUNSUPPORTED,
                          "pipe: is a FIFO (named pipe), not a regular file or directory");
    ck_assert(!exists(out));
    /* and opening a FIFO as a model fails at once instead of blocking */
    profs_model *f = NULL;
    ck_assert_profs_error(profs_model_open(&f, fifo), PROFS_EIO, "pipe: is a FIFO (named pipe), not a regular file");
    profs_model_free(m);
    free(inner); free(nested); free(a); free(b); free(fifo); free(out);
}
END_TEST

static Suite *save_suite(void)
{
    Suite *s = suite_create("model_save");
    TCase *tc = tcase_create("save");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, unstaged_single_file_is_byte_identical);
    tcase_add_test(tc, unstaged_directory_is_byte_identical);
    tcase_add_test(tc, staged_bytes_only_differ_and_bf16_rounds_to_nearest_even);
    tcase_add_test(tc, staged_single_file_and_f16_f64);
    tcase_add_test(tc, transforms_run_during_save);
    tcase_add_test(tc, failing_transform_aborts_and_cleans_up);
    tcase_add_test(tc, staging_errors);
    tcase_add_test(tc, refuses_to_save_onto_source);
    tcase_add_test(tc, unwritable_destination_leaves_nothing);
    tcase_add_test(tc, write_error_leaves_no_complete_output);
    tcase_add_test(tc, killed_save_leaves_nothing_complete_looking);
    tcase_add_test(tc, progress_and_cancellation);
    tcase_add_test(tc, output_inside_source_and_special_files);
    tcase_add_test(tc, links_outside_the_model_are_refused_and_modes_kept);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return tu_run_suite(save_suite()); }
