/* Prefix sharing: pooling HH-style pairs (both sentences = one prompt of P
 * tokens + a reply of R tokens) with the prompt computed once, next to the
 * same pairs run whole, in one run; the embeddings of the two are compared.
 *
 *   bench_prefix [--quick] [--tmp DIR]
 *
 * The ideal speedup is the ratio of computed tokens, 2 (P + R) / (P + 2 R)
 * (1.6 at P = 3 R); the goal is 90% of it. Wall and process CPU time are
 * both reported (on a shared machine the CPU time of a one-thread run is the
 * steadier). A Mistral-shaped model with random
 * F32 weights (hidden 768, 4 blocks) is generated under --tmp (default $TMPDIR
 * or /tmp) and deleted afterwards. Each mode runs 3 times, alternating; the best
 * time counts. OPENBLAS_NUM_THREADS sets the threads. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hfgen.h"
#include "profs/profs.h"

static double clock_s(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void rmtree(const char *dir)
{
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "bench_prefix: could not remove %s\n", dir);
}

static void check(int rc, const char *what)
{
    if (rc) {
        fprintf(stderr, "bench_prefix: %s: %s: %s\n", what, profs_strerror(rc), profs_last_error());
        exit(1);
    }
}

/* One pair set: n pairs of prompt P + replies R (all ids random). */
static void run(profs_lm *lm, size_t n, size_t P, size_t R, uint64_t seed)
{
    size_t L = profs_lm_n_layers(lm), D = profs_lm_hidden_size(lm), V = profs_lm_vocab_size(lm);
    int32_t **ids = malloc(2 * n * sizeof *ids);
    size_t *lens = malloc(2 * n * sizeof *lens);
    uint64_t st = seed;
    for (size_t i = 0; i < n; i++) {
        ids[2 * i] = malloc((P + R) * sizeof(int32_t));
        ids[2 * i + 1] = malloc((P + R) * sizeof(int32_t));
        ids[2 * i][0] = ids[2 * i + 1][0] = 1; /* BOS */
        for (size_t t = 1; t < P; t++) ids[2 * i][t] = ids[2 * i + 1][t] = (int32_t)(hfgen_mix(&st) % V);
        for (size_t t = P; t < P + R; t++) {
            ids[2 * i][t] = (int32_t)(hfgen_mix(&st) % V);
            do ids[2 * i + 1][t] = (int32_t)(hfgen_mix(&st) % V);
            while (t == P && ids[2 * i + 1][t] == ids[2 * i][t]); /* the replies differ from their first token */
        }
        lens[2 * i] = lens[2 * i + 1] = P + R;
    }
    float *whole = malloc(2 * n * L * D * sizeof(float)), *shared = malloc(2 * n * L * D * sizeof(float));
    if (!whole || !shared) { fprintf(stderr, "out of memory\n"); exit(1); }
    double best[2] = {1e30, 1e30}, cpu[2] = {1e30, 1e30};
    uint64_t saved = 0;
    for (int rep = 0; rep < 3; rep++)
        for (int on = 0; on < 2; on++) {
            check(profs_lm_set_prefix_sharing(lm, on), "prefix sharing");
            double t0 = clock_s(CLOCK_MONOTONIC), c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
            check(profs_lm_pool_pairs(lm, on ? shared : whole, &saved, (const int32_t *const *)ids, lens, n, 0, NULL,
                                      NULL), "pooling");
            double el = clock_s(CLOCK_MONOTONIC) - t0, ec = clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
            if (el < best[on]) best[on] = el;
            if (ec < cpu[on]) cpu[on] = ec;
        }
    double worst = 0;
    for (size_t s = 0; s < 2 * n; s++)
        for (size_t l = 0; l < L; l++) {
            double num = 0, den = 0;
            for (size_t d = 0; d < D; d++) {
                double a = shared[(s * L + l) * D + d], b = whole[(s * L + l) * D + d];
                num += (a - b) * (a - b);
                den += b * b;
            }
            double e = sqrt(num / (den > 0 ? den : 1));
            if (e > worst) worst = e;
        }
    double ideal = 2.0 * (double)(P + R) / (double)(P + 2 * R);
    double sp_wall = best[0] / best[1], sp_cpu = cpu[0] / cpu[1];
    printf("%4zu pairs P %3zu R %3zu | wall whole %6.3f s shared %6.3f s: %.3fx | CPU %6.3f s / %6.3f s: %.3fx | "
           "ideal %.3fx | %% of ideal: wall %5.1f%%, CPU %5.1f%% (goal 90%%) | saved %llu tokens | max rel. "
           "difference %.1e\n", n, P, R, best[0], best[1], sp_wall, cpu[0], cpu[1], sp_cpu, ideal,
           100.0 * sp_wall / ideal, 100.0 * sp_cpu / ideal, (unsigned long long)saved, worst);
    for (size_t i = 0; i < 2 * n; i++) free(ids[i]);
    free(ids);
    free(lens);
    free(whole);
    free(shared);
}

int main(int argc, char **argv)
{
    int quick = 0;
    const char *tmp = getenv("TMPDIR");
    if (!tmp || !*tmp) tmp = "/tmp";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick")) quick = 1;
        else if (!strcmp(argv[i], "--tmp") && i + 1 < argc) tmp = argv[++i];
        else { fprintf(stderr, "usage: bench_prefix [--quick] [--tmp DIR]\n"); return 2; }
    }
    hfgen_spec s = {.arch = "mistral", .layers = 4, .dim = 768, .heads = 12, .kv_heads = 4, .ffn = 2048,
                    .vocab = 8000, .max_pos = 4096, .window = 4096, .dtype = PROFS_DTYPE_F32, .seed = 11};
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/bench_prefix.%ld", tmp, (long)getpid());
    if (hfgen_write(dir, &s)) { fprintf(stderr, "cannot write %s\n", dir); rmtree(dir); return 1; }
    profs_lm *lm = NULL;
    check(profs_lm_open(&lm, dir), dir);
    const char *thr = getenv("OPENBLAS_NUM_THREADS");
    printf("bench_prefix: mistral-shaped, hidden %zu, MLP %zu, %zu blocks, F32; OPENBLAS_NUM_THREADS=%s\n", s.dim,
           s.ffn, s.layers, thr ? thr : "(unset)");
    size_t n = quick ? 16 : 64;
    run(lm, n, 96, 32, 1);   /* HH-style: the prompt is 3 times the reply, ideal 1.6x */
    if (!quick) {
        run(lm, n, 48, 48, 2);   /* prompt = reply, ideal 1.33x */
        run(lm, n, 192, 16, 3);  /* a long dialog, a short last turn, ideal 1.85x */
    }
    profs_lm_free(lm);
    rmtree(dir);
    return 0;
}
