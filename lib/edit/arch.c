/* The architecture table: per model family, where the MLP value and key matrices
 * live, their layouts, and the config.json keys of layer count and hidden size. */
#include "edit/arch.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/dtype.h"
#include "core/error.h"

static const pf_arch table[] = {
    {"gpt2", {"gpt2", NULL}, {"GPT2LMHeadModel", "GPT2Model", NULL}, "n_layer", "n_embd",
     {"transformer.", "", NULL}, "h.%zu.mlp.c_proj.weight", PROFS_LAYOUT_D_LAST,
     {"h.%zu.mlp.c_fc.weight", NULL}, PROFS_LAYOUT_D_FIRST, PF_MOE_NONE,
     NULL, NULL, {NULL}, NULL, NULL, NULL, {NULL}},
    {"llama", {"llama", NULL}, {"LlamaForCausalLM", "LlamaModel", NULL}, "num_hidden_layers", "hidden_size",
     {"model.", "", NULL}, "layers.%zu.mlp.down_proj.weight", PROFS_LAYOUT_D_FIRST,
     {"layers.%zu.mlp.up_proj.weight", "layers.%zu.mlp.gate_proj.weight", NULL}, PROFS_LAYOUT_D_LAST, PF_MOE_NONE,
     NULL, NULL, {NULL}, NULL, NULL, NULL, {NULL}},
    {"mistral", {"mistral", NULL}, {"MistralForCausalLM", "MistralModel", NULL}, "num_hidden_layers", "hidden_size",
     {"model.", "", NULL}, "layers.%zu.mlp.down_proj.weight", PROFS_LAYOUT_D_FIRST,
     {"layers.%zu.mlp.up_proj.weight", "layers.%zu.mlp.gate_proj.weight", NULL}, PROFS_LAYOUT_D_LAST, PF_MOE_NONE,
     NULL, NULL, {NULL}, NULL, NULL, NULL, {NULL}},
    {"qwen2", {"qwen2", NULL}, {"Qwen2ForCausalLM", "Qwen2Model", NULL}, "num_hidden_layers", "hidden_size",
     {"model.", "", NULL}, "layers.%zu.mlp.down_proj.weight", PROFS_LAYOUT_D_FIRST,
     {"layers.%zu.mlp.up_proj.weight", "layers.%zu.mlp.gate_proj.weight", NULL}, PROFS_LAYOUT_D_LAST, PF_MOE_NONE,
     NULL, NULL, {NULL}, NULL, NULL, NULL, {NULL}},
    {"opt", {"opt", NULL}, {"OPTForCausalLM", "OPTModel", NULL}, "num_hidden_layers", "hidden_size",
     {"model.decoder.", "decoder.", NULL}, "layers.%zu.fc2.weight", PROFS_LAYOUT_D_FIRST,
     {"layers.%zu.fc1.weight", NULL}, PROFS_LAYOUT_D_LAST, PF_MOE_NONE,
     NULL, NULL, {NULL}, NULL, NULL, NULL, {NULL}},
    {"gptj", {"gptj", NULL}, {"GPTJForCausalLM", "GPTJModel", NULL}, "n_layer", "n_embd",
     {"transformer.", "", NULL}, "h.%zu.mlp.fc_out.weight", PROFS_LAYOUT_D_FIRST,
     {"h.%zu.mlp.fc_in.weight", NULL}, PROFS_LAYOUT_D_LAST, PF_MOE_NONE,
     NULL, NULL, {NULL}, NULL, NULL, NULL, {NULL}},
    {.name = "mixtral", .model_types = {"mixtral", NULL}, .classes = {"MixtralForCausalLM", "MixtralModel", NULL},
     .layers_key = "num_hidden_layers", .hidden_key = "hidden_size", .prefixes = {"model.", "", NULL},
     .value_layout = PROFS_LAYOUT_D_FIRST, .key_layout = PROFS_LAYOUT_D_LAST, .moe = PF_MOE_ALL,
     .probe = "layers.%zu.input_layernorm.weight",
     .expert_value = "layers.%zu.block_sparse_moe.experts.%zu.w2.weight",
     .expert_keys = {"layers.%zu.block_sparse_moe.experts.%zu.w1.weight",
                     "layers.%zu.block_sparse_moe.experts.%zu.w3.weight", NULL},
     .fused_value = "layers.%zu.mlp.experts.down_proj", .fused_key = "layers.%zu.mlp.experts.gate_up_proj"},
    {.name = "qwen2_moe", .model_types = {"qwen2_moe", NULL}, .classes = {"Qwen2MoeForCausalLM", "Qwen2MoeModel", NULL},
     .layers_key = "num_hidden_layers", .hidden_key = "hidden_size", .prefixes = {"model.", "", NULL},
     .value = "layers.%zu.mlp.down_proj.weight", .value_layout = PROFS_LAYOUT_D_FIRST,
     .keys = {"layers.%zu.mlp.up_proj.weight", "layers.%zu.mlp.gate_proj.weight", NULL},
     .key_layout = PROFS_LAYOUT_D_LAST, .moe = PF_MOE_STEP, .probe = "layers.%zu.input_layernorm.weight",
     .expert_value = "layers.%zu.mlp.experts.%zu.down_proj.weight",
     .expert_keys = {"layers.%zu.mlp.experts.%zu.gate_proj.weight", "layers.%zu.mlp.experts.%zu.up_proj.weight", NULL},
     .fused_value = "layers.%zu.mlp.experts.down_proj", .fused_key = "layers.%zu.mlp.experts.gate_up_proj",
     .shared_value = "layers.%zu.mlp.shared_expert.down_proj.weight",
     .shared_keys = {"layers.%zu.mlp.shared_expert.up_proj.weight", "layers.%zu.mlp.shared_expert.gate_proj.weight",
                     NULL}},
    {.name = "qwen3_moe", .model_types = {"qwen3_moe", NULL}, .classes = {"Qwen3MoeForCausalLM", "Qwen3MoeModel", NULL},
     .layers_key = "num_hidden_layers", .hidden_key = "hidden_size", .prefixes = {"model.", "", NULL},
     .value = "layers.%zu.mlp.down_proj.weight", .value_layout = PROFS_LAYOUT_D_FIRST,
     .keys = {"layers.%zu.mlp.up_proj.weight", "layers.%zu.mlp.gate_proj.weight", NULL},
     .key_layout = PROFS_LAYOUT_D_LAST, .moe = PF_MOE_STEP, .probe = "layers.%zu.input_layernorm.weight",
     .expert_value = "layers.%zu.mlp.experts.%zu.down_proj.weight",
     .expert_keys = {"layers.%zu.mlp.experts.%zu.gate_proj.weight", "layers.%zu.mlp.experts.%zu.up_proj.weight", NULL},
     .fused_value = "layers.%zu.mlp.experts.down_proj", .fused_key = "layers.%zu.mlp.experts.gate_up_proj"},
};
#define N_ARCH (sizeof table / sizeof *table)

const char *pf_arch_supported(void) { return "gpt2, llama, mistral, qwen2, opt, gptj, mixtral, qwen2_moe, qwen3_moe"; }

const pf_arch *pf_arch_by_name(const char *name)
{
    if (!name) return NULL;
    for (size_t i = 0; i < N_ARCH; i++)
        if (strcmp(table[i].name, name) == 0) return &table[i];
    return NULL;
}

/* prefix + pattern, the pattern's %zu being the layer (and the expert, for expert patterns). */
static void format_name2(char *buf, size_t n, const char *prefix, const char *pattern, size_t layer, size_t expert)
{
    char tail[200];
    snprintf(tail, sizeof tail, pattern, layer, expert);
    snprintf(buf, n, "%s%s", prefix, tail);
}

static void format_name(char *buf, size_t n, const char *prefix, const char *pattern, size_t layer)
{
    format_name2(buf, n, prefix, pattern, layer, 0);
}

void pf_arch_tensor_name(char *buf, size_t n, const pf_arch_model *am, int key_index, size_t layer)
{
    format_name(buf, n, am->prefix, key_index < 0 ? am->arch->value : am->arch->keys[key_index], layer);
}

/* The first prefix under which layer 0's value matrix exists, or NULL. */
static const char *find_prefix(const pf_arch *a, const profs_model *m)
{
    char name[256];
    for (int p = 0; a->prefixes[p]; p++) {
        format_name(name, sizeof name, a->prefixes[p], a->probe ? a->probe : a->value, 0);
        if (profs_model_has_tensor(m, name)) return a->prefixes[p];
    }
    return NULL;
}

static const pf_arch *from_config(const profs_model *m, int *rc)
{
    const char *mt = NULL;
    *rc = PROFS_OK;
    if (profs_model_config_string(m, "model_type", &mt) == PROFS_OK) {
        for (size_t i = 0; i < N_ARCH; i++)
            for (int j = 0; table[i].model_types[j]; j++)
                if (strcmp(table[i].model_types[j], mt) == 0) return &table[i];
        *rc = pf_error(PROFS_EUNSUPPORTED, "%s: config.json model_type '%s' is not supported (supported: %s)",
                       profs_model_path(m), mt, pf_arch_supported());
        return NULL;
    }
    const char *cls = NULL;
    if (profs_model_config_array_string(m, "architectures", 0, &cls) == PROFS_OK) {
        for (size_t i = 0; i < N_ARCH; i++)
            for (int j = 0; table[i].classes[j]; j++)
                if (strcmp(table[i].classes[j], cls) == 0) return &table[i];
        *rc = pf_error(PROFS_EUNSUPPORTED, "%s: config.json architecture '%s' is not supported (supported: %s)",
                       profs_model_path(m), cls, pf_arch_supported());
    }
    return NULL;
}

static int config_size(size_t *out, const profs_model *m, const char *key)
{
    int64_t v;
    int rc = profs_model_config_int(m, key, &v);
    if (rc == PROFS_ENOTFOUND) return rc;
    if (rc) return rc;
    if (v <= 0) return pf_error(PROFS_EFORMAT, "%s: config.json '%s' = %lld must be positive", profs_model_path(m), key,
                                (long long)v);
    *out = (size_t)v;
    return PROFS_OK;
}

/* Expert count, sparse layers and layout of a MoE model, read as transformers reads them. */
static int resolve_moe(pf_arch_model *out, const profs_model *m)
{
    const pf_arch *a = out->arch;
    int64_t nl = -1, ne = -1, step = 1, v;
    int has_l = profs_model_config_int(m, "num_local_experts", &nl) == PROFS_OK;
    int has_e = profs_model_config_int(m, "num_experts", &ne) == PROFS_OK;
    if (has_l && has_e && nl != ne)
        return pf_error(PROFS_EFORMAT, "%s: config.json: num_local_experts %lld and num_experts %lld disagree",
                        profs_model_path(m), (long long)nl, (long long)ne);
    int64_t E = has_l ? nl : has_e ? ne : !strcmp(a->name, "mixtral") ? 8 : !strcmp(a->name, "qwen2_moe") ? 60 : 128;
    if (E < 0 || E > 1 << 20)
        return pf_error(PROFS_EFORMAT, "%s: config.json: %s %lld is out of range", profs_model_path(m),
                        has_l ? "num_local_experts" : "num_experts", (long long)E);
    out->n_experts = (size_t)E;
    if (a->moe == PF_MOE_STEP && profs_model_config_int(m, "decoder_sparse_step", &step) == PROFS_OK && step < 1)
        return pf_error(PROFS_EFORMAT, "%s: config.json: decoder_sparse_step %lld must be positive", profs_model_path(m),
                        (long long)step);
    out->sparse = calloc(out->n_layers ? out->n_layers : 1, 1);
    if (!out->sparse) return pf_enomem("MoE layers");
    size_t first = out->n_layers;
    for (size_t l = 0; l < out->n_layers; l++) out->sparse[l] = E > 0 && (a->moe == PF_MOE_ALL || (l + 1) % (size_t)step == 0);
    size_t n_only = 0;
    if (a->moe == PF_MOE_STEP && profs_model_config_array_size(m, "mlp_only_layers", &n_only) == PROFS_OK)
        for (size_t i = 0; i < n_only; i++)
            if (profs_model_config_array_int(m, "mlp_only_layers", i, &v) == PROFS_OK && v >= 0 &&
                (uint64_t)v < out->n_layers)
                out->sparse[v] = 0;
    for (size_t l = 0; l < out->n_layers && first == out->n_layers; l++)
        if (out->sparse[l]) first = l;
    if (first == out->n_layers) return PROFS_OK;
    char fused[256], per[256];
    format_name(fused, sizeof fused, out->prefix, a->fused_value, first);
    format_name2(per, sizeof per, out->prefix, a->expert_value, first, 0);
    out->fused = profs_model_has_tensor(m, fused);
    if (!out->fused && !profs_model_has_tensor(m, per))
        return pf_error(PROFS_ENOTFOUND, "%s: %s layer %zu: unknown expert layout: neither '%s' (per-expert tensors) "
                        "nor '%s' (fused 3-D tensors) is present", profs_model_path(m), a->name, first, per, fused);
    return PROFS_OK;
}

int pf_arch_resolve(pf_arch_model *out, const profs_model *m, const char *hint)
{
    int rc;
    memset(out, 0, sizeof *out);
    const pf_arch *a = from_config(m, &rc);
    if (rc) return rc;
    if (!a && hint) a = pf_arch_by_name(hint);
    if (!a) /* no config: recognise the tensor names */
        for (size_t i = 0; i < N_ARCH && !a; i++)
            if (find_prefix(&table[i], m)) a = &table[i];
    if (!a)
        return pf_error(PROFS_ENOTFOUND, "%s: cannot tell the architecture: no config.json model_type and no known MLP "
                        "tensor names (supported: %s)", profs_model_path(m), pf_arch_supported());
    const char *prefix = find_prefix(a, m);
    if (!prefix) {
        char want[256];
        format_name(want, sizeof want, a->prefixes[0], a->probe ? a->probe : a->value, 0);
        return pf_error(PROFS_ENOTFOUND, "%s: %s model without tensor '%s' (or the same without its prefix)",
                        profs_model_path(m), a->name, want);
    }
    out->arch = a;
    out->prefix = prefix;
    rc = config_size(&out->n_layers, m, a->layers_key);
    if (rc == PROFS_ENOTFOUND) {
        /* count layers by their value matrices */
        char name[256];
        size_t l = 0;
        for (;; l++) {
            format_name(name, sizeof name, prefix, a->probe ? a->probe : a->value, l);
            if (!profs_model_has_tensor(m, name)) break;
        }
        out->n_layers = l;
    } else if (rc) {
        return rc;
    }
    rc = config_size(&out->hidden, m, a->hidden_key);
    if (rc == PROFS_ENOTFOUND) out->hidden = 0;
    else if (rc) return rc;
    if (a->moe && (rc = resolve_moe(out, m))) {
        pf_arch_model_free(out);
        return rc;
    }
    return PROFS_OK;
}

void pf_arch_model_free(pf_arch_model *am)
{
    if (!am) return;
    free(am->sparse);
    am->sparse = NULL;
}

/* ---- targets ---- */

static int check_matrix(const profs_model *m, const pf_arch_target *t, size_t dim, const pf_arch_model *am,
                        size_t layer)
{
    int dtype;
    size_t ndim;
    const int64_t *shape;
    const char *name = t->tensor;
    if (profs_model_tensor_info(m, name, &dtype, &ndim, &shape) != PROFS_OK)
        return pf_error(PROFS_ENOTFOUND, "%s: layer %zu: %s tensor '%s' is missing", profs_model_path(m), layer,
                        am->arch->name, name);
    if (!pf_dtype_is_float(dtype))
        return pf_error(PROFS_EUNSUPPORTED, "%s: tensor '%s' has dtype %s; only F32, F16, BF16 and F64 can be edited",
                        profs_model_path(m), name, profs_dtype_name(dtype) ? profs_dtype_name(dtype) : "?");
    size_t want_nd = t->fused ? 3 : 2, o = t->fused ? 1 : 0;
    if (ndim != want_nd)
        return pf_error(PROFS_ESHAPE, "%s: tensor '%s' has %zu dimensions, expected %s", profs_model_path(m), name,
                        ndim, t->fused ? "3 (experts, rows, columns)" : "a matrix");
    if (t->fused && (uint64_t)shape[0] != am->n_experts)
        return pf_error(PROFS_ENOTFOUND, "%s: layer %zu: fused tensor '%s' holds %lld experts but config.json "
                        "declares %zu", profs_model_path(m), layer, name, (long long)shape[0], am->n_experts);
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

static pf_arch_target *push(tlist *l, const char *prefix, const char *pat, size_t layer, long expert, int role,
                            int layout, int fused)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 16;
        pf_arch_target *t = realloc(l->t, cap * sizeof *t);
        if (!t) return NULL;
        l->t = t;
        l->cap = cap;
    }
    pf_arch_target *t = &l->t[l->n++];
    memset(t, 0, sizeof *t);
    format_name2(t->tensor, sizeof t->tensor, prefix, pat, layer, expert < 0 ? 0 : (size_t)expert);
    if (fused) snprintf(t->name, sizeof t->name, "%s[%ld]", t->tensor, expert);
    else snprintf(t->name, sizeof t->name, "%s", t->tensor);
    t->role = role;
    t->layout = layout;
    t->expert = expert;
    t->fused = fused;
    return t;
}

int pf_arch_layer_targets(pf_arch_target **out, size_t *n, const pf_arch_model *am, const profs_model *m,
                          size_t layer, int targets, size_t dim)
{
    const pf_arch *a = am->arch;
    tlist l = {0};
    int rc = PROFS_OK, val = (targets & PROFS_TARGET_VALUE) != 0, key = (targets & PROFS_TARGET_KEY) != 0;
    int sparse = am->sparse && am->sparse[layer];
    *out = NULL;
    *n = 0;
#define PUSH(...) do { if (!push(&l, __VA_ARGS__)) { rc = pf_enomem("edit targets"); goto fail; } } while (0)
    if (!sparse) {
        if (val) PUSH(am->prefix, a->value, layer, -1, PROFS_TARGET_VALUE, a->value_layout, 0);
        for (int k = 0; key && a->keys[k]; k++) PUSH(am->prefix, a->keys[k], layer, -1, PROFS_TARGET_KEY, a->key_layout, 0);
    } else if (am->fused) {
        for (size_t e = 0; val && e < am->n_experts; e++)
            PUSH(am->prefix, a->fused_value, layer, (long)e, PROFS_TARGET_VALUE, a->value_layout, 1);
        for (size_t e = 0; key && e < am->n_experts; e++)
            PUSH(am->prefix, a->fused_key, layer, (long)e, PROFS_TARGET_KEY, a->key_layout, 1);
    } else {
        /* every declared expert must be there: collect the missing ones to name them all */
        char missing[768] = "";
        size_t n_missing = 0, off = 0;
        for (size_t e = 0; e < am->n_experts; e++) {
            if (val) PUSH(am->prefix, a->expert_value, layer, (long)e, PROFS_TARGET_VALUE, a->value_layout, 0);
            for (int k = 0; key && a->expert_keys[k]; k++)
                PUSH(am->prefix, a->expert_keys[k], layer, (long)e, PROFS_TARGET_KEY, a->key_layout, 0);
        }
        for (size_t i = 0; i < l.n; i++)
            if (!profs_model_has_tensor(m, l.t[i].tensor)) {
                if (n_missing < 6 && off < sizeof missing - 1)
                    off += (size_t)snprintf(missing + off, sizeof missing - off, "%s'%s'", n_missing ? ", " : "",
                                            l.t[i].tensor);
                n_missing++;
            }
        if (n_missing) {
            rc = pf_error(PROFS_ENOTFOUND, "%s: layer %zu: %s declares %zu experts but %zu expert tensor%s missing: "
                          "%s%s", profs_model_path(m), layer, a->name, am->n_experts, n_missing,
                          n_missing == 1 ? " is" : "s are", missing, n_missing > 6 ? ", ..." : "");
            goto fail;
        }
        char extra[256];
        format_name2(extra, sizeof extra, am->prefix, a->expert_value, layer, am->n_experts);
        if (profs_model_has_tensor(m, extra)) {
            rc = pf_error(PROFS_EFORMAT, "%s: layer %zu: tensor '%s' is past the %zu experts config.json declares",
                          profs_model_path(m), layer, extra, am->n_experts);
            goto fail;
        }
    }
    if (sparse && a->shared_value) {
        if (val) PUSH(am->prefix, a->shared_value, layer, -1, PROFS_TARGET_VALUE, a->value_layout, 0);
        for (int k = 0; key && a->shared_keys[k]; k++)
            PUSH(am->prefix, a->shared_keys[k], layer, -1, PROFS_TARGET_KEY, a->key_layout, 0);
    }
#undef PUSH
    for (size_t i = 0; i < l.n; i++)
        if ((rc = check_matrix(m, &l.t[i], dim, am, layer))) goto fail;
    *out = l.t;
    *n = l.n;
    return PROFS_OK;
fail:
    free(l.t);
    return rc;
}
