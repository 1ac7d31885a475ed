/* Public tokenizer API: argument checks, caller buffers, well-known ids. */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "text/tok_api.h"
#include "text/tok_internal.h"

unsigned profs_encode_flag_add_special(void) { return PROFS_ENCODE_ADD_SPECIAL; }
unsigned profs_encode_flag_special_as_text(void) { return PROFS_ENCODE_SPECIAL_AS_TEXT; }
unsigned profs_decode_flag_skip_special(void) { return PROFS_DECODE_SKIP_SPECIAL; }

int profs_tokenizer_open(profs_tokenizer **out, const char *path)
{
    if (!out || !path) return pf_error(PROFS_EINVAL, "profs_tokenizer_open: NULL argument");
    return pf_tokenizer_load(out, path);
}

void profs_tokenizer_free(profs_tokenizer *t) { pf_tokenizer_destroy(t); }

int profs_tokenizer_encode(const profs_tokenizer *t, const char *text, size_t len, unsigned flags, int32_t *ids,
                           size_t capacity, size_t *n_ids)
{
    if (!t || !n_ids || (!text && len) || (!ids && capacity))
        return pf_error(PROFS_EINVAL, "profs_tokenizer_encode: NULL argument");
    if (flags & ~(PROFS_ENCODE_ADD_SPECIAL | PROFS_ENCODE_SPECIAL_AS_TEXT))
        return pf_error(PROFS_EINVAL, "profs_tokenizer_encode: unknown flags 0x%x", flags);
    pf_ibuf buf = {0};
    int rc = pf_tok_encode(t, text ? text : "", len, flags, &buf);
    if (!rc) {
        *n_ids = buf.n;
        if (capacity < buf.n)
            rc = pf_error(PROFS_EBUFS, "profs_tokenizer_encode: %zu ids do not fit in a buffer of %zu", buf.n,
                          capacity);
        else if (buf.n)
            memcpy(ids, buf.p, buf.n * sizeof *ids);
    }
    pf_ibuf_free(&buf);
    return rc;
}

int pf_tokenizer_encode_alloc(const profs_tokenizer *t, const char *text, size_t len, unsigned flags,
                              int32_t **ids, size_t *n)
{
    if (!t || !ids || !n || (!text && len)) return pf_error(PROFS_EINVAL, "encode: NULL argument");
    if (flags & ~(PROFS_ENCODE_ADD_SPECIAL | PROFS_ENCODE_SPECIAL_AS_TEXT))
        return pf_error(PROFS_EINVAL, "encode: unknown flags 0x%x", flags);
    pf_ibuf buf = {0};
    int rc = pf_tok_encode(t, text ? text : "", len, flags, &buf);
    if (rc) {
        pf_ibuf_free(&buf);
        return rc;
    }
    if (!buf.n) pf_ibuf_free(&buf);
    *ids = buf.p;
    *n = buf.n;
    return PROFS_OK;
}

int profs_tokenizer_decode(const profs_tokenizer *t, const int32_t *ids, size_t n_ids, unsigned flags, char *text,
                           size_t capacity, size_t *len)
{
    if (!t || !len || (!ids && n_ids) || (!text && capacity))
        return pf_error(PROFS_EINVAL, "profs_tokenizer_decode: NULL argument");
    if (flags & ~PROFS_DECODE_SKIP_SPECIAL)
        return pf_error(PROFS_EINVAL, "profs_tokenizer_decode: unknown flags 0x%x", flags);
    pf_sbuf buf = {0};
    int rc = pf_tok_decode(t, ids, n_ids, flags, &buf);
    if (!rc) {
        *len = buf.n;
        if (capacity < buf.n + 1)
            rc = pf_error(PROFS_EBUFS, "profs_tokenizer_decode: %zu bytes and a NUL do not fit in a buffer of %zu",
                          buf.n, capacity);
        else {
            if (buf.n) memcpy(text, buf.p, buf.n);
            text[buf.n] = '\0';
        }
    }
    pf_sbuf_free(&buf);
    return rc;
}

size_t profs_tokenizer_vocab_size(const profs_tokenizer *t) { return t ? t->n_ids : 0; }

const char *profs_tokenizer_id_to_token(const profs_tokenizer *t, int32_t id)
{
    if (!t || id < 0 || (size_t)id >= t->n_ids) return NULL;
    return t->tok[id];
}

int profs_tokenizer_token_to_id(const profs_tokenizer *t, const char *token, int32_t *id)
{
    if (!t || !token || !id) return pf_error(PROFS_EINVAL, "profs_tokenizer_token_to_id: NULL argument");
    size_t n = strlen(token);
    int32_t v = pf_strmap_get(&t->added_map, token, n);
    if (v < 0) v = pf_strmap_get(&t->vocab, token, n);
    if (v < 0) return pf_error(PROFS_ENOTFOUND, "token '%s' is not in the vocabulary", token);
    *id = v;
    return PROFS_OK;
}

int32_t profs_tokenizer_bos_id(const profs_tokenizer *t) { return t ? t->bos : -1; }
int32_t profs_tokenizer_eos_id(const profs_tokenizer *t) { return t ? t->eos : -1; }
int32_t profs_tokenizer_pad_id(const profs_tokenizer *t) { return t ? t->pad : -1; }
int32_t profs_tokenizer_unk_id(const profs_tokenizer *t) { return t ? t->unk : -1; }
