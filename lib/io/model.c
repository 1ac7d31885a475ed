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
#define BIN_INDEX_NAME "pytorch_model.bin.index.json"
#define BIN_SINGLE_NAME "pytorch_model.bin"
#define CONFIG_NAME "config.json"

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

/* Open one weight file as safetensors, or as a PyTorch checkpoint when m->from_bin. */
static int open_file(profs_model *m, size_t i, const char *path)
{
    if (!m->from_bin) return pf_st_open(&m->files[i], path);
    return pf_tb_open(&m->files[i], &m->bins[i], path);
}

/* Sharded directory: read the index (`index_name`), open every shard, cross-check both ways. */
static int open_sharded(profs_model *m, const char *index_name)
{
    char *ipath = pf_path_join(m->dir, index_name);
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
    m->bins = calloc(nshards ? nshards : 1, sizeof *m->bins);
    if (!m->files || !m->bins) { rc = pf_enomem("shard table"); goto done; }
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
        rc = open_file(m, i, sp);
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
                              m->files[i].path, name, index_name);
                goto done;
            }
            if (strcmp(json_string_value(v), shards[i]) != 0) {
                rc = pf_error(PROFS_EFORMAT, "%s: tensor '%s' is also in shard '%s', where the weight_map of %s maps it",
                              m->files[i].path, name, json_string_value(v), index_name);
                goto done;
            }
        }
    m->index_name = strdup(index_name);
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
    m->bins = calloc(1, sizeof *m->bins);
    if (!m->files || !m->bins) return pf_enomem("file table");
    int rc = open_file(m, 0, file);
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
    m->max_shard_size = PF_DEFAULT_MAX_SHARD_SIZE;
    if (!m->path) { rc = pf_enomem("path"); goto fail; }
    if (S_ISDIR(st.st_mode)) {
        m->is_dir = 1;
        m->dir = strdup(path);
        /* transformers' order: safetensors (single, then sharded) win over PyTorch checkpoints */
        char *single = pf_path_join(path, SINGLE_NAME), *index = pf_path_join(path, INDEX_NAME);
        char *bsingle = pf_path_join(path, BIN_SINGLE_NAME), *bindex = pf_path_join(path, BIN_INDEX_NAME);
        if (!m->dir || !single || !index || !bsingle || !bindex) rc = pf_enomem("path");
        else if (file_exists(single)) rc = open_single(m, single);
        else if (file_exists(index)) rc = open_sharded(m, INDEX_NAME);
        else if (file_exists(bsingle)) { m->from_bin = 1; rc = open_single(m, bsingle); }
        else if (file_exists(bindex)) { m->from_bin = 1; rc = open_sharded(m, BIN_INDEX_NAME); }
        else if (stat(single, &st) == 0)
            rc = pf_error(PROFS_EFORMAT, "%s: is %s, not a safetensors file", single, pf_file_kind((unsigned)st.st_mode));
        else if (stat(index, &st) == 0)
            rc = pf_error(PROFS_EFORMAT, "%s: is %s, not a JSON file", index, pf_file_kind((unsigned)st.st_mode));
        else rc = pf_error(PROFS_ENOTFOUND, "%s: directory holds none of %s, %s, %s, %s", path, SINGLE_NAME,
                           INDEX_NAME, BIN_SINGLE_NAME, BIN_INDEX_NAME);
        free(single);
        free(index);
        free(bsingle);
        free(bindex);
        if (rc == 0) rc = pf_model_config_load(m);
    } else {
        /* a single file: safetensors, unless it is a zip or a legacy torch pickle */
        m->from_bin = pf_tb_sniff(path) != 0;
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

static void free_bin_tensors(pf_tb_file *tb, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(tb->t[i].stride);
        free(tb->t[i].cache);
    }
    free(tb->t);
    tb->t = NULL;
}

void pf_model_set_max_shard_size(profs_model *m, uint64_t bytes)
{
    if (m) m->max_shard_size = bytes ? bytes : PF_DEFAULT_MAX_SHARD_SIZE;
}

size_t pf_model_file_index(const profs_model *m, const pf_model_tensor *mt)
{
    return (size_t)(mt->t - m->files[mt->file].h.tensors);
}

int pf_model_bytes(const uint8_t **out, const profs_model *m, const pf_model_tensor *mt)
{
    const pf_st_file *f = &m->files[mt->file];
    if (m->bins && m->bins[mt->file]) return pf_tb_data(out, m->bins[mt->file], f, pf_model_file_index(m, mt));
    *out = pf_st_data(f, mt->t);
    return PROFS_OK;
}

void profs_model_free(profs_model *m)
{
    if (!m) return;
    if (m->stages) pf_model_stages_free(m);
    free(m->stages);
    free(m->tensors);
    for (size_t i = 0; i < m->n_files; i++) {
        if (m->bins && m->bins[i]) {
            free_bin_tensors(m->bins[i], m->files[i].h.n_tensors);
            pf_tb_close(m->bins[i]);
        }
        pf_st_close(&m->files[i]);
    }
    free(m->bins);
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
    const uint8_t *src = NULL;
    if ((rc = pf_model_bytes(&src, m, mt))) return rc;
    pf_convert_to_f32(dst, src, mt->t->dtype, count);
    return PROFS_OK;
}

int profs_model_tensor_data(const profs_model *m, const char *name, const void **data, uint64_t *nbytes)
{
    const pf_model_tensor *mt = NULL;
    int rc = lookup(m, name, &mt);
    if (rc) return rc;
    if (data) {
        const uint8_t *p = NULL;
        if ((rc = pf_model_bytes(&p, m, mt))) return rc;
        *data = p;
    }
    if (nbytes) *nbytes = mt->t->end - mt->t->begin;
    return PROFS_OK;
}

static int release_range(const pf_st_file *f, const char *name, uint64_t begin, uint64_t end);

int profs_model_release(const profs_model *m, const char *name)
{
    const pf_model_tensor *mt = NULL;
    int rc = lookup(m, name, &mt);
    if (rc) return rc;
    const pf_st_file *f = &m->files[mt->file];
    if (m->bins && m->bins[mt->file]) {
        pf_tb_file *tb = m->bins[mt->file];
        size_t i = pf_model_file_index(m, mt);
        pf_tb_release(tb, i);
        if (!(tb->t[i].entry->method == 0 && tb->t[i].contiguous)) return PROFS_OK;
        uint64_t b0 = tb->t[i].entry->data_off + tb->t[i].offset;
        return release_range(f, name, b0, b0 + (mt->t->end - mt->t->begin));
    }
    return release_range(f, name, 8 + f->h.header_len + mt->t->begin, 8 + f->h.header_len + mt->t->end);
}

/* madvise(DONTNEED) the whole pages of [begin, end) of a mapped file. */
static int release_range(const pf_st_file *f, const char *name, uint64_t begin, uint64_t end)
{
    uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
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
