/* The runtime's text side: opening with the directory's tokenizer,
 * tokenisation as collection does it, pooled embeddings of texts and the
 * collection of preference pairs into a profs_collector. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/error.h"
#include "lm/lm_internal.h"
#include "profs/collector.h"
#include "profs/tokenizer.h"
#include "text/tok_api.h"

static int no_tokenizer(const profs_lm *lm)
{
    if (lm->tok_error[0])
        return pf_error(PROFS_ESTATE, "the runtime has no tokenizer: %s", lm->tok_error);
    return pf_error(PROFS_ESTATE, "the runtime has no tokenizer (no tokenizer.json in the model directory)");
}

void pf_lm_free_tokenizer(profs_lm *lm)
{
    if (lm->own_tok) profs_tokenizer_free((profs_tokenizer *)lm->tok);
    lm->tok = NULL;
    lm->own_tok = 0;
    lm->eos_id = -1;
}

int profs_lm_open(profs_lm **out, const char *dir)
{
    if (!out || !dir) return pf_error(PROFS_EINVAL, "profs_lm_open: NULL argument");
    profs_model *m = NULL;
    int rc = profs_model_open(&m, dir);
    if (rc) return rc;
    profs_lm *lm = NULL;
    if ((rc = pf_lm_open_common(&lm, m, 1))) return rc;
    size_t n = strlen(dir) + 32;
    char *tj = malloc(n);
    if (!tj) { profs_lm_free(lm); return pf_enomem("path"); }
    snprintf(tj, n, "%s/tokenizer.json", dir);
    struct stat st;
    if (stat(tj, &st) == 0) {
        profs_tokenizer *t = NULL;
        rc = profs_tokenizer_open(&t, dir);
        if (rc) {
            /* not fatal: runs from token ids still work; text functions report this */
            snprintf(lm->tok_error, sizeof lm->tok_error, "%s: %s", tj, profs_last_error());
            profs_clear_error();
            free(tj);
            *out = lm;
            return 0;
        }
        lm->tok = t;
        lm->own_tok = 1;
        lm->eos_id = profs_tokenizer_eos_id(t);
    }
    free(tj);
    *out = lm;
    return 0;
}

const profs_tokenizer *profs_lm_tokenizer(const profs_lm *lm) { return lm ? lm->tok : NULL; }

int profs_lm_set_tokenizer(profs_lm *lm, const profs_tokenizer *tok)
{
    if (!lm) return pf_error(PROFS_EINVAL, "profs_lm_set_tokenizer: NULL runtime");
    pf_lm_free_tokenizer(lm);
    lm->tok_error[0] = 0;
    lm->tok = tok;
    lm->eos_id = tok ? profs_tokenizer_eos_id(tok) : -1;
    return 0;
}

int profs_lm_tokenize(const profs_lm *lm, int32_t *ids, size_t capacity, size_t *n, const char *text)
{
    if (!lm || !n || !text || (!ids && capacity)) return pf_error(PROFS_EINVAL, "profs_lm_tokenize: NULL argument");
    if (!lm->tok) return no_tokenizer(lm);
    size_t need = 0;
    int32_t *tmp = NULL; /* one encoding pass (a size query first would encode twice) */
    int rc = pf_tokenizer_encode_alloc(lm->tok, text, strlen(text), PROFS_ENCODE_ADD_SPECIAL, &tmp, &need);
    if (rc) return rc;
    size_t keep = need < lm->max_length ? need : lm->max_length;
    if (keep > lm->cfg.max_pos) keep = lm->cfg.max_pos;
    *n = keep;
    if (capacity < keep) {
        free(tmp);
        return pf_error(PROFS_EBUFS, "tokenize: %zu ids need a larger buffer than %zu", keep, capacity);
    }
    if (keep) memcpy(ids, tmp, keep * sizeof(int32_t));
    free(tmp);
    return 0;
}

/* Tokenise texts [0, n): ids[i] malloc'd, skip[i] 1 when its BOS is left out of the mean. */
static int tokenize_all(const profs_lm *lm, const char *const *texts, size_t n, int32_t **ids, size_t *lens,
                        size_t *skip, size_t index0)
{
    int32_t bos = profs_tokenizer_bos_id(lm->tok);
    size_t cap = lm->max_length < lm->cfg.max_pos ? lm->max_length : lm->cfg.max_pos;
    for (size_t i = 0; i < n; i++) {
        if (!texts[i]) return pf_error(PROFS_EINVAL, "sentence %zu is NULL", index0 + i);
        ids[i] = malloc(cap * sizeof(int32_t));
        if (!ids[i]) return pf_enomem("token ids");
        int rc = profs_lm_tokenize(lm, ids[i], cap, &lens[i], texts[i]);
        if (rc) return pf_error_prefix(rc, "sentence %zu: ", index0 + i);
        skip[i] = lm->pool_skip_bos && bos >= 0 && lens[i] >= 2 && ids[i][0] == bos;
        if (lens[i] == 0)
            return pf_error(PROFS_EINVAL, "sentence %zu has no tokens (empty text)", index0 + i);
        for (size_t t = 0; t < lens[i]; t++)
            if (ids[i][t] < 0 || (size_t)ids[i][t] >= lm->cfg.vocab)
                return pf_error(PROFS_EINVAL, "sentence %zu: token id %ld is outside the model's vocabulary of %zu",
                                index0 + i, (long)ids[i][t], lm->cfg.vocab);
    }
    return 0;
}

static void free_ids(int32_t **ids, size_t n)
{
    if (ids) for (size_t i = 0; i < n; i++) free(ids[i]);
    free(ids);
}

/* Pool texts [0, n) into out (n, L, D), in groups whose tokens fit one pass. */
static int pool_group(profs_lm *lm, float *out, const char *const *texts, size_t n, size_t index0,
                      profs_progress_fn progress, void *userdata, uint64_t total)
{
    int32_t **ids = calloc(n ? n : 1, sizeof *ids);
    size_t *lens = calloc(n ? n : 1, sizeof *lens), *skip = calloc(n ? n : 1, sizeof *skip);
    int rc = (!ids || !lens || !skip) ? pf_enomem("tokenisation") : 0;
    if (!rc) rc = tokenize_all(lm, texts, n, ids, lens, skip, index0);
    if (!rc)
        rc = pf_lm_pool(lm, out, (const int32_t *const *)ids, lens, n, skip, progress, userdata, "collect", 1,
                        index0, total);
    free_ids(ids, n);
    free(lens);
    free(skip);
    return rc;
}

/* Sentences per group: enough to fill one pass of batch_tokens at max_length each (at least 1). */
static size_t group_size(const profs_lm *lm)
{
    size_t g = lm->batch_tokens / (lm->max_length ? lm->max_length : 1);
    return g ? g : 1;
}

int profs_lm_pool_texts(profs_lm *lm, float *out, const char *const *texts, size_t n_texts,
                        profs_progress_fn progress, void *userdata)
{
    if (!lm || !out || (!texts && n_texts)) return pf_error(PROFS_EINVAL, "profs_lm_pool_texts: NULL argument");
    if (!lm->tok) return no_tokenizer(lm);
    size_t g = group_size(lm), LD = lm->cfg.n_layers * lm->cfg.dim;
    for (size_t i = 0; i < n_texts; i += g) {
        size_t k = n_texts - i < g ? n_texts - i : g;
        int rc = pool_group(lm, out + i * LD, texts + i, k, i, progress, userdata, n_texts);
        if (rc) return rc;
    }
    return 0;
}

int profs_lm_collect(profs_lm *lm, profs_collector *collector, const char *const *preferred,
                     const char *const *dispreferred, size_t n_pairs, profs_progress_fn progress, void *userdata)
{
    if (!lm || !collector || (n_pairs && (!preferred || !dispreferred)))
        return pf_error(PROFS_EINVAL, "profs_lm_collect: NULL argument");
    if (!lm->tok) return no_tokenizer(lm);
    size_t L = lm->cfg.n_layers, D = lm->cfg.dim;
    if (profs_collector_n_layers(collector) != L || profs_collector_dim(collector) != D)
        return pf_error(PROFS_ESHAPE, "collector has %zu layers x %zu, the model's block outputs are %zu x %zu",
                        profs_collector_n_layers(collector), profs_collector_dim(collector), L, D);
    size_t gp = group_size(lm) / 2;
    if (gp == 0) gp = 1;
    float *pooled = malloc(2 * gp * L * D * sizeof(float));
    const char **texts = malloc(2 * gp * sizeof(char *));
    int rc = (!pooled || !texts) ? pf_enomem("pooled embeddings") : 0;
    for (size_t i = 0; i < n_pairs && !rc; i += gp) {
        size_t k = n_pairs - i < gp ? n_pairs - i : gp;
        for (size_t j = 0; j < k; j++) {
            texts[2 * j] = preferred[i + j];
            texts[2 * j + 1] = dispreferred[i + j];
        }
        rc = pool_group(lm, pooled, texts, 2 * k, 2 * i, progress, userdata, 2 * (uint64_t)n_pairs);
        for (size_t j = 0; j < k && !rc; j++) {
            rc = profs_collector_add_pair(collector, pooled + 2 * j * L * D, pooled + (2 * j + 1) * L * D);
            if (rc) pf_error_prefix(rc, "pair %zu: ", i + j);
        }
    }
    free(pooled);
    free(texts);
    return rc;
}
