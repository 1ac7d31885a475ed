/* The opt-in reduced-precision compute modes (profs_lm_set_compute, lib/lm/qgemm.c):
 *  - the AMX kernels against a double-precision product of the same rounded operands, over
 *    shapes with token, row and inner-dimension tails, with beta 0 and 1, on 1 and 3 threads
 *    (bit-identical);
 *  - the runtime in each mode against f32 on every fixture family's weight layouts (Conv1D,
 *    fused q|k|v, phi3's fused gate_up views, experts per tensor and fused, F32/F16/BF16);
 *  - what an edit's subspaces do: on every committed transformers checkpoint
 *    (tests/data/tf/), the subspaces estimated from 64 pairs of data/pairs.jsonl with
 *    the default estimator (ScreeNOT) have the same ranks in bf16 mode as in f32, and
 *    every principal angle between them is below 0.5 degrees;
 *  - refusals: a mode the processor cannot run names the instruction set it lacks
 *    (PROFS_DISABLE_ISA makes that testable on every machine), an unknown mode is EINVAL.
 * Where the processor has no AMX, the kernel and mode cases check the refusal instead. */
#include <dirent.h>
#include <jansson.h>
#include <lapacke.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/cpu.h"
#include "core/dtype.h"
#include "hfgen.h"
#include "lm/lm_internal.h"
#include "lm/qgemm.h"
#include "profs/profs.h"
#include "testutil.h"

#define MAX_ANGLE_DEG 0.5

static char *dir;

static void setup(void) { dir = tu_tmpdir("compute"); ck_assert_ptr_nonnull(dir); }
static void teardown(void) { tu_rmtree(dir); free(dir); }

static int have(unsigned isa) { return (pf_cpu_isa() & isa) == isa; }

static uint64_t st = 99;
static float urand(void) { return (float)((double)(hfgen_mix(&st) >> 11) / 9007199254740992.0) * 2.0f - 1.0f; }
static float bf16_value(void) { return pf_bf16_to_f32(pf_f32_to_bf16(urand())); }

/* ---- the kernels ---- */

static const size_t shapes[][3] = {{1, 32, 32}, {17, 64, 48}, {33, 96, 100}, {16, 32, 16}, {70, 160, 200},
                                   {5, 37, 19}, {300, 64, 40} /* more tokens than one packed chunk */};

START_TEST(kernel_bf16_matches_double)
{
    if (!have(PF_ISA_AMX_TILE | PF_ISA_AMX_BF16)) {
        fprintf(stderr, "test_compute: no AMX-BF16 here; the kernel case is skipped (refusals are tested)\n");
        return;
    }
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
        size_t n = shapes[si][0], in = shapes[si][1], out = shapes[si][2];
        size_t in_p = (in + 31) / 32 * 32, ldw = in_p + 32, rows = (out + 31) / 32 * 32;
        size_t ldx = in + 3, ldy = out + 5;
        float *x = malloc(n * ldx * sizeof(float)), *y1 = malloc(n * ldy * sizeof(float));
        float *y3 = malloc(n * ldy * sizeof(float)), *y0 = malloc(n * ldy * sizeof(float));
        uint16_t *W = calloc(rows * ldw, sizeof(uint16_t));
        double *wd = malloc(out * in * sizeof(double));
        for (size_t i = 0; i < n * ldx; i++) x[i] = bf16_value(); /* representable: the rounding is exact */
        for (size_t o = 0; o < out; o++)
            for (size_t k = 0; k < in; k++) {
                float f = bf16_value();
                W[o * ldw + k] = pf_f32_to_bf16(f);
                wd[o * in + k] = f;
            }
        for (size_t i = 0; i < n * ldy; i++) y0[i] = urand();
        for (int beta = 0; beta <= 1; beta++) {
            memcpy(y1, y0, n * ldy * sizeof(float));
            memcpy(y3, y0, n * ldy * sizeof(float));
            ck_assert_int_eq(pf_qgemm_bf16(y1, ldy, x, ldx, n, W, NULL, ldw, in, in_p, out, (float)beta, 1), 0);
            ck_assert_int_eq(pf_qgemm_bf16(y3, ldy, x, ldx, n, W, NULL, ldw, in, in_p, out, (float)beta, 3), 0);
            ck_assert_int_eq(memcmp(y1, y3, n * ldy * sizeof(float)), 0);
            for (size_t t = 0; t < n; t++)
                for (size_t o = 0; o < ldy; o++) {
                    float got = y1[t * ldy + o];
                    if (o >= out) { /* past the matrix: untouched */
                        ck_assert_float_eq(got, y0[t * ldy + o]);
                        continue;
                    }
                    double ref = beta ? y0[t * ldy + o] : 0.0, mag = beta ? fabs(ref) : 0.0;
                    for (size_t k = 0; k < in; k++) {
                        ref += (double)x[t * ldx + k] * wd[o * in + k];
                        mag += fabs((double)x[t * ldx + k] * wd[o * in + k]);
                    }
                    ck_assert_msg(fabs(got - ref) <= 1e-6 * (mag + 1e-30) * (double)in,
                                  "shape %zu: y[%zu][%zu] = %.9g, double %.9g", si, t, o, got, ref);
                }
        }
        free(x); free(y1); free(y3); free(y0); free(W); free(wd);
    }
}
END_TEST

/* Every int8 kernel this processor has (AMX on 1 and 2 threads, AVX512-VNNI, AVX-VNNI) against the
 * exact integer product, and against each other bit for bit (they sum the same int32s). */
START_TEST(kernel_int8_matches_double)
{
    int any = 0;
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
        size_t n = shapes[si][0], in = shapes[si][1], out = shapes[si][2];
        size_t in_p = (in + 63) / 64 * 64, ldw = in_p, rows = (out + 31) / 32 * 32, ldx = in, ldy = out;
        float *x = malloc(n * ldx * sizeof(float)), *y = malloc(n * ldy * sizeof(float));
        float *first = malloc(n * ldy * sizeof(float)), *sw = calloc(rows, sizeof(float));
        int8_t *W = calloc(rows * ldw, 1);
        /* token rows whose int8 quantisation is exact: integers in [-127, 127] (one of them 127) times a scale */
        for (size_t t = 0; t < n; t++) {
            float s = 0.01f * (float)(t + 1);
            for (size_t k = 0; k < in; k++) x[t * ldx + k] = s * (float)((int)(hfgen_mix(&st) % 255) - 127);
            x[t * ldx + t % in] = 127.0f * s;
        }
        for (size_t o = 0; o < out; o++) {
            sw[o] = 0.001f * (float)(o % 7 + 1);
            for (size_t k = 0; k < in; k++) W[o * ldw + k] = (int8_t)((int)(hfgen_mix(&st) % 255) - 127);
        }
        int done = 0;
        for (int kernel = 0; kernel < 4; kernel++) {
            static const unsigned need[] = {PF_ISA_AMX_TILE | PF_ISA_AMX_INT8, PF_ISA_AMX_TILE | PF_ISA_AMX_INT8,
                                            PF_ISA_AVX512_VNNI | PF_ISA_AVX512BW, PF_ISA_AVX_VNNI | PF_ISA_AVX2};
            static const char *const name[] = {"AMX, 2 threads", "AMX, 1 thread", "AVX512-VNNI", "AVX-VNNI"};
            if (!have(need[kernel])) continue;
            memset(y, 0, n * ldy * sizeof(float));
            int rc = kernel < 2 ? pf_qgemm_int8(y, ldy, x, ldx, n, W, sw, ldw, in, in_p, out, 0.0f, 2 - kernel)
                                : pf_qgemm_int8_vnni(y, ldy, x, ldx, n, W, sw, ldw, in, out, 0.0f, 2, kernel == 2);
            ck_assert_int_eq(rc, 0);
            if (done++) {
                ck_assert_msg(memcmp(y, first, n * ldy * sizeof(float)) == 0, "shape %zu: %s differs", si, name[kernel]);
                continue;
            }
            memcpy(first, y, n * ldy * sizeof(float));
            for (size_t t = 0; t < n; t++) {
                float s = 0.01f * (float)(t + 1);
                for (size_t o = 0; o < out; o++) {
                    long acc = 0;
                    for (size_t k = 0; k < in; k++) acc += lrintf(x[t * ldx + k] / s) * W[o * ldw + k];
                    double ref = (double)acc * s * sw[o];
                    ck_assert_msg(fabs(y[t * ldy + o] - ref) <= 1e-6 * fabs(ref) + 1e-12,
                                  "shape %zu (%s): y[%zu][%zu] = %.9g, exact %.9g", si, name[kernel], t, o,
                                  y[t * ldy + o], ref);
                }
            }
        }
        any |= done;
        free(x); free(y); free(first); free(sw); free(W);
    }
    if (!any) fprintf(stderr, "test_compute: no int8 kernel here (AMX-INT8, AVX512-VNNI, AVX-VNNI); skipped\n");
}
END_TEST

/* ---- modes through the runtime ---- */

/* Pooled block outputs of a few id sequences in the current mode: (n_seqs, L, D). */
static float *pool(profs_lm *lm, size_t n_seqs)
{
    size_t L = profs_lm_n_layers(lm), D = profs_lm_hidden_size(lm), V = profs_lm_vocab_size(lm);
    int32_t ids[4][40];
    const int32_t *pp[4];
    size_t lens[4] = {40, 1, 23, 37};
    uint64_t s = 5;
    for (size_t i = 0; i < n_seqs; i++) {
        for (size_t t = 0; t < lens[i]; t++) ids[i][t] = (int32_t)(hfgen_mix(&s) % (V < 250 ? V : 250));
        pp[i] = ids[i];
    }
    float *out = malloc(n_seqs * L * D * sizeof(float));
    ck_assert_profs_ok(profs_lm_pool_ids(lm, out, pp, lens, n_seqs, 0, NULL, NULL));
    return out;
}

/* Every committed transformers checkpoint (all families and their layouts), in this mode and in f32. */
/* 1 when this processor runs the mode (with whichever kernel it finds). */
static int mode_runs(int mode)
{
    const hfgen_spec *s = hfgen_fixture("mistral");
    char *p = tu_join(dir, "probe");
    profs_lm *lm;
    ck_assert_int_eq(hfgen_write(p, s), 0);
    ck_assert_profs_ok(profs_lm_open(&lm, p));
    int runs = profs_lm_set_compute(lm, mode) == PROFS_OK;
    profs_lm_free(lm);
    tu_rmtree(p);
    free(p);
    return runs;
}

static void modes_match_f32(int mode, unsigned isa, double tol)
{
    if (!mode_runs(mode) || !have(isa)) {
        fprintf(stderr, "test_compute: %s compute is not available here; skipped\n", profs_compute_name(mode));
        return;
    }
    char *root = tu_data_path("tf");
    DIR *d = opendir(root);
    if (!d) {
        fprintf(stderr, "test_compute: %s is not in this tree; skipped\n", root);
        free(root);
        return;
    }
    struct dirent *de;
    size_t models = 0;
    double worst = 0;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.') continue;
        char *p = tu_join(root, de->d_name);
        profs_lm *lm;
        ck_assert_profs_ok(profs_lm_open(&lm, p));
        for (int resident = 0; resident <= 1; resident++) {
            ck_assert_profs_ok(profs_lm_set_resident_bytes(lm, resident ? (size_t)1 << 30 : 0));
            ck_assert_profs_ok(profs_lm_set_compute(lm, PROFS_COMPUTE_F32));
            float *ref = pool(lm, 4);
            ck_assert_profs_ok(profs_lm_set_compute(lm, mode));
            ck_assert_int_eq(profs_lm_compute(lm), mode);
            float *got = pool(lm, 4);
            size_t L = profs_lm_n_layers(lm), D = profs_lm_hidden_size(lm);
            for (size_t i = 0; i < 4 * L; i++) {
                double e = tu_rel_err(got + i * D, ref + i * D, D);
                if (e > worst) worst = e;
                /* > 0: the mode really ran (f32 would give exactly the reference) */
                ck_assert_msg(e < tol && e > 0, "%s %s (resident %d): row %zu relative error %.3g", de->d_name,
                              profs_compute_name(mode), resident, i, e);
            }
            free(ref);
            free(got);
        }
        profs_lm_free(lm);
        free(p);
        models++;
    }
    closedir(d);
    free(root);
    ck_assert_uint_gt(models, 20);
    fprintf(stderr, "test_compute: %s on %zu checkpoints, largest relative error %.3g\n", profs_compute_name(mode),
            models, worst);
}

START_TEST(bf16_mode_matches_f32) { modes_match_f32(PROFS_COMPUTE_BF16, PF_ISA_AMX_TILE | PF_ISA_AMX_BF16, 2e-2); }
END_TEST

START_TEST(int8_mode_matches_f32) { modes_match_f32(PROFS_COMPUTE_INT8, 0, 0.5); }
END_TEST

/* The int8 mode gives the same pooled outputs, bit for bit, on every int8 kernel this processor has. */
START_TEST(int8_kernels_agree_through_the_runtime)
{
    static const char *const off[] = {"", "amx_int8", "amx_tile,avx512_vnni"};
    char *root = tu_data_path("tf");
    static const char *const models[] = {"mistral", "gpt2_bf16", "phi3", "qwen2_moe_bf16_fused", "llama_f16"};
    size_t compared = 0;
    for (size_t mi = 0; mi < sizeof models / sizeof models[0]; mi++) {
        char *p = tu_join(root, models[mi]);
        struct stat sb;
        if (stat(p, &sb)) { free(p); continue; }
        profs_lm *lm;
        ck_assert_profs_ok(profs_lm_open(&lm, p));
        float *first = NULL;
        char kernel0[32] = "";
        for (size_t i = 0; i < sizeof off / sizeof off[0]; i++) {
            setenv("PROFS_DISABLE_ISA", off[i], 1);
            if (profs_lm_set_compute(lm, PROFS_COMPUTE_INT8)) continue;
            if (!strcmp(profs_lm_compute_kernel(lm), kernel0)) continue; /* the same kernel again */
            float *got = pool(lm, 4);
            size_t bytes = 4 * profs_lm_n_layers(lm) * profs_lm_hidden_size(lm) * sizeof(float);
            if (!first) {
                first = got;
                snprintf(kernel0, sizeof kernel0, "%s", profs_lm_compute_kernel(lm));
                continue;
            }
            ck_assert_msg(memcmp(first, got, bytes) == 0, "%s: %s differs from %s", models[mi],
                          profs_lm_compute_kernel(lm), kernel0);
            compared++;
            free(got);
        }
        unsetenv("PROFS_DISABLE_ISA");
        free(first);
        profs_lm_free(lm);
        free(p);
    }
    free(root);
    fprintf(stderr, "test_compute: int8 kernels compared through the runtime: %zu\n", compared);
}
END_TEST

/* ---- refusals ---- */

START_TEST(refusals_name_the_instruction_set)
{
    const hfgen_spec *s = hfgen_fixture("mistral");
    char *p = tu_join(dir, "m");
    ck_assert_int_eq(hfgen_write(p, s), 0);
    profs_lm *lm;
    ck_assert_profs_ok(profs_lm_open(&lm, p));
    setenv("PROFS_DISABLE_ISA", "amx_tile,avx512_vnni,avx_vnni", 1);
    ck_assert_profs_error(profs_lm_set_compute(lm, PROFS_COMPUTE_BF16), PROFS_EUNSUPPORTED,
                          "bf16 compute needs the instruction set amx_tile");
    ck_assert_profs_error(profs_lm_set_compute(lm, PROFS_COMPUTE_INT8), PROFS_EUNSUPPORTED,
                          "int8 compute needs one of the instruction sets amx_int8 (Intel AMX), avx512_vnni or "
                          "avx_vnni");
    ck_assert(tu_contains(profs_last_error(), "PROFS_DISABLE_ISA"));
    ck_assert_int_eq(profs_lm_compute(lm), PROFS_COMPUTE_F32);
    if (have(PF_ISA_AMX_TILE)) {
        setenv("PROFS_DISABLE_ISA", "amx_bf16", 1);
        ck_assert_profs_error(profs_lm_set_compute(lm, PROFS_COMPUTE_BF16), PROFS_EUNSUPPORTED, "amx_bf16");
    }
    /* int8 falls back from AMX to AVX512-VNNI to AVX-VNNI */
    static const struct { const char *off; unsigned need; const char *kernel; } i8[] = {
        {"", PF_ISA_AMX_TILE | PF_ISA_AMX_INT8, "AMX-INT8 tiles"},
        {"amx_int8", PF_ISA_AVX512_VNNI | PF_ISA_AVX512BW, "AVX512-VNNI"},
        {"amx_tile, avx512_vnni", PF_ISA_AVX_VNNI | PF_ISA_AVX2, "AVX-VNNI"},
    };
    for (size_t i = 0; i < sizeof i8 / sizeof i8[0]; i++) {
        setenv("PROFS_DISABLE_ISA", i8[i].off, 1);
        if (!have(i8[i].need)) continue;
        ck_assert_profs_ok(profs_lm_set_compute(lm, PROFS_COMPUTE_INT8));
        ck_assert_str_eq(profs_lm_compute_kernel(lm), i8[i].kernel);
    }
    unsetenv("PROFS_DISABLE_ISA");
    ck_assert_profs_error(profs_lm_set_compute(lm, 7), PROFS_EINVAL, "compute mode 7 is not one of f32");
    ck_assert_profs_error(profs_lm_set_compute(NULL, PROFS_COMPUTE_F32), PROFS_EINVAL, "NULL runtime");
    ck_assert_profs_ok(profs_lm_set_compute(lm, PROFS_COMPUTE_F32));
    ck_assert_str_eq(profs_lm_compute_kernel(lm), "OpenBLAS sgemm");
    ck_assert_str_eq(profs_compute_name(PROFS_COMPUTE_BF16), "bf16");
    ck_assert_str_eq(profs_compute_name(PROFS_COMPUTE_INT8), "int8");
    ck_assert_ptr_null(profs_compute_name(3));
    ck_assert_int_eq(profs_lm_compute(NULL), PROFS_COMPUTE_F32);
    ck_assert_str_eq(profs_lm_compute_kernel(NULL), "OpenBLAS sgemm");
    if (have(PF_ISA_AMX_TILE | PF_ISA_AMX_BF16)) {
        ck_assert_profs_ok(profs_lm_set_compute(lm, PROFS_COMPUTE_BF16));
        ck_assert_str_eq(profs_lm_compute_kernel(lm), "AMX-BF16 tiles");
    }
    profs_lm_free(lm);
    free(p);
}
END_TEST

/* ---- what it does to an edit ---- */

#define N_PAIRS 64

static char *pref[N_PAIRS], *dispref[N_PAIRS];

static void read_pairs(void)
{
    if (pref[0]) return;
    char path[4096];
    snprintf(path, sizeof path, "%s/data/pairs.jsonl", getenv("PROFS_TEST_SRC") ? getenv("PROFS_TEST_SRC") : ".");
    FILE *fp = fopen(path, "r");
    ck_assert_msg(fp != NULL, "cannot open %s", path);
    char line[4096];
    for (size_t i = 0; i < N_PAIRS; i++) {
        ck_assert_ptr_nonnull(fgets(line, sizeof line, fp));
        json_error_t err;
        json_t *o = json_loads(line, 0, &err);
        ck_assert_ptr_nonnull(o);
        pref[i] = strdup(json_string_value(json_object_get(o, "preferred")));
        dispref[i] = strdup(json_string_value(json_object_get(o, "dispreferred")));
        json_decref(o);
    }
    fclose(fp);
}

/* Largest principal angle (degrees) between the column spans of the orthonormal bases a and b
 * (dim x k each, row-major: basis vector j is row j): acos of the smallest singular value of a b^T. */
static double max_angle_deg(const float *a, const float *b, size_t k, size_t dim)
{
    double *m = malloc(k * k * sizeof(double)), *sv = malloc(k * sizeof(double)), *sup = malloc(k * sizeof(double));
    for (size_t i = 0; i < k; i++)
        for (size_t j = 0; j < k; j++) {
            double d = 0;
            for (size_t t = 0; t < dim; t++) d += (double)a[i * dim + t] * b[j * dim + t];
            m[i * k + j] = d;
        }
    ck_assert_int_eq(LAPACKE_dgesvd(LAPACK_ROW_MAJOR, 'N', 'N', (int)k, (int)k, m, (int)k, sv, NULL, 1, NULL, 1, sup), 0);
    double smin = sv[k - 1] > 1 ? 1 : sv[k - 1];
    free(m); free(sv); free(sup);
    return acos(smin) * 180.0 / M_PI;
}

static profs_edit *edit_in_mode(profs_lm *lm, int mode)
{
    ck_assert_profs_ok(profs_lm_set_compute(lm, mode));
    profs_collector *c;
    ck_assert_profs_ok(profs_collector_new(&c, profs_lm_n_layers(lm), profs_lm_hidden_size(lm)));
    ck_assert_profs_ok(profs_lm_collect(lm, c, (const char *const *)pref, (const char *const *)dispref, N_PAIRS,
                                        NULL, NULL));
    profs_edit *e;
    ck_assert_profs_ok(profs_edit_estimate(&e, NULL, c, NULL, 0, NULL, NULL));
    profs_collector_free(c);
    return e;
}

/* The largest principal angle between the subspaces of edits made in f32 and in `mode` on every
 * committed checkpoint; with check, every angle must be below MAX_ANGLE_DEG and the ranks equal. */
static double edit_angles(int mode, int check)
{
    read_pairs();
    char *root = tu_data_path("tf");
    DIR *d = opendir(root);
    if (!d) {
        fprintf(stderr, "test_compute: %s is not in this tree; skipped\n", root);
        free(root);
        return 0;
    }
    struct dirent *de;
    size_t models = 0, rank_changes = 0;
    double worst = 0;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.') continue;
        char *m = tu_join(root, de->d_name), *tj = tu_join(m, "tokenizer.json");
        struct stat sb;
        if (stat(tj, &sb)) { free(m); free(tj); continue; }
        profs_lm *lm;
        ck_assert_profs_ok(profs_lm_open(&lm, m));
        profs_edit *e32 = edit_in_mode(lm, PROFS_COMPUTE_F32), *e16 = edit_in_mode(lm, mode);
        ck_assert_uint_eq(profs_edit_count(e32), profs_edit_count(e16));
        for (size_t i = 0; i < profs_edit_count(e32); i++) {
            size_t layer = profs_edit_layer_at(e32, i);
            const profs_subspace *a = profs_edit_get(e32, layer), *b = profs_edit_get(e16, layer);
            ck_assert_ptr_nonnull(b);
            size_t k = profs_subspace_rank(a);
            if (profs_subspace_rank(b) != k) {
                ck_assert_msg(!check, "%s layer %zu: rank %zu in f32, %zu in %s", de->d_name, layer, k,
                              profs_subspace_rank(b), profs_compute_name(mode));
                fprintf(stderr, "test_compute: %s: %s layer %zu has rank %zu, f32 %zu\n", profs_compute_name(mode),
                        de->d_name, layer, profs_subspace_rank(b), k);
                ck_assert_msg(profs_subspace_rank(b) + 1 >= k && profs_subspace_rank(b) <= k + 1,
                              "%s layer %zu: rank %zu in f32, %zu in %s", de->d_name, layer, k,
                              profs_subspace_rank(b), profs_compute_name(mode));
                rank_changes++;
                if (profs_subspace_rank(b) < k) k = profs_subspace_rank(b);
            }
            if (!k) continue;
            double ang = max_angle_deg(profs_subspace_basis(a), profs_subspace_basis(b), k, profs_subspace_dim(a));
            if (ang > worst) worst = ang;
            if (getenv("PROFS_TEST_VERBOSE")) fprintf(stderr, "  %s layer %zu rank %zu angle %.4f\n", de->d_name, layer, k, ang);
            ck_assert_msg(!check || ang < MAX_ANGLE_DEG, "%s layer %zu (rank %zu): principal angle %.3f degrees", de->d_name,
                          layer, k, ang);
        }
        profs_edit_free(e32);
        profs_edit_free(e16);
        profs_lm_free(lm);
        models++;
        free(m);
        free(tj);
    }
    closedir(d);
    free(root);
    ck_assert_uint_gt(models, 20);
    fprintf(stderr, "test_compute: %s edits of %zu checkpoints, largest principal angle to f32 %.4f degrees, "
            "%zu layers with another rank\n", profs_compute_name(mode), models, worst, rank_changes);
    return worst;
}

START_TEST(bf16_edit_subspaces_within_half_a_degree)
{
    if (!have(PF_ISA_AMX_TILE | PF_ISA_AMX_BF16)) {
        fprintf(stderr, "test_compute: no AMX-BF16 here; the subspace case is skipped\n");
        return;
    }
    (void)edit_angles(PROFS_COMPUTE_BF16, 1);
}
END_TEST

/* int8 does not meet the 0.5 degree goal: docs/runtime.md gives what it does (measured 6.9 degrees at
 * most, ranks off by one in 4 layers of MoE checkpoints); this holds it to that. */
START_TEST(int8_edit_subspaces_measured)
{
    if (!mode_runs(PROFS_COMPUTE_INT8)) {
        fprintf(stderr, "test_compute: no int8 kernel here; the subspace case is skipped\n");
        return;
    }
    double worst = edit_angles(PROFS_COMPUTE_INT8, 0);
    ck_assert_msg(worst > MAX_ANGLE_DEG && worst < 10.0, "int8: largest principal angle %.3f degrees", worst);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("compute");
    TCase *tc = tcase_create("compute");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, kernel_bf16_matches_double);
    tcase_add_test(tc, kernel_int8_matches_double);
    tcase_add_test(tc, bf16_mode_matches_f32);
    tcase_add_test(tc, int8_mode_matches_f32);
    tcase_add_test(tc, int8_kernels_agree_through_the_runtime);
    tcase_add_test(tc, refusals_name_the_instruction_set);
    tcase_add_test(tc, bf16_edit_subspaces_within_half_a_degree);
    tcase_add_test(tc, int8_edit_subspaces_measured);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return tu_run_suite(suite()); }
