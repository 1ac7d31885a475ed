/* libFuzzer target: the pair-file reader of the tool (tools/profs/pairs.c):
 * JSONL, TSV, gzip (whole, or cut short). Input: one selector byte, then the
 * file's bytes (before compression):
 *   bit 0: gzip-compress them;  bit 1: cut the compressed stream in half;
 *   bit 2: TSV (else JSONL);    bit 3: --skip-bad-lines;  bit 4: custom field
 *   names "p"/"d";              bits 5-7: --max-pairs 0..7.
 * tool_pairs_read must return pairs of valid, NUL-free UTF-8 or fail with a
 * message; never crash, leak or hang.
 *   scripts/fuzz 60 pairs */
#include <stdint.h>
#include <zlib.h>

#include "fuzz_common.h"
#include "pairs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int valid_utf8(const unsigned char *s)
{
    while (*s) {
        unsigned c = *s, n = c < 0x80 ? 0 : (c >> 5) == 6 ? 1 : (c >> 4) == 14 ? 2 : (c >> 3) == 30 ? 3 : 9;
        if (n == 9) return 0;
        for (unsigned k = 1; k <= n; k++)
            if ((s[k] & 0xC0) != 0x80) return 0;
        s += n + 1;
    }
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    unsigned sel = data[0];
    const uint8_t *body = data + 1;
    size_t n = size - 1;
    const char *path = fz_path(0, sel & 4 ? "pairs.tsv" : "pairs.jsonl");
    if (sel & 1) {
        uLong cap = compressBound((uLong)n) + 64;
        uint8_t *z = malloc(cap);
        if (!z) return 0;
        z_stream s;
        memset(&s, 0, sizeof s);
        if (deflateInit2(&s, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) { free(z); return 0; }
        s.next_in = (Bytef *)body;
        s.avail_in = (uInt)n;
        s.next_out = z;
        s.avail_out = (uInt)cap;
        int rc = deflate(&s, Z_FINISH);
        size_t zn = cap - s.avail_out;
        deflateEnd(&s);
        if (rc != Z_STREAM_END) { free(z); return 0; }
        if (sel & 2) zn /= 2;
        rc = fz_write(path, z, zn);
        free(z);
        if (rc) return 0;
    } else if (fz_write(path, body, n)) {
        return 0;
    }
    struct tool_pairs_opts o = {0};
    o.format = PAIRS_AUTO;
    o.skip_bad = (sel >> 3) & 1;
    if (sel & 16) { o.preferred_field = "p"; o.dispreferred_field = "d"; }
    o.max_pairs = sel >> 5;
    struct tool_pairs p;
    char err[1024] = "";
    if (tool_pairs_read(&p, path, &o, err, sizeof err) == 0) {
        if (!p.n || (o.max_pairs && p.n > o.max_pairs)) abort();
        for (size_t i = 0; i < p.n; i++)
            if (!valid_utf8((const unsigned char *)p.preferred[i]) || !valid_utf8((const unsigned char *)p.dispreferred[i]))
                abort();
        tool_pairs_free(&p);
    } else if (!err[0]) {
        abort();
    }
    return 0;
}
