/* The int8 products of the int8 compute mode on processors without AMX: AVX512-VNNI (zmm) or
 * AVX-VNNI (ymm) VPDPBUSD, which multiplies unsigned by signed bytes and sums in int32 without
 * saturation. The activations are quantised per token exactly as for the AMX kernel (qgemm.c) and
 * stored offset by 128 (u = q + 128, 0..255); sum_k u w = sum_k q w + 128 sum_k w, so subtracting
 * 128 times the weight row's sum gives the same exact int32 as AMX's TDPBSSD, and the same float
 * result after scaling. Blocks of 4 weight rows x 4 tokens keep 16 accumulators in registers. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/parallel.h"
#include "lm/qgemm.h"

typedef struct vjob {
    const int8_t *W;
    const float *sw;
    const int32_t *rowsum;
    const uint8_t *Xq;           /* (n4, ldw) u8, token rows */
    const float *sx;
    float *y;
    size_t ldy, ldw, n, n4, out;
    float beta;
} vjob;

/* u8 rows of the activations (q + 128, q as pf_qgemm_q8; 128 past in and in the padding rows) and their
 * scales. */
static void quantize_rows(uint8_t *Xq, float *sx, const float *x, size_t ldx, size_t n, size_t n4, size_t in,
                          size_t ldq)
{
    for (size_t t = 0; t < n4; t++) {
        uint8_t *d = Xq + t * ldq;
        memset(d, 128, ldq);
        if (t >= n) continue;
        const float *xr = x + t * ldx;
        float scale = pf_qgemm_token_scale(xr, in), inv = 1.0f / scale;
        sx[t] = scale;
        for (size_t k = 0; k < in; k++) d[k] = (uint8_t)(pf_qgemm_q8(xr[k] * inv) + 128);
    }
}

static void store4(const vjob *j, size_t o0, size_t t0, const int32_t acc[4][4])
{
    for (size_t b = 0; b < 4 && t0 + b < j->n; b++) {
        float *yr = j->y + (t0 + b) * j->ldy, st = j->sx[t0 + b];
        for (size_t a = 0; a < 4 && o0 + a < j->out; a++) {
            int32_t c = acc[a][b] - 128 * j->rowsum[o0 + a];
            float v = (float)c * (st * j->sw[o0 + a]);
            yr[o0 + a] = j->beta == 0.0f ? v : j->beta * yr[o0 + a] + v;
        }
    }
}

/* Tokens whose activations stay in the L2 cache while every weight row of the thread passes over them. */
#ifndef PANEL
#define PANEL 64
#endif

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

/* One 4-row x 4-token block over the whole row: 16 named accumulators (arrays of vectors were kept in
 * memory by the compiler), each a vector of int32 partial sums, reduced at the end. */
#define VNNI_BLOCK(VT, LOAD, ZERO, DP, STEP)                                                            \
    VT c00 = ZERO, c01 = ZERO, c02 = ZERO, c03 = ZERO, c10 = ZERO, c11 = ZERO, c12 = ZERO, c13 = ZERO,   \
       c20 = ZERO, c21 = ZERO, c22 = ZERO, c23 = ZERO, c30 = ZERO, c31 = ZERO, c32 = ZERO, c33 = ZERO;   \
    for (size_t k = 0; k < ldw; k += STEP) {                                                            \
        VT x0 = LOAD(xr + k), x1 = LOAD(xr + ldw + k), x2 = LOAD(xr + 2 * ldw + k), x3 = LOAD(xr + 3 * ldw + k); \
        VT w = LOAD(w0 + k);                                                                             \
        c00 = DP(c00, x0, w); c01 = DP(c01, x1, w); c02 = DP(c02, x2, w); c03 = DP(c03, x3, w);           \
        w = LOAD(w0 + ldw + k);                                                                          \
        c10 = DP(c10, x0, w); c11 = DP(c11, x1, w); c12 = DP(c12, x2, w); c13 = DP(c13, x3, w);           \
        w = LOAD(w0 + 2 * ldw + k);                                                                      \
        c20 = DP(c20, x0, w); c21 = DP(c21, x1, w); c22 = DP(c22, x2, w); c23 = DP(c23, x3, w);           \
        w = LOAD(w0 + 3 * ldw + k);                                                                      \
        c30 = DP(c30, x0, w); c31 = DP(c31, x1, w); c32 = DP(c32, x2, w); c33 = DP(c33, x3, w);           \
    }                                                                                                    \
    VT cs[4][4] = {{c00, c01, c02, c03}, {c10, c11, c12, c13}, {c20, c21, c22, c23}, {c30, c31, c32, c33}}

#define LOAD512(p) _mm512_loadu_si512((const void *)(p))
#define DP512(c, x, w) _mm512_dpbusd_epi32(c, x, w)
#define LOAD256(p) _mm256_loadu_si256((const __m256i *)(const void *)(p))
#define DP256(c, x, w) _mm256_dpbusd_avx_epi32(c, x, w)

__attribute__((target("avx512f,avx512bw,avx512vnni"))) static void rows_512(void *ud, size_t lo, size_t hi)
{
    const vjob *j = ud;
    size_t ldw = j->ldw;
    for (size_t tp = 0; tp < j->n4; tp += PANEL)
        for (size_t ob = lo; ob < hi; ob++) {
            const int8_t *w0 = j->W + ob * 4 * ldw;
            for (size_t t0 = tp; t0 < j->n4 && t0 < tp + PANEL; t0 += 4) {
                const uint8_t *xr = j->Xq + t0 * ldw;
                VNNI_BLOCK(__m512i, LOAD512, _mm512_setzero_si512(), DP512, 64);
                int32_t acc[4][4];
                for (int a = 0; a < 4; a++)
                    for (int b = 0; b < 4; b++) acc[a][b] = _mm512_reduce_add_epi32(cs[a][b]);
                store4(j, ob * 4, t0, acc);
            }
        }
}

__attribute__((target("avx2,avxvnni"))) static void rows_256(void *ud, size_t lo, size_t hi)
{
    const vjob *j = ud;
    size_t ldw = j->ldw;
    for (size_t tp = 0; tp < j->n4; tp += PANEL)
        for (size_t ob = lo; ob < hi; ob++) {
            const int8_t *w0 = j->W + ob * 4 * ldw;
            for (size_t t0 = tp; t0 < j->n4 && t0 < tp + PANEL; t0 += 4) {
                const uint8_t *xr = j->Xq + t0 * ldw;
                VNNI_BLOCK(__m256i, LOAD256, _mm256_setzero_si256(), DP256, 32);
                int32_t acc[4][4];
                for (int a = 0; a < 4; a++)
                    for (int b = 0; b < 4; b++) {
                        __m128i v = _mm_add_epi32(_mm256_castsi256_si128(cs[a][b]), _mm256_extracti128_si256(cs[a][b], 1));
                        v = _mm_add_epi32(v, _mm_shuffle_epi32(v, 0x4e));
                        v = _mm_add_epi32(v, _mm_shuffle_epi32(v, 0xb1));
                        acc[a][b] = _mm_cvtsi128_si32(v);
                    }
                store4(j, ob * 4, t0, acc);
            }
        }
}
#define HAVE_VNNI_KERNEL 1
#endif

int pf_qgemm_int8_vnni(float *y, size_t ldy, const float *x, size_t ldx, size_t n, const int8_t *W, const float *sw,
                       size_t ldw, size_t in, size_t out, float beta, int threads, int wide)
{
    if (n == 0 || out == 0) return 0;
#ifdef HAVE_VNNI_KERNEL
    size_t chunk = n < 256 ? n : 256, n4 = (chunk + 3) / 4 * 4, o4 = (out + 3) / 4 * 4;
    uint8_t *Xq = malloc(n4 * ldw);
    float *sx = malloc(n4 * sizeof(float));
    int32_t *rowsum = malloc(o4 * sizeof(int32_t));
    if (!Xq || !sx || !rowsum) {
        free(Xq);
        free(sx);
        free(rowsum);
        return pf_enomem("packed activations");
    }
    for (size_t o = 0; o < o4; o++) { /* rows past out are zero in the held matrix */
        int32_t s = 0;
        for (size_t k = 0; k < in; k++) s += W[o * ldw + k];
        rowsum[o] = s;
    }
    for (size_t t0 = 0; t0 < n; t0 += chunk) {
        size_t m = n - t0 < chunk ? n - t0 : chunk, m4 = (m + 3) / 4 * 4;
        quantize_rows(Xq, sx, x + t0 * ldx, ldx, m, m4, in, ldw);
        vjob j = {W, sw, rowsum, Xq, sx, y + t0 * ldy, ldy, ldw, m, m4, out, beta};
        pf_parallel_for(o4 / 4, 1, threads, wide ? rows_512 : rows_256, &j);
    }
    free(Xq);
    free(sx);
    free(rowsum);
    return 0;
#else
    (void)y; (void)ldy; (void)x; (void)ldx; (void)W; (void)sw; (void)ldw; (void)in; (void)beta; (void)threads;
    (void)wide;
    return pf_error(PROFS_EUNSUPPORTED, "int8 compute: this build has no VNNI kernel (x86-64 with GCC or clang only)");
#endif
}
