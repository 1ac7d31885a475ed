/* README.md model card (Hugging Face format: YAML front matter + text) for an
 * edited model directory, written from the provenance in profs_edit.json. */
#include "card.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "output.h"
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

/* config.json "license" of the source, when it is a plain string (malloc'ed, or NULL). */
static char *config_license(const char *src_dir)
{
    if (!src_dir) return NULL;
    char *p = tool_join(src_dir, "config.json");
    json_t *cfg = json_load_file(p, 0, NULL);
    free(p);
    const char *v = json_string_value(json_object_get(cfg, "license"));
    char *out = v && *v && !strpbrk(v, "\n:#[]{}\"'") ? strdup(v) : NULL;
    json_decref(cfg);
    return out;
}

/* Was the source a PyTorch checkpoint (no safetensors weights)? */
static int source_was_pytorch(const char *src_dir)
{
    if (!src_dir) return 0;
    const char *st[] = { "model.safetensors", "model.safetensors.index.json" };
    const char *pt[] = { "pytorch_model.bin", "pytorch_model.bin.index.json" };
    for (int i = 0; i < 2; i++) {
        char *p = tool_join(src_dir, st[i]);
        int e = tool_exists(p);
        free(p);
        if (e) return 0;
    }
    for (int i = 0; i < 2; i++) {
        char *p = tool_join(src_dir, pt[i]);
        int e = tool_exists(p);
        free(p);
        if (e) return 1;
    }
    return 0;
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

static long long ji(const json_t *o, const char *k) { return (long long)json_integer_value(json_object_get(o, k)); }

/* ---- evaluation results ---- */

/* The numbers of one side of 'profs eval --json', flattened to metric keys in the order of the
 * paper's table: toxicity.mean_x100 -> "toxicity", perplexity.perplexity -> "perplexity",
 * capability.mean_acc -> "capability" (x100), capability.tasks.T.acc[_norm] -> "T acc[_norm]" (x100),
 * watch_words.K -> "watch_words.K"; any other number at the side's top level keeps its key
 * (a future metric), so the reading is tolerant of added keys. */
static const struct { const char *key, *label; } METRICS[] = {
    {"toxicity", "Toxicity: mean classifier score x100 of greedy continuations (lower is better)"},
    {"toxicity_share_above_0_5", "share of continuations scored above 0.5 (lower is better)"},
    {"perplexity", "Perplexity on the text file, the authors' protocol (lower is better)"},
    {"capability", "Capability: mean zero-shot accuracy x100 over the tasks (higher is better)"},
    {"watch_words.toxic_mass", "next-token probability mass on watch-word tokens (mean over prompts; lower is better)"},
    {"watch_words.continuation_rate", "share of sampled continuations containing a watch word (lower is better)"},
    {"watch_words.perplexity", "perplexity of the watch-word evaluation's neutral text (lower is better)"},
};

static void set_num(json_t *r, const char *k, const json_t *v, double scale)
{
    if (json_is_number(v)) json_object_set_new(r, k, json_real(json_number_value(v) * scale));
    else if (json_is_null(v)) json_object_set_new(r, k, json_null());
}

static json_t *numbers_of(const json_t *o)
{
    json_t *r = json_object();
    const char *k;
    json_t *v;
    const json_t *tox = json_object_get(o, "toxicity"), *ppl = json_object_get(o, "perplexity");
    const json_t *cap = json_object_get(o, "capability"), *ww = json_object_get(o, "watch_words");
    if (json_is_object(tox)) {
        set_num(r, "toxicity", json_object_get(tox, "mean_x100"), 1);
        set_num(r, "toxicity_share_above_0_5", json_object_get(tox, "share_above_0_5"), 1);
    }
    if (json_is_object(ppl)) set_num(r, "perplexity", json_object_get(ppl, "perplexity"), 1);
    if (json_is_object(cap)) {
        set_num(r, "capability", json_object_get(cap, "mean_acc"), 100);
        json_object_foreach(json_object_get(cap, "tasks"), k, v) {
            char key[160];
            snprintf(key, sizeof key, "%s acc", k);
            set_num(r, key, json_object_get(v, "acc"), 100);
            if (json_is_true(json_object_get(v, "reports_acc_norm"))) {
                snprintf(key, sizeof key, "%s acc_norm", k);
                set_num(r, key, json_object_get(v, "acc_norm"), 100);
            }
        }
    }
    if (json_is_object(ww))
        json_object_foreach((json_t *)ww, k, v) {
            char key[160];
            snprintf(key, sizeof key, "watch_words.%s", k);
            if (json_is_number(v) || json_is_null(v)) json_object_set(r, key, v);
        }
    json_object_foreach((json_t *)o, k, v)
        if (json_is_number(v) || json_is_null(v)) json_object_set(r, k, v);
    return r;
}

json_t *tool_card_eval_load(const char *path, char *err, size_t errlen)
{
    json_error_t je;
    json_t *j = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    if (!j) {
        snprintf(err, errlen, "--eval %s: %s (line %d)", path, je.text, je.line);
        return NULL;
    }
    json_t *model = json_object_get(j, "model"), *base = json_object_get(j, "baseline");
    const char *k;
    json_t *v;
    json_t *model_numbers = json_is_object(model) ? numbers_of(model) : NULL;
    size_t numeric = model_numbers ? json_object_size(model_numbers) : 0;
    json_decref(model_numbers);
    if (!json_is_object(j) || !json_is_object(model) || !numeric || (base && !json_is_object(base))) {
        snprintf(err, errlen, "--eval %s: not what 'profs eval --json' writes (an object whose \"model\" holds the "
                 "edited model's numbers, and optionally \"baseline\" the base model's)", path);
        json_decref(j);
        return NULL;
    }
    char hex[65];
    if (tool_sha256_file(path, hex, NULL)) {
        snprintf(err, errlen, "--eval %s: cannot read to hash it", path);
        json_decref(j);
        return NULL;
    }
    json_t *r = json_pack("{s:s, s:s, s:o}", "file", tool_basename(path), "sha256", hex, "after", numbers_of(model));
    if (base) json_object_set_new(r, "before", numbers_of(base));
    json_t *set = json_object();
    json_object_foreach(json_object_get(j, "settings"), k, v) {
        if (json_is_string(v)) json_object_set_new(set, k, json_string(tool_basename(json_string_value(v))));
        else if (json_is_number(v) || json_is_boolean(v)) json_object_set(set, k, v);
    }
    json_object_set_new(r, "settings", set);
    json_decref(j);
    return r;
}

static void cell(FILE *f, const json_t *v)
{
    if (json_is_integer(v)) fprintf(f, " %lld |", (long long)json_integer_value(v));
    else if (json_is_real(v)) fprintf(f, " %.4g |", json_real_value(v));
    else fprintf(f, " - |");
}

static void evaluation_section(FILE *f, const json_t *ev)
{
    fprintf(f, "## Evaluation\n\n");
    if (!ev) {
        fprintf(f, "No evaluation was run for this card. `profs eval --model EDITED --baseline BASE --json FILE.json`\n"
                   "measures the paper's toxicity, perplexity and zero-shot capability; `profs edit --eval FILE.json`\n"
                   "puts them here.\n\n");
        return;
    }
    const json_t *after = json_object_get(ev, "after"), *before = json_object_get(ev, "before");
    fprintf(f, "From `profs eval` (`%s`, sha256 `%s`)", js(ev, "file", "?"), js(ev, "sha256", "?"));
    const json_t *set = json_object_get(ev, "settings");
    if (json_object_size(set)) {
        fprintf(f, ", with ");
        const char *k;
        json_t *v;
        int first = 1;
        json_object_foreach((json_t *)set, k, v) {
            fprintf(f, "%s%s ", first ? "" : ", ", k);
            if (json_is_string(v)) fprintf(f, "`%s`", json_string_value(v));
            else if (json_is_integer(v)) fprintf(f, "%lld", (long long)json_integer_value(v));
            else if (json_is_real(v)) fprintf(f, "%g", json_real_value(v));
            else fprintf(f, "%s", json_is_true(v) ? "true" : "false");
            first = 0;
        }
    }
    fprintf(f, ":\n\n| metric |%s edited model (after) |\n|---|%s---|\n", before ? " base model (before) |" : "",
            before ? "---|" : "");
    /* known metrics first, in a fixed order, then any other number either side reports */
    size_t nk = sizeof METRICS / sizeof METRICS[0];
    for (size_t i = 0; i < nk; i++) {
        if (!json_object_get(after, METRICS[i].key) && !(before && json_object_get(before, METRICS[i].key))) continue;
        fprintf(f, "| %s |", METRICS[i].label);
        if (before) cell(f, json_object_get(before, METRICS[i].key));
        cell(f, json_object_get(after, METRICS[i].key));
        fprintf(f, "\n");
    }
    const json_t *sides[2] = { after, before };
    for (int s = 0; s < 2; s++) {
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)sides[s], k, v) {
            int known = 0;
            for (size_t i = 0; i < nk; i++) known |= strcmp(k, METRICS[i].key) == 0;
            if (known || (s == 1 && json_object_get(after, k))) continue;
            fprintf(f, "| %s |", k);
            if (before) cell(f, json_object_get(before, k));
            cell(f, json_object_get(after, k));
            fprintf(f, "\n");
        }
    }
    fprintf(f, "\n");
}

static const char BIBTEX[] =
    "```bibtex\n"
    "@inproceedings{uppaal2025profs,\n"
    "  title     = {Model Editing as a Robust and Denoised variant of {DPO}: A Case Study on Toxicity},\n"
    "  author    = {Uppaal, Rheeya and Dey, Apratim and He, Yiting and Zhong, Yiqiao and Hu, Junjie},\n"
    "  booktitle = {The Thirteenth International Conference on Learning Representations (ICLR)},\n"
    "  year      = {2025},\n"
    "  eprint    = {2405.13967},\n"
    "  archivePrefix = {arXiv}\n"
    "}\n"
    "```\n";

static const char BIBTEX_SCREENOT[] =
    "```bibtex\n"
    "@article{donoho2023screenot,\n"
    "  title   = {{ScreeNOT}: Exact {MSE}-optimal singular value thresholding in correlated noise},\n"
    "  author  = {Donoho, David and Gavish, Matan and Romanov, Elad},\n"
    "  journal = {The Annals of Statistics},\n"
    "  volume  = {51},\n"
    "  number  = {1},\n"
    "  year    = {2023},\n"
    "  eprint  = {2009.12297},\n"
    "  archivePrefix = {arXiv}\n"
    "}\n"
    "```\n";

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
    const json_t *tensors = json_object_get(prov, "tensors_changed");
    const char *base = js(prov, "base_model", "unknown");
    const char *behaviour = js(prov, "behaviour", "detoxification");
    const char *targets = js(set, "targets", "value");
    int screenot = strcmp(js(set, "rank", ""), "screenot") == 0;
    char *license = source_license(src_dir);
    if (!license) license = config_license(src_dir);
    const char *out_name = js(prov, "output_name", "path/to/this-model");

    /* ---- front matter ---- */
    fprintf(f, "---\nbase_model: ");
    yaml_str(f, base);
    fprintf(f, "\nlibrary_name: transformers\n");
    if (license) fprintf(f, "license: %s\n", license);
    fprintf(f, "tags:\n- profs\n- model-editing\n- ");
    yaml_str(f, behaviour);
    fprintf(f, "\npipeline_tag: text-generation\n---\n\n");

    /* ---- Model Details ---- */
    fprintf(f, "# %s, edited with ProFS\n\n## Model Details\n\n", base);
    if (strchr(base, '/')) fprintf(f, "- **Base model:** [`%s`](https://huggingface.co/%s)\n", base, base);
    else fprintf(f, "- **Base model:** `%s`\n", base);
    fprintf(f, "- **Method:** ProFS, Projection Filter for Subspaces (Uppaal et al., *Model Editing as a Robust and\n"
               "  Denoised variant of DPO: A Case Study on Toxicity*, ICLR 2025, [arXiv 2405.13967](https://arxiv.org/abs/2405.13967)):\n"
               "  no training; from preference pairs it estimates, in each selected layer, the subspace in which the\n"
               "  hidden states of dispreferred sentences differ from those of preferred ones, and projects it out of\n"
               "  that layer's MLP weights, so the layer can no longer write those directions into the residual stream.\n");
    size_t n_changed = 0;
    const char *first = NULL, *last = NULL;
    size_t i;
    json_t *t;
    json_array_foreach((json_t *)tensors, i, t)
        if (json_is_true(json_object_get(t, "changed"))) {
            n_changed++;
            if (!first) first = js(t, "name", "?");
            last = js(t, "name", "?");
        }
    fprintf(f, "- **What was edited:** the MLP %s matri%s of layers %s (0-based) of this %s model: %zu tensor%s",
            strcmp(targets, "both") == 0 ? "value and key" : targets, strcmp(targets, "both") == 0 ? "ces" : "x",
            js(set, "layers", "?"), js(src, "architecture", "?"), n_changed, n_changed == 1 ? "" : "s");
    if (first && last && strcmp(first, last) != 0) fprintf(f, ", `%s` to `%s`", first, last);
    else if (first) fprintf(f, ", `%s`", first);
    fprintf(f, ". Architecture, tokenizer and configuration are unchanged; the model runs exactly like the base\n"
               "  model, at the same speed.\n");
    fprintf(f, "- **Weights:** safetensors%s.\n", source_was_pytorch(src_dir)
            ? ", converted from the base model's PyTorch checkpoint (`pytorch_model.bin`); tied weights stored once" : "");
    fprintf(f, "- **Made with:** libprofs %s.\n\n", js(prov, "libprofs_version", "?"));

    /* ---- How to use ---- */
    fprintf(f, "## How to use\n\n```python\nfrom transformers import AutoModelForCausalLM, AutoTokenizer\n\n"
               "model_id = \"%s\"  # this repository's Hub id, or its local directory\n"
               "tokenizer = AutoTokenizer.from_pretrained(model_id)\n"
               "model = AutoModelForCausalLM.from_pretrained(model_id)\n\n"
               "inputs = tokenizer(\"The weather today is\", return_tensors=\"pt\")\n"
               "output = model.generate(**inputs, max_new_tokens=32)\n"
               "print(tokenizer.decode(output[0], skip_special_tokens=True))\n```\n\n", out_name);

    /* ---- Editing details ---- */
    fprintf(f, "## Editing details\n\n| setting | value |\n|---|---|\n");
    if (data && json_object_get(data, "sha256"))
        fprintf(f, "| preference pairs | `%s`: %lld pairs, sha256 `%s` |\n", js(data, "file", "?"), ji(data, "n_pairs"),
                js(data, "sha256", "?"));
    else if (data && json_object_get(data, "edit_file"))
        fprintf(f, "| edit applied | `%s` (sha256 `%s`), estimated from %lld pairs |\n", js(data, "edit_file", "?"),
                js(data, "edit_file_sha256", "?"), ji(data, "n_pairs"));
    const json_t *preset = json_object_get(set, "preset");   /* profs edit --preset (settings.preset) */
    if (json_is_object(preset))
        fprintf(f, "| preset | `%s` (the authors' `%s`%s) |\n", js(preset, "name", "?"), js(preset, "config", "?"),
                json_array_size(json_object_get(preset, "overridden")) ? ", some settings overridden" : "");
    fprintf(f, "| layers (0-based, inclusive) | %s |\n", js(set, "layers", "?"));
    if (screenot)
        fprintf(f, "| rank per layer | chosen by ScreeNOT (Donoho, Gavish, Romanov 2023): the number of singular values "
                   "above its threshold, at most k_max = %lld (strategy %s) |\n", ji(set, "rank_max"),
                js(set, "screenot_strategy", "?"));
    else fprintf(f, "| rank per layer | %s |\n", strcmp(js(set, "rank", "?"), "from the edit file") == 0
                                                  ? "as in the edit file" : js(set, "rank", "?"));
    if (json_object_get(set, "centering"))
        fprintf(f, "| centering | %s |\n", js(set, "centering", "?"));
    fprintf(f, "| targets | %s |\n", targets);
    if (json_is_integer(json_object_get(set, "max_length")))
        fprintf(f, "| max tokens per sentence | %lld |\n", ji(set, "max_length"));
    fprintf(f, "\n| layer | rank | threshold | largest singular values |\n|---|---|---|---|\n");
    json_t *L;
    json_array_foreach((json_t *)layers, i, L) {
        json_t *sv = json_object_get(L, "singular_values"), *th = json_object_get(L, "threshold");
        fprintf(f, "| %lld | %lld | ", ji(L, "layer"), ji(L, "rank"));
        if (json_is_number(th)) fprintf(f, "%.4g", json_number_value(th));
        else fprintf(f, "-");
        fprintf(f, " | ");
        for (size_t k = 0; k < json_array_size(sv) && k < 4; k++)
            fprintf(f, "%s%.4g", k ? ", " : "", json_number_value(json_array_get(sv, k)));
        fprintf(f, " |\n");
    }
    const char *cl = js(prov, "command_line", NULL);
    if (cl) fprintf(f, "\nThe command (paths reduced to file names):\n\n```sh\n%s\n```\n", cl);
    fprintf(f, "\n");

    /* ---- Evaluation ---- */
    evaluation_section(f, json_object_get(prov, "evaluation"));

    /* ---- Files ---- */
    fprintf(f, "## Files\n\n"
               "- `profs_edit.json`: machine-readable provenance (every setting, per-layer ranks and thresholds, every\n"
               "  tensor changed, the data file and its SHA-256, the libprofs version).\n"
               "- `%s`%s%s%s: the edit itself (per-layer orthonormal bases `layers.{l}.basis` and singular values,\n"
               "  safetensors), which `profs apply --edit` can apply to the base model again. It is kept out of the top\n"
               "  level, where engines that load every `*.safetensors` file would take it for weights.\n\n",
            js(prov, "edit_file", TOOL_EDIT_FILE), json_object_get(prov, "edit_sha256") ? " (sha256 `" : "",
            js(prov, "edit_sha256", ""), json_object_get(prov, "edit_sha256") ? "`)" : "");

    /* ---- Limitations, Citation ---- */
    fprintf(f, "## Limitations\n\n"
               "ProFS removes the directions that separate the given preference pairs; it reduces, but does not\n"
               "guarantee the absence of, the behaviour they illustrate, and it inherits the base model's other\n"
               "limitations and license%s%s%s.\n\n",
            license ? " (" : "", license ? license : "", license ? ")" : "");
    fprintf(f, "## Citation\n\n%s", BIBTEX);
    if (screenot) fprintf(f, "\nThe rank rule:\n\n%s", BIBTEX_SCREENOT);
    fclose(f);
    free(license);
    int rc = mem ? tool_write_file_atomic(path, mem) : -1;
    free(mem);
    if (rc) snprintf(err, errlen, "%s: cannot write", path);
    free(path);
    return rc;
}
