/* Edits: per-layer subspaces, estimation over layers, save/load as safetensors. */
#include <errno.h>
#include <stdarg.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch/arch.h"
#include "core/error.h"
#include "edit/edit_impl.h"
#include "profs/model.h"
#include "profs/version.h"
#include "subspace/subspace_impl.h"

#define FORMAT_NAME "profs-edit"

int profs_edit_new(profs_edit **out, size_t dim)
{
    if (!out) return pf_error(PROFS_EINVAL, "profs_edit_new: out is NULL");
    if (dim == 0) return pf_error(PROFS_EINVAL, "profs_edit_new: dim is 0");
    profs_edit *e = calloc(1, sizeof *e);
    if (!e) return pf_enomem("edit");
    e->dim = dim;
    *out = e;
    return PROFS_OK;
}

void profs_edit_free(profs_edit *e)
{
    if (!e) return;
    for (size_t i = 0; i < e->n; i++) profs_subspace_free(e->entries[i].s);
    free(e->entries);
    free(e->architecture);
    free(e->model_id);
    free(e);
}

static int copy_subspace(profs_subspace **out, const profs_subspace *s)
{
    profs_subspace *c;
    int rc = pf_subspace_alloc(&c, s->rank, s->dim, s->n_sv);
    if (rc) return rc;
    if (s->rank) memcpy(c->basis, s->basis, s->rank * s->dim * sizeof *c->basis);
    if (s->n_sv) memcpy(c->sv, s->sv, s->n_sv * sizeof *c->sv);
    c->threshold = s->threshold;
    c->n_pairs = s->n_pairs;
    c->centering = s->centering;
    c->rule = s->rule;
    c->rank_k = s->rank_k;
    c->strategy = s->strategy;
    *out = c;
    return PROFS_OK;
}

/* Insert an owned subspace keeping entries sorted by layer. */
static int insert_owned(profs_edit *e, size_t layer, profs_subspace *s)
{
    size_t pos = 0;
    while (pos < e->n && e->entries[pos].layer < layer) pos++;
    if (pos < e->n && e->entries[pos].layer == layer)
        return pf_error(PROFS_EEXIST, "edit: layer %zu already has a subspace", layer);
    pf_edit_entry *grown = realloc(e->entries, (e->n + 1) * sizeof *grown);
    if (!grown) return pf_enomem("edit entries");
    e->entries = grown;
    memmove(e->entries + pos + 1, e->entries + pos, (e->n - pos) * sizeof *grown);
    e->entries[pos].layer = layer;
    e->entries[pos].s = s;
    e->entries[pos].value_projection = PF_PROJ_UNRECORDED;
    e->n++;
    return PROFS_OK;
}

int profs_edit_add(profs_edit *e, size_t layer, const profs_subspace *s)
{
    if (!e || !s) return pf_error(PROFS_EINVAL, "profs_edit_add: NULL argument");
    if (s->dim != e->dim)
        return pf_error(PROFS_ESHAPE, "profs_edit_add: layer %zu: subspace dim %zu differs from the edit's %zu", layer,
                        s->dim, e->dim);
    if (profs_edit_get(e, layer)) return pf_error(PROFS_EEXIST, "profs_edit_add: layer %zu already has a subspace", layer);
    profs_subspace *c;
    int rc = copy_subspace(&c, s);
    if (rc) return rc;
    rc = insert_owned(e, layer, c);
    if (rc) profs_subspace_free(c);
    return rc;
}

int profs_edit_estimate(profs_edit **out, const profs_estimator *est, const profs_collector *c, const size_t *layers,
                        size_t n_layers, profs_progress_fn progress, void *userdata)
{
    if (!out || !c) return pf_error(PROFS_EINVAL, "profs_edit_estimate: NULL argument");
    size_t total = layers ? n_layers : profs_collector_n_layers(c);
    profs_edit *e;
    int rc = profs_edit_new(&e, profs_collector_dim(c));
    if (rc) return rc;
    if (profs_collector_model_id(c) && (rc = profs_edit_set_model_id(e, profs_collector_model_id(c)))) goto fail;
    for (size_t i = 0; i < total; i++) {
        size_t layer = layers ? layers[i] : i;
        if (progress && progress(userdata, "estimate", i, total)) {
            rc = pf_error(PROFS_ECANCELLED, "profs_edit_estimate: cancelled after %zu of %zu layers", i, total);
            goto fail;
        }
        profs_subspace *s;
        if ((rc = profs_estimate(&s, est, c, layer))) goto fail;
        if ((rc = insert_owned(e, layer, s))) { profs_subspace_free(s); goto fail; }
    }
    if (progress && progress(userdata, "estimate", total, total)) {
        rc = pf_error(PROFS_ECANCELLED, "profs_edit_estimate: cancelled");
        goto fail;
    }
    *out = e;
    return PROFS_OK;
fail:
    profs_edit_free(e);
    return rc;
}

size_t profs_edit_dim(const profs_edit *e) { return e ? e->dim : 0; }
size_t profs_edit_count(const profs_edit *e) { return e ? e->n : 0; }
size_t profs_edit_layer_at(const profs_edit *e, size_t index) { return e && index < e->n ? e->entries[index].layer : SIZE_MAX; }

const profs_subspace *profs_edit_get(const profs_edit *e, size_t layer)
{
    if (!e) return NULL;
    for (size_t i = 0; i < e->n; i++)
        if (e->entries[i].layer == layer) return e->entries[i].s;
    return NULL;
}

static int set_string(char **slot, const char *value, const char *what)
{
    char *copy = NULL;
    if (value && !(copy = strdup(value))) return pf_enomem(what);
    free(*slot);
    *slot = copy;
    return PROFS_OK;
}

int profs_edit_set_architecture(profs_edit *e, const char *name)
{
    if (!e) return pf_error(PROFS_EINVAL, "profs_edit_set_architecture: edit is NULL");
    return set_string(&e->architecture, name, "architecture");
}
const char *profs_edit_architecture(const profs_edit *e) { return e ? e->architecture : NULL; }
int profs_edit_set_model_id(profs_edit *e, const char *model_id)
{
    if (!e) return pf_error(PROFS_EINVAL, "profs_edit_set_model_id: edit is NULL");
    return set_string(&e->model_id, model_id, "model id");
}
const char *profs_edit_model_id(const profs_edit *e) { return e ? e->model_id : NULL; }

/* ---- the value projection ---- */

#define PROJ_PLAIN_NAME "plain"
#define PROJ_POST_NORM_NAME "post-norm aware"

const char *pf_edit_projection_name(int projection)
{
    return projection == PF_PROJ_PLAIN ? PROJ_PLAIN_NAME : projection == PF_PROJ_POST_NORM ? PROJ_POST_NORM_NAME : NULL;
}

/* What the family named `architecture` does to its value matrices (PF_PROJ_UNRECORDED: not in the table). */
static int family_projection(const char *architecture)
{
    const pf_family *f = pf_arch_by_name(architecture);
    if (!f) return PF_PROJ_UNRECORDED;
    return f->f.post_norms && !f->f.router ? PF_PROJ_POST_NORM : PF_PROJ_PLAIN;
}

int pf_edit_value_projection(const profs_edit *e, size_t i)
{
    int p = family_projection(e->architecture);
    return p != PF_PROJ_UNRECORDED ? p : e->entries[i].value_projection;
}

/* ---- save ---- */

/* A growable list of owned strings (names, metadata keys and values). */
typedef struct { char **v; size_t n, cap; } strlist;

static int sl_add(strlist *l, const char *fmt, ...) PF_PRINTF(2, 3);
static int sl_add(strlist *l, const char *fmt, ...)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 32;
        char **v = realloc(l->v, cap * sizeof *v);
        if (!v) return pf_enomem("edit metadata");
        l->v = v;
        l->cap = cap;
    }
    va_list ap;
    va_start(ap, fmt);
    int len = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *s = malloc((size_t)len + 1);
    if (!s) return pf_enomem("edit metadata");
    va_start(ap, fmt);
    vsnprintf(s, (size_t)len + 1, fmt, ap);
    va_end(ap);
    l->v[l->n++] = s;
    return PROFS_OK;
}

static void sl_free(strlist *l)
{
    for (size_t i = 0; i < l->n; i++) free(l->v[i]);
    free(l->v);
}

static const char *or_unknown(const char *s) { return s ? s : "unknown"; }

int profs_edit_save(const profs_edit *e, const char *path)
{
    if (!e || !path) return pf_error(PROFS_EINVAL, "profs_edit_save: NULL argument");
    strlist names = {0}, keys = {0}, vals = {0}, layers = {0};
    size_t nt = 2 * e->n;
    int *dtypes = malloc((nt ? nt : 1) * sizeof *dtypes);
    size_t *ndims = malloc((nt ? nt : 1) * sizeof *ndims);
    int64_t *shapes_buf = malloc((nt ? nt : 1) * 2 * sizeof *shapes_buf);
    const int64_t **shapes = malloc((nt ? nt : 1) * sizeof *shapes);
    const void **data = malloc((nt ? nt : 1) * sizeof *data);
    static const double empty = 0.0;
    int rc = PROFS_OK;
    if (!dtypes || !ndims || !shapes_buf || !shapes || !data) { rc = pf_enomem("edit save"); goto done; }
    /* settings from the first estimated subspace (all layers of one edit normally share them) */
    const profs_subspace *first = e->n ? e->entries[0].s : NULL;
    size_t n_pairs = 0;
    for (size_t i = 0; i < e->n; i++) if (e->entries[i].s->n_pairs > n_pairs) n_pairs = e->entries[i].s->n_pairs;
    /* the layer list, "10,11,12" */
    size_t cap = 1 + 21 * e->n;
    char *list = malloc(cap);
    if (!list) { rc = pf_enomem("edit save"); goto done; }
    list[0] = 0;
    for (size_t i = 0, off = 0; i < e->n; i++)
        off += (size_t)snprintf(list + off, cap - off, "%s%zu", i ? "," : "", e->entries[i].layer);
    rc = sl_add(&layers, "%s", list);
    free(list);
    if (rc) goto done;
#define META(k, ...) do { if ((rc = sl_add(&keys, "%s", k)) || (rc = sl_add(&vals, __VA_ARGS__))) goto done; } while (0)
    META("format", "%s", FORMAT_NAME);
    META("format_version", "1");
    META("libprofs_version", "%s", PROFS_VERSION_STRING);
    META("dim", "%zu", e->dim);
    META("layers", "%s", layers.v[0]);
    META("n_pairs", "%zu", n_pairs);
    META("centering", "%s", or_unknown(first ? profs_centering_name(first->centering) : NULL));
    META("rank_rule", "%s", or_unknown(first ? profs_rank_rule_name(first->rule) : NULL));
    META("rank_k", "%zu", first ? first->rank_k : 0);
    META("screenot_strategy", "%s", or_unknown(first ? profs_screenot_strategy_name(first->strategy) : NULL));
    if (e->architecture) META("architecture", "%s", e->architecture);
    if (e->model_id) META("model_id", "%s", e->model_id);
    for (size_t i = 0; i < e->n; i++) {
        const pf_edit_entry *en = &e->entries[i];
        if ((rc = sl_add(&keys, "layers.%zu.rank", en->layer)) || (rc = sl_add(&vals, "%zu", en->s->rank))) goto done;
        /* settings of a layer that differs from the file-wide ones (e.g. a hand-made
         * subspace next to estimated ones) are recorded for that layer */
        const profs_subspace *ls = en->s;
        if (ls->n_pairs != n_pairs &&
            ((rc = sl_add(&keys, "layers.%zu.n_pairs", en->layer)) || (rc = sl_add(&vals, "%zu", ls->n_pairs))))
            goto done;
        if (ls->centering != first->centering &&
            ((rc = sl_add(&keys, "layers.%zu.centering", en->layer)) ||
             (rc = sl_add(&vals, "%s", or_unknown(profs_centering_name(ls->centering))))))
            goto done;
        if (ls->rule != first->rule &&
            ((rc = sl_add(&keys, "layers.%zu.rank_rule", en->layer)) ||
             (rc = sl_add(&vals, "%s", or_unknown(profs_rank_rule_name(ls->rule))))))
            goto done;
        if (ls->rank_k != first->rank_k &&
            ((rc = sl_add(&keys, "layers.%zu.rank_k", en->layer)) || (rc = sl_add(&vals, "%zu", ls->rank_k))))
            goto done;
        if (ls->strategy != first->strategy &&
            ((rc = sl_add(&keys, "layers.%zu.screenot_strategy", en->layer)) ||
             (rc = sl_add(&vals, "%s", or_unknown(profs_screenot_strategy_name(ls->strategy))))))
            goto done;
        char thr[40];
        if (isnan(en->s->threshold)) snprintf(thr, sizeof thr, "nan");
        else snprintf(thr, sizeof thr, "%.17g", en->s->threshold);
        if ((rc = sl_add(&keys, "layers.%zu.threshold", en->layer)) || (rc = sl_add(&vals, "%s", thr))) goto done;
        const char *proj = pf_edit_projection_name(pf_edit_value_projection(e, i));
        if (proj && ((rc = sl_add(&keys, "layers.%zu.value_projection", en->layer)) || (rc = sl_add(&vals, "%s", proj))))
            goto done;
        if ((rc = sl_add(&names, "layers.%zu.basis", en->layer)) ||
            (rc = sl_add(&names, "layers.%zu.singular_values", en->layer)))
            goto done;
        size_t b = 2 * i, v = 2 * i + 1;
        dtypes[b] = PROFS_DTYPE_F32;
        ndims[b] = 2;
        shapes_buf[2 * b] = (int64_t)en->s->rank;
        shapes_buf[2 * b + 1] = (int64_t)e->dim;
        shapes[b] = shapes_buf + 2 * b;
        data[b] = en->s->rank ? (const void *)en->s->basis : (const void *)&empty;
        dtypes[v] = PROFS_DTYPE_F64;
        ndims[v] = 1;
        shapes_buf[2 * v] = (int64_t)en->s->n_sv;
        shapes[v] = shapes_buf + 2 * v;
        data[v] = en->s->n_sv ? (const void *)en->s->sv : (const void *)&empty;
    }
#undef META
    rc = profs_safetensors_write(path, nt, (const char *const *)names.v, dtypes, ndims, shapes, data, keys.n,
                                 (const char *const *)keys.v, (const char *const *)vals.v);
done:
    sl_free(&names); sl_free(&keys); sl_free(&vals); sl_free(&layers);
    free(dtypes); free(ndims); free(shapes_buf); free(shapes); free(data);
    return rc;
}

/* ---- load ---- */

static int parse_size(size_t *out, const char *v)
{
    char *end;
    errno = 0;
    if (!v || !*v || *v < '0' || *v > '9') return -1;
    unsigned long long x = strtoull(v, &end, 10);
    if (errno || x > SIZE_MAX || (*end && *end != ',')) return -1;
    *out = (size_t)x;
    return (int)(end - v);
}

static int meta_size(size_t *out, const profs_model *m, const char *path, const char *key)
{
    const char *v = profs_model_metadata(m, key);
    if (!v) return pf_error(PROFS_EFORMAT, "%s: metadata key '%s' is missing", path, key);
    int len = parse_size(out, v);
    if (len < 0 || v[len]) return pf_error(PROFS_EFORMAT, "%s: metadata '%s' = '%s' is not a non-negative integer", path, key, v);
    return PROFS_OK;
}

/* Settings recorded as names; "unknown" (or absent) maps to -1. */
static int meta_enum(int *out, const profs_model *m, const char *path, const char *key,
                     int (*parse)(int *, const char *))
{
    const char *v = profs_model_metadata(m, key);
    *out = -1;
    if (!v || strcmp(v, "unknown") == 0) return PROFS_OK;
    if (parse(out, v) != PROFS_OK)
        return pf_error(PROFS_EFORMAT, "%s: metadata '%s' = '%s' is not a known value", path, key, v);
    return PROFS_OK;
}

/* layers.{l}.value_projection (absent in files written before it was recorded: PF_PROJ_UNRECORDED); it must
 * agree with what the edit's architecture, when the table knows it, does to its value matrices. */
static int meta_projection(int *out, const profs_model *m, const char *path, size_t layer, const char *architecture)
{
    char key[64];
    snprintf(key, sizeof key, "layers.%zu.value_projection", layer);
    const char *v = profs_model_metadata(m, key);
    *out = PF_PROJ_UNRECORDED;
    if (!v) return PROFS_OK;
    if (!strcmp(v, PROJ_PLAIN_NAME)) *out = PF_PROJ_PLAIN;
    else if (!strcmp(v, PROJ_POST_NORM_NAME)) *out = PF_PROJ_POST_NORM;
    else
        return pf_error(PROFS_EFORMAT, "%s: metadata '%s' = '%s' is not a projection (expected '" PROJ_PLAIN_NAME
                        "' or '" PROJ_POST_NORM_NAME "')", path, key, v);
    int fam = family_projection(architecture);
    if (fam != PF_PROJ_UNRECORDED && fam != *out)
        return pf_error(PROFS_EFORMAT, "%s: metadata '%s' = '%s', but architecture '%s' projects its value matrices %s",
                        path, key, v, architecture, pf_edit_projection_name(fam));
    return PROFS_OK;
}

static int load_layer(profs_edit *e, profs_model *m, const char *path, size_t layer, size_t n_pairs, int centering,
                      int rule, size_t rank_k, int strategy)
{
    char key[64], bname[64], sname[64];
    size_t rank;
    snprintf(key, sizeof key, "layers.%zu.rank", layer);
    int rc = meta_size(&rank, m, path, key);
    if (rc) return rc;
    snprintf(key, sizeof key, "layers.%zu.threshold", layer);
    const char *tv = profs_model_metadata(m, key);
    if (!tv) return pf_error(PROFS_EFORMAT, "%s: metadata key '%s' is missing", path, key);
    double threshold = NAN;
    if (strcmp(tv, "nan") != 0) {
        char *end;
        threshold = strtod(tv, &end);
        if (!*tv || *end || !isfinite(threshold) || threshold < 0)
            return pf_error(PROFS_EFORMAT, "%s: metadata '%s' = '%s' is not a threshold", path, key, tv);
    }
    snprintf(bname, sizeof bname, "layers.%zu.basis", layer);
    snprintf(sname, sizeof sname, "layers.%zu.singular_values", layer);
    int dtype;
    size_t ndim;
    const int64_t *shape;
    if (profs_model_tensor_info(m, bname, &dtype, &ndim, &shape) != PROFS_OK)
        return pf_error(PROFS_EFORMAT, "%s: tensor '%s' is missing", path, bname);
    if (dtype != PROFS_DTYPE_F32 || ndim != 2 || (uint64_t)shape[0] != rank || (uint64_t)shape[1] != e->dim)
        return pf_error(PROFS_EFORMAT, "%s: tensor '%s' must be F32 [%zu, %zu] (rank, dim)", path, bname, rank, e->dim);
    if (rank > e->dim) return pf_error(PROFS_EFORMAT, "%s: layer %zu: rank %zu exceeds dim %zu", path, layer, rank, e->dim);
    size_t n_sv;
    if (profs_model_tensor_info(m, sname, &dtype, &ndim, &shape) != PROFS_OK)
        return pf_error(PROFS_EFORMAT, "%s: tensor '%s' is missing", path, sname);
    if (dtype != PROFS_DTYPE_F64 || ndim != 1)
        return pf_error(PROFS_EFORMAT, "%s: tensor '%s' must be a 1-D F64 tensor", path, sname);
    n_sv = (size_t)shape[0];
    profs_subspace *s;
    if ((rc = pf_subspace_alloc(&s, rank, e->dim, n_sv))) return rc;
    if (rank && (rc = profs_model_read_f32(m, bname, s->basis, rank * e->dim))) {
        profs_subspace_free(s);
        return pf_error_prefix(rc, "%s: ", path);
    }
    double err = pf_basis_orthonormality_error(s->basis, rank, e->dim);
    if (!(err <= 1e-4)) {
        profs_subspace_free(s);
        return pf_error(PROFS_ENUMERIC, "%s: tensor '%s': rows are not orthonormal (max |B B^T - I| = %g > 1e-4)", path,
                        bname, err);
    }
    if (n_sv) {
        const void *raw;
        uint64_t nb;
        if ((rc = profs_model_tensor_data(m, sname, &raw, &nb))) { profs_subspace_free(s); return rc; }
        memcpy(s->sv, raw, n_sv * sizeof(double));   /* little-endian host */
        for (size_t i = 0; i < n_sv; i++)
            if (!isfinite(s->sv[i]) || s->sv[i] < 0) {
                profs_subspace_free(s);
                return pf_error(PROFS_EFORMAT, "%s: tensor '%s': value %zu is not a finite non-negative number", path,
                                sname, i);
            }
    }
    /* per-layer settings override the file-wide ones */
    snprintf(key, sizeof key, "layers.%zu.n_pairs", layer);
    if (profs_model_metadata(m, key) && (rc = meta_size(&n_pairs, m, path, key))) goto bad;
    snprintf(key, sizeof key, "layers.%zu.rank_k", layer);
    if (profs_model_metadata(m, key) && (rc = meta_size(&rank_k, m, path, key))) goto bad;
    snprintf(key, sizeof key, "layers.%zu.centering", layer);
    if (profs_model_metadata(m, key) && (rc = meta_enum(&centering, m, path, key, profs_centering_from_name))) goto bad;
    snprintf(key, sizeof key, "layers.%zu.rank_rule", layer);
    if (profs_model_metadata(m, key) && (rc = meta_enum(&rule, m, path, key, profs_rank_rule_from_name))) goto bad;
    snprintf(key, sizeof key, "layers.%zu.screenot_strategy", layer);
    if (profs_model_metadata(m, key) &&
        (rc = meta_enum(&strategy, m, path, key, profs_screenot_strategy_from_name)))
        goto bad;
    s->threshold = threshold;
    s->n_pairs = n_pairs;
    s->centering = centering;
    s->rule = rule;
    s->rank_k = rank_k;
    s->strategy = strategy;
    int projection;
    if ((rc = meta_projection(&projection, m, path, layer, profs_model_metadata(m, "architecture")))) goto bad;
    if ((rc = insert_owned(e, layer, s))) {
        profs_subspace_free(s);
        return pf_error(PROFS_EFORMAT, "%s: metadata 'layers' lists layer %zu twice", path, layer);
    }
    for (size_t i = 0; i < e->n; i++)
        if (e->entries[i].layer == layer) e->entries[i].value_projection = projection;
    return PROFS_OK;
bad:
    profs_subspace_free(s);
    return rc;
}

int profs_edit_load(profs_edit **out, const char *path)
{
    if (!out || !path) return pf_error(PROFS_EINVAL, "profs_edit_load: NULL argument");
    profs_model *m = NULL;
    profs_edit *e = NULL;
    int rc = profs_model_open(&m, path);
    if (rc) return rc;
    const char *fmt = profs_model_metadata(m, "format");
    if (!fmt || strcmp(fmt, FORMAT_NAME) != 0) {
        rc = pf_error(PROFS_EFORMAT, "%s: not an edit file (metadata format is '%s', expected '" FORMAT_NAME "')", path,
                      fmt ? fmt : "(missing)");
        goto fail;
    }
    const char *ver = profs_model_metadata(m, "format_version");
    if (!ver || strcmp(ver, "1") != 0) {
        rc = pf_error(PROFS_EFORMAT, "%s: unsupported edit format_version '%s' (this library reads 1)", path,
                      ver ? ver : "(missing)");
        goto fail;
    }
    size_t dim, n_pairs = 0, rank_k = 0;
    int centering, rule, strategy;
    if ((rc = meta_size(&dim, m, path, "dim"))) goto fail;
    if (dim == 0) { rc = pf_error(PROFS_EFORMAT, "%s: metadata 'dim' is 0", path); goto fail; }
    if (profs_model_metadata(m, "n_pairs") && (rc = meta_size(&n_pairs, m, path, "n_pairs"))) goto fail;
    if (profs_model_metadata(m, "rank_k") && (rc = meta_size(&rank_k, m, path, "rank_k"))) goto fail;
    if ((rc = meta_enum(&centering, m, path, "centering", profs_centering_from_name)) ||
        (rc = meta_enum(&rule, m, path, "rank_rule", profs_rank_rule_from_name)) ||
        (rc = meta_enum(&strategy, m, path, "screenot_strategy", profs_screenot_strategy_from_name)))
        goto fail;
    if ((rc = profs_edit_new(&e, dim))) goto fail;
    const char *list = profs_model_metadata(m, "layers");
    if (!list) { rc = pf_error(PROFS_EFORMAT, "%s: metadata key 'layers' is missing", path); goto fail; }
    const char *p = list;
    while (*p) {
        size_t layer;
        int len = parse_size(&layer, p);
        if (len < 0) { rc = pf_error(PROFS_EFORMAT, "%s: metadata 'layers' = '%s' is not a comma-separated list of layer indices", path, list); goto fail; }
        if ((rc = load_layer(e, m, path, layer, n_pairs, centering, rule, rank_k, strategy))) goto fail;
        p += len;
        if (*p == ',') {
            p++;
            if (!*p) { rc = pf_error(PROFS_EFORMAT, "%s: metadata 'layers' = '%s' ends with a comma", path, list); goto fail; }
        }
    }
    if (profs_model_tensor_count(m) != 2 * e->n) {
        rc = pf_error(PROFS_EFORMAT, "%s: %zu tensors, but %zu layers listed (each has a basis and singular values)", path,
                      profs_model_tensor_count(m), e->n);
        goto fail;
    }
    const char *arch = profs_model_metadata(m, "architecture"), *mid = profs_model_metadata(m, "model_id");
    if ((arch && (rc = profs_edit_set_architecture(e, arch))) || (mid && (rc = profs_edit_set_model_id(e, mid)))) goto fail;
    profs_model_free(m);
    *out = e;
    return PROFS_OK;
fail:
    profs_edit_free(e);
    profs_model_free(m);
    return rc;
}
