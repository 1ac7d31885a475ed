/* Internal: tokenizer entry points for the other parts of the library (lib/lm). */
#ifndef PF_TOK_API_H
#define PF_TOK_API_H

#include <stddef.h>
#include <stdint.h>

#include "profs/tokenizer.h"

/* profs_tokenizer_encode() into a malloc'ed array: one encoding pass, no size query. On success *ids
 * (free() it; NULL when *n is 0) and *n are set; on error nothing is allocated. Same errors. */
int pf_tokenizer_encode_alloc(const profs_tokenizer *t, const char *text, size_t len, unsigned flags,
                              int32_t **ids, size_t *n);

/* Open a tokenizer from the bytes of a tokenizer.json in memory (no
 * tokenizer_config.json); messages name `name`. For the fuzzer, which would
 * otherwise write every input to a file. Same errors as profs_tokenizer_open(). */
int pf_tokenizer_load_buffer(profs_tokenizer **out, const char *name, const char *json, size_t len);

#endif
