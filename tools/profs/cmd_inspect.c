/* profs inspect: what an edit removes, layer by layer, read through the unembedding. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "output.h"
#include "pipeline.h"
#include "report.h"
#include "tool.h"

static const char help[] =
    "usage: profs inspect --model DIR --edit FILE [--embeddings FILE] [--top N] [--json]\n"
    "\n"
    "Show an edit layer by layer: the rank, the singular values, the ScreeNOT\n"
    "threshold, and for every direction the tokens it promotes and suppresses\n"
    "when read through the model's unembedding (the paper's interpretability\n"
    "view). The sign of a direction is arbitrary (the estimator makes its largest\n"
    "component positive), so 'promotes' and 'suppresses' may be swapped; with\n"
    "--embeddings (the collector the edit was estimated from) every direction is\n"
    "oriented towards the dispreferred sentences, as in 'profs edit --report'.\n"
    "\n"
    "options:\n"
    "  --model DIR   the (unedited) model directory: unembedding and tokenizer.json\n"
    "  --edit FILE   edit file, or an edited model directory (its profs/edit.safetensors)\n"
    "  --embeddings FILE  collector file, to orient the directions\n"
    "  --top N       tokens per side (default 10, at most 64)\n"
    "  --json        print JSON instead of text\n"
    "\n"
    "exit status: 0 ok, 1 failure, 2 usage error\n";

int cmd_inspect(int argc, char **argv)
{
    const char *model = NULL, *editp = NULL, *emb = NULL;
    size_t top = 10;
    int as_json = 0;
    const struct tool_opt opts[] = {
        {"model", OPT_STRING, &model, 1, NULL},
        {"edit", OPT_STRING, &editp, 1, NULL},
        {"embeddings", OPT_STRING, &emb, 0, NULL},
        {"top", OPT_SIZE, &top, 0, NULL},
        {"json", OPT_FLAG, &as_json, 0, NULL},
    };
    int rc = tool_parse(argv[0], help, argc, argv, opts, sizeof opts / sizeof opts[0]);
    if (rc >= 0) return rc;
    if (top == 0 || top > 64) return tool_usage_error(argv[0], "--top must be between 1 and 64");
    if (!tool_is_dir(model)) {
        fprintf(stderr, "profs: --model '%s' is not a directory (expected a Hugging Face model directory)\n", model);
        return EXIT_FAIL;
    }
    profs_edit *edit = NULL;
    profs_model *m = NULL;
    profs_collector *col = NULL;
    struct tool_vocab v;
    memset(&v, 0, sizeof v);
    char err[1024];
    int status = EXIT_FAIL;
    json_t *layers = NULL;
    char edit_path[4096];
    if (tool_edit_locate(edit_path, sizeof edit_path, editp, err, sizeof err)) { fprintf(stderr, "profs: %s\n", err); goto out; }
    editp = edit_path;
    if ((rc = profs_edit_load(&edit, editp))) { tool_fail_lib(rc, editp); goto out; }
    if ((rc = profs_model_open(&m, model))) { tool_fail_lib(rc, model); goto out; }
    if (tool_vocab_load(&v, m, model, err, sizeof err)) { fprintf(stderr, "profs: %s\n", err); goto out; }
    if (v.dim != profs_edit_dim(edit)) {
        fprintf(stderr, "profs: %s has hidden size %zu but the edit %s has %zu\n", model, v.dim, editp,
                profs_edit_dim(edit));
        goto out;
    }
    if (emb) {
        if ((rc = profs_collector_load(&col, emb))) { tool_fail_lib(rc, emb); goto out; }
        if (profs_collector_dim(col) != v.dim) {
            fprintf(stderr, "profs: %s has hidden size %zu but the model has %zu\n", emb, profs_collector_dim(col), v.dim);
            goto out;
        }
    }
    layers = tool_edit_layers_json(edit);
    tool_vocab_annotate(layers, edit, &v, col, top);
    if (as_json) {
        json_t *o = json_pack("{s:s, s:s, s:b, s:O}", "model", model, "edit", editp, "directions_oriented", col != NULL,
                              "layers", layers);
        char *s = json_dumps(o, JSON_INDENT(2) | JSON_REAL_PRECISION(8));
        if (s) puts(s);
        free(s);
        json_decref(o);
    } else {
        printf("%s, read through the unembedding of %s: %zu layers, hidden size %zu\n", editp, model, profs_edit_count(edit), v.dim);
        size_t i;
        json_t *L;
        json_array_foreach(layers, i, L) {
            json_t *sv = json_object_get(L, "singular_values");
            double thr = json_number_value(json_object_get(L, "threshold"));
            printf("\nlayer %lld: rank %lld, threshold %s", (long long)json_integer_value(json_object_get(L, "layer")),
                   (long long)json_integer_value(json_object_get(L, "rank")), json_is_number(json_object_get(L, "threshold")) ? "" : "none (fixed rank)");
            if (json_is_number(json_object_get(L, "threshold"))) printf("%.4g", thr);
            printf("\n  singular values:");
            for (size_t k = 0; k < json_array_size(sv) && k < 12; k++) printf(" %.4g", json_number_value(json_array_get(sv, k)));
            if (json_array_size(sv) > 12) printf(" ... (%zu)", json_array_size(sv));
            printf("\n");
            size_t j;
            json_t *d;
            json_array_foreach(json_object_get(L, "directions"), j, d) {
                for (int side = 0; side < 2; side++) {
                    printf("  direction %zu %-10s", j + 1, side ? "suppresses" : "promotes");
                    size_t t;
                    json_t *tok;
                    json_array_foreach(json_object_get(d, side ? "suppresses" : "promotes"), t, tok)
                        printf(" '%s'", json_string_value(tok));
                    printf("\n");
                }
            }
        }
    }
    status = EXIT_OK;
out:
    json_decref(layers);
    profs_collector_free(col);
    tool_vocab_free(&v);
    profs_model_free(m);
    profs_edit_free(edit);
    return status;
}
