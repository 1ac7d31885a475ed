/* profs_lm's run over the forward pass: hidden states, pooling, logits,
 * next-token log-probabilities and perplexity. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "lm/lm_internal.h"

/* ---- hidden states ---- */

struct hs_ctx { float *out; size_t n; };

static int hs_cb(void *ud, size_t layer, const float *x, size_t n_tokens, size_t dim)
{
    struct hs_ctx *h = ud;
    memcpy(h->out + layer * n_tokens * dim, x, n_tokens * dim * sizeof(float));
    return 0;
}

int profs_lm_hidden_states(profs_lm *lm, float *out, const int32_t *ids, size_t n_ids)
{
    if (!lm || !out) return pf_error(PROFS_EINVAL, "profs_lm_hidden_states: NULL argument");
    int rc = pf_lm_check_ids(lm, ids, n_ids, "hidden states");
    if (rc) return rc;
    if ((rc = pf_lm_prepare(lm))) return rc;
    float *x = malloc(n_ids * lm->cfg.dim * sizeof(float));
    if (!x) return pf_enomem("activations");
    size_t start[2] = {0, n_ids};
    pf_batch b = {1, start, NULL};
    struct hs_ctx h = {out, n_ids};
    rc = pf_lm_forward(lm, x, ids, &b, NULL, hs_cb, &h);
    free(x);
    return rc;
}

/* ---- pooling ---- */

struct pool_ctx {
    float *out;            /* (n_seqs, L, D) of the whole call */
    size_t first;          /* index of the batch's first sequence in out */
    const size_t *start;   /* (n_seqs + 1) batch layout */
    size_t n_seqs, n_layers;
    const size_t *skip;    /* (n_seqs) 1: leave token 0 out, or NULL */
    double *acc;           /* (D) */
};

static int pool_cb(void *ud, size_t layer, const float *x, size_t n_tokens, size_t dim)
{
    struct pool_ctx *p = ud;
    (void)n_tokens;
    if (layer == 0) return 0;
    for (size_t s = 0; s < p->n_seqs; s++) {
        size_t a = p->start[s] + (p->skip ? p->skip[s] : 0), e = p->start[s + 1];
        memset(p->acc, 0, dim * sizeof(double));
        for (size_t t = a; t < e; t++)
            for (size_t i = 0; i < dim; i++) p->acc[i] += x[t * dim + i];
        float *o = p->out + ((p->first + s) * p->n_layers + (layer - 1)) * dim;
        for (size_t i = 0; i < dim; i++) o[i] = (float)(p->acc[i] / (double)(e - a));
    }
    return 0;
}

/* Pool n_seqs sequences in passes of at most batch_tokens tokens. skip[s] (or
 * NULL) is 1 to leave token 0 of sequence s out. Progress counts sentences or
 * tokens from done0 of total. */
int pf_lm_pool(profs_lm *lm, float *out, const int32_t *const *ids, const size_t *lens, size_t n_seqs,
               const size_t *skip, profs_progress_fn progress, void *userdata, const char *stage,
               int count_sentences, uint64_t done0, uint64_t total)
{
    int rc = pf_lm_prepare(lm);
    if (rc) return rc;
    size_t D = lm->cfg.dim, max_tok = 0;
    for (size_t s = 0; s < n_seqs; s++) if (lens[s] > max_tok) max_tok = lens[s];
    size_t cap = lm->batch_tokens > max_tok ? lm->batch_tokens : max_tok;
    if (cap > 0 && n_seqs > 0) {
        size_t tot = 0;
        for (size_t s = 0; s < n_seqs; s++) tot += lens[s];
        if (tot < cap) cap = tot;
    }
    int32_t *buf = malloc((cap ? cap : 1) * sizeof(int32_t));
    float *x = malloc((cap ? cap : 1) * D * sizeof(float));
    size_t *start = malloc((n_seqs + 1) * sizeof(size_t));
    double *acc = malloc(D * sizeof(double));
    if (!buf || !x || !start || !acc) { rc = pf_enomem("pooling batch"); goto out; }
    uint64_t done = done0;
    for (size_t s0 = 0; s0 < n_seqs && !rc;) {
        size_t n = 0, T = 0;
        start[0] = 0;
        while (s0 + n < n_seqs && (n == 0 || T + lens[s0 + n] <= cap)) {
            memcpy(buf + T, ids[s0 + n], lens[s0 + n] * sizeof(int32_t));
            T += lens[s0 + n];
            start[++n] = T;
        }
        pf_batch b = {n, start, NULL};
        struct pool_ctx pc = {out, s0, start, n, lm->cfg.n_layers, skip ? skip + s0 : NULL, acc};
        rc = pf_lm_forward(lm, x, buf, &b, NULL, pool_cb, &pc);
        s0 += n;
        done += count_sentences ? n : T;
        if (!rc && progress && progress(userdata, stage, done, total))
            rc = pf_error(PROFS_ECANCELLED, "%s cancelled after %llu of %llu", stage,
                          (unsigned long long)done, (unsigned long long)total);
    }
out:
    free(buf);
    free(x);
    free(start);
    free(acc);
    return rc;
}

int profs_lm_pool_ids(profs_lm *lm, float *out, const int32_t *const *ids, const size_t *lens, size_t n_seqs,
                      int skip_first, profs_progress_fn progress, void *userdata)
{
    if (!lm || !out || (!ids && n_seqs) || (!lens && n_seqs))
        return pf_error(PROFS_EINVAL, "profs_lm_pool_ids: NULL argument");
    uint64_t total = 0;
    for (size_t s = 0; s < n_seqs; s++) {
        int rc = pf_lm_check_ids(lm, ids[s], lens[s], "pooling");
        if (rc) return pf_error_prefix(rc, "sequence %zu: ", s);
        if (skip_first && lens[s] < 2)
            return pf_error(PROFS_EINVAL, "pooling: sequence %zu has %zu token(s); leaving out the first "
                            "needs at least 2", s, lens[s]);
        total += lens[s];
    }
    size_t *skip = NULL;
    if (skip_first) {
        skip = malloc((n_seqs ? n_seqs : 1) * sizeof(size_t));
        if (!skip) return pf_enomem("pooling");
        for (size_t s = 0; s < n_seqs; s++) skip[s] = 1;
    }
    int rc = pf_lm_pool(lm, out, ids, lens, n_seqs, skip, progress, userdata, "forward", 0, 0, total);
    free(skip);
    return rc;
}

/* ---- logits ---- */

struct copy_ctx { float *dst; size_t V; };

static int copy_logits(void *ud, size_t row, float *logits)
{
    struct copy_ctx *c = ud;
    memcpy(c->dst + row * c->V, logits, c->V * sizeof(float));
    return 0;
}

/* Forward one sequence and run the head on rows [r0, r0 + n). */
int pf_lm_forward_head(profs_lm *lm, const int32_t *ids, size_t n_ids, size_t r0, size_t n, pf_logits_cb fn,
                       void *ud)
{
    int rc = pf_lm_prepare(lm);
    if (rc) return rc;
    float *x = malloc(n_ids * lm->cfg.dim * sizeof(float));
    if (!x) return pf_enomem("activations");
    size_t start[2] = {0, n_ids};
    pf_batch b = {1, start, NULL};
    rc = pf_lm_forward(lm, x, ids, &b, NULL, NULL, NULL);
    if (!rc) rc = pf_lm_head(lm, x + r0 * lm->cfg.dim, n, fn, ud);
    free(x);
    return rc;
}

int profs_lm_logits(profs_lm *lm, float *logits, const int32_t *ids, size_t n_ids)
{
    if (!lm || !logits) return pf_error(PROFS_EINVAL, "profs_lm_logits: NULL argument");
    int rc = pf_lm_check_ids(lm, ids, n_ids, "logits");
    if (rc) return rc;
    struct copy_ctx c = {logits, lm->cfg.vocab};
    return pf_lm_forward_head(lm, ids, n_ids, 0, n_ids, copy_logits, &c);
}

static void log_softmax(float *dst, const float *x, size_t n)
{
    float mx = -INFINITY;
    for (size_t i = 0; i < n; i++) mx = x[i] > mx ? x[i] : mx;
    double sum = 0;
    for (size_t i = 0; i < n; i++) sum += exp((double)x[i] - mx);
    double lse = mx + log(sum);
    for (size_t i = 0; i < n; i++) dst[i] = (float)((double)x[i] - lse);
}

int profs_lm_next_logprobs(profs_lm *lm, float *logprobs, const int32_t *ids, size_t n_ids)
{
    if (!lm || !logprobs) return pf_error(PROFS_EINVAL, "profs_lm_next_logprobs: NULL argument");
    int rc = pf_lm_check_ids(lm, ids, n_ids, "next-token log-probabilities");
    if (rc) return rc;
    struct copy_ctx c = {logprobs, lm->cfg.vocab};
    rc = pf_lm_forward_head(lm, ids, n_ids, n_ids - 1, 1, copy_logits, &c);
    if (!rc) log_softmax(logprobs, logprobs, lm->cfg.vocab);
    return rc;
}

/* ---- perplexity ---- */

struct nll_ctx { const int32_t *targets; size_t V; double sum; };

static int nll_cb(void *ud, size_t row, float *logits)
{
    struct nll_ctx *c = ud;
    float mx = -INFINITY;
    for (size_t i = 0; i < c->V; i++) mx = logits[i] > mx ? logits[i] : mx;
    double sum = 0;
    for (size_t i = 0; i < c->V; i++) sum += exp((double)logits[i] - mx);
    c->sum += mx + log(sum) - (double)logits[c->targets[row]];
    return 0;
}

int profs_lm_perplexity(profs_lm *lm, double *ppl, double *mean_nll, const int32_t *ids, size_t n_ids,
                        size_t max_length, size_t stride, profs_progress_fn progress, void *userdata)
{
    if (!lm || !ppl) return pf_error(PROFS_EINVAL, "profs_lm_perplexity: NULL argument");
    if (n_ids < 2) return pf_error(PROFS_EINVAL, "perplexity: needs at least 2 tokens, got %zu", n_ids);
    if (max_length == 0) max_length = lm->cfg.max_pos;
    if (max_length > lm->cfg.max_pos)
        return pf_error(PROFS_EINVAL, "perplexity: max length %zu exceeds the model's %zu positions", max_length,
                        lm->cfg.max_pos);
    if (max_length < 2) return pf_error(PROFS_EINVAL, "perplexity: max length must be at least 2");
    if (stride == 0) stride = max_length;
    if (stride > max_length)
        return pf_error(PROFS_EINVAL, "perplexity: stride %zu exceeds max length %zu", stride, max_length);
    for (size_t i = 0; i < n_ids; i++)
        if (ids[i] < 0 || (size_t)ids[i] >= lm->cfg.vocab)
            return pf_error(PROFS_EINVAL, "perplexity: token id %ld at index %zu is outside the vocabulary",
                            (long)ids[i], i);
    uint64_t windows = 0;
    for (size_t b = 0;; b += stride) {
        windows++;
        if (b + max_length >= n_ids) break;
    }
    double nll_sum = 0, n_tokens = 0;
    size_t prev_end = 0;
    uint64_t w = 0;
    for (size_t begin = 0;; begin += stride) {
        size_t end = begin + max_length < n_ids ? begin + max_length : n_ids;
        size_t len = end - begin, trg = end - prev_end;
        /* targets: window indices j in [len - trg, len) with j >= 1, predicted from row j - 1 */
        size_t j0 = len - trg < 1 ? 1 : len - trg;
        size_t count = len - j0;
        if (count > 0) {
            struct nll_ctx c = {ids + begin + j0, lm->cfg.vocab, 0};
            int rc = pf_lm_forward_head(lm, ids + begin, len, j0 - 1, count, nll_cb, &c);
            if (rc) return rc;
            double weight = (double)trg - 1.0; /* the guide's num_valid_tokens - batch_size */
            nll_sum += c.sum / (double)count * weight;
            n_tokens += weight;
        }
        prev_end = end;
        w++;
        if (progress && progress(userdata, "perplexity", w, windows))
            return pf_error(PROFS_ECANCELLED, "perplexity cancelled after %llu of %llu windows",
                            (unsigned long long)w, (unsigned long long)windows);
        if (end == n_ids) break;
    }
    if (!(n_tokens > 0)) return pf_error(PROFS_EINVAL, "perplexity: no token was scored");
    double m = nll_sum / n_tokens;
    if (mean_nll) *mean_nll = m;
    *ppl = exp(m);
    return 0;
}
