/* Deterministic random numbers for the numerical suites (splitmix64 + Box-Muller). */
#ifndef TU_RAND_H
#define TU_RAND_H

#include <math.h>
#include <stdint.h>

typedef struct { uint64_t s; } tu_rng;

static inline uint64_t tu_next(tu_rng *r)
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Uniform in (0, 1). */
static inline double tu_uniform(tu_rng *r) { return ((double)(tu_next(r) >> 11) + 0.5) * (1.0 / 9007199254740992.0); }

/* Standard normal. */
static inline double tu_normal(tu_rng *r)
{
    double u1 = tu_uniform(r), u2 = tu_uniform(r);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

/* Student t with df degrees of freedom (integer df). */
static inline double tu_student_t(tu_rng *r, int df)
{
    double chi = 0.0;
    for (int i = 0; i < df; i++) { double g = tu_normal(r); chi += g * g; }
    return tu_normal(r) / sqrt(chi / df);
}

/* Orthonormal rows: fill q (k, n) with k <= n random orthonormal rows (Gram-Schmidt, twice). */
static inline void tu_orthonormal_rows(double *q, int k, int n, tu_rng *r)
{
    for (int i = 0; i < k; i++) {
        double *qi = q + (long)i * n;
        for (int j = 0; j < n; j++) qi[j] = tu_normal(r);
        for (int pass = 0; pass < 2; pass++)
            for (int p = 0; p < i; p++) {
                double d = 0;
                for (int j = 0; j < n; j++) d += qi[j] * q[(long)p * n + j];
                for (int j = 0; j < n; j++) qi[j] -= d * q[(long)p * n + j];
            }
        double nrm = 0;
        for (int j = 0; j < n; j++) nrm += qi[j] * qi[j];
        nrm = sqrt(nrm);
        for (int j = 0; j < n; j++) qi[j] /= nrm;
    }
}

#endif
