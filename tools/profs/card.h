/* The README.md model card of an edited model directory, shaped like the
 * published ProFS cards (Uppaal/Mistral-ProFS-safety): YAML front matter
 * (base_model as a Hub id, library_name, license when the source's card or
 * config.json gives one, tags profs / model-editing / the behaviour), then Model Details, How to
 * use, Editing details, Evaluation, Files and Citation. Only file names and
 * SHA-256 digests, never local paths. */
#ifndef PROFS_TOOL_CARD_H
#define PROFS_TOOL_CARD_H

#include <jansson.h>
#include <stddef.h>

/* Write out_dir/README.md from the provenance object (the content of
 * profs_edit.json; its "evaluation", when present, from tool_card_eval_load).
 * src_dir is the source model: its README.md front matter may give a license,
 * and its weight files say whether they were converted. 0 or -1 with err. */
int tool_model_card_write(const char *out_dir, const char *src_dir, const json_t *prov, char *err, size_t errlen);

/* Read what 'profs eval --json' wrote: an object with "model" (the edited
 * model's numbers) and optionally "baseline" (the base model's). Keys that are
 * not numbers, or unknown, are kept out of the table, never an error, so
 * later eval versions stay readable. Returns {"file", "sha256", "after": {..},
 * "before": {..} (when a baseline was evaluated), "settings": {..} (scalars,
 * paths reduced to file names)}, or NULL with err. */
json_t *tool_card_eval_load(const char *path, char *err, size_t errlen);

#endif
