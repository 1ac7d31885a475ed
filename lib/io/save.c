/* Saving a model with its staged edits: streaming (one tensor in memory at a
 * time) and atomic (every file goes to a temporary name first).
 *
 * A save is planned as a list of jobs, one per output file: copies of
 * non-weight files, shard copies (nothing staged) or shard rewrites (identical
 * header, staged tensors' bytes replaced), with the file that makes the
 * directory loadable (the index, or model.safetensors) last. Phase 1 writes
 * every job to its temporary and fsyncs it; only when all succeeded does
 * phase 2 rename them into place in that order. Any failure in phase 1
 * removes every temporary and every directory the save created.
 *
 * A PyTorch-checkpoint source is always written as safetensors (shards.h):
 * its .bin files and pytorch_model.bin.index.json are not copied. In every
 * directory save, top-level files that a "*.safetensors" glob (vLLM, SGLang)
 * or a "*.bin"/"*.pt"/"*.pth" loader would take for weights, and index files,
 * are copied only when they are the output's own weights and index. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/dtype.h"
#include "core/error.h"
#include "core/fsutil.h"
#include "io/model_impl.h"
#include "io/shards.h"

#define COPY_SLICE ((uint64_t)64 << 20)   /* progress granularity of plain copies */
#define MAX_DEPTH 16

enum { JOB_COPY, JOB_SHARD, JOB_NEW_SHARD, JOB_TEXT };

typedef struct job {
    int kind;
    int order;        /* 0 other files, 1 shards, 2 the file that makes the output loadable */
    char *src;        /* JOB_COPY: source path */
    char *dest;       /* output path */
    size_t file;      /* JOB_SHARD: index into m->files; JOB_NEW_SHARD: index into the shard plan */
    const char *text; /* JOB_TEXT: borrowed from the shard plan */
    uint64_t size;    /* bytes this job writes */
    unsigned mode;    /* permission bits of the source (never widened) */
    pf_atomic a;
} job;

typedef struct plan {
    job *jobs;
    size_t n, cap;
    char **dirs;      /* directories this save created, in creation order */
    unsigned *dmodes; /* (ndirs) their sources' permission bits */
    size_t ndirs, dcap;
    uint64_t done, total;
    profs_progress_fn progress;
    void *userdata;
    struct stat out_st;   /* the output directory (directory saves) */
    pf_shard_plan shards; /* PyTorch source: the safetensors files to write */
    char *root;           /* realpath of the model directory */
    char *blobs;          /* realpath of <repo>/blobs for a Hugging Face cache snapshot, or NULL */
    int any_link;         /* follow symbolic links anywhere */
} plan;

static int add_job(plan *p, int kind, int order, char *src, char *dest, size_t file, uint64_t size, unsigned mode)
{
    if (!dest || (kind == JOB_COPY && !src)) { free(src); free(dest); return pf_enomem("path"); }
    if (p->n == p->cap) {
        size_t cap = p->cap ? 2 * p->cap : 16;
        job *v = realloc(p->jobs, cap * sizeof *v);
        if (!v) { free(src); free(dest); return pf_enomem("save plan"); }
        p->jobs = v;
        p->cap = cap;
    }
    p->jobs[p->n++] = (job){ .kind = kind, .order = order, .src = src, .dest = dest, .file = file,
                             .size = size, .mode = mode, .a = { NULL, NULL, -1 } };
    p->total += size;
    return PROFS_OK;
}

static int add_dir(plan *p, char *dir, unsigned mode)
{
    if (!dir) return pf_enomem("path");
    if (p->ndirs == p->dcap) {
        size_t cap = p->dcap ? 2 * p->dcap : 8;
        char **v = realloc(p->dirs, cap * sizeof *v);
        if (v) p->dirs = v;
        unsigned *w = v ? realloc(p->dmodes, cap * sizeof *w) : NULL;
        if (!v || !w) { free(dir); return pf_enomem("save plan"); }
        p->dmodes = w;
        p->dcap = cap;
    }
    p->dmodes[p->ndirs] = mode;
    p->dirs[p->ndirs++] = dir;
    return PROFS_OK;
}

/* Is `path` (a realpath) inside directory `dir` (a realpath)? */
static int path_within(const char *path, const char *dir)
{
    size_t n = strlen(dir);
    return strncmp(path, dir, n) == 0 && (path[n] == '/' || path[n] == '\0' || (n == 1 && dir[0] == '/'));
}

/* The link policy: a symbolic link in the model is followed when it resolves
 * inside the model directory or, for the Hugging Face cache layout
 * (<repo>/snapshots/<revision>/ with links to ../../blobs/<hash>), inside the
 * same repository's blobs/; anything else is refused naming the link and its
 * target, unless profs_model_set_follow_outside_links() allowed it. */
static int check_link(const plan *p, const char *link)
{
    char *target = realpath(link, NULL);
    if (!target) return pf_error(PROFS_EIO, "%s: cannot stat: %s (a symbolic link that cannot be resolved)", link,
                                 strerror(errno));
    int ok = p->any_link || path_within(target, p->root) || (p->blobs && path_within(target, p->blobs));
    int rc = ok ? PROFS_OK
                : pf_error(PROFS_EUNSUPPORTED, "%s: symbolic link to '%s', outside the model directory; refused "
                           "(links may point inside the model directory or, in a Hugging Face cache snapshot, "
                           "into the repository's blobs/; profs_model_set_follow_outside_links allows others)",
                           link, target);
    free(target);
    return rc;
}

/* p->root and p->blobs for the model directory `dir`. */
static int plan_roots(plan *p, const char *dir)
{
    p->root = realpath(dir, NULL);
    if (!p->root) return pf_error(PROFS_EIO, "%s: cannot resolve: %s", dir, strerror(errno));
    char *snap = pf_path_dirname(p->root);
    if (!snap) return pf_enomem("path");
    if (strcmp(pf_path_basename(snap), "snapshots") == 0) {
        char *repo = pf_path_dirname(snap);
        char *b = repo ? pf_path_join(repo, "blobs") : NULL;
        if (b) p->blobs = realpath(b, NULL);
        free(repo);
        free(b);
    }
    free(snap);
    return PROFS_OK;
}

/* Remove temporaries and the directories this save created (newest first). */
static void plan_cleanup(plan *p, int failed)
{
    for (size_t i = 0; i < p->n; i++) {
        pf_atomic_abort(&p->jobs[i].a);
        free(p->jobs[i].src);
        free(p->jobs[i].dest);
    }
    for (size_t i = p->ndirs; i-- > 0;) {
        if (failed) rmdir(p->dirs[i]);
        free(p->dirs[i]);
    }
    free(p->jobs);
    free(p->dirs);
    pf_shard_plan_free(&p->shards);
    free(p->dmodes);
    free(p->root);
    free(p->blobs);
}

static int report(plan *p, uint64_t bytes)
{
    p->done += bytes;
    if (p->progress && p->progress(p->userdata, "save", p->done, p->total) != 0)
        return pf_error(PROFS_ECANCELLED, "save cancelled by the progress callback after %" PRIu64
                        " of %" PRIu64 " bytes", p->done, p->total);
    return PROFS_OK;
}

/* Copy [off, off+len) of in_fd into the job's temporary, reporting progress per slice. */
static int copy_range(plan *p, job *j, int in_fd, uint64_t off, uint64_t len, const char *in_name)
{
    while (len > 0) {
        uint64_t n = len < COPY_SLICE ? len : COPY_SLICE;
        int rc = pf_atomic_copy_fd(&j->a, in_fd, off, n, in_name);
        if (rc == 0) rc = report(p, n);
        if (rc) return rc;
        off += n;
        len -= n;
    }
    return PROFS_OK;
}

static int shard_touched(const profs_model *m, size_t file)
{
    const pf_st_header *h = &m->files[file].h;
    for (size_t i = 0; i < h->n_tensors; i++) {
        long k = pf_model_find(m, h->tensors[i].name);
        if (k >= 0 && m->stages[k].kind != PF_STAGE_NONE) return 1;
    }
    return 0;
}

/* Is `name` (in the source directory) one of the opened weight files? */
static long weight_file_index(const profs_model *m, const char *name)
{
    for (size_t i = 0; i < m->n_files; i++)
        if (strcmp(pf_path_basename(m->files[i].path), name) == 0) return (long)i;
    return -1;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* A top-level source file the output does not get (weights that are not the
 * output's own, or an index that is not its own). */
static int not_copied(const profs_model *m, const char *name)
{
    int weightish = ends_with(name, ".safetensors") || ends_with(name, ".bin") || ends_with(name, ".pt") ||
                    ends_with(name, ".pth");
    int index = strcmp(name, "model.safetensors.index.json") == 0 || strcmp(name, "pytorch_model.bin.index.json") == 0;
    if (m->from_bin) return weightish || index;
    if (weightish) return weight_file_index(m, name) < 0;
    if (index) return !m->index_name || strcmp(name, m->index_name) != 0;
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Permission bits of an open file (0666 when fstat fails). */
static unsigned file_mode(int fd)
{
    struct stat st;
    return fstat(fd, &st) == 0 ? (unsigned)(st.st_mode & 0777) : 0666u;
}

/* Plan the copy of source directory `src` into `dest` (relative depth `depth`). */
static int plan_dir(plan *p, const profs_model *m, const char *src, const char *dest, int depth)
{
    if (depth > MAX_DEPTH)
        return pf_error(PROFS_EUNSUPPORTED, "%s: directories nested deeper than %d levels (a symlink loop?)",
                        src, MAX_DEPTH);
    DIR *d = opendir(src);
    if (!d) return pf_error(PROFS_EIO, "%s: cannot list directory: %s", src, strerror(errno));
    char **names = NULL;
    size_t n = 0, cap = 0;
    int rc = PROFS_OK;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 32;
            char **v = realloc(names, cap * sizeof *v);
            if (!v) { rc = pf_enomem("directory listing"); break; }
            names = v;
        }
        if (!(names[n] = strdup(e->d_name))) { rc = pf_enomem("directory listing"); break; }
        n++;
    }
    closedir(d);
    if (rc == 0) qsort(names, n, sizeof *names, cmp_str);
    for (size_t i = 0; i < n && rc == 0; i++) {
        char *sp = pf_path_join(src, names[i]);
        if (!sp) { rc = pf_enomem("path"); break; }
        struct stat st;
        if (lstat(sp, &st) == 0 && S_ISLNK(st.st_mode)) rc = check_link(p, sp);
        if (rc) {
            /* refused link */
        } else if (stat(sp, &st) != 0) {
            rc = pf_error(PROFS_EIO, "%s: cannot stat: %s", sp, strerror(errno));
        } else if (S_ISDIR(st.st_mode)) {
            if (st.st_dev == p->out_st.st_dev && st.st_ino == p->out_st.st_ino) {
                /* the output directory itself lies inside the source: not part of the model */
            } else {
                char *dp = pf_path_join(dest, names[i]);
                rc = add_dir(p, dp, st.st_mode & 0777);   /* created in phase 1 */
                if (rc == 0) rc = plan_dir(p, m, sp, dp, depth + 1);
            }
        } else if (S_ISREG(st.st_mode) && depth == 0 && not_copied(m, names[i])) {
            /* another set of weights, or the PyTorch source itself: see the top of this file */
        } else if (S_ISREG(st.st_mode)) {
            long w = depth == 0 && !m->from_bin ? weight_file_index(m, names[i]) : -1;
            int last = depth == 0 && ((m->index_name && strcmp(names[i], m->index_name) == 0) ||
                                      (!m->index_name && w >= 0));
            if (w >= 0)
                rc = add_job(p, JOB_SHARD, last ? 2 : 1, NULL, pf_path_join(dest, names[i]), (size_t)w,
                             m->files[w].size, file_mode(m->files[w].fd));
            else
                rc = add_job(p, JOB_COPY, last ? 2 : 0, strdup(sp), pf_path_join(dest, names[i]), 0,
                             (uint64_t)st.st_size, st.st_mode & 0777);
        } else {
            rc = pf_error(PROFS_EUNSUPPORTED, "%s: is %s, not a regular file or directory; cannot copy it", sp,
                          pf_file_kind((unsigned)st.st_mode));
        }
        free(sp);
    }
    for (size_t i = 0; i < n; i++) free(names[i]);
    free(names);
    return rc;
}

static int cmp_job_order(const void *a, const void *b)
{
    const job *x = a, *y = b;
    return (x->order > y->order) - (x->order < y->order);
}

static int cmp_offset(const void *a, const void *b)
{
    const pf_st_tensor *x = *(const pf_st_tensor *const *)a, *y = *(const pf_st_tensor *const *)b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    return (x->end > y->end) - (x->end < y->end);
}

/* Run a transform on one tensor and write the result in the tensor's dtype. */
static int write_transformed(plan *p, job *j, profs_model *m, const pf_model_tensor *mt, const pf_stage *s)
{
    const pf_st_file *f = &m->files[mt->file];
    const pf_st_tensor *t = mt->t;
    uint64_t nbytes = t->end - t->begin;
    size_t numel = (size_t)t->numel;
    float *x = malloc((numel ? numel : 1) * sizeof *x);
    void *out = malloc(nbytes ? (size_t)nbytes : 1);
    const uint8_t *src = NULL;
    int rc = PROFS_OK;
    if (!x || !out) { rc = pf_enomem("transformed tensor"); goto done; }
    if ((rc = pf_model_bytes(&src, m, mt))) goto done;
    if (numel) pf_convert_to_f32(x, src, t->dtype, numel);
    rc = s->fn(s->userdata, t->name, x, t->ndim, t->shape);
    if (rc > 0) rc = pf_error(PROFS_EINVAL, "%s: transform of tensor '%s' returned %d", f->path, t->name, rc);
    if (rc) goto done;
    for (size_t k = 0; k < numel; k++)
        if (!isfinite(x[k])) {
            rc = pf_error(PROFS_ENUMERIC, "%s: transform of tensor '%s' produced %s at element %zu", f->path,
                          t->name, isnan(x[k]) ? "NaN" : "Inf", k);
            goto done;
        }
    if (numel) pf_convert_from_f32(out, x, t->dtype, numel);
    size_t bad = pf_first_nonfinite(out, t->dtype, numel);
    if (bad < numel) {
        rc = pf_error(PROFS_ENUMERIC, "%s: transform of tensor '%s' produced %g at element %zu, which overflows %s",
                      f->path, t->name, (double)x[bad], bad, profs_dtype_name(t->dtype));
        goto done;
    }
    rc = pf_atomic_write(&j->a, out, (size_t)nbytes);
    if (rc == 0) rc = report(p, nbytes);
    profs_model_release(m, t->name);
done:
    free(x);
    free(out);
    return rc;
}

/* Rewrite a shard: identical header bytes, then every tensor in offset order. */
static int write_shard(plan *p, job *j, profs_model *m)
{
    const pf_st_file *f = &m->files[j->file];
    uint64_t data0 = 8 + f->h.header_len;
    int rc = pf_atomic_write(&j->a, f->map, (size_t)data0);
    if (rc == 0) rc = report(p, data0);
    if (rc) return rc;
    size_t n = f->h.n_tensors;
    const pf_st_tensor **order = malloc((n ? n : 1) * sizeof *order);
    if (!order) return pf_enomem("tensor order");
    for (size_t i = 0; i < n; i++) order[i] = &f->h.tensors[i];
    qsort(order, n, sizeof *order, cmp_offset);
    uint64_t run_begin = 0, run_end = 0;   /* pending run of unstaged bytes */
    for (size_t i = 0; i <= n && rc == 0; i++) {
        const pf_stage *s = NULL;
        if (i < n) {
            long k = pf_model_find(m, order[i]->name);
            s = &m->stages[k];
            if (s->kind == PF_STAGE_NONE) {
                if (run_end == run_begin) run_begin = order[i]->begin;
                run_end = order[i]->end;
                continue;
            }
        }
        if (run_end > run_begin) {
            rc = copy_range(p, j, f->fd, data0 + run_begin, run_end - run_begin, f->path);
            run_begin = run_end = 0;
            if (rc) break;
        }
        if (i == n) break;
        const pf_st_tensor *t = order[i];
        uint64_t nbytes = t->end - t->begin;
        if (s->kind == PF_STAGE_DATA) {
            rc = pf_atomic_write(&j->a, s->bytes, (size_t)nbytes);
            if (rc == 0) rc = report(p, nbytes);
        } else {
            rc = write_transformed(p, j, m, &m->tensors[pf_model_find(m, t->name)], s);
        }
    }
    free(order);
    return rc;
}

/* A safetensors file of the shard plan: header, then each tensor (staged or
 * read from the PyTorch source, one at a time). */
static int write_new_shard(plan *p, job *j, profs_model *m)
{
    const pf_shard *sh = &p->shards.s[j->file];
    uint8_t *hdr = NULL;
    size_t hlen = 0;
    int rc = pf_shard_header(&hdr, &hlen, m, sh);
    if (rc == 0) rc = pf_atomic_write(&j->a, hdr, hlen);
    if (rc == 0) rc = report(p, hlen);
    free(hdr);
    for (size_t i = 0; i < sh->n && rc == 0; i++) {
        const pf_model_tensor *mt = &m->tensors[sh->tensors[i]];
        const pf_stage *s = &m->stages[sh->tensors[i]];
        uint64_t nbytes = mt->t->end - mt->t->begin;
        if (s->kind == PF_STAGE_TRANSFORM) { rc = write_transformed(p, j, m, mt, s); continue; }
        const uint8_t *src = s->bytes;
        if (s->kind == PF_STAGE_NONE) rc = pf_model_bytes(&src, m, mt);
        if (rc == 0) rc = pf_atomic_write(&j->a, src, (size_t)nbytes);
        if (rc == 0) rc = report(p, nbytes);
        if (s->kind == PF_STAGE_NONE) (void)profs_model_release(m, mt->name);
    }
    return rc;
}

/* Permission bits for a file made from all of m's files: never wider than any of them. */
static unsigned sources_mode(const profs_model *m)
{
    unsigned mode = 0666u;
    for (size_t i = 0; i < m->n_files; i++) mode &= file_mode(m->files[i].fd);
    return mode;
}

/* The jobs that write a PyTorch source as safetensors (max: bytes per shard). */
static int plan_new_shards(plan *p, profs_model *m, const char *dest_dir, const char *single_path, uint64_t max)
{
    uint64_t keep = m->max_shard_size;
    m->max_shard_size = max;
    int rc = pf_shard_plan_make(&p->shards, m);
    m->max_shard_size = keep;
    if (rc) return rc;
    int single = p->shards.n == 1;
    for (size_t i = 0; i < p->shards.n && rc == 0; i++) {
        char *dest = single_path ? strdup(single_path) : pf_path_join(dest_dir, p->shards.s[i].name);
        uint8_t *hdr = NULL;
        size_t hlen = 0;
        rc = pf_shard_header(&hdr, &hlen, m, &p->shards.s[i]);
        free(hdr);
        if (rc) { free(dest); break; }
        uint64_t size = p->shards.s[i].bytes + hlen;
        rc = add_job(p, JOB_NEW_SHARD, single ? 2 : 1, NULL, dest, i, size, sources_mode(m));
    }
    if (rc == 0 && p->shards.index_json) {
        rc = add_job(p, JOB_TEXT, 2, NULL, pf_path_join(dest_dir, "model.safetensors.index.json"), 0,
                     strlen(p->shards.index_json), sources_mode(m));
        if (rc == 0) p->jobs[p->n - 1].text = p->shards.index_json;
    }
    return rc;
}

static int copy_file(plan *p, job *j)
{
    int fd = open(j->src, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return pf_error(PROFS_EIO, "%s: cannot open: %s", j->src, strerror(errno));
    int rc = copy_range(p, j, fd, 0, j->size, j->src);
    close(fd);
    return rc;
}

static int run_job(plan *p, job *j, profs_model *m)
{
    int rc = pf_atomic_begin_mode(&j->a, j->dest, j->mode);
    if (rc) return rc;
    if (j->kind == JOB_COPY) rc = copy_file(p, j);
    else if (j->kind == JOB_NEW_SHARD) rc = write_new_shard(p, j, m);
    else if (j->kind == JOB_TEXT) {
        rc = pf_atomic_write(&j->a, j->text, (size_t)j->size);
        if (rc == 0) rc = report(p, j->size);
    } else if (shard_touched(m, j->file)) rc = write_shard(p, j, m);
    else rc = copy_range(p, j, m->files[j->file].fd, 0, m->files[j->file].size, m->files[j->file].path);
    if (rc == 0) rc = pf_atomic_finish(&j->a);
    return rc;
}

int profs_model_set_follow_outside_links(profs_model *m, int allow)
{
    if (!m) return pf_error(PROFS_EINVAL, "profs_model_set_follow_outside_links: model is NULL");
    m->follow_outside_links = allow != 0;
    return PROFS_OK;
}

int profs_model_check_save(const profs_model *m)
{
    if (!m) return pf_error(PROFS_EINVAL, "profs_model_check_save: model is NULL");
    if (!m->is_dir) return PROFS_OK;
    plan p = { .any_link = m->follow_outside_links };
    int rc = plan_roots(&p, m->dir);
    if (rc == 0) rc = plan_dir(&p, m, m->dir, "", 0);
    plan_cleanup(&p, 0);
    return rc;
}

int profs_model_save(profs_model *m, const char *out_path, profs_progress_fn progress, void *userdata)
{
    if (!m || !out_path || !*out_path) return pf_error(PROFS_EINVAL, "profs_model_save: NULL or empty argument");
    plan p = { .progress = progress, .userdata = userdata, .any_link = m->follow_outside_links };
    int rc = PROFS_OK;
    struct stat st;
    int exists = stat(out_path, &st) == 0;
    if (!exists && errno != ENOENT && errno != ENOTDIR)
        return pf_error(PROFS_EIO, "%s: cannot stat: %s", out_path, strerror(errno));
    if (!m->is_dir) {
        const pf_st_file *f = &m->files[0];
        if (exists && (uint64_t)st.st_dev == f->id.dev && (uint64_t)st.st_ino == f->id.ino)
            return pf_error(PROFS_EEXIST, "%s: is the source file itself; save to another path", out_path);
        if (exists && S_ISDIR(st.st_mode))
            return pf_error(PROFS_EIO, "%s: is a directory; a single-file model saves to a file path", out_path);
        if (m->from_bin) rc = plan_new_shards(&p, m, NULL, out_path, UINT64_MAX);
        else rc = add_job(&p, JOB_SHARD, 2, NULL, strdup(out_path), 0, f->size, file_mode(f->fd));
    } else {
        struct stat src;
        if (stat(m->dir, &src) != 0)
            return pf_error(PROFS_EIO, "%s: cannot stat: %s", m->dir, strerror(errno));
        if (exists && st.st_dev == src.st_dev && st.st_ino == src.st_ino)
            return pf_error(PROFS_EEXIST, "%s: is the source directory itself; save to another directory", out_path);
        if (exists && !S_ISDIR(st.st_mode))
            return pf_error(PROFS_EIO, "%s: exists and is not a directory", out_path);
        if (!exists) {
            if (mkdir(out_path, 0777) != 0)
                return pf_error(PROFS_EIO, "%s: cannot create directory: %s", out_path, strerror(errno));
            rc = add_dir(&p, strdup(out_path), 0777);
            if (rc == 0 && stat(out_path, &st) != 0)
                rc = pf_error(PROFS_EIO, "%s: cannot stat: %s", out_path, strerror(errno));
        }
        p.out_st = st;
        size_t made = p.ndirs;   /* directories planned below are created in phase 1 */
        if (rc == 0) rc = plan_roots(&p, m->dir);
        if (rc == 0) rc = plan_dir(&p, m, m->dir, out_path, 0);
        if (rc == 0 && m->from_bin) rc = plan_new_shards(&p, m, out_path, NULL, m->max_shard_size);
        if (rc == 0) qsort(p.jobs, p.n, sizeof *p.jobs, cmp_job_order);
        /* phase 1a: create the planned subdirectories (parents come before children) */
        for (size_t i = made; i < p.ndirs && rc == 0; i++) {
            if (mkdir(p.dirs[i], (mode_t)p.dmodes[i]) != 0) {
                if (errno == EEXIST) { free(p.dirs[i]); p.dirs[i] = strdup(""); continue; }
                rc = pf_error(PROFS_EIO, "%s: cannot create directory: %s", p.dirs[i], strerror(errno));
            }
        }
    }
    if (rc == 0) rc = report(&p, 0);
    /* phase 1: every file to its temporary, fsynced */
    for (size_t i = 0; i < p.n && rc == 0; i++) rc = run_job(&p, &p.jobs[i], m);
    /* phase 2: rename into place, the loadable-making file last */
    for (size_t i = 0; i < p.n && rc == 0; i++) rc = pf_atomic_commit(&p.jobs[i].a);
    if (rc == 0 && m->is_dir) rc = pf_fsync_dir(out_path, 1);
    plan_cleanup(&p, rc != 0);
    return rc;
}
