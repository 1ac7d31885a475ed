/* libFuzzer target: the safetensors header parser and validator (lib/io/safetensors.c).
 * The input is a whole file; pf_st_parse must accept it or reject it with a
 * message, never crash, leak or read outside the buffer.
 *   CC=clang cmake -S . -B build-fuzz -DPROFS_BUILD_FUZZ=ON && cmake --build build-fuzz --target fuzz_safetensors
 *   build-fuzz/fuzz/fuzz_safetensors -max_total_time=60 fuzz/corpus/safetensors */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "io/safetensors.h"
#include "profs/common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* an exact-size heap copy, so reads past the end are caught by ASan */
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy) return 0;
    if (size) memcpy(copy, data, size);
    pf_st_header h;
    int rc = pf_st_parse(&h, "fuzz.safetensors", copy, size);
    if (rc == 0) {
        /* a valid header: every tensor lies inside the file and is findable by name */
        uint64_t data0 = 8 + h.header_len;
        for (size_t i = 0; i < h.n_tensors; i++) {
            const pf_st_tensor *t = &h.tensors[i];
            if (t->end > size - data0 || t->begin > t->end) abort();
            if (t->end - t->begin != t->numel * profs_dtype_size(t->dtype)) abort();
            if (pf_st_find(&h, t->name) != (long)i) abort();
            volatile uint8_t sink = 0;
            for (uint64_t b = t->begin; b < t->end; b++) sink ^= copy[data0 + b];
            (void)sink;
        }
        pf_st_header_free(&h);
    } else if (profs_last_error()[0] == '\0') {
        abort();   /* every rejection carries a message */
    }
    free(copy);
    return 0;
}
