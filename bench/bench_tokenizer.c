/* Tokenizer encode throughput (MB/s, one thread) on ~4 MB of generated English text, next to Hugging Face
 * tokenizers' throughput measured in the same run when node and the npm package `tokenizers` are present.
 *
 *   ./build/bench/bench_tokenizer [REPO_ROOT [NAME]]   (default: the current directory, all tokenizers)
 *   NODE_PATH=/path/to/node_modules ./build/bench/bench_tokenizer
 *
 * Two workloads per tokenizer: "paragraphs" (each line of the text one encode call, as a runtime encodes
 * sentences) and "whole" (the text in one call). Prints MB/s and the ratio libprofs / reference; the id
 * counts of both implementations are printed too and must agree. Both sides measure CPU time (best of a few
 * repetitions), so a busy machine disturbs the ratio less than wall time would. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "profs/profs.h"

/* CPU time of this process: the machine may be shared, and both sides are measured the same way */
static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint32_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 11);
}

/* Pseudo-English: Zipf-ish word choice, capitalised sentence starts, punctuation, numbers, paragraphs. */
static char *make_text(size_t target, size_t *len)
{
    static const char *words[] = {
        "the", "of", "and", "to", "a", "in", "is", "it", "you", "that", "he", "was", "for", "on", "are", "with",
        "as", "I", "his", "they", "be", "at", "one", "have", "this", "from", "or", "had", "by", "not", "word",
        "but", "what", "some", "we", "can", "out", "other", "were", "all", "there", "when", "up", "use", "your",
        "how", "said", "an", "each", "she", "which", "do", "their", "time", "if", "will", "way", "about", "many",
        "then", "them", "write", "would", "like", "so", "these", "her", "long", "make", "thing", "see", "him",
        "two", "has", "look", "more", "day", "could", "go", "come", "did", "number", "sound", "no", "most",
        "people", "my", "over", "know", "water", "than", "call", "first", "who", "may", "down", "side", "been",
        "now", "find", "model", "language", "subspace", "projection", "preference", "toxicity", "editing",
        "representation", "transformer", "embedding", "dimension", "probability", "experiment", "evaluation",
        "don't", "it's", "we're", "they've", "I'm", "can't", "wouldn't", "government", "information",
        "development", "international", "understanding", "responsibility", "nevertheless", "approximately",
    };
    const size_t nw = sizeof words / sizeof words[0];
    char *s = malloc(target + 256);
    size_t n = 0;
    int cap = 1, space = 0, words_in_par = 0;
    while (n < target) {
        if (space) s[n++] = ' ';
        /* Zipf-like: the square of a uniform number favours the first words */
        double u = (double)(next_rand() % 10000) / 10000.0;
        const char *w = words[(size_t)(u * u * (double)nw)];
        if (next_rand() % 40 == 0) n += (size_t)sprintf(s + n, "%u", next_rand() % 100000);
        else n += (size_t)sprintf(s + n, "%c%s", cap && w[0] >= 'a' && w[0] <= 'z' ? w[0] - 32 : w[0], w + 1);
        cap = 0;
        space = 1;
        words_in_par++;
        uint32_t r = next_rand() % 100;
        if (r < 6) { s[n++] = '.'; cap = 1; }
        else if (r < 10) s[n++] = ',';
        else if (r < 11) { s[n++] = '?'; cap = 1; }
        if (cap && words_in_par > 60 && next_rand() % 3 == 0) {
            s[n++] = '\n';
            space = 0;
            words_in_par = 0;
        }
    }
    s[n] = '\0';
    *len = n;
    return s;
}

typedef struct { double mbps; size_t ids; } result;

static result bench_ours(const profs_tokenizer *t, const char *text, size_t len, int whole)
{
    size_t cap = len + 16, n, total = 0;
    int32_t *ids = malloc(cap * sizeof *ids);
    double best = 1e30;
    for (int rep = 0; rep < 3; rep++) {
        double t0 = now();
        total = 0;
        if (whole) {
            if (profs_tokenizer_encode(t, text, len, 0, ids, cap, &n)) {
                fprintf(stderr, "encode failed: %s\n", profs_last_error());
                exit(1);
            }
            total = n;
        } else {
            const char *p = text, *end = text + len;
            while (p <= end) {
                const char *nl = memchr(p, '\n', (size_t)(end - p));
                size_t l = nl ? (size_t)(nl - p) : (size_t)(end - p);
                if (profs_tokenizer_encode(t, p, l, 0, ids, cap, &n)) {
                    fprintf(stderr, "encode failed: %s\n", profs_last_error());
                    exit(1);
                }
                total += n;
                p += l + 1;
            }
        }
        double dt = now() - t0;
        if (dt < best) best = dt;
    }
    free(ids);
    return (result){(double)len / 1e6 / best, total};
}

int main(int argc, char **argv)
{
    const char *root = argc > 1 ? argv[1] : ".";
    size_t len;
    char *text = make_text(4u << 20, &len);
    char tmpl[] = "/tmp/bench_tokenizer.XXXXXX";
    int fd = mkstemp(tmpl);
    if (fd < 0 || write(fd, text, len) != (ssize_t)len) {
        perror("bench_tokenizer: temporary text file");
        return 1;
    }
    close(fd);
    char script[4096];
    snprintf(script, sizeof script, "%s/bench/tokenizer_reference_bench.js", root);
    int have_node = access(script, R_OK) == 0 &&
                    system("node -e \"require('tokenizers')\" >/dev/null 2>&1") == 0;
    printf("bench_tokenizer: %.2f MB of generated English text, one thread\n", (double)len / 1e6);
    if (!have_node)
        printf("(reference column skipped: needs node and the npm package 'tokenizers' on NODE_PATH, and %s)\n",
               script);
    printf("%-14s %-10s %12s %12s %8s %10s %10s\n", "tokenizer", "workload", "libprofs", "reference", "ratio",
           "ids", "ref ids");
    static const char *names[] = {"gpt2", "mistral", "llama3-style"};
    for (size_t k = 0; k < 3; k++) {
        if (argc > 2 && strcmp(argv[2], names[k]) != 0) continue;
        char path[4200];
        snprintf(path, sizeof path, "%s/tests/data/tokenizers/%s/tokenizer.json", root, names[k]);
        profs_tokenizer *t = NULL;
        if (profs_tokenizer_open(&t, path)) {
            fprintf(stderr, "bench_tokenizer: %s (run from the repository root or pass it)\n", profs_last_error());
            return 1;
        }
        result par = bench_ours(t, text, len, 0), whole = bench_ours(t, text, len, 1);
        double ref_par = 0, ref_whole = 0;
        size_t ref_par_ids = 0, ref_whole_ids = 0;
        if (have_node) {
            char cmd[12800], line[256];
            snprintf(cmd, sizeof cmd, "node '%s' '%s' '%s'", script, path, tmpl);
            FILE *p = popen(cmd, "r");
            if (p && fgets(line, sizeof line, p) &&
                sscanf(line, "paragraphs %lf %zu whole %lf %zu", &ref_par, &ref_par_ids, &ref_whole, &ref_whole_ids) ==
                    4) {
            } else {
                ref_par = ref_whole = 0;
            }
            if (p) pclose(p);
        }
        for (int w = 0; w < 2; w++) {
            result r = w ? whole : par;
            double ref = w ? ref_whole : ref_par;
            size_t ref_ids = w ? ref_whole_ids : ref_par_ids;
            if (ref > 0)
                printf("%-14s %-10s %9.2f MB/s %7.2f MB/s %7.2fx %10zu %10zu%s\n", names[k], w ? "whole" : "paragraphs",
                       r.mbps, ref, r.mbps / ref, r.ids, ref_ids, r.ids == ref_ids ? "" : "  IDS DIFFER");
            else
                printf("%-14s %-10s %9.2f MB/s %12s %8s %10zu\n", names[k], w ? "whole" : "paragraphs", r.mbps, "-",
                       "-", r.ids);
        }
        profs_tokenizer_free(t);
    }
    unlink(tmpl);
    free(text);
    return 0;
}
