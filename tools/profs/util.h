/* Helpers shared by the profs subcommands: option parsing, progress on
 * stderr, atomic output directories, hashing, small file utilities.
 * Part of the tool, not of the library. */
#ifndef PROFS_TOOL_UTIL_H
#define PROFS_TOOL_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* ---- options ----
 * Every subcommand declares a table of long options ("--name VALUE",
 * "--name=VALUE", or "--name" for flags). tool_parse() fills the
 * destinations, prints the help text for --help/-h, and reports usage errors
 * naming the flag. */
enum tool_opt_type {
    OPT_FLAG,    /* int *: set to 1 */
    OPT_STRING,  /* const char **: borrowed from argv */
    OPT_SIZE,    /* size_t *: non-negative integer */
    OPT_INT64,   /* int64_t *: integer */
    OPT_DOUBLE,  /* double *: finite real */
    OPT_REPEAT   /* struct tool_strlist *: string, may be given several times */
};

struct tool_opt {
    const char *name;   /* without the leading "--" */
    int type;           /* enum tool_opt_type */
    void *dest;
    int required;       /* 1: a usage error when absent */
    int *seen;          /* optional: set to 1 when given */
};

#define TOOL_MAX_REPEAT 16
struct tool_strlist { size_t n; const char *v[TOOL_MAX_REPEAT]; };

/* Returns -1 when the command should go on; otherwise the exit status to
 * return at once (EXIT_OK after --help, EXIT_USAGE after a usage error). */
int tool_parse(const char *cmd, const char *help, int argc, char **argv,
               const struct tool_opt *opts, size_t n_opts);

/* Check the syntax of a layer spec (A-B, A:, A, all, comma lists; not the
 * range, which needs the model). Returns 0 or -1 with err. */
int tool_check_layers(const char *spec, char *err, size_t errlen);
/* Parse "A-B", "A:", "A", "all" or a comma list of those into a sorted,
 * duplicate-free list of layers below n_layers. *out is malloc'ed.
 * Returns 0, or -1 with a message in err. */
int tool_parse_layers(size_t **out, size_t *n_out, const char *spec, size_t n_layers,
                      char *err, size_t errlen);
/* Format a layer list compactly ("10-23", "1,3-5"). */
void tool_format_layers(char *buf, size_t len, const size_t *layers, size_t n);

/* ---- progress on stderr ----
 * A bar (carriage return, one line) when stderr is a terminal, plain lines
 * every few seconds otherwise, nothing when quiet. Ctrl-C sets a flag that the
 * callback turns into a cancellation, so the library cleans up. */
struct tool_progress {
    int quiet;
    int tty;
    double t_stage;          /* start of the current stage */
    double t_last;           /* last time something was printed */
    char stage[32];
    uint64_t last_done, last_total;
    int line_open;           /* a bar is on screen without its newline */
    double tokens_per_unit;  /* > 0: also print tokens/s for this stage */
    const char *unit_stage;  /* the stage tokens_per_unit applies to */
};
void tool_progress_init(struct tool_progress *p, int quiet);
/* profs_progress_fn-compatible callback; userdata is a struct tool_progress *. */
int tool_progress_cb(void *userdata, const char *stage, uint64_t done, uint64_t total);
/* Close the current line (if a bar is on screen). */
void tool_progress_end(struct tool_progress *p);
/* Print a status line ("profs: ...") unless quiet; closes an open bar first. */
void tool_progress_note(struct tool_progress *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Install the SIGBUS handler: a mapped source truncated under the tool ends
 * with "FILE changed while it was being read", the temporary output directory
 * (tool_sigbus_set_tmp) removed, exit 1. */
void tool_catch_sigbus(void);
/* The temporary output directory the SIGBUS handler removes (NULL: none). */
void tool_sigbus_set_tmp(const char *path);
/* Install SIGINT/SIGTERM handlers that set the interruption flag. */
void tool_catch_signals(void);
int tool_interrupted(void);

/* Monotonic seconds. */
double tool_now(void);
/* Peak resident set size of this process in bytes (getrusage). */
uint64_t tool_peak_rss(void);

/* ---- output directories ----
 * The output is built in a temporary directory beside --out and renamed into
 * place at the end; on failure the temporary directory is removed. */
struct tool_outdir {
    char *final;    /* --out as given */
    char *tmp;      /* the temporary directory being built */
    int force;      /* commit may replace a non-empty directory (set after begin) */
};
/* Refuse --out equal to or inside src (either may not exist yet), and an
 * existing non-empty --out unless force. Returns 0 or -1 with message in err. */
int tool_check_out(const char *src, const char *out, int force, char *err, size_t errlen);
/* For an output file option: its directory must exist and it must not be a
 * directory itself (NULL path: nothing to check). 0 or -1 with err. */
int tool_check_file_out(const char *flag, const char *path, char *err, size_t errlen);
/* Create the temporary directory. Returns 0 or -1 with message in err. */
int tool_outdir_begin(struct tool_outdir *o, const char *out, char *err, size_t errlen);
/* Rename the temporary directory to the final name. Atomic with respect to
 * what is there at that moment: without o->force it lands only on a name that
 * does not exist or on an empty directory, and nothing else is ever removed
 * (a directory that appeared during the run is left alone: -1). With
 * o->force an existing directory is exchanged for the new one and removed.
 * Returns 0 or -1 with message in err; the temporary directory is removed on
 * failure. */
int tool_outdir_commit(struct tool_outdir *o, char *err, size_t errlen);
/* Remove the temporary directory (if any) and free. Safe after commit. */
void tool_outdir_abort(struct tool_outdir *o);
/* Recursively remove a tree. */
void tool_rmtree(const char *path);
/* dir + "/" + name (malloc'ed; aborts the program on OOM: tool-only helper). */
char *tool_join(const char *dir, const char *name);
/* 1 if path is a directory. */
int tool_is_dir(const char *path);
/* 1 if path exists. */
int tool_exists(const char *path);
/* Copy a file byte for byte. Returns 0 or -1 (errno set). */
int tool_copy_file(const char *src, const char *dst);
/* Write a whole string to a file through a temporary name + rename. 0 or -1. */
int tool_write_file_atomic(const char *path, const char *text);
/* Read a whole file (NUL-terminated); NULL on failure. */
char *tool_read_text(const char *path, size_t *len);
/* Last path component of a path (pointer into it; trailing slashes ignored
 * through a static copy: valid until the next call). */
const char *tool_basename(const char *path);

/* ---- hashing ----
 * SHA-256 (FIPS 180-4), implemented here so the tool needs no crypto library. */
struct tool_sha256 { uint32_t h[8]; uint64_t len; uint8_t buf[64]; size_t nbuf; };
void tool_sha256_init(struct tool_sha256 *s);
void tool_sha256_update(struct tool_sha256 *s, const void *data, size_t len);
void tool_sha256_final(struct tool_sha256 *s, char hex[65]);
/* Hash a file's bytes as stored on disk (a .gz file is hashed compressed).
 * Returns 0 or -1 (errno set); *size receives the byte count. */
int tool_sha256_file(const char *path, char hex[65], uint64_t *size);

/* ---- misc ---- */
/* UTC time as "2026-01-31T12:00:00Z". */
void tool_utc_now(char buf[32]);

#endif
