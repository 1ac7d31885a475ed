/* profs_lm: opening, queries, options, hidden states, pooling, logits,
 * perplexity and generation over the forward pass. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "lm/lm_internal.h"

#define DEFAULT_BATCH_TOKENS 8192
#define DEFAULT_MAX_LENGTH 128
#define DEFAULT_RESIDENT_BYTES ((size_t)1 << 30)

static void lm_release(profs_lm *lm);

int pf_lm_open_common(profs_lm **out, profs_model *model, int own);

int pf_lm_open_common(profs_lm **out, profs_model *model, int own)
{
    profs_lm *lm = calloc(1, sizeof *lm);
    if (!lm) {
        if (own) profs_model_free(model);
        return pf_enomem("profs_lm");
    }
    lm->model = model;
    lm->own_model = own;
    lm->eos_id = -1;
    lm->batch_tokens = DEFAULT_BATCH_TOKENS;
    lm->max_length = DEFAULT_MAX_LENGTH;
    lm->resident_bytes = DEFAULT_RESIDENT_BYTES;
    lm->att_rows = 128;
    lm->arena = calloc(1, sizeof *lm->arena);
    lm->earena = calloc(1, sizeof *lm->earena);
    if (!lm->arena || !lm->earena) {
        profs_lm_free(lm);
        return pf_enomem("profs_lm");
    }
    int rc = pf_lm_config_read(lm);
    if (!rc) rc = pf_lm_check_tensors(lm);
    if (rc) {
        profs_lm_free(lm);
        return rc;
    }
    *out = lm;
    return 0;
}

int profs_lm_open_model(profs_lm **out, profs_model *model)
{
    if (!out || !model) return pf_error(PROFS_EINVAL, "profs_lm_open_model: NULL argument");
    return pf_lm_open_common(out, model, 0);
}

static void lm_release(profs_lm *lm)
{
    if (lm->cache) {
        for (size_t l = 0; l < lm->cfg.n_layers; l++)
            if (lm->cache[l].loaded) pf_layer_drop(lm, &lm->cache[l], l);
        free(lm->cache);
        lm->cache = NULL;
    }
    if (lm->head.p) pf_wt_drop(lm, &lm->head, NULL);
    if (lm->arena) {
        free(lm->arena->buf);
        lm->arena->buf = NULL;
        lm->arena->cap = 0;
    }
    if (lm->earena) {
        free(lm->earena->buf);
        lm->earena->buf = NULL;
        lm->earena->cap = 0;
    }
}

void pf_lm_free_tokenizer(profs_lm *lm);

void profs_lm_free(profs_lm *lm)
{
    if (!lm) return;
    lm_release(lm);
    pf_lm_free_tokenizer(lm);
    if (lm->lname)
        for (size_t i = 0; i < lm->cfg.n_layers * PF_SLOT_COUNT; i++) free(lm->lname[i]);
    free(lm->lname);
    free(lm->ltrans);
    for (int i = 0; i < PF_GSLOT_COUNT; i++) free(lm->gname[i]);
    free(lm->cfg.inv_freq);
    pf_moe_free(lm);
    free(lm->arena);
    if (lm->own_model) profs_model_free(lm->model);
    free(lm);
}

size_t profs_lm_n_layers(const profs_lm *lm) { return lm ? lm->cfg.n_layers : 0; }
size_t profs_lm_hidden_size(const profs_lm *lm) { return lm ? lm->cfg.dim : 0; }
size_t profs_lm_vocab_size(const profs_lm *lm) { return lm ? lm->cfg.vocab : 0; }
size_t profs_lm_max_positions(const profs_lm *lm) { return lm ? lm->cfg.max_pos : 0; }
const char *profs_lm_architecture(const profs_lm *lm) { return lm ? lm->cfg.model_type : ""; }
profs_model *profs_lm_model(const profs_lm *lm) { return lm ? lm->model : NULL; }

int profs_lm_set_batch_tokens(profs_lm *lm, size_t tokens)
{
    if (!lm || tokens == 0) return pf_error(PROFS_EINVAL, "batch tokens must be at least 1");
    lm->batch_tokens = tokens;
    return 0;
}

int profs_lm_set_max_length(profs_lm *lm, size_t tokens)
{
    if (!lm || tokens == 0) return pf_error(PROFS_EINVAL, "max length must be at least 1");
    lm->max_length = tokens;
    return 0;
}

int profs_lm_set_pool_skip_bos(profs_lm *lm, int skip)
{
    if (!lm) return pf_error(PROFS_EINVAL, "NULL runtime");
    lm->pool_skip_bos = skip != 0;
    return 0;
}

int profs_lm_set_resident_bytes(profs_lm *lm, size_t bytes)
{
    if (!lm) return pf_error(PROFS_EINVAL, "NULL runtime");
    lm->resident_bytes = bytes;
    if (lm->cache) {
        /* recomputed at the next call */
        lm_release(lm);
    }
    return 0;
}

/* f32 bytes the resident weights need (F32 tensors in place cost nothing extra
 * but are counted, as their pages stay resident). */
static size_t resident_need(const profs_lm *lm)
{
    size_t total = 0;
    for (size_t i = 0; i < lm->cfg.n_layers * PF_SLOT_COUNT; i++) {
        uint64_t numel;
        if (lm->lname[i] && profs_model_tensor_size(lm->model, lm->lname[i], &numel, NULL) == 0)
            total += (size_t)numel * sizeof(float);
    }
    return total + lm->cfg.vocab * lm->cfg.embed_dim * sizeof(float);
}

int pf_lm_prepare(profs_lm *lm)
{
    if (lm->cache || resident_need(lm) > lm->resident_bytes) return 0;
    lm->cache = calloc(lm->cfg.n_layers, sizeof(pf_layer_w));
    if (!lm->cache) return pf_enomem("resident weights");
    for (size_t l = 0; l < lm->cfg.n_layers; l++) {
        int rc = pf_layer_load(lm, &lm->cache[l], l, NULL);
        if (rc) { lm_release(lm); return rc; }
    }
    const char *hn = lm->cfg.tied ? lm->gname[PF_G_EMBED] : lm->gname[PF_G_HEAD_W];
    int rc = pf_wt_load(lm, &lm->head, hn);
    if (rc) { lm_release(lm); return rc; }
    return 0;
}

static int check_ids(const profs_lm *lm, const int32_t *ids, size_t n, const char *what)
{
    if (!ids || n == 0) return pf_error(PROFS_EINVAL, "%s: empty token sequence", what);
    if (n > lm->cfg.max_pos)
        return pf_error(PROFS_EINVAL, "%s: %zu tokens exceed the model's %zu positions", what, n, lm->cfg.max_pos);
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || (size_t)ids[i] >= lm->cfg.vocab)
            return pf_error(PROFS_EINVAL, "%s: token id %ld at index %zu is outside the vocabulary [0, %zu)",
                            what, (long)ids[i], i, lm->cfg.vocab);
    return 0;
}

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
    int rc = check_ids(lm, ids, n_ids, "hidden states");
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

int pf_lm_pool(profs_lm *lm, float *out, const int32_t *const *ids, const size_t *lens, size_t n_seqs,
               const size_t *skip, profs_progress_fn progress, void *userdata, const char *stage,
               int count_sentences, uint64_t done0, uint64_t total);

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
        int rc = check_ids(lm, ids[s], lens[s], "pooling");
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
static int forward_head(profs_lm *lm, const int32_t *ids, size_t n_ids, size_t r0, size_t n, pf_logits_cb fn,
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
    int rc = check_ids(lm, ids, n_ids, "logits");
    if (rc) return rc;
    struct copy_ctx c = {logits, lm->cfg.vocab};
    return forward_head(lm, ids, n_ids, 0, n_ids, copy_logits, &c);
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
    int rc = check_ids(lm, ids, n_ids, "next-token log-probabilities");
    if (rc) return rc;
    struct copy_ctx c = {logprobs, lm->cfg.vocab};
    rc = forward_head(lm, ids, n_ids, n_ids - 1, 1, copy_logits, &c);
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
            int rc = forward_head(lm, ids + begin, len, j0 - 1, count, nll_cb, &c);
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

/* ---- generation ---- */

struct profs_sampler {
    double temperature, top_p;
    size_t top_k;
    uint64_t seed;
};

int profs_sampler_new(profs_sampler **out)
{
    if (!out) return pf_error(PROFS_EINVAL, "profs_sampler_new: NULL argument");
    profs_sampler *s = calloc(1, sizeof *s);
    if (!s) return pf_enomem("sampler");
    s->top_p = 1.0;
    *out = s;
    return 0;
}

void profs_sampler_free(profs_sampler *s) { free(s); }

int profs_sampler_set_temperature(profs_sampler *s, double t)
{
    if (!s || !(t >= 0) || !isfinite(t)) return pf_error(PROFS_EINVAL, "temperature must be finite and >= 0");
    s->temperature = t;
    return 0;
}

int profs_sampler_set_top_k(profs_sampler *s, size_t k)
{
    if (!s) return pf_error(PROFS_EINVAL, "NULL sampler");
    s->top_k = k;
    return 0;
}

int profs_sampler_set_top_p(profs_sampler *s, double p)
{
    if (!s || !(p > 0 && p <= 1)) return pf_error(PROFS_EINVAL, "top-p must be in (0, 1]");
    s->top_p = p;
    return 0;
}

int profs_sampler_set_seed(profs_sampler *s, uint64_t seed)
{
    if (!s) return pf_error(PROFS_EINVAL, "NULL sampler");
    s->seed = seed;
    return 0;
}

/* xoshiro256** seeded with splitmix64 */
typedef struct rng { uint64_t s[4]; } rng;

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t rng_next(rng *r)
{
    uint64_t *s = r->s, res = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3]; s[2] ^= t; s[3] = rotl(s[3], 45);
    return res;
}

static double rng_uniform(rng *r) { return (double)(rng_next(r) >> 11) * (1.0 / 9007199254740992.0); }

struct cand { float logit; int32_t id; };

static int cand_cmp(const void *a, const void *b)
{
    const struct cand *x = a, *y = b;
    if (x->logit != y->logit) return x->logit > y->logit ? -1 : 1;
    return x->id < y->id ? -1 : (x->id > y->id);
}

/* Pick the next token from logits (V): greedy, or temperature / top-k / top-p sampling
 * (applied in that order, as transformers' logits warpers). */
static int32_t sample(const profs_sampler *s, const float *logits, size_t V, struct cand *cd, rng *r)
{
    if (!s || s->temperature == 0) {
        size_t best = 0;
        for (size_t i = 1; i < V; i++) if (logits[i] > logits[best]) best = i;
        return (int32_t)best;
    }
    for (size_t i = 0; i < V; i++) { cd[i].logit = (float)(logits[i] / s->temperature); cd[i].id = (int32_t)i; }
    qsort(cd, V, sizeof *cd, cand_cmp);
    size_t n = V;
    if (s->top_k && s->top_k < n) n = s->top_k;
    double mx = cd[0].logit, sum = 0;
    double *p = malloc(n * sizeof(double));
    if (!p) return cd[0].id;
    for (size_t i = 0; i < n; i++) { p[i] = exp(cd[i].logit - mx); sum += p[i]; }
    if (s->top_p < 1.0) {
        double c = 0;
        size_t keep = n;
        for (size_t i = 0; i < n; i++) {
            c += p[i] / sum;
            if (c >= s->top_p) { keep = i + 1; break; }
        }
        n = keep;
        sum = 0;
        for (size_t i = 0; i < n; i++) sum += p[i];
    }
    double u = rng_uniform(r) * sum, c = 0;
    int32_t pick = cd[n - 1].id;
    for (size_t i = 0; i < n; i++) {
        c += p[i];
        if (u < c) { pick = cd[i].id; break; }
    }
    free(p);
    return pick;
}

struct last_ctx { float *dst; size_t V; };

static int last_cb(void *ud, size_t row, float *logits)
{
    struct last_ctx *c = ud;
    (void)row;
    memcpy(c->dst, logits, c->V * sizeof(float));
    return 0;
}

int profs_lm_generate(profs_lm *lm, int32_t *out, size_t capacity, size_t *n_out, const int32_t *prompt,
                      size_t n_prompt, size_t max_new, const profs_sampler *sampler, profs_token_fn on_token,
                      void *userdata)
{
    if (!lm || !n_out || (!out && max_new)) return pf_error(PROFS_EINVAL, "profs_lm_generate: NULL argument");
    *n_out = 0;
    if (capacity < max_new)
        return pf_error(PROFS_EINVAL, "generate: capacity %zu is less than max new tokens %zu", capacity, max_new);
    int rc = check_ids(lm, prompt, n_prompt, "generate prompt");
    if (rc) return rc;
    /* the last new token is never fed back, so positions up to n_prompt + max_new - 2 are used */
    if (max_new > 0 && n_prompt + max_new - 1 > lm->cfg.max_pos)
        return pf_error(PROFS_EINVAL, "generate: prompt (%zu) + new tokens (%zu) - 1 exceed the model's %zu "
                        "positions", n_prompt, max_new, lm->cfg.max_pos);
    if (max_new == 0) return 0;
    if ((rc = pf_lm_prepare(lm))) return rc;
    size_t D = lm->cfg.dim, V = lm->cfg.vocab;
    pf_kv kv;
    if ((rc = pf_kv_init(&kv, lm, n_prompt + max_new - 1))) return rc;
    float *x = malloc(n_prompt * D * sizeof(float));
    float *logits = malloc(V * sizeof(float));
    struct cand *cd = malloc(V * sizeof *cd);
    if (!x || !logits || !cd) { rc = pf_enomem("generation"); goto out; }
    rng r;
    uint64_t seed = sampler ? sampler->seed : 0;
    for (int i = 0; i < 4; i++) r.s[i] = splitmix64(&seed);
    const int32_t *in = prompt;
    size_t n_in = n_prompt;
    int32_t tok;
    for (size_t step = 0; step < max_new; step++) {
        size_t start[2] = {0, n_in}, past = kv.len;
        pf_batch b = {1, start, &past};
        if ((rc = pf_lm_forward(lm, x, in, &b, &kv, NULL, NULL))) break;
        struct last_ctx lc = {logits, V};
        if ((rc = pf_lm_head(lm, x + (n_in - 1) * D, 1, last_cb, &lc))) break;
        tok = sample(sampler, logits, V, cd, &r);
        out[(*n_out)++] = tok;
        if (on_token && on_token(userdata, tok)) break;
        if (lm->eos_id >= 0 && tok == lm->eos_id) break;
        in = &out[*n_out - 1];
        n_in = 1;
    }
out:
    pf_kv_free(&kv, lm->cfg.n_layers);
    free(x);
    free(logits);
    free(cd);
    return rc;
}
