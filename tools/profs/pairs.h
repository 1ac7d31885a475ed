/* Preference-pair files, read once from a file, a pipe or standard input.
 *
 * Containers (--format; auto sniffs the first bytes of the stream):
 *   jsonl   one JSON object per line                  (first byte '{')
 *   json    one JSON array of such objects            (first byte '[')
 *   tsv     tab-separated; a first line naming the columns is a header and
 *           each row becomes an object keyed by it; without a header, two
 *           columns "preferred<TAB>dispreferred"; escapes \t \n \r \\
 *           (.tsv / .tsv.gz files, or any other first byte)
 * each optionally gzip-compressed (detected by the magic bytes in the
 * stream). Parquet files are recognised by their magic and refused with a
 * conversion command.
 *
 * Layouts (recognised from the first usable record; pairs_layout.c holds the
 * table, its rendering rules and the reasons printed by 'profs pairs'):
 *   pku-saferlhf    prompt, response_0/1, is_response_0/1_safe:
 *                   "HUMAN: " + prompt + "\nASSISTANT:" + response, the safe
 *                   reply preferred; rows with both or neither safe skipped
 *   conversation    chosen/rejected (and prompt) as lists of {role, content}
 *   prompt-reply    prompt, chosen, rejected strings: prompt + " " + reply
 *   chosen-rejected chosen, rejected strings (whole dialogs, HH-RLHF)
 *   preferred       preferred, dispreferred (this project's files)
 *   lee-toxicity    unpert_gen_text (preferred), pert_gen_text; with
 *                   --with-prompt, prompt_text + text
 *   fields          --preferred-field/--dispreferred-field (dotted paths),
 *                   optionally --prompt-field: prompt + " " + text
 * Empty lines are ignored. A record that cannot be used is an error naming
 * file:line (file:line:field for a field, file:line:[i] for an array item)
 * and what was expected, or, with skip_bad, is skipped and counted; a file
 * whose records are mostly unusable fails anyway, with the first reasons. */
#ifndef PROFS_TOOL_PAIRS_H
#define PROFS_TOOL_PAIRS_H

#include <stddef.h>
#include <stdint.h>

enum tool_pairs_format { PAIRS_AUTO = 0, PAIRS_JSONL, PAIRS_TSV, PAIRS_JSON };

struct tool_pairs_opts {
    const char *preferred_field;    /* NULL: recognise the layout */
    const char *dispreferred_field; /* NULL: recognise the layout */
    const char *prompt_field;       /* with the two above: prompt + " " + text */
    const char *harm_category;      /* PKU-SafeRLHF: keep rows whose unsafe reply has it */
    const char *template_path;      /* conversation role prefixes (JSON), or NULL */
    int with_prompt;                /* Lee et al. pairs: prepend prompt_text */
    int format;                     /* enum tool_pairs_format */
    int skip_bad;                   /* skip and count bad records instead of failing */
    size_t max_pairs;               /* 0: all */
    int (*cancelled)(void);         /* polled once per line: non-zero stops the read, "interrupted" (NULL: never) */
};

#define TOOL_PAIRS_MAX_FIELDS 6
#define TOOL_PAIRS_FIRST_BAD 3

struct tool_pairs {
    size_t n;
    char **preferred;     /* (n) NUL-terminated UTF-8, the sentences embedded */
    char **dispreferred;  /* (n) */
    size_t records;       /* records read (usable or not, blank lines excluded) */
    size_t skipped;       /* bad records skipped (skip_bad) */
    size_t first_bad_line;/* line number of the first skipped record (0 when none) */
    char first_bad[512];  /* its location and problem, e.g. "line 2: missing field 'rejected'" */
    size_t n_both_safe, n_neither_safe, n_other_category; /* PKU-SafeRLHF rows left out */
    int format;           /* the container actually read (enum tool_pairs_format) */
    int gzip;             /* 1 when the stream was gzip-compressed */
    int layout;           /* index into the layout table (tool_pairs_layout_name) */
    char why[256];        /* why that format and layout were chosen */
    const char *rule;     /* the rendering rule in words (static) */
    char fields[TOOL_PAIRS_MAX_FIELDS][64]; /* the fields used, in rendering order */
    size_t n_fields;
    char sha256[65];      /* of the bytes read (compressed bytes for gzip) */
    uint64_t bytes;       /* bytes read */
};

/* Read a whole pair file ("-": standard input), reading it exactly once.
 * Returns 0, or -1 with "file:line: problem" in err (nothing allocated then). */
int tool_pairs_read(struct tool_pairs *out, const char *path, const struct tool_pairs_opts *o,
                    char *err, size_t errlen);
void tool_pairs_free(struct tool_pairs *p);
/* Names for summaries and provenance. */
const char *tool_pairs_format_name(int format);
const char *tool_pairs_layout_name(int layout);
/* The rendering rule of a layout in words (for summaries and docs). */
const char *tool_pairs_layout_rule(int layout, const struct tool_pairs_opts *o);

/* Read the lines of a text file (optionally gzip; "-": standard input),
 * without line endings, skipping empty lines. Returns 0 or -1 with err. */
int tool_read_lines(char ***lines, size_t *n, const char *path, char *err, size_t errlen);
void tool_free_lines(char **lines, size_t n);

/* The pair-reading flags every command that reads pairs accepts. */
struct tool_pairs_flags {
    const char *format, *preferred_field, *dispreferred_field, *prompt_field, *harm_category, *template_path;
    int skip_bad, with_prompt;
};
#define TOOL_PAIRS_FLAG_OPTS(fl)                                          \
    {"format", OPT_STRING, &(fl).format, 0, NULL},                         \
    {"preferred-field", OPT_STRING, &(fl).preferred_field, 0, NULL},       \
    {"dispreferred-field", OPT_STRING, &(fl).dispreferred_field, 0, NULL}, \
    {"prompt-field", OPT_STRING, &(fl).prompt_field, 0, NULL},             \
    {"harm-category", OPT_STRING, &(fl).harm_category, 0, NULL},           \
    {"template", OPT_STRING, &(fl).template_path, 0, NULL},                \
    {"with-prompt", OPT_FLAG, &(fl).with_prompt, 0, NULL},                 \
    {"skip-bad-lines", OPT_FLAG, &(fl).skip_bad, 0, NULL}
/* Help lines for those flags (for the commands that read pairs). */
#define TOOL_PAIRS_FLAG_HELP                                                                        \
    "  --format F, --preferred-field P, --dispreferred-field P, --prompt-field P,\n"              \
    "  --with-prompt, --harm-category NAME, --template FILE, --skip-bad-lines\n"                  \
    "                            how to read the pair file (see 'profs help pairs')\n"
/* Fill pair options from the flags. Returns 0 or a usage exit status
 * (message printed). */
int tool_pairs_flags_parse(const char *cmd, const struct tool_pairs_flags *fl, size_t max_pairs,
                           struct tool_pairs_opts *o);

#endif
