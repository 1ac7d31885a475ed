/* Internal: the per-call state of the encoder and the functions its files share (tok_encode.c: added
 * tokens and the pipeline; tok_normalize.c; tok_pretok.c: pre-tokenizers; tok_bpe.c: the BPE model). */
#ifndef PF_TOK_ENCODE_H
#define PF_TOK_ENCODE_H

#include <stdlib.h>

#include "core/error.h"
#include "text/tok_internal.h"

typedef struct { size_t off, len; int first; } piece; /* a range of ctx.arena; first: starts the input */
typedef struct { piece *p; size_t n, cap; } piecevec;
typedef struct { size_t s, e; int m; } span;          /* a range of a string; m: matched the pattern */
typedef struct { span *p; size_t n, cap; } spanvec;
typedef struct { size_t s, e; int32_t id; } seg;      /* id >= 0: an added token */
typedef struct { seg *p; size_t n, cap; } segvec;

typedef struct { int32_t id; int32_t prev, next; uint32_t len; } sym; /* a BPE symbol; len 0 = merged away */
typedef struct { uint32_t rank, pos; int32_t id; } qent;              /* a candidate merge */

/* Regex match state of one call: match data, and a large JIT stack made only when a match needs it. */
typedef struct {
    pcre2_match_data *md;
    pcre2_match_context *mctx;
    pcre2_jit_stack *js;
} matcher;

typedef struct {
    const profs_tokenizer *t;
    matcher mt;
    pf_sbuf arena;      /* contents of the pieces of the current segment */
    pf_sbuf norm;       /* the normalised segment */
    pf_sbuf tmp;        /* scratch */
    piecevec cur, next;
    int direct;         /* the current pre-tokenizer step is the last: pieces go straight to BPE */
    spanvec spans;
    segvec outer, inner;
    sym *syms; size_t cap_syms;
    qent *heap; size_t cap_heap;
    pf_ibuf *out;
} ctx;

#define GROW(vec, type)                                                                        \
    do {                                                                                       \
        if ((vec).n == (vec).cap) {                                                            \
            size_t cap_ = (vec).cap ? (vec).cap * 2 : 32;                                      \
            type *p_ = realloc((vec).p, cap_ * sizeof *p_);                                    \
            if (!p_) return pf_enomem("tokenizer work space");                                 \
            (vec).p = p_;                                                                      \
            (vec).cap = cap_;                                                                  \
        }                                                                                      \
    } while (0)

static inline int push_span(spanvec *v, size_t s, size_t e, int m)
{
    GROW(*v, span);
    v->p[v->n++] = (span){s, e, m};
    return PROFS_OK;
}

static inline int push_piece(piecevec *v, size_t off, size_t len, int first)
{
    if (!len) return PROFS_OK;
    GROW(*v, piece);
    v->p[v->n++] = (piece){off, len, first};
    return PROFS_OK;
}

static inline int push_seg(segvec *v, size_t s, size_t e, int32_t id)
{
    GROW(*v, seg);
    v->p[v->n++] = (seg){s, e, id};
    return PROFS_OK;
}

/* Next match of re in s[0..n) at or after start: 1 (match, offsets in *ms, *me), 0 (none) or an error. */
int pf_tok_regex_next(const pf_regex *re, const char *s, size_t n, size_t start, matcher *mt, size_t *ms,
                      size_t *me);
void pf_tok_matcher_free(matcher *mt);
/* Append s[0..n) to out with every match of re replaced by with[0..with_len) (an empty match consumes no text:
 * the next character is copied and the search moves past it). Shared by the Replace normalizer and decoder. */
int pf_tok_replace_all(const pf_regex *re, const char *with, size_t with_len, const char *s, size_t n, matcher *mt,
                       pf_sbuf *out);
/* Normalise s into out (appending), with scratch buffer tmp (tok_normalize.c). */
int pf_tok_normalize_with(const profs_tokenizer *t, const char *s, size_t n, pf_sbuf *out, pf_sbuf *tmp,
                          matcher *mt);
/* Apply one pre-tokenizer to piece p: pieces go to c->next, or to BPE when c->direct (tok_pretok.c). */
int pf_tok_pre_step(ctx *c, const pf_pre *pp, piece p);
/* BPE of one word, appending ids to c->out (tok_bpe.c). */
int pf_tok_bpe_word(ctx *c, const char *w, size_t n);
/* WordPiece of one word, appending ids to c->out (tok_wordpiece.c); pf_tok_bpe_word calls it for WordPiece models. */
int pf_tok_wordpiece_word(ctx *c, const char *w, size_t n);
/* Unigram (Viterbi) of one word, appending ids to c->out (tok_unigram.c); pf_tok_bpe_word calls it for Unigram models. */
int pf_tok_unigram_word(ctx *c, const char *w, size_t n);

#endif
