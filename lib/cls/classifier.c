/* Encoder sequence classifiers: BertForSequenceClassification, RobertaForSequenceClassification and
 * XLMRobertaForSequenceClassification as transformers computes them (eager attention, f32), weights
 * converted to f32 once at open, sequences packed back to back (attention never crosses them).
 *
 * The tensors are described by rows shaped like the architecture table's (lib/arch/): {slot, name pattern,
 * layout (rows, cols), role}; "%P" in a pattern is the encoder prefix ("bert" / "roberta"), "%L" the layer.
 * Everything a family differs in is a feature of cls_family, never a test of its name:
 *   positions    BERT 0..T-1; RoBERTa / XLM-R padding_idx + 1 + i (create_position_ids_from_input_ids
 *                on an unpadded sequence), so pad_token_id + 1 positions are unusable
 *   head         BERT pooler (tanh(W x_CLS + b)) + classifier; RoBERTa classifier.dense + tanh + out_proj
 *   token types  all 0 (one text per sequence) */
#include <cblas.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/fsutil.h"
#include "profs/eval.h"
#include "profs/model.h"
#include "text/tok_internal.h"

/* ---- the tensor table ---- */

enum cls_dim { DIM_1, DIM_V, DIM_P, DIM_T, DIM_D, DIM_F, DIM_C };
enum cls_role { ROLE_EMBED, ROLE_NORM, ROLE_LINEAR, ROLE_BIAS };

/* global tensors */
enum { G_WORD, G_POS, G_TYPE, G_EMB_LN_W, G_EMB_LN_B, G_HEAD1_W, G_HEAD1_B, G_OUT_W, G_OUT_B, G_COUNT };
/* per-layer tensors */
enum { L_Q_W, L_Q_B, L_K_W, L_K_B, L_V_W, L_V_B, L_AO_W, L_AO_B, L_ALN_W, L_ALN_B, L_I_W, L_I_B, L_O_W, L_O_B,
       L_OLN_W, L_OLN_B, L_COUNT };

typedef struct { int slot; const char *pattern; int rows, cols; int role; } cls_row;

static const cls_row layer_rows[] = {
    {L_Q_W, "%P.encoder.layer.%L.attention.self.query.weight", DIM_D, DIM_D, ROLE_LINEAR},
    {L_Q_B, "%P.encoder.layer.%L.attention.self.query.bias", DIM_D, DIM_1, ROLE_BIAS},
    {L_K_W, "%P.encoder.layer.%L.attention.self.key.weight", DIM_D, DIM_D, ROLE_LINEAR},
    {L_K_B, "%P.encoder.layer.%L.attention.self.key.bias", DIM_D, DIM_1, ROLE_BIAS},
    {L_V_W, "%P.encoder.layer.%L.attention.self.value.weight", DIM_D, DIM_D, ROLE_LINEAR},
    {L_V_B, "%P.encoder.layer.%L.attention.self.value.bias", DIM_D, DIM_1, ROLE_BIAS},
    {L_AO_W, "%P.encoder.layer.%L.attention.output.dense.weight", DIM_D, DIM_D, ROLE_LINEAR},
    {L_AO_B, "%P.encoder.layer.%L.attention.output.dense.bias", DIM_D, DIM_1, ROLE_BIAS},
    {L_ALN_W, "%P.encoder.layer.%L.attention.output.LayerNorm.weight", DIM_D, DIM_1, ROLE_NORM},
    {L_ALN_B, "%P.encoder.layer.%L.attention.output.LayerNorm.bias", DIM_D, DIM_1, ROLE_NORM},
    {L_I_W, "%P.encoder.layer.%L.intermediate.dense.weight", DIM_F, DIM_D, ROLE_LINEAR},
    {L_I_B, "%P.encoder.layer.%L.intermediate.dense.bias", DIM_F, DIM_1, ROLE_BIAS},
    {L_O_W, "%P.encoder.layer.%L.output.dense.weight", DIM_D, DIM_F, ROLE_LINEAR},
    {L_O_B, "%P.encoder.layer.%L.output.dense.bias", DIM_D, DIM_1, ROLE_BIAS},
    {L_OLN_W, "%P.encoder.layer.%L.output.LayerNorm.weight", DIM_D, DIM_1, ROLE_NORM},
    {L_OLN_B, "%P.encoder.layer.%L.output.LayerNorm.bias", DIM_D, DIM_1, ROLE_NORM},
};

static const cls_row embed_rows[] = {
    {G_WORD, "%P.embeddings.word_embeddings.weight", DIM_V, DIM_D, ROLE_EMBED},
    {G_POS, "%P.embeddings.position_embeddings.weight", DIM_P, DIM_D, ROLE_EMBED},
    {G_TYPE, "%P.embeddings.token_type_embeddings.weight", DIM_T, DIM_D, ROLE_EMBED},
    {G_EMB_LN_W, "%P.embeddings.LayerNorm.weight", DIM_D, DIM_1, ROLE_NORM},
    {G_EMB_LN_B, "%P.embeddings.LayerNorm.bias", DIM_D, DIM_1, ROLE_NORM},
};

static const cls_row bert_head_rows[] = {
    {G_HEAD1_W, "%P.pooler.dense.weight", DIM_D, DIM_D, ROLE_LINEAR},
    {G_HEAD1_B, "%P.pooler.dense.bias", DIM_D, DIM_1, ROLE_BIAS},
    {G_OUT_W, "classifier.weight", DIM_C, DIM_D, ROLE_LINEAR},
    {G_OUT_B, "classifier.bias", DIM_C, DIM_1, ROLE_BIAS},
};

static const cls_row roberta_head_rows[] = {
    {G_HEAD1_W, "classifier.dense.weight", DIM_D, DIM_D, ROLE_LINEAR},
    {G_HEAD1_B, "classifier.dense.bias", DIM_D, DIM_1, ROLE_BIAS},
    {G_OUT_W, "classifier.out_proj.weight", DIM_C, DIM_D, ROLE_LINEAR},
    {G_OUT_B, "classifier.out_proj.bias", DIM_C, DIM_1, ROLE_BIAS},
};

typedef struct {
    const char *architecture;  /* config architectures[0] */
    const char *model_type;
    const char *prefix;
    int padding_positions;     /* positions start at pad_token_id + 1 */
    const cls_row *head; size_t n_head;
} cls_family;

static const cls_family families[] = {
    {"BertForSequenceClassification", "bert", "bert", 0, bert_head_rows, 4},
    {"RobertaForSequenceClassification", "roberta", "roberta", 1, roberta_head_rows, 4},
    {"XLMRobertaForSequenceClassification", "xlm-roberta", "roberta", 1, roberta_head_rows, 4},
};

enum { ACT_GELU_ERF, ACT_GELU_TANH, ACT_RELU };

struct profs_classifier {
    profs_model *model;
    profs_tokenizer *tok;
    const cls_family *fam;
    size_t n_layers, dim, n_heads, ffn, vocab, max_pos, n_types, n_labels;
    size_t pos_offset;         /* first position id */
    size_t usable;             /* positions a sequence may use */
    size_t max_length, batch_tokens;
    double eps;
    int act, multi_label, force_sigmoid;
    char **labels;             /* (n_labels) */
    float *g[G_COUNT];         /* global tensors as f32 */
    float **lw;                /* (n_layers * L_COUNT) */
};

static size_t dim_of(const profs_classifier *c, int d)
{
    switch (d) {
    case DIM_V: return c->vocab;
    case DIM_P: return c->max_pos;
    case DIM_T: return c->n_types;
    case DIM_D: return c->dim;
    case DIM_F: return c->ffn;
    case DIM_C: return c->n_labels;
    default: return 1;
    }
}

static void tensor_name(char *out, size_t cap, const char *pattern, const char *prefix, size_t layer)
{
    size_t o = 0;
    for (const char *p = pattern; *p && o + 1 < cap; p++) {
        if (p[0] == '%' && p[1] == 'P') { o += (size_t)snprintf(out + o, cap - o, "%s", prefix); p++; }
        else if (p[0] == '%' && p[1] == 'L') { o += (size_t)snprintf(out + o, cap - o, "%zu", layer); p++; }
        else out[o++] = *p;
        if (o >= cap) o = cap - 1;
    }
    out[o] = '\0';
}

/* Check a row's tensor (present, shape) and read it as f32. */
static int load_row(profs_classifier *c, const cls_row *r, size_t layer, float **dst)
{
    char name[160];
    tensor_name(name, sizeof name, r->pattern, c->fam->prefix, layer);
    size_t ndim;
    const int64_t *shape;
    if (profs_model_tensor_info(c->model, name, NULL, &ndim, &shape))
        return pf_error(PROFS_ENOTFOUND, "%s: tensor '%s' is missing (%s)", profs_model_path(c->model), name,
                        c->fam->architecture);
    size_t rows = dim_of(c, r->rows), cols = dim_of(c, r->cols);
    int ok = r->cols == DIM_1 ? ndim == 1 && (size_t)shape[0] == rows
                              : ndim == 2 && (size_t)shape[0] == rows && (size_t)shape[1] == cols;
    if (!ok) {
        char got[64] = "";
        size_t o = 0;
        for (size_t i = 0; i < ndim && o < sizeof got; i++)
            o += (size_t)snprintf(got + o, sizeof got - o, "%s%lld", i ? ", " : "", (long long)shape[i]);
        if (r->cols == DIM_1)
            return pf_error(PROFS_ESHAPE, "%s: tensor '%s' has shape [%s], expected [%zu]", profs_model_path(c->model),
                            name, got, rows);
        return pf_error(PROFS_ESHAPE, "%s: tensor '%s' has shape [%s], expected [%zu, %zu]",
                        profs_model_path(c->model), name, got, rows, cols);
    }
    float *w = malloc(rows * cols * sizeof *w);
    if (!w) return pf_enomem(name);
    int rc = profs_model_read_f32(c->model, name, w, rows * cols);
    if (rc) { free(w); return pf_error_prefix(rc, "%s: ", profs_model_path(c->model)); }
    profs_model_release(c->model, name);
    *dst = w;
    return 0;
}

/* ---- config ---- */

static int cfg_size(profs_classifier *c, const char *key, size_t *out, int required, size_t def)
{
    int64_t v;
    int rc = profs_model_config_int(c->model, key, &v);
    if (rc == PROFS_ENOTFOUND && !required) { *out = def; return 0; }
    if (rc) return pf_error(PROFS_EFORMAT, "%s/config.json: %s: missing or not an integer", profs_model_path(c->model), key);
    if (v <= 0) return pf_error(PROFS_EFORMAT, "%s/config.json: %s = %lld must be positive", profs_model_path(c->model),
                                key, (long long)v);
    *out = (size_t)v;
    return 0;
}

static int read_config(profs_classifier *c)
{
    const char *path = profs_model_path(c->model), *arch = NULL, *mt = NULL, *s = NULL;
    if (!profs_model_has_config(c->model)) return pf_error(PROFS_EFORMAT, "%s: no config.json", path);
    if (profs_model_config_array_string(c->model, "architectures", 0, &arch)) arch = NULL;
    if (profs_model_config_string(c->model, "model_type", &mt)) mt = NULL;
    for (size_t i = 0; i < sizeof families / sizeof families[0]; i++)
        if (arch ? !strcmp(arch, families[i].architecture) : (mt && !strcmp(mt, families[i].model_type))) {
            c->fam = &families[i];
            break;
        }
    if (!c->fam)
        return pf_error(PROFS_EUNSUPPORTED, "%s/config.json: architecture '%s' is not a supported sequence classifier "
                        "(BertForSequenceClassification, RobertaForSequenceClassification, "
                        "XLMRobertaForSequenceClassification)", path, arch ? arch : mt ? mt : "(none)");
    int rc;
    if ((rc = cfg_size(c, "num_hidden_layers", &c->n_layers, 1, 0)) || (rc = cfg_size(c, "hidden_size", &c->dim, 1, 0)) ||
        (rc = cfg_size(c, "num_attention_heads", &c->n_heads, 1, 0)) ||
        (rc = cfg_size(c, "intermediate_size", &c->ffn, 1, 0)) || (rc = cfg_size(c, "vocab_size", &c->vocab, 1, 0)) ||
        (rc = cfg_size(c, "max_position_embeddings", &c->max_pos, 1, 0)) ||
        (rc = cfg_size(c, "type_vocab_size", &c->n_types, 0, 2)))
        return rc;
    if (c->dim % c->n_heads)
        return pf_error(PROFS_EFORMAT, "%s/config.json: hidden_size %zu is not a multiple of num_attention_heads %zu",
                        path, c->dim, c->n_heads);
    c->eps = 1e-12;
    double eps;
    if (profs_model_config_float(c->model, "layer_norm_eps", &eps) == 0) c->eps = eps;
    if (profs_model_config_string(c->model, "hidden_act", &s)) s = "gelu";
    if (!strcmp(s, "gelu")) c->act = ACT_GELU_ERF;
    else if (!strcmp(s, "gelu_new") || !strcmp(s, "gelu_pytorch_tanh")) c->act = ACT_GELU_TANH;
    else if (!strcmp(s, "relu")) c->act = ACT_RELU;
    else return pf_error(PROFS_EUNSUPPORTED, "%s/config.json: hidden_act '%s' is not supported", path, s);
    if (profs_model_config_string(c->model, "position_embedding_type", &s) == 0 && strcmp(s, "absolute") != 0)
        return pf_error(PROFS_EUNSUPPORTED, "%s/config.json: position_embedding_type '%s' is not supported (only "
                        "absolute)", path, s);
    int dec = 0;
    if (profs_model_config_bool(c->model, "is_decoder", &dec) == 0 && dec)
        return pf_error(PROFS_EUNSUPPORTED, "%s/config.json: is_decoder = true is not supported", path);
    if (c->fam->padding_positions) {
        int64_t pad = 1;
        if (profs_model_config_int(c->model, "pad_token_id", &pad) || pad < 0)
            return pf_error(PROFS_EFORMAT, "%s/config.json: pad_token_id: needed for RoBERTa positions", path);
        c->pos_offset = (size_t)pad + 1;
        if (c->pos_offset >= c->max_pos)
            return pf_error(PROFS_EFORMAT, "%s/config.json: pad_token_id %lld leaves no position", path, (long long)pad);
    }
    c->usable = c->max_pos - c->pos_offset;
    /* labels: id2label (keys "0".."n-1"), else num_labels */
    size_t n = 0;
    if (cfg_size(c, "num_labels", &n, 0, 0)) return PROFS_EFORMAT;
    for (size_t i = 0;; i++) {
        char key[48];
        snprintf(key, sizeof key, "id2label.%zu", i);
        if (profs_model_config_string(c->model, key, &s)) { if (i > n) n = i; break; }
    }
    if (n == 0) n = 2; /* transformers' PretrainedConfig default */
    c->n_labels = n;
    c->labels = calloc(n, sizeof *c->labels);
    if (!c->labels) return pf_enomem("labels");
    for (size_t i = 0; i < n; i++) {
        char key[48], def[32];
        snprintf(key, sizeof key, "id2label.%zu", i);
        snprintf(def, sizeof def, "LABEL_%zu", i);
        if (profs_model_config_string(c->model, key, &s)) s = def;
        if (!(c->labels[i] = strdup(s))) return pf_enomem("labels");
    }
    if (profs_model_config_string(c->model, "problem_type", &s) == 0) {
        if (!strcmp(s, "multi_label_classification")) c->multi_label = 1;
        else if (strcmp(s, "single_label_classification") != 0 && strcmp(s, "regression") != 0)
            return pf_error(PROFS_EFORMAT, "%s/config.json: problem_type '%s' is unknown", path, s);
    }
    return 0;
}

/* tokenizer_config.json model_max_length, when present and sensible. */
static void read_max_length(profs_classifier *c, const char *dir)
{
    c->max_length = c->usable;
    char *p = pf_path_join(dir, "tokenizer_config.json");
    if (!p) return;
    json_t *j = json_load_file(p, 0, NULL);
    free(p);
    json_t *v = json_object_get(j, "model_max_length");
    if (json_is_integer(v) && json_integer_value(v) >= 2 && (size_t)json_integer_value(v) <= c->usable)
        c->max_length = (size_t)json_integer_value(v);
    json_decref(j);
}

void profs_classifier_free(profs_classifier *c)
{
    if (!c) return;
    for (int i = 0; i < G_COUNT; i++) free(c->g[i]);
    if (c->lw)
        for (size_t i = 0; i < c->n_layers * L_COUNT; i++) free(c->lw[i]);
    free(c->lw);
    if (c->labels)
        for (size_t i = 0; i < c->n_labels; i++) free(c->labels[i]);
    free(c->labels);
    profs_tokenizer_free(c->tok);
    profs_model_free(c->model);
    free(c);
}

int profs_classifier_open(profs_classifier **out, const char *dir)
{
    if (!out || !dir) return pf_error(PROFS_EINVAL, "profs_classifier_open: NULL argument");
    profs_classifier *c = calloc(1, sizeof *c);
    if (!c) return pf_enomem("classifier");
    c->batch_tokens = 8192;
    int rc = profs_model_open(&c->model, dir);
    if (!rc) rc = read_config(c);
    if (!rc) {
        char *tj = pf_path_join(dir, "tokenizer.json");
        if (!tj) rc = pf_enomem("path");
        else {
            rc = profs_tokenizer_open(&c->tok, tj);
            free(tj);
        }
    }
    if (!rc) read_max_length(c, dir);
    for (size_t i = 0; !rc && i < sizeof embed_rows / sizeof embed_rows[0]; i++)
        rc = load_row(c, &embed_rows[i], 0, &c->g[embed_rows[i].slot]);
    for (size_t i = 0; !rc && i < c->fam->n_head; i++) rc = load_row(c, &c->fam->head[i], 0, &c->g[c->fam->head[i].slot]);
    if (!rc && !(c->lw = calloc(c->n_layers * L_COUNT, sizeof *c->lw))) rc = pf_enomem("classifier weights");
    for (size_t l = 0; !rc && l < c->n_layers; l++)
        for (size_t i = 0; !rc && i < L_COUNT; i++)
            rc = load_row(c, &layer_rows[i], l, &c->lw[l * L_COUNT + layer_rows[i].slot]);
    if (!rc && profs_tokenizer_vocab_size(c->tok) > c->vocab)
        rc = pf_error(PROFS_ESHAPE, "%s: the tokenizer has %zu ids but the embedding only %zu rows", dir,
                      profs_tokenizer_vocab_size(c->tok), c->vocab);
    if (rc) {
        profs_classifier_free(c);
        return rc;
    }
    *out = c;
    return 0;
}

size_t profs_classifier_n_labels(const profs_classifier *c) { return c ? c->n_labels : 0; }
const char *profs_classifier_label(const profs_classifier *c, size_t i)
{
    return c && i < c->n_labels ? c->labels[i] : NULL;
}
int profs_classifier_label_index(const profs_classifier *c, const char *name, size_t *index)
{
    if (!c || !name || !index) return pf_error(PROFS_EINVAL, "profs_classifier_label_index: NULL argument");
    for (size_t i = 0; i < c->n_labels; i++)
        if (!strcmp(c->labels[i], name)) { *index = i; return 0; }
    return pf_error(PROFS_ENOTFOUND, "classifier: no label '%s'", name);
}
const char *profs_classifier_architecture(const profs_classifier *c) { return c ? c->fam->model_type : NULL; }
const profs_tokenizer *profs_classifier_tokenizer(const profs_classifier *c) { return c ? c->tok : NULL; }
size_t profs_classifier_max_length(const profs_classifier *c) { return c ? c->max_length : 0; }
int profs_classifier_set_max_length(profs_classifier *c, size_t tokens)
{
    if (!c) return pf_error(PROFS_EINVAL, "NULL classifier");
    if (tokens < 2 || tokens > c->usable)
        return pf_error(PROFS_EINVAL, "classifier: max length %zu is outside 2 .. %zu", tokens, c->usable);
    c->max_length = tokens;
    return 0;
}
int profs_classifier_set_sigmoid(profs_classifier *c, int always)
{
    if (!c) return pf_error(PROFS_EINVAL, "NULL classifier");
    c->force_sigmoid = always != 0;
    return 0;
}
int profs_classifier_uses_sigmoid(const profs_classifier *c)
{
    return c && (c->force_sigmoid || c->multi_label || c->n_labels == 1);
}
int profs_classifier_set_batch_tokens(profs_classifier *c, size_t tokens)
{
    if (!c || tokens == 0) return pf_error(PROFS_EINVAL, "classifier: batch tokens must be at least 1");
    c->batch_tokens = tokens;
    return 0;
}

/* ---- kernels ---- */

/* y (n, out) = x (n, in) W^T + b, W (out, in) as nn.Linear stores it */
static void linear(float *y, const float *x, size_t n, const float *W, const float *b, size_t in, size_t outd)
{
    for (size_t r = 0; r < n; r++) memcpy(y + r * outd, b, outd * sizeof *y);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, (int)outd, (int)in, 1.0f, x, (int)in, W, (int)in,
                1.0f, y, (int)outd);
}

/* x (n, D) = LayerNorm(x + r) */
static void add_norm(float *x, const float *r, size_t n, size_t D, const float *w, const float *b, double eps)
{
    for (size_t i = 0; i < n; i++) {
        float *xr = x + i * D;
        if (r)
            for (size_t k = 0; k < D; k++) xr[k] += r[i * D + k];
        double mean = 0, var = 0;
        for (size_t k = 0; k < D; k++) mean += xr[k];
        mean /= (double)D;
        for (size_t k = 0; k < D; k++) { double d = xr[k] - mean; var += d * d; }
        var /= (double)D;
        float inv = (float)(1.0 / sqrt(var + eps)), m = (float)mean;
        for (size_t k = 0; k < D; k++) xr[k] = (xr[k] - m) * inv * w[k] + b[k];
    }
}

static void activate(int act, float *u, size_t n)
{
    if (act == ACT_GELU_ERF)
        for (size_t i = 0; i < n; i++) u[i] = 0.5f * u[i] * (1.0f + erff(u[i] * 0.70710678118654752f));
    else if (act == ACT_GELU_TANH)
        for (size_t i = 0; i < n; i++) {
            float x = u[i];
            u[i] = 0.5f * x * (1.0f + tanhf(0.7978845608028654f * (x + 0.044715f * x * x * x)));
        }
    else
        for (size_t i = 0; i < n; i++) u[i] = u[i] > 0 ? u[i] : 0.0f;
}

/* Bidirectional attention of each sequence with itself: ctx (T, D) from q, k, v (T, D). */
static void attend(const profs_classifier *c, float *ctx, const float *q, const float *k, const float *v,
                   const size_t *start, size_t n_seqs, float *scores)
{
    size_t D = c->dim, H = c->n_heads, hd = D / H;
    float scale = 1.0f / sqrtf((float)hd);
    for (size_t s = 0; s < n_seqs; s++) {
        size_t t0 = start[s], len = start[s + 1] - t0;
        for (size_t h = 0; h < H; h++) {
            const float *qh = q + t0 * D + h * hd, *kh = k + t0 * D + h * hd, *vh = v + t0 * D + h * hd;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)len, (int)len, (int)hd, scale, qh, (int)D, kh,
                        (int)D, 0.0f, scores, (int)len);
            for (size_t i = 0; i < len; i++) {
                float *row = scores + i * len, mx = -INFINITY;
                for (size_t j = 0; j < len; j++) mx = row[j] > mx ? row[j] : mx;
                double sum = 0;
                for (size_t j = 0; j < len; j++) { row[j] = expf(row[j] - mx); sum += row[j]; }
                float inv = (float)(1.0 / sum);
                for (size_t j = 0; j < len; j++) row[j] *= inv;
            }
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)len, (int)hd, (int)len, 1.0f, scores,
                        (int)len, vh, (int)D, 0.0f, ctx + t0 * D + h * hd, (int)D);
        }
    }
}

/* Logits (n_seqs, C) of one packed pass over ids (T). */
static int forward_pass(const profs_classifier *c, float *logits, const int32_t *ids, const size_t *start,
                        size_t n_seqs, size_t maxlen)
{
    size_t T = start[n_seqs], D = c->dim, F = c->ffn, C = c->n_labels;
    float *x = malloc(T * D * sizeof *x), *q = malloc(T * D * sizeof *q), *k = malloc(T * D * sizeof *k),
          *v = malloc(T * D * sizeof *v), *ctx = malloc(T * D * sizeof *ctx), *h = malloc(T * F * sizeof *h),
          *sc = malloc(maxlen * maxlen * sizeof *sc), *pool = malloc(2 * D * sizeof *pool);
    int rc = 0;
    if (!x || !q || !k || !v || !ctx || !h || !sc || !pool) { rc = pf_enomem("classifier activations"); goto out; }
    /* embeddings: word + position + token type 0, LayerNorm */
    for (size_t s = 0; s < n_seqs; s++)
        for (size_t t = start[s]; t < start[s + 1]; t++) {
            const float *we = c->g[G_WORD] + (size_t)ids[t] * D,
                        *pe = c->g[G_POS] + (c->pos_offset + t - start[s]) * D, *te = c->g[G_TYPE];
            for (size_t i = 0; i < D; i++) x[t * D + i] = we[i] + te[i] + pe[i];
        }
    add_norm(x, NULL, T, D, c->g[G_EMB_LN_W], c->g[G_EMB_LN_B], c->eps);
    for (size_t l = 0; l < c->n_layers; l++) {
        float *const *w = c->lw + l * L_COUNT;
        linear(q, x, T, w[L_Q_W], w[L_Q_B], D, D);
        linear(k, x, T, w[L_K_W], w[L_K_B], D, D);
        linear(v, x, T, w[L_V_W], w[L_V_B], D, D);
        attend(c, ctx, q, k, v, start, n_seqs, sc);
        linear(q, ctx, T, w[L_AO_W], w[L_AO_B], D, D); /* q reused: the attention output */
        add_norm(x, q, T, D, w[L_ALN_W], w[L_ALN_B], c->eps);
        linear(h, x, T, w[L_I_W], w[L_I_B], D, F);
        activate(c->act, h, T * F);
        linear(q, h, T, w[L_O_W], w[L_O_B], F, D);
        add_norm(x, q, T, D, w[L_OLN_W], w[L_OLN_B], c->eps);
    }
    /* head on the first token: tanh(W1 x + b1), then the output projection */
    for (size_t s = 0; s < n_seqs; s++) {
        linear(pool, x + start[s] * D, 1, c->g[G_HEAD1_W], c->g[G_HEAD1_B], D, D);
        for (size_t i = 0; i < D; i++) pool[i] = tanhf(pool[i]);
        linear(logits + s * C, pool, 1, c->g[G_OUT_W], c->g[G_OUT_B], D, C);
    }
out:
    free(x); free(q); free(k); free(v); free(ctx); free(h); free(sc); free(pool);
    return rc;
}

int profs_classifier_logits(profs_classifier *c, float *logits, const int32_t *const *ids, const size_t *lens,
                            size_t n)
{
    if (!c || !logits || (n && (!ids || !lens))) return pf_error(PROFS_EINVAL, "profs_classifier_logits: NULL argument");
    for (size_t s = 0; s < n; s++) {
        if (!ids[s] || lens[s] < 1 || lens[s] > c->usable)
            return pf_error(PROFS_EINVAL, "classifier: sequence %zu has %zu tokens (1 .. %zu allowed)", s, lens[s],
                            c->usable);
        for (size_t i = 0; i < lens[s]; i++)
            if (ids[s][i] < 0 || (size_t)ids[s][i] >= c->vocab)
                return pf_error(PROFS_EINVAL, "classifier: sequence %zu: token id %ld at index %zu is outside the "
                                "vocabulary [0, %zu)", s, (long)ids[s][i], i, c->vocab);
    }
    size_t *start = malloc((n + 1) * sizeof *start);
    size_t cap = c->batch_tokens > c->usable ? c->batch_tokens : c->usable;
    int32_t *tok = malloc(cap * sizeof *tok);
    int rc = 0;
    if (!start || !tok) { rc = pf_enomem("classifier batch"); goto out; }
    for (size_t s0 = 0; s0 < n && !rc;) {
        size_t s1 = s0, T = 0, maxlen = 0;
        start[0] = 0;
        while (s1 < n && (s1 == s0 || T + lens[s1] <= cap)) {
            memcpy(tok + T, ids[s1], lens[s1] * sizeof *tok);
            T += lens[s1];
            maxlen = lens[s1] > maxlen ? lens[s1] : maxlen;
            start[s1 - s0 + 1] = T;
            s1++;
        }
        rc = forward_pass(c, logits + s0 * c->n_labels, tok, start, s1 - s0, maxlen);
        s0 = s1;
    }
out:
    free(start);
    free(tok);
    return rc;
}

/* Tokenise with the template, truncating the text's own tokens as transformers' truncation=True. */
static int encode_text(const profs_classifier *c, const char *text, int32_t **out, size_t *n)
{
    const profs_tokenizer *t = c->tok;
    size_t len = strlen(text), cap = len + 8, got = 0;
    int32_t *ids = NULL;
    for (;;) {
        int32_t *p = realloc(ids, cap * sizeof *p);
        if (!p) { free(ids); return pf_enomem("classifier tokens"); }
        ids = p;
        int rc = profs_tokenizer_encode(t, text, len, 0, ids + t->n_post_pre, cap - t->n_post_pre - t->n_post_post,
                                        &got);
        if (rc == PROFS_EBUFS) { cap = got + t->n_post_pre + t->n_post_post + 1; continue; }
        if (rc) { free(ids); return rc; }
        break;
    }
    size_t room = c->max_length > t->n_post_pre + t->n_post_post ? c->max_length - t->n_post_pre - t->n_post_post : 0;
    if (got > room) got = room;
    if (t->n_post_pre) memcpy(ids, t->post_pre, t->n_post_pre * sizeof *ids);
    if (t->n_post_post) memcpy(ids + t->n_post_pre + got, t->post_post, t->n_post_post * sizeof *ids);
    *out = ids;
    *n = t->n_post_pre + got + t->n_post_post;
    return 0;
}

int profs_classifier_classify(profs_classifier *c, float *probs, const char *const *texts, size_t n,
                              profs_progress_fn progress, void *userdata)
{
    if (!c || !probs || (n && !texts)) return pf_error(PROFS_EINVAL, "profs_classifier_classify: NULL argument");
    int32_t **ids = calloc(n ? n : 1, sizeof *ids);
    size_t *lens = calloc(n ? n : 1, sizeof *lens);
    int rc = 0;
    if (!ids || !lens) { rc = pf_enomem("classifier"); goto out; }
    for (size_t i = 0; i < n && !rc; i++) {
        if (!texts[i]) { rc = pf_error(PROFS_EINVAL, "classifier: text %zu is NULL", i); break; }
        rc = encode_text(c, texts[i], &ids[i], &lens[i]);
        if (rc) pf_error_prefix(rc, "classifier: text %zu: ", i);
    }
    /* in chunks, so that progress can be reported and cancelled */
    size_t C = c->n_labels, chunk = 64;
    for (size_t s = 0; s < n && !rc; s += chunk) {
        size_t m = n - s < chunk ? n - s : chunk;
        rc = profs_classifier_logits(c, probs + s * C, (const int32_t *const *)ids + s, lens + s, m);
        if (!rc && progress && progress(userdata, "classify", s + m, n))
            rc = pf_error(PROFS_ECANCELLED, "classification cancelled after %zu of %zu texts", s + m, n);
    }
    if (!rc) {
        int sig = profs_classifier_uses_sigmoid(c);
        for (size_t s = 0; s < n; s++) {
            float *p = probs + s * C;
            if (sig) {
                for (size_t j = 0; j < C; j++) p[j] = (float)(1.0 / (1.0 + exp(-(double)p[j])));
            } else {
                float mx = -INFINITY;
                for (size_t j = 0; j < C; j++) mx = p[j] > mx ? p[j] : mx;
                double sum = 0;
                for (size_t j = 0; j < C; j++) sum += exp((double)p[j] - mx);
                for (size_t j = 0; j < C; j++) p[j] = (float)(exp((double)p[j] - mx) / sum);
            }
        }
    }
out:
    if (ids) for (size_t i = 0; i < n; i++) free(ids[i]);
    free(ids);
    free(lens);
    return rc;
}
