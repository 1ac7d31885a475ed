/* README.md model card (Hugging Face format: YAML front matter + text) for an
 * edited model directory, written from the provenance in profs_edit.json. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"
#include "util.h"

/* The value of "license:" in the YAML front matter of src/README.md, if any
 * (malloc'ed, or NULL). Only a plain scalar on the key's own line is used. */
static char *source_license(const char *src_dir)
{
    if (!src_dir) return NULL;
    char *p = tool_join(src_dir, "README.md");
    char *text = tool_read_text(p, NULL);
    free(p);
    if (!text) return NULL;
    char *out = NULL;
    if (strncmp(text, "---\n", 4) == 0) {
        char *end = strstr(text + 4, "\n---");
        if (end) *end = '\0';
        for (char *line = text + 4; line && *line;) {
            char *nl = strchr(line, '\n');
            if (nl) *nl = '\0';
            if (strncmp(line, "license:", 8) == 0) {
                char *v = line + 8;
                while (*v == ' ' || *v == '\t') v++;
                size_t n = strlen(v);
                while (n && (v[n - 1] == ' ' || v[n - 1] == '\r')) v[--n] = '\0';
                if (n >= 2 && (v[0] == '"' || v[0] == '\'') && v[n - 1] == v[0]) { v[n - 1] = '\0'; v++; }
                if (*v && !strpbrk(v, "\n:#[]{}")) out = strdup(v);
                break;
            }
            line = nl ? nl + 1 : NULL;
        }
    }
    free(text);
    return out;
}

/* YAML-safe double-quoted scalar. */
static void yaml_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') fputc('\\', f);
        if ((unsigned char)*s < 0x20) { fprintf(f, "\\x%02x", (unsigned char)*s); continue; }
        fputc(*s, f);
    }
    fputc('"', f);
}

static const char *js(const json_t *o, const char *k, const char *dflt)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : dflt;
}

int tool_model_card_write(const char *out_dir, const char *src_dir, const json_t *prov, char *err, size_t errlen)
{
    char *path = tool_join(out_dir, "README.md");
    char *mem = NULL;
    size_t memlen = 0;
    FILE *f = open_memstream(&mem, &memlen);
    if (!f) { free(path); snprintf(err, errlen, "out of memory"); return -1; }
    const json_t *src = json_object_get(prov, "source");
    const json_t *set = json_object_get(prov, "settings");
    const json_t *data = json_object_get(prov, "data");
    const json_t *layers = json_object_get(prov, "layers");
    const char *base = js(prov, "base_model", "unknown");
    char *license = source_license(src_dir);

    fprintf(f, "---\nbase_model: ");
    yaml_str(f, base);
    fprintf(f, "\nlibrary_name: transformers\n");
    if (license) fprintf(f, "license: %s\n", license);
    fprintf(f, "tags:\n- profs\n- model-editing\n- projection-filter-for-subspaces\n- detoxification\n");
    fprintf(f, "pipeline_tag: text-generation\n---\n\n");

    fprintf(f, "# %s, edited with ProFS\n\n", base);
    if (strchr(base, '/')) fprintf(f, "This model is [`%s`](https://huggingface.co/%s)", base, base);
    else fprintf(f, "This model is `%s`", base);
    fprintf(f, " with its MLP weights edited by\n"
               "**ProFS** (Projection Filter for Subspaces; Uppaal et al., *Model Editing as a Robust and\n"
               "Denoised variant of DPO: A Case Study on Toxicity*, ICLR 2025, arXiv 2405.13967), using\n"
               "libprofs %s. No training was involved: from %lld preference pairs,\n"
               "ProFS estimates, in each selected layer, the subspace in which the hidden states of\n"
               "dispreferred sentences differ from those of preferred ones, and projects that subspace out\n"
               "of the layer's MLP %s matri%s, so the layer can no longer write those directions into the\n"
               "residual stream. Architecture, tokenizer and configuration are unchanged; the model loads\n"
               "and runs exactly like the base model, at the same speed.\n\n",
            js(prov, "libprofs_version", "?"),
            (long long)json_integer_value(json_object_get(data, "n_pairs")),
            strcmp(js(set, "targets", "value"), "both") == 0 ? "value and key" : js(set, "targets", "value"),
            strcmp(js(set, "targets", "value"), "both") == 0 ? "ces" : "x");

    fprintf(f, "## Edit\n\n| setting | value |\n|---|---|\n");
    fprintf(f, "| method | ProFS: difference of mean-pooled block outputs, centering, SVD, projection |\n");
    const json_t *preset = json_object_get(set, "preset");
    if (json_is_object(preset))
        fprintf(f, "| preset | `%s` (the authors' `%s`%s) |\n", js(preset, "name", "?"), js(preset, "config", "?"),
                json_array_size(json_object_get(preset, "overridden")) ? ", some settings overridden" : "");
    fprintf(f, "| architecture | %s |\n", js(src, "architecture", "?"));
    fprintf(f, "| layers (0-based, inclusive) | %s |\n", js(set, "layers", "?"));
    fprintf(f, "| rank | %s |\n", js(set, "rank", "?"));
    if (json_is_integer(json_object_get(set, "rank_max")))
        fprintf(f, "| ScreeNOT upper bound k_max | %lld |\n", (long long)json_integer_value(json_object_get(set, "rank_max")));
    if (strcmp(js(set, "rank", ""), "screenot") == 0)
        fprintf(f, "| ScreeNOT strategy | %s |\n", js(set, "screenot_strategy", "?"));
    fprintf(f, "| centering | %s |\n", js(set, "centering", "?"));
    fprintf(f, "| edited matrices | %s |\n", js(set, "targets", "value"));
    fprintf(f, "| preference pairs | %lld (`%s`, sha256 `%s`) |\n",
            (long long)json_integer_value(json_object_get(data, "n_pairs")), js(data, "file", "?"), js(data, "sha256", "?"));
    fprintf(f, "| max tokens per sentence | %lld |\n\n", (long long)json_integer_value(json_object_get(set, "max_length")));

    fprintf(f, "Rank per layer (%s):\n\n| layer | rank | threshold | largest singular values |\n|---|---|---|---|\n",
            strcmp(js(set, "rank", ""), "screenot") == 0
                ? "number of singular values above the ScreeNOT threshold (Donoho, Gavish, Romanov 2023), at most k_max"
                : "fixed");
    size_t i;
    json_t *L;
    json_array_foreach((json_t *)layers, i, L) {
        json_t *sv = json_object_get(L, "singular_values");
        fprintf(f, "| %lld | %lld | %.4g | ", (long long)json_integer_value(json_object_get(L, "layer")),
                (long long)json_integer_value(json_object_get(L, "rank")), json_number_value(json_object_get(L, "threshold")));
        for (size_t k = 0; k < json_array_size(sv) && k < 4; k++)
            fprintf(f, "%s%.4g", k ? ", " : "", json_number_value(json_array_get(sv, k)));
        fprintf(f, " |\n");
    }
    const char *cl = js(prov, "command_line", NULL);
    if (cl) fprintf(f, "\nMade with:\n\n```sh\n%s\n```\n", cl);
    fprintf(f, "\n## Files\n\n"
               "- `profs_edit.json`: machine-readable provenance (all settings, per-layer ranks and thresholds,\n"
               "  every tensor changed, the data file and its SHA-256, the libprofs version).\n"
               "- `%s`: the edit itself (per-layer orthonormal bases `layers.{l}.basis` and singular values,\n"
               "  safetensors), which `profs apply` can apply to the base model again.\n\n",
            js(prov, "edit_file", "profs_edit.safetensors"));
    fprintf(f, "## Limitations\n\n"
               "ProFS removes the directions that separate the given preference pairs; it reduces, but does not\n"
               "guarantee the absence of, the behaviour they illustrate, and it inherits the base model's other\n"
               "limitations and license%s%s%s.\n",
            license ? " (" : "", license ? license : "", license ? ")" : "");
    fclose(f);
    free(license);
    int rc = mem ? tool_write_file_atomic(path, mem) : -1;
    free(mem);
    if (rc) snprintf(err, errlen, "%s: cannot write", path);
    free(path);
    return rc;
}
