/* Pre-tokenizers: ByteLevel, Split, Metaspace, Digits, Whitespace, WhitespaceSplit, and the split
 * behaviours (Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous) of the reference's
 * NormalizedString::split. */
#include <string.h>

#include "text/tok_encode.h"

static int spans_regex(ctx *c, const pf_regex *re, const char *s, size_t n)
{
    c->spans.n = 0;
    if (!n) return push_span(&c->spans, 0, 0, 0);
    size_t prev = 0, pos = 0, ms, me;
    int rc;
    while (pos <= n && (rc = pf_tok_regex_next(re, s, n, pos, &c->mt, &ms, &me)) == 1) {
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

/* Every character satisfying pred (or equal to `only` when pred is NULL) is a match of its own (the
 * reference's Pattern for a char predicate or a char). */
static int spans_char(ctx *c, int (*pred)(uint32_t), uint32_t only, const char *s, size_t n)
{
    c->spans.n = 0;
    if (!n) return push_span(&c->spans, 0, 0, 0);
    size_t last = 0, i = 0, l;
    int rc;
    while (i < n) {
        uint32_t cp = pf_utf8_decode(s + i, &l);
        if (pred ? pred(cp) : cp == only) {
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

/* Hand a piece of the arena to the next pre-tokenizer step, or straight to BPE after the last step
 * (c->direct); a piece at the end of the arena is dropped from it once consumed. */
static int emit(ctx *c, size_t off, size_t len, int first)
{
    if (!len) return PROFS_OK;
    if (!c->direct) return push_piece(&c->next, off, len, first);
    int rc = pf_tok_bpe_word(c, c->arena.p + off, len);
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
    while (pos <= p.len && (rc = pf_tok_regex_next(&pp->re, c->arena.p + p.off, p.len, pos, &c->mt, &ms, &me)) == 1) {
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

int pf_tok_pre_step(ctx *c, const pf_pre *pp, piece p)
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
        if ((rc = spans_char(c, pf_is_whitespace, 0, s, p.len))) return rc;
        spans_behavior(c, PF_REMOVED);
        return push_spans(c, p);
    case PF_PRE_DIGITS:
        if ((rc = spans_char(c, pf_is_numeric, 0, s, p.len))) return rc;
        spans_behavior(c, pp->individual ? PF_ISOLATED : PF_CONTIGUOUS);
        return push_spans(c, p);
    case PF_PRE_PUNCTUATION:
        if ((rc = spans_char(c, pf_is_punct, 0, s, p.len))) return rc;
        spans_behavior(c, pp->behavior);
        return push_spans(c, p);
    case PF_PRE_CHAR_DELIMITER:
        if ((rc = spans_char(c, NULL, pp->rep_cp, s, p.len))) return rc;
        spans_behavior(c, PF_REMOVED);
        return push_spans(c, p);
    }
    return pf_error(PROFS_EUNSUPPORTED, "pre-tokenizer kind %d", pp->kind);
}

