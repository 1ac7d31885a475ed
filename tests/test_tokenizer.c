/* Tokenizer: every rejection rule of the loader, the encode/decode error paths (buffer size queries,
 * invalid UTF-8, ids out of range), well-known ids, tokenizer_config.json, thread safety. */
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "profs/profs.h"
#include "testutil.h"
#include "text/tok_api.h"

static char *data_dir(const char *name)
{
    char rel[128];
    snprintf(rel, sizeof rel, "tokenizers/%s", name);
    return tu_data_path(rel);
}

static profs_tokenizer *open_data(const char *name)
{
    char *dir = data_dir(name);
    profs_tokenizer *t = NULL;
    ck_assert_profs_ok(profs_tokenizer_open(&t, dir));
    free(dir);
    return t;
}

/* Write json to a fresh tokenizer.json; returns its path (caller frees path and *dir). */
static char *write_json(const char *tag, const char *json, char **dir)
{
    *dir = tu_tmpdir(tag);
    char *path = tu_join(*dir, "tokenizer.json");
    ck_assert_int_eq(tu_write_file(path, json, strlen(json)), 0);
    return path;
}

/* Opening json fails with code and a message containing needle. */
static void expect_open_error(const char *json, int code, const char *needle)
{
    char *dir;
    char *path = write_json("tok_err", json, &dir);
    profs_tokenizer *t = (profs_tokenizer *)0x1;
    ck_assert_profs_error(profs_tokenizer_open(&t, path), code, needle);
    ck_assert_ptr_eq(t, (profs_tokenizer *)0x1); /* *out untouched on failure */
    ck_assert_msg(tu_contains(profs_last_error(), "tokenizer.json"), "message '%s' does not name the file",
                  profs_last_error());
    tu_rmtree(dir);
    free(dir);
    free(path);
}

#define MODEL "\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1, \"ab\": 2}, \"merges\": [\"a b\"]}"

START_TEST(open_rejects_malformed_files)
{
    profs_tokenizer *t = NULL;
    ck_assert_profs_error(profs_tokenizer_open(NULL, "x"), PROFS_EINVAL, "NULL");
    ck_assert_profs_error(profs_tokenizer_open(&t, NULL), PROFS_EINVAL, "NULL");
    ck_assert_profs_error(profs_tokenizer_open(&t, "/nonexistent/tokenizer.json"), PROFS_EIO, "/nonexistent");
    expect_open_error("{\"model\": ", PROFS_EFORMAT, "invalid JSON");
    expect_open_error("[1, 2]", PROFS_EFORMAT, "top level");
    expect_open_error("{}", PROFS_EFORMAT, "model: missing");
    expect_open_error("{\"model\": {\"type\": \"BPE\", \"vocab\": [], \"merges\": []}}", PROFS_EFORMAT, "model.vocab");
    expect_open_error("{\"model\": {\"type\": \"BPE\", \"vocab\": {}, \"merges\": {}}}", PROFS_EFORMAT, "model.merges");
    expect_open_error("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": -1}, \"merges\": []}}", PROFS_EFORMAT,
                      "model.vocab: token 'a'");
    expect_open_error("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 0}, \"merges\": []}}",
                      PROFS_EFORMAT, "id 0 is used by");
    expect_open_error("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [\"a\"]}}", PROFS_EFORMAT,
                      "model.merges[0]: 'a' is not two tokens");
    expect_open_error("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [[\"a\"]]}}", PROFS_EFORMAT,
                      "model.merges[0]");
    expect_open_error("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1}, \"merges\": [\"a b\"]}}",
                      PROFS_EFORMAT, "model.merges[0]: token 'ab' is not in the vocabulary");
    expect_open_error("{\"model\": {\"type\": \"BPE\", \"vocab\": {}, \"merges\": [], \"fuse_unk\": 1}}",
                      PROFS_EFORMAT, "model.fuse_unk: expected true or false");
    expect_open_error("{" MODEL ", \"added_tokens\": [{\"id\": \"x\", \"content\": \"<s>\"}]}", PROFS_EFORMAT,
                      "added_tokens[0].id");
    expect_open_error("{" MODEL ", \"added_tokens\": [{\"id\": 3, \"content\": \"\"}]}", PROFS_EFORMAT,
                      "added_tokens[0].content");
    expect_open_error("{" MODEL ", \"normalizer\": {\"type\": \"Prepend\"}}", PROFS_EFORMAT,
                      "normalizer.prepend: missing");
    expect_open_error("{" MODEL ", \"normalizer\": {\"type\": \"Replace\", \"pattern\": {}, \"content\": \"x\"}}",
                      PROFS_EFORMAT, "normalizer.pattern");
    expect_open_error("{" MODEL ", \"pre_tokenizer\": {\"type\": \"Split\", \"pattern\": {\"Regex\": \"a\"}, "
                      "\"behavior\": \"Sideways\"}}", PROFS_EFORMAT, "pre_tokenizer.behavior: unknown value 'Sideways'");
    expect_open_error("{" MODEL ", \"pre_tokenizer\": {\"type\": \"Metaspace\", \"replacement\": \"ab\"}}",
                      PROFS_EFORMAT, "pre_tokenizer.replacement: expected a single character");
    expect_open_error("{" MODEL ", \"pre_tokenizer\": {\"type\": \"Metaspace\", \"prepend_scheme\": \"sometimes\"}}",
                      PROFS_EFORMAT, "prepend_scheme: unknown value 'sometimes'");
    expect_open_error("{" MODEL ", \"pre_tokenizer\": {\"type\": \"Sequence\", \"pretokenizers\": [{\"x\": 1}]}}",
                      PROFS_EFORMAT, "pre_tokenizer.pretokenizers[0].type: missing");
    expect_open_error("{" MODEL ", \"post_processor\": {\"type\": \"TemplateProcessing\", \"single\": "
                      "[{\"SpecialToken\": {\"id\": \"<s>\", \"type_id\": 0}}, {\"Sequence\": {\"id\": \"A\", "
                      "\"type_id\": 0}}], \"special_tokens\": {}}}", PROFS_EFORMAT, "no entry with ids for '<s>'");
    expect_open_error("{" MODEL ", \"post_processor\": {\"type\": \"TemplateProcessing\", \"single\": "
                      "[{\"SpecialToken\": {\"id\": \"<s>\", \"type_id\": 0}}, {\"Sequence\": {\"id\": \"A\", "
                      "\"type_id\": 0}}], \"special_tokens\": {\"<s>\": {\"id\": \"<s>\", \"ids\": [7], "
                      "\"tokens\": [\"<s>\"]}}}}", PROFS_EFORMAT, "special token id 7 is not in the vocabulary");
    expect_open_error("{" MODEL ", \"decoder\": {\"type\": \"Strip\", \"content\": \" \", \"start\": -1, \"stop\": 0}}",
                      PROFS_EFORMAT, "decoder: start and stop");
}
END_TEST

START_TEST(open_rejects_unsupported_components)
{
    expect_open_error("{\"model\": {\"type\": \"WordLevel\", \"vocab\": {}}}", PROFS_EUNSUPPORTED,
                      "model type 'WordLevel' is not supported");
    expect_open_error("{\"model\": {\"type\": \"Unigram\", \"vocab\": []}}", PROFS_EFORMAT,
                      "model.vocab: expected a non-empty array of [piece, score]");
    expect_open_error("{\"model\": {\"type\": \"Unigram\", \"vocab\": [[\"a\"]]}}", PROFS_EFORMAT,
                      "model.vocab[0]: expected [non-empty piece, score]");
    expect_open_error("{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"a\": 0}}}", PROFS_EFORMAT,
                      "model.unk_token: missing");
    /* found by fuzz_tokenizer: one huge id among two tokens allocated per-id tables of 322 M entries */
    expect_open_error("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 322222222}, \"merges\": []}}",
                      PROFS_EFORMAT, "token id 322222222 is far beyond the 2 tokens of model.vocab and added_tokens");
    expect_open_error("{\"model\": {\"type\": \"BPE\", \"vocab\": {}, \"merges\": [], \"dropout\": 0.1}}",
                      PROFS_EUNSUPPORTED, "model.dropout");
    expect_open_error("{" MODEL ", \"normalizer\": {\"type\": \"Precompiled\", \"precompiled_charsmap\": \"\"}}",
                      PROFS_EUNSUPPORTED, "normalizer: normalizer type 'Precompiled' (a SentencePiece charsmap) is not supported");
    expect_open_error("{" MODEL ", \"normalizer\": {\"type\": \"Sequence\", \"normalizers\": [{\"type\": \"NFC\"}, "
                      "{\"type\": \"Nmt\"}]}}", PROFS_EUNSUPPORTED,
                      "normalizer.normalizers[1]: normalizer type 'Nmt'");
    expect_open_error("{" MODEL ", \"pre_tokenizer\": {\"type\": \"UnicodeScripts\"}}", PROFS_EUNSUPPORTED,
                      "pre-tokenizer type 'UnicodeScripts' is not supported");
    expect_open_error("{" MODEL ", \"post_processor\": {\"type\": \"Mystery\"}}", PROFS_EUNSUPPORTED,
                      "post-processor type 'Mystery' is not supported");
    expect_open_error("{" MODEL ", \"decoder\": {\"type\": \"CTC\", \"pad_token\": \"<pad>\"}}", PROFS_EUNSUPPORTED,
                      "decoder type 'CTC' is not supported");
    expect_open_error("{" MODEL ", \"truncation\": {\"max_length\": 8}}", PROFS_EUNSUPPORTED,
                      "truncation: only null is supported");
    expect_open_error("{" MODEL ", \"padding\": {\"strategy\": \"BatchLongest\"}}", PROFS_EUNSUPPORTED, "padding");
    expect_open_error("{" MODEL ", \"pre_tokenizer\": {\"type\": \"Split\", \"pattern\": {\"Regex\": \"(a\"}, "
                      "\"behavior\": \"Isolated\"}}", PROFS_EUNSUPPORTED, "regex '(a' does not compile");
    expect_open_error("{" MODEL ", \"post_processor\": {\"type\": \"TemplateProcessing\", \"single\": "
                      "[{\"Sequence\": {\"id\": \"A\", \"type_id\": 0}}, {\"Sequence\": {\"id\": \"B\", "
                      "\"type_id\": 1}}], \"special_tokens\": {}}}", PROFS_EUNSUPPORTED, "only one sequence $A");
}
END_TEST

/* Normalised text may grow at most 32 x its input + 256 bytes: four chained
 * Replace("a" -> 1000 x "a") on 10 bytes (10 TB uncapped) are refused naming
 * the normalizer; a real expanding chain (Prepend + Replace(" " -> "▁")) on a
 * text of spaces (3 x) is fine. */
START_TEST(normalizer_growth_is_bounded)
{
    char thousand[1001];
    memset(thousand, 'a', 1000);
    thousand[1000] = '\0';
    char json[8192];
    snprintf(json, sizeof json, "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}, "
             "\"normalizer\": {\"type\": \"Sequence\", \"normalizers\": ["
             "{\"type\": \"Replace\", \"pattern\": {\"String\": \"a\"}, \"content\": \"%s\"}, "
             "{\"type\": \"Replace\", \"pattern\": {\"String\": \"a\"}, \"content\": \"%s\"}, "
             "{\"type\": \"Replace\", \"pattern\": {\"String\": \"a\"}, \"content\": \"%s\"}, "
             "{\"type\": \"Replace\", \"pattern\": {\"String\": \"a\"}, \"content\": \"%s\"}]}}",
             thousand, thousand, thousand, thousand);
    char *dir;
    char *path = write_json("tok_bomb", json, &dir);
    profs_tokenizer *t = NULL;
    ck_assert_profs_ok(profs_tokenizer_open(&t, path));
    int32_t ids[16];
    size_t n = 0;
    /* "a" alone: 1000 bytes after step 0 (bound 288), refused there */
    ck_assert_profs_error(profs_tokenizer_encode(t, "a", 1, 0, ids, 16, &n), PROFS_EUNSUPPORTED,
                          "tokenizer normalizer 0 (Replace): the normalised text would exceed 32 x the input + 256 "
                          "bytes (288 bytes for a 1-byte segment); refused as a growth bomb");
    ck_assert_profs_error(profs_tokenizer_encode(t, "aaaaaaaaaa", 10, 0, ids, 16, &n), PROFS_EUNSUPPORTED,
                          "(576 bytes for a 10-byte segment)");
    /* text without a match passes through */
    ck_assert_profs_ok(profs_tokenizer_encode(t, "", 0, 0, ids, 16, &n));
    profs_tokenizer_free(t);
    tu_rmtree(dir);
    free(dir);
    free(path);

    path = write_json("tok_meta", "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"\u2581\": 0}, \"merges\": []}, "
                      "\"normalizer\": {\"type\": \"Sequence\", \"normalizers\": [{\"type\": \"Prepend\", \"prepend\": \"\u2581\"}, "
                      "{\"type\": \"Replace\", \"pattern\": {\"String\": \" \"}, \"content\": \"\u2581\"}]}}", &dir);
    ck_assert_profs_ok(profs_tokenizer_open(&t, path));
    char spaces[4097];
    memset(spaces, ' ', 4096);
    spaces[4096] = '\0';
    int32_t *big = malloc(8192 * sizeof *big);
    ck_assert_profs_ok(profs_tokenizer_encode(t, spaces, 4096, 0, big, 8192, &n));
    ck_assert_uint_eq(n, 4097);   /* the prepended marker plus one per space */
    free(big);
    profs_tokenizer_free(t);
    tu_rmtree(dir);
    free(dir);
    free(path);
}
END_TEST

START_TEST(encode_size_query_and_small_buffer)
{
    profs_tokenizer *t = open_data("mistral");
    const char *text = "Hello world";
    size_t n = 999;
    ck_assert_profs_error(profs_tokenizer_encode(t, text, strlen(text), PROFS_ENCODE_ADD_SPECIAL, NULL, 0, &n),
                          PROFS_EBUFS, "3 ids do not fit");
    ck_assert_uint_eq(n, 3);
    int32_t ids[3] = {0};
    ck_assert_profs_error(profs_tokenizer_encode(t, text, strlen(text), PROFS_ENCODE_ADD_SPECIAL, ids, 2, &n),
                          PROFS_EBUFS, "buffer of 2");
    ck_assert_uint_eq(n, 3);
    ck_assert_profs_ok(profs_tokenizer_encode(t, text, strlen(text), PROFS_ENCODE_ADD_SPECIAL, ids, 3, &n));
    ck_assert_uint_eq(n, 3);
    ck_assert_int_eq(ids[0], 1);
    ck_assert_int_eq(ids[1], 22557);
    ck_assert_int_eq(ids[2], 1526);
    /* empty input: only the post-processor's ids; NULL text is fine with length 0 */
    ck_assert_profs_ok(profs_tokenizer_encode(t, NULL, 0, PROFS_ENCODE_ADD_SPECIAL, ids, 3, &n));
    ck_assert_uint_eq(n, 1);
    ck_assert_int_eq(ids[0], 1);
    ck_assert_profs_ok(profs_tokenizer_encode(t, NULL, 0, 0, NULL, 0, &n));
    ck_assert_uint_eq(n, 0);
    /* argument errors */
    ck_assert_profs_error(profs_tokenizer_encode(NULL, text, 1, 0, ids, 3, &n), PROFS_EINVAL, "NULL");
    ck_assert_profs_error(profs_tokenizer_encode(t, NULL, 1, 0, ids, 3, &n), PROFS_EINVAL, "NULL");
    ck_assert_profs_error(profs_tokenizer_encode(t, text, 1, 0, NULL, 3, &n), PROFS_EINVAL, "NULL");
    ck_assert_profs_error(profs_tokenizer_encode(t, text, 1, 0x80, ids, 3, &n), PROFS_EINVAL, "unknown flags 0x80");
    /* the text need not be NUL-terminated: an exact-size heap copy (ASan catches any read past it) */
    char *exact = malloc(5);
    memcpy(exact, "Hello", 5);
    ck_assert_profs_ok(profs_tokenizer_encode(t, exact, 5, 0, ids, 3, &n));
    ck_assert_uint_eq(n, 1);
    ck_assert_int_eq(ids[0], 22557);
    free(exact);
    profs_tokenizer_free(t);
}
END_TEST

/* Invalid UTF-8 fails with the offset of the first bad byte, for every tokenizer family. */
START_TEST(encode_rejects_invalid_utf8)
{
    static const struct { const char *s; size_t len, offset; } cases[] = {
        {"ab\xff", 3, 2},                 /* never valid */
        {"\x80", 1, 0},                   /* lone continuation byte */
        {"abc\xE2\x82", 5, 3},            /* truncated at the end of the buffer */
        {"x\xC0\x80y", 4, 1},             /* overlong NUL */
        {"\xE0\x80\xAF", 3, 0},           /* overlong '/' */
        {"ok \xED\xA0\x80", 6, 3},        /* UTF-16 surrogate */
        {"\xF4\x90\x80\x80", 4, 0},       /* above U+10FFFF */
        {"caf\xC3\xA9\xC3", 6, 5},        /* valid é, then a truncated sequence */
        {"\xE2\x82\x41", 3, 0},           /* continuation replaced by ASCII */
    };
    static const char *names[] = {"gpt2", "mistral"};
    for (size_t k = 0; k < 2; k++) {
        profs_tokenizer *t = open_data(names[k]);
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            char *buf = malloc(cases[i].len); /* exact size: no terminator to lean on */
            memcpy(buf, cases[i].s, cases[i].len);
            char want[64];
            snprintf(want, sizeof want, "invalid UTF-8 at byte offset %zu", cases[i].offset);
            int32_t ids[16];
            size_t n;
            ck_assert_profs_error(profs_tokenizer_encode(t, buf, cases[i].len, 0, ids, 16, &n), PROFS_EFORMAT, want);
            free(buf);
        }
        profs_tokenizer_free(t);
    }
}
END_TEST

START_TEST(decode_errors_and_size_query)
{
    profs_tokenizer *t = open_data("gpt2");
    const int32_t ids[] = {15496, 995};
    size_t len = 0;
    ck_assert_profs_error(profs_tokenizer_decode(t, ids, 2, 0, NULL, 0, &len), PROFS_EBUFS, "11 bytes");
    ck_assert_uint_eq(len, 11);
    char buf[12];
    ck_assert_profs_error(profs_tokenizer_decode(t, ids, 2, 0, buf, 11, &len), PROFS_EBUFS, "and a NUL");
    ck_assert_profs_ok(profs_tokenizer_decode(t, ids, 2, 0, buf, 12, &len));
    ck_assert_str_eq(buf, "Hello world");
    ck_assert_uint_eq(len, 11);
    const int32_t bad[] = {15496, 50257};
    ck_assert_profs_error(profs_tokenizer_decode(t, bad, 2, 0, buf, 12, &len), PROFS_EINVAL,
                          "ids[1] = 50257 is not a token id");
    const int32_t neg[] = {-1};
    ck_assert_profs_error(profs_tokenizer_decode(t, neg, 1, 0, buf, 12, &len), PROFS_EINVAL, "ids[0] = -1");
    ck_assert_profs_error(profs_tokenizer_decode(t, ids, 2, 4, buf, 12, &len), PROFS_EINVAL, "unknown flags");
    ck_assert_profs_error(profs_tokenizer_decode(t, NULL, 2, 0, buf, 12, &len), PROFS_EINVAL, "NULL");
    /* skipping special tokens */
    const int32_t with_special[] = {50256, 15496, 50256};
    char big[64];
    ck_assert_profs_ok(profs_tokenizer_decode(t, with_special, 3, 0, big, sizeof big, &len));
    ck_assert_str_eq(big, "<|endoftext|>Hello<|endoftext|>");
    ck_assert_profs_ok(profs_tokenizer_decode(t, with_special, 3, PROFS_DECODE_SKIP_SPECIAL, big, sizeof big, &len));
    ck_assert_str_eq(big, "Hello");
    /* a decoder chain whose tokens all become empty (tiny-b: Metaspace drops the first token's U+2581) */
    profs_tokenizer *tb = open_data("tiny-b");
    int32_t meta;
    ck_assert_profs_ok(profs_tokenizer_token_to_id(tb, "\xE2\x96\x81", &meta));
    ck_assert_profs_ok(profs_tokenizer_decode(tb, &meta, 1, 0, big, sizeof big, &len));
    ck_assert_uint_eq(len, 0);
    ck_assert_str_eq(big, "");
    profs_tokenizer_free(tb);
    /* nothing to decode */
    ck_assert_profs_ok(profs_tokenizer_decode(t, NULL, 0, 0, big, 1, &len));
    ck_assert_uint_eq(len, 0);
    ck_assert_str_eq(big, "");
    profs_tokenizer_free(t);
}
END_TEST

/* The library's internal one-pass encoder (used by profs_lm_tokenize) gives the public encoder's ids. */
START_TEST(encode_alloc_one_pass)
{
    profs_tokenizer *t = open_data("mistral");
    const char *text = "Hello world";
    int32_t *ids = NULL;
    size_t n = 0;
    ck_assert_profs_ok(pf_tokenizer_encode_alloc(t, text, strlen(text), PROFS_ENCODE_ADD_SPECIAL, &ids, &n));
    ck_assert_uint_eq(n, 3);
    ck_assert_int_eq(ids[0], 1);
    ck_assert_int_eq(ids[1], 22557);
    ck_assert_int_eq(ids[2], 1526);
    free(ids);
    ids = (int32_t *)&n; /* not touched on error, NULL for an empty encoding */
    ck_assert_profs_error(pf_tokenizer_encode_alloc(t, "a\xff", 2, 0, &ids, &n), PROFS_EFORMAT, "byte offset 1");
    ck_assert_ptr_eq(ids, &n);
    ck_assert_profs_error(pf_tokenizer_encode_alloc(t, text, 1, 0x40, &ids, &n), PROFS_EINVAL, "unknown flags 0x40");
    ck_assert_profs_error(pf_tokenizer_encode_alloc(t, NULL, 1, 0, &ids, &n), PROFS_EINVAL, "NULL");
    ck_assert_profs_ok(pf_tokenizer_encode_alloc(t, NULL, 0, 0, &ids, &n));
    ck_assert_uint_eq(n, 0);
    ck_assert_ptr_null(ids);
    profs_tokenizer_free(t);
}
END_TEST

START_TEST(vocabulary_lookups)
{
    profs_tokenizer *t = open_data("gpt2");
    ck_assert_uint_eq(profs_tokenizer_vocab_size(t), 50257);
    ck_assert_str_eq(profs_tokenizer_id_to_token(t, 15496), "Hello");
    ck_assert_str_eq(profs_tokenizer_id_to_token(t, 995), "\xC4\xA0world"); /* "Ġworld" */
    ck_assert_str_eq(profs_tokenizer_id_to_token(t, 50256), "<|endoftext|>");
    ck_assert_ptr_null(profs_tokenizer_id_to_token(t, 50257));
    ck_assert_ptr_null(profs_tokenizer_id_to_token(t, -1));
    int32_t id = -5;
    ck_assert_profs_ok(profs_tokenizer_token_to_id(t, "Hello", &id));
    ck_assert_int_eq(id, 15496);
    ck_assert_profs_error(profs_tokenizer_token_to_id(t, "no such token", &id), PROFS_ENOTFOUND, "no such token");
    ck_assert_profs_error(profs_tokenizer_token_to_id(t, NULL, &id), PROFS_EINVAL, "NULL");
    profs_tokenizer_free(t);
    t = open_data("mistral");
    ck_assert_uint_eq(profs_tokenizer_vocab_size(t), 32000);
    ck_assert_str_eq(profs_tokenizer_id_to_token(t, 13), "<0x0A>");
    profs_tokenizer_free(t);
    ck_assert_uint_eq(profs_encode_flag_add_special(), PROFS_ENCODE_ADD_SPECIAL);
    ck_assert_uint_eq(profs_encode_flag_special_as_text(), PROFS_ENCODE_SPECIAL_AS_TEXT);
    ck_assert_uint_eq(profs_decode_flag_skip_special(), PROFS_DECODE_SKIP_SPECIAL);
    profs_tokenizer_free(NULL);
    ck_assert_uint_eq(profs_tokenizer_vocab_size(NULL), 0);
    ck_assert_int_eq(profs_tokenizer_bos_id(NULL), -1);
}
END_TEST

START_TEST(special_ids)
{
    static const struct { const char *name; int32_t bos, eos, pad, unk; } cases[] = {
        {"gpt2", 50256, 50256, -1, 50256},        /* tokenizer_config.json: all <|endoftext|> */
        {"mistral", 1, 2, -1, 0},                 /* config bos/eos, model unk_token */
        {"gpt2-mixed", 50256, 50257, 50258, -1},  /* config names <|sep|> and <pad>; no unk */
        {"gpt2/tokenizer.json", 50256, 50256, -1, -1}, /* file alone: well-known <|endoftext|>, no unk */
        {"mistral/tokenizer.json", 1, 2, -1, 0},  /* template <s> $A; well-known </s> */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        profs_tokenizer *t = open_data(cases[i].name);
        ck_assert_msg(profs_tokenizer_bos_id(t) == cases[i].bos, "%s bos %d", cases[i].name, profs_tokenizer_bos_id(t));
        ck_assert_msg(profs_tokenizer_eos_id(t) == cases[i].eos, "%s eos %d", cases[i].name, profs_tokenizer_eos_id(t));
        ck_assert_msg(profs_tokenizer_pad_id(t) == cases[i].pad, "%s pad %d", cases[i].name, profs_tokenizer_pad_id(t));
        ck_assert_msg(profs_tokenizer_unk_id(t) == cases[i].unk, "%s unk %d", cases[i].name, profs_tokenizer_unk_id(t));
        profs_tokenizer_free(t);
    }
}
END_TEST

/* A Llama-family tokenizer_config.json with add_eos_token rebuilds the post-processor (as transformers does). */
START_TEST(config_add_bos_eos)
{
    char *dir = tu_tmpdir("tok_cfg");
    char *src = tu_data_path("tokenizers/mistral/tokenizer.json");
    size_t len;
    void *json = tu_read_file(src, &len);
    ck_assert_ptr_nonnull(json);
    char *dst = tu_join(dir, "tokenizer.json"), *cfg = tu_join(dir, "tokenizer_config.json");
    ck_assert_int_eq(tu_write_file(dst, json, len), 0);
    const char *c1 = "{\"tokenizer_class\": \"LlamaTokenizer\", \"add_bos_token\": true, \"add_eos_token\": true, "
                     "\"bos_token\": {\"content\": \"<s>\"}, \"eos_token\": \"</s>\", \"model_max_length\": "
                     "1000000000000000019884624838656}";
    ck_assert_int_eq(tu_write_file(cfg, c1, strlen(c1)), 0);
    profs_tokenizer *t = NULL;
    ck_assert_profs_ok(profs_tokenizer_open(&t, dir));
    int32_t ids[8];
    size_t n;
    ck_assert_profs_ok(profs_tokenizer_encode(t, "Hello", 5, PROFS_ENCODE_ADD_SPECIAL, ids, 8, &n));
    ck_assert_uint_eq(n, 3);
    ck_assert_int_eq(ids[0], 1);
    ck_assert_int_eq(ids[1], 22557);
    ck_assert_int_eq(ids[2], 2);
    profs_tokenizer_free(t);
    const char *c2 = "{\"tokenizer_class\": \"LlamaTokenizerFast\", \"add_bos_token\": false}";
    ck_assert_int_eq(tu_write_file(cfg, c2, strlen(c2)), 0);
    ck_assert_profs_ok(profs_tokenizer_open(&t, dir));
    ck_assert_profs_ok(profs_tokenizer_encode(t, "Hello", 5, PROFS_ENCODE_ADD_SPECIAL, ids, 8, &n));
    ck_assert_uint_eq(n, 1);
    ck_assert_int_eq(ids[0], 22557);
    profs_tokenizer_free(t);
    /* the class alone rebuilds the post-processor: BOS by default, even when tokenizer.json has none */
    json_error_t jerr;
    json_t *root = json_loadb(json, len, 0, &jerr);
    ck_assert_ptr_nonnull(root);
    json_object_set_new(root, "post_processor", json_null());
    ck_assert_int_eq(json_dump_file(root, dst, 0), 0);
    const char *c5 = "{\"tokenizer_class\": \"LlamaTokenizerFast\"}";
    ck_assert_int_eq(tu_write_file(cfg, c5, strlen(c5)), 0);
    ck_assert_profs_ok(profs_tokenizer_open(&t, dir));
    ck_assert_profs_ok(profs_tokenizer_encode(t, "Hello", 5, PROFS_ENCODE_ADD_SPECIAL, ids, 8, &n));
    ck_assert_uint_eq(n, 2);
    ck_assert_int_eq(ids[0], 1);
    profs_tokenizer_free(t);
    /* ... while another class keeps tokenizer.json's (no) post-processor */
    const char *c6 = "{\"tokenizer_class\": \"PreTrainedTokenizerFast\", \"add_bos_token\": true}";
    ck_assert_int_eq(tu_write_file(cfg, c6, strlen(c6)), 0);
    ck_assert_profs_ok(profs_tokenizer_open(&t, dir));
    ck_assert_profs_ok(profs_tokenizer_encode(t, "Hello", 5, PROFS_ENCODE_ADD_SPECIAL, ids, 8, &n));
    ck_assert_uint_eq(n, 1);
    ck_assert_int_eq(ids[0], 22557);
    profs_tokenizer_free(t);
    json_decref(root);
    ck_assert_int_eq(tu_write_file(dst, json, len), 0);
    /* a config name that is not a token falls back to the well-known names (</s> here) */
    const char *c3 = "{\"tokenizer_class\": \"LlamaTokenizer\", \"add_eos_token\": true, \"eos_token\": \"<nope>\"}";
    ck_assert_int_eq(tu_write_file(cfg, c3, strlen(c3)), 0);
    ck_assert_profs_ok(profs_tokenizer_open(&t, dir));
    ck_assert_int_eq(profs_tokenizer_eos_id(t), 2);
    ck_assert_profs_ok(profs_tokenizer_encode(t, "Hello", 5, PROFS_ENCODE_ADD_SPECIAL, ids, 8, &n));
    ck_assert_uint_eq(n, 3);
    ck_assert_int_eq(ids[2], 2);
    profs_tokenizer_free(t);
    /* ... and with no token to fall back on, asking for one is an error (add_bos_token defaults to true) */
    const char *tiny = "{" MODEL "}";
    ck_assert_int_eq(tu_write_file(dst, tiny, strlen(tiny)), 0);
    ck_assert_profs_error(profs_tokenizer_open(&t, dir), PROFS_EFORMAT, "add_bos_token is true but bos_token");
    const char *c4 = "{\"bos_token\": ";
    ck_assert_int_eq(tu_write_file(cfg, c4, strlen(c4)), 0);
    ck_assert_profs_error(profs_tokenizer_open(&t, dir), PROFS_EFORMAT, "tokenizer_config.json");
    tu_rmtree(dir);
    free(dir);
    free(src);
    free(dst);
    free(cfg);
    free(json);
}
END_TEST

/* Directories with vocab.json + merges.txt (no tokenizer.json). */
START_TEST(slow_files)
{
    char *dir = tu_tmpdir("tok_slow_err");
    char *vocab = tu_join(dir, "vocab.json"), *merges = tu_join(dir, "merges.txt");
    const char *v = "{\"a\": 0, \"b\": 1, \"ab\": 2, \"\u0120\": 3}";
    ck_assert_int_eq(tu_write_file(vocab, v, strlen(v)), 0);
    const char *m1 = "#version: 0.2\na b\n", *m2 = "#version: 0.2\na b\nab\n";
    ck_assert_int_eq(tu_write_file(merges, m1, strlen(m1)), 0);
    profs_tokenizer *t = NULL;
    ck_assert_profs_ok(profs_tokenizer_open(&t, dir));
    int32_t ids[8];
    size_t n;
    ck_assert_profs_ok(profs_tokenizer_encode(t, "ab a", 4, PROFS_ENCODE_ADD_SPECIAL, ids, 8, &n));
    ck_assert_uint_eq(n, 3);
    ck_assert_int_eq(ids[0], 2);
    ck_assert_int_eq(ids[1], 3); /* " a" -> "Ġ", "a": no merge */
    ck_assert_int_eq(ids[2], 0);
    profs_tokenizer_free(t);
    ck_assert_int_eq(tu_write_file(merges, m2, strlen(m2)), 0);
    ck_assert_profs_error(profs_tokenizer_open(&t, dir), PROFS_EFORMAT, "merges.txt:3: expected two tokens");
    ck_assert_int_eq(tu_write_file(merges, "a c\n", 4), 0);
    ck_assert_profs_error(profs_tokenizer_open(&t, dir), PROFS_EFORMAT, "vocab.json: model.merges[0]: token 'c'");
    ck_assert_int_eq(tu_write_file(vocab, "[1]", 3), 0);
    ck_assert_profs_error(profs_tokenizer_open(&t, dir), PROFS_EFORMAT, "vocab.json: expected an object");
    unlink(merges);
    ck_assert_int_eq(tu_write_file(vocab, v, strlen(v)), 0);
    ck_assert_profs_error(profs_tokenizer_open(&t, dir), PROFS_EIO, "merges.txt: cannot open");
    tu_rmtree(dir);
    free(dir);
    free(vocab);
    free(merges);
}
END_TEST

/* Special-token text: split out by default, plain text with PROFS_ENCODE_SPECIAL_AS_TEXT. */
START_TEST(special_as_text)
{
    profs_tokenizer *t = open_data("gpt2");
    const char *s = "a<|endoftext|>b";
    int32_t ids[16];
    size_t n;
    ck_assert_profs_ok(profs_tokenizer_encode(t, s, strlen(s), 0, ids, 16, &n));
    ck_assert_uint_eq(n, 3);
    ck_assert_int_eq(ids[1], 50256);
    ck_assert_profs_ok(profs_tokenizer_encode(t, s, strlen(s), PROFS_ENCODE_SPECIAL_AS_TEXT, ids, 16, &n));
    ck_assert_uint_gt(n, 3);
    for (size_t i = 0; i < n; i++) ck_assert_int_ne(ids[i], 50256);
    profs_tokenizer_free(t);
}
END_TEST

typedef struct {
    const profs_tokenizer *t;
    const char *text;
    size_t len;
    const int32_t *want;
    size_t n_want;
    int ok;
} job;

static void *encode_many(void *arg)
{
    job *j = arg;
    int32_t *ids = malloc(j->n_want * sizeof *ids);
    j->ok = 1;
    for (int r = 0; r < 20 && j->ok; r++) {
        size_t n;
        j->ok = profs_tokenizer_encode(j->t, j->text, j->len, PROFS_ENCODE_ADD_SPECIAL, ids, j->n_want, &n) == 0 &&
                n == j->n_want && memcmp(ids, j->want, n * sizeof *ids) == 0;
    }
    free(ids);
    return NULL;
}

START_TEST(shared_handle_is_thread_safe)
{
    static const char *names[] = {"gpt2", "mistral", "llama3-style"};
    const char *text = "Threads share one tokenizer: \xF0\x9F\x98\x80 caf\xC3\xA9 12345 <s> don't   stop\n\tnow.";
    for (size_t k = 0; k < 3; k++) {
        profs_tokenizer *t = open_data(names[k]);
        int32_t want[256];
        size_t n;
        ck_assert_profs_ok(profs_tokenizer_encode(t, text, strlen(text), PROFS_ENCODE_ADD_SPECIAL, want, 256, &n));
        pthread_t th[4];
        job jobs[4];
        for (int i = 0; i < 4; i++) {
            jobs[i] = (job){t, text, strlen(text), want, n, 0};
            ck_assert_int_eq(pthread_create(&th[i], NULL, encode_many, &jobs[i]), 0);
        }
        for (int i = 0; i < 4; i++) {
            pthread_join(th[i], NULL);
            ck_assert_msg(jobs[i].ok, "%s: thread %d got different ids", names[k], i);
        }
        profs_tokenizer_free(t);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("tokenizer");
    TCase *tc = tcase_create("tokenizer");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, open_rejects_malformed_files);
    tcase_add_test(tc, open_rejects_unsupported_components);
    tcase_add_test(tc, encode_size_query_and_small_buffer);
    tcase_add_test(tc, normalizer_growth_is_bounded);
    tcase_add_test(tc, encode_alloc_one_pass);
    tcase_add_test(tc, encode_rejects_invalid_utf8);
    tcase_add_test(tc, decode_errors_and_size_query);
    tcase_add_test(tc, vocabulary_lookups);
    tcase_add_test(tc, special_ids);
    tcase_add_test(tc, config_add_bos_eos);
    tcase_add_test(tc, special_as_text);
    tcase_add_test(tc, slow_files);
    tcase_add_test(tc, shared_handle_is_thread_safe);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
