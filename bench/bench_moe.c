/* Mixture-of-experts runtime: peak RSS of collecting 64 pairs from Mixtral-8x7B-shaped BF16
 * checkpoints (4 and 32 blocks), and throughput per active parameter next to the dense runtime and
 * OpenBLAS sgemm on the same shapes, measured in one run.
 *
 *   bench_moe [--rss | --throughput] [--layers N] [--tokens N] [--tmp DIR]
 *
 * --rss: Mixtral-8x7B shape (hidden 4096, 32 heads, 8 key/value heads, 8 experts of intermediate
 *   14336, top-2, vocabulary 32000), BF16, 4 and 32 blocks (or --layers N). A 32-block checkpoint is
 *   93 GB: the attention and expert matrices are written as holes of a sparse file (they read as
 *   zeros, and the runtime maps, converts and releases them exactly as it would real weights), while
 *   the embedding, norms and routers are real random values, so that tokens spread over the experts
 *   (the number of (token, expert) assignments per expert is printed). Collects 64 pairs of --tokens
 *   tokens each (default 16). Peak RSS is per process: run --layers 4 and --layers 32 separately.
 * --throughput: 2 blocks at a quarter of the width (hidden 1024, intermediate 3584, 8 heads, 2 KV heads),
 *   BF16 with random values everywhere, 16 x 256 tokens: the MoE model (8 experts, top-2) and the dense
 *   Mistral model of the same shapes, GFLOP/s counted as 2 x active block parameters x tokens (top-2
 *   experts for the MoE), next to sgemm on the expert GEMMs' shapes (M = tokens per expert) before and
 *   after the runs (the better one is the reference).
 * Default: both. Checkpoints go to --tmp (default $TMPDIR or /tmp) and are deleted afterwards.
 * OPENBLAS_NUM_THREADS sets the threads. */
#include <cblas.h>
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lm/lm_internal.h"
#include "profs/profs.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static long peak_rss_mb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss / 1024;
}

static void rmtree(const char *dir)
{
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "bench_moe: could not remove %s\n", dir);
}

static uint64_t mix(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

typedef struct shape {
    int moe;                     /* 0: dense mistral */
    size_t layers, dim, heads, kv_heads, ffn, experts, top_k, vocab;
    int holes;                   /* attention and expert/MLP matrices as sparse-file holes */
} shape;

enum { FILL_RANDOM, FILL_ONES, FILL_HOLE };

typedef struct tensor {
    char name[128];
    size_t rows, cols;           /* cols 0: a vector */
    int fill;
    double scale;                /* uniform in [-scale, scale] */
} tensor;

static size_t list_tensors(const shape *s, tensor *t)
{
    size_t n = 0, D = s->dim, hd = D / s->heads, Q = s->heads * hd, KV = s->kv_heads * hd;
    int big = s->holes ? FILL_HOLE : FILL_RANDOM;
#define T(nm, r, c, f, sc) do { snprintf(t[n].name, sizeof t[n].name, "%s", nm); t[n].rows = r; t[n].cols = c; \
                                t[n].fill = f; t[n].scale = sc; n++; } while (0)
    char nm[128];
    T("model.embed_tokens.weight", s->vocab, D, FILL_RANDOM, 1.0);
    T("model.norm.weight", D, 0, FILL_ONES, 0);
    T("lm_head.weight", s->vocab, D, big, 1.0 / sqrt((double)D));
    for (size_t l = 0; l < s->layers; l++) {
        double sd = 1.0 / sqrt((double)D), si = 1.0 / sqrt((double)s->ffn);
#define L(fmt, r, c, f, sc) do { snprintf(nm, sizeof nm, fmt, l); T(nm, r, c, f, sc); } while (0)
        L("model.layers.%zu.input_layernorm.weight", D, 0, FILL_ONES, 0);
        L("model.layers.%zu.post_attention_layernorm.weight", D, 0, FILL_ONES, 0);
        L("model.layers.%zu.self_attn.q_proj.weight", Q, D, big, sd);
        L("model.layers.%zu.self_attn.k_proj.weight", KV, D, big, sd);
        L("model.layers.%zu.self_attn.v_proj.weight", KV, D, big, sd);
        L("model.layers.%zu.self_attn.o_proj.weight", D, Q, big, sd);
        if (!s->moe) {
            L("model.layers.%zu.mlp.gate_proj.weight", s->ffn, D, big, sd);
            L("model.layers.%zu.mlp.up_proj.weight", s->ffn, D, big, sd);
            L("model.layers.%zu.mlp.down_proj.weight", D, s->ffn, big, si);
            continue;
        }
        L("model.layers.%zu.block_sparse_moe.gate.weight", s->experts, D, FILL_RANDOM, 3.0 * sd);
        for (size_t e = 0; e < s->experts; e++) {
            snprintf(nm, sizeof nm, "model.layers.%zu.block_sparse_moe.experts.%zu.w1.weight", l, e);
            T(nm, s->ffn, D, big, sd);
            snprintf(nm, sizeof nm, "model.layers.%zu.block_sparse_moe.experts.%zu.w2.weight", l, e);
            T(nm, D, s->ffn, big, si);
            snprintf(nm, sizeof nm, "model.layers.%zu.block_sparse_moe.experts.%zu.w3.weight", l, e);
            T(nm, s->ffn, D, big, sd);
        }
#undef L
    }
#undef T
    return n;
}

/* config.json + model.safetensors (BF16); returns 0 on success. */
static int write_model(const char *dir, const shape *s)
{
    size_t cap = 16 + s->layers * (9 + 3 * s->experts);
    tensor *t = calloc(cap, sizeof *t);
    if (!t || mkdir(dir, 0755)) { free(t); return -1; }
    size_t n = list_tensors(s, t);
    char path[4200];
    snprintf(path, sizeof path, "%s/config.json", dir);
    FILE *f = fopen(path, "w");
    if (!f) { free(t); return -1; }
    fprintf(f, "{\"architectures\": [\"%s\"], \"model_type\": \"%s\", \"hidden_size\": %zu, \"intermediate_size\": %zu,"
            " \"num_hidden_layers\": %zu, \"num_attention_heads\": %zu, \"num_key_value_heads\": %zu,"
            " \"vocab_size\": %zu, \"max_position_embeddings\": 32768, \"rms_norm_eps\": 1e-05,"
            " \"rope_theta\": 1000000.0, \"sliding_window\": null, \"hidden_act\": \"silu\","
            " \"tie_word_embeddings\": false, \"dtype\": \"bfloat16\"",
            s->moe ? "MixtralForCausalLM" : "MistralForCausalLM", s->moe ? "mixtral" : "mistral", s->dim, s->ffn,
            s->layers, s->heads, s->kv_heads, s->vocab);
    if (s->moe) fprintf(f, ", \"num_local_experts\": %zu, \"num_experts_per_tok\": %zu", s->experts, s->top_k);
    fprintf(f, "}\n");
    fclose(f);
    /* header */
    size_t hcap = n * 200 + 64, hl = 0, off = 0;
    char *h = malloc(hcap);
    if (!h) { free(t); return -1; }
    hl += (size_t)snprintf(h + hl, hcap - hl, "{\"__metadata__\":{\"format\":\"pt\"}");
    for (size_t i = 0; i < n; i++) {
        size_t numel = t[i].rows * (t[i].cols ? t[i].cols : 1);
        if (t[i].cols)
            hl += (size_t)snprintf(h + hl, hcap - hl, ",\"%s\":{\"dtype\":\"BF16\",\"shape\":[%zu,%zu],\"data_offsets\":[%zu,%zu]}",
                                   t[i].name, t[i].rows, t[i].cols, off, off + 2 * numel);
        else
            hl += (size_t)snprintf(h + hl, hcap - hl, ",\"%s\":{\"dtype\":\"BF16\",\"shape\":[%zu],\"data_offsets\":[%zu,%zu]}",
                                   t[i].name, t[i].rows, off, off + 2 * numel);
        off += 2 * numel;
    }
    hl += (size_t)snprintf(h + hl, hcap - hl, "}");
    while (hl % 8) h[hl++] = ' ';
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    uint64_t hl64 = hl;
    int rc = fd < 0 || write(fd, &hl64, 8) != 8 || write(fd, h, hl) != (ssize_t)hl;
    uint16_t *buf = malloc(1 << 22);
    uint64_t st = 11;
    for (size_t i = 0; !rc && i < n; i++) {
        size_t numel = t[i].rows * (t[i].cols ? t[i].cols : 1);
        if (t[i].fill == FILL_HOLE) {
            rc = lseek(fd, (off_t)(2 * numel), SEEK_CUR) < 0;
            continue;
        }
        for (size_t done = 0; !rc && done < numel;) {
            size_t m = numel - done < (1u << 21) ? numel - done : (1u << 21);
            for (size_t j = 0; j < m; j++) {
                float v = t[i].fill == FILL_ONES ? 1.0f
                          : (float)(t[i].scale * ((double)(mix(&st) >> 11) / 4503599627370496.0 - 1.0));
                uint32_t u;
                memcpy(&u, &v, 4);
                buf[j] = (uint16_t)(u >> 16);
            }
            rc = write(fd, buf, 2 * m) != (ssize_t)(2 * m);
            done += m;
        }
    }
    if (!rc) rc = ftruncate(fd, (off_t)(8 + hl + off)) != 0;
    if (fd >= 0) close(fd);
    free(buf);
    free(h);
    free(t);
    return rc ? -1 : 0;
}

static size_t hits[64];
static void count_routes(void *ud, size_t layer, size_t T, const size_t *sel, const float *wt)
{
    const profs_lm *lm = ud;
    (void)layer;
    (void)wt;
    for (size_t i = 0; i < T * lm->cfg.top_k; i++) hits[sel[i] < 64 ? sel[i] : 63]++;
}

static int32_t **random_ids(size_t n, size_t len, size_t vocab, size_t **lens)
{
    int32_t **ids = malloc(n * sizeof *ids);
    *lens = malloc(n * sizeof **lens);
    uint64_t st = 3;
    for (size_t i = 0; i < n; i++) {
        ids[i] = malloc(len * sizeof(int32_t));
        for (size_t t = 0; t < len; t++) ids[i][t] = (int32_t)(mix(&st) % vocab);
        (*lens)[i] = len;
    }
    return ids;
}

static void free_ids(int32_t **ids, size_t *lens, size_t n)
{
    for (size_t i = 0; i < n; i++) free(ids[i]);
    free(ids);
    free(lens);
}

static void run_rss(const char *tmp, size_t L, size_t len)
{
    shape s = {.moe = 1, .layers = L, .dim = 4096, .heads = 32, .kv_heads = 8, .ffn = 14336, .experts = 8,
               .top_k = 2, .vocab = 32000, .holes = 1};
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/bench_moe.%ld.mixtral%zu", tmp, (long)getpid(), L);
    double t0 = now();
    if (write_model(dir, &s)) { fprintf(stderr, "cannot write %s\n", dir); rmtree(dir); exit(1); }
    double tg = now() - t0;
    long rss0 = peak_rss_mb();
    profs_lm *lm = NULL;
    if (profs_lm_open(&lm, dir)) { fprintf(stderr, "open: %s\n", profs_last_error()); rmtree(dir); exit(1); }
    memset(hits, 0, sizeof hits);
    lm->route_cb = count_routes;
    lm->route_ud = lm;
    profs_collector *c = NULL;
    if (profs_collector_new(&c, L, s.dim)) { fprintf(stderr, "%s\n", profs_last_error()); exit(1); }
    size_t n = 128, *lens;
    int32_t **ids = random_ids(n, len, s.vocab, &lens);
    float *out = malloc(n * L * s.dim * sizeof(float));
    t0 = now();
    int rc = profs_lm_pool_ids(lm, out, (const int32_t *const *)ids, lens, n, 0, NULL, NULL);
    double dt = now() - t0;
    for (size_t p = 0; !rc && p < 64; p++) rc = profs_collector_add_pair(c, out + 2 * p * L * s.dim,
                                                                         out + (2 * p + 1) * L * s.dim);
    if (rc) fprintf(stderr, "collect: %s\n", profs_last_error());
    printf("mixtral-8x7b shape BF16, %2zu blocks (%.1f GB, written in %.0f s): 64 pairs x %zu tokens in %.1f s; "
           "peak RSS %ld MB (before opening: %ld MB)\n", L,
           (double)(s.vocab * s.dim * 2 + L * (2 * s.dim * s.dim + 2 * s.dim * 1024 + 3 * 8 * s.dim * s.ffn)) * 2 / 1e9,
           tg, len, dt, peak_rss_mb(), rss0);
    printf("  (token, expert) assignments per expert:");
    for (size_t e = 0; e < s.experts; e++) printf(" %zu", hits[e]);
    printf("\n");
    fflush(stdout);
    free_ids(ids, lens, n);
    free(out);
    profs_collector_free(c);
    profs_lm_free(lm);
    rmtree(dir);
}

/* sgemm GFLOP/s on one block's GEMMs: attention with M = T, the MLP/expert matrices with M = rows. */
static double sgemm_gflops(const shape *s, size_t T, size_t rows, size_t reps)
{
    size_t D = s->dim, hd = D / s->heads, Q = s->heads * hd, KV = s->kv_heads * hd, Fi = s->ffn;
    size_t sh[6][3] = {{T, D, Q}, {T, D, KV}, {T, D, KV}, {T, Q, D}, {rows, D, 2 * Fi}, {rows, Fi, D}};
    size_t maxk = Fi > D ? Fi : D, maxn = 2 * Fi > Q ? 2 * Fi : Q;
    float *a = calloc(T * maxk, sizeof(float)), *w = calloc(maxk * maxn, sizeof(float)), *c = calloc(T * maxn, sizeof(float));
    if (!a || !w || !c) { fprintf(stderr, "out of memory\n"); exit(1); }
    for (size_t i = 0; i < T * maxk; i++) a[i] = (float)(i % 7) * 0.1f;
    for (size_t i = 0; i < maxk * maxn; i++) w[i] = (float)(i % 5) * 0.01f;
    double flops = 0, t0 = now();
    for (int i = 0; i < 6; i++)
        for (size_t r = 0; r < (i >= 4 ? reps : 1); r++) {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)sh[i][0], (int)sh[i][2], (int)sh[i][1], 1.0f, a,
                        (int)sh[i][1], w, (int)sh[i][1], 0.0f, c, (int)sh[i][2]);
            flops += 2.0 * (double)sh[i][0] * (double)sh[i][1] * (double)sh[i][2];
        }
    double g = flops / (now() - t0) / 1e9;
    free(a);
    free(w);
    free(c);
    return g;
}

/* GFLOP/s of the runtime on shape s (2 x active block parameters x tokens). */
static double runtime_gflops(const char *tmp, const shape *s, size_t n, size_t len, double *tok_s)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/bench_moe.%ld.%s", tmp, (long)getpid(), s->moe ? "moe" : "dense");
    if (write_model(dir, s)) { fprintf(stderr, "cannot write %s\n", dir); rmtree(dir); exit(1); }
    profs_lm *lm = NULL;
    if (profs_lm_open(&lm, dir)) { fprintf(stderr, "open: %s\n", profs_last_error()); rmtree(dir); exit(1); }
    if (profs_lm_set_resident_bytes(lm, 0) || profs_lm_set_batch_tokens(lm, n * len)) exit(1);
    size_t *lens;
    int32_t **ids = random_ids(n, len, s->vocab, &lens);
    float *out = malloc(n * s->layers * s->dim * sizeof(float));
    double t0 = now();
    int rc = profs_lm_pool_ids(lm, out, (const int32_t *const *)ids, lens, n, 0, NULL, NULL);
    double dt = now() - t0;
    if (rc) { fprintf(stderr, "forward: %s\n", profs_last_error()); exit(1); }
    size_t D = s->dim, hd = D / s->heads, Q = s->heads * hd, KV = s->kv_heads * hd;
    double active = (double)(2 * D * Q + 2 * D * KV) + (double)(s->moe ? s->top_k : 1) * 3.0 * (double)(D * s->ffn);
    *tok_s = (double)(n * len) / dt;
    free_ids(ids, lens, n);
    free(out);
    profs_lm_free(lm);
    rmtree(dir);
    return 2.0 * active * (double)s->layers * (double)(n * len) / dt / 1e9;
}

static void run_throughput(const char *tmp)
{
    shape moe = {.moe = 1, .layers = 2, .dim = 1024, .heads = 8, .kv_heads = 2, .ffn = 3584, .experts = 8,
                 .top_k = 2, .vocab = 32000};
    shape dense = moe;
    dense.moe = 0;
    size_t n = 16, len = 256, T = n * len, rows = T * moe.top_k / moe.experts;
    double before = sgemm_gflops(&moe, T, rows, moe.experts);
    double ts_d, ts_m;
    double gd = runtime_gflops(tmp, &dense, n, len, &ts_d);
    double gm = runtime_gflops(tmp, &moe, n, len, &ts_m);
    double after = sgemm_gflops(&moe, T, rows, moe.experts), ref = before > after ? before : after;
    printf("throughput, hidden 1024, intermediate 3584, 2 blocks, BF16, %zu x %zu tokens:\n", n, len);
    printf("  dense (mistral)      %8.1f tokens/s  %6.1f GFLOP/s\n", ts_d, gd);
    printf("  moe (8 experts, top-2) %6.1f tokens/s  %6.1f GFLOP/s per active parameter\n", ts_m, gm);
    printf("  sgemm (expert shapes, M = %zu) %6.1f GFLOP/s\n", rows, ref);
    printf("  moe / dense %5.1f%%   moe / sgemm %5.1f%%   dense / sgemm %5.1f%%\n", 100 * gm / gd, 100 * gm / ref,
           100 * gd / ref);
    fflush(stdout);
}

int main(int argc, char **argv)
{
    int rss = 1, tput = 1;
    size_t layers = 0, tokens = 16;
    const char *tmp = getenv("TMPDIR");
    if (!tmp || !*tmp) tmp = "/tmp";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--rss")) tput = 0;
        else if (!strcmp(argv[i], "--throughput")) rss = 0;
        else if (!strcmp(argv[i], "--layers") && i + 1 < argc) layers = (size_t)atoi(argv[++i]);
        else if (!strcmp(argv[i], "--tokens") && i + 1 < argc) tokens = (size_t)atoi(argv[++i]);
        else if (!strcmp(argv[i], "--tmp") && i + 1 < argc) tmp = argv[++i];
        else {
            fprintf(stderr, "usage: bench_moe [--rss | --throughput] [--layers N] [--tokens N] [--tmp DIR]\n");
            return 2;
        }
    }
    if (tput) run_throughput(tmp);
    if (rss) {
        if (layers) run_rss(tmp, layers, tokens ? tokens : 16);
        else { run_rss(tmp, 4, tokens ? tokens : 16); run_rss(tmp, 32, tokens ? tokens : 16); }
    }
    return 0;
}
