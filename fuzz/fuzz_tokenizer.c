/* libFuzzer target: the tokenizer (lib/text/). Two modes, chosen by the first input byte:
 *   even: the rest is a tokenizer.json; profs_tokenizer_open must accept or reject it with a message,
 *         never crash, leak or read outside it; an accepted one must encode and decode a fixed text;
 *   odd:  the rest is text (any bytes, often invalid UTF-8) for encode with flags from the first byte,
 *         and ids (pairs of bytes) for decode, on a real tokenizer ($PROFS_FUZZ_TOKENIZER, default
 *         tests/data/tokenizers/gpt2-mixed, run from the repository root).
 *   CC=clang cmake -S . -B build-fuzz -DPROFS_BUILD_FUZZ=ON && cmake --build build-fuzz --target fuzz_tokenizer
 *   build-fuzz/fuzz/fuzz_tokenizer -max_total_time=60 fuzz/corpus/tokenizer */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "profs/tokenizer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static profs_tokenizer *fixed;

static void encode_decode(const profs_tokenizer *t, const char *text, size_t len, unsigned flags)
{
    size_t n = 0, cap = 0;
    int32_t *ids = NULL;
    int rc = profs_tokenizer_encode(t, text, len, flags, NULL, 0, &n);
    if (rc == PROFS_EBUFS) {
        cap = n;
        ids = malloc(cap * sizeof *ids);
        if (!ids) return;
        rc = profs_tokenizer_encode(t, text, len, flags, ids, cap, &n);
        if (rc != PROFS_OK || n != cap) abort(); /* the size query must be exact */
    }
    if (rc == PROFS_OK) {
        size_t need;
        if (profs_tokenizer_decode(t, ids, n, 0, NULL, 0, &need) != PROFS_EBUFS) abort();
        char *out = malloc(need + 1);
        size_t got;
        if (!out || profs_tokenizer_decode(t, ids, n, 0, out, need + 1, &got) != PROFS_OK || got != need) abort();
        free(out);
    }
    free(ids);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    if (data[0] % 2 == 0) {
        char path[] = "/tmp/fuzz_tokenizer.XXXXXX";
        int fd = mkstemp(path);
        if (fd < 0) return 0;
        if (write(fd, data + 1, size - 1) != (ssize_t)(size - 1)) { close(fd); unlink(path); return 0; }
        close(fd);
        profs_tokenizer *t = NULL;
        if (profs_tokenizer_open(&t, path) == PROFS_OK) {
            encode_decode(t, "Hello world, don't <s> 123 \xC3\xA9\xF0\x9F\x98\x80", 31, 1);
            profs_tokenizer_free(t);
        } else if (!profs_last_error()[0]) {
            abort(); /* every failure explains itself */
        }
        unlink(path);
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
