/* Transformer runtime: agreement with Hugging Face transformers itself (fixture
 * checkpoints and goldens made by tests/reference/tf_goldens.py, committed under
 * tests/data/tf/<fixture>/) for every architecture, dtype, layout and config
 * style; each golden's features matter; pooling independent of the batch,
 * KV-cache generation, sampling, perplexity, and the errors of opening a bad
 * checkpoint (those on tests/util/hfgen.h checkpoints, which they rewrite). */
#include <dirent.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "hfgen.h"
#include "lm/lm_internal.h"
#include "profs/profs.h"
#include "testutil.h"

#define TOL 1e-4     /* relative Frobenius error per layer; F32, F16 and BF16 weights alike (see docs/runtime.md) */
#define PPL_TOL 1e-4 /* relative, on the mean NLL and on the perplexity */
#define FEATURE_MIN 1e-2

/* The transformers-made fixtures (tests/reference/tf_goldens.py) and the features each
 * golden must show to matter: switching one off moves transformers' outputs by > 1e-2,
 * as recorded in the golden's metadata feature.<name>. */
static const struct tf_fixture {
    const char *name;
    const char *dtype;
    const char *features[4];
} tf_fixtures[] = {
    {"gpt2", "float32", {"biases", "norm_weights"}},
    {"gpt2_bf16", "bfloat16", {"biases"}},
    {"gpt2_inv", "float32", {"scale_attn_by_inverse_layer_idx"}},
    {"mistral", "float32", {"sliding_window", "norm_weights", "gqa_grouping"}},
    {"mistral_bf16", "bfloat16", {"sliding_window"}},
    {"llama", "float32", {"llama3_rope", "attention_bias", "mlp_bias"}},
    {"llama_f16", "float16", {"llama3_rope"}},
    {"llama_linear", "float32", {"linear_rope", "mlp_bias"}},
    {"opt", "float32", {"biases", "norm_weights"}},
    {"opt_proj", "float32", {"post_ln"}},
    {"opt_nobias", "float32", {"untied_head"}},
    {"gptj", "float32", {"partial_rotary", "biases"}},
    /* the families of the architecture table's issue (tests/reference/tf_fixtures_families.py) */
    {"qwen2", "float32", {"qkv_bias", "sliding_window"}},
    {"qwen2_bf16", "bfloat16", {"qkv_bias"}},
    {"qwen3", "float32", {"qk_norm_weights", "sliding_window"}},
    {"qwen3_bf16", "bfloat16", {"attention_bias"}},
    {"gemma2", "float32", {"attn_softcap", "final_softcap", "post_norm_weights", "sliding_window"}},
    {"gemma2_bf16", "bfloat16", {"attn_softcap"}},
    {"gemma3_text", "float32", {"final_softcap", "global_rope_scaling", "local_rope", "qk_norm_weights"}},
    {"gemma3_bf16", "bfloat16", {"qk_norm_weights"}},
    {"gemma3_cg", "float32", {"qk_norm_weights"}},
    {"phi3", "float32", {"longrope", "partial_rotary"}},
    {"phi3_bf16", "bfloat16", {"longrope"}},
    {"llama_yarn", "float32", {"yarn"}},
    {"llama_dynamic", "float32", {NULL}},
    {"llama_longrope", "float32", {"longrope"}},
    {"opt_noaffine", "float32", {"biases"}},
    /* mixture of experts (tests/reference/tf_fixtures_moe.py; routing, edits: tests/test_moe.c) */
    {"mixtral_f32", "float32", {"sliding_window"}},
    {"mixtral_bf16_fused", "bfloat16", {NULL}},
    {"qwen2_moe_f32", "float32", {"shared_expert", "sliding_window"}},
    {"qwen2_moe_bf16_fused", "bfloat16", {"norm_topk_prob"}},
    {"qwen3_moe_f32", "float32", {"norm_topk_prob"}},
    {"qwen3_moe_bf16_fused", "bfloat16", {NULL}},
    {"qwen3_moe_bf16", "bfloat16", {NULL}},
};
#define N_TF (sizeof tf_fixtures / sizeof tf_fixtures[0])

static char *dir;

static void setup(void) { dir = tu_tmpdir("lm"); ck_assert_ptr_nonnull(dir); }
static void teardown(void) { tu_rmtree(dir); free(dir); }

/* The committed transformers-made checkpoint directory (PROFS_TF_DATA overrides tests/data/tf:
 * scripts/test --transformers points it at freshly regenerated goldens); caller frees. */
static char *tf_root(void)
{
    const char *base = getenv("PROFS_TF_DATA");
    return base && *base ? strdup(base) : tu_data_path("tf");
}

static char *tf_dir(const char *name)
{
    char *root = tf_root();
    char *p = tu_join(root, name);
    free(root);
    return p;
}

static profs_model *golden(const char *name)
{
    char *d = tf_dir(name);
    char *p = tu_join(d, "golden.safetensors");
    profs_model *g = NULL;
    ck_assert_profs_ok(profs_model_open(&g, p));
    free(p);
    free(d);
    return g;
}

/* hidden states (every layer) and logits of each golden sequence */
/* The number of test sequences ids.0, ids.1, ... of a golden (as its metadata says). */
static int n_sequences(const profs_model *g)
{
    int n = 0;
    char key[64];
    for (;; n++) {
        snprintf(key, sizeof key, "ids.%d", n);
        if (!profs_model_has_tensor(g, key)) break;
    }
    const char *m = profs_model_metadata(g, "sequences");
    ck_assert_ptr_nonnull(m);
    ck_assert_int_eq(n, atoi(m));
    ck_assert_int_ge(n, 1);
    return n;
}

static double worst_rel[N_TF];

static void check_fixture(size_t fx, size_t att_rows)
{
    const char *name = tf_fixtures[fx].name;
    char *p = tf_dir(name);
    profs_lm *lm = NULL;
    ck_assert_profs_ok(profs_lm_open(&lm, p));
    lm->att_rows = att_rows;
    profs_model *g = golden(name);
    size_t L = profs_lm_n_layers(lm), D = profs_lm_hidden_size(lm), V = profs_lm_vocab_size(lm);
    for (int i = 0, ns = n_sequences(g); i < ns; i++) {
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
            if (e > worst_rel[fx]) worst_rel[fx] = e;
        }
        snprintf(key, sizeof key, "logits.%d", i);
        float *wl = tu_gread(g, key, &nl);
        ck_assert_uint_eq(nl, T * V);
        float *gl = malloc(nl * sizeof(float));
        ck_assert_profs_ok(profs_lm_logits(lm, gl, ids, T));
        double e = tu_rel_err(gl, wl, nl);
        ck_assert_msg(e <= TOL, "%s: sequence %d logits: relative error %g", name, i, e);
        if (e > worst_rel[fx]) worst_rel[fx] = e;
        free(ids);
        free(want);
        free(got);
        free(wl);
        free(gl);
    }
    profs_model_free(g);
    profs_lm_free(lm);
    free(p);
}

START_TEST(matches_transformers)
{
    check_fixture((size_t)_i, 128); /* every sequence in one attention block */
    check_fixture((size_t)_i, 5);   /* causal blocks of 5 query rows (with the sliding window of 5) */
    check_fixture((size_t)_i, 1);
    /* the worst relative difference per family, for docs/runtime.md (ctest -V shows it) */
    printf("tf golden %-13s worst relative difference %.3g\n", tf_fixtures[_i].name, worst_rel[_i]);
}
END_TEST

/* Greedy continuations (KV cache) are transformers' generate(do_sample=False), token for token. */
START_TEST(greedy_matches_transformers)
{
    const char *name = tf_fixtures[_i].name;
    char *p = tf_dir(name);
    profs_lm *lm = NULL;
    ck_assert_profs_ok(profs_lm_open(&lm, p));
    /* the tokenizer's EOS stops generation, as generation_config's does in transformers (a fixture
     * without a tokenizer has its greedy golden made without an EOS) */
    profs_model *g = golden(name);
    const char *gn = profs_model_metadata(g, "greedy_new");
    ck_assert_ptr_nonnull(gn);
    size_t max_new = (size_t)atoi(gn);
    ck_assert(max_new >= 1 && max_new <= 64);
    for (int i = 0, ns = n_sequences(g); i < ns; i++) {
        char key[64];
        size_t T, n_want, n_got;
        snprintf(key, sizeof key, "ids.%d", i);
        int32_t *ids = tu_gids(g, key, &T);
        snprintf(key, sizeof key, "greedy.%d", i);
        int32_t *want = tu_gids(g, key, &n_want);
        ck_assert_uint_ge(n_want, 1);
        int32_t got[64];
        ck_assert_profs_ok(profs_lm_generate(lm, got, 64, &n_got, ids, T, max_new, NULL, NULL, NULL));
        /* Phi-3 crossing its longrope switch: profs recomputes the cache with the long factors (the
         * intent of Phi3ForCausalLM.prepare_inputs_for_generation); transformers 5.12 instead drops the
         * cache and runs only the newest token (its cache_position slicing), forgetting the prompt.
         * Compare up to the crossing; generation_uses_a_consistent_kv_cache checks the rest. */
        size_t n_cmp = n_want;
        const pf_rope_tab *rt = &lm->cfg.rope_tab;
        if (lm->cfg.f.rope_recompute && rt->inv_long && T <= rt->original_max &&
            rt->original_max + 1 - T < n_cmp)
            n_cmp = rt->original_max + 1 - T;
        else
            ck_assert_msg(n_got == n_want, "%s sequence %d: %zu new tokens, transformers %zu", name, i, n_got,
                          n_want);
        for (size_t k = 0; k < n_cmp; k++)
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

/* Every golden records where it came from, and each feature its fixture exists for moves
 * transformers' outputs by more than 1e-2 when switched off (so no golden passes by accident). */
START_TEST(each_feature_matters)
{
    const struct tf_fixture *f = &tf_fixtures[_i];
    profs_model *g = golden(f->name);
    const char *tv = profs_model_metadata(g, "transformers_version");
    const char *pv = profs_model_metadata(g, "torch_version");
    ck_assert_msg(tv && tv[0] >= '4' && tv[0] <= '9' && tv[1] == '.', "%s: transformers_version %s", f->name,
                  tv ? tv : "(absent)");
    ck_assert_msg(pv && pv[0] >= '1' && pv[0] <= '9' && pv[1] == '.', "%s: torch_version %s", f->name,
                  pv ? pv : "(absent)");
    ck_assert_str_eq(profs_model_metadata(g, "fixture"), f->name);
    ck_assert_str_eq(profs_model_metadata(g, "dtype"), f->dtype);
    ck_assert_str_eq(profs_model_metadata(g, "compute_dtype"), "float32");
    size_t n_feat = 0;
    for (size_t k = 0; k < profs_model_metadata_count(g); k++) {
        const char *key = profs_model_metadata_key(g, k);
        size_t len = strlen(key);
        if (strncmp(key, "feature.", 8)) continue;
        if (len > 8 && !strcmp(key + len - 8, ".control")) {
            /* a neutral version of the switch (e.g. GQA heads expanded in the right order) changes nothing */
            double c = strtod(profs_model_metadata(g, key), NULL);
            ck_assert_msg(c <= 1e-6, "%s: %s = %g", f->name, key, c);
            continue;
        }
        n_feat++;
    }
    size_t n_want = 0;
    for (; n_want < 4 && f->features[n_want]; n_want++) {
        char key[96];
        snprintf(key, sizeof key, "feature.%s", f->features[n_want]);
        const char *v = profs_model_metadata(g, key);
        ck_assert_msg(v != NULL, "%s: golden records no %s", f->name, key);
        char *end;
        double d = strtod(v, &end);
        ck_assert_msg(end != v && *end == 0, "%s: %s = '%s' is not a number", f->name, key, v);
        ck_assert_msg(d > FEATURE_MIN, "%s: switching off %s moves transformers' outputs by only %g", f->name,
                      f->features[n_want], d);
    }
    ck_assert_uint_eq(n_feat, n_want); /* the table above names every recorded feature */
    /* the checkpoint dtype is the one the golden says */
    char *p = tf_dir(f->name);
    profs_model *m = NULL;
    ck_assert_profs_ok(profs_model_open(&m, p));
    int dt;
    size_t nd;
    const int64_t *sh;
    ck_assert_profs_ok(profs_model_tensor_info(m, profs_model_tensor_name(m, 0), &dt, &nd, &sh));
    ck_assert_int_eq(dt, !strcmp(f->dtype, "bfloat16") ? PROFS_DTYPE_BF16
                         : !strcmp(f->dtype, "float16") ? PROFS_DTYPE_F16 : PROFS_DTYPE_F32);
    profs_model_free(m);
    free(p);
    profs_model_free(g);
}
END_TEST

START_TEST(perplexity_matches_transformers)
{
    const char *name = tf_fixtures[_i].name;
    char *p = tf_dir(name);
    profs_lm *lm = NULL;
    ck_assert_profs_ok(profs_lm_open(&lm, p));
    profs_model *g = golden(name);
    size_t n;
    int32_t *ids = tu_gids(g, "ppl_ids", &n);
    size_t n_settings = 0;
    for (size_t t = 0; t < profs_model_tensor_count(g); t++) {
        const char *key = profs_model_tensor_name(g, t);
        size_t ml, st;
        char tail;
        if (sscanf(key, "ppl.%zu.%zu%c", &ml, &st, &tail) != 2) continue; /* ppl.{max_length}.{stride} */
        n_settings++;
        const void *data;
        uint64_t nb;
        ck_assert_profs_ok(profs_model_tensor_data(g, key, &data, &nb));
        ck_assert_uint_eq(nb, 2 * sizeof(double));
        double want[2];
        memcpy(want, data, sizeof want);
        double ppl, nll;
        ck_assert_profs_ok(profs_lm_perplexity(lm, &ppl, &nll, ids, n, ml, st, NULL, NULL));
        ck_assert_msg(fabs(nll - want[0]) <= PPL_TOL * fabs(want[0]), "%s %s: nll %.9g vs %.9g", name, key, nll,
                      want[0]);
        ck_assert_msg(fabs(ppl - want[1]) <= PPL_TOL * want[1], "%s %s: ppl %.9g vs %.9g", name, key, ppl, want[1]);
        ck_assert_double_eq_tol(ppl, exp(nll), 1e-9 * ppl);
    }
    ck_assert_uint_ge(n_settings, 1);
    free(ids);
    profs_model_free(g);
    profs_lm_free(lm);
    free(p);
}
END_TEST

/* Pooled embeddings equal the means of the reference hidden states, whatever the batch. */
static void check_pool(const char *name, size_t batch_tokens)
{
    char *p = tf_dir(name);
    profs_lm *lm = NULL;
    ck_assert_profs_ok(profs_lm_open(&lm, p));
    ck_assert_profs_ok(profs_lm_set_batch_tokens(lm, batch_tokens));
    ck_assert_profs_ok(profs_lm_set_resident_bytes(lm, 0)); /* stream the weights */
    profs_model *g = golden(name);
    size_t L = 2, D = 32, lens[4];
    int32_t *ids[4];
    float *want[4];
    for (int i = 0; i < 4; i++) {
        char key[64];
        snprintf(key, sizeof key, "ids.%d", i);
        ids[i] = tu_gids(g, key, &lens[i]);
        snprintf(key, sizeof key, "hidden.%d", i);
        want[i] = tu_gread(g, key, NULL);
    }
    /* sequences of very different lengths (1, 3, 12, 23) in one call, and one at a time */
    float *all = malloc(4 * L * D * sizeof(float)), *one = malloc(L * D * sizeof(float));
    ck_assert_profs_ok(profs_lm_pool_ids(lm, all, (const int32_t *const *)ids, lens, 4, 0, NULL, NULL));
    for (int i = 0; i < 4; i++) {
        ck_assert_profs_ok(profs_lm_pool_ids(lm, one, (const int32_t *const *)&ids[i], &lens[i], 1, 0, NULL, NULL));
        for (size_t l = 0; l < L; l++) {
            float ref[32];
            for (size_t d = 0; d < D; d++) {
                double s = 0;
                for (size_t t = 0; t < lens[i]; t++) s += want[i][((l + 1) * lens[i] + t) * D + d];
                ref[d] = (float)(s / (double)lens[i]);
            }
            double e1 = tu_rel_err(all + (i * L + l) * D, ref, D), e2 = tu_rel_err(one + l * D, ref, D);
            double e3 = tu_rel_err(all + (i * L + l) * D, one + l * D, D);
            ck_assert_msg(e1 <= TOL && e2 <= TOL, "%s seq %d layer %zu: pooled error %g / %g", name, i, l, e1, e2);
            ck_assert_msg(e3 <= 1e-6, "%s seq %d layer %zu: batch changes the result by %g", name, i, l, e3);
        }
    }
    /* leaving the first token out */
    ck_assert_profs_ok(profs_lm_pool_ids(lm, one, (const int32_t *const *)&ids[3], &lens[3], 1, 1, NULL, NULL));
    for (size_t d = 0; d < D; d++) {
        double s = 0;
        for (size_t t = 1; t < lens[3]; t++) s += want[3][((L)*lens[3] + t) * D + d];
        ck_assert_double_eq_tol(one[(L - 1) * D + d], s / (double)(lens[3] - 1), 1e-4);
    }
    ck_assert_profs_error(profs_lm_pool_ids(lm, one, (const int32_t *const *)&ids[0], &lens[0], 1, 1, NULL, NULL),
                          PROFS_EINVAL, "at least 2");
    for (int i = 0; i < 4; i++) { free(ids[i]); free(want[i]); }
    free(all);
    free(one);
    profs_model_free(g);
    profs_lm_free(lm);
    free(p);
}

START_TEST(pooling_does_not_depend_on_the_batch)
{
    check_pool("mistral", 8192); /* everything in one pass */
    check_pool("mistral", 13);   /* several passes */
    check_pool("gpt2_bf16", 4);  /* one sequence per pass */
}
END_TEST

static int cancel_at_2(void *ud, const char *stage, uint64_t done, uint64_t total)
{
    int *calls = ud;
    ck_assert_str_eq(stage, "forward");
    ck_assert_uint_eq(total, 3 + 4 + 5);
    ck_assert_uint_le(done, total);
    return ++*calls == 2;
}

START_TEST(pooling_progress_and_cancel)
{
    char *p = tu_hfgen_fixture(dir, "gpt2");
    profs_lm *lm = NULL;
    ck_assert_profs_ok(profs_lm_open(&lm, p));
    ck_assert_profs_ok(profs_lm_set_batch_tokens(lm, 4));
    int32_t a[] = {1, 2, 3}, b[] = {4, 5, 6, 7}, c[] = {8, 9, 10, 11, 12};
    const int32_t *ids[] = {a, b, c};
    size_t lens[] = {3, 4, 5};
    float out[3 * 2 * 32];
    int calls = 0;
    ck_assert_profs_error(profs_lm_pool_ids(lm, out, ids, lens, 3, 0, cancel_at_2, &calls), PROFS_ECANCELLED,
                          "cancelled");
    ck_assert_int_eq(calls, 2);
    int32_t bad[] = {1, 300};
    const int32_t *bids[] = {bad};
    size_t blen[] = {2};
    ck_assert_profs_error(profs_lm_pool_ids(lm, out, bids, blen, 1, 0, NULL, NULL), PROFS_EINVAL,
                          "token id 300 at index 1");
    profs_lm_free(lm);
    free(p);
}
END_TEST

/* Greedy generation with the KV cache equals re-running the whole sequence each step, except
 * for llama with longrope: as in transformers, keys cached before a call passes
 * original_max_position_embeddings keep their short-factor rotation (greedy_matches_transformers
 * checks that behaviour); Phi-3 recomputes its cache there and stays consistent. */
START_TEST(generation_uses_a_consistent_kv_cache)
{
    const char *name = tf_fixtures[_i].name;
    if (!strcmp(name, "llama_longrope")) return;
    char *p = tf_dir(name);
    profs_lm *lm = NULL;
    ck_assert_profs_ok(profs_lm_open(&lm, p));
    size_t V = profs_lm_vocab_size(lm);
    int32_t seq[32] = {5, 17, 250, 3, 99, 42, 7};
    size_t n0 = 7, max_new = 12;
    int32_t out[12];
    size_t n_out;
    ck_assert_profs_ok(profs_lm_generate(lm, out, 12, &n_out, seq, n0, max_new, NULL, NULL, NULL));
    ck_assert_uint_eq(n_out, max_new);
    float *lp = malloc(V * sizeof(float));
    for (size_t s = 0; s < max_new; s++) {
        ck_assert_profs_ok(profs_lm_next_logprobs(lm, lp, seq, n0 + s));
        size_t best = 0;
        double z = 0;
        for (size_t v = 0; v < V; v++) {
            if (lp[v] > lp[best]) best = v;
            z += exp(lp[v]);
        }
        ck_assert_double_eq_tol(z, 1.0, 1e-4);
        ck_assert_msg(out[s] == (int32_t)best, "%s: step %zu generated %d, full forward argmax %zu", name, s,
                      out[s], best);
        seq[n0 + s] = out[s];
    }
    free(lp);
    profs_lm_free(lm);
    free(p);
}
END_TEST

static int stop_after_3(void *ud, int32_t tok)
{
    (void)tok;
    return ++*(int *)ud == 3;
}

START_TEST(sampling_is_seeded_and_deterministic)
{
    char *p = tu_hfgen_fixture(dir, "mistral");
    profs_lm *lm = NULL;
    ck_assert_profs_ok(profs_lm_open(&lm, p));
    profs_sampler *s = NULL;
    ck_assert_profs_ok(profs_sampler_new(&s));
    ck_assert_profs_ok(profs_sampler_set_temperature(s, 1.0));
    ck_assert_profs_ok(profs_sampler_set_top_k(s, 50));
    ck_assert_profs_ok(profs_sampler_set_top_p(s, 0.9));
    ck_assert_profs_ok(profs_sampler_set_seed(s, 1234));
    int32_t prompt[] = {276, 40, 41};
    int32_t a[10], b[10], c[10], greedy[10];
    size_t na, nb, nc, ng;
    ck_assert_profs_ok(profs_lm_generate(lm, a, 10, &na, prompt, 3, 10, s, NULL, NULL));
    ck_assert_profs_ok(profs_lm_generate(lm, b, 10, &nb, prompt, 3, 10, s, NULL, NULL));
    ck_assert_uint_eq(na, nb);
    ck_assert_mem_eq(a, b, na * sizeof(int32_t));
    ck_assert_profs_ok(profs_sampler_set_seed(s, 99));
    ck_assert_profs_ok(profs_lm_generate(lm, c, 10, &nc, prompt, 3, 10, s, NULL, NULL));
    ck_assert_msg(nc != na || memcmp(a, c, na * sizeof(int32_t)) != 0, "another seed gives the same 10 tokens");
    /* top-k 1 is greedy */
    ck_assert_profs_ok(profs_sampler_set_top_k(s, 1));
    ck_assert_profs_ok(profs_lm_generate(lm, c, 10, &nc, prompt, 3, 10, s, NULL, NULL));
    ck_assert_profs_ok(profs_lm_generate(lm, greedy, 10, &ng, prompt, 3, 10, NULL, NULL, NULL));
    ck_assert_uint_eq(nc, ng);
    ck_assert_mem_eq(c, greedy, ng * sizeof(int32_t));
    /* the callback stops generation */
    int calls = 0;
    ck_assert_profs_ok(profs_lm_generate(lm, c, 10, &nc, prompt, 3, 10, NULL, stop_after_3, &calls));
    ck_assert_uint_eq(nc, 3);
    ck_assert_profs_error(profs_sampler_set_top_p(s, 0.0), PROFS_EINVAL, "top-p");
    ck_assert_profs_error(profs_sampler_set_temperature(s, -1), PROFS_EINVAL, "temperature");
    ck_assert_profs_error(profs_lm_generate(lm, c, 10, &nc, prompt, 3, 62, NULL, NULL, NULL), PROFS_EINVAL,
                          "capacity");
    /* the last new token is never fed back: 3 + 62 tokens use positions 0 .. 63 of 64, as in transformers */
    int32_t big[70] = {0};
    ck_assert_profs_ok(profs_lm_generate(lm, big, 70, &nc, prompt, 3, 62, NULL, NULL, NULL));
    ck_assert_uint_ge(nc, 1);
    ck_assert_uint_le(nc, 62);
    ck_assert_profs_error(profs_lm_generate(lm, big, 70, &nc, prompt, 3, 63, NULL, NULL, NULL), PROFS_EINVAL,
                          "exceed the model's 64 positions");
    profs_sampler_free(s);
    profs_lm_free(lm);
    free(p);
}
END_TEST

START_TEST(queries)
{
    char *p = tu_hfgen_fixture(dir, "opt_proj");
    profs_lm *lm = NULL;
    ck_assert_profs_ok(profs_lm_open(&lm, p));
    ck_assert_str_eq(profs_lm_architecture(lm), "opt");
    ck_assert_uint_eq(profs_lm_max_positions(lm), 64);
    ck_assert_uint_eq(profs_lm_vocab_size(lm), 300);
    ck_assert_ptr_nonnull(profs_lm_model(lm));
    ck_assert_profs_error(profs_lm_set_batch_tokens(lm, 0), PROFS_EINVAL, "batch tokens");
    int32_t ids[65] = {0};
    float x[1];
    ck_assert_profs_error(profs_lm_hidden_states(lm, x, ids, 65), PROFS_EINVAL, "exceed the model's 64 positions");
    ck_assert_profs_error(profs_lm_hidden_states(lm, x, ids, 0), PROFS_EINVAL, "empty");
    profs_lm_free(lm);
    profs_lm_free(NULL);
    /* a borrowed store */
    profs_model *m = NULL;
    ck_assert_profs_ok(profs_model_open(&m, p));
    ck_assert_profs_ok(profs_lm_open_model(&lm, m));
    ck_assert_str_eq(profs_lm_architecture(lm), "opt");
    profs_lm_free(lm);
    profs_model_free(m);
    free(p);
}
END_TEST

/* ---- text: tokenisation, pooled texts, collection ---- */

static const char *const pref[] = {"the cat sat on the mat", "a kind word", "thanks, that is very helpful of you",
                                   "we should talk about it calmly and listen to each other"};
static const char *const disp[] = {"go away", "you are an idiot and nobody wants you around here", "shut up",
                                   "what a stupid question"};

static int count_collect(void *ud, const char *stage, uint64_t done, uint64_t total)
{
    uint64_t *last = ud;
    ck_assert_str_eq(stage, "collect");
    ck_assert_uint_eq(total, 8);
    ck_assert_uint_ge(done, *last);
    *last = done;
    return 0;
}

START_TEST(collect_equals_pooling_of_the_tokenised_texts)
{
    const char *name = _i == 0 ? "mistral" : "gpt2";
    char *p = tu_hfgen_fixture(dir, name);
    profs_lm *lm = NULL;
    ck_assert_profs_ok(profs_lm_open(&lm, p));
    ck_assert_ptr_nonnull(profs_lm_tokenizer(lm));
    size_t L = profs_lm_n_layers(lm), D = profs_lm_hidden_size(lm);
    ck_assert_profs_ok(profs_lm_set_max_length(lm, 6));
    ck_assert_profs_ok(profs_lm_set_pool_skip_bos(lm, 1));
    int skip = !strcmp(name, "mistral"); /* its tokenizer adds <s> (id 276) */
    /* the reference: each sentence alone, from its ids */
    float *want = malloc(8 * L * D * sizeof(float));
    for (int i = 0; i < 8; i++) {
        int32_t ids[16];
        size_t n;
        ck_assert_profs_ok(profs_lm_tokenize(lm, ids, 16, &n, i % 2 ? disp[i / 2] : pref[i / 2]));
        ck_assert_uint_eq(n, 6); /* truncated to max length */
        if (skip) ck_assert_int_eq(ids[0], 276);
        const int32_t *pi = ids;
        ck_assert_profs_ok(profs_lm_pool_ids(lm, want + i * L * D, &pi, &n, 1, skip, NULL, NULL));
    }
    for (size_t bt = 1; bt <= 64; bt *= 8) {
        ck_assert_profs_ok(profs_lm_set_batch_tokens(lm, bt));
        profs_collector *c = NULL;
        ck_assert_profs_ok(profs_collector_new(&c, L, D));
        uint64_t last = 0;
        ck_assert_profs_ok(profs_lm_collect(lm, c, pref, disp, 4, count_collect, &last));
        ck_assert_uint_eq(last, 8);
        ck_assert_uint_eq(profs_collector_n_pairs(c), 4);
        for (size_t l = 0; l < L; l++) {
            const float *xp = profs_collector_preferred(c, l), *xd = profs_collector_dispreferred(c, l);
            for (int i = 0; i < 4; i++) {
                ck_assert_msg(tu_rel_err(xp + i * D, want + ((2 * i) * L + l) * D, D) <= 1e-6,
                              "pair %d layer %zu", i, l);
                ck_assert_msg(tu_rel_err(xd + i * D, want + ((2 * i + 1) * L + l) * D, D) <= 1e-6, "pair %d", i);
            }
        }
        profs_collector_free(c);
    }
    float *texts_out = malloc(8 * L * D * sizeof(float));
    const char *texts[8];
    for (int i = 0; i < 8; i++) texts[i] = i % 2 ? disp[i / 2] : pref[i / 2];
    ck_assert_profs_ok(profs_lm_pool_texts(lm, texts_out, texts, 8, NULL, NULL));
    ck_assert_double_le(tu_rel_err(texts_out, want, 8 * L * D), 1e-6);
    /* errors */
    profs_collector *bad = NULL;
    ck_assert_profs_ok(profs_collector_new(&bad, L + 1, D));
    ck_assert_profs_error(profs_lm_collect(lm, bad, pref, disp, 4, NULL, NULL), PROFS_ESHAPE, "collector has 3 layers");
    profs_collector_free(bad);
    ck_assert_profs_ok(profs_collector_new(&bad, L, D));
    const char *empty[] = {"fine", ""};
    if (!skip)
        ck_assert_profs_error(profs_lm_collect(lm, bad, empty, empty + 1, 1, NULL, NULL), PROFS_EINVAL,
                              "sentence 1 has no tokens");
    ck_assert_profs_ok(profs_lm_set_tokenizer(lm, NULL));
    ck_assert_profs_error(profs_lm_collect(lm, bad, pref, disp, 4, NULL, NULL), PROFS_ESTATE, "no tokenizer");
    profs_collector_free(bad);
    free(want);
    free(texts_out);
    profs_lm_free(lm);
    free(p);
}
END_TEST

static int cancel_now(void *ud, const char *stage, uint64_t done, uint64_t total)
{
    (void)ud; (void)stage; (void)done; (void)total;
    return 1;
}

START_TEST(collect_cancels)
{
    char *p = tu_hfgen_fixture(dir, "opt");
    profs_lm *lm = NULL;
    ck_assert_profs_ok(profs_lm_open(&lm, p));
    profs_collector *c = NULL;
    ck_assert_profs_ok(profs_collector_new(&c, 2, 32));
    ck_assert_profs_ok(profs_lm_set_batch_tokens(lm, 1));
    ck_assert_profs_error(profs_lm_collect(lm, c, pref, disp, 4, cancel_now, NULL), PROFS_ECANCELLED, "cancelled");
    ck_assert_uint_eq(profs_collector_n_pairs(c), 0);
    profs_collector_free(c);
    profs_lm_free(lm);
    free(p);
}
END_TEST

/* ---- the command line: profs hidden-states writes what the reference computes ---- */

START_TEST(cli_hidden_states_matches_reference)
{
    const char *bin = getenv("PROFS_BIN");
    if (!bin || !*bin) return; /* built without the tool */
    char *p = tf_dir("gptj");
    profs_model *g = golden("gptj");
    size_t T, nh;
    int32_t *ids = tu_gids(g, "ids.2", &T);
    float *want = tu_gread(g, "hidden.2", &nh);
    char list[512] = "", cmd[4096];
    for (size_t i = 0; i < T; i++)
        snprintf(list + strlen(list), sizeof list - strlen(list), i ? ",%d" : "%d", (int)ids[i]);
    char *out = tu_join(dir, "hs.safetensors");
    snprintf(cmd, sizeof cmd, "'%s' hidden-states --model '%s' --ids %s --out '%s' >/dev/null", bin, p, list, out);
    ck_assert_int_eq(system(cmd), 0);
    profs_model *h = NULL;
    ck_assert_profs_ok(profs_model_open(&h, out));
    int dt;
    size_t nd;
    const int64_t *sh;
    ck_assert_profs_ok(profs_model_tensor_info(h, "hidden_states", &dt, &nd, &sh));
    ck_assert_int_eq(dt, PROFS_DTYPE_F32);
    ck_assert_uint_eq(nd, 3);
    ck_assert_int_eq(sh[0], 3);
    ck_assert_int_eq(sh[1], (int64_t)T);
    ck_assert_int_eq(sh[2], 32);
    float *got = tu_gread(h, "hidden_states", NULL);
    for (size_t l = 0; l < 3; l++)
        ck_assert_double_le(tu_rel_err(got + l * T * 32, want + l * T * 32, T * 32), TOL);
    size_t nt;
    int32_t *back = tu_gids(h, "input_ids", &nt);
    ck_assert_uint_eq(nt, T);
    ck_assert_mem_eq(back, ids, T * sizeof(int32_t));
    free(back);
    free(got);
    profs_model_free(h);
    free(out);
    free(ids);
    free(want);
    profs_model_free(g);
    free(p);
}
END_TEST

/* ---- the command line: profs collect (which tokenises with the tokenizer and
 * pools with profs_lm_pool_ids, to report progress in tokens) gives exactly the
 * embeddings of the library's profs_lm_collect, with and without a BOS token
 * and with truncation ---- */

START_TEST(cli_collect_equals_lm_collect)
{
    const char *bin = getenv("PROFS_BIN");
    if (!bin || !*bin) return; /* built without the tool */
    const char *name = _i == 0 ? "mistral" : "gpt2";
    size_t max_length = _i == 0 ? 128 : 5;
    char *p = tu_hfgen_fixture(dir, name);
    char *pairs = tu_join(dir, "pairs.jsonl"), *out = tu_join(dir, "emb.safetensors");
    FILE *f = fopen(pairs, "w");
    ck_assert_ptr_nonnull(f);
    for (int i = 0; i < 4; i++) fprintf(f, "{\"preferred\": \"%s\", \"dispreferred\": \"%s\"}\n", pref[i], disp[i]);
    fclose(f);
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "'%s' collect --model '%s' --pairs '%s' --out '%s' --max-length %zu --quiet >/dev/null",
             bin, p, pairs, out, max_length);
    ck_assert_int_eq(system(cmd), 0);
    profs_collector *got = NULL, *want = NULL;
    ck_assert_profs_ok(profs_collector_load(&got, out));
    profs_lm *lm = NULL;
    ck_assert_profs_ok(profs_lm_open(&lm, p));
    ck_assert_profs_ok(profs_lm_set_max_length(lm, max_length));
    size_t L = profs_lm_n_layers(lm), D = profs_lm_hidden_size(lm);
    ck_assert_profs_ok(profs_collector_new(&want, L, D));
    ck_assert_profs_ok(profs_lm_collect(lm, want, pref, disp, 4, NULL, NULL));
    ck_assert_uint_eq(profs_collector_n_pairs(got), 4);
    ck_assert_uint_eq(profs_collector_n_layers(got), L);
    ck_assert_uint_eq(profs_collector_dim(got), D);
    for (size_t l = 0; l < L; l++) {
        ck_assert_mem_eq(profs_collector_preferred(got, l), profs_collector_preferred(want, l), 4 * D * sizeof(float));
        ck_assert_mem_eq(profs_collector_dispreferred(got, l), profs_collector_dispreferred(want, l),
                         4 * D * sizeof(float));
    }
    profs_collector_free(got);
    profs_collector_free(want);
    profs_lm_free(lm);
    free(pairs);
    free(out);
    free(p);
}
END_TEST

/* ---- errors of opening ---- */

static void rewrite_config(const char *p, const char *from, const char *to)
{
    char *cfg = tu_join(p, "config.json");
    size_t len;
    char *txt = tu_read_file(cfg, &len);
    ck_assert_ptr_nonnull(txt);
    char *at = strstr(txt, from);
    ck_assert_ptr_nonnull(at);
    size_t out_len = len - strlen(from) + strlen(to);
    char *o = malloc(out_len + 1);
    memcpy(o, txt, (size_t)(at - txt));
    memcpy(o + (at - txt), to, strlen(to));
    memcpy(o + (at - txt) + strlen(to), at + strlen(from), len - (size_t)(at - txt) - strlen(from));
    ck_assert_int_eq(tu_write_file(cfg, o, out_len), 0);
    free(o);
    free(txt);
    free(cfg);
}

START_TEST(missing_tensor_is_named)
{
    char *p = tu_hfgen_fixture(dir, "mistral");
    rewrite_config(p, "\"num_hidden_layers\": 2", "\"num_hidden_layers\": 3");
    profs_lm *lm = NULL;
    ck_assert_profs_error(profs_lm_open(&lm, p), PROFS_ENOTFOUND, "'model.layers.2.input_layernorm.weight'");
    ck_assert_ptr_null(lm);
    free(p);
}
END_TEST

START_TEST(untied_head_must_exist)
{
    char *p = tu_hfgen_fixture(dir, "llama");
    rewrite_config(p, "\"tie_word_embeddings\": true", "\"tie_word_embeddings\": false");
    profs_lm *lm = NULL;
    ck_assert_profs_error(profs_lm_open(&lm, p), PROFS_ENOTFOUND, "'lm_head.weight'");
    free(p);
}
END_TEST

START_TEST(wrong_shape_is_named)
{
    char *p = tu_hfgen_fixture(dir, "gptj");
    rewrite_config(p, "\"n_inner\": null", "\"n_inner\": 64");
    profs_lm *lm = NULL;
    ck_assert_profs_error(profs_lm_open(&lm, p), PROFS_ESHAPE,
                          "'transformer.h.0.mlp.fc_in.weight' has shape [128, 32], config.json implies [64, 32]");
    free(p);
}
END_TEST

START_TEST(unsupported_architecture)
{
    char *p = tu_hfgen_fixture(dir, "gpt2");
    rewrite_config(p, "\"model_type\": \"gpt2\"", "\"model_type\": \"bert\"");
    profs_lm *lm = NULL;
    ck_assert_profs_error(profs_lm_open(&lm, p), PROFS_EUNSUPPORTED, "architecture 'bert' is not supported");
    free(p);
    p = tu_hfgen_fixture(dir, "llama");
    rewrite_config(p, "\"rope_type\": \"llama3\"", "\"rope_type\": \"ntk\"");
    ck_assert_profs_error(profs_lm_open(&lm, p), PROFS_EUNSUPPORTED,
                          "rope_scaling type 'ntk' is not supported (default, linear, llama3, yarn, dynamic, longrope)");
    free(p);
}
END_TEST

START_TEST(unreadable_tokenizer_only_stops_text)
{
    char *p = tu_hfgen_fixture(dir, "gpt2");
    char *tj = tu_join(p, "tokenizer.json");
    ck_assert_int_eq(tu_write_file(tj, "{\"model\": {\"type\": \"Unigram\"}}", 30), 0);
    profs_lm *lm = NULL;
    ck_assert_profs_ok(profs_lm_open(&lm, p));
    ck_assert_ptr_null(profs_lm_tokenizer(lm));
    int32_t ids[] = {1, 2, 3};
    float hs[3 * 3 * 32];
    ck_assert_profs_ok(profs_lm_hidden_states(lm, hs, ids, 3));
    int32_t out[4];
    size_t n;
    ck_assert_profs_error(profs_lm_tokenize(lm, out, 4, &n, "hi"), PROFS_ESTATE, "tokenizer.json");
    profs_lm_free(lm);
    free(tj);
    free(p);
}
END_TEST

START_TEST(bad_config)
{
    char *p = tu_hfgen_fixture(dir, "opt");
    rewrite_config(p, "\"hidden_size\": 32,", "");
    profs_lm *lm = NULL;
    ck_assert_profs_error(profs_lm_open(&lm, p), PROFS_EFORMAT, "missing integer field 'hidden_size'");
    free(p);
    p = tu_hfgen_fixture(dir, "gpt2_bf16");
    rewrite_config(p, "\"n_head\": 4", "\"n_head\": \"four\"");
    ck_assert_profs_error(profs_lm_open(&lm, p), PROFS_EFORMAT, "'n_head' is not an integer");
    free(p);
    p = tu_hfgen_fixture(dir, "mistral_bf16");
    rewrite_config(p, "\"num_key_value_heads\": 2", "\"num_key_value_heads\": 3");
    ck_assert_profs_error(profs_lm_open(&lm, p), PROFS_EFORMAT, "not a multiple of 3 key/value heads");
    free(p);
}
END_TEST

/* Config fields read as transformers reads them. */
START_TEST(config_follows_transformers)
{
    profs_lm *lm = NULL;
    /* GPT-J rotary_dim: None rotates with an n_embd-wide table, which transformers only
     * applies with one head; absent means GPTJConfig's 64 (over head_dim 8 here); odd is refused */
    char *p = tu_hfgen_fixture(dir, "gptj");
    rewrite_config(p, "\"rotary_dim\": 4", "\"rotary_dim\": null");
    ck_assert_profs_error(profs_lm_open(&lm, p), PROFS_EUNSUPPORTED, "only works with one head");
    free(p);
    p = tu_hfgen_fixture(dir, "gptj");
    rewrite_config(p, "\"rotary_dim\": 4,", "");
    ck_assert_profs_error(profs_lm_open(&lm, p), PROFS_EFORMAT, "rotary_dim 64 must be even, positive and at most "
                                                                "head_dim 8");
    free(p);
    p = tu_hfgen_fixture(dir, "gptj");
    rewrite_config(p, "\"rotary_dim\": 4", "\"rotary_dim\": 3");
    ck_assert_profs_error(profs_lm_open(&lm, p), PROFS_EFORMAT, "rotary_dim 3");
    free(p);

    /* transformers 5 configs keep rope_theta and the llama3 scaling in rope_parameters */
    {
        char *a = tu_hfgen_fixture(dir, "llama");
        char *v5 = tu_join(dir, "llama_v5");
        ck_assert_int_eq(hfgen_write(v5, hfgen_fixture("llama")), 0);
        rewrite_config(v5, "\"rope_theta\": 500000.0, ", "");
        rewrite_config(v5, "\"rope_scaling\": {\"factor\"", "\"rope_parameters\": {\"rope_theta\": 500000.0, \"factor\"");
        profs_lm *la = NULL, *lb = NULL;
        ck_assert_profs_ok(profs_lm_open(&la, a));
        ck_assert_profs_ok(profs_lm_open(&lb, v5));
        int32_t ids[40];
        for (int i = 0; i < 40; i++) ids[i] = (i * 37 + 11) % 300;
        float *ha = malloc(3 * 40 * 32 * sizeof(float)), *hb = malloc(3 * 40 * 32 * sizeof(float));
        ck_assert_profs_ok(profs_lm_hidden_states(la, ha, ids, 40));
        ck_assert_profs_ok(profs_lm_hidden_states(lb, hb, ids, 40));
        ck_assert_mem_eq(ha, hb, 3 * 40 * 32 * sizeof(float));
        free(ha);
        free(hb);
        profs_lm_free(la);
        profs_lm_free(lb);
        free(a);
        free(v5);
    }

    /* Mistral has no attention_bias / mlp_bias: the fields are ignored (no bias tensor asked for) */
    p = tu_hfgen_fixture(dir, "mistral");
    rewrite_config(p, "\"hidden_act\": \"silu\",", "\"hidden_act\": \"silu\", \"attention_bias\": true, "
                                                   "\"mlp_bias\": true,");
    ck_assert_profs_ok(profs_lm_open(&lm, p));
    profs_lm_free(lm);
    lm = NULL;
    free(p);

    /* GPT-J with tie_word_embeddings: the head shares wte's weight and keeps lm_head.bias */
    p = tu_hfgen_fixture(dir, "gptj");
    rewrite_config(p, "\"tie_word_embeddings\": false", "\"tie_word_embeddings\": true");
    ck_assert_profs_ok(profs_lm_open(&lm, p));
    size_t L = profs_lm_n_layers(lm), D = profs_lm_hidden_size(lm), V = profs_lm_vocab_size(lm);
    int32_t ids[] = {7, 123, 42};
    float *hs = malloc((L + 1) * 3 * D * sizeof(float)), *logits = malloc(3 * V * sizeof(float));
    float *wte = malloc(V * D * sizeof(float)), bias[300], lnw[32], lnb[32];
    ck_assert_profs_ok(profs_lm_hidden_states(lm, hs, ids, 3));
    ck_assert_profs_ok(profs_lm_logits(lm, logits, ids, 3));
    profs_model *m = profs_lm_model(lm);
    ck_assert_profs_ok(profs_model_read_f32(m, "transformer.wte.weight", wte, V * D));
    ck_assert_profs_ok(profs_model_read_f32(m, "lm_head.bias", bias, V));
    ck_assert_profs_ok(profs_model_read_f32(m, "transformer.ln_f.weight", lnw, D));
    ck_assert_profs_ok(profs_model_read_f32(m, "transformer.ln_f.bias", lnb, D));
    const float *x = hs + (L * 3 + 2) * D; /* last block, last token */
    double mean = 0, var = 0, f[32];
    for (size_t i = 0; i < D; i++) mean += x[i] / (double)D;
    for (size_t i = 0; i < D; i++) var += (x[i] - mean) * (x[i] - mean) / (double)D;
    for (size_t i = 0; i < D; i++) f[i] = (x[i] - mean) / sqrt(var + 1e-5) * lnw[i] + lnb[i];
    for (size_t v = 0; v < V; v++) {
        double z = bias[v];
        for (size_t i = 0; i < D; i++) z += f[i] * wte[v * D + i];
        ck_assert_msg(fabs(z - logits[2 * V + v]) <= 1e-4 * (1 + fabs(z)), "logit %zu: %g vs %g", v,
                      logits[2 * V + v], z);
    }
    free(hs);
    free(logits);
    free(wte);
    profs_lm_free(lm);
    free(p);
}
END_TEST

/* ---- config values validated before any allocation, each naming its key ---- */

/* Copy the committed checkpoint directory tf/<name> (flat) to dir/<as>; caller frees. */
static char *tf_copy(const char *name, const char *as)
{
    char *src = tf_dir(name), *dst = tu_join(dir, as);
    ck_assert_int_eq(mkdir(dst, 0755), 0);
    DIR *d = opendir(src);
    ck_assert_ptr_nonnull(d);
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char *a = tu_join(src, e->d_name), *b = tu_join(dst, e->d_name);
        size_t n;
        void *buf = tu_read_file(a, &n);
        ck_assert_ptr_nonnull(buf);
        ck_assert_int_eq(tu_write_file(b, buf, n), 0);
        free(buf);
        free(a);
        free(b);
    }
    closedir(d);
    free(src);
    return dst;
}

static void open_fails(const char *fx, const char *from, const char *to, int code, const char *msg)
{
    char *p = tu_hfgen_fixture(dir, fx);
    rewrite_config(p, from, to);
    profs_lm *lm = NULL;
    ck_assert_profs_error(profs_lm_open(&lm, p), code, msg);
    ck_assert_ptr_null(lm);
    free(p);
}

START_TEST(huge_head_dim_is_refused)
{
    /* before the rope tables (head_dim / 2 floats) are allocated */
    open_fails("mistral", "\"head_dim\": null", "\"head_dim\": 1000000000", PROFS_EFORMAT,
               "field 'head_dim' = 1000000000 is out of range (1 to 4096)");
}
END_TEST

START_TEST(zero_head_dim_is_refused)
{
    open_fails("mistral", "\"head_dim\": null", "\"head_dim\": 0", PROFS_EFORMAT, "field 'head_dim' = 0 is out of range");
}
END_TEST

START_TEST(huge_layer_count_fails_fast)
{
    open_fails("mistral", "\"num_hidden_layers\": 2", "\"num_hidden_layers\": 1000000", PROFS_EFORMAT,
               "field 'num_hidden_layers' = 1000000 is out of range (1 to 1024)");
    /* within the limit but beyond the checkpoint: the last layer's tensor is named before the table exists */
    open_fails("mistral", "\"num_hidden_layers\": 2", "\"num_hidden_layers\": 1000", PROFS_ENOTFOUND,
               "lacks tensor 'model.layers.999.input_layernorm.weight'");
}
END_TEST

START_TEST(zero_heads_is_a_config_error)
{
    open_fails("gpt2", "\"n_head\": 4", "\"n_head\": 0", PROFS_EFORMAT, "field 'n_head' = 0 is out of range");
    open_fails("mistral", "\"num_key_value_heads\": 2", "\"num_key_value_heads\": 0", PROFS_EFORMAT,
               "field 'num_key_value_heads' = 0 is out of range");
}
END_TEST

START_TEST(non_positive_sliding_window_is_refused)
{
    open_fails("mistral", "\"sliding_window\": 5", "\"sliding_window\": 0", PROFS_EFORMAT,
               "field 'sliding_window' = 0 must be positive (null for none)");
    open_fails("mistral", "\"sliding_window\": 5", "\"sliding_window\": -4", PROFS_EFORMAT,
               "field 'sliding_window' = -4 must be positive");
}
END_TEST

START_TEST(negative_norm_epsilon_is_refused)
{
    open_fails("mistral", "\"rms_norm_eps\": 1e-06", "\"rms_norm_eps\": -1e-06", PROFS_EFORMAT,
               "field 'rms_norm_eps' = -1e-06 must be a finite number >= 0");
    open_fails("gpt2", "\"layer_norm_epsilon\": 1e-05", "\"layer_norm_epsilon\": -1e-05", PROFS_EFORMAT,
               "field 'layer_norm_epsilon' = -1e-05 must be a finite number >= 0");
}
END_TEST

START_TEST(special_ids_outside_the_vocabulary_are_refused)
{
    open_fails("mistral", "\"bos_token_id\": ", "\"bos_token_id\": 300, \"x_bos\": ", PROFS_EFORMAT,
               "field 'bos_token_id' = 300 is outside the vocabulary [0, 300)");
    open_fails("gpt2", "\"eos_token_id\": ", "\"eos_token_id\": -1, \"x_eos\": ", PROFS_EFORMAT,
               "field 'eos_token_id' = -1 is outside the vocabulary [0, 300)");
    open_fails("mistral", "\"eos_token_id\": ", "\"eos_token_id\": [2, 301], \"x_eos\": ", PROFS_EFORMAT,
               "field 'eos_token_id[1]' = 301 is outside the vocabulary");
}
END_TEST

/* A feature value the runtime does not implement is refused, naming file, key and the supported values. */
START_TEST(unsupported_feature_values_are_refused)
{
    open_fails("gpt2", "\"activation_function\": \"gelu_new\"", "\"activation_function\": \"mish\"",
               PROFS_EUNSUPPORTED, "config.json: activation_function 'mish' is not supported (gelu_new, ");
    char *q = tf_copy("gemma2", "gemma2_bidir");
    rewrite_config(q, "\"use_bidirectional_attention\": null", "\"use_bidirectional_attention\": true");
    profs_lm *lm = NULL;
    ck_assert_profs_error(profs_lm_open(&lm, q), PROFS_EUNSUPPORTED,
                          "config.json: use_bidirectional_attention true is not supported (false)");
    free(q);
    q = tf_copy("gemma3_text", "gemma3_types");
    rewrite_config(q, "\"full_attention\"\n", "\"chunked_attention\"\n");
    ck_assert_profs_error(profs_lm_open(&lm, q), PROFS_EUNSUPPORTED,
                          "layer_types[1] 'chunked_attention' is not supported (sliding_attention, full_attention)");
    free(q);
}
END_TEST

/* ---- ProFS where the MLP output passes through a norm (Gemma-2/3, docs/core.md) ---- */

static int zero_tensor(void *ud, const char *name, float *data, size_t ndim, const int64_t *shape)
{
    (void)ud; (void)name;
    size_t n = 1;
    for (size_t i = 0; i < ndim; i++) n *= (size_t)shape[i];
    memset(data, 0, n * sizeof(float));
    return 0;
}

struct naive_ctx { const float *basis; size_t rank, dim; };

static int naive_project(void *ud, const char *name, float *data, size_t ndim, const int64_t *shape)
{
    (void)name; (void)ndim;
    const struct naive_ctx *c = ud;
    double d;
    return profs_project_f32(&d, data, (size_t)shape[0], (size_t)shape[1], PROFS_LAYOUT_D_FIRST, c->basis, c->rank,
                             c->dim);
}

/* hidden state after block `layer` of the model in directory p for ids (T) into out (T, D) */
static void block_output(const char *p, const int32_t *ids, size_t T, size_t layer, float *out)
{
    profs_lm *lm = NULL;
    ck_assert_profs_ok(profs_lm_open(&lm, p));
    size_t L = profs_lm_n_layers(lm), D = profs_lm_hidden_size(lm);
    float *hs = malloc((L + 1) * T * D * sizeof(float));
    ck_assert_profs_ok(profs_lm_hidden_states(lm, hs, ids, T));
    memcpy(out, hs + (layer + 1) * T * D, T * D * sizeof(float));
    free(hs);
    profs_lm_free(lm);
}

/* ||V^T M^T|| / ||M|| for M (T, D) rows and V (R, D) */
static double span_share(const float *M, size_t T, const float *V, size_t R, size_t D)
{
    double num = 0, den = 0;
    for (size_t t = 0; t < T; t++)
        for (size_t r = 0; r < R; r++) {
            double d = 0;
            for (size_t i = 0; i < D; i++) d += (double)V[r * D + i] * M[t * D + i];
            num += d * d;
        }
    for (size_t i = 0; i < T * D; i++) den += (double)M[i] * M[i];
    return sqrt(num / den);
}

/* What the edited MLP writes into the residual stream, g * y / rms(y), has no component in
 * span(V) (to 1e-5 relative) through the runtime; the plain projection of W would leave one. */
static void check_post_norm_edit(const char *fx)
{
    const size_t D = 32, R = 3, layer = 1, T = 12;
    float V[3 * 32];
    uint64_t st = 12345;
    for (size_t r = 0; r < R; r++) {
        for (size_t i = 0; i < D; i++) {
            st = st * 6364136223846793005ull + 1442695040888963407ull;
            V[r * D + i] = (float)((double)(st >> 11) / 9007199254740992.0 - 0.5);
        }
        for (int pass = 0; pass < 2; pass++)
            for (size_t q = 0; q < r; q++) {
                double d = 0;
                for (size_t i = 0; i < D; i++) d += (double)V[q * D + i] * V[r * D + i];
                for (size_t i = 0; i < D; i++) V[r * D + i] -= (float)(d * V[q * D + i]);
            }
        double n = 0;
        for (size_t i = 0; i < D; i++) n += (double)V[r * D + i] * V[r * D + i];
        for (size_t i = 0; i < D; i++) V[r * D + i] = (float)(V[r * D + i] / sqrt(n));
    }
    char *src = tf_dir(fx), name[128], sub[64];
    const char *prefix = !strcmp(fx, "gemma3_cg") ? "language_model.model." : "model.";
    snprintf(name, sizeof name, "%slayers.%zu.mlp.down_proj.weight", prefix, layer);
    /* the edit through profs_edit_apply: post-norm aware */
    profs_edit *e = NULL;
    profs_subspace *s = NULL;
    ck_assert_profs_ok(profs_edit_new(&e, D));
    ck_assert_profs_ok(profs_subspace_from_basis(&s, V, R, D));
    ck_assert_profs_ok(profs_edit_add(e, layer, s));
    profs_model *m = NULL;
    ck_assert_profs_ok(profs_model_open(&m, src));
    profs_edit_report *rep = NULL;
    ck_assert_profs_ok(profs_edit_apply(&rep, e, m, PROFS_TARGET_VALUE));
    ck_assert_uint_eq(profs_edit_report_count(rep), 1);
    ck_assert_str_eq(profs_edit_report_name(rep, 0), name);
    ck_assert_int_eq(profs_edit_report_post_norm(rep, 0), 1);
    snprintf(sub, sizeof sub, "%s_edit", fx);
    char *pe = tu_join(dir, sub);
    ck_assert_profs_ok(profs_model_save(m, pe, NULL, NULL));
    profs_edit_report_free(rep);
    profs_model_free(m);
    /* the same layer with its MLP silenced (down_proj = 0: the normed output is 0) and plainly projected */
    ck_assert_profs_ok(profs_model_open(&m, src));
    ck_assert_profs_ok(profs_model_stage_transform(m, name, zero_tensor, NULL));
    snprintf(sub, sizeof sub, "%s_zero", fx);
    char *pz = tu_join(dir, sub);
    ck_assert_profs_ok(profs_model_save(m, pz, NULL, NULL));
    profs_model_free(m);
    struct naive_ctx nc = {V, R, D};
    ck_assert_profs_ok(profs_model_open(&m, src));
    ck_assert_profs_ok(profs_model_stage_transform(m, name, naive_project, &nc));
    snprintf(sub, sizeof sub, "%s_naive", fx);
    char *pn = tu_join(dir, sub);
    ck_assert_profs_ok(profs_model_save(m, pn, NULL, NULL));
    profs_model_free(m);
    int32_t ids[12];
    for (size_t t = 0; t < T; t++) ids[t] = (int32_t)((t * 53 + 7) % 300);
    float *he = malloc(T * D * sizeof(float)), *hz = malloc(T * D * sizeof(float)), *hn = malloc(T * D * sizeof(float));
    block_output(pe, ids, T, layer, he);
    block_output(pz, ids, T, layer, hz);
    block_output(pn, ids, T, layer, hn);
    for (size_t i = 0; i < T * D; i++) { he[i] -= hz[i]; hn[i] -= hz[i]; } /* the MLP's contribution */
    double edited = span_share(he, T, V, R, D), naive = span_share(hn, T, V, R, D);
    printf("%s post-norm aware edit: span(V) share of the MLP output %.3g (plain projection %.3g)\n", fx, edited,
           naive);
    ck_assert_msg(edited <= 1e-5, "%s: the edited MLP still writes %g of its output into span(V)", fx, edited);
    ck_assert_msg(naive > 1e-2, "%s: the plain projection leaves only %g (the test would not tell)", fx, naive);
    free(he);
    free(hz);
    free(hn);
    free(pe);
    free(pz);
    free(pn);
    free(src);
    profs_subspace_free(s);
    profs_edit_free(e);
}

START_TEST(post_norm_aware_edit_removes_span_from_the_output)
{
    static const char *const fx[] = {"gemma2", "gemma3_text", "gemma3_cg"};
    check_post_norm_edit(fx[_i]);
}
END_TEST

/* Apply edit file `ep` to the gemma2 fixture, save it into dir/sub, and return the edited down_proj of
 * layer 1 (malloc'd, *nb bytes); the report must mark it post-norm aware. */
static void *apply_file_to_gemma2(const char *ep, const char *sub, uint64_t *nb)
{
    const char *name = "model.layers.1.mlp.down_proj.weight";
    char *src = tf_dir("gemma2"), *out = tu_join(dir, sub);
    profs_edit *e = NULL;
    ck_assert_profs_ok(profs_edit_load(&e, ep));
    profs_model *m = NULL;
    ck_assert_profs_ok(profs_model_open(&m, src));
    profs_edit_report *rep = NULL;
    ck_assert_profs_ok(profs_edit_apply(&rep, e, m, PROFS_TARGET_VALUE));
    ck_assert_uint_eq(profs_edit_report_count(rep), 1);
    ck_assert_int_eq(profs_edit_report_post_norm(rep, 0), 1);
    ck_assert_profs_ok(profs_model_save(m, out, NULL, NULL));
    profs_edit_report_free(rep);
    profs_model_free(m);
    profs_edit_free(e);
    ck_assert_profs_ok(profs_model_open(&m, out));
    const void *d;
    ck_assert_profs_ok(profs_model_tensor_data(m, name, &d, nb));
    void *copy = malloc(*nb);
    memcpy(copy, d, *nb);
    profs_model_free(m);
    free(out);
    free(src);
    return copy;
}

/* Copy edit file `from` to `to` with metadata `key` set to `value` (NULL: dropped). */
static void rewrite_edit_meta(const char *from, const char *to, const char *key, const char *value)
{
    profs_model *m = NULL;
    ck_assert_profs_ok(profs_model_open(&m, from));
    size_t nt = profs_model_tensor_count(m), nm = profs_model_metadata_count(m), k = 0;
    const char *names[8], *keys[64], *vals[64];
    int dt[8];
    size_t nd[8];
    const int64_t *sh[8];
    const void *data[8];
    ck_assert_uint_le(nt, 8);
    ck_assert_uint_le(nm, 63);
    for (size_t i = 0; i < nt; i++) {
        uint64_t nb;
        names[i] = profs_model_tensor_name(m, i);
        ck_assert_profs_ok(profs_model_tensor_info(m, names[i], &dt[i], &nd[i], &sh[i]));
        ck_assert_profs_ok(profs_model_tensor_data(m, names[i], &data[i], &nb));
    }
    int found = 0;
    for (size_t i = 0; i < nm; i++) {
        const char *mk = profs_model_metadata_key(m, i);
        if (!strcmp(mk, key)) {
            found = 1;
            if (!value) continue;
        }
        keys[k] = mk;
        vals[k++] = !strcmp(mk, key) ? value : profs_model_metadata(m, mk);
    }
    if (!found && value) { keys[k] = key; vals[k++] = value; }
    ck_assert_profs_ok(profs_safetensors_write(to, nt, names, dt, nd, sh, data, k, keys, vals));
    profs_model_free(m);
}

/* The edit file records the projection of every layer's value matrix (layers.{l}.value_projection);
 * `profs apply` of such a file on the Gemma-2 checkpoint gives bit-identical tensors to the edit
 * applied where it was estimated (as `profs edit` does), also for a file without the key; a file
 * whose record contradicts its architecture or the model is refused. */
START_TEST(edit_file_records_the_post_norm_projection)
{
    const size_t D = 32;
    float V[2 * 32] = {0};
    V[3] = 0.6f;
    V[17] = 0.8f;
    V[32 + 5] = 1.0f;
    char *src = tf_dir("gemma2"), *ep = tu_join(dir, "pn_edit.safetensors");
    profs_edit *e = NULL;
    profs_subspace *s = NULL;
    ck_assert_profs_ok(profs_edit_new(&e, D));
    ck_assert_profs_ok(profs_subspace_from_basis(&s, V, 2, D));
    ck_assert_profs_ok(profs_edit_add(e, 1, s));
    ck_assert_profs_ok(profs_edit_set_architecture(e, "gemma2"));
    /* what profs edit does: apply the edit in memory, write the model and the edit file */
    profs_model *m = NULL;
    ck_assert_profs_ok(profs_model_open(&m, src));
    profs_edit_report *rep = NULL;
    ck_assert_profs_ok(profs_edit_apply(&rep, e, m, PROFS_TARGET_VALUE));
    ck_assert_int_eq(profs_edit_report_post_norm(rep, 0), 1);
    char *direct = tu_join(dir, "pn_direct");
    ck_assert_profs_ok(profs_model_save(m, direct, NULL, NULL));
    profs_edit_report_free(rep);
    profs_model_free(m);
    ck_assert_profs_ok(profs_edit_save(e, ep));
    ck_assert_profs_ok(profs_model_open(&m, ep));
    ck_assert_str_eq(profs_model_metadata(m, "layers.1.value_projection"), "post-norm aware");
    profs_model_free(m);
    ck_assert_profs_ok(profs_model_open(&m, direct));
    const void *d;
    uint64_t nb, nb2, nb3;
    ck_assert_profs_ok(profs_model_tensor_data(m, "model.layers.1.mlp.down_proj.weight", &d, &nb));
    /* profs apply: load the file, apply it to a fresh store */
    void *applied = apply_file_to_gemma2(ep, "pn_applied", &nb2);
    ck_assert_uint_eq(nb2, nb);
    ck_assert_int_eq(memcmp(applied, d, nb), 0);
    /* a file written before the key existed: the family decides, the same tensor */
    char *old = tu_join(dir, "pn_old.safetensors");
    rewrite_edit_meta(ep, old, "layers.1.value_projection", NULL);
    profs_model *om = NULL;
    ck_assert_profs_ok(profs_model_open(&om, old));
    ck_assert_ptr_null(profs_model_metadata(om, "layers.1.value_projection"));
    profs_model_free(om);
    void *from_old = apply_file_to_gemma2(old, "pn_old_applied", &nb3);
    ck_assert_uint_eq(nb3, nb);
    ck_assert_int_eq(memcmp(from_old, d, nb), 0);
    profs_model_free(m);
    free(applied);
    free(from_old);
    /* ... and re-saved, it records the key again (its architecture is gemma2) */
    profs_edit *back = NULL;
    ck_assert_profs_ok(profs_edit_load(&back, old));
    char *resaved = tu_join(dir, "pn_resaved.safetensors");
    ck_assert_profs_ok(profs_edit_save(back, resaved));
    profs_edit_free(back);
    ck_assert_profs_ok(profs_model_open(&m, resaved));
    ck_assert_str_eq(profs_model_metadata(m, "layers.1.value_projection"), "post-norm aware");
    profs_model_free(m);
    /* without an architecture, the loaded record is kept through a save */
    char *noarch = tu_join(dir, "pn_noarch.safetensors"), *noarch2 = tu_join(dir, "pn_noarch2.safetensors");
    rewrite_edit_meta(ep, noarch, "architecture", NULL);
    ck_assert_profs_ok(profs_edit_load(&back, noarch));
    ck_assert_ptr_null(profs_edit_architecture(back));
    ck_assert_profs_ok(profs_edit_save(back, noarch2));
    profs_edit_free(back);
    ck_assert_profs_ok(profs_model_open(&m, noarch2));
    ck_assert_str_eq(profs_model_metadata(m, "layers.1.value_projection"), "post-norm aware");
    profs_model_free(m);
    /* an edit of a family with plain value projections records "plain" and is refused on gemma2 */
    char *plain = tu_join(dir, "plain_edit.safetensors");
    ck_assert_profs_ok(profs_edit_set_architecture(e, "llama"));
    ck_assert_profs_ok(profs_edit_save(e, plain));
    ck_assert_profs_ok(profs_model_open(&m, plain));
    ck_assert_str_eq(profs_model_metadata(m, "layers.1.value_projection"), "plain");
    profs_model_free(m);
    ck_assert_profs_ok(profs_edit_load(&back, plain));
    ck_assert_profs_ok(profs_model_open(&m, src));
    ck_assert_profs_error(profs_edit_apply(&rep, back, m, PROFS_TARGET_VALUE), PROFS_EUNSUPPORTED,
                          "the edit records a plain projection of layer 1's value matrix (edit architecture 'llama'), "
                          "but this gemma2 model needs a post-norm aware one");
    /* keys alone are projected plainly everywhere: allowed */
    ck_assert_profs_ok(profs_edit_apply(&rep, back, m, PROFS_TARGET_KEY));
    ck_assert_int_eq(profs_edit_report_post_norm(rep, 0), 0);
    profs_edit_report_free(rep);
    profs_model_free(m);
    profs_edit_free(back);
    /* a post-norm aware record on a model without the norm (the llama fixture, same width) is refused */
    char *llama = tf_dir("llama");
    ck_assert_profs_ok(profs_edit_load(&back, noarch));
    ck_assert_profs_ok(profs_model_open(&m, llama));
    ck_assert_profs_error(profs_edit_apply(&rep, back, m, PROFS_TARGET_VALUE), PROFS_EUNSUPPORTED,
                          "the edit records a post-norm aware projection of layer 1's value matrix (edit architecture "
                          "'unknown'), but this llama model needs a plain one");
    profs_model_free(m);
    profs_edit_free(back);
    /* malformed records */
    char *bad = tu_join(dir, "pn_bad.safetensors");
    rewrite_edit_meta(ep, bad, "layers.1.value_projection", "sideways");
    ck_assert_profs_error(profs_edit_load(&back, bad), PROFS_EFORMAT,
                          "pn_bad.safetensors: metadata 'layers.1.value_projection' = 'sideways' is not a projection "
                          "(expected 'plain' or 'post-norm aware')");
    rewrite_edit_meta(ep, bad, "layers.1.value_projection", "plain");
    ck_assert_profs_error(profs_edit_load(&back, bad), PROFS_EFORMAT,
                          "metadata 'layers.1.value_projection' = 'plain', but architecture 'gemma2' projects its value "
                          "matrices post-norm aware");
    free(bad);
    free(llama);
    free(plain);
    free(noarch);
    free(noarch2);
    free(resaved);
    free(old);
    free(direct);
    free(ep);
    free(src);
    profs_subspace_free(s);
    profs_edit_free(e);
}
END_TEST

/* The edit picks its targets by role from the architecture table: Phi-3's key matrix is its fused
 * gate_up_proj (both row blocks, edited once), the value matrix down_proj; Qwen3 has two keys. */
START_TEST(edit_targets_come_from_the_table)
{
    static const struct { const char *fx, *value, *key0, *key1; } want[] = {
        {"phi3", "model.layers.1.mlp.down_proj.weight", "model.layers.1.mlp.gate_up_proj.weight", NULL},
        {"qwen3", "model.layers.1.mlp.down_proj.weight", "model.layers.1.mlp.gate_proj.weight",
         "model.layers.1.mlp.up_proj.weight"},
        {"gemma3_cg", "language_model.model.layers.1.mlp.down_proj.weight",
         "language_model.model.layers.1.mlp.gate_proj.weight", "language_model.model.layers.1.mlp.up_proj.weight"},
        {"opt_noaffine", "model.decoder.layers.1.fc2.weight", "model.decoder.layers.1.fc1.weight", NULL},
    };
    for (size_t k = 0; k < sizeof want / sizeof *want; k++) {
        char *p = tf_dir(want[k].fx);
        profs_model *m = NULL;
        ck_assert_profs_ok(profs_model_open(&m, p));
        profs_edit *e = NULL;
        profs_subspace *s = NULL;
        float v[64] = {0};
        v[3] = 1.0f;
        ck_assert_profs_ok(profs_edit_new(&e, 32));
        ck_assert_profs_ok(profs_subspace_from_basis(&s, v, 1, 32));
        ck_assert_profs_ok(profs_edit_add(e, 1, s));
        profs_edit_report *r = NULL;
        ck_assert_profs_ok(profs_edit_apply(&r, e, m, PROFS_TARGET_BOTH));
        size_t n = want[k].key1 ? 3 : 2;
        ck_assert_uint_eq(profs_edit_report_count(r), n);
        ck_assert_str_eq(profs_edit_report_name(r, 0), want[k].value);
        ck_assert_int_eq(profs_edit_report_role(r, 0), PROFS_TARGET_VALUE);
        ck_assert_str_eq(profs_edit_report_name(r, 1), want[k].key0);
        ck_assert_int_eq(profs_edit_report_role(r, 1), PROFS_TARGET_KEY);
        if (want[k].key1) ck_assert_str_eq(profs_edit_report_name(r, 2), want[k].key1);
        ck_assert_int_eq(profs_edit_report_post_norm(r, 0), !strcmp(want[k].fx, "gemma3_cg"));
        ck_assert_int_eq(profs_edit_report_post_norm(r, 1), 0);
        profs_edit_report_free(r);
        profs_subspace_free(s);
        profs_edit_free(e);
        profs_model_free(m);
        free(p);
    }
}
END_TEST

/* The tool's defaults come from the table through the public queries. */
START_TEST(arch_queries)
{
    size_t first = 99;
    ck_assert_profs_ok(profs_arch_default_first_layer(&first, "gpt2", 24));
    ck_assert_uint_eq(first, 10);
    ck_assert_profs_ok(profs_arch_default_first_layer(&first, "qwen3", 36));
    ck_assert_uint_eq(first, 16); /* floor(36 * 15 / 32) */
    ck_assert_profs_ok(profs_arch_default_first_layer(&first, NULL, 32));
    ck_assert_uint_eq(first, 15);
    ck_assert_profs_ok(profs_arch_default_first_layer(&first, "gemma2", 1));
    ck_assert_uint_eq(first, 0);
    ck_assert_profs_error(profs_arch_default_first_layer(&first, "bert", 12), PROFS_EUNSUPPORTED,
                          "architecture 'bert' is not supported (supported: gpt2, ");
    ck_assert_profs_error(profs_arch_default_first_layer(NULL, "gpt2", 12), PROFS_EINVAL, "NULL");
    static const struct { const char *fx, *name; } un[] = {
        {"gpt2", "wte.weight"}, {"qwen2", "model.embed_tokens.weight"}, {"qwen3", "lm_head.weight"},
        {"gemma3_cg", "language_model.model.embed_tokens.weight"}, {"opt_nobias", "lm_head.weight"},
        {"opt", "model.decoder.embed_tokens.weight"},
    };
    for (size_t k = 0; k < sizeof un / sizeof *un; k++) {
        char *p = tf_dir(un[k].fx);
        profs_model *m = NULL;
        ck_assert_profs_ok(profs_model_open(&m, p));
        char buf[128];
        ck_assert_profs_ok(profs_arch_unembedding(buf, sizeof buf, m));
        ck_assert_str_eq(buf, un[k].name);
        ck_assert_profs_error(profs_arch_unembedding(buf, 4, m), PROFS_EINVAL, "too few");
        profs_model_free(m);
        free(p);
    }
}
END_TEST

/* Gemma's embedding scale is sqrt(hidden) rounded to the embedding's dtype, as transformers'
 * embed_scale.to(weight.dtype) / normalizer in the model's dtype: sqrt(32) = 5.65685 is 5.65625 in BF16. */
START_TEST(gemma_embedding_scale_is_rounded_to_the_dtype)
{
    static const int dts[] = {PROFS_DTYPE_F32, PROFS_DTYPE_BF16};
    for (int k = 0; k < 2; k++) {
        hfgen_spec sp = {.arch = "gemma2", .layers = 1, .dim = 32, .heads = 2, .kv_heads = 1, .head_dim = 16,
                         .ffn = 64, .vocab = 300, .max_pos = 64, .window = 4, .tied = 1, .dtype = dts[k], .seed = 9};
        char *p = tu_join(dir, k ? "gemma2_scale_bf16" : "gemma2_scale_f32");
        ck_assert_int_eq(hfgen_write(p, &sp), 0);
        profs_lm *lm = NULL;
        ck_assert_profs_ok(profs_lm_open(&lm, p));
        int32_t ids[2] = {5, 77};
        float hs[2 * 2 * 32], emb[32];
        ck_assert_profs_ok(profs_lm_hidden_states(lm, hs, ids, 2));
        float *all = malloc(300 * 32 * sizeof(float));
        ck_assert_profs_ok(profs_model_read_f32(profs_lm_model(lm), "model.embed_tokens.weight", all, 300 * 32));
        memcpy(emb, all + 77 * 32, sizeof emb);
        float scale = k ? 5.65625f : sqrtf(32.0f);
        for (int i = 0; i < 32; i++)
            ck_assert_msg(hs[32 + i] == emb[i] * scale, "%s: element %d: %g, want %g x %g", k ? "BF16" : "F32", i,
                          hs[32 + i], emb[i], scale);
        free(all);
        profs_lm_free(lm);
        free(p);
    }
}
END_TEST

/* Gemma-3 configs as transformers 4 wrote them (rope_theta, rope_local_base_freq, rope_scaling) run
 * exactly as transformers 5's rope_parameters.{sliding_attention, full_attention}. */
START_TEST(gemma3_v4_rope_config)
{
    char *a = tf_dir("gemma3_text"), *b = tf_copy("gemma3_text", "gemma3_v4");
    rewrite_config(b, "\"rope_parameters\": {\n    \"full_attention\": {\n      \"factor\": 4.0,\n"
                      "      \"rope_theta\": 1000000.0,\n      \"rope_type\": \"linear\"\n    },\n"
                      "    \"sliding_attention\": {\n      \"rope_theta\": 10000.0,\n      \"rope_type\": \"default\"\n"
                      "    }\n  },",
                   "\"rope_theta\": 1000000.0, \"rope_local_base_freq\": 10000.0,\n"
                   "  \"rope_scaling\": {\"rope_type\": \"linear\", \"factor\": 4.0},");
    profs_lm *la = NULL, *lb = NULL;
    ck_assert_profs_ok(profs_lm_open(&la, a));
    ck_assert_profs_ok(profs_lm_open(&lb, b));
    int32_t ids[40];
    for (int i = 0; i < 40; i++) ids[i] = (i * 37 + 11) % 300;
    float *ha = malloc(3 * 40 * 32 * sizeof(float)), *hb = malloc(3 * 40 * 32 * sizeof(float));
    ck_assert_profs_ok(profs_lm_hidden_states(la, ha, ids, 40));
    ck_assert_profs_ok(profs_lm_hidden_states(lb, hb, ids, 40));
    ck_assert_mem_eq(ha, hb, 3 * 40 * 32 * sizeof(float));
    free(ha);
    free(hb);
    profs_lm_free(la);
    profs_lm_free(lb);
    free(a);
    free(b);
}
END_TEST

/* Gemma-2 configs without the soft-capping keys mean Gemma2Config's 50 / 30 (null means none), and
 * without sliding_window its 4096. */
START_TEST(gemma2_config_defaults)
{
    char *a = tf_copy("gemma2", "gemma2_explicit"), *b = tf_copy("gemma2", "gemma2_absent");
    rewrite_config(a, "\"attn_logit_softcapping\": 2.0,", "\"attn_logit_softcapping\": 50.0,");
    rewrite_config(a, "\"final_logit_softcapping\": 3.0,", "\"final_logit_softcapping\": 30.0,");
    rewrite_config(a, "\"sliding_window\": 5,", "\"sliding_window\": 4096,");
    rewrite_config(b, "\"attn_logit_softcapping\": 2.0,", "");
    rewrite_config(b, "\"final_logit_softcapping\": 3.0,", "");
    rewrite_config(b, "\"sliding_window\": 5,", "");
    profs_lm *la = NULL, *lb = NULL;
    ck_assert_profs_ok(profs_lm_open(&la, a));
    ck_assert_profs_ok(profs_lm_open(&lb, b));
    int32_t ids[20];
    for (int i = 0; i < 20; i++) ids[i] = (i * 41 + 3) % 300;
    float *x = malloc(20 * 300 * sizeof(float)), *y = malloc(20 * 300 * sizeof(float));
    ck_assert_profs_ok(profs_lm_logits(la, x, ids, 20));
    ck_assert_profs_ok(profs_lm_logits(lb, y, ids, 20));
    ck_assert_mem_eq(x, y, 20 * 300 * sizeof(float));
    ck_assert_float_eq(la->cfg.attn_softcap, 50.0f);
    ck_assert_float_eq(lb->cfg.final_softcap, 30.0f);
    ck_assert_uint_eq(lb->cfg.sliding_window, 4096);
    profs_lm_free(la);
    profs_lm_free(lb);
    /* null: no capping */
    rewrite_config(a, "\"attn_logit_softcapping\": 50.0,", "\"attn_logit_softcapping\": null,");
    ck_assert_profs_ok(profs_lm_open(&la, a));
    ck_assert_float_eq(la->cfg.attn_softcap, 0.0f);
    profs_lm_free(la);
    free(x);
    free(y);
    free(a);
    free(b);
}
END_TEST

/* Every fixture directory committed under tests/data/tf (or PROFS_TF_DATA) has a row in tf_fixtures,
 * so its goldens are checked. */
START_TEST(every_committed_fixture_is_tested)
{
    char *root = tf_root();
    DIR *d = opendir(root);
    ck_assert_msg(d != NULL, "cannot open %s", root);
    size_t seen = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char *sub = tu_join(root, e->d_name), *gp = tu_join(sub, "golden.safetensors");
        struct stat st;
        int is_fixture = stat(gp, &st) == 0;
        free(gp);
        free(sub);
        if (!is_fixture) continue;
        size_t k = 0;
        while (k < N_TF && strcmp(tf_fixtures[k].name, e->d_name)) k++;
        ck_assert_msg(k < N_TF, "tests/data/tf/%s has no row in tf_fixtures (tests/test_lm.c)", e->d_name);
        seen++;
    }
    closedir(d);
    ck_assert_uint_eq(seen, N_TF); /* and every row has its directory */
    free(root);
}
END_TEST

static Suite *lm_suite(void)
{
    Suite *s = suite_create("lm");
    TCase *tc = tcase_create("reference");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 300);
    tcase_add_loop_test(tc, matches_transformers, 0, (int)N_TF);
    tcase_add_loop_test(tc, greedy_matches_transformers, 0, (int)N_TF);
    tcase_add_loop_test(tc, each_feature_matters, 0, (int)N_TF);
    tcase_add_test(tc, every_committed_fixture_is_tested);
    tcase_add_loop_test(tc, perplexity_matches_transformers, 0, (int)N_TF);
    tcase_add_test(tc, pooling_does_not_depend_on_the_batch);
    tcase_add_test(tc, pooling_progress_and_cancel);
    tcase_add_loop_test(tc, generation_uses_a_consistent_kv_cache, 0, (int)N_TF);
    tcase_add_test(tc, sampling_is_seeded_and_deterministic);
    tcase_add_test(tc, queries);
    tcase_add_loop_test(tc, collect_equals_pooling_of_the_tokenised_texts, 0, 2);
    tcase_add_test(tc, collect_cancels);
    tcase_add_test(tc, cli_hidden_states_matches_reference);
    tcase_add_loop_test(tc, cli_collect_equals_lm_collect, 0, 2);
    suite_add_tcase(s, tc);
    TCase *te = tcase_create("errors");
    tcase_add_checked_fixture(te, setup, teardown);
    tcase_add_test(te, missing_tensor_is_named);
    tcase_add_test(te, untied_head_must_exist);
    tcase_add_test(te, wrong_shape_is_named);
    tcase_add_test(te, unsupported_architecture);
    tcase_add_test(te, bad_config);
    tcase_add_test(te, huge_head_dim_is_refused);
    tcase_add_test(te, zero_head_dim_is_refused);
    tcase_add_test(te, huge_layer_count_fails_fast);
    tcase_add_test(te, zero_heads_is_a_config_error);
    tcase_add_test(te, non_positive_sliding_window_is_refused);
    tcase_add_test(te, negative_norm_epsilon_is_refused);
    tcase_add_test(te, special_ids_outside_the_vocabulary_are_refused);
    tcase_add_test(te, unsupported_feature_values_are_refused);
    tcase_add_loop_test(te, post_norm_aware_edit_removes_span_from_the_output, 0, 3);
    tcase_add_test(te, edit_file_records_the_post_norm_projection);
    tcase_add_test(te, edit_targets_come_from_the_table);
    tcase_add_test(te, arch_queries);
    tcase_add_test(te, gemma_embedding_scale_is_rounded_to_the_dtype);
    tcase_add_test(te, gemma3_v4_rope_config);
    tcase_add_test(te, gemma2_config_defaults);
    tcase_add_test(te, config_follows_transformers);
    tcase_add_test(te, unreadable_tokenizer_only_stops_text);
    suite_add_tcase(s, te);
    return s;
}

int main(void) { return tu_run_suite(lm_suite()); }
