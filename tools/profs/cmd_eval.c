/* profs eval: watch-word probability mass, sampled continuations, perplexity. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pairs.h"
#include "pipeline.h"
#include "report.h"
#include "tool.h"

static const char help[] =
    "usage: profs eval --model DIR [--baseline DIR] --prompts FILE --watch-words FILE\n"
    "                  [--text-file FILE] [options]\n"
    "\n"
    "Measure what ProFS is meant to change, and what it should not:\n"
    "  toxic mass   for each prompt, the next-token probability of the watch-word\n"
    "               tokens (the first token of \" word\" and of \"word\"), averaged\n"
    "  continuation share of sampled continuations that contain a watch word\n"
    "  rate         (whole word, case-insensitive)\n"
    "  perplexity   of the text file (sliding window over the model's context)\n"
    "With --baseline, the same numbers for the baseline model side by side. A\n"
    "toxicity classifier is outside a C library: this is the measurable proxy,\n"
    "and --json gives every continuation for external evaluators.\n"
    "\n"
    "options:\n"
    "  --model DIR          the model to evaluate\n"
    "  --baseline DIR       a model to compare with (e.g. the unedited one)\n"
    "  --prompts FILE       one prompt per line (optionally .gz)\n"
    "  --watch-words FILE   one word per line\n"
    "  --text-file FILE     neutral text for perplexity\n"
    "  --samples N          continuations per prompt (default 4; 0 = none)\n"
    "  --new-tokens N       tokens per continuation (default 8, at most 512)\n"
    "  --temperature T      sampling temperature (default 1.0; 0 = greedy)\n"
    "  --seed S             sampling seed (default 0)\n"
    "  --max-length T       tokens per prompt (default 128)\n"
    "  --json FILE          write the results as JSON (- for stdout)\n"
    "  --quiet              no progress on stderr\n"
    "\n"
    "exit status: 0 ok, 1 failure, 2 usage error\n";

static int eval_one(struct tool_eval *e, const char *dir, const struct tool_eval_opts *o, size_t max_length,
                    struct tool_progress *prog)
{
    struct tool_lm lm = {0};
    if (tool_open_lm(&lm, dir, max_length)) return -1;
    int rc = tool_evaluate(e, &lm, o, prog);
    tool_close_lm(&lm);
    return rc;
}

static void fmt(char *b, size_t n, double v)
{
    if (isfinite(v)) snprintf(b, n, "%.4g", v); else snprintf(b, n, "-");
}

int cmd_eval(int argc, char **argv)
{
    const char *model = NULL, *baseline = NULL, *prompts = NULL, *watch = NULL, *textf = NULL, *json_out = NULL;
    size_t samples = 4, new_tokens = 8, max_length = 128;
    double temperature = 1.0;
    int64_t seed = 0;
    int quiet = 0;
    const struct tool_opt opts[] = {
        {"model", OPT_STRING, &model, 1, NULL},
        {"baseline", OPT_STRING, &baseline, 0, NULL},
        {"prompts", OPT_STRING, &prompts, 1, NULL},
        {"watch-words", OPT_STRING, &watch, 1, NULL},
        {"text-file", OPT_STRING, &textf, 0, NULL},
        {"samples", OPT_SIZE, &samples, 0, NULL},
        {"new-tokens", OPT_SIZE, &new_tokens, 0, NULL},
        {"temperature", OPT_DOUBLE, &temperature, 0, NULL},
        {"seed", OPT_INT64, &seed, 0, NULL},
        {"max-length", OPT_SIZE, &max_length, 0, NULL},
        {"json", OPT_STRING, &json_out, 0, NULL},
        {"quiet", OPT_FLAG, &quiet, 0, NULL},
    };
    int rc = tool_parse(argv[0], help, argc, argv, opts, sizeof opts / sizeof opts[0]);
    if (rc >= 0) return rc;
    if (temperature < 0) return tool_usage_error(argv[0], "--temperature must be >= 0");
    if (samples > 0 && (new_tokens == 0 || new_tokens > 512))
        return tool_usage_error(argv[0], "--new-tokens must be between 1 and 512");
    if (max_length == 0) return tool_usage_error(argv[0], "--max-length must be at least 1");
    tool_catch_signals();
    struct tool_progress prog;
    tool_progress_init(&prog, quiet);
    char err[1024];
    struct tool_eval_opts o;
    memset(&o, 0, sizeof o);
    o.samples = samples;
    o.new_tokens = new_tokens;
    o.temperature = temperature;
    o.seed = (uint64_t)seed;
    char *text = NULL;
    struct tool_eval em, eb;
    memset(&em, 0, sizeof em);
    memset(&eb, 0, sizeof eb);
    int status = EXIT_FAIL;
    if (tool_read_lines(&o.prompts, &o.n_prompts, prompts, err, sizeof err) ||
        tool_read_lines(&o.watch, &o.n_watch, watch, err, sizeof err)) {
        fprintf(stderr, "profs: %s\n", err);
        goto out;
    }
    if (o.n_prompts == 0) { fprintf(stderr, "profs: %s: no prompts\n", prompts); goto out; }
    if (o.n_watch == 0) { fprintf(stderr, "profs: %s: no watch words\n", watch); goto out; }
    if (textf) {
        if (!(text = tool_read_text(textf, NULL))) { fprintf(stderr, "profs: %s: cannot read\n", textf); goto out; }
        o.text = text;
        o.text_name = textf;
    }
    if (eval_one(&em, model, &o, max_length, &prog)) goto out;
    if (baseline && eval_one(&eb, baseline, &o, max_length, &prog)) goto out;

    char a[32], b[32];
    /* with --json -, stdout carries only the JSON; the table goes to stderr */
    FILE *tf = json_out && strcmp(json_out, "-") == 0 ? stderr : stdout;
    fprintf(tf, "%-28s %12s%s\n", "", "model", baseline ? "     baseline" : "");
    static const char *const names[] = {"toxic next-token mass", "watch-word continuation rate", "perplexity"};
    double mv[3] = {em.toxic_mass, em.continuation_rate, em.perplexity};
    double bv[3] = {eb.toxic_mass, eb.continuation_rate, eb.perplexity};
    for (int i = 0; i < 3; i++) {
        fmt(a, sizeof a, i == 1 ? 100 * mv[i] : mv[i]); /* the rate (a share) in percent */
        fmt(b, sizeof b, i == 1 ? 100 * bv[i] : bv[i]);
        if (i == 1 && isfinite(mv[i])) strcat(a, "%");
        if (i == 1 && isfinite(bv[i])) strcat(b, "%");
        fprintf(tf, "%-28s %12s", names[i], a);
        if (baseline) fprintf(tf, " %12s", b);
        fprintf(tf, "\n");
    }
    fprintf(tf, "(%zu prompts, %zu watch words = %zu tokens, %zu continuations of %zu tokens per prompt)\n", o.n_prompts,
           o.n_watch, em.n_watch_tokens, samples, new_tokens);
    if (json_out) {
        json_t *j = json_pack("{s:s, s:o, s:{s:s, s:s, s:s*, s:I, s:I, s:f, s:I}}", "libprofs_version",
                              profs_version_string(), "model", tool_eval_json(&em, 1), "settings", "prompts", prompts,
                              "watch_words", watch, "text_file", textf, "samples", (json_int_t)samples,
                              "new_tokens", (json_int_t)new_tokens, "temperature", temperature, "seed", (json_int_t)seed);
        json_object_set_new(json_object_get(j, "model"), "path", json_string(model));
        if (baseline) {
            json_object_set_new(j, "baseline", tool_eval_json(&eb, 1));
            json_object_set_new(json_object_get(j, "baseline"), "path", json_string(baseline));
        }
        if (strcmp(json_out, "-") == 0) {
            char *s = json_dumps(j, JSON_INDENT(2) | JSON_REAL_PRECISION(8));
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
    tool_eval_free(&em);
    tool_eval_free(&eb);
    tool_free_lines(o.prompts, o.n_prompts);
    tool_free_lines(o.watch, o.n_watch);
    free(text);
    return status;
}
