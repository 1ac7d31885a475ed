/* PyTorch zip checkpoints as tensor sources (format and rules: torchbin.h). */
#include "io/torchbin.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"
#include "io/pickle.h"
#include "profs/common.h"

#define MAX_PICKLE ((uint64_t)1 << 30)

int pf_tb_sniff(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) return 0;
    /* the legacy format opens with a protocol-2 pickle of torch's magic number 0x1950a86a20f9469cfc6c */
    static const uint8_t legacy[14] = {0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19};
    uint8_t b[14] = {0};
    ssize_t n = read(fd, b, sizeof b);
    close(fd);
    if (n >= 4 && b[0] == 'P' && b[1] == 'K' && b[2] == 3 && b[3] == 4) return 1;
    if (n == 14 && memcmp(b, legacy, sizeof legacy) == 0) return 2;
    return 0;
}

void pf_tb_close(pf_tb_file *tb)
{
    if (!tb) return;
    pf_zip_free(tb->entries, tb->n_entries);
    free(tb->pickle_order);
    free(tb);
}

static void free_tensors(pf_tb_tensor *t, size_t n)
{
    for (size_t i = 0; t && i < n; i++) {
        free(t[i].stride);
        free(t[i].cache);
    }
    free(t);
}

static void tb_free_all(pf_tb_file *tb, size_t n)
{
    if (!tb) return;
    free_tensors(tb->t, n);
    tb->t = NULL;
    pf_tb_close(tb);
}

/* The single <prefix>/data.pkl; sets *prefix_len (without the slash). */
static const pf_zip_entry *find_pickle(const pf_tb_file *tb, const char *path, size_t *prefix_len, int *rc)
{
    const pf_zip_entry *hit = NULL;
    for (size_t i = 0; i < tb->n_entries; i++) {
        const char *n = tb->entries[i].name, *s = strchr(n, '/');
        if (!s || s == n || strcmp(s + 1, "data.pkl") != 0) continue;
        if (hit) {
            *rc = pf_error(PROFS_EFORMAT, "%s: the archive holds two pickles ('%s' and '%s')", path, hit->name, n);
            return NULL;
        }
        hit = &tb->entries[i];
        *prefix_len = (size_t)(s - n);
    }
    if (!hit) *rc = pf_error(PROFS_EFORMAT, "%s: a zip archive, but not a PyTorch checkpoint (no <name>/data.pkl entry)", path);
    return hit;
}

static const pf_zip_entry *prefixed(const pf_tb_file *tb, const char *prefix, size_t plen, const char *rest)
{
    char name[1100];
    if (snprintf(name, sizeof name, "%.*s/%s", (int)plen, prefix, rest) >= (int)sizeof name) return NULL;
    return pf_zip_find(tb->entries, tb->n_entries, name);
}

static int check_byteorder(const pf_tb_file *tb, const pf_st_file *f, const char *prefix, size_t plen)
{
    const pf_zip_entry *e = prefixed(tb, prefix, plen, "byteorder");
    if (!e) return PROFS_OK;
    char buf[16] = {0};
    if (e->size >= sizeof buf) return pf_error(PROFS_EFORMAT, "%s: byteorder entry of %" PRIu64 " bytes", f->path, e->size);
    int rc = pf_zip_extract(buf, f->map, e, f->path);
    if (rc) return rc;
    if (strcmp(buf, "little") != 0)
        return pf_error(PROFS_EUNSUPPORTED, "%s: checkpoint byte order is '%s'; only little-endian checkpoints are read",
                        f->path, buf);
    return PROFS_OK;
}

/* Validate tensor p against its storage entry; fill t. */
static int check_tensor(pf_tb_tensor *t, const pf_pkl_tensor *p, const pf_zip_entry *e, const char *path, uint64_t *nbytes)
{
    size_t es = profs_dtype_size(p->dtype);
    uint64_t numel = 1, extent = 1, off;
    int zero = 0;
    for (size_t d = 0; d < p->ndim; d++) {
        if (p->shape[d] == 0) zero = 1;
        if (__builtin_mul_overflow(numel, (uint64_t)p->shape[d], &numel))
            return pf_error(PROFS_EFORMAT, "%s: tensor '%s': shape overflows 64 bits", path, p->name);
    }
    if (zero) { numel = 0; extent = 0; }
    else
        for (size_t d = 0; d < p->ndim; d++) {
            uint64_t span;
            if (__builtin_mul_overflow((uint64_t)(p->shape[d] - 1), (uint64_t)p->stride[d], &span) ||
                __builtin_add_overflow(extent, span, &extent))
                return pf_error(PROFS_EFORMAT, "%s: tensor '%s': strided extent overflows 64 bits", path, p->name);
        }
    uint64_t end, storage_bytes, nb;
    if (__builtin_add_overflow(p->offset, extent, &end) || __builtin_mul_overflow(end, (uint64_t)es, &end) ||
        __builtin_mul_overflow(p->storage_numel, (uint64_t)es, &storage_bytes) ||
        __builtin_mul_overflow(numel, (uint64_t)es, &nb) || __builtin_mul_overflow(p->offset, (uint64_t)es, &off))
        return pf_error(PROFS_EFORMAT, "%s: tensor '%s': storage offset and extent overflow 64 bits", path, p->name);
    if (e->size < storage_bytes)
        return pf_error(PROFS_EFORMAT, "%s: tensor '%s': storage '%s' holds %" PRIu64 " bytes, fewer than the %" PRIu64
                        " elements x %s (%" PRIu64 " bytes) it declares", path, p->name, p->storage_key, e->size,
                        p->storage_numel, profs_dtype_name(p->dtype), storage_bytes);
    if (end > storage_bytes)
        return pf_error(PROFS_EFORMAT, "%s: tensor '%s': offset %" PRIu64 " + strided extent %" PRIu64 " elements of %s "
                        "exceed its storage '%s' of %" PRIu64 " elements", path, p->name, p->offset, extent,
                        profs_dtype_name(p->dtype), p->storage_key, p->storage_numel);
    t->entry = e;
    t->offset = off;
    t->stride = malloc((p->ndim ? p->ndim : 1) * sizeof *t->stride);
    if (!t->stride) return pf_enomem("tensor strides");
    memcpy(t->stride, p->stride, p->ndim * sizeof *t->stride);
    t->contiguous = 1;
    int64_t expect = 1;
    for (size_t d = p->ndim; d-- > 0;) {
        if (p->shape[d] == 1) continue;
        if (p->stride[d] != expect) t->contiguous = 0;
        expect *= p->shape[d];
    }
    if (numel == 0) t->contiguous = 1;
    *nbytes = nb;
    return PROFS_OK;
}


typedef struct { const char *name; size_t i; } name_idx;

static int cmp_name_idx(const void *a, const void *b)
{
    return strcmp(((const name_idx *)a)->name, ((const name_idx *)b)->name);
}

static int build(pf_st_file *f, pf_tb_file *tb, const pf_pkl_dict *d, const char *prefix, size_t plen)
{
    size_t n = d->n;
    name_idx *ord = malloc((n ? n : 1) * sizeof *ord);
    f->h.tensors = calloc(n ? n : 1, sizeof *f->h.tensors);
    tb->t = calloc(n ? n : 1, sizeof *tb->t);
    tb->pickle_order = malloc((n ? n : 1) * sizeof *tb->pickle_order);
    if (!ord || !f->h.tensors || !tb->t || !tb->pickle_order) { free(ord); return pf_enomem("tensor table"); }
    for (size_t i = 0; i < n; i++) ord[i] = (name_idx){ d->t[i].name, i };
    qsort(ord, n, sizeof *ord, cmp_name_idx);
    int rc = PROFS_OK;
    uint64_t pos = 0, *begin = calloc(n ? n : 1, sizeof *begin);
    if (!begin) { free(ord); return pf_enomem("tensor table"); }
    for (size_t i = 0, acc = 0; i < n; i++) {   /* contiguous layout in pickle order */
        size_t es = profs_dtype_size(d->t[i].dtype);
        uint64_t ne = 1;
        for (size_t k = 0; k < d->t[i].ndim; k++) ne *= (uint64_t)d->t[i].shape[k];   /* checked below */
        begin[i] = pos;
        pos += ne * es;
        (void)acc;
    }
    for (size_t k = 0; k < n && rc == 0; k++) {
        const pf_pkl_tensor *p = &d->t[ord[k].i];
        tb->pickle_order[ord[k].i] = k;
        if (k && strcmp(ord[k - 1].name, p->name) == 0) {
            rc = pf_error(PROFS_EFORMAT, "%s: tensor '%s' appears twice", f->path, p->name);
            break;
        }
        char key[1024];
        snprintf(key, sizeof key, "data/%s", p->storage_key);
        const pf_zip_entry *e = prefixed(tb, prefix, plen, key);
        if (!e) {
            rc = pf_error(PROFS_EFORMAT, "%s: tensor '%s': its storage entry '%.*s/data/%s' is missing", f->path, p->name,
                          (int)plen, prefix, p->storage_key);
            break;
        }
        uint64_t nb = 0;
        if ((rc = check_tensor(&tb->t[k], p, e, f->path, &nb))) break;
        pf_st_tensor *t = &f->h.tensors[k];
        f->h.n_tensors = k + 1;
        t->name = strdup(p->name);
        t->shape = malloc((p->ndim ? p->ndim : 1) * sizeof *t->shape);
        if (!t->name || !t->shape) { rc = pf_enomem("tensor table"); break; }
        memcpy(t->shape, p->shape, p->ndim * sizeof *t->shape);
        t->ndim = p->ndim;
        t->dtype = p->dtype;
        t->numel = nb / profs_dtype_size(p->dtype);
        t->begin = begin[ord[k].i];
        t->end = t->begin + nb;
    }
    free(begin);
    free(ord);
    return rc;
}

int pf_tb_open(pf_st_file *f, pf_tb_file **out, const char *path)
{
    memset(f, 0, sizeof *f);
    *out = NULL;
    f->fd = -1;
    f->path = strdup(path);
    pf_tb_file *tb = calloc(1, sizeof *tb);
    pf_pkl_dict dict = {0};
    uint8_t *pkl = NULL;
    int rc = PROFS_OK;
    if (!f->path || !tb) { rc = pf_enomem("checkpoint"); goto fail; }
    f->fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    struct stat st;
    if (f->fd < 0) { rc = pf_error(PROFS_EIO, "%s: cannot open: %s", path, strerror(errno)); goto fail; }
    if (fstat(f->fd, &st) != 0 || !S_ISREG(st.st_mode)) { rc = pf_error(PROFS_EIO, "%s: not a regular file", path); goto fail; }
    f->size = (uint64_t)st.st_size;
    f->id.dev = (uint64_t)st.st_dev;
    f->id.ino = (uint64_t)st.st_ino;
    if (f->size < 4) { rc = pf_error(PROFS_EFORMAT, "%s: %" PRIu64 " bytes, too short for a PyTorch checkpoint", path, f->size); goto fail; }
    void *m = mmap(NULL, (size_t)f->size, PROT_READ, MAP_SHARED, f->fd, 0);
    if (m == MAP_FAILED) { rc = pf_error(PROFS_EIO, "%s: cannot memory-map: %s", path, strerror(errno)); goto fail; }
    f->map = m;
    if (!(f->map[0] == 'P' && f->map[1] == 'K' && f->map[2] == 3 && f->map[3] == 4)) {
        rc = f->map[0] == 0x80
           ? pf_error(PROFS_EUNSUPPORTED, "%s: a PyTorch checkpoint in the legacy format of torch < 1.6 (a bare pickle "
                      "stream, not a zip archive); it is not read: re-save it with torch.save in torch >= 1.6, or "
                      "convert it to safetensors", path)
           : pf_error(PROFS_EFORMAT, "%s: not a PyTorch checkpoint (no zip signature)", path);
        goto fail;
    }
    if ((rc = pf_zip_list(&tb->entries, &tb->n_entries, path, f->size))) goto fail;
    size_t plen = 0;
    const pf_zip_entry *pe = find_pickle(tb, path, &plen, &rc);
    if (!pe) goto fail;
    char prefix[1024];
    snprintf(prefix, sizeof prefix, "%.*s", (int)plen, pe->name);
    if ((rc = check_byteorder(tb, f, prefix, plen))) goto fail;
    if (pe->size > MAX_PICKLE) {
        rc = pf_error(PROFS_EFORMAT, "%s: data.pkl of %" PRIu64 " bytes exceeds the limit", path, pe->size);
        goto fail;
    }
    pkl = malloc(pe->size ? (size_t)pe->size : 1);
    if (!pkl) { rc = pf_enomem("data.pkl"); goto fail; }
    if ((rc = pf_zip_extract(pkl, f->map, pe, path))) goto fail;
    char what[1200];
    snprintf(what, sizeof what, "%s: %s", path, pe->name);
    if ((rc = pf_pkl_parse(&dict, what, pkl, (size_t)pe->size))) goto fail;
    if ((rc = build(f, tb, &dict, prefix, plen))) goto fail;
    pf_pkl_dict_free(&dict);
    free(pkl);
    *out = tb;
    return PROFS_OK;
fail:
    tb_free_all(tb, f->h.n_tensors > dict.n ? f->h.n_tensors : dict.n);
    pf_pkl_dict_free(&dict);
    free(pkl);
    pf_st_close(f);
    return rc;
}

/* Copy a strided view (shape, stride in elements) from src to contiguous dst. */
static void gather(uint8_t *dst, const uint8_t *src, size_t es, size_t ndim, const int64_t *shape, const int64_t *stride)
{
    if (ndim == 0) { memcpy(dst, src, es); return; }
    size_t idx[64] = {0};
    uint64_t inner = (uint64_t)shape[ndim - 1];
    for (;;) {
        uint64_t off = 0;
        for (size_t d = 0; d + 1 < ndim; d++) off += idx[d] * (uint64_t)stride[d];
        const uint8_t *s = src + off * es;
        if (stride[ndim - 1] == 1) { memcpy(dst, s, (size_t)(inner * es)); dst += inner * es; }
        else
            for (uint64_t k = 0; k < inner; k++, dst += es) memcpy(dst, s + k * (uint64_t)stride[ndim - 1] * es, es);
        size_t d = ndim - 1;
        while (d-- > 0) {
            if (++idx[d] < (size_t)shape[d]) break;
            idx[d] = 0;
        }
        if (d == (size_t)-1) return;
    }
}

int pf_tb_data(const uint8_t **out, pf_tb_file *tb, const pf_st_file *f, size_t i)
{
    pf_tb_tensor *t = &tb->t[i];
    const pf_st_tensor *h = &f->h.tensors[i];
    int rc;
    if (t->entry->method == 0 && t->contiguous) { *out = f->map + t->entry->data_off + t->offset; return PROFS_OK; }
    if (t->cache) { *out = t->cache; return PROFS_OK; }
    uint64_t nb = h->end - h->begin;
    const uint8_t *base;
    uint8_t *tmp = NULL;
    if (t->entry->method == 0) base = f->map + t->entry->data_off;
    else {
        tmp = malloc(t->entry->size ? (size_t)t->entry->size : 1);
        if (!tmp) return pf_enomem("inflated storage");
        if ((rc = pf_zip_extract(tmp, f->map, t->entry, f->path))) { free(tmp); return rc; }
        base = tmp;
    }
    t->cache = malloc(nb ? (size_t)nb : 1);
    if (!t->cache) { free(tmp); return pf_enomem("materialised tensor"); }
    size_t es = profs_dtype_size(h->dtype);
    if (nb) {
        if (t->contiguous) memcpy(t->cache, base + t->offset, (size_t)nb);
        else gather(t->cache, base + t->offset, es, h->ndim, h->shape, t->stride);
    }
    free(tmp);
    *out = t->cache;
    return PROFS_OK;
}

void pf_tb_release(pf_tb_file *tb, size_t i)
{
    free(tb->t[i].cache);
    tb->t[i].cache = NULL;
}

int pf_tb_same_view(const pf_tb_file *tb, const pf_st_file *f, size_t i, size_t j)
{
    const pf_tb_tensor *a = &tb->t[i], *b = &tb->t[j];
    const pf_st_tensor *x = &f->h.tensors[i], *y = &f->h.tensors[j];
    if (a->entry != b->entry || a->offset != b->offset || x->ndim != y->ndim || x->dtype != y->dtype) return 0;
    for (size_t d = 0; d < x->ndim; d++)
        if (x->shape[d] != y->shape[d] || a->stride[d] != b->stride[d]) return 0;
    return 1;
}
