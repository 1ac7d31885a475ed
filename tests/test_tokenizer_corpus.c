/* The tokenizer agrees with Hugging Face tokenizers id for id on the whole corpus, for every tokenizer
 * file under tests/data/tokenizers/ (expected results: tests/reference/tokenizer_reference.js). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "profs/profs.h"
#include "testutil.h"

typedef struct {
    char **text;   /* (n) corpus strings */
    size_t *len;   /* (n) their lengths in bytes */
    size_t n;
} corpus;

static char *read_text(const char *rel)
{
    char *path = tu_data_path(rel);
    size_t len;
    char *data = tu_read_file(path, &len);
    ck_assert_msg(data != NULL, "cannot read %s", path);
    free(path);
    char *s = realloc(data, len + 1);
    ck_assert_ptr_nonnull(s);
    s[len] = '\0';
    return s;
}

static void load_corpus(corpus *c)
{
    char *data = read_text("tokenizers/corpus.jsonl");
    memset(c, 0, sizeof *c);
    for (char *line = strtok(data, "\n"); line; line = strtok(NULL, "\n")) {
        json_error_t err;
        json_t *v = json_loads(line, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
        ck_assert_msg(json_is_string(v), "corpus line %zu: %s", c->n + 1, err.text);
        c->text = realloc(c->text, (c->n + 1) * sizeof *c->text);
        c->len = realloc(c->len, (c->n + 1) * sizeof *c->len);
        c->len[c->n] = json_string_length(v);
        c->text[c->n] = malloc(c->len[c->n] + 1);
        memcpy(c->text[c->n], json_string_value(v), c->len[c->n] + 1);
        c->n++;
        json_decref(v);
    }
    free(data);
    ck_assert_uint_ge(c->n, 2000);
}

static void free_corpus(corpus *c)
{
    for (size_t i = 0; i < c->n; i++) free(c->text[i]);
    free(c->text);
    free(c->len);
}

static int ids_equal(json_t *expected, const int32_t *ids, size_t n)
{
    if (json_array_size(expected) != n) return 0;
    for (size_t i = 0; i < n; i++)
        if (json_integer_value(json_array_get(expected, i)) != ids[i]) return 0;
    return 1;
}

static void print_ids(const char *what, json_t *expected, const int32_t *ids, size_t n)
{
    size_t first = 0; /* print from a little before the first difference */
    while (first < n && first < json_array_size(expected) &&
           json_integer_value(json_array_get(expected, first)) == ids[first])
        first++;
    first = first > 4 ? first - 4 : 0;
    fprintf(stderr, "  %s expected (from index %zu):", what, first);
    for (size_t i = first; i < json_array_size(expected) && i < first + 24; i++)
        fprintf(stderr, " %d", (int)json_integer_value(json_array_get(expected, i)));
    fprintf(stderr, "\n  %s got      (from index %zu):", what, first);
    for (size_t i = first; i < n && i < first + 24; i++) fprintf(stderr, " %d", (int)ids[i]);
    fprintf(stderr, "\n");
}

/* Encode with flags and compare with the expected array; returns 1 when equal. */
static int check_encode(const profs_tokenizer *t, const corpus *c, size_t i, unsigned flags, json_t *expected,
                        const char *what, int32_t *ids, size_t cap, size_t *n)
{
    int rc = profs_tokenizer_encode(t, c->text[i], c->len[i], flags, ids, cap, n);
    ck_assert_msg(rc == PROFS_OK, "line %zu: encode failed: %s", i + 1, profs_last_error());
    if (ids_equal(expected, ids, *n)) return 1;
    fprintf(stderr, "line %zu (%.60s) %s differs\n", i + 1, c->text[i], what);
    print_ids(what, expected, ids, *n);
    return 0;
}

static int check_decode(const profs_tokenizer *t, size_t line, const int32_t *ids, size_t n, unsigned flags,
                        json_t *expected, const char *what)
{
    size_t need;
    int rc = profs_tokenizer_decode(t, ids, n, flags, NULL, 0, &need);
    ck_assert_msg(rc == PROFS_EBUFS, "line %zu: decode size query: %d %s",
                  line, rc, profs_last_error());
    char *text = malloc(need + 1);
    size_t len;
    ck_assert_profs_ok(profs_tokenizer_decode(t, ids, n, flags, text, need + 1, &len));
    ck_assert_uint_eq(len, need);
    int ok = len == json_string_length(expected) && memcmp(text, json_string_value(expected), len) == 0;
    if (!ok) fprintf(stderr, "line %zu %s: expected '%s', got '%s'\n", line, what, json_string_value(expected), text);
    free(text);
    return ok;
}

/* Compare the tokenizer at dir (NULL: tests/data/tokenizers/NAME) with NAME's expected results; with
 * bos >= 0, the expected ids with special tokens are bos followed by the ids without. */
static void run_corpus_at(const char *name, const char *dir_given, int32_t bos)
{
    corpus c;
    load_corpus(&c);
    char rel[128];
    snprintf(rel, sizeof rel, "tokenizers/%s", name);
    char *dir = dir_given ? strdup(dir_given) : tu_data_path(rel);
    profs_tokenizer *t = NULL;
    ck_assert_profs_ok(profs_tokenizer_open(&t, dir));
    free(dir);
    snprintf(rel, sizeof rel, "tokenizers/%s/expected.jsonl", name);
    char *data = read_text(rel);
    size_t cap = 1 << 16, n, line = 0, bad = 0, roundtrips = 0;
    int32_t *ids = malloc(cap * sizeof *ids);
    for (char *l = strtok(data, "\n"); l; l = strtok(NULL, "\n"), line++) {
        ck_assert_uint_lt(line, c.n);
        json_error_t err;
        json_t *e = json_loads(l, JSON_ALLOW_NUL, &err);
        ck_assert_msg(e != NULL, "%s line %zu: %s", rel, line + 1, err.text);
        int ok = check_encode(t, &c, line, 0, json_object_get(e, "ids"), "ids", ids, cap, &n);
        if (ok) ok = check_decode(t, line + 1, ids, n, 0, json_object_get(e, "decode"), "decode");
        if (ok) {
            json_t *d = json_object_get(e, "decode");
            roundtrips += json_string_length(d) == c.len[line] && !memcmp(json_string_value(d), c.text[line], c.len[line]);
        }
        ok &= check_encode(t, &c, line, PROFS_ENCODE_SPECIAL_AS_TEXT, json_object_get(e, "ids_text"), "ids_text",
                           ids, cap, &n);
        json_t *want_special = json_object_get(e, "ids_special");
        if (bos >= 0) {
            want_special = json_deep_copy(json_object_get(e, "ids"));
            json_array_insert_new(want_special, 0, json_integer(bos));
            json_object_set_new(e, "ids_special", want_special);
        }
        ok &= check_encode(t, &c, line, PROFS_ENCODE_ADD_SPECIAL, want_special, "ids_special", ids, cap, &n);
        if (ok)
            ok = check_decode(t, line + 1, ids, n, PROFS_DECODE_SKIP_SPECIAL, json_object_get(e, "decode_skip"),
                              "decode_skip");
        bad += !ok;
        json_decref(e);
        ck_assert_msg(bad < 20, "%s: too many differences, stopping", name);
    }
    ck_assert_uint_eq(line, c.n);
    fprintf(stderr, "%s: %zu strings, %zu differ, %zu round-trip exactly\n", name, line, bad, roundtrips);
    ck_assert_msg(bad == 0, "%s: %zu of %zu strings differ from the reference", name, bad, line);
    ck_assert_uint_gt(roundtrips, 0);
    free(ids);
    free(data);
    profs_tokenizer_free(t);
    free_corpus(&c);
}

static void run_corpus(const char *name) { run_corpus_at(name, NULL, -1); }

/* A directory with GPT-2's vocab.json + merges.txt (no tokenizer.json), written from gpt2/tokenizer.json. */
static char *write_slow_gpt2(const char *config)
{
    char *src = tu_data_path("tokenizers/gpt2/tokenizer.json");
    json_error_t err;
    json_t *root = json_load_file(src, 0, &err);
    ck_assert_ptr_nonnull(root);
    char *dir = tu_tmpdir("tok_slow"), *vocab = tu_join(dir, "vocab.json"), *merges = tu_join(dir, "merges.txt");
    char *cfg = tu_join(dir, "tokenizer_config.json");
    ck_assert_int_eq(json_dump_file(json_object_get(json_object_get(root, "model"), "vocab"), vocab, 0), 0);
    FILE *f = fopen(merges, "w");
    ck_assert_ptr_nonnull(f);
    fputs("#version: 0.2\n", f);
    json_t *m = json_object_get(json_object_get(root, "model"), "merges");
    for (size_t i = 0; i < json_array_size(m); i++) fprintf(f, "%s\n", json_string_value(json_array_get(m, i)));
    fclose(f);
    ck_assert_int_eq(tu_write_file(cfg, config, strlen(config)), 0);
    json_decref(root);
    free(src);
    free(vocab);
    free(merges);
    free(cfg);
    return dir;
}

/* vocab.json + merges.txt with GPT-2's config: the same tokenizer as gpt2/tokenizer.json. */
START_TEST(gpt2_slow_files)
{
    char *dir = write_slow_gpt2("{\"bos_token\": \"<|endoftext|>\", \"eos_token\": \"<|endoftext|>\", "
                                "\"unk_token\": \"<|endoftext|>\", \"add_prefix_space\": false}");
    run_corpus_at("gpt2", dir, -1);
    tu_rmtree(dir);
    free(dir);
}
END_TEST

/* ... and with add_bos_token (as OPT's config): the BOS goes first. */
START_TEST(gpt2_slow_files_add_bos)
{
    char *dir = write_slow_gpt2("{\"bos_token\": {\"content\": \"<|endoftext|>\"}, \"add_bos_token\": true}");
    run_corpus_at("gpt2", dir, 50256);
    tu_rmtree(dir);
    free(dir);
}
END_TEST

START_TEST(gpt2) { run_corpus("gpt2"); }
END_TEST
START_TEST(mistral) { run_corpus("mistral"); }
END_TEST
START_TEST(mistral_metaspace) { run_corpus("mistral-metaspace"); }
END_TEST
START_TEST(llama3_style) { run_corpus("llama3-style"); }
END_TEST
START_TEST(gpt2_mixed) { run_corpus("gpt2-mixed"); }
END_TEST
START_TEST(tiny_a) { run_corpus("tiny-a"); }
END_TEST
START_TEST(tiny_b) { run_corpus("tiny-b"); }
END_TEST
START_TEST(tiny_c) { run_corpus("tiny-c"); }
END_TEST

/* WordPiece with BertNormalizer, BertPreTokenizer, [CLS] $A [SEP], WordPiece decoder (tests/reference/tf_goldens_eval.py) */
START_TEST(bert_wordpiece) { run_corpus("bert-wordpiece"); }
END_TEST

/* Unigram with XLM-R's pipeline minus its Precompiled normalizer (tests/reference/tf_goldens_eval.py) */
START_TEST(xlmr_unigram) { run_corpus("xlmr-unigram"); }
END_TEST

/* One test case per tokenizer: CK_RUN_CASE=gpt2 runs one of them. */
static void add_case(Suite *s, const char *name, const TTest *test)
{
    TCase *tc = tcase_create(name);
    tcase_set_timeout(tc, 600);
    _tcase_add_test(tc, test, 0, 0, 0, 1);
    suite_add_tcase(s, tc);
}

int main(void)
{
    Suite *s = suite_create("tokenizer_corpus");
    add_case(s, "gpt2", gpt2);
    add_case(s, "mistral", mistral);
    add_case(s, "mistral-metaspace", mistral_metaspace);
    add_case(s, "llama3-style", llama3_style);
    add_case(s, "gpt2-mixed", gpt2_mixed);
    add_case(s, "tiny-a", tiny_a);
    add_case(s, "tiny-b", tiny_b);
    add_case(s, "tiny-c", tiny_c);
    add_case(s, "bert-wordpiece", bert_wordpiece);
    add_case(s, "xlmr-unigram", xlmr_unigram);
    add_case(s, "gpt2-slow-files", gpt2_slow_files);
    add_case(s, "gpt2-slow-files-add-bos", gpt2_slow_files_add_bos);
    return tu_run_suite(s);
}
