/* Write one random Hugging Face checkpoint for the tool's tests and
 * measurements (tests/util/hfgen.h):
 *   gen_hf_model OUT_DIR FIXTURE            one of the runtime's tiny fixtures
 *   gen_hf_model OUT_DIR mistral-7b LAYERS  Mistral-7B-v0.1's shapes (hidden 4096,
 *                                           MLP 14336, 32 heads, 8 KV heads, 32000
 *                                           tokens), BF16, 2 shards, LAYERS blocks */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hfgen.h"

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: gen_hf_model OUT_DIR FIXTURE | gen_hf_model OUT_DIR mistral-7b LAYERS\n");
        return 2;
    }
    hfgen_spec big = {.arch = "mistral", .layers = 32, .dim = 4096, .heads = 32, .kv_heads = 8, .ffn = 14336,
                      .vocab = 32000, .max_pos = 32768, .window = 4096, .dtype = PROFS_DTYPE_BF16, .shards = 2,
                      .seed = 7};
    const hfgen_spec *s;
    if (strcmp(argv[2], "mistral-7b") == 0) {
        if (argc > 3) big.layers = (size_t)strtoul(argv[3], NULL, 10);
        if (big.layers == 0) { fprintf(stderr, "gen_hf_model: LAYERS must be at least 1\n"); return 2; }
        s = &big;
    } else if (!(s = hfgen_fixture(argv[2]))) {
        fprintf(stderr, "gen_hf_model: unknown fixture '%s'\n", argv[2]);
        return 2;
    }
    if (hfgen_write(argv[1], s)) { fprintf(stderr, "gen_hf_model: cannot write %s\n", argv[1]); return 1; }
    return 0;
}
