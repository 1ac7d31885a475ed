/* libFuzzer target: the pair reader of the tool (tools/profs/pairs*.c). The first input byte chooses
 * the options (container, --skip-bad-lines, --with-prompt, --harm-category, dotted --preferred-field /
 * --dispreferred-field / --prompt-field, --max-pairs); the rest is the file, read through a memfd the
 * way a pipe or a regular file is read. tool_pairs_read must accept it or reject it with a message,
 * never crash, leak or read outside it; accepted pairs are non-empty NUL-terminated strings.
 *   CC=clang cmake -S . -B build-fuzz -DPROFS_BUILD_FUZZ=ON && cmake --build build-fuzz --target fuzz_pairs
 *   build-fuzz/fuzz/fuzz_pairs -max_total_time=60 tests/data/pairs */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "pairs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    unsigned sel = data[0];
    struct tool_pairs_opts o;
    memset(&o, 0, sizeof o);
    o.format = (int)(sel & 3);            /* auto, jsonl, tsv, json */
    o.skip_bad = (sel >> 2) & 1;
    o.with_prompt = (sel >> 3) & 1;
    if ((sel >> 4) & 1) o.harm_category = "Violence";
    if ((sel >> 5) & 1) {
        o.preferred_field = "a.0.b";
        o.dispreferred_field = "chosen";
        if ((sel >> 6) & 1) o.prompt_field = "prompt";
        o.with_prompt = 0;
    }
    if (sel >> 7) o.max_pairs = 2;
    int fd = memfd_create("pairs", 0);
    if (fd < 0) return 0;
    if (size > 1 && write(fd, data + 1, size - 1) != (ssize_t)(size - 1)) { close(fd); return 0; }
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    struct tool_pairs p;
    char err[2048];
    if (tool_pairs_read(&p, path, &o, err, sizeof err) == 0) {
        for (size_t i = 0; i < p.n; i++)
            if (!p.preferred[i][0] || !p.dispreferred[i][0]) abort();
        tool_pairs_free(&p);
    } else if (!err[0]) {
        abort(); /* a failure always says why */
    }
    close(fd);
    return 0;
}
