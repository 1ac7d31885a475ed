#include "testutil.h"

#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hfgen.h"

char *tu_join(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/%s", dir, name);
    return p;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb; (void)flag; (void)ftw;
    remove(path);
    return 0;
}

void tu_rmtree(const char *path) { nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS); }

char *tu_tmpdir(const char *tag)
{
    const char *base = getenv("PROFS_TEST_TMP");
    if (!base || !*base) base = "/tmp";
    size_t n = strlen(base) + strlen(tag) + 32;
    char *p = malloc(n);
    if (!p) return NULL;
    snprintf(p, n, "%s/%s.%ld", base, tag, (long)getpid());
    tu_rmtree(p);
    if (mkdir(p, 0755) != 0) { free(p); return NULL; }
    return p;
}

int tu_write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    int ok = fwrite(data, 1, len, f) == len;
    return (fclose(f) == 0 && ok) ? 0 : -1;
}

void *tu_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) { free(buf); buf = NULL; }
    fclose(f);
    if (buf) { buf[n] = '\0'; if (len) *len = (size_t)n; }
    return buf;
}

char *tu_data_path(const char *name)
{
    const char *base = getenv("PROFS_TEST_DATA");
    return tu_join(base && *base ? base : "tests/data", name);
}

int tu_run_suite(Suite *s)
{
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

int tu_contains(const char *haystack, const char *needle)
{
    return haystack && needle && strstr(haystack, needle) != NULL;
}

float *tu_gread(const profs_model *g, const char *name, size_t *count)
{
    uint64_t n;
    ck_assert_profs_ok(profs_model_tensor_size(g, name, &n, NULL));
    float *v = malloc((size_t)n * sizeof(float) + 1);
    ck_assert_profs_ok(profs_model_read_f32(g, name, v, (size_t)n));
    if (count) *count = (size_t)n;
    return v;
}

int32_t *tu_gids(const profs_model *g, const char *name, size_t *count)
{
    const void *data;
    uint64_t nb;
    ck_assert_profs_ok(profs_model_tensor_data(g, name, &data, &nb));
    int32_t *v = malloc((size_t)nb + 4);
    memcpy(v, data, (size_t)nb);
    *count = (size_t)nb / 4;
    return v;
}

double tu_rel_err(const float *a, const float *b, size_t n)
{
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)a[i] - b[i];
        num += d * d;
        den += (double)b[i] * b[i];
    }
    return sqrt(num / (den > 0 ? den : 1));
}

char *tu_hfgen_fixture(const char *dir, const char *name)
{
    const hfgen_spec *s = hfgen_fixture(name);
    ck_assert_ptr_nonnull(s);
    char *p = tu_join(dir, name);
    ck_assert_int_eq(hfgen_write(p, s), 0);
    return p;
}
