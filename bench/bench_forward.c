/* Forward throughput of the built-in runtime next to OpenBLAS sgemm on the
 * same shapes, measured in one run: GPT-2 medium and Mistral-7B shapes (4 blocks),
 * Qwen3-8B and Gemma-2-9B shapes (2 blocks, vocabulary 32000: pooling never runs
 * the head); with --big the peak RSS of collecting 64 pairs from a Mistral-7B-shaped
 * model with all 32 layers, with --big-qwen3 of collecting --pairs N pairs (default 8)
 * from a 32-block Qwen3-8B-shaped BF16 model (vocabulary 151936, untied head).
 *
 *   bench_forward [--quick] [--only NAME] [--big | --big-only] [--big-qwen3] [--pairs N] [--tmp DIR]
 *   bench_forward --model DIR [--tokens N] [--reps R]
 *
 * Every row runs in each compute mode this processor has (profs_lm_set_compute: f32,
 * then bf16 and int8 where AMX provides them), with the speed-up over f32 measured in
 * the same run. --model runs an existing checkpoint as llama-bench's prompt test does
 * (one sequence of --tokens tokens, default 512, the best of --reps runs, default 3)
 * in every mode: the figures docs/runtime.md sets next to llama-bench -p 512.
 *
 * Models with random weights are generated into a temporary directory (under
 * --tmp, default $TMPDIR or /tmp) and deleted afterwards. Throughput is
 * counted as 2 x block parameters x tokens (attention scores, norms and the
 * head are overhead); the sgemm reference runs the block's weight matrices
 * with M = all tokens of the batch, right before and right after the run (the
 * better of the two is the reference). OPENBLAS_NUM_THREADS sets the threads. */
#include <cblas.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "hfgen.h"
#include "profs/profs.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void rmtree(const char *dir)
{
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "bench_forward: could not remove %s\n", dir);
}

/* Parameters of one block (the matrices and vectors sgemm / the runtime use). */
static double block_params(const hfgen_spec *s)
{
    double D = (double)s->dim, F = (double)s->ffn, hd = (double)hfgen_head_dim(s);
    double Q = (double)s->heads * hd, KV = (double)(s->kv_heads ? s->kv_heads : s->heads) * hd;
    if (!strcmp(s->arch, "gpt2")) return 4 * D * D + 2 * D * F;
    return D * Q + 2 * D * KV + Q * D + 3 * D * F; /* mistral */
}

/* sgemm GFLOP/s over one block's matrices with M = tokens rows. */
static double sgemm_gflops(const hfgen_spec *s, size_t tokens)
{
    size_t D = s->dim, F = s->ffn, hd = hfgen_head_dim(s);
    size_t Q = s->heads * hd, KV = (s->kv_heads ? s->kv_heads : s->heads) * hd;
    size_t shapes[6][2];
    int n = 0;
    if (!strcmp(s->arch, "gpt2")) {
        shapes[n][0] = D; shapes[n++][1] = 3 * D;
        shapes[n][0] = D; shapes[n++][1] = D;
        shapes[n][0] = D; shapes[n++][1] = F;
        shapes[n][0] = F; shapes[n++][1] = D;
    } else {
        shapes[n][0] = D; shapes[n++][1] = Q;
        shapes[n][0] = D; shapes[n++][1] = KV;
        shapes[n][0] = D; shapes[n++][1] = KV;
        shapes[n][0] = Q; shapes[n++][1] = D;
        shapes[n][0] = D; shapes[n++][1] = 2 * F; /* gate + up */
        shapes[n][0] = F; shapes[n++][1] = D;
    }
    size_t maxk = 0, maxn = 0;
    for (int i = 0; i < n; i++) {
        if (shapes[i][0] > maxk) maxk = shapes[i][0];
        if (shapes[i][1] > maxn) maxn = shapes[i][1];
    }
    size_t rows = tokens < 512 ? tokens : 512; /* the runtime's MLP row block */
    float *a = calloc(tokens * maxk, sizeof(float)), *w = calloc(maxk * maxn, sizeof(float));
    float *c = calloc(tokens * maxn, sizeof(float));
    if (!a || !w || !c) { fprintf(stderr, "out of memory\n"); exit(1); }
    for (size_t i = 0; i < tokens * maxk; i++) a[i] = (float)(i % 7) * 0.1f;
    for (size_t i = 0; i < maxk * maxn; i++) w[i] = (float)(i % 5) * 0.01f;
    double best = 0;
    for (int rep = 0; rep < 1; rep++) {
        double flops = 0, t0 = now();
        for (int i = 0; i < n; i++) {
            size_t K = shapes[i][0], N = shapes[i][1];
            for (size_t r = 0; r < tokens; r += rows) {
                size_t m = tokens - r < rows ? tokens - r : rows;
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)m, (int)N, (int)K, 1.0f, a + r * K,
                            (int)K, w, (int)K, 0.0f, c + r * N, (int)N);
            }
            flops += 2.0 * (double)tokens * (double)K * (double)N;
        }
        double g = flops / (now() - t0) / 1e9;
        if (g > best) best = g;
    }
    free(a);
    free(w);
    free(c);
    return best;
}

static void run_forward(const char *tmp, const char *label, hfgen_spec s, int quick)
{
    static const int dts[] = {PROFS_DTYPE_F32, PROFS_DTYPE_BF16};
    static const size_t batches[][2] = {{64, 64}, {16, 512}, {1, 512}};
    for (int di = 0; di < 2; di++) {
        s.dtype = dts[di];
        char dir[4096];
        snprintf(dir, sizeof dir, "%s/bench_forward.%ld.%s.%s", tmp, (long)getpid(), label,
                 profs_dtype_name(s.dtype));
        double tg = now();
        if (hfgen_write(dir, &s)) { fprintf(stderr, "cannot write %s\n", dir); exit(1); }
        tg = now() - tg;
        profs_lm *lm = NULL;
        int rc = profs_lm_open(&lm, dir);
        if (rc) { fprintf(stderr, "open: %s\n", profs_last_error()); exit(1); }
        if (profs_lm_set_resident_bytes(lm, 0)) exit(1); /* stream: convert each block every pass */
        for (int bi = 0; bi < (quick ? 1 : 3); bi++) {
            size_t n = batches[bi][0], len = batches[bi][1], T = n * len;
            if (profs_lm_set_batch_tokens(lm, T)) exit(1);
            int32_t **ids = malloc(n * sizeof *ids);
            size_t *lens = malloc(n * sizeof *lens);
            uint64_t st = 42;
            for (size_t i = 0; i < n; i++) {
                ids[i] = malloc(len * sizeof(int32_t));
                for (size_t t = 0; t < len; t++) ids[i][t] = (int32_t)(hfgen_mix(&st) % s.vocab);
                lens[i] = len;
            }
            float *out = malloc(n * s.layers * s.dim * sizeof(float));
            double f32_dt = 0;
            for (int mode = PROFS_COMPUTE_F32; mode <= PROFS_COMPUTE_INT8; mode++) {
                if (profs_lm_set_compute(lm, mode)) continue; /* not on this processor */
                double before = mode ? 0 : sgemm_gflops(&s, T); /* the machine may be shared: measure around the run */
                double t0 = now();
                rc = profs_lm_pool_ids(lm, out, (const int32_t *const *)ids, lens, n, 0, NULL, NULL);
                double dt = now() - t0;
                if (rc) { fprintf(stderr, "forward: %s\n", profs_last_error()); exit(1); }
                double flops = 2.0 * block_params(&s) * (double)s.layers * (double)T, g = flops / dt / 1e9;
                if (mode == PROFS_COMPUTE_F32) {
                    f32_dt = dt;
                    double after = sgemm_gflops(&s, T), ref = before > after ? before : after;
                    printf("%-12s %-4s %3zu x %3zu f32:  %8.1f tokens/s  %6.1f GFLOP/s  sgemm %6.1f GFLOP/s  ratio %5.1f%%\n",
                           label, profs_dtype_name(s.dtype), n, len, (double)T / dt, g, ref, 100.0 * g / ref);
                } else {
                    printf("%-12s %-4s %3zu x %3zu %-4s: %8.1f tokens/s  %6.1f GFLOP/s  %.2fx f32 (%s)\n", label,
                           profs_dtype_name(s.dtype), n, len, profs_compute_name(mode), (double)T / dt, g, f32_dt / dt,
                           profs_lm_compute_kernel(lm));
                }
                fflush(stdout);
            }
            if (profs_lm_set_compute(lm, PROFS_COMPUTE_F32)) exit(1);
            for (size_t i = 0; i < n; i++) free(ids[i]);
            free(ids);
            free(lens);
            free(out);
        }
        profs_lm_free(lm);
        rmtree(dir);
        (void)tg;
    }
}

/* llama-bench's prompt test on a given checkpoint: one sequence of `tokens` ids, best of `reps`, every mode. */
static void run_model(const char *dir, size_t tokens, int reps)
{
    profs_lm *lm = NULL;
    if (profs_lm_open(&lm, dir)) { fprintf(stderr, "open: %s\n", profs_last_error()); exit(1); }
    if (profs_lm_set_resident_bytes(lm, 0) || profs_lm_set_batch_tokens(lm, tokens)) exit(1);
    size_t V = profs_lm_vocab_size(lm), L = profs_lm_n_layers(lm), D = profs_lm_hidden_size(lm);
    int32_t *ids = malloc(tokens * sizeof *ids);
    uint64_t st = 42;
    for (size_t t = 0; t < tokens; t++) ids[t] = (int32_t)(hfgen_mix(&st) % V);
    const int32_t *pp[1] = {ids};
    size_t lens[1] = {tokens};
    float *out = malloc(L * D * sizeof(float)), *ref = malloc(L * D * sizeof(float));
    double f32_best = 0;
    printf("%s: %s, %zu blocks, one sequence of %zu tokens, best of %d runs (a first untimed run maps the weights)\n",
           dir, profs_lm_architecture(lm), L, tokens, reps);
    for (int mode = PROFS_COMPUTE_F32; mode <= PROFS_COMPUTE_INT8; mode++) {
        if (profs_lm_set_compute(lm, mode)) {
            printf("  %-4s not on this processor (%s)\n", profs_compute_name(mode), profs_last_error());
            continue;
        }
        double best = 1e30;
        for (int r = 0; r <= reps; r++) {
            double t0 = now();
            if (profs_lm_pool_ids(lm, out, pp, lens, 1, 0, NULL, NULL)) {
                fprintf(stderr, "forward: %s\n", profs_last_error());
                exit(1);
            }
            double dt = now() - t0;
            if (r && dt < best) best = dt;
        }
        if (mode == PROFS_COMPUTE_F32) {
            f32_best = best;
            memcpy(ref, out, L * D * sizeof(float));
            printf("  f32  %8.1f tokens/s (%s)\n", (double)tokens / best, profs_lm_compute_kernel(lm));
        } else {
            double worst = 0;
            for (size_t l = 0; l < L; l++) {
                double num = 0, den = 0;
                for (size_t d = 0; d < D; d++) {
                    double e = (double)out[l * D + d] - ref[l * D + d];
                    num += e * e;
                    den += (double)ref[l * D + d] * ref[l * D + d];
                }
                double rel = sqrt(num / (den > 0 ? den : 1));
                if (rel > worst) worst = rel;
            }
            printf("  %-4s %8.1f tokens/s (%s), %.2fx f32; pooled block outputs within %.1e of f32 (relative, worst layer)\n",
                   profs_compute_name(mode), (double)tokens / best, profs_lm_compute_kernel(lm), f32_best / best, worst);
        }
        fflush(stdout);
    }
    free(ids);
    free(out);
    free(ref);
    profs_lm_free(lm);
}

static long peak_rss_mb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss / 1024;
}

static void run_big(const char *tmp, hfgen_spec s, const char *label, size_t pairs)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/bench_forward.%ld.%s", tmp, (long)getpid(), label);
    double t0 = now();
    if (hfgen_write(dir, &s)) { fprintf(stderr, "cannot write %s\n", dir); rmtree(dir); exit(1); }
    printf("%s shape BF16: generated in %.0f s\n", label, now() - t0);
    fflush(stdout);
    long rss0 = peak_rss_mb();
    profs_lm *lm = NULL;
    if (profs_lm_open(&lm, dir)) { fprintf(stderr, "open: %s\n", profs_last_error()); rmtree(dir); exit(1); }
    profs_collector *c = NULL;
    if (profs_collector_new(&c, s.layers, s.dim)) { fprintf(stderr, "%s\n", profs_last_error()); exit(1); }
    size_t n = 2 * pairs, len = 16, L = s.layers, D = s.dim;
    int32_t **ids = malloc(n * sizeof *ids);
    size_t *lens = malloc(n * sizeof *lens);
    uint64_t st = 3;
    for (size_t i = 0; i < n; i++) {
        ids[i] = malloc(len * sizeof(int32_t));
        for (size_t t = 0; t < len; t++) ids[i][t] = (int32_t)(hfgen_mix(&st) % s.vocab);
        lens[i] = len;
    }
    float *out = malloc(n * L * D * sizeof(float));
    t0 = now();
    int rc = profs_lm_pool_ids(lm, out, (const int32_t *const *)ids, lens, n, 0, NULL, NULL);
    double dt = now() - t0;
    for (size_t p = 0; !rc && p < pairs; p++) rc = profs_collector_add_pair(c, out + 2 * p * L * D,
                                                                            out + (2 * p + 1) * L * D);
    if (rc) fprintf(stderr, "collect: %s\n", profs_last_error());
    printf("%s shape BF16, %zu layers: %zu pairs x %zu tokens in %.1f s (%.1f tokens/s); "
           "peak RSS %ld MB (before opening: %ld MB)\n", label, L, pairs, len, dt, (double)(n * len) / dt,
           peak_rss_mb(), rss0);
    for (size_t i = 0; i < n; i++) free(ids[i]);
    free(ids);
    free(lens);
    free(out);
    profs_collector_free(c);
    profs_lm_free(lm);
    rmtree(dir);
}

int main(int argc, char **argv)
{
    int quick = 0, big = 0, big_qwen3 = 0, fwd = 1, reps = 3;
    size_t pairs = 8, tokens = 512;
    const char *tmp = getenv("TMPDIR"), *only = NULL, *model = NULL;
    if (!tmp || !*tmp) tmp = "/tmp";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick")) quick = 1;
        else if (!strcmp(argv[i], "--big")) big = 1;
        else if (!strcmp(argv[i], "--big-only")) { big = 1; fwd = 0; }
        else if (!strcmp(argv[i], "--big-qwen3")) { big_qwen3 = 1; fwd = 0; }
        else if (!strcmp(argv[i], "--pairs") && i + 1 < argc) pairs = (size_t)strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--only") && i + 1 < argc) only = argv[++i];
        else if (!strcmp(argv[i], "--tmp") && i + 1 < argc) tmp = argv[++i];
        else if (!strcmp(argv[i], "--model") && i + 1 < argc) model = argv[++i];
        else if (!strcmp(argv[i], "--tokens") && i + 1 < argc) tokens = (size_t)strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: bench_forward [--quick] [--only NAME] [--big | --big-only] [--big-qwen3] "
                            "[--pairs N] [--tmp DIR]\n       bench_forward --model DIR [--tokens N] [--reps R]\n");
            return 2;
        }
    }
    if (model) {
        if (!tokens || reps < 1) { fprintf(stderr, "bench_forward: --tokens and --reps must be at least 1\n"); return 2; }
        run_model(model, tokens, reps);
        return 0;
    }
    if (fwd) {
        static const struct { const char *label; hfgen_spec s; } rows[] = {
            {"gpt2-medium", {.arch = "gpt2", .layers = 4, .dim = 1024, .heads = 16, .ffn = 4096, .vocab = 50257,
                             .max_pos = 1024, .tied = 1, .prefix = "", .seed = 1, .no_tokenizer = 1}},
            {"mistral-7b", {.arch = "mistral", .layers = 4, .dim = 4096, .heads = 32, .kv_heads = 8, .ffn = 14336,
                            .vocab = 32000, .max_pos = 32768, .window = 4096, .seed = 2, .no_tokenizer = 1}},
            /* Qwen3-8B: q/k norms, head_dim 128; Gemma-2-9B: head_dim 256, four norms, soft-capping, local layers */
            {"qwen3-8b", {.arch = "qwen3", .layers = 2, .dim = 4096, .heads = 32, .kv_heads = 8, .head_dim = 128,
                          .ffn = 12288, .vocab = 32000, .max_pos = 40960, .seed = 3, .no_tokenizer = 1}},
            {"gemma2-9b", {.arch = "gemma2", .layers = 2, .dim = 3584, .heads = 16, .kv_heads = 8, .head_dim = 256,
                           .ffn = 14336, .vocab = 32000, .max_pos = 8192, .window = 4096, .tied = 1, .seed = 4,
                           .no_tokenizer = 1}},
        };
        for (size_t r = 0; r < sizeof rows / sizeof rows[0]; r++)
            if (!only || !strcmp(only, rows[r].label)) run_forward(tmp, rows[r].label, rows[r].s, quick);
    }
    if (big) {
        hfgen_spec m = {.arch = "mistral", .layers = 32, .dim = 4096, .heads = 32, .kv_heads = 8, .ffn = 14336,
                        .vocab = 32000, .max_pos = 32768, .window = 4096, .dtype = PROFS_DTYPE_BF16, .shards = 8,
                        .seed = 7, .no_tokenizer = 1};
        run_big(tmp, m, "mistral-7b", 64);
    }
    if (big_qwen3) {
        hfgen_spec q = {.arch = "qwen3", .layers = 32, .dim = 4096, .heads = 32, .kv_heads = 8, .head_dim = 128,
                        .ffn = 12288, .vocab = 151936, .max_pos = 40960, .dtype = PROFS_DTYPE_BF16, .shards = 8,
                        .seed = 8, .no_tokenizer = 1};
        run_big(tmp, q, "qwen3-8b", pairs);
    }
    return 0;
}
