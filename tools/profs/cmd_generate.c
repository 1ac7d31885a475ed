/* profs generate: continue a prompt with the built-in runtime (greedy or sampled, KV cache). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "profs/profs.h"
#include "profs/tokenizer.h"
#include "tool.h"
#include "util.h"

static const char help[] =
    "usage: profs generate --model DIR --prompt STRING [--max-new-tokens N] [--temperature T]\n"
    "                      [--top-k K] [--top-p P] [--seed S]\n"
    "\n"
    "Continue the prompt (tokenised with the tokenizer's special tokens) and print\n"
    "the prompt with its continuation. Greedy by default; --temperature > 0 samples\n"
    "(then --top-k and --top-p filter, in that order) with a seeded generator that\n"
    "gives the same text for the same seed everywhere. Stops at the tokenizer's EOS.\n"
    "\n"
    "options:\n"
    "  --model DIR          model directory (config.json, safetensors, tokenizer.json)\n"
    "  --prompt STRING      the prompt\n"
    "  --max-new-tokens N   tokens to generate at most (default 32)\n"
    "  --temperature T      0 = greedy (default 0)\n"
    "  --top-k K            keep the K most likely tokens (default 0 = all)\n"
    "  --top-p P            nucleus sampling threshold in (0, 1] (default 1)\n"
    "  --seed S             sampler seed (default 0)\n"
    "\n"
    "exit status: 0 ok, 1 failure, 2 usage error\n";

int cmd_generate(int argc, char **argv)
{
    const char *model = NULL, *prompt = NULL;
    size_t max_new = 32, top_k = 0;
    double temperature = 0, top_p = 1;
    int64_t seed = 0;
    const struct tool_opt opts[] = {
        {"model", OPT_STRING, &model, 1, NULL},
        {"prompt", OPT_STRING, &prompt, 1, NULL},
        {"max-new-tokens", OPT_SIZE, &max_new, 0, NULL},
        {"temperature", OPT_DOUBLE, &temperature, 0, NULL},
        {"top-k", OPT_SIZE, &top_k, 0, NULL},
        {"top-p", OPT_DOUBLE, &top_p, 0, NULL},
        {"seed", OPT_INT64, &seed, 0, NULL},
    };
    int rc = tool_parse(argv[0], help, argc, argv, opts, sizeof opts / sizeof opts[0]);
    if (rc >= 0) return rc;
    if (temperature < 0) return tool_usage_error(argv[0], "--temperature must be >= 0");
    if (!(top_p > 0 && top_p <= 1)) return tool_usage_error(argv[0], "--top-p must be in (0, 1]");
    profs_lm *lm = NULL;
    profs_sampler *s = NULL;
    int32_t *ids = NULL;
    char *text = NULL;
    int status = EXIT_FAIL;
    if ((rc = profs_lm_open(&lm, model))) { tool_fail_lib(rc, model); goto out; }
    const profs_tokenizer *tok = profs_lm_tokenizer(lm);
    if (!tok) { fprintf(stderr, "profs: %s: no tokenizer.json\n", model); goto out; }
    size_t maxpos = profs_lm_max_positions(lm), n = 0;
    ids = malloc((maxpos + max_new + 1) * sizeof *ids);
    if (!ids) { fprintf(stderr, "profs: out of memory\n"); goto out; }
    if ((rc = profs_lm_set_max_length(lm, maxpos)) || (rc = profs_lm_tokenize(lm, ids, maxpos, &n, prompt))) {
        tool_fail_lib(rc, "tokenizing --prompt");
        goto out;
    }
    if (n == 0) { fprintf(stderr, "profs: the prompt has no tokens\n"); goto out; }
    if (max_new > 0 && n + max_new - 1 > maxpos) { /* the last new token is never fed back */
        fprintf(stderr, "profs: prompt (%zu tokens) + --max-new-tokens %zu - 1 exceed the model's %zu positions\n",
                n, max_new, maxpos);
        goto out;
    }
    if ((rc = profs_sampler_new(&s)) || (rc = profs_sampler_set_temperature(s, temperature)) ||
        (rc = profs_sampler_set_top_k(s, top_k)) || (rc = profs_sampler_set_top_p(s, top_p)) ||
        (rc = profs_sampler_set_seed(s, (uint64_t)seed))) {
        tool_fail_lib(rc, "sampler");
        goto out;
    }
    size_t n_new = 0;
    if ((rc = profs_lm_generate(lm, ids + n, max_new, &n_new, ids, n, max_new, s, NULL, NULL))) {
        tool_fail_lib(rc, "generate");
        goto out;
    }
    /* a model's embedding matrix is often padded past the tokenizer's vocabulary: such ids have no text */
    size_t tv = profs_tokenizer_vocab_size(tok), m = 0;
    for (size_t i = 0; i < n + n_new; i++)
        if (ids[i] >= 0 && (size_t)ids[i] < tv) ids[m++] = ids[i];
    size_t tlen = 0;
    rc = profs_tokenizer_decode(tok, ids, m, PROFS_DECODE_SKIP_SPECIAL, NULL, 0, &tlen);
    if (rc && rc != PROFS_EBUFS) { tool_fail_lib(rc, "decode"); goto out; }
    text = malloc(tlen + 1);
    if (!text) { fprintf(stderr, "profs: out of memory\n"); goto out; }
    if ((rc = profs_tokenizer_decode(tok, ids, m, PROFS_DECODE_SKIP_SPECIAL, text, tlen + 1, &tlen))) {
        tool_fail_lib(rc, "decode");
        goto out;
    }
    fwrite(text, 1, tlen, stdout);
    fputc('\n', stdout);
    status = EXIT_OK;
out:
    free(text);
    free(ids);
    profs_sampler_free(s);
    profs_lm_free(lm);
    return status;
}
