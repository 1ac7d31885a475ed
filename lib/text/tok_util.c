/* Tokenizer helpers: buffers, UTF-8, Unicode predicates, the byte-level alphabet, hash maps, regexes. */
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "core/error.h"
#include "text/tok_internal.h"

/* ---------------------------------------------------------------- buffers */

int pf_sbuf_reserve(pf_sbuf *b, size_t extra)
{
    if (b->max && (extra > b->max || b->n > b->max - extra))
        return pf_error(PROFS_EUNSUPPORTED, "the text would grow past %zu bytes", b->max);
    if (b->cap - b->n >= extra) return PROFS_OK;
    size_t cap = b->cap ? b->cap : 64;
    while (cap - b->n < extra) {
        if (cap > SIZE_MAX / 2) return pf_enomem("tokenizer buffer");
        cap *= 2;
    }
    char *p = realloc(b->p, cap);
    if (!p) return pf_enomem("tokenizer buffer");
    b->p = p;
    b->cap = cap;
    return PROFS_OK;
}

int pf_sbuf_append(pf_sbuf *b, const void *s, size_t n)
{
    int rc = pf_sbuf_reserve(b, n);
    if (rc) return rc;
    if (n) memcpy(b->p + b->n, s, n);
    b->n += n;
    return PROFS_OK;
}

void pf_sbuf_free(pf_sbuf *b)
{
    free(b->p);
    b->p = NULL;
    b->n = b->cap = 0;
}

int pf_ibuf_push(pf_ibuf *b, int32_t v)
{
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 64;
        int32_t *p = realloc(b->p, cap * sizeof *p);
        if (!p) return pf_enomem("token ids");
        b->p = p;
        b->cap = cap;
    }
    b->p[b->n++] = v;
    return PROFS_OK;
}

void pf_ibuf_free(pf_ibuf *b)
{
    free(b->p);
    b->p = NULL;
    b->n = b->cap = 0;
}

/* ---------------------------------------------------------------- UTF-8 */

/* A multi-byte lead byte c: the sequence length and the allowed range of the second byte (which rules out
 * overlong forms, surrogates and values above U+10FFFF). Returns 0 when c cannot start a sequence. */
static size_t utf8_lead(unsigned c, unsigned *lo, unsigned *hi)
{
    *lo = 0x80;
    *hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) return 2;
    if (c >= 0xE0 && c <= 0xEF) {
        if (c == 0xE0) *lo = 0xA0;
        if (c == 0xED) *hi = 0x9F;
        return 3;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        if (c == 0xF0) *lo = 0x90;
        if (c == 0xF4) *hi = 0x8F;
        return 4;
    }
    return 0;
}

size_t pf_utf8_valid_len(const unsigned char *s, size_t n)
{
    if (s[0] < 0x80) return 1;
    unsigned lo, hi;
    size_t need = utf8_lead(s[0], &lo, &hi);
    if (!need || n < need) return 0;
    if (s[1] < lo || s[1] > hi) return 0;
    for (size_t i = 2; i < need; i++)
        if ((s[i] & 0xC0) != 0x80) return 0;
    return need;
}

/* Length of the maximal prefix of a valid sequence at s (>= 1): what one U+FFFD replaces. */
static size_t maximal_invalid(const unsigned char *s, size_t n)
{
    unsigned lo, hi;
    size_t need = utf8_lead(s[0], &lo, &hi);
    if (!need) return 1;
    if (n < 2 || s[1] < lo || s[1] > hi) return 1;
    size_t i = 2;
    while (i < need && i < n && (s[i] & 0xC0) == 0x80) i++;
    return i;
}

size_t pf_utf8_check(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        /* ASCII fast path, 8 bytes at a time */
        while (i + 8 <= n) {
            uint64_t w;
            memcpy(&w, u + i, 8);
            if (w & 0x8080808080808080ull) break;
            i += 8;
        }
        if (i >= n) break;
        if (u[i] < 0x80) { i++; continue; }
        size_t l = pf_utf8_valid_len(u + i, n - i);
        if (!l) return i;
        i += l;
    }
    return n;
}

uint32_t pf_utf8_decode(const char *s, size_t *len)
{
    const unsigned char *u = (const unsigned char *)s;
    if (u[0] < 0x80) { *len = 1; return u[0]; }
    if (u[0] < 0xE0) { *len = 2; return ((uint32_t)(u[0] & 0x1F) << 6) | (u[1] & 0x3F); }
    if (u[0] < 0xF0) {
        *len = 3;
        return ((uint32_t)(u[0] & 0x0F) << 12) | ((uint32_t)(u[1] & 0x3F) << 6) | (u[2] & 0x3F);
    }
    *len = 4;
    return ((uint32_t)(u[0] & 0x07) << 18) | ((uint32_t)(u[1] & 0x3F) << 12) | ((uint32_t)(u[2] & 0x3F) << 6) |
           (u[3] & 0x3F);
}

size_t pf_utf8_encode(uint32_t cp, char *out)
{
    unsigned char *o = (unsigned char *)out;
    if (cp < 0x80) { o[0] = (unsigned char)cp; return 1; }
    if (cp < 0x800) {
        o[0] = (unsigned char)(0xC0 | (cp >> 6));
        o[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (unsigned char)(0xE0 | (cp >> 12));
        o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (unsigned char)(0xF0 | (cp >> 18));
    o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

int pf_utf8_append_lossy(pf_sbuf *b, const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0, run = 0;
    while (i < n) {
        size_t l = u[i] < 0x80 ? 1 : pf_utf8_valid_len(u + i, n - i);
        if (l) { i += l; continue; }
        int rc = pf_sbuf_append(b, s + run, i - run);
        if (!rc) rc = pf_sbuf_append(b, "\xEF\xBF\xBD", 3);
        if (rc) return rc;
        i += maximal_invalid(u + i, n - i);
        run = i;
    }
    return pf_sbuf_append(b, s + run, n - run);
}

int pf_is_whitespace(uint32_t cp)
{
    if (cp <= 0x20) return cp == 0x20 || (cp >= 0x09 && cp <= 0x0D);
    if (cp < 0x85) return 0;
    switch (cp) {
    case 0x85: case 0xA0: case 0x1680: case 0x2028: case 0x2029: case 0x202F: case 0x205F: case 0x3000:
        return 1;
    default:
        return cp >= 0x2000 && cp <= 0x200A;
    }
}

int pf_is_numeric(uint32_t cp)
{
    if (cp < 0x80) return cp >= '0' && cp <= '9';
    utf8proc_category_t c = utf8proc_category((utf8proc_int32_t)cp);
    return c == UTF8PROC_CATEGORY_ND || c == UTF8PROC_CATEGORY_NL || c == UTF8PROC_CATEGORY_NO;
}

int pf_is_punct(uint32_t cp)
{
    if (cp < 0x80) return (cp >= 0x21 && cp <= 0x2F) || (cp >= 0x3A && cp <= 0x40) || (cp >= 0x5B && cp <= 0x60) ||
                          (cp >= 0x7B && cp <= 0x7E);
    utf8proc_category_t c = utf8proc_category((utf8proc_int32_t)cp);
    return c >= UTF8PROC_CATEGORY_PC && c <= UTF8PROC_CATEGORY_PO;
}

int pf_is_alnum(uint32_t cp)
{
    if (cp < 0x80) return (cp >= '0' && cp <= '9') || ((cp | 0x20) >= 'a' && (cp | 0x20) <= 'z');
    utf8proc_category_t c = utf8proc_category((utf8proc_int32_t)cp);
    return (c >= UTF8PROC_CATEGORY_LU && c <= UTF8PROC_CATEGORY_LO) ||
           (c >= UTF8PROC_CATEGORY_ND && c <= UTF8PROC_CATEGORY_NO);
}

/* ---------------------------------------------------------------- byte-level alphabet */

/* GPT-2's bytes_to_unicode(): printable bytes map to themselves, the others to 256 + k in byte order. */
const uint16_t pf_byte_to_cp[256] = {
    256, 257, 258, 259, 260, 261, 262, 263, 264, 265, 266, 267, 268, 269, 270, 271,
    272, 273, 274, 275, 276, 277, 278, 279, 280, 281, 282, 283, 284, 285, 286, 287,
    288, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47,
    48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63,
    64, 65, 66, 67, 68, 69, 70, 71, 72, 73, 74, 75, 76, 77, 78, 79,
    80, 81, 82, 83, 84, 85, 86, 87, 88, 89, 90, 91, 92, 93, 94, 95,
    96, 97, 98, 99, 100, 101, 102, 103, 104, 105, 106, 107, 108, 109, 110, 111,
    112, 113, 114, 115, 116, 117, 118, 119, 120, 121, 122, 123, 124, 125, 126, 289,
    290, 291, 292, 293, 294, 295, 296, 297, 298, 299, 300, 301, 302, 303, 304, 305,
    306, 307, 308, 309, 310, 311, 312, 313, 314, 315, 316, 317, 318, 319, 320, 321,
    322, 161, 162, 163, 164, 165, 166, 167, 168, 169, 170, 171, 172, 323, 174, 175,
    176, 177, 178, 179, 180, 181, 182, 183, 184, 185, 186, 187, 188, 189, 190, 191,
    192, 193, 194, 195, 196, 197, 198, 199, 200, 201, 202, 203, 204, 205, 206, 207,
    208, 209, 210, 211, 212, 213, 214, 215, 216, 217, 218, 219, 220, 221, 222, 223,
    224, 225, 226, 227, 228, 229, 230, 231, 232, 233, 234, 235, 236, 237, 238, 239,
    240, 241, 242, 243, 244, 245, 246, 247, 248, 249, 250, 251, 252, 253, 254, 255,
};

int pf_cp_to_byte(uint32_t cp)
{
    if (cp >= 256 && cp <= 323) {
        /* the k-th non-printable byte */
        uint32_t k = cp - 256;
        if (k <= 32) return (int)k;            /* 0x00..0x20 */
        if (k <= 66) return (int)(127 + k - 33); /* 0x7F..0xA0 */
        if (k == 67) return 0xAD;
        return -1;
    }
    if ((cp >= 33 && cp <= 126) || (cp >= 161 && cp <= 172) || (cp >= 174 && cp <= 255)) return (int)cp;
    return -1;
}

/* ---------------------------------------------------------------- hash maps */

static uint64_t hash_bytes(const char *s, size_t n)
{
    /* FNV-1a over 8-byte words, finished with a murmur-style mix */
    uint64_t h = 0xcbf29ce484222325ull ^ (uint64_t)n;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, s + i, 8);
        h = (h ^ w) * 0x100000001b3ull;
        h ^= h >> 29;
    }
    for (; i < n; i++) h = (h ^ (unsigned char)s[i]) * 0x100000001b3ull;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return h;
}

static size_t pow2_at_least(size_t n)
{
    size_t c = 16;
    while (c < n) c *= 2;
    return c;
}

int pf_strmap_init(pf_strmap *m, size_t expected)
{
    memset(m, 0, sizeof *m);
    m->cap = pow2_at_least(expected * 2 + 1);
    m->key = calloc(m->cap, sizeof *m->key);
    m->klen = calloc(m->cap, sizeof *m->klen);
    m->val = malloc(m->cap * sizeof *m->val);
    if (!m->key || !m->klen || !m->val) {
        pf_strmap_free(m);
        return pf_enomem("token map");
    }
    for (size_t i = 0; i < m->cap; i++) m->val[i] = -1;
    return PROFS_OK;
}

static int strmap_grow(pf_strmap *m)
{
    pf_strmap g;
    int rc = pf_strmap_init(&g, m->cap);
    if (rc) return rc;
    for (size_t i = 0; i < m->cap; i++)
        if (m->val[i] >= 0) pf_strmap_put(&g, m->key[i], m->klen[i], m->val[i]);
    pf_strmap_free(m);
    *m = g;
    return PROFS_OK;
}

int pf_strmap_put(pf_strmap *m, const char *k, size_t klen, int32_t v)
{
    if ((m->n + 1) * 2 > m->cap) {
        int rc = strmap_grow(m);
        if (rc) return rc;
    }
    size_t mask = m->cap - 1, i = (size_t)hash_bytes(k, klen) & mask;
    while (m->val[i] >= 0) {
        if (m->klen[i] == klen && memcmp(m->key[i], k, klen) == 0) {
            m->key[i] = k;
            m->val[i] = v;
            return PROFS_OK;
        }
        i = (i + 1) & mask;
    }
    m->key[i] = k;
    m->klen[i] = (uint32_t)klen;
    m->val[i] = v;
    m->n++;
    return PROFS_OK;
}

int32_t pf_strmap_get(const pf_strmap *m, const char *k, size_t klen)
{
    if (!m->cap) return -1;
    size_t mask = m->cap - 1, i = (size_t)hash_bytes(k, klen) & mask;
    while (m->val[i] >= 0) {
        if (m->klen[i] == klen && memcmp(m->key[i], k, klen) == 0) return m->val[i];
        i = (i + 1) & mask;
    }
    return -1;
}

void pf_strmap_free(pf_strmap *m)
{
    free(m->key);
    free(m->klen);
    free(m->val);
    memset(m, 0, sizeof *m);
}

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    return x;
}

int pf_mergemap_init(pf_mergemap *m, size_t expected)
{
    m->cap = pow2_at_least(expected * 2 + 1);
    m->n = 0;
    m->slot = malloc(m->cap * sizeof *m->slot);
    if (!m->slot) return pf_enomem("merge table");
    for (size_t i = 0; i < m->cap; i++) m->slot[i].key = UINT64_MAX;
    return PROFS_OK;
}

/* The table is sized for all merges at init: it never grows. */
void pf_mergemap_put(pf_mergemap *m, int32_t a, int32_t b, uint32_t rank, int32_t id)
{
    uint64_t key = ((uint64_t)(uint32_t)a << 32) | (uint32_t)b;
    size_t mask = m->cap - 1, i = (size_t)mix64(key) & mask;
    while (m->slot[i].key != UINT64_MAX && m->slot[i].key != key) i = (i + 1) & mask;
    if (m->slot[i].key == UINT64_MAX) m->n++;
    m->slot[i].key = key;
    m->slot[i].rank = rank;
    m->slot[i].id = id;
}

const pf_merge *pf_mergemap_get(const pf_mergemap *m, int32_t a, int32_t b)
{
    if (!m->cap) return NULL;
    uint64_t key = ((uint64_t)(uint32_t)a << 32) | (uint32_t)b;
    size_t mask = m->cap - 1, i = (size_t)mix64(key) & mask;
    while (m->slot[i].key != UINT64_MAX) {
        if (m->slot[i].key == key) return &m->slot[i];
        i = (i + 1) & mask;
    }
    return NULL;
}

void pf_mergemap_free(pf_mergemap *m)
{
    free(m->slot);
    m->slot = NULL;
    m->cap = m->n = 0;
}

/* ---------------------------------------------------------------- regexes */

/* Oniguruma (the reference's regex engine) reads \s as the Unicode White_Space property and \w as letters,
 * marks, decimal digits, connector punctuation and joiners; PCRE2's \s with UCP also matches U+180E and its \w
 * lacks the marks. Rewrite \s, \S and \w (in and outside classes) and \W (outside classes) as Oniguruma
 * reads them (Unicode TS #18: Alphabetic, marks, Nd, Pc, Join_Control). */
static char *rewrite_escapes(const char *p, size_t n, size_t *out_len)
{
    static const char WS[] = "\\p{White_Space}", NWS[] = "\\P{White_Space}";
    static const char W_IN[] = "\\p{Alphabetic}\\p{M}\\p{Nd}\\p{Pc}\\p{Join_Control}";
    char *o = malloc(n * 32 + 1);
    if (!o) return NULL;
    size_t k = 0;
    int in_class = 0;
    for (size_t i = 0; i < n; i++) {
        char ch = p[i];
        if (ch == '\\' && i + 1 < n) {
            char e = p[++i];
            const char *rep = NULL;
            if (e == 's') rep = WS;
            else if (e == 'S') rep = NWS;
            else if (e == 'w') rep = in_class ? W_IN : "[\\p{Alphabetic}\\p{M}\\p{Nd}\\p{Pc}\\p{Join_Control}]";
            else if (e == 'W' && !in_class) rep = "[^\\p{Alphabetic}\\p{M}\\p{Nd}\\p{Pc}\\p{Join_Control}]";
            if (rep) {
                memcpy(o + k, rep, strlen(rep));
                k += strlen(rep);
            } else {
                o[k++] = ch;
                o[k++] = e;
            }
            continue;
        }
        o[k++] = ch;
        if (!in_class && ch == '[') {
            in_class = 1;
            /* a ']' right after '[' or '[^' is a literal */
            if (i + 1 < n && p[i + 1] == '^') o[k++] = p[++i];
            if (i + 1 < n && p[i + 1] == ']') o[k++] = p[++i];
        } else if (in_class && ch == '[' && i + 1 < n && p[i + 1] == ':') {
            /* POSIX class [:name:] inside a class: copy through its ":]" */
            while (i + 1 < n && !(p[i] == ':' && p[i + 1] == ']')) o[k++] = p[++i];
            if (i + 1 < n) o[k++] = p[++i];
        } else if (in_class && ch == ']') {
            in_class = 0;
        }
    }
    o[k] = '\0';
    *out_len = k;
    return o;
}

int pf_regex_compile(pf_regex *re, const char *pattern, size_t len, int literal, const char *what)
{
    int err;
    PCRE2_SIZE off;
    re->src = malloc(len + 1);
    if (!re->src) return pf_enomem("regex");
    memcpy(re->src, pattern, len);
    re->src[len] = '\0';
    uint32_t opts = PCRE2_UTF | (literal ? PCRE2_LITERAL : PCRE2_UCP);
    size_t plen = len;
    char *rewritten = literal ? NULL : rewrite_escapes(pattern, len, &plen);
    if (!literal && !rewritten) {
        free(re->src);
        re->src = NULL;
        return pf_enomem("regex");
    }
    re->code = pcre2_compile((PCRE2_SPTR)(literal ? pattern : rewritten), plen, opts, &err, &off, NULL);
    free(rewritten);
    if (!re->code) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(err, msg, sizeof msg);
        int rc = pf_error(PROFS_EUNSUPPORTED, "%s: regex '%s' does not compile at offset %zu: %s", what, re->src,
                          (size_t)off, (const char *)msg);
        free(re->src);
        re->src = NULL;
        return rc;
    }
    (void)pcre2_jit_compile(re->code, PCRE2_JIT_COMPLETE); /* the interpreter serves when JIT is unavailable */
    return PROFS_OK;
}

void pf_regex_free(pf_regex *re)
{
    if (re->code) pcre2_code_free(re->code);
    free(re->src);
    re->code = NULL;
    re->src = NULL;
}
