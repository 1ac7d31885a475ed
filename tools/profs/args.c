/* Option parsing shared by every subcommand: long options only, "--name VALUE"
 * or "--name=VALUE", --help/-h everywhere, usage errors name the flag. */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tool.h"
#include "util.h"

static const struct tool_opt *find_opt(const struct tool_opt *opts, size_t n, const char *name, size_t len)
{
    for (size_t i = 0; i < n; i++)
        if (strlen(opts[i].name) == len && strncmp(opts[i].name, name, len) == 0) return &opts[i];
    return NULL;
}

static int parse_value(const char *cmd, const struct tool_opt *o, const char *v)
{
    char *end = NULL;
    errno = 0;
    switch (o->type) {
    case OPT_STRING:
        if (!*v) return tool_usage_error(cmd, "--%s needs a non-empty value", o->name);
        *(const char **)o->dest = v;
        return 0;
    case OPT_REPEAT: {
        struct tool_strlist *l = o->dest;
        if (!*v) return tool_usage_error(cmd, "--%s needs a non-empty value", o->name);
        if (l->n >= TOOL_MAX_REPEAT) return tool_usage_error(cmd, "--%s given more than %d times", o->name, TOOL_MAX_REPEAT);
        l->v[l->n++] = v;
        return 0;
    }
    case OPT_SIZE: {
        if (*v == '-' || *v == '+' || *v == ' ') return tool_usage_error(cmd, "--%s: '%s' is not a non-negative integer", o->name, v);
        unsigned long long x = strtoull(v, &end, 10);
        if (errno || end == v || *end || x > SIZE_MAX / 2)
            return tool_usage_error(cmd, "--%s: '%s' is not a non-negative integer", o->name, v);
        *(size_t *)o->dest = (size_t)x;
        return 0;
    }
    case OPT_INT64: {
        long long x = strtoll(v, &end, 10);
        if (errno || end == v || *end) return tool_usage_error(cmd, "--%s: '%s' is not an integer", o->name, v);
        *(int64_t *)o->dest = (int64_t)x;
        return 0;
    }
    case OPT_DOUBLE: {
        double x = strtod(v, &end);
        if (errno || end == v || *end || !isfinite(x)) return tool_usage_error(cmd, "--%s: '%s' is not a number", o->name, v);
        *(double *)o->dest = x;
        return 0;
    }
    default:
        return tool_usage_error(cmd, "internal: bad option type for --%s", o->name);
    }
}

int tool_parse(const char *cmd, const char *help, int argc, char **argv,
               const struct tool_opt *opts, size_t n_opts)
{
    int given[64] = {0};
    if (n_opts > 64) return tool_usage_error(cmd, "internal: too many options");
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(help, stdout);
            return EXIT_OK;
        }
        if (strncmp(a, "--", 2) != 0 || a[2] == '\0') {
            if (a[0] == '-' && a[1]) return tool_usage_error(cmd, "unknown option '%s'", a);
            return tool_usage_error(cmd, "unexpected argument '%s'", a);
        }
        const char *name = a + 2;
        const char *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        const struct tool_opt *o = find_opt(opts, n_opts, name, len);
        if (!o && len == 4 && strncmp(name, "help", 4) == 0) return tool_usage_error(cmd, "--help takes no value");
        if (!o) return tool_usage_error(cmd, "unknown option '--%.*s'", (int)len, name);
        size_t idx = (size_t)(o - opts);
        if (given[idx] && o->type != OPT_REPEAT)
            return tool_usage_error(cmd, "--%s given twice", o->name);
        given[idx] = 1;
        if (o->seen) *o->seen = 1;
        if (o->type == OPT_FLAG) {
            if (eq) return tool_usage_error(cmd, "--%s takes no value", o->name);
            *(int *)o->dest = 1;
            continue;
        }
        const char *v;
        if (eq) v = eq + 1;
        else {
            if (i + 1 >= argc) return tool_usage_error(cmd, "--%s needs a value", o->name);
            v = argv[++i];
        }
        int rc = parse_value(cmd, o, v);
        if (rc) return rc;
    }
    for (size_t k = 0; k < n_opts; k++)
        if (opts[k].required && !given[k]) return tool_usage_error(cmd, "--%s is required", opts[k].name);
    return -1;
}

static int cmp_size(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return x < y ? -1 : x > y;
}

static int parse_uint(const char **p, size_t *out)
{
    const char *s = *p;
    if (*s < '0' || *s > '9') return -1;
    size_t v = 0;
    while (*s >= '0' && *s <= '9') {
        if (v > 100000000) return -1;
        v = v * 10 + (size_t)(*s++ - '0');
    }
    *out = v;
    *p = s;
    return 0;
}

int tool_parse_layers(size_t **out, size_t *n_out, const char *spec, size_t n_layers,
                      char *err, size_t errlen)
{
    *out = NULL;
    *n_out = 0;
    if (n_layers == 0) { snprintf(err, errlen, "the model has no layers"); return -1; }
    size_t *v = malloc(n_layers * sizeof *v);
    char *mark = calloc(n_layers, 1);
    if (!v || !mark) { free(v); free(mark); snprintf(err, errlen, "out of memory"); return -1; }
    if (strcmp(spec, "all") == 0) {
        for (size_t i = 0; i < n_layers; i++) mark[i] = 1;
    } else {
        const char *p = spec;
        for (;;) {
            size_t a, b;
            if (parse_uint(&p, &a)) goto bad;
            if (*p == '-') {
                p++;
                if (parse_uint(&p, &b)) goto bad;
            } else if (*p == ':') {
                p++;
                b = n_layers - 1;
            } else b = a;
            if (a > b) { snprintf(err, errlen, "'%s': range %zu-%zu is backwards", spec, a, b); goto fail; }
            if (b >= n_layers) {
                snprintf(err, errlen, "'%s': layer %zu is out of range (the model has layers 0-%zu)", spec, b, n_layers - 1);
                goto fail;
            }
            for (size_t i = a; i <= b; i++) mark[i] = 1;
            if (*p == '\0') break;
            if (*p != ',') goto bad;
            p++;
        }
    }
    size_t n = 0;
    for (size_t i = 0; i < n_layers; i++) if (mark[i]) v[n++] = i;
    free(mark);
    qsort(v, n, sizeof *v, cmp_size);
    *out = v;
    *n_out = n;
    return 0;
bad:
    snprintf(err, errlen, "'%s' is not a layer list (use A-B, A:, A, all, or a comma list; 0-based, inclusive)", spec);
fail:
    free(v);
    free(mark);
    return -1;
}

int tool_check_layers(const char *spec, char *err, size_t errlen)
{
    if (strcmp(spec, "all") == 0) return 0;
    const char *p = spec;
    for (;;) {
        size_t a, b;
        if (parse_uint(&p, &a)) goto bad;
        b = a;
        if (*p == '-') {
            p++;
            if (parse_uint(&p, &b)) goto bad;
        } else if (*p == ':') p++;
        if (a > b) { snprintf(err, errlen, "'%s': range %zu-%zu is backwards", spec, a, b); return -1; }
        if (*p == '\0') return 0;
        if (*p != ',') goto bad;
        p++;
    }
bad:
    snprintf(err, errlen, "'%s' is not a layer list (use A-B, A:, A, all, or a comma list; 0-based, inclusive)", spec);
    return -1;
}

void tool_format_layers(char *buf, size_t len, const size_t *layers, size_t n)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j + 1 < n && layers[j + 1] == layers[j] + 1) j++;
        int w;
        if (j > i) w = snprintf(buf + used, len - used, "%s%zu-%zu", i ? "," : "", layers[i], layers[j]);
        else w = snprintf(buf + used, len - used, "%s%zu", i ? "," : "", layers[i]);
        if (w < 0 || (size_t)w >= len - used) return;
        used += (size_t)w;
        i = j + 1;
    }
}
