/* profs edit: the whole ProFS pipeline in one command. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "card.h"
#include "edit_checks.h"
#include "output.h"
#include "mpi_shard.h"
#include "pipeline.h"
#include "presets.h"
#include "report.h"
#include "tool.h"

static const char help[] =
    "usage: profs edit --model DIR --pairs FILE --out DIR [options]\n"
    "\n"
    "Edit a Hugging Face model directory with ProFS: collect the mean-pooled block\n"
    "outputs of every preference pair with the built-in runtime, estimate per layer\n"
    "the subspace in which dispreferred and preferred sentences differ (difference,\n"
    "centering, SVD, rank by ScreeNOT), and project it out of the MLP value\n"
    "matrices. --model may hold safetensors or PyTorch pytorch_model.bin files;\n"
    "the output is always safetensors. --out receives everything the source had\n"
    "(other weight files at its top level excepted), the edited weights,\n"
    "profs/edit.safetensors (the edit), profs_edit.json (provenance) and a README.md\n"
    "model card; it is built beside --out and renamed at the end, so a failure\n"
    "never leaves a partial directory. An edit in which every layer's rank is 0\n"
    "changes nothing and fails.\n"
    "\n"
    "options:\n"
    "  --model DIR               source model directory (config.json, safetensors, tokenizer.json)\n"
    "  --pairs FILE              preference pairs (JSONL, JSON, TSV, optionally gzip; - for stdin)\n"
    "  --out DIR                 output model directory (not the model directory or inside it)\n"
    "  --layers SPEC             0-based inclusive: A-B, A: (A to the last), A, all, or a comma\n"
    "                            list; default per architecture: gpt2 floor(10 L/24) to L-1\n"
    "                            (GPT-2 medium: 10-23), others floor(15 L/32) to L-1 (7B: 15-31)\n"
    "  --preset NAME             the authors' settings for a model of the paper (their\n"
    "                            configs/NAME.ini): gpt2-medium (rank 2, layers 10-23),\n"
    "                            mistral-7b, mistral-sft-7b (10, 15-31), opt-6.7b (10, 10-31),\n"
    "                            gptj-6b (10, 10-26); all with centering top-singular and\n"
    "                            --max-pairs 500; an explicit --rank, --layers, --centering or\n"
    "                            --max-pairs wins\n"
    "  --rank screenot|K         rank per layer: ScreeNOT (default) or a fixed K\n"
    "  --rank-max K              ScreeNOT upper bound k_max (default 10; lowered, with a\n"
    "                            note, to fit 2 k_max + 1 < min(pairs, hidden size))\n"
    "  --screenot-strategy S     impute (default), winsorize or zero\n"
    "  --centering C             mean (default, the paper), top-singular (the authors' code), none\n"
    "  --targets T               value (default: MLP output matrices), key, or both\n"
    "  --max-pairs N             use a seeded random subset of N pairs (0 = all, default)\n"
    "  --max-length T            tokens per sentence (default 128; longer ones are truncated)\n"
    "  --batch-tokens N          tokens computed per pass over the weights (default 8192;\n"
    "                            bounds activation memory; whole pairs per pass)\n"
    "  --no-prefix-sharing       run both sentences of a pair whole (by default the prefix of\n"
    "                            tokens they share, e.g. the prompt, is computed once: the\n"
    "                            embeddings are the same to float rounding)\n"
    "  --seed S                  seed of the --max-pairs subset (default 0)\n"
    TOOL_COMPUTE_HELP
    "  --save-embeddings FILE    also write the collected embeddings (safetensors)\n"
    "  --save-edit FILE          also write the edit file elsewhere (safetensors)\n"
    "  --report FILE.json        write a report (JSON) and FILE.html beside it\n"
    "  --top-tokens N            tokens per direction in the report's vocabulary view (default 8)\n"
    TOOL_PAIRS_FLAG_HELP
    "  --base-model ID           the Hub id for the card and provenance (default: ORG/NAME of a\n"
    "                            Hugging Face cache path, else config.json _name_or_path when\n"
    "                            it is a Hub id, else the directory name, with a warning)\n"
    "  --eval FILE.json          'profs eval --json' results (edited model vs --baseline) for\n"
    "                            the card's Evaluation table\n"
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
    const char *base_model = NULL, *preset = NULL, *eval_file = NULL, *compute = "f32";
    struct tool_pairs_flags pfl = {0};
    size_t rank_max = 0, max_pairs = 0, max_length = 128, top = 8, batch_tokens = 8192;
    int64_t seed = 0;
    int rank_max_given = 0, max_pairs_given = 0, force = 0, quiet = 0, no_share = 0, follow_links = 0;
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
        {"max-pairs", OPT_SIZE, &max_pairs, 0, &max_pairs_given},
        {"preset", OPT_STRING, &preset, 0, NULL},
        {"max-length", OPT_SIZE, &max_length, 0, NULL},
        {"batch-tokens", OPT_SIZE, &batch_tokens, 0, NULL},
        {"no-prefix-sharing", OPT_FLAG, &no_share, 0, NULL},
        {"seed", OPT_INT64, &seed, 0, NULL},
        {"compute", OPT_STRING, &compute, 0, NULL},
        {"save-embeddings", OPT_STRING, &save_emb, 0, NULL},
        {"save-edit", OPT_STRING, &save_edit, 0, NULL},
        {"report", OPT_STRING, &report, 0, NULL},
        {"top-tokens", OPT_SIZE, &top, 0, NULL},
        TOOL_PAIRS_FLAG_OPTS(pfl),
        {"base-model", OPT_STRING, &base_model, 0, NULL},
        {"eval", OPT_STRING, &eval_file, 0, NULL},
        {"force", OPT_FLAG, &force, 0, NULL},
        {"follow-outside-links", OPT_FLAG, &follow_links, 0, NULL},
        {"quiet", OPT_FLAG, &quiet, 0, NULL},
    };
    int rc = tool_parse(argv[0], help, argc, argv, opts, sizeof opts / sizeof opts[0]);
    if (rc >= 0) return rc;
    int compute_mode = tool_compute_parse(compute);
    if (compute_mode < 0) return tool_usage_error(argv[0], "--compute '%s' is not one of f32, bf16, int8", compute);
    char compute_kernel[64] = "";
    struct tool_preset_use pre = {0};
    if (preset && (rc = tool_preset_apply(&pre, argv[0], preset, &rank, &layers, &centering, &max_pairs,
                                          max_pairs_given)))
        return rc;
    char preset_line[512];
    tool_preset_describe(&pre, preset_line, sizeof preset_line);
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
    if (batch_tokens == 0) return tool_usage_error(argv[0], "--batch-tokens must be at least 1");
    if (top > 64) return tool_usage_error(argv[0], "--top-tokens: at most 64");
    struct tool_pairs_opts po;
    if ((rc = tool_pairs_flags_parse(argv[0], &pfl, 0, &po))) return rc;

    char err[1024];
    if (tool_check_out(model, out, force, err, sizeof err) || tool_check_file_out("report", report, err, sizeof err) ||
        tool_check_file_out("save-edit", save_edit, err, sizeof err) ||
        tool_check_file_out("save-embeddings", save_emb, err, sizeof err)) {
        fprintf(stderr, "profs: %s\n", err);
        return EXIT_FAIL;
    }
    json_t *evaluation = NULL;   /* checked now, not after the collection */
    if (eval_file && !(evaluation = tool_card_eval_load(eval_file, err, sizeof err))) {
        fprintf(stderr, "profs: %s\n", err);
        return EXIT_FAIL;
    }
    tool_catch_signals();
    struct tool_progress prog;
    tool_progress_init(&prog, quiet);
    if (pre.preset) tool_progress_note(&prog, "%s", preset_line);
    double t_start = tool_now();

    struct tool_pairs p;
    if (tool_pairs_read(&p, pairs, &po, err, sizeof err)) {
        fprintf(stderr, "profs: %s\n", err);
        json_decref(evaluation);
        return EXIT_FAIL;
    }
    tool_progress_note(&prog, "%s: %zu pairs, %s%s, layout %s (%s)", pairs, p.n, tool_pairs_format_name(p.format),
                       p.gzip ? " (gzip)" : "", tool_pairs_layout_name(p.layout), p.rule);
    if (p.skipped)
        tool_progress_note(&prog, "%s: skipped %zu bad line%s (first: %s)", pairs, p.skipped,
                           p.skipped == 1 ? "" : "s", p.first_bad);
    size_t n_read = p.n;
    tool_pairs_subsample(&p, max_pairs, (uint64_t)seed);
    if (max_pairs > n_read)
        tool_progress_note(&prog, "--max-pairs %zu%s: the file has %zu pairs; all are used", max_pairs,
                           pre.preset && !pre.overridden[3] ? " (from --preset)" : "", n_read);

    int status = EXIT_FAIL;
    struct tool_lm lm = {0};
    profs_collector *col = NULL;
    profs_edit *edit = NULL;
    profs_model *m = NULL;
    profs_edit_report *rep = NULL;
    size_t *lay = NULL, n_lay = 0;
    json_t *prov = NULL, *data = NULL, *layers_json = NULL;
    double t_collect = 0, t_est = 0, t_save = 0;

    if (tool_open_lm(&lm, model, max_length) || tool_set_compute(lm.lm, compute_mode)) goto out;
    snprintf(compute_kernel, sizeof compute_kernel, "%s", profs_lm_compute_kernel(lm.lm));
    if (compute_mode != PROFS_COMPUTE_F32) tool_progress_note(&prog, "compute: %s (%s)", compute, compute_kernel);
    lm.batch_tokens = batch_tokens;
    lm.no_prefix_sharing = no_share;
    if (tool_check_model_copy(model, follow_links)) goto out; /* a refused link stops before the long work */
    char model_id[512];
    if (base_model) snprintf(model_id, sizeof model_id, "%s", base_model);
    else if (tool_base_model(model_id, sizeof model_id, profs_lm_model(lm.lm), model))
        tool_progress_note(&prog, "warning: base model id '%s' is the directory name; give --base-model ORG/NAME "
                           "so that the model card names the Hub model", model_id);
    char arch[64]; /* copied: the runtime is closed before the edit is applied */
    snprintf(arch, sizeof arch, "%s", profs_lm_architecture(lm.lm));
    size_t L = profs_lm_n_layers(lm.lm), D = profs_lm_hidden_size(lm.lm);
    tool_progress_note(&prog, "%s: %s, %zu layers, hidden size %zu; %zu pairs", model, arch, L, D, p.n);
    if (est.layers_spec) { /* out-of-range layers stop before the long collection */
        size_t *chk = NULL, n_chk = 0;
        if (tool_parse_layers(&chk, &n_chk, est.layers_spec, L, err, sizeof err)) {
            fprintf(stderr, "profs: --layers %s%s%s\n", err, pre.preset && !pre.overridden[1] ? ", from --preset " : "",
                    pre.preset && !pre.overridden[1] ? pre.preset->name : "");
            goto out;
        }
        free(chk);
    }
    if (tool_check_pairs_for_rank(&est, p.n, D, &prog)) goto out;
    if (tool_collect(&col, &lm, &p, model_id, &prog, &t_collect)) goto out;
    if (tool_mpi_rank() > 0) { status = EXIT_OK; goto out; } /* MPI: rank 0 estimates and writes */
    uint64_t prefix_saved = lm.prefix_tokens_saved; /* the runtime is closed before the report */
    if (save_emb && (rc = profs_collector_save(col, save_emb))) { tool_fail_lib(rc, save_emb); goto out; }

    double t0 = tool_now();
    if (tool_estimate(&edit, &lay, &n_lay, &est, col, arch, &prog)) goto out;
    t_est = tool_now() - t0;
    if (tool_check_edit_not_empty(edit, &est)) goto out;
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
    json_object_set_new(prov, "source", json_pack("{s:s, s:s, s:I, s:I}", "name", tool_basename(model), "architecture", arch,
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
    json_object_set_new(settings, "compute", json_string(compute));
    json_object_set_new(settings, "compute_kernel", json_string(compute_kernel));
    if (pre.preset) json_object_set_new(settings, "preset", tool_preset_json(&pre));
    json_object_set_new(prov, "settings", settings);
    json_object_set(prov, "layers", layers_json);
    if (evaluation) json_object_set(prov, "evaluation", evaluation);

    /* the extra copy of the edit goes first: once --out is in place, nothing else can fail but the report */
    if (save_edit && (rc = profs_edit_save(edit, save_edit))) { tool_fail_lib(rc, save_edit); goto out; }
    if (tool_write_edited(m, edit, rep, model, out, force, prov, &prog, &t_save)) goto out;

    printf("edited %s -> %s (%s, %zu pairs)\n", model, out, arch, p.n);
    if (pre.preset) printf("  %s\n", preset_line);
    printf("  layer  rank  threshold\n");
    for (size_t i = 0; i < json_array_size(layers_json); i++) {
        json_t *Lj = json_array_get(layers_json, i);
        json_t *th = json_object_get(Lj, "threshold");
        char thr[32] = "-"; /* none for a fixed rank */
        if (json_is_number(th)) snprintf(thr, sizeof thr, "%.4g", json_number_value(th));
        printf("  %5lld  %4lld  %9s\n", (long long)json_integer_value(json_object_get(Lj, "layer")),
               (long long)json_integer_value(json_object_get(Lj, "rank")), thr);
    }
    char changed[160];
    tool_changed_summary(changed, sizeof changed, rep);
    printf("  %s; provenance in %s/profs_edit.json\n", changed, out);

    if (report) {
        json_t *r = json_deep_copy(prov);
        struct tool_vocab v;
        if (tool_vocab_load(&v, m, model, err, sizeof err) == 0) {
            tool_vocab_annotate(json_object_get(r, "layers"), edit, &v, col, top);
            json_object_set_new(r, "directions_oriented", json_true());
            tool_vocab_free(&v);
        } else tool_progress_note(&prog, "no vocabulary view: %s", err);
        json_object_set_new(r, "model", json_pack("{s:s, s:s, s:I, s:I}", "path", tool_basename(model), "architecture", arch,
                                                  "n_layers", (json_int_t)L, "hidden_size", (json_int_t)D));
        json_object_set_new(r, "output", json_pack("{s:s}", "dir", tool_basename(out)));
        json_object_set_new(r, "timings_s", json_pack("{s:f, s:f, s:f, s:f}", "collect", t_collect, "estimate", t_est,
                                                      "apply_and_save", t_save, "total", tool_now() - t_start));
        json_object_set_new(r, "peak_rss_bytes", json_integer((json_int_t)tool_peak_rss()));
        json_object_set_new(r, "prefix_sharing", json_boolean(!no_share));
        json_object_set_new(r, "prefix_tokens_saved", json_integer((json_int_t)prefix_saved));
        json_object_set_new(r, "processes", json_integer((json_int_t)tool_mpi_size()));
        rc = tool_report_write(r, report, err, sizeof err);
        json_decref(r);
        if (rc) { fprintf(stderr, "profs: %s (the edited model in %s is complete)\n", err, out); goto out; }
        char *html = tool_report_html_path(report);
        printf("  report: %s and %s\n", report, html ? html : "");
        free(html);
    }
    status = EXIT_OK;
out:
    json_decref(evaluation);
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
