/* Tokenizer encoder: the Hugging Face tokenizers pipeline, step for step.
 *
 *   text --(added tokens with normalized=false, searched in the raw text)--> segments
 *   segment --normalizers--> normalised --(added tokens with normalized=true)--> pieces
 *   piece --pre-tokenizers--> words --BPE--> ids;  post-processor adds its ids around the sequence.
 *
 * Empty segments, pieces and words are dropped at every step, as the reference drops them.
 * All per-call state lives in a `ctx` on the caller's stack: the tokenizer itself is never written. */
#include <string.h>

#include "text/tok_encode.h"

/* ---------------------------------------------------------------- regex matching */

/* Next match of re in s[0..n) at or after start. Returns 1 (match), 0 (none) or an error code. */
int pf_tok_regex_next(const pf_regex *re, const char *s, size_t n, size_t start, matcher *mt, size_t *ms,
                      size_t *me)
{
    int rc = pcre2_match(re->code, (PCRE2_SPTR)s, n, start, PCRE2_NO_UTF_CHECK, mt->md, mt->mctx);
    if (rc == PCRE2_ERROR_JIT_STACKLIMIT && !mt->js) {
        /* the default 32 KiB JIT stack was too small for this text: retry once with up to 64 MiB */
        if (!mt->mctx && !(mt->mctx = pcre2_match_context_create(NULL))) return pf_enomem("regex match context");
        if (!(mt->js = pcre2_jit_stack_create(256 * 1024, 64 * 1024 * 1024, NULL))) return pf_enomem("regex stack");
        pcre2_jit_stack_assign(mt->mctx, NULL, mt->js);
        rc = pcre2_match(re->code, (PCRE2_SPTR)s, n, start, PCRE2_NO_UTF_CHECK, mt->md, mt->mctx);
    }
    if (rc == PCRE2_ERROR_NOMATCH) return 0;
    if (rc < 0) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(rc, msg, sizeof msg);
        return pf_error(rc == PCRE2_ERROR_NOMEMORY || rc == PCRE2_ERROR_JIT_STACKLIMIT ? PROFS_ENOMEM
                                                                                        : PROFS_EUNSUPPORTED,
                        "regex '%s' failed at byte %zu: %s", re->src, start, (const char *)msg);
    }
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(mt->md);
    *ms = ov[0];
    *me = ov[1];
    return 1;
}

int pf_tok_replace_all(const pf_regex *re, const char *with, size_t with_len, const char *s, size_t n, matcher *mt,
                       pf_sbuf *out)
{
    size_t pos = 0, prev = 0, ms, me;
    int rc = 0;
    while (pos <= n && (rc = pf_tok_regex_next(re, s, n, pos, mt, &ms, &me)) == 1) {
        if ((rc = pf_sbuf_append(out, s + prev, ms - prev)) || (rc = pf_sbuf_append(out, with, with_len)))
            return rc;
        prev = me;
        if (me == ms) {
            if (me >= n) break;
            size_t l;
            pf_utf8_decode(s + me, &l);
            if ((rc = pf_sbuf_append(out, s + me, l))) return rc;
            prev = pos = me + l;
        } else {
            pos = me;
        }
    }
    if (rc < 0) return rc;
    return pf_sbuf_append(out, s + prev, n - prev);
}

void pf_tok_matcher_free(matcher *mt)
{
    if (mt->md) pcre2_match_data_free(mt->md);
    if (mt->mctx) pcre2_match_context_free(mt->mctx);
    if (mt->js) pcre2_jit_stack_free(mt->js);
}

/* Matches and gaps covering s[0..n), as the reference's Pattern::find_matches for a regex. */
/* ---------------------------------------------------------------- added tokens */

static int cmp_added(const void *a, const void *b)
{
    const pf_added *x = *(const pf_added *const *)a, *y = *(const pf_added *const *)b;
    unsigned char fx = (unsigned char)x->match[0], fy = (unsigned char)y->match[0];
    if (fx != fy) return fx < fy ? -1 : 1;
    if (x->match_len != y->match_len) return x->match_len > y->match_len ? -1 : 1;
    return x < y ? -1 : x > y;
}

int pf_addset_build(pf_addset *set, const pf_added *tok, size_t n, int want_normalized)
{
    memset(set, 0, sizeof *set);
    for (size_t i = 0; i < n; i++)
        if (!tok[i].normalized == !want_normalized && tok[i].match_len) set->n++;
    if (set->n) {
        set->tok = malloc(set->n * sizeof *set->tok);
        if (!set->tok) return pf_enomem("added tokens");
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (!tok[i].normalized == !want_normalized && tok[i].match_len) set->tok[k++] = &tok[i];
    if (k) qsort(set->tok, k, sizeof *set->tok, cmp_added);
    size_t j = 0;
    for (unsigned b = 0; b <= 256; b++) {
        while (j < k && (unsigned char)set->tok[j]->match[0] < b) j++;
        set->first[b] = (uint32_t)j;
    }
    set->first[256] = (uint32_t)k;
    return PROFS_OK;
}

void pf_addset_free(pf_addset *set)
{
    free(set->tok);
    memset(set, 0, sizeof *set);
}

/* Is the character at s[0..len) a word character, as the reference's single_word check reads it (Rust
 * regex \w: Alphabetic, marks, Nd, Pc, Join_Control)? The class is compiled at load (t->word_re). */
static int is_word_char(ctx *c, const char *s, size_t len)
{
    unsigned char b = (unsigned char)s[0];
    if (b < 0x80) return b == '_' || (b >= '0' && b <= '9') || ((b | 0x20) >= 'a' && (b | 0x20) <= 'z');
    int rc = pcre2_match(c->t->word_re.code, (PCRE2_SPTR)s, len, 0, PCRE2_ANCHORED | PCRE2_NO_UTF_CHECK, c->mt.md,
                         NULL);
    return rc >= 0;
}

static size_t last_char_start(const char *s, size_t n)
{
    size_t i = n - 1;
    while (i > 0 && ((unsigned char)s[i] & 0xC0) == 0x80) i--;
    return i;
}

/* Split s into added tokens and the text between them (AddedVocabulary::find_matches). */
static int split_added(ctx *c, const pf_addset *set, int skip_special, const char *s, size_t n, segvec *out)
{
    out->n = 0;
    if (!n) return PROFS_OK;
    int rc;
    size_t start_offset = 0, pos = 0;
    if (set->n) {
        while (pos < n) {
            /* leftmost-longest match at or after pos */
            const pf_added *hit = NULL;
            size_t i = pos;
            for (; i < n && !hit; i++) {
                unsigned char b = (unsigned char)s[i];
                for (uint32_t k = set->first[b]; k < set->first[b + 1]; k++) {
                    const pf_added *a = set->tok[k];
                    if (a->match_len <= n - i && memcmp(s + i, a->match, a->match_len) == 0) { hit = a; break; }
                }
            }
            if (!hit) break;
            size_t start = i - 1, stop = start + hit->match_len;
            pos = stop;
            if (skip_special && hit->special) continue;
            if (hit->single_word) {
                size_t l, p = start ? last_char_start(s, start) : 0;
                int start_space = start == 0 || !is_word_char(c, s + p, start - p);
                if (stop < n) pf_utf8_decode(s + stop, &l);
                int stop_space = stop == n || !is_word_char(c, s + stop, l);
                if (!start_space || !stop_space) continue;
            }
            if (hit->lstrip) {
                size_t ns = start;
                while (ns > 0) {
                    size_t p = ns - 1;
                    while (p > 0 && ((unsigned char)s[p] & 0xC0) == 0x80) p--;
                    size_t l;
                    if (!pf_is_whitespace(pf_utf8_decode(s + p, &l))) break;
                    ns = p;
                }
                start = ns > start_offset ? ns : start_offset;
            }
            if (hit->rstrip) {
                size_t l;
                while (stop < n && pf_is_whitespace(pf_utf8_decode(s + stop, &l))) stop += l;
            }
            if (start_offset < start && (rc = push_seg(out, start_offset, start, -1))) return rc;
            if ((rc = push_seg(out, start, stop, hit->id))) return rc;
            start_offset = stop;
        }
    }
    if (start_offset < n) return push_seg(out, start_offset, n, -1);
    return PROFS_OK;
}

/* ---------------------------------------------------------------- the pipeline */

/* Pre-tokenize and BPE one piece of normalised text. */
static int encode_piece(ctx *c, const char *s, size_t n, int first)
{
    const profs_tokenizer *t = c->t;
    int rc;
    if (!t->n_pre) return pf_tok_bpe_word(c, s, n);
    c->arena.n = 0;
    if ((rc = pf_sbuf_append(&c->arena, s, n))) return rc;
    c->cur.n = 0;
    if ((rc = push_piece(&c->cur, 0, n, first))) return rc;
    for (size_t k = 0; k < t->n_pre; k++) {
        c->next.n = 0;
        c->direct = k + 1 == t->n_pre;
        for (size_t i = 0; i < c->cur.n; i++)
            if ((rc = pf_tok_pre_step(c, &t->pre[k], c->cur.p[i]))) return rc;
        piecevec tmp = c->cur;
        c->cur = c->next;
        c->next = tmp;
    }
    return PROFS_OK;
}

static int encode_text(ctx *c, const char *text, size_t len, unsigned flags)
{
    const profs_tokenizer *t = c->t;
    int skip = (flags & PROFS_ENCODE_SPECIAL_AS_TEXT) != 0, rc;
    if ((rc = split_added(c, &t->set_raw, skip, text, len, &c->outer))) return rc;
    for (size_t i = 0; i < c->outer.n; i++) {
        seg sg = c->outer.p[i];
        if (sg.id >= 0) {
            if ((rc = pf_ibuf_push(c->out, sg.id))) return rc;
            continue;
        }
        const char *s = text + sg.s;
        size_t n = sg.e - sg.s;
        if (t->n_norm) {
            c->norm.n = 0;
            if ((rc = pf_tok_normalize_with(t, s, n, &c->norm, &c->tmp, &c->mt))) return rc;
            s = c->norm.p;
            n = c->norm.n;
        }
        if ((rc = split_added(c, &t->set_norm, skip, s, n, &c->inner))) return rc;
        for (size_t j = 0; j < c->inner.n; j++) {
            seg in = c->inner.p[j];
            if (in.id >= 0) rc = pf_ibuf_push(c->out, in.id);
            else rc = encode_piece(c, s + in.s, in.e - in.s, sg.s == 0 && in.s == 0);
            if (rc) return rc;
        }
    }
    return PROFS_OK;
}

int pf_tok_encode(const profs_tokenizer *t, const char *text, size_t len, unsigned flags, pf_ibuf *out)
{
    size_t bad = pf_utf8_check(text, len);
    if (bad != len)
        return pf_error(PROFS_EFORMAT, "invalid UTF-8 at byte offset %zu (byte 0x%02X)", bad,
                        (unsigned)(unsigned char)text[bad]);
    ctx c;
    memset(&c, 0, sizeof c);
    c.t = t;
    c.out = out;
    int rc = PROFS_OK;
    if ((t->has_regex || t->n_norm || t->word_re.code) && !(c.mt.md = pcre2_match_data_create(1, NULL)))
        rc = pf_enomem("regex match data");
    if (!rc && (flags & PROFS_ENCODE_ADD_SPECIAL))
        for (size_t i = 0; i < t->n_post_pre && !rc; i++) rc = pf_ibuf_push(out, t->post_pre[i]);
    if (!rc) rc = encode_text(&c, text, len, flags);
    if (!rc && (flags & PROFS_ENCODE_ADD_SPECIAL))
        for (size_t i = 0; i < t->n_post_post && !rc; i++) rc = pf_ibuf_push(out, t->post_post[i]);
    pf_tok_matcher_free(&c.mt);
    pf_sbuf_free(&c.arena);
    pf_sbuf_free(&c.norm);
    pf_sbuf_free(&c.tmp);
    free(c.cur.p);
    free(c.next.p);
    free(c.spans.p);
    free(c.outer.p);
    free(c.inner.p);
    free(c.syms);
    free(c.heap);
    return rc;
}
