/* The ProFS pipeline composed from the public API (see pipeline.h). */
#include <ctype.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mpi_shard.h"
#include "pipeline.h"
#include "tool.h"

size_t tool_default_first_layer(const char *arch, size_t n_layers)
{
    size_t first = 0;
    /* an architecture the table does not know (estimate --architecture NAME) gets the general rule */
    if (profs_arch_default_first_layer(&first, arch, n_layers) != PROFS_OK) {
        profs_clear_error();
        if (profs_arch_default_first_layer(&first, NULL, n_layers) != PROFS_OK) first = 0;
    }
    return first;
}

size_t tool_default_rank_max(size_t n_pairs, size_t dim)
{
    size_t p = n_pairs < dim ? n_pairs : dim;
    size_t k = 10;
    while (k > 1 && 2 * k + 1 >= p) k--;
    return k;
}

const char *tool_targets_name(int targets)
{
    return targets == PROFS_TARGET_BOTH ? "both" : targets == PROFS_TARGET_KEY ? "key" : "value";
}

int tool_est_parse(const char *cmd, struct tool_est *e, const char *rank, size_t rank_max, int rank_max_given,
                   const char *strategy, const char *centering, const char *layers)
{
    memset(e, 0, sizeof *e);
    e->rank_rule = PROFS_RANK_SCREENOT;
    e->rank_k = 10;
    e->strategy = PROFS_SCREENOT_IMPUTE;
    e->centering = PROFS_CENTER_MEAN;
    e->layers_spec = layers;
    char err[512];
    if (layers && tool_check_layers(layers, err, sizeof err)) return tool_usage_error(cmd, "--layers %s", err);
    if (rank && strcmp(rank, "screenot") != 0) {
        char *end;
        unsigned long long k = strtoull(rank, &end, 10);
        if (*rank < '0' || *rank > '9' || *end || k == 0 || k > 100000)
            return tool_usage_error(cmd, "--rank: '%s' is not 'screenot' or a positive integer", rank);
        if (rank_max_given) return tool_usage_error(cmd, "--rank-max applies to --rank screenot only");
        e->rank_rule = PROFS_RANK_FIXED;
        e->rank_k = (size_t)k;
    } else if (rank_max_given) {
        if (rank_max == 0) return tool_usage_error(cmd, "--rank-max must be at least 1");
        e->rank_k = rank_max;
        e->rank_max_given = 1;
    }
    if (strategy) {
        if (strcmp(strategy, "impute") == 0) e->strategy = PROFS_SCREENOT_IMPUTE;
        else if (strcmp(strategy, "winsorize") == 0) e->strategy = PROFS_SCREENOT_WINSORIZE;
        else if (strcmp(strategy, "zero") == 0) e->strategy = PROFS_SCREENOT_ZERO;
        else return tool_usage_error(cmd, "--screenot-strategy: '%s' is not one of impute, winsorize, zero", strategy);
    }
    if (centering) {
        if (strcmp(centering, "mean") == 0) e->centering = PROFS_CENTER_MEAN;
        else if (strcmp(centering, "top-singular") == 0) e->centering = PROFS_CENTER_TOP_SINGULAR;
        else if (strcmp(centering, "none") == 0) e->centering = PROFS_CENTER_NONE;
        else return tool_usage_error(cmd, "--centering: '%s' is not one of mean, top-singular, none", centering);
    }
    return 0;
}

int tool_estimate(profs_edit **out, size_t **layers_out, size_t *n_layers_out, const struct tool_est *e,
                  const profs_collector *c, const char *arch, struct tool_progress *prog)
{
    size_t L = profs_collector_n_layers(c), N = profs_collector_n_pairs(c), D = profs_collector_dim(c);
    size_t *layers = NULL, n = 0;
    char err[512];
    if (e->layers_spec) {
        if (tool_parse_layers(&layers, &n, e->layers_spec, L, err, sizeof err)) {
            fprintf(stderr, "profs: --layers %s\n", err);
            return -1;
        }
    } else {
        size_t first = tool_default_first_layer(arch, L);
        n = L - first;
        layers = malloc(n * sizeof *layers);
        if (!layers) { fprintf(stderr, "profs: out of memory\n"); return -1; }
        for (size_t i = 0; i < n; i++) layers[i] = first + i;
    }
    size_t k = e->rank_k;
    if (e->rank_rule == PROFS_RANK_SCREENOT && !e->rank_max_given) k = tool_default_rank_max(N, D);
    profs_estimator *est = NULL;
    int rc = profs_estimator_new(&est);
    if (!rc) rc = profs_estimator_set_centering(est, (profs_centering)e->centering);
    if (!rc) rc = profs_estimator_set_rank_rule(est, (profs_rank_rule)e->rank_rule, k);
    if (!rc) rc = profs_estimator_set_screenot_strategy(est, (profs_screenot_strategy)e->strategy);
    if (!rc) rc = profs_edit_estimate(out, est, c, layers, n, tool_progress_cb, prog);
    profs_estimator_free(est);
    tool_progress_end(prog);
    if (rc) {
        free(layers);
        tool_fail_lib(rc, "estimating the subspaces");
        return -1;
    }
    *layers_out = layers;
    *n_layers_out = n;
    return 0;
}

json_t *tool_est_json(const struct tool_est *e, const size_t *layers, size_t n_layers)
{
    char spec[1024];
    tool_format_layers(spec, sizeof spec, layers, n_layers);
    json_t *o = json_object();
    json_object_set_new(o, "layers", json_string(spec));
    json_t *arr = json_array();
    for (size_t i = 0; i < n_layers; i++) json_array_append_new(arr, json_integer((json_int_t)layers[i]));
    json_object_set_new(o, "layer_list", arr);
    json_object_set_new(o, "layers_default", json_boolean(e->layers_spec == NULL));
    if (e->rank_rule == PROFS_RANK_FIXED) {
        char k[32];
        snprintf(k, sizeof k, "%zu", e->rank_k);
        json_object_set_new(o, "rank", json_string(k));
    } else {
        json_object_set_new(o, "rank", json_string("screenot"));
        json_object_set_new(o, "screenot_strategy", json_string(profs_screenot_strategy_name(e->strategy)));
    }
    json_object_set_new(o, "centering", json_string(e->centering == PROFS_CENTER_TOP_SINGULAR ? "top-singular"
                                                    : e->centering == PROFS_CENTER_NONE ? "none" : "mean"));
    return o;
}

json_t *tool_edit_layers_json(const profs_edit *edit)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < profs_edit_count(edit); i++) {
        size_t l = profs_edit_layer_at(edit, i);
        const profs_subspace *s = profs_edit_get(edit, l);
        json_t *sv = json_array();
        size_t n = profs_subspace_n_singular_values(s);
        const double *v = profs_subspace_singular_values(s);
        for (size_t k = 0; k < n && v; k++) json_array_append_new(sv, json_real(v[k]));
        double thr = profs_subspace_threshold(s);
        json_array_append_new(arr, json_pack("{s:I, s:I, s:o, s:o}", "layer", (json_int_t)l,
                                             "rank", (json_int_t)profs_subspace_rank(s),
                                             "threshold", isfinite(thr) ? json_real(thr) : json_null(),
                                             "singular_values", sv));
    }
    return arr;
}

void tool_pairs_subsample(struct tool_pairs *p, size_t n, uint64_t seed)
{
    if (n == 0 || n >= p->n) return;
    size_t *idx = malloc(p->n * sizeof *idx);
    char *keep = calloc(p->n, 1);
    if (!idx || !keep) { free(idx); free(keep); return; }
    for (size_t i = 0; i < p->n; i++) idx[i] = i;
    uint64_t s = seed;
    for (size_t i = 0; i < n; i++) {
        uint64_t z = (s += 0x9e3779b97f4a7c15ull);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        z ^= z >> 31;
        size_t j = i + (size_t)(z % (p->n - i));
        size_t t = idx[i]; idx[i] = idx[j]; idx[j] = t;
        keep[idx[i]] = 1;
    }
    size_t w = 0;
    for (size_t i = 0; i < p->n; i++) {
        if (keep[i]) { p->preferred[w] = p->preferred[i]; p->dispreferred[w] = p->dispreferred[i]; w++; }
        else { free(p->preferred[i]); free(p->dispreferred[i]); }
    }
    p->n = w;
    free(idx);
    free(keep);
}

int tool_open_lm(struct tool_lm *out, const char *dir, size_t max_length)
{
    memset(out, 0, sizeof *out);
    out->max_length = max_length ? max_length : 128;
    if (!tool_is_dir(dir)) {
        fprintf(stderr, "profs: '%s' is not a directory (expected a Hugging Face model directory)\n", dir);
        return -1;
    }
    char *cfg = tool_join(dir, "config.json"), *tj = tool_join(dir, "tokenizer.json");
    int has_cfg = tool_exists(cfg), has_tok = tool_exists(tj);
    free(cfg);
    if (!has_cfg) {
        free(tj);
        fprintf(stderr, "profs: %s: no config.json: not a Hugging Face model directory\n", dir);
        return -1;
    }
    if (!has_tok) {
        free(tj);
        fprintf(stderr, "profs: %s: no tokenizer.json: the runtime needs the model's tokenizer\n", dir);
        return -1;
    }
    int rc = profs_tokenizer_open(&out->tok, tj);
    if (rc) { tool_fail_lib(rc, tj); free(tj); return -1; }
    free(tj);
    rc = profs_lm_open(&out->lm, dir);
    if (rc) { tool_fail_lib(rc, dir); tool_close_lm(out); return -1; }
    return 0;
}

void tool_close_lm(struct tool_lm *t)
{
    profs_lm_free(t->lm);
    profs_tokenizer_free(t->tok);
    t->lm = NULL;
    t->tok = NULL;
}

int tool_encode(const profs_tokenizer *tok, const char *text, size_t len, unsigned flags, int32_t **ids,
                size_t *n)
{
    *ids = NULL;
    *n = 0;
    /* one id per input byte plus the post-processor's few: only a lengthening normaliser needs more */
    size_t cap = len + 8, need = 0;
    int32_t *v = cap < SIZE_MAX / sizeof *v ? malloc(cap * sizeof *v) : NULL;
    if (!v) { profs_clear_error(); return PROFS_ENOMEM; }
    int rc = profs_tokenizer_encode(tok, text, len, flags, v, cap, &need);
    if (rc == PROFS_EBUFS) { /* a normaliser that lengthens the text (NFKC ligatures, ...) */
        int32_t *bigger = realloc(v, need * sizeof *v);
        if (!bigger) { free(v); profs_clear_error(); return PROFS_ENOMEM; }
        v = bigger;
        rc = profs_tokenizer_encode(tok, text, len, flags, v, need, &need);
    }
    if (rc || need == 0) {
        free(v);
        return rc;
    }
    if (need < cap / 2) { /* give back the unused part of a long text's buffer */
        int32_t *smaller = realloc(v, need * sizeof *v);
        if (smaller) v = smaller;
    }
    *ids = v;
    *n = need;
    return 0;
}

int tool_tokenize(const struct tool_lm *t, const char *text, int32_t **ids, size_t *n)
{
    size_t need = 0;
    int32_t *v = NULL;
    *ids = NULL;
    int rc = tool_encode(t->tok, text, strlen(text), PROFS_ENCODE_ADD_SPECIAL, &v, &need);
    if (rc) { tool_fail_lib(rc, "tokenizing"); return -1; }
    if (need > t->max_length) need = t->max_length;
    size_t maxpos = profs_lm_max_positions(t->lm);
    if (maxpos && need > maxpos) need = maxpos;
    *ids = v;
    *n = need;
    return 0;
}

/* ORG/NAME from a Hugging Face cache path ".../models--ORG--NAME/snapshots/HASH[/...]", else 0. */
static int hub_id_from_cache_path(char *buf, size_t len, const char *dir)
{
    char real[PATH_MAX];
    const char *p = realpath(dir, real) ? real : dir;
    const char *hit = NULL;
    for (const char *s = strstr(p, "models--"); s; s = strstr(s + 1, "models--"))
        if ((s == p || s[-1] == '/') && strstr(s, "/snapshots/")) hit = s;
    if (!hit) return 0;
    const char *org = hit + 8, *end = strchr(org, '/'), *sep = strstr(org, "--");
    if (!end || end == org) return 0;
    if (sep && sep < end) snprintf(buf, len, "%.*s/%.*s", (int)(sep - org), org, (int)(end - sep - 2), sep + 2);
    else snprintf(buf, len, "%.*s", (int)(end - org), org);   /* a model without an organisation */
    return 1;
}

int tool_base_model(char *buf, size_t len, const profs_model *m, const char *dir)
{
    if (hub_id_from_cache_path(buf, len, dir)) return 0;
    const char *name = NULL;
    if (m && profs_model_config_string(m, "_name_or_path", &name) == 0 && name && *name && name[0] != '/' &&
        name[0] != '.' && strchr(name, '/') && !strstr(name, "//") && !strchr(strchr(name, '/') + 1, '/')) {
        snprintf(buf, len, "%s", name);
        return 0;
    }
    snprintf(buf, len, "%s", tool_basename(dir));
    return 1;
}

void tool_model_id(char *buf, size_t len, const profs_model *m, const char *dir)
{
    (void)tool_base_model(buf, len, m, dir);
}

/* Forward progress of one pass (tokens of this pass) as overall collection progress. */
struct collect_progress { struct tool_progress *prog; uint64_t before, total; };
static int collect_forward_cb(void *ud, const char *stage, uint64_t done, uint64_t total)
{
    struct collect_progress *cp = ud;
    (void)stage; (void)total;
    return tool_progress_cb(cp->prog, "collect", cp->before + done, cp->total);
}

#define COLLECT_PAIRS_PER_PASS 64 /* bounds the pooled output of a pass (128 x L x D floats) */

/* Passes of whole pairs: [cut[c], cut[c + 1]) for c < *n_cuts, at most
 * COLLECT_PAIRS_PER_PASS pairs and batch_tokens computed tokens (a pair's
 * common prefix once when shared). The same for every rank, so that ranks take
 * whole passes of the single-process run. */
static size_t *plan_passes(const int32_t *const *ids, const size_t *lens, size_t n_pairs, size_t batch_tokens,
                           int share, size_t *n_cuts, uint64_t *shared)
{
    size_t *cut = malloc((n_pairs + 1) * sizeof *cut), n = 0;
    *shared = 0;
    if (!cut) return NULL;
    for (size_t i = 0; i < n_pairs;) {
        size_t k = 0, T = 0;
        while (i + k < n_pairs && k < COLLECT_PAIRS_PER_PASS) {
            size_t a = 2 * (i + k), P = 0;
            if (share)
                while (P < lens[a] && P < lens[a + 1] && ids[a][P] == ids[a + 1][P]) P++;
            size_t t = lens[a] + lens[a + 1] - P;
            if (k > 0 && T + t > batch_tokens) break;
            T += t;
            *shared += P;
            k++;
        }
        cut[n++] = i;
        i += k;
    }
    cut[n] = n_pairs;
    *n_cuts = n;
    return cut;
}

int tool_collect(profs_collector **out, struct tool_lm *t, const struct tool_pairs *p, const char *model_id,
                 struct tool_progress *prog, double *seconds)
{
    size_t L = profs_lm_n_layers(t->lm), D = profs_lm_hidden_size(t->lm), N = p->n;
    profs_collector *c = NULL;
    t->prefix_tokens_saved = 0;
    int rc = profs_collector_new(&c, L, D);
    if (rc) { tool_fail_lib(rc, "collector"); return -1; }
    char producer[64];
    snprintf(producer, sizeof producer, "profs %s (built-in runtime)", profs_version_string());
    profs_collector_set_producer(c, producer);
    if (model_id) profs_collector_set_model_id(c, model_id);
    size_t batch_tokens = t->batch_tokens ? t->batch_tokens : 8192;
    if ((rc = profs_lm_set_batch_tokens(t->lm, batch_tokens)) ||
        (rc = profs_lm_set_prefix_sharing(t->lm, !t->no_prefix_sharing))) {
        tool_fail_lib(rc, "runtime settings");
        profs_collector_free(c);
        return -1;
    }
    /* tokenise everything first: sequence 2i is pair i's preferred text, 2i+1 its dispreferred */
    int32_t **ids = calloc(2 * N + 1, sizeof *ids);
    size_t *lens = calloc(2 * N + 1, sizeof *lens), *cut = NULL, n_passes = 0;
    float *pooled = NULL;
    int ok = 0;
    double tokens = 0;
    if (!ids || !lens) { fprintf(stderr, "profs: out of memory\n"); goto out; }
    for (size_t i = 0; i < 2 * N; i++) {
        const char *s = i % 2 ? p->dispreferred[i / 2] : p->preferred[i / 2];
        if (tool_interrupted()) { fprintf(stderr, "profs: interrupted\n"); goto out; }
        if (tool_tokenize(t, s, &ids[i], &lens[i])) goto out;
        if (lens[i] == 0) { fprintf(stderr, "profs: pair %zu: a sentence has no tokens\n", i / 2 + 1); goto out; }
        tokens += (double)lens[i];
    }
    uint64_t shared = 0;
    cut = plan_passes((const int32_t *const *)ids, lens, N, batch_tokens, !t->no_prefix_sharing, &n_passes,
                      &shared);
    pooled = malloc(2 * COLLECT_PAIRS_PER_PASS * L * D * sizeof *pooled);
    if (!cut || !pooled) { fprintf(stderr, "profs: out of memory\n"); goto out; }
    if (!t->no_prefix_sharing)
        tool_progress_note(prog, "prefix sharing: %llu of %.0f tokens are a prefix both sentences of their pair "
                           "share, computed once (%.1f%% fewer)", (unsigned long long)shared, tokens,
                           tokens > 0 ? 100.0 * (double)shared / tokens : 0.0);
    if (tool_mpi_size() > 1)
        tool_progress_note(prog, "%zu passes over the weights shared by %d processes", n_passes, tool_mpi_size());
    /* this process's passes (all of them without MPI) */
    size_t c0, c1;
    tool_mpi_share(n_passes, &c0, &c1);
    uint64_t mine = 0, saved = 0;
    for (size_t i = 2 * cut[c0]; i < 2 * cut[c1]; i++) mine += lens[i];
    double t0 = tool_now();
    struct collect_progress cp = {prog, 0, mine};
    tool_progress_cb(prog, "collect", 0, cp.total);
    for (size_t pass = c0; pass < c1; pass++) {
        size_t i = cut[pass], k = cut[pass + 1] - cut[pass];
        uint64_t sv = 0;
        rc = profs_lm_pool_pairs(t->lm, pooled, &sv, (const int32_t *const *)(ids + 2 * i), lens + 2 * i, k, 0,
                                 collect_forward_cb, &cp);
        if (rc == PROFS_ECANCELLED) { tool_progress_end(prog); fprintf(stderr, "profs: interrupted\n"); goto out; }
        if (rc) {
            char what[128];
            snprintf(what, sizeof what, "collecting the pass of pairs %zu-%zu (its pair 0 is pair %zu)", i + 1, i + k,
                     i + 1);
            tool_fail_lib(rc, what);
            goto out;
        }
        saved += sv;
        for (size_t j = 0; j < k; j++) {
            rc = profs_collector_add_pair(c, pooled + (2 * j) * L * D, pooled + (2 * j + 1) * L * D);
            if (rc) {
                char what[64];
                snprintf(what, sizeof what, "pair %zu", i + j + 1);
                tool_fail_lib(rc, what);
                goto out;
            }
        }
        for (size_t j = 0; j < 2 * k; j++) cp.before += lens[2 * i + j];
    }
    tool_progress_end(prog);
    if (tool_mpi_gather(&c)) goto out;
    t->prefix_tokens_saved = tool_mpi_sum(saved);
    double el = tool_now() - t0;
    if (seconds) *seconds = el;
    char on[64] = "";
    if (tool_mpi_size() > 1) snprintf(on, sizeof on, " on %d processes", tool_mpi_size());
    char sv[96] = "";
    if (!t->no_prefix_sharing)
        snprintf(sv, sizeof sv, "; prefix sharing saved %llu tokens", (unsigned long long)t->prefix_tokens_saved);
    if (el > 0)
        tool_progress_note(prog, "collected %zu pairs (%.0f tokens) in %.1f s%s, %.0f tokens/s%s", N, tokens, el, on,
                           tokens / el, sv);
    ok = 1;
out:
    if (ids) for (size_t i = 0; i < 2 * N; i++) free(ids[i]);
    free(ids);
    free(lens);
    free(cut);
    free(pooled);
    if (!ok) { profs_collector_free(c); return -1; }
    *out = c;
    return 0;
}

/* ---- vocabulary view ---- */

/* Display form of a token: byte-level "Ġ" / SentencePiece "▁" become a space. */
static char *display_token(const char *t)
{
    size_t n = strlen(t);
    char *o = malloc(n + 1), *w = o;
    if (!o) return NULL;
    for (const char *s = t; *s;) {
        if ((unsigned char)s[0] == 0xc4 && (unsigned char)s[1] == 0xa0) { *w++ = ' '; s += 2; }
        else if ((unsigned char)s[0] == 0xe2 && (unsigned char)s[1] == 0x96 && (unsigned char)s[2] == 0x81) { *w++ = ' '; s += 3; }
        else if ((unsigned char)s[0] == 0xc4 && (unsigned char)s[1] == 0x8a) { *w++ = '\\'; *w++ = 'n'; s += 2; }
        else *w++ = *s++;
        if ((size_t)(w - o) + 3 > n) { /* grow for the \n case */
            size_t used = (size_t)(w - o);
            char *no = realloc(o, n * 2 + 8);
            if (!no) { free(o); return NULL; }
            o = no; w = o + used; n = n * 2 + 8;
        }
    }
    *w = '\0';
    return o;
}

int tool_vocab_load(struct tool_vocab *v, const profs_model *m, const char *model_dir, char *err, size_t errlen)
{
    memset(v, 0, sizeof *v);
    char name[320];
    if (profs_arch_unembedding(name, sizeof name, m) != PROFS_OK) {
        snprintf(err, errlen, "%s: no unembedding: %s", model_dir, profs_last_error());
        return -1;
    }
    size_t ndim = 0;
    const int64_t *shape = NULL;
    if (profs_model_tensor_info(m, name, NULL, &ndim, &shape) || ndim != 2) {
        snprintf(err, errlen, "%s: tensor '%s' is not 2-D", model_dir, name);
        return -1;
    }
    v->n_vocab = (size_t)shape[0];
    v->dim = (size_t)shape[1];
    v->unembed = malloc(v->n_vocab * v->dim * sizeof(float));
    v->tokens = calloc(v->n_vocab, sizeof(char *));
    if (!v->unembed || !v->tokens) { tool_vocab_free(v); snprintf(err, errlen, "out of memory"); return -1; }
    int rc = profs_model_read_f32(m, name, v->unembed, v->n_vocab * v->dim);
    if (rc) { snprintf(err, errlen, "%s: %s", name, profs_last_error()); tool_vocab_free(v); return -1; }
    char *tp = tool_join(model_dir, "tokenizer.json");
    json_error_t je;
    json_t *tj = json_load_file(tp, 0, &je);
    free(tp);
    json_t *vocab = json_object_get(json_object_get(tj, "model"), "vocab");
    const char *k;
    json_t *val;
    if (json_is_object(vocab)) {
        json_object_foreach(vocab, k, val) {
            json_int_t id = json_integer_value(val);
            if (id >= 0 && (size_t)id < v->n_vocab && !v->tokens[id]) v->tokens[id] = display_token(k);
        }
    }
    size_t i;
    json_array_foreach(json_object_get(tj, "added_tokens"), i, val) {
        json_int_t id = json_integer_value(json_object_get(val, "id"));
        const char *c = json_string_value(json_object_get(val, "content"));
        if (c && id >= 0 && (size_t)id < v->n_vocab && !v->tokens[id]) v->tokens[id] = strdup(c);
    }
    json_decref(tj);
    return 0;
}

void tool_vocab_free(struct tool_vocab *v)
{
    if (v->tokens) for (size_t i = 0; i < v->n_vocab; i++) free(v->tokens[i]);
    free(v->tokens);
    free(v->unembed);
    memset(v, 0, sizeof *v);
}

json_t *tool_vocab_direction(const struct tool_vocab *v, const float *dir, float sign, size_t top)
{
    if (top > 64) top = 64;
    size_t hi[64], lo[64], nh = 0, nl = 0;
    double hs[64], ls[64];
    for (size_t t = 0; t < v->n_vocab; t++) {
        const float *row = v->unembed + t * v->dim;
        double s = 0;
        for (size_t d = 0; d < v->dim; d++) s += (double)row[d] * dir[d];
        s *= sign;
        /* insertion into the top lists */
        if (nh < top || s > hs[nh - 1]) {
            size_t j = nh < top ? nh++ : nh - 1;
            while (j > 0 && hs[j - 1] < s) { hs[j] = hs[j - 1]; hi[j] = hi[j - 1]; j--; }
            hs[j] = s; hi[j] = t;
        }
        if (nl < top || s < ls[nl - 1]) {
            size_t j = nl < top ? nl++ : nl - 1;
            while (j > 0 && ls[j - 1] > s) { ls[j] = ls[j - 1]; lo[j] = lo[j - 1]; j--; }
            ls[j] = s; lo[j] = t;
        }
    }
    json_t *p = json_array(), *q = json_array();
    char tmp[32];
    for (size_t i = 0; i < nh; i++) {
        if (v->tokens[hi[i]]) json_array_append_new(p, json_string(v->tokens[hi[i]]));
        else { snprintf(tmp, sizeof tmp, "<id %zu>", hi[i]); json_array_append_new(p, json_string(tmp)); }
    }
    for (size_t i = 0; i < nl; i++) {
        if (v->tokens[lo[i]]) json_array_append_new(q, json_string(v->tokens[lo[i]]));
        else { snprintf(tmp, sizeof tmp, "<id %zu>", lo[i]); json_array_append_new(q, json_string(tmp)); }
    }
    return json_pack("{s:o, s:o}", "promotes", p, "suppresses", q);
}

void tool_vocab_annotate(json_t *layers, const profs_edit *edit, const struct tool_vocab *v,
                         const profs_collector *c, size_t top)
{
    size_t i;
    json_t *L;
    json_array_foreach(layers, i, L) {
        size_t l = (size_t)json_integer_value(json_object_get(L, "layer"));
        const profs_subspace *s = profs_edit_get(edit, l);
        if (!s || profs_subspace_dim(s) != v->dim) continue;
        const float *B = profs_subspace_basis(s);
        size_t k = profs_subspace_rank(s), D = v->dim;
        json_t *dirs = json_array();
        for (size_t r = 0; r < k; r++) {
            const float *b = B + r * D;
            float sign = 1;
            if (c && l < profs_collector_n_layers(c)) {
                const float *xp = profs_collector_preferred(c, l), *xn = profs_collector_dispreferred(c, l);
                double acc = 0;
                size_t N = profs_collector_n_pairs(c);
                for (size_t n = 0; n < N; n++)
                    for (size_t d = 0; d < D; d++) acc += ((double)xn[n * D + d] - xp[n * D + d]) * b[d];
                sign = acc < 0 ? -1.0f : 1.0f;
            }
            json_array_append_new(dirs, tool_vocab_direction(v, b, sign, top));
        }
        json_object_set_new(L, "directions", dirs);
    }
}

/* ---- evaluation ---- */

static int is_word_char(unsigned char c) { return isalnum(c) || c >= 0x80; }

/* 1 when text contains word w as a whole word (ASCII case-insensitive). */
static int contains_word(const char *text, const char *w)
{
    size_t n = strlen(w);
    if (!n) return 0;
    for (const char *p = text; *p; p++) {
        if (strncasecmp(p, w, n) == 0 && (p == text || !is_word_char((unsigned char)p[-1])) &&
            !is_word_char((unsigned char)p[n]))
            return 1;
    }
    return 0;
}

int tool_evaluate(struct tool_eval *out, struct tool_lm *t, const struct tool_eval_opts *o, struct tool_progress *prog)
{
    profs_lm *lm = t->lm;
    memset(out, 0, sizeof *out);
    out->perplexity = NAN;
    const profs_tokenizer *tok = t->tok;
    size_t V = profs_lm_vocab_size(lm);
    char *is_watch = calloc(V, 1);
    float *lp = malloc(V * sizeof *lp);
    int32_t *ids = malloc(4096 * sizeof *ids), *gen = malloc(1024 * sizeof *gen);
    profs_sampler *smp = NULL;
    int rc = -1;
    if (!is_watch || !lp || !ids || !gen) { fprintf(stderr, "profs: out of memory\n"); goto out; }
    /* watch-word tokens: the first token of " word" and of "word" that carries
     * part of the word (SentencePiece tokenizers may start with a bare "▁") */
    for (size_t w = 0; w < o->n_watch; w++) {
        for (int sp = 0; sp < 2; sp++) {
            char buf[512];
            snprintf(buf, sizeof buf, "%s%s", sp ? " " : "", o->watch[w]);
            size_t n = 0;
            int e = profs_tokenizer_encode(tok, buf, strlen(buf), 0, ids, 4096, &n);
            if (e) { tool_fail_lib(e, "tokenizing a watch word"); goto out; }
            for (size_t k = 0; k < n; k++) {
                char piece[256];
                size_t plen = 0;
                if (ids[k] < 0 || (size_t)ids[k] >= V) break;
                if (profs_tokenizer_decode(tok, &ids[k], 1, PROFS_DECODE_SKIP_SPECIAL, piece, sizeof piece, &plen)) piece[0] = 0;
                int word_part = 0;
                for (size_t c = 0; piece[c]; c++) if (!isspace((unsigned char)piece[c])) word_part = 1;
                if (!word_part) continue;
                if (!is_watch[ids[k]]) { is_watch[ids[k]] = 1; out->n_watch_tokens++; }
                break;
            }
        }
    }
    int e = profs_sampler_new(&smp);
    if (!e) e = profs_sampler_set_temperature(smp, o->temperature);
    if (e) { tool_fail_lib(e, "sampler"); goto out; }
    out->per_prompt = json_array();
    double mass_sum = 0;
    size_t hits = 0, total = 0;
    for (size_t i = 0; i < o->n_prompts; i++) {
        size_t n = 0;
        int32_t *pids = NULL;
        if (tool_tokenize(t, o->prompts[i], &pids, &n)) goto out;
        if (n == 0 || n > 4096) { free(pids); fprintf(stderr, "profs: prompt %zu: no tokens or too long\n", i + 1); goto out; }
        memcpy(ids, pids, n * sizeof *ids);
        free(pids);
        if ((e = profs_lm_next_logprobs(lm, lp, ids, n))) { tool_fail_lib(e, "next-token probabilities"); goto out; }
        double mass = 0;
        for (size_t v = 0; v < V; v++) if (is_watch[v]) mass += exp((double)lp[v]);
        mass_sum += mass;
        json_t *conts = json_array();
        size_t room = profs_lm_max_positions(lm) > n ? profs_lm_max_positions(lm) - n : 0;
        size_t newt = o->new_tokens < room ? o->new_tokens : room;
        for (size_t s = 0; s < o->samples && newt > 0; s++) {
            profs_sampler_set_seed(smp, o->seed + 1000003u * i + s);
            size_t ng = 0;
            if ((e = profs_lm_generate(lm, gen, 1024, &ng, ids, n, newt, smp, NULL, NULL))) {
                tool_fail_lib(e, "generation");
                json_decref(conts);
                goto out;
            }
            char stack_text[8192], *text = stack_text;
            size_t len = 0;
            int de = profs_tokenizer_decode(tok, gen, ng, PROFS_DECODE_SKIP_SPECIAL, text, sizeof stack_text, &len);
            if (de == PROFS_EBUFS) { /* a long continuation: decode it whole, not as an empty text */
                char *big = malloc(len + 1);
                if (!big) { fprintf(stderr, "profs: out of memory\n"); json_decref(conts); goto out; }
                text = big;
                de = profs_tokenizer_decode(tok, gen, ng, PROFS_DECODE_SKIP_SPECIAL, text, len + 1, &len);
            }
            if (de) text[0] = '\0'; /* ids past the tokenizer's vocabulary (a padded embedding): no text */
            int hit = 0;
            for (size_t w = 0; w < o->n_watch && !hit; w++) hit = contains_word(text, o->watch[w]);
            hits += (size_t)hit;
            total++;
            json_array_append_new(conts, json_pack("{s:s, s:b}", "text", text, "watch_word", hit));
            if (text != stack_text) free(text);
        }
        json_array_append_new(out->per_prompt, json_pack("{s:s, s:f, s:o}", "prompt", o->prompts[i],
                                                         "toxic_mass", mass, "continuations", conts));
        if (tool_progress_cb(prog, "eval", i + 1, o->n_prompts)) {
            tool_progress_end(prog);
            fprintf(stderr, "profs: interrupted\n");
            goto out;
        }
    }
    tool_progress_end(prog);
    out->toxic_mass = o->n_prompts ? mass_sum / (double)o->n_prompts : NAN;
    out->continuation_rate = total ? (double)hits / (double)total : NAN;
    if (o->text) {
        size_t n = 0;
        int32_t *tids = NULL;
        e = tool_encode(tok, o->text, strlen(o->text), PROFS_ENCODE_ADD_SPECIAL, &tids, &n);
        if (e) { tool_fail_lib(e, "tokenizing the text file"); goto out; }
        if (n < 2) {
            free(tids);
            fprintf(stderr, "profs: %s: fewer than 2 tokens: no perplexity\n", o->text_name ? o->text_name : "the text");
            goto out;
        }
        if (!e) e = profs_lm_perplexity(lm, &out->perplexity, NULL, tids, n, 0, 0, tool_progress_cb, prog);
        tool_progress_end(prog);
        free(tids);
        if (e) { tool_fail_lib(e, "perplexity"); goto out; }
    }
    rc = 0;
out:
    profs_sampler_free(smp);
    free(is_watch); free(lp); free(ids); free(gen);
    if (rc) { json_decref(out->per_prompt); out->per_prompt = NULL; }
    return rc;
}

json_t *tool_eval_json(const struct tool_eval *e, int with_details)
{
    json_t *o = json_object();
    json_object_set_new(o, "toxic_mass", isfinite(e->toxic_mass) ? json_real(e->toxic_mass) : json_null());
    json_object_set_new(o, "continuation_rate",
                        isfinite(e->continuation_rate) ? json_real(e->continuation_rate) : json_null());
    json_object_set_new(o, "perplexity", isfinite(e->perplexity) ? json_real(e->perplexity) : json_null());
    json_object_set_new(o, "watch_tokens", json_integer((json_int_t)e->n_watch_tokens));
    if (with_details && e->per_prompt) json_object_set(o, "prompts", e->per_prompt);
    return o;
}

void tool_eval_free(struct tool_eval *e)
{
    json_decref(e->per_prompt);
    e->per_prompt = NULL;
}

int tool_compute_parse(const char *name)
{
    for (int m = PROFS_COMPUTE_F32; m <= PROFS_COMPUTE_INT8; m++)
        if (!strcmp(name, profs_compute_name(m))) return m;
    return -1;
}

int tool_set_compute(profs_lm *lm, int mode)
{
    int rc = profs_lm_set_compute(lm, mode);
    if (rc) {
        fprintf(stderr, "profs: --compute %s: %s\n", profs_compute_name(mode), profs_last_error());
        return -1;
    }
    return 0;
}
