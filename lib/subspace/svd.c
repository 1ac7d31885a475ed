/* Thin SVD (right singular vectors) in double: LAPACKE dgesdd, or the eigen-
 * decomposition of the smaller Gram matrix when one side is much smaller. */
#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "subspace/subspace_impl.h"

static int svd_gesdd(double *s, double *vt, const double *a, size_t rows, size_t cols, size_t k)
{
    size_t p = rows < cols ? rows : cols;
    double *work = malloc(rows * cols * sizeof *work);
    double *v = malloc(p * cols * sizeof *v);
    double *u = malloc(rows * p * sizeof *u);
    if (!work || !v || !u) {
        free(work); free(v); free(u);
        return pf_enomem("SVD workspace");
    }
    memcpy(work, a, rows * cols * sizeof *work);
    lapack_int info = LAPACKE_dgesdd(LAPACK_ROW_MAJOR, k ? 'S' : 'N', (lapack_int)rows, (lapack_int)cols,
                                     work, (lapack_int)cols, s, u, (lapack_int)p, v, (lapack_int)cols);
    if (info == 0 && k) memcpy(vt, v, k * cols * sizeof *vt);
    free(work); free(v); free(u);
    if (info != 0) return pf_error(PROFS_ENUMERIC, "SVD (dgesdd) of a %zu x %zu matrix failed (info %d)",
                                   rows, cols, (int)info);
    return PROFS_OK;
}

/* Orthonormalise the k rows (length n) of v by modified Gram-Schmidt, twice. */
static void orthonormalise_rows(double *v, size_t k, size_t n)
{
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < k; i++) {
            double *vi = v + i * n;
            for (size_t j = 0; j < i; j++) {
                double d = cblas_ddot((int)n, vi, 1, v + j * n, 1);
                cblas_daxpy((int)n, -d, v + j * n, 1, vi, 1);
            }
            double nrm = cblas_dnrm2((int)n, vi, 1);
            if (nrm > 0) cblas_dscal((int)n, 1.0 / nrm, vi, 1);
        }
}

static int svd_gram(double *s, double *vt, const double *a, size_t rows, size_t cols, size_t k)
{
    int wide = rows <= cols;                 /* Gram of the rows (rows x rows) or of the columns */
    size_t m = wide ? rows : cols;
    double *g = malloc(m * m * sizeof *g);   /* (m, m) */
    double *w = malloc(m * sizeof *w);
    if (!g || !w) { free(g); free(w); return pf_enomem("Gram matrix"); }
    if (wide)
        cblas_dsyrk(CblasRowMajor, CblasUpper, CblasNoTrans, (int)rows, (int)cols, 1.0, a, (int)cols, 0.0, g, (int)m);
    else
        cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, (int)cols, (int)rows, 1.0, a, (int)cols, 0.0, g, (int)m);
    /* all eigenvalues (no vectors), then only the top k eigenvectors: much cheaper
     * than a full eigendecomposition with vectors when k << m */
    double *gk = NULL, *zk = NULL;   /* copy of g; (m, k) top eigenvectors, ascending order */
    lapack_int *isuppz = NULL;
    int rc = PROFS_OK;
    if (k) {
        gk = malloc(m * m * sizeof *gk);
        zk = malloc(m * k * sizeof *zk);
        isuppz = malloc(2 * k * sizeof *isuppz);
        if (!gk || !zk || !isuppz) { rc = pf_enomem("Gram vectors"); goto out; }
        memcpy(gk, g, m * m * sizeof *gk);
    }
    lapack_int info = LAPACKE_dsyevd(LAPACK_ROW_MAJOR, 'N', 'U', (lapack_int)m, g, (lapack_int)m, w);
    if (info != 0) {
        rc = pf_error(PROFS_ENUMERIC, "eigendecomposition (dsyevd) of a %zu x %zu Gram matrix failed (info %d)", m, m,
                      (int)info);
        goto out;
    }
    /* eigenvalues ascending: s_i = sqrt(w[m-1-i]) */
    for (size_t i = 0; i < m; i++) s[i] = sqrt(w[m - 1 - i] > 0 ? w[m - 1 - i] : 0.0);
    if (k) {
        lapack_int found = 0;
        double *wk = w;   /* reuse: only the first k entries are written */
        info = LAPACKE_dsyevr(LAPACK_ROW_MAJOR, 'V', 'I', 'U', (lapack_int)m, gk, (lapack_int)m, 0.0, 0.0,
                              (lapack_int)(m - k + 1), (lapack_int)m, 0.0, &found, wk, zk, (lapack_int)k, isuppz);
        if (info != 0 || (size_t)found != k) {
            rc = pf_error(PROFS_ENUMERIC, "eigenvectors (dsyevr) of a %zu x %zu Gram matrix failed (info %d)", m, m,
                          (int)info);
            goto out;
        }
        if (!wide) {
            /* eigenvectors of A^T A are the right singular vectors: column (k-1-i) of zk */
            for (size_t i = 0; i < k; i++)
                for (size_t j = 0; j < cols; j++) vt[i * cols + j] = zk[j * k + (k - 1 - i)];
        } else {
            /* v_i = A^T u_i / s_i with u_i column (k-1-i) of zk */
            double *uk = malloc(rows * k * sizeof *uk); /* (rows, k) */
            if (!uk) { rc = pf_enomem("Gram vectors"); goto out; }
            for (size_t r = 0; r < rows; r++)
                for (size_t i = 0; i < k; i++) uk[r * k + i] = zk[r * k + (k - 1 - i)];
            cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)k, (int)cols, (int)rows, 1.0, uk, (int)k,
                        a, (int)cols, 0.0, vt, (int)cols);
            free(uk);
            for (size_t i = 0; i < k; i++)
                if (s[i] > 0) cblas_dscal((int)cols, 1.0 / s[i], vt + i * cols, 1);
        }
        orthonormalise_rows(vt, k, cols);
    }
out:
    free(g); free(w); free(gk); free(zk); free(isuppz);
    return rc;
}

int pf_svd_right(double *s, double *vt, const double *a, size_t rows, size_t cols, size_t k, int method)
{
    size_t p = rows < cols ? rows : cols;
    if (k > p) return pf_error(PROFS_EINVAL, "SVD: %zu vectors requested from a %zu x %zu matrix", k, rows, cols);
    if (method == PF_SVD_AUTO) {
        size_t big = rows > cols ? rows : cols;
        method = (2 * p <= big) ? PF_SVD_GRAM : PF_SVD_GESDD;
    }
    return method == PF_SVD_GRAM ? svd_gram(s, vt, a, rows, cols, k) : svd_gesdd(s, vt, a, rows, cols, k);
}

void pf_canonical_signs(double *v, size_t k, size_t n)
{
    for (size_t i = 0; i < k; i++) {
        double *row = v + i * n, best = -1.0;
        size_t arg = 0;
        for (size_t j = 0; j < n; j++)
            if (fabs(row[j]) > best) { best = fabs(row[j]); arg = j; }
        if (row[arg] < 0)
            for (size_t j = 0; j < n; j++) row[j] = -row[j];
    }
}
