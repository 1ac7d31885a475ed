/* Normalizers: Prepend, Replace, NFC/NFD/NFKC/NFKD (libutf8proc), Lowercase, Strip, StripAccents, applied
 * in sequence to one segment of text between added tokens.
 *
 * Growth bound: no step's output may exceed PF_NORM_GROWTH x the segment's
 * length + PF_NORM_SLACK bytes. Real normalizers stay far below it (NFKD's
 * worst code point grows 11x, Prepend adds one marker, Replace(" ", "▁") 3x);
 * a hostile chain such as four Replace("a" -> 1000 x "a") would otherwise grow
 * a 10-byte text to 10 TB. Past the bound the encode fails with
 * PROFS_EUNSUPPORTED naming the normalizer. */
#include <stdint.h>
#include <string.h>
#include <utf8proc.h>

#include "core/error.h"
#include "text/tok_encode.h"

#define PF_NORM_GROWTH 32
#define PF_NORM_SLACK 256

static const char *norm_name(int kind)
{
    static const char *const names[] = {"Prepend", "Replace", "NFC", "NFD", "NFKC", "NFKD", "Lowercase", "Strip",
                                        "StripAccents"};
    return kind >= 0 && kind < (int)(sizeof names / sizeof *names) ? names[kind] : "?";
}

static int is_ascii(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] >= 0x80) return 0;
    return 1;
}

static int norm_unicode(int kind, const char *s, size_t n, pf_sbuf *out)
{
    if (is_ascii(s, n)) return pf_sbuf_append(out, s, n);
    utf8proc_option_t opt = UTF8PROC_STABLE;
    if (kind == PF_NORM_NFC || kind == PF_NORM_NFKC) opt |= UTF8PROC_COMPOSE;
    else opt |= UTF8PROC_DECOMPOSE;
    if (kind == PF_NORM_NFKC || kind == PF_NORM_NFKD) opt |= UTF8PROC_COMPAT;
    utf8proc_uint8_t *dst = NULL;
    utf8proc_ssize_t r = utf8proc_map((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)n, &dst, opt);
    if (r < 0) {
        free(dst);
        return r == UTF8PROC_ERROR_NOMEM ? pf_enomem("normalizer")
                                         : pf_error(PROFS_EFORMAT, "normalizer: %s", utf8proc_errmsg(r));
    }
    int rc = pf_sbuf_append(out, dst, (size_t)r);
    free(dst);
    return rc;
}

static int norm_lowercase(const char *s, size_t n, pf_sbuf *out)
{
    int rc = pf_sbuf_reserve(out, n + 8);
    if (rc) return rc;
    size_t i = 0, l;
    while (i < n) {
        unsigned char b = (unsigned char)s[i];
        if (b < 0x80) {
            if ((rc = pf_sbuf_reserve(out, 1))) return rc;
            out->p[out->n++] = (char)(b >= 'A' && b <= 'Z' ? b + 32 : b);
            i++;
            continue;
        }
        uint32_t cp = pf_utf8_decode(s + i, &l);
        i += l;
        char enc[8];
        size_t k;
        if (cp == 0x130) { /* the one unconditional multi-character lowercase mapping */
            memcpy(enc, "i\xCC\x87", 3);
            k = 3;
        } else {
            k = pf_utf8_encode((uint32_t)utf8proc_tolower((utf8proc_int32_t)cp), enc);
        }
        if ((rc = pf_sbuf_append(out, enc, k))) return rc;
    }
    return PROFS_OK;
}

static int norm_step(const pf_norm *nm, const char *s, size_t n, pf_sbuf *out, matcher *mt)
{
    size_t l;
    switch (nm->kind) {
    case PF_NORM_PREPEND: {
        int rc = 0;
        if (n) rc = pf_sbuf_append(out, nm->str, nm->str_len);
        return rc ? rc : pf_sbuf_append(out, s, n);
    }
    case PF_NORM_REPLACE: return pf_tok_replace_all(&nm->re, nm->str, nm->str_len, s, n, mt, out);
    case PF_NORM_NFC: case PF_NORM_NFD: case PF_NORM_NFKC: case PF_NORM_NFKD:
        return norm_unicode(nm->kind, s, n, out);
    case PF_NORM_LOWERCASE: return norm_lowercase(s, n, out);
    case PF_NORM_STRIP: {
        size_t a = 0, b = n;
        while (nm->left && a < b && pf_is_whitespace(pf_utf8_decode(s + a, &l))) a += l;
        while (nm->right && b > a) {
            size_t p = b - 1;
            while (p > a && ((unsigned char)s[p] & 0xC0) == 0x80) p--;
            if (!pf_is_whitespace(pf_utf8_decode(s + p, &l))) break;
            b = p;
        }
        return pf_sbuf_append(out, s + a, b - a);
    }
    case PF_NORM_BERT_CLEAN: {
        size_t i = 0;
        while (i < n) {
            uint32_t cp = pf_utf8_decode(s + i, &l);
            int rc;
            /* the reference filters controls (Cc, Cf, Cs, Co; not \t \n \r) first, then maps whitespace */
            utf8proc_category_t cat = utf8proc_category((utf8proc_int32_t)cp);
            int other = cp != '\t' && cp != '\n' && cp != '\r' &&
                        (cat == UTF8PROC_CATEGORY_CC || cat == UTF8PROC_CATEGORY_CF || cat == UTF8PROC_CATEGORY_CS ||
                         cat == UTF8PROC_CATEGORY_CO); /* not Cn: the reference keeps unassigned code points */
            if (cp == 0 || cp == 0xFFFD || other) rc = 0;
            else if (cp == '\t' || cp == '\n' || cp == '\r' || pf_is_whitespace(cp)) rc = pf_sbuf_append(out, " ", 1);
            else rc = pf_sbuf_append(out, s + i, l);
            if (rc) return rc;
            i += l;
        }
        return PROFS_OK;
    }
    case PF_NORM_BERT_CHINESE: {
        size_t i = 0;
        while (i < n) {
            uint32_t cp = pf_utf8_decode(s + i, &l);
            int cjk = (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) ||
                      (cp >= 0x20000 && cp <= 0x2A6DF) || (cp >= 0x2A700 && cp <= 0x2B73F) ||
                      (cp >= 0x2B740 && cp <= 0x2B81F) || (cp >= 0x2B920 && cp <= 0x2CEAF) ||
                      (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
            int rc = cjk ? pf_sbuf_append(out, " ", 1) : 0;
            if (!rc) rc = pf_sbuf_append(out, s + i, l);
            if (!rc && cjk) rc = pf_sbuf_append(out, " ", 1);
            if (rc) return rc;
            i += l;
        }
        return PROFS_OK;
    }
    case PF_NORM_STRIP_MN: {
        size_t i = 0;
        while (i < n) {
            uint32_t cp = pf_utf8_decode(s + i, &l);
            int rc = utf8proc_category((utf8proc_int32_t)cp) == UTF8PROC_CATEGORY_MN ? 0 : pf_sbuf_append(out, s + i, l);
            if (rc) return rc;
            i += l;
        }
        return PROFS_OK;
    }
    case PF_NORM_STRIP_ACCENTS: {
        size_t i = 0;
        while (i < n) {
            uint32_t cp = pf_utf8_decode(s + i, &l);
            utf8proc_category_t cat = utf8proc_category((utf8proc_int32_t)cp);
            int mark = cat == UTF8PROC_CATEGORY_MN || cat == UTF8PROC_CATEGORY_MC || cat == UTF8PROC_CATEGORY_ME;
            int rc = mark ? 0 : pf_sbuf_append(out, s + i, l);
            if (rc) return rc;
            i += l;
        }
        return PROFS_OK;
    }
    }
    return pf_error(PROFS_EUNSUPPORTED, "normalizer kind %d", nm->kind);
}

/* Normalise s into out (appending) with scratch buffer tmp. */
int pf_tok_normalize_with(const profs_tokenizer *t, const char *s, size_t n, pf_sbuf *out, pf_sbuf *tmp,
                          matcher *mt)
{
    if (!t->n_norm) return pf_sbuf_append(out, s, n);
    /* steps alternate between tmp and a second scratch; the last one writes to out */
    pf_sbuf other = {0};
    const char *cur = s;
    size_t cur_n = n;
    int rc = PROFS_OK;
    size_t bound = n <= (SIZE_MAX - PF_NORM_SLACK) / PF_NORM_GROWTH ? PF_NORM_GROWTH * n + PF_NORM_SLACK : SIZE_MAX;
    for (size_t i = 0; i < t->n_norm && !rc; i++) {
        pf_sbuf *dst = i + 1 == t->n_norm ? out : (i % 2 ? &other : tmp);
        size_t base = dst == out ? out->n : 0;
        if (dst != out) dst->n = 0;
        size_t saved_max = dst->max;
        dst->max = base <= SIZE_MAX - bound ? base + bound : SIZE_MAX;
        rc = norm_step(&t->norm[i], cur, cur_n, dst, mt);
        dst->max = saved_max;
        if (rc == PROFS_EUNSUPPORTED && t->norm[i].kind <= PF_NORM_STRIP_ACCENTS)   /* the bound (kinds are known) */
            rc = pf_error(PROFS_EUNSUPPORTED, "tokenizer normalizer %zu (%s): the normalised text would exceed %d x the "
                          "input + %d bytes (%zu bytes for a %zu-byte segment); refused as a growth bomb",
                          i, norm_name(t->norm[i].kind), PF_NORM_GROWTH, PF_NORM_SLACK, bound, n);
        cur = dst->p + base;
        cur_n = dst->n - base;
    }
    pf_sbuf_free(&other);
    return rc;
}

int pf_tok_normalize(const profs_tokenizer *t, const char *s, size_t n, pf_sbuf *out)
{
    matcher mt = {pcre2_match_data_create(1, NULL), NULL, NULL};
    if (!mt.md) return pf_enomem("regex match data");
    pf_sbuf tmp = {0};
    int rc = pf_tok_normalize_with(t, s, n, out, &tmp, &mt);
    pf_sbuf_free(&tmp);
    pf_tok_matcher_free(&mt);
    return rc;
}

