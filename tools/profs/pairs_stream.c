/* The read-once input stream (see pairs_stream.h): read(2) on one descriptor,
 * zlib's inflate for gzip, SHA-256 of the raw bytes as they arrive. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pairs_stream.h"

#define RAW_CHUNK (1u << 16)

/* Read more raw bytes into s->raw (hashing them). Returns bytes read, 0 at
 * the end, -1 on error. */
static long read_raw(struct tool_stream *s)
{
    if (s->raw_eof) return 0;
    if (s->raw_pos == s->raw_len) s->raw_pos = s->raw_len = 0;
    if (s->raw_len == s->raw_cap) { /* compact */
        memmove(s->raw, s->raw + s->raw_pos, s->raw_len - s->raw_pos);
        s->raw_len -= s->raw_pos;
        s->raw_pos = 0;
        if (s->raw_len == s->raw_cap) return 1; /* full: the caller consumes first */
    }
    ssize_t n;
    do n = read(s->fd, s->raw + s->raw_len, s->raw_cap - s->raw_len);
    while (n < 0 && errno == EINTR);
    if (n < 0) { snprintf(s->err, sizeof s->err, "read error: %s", strerror(errno)); return -1; }
    if (n == 0) { s->raw_eof = 1; return 0; }
    tool_sha256_update(&s->sha, s->raw + s->raw_len, (size_t)n);
    s->bytes += (uint64_t)n;
    s->raw_len += (size_t)n;
    return n;
}

/* Room for at least want more decoded bytes at s->buf + s->len. */
static int reserve(struct tool_stream *s, size_t want)
{
    if (s->pos > 0 && s->pos == s->len) s->pos = s->len = 0;
    if (s->cap - s->len >= want + 1) return 0;
    if (s->pos > 0) { /* drop what was consumed */
        memmove(s->buf, s->buf + s->pos, s->len - s->pos);
        s->len -= s->pos;
        s->pos = 0;
        if (s->cap - s->len >= want + 1) return 0;
    }
    size_t nc = s->cap ? s->cap : RAW_CHUNK;
    while (nc - s->len < want + 1) nc *= 2;
    char *nb = realloc(s->buf, nc);
    if (!nb) { snprintf(s->err, sizeof s->err, "out of memory"); return -1; }
    s->buf = nb;
    s->cap = nc;
    return 0;
}

/* Decode more bytes into s->buf. Returns 1 when some arrived, 0 at the end,
 * -1 on error. */
static int fill(struct tool_stream *s)
{
    if (s->eof) return 0;
    if (reserve(s, RAW_CHUNK)) return -1;
    for (;;) {
        if (s->raw_pos == s->raw_len) {
            long r = read_raw(s);
            if (r < 0) return -1;
            if (r == 0) {
                if (s->gzip && !s->z_member_done) {
                    snprintf(s->err, sizeof s->err, "truncated gzip stream (unexpected end of file)");
                    return -1;
                }
                s->eof = 1;
                return 0;
            }
        }
        if (!s->gzip) {
            size_t take = s->raw_len - s->raw_pos;
            if (take > s->cap - s->len - 1) take = s->cap - s->len - 1;
            memcpy(s->buf + s->len, s->raw + s->raw_pos, take);
            s->raw_pos += take;
            s->len += take;
            return 1;
        }
        if (s->z_member_done) { /* another gzip member follows (as gzip -d accepts) */
            if (inflateReset(&s->zs) != Z_OK) { snprintf(s->err, sizeof s->err, "gzip: cannot restart"); return -1; }
            s->z_member_done = 0;
        }
        s->zs.next_in = s->raw + s->raw_pos;
        s->zs.avail_in = (uInt)(s->raw_len - s->raw_pos);
        s->zs.next_out = (Bytef *)s->buf + s->len;
        s->zs.avail_out = (uInt)(s->cap - s->len - 1);
        int zr = inflate(&s->zs, Z_NO_FLUSH);
        size_t got = (size_t)((char *)s->zs.next_out - (s->buf + s->len));
        s->raw_pos = s->raw_len - s->zs.avail_in;
        s->len += got;
        if (zr == Z_STREAM_END) s->z_member_done = 1;
        else if (zr != Z_OK && zr != Z_BUF_ERROR) {
            snprintf(s->err, sizeof s->err, "gzip data error: %s", s->zs.msg ? s->zs.msg : "corrupt stream");
            return -1;
        }
        if (got > 0) return 1;
    }
}

int tool_stream_open(struct tool_stream *s, const char *path, char *err, size_t errlen)
{
    memset(s, 0, sizeof *s);
    s->name = path;
    s->fd = -1;
    tool_sha256_init(&s->sha);
    if (strcmp(path, "-") == 0) {
        s->fd = 0;
    } else {
        s->fd = open(path, O_RDONLY | O_CLOEXEC);
        if (s->fd < 0) { snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno)); return -1; }
        s->own_fd = 1;
    }
    struct stat st;
    if (fstat(s->fd, &st) == 0 && S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "%s: is a directory, not a pair file", path);
        tool_stream_close(s);
        return -1;
    }
    s->raw_cap = RAW_CHUNK;
    s->raw = malloc(s->raw_cap);
    if (!s->raw) { snprintf(err, errlen, "%s: out of memory", path); tool_stream_close(s); return -1; }
    /* sniff: up to 4 raw bytes (a pipe may deliver them one at a time) */
    while (s->raw_len < 4) {
        long r = read_raw(s);
        if (r < 0) { snprintf(err, errlen, "%s: %s", path, s->err); tool_stream_close(s); return -1; }
        if (r == 0) break;
    }
    s->gzip = s->raw_len >= 2 && s->raw[0] == 0x1f && s->raw[1] == 0x8b;
    s->parquet = s->raw_len >= 4 && memcmp(s->raw, "PAR1", 4) == 0;
    if (s->gzip) {
        if (inflateInit2(&s->zs, 16 + MAX_WBITS) != Z_OK) {
            snprintf(err, errlen, "%s: gzip: cannot initialise zlib", path);
            tool_stream_close(s);
            return -1;
        }
        s->z_live = 1;
    }
    return 0;
}

long tool_stream_peek(struct tool_stream *s, size_t n)
{
    while (s->len - s->pos < n) {
        int r = fill(s);
        if (r < 0) return -1;
        if (r == 0) break;
    }
    return (long)(s->len - s->pos);
}

int tool_stream_line(struct tool_stream *s, char **line, size_t *len)
{
    size_t scanned = 0;
    char *nl;
    for (;;) {
        nl = s->len - s->pos > scanned ? memchr(s->buf + s->pos + scanned, '\n', s->len - s->pos - scanned) : NULL;
        if (nl) break;
        scanned = s->len - s->pos;
        int r = fill(s); /* may move the buffer: offsets are kept relative to pos */
        if (r < 0) return -1;
        if (r == 0) break;
    }
    size_t avail = s->len - s->pos;
    if (!nl && avail == 0) return 0;
    char *start = s->buf + s->pos;
    size_t n = nl ? (size_t)(nl - start) : avail;
    s->pos += nl ? n + 1 : n;
    /* a NUL in place of the newline (or after the last line: fill keeps a spare byte) */
    start[n] = '\0';
    if (n > 0 && start[n - 1] == '\r') start[--n] = '\0';
    s->lineno++;
    *line = start;
    *len = n;
    return 1;
}

int tool_stream_rest(struct tool_stream *s, char **data, size_t *len)
{
    for (;;) {
        int r = fill(s);
        if (r < 0) return -1;
        if (r == 0) break;
    }
    size_t n = s->len - s->pos;
    char *d = malloc(n + 1);
    if (!d) { snprintf(s->err, sizeof s->err, "out of memory"); return -1; }
    if (n) memcpy(d, s->buf + s->pos, n);
    d[n] = '\0';
    s->pos = s->len;
    *data = d;
    *len = n;
    return 0;
}

int tool_stream_drain(struct tool_stream *s)
{
    s->raw_pos = s->raw_len = 0;
    for (;;) {
        long r = read_raw(s);
        if (r < 0) return -1;
        if (r == 0) return 0;
        s->raw_pos = s->raw_len = 0;
    }
}

void tool_stream_hash(const struct tool_stream *s, char hex[65], uint64_t *bytes)
{
    struct tool_sha256 c = s->sha;
    tool_sha256_final(&c, hex);
    if (bytes) *bytes = s->bytes;
}

void tool_stream_close(struct tool_stream *s)
{
    if (s->z_live) inflateEnd(&s->zs);
    if (s->own_fd && s->fd >= 0) close(s->fd);
    free(s->raw);
    free(s->buf);
    s->raw = NULL;
    s->buf = NULL;
    s->fd = -1;
    s->z_live = 0;
}
