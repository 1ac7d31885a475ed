/* Internal: element conversions between f32 and the on-disk dtypes. */
#ifndef PF_DTYPE_H
#define PF_DTYPE_H

#include <stddef.h>
#include <stdint.h>

float pf_bf16_to_f32(uint16_t h);
uint16_t pf_f32_to_bf16(float f);   /* round to nearest even; NaN stays NaN */
float pf_f16_to_f32(uint16_t h);
uint16_t pf_f32_to_f16(float f);    /* round to nearest even; overflow -> Inf */

/* double -> f32 rounded to odd: x itself when representable, else the neighbour toward zero
 * with its last mantissa bit forced to 1 (beyond FLT_MAX: +-FLT_MAX; never Inf). Rounding that
 * value to nearest even in any format with at least 2 fewer mantissa bits and no wider exponent
 * range (BF16, F16) equals rounding x itself (Boldo & Melquiond 2008): no double rounding. */
float pf_f64_to_f32_odd(double x);
/* double -> BF16 / F16, rounded once to nearest even (via pf_f64_to_f32_odd): NaN stays NaN;
 * overflow -> Inf (BF16: |x| >= 0x1.ffp127, F16: |x| >= 65520), as the f32 converters. */
uint16_t pf_f64_to_bf16(double x);
uint16_t pf_f64_to_f16(double x);

/* Convert n little-endian elements of dtype (F32, F16, BF16, F64) at src to f32.
 * Returns 0, or -1 for another dtype. src may be unaligned. */
int pf_convert_to_f32(float *dst, const void *src, int dtype, size_t n);
/* Convert n floats to dtype (F32, F16, BF16, F64) at dst (little-endian). Returns 0 or -1. */
int pf_convert_from_f32(void *dst, const float *src, int dtype, size_t n);

/* Index of the first of n converted elements of dtype at bytes that is Inf or NaN (an f32 value
 * too large for F16/BF16 rounds to Inf); n when all are finite. F32/F64: always n (their
 * values come from finite floats). */
size_t pf_first_nonfinite(const void *bytes, int dtype, size_t n);

/* 1 if dtype is one of F32, F16, BF16, F64. */
int pf_dtype_is_float(int dtype);

#endif
