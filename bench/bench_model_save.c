/* Saving streams: peak memory of a save must not grow with the model.
 *
 * Builds two sharded BF16 models under $TMPDIR (or /tmp): SMALL with 2 shards
 * and LARGE with 8 shards of 4 tensors [1024, 2048] (4 MiB each), then in a
 * forked child per run opens each, stages a transform on every tensor
 * (scale by 0.5: every byte is read, converted and written), and saves it.
 * Prints the children's peak resident memory (ru_maxrss) and throughput, and
 * the ratios LARGE/SMALL: peak memory ≈ 1 (streaming), time ≈ model size ratio (4).
 *   ./build/bench/bench_model_save */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/fsutil.h"
#include "profs/profs.h"

#define ROWS 1024
#define COLS 2048
#define PER_SHARD 4

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int make_model(const char *dir, int shards)
{
    mkdir(dir, 0755);
    uint16_t *w = malloc((size_t)ROWS * COLS * 2);
    if (!w) return -1;
    for (size_t i = 0; i < (size_t)ROWS * COLS; i++) w[i] = (uint16_t)(0x3c00 + (i % 977));
    char *index = malloc(1 << 16);
    size_t k = (size_t)snprintf(index, 1 << 16, "{\"weight_map\": {");
    int rc = 0;
    for (int s = 0; s < shards && rc == 0; s++) {
        char fname[64], names[PER_SHARD][64];
        snprintf(fname, sizeof fname, "model-%05d-of-%05d.safetensors", s + 1, shards);
        const char *np[PER_SHARD];
        int dt[PER_SHARD];
        size_t nd[PER_SHARD];
        int64_t shape[2] = { ROWS, COLS };
        const int64_t *sh[PER_SHARD];
        const void *data[PER_SHARD];
        for (int t = 0; t < PER_SHARD; t++) {
            snprintf(names[t], sizeof names[t], "layers.%d.w", s * PER_SHARD + t);
            np[t] = names[t];
            dt[t] = PROFS_DTYPE_BF16;
            nd[t] = 2;
            sh[t] = shape;
            data[t] = w;
            k += (size_t)snprintf(index + k, (1 << 16) - k, "%s\"%s\": \"%s\"", (s || t) ? ", " : "", names[t], fname);
        }
        char *p = pf_path_join(dir, fname);
        rc = profs_safetensors_write(p, PER_SHARD, np, dt, nd, sh, data, 0, NULL, NULL);
        free(p);
    }
    snprintf(index + k, (1 << 16) - k, "}}\n");
    char *ip = pf_path_join(dir, "model.safetensors.index.json");
    FILE *f = fopen(ip, "w");
    if (f) { fputs(index, f); fclose(f); } else rc = -1;
    free(ip);
    free(index);
    free(w);
    return rc;
}

static int halve(void *ud, const char *name, float *data, size_t ndim, const int64_t *shape)
{
    (void)ud; (void)name; (void)ndim;
    size_t n = (size_t)shape[0] * (size_t)shape[1];
    for (size_t i = 0; i < n; i++) data[i] *= 0.5f;
    return 0;
}

/* Save `src` to `out` with every tensor transformed, in a child; peak RSS (KiB) and seconds. */
static int run_save(const char *src, const char *out, long *maxrss_kb, double *secs)
{
    double t0 = now();
    pid_t pid = fork();
    if (pid == 0) {
        profs_model *m = NULL;
        if (profs_model_open(&m, src) != 0) _exit(2);
        for (size_t i = 0; i < profs_model_tensor_count(m); i++)
            if (profs_model_stage_transform(m, profs_model_tensor_name(m, i), halve, NULL) != 0) _exit(3);
        int rc = profs_model_save(m, out, NULL, NULL);
        if (rc) fprintf(stderr, "save: %s\n", profs_last_error());
        profs_model_free(m);
        _exit(rc ? 1 : 0);
    }
    int status;
    struct rusage ru;
    if (wait4(pid, &status, 0, &ru) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) return -1;
    *secs = now() - t0;
    *maxrss_kb = ru.ru_maxrss;
    return 0;
}

static void rmtree(const char *dir)
{
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "cannot remove %s\n", dir);
}

int main(void)
{
    const char *tmp = getenv("TMPDIR");
    char root[4096];
    snprintf(root, sizeof root, "%s/bench_model_save.%ld", tmp && *tmp ? tmp : "/tmp", (long)getpid());
    mkdir(root, 0755);
    const int shards[2] = { 2, 8 };
    long rss[2];
    double secs[2], mib[2];
    int rc = 0;
    for (int r = 0; r < 2 && rc == 0; r++) {
        char src[4200], out[4200];
        snprintf(src, sizeof src, "%s/src%d", root, shards[r]);
        snprintf(out, sizeof out, "%s/out%d", root, shards[r]);
        mib[r] = (double)shards[r] * PER_SHARD * ROWS * COLS * 2 / 1048576.0;
        if (make_model(src, shards[r]) != 0 || run_save(src, out, &rss[r], &secs[r]) != 0) {
            fprintf(stderr, "bench_model_save: run failed\n");
            rc = 1;
            break;
        }
        printf("model %6.0f MiB (%d shards): save with a transform on every tensor: %.3f s, %.0f MiB/s, peak RSS %.1f MiB\n",
               mib[r], shards[r], secs[r], mib[r] / secs[r], (double)rss[r] / 1024.0);
    }
    if (rc == 0) {
        printf("ratio LARGE/SMALL: model size %.2f, peak RSS %.2f (streaming: ~1), save time %.2f\n",
               mib[1] / mib[0], (double)rss[1] / (double)rss[0], secs[1] / secs[0]);
    }
    rmtree(root);
    return rc;
}
