/* Tokenizer decoder: ids -> token strings -> the decoder chain (each step maps a list of strings to a
 * list of strings, as Hugging Face tokenizers' decode_chain) -> their concatenation. */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "text/tok_encode.h"

typedef struct { size_t off, len; } tok;
typedef struct { tok *p; size_t n, cap; pf_sbuf b; } toklist; /* strings stored in b */

static int tl_push(toklist *l, const char *s, size_t n)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        tok *p = realloc(l->p, cap * sizeof *p);
        if (!p) return pf_enomem("decoder");
        l->p = p;
        l->cap = cap;
    }
    size_t off = l->b.n;
    int rc = pf_sbuf_append(&l->b, s, n);
    if (rc) return rc;
    l->p[l->n++] = (tok){off, n};
    return PROFS_OK;
}

/* Start a new string at the end of l->b; finish with tl_close. */
static int tl_close(toklist *l, size_t off)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        tok *p = realloc(l->p, cap * sizeof *p);
        if (!p) return pf_enomem("decoder");
        l->p = p;
        l->cap = cap;
    }
    l->p[l->n++] = (tok){off, l->b.n - off};
    return PROFS_OK;
}

#define TOK(l, i) ((l)->b.p ? (l)->b.p + (l)->p[i].off : "") /* all-empty lists have no buffer */

/* "<0xNN>" -> byte (as Rust's u8::from_str_radix on the two characters: an optional '+' is accepted). */
static int byte_token(const char *s, size_t n)
{
    if (n != 6 || memcmp(s, "<0x", 3) != 0 || s[5] != '>') return -1;
    int v = 0, digits = 0;
    for (int i = 3; i < 5; i++) {
        char ch = s[i];
        int d = ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
              : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10 : -1;
        if (d < 0) {
            if (i == 3 && ch == '+') continue;
            return -1;
        }
        v = v * 16 + d;
        digits++;
    }
    return digits ? v : -1;
}

static int flush_bytes(toklist *dst, pf_sbuf *bytes)
{
    int rc = PROFS_OK;
    if (!bytes->n) return rc;
    if (pf_utf8_check(bytes->p, bytes->n) == bytes->n) rc = tl_push(dst, bytes->p, bytes->n);
    else
        for (size_t k = 0; k < bytes->n && !rc; k++) rc = tl_push(dst, "\xEF\xBF\xBD", 3);
    bytes->n = 0;
    return rc;
}

static int dec_step(const pf_dec *d, toklist *src, toklist *dst, matcher *mt)
{
    int rc = PROFS_OK;
    switch (d->kind) {
    case PF_DEC_FUSE: {
        size_t off = dst->b.n;
        for (size_t i = 0; i < src->n && !rc; i++) rc = pf_sbuf_append(&dst->b, TOK(src, i), src->p[i].len);
        return rc ? rc : tl_close(dst, off);
    }
    case PF_DEC_BYTELEVEL: {
        pf_sbuf bytes = {0};
        for (size_t i = 0; i < src->n && !rc; i++) {
            const char *s = TOK(src, i);
            size_t n = src->p[i].len, start = bytes.n, j = 0, l;
            for (; j < n; j += l) {
                int b = pf_cp_to_byte(pf_utf8_decode(s + j, &l));
                if (b < 0) break;
                char ch = (char)b;
                if ((rc = pf_sbuf_append(&bytes, &ch, 1))) break;
            }
            if (!rc && j < n) { /* a character outside the alphabet: the token's own bytes */
                bytes.n = start;
                rc = pf_sbuf_append(&bytes, s, n);
            }
        }
        size_t off = dst->b.n;
        if (!rc) rc = pf_utf8_append_lossy(&dst->b, bytes.p ? bytes.p : "", bytes.n);
        pf_sbuf_free(&bytes);
        return rc ? rc : tl_close(dst, off);
    }
    case PF_DEC_BYTEFALLBACK: {
        pf_sbuf bytes = {0};
        for (size_t i = 0; i < src->n && !rc; i++) {
            int b = byte_token(TOK(src, i), src->p[i].len);
            if (b >= 0) {
                char ch = (char)b;
                rc = pf_sbuf_append(&bytes, &ch, 1);
                continue;
            }
            if (!(rc = flush_bytes(dst, &bytes))) rc = tl_push(dst, TOK(src, i), src->p[i].len);
        }
        if (!rc) rc = flush_bytes(dst, &bytes);
        pf_sbuf_free(&bytes);
        return rc;
    }
    case PF_DEC_REPLACE:
        for (size_t i = 0; i < src->n && !rc; i++) {
            size_t off = dst->b.n;
            if (!(rc = pf_tok_replace_all(&d->re, d->content, d->content_len, TOK(src, i), src->p[i].len, mt, &dst->b)))
                rc = tl_close(dst, off);
        }
        return rc;
    case PF_DEC_METASPACE:
        /* every replacement character becomes a space, except in the first token, where (unless the
         * prepend scheme is "never") every one of them is dropped, as the reference does */
        for (size_t i = 0; i < src->n && !rc; i++) {
            const char *s = TOK(src, i);
            size_t n = src->p[i].len, off = dst->b.n, j = 0;
            int drop = i == 0 && d->prepend != PF_PREPEND_NEVER;
            while (j < n && !rc) {
                if (n - j >= d->rep_len && memcmp(s + j, d->rep, d->rep_len) == 0) {
                    if (!drop) rc = pf_sbuf_append(&dst->b, " ", 1);
                    j += d->rep_len;
                } else {
                    rc = pf_sbuf_append(&dst->b, s + j, 1);
                    j++;
                }
            }
            if (!rc) rc = tl_close(dst, off);
        }
        return rc;
    case PF_DEC_STRIP:
        for (size_t i = 0; i < src->n && !rc; i++) {
            const char *s = TOK(src, i);
            size_t n = src->p[i].len, a = 0, b = n, l;
            for (size_t k = 0; k < d->start && a < n; k++) {
                if (pf_utf8_decode(s + a, &l) != d->strip_cp) break;
                a += l;
            }
            for (size_t k = 0; k < d->stop && b > a; k++) {
                size_t p = b - 1;
                while (p > a && ((unsigned char)s[p] & 0xC0) == 0x80) p--;
                if (pf_utf8_decode(s + p, &l) != d->strip_cp) break;
                b = p;
            }
            rc = tl_push(dst, s + a, b - a);
        }
        return rc;
    case PF_DEC_WORDPIECE: {
        /* tokenizers' decoders/wordpiece: a token with the prefix joins the previous one, any other after the
         * first is preceded by a space; cleanup applies the BERT clean-up of tokenization spaces */
        static const char *const cleanup[][2] = {{" .", "."}, {" ?", "?"}, {" !", "!"}, {" ,", ","}, {" ' ", "'"},
                                                 {" n't", "n't"}, {" 'm", "'m"}, {" do not", " don't"},
                                                 {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"}};
        pf_sbuf tmp = {0};
        for (size_t i = 0; i < src->n && !rc; i++) {
            const char *s = TOK(src, i);
            size_t n = src->p[i].len, off = dst->b.n;
            tmp.n = 0;
            if (i > 0 && n >= d->pat_len && memcmp(s, d->pat, d->pat_len) == 0) rc = pf_sbuf_append(&tmp, s + d->pat_len, n - d->pat_len);
            else if (i > 0) { if (!(rc = pf_sbuf_append(&tmp, " ", 1))) rc = pf_sbuf_append(&tmp, s, n); }
            else rc = pf_sbuf_append(&tmp, s, n);
            if (!rc && d->start) {
                for (size_t k = 0; k < sizeof cleanup / sizeof cleanup[0] && !rc; k++) {
                    size_t pl = strlen(cleanup[k][0]), wl = strlen(cleanup[k][1]), j = 0, o = 0;
                    /* replace in place: the replacement is never longer than the pattern */
                    while (j < tmp.n) {
                        if (tmp.n - j >= pl && memcmp(tmp.p + j, cleanup[k][0], pl) == 0) {
                            memmove(tmp.p + o, cleanup[k][1], wl);
                            o += wl;
                            j += pl;
                        } else {
                            tmp.p[o++] = tmp.p[j++];
                        }
                    }
                    tmp.n = o;
                }
            }
            if (!rc) rc = pf_sbuf_append(&dst->b, tmp.p ? tmp.p : "", tmp.n);
            if (!rc) rc = tl_close(dst, off);
        }
        pf_sbuf_free(&tmp);
        return rc;
    }
    case PF_DEC_BPE_SUFFIX:
        for (size_t i = 0; i < src->n && !rc; i++) {
            const char *s = TOK(src, i);
            size_t n = src->p[i].len, off = dst->b.n, j = 0;
            const char *with = i + 1 == src->n ? "" : " ";
            while (j < n && !rc) {
                if (n - j >= d->pat_len && memcmp(s + j, d->pat, d->pat_len) == 0) {
                    rc = pf_sbuf_append(&dst->b, with, strlen(with));
                    j += d->pat_len;
                } else {
                    rc = pf_sbuf_append(&dst->b, s + j, 1);
                    j++;
                }
            }
            if (!rc) rc = tl_close(dst, off);
        }
        return rc;
    }
    return pf_error(PROFS_EUNSUPPORTED, "decoder kind %d", d->kind);
}

int pf_tok_decode(const profs_tokenizer *t, const int32_t *ids, size_t n, unsigned flags, pf_sbuf *out)
{
    toklist a = {0}, b = {0};
    int rc = PROFS_OK;
    for (size_t i = 0; i < n && !rc; i++) {
        int32_t id = ids[i];
        if (id < 0 || (size_t)id >= t->n_ids || !t->tok[id]) {
            rc = pf_error(PROFS_EINVAL, "decode: ids[%zu] = %d is not a token id (vocabulary size %zu)", i, (int)id,
                          t->n_ids);
            break;
        }
        if ((flags & PROFS_DECODE_SKIP_SPECIAL) && t->tok_special[id]) continue;
        rc = tl_push(&a, t->tok[id], t->tok_len[id]);
    }
    if (!rc && !t->has_decoder) {
        for (size_t i = 0; i < a.n && !rc; i++) {
            if (i) rc = pf_sbuf_append(out, " ", 1);
            if (!rc) rc = pf_sbuf_append(out, TOK(&a, i), a.p[i].len);
        }
    } else if (!rc) {
        matcher mt = {pcre2_match_data_create(1, NULL), NULL, NULL};
        if (!mt.md) rc = pf_enomem("regex match data");
        for (size_t k = 0; k < t->n_dec && !rc; k++) {
            b.n = 0;
            b.b.n = 0;
            rc = dec_step(&t->dec[k], &a, &b, &mt);
            toklist tmp = a;
            a = b;
            b = tmp;
        }
        pf_tok_matcher_free(&mt);
        for (size_t i = 0; i < a.n && !rc; i++) rc = pf_sbuf_append(out, TOK(&a, i), a.p[i].len);
    }
    free(a.p);
    free(b.p);
    pf_sbuf_free(&a.b);
    pf_sbuf_free(&b.b);
    return rc;
}
