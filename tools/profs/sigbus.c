/* A source file truncated while it is memory-mapped (a re-download, a sync
 * tool) makes the next read of a lost page raise SIGBUS. The library cannot
 * catch that (it never installs handlers); the tool turns it into a message
 * naming the file, removes the temporary output directory it was building and
 * exits 1. Everything here runs inside the signal handler, so it uses only
 * async-signal-safe calls: open/read/close on /proc/self/maps, write(2),
 * openat/getdents64/unlinkat for the removal, _exit. */
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "tool.h"
#include "util.h"

static char active_tmp[PATH_MAX];   /* the temporary output directory being built, "" when none */

void tool_sigbus_set_tmp(const char *path)
{
    /* not async: called by the main flow; the handler reads it */
    size_t n = path ? strlen(path) : 0;
    if (n >= sizeof active_tmp) n = 0;
    active_tmp[0] = '\0';
    if (n) {
        memcpy(active_tmp + 1, path + 1, n - 1);
        active_tmp[n] = '\0';
        active_tmp[0] = path[0];   /* published last */
    }
}

static void put(const char *s) { ssize_t r = write(2, s, strlen(s)); (void)r; }

static uintptr_t hex(const char **p)
{
    uintptr_t v = 0;
    for (;; (*p)++) {
        char c = **p;
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (d < 0) return v;
        v = v * 16 + (uintptr_t)d;
    }
}

/* The file mapped at addr, from /proc/self/maps, into out (empty when none). */
static void mapped_file(uintptr_t addr, char *out, size_t cap)
{
    out[0] = '\0';
    int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;
    static char buf[8192], line[PATH_MAX + 256];
    size_t ll = 0;
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0) {
        for (ssize_t i = 0; i < n; i++) {
            if (buf[i] != '\n') { if (ll < sizeof line - 1) line[ll++] = buf[i]; continue; }
            line[ll] = '\0';
            ll = 0;
            const char *p = line;
            uintptr_t lo = hex(&p);
            if (*p++ != '-') continue;
            uintptr_t hi = hex(&p);
            if (addr < lo || addr >= hi) continue;
            const char *path = strchr(p, '/');
            if (path) {
                size_t k = strlen(path);
                if (k >= cap) k = cap - 1;
                memcpy(out, path, k);
                out[k] = '\0';
            }
            close(fd);
            return;
        }
    }
    close(fd);
}

struct dirent64_ { uint64_t ino; int64_t off; unsigned short reclen; unsigned char type; char name[]; };

/* Remove dirfd/name and everything below it (no symlinks followed). */
static void rm_at(int dirfd, const char *name, int depth)
{
    if (unlinkat(dirfd, name, 0) == 0 || depth > 32) return;
    int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return;
    char buf[4096] __attribute__((aligned(8)));
    for (int removed = 1; removed;) {   /* passes until one removes nothing */
        removed = 0;
        lseek(fd, 0, SEEK_SET);
        long n;
        while ((n = syscall(SYS_getdents64, fd, buf, sizeof buf)) > 0) {
            for (long off = 0; off < n;) {
                const struct dirent64_ *d = (const struct dirent64_ *)(buf + off);
                off += d->reclen;
                if (strcmp(d->name, ".") == 0 || strcmp(d->name, "..") == 0) continue;
                rm_at(fd, d->name, depth + 1);
                removed = 1;
            }
        }
        if (n < 0) break;
        if (removed && unlinkat(dirfd, name, AT_REMOVEDIR) == 0) break;
    }
    close(fd);
    unlinkat(dirfd, name, AT_REMOVEDIR);
}

static void on_sigbus(int sig, siginfo_t *si, void *uc)
{
    (void)uc;
    static char file[PATH_MAX];
    mapped_file((uintptr_t)si->si_addr, file, sizeof file);
    if (!file[0]) {   /* not a mapped file: the default action (core dump) */
        signal(sig, SIG_DFL);
        raise(sig);
        return;
    }
    put("profs: ");
    put(file);
    put(" changed while it was being read (truncated or rewritten while mapped; inputs must not change "
        "while profs runs): stopped");
    if (active_tmp[0]) {
        rm_at(AT_FDCWD, active_tmp, 0);
        put(", nothing written");
    }
    put("\n");
    _exit(EXIT_FAIL);
}

void tool_catch_sigbus(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_sigbus;
    sa.sa_flags = SA_SIGINFO | SA_RESETHAND;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGBUS, &sa, NULL);
}
