/* Record layouts of preference data: which published format a record
 * follows, and how its two sentences are built (see pairs.h for the list). */
#ifndef PROFS_TOOL_PAIRS_LAYOUT_H
#define PROFS_TOOL_PAIRS_LAYOUT_H

#include <stddef.h>

#include <jansson.h>

#include "pairs.h"

enum pairs_layout_id {
    LAYOUT_FIELDS = 0, LAYOUT_PKU, LAYOUT_CONVERSATION, LAYOUT_PROMPT_REPLY, LAYOUT_CHOSEN_REJECTED,
    LAYOUT_PREFERRED, LAYOUT_LEE, LAYOUT_COUNT
};

/* What a record's problem is: field (a dotted path, "" for the record) and
 * what was expected. */
struct pairs_problem { char field[192]; char msg[640]; };

/* Outcome of rendering one record. */
enum { RENDER_OK = 0, RENDER_BAD = 1, RENDER_BOTH_SAFE = 2, RENDER_NEITHER_SAFE = 3, RENDER_OTHER_CATEGORY = 4 };

/* Per-read state: options and the conversation template. */
struct pairs_layout_ctx {
    const struct tool_pairs_opts *o;
    int layout;
    json_t *prefixes;     /* role -> prefix (template file), or NULL */
    char *separator;      /* between conversation messages */
};

/* Load the template (o->template_path) into ctx. Returns 0 or -1 with err. */
int pairs_layout_init(struct pairs_layout_ctx *ctx, const struct tool_pairs_opts *o, char *err, size_t errlen);
void pairs_layout_free(struct pairs_layout_ctx *ctx);
/* Recognise the layout from the first usable record; fills p->layout,
 * p->fields and the reason (p->why, after the container's part). Returns 0,
 * or -1 with the problem in msg (no known layout, or an option that does
 * not apply to it). */
int pairs_layout_detect(struct pairs_layout_ctx *ctx, struct tool_pairs *p, const json_t *first, char *msg,
                        size_t msglen);
/* Render a record with the detected layout. Returns RENDER_*, or -1 when out
 * of memory; *a and *b are malloc'ed on RENDER_OK. */
int pairs_layout_render(const struct pairs_layout_ctx *ctx, const json_t *rec, char **a, char **b,
                        struct pairs_problem *pr);

#endif
