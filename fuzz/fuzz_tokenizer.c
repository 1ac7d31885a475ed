/* libFuzzer target: the tokenizer (lib/text/). Two modes, chosen by the first input byte:
 *   even: the rest is a tokenizer.json; profs_tokenizer_open must accept or reject it with a message,
 *         never crash, leak or read outside it; an accepted one must encode and decode a fixed text;
 *   odd:  the rest is text (any bytes, often invalid UTF-8) for encode with flags from the first byte,
 *         and ids (pairs of bytes) for decode, on a real tokenizer ($PROFS_FUZZ_TOKENIZER, default
 *         tests/data/tokenizers/gpt2-mixed, run from the repository root).
 * Per input it costs one encode and one decode: the tokenizer.json is parsed
 * from memory (no temporary file), the encode goes into a len + 8 buffer (the
 * size query, a second whole encode, runs only when that is too small, and
 * must then be exact), the decode into a 64 KiB buffer (likewise).
 *   scripts/fuzz 60 tokenizer */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "profs/tokenizer.h"
#include "text/tok_api.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static profs_tokenizer *fixed;

static void encode_decode(const profs_tokenizer *t, const char *text, size_t len, unsigned flags)
{
    size_t n = 0, cap = len + 8;
    int32_t *ids = malloc(cap * sizeof *ids);
    if (!ids) return;
    int rc = profs_tokenizer_encode(t, text, len, flags, ids, cap, &n);
    if (rc == PROFS_EBUFS) {
        if (n <= cap) abort(); /* the size asked for must not fit */
        cap = n;
        int32_t *more = realloc(ids, cap * sizeof *ids);
        if (!more) { free(ids); return; }
        ids = more;
        rc = profs_tokenizer_encode(t, text, len, flags, ids, cap, &n);
        if (rc != PROFS_OK || n != cap) abort(); /* the size query must be exact */
    }
    if (rc == PROFS_OK) {
        static char out[1 << 16];
        size_t need, got;
        rc = profs_tokenizer_decode(t, ids, n, 0, out, sizeof out, &need);
        if (rc == PROFS_EBUFS) {
            if (need < sizeof out) abort();
            char *big = malloc(need + 1);
            if (!big || profs_tokenizer_decode(t, ids, n, 0, big, need + 1, &got) != PROFS_OK || got != need) abort();
            free(big);
        } else if (rc != PROFS_OK) {
            abort();
        }
    } else if (!profs_last_error()[0]) {
        abort();
    }
    free(ids);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    if (data[0] % 2 == 0) {
        profs_tokenizer *t = NULL;
        if (pf_tokenizer_load_buffer(&t, "tokenizer.json", (const char *)data + 1, size - 1) == PROFS_OK) {
            encode_decode(t, "Hello world, don't <s> 123 \xC3\xA9\xF0\x9F\x98\x80", 31, 1);
            profs_tokenizer_free(t);
        } else if (!profs_last_error()[0]) {
            abort(); /* every failure explains itself */
        }
        return 0;
    }
    if (!fixed) {
        const char *p = getenv("PROFS_FUZZ_TOKENIZER");
        if (profs_tokenizer_open(&fixed, p ? p : "tests/data/tokenizers/gpt2-mixed") != PROFS_OK) abort();
    }
    /* an exact-size heap copy, so reads past the end are caught by ASan */
    char *text = malloc(size - 1 ? size - 1 : 1);
    if (!text) return 0;
    memcpy(text, data + 1, size - 1);
    encode_decode(fixed, text, size - 1, (data[0] >> 1) & 3);
    /* arbitrary ids: decode either succeeds or names the bad id */
    size_t n_ids = (size - 1) / 2;
    int32_t *ids = malloc((n_ids ? n_ids : 1) * sizeof *ids);
    for (size_t i = 0; ids && i < n_ids; i++) ids[i] = (int32_t)((uint32_t)text[2 * i] << 8 | (uint8_t)text[2 * i + 1]);
    char buf[64];
    size_t len;
    if (ids) {
        int rc = profs_tokenizer_decode(fixed, ids, n_ids, (data[0] >> 3) & 1, buf, sizeof buf, &len);
        if (rc != PROFS_OK && rc != PROFS_EBUFS && rc != PROFS_EINVAL) abort();
    }
    free(ids);
    free(text);
    return 0;
}
