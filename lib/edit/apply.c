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
    long expert;         /* slice index in a fused 3-D tensor, -1 otherwise */
    float *basis;        /* (rank, dim), owned copy */
    int applied;
    double delta, wnorm;
} pf_report_entry;

/* One staged tensor: its entries (one, or one per expert slice of a fused tensor). */
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

/* profs_transform_fn: project one tensor (every slice of it that an entry names) while the model is saved. */
static int project_tensor(void *userdata, const char *name, float *data, size_t ndim, const int64_t *shape)
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

int profs_edit_apply(profs_edit_report **report, const profs_edit *e, profs_model *m, int targets)
{
    if (!report || !e || !m) return pf_error(PROFS_EINVAL, "profs_edit_apply: NULL argument");
    if (targets < PROFS_TARGET_VALUE || targets > PROFS_TARGET_BOTH)
        return pf_error(PROFS_EINVAL, "profs_edit_apply: targets %d is not value (1), key (2) or both (3)", targets);
    pf_arch_model am;
    int rc = pf_arch_resolve(&am, m, e->architecture);
    if (rc) return rc;
    const pf_arch *a = am.arch;
    profs_edit_report *r = NULL;
    pf_arch_target **lt = NULL;
    size_t *ln = NULL, total = 0;
    if (am.hidden && am.hidden != e->dim) {
        rc = pf_error(PROFS_ESHAPE, "%s: the model's %s is %zu but the edit's dim is %zu", profs_model_path(m),
                      a->hidden_key, am.hidden, e->dim);
        goto fail;
    }
    for (size_t i = 0; i < e->n; i++)
        if (e->entries[i].layer >= am.n_layers) {
            rc = pf_error(PROFS_ENOTFOUND, "%s: the edit has layer %zu but the model has %zu layers", profs_model_path(m),
                          e->entries[i].layer, am.n_layers);
            goto fail;
        }
    /* resolve and validate everything before staging anything */
    lt = calloc(e->n ? e->n : 1, sizeof *lt);
    ln = calloc(e->n ? e->n : 1, sizeof *ln);
    if (!lt || !ln) { rc = pf_enomem("edit targets"); goto fail; }
    for (size_t i = 0; i < e->n; i++) {
        if ((rc = pf_arch_layer_targets(&lt[i], &ln[i], &am, m, e->entries[i].layer, targets, e->dim))) goto fail;
        total += ln[i];
    }
    r = calloc(1, sizeof *r);
    if (!r || !(r->arch = strdup(a->name)) || (total && !(r->e = calloc(total, sizeof *r->e))) ||
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
            if (s->rank) {
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
    }
    size_t staged = 0;
    for (; staged < r->ng; staged++)
        if ((rc = profs_model_stage_transform(m, r->g[staged].tensor, project_tensor, &r->g[staged]))) {
            for (size_t j = 0; j < staged; j++) (void)profs_model_unstage(m, r->g[j].tensor);
            goto fail;
        }
    for (size_t i = 0; i < e->n; i++) free(lt[i]);
    free(lt);
    free(ln);
    pf_arch_model_free(&am);
    *report = r;
    return PROFS_OK;
fail:
    if (lt)
        for (size_t i = 0; i < e->n; i++) free(lt[i]);
    free(lt);
    free(ln);
    pf_arch_model_free(&am);
    profs_edit_report_free(r);
    return rc;
}
