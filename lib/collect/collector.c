/* Collector: per-layer growing matrices of pooled embeddings (X+ and X-). */
#include "collect/collector_impl.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

int profs_collector_new(profs_collector **out, size_t n_layers, size_t dim)
{
    if (!out) return pf_error(PROFS_EINVAL, "profs_collector_new: out is NULL");
    if (n_layers == 0 || dim == 0)
        return pf_error(PROFS_EINVAL, "profs_collector_new: n_layers (%zu) and dim (%zu) must be >= 1",
                        n_layers, dim);
    if (n_layers > SIZE_MAX / sizeof(float) / dim)
        return pf_error(PROFS_EINVAL, "profs_collector_new: n_layers x dim (%zu x %zu) overflows",
                        n_layers, dim);
    profs_collector *c = calloc(1, sizeof *c);
    if (!c) return pf_enomem("collector");
    c->n_layers = n_layers;
    c->dim = dim;
    c->pref = calloc(n_layers, sizeof *c->pref);
    c->disp = calloc(n_layers, sizeof *c->disp);
    if (!c->pref || !c->disp) {
        profs_collector_free(c);
        return pf_enomem("collector layers");
    }
    *out = c;
    return PROFS_OK;
}

void profs_collector_free(profs_collector *c)
{
    if (!c) return;
    if (c->pref)
        for (size_t l = 0; l < c->n_layers; l++) free(c->pref[l]);
    if (c->disp)
        for (size_t l = 0; l < c->n_layers; l++) free(c->disp[l]);
    free(c->pref);
    free(c->disp);
    free(c->model_id);
    free(c->producer);
    free(c);
}

/* Make room for `need` rows in every layer (doubling). All or nothing. */
int pf_collector_reserve(profs_collector *c, size_t need)
{
    if (need <= c->cap) return PROFS_OK;
    size_t cap = c->cap ? c->cap : 16;
    while (cap < need) {
        if (cap > SIZE_MAX / 2) return pf_enomem("collector growth");
        cap *= 2;
    }
    if (cap > SIZE_MAX / sizeof(float) / c->dim) return pf_enomem("collector growth");
    size_t bytes = cap * c->dim * sizeof(float);
    /* realloc one layer at a time; a failure leaves the already-grown layers
     * larger, which is harmless (cap only grows when all succeeded). */
    for (size_t l = 0; l < c->n_layers; l++) {
        float *p = realloc(c->pref[l], bytes);
        if (!p) return pf_enomem("collector growth");
        c->pref[l] = p;
        p = realloc(c->disp[l], bytes);
        if (!p) return pf_enomem("collector growth");
        c->disp[l] = p;
    }
    c->cap = cap;
    return PROFS_OK;
}

/* Find the first non-finite value of one (n_layers, dim) block; returns 0 if all finite. */
static int find_nonfinite(const float *x, size_t n_layers, size_t dim, size_t *layer, size_t *index)
{
    for (size_t l = 0; l < n_layers; l++)
        for (size_t i = 0; i < dim; i++)
            if (!isfinite(x[l * dim + i])) {
                *layer = l;
                *index = i;
                return 1;
            }
    return 0;
}

int profs_collector_add_pairs(profs_collector *c, size_t n_pairs, const float *preferred,
                              const float *dispreferred)
{
    if (!c || !preferred || !dispreferred)
        return pf_error(PROFS_EINVAL, "profs_collector_add_pair: NULL argument");
    if (n_pairs == 0) return PROFS_OK;
    size_t block = c->n_layers * c->dim;
    for (size_t p = 0; p < n_pairs; p++) {
        size_t l, i;
        if (find_nonfinite(preferred + p * block, c->n_layers, c->dim, &l, &i))
            return pf_error(PROFS_ENUMERIC, "pair %zu: preferred embedding of layer %zu has a non-finite value at index %zu",
                            c->n_pairs + p, l, i);
        if (find_nonfinite(dispreferred + p * block, c->n_layers, c->dim, &l, &i))
            return pf_error(PROFS_ENUMERIC, "pair %zu: dispreferred embedding of layer %zu has a non-finite value at index %zu",
                            c->n_pairs + p, l, i);
    }
    if (n_pairs > SIZE_MAX - c->n_pairs) return pf_enomem("collector growth");
    int rc = pf_collector_reserve(c, c->n_pairs + n_pairs);
    if (rc) return rc;
    for (size_t p = 0; p < n_pairs; p++) {
        for (size_t l = 0; l < c->n_layers; l++) {
            memcpy(c->pref[l] + (c->n_pairs + p) * c->dim, preferred + p * block + l * c->dim,
                   c->dim * sizeof(float));
            memcpy(c->disp[l] + (c->n_pairs + p) * c->dim, dispreferred + p * block + l * c->dim,
                   c->dim * sizeof(float));
        }
    }
    c->n_pairs += n_pairs;
    return PROFS_OK;
}

int profs_collector_add_pair(profs_collector *c, const float *preferred, const float *dispreferred)
{
    return profs_collector_add_pairs(c, 1, preferred, dispreferred);
}

size_t profs_collector_n_pairs(const profs_collector *c) { return c ? c->n_pairs : 0; }
size_t profs_collector_n_layers(const profs_collector *c) { return c ? c->n_layers : 0; }
size_t profs_collector_dim(const profs_collector *c) { return c ? c->dim : 0; }

const float *profs_collector_preferred(const profs_collector *c, size_t layer)
{
    if (!c || layer >= c->n_layers || c->n_pairs == 0) return NULL;
    return c->pref[layer];
}

const float *profs_collector_dispreferred(const profs_collector *c, size_t layer)
{
    if (!c || layer >= c->n_layers || c->n_pairs == 0) return NULL;
    return c->disp[layer];
}

int profs_collector_merge(profs_collector *dst, const profs_collector *src)
{
    if (!dst || !src) return pf_error(PROFS_EINVAL, "profs_collector_merge: NULL argument");
    if (dst == src) return pf_error(PROFS_EINVAL, "profs_collector_merge: cannot merge a collector into itself");
    if (dst->n_layers != src->n_layers || dst->dim != src->dim)
        return pf_error(PROFS_ESHAPE, "profs_collector_merge: shapes differ: %zu layers x %zu dims vs %zu x %zu",
                        dst->n_layers, dst->dim, src->n_layers, src->dim);
    if (dst->model_id && src->model_id && strcmp(dst->model_id, src->model_id) != 0)
        return pf_error(PROFS_EINVAL, "profs_collector_merge: model ids differ: '%s' vs '%s'",
                        dst->model_id, src->model_id);
    char *mid = NULL;
    if (!dst->model_id && src->model_id) {
        mid = strdup(src->model_id);
        if (!mid) return pf_enomem("model id");
    }
    if (src->n_pairs > SIZE_MAX - dst->n_pairs) { free(mid); return pf_enomem("collector growth"); }
    int rc = pf_collector_reserve(dst, dst->n_pairs + src->n_pairs);
    if (rc) { free(mid); return rc; }
    for (size_t l = 0; l < dst->n_layers; l++) {
        if (src->n_pairs == 0) break;
        memcpy(dst->pref[l] + dst->n_pairs * dst->dim, src->pref[l], src->n_pairs * src->dim * sizeof(float));
        memcpy(dst->disp[l] + dst->n_pairs * dst->dim, src->disp[l], src->n_pairs * src->dim * sizeof(float));
    }
    dst->n_pairs += src->n_pairs;
    if (mid) dst->model_id = mid;
    return PROFS_OK;
}

static int set_string(char **slot, const char *value, const char *what)
{
    char *copy = NULL;
    if (value) {
        copy = strdup(value);
        if (!copy) return pf_enomem(what);
    }
    free(*slot);
    *slot = copy;
    return PROFS_OK;
}

int profs_collector_set_model_id(profs_collector *c, const char *model_id)
{
    if (!c) return pf_error(PROFS_EINVAL, "profs_collector_set_model_id: collector is NULL");
    return set_string(&c->model_id, model_id, "model id");
}

const char *profs_collector_model_id(const profs_collector *c) { return c ? c->model_id : NULL; }

int profs_collector_set_producer(profs_collector *c, const char *producer)
{
    if (!c) return pf_error(PROFS_EINVAL, "profs_collector_set_producer: collector is NULL");
    return set_string(&c->producer, producer, "producer");
}

const char *profs_collector_producer(const profs_collector *c)
{
    if (!c) return NULL;
    if (c->producer) return c->producer;
    return PF_DEFAULT_PRODUCER;
}

int profs_mean_pool(float *out, const float *states, const uint8_t *mask, size_t n_tokens, size_t dim)
{
    if (!out || !states) return pf_error(PROFS_EINVAL, "profs_mean_pool: NULL argument");
    if (dim == 0) return pf_error(PROFS_EINVAL, "profs_mean_pool: dim is 0");
    double *acc = calloc(dim, sizeof *acc);
    if (!acc) return pf_enomem("mean pool accumulator");
    size_t count = 0;
    for (size_t t = 0; t < n_tokens; t++) {
        if (mask && !mask[t]) continue;
        const float *row = states + t * dim;
        for (size_t i = 0; i < dim; i++) {
            if (!isfinite(row[i])) {
                free(acc);
                return pf_error(PROFS_ENUMERIC, "profs_mean_pool: token %zu has a non-finite value at index %zu", t, i);
            }
            acc[i] += row[i];
        }
        count++;
    }
    if (count == 0) {
        free(acc);
        return pf_error(PROFS_EINVAL, "profs_mean_pool: no token selected (%zu tokens, all masked out)", n_tokens);
    }
    for (size_t i = 0; i < dim; i++) out[i] = (float)(acc[i] / (double)count);
    free(acc);
    return PROFS_OK;
}
