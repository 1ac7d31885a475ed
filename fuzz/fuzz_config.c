/* libFuzzer target: config.json, read by the model store (lib/io/config.c)
 * and interpreted by the runtime (lib/lm/arch.c) and the edit's architecture
 * against fixed tiny checkpoints of every family (tests/util/hfgen.h).
 * Input: one selector byte (the family), then the config.json. Opening must
 * succeed or fail with a message, never crash or leak; an accepted
 * configuration runs a two-token forward pass, which must succeed or fail
 * with a message.
 *   scripts/fuzz 60 config */
#include <stdint.h>
#include <sys/stat.h>

#include "fuzz_common.h"
#include "hfgen.h"
#include "profs/profs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const families[] = {"gpt2", "llama", "mistral", "opt", "gptj"};
#define N_FAM (sizeof families / sizeof *families)

/* fz/src/<family> (generated once) and fz/w<family>: links to its weights and tokenizer, config.json per input */
static const char *work_dir(size_t f)
{
    static int made[N_FAM];
    static char w[N_FAM][600];
    if (!made[f]) {
        char src[600], a[700], b[700];
        snprintf(src, sizeof src, "%s", fz_path(0, "src"));
        mkdir(src, 0755);
        snprintf(src, sizeof src, "%s/%s", fz_path(0, "src"), families[f]);
        if (hfgen_write(src, hfgen_fixture(families[f]))) abort();
        snprintf(w[f], sizeof w[f], "%s/w%s", fz_dir(), families[f]);
        if (mkdir(w[f], 0755)) abort();
        static const char *const keep[] = {"model.safetensors", "tokenizer.json"};
        for (int k = 0; k < 2; k++) {
            snprintf(a, sizeof a, "%s/%s", src, keep[k]);
            snprintf(b, sizeof b, "%s/%s", w[f], keep[k]);
            if (symlink(a, b)) abort();
        }
        made[f] = 1;
    }
    return w[f];
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    size_t f = data[0] % N_FAM;
    const char *d = work_dir(f);
    char cpath[700];
    snprintf(cpath, sizeof cpath, "%s/config.json", d);
    if (fz_write(cpath, data + 1, size - 1)) return 0;
    profs_model *m = NULL;
    if (profs_model_open(&m, d) != PROFS_OK) {
        if (!profs_last_error()[0]) abort();
        return 0;
    }
    int64_t iv;
    double dv;
    const char *sv;
    size_t n;
    static const char *const keys[] = {"model_type", "hidden_size", "n_embd", "num_hidden_layers", "n_layer",
                                       "num_attention_heads", "n_head", "rope_theta", "layer_norm_epsilon",
                                       "rms_norm_eps", "architectures", "tie_word_embeddings", "sliding_window"};
    for (size_t k = 0; k < sizeof keys / sizeof *keys; k++) {
        (void)profs_model_config_int(m, keys[k], &iv);
        (void)profs_model_config_float(m, keys[k], &dv);
        (void)profs_model_config_string(m, keys[k], &sv);
        if (profs_model_config_array_size(m, keys[k], &n) == PROFS_OK && n)
            (void)profs_model_config_array_string(m, keys[k], 0, &sv);
    }
    profs_lm *lm = NULL;
    if (profs_lm_open_model(&lm, m) == PROFS_OK) {
        size_t V = profs_lm_vocab_size(lm);
        float *lp = malloc((V ? V : 1) * sizeof *lp);
        int32_t ids[2] = {1, 2};
        int rc = lp && V > 2 ? profs_lm_next_logprobs(lm, lp, ids, 2) : PROFS_OK;
        if (rc != PROFS_OK && !profs_last_error()[0]) abort();
        free(lp);
        profs_lm_free(lm);
    } else if (!profs_last_error()[0]) {
        abort();
    }
    profs_model_free(m);
    return 0;
}
