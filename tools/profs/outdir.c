/* Atomic output directories and small file helpers.
 * The output is built in ".NAME.profs-tmp-PID@HOST-XXXXXX" beside --out and renamed
 * into place at the end, so a failed or interrupted run never leaves a
 * partial output directory under the requested name. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

char *tool_join(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (!p) { fputs("profs: out of memory\n", stderr); exit(1); }
    snprintf(p, n, "%s/%s", dir, name);
    return p;
}

int tool_is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int tool_exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

const char *tool_basename(const char *path)
{
    static char buf[PATH_MAX];
    snprintf(buf, sizeof buf, "%s", path);
    size_t n = strlen(buf);
    while (n > 1 && buf[n - 1] == '/') buf[--n] = '\0';
    char *s = strrchr(buf, '/');
    return s && s[1] ? s + 1 : buf;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb; (void)flag; (void)ftw;
    remove(path);
    return 0;
}

void tool_rmtree(const char *path)
{
    if (path && tool_exists(path)) nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Absolute, normalised form of a path whose last components may not exist:
 * realpath() of the longest existing prefix, then the rest appended with "."
 * and ".." resolved lexically. */
static int abs_path(const char *path, char out[PATH_MAX])
{
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof tmp, "%s", path) >= (int)sizeof tmp) return -1;
    size_t n = strlen(tmp);
    while (n > 1 && tmp[n - 1] == '/') tmp[--n] = '\0';
    char rest[PATH_MAX] = "";
    for (;;) {
        char rp[PATH_MAX];
        if (realpath(tmp[0] ? tmp : ".", rp)) {
            snprintf(out, PATH_MAX, "%s", rp);
            break;
        }
        char *slash = strrchr(tmp, '/');
        char comp[PATH_MAX];
        if (slash) {
            snprintf(comp, sizeof comp, "%s", slash + 1);
            if (slash == tmp) tmp[1] = '\0'; else *slash = '\0';
        } else {
            snprintf(comp, sizeof comp, "%s", tmp);
            tmp[0] = '\0';
        }
        char nr[PATH_MAX];
        if (snprintf(nr, sizeof nr, "%s%s%s", comp, rest[0] ? "/" : "", rest) >= (int)sizeof nr) return -1;
        snprintf(rest, sizeof rest, "%s", nr);
        if (!slash && !tmp[0]) {
            if (!getcwd(out, PATH_MAX)) return -1;
            break;
        }
    }
    /* append rest, resolving . and .. */
    char *save = NULL;
    for (char *c = strtok_r(rest, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
        if (strcmp(c, ".") == 0 || !*c) continue;
        if (strcmp(c, "..") == 0) {
            char *s = strrchr(out, '/');
            if (s && s != out) *s = '\0'; else snprintf(out, PATH_MAX, "/");
            continue;
        }
        size_t l = strlen(out);
        if (l + strlen(c) + 2 > PATH_MAX) return -1;
        if (l > 1) out[l++] = '/';
        strcpy(out + l, c);
    }
    return 0;
}

static int dir_is_empty(const char *path)
{
    DIR *d = opendir(path);
    if (!d) return 0;
    struct dirent *e;
    int empty = 1;
    while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) { empty = 0; break; }
    }
    closedir(d);
    return empty;
}

int tool_check_out(const char *src, const char *out, int force, char *err, size_t errlen)
{
    char a[PATH_MAX], b[PATH_MAX];
    if (abs_path(out, b)) { snprintf(err, errlen, "%s: path too long", out); return -1; }
    const char *last = tool_basename(out);
    if (strcmp(last, ".") == 0 || strcmp(last, "..") == 0 || strcmp(b, "/") == 0) {
        snprintf(err, errlen, "--out '%s' names %s; it cannot be replaced by a new directory: "
                 "give the output directory by its name", out,
                 strcmp(b, "/") == 0 ? "the root directory" : strcmp(last, ".") == 0 ? "the current directory"
                                                                                     : "a parent directory");
        return -1;
    }
    if (src) {
        if (abs_path(src, a)) { snprintf(err, errlen, "%s: path too long", src); return -1; }
        size_t la = strlen(a);
        if (strcmp(a, b) == 0) {
            snprintf(err, errlen, "--out '%s' is the model directory itself; choose another directory", out);
            return -1;
        }
        if (strncmp(a, b, la) == 0 && (b[la] == '/' || la == 1)) {
            snprintf(err, errlen, "--out '%s' is inside the model directory '%s'; choose a directory outside it", out, src);
            return -1;
        }
        size_t lb = strlen(b);
        if (strncmp(a, b, lb) == 0 && (a[lb] == '/' || lb == 1)) {
            snprintf(err, errlen, "--out '%s' contains the model directory '%s'; choose a directory outside it", out, src);
            return -1;
        }
    }
    char parent[PATH_MAX];
    snprintf(parent, sizeof parent, "%s", out);
    size_t pn = strlen(parent);
    while (pn > 1 && parent[pn - 1] == '/') parent[--pn] = '\0';
    char *slash = strrchr(parent, '/');
    if (!slash) snprintf(parent, sizeof parent, ".");
    else if (slash == parent) slash[1] = '\0';
    else *slash = '\0';
    if (!tool_is_dir(parent)) {
        snprintf(err, errlen, "--out '%s': parent directory '%s' does not exist", out, parent);
        return -1;
    }
    struct stat st;
    if (lstat(out, &st) == 0) {
        if (!S_ISDIR(st.st_mode)) {
            snprintf(err, errlen, "--out '%s' exists and is not a directory", out);
            return -1;
        }
        if (!force && !dir_is_empty(out)) {
            snprintf(err, errlen, "--out '%s' exists and is not empty (use --force to replace it)", out);
            return -1;
        }
    }
    return 0;
}

/* This host's name reduced to [A-Za-z0-9._] (at most 32 characters), so
 * temporary names say which machine's process owns them. */
static void host_tag(char tag[40])
{
    char h[256] = "";
    if (gethostname(h, sizeof h - 1) != 0) h[0] = '\0';
    size_t k = 0;
    for (size_t i = 0; h[i] && k < 32; i++) {
        unsigned char c = (unsigned char)h[i];
        tag[k++] = (char)((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ? c : '_');
    }
    if (!k) tag[k++] = '_';
    tag[k] = '\0';
}

/* Remove ".BASE.profs-tmp-PID@HOST-*" directories in parent left by runs that
 * were killed (kill -9, power loss): only on this host, only ours (same
 * user), only when process PID no longer exists. */
static void reclaim_stale(const char *parent, const char *base, const char *host)
{
    char prefix[PATH_MAX];
    int pl = snprintf(prefix, sizeof prefix, ".%s.profs-tmp-", base);
    if (pl <= 0 || pl >= (int)sizeof prefix) return;
    DIR *d = opendir(parent);
    if (!d) return;
    struct dirent *e;
    size_t hl = strlen(host);
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, prefix, (size_t)pl) != 0) continue;
        const char *q = e->d_name + pl;
        char *end;
        errno = 0;
        long pid = strtol(q, &end, 10);
        if (errno || end == q || pid <= 0 || *end != '@' || strncmp(end + 1, host, hl) != 0 || end[1 + hl] != '-')
            continue;   /* an older name without owner, or another host's */
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue;   /* its owner is alive (or not ours to ask) */
        char *path = tool_join(parent, e->d_name);
        struct stat st;
        if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == getuid()) {
            tool_rmtree(path);
            fprintf(stderr, "profs: removed '%s', left by an interrupted run (process %ld) that no longer exists\n",
                    path, pid);
        }
        free(path);
    }
    closedir(d);
}

int tool_outdir_begin(struct tool_outdir *o, const char *out, char *err, size_t errlen)
{
    memset(o, 0, sizeof *o);
    char parent[PATH_MAX];
    snprintf(parent, sizeof parent, "%s", out);
    size_t n = strlen(parent);
    while (n > 1 && parent[n - 1] == '/') parent[--n] = '\0';
    char *slash = strrchr(parent, '/');
    const char *base;
    if (slash) { *slash = '\0'; base = slash + 1; if (!parent[0]) snprintf(parent, sizeof parent, "/"); }
    else { base = out; snprintf(parent, sizeof parent, "."); }
    if (!tool_is_dir(parent)) {
        snprintf(err, errlen, "--out '%s': parent directory '%s' does not exist", out, parent);
        return -1;
    }
    char host[40], templ[PATH_MAX];
    host_tag(host);
    reclaim_stale(parent, base, host);
    if (snprintf(templ, sizeof templ, "%s/.%s.profs-tmp-%ld@%s-XXXXXX", parent, base, (long)getpid(), host) >=
        (int)sizeof templ) {
        snprintf(err, errlen, "--out '%s': path too long", out);
        return -1;
    }
    if (!mkdtemp(templ)) {
        snprintf(err, errlen, "%s: cannot create a temporary directory: %s", parent, strerror(errno));
        return -1;
    }
    mode_t um = umask(0);
    umask(um);
    chmod(templ, 0777 & ~um); /* mkdtemp makes it 0700 */
    o->final = strdup(out);
    o->tmp = strdup(templ);
    tool_sigbus_set_tmp(templ);
    if (!o->final || !o->tmp) { tool_rmtree(templ); free(o->final); free(o->tmp); snprintf(err, errlen, "out of memory"); return -1; }
    return 0;
}

/* rename(2) that fails with EEXIST when `to` exists: renameat2(RENAME_NOREPLACE),
 * or, where the file system lacks it, link-free rename() of a directory, which
 * still never replaces a non-empty directory or a file (ENOTEMPTY, ENOTDIR). */
static int rename_noreplace(const char *from, const char *to)
{
#ifdef RENAME_NOREPLACE
    if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) == 0) return 0;
    if (errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP) return -1;
#endif
    struct stat st;
    if (lstat(to, &st) == 0 && !S_ISDIR(st.st_mode)) { errno = EEXIST; return -1; }
    return rename(from, to);
}

/* Exchange two paths atomically (RENAME_EXCHANGE); -1 with errno where unsupported. */
static int rename_exchange(const char *a, const char *b)
{
#ifdef RENAME_EXCHANGE
    return renameat2(AT_FDCWD, a, AT_FDCWD, b, RENAME_EXCHANGE);
#else
    (void)a; (void)b;
    errno = ENOSYS;
    return -1;
#endif
}

int tool_outdir_commit(struct tool_outdir *o, char *err, size_t errlen)
{
    char *old = NULL;
    struct stat st;
    /* Without --force nothing at --out is ever removed: the finished directory
     * goes onto a name that must not exist, or onto an empty directory (which
     * rename(2) replaces atomically and only while it is empty). What the
     * check before the run saw does not matter: a directory that appeared
     * since, or a concurrent run's output, stays as it is. */
    if (rename_noreplace(o->tmp, o->final) == 0) goto done;
    if (errno == EEXIST && lstat(o->final, &st) == 0 && S_ISDIR(st.st_mode) && rename(o->tmp, o->final) == 0)
        goto done;   /* an empty directory, replaced atomically */
    if (errno != EEXIST && errno != ENOTEMPTY && errno != ENOTDIR) {
        snprintf(err, errlen, "%s: cannot rename the finished output into place: %s", o->final, strerror(errno));
        goto fail;
    }
    if (!o->force) {
        snprintf(err, errlen, "--out '%s' %s while this run was writing its output; it was left as it is and "
                 "nothing was written (use --force to replace it)", o->final,
                 lstat(o->final, &st) == 0 && S_ISDIR(st.st_mode) ? "is not empty (it was filled or created)"
                                                                  : "appeared as a file");
        goto fail;
    }
    /* --force: replace what is there now, directories only */
    if (lstat(o->final, &st) != 0 || !S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "--out '%s' exists and is not a directory; not replaced", o->final);
        goto fail;
    }
    size_t n = strlen(o->tmp) + 8;
    old = malloc(n);
    if (!old) { snprintf(err, errlen, "out of memory"); goto fail; }
    snprintf(old, n, "%s.old", o->tmp);
    if (rename_exchange(o->tmp, o->final) == 0) {
        /* o->tmp now holds the replaced directory */
        if (rename(o->tmp, old) != 0) { tool_rmtree(o->tmp); free(old); old = NULL; }
    } else {
        /* move the existing directory aside first, so a crash leaves one of the two */
        if (rename(o->final, old) != 0) {
            snprintf(err, errlen, "%s: cannot replace: %s", o->final, strerror(errno));
            goto fail;
        }
        if (rename_noreplace(o->tmp, o->final) != 0) {
            snprintf(err, errlen, "%s: cannot rename the finished output into place: %s", o->final, strerror(errno));
            if (rename_noreplace(old, o->final) != 0) {
                size_t l = strlen(err);
                snprintf(err + l, errlen - l, "; the replaced directory is kept as '%s'", old);
                free(old);
                old = NULL;
                tool_outdir_abort(o);
                return -1;
            }
            goto fail;
        }
    }
done:;
    tool_sigbus_set_tmp(NULL);
    int dfd = open(o->final, O_RDONLY | O_DIRECTORY);
    if (dfd >= 0) { fsync(dfd); close(dfd); }
    if (old) { tool_rmtree(old); free(old); }
    free(o->tmp);
    o->tmp = NULL;
    return 0;
fail:
    free(old);
    tool_outdir_abort(o);
    return -1;
}

void tool_outdir_abort(struct tool_outdir *o)
{
    tool_sigbus_set_tmp(NULL);
    if (o->tmp) tool_rmtree(o->tmp);
    free(o->tmp);
    free(o->final);
    o->tmp = o->final = NULL;
}

int tool_copy_file(const char *src, const char *dst)
{
    FILE *in = fopen(src, "rb");
    if (!in) return -1;
    FILE *out = fopen(dst, "wb");
    if (!out) { int e = errno; fclose(in); errno = e; return -1; }
    char buf[1 << 16];
    size_t n;
    int rc = 0;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        if (fwrite(buf, 1, n, out) != n) { rc = -1; break; }
    if (ferror(in)) rc = -1;
    fclose(in);
    if (fflush(out) != 0 || fsync(fileno(out)) != 0) rc = -1;
    if (fclose(out) != 0) rc = -1;
    return rc;
}

int tool_write_file_atomic(const char *path, const char *text)
{
    size_t n = strlen(path) + 16;
    char *tmp = malloc(n);
    if (!tmp) return -1;
    snprintf(tmp, n, "%s.tmp%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    if (!f) { free(tmp); return -1; }
    size_t len = strlen(text);
    int rc = fwrite(text, 1, len, f) == len ? 0 : -1;
    if (fflush(f) != 0 || fsync(fileno(f)) != 0) rc = -1;
    if (fclose(f) != 0) rc = -1;
    if (rc == 0 && rename(tmp, path) != 0) rc = -1;
    if (rc) { int e = errno; remove(tmp); errno = e; }
    free(tmp);
    return rc;
}

char *tool_read_text(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    while (buf) {
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (n < cap) break;
        char *nb = realloc(buf, cap * 2 + 1);
        if (!nb) { free(buf); buf = NULL; break; }
        buf = nb;
        cap *= 2;
    }
    int bad = ferror(f);
    fclose(f);
    if (!buf || bad) { free(buf); return NULL; }
    buf[n] = '\0';
    if (len) *len = n;
    return buf;
}

int tool_check_file_out(const char *flag, const char *path, char *err, size_t errlen)
{
    if (!path) return 0;
    if (tool_is_dir(path)) {
        snprintf(err, errlen, "--%s '%s' is a directory; give a file name", flag, path);
        return -1;
    }
    char parent[PATH_MAX];
    snprintf(parent, sizeof parent, "%s", path);
    char *slash = strrchr(parent, '/');
    if (!slash) return 0;
    if (slash == parent) slash[1] = '\0'; else *slash = '\0';
    if (!tool_is_dir(parent)) {
        snprintf(err, errlen, "--%s '%s': directory '%s' does not exist", flag, path, parent);
        return -1;
    }
    return 0;
}
