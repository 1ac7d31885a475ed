/* The paper's settings as presets for 'profs edit --preset NAME': what the
 * authors' configs/NAME.ini (github.com/Uppaal/detox-edit) set. */
#ifndef PROFS_TOOL_PRESETS_H
#define PROFS_TOOL_PRESETS_H

#include <stddef.h>

#include <jansson.h>

struct tool_preset {
    const char *name;       /* the authors' config name */
    const char *rank;       /* top_k_ranks (a fixed rank) */
    const char *layers;     /* np.arange(lowest, highest) as 0-based inclusive layers of the model */
    const char *centering;  /* centering = True: their top-singular-vector centering */
    size_t max_pairs;       /* pref_data_dps */
};

/* A preset as applied: which of its settings explicit flags overrode. */
struct tool_preset_use {
    const struct tool_preset *preset;   /* NULL: no --preset */
    int overridden[4];                  /* rank, layers, centering, max_pairs */
};

/* The preset named name, or NULL. */
const struct tool_preset *tool_preset_find(const char *name);
/* Apply preset name to the settings an explicit flag has not set (a NULL
 * string; *max_pairs when !max_pairs_given), filling use. Returns 0 or a
 * usage exit status (message printed, naming the presets). */
int tool_preset_apply(struct tool_preset_use *use, const char *cmd, const char *name, const char **rank,
                      const char **layers, const char **centering, size_t *max_pairs, int max_pairs_given);
/* One line describing the preset as applied ("" without one). */
void tool_preset_describe(const struct tool_preset_use *use, char *buf, size_t len);
/* The record for provenance, {name, config, rank, layers, centering,
 * max_pairs, overridden: [...]}, or NULL without a preset. */
json_t *tool_preset_json(const struct tool_preset_use *use);

#endif
