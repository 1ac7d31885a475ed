/* profs_sampler: its options and the pick of the next token (greedy or
 * temperature / top-k / top-p sampling with a seeded xoshiro256**). */
#include <math.h>
#include <stdlib.h>

#include "core/error.h"
#include "lm/lm_internal.h"

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
uint64_t pf_splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t rng_next(pf_rng *r)
{
    uint64_t *s = r->s, res = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3]; s[2] ^= t; s[3] = rotl(s[3], 45);
    return res;
}

static double rng_uniform(pf_rng *r) { return (double)(rng_next(r) >> 11) * (1.0 / 9007199254740992.0); }

static int cand_cmp(const void *a, const void *b)
{
    const struct pf_cand *x = a, *y = b;
    if (x->logit != y->logit) return x->logit > y->logit ? -1 : 1;
    return x->id < y->id ? -1 : (x->id > y->id);
}

/* Pick the next token from logits (V): greedy, or temperature / top-k / top-p sampling
 * (applied in that order, as transformers' logits warpers). */
int32_t pf_sample(const profs_sampler *s, const float *logits, size_t V, struct pf_cand *cd, pf_rng *r)
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
