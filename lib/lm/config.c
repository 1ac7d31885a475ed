/* The runtime's configuration and weight table, from the architecture table
 * (lib/arch): config.json read through the family's key map and quirk hook,
 * every dimension validated against sane limits before anything is allocated,
 * the tensor names built from the family's rows and every needed tensor checked
 * (present, shape, dtype) before any work. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "io/model_impl.h"
#include "lm/lm_internal.h"

/* Sane limits: a config beyond them is refused before any allocation. */
#define MAX_LAYERS 1024
#define MAX_DIM ((int64_t)1 << 17)
#define MAX_HEADS 4096
#define MAX_HEAD_DIM 4096
#define MAX_FFN ((int64_t)1 << 20)
#define MAX_VOCAB ((int64_t)1 << 24)
#define MAX_POS ((int64_t)1 << 26)

static const char *path_of(const profs_lm *lm) { return profs_model_path(lm->model); }

/* The config key with the family's prefix (text_config. for multimodal wrappers). */
static const char *K(const profs_lm *lm, const char *key, char *buf, size_t n)
{
    snprintf(buf, n, "%s%s", lm->cfg.fam ? lm->cfg.fam->config_prefix : "", key);
    return buf;
}

/* 1 when key exists but has none of the getters' types (JSON null): treated as absent. */
static int is_null(const profs_lm *lm, const char *key) { return pf_model_config_is_null(lm->model, key); }

/* Integer: *out keeps its default when the key is absent or null (an error when required). */
static int cfg_int(const profs_lm *lm, const char *key0, int64_t *out, int required)
{
    char key[160];
    K(lm, key0, key, sizeof key);
    int64_t v;
    int rc = profs_model_config_int(lm->model, key, &v);
    if (rc == PROFS_OK) { *out = v; return 0; }
    if (rc == PROFS_EFORMAT && is_null(lm, key)) rc = PROFS_ENOTFOUND;
    if (rc == PROFS_ENOTFOUND && !required) return 0;
    if (rc == PROFS_ENOTFOUND)
        return pf_error(PROFS_EFORMAT, "%s: config.json: missing integer field '%s'", path_of(lm), key);
    return pf_error(PROFS_EFORMAT, "%s: config.json: field '%s' is not an integer", path_of(lm), key);
}

static int cfg_float(const profs_lm *lm, const char *key0, double *out)
{
    char key[160];
    K(lm, key0, key, sizeof key);
    double v;
    int rc = profs_model_config_float(lm->model, key, &v);
    if (rc == PROFS_OK) { *out = v; return 0; }
    if (rc == PROFS_ENOTFOUND || is_null(lm, key)) return 0;
    return pf_error(PROFS_EFORMAT, "%s: config.json: field '%s' is not a number", path_of(lm), key);
}

static int cfg_bool(const profs_lm *lm, const char *key0, int *out)
{
    char key[160];
    K(lm, key0, key, sizeof key);
    int v;
    int rc = profs_model_config_bool(lm->model, key, &v);
    if (rc == PROFS_OK) { *out = v; return 0; }
    if (rc == PROFS_ENOTFOUND || is_null(lm, key)) return 0;
    return pf_error(PROFS_EFORMAT, "%s: config.json: field '%s' is not a boolean", path_of(lm), key);
}

static const char *cfg_str(const profs_lm *lm, const char *key0)
{
    char key[160];
    K(lm, key0, key, sizeof key);
    const char *s = NULL;
    if (profs_model_config_string(lm->model, key, &s) != PROFS_OK) return NULL;
    return s;
}

static int cfg_has(const profs_lm *lm, const char *key0)
{
    char key[160];
    return pf_model_config_has(lm->model, K(lm, key0, key, sizeof key));
}

static int in_range(const profs_lm *lm, const char *key0, int64_t v, int64_t max, size_t *out)
{
    char key[160];
    K(lm, key0, key, sizeof key);
    if (v <= 0 || v > max)
        return pf_error(PROFS_EFORMAT, "%s: config.json: field '%s' = %lld is out of range (1 to %lld)",
                        path_of(lm), key, (long long)v, (long long)max);
    *out = (size_t)v;
    return 0;
}

static int parse_act(const profs_lm *lm, const char *key0, const char *name, int *act)
{
    char key[160];
    K(lm, key0, key, sizeof key);
    if (!name) return pf_error(PROFS_EFORMAT, "%s: config.json: missing string field '%s'", path_of(lm), key);
    if (!strcmp(name, "gelu_new") || !strcmp(name, "gelu_pytorch_tanh") || !strcmp(name, "gelu_fast"))
        *act = PF_ACT_GELU_TANH;
    else if (!strcmp(name, "gelu")) *act = PF_ACT_GELU_ERF;
    else if (!strcmp(name, "relu")) *act = PF_ACT_RELU;
    else if (!strcmp(name, "silu") || !strcmp(name, "swish")) *act = PF_ACT_SILU;
    else
        return pf_error(PROFS_EUNSUPPORTED, "%s: config.json: %s '%s' is not supported (gelu_new, "
                        "gelu_pytorch_tanh, gelu_fast, gelu, relu, silu, swish)", path_of(lm), key, name);
    return 0;
}

static int identify(profs_lm *lm)
{
    const pf_family *f = NULL;
    const char *mt = NULL, *cls = NULL;
    if (profs_model_config_string(lm->model, "model_type", &mt) != PROFS_OK) mt = NULL;
    if (profs_model_config_array_string(lm->model, "architectures", 0, &cls) != PROFS_OK) cls = NULL;
    if (!mt && !cls)
        return pf_error(PROFS_EFORMAT, "%s: config.json: neither 'model_type' nor 'architectures' is set",
                        path_of(lm));
    if (pf_arch_identify(&f, lm->model) || !f) {
        profs_clear_error();
        return pf_error(PROFS_EUNSUPPORTED, "%s: config.json: architecture '%s' is not supported (%s; supported: %s)",
                        path_of(lm), mt ? mt : cls, mt ? "model_type" : "architectures[0]", pf_arch_supported());
    }
    lm->cfg.fam = f;
    lm->cfg.f = f->f;
    snprintf(lm->cfg.model_type, sizeof lm->cfg.model_type, "%s", f->name);
    return 0;
}

/* ---- rope ---- */

/* The rope parameters of section sec ("rope_scaling", "rope_parameters",
 * "rope_parameters.full_attention", ...): type and its numbers. */
static int rope_params(profs_lm *lm, const char *sec, pf_rope_cfg *r)
{
    char k[160];
#define KEY(name) (snprintf(k, sizeof k, "%s.%s", sec, name), k)
    const char *type = cfg_str(lm, KEY("rope_type"));
    if (!type) type = cfg_str(lm, KEY("type"));
    r->type = PF_RS_DEFAULT;
    if (!type || !strcmp(type, "default")) return 0;
    if (lm->cfg.fam->quirk == PF_Q_PHI3 && (!strcmp(type, "su") || !strcmp(type, "yarn"))) type = "longrope";
    if (!strcmp(type, "linear")) r->type = PF_RS_LINEAR;
    else if (!strcmp(type, "llama3")) r->type = PF_RS_LLAMA3;
    else if (!strcmp(type, "yarn")) r->type = PF_RS_YARN;
    else if (!strcmp(type, "dynamic")) r->type = PF_RS_DYNAMIC;
    else if (!strcmp(type, "longrope")) r->type = PF_RS_LONGROPE;
    else
        return pf_error(PROFS_EUNSUPPORTED, "%s: config.json: %s%s type '%s' is not supported "
                        "(default, linear, llama3, yarn, dynamic, longrope)", path_of(lm),
                        lm->cfg.fam->config_prefix, sec, type);
    r->factor = NAN;
    r->lo = 1.0;
    r->hi = 4.0;
    r->beta_fast = 32.0;
    r->beta_slow = 1.0;
    r->attention_factor = NAN;
    r->mscale = NAN;
    r->mscale_all_dim = NAN;
    int64_t old = 0;
    if (cfg_float(lm, KEY("factor"), &r->factor) || cfg_float(lm, KEY("low_freq_factor"), &r->lo) ||
        cfg_float(lm, KEY("high_freq_factor"), &r->hi) || cfg_int(lm, KEY("original_max_position_embeddings"), &old, 0) ||
        cfg_float(lm, KEY("beta_fast"), &r->beta_fast) || cfg_float(lm, KEY("beta_slow"), &r->beta_slow) ||
        cfg_float(lm, KEY("attention_factor"), &r->attention_factor) || cfg_float(lm, KEY("mscale"), &r->mscale) ||
        cfg_float(lm, KEY("mscale_all_dim"), &r->mscale_all_dim))
        return PROFS_EFORMAT;
    r->truncate = 1;
    if (cfg_bool(lm, KEY("truncate"), &r->truncate)) return PROFS_EFORMAT;
    r->original_max = old > 0 ? (size_t)old : 0;
    char full[200];
    snprintf(full, sizeof full, "%s%s.factor", lm->cfg.fam->config_prefix, sec);
    if (isnan(r->factor) && r->type != PF_RS_YARN && r->type != PF_RS_LONGROPE) r->factor = 1.0;
    if (!isnan(r->factor) && (!(r->factor > 0) || !isfinite(r->factor)))
        return pf_error(PROFS_EFORMAT, "%s: config.json: %s must be positive", path_of(lm), full);
    if (r->type == PF_RS_LLAMA3) {
        if (!(r->hi > r->lo))
            return pf_error(PROFS_EFORMAT, "%s: config.json: %s%s.high_freq_factor must exceed low_freq_factor",
                            path_of(lm), lm->cfg.fam->config_prefix, sec);
    }
    if (r->type == PF_RS_LONGROPE) {
        size_t half = lm->cfg.rotary_dim / 2, n = 0;
        static const char *const which[2] = {"short_factor", "long_factor"};
        for (int w = 0; w < 2; w++) {
            char ak[200];
            snprintf(ak, sizeof ak, "%s%s.%s", lm->cfg.fam->config_prefix, sec, which[w]);
            if (profs_model_config_array_size(lm->model, ak, &n) != PROFS_OK || n != half)
                return pf_error(PROFS_EFORMAT, "%s: config.json: %s must be a list of %zu numbers (rotary dim / 2)",
                                path_of(lm), ak, half);
        }
    }
#undef KEY
    return 0;
}

/* Default inverse frequencies, in f32 as transformers computes them. */
static float *base_freqs(double theta, size_t dim)
{
    size_t n = dim / 2;
    float *f = malloc((n ? n : 1) * sizeof(float));
    if (!f) return NULL;
    for (size_t i = 0; i < n; i++) {
        float e = (float)(2 * i) / (float)dim;
        f[i] = (float)(1.0 / pow(theta, (double)e));
    }
    return f;
}

static int read_factors(profs_lm *lm, const char *sec, const char *which, double *out, size_t n)
{
    char ak[200];
    snprintf(ak, sizeof ak, "%s%s.%s", lm->cfg.fam->config_prefix, sec, which);
    for (size_t i = 0; i < n; i++) {
        if (pf_model_config_array_float(lm->model, ak, i, &out[i]) != PROFS_OK) return PROFS_EFORMAT;
        if (!(out[i] > 0) || !isfinite(out[i]))
            return pf_error(PROFS_EFORMAT, "%s: config.json: %s[%zu] = %g must be positive", path_of(lm), ak, i,
                            out[i]);
    }
    return 0;
}

/* Fill rope table t (inverse frequencies, attention scaling) for the rope cfg r. */
static int rope_build(profs_lm *lm, pf_rope_tab *t, double theta, const pf_rope_cfg *r, const char *sec)
{
    pf_lm_config *c = &lm->cfg;
    size_t dim = c->rotary_dim, n = dim / 2;
    t->inv = base_freqs(theta, dim);
    if (!t->inv) return pf_enomem("rope frequencies");
    t->mscale = 1.0f;
    t->cfg = *r;
    t->theta = theta;
    /* original_max_position_embeddings: a top-level one wins (Phi3's rule, transformers' standardize_rope_params) */
    t->original_max = c->top_original_max ? c->top_original_max : r->original_max ? r->original_max : c->max_pos;
    switch (r->type) {
    case PF_RS_DEFAULT:
    case PF_RS_DYNAMIC: /* unchanged up to max_position_embeddings; see pf_rope_row */
        return 0;
    case PF_RS_LINEAR:
        for (size_t i = 0; i < n; i++) t->inv[i] = (float)(t->inv[i] / r->factor);
        return 0;
    case PF_RS_LLAMA3: {
        double lo = r->lo, hi = r->hi, old = (double)t->original_max, factor = r->factor;
        double lo_wl = old / lo, hi_wl = old / hi;
        for (size_t i = 0; i < n; i++) {
            double f = t->inv[i], wl = 2.0 * M_PI / f;
            double g = wl > lo_wl ? f / factor : f;
            if (!(wl < hi_wl) && !(wl > lo_wl)) {
                double s = (old / wl - lo) / (hi - lo);
                g = (1.0 - s) * g / factor + s * g;
            }
            t->inv[i] = (float)g;
        }
        return 0;
    }
    case PF_RS_YARN: {
        /* transformers' _compute_yarn_parameters */
        size_t om = t->original_max;
        double factor = isnan(r->factor) ? (double)c->max_pos / (double)om : r->factor;
        double att = r->attention_factor;
        if (isnan(att)) {
            double ms = isnan(r->mscale) ? 0 : r->mscale, msa = isnan(r->mscale_all_dim) ? 0 : r->mscale_all_dim;
#define GET_MSCALE(sc, m) ((sc) <= 1 ? 1.0 : 0.1 * (m) * log(sc) + 1.0)
            att = (ms != 0 && msa != 0) ? GET_MSCALE(factor, ms) / GET_MSCALE(factor, msa) : GET_MSCALE(factor, 1.0);
#undef GET_MSCALE
        }
        double bf = r->beta_fast != 0 && !isnan(r->beta_fast) ? r->beta_fast : 32;
        double bs = r->beta_slow != 0 && !isnan(r->beta_slow) ? r->beta_slow : 1;
        double lowd = (double)dim * log((double)om / (bf * 2 * M_PI)) / (2 * log(theta));
        double highd = (double)dim * log((double)om / (bs * 2 * M_PI)) / (2 * log(theta));
        if (r->truncate) { lowd = floor(lowd); highd = ceil(highd); }
        if (lowd < 0) lowd = 0;
        if (highd > (double)dim - 1) highd = (double)dim - 1;
        if (lowd == highd) highd += 0.001;
        for (size_t i = 0; i < n; i++) {
            float pos = powf((float)theta, (float)(2 * i) / (float)dim);
            float extra = 1.0f / pos, inter = 1.0f / ((float)factor * pos);
            float ramp = ((float)i - (float)lowd) / ((float)highd - (float)lowd);
            ramp = ramp < 0 ? 0 : (ramp > 1 ? 1 : ramp);
            float ef = 1.0f - ramp;
            t->inv[i] = inter * (1.0f - ef) + extra * ef;
        }
        t->mscale = (float)att;
        return 0;
    }
    case PF_RS_LONGROPE: {
        /* transformers' _compute_longrope_parameters: short factors up to original_max, long past it */
        size_t om = t->original_max;
        double factor = isnan(r->factor) ? (double)c->max_pos / (double)om : r->factor;
        double att = r->attention_factor;
        if (isnan(att)) att = factor <= 1 ? 1.0 : sqrt(1 + log(factor) / log((double)om));
        t->mscale = (float)att;
        t->inv_long = malloc((n ? n : 1) * sizeof(float));
        double *sf = malloc((n ? n : 1) * sizeof(double)), *lf = malloc((n ? n : 1) * sizeof(double));
        if (!t->inv_long || !sf || !lf) { free(sf); free(lf); return pf_enomem("rope frequencies"); }
        int rc = read_factors(lm, sec, "short_factor", sf, n);
        if (!rc) rc = read_factors(lm, sec, "long_factor", lf, n);
        if (!rc)
            for (size_t i = 0; i < n; i++) {
                float pos = powf((float)theta, (float)(2 * i) / (float)dim);
                t->inv[i] = 1.0f / ((float)sf[i] * pos);
                t->inv_long[i] = 1.0f / ((float)lf[i] * pos);
            }
        free(sf);
        free(lf);
        return rc;
    }
    }
    return 0;
}

/* ---- quirks: what a key map cannot say ---- */

static int rope_theta(profs_lm *lm, const char *sec, double *theta)
{
    char k[160];
    snprintf(k, sizeof k, "%s.rope_theta", sec);
    if (!cfg_has(lm, "rope_theta") && cfg_float(lm, k, theta)) return PROFS_EFORMAT;
    return 0;
}

/* Sliding window: null or absent is none; 0 or negative is refused where it means a window. */
static int window(profs_lm *lm, size_t *out)
{
    int64_t w = 0;
    *out = 0;
    if (!cfg_has(lm, "sliding_window")) return 0;
    if (cfg_int(lm, "sliding_window", &w, 0)) return PROFS_EFORMAT;
    char key[160];
    K(lm, "sliding_window", key, sizeof key);
    if (w <= 0)
        return pf_error(PROFS_EFORMAT, "%s: config.json: field '%s' = %lld must be positive (null for none)",
                        path_of(lm), key, (long long)w);
    if (w > MAX_POS)
        return pf_error(PROFS_EFORMAT, "%s: config.json: field '%s' = %lld is out of range", path_of(lm), key,
                        (long long)w);
    *out = (size_t)w;
    return 0;
}

/* layer_types when present: 1 for "sliding_attention", 0 for "full_attention". */
static int layer_types(profs_lm *lm, int *have)
{
    pf_lm_config *c = &lm->cfg;
    char key[160];
    K(lm, "layer_types", key, sizeof key);
    size_t n;
    *have = 0;
    if (profs_model_config_array_size(lm->model, key, &n) != PROFS_OK) return 0;
    if (n != c->n_layers)
        return pf_error(PROFS_EFORMAT, "%s: config.json: %s has %zu entries for %zu layers", path_of(lm), key, n,
                        c->n_layers);
    for (size_t i = 0; i < n; i++) {
        const char *s = NULL;
        if (profs_model_config_array_string(lm->model, key, i, &s) != PROFS_OK) s = NULL;
        if (s && !strcmp(s, "sliding_attention")) c->slides[i] = 1;
        else if (s && !strcmp(s, "full_attention")) c->slides[i] = 0;
        else
            return pf_error(PROFS_EUNSUPPORTED, "%s: config.json: %s[%zu] '%s' is not supported (sliding_attention, "
                            "full_attention)", path_of(lm), key, i, s ? s : "?");
    }
    *have = 1;
    return 0;
}

/* ---- reading ---- */

int pf_lm_config_read(profs_lm *lm)
{
    pf_lm_config *c = &lm->cfg;
    if (!profs_model_has_config(lm->model))
        return pf_error(PROFS_EFORMAT, "%s: no config.json next to the weights", path_of(lm));
    int rc = identify(lm);
    if (rc) return rc;
    const pf_family *fam = c->fam;
    const pf_cfg_key *km = fam->keys;
    int64_t v[PF_C_FIELD_COUNT];
    for (int i = 0; i < PF_C_ACT; i++) {
        v[i] = isnan(km[i].dflt) ? 0 : (int64_t)km[i].dflt;
        if (i == PF_C_EPS) continue;
        if (km[i].key && cfg_int(lm, km[i].key, &v[i], isnan(km[i].dflt))) return PROFS_EFORMAT;
    }
    /* dimensions: in range before anything is derived from them (n_head 0 is an error, not a division) */
    if ((rc = in_range(lm, km[PF_C_LAYERS].key, v[PF_C_LAYERS], MAX_LAYERS, &c->n_layers)) ||
        (rc = in_range(lm, km[PF_C_HIDDEN].key, v[PF_C_HIDDEN], MAX_DIM, &c->dim)) ||
        (rc = in_range(lm, km[PF_C_HEADS].key, v[PF_C_HEADS], MAX_HEADS, &c->n_heads)) ||
        (rc = in_range(lm, km[PF_C_VOCAB].key, v[PF_C_VOCAB], MAX_VOCAB, &c->vocab)) ||
        (rc = in_range(lm, km[PF_C_MAX_POS].key, v[PF_C_MAX_POS], MAX_POS, &c->max_pos)))
        return rc;
    if (v[PF_C_KV_HEADS] == -1) v[PF_C_KV_HEADS] = (int64_t)c->n_heads;
    if ((rc = in_range(lm, km[PF_C_KV_HEADS].key ? km[PF_C_KV_HEADS].key : "num_key_value_heads",
                       v[PF_C_KV_HEADS], MAX_HEADS, &c->n_kv_heads)))
        return rc;
    if (km[PF_C_FFN].dflt == 0 && v[PF_C_FFN] == 0) v[PF_C_FFN] = 4 * (int64_t)c->dim; /* n_inner null: 4 n_embd */
    if ((rc = in_range(lm, km[PF_C_FFN].key, v[PF_C_FFN], MAX_FFN, &c->ffn_dim))) return rc;
    /* head_dim: absent or null derives hidden / heads; 0 or out of range is refused */
    int64_t hd = v[PF_C_HEAD_DIM];
    if (km[PF_C_HEAD_DIM].key && cfg_has(lm, km[PF_C_HEAD_DIM].key)) {
        if ((rc = in_range(lm, km[PF_C_HEAD_DIM].key, hd, MAX_HEAD_DIM, &c->head_dim))) return rc;
    } else if (hd > 0) {
        c->head_dim = (size_t)hd;
    } else {
        if (c->dim % c->n_heads)
            return pf_error(PROFS_EFORMAT, "%s: config.json: hidden size %zu is not a multiple of %zu heads",
                            path_of(lm), c->dim, c->n_heads);
        c->head_dim = c->dim / c->n_heads;
    }
    if (c->n_heads % c->n_kv_heads)
        return pf_error(PROFS_EFORMAT, "%s: config.json: %zu attention heads are not a multiple of %zu "
                        "key/value heads", path_of(lm), c->n_heads, c->n_kv_heads);
    c->q_dim = c->n_heads * c->head_dim;
    c->kv_dim = c->n_kv_heads * c->head_dim;
    double eps = km[PF_C_EPS].dflt;
    if (km[PF_C_EPS].key) {
        if (cfg_float(lm, km[PF_C_EPS].key, &eps)) return PROFS_EFORMAT;
        char key[160];
        if (!(eps >= 0) || !isfinite(eps))
            return pf_error(PROFS_EFORMAT, "%s: config.json: field '%s' = %g must be a finite number >= 0",
                            path_of(lm), K(lm, km[PF_C_EPS].key, key, sizeof key), eps);
    }
    c->norm_eps = eps;
    const char *act = cfg_str(lm, km[PF_C_ACT].key);
    if ((rc = parse_act(lm, km[PF_C_ACT].key, act ? act : km[PF_C_ACT].act, &c->act))) return rc;
    if (fam->f.gated && fam->quirk != PF_Q_GEMMA && c->act != PF_ACT_SILU)
        return pf_error(PROFS_EUNSUPPORTED, "%s: config.json: %s '%s' is not supported for %s (silu)",
                        path_of(lm), km[PF_C_ACT].key, act, c->model_type);

    /* features as values */
    c->rms_norm = fam->f.norm == PF_NORM_RMS;
    c->rope = fam->f.rope;
    c->parallel = fam->f.parallel;
    c->ln_before = 1;
    c->has_final_norm = 1;
    c->pos_offset = 0;
    c->embed_dim = c->dim;
    c->flags = PF_IF_NORM_AFFINE | PF_IF_FINAL_NORM;
    c->attn_scale = 1.0f / sqrtf((float)c->head_dim);
    c->rotary_dim = c->rope != PF_ROPE_NONE ? c->head_dim : 0;
    int tied = fam->f.tied_default;
    if (cfg_bool(lm, "tie_word_embeddings", &tied)) return PROFS_EFORMAT;
    c->tied = tied;
    if (!tied) c->flags |= PF_IF_UNTIED;

    /* bos / eos ids must be tokens of the vocabulary */
    static const char *const ids[] = {"bos_token_id", "eos_token_id", "pad_token_id"};
    for (int i = 0; i < 2; i++) {
        char key[160];
        K(lm, ids[i], key, sizeof key);
        int64_t id;
        size_t n = 0;
        if (profs_model_config_int(lm->model, key, &id) == PROFS_OK) {
            if (id < 0 || (uint64_t)id >= c->vocab)
                return pf_error(PROFS_EFORMAT, "%s: config.json: field '%s' = %lld is outside the vocabulary "
                                "[0, %zu)", path_of(lm), key, (long long)id, c->vocab);
        } else if (profs_model_config_array_size(lm->model, key, &n) == PROFS_OK) {
            for (size_t j = 0; j < n; j++)
                if (profs_model_config_array_int(lm->model, key, j, &id) == PROFS_OK &&
                    (id < 0 || (uint64_t)id >= c->vocab))
                    return pf_error(PROFS_EFORMAT, "%s: config.json: field '%s[%zu]' = %lld is outside the "
                                    "vocabulary [0, %zu)", path_of(lm), key, j, (long long)id, c->vocab);
        }
    }

    double theta = 10000.0;
    const char *rope_sec = "rope_scaling";
    if (fam->f.rope_scaling) {
        if (cfg_float(lm, "rope_theta", &theta)) return PROFS_EFORMAT;
        /* a top-level original_max_position_embeddings wins over the rope parameters' (Phi3Config has 4096) */
        int64_t om = fam->quirk == PF_Q_PHI3 ? 4096 : 0;
        if (cfg_int(lm, "original_max_position_embeddings", &om, 0)) return PROFS_EFORMAT;
        if (om < 0 || om > MAX_POS)
            return pf_error(PROFS_EFORMAT, "%s: config.json: original_max_position_embeddings %lld is out of range",
                            path_of(lm), (long long)om);
        c->top_original_max = (size_t)om;
        /* transformers 5 writes rope_theta (and the scaling) inside rope_parameters */
        if (!cfg_has(lm, "rope_scaling.rope_type") && !cfg_has(lm, "rope_scaling.type") &&
            cfg_has(lm, "rope_parameters"))
            rope_sec = "rope_parameters";
        if ((rc = rope_theta(lm, "rope_parameters", &theta))) return rc;
    }
    int64_t rot = 0;
    switch (fam->quirk) {
    case PF_Q_GPT2: {
        int scale = 1, inv = 0, reorder = 0;
        if (cfg_bool(lm, "scale_attn_weights", &scale) || cfg_bool(lm, "scale_attn_by_inverse_layer_idx", &inv) ||
            cfg_bool(lm, "reorder_and_upcast_attn", &reorder))
            return PROFS_EFORMAT;
        c->attn_scale = scale ? 1.0f / sqrtf((float)(c->dim / c->n_heads)) : 1.0f;
        c->scale_by_layer = inv;
        break;
    }
    case PF_Q_GPTJ:
        rot = 64; /* GPTJConfig's default when the field is absent */
        if (is_null(lm, "rotary_dim")) rot = -1; /* None: the whole width */
        else if (cfg_int(lm, "rotary_dim", &rot, 0)) return PROFS_EFORMAT;
        if (rot < 0 && c->n_heads != 1)
            /* transformers builds the sin/cos table for n_embd when rotary_dim is None and
             * applies it to each head of head_dim: it only runs with a single head */
            return pf_error(PROFS_EUNSUPPORTED, "%s: config.json: rotary_dim null (rotate the whole width) "
                            "only works with one head, as in transformers; this model has %zu",
                            path_of(lm), c->n_heads);
        if (rot >= 0) {
            if (rot == 0 || (size_t)rot > c->head_dim || rot % 2)
                return pf_error(PROFS_EFORMAT, "%s: config.json: rotary_dim %lld must be even, positive and "
                                "at most head_dim %zu", path_of(lm), (long long)rot, c->head_dim);
            c->rotary_dim = (size_t)rot;
        }
        break;
    case PF_Q_OPT: {
        int64_t proj = (int64_t)c->dim;
        if (cfg_int(lm, "word_embed_proj_dim", &proj, 0)) return PROFS_EFORMAT;
        if ((rc = in_range(lm, "word_embed_proj_dim", proj, MAX_DIM, &c->embed_dim))) return rc;
        int before = 1, remove_final = 0, affine = 1, bias = 1;
        if (cfg_bool(lm, "do_layer_norm_before", &before) || cfg_bool(lm, "_remove_final_layer_norm", &remove_final) ||
            cfg_bool(lm, "layer_norm_elementwise_affine", &affine) || cfg_bool(lm, "enable_bias", &bias))
            return PROFS_EFORMAT;
        c->flags = 0;
        if (bias) c->flags |= PF_IF_ATTN_BIAS | PF_IF_MLP_BIAS;
        if (affine) c->flags |= PF_IF_NORM_AFFINE;
        c->ln_before = before;
        c->has_final_norm = before && !remove_final;
        if (c->has_final_norm) c->flags |= PF_IF_FINAL_NORM;
        if (c->embed_dim != c->dim) c->flags |= PF_IF_EMBED_PROJ;
        if (!tied) c->flags |= PF_IF_UNTIED;
        c->pos_offset = 2;
        break;
    }
    case PF_Q_MOE: {
        /* qwen2_moe: q/k/v biases (qkv_bias, default true); qwen3_moe: attention_bias; mixtral: none */
        int qb = 1, ab = 0;
        if (!strcmp(fam->name, "qwen2_moe") && cfg_bool(lm, "qkv_bias", &qb)) return PROFS_EFORMAT;
        if (!strcmp(fam->name, "qwen3_moe") && cfg_bool(lm, "attention_bias", &ab)) return PROFS_EFORMAT;
        if (!strcmp(fam->name, "qwen2_moe") && qb) c->flags |= PF_IF_QKV_BIAS;
        if (ab) c->flags |= PF_IF_ATTN_BIAS;
        break;
    }
    case PF_Q_LLAMA: {
        int ab = 0, mb = 0;
        if (cfg_bool(lm, "attention_bias", &ab) || cfg_bool(lm, "mlp_bias", &mb)) return PROFS_EFORMAT;
        if (ab) c->flags |= PF_IF_ATTN_BIAS;
        if (mb) c->flags |= PF_IF_MLP_BIAS;
        break;
    }
    case PF_Q_GEMMA: {
        int ab = 0, bidir = 0;
        if (cfg_bool(lm, "attention_bias", &ab) || cfg_bool(lm, "use_bidirectional_attention", &bidir))
            return PROFS_EFORMAT;
        if (bidir) {
            char key[160];
            return pf_error(PROFS_EUNSUPPORTED, "%s: config.json: %s true is not supported (false)", path_of(lm),
                            K(lm, "use_bidirectional_attention", key, sizeof key));
        }
        if (ab) c->flags |= PF_IF_ATTN_BIAS;
        break;
    }
    default:
        break;
    }
    if (fam->f.partial_rotary) {
        double prf = 1.0;
        if (cfg_float(lm, "partial_rotary_factor", &prf)) return PROFS_EFORMAT;
        if (!cfg_has(lm, "partial_rotary_factor") && cfg_float(lm, "rope_parameters.partial_rotary_factor", &prf))
            return PROFS_EFORMAT;
        size_t rd = (size_t)((double)c->head_dim * prf);
        if (!(prf > 0 && prf <= 1) || rd == 0 || rd % 2)
            return pf_error(PROFS_EFORMAT, "%s: config.json: partial_rotary_factor %g must be in (0, 1] and give an "
                            "even rotary dim (head_dim %zu)", path_of(lm), prf, c->head_dim);
        c->rotary_dim = rd;
    }
    if (c->rope != PF_ROPE_NONE && c->rotary_dim % 2)
        return pf_error(PROFS_EFORMAT, "%s: config.json: head_dim %zu must be even for rotary embeddings",
                        path_of(lm), c->rotary_dim);
    if (fam->f.query_scalar) {
        double qs = 256;
        if (cfg_float(lm, "query_pre_attn_scalar", &qs)) return PROFS_EFORMAT;
        if (!(qs > 0) || !isfinite(qs))
            return pf_error(PROFS_EFORMAT, "%s: config.json: query_pre_attn_scalar %g must be positive", path_of(lm),
                            qs);
        c->attn_scale = (float)pow(qs, -0.5);
    }
    if (fam->f.softcap) {
        /* absent: the family's default (Gemma2Config: 50 and 30; Gemma3: none); null: none */
        double a = fam->f.softcap == 2 ? 50.0 : 0, f = fam->f.softcap == 2 ? 30.0 : 0;
        if (cfg_float(lm, "attn_logit_softcapping", &a) || cfg_float(lm, "final_logit_softcapping", &f))
            return PROFS_EFORMAT;
        char nk[160];
        if (is_null(lm, K(lm, "attn_logit_softcapping", nk, sizeof nk))) a = 0;
        if (is_null(lm, K(lm, "final_logit_softcapping", nk, sizeof nk))) f = 0;
        if (a < 0 || f < 0 || !isfinite(a) || !isfinite(f))
            return pf_error(PROFS_EFORMAT, "%s: config.json: attn_logit_softcapping and final_logit_softcapping "
                            "must be positive or null", path_of(lm));
        c->attn_softcap = (float)a;
        c->final_softcap = fam->f.final_softcap ? (float)f : 0.0f;
    }
    c->embed_scale = fam->f.embed_scale;

    /* which layers slide; the rope of local layers */
    c->slides = calloc(c->n_layers, 1);
    if (!c->slides) return pf_enomem("layer table");
    size_t win = 0;
    int have = 0;
    switch (fam->f.sliding) {
    case PF_SW_ALL:
        if ((rc = window(lm, &win))) return rc;
        for (size_t l = 0; l < c->n_layers; l++) c->slides[l] = win > 0;
        break;
    case PF_SW_QWEN2: {
        int use = 0;
        int64_t mwl = 28;
        if (cfg_bool(lm, "use_sliding_window", &use) || cfg_int(lm, "max_window_layers", &mwl, 0)) return PROFS_EFORMAT;
        if (!use) break; /* Hub Qwen2.5 configs set sliding_window with use_sliding_window false: no window */
        if ((rc = window(lm, &win))) return rc;
        if ((rc = layer_types(lm, &have))) return rc;
        for (size_t l = 0; !have && l < c->n_layers; l++) c->slides[l] = win > 0 && (int64_t)l >= mwl;
        break;
    }
    case PF_SW_QWEN2_MOE: {
        /* Qwen2MoeConfig: sliding_window is 0 unless use_sliding_window; the even layers below
         * max_window_layers slide (layer_types, which it writes, says the same) */
        int use = 0;
        int64_t mwl = 28;
        if (cfg_bool(lm, "use_sliding_window", &use) || cfg_int(lm, "max_window_layers", &mwl, 0)) return PROFS_EFORMAT;
        if (!use) break;
        if ((rc = window(lm, &win))) return rc;
        if ((rc = layer_types(lm, &have))) return rc;
        for (size_t l = 0; !have && l < c->n_layers; l++) c->slides[l] = win > 0 && l % 2 == 0 && (int64_t)l < mwl;
        break;
    }
    case PF_SW_USE: {
        int use = 0; /* Qwen3MoeConfig: every layer slides when use_sliding_window */
        if (cfg_bool(lm, "use_sliding_window", &use)) return PROFS_EFORMAT;
        if (!use) break;
        if ((rc = window(lm, &win))) return rc;
        for (size_t l = 0; l < c->n_layers; l++) c->slides[l] = win > 0;
        break;
    }
    case PF_SW_ALTERNATE: {
        char wk[160];
        if (!pf_model_config_has(lm->model, K(lm, "sliding_window", wk, sizeof wk)) && !is_null(lm, wk))
            win = 4096; /* Gemma2Config / Gemma3TextConfig default */
        else if ((rc = window(lm, &win))) return rc;
        if ((rc = layer_types(lm, &have))) return rc;
        int64_t pat = fam->f.local_rope ? 6 : 2;
        if (cfg_has(lm, "sliding_window_pattern") && cfg_int(lm, "sliding_window_pattern", &pat, 0)) return PROFS_EFORMAT;
        else if (!cfg_has(lm, "sliding_window_pattern") && cfg_int(lm, "_sliding_window_pattern", &pat, 0))
            return PROFS_EFORMAT;
        if (pat <= 0)
            return pf_error(PROFS_EFORMAT, "%s: config.json: sliding_window_pattern %lld must be positive",
                            path_of(lm), (long long)pat);
        for (size_t l = 0; !have && l < c->n_layers; l++) c->slides[l] = ((int64_t)l + 1) % pat != 0;
        int any = 0;
        for (size_t l = 0; l < c->n_layers; l++) any |= c->slides[l];
        if (any && !win)
            return pf_error(PROFS_EFORMAT, "%s: config.json: sliding layers need a positive 'sliding_window'",
                            path_of(lm));
        break;
    }
    default:
        break;
    }
    c->sliding_window = win;
    for (size_t l = 0; l < c->n_layers; l++)
        if (!win) c->slides[l] = 0;

    /* rope: global (and local) parameters; the tables are built once the tensors check out */
    c->rope_global.type = PF_RS_DEFAULT;
    c->theta = theta;
    c->theta_local = theta;
    if (fam->f.rope_scaling) {
        const char *sec = rope_sec;
        if (fam->f.local_rope && cfg_has(lm, "rope_parameters.full_attention")) {
            sec = "rope_parameters.full_attention";
            if ((rc = cfg_float(lm, "rope_parameters.full_attention.rope_theta", &c->theta))) return rc;
            double lt = 10000.0;
            if ((rc = cfg_float(lm, "rope_parameters.sliding_attention.rope_theta", &lt))) return rc;
            c->theta_local = lt;
            pf_rope_cfg lr;
            if ((rc = rope_params(lm, "rope_parameters.sliding_attention", &lr))) return rc;
            if (lr.type != PF_RS_DEFAULT)
                return pf_error(PROFS_EUNSUPPORTED, "%s: config.json: rope scaling of sliding layers is not "
                                "supported (rope_parameters.sliding_attention.rope_type: default)", path_of(lm));
        } else if (fam->f.local_rope) {
            double lt = 10000.0;
            if ((rc = cfg_float(lm, "rope_local_base_freq", &lt))) return rc;
            c->theta_local = lt;
        }
        if ((rc = rope_params(lm, sec, &c->rope_global))) return rc;
        if (!(c->theta > 0) || !(c->theta_local > 0))
            return pf_error(PROFS_EFORMAT, "%s: config.json: rope_theta must be positive", path_of(lm));
        snprintf(c->rope_sec, sizeof c->rope_sec, "%s", sec);
    }
    return fam->f.router ? pf_moe_config_read(lm) : 0;
}

int pf_lm_rope_init(profs_lm *lm)
{
    pf_lm_config *c = &lm->cfg;
    if (c->rope == PF_ROPE_NONE) return 0;
    int rc = rope_build(lm, &c->rope_tab, c->theta, &c->rope_global, c->rope_sec);
    if (rc) return rc;
    if (c->f.local_rope) {
        pf_rope_cfg def = {0};
        def.type = PF_RS_DEFAULT;
        if ((rc = rope_build(lm, &c->rope_local, c->theta_local, &def, c->rope_sec))) return rc;
    }
    return 0;
}

void pf_lm_config_free(pf_lm_config *c)
{
    free(c->rope_tab.inv);
    free(c->rope_tab.inv_long);
    free(c->rope_local.inv);
    free(c->rope_local.inv_long);
    free(c->slides);
    free(c->moe.sparse);
    c->moe.sparse = NULL;
    c->moe_layer = NULL;
}

/* ---- the weight table ---- */

static int has(const profs_lm *lm, const char *name) { return profs_model_has_tensor(lm->model, name); }

/* Expected (out, in) of a layer slot; in = 0 for a vector. */
static void slot_dims(const pf_lm_config *c, int slot, size_t *out, size_t *in)
{
    switch (slot) { /* the MoE slots' sizes come from the expert config */
    case PF_ROUTER_W: *out = c->n_experts; *in = c->dim; return;
    case PF_SH_GATE_W: case PF_SH_UP_W: *out = c->shared_ffn; *in = c->dim; return;
    case PF_SH_DOWN_W: *out = c->dim; *in = c->shared_ffn; return;
    case PF_SH_GATE: *out = 1; *in = c->dim; return;
    default: break;
    }
    pf_arch_slot_dims(slot, c->dim, c->ffn_dim, c->q_dim, c->kv_dim, c->head_dim, out, in);
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

/* Row r in layer l (global rows: l = 0); expert rows are resolved by moe.c. */
static int present(const pf_lm_config *c, const pf_tensor_row *r, size_t l)
{
    return pf_arch_row_present(r, c->flags, c->f.router ? &c->moe : NULL, l);
}

int pf_lm_check_tensors(profs_lm *lm)
{
    pf_lm_config *c = &lm->cfg;
    const pf_family *fam = c->fam;
    /* the prefix: the first under which the embedding exists (else the first, for the error) */
    const pf_tensor_row *er = pf_arch_row(fam, 1, PF_G_EMBED);
    const char *prefix = pf_arch_find_prefix(fam, lm->model, er);
    if (!prefix) prefix = fam->prefixes[0];
    snprintf(lm->prefix, sizeof lm->prefix, "%s", prefix);
    char name[320];
    /* fail fast on a layer count the checkpoint does not have, before the table is allocated */
    int rc;
    if (fam->f.router) { /* experts per layer, sparse layers and the experts' layout */
        if ((rc = pf_arch_moe_info(&c->moe, fam, lm->model, prefix, c->n_layers))) return rc;
        c->moe_layer = c->moe.sparse;
        c->n_experts = c->moe.n_experts;
        if (c->n_experts && c->top_k > c->n_experts)
            return pf_error(PROFS_EFORMAT, "%s: config.json: num_experts_per_tok %zu exceeds %s %zu", path_of(lm),
                            c->top_k, c->moe.experts_key[0] ? c->moe.experts_key : "the default expert count",
                            c->n_experts);
    }
    for (const pf_tensor_row *r = fam->layer; r->pattern; r++) {
        if (!present(c, r, c->n_layers - 1) || r->expert) continue;
        pf_arch_name(name, sizeof name, fam, prefix, r, c->n_layers - 1, 0);
        if (!has(lm, name) && (rc = check_one(lm, name, 0, 0))) return rc;
        break;
    }
    lm->lname = calloc(c->n_layers * PF_SLOT_COUNT, sizeof(char *));
    if (!lm->lname) return pf_enomem("tensor table");
    for (int s = 0; s < PF_SLOT_COUNT; s++) { lm->lowner[s] = s; lm->loff[s] = 0; lm->ltrans[s] = 0; }
    for (const pf_tensor_row *r = fam->layer; r->pattern; r++) {
        if (r->expert) continue; /* on demand (moe.c) */
        lm->ltrans[r->slot] = r->layout == PF_TL_CONV1D;
        if (r->blocks > 1 && r->block > 0) {
            /* a later block of a fused tensor: a view into the slot that owns it */
            for (const pf_tensor_row *o = fam->layer; o != r; o++)
                if (!strcmp(o->pattern, r->pattern) && o->block == 0) lm->lowner[r->slot] = o->slot;
            size_t out, in;
            slot_dims(c, r->slot, &out, &in);
            lm->loff[r->slot] = (size_t)r->block * out * (in ? in : 1);
            continue;
        }
        for (size_t l = 0; l < c->n_layers; l++) {
            if (!present(c, r, l)) continue;
            pf_arch_name(name, sizeof name, fam, prefix, r, l, 0);
            if (!(lm->lname[l * PF_SLOT_COUNT + r->slot] = strdup(name))) return pf_enomem("tensor name");
        }
    }
    for (const pf_tensor_row *r = fam->global; r->pattern; r++) {
        if (!present(c, r, 0)) continue;
        pf_arch_name(name, sizeof name, fam, prefix, r, 0, 0);
        if (!(lm->gname[r->slot] = strdup(name))) return pf_enomem("tensor name");
    }
    for (size_t l = 0; l < c->n_layers; l++)
        for (const pf_tensor_row *r = fam->layer; r->pattern; r++) {
            const char *n = lm->lname[l * PF_SLOT_COUNT + r->slot];
            if (!n || (r->blocks > 1 && r->block > 0)) continue;
            size_t out, in;
            slot_dims(c, r->slot, &out, &in);
            out *= r->blocks ? r->blocks : 1;
            if (r->layout == PF_TL_CONV1D) rc = check_one(lm, n, in, out);
            else rc = check_one(lm, n, out, in);
            if (rc) return rc;
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
    return fam->f.router ? pf_moe_names(lm) : 0;
}
