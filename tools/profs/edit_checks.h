/* Checks that stop an edit that cannot work or would change nothing: before
 * the collection (enough pairs for the rank rule) and after the estimation
 * (some layer has a direction to remove). */
#ifndef PROFS_TOOL_EDIT_CHECKS_H
#define PROFS_TOOL_EDIT_CHECKS_H

#include <stddef.h>

#include "pipeline.h"

/* Before the collection, with n_pairs pairs of hidden size dim:
 *  --rank K needs K <= min(n_pairs, dim) (an N x D difference matrix has at
 *  most that many directions); ScreeNOT's imputation needs
 *  2 k_max + 1 < min(n_pairs, dim): k_max is lowered to the largest value that
 *  fits, with a note saying so, and sets e->rank_k / e->rank_max_given; when
 *  not even k_max = 1 fits (fewer than 4 pairs) the edit is refused.
 * Prints the refusal; returns 0 or -1. */
int tool_check_pairs_for_rank(struct tool_est *e, size_t n_pairs, size_t dim, struct tool_progress *prog);
/* After the estimation: refuse (exit-1 message naming what to do) when every
 * layer's rank is 0. Returns 0 or -1. */
int tool_check_edit_not_empty(const profs_edit *edit, const struct tool_est *e);

#endif
