/* Evaluation as the ProFS paper measures it, composed from the public API:
 * the authors' WikiText-2 perplexity protocol, Detoxify-style toxicity of greedy
 * continuations, and zero-shot multiple choice as lm-evaluation-harness scores it.
 * Shared by profs eval and profs perplexity. */
#ifndef PROFS_TOOL_PAPER_EVAL_H
#define PROFS_TOOL_PAPER_EVAL_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "profs/eval.h"
#include "profs/profs.h"
#include "util.h"

/* ---- inputs ---- */

/* 1 when a file is read as JSONL: its name ends in .jsonl / .jsonl.gz / .json,
 * or its first non-empty line is a JSON object. */
int tool_is_jsonl(const char *path, char **lines, size_t n);

/* Prompts: JSONL whose lines hold "prompt" as a string (the authors'
 * challenge_prompts.jsonl) or as {"text": ...} (RealToxicityPrompts), or
 * "text"; else one prompt per non-empty line. A JSONL file is never read as
 * plain lines: a line without such a field is an error naming file and line.
 * Returns 0 or -1 with err. */
int tool_read_prompts(char ***out, size_t *n, const char *path, char *err, size_t errlen);

/* The perplexity text as the authors build it: for JSONL, the "prompt" (else
 * "text") string of every line, empty ones dropped, joined with "\n\n"; any
 * other file is the text itself. *n_samples: the samples joined (1 for a text
 * file). Returns 0 or -1 with err. */
int tool_read_ppl_text(char **text, size_t *len, size_t *n_samples, const char *path, char *err, size_t errlen);

/* ---- perplexity (profs_lm_perplexity_windows) ---- */

struct tool_ppl {
    double ppl, mean_nll;
    size_t tokens, windows, max_length, stride, samples;
};

/* Tokenise text (with the tokenizer's special tokens, as the authors' tokenizer()
 * call), print the cost up front unless quiet, and run the windows. max_length 0:
 * the model's max positions; stride 0: min(512, max_length). Prints errors
 * (naming name); returns 0, -1, or EXIT_USAGE (2) for a stride over the window. */
int tool_perplexity_run(struct tool_ppl *out, profs_lm *lm, const profs_tokenizer *tok, const char *text, size_t len,
                        size_t max_length, size_t stride, const char *name, struct tool_progress *prog);
json_t *tool_ppl_json(const struct tool_ppl *p);

/* ---- zero-shot tasks ---- */

struct tool_task_doc {
    size_t n;            /* requests (choices) */
    char **ctx, **cont;  /* (n) context and continuation (target delimiter included) */
    size_t *chars;       /* (n) the choice's length in characters (code points), for acc_norm */
    size_t gold;
};

struct tool_task {
    char *name;          /* the lines' "task" field, else the file's base name without .jsonl */
    struct tool_task_doc *docs;
    size_t n_docs;
};

/* Read a task file (see docs/profs.md "Zero-shot tasks"). Returns 0 or -1 with err. */
int tool_task_read(struct tool_task *t, const char *path, char *err, size_t errlen);
void tool_task_free(struct tool_task *t);
/* 1 when lm-evaluation-harness reports acc_norm for the task (hellaswag, arc_*, openbookqa, and tasks it
 * does not know); 0 for boolq, rte, winogrande. */
int tool_task_reports_acc_norm(const char *name);

struct tool_task_result {
    double acc, acc_norm;
    size_t n_docs, n_requests;
    json_t *docs;        /* [{gold, pred, pred_norm, ll: [...]}] */
};

/* Score a task with the harness's requests; progress per sequence. Prints errors; 0 or -1. */
int tool_task_score(struct tool_task_result *r, profs_lm *lm, const profs_tokenizer *tok, const struct tool_task *t,
                    struct tool_progress *prog);

/* The harness's requests for one (context, continuation): ids (malloc'ed) = context ids + continuation ids,
 * *n_cont of them the continuation. Exposed for the tests. 0 or a library error code. */
int tool_harness_encode(const profs_tokenizer *tok, const char *ctx, const char *cont, int32_t **ids, size_t *n,
                        size_t *n_cont);

/* ---- toxicity ---- */

struct tool_tox {
    double mean;           /* mean toxicity probability (the table shows x 100) */
    double share_above;    /* share of continuations with probability > 0.5 */
    size_t n;
    json_t *items;         /* [{prompt, continuation, toxicity}] */
};

/* Greedy continuation of new_tokens tokens of every prompt (tokenised with special tokens), decoded without
 * the prompt (skipping special tokens only when asked), stripped, scored by cls's label. 0 or -1. */
int tool_toxicity_run(struct tool_tox *out, profs_lm *lm, const profs_tokenizer *tok, profs_classifier *cls,
                      size_t label, char *const *prompts, size_t n, size_t new_tokens, int skip_special,
                      struct tool_progress *prog);

/* Python's str.strip(): leading and trailing Unicode whitespace removed in place. */
void tool_py_strip(char *s);

/* The classifier's default toxicity label: "toxicity", else "toxic". 0 or -1 with err. */
int tool_toxicity_label(size_t *label, const profs_classifier *c, const char *name, char *err, size_t errlen);

#endif
