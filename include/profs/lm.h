/**
 * @file lm.h
 * @brief Built-in transformer runtime: Hugging Face checkpoints of the
 *        families in docs/runtime.md run on the CPU (f32 compute on OpenBLAS
 *        sgemm, or opt-in BF16 / int8 on Intel AMX: profs_lm_set_compute()),
 *        layer-streamed, batched.
 *
 * A profs_lm reads `config.json` (`model_type`, else `architectures[0]`),
 * checks every tensor it needs (name, shape, dtype F32/F16/BF16) when it is
 * opened, and computes exactly what the transformers modelling code computes
 * (see docs/runtime.md for the details per architecture).
 *
 * **Hidden-state convention.** For a model with L blocks the runtime exposes
 * L + 1 hidden states per token: entry 0 is the embedding output (token +
 * learned position embeddings for GPT-2 / OPT, after OPT's project_in), and
 * entry l (1 <= l <= L) is the raw output of block l - 1, i.e. the residual
 * stream after it. Unlike transformers' `output_hidden_states`, the last entry
 * has **no** final norm applied (GPT-2 / GPT-J `ln_f`, Llama `model.norm`,
 * OPT `final_layer_norm` / `project_out`); the first L entries are identical.
 * ProFS collects entries 1..L: collector layer l - 1 is the output of block
 * l - 1 (so a collector for a profs_lm has n_layers = L).
 *
 * **Memory.** Weights stay memory-mapped; one block at a time is converted to
 * f32 (F32 weights are used in place; under profs_lm_set_compute() BF16 weights
 * are used in place and others become two BF16 halves or int8 rows), used for
 * every token of the batch and dropped, and its mapped pages are released. Peak memory is about one
 * block's f32 weights plus the activations of one batch, which
 * profs_lm_set_batch_tokens() bounds. Models whose f32 weights fit in
 * profs_lm_set_resident_bytes() keep them converted between calls instead.
 *
 * Thread safety: a profs_lm may be used by one thread at a time (options and
 * forward calls are not synchronised). Different handles are independent.
 * OpenBLAS decides the number of threads of the matrix products
 * (OPENBLAS_NUM_THREADS); the reduced-precision kernels of
 * profs_lm_set_compute() use as many threads as OpenBLAS would.
 */
#ifndef PROFS_LM_H
#define PROFS_LM_H

#include "collector.h"
#include "common.h"
#include "model.h"
#include "tokenizer.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Opaque transformer runtime. */
typedef struct profs_lm profs_lm;

/**
 * Open a Hugging Face model directory: config.json, the safetensors weights
 * (single file or sharded with model.safetensors.index.json) and, when
 * present, tokenizer.json. A tokenizer.json that cannot be opened does not
 * fail the call (runs from token ids still work): the text functions then
 * return PROFS_ESTATE with the tokenizer's error in the message.
 * @param[out] out  the new runtime (set only on success)
 * @param dir       the model directory
 * @return PROFS_OK; PROFS_EUNSUPPORTED (architecture or option the runtime does
 *         not implement, named in the message), PROFS_EFORMAT (bad or missing
 *         config.json field), PROFS_ENOTFOUND (a needed tensor is missing),
 *         PROFS_ESHAPE (a tensor has the wrong shape), PROFS_EIO, PROFS_ENOMEM,
 *         or an error of profs_model_open / the tokenizer.
 */
PROFS_API PROFS_NODISCARD int profs_lm_open(profs_lm **out, const char *dir);

/**
 * Open a runtime over an already open tensor store (with its config.json).
 * No tokenizer is attached (see profs_lm_set_tokenizer()).
 * @param[out] out  the new runtime
 * @param model     borrowed: must stay open until profs_lm_free(*out); the
 *                  runtime only reads it (and releases mapped pages)
 * @return as profs_lm_open().
 */
PROFS_API PROFS_NODISCARD int profs_lm_open_model(profs_lm **out, profs_model *model);

/** Free the runtime (and the store and tokenizer it opened itself). Accepts NULL. */
PROFS_API void profs_lm_free(profs_lm *lm);

/** Number of transformer blocks L. */
PROFS_API size_t profs_lm_n_layers(const profs_lm *lm);
/** Hidden size D (width of every hidden state). */
PROFS_API size_t profs_lm_hidden_size(const profs_lm *lm);
/** Number of logits per position (rows of the head). */
PROFS_API size_t profs_lm_vocab_size(const profs_lm *lm);
/** Maximum number of positions (config max_position_embeddings / n_positions). */
PROFS_API size_t profs_lm_max_positions(const profs_lm *lm);
/** The config's model_type: "gpt2", "mistral", "llama", "opt" or "gptj". Valid until profs_lm_free. */
PROFS_API const char *profs_lm_architecture(const profs_lm *lm);
/** The underlying tensor store (borrowed, valid until profs_lm_free). */
PROFS_API profs_model *profs_lm_model(const profs_lm *lm);

/** The attached tokenizer, or NULL (borrowed, valid until profs_lm_free or the next set_tokenizer). */
PROFS_API const profs_tokenizer *profs_lm_tokenizer(const profs_lm *lm);
/**
 * Attach a tokenizer (borrowed: must outlive the runtime or the next call);
 * NULL detaches. A tokenizer the runtime opened itself is freed.
 */
PROFS_API int profs_lm_set_tokenizer(profs_lm *lm, const profs_tokenizer *tok);

/* ---- options ---- */

/**
 * Most tokens that go through the blocks together in one pass over the
 * weights (default 8192). Bounds activation memory: about
 * tokens x (4 D + 2 kv_dim) floats plus a fixed 512-row MLP scratch.
 * A longer single sequence still forms its own pass. 0 is PROFS_EINVAL.
 */
PROFS_API int profs_lm_set_batch_tokens(profs_lm *lm, size_t tokens);
/** Tokenisation limit of collection and pooling (default 128 tokens, truncating the end). 0 is PROFS_EINVAL. */
PROFS_API int profs_lm_set_max_length(profs_lm *lm, size_t tokens);
/** 1: leave the first token out of the mean when the tokenizer added a BOS there (default 0). */
PROFS_API int profs_lm_set_pool_skip_bos(profs_lm *lm, int skip);
/**
 * Keep all blocks' converted f32 weights between calls when they need at most
 * @p bytes (default 1 GiB); larger models stream every call.
 */
PROFS_API int profs_lm_set_resident_bytes(profs_lm *lm, size_t bytes);

/* ---- forward ---- */

/**
 * Hidden states of one sequence, given as token ids (no BOS is added).
 * @param[out] out  ((L + 1) x n_ids x D) floats: entry 0 the embedding
 *                  output, entry l the raw output of block l - 1 (no final norm)
 * @param ids       (n_ids) token ids, each < vocab size
 * @param n_ids     1 .. max positions
 * @return PROFS_OK, PROFS_EINVAL (bad id or length; message names it), PROFS_ENOMEM.
 */
PROFS_API PROFS_NODISCARD int profs_lm_hidden_states(profs_lm *lm, float *out,
                                                     const int32_t *ids, size_t n_ids);

/**
 * Mean-pooled block outputs of many sequences, computed in batches of whole
 * sequences (no padding: a result does not depend on the other sequences).
 * @param[out] out   (n_seqs x L x D): out[s][l] = mean over the tokens of
 *                   sequence s of the output of block l (optionally without
 *                   token 0, see @p skip_first)
 * @param ids        (n_seqs) arrays of token ids, used as given
 * @param lens       (n_seqs) lengths, each >= 1 (>= 2 with skip_first)
 * @param skip_first 1: leave token 0 out of every mean
 * @param progress   optional; stage "forward", done/total in tokens
 * @return PROFS_OK, PROFS_EINVAL, PROFS_ECANCELLED, PROFS_ENOMEM.
 */
PROFS_API PROFS_NODISCARD int profs_lm_pool_ids(profs_lm *lm, float *out,
        const int32_t *const *ids, const size_t *lens, size_t n_seqs, int skip_first,
        profs_progress_fn progress, void *userdata);

/**
 * Mean-pooled block outputs of preference pairs, each pair's common token
 * prefix computed once (unless profs_lm_set_prefix_sharing() turned it off).
 * Causal attention makes the hidden states of the longest common run of ids at
 * the start of both sentences (the prefix, BOS included; it may be empty)
 * identical in both: it goes through the blocks once, and the two suffixes
 * attend to its keys and values, batched as today. Each sentence's mean is
 * its prefix rows' sum plus its suffix rows' sum over its length, so the
 * result equals profs_lm_pool_ids() of the 2 n_pairs sentences up to float
 * rounding of the products (docs/runtime.md). Pairs are packed into passes of
 * at most batch_tokens computed tokens (prefix once + both suffixes).
 * @param[out] out                  (2 n_pairs x L x D): row 2i pair i's first
 *                                  sentence, row 2i + 1 its second
 * @param[out] prefix_tokens_saved  optional: tokens not computed (the sum of the
 *                                  pairs' common prefix lengths; 0 when off)
 * @param ids        (2 n_pairs) arrays of token ids: 2i and 2i + 1 are pair i
 * @param lens       (2 n_pairs) lengths, each >= 1 (>= 2 with skip_first)
 * @param skip_first 1: leave token 0 out of every mean
 * @param progress   optional; stage "forward", done/total in sentence tokens
 * @return PROFS_OK, PROFS_EINVAL (the message names pair and sentence),
 *         PROFS_ECANCELLED, PROFS_ENOMEM.
 */
PROFS_API PROFS_NODISCARD int profs_lm_pool_pairs(profs_lm *lm, float *out, uint64_t *prefix_tokens_saved,
        const int32_t *const *ids, const size_t *lens, size_t n_pairs, int skip_first,
        profs_progress_fn progress, void *userdata);

/**
 * Compute each pair's common token prefix once in profs_lm_pool_pairs() and
 * profs_lm_collect() (1, the default) or run every sentence whole (0).
 */
PROFS_API int profs_lm_set_prefix_sharing(profs_lm *lm, int on);

/** Compute modes of the blocks' matrix products (profs_lm_set_compute()). */
enum profs_compute {
    /** f32 on OpenBLAS sgemm: the default, on every processor. */
    PROFS_COMPUTE_F32 = 0,
    /** Weights and activations rounded to BF16 (nearest even), products summed in f32, on
     *  Intel AMX-BF16 tiles (instruction sets amx_tile and amx_bf16). */
    PROFS_COMPUTE_BF16 = 1,
    /** Weights and activations quantised to int8 with one scale per weight row and per token
     *  (symmetric, max-abs / 127), products summed exactly in int32, on Intel AMX-INT8 tiles
     *  (amx_tile and amx_int8), else AVX512-VNNI, else AVX-VNNI (the same result bit for bit). */
    PROFS_COMPUTE_INT8 = 2
};

/**
 * Choose how the blocks' matrix products are computed (default
 * PROFS_COMPUTE_F32). The reduced-precision modes change the results by their
 * rounding (docs/runtime.md measures what they do to an edit's subspaces);
 * attention scores, norms, activations, the MoE router, the embedding and the
 * head stay f32 in every mode. A BF16 checkpoint's matrices are multiplied
 * straight from the mapping in BF16 mode; other weights are converted as each
 * block is loaded. Changing the mode drops resident converted weights.
 * The instruction sets are read from the processor at run time, less those
 * named in the environment variable PROFS_DISABLE_ISA (comma-separated
 * lscpu-style names such as `amx_bf16`, for tests and diagnosis).
 * @param mode  a #profs_compute
 * @return PROFS_OK; PROFS_EUNSUPPORTED when this processor (or operating
 *         system) cannot run the mode, the message naming the instruction set
 *         it lacks; PROFS_EINVAL for another value.
 */
PROFS_API int profs_lm_set_compute(profs_lm *lm, int mode);
/** The current #profs_compute mode. */
PROFS_API int profs_lm_compute(const profs_lm *lm);
/** "f32", "bf16" or "int8" (NULL for another value): the names the tool's --compute takes. */
PROFS_API const char *profs_compute_name(int mode);
/** What runs the current mode's products: "OpenBLAS sgemm", "AMX-BF16 tiles", "AMX-INT8 tiles",
 *  "AVX512-VNNI" or "AVX-VNNI". */
PROFS_API const char *profs_lm_compute_kernel(const profs_lm *lm);

/**
 * Tokenise a text as collection does: with the tokenizer's special tokens
 * (BOS where its post-processor adds one), truncated to max_length.
 * @param[out] ids  (capacity) ids
 * @param[out] n    number written (or needed, with PROFS_EBUFS)
 * @return PROFS_OK, PROFS_ESTATE (no tokenizer), PROFS_EBUFS, tokenizer errors.
 */
PROFS_API PROFS_NODISCARD int profs_lm_tokenize(const profs_lm *lm, int32_t *ids, size_t capacity,
                                                size_t *n, const char *text);

/**
 * Pooled embeddings of texts (tokenised with profs_lm_tokenize()).
 * @param[out] out  (n_texts x L x D)
 * @param progress  optional; stage "collect", done/total in sentences
 */
PROFS_API PROFS_NODISCARD int profs_lm_pool_texts(profs_lm *lm, float *out,
        const char *const *texts, size_t n_texts, profs_progress_fn progress, void *userdata);

/**
 * Collect preference pairs: tokenise, forward, mean-pool every block output
 * and add each pair to @p collector (which must have n_layers = L and dim = D).
 * Sentences are processed in passes of at most batch_tokens tokens, each pair's
 * common token prefix computed once (see profs_lm_pool_pairs(); off with
 * profs_lm_set_prefix_sharing()).
 * @param preferred     (n_pairs) texts
 * @param dispreferred  (n_pairs) texts
 * @param progress      optional; stage "collect", done/total in sentences
 *                      (2 per pair); non-zero cancels (pairs added so far stay)
 * @return PROFS_OK, PROFS_ESTATE (no tokenizer), PROFS_ESHAPE (collector size),
 *         PROFS_ECANCELLED, PROFS_EINVAL (empty text), PROFS_ENOMEM, collector errors.
 */
PROFS_API PROFS_NODISCARD int profs_lm_collect(profs_lm *lm, profs_collector *collector,
        const char *const *preferred, const char *const *dispreferred, size_t n_pairs,
        profs_progress_fn progress, void *userdata);

/**
 * Logits at every position of one sequence: final norm + head (raw scores).
 * @param[out] logits (n_ids x V)
 */
PROFS_API PROFS_NODISCARD int profs_lm_logits(profs_lm *lm, float *logits,
                                              const int32_t *ids, size_t n_ids);

/**
 * Log-probabilities of the token after @p ids (log-softmax of the last logits).
 * @param[out] logprobs (V)
 */
PROFS_API PROFS_NODISCARD int profs_lm_next_logprobs(profs_lm *lm, float *logprobs,
                                                     const int32_t *ids, size_t n_ids);

/**
 * Perplexity of a token sequence with a sliding window, exactly as the
 * transformers "Perplexity of fixed-length models" guide: windows
 * [begin, min(begin + max_length, n)) for begin = 0, stride, 2 stride, ...
 * (stopping after the window that reaches the end); in each window only the
 * last trg_len = end - previous end tokens are targets; the window's mean NLL
 * is weighted by (its number of targets - 1), as the guide does.
 * @param[out] ppl       exp(mean NLL)
 * @param[out] mean_nll  the weighted mean NLL (may be NULL)
 * @param ids        (n_ids) >= 2 ids
 * @param max_length window length (0: the model's max positions)
 * @param stride     1 .. max_length (0: max_length)
 * @param progress   optional; stage "perplexity", done/total in windows
 */
PROFS_API PROFS_NODISCARD int profs_lm_perplexity(profs_lm *lm, double *ppl, double *mean_nll,
        const int32_t *ids, size_t n_ids, size_t max_length, size_t stride,
        profs_progress_fn progress, void *userdata);

/* ---- generation ---- */

/** Sampling settings for profs_lm_generate(). */
typedef struct profs_sampler profs_sampler;

/** New settings: greedy (temperature 0), top_k 0 (off), top_p 1 (off), seed 0. */
PROFS_API PROFS_NODISCARD int profs_sampler_new(profs_sampler **out);
/** Free settings. Accepts NULL. */
PROFS_API void profs_sampler_free(profs_sampler *s);
/** Temperature >= 0; 0 means greedy (argmax, lowest id on ties). */
PROFS_API int profs_sampler_set_temperature(profs_sampler *s, double temperature);
/** Keep the k most likely tokens (0: all). */
PROFS_API int profs_sampler_set_top_k(profs_sampler *s, size_t k);
/** Keep the smallest set of most likely tokens whose probability reaches p (0 < p <= 1). */
PROFS_API int profs_sampler_set_top_p(profs_sampler *s, double p);
/** Seed of the sampler's own PRNG (xoshiro256**; same seed, same tokens on every platform). */
PROFS_API int profs_sampler_set_seed(profs_sampler *s, uint64_t seed);

/**
 * Called with every generated token; non-zero return stops generation (not an error).
 */
typedef int (*profs_token_fn)(void *userdata, int32_t token);

/**
 * Generate up to @p max_new tokens after a prompt, with a KV cache.
 * Stops early at the tokenizer's EOS id (when a tokenizer is attached and has one).
 * @param[out] out      (capacity) generated ids (the prompt is not repeated)
 * @param[out] n_out    number generated
 * @param prompt        (n_prompt) >= 1 ids
 * @param sampler       settings, NULL for greedy
 * @param on_token      optional streaming callback
 * @return PROFS_OK, PROFS_EINVAL (capacity < max_new, bad ids, n_prompt + max_new - 1
 *         over max positions: the last new token is never fed back), PROFS_ENOMEM.
 */
PROFS_API PROFS_NODISCARD int profs_lm_generate(profs_lm *lm, int32_t *out, size_t capacity,
        size_t *n_out, const int32_t *prompt, size_t n_prompt, size_t max_new,
        const profs_sampler *sampler, profs_token_fn on_token, void *userdata);

#ifdef __cplusplus
}
#endif
#endif /* PROFS_LM_H */
