/* Mixture-of-experts runtime against transformers itself: the checkpoints and goldens of
 * tests/data/tf/{mixtral,qwen2_moe,qwen3_moe}_* (tests/reference/tf_fixtures_moe.py through
 * tf_goldens.py): hidden states per layer, logits, routing decisions (route.safetensors, with the
 * goldens' margins asserted so that near-ties fail loudly), greedy continuations, perplexity; and the
 * errors of incomplete or unknown expert layouts. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lm/lm_internal.h"
#include "profs/profs.h"
#include "testutil.h"

#define TOL 1e-4        /* relative Frobenius error per layer */
#define MIN_MARGIN 1e-3 /* router-logit gap the goldens guarantee between the k-th and (k+1)-th expert */

static const char *const fixtures[] = {
    "mixtral_f32", "mixtral_bf16_fused", "qwen2_moe_f32", "qwen2_moe_bf16_fused",
    "qwen3_moe_f32", "qwen3_moe_bf16_fused", "qwen3_moe_bf16",
};
#define N_FIX (sizeof fixtures / sizeof fixtures[0])

/* The committed transformers-made checkpoint directory (PROFS_TF_DATA overrides tests/data/tf, as in
 * test_lm: tests/reference/tf_live.sh points it at freshly regenerated goldens); caller frees. */
static char *fixture_dir(const char *name)
{
    const char *base = getenv("PROFS_TF_DATA");
    char *root = base && *base ? strdup(base) : tu_data_path("tf");
    char *p = tu_join(root, name);
    free(root);
    return p;
}

static profs_model *golden_file(const char *name, const char *file)
{
    char *d = fixture_dir(name), *p = tu_join(d, file);
    profs_model *g = NULL;
    ck_assert_profs_ok(profs_model_open(&g, p));
    free(p);
    free(d);
    return g;
}

static profs_model *golden(const char *name) { return golden_file(name, "golden.safetensors"); }

/* routing recorded through the runtime's test hook: per sparse block in order, (T, K) experts */
typedef struct routes {
    size_t n, K;
    size_t layer[16], T[16];
    size_t *sel[16];
    float *wt[16];
} routes;

static void record(void *ud, size_t layer, size_t T, const size_t *sel, const float *wt)
{
    routes *r = ud;
    ck_assert_uint_lt(r->n, 16);
    r->layer[r->n] = layer;
    r->T[r->n] = T;
    r->sel[r->n] = malloc(T * r->K * sizeof(size_t));
    r->wt[r->n] = malloc(T * r->K * sizeof(float));
    memcpy(r->sel[r->n], sel, T * r->K * sizeof(size_t));
    memcpy(r->wt[r->n], wt, T * r->K * sizeof(float));
    r->n++;
}

static void routes_clear(routes *r)
{
    for (size_t i = 0; i < r->n; i++) {
        free(r->sel[i]);
        free(r->wt[i]);
    }
    r->n = 0;
}

static void check_fixture(const char *name, size_t att_rows)
{
    char *p = fixture_dir(name);
    profs_lm *lm = NULL;
    ck_assert_profs_ok(profs_lm_open(&lm, p));
    lm->att_rows = att_rows;
    profs_model *g = golden(name), *gr = golden_file(name, "route.safetensors");
    size_t L = profs_lm_n_layers(lm), D = profs_lm_hidden_size(lm), V = profs_lm_vocab_size(lm);
    size_t K = lm->cfg.top_k;
    ck_assert_uint_eq(D, 32);
    ck_assert_uint_eq(V, 260);
    ck_assert_uint_eq(K, 2);
    ck_assert_uint_ge(lm->cfg.n_experts, 4);
    routes r = {.K = K};
    lm->route_cb = record;
    lm->route_ud = &r;
    for (int i = 0; i < 4; i++) {
        char key[64];
        size_t T, nh, nl;
        snprintf(key, sizeof key, "ids.%d", i);
        int32_t *ids = tu_gids(g, key, &T);
        snprintf(key, sizeof key, "hidden.%d", i);
        float *want = tu_gread(g, key, &nh);
        ck_assert_uint_eq(nh, (L + 1) * T * D);
        float *got = malloc(nh * sizeof(float));
        ck_assert_profs_ok(profs_lm_hidden_states(lm, got, ids, T));
        for (size_t l = 0; l <= L; l++) {
            double e = tu_rel_err(got + l * T * D, want + l * T * D, T * D);
            ck_assert_msg(e <= TOL, "%s: sequence %d (T=%zu) hidden state %zu: relative error %g", name, i, T, l, e);
        }
        /* routing: the same experts per token as transformers, weights to 1e-5, and no near-tie */
        size_t nr, nw, nm;
        snprintf(key, sizeof key, "route.%d", i);
        int32_t *rs = tu_gids(gr, key, &nr);
        snprintf(key, sizeof key, "route_w.%d", i);
        float *rw = tu_gread(gr, key, &nw);
        snprintf(key, sizeof key, "route_margin.%d", i);
        float *rm = tu_gread(gr, key, &nm);
        ck_assert_uint_eq(nw, nr);
        ck_assert_uint_eq(nr, r.n * T * K);
        ck_assert_uint_eq(nm, r.n * T);
        for (size_t m = 0; m < r.n; m++) {
            ck_assert_uint_eq(r.T[m], T);
            for (size_t t = 0; t < T; t++) {
                ck_assert_msg(rm[m * T + t] > MIN_MARGIN, "%s: golden sequence %d block %zu token %zu: router "
                              "near-tie (margin %g): regenerate the goldens", name, i, r.layer[m], t, rm[m * T + t]);
                for (size_t k = 0; k < K; k++) {
                    size_t gi = (m * T + t) * K + k;
                    ck_assert_msg(r.sel[m][t * K + k] == (size_t)rs[gi], "%s: sequence %d block %zu token %zu rank %zu:"
                                  " expert %zu, transformers chose %d", name, i, r.layer[m], t, k, r.sel[m][t * K + k],
                                  rs[gi]);
                    ck_assert_msg(fabsf(r.wt[m][t * K + k] - rw[gi]) <= 1e-5f, "%s: routing weight %g vs %g", name,
                                  r.wt[m][t * K + k], rw[gi]);
                }
            }
        }
        routes_clear(&r);
        snprintf(key, sizeof key, "logits.%d", i);
        float *wl = tu_gread(g, key, &nl);
        ck_assert_uint_eq(nl, T * V);
        float *gl = malloc(nl * sizeof(float));
        ck_assert_profs_ok(profs_lm_logits(lm, gl, ids, T));
        routes_clear(&r);
        double e = tu_rel_err(gl, wl, nl);
        ck_assert_msg(e <= TOL, "%s: sequence %d logits: relative error %g", name, i, e);
        free(ids);
        free(want);
        free(got);
        free(wl);
        free(gl);
        free(rs);
        free(rw);
        free(rm);
    }
    lm->route_cb = NULL;
    profs_model_free(gr);
    profs_model_free(g);
    profs_lm_free(lm);
    free(p);
}

START_TEST(matches_transformers)
{
    check_fixture(fixtures[_i], 128);
    check_fixture(fixtures[_i], 5); /* attention in blocks of 5 query rows, across the sliding windows */
}
END_TEST

/* Greedy continuations (KV cache) are transformers' generate(do_sample=False), token for token. */
START_TEST(greedy_matches_transformers)
{
    const char *name = fixtures[_i];
    char *p = fixture_dir(name);
    profs_lm *lm = NULL;
    ck_assert_profs_ok(profs_lm_open(&lm, p));
    ck_assert_ptr_nonnull(profs_lm_tokenizer(lm)); /* its EOS stops generation, as generation_config's does */
    profs_model *g = golden(name);
    for (int i = 0; i < 4; i++) {
        char key[64];
        size_t T, n_want, n_got;
        snprintf(key, sizeof key, "ids.%d", i);
        int32_t *ids = tu_gids(g, key, &T);
        snprintf(key, sizeof key, "greedy.%d", i);
        int32_t *want = tu_gids(g, key, &n_want);
        ck_assert_uint_ge(n_want, 1);
        int32_t got[64];
        ck_assert_profs_ok(profs_lm_generate(lm, got, 64, &n_got, ids, T, 12, NULL, NULL, NULL));
        ck_assert_msg(n_got == n_want, "%s sequence %d: %zu new tokens, transformers %zu", name, i, n_got, n_want);
        for (size_t k = 0; k < n_want; k++)
            ck_assert_msg(got[k] == want[k], "%s sequence %d: new token %zu is %d, transformers %d", name, i, k,
                          got[k], want[k]);
        free(ids);
        free(want);
    }
    profs_model_free(g);
    profs_lm_free(lm);
    free(p);
}
END_TEST

START_TEST(perplexity_matches_transformers)
{
    const char *name = fixtures[_i];
    char *p = fixture_dir(name);
    profs_lm *lm = NULL;
    ck_assert_profs_ok(profs_lm_open(&lm, p));
    profs_model *g = golden(name);
    {
        size_t n;
        int32_t *ids = tu_gids(g, "ppl_ids", &n);
        static const size_t settings[][2] = {{16, 16}, {16, 5}, {40, 40}, {64, 64}};
        for (size_t k = 0; k < 4; k++) {
            char key[64];
            snprintf(key, sizeof key, "ppl.%zu.%zu", settings[k][0], settings[k][1]);
            const void *data;
            uint64_t nb;
            ck_assert_profs_ok(profs_model_tensor_data(g, key, &data, &nb));
            double want[2], ppl, nll;
            memcpy(want, data, sizeof want);
            ck_assert_profs_ok(profs_lm_perplexity(lm, &ppl, &nll, ids, n, settings[k][0], settings[k][1], NULL, NULL));
            ck_assert_msg(fabs(nll - want[0]) <= 1e-5 * fabs(want[0]), "%s %s: nll %.9g vs %.9g", name, key, nll,
                          want[0]);
            ck_assert_msg(fabs(ppl - want[1]) <= 1e-5 * want[1], "%s %s: ppl %.9g vs %.9g", name, key, ppl, want[1]);
        }
        free(ids);
    }
    profs_model_free(g);
    profs_lm_free(lm);
    free(p);
}
END_TEST

/* The config facts the fixtures exercise, read as transformers reads them. */
START_TEST(config_facts)
{
    struct { const char *name; size_t E, shared; int norm, fused; const char *sparse, *window; } want[] = {
        {"mixtral_f32", 8, 0, 1, 0, "111", "888"},
        {"mixtral_bf16_fused", 8, 0, 1, 1, "111", "000"},
        {"qwen2_moe_f32", 6, 28, 0, 0, "0101", "8080"},     /* decoder_sparse_step 2; even layers below 3 slide */
        {"qwen2_moe_bf16_fused", 8, 28, 1, 1, "101", "000"}, /* mlp_only_layers [1] */
        {"qwen3_moe_f32", 4, 0, 1, 0, "101", "000"},
        {"qwen3_moe_bf16_fused", 6, 0, 0, 1, "111", "000"},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        char *p = fixture_dir(want[i].name);
        profs_lm *lm = NULL;
        ck_assert_profs_ok(profs_lm_open(&lm, p));
        ck_assert_uint_eq(lm->cfg.n_experts, want[i].E);
        ck_assert_uint_eq(lm->cfg.shared_ffn, want[i].shared);
        ck_assert_int_eq(lm->cfg.norm_topk, want[i].norm);
        ck_assert_int_eq(lm->moe_fused, want[i].fused);
        for (size_t l = 0; l < lm->cfg.n_layers; l++) {
            ck_assert_int_eq(lm->cfg.moe_layer[l], want[i].sparse[l] - '0');
            size_t w = lm->cfg.slides[l] ? lm->cfg.sliding_window : 0;
            ck_assert_uint_eq(w, (size_t)(want[i].window[l] - '0'));
        }
        profs_lm_free(lm);
        free(p);
    }
}
END_TEST

/* Copy a fixture into dir, then rewrite config.json with `from` -> `to` (when from is non-NULL). */
static char *copy_fixture(const char *dir, const char *name, const char *from, const char *to)
{
    static int serial;
    char leaf[160];
    snprintf(leaf, sizeof leaf, "%s.%d", name, serial++);
    char *src = fixture_dir(name), *dst = tu_join(dir, leaf);
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "cp -r '%s' '%s'", src, dst);
    ck_assert_int_eq(system(cmd), 0);
    if (from) {
        char *cfg = tu_join(dst, "config.json");
        size_t n;
        char *s = tu_read_file(cfg, &n);
        char *at = strstr(s, from);
        ck_assert_ptr_nonnull(at);
        size_t lf = strlen(from), lt = strlen(to);
        char *out = malloc(n + lt + 1);
        memcpy(out, s, (size_t)(at - s));
        memcpy(out + (at - s), to, lt);
        memcpy(out + (at - s) + lt, at + lf, n - (size_t)(at - s) - lf);
        ck_assert_int_eq(tu_write_file(cfg, out, n - lf + lt), 0);
        free(out);
        free(s);
        free(cfg);
    }
    free(src);
    return dst;
}

START_TEST(more_experts_declared_is_refused)
{
    /* config.json declares 10 experts; the checkpoint has 8 per layer: every missing one is named */
    char *dir = tu_tmpdir("moe");
    char *p = copy_fixture(dir, "mixtral_f32", "\"num_local_experts\": 8", "\"num_local_experts\": 10");
    profs_lm *lm = NULL;
    /* the router's shape is checked first: [8, 32] where config.json implies [10, 32] */
    ck_assert_profs_error(profs_lm_open(&lm, p), PROFS_ESHAPE, "block_sparse_moe.gate.weight' has shape [8, 32]");
    free(p);
    p = copy_fixture(dir, "qwen3_moe_bf16_fused", "\"num_local_experts\": 6", "\"num_local_experts\": 7");
    ck_assert_profs_error(profs_lm_open(&lm, p), PROFS_ESHAPE, "mlp.gate.weight' has shape [6, 32]");
    free(p);
    /* num_experts and num_local_experts must agree when both are present */
    p = copy_fixture(dir, "qwen2_moe_f32", "\"num_experts\": 6", "\"num_experts\": 6, \"num_local_experts\": 5");
    ck_assert_profs_error(profs_lm_open(&lm, p), PROFS_EFORMAT, "num_local_experts 5 and num_experts 6 disagree");
    free(p);
    p = copy_fixture(dir, "qwen3_moe_f32", "\"num_experts_per_tok\": 2", "\"num_experts_per_tok\": 5");
    ck_assert_profs_error(profs_lm_open(&lm, p), PROFS_EFORMAT, "num_experts_per_tok 5 exceeds num_local_experts 4");
    free(p);
    tu_rmtree(dir);
    free(dir);
}
END_TEST

/* Rewrite dir/model.safetensors without tensor `drop` (header and data), as a checkpoint missing it. */
static void drop_tensor(const char *dir, const char *drop)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 -c \"import json,struct,sys\n"
             "p=sys.argv[1]+'/model.safetensors'; b=open(p,'rb').read(); n=struct.unpack('<Q',b[:8])[0]\n"
             "h=json.loads(b[8:8+n]); del h[sys.argv[2]]; o=0; d=b''\n"
             "for k,v in sorted(((k,v) for k,v in h.items() if k!='__metadata__'), key=lambda kv: kv[1]['data_offsets']):\n"
             "  a,e=v['data_offsets']; d+=b[8+n+a:8+n+e]; v['data_offsets']=[o,o+e-a]; o+=e-a\n"
             "s=json.dumps(h).encode(); s+=b' '*((8-len(s)%%8)%%8)\n"
             "open(p,'wb').write(struct.pack('<Q',len(s))+s+d)\" '%s' '%s'", dir, drop);
    ck_assert_int_eq(system(cmd), 0);
}

START_TEST(missing_expert_is_refused)
{
    char *dir = tu_tmpdir("moe");
    char *p = copy_fixture(dir, "mixtral_f32", NULL, NULL);
    drop_tensor(p, "model.layers.1.block_sparse_moe.experts.5.w2.weight");
    profs_lm *lm = NULL;
    ck_assert_profs_error(profs_lm_open(&lm, p), PROFS_ENOTFOUND,
                          "mixtral declares 8 experts per sparse layer but 1 expert tensor is missing: "
                          "'model.layers.1.block_sparse_moe.experts.5.w2.weight'");
    free(p);
    /* a layout we do not know (here: no expert tensor of either layout in the first sparse layer) */
    p = copy_fixture(dir, "qwen3_moe_bf16_fused", NULL, NULL);
    drop_tensor(p, "model.layers.0.mlp.experts.down_proj");
    ck_assert_profs_error(profs_lm_open(&lm, p), PROFS_ENOTFOUND,
                          "layer 0: unknown expert layout: neither 'model.layers.0.mlp.experts.0.down_proj.weight'");
    free(p);
    p = copy_fixture(dir, "qwen3_moe_bf16_fused", NULL, NULL);
    drop_tensor(p, "model.layers.2.mlp.experts.gate_up_proj");
    ck_assert_profs_error(profs_lm_open(&lm, p), PROFS_ENOTFOUND, "'model.layers.2.mlp.experts.gate_up_proj'");
    free(p);
    tu_rmtree(dir);
    free(dir);
}
END_TEST

START_TEST(bad_layer_types_is_refused)
{
    char *dir = tu_tmpdir("moe");
    char *p = copy_fixture(dir, "qwen2_moe_f32", "\"sliding_attention\"", "\"chunked_attention\"");
    profs_lm *lm = NULL;
    ck_assert_profs_error(profs_lm_open(&lm, p), PROFS_EUNSUPPORTED,
                          "layer_types[0] 'chunked_attention' is not supported (sliding_attention, full_attention)");
    free(p);
    p = copy_fixture(dir, "qwen2_moe_f32", "\"mlp_only_layers\": []", "\"mlp_only_layers\": [4]");
    ck_assert_profs_error(profs_lm_open(&lm, p), PROFS_EFORMAT, "mlp_only_layers[0] is not a layer index below 4");
    free(p);
    tu_rmtree(dir);
    free(dir);
}
END_TEST

/* ---- the edit: every expert's output matrix ---- */

/* An edit of layers 0 and 1 with the same rank-2 orthonormal basis (dim 32). */
static profs_edit *make_edit(float *basis)
{
    for (size_t r = 0; r < 2; r++) {
        float *v = basis + r * 32;
        for (size_t d = 0; d < 32; d++) v[d] = sinf((float)(d * (r + 3) + 1));
        for (size_t q = 0; q < r; q++) {
            double dot = 0;
            for (size_t d = 0; d < 32; d++) dot += (double)v[d] * basis[q * 32 + d];
            for (size_t d = 0; d < 32; d++) v[d] -= (float)dot * basis[q * 32 + d];
        }
        double nn = 0;
        for (size_t d = 0; d < 32; d++) nn += (double)v[d] * v[d];
        for (size_t d = 0; d < 32; d++) v[d] /= (float)sqrt(nn);
    }
    profs_edit *e = NULL;
    profs_subspace *s = NULL;
    ck_assert_profs_ok(profs_edit_new(&e, 32));
    ck_assert_profs_ok(profs_subspace_from_basis(&s, basis, 2, 32));
    ck_assert_profs_ok(profs_edit_add(e, 0, s));
    ck_assert_profs_ok(profs_edit_add(e, 1, s));
    profs_subspace_free(s);
    return e;
}

/* W' (D, X) against (I - V^T V) W in double: relative Frobenius error. */
static double proj_err(const float *w, const float *got, size_t D, size_t X, const float *V, size_t rank)
{
    double num = 0, den = 0;
    for (size_t x = 0; x < X; x++) {
        double c[2] = {0, 0};
        for (size_t r = 0; r < rank; r++)
            for (size_t d = 0; d < D; d++) c[r] += (double)V[r * D + d] * w[d * X + x];
        for (size_t d = 0; d < D; d++) {
            double want = w[d * X + x];
            for (size_t r = 0; r < rank; r++) want -= V[r * D + d] * c[r];
            num += (got[d * X + x] - want) * (got[d * X + x] - want);
            den += want * want;
        }
    }
    return sqrt(num / den);
}

static float *read_all(const profs_model *m, const char *name, size_t *n)
{
    uint64_t numel;
    ck_assert_profs_ok(profs_model_tensor_size(m, name, &numel, NULL));
    float *v = malloc((size_t)numel * sizeof(float));
    ck_assert_profs_ok(profs_model_read_f32(m, name, v, (size_t)numel));
    *n = (size_t)numel;
    return v;
}

static const struct edit_case {
    const char *name;
    int targets;
    size_t entries, staged;   /* report entries; tensors staged */
    const char *first, *last; /* first and last report names */
    double tol;               /* projection error allowed (BF16 rounding) */
} edit_cases[] = {
    {"mixtral_f32", PROFS_TARGET_VALUE, 16, 16, "model.layers.0.block_sparse_moe.experts.0.w2.weight",
     "model.layers.1.block_sparse_moe.experts.7.w2.weight", 1e-6},
    {"mixtral_f32", PROFS_TARGET_BOTH, 48, 48, "model.layers.0.block_sparse_moe.experts.0.w2.weight",
     "model.layers.1.block_sparse_moe.experts.7.w3.weight", 1e-6},
    {"mixtral_bf16_fused", PROFS_TARGET_VALUE, 16, 2, "model.layers.0.mlp.experts.down_proj[0]",
     "model.layers.1.mlp.experts.down_proj[7]", 4e-3},
    {"mixtral_bf16_fused", PROFS_TARGET_KEY, 16, 2, "model.layers.0.mlp.experts.gate_up_proj[0]",
     "model.layers.1.mlp.experts.gate_up_proj[7]", 4e-3},
    /* layer 0 dense (mlp.down_proj), layer 1 sparse: 6 experts and the shared expert */
    {"qwen2_moe_f32", PROFS_TARGET_VALUE, 8, 8, "model.layers.0.mlp.down_proj.weight",
     "model.layers.1.mlp.shared_expert.down_proj.weight", 1e-6},
    {"qwen2_moe_f32", PROFS_TARGET_BOTH, 3 + 18 + 3, 24, "model.layers.0.mlp.down_proj.weight",
     "model.layers.1.mlp.shared_expert.up_proj.weight", 1e-6},
    {"qwen3_moe_bf16_fused", PROFS_TARGET_BOTH, 24, 4, "model.layers.0.mlp.experts.down_proj[0]",
     "model.layers.1.mlp.experts.gate_up_proj[5]", 4e-3},
};
#define N_EDIT (sizeof edit_cases / sizeof edit_cases[0])

START_TEST(edit_projects_every_expert)
{
    const struct edit_case *c = &edit_cases[_i];
    float V[64];
    profs_edit *e = make_edit(V);
    char *src = fixture_dir(c->name), *dir = tu_tmpdir("moe_edit"), *out = tu_join(dir, "edited");
    profs_model *m = NULL, *o = NULL;
    ck_assert_profs_ok(profs_model_open(&m, src));
    profs_edit_report *rep = NULL;
    ck_assert_profs_ok(profs_edit_apply(&rep, e, m, c->targets));
    size_t n = profs_edit_report_count(rep);
    ck_assert_uint_eq(n, c->entries);
    ck_assert_uint_eq(profs_model_staged_count(m), c->staged);
    ck_assert_str_eq(profs_edit_report_name(rep, 0), c->first);
    ck_assert_str_eq(profs_edit_report_name(rep, n - 1), c->last);
    ck_assert_profs_ok(profs_model_save(m, out, NULL, NULL));
    ck_assert_profs_ok(profs_model_open(&o, out));
    ck_assert_uint_eq(profs_model_tensor_count(o), profs_model_tensor_count(m));
    size_t checked = 0;
    for (size_t t = 0; t < profs_model_tensor_count(m); t++) {
        const char *name = profs_model_tensor_name(m, t);
        size_t nlen = strlen(name);
        size_t ndim;
        const int64_t *sh;
        int dt;
        ck_assert_profs_ok(profs_model_tensor_info(m, name, &dt, &ndim, &sh));
        int hit = 0;
        for (size_t i = 0; i < n; i++) {
            const char *rn = profs_edit_report_name(rep, i);
            if (strncmp(rn, name, nlen) || (rn[nlen] && rn[nlen] != '[')) continue;
            hit = 1;
            ck_assert(profs_edit_report_applied(rep, i));
            ck_assert_double_gt(profs_edit_report_delta_norm(rep, i), 0.0);
        }
        if (!hit) { /* untouched: bit-identical (routers included) */
            const void *a, *b;
            uint64_t na, nb;
            ck_assert_profs_ok(profs_model_tensor_data(m, name, &a, &na));
            ck_assert_profs_ok(profs_model_tensor_data(o, name, &b, &nb));
            ck_assert_msg(na == nb && memcmp(a, b, na) == 0, "%s: untargeted tensor '%s' changed", c->name, name);
            continue;
        }
        ck_assert_msg(strstr(name, ".gate.weight") == NULL, "router '%s' targeted", name);
        size_t nw, ng;
        float *w = read_all(m, name, &nw), *g = read_all(o, name, &ng);
        size_t slices = ndim == 3 ? (size_t)sh[0] : 1, R = (size_t)sh[ndim - 2], C = (size_t)sh[ndim - 1];
        for (size_t s = 0; s < slices; s++) {
            const float *ws = w + s * R * C, *gs = g + s * R * C;
            double err;
            int key = strstr(name, "gate_up") || strstr(name, "gate_proj") || strstr(name, "up_proj") ||
                      strstr(name, ".w1.") || strstr(name, ".w3.");
            if (!key) {
                ck_assert_uint_eq(R, 32);
                err = proj_err(ws, gs, R, C, V, 2); /* value: D first */
            } else { /* key: D last; project the transpose */
                ck_assert_uint_eq(C, 32);
                float *wt = malloc(R * C * sizeof(float)), *gt = malloc(R * C * sizeof(float));
                for (size_t i = 0; i < R; i++)
                    for (size_t j = 0; j < C; j++) {
                        wt[j * R + i] = ws[i * C + j];
                        gt[j * R + i] = gs[i * C + j];
                    }
                err = proj_err(wt, gt, C, R, V, 2);
                free(wt);
                free(gt);
            }
            ck_assert_msg(err <= c->tol, "%s: '%s' slice %zu: %g from the projection", c->name, name, s, err);
            checked++;
        }
        free(w);
        free(g);
    }
    ck_assert_uint_eq(checked, c->entries);
    profs_model_free(o);
    profs_model_free(m);
    profs_edit_report_free(rep);
    profs_edit_free(e);
    tu_rmtree(dir);
    free(dir);
    free(out);
    free(src);
}
END_TEST

START_TEST(edit_refuses_missing_experts)
{
    float V[64];
    profs_edit *e = make_edit(V);
    char *dir = tu_tmpdir("moe");
    profs_model *m = NULL;
    profs_edit_report *rep = NULL;
    /* one expert tensor removed: refused, naming it; nothing staged */
    char *p = copy_fixture(dir, "qwen2_moe_f32", NULL, NULL);
    drop_tensor(p, "model.layers.1.mlp.experts.4.down_proj.weight");
    ck_assert_profs_ok(profs_model_open(&m, p));
    ck_assert_profs_error(profs_edit_apply(&rep, e, m, PROFS_TARGET_VALUE), PROFS_ENOTFOUND,
                          "layer 1: qwen2_moe declares 6 experts but 1 expert tensor is missing: "
                          "'model.layers.1.mlp.experts.4.down_proj.weight'");
    ck_assert_uint_eq(profs_model_staged_count(m), 0);
    profs_model_free(m);
    free(p);
    /* the fused tensor holds fewer experts than config.json declares */
    p = copy_fixture(dir, "qwen3_moe_bf16_fused", "\"num_local_experts\": 6", "\"num_local_experts\": 7");
    ck_assert_profs_ok(profs_model_open(&m, p));
    ck_assert_profs_error(profs_edit_apply(&rep, e, m, PROFS_TARGET_VALUE), PROFS_ENOTFOUND,
                          "fused tensor 'model.layers.0.mlp.experts.down_proj' holds 6 experts but config.json "
                          "declares 7");
    profs_model_free(m);
    free(p);
    /* a tensor past the declared experts */
    p = copy_fixture(dir, "mixtral_f32", "\"num_local_experts\": 8", "\"num_local_experts\": 7");
    ck_assert_profs_ok(profs_model_open(&m, p));
    ck_assert_profs_error(profs_edit_apply(&rep, e, m, PROFS_TARGET_VALUE), PROFS_EFORMAT,
                          "tensor 'model.layers.0.block_sparse_moe.experts.7.w2.weight' is past the 7 experts");
    profs_model_free(m);
    free(p);
    /* neither layout */
    p = copy_fixture(dir, "mixtral_bf16_fused", NULL, NULL);
    drop_tensor(p, "model.layers.0.mlp.experts.down_proj");
    ck_assert_profs_ok(profs_model_open(&m, p));
    ck_assert_profs_error(profs_edit_apply(&rep, e, m, PROFS_TARGET_VALUE), PROFS_ENOTFOUND,
                          "mixtral layer 0: unknown expert layout: neither "
                          "'model.layers.0.block_sparse_moe.experts.0.w2.weight'");
    profs_model_free(m);
    free(p);
    profs_edit_free(e);
    tu_rmtree(dir);
    free(dir);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("moe");
    TCase *t = tcase_create("moe");
    tcase_set_timeout(t, 600);
    tcase_add_loop_test(t, matches_transformers, 0, (int)N_FIX);
    tcase_add_loop_test(t, greedy_matches_transformers, 0, (int)N_FIX);
    tcase_add_loop_test(t, perplexity_matches_transformers, 0, (int)N_FIX);
    tcase_add_test(t, config_facts);
    tcase_add_test(t, more_experts_declared_is_refused);
    tcase_add_test(t, missing_expert_is_refused);
    tcase_add_test(t, bad_layer_types_is_refused);
    tcase_add_loop_test(t, edit_projects_every_expert, 0, (int)N_EDIT);
    tcase_add_test(t, edit_refuses_missing_experts);
    suite_add_tcase(s, t);
    return s;
}

int main(void) { return tu_run_suite(suite()); }
