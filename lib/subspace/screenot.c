/* ScreeNOT (Donoho, Gavish, Romanov 2023): optimal hard threshold for singular values
 * in noise of unknown structure. See docs/core.md for the procedure. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "profs/subspace.h"

static const char *const strategy_names[] = {"impute", "winsorize", "zero"};
static const char *const centering_names[] = {"none", "mean", "top-singular"};
static const char *const rule_names[] = {"screenot", "fixed"};

static const char *name_of(const char *const *names, int n, int v) { return v >= 0 && v < n ? names[v] : NULL; }

static int parse_name(int *out, const char *name, const char *const *names, int n)
{
    if (!out || !name) return pf_error(PROFS_EINVAL, "NULL argument");
    for (int i = 0; i < n; i++)
        if (strcmp(names[i], name) == 0) { *out = i; return PROFS_OK; }
    return pf_error(PROFS_ENOTFOUND, "unknown name '%s'", name);
}

const char *profs_screenot_strategy_name(int s) { return name_of(strategy_names, 3, s); }
int profs_screenot_strategy_from_name(int *s, const char *name) { return parse_name(s, name, strategy_names, 3); }
const char *profs_centering_name(int c) { return name_of(centering_names, 3, c); }
int profs_centering_from_name(int *c, const char *name) { return parse_name(c, name, centering_names, 3); }
const char *profs_rank_rule_name(int r) { return name_of(rule_names, 2, r); }
int profs_rank_rule_from_name(int *r, const char *name) { return parse_name(r, name, rule_names, 2); }

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Replace the top k of the ascending values z (n) by pseudo-noise. */
static void pseudo_noise(double *z, size_t n, size_t k, int strategy)
{
    if (k == 0) return;
    if (strategy == PROFS_SCREENOT_ZERO) {
        for (size_t l = 1; l <= k; l++) z[n - l] = 0.0;
    } else if (strategy == PROFS_SCREENOT_WINSORIZE) {
        for (size_t l = 1; l <= k; l++) z[n - l] = z[n - k - 1];
    } else { /* impute: z[n-l] = z[n-k-1] + a_l (z[n-k-1] - z[n-2k-1]) */
        double base = z[n - k - 1], diff = z[n - k - 1] - z[n - 2 * k - 1];
        double denom = pow(2.0, 2.0 / 3.0) - 1.0;
        for (size_t l = 1; l <= k; l++) {
            double a = (1.0 - pow((double)(l - 1) / (double)k, 2.0 / 3.0)) / denom;
            z[n - l] = base + a * diff;
        }
    }
}

/* Psi(y) = y D'(y) / D(y) for the counting measure on z (n values), shape g. */
static double psi(double y, const double *z, size_t n, double g)
{
    double phi = 0.0, phid = 0.0, y2 = y * y;
    for (size_t i = 0; i < n; i++) {
        double z2 = z[i] * z[i], d = y2 - z2;
        phi += y / d;
        phid += -(y2 + z2) / (d * d);
    }
    phi /= (double)n;
    phid /= (double)n;
    double inner = g * phi + (1.0 - g) / y;
    double D = phi * inner;
    double Dd = phid * inner + phi * (g * phid - (1.0 - g) / y2);
    return y * Dd / D;
}

int profs_screenot(double *threshold, size_t *rank, const double *singular_values, size_t n,
                   double aspect_ratio, size_t rank_max, profs_screenot_strategy strategy)
{
    if (!singular_values) return pf_error(PROFS_EINVAL, "screenot: singular_values is NULL");
    if (n == 0) return pf_error(PROFS_EINVAL, "screenot: no singular values");
    if ((int)strategy < 0 || (int)strategy > 2)
        return pf_error(PROFS_EINVAL, "screenot: unknown strategy %d", (int)strategy);
    if (!(aspect_ratio > 0.0 && aspect_ratio <= 1.0))
        return pf_error(PROFS_EINVAL, "screenot: aspect ratio %g is not in (0, 1]", aspect_ratio);
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(singular_values[i]))
            return pf_error(PROFS_ENUMERIC, "screenot: singular value %zu is not finite", i);
        if (singular_values[i] < 0.0)
            return pf_error(PROFS_EINVAL, "screenot: singular value %zu is negative (%g)", i, singular_values[i]);
    }
    if (rank_max >= n)
        return pf_error(PROFS_EINVAL, "screenot: rank_max (%zu) must be less than the number of singular values (%zu)",
                        rank_max, n);
    if (strategy == PROFS_SCREENOT_IMPUTE && rank_max > 0 && 2 * rank_max + 1 >= n)
        return pf_error(PROFS_EINVAL, "screenot: imputation needs 2 rank_max + 1 < n; rank_max %zu, n %zu "
                        "(lower rank_max to %zu or use winsorize)", rank_max, n, n >= 2 ? (n - 2) / 2 : 0);

    double *z = malloc(n * sizeof *z);
    if (!z) return pf_enomem("screenot values");
    memcpy(z, singular_values, n * sizeof *z);
    qsort(z, n, sizeof *z, cmp_double);
    pseudo_noise(z, n, rank_max, (int)strategy);
    double zmax = 0.0;
    for (size_t i = 0; i < n; i++) if (z[i] > zmax) zmax = z[i];

    double t = 0.0;
    if (zmax > 0.0) {
        /* Psi is scale-invariant: solve for the normalised root t = y / zmax in (1, inf).
         * Psi -> -inf as t -> 1+, Psi -> -2 as t -> inf, increasing in between. */
        for (size_t i = 0; i < n; i++) z[i] /= zmax;
        double lo = 1.0, hi = 2.0;
        for (int it = 0; it < 2000 && psi(hi, z, n, aspect_ratio) < -4.0; it++) {
            lo = hi;
            hi *= 2.0;
        }
        for (int it = 0; it < 200 && hi - lo > 1e-15 * hi; it++) {
            double mid = 0.5 * (lo + hi);
            if (mid <= lo || mid >= hi) break;
            double v = psi(mid, z, n, aspect_ratio);
            if (!isfinite(v) || v < -4.0) lo = mid;
            else hi = mid;
        }
        t = 0.5 * (lo + hi) * zmax;
    }
    free(z);
    if (threshold) *threshold = t;
    if (rank) {
        size_t r = 0;
        for (size_t i = 0; i < n; i++) if (singular_values[i] > t) r++;
        *rank = r;
    }
    return PROFS_OK;
}
