/* Preference-pair reader: the containers (JSONL, one JSON array, TSV with
 * or without a header) over the read-once stream of pairs_stream.c, each
 * record handed to the layouts of pairs_layout.c. See pairs.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "pairs.h"
#include "pairs_layout.h"
#include "pairs_stream.h"
#include "util.h"

static const char *const format_names[] = {"auto", "jsonl", "tsv", "json"};

const char *tool_pairs_format_name(int format)
{
    return format >= 0 && format <= PAIRS_JSON ? format_names[format] : "?";
}

static int ends_with(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcmp(s + a - b, suf) == 0;
}

/* TSV field unescaping: \t \n \r \\ ; anything else after a backslash is kept. */
static char *unescape(const char *s, size_t len)
{
    char *o = malloc(len + 1);
    if (!o) return NULL;
    size_t j = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '\\' && i + 1 < len) {
            char c = s[i + 1];
            if (c == 't') { o[j++] = '\t'; i++; continue; }
            if (c == 'n') { o[j++] = '\n'; i++; continue; }
            if (c == 'r') { o[j++] = '\r'; i++; continue; }
            if (c == '\\') { o[j++] = '\\'; i++; continue; }
        }
        o[j++] = s[i];
    }
    o[j] = '\0';
    return o;
}

/* Minimal UTF-8 validity check (TSV lines; jansson checks JSON itself). */
static int valid_utf8(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        size_t k;
        unsigned min;
        if (c < 0x80) { i++; continue; }
        else if ((c & 0xe0) == 0xc0) { k = 1; min = 0x80; c &= 0x1f; }
        else if ((c & 0xf0) == 0xe0) { k = 2; min = 0x800; c &= 0x0f; }
        else if ((c & 0xf8) == 0xf0) { k = 3; min = 0x10000; c &= 0x07; }
        else return 0;
        if (i + k >= n) return 0;
        for (size_t j = 1; j <= k; j++) {
            if (i + j >= n || (s[i + j] & 0xc0) != 0x80) return 0;
            c = (c << 6) | (s[i + j] & 0x3f);
        }
        if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff)) return 0;
        i += k + 1;
    }
    return 1;
}

static int is_bom(const char *s, size_t n)
{
    return n >= 3 && (unsigned char)s[0] == 0xef && (unsigned char)s[1] == 0xbb && (unsigned char)s[2] == 0xbf;
}

/* ---- the record loop ---- */

struct reader {
    struct tool_stream s;
    const char *path;
    const struct tool_pairs_opts *o;
    struct tool_pairs *out;
    size_t cap;
    struct pairs_layout_ctx ctx;
    int detected;
    char first[TOOL_PAIRS_FIRST_BAD][200]; /* the first problems, for a mostly-unusable file */
    size_t n_first;
    char *err;
    size_t errlen;
};

static int push(struct reader *r, char *a, char *b)
{
    struct tool_pairs *p = r->out;
    if (p->n == r->cap) {
        size_t nc = r->cap ? r->cap * 2 : 256;
        char **x = realloc(p->preferred, nc * sizeof *x);
        if (!x) return -1;
        p->preferred = x;
        char **y = realloc(p->dispreferred, nc * sizeof *y);
        if (!y) return -1;
        p->dispreferred = y;
        r->cap = nc;
    }
    p->preferred[p->n] = a;
    p->dispreferred[p->n] = b;
    p->n++;
    return 0;
}

/* A record at loc ("12", or "12:[3]" for an array item): rec, or a problem
 * found before it could be parsed (msg). Returns 0 to go on, 1 when
 * max_pairs is reached, -1 to stop with r->err. */
static int take(struct reader *r, const json_t *rec, const char *loc, const char *msg)
{
    struct tool_pairs *p = r->out;
    struct pairs_problem pr = {"", ""};
    p->records++;
    int rc = RENDER_BAD;
    char *a = NULL, *b = NULL;
    if (msg) {
        snprintf(pr.msg, sizeof pr.msg, "%s", msg);
    } else if (!r->detected && json_is_object(rec)) {
        char dm[768];
        if (pairs_layout_detect(&r->ctx, p, rec, dm, sizeof dm)) {
            snprintf(r->err, r->errlen, "%s:%s: %s", r->path, loc, dm);
            return -1;
        }
        r->detected = 1;
    }
    if (!msg && (r->detected || !json_is_object(rec))) {
        if (!r->detected) snprintf(pr.msg, sizeof pr.msg, "expected a JSON object, found %s",
                                   json_is_array(rec) ? "an array" : json_is_string(rec) ? "a string" : "a scalar");
        else rc = pairs_layout_render(&r->ctx, rec, &a, &b, &pr);
    }
    switch (rc) {
    case RENDER_OK:
        if (push(r, a, b)) { free(a); free(b); snprintf(r->err, r->errlen, "%s: out of memory", r->path); return -1; }
        return r->o->max_pairs && p->n >= r->o->max_pairs ? 1 : 0;
    case RENDER_BOTH_SAFE: p->n_both_safe++; return 0;
    case RENDER_NEITHER_SAFE: p->n_neither_safe++; return 0;
    case RENDER_OTHER_CATEGORY: p->n_other_category++; return 0;
    case RENDER_BAD: break;
    default: snprintf(r->err, r->errlen, "%s:%s: out of memory", r->path, loc); return -1;
    }
    char where[256];
    snprintf(where, sizeof where, "%s%s%s", loc, pr.field[0] ? ":" : "", pr.field);
    if (!r->o->skip_bad) {
        snprintf(r->err, r->errlen, "%s:%s: %s", r->path, where, pr.msg);
        return -1;
    }
    if (!p->skipped) {
        p->first_bad_line = strtoul(loc, NULL, 10);
        snprintf(p->first_bad, sizeof p->first_bad, "line %.120s: %.380s", where, pr.msg);
    }
    if (r->n_first < TOOL_PAIRS_FIRST_BAD)
        snprintf(r->first[r->n_first++], sizeof r->first[0], "line %.50s: %.140s", where, pr.msg);
    p->skipped++;
    return 0;
}

static int stream_fail(struct reader *r, size_t line)
{
    snprintf(r->err, r->errlen, "%s:%zu: %s", r->path, line, r->s.err);
    return -1;
}

static int read_jsonl(struct reader *r)
{
    char *line;
    size_t len;
    int got;
    while ((got = tool_stream_line(&r->s, &line, &len)) == 1) {
        if (r->o->cancelled && r->o->cancelled()) {
            snprintf(r->err, r->errlen, "%s:%zu: interrupted", r->path, r->s.lineno);
            return -1;
        }
        if (r->s.lineno == 1 && is_bom(line, len)) { line += 3; len -= 3; }
        size_t k = 0;
        while (k < len && (line[k] == ' ' || line[k] == '\t')) k++;
        if (k == len) continue; /* blank line */
        char loc[32];
        snprintf(loc, sizeof loc, "%zu", r->s.lineno);
        int rc;
        if (strlen(line) != len) {
            rc = take(r, NULL, loc, "contains a NUL byte");
        } else {
            json_error_t je;
            json_t *rec = json_loadb(line, len, JSON_REJECT_DUPLICATES, &je);
            if (!rec) {
                char m[300];
                snprintf(m, sizeof m, "invalid JSON at column %d: %s", je.column, je.text);
                rc = take(r, NULL, loc, m);
            } else {
                rc = take(r, rec, loc, NULL);
                json_decref(rec);
            }
        }
        if (rc) return rc < 0 ? -1 : 0;
    }
    return got < 0 ? stream_fail(r, r->s.lineno + 1) : 0;
}

static size_t count_lines(const char *s, size_t n)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++) c += s[i] == '\n';
    return c;
}

/* One JSON array of records, parsed item by item so that each problem names
 * the line the item starts on and its index. */
static int read_json(struct reader *r)
{
    char *data;
    size_t len;
    if (tool_stream_rest(&r->s, &data, &len)) return stream_fail(r, 1);
    size_t pos = is_bom(data, len) ? 3 : 0, line = 1;
    int rc = -1;
#define SKIP_WS() while (pos < len && strchr(" \t\r\n", data[pos]) && data[pos]) { line += data[pos] == '\n'; pos++; }
    SKIP_WS();
    if (pos == len) { rc = 0; goto out; } /* empty: "no pairs" below */
    if (data[pos] != '[') {
        snprintf(r->err, r->errlen, "%s:%zu: expected a JSON array of records, found '%c'", r->path, line, data[pos]);
        goto out;
    }
    pos++;
    for (size_t i = 0;; i++) {
        if (r->o->cancelled && r->o->cancelled()) {
            snprintf(r->err, r->errlen, "%s:%zu: interrupted", r->path, line);
            goto out;
        }
        SKIP_WS();
        if (pos < len && data[pos] == ']' && i == 0) { pos++; break; }
        if (pos == len) { snprintf(r->err, r->errlen, "%s:%zu: the JSON array is not closed", r->path, line); goto out; }
        json_error_t je;
        json_t *rec = json_loadb(data + pos, len - pos, JSON_REJECT_DUPLICATES | JSON_DISABLE_EOF_CHECK, &je);
        if (!rec) { /* a syntax error: the rest of the array cannot be found */
            snprintf(r->err, r->errlen, "%s:%zu:[%zu]: invalid JSON at column %d: %s", r->path, line + (size_t)je.line - 1,
                     i, je.column, je.text);
            goto out;
        }
        char loc[48];
        snprintf(loc, sizeof loc, "%zu:[%zu]", line, i);
        line += count_lines(data + pos, (size_t)je.position);
        pos += (size_t)je.position;
        int t = take(r, rec, loc, NULL);
        json_decref(rec);
        if (t < 0) goto out;
        if (t > 0) { rc = 0; goto out; }
        SKIP_WS();
        if (pos < len && data[pos] == ',') { pos++; continue; }
        if (pos < len && data[pos] == ']') { pos++; break; }
        snprintf(r->err, r->errlen, "%s:%zu: expected ',' or ']' after array item %zu", r->path, line, i);
        goto out;
    }
    SKIP_WS();
    if (pos < len) {
        snprintf(r->err, r->errlen, "%s:%zu: unexpected text after the JSON array", r->path, line);
        goto out;
    }
#undef SKIP_WS
    rc = 0;
out:
    free(data);
    return rc;
}

/* Column names that make a first TSV line a header. */
static int known_column(const char *name, size_t n, const struct tool_pairs_opts *o)
{
    static const char *const names[] = {
        "preferred", "dispreferred", "chosen", "rejected", "prompt", "prompt_text", "unpert_gen_text",
        "pert_gen_text", "response_0", "response_1", "is_response_0_safe", "is_response_1_safe"};
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++)
        if (strlen(names[k]) == n && memcmp(names[k], name, n) == 0) return 1;
    const char *f[3] = {o->preferred_field, o->dispreferred_field, o->prompt_field};
    for (int k = 0; k < 3; k++)
        if (f[k] && strlen(f[k]) == n && memcmp(f[k], name, n) == 0) return 1;
    return 0;
}

/* Split a TSV line at tabs into (start, length) cells; returns the count. */
static size_t split_tabs(const char *line, size_t len, const char ***starts, size_t **lens)
{
    size_t n = 1;
    for (size_t i = 0; i < len; i++) n += line[i] == '\t';
    *starts = malloc(n * sizeof **starts);
    *lens = malloc(n * sizeof **lens);
    if (!*starts || !*lens) { free(*starts); free(*lens); *starts = NULL; *lens = NULL; return 0; }
    size_t c = 0, b = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i == len || line[i] == '\t') { (*starts)[c] = line + b; (*lens)[c] = i - b; c++; b = i + 1; }
    }
    return n;
}

static int read_tsv(struct reader *r)
{
    const struct tool_pairs_opts *o = r->o;
    char **header = NULL;
    size_t n_header = 0;
    int first = 1, rc = 0, got;
    char *line;
    size_t len;
    while ((got = tool_stream_line(&r->s, &line, &len)) == 1) {
        if (r->o->cancelled && r->o->cancelled()) {
            snprintf(r->err, r->errlen, "%s:%zu: interrupted", r->path, r->s.lineno);
            return -1;
        }
        if (r->s.lineno == 1 && is_bom(line, len)) { line += 3; len -= 3; }
        size_t k = 0;
        while (k < len && (line[k] == ' ' || line[k] == '\t')) k++;
        if (k == len) continue;
        char loc[32];
        snprintf(loc, sizeof loc, "%zu", r->s.lineno);
        const char **st = NULL;
        size_t *ln = NULL, nc = 0;
        const char *msg = NULL;
        char m[200];
        if (strlen(line) != len) msg = "contains a NUL byte";
        else if (!valid_utf8((const unsigned char *)line, len)) msg = "invalid UTF-8";
        else if (!(nc = split_tabs(line, len, &st, &ln))) { snprintf(r->err, r->errlen, "%s: out of memory", r->path); rc = -1; break; }
        if (first && !msg) {
            first = 0;
            size_t known = 0, empty = 0;
            for (size_t c = 0; c < nc; c++) { known += known_column(st[c], ln[c], o); empty += ln[c] == 0; }
            if (known >= 2 && !empty && !memchr(line, '\\', len)) { /* a header naming the columns */
                header = calloc(nc, sizeof *header);
                for (size_t c = 0; header && c < nc; c++) header[c] = strndup(st[c], ln[c]);
                n_header = nc;
                size_t used = strlen(r->out->why);
                snprintf(r->out->why + used, sizeof r->out->why - used, "; the first line is a header");
                free(st); free(ln);
                continue;
            }
            if (!o->preferred_field) {
                size_t used = strlen(r->out->why);
                snprintf(r->out->why + used, sizeof r->out->why - used, "; no header: two columns preferred, dispreferred");
            }
        }
        first = 0;
        json_t *rec = NULL;
        if (!msg && header && nc != n_header) {
            snprintf(m, sizeof m, "expected %zu tab-separated columns as in the header, found %zu", n_header, nc);
            msg = m;
        } else if (!msg && !header && nc != 2) {
            snprintf(m, sizeof m, "expected 2 tab-separated columns, found %zu", nc);
            msg = m;
        } else if (!msg && !header && ln[0] == 0) {
            msg = "column 1 (preferred) is empty";
        } else if (!msg && !header && ln[1] == 0) {
            msg = "column 2 (dispreferred) is empty";
        } else if (!msg) {
            rec = json_object();
            for (size_t c = 0; rec && c < nc; c++) {
                const char *key = header ? header[c]
                                 : c == 0 ? (o->preferred_field ? o->preferred_field : "preferred")
                                          : (o->dispreferred_field ? o->dispreferred_field : "dispreferred");
                char *cell = unescape(st[c], ln[c]);
                if (!cell || !key || json_object_set_new(rec, key, json_string(cell))) { json_decref(rec); rec = NULL; }
                free(cell);
            }
            if (!rec) { free(st); free(ln); snprintf(r->err, r->errlen, "%s: out of memory", r->path); rc = -1; break; }
        }
        free(st);
        free(ln);
        int t = take(r, rec, loc, msg);
        json_decref(rec);
        if (t) { rc = t < 0 ? -1 : 0; goto out; }
    }
    if (got < 0) rc = stream_fail(r, r->s.lineno + 1);
out:
    for (size_t c = 0; c < n_header; c++) free(header ? header[c] : NULL);
    free(header);
    return rc;
}

/* The container: --format, else the file name, else the first byte. */
static int choose_format(struct reader *r, int *fmt)
{
    char *why = r->out->why;
    size_t wl = sizeof r->out->why;
    if (r->o->format != PAIRS_AUTO) {
        *fmt = r->o->format;
        snprintf(why, wl, "--format %s", tool_pairs_format_name(*fmt));
        return 0;
    }
    const char *p = r->path;
    if (ends_with(p, ".tsv") || ends_with(p, ".tsv.gz")) {
        *fmt = PAIRS_TSV;
        snprintf(why, wl, "the name ends in .tsv");
        return 0;
    }
    /* the first byte that is not white space (after a byte-order mark) */
    size_t want = 4096;
    for (;;) {
        long n = tool_stream_peek(&r->s, want);
        if (n < 0) return stream_fail(r, 1);
        const char *b = r->s.buf + r->s.pos;
        size_t i = is_bom(b, (size_t)n) ? 3 : 0;
        while (i < (size_t)n && strchr(" \t\r\n", b[i]) && b[i]) i++;
        if (i < (size_t)n || (size_t)n < want) {
            char c = i < (size_t)n ? b[i] : '\0';
            if (c == '[') { *fmt = PAIRS_JSON; snprintf(why, wl, "the first character is '['"); }
            else if (c == '{') { *fmt = PAIRS_JSONL; snprintf(why, wl, "the first character is '{'"); }
            else if (c && !ends_with(p, ".jsonl") && !ends_with(p, ".jsonl.gz") && !ends_with(p, ".json") &&
                     !ends_with(p, ".json.gz") && memchr(b + i, '\t', (size_t)n - i)) {
                *fmt = PAIRS_TSV;
                snprintf(why, wl, "the first line has tabs and no JSON");
            } else {
                *fmt = PAIRS_JSONL;
                snprintf(why, wl, c ? "not TSV (no tab) and not a JSON array" : "empty");
            }
            return 0;
        }
        want *= 2;
    }
}

static void parquet_message(char *err, size_t errlen, const char *path)
{
    snprintf(err, errlen,
             "%s: a Parquet file (it starts with the magic bytes PAR1); profs reads JSONL, JSON or TSV, so convert it "
             "first, e.g. with DuckDB: duckdb -c \"COPY (FROM '%s') TO 'pairs.jsonl' (FORMAT json)\", or with pandas "
             "and pyarrow: python3 -c \"import pandas; pandas.read_parquet('%s').to_json('pairs.jsonl', "
             "orient='records', lines=True, force_ascii=False)\"",
             path, strcmp(path, "-") ? path : "pairs.parquet", strcmp(path, "-") ? path : "pairs.parquet");
}

int tool_pairs_read(struct tool_pairs *out, const char *path, const struct tool_pairs_opts *o,
                    char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    struct reader r;
    memset(&r, 0, sizeof r);
    r.path = path;
    r.o = o;
    r.out = out;
    r.err = err;
    r.errlen = errlen;
    if (pairs_layout_init(&r.ctx, o, err, errlen)) return -1;
    if (tool_stream_open(&r.s, path, err, errlen)) { pairs_layout_free(&r.ctx); return -1; }
    out->gzip = r.s.gzip;
    int fmt = 0, rc = -1;
    if (r.s.parquet) { parquet_message(err, errlen, path); goto done; }
    if (choose_format(&r, &fmt)) goto done;
    out->format = fmt;
    rc = fmt == PAIRS_TSV ? read_tsv(&r) : fmt == PAIRS_JSON ? read_json(&r) : read_jsonl(&r);
    if (rc == 0 && tool_stream_drain(&r.s)) rc = stream_fail(&r, r.s.lineno);
done:
    tool_stream_hash(&r.s, out->sha256, &out->bytes);
    tool_stream_close(&r.s);
    pairs_layout_free(&r.ctx);
    if (rc) { tool_pairs_free(out); return -1; }
    out->rule = tool_pairs_layout_rule(out->layout, o);
    if (out->n == 0) {
        size_t filtered = out->n_both_safe + out->n_neither_safe + out->n_other_category;
        if (filtered)
            snprintf(err, errlen, "%s: no pairs: of %zu rows, %zu have both replies safe, %zu neither, %zu another harm "
                     "category than '%s'%s", path, out->records, out->n_both_safe, out->n_neither_safe,
                     out->n_other_category, o->harm_category ? o->harm_category : "-",
                     out->skipped ? " (and the rest were bad)" : "");
        else
            snprintf(err, errlen, "%s: no pairs%s%s%s", path,
                     out->skipped ? " (every line was bad; first: " : " (the file is empty)",
                     out->skipped ? out->first_bad : "", out->skipped ? ")" : "");
        tool_pairs_free(out);
        return -1;
    }
    if (out->skipped * 2 > out->records) { /* mostly unusable: the layout is likely the wrong one */
        int n = snprintf(err, errlen, "%s: %zu of %zu records are unusable as %s %s (%s); the first: ", path,
                         out->skipped, out->records, tool_pairs_format_name(out->format),
                         tool_pairs_layout_name(out->layout), out->why);
        for (size_t i = 0; i < r.n_first && n >= 0 && (size_t)n < errlen; i++)
            n += snprintf(err + n, errlen - (size_t)n, "%s%s", i ? "; " : "", r.first[i]);
        tool_pairs_free(out);
        return -1;
    }
    return 0;
}

void tool_pairs_free(struct tool_pairs *p)
{
    if (!p) return;
    for (size_t i = 0; i < p->n; i++) { free(p->preferred[i]); free(p->dispreferred[i]); }
    free(p->preferred);
    free(p->dispreferred);
    p->preferred = p->dispreferred = NULL;
    p->n = 0;
}

int tool_read_lines(char ***lines, size_t *n, const char *path, char *err, size_t errlen)
{
    *lines = NULL;
    *n = 0;
    struct tool_stream s;
    if (tool_stream_open(&s, path, err, errlen)) return -1;
    size_t cap = 0, len;
    int got;
    char **v = NULL, *line;
    while ((got = tool_stream_line(&s, &line, &len)) == 1) {
        if (len == 0) continue;
        if (strlen(line) != len) { snprintf(err, errlen, "%s:%zu: contains a NUL byte", path, s.lineno); goto fail; }
        if (!valid_utf8((const unsigned char *)line, len)) { snprintf(err, errlen, "%s:%zu: invalid UTF-8", path, s.lineno); goto fail; }
        if (*n == cap) {
            cap = cap ? cap * 2 : 64;
            char **nv = realloc(v, cap * sizeof *nv);
            if (!nv) { snprintf(err, errlen, "%s: out of memory", path); goto fail; }
            v = nv;
        }
        v[*n] = strdup(line);
        if (!v[*n]) { snprintf(err, errlen, "%s: out of memory", path); goto fail; }
        (*n)++;
    }
    if (got < 0) { snprintf(err, errlen, "%s:%zu: %s", path, s.lineno + 1, s.err); goto fail; }
    tool_stream_close(&s);
    *lines = v;
    return 0;
fail:
    tool_stream_close(&s);
    tool_free_lines(v, *n);
    *n = 0;
    return -1;
}

void tool_free_lines(char **lines, size_t n)
{
    for (size_t i = 0; i < n; i++) free(lines[i]);
    free(lines);
}
