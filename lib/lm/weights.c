/* Per-block weights as f32: F32 tensors are used in place from the mapping,
 * F16/BF16 are converted into a buffer; dropping releases the mapped pages.
 * Under the BF16 compute mode the matrices of the products are held in BF16
 * instead (pf_wt.q): a BF16 [out, in] tensor whose dimensions are multiples of
 * 32 is used in place, anything else (F32, F16, Conv1D's [in, out], other
 * sizes) is converted once per load, rounded to nearest even and zero-padded. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/dtype.h"
#include "core/error.h"
#include "lm/lm_internal.h"

/* BF16 -> f32 is a 16-bit shift; a loop the compiler vectorises (the generic
 * converter calls a function per element). */
#if defined(__GNUC__) && !defined(__clang__)
__attribute__((optimize("O3")))
#endif
static void bf16_to_f32(float *restrict dst, const void *restrict src, size_t n)
{
    const unsigned char *s = src;
    for (size_t i = 0; i < n; i++) {
        uint32_t u = ((uint32_t)s[2 * i] | ((uint32_t)s[2 * i + 1] << 8)) << 16;
        memcpy(&dst[i], &u, sizeof u);
    }
}

/* Convert tensor `name` into dst (numel floats) and release its mapped pages. */
static int convert_into(const profs_lm *lm, float *dst, const char *name, int dt, const void *data, size_t numel)
{
    if (dt == PROFS_DTYPE_BF16) bf16_to_f32(dst, data, numel);
    else if (pf_convert_to_f32(dst, data, dt, numel))
        return pf_error(PROFS_EUNSUPPORTED, "tensor '%s': dtype not convertible", name);
    (void)profs_model_release(lm->model, name); /* the f32 copy is what stays resident */
    return 0;
}

static int tensor_raw(const profs_lm *lm, const char *name, int *dt, const void **data, uint64_t *numel)
{
    uint64_t nbytes;
    int rc = profs_model_tensor_info(lm->model, name, dt, NULL, NULL);
    if (!rc) rc = profs_model_tensor_size(lm->model, name, numel, NULL);
    if (!rc) rc = profs_model_tensor_data(lm->model, name, data, &nbytes);
    if (rc) return pf_error(rc, "%s: cannot read tensor '%s'", profs_model_path(lm->model), name);
    return 0;
}

static int in_place(int dt, const void *data)
{
    return dt == PROFS_DTYPE_F32 && ((uintptr_t)data % sizeof(float)) == 0;
}

#define ROUNDUP(v, m) (((v) + (m) - 1) / (m) * (m))

int pf_slot_is_product(int s)
{
    switch (s) {
    case PF_QKV_W: case PF_Q_W: case PF_K_W: case PF_V_W: case PF_O_W: case PF_GATE_W: case PF_UP_W:
    case PF_DOWN_W: case PF_SH_GATE_W: case PF_SH_UP_W: case PF_SH_DOWN_W:
        return 1;
    default:
        return 0;
    }
}

/* Row o of the [out, in] matrix W[o][k] stored row-major (conv1d: stored [in, out], W[o][k] =
 * data[k][o]) as f32. */
static void row_f32(float *dst, const void *data, int dt, size_t out, size_t in, size_t o, int conv1d)
{
    size_t es = profs_dtype_size(dt);
    if (!conv1d) {
        if (dt == PROFS_DTYPE_BF16) bf16_to_f32(dst, (const char *)data + o * in * es, in);
        else (void)pf_convert_to_f32(dst, (const char *)data + o * in * es, dt, in);
        return;
    }
    for (size_t k = 0; k < in; k++) (void)pf_convert_to_f32(dst + k, (const char *)data + (k * out + o) * es, dt, 1);
}

/* The geometry of a matrix held in the compute mode: element size, row length and rows allocated
 * (out rounded up to 32, plus 32 for the row views of a fused tensor such as phi3's gate_up_proj). */
typedef struct qgeom { size_t esize, ldq, rows; } qgeom;

static qgeom geom(const profs_lm *lm, size_t out, size_t in)
{
    int i8 = lm->compute == PROFS_COMPUTE_INT8;
    qgeom g = {i8 ? 1 : 2, ROUNDUP(in, i8 ? 64 : 32), ROUNDUP(out, 32) + 32};
    return g;
}

/* 1 when the bf16 form of weights of dtype dt has a low part (they are not BF16 already). */
static int has_lo(const profs_lm *lm, int dt) { return lm->compute == PROFS_COMPUTE_BF16 && dt != PROFS_DTYPE_BF16; }

/* Bytes a converted matrix takes: the rows, then (bf16 of other dtypes) the low parts' rows or
 * (int8) the per-row scales. */
static size_t qmat_bytes(const profs_lm *lm, int dt, size_t out, size_t in)
{
    qgeom g = geom(lm, out, in);
    size_t rows = g.rows * g.ldq * g.esize;
    return rows + (has_lo(lm, dt) ? rows : 0) + (lm->compute == PROFS_COMPUTE_INT8 ? g.rows * sizeof(float) : 0);
}

/* Arena floats of a converted matrix, with 64 bytes of slack for the alignment. */
static size_t qmat_floats(const profs_lm *lm, int dt, size_t out, size_t in)
{
    return (qmat_bytes(lm, dt, out, in) + sizeof(float) - 1) / sizeof(float) + 16;
}

/* 1 when the matrix can be multiplied straight from the mapping (BF16 mode, BF16 [out, in], 32-aligned). */
static int q_in_place(const profs_lm *lm, int dt, int conv1d, size_t out, size_t in)
{
    return lm->compute == PROFS_COMPUTE_BF16 && dt == PROFS_DTYPE_BF16 && !conv1d && out % 32 == 0 && in % 32 == 0;
}

#if defined(__GNUC__) && !defined(__clang__)
#  define PF_VEC __attribute__((optimize("O3", "no-trapping-math")))
#else
#  define PF_VEC
#endif

/* f32 -> BF16 rounded to nearest even (NaN stays a quiet NaN), hi and (lo != NULL) the rounded
 * remainder; branch-free, so the loop vectorises. */
PF_VEC static void to_bf16_hi_lo(uint16_t *restrict hi, uint16_t *restrict lo, const float *restrict x, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        uint32_t u;
        memcpy(&u, &x[k], sizeof u);
        uint32_t h = (u + 0x7fffu + ((u >> 16) & 1u)) & 0xffff0000u;
        h = (u & 0x7fffffffu) > 0x7f800000u ? ((u | 0x00400000u) & 0xffff0000u) : h;
        hi[k] = (uint16_t)(h >> 16);
        if (lo) {
            float hf, r;
            memcpy(&hf, &h, sizeof hf);
            r = x[k] - hf;
            uint32_t v;
            memcpy(&v, &r, sizeof v);
            lo[k] = (uint16_t)((v + 0x7fffu + ((v >> 16) & 1u)) >> 16);
        }
    }
}

/* max |x| over n floats, as the maximum of the magnitudes' bit patterns (ordered as the values for
 * non-negative floats; a NaN wins): an integer reduction the compiler vectorises. */
PF_VEC static float max_abs(const float *x, size_t n)
{
    uint32_t m = 0;
    for (size_t k = 0; k < n; k++) {
        uint32_t u;
        memcpy(&u, &x[k], sizeof u);
        u &= 0x7fffffffu;
        m = u > m ? u : m;
    }
    float f;
    memcpy(&f, &m, sizeof f);
    return f;
}

/* q = round(x * inv) to nearest even, |x * inv| <= 127 (the scale is the row's max). */
PF_VEC static void quantize_row(int8_t *restrict q, const float *restrict x, float inv, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        float v = x[k] * inv;
        v = v > 127.0f ? 127.0f : (v < -127.0f ? -127.0f : v);
        q[k] = (int8_t)(int)((v + 12582912.0f) - 12582912.0f);
    }
}

/* Convert the [out, in] matrix into buf (qmat_bytes): BF16 rounded to nearest even (and, from another
 * dtype, the low parts bf16(w - hi) after the rows), or int8 rows with scale max |row| / 127 (1 for a
 * zero row) and values rounded to nearest even; zero elsewhere. */
static int fill_q(const profs_lm *lm, void *buf, const void *data, int dt, size_t out, size_t in, int conv1d)
{
    qgeom g = geom(lm, out, in);
    memset(buf, 0, qmat_bytes(lm, dt, out, in));
    if (lm->compute == PROFS_COMPUTE_BF16 && !conv1d && dt == PROFS_DTYPE_BF16) {
        for (size_t o = 0; o < out; o++) memcpy((uint16_t *)buf + o * g.ldq, (const uint16_t *)data + o * in, in * 2);
        return 0;
    }
    float *row = malloc((in ? in : 1) * sizeof(float));
    if (!row) return pf_enomem("weight row");
    float *scale = (float *)(void *)((char *)buf + g.rows * g.ldq * g.esize);
    for (size_t o = 0; o < out; o++) {
        row_f32(row, data, dt, out, in, o, conv1d);
        if (lm->compute == PROFS_COMPUTE_BF16) {
            uint16_t *d = (uint16_t *)buf + o * g.ldq;
            to_bf16_hi_lo(d, has_lo(lm, dt) ? d + g.rows * g.ldq : NULL, row, in);
            continue;
        }
        float mx = max_abs(row, in), sc = mx > 0 ? mx / 127.0f : 1.0f;
        quantize_row((int8_t *)buf + o * g.ldq, row, 1.0f / sc, in);
        scale[o] = sc;
    }
    free(row);
    return 0;
}

/* Make w->q for the [out, in] matrix at data (copy: never in place); buf (qmat_bytes, 64-byte
 * aligned) or NULL to allocate. */
static int make_q(const profs_lm *lm, pf_wt *w, const char *name, const void *data, int dt, size_t out, size_t in,
                  int conv1d, int copy, void *buf)
{
    if (!pf_dtype_is_float(dt)) return pf_error(PROFS_EUNSUPPORTED, "tensor '%s': dtype not convertible", name);
    memset(w, 0, sizeof *w);
    w->cols = in;
    if (!copy && q_in_place(lm, dt, conv1d, out, in)) {
        w->q = data;
        w->ldq = w->in_p = in;
        return 0;
    }
    qgeom g = geom(lm, out, in);
    if (!buf) {
        buf = w->qowned = aligned_alloc(64, ROUNDUP(qmat_bytes(lm, dt, out, in), 64));
        if (!buf) return pf_enomem(name);
    }
    int rc = fill_q(lm, buf, data, dt, out, in, conv1d);
    if (rc) {
        free(w->qowned);
        w->qowned = NULL;
        return rc;
    }
    w->q = buf;
    w->ldq = w->in_p = g.ldq;
    if (has_lo(lm, dt)) w->qlo = (const uint16_t *)buf + g.rows * g.ldq;
    if (lm->compute == PROFS_COMPUTE_INT8) w->qscale = (const float *)(const void *)((const char *)buf + g.rows * g.ldq);
    (void)profs_model_release(lm->model, name); /* the converted copy is what stays resident */
    return 0;
}

/* [out, in] of a 2-D product tensor (Conv1D stores [in, out]). */
static int matrix_dims(const profs_lm *lm, const char *name, int conv1d, size_t *out, size_t *in)
{
    size_t nd;
    const int64_t *sh;
    if (profs_model_tensor_info(lm->model, name, NULL, &nd, &sh) || nd != 2)
        return pf_error(PROFS_ESHAPE, "%s: tensor '%s' is not a matrix", profs_model_path(lm->model), name);
    *out = (size_t)sh[conv1d ? 1 : 0];
    *in = (size_t)sh[conv1d ? 0 : 1];
    return 0;
}

static int held_q(const profs_lm *lm, int slot) { return lm->compute != PROFS_COMPUTE_F32 && pf_slot_is_product(slot); }

/* A slot whose tensor other slots view by rows may be used in place only when every view starts on a
 * 32-row boundary (the kernel reads whole 32-row blocks). */
static int views_aligned(const profs_lm *lm, int s, size_t in)
{
    for (int v = 0; v < PF_SLOT_COUNT; v++)
        if (v != s && lm->lowner[v] == s && (lm->loff[v] / in) % 32) return 0;
    return 1;
}

/* w->q for product slot `slot` of tensor `name`; buf (qmat_elems) or NULL to allocate. */
static int load_q(const profs_lm *lm, pf_wt *w, int slot, const char *name, void *buf)
{
    int dt;
    const void *data;
    uint64_t nbytes;
    size_t out, in;
    int conv1d = lm->ltrans[slot];
    int rc = profs_model_tensor_info(lm->model, name, &dt, NULL, NULL);
    if (!rc) rc = profs_model_tensor_data(lm->model, name, &data, &nbytes);
    if (rc) return pf_error(rc, "%s: cannot read tensor '%s'", profs_model_path(lm->model), name);
    if ((rc = matrix_dims(lm, name, conv1d, &out, &in))) return rc;
    /* the views of a fused tensor need row padding of their own unless they start on 32-row blocks */
    return make_q(lm, w, name, data, dt, out, in, conv1d, views_aligned(lm, slot, in) ? 0 : 1, buf);
}

int pf_wt_load(const profs_lm *lm, pf_wt *w, const char *name)
{
    memset(w, 0, sizeof *w);
    if (!name) return 0;
    int dt;
    const void *data;
    uint64_t nbytes, numel;
    int rc = profs_model_tensor_info(lm->model, name, &dt, NULL, NULL);
    if (!rc) rc = profs_model_tensor_size(lm->model, name, &numel, NULL);
    if (!rc) rc = profs_model_tensor_data(lm->model, name, &data, &nbytes);
    if (rc) return pf_error(rc, "%s: cannot read tensor '%s'", profs_model_path(lm->model), name);
    if (dt == PROFS_DTYPE_F32 && ((uintptr_t)data % sizeof(float)) == 0) {
        w->p = data;
        return 0;
    }
    w->owned = malloc((size_t)(numel ? numel : 1) * sizeof(float));
    if (!w->owned) return pf_enomem(name);
    if (dt == PROFS_DTYPE_BF16) {
        bf16_to_f32(w->owned, data, (size_t)numel);
    } else if (pf_convert_to_f32(w->owned, data, dt, (size_t)numel)) {
        free(w->owned);
        w->owned = NULL;
        return pf_error(PROFS_EUNSUPPORTED, "tensor '%s': dtype not convertible", name);
    }
    w->p = w->owned;
    (void)profs_model_release(lm->model, name); /* the f32 copy is what stays resident */
    return 0;
}

void pf_wt_drop(const profs_lm *lm, pf_wt *w, const char *name)
{
    free(w->owned);
    free(w->qowned);
    memset(w, 0, sizeof *w);
    if (name) (void)profs_model_release(lm->model, name);
}

/* Slots that are row blocks of another slot's tensor (phi3 gate_up_proj) point into it. */
static void set_views(const profs_lm *lm, pf_layer_w *lw)
{
    for (int s = 0; s < PF_SLOT_COUNT; s++) {
        const pf_wt *o = &lw->w[lm->lowner[s]];
        if (lm->lowner[s] == s) continue;
        if (o->p) {
            lw->w[s].p = o->p + lm->loff[s];
            lw->w[s].owned = NULL;
        } else if (o->q) {
            size_t r0 = lm->loff[s] / o->cols, es = lm->compute == PROFS_COMPUTE_INT8 ? 1 : 2;
            lw->w[s] = *o;
            lw->w[s].qowned = NULL;
            lw->w[s].q = (const char *)o->q + r0 * o->ldq * es;
            if (o->qlo) lw->w[s].qlo = (const char *)o->qlo + r0 * o->ldq * es;
            if (o->qscale) lw->w[s].qscale = o->qscale + r0;
        }
    }
}

/* Floats of arena a product slot held in BF16 takes (0 in place), 64-byte aligned. */
static int q_need(const profs_lm *lm, int slot, const char *name, int dt, size_t *floats)
{
    size_t out, in;
    int rc = matrix_dims(lm, name, lm->ltrans[slot], &out, &in);
    if (rc) return rc;
    *floats = q_in_place(lm, dt, lm->ltrans[slot], out, in) && views_aligned(lm, slot, in)
                  ? 0 : qmat_floats(lm, dt, out, in);
    return 0;
}

int pf_layer_load(const profs_lm *lm, pf_layer_w *lw, size_t layer, pf_arena *arena)
{
    const char *const *names = (const char *const *)lm->lname + layer * PF_SLOT_COUNT;
    if (arena) {
        const void *data[PF_SLOT_COUNT];
        int dt[PF_SLOT_COUNT];
        uint64_t numel[PF_SLOT_COUNT];
        size_t need = 0, qf[PF_SLOT_COUNT];
        for (int s = 0; s < PF_SLOT_COUNT; s++) {
            memset(&lw->w[s], 0, sizeof lw->w[s]);
            if (!names[s]) continue;
            int rc = tensor_raw(lm, names[s], &dt[s], &data[s], &numel[s]);
            if (rc) return rc;
            if (held_q(lm, s)) {
                if ((rc = q_need(lm, s, names[s], dt[s], &qf[s]))) return rc;
                need += qf[s];
            } else if (!in_place(dt[s], data[s])) {
                need += (size_t)numel[s];
            }
        }
        if (need > arena->cap) {
            free(arena->buf);
            arena->buf = malloc(need * sizeof(float));
            arena->cap = arena->buf ? need : 0;
            if (!arena->buf) return pf_enomem("block weights");
        }
        size_t off = 0;
        for (int s = 0; s < PF_SLOT_COUNT; s++) {
            if (!names[s]) continue;
            if (held_q(lm, s)) {
                void *buf = NULL;
                if (qf[s]) {
                    /* 64-byte aligned within the arena */
                    uintptr_t at = ((uintptr_t)(arena->buf + off) + 63) & ~(uintptr_t)63;
                    buf = (void *)at;
                    off += qf[s];
                }
                int rc = load_q(lm, &lw->w[s], s, names[s], buf);
                if (rc) return rc;
                continue;
            }
            if (in_place(dt[s], data[s])) {
                lw->w[s].p = data[s];
                continue;
            }
            int rc = convert_into(lm, arena->buf + off, names[s], dt[s], data[s], (size_t)numel[s]);
            if (rc) return rc;
            lw->w[s].p = arena->buf + off;
            off += (size_t)numel[s];
        }
        set_views(lm, lw);
        lw->loaded = 1;
        return 0;
    }
    for (int s = 0; s < PF_SLOT_COUNT; s++) {
        int rc = held_q(lm, s) && names[s] ? (memset(&lw->w[s], 0, sizeof lw->w[s]), load_q(lm, &lw->w[s], s, names[s], NULL))
                                           : pf_wt_load(lm, &lw->w[s], names[s]);
        if (rc) {
            pf_layer_drop(lm, lw, layer);
            return rc;
        }
    }
    set_views(lm, lw);
    lw->loaded = 1;
    return 0;
}

void pf_layer_drop(const profs_lm *lm, pf_layer_w *lw, size_t layer)
{
    for (int s = 0; s < PF_SLOT_COUNT; s++) pf_wt_drop(lm, &lw->w[s], lm->lname[layer * PF_SLOT_COUNT + s]);
    lw->loaded = 0;
}

int pf_wt_slice(const profs_lm *lm, const float **out, const char *name, size_t off, size_t numel, pf_arena *arena)
{
    int dt;
    const void *data;
    uint64_t total;
    int rc = tensor_raw(lm, name, &dt, &data, &total);
    if (rc) return rc;
    if (off + numel > total)
        return pf_error(PROFS_ESHAPE, "%s: tensor '%s': slice [%zu, %zu) past its %llu elements",
                        profs_model_path(lm->model), name, off, off + numel, (unsigned long long)total);
    const char *base = (const char *)data + off * profs_dtype_size(dt);
    if (in_place(dt, base)) {
        *out = (const float *)(const void *)base;
        return 0;
    }
    if (numel > arena->cap) {
        free(arena->buf);
        arena->buf = malloc((numel ? numel : 1) * sizeof(float));
        arena->cap = arena->buf ? numel : 0;
        if (!arena->buf) return pf_enomem("expert weights");
    }
    if ((rc = convert_into(lm, arena->buf, name, dt, base, numel))) return rc;
    *out = arena->buf;
    return 0;
}

int pf_wt_matrix(const profs_lm *lm, pf_wt *w, const char *name, size_t off, size_t out, size_t in, pf_arena *arena)
{
    memset(w, 0, sizeof *w);
    if (lm->compute == PROFS_COMPUTE_F32) return pf_wt_slice(lm, &w->p, name, off, out * in, arena);
    int dt;
    const void *data;
    uint64_t total;
    int rc = tensor_raw(lm, name, &dt, &data, &total);
    if (rc) return rc;
    if (off + out * in > total)
        return pf_error(PROFS_ESHAPE, "%s: tensor '%s': slice [%zu, %zu) past its %llu elements",
                        profs_model_path(lm->model), name, off, off + out * in, (unsigned long long)total);
    const char *base = (const char *)data + off * profs_dtype_size(dt);
    size_t need = q_in_place(lm, dt, 0, out, in) ? 0 : qmat_floats(lm, dt, out, in);
    void *buf = NULL;
    if (need) {
        if (need > arena->cap) {
            free(arena->buf);
            arena->buf = malloc(need * sizeof(float));
            arena->cap = arena->buf ? need : 0;
            if (!arena->buf) return pf_enomem("expert weights");
        }
        buf = (void *)(((uintptr_t)arena->buf + 63) & ~(uintptr_t)63);
    }
    return make_q(lm, w, name, base, dt, out, in, 0, 0, buf);
}
