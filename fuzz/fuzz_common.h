/* Shared helpers of the file-based libFuzzer targets: one scratch directory per
 * process (removed at exit), whole-buffer file writes. The directory is in
 * /dev/shm when there is one ($PROFS_FUZZ_TMP overrides): on ext4, rewriting a
 * truncated file forces a flush to disk at close (auto_da_alloc), which made
 * these targets 30 times slower. */
#ifndef PROFS_FUZZ_COMMON_H
#define PROFS_FUZZ_COMMON_H

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char fz_root[256];

static int fz_rm(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb; (void)flag; (void)ftw;
    remove(p);
    return 0;
}

static void fz_cleanup(void)
{
    if (fz_root[0]) nftw(fz_root, fz_rm, 16, FTW_DEPTH | FTW_PHYS);
}

/* The process's scratch directory (created on first use). */
static const char *fz_dir(void)
{
    if (!fz_root[0]) {
        const char *t = getenv("PROFS_FUZZ_TMP");
        if (!t || !*t) t = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");
        snprintf(fz_root, sizeof fz_root, "%s/profs-fuzz-XXXXXX", t && *t ? t : "/tmp");
        if (!mkdtemp(fz_root)) abort();
        atexit(fz_cleanup);
    }
    return fz_root;
}

/* dir/name as a static path (valid until the next call with the same slot). */
static const char *fz_path(int slot, const char *name)
{
    static char p[4][512];
    snprintf(p[slot], sizeof p[slot], "%s/%s", fz_dir(), name);
    return p[slot];
}

/* Write exactly n bytes to path (truncating). 0 or -1. */
static int fz_write(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    int rc = n && fwrite(data, 1, n, f) != n ? -1 : 0;
    if (fclose(f) != 0) rc = -1;
    return rc;
}

#endif
