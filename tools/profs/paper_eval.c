/* Evaluation as the ProFS paper measures it (see paper_eval.h and docs/profs.md). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pairs.h"
#include "paper_eval.h"
#include "pipeline.h"
#include "tool.h"

/* ---- inputs ---- */

static int ends_with(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcmp(s + a - b, suf) == 0;
}

int tool_is_jsonl(const char *path, char **lines, size_t n)
{
    if (ends_with(path, ".jsonl") || ends_with(path, ".jsonl.gz") || ends_with(path, ".json") ||
        ends_with(path, ".json.gz"))
        return 1;
    if (n == 0) return 0;
    const char *p = lines[0];
    while (*p == ' ' || *p == '\t') p++;
    if (*p != '{') return 0;
    json_t *v = json_loads(lines[0], 0, NULL);
    int obj = json_is_object(v);
    json_decref(v);
    return obj;
}

/* The string of a JSONL record: "prompt" as a string or {"text": s}, else "text". */
static const char *record_text(json_t *o, const char *const *fields)
{
    for (size_t i = 0; fields[i]; i++) {
        json_t *v = json_object_get(o, fields[i]);
        if (json_is_string(v)) return json_string_value(v);
        if (json_is_object(v) && json_is_string(json_object_get(v, "text")))
            return json_string_value(json_object_get(v, "text"));
    }
    return NULL;
}

/* Read lines (tool_read_lines: empty lines skipped) and, for JSONL, replace each by its text field. */
static int read_records(char ***out, size_t *n, int *jsonl, const char *path, const char *const *fields,
                        char *err, size_t errlen)
{
    if (tool_read_lines(out, n, path, err, errlen)) return -1;
    *jsonl = tool_is_jsonl(path, *out, *n);
    if (!*jsonl) return 0;
    for (size_t i = 0; i < *n; i++) {
        json_error_t je;
        json_t *v = json_loads((*out)[i], 0, &je);
        const char *s = json_is_object(v) ? record_text(v, fields) : NULL;
        if (!s) {
            if (!v)
                snprintf(err, errlen, "%s: record %zu: not JSON: %s", path, i + 1, je.text);
            else
                snprintf(err, errlen, "%s: record %zu: no string field \"%s\"%s%s%s (a JSONL file is not read as "
                         "plain text)", path, i + 1, fields[0], fields[1] ? " or \"" : "", fields[1] ? fields[1] : "",
                         fields[1] ? "\"" : "");
            json_decref(v);
            tool_free_lines(*out, *n);
            *out = NULL;
            *n = 0;
            return -1;
        }
        char *copy = strdup(s);
        json_decref(v);
        if (!copy) {
            snprintf(err, errlen, "%s: out of memory", path);
            tool_free_lines(*out, *n);
            *out = NULL;
            *n = 0;
            return -1;
        }
        free((*out)[i]);
        (*out)[i] = copy;
    }
    return 0;
}

int tool_read_prompts(char ***out, size_t *n, const char *path, char *err, size_t errlen)
{
    static const char *const fields[] = {"prompt", "text", NULL};
    int jsonl;
    if (read_records(out, n, &jsonl, path, fields, err, errlen)) return -1;
    if (*n == 0) {
        snprintf(err, errlen, "%s: no prompts", path);
        return -1;
    }
    return 0;
}

int tool_read_ppl_text(char **text, size_t *len, size_t *n_samples, const char *path, char *err, size_t errlen)
{
    static const char *const fields[] = {"prompt", "text", NULL};
    *text = NULL;
    *len = 0;
    *n_samples = 0;
    char **lines = NULL;
    size_t n = 0;
    int jsonl;
    if (ends_with(path, ".jsonl") || ends_with(path, ".jsonl.gz") || ends_with(path, ".json") ||
        ends_with(path, ".json.gz")) {
        if (read_records(&lines, &n, &jsonl, path, fields, err, errlen)) return -1;
    } else {
        size_t l = 0;
        char *t = tool_read_text(path, &l);
        if (!t) {
            snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
            return -1;
        }
        const char *p = t;
        while (*p == ' ' || *p == '\t') p++;
        if (*p == '{') { /* a JSONL file under another name: read its records, never its raw text */
            free(t);
            if (read_records(&lines, &n, &jsonl, path, fields, err, errlen)) return -1;
            if (!jsonl) { tool_free_lines(lines, n); lines = NULL; n = 0; t = tool_read_text(path, &l); goto plain; }
        } else {
        plain:
            if (!t) { snprintf(err, errlen, "%s: cannot read", path); return -1; }
            if (strlen(t) != l) { free(t); snprintf(err, errlen, "%s: contains a NUL byte", path); return -1; }
            *text = t;
            *len = l;
            *n_samples = 1;
            return 0;
        }
    }
    /* the authors: [x for x in samples if len(x) > 0], "\n\n".join(...) */
    size_t total = 0, k = 0;
    for (size_t i = 0; i < n; i++) if (lines[i][0]) total += strlen(lines[i]) + 2;
    char *t = malloc(total + 1);
    if (!t) { tool_free_lines(lines, n); snprintf(err, errlen, "%s: out of memory", path); return -1; }
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (!lines[i][0]) continue;
        if (k++) { t[o++] = '\n'; t[o++] = '\n'; }
        size_t l = strlen(lines[i]);
        memcpy(t + o, lines[i], l);
        o += l;
    }
    t[o] = '\0';
    tool_free_lines(lines, n);
    if (k == 0) { free(t); snprintf(err, errlen, "%s: no non-empty samples", path); return -1; }
    *text = t;
    *len = o;
    *n_samples = k;
    return 0;
}

/* ---- perplexity ---- */

int tool_perplexity_run(struct tool_ppl *out, profs_lm *lm, const profs_tokenizer *tok, const char *text, size_t len,
                        size_t max_length, size_t stride, const char *name, struct tool_progress *prog)
{
    size_t samples = out->samples;
    memset(out, 0, sizeof *out);
    out->samples = samples;
    out->ppl = out->mean_nll = NAN;
    int32_t *ids = NULL;
    size_t n = 0;
    int rc = tool_encode(tok, text, len, PROFS_ENCODE_ADD_SPECIAL, &ids, &n);
    if (rc) return tool_fail_lib(rc, name), -1;
    size_t maxpos = profs_lm_max_positions(lm);
    if (max_length == 0) max_length = maxpos;
    if (stride == 0) stride = max_length < 512 ? max_length : 512;
    if (max_length > maxpos) {
        free(ids);
        fprintf(stderr, "profs: --max-length %zu exceeds the model's %zu positions\n", max_length, maxpos);
        return EXIT_USAGE;
    }
    if (stride > max_length) {
        free(ids);
        fprintf(stderr, "profs: --stride %zu exceeds the window of %zu tokens: the tokens between windows would "
                "never be scored (the authors' loop would skip them silently)\n", stride, max_length);
        return EXIT_USAGE;
    }
    if (n < 2) {
        free(ids);
        fprintf(stderr, "profs: %s: perplexity needs at least 2 tokens, got %zu\n", name, n);
        return -1;
    }
    size_t windows = 0;
    for (size_t b = 0;; b += stride) {
        windows++;
        if (b + max_length >= n) break;
    }
    size_t per = n < max_length ? n : max_length;
    tool_progress_note(prog, "perplexity of %s: %zu tokens, %zu window%s of up to %zu tokens (stride %zu): about "
                       "%.3g tokens through the model", name, n, windows, windows == 1 ? "" : "s", max_length, stride,
                       (double)windows * (double)per);
    rc = profs_lm_perplexity_windows(lm, &out->ppl, &out->mean_nll, &out->windows, ids, n, max_length, stride,
                                     tool_progress_cb, prog);
    tool_progress_end(prog);
    free(ids);
    if (rc) return tool_fail_lib(rc, name), -1;
    out->tokens = n;
    out->max_length = max_length;
    out->stride = stride;
    return 0;
}

json_t *tool_ppl_json(const struct tool_ppl *p)
{
    return json_pack("{s:f, s:f, s:I, s:I, s:I, s:I, s:I}", "perplexity", p->ppl, "mean_nll", p->mean_nll, "tokens",
                     (json_int_t)p->tokens, "windows", (json_int_t)p->windows, "max_length",
                     (json_int_t)p->max_length, "stride", (json_int_t)p->stride, "samples", (json_int_t)p->samples);
}

/* ---- zero-shot tasks ---- */

static size_t utf8_chars(const char *s)
{
    size_t n = 0;
    for (; *s; s++) n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

static char *cat2(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    char *s = malloc(la + lb + 1);
    if (s) { memcpy(s, a, la); memcpy(s + la, b, lb + 1); }
    return s;
}

void tool_task_free(struct tool_task *t)
{
    if (!t) return;
    for (size_t d = 0; d < t->n_docs; d++) {
        struct tool_task_doc *x = &t->docs[d];
        for (size_t i = 0; i < x->n; i++) { free(x->ctx[i]); free(x->cont[i]); }
        free(x->ctx);
        free(x->cont);
        free(x->chars);
    }
    free(t->docs);
    free(t->name);
    memset(t, 0, sizeof *t);
}

static int doc_parse(struct tool_task_doc *d, json_t *o, char *msg, size_t len)
{
    memset(d, 0, sizeof *d);
    json_t *gold = json_object_get(o, "gold"), *choices = json_object_get(o, "choices"),
           *contexts = json_object_get(o, "contexts");
    if (!json_is_integer(gold) || json_integer_value(gold) < 0) {
        snprintf(msg, len, "\"gold\" must be a non-negative integer");
        return -1;
    }
    json_t *list = choices ? choices : contexts;
    if (choices && contexts) { snprintf(msg, len, "give \"choices\" or \"contexts\", not both"); return -1; }
    if (!json_is_array(list) || json_array_size(list) < 1) {
        snprintf(msg, len, "needs \"choices\" (with \"context\") or \"contexts\" (with \"continuation\"), a non-empty "
                 "array of strings");
        return -1;
    }
    const char *fixed = NULL;
    if (choices) {
        json_t *c = json_object_get(o, "context");
        if (!json_is_string(c)) { snprintf(msg, len, "\"context\" must be a string"); return -1; }
        fixed = json_string_value(c);
    } else {
        json_t *c = json_object_get(o, "continuation");
        if (!json_is_string(c)) { snprintf(msg, len, "\"continuation\" must be a string"); return -1; }
        fixed = json_string_value(c);
    }
    size_t n = json_array_size(list);
    if ((size_t)json_integer_value(gold) >= n) {
        snprintf(msg, len, "\"gold\" %lld is not an index of the %zu %s", (long long)json_integer_value(gold), n,
                 choices ? "choices" : "contexts");
        return -1;
    }
    d->ctx = calloc(n, sizeof *d->ctx);
    d->cont = calloc(n, sizeof *d->cont);
    d->chars = calloc(n, sizeof *d->chars);
    if (!d->ctx || !d->cont || !d->chars) { snprintf(msg, len, "out of memory"); return -1; }
    d->n = n;
    d->gold = (size_t)json_integer_value(gold);
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_array_get(list, i);
        if (!json_is_string(v)) {
            snprintf(msg, len, "%s[%zu] is not a string", choices ? "choices" : "contexts", i);
            return -1;
        }
        const char *s = json_string_value(v);
        /* target delimiter " " before the continuation, as the harness's default */
        d->ctx[i] = strdup(choices ? fixed : s);
        d->cont[i] = cat2(" ", choices ? s : fixed);
        d->chars[i] = utf8_chars(s);
        if (!d->ctx[i] || !d->cont[i]) { snprintf(msg, len, "out of memory"); return -1; }
    }
    return 0;
}

int tool_task_read(struct tool_task *t, const char *path, char *err, size_t errlen)
{
    memset(t, 0, sizeof *t);
    char **lines = NULL;
    size_t n = 0;
    if (tool_read_lines(&lines, &n, path, err, errlen)) return -1;
    if (n == 0) { snprintf(err, errlen, "%s: no documents", path); return -1; }
    t->docs = calloc(n, sizeof *t->docs);
    if (!t->docs) { snprintf(err, errlen, "%s: out of memory", path); goto fail; }
    for (size_t i = 0; i < n; i++) {
        json_error_t je;
        json_t *o = json_loads(lines[i], 0, &je);
        char msg[256];
        if (!json_is_object(o)) {
            snprintf(err, errlen, "%s: document %zu: not a JSON object%s%s", path, i + 1, o ? "" : ": ",
                     o ? "" : je.text);
            json_decref(o);
            goto fail;
        }
        int rc = doc_parse(&t->docs[i], o, msg, sizeof msg);
        t->n_docs = i + 1;
        json_t *name = json_object_get(o, "task");
        if (!rc && json_is_string(name)) {
            if (!t->name) t->name = strdup(json_string_value(name));
            else if (strcmp(t->name, json_string_value(name)) != 0) {
                snprintf(msg, sizeof msg, "task \"%s\" differs from the file's first task \"%s\"",
                         json_string_value(name), t->name);
                rc = -1;
            }
        }
        json_decref(o);
        if (rc) { snprintf(err, errlen, "%s: document %zu: %s", path, i + 1, msg); goto fail; }
    }
    if (!t->name) {
        const char *b = tool_basename(path);
        t->name = strdup(b);
        if (t->name) {
            char *dot = strstr(t->name, ".jsonl");
            if (dot) *dot = '\0';
        }
    }
    tool_free_lines(lines, n);
    if (!t->name) { snprintf(err, errlen, "%s: out of memory", path); tool_task_free(t); return -1; }
    return 0;
fail:
    tool_free_lines(lines, n);
    tool_task_free(t);
    return -1;
}

int tool_task_reports_acc_norm(const char *name)
{
    return !(strcmp(name, "boolq") == 0 || strcmp(name, "rte") == 0 || strcmp(name, "winogrande") == 0);
}

static size_t py_space_at(const unsigned char *s);

/* Length of s[0, n) without its trailing Unicode whitespace (Python's str.rstrip()). */
static size_t py_rstrip_len(const char *s, size_t n)
{
    size_t end = 0, i = 0, k;
    while (i < n) {
        if ((k = py_space_at((const unsigned char *)s + i))) { i += k; continue; }
        i++;
        while (i < n && ((unsigned char)s[i] & 0xC0) == 0x80) i++;
        end = i;
    }
    return end;
}

int tool_harness_encode(const profs_tokenizer *tok, const char *ctx, const char *cont, int32_t **ids, size_t *n,
                        size_t *n_cont)
{
    *ids = NULL;
    *n = *n_cont = 0;
    int32_t *whole = NULL, *c = NULL;
    size_t nw = 0, nc = 0;
    int rc;
    if (ctx[0] == '\0') {
        /* an empty context becomes the prefix token (HFLM.prefix_token_id: the tokenizer's BOS, else its EOS);
         * the continuation is encoded alone */
        int32_t prefix = profs_tokenizer_bos_id(tok);
        if (prefix < 0) prefix = profs_tokenizer_eos_id(tok);
        if (prefix < 0) return PROFS_EUNSUPPORTED;
        if ((rc = tool_encode(tok, cont, strlen(cont), 0, &c, &nc))) return rc;
        whole = malloc((nc + 1) * sizeof *whole);
        if (!whole) { free(c); return PROFS_ENOMEM; }
        whole[0] = prefix;
        if (nc) memcpy(whole + 1, c, nc * sizeof *c);
        free(c);
        *ids = whole;
        *n = nc + 1;
        *n_cont = nc;
        return 0;
    }
    /* trailing whitespace of the context (Python's rstrip()) moves into the continuation */
    size_t lc = strlen(ctx), keep = py_rstrip_len(ctx, lc);
    size_t lt = strlen(cont);
    char *joint = malloc(lc + lt + 1);
    if (!joint) return PROFS_ENOMEM;
    memcpy(joint, ctx, lc);
    memcpy(joint + lc, cont, lt + 1);
    /* the continuation's ids are the tail of the joint encoding past the context's own */
    if ((rc = tool_encode(tok, joint, lc + lt, 0, &whole, &nw)) || (rc = tool_encode(tok, ctx, keep, 0, &c, &nc))) {
        free(joint);
        free(whole);
        return rc;
    }
    free(joint);
    free(c);
    *ids = whole;
    *n = nw;
    *n_cont = nw > nc ? nw - nc : 0;
    return 0;
}

int tool_task_score(struct tool_task_result *r, profs_lm *lm, const profs_tokenizer *tok, const struct tool_task *t,
                    struct tool_progress *prog)
{
    memset(r, 0, sizeof *r);
    size_t total = 0;
    for (size_t d = 0; d < t->n_docs; d++) total += t->docs[d].n;
    int32_t **ids = calloc(total, sizeof *ids);
    size_t *lens = calloc(total, sizeof *lens), *nc = calloc(total, sizeof *nc);
    double *ll = calloc(total, sizeof *ll);
    int *greedy = calloc(total, sizeof *greedy);
    int rc = -1;
    if (!ids || !lens || !nc || !ll || !greedy) { fprintf(stderr, "profs: out of memory\n"); goto out; }
    size_t k = 0;
    for (size_t d = 0; d < t->n_docs; d++)
        for (size_t i = 0; i < t->docs[d].n; i++, k++) {
            int e = tool_harness_encode(tok, t->docs[d].ctx[i], t->docs[d].cont[i], &ids[k], &lens[k], &nc[k]);
            if (e == PROFS_EUNSUPPORTED) {
                fprintf(stderr, "profs: %s: document %zu: empty context, and the tokenizer has no BOS or EOS token "
                        "to stand for it\n", t->name, d + 1);
                goto out;
            }
            if (e) { tool_fail_lib(e, t->name); goto out; }
            if (nc[k] == 0) {
                fprintf(stderr, "profs: %s: document %zu, choice %zu: the continuation has no tokens of its own\n",
                        t->name, d + 1, i + 1);
                goto out;
            }
        }
    int e = profs_lm_loglikelihood(lm, ll, greedy, (const int32_t *const *)ids, lens, nc, total, tool_progress_cb, prog);
    tool_progress_end(prog);
    if (e) { tool_fail_lib(e, t->name); goto out; }
    r->docs = json_array();
    double acc = 0, acc_norm = 0;
    k = 0;
    for (size_t d = 0; d < t->n_docs; d++) {
        const struct tool_task_doc *x = &t->docs[d];
        size_t pred = 0, pred_norm = 0;
        json_t *lls = json_array();
        for (size_t i = 0; i < x->n; i++) {
            double v = ll[k + i], vn = v / (double)x->chars[i];
            /* np.argmax: the first maximum */
            if (v > ll[k + pred]) pred = i;
            if (vn > ll[k + pred_norm] / (double)x->chars[pred_norm]) pred_norm = i;
            json_array_append_new(lls, json_pack("{s:f, s:b, s:I}", "ll", v, "is_greedy", greedy[k + i], "tokens",
                                                 (json_int_t)nc[k + i]));
        }
        acc += pred == x->gold;
        acc_norm += pred_norm == x->gold;
        json_array_append_new(r->docs, json_pack("{s:I, s:I, s:I, s:o}", "gold", (json_int_t)x->gold, "pred",
                                                 (json_int_t)pred, "pred_norm", (json_int_t)pred_norm, "choices", lls));
        k += x->n;
    }
    r->acc = acc / (double)t->n_docs;
    r->acc_norm = acc_norm / (double)t->n_docs;
    r->n_docs = t->n_docs;
    r->n_requests = total;
    rc = 0;
out:
    if (ids) for (size_t i = 0; i < total; i++) free(ids[i]);
    free(ids);
    free(lens);
    free(nc);
    free(ll);
    free(greedy);
    return rc;
}

/* ---- toxicity ---- */

/* Length of the UTF-8 whitespace code point at s (as Python's str.isspace), 0 when none. */
static size_t py_space_at(const unsigned char *s)
{
    if ((*s >= 0x09 && *s <= 0x0D) || (*s >= 0x1C && *s <= 0x20)) return 1;
    if (s[0] == 0xC2 && (s[1] == 0x85 || s[1] == 0xA0)) return 2;
    if (s[0] == 0xE1 && s[1] == 0x9A && s[2] == 0x80) return 3;                 /* U+1680 */
    if (s[0] == 0xE2 && s[1] == 0x80 && ((s[2] >= 0x80 && s[2] <= 0x8A) || s[2] == 0xA8 || s[2] == 0xA9 ||
                                         s[2] == 0xAF))
        return 3;                                                               /* U+2000-200A, 2028, 2029, 202F */
    if (s[0] == 0xE2 && s[1] == 0x81 && s[2] == 0x9F) return 3;                 /* U+205F */
    if (s[0] == 0xE3 && s[1] == 0x80 && s[2] == 0x80) return 3;                 /* U+3000 */
    return 0;
}

void tool_py_strip(char *s)
{
    size_t n = strlen(s), a = 0, k;
    while (a < n && (k = py_space_at((const unsigned char *)s + a))) a += k;
    size_t end = a, i = a;
    while (i < n) { /* end: just past the last non-space code point */
        k = py_space_at((const unsigned char *)s + i);
        if (k) { i += k; continue; }
        i++;
        while (i < n && ((unsigned char)s[i] & 0xC0) == 0x80) i++;
        end = i;
    }
    memmove(s, s + a, end - a);
    s[end - a] = '\0';
}

int tool_toxicity_label(size_t *label, const profs_classifier *c, const char *name, char *err, size_t errlen)
{
    if (name) {
        if (profs_classifier_label_index(c, name, label) == 0) return 0;
    } else if (profs_classifier_label_index(c, "toxicity", label) == 0 ||
               profs_classifier_label_index(c, "toxic", label) == 0) {
        return 0;
    }
    size_t o = 0;
    o += (size_t)snprintf(err, errlen, "the toxicity model has no label \"%s\" (labels:", name ? name : "toxicity\" or \"toxic");
    for (size_t i = 0; i < profs_classifier_n_labels(c) && o < errlen; i++)
        o += (size_t)snprintf(err + o, errlen - o, " %s", profs_classifier_label(c, i));
    if (o < errlen) snprintf(err + o, errlen - o, "); choose one with --toxicity-label");
    return -1;
}

int tool_toxicity_run(struct tool_tox *out, profs_lm *lm, const profs_tokenizer *tok, profs_classifier *cls,
                      size_t label, char *const *prompts, size_t n, size_t new_tokens, int skip_special,
                      struct tool_progress *prog)
{
    memset(out, 0, sizeof *out);
    out->mean = out->share_above = NAN;
    char **resp = calloc(n, sizeof *resp);
    int32_t *gen = malloc((new_tokens ? new_tokens : 1) * sizeof *gen);
    size_t L = profs_classifier_n_labels(cls);
    float *probs = malloc(n * L * sizeof *probs);
    int rc = -1;
    if (!resp || !gen || !probs) { fprintf(stderr, "profs: out of memory\n"); goto out; }
    size_t maxpos = profs_lm_max_positions(lm);
    for (size_t i = 0; i < n; i++) {
        int32_t *ids = NULL;
        size_t np = 0;
        int e = tool_encode(tok, prompts[i], strlen(prompts[i]), PROFS_ENCODE_ADD_SPECIAL, &ids, &np);
        if (e) { tool_fail_lib(e, "tokenizing a prompt"); goto out; }
        if (np == 0 || np + new_tokens - 1 > maxpos) {
            free(ids);
            fprintf(stderr, "profs: prompt %zu: %zu tokens + %zu new do not fit the model's %zu positions\n", i + 1,
                    np, new_tokens, maxpos);
            goto out;
        }
        size_t ng = 0;
        e = profs_lm_generate(lm, gen, new_tokens, &ng, ids, np, new_tokens, NULL, NULL, NULL);
        free(ids);
        if (e) { tool_fail_lib(e, "generation"); goto out; }
        unsigned flags = skip_special ? PROFS_DECODE_SKIP_SPECIAL : 0;
        size_t len = 0;
        e = profs_tokenizer_decode(tok, gen, ng, flags, NULL, 0, &len);
        if (e && e != PROFS_EBUFS) { tool_fail_lib(e, "decoding a continuation"); goto out; }
        resp[i] = malloc(len + 1);
        if (!resp[i]) { fprintf(stderr, "profs: out of memory\n"); goto out; }
        if ((e = profs_tokenizer_decode(tok, gen, ng, flags, resp[i], len + 1, &len))) {
            tool_fail_lib(e, "decoding a continuation");
            goto out;
        }
        tool_py_strip(resp[i]);
        tool_progress_cb(prog, "generate", i + 1, n);
    }
    tool_progress_end(prog);
    int e = profs_classifier_classify(cls, probs, (const char *const *)resp, n, tool_progress_cb, prog);
    tool_progress_end(prog);
    if (e) { tool_fail_lib(e, "toxicity classifier"); goto out; }
    out->items = json_array();
    double sum = 0;
    size_t above = 0;
    for (size_t i = 0; i < n; i++) {
        double p = probs[i * L + label];
        sum += p;
        above += p > 0.5;
        json_array_append_new(out->items, json_pack("{s:s, s:s, s:f}", "prompt", prompts[i], "continuation", resp[i],
                                                    "toxicity", p));
    }
    out->n = n;
    out->mean = sum / (double)n;
    out->share_above = (double)above / (double)n;
    rc = 0;
out:
    if (resp) for (size_t i = 0; i < n; i++) free(resp[i]);
    free(resp);
    free(gen);
    free(probs);
    return rc;
}
