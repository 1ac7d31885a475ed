/* Prefix sharing (lib/lm/prefix.c): pooling pairs with their common token
 * prefix computed once equals pooling every sentence whole (1e-6 relative per
 * layer), on every fixture family and on the edge pairs: identical sentences,
 * one a token prefix of the other, only the first token (BOS) shared, nothing
 * shared, a shared prefix longer than the sliding window, and texts whose
 * common token prefix ends mid-word and mid-UTF-8 character. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "hfgen.h"
#include "lm/lm_internal.h"
#include "profs/profs.h"
#include "testutil.h"

#define EXACT 1e-6     /* relative norm per layer and sentence */
#define BATCH_TOL 1e-5 /* the same, between passes of different shapes */

static char *dir;

static void setup(void) { dir = tu_tmpdir("prefix"); ck_assert_ptr_nonnull(dir); }
static void teardown(void) { tu_rmtree(dir); free(dir); }

#define NP 9
static int32_t seqs[2 * NP][64];
static size_t seq_lens[2 * NP];
static const size_t pairs_saved = 12 + 10 + 7 + 7 + 1 + 0 + 1 + 30 + 2;

/* The edge pairs, as ids (ids below 256: every committed checkpoint has at least 260): sentence 2i and 2i + 1 of pair i. */
static void make_pairs(void)
{
    uint64_t st = 12345;
    int32_t prompt[40];
    for (int i = 0; i < 40; i++) prompt[i] = (int32_t)(1 + hfgen_mix(&st) % 250);
#define SET(k, n, expr) do { seq_lens[k] = (n); for (size_t t = 0; t < (n); t++) seqs[k][t] = (expr); } while (0)
    SET(0, 17, t < 12 ? prompt[t] : (int32_t)(200 + t));            /* prompt + reply */
    SET(1, 19, t < 12 ? prompt[t] : (int32_t)(100 + t));
    SET(2, 10, prompt[t]);                                           /* identical */
    SET(3, 10, prompt[t]);
    SET(4, 7, prompt[t]);                                            /* first a token prefix of the second */
    SET(5, 14, prompt[t]);
    SET(6, 14, prompt[t]);                                           /* second a token prefix of the first */
    SET(7, 7, prompt[t]);
    SET(8, 4, t == 0 ? 255 : (int32_t)(10 + t));                     /* only the first token (a BOS) shared */
    SET(9, 3, t == 0 ? 255 : (int32_t)(20 + t));
    SET(10, 3, (int32_t)(30 + t));                                   /* nothing shared */
    SET(11, 4, (int32_t)(40 + t));
    SET(12, 1, 255);                                                 /* one token, identical */
    SET(13, 1, 255);
    SET(14, 50, t < 30 ? prompt[t % 40] : (int32_t)(50 + t));        /* prompt longer than the window */
    SET(15, 55, t < 30 ? prompt[t % 40] : (int32_t)(150 + t));
    SET(16, 2, prompt[t]);                                           /* both whole sentences, 2 tokens */
    SET(17, 2, prompt[t]);
#undef SET
}

/* Pool the edge pairs with and without sharing on the model directory p; exact_saved: the
 * saved tokens are all the common prefixes (a model whose positions depend on a sequence's
 * length, as longrope's, runs some pairs whole instead); tol: between the shared and the
 * unshared pooling of the same call (EXACT; passes of other shapes round differently, see
 * BATCH_TOL). */
static void check_model(const char *p, const char *name, size_t batch_tokens, size_t att_rows, size_t resident,
                        int skip, int exact_saved, double tol)
{
    profs_lm *lm = NULL;
    ck_assert_profs_ok(profs_lm_open(&lm, p));
    ck_assert_profs_ok(profs_lm_set_batch_tokens(lm, batch_tokens));
    ck_assert_profs_ok(profs_lm_set_resident_bytes(lm, resident));
    lm->att_rows = att_rows;
    make_pairs();
    size_t L = profs_lm_n_layers(lm), D = profs_lm_hidden_size(lm), LD = L * D;
    const int32_t *ids[2 * NP];
    size_t n_pairs = NP;
    size_t ln[2 * NP];
    for (size_t i = 0; i < 2 * NP; i++) { ids[i] = seqs[i]; ln[i] = seq_lens[i]; }
    size_t saved_want = pairs_saved;
    if (skip) { /* leaving token 0 out needs 2 tokens: the one-token pair becomes [255, 7] twice */
        ln[12] = ln[13] = 2;
        seqs[12][1] = seqs[13][1] = 7;
        saved_want += 1;
    }
    size_t bytes = 2 * n_pairs * LD * sizeof(float);
    float *alone = malloc(bytes), *whole = malloc(bytes), *all = malloc(bytes), *got = malloc(bytes);
    /* the unshared computation: every sentence whole, in the same call (so in passes of the same size) ... */
    ck_assert_profs_ok(profs_lm_set_prefix_sharing(lm, 0));
    uint64_t saved = 99;
    ck_assert_profs_ok(profs_lm_pool_pairs(lm, whole, &saved, ids, ln, n_pairs, skip, NULL, NULL));
    ck_assert_uint_eq(saved, 0);
    /* ... which is exactly pool_ids of the 2 n sentences in one call */
    ck_assert_profs_ok(profs_lm_pool_ids(lm, all, ids, ln, 2 * n_pairs, skip, NULL, NULL));
    ck_assert_int_eq(memcmp(whole, all, bytes), 0);
    /* and every sentence alone, in a pass of its own */
    for (size_t s = 0; s < 2 * n_pairs; s++)
        ck_assert_profs_ok(profs_lm_pool_ids(lm, alone + s * LD, &ids[s], &ln[s], 1, skip, NULL, NULL));
    ck_assert_profs_ok(profs_lm_set_prefix_sharing(lm, 1));
    ck_assert_profs_ok(profs_lm_pool_pairs(lm, got, &saved, ids, ln, n_pairs, skip, NULL, NULL));
    if (exact_saved) ck_assert_uint_eq(saved, saved_want);
    else ck_assert_uint_le(saved, saved_want);
    for (size_t s = 0; s < 2 * n_pairs; s++)
        for (size_t l = 0; l < L; l++) {
            double e = tu_rel_err(got + s * LD + l * D, whole + s * LD + l * D, D);
            ck_assert_msg(e <= tol, "%s (batch %zu, rows %zu, skip %d): pair %zu sentence %zu layer %zu: shared "
                          "prefix changes the pooled embedding by %g", name, batch_tokens, att_rows, skip, s / 2,
                          s % 2, l, e);
            /* against sentences alone the products have other shapes, which OpenBLAS rounds differently
             * (up to 1.5e-6 for a Gemma-3 checkpoint, with or without sharing) */
            e = tu_rel_err(got + s * LD + l * D, alone + s * LD + l * D, D);
            ck_assert_msg(e <= BATCH_TOL, "%s: pair %zu sentence %zu layer %zu: %g from the sentence alone", name,
                          s / 2, s % 2, l, e);
        }
    free(alone);
    free(whole);
    free(all);
    free(got);
    profs_lm_free(lm);
}

static void check_family(const char *name, size_t batch_tokens, size_t att_rows, size_t resident, int skip)
{
    char *p = tu_hfgen_fixture(dir, name);
    check_model(p, name, batch_tokens, att_rows, resident, skip, 1, EXACT);
    free(p);
}

START_TEST(shared_prefix_equals_unshared_on_every_family)
{
    const char *name = hfgen_fixture_names[_i];
    check_family(name, 8192, 128, (size_t)1 << 30, 0); /* all pairs in one pass, resident weights */
    check_family(name, 24, 5, 0, 0);                   /* several passes, streamed, 5-row attention blocks */
    check_family(name, 1, 1, (size_t)1 << 30, 0);      /* one pair per pass */
    check_family(name, 64, 128, (size_t)1 << 30, 1);   /* leaving the first token out */
}
END_TEST

/* Every committed transformers-made checkpoint (tests/data/tf/<family>/, where the
 * tree has them): the families of the architecture table, not only hfgen's. */
START_TEST(shared_prefix_equals_unshared_on_every_committed_checkpoint)
{
    char *root = tu_data_path("tf");
    DIR *d = opendir(root);
    size_t n = 0;
    if (d) {
        struct dirent *e;
        while ((e = readdir(d))) {
            if (e->d_name[0] == '.') continue;
            char *p = tu_join(root, e->d_name), *cfg = tu_join(p, "config.json");
            struct stat st;
            if (stat(cfg, &st) == 0) {
                /* one pass either way: the products have the same shapes but for the shared rows */
                check_model(p, e->d_name, 8192, 128, (size_t)1 << 30, 0, 0, EXACT);
                /* passes of different pairs: OpenBLAS rounds some families' products more apart */
                check_model(p, e->d_name, 24, 5, 0, 1, 0, BATCH_TOL);
                n++;
            }
            free(cfg);
            free(p);
        }
        closedir(d);
        ck_assert_uint_gt(n, 0); /* the directory is there: it holds checkpoints */
    }
    free(root);
}
END_TEST

static int count_tokens(void *ud, const char *stage, uint64_t done, uint64_t total)
{
    uint64_t *last = ud;
    ck_assert_str_eq(stage, "forward");
    ck_assert_uint_eq(total, 8 + 9 + 5 + 5);
    ck_assert_uint_ge(done, *last);
    ck_assert_uint_le(done, total);
    *last = done;
    return 0;
}

static int cancel_first(void *ud, const char *stage, uint64_t done, uint64_t total)
{
    (void)ud; (void)stage; (void)done; (void)total;
    return 1;
}

START_TEST(pool_pairs_progress_and_errors)
{
    char *p = tu_hfgen_fixture(dir, "gpt2");
    profs_lm *lm = NULL;
    ck_assert_profs_ok(profs_lm_open(&lm, p));
    ck_assert_profs_ok(profs_lm_set_batch_tokens(lm, 4));
    int32_t a[] = {1, 2, 3, 4, 5, 6, 7, 8}, b[] = {1, 2, 3, 4, 5, 9, 9, 9, 9}, c[] = {3, 3, 3, 3, 3},
            d[] = {3, 3, 3, 3, 3};
    const int32_t *ids[] = {a, b, c, d};
    size_t lens[] = {8, 9, 5, 5};
    float *out = malloc(4 * 2 * 32 * sizeof(float));
    uint64_t last = 0, saved = 0;
    ck_assert_profs_ok(profs_lm_pool_pairs(lm, out, &saved, ids, lens, 2, 0, count_tokens, &last));
    ck_assert_uint_eq(last, 27);
    ck_assert_uint_eq(saved, 5 + 5);
    ck_assert_profs_error(profs_lm_pool_pairs(lm, out, &saved, ids, lens, 2, 0, cancel_first, NULL),
                          PROFS_ECANCELLED, "cancelled after 17 of 27");
    int32_t bad[] = {1, 300};
    const int32_t *bids[] = {a, bad};
    size_t blen[] = {8, 2};
    ck_assert_profs_error(profs_lm_pool_pairs(lm, out, &saved, bids, blen, 1, 0, NULL, NULL), PROFS_EINVAL,
                          "pair 0: dispreferred token id 300 at index 1");
    size_t one[] = {1, 8};
    ck_assert_profs_error(profs_lm_pool_pairs(lm, out, &saved, ids, one, 1, 1, NULL, NULL), PROFS_EINVAL,
                          "pair 0: the preferred sentence has 1 token(s)");
    size_t zero[] = {8, 0};
    ck_assert_profs_error(profs_lm_pool_pairs(lm, out, &saved, ids, zero, 1, 0, NULL, NULL), PROFS_EINVAL,
                          "pair 0: the dispreferred sentence has no tokens");
    size_t huge[] = {65, 8};
    ck_assert_profs_error(profs_lm_pool_pairs(lm, out, &saved, ids, huge, 1, 0, NULL, NULL), PROFS_EINVAL,
                          "exceed the model's 64 positions");
    ck_assert_profs_error(profs_lm_pool_pairs(NULL, out, &saved, ids, lens, 1, 0, NULL, NULL), PROFS_EINVAL,
                          "NULL argument");
    ck_assert_profs_error(profs_lm_set_prefix_sharing(NULL, 1), PROFS_EINVAL, "NULL runtime");
    ck_assert_profs_ok(profs_lm_pool_pairs(lm, out, NULL, ids, lens, 0, 0, NULL, NULL));
    free(out);
    profs_lm_free(lm);
    free(p);
}
END_TEST

/* Texts as collection tokenises them (BOS included, after truncation): the
 * common prefix is a run of token ids, whatever the text boundaries. */
#define NT 6

START_TEST(collect_shares_token_prefixes_of_texts)
{
    const char *name = _i == 0 ? "mistral" : "gpt2";
    char *p = tu_hfgen_fixture(dir, name);
    profs_lm *lm = NULL;
    ck_assert_profs_ok(profs_lm_open(&lm, p));
    ck_assert_profs_ok(profs_lm_set_max_length(lm, 40));
    const char *pref[] = {
        "Human: what is a wonderful day? Assistant: a sunny one",           /* ends mid-word: "wonder" */
        "Human: tell me about the caf\xc3\xa9 Assistant: it is nice",       /* mid-UTF-8: c3 a9 vs c3 a8 */
        "same sentence",
        "Human: hi",
        "xyz",
        "Human: a long question that goes on and on past the forty tokens of the limit, then A", /* truncated */
    };
    const char *disp[] = {
        "Human: what is a wonderland? Assistant: a place",
        "Human: tell me about the caf\xc3\xa8 Assistant: go away",
        "same sentence",
        "Human: hi there, friend",
        "abc",
        "Human: a long question that goes on and on past the forty tokens of the limit, then B",
    };
    size_t L = profs_lm_n_layers(lm), D = profs_lm_hidden_size(lm), LD = L * D;
    const profs_tokenizer *tok = profs_lm_tokenizer(lm);
    ck_assert_ptr_nonnull(tok);
    /* the common token prefixes: the mid-word and mid-character pairs really share a partial word / character */
    uint64_t want_saved = 0;
    for (int i = 0; i < NT; i++) {
        int32_t x[64], y[64];
        size_t nx, ny, P = 0;
        ck_assert_profs_ok(profs_lm_tokenize(lm, x, 64, &nx, pref[i]));
        ck_assert_profs_ok(profs_lm_tokenize(lm, y, 64, &ny, disp[i]));
        while (P < nx && P < ny && x[P] == y[P]) P++;
        want_saved += P;
        if (i < 2) {
            /* the shared ids decode to a text that ends inside "wonder..." / inside the 2-byte character */
            char text[256];
            size_t n = 0;
            ck_assert_profs_ok(profs_tokenizer_decode(tok, x, P, PROFS_DECODE_SKIP_SPECIAL, text, sizeof text, &n));
            const char *tail = i == 0 ? "a wonder" : "the caf";
            ck_assert_msg(strstr(text, tail) != NULL, "%s pair %d: shared prefix decodes to '%s'", name, i, text);
            if (i == 1) ck_assert_msg(strstr(text, "caf\xc3\xa9") == NULL, "%s: prefix holds the whole character", name);
        }
        if (i == 2) ck_assert_uint_eq(P, nx);
        if (i == 4) ck_assert_uint_eq(P, strcmp(name, "mistral") == 0 ? 1 : 0); /* BOS only / nothing */
        if (i == 5) { /* they differ only after the 40-token limit: the prefix is all of both */
            ck_assert_uint_eq(nx, 40);
            ck_assert_uint_eq(P, 40);
        }
    }
    float *got[2];
    for (int on = 0; on < 2; on++) {
        ck_assert_profs_ok(profs_lm_set_prefix_sharing(lm, on));
        profs_collector *c = NULL;
        ck_assert_profs_ok(profs_collector_new(&c, L, D));
        ck_assert_profs_ok(profs_lm_collect(lm, c, pref, disp, NT, NULL, NULL));
        got[on] = malloc(2 * NT * LD * sizeof(float));
        for (size_t l = 0; l < L; l++)
            for (int i = 0; i < NT; i++) {
                memcpy(got[on] + (2 * i * L + l) * D, profs_collector_preferred(c, l) + i * D, D * sizeof(float));
                memcpy(got[on] + ((2 * i + 1) * L + l) * D, profs_collector_dispreferred(c, l) + i * D,
                       D * sizeof(float));
            }
        profs_collector_free(c);
    }
    for (int s = 0; s < 2 * NT; s++)
        for (size_t l = 0; l < L; l++)
            ck_assert_msg(tu_rel_err(got[1] + (s * L + l) * D, got[0] + (s * L + l) * D, D) <= EXACT,
                          "%s pair %d sentence %d layer %zu", name, s / 2, s % 2, l);
    /* the same texts through pool_pairs report the saved tokens */
    int32_t *ids[2 * NT];
    size_t lens[2 * NT];
    for (int s = 0; s < 2 * NT; s++) {
        ids[s] = malloc(64 * sizeof(int32_t));
        ck_assert_profs_ok(profs_lm_tokenize(lm, ids[s], 64, &lens[s], s % 2 ? disp[s / 2] : pref[s / 2]));
    }
    ck_assert_profs_ok(profs_lm_set_prefix_sharing(lm, 1));
    uint64_t saved = 0;
    float *pp = malloc(2 * NT * LD * sizeof(float));
    ck_assert_profs_ok(profs_lm_pool_pairs(lm, pp, &saved, (const int32_t *const *)ids, lens, NT, 0, NULL, NULL));
    ck_assert_uint_eq(saved, want_saved);
    ck_assert_int_eq(memcmp(pp, got[1], 2 * NT * LD * sizeof(float)), 0);
    for (int s = 0; s < 2 * NT; s++) free(ids[s]);
    free(pp);
    free(got[0]);
    free(got[1]);
    profs_lm_free(lm);
    free(p);
}
END_TEST

static Suite *prefix_suite(void)
{
    Suite *s = suite_create("prefix");
    TCase *tc = tcase_create("sharing");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 300);
    tcase_add_loop_test(tc, shared_prefix_equals_unshared_on_every_family, 0, HFGEN_N_FIXTURES);
    tcase_add_test(tc, shared_prefix_equals_unshared_on_every_committed_checkpoint);
    tcase_add_test(tc, pool_pairs_progress_and_errors);
    tcase_add_loop_test(tc, collect_shares_token_prefixes_of_texts, 0, 2);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return tu_run_suite(prefix_suite()); }
