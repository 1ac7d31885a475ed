/* Write the runtime's fixture checkpoints (tests/util/hfgen.h) into a directory,
 * one subdirectory per fixture, for the binding and CLI tests (tests/sh/ scripts):
 *   gen_lm_fixtures OUT_DIR [NAME...] */
#include <stdio.h>
#include <sys/stat.h>

#include "hfgen.h"

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: gen_lm_fixtures OUT_DIR [NAME...]\n");
        return 2;
    }
    mkdir(argv[1], 0755);
    int n = argc > 2 ? argc - 2 : HFGEN_N_FIXTURES;
    for (int i = 0; i < n; i++) {
        const char *name = argc > 2 ? argv[i + 2] : hfgen_fixture_names[i];
        const hfgen_spec *s = hfgen_fixture(name);
        if (!s) { fprintf(stderr, "gen_lm_fixtures: unknown fixture '%s'\n", name); return 2; }
        char dir[4096];
        snprintf(dir, sizeof dir, "%s/%s", argv[1], name);
        if (hfgen_write(dir, s)) { fprintf(stderr, "gen_lm_fixtures: cannot write %s\n", dir); return 1; }
    }
    return 0;
}
