/* profs classify: label probabilities of texts with an encoder sequence classifier. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pairs.h"
#include "paper_eval.h"
#include "report.h"
#include "tool.h"

static const char help[] =
    "usage: profs classify --model DIR (--text STRING | --text-file FILE) [--label NAME]\n"
    "                      [--sigmoid] [--max-length N] [--json FILE]\n"
    "\n"
    "Probabilities of a sequence classifier (BertForSequenceClassification,\n"
    "RobertaForSequenceClassification, XLMRobertaForSequenceClassification, e.g.\n"
    "Detoxify's checkpoints in transformers form) for each text, computed as\n"
    "transformers does: the tokenizer's template ([CLS] ... [SEP] or <s> ... </s>),\n"
    "truncated to the tokenizer's model_max_length, the logits, then a sigmoid per\n"
    "label (problem_type multi_label_classification, or one label) or a softmax.\n"
    "Prints one line per text: each label's probability, tab-separated, under a\n"
    "header line naming the labels; the text itself is the last column.\n"
    "\n"
    "options:\n"
    "  --model DIR        classifier directory (config.json, safetensors, tokenizer.json)\n"
    "  --text STRING      a text (repeatable, up to 16)\n"
    "  --text-file FILE   texts: JSONL with a \"text\" or \"prompt\" field, or one per line\n"
    "  --label NAME       print only this label's probability\n"
    "  --sigmoid          a sigmoid for every label whatever the config says (Detoxify)\n"
    "  --max-length N     truncation length in tokens (default: model_max_length)\n"
    "  --json FILE        write the results as JSON (- for stdout only)\n"
    "  --quiet            no progress on stderr\n"
    "\n"
    "exit status: 0 ok, 1 failure, 2 usage error\n";

int cmd_classify(int argc, char **argv)
{
    const char *model = NULL, *file = NULL, *label = NULL, *json_out = NULL;
    struct tool_strlist texts = {0};
    size_t max_length = 0;
    int sigmoid = 0, quiet = 0, ml_seen = 0;
    const struct tool_opt opts[] = {
        {"model", OPT_STRING, &model, 1, NULL},
        {"text", OPT_REPEAT, &texts, 0, NULL},
        {"text-file", OPT_STRING, &file, 0, NULL},
        {"label", OPT_STRING, &label, 0, NULL},
        {"sigmoid", OPT_FLAG, &sigmoid, 0, NULL},
        {"max-length", OPT_SIZE, &max_length, 0, &ml_seen},
        {"json", OPT_STRING, &json_out, 0, NULL},
        {"quiet", OPT_FLAG, &quiet, 0, NULL},
    };
    int rc = tool_parse(argv[0], help, argc, argv, opts, sizeof opts / sizeof opts[0]);
    if (rc >= 0) return rc;
    if (!texts.n == !file) return tool_usage_error(argv[0], "give --text or --text-file (one of them)");
    char err[1024];
    if (tool_check_file_out("--json", json_out && strcmp(json_out, "-") ? json_out : NULL, err, sizeof err)) {
        fprintf(stderr, "profs: %s\n", err);
        return EXIT_FAIL;
    }
    char **lines = NULL;
    size_t n = 0;
    if (file && tool_read_prompts(&lines, &n, file, err, sizeof err)) {
        fprintf(stderr, "profs: %s\n", err);
        return EXIT_FAIL;
    }
    const char *const *tv = file ? (const char *const *)lines : texts.v;
    if (!file) n = texts.n;
    profs_classifier *c = NULL;
    float *probs = NULL;
    int status = EXIT_FAIL;
    struct tool_progress prog;
    tool_progress_init(&prog, quiet);
    tool_catch_signals();
    if ((rc = profs_classifier_open(&c, model))) { tool_fail_lib(rc, model); goto out; }
    if (sigmoid) (void)profs_classifier_set_sigmoid(c, 1);
    if (ml_seen && (rc = profs_classifier_set_max_length(c, max_length))) {
        status = tool_usage_error(argv[0], "--max-length: %s", profs_last_error());
        goto out;
    }
    size_t L = profs_classifier_n_labels(c), only = 0;
    if (label && profs_classifier_label_index(c, label, &only)) {
        fprintf(stderr, "profs: %s: no label '%s' (labels:", model, label);
        for (size_t i = 0; i < L; i++) fprintf(stderr, " %s", profs_classifier_label(c, i));
        fprintf(stderr, ")\n");
        goto out;
    }
    if (!(probs = malloc(n * L * sizeof *probs))) { fprintf(stderr, "profs: out of memory\n"); goto out; }
    rc = profs_classifier_classify(c, probs, tv, n, tool_progress_cb, &prog);
    tool_progress_end(&prog);
    if (rc) { tool_fail_lib(rc, file ? file : "classify"); goto out; }
    int json_only = json_out && strcmp(json_out, "-") == 0;
    if (!json_only) {
        for (size_t j = 0; j < L; j++)
            if (!label || j == only) printf("%s\t", profs_classifier_label(c, j));
        printf("text\n");
        for (size_t i = 0; i < n; i++) {
            for (size_t j = 0; j < L; j++)
                if (!label || j == only) printf("%.6f\t", probs[i * L + j]);
            for (const char *p = tv[i]; *p; p++) putchar(*p == '\n' || *p == '\t' ? ' ' : *p);
            putchar('\n');
        }
    }
    if (json_out) {
        json_t *labels = json_array(), *res = json_array();
        for (size_t j = 0; j < L; j++) json_array_append_new(labels, json_string(profs_classifier_label(c, j)));
        for (size_t i = 0; i < n; i++) {
            json_t *p = json_object();
            for (size_t j = 0; j < L; j++)
                if (!label || j == only) json_object_set_new(p, profs_classifier_label(c, j), json_real(probs[i * L + j]));
            json_array_append_new(res, json_pack("{s:s, s:o}", "text", tv[i], "probabilities", p));
        }
        json_t *j = json_pack("{s:s, s:s, s:o, s:s, s:I, s:o}", "model", model, "architecture",
                              profs_classifier_architecture(c), "labels", labels, "activation",
                              profs_classifier_uses_sigmoid(c) ? "sigmoid" : "softmax", "max_length",
                              (json_int_t)profs_classifier_max_length(c), "results", res);
        if (json_only) {
            char *s = json_dumps(j, JSON_INDENT(2) | JSON_REAL_PRECISION(9));
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
    free(probs);
    profs_classifier_free(c);
    if (lines) tool_free_lines(lines, n);
    return status;
}
