/* Pooling preference pairs with their shared token prefix computed once.
 *
 * Causal attention makes the hidden states of a common token prefix identical
 * in both sentences of a pair. A pair whose two id sequences start with the
 * same P >= 1 tokens therefore goes through the blocks as up to three
 * sequences of one batch: the prefix (P tokens), and the two suffixes, which
 * attend to the prefix's keys and values first (pf_lm_forward_prefix, forward.c)
 * at positions P, P + 1, ... Each sentence's mean is the sum over the prefix
 * rows plus the sum over its own suffix rows, in token order, divided by its
 * length: the same sum, in the same order, as when the sentence runs whole. */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "lm/lm_internal.h"

/* Longest common run of ids at the start of a and b. */
static size_t common_prefix(const int32_t *a, size_t na, const int32_t *b, size_t nb)
{
    size_t n = na < nb ? na : nb, p = 0;
    while (p < n && a[p] == b[p]) p++;
    return p;
}

/* 1 when the hidden states of a prefix of P tokens run alone equal those of the
 * same tokens inside sentences of la and lb tokens. Causal attention makes it
 * so for every architecture this runtime implements, whose positions depend
 * only on the token index. (A position encoding chosen by the length of the
 * whole sequence, as longrope's short/long factors, must be checked here: the
 * prefix, a sequence of P tokens, has to pick the factors of both sentences.) */
static int prefix_exact(const profs_lm *lm, size_t P, size_t la, size_t lb)
{
    /* longrope picks its factors by a call's last position (rope_inv in forward.c): a prefix run
     * on its own must fall on the same side of original_max_position_embeddings as both whole
     * sentences, or the pair runs whole */
    const pf_rope_tab *t[2] = {&lm->cfg.rope_tab, &lm->cfg.rope_local};
    for (int i = 0; i < 2; i++) {
        if (!t[i]->inv_long) continue;
        size_t om = t[i]->original_max;
        if ((P > om) != (la > om) || (P > om) != (lb > om)) return 0;
    }
    return 1;
}

/* One pair in a batch: its sequences (PF_NO_PREFIX when absent) and common prefix. */
struct unit {
    size_t seq_prefix, seq[2];
    size_t prefix, len[2], skip[2];
};

struct pairs_ctx {
    float *out;               /* (2 n_pairs, L, D) of the whole call */
    size_t first;             /* index of the batch's first pair */
    const struct unit *u;     /* (n_units) */
    size_t n_units, n_layers;
    const size_t *start;      /* (n_seqs + 1) */
    double *acc;              /* (D) */
};

static void add_rows(double *acc, const float *x, size_t t0, size_t t1, size_t dim)
{
    for (size_t t = t0; t < t1; t++)
        for (size_t i = 0; i < dim; i++) acc[i] += x[t * dim + i];
}

static int pairs_cb(void *ud, size_t layer, const float *x, size_t n_tokens, size_t dim)
{
    struct pairs_ctx *p = ud;
    (void)n_tokens;
    if (layer == 0) return 0;
    for (size_t k = 0; k < p->n_units; k++) {
        const struct unit *u = &p->u[k];
        for (int j = 0; j < 2; j++) {
            size_t skip = u->skip[j];
            memset(p->acc, 0, dim * sizeof(double));
            if (u->seq_prefix != PF_NO_PREFIX) {
                size_t a = p->start[u->seq_prefix];
                add_rows(p->acc, x, a + skip, a + u->prefix, dim);
                skip = 0;
            }
            if (u->seq[j] != PF_NO_PREFIX)
                add_rows(p->acc, x, p->start[u->seq[j]] + skip, p->start[u->seq[j] + 1], dim);
            float *o = p->out + ((2 * (p->first + k) + (size_t)j) * p->n_layers + (layer - 1)) * dim;
            double n = (double)(u->len[j] - u->skip[j]);
            for (size_t i = 0; i < dim; i++) o[i] = (float)(p->acc[i] / n);
        }
    }
    return 0;
}

int pf_lm_pool_pairs(profs_lm *lm, float *out, uint64_t *saved, const int32_t *const *ids, const size_t *lens,
                     size_t n_pairs, const size_t *skip, profs_progress_fn progress, void *userdata,
                     const char *stage, int count_sentences, uint64_t done0, uint64_t total)
{
    if (saved) *saved = 0;
    if (lm->no_prefix_sharing)
        return pf_lm_pool(lm, out, ids, lens, 2 * n_pairs, skip, progress, userdata, stage, count_sentences, done0,
                          total);
    int rc = pf_lm_prepare(lm);
    if (rc) return rc;
    size_t D = lm->cfg.dim, max_unit = 0, sum = 0;
    size_t *pre = malloc((n_pairs ? n_pairs : 1) * sizeof(size_t));
    if (!pre) return pf_enomem("shared prefixes");
    for (size_t i = 0; i < n_pairs; i++) {
        pre[i] = common_prefix(ids[2 * i], lens[2 * i], ids[2 * i + 1], lens[2 * i + 1]);
        if (!prefix_exact(lm, pre[i], lens[2 * i], lens[2 * i + 1])) pre[i] = 0; /* the pair runs whole */
        size_t t = lens[2 * i] + lens[2 * i + 1] - pre[i];
        if (t > max_unit) max_unit = t;
        sum += t;
    }
    size_t cap = lm->batch_tokens > max_unit ? lm->batch_tokens : max_unit;
    if (sum < cap) cap = sum;
    if (cap == 0) cap = 1;
    /* at most 3 sequences per pair, and no more pairs than tokens */
    size_t max_units = n_pairs < cap ? n_pairs : cap;
    int32_t *buf = malloc(cap * sizeof(int32_t));
    float *x = malloc(cap * D * sizeof(float));
    size_t *start = malloc((3 * max_units + 1) * sizeof(size_t));
    size_t *past = malloc((3 * max_units + 1) * sizeof(size_t));
    size_t *prefix = malloc((3 * max_units + 1) * sizeof(size_t));
    struct unit *u = malloc((max_units ? max_units : 1) * sizeof *u);
    double *acc = malloc(D * sizeof(double));
    if (!buf || !x || !start || !past || !prefix || !u || !acc) { rc = pf_enomem("pooling batch"); goto out; }
    uint64_t done = done0, saved_total = 0;
    for (size_t i0 = 0; i0 < n_pairs && !rc;) {
        size_t nu = 0, ns = 0, T = 0, covered = 0;
        start[0] = 0;
        while (i0 + nu < n_pairs) {
            size_t i = i0 + nu, P = pre[i], t = lens[2 * i] + lens[2 * i + 1] - P;
            if (nu > 0 && T + t > cap) break;
            struct unit *w = &u[nu++];
            w->prefix = P;
            w->seq_prefix = PF_NO_PREFIX;
            if (P > 0) {
                memcpy(buf + T, ids[2 * i], P * sizeof(int32_t));
                T += P;
                past[ns] = 0;
                prefix[ns] = PF_NO_PREFIX;
                w->seq_prefix = ns;
                start[++ns] = T;
            }
            for (int j = 0; j < 2; j++) {
                size_t len = lens[2 * i + (size_t)j];
                w->len[j] = len;
                w->skip[j] = skip ? skip[2 * i + (size_t)j] : 0;
                w->seq[j] = PF_NO_PREFIX;
                if (len == P) continue; /* the whole sentence is the prefix */
                memcpy(buf + T, ids[2 * i + (size_t)j] + P, (len - P) * sizeof(int32_t));
                T += len - P;
                past[ns] = P;
                prefix[ns] = w->seq_prefix;
                w->seq[j] = ns;
                start[++ns] = T;
            }
            covered += lens[2 * i] + lens[2 * i + 1];
            saved_total += P;
        }
        pf_batch b = {ns, start, past};
        struct pairs_ctx pc = {out, i0, u, nu, lm->cfg.n_layers, start, acc};
        rc = pf_lm_forward_prefix(lm, x, buf, &b, prefix, pairs_cb, &pc);
        i0 += nu;
        done += count_sentences ? 2 * nu : covered;
        if (!rc && progress && progress(userdata, stage, done, total))
            rc = pf_error(PROFS_ECANCELLED, "%s cancelled after %llu of %llu", stage, (unsigned long long)done,
                          (unsigned long long)total);
    }
    if (!rc && saved) *saved = saved_total;
out:
    free(pre);
    free(buf);
    free(x);
    free(start);
    free(past);
    free(prefix);
    free(u);
    free(acc);
    return rc;
}

int profs_lm_set_prefix_sharing(profs_lm *lm, int on)
{
    if (!lm) return pf_error(PROFS_EINVAL, "NULL runtime");
    lm->no_prefix_sharing = on == 0;
    return 0;
}

int profs_lm_pool_pairs(profs_lm *lm, float *out, uint64_t *prefix_tokens_saved, const int32_t *const *ids,
                        const size_t *lens, size_t n_pairs, int skip_first, profs_progress_fn progress,
                        void *userdata)
{
    if (prefix_tokens_saved) *prefix_tokens_saved = 0;
    if (!lm || !out || (!ids && n_pairs) || (!lens && n_pairs))
        return pf_error(PROFS_EINVAL, "profs_lm_pool_pairs: NULL argument");
    uint64_t total = 0;
    for (size_t s = 0; s < 2 * n_pairs; s++) {
        const char *side = s % 2 ? "dispreferred" : "preferred";
        if (!ids[s] || lens[s] == 0)
            return pf_error(PROFS_EINVAL, "pooling: pair %zu: the %s sentence has no tokens", s / 2, side);
        if (lens[s] > lm->cfg.max_pos)
            return pf_error(PROFS_EINVAL, "pooling: pair %zu: the %s sentence's %zu tokens exceed the model's %zu "
                            "positions", s / 2, side, lens[s], lm->cfg.max_pos);
        for (size_t t = 0; t < lens[s]; t++)
            if (ids[s][t] < 0 || (size_t)ids[s][t] >= lm->cfg.vocab)
                return pf_error(PROFS_EINVAL, "pooling: pair %zu: %s token id %ld at index %zu is outside the "
                                "vocabulary [0, %zu)", s / 2, side, (long)ids[s][t], t, lm->cfg.vocab);
        if (skip_first && lens[s] < 2)
            return pf_error(PROFS_EINVAL, "pooling: pair %zu: the %s sentence has %zu token(s); leaving out the "
                            "first needs at least 2", s / 2, side, lens[s]);
        total += lens[s];
    }
    size_t *skip = NULL;
    if (skip_first) {
        skip = malloc((n_pairs ? 2 * n_pairs : 1) * sizeof(size_t));
        if (!skip) return pf_enomem("pooling");
        for (size_t s = 0; s < 2 * n_pairs; s++) skip[s] = 1;
    }
    int rc = pf_lm_pool_pairs(lm, out, prefix_tokens_saved, ids, lens, n_pairs, skip, progress, userdata,
                              "forward", 0, 0, total);
    free(skip);
    return rc;
}
