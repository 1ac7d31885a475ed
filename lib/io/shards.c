/* Planning the safetensors output of a PyTorch-checkpoint source (rules: shards.h). */
#include "io/shards.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "profs/common.h"

#define INDEX_NAME "model.safetensors.index.json"

void pf_shard_plan_free(pf_shard_plan *p)
{
    if (!p) return;
    for (size_t i = 0; i < p->n; i++) {
        free(p->s[i].name);
        free(p->s[i].tensors);
    }
    free(p->s);
    free(p->index_json);
    memset(p, 0, sizeof *p);
}

typedef struct ref { size_t file, fi; } ref;   /* a tensor: file and index in its header */


static int cmp_view(const void *a, const void *b, void *ud)
{
    const profs_model *cmp_model = ud;
    const ref *x = a, *y = b;
    const pf_tb_tensor *s = &cmp_model->bins[x->file]->t[x->fi], *t = &cmp_model->bins[y->file]->t[y->fi];
    if (x->file != y->file) return x->file < y->file ? -1 : 1;
    if (s->entry != t->entry) return s->entry < t->entry ? -1 : 1;
    if (s->offset != t->offset) return s->offset < t->offset ? -1 : 1;
    return strcmp(cmp_model->files[x->file].h.tensors[x->fi].name, cmp_model->files[y->file].h.tensors[y->fi].name);
}

static const char *ref_name(const profs_model *m, ref r) { return m->files[r.file].h.tensors[r.fi].name; }

static int is_lm_head(const char *name) { return strncmp(name, "lm_head.", 8) == 0; }

/* Mark tied aliases: keep[k] = 0 for every state-dict entry that is not written. */
static int mark_aliases(const profs_model *m, const ref *order, size_t n, unsigned char *keep, size_t *dropped)
{
    ref *v = malloc((n ? n : 1) * sizeof *v);
    if (!v) return pf_enomem("alias table");
    memcpy(v, order, n * sizeof *v);
    qsort_r(v, n, sizeof *v, cmp_view, (void *)m);
    int rc = PROFS_OK;
    for (size_t a = 0; a < n && rc == 0;) {
        size_t b = a + 1;
        while (b < n && v[b].file == v[a].file && pf_tb_same_view(m->bins[v[a].file], &m->files[v[a].file], v[a].fi, v[b].fi)) b++;
        if (b - a > 1) {
            size_t keep_i = b, staged = 0;
            for (size_t k = a; k < b; k++) {
                long t = pf_model_find(m, ref_name(m, v[k]));
                if (m->stages[t].kind != PF_STAGE_NONE) staged++;
                if (keep_i == b && !is_lm_head(ref_name(m, v[k]))) keep_i = k;
            }
            if (keep_i == b) keep_i = a;
            if (staged)
                rc = pf_error(PROFS_EUNSUPPORTED, "%s: tensor '%s' shares its storage with '%s' (tied weights); "
                              "editing tied tensors is not supported", m->files[v[a].file].path, ref_name(m, v[a]),
                              ref_name(m, v[a + 1]));
            for (size_t k = a; k < b && rc == 0; k++)
                if (k != keep_i)
                    for (size_t q = 0; q < n; q++)
                        if (order[q].file == v[k].file && order[q].fi == v[k].fi) { keep[q] = 0; (*dropped)++; break; }
        }
        a = b;
    }
    free(v);
    return rc;
}

static int add_shard(pf_shard_plan *p, size_t cap)
{
    pf_shard *s = realloc(p->s, (p->n + 1) * sizeof *s);
    if (!s) return pf_enomem("shard plan");
    p->s = s;
    memset(&s[p->n], 0, sizeof *s);
    s[p->n].tensors = malloc((cap ? cap : 1) * sizeof *s[p->n].tensors);
    if (!s[p->n].tensors) return pf_enomem("shard plan");
    p->n++;
    return PROFS_OK;
}

static int cmp_data(const void *a, const void *b, void *ud)
{
    const profs_model *m = ud;
    const pf_model_tensor *x = &m->tensors[*(const size_t *)a], *y = &m->tensors[*(const size_t *)b];
    size_t ex = profs_dtype_size(x->t->dtype), ey = profs_dtype_size(y->t->dtype);
    if (ex != ey) return ex > ey ? -1 : 1;
    return strcmp(x->name, y->name);
}


/* transformers' dot_natural_key: compare dotted components in turn; a component of
 * digits sorts before one that is not, digits compare as numbers, others as strings. */
static int cmp_natural(const char *a, const char *b)
{
    while (*a || *b) {
        if (!*a) return -1;
        if (!*b) return 1;
        size_t la = strcspn(a, "."), lb = strcspn(b, ".");
        int da = la > 0 && strspn(a, "0123456789") >= la, db = lb > 0 && strspn(b, "0123456789") >= lb;
        if (da != db) return da ? -1 : 1;
        int c;
        if (da) {
            const char *x = a, *y = b;
            size_t lx = la, ly = lb;
            while (lx > 1 && *x == '0') { x++; lx--; }
            while (ly > 1 && *y == '0') { y++; ly--; }
            c = lx != ly ? (lx < ly ? -1 : 1) : memcmp(x, y, lx);
        } else {
            c = memcmp(a, b, la < lb ? la : lb);
            if (c == 0 && la != lb) c = la < lb ? -1 : 1;
        }
        if (c) return c < 0 ? -1 : 1;
        a += la;
        b += lb;
        if (*a == '.') a++;
        if (*b == '.') b++;
        if (!*a && !*b) break;
    }
    return 0;
}

static int cmp_save_order(const void *x, const void *y, void *ud)
{
    const profs_model *m = ud;
    const char *a = m->tensors[*(const size_t *)x].name, *b = m->tensors[*(const size_t *)y].name;
    int c = cmp_natural(a, b);
    return c ? c : strcmp(a, b);
}

int pf_shard_plan_make(pf_shard_plan *out, const profs_model *m)
{
    memset(out, 0, sizeof *out);
    size_t n = m->n_tensors, k = 0, *kept = NULL;
    ref *order = malloc((n ? n : 1) * sizeof *order);
    unsigned char *keep = malloc(n ? n : 1);
    int rc = PROFS_OK;
    if (!order || !keep) { rc = pf_enomem("shard plan"); goto done; }
    for (size_t f = 0; f < m->n_files; f++)
        for (size_t q = 0; q < m->files[f].h.n_tensors; q++) order[k++] = (ref){ f, m->bins[f]->pickle_order[q] };
    memset(keep, 1, n);
    if ((rc = mark_aliases(m, order, n, keep, &out->n_dropped))) goto done;
    /* the order transformers 5 saves in (revert_weight_conversion sorts by dot_natural_key) */
    size_t n_kept = 0;
    if (!(kept = malloc((n ? n : 1) * sizeof *kept))) { rc = pf_enomem("shard plan"); goto done; }
    for (size_t q = 0; q < n; q++)
        if (keep[q]) kept[n_kept++] = (size_t)pf_model_find(m, ref_name(m, order[q]));
    qsort_r(kept, n_kept, sizeof *kept, cmp_save_order, (void *)m);
    /* split_torch_state_dict_into_shards */
    uint64_t cur = 0, total = 0, params = 0;
    int open = 0;
    for (size_t q = 0; q < n_kept && rc == 0; q++) {
        long t = (long)kept[q];
        uint64_t sz = m->tensors[t].t->end - m->tensors[t].t->begin;
        total += sz;
        params += m->tensors[t].t->numel;
        if (sz > m->max_shard_size) {
            if ((rc = add_shard(out, 1))) break;
            pf_shard *s = &out->s[out->n - 1];
            /* its own shard, placed before the current one (as the Python list append does) */
            if (open) {
                pf_shard tmp = out->s[out->n - 1];
                out->s[out->n - 1] = out->s[out->n - 2];
                out->s[out->n - 2] = tmp;
                s = &out->s[out->n - 2];
            }
            s->tensors[s->n++] = (size_t)t;
            s->bytes = sz;
            continue;
        }
        if (open && cur + sz > m->max_shard_size) open = 0;
        if (!open) {
            if ((rc = add_shard(out, n))) break;
            open = 1;
            cur = 0;
        }
        pf_shard *s = &out->s[out->n - 1];
        s->tensors[s->n++] = (size_t)t;
        s->bytes += sz;
        cur += sz;
    }
    if (rc) goto done;
    if (out->n == 0 && (rc = add_shard(out, 1))) goto done;   /* an empty state dict still gets its file */
    json_t *wm = json_object();
    for (size_t i = 0; i < out->n && rc == 0; i++) {
        char name[64];
        if (out->n == 1) snprintf(name, sizeof name, "model.safetensors");
        else snprintf(name, sizeof name, "model-%05zu-of-%05zu.safetensors", i + 1, out->n);
        if (!(out->s[i].name = strdup(name))) rc = pf_enomem("shard name");
        for (size_t j = 0; j < out->s[i].n && rc == 0; j++)
            json_object_set_new(wm, m->tensors[out->s[i].tensors[j]].name, json_string(name));
        qsort_r(out->s[i].tensors, out->s[i].n, sizeof *out->s[i].tensors, cmp_data, (void *)m);
    }
    if (rc == 0 && out->n > 1) {
        json_t *idx = json_pack("{s:{s:I, s:I}, s:o}", "metadata", "total_parameters", (json_int_t)params,
                                "total_size", (json_int_t)total, "weight_map", wm);
        wm = NULL;
        char *text = idx ? json_dumps(idx, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;
        json_decref(idx);
        if (!text || !(out->index_json = malloc(strlen(text) + 2))) rc = pf_enomem("index");
        else sprintf(out->index_json, "%s\n", text);
        free(text);
    }
    json_decref(wm);
done:
    free(order);
    free(keep);
    free(kept);
    if (rc) pf_shard_plan_free(out);
    return rc;
}

int pf_shard_header(uint8_t **out, size_t *len, const profs_model *m, const pf_shard *s)
{
    json_t *root = json_pack("{s:{s:s}}", "__metadata__", "format", "pt");
    if (!root) return pf_enomem("header");
    uint64_t off = 0;
    for (size_t i = 0; i < s->n; i++) {
        const pf_st_tensor *t = m->tensors[s->tensors[i]].t;
        json_t *shape = json_array();
        for (size_t d = 0; d < t->ndim; d++) json_array_append_new(shape, json_integer(t->shape[d]));
        uint64_t nb = t->end - t->begin;
        json_object_set_new(root, t->name, json_pack("{s:s, s:o, s:[I, I]}", "dtype", profs_dtype_name(t->dtype),
                                                     "shape", shape, "data_offsets", (json_int_t)off,
                                                     (json_int_t)(off + nb)));
        off += nb;
    }
    char *text = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(root);
    if (!text) return pf_enomem("header");
    size_t tl = strlen(text), padded = (tl + 7) / 8 * 8;
    uint8_t *h = malloc(8 + padded);
    if (!h) { free(text); return pf_enomem("header"); }
    for (int i = 0; i < 8; i++) h[i] = (uint8_t)((uint64_t)padded >> (8 * i));
    memcpy(h + 8, text, tl);
    memset(h + 8 + tl, ' ', padded - tl);
    free(text);
    *out = h;
    *len = 8 + padded;
    return PROFS_OK;
}
