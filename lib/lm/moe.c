/* Mixture-of-experts blocks (Mixtral, Qwen2-MoE, Qwen3-MoE): config, expert tensor names in both
 * on-disk layouts, and the sparse MLP.
 *
 * Routing follows transformers 5: softmax over the router logits in f32, the top-k experts, their
 * probabilities renormalised when the family does (Mixtral always, Qwen with norm_topk_prob).
 * Tokens are grouped per expert (one GEMM per expert and matrix), and an expert's matrices are
 * converted to f32 one at a time, only for the experts a batch routes to, then their pages are
 * released: memory does not grow with the number of experts. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/dtype.h"
#include "core/error.h"
#include "io/model_impl.h"
#include "lm/lm_internal.h"

enum { M_GATE, M_UP, M_DOWN };          /* per-expert names, 3 per expert */
enum { F_GATE_UP, F_DOWN };             /* fused names, 2 per layer */

static const char *path_of(const profs_lm *lm) { return profs_model_path(lm->model); }

/* Integer field: 1 and *out when set, 0 when absent or null, negative on a non-integer. */
static int get_int(const profs_lm *lm, const char *key, int64_t *out)
{
    int rc = profs_model_config_int(lm->model, key, out);
    if (rc == PROFS_OK) return 1;
    if (rc == PROFS_ENOTFOUND || pf_model_config_is_null(lm->model, key)) return 0;
    return pf_error(PROFS_EFORMAT, "%s: config.json: field '%s' is not an integer", path_of(lm), key);
}

static int get_bool(const profs_lm *lm, const char *key, int *out)
{
    int rc = profs_model_config_bool(lm->model, key, out);
    if (rc == PROFS_OK || rc == PROFS_ENOTFOUND || pf_model_config_is_null(lm->model, key)) return 0;
    return pf_error(PROFS_EFORMAT, "%s: config.json: field '%s' is not a boolean", path_of(lm), key);
}

static int size_field(const profs_lm *lm, const char *key, int64_t def, int64_t lo, size_t *out)
{
    int64_t v = def;
    int rc = get_int(lm, key, &v);
    if (rc < 0) return rc;
    if (v < lo || v > (int64_t)1 << 40)
        return pf_error(PROFS_EFORMAT, "%s: config.json: field '%s' = %lld is out of range", path_of(lm), key,
                        (long long)v);
    *out = (size_t)v;
    return 0;
}

/* Qwen2-MoE: sliding layers from layer_types, else even layers below max_window_layers (transformers'
 * Qwen2MoeConfig); the window is sliding_window when use_sliding_window, else none. */
static int qwen2_windows(profs_lm *lm, size_t W, int use)
{
    pf_lm_config *c = &lm->cfg;
    size_t L = c->n_layers, nt = 0, mwl = 28;
    int rc = size_field(lm, "max_window_layers", 28, 0, &mwl);
    if (rc) return rc;
    c->layer_window = calloc(L, sizeof(size_t));
    if (!c->layer_window) return pf_enomem("layer windows");
    c->sliding_window = 0;
    if (profs_model_config_array_size(lm->model, "layer_types", &nt) == PROFS_OK) {
        if (nt != L)
            return pf_error(PROFS_EFORMAT, "%s: config.json: layer_types has %zu entries for %zu layers",
                            path_of(lm), nt, L);
        for (size_t i = 0; i < L; i++) {
            const char *t = NULL;
            char key[48];
            snprintf(key, sizeof key, "layer_types[%zu]", i);
            if (profs_model_config_array_string(lm->model, "layer_types", i, &t) != PROFS_OK ||
                (strcmp(t, "full_attention") && strcmp(t, "sliding_attention")))
                return pf_error(PROFS_EUNSUPPORTED, "%s: config.json: %s '%s' is not supported "
                                "(full_attention, sliding_attention)", path_of(lm), key, t ? t : "?");
            if (!strcmp(t, "sliding_attention")) {
                if (!W)
                    return pf_error(PROFS_EFORMAT, "%s: config.json: %s is sliding_attention but there is no "
                                    "window (sliding_window 0 or use_sliding_window false)", path_of(lm), key);
                c->layer_window[i] = W;
            }
        }
        return 0;
    }
    for (size_t i = 0; i < L; i++)
        if (use && i % 2 == 0 && i < mwl) c->layer_window[i] = W;
    return 0;
}

int pf_moe_config_read(profs_lm *lm)
{
    pf_lm_config *c = &lm->cfg;
    const char *mt = c->model_type;
    int mix = !strcmp(mt, "mixtral"), q2 = !strcmp(mt, "qwen2_moe"), q3 = !strcmp(mt, "qwen3_moe");
    if (!mix && !q2 && !q3) return 0;
    int64_t nl = -1, ne = -1;
    int a = get_int(lm, "num_local_experts", &nl), b = get_int(lm, "num_experts", &ne), rc;
    if (a < 0) return a;
    if (b < 0) return b;
    if (a && b && nl != ne)
        return pf_error(PROFS_EFORMAT, "%s: config.json: num_local_experts %lld and num_experts %lld disagree",
                        path_of(lm), (long long)nl, (long long)ne);
    int64_t E = a ? nl : b ? ne : (mix ? 8 : q2 ? 60 : 128); /* the config classes' defaults */
    const char *ekey = a ? "num_local_experts" : "num_experts";
    if (E < (mix ? 1 : 0) || E > 1 << 20)
        return pf_error(PROFS_EFORMAT, "%s: config.json: field '%s' = %lld is out of range", path_of(lm), ekey,
                        (long long)E);
    c->n_experts = (size_t)E;
    if ((rc = size_field(lm, "num_experts_per_tok", mix ? 2 : q2 ? 4 : 8, 1, &c->top_k))) return rc;
    if (mix) c->moe_ffn = c->ffn_dim;
    else if ((rc = size_field(lm, "moe_intermediate_size", q2 ? 1408 : 768, 1, &c->moe_ffn))) return rc;
    if (q2 && (rc = size_field(lm, "shared_expert_intermediate_size", 5632, 0, &c->shared_ffn))) return rc;
    c->norm_topk = mix;
    if (!mix && (rc = get_bool(lm, "norm_topk_prob", &c->norm_topk))) return rc;
    /* windows */
    if (!mix) {
        int use = 0;
        int64_t w = 0;
        if ((rc = get_bool(lm, "use_sliding_window", &use))) return rc;
        if ((rc = get_int(lm, "sliding_window", &w)) < 0) return rc;
        size_t W = use && w > 0 ? (size_t)w : 0;
        if (q2 && (rc = qwen2_windows(lm, W, use))) return rc;
        if (q3) c->sliding_window = W;
    }
    if (c->n_experts == 0) return 0; /* Qwen with num_experts 0: every layer dense */
    if (c->top_k > c->n_experts)
        return pf_error(PROFS_EFORMAT, "%s: config.json: num_experts_per_tok %zu exceeds %s %zu", path_of(lm),
                        c->top_k, ekey, c->n_experts);
    c->moe_layer = malloc(c->n_layers);
    if (!c->moe_layer) return pf_enomem("MoE layers");
    size_t step = 1, nonly = 0;
    if (!mix && (rc = size_field(lm, "decoder_sparse_step", 1, 1, &step))) return rc;
    for (size_t l = 0; l < c->n_layers; l++) c->moe_layer[l] = mix || (l + 1) % step == 0;
    if (!mix && profs_model_config_array_size(lm->model, "mlp_only_layers", &nonly) == PROFS_OK)
        for (size_t i = 0; i < nonly; i++) {
            int64_t v;
            if (profs_model_config_array_int(lm->model, "mlp_only_layers", i, &v) != PROFS_OK || v < 0 ||
                (uint64_t)v >= c->n_layers)
                return pf_error(PROFS_EFORMAT, "%s: config.json: mlp_only_layers[%zu] is not a layer index below %zu",
                                path_of(lm), i, c->n_layers);
            c->moe_layer[v] = 0;
        }
    return 0;
}

static char *name2(const char *fmt, const char *prefix, size_t l, size_t e)
{
    char buf[320];
    snprintf(buf, sizeof buf, fmt, prefix, l, e);
    return strdup(buf);
}

static int set_slot(profs_lm *lm, size_t l, int slot, const char *fmt, const char *prefix)
{
    char **dst = &lm->lname[l * PF_SLOT_COUNT + slot];
    free(*dst);
    *dst = fmt ? name2(fmt, prefix, l, 0) : NULL;
    return fmt && !*dst ? pf_enomem("tensor name") : 0;
}

int pf_moe_names(profs_lm *lm, const char *p)
{
    pf_lm_config *c = &lm->cfg;
    int mix = !strcmp(c->model_type, "mixtral");
    size_t L = c->n_layers, E = c->n_experts, first = L;
    for (size_t l = 0; l < L && first == L; l++)
        if (c->moe_layer[l]) first = l;
    if (first == L) return 0;
    const char *pe[3] = {mix ? "%slayers.%zu.block_sparse_moe.experts.%zu.w1.weight" : "%slayers.%zu.mlp.experts.%zu.gate_proj.weight",
                         mix ? "%slayers.%zu.block_sparse_moe.experts.%zu.w3.weight" : "%slayers.%zu.mlp.experts.%zu.up_proj.weight",
                         mix ? "%slayers.%zu.block_sparse_moe.experts.%zu.w2.weight" : "%slayers.%zu.mlp.experts.%zu.down_proj.weight"};
    const char *fu[2] = {"%slayers.%zu.mlp.experts.gate_up_proj", "%slayers.%zu.mlp.experts.down_proj"};
    char *fdown = name2(fu[F_DOWN], p, first, 0), *edown = name2(pe[M_DOWN], p, first, 0);
    if (!fdown || !edown) { free(fdown); free(edown); return pf_enomem("tensor name"); }
    int fused = profs_model_has_tensor(lm->model, fdown), per = profs_model_has_tensor(lm->model, edown);
    int rc = 0;
    if (!fused && !per)
        rc = pf_error(PROFS_ENOTFOUND, "%s: %s layer %zu: unknown expert layout: neither '%s' (per-expert tensors, "
                      "save_pretrained's default) nor '%s' (fused 3-D tensors) is present", path_of(lm),
                      c->model_type, first, edown, fdown);
    free(fdown);
    free(edown);
    if (rc) return rc;
    lm->moe_fused = fused;
    size_t per_layer = fused ? 2 : 3 * E;
    lm->ename = calloc(L * per_layer, sizeof(char *));
    if (!lm->ename) return pf_enomem("expert names");
    const char *router = mix && !fused ? "%slayers.%zu.block_sparse_moe.gate.weight" : "%slayers.%zu.mlp.gate.weight";
    for (size_t l = 0; l < L; l++) {
        if (!c->moe_layer[l]) continue;
        if (set_slot(lm, l, PF_GATE_W, NULL, p) || set_slot(lm, l, PF_UP_W, NULL, p) ||
            set_slot(lm, l, PF_DOWN_W, NULL, p) || set_slot(lm, l, PF_ROUTER_W, router, p))
            return PROFS_ENOMEM;
        if (c->shared_ffn &&
            (set_slot(lm, l, PF_SH_GATE_W, "%slayers.%zu.mlp.shared_expert.gate_proj.weight", p) ||
             set_slot(lm, l, PF_SH_UP_W, "%slayers.%zu.mlp.shared_expert.up_proj.weight", p) ||
             set_slot(lm, l, PF_SH_DOWN_W, "%slayers.%zu.mlp.shared_expert.down_proj.weight", p) ||
             set_slot(lm, l, PF_SH_GATE, "%slayers.%zu.mlp.shared_expert_gate.weight", p)))
            return PROFS_ENOMEM;
        char **row = lm->ename + l * per_layer;
        for (size_t i = 0; i < per_layer; i++) {
            row[i] = fused ? name2(fu[i], p, l, 0) : name2(pe[i % 3], p, l, i / 3);
            if (!row[i]) return pf_enomem("expert names");
        }
    }
    return 0;
}

/* 0 when `name` is a float tensor of the given shape; else the error (missing: PROFS_ENOTFOUND, unset). */
static int check_shape(const profs_lm *lm, const char *name, size_t nd, const size_t *want)
{
    int dt;
    size_t got_nd;
    const int64_t *sh;
    if (profs_model_tensor_info(lm->model, name, &dt, &got_nd, &sh) != PROFS_OK) return PROFS_ENOTFOUND;
    if (dt != PROFS_DTYPE_F32 && dt != PROFS_DTYPE_F16 && dt != PROFS_DTYPE_BF16)
        return pf_error(PROFS_EUNSUPPORTED, "%s: tensor '%s': dtype %s is not supported (F32, F16, BF16)",
                        path_of(lm), name, profs_dtype_name(dt) ? profs_dtype_name(dt) : "?");
    int ok = got_nd == nd;
    for (size_t i = 0; ok && i < nd; i++) ok = sh[i] == (int64_t)want[i];
    if (!ok) {
        char g[96] = "[", w[96] = "[";
        size_t og = 1, ow = 1;
        for (size_t i = 0; i < got_nd && og < sizeof g - 24; i++)
            og += (size_t)snprintf(g + og, sizeof g - og, i ? ", %lld" : "%lld", (long long)sh[i]);
        for (size_t i = 0; i < nd; i++) ow += (size_t)snprintf(w + ow, sizeof w - ow, i ? ", %zu" : "%zu", want[i]);
        snprintf(g + og, sizeof g - og, "]");
        snprintf(w + ow, sizeof w - ow, "]");
        return pf_error(PROFS_ESHAPE, "%s: tensor '%s' has shape %s, config.json implies %s", path_of(lm), name, g, w);
    }
    return 0;
}

int pf_moe_check(profs_lm *lm)
{
    const pf_lm_config *c = &lm->cfg;
    if (!lm->ename) return 0;
    size_t L = c->n_layers, E = c->n_experts, I = c->moe_ffn, D = c->dim;
    size_t per_layer = lm->moe_fused ? 2 : 3 * E, n_missing = 0;
    char missing[1024] = "";
    size_t off = 0;
    for (size_t l = 0; l < L; l++) {
        if (!c->moe_layer[l]) continue;
        for (size_t i = 0; i < per_layer; i++) {
            const char *n = lm->ename[l * per_layer + i];
            size_t shp[3];
            size_t nd;
            if (lm->moe_fused) {
                nd = 3;
                shp[0] = E;
                shp[1] = i == F_GATE_UP ? 2 * I : D;
                shp[2] = i == F_GATE_UP ? D : I;
            } else {
                nd = 2;
                shp[0] = i % 3 == M_DOWN ? D : I;
                shp[1] = i % 3 == M_DOWN ? I : D;
            }
            int rc = check_shape(lm, n, nd, shp);
            if (rc == PROFS_ENOTFOUND) {
                if (n_missing < 8 && off < sizeof missing - 1)
                    off += (size_t)snprintf(missing + off, sizeof missing - off, "%s'%s'", n_missing ? ", " : "", n);
                n_missing++;
            } else if (rc) {
                return rc;
            }
        }
    }
    if (n_missing)
        return pf_error(PROFS_ENOTFOUND, "%s: %s declares %zu experts per sparse layer but %zu expert tensor%s "
                        "missing: %s%s", path_of(lm), c->model_type, E, n_missing, n_missing == 1 ? " is" : "s are",
                        missing, n_missing > 8 ? ", ..." : "");
    return 0;
}

void pf_moe_free(profs_lm *lm)
{
    const pf_lm_config *c = &lm->cfg;
    if (lm->ename) {
        size_t n = c->n_layers * (lm->moe_fused ? 2 : 3 * c->n_experts);
        for (size_t i = 0; i < n; i++) free(lm->ename[i]);
        free(lm->ename);
        lm->ename = NULL;
    }
    if (lm->earena) free(lm->earena->buf);
    free(lm->earena);
    lm->earena = NULL;
    free(lm->cfg.moe_layer);
    free(lm->cfg.layer_window);
}

/* Matrix m (M_GATE, M_UP, M_DOWN) of expert e in block l as f32; *name is what to release after use. */
static int expert_matrix(const profs_lm *lm, size_t l, size_t e, int m, const float **w, const char **name)
{
    const pf_lm_config *c = &lm->cfg;
    size_t I = c->moe_ffn, D = c->dim;
    if (lm->moe_fused) {
        const char *const *row = (const char *const *)lm->ename + l * 2;
        *name = row[m == M_DOWN ? F_DOWN : F_GATE_UP];
        size_t off = m == M_DOWN ? e * D * I : e * 2 * I * D + (m == M_UP ? I * D : 0);
        return pf_wt_slice(lm, w, *name, off, I * D, lm->earena);
    }
    *name = lm->ename[(l * c->n_experts + e) * 3 + (size_t)m];
    return pf_wt_slice(lm, w, *name, 0, I * D, lm->earena);
}

int pf_moe_block(const profs_lm *lm, const pf_layer_w *lw, size_t layer, float *x, const float *h, size_t T)
{
    const pf_lm_config *c = &lm->cfg;
    size_t E = c->n_experts, K = c->top_k, I = c->moe_ffn, D = c->dim, S = c->shared_ffn;
    int rc = 0;
    float *logits = malloc(T * E * sizeof(float)), *wt = malloc(T * K * sizeof(float));
    size_t *sel = malloc(T * K * sizeof(size_t)), *count = calloc(E + 1, sizeof(size_t));
    size_t *order = malloc(T * K * sizeof(size_t));
    float *xin = NULL, *g = NULL, *u = NULL, *y = NULL;
    if (!logits || !wt || !sel || !count || !order) { rc = pf_enomem("routing"); goto done; }
    /* routing: softmax over the router logits, top-k, optional renormalisation */
    pf_linear(logits, E, h, D, T, lw->w[PF_ROUTER_W].p, 0, D, E, NULL, 0.0f);
    for (size_t t = 0; t < T; t++) {
        const float *z = logits + t * E;
        float mx = z[0];
        for (size_t e = 1; e < E; e++) mx = z[e] > mx ? z[e] : mx;
        double sum = 0.0;
        for (size_t e = 0; e < E; e++) sum += exp((double)z[e] - mx);
        double top = 0.0;
        for (size_t k = 0; k < K; k++) {
            size_t best = E;
            for (size_t e = 0; e < E; e++) {
                int taken = 0;
                for (size_t j = 0; j < k && !taken; j++) taken = sel[t * K + j] == e;
                if (!taken && (best == E || z[e] > z[best])) best = e;
            }
            sel[t * K + k] = best;
            double p = exp((double)z[best] - mx) / sum;
            wt[t * K + k] = (float)p;
            top += p;
            count[best + 1]++;
        }
        if (c->norm_topk)
            for (size_t k = 0; k < K; k++) wt[t * K + k] = (float)(wt[t * K + k] / top);
    }
    if (lm->route_cb) lm->route_cb(lm->route_ud, layer, T, sel, wt);
    /* group the (token, slot) pairs by expert: order[count[e] .. count[e + 1]) */
    size_t max_n = 0;
    for (size_t e = 0; e < E; e++) {
        if (count[e + 1] > max_n) max_n = count[e + 1];
        count[e + 1] += count[e];
    }
    {
        size_t *fill = calloc(E, sizeof(size_t));
        if (!fill) { rc = pf_enomem("routing"); goto done; }
        for (size_t i = 0; i < T * K; i++) {
            size_t e = sel[i];
            order[count[e] + fill[e]++] = i;
        }
        free(fill);
    }
    size_t rows = max_n > T ? max_n : T;
    size_t wide = I > S ? I : S;
    xin = malloc(rows * D * sizeof(float));
    y = malloc(rows * D * sizeof(float));
    g = malloc(rows * wide * sizeof(float));
    u = malloc(rows * wide * sizeof(float));
    if (!xin || !y || !g || !u) { rc = pf_enomem("expert activations"); goto done; }
    for (size_t e = 0; e < E; e++) {
        size_t n = count[e + 1] - count[e];
        if (!n) continue; /* experts no token chose are never read */
        const size_t *ord = order + count[e];
        for (size_t i = 0; i < n; i++) memcpy(xin + i * D, h + (ord[i] / K) * D, D * sizeof(float));
        const float *w;
        const char *name;
        if ((rc = expert_matrix(lm, layer, e, M_GATE, &w, &name))) goto done;
        pf_linear(g, I, xin, D, n, w, 0, D, I, NULL, 0.0f);
        (void)profs_model_release(lm->model, name);
        if ((rc = expert_matrix(lm, layer, e, M_UP, &w, &name))) goto done;
        pf_linear(u, I, xin, D, n, w, 0, D, I, NULL, 0.0f);
        (void)profs_model_release(lm->model, name);
        pf_silu_mul(g, u, n * I);
        if ((rc = expert_matrix(lm, layer, e, M_DOWN, &w, &name))) goto done;
        pf_linear(y, D, g, I, n, w, 0, I, D, NULL, 0.0f);
        (void)profs_model_release(lm->model, name);
        for (size_t i = 0; i < n; i++) {
            float s = wt[ord[i]], *xr = x + (ord[i] / K) * D;
            const float *yr = y + i * D;
            for (size_t d = 0; d < D; d++) xr[d] += s * yr[d];
        }
    }
    if (S && lw->w[PF_SH_DOWN_W].p) { /* shared expert, scaled by sigmoid(shared_expert_gate . h) */
        pf_linear(g, S, h, D, T, lw->w[PF_SH_GATE_W].p, 0, D, S, NULL, 0.0f);
        pf_linear(u, S, h, D, T, lw->w[PF_SH_UP_W].p, 0, D, S, NULL, 0.0f);
        pf_silu_mul(g, u, T * S);
        pf_linear(y, D, g, S, T, lw->w[PF_SH_DOWN_W].p, 0, S, D, NULL, 0.0f);
        const float *gw = lw->w[PF_SH_GATE].p;
        for (size_t t = 0; t < T; t++) {
            double z = 0.0;
            for (size_t d = 0; d < D; d++) z += (double)gw[d] * h[t * D + d];
            float s = (float)(1.0 / (1.0 + exp(-z)));
            for (size_t d = 0; d < D; d++) x[t * D + d] += s * y[t * D + d];
        }
    }
done:
    free(logits);
    free(wt);
    free(sel);
    free(count);
    free(order);
    free(xin);
    free(y);
    free(g);
    free(u);
    return rc;
}
