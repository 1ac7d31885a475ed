/* Model directories without tokenizer.json but with GPT-2-style "slow" files (vocab.json + merges.txt;
 * OPT, older GPT-2 and GPT-J checkpoints): build the tokenizer.json that transformers' GPT2Converter makes
 * of them, so that the ordinary loader reads it.
 *
 *   model          BPE(vocab.json, merges.txt), no unk token, no subword prefix/suffix
 *   pre_tokenizer  ByteLevel(add_prefix_space = tokenizer_config.add_prefix_space, default false)
 *   post_processor TemplateProcessing "<bos> $A" when tokenizer_config.add_bos_token, else ByteLevel
 *   decoder        ByteLevel
 *   added_tokens   tokenizer_config.added_tokens_decoder when present, then the bos/eos/unk/pad and
 *                  additional special tokens named by the config (special, not normalized)
 *
 * merges.txt: one "a b" merge per line, after a first "#version" line; empty lines are skipped. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "text/tok_internal.h"

static char *join(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/%s", dir, name);
    return p;
}

static json_t *read_merges(const char *file, int *rc)
{
    FILE *f = fopen(file, "rb");
    if (!f) {
        *rc = pf_error(PROFS_EIO, "%s: cannot open: %s", file, strerror(errno));
        return NULL;
    }
    json_t *arr = json_array();
    char *line = NULL;
    size_t cap = 0, lineno = 0;
    ssize_t len;
    *rc = arr ? PROFS_OK : pf_enomem("merges");
    while (!*rc && (len = getline(&line, &cap, f)) >= 0) {
        lineno++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = '\0';
        if (len == 0 || (lineno == 1 && line[0] == '#')) continue;
        char *sp = memchr(line, ' ', (size_t)len);
        if (!sp || sp == line || sp + 1 == line + len || memchr(sp + 1, ' ', (size_t)(line + len - sp - 1))) {
            *rc = pf_error(PROFS_EFORMAT, "%s:%zu: expected two tokens separated by one space", file, lineno);
            break;
        }
        json_t *s = json_stringn_nocheck(line, (size_t)len);
        if (!s || json_array_append_new(arr, s)) *rc = pf_enomem("merges");
    }
    free(line);
    fclose(f);
    if (*rc) {
        json_decref(arr);
        return NULL;
    }
    return arr;
}

/* bos_token etc.: a string or {"content": ...}. */
static const char *token_name(json_t *cfg, const char *key)
{
    json_t *v = json_object_get(cfg, key);
    if (json_is_object(v)) v = json_object_get(v, "content");
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static int add_special(json_t *added, json_t *vocab, const char *content)
{
    if (!content || !content[0]) return PROFS_OK;
    for (size_t i = 0; i < json_array_size(added); i++)
        if (!strcmp(json_string_value(json_object_get(json_array_get(added, i), "content")), content))
            return PROFS_OK;
    json_t *id = json_object_get(vocab, content);
    json_t *tok = json_pack("{s:I, s:s, s:b, s:b, s:b, s:b, s:b}", "id",
                            json_is_integer(id) ? json_integer_value(id) : (json_int_t)json_object_size(vocab),
                            "content", content, "single_word", 0, "lstrip", 0, "rstrip", 0, "normalized", 0,
                            "special", 1);
    if (!tok || json_array_append_new(added, tok)) return pf_enomem("added tokens");
    return PROFS_OK;
}

json_t *pf_tok_from_slow_files(const char *dir, json_t *cfg, const char *vocab_file, int *rc)
{
    json_error_t err;
    json_t *vocab = json_load_file(vocab_file, 0, &err), *root = NULL, *merges = NULL;
    char *merges_file = join(dir, "merges.txt");
    if (!merges_file) {
        json_decref(vocab);
        *rc = pf_enomem("path");
        return NULL;
    }
    if (!vocab) *rc = pf_error(PROFS_EFORMAT, "%s:%d:%d: invalid JSON: %s", vocab_file, err.line, err.column, err.text);
    else if (!json_is_object(vocab)) *rc = pf_error(PROFS_EFORMAT, "%s: expected an object {token: id}", vocab_file);
    else merges = read_merges(merges_file, rc);
    free(merges_file);
    if (*rc) {
        json_decref(vocab);
        return NULL;
    }
    json_t *aps = json_object_get(cfg, "add_prefix_space"), *abos = json_object_get(cfg, "add_bos_token");
    json_t *added = json_array();
    root = json_pack("{s:{s:s, s:O, s:o, s:n, s:n, s:s, s:s, s:b, s:b}, s:o, s:n, s:{s:s, s:b, s:b, s:b},"
                     " s:{s:s, s:b, s:b, s:b}}",
                     "model", "type", "BPE", "vocab", vocab, "merges", merges, "dropout", "unk_token",
                     "continuing_subword_prefix", "", "end_of_word_suffix", "", "fuse_unk", 0, "byte_fallback", 0,
                     "added_tokens", added, "normalizer",
                     "pre_tokenizer", "type", "ByteLevel", "add_prefix_space", json_is_true(aps), "trim_offsets", 1,
                     "use_regex", 1,
                     "decoder", "type", "ByteLevel", "add_prefix_space", 1, "trim_offsets", 1, "use_regex", 1);
    if (!root) {
        json_decref(vocab);
        *rc = pf_enomem("tokenizer");
        return NULL;
    }
    /* added tokens: the config's own list first, then the special tokens it names */
    json_t *dec = json_object_get(cfg, "added_tokens_decoder");
    const char *key;
    json_t *v;
    *rc = PROFS_OK;
    json_object_foreach(dec, key, v) {
        char *end;
        long id = strtol(key, &end, 10);
        if (*end || id < 0 || !json_is_object(v) || !json_is_string(json_object_get(v, "content"))) {
            *rc = pf_error(PROFS_EFORMAT, "tokenizer_config.json: added_tokens_decoder['%s']: expected an id and "
                           "{\"content\": ...}", key);
            break;
        }
        json_t *tok = json_deep_copy(v);
        if (!tok || json_object_set_new(tok, "id", json_integer(id)) || json_array_append_new(added, tok)) {
            *rc = pf_enomem("added tokens");
            break;
        }
    }
    static const char *const keys[] = {"bos_token", "eos_token", "unk_token", "pad_token", NULL};
    for (size_t i = 0; !*rc && keys[i]; i++) *rc = add_special(added, vocab, token_name(cfg, keys[i]));
    json_t *extra = json_object_get(cfg, "additional_special_tokens");
    for (size_t i = 0; !*rc && i < json_array_size(extra); i++) {
        json_t *e = json_array_get(extra, i);
        if (json_is_object(e)) e = json_object_get(e, "content");
        if (json_is_string(e)) *rc = add_special(added, vocab, json_string_value(e));
    }
    /* the post-processor */
    const char *bos = token_name(cfg, "bos_token");
    json_t *post = NULL;
    if (!*rc && json_is_true(abos)) {
        json_t *id = bos ? json_object_get(vocab, bos) : NULL;
        for (size_t i = 0; bos && !id && i < json_array_size(added); i++)
            if (!strcmp(json_string_value(json_object_get(json_array_get(added, i), "content")), bos))
                id = json_object_get(json_array_get(added, i), "id");
        if (!json_is_integer(id))
            *rc = pf_error(PROFS_EFORMAT, "tokenizer_config.json: add_bos_token is true but bos_token is not a token");
        else
            post = json_pack("{s:s, s:[{s:{s:s, s:i}}, {s:{s:s, s:i}}], s:{s:{s:s, s:[O], s:[s]}}}", "type",
                             "TemplateProcessing", "single", "SpecialToken", "id", bos, "type_id", 0, "Sequence", "id",
                             "A", "type_id", 0, "special_tokens", bos, "id", bos, "ids", id, "tokens", bos);
    } else if (!*rc) {
        post = json_pack("{s:s, s:b, s:b, s:b}", "type", "ByteLevel", "add_prefix_space", 1, "trim_offsets", 0,
                         "use_regex", 1);
    }
    if (!*rc && (!post || json_object_set_new(root, "post_processor", post))) *rc = pf_enomem("post-processor");
    json_decref(vocab); /* root holds its own reference */
    if (*rc) {
        json_decref(root);
        return NULL;
    }
    return root;
}
