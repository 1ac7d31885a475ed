/* Estimator: difference matrix, centering, SVD, rank rule -> subspace. */
#include <cblas.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "profs/collector.h"
#include "subspace/subspace_impl.h"

/* The numerical floor. A singular value of T at or below it is rounding noise,
 * not a direction:
 *   floor = max(PF_SVD_REL_TOL * s_1, PF_FLOOR_ULPS * FLT_EPSILON * max(|X+|_F, |X-|_F)).
 * The first term is the SVD's own precision (the Gram path loses half the digits
 * of double: ~1e-8 s_1). The second is the float32 precision of the embeddings
 * themselves: two embeddings of the same text computed in different batches
 * differ by a few hundred ulps after a deep forward pass, and the spectral norm
 * of such a difference matrix is at most its Frobenius norm, so noise stays
 * below PF_FLOOR_ULPS ulps of the embeddings' norm. A real preference direction
 * is many orders of magnitude above it (the demo's kept values are ~1e-2 of the
 * embeddings' norm, the floor 3e-5 of it). */
#define PF_SVD_REL_TOL 1e-6
#define PF_FLOOR_ULPS 256.0

struct profs_estimator {
    int centering;   /* profs_centering */
    int rule;        /* profs_rank_rule */
    size_t k;        /* rank_max (ScreeNOT) or rank (fixed) */
    int strategy;    /* profs_screenot_strategy */
};

static const profs_estimator defaults = {PROFS_CENTER_MEAN, PROFS_RANK_SCREENOT, 10, PROFS_SCREENOT_IMPUTE};

int profs_estimator_new(profs_estimator **out)
{
    if (!out) return pf_error(PROFS_EINVAL, "profs_estimator_new: out is NULL");
    profs_estimator *e = malloc(sizeof *e);
    if (!e) return pf_enomem("estimator");
    *e = defaults;
    *out = e;
    return PROFS_OK;
}

void profs_estimator_free(profs_estimator *e) { free(e); }

int profs_estimator_set_centering(profs_estimator *e, profs_centering c)
{
    if (!e) return pf_error(PROFS_EINVAL, "profs_estimator_set_centering: estimator is NULL");
    if ((int)c < 0 || (int)c > 2) return pf_error(PROFS_EINVAL, "unknown centering %d", (int)c);
    e->centering = (int)c;
    return PROFS_OK;
}

int profs_estimator_set_rank_rule(profs_estimator *e, profs_rank_rule rule, size_t k)
{
    if (!e) return pf_error(PROFS_EINVAL, "profs_estimator_set_rank_rule: estimator is NULL");
    if ((int)rule < 0 || (int)rule > 1) return pf_error(PROFS_EINVAL, "unknown rank rule %d", (int)rule);
    e->rule = (int)rule;
    e->k = k;
    return PROFS_OK;
}

int profs_estimator_set_screenot_strategy(profs_estimator *e, profs_screenot_strategy s)
{
    if (!e) return pf_error(PROFS_EINVAL, "profs_estimator_set_screenot_strategy: estimator is NULL");
    if ((int)s < 0 || (int)s > 2) return pf_error(PROFS_EINVAL, "unknown ScreeNOT strategy %d", (int)s);
    e->strategy = (int)s;
    return PROFS_OK;
}

int profs_estimator_centering(const profs_estimator *e) { return e ? e->centering : -1; }
int profs_estimator_rank_rule(const profs_estimator *e) { return e ? e->rule : -1; }
size_t profs_estimator_rank_k(const profs_estimator *e) { return e ? e->k : 0; }
int profs_estimator_screenot_strategy(const profs_estimator *e) { return e ? e->strategy : -1; }

/* u (dim): the unit shared direction of the rows of xp (n, dim), or all zeros when
 * there is none (mean of zero length). */
static int shared_direction(double *u, const float *xp, size_t n, size_t dim, int centering)
{
    memset(u, 0, dim * sizeof *u);
    if (centering == PROFS_CENTER_MEAN) {
        for (size_t i = 0; i < n; i++)
            for (size_t j = 0; j < dim; j++) u[j] += xp[i * dim + j];
        double nrm = cblas_dnrm2((int)dim, u, 1);
        if (nrm > 0) cblas_dscal((int)dim, 1.0 / nrm, u, 1);
        else memset(u, 0, dim * sizeof *u);
        return PROFS_OK;
    }
    if (centering == PROFS_CENTER_TOP_SINGULAR) {
        size_t p = n < dim ? n : dim;
        double *x = malloc(n * dim * sizeof *x), *s = malloc(p * sizeof *s);
        if (!x || !s) { free(x); free(s); return pf_enomem("centering"); }
        for (size_t i = 0; i < n * dim; i++) x[i] = xp[i];
        int rc = pf_svd_right(s, u, x, n, dim, 1, PF_SVD_AUTO);
        if (rc == PROFS_OK && !(s[0] > 0)) memset(u, 0, dim * sizeof *u);
        free(x); free(s);
        return rc;
    }
    return PROFS_OK;
}

/* The numerical floor (see PF_FLOOR_ULPS) for largest singular value s1 and the
 * count values of each side's embeddings. */
static double numerical_floor(double s1, const float *xp, const float *xm, size_t count)
{
    double np = 0, nm = 0;
    for (size_t i = 0; i < count; i++) {
        np += (double)xp[i] * (double)xp[i];
        nm += (double)xm[i] * (double)xm[i];
    }
    double scale = sqrt(np > nm ? np : nm);
    double f_svd = PF_SVD_REL_TOL * s1, f_emb = PF_FLOOR_ULPS * FLT_EPSILON * scale;
    return f_svd > f_emb ? f_svd : f_emb;
}

int profs_estimate(profs_subspace **out, const profs_estimator *e, const profs_collector *c, size_t layer)
{
    if (!out || !c) return pf_error(PROFS_EINVAL, "profs_estimate: NULL argument");
    if (!e) e = &defaults;
    size_t nl = profs_collector_n_layers(c), dim = profs_collector_dim(c), n = profs_collector_n_pairs(c);
    if (layer >= nl) return pf_error(PROFS_EINVAL, "profs_estimate: layer %zu out of range (collector has %zu layers)",
                                     layer, nl);
    if (n == 0) return pf_error(PROFS_ESTATE, "profs_estimate: the collector has no pairs");
    size_t p = n < dim ? n : dim, big = n < dim ? dim : n;
    size_t k = e->k;
    if (e->rule == PROFS_RANK_FIXED && k > p)
        return pf_error(PROFS_ESHAPE, "layer %zu: fixed rank %zu exceeds min(pairs, dim) = min(%zu, %zu)",
                        layer, k, n, dim);
    if (e->rule == PROFS_RANK_SCREENOT) {
        if (k >= p)
            return pf_error(PROFS_EINVAL, "layer %zu: ScreeNOT rank_max %zu must be less than min(pairs, dim) = %zu",
                            layer, k, p);
        if (e->strategy == PROFS_SCREENOT_IMPUTE && k > 0 && 2 * k + 1 >= p)
            return pf_error(PROFS_EINVAL, "layer %zu: ScreeNOT imputation needs 2 rank_max + 1 < min(pairs, dim); "
                            "rank_max %zu, min(pairs, dim) %zu (use more pairs, a smaller rank_max, or winsorize)",
                            layer, k, p);
    }

    const float *xp = profs_collector_preferred(c, layer), *xm = profs_collector_dispreferred(c, layer);
    double *t = malloc(n * dim * sizeof *t);       /* (n, dim) */
    double *u = malloc(dim * sizeof *u);           /* (dim) */
    double *tu = malloc(n * sizeof *tu);           /* (n) */
    double *s = malloc(p * sizeof *s);             /* (p) */
    double *vt = malloc((k ? k : 1) * dim * sizeof *vt); /* (k, dim) */
    profs_subspace *sub = NULL;
    int rc = PROFS_OK;
    if (!t || !u || !tu || !s || !vt) { rc = pf_enomem("estimator workspace"); goto done; }

    /* T0 = (X+ - X-) / 2 */
    for (size_t i = 0; i < n * dim; i++) t[i] = 0.5 * ((double)xp[i] - (double)xm[i]);
    /* T = T0 (I - u u^T) */
    rc = shared_direction(u, xp, n, dim, e->centering);
    if (rc) goto done;
    if (e->centering != PROFS_CENTER_NONE) {
        cblas_dgemv(CblasRowMajor, CblasNoTrans, (int)n, (int)dim, 1.0, t, (int)dim, u, 1, 0.0, tu, 1);
        cblas_dger(CblasRowMajor, (int)n, (int)dim, -1.0, tu, 1, u, 1, t, (int)dim);
    }
    rc = pf_svd_right(s, vt, t, n, dim, k, PF_SVD_AUTO);
    if (rc) { pf_error_prefix(rc, "layer %zu: ", layer); goto done; }

    double floor_v = numerical_floor(s[0], xp, xm, n * dim);
    size_t numerical = 0;
    for (size_t i = 0; i < p; i++)
        if (s[i] > floor_v) numerical++;
    size_t rank;
    double threshold = NAN;
    if (e->rule == PROFS_RANK_FIXED) {
        if (k > numerical) {
            rc = pf_error(PROFS_ENUMERIC, "layer %zu: fixed rank %zu exceeds the numerical rank %zu of the difference matrix "
                          "(singular values at or below the numerical floor %.3g are rounding noise; "
                          "identical or degenerate pairs?)", layer, k, numerical, floor_v);
            goto done;
        }
        rank = k;
    } else {
        rc = profs_screenot(&threshold, &rank, s, p, (double)p / (double)big, k, (profs_screenot_strategy)e->strategy);
        if (rc) { pf_error_prefix(rc, "layer %zu: ", layer); goto done; }
        if (rank > k) rank = k;
        if (rank > numerical) rank = numerical;
    }
    pf_canonical_signs(vt, rank, dim);
    rc = pf_subspace_alloc(&sub, rank, dim, p);
    if (rc) goto done;
    for (size_t i = 0; i < rank * dim; i++) sub->basis[i] = (float)vt[i];
    memcpy(sub->sv, s, p * sizeof *s);
    sub->threshold = threshold;
    sub->n_pairs = n;
    sub->centering = e->centering;
    sub->rule = e->rule;
    sub->rank_k = k;
    sub->strategy = e->strategy;
    *out = sub;
done:
    free(t); free(u); free(tu); free(s); free(vt);
    return rc;
}
