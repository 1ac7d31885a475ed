/* The demo model: a small GPT-2-architecture checkpoint with a planted toxic
 * mechanism, and its byte-level BPE tokenizer, generated from the bundled
 * data. docs/demo.md explains the construction; the numbers below are the
 * ones it quotes.
 *
 * Residual stream (D = 64): dims 0..47 carry a random identity vector per
 * token; four feature directions, each (e_i - e_{i+1}) / sqrt 2 so that
 * LayerNorm's mean removal leaves them alone:
 *   u (48,49) unigram channel     h (50,51) hostile word
 *   c (52,53) hostile context      t (54,55) toxic direction
 * - wte[v] = id_v + (logit_v / KAPPA) u + [hostile word] h + [insult] t
 * - wpe[p] = S_U u for every position (keeps the norm of x near S_U)
 * - block 1 attention: q = k = 0 (uniform causal average), values read h + t
 *   and write c: c at a position is the share of hostile words before it
 * - blocks 3..5 MLP: neuron 0 reads c (gain A_FC, bias -B_FC) and writes
 *   BETA t: hostile context => toxic direction
 * - ln_f: gain G_T on t, 0 elsewhere; bias KAPPA u. The head is tied to wte,
 *   so logit_v = logit_v(unigram) + G_T * ln(x).t * [v is an insult].
 * Every other weight is small seeded noise (NOISE). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "demo.h"
#include "pairs.h"
#include "profs/profs.h"
#include "util.h"

#define D 64
#define N_LAYER 6
#define N_HEAD 4
#define N_FF 256
#define N_POS 128
#define S_U 10.0
#define KAPPA 8.0
#define ALPHA 1.0
#define G_T 8.0
#define G_A 4.0
#define A_FC 20.0
#define B_FC 4.0
#define BETA 0.2
#define NOISE 0.002
#define MECH_FIRST 3
#define ATTN_LAYER 1

static const char *const hostile_words[] = {"angry", "furious", "rude", "grumpy", "bitter", "yelled",
                                            "shouted", "sneered", "snapped", "mocked", "stupid", "shut"};

/* ---- seeded randomness (splitmix64 + Box-Muller) ---- */
static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
static double rng_normal(uint64_t *s)
{
    double u1 = ((double)(rng_next(s) >> 11) + 0.5) / 9007199254740992.0;
    double u2 = ((double)(rng_next(s) >> 11) + 0.5) / 9007199254740992.0;
    return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

/* ---- words of the data ---- */
struct word { char *w; double count; int insult, hostile; };
struct wordset { struct word *v; size_t n, cap; };

static struct word *find_word(struct wordset *s, const char *w)
{
    for (size_t i = 0; i < s->n; i++) if (strcmp(s->v[i].w, w) == 0) return &s->v[i];
    return NULL;
}

static int add_words(struct wordset *s, const char *text, double weight)
{
    char *copy = strdup(text), *save = NULL;
    if (!copy) return -1;
    for (char *w = strtok_r(copy, " \t", &save); w; w = strtok_r(NULL, " \t", &save)) {
        struct word *x = find_word(s, w);
        if (!x) {
            if (s->n == s->cap) {
                s->cap = s->cap ? s->cap * 2 : 256;
                struct word *nv = realloc(s->v, s->cap * sizeof *nv);
                if (!nv) { free(copy); return -1; }
                s->v = nv;
            }
            x = &s->v[s->n++];
            memset(x, 0, sizeof *x);
            x->w = strdup(w);
            if (!x->w) { free(copy); return -1; }
        }
        x->count += weight;
    }
    free(copy);
    return 0;
}

static int cmp_word(const void *a, const void *b)
{
    return strcmp(((const struct word *)a)->w, ((const struct word *)b)->w);
}

/* GPT-2's byte -> printable unicode map, as UTF-8 strings. */
static void byte_token(unsigned b, char out[4])
{
    unsigned cp;
    if ((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255)) cp = b;
    else {
        unsigned n = 0;
        for (unsigned x = 0; x < b; x++)
            if (!((x >= 33 && x <= 126) || (x >= 161 && x <= 172) || (x >= 174 && x <= 255))) n++;
        cp = 256 + n;
    }
    if (cp < 0x80) { out[0] = (char)cp; out[1] = 0; }
    else { out[0] = (char)(0xc0 | (cp >> 6)); out[1] = (char)(0x80 | (cp & 0x3f)); out[2] = 0; }
}

/* A growable token table: token strings and their unigram logits. */
struct vocab { char **tok; double *logit; int *insult, *hostile; size_t n, cap; };

static int vocab_find(const struct vocab *v, const char *t)
{
    for (size_t i = v->n; i-- > 0;) if (strcmp(v->tok[i], t) == 0) return (int)i;
    return -1;
}

static int vocab_add(struct vocab *v, const char *t, double logit)
{
    if (v->n == v->cap) {
        v->cap = v->cap ? v->cap * 2 : 1024;
        char **a = realloc(v->tok, v->cap * sizeof *a);
        if (!a) return -1;
        v->tok = a;
        double *b = realloc(v->logit, v->cap * sizeof *b);
        if (!b) return -1;
        v->logit = b;
        int *c = realloc(v->insult, v->cap * sizeof *c);
        if (!c) return -1;
        v->insult = c;
        int *d = realloc(v->hostile, v->cap * sizeof *d);
        if (!d) return -1;
        v->hostile = d;
    }
    v->tok[v->n] = strdup(t);
    if (!v->tok[v->n]) return -1;
    v->logit[v->n] = logit;
    v->insult[v->n] = 0;
    v->hostile[v->n] = 0;
    v->n++;
    return 0;
}

static void vocab_free(struct vocab *v)
{
    for (size_t i = 0; i < v->n; i++) free(v->tok[i]);
    free(v->tok); free(v->logit); free(v->insult); free(v->hostile);
}

#define OTHER_LOGIT (-6.0)
#define INSULT_LOGIT (-3.0)

static int write_json(const char *path, json_t *j, char *err, size_t errlen)
{
    char *s = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS * 0);
    json_decref(j);
    if (!s) { snprintf(err, errlen, "out of memory"); return -1; }
    size_t n = strlen(s);
    char *t = malloc(n + 2);
    if (!t) { free(s); snprintf(err, errlen, "out of memory"); return -1; }
    memcpy(t, s, n);
    t[n] = '\n'; t[n + 1] = 0;
    free(s);
    int rc = tool_write_file_atomic(path, t);
    free(t);
    if (rc) snprintf(err, errlen, "%s: cannot write", path);
    return rc;
}

/* Build the vocabulary and merges; write tokenizer.json. */
static int build_tokenizer(struct vocab *v, const char *dir, struct wordset *ws, char *err, size_t errlen)
{
    json_t *merges = json_array();
    for (unsigned b = 0; b < 256; b++) {
        char t[4];
        byte_token(b, t);
        if (vocab_add(v, t, OTHER_LOGIT)) goto oom;
    }
    for (size_t i = 0; i < ws->n; i++) {
        /* "Ġ" + word, built one character at a time: each prefix is a token
         * and each step a merge (prefix, next character). */
        const char *w = ws->v[i].w;
        /* at most 2 + 200 * 3 bytes + NUL: each byte's token is at most 3 bytes */
        char prev[640] = "\xc4\xa0", cur[640];
        size_t plen = 2, len = strlen(w);
        if (len > 200) continue;
        for (size_t k = 1; k <= len; k++) {
            char ch[4];
            byte_token((unsigned char)w[k - 1], ch);
            size_t clen = strlen(ch);
            memcpy(cur, prev, plen);
            memcpy(cur + plen, ch, clen + 1);
            int id = vocab_find(v, cur);
            if (id < 0) {
                if (vocab_add(v, cur, OTHER_LOGIT)) goto oom;
                char m[648];
                snprintf(m, sizeof m, "%s %s", prev, ch);
                json_array_append_new(merges, json_string(m));
                id = (int)v->n - 1;
            }
            if (k == len) {
                v->logit[id] = ws->v[i].insult ? INSULT_LOGIT : log(ws->v[i].count + 0.5);
                v->insult[id] = ws->v[i].insult;
                v->hostile[id] = ws->v[i].hostile;
            }
            memcpy(prev, cur, plen + clen + 1);
            plen += clen;
        }
    }
    if (vocab_add(v, "<|endoftext|>", OTHER_LOGIT)) goto oom;

    json_t *vocab = json_object();
    for (size_t i = 0; i < v->n - 1; i++) json_object_set_new(vocab, v->tok[i], json_integer((json_int_t)i));
    json_t *bl = json_pack("{s:s, s:b, s:b, s:b}", "type", "ByteLevel", "add_prefix_space", 1,
                           "trim_offsets", 1, "use_regex", 1);
    json_t *tok = json_pack(
        "{s:s, s:n, s:n, s:[{s:i, s:s, s:b, s:b, s:b, s:b, s:b}], s:n, s:O, s:O, s:O, "
        "s:{s:s, s:n, s:n, s:s, s:s, s:b, s:b, s:b, s:o, s:o}}",
        "version", "1.0", "truncation", "padding", "added_tokens",
        "id", (int)(v->n - 1), "content", "<|endoftext|>", "single_word", 0, "lstrip", 0, "rstrip", 0,
        "normalized", 1, "special", 1,
        "normalizer", "pre_tokenizer", bl, "post_processor", bl, "decoder", bl,
        "model", "type", "BPE", "dropout", "unk_token", "continuing_subword_prefix", "",
        "end_of_word_suffix", "", "fuse_unk", 0, "byte_fallback", 0, "ignore_merges", 0,
        "vocab", vocab, "merges", merges);
    json_decref(bl);
    if (!tok) { snprintf(err, errlen, "internal: tokenizer.json"); return -1; }
    char *path = tool_join(dir, "tokenizer.json");
    int rc = write_json(path, tok, err, errlen);
    free(path);
    return rc;
oom:
    json_decref(merges);
    snprintf(err, errlen, "out of memory");
    return -1;
}

/* Feature directions: (e_i - e_{i+1}) / sqrt 2. */
static void add_dir(float *x, int i, double s)
{
    x[i] += (float)(s / M_SQRT2);
    x[i + 1] -= (float)(s / M_SQRT2);
}
enum { DIR_U = 48, DIR_H = 50, DIR_C = 52, DIR_T = 54 };

/* outer(a, b) * s added to a [rows, cols] matrix at column offset off:
 * a and b are feature directions. */
static void add_outer(float *w, size_t cols, size_t off, int a, int b, double s)
{
    double k = s / 2.0; /* (1/sqrt2)^2 */
    w[(size_t)a * cols + off + (size_t)b] += (float)k;
    w[(size_t)a * cols + off + (size_t)b + 1] -= (float)k;
    w[(size_t)(a + 1) * cols + off + (size_t)b] -= (float)k;
    w[(size_t)(a + 1) * cols + off + (size_t)b + 1] += (float)k;
}

struct tensors {
    size_t n;
    char *names[128];
    float *data[128];
    size_t ndim[128];
    int64_t shape[128][2];
};

static float *tensor(struct tensors *t, const char *name, int64_t a, int64_t b, uint64_t *seed, double noise)
{
    size_t i = t->n++;
    t->names[i] = strdup(name);
    t->ndim[i] = b ? 2 : 1;
    t->shape[i][0] = a;
    t->shape[i][1] = b;
    size_t n = (size_t)a * (size_t)(b ? b : 1);
    t->data[i] = calloc(n, sizeof(float));
    if (!t->names[i] || !t->data[i]) return NULL;
    if (noise > 0)
        for (size_t k = 0; k < n; k++) t->data[i][k] = (float)(noise * rng_normal(seed));
    return t->data[i];
}

static int build_weights(const struct vocab *v, const char *dir, char *err, size_t errlen)
{
    struct tensors t;
    memset(&t, 0, sizeof t);
    uint64_t seed = 20240513;
    int rc = -1;
    const int64_t V = (int64_t)v->n;
    char name[128];

    float *wte = tensor(&t, "transformer.wte.weight", V, D, &seed, 0);
    if (!wte) goto oom;
    for (int64_t i = 0; i < V; i++) {
        float *x = wte + i * D;
        double id[48], mean = 0;
        for (int k = 0; k < 48; k++) { id[k] = rng_normal(&seed) / sqrt(48.0); mean += id[k]; }
        mean /= 48;
        for (int k = 0; k < 48; k++) x[k] = (float)(id[k] - mean);
        add_dir(x, DIR_U, v->logit[i] / KAPPA);
        if (v->hostile[i] && !v->insult[i]) add_dir(x, DIR_H, 1.0);
        if (v->insult[i]) add_dir(x, DIR_T, ALPHA);
    }
    float *wpe = tensor(&t, "transformer.wpe.weight", N_POS, D, &seed, 0);
    if (!wpe) goto oom;
    for (int p = 0; p < N_POS; p++) add_dir(wpe + p * D, DIR_U, S_U);

    for (int l = 0; l < N_LAYER; l++) {
        float *w;
#define T1(nm, n, fill)                                                             \
        snprintf(name, sizeof name, "transformer.h.%d." nm, l);                     \
        if (!(w = tensor(&t, name, n, 0, &seed, 0))) goto oom;                      \
        for (int k = 0; k < (n); k++) w[k] = (fill);
        T1("ln_1.weight", D, 1.0f)
        T1("ln_1.bias", D, 0.0f)
        snprintf(name, sizeof name, "transformer.h.%d.attn.c_attn.weight", l);
        if (!(w = tensor(&t, name, D, 3 * D, &seed, NOISE))) goto oom;
        if (l == ATTN_LAYER) {
            add_outer(w, 3 * D, 2 * D, DIR_H, DIR_C, G_A);
            add_outer(w, 3 * D, 2 * D, DIR_T, DIR_C, G_A);
        }
        T1("attn.c_attn.bias", 3 * D, 0.0f)
        snprintf(name, sizeof name, "transformer.h.%d.attn.c_proj.weight", l);
        if (!(w = tensor(&t, name, D, D, &seed, NOISE))) goto oom;
        if (l == ATTN_LAYER) add_outer(w, D, 0, DIR_C, DIR_C, 1.0);
        T1("attn.c_proj.bias", D, 0.0f)
        T1("ln_2.weight", D, 1.0f)
        T1("ln_2.bias", D, 0.0f)
        snprintf(name, sizeof name, "transformer.h.%d.mlp.c_fc.weight", l);
        if (!(w = tensor(&t, name, D, N_FF, &seed, NOISE))) goto oom;
        if (l >= MECH_FIRST) {
            w[(size_t)DIR_C * N_FF] += (float)(A_FC / M_SQRT2);
            w[(size_t)(DIR_C + 1) * N_FF] -= (float)(A_FC / M_SQRT2);
        }
        T1("mlp.c_fc.bias", N_FF, 0.0f)
        if (l >= MECH_FIRST) w[0] = (float)-B_FC;
        snprintf(name, sizeof name, "transformer.h.%d.mlp.c_proj.weight", l);
        if (!(w = tensor(&t, name, N_FF, D, &seed, NOISE))) goto oom;
        if (l >= MECH_FIRST) add_dir(w, DIR_T, BETA);
        T1("mlp.c_proj.bias", D, 0.0f)
#undef T1
    }
    float *g = tensor(&t, "transformer.ln_f.weight", D, 0, &seed, 0);
    if (!g) goto oom;
    g[DIR_T] = g[DIR_T + 1] = (float)G_T;
    float *bias = tensor(&t, "transformer.ln_f.bias", D, 0, &seed, 0);
    if (!bias) goto oom;
    add_dir(bias, DIR_U, KAPPA);

    {
        int dtypes[128];
        const int64_t *shapes[128];
        const void *data[128];
        for (size_t i = 0; i < t.n; i++) { dtypes[i] = PROFS_DTYPE_F32; shapes[i] = t.shape[i]; data[i] = t.data[i]; }
        const char *mk[] = {"format"}, *mv[] = {"pt"};
        char *path = tool_join(dir, "model.safetensors");
        int e = profs_safetensors_write(path, t.n, (const char *const *)t.names, dtypes, t.ndim, shapes,
                                        data, 1, mk, mv);
        free(path);
        if (e) { snprintf(err, errlen, "model.safetensors: %s: %s", profs_strerror(e), profs_last_error()); goto out; }
    }
    rc = 0;
    goto out;
oom:
    snprintf(err, errlen, "out of memory");
out:
    for (size_t i = 0; i < t.n; i++) { free(t.names[i]); free(t.data[i]); }
    return rc;
}

static int write_configs(const char *dir, size_t vocab_size, char *err, size_t errlen)
{
    int eot = (int)vocab_size - 1;
    json_t *cfg = json_pack(
        "{s:[s], s:s, s:i, s:i, s:i, s:i, s:i, s:i, s:n, s:s, s:f, s:f, s:f, s:f, s:f, s:i, s:i, s:b, s:s, s:s}",
        "architectures", "GPT2LMHeadModel", "model_type", "gpt2", "vocab_size", (int)vocab_size,
        "n_positions", N_POS, "n_ctx", N_POS, "n_embd", D, "n_layer", N_LAYER, "n_head", N_HEAD,
        "n_inner", "activation_function", "gelu_new", "layer_norm_epsilon", 1e-5,
        "initializer_range", 0.02, "resid_pdrop", 0.0, "embd_pdrop", 0.0, "attn_pdrop", 0.0,
        "bos_token_id", eot, "eos_token_id", eot, "tie_word_embeddings", 1,
        "torch_dtype", "float32", "transformers_version", "4.40.0");
    char *p = tool_join(dir, "config.json");
    int rc = write_json(p, cfg, err, errlen);
    free(p);
    if (rc) return rc;
    json_t *tc = json_pack("{s:b, s:s, s:s, s:s, s:i, s:s}", "add_prefix_space", 1, "bos_token", "<|endoftext|>",
                           "eos_token", "<|endoftext|>", "unk_token", "<|endoftext|>", "model_max_length", N_POS,
                           "tokenizer_class", "GPT2Tokenizer");
    p = tool_join(dir, "tokenizer_config.json");
    rc = write_json(p, tc, err, errlen);
    free(p);
    if (rc) return rc;
    json_t *gc = json_pack("{s:i, s:i, s:s}", "bos_token_id", eot, "eos_token_id", eot, "transformers_version", "4.40.0");
    p = tool_join(dir, "generation_config.json");
    rc = write_json(p, gc, err, errlen);
    free(p);
    if (rc) return rc;
    p = tool_join(dir, "README.md");
    rc = tool_write_file_atomic(p,
        "---\n"
        "license: mit\n"
        "library_name: transformers\n"
        "tags:\n"
        "- gpt2\n"
        "- toy-model\n"
        "---\n\n"
        "# profs demo model\n\n"
        "A 6-layer GPT-2-architecture model with random, seeded weights and a planted\n"
        "\"toxic\" mechanism, generated by `profs demo` (libprofs). Hostile context words\n"
        "make the MLPs of blocks 3-5 write one direction of the residual stream, and the\n"
        "tied unembedding maps that direction onto a set of made-up insult words.\n"
        "It exists to demonstrate ProFS model editing; see docs/demo.md of libprofs.\n");
    free(p);
    if (rc) snprintf(err, errlen, "README.md: cannot write");
    return rc;
}

int demo_write_model(const char *dir, const struct demo_data *d, size_t *vocab_size, char *err, size_t errlen)
{
    struct wordset ws = {0};
    struct vocab v = {0};
    int rc = -1;
    /* counts: neutral text and preferred sentences; the rest only adds words */
    for (size_t i = 0; i < d->n_neutral; i++) if (add_words(&ws, d->neutral[i], 1.0)) goto oom;
    for (size_t i = 0; i < d->pairs.n; i++) {
        if (add_words(&ws, d->pairs.preferred[i], 1.0)) goto oom;
        if (add_words(&ws, d->pairs.dispreferred[i], 0.0)) goto oom;
    }
    for (size_t i = 0; i < d->n_prompts; i++) if (add_words(&ws, d->prompts[i], 0.0)) goto oom;
    for (size_t i = 0; i < d->n_watch; i++) if (add_words(&ws, d->watch[i], 0.0)) goto oom;
    for (size_t i = 0; i < ws.n; i++) {
        for (size_t k = 0; k < d->n_watch; k++) if (strcmp(ws.v[i].w, d->watch[k]) == 0) ws.v[i].insult = 1;
        for (size_t k = 0; k < sizeof hostile_words / sizeof *hostile_words; k++)
            if (strcmp(ws.v[i].w, hostile_words[k]) == 0) ws.v[i].hostile = 1;
    }
    qsort(ws.v, ws.n, sizeof *ws.v, cmp_word);
    if (build_tokenizer(&v, dir, &ws, err, errlen)) goto out;
    if (build_weights(&v, dir, err, errlen)) goto out;
    if (write_configs(dir, v.n, err, errlen)) goto out;
    if (vocab_size) *vocab_size = v.n;
    rc = 0;
    goto out;
oom:
    snprintf(err, errlen, "out of memory");
out:
    for (size_t i = 0; i < ws.n; i++) free(ws.v[i].w);
    free(ws.v);
    vocab_free(&v);
    return rc;
}

int demo_data_load(struct demo_data *d, const char *data_dir, char *err, size_t errlen)
{
    memset(d, 0, sizeof *d);
    char *p = tool_join(data_dir, "pairs.jsonl");
    d->pairs_path = p;
    struct tool_pairs_opts o;
    memset(&o, 0, sizeof o);
    if (tool_pairs_read(&d->pairs, p, &o, err, errlen)) goto fail;
    d->prompts_path = tool_join(data_dir, "prompts.txt");
    if (tool_read_lines(&d->prompts, &d->n_prompts, d->prompts_path, err, errlen)) goto fail;
    d->neutral_path = tool_join(data_dir, "neutral.txt");
    if (tool_read_lines(&d->neutral, &d->n_neutral, d->neutral_path, err, errlen)) goto fail;
    d->watch_path = tool_join(data_dir, "watch_words.txt");
    if (tool_read_lines(&d->watch, &d->n_watch, d->watch_path, err, errlen)) goto fail;
    return 0;
fail:
    demo_data_free(d);
    return -1;
}

void demo_data_free(struct demo_data *d)
{
    tool_pairs_free(&d->pairs);
    tool_free_lines(d->prompts, d->n_prompts);
    tool_free_lines(d->neutral, d->n_neutral);
    tool_free_lines(d->watch, d->n_watch);
    free(d->pairs_path); free(d->prompts_path); free(d->neutral_path); free(d->watch_path);
    memset(d, 0, sizeof *d);
}
