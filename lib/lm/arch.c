/* The runtime's architecture table: config.json fields and tensor names per
 * architecture, validated up front (every needed tensor: present, shape, dtype). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "io/model_impl.h"
#include "lm/lm_internal.h"

static const char *path_of(const profs_lm *lm) { return profs_model_path(lm->model); }

/* 1 when key exists but has none of the getters' types (JSON null): treated as absent. */
static int is_null(const profs_lm *lm, const char *key)
{
    double d;
    const char *s;
    int b;
    size_t n;
    return profs_model_config_float(lm->model, key, &d) == PROFS_EFORMAT &&
           profs_model_config_string(lm->model, key, &s) == PROFS_EFORMAT &&
           profs_model_config_bool(lm->model, key, &b) == PROFS_EFORMAT &&
           profs_model_config_array_size(lm->model, key, &n) == PROFS_EFORMAT;
}

/* Optional integer: *out keeps its default when the key is absent or null. */
static int cfg_int(const profs_lm *lm, const char *key, int64_t *out, int required)
{
    int64_t v;
    int rc = profs_model_config_int(lm->model, key, &v);
    if (rc == PROFS_OK) {
        *out = v;
        return 0;
    }
    if (rc == PROFS_EFORMAT && is_null(lm, key)) rc = PROFS_ENOTFOUND;
    if (rc == PROFS_ENOTFOUND && !required) return 0;
    if (rc == PROFS_ENOTFOUND)
        return pf_error(PROFS_EFORMAT, "%s: config.json: missing integer field '%s'", path_of(lm), key);
    return pf_error(PROFS_EFORMAT, "%s: config.json: field '%s' is not an integer", path_of(lm), key);
}

static int cfg_float(const profs_lm *lm, const char *key, double *out)
{
    double v;
    int rc = profs_model_config_float(lm->model, key, &v);
    if (rc == PROFS_OK) { *out = v; return 0; }
    if (rc == PROFS_ENOTFOUND || is_null(lm, key)) return 0;
    return pf_error(PROFS_EFORMAT, "%s: config.json: field '%s' is not a number", path_of(lm), key);
}

static int cfg_bool(const profs_lm *lm, const char *key, int *out)
{
    int v;
    int rc = profs_model_config_bool(lm->model, key, &v);
    if (rc == PROFS_OK) { *out = v; return 0; }
    if (rc == PROFS_ENOTFOUND || is_null(lm, key)) return 0;
    return pf_error(PROFS_EFORMAT, "%s: config.json: field '%s' is not a boolean", path_of(lm), key);
}

static const char *cfg_str(const profs_lm *lm, const char *key)
{
    const char *s = NULL;
    if (profs_model_config_string(lm->model, key, &s) != PROFS_OK) return NULL;
    return s;
}

static int positive(const profs_lm *lm, const char *key, int64_t v, size_t *out)
{
    if (v <= 0 || v > (int64_t)1 << 40)
        return pf_error(PROFS_EFORMAT, "%s: config.json: field '%s' = %lld is out of range",
                        path_of(lm), key, (long long)v);
    *out = (size_t)v;
    return 0;
}

static int parse_act(const profs_lm *lm, const char *key, const char *name, int *act)
{
    if (!name) return pf_error(PROFS_EFORMAT, "%s: config.json: missing string field '%s'", path_of(lm), key);
    if (!strcmp(name, "gelu_new") || !strcmp(name, "gelu_pytorch_tanh") || !strcmp(name, "gelu_fast"))
        *act = PF_ACT_GELU_TANH;
    else if (!strcmp(name, "gelu")) *act = PF_ACT_GELU_ERF;
    else if (!strcmp(name, "relu")) *act = PF_ACT_RELU;
    else if (!strcmp(name, "silu") || !strcmp(name, "swish")) *act = PF_ACT_SILU;
    else
        return pf_error(PROFS_EUNSUPPORTED, "%s: config.json: %s '%s' is not supported", path_of(lm), key, name);
    return 0;
}

static int identify(profs_lm *lm)
{
    const char *mt = cfg_str(lm, "model_type");
    const char *ar = NULL;
    if (profs_model_config_array_string(lm->model, "architectures", 0, &ar) != PROFS_OK) ar = NULL;
    static const struct { const char *mt, *arch; int id; } known[] = {
        {"gpt2", "GPT2LMHeadModel", PF_ARCH_GPT2},
        {"mistral", "MistralForCausalLM", PF_ARCH_LLAMA},
        {"llama", "LlamaForCausalLM", PF_ARCH_LLAMA},
        {"opt", "OPTForCausalLM", PF_ARCH_OPT},
        {"gptj", "GPTJForCausalLM", PF_ARCH_GPTJ},
        {"mixtral", "MixtralForCausalLM", PF_ARCH_LLAMA},
        {"qwen2_moe", "Qwen2MoeForCausalLM", PF_ARCH_LLAMA},
        {"qwen3_moe", "Qwen3MoeForCausalLM", PF_ARCH_LLAMA},
    };
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
        if ((mt && !strcmp(mt, known[i].mt)) || (!mt && ar && !strcmp(ar, known[i].arch))) {
            lm->cfg.arch = known[i].id;
            snprintf(lm->cfg.model_type, sizeof lm->cfg.model_type, "%s", known[i].mt);
            return 0;
        }
    }
    if (!mt && !ar)
        return pf_error(PROFS_EFORMAT, "%s: config.json: neither 'model_type' nor 'architectures' is set",
                        path_of(lm));
    return pf_error(PROFS_EUNSUPPORTED,
                    "%s: config.json: architecture '%s' is not supported (gpt2, mistral, llama, opt, gptj, "
                    "mixtral, qwen2_moe, qwen3_moe)",
                    path_of(lm), mt ? mt : ar);
}

/* RoPE inverse frequencies as transformers computes them in f32, with the
 * llama3 / linear rope_scaling variants. */
static int rope_freqs(profs_lm *lm, double theta, size_t dim)
{
    pf_lm_config *c = &lm->cfg;
    size_t n = dim / 2;
    c->inv_freq = malloc((n ? n : 1) * sizeof(float));
    if (!c->inv_freq) return pf_enomem("rope frequencies");
    for (size_t i = 0; i < n; i++) {
        float e = (float)(2 * i) / (float)dim;
        c->inv_freq[i] = (float)(1.0 / pow(theta, (double)e));
    }
    if (c->arch != PF_ARCH_LLAMA) return 0;
    /* rope_scaling (transformers 4), else rope_parameters (transformers 5) */
    const char *sec = "rope_scaling";
    const char *type = cfg_str(lm, "rope_scaling.rope_type");
    if (!type) type = cfg_str(lm, "rope_scaling.type");
    if (!type && (type = cfg_str(lm, "rope_parameters.rope_type")) != NULL) sec = "rope_parameters";
    if (!type || !strcmp(type, "default")) return 0;
    char k_factor[64], k_lo[64], k_hi[64], k_old[80];
    snprintf(k_factor, sizeof k_factor, "%s.factor", sec);
    snprintf(k_lo, sizeof k_lo, "%s.low_freq_factor", sec);
    snprintf(k_hi, sizeof k_hi, "%s.high_freq_factor", sec);
    snprintf(k_old, sizeof k_old, "%s.original_max_position_embeddings", sec);
    double factor = 1.0;
    if (cfg_float(lm, k_factor, &factor)) return PROFS_EFORMAT;
    if (!(factor > 0))
        return pf_error(PROFS_EFORMAT, "%s: config.json: %s must be positive", path_of(lm), k_factor);
    if (!strcmp(type, "linear")) {
        for (size_t i = 0; i < n; i++) c->inv_freq[i] = (float)(c->inv_freq[i] / factor);
        return 0;
    }
    if (!strcmp(type, "llama3")) {
        double lo = 1.0, hi = 4.0, old = 8192.0;
        int64_t oldi = 8192;
        if (cfg_float(lm, k_lo, &lo) || cfg_float(lm, k_hi, &hi) || cfg_int(lm, k_old, &oldi, 0))
            return PROFS_EFORMAT;
        old = (double)oldi;
        if (!(hi > lo))
            return pf_error(PROFS_EFORMAT, "%s: config.json: %s must exceed low_freq_factor", path_of(lm), k_hi);
        double lo_wl = old / lo, hi_wl = old / hi;
        for (size_t i = 0; i < n; i++) {
            double f = c->inv_freq[i], wl = 2.0 * M_PI / f;
            double g = wl > lo_wl ? f / factor : f;
            if (!(wl < hi_wl) && !(wl > lo_wl)) {
                double s = (old / wl - lo) / (hi - lo);
                g = (1.0 - s) * g / factor + s * g;
            }
            c->inv_freq[i] = (float)g;
        }
        return 0;
    }
    return pf_error(PROFS_EUNSUPPORTED, "%s: config.json: %s type '%s' is not supported "
                    "(default, linear, llama3)", path_of(lm), sec, type);
}

int pf_lm_config_read(profs_lm *lm)
{
    pf_lm_config *c = &lm->cfg;
    if (!profs_model_has_config(lm->model))
        return pf_error(PROFS_EFORMAT, "%s: no config.json next to the weights", path_of(lm));
    int rc = identify(lm);
    if (rc) return rc;
    int64_t L = 0, D = 0, H = 0, KV = 0, F = 0, V = 0, P = 0, hd = 0, rot = 0, win = 0, proj = 0;
    double eps = 1e-5, theta = 10000.0;
    c->ln_before = 1;
    c->has_final_norm = 1;
    c->rms_norm = 0;
    c->pos_offset = 0;
    int tied = 0;
    switch (c->arch) {
    case PF_ARCH_GPT2:
    case PF_ARCH_GPTJ: {
        if (cfg_int(lm, "n_layer", &L, 1) || cfg_int(lm, "n_embd", &D, 1) || cfg_int(lm, "n_head", &H, 1) ||
            cfg_int(lm, "vocab_size", &V, 1) || cfg_int(lm, "n_positions", &P, 1))
            return PROFS_EFORMAT;
        F = 0;
        if (cfg_int(lm, "n_inner", &F, 0)) return PROFS_EFORMAT;
        if (F == 0) F = 4 * D;
        if (cfg_float(lm, "layer_norm_epsilon", &eps)) return PROFS_EFORMAT;
        const char *act = cfg_str(lm, "activation_function");
        if (rc = parse_act(lm, "activation_function", act ? act : "gelu_new", &c->act), rc) return rc;
        if (c->arch == PF_ARCH_GPT2) {
            tied = 1;
            int scale = 1, inv = 0, reorder = 0;
            if (cfg_bool(lm, "scale_attn_weights", &scale) ||
                cfg_bool(lm, "scale_attn_by_inverse_layer_idx", &inv) ||
                cfg_bool(lm, "reorder_and_upcast_attn", &reorder))
                return PROFS_EFORMAT;
            c->attn_scale = scale ? 1.0f / sqrtf((float)(D / H)) : 1.0f;
            c->scale_by_layer = inv;
            c->rope = PF_ROPE_NONE;
        } else {
            tied = 0;
            c->parallel = 1;
            rot = 64; /* GPTJConfig's default when the field is absent */
            if (pf_model_config_is_null(lm->model, "rotary_dim")) rot = -1; /* None: the whole width */
            else if (cfg_int(lm, "rotary_dim", &rot, 0)) return PROFS_EFORMAT;
            c->rope = PF_ROPE_INTERLEAVED;
        }
        KV = H;
        break;
    }
    case PF_ARCH_LLAMA: {
        if (cfg_int(lm, "num_hidden_layers", &L, 1) || cfg_int(lm, "hidden_size", &D, 1) ||
            cfg_int(lm, "num_attention_heads", &H, 1) || cfg_int(lm, "intermediate_size", &F, 1) ||
            cfg_int(lm, "vocab_size", &V, 1) || cfg_int(lm, "max_position_embeddings", &P, 1))
            return PROFS_EFORMAT;
        KV = H;
        if (cfg_int(lm, "num_key_value_heads", &KV, 0) || cfg_int(lm, "head_dim", &hd, 0) ||
            cfg_float(lm, "rms_norm_eps", &eps) || cfg_float(lm, "rope_theta", &theta))
            return PROFS_EFORMAT;
        /* transformers 5 writes rope_theta (and the scaling) inside rope_parameters */
        if (profs_model_config_float(lm->model, "rope_theta", &(double){0}) != PROFS_OK &&
            cfg_float(lm, "rope_parameters.rope_theta", &theta))
            return PROFS_EFORMAT;
        if (cfg_int(lm, "sliding_window", &win, 0)) return PROFS_EFORMAT;
        if (!strcmp(c->model_type, "llama")) win = 0; /* llama has no sliding window */
        int ab = 0, mb = 0;
        if (!strcmp(c->model_type, "llama") &&
            (cfg_bool(lm, "attention_bias", &ab) || cfg_bool(lm, "mlp_bias", &mb)))
            return PROFS_EFORMAT;
        c->rms_norm = 1;
        c->rope = PF_ROPE_HALF;
        const char *act = cfg_str(lm, "hidden_act");
        if (rc = parse_act(lm, "hidden_act", act ? act : "silu", &c->act), rc) return rc;
        if (c->act != PF_ACT_SILU)
            return pf_error(PROFS_EUNSUPPORTED, "%s: config.json: hidden_act '%s' is not supported for %s (silu)",
                            path_of(lm), act, c->model_type);
        tied = 0;
        (void)ab; (void)mb;
        break;
    }
    case PF_ARCH_OPT: {
        if (cfg_int(lm, "num_hidden_layers", &L, 1) || cfg_int(lm, "hidden_size", &D, 1) ||
            cfg_int(lm, "num_attention_heads", &H, 1) || cfg_int(lm, "ffn_dim", &F, 1) ||
            cfg_int(lm, "vocab_size", &V, 1) || cfg_int(lm, "max_position_embeddings", &P, 1))
            return PROFS_EFORMAT;
        KV = H;
        proj = D;
        if (cfg_int(lm, "word_embed_proj_dim", &proj, 0)) return PROFS_EFORMAT;
        int before = 1, remove_final = 0, affine = 1, bias = 1;
        if (cfg_bool(lm, "do_layer_norm_before", &before) ||
            cfg_bool(lm, "_remove_final_layer_norm", &remove_final) ||
            cfg_bool(lm, "layer_norm_elementwise_affine", &affine) || cfg_bool(lm, "enable_bias", &bias))
            return PROFS_EFORMAT;
        if (!affine)
            return pf_error(PROFS_EUNSUPPORTED, "%s: config.json: layer_norm_elementwise_affine = false "
                            "is not supported", path_of(lm));
        c->opt_bias = bias;
        c->ln_before = before;
        c->has_final_norm = before && !remove_final;
        const char *act = cfg_str(lm, "activation_function");
        if (rc = parse_act(lm, "activation_function", act ? act : "relu", &c->act), rc) return rc;
        c->pos_offset = 2;
        c->rope = PF_ROPE_NONE;
        tied = 1;
        eps = 1e-5;
        break;
    }
    default:
        return pf_error(PROFS_EUNSUPPORTED, "unknown architecture");
    }
    if ((rc = positive(lm, "layers", L, &c->n_layers)) || (rc = positive(lm, "hidden size", D, &c->dim)) ||
        (rc = positive(lm, "heads", H, &c->n_heads)) || (rc = positive(lm, "kv heads", KV, &c->n_kv_heads)) ||
        (rc = positive(lm, "intermediate size", F, &c->ffn_dim)) || (rc = positive(lm, "vocab_size", V, &c->vocab)) ||
        (rc = positive(lm, "max positions", P, &c->max_pos)))
        return rc;
    if (hd == 0) {
        if (c->dim % c->n_heads)
            return pf_error(PROFS_EFORMAT, "%s: config.json: hidden size %zu is not a multiple of %zu heads",
                            path_of(lm), c->dim, c->n_heads);
        hd = (int64_t)(c->dim / c->n_heads);
    }
    if ((rc = positive(lm, "head_dim", hd, &c->head_dim))) return rc;
    if (c->n_heads % c->n_kv_heads)
        return pf_error(PROFS_EFORMAT, "%s: config.json: %zu attention heads are not a multiple of %zu "
                        "key/value heads", path_of(lm), c->n_heads, c->n_kv_heads);
    c->q_dim = c->n_heads * c->head_dim;
    c->kv_dim = c->n_kv_heads * c->head_dim;
    if (c->arch != PF_ARCH_GPT2) c->attn_scale = 1.0f / sqrtf((float)c->head_dim);
    if (c->arch == PF_ARCH_GPTJ) {
        /* GPT-J divides by sqrt(head_dim) computed in f32 */
        c->attn_scale = 1.0f / sqrtf((float)c->head_dim);
    }
    c->norm_eps = eps;
    c->sliding_window = win > 0 ? (size_t)win : 0;
    if (proj && c->arch == PF_ARCH_OPT) {
        if ((rc = positive(lm, "word_embed_proj_dim", proj, &c->embed_dim))) return rc;
    } else {
        c->embed_dim = c->dim;
    }
    int t = tied;
    if (cfg_bool(lm, "tie_word_embeddings", &t)) return PROFS_EFORMAT;
    c->tied = t;
    if (c->rope != PF_ROPE_NONE) {
        size_t rd = c->head_dim;
        if (c->arch == PF_ARCH_GPTJ && rot < 0 && c->n_heads != 1)
            /* transformers builds the sin/cos table for n_embd when rotary_dim is None and
             * applies it to each head of head_dim: it only runs with a single head */
            return pf_error(PROFS_EUNSUPPORTED, "%s: config.json: rotary_dim null (rotate the whole width) "
                            "only works with one head, as in transformers; this model has %zu",
                            path_of(lm), c->n_heads);
        if (c->arch == PF_ARCH_GPTJ && rot >= 0) {
            if (rot == 0 || (size_t)rot > c->head_dim || rot % 2)
                return pf_error(PROFS_EFORMAT, "%s: config.json: rotary_dim %lld must be even, positive and "
                                "at most head_dim %zu", path_of(lm), (long long)rot, c->head_dim);
            rd = (size_t)rot;
        }
        if (rd % 2)
            return pf_error(PROFS_EFORMAT, "%s: config.json: head_dim %zu must be even for rotary embeddings",
                            path_of(lm), rd);
        c->rotary_dim = rd;
        if ((rc = rope_freqs(lm, theta, rd))) return rc;
    }
    return pf_moe_config_read(lm);
}

/* ---- tensor names ---- */

static char *fmt_name(const char *fmt, const char *prefix, size_t layer)
{
    char buf[256];
    snprintf(buf, sizeof buf, fmt, prefix, layer);
    return strdup(buf);
}

static int set_l(profs_lm *lm, size_t l, int slot, const char *fmt, const char *prefix)
{
    char *n = fmt_name(fmt, prefix, l);
    if (!n) return pf_enomem("tensor name");
    lm->lname[l * PF_SLOT_COUNT + slot] = n;
    return 0;
}

static int set_g(profs_lm *lm, int slot, const char *fmt, const char *prefix)
{
    char *n = fmt_name(fmt, prefix, 0);
    if (!n) return pf_enomem("tensor name");
    lm->gname[slot] = n;
    return 0;
}

static int has(const profs_lm *lm, const char *name) { return profs_model_has_tensor(lm->model, name); }

static int names_gpt2(profs_lm *lm)
{
    const char *p = has(lm, "transformer.wte.weight") ? "transformer." : "";
    static const struct { int slot; const char *fmt; } ls[] = {
        {PF_LN1_W, "%sh.%zu.ln_1.weight"}, {PF_LN1_B, "%sh.%zu.ln_1.bias"},
        {PF_QKV_W, "%sh.%zu.attn.c_attn.weight"}, {PF_QKV_B, "%sh.%zu.attn.c_attn.bias"},
        {PF_O_W, "%sh.%zu.attn.c_proj.weight"}, {PF_O_B, "%sh.%zu.attn.c_proj.bias"},
        {PF_LN2_W, "%sh.%zu.ln_2.weight"}, {PF_LN2_B, "%sh.%zu.ln_2.bias"},
        {PF_UP_W, "%sh.%zu.mlp.c_fc.weight"}, {PF_UP_B, "%sh.%zu.mlp.c_fc.bias"},
        {PF_DOWN_W, "%sh.%zu.mlp.c_proj.weight"}, {PF_DOWN_B, "%sh.%zu.mlp.c_proj.bias"},
    };
    for (size_t l = 0; l < lm->cfg.n_layers; l++)
        for (size_t i = 0; i < sizeof ls / sizeof ls[0]; i++)
            if (set_l(lm, l, ls[i].slot, ls[i].fmt, p)) return PROFS_ENOMEM;
    if (set_g(lm, PF_G_EMBED, "%swte.weight", p) || set_g(lm, PF_G_POS, "%swpe.weight", p) ||
        set_g(lm, PF_G_NORM_W, "%sln_f.weight", p) || set_g(lm, PF_G_NORM_B, "%sln_f.bias", p))
        return PROFS_ENOMEM;
    if (!lm->cfg.tied && set_g(lm, PF_G_HEAD_W, "%slm_head.weight", "")) return PROFS_ENOMEM;
    lm->ltrans[PF_QKV_W] = lm->ltrans[PF_O_W] = lm->ltrans[PF_UP_W] = lm->ltrans[PF_DOWN_W] = 1;
    return 0;
}

static int names_llama(profs_lm *lm)
{
    const char *p = has(lm, "model.embed_tokens.weight") ? "model." : "";
    static const struct { int slot; const char *fmt; } ls[] = {
        {PF_LN1_W, "%slayers.%zu.input_layernorm.weight"},
        {PF_Q_W, "%slayers.%zu.self_attn.q_proj.weight"}, {PF_K_W, "%slayers.%zu.self_attn.k_proj.weight"},
        {PF_V_W, "%slayers.%zu.self_attn.v_proj.weight"}, {PF_O_W, "%slayers.%zu.self_attn.o_proj.weight"},
        {PF_LN2_W, "%slayers.%zu.post_attention_layernorm.weight"},
        {PF_GATE_W, "%slayers.%zu.mlp.gate_proj.weight"}, {PF_UP_W, "%slayers.%zu.mlp.up_proj.weight"},
        {PF_DOWN_W, "%slayers.%zu.mlp.down_proj.weight"},
    };
    static const struct { int slot; const char *fmt; } attn_b[] = {
        {PF_Q_B, "%slayers.%zu.self_attn.q_proj.bias"}, {PF_K_B, "%slayers.%zu.self_attn.k_proj.bias"},
        {PF_V_B, "%slayers.%zu.self_attn.v_proj.bias"}, {PF_O_B, "%slayers.%zu.self_attn.o_proj.bias"},
    };
    static const struct { int slot; const char *fmt; } mlp_b[] = {
        {PF_GATE_B, "%slayers.%zu.mlp.gate_proj.bias"}, {PF_UP_B, "%slayers.%zu.mlp.up_proj.bias"},
        {PF_DOWN_B, "%slayers.%zu.mlp.down_proj.bias"},
    };
    int ab = 0, mb = 0, qkvb = 0, qkn = 0;
    const char *mt = lm->cfg.model_type;
    if (!strcmp(mt, "llama") || !strcmp(mt, "qwen3_moe")) { /* Mistral's and Mixtral's never have a bias */
        (void)cfg_bool(lm, "attention_bias", &ab);
        if (!strcmp(mt, "llama")) (void)cfg_bool(lm, "mlp_bias", &mb);
    }
    if (!strcmp(mt, "qwen2_moe")) { /* q, k and v biases (qkv_bias, default true), never on o_proj */
        qkvb = 1;
        if (cfg_bool(lm, "qkv_bias", &qkvb)) return PROFS_EFORMAT;
    }
    if (!strcmp(mt, "qwen3_moe")) qkn = 1;
    for (size_t l = 0; l < lm->cfg.n_layers; l++) {
        for (size_t i = 0; i < sizeof ls / sizeof ls[0]; i++)
            if (set_l(lm, l, ls[i].slot, ls[i].fmt, p)) return PROFS_ENOMEM;
        for (size_t i = 0; ab && i < sizeof attn_b / sizeof attn_b[0]; i++)
            if (set_l(lm, l, attn_b[i].slot, attn_b[i].fmt, p)) return PROFS_ENOMEM;
        for (size_t i = 0; !ab && qkvb && i < 3; i++)
            if (set_l(lm, l, attn_b[i].slot, attn_b[i].fmt, p)) return PROFS_ENOMEM;
        if (qkn && (set_l(lm, l, PF_QN_W, "%slayers.%zu.self_attn.q_norm.weight", p) ||
                    set_l(lm, l, PF_KN_W, "%slayers.%zu.self_attn.k_norm.weight", p)))
            return PROFS_ENOMEM;
        for (size_t i = 0; mb && i < sizeof mlp_b / sizeof mlp_b[0]; i++)
            if (set_l(lm, l, mlp_b[i].slot, mlp_b[i].fmt, p)) return PROFS_ENOMEM;
    }
    if (set_g(lm, PF_G_EMBED, "%sembed_tokens.weight", p) || set_g(lm, PF_G_NORM_W, "%snorm.weight", p))
        return PROFS_ENOMEM;
    if (!lm->cfg.tied && set_g(lm, PF_G_HEAD_W, "%slm_head.weight", "")) return PROFS_ENOMEM;
    return lm->cfg.moe_layer ? pf_moe_names(lm, p) : 0;
}

static int names_opt(profs_lm *lm)
{
    const char *p = has(lm, "model.decoder.embed_tokens.weight") ? "model.decoder." : "decoder.";
    static const struct { int slot; const char *fmt; } ls[] = {
        {PF_LN1_W, "%slayers.%zu.self_attn_layer_norm.weight"}, {PF_LN1_B, "%slayers.%zu.self_attn_layer_norm.bias"},
        {PF_Q_W, "%slayers.%zu.self_attn.q_proj.weight"}, {PF_Q_B, "%slayers.%zu.self_attn.q_proj.bias"},
        {PF_K_W, "%slayers.%zu.self_attn.k_proj.weight"}, {PF_K_B, "%slayers.%zu.self_attn.k_proj.bias"},
        {PF_V_W, "%slayers.%zu.self_attn.v_proj.weight"}, {PF_V_B, "%slayers.%zu.self_attn.v_proj.bias"},
        {PF_O_W, "%slayers.%zu.self_attn.out_proj.weight"}, {PF_O_B, "%slayers.%zu.self_attn.out_proj.bias"},
        {PF_LN2_W, "%slayers.%zu.final_layer_norm.weight"}, {PF_LN2_B, "%slayers.%zu.final_layer_norm.bias"},
        {PF_UP_W, "%slayers.%zu.fc1.weight"}, {PF_UP_B, "%slayers.%zu.fc1.bias"},
        {PF_DOWN_W, "%slayers.%zu.fc2.weight"}, {PF_DOWN_B, "%slayers.%zu.fc2.bias"},
    };
    for (size_t l = 0; l < lm->cfg.n_layers; l++)
        for (size_t i = 0; i < sizeof ls / sizeof ls[0]; i++) {
            int s = ls[i].slot;
            /* enable_bias = false: no bias on q/k/v/out_proj, fc1, fc2 (the layer norms keep theirs) */
            if (!lm->cfg.opt_bias && (s == PF_Q_B || s == PF_K_B || s == PF_V_B || s == PF_O_B || s == PF_UP_B ||
                                      s == PF_DOWN_B))
                continue;
            if (set_l(lm, l, s, ls[i].fmt, p)) return PROFS_ENOMEM;
        }
    if (set_g(lm, PF_G_EMBED, "%sembed_tokens.weight", p) || set_g(lm, PF_G_POS, "%sembed_positions.weight", p))
        return PROFS_ENOMEM;
    if (lm->cfg.has_final_norm &&
        (set_g(lm, PF_G_NORM_W, "%sfinal_layer_norm.weight", p) || set_g(lm, PF_G_NORM_B, "%sfinal_layer_norm.bias", p)))
        return PROFS_ENOMEM;
    if (lm->cfg.embed_dim != lm->cfg.dim &&
        (set_g(lm, PF_G_PROJ_IN, "%sproject_in.weight", p) || set_g(lm, PF_G_PROJ_OUT, "%sproject_out.weight", p)))
        return PROFS_ENOMEM;
    if (!lm->cfg.tied && set_g(lm, PF_G_HEAD_W, "%slm_head.weight", "")) return PROFS_ENOMEM;
    return 0;
}

static int names_gptj(profs_lm *lm)
{
    const char *p = "transformer.";
    static const struct { int slot; const char *fmt; } ls[] = {
        {PF_LN1_W, "%sh.%zu.ln_1.weight"}, {PF_LN1_B, "%sh.%zu.ln_1.bias"},
        {PF_Q_W, "%sh.%zu.attn.q_proj.weight"}, {PF_K_W, "%sh.%zu.attn.k_proj.weight"},
        {PF_V_W, "%sh.%zu.attn.v_proj.weight"}, {PF_O_W, "%sh.%zu.attn.out_proj.weight"},
        {PF_UP_W, "%sh.%zu.mlp.fc_in.weight"}, {PF_UP_B, "%sh.%zu.mlp.fc_in.bias"},
        {PF_DOWN_W, "%sh.%zu.mlp.fc_out.weight"}, {PF_DOWN_B, "%sh.%zu.mlp.fc_out.bias"},
    };
    for (size_t l = 0; l < lm->cfg.n_layers; l++)
        for (size_t i = 0; i < sizeof ls / sizeof ls[0]; i++)
            if (set_l(lm, l, ls[i].slot, ls[i].fmt, p)) return PROFS_ENOMEM;
    if (set_g(lm, PF_G_EMBED, "%swte.weight", p) || set_g(lm, PF_G_NORM_W, "%sln_f.weight", p) ||
        set_g(lm, PF_G_NORM_B, "%sln_f.bias", p))
        return PROFS_ENOMEM;
    /* lm_head always has its bias; tie_word_embeddings only shares the weight */
    if ((!lm->cfg.tied && set_g(lm, PF_G_HEAD_W, "%slm_head.weight", "")) ||
        set_g(lm, PF_G_HEAD_B, "%slm_head.bias", ""))
        return PROFS_ENOMEM;
    return 0;
}

/* Expected shape of a layer slot: rows x cols (cols 0 for a vector). */
static void slot_shape(const pf_lm_config *c, int arch, int slot, size_t *r, size_t *k)
{
    size_t D = c->dim, F = c->ffn_dim, Q = c->q_dim, KV = c->kv_dim;
    *k = 0;
    switch (slot) {
    case PF_LN1_W: case PF_LN1_B: case PF_LN2_W: case PF_LN2_B: case PF_O_B: case PF_DOWN_B: *r = D; break;
    case PF_QKV_W: *r = D; *k = 3 * D; break;                         /* Conv1D [in, out] */
    case PF_QKV_B: *r = 3 * D; break;
    case PF_Q_W: *r = Q; *k = D; break;
    case PF_Q_B: *r = Q; break;
    case PF_K_W: case PF_V_W: *r = KV; *k = D; break;
    case PF_K_B: case PF_V_B: *r = KV; break;
    case PF_O_W: if (arch == PF_ARCH_GPT2) { *r = D; *k = D; } else { *r = D; *k = Q; } break;
    case PF_GATE_W: case PF_UP_W: if (arch == PF_ARCH_GPT2) { *r = D; *k = F; } else { *r = F; *k = D; } break;
    case PF_GATE_B: case PF_UP_B: *r = F; break;
    case PF_DOWN_W: if (arch == PF_ARCH_GPT2) { *r = F; *k = D; } else { *r = D; *k = F; } break;
    case PF_QN_W: case PF_KN_W: *r = c->head_dim; break;
    case PF_ROUTER_W: *r = c->n_experts; *k = D; break;
    case PF_SH_GATE_W: case PF_SH_UP_W: *r = c->shared_ffn; *k = D; break;
    case PF_SH_DOWN_W: *r = D; *k = c->shared_ffn; break;
    case PF_SH_GATE: *r = 1; *k = D; break;
    default: *r = 0; break;
    }
}

static int check_one(const profs_lm *lm, const char *name, size_t r, size_t k)
{
    int dt;
    size_t nd;
    const int64_t *sh;
    if (profs_model_tensor_info(lm->model, name, &dt, &nd, &sh) != PROFS_OK)
        return pf_error(PROFS_ENOTFOUND, "%s: %s checkpoint lacks tensor '%s'", path_of(lm),
                        lm->cfg.model_type, name);
    if (dt != PROFS_DTYPE_F32 && dt != PROFS_DTYPE_F16 && dt != PROFS_DTYPE_BF16)
        return pf_error(PROFS_EUNSUPPORTED, "%s: tensor '%s': dtype %s is not supported (F32, F16, BF16)",
                        path_of(lm), name, profs_dtype_name(dt) ? profs_dtype_name(dt) : "?");
    int ok = k ? (nd == 2 && sh[0] == (int64_t)r && sh[1] == (int64_t)k) : (nd == 1 && sh[0] == (int64_t)r);
    if (!ok) {
        char got[96] = "[", want[64];
        size_t o = 1;
        for (size_t i = 0; i < nd && o < sizeof got - 24; i++)
            o += (size_t)snprintf(got + o, sizeof got - o, i ? ", %lld" : "%lld", (long long)sh[i]);
        snprintf(got + o, sizeof got - o, "]");
        if (k) snprintf(want, sizeof want, "[%zu, %zu]", r, k);
        else snprintf(want, sizeof want, "[%zu]", r);
        return pf_error(PROFS_ESHAPE, "%s: tensor '%s' has shape %s, config.json implies %s", path_of(lm),
                        name, got, want);
    }
    return 0;
}

int pf_lm_check_tensors(profs_lm *lm)
{
    pf_lm_config *c = &lm->cfg;
    lm->lname = calloc(c->n_layers * PF_SLOT_COUNT, sizeof(char *));
    lm->ltrans = calloc(PF_SLOT_COUNT, sizeof(int));
    if (!lm->lname || !lm->ltrans) return pf_enomem("tensor table");
    int rc;
    switch (c->arch) {
    case PF_ARCH_GPT2: rc = names_gpt2(lm); break;
    case PF_ARCH_LLAMA: rc = names_llama(lm); break;
    case PF_ARCH_OPT: rc = names_opt(lm); break;
    default: rc = names_gptj(lm); break;
    }
    if (rc) return rc;
    for (size_t l = 0; l < c->n_layers; l++)
        for (int s = 0; s < PF_SLOT_COUNT; s++) {
            const char *n = lm->lname[l * PF_SLOT_COUNT + s];
            if (!n) continue;
            size_t r, k;
            slot_shape(c, c->arch, s, &r, &k);
            if ((rc = check_one(lm, n, r, k))) return rc;
        }
    size_t E = c->embed_dim;
    if ((rc = check_one(lm, lm->gname[PF_G_EMBED], c->vocab, E))) return rc;
    if (lm->gname[PF_G_POS] && (rc = check_one(lm, lm->gname[PF_G_POS], c->max_pos + c->pos_offset, c->dim)))
        return rc;
    if (lm->gname[PF_G_PROJ_IN] && (rc = check_one(lm, lm->gname[PF_G_PROJ_IN], c->dim, E))) return rc;
    if (lm->gname[PF_G_PROJ_OUT] && (rc = check_one(lm, lm->gname[PF_G_PROJ_OUT], E, c->dim))) return rc;
    if (lm->gname[PF_G_NORM_W] && (rc = check_one(lm, lm->gname[PF_G_NORM_W], c->dim, 0))) return rc;
    if (lm->gname[PF_G_NORM_B] && (rc = check_one(lm, lm->gname[PF_G_NORM_B], c->dim, 0))) return rc;
    if (lm->gname[PF_G_HEAD_W] && (rc = check_one(lm, lm->gname[PF_G_HEAD_W], c->vocab, E))) return rc;
    if (lm->gname[PF_G_HEAD_B] && (rc = check_one(lm, lm->gname[PF_G_HEAD_B], c->vocab, 0))) return rc;
    return c->moe_layer ? pf_moe_check(lm) : 0;
}
