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
    "usage: profs pairs --pairs FILE [--format auto|jsonl|json|tsv]\n"
    "                   [--preferred-field P --dispreferred-field P [--prompt-field P]]\n"
    "                   [--with-prompt] [--harm-category NAME] [--template FILE]\n"
    "                   [--skip-bad-lines] [--max-pairs N] [--jsonl]\n"
    "\n"
    "Read a preference-pair file the way 'profs edit' does and print a summary:\n"
    "the number of pairs, the format and layout recognised and why, the rendering\n"
    "rule, rows left out, bad lines skipped and the SHA-256 of the bytes read.\n"
    "With --jsonl, print instead the sentences that would be embedded, as JSONL\n"
    "objects {\"preferred\": ..., \"dispreferred\": ...}.\n"
    "\n"
    "The file is read once, so FILE may be - (standard input), a pipe, a FIFO or\n"
    "a process substitution; gzip is recognised from its first bytes. Formats:\n"
    "JSONL, one JSON array of objects, or TSV (a first line naming the columns is\n"
    "a header; without one, preferred TAB dispreferred; escapes \\t \\n \\r \\\\).\n"
    "Layouts recognised from the first record:\n"
    "  prompt, chosen, rejected (HH-Golden)  prompt + \" \" + chosen / rejected\n"
    "  PKU-SafeRLHF (prompt, response_0/1, is_response_0/1_safe)\n"
    "                           \"HUMAN: \" + prompt + \"\\nASSISTANT:\" + reply, the safe\n"
    "                           reply preferred; rows with both or neither safe skipped\n"
    "  chosen/rejected as lists of {role, content} (conversations)\n"
    "                           \"{Role}: {content}\" lines joined by \"\\n\", prompt first\n"
    "  chosen, rejected (HH-RLHF)               the two texts as they are\n"
    "  preferred, dispreferred (this project)   the two texts as they are\n"
    "  unpert_gen_text, pert_gen_text (Lee et al.)  the unperturbed text preferred\n"
    "Parquet files are refused with a command that converts them.\n"
    "\n"
    "options:\n"
    "  --pairs FILE              the pair file (- for standard input)\n"
    "  --format F                auto (default), jsonl, json (one array) or tsv\n"
    "  --preferred-field P       field (dotted path: a.b.0.c) of the preferred text\n"
    "  --dispreferred-field P    field of the dispreferred text (with the one above)\n"
    "  --prompt-field P          field prepended to both, with a space\n"
    "  --with-prompt             Lee et al. pairs: prepend prompt_text to both texts\n"
    "  --harm-category NAME      PKU-SafeRLHF: keep rows whose unsafe reply has NAME\n"
    "  --template FILE           conversations: JSON {role: prefix, ..., \"separator\": text}\n"
    "  --skip-bad-lines          skip and count unusable records instead of failing\n"
    "  --max-pairs N             read at most N pairs (0 = all)\n"
    "  --jsonl                   print the pairs as JSONL on stdout\n"
    "\n"
    "exit status: 0 ok, 1 unreadable or malformed file, 2 usage error\n";

int tool_pairs_flags_parse(const char *cmd, const struct tool_pairs_flags *fl, size_t max_pairs,
                           struct tool_pairs_opts *o)
{
    memset(o, 0, sizeof *o);
    o->cancelled = tool_interrupted; /* SIGINT/SIGTERM stop a long read (tool_catch_signals) */
    const char *format = fl->format;
    if (!format || strcmp(format, "auto") == 0) o->format = PAIRS_AUTO;
    else if (strcmp(format, "jsonl") == 0) o->format = PAIRS_JSONL;
    else if (strcmp(format, "json") == 0) o->format = PAIRS_JSON;
    else if (strcmp(format, "tsv") == 0) o->format = PAIRS_TSV;
    else return tool_usage_error(cmd, "--format: '%s' is not one of auto, jsonl, json, tsv", format);
    const char *pf = fl->preferred_field, *df = fl->dispreferred_field, *qf = fl->prompt_field;
    if ((pf == NULL) != (df == NULL))
        return tool_usage_error(cmd, "--preferred-field and --dispreferred-field go together");
    if (pf && strcmp(pf, df) == 0)
        return tool_usage_error(cmd, "--preferred-field and --dispreferred-field name the same field '%s'", pf);
    if (qf && !pf)
        return tool_usage_error(cmd, "--prompt-field goes with --preferred-field and --dispreferred-field");
    if (fl->with_prompt && pf)
        return tool_usage_error(cmd, "--with-prompt is for the Lee et al. pairs; with --preferred-field, "
                                "name the prompt with --prompt-field");
    const char *empty = pf && !*pf ? "--preferred-field" : df && !*df ? "--dispreferred-field"
                      : qf && !*qf ? "--prompt-field" : fl->harm_category && !*fl->harm_category ? "--harm-category"
                      : NULL;
    if (empty) return tool_usage_error(cmd, "%s: empty", empty);
    o->preferred_field = pf;
    o->dispreferred_field = df;
    o->prompt_field = qf;
    o->harm_category = fl->harm_category;
    o->template_path = fl->template_path;
    o->with_prompt = fl->with_prompt;
    o->skip_bad = fl->skip_bad;
    o->max_pairs = max_pairs;
    return 0;
}

int cmd_pairs(int argc, char **argv)
{
    const char *path = NULL;
    struct tool_pairs_flags fl = {0};
    int jsonl = 0;
    size_t max_pairs = 0;
    const struct tool_opt opts[] = {
        {"pairs", OPT_STRING, &path, 1, NULL},
        TOOL_PAIRS_FLAG_OPTS(fl),
        {"max-pairs", OPT_SIZE, &max_pairs, 0, NULL},
        {"jsonl", OPT_FLAG, &jsonl, 0, NULL},
    };
    int rc = tool_parse(argv[0], help, argc, argv, opts, sizeof opts / sizeof opts[0]);
    if (rc >= 0) return rc;
    struct tool_pairs_opts po;
    if ((rc = tool_pairs_flags_parse(argv[0], &fl, max_pairs, &po))) return rc;
    struct tool_pairs p;
    char err[2048];
    if (tool_pairs_read(&p, path, &po, err, sizeof err)) {
        fprintf(stderr, "profs: %s\n", err);
        return EXIT_FAIL;
    }
    if (p.skipped)
        fprintf(stderr, "profs: %s: skipped %zu bad line%s (first: %s)\n", path, p.skipped,
                p.skipped == 1 ? "" : "s", p.first_bad);
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
        printf("file: %s\n", path);
        printf("pairs: %zu\n", p.n);
        printf("format: %s%s\n", tool_pairs_format_name(p.format), p.gzip ? " (gzip)" : "");
        printf("layout: %s\n", tool_pairs_layout_name(p.layout));
        printf("why: %s\n", p.why);
        printf("fields: ");
        for (size_t i = 0; i < p.n_fields; i++) printf("%s%s", i ? ", " : "", p.fields[i]);
        printf("\nrendering: %s\n", p.rule);
        if (p.n_both_safe || p.n_neither_safe || p.n_other_category)
            printf("left out: %zu rows with both replies safe, %zu with neither, %zu of another harm category\n",
                   p.n_both_safe, p.n_neither_safe, p.n_other_category);
        printf("skipped: %zu\n", p.skipped);
        printf("bytes: %llu\n", (unsigned long long)p.bytes);
        printf("sha256: %s\n", p.sha256);
    }
    tool_pairs_free(&p);
    return EXIT_OK;
}
