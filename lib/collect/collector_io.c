/* Collector files: save/load as safetensors through the tensor store. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collect/collector_impl.h"
#include "core/error.h"
#include "profs/model.h"

#define FORMAT_NAME "profs-collector"

int profs_collector_save(const profs_collector *c, const char *path)
{
    if (!c || !path) return pf_error(PROFS_EINVAL, "profs_collector_save: NULL argument");
    size_t nt = 2 * c->n_layers;
    char **names = calloc(nt, sizeof *names);
    int *dtypes = malloc(nt * sizeof *dtypes);
    size_t *ndims = malloc(nt * sizeof *ndims);
    int64_t *shape = malloc(2 * sizeof *shape);
    const int64_t **shapes = malloc(nt * sizeof *shapes);
    const void **data = malloc(nt * sizeof *data);
    int rc = PROFS_OK;
    static const float empty = 0.0f;
    if (!names || !dtypes || !ndims || !shape || !shapes || !data) { rc = pf_enomem("collector save"); goto done; }
    shape[0] = (int64_t)c->n_pairs;
    shape[1] = (int64_t)c->dim;
    for (size_t l = 0; l < c->n_layers; l++)
        for (int side = 0; side < 2; side++) {
            size_t i = 2 * l + (size_t)side;
            char buf[64];
            snprintf(buf, sizeof buf, "layers.%zu.%s", l, side ? "dispreferred" : "preferred");
            if (!(names[i] = strdup(buf))) { rc = pf_enomem("collector save"); goto done; }
            dtypes[i] = PROFS_DTYPE_F32;
            ndims[i] = 2;
            shapes[i] = shape;
            const float *src = side ? c->disp[l] : c->pref[l];
            data[i] = c->n_pairs ? (const void *)src : (const void *)&empty;
        }
    char n_layers[32], dim[32], n_pairs[32];
    snprintf(n_layers, sizeof n_layers, "%zu", c->n_layers);
    snprintf(dim, sizeof dim, "%zu", c->dim);
    snprintf(n_pairs, sizeof n_pairs, "%zu", c->n_pairs);
    const char *keys[6] = {"format", "n_layers", "dim", "n_pairs", "producer", "model_id"};
    const char *values[6] = {FORMAT_NAME, n_layers, dim, n_pairs, profs_collector_producer(c), c->model_id};
    rc = profs_safetensors_write(path, nt, (const char *const *)names, dtypes, ndims, shapes, data,
                                 c->model_id ? 6 : 5, keys, values);
done:
    if (names)
        for (size_t i = 0; i < nt; i++) free(names[i]);
    free(names); free(dtypes); free(ndims); free(shape); free(shapes); free(data);
    return rc;
}

/* Parse a decimal metadata value into *out; EFORMAT naming the key otherwise. */
static int meta_size(size_t *out, const profs_model *m, const char *path, const char *key)
{
    const char *v = profs_model_metadata(m, key);
    if (!v) return pf_error(PROFS_EFORMAT, "%s: metadata key '%s' is missing", path, key);
    char *end;
    errno = 0;
    unsigned long long x = strtoull(v, &end, 10);
    if (!*v || *end || errno || v[0] == '-' || v[0] == '+' || v[0] == ' ' || x > SIZE_MAX)
        return pf_error(PROFS_EFORMAT, "%s: metadata '%s' = '%s' is not a non-negative integer", path, key, v);
    *out = (size_t)x;
    return PROFS_OK;
}

/* Check (read == 0) or read (read == 1) one tensor of layer l. */
static int load_side(profs_collector *c, profs_model *m, const char *path, size_t l, int side, int read)
{
    char name[64];
    snprintf(name, sizeof name, "layers.%zu.%s", l, side ? "dispreferred" : "preferred");
    int dtype;
    size_t ndim;
    const int64_t *shape;
    if (profs_model_tensor_info(m, name, &dtype, &ndim, &shape) != PROFS_OK)
        return pf_error(PROFS_EFORMAT, "%s: tensor '%s' is missing", path, name);
    if (dtype != PROFS_DTYPE_F32)
        return pf_error(PROFS_EFORMAT, "%s: tensor '%s' has dtype %s, expected F32", path, name, profs_dtype_name(dtype));
    if (ndim != 2 || (uint64_t)shape[0] != c->n_pairs || (uint64_t)shape[1] != c->dim)
        return pf_error(PROFS_EFORMAT, "%s: tensor '%s' does not have shape [%zu, %zu] (n_pairs, dim)", path, name,
                        c->n_pairs, c->dim);
    if (!read || c->n_pairs == 0) return PROFS_OK;
    float *dst = side ? c->disp[l] : c->pref[l];
    int rc = profs_model_read_f32(m, name, dst, c->n_pairs * c->dim);
    if (rc) return pf_error_prefix(rc, "%s: ", path);
    for (size_t i = 0; i < c->n_pairs * c->dim; i++)
        if (!isfinite(dst[i]))
            return pf_error(PROFS_ENUMERIC, "%s: tensor '%s': non-finite value at pair %zu, index %zu", path, name,
                            i / c->dim, i % c->dim);
    return PROFS_OK;
}

int profs_collector_load(profs_collector **out, const char *path)
{
    if (!out || !path) return pf_error(PROFS_EINVAL, "profs_collector_load: NULL argument");
    profs_model *m = NULL;
    profs_collector *c = NULL;
    int rc = profs_model_open(&m, path);
    if (rc) return rc;
    const char *fmt = profs_model_metadata(m, "format");
    if (!fmt || strcmp(fmt, FORMAT_NAME) != 0) {
        rc = pf_error(PROFS_EFORMAT, "%s: not a collector file (metadata format is '%s', expected '" FORMAT_NAME "')",
                      path, fmt ? fmt : "(missing)");
        goto fail;
    }
    size_t n_layers, dim, n_pairs;
    if ((rc = meta_size(&n_layers, m, path, "n_layers")) || (rc = meta_size(&dim, m, path, "dim")) ||
        (rc = meta_size(&n_pairs, m, path, "n_pairs")))
        goto fail;
    if (n_layers == 0 || dim == 0) {
        rc = pf_error(PROFS_EFORMAT, "%s: n_layers (%zu) and dim (%zu) must be >= 1", path, n_layers, dim);
        goto fail;
    }
    if (profs_model_tensor_count(m) != 2 * n_layers) {
        rc = pf_error(PROFS_EFORMAT, "%s: %zu tensors, expected %zu (preferred and dispreferred for %zu layers)", path,
                      profs_model_tensor_count(m), 2 * n_layers, n_layers);
        goto fail;
    }
    if ((rc = profs_collector_new(&c, n_layers, dim))) goto fail;
    c->n_pairs = n_pairs;
    /* shapes first (the store has checked them against the file size), then allocate and read */
    for (int read = 0; read < 2; read++) {
        if (read && (rc = pf_collector_reserve(c, n_pairs))) goto fail;
        for (size_t l = 0; l < n_layers; l++)
            for (int side = 0; side < 2; side++)
                if ((rc = load_side(c, m, path, l, side, read))) goto fail;
    }
    const char *mid = profs_model_metadata(m, "model_id"), *prod = profs_model_metadata(m, "producer");
    if ((mid && (rc = profs_collector_set_model_id(c, mid))) || (prod && (rc = profs_collector_set_producer(c, prod))))
        goto fail;
    profs_model_free(m);
    *out = c;
    return PROFS_OK;
fail:
    profs_collector_free(c);
    profs_model_free(m);
    return rc;
}
