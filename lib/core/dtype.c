/* Element types: names, sizes, and f32 conversions (round to nearest even). */
#include "core/dtype.h"

#include <string.h>

#include "profs/common.h"

static const struct { const char *name; size_t size; } dtypes[PROFS_DTYPE_COUNT_] = {
    [PROFS_DTYPE_F32] = {"F32", 4},   [PROFS_DTYPE_F16] = {"F16", 2},
    [PROFS_DTYPE_BF16] = {"BF16", 2}, [PROFS_DTYPE_F64] = {"F64", 8},
    [PROFS_DTYPE_I8] = {"I8", 1},     [PROFS_DTYPE_I16] = {"I16", 2},
    [PROFS_DTYPE_I32] = {"I32", 4},   [PROFS_DTYPE_I64] = {"I64", 8},
    [PROFS_DTYPE_U8] = {"U8", 1},     [PROFS_DTYPE_U16] = {"U16", 2},
    [PROFS_DTYPE_U32] = {"U32", 4},   [PROFS_DTYPE_U64] = {"U64", 8},
    [PROFS_DTYPE_BOOL] = {"BOOL", 1}, [PROFS_DTYPE_F8_E4M3] = {"F8_E4M3", 1},
    [PROFS_DTYPE_F8_E5M2] = {"F8_E5M2", 1},
};

size_t profs_dtype_size(int dtype)
{
    return (dtype >= 0 && dtype < PROFS_DTYPE_COUNT_) ? dtypes[dtype].size : 0;
}

const char *profs_dtype_name(int dtype)
{
    return (dtype >= 0 && dtype < PROFS_DTYPE_COUNT_) ? dtypes[dtype].name : NULL;
}

int profs_dtype_from_name(int *dtype, const char *name)
{
    if (!dtype || !name) return PROFS_EINVAL;
    for (int i = 0; i < PROFS_DTYPE_COUNT_; i++)
        if (strcmp(dtypes[i].name, name) == 0) { *dtype = i; return PROFS_OK; }
    return PROFS_ENOTFOUND;
}

int pf_dtype_is_float(int dtype)
{
    return dtype == PROFS_DTYPE_F32 || dtype == PROFS_DTYPE_F16 ||
           dtype == PROFS_DTYPE_BF16 || dtype == PROFS_DTYPE_F64;
}

static uint32_t f32_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static float bits_f32(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

float pf_bf16_to_f32(uint16_t h) { return bits_f32((uint32_t)h << 16); }

uint16_t pf_f32_to_bf16(float f)
{
    uint32_t u = f32_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u)          /* NaN: keep quiet NaN, keep sign */
        return (uint16_t)((u >> 16) | 0x0040u);
    u += 0x7fffu + ((u >> 16) & 1u);              /* round to nearest even */
    return (uint16_t)(u >> 16);
}

float pf_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu, man = h & 0x3ffu;
    if (exp == 0) {
        /* zero or subnormal: man * 2^-24 */
        float v = (float)man * (1.0f / 16777216.0f);
        return sign ? -v : v;
    }
    if (exp == 31) return bits_f32(sign | 0x7f800000u | (man << 13));
    return bits_f32(sign | ((exp + 112u) << 23) | (man << 13));
}

uint16_t pf_f32_to_f16(float f)
{
    uint32_t u = f32_bits(f);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
    uint32_t a = u & 0x7fffffffu;
    if (a > 0x7f800000u) return (uint16_t)(sign | 0x7e00u);      /* NaN */
    if (a >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u);     /* rounds to >= 65520: Inf */
    if (a < 0x38800000u) {                                       /* below 2^-14: subnormal or zero */
        if (a < 0x33000000u) return sign;                        /* < 2^-25: rounds to zero */
        uint32_t e = a >> 23, m = (a & 0x7fffffu) | 0x800000u;
        uint32_t shift = 126u - e;                               /* >= 14 here */
        /* value = m * 2^(e-150); f16 subnormal unit = 2^-24 -> result = m >> (126 - e) */
        uint32_t r = m >> shift;
        uint32_t rem = m & ((1u << shift) - 1u), half = 1u << (shift - 1u);
        if (rem > half || (rem == half && (r & 1u))) r++;
        return (uint16_t)(sign | r);
    }
    /* normal: rebias exponent 127 -> 15, round mantissa 23 -> 10 bits to nearest even */
    uint32_t r = a - 0x38000000u;                                /* (127-15) << 23 */
    r += 0xfffu + ((r >> 13) & 1u);
    return (uint16_t)(sign | (r >> 13));
}

float pf_f64_to_f32_odd(double x)
{
    float f = (float)x;                      /* nearest even (may overflow to Inf) */
    if (x != x || (double)f == x) return f;  /* NaN, or exact */
    uint32_t u = f32_bits(f);
    /* |f| beyond |x|: step the magnitude down to the truncation (Inf -> FLT_MAX) */
    if (x > 0 ? (double)f > x : (double)f < x) u -= 1u;
    return bits_f32(u | 1u);                 /* inexact: last bit 1 */
}

uint16_t pf_f64_to_bf16(double x) { return pf_f32_to_bf16(pf_f64_to_f32_odd(x)); }
uint16_t pf_f64_to_f16(double x) { return pf_f32_to_f16(pf_f64_to_f32_odd(x)); }

static uint16_t rd16(const unsigned char *p) { return (uint16_t)(p[0] | (p[1] << 8)); }

int pf_convert_to_f32(float *dst, const void *src, int dtype, size_t n)
{
    const unsigned char *s = src;
    switch (dtype) {
    case PROFS_DTYPE_F32: memcpy(dst, src, n * 4); return 0;
    case PROFS_DTYPE_BF16:
        for (size_t i = 0; i < n; i++) dst[i] = pf_bf16_to_f32(rd16(s + 2 * i));
        return 0;
    case PROFS_DTYPE_F16:
        for (size_t i = 0; i < n; i++) dst[i] = pf_f16_to_f32(rd16(s + 2 * i));
        return 0;
    case PROFS_DTYPE_F64:
        for (size_t i = 0; i < n; i++) { double d; memcpy(&d, s + 8 * i, 8); dst[i] = (float)d; }
        return 0;
    default: return -1;
    }
}

size_t pf_first_nonfinite(const void *bytes, int dtype, size_t n)
{
    const unsigned char *d = bytes;
    uint16_t mask;
    if (dtype == PROFS_DTYPE_F16) mask = 0x7c00;
    else if (dtype == PROFS_DTYPE_BF16) mask = 0x7f80;
    else return n;
    for (size_t i = 0; i < n; i++) {
        uint16_t h = (uint16_t)(d[2 * i] | (d[2 * i + 1] << 8));
        if ((h & mask) == mask) return i;
    }
    return n;
}

int pf_convert_from_f32(void *dst, const float *src, int dtype, size_t n)
{
    unsigned char *d = dst;
    switch (dtype) {
    case PROFS_DTYPE_F32: memcpy(dst, src, n * 4); return 0;
    case PROFS_DTYPE_BF16:
        for (size_t i = 0; i < n; i++) { uint16_t h = pf_f32_to_bf16(src[i]); d[2*i] = (unsigned char)h; d[2*i+1] = (unsigned char)(h >> 8); }
        return 0;
    case PROFS_DTYPE_F16:
        for (size_t i = 0; i < n; i++) { uint16_t h = pf_f32_to_f16(src[i]); d[2*i] = (unsigned char)h; d[2*i+1] = (unsigned char)(h >> 8); }
        return 0;
    case PROFS_DTYPE_F64:
        for (size_t i = 0; i < n; i++) { double v = src[i]; memcpy(d + 8 * i, &v, 8); }
        return 0;
    default: return -1;
    }
}
