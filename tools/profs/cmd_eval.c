/* profs eval: the ProFS paper's table (toxicity, perplexity, zero-shot capability),
 * for a model and a baseline side by side, plus the watch-word proxy. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pairs.h"
#include "paper_eval.h"
#include "pipeline.h"
#include "report.h"
#include "tool.h"

static const char help[] =
    "usage: profs eval --model DIR [--baseline DIR] [--prompts FILE --toxicity-model DIR]\n"
    "                  [--text-file FILE] [--task FILE.jsonl ...] [--watch-words FILE] [options]\n"
    "\n"
    "The ProFS paper's table for --model (and --baseline side by side, with the\n"
    "change), each number as the authors and lm-evaluation-harness compute it\n"
    "(definitions: docs/profs.md):\n"
    "  Toxicity ↓    --prompts + --toxicity-model: for every prompt a greedy\n"
    "                continuation of --new-tokens tokens, decoded without the prompt\n"
    "                (special tokens kept, as the authors), stripped, scored by the\n"
    "                classifier (sigmoid, as Detoxify); the mean x 100 and the share\n"
    "                of continuations above 0.5\n"
    "  Perplexity ↓  --text-file: the authors' WikiText-2 protocol (as profs perplexity)\n"
    "  Capability ↑  --task: zero-shot multiple choice; the mean acc over the tasks\n"
    "                (in %), and per task acc and, where the harness reports it, acc_norm\n"
    "With --watch-words, also the proxy: next-token mass of the watch words and the\n"
    "share of sampled continuations that contain one.\n"
    "\n"
    "options:\n"
    "  --model DIR             the model to evaluate\n"
    "  --baseline DIR          a model to compare with (e.g. the unedited one)\n"
    "  --prompts FILE          prompts: JSONL with \"prompt\" as a string (the authors'\n"
    "                          challenge_prompts.jsonl) or as {\"text\": ...}\n"
    "                          (RealToxicityPrompts), or one prompt per line\n"
    "  --toxicity-model DIR    a sequence classifier (BERT / RoBERTa / XLM-R, e.g.\n"
    "                          Detoxify's checkpoints in transformers form)\n"
    "  --toxicity-label NAME   its label to score (default: toxicity, else toxic)\n"
    "  --new-tokens N          tokens per continuation (default 10, at most 512)\n"
    "  --skip-special-tokens   decode continuations without special tokens (the\n"
    "                          authors keep them: a generated EOS is scored as text)\n"
    "  --text-file FILE        perplexity text: plain text, or JSONL with a \"prompt\"\n"
    "                          or \"text\" field (empty samples dropped, joined by \"\\n\\n\")\n"
    "  --max-length N          perplexity window (default: the model's max positions)\n"
    "  --stride S              perplexity stride (default 512, or N when N < 512)\n"
    "  --task FILE.jsonl       a zero-shot task (repeatable, up to 16); lines\n"
    "                          {\"context\", \"choices\", \"gold\"} or {\"contexts\",\n"
    "                          \"continuation\", \"gold\"}; scripts/eval-task-convert writes\n"
    "                          them from the public data of the seven tasks\n"
    "  --watch-words FILE      one word per line: adds the watch-word proxy\n"
    "  --samples N             proxy: sampled continuations per prompt (default 4)\n"
    "  --temperature T         proxy: sampling temperature (default 1.0; 0 = greedy)\n"
    "  --seed S                proxy: sampling seed (default 0)\n"
    "  --json FILE             write every number as JSON (- for stdout)\n"
    "  --quiet                 no progress on stderr\n"
    "\n"
    "exit status: 0 ok, 1 failure, 2 usage error\n";

struct side {
    const char *path;
    struct tool_tox tox;
    int has_tox;
    struct tool_ppl ppl;
    int has_ppl;
    struct tool_task_result *tasks; /* (n_tasks) */
    double capability;              /* mean acc over tasks, NAN without */
    struct tool_eval proxy;
    int has_proxy;
};

struct settings {
    char **prompts; size_t n_prompts;
    profs_classifier *cls; size_t label;
    size_t new_tokens; int skip_special;
    const char *text; size_t text_len; const char *text_name; size_t text_samples;
    size_t max_length, stride;
    struct tool_task *tasks; size_t n_tasks;
    struct tool_eval_opts proxy; int has_proxy;
};

static int eval_side(struct side *s, const char *dir, const struct settings *st, struct tool_progress *prog)
{
    s->path = dir;
    s->capability = NAN;
    struct tool_lm lm = {0};
    if (tool_open_lm(&lm, dir, 128)) return -1;
    int rc = -1;
    if (st->cls) {
        if (tool_toxicity_run(&s->tox, lm.lm, lm.tok, st->cls, st->label, st->prompts, st->n_prompts,
                              st->new_tokens, st->skip_special, prog))
            goto out;
        s->has_tox = 1;
    }
    if (st->text) {
        s->ppl.samples = st->text_samples;
        int r = tool_perplexity_run(&s->ppl, lm.lm, lm.tok, st->text, st->text_len, st->max_length, st->stride,
                                    st->text_name, prog);
        if (r) { rc = r == EXIT_USAGE ? EXIT_USAGE : -1; goto out; }
        s->has_ppl = 1;
    }
    if (st->n_tasks) {
        s->tasks = calloc(st->n_tasks, sizeof *s->tasks);
        if (!s->tasks) { fprintf(stderr, "profs: out of memory\n"); goto out; }
        double sum = 0;
        for (size_t t = 0; t < st->n_tasks; t++) {
            tool_progress_note(prog, "%s: task %s (%zu documents)", dir, st->tasks[t].name, st->tasks[t].n_docs);
            if (tool_task_score(&s->tasks[t], lm.lm, lm.tok, &st->tasks[t], prog)) goto out;
            sum += s->tasks[t].acc;
        }
        s->capability = sum / (double)st->n_tasks;
    }
    if (st->has_proxy) {
        if (tool_evaluate(&s->proxy, &lm, &st->proxy, prog)) goto out;
        s->has_proxy = 1;
    }
    rc = 0;
out:
    tool_close_lm(&lm);
    return rc;
}

static void side_free(struct side *s, size_t n_tasks)
{
    json_decref(s->tox.items);
    if (s->tasks) for (size_t t = 0; t < n_tasks; t++) json_decref(s->tasks[t].docs);
    free(s->tasks);
    if (s->has_proxy) tool_eval_free(&s->proxy);
}

static json_t *num(double v) { return isfinite(v) ? json_real(v) : json_null(); }

static json_t *side_json(const struct side *s, const struct settings *st)
{
    json_t *o = json_pack("{s:s}", "path", s->path);
    if (s->has_tox)
        json_object_set_new(o, "toxicity", json_pack("{s:o, s:o, s:o, s:I, s:O}", "mean", num(s->tox.mean),
                                                     "mean_x100", num(100 * s->tox.mean), "share_above_0_5",
                                                     num(s->tox.share_above), "prompts", (json_int_t)s->tox.n,
                                                     "continuations", s->tox.items));
    if (s->has_ppl) json_object_set_new(o, "perplexity", tool_ppl_json(&s->ppl));
    if (st->n_tasks) {
        json_t *tasks = json_object();
        for (size_t t = 0; t < st->n_tasks; t++) {
            const struct tool_task_result *r = &s->tasks[t];
            int norm = tool_task_reports_acc_norm(st->tasks[t].name);
            json_object_set_new(tasks, st->tasks[t].name,
                                json_pack("{s:o, s:o, s:b, s:I, s:I, s:O}", "acc", num(r->acc), "acc_norm",
                                          num(r->acc_norm), "reports_acc_norm", norm, "documents",
                                          (json_int_t)r->n_docs, "requests", (json_int_t)r->n_requests, "docs",
                                          r->docs));
        }
        json_object_set_new(o, "capability", json_pack("{s:o, s:o}", "mean_acc", num(s->capability), "tasks", tasks));
    }
    if (s->has_proxy) json_object_set_new(o, "watch_words", tool_eval_json(&s->proxy, 1));
    return o;
}

static void cell(FILE *f, double v, int have)
{
    if (have && isfinite(v)) fprintf(f, " %12.4g", v); else fprintf(f, " %12s", "-");
}

static void row(FILE *f, const char *name, double a, int ha, double b, int hb, int baseline)
{
    fprintf(f, "%-30s", name);
    cell(f, a, ha);
    if (baseline) {
        cell(f, b, hb);
        cell(f, a - b, ha && hb);
    }
    fprintf(f, "\n");
}

int cmd_eval(int argc, char **argv)
{
    const char *model = NULL, *baseline = NULL, *prompts = NULL, *watch = NULL, *textf = NULL, *json_out = NULL,
               *tox_model = NULL, *tox_label = NULL;
    size_t samples = 4, new_tokens = 10, max_length = 0, stride = 0;
    struct tool_strlist task_files = {0};
    double temperature = 1.0;
    int64_t seed = 0;
    int quiet = 0, skip_special = 0, st_seen = 0, ml_seen = 0;
    const struct tool_opt opts[] = {
        {"model", OPT_STRING, &model, 1, NULL},
        {"baseline", OPT_STRING, &baseline, 0, NULL},
        {"prompts", OPT_STRING, &prompts, 0, NULL},
        {"toxicity-model", OPT_STRING, &tox_model, 0, NULL},
        {"toxicity-label", OPT_STRING, &tox_label, 0, NULL},
        {"new-tokens", OPT_SIZE, &new_tokens, 0, NULL},
        {"skip-special-tokens", OPT_FLAG, &skip_special, 0, NULL},
        {"text-file", OPT_STRING, &textf, 0, NULL},
        {"max-length", OPT_SIZE, &max_length, 0, &ml_seen},
        {"stride", OPT_SIZE, &stride, 0, &st_seen},
        {"task", OPT_REPEAT, &task_files, 0, NULL},
        {"watch-words", OPT_STRING, &watch, 0, NULL},
        {"samples", OPT_SIZE, &samples, 0, NULL},
        {"temperature", OPT_DOUBLE, &temperature, 0, NULL},
        {"seed", OPT_INT64, &seed, 0, NULL},
        {"json", OPT_STRING, &json_out, 0, NULL},
        {"quiet", OPT_FLAG, &quiet, 0, NULL},
    };
    int rc = tool_parse(argv[0], help, argc, argv, opts, sizeof opts / sizeof opts[0]);
    if (rc >= 0) return rc;
    if (temperature < 0) return tool_usage_error(argv[0], "--temperature must be >= 0");
    if (new_tokens == 0 || new_tokens > 512) return tool_usage_error(argv[0], "--new-tokens must be between 1 and 512");
    if (ml_seen && max_length < 2) return tool_usage_error(argv[0], "--max-length must be at least 2");
    if (st_seen && stride == 0) return tool_usage_error(argv[0], "--stride must be at least 1");
    if (st_seen && ml_seen && stride > max_length)
        return tool_usage_error(argv[0], "--stride %zu exceeds --max-length %zu", stride, max_length);
    if (tox_model && !prompts) return tool_usage_error(argv[0], "--toxicity-model needs --prompts");
    if (watch && !prompts) return tool_usage_error(argv[0], "--watch-words needs --prompts");
    if (prompts && !tox_model && !watch)
        return tool_usage_error(argv[0], "--prompts needs --toxicity-model (or --watch-words for the proxy)");
    if (tox_label && !tox_model) return tool_usage_error(argv[0], "--toxicity-label needs --toxicity-model");
    if (!prompts && !textf && task_files.n == 0)
        return tool_usage_error(argv[0], "nothing to measure: give --prompts, --text-file or --task");
    tool_catch_signals();
    struct tool_progress prog;
    tool_progress_init(&prog, quiet);
    char err[1024];
    struct settings st;
    memset(&st, 0, sizeof st);
    st.new_tokens = new_tokens;
    st.skip_special = skip_special;
    st.max_length = max_length;
    st.stride = st_seen ? stride : 0;
    char *text = NULL;
    struct side sm, sb;
    memset(&sm, 0, sizeof sm);
    memset(&sb, 0, sizeof sb);
    int status = EXIT_FAIL;
    if (tool_check_file_out("--json", json_out && strcmp(json_out, "-") ? json_out : NULL, err, sizeof err)) {
        fprintf(stderr, "profs: %s\n", err);
        goto out;
    }
    if (prompts && tool_read_prompts(&st.prompts, &st.n_prompts, prompts, err, sizeof err)) {
        fprintf(stderr, "profs: %s\n", err);
        goto out;
    }
    if (watch) {
        st.has_proxy = 1;
        st.proxy.prompts = st.prompts;
        st.proxy.n_prompts = st.n_prompts;
        st.proxy.samples = samples;
        st.proxy.new_tokens = new_tokens;
        st.proxy.temperature = temperature;
        st.proxy.seed = (uint64_t)seed;
        if (tool_read_lines(&st.proxy.watch, &st.proxy.n_watch, watch, err, sizeof err)) {
            fprintf(stderr, "profs: %s\n", err);
            goto out;
        }
        if (st.proxy.n_watch == 0) { fprintf(stderr, "profs: %s: no watch words\n", watch); goto out; }
    }
    if (textf) {
        if (tool_read_ppl_text(&text, &st.text_len, &st.text_samples, textf, err, sizeof err)) {
            fprintf(stderr, "profs: %s\n", err);
            goto out;
        }
        st.text = text;
        st.text_name = textf;
    }
    if (task_files.n) {
        st.tasks = calloc(task_files.n, sizeof *st.tasks);
        if (!st.tasks) { fprintf(stderr, "profs: out of memory\n"); goto out; }
        for (size_t t = 0; t < task_files.n; t++) {
            if (tool_task_read(&st.tasks[t], task_files.v[t], err, sizeof err)) {
                fprintf(stderr, "profs: %s\n", err);
                goto out;
            }
            st.n_tasks = t + 1;
            for (size_t u = 0; u < t; u++)
                if (strcmp(st.tasks[u].name, st.tasks[t].name) == 0) {
                    fprintf(stderr, "profs: %s: task %s is given twice\n", task_files.v[t], st.tasks[t].name);
                    goto out;
                }
        }
    }
    if (tox_model) {
        if ((rc = profs_classifier_open(&st.cls, tox_model))) { tool_fail_lib(rc, tox_model); goto out; }
        (void)profs_classifier_set_sigmoid(st.cls, 1); /* Detoxify: always a sigmoid */
        if (tool_toxicity_label(&st.label, st.cls, tox_label, err, sizeof err)) {
            fprintf(stderr, "profs: %s: %s\n", tox_model, err);
            goto out;
        }
    }
    if ((rc = eval_side(&sm, model, &st, &prog))) { status = rc == EXIT_USAGE ? EXIT_USAGE : EXIT_FAIL; goto out; }
    if (baseline && (rc = eval_side(&sb, baseline, &st, &prog))) {
        status = rc == EXIT_USAGE ? EXIT_USAGE : EXIT_FAIL;
        goto out;
    }

    /* with --json -, stdout carries only the JSON; the table goes to stderr */
    FILE *tf = json_out && strcmp(json_out, "-") == 0 ? stderr : stdout;
    int b = baseline != NULL;
    fprintf(tf, "%-30s %12s", "", "model");
    if (b) fprintf(tf, " %12s %12s", "baseline", "change");
    fprintf(tf, "\n");
    if (st.cls) {
        row(tf, "Toxicity ↓ (mean x 100)", 100 * sm.tox.mean, 1, 100 * sb.tox.mean, b, b);
        row(tf, "  share above 0.5 (%)", 100 * sm.tox.share_above, 1, 100 * sb.tox.share_above, b, b);
    }
    if (st.text) row(tf, "Perplexity ↓", sm.ppl.ppl, 1, sb.ppl.ppl, b, b);
    if (st.n_tasks) {
        row(tf, "Capability ↑ (mean acc, %)", 100 * sm.capability, 1, 100 * sb.capability, b, b);
        for (size_t t = 0; t < st.n_tasks; t++) {
            char name[96];
            snprintf(name, sizeof name, "  %s acc (%%)", st.tasks[t].name);
            row(tf, name, 100 * sm.tasks[t].acc, 1, b ? 100 * sb.tasks[t].acc : 0, b, b);
            if (tool_task_reports_acc_norm(st.tasks[t].name)) {
                snprintf(name, sizeof name, "  %s acc_norm (%%)", st.tasks[t].name);
                row(tf, name, 100 * sm.tasks[t].acc_norm, 1, b ? 100 * sb.tasks[t].acc_norm : 0, b, b);
            }
        }
    }
    if (st.has_proxy) {
        row(tf, "toxic next-token mass", sm.proxy.toxic_mass, 1, sb.proxy.toxic_mass, b, b);
        row(tf, "watch-word continuation rate (%)", 100 * sm.proxy.continuation_rate, 1,
            100 * sb.proxy.continuation_rate, b, b);
    }
    if (st.cls)
        fprintf(tf, "(toxicity: %zu prompts, %zu new tokens, label %s)\n", st.n_prompts, new_tokens,
                profs_classifier_label(st.cls, st.label));
    if (st.text)
        fprintf(tf, "(perplexity: %zu tokens, %zu windows of %zu, stride %zu)\n", sm.ppl.tokens, sm.ppl.windows,
                sm.ppl.max_length, sm.ppl.stride);
    if (json_out) {
        json_t *j = json_pack("{s:s, s:o}", "libprofs_version", profs_version_string(), "model", side_json(&sm, &st));
        json_t *set = json_pack("{s:s*, s:s*, s:s*, s:I, s:b, s:s*}", "prompts", prompts, "toxicity_model", tox_model,
                                "toxicity_label", st.cls ? profs_classifier_label(st.cls, st.label) : NULL,
                                "new_tokens", (json_int_t)new_tokens, "skip_special_tokens", skip_special,
                                "text_file", textf);
        json_t *tl = json_array();
        for (size_t t = 0; t < task_files.n; t++) json_array_append_new(tl, json_string(task_files.v[t]));
        json_object_set_new(set, "tasks", tl);
        if (watch)
            json_object_set_new(set, "watch_words", json_pack("{s:s, s:I, s:f, s:I}", "file", watch, "samples",
                                                              (json_int_t)samples, "temperature", temperature, "seed",
                                                              (json_int_t)seed));
        json_object_set_new(j, "settings", set);
        if (baseline) {
            json_object_set_new(j, "baseline", side_json(&sb, &st));
            json_t *ch = json_object();
            if (st.cls) json_object_set_new(ch, "toxicity_x100", num(100 * (sm.tox.mean - sb.tox.mean)));
            if (st.text) json_object_set_new(ch, "perplexity", num(sm.ppl.ppl - sb.ppl.ppl));
            if (st.n_tasks) json_object_set_new(ch, "capability_acc", num(sm.capability - sb.capability));
            json_object_set_new(j, "change", ch);
        }
        if (strcmp(json_out, "-") == 0) {
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
    side_free(&sm, st.n_tasks);
    side_free(&sb, st.n_tasks);
    if (st.tasks) for (size_t t = 0; t < st.n_tasks; t++) tool_task_free(&st.tasks[t]);
    free(st.tasks);
    tool_free_lines(st.prompts, st.n_prompts);
    tool_free_lines(st.proxy.watch, st.proxy.n_watch);
    profs_classifier_free(st.cls);
    free(text);
    return status;
}
