/* Projection cost: removing a rank-10 subspace from a 4096 x 14336 BF16 matrix
 * (a Mistral-7B down_proj, [out=D, in=F]) with profs_project (float64 arithmetic, each element
 * rounded once to the nearest BF16: docs/core.md section 4), compared in one run with
 *   (a) only converting the matrix BF16 -> F32 -> BF16 in 1 MiB chunks (cache-resident, so the floor is not inflated)
 *       (the floor for any method that reads and rewrites the matrix), goal: ratio <= 3, and
 *   (b) the authors' method: W <- P W with the dense 4096 x 4096 projector
 *       P = I - V V^T (sgemm, in f32: less precise than profs), goal: profs >= 20x faster.
 * The dense product is timed on a 2048-column slice and scaled to 14336 columns
 * (sgemm time is linear in the column count); the slice ratio is printed too.
 * Each timing is the best of 5 interleaved runs (the machine may be shared).
 *   ./build/bench/bench_project [threads note: OPENBLAS_NUM_THREADS is honoured] */
#include <cblas.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/dtype.h"
#include "profs/profs.h"
#include "tu_rand.h"

#define D 4096
#define F 14336
#define K 10
#define SLICE 2048

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* CPU seconds of the process over all threads: less sensitive to other load on a
 * shared machine than wall time (which is printed too). */
static double cpu(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

#define TIMED(best_wall, best_cpu, code)                         \
    do {                                                         \
        double w0_ = now(), c0_ = cpu();                         \
        code;                                                    \
        double w1_ = now(), c1_ = cpu();                         \
        if (w1_ - w0_ < best_wall) best_wall = w1_ - w0_;        \
        if (c1_ - c0_ < best_cpu) best_cpu = c1_ - c0_;          \
    } while (0)

int main(void)
{
    size_t n = (size_t)D * F;
    uint16_t *w = malloc(n * 2), *orig = malloc(n * 2);
    float *chunk = malloc(262144 * sizeof *chunk);
    double *q = malloc((size_t)K * D * sizeof *q);
    float *v = malloc((size_t)K * D * sizeof *v);
    if (!w || !orig || !chunk || !q || !v) { fprintf(stderr, "out of memory\n"); return 1; }
    tu_rng rng = {1};
    for (size_t i = 0; i < n; i++) orig[i] = pf_f32_to_bf16((float)(0.02 * tu_normal(&rng)));
    tu_orthonormal_rows(q, K, D, &rng);
    for (size_t i = 0; i < (size_t)K * D; i++) v[i] = (float)q[i];

    double t_conv = 1e30, t_proj = 1e30, t_dense = 1e30, t_proj_slice = 1e30;
    double c_conv = 1e30, c_proj = 1e30, c_dense = 1e30, c_proj_slice = 1e30;
    double delta;
    for (int rep = 0; rep < 5; rep++) {
        memcpy(w, orig, n * 2);
        TIMED(t_conv, c_conv, {
            for (size_t off = 0; off < n; off += 262144) {
                size_t m = n - off < 262144 ? n - off : 262144;
                pf_convert_to_f32(chunk, w + off, PROFS_DTYPE_BF16, m);
                pf_convert_from_f32(w + off, chunk, PROFS_DTYPE_BF16, m);
            }
        });
        memcpy(w, orig, n * 2);
        int rc = 0;
        TIMED(t_proj, c_proj, rc = profs_project(&delta, w, PROFS_DTYPE_BF16, D, F, PROFS_LAYOUT_D_FIRST, v, K, D));
        if (rc) { fprintf(stderr, "profs_project: %s\n", profs_last_error()); return 1; }
        /* the same kernel on the slice used for the dense product (rows of length F: a true column slice) */
        memcpy(w, orig, n * 2);
        TIMED(t_proj_slice, c_proj_slice,
              rc = profs_project(&delta, w, PROFS_DTYPE_BF16, D, SLICE, PROFS_LAYOUT_D_FIRST, v, K, D));
        if (rc) return 1;
    }
    /* dense: P (D, D) = I - V^T V; Ws (D, SLICE) f32; out = P Ws; back to BF16 */
    float *p = malloc((size_t)D * D * sizeof *p), *ws = malloc((size_t)D * SLICE * sizeof *ws),
          *out = malloc((size_t)D * SLICE * sizeof *out);
    uint16_t *slice = malloc((size_t)D * SLICE * 2);
    if (!p || !ws || !out || !slice) { fprintf(stderr, "out of memory\n"); return 1; }
    for (int i = 0; i < D; i++)
        for (int r = 0; r < SLICE; r++) slice[(size_t)i * SLICE + r] = orig[(size_t)i * F + r];
    for (int rep = 0; rep < 2; rep++)
        TIMED(t_dense, c_dense, {
            for (size_t i = 0; i < (size_t)D * D; i++) p[i] = 0.0f;
            for (int i = 0; i < D; i++) p[(size_t)i * D + i] = 1.0f;
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, D, D, K, -1.0f, v, D, v, D, 1.0f, p, D);
            pf_convert_to_f32(ws, slice, PROFS_DTYPE_BF16, (size_t)D * SLICE);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, D, SLICE, D, 1.0f, p, D, ws, SLICE, 0.0f, out, SLICE);
            pf_convert_from_f32(slice, out, PROFS_DTYPE_BF16, (size_t)D * SLICE);
        });
    double t_dense_full = t_dense * (double)F / SLICE, c_dense_full = c_dense * (double)F / SLICE;
    double gb = (double)n * 2 / 1e9;
    printf("matrix %d x %d BF16 (%.2f GB), rank %d, openblas threads %d; best of 5 (dense: 2)\n", D, F, gb, K,
           openblas_get_num_threads());
    printf("                                    wall       CPU (all threads)\n");
    printf("convert only  BF16->F32->BF16 : %8.3f s  %8.3f s\n", t_conv, c_conv);
    printf("profs_project W - V(V^T W)    : %8.3f s  %8.3f s\n", t_proj, c_proj);
    printf("profs_project, %d columns   : %8.3f s  %8.3f s\n", SLICE, t_proj_slice, c_proj_slice);
    printf("dense P W, %d columns       : %8.3f s  %8.3f s\n", SLICE, t_dense, c_dense);
    printf("dense P W, scaled to %d    : %8.3f s  %8.3f s\n", F, t_dense_full, c_dense_full);
    printf("ratio project / convert       : %8.2f    %8.2f     (goal <= 3)\n", t_proj / t_conv, c_proj / c_conv);
    printf("ratio dense / project         : %8.1f    %8.1f     (goal >= 20)\n", t_dense_full / t_proj,
           c_dense_full / c_proj);
    printf("ratio dense / project, slice  : %8.1f    %8.1f\n", t_dense / t_proj_slice, c_dense / c_proj_slice);
    free(w); free(orig); free(chunk); free(q); free(v); free(p); free(ws); free(out); free(slice);
    return 0;
}
