/* Edited model directories and their provenance (profs_edit.json). */
#ifndef PROFS_TOOL_OUTPUT_H
#define PROFS_TOOL_OUTPUT_H

#include <jansson.h>

#include "pairs.h"
#include "profs/profs.h"
#include "util.h"

/* Where an edited model directory keeps its edit (exact); never at the top
 * level, where a "*.safetensors" glob would load it as weights. */
#define TOOL_EDIT_DIR "profs"
#define TOOL_EDIT_FILE "profs/edit.safetensors"
/* Where edited directories written before kept it (read, never written). */
#define TOOL_EDIT_FILE_OLD "profs_edit.safetensors"

/* The edit file an --edit argument names: the file itself, or in an edited
 * model directory profs/edit.safetensors (else the older top-level
 * profs_edit.safetensors). 0, or -1 with err. */
int tool_edit_locate(char *buf, size_t len, const char *arg, char *err, size_t errlen);

/* A new provenance object: format, method, tool, command line, version, time. */
json_t *tool_provenance_new(const char *command, int argc, char **argv);
/* The "data" object: file, SHA-256, size, pair counts, format, fields. NULL with err. */
json_t *tool_data_json(const char *path, const struct tool_pairs *p, size_t n_read, char *err, size_t errlen);
/* The tensors an applied edit changed (complete after profs_model_save). */
json_t *tool_tensors_json(const profs_edit_report *rep);
/* "N tensors changed", with "(M expert matrices)" when slices of fused expert tensors are among them. */
void tool_changed_summary(char *buf, size_t n, const profs_edit_report *rep);
/* Warn on stderr, naming each tensor of a float dtype that holds NaN or Inf
 * (one pass over the weights at memory speed, pages released as it goes;
 * progress stage "check"). Returns the number of such tensors, or -1 when
 * interrupted. */
int tool_warn_nonfinite(const profs_model *m, struct tool_progress *prog);
/* Open the model directory and check that it can be copied under the link
 * policy (profs_model_check_save); prints the error. 0 or -1. */
int tool_check_model_copy(const char *dir, int follow_links);
/* Save the staged model into out (atomically) with profs/edit.safetensors,
 * profs_edit.json (prov, completed with tensors_changed, edit_file and
 * edit_sha256) and README.md. Prints errors; returns 0 or -1 (nothing left behind then). */
int tool_write_edited(profs_model *m, const profs_edit *edit, profs_edit_report *rep, const char *src_dir,
                      const char *out, int force, json_t *prov, struct tool_progress *prog, double *seconds);

#endif
