/* Evaluation scores over the causal runtime: the ProFS authors' perplexity
 * protocol and lm-evaluation-harness continuation log-likelihoods. Uses only the
 * runtime's forward pass and head (lm_internal.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "lm/lm_internal.h"
#include "profs/eval.h"

/* Per-row scores of one pass: row r of the head's input predicts target[r]. */
struct row_ctx {
    const int32_t *target; /* (rows) */
    size_t V;
    double *nll;           /* (rows) -log p(target) */
    int *argmax_ok;        /* (rows) target is the argmax (lowest id on ties) */
};

static int row_cb(void *ud, size_t row, float *logits)
{
    struct row_ctx *c = ud;
    float mx = -INFINITY;
    size_t am = 0;
    for (size_t i = 0; i < c->V; i++)
        if (logits[i] > mx) { mx = logits[i]; am = i; }
    double sum = 0;
    for (size_t i = 0; i < c->V; i++) sum += exp((double)logits[i] - mx);
    int32_t t = c->target[row];
    c->nll[row] = mx + log(sum) - (double)logits[t];
    if (c->argmax_ok) c->argmax_ok[row] = (size_t)t == am;
    return 0;
}

static int check_seq(const profs_lm *lm, const int32_t *ids, size_t n, const char *what, size_t seq)
{
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || (size_t)ids[i] >= lm->cfg.vocab)
            return pf_error(PROFS_EINVAL, "%s: sequence %zu: token id %ld at index %zu is outside the vocabulary [0, %zu)",
                            what, seq, (long)ids[i], i, lm->cfg.vocab);
    return 0;
}

/* ---- the authors' perplexity ---- */

int profs_lm_perplexity_windows(profs_lm *lm, double *ppl, double *mean_nll, size_t *n_windows, const int32_t *ids,
                                size_t n_ids, size_t max_length, size_t stride, profs_progress_fn progress,
                                void *userdata)
{
    if (!lm || !ppl || !ids) return pf_error(PROFS_EINVAL, "profs_lm_perplexity_windows: NULL argument");
    if (n_ids < 2) return pf_error(PROFS_EINVAL, "perplexity: needs at least 2 tokens, got %zu", n_ids);
    if (max_length == 0) max_length = lm->cfg.max_pos;
    if (max_length > lm->cfg.max_pos)
        return pf_error(PROFS_EINVAL, "perplexity: max length %zu exceeds the model's %zu positions", max_length,
                        lm->cfg.max_pos);
    if (max_length < 2) return pf_error(PROFS_EINVAL, "perplexity: max length must be at least 2");
    if (stride == 0) stride = max_length < 512 ? max_length : 512;
    if (stride > max_length)
        return pf_error(PROFS_EINVAL,
                        "perplexity: stride %zu exceeds max length %zu (the tokens between windows would never be "
                        "scored)", stride, max_length);
    int rc = check_seq(lm, ids, n_ids, "perplexity", 0);
    if (rc) return rc;
    if ((rc = pf_lm_prepare(lm))) return rc;
    uint64_t windows = 0;
    for (size_t b = 0;; b += stride) {
        windows++;
        if (b + max_length >= n_ids) break;
    }
    float *x = malloc(max_length * lm->cfg.dim * sizeof(float));
    double *nll = malloc(max_length * sizeof(double));
    if (!x || !nll) { free(x); free(nll); return pf_enomem("perplexity"); }
    double sum = 0;
    size_t prev_end = 0;
    uint64_t w = 0;
    for (size_t begin = 0;; begin += stride) {
        size_t end = begin + max_length < n_ids ? begin + max_length : n_ids;
        size_t len = end - begin, trg = end - prev_end;
        /* labels: the window's last trg tokens, of which index 0 is never a target (the model shifts) */
        size_t j0 = len - trg < 1 ? 1 : len - trg;
        size_t count = len - j0; /* >= 1: len >= 2 whenever trg >= 1 */
        size_t start[2] = {0, len};
        pf_batch b = {1, start, NULL};
        rc = pf_lm_forward(lm, x, ids + begin, &b, NULL, NULL, NULL);
        struct row_ctx c = {ids + begin + j0, lm->cfg.vocab, nll, NULL};
        if (!rc) rc = pf_lm_head(lm, x + (j0 - 1) * lm->cfg.dim, count, row_cb, &c);
        if (rc) break;
        double s = 0;
        for (size_t i = 0; i < count; i++) s += nll[i];
        sum += s / (double)count; /* the window's loss: a mean over its targets */
        prev_end = end;
        w++;
        if (progress && progress(userdata, "perplexity", w, windows)) {
            rc = pf_error(PROFS_ECANCELLED, "perplexity cancelled after %llu of %llu windows", (unsigned long long)w,
                          (unsigned long long)windows);
            break;
        }
        if (end == n_ids) break;
    }
    free(x);
    free(nll);
    if (rc) return rc;
    double m = sum / (double)w;
    if (mean_nll) *mean_nll = m;
    if (n_windows) *n_windows = (size_t)w;
    *ppl = exp(m);
    return 0;
}

/* ---- continuation log-likelihoods ---- */

/* The input fed for sequence s: ids[s][off, lens[s] - 1) with off chosen so that
 * at most max_pos tokens remain (the harness's [-(max_length + 1):][:-1]). */
static size_t input_offset(const profs_lm *lm, size_t len)
{
    return len - 1 > lm->cfg.max_pos ? len - 1 - lm->cfg.max_pos : 0;
}

int profs_lm_loglikelihood(profs_lm *lm, double *ll, int *greedy, const int32_t *const *ids, const size_t *lens,
                           const size_t *n_cont, size_t n, profs_progress_fn progress, void *userdata)
{
    if (!lm || !ll || (n && (!ids || !lens || !n_cont)))
        return pf_error(PROFS_EINVAL, "profs_lm_loglikelihood: NULL argument");
    size_t maxc = 0, max_in = 0;
    for (size_t s = 0; s < n; s++) {
        if (!ids[s] || lens[s] < 2)
            return pf_error(PROFS_EINVAL, "loglikelihood: sequence %zu has %zu tokens (at least 2 needed)", s, lens[s]);
        size_t in = lens[s] - 1 - input_offset(lm, lens[s]);
        if (n_cont[s] < 1 || n_cont[s] > in)
            return pf_error(PROFS_EINVAL,
                            "loglikelihood: sequence %zu scores %zu tokens, but 1 .. %zu can be (%zu tokens, %zu "
                            "positions)", s, n_cont[s], in, lens[s], lm->cfg.max_pos);
        int rc = check_seq(lm, ids[s], lens[s], "loglikelihood", s);
        if (rc) return rc;
        maxc = n_cont[s] > maxc ? n_cont[s] : maxc;
        max_in = in > max_in ? in : max_in;
    }
    if (n == 0) return 0;
    int rc = pf_lm_prepare(lm);
    if (rc) return rc;
    size_t cap = lm->batch_tokens > max_in ? lm->batch_tokens : max_in;
    size_t D = lm->cfg.dim;
    float *x = malloc(cap * D * sizeof(float));
    int32_t *tok = malloc(cap * sizeof(int32_t));
    size_t *start = malloc((n + 1) * sizeof(size_t));
    float *rows = malloc(maxc * D * sizeof(float));
    double *nll = malloc(maxc * sizeof(double));
    int *ok = malloc(maxc * sizeof(int));
    if (!x || !tok || !start || !rows || !nll || !ok) { rc = pf_enomem("loglikelihood"); goto out; }
    for (size_t s0 = 0; s0 < n;) {
        /* pack sequences s0 .. s1 - 1 into one pass */
        size_t s1 = s0, T = 0;
        start[0] = 0;
        while (s1 < n) {
            size_t off = input_offset(lm, lens[s1]), in = lens[s1] - 1 - off;
            if (s1 > s0 && T + in > cap) break;
            memcpy(tok + T, ids[s1] + off, in * sizeof(int32_t));
            T += in;
            start[s1 - s0 + 1] = T;
            s1++;
        }
        pf_batch b = {s1 - s0, start, NULL};
        if ((rc = pf_lm_forward(lm, x, tok, &b, NULL, NULL, NULL))) goto out;
        for (size_t s = s0; s < s1; s++) {
            size_t end = start[s - s0 + 1], k = n_cont[s];
            /* rows end - k .. end - 1 predict the last k tokens of the sequence */
            memcpy(rows, x + (end - k) * D, k * D * sizeof(float));
            struct row_ctx c = {ids[s] + lens[s] - k, lm->cfg.vocab, nll, ok};
            if ((rc = pf_lm_head(lm, rows, k, row_cb, &c))) goto out;
            double sum = 0;
            int all = 1;
            for (size_t i = 0; i < k; i++) { sum -= nll[i]; all &= ok[i]; }
            ll[s] = sum;
            if (greedy) greedy[s] = all;
        }
        s0 = s1;
        if (progress && progress(userdata, "loglikelihood", s0, n)) {
            rc = pf_error(PROFS_ECANCELLED, "loglikelihood cancelled after %zu of %zu sequences", s0, n);
            goto out;
        }
    }
out:
    free(x);
    free(tok);
    free(start);
    free(rows);
    free(nll);
    free(ok);
    return rc;
}
