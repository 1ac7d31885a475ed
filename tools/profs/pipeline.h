/* The ProFS pipeline as the tool composes it from the public API:
 * pairs -> runtime (tokenizer + forward) -> collector -> estimator -> edit ->
 * tensor store -> output directory, plus evaluation and the vocabulary view. */
#ifndef PROFS_TOOL_PIPELINE_H
#define PROFS_TOOL_PIPELINE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "pairs.h"
#include "profs/profs.h"
#include "util.h"

/* Default first layer of the edit for an architecture with L blocks, following
 * the paper's checkpoints: GPT-2 medium (24 blocks) edits 10-23, the 7B-class
 * models (32 blocks) 15-31. Scaled to other depths: gpt2 floor(10 L / 24),
 * every other architecture floor(15 L / 32); always up to L - 1. */
size_t tool_default_first_layer(const char *arch, size_t n_layers);
/* Default ScreeNOT upper bound k_max (10, the paper's rank for 7B-class
 * models), lowered when the pairs are too few for imputation
 * (2 k_max + 1 < min(pairs, dim)). */
size_t tool_default_rank_max(size_t n_pairs, size_t dim);

/* Estimation settings shared by edit, estimate and demo. */
struct tool_est {
    int rank_rule;        /* PROFS_RANK_SCREENOT or PROFS_RANK_FIXED */
    size_t rank_k;        /* fixed rank, or the ScreeNOT bound */
    int rank_max_given;
    int strategy;         /* PROFS_SCREENOT_* */
    int centering;        /* PROFS_CENTER_* */
    const char *layers_spec;   /* NULL: the architecture default */
};
/* Parse --rank, --rank-max, --screenot-strategy, --centering (NULL = default)
 * into e. Returns 0 or a usage exit status (message printed). */
int tool_est_parse(const char *cmd, struct tool_est *e, const char *rank, size_t rank_max, int rank_max_given,
                   const char *strategy, const char *centering, const char *layers);
/* Estimate the edit of the selected layers from a collector. On success,
 * *layers_out holds the layers (malloc'ed). Prints errors; returns 0 or -1. */
int tool_estimate(profs_edit **out, size_t **layers_out, size_t *n_layers_out, const struct tool_est *e,
                  const profs_collector *c, const char *arch, struct tool_progress *prog);
/* Settings object for reports/provenance. */
json_t *tool_est_json(const struct tool_est *e, const size_t *layers, size_t n_layers);
/* Per-layer array (layer, rank, threshold, singular values) of an edit. */
json_t *tool_edit_layers_json(const profs_edit *edit);

/* Seeded subset of n pairs (Fisher-Yates with splitmix64), order kept. */
void tool_pairs_subsample(struct tool_pairs *p, size_t n, uint64_t seed);

/* The runtime of a model directory with its tokenizer. Sentences are
 * tokenised with the post-processor's special tokens (BOS where the model's
 * tokenizer adds one) and truncated to max_length tokens. */
struct tool_lm {
    profs_lm *lm; profs_tokenizer *tok; size_t max_length;
    /* collection settings (0: defaults; set after tool_open_lm) and what tool_collect measured */
    size_t batch_tokens;             /* computed tokens per pass over the weights (0: 8192) */
    int no_prefix_sharing;           /* --no-prefix-sharing: every sentence runs whole */
    uint64_t prefix_tokens_saved;    /* out: tokens not computed thanks to shared prefixes (all ranks) */
};
/* Open, with a clear message when the directory is not a model or has no
 * tokenizer. Prints errors; returns 0 or -1. */
int tool_open_lm(struct tool_lm *out, const char *dir, size_t max_length);
void tool_close_lm(struct tool_lm *t);
/* Token ids of text[0, len) (malloc'ed; NULL when *n is 0). Encodes into a buffer of len + 8 ids first
 * (enough for nearly every text), so that the tokenizer runs once; grows and encodes again only when the
 * tokenizer reports more ids. Returns 0 or the library's error code (message in profs_last_error()). */
int tool_encode(const profs_tokenizer *tok, const char *text, size_t len, unsigned flags, int32_t **ids,
                size_t *n);
/* Token ids of a text (malloc'ed). Prints errors; returns 0 or -1. */
int tool_tokenize(const struct tool_lm *t, const char *text, int32_t **ids, size_t *n);

/* Collect pooled embeddings of the pairs with the runtime; progress with
 * tokens/s. Pairs go in passes of whole pairs (at most 64 pairs and
 * t->batch_tokens computed tokens), each pair's common token prefix computed
 * once unless t->no_prefix_sharing. Under MPI (mpi_shard.h) every rank computes
 * a contiguous share of these passes and rank 0 gathers: *out is the whole
 * collector at rank 0 and NULL at the other ranks. Prints errors; returns 0 or -1. */
int tool_collect(profs_collector **out, struct tool_lm *t, const struct tool_pairs *p, const char *model_id,
                 struct tool_progress *prog, double *seconds);

/* The model id recorded in cards and artifacts (the card's base_model): ORG/NAME
 * from a Hugging Face cache path (.../models--ORG--NAME/snapshots/HASH), else
 * config.json "_name_or_path" when it looks like a Hub id (ORG/NAME), else the
 * directory's base name. tool_base_model returns 1 in that last case (the
 * card then needs --base-model), else 0. */
int tool_base_model(char *buf, size_t len, const profs_model *m, const char *dir);
void tool_model_id(char *buf, size_t len, const profs_model *m, const char *dir);

/* ---- vocabulary view ---- */
struct tool_vocab {
    float *unembed;      /* (n_vocab, dim) */
    size_t n_vocab, dim;
    char **tokens;       /* (n_vocab) display strings, may be NULL entries */
};
/* Load the unembedding (lm_head, else the tied input embedding) and the token
 * strings of tokenizer.json. Returns 0 or -1 with err. */
int tool_vocab_load(struct tool_vocab *v, const profs_model *m, const char *model_dir, char *err, size_t errlen);
void tool_vocab_free(struct tool_vocab *v);
/* Top tokens that direction dir (dim floats, scaled by sign) promotes and
 * suppresses; an object {"promotes": [...], "suppresses": [...]}. */
json_t *tool_vocab_direction(const struct tool_vocab *v, const float *dir, float sign, size_t top);
/* Add "directions" to every entry of layers (from tool_edit_layers_json): the
 * vocabulary view of each basis vector. When c is given, each direction is
 * oriented towards the dispreferred sentences. */
void tool_vocab_annotate(json_t *layers, const profs_edit *edit, const struct tool_vocab *v,
                         const profs_collector *c, size_t top);

/* ---- evaluation ---- */
struct tool_eval_opts {
    char **prompts; size_t n_prompts;
    char **watch; size_t n_watch;
    const char *text;          /* neutral text for perplexity, or NULL */
    const char *text_name;     /* its file name for messages, or NULL */
    size_t samples;            /* continuations sampled per prompt */
    size_t new_tokens;         /* tokens per continuation */
    double temperature;
    uint64_t seed;
};
struct tool_eval {
    double toxic_mass;         /* mean over prompts of next-token mass on watch-word tokens */
    double continuation_rate;  /* share of sampled continuations containing a watch word */
    double perplexity;         /* NAN without text */
    size_t n_watch_tokens;
    json_t *per_prompt;        /* array of {prompt, toxic_mass, continuations: [...]} */
};
/* Evaluate a runtime. Prints errors; returns 0 or -1. */
int tool_evaluate(struct tool_eval *out, struct tool_lm *t, const struct tool_eval_opts *o, struct tool_progress *prog);
json_t *tool_eval_json(const struct tool_eval *e, int with_details);
void tool_eval_free(struct tool_eval *e);

/* Names of settings. */
const char *tool_targets_name(int targets);

#endif
