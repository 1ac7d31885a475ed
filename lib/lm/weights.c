/* Per-block weights as f32: F32 tensors are used in place from the mapping,
 * F16/BF16 are converted into a buffer; dropping releases the mapped pages. */
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

int pf_wt_load(const profs_lm *lm, pf_wt *w, const char *name)
{
    w->p = NULL;
    w->owned = NULL;
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
    w->owned = NULL;
    w->p = NULL;
    if (name) (void)profs_model_release(lm->model, name);
}

/* Slots that are row blocks of another slot's tensor (phi3 gate_up_proj) point into it. */
static void set_views(const profs_lm *lm, pf_layer_w *lw)
{
    for (int s = 0; s < PF_SLOT_COUNT; s++)
        if (lm->lowner[s] != s && lw->w[lm->lowner[s]].p) {
            lw->w[s].p = lw->w[lm->lowner[s]].p + lm->loff[s];
            lw->w[s].owned = NULL;
        }
}

int pf_layer_load(const profs_lm *lm, pf_layer_w *lw, size_t layer, pf_arena *arena)
{
    if (arena) {
        const char *const *names = (const char *const *)lm->lname + layer * PF_SLOT_COUNT;
        const void *data[PF_SLOT_COUNT];
        int dt[PF_SLOT_COUNT];
        uint64_t numel[PF_SLOT_COUNT];
        size_t need = 0;
        for (int s = 0; s < PF_SLOT_COUNT; s++) {
            lw->w[s].p = NULL;
            lw->w[s].owned = NULL;
            if (!names[s]) continue;
            int rc = tensor_raw(lm, names[s], &dt[s], &data[s], &numel[s]);
            if (rc) return rc;
            if (!in_place(dt[s], data[s])) need += (size_t)numel[s];
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
        int rc = pf_wt_load(lm, &lw->w[s], lm->lname[layer * PF_SLOT_COUNT + s]);
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
