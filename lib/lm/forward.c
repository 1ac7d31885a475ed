/* The batched, layer-streamed forward pass: embedding, blocks, head.
 * All sequences of a batch go through a block together as one (T, D) matrix
 * (sgemm); attention runs per sequence and head with causal (and
 * sliding-window) masking. */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/dtype.h"
#include "core/error.h"
#include "core/parallel.h"
#include "lm/lm_internal.h"
#include "lm/qgemm.h"

#define MLP_ROWS 512   /* rows of the MLP scratch: (MLP_ROWS, F) floats, twice when gated */

#if defined(__GNUC__) && !defined(__clang__)
#  define PF_VECTORIZE __attribute__((optimize("O3", "no-trapping-math")))
#else
#  define PF_VECTORIZE
#endif

/* ---- small kernels ---- */

/* y (n, D) = LayerNorm(x (n, D)) with weight w and bias b (NULL: none, elementwise_affine
 * false); y may equal x. */
static void layer_norm(float *y, const float *x, size_t n, size_t D, const float *w, const float *b, double eps)
{
    for (size_t r = 0; r < n; r++) {
        const float *xr = x + r * D;
        float *yr = y + r * D;
        double mean = 0, var = 0;
        for (size_t i = 0; i < D; i++) mean += xr[i];
        mean /= (double)D;
        for (size_t i = 0; i < D; i++) { double d = xr[i] - mean; var += d * d; }
        var /= (double)D;
        float inv = (float)(1.0 / sqrt(var + eps)), m = (float)mean;
        if (w)
            for (size_t i = 0; i < D; i++) yr[i] = (xr[i] - m) * inv * w[i] + (b ? b[i] : 0.0f);
        else
            for (size_t i = 0; i < D; i++) yr[i] = (xr[i] - m) * inv + (b ? b[i] : 0.0f);
    }
}

/* y (n, D) = RMSNorm(x) = w * x / sqrt(mean(x^2) + eps), or (1 + w) * ... (gemma); y may equal x. */
static void rms_norm(float *y, const float *x, size_t n, size_t D, const float *w, double eps, int plus_one)
{
    for (size_t r = 0; r < n; r++) {
        const float *xr = x + r * D;
        float *yr = y + r * D;
        double ss = 0;
        for (size_t i = 0; i < D; i++) ss += (double)xr[i] * xr[i];
        float inv = (float)(1.0 / sqrt(ss / (double)D + eps));
        if (plus_one)
            for (size_t i = 0; i < D; i++) yr[i] = (xr[i] * inv) * (1.0f + w[i]);
        else
            for (size_t i = 0; i < D; i++) yr[i] = w[i] * (xr[i] * inv);
    }
}

static void norm_rows(const pf_lm_config *c, float *y, const float *x, size_t n, const float *w, const float *b)
{
    if (c->rms_norm) rms_norm(y, x, n, c->dim, w, c->norm_eps, c->f.norm_plus_one);
    else layer_norm(y, x, n, c->dim, w, b, c->norm_eps);
}

/* Soft-capping: cap * tanh(x / cap). */
static void softcap(float *x, size_t n, float cap)
{
    for (size_t i = 0; i < n; i++) x[i] = cap * tanhf(x[i] / cap);
}

PF_VECTORIZE static void add_into(float *restrict a, const float *restrict b, size_t n)
{
    for (size_t i = 0; i < n; i++) a[i] += b[i];
}

/* y (n, out) [ld ldy] = beta * y + x (n, in) [ld ldx] W + b, W stored [out, in]
 * (nn.Linear) or [in, out] (Conv1D, trans = 1). */
void pf_linear(float *y, size_t ldy, const float *x, size_t ldx, size_t n, const float *W, int conv1d,
               size_t in, size_t out, const float *b, float beta)
{
    if (n == 0) return;
    if (conv1d)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n, (int)out, (int)in, 1.0f, x, (int)ldx,
                    W, (int)out, beta, y, (int)ldy);
    else
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, (int)out, (int)in, 1.0f, x, (int)ldx,
                    W, (int)in, beta, y, (int)ldy);
    if (b)
        for (size_t r = 0; r < n; r++) add_into(y + r * ldy, b, out);
}
#define linear pf_linear

int pf_lin(const profs_lm *lm, float *y, size_t ldy, const float *x, size_t ldx, size_t n, const pf_wt *w,
           int conv1d, size_t in, size_t out, const float *b, float beta)
{
    if (!w->q) {
        pf_linear(y, ldy, x, ldx, n, w->p, conv1d, in, out, b, beta);
        return 0;
    }
    int th = openblas_get_num_threads();
    int rc;
    if (lm->compute == PROFS_COMPUTE_BF16)
        rc = pf_qgemm_bf16(y, ldy, x, ldx, n, w->q, w->qlo, w->ldq, in, w->in_p, out, beta, th);
    else if (lm->int8_kernel == PF_I8_AMX)
        rc = pf_qgemm_int8(y, ldy, x, ldx, n, w->q, w->qscale, w->ldq, in, w->in_p, out, beta, th);
    else
        rc = pf_qgemm_int8_vnni(y, ldy, x, ldx, n, w->q, w->qscale, w->ldq, in, out, beta, th,
                                lm->int8_kernel == PF_I8_AVX512_VNNI);
    if (rc) return rc;
    if (b && n)
        for (size_t r = 0; r < n; r++) add_into(y + r * ldy, b, out);
    return 0;
}


/* e^x for x in [-87, 88] (clamped outside) with a relative error below 2e-7:
 * 2^(x log2 e) split into an integer power (exponent bits) and 2^f for
 * f in [-0.5, 0.5] (degree-7 Taylor polynomial). Branch-free, so loops over it
 * vectorise, unlike libm's expf/tanhf calls. */
PF_VECTORIZE static inline float exp_approx(float x)
{
    x = x < -87.0f ? -87.0f : (x > 88.0f ? 88.0f : x);
    float t = x * 1.44269504088896341f;
    float r = (t + 12582912.0f) - 12582912.0f; /* round to nearest */
    float f = (t - r) * 0.69314718055994531f; /* e^f with |f| <= ln2 / 2 */
    float p = 1.0f + f * (1.0f + f * (0.5f + f * (1.6666667e-1f + f * (4.1666668e-2f +
              f * (8.3333338e-3f + f * (1.3888889e-3f + f * 1.9841270e-4f))))));
    int32_t i = (int32_t)r;
    uint32_t bits = (uint32_t)(i + 127) << 23;
    float sc;
    memcpy(&sc, &bits, sizeof sc);
    return p * sc;
}

PF_VECTORIZE static void activate(int act, float *u, size_t n)
{
    switch (act) {
    case PF_ACT_GELU_TANH: {
        /* 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), tanh(y) = 1 - 2 / (e^{2y} + 1) */
        const float k = 0.7978845608028654f;
        for (size_t i = 0; i < n; i++) {
            float x = u[i];
            float y = k * (x + 0.044715f * x * x * x);
            float th = 1.0f - 2.0f / (exp_approx(2.0f * y) + 1.0f);
            u[i] = 0.5f * x * (1.0f + th);
        }
        break;
    }
    case PF_ACT_GELU_ERF:
        for (size_t i = 0; i < n; i++) u[i] = 0.5f * u[i] * (1.0f + erff(u[i] * 0.70710678118654752f));
        break;
    case PF_ACT_RELU:
        for (size_t i = 0; i < n; i++) u[i] = u[i] > 0 ? u[i] : 0.0f;
        break;
    default:
        for (size_t i = 0; i < n; i++) u[i] = u[i] / (1.0f + exp_approx(-u[i]));
        break;
    }
}

PF_VECTORIZE static void mul_into(float *a, const float *b, size_t n)
{
    for (size_t i = 0; i < n; i++) a[i] *= b[i];
}

/* The MLP's elementwise work, split over the threads the products use (the same operations on each
 * element whatever the split, so results do not depend on it): a = act(a); then, with b, the product
 * a * b goes into a (into_a) or into b. */
typedef struct act_job { int act, into_a; float *a, *b; } act_job;

static void act_part(void *ud, size_t lo, size_t hi)
{
    const act_job *j = ud;
    activate(j->act, j->a + lo, hi - lo);
    if (j->b && j->into_a) mul_into(j->a + lo, j->b + lo, hi - lo);
    else if (j->b) mul_into(j->b + lo, j->a + lo, hi - lo);
}

static void activate_mul(int act, float *a, float *b, int into_a, size_t n)
{
    act_job j = {act, into_a, a, b};
    pf_parallel_for(n, 4096, n >= 65536 ? openblas_get_num_threads() : 1, act_part, &j);
}

void pf_silu_mul(float *gate, const float *up, size_t n)
{
    activate_mul(PF_ACT_SILU, gate, (float *)up, 1, n); /* up is only read */
}

/* s[j] = e^(s[j] - mx) for j in [lo, hi); returns the sum. */
PF_VECTORIZE static float exp_shift(float *s, size_t lo, size_t hi, float mx)
{
    float sum = 0;
    for (size_t j = lo; j < hi; j++) {
        s[j] = exp_approx(s[j] - mx);
        sum += s[j];
    }
    return sum;
}

/* Rotate heads of one token row (n_heads heads of head_dim at stride head_dim) at position pos
 * with inverse frequencies inv and cos/sin scaled by mscale (yarn, longrope). */
static void rope_row(const pf_lm_config *c, const float *inv, float mscale, float *row, size_t n_heads, size_t pos)
{
    size_t half = c->rotary_dim / 2;
    for (size_t i = 0; i < half; i++) {
        float ang = (float)pos * inv[i];
        float cs = cosf(ang) * mscale, sn = sinf(ang) * mscale;
        for (size_t h = 0; h < n_heads; h++) {
            float *v = row + h * c->head_dim;
            if (c->rope == PF_ROPE_HALF) {      /* rotate_half: pairs (i, i + d/2) */
                float a = v[i], b = v[i + half];
                v[i] = a * cs - b * sn;
                v[i + half] = b * cs + a * sn;
            } else {                            /* GPT-J rotate_every_two: pairs (2i, 2i + 1) */
                float a = v[2 * i], b = v[2 * i + 1];
                v[2 * i] = a * cs - b * sn;
                v[2 * i + 1] = b * cs + a * sn;
            }
        }
    }
}

/* Per-head RMSNorm of n_heads heads (q_norm / k_norm) of one token row. */
static void head_norm(const pf_lm_config *c, float *row, size_t n_heads, const float *w)
{
    for (size_t h = 0; h < n_heads; h++)
        rms_norm(row + h * c->head_dim, row + h * c->head_dim, 1, c->head_dim, w, c->norm_eps, c->f.norm_plus_one);
}

/* Attention of one sequence: n queries at positions past .. past + n - 1 over
 * n_keys = past + n keys. q (n) rows at stride ldq; k, v (n_keys) rows at
 * stride ldkv; out (n, q_dim) at stride ldo. Query rows go in blocks of `rows`, each
 * over only the keys some row of the block sees. scores: (min(n, rows) * n_keys) scratch. */
static void attend(const pf_lm_config *c, size_t rows, float *out, size_t ldo, const float *q, size_t ldq, const float *k,
                   const float *v, size_t ldkv, size_t n, size_t past, float *scores, float scale, size_t W)
{
    size_t hd = c->head_dim, group = c->n_heads / c->n_kv_heads;
    for (size_t h = 0; h < c->n_heads; h++) {
        size_t kh = h / group;
        for (size_t q0 = 0; q0 < n; q0 += rows) {
            size_t qn = n - q0 < rows ? n - q0 : rows;
            size_t khi = past + q0 + qn;                                    /* keys [klo, khi) */
            size_t klo = (W && past + q0 + 1 > W) ? past + q0 + 1 - W : 0;
            size_t nk = khi - klo;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)qn, (int)nk, (int)hd, scale,
                        q + q0 * ldq + h * hd, (int)ldq, k + klo * ldkv + kh * hd, (int)ldkv, 0.0f, scores,
                        (int)nk);
            for (size_t i = 0; i < qn; i++) {
                float *s = scores + i * nk;
                size_t qp = past + q0 + i, hi = qp + 1 - klo, lo = 0;
                if (W && qp + 1 > W) lo = qp + 1 - W - klo;
                if (c->attn_softcap > 0) softcap(s + lo, hi - lo, c->attn_softcap);
                float mx = -INFINITY;
                for (size_t j = lo; j < hi; j++) mx = s[j] > mx ? s[j] : mx;
                float inv = 1.0f / exp_shift(s, lo, hi, mx);
                for (size_t j = 0; j < lo; j++) s[j] = 0.0f;
                for (size_t j = lo; j < hi; j++) s[j] *= inv;
                for (size_t j = hi; j < nk; j++) s[j] = 0.0f;
            }
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)qn, (int)hd, (int)nk, 1.0f, scores,
                        (int)nk, v + klo * ldkv + kh * hd, (int)ldkv, 0.0f, out + q0 * ldo + h * hd, (int)ldo);
        }
    }
}

/* ---- embedding ---- */

static int embed(const profs_lm *lm, float *x, const int32_t *ids, const pf_batch *b)
{
    const pf_lm_config *c = &lm->cfg;
    size_t T = b->start[b->n_seqs], E = c->embed_dim, D = c->dim;
    int dt;
    const void *data;
    uint64_t nbytes;
    const char *en = lm->gname[PF_G_EMBED];
    if (profs_model_tensor_info(lm->model, en, &dt, NULL, NULL) ||
        profs_model_tensor_data(lm->model, en, &data, &nbytes))
        return pf_error(PROFS_EIO, "cannot read tensor '%s'", en);
    size_t es = profs_dtype_size(dt);
    float *rows = x;
    if (E != D) {
        rows = malloc(T * E * sizeof(float));
        if (!rows) return pf_enomem("embedding rows");
    }
    for (size_t t = 0; t < T; t++)
        pf_convert_to_f32(rows + t * E, (const char *)data + (size_t)ids[t] * E * es, dt, E);
    if (c->embed_scale) {
        /* sqrt(hidden) rounded to the embedding's dtype, as transformers' embed_scale.to(weight.dtype) */
        float sc = sqrtf((float)D);
        if (dt != PROFS_DTYPE_F32) {
            uint16_t h;
            pf_convert_from_f32(&h, &sc, dt, 1);
            pf_convert_to_f32(&sc, &h, dt, 1);
        }
        for (size_t i = 0; i < T * E; i++) rows[i] *= sc;
    }
    if (E != D) {
        pf_wt w;
        int rc = pf_wt_load(lm, &w, lm->gname[PF_G_PROJ_IN]);
        if (rc) { free(rows); return rc; }
        linear(x, D, rows, E, T, w.p, 0, E, D, NULL, 0.0f);
        pf_wt_drop(lm, &w, NULL);
        free(rows);
    }
    const char *pn = lm->gname[PF_G_POS];
    if (pn) {
        if (profs_model_tensor_info(lm->model, pn, &dt, NULL, NULL) ||
            profs_model_tensor_data(lm->model, pn, &data, &nbytes))
            return pf_error(PROFS_EIO, "cannot read tensor '%s'", pn);
        es = profs_dtype_size(dt);
        float *tmp = malloc(D * sizeof(float));
        if (!tmp) return pf_enomem("position row");
        for (size_t s = 0; s < b->n_seqs; s++)
            for (size_t t = b->start[s]; t < b->start[s + 1]; t++) {
                size_t pos = (b->past ? b->past[s] : 0) + (t - b->start[s]) + c->pos_offset;
                pf_convert_to_f32(tmp, (const char *)data + pos * D * es, dt, D);
                float *xr = x + t * D;
                for (size_t i = 0; i < D; i++) xr[i] += tmp[i];
            }
        free(tmp);
    }
    return 0;
}

/* ---- one block ---- */

typedef struct scratch {
    float *h;       /* (T, D) normalised input */
    float *qkv;     /* (T, q_dim + 2 kv_dim) */
    float *att;     /* (T, q_dim) */
    float *up;      /* (MLP_ROWS, F) */
    float *gate;    /* (MLP_ROWS, F) when gated */
    float *out;     /* (MLP_ROWS, D) when the MLP output is normalised */
    float *scores;  /* (max_n * max_keys) */
    float *pkv;     /* (2 * max_keys * kv_dim) keys then values of a sequence with a shared prefix */
    size_t pkv_rows;
} scratch;

/* The rope table of a layer (gemma3's local layers have their own) and, for longrope,
 * the factors of a call whose last position is last_pos: the long ones once any position
 * passes original_max_position_embeddings, as transformers' longrope_frequency_update. */
static const float *rope_inv(const pf_lm_config *c, size_t layer, size_t last_pos, float *mscale)
{
    const pf_rope_tab *t = c->f.local_rope && c->slides[layer] ? &c->rope_local : &c->rope_tab;
    *mscale = t->mscale;
    if (t->inv_long && last_pos + 1 > t->original_max) return t->inv_long;
    return t->inv;
}

static int block(const profs_lm *lm, const pf_layer_w *lw, size_t layer, float *x, size_t T, const pf_batch *b,
                 const size_t *prefix, pf_kv *kv, scratch *sc)
{
    const pf_lm_config *c = &lm->cfg;
    const pf_wt *w = lw->w;
    size_t D = c->dim, Q = c->q_dim, KV = c->kv_dim, F = c->ffn_dim, ld = Q + 2 * KV;
    const int *tr = lm->ltrans;
    size_t W = c->slides[layer] ? c->sliding_window : 0;
    int rc;

    /* attention input */
    const float *ain = x;
    if (c->ln_before) {
        norm_rows(c, sc->h, x, T, w[PF_LN1_W].p, w[PF_LN1_B].p);
        ain = sc->h;
    }
    if (w[PF_QKV_W].p || w[PF_QKV_W].q) {
        if ((rc = pf_lin(lm, sc->qkv, ld, ain, D, T, &w[PF_QKV_W], tr[PF_QKV_W], D, ld, w[PF_QKV_B].p, 0.0f))) return rc;
    } else {
        if ((rc = pf_lin(lm, sc->qkv, ld, ain, D, T, &w[PF_Q_W], 0, D, Q, w[PF_Q_B].p, 0.0f))) return rc;
        if ((rc = pf_lin(lm, sc->qkv + Q, ld, ain, D, T, &w[PF_K_W], 0, D, KV, w[PF_K_B].p, 0.0f))) return rc;
        if ((rc = pf_lin(lm, sc->qkv + Q + KV, ld, ain, D, T, &w[PF_V_W], 0, D, KV, w[PF_V_B].p, 0.0f))) return rc;
    }
    float scale = c->attn_scale;
    if (c->scale_by_layer) scale /= (float)(layer + 1);
    for (size_t s = 0; s < b->n_seqs; s++) {
        size_t t0 = b->start[s], n = b->start[s + 1] - t0, past = b->past ? b->past[s] : 0;
        if (w[PF_QNORM_W].p)
            for (size_t i = 0; i < n; i++) {
                float *row = sc->qkv + (t0 + i) * ld;
                head_norm(c, row, c->n_heads, w[PF_QNORM_W].p);
                head_norm(c, row + Q, c->n_kv_heads, w[PF_KNORM_W].p);
            }
        if (c->rope != PF_ROPE_NONE) {
            float ms;
            const float *inv = rope_inv(c, layer, past + n - 1, &ms);
            for (size_t i = 0; i < n; i++) {
                float *row = sc->qkv + (t0 + i) * ld;
                rope_row(c, inv, ms, row, c->n_heads, past + i);
                rope_row(c, inv, ms, row + Q, c->n_kv_heads, past + i);
            }
        }
        const float *k = sc->qkv + t0 * ld + Q, *v = sc->qkv + t0 * ld + Q + KV;
        size_t ldkv = ld;
        if (kv) {
            float *ck = kv->k[layer], *cv = kv->v[layer];
            for (size_t i = 0; i < n; i++) {
                memcpy(ck + (past + i) * KV, sc->qkv + (t0 + i) * ld + Q, KV * sizeof(float));
                memcpy(cv + (past + i) * KV, sc->qkv + (t0 + i) * ld + Q + KV, KV * sizeof(float));
            }
            k = ck;
            v = cv;
            ldkv = KV;
        } else if (prefix && prefix[s] != PF_NO_PREFIX) {
            /* a shared prefix (prefix.c): its keys and values, then this sequence's own */
            size_t p0 = b->start[prefix[s]], pn = b->start[prefix[s] + 1] - p0;
            float *ck = sc->pkv, *cv = sc->pkv + sc->pkv_rows * KV;
            for (size_t i = 0; i < pn + n; i++) {
                const float *row = sc->qkv + (i < pn ? p0 + i : t0 + i - pn) * ld;
                memcpy(ck + i * KV, row + Q, KV * sizeof(float));
                memcpy(cv + i * KV, row + Q + KV, KV * sizeof(float));
            }
            k = ck;
            v = cv;
            ldkv = KV;
            past = pn;
        } else if (past) {
            past = 0; /* no cache: positions only shift RoPE/learned positions */
        }
        attend(c, lm->att_rows, sc->att + t0 * Q, Q, sc->qkv + t0 * ld, ld, k, v, ldkv, n, past, sc->scores, scale,
               W);
    }

    /* output projection into the residual stream */
    if (w[PF_ATTN_OUT_NORM_W].p) {
        /* gemma: the attention output is normalised before it is added */
        if ((rc = pf_lin(lm, sc->h, D, sc->att, Q, T, &w[PF_O_W], tr[PF_O_W], Q, D, w[PF_O_B].p, 0.0f))) return rc;
        norm_rows(c, sc->h, sc->h, T, w[PF_ATTN_OUT_NORM_W].p, NULL);
        add_into(x, sc->h, T * D);
    } else {
        if ((rc = pf_lin(lm, x, D, sc->att, Q, T, &w[PF_O_W], tr[PF_O_W], Q, D, w[PF_O_B].p, 1.0f))) return rc;
        if (!c->ln_before) norm_rows(c, x, x, T, w[PF_LN1_W].p, w[PF_LN1_B].p);
    }

    /* MLP input: GPT-J reuses ln_1(x_old) (still in h); pre-LN normalises the new x; OPT post-LN uses x */
    const float *min = x;
    if (!c->parallel && c->ln_before) {
        norm_rows(c, sc->h, x, T, w[PF_LN2_W].p, w[PF_LN2_B].p);
        min = sc->h;
    } else if (c->parallel) {
        min = sc->h;
    }
    if (c->moe_layer && c->moe_layer[layer]) return pf_moe_block(lm, lw, layer, x, min, T);
    for (size_t r0 = 0; r0 < T; r0 += MLP_ROWS) {
        size_t n = T - r0 < MLP_ROWS ? T - r0 : MLP_ROWS;
        if ((rc = pf_lin(lm, sc->up, F, min + r0 * D, D, n, &w[PF_UP_W], tr[PF_UP_W], D, F, w[PF_UP_B].p, 0.0f))) return rc;
        if (w[PF_GATE_W].p || w[PF_GATE_W].q) {
            if ((rc = pf_lin(lm, sc->gate, F, min + r0 * D, D, n, &w[PF_GATE_W], tr[PF_GATE_W], D, F, w[PF_GATE_B].p, 0.0f))) return rc;
            activate_mul(c->act, sc->gate, sc->up, 0, n * F); /* up = up * act(gate) */
        } else {
            activate_mul(c->act, sc->up, NULL, 0, n * F);
        }
        if (w[PF_MLP_OUT_NORM_W].p) {
            /* gemma: what the MLP adds is post_feedforward_layernorm(down(...)) */
            if ((rc = pf_lin(lm, sc->out, D, sc->up, F, n, &w[PF_DOWN_W], tr[PF_DOWN_W], F, D, w[PF_DOWN_B].p, 0.0f))) return rc;
            norm_rows(c, sc->out, sc->out, n, w[PF_MLP_OUT_NORM_W].p, NULL);
            add_into(x + r0 * D, sc->out, n * D);
        } else {
            if ((rc = pf_lin(lm, x + r0 * D, D, sc->up, F, n, &w[PF_DOWN_W], tr[PF_DOWN_W], F, D, w[PF_DOWN_B].p, 1.0f))) return rc;
        }
        if (!c->ln_before) norm_rows(c, x + r0 * D, x + r0 * D, n, w[PF_LN2_W].p, w[PF_LN2_B].p);
    }
    return 0;
}

int pf_kv_init(pf_kv *kv, const profs_lm *lm, size_t capacity)
{
    size_t L = lm->cfg.n_layers, KV = lm->cfg.kv_dim;
    memset(kv, 0, sizeof *kv);
    kv->k = calloc(L, sizeof(float *));
    kv->v = calloc(L, sizeof(float *));
    if (!kv->k || !kv->v) { pf_kv_free(kv, L); return pf_enomem("KV cache"); }
    for (size_t l = 0; l < L; l++) {
        kv->k[l] = malloc(capacity * KV * sizeof(float));
        kv->v[l] = malloc(capacity * KV * sizeof(float));
        if (!kv->k[l] || !kv->v[l]) { pf_kv_free(kv, L); return pf_enomem("KV cache"); }
    }
    kv->capacity = capacity;
    return 0;
}

void pf_kv_free(pf_kv *kv, size_t n_layers)
{
    if (kv->k) for (size_t l = 0; l < n_layers; l++) free(kv->k[l]);
    if (kv->v) for (size_t l = 0; l < n_layers; l++) free(kv->v[l]);
    free(kv->k);
    free(kv->v);
    memset(kv, 0, sizeof *kv);
}

static int forward_batch(const profs_lm *lm, float *x, const int32_t *ids, const pf_batch *b,
                         const size_t *prefix, pf_kv *kv, pf_layer_cb cb, void *ud)
{
    const pf_lm_config *c = &lm->cfg;
    size_t T = b->start[b->n_seqs], D = c->dim, F = c->ffn_dim;
    size_t max_n = 0, max_keys = 0;
    for (size_t s = 0; s < b->n_seqs; s++) {
        size_t n = b->start[s + 1] - b->start[s];
        size_t keys = n + ((kv || prefix) && b->past ? b->past[s] : 0);
        if (n > max_n) max_n = n;
        if (keys > max_keys) max_keys = keys;
    }
    if (kv && (b->n_seqs != 1 || kv->len + T > kv->capacity || prefix))
        return pf_error(PROFS_EINVAL, "KV cache: batch does not fit");
    int rc = embed(lm, x, ids, b);
    if (rc) return rc;
    if (cb && (rc = cb(ud, 0, x, T, D))) return rc;

    scratch sc = {0};
    size_t rows = T < MLP_ROWS ? T : MLP_ROWS;
    sc.h = malloc(T * D * sizeof(float));
    sc.qkv = malloc(T * (c->q_dim + 2 * c->kv_dim) * sizeof(float));
    sc.att = malloc(T * c->q_dim * sizeof(float));
    sc.up = malloc(rows * F * sizeof(float));
    sc.gate = c->f.gated ? malloc(rows * F * sizeof(float)) : NULL;
    sc.out = c->f.post_norms ? malloc(rows * D * sizeof(float)) : NULL;
    sc.scores = malloc((max_n < lm->att_rows ? max_n : lm->att_rows) * max_keys * sizeof(float));
    if (prefix) {
        sc.pkv_rows = max_keys;
        sc.pkv = malloc(2 * max_keys * c->kv_dim * sizeof(float));
    }
    if (!sc.h || !sc.qkv || !sc.att || !sc.up || (c->f.gated && !sc.gate) || (c->f.post_norms && !sc.out) ||
        !sc.scores || (prefix && !sc.pkv)) {
        rc = pf_enomem("activations");
        goto done;
    }
    for (size_t l = 0; l < c->n_layers; l++) {
        pf_layer_w local = {0};
        const pf_layer_w *lw = lm->cache ? &lm->cache[l] : &local;
        if (!lm->cache && (rc = pf_layer_load(lm, &local, l, lm->arena))) goto done;
        rc = block(lm, lw, l, x, T, b, prefix, kv, &sc);
        if (!lm->cache) pf_layer_drop(lm, &local, l);
        if (rc) goto done;
        if (cb && (rc = cb(ud, l + 1, x, T, D))) goto done;
    }
    if (kv) kv->len += T;
done:
    free(sc.h);
    free(sc.qkv);
    free(sc.att);
    free(sc.up);
    free(sc.gate);
    free(sc.out);
    free(sc.scores);
    free(sc.pkv);
    return rc;
}

int pf_lm_forward(const profs_lm *lm, float *x, const int32_t *ids, const pf_batch *b, pf_kv *kv,
                  pf_layer_cb cb, void *ud)
{
    return forward_batch(lm, x, ids, b, NULL, kv, cb, ud);
}

int pf_lm_forward_prefix(const profs_lm *lm, float *x, const int32_t *ids, const pf_batch *b,
                         const size_t *prefix, pf_layer_cb cb, void *ud)
{
    return forward_batch(lm, x, ids, b, prefix, NULL, cb, ud);
}

#define HEAD_ROWS 64

int pf_lm_head(const profs_lm *lm, float *x, size_t n, pf_logits_cb fn, void *ud)
{
    const pf_lm_config *c = &lm->cfg;
    size_t D = c->dim, E = c->embed_dim, V = c->vocab;
    int rc;
    if (c->has_final_norm && (lm->gname[PF_G_NORM_W] || !(c->flags & PF_IF_NORM_AFFINE))) {
        pf_wt nw, nb;
        if ((rc = pf_wt_load(lm, &nw, lm->gname[PF_G_NORM_W]))) return rc;
        if ((rc = pf_wt_load(lm, &nb, lm->gname[PF_G_NORM_B]))) { pf_wt_drop(lm, &nw, NULL); return rc; }
        norm_rows(c, x, x, n, nw.p, nb.p);
        pf_wt_drop(lm, &nw, NULL);
        pf_wt_drop(lm, &nb, NULL);
    }
    size_t rows = n < HEAD_ROWS ? n : HEAD_ROWS;
    float *xe = NULL, *logits = malloc(rows * V * sizeof(float));
    pf_wt pw = {0}, hw = lm->head, hb = {0};
    int own = hw.p == NULL;
    const char *hn = c->tied ? lm->gname[PF_G_EMBED] : lm->gname[PF_G_HEAD_W];
    if (!logits) return pf_enomem("logits");
    if (E != D) {
        xe = malloc(rows * E * sizeof(float));
        if (!xe) { rc = pf_enomem("project_out"); goto out; }
        if ((rc = pf_wt_load(lm, &pw, lm->gname[PF_G_PROJ_OUT]))) goto out;
    }
    if (own && (rc = pf_wt_load(lm, &hw, hn))) goto out;
    if ((rc = pf_wt_load(lm, &hb, lm->gname[PF_G_HEAD_B]))) goto out;
    for (size_t r0 = 0; r0 < n && !rc; r0 += rows) {
        size_t m = n - r0 < rows ? n - r0 : rows;
        const float *in = x + r0 * D;
        if (xe) {
            linear(xe, E, in, D, m, pw.p, 0, D, E, NULL, 0.0f);
            in = xe;
        }
        linear(logits, V, in, E, m, hw.p, 0, E, V, hb.p, 0.0f);
        if (c->final_softcap > 0) softcap(logits, m * V, c->final_softcap);
        for (size_t i = 0; i < m && !rc; i++) rc = fn(ud, r0 + i, logits + i * V);
    }
out:
    if (own) pf_wt_drop(lm, &hw, lm->cache ? NULL : hn);
    pf_wt_drop(lm, &hb, NULL);
    pf_wt_drop(lm, &pw, NULL);
    free(xe);
    free(logits);
    return rc;
}
