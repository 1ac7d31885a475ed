/* Internal: atomic file writes and small file-system helpers.
 *
 * An atomic write creates a temporary file next to the destination
 * (".<name>.tmp-<pid>-<n>", created with O_EXCL and mode 0666 & ~umask),
 * the caller writes it, then pf_atomic_commit() fsyncs, closes and renames it
 * over the destination and fsyncs the directory. pf_atomic_abort() closes and
 * removes the temporary; it is safe to call at any point, also after commit
 * (then it does nothing), so cleanup paths can call it unconditionally.
 *
 *     pf_atomic a;
 *     int rc = pf_atomic_begin(&a, "out/edit.safetensors");
 *     if (rc == 0) rc = pf_atomic_write(&a, buf, len);
 *     if (rc == 0) rc = pf_atomic_commit(&a);
 *     pf_atomic_abort(&a);    // no-op after a successful commit
 *
 * For several files that must appear together, pf_atomic_finish() (fsync and
 * close, keep the temporary) can be called on each first and
 * pf_atomic_commit() on each afterwards.
 * All functions return 0 or a negative PROFS_E* code with the message set
 * (naming the destination file and the OS error). */
#ifndef PF_FSUTIL_H
#define PF_FSUTIL_H

#include <stddef.h>
#include <stdint.h>

typedef struct pf_atomic {
    char *path;     /* destination */
    char *tmp;      /* temporary, NULL once renamed or removed */
    int fd;         /* -1 when closed */
} pf_atomic;

int pf_atomic_begin(pf_atomic *a, const char *path);
/* As pf_atomic_begin, the temporary created with permission bits `mode`
 * (& ~umask, as open(2) applies it): a copy never gets wider permissions
 * than its source. */
int pf_atomic_begin_mode(pf_atomic *a, const char *path, unsigned mode);
int pf_atomic_write(pf_atomic *a, const void *buf, size_t n);
/* Copy len bytes of in_fd starting at offset off into the temporary (appending). */
int pf_atomic_copy_fd(pf_atomic *a, int in_fd, uint64_t off, uint64_t len, const char *in_name);
/* fsync and close the temporary (keeps it under its temporary name). */
int pf_atomic_finish(pf_atomic *a);
/* finish (if needed), rename over the destination, fsync the directory. */
int pf_atomic_commit(pf_atomic *a);
/* Close and unlink the temporary if it still exists; free everything. */
void pf_atomic_abort(pf_atomic *a);

/* What a file of this st_mode is, for messages: "a regular file", "a directory",
 * "a FIFO (named pipe)", "a character device", "a block device", "a socket",
 * "a symbolic link", "a special file". */
const char *pf_file_kind(unsigned mode);

/* Write all n bytes to fd; on failure returns PROFS_EIO naming `name`. */
int pf_write_all(int fd, const void *buf, size_t n, const char *name);
/* fsync the directory holding `path` (or `path` itself when is_dir). */
int pf_fsync_dir(const char *path, int is_dir);
/* a + "/" + b, malloc'd (NULL on out of memory). */
char *pf_path_join(const char *a, const char *b);
/* Directory part of path ("." when none), malloc'd. */
char *pf_path_dirname(const char *path);
/* Last component of path (pointer into path). */
const char *pf_path_basename(const char *path);

#endif
