/* libFuzzer target: the restricted unpickler of PyTorch state dicts (lib/io/pickle.c).
 * The input is a data.pkl; pf_pkl_parse must accept it as a state dict or reject it
 * with a message, never crash, leak, loop or read outside the buffer.
 *   CC=clang cmake -S . -B build-fuzz -DPROFS_BUILD_FUZZ=ON && cmake --build build-fuzz --target fuzz_pickle
 *   build-fuzz/fuzz/fuzz_pickle -max_total_time=60 fuzz/corpus/pickle */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "io/pickle.h"
#include "profs/common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *copy = malloc(size ? size : 1);   /* exact size: reads past the end are caught by ASan */
    if (!copy) return 0;
    if (size) memcpy(copy, data, size);
    pf_pkl_dict d;
    int rc = pf_pkl_parse(&d, "fuzz/data.pkl", copy, size);
    if (rc == 0) {
        for (size_t i = 0; i < d.n; i++) {
            const pf_pkl_tensor *t = &d.t[i];
            if (!t->name[0] || !t->storage_key[0] || profs_dtype_size(t->dtype) == 0) abort();
            for (size_t k = 0; k < t->ndim; k++)
                if (t->shape[k] < 0 || t->stride[k] < 0) abort();
            for (size_t j = 0; j < i; j++)
                if (strcmp(d.t[j].name, t->name) == 0) abort();   /* duplicates are refused */
        }
        pf_pkl_dict_free(&d);
    } else if (profs_last_error()[0] == '\0') {
        abort();
    }
    free(copy);
    return 0;
}
