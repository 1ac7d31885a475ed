/* Reports (JSON + an HTML page with SVG scree plots) and model cards. */
#ifndef PROFS_TOOL_REPORT_H
#define PROFS_TOOL_REPORT_H

#include <stddef.h>

#include <jansson.h>

/* Write report (a JSON object, see docs/profs.md "Report") to json_path and
 * the HTML page beside it (FILE.json -> FILE.html). Both atomically.
 * Returns 0 or -1 with err. */
int tool_report_write(const json_t *report, const char *json_path, char *err, size_t errlen);

/* Render the HTML page of a report to html_path. 0 or -1 with err. */
int tool_report_html(const json_t *report, const char *html_path, char *err, size_t errlen);

/* The HTML path beside a JSON path (malloc'ed). */
char *tool_report_html_path(const char *json_path);

/* Write a JSON value to a file atomically, pretty-printed. 0 or -1 with err. */
int tool_json_write(const char *path, const json_t *j, char *err, size_t errlen);

#endif
