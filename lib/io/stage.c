/* Staging replacements and deferred transforms of tensors (written by save.c). */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/dtype.h"
#include "core/error.h"
#include "io/model_impl.h"

static void clear_stage(profs_model *m, size_t i)
{
    pf_stage *s = &m->stages[i];
    if (s->kind != PF_STAGE_NONE) m->n_staged--;
    free(s->bytes);
    memset(s, 0, sizeof *s);
}

void pf_model_stages_free(profs_model *m)
{
    for (size_t i = 0; i < m->n_tensors; i++) clear_stage(m, i);
}

static int find_float_tensor(profs_model *m, const char *name, long *idx)
{
    if (!m || !name) return pf_error(PROFS_EINVAL, "NULL model or tensor name");
    *idx = pf_model_find(m, name);
    if (*idx < 0) return pf_error(PROFS_ENOTFOUND, "%s: no tensor '%s'", m->path, name);
    const pf_model_tensor *mt = &m->tensors[*idx];
    if (!pf_dtype_is_float(mt->t->dtype))
        return pf_error(PROFS_EUNSUPPORTED, "%s: tensor '%s': cannot stage a %s tensor (F32/F16/BF16/F64 only)",
                        m->files[mt->file].path, name, profs_dtype_name(mt->t->dtype));
    return PROFS_OK;
}

int profs_model_stage_f32(profs_model *m, const char *name, const float *src, size_t count)
{
    long i = -1;
    int rc = find_float_tensor(m, name, &i);
    if (rc) return rc;
    const pf_model_tensor *mt = &m->tensors[i];
    if ((uint64_t)count != mt->t->numel)
        return pf_error(PROFS_ESHAPE, "%s: tensor '%s' has %" PRIu64 " elements, staged data has %zu",
                        m->files[mt->file].path, name, mt->t->numel, count);
    if (count > 0 && !src) return pf_error(PROFS_EINVAL, "profs_model_stage_f32: NULL data");
    for (size_t k = 0; k < count; k++)
        if (!isfinite(src[k]))
            return pf_error(PROFS_ENUMERIC, "%s: tensor '%s': staged element %zu is %s", m->files[mt->file].path,
                            name, k, isnan(src[k]) ? "NaN" : "infinite");
    uint64_t nbytes = mt->t->end - mt->t->begin;
    void *bytes = malloc(nbytes ? (size_t)nbytes : 1);
    if (!bytes) return pf_enomem("staged tensor");
    if (count) pf_convert_from_f32(bytes, src, mt->t->dtype, count);
    size_t bad = pf_first_nonfinite(bytes, mt->t->dtype, count);
    if (bad < count) {
        free(bytes);
        return pf_error(PROFS_ENUMERIC, "%s: tensor '%s': staged element %zu (%g) overflows %s",
                        m->files[mt->file].path, name, bad, (double)src[bad], profs_dtype_name(mt->t->dtype));
    }
    clear_stage(m, (size_t)i);
    m->stages[i] = (pf_stage){ .kind = PF_STAGE_DATA, .bytes = bytes };
    m->n_staged++;
    return PROFS_OK;
}

int profs_model_stage_transform(profs_model *m, const char *name, profs_transform_fn fn, void *userdata)
{
    if (!fn) return pf_error(PROFS_EINVAL, "profs_model_stage_transform: NULL function");
    long i = -1;
    int rc = find_float_tensor(m, name, &i);
    if (rc) return rc;
    clear_stage(m, (size_t)i);
    m->stages[i] = (pf_stage){ .kind = PF_STAGE_TRANSFORM, .fn = fn, .userdata = userdata };
    m->n_staged++;
    return PROFS_OK;
}

int profs_model_unstage(profs_model *m, const char *name)
{
    if (!m || !name) return pf_error(PROFS_EINVAL, "NULL model or tensor name");
    long i = pf_model_find(m, name);
    if (i < 0) return pf_error(PROFS_ENOTFOUND, "%s: no tensor '%s'", m->path, name);
    if (m->stages[i].kind == PF_STAGE_NONE)
        return pf_error(PROFS_ENOTFOUND, "%s: nothing is staged for tensor '%s'", m->path, name);
    clear_stage(m, (size_t)i);
    return PROFS_OK;
}

size_t profs_model_staged_count(const profs_model *m) { return m ? m->n_staged : 0; }
