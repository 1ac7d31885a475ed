/* profs perplexity: sliding-window perplexity of a text file with the built-in runtime. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "profs/profs.h"
#include "profs/tokenizer.h"
#include "pipeline.h"
#include "tool.h"
#include "util.h"

static const char help[] =
    "usage: profs perplexity --model DIR --text-file FILE [--max-length N] [--stride S]\n"
    "\n"
    "Perplexity of the whole text file (tokenised at once, with the tokenizer's\n"
    "special tokens) computed as the transformers guide 'Perplexity of fixed-length\n"
    "models': windows of N tokens starting every S tokens, only the tokens not\n"
    "scored by an earlier window are targets. Prints perplexity, mean NLL and the\n"
    "token count.\n"
    "\n"
    "options:\n"
    "  --model DIR        model directory (config.json, safetensors, tokenizer.json)\n"
    "  --text-file FILE   UTF-8 text\n"
    "  --max-length N     window length (default: the model's maximum positions)\n"
    "  --stride S         window step (default: min(512, N))\n"
    "  --quiet            no progress on stderr\n"
    "\n"
    "exit status: 0 ok, 1 failure, 2 usage error\n";

int cmd_perplexity(int argc, char **argv)
{
    const char *model = NULL, *file = NULL;
    size_t max_length = 0, stride = 0;
    int quiet = 0, ml_seen = 0, st_seen = 0;
    const struct tool_opt opts[] = {
        {"model", OPT_STRING, &model, 1, NULL},
        {"text-file", OPT_STRING, &file, 1, NULL},
        {"max-length", OPT_SIZE, &max_length, 0, &ml_seen},
        {"stride", OPT_SIZE, &stride, 0, &st_seen},
        {"quiet", OPT_FLAG, &quiet, 0, NULL},
    };
    int rc = tool_parse(argv[0], help, argc, argv, opts, sizeof opts / sizeof opts[0]);
    if (rc >= 0) return rc;
    if (ml_seen && max_length < 2) return tool_usage_error(argv[0], "--max-length must be at least 2");
    if (st_seen && stride == 0) return tool_usage_error(argv[0], "--stride must be at least 1");
    if (st_seen && ml_seen && stride > max_length)
        return tool_usage_error(argv[0], "--stride %zu exceeds --max-length %zu", stride, max_length);
    FILE *f = fopen(file, "rb");
    if (!f) { fprintf(stderr, "profs: %s: cannot open: %s\n", file, strerror(errno)); return EXIT_FAIL; }
    size_t cap = 1 << 16, len = 0;
    char *text = malloc(cap);
    for (size_t k; text && (k = fread(text + len, 1, cap - len, f)) > 0;) {
        len += k;
        if (len == cap) { cap *= 2; char *t = realloc(text, cap); if (!t) { free(text); text = NULL; } else text = t; }
    }
    int read_err = ferror(f);
    fclose(f);
    if (!text) { fprintf(stderr, "profs: out of memory\n"); return EXIT_FAIL; }
    if (read_err) {
        fprintf(stderr, "profs: %s: read error\n", file);
        free(text);
        return EXIT_FAIL;
    }
    profs_lm *lm = NULL;
    int32_t *ids = NULL;
    int status = EXIT_FAIL;
    struct tool_progress prog;
    tool_progress_init(&prog, quiet);
    tool_catch_signals();
    if ((rc = profs_lm_open(&lm, model))) { tool_fail_lib(rc, model); goto out; }
    const profs_tokenizer *tok = profs_lm_tokenizer(lm);
    if (!tok) { fprintf(stderr, "profs: %s: no tokenizer.json\n", model); goto out; }
    size_t n = 0;
    if ((rc = tool_encode(tok, text, len, PROFS_ENCODE_ADD_SPECIAL, &ids, &n))) {
        tool_fail_lib(rc, file);
        goto out;
    }
    if (!ml_seen) max_length = profs_lm_max_positions(lm);
    if (!st_seen) stride = max_length < 512 ? max_length : 512;
    if (stride > max_length) {
        status = tool_usage_error(argv[0], "--stride %zu exceeds the max length %zu", stride, max_length);
        goto out;
    }
    double ppl, nll;
    rc = profs_lm_perplexity(lm, &ppl, &nll, ids, n, max_length, stride, tool_progress_cb, &prog);
    tool_progress_end(&prog);
    if (rc) { tool_fail_lib(rc, file); goto out; }
    printf("perplexity: %.6f\nmean_nll: %.9f\ntokens: %zu\nmax_length: %zu\nstride: %zu\n", ppl, nll, n, max_length,
           stride);
    status = EXIT_OK;
out:
    free(text);
    free(ids);
    profs_lm_free(lm);
    return status;
}
