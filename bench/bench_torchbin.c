/* PyTorch checkpoints cost what safetensors cost: reading a pytorch_model.bin
 * (zip + restricted unpickler, tensors used from the mapping) against the same
 * tensors as model.safetensors, and converting the .bin to safetensors against
 * copying the safetensors model, in one run.
 *
 * Builds under $TMPDIR (or /tmp) a state dict of TENSORS BF16 tensors [1024, 2048]
 * (4 MiB each) twice: as pytorch_model.bin, laid out as torch.save lays it out
 * (minizip, stored entries, a protocol-2 pickle of _rebuild_tensor_v2 calls), and
 * as model.safetensors. In a forked child per run it opens the model and reads
 * every tensor as f32 (releasing each), or saves it. Prints seconds and peak
 * resident memory (ru_maxrss) and the ratios .bin / safetensors (~1 each: no
 * copy of the weights is made, memory stays flat).
 *   ./build/bench/bench_torchbin */
#include <minizip/zip.h>
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
#define TENSORS 16

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---- a tiny protocol-2 pickle writer: just what a state dict of tensors needs ---- */
struct pk { unsigned char *b; size_t n, cap; };

static void put(struct pk *p, const void *d, size_t n)
{
    if (p->n + n > p->cap) {
        p->cap = 2 * (p->n + n) + 256;
        p->b = realloc(p->b, p->cap);
        if (!p->b) { fputs("out of memory\n", stderr); exit(1); }
    }
    memcpy(p->b + p->n, d, n);
    p->n += n;
}

static void put_str(struct pk *p, const char *s)
{
    uint32_t n = (uint32_t)strlen(s);
    unsigned char h[5] = { 'X', (unsigned char)n, (unsigned char)(n >> 8), (unsigned char)(n >> 16), (unsigned char)(n >> 24) };
    put(p, h, 5);
    put(p, s, n);
}

static void put_int(struct pk *p, uint32_t v)
{
    unsigned char h[5] = { 'J', (unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16), (unsigned char)(v >> 24) };
    put(p, h, 5);
}

static const char OD[] = "ccollections\nOrderedDict\n)R";

static int make_bin(const char *dir, const uint16_t *w)
{
    struct pk p = {0};
    put(&p, "\x80\x02", 2);
    put(&p, OD, sizeof OD - 1);
    put(&p, "(", 1);
    for (int t = 0; t < TENSORS; t++) {
        char name[64], key[16];
        snprintf(name, sizeof name, "model.layers.%d.mlp.down_proj.weight", t);
        snprintf(key, sizeof key, "%d", t);
        put_str(&p, name);
        put(&p, "ctorch._utils\n_rebuild_tensor_v2\n(", 34);
        put(&p, "(", 1);
        put_str(&p, "storage");
        put(&p, "ctorch\nBFloat16Storage\n", 23);
        put_str(&p, key);
        put_str(&p, "cpu");
        put_int(&p, ROWS * COLS);
        put(&p, "tQ", 2);
        put_int(&p, 0);
        put(&p, "(", 1); put_int(&p, ROWS); put_int(&p, COLS); put(&p, "t", 1);
        put(&p, "(", 1); put_int(&p, COLS); put_int(&p, 1); put(&p, "t", 1);
        put(&p, "\x89", 1);
        put(&p, OD, sizeof OD - 1);
        put(&p, "tR", 2);
    }
    put(&p, "u.", 2);
    char *path = pf_path_join(dir, "pytorch_model.bin");
    zipFile z = zipOpen64(path, APPEND_STATUS_CREATE);
    free(path);
    int rc = z ? 0 : -1;
    for (int e = -1; e < TENSORS && rc == 0; e++) {
        char name[64];
        if (e < 0) snprintf(name, sizeof name, "pytorch_model/data.pkl");
        else snprintf(name, sizeof name, "pytorch_model/data/%d", e);
        zip_fileinfo zi;
        memset(&zi, 0, sizeof zi);
        if (zipOpenNewFileInZip64(z, name, &zi, NULL, 0, NULL, 0, NULL, 0, 0, 1) != ZIP_OK) rc = -1;
        else if (zipWriteInFileInZip(z, e < 0 ? (const void *)p.b : (const void *)w,
                                     e < 0 ? (unsigned)p.n : (unsigned)(ROWS * COLS * 2)) != ZIP_OK) rc = -1;
        if (zipCloseFileInZip(z) != ZIP_OK) rc = -1;
    }
    if (z && zipClose(z, NULL) != ZIP_OK) rc = -1;
    free(p.b);
    return rc;
}

static int make_st(const char *dir, const uint16_t *w)
{
    char names[TENSORS][64];
    const char *np[TENSORS];
    int dt[TENSORS];
    size_t nd[TENSORS];
    int64_t shape[2] = { ROWS, COLS };
    const int64_t *sh[TENSORS];
    const void *data[TENSORS];
    for (int t = 0; t < TENSORS; t++) {
        snprintf(names[t], sizeof names[t], "model.layers.%d.mlp.down_proj.weight", t);
        np[t] = names[t];
        dt[t] = PROFS_DTYPE_BF16;
        nd[t] = 2;
        sh[t] = shape;
        data[t] = w;
    }
    char *p = pf_path_join(dir, "model.safetensors");
    int rc = profs_safetensors_write(p, TENSORS, np, dt, nd, sh, data, 0, NULL, NULL);
    free(p);
    return rc;
}

/* In a child: open src and read every tensor as f32 (save == NULL), or save it to `save`. */
static int run(const char *src, const char *save, long *maxrss_kb, double *secs)
{
    double t0 = now();
    pid_t pid = fork();
    if (pid == 0) {
        profs_model *m = NULL;
        if (profs_model_open(&m, src) != 0) { fprintf(stderr, "%s\n", profs_last_error()); _exit(2); }
        int rc = 0;
        if (save) rc = profs_model_save(m, save, NULL, NULL);
        else {
            float *x = malloc((size_t)ROWS * COLS * sizeof *x);
            for (size_t i = 0; x && i < profs_model_tensor_count(m) && rc == 0; i++) {
                rc = profs_model_read_f32(m, profs_model_tensor_name(m, i), x, (size_t)ROWS * COLS);
                if (rc == 0) rc = profs_model_release(m, profs_model_tensor_name(m, i));
            }
            free(x);
        }
        if (rc) fprintf(stderr, "%s\n", profs_last_error());
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

int main(void)
{
    const char *tmp = getenv("TMPDIR");
    char root[4096], bin[4200], st[4200], out_bin[4200], out_st[4200];
    snprintf(root, sizeof root, "%s/bench_torchbin.%ld", tmp && *tmp ? tmp : "/tmp", (long)getpid());
    snprintf(bin, sizeof bin, "%s/bin", root);
    snprintf(st, sizeof st, "%s/st", root);
    snprintf(out_bin, sizeof out_bin, "%s/out_bin", root);
    snprintf(out_st, sizeof out_st, "%s/out_st", root);
    mkdir(root, 0755);
    mkdir(bin, 0755);
    mkdir(st, 0755);
    uint16_t *w = malloc((size_t)ROWS * COLS * 2);
    if (!w) return 1;
    for (size_t i = 0; i < (size_t)ROWS * COLS; i++) w[i] = (uint16_t)(0x3c00 + (i % 977));
    int rc = make_bin(bin, w) || make_st(st, w);
    free(w);
    long r_bin = 0, r_st = 0, s_bin = 0, s_st = 0;
    double t_bin = 0, t_st = 0, u_bin = 0, u_st = 0;
    long warm;
    double tw;
    /* warm the page cache for both, so that neither pays for the disk */
    if (rc == 0) rc = run(st, NULL, &warm, &tw) || run(bin, NULL, &warm, &tw);
    if (rc == 0) rc = run(st, NULL, &r_st, &t_st) || run(bin, NULL, &r_bin, &t_bin) ||
                      run(st, out_st, &s_st, &u_st) || run(bin, out_bin, &s_bin, &u_bin);
    double mib = (double)TENSORS * ROWS * COLS * 2 / 1048576.0;
    if (rc == 0) {
        printf("model %.0f MiB BF16 (%d tensors [%d, %d])\n", mib, TENSORS, ROWS, COLS);
        printf("read every tensor as f32:  safetensors %.3f s, peak RSS %.1f MiB; pytorch_model.bin %.3f s, peak RSS %.1f MiB\n",
               t_st, r_st / 1024.0, t_bin, r_bin / 1024.0);
        printf("save (bin: as safetensors): safetensors %.3f s, peak RSS %.1f MiB; pytorch_model.bin %.3f s, peak RSS %.1f MiB\n",
               u_st, s_st / 1024.0, u_bin, s_bin / 1024.0);
        printf("ratio .bin / safetensors: read time %.2f, read peak RSS %.2f, save time %.2f "
               "(a copy against a conversion that reads and writes every tensor)\n",
               t_bin / t_st, (double)r_bin / (double)r_st, u_bin / u_st);
        printf("peak RSS / model size: read .bin %.2f, save .bin %.2f (flat: well below 1)\n", r_bin / 1024.0 / mib,
               s_bin / 1024.0 / mib);
    } else {
        fprintf(stderr, "bench_torchbin: run failed\n");
    }
    char cmd[4300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    if (system(cmd) != 0) fprintf(stderr, "cannot remove %s\n", root);
    return rc;
}
