/* Atomic file writes (temporary + fsync + rename) and path helpers. */
#include "core/fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/error.h"

char *pf_path_join(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    char *p = malloc(la + lb + 2);
    if (!p) return NULL;
    memcpy(p, a, la);
    size_t k = la;
    if (la > 0 && a[la - 1] != '/') p[k++] = '/';
    memcpy(p + k, b, lb + 1);
    return p;
}

char *pf_path_dirname(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash) return strdup(".");
    if (slash == path) return strdup("/");
    size_t n = (size_t)(slash - path);
    char *d = malloc(n + 1);
    if (!d) return NULL;
    memcpy(d, path, n);
    d[n] = '\0';
    return d;
}

const char *pf_path_basename(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

const char *pf_file_kind(unsigned mode)
{
    mode_t m = (mode_t)mode;
    return S_ISREG(m) ? "a regular file" : S_ISDIR(m) ? "a directory" : S_ISFIFO(m) ? "a FIFO (named pipe)"
         : S_ISCHR(m) ? "a character device" : S_ISBLK(m) ? "a block device" : S_ISSOCK(m) ? "a socket"
         : S_ISLNK(m) ? "a symbolic link" : "a special file";
}

int pf_write_all(int fd, const void *buf, size_t n, const char *name)
{
    const char *p = buf;
    while (n > 0) {
        size_t chunk = n > (1u << 30) ? (1u << 30) : n;
        ssize_t w = write(fd, p, chunk);
        if (w < 0) {
            if (errno == EINTR) continue;
            return pf_error(PROFS_EIO, "%s: write failed: %s", name, strerror(errno));
        }
        if (w == 0) return pf_error(PROFS_EIO, "%s: write made no progress", name);
        p += w;
        n -= (size_t)w;
    }
    return PROFS_OK;
}

int pf_fsync_dir(const char *path, int is_dir)
{
    char *dir = is_dir ? strdup(path) : pf_path_dirname(path);
    if (!dir) return pf_enomem("path");
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        int rc = pf_error(PROFS_EIO, "%s: cannot open directory: %s", dir, strerror(errno));
        free(dir);
        return rc;
    }
    int rc = PROFS_OK;
    if (fsync(fd) != 0 && errno != EINVAL && errno != EROFS)
        rc = pf_error(PROFS_EIO, "%s: fsync of directory failed: %s", dir, strerror(errno));
    close(fd);
    free(dir);
    return rc;
}

int pf_atomic_begin(pf_atomic *a, const char *path) { return pf_atomic_begin_mode(a, path, 0666); }

int pf_atomic_begin_mode(pf_atomic *a, const char *path, unsigned mode)
{
    a->path = NULL;
    a->tmp = NULL;
    a->fd = -1;
    if (!path || !*path) return pf_error(PROFS_EINVAL, "empty output path");
    a->path = strdup(path);
    char *dir = pf_path_dirname(path);
    const char *base = pf_path_basename(path);
    size_t n = strlen(path) + 64;
    a->tmp = malloc(n);
    if (!a->path || !dir || !a->tmp) {
        free(dir);
        free(a->tmp);
        a->tmp = NULL;
        pf_atomic_abort(a);
        return pf_enomem("temporary file name");
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    unsigned long seed = (unsigned long)ts.tv_nsec ^ ((unsigned long)(uintptr_t)a >> 4);
    for (int attempt = 0; attempt < 100; attempt++) {
        snprintf(a->tmp, n, "%s/.%s.tmp-%ld-%lx", dir, base, (long)getpid(),
                 (seed + (unsigned long)attempt * 7919u) & 0xffffffu);
        a->fd = open(a->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, (mode_t)(mode & 0777));
        if (a->fd >= 0 || errno != EEXIST) break;
    }
    free(dir);
    if (a->fd < 0) {
        int rc = pf_error(PROFS_EIO, "%s: cannot create temporary file: %s", path, strerror(errno));
        free(a->tmp);
        a->tmp = NULL;
        pf_atomic_abort(a);
        return rc;
    }
    return PROFS_OK;
}

int pf_atomic_write(pf_atomic *a, const void *buf, size_t n)
{
    if (a->fd < 0) return pf_error(PROFS_ESTATE, "%s: temporary file is closed", a->path);
    return pf_write_all(a->fd, buf, n, a->path);
}

/* Buffered fallback when copy_file_range is not possible between these files. */
static int copy_buffered(pf_atomic *a, int in_fd, uint64_t off, uint64_t len, const char *in_name)
{
    size_t bufsize = 1u << 20;
    char *buf = malloc(bufsize);
    if (!buf) return pf_enomem("copy buffer");
    int rc = PROFS_OK;
    while (len > 0 && rc == 0) {
        size_t want = len < bufsize ? (size_t)len : bufsize;
        ssize_t r = pread(in_fd, buf, want, (off_t)off);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            rc = pf_error(PROFS_EIO, "%s: read failed: %s", in_name, strerror(errno));
            break;
        }
        if (r == 0) {   /* shorter than when it was opened */
            rc = pf_error(PROFS_EIO, "%s: changed while it was being read (it ends at byte %llu, %llu more were "
                          "expected); inputs must not change while they are open", in_name,
                          (unsigned long long)off, (unsigned long long)len);
            break;
        }
        rc = pf_write_all(a->fd, buf, (size_t)r, a->path);
        off += (uint64_t)r;
        len -= (uint64_t)r;
    }
    free(buf);
    return rc;
}

int pf_atomic_copy_fd(pf_atomic *a, int in_fd, uint64_t off, uint64_t len, const char *in_name)
{
    if (a->fd < 0) return pf_error(PROFS_ESTATE, "%s: temporary file is closed", a->path);
    while (len > 0) {
        loff_t in_off = (loff_t)off;
        size_t want = len > (1u << 30) ? (1u << 30) : (size_t)len;
        ssize_t r = copy_file_range(in_fd, &in_off, a->fd, NULL, want, 0);
        if (r < 0) {
            if (errno == EINTR) continue;
            if (errno == EXDEV || errno == ENOSYS || errno == EINVAL || errno == EOPNOTSUPP ||
                errno == EBADF || errno == ETXTBSY)
                return copy_buffered(a, in_fd, off, len, in_name);
            return pf_error(PROFS_EIO, "%s: write failed: %s", a->path, strerror(errno));
        }
        if (r == 0) {
            /* nothing copied: source shorter than expected, or a file system that declines */
            return copy_buffered(a, in_fd, off, len, in_name);
        }
        off += (uint64_t)r;
        len -= (uint64_t)r;
    }
    return PROFS_OK;
}

int pf_atomic_finish(pf_atomic *a)
{
    if (a->fd < 0) return PROFS_OK;
    int rc = PROFS_OK;
    if (fsync(a->fd) != 0)
        rc = pf_error(PROFS_EIO, "%s: fsync failed: %s", a->path, strerror(errno));
    if (close(a->fd) != 0 && rc == 0)
        rc = pf_error(PROFS_EIO, "%s: close failed: %s", a->path, strerror(errno));
    a->fd = -1;
    return rc;
}

int pf_atomic_commit(pf_atomic *a)
{
    if (!a->tmp) return pf_error(PROFS_ESTATE, "%s: nothing to commit", a->path ? a->path : "?");
    int rc = pf_atomic_finish(a);
    if (rc) return rc;
    if (rename(a->tmp, a->path) != 0)
        return pf_error(PROFS_EIO, "%s: cannot rename temporary file into place: %s", a->path,
                        strerror(errno));
    free(a->tmp);
    a->tmp = NULL;
    return pf_fsync_dir(a->path, 0);
}

void pf_atomic_abort(pf_atomic *a)
{
    if (a->fd >= 0) close(a->fd);
    a->fd = -1;
    if (a->tmp) unlink(a->tmp);
    free(a->tmp);
    a->tmp = NULL;
    free(a->path);
    a->path = NULL;
}
