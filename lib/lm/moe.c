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

int pf_moe_config_read(profs_lm *lm)
{
    pf_lm_config *c = &lm->cfg;
    int mix = !strcmp(c->fam->name, "mixtral"), q2 = !strcmp(c->fam->name, "qwen2_moe");
    int rc;
    /* the expert count, the sparse layers and the layout come with the tensors (pf_arch_moe_info) */
    if ((rc = size_field(lm, "num_experts_per_tok", mix ? 2 : q2 ? 4 : 8, 1, &c->top_k))) return rc;
    if (mix) c->moe_ffn = c->ffn_dim;
    else if ((rc = size_field(lm, "moe_intermediate_size", q2 ? 1408 : 768, 1, &c->moe_ffn))) return rc;
    if (q2 && (rc = size_field(lm, "shared_expert_intermediate_size", 5632, 0, &c->shared_ffn))) return rc;
    c->norm_topk = mix;
    if (!mix && (rc = get_bool(lm, "norm_topk_prob", &c->norm_topk))) return rc;
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

/* The expert rows' tensor names of every sparse layer, each checked (float, shape from config.json); the
 * missing ones are named together. */
int pf_moe_names(profs_lm *lm)
{
    pf_lm_config *c = &lm->cfg;
    const pf_family *fam = c->fam;
    if (!c->moe_layer || !c->moe.layout) return 0;
    size_t L = c->n_layers, E = c->n_experts, I = c->moe_ffn, D = c->dim;
    int fused = c->moe.layout == PF_IF_EXPERTS_FUSED;
    size_t per_layer = fused ? 3 : 3 * E, n_missing = 0, off = 0;
    lm->moe_fused = fused;
    lm->ename = calloc(L * per_layer, sizeof(char *));
    if (!lm->ename) return pf_enomem("expert names");
    char missing[1024] = "", name[320];
    for (size_t l = 0; l < L; l++) {
        if (!c->moe_layer[l]) continue;
        for (const pf_tensor_row *r = fam->layer; r->pattern; r++) {
            if (!r->expert || !pf_arch_row_present(r, c->flags, &c->moe, l)) continue;
            int m = r->slot == PF_EXP_GATE ? M_GATE : r->slot == PF_EXP_UP ? M_UP : M_DOWN;
            for (size_t e = 0; e < (fused ? 1 : E); e++) {
                pf_arch_name(name, sizeof name, fam, lm->prefix, r, l, e);
                char **dst = &lm->ename[l * per_layer + (fused ? (size_t)m : 3 * e + (size_t)m)];
                if (!(*dst = strdup(name))) return pf_enomem("expert names");
                if (fused && m == M_UP) continue; /* the same tensor as M_GATE (its second row block) */
                size_t shp[3], nd;
                if (fused) {
                    nd = 3;
                    shp[0] = E;
                    shp[1] = m == M_DOWN ? D : 2 * I;
                    shp[2] = m == M_DOWN ? I : D;
                } else {
                    nd = 2;
                    shp[0] = m == M_DOWN ? D : I;
                    shp[1] = m == M_DOWN ? I : D;
                }
                int rc = check_shape(lm, name, nd, shp);
                if (rc == PROFS_ENOTFOUND) {
                    if (n_missing < 8 && off < sizeof missing - 1)
                        off += (size_t)snprintf(missing + off, sizeof missing - off, "%s'%s'", n_missing ? ", " : "",
                                                name);
                    n_missing++;
                } else if (rc) {
                    return rc;
                }
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
        size_t n = c->n_layers * (lm->moe_fused ? 3 : 3 * c->n_experts);
        for (size_t i = 0; i < n; i++) free(lm->ename[i]);
        free(lm->ename);
        lm->ename = NULL;
    }
    if (lm->earena) free(lm->earena->buf);
    free(lm->earena);
    lm->earena = NULL;
}

/* Matrix m (M_GATE, M_UP, M_DOWN) of expert e in block l as the compute mode holds it; *name is what to
 * release after use. */
static int expert_matrix(const profs_lm *lm, size_t l, size_t e, int m, pf_wt *w, const char **name)
{
    const pf_lm_config *c = &lm->cfg;
    size_t I = c->moe_ffn, D = c->dim;
    if (lm->moe_fused) {
        const char *const *row = (const char *const *)lm->ename + l * 3;
        *name = row[m];
        size_t off = m == M_DOWN ? e * D * I : e * 2 * I * D + (m == M_UP ? I * D : 0);
        return pf_wt_matrix(lm, w, *name, off, m == M_DOWN ? D : I, m == M_DOWN ? I : D, lm->earena);
    }
    *name = lm->ename[(l * c->n_experts + e) * 3 + (size_t)m];
    return pf_wt_matrix(lm, w, *name, 0, m == M_DOWN ? D : I, m == M_DOWN ? I : D, lm->earena);
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
        pf_wt w;
        const char *name;
        if ((rc = expert_matrix(lm, layer, e, M_GATE, &w, &name))) goto done;
        rc = pf_lin(lm, g, I, xin, D, n, &w, 0, D, I, NULL, 0.0f);
        (void)profs_model_release(lm->model, name);
        if (rc || (rc = expert_matrix(lm, layer, e, M_UP, &w, &name))) goto done;
        rc = pf_lin(lm, u, I, xin, D, n, &w, 0, D, I, NULL, 0.0f);
        (void)profs_model_release(lm->model, name);
        if (rc) goto done;
        pf_silu_mul(g, u, n * I);
        if ((rc = expert_matrix(lm, layer, e, M_DOWN, &w, &name))) goto done;
        rc = pf_lin(lm, y, D, g, I, n, &w, 0, I, D, NULL, 0.0f);
        (void)profs_model_release(lm->model, name);
        if (rc) goto done;
        for (size_t i = 0; i < n; i++) {
            float s = wt[ord[i]], *xr = x + (ord[i] / K) * D;
            const float *yr = y + i * D;
            for (size_t d = 0; d < D; d++) xr[d] += s * yr[d];
        }
    }
    if (S && (lw->w[PF_SH_DOWN_W].p || lw->w[PF_SH_DOWN_W].q)) { /* shared expert, scaled by sigmoid(shared_expert_gate . h) */
        if ((rc = pf_lin(lm, g, S, h, D, T, &lw->w[PF_SH_GATE_W], 0, D, S, NULL, 0.0f)) ||
            (rc = pf_lin(lm, u, S, h, D, T, &lw->w[PF_SH_UP_W], 0, D, S, NULL, 0.0f)))
            goto done;
        pf_silu_mul(g, u, T * S);
        if ((rc = pf_lin(lm, y, D, g, S, T, &lw->w[PF_SH_DOWN_W], 0, S, D, NULL, 0.0f))) goto done;
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
