/* Writing an edited model directory: the source's files with the edited
 * weights, the edit file, profs_edit.json and the README.md model card, built
 * in a temporary directory and renamed into place. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "card.h"
#include "output.h"
#include "report.h"
#include "tool.h"

void tool_changed_summary(char *buf, size_t n, const profs_edit_report *rep)
{
    size_t plain = 0, fused = 0, slices = 0;
    const char *last = NULL;
    size_t last_len = 0;
    for (size_t i = 0; i < profs_edit_report_count(rep); i++) {
        if (profs_edit_report_rank(rep, i) == 0) continue;
        const char *nm = profs_edit_report_name(rep, i), *br = strrchr(nm, '[');
        if (!br) { plain++; continue; }
        slices++; /* a slice of a fused expert tensor, named TENSOR[e]; a tensor's slices are adjacent */
        if (!last || last_len != (size_t)(br - nm) || strncmp(last, nm, last_len)) fused++;
        last = nm;
        last_len = (size_t)(br - nm);
    }
    if (slices)
        snprintf(buf, n, "%zu tensors changed (%zu expert matrices in %zu fused tensor%s)", plain + fused, slices, fused,
                 fused == 1 ? "" : "s");
    else
        snprintf(buf, n, "%zu tensors changed", plain);
}

json_t *tool_tensors_json(const profs_edit_report *rep)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < profs_edit_report_count(rep); i++) {
        double dn = profs_edit_report_delta_norm(rep, i), wn = profs_edit_report_weight_norm(rep, i);
        int role = profs_edit_report_role(rep, i);
        json_array_append_new(arr, json_pack("{s:s, s:I, s:I, s:s, s:s, s:b, s:o, s:o}",
            "name", profs_edit_report_name(rep, i),
            "layer", (json_int_t)profs_edit_report_layer(rep, i),
            "rank", (json_int_t)profs_edit_report_rank(rep, i),
            "role", role == PROFS_TARGET_KEY ? "key" : "value",
            /* post-norm aware: the MLP output is normalised (Gemma), span(diag(g) V) is removed (docs/core.md) */
            "projection", profs_edit_report_post_norm(rep, i) ? "post-norm aware" : "plain",
            "changed", profs_edit_report_applied(rep, i) && profs_edit_report_rank(rep, i) > 0,
            "delta_norm", isfinite(dn) ? json_real(dn) : json_null(),
            "weight_norm", isfinite(wn) ? json_real(wn) : json_null()));
    }
    return arr;
}

/* One argument with every path reduced to its last component ("--out=/a/b/" -> "--out=b"). */
static void append_arg(char *cl, const char *arg)
{
    const char *eq = strncmp(arg, "--", 2) == 0 ? strchr(arg, '=') : NULL;
    const char *val = eq ? eq + 1 : arg;
    strcat(cl, " ");
    strncat(cl, arg, (size_t)(val - arg));
    if (strchr(val, '/')) strcat(cl, tool_basename(val));
    else strcat(cl, val);
}

json_t *tool_provenance_new(const char *command, int argc, char **argv)
{
    char when[32];
    tool_utc_now(when);
    size_t len = 0;
    for (int i = 0; i < argc; i++) len += strlen(argv[i]) + 1;
    char *cl = malloc(len + 8);
    if (cl) {
        strcpy(cl, "profs");
        for (int i = 0; i < argc; i++) append_arg(cl, argv[i]);
    }
    json_t *p = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}",
        "format", "profs_edit/1",
        "method", "ProFS (Projection Filter for Subspaces), Uppaal et al., ICLR 2025, arXiv 2405.13967",
        "tool", command,
        "command_line", cl ? cl : command,
        "libprofs_version", profs_version_string(),
        "created", when);
    free(cl);
    return p;
}

json_t *tool_data_json(const char *path, const struct tool_pairs *p, size_t n_read, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    /* the hash of the bytes the reader read: the file is never opened twice (it may be a pipe) */
    json_t *d = json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:s, s:s}",
        "file", strcmp(path, "-") == 0 ? "(standard input)" : tool_basename(path),
        "sha256", p->sha256,
        "hash", "SHA-256 of the bytes read (the compressed bytes for gzip)",
        "bytes", (json_int_t)p->bytes,
        "n_pairs_read", (json_int_t)n_read,
        "n_pairs", (json_int_t)p->n,
        "skipped_lines", (json_int_t)p->skipped,
        "format", tool_pairs_format_name(p->format),
        "layout", tool_pairs_layout_name(p->layout));
    if (!d) return NULL;
    json_object_set_new(d, "gzip", json_boolean(p->gzip));
    json_t *f = json_array();
    for (size_t i = 0; i < p->n_fields; i++) json_array_append_new(f, json_string(p->fields[i]));
    json_object_set_new(d, "fields", f);
    json_object_set_new(d, "rendering", json_string(p->rule ? p->rule : ""));
    if (p->n_both_safe || p->n_neither_safe || p->n_other_category)
        json_object_set_new(d, "rows_left_out", json_pack("{s:I, s:I, s:I}", "both_safe", (json_int_t)p->n_both_safe,
                            "neither_safe", (json_int_t)p->n_neither_safe,
                            "other_harm_category", (json_int_t)p->n_other_category));
    return d;
}

/* Index of the first non-finite element of n little-endian values of a float
 * dtype (n when none) and their count in *bad. */
static uint64_t first_nonfinite(const unsigned char *p, int dtype, uint64_t n, uint64_t *bad)
{
    uint64_t first = n;
    *bad = 0;
    for (uint64_t i = 0; i < n; i++) {
        int nf;
        if (dtype == PROFS_DTYPE_F32) {
            uint32_t u;
            memcpy(&u, p + 4 * i, 4);
            nf = (u & 0x7f800000u) == 0x7f800000u;
        } else if (dtype == PROFS_DTYPE_F64) {
            uint64_t u;
            memcpy(&u, p + 8 * i, 8);
            nf = (u & 0x7ff0000000000000ull) == 0x7ff0000000000000ull;
        } else {
            uint16_t u = (uint16_t)(p[2 * i] | (p[2 * i + 1] << 8));
            nf = dtype == PROFS_DTYPE_F16 ? (u & 0x7c00u) == 0x7c00u : (u & 0x7f80u) == 0x7f80u;
        }
        if (nf) {
            if (first == n) first = i;
            (*bad)++;
        }
    }
    return first;
}

int tool_warn_nonfinite(const profs_model *m, struct tool_progress *prog)
{
    int warned = 0;
    uint64_t total = 0, done = 0, nb;
    for (size_t i = 0; i < profs_model_tensor_count(m); i++)
        if (!profs_model_tensor_size(m, profs_model_tensor_name(m, i), NULL, &nb)) total += nb;
    for (size_t i = 0; i < profs_model_tensor_count(m); i++) {
        if (tool_progress_cb(prog, "check", done, total)) { tool_progress_end(prog); return -1; }
        const char *name = profs_model_tensor_name(m, i);
        int dt;
        uint64_t numel, nbytes;
        const void *data;
        if (profs_model_tensor_info(m, name, &dt, NULL, NULL) || profs_model_tensor_size(m, name, &numel, &nbytes)) continue;
        done += nbytes;
        if (dt != PROFS_DTYPE_F32 && dt != PROFS_DTYPE_F16 && dt != PROFS_DTYPE_BF16 && dt != PROFS_DTYPE_F64) continue;
        if (profs_model_tensor_data(m, name, &data, &nbytes) || !numel) continue;
        uint64_t bad, first = first_nonfinite(data, dt, numel, &bad);
        (void)profs_model_release(m, name);
        if (bad) {
            tool_progress_end(prog);
            fprintf(stderr, "profs: warning: tensor '%s' of the source holds %llu NaN/Inf value%s (first at element "
                    "%llu); no computation here read it\n", name, (unsigned long long)bad,
                    bad == 1 ? "" : "s", (unsigned long long)first);
            warned++;
        }
    }
    return warned;
}

int tool_check_model_copy(const char *dir, int follow_links)
{
    profs_model *m = NULL;
    int rc = profs_model_open(&m, dir);
    if (rc == 0) rc = profs_model_set_follow_outside_links(m, follow_links);
    if (rc == 0) rc = profs_model_check_save(m);
    profs_model_free(m);
    if (rc) tool_fail_lib(rc, dir);
    return rc ? -1 : 0;
}

int tool_write_edited(profs_model *m, const profs_edit *edit, profs_edit_report *rep, const char *src_dir,
                      const char *out, int force, json_t *prov, struct tool_progress *prog, double *seconds)
{
    char err[1024];
    struct tool_outdir od;
    double t0 = tool_now();
    if (tool_check_out(src_dir, out, force, err, sizeof err) || tool_outdir_begin(&od, out, err, sizeof err)) {
        fprintf(stderr, "profs: %s\n", err);
        return -1;
    }
    od.force = force;
    /* a NaN the edit never reads would be copied silently: say which tensor */
    if (tool_warn_nonfinite(m, prog) < 0) { fprintf(stderr, "profs: interrupted; nothing written\n"); goto fail; }
    int rc = profs_model_save(m, od.tmp, tool_progress_cb, prog);
    tool_progress_end(prog);
    if (rc) {
        if (rc == PROFS_ECANCELLED) fprintf(stderr, "profs: interrupted; nothing written\n");
        else tool_fail_lib(rc, "saving the edited model");
        goto fail;
    }
    json_object_set_new(prov, "tensors_changed", tool_tensors_json(rep));
    json_object_set_new(prov, "output_name", json_string(tool_basename(out)));
    /* the edit lives under profs/: a top-level *.safetensors would reach vLLM's and SGLang's weight loaders */
    char *pd = tool_join(od.tmp, TOOL_EDIT_DIR);
    if (mkdir(pd, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "profs: %s: cannot create directory: %s\n", pd, strerror(errno));
        free(pd);
        goto fail;
    }
    free(pd);
    char *old = tool_join(od.tmp, TOOL_EDIT_FILE_OLD);   /* an older edited source's edit is not this edit */
    remove(old);
    free(old);
    char *ep = tool_join(od.tmp, TOOL_EDIT_FILE);
    rc = profs_edit_save(edit, ep);
    char hex[65];
    if (rc == 0 && tool_sha256_file(ep, hex, NULL) == 0) {
        json_object_set_new(prov, "edit_file", json_string(TOOL_EDIT_FILE));
        json_object_set_new(prov, "edit_sha256", json_string(hex));
    } else if (rc == 0) {
        fprintf(stderr, "profs: %s: cannot read to hash it\n", ep);
        free(ep);
        goto fail;
    }
    free(ep);
    if (rc) { tool_fail_lib(rc, "saving the edit file"); goto fail; }
    char *jp = tool_join(od.tmp, "profs_edit.json");
    rc = tool_json_write(jp, prov, err, sizeof err);
    free(jp);
    if (rc) { fprintf(stderr, "profs: %s\n", err); goto fail; }
    if (tool_model_card_write(od.tmp, src_dir, prov, err, sizeof err)) { fprintf(stderr, "profs: %s\n", err); goto fail; }
    if (tool_interrupted()) { fprintf(stderr, "profs: interrupted; nothing written\n"); goto fail; }
    if (tool_outdir_commit(&od, err, sizeof err)) { fprintf(stderr, "profs: %s\n", err); return -1; }
    tool_outdir_abort(&od);
    if (seconds) *seconds = tool_now() - t0;
    return 0;
fail:
    tool_outdir_abort(&od);
    return -1;
}

int tool_edit_locate(char *buf, size_t len, const char *arg, char *err, size_t errlen)
{
    if (!tool_is_dir(arg)) {
        snprintf(buf, len, "%s", arg);
        return 0;
    }
    char *p = tool_join(arg, TOOL_EDIT_FILE);
    int found = tool_exists(p);
    if (!found) {   /* an edited directory written before libprofs 0.2 kept the edit at the top */
        free(p);
        p = tool_join(arg, TOOL_EDIT_FILE_OLD);
        found = tool_exists(p);
    }
    if (found) snprintf(buf, len, "%s", p);
    else snprintf(err, errlen, "--edit '%s' is a directory without %s (nor the older %s)", arg, TOOL_EDIT_FILE,
                  TOOL_EDIT_FILE_OLD);
    free(p);
    return found ? 0 : -1;
}
