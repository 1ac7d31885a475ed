/* profs_lm: opening, queries, options, resident weights and the id checks
 * shared by the run (lm_run.c) and generation (lm_generate.c). */
#include <stdlib.h>
#include <string.h>

#include "core/cpu.h"
#include "core/error.h"
#include "lm/lm_internal.h"

#define DEFAULT_BATCH_TOKENS 8192
#define DEFAULT_MAX_LENGTH 128
#define DEFAULT_RESIDENT_BYTES ((size_t)1 << 30)

static void lm_release(profs_lm *lm);

int pf_lm_open_common(profs_lm **out, profs_model *model, int own)
{
    profs_lm *lm = calloc(1, sizeof *lm);
    if (!lm) {
        if (own) profs_model_free(model);
        return pf_enomem("profs_lm");
    }
    lm->model = model;
    lm->own_model = own;
    lm->eos_id = -1;
    lm->batch_tokens = DEFAULT_BATCH_TOKENS;
    lm->max_length = DEFAULT_MAX_LENGTH;
    lm->resident_bytes = DEFAULT_RESIDENT_BYTES;
    lm->att_rows = 128;
    lm->arena = calloc(1, sizeof *lm->arena);
    lm->earena = calloc(1, sizeof *lm->earena);
    if (!lm->arena || !lm->earena) {
        profs_lm_free(lm);
        return pf_enomem("profs_lm");
    }
    int rc = pf_lm_config_read(lm);
    if (!rc) rc = pf_lm_check_tensors(lm);
    if (!rc) rc = pf_lm_rope_init(lm);
    if (rc) {
        profs_lm_free(lm);
        return rc;
    }
    *out = lm;
    return 0;
}

int profs_lm_open_model(profs_lm **out, profs_model *model)
{
    if (!out || !model) return pf_error(PROFS_EINVAL, "profs_lm_open_model: NULL argument");
    return pf_lm_open_common(out, model, 0);
}

static void lm_release(profs_lm *lm)
{
    if (lm->cache) {
        for (size_t l = 0; l < lm->cfg.n_layers; l++)
            if (lm->cache[l].loaded) pf_layer_drop(lm, &lm->cache[l], l);
        free(lm->cache);
        lm->cache = NULL;
    }
    if (lm->head.p) pf_wt_drop(lm, &lm->head, NULL);
    if (lm->arena) {
        free(lm->arena->buf);
        lm->arena->buf = NULL;
        lm->arena->cap = 0;
    }
    if (lm->earena) {
        free(lm->earena->buf);
        lm->earena->buf = NULL;
        lm->earena->cap = 0;
    }
}

void profs_lm_free(profs_lm *lm)
{
    if (!lm) return;
    lm_release(lm);
    pf_lm_free_tokenizer(lm);
    if (lm->lname)
        for (size_t i = 0; i < lm->cfg.n_layers * PF_SLOT_COUNT; i++) free(lm->lname[i]);
    free(lm->lname);
    for (int i = 0; i < PF_GSLOT_COUNT; i++) free(lm->gname[i]);
    pf_moe_free(lm);
    pf_lm_config_free(&lm->cfg);
    free(lm->arena);
    if (lm->own_model) profs_model_free(lm->model);
    free(lm);
}

size_t profs_lm_n_layers(const profs_lm *lm) { return lm ? lm->cfg.n_layers : 0; }
size_t profs_lm_hidden_size(const profs_lm *lm) { return lm ? lm->cfg.dim : 0; }
size_t profs_lm_vocab_size(const profs_lm *lm) { return lm ? lm->cfg.vocab : 0; }
size_t profs_lm_max_positions(const profs_lm *lm) { return lm ? lm->cfg.max_pos : 0; }
const char *profs_lm_architecture(const profs_lm *lm) { return lm ? lm->cfg.model_type : ""; }
profs_model *profs_lm_model(const profs_lm *lm) { return lm ? lm->model : NULL; }

int profs_lm_set_batch_tokens(profs_lm *lm, size_t tokens)
{
    if (!lm || tokens == 0) return pf_error(PROFS_EINVAL, "batch tokens must be at least 1");
    lm->batch_tokens = tokens;
    return 0;
}

int profs_lm_set_max_length(profs_lm *lm, size_t tokens)
{
    if (!lm || tokens == 0) return pf_error(PROFS_EINVAL, "max length must be at least 1");
    lm->max_length = tokens;
    return 0;
}

int profs_lm_set_pool_skip_bos(profs_lm *lm, int skip)
{
    if (!lm) return pf_error(PROFS_EINVAL, "NULL runtime");
    lm->pool_skip_bos = skip != 0;
    return 0;
}

int profs_lm_set_resident_bytes(profs_lm *lm, size_t bytes)
{
    if (!lm) return pf_error(PROFS_EINVAL, "NULL runtime");
    lm->resident_bytes = bytes;
    if (lm->cache) {
        /* recomputed at the next call */
        lm_release(lm);
    }
    return 0;
}

/* f32 bytes the resident weights need (F32 tensors in place cost nothing extra
 * but are counted, as their pages stay resident). */
static size_t resident_need(const profs_lm *lm)
{
    size_t total = 0;
    for (size_t i = 0; i < lm->cfg.n_layers * PF_SLOT_COUNT; i++) {
        uint64_t numel;
        if (lm->lname[i] && profs_model_tensor_size(lm->model, lm->lname[i], &numel, NULL) == 0)
            total += (size_t)numel * sizeof(float);
    }
    return total + lm->cfg.vocab * lm->cfg.embed_dim * sizeof(float);
}

int pf_lm_prepare(profs_lm *lm)
{
    if (lm->cache || resident_need(lm) > lm->resident_bytes) return 0;
    lm->cache = calloc(lm->cfg.n_layers, sizeof(pf_layer_w));
    if (!lm->cache) return pf_enomem("resident weights");
    for (size_t l = 0; l < lm->cfg.n_layers; l++) {
        int rc = pf_layer_load(lm, &lm->cache[l], l, NULL);
        if (rc) { lm_release(lm); return rc; }
    }
    const char *hn = lm->cfg.tied ? lm->gname[PF_G_EMBED] : lm->gname[PF_G_HEAD_W];
    int rc = pf_wt_load(lm, &lm->head, hn);
    if (rc) { lm_release(lm); return rc; }
    return 0;
}

int pf_lm_check_ids(const profs_lm *lm, const int32_t *ids, size_t n, const char *what)
{
    if (!ids || n == 0) return pf_error(PROFS_EINVAL, "%s: empty token sequence", what);
    if (n > lm->cfg.max_pos)
        return pf_error(PROFS_EINVAL, "%s: %zu tokens exceed the model's %zu positions", what, n, lm->cfg.max_pos);
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || (size_t)ids[i] >= lm->cfg.vocab)
            return pf_error(PROFS_EINVAL, "%s: token id %ld at index %zu is outside the vocabulary [0, %zu)",
                            what, (long)ids[i], i, lm->cfg.vocab);
    return 0;
}

int profs_lm_set_compute(profs_lm *lm, int mode)
{
    if (!lm) return pf_error(PROFS_EINVAL, "NULL runtime");
    if (mode != PROFS_COMPUTE_F32 && mode != PROFS_COMPUTE_BF16 && mode != PROFS_COMPUTE_INT8)
        return pf_error(PROFS_EINVAL, "compute mode %d is not one of f32 (0), bf16 (1), int8 (2)", mode);
    unsigned isa = mode == PROFS_COMPUTE_F32 ? 0 : pf_cpu_isa();
    const char *hidden = getenv("PROFS_DISABLE_ISA") ? " (or PROFS_DISABLE_ISA turns off)" : "";
    int i8 = PF_I8_AMX;
    if (mode == PROFS_COMPUTE_BF16) {
        static const unsigned need[] = {PF_ISA_AMX_TILE, PF_ISA_AMX_BF16, 0};
        for (const unsigned *b = need; *b; b++)
            if (!(isa & *b))
                return pf_error(PROFS_EUNSUPPORTED,
                                "bf16 compute needs the instruction set %s (Intel AMX), which this processor or "
                                "operating system does not provide%s", pf_isa_name(*b), hidden);
    } else if (mode == PROFS_COMPUTE_INT8) {
        if ((isa & PF_ISA_AMX_TILE) && (isa & PF_ISA_AMX_INT8)) i8 = PF_I8_AMX;
        else if ((isa & PF_ISA_AVX512_VNNI) && (isa & PF_ISA_AVX512BW)) i8 = PF_I8_AVX512_VNNI;
        else if ((isa & PF_ISA_AVX_VNNI) && (isa & PF_ISA_AVX2)) i8 = PF_I8_AVX_VNNI;
        else
            return pf_error(PROFS_EUNSUPPORTED,
                            "int8 compute needs one of the instruction sets amx_int8 (Intel AMX), avx512_vnni or "
                            "avx_vnni, which this processor or operating system does not provide%s", hidden);
    }
    if (mode != lm->compute) lm_release(lm);
    lm->compute = mode;
    lm->int8_kernel = i8;
    return 0;
}

int profs_lm_compute(const profs_lm *lm) { return lm ? lm->compute : PROFS_COMPUTE_F32; }

const char *profs_compute_name(int mode)
{
    switch (mode) {
    case PROFS_COMPUTE_F32: return "f32";
    case PROFS_COMPUTE_BF16: return "bf16";
    case PROFS_COMPUTE_INT8: return "int8";
    default: return NULL;
    }
}

const char *profs_lm_compute_kernel(const profs_lm *lm)
{
    switch (profs_lm_compute(lm)) {
    case PROFS_COMPUTE_BF16: return "AMX-BF16 tiles";
    case PROFS_COMPUTE_INT8:
        return lm->int8_kernel == PF_I8_AMX ? "AMX-INT8 tiles"
               : lm->int8_kernel == PF_I8_AVX512_VNNI ? "AVX512-VNNI" : "AVX-VNNI";
    default: return "OpenBLAS sgemm";
    }
}
