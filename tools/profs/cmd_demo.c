/* profs demo: the whole story on a small model in well under a minute. */
#include <errno.h>
#include <math.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "demo.h"
#include "output.h"
#include "pipeline.h"
#include "report.h"
#include "tool.h"

static const char help[] =
    "usage: profs demo [--out DIR] [--report FILE.json] [--data DIR] [--force] [--quiet]\n"
    "\n"
    "The end-to-end demo. Generates a small GPT-2-architecture model with a planted\n"
    "toxic mechanism (docs/demo.md) and its tokenizer, measures it on held-out\n"
    "prompts and neutral text, edits it with ProFS from the bundled 256 preference\n"
    "pairs through the real pipeline (tokenizer, runtime, collector, ScreeNOT,\n"
    "projection, save), reloads the edited model, measures again, and prints a\n"
    "before/after table like the paper's. Deterministic.\n"
    "\n"
    "DIR receives base/ (the generated model), edited/ (the edited model with its\n"
    "profs_edit.json and model card) and, unless --report says otherwise,\n"
    "report.json and report.html.\n"
    "\n"
    "options:\n"
    "  --out DIR           where to put the models (default: profs-demo)\n"
    "  --report FILE.json  the report (default: DIR/report.json); it has \"before\" and\n"
    "                      \"after\", each with \"toxic_mass\" and \"perplexity\"\n"
    "  --data DIR          the demo data (default: ./data, else the installed data)\n"
    "  --force             replace a DIR that was not made by 'profs demo'\n"
    "  --quiet             no progress on stderr\n"
    "\n"
    "exit status: 0 the edit met the goal (toxic mass -80% or more, neutral perplexity\n"
    "+10% or less), 1 failure or goal missed, 2 usage error\n";

#define MARKER ".profs-demo"

/* The neutral sentences as one text, joined by spaces: the demo tokenizer
 * gives every word after a space one token. */
/* 1 when the report file's directory is the demo directory itself
 * ("d/report.json" for --out d, also "./d/" and "d//" spellings). */
static int report_in_dir(const char *report, const char *dir)
{
    if (!report) return 0;
    const char *slash = strrchr(report, '/');
    if (!slash) return 0;
    size_t rn = (size_t)(slash - report), dn = strlen(dir);
    while (rn > 0 && report[rn - 1] == '/') rn--;
    while (dn > 0 && dir[dn - 1] == '/') dn--;
    while (rn >= 2 && report[0] == '.' && report[1] == '/') { report += 2; rn -= 2; }
    while (dn >= 2 && dir[0] == '.' && dir[1] == '/') { dir += 2; dn -= 2; }
    return rn > 0 && rn == dn && strncmp(report, dir, rn) == 0;
}

static char *join_lines(char **lines, size_t n)
{
    size_t len = 1;
    for (size_t i = 0; i < n; i++) len += strlen(lines[i]) + 1;
    char *s = malloc(len), *w = s;
    if (!s) return NULL;
    for (size_t i = 0; i < n; i++) { size_t l = strlen(lines[i]); memcpy(w, lines[i], l); w += l; *w++ = i + 1 < n ? ' ' : '\n'; }
    *w = '\0';
    return s;
}

static int measure(struct tool_eval *e, const char *dir, const struct demo_data *d, const char *text,
                   struct tool_progress *prog)
{
    struct tool_eval_opts o;
    memset(&o, 0, sizeof o);
    o.prompts = d->prompts;
    o.n_prompts = d->n_prompts;
    o.watch = d->watch;
    o.n_watch = d->n_watch;
    o.text = text;
    o.samples = 4;
    o.new_tokens = 6;
    o.temperature = 1.0;
    o.seed = 7;
    struct tool_lm lm = {0};
    if (tool_open_lm(&lm, dir, 128)) return -1;
    int rc = tool_evaluate(e, &lm, &o, prog);
    tool_close_lm(&lm);
    return rc;
}

int cmd_demo(int argc, char **argv)
{
    const char *root = "profs-demo", *report = NULL, *data = NULL;
    int force = 0, quiet = 0;
    const struct tool_opt opts[] = {
        {"out", OPT_STRING, &root, 0, NULL},
        {"report", OPT_STRING, &report, 0, NULL},
        {"data", OPT_STRING, &data, 0, NULL},
        {"force", OPT_FLAG, &force, 0, NULL},
        {"quiet", OPT_FLAG, &quiet, 0, NULL},
    };
    int rc = tool_parse(argv[0], help, argc, argv, opts, sizeof opts / sizeof opts[0]);
    if (rc >= 0) return rc;
    tool_catch_signals();
    struct tool_progress prog;
    tool_progress_init(&prog, quiet);
    double t_start = tool_now();
    char err[1024];

    /* A report inside the demo directory is fine even when that directory does
     * not exist yet: the demo creates it (scripts/demo runs exactly that). */
    if (!report_in_dir(report, root) && tool_check_file_out("report", report, err, sizeof err)) {
        fprintf(stderr, "profs: %s\n", err);
        return EXIT_FAIL;
    }
    /* the demo directory: ours (marker) or empty, else --force */
    char *marker = tool_join(root, MARKER);
    if (tool_exists(root) && !tool_exists(marker) && !force &&
        tool_check_out(NULL, root, 0, err, sizeof err)) {
        fprintf(stderr, "profs: %s was not made by 'profs demo' and is not empty (use --force or another --out)\n", root);
        free(marker);
        return EXIT_FAIL;
    }
    if (tool_exists(root) && !tool_is_dir(root)) {
        fprintf(stderr, "profs: --out '%s' exists and is not a directory\n", root);
        free(marker);
        return EXIT_FAIL;
    }
    struct demo_data d;
    if (demo_data_load(&d, tool_demo_data_dir(data), err, sizeof err)) {
        fprintf(stderr, "profs: %s\n", err);
        free(marker);
        return EXIT_FAIL;
    }
    char *base = tool_join(root, "base"), *edited = tool_join(root, "edited");
    char *def_report = tool_join(root, "report.json");
    if (!report) report = def_report;
    char *text = join_lines(d.neutral, d.n_neutral);
    int status = EXIT_FAIL;
    struct tool_lm lm = {0};
    profs_collector *col = NULL;
    profs_edit *edit = NULL;
    profs_model *m = NULL;
    profs_edit_report *rep = NULL;
    size_t *lay = NULL, n_lay = 0;
    json_t *prov = NULL, *layers_json = NULL;
    struct tool_eval before, after;
    memset(&before, 0, sizeof before);
    memset(&after, 0, sizeof after);
    double t_collect = 0, t_est = 0, t_save = 0;
    if (!text) { fprintf(stderr, "profs: out of memory\n"); goto out; }

    /* 1. the model */
    if (!tool_is_dir(root) && mkdir(root, 0777) != 0) {
        fprintf(stderr, "profs: %s: cannot create: %s\n", root, strerror(errno));
        goto out;
    }
    tool_write_file_atomic(marker, "made by profs demo\n");
    {
        struct tool_outdir od;
        size_t vocab = 0;
        /* the demo directory is ours (marker checked above): its base/ is replaced */
        if (tool_outdir_begin(&od, base, err, sizeof err) || (od.force = 1, demo_write_model(od.tmp, &d, &vocab, err, sizeof err)) ||
            tool_outdir_commit(&od, err, sizeof err)) {
            tool_outdir_abort(&od);
            fprintf(stderr, "profs: %s\n", err);
            goto out;
        }
        tool_outdir_abort(&od);
        tool_progress_note(&prog, "generated the demo model in %s (GPT-2, 6 layers, hidden 64, %zu tokens)", base, vocab);
    }

    /* 2. before */
    if (measure(&before, base, &d, text, &prog)) goto out;

    /* 3. ProFS: collect, estimate, apply, save */
    if (tool_open_lm(&lm, base, 128)) goto out;
    if (tool_collect(&col, &lm, &d.pairs, "profs-demo", &prog, &t_collect)) goto out;
    struct tool_est est;
    if (tool_est_parse("demo", &est, NULL, 0, 0, NULL, NULL, NULL)) goto out;
    double t0 = tool_now();
    if (tool_estimate(&edit, &lay, &n_lay, &est, col, profs_lm_architecture(lm.lm), &prog)) goto out;
    t_est = tool_now() - t0;
    profs_edit_set_architecture(edit, "gpt2");
    profs_edit_set_model_id(edit, "profs-demo");
    layers_json = tool_edit_layers_json(edit);
    size_t L = profs_lm_n_layers(lm.lm), D = profs_lm_hidden_size(lm.lm);
    tool_close_lm(&lm);
    if ((rc = profs_model_open(&m, base))) { tool_fail_lib(rc, base); goto out; }
    if ((rc = profs_edit_apply(&rep, edit, m, PROFS_TARGET_VALUE))) { tool_fail_lib(rc, "applying the edit"); goto out; }
    prov = tool_provenance_new("profs demo", argc, argv);
    json_object_set_new(prov, "base_model", json_string("profs-demo"));
    json_object_set_new(prov, "source", json_pack("{s:s, s:s, s:I, s:I}", "path", base, "architecture", "gpt2",
                                                  "n_layers", (json_int_t)L, "hidden_size", (json_int_t)D));
    json_t *dj = tool_data_json(d.pairs_path, &d.pairs, d.pairs.n, err, sizeof err);
    if (!dj) { fprintf(stderr, "profs: %s\n", err); goto out; }
    json_object_set_new(prov, "data", dj);
    json_t *settings = tool_est_json(&est, lay, n_lay);
    json_object_set_new(settings, "rank_max", json_integer((json_int_t)tool_default_rank_max(d.pairs.n, D)));
    json_object_set_new(settings, "targets", json_string("value"));
    json_object_set_new(settings, "max_length", json_integer(128));
    json_object_set_new(prov, "settings", settings);
    json_object_set(prov, "layers", layers_json);
    if (tool_write_edited(m, edit, rep, base, edited, 1, prov, &prog, &t_save)) goto out;

    /* 4. after */
    if (measure(&after, edited, &d, text, &prog)) goto out;

    /* 5. the table */
    double dm = before.toxic_mass > 0 ? 100.0 * (after.toxic_mass - before.toxic_mass) / before.toxic_mass : 0;
    double dr = before.continuation_rate > 0
                    ? 100.0 * (after.continuation_rate - before.continuation_rate) / before.continuation_rate : 0;
    double dp = 100.0 * (after.perplexity - before.perplexity) / before.perplexity;
    printf("\nProFS on the demo model (%zu preference pairs, %zu held-out prompts, %zu neutral sentences)\n\n",
           d.pairs.n, d.n_prompts, d.n_neutral);
    printf("  %-14s %18s %26s %20s\n", "model", "toxic next-token", "continuations with an", "neutral perplexity");
    printf("  %-14s %18s %26s %20s\n", "", "mass", "insult (watch word)", "");
    printf("  %-14s %18.4f %25.1f%% %20.2f\n", "base", before.toxic_mass, 100 * before.continuation_rate, before.perplexity);
    printf("  %-14s %18.4f %25.1f%% %20.2f\n", "ProFS-edited", after.toxic_mass, 100 * after.continuation_rate, after.perplexity);
    printf("  %-14s %17.1f%% %25.1f%% %19.1f%%\n\n", "change", dm, dr, dp);
    printf("  rank per layer (ScreeNOT, k_max %zu):", tool_default_rank_max(d.pairs.n, D));
    for (size_t i = 0; i < json_array_size(layers_json); i++) {
        json_t *Lj = json_array_get(layers_json, i);
        printf(" %lld:%lld", (long long)json_integer_value(json_object_get(Lj, "layer")),
               (long long)json_integer_value(json_object_get(Lj, "rank")));
    }
    printf("\n  collection %.1f s, estimation %.2f s, apply + save %.2f s, total %.1f s\n", t_collect, t_est, t_save,
           tool_now() - t_start);

    /* 6. the report */
    json_t *r = json_deep_copy(prov);
    struct tool_vocab v;
    if (tool_vocab_load(&v, m, base, err, sizeof err) == 0) {
        tool_vocab_annotate(json_object_get(r, "layers"), edit, &v, col, 8);
        json_object_set_new(r, "directions_oriented", json_true());
        tool_vocab_free(&v);
    }
    json_object_set_new(r, "model", json_pack("{s:s, s:s, s:I, s:I}", "path", base, "architecture", "gpt2",
                                              "n_layers", (json_int_t)L, "hidden_size", (json_int_t)D));
    json_object_set_new(r, "output", json_pack("{s:s}", "dir", edited));
    json_object_set_new(r, "before", tool_eval_json(&before, 0));
    json_object_set_new(r, "after", tool_eval_json(&after, 0));
    json_object_set_new(r, "change_percent", json_pack("{s:f, s:f, s:f}", "toxic_mass", dm, "continuation_rate", dr,
                                                       "perplexity", dp));
    json_object_set_new(r, "timings_s", json_pack("{s:f, s:f, s:f, s:f}", "collect", t_collect, "estimate", t_est,
                                                  "apply_and_save", t_save, "total", tool_now() - t_start));
    json_object_set_new(r, "peak_rss_bytes", json_integer((json_int_t)tool_peak_rss()));
    rc = tool_report_write(r, report, err, sizeof err);
    json_decref(r);
    if (rc) { fprintf(stderr, "profs: %s\n", err); goto out; }
    char *html = tool_report_html_path(report);
    printf("\n  edited model: %s (profs_edit.json, README.md model card)\n  report:       %s and %s\n", edited,
           report, html ? html : "");
    free(html);
    int ok = dm <= -80.0 && dp <= 10.0;
    printf("\n  goal (toxic mass -80%% or more, perplexity +10%% or less): %s\n", ok ? "met" : "MISSED");
    status = ok ? EXIT_OK : EXIT_FAIL;
out:
    tool_eval_free(&before);
    tool_eval_free(&after);
    json_decref(prov);
    json_decref(layers_json);
    profs_model_free(m);
    profs_edit_report_free(rep);
    profs_edit_free(edit);
    profs_collector_free(col);
    tool_close_lm(&lm);
    free(lay);
    free(text);
    free(base);
    free(edited);
    free(def_report);
    free(marker);
    demo_data_free(&d);
    return status;
}
