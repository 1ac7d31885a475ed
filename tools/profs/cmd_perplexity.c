/* profs perplexity: sliding-window perplexity of a text file with the built-in runtime. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "profs/profs.h"
#include "profs/tokenizer.h"
#include "paper_eval.h"
#include "pipeline.h"
#include "report.h"
#include "tool.h"
#include "util.h"

static const char help[] =
    "usage: profs perplexity --model DIR --text-file FILE [--max-length N] [--stride S] [--json FILE]\n"
    "\n"
    "Perplexity exactly as the ProFS authors compute it on WikiText-2: the text\n"
    "(a JSONL file: its \"prompt\" (else \"text\") fields, empty ones dropped, joined\n"
    "with \"\\n\\n\"; any other file: its whole text) is tokenised at once with the\n"
    "tokenizer's special tokens; windows of N tokens start every S tokens, each\n"
    "scores the tokens no earlier window scored, and the perplexity is exp of the\n"
    "mean of the windows' mean NLLs. The cost (tokens, windows) is printed first.\n"
    "profs eval --text-file runs the same function.\n"
    "\n"
    "options:\n"
    "  --model DIR        model directory (config.json, safetensors, tokenizer.json)\n"
    "  --text-file FILE   UTF-8 text, or JSONL with a \"prompt\" or \"text\" field\n"
    "  --max-length N     window length (default: the model's maximum positions)\n"
    "  --stride S         window step (default: 512, or N when N < 512); S > N is\n"
    "                     refused: tokens between windows would go unscored\n"
    "  --json FILE        also write the result as JSON (- for stdout only)\n"
    "  --quiet            no progress on stderr\n"
    "\n"
    "exit status: 0 ok, 1 failure, 2 usage error\n";

int cmd_perplexity(int argc, char **argv)
{
    const char *model = NULL, *file = NULL, *json_out = NULL;
    size_t max_length = 0, stride = 0;
    int quiet = 0, ml_seen = 0, st_seen = 0;
    const struct tool_opt opts[] = {
        {"model", OPT_STRING, &model, 1, NULL},
        {"text-file", OPT_STRING, &file, 1, NULL},
        {"max-length", OPT_SIZE, &max_length, 0, &ml_seen},
        {"stride", OPT_SIZE, &stride, 0, &st_seen},
        {"json", OPT_STRING, &json_out, 0, NULL},
        {"quiet", OPT_FLAG, &quiet, 0, NULL},
    };
    int rc = tool_parse(argv[0], help, argc, argv, opts, sizeof opts / sizeof opts[0]);
    if (rc >= 0) return rc;
    if (ml_seen && max_length < 2) return tool_usage_error(argv[0], "--max-length must be at least 2");
    if (st_seen && stride == 0) return tool_usage_error(argv[0], "--stride must be at least 1");
    if (st_seen && ml_seen && stride > max_length)
        return tool_usage_error(argv[0], "--stride %zu exceeds --max-length %zu", stride, max_length);
    char err[1024];
    if (tool_check_file_out("--json", json_out && strcmp(json_out, "-") ? json_out : NULL, err, sizeof err)) {
        fprintf(stderr, "profs: %s\n", err);
        return EXIT_FAIL;
    }
    char *text = NULL;
    size_t len = 0;
    struct tool_ppl r;
    memset(&r, 0, sizeof r);
    if (tool_read_ppl_text(&text, &len, &r.samples, file, err, sizeof err)) {
        fprintf(stderr, "profs: %s\n", err);
        return EXIT_FAIL;
    }
    profs_lm *lm = NULL;
    int status = EXIT_FAIL;
    struct tool_progress prog;
    tool_progress_init(&prog, quiet);
    tool_catch_signals();
    if ((rc = profs_lm_open(&lm, model))) { tool_fail_lib(rc, model); goto out; }
    const profs_tokenizer *tok = profs_lm_tokenizer(lm);
    if (!tok) { fprintf(stderr, "profs: %s: no tokenizer.json\n", model); goto out; }
    rc = tool_perplexity_run(&r, lm, tok, text, len, max_length, st_seen ? stride : 0, file, &prog);
    if (rc == EXIT_USAGE) { status = EXIT_USAGE; goto out; }
    if (rc) goto out;
    int json_only = json_out && strcmp(json_out, "-") == 0;
    if (!json_only)
        printf("perplexity: %.6f\nmean_nll: %.9f\ntokens: %zu\nwindows: %zu\nmax_length: %zu\nstride: %zu\n", r.ppl,
               r.mean_nll, r.tokens, r.windows, r.max_length, r.stride);
    if (json_out) {
        json_t *j = tool_ppl_json(&r);
        json_object_set_new(j, "text_file", json_string(file));
        json_object_set_new(j, "model", json_string(model));
        if (json_only) {
            char *s = json_dumps(j, JSON_INDENT(2) | JSON_REAL_PRECISION(17));
            if (s) puts(s);
            free(s);
        } else if (tool_json_write(json_out, j, err, sizeof err)) {
            fprintf(stderr, "profs: %s\n", err);
            json_decref(j);
            goto out;
        }
        json_decref(j);
    }
    status = EXIT_OK;
out:
    free(text);
    profs_lm_free(lm);
    return status;
}
