/* Internal: the edit's representation. */
#ifndef PF_EDIT_IMPL_H
#define PF_EDIT_IMPL_H

#include <stddef.h>

#include "profs/edit.h"

typedef struct pf_edit_entry {
    size_t layer;
    profs_subspace *s;   /* owned */
} pf_edit_entry;

struct profs_edit {
    size_t dim;
    size_t n;                 /* entries, ascending by layer */
    pf_edit_entry *entries;
    char *architecture;       /* NULL when unknown */
    char *model_id;           /* NULL when unknown */
};

#endif
