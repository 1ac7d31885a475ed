/* profs demo-model: write the demo model (a GPT-2-architecture checkpoint with
 * a planted toxic mechanism) and its tokenizer. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "demo.h"
#include "tool.h"
#include "util.h"

static const char help[] =
    "usage: profs demo-model --out DIR [--data DIR] [--force]\n"
    "\n"
    "Write the demo model of 'profs demo' into DIR: a 6-layer GPT-2-architecture\n"
    "checkpoint (config.json, model.safetensors, tokenizer.json, ...) with seeded\n"
    "weights and a planted toxic mechanism, built from the bundled data (its\n"
    "tokenizer has every word of the data as one token). Deterministic: the same\n"
    "data gives the same bytes. docs/demo.md explains the construction.\n"
    "\n"
    "options:\n"
    "  --out DIR    output directory (built beside, renamed into place at the end)\n"
    "  --data DIR   the demo data (pairs.jsonl, prompts.txt, neutral.txt,\n"
    "               watch_words.txt); default: ./data, else the data installed with profs\n"
    "  --force      replace an existing non-empty --out\n"
    "\n"
    "exit status: 0 ok, 1 failure, 2 usage error\n";

const char *tool_demo_data_dir(const char *given)
{
    if (given) return given;
    if (tool_exists("data/pairs.jsonl") && tool_exists("data/watch_words.txt")) return "data";
#ifdef PROFS_SOURCE_DATA_DIR
    if (tool_is_dir(PROFS_SOURCE_DATA_DIR)) return PROFS_SOURCE_DATA_DIR;
#endif
#ifdef PROFS_INSTALL_DATA_DIR
    if (tool_is_dir(PROFS_INSTALL_DATA_DIR)) return PROFS_INSTALL_DATA_DIR;
#endif
    return "data";
}

int cmd_demo_model(int argc, char **argv)
{
    const char *out = NULL, *data = NULL;
    int force = 0;
    const struct tool_opt opts[] = {
        {"out", OPT_STRING, &out, 1, NULL},
        {"data", OPT_STRING, &data, 0, NULL},
        {"force", OPT_FLAG, &force, 0, NULL},
    };
    int rc = tool_parse(argv[0], help, argc, argv, opts, sizeof opts / sizeof opts[0]);
    if (rc >= 0) return rc;
    char err[1024];
    struct demo_data d;
    if (demo_data_load(&d, tool_demo_data_dir(data), err, sizeof err)) {
        fprintf(stderr, "profs: %s\n", err);
        return EXIT_FAIL;
    }
    struct tool_outdir od;
    size_t vocab = 0;
    if (tool_check_out(NULL, out, force, err, sizeof err) || tool_outdir_begin(&od, out, err, sizeof err)) {
        demo_data_free(&d);
        fprintf(stderr, "profs: %s\n", err);
        return EXIT_FAIL;
    }
    od.force = force;
    if (demo_write_model(od.tmp, &d, &vocab, err, sizeof err) || tool_outdir_commit(&od, err, sizeof err)) {
        tool_outdir_abort(&od);
        demo_data_free(&d);
        fprintf(stderr, "profs: %s\n", err);
        return EXIT_FAIL;
    }
    tool_outdir_abort(&od);
    demo_data_free(&d);
    printf("wrote the demo model to %s (GPT-2 architecture, 6 layers, hidden size 64, %zu tokens)\n", out, vocab);
    return EXIT_OK;
}
