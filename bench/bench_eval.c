/* Evaluation throughput, measured in one run:
 *  1. sequences/s of a BERT-base-shaped classifier (12 blocks, D 768, F 3072, 12 heads; random F32
 *     weights, the committed WordPiece tokenizer) through profs_classifier_logits, with the achieved
 *     GFLOP/s (2 x block parameters x tokens) next to OpenBLAS sgemm on the block's matrices with the
 *     same number of rows;
 *  2. with --profs BIN, the time of `profs eval` on the seven-task sample (tests/data/eval/tasks) next to
 *     `profs perplexity` on the WikiText sample, both on --model (default tests/data/eval/gpt2-tiny).
 *
 *   bench_eval [--quick] [--layers L] [--seqs N] [--len T] [--tmp DIR] [--data DIR] [--profs BIN] [--model DIR]
 *
 * Run from the repository root (--data defaults to tests/data). OPENBLAS_NUM_THREADS sets the threads. */
#include <cblas.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "profs/profs.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static float urand(void)
{
    rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
    return (float)((double)(rng >> 11) / 9007199254740992.0 - 0.5);
}

struct spec { size_t L, D, F, H, V, P; };

/* Write config.json, model.safetensors (F32, uniform * 0.04) and copy the tokenizer. */
static int write_bert(const char *dir, const struct spec *s, const char *tokenizer)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/config.json", dir);
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    fprintf(f, "{\"architectures\": [\"BertForSequenceClassification\"], \"model_type\": \"bert\", "
               "\"num_hidden_layers\": %zu, \"hidden_size\": %zu, \"intermediate_size\": %zu, "
               "\"num_attention_heads\": %zu, \"vocab_size\": %zu, \"max_position_embeddings\": %zu, "
               "\"type_vocab_size\": 2, \"layer_norm_eps\": 1e-12, \"hidden_act\": \"gelu\", "
               "\"problem_type\": \"multi_label_classification\", \"id2label\": {\"0\": \"toxicity\", \"1\": \"insult\"}}\n",
            s->L, s->D, s->F, s->H, s->V, s->P);
    fclose(f);
    size_t cap = 16 + 16 * s->L, n = 0;
    char **names = calloc(cap, sizeof *names);
    int64_t (*shape)[2] = calloc(cap, sizeof *shape);
    size_t *ndim = calloc(cap, sizeof *ndim);
#define T2(r, c, ...) do { names[n] = malloc(160); snprintf(names[n], 160, __VA_ARGS__); shape[n][0] = (int64_t)(r); \
        shape[n][1] = (int64_t)(c); ndim[n] = (c) ? 2 : 1; n++; } while (0)
    T2(s->V, s->D, "bert.embeddings.word_embeddings.weight");
    T2(s->P, s->D, "bert.embeddings.position_embeddings.weight");
    T2(2, s->D, "bert.embeddings.token_type_embeddings.weight");
    T2(s->D, 0, "bert.embeddings.LayerNorm.weight");
    T2(s->D, 0, "bert.embeddings.LayerNorm.bias");
    for (size_t l = 0; l < s->L; l++) {
        static const char *const att[] = {"self.query", "self.key", "self.value", "output.dense"};
        for (int k = 0; k < 4; k++) {
            T2(s->D, s->D, "bert.encoder.layer.%zu.attention.%s.weight", l, att[k]);
            T2(s->D, 0, "bert.encoder.layer.%zu.attention.%s.bias", l, att[k]);
        }
        T2(s->D, 0, "bert.encoder.layer.%zu.attention.output.LayerNorm.weight", l);
        T2(s->D, 0, "bert.encoder.layer.%zu.attention.output.LayerNorm.bias", l);
        T2(s->F, s->D, "bert.encoder.layer.%zu.intermediate.dense.weight", l);
        T2(s->F, 0, "bert.encoder.layer.%zu.intermediate.dense.bias", l);
        T2(s->D, s->F, "bert.encoder.layer.%zu.output.dense.weight", l);
        T2(s->D, 0, "bert.encoder.layer.%zu.output.dense.bias", l);
        T2(s->D, 0, "bert.encoder.layer.%zu.output.LayerNorm.weight", l);
        T2(s->D, 0, "bert.encoder.layer.%zu.output.LayerNorm.bias", l);
    }
    T2(s->D, s->D, "bert.pooler.dense.weight");
    T2(s->D, 0, "bert.pooler.dense.bias");
    T2(2, s->D, "classifier.weight");
    T2(2, 0, "classifier.bias");
#undef T2
    void **data = calloc(n, sizeof *data);
    int *dt = calloc(n, sizeof *dt);
    const int64_t **sh = calloc(n, sizeof *sh);
    for (size_t i = 0; i < n; i++) {
        size_t cnt = (size_t)shape[i][0] * (ndim[i] == 2 ? (size_t)shape[i][1] : 1);
        float *w = malloc(cnt * sizeof *w);
        int norm_w = strstr(names[i], "LayerNorm.weight") != NULL;
        for (size_t k = 0; k < cnt; k++) w[k] = norm_w ? 1.0f : 0.04f * urand();
        data[i] = w;
        dt[i] = PROFS_DTYPE_F32;
        sh[i] = shape[i];
    }
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    int rc = profs_safetensors_write(path, n, (const char *const *)names, dt, ndim, sh, (const void *const *)data, 0,
                                     NULL, NULL);
    for (size_t i = 0; i < n; i++) { free(names[i]); free(data[i]); }
    free(names); free(shape); free(ndim); free(data); free(dt); free(sh);
    if (rc) { fprintf(stderr, "bench_eval: %s\n", profs_last_error()); return -1; }
    char cmd[9000];
    snprintf(cmd, sizeof cmd, "cp '%s' '%s/tokenizer.json'", tokenizer, dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* sgemm GFLOP/s over one block's matrices (Q, K, V, O: D x D; up D -> F; down F -> D) with M rows. */
static double sgemm_gflops(const struct spec *s, size_t M)
{
    size_t D = s->D, F = s->F, big = F > D ? F : D;
    float *a = malloc(M * big * sizeof *a), *w = malloc(big * big * sizeof *w), *c = malloc(M * big * sizeof *c);
    for (size_t i = 0; i < M * big; i++) a[i] = urand();
    for (size_t i = 0; i < big * big; i++) w[i] = urand();
    size_t shapes[6][2] = {{D, D}, {D, D}, {D, D}, {D, D}, {D, F}, {F, D}};
    double best = 0;
    for (int rep = 0; rep < 3; rep++) {
        double t0 = now(), flop = 0;
        for (int k = 0; k < 6; k++) {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)M, (int)shapes[k][1], (int)shapes[k][0], 1.0f, a,
                        (int)shapes[k][0], w, (int)shapes[k][0], 0.0f, c, (int)shapes[k][1]);
            flop += 2.0 * (double)M * (double)shapes[k][0] * (double)shapes[k][1];
        }
        double g = flop / (now() - t0) / 1e9;
        best = g > best ? g : best;
    }
    free(a); free(w); free(c);
    return best;
}

static double run_cmd(const char *cmd)
{
    double t0 = now();
    int rc = system(cmd);
    double t = now() - t0;
    if (rc != 0) { fprintf(stderr, "bench_eval: failed: %s\n", cmd); return -1; }
    return t;
}

int main(int argc, char **argv)
{
    struct spec s = {12, 768, 3072, 12, 30522, 512};
    size_t seqs = 64, len = 128;
    const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", *data = "tests/data", *profs = NULL,
               *model = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick")) { s.L = 2; seqs = 16; }
        else if (!strcmp(argv[i], "--layers") && i + 1 < argc) s.L = (size_t)atol(argv[++i]);
        else if (!strcmp(argv[i], "--seqs") && i + 1 < argc) seqs = (size_t)atol(argv[++i]);
        else if (!strcmp(argv[i], "--len") && i + 1 < argc) len = (size_t)atol(argv[++i]);
        else if (!strcmp(argv[i], "--tmp") && i + 1 < argc) tmp = argv[++i];
        else if (!strcmp(argv[i], "--data") && i + 1 < argc) data = argv[++i];
        else if (!strcmp(argv[i], "--profs") && i + 1 < argc) profs = argv[++i];
        else if (!strcmp(argv[i], "--model") && i + 1 < argc) model = argv[++i];
        else {
            fprintf(stderr, "usage: bench_eval [--quick] [--layers L] [--seqs N] [--len T] [--tmp DIR] [--data DIR] "
                            "[--profs BIN] [--model DIR]\n");
            return 2;
        }
    }
    if (len < 2 || len > s.P || seqs == 0 || s.L == 0) { fprintf(stderr, "bench_eval: bad sizes\n"); return 2; }
    char dir[4096], tok[4096];
    snprintf(dir, sizeof dir, "%s/bench_eval.%ld", tmp, (long)getpid());
    snprintf(tok, sizeof tok, "%s/tokenizers/bert-wordpiece/tokenizer.json", data);
    char cmd[9000];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", dir);
    if (system(cmd) != 0) return 1;
    int status = 1;
    profs_classifier *c = NULL;
    printf("BERT-base-shaped classifier: %zu blocks, D %zu, F %zu, %zu heads; %zu sequences of %zu tokens\n", s.L, s.D,
           s.F, s.H, seqs, len);
    if (write_bert(dir, &s, tok)) { fprintf(stderr, "bench_eval: cannot write the model into %s\n", dir); goto out; }
    double t0 = now();
    if (profs_classifier_open(&c, dir)) { fprintf(stderr, "bench_eval: %s\n", profs_last_error()); goto out; }
    printf("  open (f32 conversion):       %8.2f s\n", now() - t0);
    int32_t **ids = calloc(seqs, sizeof *ids);
    size_t *lens = calloc(seqs, sizeof *lens);
    for (size_t i = 0; i < seqs; i++) {
        ids[i] = malloc(len * sizeof(int32_t));
        for (size_t k = 0; k < len; k++) ids[i][k] = k == 0 ? 2 : k + 1 == len ? 3 : 5 + (int32_t)((urand() + 0.5f) * 2000.0f);
        lens[i] = len;
    }
    float *logits = malloc(seqs * 2 * sizeof *logits);
    double best = 1e30;
    for (int rep = 0; rep < 2; rep++) {
        t0 = now();
        if (profs_classifier_logits(c, logits, (const int32_t *const *)ids, lens, seqs)) {
            fprintf(stderr, "bench_eval: %s\n", profs_last_error());
            goto out;
        }
        double t = now() - t0;
        best = t < best ? t : best;
    }
    double params = (double)s.L * (4.0 * s.D * s.D + 2.0 * s.D * s.F);
    double gflops = 2.0 * params * (double)(seqs * len) / best / 1e9;
    size_t rows = seqs * len < 8192 ? seqs * len : 8192;
    double ref = sgemm_gflops(&s, rows);
    printf("  classify:                    %8.1f sequences/s (%.3f s for %zu)\n", (double)seqs / best, best, seqs);
    printf("  block matrices:              %8.1f GFLOP/s; sgemm on the same shapes (M = %zu): %.1f GFLOP/s; "
           "ratio %.2f\n", gflops, rows, ref, gflops / ref);
    for (size_t i = 0; i < seqs; i++) free(ids[i]);
    free(ids); free(lens); free(logits);
    if (profs) {
        char def[4096];
        snprintf(def, sizeof def, "%s/eval/gpt2-tiny", data);
        if (!model) model = def;
        static const char *const tasks[] = {"boolq", "rte", "hellaswag", "winogrande", "arc_easy", "arc_challenge",
                                            "openbookqa"};
        size_t o = (size_t)snprintf(cmd, sizeof cmd, "'%s' eval --model '%s' --quiet", profs, model);
        for (int k = 0; k < 7; k++)
            o += (size_t)snprintf(cmd + o, sizeof cmd - o, " --task '%s/eval/tasks/%s.jsonl'", data, tasks[k]);
        snprintf(cmd + o, sizeof cmd - o, " > /dev/null");
        double te = run_cmd(cmd);
        snprintf(cmd, sizeof cmd, "'%s' perplexity --model '%s' --text-file '%s/eval/wiki_sample.jsonl' --quiet > /dev/null",
                 profs, model, data);
        double tp = run_cmd(cmd);
        if (te < 0 || tp < 0) goto out;
        printf("%s:\n  seven-task sample (21 documents): %.2f s; profs perplexity of the WikiText sample: "
               "%.2f s; ratio %.2f\n", model, te, tp, te / tp);
    }
    status = 0;
out:
    profs_classifier_free(c);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "bench_eval: could not remove %s\n", dir);
    return status;
}
