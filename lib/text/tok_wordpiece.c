/* The WordPiece model (tokenizers' models/wordpiece): greedy longest-match-first over one pre-token;
 * pieces after the first carry continuing_subword_prefix; a word longer than max_input_chars_per_word
 * characters, or one with a part no vocabulary entry matches, becomes the single unk token. */
#include <string.h>

#include "text/tok_encode.h"

int pf_tok_wordpiece_word(ctx *c, const char *w, size_t n)
{
    const profs_tokenizer *t = c->t;
    size_t chars = 0;
    for (size_t i = 0; i < n; i++) chars += ((unsigned char)w[i] & 0xC0) != 0x80;
    if (chars > t->wp_max_chars) return pf_ibuf_push(c->out, t->model_unk);
    size_t first = c->out->n, start = 0;
    int rc;
    while (start < n) {
        size_t end = n;
        int32_t found = -1;
        while (start < end) {
            c->tmp.n = 0;
            if (start > 0 && (rc = pf_sbuf_append(&c->tmp, t->cont_prefix, t->cont_prefix_len))) return rc;
            if ((rc = pf_sbuf_append(&c->tmp, w + start, end - start))) return rc;
            found = pf_strmap_get(&t->vocab, c->tmp.p, c->tmp.n);
            if (found >= 0) break;
            /* drop the last character */
            end--;
            while (end > start && ((unsigned char)w[end] & 0xC0) == 0x80) end--;
        }
        if (found < 0) {
            c->out->n = first;
            return pf_ibuf_push(c->out, t->model_unk);
        }
        if ((rc = pf_ibuf_push(c->out, found))) return rc;
        start = end;
    }
    return PROFS_OK;
}
