/* profs collect: preference pairs -> embeddings file (the collector). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mpi_shard.h"
#include "pipeline.h"
#include "tool.h"

static const char help[] =
    "usage: profs collect --model DIR --pairs FILE --out FILE.safetensors [options]\n"
    "\n"
    "Run every preference pair through the model's built-in runtime and write the\n"
    "mean-pooled output of every block (no final norm) as a collector file:\n"
    "tensors layers.{l}.preferred and layers.{l}.dispreferred, N x hidden size, F32.\n"
    "'profs estimate' turns it into an edit; embeddings made elsewhere (PyTorch,\n"
    "llama.cpp) can be written in the same format and used the same way.\n"
    "\n"
    "options:\n"
    "  --model DIR               model directory (config.json, safetensors, tokenizer.json)\n"
    "  --pairs FILE              preference pairs (JSONL, JSON, TSV, optionally gzip; - for stdin)\n"
    "  --out FILE                the embeddings file to write (safetensors)\n"
    "  --max-pairs N             use a seeded random subset of N pairs (0 = all)\n"
    "  --max-length T            tokens per sentence (default 128)\n"
    "  --batch-tokens N          tokens computed per pass over the weights (default 8192;\n"
    "                            bounds activation memory; whole pairs per pass)\n"
    "  --no-prefix-sharing       run both sentences of a pair whole (by default the prefix of\n"
    "                            tokens they share, e.g. the prompt, is computed once: the\n"
    "                            embeddings are the same to float rounding)\n"
    "  --seed S                  seed of the --max-pairs subset (default 0)\n"
    TOOL_COMPUTE_HELP
    TOOL_PAIRS_FLAG_HELP
    "  --quiet                   no progress on stderr\n"
    "\n"
    "exit status: 0 ok, 1 failure, 2 usage error\n";

int cmd_collect(int argc, char **argv)
{
    const char *model = NULL, *pairs = NULL, *out = NULL, *compute = "f32";
    struct tool_pairs_flags pfl = {0};
    size_t max_pairs = 0, max_length = 128, batch_tokens = 8192;
    int64_t seed = 0;
    int quiet = 0, no_share = 0;
    const struct tool_opt opts[] = {
        {"model", OPT_STRING, &model, 1, NULL},
        {"pairs", OPT_STRING, &pairs, 1, NULL},
        {"out", OPT_STRING, &out, 1, NULL},
        {"max-pairs", OPT_SIZE, &max_pairs, 0, NULL},
        {"max-length", OPT_SIZE, &max_length, 0, NULL},
        {"batch-tokens", OPT_SIZE, &batch_tokens, 0, NULL},
        {"no-prefix-sharing", OPT_FLAG, &no_share, 0, NULL},
        {"seed", OPT_INT64, &seed, 0, NULL},
        {"compute", OPT_STRING, &compute, 0, NULL},
        TOOL_PAIRS_FLAG_OPTS(pfl),
        {"quiet", OPT_FLAG, &quiet, 0, NULL},
    };
    int rc = tool_parse(argv[0], help, argc, argv, opts, sizeof opts / sizeof opts[0]);
    if (rc >= 0) return rc;
    if (max_length == 0) return tool_usage_error(argv[0], "--max-length must be at least 1");
    if (batch_tokens == 0) return tool_usage_error(argv[0], "--batch-tokens must be at least 1");
    int mode = tool_compute_parse(compute);
    if (mode < 0) return tool_usage_error(argv[0], "--compute '%s' is not one of f32, bf16, int8", compute);
    struct tool_pairs_opts po;
    if ((rc = tool_pairs_flags_parse(argv[0], &pfl, 0, &po))) return rc;
    char err0[512];
    if (tool_check_file_out("out", out, err0, sizeof err0)) { fprintf(stderr, "profs: %s\n", err0); return EXIT_FAIL; }
    tool_catch_signals();
    struct tool_progress prog;
    tool_progress_init(&prog, quiet);
    char err[1024];
    struct tool_pairs p;
    if (tool_pairs_read(&p, pairs, &po, err, sizeof err)) { fprintf(stderr, "profs: %s\n", err); return EXIT_FAIL; }
    tool_progress_note(&prog, "%s: %zu pairs, %s%s, layout %s (%s)", pairs, p.n, tool_pairs_format_name(p.format),
                       p.gzip ? " (gzip)" : "", tool_pairs_layout_name(p.layout), p.rule);
    if (p.skipped)
        tool_progress_note(&prog, "%s: skipped %zu bad line%s (first: %s)", pairs, p.skipped,
                           p.skipped == 1 ? "" : "s", p.first_bad);
    tool_pairs_subsample(&p, max_pairs, (uint64_t)seed);
    struct tool_lm lm = {0};
    profs_collector *c = NULL;
    int status = EXIT_FAIL;
    if (tool_open_lm(&lm, model, max_length) || tool_set_compute(lm.lm, mode)) goto out;
    if (mode != PROFS_COMPUTE_F32)
        tool_progress_note(&prog, "compute: %s (%s)", compute, profs_lm_compute_kernel(lm.lm));
    lm.batch_tokens = batch_tokens;
    lm.no_prefix_sharing = no_share;
    char id[512];
    tool_model_id(id, sizeof id, profs_lm_model(lm.lm), model);
    if (tool_collect(&c, &lm, &p, id, &prog, NULL)) goto out;
    if (tool_mpi_rank() > 0) { status = EXIT_OK; goto out; } /* MPI: rank 0 writes */
    if ((rc = profs_collector_save(c, out))) { tool_fail_lib(rc, out); goto out; }
    printf("wrote %s: %zu pairs x %zu layers x %zu dims\n", out, profs_collector_n_pairs(c),
           profs_collector_n_layers(c), profs_collector_dim(c));
    status = EXIT_OK;
out:
    profs_collector_free(c);
    tool_close_lm(&lm);
    tool_pairs_free(&p);
    return status;
}
