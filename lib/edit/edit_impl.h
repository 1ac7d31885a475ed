/* Internal: the edit's representation. */
#ifndef PF_EDIT_IMPL_H
#define PF_EDIT_IMPL_H

#include <stddef.h>

#include "profs/edit.h"

/* How the value matrix of a layer is projected (the edit file's layers.{l}.value_projection). */
enum {
    PF_PROJ_UNRECORDED = 0,  /* not recorded: the model's family decides */
    PF_PROJ_PLAIN = 1,       /* W <- (I - V V^T) W */
    PF_PROJ_POST_NORM = 2    /* post-norm aware: W <- (I - Q Q^T) W, Q a basis of span(diag(g) V) */
};

typedef struct pf_edit_entry {
    size_t layer;
    profs_subspace *s;   /* owned */
    int value_projection; /* PF_PROJ_*: as read from an edit file (PF_PROJ_UNRECORDED otherwise) */
} pf_edit_entry;

/* The value projection the edit records for entry i: the family of its architecture decides when the
 * table knows it, else what the file it was loaded from recorded (PF_PROJ_UNRECORDED when neither). */
int pf_edit_value_projection(const profs_edit *e, size_t i);
const char *pf_edit_projection_name(int projection);

struct profs_edit {
    size_t dim;
    size_t n;                 /* entries, ascending by layer */
    pf_edit_entry *entries;
    char *architecture;       /* NULL when unknown */
    char *model_id;           /* NULL when unknown */
};

#endif
