/* profs pairs: check a preference-pair file and summarise it (or convert it
 * to this project's JSONL). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "pairs.h"
#include "tool.h"
#include "util.h"

static const char help[] =
    "usage: profs pairs --pairs FILE [--format auto|jsonl|tsv]\n"
    "                   [--preferred-field NAME --dispreferred-field NAME]\n"
    "                   [--skip-bad-lines] [--max-pairs N] [--jsonl]\n"
    "\n"
    "Read a preference-pair file the way 'profs edit' does and print a summary:\n"
    "the number of pairs, the format and field names used, bad lines skipped and\n"
    "the file's SHA-256. With --jsonl, print the pairs instead as JSONL objects\n"
    "{\"preferred\": ..., \"dispreferred\": ...}.\n"
    "\n"
    "Pair files are JSONL (one object per line) or TSV (preferred TAB dispreferred,\n"
    "escapes \\t \\n \\r \\\\, optional header line), either one optionally\n"
    "gzip-compressed. Known JSONL field pairs: preferred/dispreferred,\n"
    "chosen/rejected (HH-RLHF), unpert_gen_text/pert_gen_text (the unperturbed\n"
    "text is the preferred one).\n"
    "\n"
    "options:\n"
    "  --pairs FILE              the pair file (.jsonl, .tsv, optionally .gz)\n"
    "  --format F                auto (default: .tsv[.gz] is TSV, else JSONL), jsonl, tsv\n"
    "  --preferred-field NAME    JSONL field of the preferred text\n"
    "  --dispreferred-field NAME JSONL field of the dispreferred text\n"
    "  --skip-bad-lines          skip and count unusable lines instead of failing\n"
    "  --max-pairs N             read at most N pairs (0 = all)\n"
    "  --jsonl                   print the pairs as JSONL on stdout\n"
    "\n"
    "exit status: 0 ok, 1 unreadable or malformed file, 2 usage error\n";

int tool_pairs_opts_parse(const char *cmd, const char *format, const char *pf, const char *df,
                          int skip, size_t max_pairs, struct tool_pairs_opts *o)
{
    memset(o, 0, sizeof *o);
    if (!format || strcmp(format, "auto") == 0) o->format = PAIRS_AUTO;
    else if (strcmp(format, "jsonl") == 0) o->format = PAIRS_JSONL;
    else if (strcmp(format, "tsv") == 0) o->format = PAIRS_TSV;
    else return tool_usage_error(cmd, "--format: '%s' is not one of auto, jsonl, tsv", format);
    if ((pf == NULL) != (df == NULL))
        return tool_usage_error(cmd, "--preferred-field and --dispreferred-field go together");
    if (pf && strcmp(pf, df) == 0)
        return tool_usage_error(cmd, "--preferred-field and --dispreferred-field name the same field '%s'", pf);
    o->preferred_field = pf;
    o->dispreferred_field = df;
    o->skip_bad = skip;
    o->max_pairs = max_pairs;
    return 0;
}

int cmd_pairs(int argc, char **argv)
{
    const char *path = NULL, *format = NULL, *pf = NULL, *df = NULL;
    int skip = 0, jsonl = 0;
    size_t max_pairs = 0;
    const struct tool_opt opts[] = {
        {"pairs", OPT_STRING, &path, 1, NULL},
        {"format", OPT_STRING, &format, 0, NULL},
        {"preferred-field", OPT_STRING, &pf, 0, NULL},
        {"dispreferred-field", OPT_STRING, &df, 0, NULL},
        {"skip-bad-lines", OPT_FLAG, &skip, 0, NULL},
        {"max-pairs", OPT_SIZE, &max_pairs, 0, NULL},
        {"jsonl", OPT_FLAG, &jsonl, 0, NULL},
    };
    int rc = tool_parse(argv[0], help, argc, argv, opts, sizeof opts / sizeof opts[0]);
    if (rc >= 0) return rc;
    struct tool_pairs_opts po;
    if ((rc = tool_pairs_opts_parse(argv[0], format, pf, df, skip, max_pairs, &po))) return rc;
    struct tool_pairs p;
    char err[1024];
    if (tool_pairs_read(&p, path, &po, err, sizeof err)) {
        fprintf(stderr, "profs: %s\n", err);
        return EXIT_FAIL;
    }
    if (p.skipped)
        fprintf(stderr, "profs: %s: skipped %zu bad line%s (first: line %zu: %s)\n", path, p.skipped,
                p.skipped == 1 ? "" : "s", p.first_bad_line, p.first_bad);
    if (jsonl) {
        for (size_t i = 0; i < p.n; i++) {
            json_t *o = json_pack("{s:s, s:s}", "preferred", p.preferred[i], "dispreferred", p.dispreferred[i]);
            char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
            if (!s) { json_decref(o); tool_pairs_free(&p); fprintf(stderr, "profs: out of memory\n"); return EXIT_FAIL; }
            puts(s);
            free(s);
            json_decref(o);
        }
    } else {
        char hex[65];
        uint64_t size = 0;
        if (tool_sha256_file(path, hex, &size)) snprintf(hex, sizeof hex, "?");
        printf("file: %s\n", path);
        printf("pairs: %zu\n", p.n);
        printf("format: %s%s\n", p.format == PAIRS_TSV ? "tsv" : "jsonl", p.gzip ? " (gzip)" : "");
        if (p.format == PAIRS_JSONL) printf("fields: %s, %s\n", p.fields[0], p.fields[1]);
        printf("skipped: %zu\n", p.skipped);
        printf("bytes: %llu\n", (unsigned long long)size);
        printf("sha256: %s\n", hex);
    }
    tool_pairs_free(&p);
    return EXIT_OK;
}
