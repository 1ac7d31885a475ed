/* Evaluation against transformers itself (goldens: tests/reference/tf_goldens_eval.py, committed under
 * tests/data/eval/): the authors' perplexity protocol, harness continuation log-likelihoods, and the
 * BERT / RoBERTa / XLM-R sequence classifiers with their tokenizers. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "profs/eval.h"
#include "profs/profs.h"
#include "testutil.h"

static json_t *load_golden(const char *name)
{
    char rel[128];
    snprintf(rel, sizeof rel, "eval/%s/golden.json", name);
    char *p = tu_data_path(rel);
    json_error_t e;
    json_t *j = json_load_file(p, 0, &e);
    ck_assert_msg(j != NULL, "%s: %s", p, e.text);
    free(p);
    return j;
}

static profs_lm *open_gpt2(void)
{
    char *dir = tu_data_path("eval/gpt2-tiny");
    profs_lm *lm = NULL;
    ck_assert_profs_ok(profs_lm_open(&lm, dir));
    free(dir);
    return lm;
}

static int32_t *ids_of(json_t *arr, size_t *n)
{
    *n = json_array_size(arr);
    int32_t *v = malloc((*n ? *n : 1) * sizeof *v);
    for (size_t i = 0; i < *n; i++) v[i] = (int32_t)json_integer_value(json_array_get(arr, i));
    return v;
}

static int close_rel(double a, double b, double tol) { return fabs(a - b) <= tol * fmax(1.0, fabs(b)); }

/* The text of the perplexity goldens: non-empty "prompt" fields joined with "\n\n", as the authors. */
static char *wiki_text(void)
{
    char *p = tu_data_path("eval/wiki_sample.jsonl");
    size_t len;
    char *data = tu_read_file(p, &len);
    ck_assert_ptr_nonnull(data);
    free(p);
    char *out = calloc(len * 2 + 1, 1);
    size_t o = 0, k = 0;
    char *save = NULL;
    data = realloc(data, len + 1);
    data[len] = 0;
    for (char *line = strtok_r(data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        json_t *j = json_loads(line, 0, NULL);
        const char *s = json_string_value(json_object_get(j, "prompt"));
        ck_assert_ptr_nonnull(s);
        if (*s) {
            if (k++) { out[o++] = '\n'; out[o++] = '\n'; }
            memcpy(out + o, s, strlen(s));
            o += strlen(s);
        }
        json_decref(j);
    }
    free(data);
    return out;
}

START_TEST(perplexity_windows_equal_the_authors_function)
{
    json_t *g = load_golden("gpt2-tiny");
    profs_lm *lm = open_gpt2();
    char *text = wiki_text();
    int32_t ids[4096];
    size_t n = 0;
    ck_assert_profs_ok(profs_tokenizer_encode(profs_lm_tokenizer(lm), text, strlen(text), PROFS_ENCODE_ADD_SPECIAL,
                                              ids, 4096, &n));
    ck_assert_uint_eq(n, (size_t)json_integer_value(json_object_get(g, "ppl_tokens")));
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(g, "ppl"), i, c) {
        size_t ml = (size_t)json_integer_value(json_object_get(c, "max_length"));
        size_t st = (size_t)json_integer_value(json_object_get(c, "stride"));
        double ppl, nll;
        size_t w;
        ck_assert_profs_ok(profs_lm_perplexity_windows(lm, &ppl, &nll, &w, ids, n, ml, st, NULL, NULL));
        ck_assert_uint_eq(w, (size_t)json_integer_value(json_object_get(c, "windows")));
        double gn = json_real_value(json_object_get(c, "mean_nll")), gp = json_real_value(json_object_get(c, "ppl"));
        ck_assert_msg(fabs(nll - gn) < 1e-4, "max_length %zu stride %zu: mean NLL %.9g, transformers %.9g", ml, st, nll, gn);
        ck_assert_msg(close_rel(ppl, gp, 1e-4), "max_length %zu stride %zu: ppl %.9g, transformers %.9g", ml, st, ppl, gp);
    }
    /* the weighted guide variant differs: the authors' unweighted mean is not what profs_lm_perplexity gives */
    double a, b;
    ck_assert_profs_ok(profs_lm_perplexity_windows(lm, &a, NULL, NULL, ids, n, 64, 16, NULL, NULL));
    ck_assert_profs_ok(profs_lm_perplexity(lm, &b, NULL, ids, n, 64, 16, NULL, NULL));
    ck_assert_msg(fabs(a - b) > 1e-3 * a, "the two protocols should differ (%g vs %g)", a, b);
    free(text);
    profs_lm_free(lm);
    json_decref(g);
}
END_TEST

START_TEST(perplexity_windows_refuses_what_would_leave_tokens_unscored)
{
    profs_lm *lm = open_gpt2();
    int32_t ids[100];
    for (int i = 0; i < 100; i++) ids[i] = i * 7;
    double p;
    ck_assert_profs_error(profs_lm_perplexity_windows(lm, &p, NULL, NULL, ids, 100, 32, 33, NULL, NULL), PROFS_EINVAL,
                          "stride 33 exceeds max length 32");
    ck_assert_profs_error(profs_lm_perplexity_windows(lm, &p, NULL, NULL, ids, 100, 65, 8, NULL, NULL), PROFS_EINVAL,
                          "exceeds the model's 64 positions");
    ck_assert_profs_error(profs_lm_perplexity_windows(lm, &p, NULL, NULL, ids, 1, 32, 8, NULL, NULL), PROFS_EINVAL,
                          "at least 2 tokens");
    ids[5] = 50257;
    ck_assert_profs_error(profs_lm_perplexity_windows(lm, &p, NULL, NULL, ids, 100, 32, 8, NULL, NULL), PROFS_EINVAL,
                          "index 5 is outside the vocabulary");
    /* stride 0: min(512, window) */
    ids[5] = 3;
    size_t w = 0;
    ck_assert_profs_ok(profs_lm_perplexity_windows(lm, &p, NULL, &w, ids, 100, 32, 0, NULL, NULL));
    ck_assert_uint_eq(w, 4); /* windows at 0, 32, 64, 96 (the last reaching the end) */
    profs_lm_free(lm);
}
END_TEST

/* Every request of every task: context + continuation ids as the harness built them, log-likelihood and
 * is_greedy from transformers. */
static void check_loglikelihoods(size_t batch_tokens)
{
    json_t *g = load_golden("gpt2-tiny");
    profs_lm *lm = open_gpt2();
    ck_assert_profs_ok(profs_lm_set_batch_tokens(lm, batch_tokens));
    const char *task;
    json_t *t;
    size_t checked = 0;
    json_object_foreach(json_object_get(g, "tasks"), task, t) {
        size_t total = 0, d, r;
        json_t *doc, *req;
        json_array_foreach(json_object_get(t, "docs"), d, doc) total += json_array_size(json_object_get(doc, "requests"));
        int32_t **ids = calloc(total, sizeof *ids);
        size_t *lens = calloc(total, sizeof *lens), *nc = calloc(total, sizeof *nc), k = 0;
        double *ll = calloc(total, sizeof *ll), *want = calloc(total, sizeof *want);
        int *greedy = calloc(total, sizeof *greedy), *want_g = calloc(total, sizeof *want_g);
        json_array_foreach(json_object_get(t, "docs"), d, doc) json_array_foreach(json_object_get(doc, "requests"), r, req) {
            size_t a, b;
            int32_t *ctx = ids_of(json_object_get(req, "context_ids"), &a);
            int32_t *cont = ids_of(json_object_get(req, "continuation_ids"), &b);
            ids[k] = malloc((a + b) * sizeof(int32_t));
            memcpy(ids[k], ctx, a * sizeof *ctx);
            memcpy(ids[k] + a, cont, b * sizeof *cont);
            lens[k] = a + b;
            nc[k] = b;
            want[k] = json_real_value(json_object_get(req, "ll"));
            want_g[k] = json_is_true(json_object_get(req, "is_greedy"));
            free(ctx);
            free(cont);
            k++;
        }
        ck_assert_profs_ok(profs_lm_loglikelihood(lm, ll, greedy, (const int32_t *const *)ids, lens, nc, total, NULL,
                                                  NULL));
        for (k = 0; k < total; k++) {
            ck_assert_msg(fabs(ll[k] - want[k]) < 1e-4, "%s request %zu: ll %.9g, transformers %.9g", task, k, ll[k],
                          want[k]);
            ck_assert_int_eq(greedy[k], want_g[k]);
            free(ids[k]);
            checked++;
        }
        free(ids); free(lens); free(nc); free(ll); free(want); free(greedy); free(want_g);
    }
    ck_assert_uint_ge(checked, 60);
    profs_lm_free(lm);
    json_decref(g);
}

START_TEST(loglikelihoods_equal_transformers) { check_loglikelihoods(8192); }
END_TEST

START_TEST(loglikelihoods_do_not_depend_on_the_batch) { check_loglikelihoods(16); }
END_TEST

START_TEST(loglikelihood_left_truncates_to_the_window)
{
    /* 80 tokens: the input is the last 64 before the final token, as the harness's [-(max_length + 1):][:-1] */
    profs_lm *lm = open_gpt2();
    int32_t ids[80];
    for (int i = 0; i < 80; i++) ids[i] = 100 + 3 * i;
    const int32_t *p[1] = {ids}, *q[1] = {ids + 15};
    size_t n80 = 80, n65 = 65, k = 4;
    double a, b;
    ck_assert_profs_ok(profs_lm_loglikelihood(lm, &a, NULL, p, &n80, &k, 1, NULL, NULL));
    ck_assert_profs_ok(profs_lm_loglikelihood(lm, &b, NULL, q, &n65, &k, 1, NULL, NULL));
    ck_assert_double_eq_tol(a, b, 1e-6);
    size_t too_many = 65;
    ck_assert_profs_error(profs_lm_loglikelihood(lm, &a, NULL, p, &n80, &too_many, 1, NULL, NULL), PROFS_EINVAL,
                          "sequence 0 scores 65 tokens, but 1 .. 64 can be");
    size_t one = 1, zero = 0;
    ck_assert_profs_error(profs_lm_loglikelihood(lm, &a, NULL, p, &one, &one, 1, NULL, NULL), PROFS_EINVAL,
                          "sequence 0 has 1 tokens");
    ck_assert_profs_error(profs_lm_loglikelihood(lm, &a, NULL, p, &n80, &zero, 1, NULL, NULL), PROFS_EINVAL,
                          "scores 0 tokens");
    ids[7] = -1;
    ck_assert_profs_error(profs_lm_loglikelihood(lm, &a, NULL, p, &n80, &k, 1, NULL, NULL), PROFS_EINVAL,
                          "sequence 0: token id -1 at index 7");
    profs_lm_free(lm);
}
END_TEST

/* ---- classifiers ---- */

static void check_classifier(const char *name, const char *arch, size_t n_labels, const char *label0)
{
    json_t *g = load_golden(name);
    char rel[64];
    snprintf(rel, sizeof rel, "eval/%s", name);
    char *dir = tu_data_path(rel);
    profs_classifier *c = NULL;
    ck_assert_profs_ok(profs_classifier_open(&c, dir));
    free(dir);
    ck_assert_str_eq(profs_classifier_architecture(c), arch);
    ck_assert_uint_eq(profs_classifier_n_labels(c), n_labels);
    ck_assert_str_eq(profs_classifier_label(c, 0), label0);
    ck_assert_ptr_null(profs_classifier_label(c, n_labels));
    ck_assert_uint_eq(profs_classifier_max_length(c), (size_t)json_integer_value(json_object_get(g, "max_length")));
    json_t *texts = json_object_get(g, "texts");
    size_t n = json_array_size(texts), L = n_labels, i;
    const char **tv = calloc(n, sizeof *tv);
    json_t *t;
    json_array_foreach(texts, i, t) tv[i] = json_string_value(json_object_get(t, "text"));
    float *probs = malloc(n * L * sizeof *probs), *logits = malloc(n * L * sizeof *logits);
    for (int sig = 0; sig < 2; sig++) {
        ck_assert_profs_ok(profs_classifier_set_sigmoid(c, sig));
        ck_assert_profs_ok(profs_classifier_classify(c, probs, tv, n, NULL, NULL));
        const char *key = profs_classifier_uses_sigmoid(c) ? "sigmoid" : "softmax";
        json_array_foreach(texts, i, t) for (size_t j = 0; j < L; j++) {
            double want = json_real_value(json_array_get(json_object_get(t, key), j));
            ck_assert_msg(fabs(probs[i * L + j] - want) < 1e-4, "%s text %zu label %zu (%s): %.7f, transformers %.7f",
                          name, i, j, key, probs[i * L + j], want);
        }
    }
    /* the ids transformers fed (template + truncation), and logits from them in one packed batch */
    int32_t **ids = calloc(n, sizeof *ids);
    size_t *lens = calloc(n, sizeof *lens);
    json_array_foreach(texts, i, t) ids[i] = ids_of(json_object_get(t, "ids"), &lens[i]);
    ck_assert_profs_ok(profs_classifier_logits(c, logits, (const int32_t *const *)ids, lens, n));
    float *one = malloc(L * sizeof *one);
    ck_assert_profs_ok(profs_classifier_set_batch_tokens(c, 1)); /* every sequence alone */
    json_array_foreach(texts, i, t) {
        ck_assert_profs_ok(profs_classifier_logits(c, one, (const int32_t *const *)&ids[i], &lens[i], 1));
        for (size_t j = 0; j < L; j++) {
            double want = json_real_value(json_array_get(json_object_get(t, "logits"), j));
            ck_assert_msg(fabs(logits[i * L + j] - want) < 1e-4, "%s text %zu logit %zu", name, i, j);
            ck_assert_msg(fabs(one[j] - logits[i * L + j]) < 1e-5, "%s text %zu: the batch changed logit %zu", name, i, j);
        }
    }
    /* transformers' padded batch of the first three texts (attention mask) gives the same logits */
    json_t *bl = json_object_get(g, "batch_logits");
    for (i = 0; i < json_array_size(bl); i++)
        for (size_t j = 0; j < L; j++)
            ck_assert_double_eq_tol(logits[i * L + j], json_real_value(json_array_get(json_array_get(bl, i), j)), 1e-4);
    for (i = 0; i < n; i++) free(ids[i]);
    free(ids); free(lens); free(one); free(probs); free(logits); free(tv);
    profs_classifier_free(c);
    json_decref(g);
}

START_TEST(bert_classifier_equals_transformers) { check_classifier("bert-tiny-cls", "bert", 3, "toxic"); }
END_TEST

START_TEST(roberta_classifier_equals_transformers) { check_classifier("roberta-tiny-cls", "roberta", 2, "non-toxic"); }
END_TEST

START_TEST(xlmr_classifier_equals_transformers) { check_classifier("xlmr-tiny-cls", "xlm-roberta", 2, "toxicity"); }
END_TEST

START_TEST(classifier_errors_name_what_is_wrong)
{
    profs_classifier *c = NULL;
    char *gpt2 = tu_data_path("eval/gpt2-tiny"), *bert = tu_data_path("eval/bert-tiny-cls");
    ck_assert_profs_error(profs_classifier_open(&c, gpt2), PROFS_EUNSUPPORTED, "architecture 'GPT2LMHeadModel' is not "
                          "a supported sequence classifier");
    ck_assert_ptr_null(c);
    ck_assert_profs_ok(profs_classifier_open(&c, bert));
    size_t idx = 9;
    ck_assert_profs_ok(profs_classifier_label_index(c, "threat", &idx));
    ck_assert_uint_eq(idx, 2);
    ck_assert_profs_error(profs_classifier_label_index(c, "toxicity", &idx), PROFS_ENOTFOUND, "no label 'toxicity'");
    ck_assert_profs_error(profs_classifier_set_max_length(c, 65), PROFS_EINVAL, "outside 2 .. 64");
    ck_assert_profs_error(profs_classifier_set_max_length(c, 1), PROFS_EINVAL, "outside 2 .. 64");
    ck_assert_profs_error(profs_classifier_set_batch_tokens(c, 0), PROFS_EINVAL, "batch tokens must be at least 1");
    ck_assert_profs_error(profs_classifier_set_batch_tokens(NULL, 16), PROFS_EINVAL, "batch tokens must be at least 1");
    ck_assert_profs_error(profs_classifier_set_sigmoid(NULL, 1), PROFS_EINVAL, "NULL classifier");
    ck_assert_ptr_null(profs_classifier_label(c, 3)); /* 3 labels: 0 .. 2 */
    ck_assert_ptr_null(profs_classifier_label(NULL, 0));
    ck_assert_uint_eq(profs_classifier_n_labels(NULL), 0);
    ck_assert_int_eq(profs_classifier_uses_sigmoid(NULL), 0);
    ck_assert_int_eq(profs_classifier_uses_sigmoid(c), 1); /* multi_label_classification, as toxic-bert */
    ck_assert_profs_ok(profs_classifier_set_sigmoid(c, 0)); /* the pipeline's rule still says sigmoid */
    ck_assert_int_eq(profs_classifier_uses_sigmoid(c), 1);
    int32_t ids[3] = {2, 5000, 3};
    const int32_t *p[1] = {ids};
    size_t n = 3;
    float out[3];
    ck_assert_profs_error(profs_classifier_logits(c, out, p, &n, 1), PROFS_EINVAL,
                          "sequence 0: token id 5000 at index 1 is outside the vocabulary [0, 2144)");
    n = 65;
    ck_assert_profs_error(profs_classifier_logits(c, out, p, &n, 1), PROFS_EINVAL, "65 tokens (1 .. 64 allowed)");
    /* a shorter truncation changes the ids: [CLS] + 2 tokens + [SEP] */
    ck_assert_profs_ok(profs_classifier_set_max_length(c, 4));
    const char *t[1] = {"The quick brown fox jumps over the lazy dog."};
    float probs[3];
    ck_assert_profs_ok(profs_classifier_classify(c, probs, t, 1, NULL, NULL));
    int32_t four[4] = {2, 0, 0, 3}; /* [CLS] = 2, [SEP] = 3 in bert-wordpiece */
    size_t got = 0;
    int32_t all[64];
    ck_assert_profs_ok(profs_tokenizer_encode(profs_classifier_tokenizer(c), t[0], strlen(t[0]), 0, all, 64, &got));
    ck_assert_uint_gt(got, 2);
    four[1] = all[0];
    four[2] = all[1];
    const int32_t *fp[1] = {four};
    size_t n4 = 4;
    float lg[3];
    ck_assert_profs_ok(profs_classifier_logits(c, lg, fp, &n4, 1));
    for (int j = 0; j < 3; j++) ck_assert_double_eq_tol(probs[j], 1.0 / (1.0 + exp(-lg[j])), 1e-6);
    profs_classifier_free(c);
    profs_classifier_free(NULL);
    free(gpt2);
    free(bert);
}
END_TEST

/* A tokenizer.json with a component we do not implement is refused by name. */
START_TEST(precompiled_normalizer_is_refused_and_unigram_wordpiece_follow_the_reference)
{
    char *dir = tu_tmpdir("eval_precompiled"), *p = tu_join(dir, "tokenizer.json");
    const char *j = "{\"version\":\"1.0\",\"truncation\":null,\"padding\":null,\"added_tokens\":[],"
                    "\"normalizer\":{\"type\":\"Precompiled\",\"precompiled_charsmap\":\"AAAA\"},"
                    "\"pre_tokenizer\":null,\"post_processor\":null,\"decoder\":null,"
                    "\"model\":{\"type\":\"WordPiece\",\"unk_token\":\"[UNK]\",\"vocab\":{\"[UNK]\":0,\"a\":1}}}";
    ck_assert_int_eq(tu_write_file(p, j, strlen(j)), 0);
    profs_tokenizer *t = NULL;
    ck_assert_profs_error(profs_tokenizer_open(&t, p), PROFS_EUNSUPPORTED, "normalizer type 'Precompiled'");
    const char *j2 = "{\"version\":\"1.0\",\"truncation\":null,\"padding\":null,\"added_tokens\":[],"
                     "\"normalizer\":null,\"pre_tokenizer\":null,\"post_processor\":null,\"decoder\":null,"
                     "\"model\":{\"type\":\"WordPiece\",\"unk_token\":\"[UNK]\",\"vocab\":{\"a\":0,\"##b\":1}}}";
    ck_assert_int_eq(tu_write_file(p, j2, strlen(j2)), 0);
    ck_assert_profs_error(profs_tokenizer_open(&t, p), PROFS_EFORMAT, "model.unk_token '[UNK]' is not in the vocabulary");
    const char *j3 = "{\"version\":\"1.0\",\"truncation\":null,\"padding\":null,\"added_tokens\":[],"
                     "\"normalizer\":null,\"pre_tokenizer\":null,\"post_processor\":null,\"decoder\":null,"
                     "\"model\":{\"type\":\"Unigram\",\"unk_id\":null,\"vocab\":[[\"a\",-1.0],[\"ab\",-1.5],"
                     "[\"b\",-1.0],[\"abc\",-4.0],[\"c\",-1.0],[\"<unk>\",0.0]]}}";
    ck_assert_int_eq(tu_write_file(p, j3, strlen(j3)), 0);
    ck_assert_profs_ok(profs_tokenizer_open(&t, p));
    {
        /* Viterbi: "ab" (-1.5) beats "a" + "b" (-2.0); "abc" (-4.0) loses to "ab" + "c" (-2.5) */
        int32_t u[8];
        size_t un = 0;
        ck_assert_profs_ok(profs_tokenizer_encode(t, "abcab", 5, 0, u, 8, &un));
        ck_assert_uint_eq(un, 3);
        ck_assert_int_eq(u[0], 1);
        ck_assert_int_eq(u[1], 4);
        ck_assert_int_eq(u[2], 1);
        /* a character no piece covers, with unk_id null: an error naming it */
        ck_assert_profs_error(profs_tokenizer_encode(t, "axb", 3, 0, u, 8, &un), PROFS_EFORMAT,
                              "'x' is not in the vocabulary and model.unk_id is null");
        profs_tokenizer_free(t);
        t = NULL;
    }
    const char *j3b = "{\"version\":\"1.0\",\"truncation\":null,\"padding\":null,\"added_tokens\":[],"
                      "\"normalizer\":null,\"pre_tokenizer\":null,\"post_processor\":null,\"decoder\":null,"
                      "\"model\":{\"type\":\"Unigram\",\"unk_id\":2,\"vocab\":[[\"a\",-1.0],[\"b\",-1.0],[\"<unk>\",0.0]]}}";
    ck_assert_int_eq(tu_write_file(p, j3b, strlen(j3b)), 0);
    ck_assert_profs_ok(profs_tokenizer_open(&t, p));
    {
        /* unknown characters in a row fuse into one unk */
        int32_t u[8];
        size_t un = 0;
        ck_assert_profs_ok(profs_tokenizer_encode(t, "axyzb", 5, 0, u, 8, &un));
        ck_assert_uint_eq(un, 3);
        ck_assert_int_eq(u[0], 0);
        ck_assert_int_eq(u[1], 2);
        ck_assert_int_eq(u[2], 1);
        profs_tokenizer_free(t);
        t = NULL;
    }
    const char *j3c = "{\"version\":\"1.0\",\"truncation\":null,\"padding\":null,\"added_tokens\":[],"
                      "\"normalizer\":null,\"pre_tokenizer\":null,\"post_processor\":null,\"decoder\":null,"
                      "\"model\":{\"type\":\"Unigram\",\"unk_id\":5,\"vocab\":[[\"a\",-1.0]]}}";
    ck_assert_int_eq(tu_write_file(p, j3c, strlen(j3c)), 0);
    ck_assert_profs_error(profs_tokenizer_open(&t, p), PROFS_EFORMAT, "model.unk_id: expected null or an index");
    /* WordPiece: longest match first, '##' continuation, unk for a word with an unknown part, over-long words */
    const char *j4 = "{\"version\":\"1.0\",\"truncation\":null,\"padding\":null,\"added_tokens\":[],"
                     "\"normalizer\":null,\"pre_tokenizer\":{\"type\":\"BertPreTokenizer\"},\"post_processor\":null,"
                     "\"decoder\":{\"type\":\"WordPiece\",\"prefix\":\"##\",\"cleanup\":true},"
                     "\"model\":{\"type\":\"WordPiece\",\"unk_token\":\"[UNK]\",\"max_input_chars_per_word\":8,"
                     "\"vocab\":{\"[UNK]\":0,\"un\":1,\"##aff\":2,\"##able\":3,\".\":4,\"##a\":5,\"want\":6,\"##ed\":7}}}";
    ck_assert_int_eq(tu_write_file(p, j4, strlen(j4)), 0);
    ck_assert_profs_ok(profs_tokenizer_open(&t, p));
    int32_t ids[16];
    size_t n = 0;
    ck_assert_profs_ok(profs_tokenizer_encode(t, "unaffable.", 10, 0, ids, 16, &n));
    ck_assert_uint_eq(n, 2); /* "unaffable" has 9 characters > 8: one [UNK]; then "." */
    ck_assert_int_eq(ids[0], 0);
    ck_assert_int_eq(ids[1], 4);
    ck_assert_profs_ok(profs_tokenizer_encode(t, "wanted unaff una unx", 20, 0, ids, 16, &n));
    static const int32_t want[] = {6, 7, 1, 2, 1, 5, 0};
    ck_assert_uint_eq(n, 7);
    for (size_t i = 0; i < 7; i++) ck_assert_int_eq(ids[i], want[i]);
    char text[64];
    size_t len;
    int32_t dec[5] = {6, 7, 1, 2, 4};
    ck_assert_profs_ok(profs_tokenizer_decode(t, dec, 5, 0, text, sizeof text, &len));
    ck_assert_str_eq(text, "wanted unaff.");
    profs_tokenizer_free(t);
    tu_rmtree(dir);
    free(p);
    free(dir);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("eval");
    TCase *tc = tcase_create("eval");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, perplexity_windows_equal_the_authors_function);
    tcase_add_test(tc, perplexity_windows_refuses_what_would_leave_tokens_unscored);
    tcase_add_test(tc, loglikelihoods_equal_transformers);
    tcase_add_test(tc, loglikelihoods_do_not_depend_on_the_batch);
    tcase_add_test(tc, loglikelihood_left_truncates_to_the_window);
    tcase_add_test(tc, bert_classifier_equals_transformers);
    tcase_add_test(tc, roberta_classifier_equals_transformers);
    tcase_add_test(tc, xlmr_classifier_equals_transformers);
    tcase_add_test(tc, classifier_errors_name_what_is_wrong);
    tcase_add_test(tc, precompiled_normalizer_is_refused_and_unigram_wordpiece_follow_the_reference);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
