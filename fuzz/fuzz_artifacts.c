/* libFuzzer target: the collector and edit file loaders (lib/collect/collector_io.c,
 * lib/edit/edit.c) on top of the tensor store. The input is a whole safetensors
 * file; both loaders must accept it or reject it with a message, never crash or
 * leak, and whatever they accept must hold their invariants (finite embeddings of
 * the announced shape; orthonormal bases of rank <= dim).
 *   CC=clang cmake -S . -B build-fuzz -DPROFS_BUILD_FUZZ=ON && cmake --build build-fuzz --target fuzz_artifacts
 *   build-fuzz/fuzz/fuzz_artifacts -max_total_time=60 fuzz/corpus/artifacts */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz_common.h"
#include "profs/profs.h"
#include "subspace/subspace_impl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_collector(const profs_collector *c)
{
    size_t n = profs_collector_n_pairs(c), d = profs_collector_dim(c);
    for (size_t l = 0; l < profs_collector_n_layers(c); l++) {
        const float *p = profs_collector_preferred(c, l), *m = profs_collector_dispreferred(c, l);
        if (n && (!p || !m)) abort();
        for (size_t i = 0; i < n * d; i++)
            if (!isfinite(p[i]) || !isfinite(m[i])) abort();
    }
}

static void check_edit(const profs_edit *e)
{
    size_t d = profs_edit_dim(e);
    for (size_t i = 0; i < profs_edit_count(e); i++) {
        const profs_subspace *s = profs_edit_get(e, profs_edit_layer_at(e, i));
        if (!s || profs_subspace_dim(s) != d || profs_subspace_rank(s) > d) abort();
        if (profs_subspace_rank(s) && !(pf_basis_orthonormality_error(profs_subspace_basis(s), profs_subspace_rank(s), d) <= 1e-4))
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fz_path(0, "artifact.safetensors");
    if (fz_write(path, data, size)) return 0;
    profs_collector *c = NULL;
    if (profs_collector_load(&c, path) == PROFS_OK) {
        check_collector(c);
        profs_collector_free(c);
    } else if (profs_last_error()[0] == '\0') {
        abort();
    }
    profs_clear_error();
    profs_edit *e = NULL;
    if (profs_edit_load(&e, path) == PROFS_OK) {
        check_edit(e);
        profs_edit_free(e);
    } else if (profs_last_error()[0] == '\0') {
        abort();
    }
    unlink(path);
    return 0;
}
