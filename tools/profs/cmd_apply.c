/* profs apply: model + edit file -> edited model directory. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "output.h"
#include "pipeline.h"
#include "tool.h"

static const char help[] =
    "usage: profs apply --model DIR --edit FILE --out DIR [--targets value|key|both]\n"
    "                   [--base-model ID] [--force] [--follow-outside-links] [--quiet]\n"
    "\n"
    "Project an edit file's subspaces out of a model's MLP matrices and write the\n"
    "edited model directory: everything the source had, the edited weights, the\n"
    "edit file (profs/edit.safetensors), profs_edit.json and a README.md model\n"
    "card. Built beside --out and renamed at the end; a failure leaves nothing.\n"
    "An edit whose every layer has rank 0 changes nothing and is refused.\n"
    "\n"
    "options:\n"
    "  --model DIR     source model directory\n"
    "  --edit FILE     edit file (from 'profs estimate', 'profs edit --save-edit', or an\n"
    "                  edited model's profs/edit.safetensors), or an edited model directory\n"
    "  --out DIR       output model directory (not the model directory or inside it)\n"
    "  --targets T     value (default), key or both\n"
    "  --base-model ID the model id for the card and provenance (default: config.json\n"
    "                  _name_or_path when it is a hub id, else the directory name)\n"
    "  --force         replace an existing non-empty --out\n"
    "  --follow-outside-links\n"
    "                  copy the targets of symbolic links that point outside the model\n"
    "                  directory (refused by default; links inside it and into a Hugging\n"
    "                  Face cache repository's blobs/ are always followed)\n"
    "  --quiet         no progress on stderr\n"
    "\n"
    "exit status: 0 ok, 1 failure (nothing written), 2 usage error\n";

int cmd_apply(int argc, char **argv)
{
    const char *model = NULL, *editp = NULL, *out = NULL, *targets_s = NULL, *base_model = NULL;
    int force = 0, quiet = 0, follow_links = 0;
    const struct tool_opt opts[] = {
        {"model", OPT_STRING, &model, 1, NULL},
        {"edit", OPT_STRING, &editp, 1, NULL},
        {"out", OPT_STRING, &out, 1, NULL},
        {"targets", OPT_STRING, &targets_s, 0, NULL},
        {"base-model", OPT_STRING, &base_model, 0, NULL},
        {"force", OPT_FLAG, &force, 0, NULL},
        {"follow-outside-links", OPT_FLAG, &follow_links, 0, NULL},
        {"quiet", OPT_FLAG, &quiet, 0, NULL},
    };
    int rc = tool_parse(argv[0], help, argc, argv, opts, sizeof opts / sizeof opts[0]);
    if (rc >= 0) return rc;
    int targets = PROFS_TARGET_VALUE;
    if (targets_s) {
        if (strcmp(targets_s, "value") == 0) targets = PROFS_TARGET_VALUE;
        else if (strcmp(targets_s, "key") == 0) targets = PROFS_TARGET_KEY;
        else if (strcmp(targets_s, "both") == 0) targets = PROFS_TARGET_BOTH;
        else return tool_usage_error(argv[0], "--targets: '%s' is not one of value, key, both", targets_s);
    }
    char err[1024];
    if (tool_check_out(model, out, force, err, sizeof err)) { fprintf(stderr, "profs: %s\n", err); return EXIT_FAIL; }
    if (!tool_is_dir(model)) {
        fprintf(stderr, "profs: --model '%s' is not a directory (expected a Hugging Face model directory)\n", model);
        return EXIT_FAIL;
    }
    tool_catch_signals();
    struct tool_progress prog;
    tool_progress_init(&prog, quiet);
    profs_edit *edit = NULL;
    profs_model *m = NULL;
    profs_edit_report *rep = NULL;
    json_t *prov = NULL;
    int status = EXIT_FAIL;
    char edit_path[4096];
    if (tool_edit_locate(edit_path, sizeof edit_path, editp, err, sizeof err)) { fprintf(stderr, "profs: %s\n", err); goto out; }
    editp = edit_path;
    if ((rc = profs_edit_load(&edit, editp))) { tool_fail_lib(rc, editp); goto out; }
    size_t total_rank = 0;
    for (size_t i = 0; i < profs_edit_count(edit); i++) total_rank += profs_subspace_rank(profs_edit_get(edit, profs_edit_layer_at(edit, i)));
    if (total_rank == 0) {
        fprintf(stderr, "profs: %s: every layer's rank is 0, so the edit would change nothing; nothing written "
                        "(estimate it again with --rank K, or from more pairs)\n", editp);
        goto out;
    }
    if ((rc = profs_model_open(&m, model))) { tool_fail_lib(rc, model); goto out; }
    profs_model_set_follow_outside_links(m, follow_links);
    if ((rc = profs_model_check_save(m))) { tool_fail_lib(rc, model); goto out; } /* before the projection */
    if ((rc = profs_edit_apply(&rep, edit, m, targets))) { tool_fail_lib(rc, "applying the edit"); goto out; }
    char id[512];
    if (base_model) snprintf(id, sizeof id, "%s", base_model);
    else if (tool_base_model(id, sizeof id, m, model))
        tool_progress_note(&prog, "warning: base model id '%s' is the directory name; give --base-model ORG/NAME "
                           "so that the model card names the Hub model", id);
    prov = tool_provenance_new("profs apply", argc, argv);
    json_object_set_new(prov, "base_model", json_string(id));
    int64_t nl = 0, hs = 0;
    if (profs_model_config_int(m, "num_hidden_layers", &nl)) (void)profs_model_config_int(m, "n_layer", &nl);
    hs = (int64_t)profs_edit_dim(edit);
    json_object_set_new(prov, "source", json_pack("{s:s, s:s, s:I, s:I}", "name", tool_basename(model),
                        "architecture", profs_edit_report_architecture(rep), "n_layers", (json_int_t)nl,
                        "hidden_size", (json_int_t)hs));
    char edit_hex[65] = "";
    if (tool_sha256_file(editp, edit_hex, NULL)) { fprintf(stderr, "profs: %s: cannot read to hash it\n", editp); goto out; }
    json_object_set_new(prov, "data", json_pack("{s:s, s:s, s:I}", "edit_file", tool_basename(editp), "edit_file_sha256", edit_hex,
                        "n_pairs", (json_int_t)(profs_edit_count(edit) ? profs_subspace_n_pairs(
                            profs_edit_get(edit, profs_edit_layer_at(edit, 0))) : 0)));
    json_t *settings = json_object();
    char spec[1024];
    size_t lays[4096], n = 0;
    for (size_t i = 0; i < profs_edit_count(edit) && n < 4096; i++) lays[n++] = profs_edit_layer_at(edit, i);
    tool_format_layers(spec, sizeof spec, lays, n);
    json_object_set_new(settings, "layers", json_string(spec));
    json_object_set_new(settings, "rank", json_string("from the edit file"));
    json_object_set_new(settings, "targets", json_string(tool_targets_name(targets)));
    json_object_set_new(prov, "settings", settings);
    json_object_set_new(prov, "layers", tool_edit_layers_json(edit));
    if (tool_write_edited(m, edit, rep, model, out, force, prov, &prog, NULL)) goto out;
    char changed[160];
    tool_changed_summary(changed, sizeof changed, rep);
    printf("applied %s to %s -> %s (%s)\n", editp, model, out, changed);
    status = EXIT_OK;
out:
    json_decref(prov);
    profs_model_free(m);
    profs_edit_report_free(rep);
    profs_edit_free(edit);
    return status;
}
