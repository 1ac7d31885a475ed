/* profs edit: the whole ProFS pipeline in one command. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "output.h"
#include "pipeline.h"
#include "report.h"
#include "tool.h"

static const char help[] =
    "usage: profs edit --model DIR --pairs FILE --out DIR [options]\n"
    "\n"
    "Edit a Hugging Face model directory with ProFS: collect the mean-pooled block\n"
    "outputs of every preference pair with the built-in runtime, estimate per layer\n"
    "the subspace in which dispreferred and preferred sentences differ (difference,\n"
    "centering, SVD, rank by ScreeNOT), and project it out of the MLP value\n"
    "matrices. --out receives everything the source had, the edited weights,\n"
    "profs_edit.safetensors (the edit), profs_edit.json (provenance) and a README.md\n"
    "model card; it is built beside --out and renamed at the end, so a failure\n"
    "never leaves a partial directory.\n"
    "\n"
    "options:\n"
    "  --model DIR               source model directory (config.json, safetensors, tokenizer.json)\n"
    "  --pairs FILE              preference pairs: JSONL or TSV, optionally .gz\n"
    "  --out DIR                 output model directory (not the model directory or inside it)\n"
    "  --layers SPEC             0-based inclusive: A-B, A: (A to the last), A, all, or a comma\n"
    "                            list; default per architecture: gpt2 floor(10 L/24) to L-1\n"
    "                            (GPT-2 medium: 10-23), others floor(15 L/32) to L-1 (7B: 15-31)\n"
    "  --rank screenot|K         rank per layer: ScreeNOT (default) or a fixed K\n"
    "  --rank-max K              ScreeNOT upper bound k_max (default 10, lowered to fit\n"
    "                            2 k_max + 1 < min(pairs, hidden size) with few pairs)\n"
    "  --screenot-strategy S     impute (default), winsorize or zero\n"
    "  --centering C             mean (default, the paper), top-singular (the authors' code), none\n"
    "  --targets T               value (default: MLP output matrices), key, or both\n"
    "  --max-pairs N             use a seeded random subset of N pairs (0 = all, default)\n"
    "  --max-length T            tokens per sentence (default 128; longer ones are truncated)\n"
    "  --seed S                  seed of the --max-pairs subset (default 0)\n"
    "  --save-embeddings FILE    also write the collected embeddings (safetensors)\n"
    "  --save-edit FILE          also write the edit file elsewhere (safetensors)\n"
    "  --report FILE.json        write a report (JSON) and FILE.html beside it\n"
    "  --top-tokens N            tokens per direction in the report's vocabulary view (default 8)\n"
    "  --format F, --preferred-field NAME, --dispreferred-field NAME, --skip-bad-lines\n"
    "                            how to read the pair file (see 'profs help pairs')\n"
    "  --base-model ID           the model id for the card and provenance (default: config.json\n"
    "                            _name_or_path when it is a hub id, else the directory name)\n"
    "  --force                   replace an existing non-empty --out\n"
    "  --follow-outside-links    copy the targets of symbolic links that point outside the\n"
    "                            model directory (refused by default; links inside it and\n"
    "                            into a Hugging Face cache repository's blobs/ are followed)\n"
    "  --quiet                   no progress on stderr\n"
    "\n"
    "exit status: 0 ok, 1 failure (never a partial --out), 2 usage error\n";

int cmd_edit(int argc, char **argv)
{
    const char *model = NULL, *pairs = NULL, *out = NULL, *layers = NULL, *rank = NULL, *strategy = NULL;
    const char *centering = NULL, *targets_s = NULL, *save_emb = NULL, *save_edit = NULL, *report = NULL;
    const char *format = NULL, *pf = NULL, *df = NULL, *base_model = NULL;
    size_t rank_max = 0, max_pairs = 0, max_length = 128, top = 8;
    int64_t seed = 0;
    int rank_max_given = 0, skip = 0, force = 0, quiet = 0, follow_links = 0;
    const struct tool_opt opts[] = {
        {"model", OPT_STRING, &model, 1, NULL},
        {"pairs", OPT_STRING, &pairs, 1, NULL},
        {"out", OPT_STRING, &out, 1, NULL},
        {"layers", OPT_STRING, &layers, 0, NULL},
        {"rank", OPT_STRING, &rank, 0, NULL},
        {"rank-max", OPT_SIZE, &rank_max, 0, &rank_max_given},
        {"screenot-strategy", OPT_STRING, &strategy, 0, NULL},
        {"centering", OPT_STRING, &centering, 0, NULL},
        {"targets", OPT_STRING, &targets_s, 0, NULL},
        {"max-pairs", OPT_SIZE, &max_pairs, 0, NULL},
        {"max-length", OPT_SIZE, &max_length, 0, NULL},
        {"seed", OPT_INT64, &seed, 0, NULL},
        {"save-embeddings", OPT_STRING, &save_emb, 0, NULL},
        {"save-edit", OPT_STRING, &save_edit, 0, NULL},
        {"report", OPT_STRING, &report, 0, NULL},
        {"top-tokens", OPT_SIZE, &top, 0, NULL},
        {"format", OPT_STRING, &format, 0, NULL},
        {"preferred-field", OPT_STRING, &pf, 0, NULL},
        {"dispreferred-field", OPT_STRING, &df, 0, NULL},
        {"skip-bad-lines", OPT_FLAG, &skip, 0, NULL},
        {"base-model", OPT_STRING, &base_model, 0, NULL},
        {"force", OPT_FLAG, &force, 0, NULL},
        {"follow-outside-links", OPT_FLAG, &follow_links, 0, NULL},
        {"quiet", OPT_FLAG, &quiet, 0, NULL},
    };
    int rc = tool_parse(argv[0], help, argc, argv, opts, sizeof opts / sizeof opts[0]);
    if (rc >= 0) return rc;
    struct tool_est est;
    if ((rc = tool_est_parse(argv[0], &est, rank, rank_max, rank_max_given, strategy, centering, layers))) return rc;
    int targets = PROFS_TARGET_VALUE;
    if (targets_s) {
        if (strcmp(targets_s, "value") == 0) targets = PROFS_TARGET_VALUE;
        else if (strcmp(targets_s, "key") == 0) targets = PROFS_TARGET_KEY;
        else if (strcmp(targets_s, "both") == 0) targets = PROFS_TARGET_BOTH;
        else return tool_usage_error(argv[0], "--targets: '%s' is not one of value, key, both", targets_s);
    }
    if (max_length == 0) return tool_usage_error(argv[0], "--max-length must be at least 1");
    if (top > 64) return tool_usage_error(argv[0], "--top-tokens: at most 64");
    struct tool_pairs_opts po;
    if ((rc = tool_pairs_opts_parse(argv[0], format, pf, df, skip, 0, &po))) return rc;

    char err[1024];
    if (tool_check_out(model, out, force, err, sizeof err) || tool_check_file_out("report", report, err, sizeof err) ||
        tool_check_file_out("save-edit", save_edit, err, sizeof err) ||
        tool_check_file_out("save-embeddings", save_emb, err, sizeof err)) {
        fprintf(stderr, "profs: %s\n", err);
        return EXIT_FAIL;
    }
    tool_catch_signals();
    struct tool_progress prog;
    tool_progress_init(&prog, quiet);
    double t_start = tool_now();

    struct tool_pairs p;
    if (tool_pairs_read(&p, pairs, &po, err, sizeof err)) { fprintf(stderr, "profs: %s\n", err); return EXIT_FAIL; }
    if (p.skipped)
        tool_progress_note(&prog, "%s: skipped %zu bad line%s (first: line %zu: %s)", pairs, p.skipped,
                           p.skipped == 1 ? "" : "s", p.first_bad_line, p.first_bad);
    size_t n_read = p.n;
    tool_pairs_subsample(&p, max_pairs, (uint64_t)seed);

    int status = EXIT_FAIL;
    struct tool_lm lm = {0};
    profs_collector *col = NULL;
    profs_edit *edit = NULL;
    profs_model *m = NULL;
    profs_edit_report *rep = NULL;
    size_t *lay = NULL, n_lay = 0;
    json_t *prov = NULL, *data = NULL, *layers_json = NULL;
    double t_collect = 0, t_est = 0, t_save = 0;

    if (tool_open_lm(&lm, model, max_length)) goto out;
    if (tool_check_model_copy(model, follow_links)) goto out; /* a refused link stops before the long work */
    char model_id[512];
    if (base_model) snprintf(model_id, sizeof model_id, "%s", base_model);
    else tool_model_id(model_id, sizeof model_id, profs_lm_model(lm.lm), model);
    char arch[64]; /* copied: the runtime is closed before the edit is applied */
    snprintf(arch, sizeof arch, "%s", profs_lm_architecture(lm.lm));
    size_t L = profs_lm_n_layers(lm.lm), D = profs_lm_hidden_size(lm.lm);
    tool_progress_note(&prog, "%s: %s, %zu layers, hidden size %zu; %zu pairs", model, arch, L, D, p.n);
    if (est.layers_spec) { /* out-of-range layers stop before the long collection */
        size_t *chk = NULL, n_chk = 0;
        if (tool_parse_layers(&chk, &n_chk, est.layers_spec, L, err, sizeof err)) {
            fprintf(stderr, "profs: --layers %s\n", err);
            goto out;
        }
        free(chk);
    }
    if (tool_collect(&col, &lm, &p, model_id, &prog, &t_collect)) goto out;
    if (save_emb && (rc = profs_collector_save(col, save_emb))) { tool_fail_lib(rc, save_emb); goto out; }

    double t0 = tool_now();
    if (tool_estimate(&edit, &lay, &n_lay, &est, col, arch, &prog)) goto out;
    t_est = tool_now() - t0;
    profs_edit_set_architecture(edit, arch);
    profs_edit_set_model_id(edit, model_id);
    layers_json = tool_edit_layers_json(edit);

    /* apply through a fresh store (the runtime's is dropped first) */
    tool_close_lm(&lm);
    if ((rc = profs_model_open(&m, model))) { tool_fail_lib(rc, model); goto out; }
    profs_model_set_follow_outside_links(m, follow_links);
    if ((rc = profs_edit_apply(&rep, edit, m, targets))) { tool_fail_lib(rc, "applying the edit"); goto out; }

    prov = tool_provenance_new("profs edit", argc, argv);
    if (!(data = tool_data_json(pairs, &p, n_read, err, sizeof err))) { fprintf(stderr, "profs: %s\n", err); goto out; }
    json_object_set_new(prov, "base_model", json_string(model_id));
    json_object_set_new(prov, "source", json_pack("{s:s, s:s, s:I, s:I}", "path", model, "architecture", arch,
                                                  "n_layers", (json_int_t)L, "hidden_size", (json_int_t)D));
    json_object_set(prov, "data", data);
    json_t *settings = tool_est_json(&est, lay, n_lay);
    if (est.rank_rule == PROFS_RANK_SCREENOT)
        json_object_set_new(settings, "rank_max", json_integer((json_int_t)(est.rank_max_given ? est.rank_k
                                                  : tool_default_rank_max(p.n, D))));
    json_object_set_new(settings, "targets", json_string(tool_targets_name(targets)));
    json_object_set_new(settings, "max_pairs", json_integer((json_int_t)max_pairs));
    json_object_set_new(settings, "max_length", json_integer((json_int_t)max_length));
    json_object_set_new(settings, "seed", json_integer((json_int_t)seed));
    json_object_set_new(prov, "settings", settings);
    json_object_set(prov, "layers", layers_json);

    /* the extra copy of the edit goes first: once --out is in place, nothing else can fail but the report */
    if (save_edit && (rc = profs_edit_save(edit, save_edit))) { tool_fail_lib(rc, save_edit); goto out; }
    if (tool_write_edited(m, edit, rep, model, out, force, prov, &prog, &t_save)) goto out;

    printf("edited %s -> %s (%s, %zu pairs)\n", model, out, arch, p.n);
    printf("  layer  rank  threshold\n");
    for (size_t i = 0; i < json_array_size(layers_json); i++) {
        json_t *Lj = json_array_get(layers_json, i);
        json_t *th = json_object_get(Lj, "threshold");
        char thr[32] = "-"; /* none for a fixed rank */
        if (json_is_number(th)) snprintf(thr, sizeof thr, "%.4g", json_number_value(th));
        printf("  %5lld  %4lld  %9s\n", (long long)json_integer_value(json_object_get(Lj, "layer")),
               (long long)json_integer_value(json_object_get(Lj, "rank")), thr);
    }
    size_t changed = 0;
    for (size_t i = 0; i < profs_edit_report_count(rep); i++)
        changed += profs_edit_report_rank(rep, i) > 0;
    printf("  %zu tensors changed; provenance in %s/profs_edit.json\n", changed, out);

    if (report) {
        json_t *r = json_deep_copy(prov);
        struct tool_vocab v;
        if (tool_vocab_load(&v, m, model, err, sizeof err) == 0) {
            tool_vocab_annotate(json_object_get(r, "layers"), edit, &v, col, top);
            json_object_set_new(r, "directions_oriented", json_true());
            tool_vocab_free(&v);
        } else tool_progress_note(&prog, "no vocabulary view: %s", err);
        json_object_set_new(r, "model", json_pack("{s:s, s:s, s:I, s:I}", "path", model, "architecture", arch,
                                                  "n_layers", (json_int_t)L, "hidden_size", (json_int_t)D));
        json_object_set_new(r, "output", json_pack("{s:s}", "dir", out));
        json_object_set_new(r, "timings_s", json_pack("{s:f, s:f, s:f, s:f}", "collect", t_collect, "estimate", t_est,
                                                      "apply_and_save", t_save, "total", tool_now() - t_start));
        json_object_set_new(r, "peak_rss_bytes", json_integer((json_int_t)tool_peak_rss()));
        rc = tool_report_write(r, report, err, sizeof err);
        json_decref(r);
        if (rc) { fprintf(stderr, "profs: %s (the edited model in %s is complete)\n", err, out); goto out; }
        char *html = tool_report_html_path(report);
        printf("  report: %s and %s\n", report, html ? html : "");
        free(html);
    }
    status = EXIT_OK;
out:
    json_decref(prov);
    json_decref(data);
    json_decref(layers_json);
    profs_model_free(m);
    profs_edit_report_free(rep);
    profs_edit_free(edit);
    profs_collector_free(col);
    tool_close_lm(&lm);
    free(lay);
    tool_pairs_free(&p);
    return status;
}
