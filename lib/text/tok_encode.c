/* Tokenizer encoder: the Hugging Face tokenizers pipeline, step for step.
 *
 *   text --(added tokens with normalized=false, searched in the raw text)--> segments
 *   segment --normalizers--> normalised --(added tokens with normalized=true)--> pieces
 *   piece --pre-tokenizers--> words --BPE--> ids;  post-processor adds its ids around the sequence.
 *
 * Empty segments, pieces and words are dropped at every step, as the reference drops them.
 * All per-call state lives in a `ctx` on the caller's stack: the tokenizer itself is never written. */
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "core/error.h"
#include "text/tok_internal.h"

typedef struct { size_t off, len; int first; } piece; /* a range of ctx.arena; first: starts the input */
typedef struct { piece *p; size_t n, cap; } piecevec;
typedef struct { size_t s, e; int m; } span;          /* a range of a string; m: matched the pattern */
typedef struct { span *p; size_t n, cap; } spanvec;
typedef struct { size_t s, e; int32_t id; } seg;      /* id >= 0: an added token */
typedef struct { seg *p; size_t n, cap; } segvec;

typedef struct { int32_t id; int32_t prev, next; uint32_t len; } sym; /* a BPE symbol; len 0 = merged away */
typedef struct { uint32_t rank, pos; int32_t id; } qent;              /* a candidate merge */

/* Regex match state of one call: match data, and a large JIT stack made only when a match needs it. */
typedef struct {
    pcre2_match_data *md;
    pcre2_match_context *mctx;
    pcre2_jit_stack *js;
} matcher;

typedef struct {
    const profs_tokenizer *t;
    matcher mt;
    pf_sbuf arena;      /* contents of the pieces of the current segment */
    pf_sbuf norm;       /* the normalised segment */
    pf_sbuf tmp;        /* scratch */
    piecevec cur, next;
    int direct;         /* the current pre-tokenizer step is the last: pieces go straight to BPE */
    spanvec spans;
    segvec outer, inner;
    sym *syms; size_t cap_syms;
    qent *heap; size_t cap_heap;
    pf_ibuf *out;
} ctx;

#define GROW(vec, type)                                                                        \
    do {                                                                                       \
        if ((vec).n == (vec).cap) {                                                            \
            size_t cap_ = (vec).cap ? (vec).cap * 2 : 32;                                      \
            type *p_ = realloc((vec).p, cap_ * sizeof *p_);                                    \
            if (!p_) return pf_enomem("tokenizer work space");                                 \
            (vec).p = p_;                                                                      \
            (vec).cap = cap_;                                                                  \
        }                                                                                      \
    } while (0)

static int push_span(spanvec *v, size_t s, size_t e, int m)
{
    GROW(*v, span);
    v->p[v->n++] = (span){s, e, m};
    return PROFS_OK;
}

static int push_piece(piecevec *v, size_t off, size_t len, int first)
{
    if (!len) return PROFS_OK;
    GROW(*v, piece);
    v->p[v->n++] = (piece){off, len, first};
    return PROFS_OK;
}

static int push_seg(segvec *v, size_t s, size_t e, int32_t id)
{
    GROW(*v, seg);
    v->p[v->n++] = (seg){s, e, id};
    return PROFS_OK;
}

/* ---------------------------------------------------------------- regex matching */

/* Next match of re in s[0..n) at or after start. Returns 1 (match), 0 (none) or an error code. */
static int regex_next(const pf_regex *re, const char *s, size_t n, size_t start, matcher *mt, size_t *ms,
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

static void matcher_free(matcher *mt)
{
    if (mt->md) pcre2_match_data_free(mt->md);
    if (mt->mctx) pcre2_match_context_free(mt->mctx);
    if (mt->js) pcre2_jit_stack_free(mt->js);
}

/* Matches and gaps covering s[0..n), as the reference's Pattern::find_matches for a regex. */
static int spans_regex(ctx *c, const pf_regex *re, const char *s, size_t n)
{
    c->spans.n = 0;
    if (!n) return push_span(&c->spans, 0, 0, 0);
    size_t prev = 0, pos = 0, ms, me;
    int rc;
    while (pos <= n && (rc = regex_next(re, s, n, pos, &c->mt, &ms, &me)) == 1) {
        if (prev != ms && (rc = push_span(&c->spans, prev, ms, 0))) return rc;
        if ((rc = push_span(&c->spans, ms, me, 1))) return rc;
        prev = me;
        if (me == ms) {
            if (me >= n) break;
            size_t l;
            pf_utf8_decode(s + me, &l);
            pos = me + l;
        } else {
            pos = me;
        }
    }
    if (rc < 0) return rc;
    if (prev != n) return push_span(&c->spans, prev, n, 0);
    return PROFS_OK;
}

/* Every character satisfying pred is a match of its own (Pattern for a char predicate). */
static int spans_char(ctx *c, int (*pred)(uint32_t), const char *s, size_t n)
{
    c->spans.n = 0;
    if (!n) return push_span(&c->spans, 0, 0, 0);
    size_t last = 0, i = 0, l;
    int rc;
    while (i < n) {
        uint32_t cp = pf_utf8_decode(s + i, &l);
        if (pred(cp)) {
            if (last < i && (rc = push_span(&c->spans, last, i, 0))) return rc;
            if ((rc = push_span(&c->spans, i, i + l, 1))) return rc;
            last = i + l;
        }
        i += l;
    }
    if (n > last) return push_span(&c->spans, last, n, 0);
    return PROFS_OK;
}

/* Apply a split behaviour to c->spans in place (results have m = 0 except Removed's dropped ones). */
static void spans_behavior(ctx *c, int behavior)
{
    span *v = c->spans.p;
    size_t n = c->spans.n, k = 0;
    int prev_match = 0;
    switch (behavior) {
    case PF_REMOVED:
        for (size_t i = 0; i < n; i++)
            if (!v[i].m) v[k++] = v[i];
        break;
    case PF_ISOLATED:
        k = n;
        break;
    case PF_MERGED_PREV:
        for (size_t i = 0; i < n; i++) {
            span cur = v[i];
            if (cur.m && !prev_match && k) v[k - 1].e = cur.e;
            else v[k++] = (span){cur.s, cur.e, 0};
            prev_match = cur.m;
        }
        break;
    case PF_MERGED_NEXT: {
        /* right to left, then the survivors are moved to the front in order */
        size_t w = n;
        for (size_t i = n; i-- > 0;) {
            span cur = v[i];
            if (cur.m && !prev_match && w < n) v[w].s = cur.s;
            else v[--w] = (span){cur.s, cur.e, 0};
            prev_match = cur.m;
        }
        memmove(v, v + w, (n - w) * sizeof *v);
        k = n - w;
        break;
    }
    case PF_CONTIGUOUS:
        for (size_t i = 0; i < n; i++) {
            span cur = v[i];
            if (cur.m == prev_match && k) v[k - 1].e = cur.e;
            else v[k++] = (span){cur.s, cur.e, 0};
            prev_match = cur.m;
        }
        break;
    }
    c->spans.n = k;
}

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

/* ---------------------------------------------------------------- normalizers */

static int norm_replace(const pf_norm *nm, const char *s, size_t n, pf_sbuf *out, matcher *mt)
{
    size_t pos = 0, prev = 0, ms, me;
    int rc;
    while (pos <= n && (rc = regex_next(&nm->re, s, n, pos, mt, &ms, &me)) == 1) {
        if ((rc = pf_sbuf_append(out, s + prev, ms - prev)) || (rc = pf_sbuf_append(out, nm->str, nm->str_len)))
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
    case PF_NORM_REPLACE: return norm_replace(nm, s, n, out, mt);
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
static int normalize_with(const profs_tokenizer *t, const char *s, size_t n, pf_sbuf *out, pf_sbuf *tmp,
                          matcher *mt)
{
    if (!t->n_norm) return pf_sbuf_append(out, s, n);
    /* steps alternate between tmp and a second scratch; the last one writes to out */
    pf_sbuf other = {0};
    const char *cur = s;
    size_t cur_n = n;
    int rc = PROFS_OK;
    for (size_t i = 0; i < t->n_norm && !rc; i++) {
        pf_sbuf *dst = i + 1 == t->n_norm ? out : (i % 2 ? &other : tmp);
        size_t base = dst == out ? out->n : 0;
        if (dst != out) dst->n = 0;
        rc = norm_step(&t->norm[i], cur, cur_n, dst, mt);
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
    int rc = normalize_with(t, s, n, out, &tmp, &mt);
    pf_sbuf_free(&tmp);
    matcher_free(&mt);
    return rc;
}

/* ---------------------------------------------------------------- pre-tokenizers */

/* Append the byte-level form of s (each byte as its alphabet character) to the arena. */
static int bytelevel_map(ctx *c, size_t off, size_t n, size_t *new_off)
{
    int rc = pf_sbuf_reserve(&c->arena, 2 * n);
    if (rc) return rc;
    const unsigned char *s = (const unsigned char *)c->arena.p + off;
    char *o = c->arena.p + c->arena.n;
    *new_off = c->arena.n;
    for (size_t i = 0; i < n; i++) {
        unsigned cp = pf_byte_to_cp[s[i]];
        if (cp < 0x80) *o++ = (char)cp;
        else {
            *o++ = (char)(0xC0 | (cp >> 6));
            *o++ = (char)(0x80 | (cp & 0x3F));
        }
    }
    c->arena.n = (size_t)(o - c->arena.p);
    return PROFS_OK;
}

static int bpe_word(ctx *c, const char *w, size_t n);

/* Hand a piece of the arena to the next pre-tokenizer step, or straight to BPE after the last step
 * (c->direct); a piece at the end of the arena is dropped from it once consumed. */
static int emit(ctx *c, size_t off, size_t len, int first)
{
    if (!len) return PROFS_OK;
    if (!c->direct) return push_piece(&c->next, off, len, first);
    int rc = bpe_word(c, c->arena.p + off, len);
    if (!rc && off + len == c->arena.n) c->arena.n = off;
    return rc;
}

/* Push the spans of c->spans (offsets relative to piece p) as pieces. */
static int push_spans(ctx *c, piece p)
{
    for (size_t k = 0; k < c->spans.n; k++) {
        int rc = emit(c, p.off + c->spans.p[k].s, c->spans.p[k].e - c->spans.p[k].s,
                            p.first && c->spans.p[k].s == 0);
        if (rc) return rc;
    }
    return PROFS_OK;
}

static int pre_bytelevel(ctx *c, const pf_pre *pp, piece p)
{
    int rc;
    if (pp->add_prefix_space && c->arena.p[p.off] != ' ') {
        if ((rc = pf_sbuf_reserve(&c->arena, p.len + 1))) return rc;
        size_t off = c->arena.n;
        c->arena.p[c->arena.n++] = ' ';
        memcpy(c->arena.p + c->arena.n, c->arena.p + p.off, p.len);
        c->arena.n += p.len;
        p.off = off;
        p.len++;
    }
    if (!pp->use_regex) {
        size_t off;
        if ((rc = bytelevel_map(c, p.off, p.len, &off))) return rc;
        return emit(c, off, c->arena.n - off, p.first);
    }
    /* each match and each gap between matches is a piece (Isolated); streamed, not collected */
    size_t prev = 0, pos = 0, ms, me, off;
    while (pos <= p.len && (rc = regex_next(&pp->re, c->arena.p + p.off, p.len, pos, &c->mt, &ms, &me)) == 1) {
        if (prev != ms) {
            if ((rc = bytelevel_map(c, p.off + prev, ms - prev, &off)) ||
                (rc = emit(c, off, c->arena.n - off, p.first && prev == 0)))
                return rc;
        }
        if (me != ms) {
            if ((rc = bytelevel_map(c, p.off + ms, me - ms, &off)) ||
                (rc = emit(c, off, c->arena.n - off, p.first && ms == 0)))
                return rc;
            pos = me;
        } else {
            if (me >= p.len) break;
            size_t l;
            pf_utf8_decode(c->arena.p + p.off + me, &l);
            pos = me + l;
        }
        prev = me;
    }
    if (rc < 0) return rc;
    if (prev != p.len) {
        if ((rc = bytelevel_map(c, p.off + prev, p.len - prev, &off))) return rc;
        return emit(c, off, c->arena.n - off, p.first && prev == 0);
    }
    return PROFS_OK;
}

static int pre_metaspace(ctx *c, const pf_pre *pp, piece p)
{
    /* replace ' ' by the replacement, prepend it per the scheme, then optionally split before each one */
    int rc = pf_sbuf_reserve(&c->arena, p.len * pp->rep_len + pp->rep_len);
    if (rc) return rc;
    size_t off = c->arena.n;
    const char *s = c->arena.p + p.off;
    char *o = c->arena.p + c->arena.n;
    /* after the replacement, the piece starts with it when it started with it or with a space */
    int starts = s[0] == ' ' || (p.len >= pp->rep_len && memcmp(s, pp->rep, pp->rep_len) == 0);
    if (!starts && (pp->prepend == PF_PREPEND_ALWAYS || (pp->prepend == PF_PREPEND_FIRST && p.first))) {
        memcpy(o, pp->rep, pp->rep_len);
        o += pp->rep_len;
    }
    for (size_t i = 0; i < p.len; i++) {
        if (s[i] == ' ') {
            memcpy(o, pp->rep, pp->rep_len);
            o += pp->rep_len;
        } else {
            *o++ = s[i];
        }
    }
    c->arena.n = (size_t)(o - c->arena.p);
    piece np = {off, c->arena.n - off, p.first};
    if (!pp->split) return emit(c, np.off, np.len, np.first);
    /* split on the replacement character, MergedWithNext */
    c->spans.n = 0;
    const char *ns = c->arena.p + np.off;
    size_t last = 0, i = 0, l;
    while (i < np.len) {
        uint32_t cp = pf_utf8_decode(ns + i, &l);
        if (cp == pp->rep_cp) {
            if (last < i && (rc = push_span(&c->spans, last, i, 0))) return rc;
            if ((rc = push_span(&c->spans, i, i + l, 1))) return rc;
            last = i + l;
        }
        i += l;
    }
    if (np.len > last && (rc = push_span(&c->spans, last, np.len, 0))) return rc;
    spans_behavior(c, PF_MERGED_NEXT);
    return push_spans(c, np);
}

static int pre_step(ctx *c, const pf_pre *pp, piece p)
{
    int rc;
    const char *s = c->arena.p + p.off;
    switch (pp->kind) {
    case PF_PRE_BYTELEVEL: return pre_bytelevel(c, pp, p);
    case PF_PRE_METASPACE: return pre_metaspace(c, pp, p);
    case PF_PRE_SPLIT:
        if ((rc = spans_regex(c, &pp->re, s, p.len))) return rc;
        if (pp->invert)
            for (size_t k = 0; k < c->spans.n; k++) c->spans.p[k].m = !c->spans.p[k].m;
        spans_behavior(c, pp->behavior);
        return push_spans(c, p);
    case PF_PRE_WHITESPACE: /* keep the matches of \w+|[^\w\s]+ */
        if ((rc = spans_regex(c, &pp->re, s, p.len))) return rc;
        for (size_t k = 0; k < c->spans.n; k++) c->spans.p[k].m = !c->spans.p[k].m;
        spans_behavior(c, PF_REMOVED);
        return push_spans(c, p);
    case PF_PRE_WHITESPACE_SPLIT:
        if ((rc = spans_char(c, pf_is_whitespace, s, p.len))) return rc;
        spans_behavior(c, PF_REMOVED);
        return push_spans(c, p);
    case PF_PRE_DIGITS:
        if ((rc = spans_char(c, pf_is_numeric, s, p.len))) return rc;
        spans_behavior(c, pp->individual ? PF_ISOLATED : PF_CONTIGUOUS);
        return push_spans(c, p);
    }
    return pf_error(PROFS_EUNSUPPORTED, "pre-tokenizer kind %d", pp->kind);
}

/* ---------------------------------------------------------------- BPE */

static int heap_less(const qent *a, const qent *b) { return a->rank != b->rank ? a->rank < b->rank : a->pos < b->pos; }

static void heap_push(qent *h, size_t *n, qent e)
{
    size_t i = (*n)++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!heap_less(&e, &h[parent])) break;
        h[i] = h[parent];
        i = parent;
    }
    h[i] = e;
}

static qent heap_pop(qent *h, size_t *n)
{
    qent top = h[0], last = h[--*n];
    size_t i = 0, m = *n;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, best = i;
        const qent *bv = &last;
        if (l < m && heap_less(&h[l], bv)) { best = l; bv = &h[l]; }
        if (r < m && heap_less(&h[r], bv)) { best = r; bv = &h[r]; }
        if (best == i) break;
        h[i] = h[best];
        i = best;
    }
    if (m) h[i] = last;
    return top;
}

static int add_sym(ctx *c, size_t *n, int32_t id, uint32_t len)
{
    if (*n == c->cap_syms) {
        size_t cap = c->cap_syms ? c->cap_syms * 2 : 256;
        sym *p = realloc(c->syms, cap * sizeof *p);
        if (!p) return pf_enomem("BPE symbols");
        c->syms = p;
        c->cap_syms = cap;
    }
    c->syms[*n] = (sym){id, (int32_t)*n - 1, (int32_t)*n + 1, len};
    (*n)++;
    return PROFS_OK;
}

/* Id of one character of a word (with the continuing-subword prefix / end-of-word suffix when set). */
static int32_t char_id(ctx *c, const char *w, size_t i, size_t l, int is_first, int is_last, const char **str,
                       size_t *str_len, int *rc)
{
    const profs_tokenizer *t = c->t;
    *rc = PROFS_OK;
    int pre = !is_first && t->cont_prefix, suf = is_last && t->word_suffix;
    if (!pre && !suf) {
        *str = w + i;
        *str_len = l;
        unsigned char b = (unsigned char)w[i];
        if (b < 0x80) return t->small_cp_id[b];
        if (l == 2) {
            size_t dl;
            uint32_t cp = pf_utf8_decode(w + i, &dl);
            if (cp < 512) return t->small_cp_id[cp];
        }
        return pf_strmap_get(&t->vocab, w + i, l);
    }
    c->tmp.n = 0;
    if ((pre && (*rc = pf_sbuf_append(&c->tmp, t->cont_prefix, t->cont_prefix_len))) ||
        (*rc = pf_sbuf_append(&c->tmp, w + i, l)) ||
        (suf && (*rc = pf_sbuf_append(&c->tmp, t->word_suffix, t->word_suffix_len))))
        return -1;
    *str = c->tmp.p;
    *str_len = c->tmp.n;
    return pf_strmap_get(&t->vocab, c->tmp.p, c->tmp.n);
}

/* Words of at most SCAN_MAX symbols merge by scanning the pair ranks: the lowest rank first, the leftmost
 * among equal ranks. That is the order of the reference's priority queue (its stale-entry check is exact:
 * a merged pair always spells a longer string, so it never carries the merged id of the old pair). */
#define SCAN_MAX 48

static int merge_short(ctx *c, size_t ns)
{
    const profs_tokenizer *t = c->t;
    int32_t id[SCAN_MAX], nid[SCAN_MAX];
    uint32_t rk[SCAN_MAX]; /* rk[i]: rank of the pair (i, i + 1), UINT32_MAX when it does not merge */
    for (size_t i = 0; i < ns; i++) id[i] = c->syms[i].id;
    for (size_t i = 0; i + 1 < ns; i++) {
        const pf_merge *m = pf_mergemap_get(&t->merges, id[i], id[i + 1]);
        rk[i] = m ? m->rank : UINT32_MAX;
        nid[i] = m ? m->id : -1;
    }
    for (;;) {
        uint32_t best = UINT32_MAX;
        size_t b = 0;
        for (size_t i = 0; i + 1 < ns; i++)
            if (rk[i] < best) { best = rk[i]; b = i; }
        if (best == UINT32_MAX) break;
        id[b] = nid[b];
        for (size_t i = b + 1; i + 1 < ns; i++) id[i] = id[i + 1];
        for (size_t i = b + 1; i + 2 < ns; i++) { rk[i] = rk[i + 1]; nid[i] = nid[i + 1]; }
        ns--;
        if (b > 0) {
            const pf_merge *m = pf_mergemap_get(&t->merges, id[b - 1], id[b]);
            rk[b - 1] = m ? m->rank : UINT32_MAX;
            nid[b - 1] = m ? m->id : -1;
        }
        if (b + 1 < ns) {
            const pf_merge *m = pf_mergemap_get(&t->merges, id[b], id[b + 1]);
            rk[b] = m ? m->rank : UINT32_MAX;
            nid[b] = m ? m->id : -1;
        }
    }
    for (size_t i = 0; i < ns; i++) {
        int rc = pf_ibuf_push(c->out, id[i]);
        if (rc) return rc;
    }
    return PROFS_OK;
}

static int bpe_segment(ctx *c, const char *w, size_t n);

/* BPE of one pre-token. With a vocabulary where U+2581 (the SentencePiece space) only ever starts a token
 * (t->meta_split), no merge can cross the start of a run of U+2581 that follows another character, so
 * long words (legacy SentencePiece files have no pre-tokenizer: a whole sentence is one word) are cut
 * there and merged piece by piece: the same result, without a queue over the whole sentence. */
static int bpe_word(ctx *c, const char *w, size_t n)
{
    const profs_tokenizer *t = c->t;
    if (t->ignore_merges) {
        int32_t id = pf_strmap_get(&t->vocab, w, n);
        if (id >= 0) return pf_ibuf_push(c->out, id);
    }
    if (!t->meta_split || n <= SCAN_MAX) return bpe_segment(c, w, n);
    static const char META[3] = {'\xE2', '\x96', '\x81'};
    size_t start = 0;
    for (size_t i = 1; i + 3 <= n; i++) {
        if (memcmp(w + i, META, 3) != 0) continue;
        if (i >= 3 && memcmp(w + i - 3, META, 3) == 0) { i += 2; continue; } /* inside a run */
        int rc = bpe_segment(c, w + start, i - start);
        if (rc) return rc;
        start = i;
        i += 2;
    }
    return bpe_segment(c, w + start, n - start);
}

static int bpe_segment(ctx *c, const char *w, size_t n)
{
    const profs_tokenizer *t = c->t;
    int rc;
    size_t ns = 0;
    int32_t unk_id = -1;
    uint32_t unk_len = 0;
    for (size_t i = 0, l; i < n; i += l) {
        pf_utf8_decode(w + i, &l);
        const char *s;
        size_t sl;
        int32_t id = char_id(c, w, i, l, i == 0, i + l == n, &s, &sl, &rc);
        if (rc) return rc;
        if (id >= 0) {
            if (unk_id >= 0) {
                if ((rc = add_sym(c, &ns, unk_id, unk_len))) return rc;
                unk_id = -1;
            }
            if ((rc = add_sym(c, &ns, id, (uint32_t)l))) return rc;
            continue;
        }
        if (t->byte_fallback) {
            size_t k = 0;
            while (k < sl && t->byte_id[(unsigned char)s[k]] >= 0) k++;
            if (k == sl) {
                for (k = 0; k < sl; k++)
                    if ((rc = add_sym(c, &ns, t->byte_id[(unsigned char)s[k]], 1))) return rc;
                continue;
            }
        }
        if (t->unk_token) {
            if (t->model_unk < 0)
                return pf_error(PROFS_EFORMAT, "%s: model.unk_token '%s' is not in the vocabulary", t->path,
                                t->unk_token);
            if (unk_id >= 0 && t->fuse_unk) {
                unk_len += (uint32_t)l;
            } else {
                if (unk_id >= 0 && (rc = add_sym(c, &ns, unk_id, unk_len))) return rc;
                unk_id = t->model_unk;
                unk_len = (uint32_t)l;
            }
        }
    }
    if (unk_id >= 0 && (rc = add_sym(c, &ns, unk_id, unk_len))) return rc;
    if (!ns) return PROFS_OK;
    sym *sy = c->syms;
    sy[ns - 1].next = -1;
    if (ns > 1 && ns <= SCAN_MAX) return merge_short(c, ns);
    if (ns > 1) {
        if (c->cap_heap < 2 * ns + 16) {
            size_t cap = 2 * ns + 16;
            qent *h = realloc(c->heap, cap * sizeof *h);
            if (!h) return pf_enomem("BPE queue");
            c->heap = h;
            c->cap_heap = cap;
        }
        /* The queue never holds more than ns - 1 + 2 * merges entries; merges < ns. Grow on demand. */
        size_t hn = 0;
        for (size_t i = 0; i + 1 < ns; i++) {
            const pf_merge *m = pf_mergemap_get(&t->merges, sy[i].id, sy[i + 1].id);
            if (m) heap_push(c->heap, &hn, (qent){m->rank, (uint32_t)i, m->id});
        }
        while (hn) {
            qent top = heap_pop(c->heap, &hn);
            sym *cur = &sy[top.pos];
            if (cur->len == 0 || cur->next < 0) continue;
            sym *right = &sy[cur->next];
            const pf_merge *m = pf_mergemap_get(&t->merges, cur->id, right->id);
            if (!m || m->id != top.id) continue;
            cur->id = top.id;
            cur->len += right->len;
            cur->next = right->next;
            right->len = 0;
            if (cur->next >= 0) sy[cur->next].prev = (int32_t)top.pos;
            if (hn + 2 > c->cap_heap) {
                size_t cap = c->cap_heap * 2;
                qent *h = realloc(c->heap, cap * sizeof *h);
                if (!h) return pf_enomem("BPE queue");
                c->heap = h;
                c->cap_heap = cap;
            }
            if (cur->prev >= 0) {
                m = pf_mergemap_get(&t->merges, sy[cur->prev].id, cur->id);
                if (m) heap_push(c->heap, &hn, (qent){m->rank, (uint32_t)cur->prev, m->id});
            }
            if (cur->next >= 0) {
                m = pf_mergemap_get(&t->merges, cur->id, sy[cur->next].id);
                if (m) heap_push(c->heap, &hn, (qent){m->rank, top.pos, m->id});
            }
        }
    }
    for (int32_t i = 0; i >= 0; i = sy[i].next)
        if ((rc = pf_ibuf_push(c->out, sy[i].id))) return rc;
    return PROFS_OK;
}

/* ---------------------------------------------------------------- the pipeline */

/* Pre-tokenize and BPE one piece of normalised text. */
static int encode_piece(ctx *c, const char *s, size_t n, int first)
{
    const profs_tokenizer *t = c->t;
    int rc;
    if (!t->n_pre) return bpe_word(c, s, n);
    c->arena.n = 0;
    if ((rc = pf_sbuf_append(&c->arena, s, n))) return rc;
    c->cur.n = 0;
    if ((rc = push_piece(&c->cur, 0, n, first))) return rc;
    for (size_t k = 0; k < t->n_pre; k++) {
        c->next.n = 0;
        c->direct = k + 1 == t->n_pre;
        for (size_t i = 0; i < c->cur.n; i++)
            if ((rc = pre_step(c, &t->pre[k], c->cur.p[i]))) return rc;
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
            if ((rc = normalize_with(t, s, n, &c->norm, &c->tmp, &c->mt))) return rc;
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
    matcher_free(&c.mt);
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
