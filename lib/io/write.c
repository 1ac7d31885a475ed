/* profs_safetensors_write: a complete safetensors file from memory, written atomically. */
#include <inttypes.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/fsutil.h"
#include "profs/model.h"

static void put_le64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

/* Header JSON (compact, tensors in the given order), padded with spaces to a multiple of 8. */
static int build_header(char **out, size_t *len, const char *path, size_t n, const char *const *names,
                        const int *dtypes, const size_t *ndims, const int64_t *const *shapes,
                        uint64_t *nbytes, size_t n_meta, const char *const *mk, const char *const *mv)
{
    json_t *root = json_object();
    if (!root) return pf_enomem("header");
    int rc = PROFS_OK;
    if (n_meta > 0) {
        json_t *meta = json_object();
        if (!meta || json_object_set_new(root, "__metadata__", meta) != 0) { rc = pf_enomem("header"); goto done; }
        for (size_t i = 0; i < n_meta; i++) {
            if (!mk || !mv || !mk[i] || !mv[i]) {
                rc = pf_error(PROFS_EINVAL, "%s: metadata entry %zu is NULL", path, i);
                goto done;
            }
            if (json_object_get(meta, mk[i])) {
                rc = pf_error(PROFS_EINVAL, "%s: duplicate metadata key '%s'", path, mk[i]);
                goto done;
            }
            json_t *s = json_string(mv[i]);
            if (!s || json_object_set_new(meta, mk[i], s) != 0) {
                rc = pf_error(PROFS_EINVAL, "%s: metadata entry '%s' is not valid UTF-8", path, mk[i]);
                goto done;
            }
        }
    }
    uint64_t off = 0;
    for (size_t i = 0; i < n; i++) {
        const char *name = names[i];
        if (!name) { rc = pf_error(PROFS_EINVAL, "%s: tensor name %zu is NULL", path, i); goto done; }
        if (strcmp(name, "__metadata__") == 0 || json_object_get(root, name)) {
            rc = pf_error(PROFS_EINVAL, "%s: duplicate or reserved tensor name '%s'", path, name);
            goto done;
        }
        size_t es = profs_dtype_size(dtypes[i]);
        if (es == 0) { rc = pf_error(PROFS_EINVAL, "%s: tensor '%s': unknown dtype %d", path, name, dtypes[i]); goto done; }
        if (ndims[i] > 0 && !shapes[i]) { rc = pf_error(PROFS_EINVAL, "%s: tensor '%s': NULL shape", path, name); goto done; }
        json_t *shape = json_array();
        json_t *e = json_object();
        if (!shape || !e) { json_decref(shape); json_decref(e); rc = pf_enomem("header"); goto done; }
        json_object_set_new(e, "dtype", json_string(profs_dtype_name(dtypes[i])));
        json_object_set_new(e, "shape", shape);
        uint64_t numel = 1;
        int zero = 0, overflow = 0;
        for (size_t d = 0; d < ndims[i]; d++) {
            if (shapes[i][d] < 0) {
                json_decref(e);
                rc = pf_error(PROFS_EINVAL, "%s: tensor '%s': negative size %" PRId64 " in dimension %zu",
                              path, name, shapes[i][d], d);
                goto done;
            }
            uint64_t dim = (uint64_t)shapes[i][d];
            if (dim == 0) zero = 1;
            else if (numel > UINT64_MAX / dim) overflow = 1;
            else numel *= dim;
            json_array_append_new(shape, json_integer(shapes[i][d]));
        }
        if (zero) { numel = 0; overflow = 0; }
        if (overflow || numel > (UINT64_MAX - off) / es) {
            json_decref(e);
            rc = pf_error(PROFS_EINVAL, "%s: tensor '%s': size overflows 64 bits", path, name);
            goto done;
        }
        nbytes[i] = numel * es;
        json_t *offs = json_array();
        json_array_append_new(offs, json_integer((json_int_t)off));
        json_array_append_new(offs, json_integer((json_int_t)(off + nbytes[i])));
        json_object_set_new(e, "data_offsets", offs);
        off += nbytes[i];
        if (json_object_set_new(root, name, e) != 0) {
            rc = pf_error(PROFS_EINVAL, "%s: tensor name '%s' is not valid UTF-8", path, name);
            goto done;
        }
    }
    char *text = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (!text) { rc = pf_enomem("header text"); goto done; }
    size_t tl = strlen(text), padded = (tl + 7) / 8 * 8;
    *out = malloc(8 + padded);
    if (!*out) { free(text); rc = pf_enomem("header text"); goto done; }
    put_le64((uint8_t *)*out, padded);
    memcpy(*out + 8, text, tl);
    memset(*out + 8 + tl, ' ', padded - tl);
    *len = 8 + padded;
    free(text);
done:
    json_decref(root);
    return rc;
}

int profs_safetensors_write(const char *path, size_t n_tensors, const char *const *names,
                            const int *dtypes, const size_t *ndims, const int64_t *const *shapes,
                            const void *const *data, size_t n_meta, const char *const *meta_keys,
                            const char *const *meta_values)
{
    if (!path) return pf_error(PROFS_EINVAL, "profs_safetensors_write: NULL path");
    if (n_tensors > 0 && (!names || !dtypes || !ndims || !shapes || !data))
        return pf_error(PROFS_EINVAL, "%s: NULL tensor arrays", path);
    uint64_t *nbytes = calloc(n_tensors ? n_tensors : 1, sizeof *nbytes);
    if (!nbytes) return pf_enomem("tensor sizes");
    char *hdr = NULL;
    size_t hlen = 0;
    int rc = build_header(&hdr, &hlen, path, n_tensors, names, dtypes, ndims, shapes, nbytes, n_meta,
                          meta_keys, meta_values);
    for (size_t i = 0; rc == 0 && i < n_tensors; i++)
        if (nbytes[i] > 0 && !data[i])
            rc = pf_error(PROFS_EINVAL, "%s: tensor '%s': NULL data", path, names[i]);
    pf_atomic a = { 0 };
    a.fd = -1;
    if (rc == 0) rc = pf_atomic_begin(&a, path);
    if (rc == 0) rc = pf_atomic_write(&a, hdr, hlen);
    for (size_t i = 0; rc == 0 && i < n_tensors; i++)
        if (nbytes[i] > 0) rc = pf_atomic_write(&a, data[i], (size_t)nbytes[i]);
    if (rc == 0) rc = pf_atomic_commit(&a);
    pf_atomic_abort(&a);
    free(hdr);
    free(nbytes);
    return rc;
}
