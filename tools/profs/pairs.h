/* Preference-pair files: JSONL or TSV, optionally gzip-compressed.
 *
 * JSONL: one JSON object per line. The preferred/dispreferred fields are
 * given by the caller, or recognised among the known conventions (first
 * object decides, the rest must follow it):
 *   {"preferred", "dispreferred"}         this project's own files
 *   {"chosen", "rejected"}                HH-RLHF, HH-Golden
 *   {"unpert_gen_text", "pert_gen_text"}  toxicity pairs of Lee et al. 2024
 *                                         (the unperturbed text is preferred)
 * TSV: "preferred<TAB>dispreferred" per line, backslash escapes \t \n \r \\;
 * an optional header line naming the two columns is skipped.
 * Empty lines are ignored. A line that cannot be used is an error naming
 * file:line and the problem, or, with skip_bad, is skipped and counted. */
#ifndef PROFS_TOOL_PAIRS_H
#define PROFS_TOOL_PAIRS_H

#include <stddef.h>

enum tool_pairs_format { PAIRS_AUTO = 0, PAIRS_JSONL, PAIRS_TSV };

struct tool_pairs_opts {
    const char *preferred_field;    /* NULL: recognise the known conventions */
    const char *dispreferred_field; /* NULL: recognise the known conventions */
    int format;                     /* enum tool_pairs_format; AUTO: by extension (.tsv[.gz] is TSV) */
    int skip_bad;                   /* skip and count bad lines instead of failing */
    size_t max_pairs;               /* 0: all */
};

struct tool_pairs {
    size_t n;
    char **preferred;     /* (n) NUL-terminated UTF-8 */
    char **dispreferred;  /* (n) */
    size_t skipped;       /* bad lines skipped (skip_bad) */
    size_t first_bad_line;/* line number of the first skipped line (0 when none) */
    char first_bad[512];  /* its problem */
    int format;           /* the format actually read */
    int gzip;             /* 1 when the file was gzip-compressed */
    char fields[2][64];   /* the field names used (JSONL) */
};

/* Read a whole pair file. Returns 0, or -1 with "file:line: problem" in err
 * (nothing allocated then). */
int tool_pairs_read(struct tool_pairs *out, const char *path, const struct tool_pairs_opts *o,
                    char *err, size_t errlen);
void tool_pairs_free(struct tool_pairs *p);

/* Read the lines of a text file (optionally gzip), without line endings,
 * skipping empty lines. Returns 0 or -1 with err. */
int tool_read_lines(char ***lines, size_t *n, const char *path, char *err, size_t errlen);
void tool_free_lines(char **lines, size_t n);

/* Fill pair options from the common flags (--format, --preferred-field,
 * --dispreferred-field, --skip-bad-lines, --max-pairs). Returns 0 or a usage
 * exit status (message printed). */
int tool_pairs_opts_parse(const char *cmd, const char *format, const char *pf, const char *df,
                          int skip, size_t max_pairs, struct tool_pairs_opts *o);

#endif
