/* Reduced-precision matrix products of the runtime's opt-in compute modes
 * (profs_lm_set_compute) on Intel AMX tiles: y (n, out) = beta y + x (n, in) W^T
 * with W held in BF16 (TDPBF16PS, f32 sums) or int8 (TDPBSSD, int32 sums).
 *
 * The product is computed transposed, C^T = W X^T, so that W is read as the
 * tiles' row-major A operand straight from its [out, in] rows (a BF16
 * checkpoint's mapping is used as it is) and only the activations are
 * re-laid, 256 tokens at a time, into the B operand's interleaved layout
 * (16 tokens x 32 inputs per BF16 tile, x 64 per int8 tile): for bf16 as two
 * halves, hi = bf16(x) and lo = bf16(x - hi); for int8 quantised per token.
 * Each thread takes a contiguous range of 32-row blocks of W and, for every
 * pair of 16-token blocks, accumulates a 2 x 2 block of 16 x 16 tiles over the
 * whole inner dimension; each output element is the same sum in the same order
 * whatever the thread count or the other tokens of the call. The int8 kernels
 * for processors without AMX are in qgemm_vnni.c. */
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/cpu.h"
#include "core/dtype.h"
#include "core/error.h"
#include "core/parallel.h"
#include "lm/qgemm.h"

#define TILE_TOKENS 16
#define TILE_K 32            /* BF16 elements of one tile row (64 bytes) */
#define TILE_BYTES 1024

static inline uint16_t bf16_rne(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40); /* NaN stays a (quiet) NaN */
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

size_t pf_qgemm_pack_bytes(size_t n, size_t in_p)
{
    return ((n + TILE_TOKENS - 1) / TILE_TOKENS) * (in_p / TILE_K) * TILE_BYTES;
}

/* Xp [ntb][nkb][2] tiles of 16 rows (input pairs) x 16 tokens x 2 BF16: element (token t, input k)
 * of token block tb, input block kb is at tile[(k % 32) / 2][t][k % 2]; tile 0 holds hi = bf16(x),
 * tile 1 lo = bf16(x - hi), so that hi + lo carries 16 significant bits of x. Tokens past n and
 * inputs past in are zero. */
static void pack_x(uint32_t *Xp, const float *x, size_t ldx, size_t n, size_t in, size_t in_p, size_t tb0,
                   size_t tb1)
{
    size_t nkb = in_p / TILE_K;
    for (size_t tb = tb0; tb < tb1; tb++)
        for (size_t t = 0; t < TILE_TOKENS; t++) {
            size_t row = tb * TILE_TOKENS + t;
            uint32_t *base = Xp + tb * nkb * 2 * 256 + t;
            const float *xr = row < n ? x + row * ldx : NULL;
            for (size_t kb = 0; kb < nkb; kb++) {
                uint32_t *hi = base + kb * 2 * 256, *lo = hi + 256;
                for (size_t r = 0; r < 16; r++) {
                    size_t k = kb * TILE_K + 2 * r;
                    float f0 = xr && k < in ? xr[k] : 0.0f, f1 = xr && k + 1 < in ? xr[k + 1] : 0.0f;
                    uint16_t h0 = bf16_rne(f0), h1 = bf16_rne(f1);
                    uint32_t u0 = (uint32_t)h0 << 16, u1 = (uint32_t)h1 << 16;
                    float g0, g1;
                    memcpy(&g0, &u0, sizeof g0);
                    memcpy(&g1, &u1, sizeof g1);
                    hi[r * 16] = (uint32_t)h0 | ((uint32_t)h1 << 16);
                    lo[r * 16] = (uint32_t)bf16_rne(f0 - g0) | ((uint32_t)bf16_rne(f1 - g1) << 16);
                }
            }
        }
}

/* The int8 form of the activations: per token t a scale sx[t] = max |x[t]| / 127 (1 for a zero row)
 * and q = round(x / sx) in [-127, 127]; packed as [ntb][in_p / 64] tiles of 16 rows (input quads)
 * x 16 tokens x 4 int8: element (t, k) of its block at tile[(k % 64) / 4][t][k % 4]. */
static void pack_x_int8(uint32_t *Xp, float *sx, const float *x, size_t ldx, size_t n, size_t in, size_t in_p,
                        size_t tb0, size_t tb1)
{
    size_t nkb = in_p / 64;
    for (size_t tb = tb0; tb < tb1; tb++)
        for (size_t t = 0; t < TILE_TOKENS; t++) {
            size_t row = tb * TILE_TOKENS + t;
            uint32_t *base = Xp + tb * nkb * (TILE_BYTES / 4) + t;
            if (row >= n) {
                for (size_t kb = 0; kb < nkb; kb++)
                    for (size_t r = 0; r < 16; r++) base[kb * 256 + r * 16] = 0;
                continue;
            }
            const float *xr = x + row * ldx;
            float scale = pf_qgemm_token_scale(xr, in), inv = 1.0f / scale;
            sx[row] = scale;
            for (size_t kb = 0; kb < nkb; kb++) {
                uint32_t *tile = base + kb * 256;
                for (size_t r = 0; r < 16; r++) {
                    uint32_t v = 0;
                    for (size_t j = 0; j < 4; j++) {
                        size_t k = kb * 64 + 4 * r + j;
                        int8_t q = k < in ? pf_qgemm_q8(xr[k] * inv) : 0;
                        v |= (uint32_t)(uint8_t)q << (8 * j);
                    }
                    tile[r * 16] = v;
                }
            }
        }
}

typedef struct qjob {
    const void *W;
    const uint16_t *Wlo;         /* bf16: the weights' low parts (NULL: the weights are BF16 exactly) */
    size_t ldw;
    const float *sw, *sx;        /* int8: per weight row and per token scales */
    const uint32_t *Xp;
    float *y;
    size_t ldy, n, in_p, out, ob0, ob1;
    float beta;
} qjob;

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

typedef struct tilecfg {
    uint8_t palette, start_row, reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} tilecfg;

/* Every kernel uses the 8 tiles as 16 rows x 64 bytes (palette 1); a thread configures them before use. */
__attribute__((target("amx-tile"))) static void load_tiles(void)
{
    tilecfg cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.palette = 1;
    for (int i = 0; i < 8; i++) {
        cfg.colsb[i] = 64;
        cfg.rows[i] = 16;
    }
    _tile_loadconfig(&cfg);
}

/* y[t][o] = beta y[t][o] + c[o - o0][t - t0] for the tile's rows o < out and tokens t < n. */
static void store_tile(const qjob *j, const float *c, size_t o0, size_t t0)
{
    size_t no = j->out - o0 < 16 ? j->out - o0 : 16, nt = j->n - t0 < 16 ? j->n - t0 : 16;
    for (size_t t = 0; t < nt; t++) {
        float *yr = j->y + (t0 + t) * j->ldy + o0;
        if (j->beta == 0.0f)
            for (size_t o = 0; o < no; o++) yr[o] = c[o * 16 + t];
        else
            for (size_t o = 0; o < no; o++) yr[o] = j->beta * yr[o] + c[o * 16 + t];
    }
}

/* Per 32-input step: C += W (hi) X (hi), W (hi) X (lo) and, when the weights have a low part,
 * W (lo) X (hi); tiles 0-3 accumulate the 2 x 2 block, 4-5 hold W, 6-7 X. */
__attribute__((target("amx-tile,amx-bf16"))) static void *run_bf16(void *arg)
{
    const qjob *j = arg;
    const uint16_t *W = j->W, *Wlo = j->Wlo;
    load_tiles();
    size_t nkb = j->in_p / TILE_K, ntb = (j->n + TILE_TOKENS - 1) / TILE_TOKENS;
    size_t lda = j->ldw * sizeof(uint16_t);
    float c[4][256] __attribute__((aligned(64)));
    for (size_t ob = j->ob0; ob < j->ob1; ob++) {
        size_t r0 = ob * 32 * j->ldw;
        const uint16_t *a0 = W + r0, *a1 = a0 + 16 * j->ldw;
        const uint16_t *l0 = Wlo ? Wlo + r0 : NULL, *l1 = Wlo ? l0 + 16 * j->ldw : NULL;
        int two_o = ob * 32 + 16 < j->out;
        for (size_t tb = 0; tb < ntb; tb += 2) {
            int two_t = tb + 1 < ntb;
            const uint32_t *b0 = j->Xp + tb * nkb * 512, *b1 = b0 + nkb * 512;
            _tile_zero(0);
            _tile_zero(1);
            _tile_zero(2);
            _tile_zero(3);
            if (two_t && two_o && !Wlo) {
                for (size_t kb = 0; kb < nkb; kb++) {
                    _tile_loadd(4, a0 + kb * TILE_K, lda);
                    _tile_loadd(6, b0 + kb * 512, 64);
                    _tile_loadd(5, a1 + kb * TILE_K, lda);
                    _tile_loadd(7, b1 + kb * 512, 64);
                    _tile_dpbf16ps(0, 4, 6);
                    _tile_dpbf16ps(1, 5, 6);
                    _tile_dpbf16ps(2, 4, 7);
                    _tile_dpbf16ps(3, 5, 7);
                    _tile_loadd(6, b0 + kb * 512 + 256, 64);
                    _tile_loadd(7, b1 + kb * 512 + 256, 64);
                    _tile_dpbf16ps(0, 4, 6);
                    _tile_dpbf16ps(1, 5, 6);
                    _tile_dpbf16ps(2, 4, 7);
                    _tile_dpbf16ps(3, 5, 7);
                }
            } else {
                for (size_t kb = 0; kb < nkb; kb++)
                    for (int part = 0; part < (Wlo ? 3 : 2); part++) {
                        /* part 0: W hi x X hi, 1: W hi x X lo, 2: W lo x X hi */
                        const uint16_t *w0 = part == 2 ? l0 : a0, *w1 = part == 2 ? l1 : a1;
                        size_t xo = kb * 512 + (part == 1 ? 256 : 0);
                        _tile_loadd(4, w0 + kb * TILE_K, lda);
                        _tile_loadd(6, b0 + xo, 64);
                        _tile_dpbf16ps(0, 4, 6);
                        if (two_o) {
                            _tile_loadd(5, w1 + kb * TILE_K, lda);
                            _tile_dpbf16ps(1, 5, 6);
                        }
                        if (two_t) {
                            _tile_loadd(7, b1 + xo, 64);
                            _tile_dpbf16ps(2, 4, 7);
                            if (two_o) _tile_dpbf16ps(3, 5, 7);
                        }
                    }
            }
            _tile_stored(0, c[0], 64);
            _tile_stored(1, c[1], 64);
            _tile_stored(2, c[2], 64);
            _tile_stored(3, c[3], 64);
            store_tile(j, c[0], ob * 32, tb * 16);
            if (two_o) store_tile(j, c[1], ob * 32 + 16, tb * 16);
            if (two_t) store_tile(j, c[2], ob * 32, tb * 16 + 16);
            if (two_t && two_o) store_tile(j, c[3], ob * 32 + 16, tb * 16 + 16);
        }
    }
    _tile_release();
    return NULL;
}

/* int8: the same blocking with 64 inputs per tile row (TDPBSSD, exact int32 sums), each tile scaled
 * by the rows' and tokens' scales as it is stored. */
static void store_tile_int8(const qjob *j, const int32_t *c, size_t o0, size_t t0)
{
    size_t no = j->out - o0 < 16 ? j->out - o0 : 16, nt = j->n - t0 < 16 ? j->n - t0 : 16;
    for (size_t t = 0; t < nt; t++) {
        float *yr = j->y + (t0 + t) * j->ldy + o0, st = j->sx[t0 + t];
        for (size_t o = 0; o < no; o++) {
            float v = (float)c[o * 16 + t] * (st * j->sw[o0 + o]);
            yr[o] = j->beta == 0.0f ? v : j->beta * yr[o] + v;
        }
    }
}

__attribute__((target("amx-tile,amx-int8"))) static void *run_int8(void *arg)
{
    const qjob *j = arg;
    const int8_t *W = j->W;
    load_tiles();
    size_t nkb = j->in_p / 64, ntb = (j->n + TILE_TOKENS - 1) / TILE_TOKENS;
    int32_t c[4][256] __attribute__((aligned(64)));
    for (size_t ob = j->ob0; ob < j->ob1; ob++) {
        const int8_t *a0 = W + ob * 32 * j->ldw, *a1 = a0 + 16 * j->ldw;
        int two_o = ob * 32 + 16 < j->out;
        for (size_t tb = 0; tb < ntb; tb += 2) {
            int two_t = tb + 1 < ntb;
            const uint32_t *b0 = j->Xp + tb * nkb * 256, *b1 = b0 + nkb * 256;
            _tile_zero(0);
            _tile_zero(1);
            _tile_zero(2);
            _tile_zero(3);
            for (size_t kb = 0; kb < nkb; kb++) {
                _tile_loadd(4, a0 + kb * 64, j->ldw);
                _tile_loadd(6, b0 + kb * 256, 64);
                _tile_dpbssd(0, 4, 6);
                if (two_o) {
                    _tile_loadd(5, a1 + kb * 64, j->ldw);
                    _tile_dpbssd(1, 5, 6);
                }
                if (two_t) {
                    _tile_loadd(7, b1 + kb * 256, 64);
                    _tile_dpbssd(2, 4, 7);
                    if (two_o) _tile_dpbssd(3, 5, 7);
                }
            }
            _tile_stored(0, c[0], 64);
            _tile_stored(1, c[1], 64);
            _tile_stored(2, c[2], 64);
            _tile_stored(3, c[3], 64);
            store_tile_int8(j, c[0], ob * 32, tb * 16);
            if (two_o) store_tile_int8(j, c[1], ob * 32 + 16, tb * 16);
            if (two_t) store_tile_int8(j, c[2], ob * 32, tb * 16 + 16);
            if (two_t && two_o) store_tile_int8(j, c[3], ob * 32 + 16, tb * 16 + 16);
        }
    }
    _tile_release();
    return NULL;
}
#define HAVE_AMX_KERNEL 1
#endif

#ifdef HAVE_AMX_KERNEL
/* Packing split by token blocks over the threads (each block is written by one of them). */
typedef struct pack_job { uint32_t *Xp; float *sx; const float *x; size_t ldx, n, in, in_p; } pack_job;

static void pack_part(void *ud, size_t lo, size_t hi)
{
    const pack_job *p = ud;
    if (p->sx) pack_x_int8(p->Xp, p->sx, p->x, p->ldx, p->n, p->in, p->in_p, lo, hi);
    else pack_x(p->Xp, p->x, p->ldx, p->n, p->in, p->in_p, lo, hi);
}

static void pack(uint32_t *Xp, float *sx, const float *x, size_t ldx, size_t n, size_t in, size_t in_p, int threads)
{
    pack_job p = {Xp, sx, x, ldx, n, in, in_p};
    size_t ntb = (n + TILE_TOKENS - 1) / TILE_TOKENS;
    pf_parallel_for(ntb, 1, n * in >= 65536 ? threads : 1, pack_part, &p);
}

/* Split the 32-row blocks of W over the threads; the calling thread takes the first share. */
static void run_threads(void *(*fn)(void *), qjob proto, int threads)
{
    size_t nob = (proto.out + 31) / 32;
    if (threads < 1) threads = 1;
    if ((size_t)threads > nob) threads = (int)nob;
    if (threads > PF_QGEMM_MAX_THREADS) threads = PF_QGEMM_MAX_THREADS;
    qjob jobs[PF_QGEMM_MAX_THREADS];
    pthread_t th[PF_QGEMM_MAX_THREADS];
    int started[PF_QGEMM_MAX_THREADS] = {0};
    for (int i = 0; i < threads; i++) {
        jobs[i] = proto;
        jobs[i].ob0 = nob * (size_t)i / (size_t)threads;
        jobs[i].ob1 = nob * (size_t)(i + 1) / (size_t)threads;
    }
    for (int i = 1; i < threads; i++) started[i] = pthread_create(&th[i], NULL, fn, &jobs[i]) == 0;
    fn(&jobs[0]);
    for (int i = 1; i < threads; i++) {
        if (started[i]) pthread_join(th[i], NULL);
        else fn(&jobs[i]); /* no thread: this one does the share */
    }
}
#endif

/* Tokens per packed chunk of X: every 32-row block of W reads the whole packed chunk, which must stay in
 * the caches (a 4096-token X streamed from memory once per block of W made a 64 x 64 batch slower than
 * one 512-token sequence); W is read once per chunk. */
#ifndef PF_QGEMM_CHUNK
#define PF_QGEMM_CHUNK 256
#endif

int pf_qgemm_bf16(float *y, size_t ldy, const float *x, size_t ldx, size_t n, const uint16_t *W,
                  const uint16_t *Wlo, size_t ldw, size_t in, size_t in_p, size_t out, float beta, int threads)
{
    if (n == 0 || out == 0) return 0;
#ifdef HAVE_AMX_KERNEL
    size_t chunk = n < PF_QGEMM_CHUNK ? n : PF_QGEMM_CHUNK;
    uint32_t *Xp = aligned_alloc(64, 2 * pf_qgemm_pack_bytes(chunk, in_p));
    if (!Xp) return pf_enomem("packed activations");
    for (size_t t0 = 0; t0 < n; t0 += chunk) {
        size_t m = n - t0 < chunk ? n - t0 : chunk;
        pack(Xp, NULL, x + t0 * ldx, ldx, m, in, in_p, threads);
        qjob proto = {W, Wlo, ldw, NULL, NULL, Xp, y + t0 * ldy, ldy, m, in_p, out, 0, 0, beta};
        run_threads(run_bf16, proto, threads);
    }
    free(Xp);
    return 0;
#else
    (void)y; (void)ldy; (void)x; (void)ldx; (void)W; (void)Wlo; (void)ldw; (void)in; (void)in_p; (void)beta;
    (void)threads;
    return pf_error(PROFS_EUNSUPPORTED, "bf16 compute: this build has no AMX kernel (x86-64 with GCC or clang only)");
#endif
}

int pf_qgemm_int8(float *y, size_t ldy, const float *x, size_t ldx, size_t n, const int8_t *W, const float *sw,
                  size_t ldw, size_t in, size_t in_p, size_t out, float beta, int threads)
{
    if (n == 0 || out == 0) return 0;
#ifdef HAVE_AMX_KERNEL
    size_t chunk = n < PF_QGEMM_CHUNK ? n : PF_QGEMM_CHUNK;
    uint32_t *Xp = aligned_alloc(64, pf_qgemm_pack_bytes(chunk, in_p));
    float *sx = malloc(chunk * sizeof(float));
    if (!Xp || !sx) {
        free(Xp);
        free(sx);
        return pf_enomem("packed activations");
    }
    for (size_t t0 = 0; t0 < n; t0 += chunk) {
        size_t m = n - t0 < chunk ? n - t0 : chunk;
        pack(Xp, sx, x + t0 * ldx, ldx, m, in, in_p, threads);
        qjob proto = {W, NULL, ldw, sw, sx, Xp, y + t0 * ldy, ldy, m, in_p, out, 0, 0, beta};
        run_threads(run_int8, proto, threads);
    }
    free(Xp);
    free(sx);
    return 0;
#else
    (void)y; (void)ldy; (void)x; (void)ldx; (void)W; (void)sw; (void)ldw; (void)in; (void)in_p; (void)beta;
    (void)threads;
    return pf_error(PROFS_EUNSUPPORTED, "int8 compute: this build has no AMX kernel (x86-64 with GCC or clang only)");
#endif
}
