/**
 * @file tokenizer.h
 * @brief Hugging Face `tokenizer.json` tokenizers (byte-level BPE and SentencePiece-style BPE),
 *        id for id with the Hugging Face tokenizers library.
 *
 * A tokenizer is read from a `tokenizer.json` file or from a model directory holding one (plus
 * `tokenizer_config.json` when present). Encoding runs the same pipeline as Hugging Face tokenizers:
 * added tokens are split out of the raw text, the remaining pieces are normalised, added tokens marked
 * `normalized` are split out of the normalised text, the rest is pre-tokenized and run through the BPE
 * model, and the post-processor adds its special tokens when asked. See docs/tokenizer.md for the
 * supported components and how bos/eos/pad/unk are found.
 *
 * A handle is immutable after profs_tokenizer_open(): every function here may be called from several
 * threads at the same time on one shared handle.
 */
#ifndef PROFS_TOKENIZER_H
#define PROFS_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/** An opened tokenizer (opaque). */
typedef struct profs_tokenizer profs_tokenizer;

/** Encode flag: let the post-processor add its special tokens (BOS, EOS, ...). */
#define PROFS_ENCODE_ADD_SPECIAL 1u
/** Encode flag: treat special-token text in the input as plain text (not split out as the special token). */
#define PROFS_ENCODE_SPECIAL_AS_TEXT 2u
/** Decode flag: leave special tokens out of the text. */
#define PROFS_DECODE_SKIP_SPECIAL 1u

/** Function twin of #PROFS_ENCODE_ADD_SPECIAL (for bindings). */
PROFS_API unsigned profs_encode_flag_add_special(void);
/** Function twin of #PROFS_ENCODE_SPECIAL_AS_TEXT (for bindings). */
PROFS_API unsigned profs_encode_flag_special_as_text(void);
/** Function twin of #PROFS_DECODE_SKIP_SPECIAL (for bindings). */
PROFS_API unsigned profs_decode_flag_skip_special(void);

/**
 * Open a tokenizer.
 * @param[out] out  the new tokenizer, set only on success; free with profs_tokenizer_free()
 * @param path      a `tokenizer.json` file, or a directory holding `tokenizer.json` (and optionally
 *                  `tokenizer_config.json`, read for bos_token / eos_token / pad_token / unk_token and
 *                  add_bos_token / add_eos_token)
 * @return PROFS_OK; PROFS_EINVAL (NULL argument); PROFS_EIO (file cannot be read); PROFS_EFORMAT
 *         (malformed JSON or field; the message names the file and the field); PROFS_EUNSUPPORTED (a
 *         model, normalizer, pre-tokenizer, post-processor or decoder type or option that libprofs does
 *         not implement; the message names it); PROFS_ENOMEM.
 * Thread-safety: may be called from any thread.
 */
PROFS_API PROFS_NODISCARD int profs_tokenizer_open(profs_tokenizer **out, const char *path);

/** Free a tokenizer. Accepts NULL. Pointers returned by profs_tokenizer_id_to_token() become invalid. */
PROFS_API void profs_tokenizer_free(profs_tokenizer *t);

/**
 * Encode UTF-8 text into token ids.
 * @param t         the tokenizer
 * @param text      UTF-8 text of @p len bytes (need not be NUL-terminated; may contain NUL); may be NULL when len is 0
 * @param len       length of @p text in bytes
 * @param flags     bitwise OR of PROFS_ENCODE_* flags
 * @param[out] ids  buffer for up to @p capacity ids; may be NULL when capacity is 0 (size query)
 * @param capacity  number of ids that fit in @p ids
 * @param[out] n_ids number of ids of the encoding (also when the buffer is too small)
 * @return PROFS_OK; PROFS_EBUFS when capacity < *n_ids (nothing useful is written then);
 *         PROFS_EFORMAT on invalid UTF-8 (the message gives the byte offset); PROFS_EINVAL; PROFS_ENOMEM.
 * A size query does the whole encoding, so querying first encodes twice. A buffer of len + 8 ids holds
 * the ids of nearly every text (at most one per byte of the normalized text, plus the post-processor's
 * few; only a normalizer that lengthens the text, such as NFKC on ligatures, can need more): pass one
 * and call again with *n_ids ids only on PROFS_EBUFS.
 * Thread-safety: safe on a shared handle from several threads at once.
 */
PROFS_API PROFS_NODISCARD int profs_tokenizer_encode(const profs_tokenizer *t, const char *text, size_t len,
                                                     unsigned flags, int32_t *ids, size_t capacity,
                                                     size_t *n_ids);

/**
 * Decode token ids into UTF-8 text (through the tokenizer's decoder, as Hugging Face tokenizers does).
 * @param t          the tokenizer
 * @param ids        @p n_ids token ids (may be NULL when n_ids is 0)
 * @param n_ids      number of ids
 * @param flags      bitwise OR of PROFS_DECODE_* flags
 * @param[out] text  buffer of @p capacity bytes that receives the text and a terminating NUL;
 *                   may be NULL when capacity is 0 (size query)
 * @param capacity   size of @p text in bytes
 * @param[out] len   length of the text in bytes, excluding the NUL (also when the buffer is too small)
 * @return PROFS_OK; PROFS_EBUFS when capacity < *len + 1; PROFS_EINVAL (an id out of range: the message
 *         names its index and value; or a NULL argument); PROFS_ENOMEM.
 * Thread-safety: safe on a shared handle from several threads at once.
 */
PROFS_API PROFS_NODISCARD int profs_tokenizer_decode(const profs_tokenizer *t, const int32_t *ids, size_t n_ids,
                                                     unsigned flags, char *text, size_t capacity, size_t *len);

/** Number of token ids: the largest id of the model vocabulary and the added tokens, plus one. */
PROFS_API size_t profs_tokenizer_vocab_size(const profs_tokenizer *t);

/**
 * The token string of @p id (an added token's content, or the model vocabulary's entry, as stored in
 * tokenizer.json: byte-level tokens use the byte-level alphabet, e.g. "Ġthe").
 * @return a NUL-terminated string valid until profs_tokenizer_free(); NULL when @p id is out of range or unused.
 */
PROFS_API const char *profs_tokenizer_id_to_token(const profs_tokenizer *t, int32_t id);

/**
 * The id of a token string (added tokens first, then the model vocabulary).
 * @param t         the tokenizer
 * @param token     NUL-terminated token string
 * @param[out] id   the id
 * @return PROFS_OK; PROFS_ENOTFOUND when there is no such token; PROFS_EINVAL on NULL arguments.
 */
PROFS_API int profs_tokenizer_token_to_id(const profs_tokenizer *t, const char *token, int32_t *id);

/** Beginning-of-sequence id, or -1 when the tokenizer has none (see docs/tokenizer.md for how it is found). */
PROFS_API int32_t profs_tokenizer_bos_id(const profs_tokenizer *t);
/** End-of-sequence id, or -1 when none. */
PROFS_API int32_t profs_tokenizer_eos_id(const profs_tokenizer *t);
/** Padding id, or -1 when none. */
PROFS_API int32_t profs_tokenizer_pad_id(const profs_tokenizer *t);
/** Unknown-token id, or -1 when none. */
PROFS_API int32_t profs_tokenizer_unk_id(const profs_tokenizer *t);

#ifdef __cplusplus
}
#endif
#endif /* PROFS_TOKENIZER_H */
