/* Fixture writers shared by the tensor-store suites (test_model*.c). Header-only. */
#ifndef PROFS_MODEL_FIXTURES_H
#define PROFS_MODEL_FIXTURES_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "profs/profs.h"
#include "testutil.h"

/* Write a safetensors file by hand: u64 header length (as given), header bytes, data. */
static inline int fx_raw_st_len(const char *path, uint64_t hlen, const char *header, size_t header_bytes,
                                const void *data, size_t dlen)
{
    size_t total = 8 + header_bytes + dlen;
    unsigned char *buf = malloc(total ? total : 1);
    if (!buf) return -1;
    for (int i = 0; i < 8; i++) buf[i] = (unsigned char)(hlen >> (8 * i));
    memcpy(buf + 8, header, header_bytes);
    if (dlen) memcpy(buf + 8 + header_bytes, data, dlen);
    int rc = tu_write_file(path, buf, total);
    free(buf);
    return rc;
}

static inline int fx_raw_st(const char *path, const char *header, const void *data, size_t dlen)
{
    return fx_raw_st_len(path, strlen(header), header, strlen(header), data, dlen);
}

/* A small F32 file: tensors "a" (2x3, values base+i) and "b" (4, values -base-i). */
static inline int fx_small_f32(const char *path, float base, const char *meta_value)
{
    float a[6], b[4];
    for (int i = 0; i < 6; i++) a[i] = base + (float)i;
    for (int i = 0; i < 4; i++) b[i] = -base - (float)i;
    const char *names[] = { "a", "b" };
    int dt[] = { PROFS_DTYPE_F32, PROFS_DTYPE_F32 };
    size_t nd[] = { 2, 1 };
    int64_t sa[] = { 2, 3 }, sb[] = { 4 };
    const int64_t *shapes[] = { sa, sb };
    const void *data[] = { a, b };
    const char *mk[] = { "format" }, *mv[] = { meta_value };
    return profs_safetensors_write(path, 2, names, dt, nd, shapes, data, meta_value ? 1 : 0, mk, mv);
}

/* Write text to dir/name. */
static inline int fx_text(const char *dir, const char *name, const char *text)
{
    char *p = tu_join(dir, name);
    int rc = tu_write_file(p, text, strlen(text));
    free(p);
    return rc;
}

/* A sharded model directory: 3 shards with tensors
 *   model-00001-of-00003.safetensors: "layers.0.w" BF16 [2,4] (i*0.5), "embed" F32 [3,2] (i)
 *   model-00002-of-00003.safetensors: "layers.1.w" F16 [2,4] (-i*0.25)
 *   model-00003-of-00003.safetensors: "norm" F32 [4] (1..4), "scalar" F32 [] (7)
 * plus model.safetensors.index.json, config.json, tokenizer.json, README.md. */
static inline int fx_sharded(const char *dir)
{
    uint16_t w0[8], w1[8];
    float e[6], norm[4] = { 1, 2, 3, 4 }, sc = 7.0f;
    for (int i = 0; i < 8; i++) {
        float v0 = (float)i * 0.5f;
        uint32_t u;
        memcpy(&u, &v0, 4);
        w0[i] = (uint16_t)(u >> 16);  /* exact in BF16 */
        /* F16 of -i*0.25: exact; build via the library-independent formula */
        w1[i] = 0;
        if (i) {
            int ex = 0;
            float m = (float)i * 0.25f;
            while (m >= 2.0f) { m /= 2; ex++; }
            while (m < 1.0f) { m *= 2; ex--; }
            w1[i] = (uint16_t)(0x8000u | ((unsigned)(ex + 15) << 10) | (unsigned)((m - 1.0f) * 1024.0f));
        }
    }
    for (int i = 0; i < 6; i++) e[i] = (float)i;
    char *p;
    int rc = 0;
    {
        const char *n[] = { "layers.0.w", "embed" };
        int dt[] = { PROFS_DTYPE_BF16, PROFS_DTYPE_F32 };
        size_t nd[] = { 2, 2 };
        int64_t s0[] = { 2, 4 }, s1[] = { 3, 2 };
        const int64_t *sh[] = { s0, s1 };
        const void *d[] = { w0, e };
        const char *mk[] = { "format" }, *mv[] = { "pt" };
        p = tu_join(dir, "model-00001-of-00003.safetensors");
        rc |= profs_safetensors_write(p, 2, n, dt, nd, sh, d, 1, mk, mv);
        free(p);
    }
    {
        const char *n[] = { "layers.1.w" };
        int dt[] = { PROFS_DTYPE_F16 };
        size_t nd[] = { 2 };
        int64_t s0[] = { 2, 4 };
        const int64_t *sh[] = { s0 };
        const void *d[] = { w1 };
        p = tu_join(dir, "model-00002-of-00003.safetensors");
        rc |= profs_safetensors_write(p, 1, n, dt, nd, sh, d, 0, NULL, NULL);
        free(p);
    }
    {
        const char *n[] = { "norm", "scalar" };
        int dt[] = { PROFS_DTYPE_F32, PROFS_DTYPE_F32 };
        size_t nd[] = { 1, 0 };
        int64_t s0[] = { 4 };
        const int64_t *sh[] = { s0, NULL };
        const void *d[] = { norm, &sc };
        p = tu_join(dir, "model-00003-of-00003.safetensors");
        rc |= profs_safetensors_write(p, 2, n, dt, nd, sh, d, 0, NULL, NULL);
        free(p);
    }
    rc |= fx_text(dir, "model.safetensors.index.json",
                  "{\"metadata\": {\"total_size\": 92},\n \"weight_map\": {\n"
                  "  \"layers.0.w\": \"model-00001-of-00003.safetensors\",\n"
                  "  \"embed\": \"model-00001-of-00003.safetensors\",\n"
                  "  \"layers.1.w\": \"model-00002-of-00003.safetensors\",\n"
                  "  \"norm\": \"model-00003-of-00003.safetensors\",\n"
                  "  \"scalar\": \"model-00003-of-00003.safetensors\"}}\n");
    rc |= fx_text(dir, "config.json", "{\"model_type\": \"llama\", \"hidden_size\": 4}\n");
    rc |= fx_text(dir, "tokenizer.json", "{\"model\": {\"type\": \"BPE\"}}\n");
    rc |= fx_text(dir, "README.md", "# test model\n");
    return rc;
}

#endif
