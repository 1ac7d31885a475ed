/* Refusing edits that cannot work or would change nothing (see edit_checks.h). */
#include "edit_checks.h"

#include <stdio.h>

int tool_check_pairs_for_rank(struct tool_est *e, size_t n_pairs, size_t dim, struct tool_progress *prog)
{
    size_t p = n_pairs < dim ? n_pairs : dim;
    if (e->rank_rule == PROFS_RANK_FIXED) {
        if (e->rank_k > p) {
            fprintf(stderr, "profs: --rank %zu needs at least %zu pairs (the %zu x %zu difference matrix has at most "
                            "%zu directions); give more pairs or a lower --rank\n", e->rank_k, e->rank_k, n_pairs, dim, p);
            return -1;
        }
        return 0;
    }
    size_t want = e->rank_max_given ? e->rank_k : 10, k = want;
    while (k > 1 && 2 * k + 1 >= p) k--;
    if (2 * k + 1 >= p) {
        fprintf(stderr, "profs: ScreeNOT needs 2 k_max + 1 < min(pairs, hidden size), so at least 4 pairs; %zu %s "
                        "given: give more pairs, or a fixed --rank K\n", n_pairs, n_pairs == 1 ? "was" : "were");
        return -1;
    }
    if (k < want)
        tool_progress_note(prog, "%s k_max %zu to %zu: ScreeNOT needs 2 k_max + 1 < min(pairs, hidden size) = %zu",
                           e->rank_max_given ? "lowering --rank-max" : "lowering the default", want, k, p);
    if (e->rank_max_given || k < want) {
        e->rank_k = k;
        e->rank_max_given = 1;
    }
    return 0;
}

int tool_check_edit_not_empty(const profs_edit *edit, const struct tool_est *e)
{
    for (size_t i = 0; i < profs_edit_count(edit); i++)
        if (profs_subspace_rank(profs_edit_get(edit, profs_edit_layer_at(edit, i))) > 0) return 0;
    if (e->rank_rule == PROFS_RANK_SCREENOT)
        fprintf(stderr, "profs: every layer's rank is 0: ScreeNOT found no direction above the noise in any of the "
                        "%zu layers, so the edit would change nothing; nothing written. Use --rank K to remove a fixed "
                        "number of directions, or give more (or more clearly contrasting) pairs\n", profs_edit_count(edit));
    else
        fprintf(stderr, "profs: every layer's rank is 0, so the edit would change nothing; nothing written\n");
    return -1;
}
