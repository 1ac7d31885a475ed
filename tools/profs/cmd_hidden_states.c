/* profs hidden-states: the runtime's hidden states of one text or id list, as safetensors. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "profs/profs.h"
#include "tool.h"
#include "util.h"

static const char help[] =
    "usage: profs hidden-states --model DIR (--text STRING | --ids 1,2,3) --out FILE.safetensors\n"
    "\n"
    "Run one sequence through the model's built-in runtime and write its hidden\n"
    "states: tensor hidden_states F32 [L+1, T, D] (entry 0 the embedding output,\n"
    "entry l the raw output of block l-1, with NO final norm on the last entry,\n"
    "unlike transformers' output_hidden_states) and input_ids I32 [T].\n"
    "\n"
    "options:\n"
    "  --model DIR               model directory (config.json, safetensors, tokenizer.json\n"
    "                            for --text)\n"
    "  --text STRING             text, tokenised with the tokenizer's special tokens (BOS\n"
    "                            where it adds one)\n"
    "  --ids LIST                comma-separated token ids, used as given (no BOS added)\n"
    "  --out FILE                output safetensors file\n"
    TOOL_COMPUTE_HELP
    "\n"
    "exit status: 0 ok, 1 failure, 2 usage error\n";

static int parse_ids(const char *s, int32_t **ids, size_t *n)
{
    size_t cap = 1;
    for (const char *p = s; *p; p++) cap += *p == ',';
    int32_t *v = malloc(cap * sizeof *v);
    if (!v) return -1;
    size_t k = 0;
    const char *p = s;
    while (*p) {
        char *end;
        errno = 0;
        long x = strtol(p, &end, 10);
        if (end == p || errno || x < 0 || x > INT32_MAX || (*end && *end != ',')) { free(v); return -1; }
        v[k++] = (int32_t)x;
        p = *end ? end + 1 : end;
        if (*end == ',' && !*p) { free(v); return -1; }
    }
    if (!k) { free(v); return -1; }
    *ids = v;
    *n = k;
    return 0;
}

int cmd_hidden_states(int argc, char **argv)
{
    const char *model = NULL, *text = NULL, *ids_s = NULL, *out = NULL, *compute = "f32";
    const struct tool_opt opts[] = {
        {"model", OPT_STRING, &model, 1, NULL},
        {"text", OPT_STRING, &text, 0, NULL},
        {"ids", OPT_STRING, &ids_s, 0, NULL},
        {"out", OPT_STRING, &out, 1, NULL},
        {"compute", OPT_STRING, &compute, 0, NULL},
    };
    int rc = tool_parse(argv[0], help, argc, argv, opts, sizeof opts / sizeof opts[0]);
    if (rc >= 0) return rc;
    if (!text == !ids_s) return tool_usage_error(argv[0], "give exactly one of --text and --ids");
    int mode = tool_compute_parse(compute);
    if (mode < 0) return tool_usage_error(argv[0], "--compute '%s' is not one of f32, bf16, int8", compute);
    int32_t *ids = NULL;
    size_t n = 0;
    if (ids_s && parse_ids(ids_s, &ids, &n))
        return tool_usage_error(argv[0], "--ids '%s' is not a comma-separated list of token ids", ids_s);
    profs_lm *lm = NULL;
    float *hs = NULL;
    int status = EXIT_FAIL;
    if ((rc = profs_lm_open(&lm, model))) { tool_fail_lib(rc, model); goto out; }
    if (tool_set_compute(lm, mode)) goto out;
    if (text) {
        if ((rc = profs_lm_set_max_length(lm, profs_lm_max_positions(lm)))) { tool_fail_lib(rc, "options"); goto out; }
        size_t cap = profs_lm_max_positions(lm);
        ids = malloc(cap * sizeof *ids);
        if (!ids) { fprintf(stderr, "profs: out of memory\n"); goto out; }
        if ((rc = profs_lm_tokenize(lm, ids, cap, &n, text))) { tool_fail_lib(rc, "tokenizing --text"); goto out; }
        if (n == 0) { fprintf(stderr, "profs: --text has no tokens\n"); goto out; }
    }
    size_t L = profs_lm_n_layers(lm), D = profs_lm_hidden_size(lm);
    hs = malloc((L + 1) * n * D * sizeof *hs);
    if (!hs) { fprintf(stderr, "profs: out of memory\n"); goto out; }
    if ((rc = profs_lm_hidden_states(lm, hs, ids, n))) { tool_fail_lib(rc, "forward"); goto out; }
    const char *names[] = {"hidden_states", "input_ids"};
    int dtypes[] = {PROFS_DTYPE_F32, PROFS_DTYPE_I32};
    size_t ndims[] = {3, 1};
    int64_t s0[] = {(int64_t)(L + 1), (int64_t)n, (int64_t)D}, s1[] = {(int64_t)n};
    const int64_t *shapes[] = {s0, s1};
    const void *data[] = {hs, ids};
    const char *mk[] = {"format", "producer", "architecture", "convention"};
    char producer[64];
    snprintf(producer, sizeof producer, "profs %s", profs_version_string());
    const char *mv[] = {"pt", producer, profs_lm_architecture(lm),
                        "entry 0: embedding output; entry l: raw output of block l-1 (no final norm)"};
    if ((rc = profs_safetensors_write(out, 2, names, dtypes, ndims, shapes, data, 4, mk, mv))) {
        tool_fail_lib(rc, out);
        goto out;
    }
    printf("wrote %s: hidden_states [%zu, %zu, %zu], input_ids [%zu]\n", out, L + 1, n, D, n);
    status = EXIT_OK;
out:
    free(hs);
    free(ids);
    profs_lm_free(lm);
    return status;
}
