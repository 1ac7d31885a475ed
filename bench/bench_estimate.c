/* Estimation cost: 32 layers x 500 pairs x 4096 dims with ScreeNOT (rank_max 20,
 * imputation, mean centering), through profs_edit_estimate. Goal: under 2 s on a
 * 2-core machine. The collector holds 32 x 500 x 4096 x 2 floats (0.5 GB); set
 * BENCH_LAYERS to use fewer layers (the time per layer is printed).
 * Also prints the time of one layer with top-singular centering (an extra SVD of X+).
 *   ./build/bench/bench_estimate */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "profs/profs.h"
#include "tu_rand.h"

#define N 500
#define DIM 4096
#define RANK 6

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* CPU seconds of the whole process (all threads): robust against other load. */
static double cpu(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(void)
{
    size_t layers = 32;
    const char *env = getenv("BENCH_LAYERS");
    if (env && atoi(env) > 0) layers = (size_t)atoi(env);
    profs_collector *c;
    if (profs_collector_new(&c, layers, DIM)) { fprintf(stderr, "%s\n", profs_last_error()); return 1; }
    tu_rng rng = {2024};
    double *q = malloc((size_t)RANK * DIM * sizeof *q);
    tu_orthonormal_rows(q, RANK, DIM, &rng);
    float *xp = malloc(layers * DIM * sizeof *xp), *xm = malloc(layers * DIM * sizeof *xm);
    for (int p = 0; p < N; p++) {
        for (size_t l = 0; l < layers; l++) {
            double z[RANK];
            for (int r = 0; r < RANK; r++) z[r] = (3.0 + r) * tu_normal(&rng);
            for (int d = 0; d < DIM; d++) {
                float base = (float)(1.0 + 0.5 * tu_normal(&rng));
                double diff = 0.05 * tu_normal(&rng);
                for (int r = 0; r < RANK; r++) diff += z[r] * q[(size_t)r * DIM + d];
                xp[l * DIM + d] = base;
                xm[l * DIM + d] = (float)(base + diff);
            }
        }
        if (profs_collector_add_pair(c, xp, xm)) { fprintf(stderr, "%s\n", profs_last_error()); return 1; }
    }
    profs_estimator *e;
    if (profs_estimator_new(&e) || profs_estimator_set_rank_rule(e, PROFS_RANK_SCREENOT, 20)) return 1;
    double c0 = cpu(), t0 = now();
    profs_edit *edit;
    if (profs_edit_estimate(&edit, e, c, NULL, 0, NULL, NULL)) { fprintf(stderr, "%s\n", profs_last_error()); return 1; }
    double t1 = now(), c1 = cpu();
    size_t r0 = profs_subspace_rank(profs_edit_get(edit, 0));
    printf("%zu layers x %d pairs x %d dims, ScreeNOT rank_max 20 (impute), mean centering\n", layers, N, DIM);
    printf("estimate all layers : %.3f s  (%.1f ms per layer; layer 0 rank %zu, planted %d)\n", t1 - t0,
           1e3 * (t1 - t0) / (double)layers, r0, RANK);
    printf("goal for 32 layers  : < 2 s  (measured x 32 / layers = %.3f s wall, %.3f s CPU over all threads)\n",
           (t1 - t0) * 32.0 / (double)layers, (c1 - c0) * 32.0 / (double)layers);
    profs_subspace *s;
    if (profs_estimator_set_centering(e, PROFS_CENTER_TOP_SINGULAR)) return 1;
    t0 = now();
    if (profs_estimate(&s, e, c, 0)) { fprintf(stderr, "%s\n", profs_last_error()); return 1; }
    t1 = now();
    printf("one layer, top-singular centering: %.1f ms (rank %zu)\n", 1e3 * (t1 - t0), profs_subspace_rank(s));
    profs_subspace_free(s);
    profs_edit_free(edit);
    profs_estimator_free(e);
    profs_collector_free(c);
    free(q); free(xp); free(xm);
    return 0;
}
