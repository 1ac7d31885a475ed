/* Internal: a parallel loop over a range, on short-lived threads (the library keeps no pool:
 * no global state). */
#ifndef PF_PARALLEL_H
#define PF_PARALLEL_H

#include <stddef.h>

/* Call fn(ud, lo, hi) on consecutive parts of [0, n) (each a multiple of grain long but the last),
 * on up to `threads` threads, the calling thread taking the first part; returns when all are done.
 * A thread that cannot be started leaves its part to the calling thread. fn must not fail. */
void pf_parallel_for(size_t n, size_t grain, int threads, void (*fn)(void *ud, size_t lo, size_t hi), void *ud);

#endif
