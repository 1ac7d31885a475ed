/* The BPE model: word -> symbols (characters, byte fallback, unk) -> merges in rank order -> ids. */
#include <string.h>

#include "text/tok_encode.h"

/* The merge queue: a 4-ary min-heap on (rank, position). Four children share one or two cache lines, so a
 * pop over a long word's queue (millions of entries, mostly outside the caches) touches half the lines
 * of a binary heap. Order: the lowest rank, then the leftmost position, as the reference's queue. */
static int heap_less(const qent *a, const qent *b) { return a->rank != b->rank ? a->rank < b->rank : a->pos < b->pos; }

static void heap_push(qent *h, size_t *n, qent e)
{
    size_t i = (*n)++;
    while (i > 0) {
        size_t parent = (i - 1) / 4;
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
        size_t c = 4 * i + 1, best = i;
        const qent *bv = &last;
        size_t end = c + 4 < m ? c + 4 : m;
        for (; c < end; c++)
            if (heap_less(&h[c], bv)) { best = c; bv = &h[c]; }
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
int pf_tok_bpe_word(ctx *c, const char *w, size_t n)
{
    const profs_tokenizer *t = c->t;
    if (t->model_kind == PF_MODEL_WORDPIECE) return pf_tok_wordpiece_word(c, w, n);
    if (t->model_kind == PF_MODEL_UNIGRAM) return pf_tok_unigram_word(c, w, n);
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
    if (n > (size_t)INT32_MAX / 2) /* symbol links and queue positions are 32-bit */
        return pf_error(PROFS_EUNSUPPORTED, "a single pre-token of %zu bytes is too long for BPE (at most %d)", n,
                        INT32_MAX / 2);
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

