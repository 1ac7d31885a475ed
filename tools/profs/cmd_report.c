/* profs report: render (again) the HTML page of a JSON edit report. */
#include <stdio.h>
#include <stdlib.h>

#include <jansson.h>

#include "report.h"
#include "tool.h"
#include "util.h"

static const char help[] =
    "usage: profs report --report FILE.json [--html FILE.html]\n"
    "\n"
    "Render the HTML page of a report written by 'profs edit --report' or\n"
    "'profs demo --report': one SVG scree plot per layer (singular values, the\n"
    "ScreeNOT threshold, the chosen rank), the vocabulary view, the tensors\n"
    "changed, settings, data, timings and peak memory. 'profs edit' writes the\n"
    "page itself; this command redraws it, e.g. after editing the JSON.\n"
    "\n"
    "options:\n"
    "  --report FILE.json  the JSON report\n"
    "  --html FILE.html    where to write the page (default: beside the JSON, .html)\n"
    "\n"
    "exit status: 0 ok, 1 unreadable or malformed report, 2 usage error\n";

int cmd_report(int argc, char **argv)
{
    const char *in = NULL, *html = NULL;
    const struct tool_opt opts[] = {
        {"report", OPT_STRING, &in, 1, NULL},
        {"html", OPT_STRING, &html, 0, NULL},
    };
    int rc = tool_parse(argv[0], help, argc, argv, opts, sizeof opts / sizeof opts[0]);
    if (rc >= 0) return rc;
    json_error_t je;
    json_t *r = json_load_file(in, 0, &je);
    if (!r) {
        fprintf(stderr, "profs: %s:%d: %s\n", in, je.line, je.text);
        return EXIT_FAIL;
    }
    if (!json_is_object(r) || !json_is_array(json_object_get(r, "layers"))) {
        fprintf(stderr, "profs: %s: not a profs report (expected an object with a \"layers\" array)\n", in);
        json_decref(r);
        return EXIT_FAIL;
    }
    char *path = html ? NULL : tool_report_html_path(in);
    char err[1024];
    rc = tool_report_html(r, html ? html : path, err, sizeof err);
    if (rc) fprintf(stderr, "profs: %s\n", err);
    else printf("wrote %s\n", html ? html : path);
    free(path);
    json_decref(r);
    return rc ? EXIT_FAIL : EXIT_OK;
}
