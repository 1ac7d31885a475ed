/* Preference-pair reader (see pairs.h for the formats). zlib's gzopen/gzgets
 * read plain and gzip-compressed files alike. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <zlib.h>

#include "pairs.h"
#include "util.h"

static const char *const known_fields[][2] = {
    {"preferred", "dispreferred"},
    {"chosen", "rejected"},
    {"unpert_gen_text", "pert_gen_text"},
};
#define N_KNOWN (sizeof known_fields / sizeof known_fields[0])

/* A growable line reader over gzread; handles lines of any length and keeps
 * NUL bytes (a line holding one is reported, never read as empty). Once a
 * line has a NUL byte the rest of it is skipped, not stored: binary data such
 * as a gzip of zeros costs no memory. */
struct line_reader {
    gzFile f;
    char *buf; size_t cap; size_t lineno;
    char in[1 << 16]; size_t ipos, ilen; int eof;
};

/* Returns 1 with a line (line ending removed), 0 at end, -1 on error. */
static int next_line(struct line_reader *r, size_t *len)
{
    size_t n = 0;
    int any = 0, nul = 0;
    for (;;) {
        if (r->ipos == r->ilen) {
            if (r->eof) break;
            int got = gzread(r->f, r->in, sizeof r->in);
            if (got < 0) return -1;
            if (got == 0) {
                int zerr;
                gzerror(r->f, &zerr);
                if (zerr != Z_OK && zerr != Z_STREAM_END) return -1;   /* a truncated gzip stream shows here */
                r->eof = 1;
                break;
            }
            r->ipos = 0;
            r->ilen = (size_t)got;
        }
        any = 1;
        const char *s = r->in + r->ipos;
        size_t avail = r->ilen - r->ipos;
        const char *nl = memchr(s, '\n', avail);
        size_t take = nl ? (size_t)(nl - s) + 1 : avail;
        size_t keep = take;
        if (nul) keep = 0;
        else {
            const char *z = memchr(s, '\0', take);
            if (z) { nul = 1; keep = (size_t)(z - s) + 1; }
        }
        if (r->cap - n < keep + 1) {
            size_t nc = r->cap ? r->cap : 4096;
            while (nc - n < keep + 1) nc *= 2;
            char *nb = realloc(r->buf, nc);
            if (!nb) return -1;
            r->buf = nb;
            r->cap = nc;
        }
        memcpy(r->buf + n, s, keep);
        n += keep;
        r->ipos += take;
        if (nl) break;
    }
    if (!any) return 0;
    if (!r->buf) { r->buf = malloc(1); if (!r->buf) return -1; r->cap = 1; }
    r->buf[n] = '\0';
    r->lineno++;
    while (n > 0 && (r->buf[n - 1] == '\n' || r->buf[n - 1] == '\r')) r->buf[--n] = '\0';
    *len = n;
    return 1;
}

static int open_reader(struct line_reader *r, const char *path, int *is_gz, char *err, size_t errlen)
{
    memset(r, 0, sizeof *r);
    FILE *probe = fopen(path, "rb");
    if (!probe) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    unsigned char magic[2] = {0, 0};
    size_t got = fread(magic, 1, 2, probe);
    fclose(probe);
    if (is_gz) *is_gz = got == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
    if (tool_is_dir(path)) {
        snprintf(err, errlen, "%s: is a directory, not a pair file", path);
        return -1;
    }
    r->f = gzopen(path, "rb");
    if (!r->f) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno ? errno : ENOMEM));
        return -1;
    }
    gzbuffer(r->f, 1 << 16);
    return 0;
}

static void close_reader(struct line_reader *r)
{
    if (r->f) gzclose(r->f);
    free(r->buf);
}

static const char *gz_problem(struct line_reader *r)
{
    int zerr;
    const char *m = gzerror(r->f, &zerr);
    if (zerr == Z_ERRNO) return strerror(errno);
    const char *colon = strstr(m, ": "); /* zlib prefixes the path */
    return colon ? colon + 2 : m;
}

static int ends_with(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcmp(s + a - b, suf) == 0;
}

static int push(struct tool_pairs *p, size_t *cap, char *a, char *b)
{
    if (p->n == *cap) {
        size_t nc = *cap ? *cap * 2 : 256;
        char **x = realloc(p->preferred, nc * sizeof *x);
        if (!x) return -1;
        p->preferred = x;
        char **y = realloc(p->dispreferred, nc * sizeof *y);
        if (!y) return -1;
        p->dispreferred = y;
        *cap = nc;
    }
    p->preferred[p->n] = a;
    p->dispreferred[p->n] = b;
    p->n++;
    return 0;
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

/* Parse one JSONL line. Returns 0 with *a, *b set; 1 with a problem in msg. */
static int parse_json_line(const char *line, size_t len, const struct tool_pairs_opts *o,
                           struct tool_pairs *p, char **a, char **b, char *msg, size_t msglen)
{
    json_error_t je;
    json_t *root = json_loadb(line, len, JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        snprintf(msg, msglen, "invalid JSON at column %d: %s", je.column, je.text);
        return 1;
    }
    int rc = 1;
    if (!json_is_object(root)) {
        snprintf(msg, msglen, "expected a JSON object, found %s",
                 json_is_array(root) ? "an array" : json_is_string(root) ? "a string" : "a scalar");
        goto out;
    }
    if (!p->fields[0][0]) {
        if (o->preferred_field && o->dispreferred_field) {
            snprintf(p->fields[0], sizeof p->fields[0], "%s", o->preferred_field);
            snprintf(p->fields[1], sizeof p->fields[1], "%s", o->dispreferred_field);
        } else {
            for (size_t k = 0; k < N_KNOWN; k++) {
                if (json_object_get(root, known_fields[k][0]) && json_object_get(root, known_fields[k][1])) {
                    snprintf(p->fields[0], sizeof p->fields[0], "%s", known_fields[k][0]);
                    snprintf(p->fields[1], sizeof p->fields[1], "%s", known_fields[k][1]);
                    break;
                }
            }
            if (!p->fields[0][0]) {
                snprintf(msg, msglen, "no known pair of fields (preferred/dispreferred, chosen/rejected, "
                         "unpert_gen_text/pert_gen_text); name them with --preferred-field and --dispreferred-field");
                goto out;
            }
        }
    }
    for (int k = 0; k < 2; k++) {
        json_t *v = json_object_get(root, p->fields[k]);
        if (!v) { snprintf(msg, msglen, "missing field '%s'", p->fields[k]); goto out; }
        if (!json_is_string(v)) { snprintf(msg, msglen, "field '%s' is not a string", p->fields[k]); goto out; }
        if (json_string_length(v) == 0) { snprintf(msg, msglen, "field '%s' is empty", p->fields[k]); goto out; }
        if (strlen(json_string_value(v)) != json_string_length(v)) {
            snprintf(msg, msglen, "field '%s' contains a NUL character", p->fields[k]);
            goto out;
        }
    }
    *a = strdup(json_string_value(json_object_get(root, p->fields[0])));
    *b = strdup(json_string_value(json_object_get(root, p->fields[1])));
    if (!*a || !*b) { free(*a); free(*b); snprintf(msg, msglen, "out of memory"); rc = -1; goto out; }
    rc = 0;
out:
    json_decref(root);
    return rc;
}

static int parse_tsv_line(const char *line, size_t len, char **a, char **b, char *msg, size_t msglen)
{
    if (!valid_utf8((const unsigned char *)line, len)) { snprintf(msg, msglen, "invalid UTF-8"); return 1; }
    const char *tab = memchr(line, '\t', len);
    if (!tab) { snprintf(msg, msglen, "expected 2 tab-separated columns, found 1"); return 1; }
    const char *tab2 = memchr(tab + 1, '\t', len - (size_t)(tab + 1 - line));
    if (tab2) {
        size_t cols = 2;
        for (const char *q = tab2; q; q = memchr(q + 1, '\t', len - (size_t)(q + 1 - line))) cols++;
        snprintf(msg, msglen, "expected 2 tab-separated columns, found %zu", cols);
        return 1;
    }
    size_t la = (size_t)(tab - line), lb = len - la - 1;
    if (la == 0) { snprintf(msg, msglen, "column 1 (preferred) is empty"); return 1; }
    if (lb == 0) { snprintf(msg, msglen, "column 2 (dispreferred) is empty"); return 1; }
    *a = unescape(line, la);
    *b = unescape(tab + 1, lb);
    if (!*a || !*b) { free(*a); free(*b); snprintf(msg, msglen, "out of memory"); return -1; }
    return 0;
}

int tool_pairs_read(struct tool_pairs *out, const char *path, const struct tool_pairs_opts *o,
                    char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    struct line_reader r;
    if (open_reader(&r, path, &out->gzip, err, errlen)) return -1;
    int fmt = o->format;
    if (fmt == PAIRS_AUTO)
        fmt = ends_with(path, ".tsv") || ends_with(path, ".tsv.gz") ? PAIRS_TSV : PAIRS_JSONL;
    out->format = fmt;
    size_t cap = 0, len;
    int got;
    char msg[512];
    while ((got = next_line(&r, &len)) == 1) {
        if (tool_interrupted()) { snprintf(err, errlen, "%s: interrupted", path); goto fail; }
        if (o->max_pairs && out->n >= o->max_pairs) break;
        const char *line = r.buf;
        size_t l = len;
        /* UTF-8 byte-order mark on the first line */
        if (r.lineno == 1 && l >= 3 && (unsigned char)line[0] == 0xef && (unsigned char)line[1] == 0xbb &&
            (unsigned char)line[2] == 0xbf) { line += 3; l -= 3; }
        size_t k = 0;
        while (k < l && (line[k] == ' ' || line[k] == '\t')) k++;
        if (k == l) continue; /* blank line */
        if (strlen(line) != l) {
            snprintf(msg, sizeof msg, "contains a NUL byte at column %zu: binary data%s, not a line of text",
                     strlen(line) + 1, strlen(line) == 0 ? " (such as zeros)" : "");
        } else {
            char *a = NULL, *b = NULL;
            int rc;
            if (fmt == PAIRS_TSV) {
                if (out->n == 0 && out->skipped == 0 && !strchr(line, '\\')) {
                    /* header line naming the columns */
                    const char *pf = o->preferred_field ? o->preferred_field : "preferred";
                    const char *df = o->dispreferred_field ? o->dispreferred_field : "dispreferred";
                    char hdr[256];
                    snprintf(hdr, sizeof hdr, "%s\t%s", pf, df);
                    if (strcmp(line, hdr) == 0) continue;
                }
                rc = parse_tsv_line(line, l, &a, &b, msg, sizeof msg);
            } else {
                rc = parse_json_line(line, l, o, out, &a, &b, msg, sizeof msg);
            }
            if (rc < 0) { snprintf(err, errlen, "%s:%zu: %s", path, r.lineno, msg); goto fail; }
            if (rc == 0) {
                if (push(out, &cap, a, b)) {
                    free(a); free(b);
                    snprintf(err, errlen, "%s: out of memory", path);
                    goto fail;
                }
                continue;
            }
        }
        if (!o->skip_bad) {
            snprintf(err, errlen, "%s:%zu: %s", path, r.lineno, msg);
            goto fail;
        }
        if (!out->skipped) {
            out->first_bad_line = r.lineno;
            snprintf(out->first_bad, sizeof out->first_bad, "%s", msg);
        }
        out->skipped++;
    }
    if (got < 0) {
        snprintf(err, errlen, "%s:%zu: read error: %s", path, r.lineno + 1, gz_problem(&r));
        goto fail;
    }
    close_reader(&r);
    if (out->n == 0) {
        snprintf(err, errlen, "%s: no pairs%s", path, out->skipped ? " (every line was bad)" : " (the file is empty)");
        tool_pairs_free(out);
        return -1;
    }
    return 0;
fail:
    close_reader(&r);
    tool_pairs_free(out);
    return -1;
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
    struct line_reader r;
    if (open_reader(&r, path, NULL, err, errlen)) return -1;
    size_t cap = 0, len;
    int got;
    char **v = NULL;
    while ((got = next_line(&r, &len)) == 1) {
        if (tool_interrupted()) { snprintf(err, errlen, "%s: interrupted", path); goto fail; }
        if (len == 0) continue;
        if (strlen(r.buf) != len) { snprintf(err, errlen, "%s:%zu: contains a NUL byte", path, r.lineno); goto fail; }
        if (!valid_utf8((const unsigned char *)r.buf, len)) { snprintf(err, errlen, "%s:%zu: invalid UTF-8", path, r.lineno); goto fail; }
        if (*n == cap) {
            cap = cap ? cap * 2 : 64;
            char **nv = realloc(v, cap * sizeof *nv);
            if (!nv) { snprintf(err, errlen, "%s: out of memory", path); goto fail; }
            v = nv;
        }
        v[*n] = strdup(r.buf);
        if (!v[*n]) { snprintf(err, errlen, "%s: out of memory", path); goto fail; }
        (*n)++;
    }
    if (got < 0) { snprintf(err, errlen, "%s:%zu: read error: %s", path, r.lineno + 1, gz_problem(&r)); goto fail; }
    close_reader(&r);
    *lines = v;
    return 0;
fail:
    close_reader(&r);
    tool_free_lines(v, *n);
    *n = 0;
    return -1;
}

void tool_free_lines(char **lines, size_t n)
{
    for (size_t i = 0; i < n; i++) free(lines[i]);
    free(lines);
}
