/* The Unigram model (tokenizers' models/unigram, encode_optimized): Viterbi over the byte positions of
 * one pre-token, each step trying every vocabulary piece that starts there (shortest first; a later
 * candidate replaces the best only with a strictly higher score); a character no piece covers becomes
 * the unknown piece with score min_score - 10. Backtracking fuses runs of unknown pieces into one; a
 * piece's id is its vocabulary id, else (byte_fallback) its bytes' <0xNN> ids when all exist, else unk_id. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "text/tok_encode.h"

typedef struct { double score; size_t start; int32_t id; int set; } node;

static int push_piece_ids(ctx *c, const char *s, size_t n)
{
    const profs_tokenizer *t = c->t;
    int32_t id = pf_strmap_get(&t->vocab, s, n);
    if (id >= 0) return pf_ibuf_push(c->out, id);
    if (t->byte_fallback) {
        size_t k = 0;
        while (k < n && t->byte_id[(unsigned char)s[k]] >= 0) k++;
        if (k == n) {
            for (k = 0; k < n; k++) {
                int rc = pf_ibuf_push(c->out, t->byte_id[(unsigned char)s[k]]);
                if (rc) return rc;
            }
            return PROFS_OK;
        }
    }
    if (t->model_unk < 0)
        return pf_error(PROFS_EFORMAT, "%s: Unigram: '%.*s' is not in the vocabulary and model.unk_id is null",
                        t->path, (int)n, s);
    return pf_ibuf_push(c->out, t->model_unk);
}

int pf_tok_unigram_word(ctx *c, const char *w, size_t n)
{
    const profs_tokenizer *t = c->t;
    if (n == 0) return PROFS_OK;
    node *best = calloc(n + 1, sizeof *best);
    if (!best) return pf_enomem("tokenizer work space");
    const double unk_score = t->uni_min_score - 10.0;
    best[0].set = 1;
    size_t l;
    for (size_t s = 0; s < n;) {
        double here = best[s].score;
        pf_utf8_decode(w + s, &l); /* the text is valid UTF-8: l is the character's length */
        int single = 0;
        size_t maxl = n - s < t->uni_max_len ? n - s : t->uni_max_len;
        for (size_t len = 1; len <= maxl; len++) {
            int32_t id = pf_strmap_get(&t->vocab, w + s, len);
            if (id < 0) continue;
            double cand = t->uni_score[id] + here;
            node *tn = &best[s + len];
            if (!tn->set || cand > tn->score) { tn->score = cand; tn->start = s; tn->id = id; tn->set = 1; }
            if (len == l) single = 1;
        }
        if (!single) {
            node *tn = &best[s + l];
            double cand = unk_score + here;
            if (!tn->set || cand > tn->score) { tn->score = cand; tn->start = s; tn->id = -1; tn->set = 1; }
        }
        s += l;
    }
    /* backtrack into (start, end) pieces, fusing consecutive unknown ones, then emit left to right */
    size_t *cut = malloc((n + 1) * sizeof *cut), k = 0; /* piece boundaries from the end */
    if (!cut) { free(best); return pf_enomem("tokenizer work space"); }
    int rc = PROFS_OK;
    for (size_t e = n; e > 0;) {
        size_t s = best[e].start;
        int unk = best[e].id < 0 || best[e].id == t->model_unk;
        if (unk) /* extend over the preceding unknown pieces */
            while (s > 0 && (best[s].id < 0 || best[s].id == t->model_unk)) s = best[s].start;
        cut[k++] = e;
        e = s;
    }
    size_t start = 0;
    while (k > 0 && !rc) {
        size_t e = cut[--k];
        rc = push_piece_ids(c, w + start, e - start);
        start = e;
    }
    free(cut);
    free(best);
    return rc;
}
