/* The layouts of published preference data, one row each: the fields that
 * identify a layout in the first record, the rule that builds its two
 * sentences (the rule the dataset's users, the ProFS authors' loaders first,
 * apply), and its renderer.
 *
 *   HH-Golden (nz/anthropic-hh-golden-rlhf), TRL's explicit-prompt format:
 *     {"prompt": P, "chosen": C, "rejected": R}  ->  P + " " + C, P + " " + R
 *     (the authors' load_hh_golden_preference: f"{prompt} {chosen}")
 *   PKU-SafeRLHF (PKU-Alignment/PKU-SafeRLHF): prompt, response_0, response_1,
 *     is_response_0_safe, is_response_1_safe, response_{0,1}_harm_category
 *     {name: bool}, ... -> "HUMAN: " + P + "\nASSISTANT:" + reply, the safe
 *     reply preferred (the authors' load_safe_rlhf_preference)
 *   TRL conversational: chosen/rejected (and prompt) lists of
 *     {"role", "content"} -> "{Role}: {content}" lines joined by "\n"
 *   Lee et al. (2024) toxicity pairs: unpert_gen_text preferred, pert_gen_text
 *     dispreferred (the authors' load_toxicity_preference); --with-prompt
 *     prepends prompt_text */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pairs_layout.h"
#include "util.h"

typedef int (*render_fn)(const struct pairs_layout_ctx *ctx, const json_t *rec, char **a, char **b,
                         struct pairs_problem *pr);

static int render_fields(const struct pairs_layout_ctx *, const json_t *, char **, char **, struct pairs_problem *);
static int render_pku(const struct pairs_layout_ctx *, const json_t *, char **, char **, struct pairs_problem *);
static int render_conversation(const struct pairs_layout_ctx *, const json_t *, char **, char **, struct pairs_problem *);
static int render_prompt_reply(const struct pairs_layout_ctx *, const json_t *, char **, char **, struct pairs_problem *);
static int render_two(const struct pairs_layout_ctx *, const json_t *, char **, char **, struct pairs_problem *);
static int render_lee(const struct pairs_layout_ctx *, const json_t *, char **, char **, struct pairs_problem *);

struct layout {
    int id;
    const char *name;       /* as printed and recorded */
    const char *datasets;   /* who publishes it */
    const char *signature[6]; /* fields present in the first record (NULL-ended) */
    int lists;              /* 1: chosen and rejected must be lists (conversation) */
    const char *rule;       /* the rendering rule in words */
    render_fn render;
};

static const struct layout layouts[LAYOUT_COUNT] = {
    {LAYOUT_FIELDS, "fields", "any (--preferred-field, --dispreferred-field)", {NULL}, 0,
     "preferred = [prompt + \" \" +] preferred field; dispreferred = [prompt + \" \" +] dispreferred field",
     render_fields},
    {LAYOUT_PKU, "pku-saferlhf", "PKU-SafeRLHF",
     {"prompt", "response_0", "response_1", "is_response_0_safe", "is_response_1_safe", NULL}, 0,
     "\"HUMAN: \" + prompt + \"\\nASSISTANT:\" + reply; the safe reply is preferred, the unsafe one "
     "dispreferred; rows with both or neither reply safe are skipped",
     render_pku},
    {LAYOUT_CONVERSATION, "conversation", "TRL conversational preference format",
     {"chosen", "rejected", NULL}, 1,
     "prompt messages, then the chosen (rejected) messages, each \"{Role}: {content}\", joined by \"\\n\"",
     render_conversation},
    {LAYOUT_PROMPT_REPLY, "prompt-reply", "HH-Golden, TRL explicit-prompt format",
     {"prompt", "chosen", "rejected", NULL}, 0,
     "preferred = prompt + \" \" + chosen; dispreferred = prompt + \" \" + rejected", render_prompt_reply},
    {LAYOUT_CHOSEN_REJECTED, "chosen-rejected", "HH-RLHF (whole dialogs)", {"chosen", "rejected", NULL}, 0,
     "preferred = chosen; dispreferred = rejected", render_two},
    {LAYOUT_PREFERRED, "preferred", "this project's files", {"preferred", "dispreferred", NULL}, 0,
     "preferred = preferred; dispreferred = dispreferred", render_two},
    {LAYOUT_LEE, "lee-toxicity", "toxicity pairs of Lee et al. (2024)", {"unpert_gen_text", "pert_gen_text", NULL}, 0,
     "preferred = unpert_gen_text; dispreferred = pert_gen_text", render_lee},
};

const char *tool_pairs_layout_name(int layout)
{
    return layout >= 0 && layout < LAYOUT_COUNT ? layouts[layout].name : "?";
}

const char *tool_pairs_layout_rule(int layout, const struct tool_pairs_opts *o)
{
    if (layout == LAYOUT_LEE && o && o->with_prompt)
        return "preferred = prompt_text + unpert_gen_text; dispreferred = prompt_text + pert_gen_text";
    if (layout == LAYOUT_FIELDS && o && !o->prompt_field)
        return "preferred = the preferred field; dispreferred = the dispreferred field";
    if (layout == LAYOUT_FIELDS)
        return "preferred = prompt + \" \" + the preferred field; dispreferred = prompt + \" \" + the dispreferred field";
    return layout >= 0 && layout < LAYOUT_COUNT ? layouts[layout].rule : "?";
}

/* ---- field access ---- */

static const char *kind(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: case JSON_REAL: return "a number";
    case JSON_TRUE: case JSON_FALSE: return "a boolean";
    default: return "null";
    }
}

/* A dotted path: at each level the whole rest is tried as a key first, then
 * the part before the first dot (a number indexes a list). */
static const json_t *get_path(const json_t *v, const char *path)
{
    while (v && *path) {
        if (json_is_object(v)) {
            const json_t *whole = json_object_get(v, path);
            if (whole) return whole;
            const char *dot = strchr(path, '.');
            if (!dot) return NULL;
            char key[256];
            size_t n = (size_t)(dot - path);
            if (n >= sizeof key) return NULL;
            memcpy(key, path, n);
            key[n] = '\0';
            v = json_object_get(v, key);
            path = dot + 1;
        } else if (json_is_array(v)) {
            char *end;
            unsigned long i = strtoul(path, &end, 10);
            if (end == path || (*end && *end != '.')) return NULL;
            v = json_array_get(v, i);
            path = *end ? end + 1 : end;
        } else {
            return NULL;
        }
    }
    return v;
}

__attribute__((format(printf, 3, 4)))
static int bad(struct pairs_problem *pr, const char *field, const char *fmt, ...)
{
    snprintf(pr->field, sizeof pr->field, "%s", field ? field : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(pr->msg, sizeof pr->msg, fmt, ap);
    va_end(ap);
    return RENDER_BAD;
}

/* A non-empty string without NUL characters at path. */
static int need_string(const json_t *rec, const char *path, const char **out, struct pairs_problem *pr)
{
    const json_t *v = get_path(rec, path);
    if (!v) return bad(pr, "", "missing field '%s'", path);
    if (!json_is_string(v)) return bad(pr, path, "expected a string, found %s", kind(v));
    if (json_string_length(v) == 0) return bad(pr, path, "is empty (expected a non-empty string)");
    if (strlen(json_string_value(v)) != json_string_length(v))
        return bad(pr, path, "contains a NUL character");
    *out = json_string_value(v);
    return RENDER_OK;
}

/* A boolean (TSV cells: true/false, True/False, 1/0). */
static int need_bool(const json_t *rec, const char *path, int *out, struct pairs_problem *pr)
{
    const json_t *v = get_path(rec, path);
    if (!v) return bad(pr, "", "missing field '%s'", path);
    if (json_is_boolean(v)) { *out = json_is_true(v); return RENDER_OK; }
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        if (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "1")) { *out = 1; return RENDER_OK; }
        if (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "0")) { *out = 0; return RENDER_OK; }
        return bad(pr, path, "expected true or false, found '%s'", s);
    }
    return bad(pr, path, "expected true or false, found %s", kind(v));
}

static char *concat3(const char *a, const char *sep, const char *b)
{
    size_t la = strlen(a), ls = strlen(sep), lb = strlen(b);
    char *o = malloc(la + ls + lb + 1);
    if (!o) return NULL;
    memcpy(o, a, la);
    memcpy(o + la, sep, ls);
    memcpy(o + la + ls, b, lb + 1);
    return o;
}

/* *a = pa + sep + x, *b = pb + sep + y (NULL prefix: the text alone). */
static int emit(const char *prefix, const char *sep, const char *x, const char *y, char **a, char **b)
{
    *a = prefix ? concat3(prefix, sep, x) : strdup(x);
    *b = prefix ? concat3(prefix, sep, y) : strdup(y);
    if (*a && *b) return RENDER_OK;
    free(*a); free(*b);
    *a = *b = NULL;
    return -1;
}

/* ---- conversations ---- */

/* Append the messages of list (at field path) to the text in buf. */
static int append_messages(const struct pairs_layout_ctx *ctx, FILE *buf, int *first, const json_t *list,
                           const char *path, struct pairs_problem *pr)
{
    size_t i;
    const json_t *m;
    json_array_foreach(list, i, m) {
        char at[128];
        snprintf(at, sizeof at, "%s.%zu", path, i);
        if (!json_is_object(m)) return bad(pr, at, "expected a message {\"role\", \"content\"}, found %s", kind(m));
        const char *role, *content;
        char f[160];
        snprintf(f, sizeof f, "%s.role", at);
        const json_t *r = json_object_get(m, "role");
        if (!r) return bad(pr, at, "message without a 'role'");
        if (!json_is_string(r)) return bad(pr, f, "expected a string, found %s", kind(r));
        role = json_string_value(r);
        const json_t *c = json_object_get(m, "content");
        snprintf(f, sizeof f, "%s.content", at);
        if (!c) return bad(pr, at, "message without a 'content'");
        if (!json_is_string(c))
            return bad(pr, f, "expected a string, found %s (content parts are not supported)", kind(c));
        content = json_string_value(c);
        if (strlen(content) != json_string_length(c)) return bad(pr, f, "contains a NUL character");
        if (!*first) fputs(ctx->separator ? ctx->separator : "\n", buf);
        *first = 0;
        const char *pre = ctx->prefixes ? json_string_value(json_object_get(ctx->prefixes, role)) : NULL;
        if (pre) fputs(pre, buf);
        else if (*role) fprintf(buf, "%c%s: ", toupper((unsigned char)role[0]), role + 1);
        fputs(content, buf);
    }
    return RENDER_OK;
}

/* The text of prompt (absent, a string or a list) + the messages at field. */
static int conversation_text(const struct pairs_layout_ctx *ctx, const json_t *rec, const char *field, char **out,
                             struct pairs_problem *pr)
{
    const json_t *list = json_object_get(rec, field);
    if (!list) return bad(pr, "", "missing field '%s'", field);
    if (!json_is_array(list)) return bad(pr, field, "expected a list of messages, found %s", kind(list));
    if (json_array_size(list) == 0) return bad(pr, field, "is an empty list (expected messages)");
    const json_t *prompt = json_object_get(rec, "prompt");
    char *mem = NULL;
    size_t len = 0;
    FILE *buf = open_memstream(&mem, &len);
    if (!buf) return -1;
    int first = 1, rc = RENDER_OK;
    if (json_is_array(prompt)) {
        rc = append_messages(ctx, buf, &first, prompt, "prompt", pr);
    } else if (json_is_string(prompt)) {
        /* a string prompt is the user's turn, unless the list already starts with it */
        const json_t *m0 = json_array_get(list, 0);
        const char *c0 = json_string_value(json_object_get(m0, "content"));
        const char *r0 = json_string_value(json_object_get(m0, "role"));
        if (!(c0 && r0 && strcmp(r0, "user") == 0 && strcmp(c0, json_string_value(prompt)) == 0)) {
            json_t *pm = json_pack("[{s:s, s:O}]", "role", "user", "content", prompt);
            rc = pm ? append_messages(ctx, buf, &first, pm, "prompt", pr) : -1;
            json_decref(pm);
        }
    } else if (prompt && !json_is_null(prompt)) {
        rc = bad(pr, "prompt", "expected a string or a list of messages, found %s", kind(prompt));
    }
    if (rc == RENDER_OK) rc = append_messages(ctx, buf, &first, list, field, pr);
    fclose(buf);
    if (rc != RENDER_OK) { free(mem); return rc; }
    if (!mem) return -1;
    *out = mem;
    return RENDER_OK;
}

static int render_conversation(const struct pairs_layout_ctx *ctx, const json_t *rec, char **a, char **b,
                               struct pairs_problem *pr)
{
    int rc = conversation_text(ctx, rec, "chosen", a, pr);
    if (rc != RENDER_OK) return rc;
    rc = conversation_text(ctx, rec, "rejected", b, pr);
    if (rc != RENDER_OK) { free(*a); *a = NULL; }
    return rc;
}

/* ---- the other layouts ---- */

static int render_two(const struct pairs_layout_ctx *ctx, const json_t *rec, char **a, char **b,
                      struct pairs_problem *pr)
{
    const char *const *f = layouts[ctx->layout].signature;
    const char *x, *y;
    int rc;
    if ((rc = need_string(rec, f[0], &x, pr)) || (rc = need_string(rec, f[1], &y, pr))) return rc;
    return emit(NULL, "", x, y, a, b);
}

static int render_prompt_reply(const struct pairs_layout_ctx *ctx, const json_t *rec, char **a, char **b,
                               struct pairs_problem *pr)
{
    (void)ctx;
    const char *p, *x, *y;
    int rc;
    if ((rc = need_string(rec, "prompt", &p, pr)) || (rc = need_string(rec, "chosen", &x, pr)) ||
        (rc = need_string(rec, "rejected", &y, pr)))
        return rc;
    return emit(p, " ", x, y, a, b);
}

static int render_lee(const struct pairs_layout_ctx *ctx, const json_t *rec, char **a, char **b,
                      struct pairs_problem *pr)
{
    const char *p = NULL, *x, *y;
    int rc;
    if ((rc = need_string(rec, "unpert_gen_text", &x, pr)) || (rc = need_string(rec, "pert_gen_text", &y, pr)))
        return rc;
    if (ctx->o->with_prompt && (rc = need_string(rec, "prompt_text", &p, pr))) return rc;
    return emit(p, "", x, y, a, b);
}

static int render_pku(const struct pairs_layout_ctx *ctx, const json_t *rec, char **a, char **b,
                      struct pairs_problem *pr)
{
    const char *p, *r[2];
    int safe[2], rc;
    if ((rc = need_string(rec, "prompt", &p, pr)) || (rc = need_string(rec, "response_0", &r[0], pr)) ||
        (rc = need_string(rec, "response_1", &r[1], pr)) || (rc = need_bool(rec, "is_response_0_safe", &safe[0], pr)) ||
        (rc = need_bool(rec, "is_response_1_safe", &safe[1], pr)))
        return rc;
    if (safe[0] && safe[1]) return RENDER_BOTH_SAFE;
    if (!safe[0] && !safe[1]) return RENDER_NEITHER_SAFE;
    int good = safe[0] ? 0 : 1, unsafe = 1 - good;
    if (ctx->o->harm_category) {
        char f[64];
        snprintf(f, sizeof f, "response_%d_harm_category", unsafe);
        const json_t *cats = json_object_get(rec, f);
        if (!cats) return bad(pr, "", "missing field '%s' (needed by --harm-category)", f);
        if (!json_is_object(cats)) return bad(pr, f, "expected an object {category: true|false}, found %s", kind(cats));
        const json_t *v = json_object_get(cats, ctx->o->harm_category);
        if (!v) {
            char names[480] = "";
            const char *k;
            const json_t *x;
            size_t used = 0;
            json_object_foreach((json_t *)cats, k, x) {
                int w = snprintf(names + used, sizeof names - used, "%s%s", used ? ", " : "", k);
                if (w < 0 || (size_t)w >= sizeof names - used) break;
                used += (size_t)w;
            }
            return bad(pr, f, "has no category '%s' (it has: %s)", ctx->o->harm_category, names);
        }
        int on = json_is_true(v) || (json_is_string(v) && (!strcmp(json_string_value(v), "true") ||
                                                           !strcmp(json_string_value(v), "True")));
        if (!on) return RENDER_OTHER_CATEGORY;
    }
    char *pre = concat3("HUMAN: ", p, "\nASSISTANT:");
    if (!pre) return -1;
    rc = emit(pre, "", r[good], r[unsafe], a, b);
    free(pre);
    return rc;
}

/* A text at path: a string, or a list of messages rendered with the template. */
static int field_text(const struct pairs_layout_ctx *ctx, const json_t *rec, const char *path, char **out,
                      struct pairs_problem *pr)
{
    const json_t *v = get_path(rec, path);
    if (v && json_is_array(v) && json_array_size(v) > 0) {
        char *mem = NULL;
        size_t len = 0;
        FILE *buf = open_memstream(&mem, &len);
        if (!buf) return -1;
        int first = 1, rc = append_messages(ctx, buf, &first, v, path, pr);
        fclose(buf);
        if (rc != RENDER_OK) { free(mem); return rc; }
        *out = mem;
        return mem ? RENDER_OK : -1;
    }
    const char *s;
    int rc = need_string(rec, path, &s, pr);
    if (rc) return rc;
    *out = strdup(s);
    return *out ? RENDER_OK : -1;
}

static int render_fields(const struct pairs_layout_ctx *ctx, const json_t *rec, char **a, char **b,
                         struct pairs_problem *pr)
{
    const struct tool_pairs_opts *o = ctx->o;
    char *x = NULL, *y = NULL, *p = NULL;
    int rc;
    if ((rc = field_text(ctx, rec, o->preferred_field, &x, pr)) ||
        (rc = field_text(ctx, rec, o->dispreferred_field, &y, pr)) ||
        (o->prompt_field && (rc = field_text(ctx, rec, o->prompt_field, &p, pr)))) {
        free(x); free(y);
        return rc;
    }
    rc = emit(p, " ", x, y, a, b);
    free(x); free(y); free(p);
    return rc;
}

/* ---- detection ---- */

static int has_all(const json_t *rec, const struct layout *L)
{
    for (const char *const *f = L->signature; *f; f++) {
        const json_t *v = json_object_get(rec, *f);
        if (!v) return 0;
        if (L->lists && !json_is_array(v)) return 0;
    }
    return L->signature[0] != NULL;
}

static void set_fields(struct tool_pairs *p, const char *const *f)
{
    p->n_fields = 0;
    for (; *f && p->n_fields < TOOL_PAIRS_MAX_FIELDS; f++)
        snprintf(p->fields[p->n_fields++], sizeof p->fields[0], "%s", *f);
}

int pairs_layout_detect(struct pairs_layout_ctx *ctx, struct tool_pairs *p, const json_t *first, char *msg,
                        size_t msglen)
{
    const struct tool_pairs_opts *o = ctx->o;
    size_t used = strlen(p->why);
    int id = -1;
    if (o->preferred_field) {
        id = LAYOUT_FIELDS;
        const char *f[4] = {o->preferred_field, o->dispreferred_field, o->prompt_field, NULL};
        set_fields(p, f);
        snprintf(p->why + used, sizeof p->why - used, "; layout from --preferred-field/--dispreferred-field");
    } else {
        for (int k = 1; k < LAYOUT_COUNT && id < 0; k++)
            if (has_all(first, &layouts[k])) id = k;
        if (id < 0) {
            char names[200] = "";
            const char *k;
            const json_t *v;
            size_t n = 0;
            json_object_foreach((json_t *)first, k, v) {
                int w = snprintf(names + n, sizeof names - n, "%s%s", n ? ", " : "", k);
                if (w < 0 || (size_t)w >= sizeof names - n) break;
                n += (size_t)w;
            }
            snprintf(msg, msglen, "no known pair of fields (the record has: %s); known layouts: prompt/chosen/rejected, "
                     "chosen/rejected, preferred/dispreferred, unpert_gen_text/pert_gen_text, PKU-SafeRLHF "
                     "(prompt, response_0/1, is_response_0/1_safe), conversations; name the fields with "
                     "--preferred-field and --dispreferred-field", names);
            return -1;
        }
        const struct layout *L = &layouts[id];
        if (id == LAYOUT_LEE && o->with_prompt) {
            const char *f[4] = {"prompt_text", "unpert_gen_text", "pert_gen_text", NULL};
            set_fields(p, f);
        } else if (id == LAYOUT_CONVERSATION && json_object_get(first, "prompt")) {
            const char *f[4] = {"prompt", "chosen", "rejected", NULL};
            set_fields(p, f);
        } else {
            set_fields(p, L->signature);
        }
        char sig[160] = "";
        size_t n = 0;
        for (const char *const *f = L->signature; *f; f++) {
            int w = snprintf(sig + n, sizeof sig - n, "%s%s", n ? ", " : "", *f);
            if (w < 0 || (size_t)w >= sizeof sig - n) break;
            n += (size_t)w;
        }
        snprintf(p->why + used, sizeof p->why - used, "; layout %s (%s): the first record has %s%s", L->name,
                 L->datasets, sig, L->lists ? " as lists of messages" : "");
    }
    if (o->with_prompt && id != LAYOUT_LEE) {
        snprintf(msg, msglen, "--with-prompt applies to the toxicity pairs of Lee et al. (prompt_text, "
                 "unpert_gen_text, pert_gen_text), not to the %s layout", layouts[id].name);
        return -1;
    }
    if (o->harm_category && id != LAYOUT_PKU) {
        snprintf(msg, msglen, "--harm-category applies to PKU-SafeRLHF rows, not to the %s layout", layouts[id].name);
        return -1;
    }
    if (o->template_path && id != LAYOUT_CONVERSATION && id != LAYOUT_FIELDS) {
        snprintf(msg, msglen, "--template applies to conversations (lists of messages), not to the %s layout",
                 layouts[id].name);
        return -1;
    }
    ctx->layout = id;
    p->layout = id;
    return 0;
}

int pairs_layout_render(const struct pairs_layout_ctx *ctx, const json_t *rec, char **a, char **b,
                        struct pairs_problem *pr)
{
    *a = *b = NULL;
    pr->field[0] = pr->msg[0] = '\0';
    if (!json_is_object(rec)) {
        snprintf(pr->msg, sizeof pr->msg, "expected a JSON object, found %s", kind(rec));
        return RENDER_BAD;
    }
    return layouts[ctx->layout].render(ctx, rec, a, b, pr);
}

/* ---- the template ---- */

int pairs_layout_init(struct pairs_layout_ctx *ctx, const struct tool_pairs_opts *o, char *err, size_t errlen)
{
    memset(ctx, 0, sizeof *ctx);
    ctx->o = o;
    if (!o->template_path) return 0;
    json_error_t je;
    json_t *t = json_load_file(o->template_path, JSON_REJECT_DUPLICATES, &je);
    if (!t) {
        snprintf(err, errlen, "%s:%d: invalid JSON: %s (a template is {\"user\": \"User: \", ..., \"separator\": \"\\n\"})",
                 o->template_path, je.line, je.text);
        return -1;
    }
    if (!json_is_object(t)) {
        snprintf(err, errlen, "%s: expected a JSON object {role: prefix, ..., \"separator\": text}, found %s",
                 o->template_path, kind(t));
        json_decref(t);
        return -1;
    }
    const char *k;
    json_t *v;
    json_object_foreach(t, k, v) {
        if (!json_is_string(v)) {
            snprintf(err, errlen, "%s:%s: expected a string, found %s", o->template_path, k, kind(v));
            json_decref(t);
            return -1;
        }
    }
    json_t *sep = json_object_get(t, "separator");
    if (sep) {
        ctx->separator = strdup(json_string_value(sep));
        json_object_del(t, "separator");
        if (!ctx->separator) { json_decref(t); snprintf(err, errlen, "out of memory"); return -1; }
    }
    ctx->prefixes = t;
    return 0;
}

void pairs_layout_free(struct pairs_layout_ctx *ctx)
{
    json_decref(ctx->prefixes);
    free(ctx->separator);
    ctx->prefixes = NULL;
    ctx->separator = NULL;
}
