/* Edits: save/load round trip and rejection rules; applying to tiny checkpoints of every
 * architecture (names, layouts, prefixes, one sharded) -> save -> reopen: only targeted
 * tensors change and they equal the dense reference projection; error paths. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/dtype.h"
#include "profs/profs.h"
#include "testutil.h"
#include "tu_rand.h"

enum { L = 3, D = 16, F = 24, NP = 40 };

/* ---------- fixtures ---------- */

typedef struct {
    const char *arch;          /* expected report architecture */
    const char *config;        /* config.json text (NULL: none) */
    const char *prefix;
    const char *value;         /* pattern after prefix */
    int value_d_first;         /* value matrix is [D, F] */
    const char *keys[2];
    int key_d_first;
    int dtype;
    int sharded;
} arch_case;

static const arch_case cases[] = {
    {"gpt2", "{\"model_type\": \"gpt2\", \"n_layer\": 3, \"n_embd\": 16}", "transformer.", "h.%d.mlp.c_proj.weight", 0,
     {"h.%d.mlp.c_fc.weight", NULL}, 1, PROFS_DTYPE_F32, 0},
    {"gpt2", "{\"architectures\": [\"GPT2LMHeadModel\"], \"n_layer\": 3, \"n_embd\": 16}", "", "h.%d.mlp.c_proj.weight", 0,
     {"h.%d.mlp.c_fc.weight", NULL}, 1, PROFS_DTYPE_F16, 0},
    {"mistral", "{\"model_type\": \"mistral\", \"num_hidden_layers\": 3, \"hidden_size\": 16}", "model.",
     "layers.%d.mlp.down_proj.weight", 1, {"layers.%d.mlp.up_proj.weight", "layers.%d.mlp.gate_proj.weight"}, 0,
     PROFS_DTYPE_BF16, 1},
    {"llama", "{\"model_type\": \"llama\", \"num_hidden_layers\": 3, \"hidden_size\": 16}", "model.",
     "layers.%d.mlp.down_proj.weight", 1, {"layers.%d.mlp.up_proj.weight", "layers.%d.mlp.gate_proj.weight"}, 0,
     PROFS_DTYPE_F32, 0},
    {"qwen2", "{\"model_type\": \"qwen2\", \"num_hidden_layers\": 3, \"hidden_size\": 16}", "model.",
     "layers.%d.mlp.down_proj.weight", 1, {"layers.%d.mlp.up_proj.weight", "layers.%d.mlp.gate_proj.weight"}, 0,
     PROFS_DTYPE_BF16, 0},
    {"opt", "{\"model_type\": \"opt\", \"num_hidden_layers\": 3, \"hidden_size\": 16, \"word_embed_proj_dim\": 8}",
     "model.decoder.", "layers.%d.fc2.weight", 1, {"layers.%d.fc1.weight", NULL}, 0, PROFS_DTYPE_F16, 0},
    {"opt", NULL, "decoder.", "layers.%d.fc2.weight", 1, {"layers.%d.fc1.weight", NULL}, 0, PROFS_DTYPE_F32, 0},
    {"gptj", "{\"model_type\": \"gptj\", \"n_layer\": 3, \"n_embd\": 16}", "transformer.", "h.%d.mlp.fc_out.weight", 1,
     {"h.%d.mlp.fc_in.weight", NULL}, 0, PROFS_DTYPE_BF16, 0},
};

static char *fmt_name(const char *prefix, const char *pattern, int layer)
{
    char tail[128], *out = malloc(256);
    snprintf(tail, sizeof tail, pattern, layer);
    snprintf(out, 256, "%s%s", prefix, tail);
    return out;
}

typedef struct {
    int n;
    char *names[16];
    int64_t shapes[16][2];
    size_t ndims[16];
    void *data[16];
    int dtypes[16];
} tensor_set;

static void ts_add(tensor_set *t, char *name, int dtype, int64_t r, int64_t c, tu_rng *rng)
{
    int i = t->n++;
    t->names[i] = name;
    t->dtypes[i] = dtype;
    t->shapes[i][0] = r;
    t->shapes[i][1] = c;
    t->ndims[i] = c ? 2 : 1;
    size_t n = (size_t)r * (size_t)(c ? c : 1);
    float *f = malloc(n * sizeof *f);
    for (size_t j = 0; j < n; j++) f[j] = (float)tu_normal(rng);
    t->data[i] = malloc(n * profs_dtype_size(dtype));
    pf_convert_from_f32(t->data[i], f, dtype, n);
    free(f);
}

static void ts_free(tensor_set *t)
{
    for (int i = 0; i < t->n; i++) { free(t->names[i]); free(t->data[i]); }
}

static int write_set(const char *path, tensor_set *t, int from, int to)
{
    const char *names[16];
    const int64_t *shapes[16];
    const void *data[16];
    for (int i = from; i < to; i++) { names[i - from] = t->names[i]; shapes[i - from] = t->shapes[i]; data[i - from] = t->data[i]; }
    return profs_safetensors_write(path, (size_t)(to - from), names, t->dtypes + from, t->ndims + from, shapes, data, 0,
                                   NULL, NULL);
}

static void write_text(const char *dir, const char *name, const char *text)
{
    char *p = tu_join(dir, name);
    ck_assert_int_eq(tu_write_file(p, text, strlen(text)), 0);
    free(p);
}

/* A tiny checkpoint directory for case c: every layer's value and key matrices, plus
 * a norm vector that no edit touches. */
static char *make_checkpoint(const arch_case *c, const char *tag, unsigned seed, tensor_set *t)
{
    tu_rng rng = {seed};
    memset(t, 0, sizeof *t);
    for (int l = 0; l < L; l++) {
        ts_add(t, fmt_name(c->prefix, c->value, l), c->dtype, c->value_d_first ? D : F, c->value_d_first ? F : D, &rng);
        for (int k = 0; k < 2 && c->keys[k]; k++)
            ts_add(t, fmt_name(c->prefix, c->keys[k], l), c->dtype, c->key_d_first ? D : F, c->key_d_first ? F : D, &rng);
    }
    ts_add(t, fmt_name(c->prefix, "final_norm%d.weight", 0), PROFS_DTYPE_F32, D, 0, &rng);
    char *dir = tu_tmpdir(tag);
    if (c->sharded) {
        int half = t->n / 2;
        char *p1 = tu_join(dir, "model-00001-of-00002.safetensors"), *p2 = tu_join(dir, "model-00002-of-00002.safetensors");
        ck_assert_profs_ok(write_set(p1, t, 0, half));
        ck_assert_profs_ok(write_set(p2, t, half, t->n));
        free(p1); free(p2);
        char idx[8192];
        int off = snprintf(idx, sizeof idx, "{\"metadata\": {}, \"weight_map\": {");
        for (int i = 0; i < t->n; i++)
            off += snprintf(idx + off, sizeof idx - (size_t)off, "%s\"%s\": \"model-0000%d-of-00002.safetensors\"", i ? ", " : "",
                            t->names[i], i < half ? 1 : 2);
        snprintf(idx + off, sizeof idx - (size_t)off, "}}");
        write_text(dir, "model.safetensors.index.json", idx);
    } else {
        char *p = tu_join(dir, "model.safetensors");
        ck_assert_profs_ok(write_set(p, t, 0, t->n));
        free(p);
    }
    if (c->config) write_text(dir, "config.json", c->config);
    return dir;
}

/* Synthetic pooled embeddings: each layer has a planted rank-2 difference. */
static profs_collector *synthetic_collector(unsigned seed)
{
    tu_rng rng = {seed};
    double q[L][2 * D];
    for (int l = 0; l < L; l++) tu_orthonormal_rows(q[l], 2, D, &rng);
    profs_collector *c;
    ck_assert_profs_ok(profs_collector_new(&c, L, D));
    float xp[L * D], xm[L * D];
    for (int p = 0; p < NP; p++) {
        for (int l = 0; l < L; l++) {
            double z0 = 5 * tu_normal(&rng), z1 = 4 * tu_normal(&rng);
            for (int d = 0; d < D; d++) {
                xp[l * D + d] = (float)(2.0 + tu_normal(&rng));
                xm[l * D + d] = (float)(xp[l * D + d] + z0 * q[l][d] + z1 * q[l][D + d] + 0.05 * tu_normal(&rng));
            }
        }
        ck_assert_profs_ok(profs_collector_add_pair(c, xp, xm));
    }
    return c;
}

static profs_edit *make_edit(size_t rank)
{
    profs_collector *c = synthetic_collector(77);
    profs_estimator *est;
    ck_assert_profs_ok(profs_estimator_new(&est));
    ck_assert_profs_ok(profs_estimator_set_rank_rule(est, PROFS_RANK_FIXED, rank));
    size_t layers[2] = {1, 2};
    profs_edit *e;
    ck_assert_profs_ok(profs_edit_estimate(&e, est, c, layers, 2, NULL, NULL));
    profs_estimator_free(est);
    profs_collector_free(c);
    return e;
}

/* ---------- end to end ---------- */

/* Dense reference of one targeted tensor (values f: (rows, cols)) in double. */
static void reference_projection(double *out, const float *f, size_t rows, size_t cols, int d_first, const float *v,
                                 size_t k)
{
    for (size_t i = 0; i < rows * cols; i++) out[i] = f[i];
    if (d_first) {
        for (size_t j = 0; j < cols; j++)
            for (size_t r = 0; r < k; r++) {
                double dot = 0;
                for (size_t x = 0; x < rows; x++) dot += (double)v[r * D + x] * f[x * cols + j];
                for (size_t x = 0; x < rows; x++) out[x * cols + j] -= dot * v[r * D + x];
            }
    } else {
        for (size_t i = 0; i < rows; i++)
            for (size_t r = 0; r < k; r++) {
                double dot = 0;
                for (size_t x = 0; x < cols; x++) dot += (double)v[r * D + x] * f[i * cols + x];
                for (size_t x = 0; x < cols; x++) out[i * cols + x] -= dot * v[r * D + x];
            }
    }
}

static void run_case(const arch_case *c, int targets, const profs_edit *e, int idx)
{
    tensor_set t;
    char tag[32];
    snprintf(tag, sizeof tag, "edit_case%d_%d", idx, targets);
    char *dir = make_checkpoint(c, tag, 100u + (unsigned)idx, &t);
    profs_model *m;
    ck_assert_profs_ok(profs_model_open(&m, dir));
    profs_edit_report *rep;
    ck_assert_profs_ok(profs_edit_apply(&rep, e, m, targets));
    ck_assert_str_eq(profs_edit_report_architecture(rep), c->arch);
    size_t n_keys = c->keys[1] ? 2 : 1;
    size_t per_layer = ((targets & 1) ? 1 : 0) + ((targets & 2) ? n_keys : 0);
    ck_assert_uint_eq(profs_edit_report_count(rep), 2 * per_layer);
    ck_assert_uint_eq(profs_model_staged_count(m), 2 * per_layer);
    for (size_t i = 0; i < profs_edit_report_count(rep); i++) {
        ck_assert(!profs_edit_report_applied(rep, i));
        ck_assert(isnan(profs_edit_report_delta_norm(rep, i)));
    }
    char *out = tu_join(dir, "edited");
    ck_assert_profs_ok(profs_model_save(m, out, NULL, NULL));
    profs_model *o;
    ck_assert_profs_ok(profs_model_open(&o, out));
    ck_assert_uint_eq(profs_model_tensor_count(o), (size_t)t.n);
    size_t changed = 0;
    for (int i = 0; i < t.n; i++) {
        const char *name = t.names[i];
        size_t rep_i = SIZE_MAX;
        for (size_t j = 0; j < profs_edit_report_count(rep); j++)
            if (strcmp(profs_edit_report_name(rep, j), name) == 0) rep_i = j;
        const void *a, *b;
        uint64_t na, nb;
        ck_assert_profs_ok(profs_model_tensor_data(m, name, &a, &na));
        ck_assert_profs_ok(profs_model_tensor_data(o, name, &b, &nb));
        ck_assert_uint_eq(na, nb);
        if (rep_i == SIZE_MAX) {
            ck_assert_msg(memcmp(a, b, na) == 0, "untargeted tensor '%s' changed", name);
            continue;
        }
        changed++;
        size_t layer = profs_edit_report_layer(rep, rep_i);
        const profs_subspace *s = profs_edit_get(e, layer);
        ck_assert_uint_eq(profs_edit_report_rank(rep, rep_i), profs_subspace_rank(s));
        ck_assert(profs_edit_report_applied(rep, rep_i));
        int is_value = profs_edit_report_role(rep, rep_i) == PROFS_TARGET_VALUE;
        int d_first = is_value ? c->value_d_first : c->key_d_first;
        size_t rows = (size_t)t.shapes[i][0], cols = (size_t)t.shapes[i][1], n = rows * cols;
        float *orig = malloc(n * sizeof *orig), *got = malloc(n * sizeof *got);
        double *ref = malloc(n * sizeof *ref);
        ck_assert_profs_ok(profs_model_read_f32(m, name, orig, n));
        ck_assert_profs_ok(profs_model_read_f32(o, name, got, n));
        reference_projection(ref, orig, rows, cols, d_first, profs_subspace_basis(s), profs_subspace_rank(s));
        double ulp = c->dtype == PROFS_DTYPE_F32 ? 1e-6 : c->dtype == PROFS_DTYPE_F16 ? 1.0 / 2048 : 1.0 / 256;
        double dn = 0, wn = 0;
        size_t bad = SIZE_MAX;
        for (size_t j = 0; j < n; j++) {
            if (bad == SIZE_MAX && !(fabs(got[j] - ref[j]) <= ulp * fabs(ref[j]) + 1e-5)) bad = j;
            dn += (orig[j] - ref[j]) * (orig[j] - ref[j]);
            wn += (double)orig[j] * orig[j];
        }
        ck_assert_msg(bad == SIZE_MAX, "'%s'[%zu] = %.9g, reference %.9g", name, bad, bad == SIZE_MAX ? 0.0 : got[bad],
                      bad == SIZE_MAX ? 0.0 : ref[bad]);
        ck_assert_double_eq_tol(profs_edit_report_delta_norm(rep, rep_i), sqrt(dn), 1e-4 * sqrt(wn));
        ck_assert_double_eq_tol(profs_edit_report_weight_norm(rep, rep_i), sqrt(wn), 1e-4 * sqrt(wn));
        ck_assert(sqrt(dn) > 0.01);
        free(orig); free(got); free(ref);
    }
    ck_assert_uint_eq(changed, 2 * per_layer);
    profs_model_free(o);
    profs_model_free(m);
    profs_edit_report_free(rep);
    ts_free(&t);
    tu_rmtree(dir);
    free(out);
    free(dir);
}

START_TEST(applies_to_every_architecture)
{
    profs_edit *e = make_edit(2);
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) run_case(&cases[i], PROFS_TARGET_VALUE, e, (int)i);
    run_case(&cases[0], PROFS_TARGET_BOTH, e, 0);       /* gpt2 Conv1D key [D, F] */
    run_case(&cases[2], PROFS_TARGET_KEY, e, 2);        /* sharded mistral: up + gate */
    run_case(&cases[5], PROFS_TARGET_BOTH, e, 5);       /* opt fc1 + fc2 */
    profs_edit_free(e);
}
END_TEST

START_TEST(rank_zero_layers_are_reported_not_staged)
{
    profs_edit *e;
    ck_assert_profs_ok(profs_edit_new(&e, D));
    profs_subspace *zero;
    ck_assert_profs_ok(profs_subspace_from_basis(&zero, NULL, 0, D));
    ck_assert_profs_ok(profs_edit_add(e, 0, zero));
    profs_subspace_free(zero);
    tensor_set t;
    char *dir = make_checkpoint(&cases[3], "edit_rank0", 5, &t);
    profs_model *m;
    ck_assert_profs_ok(profs_model_open(&m, dir));
    profs_edit_report *rep;
    ck_assert_profs_ok(profs_edit_apply(&rep, e, m, PROFS_TARGET_VALUE));
    ck_assert_uint_eq(profs_edit_report_count(rep), 1);
    ck_assert_str_eq(profs_edit_report_name(rep, 0), "model.layers.0.mlp.down_proj.weight");
    ck_assert_uint_eq(profs_edit_report_rank(rep, 0), 0);
    ck_assert_double_eq(profs_edit_report_delta_norm(rep, 0), 0.0);
    ck_assert_uint_eq(profs_model_staged_count(m), 0);
    ck_assert_ptr_null(profs_edit_report_name(rep, 1));
    ck_assert_uint_eq(profs_edit_report_layer(rep, 1), SIZE_MAX);
    profs_edit_report_free(rep);
    profs_edit_report_free(NULL);
    profs_model_free(m);
    profs_edit_free(e);
    ts_free(&t);
    tu_rmtree(dir);
    free(dir);
}
END_TEST

START_TEST(apply_errors)
{
    profs_edit *e = make_edit(2);
    tensor_set t;
    profs_model *m;
    profs_edit_report *rep = NULL;

    /* a missing key matrix (gate_proj of layer 2 removed) */
    arch_case broken = cases[3];
    char *dir = make_checkpoint(&broken, "edit_err1", 9, &t);
    char *p = tu_join(dir, "model.safetensors");
    for (int i = 0; i < t.n; i++)
        if (strcmp(t.names[i], "model.layers.2.mlp.gate_proj.weight") == 0) {
            free(t.names[i]);
            t.names[i] = strdup("model.layers.2.mlp.gate.weight");
        }
    ck_assert_profs_ok(write_set(p, &t, 0, t.n));
    ck_assert_profs_ok(profs_model_open(&m, dir));
    ck_assert_profs_error(profs_edit_apply(&rep, e, m, PROFS_TARGET_KEY), PROFS_ENOTFOUND,
                          "layer 2: llama tensor 'model.layers.2.mlp.gate_proj.weight' is missing");
    ck_assert_ptr_null(rep);
    ck_assert_uint_eq(profs_model_staged_count(m), 0);
    ck_assert_profs_ok(profs_edit_apply(&rep, e, m, PROFS_TARGET_VALUE));   /* values are all there */
    profs_edit_report_free(rep);
    rep = NULL;
    ck_assert_profs_error(profs_edit_apply(&rep, e, m, 0), PROFS_EINVAL, "targets 0");
    ck_assert_profs_error(profs_edit_apply(&rep, e, m, 4), PROFS_EINVAL, "targets 4");
    ck_assert_profs_error(profs_edit_apply(NULL, e, m, 1), PROFS_EINVAL, "NULL");
    profs_model_free(m);
    /* an unexpected shape: layer 1's down_proj transposed */
    for (int i = 0; i < t.n; i++)
        if (strcmp(t.names[i], "model.layers.1.mlp.down_proj.weight") == 0) { t.shapes[i][0] = F; t.shapes[i][1] = D; }
    ck_assert_profs_ok(write_set(p, &t, 0, t.n));
    ck_assert_profs_ok(profs_model_open(&m, dir));
    ck_assert_profs_error(profs_edit_apply(&rep, e, m, PROFS_TARGET_VALUE), PROFS_ESHAPE,
                          "tensor 'model.layers.1.mlp.down_proj.weight' has shape [24, 16]; its first axis should be the edit's dim 16");
    ck_assert_uint_eq(profs_model_staged_count(m), 0);
    profs_model_free(m);
    /* hidden size disagrees with the edit */
    write_text(dir, "config.json", "{\"model_type\": \"llama\", \"num_hidden_layers\": 3, \"hidden_size\": 32}");
    ck_assert_profs_ok(profs_model_open(&m, dir));
    ck_assert_profs_error(profs_edit_apply(&rep, e, m, PROFS_TARGET_VALUE), PROFS_ESHAPE,
                          "the model's hidden_size is 32 but the edit's dim is 16");
    profs_model_free(m);
    /* fewer layers than the edit */
    write_text(dir, "config.json", "{\"model_type\": \"llama\", \"num_hidden_layers\": 2, \"hidden_size\": 16}");
    ck_assert_profs_ok(profs_model_open(&m, dir));
    ck_assert_profs_error(profs_edit_apply(&rep, e, m, PROFS_TARGET_VALUE), PROFS_ENOTFOUND,
                          "the edit has layer 2 but the model has 2 layers");
    profs_model_free(m);
    /* unsupported model type */
    write_text(dir, "config.json", "{\"model_type\": \"bert\"}");
    ck_assert_profs_ok(profs_model_open(&m, dir));
    ck_assert_profs_error(profs_edit_apply(&rep, e, m, PROFS_TARGET_VALUE), PROFS_EUNSUPPORTED,
                          "model_type 'bert' is not supported (supported: gpt2, mistral, llama, qwen2, qwen3, gemma2, gemma3_text, gemma3, phi3, opt, gptj, mixtral, qwen2_moe, qwen3_moe)");
    profs_model_free(m);
    write_text(dir, "config.json", "{\"model_type\": \"gpt2\"}");
    ck_assert_profs_ok(profs_model_open(&m, dir));
    ck_assert_profs_error(profs_edit_apply(&rep, e, m, PROFS_TARGET_VALUE), PROFS_ENOTFOUND,
                          "gpt2 model without tensor 'transformer.h.0.mlp.c_proj.weight'");
    profs_model_free(m);
    ts_free(&t);
    tu_rmtree(dir);
    free(dir);
    free(p);
    /* no config.json and no known tensor names */
    dir = tu_tmpdir("edit_err2");
    p = tu_join(dir, "x.safetensors");
    float w[4] = {1, 2, 3, 4};
    const char *n[] = {"weird.weight"};
    int dt[] = {PROFS_DTYPE_F32};
    size_t nd[] = {1};
    int64_t sh[] = {4};
    const int64_t *shp[] = {sh};
    const void *data[] = {w};
    ck_assert_profs_ok(profs_safetensors_write(p, 1, n, dt, nd, shp, data, 0, NULL, NULL));
    ck_assert_profs_ok(profs_model_open(&m, p));
    ck_assert_profs_error(profs_edit_apply(&rep, e, m, PROFS_TARGET_VALUE), PROFS_ENOTFOUND, "cannot tell the architecture");
    profs_model_free(m);
    tu_rmtree(dir);
    free(dir);
    free(p);
    profs_edit_free(e);
}
END_TEST

/* ---------- artifact ---------- */

START_TEST(edit_round_trip)
{
    profs_collector *c = synthetic_collector(3);
    profs_estimator *est;
    ck_assert_profs_ok(profs_estimator_new(&est));
    ck_assert_profs_ok(profs_estimator_set_rank_rule(est, PROFS_RANK_SCREENOT, 5));
    ck_assert_profs_ok(profs_estimator_set_screenot_strategy(est, PROFS_SCREENOT_WINSORIZE));
    profs_edit *e;
    ck_assert_profs_ok(profs_edit_estimate(&e, est, c, NULL, 0, NULL, NULL));
    ck_assert_uint_eq(profs_edit_count(e), L);
    ck_assert_profs_ok(profs_edit_set_architecture(e, "llama"));
    ck_assert_profs_ok(profs_edit_set_model_id(e, "tiny/llama"));
    profs_subspace *zero;
    ck_assert_profs_ok(profs_subspace_from_basis(&zero, NULL, 0, D));
    ck_assert_profs_ok(profs_edit_add(e, 7, zero));
    ck_assert_profs_error(profs_edit_add(e, 7, zero), PROFS_EEXIST, "layer 7 already has a subspace");
    profs_subspace_free(zero);
    char *dir = tu_tmpdir("edit_rt");
    char *p = tu_join(dir, "edit.safetensors");
    ck_assert_profs_ok(profs_edit_save(e, p));
    profs_edit *back;
    ck_assert_profs_ok(profs_edit_load(&back, p));
    ck_assert_uint_eq(profs_edit_dim(back), D);
    ck_assert_uint_eq(profs_edit_count(back), L + 1);
    ck_assert_str_eq(profs_edit_architecture(back), "llama");
    ck_assert_str_eq(profs_edit_model_id(back), "tiny/llama");
    for (size_t i = 0; i < profs_edit_count(e); i++) {
        size_t layer = profs_edit_layer_at(e, i);
        ck_assert_uint_eq(profs_edit_layer_at(back, i), layer);
        const profs_subspace *a = profs_edit_get(e, layer), *b = profs_edit_get(back, layer);
        ck_assert_uint_eq(profs_subspace_rank(a), profs_subspace_rank(b));
        if (profs_subspace_rank(a))
            ck_assert_int_eq(memcmp(profs_subspace_basis(a), profs_subspace_basis(b), profs_subspace_rank(a) * D * 4), 0);
        ck_assert_uint_eq(profs_subspace_n_singular_values(a), profs_subspace_n_singular_values(b));
        if (profs_subspace_n_singular_values(a))
            ck_assert_int_eq(memcmp(profs_subspace_singular_values(a), profs_subspace_singular_values(b),
                                    profs_subspace_n_singular_values(a) * 8), 0);
        double ta = profs_subspace_threshold(a), tb = profs_subspace_threshold(b);
        ck_assert(ta == tb || (isnan(ta) && isnan(tb)));
        ck_assert_uint_eq(profs_subspace_n_pairs(b), profs_subspace_n_pairs(a));
        ck_assert_uint_eq(profs_subspace_n_pairs(b), layer == 7 ? 0 : NP);
    }
    ck_assert_uint_eq(profs_subspace_rank(profs_edit_get(back, 0)), 2);
    ck_assert_uint_eq(profs_edit_layer_at(back, 99), SIZE_MAX);
    ck_assert_ptr_null(profs_edit_get(back, 5));
    /* the metadata is readable by anyone with a safetensors reader */
    profs_model *m;
    ck_assert_profs_ok(profs_model_open(&m, p));
    ck_assert_str_eq(profs_model_metadata(m, "format"), "profs-edit");
    ck_assert_str_eq(profs_model_metadata(m, "layers"), "0,1,2,7");
    ck_assert_str_eq(profs_model_metadata(m, "centering"), "mean");
    ck_assert_str_eq(profs_model_metadata(m, "rank_rule"), "screenot");
    ck_assert_str_eq(profs_model_metadata(m, "screenot_strategy"), "winsorize");
    ck_assert_str_eq(profs_model_metadata(m, "rank_k"), "5");
    ck_assert_str_eq(profs_model_metadata(m, "n_pairs"), "40");
    ck_assert_str_eq(profs_model_metadata(m, "layers.7.rank"), "0");
    ck_assert_str_eq(profs_model_metadata(m, "layers.7.threshold"), "nan");
    /* the hand-made layer 7 does not inherit the estimated layers' settings */
    ck_assert_str_eq(profs_model_metadata(m, "layers.7.centering"), "unknown");
    ck_assert_str_eq(profs_model_metadata(m, "layers.7.rank_rule"), "unknown");
    ck_assert_str_eq(profs_model_metadata(m, "layers.7.screenot_strategy"), "unknown");
    ck_assert_str_eq(profs_model_metadata(m, "layers.7.rank_k"), "0");
    ck_assert_str_eq(profs_model_metadata(m, "layers.7.n_pairs"), "0");
    ck_assert_ptr_null(profs_model_metadata(m, "layers.0.centering"));   /* same as the file-wide value */
    ck_assert_ptr_null(profs_model_metadata(m, "layers.0.n_pairs"));
    ck_assert_str_eq(profs_model_metadata(m, "libprofs_version"), PROFS_VERSION_STRING);
    profs_model_free(m);
    profs_edit_free(back);
    profs_edit_free(e);
    profs_estimator_free(est);
    profs_collector_free(c);
    tu_rmtree(dir);
    free(dir);
    free(p);
}
END_TEST

/* Write an edit-like file with given metadata and tensors. */
static void write_edit_file(const char *path, size_t nt, const char **names, const int *dt, const size_t *nd,
                            const int64_t **sh, const void **data, size_t nm, const char **k, const char **v)
{
    ck_assert_profs_ok(profs_safetensors_write(path, nt, names, dt, nd, sh, data, nm, k, v));
}

START_TEST(edit_load_rejects)
{
    char *dir = tu_tmpdir("edit_bad");
    char *p = tu_join(dir, "e.safetensors");
    float basis[2 * 4] = {1, 0, 0, 0, 0, 1, 0, 0};
    double sv[2] = {3, 1};
    const char *names[] = {"layers.0.basis", "layers.0.singular_values"};
    int dt[] = {PROFS_DTYPE_F32, PROFS_DTYPE_F64};
    size_t nd[] = {2, 1};
    int64_t sb[] = {2, 4}, ss[] = {2};
    const int64_t *sh[] = {sb, ss};
    const void *data[] = {basis, sv};
    const char *k[] = {"format", "format_version", "dim", "layers", "layers.0.rank", "layers.0.threshold"};
    const char *v[] = {"profs-edit", "1", "4", "0", "2", "2.5"};
    profs_edit *e = NULL;
    write_edit_file(p, 2, names, dt, nd, sh, data, 6, k, v);
    ck_assert_profs_ok(profs_edit_load(&e, p));
    ck_assert_double_eq(profs_subspace_threshold(profs_edit_get(e, 0)), 2.5);
    profs_edit_free(e);
    e = NULL;

    const char *v2[6];
    memcpy(v2, v, sizeof v2);
    v2[0] = "profs-collector";
    write_edit_file(p, 2, names, dt, nd, sh, data, 6, k, v2);
    ck_assert_profs_error(profs_edit_load(&e, p), PROFS_EFORMAT, "not an edit file (metadata format is 'profs-collector'");
    memcpy(v2, v, sizeof v2);
    v2[1] = "2";
    write_edit_file(p, 2, names, dt, nd, sh, data, 6, k, v2);
    ck_assert_profs_error(profs_edit_load(&e, p), PROFS_EFORMAT, "unsupported edit format_version '2'");
    memcpy(v2, v, sizeof v2);
    v2[2] = "4x";
    write_edit_file(p, 2, names, dt, nd, sh, data, 6, k, v2);
    ck_assert_profs_error(profs_edit_load(&e, p), PROFS_EFORMAT, "metadata 'dim' = '4x' is not a non-negative integer");
    memcpy(v2, v, sizeof v2);
    v2[3] = "0,";
    write_edit_file(p, 2, names, dt, nd, sh, data, 6, k, v2);
    ck_assert_profs_error(profs_edit_load(&e, p), PROFS_EFORMAT, "ends with a comma");
    v2[3] = "zero";
    write_edit_file(p, 2, names, dt, nd, sh, data, 6, k, v2);
    ck_assert_profs_error(profs_edit_load(&e, p), PROFS_EFORMAT, "is not a comma-separated list");
    v2[3] = "0,1";
    write_edit_file(p, 2, names, dt, nd, sh, data, 6, k, v2);
    ck_assert_profs_error(profs_edit_load(&e, p), PROFS_EFORMAT, "metadata key 'layers.1.rank' is missing");
    memcpy(v2, v, sizeof v2);
    v2[4] = "3";
    write_edit_file(p, 2, names, dt, nd, sh, data, 6, k, v2);
    ck_assert_profs_error(profs_edit_load(&e, p), PROFS_EFORMAT, "tensor 'layers.0.basis' must be F32 [3, 4] (rank, dim)");
    memcpy(v2, v, sizeof v2);
    v2[5] = "-1";
    write_edit_file(p, 2, names, dt, nd, sh, data, 6, k, v2);
    ck_assert_profs_error(profs_edit_load(&e, p), PROFS_EFORMAT, "'layers.0.threshold' = '-1' is not a threshold");
    /* per-layer settings override the file-wide ones and are checked like them */
    {
        const char *k7[8], *v7[8];
        memcpy(k7, k, sizeof k);
        memcpy(v7, v, sizeof v);
        k7[6] = "centering";
        v7[6] = "mean";
        k7[7] = "layers.0.centering";
        v7[7] = "top-singular";
        write_edit_file(p, 2, names, dt, nd, sh, data, 8, k7, v7);
        ck_assert_profs_ok(profs_edit_load(&e, p));
        char *p2 = tu_join(dir, "again.safetensors");   /* layer 0 alone: its setting is file-wide */
        ck_assert_profs_ok(profs_edit_save(e, p2));
        profs_model *m2;
        ck_assert_profs_ok(profs_model_open(&m2, p2));
        ck_assert_str_eq(profs_model_metadata(m2, "centering"), "top-singular");
        profs_model_free(m2);
        free(p2);
        profs_edit_free(e);
        e = NULL;
        v7[7] = "median";
        write_edit_file(p, 2, names, dt, nd, sh, data, 8, k7, v7);
        ck_assert_profs_error(profs_edit_load(&e, p), PROFS_EFORMAT,
                              "metadata 'layers.0.centering' = 'median' is not a known value");
        k7[7] = "layers.0.n_pairs";
        v7[7] = "-3";
        write_edit_file(p, 2, names, dt, nd, sh, data, 8, k7, v7);
        ck_assert_profs_error(profs_edit_load(&e, p), PROFS_EFORMAT,
                              "metadata 'layers.0.n_pairs' = '-3' is not a non-negative integer");
        ck_assert_ptr_null(e);
    }
    /* not orthonormal */
    basis[5] = 0.5f;
    write_edit_file(p, 2, names, dt, nd, sh, data, 6, k, v);
    ck_assert_profs_error(profs_edit_load(&e, p), PROFS_ENUMERIC, "tensor 'layers.0.basis': rows are not orthonormal");
    basis[5] = 1.0f;
    /* singular values of the wrong dtype / negative */
    int dt2[] = {PROFS_DTYPE_F32, PROFS_DTYPE_F32};
    write_edit_file(p, 2, names, dt2, nd, sh, data, 6, k, v);
    ck_assert_profs_error(profs_edit_load(&e, p), PROFS_EFORMAT, "'layers.0.singular_values' must be a 1-D F64 tensor");
    sv[1] = -1;
    write_edit_file(p, 2, names, dt, nd, sh, data, 6, k, v);
    ck_assert_profs_error(profs_edit_load(&e, p), PROFS_EFORMAT, "value 1 is not a finite non-negative number");
    sv[1] = 1;
    /* a missing and an extra tensor */
    write_edit_file(p, 1, names, dt, nd, sh, data, 6, k, v);
    ck_assert_profs_error(profs_edit_load(&e, p), PROFS_EFORMAT, "tensor 'layers.0.singular_values' is missing");
    const char *names3[] = {"layers.0.basis", "layers.0.singular_values", "stray"};
    int dt3[] = {PROFS_DTYPE_F32, PROFS_DTYPE_F64, PROFS_DTYPE_F64};
    size_t nd3[] = {2, 1, 1};
    const int64_t *sh3[] = {sb, ss, ss};
    const void *data3[] = {basis, sv, sv};
    write_edit_file(p, 3, names3, dt3, nd3, sh3, data3, 6, k, v);
    ck_assert_profs_error(profs_edit_load(&e, p), PROFS_EFORMAT, "3 tensors, but 1 layers listed");
    ck_assert_ptr_null(e);
    ck_assert_profs_error(profs_edit_load(NULL, p), PROFS_EINVAL, "NULL");
    tu_rmtree(dir);
    free(dir);
    free(p);
}
END_TEST

START_TEST(edit_object_errors)
{
    profs_edit *e = NULL;
    ck_assert_profs_error(profs_edit_new(&e, 0), PROFS_EINVAL, "dim is 0");
    ck_assert_profs_error(profs_edit_new(NULL, 4), PROFS_EINVAL, "out is NULL");
    ck_assert_profs_ok(profs_edit_new(&e, 4));
    float b[3] = {1, 0, 0};
    profs_subspace *s;
    ck_assert_profs_ok(profs_subspace_from_basis(&s, b, 1, 3));
    ck_assert_profs_error(profs_edit_add(e, 0, s), PROFS_ESHAPE, "subspace dim 3 differs from the edit's 4");
    ck_assert_profs_error(profs_edit_add(e, 0, NULL), PROFS_EINVAL, "NULL");
    ck_assert_profs_error(profs_edit_set_architecture(NULL, "x"), PROFS_EINVAL, "NULL");
    ck_assert_profs_error(profs_edit_save(e, NULL), PROFS_EINVAL, "NULL");
    ck_assert_uint_eq(profs_edit_count(NULL), 0);
    ck_assert_uint_eq(profs_edit_dim(NULL), 0);
    profs_subspace_free(s);
    profs_edit_free(e);
    profs_edit_free(NULL);
    /* estimation over layers: errors name the layer, progress can cancel */
    profs_collector *c = synthetic_collector(1);
    /* the default rank_max 10 is too large for 16 dims */
    ck_assert_profs_error(profs_edit_estimate(&e, NULL, c, NULL, 0, NULL, NULL), PROFS_EINVAL,
                          "layer 0: ScreeNOT imputation needs 2 rank_max + 1 < min(pairs, dim)");
    profs_estimator *est;
    ck_assert_profs_ok(profs_estimator_new(&est));
    ck_assert_profs_ok(profs_estimator_set_rank_rule(est, PROFS_RANK_FIXED, 1));
    size_t bad[2] = {0, 9};
    ck_assert_profs_error(profs_edit_estimate(&e, est, c, bad, 2, NULL, NULL), PROFS_EINVAL, "layer 9 out of range");
    size_t twice[2] = {1, 1};
    ck_assert_profs_error(profs_edit_estimate(&e, est, c, twice, 2, NULL, NULL), PROFS_EEXIST, "layer 1 already");
    profs_estimator_free(est);
    profs_collector_free(c);
}
END_TEST

static int cancel_at_two(void *ud, const char *stage, uint64_t done, uint64_t total)
{
    (void)ud; (void)total;
    ck_assert_str_eq(stage, "estimate");
    return done == 2;
}

START_TEST(estimate_progress_cancels)
{
    profs_collector *c = synthetic_collector(2);
    profs_estimator *est;
    ck_assert_profs_ok(profs_estimator_new(&est));
    ck_assert_profs_ok(profs_estimator_set_rank_rule(est, PROFS_RANK_FIXED, 1));
    profs_edit *e = NULL;
    ck_assert_profs_error(profs_edit_estimate(&e, est, c, NULL, 0, cancel_at_two, NULL), PROFS_ECANCELLED, "cancelled");
    ck_assert_ptr_null(e);
    profs_estimator_free(est);
    profs_collector_free(c);
}
END_TEST

START_TEST(null_handles_are_harmless)
{
    /* every accessor answers a NULL handle with its documented neutral value */
    ck_assert_ptr_null(profs_edit_report_architecture(NULL));
    ck_assert_uint_eq(profs_edit_report_count(NULL), 0);
    ck_assert_ptr_null(profs_edit_report_name(NULL, 0));
    ck_assert_uint_eq(profs_edit_report_layer(NULL, 0), SIZE_MAX);
    ck_assert_uint_eq(profs_edit_report_rank(NULL, 0), 0);
    ck_assert_int_eq(profs_edit_report_role(NULL, 0), 0);
    ck_assert_int_eq(profs_edit_report_applied(NULL, 0), 0);
    ck_assert(isnan(profs_edit_report_delta_norm(NULL, 0)));
    ck_assert(isnan(profs_edit_report_weight_norm(NULL, 0)));
    ck_assert_uint_eq(profs_edit_layer_at(NULL, 0), SIZE_MAX);
    ck_assert_ptr_null(profs_edit_get(NULL, 0));
    ck_assert_ptr_null(profs_edit_architecture(NULL));
    ck_assert_ptr_null(profs_edit_model_id(NULL));
    ck_assert_profs_error(profs_edit_set_model_id(NULL, "m"), PROFS_EINVAL, "edit is NULL");
    ck_assert_uint_eq(profs_subspace_dim(NULL), 0);
    ck_assert_uint_eq(profs_subspace_n_pairs(NULL), 0);
    ck_assert_uint_eq(profs_subspace_n_singular_values(NULL), 0);
    ck_assert_ptr_null(profs_subspace_singular_values(NULL));
    ck_assert(isnan(profs_subspace_threshold(NULL)));
    ck_assert_int_eq(profs_estimator_rank_rule(NULL), -1);
    ck_assert_int_eq(profs_estimator_screenot_strategy(NULL), -1);
    ck_assert_uint_eq(profs_estimator_rank_k(NULL), 0);
    ck_assert_profs_error(profs_estimator_set_rank_rule(NULL, PROFS_RANK_FIXED, 1), PROFS_EINVAL, "estimator is NULL");
    ck_assert_profs_error(profs_estimator_set_screenot_strategy(NULL, PROFS_SCREENOT_ZERO), PROFS_EINVAL, "estimator is NULL");
    ck_assert_ptr_null(profs_collector_model_id(NULL));
    ck_assert_ptr_null(profs_collector_preferred(NULL, 0));
    ck_assert_ptr_null(profs_collector_dispreferred(NULL, 0));
    ck_assert_profs_error(profs_edit_estimate(NULL, NULL, NULL, NULL, 0, NULL, NULL), PROFS_EINVAL, "NULL");
    ck_assert_profs_error(profs_edit_load(NULL, "x"), PROFS_EINVAL, "NULL");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("edit");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, applies_to_every_architecture);
    tcase_add_test(tc, rank_zero_layers_are_reported_not_staged);
    tcase_add_test(tc, apply_errors);
    tcase_add_test(tc, edit_round_trip);
    tcase_add_test(tc, edit_load_rejects);
    tcase_add_test(tc, edit_object_errors);
    tcase_add_test(tc, estimate_progress_cancels);
    tcase_add_test(tc, null_handles_are_harmless);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
