/* Applying an edit to a tensor store: resolve the targeted tensors through the
 * architecture table, validate them, stage deferred projections, report. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/dtype.h"
#include "core/error.h"
#include "edit/arch.h"
#include "edit/edit_impl.h"
#include "subspace/subspace_impl.h"

typedef struct pf_report_entry {
    char *name;
    size_t layer, rank, dim;
    int role;            /* PROFS_TARGET_VALUE or PROFS_TARGET_KEY */
    int layout;          /* profs_layout */
    float *basis;        /* (rank, dim), owned copy (post-norm aware: an orthonormal basis of span(diag(g) V)) */
    int post_norm;       /* 1: projected post-norm aware (see docs/core.md) */
    long expert;         /* slice index in a fused 3-D expert tensor, -1 otherwise */
    int applied;
    double delta, wnorm;
} pf_report_entry;

/* MoE: one staged tensor and its entries (one, or one per expert slice of a fused tensor). */
typedef struct pf_stage_group {
    char *tensor;
    pf_report_entry *e;
    size_t n;
} pf_stage_group;

struct profs_edit_report {
    char *arch;
    size_t n;
    pf_report_entry *e;
    size_t ng;
    pf_stage_group *g;
};

void profs_edit_report_free(profs_edit_report *r)
{
    if (!r) return;
    for (size_t i = 0; i < r->n; i++) {
        free(r->e[i].name);
        free(r->e[i].basis);
    }
    for (size_t i = 0; i < r->ng; i++) free(r->g[i].tensor);
    free(r->g);
    free(r->e);
    free(r->arch);
    free(r);
}

const char *profs_edit_report_architecture(const profs_edit_report *r) { return r ? r->arch : NULL; }
size_t profs_edit_report_count(const profs_edit_report *r) { return r ? r->n : 0; }
const char *profs_edit_report_name(const profs_edit_report *r, size_t i) { return r && i < r->n ? r->e[i].name : NULL; }
size_t profs_edit_report_layer(const profs_edit_report *r, size_t i) { return r && i < r->n ? r->e[i].layer : SIZE_MAX; }
size_t profs_edit_report_rank(const profs_edit_report *r, size_t i) { return r && i < r->n ? r->e[i].rank : 0; }
int profs_edit_report_role(const profs_edit_report *r, size_t i) { return r && i < r->n ? r->e[i].role : 0; }
int profs_edit_report_applied(const profs_edit_report *r, size_t i) { return r && i < r->n ? r->e[i].applied : 0; }
double profs_edit_report_delta_norm(const profs_edit_report *r, size_t i) { return r && i < r->n ? r->e[i].delta : NAN; }
double profs_edit_report_weight_norm(const profs_edit_report *r, size_t i) { return r && i < r->n ? r->e[i].wnorm : NAN; }
int profs_edit_report_post_norm(const profs_edit_report *r, size_t i) { return r && i < r->n ? r->e[i].post_norm : 0; }

/* Post-norm aware value basis. Where the MLP output y = W h passes through a norm
 * g * y / rms(y) before it joins the residual stream (gemma's post_feedforward_layernorm,
 * g = 1 + w), what is written has no component in span(V) iff V^T (g * y) = 0, i.e.
 * y orthogonal to span(diag(g) V). So W <- (I - Q Q^T) W with Q an orthonormal basis of
 * span(diag(g) V). The basis (rank, dim) is replaced by Q (rank rows; fewer when
 * diag(g) V loses rank), by twice-iterated modified Gram-Schmidt in double. */
static int post_norm_basis(pf_report_entry *en, const profs_model *m, const char *gname, int plus_one)
{
    size_t D = en->dim, R = en->rank;
    float *g = malloc(D * sizeof(float));
    double *q = malloc(R * D * sizeof(double));
    if (!g || !q) { free(g); free(q); return pf_enomem("post-norm basis"); }
    int rc = profs_model_read_f32(m, gname, g, D);
    if (rc) {
        free(g);
        free(q);
        return pf_error_prefix(rc, "%s: the norm after the MLP: ", profs_model_path(m));
    }
    size_t k = 0;
    for (size_t r = 0; r < R; r++) {
        double *v = q + k * D, n0 = 0;
        for (size_t i = 0; i < D; i++) {
            v[i] = (double)en->basis[r * D + i] * ((plus_one ? 1.0 : 0.0) + (double)g[i]);
            n0 += v[i] * v[i];
        }
        for (int pass = 0; pass < 2; pass++)
            for (size_t j = 0; j < k; j++) {
                double d = 0;
                for (size_t i = 0; i < D; i++) d += q[j * D + i] * v[i];
                for (size_t i = 0; i < D; i++) v[i] -= d * q[j * D + i];
            }
        double nn = 0;
        for (size_t i = 0; i < D; i++) nn += v[i] * v[i];
        if (!(nn > 1e-12 * n0) || nn == 0) continue; /* dependent after scaling */
        double inv = 1.0 / sqrt(nn);
        for (size_t i = 0; i < D; i++) v[i] *= inv;
        k++;
    }
    for (size_t i = 0; i < k * D; i++) en->basis[i] = (float)q[i];
    en->rank = k;
    en->post_norm = 1;
    free(g);
    free(q);
    return PROFS_OK;
}

/* profs_transform_fn: project one tensor while the model is saved. */
static int project_tensor(void *userdata, const char *name, float *data, size_t ndim, const int64_t *shape)
{
    pf_report_entry *en = userdata;
    if (ndim != 2)
        return pf_error(PROFS_ESHAPE, "tensor '%s': expected 2 dimensions, got %zu", name, ndim);
    size_t rows = (size_t)shape[0], cols = (size_t)shape[1];
    double ss = 0.0;
    for (size_t i = 0; i < rows * cols; i++) ss += (double)data[i] * data[i];
    double delta;
    int rc = profs_project_f32(&delta, data, rows, cols, (profs_layout)en->layout, en->basis, en->rank, en->dim);
    if (rc) return pf_error_prefix(rc, "tensor '%s': ", name);
    en->wnorm = sqrt(ss);
    en->delta = delta;
    en->applied = 1;
    return PROFS_OK;
}

/* Check that tensor `name` exists, is a 2-D float matrix whose D axis equals dim. */
static int check_tensor(const profs_model *m, const char *name, int layout, size_t dim, const char *arch, size_t layer)
{
    int dtype;
    size_t ndim;
    const int64_t *shape;
    if (profs_model_tensor_info(m, name, &dtype, &ndim, &shape) != PROFS_OK)
        return pf_error(PROFS_ENOTFOUND, "%s: layer %zu: %s tensor '%s' is missing", profs_model_path(m), layer, arch, name);
    if (!pf_dtype_is_float(dtype))
        return pf_error(PROFS_EUNSUPPORTED, "%s: tensor '%s' has dtype %s; only F32, F16, BF16 and F64 can be edited",
                        profs_model_path(m), name, profs_dtype_name(dtype) ? profs_dtype_name(dtype) : "?");
    if (ndim != 2)
        return pf_error(PROFS_ESHAPE, "%s: tensor '%s' has %zu dimensions, expected a matrix", profs_model_path(m), name, ndim);
    int64_t d = layout == PROFS_LAYOUT_D_FIRST ? shape[0] : shape[1];
    if ((uint64_t)d != dim)
        return pf_error(PROFS_ESHAPE, "%s: tensor '%s' has shape [%lld, %lld]; its %s axis should be the edit's dim %zu",
                        profs_model_path(m), name, (long long)shape[0], (long long)shape[1],
                        layout == PROFS_LAYOUT_D_FIRST ? "first" : "last", dim);
    return PROFS_OK;
}

/* Check that the vector `name` exists with dim elements. */
static int check_tensor_vec(const profs_model *m, const char *name, size_t dim, const char *arch, size_t layer)
{
    size_t ndim;
    const int64_t *shape;
    if (profs_model_tensor_info(m, name, NULL, &ndim, &shape) != PROFS_OK)
        return pf_error(PROFS_ENOTFOUND, "%s: layer %zu: %s tensor '%s' is missing", profs_model_path(m), layer, arch, name);
    if (ndim != 1 || (uint64_t)shape[0] != dim)
        return pf_error(PROFS_ESHAPE, "%s: tensor '%s' should be a vector of the edit's dim %zu", profs_model_path(m),
                        name, dim);
    return PROFS_OK;
}

/* profs_transform_fn of an MoE group: project every slice (or the matrix) an entry names while the model is saved. */
static int project_group(void *userdata, const char *name, float *data, size_t ndim, const int64_t *shape)
{
    pf_stage_group *g = userdata;
    int fused = g->e[0].expert >= 0;
    if (ndim != (fused ? 3u : 2u))
        return pf_error(PROFS_ESHAPE, "tensor '%s': expected %d dimensions, got %zu", name, fused ? 3 : 2, ndim);
    size_t rows = (size_t)shape[ndim - 2], cols = (size_t)shape[ndim - 1];
    for (size_t i = 0; i < g->n; i++) {
        pf_report_entry *en = &g->e[i];
        float *w = data + (fused ? (size_t)en->expert * rows * cols : 0);
        double ss = 0.0;
        for (size_t k = 0; k < rows * cols; k++) ss += (double)w[k] * w[k];
        double delta;
        int rc = profs_project_f32(&delta, w, rows, cols, (profs_layout)en->layout, en->basis, en->rank, en->dim);
        if (rc) return pf_error_prefix(rc, "tensor '%s': ", en->name);
        en->wnorm = sqrt(ss);
        en->delta = delta;
        en->applied = 1;
    }
    return PROFS_OK;
}

/* Mixture-of-experts families: every expert's output matrix of a sparse layer (and the shared expert's),
 * the dense MLP's in a dense layer; fused expert tensors get one staged transform for all their slices. */
static int apply_moe(profs_edit_report **report, const profs_edit *e, profs_model *m, int targets,
                     const pf_arch_model *am)
{
    profs_edit_report *r = NULL;
    pf_arch_target **lt = calloc(e->n ? e->n : 1, sizeof *lt);
    size_t *ln = calloc(e->n ? e->n : 1, sizeof *ln), total = 0;
    int rc = PROFS_OK;
    if (!lt || !ln) { rc = pf_enomem("edit targets"); goto fail; }
    /* resolve and validate everything before staging anything */
    for (size_t i = 0; i < e->n; i++) {
        if ((rc = pf_arch_layer_targets(&lt[i], &ln[i], am, m, e->entries[i].layer, targets, e->dim))) goto fail;
        total += ln[i];
    }
    r = calloc(1, sizeof *r);
    if (!r || !(r->arch = strdup(am->fam->name)) || (total && !(r->e = calloc(total, sizeof *r->e))) ||
        (total && !(r->g = calloc(total, sizeof *r->g)))) {
        rc = pf_enomem("edit report");
        goto fail;
    }
    for (size_t i = 0; i < e->n; i++) {
        const profs_subspace *s = e->entries[i].s;
        for (size_t j = 0; j < ln[i]; j++) {
            const pf_arch_target *t = &lt[i][j];
            pf_report_entry *en = &r->e[r->n];
            en->layer = e->entries[i].layer;
            en->rank = s->rank;
            en->dim = e->dim;
            en->role = t->role;
            en->layout = t->layout;
            en->expert = t->fused ? t->expert : -1;
            en->delta = s->rank ? NAN : 0.0;
            en->wnorm = NAN;
            if (!(en->name = strdup(t->name))) { rc = pf_enomem("edit report"); goto fail; }
            r->n++;
            if (!s->rank) continue;
            if (!(en->basis = malloc(s->rank * s->dim * sizeof *en->basis))) { rc = pf_enomem("edit report"); goto fail; }
            memcpy(en->basis, s->basis, s->rank * s->dim * sizeof *en->basis);
            /* slices of one fused tensor (adjacent) share one staged transform */
            pf_stage_group *last = r->ng ? &r->g[r->ng - 1] : NULL;
            if (t->fused && last && last->e + last->n == en && !strcmp(last->tensor, t->tensor)) {
                last->n++;
            } else {
                pf_stage_group *g = &r->g[r->ng];
                if (!(g->tensor = strdup(t->tensor))) { rc = pf_enomem("edit report"); goto fail; }
                g->e = en;
                g->n = 1;
                r->ng++;
            }
        }
    }
    size_t staged = 0;
    for (; staged < r->ng; staged++)
        if ((rc = profs_model_stage_transform(m, r->g[staged].tensor, project_group, &r->g[staged]))) {
            for (size_t j = 0; j < staged; j++) (void)profs_model_unstage(m, r->g[j].tensor);
            goto fail;
        }
    *report = r;
    r = NULL;
fail:
    if (lt)
        for (size_t i = 0; i < e->n; i++) free(lt[i]);
    free(lt);
    free(ln);
    profs_edit_report_free(r);
    return rc;
}

int profs_edit_apply(profs_edit_report **report, const profs_edit *e, profs_model *m, int targets)
{
    if (!report || !e || !m) return pf_error(PROFS_EINVAL, "profs_edit_apply: NULL argument");
    if (targets < PROFS_TARGET_VALUE || targets > PROFS_TARGET_BOTH)
        return pf_error(PROFS_EINVAL, "profs_edit_apply: targets %d is not value (1), key (2) or both (3)", targets);
    pf_arch_model am;
    int rc = pf_arch_resolve(&am, m, e->architecture);
    if (rc) return rc;
    const pf_family *a = am.fam;
    if (am.hidden && am.hidden != e->dim) {
        pf_arch_model_free(&am);
        return pf_error(PROFS_ESHAPE, "%s: the model's %s%s is %zu but the edit's dim is %zu", profs_model_path(m),
                        a->config_prefix, a->keys[PF_C_HIDDEN].key, am.hidden, e->dim);
    }
    for (size_t i = 0; a->f.router && i < e->n; i++)
        if (e->entries[i].layer >= am.n_layers) {
            pf_arch_model_free(&am);
            return pf_error(PROFS_ENOTFOUND, "%s: the edit has layer %zu but the model has %zu layers",
                            profs_model_path(m), e->entries[i].layer, am.n_layers);
        }
    /* an edit file records how its value matrices are projected: the model must need the same */
    int want = am.post_norm && !a->f.router ? PF_PROJ_POST_NORM : PF_PROJ_PLAIN;
    for (size_t i = 0; (targets & PROFS_TARGET_VALUE) && i < e->n; i++) {
        int rec = pf_edit_value_projection(e, i);
        if (rec != PF_PROJ_UNRECORDED && rec != want) {
            pf_arch_model_free(&am);
            return pf_error(PROFS_EUNSUPPORTED,
                            "%s: the edit records a %s projection of layer %zu's value matrix (edit architecture "
                            "'%s'), but this %s model needs a %s one; estimate the edit on this model",
                            profs_model_path(m), pf_edit_projection_name(rec), e->entries[i].layer,
                            e->architecture ? e->architecture : "unknown", a->name, pf_edit_projection_name(want));
        }
    }
    if (a->f.router) {
        rc = apply_moe(report, e, m, targets, &am);
        pf_arch_model_free(&am);
        return rc;
    }
    size_t n_keys = am.n_keys;
    size_t per_layer = ((targets & PROFS_TARGET_VALUE) ? 1 : 0) + ((targets & PROFS_TARGET_KEY) ? n_keys : 0);
    for (size_t i = 0; i < e->n; i++)
        if (e->entries[i].layer >= am.n_layers)
            return pf_error(PROFS_ENOTFOUND, "%s: the edit has layer %zu but the model has %zu layers", profs_model_path(m),
                            e->entries[i].layer, am.n_layers);

    profs_edit_report *r = calloc(1, sizeof *r);
    if (!r) return pf_enomem("edit report");
    size_t total = e->n * per_layer;
    if (!(r->arch = strdup(a->name)) || (total && !(r->e = calloc(total, sizeof *r->e)))) {
        profs_edit_report_free(r);
        return pf_enomem("edit report");
    }
    /* resolve and validate everything before staging anything */
    for (size_t i = 0; i < e->n; i++) {
        const profs_subspace *s = e->entries[i].s;
        for (int t = (targets & PROFS_TARGET_VALUE) ? -1 : 0; t < (int)((targets & PROFS_TARGET_KEY) ? n_keys : 0); t++) {
            pf_report_entry *en = &r->e[r->n];
            char name[256];
            pf_arch_tensor_name(name, sizeof name, &am, t, e->entries[i].layer);
            en->layer = e->entries[i].layer;
            en->rank = s->rank;
            en->dim = e->dim;
            en->role = t < 0 ? PROFS_TARGET_VALUE : PROFS_TARGET_KEY;
            en->layout = pf_arch_edit_layout(t < 0 ? am.value : am.keys[t]);
            en->delta = s->rank ? NAN : 0.0;
            en->wnorm = NAN;
            if (!(en->name = strdup(name))) { rc = pf_enomem("edit report"); goto fail; }
            r->n++;
            if ((rc = check_tensor(m, name, en->layout, e->dim, a->name, en->layer))) goto fail;
            if (s->rank) {
                if (!(en->basis = malloc(s->rank * s->dim * sizeof *en->basis))) { rc = pf_enomem("edit report"); goto fail; }
                memcpy(en->basis, s->basis, s->rank * s->dim * sizeof *en->basis);
                if (t < 0 && am.post_norm) {
                    char gname[320];
                    pf_arch_name(gname, sizeof gname, a, am.prefix, am.post_norm, en->layer, 0);
                    if ((rc = check_tensor_vec(m, gname, e->dim, a->name, en->layer)) ||
                        (rc = post_norm_basis(en, m, gname, a->f.norm_plus_one)))
                        goto fail;
                }
            }
        }
    }
    size_t staged = 0;
    for (; staged < r->n; staged++) {
        pf_report_entry *en = &r->e[staged];
        if (!en->rank) continue;
        if ((rc = profs_model_stage_transform(m, en->name, project_tensor, en))) {
            for (size_t j = 0; j < staged; j++)
                if (r->e[j].rank) (void)profs_model_unstage(m, r->e[j].name);
            goto fail;
        }
    }
    *report = r;
    return PROFS_OK;
fail:
    profs_edit_report_free(r);
    return rc;
}
