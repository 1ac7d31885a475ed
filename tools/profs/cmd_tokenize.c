/* profs tokenize: UTF-8 lines on stdin -> one JSON array of token ids per line on stdout. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "profs/profs.h"
#include "tool.h"
#include "util.h"

static const char help[] =
    "usage: profs tokenize --tokenizer PATH [--no-special]\n"
    "\n"
    "Read UTF-8 lines from standard input and print, for each line (without its\n"
    "line ending, \\n or \\r\\n; a last line without one counts too), one JSON\n"
    "array of token ids, e.g. [1,22557,1526].\n"
    "Ids are those of Hugging Face tokenizers on the same tokenizer.json.\n"
    "\n"
    "options:\n"
    "  --tokenizer PATH  a tokenizer.json file, or a model directory holding one\n"
    "                    (and tokenizer_config.json), or vocab.json + merges.txt\n"
    "  --no-special      the post-processor adds no special tokens (no BOS/EOS)\n"
    "\n"
    "exit status: 0 ok, 1 failure (unreadable tokenizer, invalid UTF-8 on a line:\n"
    "processing stops there; output write error), 2 usage error\n";

int cmd_tokenize(int argc, char **argv)
{
    const char *path = NULL;
    int no_special = 0;
    const struct tool_opt opts[] = {
        {"tokenizer", OPT_STRING, &path, 1, NULL},
        {"no-special", OPT_FLAG, &no_special, 0, NULL},
    };
    int rc = tool_parse(argv[0], help, argc, argv, opts, sizeof opts / sizeof opts[0]);
    if (rc >= 0) return rc;
    profs_tokenizer *t = NULL;
    if ((rc = profs_tokenizer_open(&t, path))) return tool_fail_lib(rc, "cannot open the tokenizer");
    unsigned flags = no_special ? 0u : profs_encode_flag_add_special();
    setvbuf(stdout, NULL, _IOLBF, 0); /* one answer per line, at once (for programs on a pipe) */
    char *line = NULL;
    size_t line_cap = 0, cap = 256, n;
    int32_t *ids = malloc(cap * sizeof *ids);
    ssize_t len;
    unsigned long lineno = 0;
    int oom = !ids, status = ids ? EXIT_OK : EXIT_FAIL;
    while (status == EXIT_OK && (len = getline(&line, &line_cap, stdin)) >= 0) {
        lineno++;
        if (len > 0 && line[len - 1] == '\n') {
            len--;
            if (len > 0 && line[len - 1] == '\r') len--; /* only a CR before the LF is part of the line ending */
        }
        if ((size_t)len + 8 > cap) { /* one id per byte plus a few special ones: one encoding pass, nearly always */
            size_t want = (size_t)len + 8;
            int32_t *bigger = want < SIZE_MAX / sizeof *ids ? realloc(ids, want * sizeof *ids) : NULL;
            if (!bigger) { oom = 1; status = EXIT_FAIL; break; }
            ids = bigger;
            cap = want;
        }
        rc = profs_tokenizer_encode(t, line, (size_t)len, flags, ids, cap, &n);
        if (rc == PROFS_EBUFS) {
            int32_t *bigger = realloc(ids, n * sizeof *ids);
            if (!bigger) { oom = 1; status = EXIT_FAIL; break; }
            ids = bigger;
            cap = n;
            rc = profs_tokenizer_encode(t, line, (size_t)len, flags, ids, cap, &n);
        }
        if (rc) {
            char what[64];
            snprintf(what, sizeof what, "stdin line %lu", lineno);
            status = tool_fail_lib(rc, what);
            break;
        }
        putchar('[');
        for (size_t i = 0; i < n; i++) printf(i ? ",%d" : "%d", (int)ids[i]);
        fputs("]\n", stdout);
        if (ferror(stdout)) break;
    }
    if (status == EXIT_OK && ferror(stdin)) {
        fprintf(stderr, "profs: error reading standard input\n");
        status = EXIT_FAIL;
    }
    if (fflush(stdout) != 0 || ferror(stdout)) { /* a full disk or a closed pipe must not look like success */
        fprintf(stderr, "profs: error writing standard output\n");
        status = EXIT_FAIL;
    }
    if (oom) fprintf(stderr, "profs: out of memory\n");
    free(line);
    free(ids);
    profs_tokenizer_free(t);
    return status;
}
