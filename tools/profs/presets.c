/* Presets: one row per configuration of the authors' repository. Their
 * configs set, besides these, edit_values = True and edit_keys = False (our
 * default --targets value) and toxicity_task = True (the Lee et al. pairs);
 * layer ranges are np.arange(lowest_layer_to_edit, highest_layer_to_edit),
 * cut at the model's last layer (mistral-7b: arange(15, 33) on 32 layers). */
#include <stdio.h>
#include <string.h>

#include "presets.h"
#include "tool.h"

static const struct tool_preset presets[] = {
    /* name              rank  layers   centering       pairs */
    {"gpt2-medium",      "2",  "10-23", "top-singular", 500},  /* arange(10, 24) */
    {"mistral-7b",       "10", "15-31", "top-singular", 500},  /* arange(15, 33), 32 layers */
    {"mistral-sft-7b",   "10", "15-31", "top-singular", 500},  /* arange(15, 33), 32 layers */
    {"opt-6.7b",         "10", "10-31", "top-singular", 500},  /* arange(10, 33), 32 layers */
    {"gptj-6b",          "10", "10-26", "top-singular", 500},  /* arange(10, 27) */
};
#define N_PRESETS (sizeof presets / sizeof presets[0])

const struct tool_preset *tool_preset_find(const char *name)
{
    for (size_t i = 0; i < N_PRESETS; i++)
        if (strcmp(presets[i].name, name) == 0) return &presets[i];
    return NULL;
}

static const char *const setting_names[4] = {"rank", "layers", "centering", "max_pairs"};
static const char *const flag_names[4] = {"--rank", "--layers", "--centering", "--max-pairs"};

int tool_preset_apply(struct tool_preset_use *use, const char *cmd, const char *name, const char **rank,
                      const char **layers, const char **centering, size_t *max_pairs, int max_pairs_given)
{
    memset(use, 0, sizeof *use);
    const struct tool_preset *p = tool_preset_find(name);
    if (!p) {
        char names[256] = "";
        for (size_t i = 0; i < N_PRESETS; i++) {
            size_t u = strlen(names);
            snprintf(names + u, sizeof names - u, "%s%s", i ? ", " : "", presets[i].name);
        }
        return tool_usage_error(cmd, "--preset: '%s' is not one of %s", name, names);
    }
    use->preset = p;
    if (*rank) use->overridden[0] = 1; else *rank = p->rank;
    if (*layers) use->overridden[1] = 1; else *layers = p->layers;
    if (*centering) use->overridden[2] = 1; else *centering = p->centering;
    if (max_pairs_given) use->overridden[3] = 1; else *max_pairs = p->max_pairs;
    return 0;
}

void tool_preset_describe(const struct tool_preset_use *use, char *buf, size_t len)
{
    const struct tool_preset *p = use->preset;
    if (!p) { if (len) buf[0] = '\0'; return; }
    int n = snprintf(buf, len, "preset %s (the authors' configs/%s.ini): rank %s, layers %s, centering %s, %zu pairs",
                     p->name, p->name, p->rank, p->layers, p->centering, p->max_pairs);
    for (int i = 0, k = 0; i < 4; i++) {
        if (!use->overridden[i] || n < 0 || (size_t)n >= len) continue;
        n += snprintf(buf + n, len - (size_t)n, "%s%s", k++ ? ", " : "; overridden by ", flag_names[i]);
    }
}

json_t *tool_preset_json(const struct tool_preset_use *use)
{
    const struct tool_preset *p = use->preset;
    if (!p) return NULL;
    json_t *over = json_array();
    for (int i = 0; i < 4; i++)
        if (use->overridden[i]) json_array_append_new(over, json_string(setting_names[i]));
    char config[64];
    snprintf(config, sizeof config, "configs/%s.ini", p->name);
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:o}", "name", p->name, "config", config, "rank", p->rank,
                     "layers", p->layers, "centering", p->centering, "max_pairs", (json_int_t)p->max_pairs,
                     "overridden", over);
}
