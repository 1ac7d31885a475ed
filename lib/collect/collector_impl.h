/* Internal: the collector's representation (shared by collector.c and collector_io.c). */
#ifndef PF_COLLECTOR_IMPL_H
#define PF_COLLECTOR_IMPL_H

#include <stddef.h>

#include "profs/collector.h"
#include "profs/version.h"

#define PF_DEFAULT_PRODUCER ("libprofs " PROFS_VERSION_STRING)

struct profs_collector {
    size_t n_layers, dim;
    size_t n_pairs, cap;   /* rows used / allocated in every layer */
    float **pref;          /* (n_layers) arrays of (cap, dim): X+ rows */
    float **disp;          /* (n_layers) arrays of (cap, dim): X- rows */
    char *model_id;        /* NULL when unknown */
    char *producer;        /* NULL = PF_DEFAULT_PRODUCER */
};

/* Make room for `need` rows per layer; 0 or PROFS_ENOMEM. */
int pf_collector_reserve(profs_collector *c, size_t need);

#endif
