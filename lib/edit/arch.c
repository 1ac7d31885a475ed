/* Resolving a model for an edit through the architecture table: the family,
 * the prefix, the layer count and the value / key rows (by role). */
#include "edit/arch.h"

#include <stdio.h>
#include <string.h>

#include "core/error.h"

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
    const char *prefix = pf_arch_find_prefix(a, m, out->value);
    if (!prefix) {
        char want[320];
        pf_arch_name(want, sizeof want, a, a->prefixes[0], out->value, 0, 0);
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
            pf_arch_name(name, sizeof name, a, prefix, out->value, l, 0);
            if (!profs_model_has_tensor(m, name)) break;
        }
        out->n_layers = l;
    } else if (rc) {
        return rc;
    }
    rc = config_size(&out->hidden, m, a, a->keys[PF_C_HIDDEN].key);
    if (rc == PROFS_ENOTFOUND) out->hidden = 0;
    else if (rc) return rc;
    return PROFS_OK;
}
