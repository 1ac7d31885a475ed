/* Tokenizer loader: tokenizer.json (+ tokenizer_config.json) -> profs_tokenizer.
 *
 * tokenizer.json (Hugging Face tokenizers' serialisation) is one object:
 *   model          {"type": "BPE", "vocab": {token: id}, "merges": ["a b", ...] or [["a", "b"], ...],
 *                   "unk_token", "continuing_subword_prefix", "end_of_word_suffix", "fuse_unk",
 *                   "byte_fallback", "ignore_merges", "dropout"}
 *                  or {"type": "WordPiece", "vocab": {token: id}, "unk_token", "continuing_subword_prefix",
 *                   "max_input_chars_per_word"}
 *                  or {"type": "Unigram", "vocab": [[piece, score], ...], "unk_id", "byte_fallback"}
 *   added_tokens   [{"id", "content", "single_word", "lstrip", "rstrip", "normalized", "special"}]
 *   normalizer, pre_tokenizer, post_processor, decoder: null or {"type": ..., options}
 *   truncation, padding: must be null (not implemented)
 * Every field is validated; a type or option that is not implemented is PROFS_EUNSUPPORTED naming it. */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/error.h"
#include "text/tok_api.h"
#include "text/tok_internal.h"

typedef struct {
    const char *file; /* for messages */
    profs_tokenizer *t;
    int32_t *added_ids; /* ids assigned to added_tokens[i] */
    json_t *uni_vocab;  /* Unigram: {piece: id} built from the [[piece, score]] array (the last duplicate wins) */
} loader;

static char *dup_n(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (!d) return NULL;
    if (n) memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

/* ---------------------------------------------------------------- field helpers */

static int get_bool(loader *L, json_t *obj, const char *key, int def, int *out, const char *where)
{
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v)) { *out = def; return PROFS_OK; }
    if (!json_is_boolean(v))
        return pf_error(PROFS_EFORMAT, "%s: %s.%s: expected true or false", L->file, where, key);
    *out = json_is_true(v);
    return PROFS_OK;
}

/* A string field: *out borrowed from the JSON (NULL when absent or null and optional). */
static int get_str(loader *L, json_t *obj, const char *key, int required, const char **out, size_t *len,
                   const char *where)
{
    json_t *v = json_object_get(obj, key);
    *out = NULL;
    if (len) *len = 0;
    if (!v || json_is_null(v)) {
        if (required) return pf_error(PROFS_EFORMAT, "%s: %s.%s: missing", L->file, where, key);
        return PROFS_OK;
    }
    if (!json_is_string(v)) return pf_error(PROFS_EFORMAT, "%s: %s.%s: expected a string", L->file, where, key);
    *out = json_string_value(v);
    if (len) *len = json_string_length(v);
    return PROFS_OK;
}

static int get_type(loader *L, json_t *obj, const char *where, const char **type)
{
    if (!json_is_object(obj)) return pf_error(PROFS_EFORMAT, "%s: %s: expected an object or null", L->file, where);
    return get_str(L, obj, "type", 1, type, NULL, where);
}

/* {"String": s} or {"Regex": r}: compiles a regex (literal for String). */
static int get_pattern(loader *L, json_t *obj, const char *where, pf_regex *re)
{
    json_t *p = json_object_get(obj, "pattern");
    char what[160];
    snprintf(what, sizeof what, "%s: %s.pattern", L->file, where);
    if (!json_is_object(p)) return pf_error(PROFS_EFORMAT, "%s: expected {\"String\": ...} or {\"Regex\": ...}", what);
    json_t *s = json_object_get(p, "String"), *r = json_object_get(p, "Regex");
    if (json_is_string(s)) return pf_regex_compile(re, json_string_value(s), json_string_length(s), 1, what);
    if (json_is_string(r)) return pf_regex_compile(re, json_string_value(r), json_string_length(r), 0, what);
    return pf_error(PROFS_EFORMAT, "%s: expected {\"String\": ...} or {\"Regex\": ...}", what);
}

/* A single-character string (Metaspace replacement, Strip content). */
static int get_char(loader *L, json_t *obj, const char *key, const char *def, char rep[5], size_t *rep_len,
                    uint32_t *cp, const char *where)
{
    const char *s;
    size_t n;
    int rc = get_str(L, obj, key, 0, &s, &n, where);
    if (rc) return rc;
    if (!s) { s = def; n = strlen(def); }
    size_t l = n ? pf_utf8_valid_len((const unsigned char *)s, n) : 0;
    if (!l || l != n)
        return pf_error(PROFS_EFORMAT, "%s: %s.%s: expected a single character", L->file, where, key);
    memcpy(rep, s, n);
    rep[n] = '\0';
    *rep_len = n;
    if (cp) *cp = pf_utf8_decode(s, &l);
    return PROFS_OK;
}

static int get_prepend_scheme(loader *L, json_t *obj, const char *where, int *out)
{
    const char *s;
    int rc = get_str(L, obj, "prepend_scheme", 0, &s, NULL, where);
    if (rc) return rc;
    if (!s) { /* older files: add_prefix_space */
        int aps = 0;
        rc = get_bool(L, obj, "add_prefix_space", 1, &aps, where);
        *out = aps ? PF_PREPEND_ALWAYS : PF_PREPEND_NEVER;
        return rc;
    }
    if (!strcmp(s, "always")) *out = PF_PREPEND_ALWAYS;
    else if (!strcmp(s, "first")) *out = PF_PREPEND_FIRST;
    else if (!strcmp(s, "never")) *out = PF_PREPEND_NEVER;
    else return pf_error(PROFS_EFORMAT, "%s: %s.prepend_scheme: unknown value '%s'", L->file, where, s);
    return PROFS_OK;
}

/* ---------------------------------------------------------------- normalizers */

static int push_norm(loader *L, pf_norm **out)
{
    profs_tokenizer *t = L->t;
    pf_norm *n = realloc(t->norm, (t->n_norm + 1) * sizeof *n);
    if (!n) return pf_enomem("normalizers");
    t->norm = n;
    *out = memset(&n[t->n_norm++], 0, sizeof *n);
    return PROFS_OK;
}

static int parse_normalizer(loader *L, json_t *obj, const char *where)
{
    if (!obj || json_is_null(obj)) return PROFS_OK;
    const char *type;
    int rc = get_type(L, obj, where, &type);
    if (rc) return rc;
    pf_norm *n = NULL;
    if (!strcmp(type, "Sequence")) {
        json_t *list = json_object_get(obj, "normalizers");
        if (!json_is_array(list))
            return pf_error(PROFS_EFORMAT, "%s: %s.normalizers: expected an array", L->file, where);
        for (size_t i = 0; i < json_array_size(list); i++) {
            char sub[128];
            snprintf(sub, sizeof sub, "%s.normalizers[%zu]", where, i);
            if ((rc = parse_normalizer(L, json_array_get(list, i), sub))) return rc;
        }
        return PROFS_OK;
    }
    static const struct { const char *name; int kind; } simple[] = {
        {"NFC", PF_NORM_NFC}, {"NFD", PF_NORM_NFD}, {"NFKC", PF_NORM_NFKC}, {"NFKD", PF_NORM_NFKD},
        {"Lowercase", PF_NORM_LOWERCASE}, {"StripAccents", PF_NORM_STRIP_ACCENTS},
    };
    for (size_t i = 0; i < sizeof simple / sizeof simple[0]; i++)
        if (!strcmp(type, simple[i].name)) {
            if ((rc = push_norm(L, &n))) return rc;
            n->kind = simple[i].kind;
            return PROFS_OK;
        }
    if (!strcmp(type, "Prepend") || !strcmp(type, "Replace")) {
        const char *s;
        size_t len;
        int is_prepend = !strcmp(type, "Prepend");
        if ((rc = get_str(L, obj, is_prepend ? "prepend" : "content", 1, &s, &len, where))) return rc;
        if ((rc = push_norm(L, &n))) return rc;
        n->kind = is_prepend ? PF_NORM_PREPEND : PF_NORM_REPLACE;
        if (!(n->str = dup_n(s, len))) return pf_enomem("normalizer");
        n->str_len = len;
        if (!is_prepend) {
            if ((rc = get_pattern(L, obj, where, &n->re))) return rc;
            n->has_re = 1;
        }
        return PROFS_OK;
    }
    if (!strcmp(type, "BertNormalizer")) {
        /* as tokenizers' BertNormalizer: clean_text, handle_chinese_chars, strip_accents (null: as lowercase,
         * NFD then drop Mn), lowercase, in that order */
        int clean, chinese, lower, strip;
        if ((rc = get_bool(L, obj, "clean_text", 1, &clean, where))) return rc;
        if ((rc = get_bool(L, obj, "handle_chinese_chars", 1, &chinese, where))) return rc;
        if ((rc = get_bool(L, obj, "lowercase", 1, &lower, where))) return rc;
        if ((rc = get_bool(L, obj, "strip_accents", lower, &strip, where))) return rc;
        static const int order[] = {PF_NORM_BERT_CLEAN, PF_NORM_BERT_CHINESE, PF_NORM_NFD, PF_NORM_STRIP_MN,
                                    PF_NORM_LOWERCASE};
        const int on[] = {clean, chinese, strip, strip, lower};
        for (int i = 0; i < 5; i++) {
            if (!on[i]) continue;
            if ((rc = push_norm(L, &n))) return rc;
            n->kind = order[i];
        }
        return PROFS_OK;
    }
    if (!strcmp(type, "Precompiled"))
        return pf_error(PROFS_EUNSUPPORTED, "%s: %s: normalizer type 'Precompiled' (a SentencePiece charsmap) is not "
                        "supported", L->file, where);
    if (!strcmp(type, "Strip")) {
        int left = 0, right = 0;
        if ((rc = get_bool(L, obj, "strip_left", 1, &left, where))) return rc;
        if ((rc = get_bool(L, obj, "strip_right", 1, &right, where))) return rc;
        if ((rc = push_norm(L, &n))) return rc;
        n->kind = PF_NORM_STRIP;
        n->left = left;
        n->right = right;
        return PROFS_OK;
    }
    return pf_error(PROFS_EUNSUPPORTED, "%s: %s: normalizer type '%s' is not supported", L->file, where, type);
}

/* ---------------------------------------------------------------- pre-tokenizers */

/* The GPT-2 pre-tokenization regex (ByteLevel with use_regex). */
static const char GPT2_PATTERN[] =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

static int push_pre(loader *L, pf_pre **out)
{
    profs_tokenizer *t = L->t;
    pf_pre *p = realloc(t->pre, (t->n_pre + 1) * sizeof *p);
    if (!p) return pf_enomem("pre-tokenizers");
    t->pre = p;
    *out = memset(&p[t->n_pre++], 0, sizeof *p);
    return PROFS_OK;
}

/* A split behaviour: "Removed", "Isolated", "MergedWithPrevious", "MergedWithNext", "Contiguous"
 * (Isolated when absent and optional). */
static int get_behavior(loader *L, json_t *obj, int required, int *out, const char *where)
{
    const char *beh;
    int rc = get_str(L, obj, "behavior", required, &beh, NULL, where);
    if (rc) return rc;
    if (!beh) { *out = PF_ISOLATED; return PROFS_OK; }
    static const char *names[] = {"Removed", "Isolated", "MergedWithPrevious", "MergedWithNext", "Contiguous"};
    for (int i = 0; i < 5; i++)
        if (!strcmp(beh, names[i])) { *out = i; return PROFS_OK; }
    return pf_error(PROFS_EFORMAT, "%s: %s.behavior: unknown value '%s'", L->file, where, beh);
}

static int parse_pre(loader *L, json_t *obj, const char *where)
{
    if (!obj || json_is_null(obj)) return PROFS_OK;
    const char *type;
    int rc = get_type(L, obj, where, &type);
    if (rc) return rc;
    pf_pre *p = NULL;
    char what[160];
    if (!strcmp(type, "Sequence")) {
        json_t *list = json_object_get(obj, "pretokenizers");
        if (!json_is_array(list))
            return pf_error(PROFS_EFORMAT, "%s: %s.pretokenizers: expected an array", L->file, where);
        for (size_t i = 0; i < json_array_size(list); i++) {
            char sub[128];
            snprintf(sub, sizeof sub, "%s.pretokenizers[%zu]", where, i);
            if ((rc = parse_pre(L, json_array_get(list, i), sub))) return rc;
        }
        return PROFS_OK;
    }
    if (!strcmp(type, "ByteLevel")) {
        int aps = 0, regex = 0;
        if ((rc = get_bool(L, obj, "add_prefix_space", 1, &aps, where))) return rc;
        if ((rc = get_bool(L, obj, "use_regex", 1, &regex, where))) return rc;
        if ((rc = push_pre(L, &p))) return rc;
        p->kind = PF_PRE_BYTELEVEL;
        p->add_prefix_space = aps;
        p->use_regex = regex;
        if (regex) {
            snprintf(what, sizeof what, "%s: %s (GPT-2 regex)", L->file, where);
            if ((rc = pf_regex_compile(&p->re, GPT2_PATTERN, sizeof GPT2_PATTERN - 1, 0, what))) return rc;
            p->has_re = 1;
        }
        return PROFS_OK;
    }
    if (!strcmp(type, "Split")) {
        int invert = 0, b = 0;
        if ((rc = get_behavior(L, obj, 1, &b, where))) return rc;
        if ((rc = get_bool(L, obj, "invert", 0, &invert, where))) return rc;
        if ((rc = push_pre(L, &p))) return rc;
        p->kind = PF_PRE_SPLIT;
        p->behavior = b;
        p->invert = invert;
        if ((rc = get_pattern(L, obj, where, &p->re))) return rc;
        p->has_re = 1;
        return PROFS_OK;
    }
    if (!strcmp(type, "Metaspace")) {
        int split = 0;
        if ((rc = push_pre(L, &p))) return rc;
        p->kind = PF_PRE_METASPACE;
        if ((rc = get_char(L, obj, "replacement", "\xE2\x96\x81", p->rep, &p->rep_len, &p->rep_cp, where))) return rc;
        if ((rc = get_prepend_scheme(L, obj, where, &p->prepend))) return rc;
        if ((rc = get_bool(L, obj, "split", 1, &split, where))) return rc;
        p->split = split;
        return PROFS_OK;
    }
    if (!strcmp(type, "Digits")) {
        int ind = 0;
        if ((rc = get_bool(L, obj, "individual_digits", 0, &ind, where))) return rc;
        if ((rc = push_pre(L, &p))) return rc;
        p->kind = PF_PRE_DIGITS;
        p->individual = ind;
        return PROFS_OK;
    }
    if (!strcmp(type, "Whitespace")) {
        static const char pat[] = "\\w+|[^\\w\\s]+";
        if ((rc = push_pre(L, &p))) return rc;
        p->kind = PF_PRE_WHITESPACE;
        snprintf(what, sizeof what, "%s: %s", L->file, where);
        if ((rc = pf_regex_compile(&p->re, pat, sizeof pat - 1, 0, what))) return rc;
        p->has_re = 1;
        return PROFS_OK;
    }
    if (!strcmp(type, "WhitespaceSplit") || !strcmp(type, "BertPreTokenizer")) {
        if ((rc = push_pre(L, &p))) return rc;
        p->kind = PF_PRE_WHITESPACE_SPLIT;
        if (type[0] == 'W') return PROFS_OK;
        /* BertPreTokenizer: whitespace removed, then each punctuation character isolated */
        if ((rc = push_pre(L, &p))) return rc;
        p->kind = PF_PRE_PUNCTUATION;
        p->behavior = PF_ISOLATED;
        return PROFS_OK;
    }
    if (!strcmp(type, "Punctuation")) {
        int b;
        if ((rc = get_behavior(L, obj, 0, &b, where))) return rc;
        if ((rc = push_pre(L, &p))) return rc;
        p->kind = PF_PRE_PUNCTUATION;
        p->behavior = b;
        return PROFS_OK;
    }
    if (!strcmp(type, "CharDelimiterSplit")) {
        if ((rc = push_pre(L, &p))) return rc;
        p->kind = PF_PRE_CHAR_DELIMITER;
        json_t *d = json_object_get(obj, "delimiter");
        if (!json_is_string(d)) return pf_error(PROFS_EFORMAT, "%s: %s.delimiter: missing", L->file, where);
        return get_char(L, obj, "delimiter", " ", p->rep, &p->rep_len, &p->rep_cp, where);
    }
    return pf_error(PROFS_EUNSUPPORTED, "%s: %s: pre-tokenizer type '%s' is not supported", L->file, where, type);
}

/* ---------------------------------------------------------------- decoders */

static int push_dec(loader *L, pf_dec **out)
{
    profs_tokenizer *t = L->t;
    pf_dec *d = realloc(t->dec, (t->n_dec + 1) * sizeof *d);
    if (!d) return pf_enomem("decoders");
    t->dec = d;
    *out = memset(&d[t->n_dec++], 0, sizeof *d);
    return PROFS_OK;
}

static int parse_decoder(loader *L, json_t *obj, const char *where)
{
    if (!obj || json_is_null(obj)) return PROFS_OK;
    const char *type;
    int rc = get_type(L, obj, where, &type);
    if (rc) return rc;
    pf_dec *d = NULL;
    L->t->has_decoder = 1;
    if (!strcmp(type, "Sequence")) {
        json_t *list = json_object_get(obj, "decoders");
        if (!json_is_array(list))
            return pf_error(PROFS_EFORMAT, "%s: %s.decoders: expected an array", L->file, where);
        for (size_t i = 0; i < json_array_size(list); i++) {
            char sub[128];
            snprintf(sub, sizeof sub, "%s.decoders[%zu]", where, i);
            if ((rc = parse_decoder(L, json_array_get(list, i), sub))) return rc;
        }
        return PROFS_OK;
    }
    if (!strcmp(type, "ByteLevel") || !strcmp(type, "ByteFallback") || !strcmp(type, "Fuse")) {
        if ((rc = push_dec(L, &d))) return rc;
        d->kind = type[0] == 'F' ? PF_DEC_FUSE : type[4] == 'L' ? PF_DEC_BYTELEVEL : PF_DEC_BYTEFALLBACK;
        return PROFS_OK;
    }
    if (!strcmp(type, "Metaspace")) {
        if ((rc = push_dec(L, &d))) return rc;
        d->kind = PF_DEC_METASPACE;
        if ((rc = get_char(L, obj, "replacement", "\xE2\x96\x81", d->rep, &d->rep_len, NULL, where))) return rc;
        return get_prepend_scheme(L, obj, where, &d->prepend);
    }
    if (!strcmp(type, "Replace")) {
        const char *s;
        size_t len;
        if ((rc = get_str(L, obj, "content", 1, &s, &len, where))) return rc;
        if ((rc = push_dec(L, &d))) return rc;
        d->kind = PF_DEC_REPLACE;
        if (!(d->content = dup_n(s, len))) return pf_enomem("decoder");
        d->content_len = len;
        if ((rc = get_pattern(L, obj, where, &d->re))) return rc;
        d->has_re = 1;
        return PROFS_OK;
    }
    if (!strcmp(type, "Strip")) {
        json_t *start = json_object_get(obj, "start"), *stop = json_object_get(obj, "stop");
        if (!json_is_integer(start) || json_integer_value(start) < 0 || !json_is_integer(stop) ||
            json_integer_value(stop) < 0)
            return pf_error(PROFS_EFORMAT, "%s: %s: start and stop must be non-negative integers", L->file, where);
        if ((rc = push_dec(L, &d))) return rc;
        d->kind = PF_DEC_STRIP;
        d->start = (size_t)json_integer_value(start);
        d->stop = (size_t)json_integer_value(stop);
        return get_char(L, obj, "content", " ", d->rep, &d->rep_len, &d->strip_cp, where);
    }
    if (!strcmp(type, "WordPiece")) {
        const char *s;
        size_t len;
        int cleanup;
        if ((rc = get_str(L, obj, "prefix", 0, &s, &len, where))) return rc;
        if (!s) { s = "##"; len = 2; }
        if ((rc = get_bool(L, obj, "cleanup", 1, &cleanup, where))) return rc;
        if ((rc = push_dec(L, &d))) return rc;
        d->kind = PF_DEC_WORDPIECE;
        if (!(d->pat = dup_n(s, len))) return pf_enomem("decoder");
        d->pat_len = len;
        d->start = (size_t)cleanup;
        return PROFS_OK;
    }
    if (!strcmp(type, "BPEDecoder")) {
        const char *s;
        size_t len;
        if ((rc = get_str(L, obj, "suffix", 0, &s, &len, where))) return rc;
        if (!s) { s = "</w>"; len = 4; }
        if ((rc = push_dec(L, &d))) return rc;
        d->kind = PF_DEC_BPE_SUFFIX;
        if (!(d->pat = dup_n(s, len))) return pf_enomem("decoder");
        d->pat_len = len;
        return PROFS_OK;
    }
    return pf_error(PROFS_EUNSUPPORTED, "%s: %s: decoder type '%s' is not supported", L->file, where, type);
}

/* ---------------------------------------------------------------- post-processors */

static int append_ids(int32_t **arr, size_t *n, const int32_t *ids, size_t k, int front)
{
    int32_t *a = realloc(*arr, (*n + k + 1) * sizeof *a);
    if (!a) return pf_enomem("post-processor");
    if (front) {
        memmove(a + k, a, *n * sizeof *a);
        memcpy(a, ids, k * sizeof *a);
    } else {
        memcpy(a + *n, ids, k * sizeof *a);
    }
    *arr = a;
    *n += k;
    return PROFS_OK;
}

/* ["<s>", 1] (Roberta/Bert cls and sep). */
static int get_token_pair(loader *L, json_t *obj, const char *key, int32_t *id, const char *where)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_array(v) || json_array_size(v) != 2 || !json_is_string(json_array_get(v, 0)) ||
        !json_is_integer(json_array_get(v, 1)) || json_integer_value(json_array_get(v, 1)) < 0 ||
        json_integer_value(json_array_get(v, 1)) > INT32_MAX)
        return pf_error(PROFS_EFORMAT, "%s: %s.%s: expected [token, id]", L->file, where, key);
    *id = (int32_t)json_integer_value(json_array_get(v, 1));
    return PROFS_OK;
}

static int parse_template(loader *L, json_t *obj, const char *where, int32_t **pre, size_t *n_pre, int32_t **post,
                          size_t *n_post)
{
    json_t *single = json_object_get(obj, "single"), *specials = json_object_get(obj, "special_tokens");
    if (!json_is_array(single))
        return pf_error(PROFS_EFORMAT, "%s: %s.single: expected an array", L->file, where);
    if (specials && !json_is_null(specials) && !json_is_object(specials))
        return pf_error(PROFS_EFORMAT, "%s: %s.special_tokens: expected an object", L->file, where);
    int seen_a = 0, rc;
    for (size_t i = 0; i < json_array_size(single); i++) {
        json_t *item = json_array_get(single, i);
        json_t *sp = json_object_get(item, "SpecialToken"), *seq = json_object_get(item, "Sequence");
        if (json_is_object(seq)) {
            const char *id;
            if ((rc = get_str(L, seq, "id", 1, &id, NULL, where))) return rc;
            if (strcmp(id, "A") != 0 || seen_a)
                return pf_error(PROFS_EUNSUPPORTED, "%s: %s.single[%zu]: only one sequence $A is supported", L->file,
                                where, i);
            seen_a = 1;
            continue;
        }
        if (!json_is_object(sp))
            return pf_error(PROFS_EFORMAT, "%s: %s.single[%zu]: expected SpecialToken or Sequence", L->file, where, i);
        const char *name;
        if ((rc = get_str(L, sp, "id", 1, &name, NULL, where))) return rc;
        json_t *entry = json_object_get(specials, name), *ids = json_object_get(entry, "ids");
        if (!json_is_array(ids))
            return pf_error(PROFS_EFORMAT, "%s: %s.special_tokens: no entry with ids for '%s'", L->file, where, name);
        for (size_t k = 0; k < json_array_size(ids); k++) {
            json_t *v = json_array_get(ids, k);
            if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > INT32_MAX)
                return pf_error(PROFS_EFORMAT, "%s: %s.special_tokens['%s'].ids[%zu]: expected an id", L->file, where,
                                name, k);
            int32_t id = (int32_t)json_integer_value(v);
            if ((rc = seen_a ? append_ids(post, n_post, &id, 1, 0) : append_ids(pre, n_pre, &id, 1, 0))) return rc;
        }
    }
    if (!seen_a) return pf_error(PROFS_EFORMAT, "%s: %s.single: no sequence $A", L->file, where);
    return PROFS_OK;
}

static int parse_post(loader *L, json_t *obj, const char *where)
{
    if (!obj || json_is_null(obj)) return PROFS_OK;
    profs_tokenizer *t = L->t;
    const char *type;
    int rc = get_type(L, obj, where, &type);
    if (rc) return rc;
    if (!strcmp(type, "Sequence")) {
        json_t *list = json_object_get(obj, "processors");
        if (!json_is_array(list))
            return pf_error(PROFS_EFORMAT, "%s: %s.processors: expected an array", L->file, where);
        for (size_t i = 0; i < json_array_size(list); i++) {
            char sub[128];
            snprintf(sub, sizeof sub, "%s.processors[%zu]", where, i);
            if ((rc = parse_post(L, json_array_get(list, i), sub))) return rc;
        }
        return PROFS_OK;
    }
    if (!strcmp(type, "ByteLevel")) return PROFS_OK; /* offsets only: ids unchanged */
    /* Each processor wraps the result of the previous ones: pre = new + old, post = old + new. */
    int32_t *pre = NULL, *post = NULL;
    size_t n_pre = 0, n_post = 0;
    if (!strcmp(type, "TemplateProcessing")) {
        rc = parse_template(L, obj, where, &pre, &n_pre, &post, &n_post);
    } else if (!strcmp(type, "RobertaProcessing") || !strcmp(type, "BertProcessing")) {
        int32_t cls, sep;
        rc = get_token_pair(L, obj, "cls", &cls, where);
        if (!rc) rc = get_token_pair(L, obj, "sep", &sep, where);
        if (!rc) rc = append_ids(&pre, &n_pre, &cls, 1, 0);
        if (!rc) rc = append_ids(&post, &n_post, &sep, 1, 0);
    } else {
        return pf_error(PROFS_EUNSUPPORTED, "%s: %s: post-processor type '%s' is not supported", L->file, where,
                        type);
    }
    if (!rc && n_pre) rc = append_ids(&t->post_pre, &t->n_post_pre, pre, n_pre, 1);
    if (!rc && n_post) rc = append_ids(&t->post_post, &t->n_post_post, post, n_post, 0);
    free(pre);
    free(post);
    return rc;
}

/* ---------------------------------------------------------------- model */

static int set_id_token(loader *L, int32_t id, const char *s, size_t n, int is_added)
{
    profs_tokenizer *t = L->t;
    char **slot = is_added ? &t->tok[id] : &t->model_tok[id];
    if (*slot && !is_added)
        return pf_error(PROFS_EFORMAT, "%s: model.vocab: id %d is used by '%s' and '%.*s'", L->file, (int)id, *slot,
                        (int)n, s);
    char *d = dup_n(s, n);
    if (!d) return pf_enomem("vocabulary");
    if (is_added) {
        free(*slot);
        t->tok_len[id] = (uint32_t)n;
    }
    *slot = d;
    return PROFS_OK;
}

static int parse_merges(loader *L, json_t *merges)
{
    profs_tokenizer *t = L->t;
    size_t n = json_array_size(merges);
    int rc = pf_mergemap_init(&t->merges, n);
    if (rc) return rc;
    pf_sbuf joined = {0};
    for (size_t i = 0; i < n && !rc; i++) {
        json_t *m = json_array_get(merges, i);
        const char *a, *b;
        size_t la, lb;
        if (json_is_string(m)) {
            const char *s = json_string_value(m), *sp = memchr(s, ' ', json_string_length(m));
            if (!sp || memchr(sp + 1, ' ', json_string_length(m) - (size_t)(sp + 1 - s)))
                rc = pf_error(PROFS_EFORMAT, "%s: model.merges[%zu]: '%s' is not two tokens separated by one space",
                              L->file, i, s);
            if (rc) break;
            a = s;
            la = (size_t)(sp - s);
            b = sp + 1;
            lb = json_string_length(m) - la - 1;
        } else if (json_is_array(m) && json_array_size(m) == 2 && json_is_string(json_array_get(m, 0)) &&
                   json_is_string(json_array_get(m, 1))) {
            a = json_string_value(json_array_get(m, 0));
            la = json_string_length(json_array_get(m, 0));
            b = json_string_value(json_array_get(m, 1));
            lb = json_string_length(json_array_get(m, 1));
        } else {
            rc = pf_error(PROFS_EFORMAT, "%s: model.merges[%zu]: expected \"a b\" or [\"a\", \"b\"]", L->file, i);
            break;
        }
        int32_t ia = pf_strmap_get(&t->vocab, a, la), ib = pf_strmap_get(&t->vocab, b, lb);
        size_t skip = t->cont_prefix_len <= lb ? t->cont_prefix_len : lb;
        joined.n = 0;
        if ((rc = pf_sbuf_append(&joined, a, la)) || (rc = pf_sbuf_append(&joined, b + skip, lb - skip))) break;
        int32_t ij = pf_strmap_get(&t->vocab, joined.p, joined.n);
        if (ia < 0 || ib < 0 || ij < 0) {
            rc = pf_error(PROFS_EFORMAT, "%s: model.merges[%zu]: token '%.*s' is not in the vocabulary", L->file, i,
                          ia < 0 ? (int)la : ib < 0 ? (int)lb : (int)joined.n,
                          ia < 0 ? a : ib < 0 ? b : joined.p);
            break;
        }
        pf_mergemap_put(&t->merges, ia, ib, (uint32_t)i, ij);
    }
    pf_sbuf_free(&joined);
    return rc;
}

/* WordPiece: {"type": "WordPiece", "unk_token", "continuing_subword_prefix" ("##"),
 * "max_input_chars_per_word" (100), "vocab": {token: id}}. Greedy longest-match-first per word. */
static int vocab_max_id(loader *L, json_t *vocab, int64_t *max_id)
{
    const char *key;
    json_t *v;
    *max_id = -1;
    json_object_foreach(vocab, key, v) {
        if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) >= INT32_MAX)
            return pf_error(PROFS_EFORMAT, "%s: model.vocab: token '%s': id must be an integer in [0, 2^31-1)", L->file,
                            key);
        if (json_integer_value(v) > *max_id) *max_id = json_integer_value(v);
    }
    return PROFS_OK;
}

static int parse_wordpiece(loader *L, json_t *model)
{
    profs_tokenizer *t = L->t;
    t->model_kind = PF_MODEL_WORDPIECE;
    json_t *vocab = json_object_get(model, "vocab"), *mx = json_object_get(model, "max_input_chars_per_word");
    if (!json_is_object(vocab)) return pf_error(PROFS_EFORMAT, "%s: model.vocab: expected an object", L->file);
    const char *s;
    size_t len;
    int rc = get_str(L, model, "unk_token", 1, &s, &len, "model");
    if (rc) return rc;
    if (!(t->unk_token = dup_n(s, len))) return pf_enomem("model");
    if ((rc = get_str(L, model, "continuing_subword_prefix", 0, &s, &len, "model"))) return rc;
    if (!s) { s = "##"; len = 2; }
    if (len && !(t->cont_prefix = dup_n(s, len))) return pf_enomem("model");
    t->cont_prefix_len = len;
    t->wp_max_chars = 100;
    if (mx && !json_is_null(mx)) {
        if (!json_is_integer(mx) || json_integer_value(mx) < 0)
            return pf_error(PROFS_EFORMAT, "%s: model.max_input_chars_per_word: expected a non-negative integer",
                            L->file);
        t->wp_max_chars = (size_t)json_integer_value(mx);
    }
    int64_t max_id;
    if ((rc = vocab_max_id(L, vocab, &max_id))) return rc;
    t->n_ids = (size_t)(max_id + 1);
    return PROFS_OK;
}

/* The value Hugging Face tokenizers holds for a score written in tokenizer.json: the file has the shortest
 * decimal that round-trips (serde_json + ryu), and serde_json (without its float_roundtrip feature) reads
 * it back as (double)significand, then multiplied or divided by one power of ten — not always the
 * correctly rounded value jansson gives. Unigram ties are decided by these last bits, so the reference's
 * value is rebuilt here: the shortest repr of d, then serde_json's arithmetic. */
static double serde_f64(double d)
{
    if (!isfinite(d) || d == 0.0) return d;
    char buf[40];
    int p = 1;
    for (; p <= 17; p++) {
        snprintf(buf, sizeof buf, "%.*e", p - 1, d);
        if (strtod(buf, NULL) == d) break;
    }
    if (p > 17) return d;
    /* buf: [-]D[.DDD]e[+-]XX */
    const char *q = buf;
    int neg = *q == '-';
    if (neg) q++;
    uint64_t sig = 0;
    int frac = 0, seen_dot = 0;
    for (; *q && *q != 'e'; q++) {
        if (*q == '.') { seen_dot = 1; continue; }
        sig = sig * 10 + (uint64_t)(*q - '0');
        frac += seen_dot;
    }
    int exp = (*q == 'e' ? atoi(q + 1) : 0) - frac;
    /* ryu writes the digits without an exponent for moderate magnitudes: the same significand, an exponent
     * of -(fraction digits); integral values keep their trailing zeros in the significand (x10^k exactly) */
    double f = (double)sig;
    while (exp > 0 && f < 1e300 && exp > 22) { f *= 1e22; exp -= 22; }
    while (exp < -308) { f /= 1e308; exp += 308; }
    if (exp >= 0) {
        char pw[16];
        snprintf(pw, sizeof pw, "1e%d", exp);
        f *= strtod(pw, NULL);
    } else {
        char pw[16];
        snprintf(pw, sizeof pw, "1e%d", -exp);
        f /= strtod(pw, NULL);
    }
    return neg ? -f : f;
}

/* Unigram: {"type": "Unigram", "unk_id": int or null, "vocab": [[piece, score], ...], "byte_fallback"}.
 * Encoding is the reference's Viterbi over the scores (tok_unigram.c). */
static int parse_unigram(loader *L, json_t *model)
{
    profs_tokenizer *t = L->t;
    t->model_kind = PF_MODEL_UNIGRAM;
    json_t *vocab = json_object_get(model, "vocab"), *unk = json_object_get(model, "unk_id");
    if (!json_is_array(vocab) || json_array_size(vocab) == 0)
        return pf_error(PROFS_EFORMAT, "%s: model.vocab: expected a non-empty array of [piece, score]", L->file);
    size_t n = json_array_size(vocab);
    if (n >= INT32_MAX) return pf_error(PROFS_EFORMAT, "%s: model.vocab: too many pieces", L->file);
    int rc = get_bool(L, model, "byte_fallback", 0, &t->byte_fallback, "model");
    if (rc) return rc;
    t->model_unk = -1;
    if (unk && !json_is_null(unk)) {
        if (!json_is_integer(unk) || json_integer_value(unk) < 0 || (size_t)json_integer_value(unk) >= n)
            return pf_error(PROFS_EFORMAT, "%s: model.unk_id: expected null or an index of model.vocab", L->file);
        t->model_unk = (int32_t)json_integer_value(unk);
    }
    if (!(t->uni_score = malloc(n * sizeof *t->uni_score))) return pf_enomem("model");
    if (!(L->uni_vocab = json_object())) return pf_enomem("model");
    t->uni_min_score = INFINITY;
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(vocab, i), *p = json_array_get(e, 0), *sc = json_array_get(e, 1);
        if (!json_is_array(e) || json_array_size(e) != 2 || !json_is_string(p) || !json_is_number(sc) ||
            json_string_length(p) == 0)
            return pf_error(PROFS_EFORMAT, "%s: model.vocab[%zu]: expected [non-empty piece, score]", L->file, i);
        t->uni_score[i] = serde_f64(json_number_value(sc));
        if (t->uni_score[i] < t->uni_min_score) t->uni_min_score = t->uni_score[i];
        if (json_string_length(p) > t->uni_max_len) t->uni_max_len = json_string_length(p);
        if (json_object_setn_new(L->uni_vocab, json_string_value(p), json_string_length(p), json_integer((json_int_t)i)))
            return pf_enomem("model");
    }
    if (t->model_unk >= 0) {
        const char *u = json_string_value(json_array_get(json_array_get(vocab, (size_t)t->model_unk), 0));
        if (!(t->unk_token = dup_n(u, strlen(u)))) return pf_enomem("model");
    }
    t->n_ids = n;
    return PROFS_OK;
}

static int fill_unigram(loader *L, json_t *model)
{
    profs_tokenizer *t = L->t;
    json_t *vocab = json_object_get(model, "vocab");
    size_t n = json_array_size(vocab);
    int rc = pf_strmap_init(&t->vocab, n);
    if (rc) return rc;
    for (size_t i = 0; i < n; i++) {
        json_t *p = json_array_get(json_array_get(vocab, i), 0);
        size_t len = json_string_length(p);
        if ((rc = set_id_token(L, (int32_t)i, json_string_value(p), len, 0))) return rc;
        if ((rc = pf_strmap_put(&t->vocab, t->model_tok[i], len, (int32_t)i))) return rc;
        t->tok_len[i] = (uint32_t)len;
    }
    for (int b = 0; b < 256; b++) {
        char name[8];
        snprintf(name, sizeof name, "<0x%02X>", b);
        t->byte_id[b] = pf_strmap_get(&t->vocab, name, 6);
    }
    return PROFS_OK;
}

static int parse_model(loader *L, json_t *model)
{
    profs_tokenizer *t = L->t;
    if (!json_is_object(model)) return pf_error(PROFS_EFORMAT, "%s: model: missing or not an object", L->file);
    const char *type;
    int rc = get_str(L, model, "type", 0, &type, NULL, "model");
    if (rc) return rc;
    if (type && !strcmp(type, "WordPiece")) return parse_wordpiece(L, model);
    if (type && !strcmp(type, "Unigram")) return parse_unigram(L, model);
    if (type && strcmp(type, "BPE") != 0)
        return pf_error(PROFS_EUNSUPPORTED, "%s: model: model type '%s' is not supported (BPE, WordPiece and Unigram are)",
                        L->file, type);
    json_t *vocab = json_object_get(model, "vocab"), *merges = json_object_get(model, "merges");
    if (!json_is_object(vocab)) return pf_error(PROFS_EFORMAT, "%s: model.vocab: expected an object", L->file);
    if (!json_is_array(merges)) return pf_error(PROFS_EFORMAT, "%s: model.merges: expected an array", L->file);
    json_t *dropout = json_object_get(model, "dropout");
    if (dropout && !json_is_null(dropout)) {
        if (!json_is_number(dropout)) return pf_error(PROFS_EFORMAT, "%s: model.dropout: expected a number", L->file);
        if (json_number_value(dropout) > 0.0)
            return pf_error(PROFS_EUNSUPPORTED, "%s: model.dropout: BPE dropout %g is not supported", L->file,
                            json_number_value(dropout));
    }
    const char *s;
    size_t len;
    if ((rc = get_bool(L, model, "fuse_unk", 0, &t->fuse_unk, "model"))) return rc;
    if ((rc = get_bool(L, model, "byte_fallback", 0, &t->byte_fallback, "model"))) return rc;
    if ((rc = get_bool(L, model, "ignore_merges", 0, &t->ignore_merges, "model"))) return rc;
    if ((rc = get_str(L, model, "continuing_subword_prefix", 0, &s, &len, "model"))) return rc;
    if (s && len) {
        if (!(t->cont_prefix = dup_n(s, len))) return pf_enomem("model");
        t->cont_prefix_len = len;
    }
    if ((rc = get_str(L, model, "end_of_word_suffix", 0, &s, &len, "model"))) return rc;
    if (s && len) {
        if (!(t->word_suffix = dup_n(s, len))) return pf_enomem("model");
        t->word_suffix_len = len;
    }
    if ((rc = get_str(L, model, "unk_token", 0, &s, &len, "model"))) return rc;
    if (s && !(t->unk_token = dup_n(s, len))) return pf_enomem("model");

    /* vocabulary */
    const char *key;
    json_t *v;
    int64_t max_id = -1;
    json_object_foreach(vocab, key, v) {
        if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) >= INT32_MAX)
            return pf_error(PROFS_EFORMAT, "%s: model.vocab: token '%s': id must be an integer in [0, 2^31-1)", L->file,
                            key);
        if (json_integer_value(v) > max_id) max_id = json_integer_value(v);
    }
    t->n_ids = (size_t)(max_id + 1);
    return PROFS_OK;
}

/* Fill the vocabulary once n_ids is final (the added tokens may extend it). */
static int fill_vocab(loader *L, json_t *model)
{
    profs_tokenizer *t = L->t;
    if (t->model_kind == PF_MODEL_UNIGRAM) return fill_unigram(L, model);
    json_t *vocab = json_object_get(model, "vocab");
    int rc = pf_strmap_init(&t->vocab, json_object_size(vocab));
    if (rc) return rc;
    const char *key;
    json_t *v;
    json_object_foreach(vocab, key, v) {
        int32_t id = (int32_t)json_integer_value(v);
        size_t klen = strlen(key); /* jansson object keys cannot hold NUL */
        if ((rc = set_id_token(L, id, key, klen, 0))) return rc;
        if ((rc = pf_strmap_put(&t->vocab, t->model_tok[id], klen, id))) return rc;
    }
    if (json_object_size(vocab) != t->vocab.n)
        return pf_error(PROFS_EFORMAT, "%s: model.vocab: duplicate tokens", L->file);
    t->model_unk = t->unk_token ? pf_strmap_get(&t->vocab, t->unk_token, strlen(t->unk_token)) : -1;
    /* Does U+2581 occur only as a leading run of tokens? (SentencePiece vocabularies) */
    int meta_seen = 0, meta_inside = 0;
    for (size_t id = 0; id < t->n_ids && !meta_inside; id++) {
        const char *s = t->model_tok[id];
        if (!s) continue;
        size_t i = 0;
        while (strncmp(s + i, "\xE2\x96\x81", 3) == 0) i += 3, meta_seen = 1;
        if (strstr(s + i, "\xE2\x96\x81")) meta_inside = 1;
    }
    t->meta_split = meta_seen && !meta_inside && !t->cont_prefix && !t->word_suffix;
    for (int b = 0; b < 256; b++) {
        char name[8];
        snprintf(name, sizeof name, "<0x%02X>", b);
        t->byte_id[b] = pf_strmap_get(&t->vocab, name, 6);
    }
    for (uint32_t cp = 0; cp < 512; cp++) {
        char ch[4];
        size_t l = pf_utf8_encode(cp, ch);
        t->small_cp_id[cp] = pf_strmap_get(&t->vocab, ch, l);
    }
    if (t->model_kind == PF_MODEL_WORDPIECE) {
        if (t->model_unk < 0)
            return pf_error(PROFS_EFORMAT, "%s: model.unk_token '%s' is not in the vocabulary", L->file, t->unk_token);
        return PROFS_OK;
    }
    return parse_merges(L, json_object_get(model, "merges"));
}

/* ---------------------------------------------------------------- added tokens */

/* Validate added_tokens and assign their ids as the reference does (AddedVocabulary::add_tokens): a
 * content already added keeps its id, a content of the model vocabulary takes the vocabulary's id, any other
 * gets the next id after the vocabulary and the added tokens so far. For consistent files (all real ones)
 * this is the id written in the file. */
static int scan_added(loader *L, json_t *list, json_t *vocab, int32_t **ids_out, int64_t *max_id)
{
    *ids_out = NULL;
    if (!list || json_is_null(list)) return PROFS_OK;
    if (!json_is_array(list)) return pf_error(PROFS_EFORMAT, "%s: added_tokens: expected an array", L->file);
    size_t n = json_array_size(list), vocab_size = json_object_size(vocab);
    int32_t *ids = malloc((n + 1) * sizeof *ids);
    pf_strmap seen;
    if (!ids) return pf_enomem("added tokens");
    int rc = pf_strmap_init(&seen, n);
    if (rc) { free(ids); return rc; }
    int64_t max_added = -1;
    for (size_t i = 0; i < n && !rc; i++) {
        json_t *a = json_array_get(list, i), *id = json_object_get(a, "id"), *c = json_object_get(a, "content");
        if (!json_is_object(a) || !json_is_integer(id) || json_integer_value(id) < 0 ||
            json_integer_value(id) >= INT32_MAX) {
            rc = pf_error(PROFS_EFORMAT, "%s: added_tokens[%zu].id: expected an integer in [0, 2^31-1)", L->file, i);
            break;
        }
        if (!json_is_string(c) || json_string_length(c) == 0) {
            rc = pf_error(PROFS_EFORMAT, "%s: added_tokens[%zu].content: expected a non-empty string", L->file, i);
            break;
        }
        const char *s = json_string_value(c);
        size_t len = json_string_length(c);
        int32_t v = pf_strmap_get(&seen, s, len);
        json_t *in_vocab = strlen(s) == len ? json_object_get(vocab, s) : NULL;
        if (v < 0 && json_is_integer(in_vocab)) v = (int32_t)json_integer_value(in_vocab);
        if (v < 0) {
            if (max_added < 0) v = (int32_t)vocab_size;
            else v = (int32_t)((max_added >= (int64_t)vocab_size || !vocab_size) ? max_added + 1 : (int64_t)vocab_size);
        }
        if (v >= INT32_MAX - 1) {
            rc = pf_error(PROFS_EFORMAT, "%s: added_tokens[%zu]: too many tokens", L->file, i);
            break;
        }
        ids[i] = v;
        if (v > max_added) max_added = v;
        if (v > *max_id) *max_id = v;
        rc = pf_strmap_put(&seen, s, len, v);
    }
    pf_strmap_free(&seen);
    if (rc) { free(ids); return rc; }
    *ids_out = ids;
    return PROFS_OK;
}

static int parse_added(loader *L, json_t *list, const int32_t *ids)
{
    profs_tokenizer *t = L->t;
    size_t n = list ? json_array_size(list) : 0;
    int rc = pf_strmap_init(&t->added_map, n);
    if (rc) return rc;
    if (!n) return PROFS_OK;
    t->added = calloc(n, sizeof *t->added);
    if (!t->added) return pf_enomem("added tokens");
    for (size_t i = 0; i < n; i++) {
        json_t *a = json_array_get(list, i);
        pf_added *d = &t->added[t->n_added++];
        char where[64];
        snprintf(where, sizeof where, "added_tokens[%zu]", i);
        json_t *c = json_object_get(a, "content");
        d->id = ids[i];
        d->len = json_string_length(c);
        if (!(d->content = dup_n(json_string_value(c), d->len))) return pf_enomem("added tokens");
        if ((rc = get_bool(L, a, "special", 0, &d->special, where))) return rc;
        if ((rc = get_bool(L, a, "lstrip", 0, &d->lstrip, where))) return rc;
        if ((rc = get_bool(L, a, "rstrip", 0, &d->rstrip, where))) return rc;
        if ((rc = get_bool(L, a, "single_word", 0, &d->single_word, where))) return rc;
        if ((rc = get_bool(L, a, "normalized", !d->special, &d->normalized, where))) return rc;
        if ((rc = set_id_token(L, d->id, d->content, d->len, 1))) return rc;
        t->tok_special[d->id] = (uint8_t)d->special;
        if ((rc = pf_strmap_put(&t->added_map, d->content, d->len, d->id))) return rc;
        if (d->normalized) {
            pf_sbuf nb = {0};
            if ((rc = pf_tok_normalize(t, d->content, d->len, &nb))) { pf_sbuf_free(&nb); return rc; }
            d->match = nb.p ? nb.p : dup_n("", 0);
            d->match_len = nb.n;
            if (!d->match) return pf_enomem("added tokens");
        } else {
            d->match = d->content;
            d->match_len = d->len;
        }
    }
    int single_word = 0;
    for (size_t i = 0; i < t->n_added; i++) single_word |= t->added[i].single_word;
    if (single_word) {
        static const char WORD[] = "[\\p{Alphabetic}\\p{M}\\p{Nd}\\p{Pc}\\p{Join_Control}]";
        if ((rc = pf_regex_compile(&t->word_re, WORD, sizeof WORD - 1, 0, "single_word class"))) return rc;
    }
    if ((rc = pf_addset_build(&t->set_raw, t->added, t->n_added, 0))) return rc;
    return pf_addset_build(&t->set_norm, t->added, t->n_added, 1);
}

/* ---------------------------------------------------------------- tokenizer_config.json */

/* Id of a token string (added tokens first), -1 when absent or s is NULL. */
static int32_t lookup(const profs_tokenizer *t, const char *s)
{
    if (!s) return -1;
    int32_t id = pf_strmap_get(&t->added_map, s, strlen(s));
    return id >= 0 ? id : pf_strmap_get(&t->vocab, s, strlen(s));
}

/* bos_token etc.: a string, {"content": ...} or null. */
static const char *config_token(json_t *cfg, const char *key)
{
    json_t *v = json_object_get(cfg, key);
    if (json_is_object(v)) v = json_object_get(v, "content");
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static int32_t first_known(const profs_tokenizer *t, const char *const *names)
{
    for (; *names; names++) {
        int32_t id = lookup(t, *names);
        if (id >= 0) return id;
    }
    return -1;
}

static int apply_config(loader *L, json_t *cfg, const char *cfg_file)
{
    profs_tokenizer *t = L->t;
    static const char *const bos_names[] = {"<s>", "<|begin_of_text|>", "<bos>", "<|startoftext|>", "<|endoftext|>",
                                            NULL};
    static const char *const eos_names[] = {"</s>", "<|end_of_text|>", "<eos>", "<|endoftext|>", NULL};
    static const char *const pad_names[] = {"<pad>", "[PAD]", "<|pad|>", "<|padding|>", NULL};
    const char *bos = config_token(cfg, "bos_token"), *eos = config_token(cfg, "eos_token");
    t->bos = lookup(t, bos);
    t->eos = lookup(t, eos);
    t->pad = lookup(t, config_token(cfg, "pad_token"));
    t->unk = t->model_unk >= 0 ? t->model_unk : lookup(t, config_token(cfg, "unk_token"));
    if (t->bos < 0 && t->n_post_pre) t->bos = t->post_pre[0];
    if (t->eos < 0 && t->n_post_post) t->eos = t->post_post[t->n_post_post - 1];
    if (t->bos < 0) t->bos = first_known(t, bos_names);
    if (t->eos < 0) t->eos = first_known(t, eos_names);
    if (t->pad < 0) t->pad = first_known(t, pad_names);

    /* transformers' Llama-family tokenizers always rebuild the post-processor from add_bos_token /
     * add_eos_token (LlamaTokenizerFast.update_post_processor) */
    json_t *ab = json_object_get(cfg, "add_bos_token"), *ae = json_object_get(cfg, "add_eos_token");
    const char *cls = config_token(cfg, "tokenizer_class");
    static const char *const families[] = {"LlamaTokenizer", "LlamaTokenizerFast", "CodeLlamaTokenizer",
                                           "CodeLlamaTokenizerFast", "GemmaTokenizer", "GemmaTokenizerFast", NULL};
    int llama = 0;
    for (size_t i = 0; cls && families[i]; i++) llama |= !strcmp(cls, families[i]);
    if (llama) { /* transformers rebuilds it whether or not the flags are given (defaults: bos yes, eos no) */
        int add_bos = json_is_boolean(ab) ? json_is_true(ab) : 1, add_eos = json_is_true(ae);
        if ((add_bos && t->bos < 0) || (add_eos && t->eos < 0))
            return pf_error(PROFS_EFORMAT, "%s: add_%s_token is true but %s_token is not a known token", cfg_file,
                            add_bos && t->bos < 0 ? "bos" : "eos", add_bos && t->bos < 0 ? "bos" : "eos");
        t->n_post_pre = t->n_post_post = 0;
        int rc;
        if (add_bos && (rc = append_ids(&t->post_pre, &t->n_post_pre, &t->bos, 1, 0))) return rc;
        if (add_eos && (rc = append_ids(&t->post_post, &t->n_post_post, &t->eos, 1, 0))) return rc;
    }
    return PROFS_OK;
}

/* ---------------------------------------------------------------- entry point */

/* Parse a JSON object from memory; messages name `file`. */
static json_t *parse_json(const char *file, const char *buf, size_t len, size_t flags, int *rc)
{
    json_error_t err;
    json_t *root = json_loadb(buf, len, JSON_ALLOW_NUL | flags, &err);
    if (!root) {
        *rc = pf_error(PROFS_EFORMAT, "%s:%d:%d: invalid JSON: %s", file, err.line, err.column, err.text);
        return NULL;
    }
    if (!json_is_object(root)) {
        json_decref(root);
        *rc = pf_error(PROFS_EFORMAT, "%s: expected a JSON object at the top level", file);
        return NULL;
    }
    *rc = PROFS_OK;
    return root;
}

/* Read a whole file and parse it (one read, not jansson's character-at-a-time
 * json_loadf: a multi-megabyte tokenizer.json loads several times faster). */
static json_t *load_json(const char *file, size_t flags, int *rc)
{
    FILE *f = fopen(file, "rb");
    if (!f) {
        *rc = pf_error(PROFS_EIO, "%s: cannot open: %s", file, strerror(errno));
        return NULL;
    }
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap) break;
        char *nb = cap < SIZE_MAX / 2 ? realloc(buf, cap * 2) : NULL;
        if (!nb) { free(buf); buf = NULL; break; }
        buf = nb;
        cap *= 2;
    }
    int bad = ferror(f);
    fclose(f);
    if (!buf) { *rc = pf_enomem(file); return NULL; }
    if (bad) {
        free(buf);
        *rc = pf_error(PROFS_EIO, "%s: read error", file);
        return NULL;
    }
    json_t *root = parse_json(file, buf, n, flags, rc);
    free(buf);
    return root;
}

static int load(loader *L, json_t *root, json_t *cfg, const char *cfg_file)
{
    profs_tokenizer *t = L->t;
    int rc;
    static const char *const unsupported_if_set[] = {"truncation", "padding"};
    for (size_t i = 0; i < 2; i++) {
        json_t *v = json_object_get(root, unsupported_if_set[i]);
        if (v && !json_is_null(v))
            return pf_error(PROFS_EUNSUPPORTED, "%s: %s: only null is supported", L->file, unsupported_if_set[i]);
    }
    json_t *model = json_object_get(root, "model"), *added = json_object_get(root, "added_tokens");
    if ((rc = parse_model(L, model))) return rc;
    int64_t max_id = (int64_t)t->n_ids - 1;
    int32_t *added_ids;
    json_t *vocab_obj = L->uni_vocab ? L->uni_vocab : json_object_get(model, "vocab");
    if ((rc = scan_added(L, added, vocab_obj, &added_ids, &max_id))) return rc;
    L->added_ids = added_ids;
    /* Id density bound: real files number their tokens 0..n-1 (a few gaps at
     * most); one huge id among few tokens would make every per-id table that
     * large (a 100-byte file allocating gigabytes). */
    size_t n_tokens = json_object_size(json_object_get(model, "vocab")) + json_array_size(added);
    if (max_id >= 0 && (uint64_t)max_id >= 4 * (uint64_t)n_tokens + 65536)
        return pf_error(PROFS_EFORMAT, "%s: token id %lld is far beyond the %zu tokens of model.vocab and added_tokens "
                        "(ids must be dense: below 4 x the token count + 65536)", L->file, (long long)max_id, n_tokens);
    t->n_ids = (size_t)(max_id + 1);
    t->tok = calloc(t->n_ids + 1, sizeof *t->tok);
    t->model_tok = calloc(t->n_ids + 1, sizeof *t->model_tok);
    t->tok_len = calloc(t->n_ids + 1, sizeof *t->tok_len);
    t->tok_special = calloc(t->n_ids + 1, 1);
    if (!t->tok || !t->model_tok || !t->tok_len || !t->tok_special) return pf_enomem("vocabulary");
    if ((rc = fill_vocab(L, model))) return rc;
    if ((rc = parse_normalizer(L, json_object_get(root, "normalizer"), "normalizer"))) return rc;
    if ((rc = parse_pre(L, json_object_get(root, "pre_tokenizer"), "pre_tokenizer"))) return rc;
    if ((rc = parse_post(L, json_object_get(root, "post_processor"), "post_processor"))) return rc;
    if ((rc = parse_decoder(L, json_object_get(root, "decoder"), "decoder"))) return rc;
    if ((rc = parse_added(L, added, added_ids))) return rc;
    for (size_t i = 0; i < t->n_ids; i++)
        if (!t->tok[i] && t->model_tok[i]) {
            t->tok[i] = t->model_tok[i];
            /* Unigram pieces may hold NUL (fill_unigram set their lengths); vocabulary object keys cannot */
            if (t->model_kind != PF_MODEL_UNIGRAM) t->tok_len[i] = (uint32_t)strlen(t->model_tok[i]);
        }
    for (size_t i = 0; i < t->n_post_pre; i++)
        if ((size_t)t->post_pre[i] >= t->n_ids || !t->tok[t->post_pre[i]])
            return pf_error(PROFS_EFORMAT, "%s: post_processor: special token id %d is not in the vocabulary", L->file,
                            (int)t->post_pre[i]);
    for (size_t i = 0; i < t->n_post_post; i++)
        if ((size_t)t->post_post[i] >= t->n_ids || !t->tok[t->post_post[i]])
            return pf_error(PROFS_EFORMAT, "%s: post_processor: special token id %d is not in the vocabulary", L->file,
                            (int)t->post_post[i]);
    for (size_t i = 0; i < t->n_pre; i++) t->has_regex |= t->pre[i].has_re;
    for (size_t i = 0; i < t->n_norm; i++) t->has_regex |= t->norm[i].has_re;
    return apply_config(L, cfg, cfg_file);
}

static int file_exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* Fill bos_token, eos_token, unk_token, pad_token, additional_special_tokens missing from the config with
 * those of special_tokens_map.json (older checkpoints keep them only there). */
static int merge_special_map(json_t **cfg, const char *dir)
{
    size_t n = strlen(dir) + 32;
    char *file = malloc(n);
    if (!file) return pf_enomem("path");
    snprintf(file, n, "%s/special_tokens_map.json", dir);
    int rc = PROFS_OK;
    if (file_exists(file)) {
        json_t *map = load_json(file, 0, &rc);
        if (map && !*cfg) *cfg = json_object();
        static const char *const keys[] = {"bos_token", "eos_token", "unk_token", "pad_token",
                                           "additional_special_tokens", NULL};
        for (size_t i = 0; map && *cfg && keys[i]; i++) {
            json_t *v = json_object_get(map, keys[i]), *have = json_object_get(*cfg, keys[i]);
            if (v && (!have || json_is_null(have))) json_object_set(*cfg, keys[i], v);
        }
        json_decref(map);
    }
    free(file);
    return rc;
}

int pf_tokenizer_load(profs_tokenizer **out, const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0) return pf_error(PROFS_EIO, "%s: %s", path, strerror(errno));
    char *file = NULL, *cfg_file = NULL, *vocab_file = NULL;
    size_t pl = strlen(path);
    int slow = 0;
    if (S_ISDIR(st.st_mode)) {
        file = malloc(pl + 32);
        cfg_file = malloc(pl + 32);
        vocab_file = malloc(pl + 32);
        if (!file || !cfg_file || !vocab_file) {
            free(file);
            free(cfg_file);
            free(vocab_file);
            return pf_enomem("path");
        }
        snprintf(file, pl + 32, "%s/tokenizer.json", path);
        snprintf(cfg_file, pl + 32, "%s/tokenizer_config.json", path);
        snprintf(vocab_file, pl + 32, "%s/vocab.json", path);
        slow = !file_exists(file) && file_exists(vocab_file);
        if (!file_exists(cfg_file)) {
            free(cfg_file);
            cfg_file = NULL;
        }
    } else if (!(file = dup_n(path, pl))) {
        return pf_enomem("path");
    }
    profs_tokenizer *t = calloc(1, sizeof *t);
    if (!t) {
        free(file);
        free(cfg_file);
        free(vocab_file);
        return pf_enomem("tokenizer");
    }
    t->path = file;
    t->model_unk = t->bos = t->eos = t->pad = t->unk = -1;
    loader L = {file, t, NULL, NULL};
    int rc = PROFS_OK;
    json_t *root = NULL, *cfg = NULL;
    if (cfg_file) cfg = load_json(cfg_file, JSON_DECODE_INT_AS_REAL, &rc); /* model_max_length may exceed int64 */
    if (!rc && S_ISDIR(st.st_mode)) rc = merge_special_map(&cfg, path);
    if (!rc && slow) {
        /* messages name vocab.json: the tokenizer is built from it and merges.txt */
        memcpy(file, vocab_file, strlen(vocab_file) + 1);
        root = pf_tok_from_slow_files(path, cfg, vocab_file, &rc);
    } else if (!rc) {
        root = load_json(file, 0, &rc);
    }
    if (!rc) rc = load(&L, root, cfg, cfg_file ? cfg_file : "tokenizer_config.json");
    json_decref(root);
    json_decref(cfg);
    free(cfg_file);
    free(vocab_file);
    free(L.added_ids);
    json_decref(L.uni_vocab);
    if (rc) {
        pf_tokenizer_destroy(t);
        return rc;
    }
    *out = t;
    return PROFS_OK;
}

int pf_tokenizer_load_buffer(profs_tokenizer **out, const char *name, const char *json, size_t len)
{
    profs_tokenizer *t = calloc(1, sizeof *t);
    if (!t || !(t->path = dup_n(name, strlen(name)))) {
        free(t);
        return pf_enomem("tokenizer");
    }
    t->model_unk = t->bos = t->eos = t->pad = t->unk = -1;
    loader L = {t->path, t, NULL, NULL};
    int rc;
    json_t *root = parse_json(t->path, json, len, 0, &rc);
    if (!rc) rc = load(&L, root, NULL, "tokenizer_config.json");
    json_decref(root);
    json_decref(L.uni_vocab);
    free(L.added_ids);
    if (rc) {
        pf_tokenizer_destroy(t);
        return rc;
    }
    *out = t;
    return PROFS_OK;
}

void pf_tokenizer_destroy(profs_tokenizer *t)
{
    if (!t) return;
    for (size_t i = 0; i < t->n_ids && t->tok && t->model_tok; i++) {
        if (t->tok[i] != t->model_tok[i]) free(t->tok[i]);
        free(t->model_tok[i]);
    }
    free(t->tok);
    free(t->model_tok);
    free(t->tok_len);
    free(t->tok_special);
    pf_strmap_free(&t->vocab);
    free(t->uni_score);
    pf_mergemap_free(&t->merges);
    free(t->unk_token);
    free(t->cont_prefix);
    free(t->word_suffix);
    for (size_t i = 0; i < t->n_added; i++) {
        if (t->added[i].match != t->added[i].content) free(t->added[i].match);
        free(t->added[i].content);
    }
    free(t->added);
    pf_strmap_free(&t->added_map);
    pf_addset_free(&t->set_raw);
    pf_addset_free(&t->set_norm);
    pf_regex_free(&t->word_re);
    for (size_t i = 0; i < t->n_norm; i++) {
        free(t->norm[i].str);
        pf_regex_free(&t->norm[i].re);
    }
    free(t->norm);
    for (size_t i = 0; i < t->n_pre; i++) pf_regex_free(&t->pre[i].re);
    free(t->pre);
    free(t->post_pre);
    free(t->post_post);
    for (size_t i = 0; i < t->n_dec; i++) {
        free(t->dec[i].pat);
        free(t->dec[i].content);
        pf_regex_free(&t->dec[i].re);
    }
    free(t->dec);
    free(t->path);
    free(t);
}
