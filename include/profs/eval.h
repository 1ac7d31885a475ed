/**
 * @file eval.h
 * @brief Evaluation as the ProFS paper measures it: the authors' perplexity
 *        protocol, batched continuation log-likelihoods (zero-shot multiple
 *        choice as lm-evaluation-harness scores it) and a sequence-classifier
 *        runtime for encoder checkpoints (the Detoxify toxicity models).
 *
 * Thread safety: as lm.h; a profs_classifier is used by one thread at a time.
 */
#ifndef PROFS_EVAL_H
#define PROFS_EVAL_H

#include "common.h"
#include "lm.h"
#include "tokenizer.h"

#ifdef __cplusplus
extern "C" {
#endif

/**
 * Perplexity exactly as the ProFS authors compute it (evaluation/evaluate_model.py,
 * `perplexity()`): windows [begin, min(begin + max_length, n)) for begin = 0,
 * stride, 2 stride, ... (stopping after the window that reaches the end); in
 * each window the last trg_len = end - previous end tokens are targets (the
 * window's first token never is); each window's mean NLL over its targets is
 * one sample, and the result is exp(mean of the windows' mean NLLs) — an
 * unweighted mean, unlike profs_lm_perplexity() (the weighting of the current
 * transformers guide).
 * @param[out] ppl       exp(mean over windows of the window mean NLL)
 * @param[out] mean_nll  that mean (may be NULL)
 * @param[out] n_windows number of windows (may be NULL)
 * @param ids        (n_ids) >= 2 ids
 * @param max_length window length, 2 .. max positions (0: the model's max positions)
 * @param stride     1 .. max_length (0: min(512, max_length)); a larger stride
 *                   would leave tokens unscored and is PROFS_EINVAL
 * @param progress   optional; stage "perplexity", done/total in windows
 * @return PROFS_OK, PROFS_EINVAL (named in the message), PROFS_ECANCELLED, PROFS_ENOMEM.
 */
PROFS_API PROFS_NODISCARD int profs_lm_perplexity_windows(profs_lm *lm, double *ppl, double *mean_nll,
        size_t *n_windows, const int32_t *ids, size_t n_ids, size_t max_length, size_t stride,
        profs_progress_fn progress, void *userdata);

/**
 * Log-likelihood of the last @p n_cont[s] tokens of each sequence given the
 * tokens before them, as lm-evaluation-harness's `_loglikelihood_tokens`:
 * the input is the sequence without its last token, left-truncated to the
 * model's max positions; ll[s] = sum of log-softmax(logits)[target] over the
 * scored tokens; greedy[s] = 1 when every scored token is the argmax.
 * Sequences are packed back to back into passes of at most the runtime's
 * batch_tokens tokens (each sequence attends only to itself, so nothing
 * depends on the other sequences and no padding exists).
 * @param[out] ll      (n) summed log-likelihoods
 * @param[out] greedy  (n) or NULL
 * @param ids     (n) arrays: context ids followed by continuation ids
 * @param lens    (n) their lengths, each >= 2
 * @param n_cont  (n) continuation lengths, 1 .. min(lens[s] - 1, max positions)
 * @param progress optional; stage "loglikelihood", done/total in sequences
 * @return PROFS_OK, PROFS_EINVAL (which sequence, which id), PROFS_ECANCELLED, PROFS_ENOMEM.
 */
PROFS_API PROFS_NODISCARD int profs_lm_loglikelihood(profs_lm *lm, double *ll, int *greedy,
        const int32_t *const *ids, const size_t *lens, const size_t *n_cont, size_t n,
        profs_progress_fn progress, void *userdata);

/* ---- sequence classifiers (encoders) ---- */

/** Opaque encoder sequence classifier. */
typedef struct profs_classifier profs_classifier;

/**
 * Open a Hugging Face sequence-classification checkpoint: config.json with
 * `architectures[0]` BertForSequenceClassification, RobertaForSequenceClassification
 * or XLMRobertaForSequenceClassification (model_type bert / roberta /
 * xlm-roberta), the safetensors weights and tokenizer.json (a WordPiece or
 * Unigram tokenizer). Every tensor is checked (name, shape, dtype) here.
 * tokenizer_config.json's `model_max_length`, when present and at most the
 * position table, is the default truncation length (else the number of
 * usable positions).
 * @return PROFS_OK; PROFS_EUNSUPPORTED (architecture, activation or
 *         position type named), PROFS_EFORMAT (config field), PROFS_ENOTFOUND
 *         (tensor or file), PROFS_ESHAPE, PROFS_EIO, PROFS_ENOMEM, tokenizer errors.
 */
PROFS_API PROFS_NODISCARD int profs_classifier_open(profs_classifier **out, const char *dir);
/** Free. Accepts NULL. */
PROFS_API void profs_classifier_free(profs_classifier *c);
/** Number of labels (config num_labels / id2label). */
PROFS_API size_t profs_classifier_n_labels(const profs_classifier *c);
/** Label @p i's name from id2label ("LABEL_i" when absent); NULL when out of range. Valid until free. */
PROFS_API const char *profs_classifier_label(const profs_classifier *c, size_t i);
/** Index of the label named @p name (exact match): PROFS_OK or PROFS_ENOTFOUND. */
PROFS_API int profs_classifier_label_index(const profs_classifier *c, const char *name, size_t *index);
/** "bert", "roberta" or "xlm-roberta". Valid until free. */
PROFS_API const char *profs_classifier_architecture(const profs_classifier *c);
/** The classifier's tokenizer (borrowed, valid until free). */
PROFS_API const profs_tokenizer *profs_classifier_tokenizer(const profs_classifier *c);
/** Truncation length in tokens, special tokens included. */
PROFS_API size_t profs_classifier_max_length(const profs_classifier *c);
/** Set the truncation length: 2 .. usable positions; else PROFS_EINVAL. */
PROFS_API int profs_classifier_set_max_length(profs_classifier *c, size_t tokens);
/**
 * 1: probabilities are sigmoid(logit) for every label (what Detoxify does);
 * 0 (default): as transformers' text-classification pipeline: sigmoid when
 * problem_type is multi_label_classification or there is one label, else softmax.
 */
PROFS_API int profs_classifier_set_sigmoid(profs_classifier *c, int always);
/** 1 when probabilities are sigmoids under the current setting, 0 for softmax. */
PROFS_API int profs_classifier_uses_sigmoid(const profs_classifier *c);
/** Most tokens per batched pass (default 8192); 0 is PROFS_EINVAL. */
PROFS_API int profs_classifier_set_batch_tokens(profs_classifier *c, size_t tokens);

/**
 * Raw logits of token sequences (ids as given, special tokens included).
 * Sequences are packed into passes of at most batch_tokens tokens; attention
 * never crosses sequences, so a result does not depend on the batch.
 * @param[out] logits (n x n_labels)
 * @param ids   (n) arrays of ids, each < vocabulary size
 * @param lens  (n) lengths, 1 .. usable positions
 * @return PROFS_OK, PROFS_EINVAL (sequence and index named), PROFS_ENOMEM.
 */
PROFS_API PROFS_NODISCARD int profs_classifier_logits(profs_classifier *c, float *logits,
        const int32_t *const *ids, const size_t *lens, size_t n);

/**
 * Probabilities of texts: tokenised with the tokenizer's template ([CLS] … [SEP]
 * or <s> … </s>), truncated to max_length (the end is cut, the closing special
 * token kept, as transformers' truncation=True), then as profs_classifier_logits()
 * followed by sigmoid or softmax.
 * @param[out] probs (n x n_labels)
 * @param progress optional; stage "classify", done/total in texts
 * @return as profs_classifier_logits(), PROFS_ECANCELLED, tokenizer errors.
 */
PROFS_API PROFS_NODISCARD int profs_classifier_classify(profs_classifier *c, float *probs,
        const char *const *texts, size_t n, profs_progress_fn progress, void *userdata);

#ifdef __cplusplus
}
#endif
#endif /* PROFS_EVAL_H */
