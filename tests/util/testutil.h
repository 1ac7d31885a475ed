/* Helpers shared by the Check suites. */
#ifndef PROFS_TESTUTIL_H
#define PROFS_TESTUTIL_H

#include <check.h>
#include <stddef.h>

/* A fresh empty directory under $PROFS_TEST_TMP (or /tmp) named after tag; caller frees. */
char *tu_tmpdir(const char *tag);
/* Recursively remove a directory tree (ignores errors). */
void tu_rmtree(const char *path);
/* dir + "/" + name, caller frees. */
char *tu_join(const char *dir, const char *name);
/* Write len bytes to path; returns 0 or -1. */
int tu_write_file(const char *path, const void *data, size_t len);
/* Read a whole file; caller frees; *len set. NULL on failure. */
void *tu_read_file(const char *path, size_t *len);
/* Path of a file under tests/data ($PROFS_TEST_DATA); caller frees. */
char *tu_data_path(const char *name);
/* Run a Check suite with CK_NORMAL output; returns the process exit status. */
int tu_run_suite(Suite *s);
/* 1 if the string haystack contains needle. */
int tu_contains(const char *haystack, const char *needle);

/* Assert that a libprofs call returned code and that the thread's error message contains needle. */
#define ck_assert_profs_error(call, code, needle)                                      \
    do {                                                                               \
        int rc_ = (call);                                                              \
        ck_assert_msg(rc_ == (code), "%s returned %d, expected %d (%s)", #call, rc_,    \
                      (int)(code), profs_last_error());                                \
        ck_assert_msg(tu_contains(profs_last_error(), (needle)),                       \
                      "error message '%s' lacks '%s'", profs_last_error(), (needle));  \
    } while (0)

#define ck_assert_profs_ok(call)                                                        \
    do {                                                                               \
        int rc_ = (call);                                                              \
        ck_assert_msg(rc_ == 0, "%s failed: %d (%s)", #call, rc_, profs_last_error());  \
    } while (0)

#endif
