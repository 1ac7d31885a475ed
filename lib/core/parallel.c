/* pf_parallel_for (see parallel.h). */
#include "core/parallel.h"

#include <pthread.h>

#define PF_PARALLEL_MAX 64

typedef struct part {
    void (*fn)(void *, size_t, size_t);
    void *ud;
    size_t lo, hi;
} part;

static void *run_part(void *arg)
{
    part *p = arg;
    if (p->lo < p->hi) p->fn(p->ud, p->lo, p->hi);
    return NULL;
}

void pf_parallel_for(size_t n, size_t grain, int threads, void (*fn)(void *ud, size_t lo, size_t hi), void *ud)
{
    if (n == 0) return;
    if (grain == 0) grain = 1;
    size_t units = (n + grain - 1) / grain;
    if (threads < 1) threads = 1;
    if (threads > PF_PARALLEL_MAX) threads = PF_PARALLEL_MAX;
    if ((size_t)threads > units) threads = (int)units;
    if (threads == 1) {
        fn(ud, 0, n);
        return;
    }
    part parts[PF_PARALLEL_MAX];
    pthread_t th[PF_PARALLEL_MAX];
    int started[PF_PARALLEL_MAX] = {0};
    for (int i = 0; i < threads; i++) {
        size_t lo = units * (size_t)i / (size_t)threads * grain, hi = units * (size_t)(i + 1) / (size_t)threads * grain;
        parts[i] = (part){fn, ud, lo < n ? lo : n, hi < n ? hi : n};
    }
    for (int i = 1; i < threads; i++) started[i] = pthread_create(&th[i], NULL, run_part, &parts[i]) == 0;
    run_part(&parts[0]);
    for (int i = 1; i < threads; i++) {
        if (started[i]) pthread_join(th[i], NULL);
        else run_part(&parts[i]);
    }
}
