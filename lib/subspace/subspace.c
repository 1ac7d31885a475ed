/* Subspace objects: accessors, construction from a basis, orthonormality check. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "subspace/subspace_impl.h"

int pf_subspace_alloc(profs_subspace **out, size_t rank, size_t dim, size_t n_sv)
{
    profs_subspace *s = calloc(1, sizeof *s);
    if (!s) return pf_enomem("subspace");
    s->dim = dim;
    s->rank = rank;
    s->n_sv = n_sv;
    s->threshold = NAN;
    s->centering = s->rule = s->strategy = -1;
    if (rank && !(s->basis = malloc(rank * dim * sizeof *s->basis))) { free(s); return pf_enomem("subspace basis"); }
    if (n_sv && !(s->sv = malloc(n_sv * sizeof *s->sv))) { free(s->basis); free(s); return pf_enomem("singular values"); }
    *out = s;
    return PROFS_OK;
}

double pf_basis_orthonormality_error(const float *basis, size_t rank, size_t dim)
{
    double worst = 0.0;
    for (size_t i = 0; i < rank; i++)
        for (size_t j = 0; j <= i; j++) {
            double d = 0.0;
            for (size_t x = 0; x < dim; x++) d += (double)basis[i * dim + x] * basis[j * dim + x];
            double err = fabs(d - (i == j ? 1.0 : 0.0));
            if (!(err <= worst)) worst = err;   /* NaN propagates */
        }
    return worst;
}

int profs_subspace_from_basis(profs_subspace **out, const float *basis, size_t rank, size_t dim)
{
    if (!out) return pf_error(PROFS_EINVAL, "profs_subspace_from_basis: out is NULL");
    if (rank && !basis) return pf_error(PROFS_EINVAL, "profs_subspace_from_basis: basis is NULL");
    if (dim == 0) return pf_error(PROFS_EINVAL, "profs_subspace_from_basis: dim is 0");
    if (rank > dim) return pf_error(PROFS_ESHAPE, "profs_subspace_from_basis: rank %zu exceeds dim %zu", rank, dim);
    double err = pf_basis_orthonormality_error(basis, rank, dim);
    if (!(err <= 1e-4))
        return pf_error(PROFS_ENUMERIC, "profs_subspace_from_basis: rows are not orthonormal (max |B B^T - I| = %g > 1e-4)",
                        err);
    profs_subspace *s = NULL;
    int rc = pf_subspace_alloc(&s, rank, dim, 0);
    if (rc) return rc;
    if (rank) memcpy(s->basis, basis, rank * dim * sizeof *basis);
    *out = s;
    return PROFS_OK;
}

void profs_subspace_free(profs_subspace *s)
{
    if (!s) return;
    free(s->basis);
    free(s->sv);
    free(s);
}

size_t profs_subspace_rank(const profs_subspace *s) { return s ? s->rank : 0; }
size_t profs_subspace_dim(const profs_subspace *s) { return s ? s->dim : 0; }
const float *profs_subspace_basis(const profs_subspace *s) { return s && s->rank ? s->basis : NULL; }
double profs_subspace_threshold(const profs_subspace *s) { return s ? s->threshold : NAN; }
size_t profs_subspace_n_singular_values(const profs_subspace *s) { return s ? s->n_sv : 0; }
const double *profs_subspace_singular_values(const profs_subspace *s) { return s && s->n_sv ? s->sv : NULL; }
size_t profs_subspace_n_pairs(const profs_subspace *s) { return s ? s->n_pairs : 0; }
