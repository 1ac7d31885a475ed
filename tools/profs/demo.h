/* The demo: bundled data and the generated model (see docs/demo.md). */
#ifndef PROFS_TOOL_DEMO_H
#define PROFS_TOOL_DEMO_H

#include <stddef.h>

#include "pairs.h"

struct demo_data {
    struct tool_pairs pairs;
    char **prompts; size_t n_prompts;
    char **neutral; size_t n_neutral;
    char **watch; size_t n_watch;
    char *pairs_path, *prompts_path, *neutral_path, *watch_path;
};

/* Read data/pairs.jsonl, prompts.txt, neutral.txt, watch_words.txt. 0 or -1 with err. */
int demo_data_load(struct demo_data *d, const char *data_dir, char *err, size_t errlen);
void demo_data_free(struct demo_data *d);
/* The demo data directory: given, else ./data, else the source or install location. */
const char *tool_demo_data_dir(const char *given);

/* Write the demo model (config.json, tokenizer.json, tokenizer_config.json,
 * generation_config.json, model.safetensors, README.md) into dir, which
 * must exist. Deterministic. 0 or -1 with err. */
int demo_write_model(const char *dir, const struct demo_data *d, size_t *vocab_size, char *err, size_t errlen);

#endif
