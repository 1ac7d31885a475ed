/* Opening a runtime from a model directory, and the tokenizer link.
 * (Tokenizer-dependent parts join here when the tokenizer lands.) */
#include <stdlib.h>

#include "core/error.h"
#include "lm/lm_internal.h"

int pf_lm_open_common(profs_lm **out, profs_model *model, int own);
void pf_lm_free_tokenizer(profs_lm *lm);

int profs_lm_open(profs_lm **out, const char *dir)
{
    if (!out || !dir) return pf_error(PROFS_EINVAL, "profs_lm_open: NULL argument");
    profs_model *m = NULL;
    int rc = profs_model_open(&m, dir);
    if (rc) return rc;
    return pf_lm_open_common(out, m, 1);
}

void pf_lm_free_tokenizer(profs_lm *lm) { lm->tok = NULL; }

const struct profs_tokenizer *profs_lm_tokenizer(const profs_lm *lm) { return lm ? lm->tok : NULL; }
