/* Resolving a model for an edit through the architecture table: the family,
 * the prefix, the layer count and the value / key rows (by role). */
#include "edit/arch.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/dtype.h"
#include "core/error.h"
#include "profs/edit.h"

void pf_arch_tensor_name(char *buf, size_t n, const pf_arch_model *am, int key_index, size_t layer)
{
    pf_arch_name(buf, n, am->fam, am->prefix, key_index < 0 ? am->value : am->keys[key_index], layer, 0);
}

static int config_size(size_t *out, const profs_model *m, const pf_family *f, const char *key)
{
    char full[160];
    snprintf(full, sizeof full, "%s%s", f->config_prefix, key);
    int64_t v;
    int rc = profs_model_config_int(m, full, &v);
    if (rc) return rc;
    if (v <= 0) return pf_error(PROFS_EFORMAT, "%s: config.json '%s' = %lld must be positive", profs_model_path(m),
                                full, (long long)v);
    *out = (size_t)v;
    return PROFS_OK;
}

static const pf_tensor_row *role_row(const pf_family *f, int role)
{
    for (const pf_tensor_row *r = f->layer; r->pattern; r++)
        if (r->role == role) return r;
    return NULL;
}

int pf_arch_resolve(pf_arch_model *out, const profs_model *m, const char *hint)
{
    memset(out, 0, sizeof *out);
    const pf_family *a = NULL;
    int rc = pf_arch_identify(&a, m);
    if (rc) return rc;
    if (!a && hint) a = pf_arch_by_name(hint);
    if (!a) /* no config: recognise the tensor names */
        for (size_t i = 0; i < pf_arch_count() && !a; i++) {
            const pf_family *f = pf_arch_at(i);
            if (pf_arch_find_prefix(f, m, role_row(f, PF_ROLE_VALUE))) a = f;
        }
    if (!a)
        return pf_error(PROFS_ENOTFOUND, "%s: cannot tell the architecture: no config.json model_type and no known MLP "
                        "tensor names (supported: %s)", profs_model_path(m), pf_arch_supported());
    out->fam = a;
    out->value = role_row(a, PF_ROLE_VALUE);
    for (const pf_tensor_row *r = a->layer; r->pattern; r++) {
        if (r->role != PF_ROLE_KEY) continue;
        int dup = 0; /* row blocks of one stored tensor (phi3 gate_up_proj): the tensor is edited once */
        for (size_t k = 0; k < out->n_keys; k++) dup |= !strcmp(out->keys[k]->pattern, r->pattern);
        if (!dup && out->n_keys < PF_EDIT_MAX_KEYS) out->keys[out->n_keys++] = r;
    }
    if (a->f.post_norms) out->post_norm = pf_arch_row(a, 0, PF_MLP_OUT_NORM_W);
    /* MoE: layer 0 may be sparse or dense, so the prefix is found by a row every layer has */
    const pf_tensor_row *probe = a->f.router ? pf_arch_row(a, 0, PF_LN1_W) : out->value;
    const char *prefix = pf_arch_find_prefix(a, m, probe);
    if (!prefix) {
        char want[320];
        pf_arch_name(want, sizeof want, a, a->prefixes[0], probe, 0, 0);
        return pf_error(PROFS_ENOTFOUND, "%s: %s model without tensor '%s' (or the same without its prefix)",
                        profs_model_path(m), a->name, want);
    }
    out->prefix = prefix;
    rc = config_size(&out->n_layers, m, a, a->keys[PF_C_LAYERS].key);
    if (rc == PROFS_ENOTFOUND) {
        /* count layers by their value matrices */
        char name[320];
        size_t l = 0;
        for (;; l++) {
            pf_arch_name(name, sizeof name, a, prefix, probe, l, 0);
            if (!profs_model_has_tensor(m, name)) break;
        }
        out->n_layers = l;
    } else if (rc) {
        return rc;
    }
    rc = config_size(&out->hidden, m, a, a->keys[PF_C_HIDDEN].key);
    if (rc == PROFS_ENOTFOUND) out->hidden = 0;
    else if (rc) return rc;
    if (a->f.router && (rc = pf_arch_moe_info(&out->moe, a, m, prefix, out->n_layers))) return rc;
    return PROFS_OK;
}

void pf_arch_model_free(pf_arch_model *am)
{
    if (!am) return;
    free(am->moe.sparse);
    am->moe.sparse = NULL;
}

/* ---- MoE targets ---- */

static int check_matrix(const profs_model *m, const pf_arch_target *t, size_t dim, const pf_arch_model *am,
                        size_t layer)
{
    int dtype;
    size_t ndim;
    const int64_t *shape;
    const char *name = t->tensor;
    if (profs_model_tensor_info(m, name, &dtype, &ndim, &shape) != PROFS_OK)
        return pf_error(PROFS_ENOTFOUND, "%s: layer %zu: %s tensor '%s' is missing", profs_model_path(m), layer,
                        am->fam->name, name);
    if (!pf_dtype_is_float(dtype))
        return pf_error(PROFS_EUNSUPPORTED, "%s: tensor '%s' has dtype %s; only F32, F16, BF16 and F64 can be edited",
                        profs_model_path(m), name, profs_dtype_name(dtype) ? profs_dtype_name(dtype) : "?");
    size_t want_nd = t->fused ? 3 : 2, o = t->fused ? 1 : 0;
    if (ndim != want_nd)
        return pf_error(PROFS_ESHAPE, "%s: tensor '%s' has %zu dimensions, expected %s", profs_model_path(m), name,
                        ndim, t->fused ? "3 (experts, rows, columns)" : "a matrix");
    if (t->fused && (uint64_t)shape[0] != am->moe.n_experts)
        return pf_error(PROFS_ENOTFOUND, "%s: layer %zu: fused tensor '%s' holds %lld experts but config.json "
                        "declares %zu", profs_model_path(m), layer, name, (long long)shape[0], am->moe.n_experts);
    int64_t d = t->layout == PROFS_LAYOUT_D_FIRST ? shape[o] : shape[o + 1];
    if ((uint64_t)d != dim)
        return pf_error(PROFS_ESHAPE, "%s: tensor '%s' has shape [%lld, %lld%s]; its %s axis should be the edit's dim "
                        "%zu", profs_model_path(m), name, (long long)shape[0], (long long)shape[1],
                        t->fused ? ", ..." : "", t->layout == PROFS_LAYOUT_D_FIRST ? "first" : "last", dim);
    return PROFS_OK;
}

typedef struct tlist {
    pf_arch_target *t;
    size_t n, cap;
} tlist;

static int push(tlist *l, const pf_arch_model *am, const pf_tensor_row *r, size_t layer, long expert, int fused)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 16;
        pf_arch_target *t = realloc(l->t, cap * sizeof *t);
        if (!t) return pf_enomem("edit targets");
        l->t = t;
        l->cap = cap;
    }
    pf_arch_target *t = &l->t[l->n++];
    memset(t, 0, sizeof *t);
    pf_arch_name(t->tensor, sizeof t->tensor, am->fam, am->prefix, r, layer, expert < 0 ? 0 : (size_t)expert);
    if (fused) snprintf(t->name, sizeof t->name, "%s[%ld]", t->tensor, expert);
    else snprintf(t->name, sizeof t->name, "%s", t->tensor);
    t->role = r->role == PF_ROLE_VALUE ? PROFS_TARGET_VALUE : PROFS_TARGET_KEY;
    t->layout = pf_arch_edit_layout(r);
    t->expert = expert;
    t->fused = fused;
    return PROFS_OK;
}

int pf_arch_layer_targets(pf_arch_target **out, size_t *n, const pf_arch_model *am, const profs_model *m,
                          size_t layer, int targets, size_t dim)
{
    const pf_family *a = am->fam;
    tlist l = {0};
    int rc = PROFS_OK;
    *out = NULL;
    *n = 0;
    /* rows by role, present in this layer (dense or sparse) for this checkpoint's layout; a tensor whose
     * row blocks are two rows (fused gate_up_proj) is one target */
    for (int pass = 0; pass < 2; pass++) {
        int role = pass == 0 ? PF_ROLE_VALUE : PF_ROLE_KEY;
        if (!(targets & (pass == 0 ? PROFS_TARGET_VALUE : PROFS_TARGET_KEY))) continue;
        for (const pf_tensor_row *r = a->layer; r->pattern; r++) {
            if (r->role != role || !pf_arch_row_present(r, 0, &am->moe, layer) || r->block > 0) continue;
            if (r->present_if & PF_IF_NEVER) continue;
            if (r->expert == PF_EXPERT_EACH || r->expert == PF_EXPERT_FUSED) {
                for (size_t e = 0; e < am->moe.n_experts; e++)
                    if ((rc = push(&l, am, r, layer, (long)e, r->expert == PF_EXPERT_FUSED))) goto fail;
            } else if ((rc = push(&l, am, r, layer, -1, 0))) {
                goto fail;
            }
        }
    }
    /* per-expert layout: every declared expert there (all missing ones named), none past them */
    char missing[768] = "";
    size_t n_missing = 0, off = 0;
    for (size_t i = 0; i < l.n; i++)
        if (l.t[i].expert >= 0 && !l.t[i].fused && !profs_model_has_tensor(m, l.t[i].tensor)) {
            if (n_missing < 6 && off < sizeof missing - 1)
                off += (size_t)snprintf(missing + off, sizeof missing - off, "%s'%s'", n_missing ? ", " : "",
                                        l.t[i].tensor);
            n_missing++;
        }
    if (n_missing) {
        rc = pf_error(PROFS_ENOTFOUND, "%s: layer %zu: %s declares %zu experts but %zu expert tensor%s missing: %s%s",
                      profs_model_path(m), layer, a->name, am->moe.n_experts, n_missing,
                      n_missing == 1 ? " is" : "s are", missing, n_missing > 6 ? ", ..." : "");
        goto fail;
    }
    for (const pf_tensor_row *r = a->layer; r->pattern; r++) {
        if (r->expert != PF_EXPERT_EACH || r->role != PF_ROLE_VALUE || !pf_arch_row_present(r, 0, &am->moe, layer))
            continue;
        char extra[320];
        pf_arch_name(extra, sizeof extra, a, am->prefix, r, layer, am->moe.n_experts);
        if (profs_model_has_tensor(m, extra)) {
            rc = pf_error(PROFS_EFORMAT, "%s: layer %zu: tensor '%s' is past the %zu experts config.json declares",
                          profs_model_path(m), layer, extra, am->moe.n_experts);
            goto fail;
        }
    }
    for (size_t i = 0; i < l.n; i++)
        if ((rc = check_matrix(m, &l.t[i], dim, am, layer))) goto fail;
    *out = l.t;
    *n = l.n;
    return PROFS_OK;
fail:
    free(l.t);
    return rc;
}
