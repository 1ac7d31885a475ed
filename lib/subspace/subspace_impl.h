/* Internal: subspace representation, SVD helpers shared by the estimator, the edit
 * artifact and the tests. */
#ifndef PF_SUBSPACE_IMPL_H
#define PF_SUBSPACE_IMPL_H

#include <stddef.h>

#include "profs/subspace.h"

struct profs_subspace {
    size_t dim, rank;
    float *basis;          /* (rank, dim): orthonormal rows; NULL when rank == 0 */
    size_t n_sv;
    double *sv;            /* (n_sv) singular values of T, descending; NULL when n_sv == 0 */
    double threshold;      /* ScreeNOT threshold, NaN otherwise */
    size_t n_pairs;        /* pairs estimated from (0 = unknown) */
    int centering;         /* a profs_centering, -1 = unknown */
    int rule;              /* a profs_rank_rule, -1 = unknown */
    size_t rank_k;         /* the rule's k */
    int strategy;          /* a profs_screenot_strategy, -1 = unknown */
};

/* Allocate a subspace with room for (rank, dim) basis and n_sv values; fields zero/unknown. */
int pf_subspace_alloc(profs_subspace **out, size_t rank, size_t dim, size_t n_sv);

/* Largest |B B^T - I| entry of a (rank, dim) float basis (computed in double). */
double pf_basis_orthonormality_error(const float *basis, size_t rank, size_t dim);

/* SVD methods for pf_svd_right. */
enum { PF_SVD_AUTO = 0, PF_SVD_GESDD = 1, PF_SVD_GRAM = 2 };

/* Thin SVD of a (rows, cols) row-major double matrix a (not modified):
 * s (min(rows, cols)) singular values, descending; vt (k, cols) the top k right
 * singular vectors as rows (k <= min(rows, cols); vt may be NULL when k == 0).
 * Signs are not canonicalised. Returns 0, PROFS_ENOMEM or PROFS_ENUMERIC. */
int pf_svd_right(double *s, double *vt, const double *a, size_t rows, size_t cols, size_t k, int method);

/* Flip each of the k rows (length n) so its largest-|x| component (first on ties) is positive. */
void pf_canonical_signs(double *v, size_t k, size_t n);

#endif
