/* Helpers shared by the Check suites. */
#ifndef PROFS_TESTUTIL_H
#define PROFS_TESTUTIL_H

#include <check.h>
#include <stddef.h>
#include <stdint.h>

#include "profs/profs.h"

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
/* Tensor name of g read as F32 (asserts the read succeeds); caller frees; *count (if not NULL) = elements. */
float *tu_gread(const profs_model *g, const char *name, size_t *count);
/* The raw bytes of tensor name of g as int32 ids (asserts it has data); caller frees; *count = bytes / 4. */
int32_t *tu_gids(const profs_model *g, const char *name, size_t *count);
/* Relative Frobenius error ||a - b|| / ||b|| over n values (||b|| taken as 1 where b is all zero). */
double tu_rel_err(const float *a, const float *b, size_t n);
/* Write hfgen fixture name (tests/util/hfgen.h) to dir/name, asserting it is known and written; caller frees. */
char *tu_hfgen_fixture(const char *dir, const char *name);

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
