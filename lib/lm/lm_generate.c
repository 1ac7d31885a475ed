/* profs_lm_generate: prompt prefill and token-by-token decoding over the KV cache. */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "lm/lm_internal.h"

struct last_ctx { float *dst; size_t V; };

static int last_cb(void *ud, size_t row, float *logits)
{
    struct last_ctx *c = ud;
    (void)row;
    memcpy(c->dst, logits, c->V * sizeof(float));
    return 0;
}

int profs_lm_generate(profs_lm *lm, int32_t *out, size_t capacity, size_t *n_out, const int32_t *prompt,
                      size_t n_prompt, size_t max_new, const profs_sampler *sampler, profs_token_fn on_token,
                      void *userdata)
{
    if (!lm || !n_out || (!out && max_new)) return pf_error(PROFS_EINVAL, "profs_lm_generate: NULL argument");
    *n_out = 0;
    if (capacity < max_new)
        return pf_error(PROFS_EINVAL, "generate: capacity %zu is less than max new tokens %zu", capacity, max_new);
    int rc = pf_lm_check_ids(lm, prompt, n_prompt, "generate prompt");
    if (rc) return rc;
    /* the last new token is never fed back, so positions up to n_prompt + max_new - 2 are used */
    if (max_new > 0 && n_prompt + max_new - 1 > lm->cfg.max_pos)
        return pf_error(PROFS_EINVAL, "generate: prompt (%zu) + new tokens (%zu) - 1 exceed the model's %zu "
                        "positions", n_prompt, max_new, lm->cfg.max_pos);
    if (max_new == 0) return 0;
    if ((rc = pf_lm_prepare(lm))) return rc;
    size_t D = lm->cfg.dim, V = lm->cfg.vocab;
    pf_kv kv;
    if ((rc = pf_kv_init(&kv, lm, n_prompt + max_new - 1))) return rc;
    /* Phi-3 recomputes the whole cache with the long rope factors when generation crosses
     * original_max_position_embeddings (transformers' Phi3ForCausalLM.prepare_inputs_for_generation) */
    const pf_rope_tab *rt = &lm->cfg.rope_tab;
    int recompute = lm->cfg.f.rope_recompute && rt->inv_long;
    size_t x_rows = recompute ? n_prompt + max_new : n_prompt;
    int32_t *all = recompute ? malloc((n_prompt + max_new) * sizeof(int32_t)) : NULL;
    if (recompute && !all) { pf_kv_free(&kv, lm->cfg.n_layers); return pf_enomem("generation"); }
    if (all) memcpy(all, prompt, n_prompt * sizeof(int32_t));
    float *x = malloc(x_rows * D * sizeof(float));
    float *logits = malloc(V * sizeof(float));
    struct pf_cand *cd = malloc(V * sizeof *cd);
    if (!x || !logits || !cd) { rc = pf_enomem("generation"); goto out; }
    pf_rng r;
    uint64_t seed = sampler ? sampler->seed : 0;
    for (int i = 0; i < 4; i++) r.s[i] = pf_splitmix64(&seed);
    const int32_t *in = prompt;
    size_t n_in = n_prompt;
    int32_t tok;
    for (size_t step = 0; step < max_new; step++) {
        if (recompute && kv.len > 0 && kv.len <= rt->original_max && kv.len + n_in >= rt->original_max + 1) {
            kv.len = 0;
            in = all;
            n_in = n_prompt + *n_out;
        }
        size_t start[2] = {0, n_in}, past = kv.len;
        pf_batch b = {1, start, &past};
        if ((rc = pf_lm_forward(lm, x, in, &b, &kv, NULL, NULL))) break;
        struct last_ctx lc = {logits, V};
        if ((rc = pf_lm_head(lm, x + (n_in - 1) * D, 1, last_cb, &lc))) break;
        tok = pf_sample(sampler, logits, V, cd, &r);
        out[(*n_out)++] = tok;
        if (all) all[n_prompt + *n_out - 1] = tok;
        if (on_token && on_token(userdata, tok)) break;
        if (lm->eos_id >= 0 && tok == lm->eos_id) break;
        in = &out[*n_out - 1];
        n_in = 1;
    }
out:
    pf_kv_free(&kv, lm->cfg.n_layers);
    free(all);
    free(x);
    free(logits);
    free(cd);
    return rc;
}
