/* Internal: the tokenizer's data structures, shared by the loader (tok_load.c), the encoder
 * (tok_encode.c), the decoder (tok_decode.c) and the helpers (tok_util.c).
 *
 * A profs_tokenizer is immutable after loading; every per-call state lives in a pf_tok_ctx on the
 * caller's stack, so one handle can serve several threads. */
#ifndef PF_TOK_INTERNAL_H
#define PF_TOK_INTERNAL_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stddef.h>
#include <stdint.h>

#include "profs/tokenizer.h"

/* ---- growable buffers ---- */
typedef struct { char *p; size_t n, cap, max; } pf_sbuf;     /* bytes; max > 0: n never exceeds it */
int pf_sbuf_reserve(pf_sbuf *b, size_t extra);                /* room for extra more bytes (PROFS_EUNSUPPORTED past max) */
int pf_sbuf_append(pf_sbuf *b, const void *s, size_t n);
void pf_sbuf_free(pf_sbuf *b);

typedef struct { int32_t *p; size_t n, cap; } pf_ibuf;        /* int32 values */
int pf_ibuf_push(pf_ibuf *b, int32_t v);
void pf_ibuf_free(pf_ibuf *b);

/* ---- UTF-8 ---- */
/* Length of the valid UTF-8 sequence at s[0..n) (1..4), or 0 when it is not valid. */
size_t pf_utf8_valid_len(const unsigned char *s, size_t n);
/* Offset of the first invalid byte, or n when all of s is valid UTF-8. */
size_t pf_utf8_check(const char *s, size_t n);
/* Decode the character at s (valid UTF-8 assumed); *len receives its length. */
uint32_t pf_utf8_decode(const char *s, size_t *len);
/* Encode cp into out (4 bytes room); returns the length. */
size_t pf_utf8_encode(uint32_t cp, char *out);
/* Append s to b replacing each maximal invalid subsequence by U+FFFD (Rust's from_utf8_lossy). */
int pf_utf8_append_lossy(pf_sbuf *b, const char *s, size_t n);
/* Rust's char::is_whitespace (the Unicode White_Space property). */
int pf_is_whitespace(uint32_t cp);
/* Rust's char::is_numeric (general categories Nd, Nl, No). */
int pf_is_numeric(uint32_t cp);
/* ASCII punctuation (Rust's is_ascii_punctuation) or a Unicode punctuation category (Pc..Po). */
int pf_is_punct(uint32_t cp);
/* Rust's char::is_alphanumeric (letters and numbers). */
int pf_is_alnum(uint32_t cp);

/* ---- byte-level alphabet (GPT-2) ---- */
extern const uint16_t pf_byte_to_cp[256];                     /* byte -> code point */
int pf_cp_to_byte(uint32_t cp);                               /* code point -> byte, or -1 */

/* ---- string -> id hash map (keys are borrowed) ---- */
typedef struct {
    const char **key;  /* (cap) */
    uint32_t *klen;    /* (cap) */
    int32_t *val;      /* (cap); -1 = empty slot */
    size_t cap, n;     /* cap a power of two */
} pf_strmap;
int pf_strmap_init(pf_strmap *m, size_t expected);
int pf_strmap_put(pf_strmap *m, const char *k, size_t klen, int32_t v); /* replaces an existing key */
int32_t pf_strmap_get(const pf_strmap *m, const char *k, size_t klen);  /* -1 when absent */
void pf_strmap_free(pf_strmap *m);

/* ---- (left id, right id) -> (rank, merged id) ---- */
typedef struct { uint64_t key; uint32_t rank; int32_t id; } pf_merge;
typedef struct { pf_merge *slot; size_t cap, n; } pf_mergemap;
int pf_mergemap_init(pf_mergemap *m, size_t expected);
void pf_mergemap_put(pf_mergemap *m, int32_t a, int32_t b, uint32_t rank, int32_t id);
const pf_merge *pf_mergemap_get(const pf_mergemap *m, int32_t a, int32_t b);
void pf_mergemap_free(pf_mergemap *m);

/* ---- regex (PCRE2, UTF + UCP, JIT when available) ---- */
typedef struct { pcre2_code *code; char *src; } pf_regex;
/* Compile a pattern; what names it in error messages. */
int pf_regex_compile(pf_regex *re, const char *pattern, size_t len, int literal, const char *what);
void pf_regex_free(pf_regex *re);

/* ---- pipeline components ---- */
enum pf_norm_kind { PF_NORM_PREPEND, PF_NORM_REPLACE, PF_NORM_NFC, PF_NORM_NFD, PF_NORM_NFKC, PF_NORM_NFKD,
                    PF_NORM_LOWERCASE, PF_NORM_STRIP, PF_NORM_STRIP_ACCENTS,
                    PF_NORM_BERT_CLEAN,     /* BertNormalizer clean_text: drop NUL, U+FFFD and controls; whitespace -> ' ' */
                    PF_NORM_BERT_CHINESE,   /* BertNormalizer handle_chinese_chars: ' ' around each CJK ideograph */
                    PF_NORM_STRIP_MN };     /* BertNormalizer strip_accents (after NFD): drop nonspacing marks (Mn) */
typedef struct {
    int kind;
    char *str; size_t str_len;       /* Prepend: the text; Replace: the content */
    pf_regex re; int has_re;         /* Replace: the pattern */
    int left, right;                 /* Strip */
} pf_norm;

enum pf_behavior { PF_REMOVED, PF_ISOLATED, PF_MERGED_PREV, PF_MERGED_NEXT, PF_CONTIGUOUS };
enum pf_pre_kind { PF_PRE_BYTELEVEL, PF_PRE_SPLIT, PF_PRE_METASPACE, PF_PRE_DIGITS, PF_PRE_WHITESPACE,
                   PF_PRE_WHITESPACE_SPLIT, PF_PRE_PUNCTUATION, PF_PRE_CHAR_DELIMITER };
enum pf_prepend { PF_PREPEND_ALWAYS, PF_PREPEND_FIRST, PF_PREPEND_NEVER };
typedef struct {
    int kind;
    int add_prefix_space, use_regex; /* ByteLevel */
    pf_regex re; int has_re;         /* ByteLevel (GPT-2 regex), Split, Whitespace */
    int behavior, invert;            /* Split; Punctuation (behavior) */
    char rep[5]; size_t rep_len;     /* Metaspace replacement character (UTF-8) */
    uint32_t rep_cp;                 /* Metaspace replacement; CharDelimiterSplit delimiter */
    int prepend, split;              /* Metaspace */
    int individual;                  /* Digits */
} pf_pre;

enum pf_dec_kind { PF_DEC_BYTELEVEL, PF_DEC_METASPACE, PF_DEC_REPLACE, PF_DEC_BYTEFALLBACK, PF_DEC_FUSE,
                   PF_DEC_STRIP, PF_DEC_BPE_SUFFIX,
                   PF_DEC_WORDPIECE };      /* pat: the prefix; start: cleanup */
typedef struct {
    int kind;
    char *pat; size_t pat_len;       /* Replace: literal pattern; BPEDecoder: suffix */
    pf_regex re; int has_re;         /* Replace with a Regex pattern */
    char *content; size_t content_len;
    char rep[5]; size_t rep_len;     /* Metaspace */
    int prepend;                     /* Metaspace */
    uint32_t strip_cp; size_t start, stop; /* Strip */
} pf_dec;

typedef struct {
    char *content; size_t len;       /* as in tokenizer.json */
    char *match; size_t match_len;   /* what is searched: content, normalised when `normalized` */
    int32_t id;
    int special, lstrip, rstrip, single_word, normalized;
} pf_added;

/* A set of added tokens searched leftmost-longest (as aho-corasick LeftmostLongest). */
typedef struct {
    const pf_added **tok;   /* (n) sorted by first byte, then by decreasing length */
    size_t n;
    uint32_t first[257];    /* tokens starting with byte b: tok[first[b] .. first[b+1]) */
} pf_addset;

enum pf_model_kind { PF_MODEL_BPE, PF_MODEL_WORDPIECE, PF_MODEL_UNIGRAM };

struct profs_tokenizer {
    char *path;                    /* the tokenizer.json file (for messages) */
    /* ids */
    size_t n_ids;                  /* largest id + 1 */
    char **tok;                    /* (n_ids) token string of each id (added tokens win), NULL = unused */
    uint32_t *tok_len;             /* (n_ids) */
    uint8_t *tok_special;          /* (n_ids) 1 = a special added token */
    char **model_tok;              /* (n_ids) the model vocabulary's string of each id, NULL = none */
    /* model */
    int model_kind;                /* PF_MODEL_BPE, PF_MODEL_WORDPIECE or PF_MODEL_UNIGRAM */
    size_t wp_max_chars;           /* WordPiece max_input_chars_per_word */
    double *uni_score;             /* Unigram: (n_ids) piece scores */
    double uni_min_score;          /* Unigram: the lowest score (the unknown piece scores it - 10) */
    size_t uni_max_len;            /* Unigram: longest piece in bytes */
    /* model: BPE */
    pf_strmap vocab;               /* model vocabulary: string -> id */
    pf_mergemap merges;
    int ignore_merges, byte_fallback, fuse_unk;
    int meta_split;                /* U+2581 only ever starts tokens (and runs of it): long words split there */
    int32_t model_unk;             /* model.unk_token's id, or -1 */
    char *unk_token;               /* model.unk_token (may be absent from the vocabulary) */
    char *cont_prefix; size_t cont_prefix_len; /* continuing_subword_prefix, NULL = none */
    char *word_suffix; size_t word_suffix_len; /* end_of_word_suffix, NULL = none */
    int32_t byte_id[256];          /* byte fallback: id of <0xNN>, -1 when missing */
    int32_t small_cp_id[512];      /* id of the one-character token U+0000..U+01FF (-1 none): BPE fast path */
    /* added tokens */
    pf_added *added; size_t n_added;
    pf_strmap added_map;           /* content -> id */
    pf_addset set_raw;             /* normalized = false: searched in the raw text */
    pf_addset set_norm;            /* normalized = true: searched in the normalised text */
    pf_regex word_re;              /* word characters for single_word tokens (compiled when one exists) */
    /* pipeline */
    pf_norm *norm; size_t n_norm;
    pf_pre *pre; size_t n_pre;
    int32_t *post_pre; size_t n_post_pre;   /* ids the post-processor puts before the sequence */
    int32_t *post_post; size_t n_post_post; /* ... and after it */
    pf_dec *dec; size_t n_dec; int has_decoder;
    int has_regex;                 /* any regex in the encode pipeline (needs a match context) */
    /* well-known ids */
    int32_t bos, eos, pad, unk;
};

/* A tokenizer.json equivalent of a directory's vocab.json + merges.txt (tok_slow.c); NULL + *rc on error. */
struct json_t;
struct json_t *pf_tok_from_slow_files(const char *dir, struct json_t *cfg, const char *vocab_file, int *rc);

/* Loader (tok_load.c). */
int pf_tokenizer_load(profs_tokenizer **out, const char *path);
void pf_tokenizer_destroy(profs_tokenizer *t);
/* Normalise s with the tokenizer's normalizers, appending to out (used for normalized added tokens too). */
int pf_tok_normalize(const profs_tokenizer *t, const char *s, size_t n, pf_sbuf *out);
/* Build the leftmost-longest search sets (tok_encode.c). */
int pf_addset_build(pf_addset *set, const pf_added *tok, size_t n, int want_normalized);
void pf_addset_free(pf_addset *set);

/* Encoder and decoder: append ids / text. */
int pf_tok_encode(const profs_tokenizer *t, const char *text, size_t len, unsigned flags, pf_ibuf *out);
int pf_tok_decode(const profs_tokenizer *t, const int32_t *ids, size_t n, unsigned flags, pf_sbuf *out);

#endif
