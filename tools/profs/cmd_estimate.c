/* profs estimate: embeddings file -> edit file. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline.h"
#include "tool.h"

static const char help[] =
    "usage: profs estimate --embeddings FILE --out EDIT.safetensors [options]\n"
    "\n"
    "Estimate the ProFS subspace of each selected layer from a collector file\n"
    "(written by 'profs collect' or any host): the difference of preferred and\n"
    "dispreferred embeddings, centering, SVD, and the rank by ScreeNOT or fixed.\n"
    "Writes the edit file (layers.{l}.basis, rank x hidden size, F32, with the\n"
    "singular values and settings) that 'profs apply' and 'profs inspect' read.\n"
    "\n"
    "options:\n"
    "  --embeddings FILE         collector file (safetensors)\n"
    "  --out FILE                the edit file to write\n"
    "  --architecture NAME       gpt2, mistral, llama, opt, gptj, ...: chooses the default\n"
    "                            layers and is recorded in the edit (default: generic)\n"
    "  --layers SPEC             as in 'profs edit' (default: that architecture's rule)\n"
    "  --rank screenot|K, --rank-max K, --screenot-strategy S, --centering C\n"
    "                            as in 'profs edit'\n"
    "  --quiet                   no progress on stderr\n"
    "\n"
    "exit status: 0 ok, 1 failure, 2 usage error\n";

int cmd_estimate(int argc, char **argv)
{
    const char *in = NULL, *out = NULL, *arch = NULL, *layers = NULL, *rank = NULL, *strategy = NULL, *centering = NULL;
    size_t rank_max = 0;
    int rank_max_given = 0, quiet = 0;
    const struct tool_opt opts[] = {
        {"embeddings", OPT_STRING, &in, 1, NULL},
        {"out", OPT_STRING, &out, 1, NULL},
        {"architecture", OPT_STRING, &arch, 0, NULL},
        {"layers", OPT_STRING, &layers, 0, NULL},
        {"rank", OPT_STRING, &rank, 0, NULL},
        {"rank-max", OPT_SIZE, &rank_max, 0, &rank_max_given},
        {"screenot-strategy", OPT_STRING, &strategy, 0, NULL},
        {"centering", OPT_STRING, &centering, 0, NULL},
        {"quiet", OPT_FLAG, &quiet, 0, NULL},
    };
    int rc = tool_parse(argv[0], help, argc, argv, opts, sizeof opts / sizeof opts[0]);
    if (rc >= 0) return rc;
    struct tool_est est;
    if ((rc = tool_est_parse(argv[0], &est, rank, rank_max, rank_max_given, strategy, centering, layers))) return rc;
    char err0[512];
    if (tool_check_file_out("out", out, err0, sizeof err0)) { fprintf(stderr, "profs: %s\n", err0); return EXIT_FAIL; }
    struct tool_progress prog;
    tool_progress_init(&prog, quiet);
    profs_collector *c = NULL;
    profs_edit *edit = NULL;
    size_t *lay = NULL, n = 0;
    if ((rc = profs_collector_load(&c, in))) return tool_fail_lib(rc, in);
    if (tool_estimate(&edit, &lay, &n, &est, c, arch, &prog)) { profs_collector_free(c); return EXIT_FAIL; }
    if (arch) profs_edit_set_architecture(edit, arch);
    const char *mid = profs_collector_model_id(c);
    if (mid) profs_edit_set_model_id(edit, mid);
    int status = EXIT_OK;
    if ((rc = profs_edit_save(edit, out))) status = tool_fail_lib(rc, out);
    else {
        printf("wrote %s (%zu pairs, hidden size %zu)\n  layer  rank  threshold\n", out,
               profs_collector_n_pairs(c), profs_collector_dim(c));
        for (size_t i = 0; i < n; i++) {
            const profs_subspace *s = profs_edit_get(edit, lay[i]);
            char thr[32] = "-"; /* none for a fixed rank */
            if (isfinite(profs_subspace_threshold(s))) snprintf(thr, sizeof thr, "%.4g", profs_subspace_threshold(s));
            printf("  %5zu  %4zu  %9s\n", lay[i], profs_subspace_rank(s), thr);
        }
    }
    free(lay);
    profs_edit_free(edit);
    profs_collector_free(c);
    return status;
}
