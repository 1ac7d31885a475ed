/* profs_model: opening a safetensors file or Hugging Face model directory,
 * and the read-only queries. */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/dtype.h"
#include "core/error.h"
#include "core/fsutil.h"
#include "io/model_impl.h"
#include "io/safetensors.h"

#define INDEX_NAME "model.safetensors.index.json"
#define SINGLE_NAME "model.safetensors"
#define CONFIG_NAME "config.json"

int pf_model_config_load(profs_model *m);   /* config.c */
void pf_model_stages_free(profs_model *m);  /* save.c */

static int cmp_model_tensor(const void *a, const void *b)
{
    return strcmp(((const pf_model_tensor *)a)->name, ((const pf_model_tensor *)b)->name);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

long pf_model_find(const profs_model *m, const char *name)
{
    if (!m || !name) return -1;
    size_t lo = 0, hi = m->n_tensors;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(m->tensors[mid].name, name);
        if (c == 0) return (long)mid;
        if (c < 0) lo = mid + 1; else hi = mid;
    }
    return -1;
}

static int file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* Tensor table over all files, sorted by name. */
static int build_tensor_table(profs_model *m)
{
    size_t n = 0;
    for (size_t i = 0; i < m->n_files; i++) n += m->files[i].h.n_tensors;
    m->tensors = calloc(n ? n : 1, sizeof *m->tensors);
    m->stages = calloc(n ? n : 1, sizeof *m->stages);
    if (!m->tensors || !m->stages) return pf_enomem("tensor table");
    for (size_t i = 0; i < m->n_files; i++)
        for (size_t j = 0; j < m->files[i].h.n_tensors; j++) {
            const pf_st_tensor *t = &m->files[i].h.tensors[j];
            m->tensors[m->n_tensors++] = (pf_model_tensor){ .name = t->name, .file = i, .t = t };
        }
    qsort(m->tensors, m->n_tensors, sizeof *m->tensors, cmp_model_tensor);
    for (size_t i = 1; i < m->n_tensors; i++)
        if (strcmp(m->tensors[i - 1].name, m->tensors[i].name) == 0)
            return pf_error(PROFS_EFORMAT, "%s: tensor '%s' appears in both %s and %s", m->path,
                            m->tensors[i].name, m->files[m->tensors[i - 1].file].path,
                            m->files[m->tensors[i].file].path);
    return PROFS_OK;
}

static int valid_shard_name(const char *s)
{
    return *s && strchr(s, '/') == NULL && strcmp(s, ".") != 0 && strcmp(s, "..") != 0;
}

/* Sharded directory: read the index, open every shard, cross-check both ways. */
static int open_sharded(profs_model *m)
{
    char *ipath = pf_path_join(m->dir, INDEX_NAME);
    if (!ipath) return pf_enomem("path");
    json_error_t err;
    json_t *idx = json_load_file(ipath, JSON_REJECT_DUPLICATES, &err);
    const char **shards = NULL;
    int rc = PROFS_OK;
    if (!idx) {
        rc = json_error_code(&err) == json_error_cannot_open_file
           ? pf_error(PROFS_EIO, "%s: cannot read: %s", ipath, err.text)
           : pf_error(PROFS_EFORMAT, "%s: invalid JSON: %s (line %d, column %d)", ipath, err.text,
                      err.line, err.column);
        goto done;
    }
    json_t *wm = json_object_get(idx, "weight_map");
    if (!json_is_object(idx) || !json_is_object(wm)) {
        rc = pf_error(PROFS_EFORMAT, "%s: no \"weight_map\" object", ipath);
        goto done;
    }
    size_t nmap = json_object_size(wm), nshards = 0;
    shards = calloc(nmap ? nmap : 1, sizeof *shards);
    if (!shards) { rc = pf_enomem("shard list"); goto done; }
    const char *key;
    json_t *val;
    json_object_foreach(wm, key, val) {
        if (!json_is_string(val) || !valid_shard_name(json_string_value(val))) {
            rc = pf_error(PROFS_EFORMAT, "%s: weight_map entry '%s' is not a file name in this directory",
                          ipath, key);
            goto done;
        }
        shards[nshards++] = json_string_value(val);
    }
    qsort(shards, nshards, sizeof *shards, cmp_str);
    size_t u = 0;
    for (size_t i = 0; i < nshards; i++)
        if (u == 0 || strcmp(shards[u - 1], shards[i]) != 0) shards[u++] = shards[i];
    nshards = u;
    m->files = calloc(nshards ? nshards : 1, sizeof *m->files);
    if (!m->files) { rc = pf_enomem("shard table"); goto done; }
    for (size_t i = 0; i < nshards; i++) {
        char *sp = pf_path_join(m->dir, shards[i]);
        if (!sp) { rc = pf_enomem("path"); goto done; }
        struct stat sst;
        if (stat(sp, &sst) != 0 || !S_ISREG(sst.st_mode)) {
            int missing = stat(sp, &sst) != 0;
            if (missing && errno == ENOENT)
                rc = pf_error(PROFS_EFORMAT, "%s: weight_map names shard '%s', which does not exist", ipath, shards[i]);
            else if (missing)
                rc = pf_error(PROFS_EIO, "%s: weight_map names shard '%s', which cannot be read: %s", ipath, shards[i],
                              strerror(errno));
            else
                rc = pf_error(PROFS_EFORMAT, "%s: weight_map names shard '%s', which is %s, not a safetensors file",
                              ipath, shards[i], pf_file_kind((unsigned)sst.st_mode));
            free(sp);
            goto done;
        }
        rc = pf_st_open(&m->files[i], sp);
        free(sp);
        if (rc) goto done;
        m->n_files++;
    }
    /* every weight_map entry is in its shard */
    json_object_foreach(wm, key, val) {
        const char *sh = json_string_value(val);
        const char **hit = bsearch(&sh, shards, nshards, sizeof *shards, cmp_str);
        const pf_st_file *f = &m->files[hit - shards];
        if (pf_st_find(&f->h, key) < 0) {
            rc = pf_error(PROFS_EFORMAT, "%s: weight_map maps tensor '%s' to shard '%s', which does not contain it",
                          ipath, key, sh);
            goto done;
        }
    }
    /* every shard tensor is in the weight_map, pointing at that shard */
    for (size_t i = 0; i < m->n_files; i++)
        for (size_t j = 0; j < m->files[i].h.n_tensors; j++) {
            const char *name = m->files[i].h.tensors[j].name;
            json_t *v = json_object_get(wm, name);
            if (!v) {
                rc = pf_error(PROFS_EFORMAT, "%s: tensor '%s' is not in the weight_map of %s",
                              m->files[i].path, name, INDEX_NAME);
                goto done;
            }
            if (strcmp(json_string_value(v), shards[i]) != 0) {
                rc = pf_error(PROFS_EFORMAT, "%s: tensor '%s' is also in shard '%s', where the weight_map of %s maps it",
                              m->files[i].path, name, json_string_value(v), INDEX_NAME);
                goto done;
            }
        }
    m->index_name = strdup(INDEX_NAME);
    if (!m->index_name) rc = pf_enomem("path");
done:
    free(shards);
    json_decref(idx);
    free(ipath);
    return rc;
}

static int open_single(profs_model *m, const char *file)
{
    m->files = calloc(1, sizeof *m->files);
    if (!m->files) return pf_enomem("file table");
    int rc = pf_st_open(&m->files[0], file);
    if (rc == 0) m->n_files = 1;
    return rc;
}

int profs_model_open(profs_model **out, const char *path)
{
    if (!out || !path) return pf_error(PROFS_EINVAL, "profs_model_open: NULL argument");
    struct stat st;
    if (stat(path, &st) != 0)
        return pf_error(PROFS_EIO, "%s: cannot open: %s", path, strerror(errno));
    profs_model *m = calloc(1, sizeof *m);
    if (!m) return pf_enomem("model");
    int rc = PROFS_OK;
    m->path = strdup(path);
    if (!m->path) { rc = pf_enomem("path"); goto fail; }
    if (S_ISDIR(st.st_mode)) {
        m->is_dir = 1;
        m->dir = strdup(path);
        char *single = pf_path_join(path, SINGLE_NAME), *index = pf_path_join(path, INDEX_NAME);
        if (!m->dir || !single || !index) rc = pf_enomem("path");
        else if (file_exists(single)) rc = open_single(m, single);
        else if (file_exists(index)) rc = open_sharded(m);
        else if (stat(single, &st) == 0)
            rc = pf_error(PROFS_EFORMAT, "%s: is %s, not a safetensors file", single, pf_file_kind((unsigned)st.st_mode));
        else if (stat(index, &st) == 0)
            rc = pf_error(PROFS_EFORMAT, "%s: is %s, not a JSON file", index, pf_file_kind((unsigned)st.st_mode));
        else rc = pf_error(PROFS_ENOTFOUND, "%s: directory holds neither %s nor %s", path, SINGLE_NAME,
                           INDEX_NAME);
        free(single);
        free(index);
        if (rc == 0) rc = pf_model_config_load(m);
    } else {
        rc = open_single(m, path);
    }
    if (rc == 0) rc = build_tensor_table(m);
    if (rc) goto fail;
    *out = m;
    return PROFS_OK;
fail:
    profs_model_free(m);
    return rc;
}

void profs_model_free(profs_model *m)
{
    if (!m) return;
    if (m->stages) pf_model_stages_free(m);
    free(m->stages);
    free(m->tensors);
    for (size_t i = 0; i < m->n_files; i++) pf_st_close(&m->files[i]);
    free(m->files);
    json_decref(m->config);
    free(m->index_name);
    free(m->dir);
    free(m->path);
    free(m);
}

const char *profs_model_path(const profs_model *m) { return m ? m->path : NULL; }

size_t profs_model_tensor_count(const profs_model *m) { return m ? m->n_tensors : 0; }

const char *profs_model_tensor_name(const profs_model *m, size_t index)
{
    return (m && index < m->n_tensors) ? m->tensors[index].name : NULL;
}

int profs_model_has_tensor(const profs_model *m, const char *name)
{
    return pf_model_find(m, name) >= 0;
}

static int lookup(const profs_model *m, const char *name, const pf_model_tensor **mt)
{
    if (!m || !name) return pf_error(PROFS_EINVAL, "NULL model or tensor name");
    long i = pf_model_find(m, name);
    if (i < 0) return pf_error(PROFS_ENOTFOUND, "%s: no tensor '%s'", m->path, name);
    *mt = &m->tensors[i];
    return PROFS_OK;
}

int profs_model_tensor_info(const profs_model *m, const char *name, int *dtype, size_t *ndim,
                            const int64_t **shape)
{
    const pf_model_tensor *mt = NULL;
    int rc = lookup(m, name, &mt);
    if (rc) return rc;
    if (dtype) *dtype = mt->t->dtype;
    if (ndim) *ndim = mt->t->ndim;
    if (shape) *shape = mt->t->shape;
    return PROFS_OK;
}

int profs_model_tensor_size(const profs_model *m, const char *name, uint64_t *numel, uint64_t *nbytes)
{
    const pf_model_tensor *mt = NULL;
    int rc = lookup(m, name, &mt);
    if (rc) return rc;
    if (numel) *numel = mt->t->numel;
    if (nbytes) *nbytes = mt->t->end - mt->t->begin;
    return PROFS_OK;
}

int profs_model_read_f32(const profs_model *m, const char *name, float *dst, size_t count)
{
    const pf_model_tensor *mt = NULL;
    int rc = lookup(m, name, &mt);
    if (rc) return rc;
    if (!pf_dtype_is_float(mt->t->dtype))
        return pf_error(PROFS_EUNSUPPORTED, "%s: tensor '%s': dtype %s cannot be read as f32",
                        m->files[mt->file].path, name, profs_dtype_name(mt->t->dtype));
    if ((uint64_t)count != mt->t->numel)
        return pf_error(PROFS_ESHAPE, "%s: tensor '%s' has %" PRIu64 " elements, buffer holds %zu",
                        m->files[mt->file].path, name, mt->t->numel, count);
    if (count == 0) return PROFS_OK;
    if (!dst) return pf_error(PROFS_EINVAL, "profs_model_read_f32: NULL destination");
    pf_convert_to_f32(dst, pf_st_data(&m->files[mt->file], mt->t), mt->t->dtype, count);
    return PROFS_OK;
}

int profs_model_tensor_data(const profs_model *m, const char *name, const void **data, uint64_t *nbytes)
{
    const pf_model_tensor *mt = NULL;
    int rc = lookup(m, name, &mt);
    if (rc) return rc;
    if (data) *data = pf_st_data(&m->files[mt->file], mt->t);
    if (nbytes) *nbytes = mt->t->end - mt->t->begin;
    return PROFS_OK;
}

int profs_model_release(const profs_model *m, const char *name)
{
    const pf_model_tensor *mt = NULL;
    int rc = lookup(m, name, &mt);
    if (rc) return rc;
    const pf_st_file *f = &m->files[mt->file];
    uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
    uint64_t begin = 8 + f->h.header_len + mt->t->begin, end = 8 + f->h.header_len + mt->t->end;
    begin -= begin % page;
    end = end + (page - end % page) % page;
    if (end > f->size) end = f->size;
    if (end <= begin || !f->map) return PROFS_OK;
    if (madvise((void *)(f->map + begin), (size_t)(end - begin), MADV_DONTNEED) != 0)
        return pf_error(PROFS_EIO, "%s: tensor '%s': madvise failed: %s", f->path, name, strerror(errno));
    return PROFS_OK;
}

size_t profs_model_metadata_count(const profs_model *m)
{
    return (m && m->n_files) ? m->files[0].h.n_meta : 0;
}

const char *profs_model_metadata_key(const profs_model *m, size_t index)
{
    if (!m || !m->n_files || index >= m->files[0].h.n_meta) return NULL;
    return m->files[0].h.meta_keys[index];
}

const char *profs_model_metadata(const profs_model *m, const char *key)
{
    if (!m || !key || !m->n_files) return NULL;
    const pf_st_header *h = &m->files[0].h;
    for (size_t i = 0; i < h->n_meta; i++)
        if (strcmp(h->meta_keys[i], key) == 0) return h->meta_values[i];
    return NULL;
}
