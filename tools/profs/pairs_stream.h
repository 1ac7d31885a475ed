/* A buffered input stream that reads a file, a pipe, a FIFO or standard
 * input exactly once.
 *
 * The first bytes are sniffed from the stream itself, never by reopening the
 * path (a pipe, /dev/stdin or a process substitution can be read only once):
 *   1f 8b        gzip: inflated on the fly (concatenated members too)
 *   "PAR1"       Parquet: recognised so that the caller can refuse it
 * Every byte read from the descriptor (the compressed bytes for gzip) is
 * hashed with SHA-256 and counted as it is read, so the hash recorded in
 * provenance is that of the bytes actually read. */
#ifndef PROFS_TOOL_PAIRS_STREAM_H
#define PROFS_TOOL_PAIRS_STREAM_H

#include <stddef.h>
#include <stdint.h>

#include <zlib.h>

#include "util.h"

struct tool_stream {
    const char *name;          /* as given; "-" is standard input */
    int fd, own_fd;
    int gzip;                  /* the stream is gzip-compressed */
    int parquet;               /* the stream starts with Parquet's magic */
    z_stream zs;
    int z_live;                /* zs initialised */
    int z_member_done;         /* the current gzip member ended */
    unsigned char *raw;        /* (raw_cap) bytes read, not yet inflated */
    size_t raw_len, raw_pos, raw_cap;
    int raw_eof;
    char *buf;                 /* (cap) decoded bytes; [pos, len) not consumed */
    size_t pos, len, cap;
    int eof;                   /* no more decoded bytes will come */
    size_t lineno;             /* lines returned by tool_stream_line */
    struct tool_sha256 sha;
    uint64_t bytes;            /* bytes read from the descriptor */
    char err[256];             /* the problem after a -1 */
};

/* Open path ("-": standard input) and sniff its first bytes. Returns 0, or
 * -1 with "path: problem" in err (nothing to close then). */
int tool_stream_open(struct tool_stream *s, const char *path, char *err, size_t errlen);
/* Make at least n decoded bytes available from the current position (fewer
 * at the end). Returns the number available, or -1 on a read or gzip error
 * (s->err). The bytes are s->buf + s->pos. */
long tool_stream_peek(struct tool_stream *s, size_t n);
/* The next line without its "\n" or "\r\n", NUL-terminated, valid until the
 * next call. Returns 1 with *line and *len, 0 at the end, -1 on error (s->err). */
int tool_stream_line(struct tool_stream *s, char **line, size_t *len);
/* The rest of the decoded stream in one NUL-terminated buffer (malloc'ed).
 * Returns 0 or -1 (s->err). */
int tool_stream_rest(struct tool_stream *s, char **data, size_t *len);
/* Read (and hash) the remaining bytes of the descriptor without decoding
 * them, so that the hash covers the whole input. Returns 0 or -1 (s->err). */
int tool_stream_drain(struct tool_stream *s);
/* The SHA-256 (hex) and size of the bytes read so far. */
void tool_stream_hash(const struct tool_stream *s, char hex[65], uint64_t *bytes);
void tool_stream_close(struct tool_stream *s);

#endif
