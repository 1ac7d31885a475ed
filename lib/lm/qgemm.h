/* Internal: the reduced-precision matrix products of the opt-in compute modes (qgemm.c). */
#ifndef PF_QGEMM_H
#define PF_QGEMM_H

#include <stddef.h>
#include <math.h>
#include <stdint.h>

#define PF_QGEMM_MAX_THREADS 64

/* The int8 form of an activation row, shared by every int8 kernel so that they all see the same
 * integers: the token's scale max |x| / 127 (1 for a zero row), and each value x / scale (times
 * inv = 1 / scale) rounded to nearest even and held to [-127, 127]. */
static inline float pf_qgemm_token_scale(const float *x, size_t in)
{
    float mx = 0.0f;
    for (size_t k = 0; k < in; k++) {
        float a = x[k] < 0 ? -x[k] : x[k];
        mx = a > mx ? a : mx;
    }
    return mx > 0 ? mx / 127.0f : 1.0f;
}

static inline int8_t pf_qgemm_q8(float v)
{
    long q = lrintf(v);
    return (int8_t)(q > 127 ? 127 : (q < -127 ? -127 : q));
}

/* Bytes of the packed activations of n rows of in_p (a multiple of 32; int8: of 64) inputs. */
size_t pf_qgemm_pack_bytes(size_t n, size_t in_p);

/* y (n, out) [ldy] = beta y + x (n, in) [ldx] (W + Wlo)^T on AMX-BF16 tiles, with W (and Wlo, or NULL)
 * BF16 rows of ldw elements (in_p, a multiple of 32 with in <= in_p <= ldw, of them read; W[o][k] for k
 * in [in, in_p) must be 0, and rows up to out rounded up to 32 must be readable). x is split into
 * hi = bf16(x) and lo = bf16(x - hi); the products W hi, W lo and Wlo hi are summed in f32 (Wlo lo,
 * below 2^-16 of the rest, is left out). The caller has checked pf_cpu_isa() for PF_ISA_AMX_BF16.
 * Returns 0 or PROFS_ENOMEM. */
int pf_qgemm_bf16(float *y, size_t ldy, const float *x, size_t ldx, size_t n, const uint16_t *W,
                  const uint16_t *Wlo, size_t ldw, size_t in, size_t in_p, size_t out, float beta, int threads);

/* As pf_qgemm_bf16 on AMX-INT8 tiles: W int8 rows of ldw bytes (in_p a multiple of 64) with per-row
 * scales sw (out); x is quantised per token (max |x| / 127, round to nearest); int32 sums scaled back. */
int pf_qgemm_int8(float *y, size_t ldy, const float *x, size_t ldx, size_t n, const int8_t *W, const float *sw,
                  size_t ldw, size_t in, size_t in_p, size_t out, float beta, int threads);

/* pf_qgemm_int8 on AVX512-VNNI (wide) or AVX-VNNI for processors without AMX (qgemm_vnni.c): the
 * same quantisation and the same exact int32 sums, so the same result bit for bit. W's rows are
 * ldw bytes (a multiple of 64), zero past in, readable up to out rounded up to 32. */
int pf_qgemm_int8_vnni(float *y, size_t ldy, const float *x, size_t ldx, size_t n, const int8_t *W, const float *sw,
                       size_t ldw, size_t in, size_t out, float beta, int threads, int wide);

#endif
