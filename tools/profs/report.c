/* The edit report: JSON (everything) and an HTML page beside it with one SVG
 * scree plot per layer (singular values, the ScreeNOT threshold, the chosen
 * rank) and the vocabulary view (tokens each direction promotes/suppresses). */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"
#include "util.h"

/* ---- a growable string ---- */
struct buf { char *s; size_t n, cap; int oom; };

static void bprintf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void bprintf(struct buf *b, const char *fmt, ...)
{
    if (b->oom) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int w = vsnprintf(b->s ? b->s + b->n : NULL, b->s ? b->cap - b->n : 0, fmt, ap);
        va_end(ap);
        if (w < 0) { b->oom = 1; return; }
        if (b->s && (size_t)w < b->cap - b->n) { b->n += (size_t)w; return; }
        size_t nc = (b->cap + (size_t)w + 1) * 2;
        char *ns = realloc(b->s, nc);
        if (!ns) { b->oom = 1; return; }
        b->s = ns;
        b->cap = nc;
    }
}

/* HTML-escaped text. */
static void besc(struct buf *b, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '<': bprintf(b, "&lt;"); break;
        case '>': bprintf(b, "&gt;"); break;
        case '&': bprintf(b, "&amp;"); break;
        case '"': bprintf(b, "&quot;"); break;
        default: bprintf(b, "%c", *s);
        }
    }
}

static const char *jstr(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

static double jnum(const json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    return json_is_number(v) ? json_number_value(v) : NAN;
}

/* A JSON scalar as display text. */
static void bval(struct buf *b, const json_t *v)
{
    if (json_is_string(v)) besc(b, json_string_value(v));
    else if (json_is_integer(v)) bprintf(b, "%lld", (long long)json_integer_value(v));
    else if (json_is_real(v)) bprintf(b, "%.6g", json_real_value(v));
    else if (json_is_true(v)) bprintf(b, "yes");
    else if (json_is_false(v)) bprintf(b, "no");
    else if (json_is_null(v)) bprintf(b, "&mdash;");
    else {
        char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        besc(b, s ? s : "?");
        free(s);
    }
}

static void key_value_table(struct buf *b, const json_t *o)
{
    const char *k;
    json_t *v;
    bprintf(b, "<table class=\"kv\">");
    json_object_foreach((json_t *)o, k, v) {
        bprintf(b, "<tr><th>");
        besc(b, k);
        bprintf(b, "</th><td>");
        bval(b, v);
        bprintf(b, "</td></tr>");
    }
    bprintf(b, "</table>");
}

/* A "nice" axis step for a range. */
static double nice_step(double range, int ticks)
{
    double raw = range / ticks, p = pow(10, floor(log10(raw))), f = raw / p;
    return (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * p;
}

/* One scree plot: singular values (largest first) as points on a line, the
 * threshold as a dashed line, the kept directions filled. */
static void scree_svg(struct buf *b, const json_t *layer)
{
    json_t *sv = json_object_get(layer, "singular_values");
    size_t n = json_array_size(sv), shown = n > 40 ? 40 : n;
    double thr = jnum(layer, "threshold");
    long long rank = json_integer_value(json_object_get(layer, "rank"));
    const double W = 340, H = 210, L = 46, R = 12, T = 14, B = 34;
    double ymax = 0;
    for (size_t i = 0; i < shown; i++) {
        double y = json_number_value(json_array_get(sv, i));
        if (y > ymax) ymax = y;
    }
    if (isfinite(thr) && thr > ymax) ymax = thr;
    if (ymax <= 0) ymax = 1;
    double step = nice_step(ymax, 4);
    ymax = ceil(ymax * 1.05 / step) * step;
    double pw = W - L - R, ph = H - T - B;
#define XP(i) (L + (shown > 1 ? pw * (double)(i) / (double)(shown - 1) : pw / 2))
#define YP(v) (T + ph * (1.0 - (v) / ymax))
    bprintf(b, "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %.0f %.0f\" width=\"%.0f\" height=\"%.0f\" "
               "role=\"img\" aria-label=\"scree plot of layer %lld\">",
            W, H, W, H, (long long)json_integer_value(json_object_get(layer, "layer")));
    bprintf(b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"#fafbfc\" stroke=\"#d0d7de\"/>", L, T, pw, ph);
    /* ticks from a count, never by accumulating a step (with denormal values a
     * step-accumulating loop against an absolute epsilon ran ~1e28 times) */
    int n_ticks = (int)fmin(12.0, floor(ymax / step + 0.5));
    for (int ti = 0; ti <= n_ticks; ti++) {
        double v = ti * step;
        bprintf(b, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#eaeef2\"/>", L, L + pw, YP(v), YP(v));
        bprintf(b, "<text x=\"%.1f\" y=\"%.1f\" class=\"tick\" text-anchor=\"end\">%.3g</text>", L - 5, YP(v) + 4, v);
    }
    size_t xstep = shown > 20 ? 10 : shown > 10 ? 5 : 1;
    for (size_t i = 0; i < shown; i += xstep)
        bprintf(b, "<text x=\"%.1f\" y=\"%.1f\" class=\"tick\" text-anchor=\"middle\">%zu</text>", XP(i), T + ph + 14, i + 1);
    bprintf(b, "<text x=\"%.1f\" y=\"%.1f\" class=\"axis\" text-anchor=\"middle\">index of singular value%s</text>",
            L + pw / 2, H - 4, n > shown ? " (first 40)" : "");
    if (isfinite(thr)) {
        bprintf(b, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#cf222e\" stroke-width=\"1.5\" stroke-dasharray=\"5 3\"/>",
                L, L + pw, YP(thr), YP(thr));
        bprintf(b, "<text x=\"%.1f\" y=\"%.1f\" class=\"thr\" text-anchor=\"end\">ScreeNOT threshold %.3g</text>",
                L + pw - 4, YP(thr) - 5, thr);
    }
    bprintf(b, "<polyline fill=\"none\" stroke=\"#57606a\" stroke-width=\"1.2\" points=\"");
    for (size_t i = 0; i < shown; i++)
        bprintf(b, "%.1f,%.1f ", XP(i), YP(json_number_value(json_array_get(sv, i))));
    bprintf(b, "\"/>");
    for (size_t i = 0; i < shown; i++) {
        double y = json_number_value(json_array_get(sv, i));
        int kept = (long long)i < rank;
        bprintf(b, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"%s\" fill=\"%s\" stroke=\"#0969da\"/>", XP(i), YP(y),
                kept ? "4" : "2.5", kept ? "#0969da" : "#ffffff");
    }
    bprintf(b, "<text x=\"%.1f\" y=\"%.1f\" class=\"rank\">rank %lld</text>", L + 16, T + 16, rank);
    bprintf(b, "</svg>");
#undef XP
#undef YP
}

static void token_list(struct buf *b, const json_t *arr)
{
    size_t i;
    json_t *t;
    json_array_foreach((json_t *)arr, i, t) {
        bprintf(b, "<code>");
        besc(b, json_string_value(t) ? json_string_value(t) : "?");
        bprintf(b, "</code> ");
    }
}

static const char css[] =
    "body{font:14px/1.45 'DejaVu Sans',system-ui,sans-serif;color:#1f2328;margin:0;background:#f6f8fa}"
    "main{max-width:1120px;margin:0 auto;padding:24px 28px 48px;background:#fff;min-height:100vh}"
    "h1{font-size:24px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 10px;border-bottom:1px solid #d0d7de;padding-bottom:4px}"
    ".sub{color:#57606a;margin:0 0 16px}"
    "table{border-collapse:collapse;margin:6px 0}th,td{padding:4px 10px;border-bottom:1px solid #eaeef2;text-align:left;vertical-align:top}"
    "table.kv th{color:#57606a;font-weight:normal;white-space:nowrap}"
    "td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}"
    ".grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(350px,1fr));gap:14px}"
    ".card{border:1px solid #d0d7de;border-radius:6px;padding:8px 8px 4px}.card h3{font-size:14px;margin:0 0 4px 4px}"
    ".tick{font-size:10px;fill:#57606a}.axis{font-size:11px;fill:#57606a}.thr{font-size:11px;fill:#cf222e}"
    ".rank{font-size:12px;font-weight:bold;fill:#0969da}"
    "code{background:#eff2f5;border-radius:4px;padding:1px 5px;margin:1px;display:inline-block;font-size:12.5px}"
    ".pro code{background:#ffebe9}.sup code{background:#dafbe1}"
    ".cols{display:grid;grid-template-columns:1fr 1fr;gap:24px}"
    ".good{color:#1a7f37;font-weight:bold}.bad{color:#cf222e;font-weight:bold}";

int tool_report_html(const json_t *r, const char *html_path, char *err, size_t errlen)
{
    struct buf b = {0};
    const json_t *model = json_object_get(r, "model");
    const json_t *data = json_object_get(r, "data");
    const json_t *settings = json_object_get(r, "settings");
    const json_t *layers = json_object_get(r, "layers");
    const json_t *tensors = json_object_get(r, "tensors_changed");
    bprintf(&b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                "<meta name=\"viewport\" content=\"width=device-width\"><title>ProFS edit report</title>"
                "<style>%s</style></head><body><main>\n", css);
    bprintf(&b, "<h1>ProFS edit report</h1><p class=\"sub\">");
    besc(&b, jstr(model, "path"));
    bprintf(&b, " &middot; %s &middot; %lld layers, hidden size %lld &middot; libprofs %s &middot; %s</p>\n",
            jstr(model, "architecture"), (long long)json_integer_value(json_object_get(model, "n_layers")),
            (long long)json_integer_value(json_object_get(model, "hidden_size")), jstr(r, "libprofs_version"),
            jstr(r, "created"));

    const json_t *before = json_object_get(r, "before"), *after = json_object_get(r, "after");
    if (json_is_object(before) && json_is_object(after)) {
        bprintf(&b, "<h2>Before and after</h2><table><tr><th></th><th class=\"num\">before</th>"
                    "<th class=\"num\">after</th><th class=\"num\">change</th></tr>");
        static const char *const rows[][3] = {
            {"toxic_mass", "toxic next-token mass (watch words)", "lower"},
            {"continuation_rate", "continuations with a watch word", "lower"},
            {"perplexity", "neutral perplexity", "same"},
        };
        for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
            double x = jnum(before, rows[i][0]), y = jnum(after, rows[i][0]);
            if (!isfinite(x) || !isfinite(y)) continue;
            double ch = x != 0 ? 100.0 * (y - x) / x : 0;
            int good = strcmp(rows[i][2], "lower") == 0 ? ch <= -80 : fabs(ch) <= 10;
            int rate = strcmp(rows[i][0], "continuation_rate") == 0; /* a share: shown in percent */
            bprintf(&b, "<tr><th>%s</th><td class=\"num\">%.4g%s</td><td class=\"num\">%.4g%s</td>"
                        "<td class=\"num %s\">%+.1f%%</td></tr>", rows[i][1], rate ? 100 * x : x, rate ? "%" : "",
                    rate ? 100 * y : y, rate ? "%" : "", good ? "good" : "bad", ch);
        }
        bprintf(&b, "</table>\n");
    }

    bprintf(&b, "<h2>Scree plots</h2><p class=\"sub\">Singular values of each layer's centred difference "
                "matrix (largest first). Filled points are the directions projected out; the dashed line is the "
                "ScreeNOT threshold (absent for a fixed rank).</p><div class=\"grid\">\n");
    size_t i;
    json_t *L;
    json_array_foreach((json_t *)layers, i, L) {
        if (tool_interrupted()) {
            free(b.s);
            snprintf(err, errlen, "%s: interrupted; not written", html_path);
            return -1;
        }
        bprintf(&b, "<div class=\"card\"><h3>layer %lld</h3>", (long long)json_integer_value(json_object_get(L, "layer")));
        scree_svg(&b, L);
        bprintf(&b, "</div>\n");
    }
    bprintf(&b, "</div>\n");

    int any_vocab = 0;
    json_array_foreach((json_t *)layers, i, L) if (json_array_size(json_object_get(L, "directions"))) any_vocab = 1;
    if (any_vocab) {
        bprintf(&b, "<h2>Vocabulary view</h2><p class=\"sub\">Each removed direction read through the "
                    "unembedding: the tokens it promotes (scores most positive) and suppresses (most negative)%s.</p>"
                    "<table><tr><th>layer</th><th>dir.</th><th>promotes</th><th>suppresses</th></tr>",
                    json_is_true(json_object_get(r, "directions_oriented")) ?
                    "; each direction is oriented towards the dispreferred sentences" : "");
        json_array_foreach((json_t *)layers, i, L) {
            size_t j;
            json_t *d;
            json_array_foreach(json_object_get(L, "directions"), j, d) {
                bprintf(&b, "<tr><td>%lld</td><td>%zu</td><td class=\"pro\">",
                        (long long)json_integer_value(json_object_get(L, "layer")), j + 1);
                token_list(&b, json_object_get(d, "promotes"));
                bprintf(&b, "</td><td class=\"sup\">");
                token_list(&b, json_object_get(d, "suppresses"));
                bprintf(&b, "</td></tr>\n");
            }
        }
        bprintf(&b, "</table>\n");
    }

    bprintf(&b, "<h2>Layers</h2><table><tr><th class=\"num\">layer</th><th class=\"num\">rank</th>"
                "<th class=\"num\">threshold</th><th class=\"num\">largest singular values</th></tr>");
    json_array_foreach((json_t *)layers, i, L) {
        json_t *sv = json_object_get(L, "singular_values");
        bprintf(&b, "<tr><td class=\"num\">%lld</td><td class=\"num\">%lld</td><td class=\"num\">%.4g</td><td class=\"num\">",
                (long long)json_integer_value(json_object_get(L, "layer")),
                (long long)json_integer_value(json_object_get(L, "rank")), jnum(L, "threshold"));
        for (size_t k = 0; k < json_array_size(sv) && k < 6; k++)
            bprintf(&b, "%s%.4g", k ? ", " : "", json_number_value(json_array_get(sv, k)));
        bprintf(&b, "</td></tr>\n");
    }
    bprintf(&b, "</table>\n");

    if (json_array_size(tensors)) {
        bprintf(&b, "<h2>Tensors changed</h2><table><tr><th>tensor</th><th class=\"num\">layer</th>"
                    "<th class=\"num\">rank</th><th>role</th><th class=\"num\">|&Delta;W| / |W|</th></tr>");
        json_t *t;
        json_array_foreach((json_t *)tensors, i, t) {
            double dn = jnum(t, "delta_norm"), wn = jnum(t, "weight_norm");
            bprintf(&b, "<tr><td><code>");
            besc(&b, jstr(t, "name"));
            bprintf(&b, "</code></td><td class=\"num\">%lld</td><td class=\"num\">%lld</td><td>%s</td><td class=\"num\">",
                    (long long)json_integer_value(json_object_get(t, "layer")),
                    (long long)json_integer_value(json_object_get(t, "rank")), jstr(t, "role"));
            if (isfinite(dn) && isfinite(wn) && wn > 0) bprintf(&b, "%.3g", dn / wn);
            else bprintf(&b, "&mdash;");
            bprintf(&b, "</td></tr>\n");
        }
        bprintf(&b, "</table>\n");
    }

    bprintf(&b, "<div class=\"cols\"><div><h2>Settings</h2>");
    if (json_is_object(settings)) key_value_table(&b, settings);
    bprintf(&b, "</div><div><h2>Data</h2>");
    if (json_is_object(data)) key_value_table(&b, data);
    const json_t *tim = json_object_get(r, "timings_s");
    bprintf(&b, "<h2>Resources</h2><table class=\"kv\">");
    if (json_is_object(tim)) {
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)tim, k, v) {
            bprintf(&b, "<tr><th>");
            besc(&b, k);
            bprintf(&b, "</th><td>%.2f s</td></tr>", json_number_value(v));
        }
    }
    double rss = jnum(r, "peak_rss_bytes");
    if (isfinite(rss)) bprintf(&b, "<tr><th>peak memory (RSS)</th><td>%.1f MiB</td></tr>", rss / 1048576.0);
    bprintf(&b, "</table></div></div>\n</main></body></html>\n");
    if (b.oom) { free(b.s); snprintf(err, errlen, "out of memory rendering %s", html_path); return -1; }
    int rc = tool_write_file_atomic(html_path, b.s);
    free(b.s);
    if (rc) { snprintf(err, errlen, "%s: cannot write", html_path); return -1; }
    return 0;
}

char *tool_report_html_path(const char *json_path)
{
    size_t n = strlen(json_path);
    char *p = malloc(n + 6);
    if (!p) return NULL;
    memcpy(p, json_path, n + 1);
    if (n > 5 && strcmp(p + n - 5, ".json") == 0) p[n - 5] = '\0';
    strcat(p, ".html");
    return p;
}

int tool_json_write(const char *path, const json_t *j, char *err, size_t errlen)
{
    char *s = json_dumps(j, JSON_INDENT(2) | JSON_REAL_PRECISION(10));
    if (!s) { snprintf(err, errlen, "out of memory writing %s", path); return -1; }
    size_t n = strlen(s);
    char *t = realloc(s, n + 2);
    if (!t) { free(s); snprintf(err, errlen, "out of memory writing %s", path); return -1; }
    t[n] = '\n';
    t[n + 1] = '\0';
    int rc = tool_write_file_atomic(path, t);
    free(t);
    if (rc) { snprintf(err, errlen, "%s: cannot write", path); return -1; }
    return 0;
}

int tool_report_write(const json_t *report, const char *json_path, char *err, size_t errlen)
{
    if (tool_json_write(json_path, report, err, errlen)) return -1;
    char *html = tool_report_html_path(json_path);
    if (!html) { snprintf(err, errlen, "out of memory"); return -1; }
    int rc = tool_report_html(report, html, err, errlen);
    free(html);
    return rc;
}
