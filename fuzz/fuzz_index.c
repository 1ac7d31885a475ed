/* libFuzzer target: the sharded-model index (model.safetensors.index.json,
 * lib/io/model.c) over the three fixed valid shards of the mistral_bf16
 * fixture (tests/util/hfgen.h). The input is the index file;
 * profs_model_open must accept it (every tensor then resolves to a shard that
 * holds it) or reject it with a message, never crash or leak.
 *   scripts/fuzz 60 index */
#include <stdint.h>

#include "fuzz_common.h"
#include "hfgen.h"
#include "profs/profs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *model_dir(void)
{
    static int made;
    const char *d = fz_path(0, "m");
    if (!made) {
        if (hfgen_write(d, hfgen_fixture("mistral_bf16")) != 0) abort();
        made = 1;
    }
    return d;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *d = model_dir();
    char ipath[600];
    snprintf(ipath, sizeof ipath, "%s/model.safetensors.index.json", d);
    if (fz_write(ipath, data, size)) return 0;
    profs_model *m = NULL;
    if (profs_model_open(&m, d) == PROFS_OK) {
        for (size_t i = 0; i < profs_model_tensor_count(m); i++) {
            const char *name = profs_model_tensor_name(m, i);
            const void *p;
            uint64_t nb, numel, nb2;
            if (!name || profs_model_tensor_data(m, name, &p, &nb) || profs_model_tensor_size(m, name, &numel, &nb2) ||
                nb != nb2)
                abort();
            volatile uint8_t sink = 0;
            for (uint64_t b = 0; b < nb; b++) sink ^= ((const uint8_t *)p)[b];
            (void)sink;
        }
        profs_model_free(m);
    } else if (!profs_last_error()[0]) {
        abort();
    }
    return 0;
}
