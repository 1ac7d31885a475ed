/* The architecture table: per model family, where the MLP value and key matrices
 * live, their layouts, and the config.json keys of layer count and hidden size. */
#include "edit/arch.h"

#include <stdio.h>
#include <string.h>

#include "core/error.h"

static const pf_arch table[] = {
    {"gpt2", {"gpt2", NULL}, {"GPT2LMHeadModel", "GPT2Model", NULL}, "n_layer", "n_embd",
     {"transformer.", "", NULL}, "h.%zu.mlp.c_proj.weight", PROFS_LAYOUT_D_LAST,
     {"h.%zu.mlp.c_fc.weight", NULL}, PROFS_LAYOUT_D_FIRST},
    {"llama", {"llama", NULL}, {"LlamaForCausalLM", "LlamaModel", NULL}, "num_hidden_layers", "hidden_size",
     {"model.", "", NULL}, "layers.%zu.mlp.down_proj.weight", PROFS_LAYOUT_D_FIRST,
     {"layers.%zu.mlp.up_proj.weight", "layers.%zu.mlp.gate_proj.weight", NULL}, PROFS_LAYOUT_D_LAST},
    {"mistral", {"mistral", NULL}, {"MistralForCausalLM", "MistralModel", NULL}, "num_hidden_layers", "hidden_size",
     {"model.", "", NULL}, "layers.%zu.mlp.down_proj.weight", PROFS_LAYOUT_D_FIRST,
     {"layers.%zu.mlp.up_proj.weight", "layers.%zu.mlp.gate_proj.weight", NULL}, PROFS_LAYOUT_D_LAST},
    {"qwen2", {"qwen2", NULL}, {"Qwen2ForCausalLM", "Qwen2Model", NULL}, "num_hidden_layers", "hidden_size",
     {"model.", "", NULL}, "layers.%zu.mlp.down_proj.weight", PROFS_LAYOUT_D_FIRST,
     {"layers.%zu.mlp.up_proj.weight", "layers.%zu.mlp.gate_proj.weight", NULL}, PROFS_LAYOUT_D_LAST},
    {"opt", {"opt", NULL}, {"OPTForCausalLM", "OPTModel", NULL}, "num_hidden_layers", "hidden_size",
     {"model.decoder.", "decoder.", NULL}, "layers.%zu.fc2.weight", PROFS_LAYOUT_D_FIRST,
     {"layers.%zu.fc1.weight", NULL}, PROFS_LAYOUT_D_LAST},
    {"gptj", {"gptj", NULL}, {"GPTJForCausalLM", "GPTJModel", NULL}, "n_layer", "n_embd",
     {"transformer.", "", NULL}, "h.%zu.mlp.fc_out.weight", PROFS_LAYOUT_D_FIRST,
     {"h.%zu.mlp.fc_in.weight", NULL}, PROFS_LAYOUT_D_LAST},
};
#define N_ARCH (sizeof table / sizeof *table)

const char *pf_arch_supported(void) { return "gpt2, llama, mistral, qwen2, opt, gptj"; }

const pf_arch *pf_arch_by_name(const char *name)
{
    if (!name) return NULL;
    for (size_t i = 0; i < N_ARCH; i++)
        if (strcmp(table[i].name, name) == 0) return &table[i];
    return NULL;
}

static void format_name(char *buf, size_t n, const char *prefix, const char *pattern, size_t layer)
{
    char tail[200];
    snprintf(tail, sizeof tail, pattern, layer);
    snprintf(buf, n, "%s%s", prefix, tail);
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
        format_name(name, sizeof name, a->prefixes[p], a->value, 0);
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
        format_name(want, sizeof want, a->prefixes[0], a->value, 0);
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
            format_name(name, sizeof name, prefix, a->value, l);
            if (!profs_model_has_tensor(m, name)) break;
        }
        out->n_layers = l;
    } else if (rc) {
        return rc;
    }
    rc = config_size(&out->hidden, m, a->hidden_key);
    if (rc == PROFS_ENOTFOUND) out->hidden = 0;
    else if (rc) return rc;
    return PROFS_OK;
}
