/* Safetensors header parsing and validation; mapping of one file. */
#include "io/safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"
#include "core/fsutil.h"
#include "profs/common.h"

static uint64_t read_le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

/* "[4096, 14336]" into buf (truncated with "..." when long). */
static void format_shape(char *buf, size_t n, const int64_t *shape, size_t ndim)
{
    size_t k = 0;
    k += (size_t)snprintf(buf + k, n - k, "[");
    for (size_t i = 0; i < ndim && k < n; i++) {
        if (k + 24 >= n) { snprintf(buf + k, n - k, "..."); k = n; break; }
        k += (size_t)snprintf(buf + k, n - k, i ? ", %" PRId64 : "%" PRId64, shape[i]);
    }
    if (k < n) snprintf(buf + k, n - k, "]");
}

void pf_st_header_free(pf_st_header *h)
{
    if (!h) return;
    for (size_t i = 0; i < h->n_tensors; i++) {
        free(h->tensors[i].name);
        free(h->tensors[i].shape);
    }
    free(h->tensors);
    for (size_t i = 0; i < h->n_meta; i++) {
        free(h->meta_keys[i]);
        free(h->meta_values[i]);
    }
    free(h->meta_keys);
    free(h->meta_values);
    memset(h, 0, sizeof *h);
}

static int cmp_tensor_name(const void *a, const void *b)
{
    return strcmp(((const pf_st_tensor *)a)->name, ((const pf_st_tensor *)b)->name);
}

static int cmp_tensor_offset(const void *a, const void *b)
{
    const pf_st_tensor *x = *(const pf_st_tensor *const *)a, *y = *(const pf_st_tensor *const *)b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return 0;
}

long pf_st_find(const pf_st_header *h, const char *name)
{
    size_t lo = 0, hi = h->n_tensors;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(h->tensors[mid].name, name);
        if (c == 0) return (long)mid;
        if (c < 0) lo = mid + 1; else hi = mid;
    }
    return -1;
}

static int parse_metadata(pf_st_header *h, const char *file, json_t *meta)
{
    if (!json_is_object(meta))
        return pf_error(PROFS_EFORMAT, "%s: __metadata__ is not an object of strings", file);
    size_t n = json_object_size(meta);
    h->meta_keys = calloc(n ? n : 1, sizeof *h->meta_keys);
    h->meta_values = calloc(n ? n : 1, sizeof *h->meta_values);
    if (!h->meta_keys || !h->meta_values) return pf_enomem("safetensors metadata");
    const char *key;
    json_t *val;
    json_object_foreach(meta, key, val) {
        if (!json_is_string(val))
            return pf_error(PROFS_EFORMAT, "%s: __metadata__ entry '%s' is not a string", file, key);
        h->meta_keys[h->n_meta] = strdup(key);
        h->meta_values[h->n_meta] = strdup(json_string_value(val));
        h->n_meta++;
        if (!h->meta_keys[h->n_meta - 1] || !h->meta_values[h->n_meta - 1])
            return pf_enomem("safetensors metadata");
    }
    /* sort by key (insertion sort on pairs: metadata maps are small) */
    for (size_t i = 1; i < h->n_meta; i++) {
        char *k = h->meta_keys[i], *v = h->meta_values[i];
        size_t j = i;
        while (j > 0 && strcmp(h->meta_keys[j - 1], k) > 0) {
            h->meta_keys[j] = h->meta_keys[j - 1];
            h->meta_values[j] = h->meta_values[j - 1];
            j--;
        }
        h->meta_keys[j] = k;
        h->meta_values[j] = v;
    }
    return PROFS_OK;
}

static int parse_entry(pf_st_tensor *t, const char *file, const char *name, json_t *e)
{
    if (!json_is_object(e))
        return pf_error(PROFS_EFORMAT, "%s: tensor '%s': entry is not an object", file, name);
    json_t *jd = json_object_get(e, "dtype");
    if (!json_is_string(jd))
        return pf_error(PROFS_EFORMAT, "%s: tensor '%s': dtype is missing or not a string", file, name);
    if (profs_dtype_from_name(&t->dtype, json_string_value(jd)) != PROFS_OK)
        return pf_error(PROFS_EFORMAT, "%s: tensor '%s': unknown dtype '%s'", file, name,
                        json_string_value(jd));
    json_t *js = json_object_get(e, "shape");
    if (!json_is_array(js))
        return pf_error(PROFS_EFORMAT, "%s: tensor '%s': shape is missing or not an array", file, name);
    t->ndim = json_array_size(js);
    t->shape = malloc((t->ndim ? t->ndim : 1) * sizeof *t->shape);
    if (!t->shape) return pf_enomem("tensor shape");
    size_t esize = profs_dtype_size(t->dtype);
    uint64_t numel = 1;
    int overflow = 0;
    for (size_t i = 0; i < t->ndim; i++) {
        json_t *d = json_array_get(js, i);
        if (!json_is_integer(d) || json_integer_value(d) < 0)
            return pf_error(PROFS_EFORMAT, "%s: tensor '%s': shape[%zu] is not a non-negative integer",
                            file, name, i);
        t->shape[i] = (int64_t)json_integer_value(d);
        uint64_t dim = (uint64_t)t->shape[i];
        if (dim != 0 && numel > UINT64_MAX / dim) overflow = 1;
        else numel *= dim;
    }
    char shp[160];
    format_shape(shp, sizeof shp, t->shape, t->ndim);
    /* a zero dimension makes the tensor empty whatever the other sizes are */
    for (size_t i = 0; i < t->ndim; i++)
        if (t->shape[i] == 0) { overflow = 0; numel = 0; }
    if (overflow || numel > UINT64_MAX / esize)
        return pf_error(PROFS_EFORMAT, "%s: tensor '%s': shape %s x %s overflows 64-bit byte sizes",
                        file, name, shp, profs_dtype_name(t->dtype));
    t->numel = numel;
    json_t *jo = json_object_get(e, "data_offsets");
    if (!json_is_array(jo) || json_array_size(jo) != 2 || !json_is_integer(json_array_get(jo, 0)) ||
        !json_is_integer(json_array_get(jo, 1)) || json_integer_value(json_array_get(jo, 0)) < 0 ||
        json_integer_value(json_array_get(jo, 1)) < 0)
        return pf_error(PROFS_EFORMAT,
                        "%s: tensor '%s': data_offsets is missing or not a pair of non-negative integers",
                        file, name);
    t->begin = (uint64_t)json_integer_value(json_array_get(jo, 0));
    t->end = (uint64_t)json_integer_value(json_array_get(jo, 1));
    if (t->end < t->begin)
        return pf_error(PROFS_EFORMAT, "%s: tensor '%s': data_offsets [%" PRIu64 ", %" PRIu64
                        ") end before they begin", file, name, t->begin, t->end);
    if (t->end - t->begin != numel * esize)
        return pf_error(PROFS_EFORMAT, "%s: tensor '%s': data_offsets [%" PRIu64 ", %" PRIu64
                        ") do not match shape %s x %s (%" PRIu64 " bytes)", file, name, t->begin,
                        t->end, shp, profs_dtype_name(t->dtype), numel * esize);
    return PROFS_OK;
}

/* Offsets sorted must tile [0, total) exactly. Sets *total. */
static int check_layout(const pf_st_header *h, const char *file, uint64_t *total)
{
    *total = 0;
    if (h->n_tensors == 0) return PROFS_OK;
    const pf_st_tensor **order = malloc(h->n_tensors * sizeof *order);
    if (!order) return pf_enomem("tensor order");
    for (size_t i = 0; i < h->n_tensors; i++) order[i] = &h->tensors[i];
    qsort(order, h->n_tensors, sizeof *order, cmp_tensor_offset);
    uint64_t pos = 0;
    const pf_st_tensor *prev = NULL;
    int rc = PROFS_OK;
    for (size_t i = 0; i < h->n_tensors && rc == 0; i++) {
        const pf_st_tensor *t = order[i];
        if (t->begin > pos)
            rc = pf_error(PROFS_EFORMAT, "%s: data section has a hole: bytes [%" PRIu64 ", %" PRIu64
                          ") before tensor '%s' belong to no tensor", file, pos, t->begin, t->name);
        else if (t->begin < pos)
            rc = pf_error(PROFS_EFORMAT, "%s: tensor '%s': data_offsets [%" PRIu64 ", %" PRIu64
                          ") overlap tensor '%s'", file, t->name, t->begin, t->end,
                          prev ? prev->name : "?");
        if (t->end > pos) { pos = t->end; prev = t; }
        else if (!prev) prev = t;
    }
    free(order);
    *total = pos;
    return rc;
}

int pf_st_parse(pf_st_header *out, const char *file, const void *data, uint64_t size)
{
    memset(out, 0, sizeof *out);
    const uint8_t *bytes = data;
    if (size < 8)
        return pf_error(PROFS_EFORMAT, "%s: file is %" PRIu64 " bytes, too short for the 8-byte header length",
                        file, size);
    uint64_t n = read_le64(bytes);
    if (n > PF_ST_MAX_HEADER)
        return pf_error(PROFS_EFORMAT, "%s: header length %" PRIu64 " exceeds the limit of %u bytes",
                        file, n, PF_ST_MAX_HEADER);
    if (n > size - 8)
        return pf_error(PROFS_EFORMAT, "%s: header length %" PRIu64 " extends past the end of the file (%"
                        PRIu64 " bytes)", file, n, size);
    json_error_t err;
    json_t *root = json_loadb((const char *)bytes + 8, (size_t)n, JSON_REJECT_DUPLICATES, &err);
    if (!root) {
        enum json_error_code ec = json_error_code(&err);
        const char *what = ec == json_error_duplicate_key ? "header has a duplicate key"
                         : ec == json_error_invalid_utf8 ? "header is not valid UTF-8"
                         : "header is not valid JSON";
        return pf_error(PROFS_EFORMAT, "%s: %s: %s (line %d, column %d)", file, what, err.text,
                        err.line, err.column);
    }
    int rc = PROFS_OK;
    if (!json_is_object(root)) {
        rc = pf_error(PROFS_EFORMAT, "%s: header is not a JSON object", file);
        goto done;
    }
    out->header_len = n;
    size_t cap = json_object_size(root);
    out->tensors = calloc(cap ? cap : 1, sizeof *out->tensors);
    if (!out->tensors) { rc = pf_enomem("tensor table"); goto done; }
    const char *key;
    json_t *val;
    json_object_foreach(root, key, val) {
        if (strcmp(key, "__metadata__") == 0) {
            rc = parse_metadata(out, file, val);
        } else {
            pf_st_tensor *t = &out->tensors[out->n_tensors++];
            t->name = strdup(key);
            rc = t->name ? parse_entry(t, file, key, val) : pf_enomem("tensor name");
        }
        if (rc) goto done;
    }
    uint64_t total;
    rc = check_layout(out, file, &total);
    if (rc) goto done;
    if (total != size - 8 - n) {
        rc = pf_error(PROFS_EFORMAT, "%s: tensors end at data offset %" PRIu64 " (file offset %" PRIu64
                      ") but the file is %" PRIu64 " bytes (%s)", file, total, total + 8 + n, size,
                      total > size - 8 - n ? "file truncated" : "trailing bytes");
        goto done;
    }
    qsort(out->tensors, out->n_tensors, sizeof *out->tensors, cmp_tensor_name);
done:
    json_decref(root);
    if (rc) pf_st_header_free(out);
    return rc;
}

int pf_st_open(pf_st_file *f, const char *path)
{
    memset(f, 0, sizeof *f);
    f->fd = -1;
    f->path = strdup(path);
    if (!f->path) return pf_enomem("path");
    f->fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);   /* a FIFO must not block us */
    int rc;
    if (f->fd < 0) {
        rc = pf_error(PROFS_EIO, "%s: cannot open: %s", path, strerror(errno));
        goto fail;
    }
    struct stat st;
    if (fstat(f->fd, &st) != 0) {
        rc = pf_error(PROFS_EIO, "%s: cannot stat: %s", path, strerror(errno));
        goto fail;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = pf_error(PROFS_EIO, "%s: is %s, not a regular file", path, pf_file_kind((unsigned)st.st_mode));
        goto fail;
    }
    f->size = (uint64_t)st.st_size;
    f->id.dev = (uint64_t)st.st_dev;
    f->id.ino = (uint64_t)st.st_ino;
    if (f->size >= 8) {
        void *m = mmap(NULL, (size_t)f->size, PROT_READ, MAP_SHARED, f->fd, 0);
        if (m == MAP_FAILED) {
            rc = pf_error(PROFS_EIO, "%s: cannot memory-map %" PRIu64 " bytes: %s", path, f->size,
                          strerror(errno));
            goto fail;
        }
        f->map = m;
    }
    static const uint8_t none[1];
    rc = pf_st_parse(&f->h, path, f->map ? (const void *)f->map : (const void *)none, f->size);
    if (rc) goto fail;
    return PROFS_OK;
fail:
    pf_st_close(f);
    return rc;
}

void pf_st_close(pf_st_file *f)
{
    if (!f) return;
    if (f->map) munmap((void *)f->map, (size_t)f->size);
    if (f->fd >= 0) close(f->fd);
    pf_st_header_free(&f->h);
    free(f->path);
    memset(f, 0, sizeof *f);
    f->fd = -1;
}
