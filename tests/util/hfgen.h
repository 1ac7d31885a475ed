/* Header-only generator of tiny (or benchmark-sized) random Hugging Face
 * checkpoints for the runtime's architectures: config.json, a byte-level BPE
 * tokenizer.json, and safetensors weights (F32 / F16 / BF16, optionally sharded
 * with model.safetensors.index.json), written streaming so multi-GB models
 * never sit in memory. Deterministic: the values depend only on the seed and
 * the tensor name, so committed goldens stay valid when fixtures are regenerated.
 * Used by tests/test_lm.c, tests/gen/gen_lm_fixtures.c and bench/bench_forward.c. */
#ifndef PROFS_HFGEN_H
#define PROFS_HFGEN_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "arch/arch.h"
#include "core/dtype.h"
#include "profs/common.h"

#if defined(__GNUC__) && !defined(__clang__)
#  pragma GCC diagnostic ignored "-Wformat-truncation"
#endif
#if defined(__GNUC__)
#  define HFGEN_UNUSED __attribute__((unused))
#else
#  define HFGEN_UNUSED
#endif

typedef struct hfgen_spec {
    const char *arch;       /* a family of the architecture table (lib/arch): tensors from its rows
                             * (hfgen_tensors), config.json from its key map; "gpt2", "mistral",
                             * "llama", "opt", "gptj" keep hand-written config.json texts (their
                             * family-specific keys, byte-identical fixtures) */
    size_t layers, dim, heads, kv_heads, head_dim, ffn, vocab, max_pos;
    size_t window;          /* mistral sliding_window (0: null) */
    size_t rotary_dim;      /* gptj */
    size_t proj_dim;        /* opt word_embed_proj_dim (0: = dim) */
    int post_ln;            /* opt do_layer_norm_before = false */
    int tied;               /* tie_word_embeddings (gpt2 ties; its config leaves the key to the default) */
    int attn_bias;          /* llama attention_bias */
    int mlp_bias;           /* llama mlp_bias */
    int no_bias;            /* opt enable_bias = false */
    int opt_head;           /* opt: own lm_head.weight, tie_word_embeddings = false */
    int gpt2_inv_scale;     /* gpt2: scale_attn_by_inverse_layer_idx = true */
    int llama3_rope;        /* llama rope_scaling llama3 */
    int dtype;              /* PROFS_DTYPE_F32 / F16 / BF16 */
    int shards;             /* 0/1: model.safetensors; 2+: sharded with an index */
    const char *prefix;     /* NULL: the family's first (gpt2: "" or "transformer."; opt: "model.decoder." or "decoder.") */
    uint64_t seed;
    int no_tokenizer;
} hfgen_spec;

typedef struct hfgen_tensor {
    char name[128];
    int64_t shape[2];
    int ndim;
    int kind;               /* 0 weight, 1 norm weight, 2 bias, 3 embedding, 4 zero */
    float scale;
} hfgen_tensor;

static uint64_t hfgen_mix(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t hfgen_hash(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

/* uniform in [-1, 1), exactly representable */
static float hfgen_uniform(uint64_t *st) { return (float)((int64_t)(hfgen_mix(st) >> 40) - (1 << 23)) / 8388608.0f; }

static HFGEN_UNUSED void hfgen_fill(const hfgen_tensor *t, uint64_t seed, uint64_t offset, float *dst, size_t n)
{
    uint64_t st = seed ^ hfgen_hash(t->name);
    /* element i uses state st + i * golden (splitmix is a counter-based generator) */
    st += offset * 0x9e3779b97f4a7c15ull;
    for (size_t i = 0; i < n; i++) {
        float u = hfgen_uniform(&st);
        switch (t->kind) {
        case 1: dst[i] = 1.0f + 0.25f * u; break;
        case 2: dst[i] = 0.1f * u; break;
        case 4: dst[i] = 0.0f; break;
        default: dst[i] = t->scale * u; break;
        }
    }
}

typedef struct hfgen_list { hfgen_tensor *t; size_t n, cap; } hfgen_list;

static HFGEN_UNUSED void hfgen_add(hfgen_list *l, int kind, float scale, int64_t r, int64_t c, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
#include <stdarg.h>
static HFGEN_UNUSED void hfgen_add(hfgen_list *l, int kind, float scale, int64_t r, int64_t c, const char *fmt, ...)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 64;
        l->t = realloc(l->t, l->cap * sizeof *l->t);
    }
    hfgen_tensor *t = &l->t[l->n++];
    memset(t, 0, sizeof *t);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->name, sizeof t->name, fmt, ap);
    va_end(ap);
    t->kind = kind;
    t->scale = scale;
    t->shape[0] = r;
    t->shape[1] = c;
    t->ndim = c ? 2 : 1;
}

#include <math.h>
/* Linear weight [out, in] with uniform scale 1/sqrt(in) (so activations stay O(1)). */
#define HFGEN_LIN(l, out, in, ...) hfgen_add(l, 0, 1.0f / sqrtf((float)(in)), (int64_t)(out), (int64_t)(in), __VA_ARGS__)
#define HFGEN_CONV(l, in, out, ...) hfgen_add(l, 0, 1.0f / sqrtf((float)(in)), (int64_t)(in), (int64_t)(out), __VA_ARGS__)
#define HFGEN_NORM(l, n, ...) hfgen_add(l, 1, 0, (int64_t)(n), 0, __VA_ARGS__)
#define HFGEN_BIAS(l, n, ...) hfgen_add(l, 2, 0, (int64_t)(n), 0, __VA_ARGS__)

static HFGEN_UNUSED size_t hfgen_head_dim(const hfgen_spec *s) { return s->head_dim ? s->head_dim : s->dim / s->heads; }

/* Which rows of a family a spec has (the conditions of lib/arch's rows). */
static HFGEN_UNUSED unsigned hfgen_flags(const hfgen_spec *s)
{
    unsigned f = PF_IF_NORM_AFFINE | PF_IF_FINAL_NORM;
    if (s->attn_bias) f |= PF_IF_ATTN_BIAS;
    if (s->mlp_bias) f |= PF_IF_MLP_BIAS;
    if (!s->tied) f |= PF_IF_UNTIED;
    return f;
}

/* A family's tensors from its architecture-table rows (lib/arch), with the shapes the runtime expects:
 * the input-side global rows (embeddings), every layer's rows, then the output-side global rows (final
 * norm, head), in table order. The prefix is the spec's, else the family's first. */
static HFGEN_UNUSED int hfgen_global_after(int slot)
{
    return slot == PF_G_NORM_W || slot == PF_G_NORM_B || slot == PF_G_HEAD_W || slot == PF_G_HEAD_B;
}

static HFGEN_UNUSED void hfgen_global_rows(const hfgen_spec *s, const pf_family *f, const char *p, unsigned flags,
                                           int after, hfgen_list *l)
{
    size_t D = s->dim, V = s->vocab;
    for (const pf_tensor_row *r = f->global; r->pattern; r++) {
        if ((flags & r->present_if) != r->present_if || hfgen_global_after(r->slot) != after) continue;
        char name[128];
        pf_arch_name(name, sizeof name, f, p, r, 0, 0);
        if (r->slot == PF_G_EMBED) hfgen_add(l, 3, 1.0f, (int64_t)V, (int64_t)D, "%s", name);
        else if (r->slot == PF_G_POS) hfgen_add(l, 3, 0.3f, (int64_t)s->max_pos, (int64_t)D, "%s", name);
        else if (r->slot == PF_G_HEAD_W) HFGEN_LIN(l, V, D, "%s", name);
        else if (r->slot == PF_G_HEAD_B) HFGEN_BIAS(l, V, "%s", name);
        else if (r->slot == PF_G_NORM_W) HFGEN_NORM(l, D, "%s", name);
        else if (r->slot == PF_G_NORM_B) HFGEN_BIAS(l, D, "%s", name);
    }
}

static HFGEN_UNUSED void hfgen_tensors_from_table(const hfgen_spec *s, hfgen_list *l)
{
    const pf_family *f = pf_arch_by_name(s->arch);
    if (!f) return;
    size_t D = s->dim, F = s->ffn, hd = hfgen_head_dim(s);
    size_t Q = s->heads * hd, KV = (s->kv_heads ? s->kv_heads : s->heads) * hd;
    unsigned flags = hfgen_flags(s);
    const char *p = s->prefix ? s->prefix : f->prefixes[0];
    hfgen_global_rows(s, f, p, flags, 0, l);
    for (size_t i = 0; i < s->layers; i++)
        for (const pf_tensor_row *r = f->layer; r->pattern; r++) {
            if ((flags & r->present_if) != r->present_if || (r->blocks > 1 && r->block > 0)) continue;
            char name[128];
            pf_arch_name(name, sizeof name, f, p, r, i, 0);
            size_t out, in;
            pf_arch_slot_dims(r->slot, D, F, Q, KV, hd, &out, &in);
            out *= r->blocks ? r->blocks : 1;
            int norm = r->slot == PF_LN1_W || r->slot == PF_LN2_W || strstr(r->pattern, "norm");
            if (r->layout == PF_TL_VECTOR && norm) HFGEN_NORM(l, out, "%s", name);
            else if (r->layout == PF_TL_VECTOR) HFGEN_BIAS(l, out, "%s", name);
            else if (r->layout == PF_TL_CONV1D) HFGEN_CONV(l, in, out, "%s", name);
            else HFGEN_LIN(l, out, in, "%s", name);
        }
    hfgen_global_rows(s, f, p, flags, 1, l);
}

/* gpt2, gptj, mistral and every newer family come from the table. Two layouts keep hand-written
 * lists, because the table orders their rows differently and the committed tests' fixtures must stay
 * byte-identical: llama with biases (q, k, v, o, then their biases; MLP biases after the matrices)
 * and opt (the attention's layer norm after its projections, embed_positions with OPT's offset of 2,
 * project_in/out before the layers). */
static HFGEN_UNUSED void hfgen_tensors(const hfgen_spec *s, hfgen_list *l)
{
    size_t D = s->dim, F = s->ffn, V = s->vocab, hd = hfgen_head_dim(s);
    size_t Q = s->heads * hd, KV = (s->kv_heads ? s->kv_heads : s->heads) * hd;
    if ((!strcmp(s->arch, "mistral") || !strcmp(s->arch, "llama")) && (s->attn_bias || s->mlp_bias)) {
        hfgen_add(l, 3, 1.0f, (int64_t)V, (int64_t)D, "model.embed_tokens.weight");
        for (size_t i = 0; i < s->layers; i++) {
            HFGEN_NORM(l, D, "model.layers.%zu.input_layernorm.weight", i);
            HFGEN_LIN(l, Q, D, "model.layers.%zu.self_attn.q_proj.weight", i);
            HFGEN_LIN(l, KV, D, "model.layers.%zu.self_attn.k_proj.weight", i);
            HFGEN_LIN(l, KV, D, "model.layers.%zu.self_attn.v_proj.weight", i);
            HFGEN_LIN(l, D, Q, "model.layers.%zu.self_attn.o_proj.weight", i);
            if (s->attn_bias) {
                HFGEN_BIAS(l, Q, "model.layers.%zu.self_attn.q_proj.bias", i);
                HFGEN_BIAS(l, KV, "model.layers.%zu.self_attn.k_proj.bias", i);
                HFGEN_BIAS(l, KV, "model.layers.%zu.self_attn.v_proj.bias", i);
                HFGEN_BIAS(l, D, "model.layers.%zu.self_attn.o_proj.bias", i);
            }
            HFGEN_NORM(l, D, "model.layers.%zu.post_attention_layernorm.weight", i);
            HFGEN_LIN(l, F, D, "model.layers.%zu.mlp.gate_proj.weight", i);
            HFGEN_LIN(l, F, D, "model.layers.%zu.mlp.up_proj.weight", i);
            HFGEN_LIN(l, D, F, "model.layers.%zu.mlp.down_proj.weight", i);
            if (s->mlp_bias) {
                HFGEN_BIAS(l, F, "model.layers.%zu.mlp.gate_proj.bias", i);
                HFGEN_BIAS(l, F, "model.layers.%zu.mlp.up_proj.bias", i);
                HFGEN_BIAS(l, D, "model.layers.%zu.mlp.down_proj.bias", i);
            }
        }
        HFGEN_NORM(l, D, "model.norm.weight");
        if (!s->tied) HFGEN_LIN(l, V, D, "lm_head.weight");
    } else if (!strcmp(s->arch, "opt")) {
        const char *p = s->prefix ? s->prefix : "model.decoder.";
        size_t E = s->proj_dim ? s->proj_dim : D;
        hfgen_add(l, 3, 1.0f, (int64_t)V, (int64_t)E, "%sembed_tokens.weight", p);
        hfgen_add(l, 3, 0.3f, (int64_t)(s->max_pos + 2), (int64_t)D, "%sembed_positions.weight", p);
        if (E != D) {
            HFGEN_LIN(l, D, E, "%sproject_in.weight", p);
            HFGEN_LIN(l, E, D, "%sproject_out.weight", p);
        }
        for (size_t i = 0; i < s->layers; i++) {
            static const char *const qkvo[] = {"q_proj", "k_proj", "v_proj", "out_proj"};
            for (int j = 0; j < 4; j++) {
                HFGEN_LIN(l, D, D, "%slayers.%zu.self_attn.%s.weight", p, i, qkvo[j]);
                if (!s->no_bias) HFGEN_BIAS(l, D, "%slayers.%zu.self_attn.%s.bias", p, i, qkvo[j]);
            }
            HFGEN_NORM(l, D, "%slayers.%zu.self_attn_layer_norm.weight", p, i);
            HFGEN_BIAS(l, D, "%slayers.%zu.self_attn_layer_norm.bias", p, i);
            HFGEN_LIN(l, F, D, "%slayers.%zu.fc1.weight", p, i);
            if (!s->no_bias) HFGEN_BIAS(l, F, "%slayers.%zu.fc1.bias", p, i);
            HFGEN_LIN(l, D, F, "%slayers.%zu.fc2.weight", p, i);
            if (!s->no_bias) HFGEN_BIAS(l, D, "%slayers.%zu.fc2.bias", p, i);
            HFGEN_NORM(l, D, "%slayers.%zu.final_layer_norm.weight", p, i);
            HFGEN_BIAS(l, D, "%slayers.%zu.final_layer_norm.bias", p, i);
        }
        if (!s->post_ln) {
            HFGEN_NORM(l, D, "%sfinal_layer_norm.weight", p);
            HFGEN_BIAS(l, D, "%sfinal_layer_norm.bias", p);
        }
        if (s->opt_head) HFGEN_LIN(l, V, E, "lm_head.weight");
    } else {
        hfgen_tensors_from_table(s, l);
    }
}

static HFGEN_UNUSED int hfgen_config(const char *dir, const hfgen_spec *s, int32_t bos, int32_t eos)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", dir);
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    size_t D = s->dim, kv = s->kv_heads ? s->kv_heads : s->heads;
    const char *dt = s->dtype == PROFS_DTYPE_BF16 ? "bfloat16" : s->dtype == PROFS_DTYPE_F16 ? "float16" : "float32";
    if (!strcmp(s->arch, "gpt2"))
        fprintf(f, "{\n  \"architectures\": [\"GPT2LMHeadModel\"],\n  \"model_type\": \"gpt2\",\n"
                   "  \"n_embd\": %zu, \"n_head\": %zu, \"n_layer\": %zu, \"n_positions\": %zu, \"n_ctx\": %zu,\n"
                   "  \"n_inner\": null, \"vocab_size\": %zu, \"layer_norm_epsilon\": 1e-05,\n"
                   "  \"activation_function\": \"gelu_new\", \"bos_token_id\": %d, \"eos_token_id\": %d,\n"
                   "%s  \"torch_dtype\": \"%s\"\n}\n",
                D, s->heads, s->layers, s->max_pos, s->max_pos, s->vocab, (int)bos, (int)eos,
                s->gpt2_inv_scale ? "  \"scale_attn_by_inverse_layer_idx\": true,\n" : "", dt);
    else if (!strcmp(s->arch, "mistral") || !strcmp(s->arch, "llama")) {
        int mis = !strcmp(s->arch, "mistral");
        fprintf(f, "{\n  \"architectures\": [\"%s\"],\n  \"model_type\": \"%s\",\n"
                   "  \"hidden_size\": %zu, \"intermediate_size\": %zu, \"num_attention_heads\": %zu,\n"
                   "  \"num_hidden_layers\": %zu, \"num_key_value_heads\": %zu, \"max_position_embeddings\": %zu,\n"
                   "  \"vocab_size\": %zu, \"rms_norm_eps\": 1e-06, \"rope_theta\": %s, \"hidden_act\": \"silu\",\n"
                   "  \"tie_word_embeddings\": %s, \"bos_token_id\": %d, \"eos_token_id\": %d,\n",
                mis ? "MistralForCausalLM" : "LlamaForCausalLM", s->arch, D, s->ffn, s->heads, s->layers, kv,
                s->max_pos, s->vocab, mis ? "10000.0" : "500000.0", s->tied ? "true" : "false", (int)bos, (int)eos);
        if (s->head_dim) fprintf(f, "  \"head_dim\": %zu,\n", s->head_dim);
        else fprintf(f, "  \"head_dim\": null,\n");
        if (mis) {
            if (s->window) fprintf(f, "  \"sliding_window\": %zu,\n", s->window);
            else fprintf(f, "  \"sliding_window\": null,\n");
        } else {
            fprintf(f, "  \"attention_bias\": %s, \"mlp_bias\": %s,\n", s->attn_bias ? "true" : "false",
                    s->mlp_bias ? "true" : "false");
            if (s->llama3_rope)
                fprintf(f, "  \"rope_scaling\": {\"factor\": 8.0, \"low_freq_factor\": 1.0, \"high_freq_factor\": 4.0,"
                           " \"original_max_position_embeddings\": 16, \"rope_type\": \"llama3\"},\n");
            else fprintf(f, "  \"rope_scaling\": null,\n");
        }
        fprintf(f, "  \"torch_dtype\": \"%s\"\n}\n", dt);
    } else if (!strcmp(s->arch, "opt"))
        fprintf(f, "{\n  \"architectures\": [\"OPTForCausalLM\"],\n  \"model_type\": \"opt\",\n"
                   "  \"hidden_size\": %zu, \"ffn_dim\": %zu, \"num_attention_heads\": %zu, \"num_hidden_layers\": %zu,\n"
                   "  \"max_position_embeddings\": %zu, \"vocab_size\": %zu, \"word_embed_proj_dim\": %zu,\n"
                   "  \"do_layer_norm_before\": %s, \"activation_function\": \"relu\", \"enable_bias\": %s,\n"
                   "  \"layer_norm_elementwise_affine\": true, \"bos_token_id\": %d, \"eos_token_id\": %d,\n"
                   "%s  \"pad_token_id\": 1, \"torch_dtype\": \"%s\"\n}\n",
                D, s->ffn, s->heads, s->layers, s->max_pos, s->vocab, s->proj_dim ? s->proj_dim : D,
                s->post_ln ? "false" : "true", s->no_bias ? "false" : "true", (int)bos, (int)eos,
                s->opt_head ? "  \"tie_word_embeddings\": false,\n" : "", dt);
    else if (!strcmp(s->arch, "gptj"))
        fprintf(f, "{\n  \"architectures\": [\"GPTJForCausalLM\"],\n  \"model_type\": \"gptj\",\n"
                   "  \"n_embd\": %zu, \"n_head\": %zu, \"n_layer\": %zu, \"n_positions\": %zu, \"rotary_dim\": %zu,\n"
                   "  \"n_inner\": null, \"vocab_size\": %zu, \"layer_norm_epsilon\": 1e-05,\n"
                   "  \"activation_function\": \"gelu_new\", \"tie_word_embeddings\": false,\n"
                   "  \"bos_token_id\": %d, \"eos_token_id\": %d, \"torch_dtype\": \"%s\"\n}\n",
                D, s->heads, s->layers, s->max_pos, s->rotary_dim, s->vocab, (int)bos, (int)eos, dt);
    else if (pf_arch_by_name(s->arch)) {
        /* any other family: the keys of its key map */
        const pf_family *fm = pf_arch_by_name(s->arch);
        const pf_cfg_key *k = fm->keys;
        fprintf(f, "{\n  \"architectures\": [\"%s\"],\n  \"model_type\": \"%s\",\n", fm->classes[0],
                fm->model_types[0]);
        fprintf(f, "  \"%s\": %zu, \"%s\": %zu, \"%s\": %zu, \"%s\": %zu,\n", k[PF_C_LAYERS].key, s->layers,
                k[PF_C_HIDDEN].key, D, k[PF_C_HEADS].key, s->heads, k[PF_C_KV_HEADS].key, kv);
        fprintf(f, "  \"%s\": %zu, \"%s\": %zu, \"%s\": %zu, \"%s\": %zu,\n", k[PF_C_FFN].key, s->ffn,
                k[PF_C_VOCAB].key, s->vocab, k[PF_C_MAX_POS].key, s->max_pos, k[PF_C_HEAD_DIM].key,
                hfgen_head_dim(s));
        if (k[PF_C_EPS].key) fprintf(f, "  \"%s\": 1e-06,\n", k[PF_C_EPS].key);
        if (s->window) fprintf(f, "  \"sliding_window\": %zu, \"use_sliding_window\": true,\n", s->window);
        if (s->attn_bias) fprintf(f, "  \"attention_bias\": true,\n");
        fprintf(f, "  \"rope_theta\": 10000.0, \"tie_word_embeddings\": %s, \"bos_token_id\": %d, "
                   "\"eos_token_id\": %d,\n  \"torch_dtype\": \"%s\"\n}\n",
                s->tied ? "true" : "false", (int)bos, (int)eos, dt);
    }
    return fclose(f) == 0 ? 0 : -1;
}

/* GPT-2's byte-to-unicode table, as UTF-8 strings. */
static HFGEN_UNUSED void hfgen_byte_token(int b, char out[8])
{
    int cp;
    if ((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255)) cp = b;
    else {
        int n = 0;
        for (int x = 0; x < b; x++)
            if (!((x >= 33 && x <= 126) || (x >= 161 && x <= 172) || (x >= 174 && x <= 255))) n++;
        cp = 256 + n;
    }
    if (cp < 0x80) { out[0] = (char)cp; out[1] = 0; }
    else { out[0] = (char)(0xc0 | (cp >> 6)); out[1] = (char)(0x80 | (cp & 0x3f)); out[2] = 0; }
}

static HFGEN_UNUSED void hfgen_json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') { fputc('\\', f); fputc(*s, f); }
        else fputc(*s, f);
    }
    fputc('"', f);
}

/* Merges of the fixture tokenizer (each pair's parts exist before it). */
static const char *const hfgen_merges[][2] = {
    {"\xc4\xa0", "t"}, {"h", "e"}, {"i", "n"}, {"e", "r"}, {"a", "n"}, {"o", "n"}, {"\xc4\xa0", "a"},
    {"r", "e"}, {"\xc4\xa0t", "he"}, {"e", "n"}, {"\xc4\xa0", "s"}, {"o", "u"}, {"i", "s"}, {"\xc4\xa0", "w"},
    {"a", "t"}, {"\xc4\xa0", "o"}, {"e", "s"}, {"\xc4\xa0", "c"}, {"n", "d"}, {"\xc4\xa0", "b"},
};
#define HFGEN_N_MERGES (sizeof hfgen_merges / sizeof hfgen_merges[0])

/* Special tokens follow the 256 bytes and the merges. Returns the BOS id the
 * post-processor adds (-1: none) in *bos and the EOS id in *eos. */
static HFGEN_UNUSED int hfgen_tokenizer(const char *dir, const hfgen_spec *s, int32_t *bos, int32_t *eos)
{
    int32_t base = 256 + (int32_t)HFGEN_N_MERGES;
    int llama = !strcmp(s->arch, "mistral") || !strcmp(s->arch, "llama");
    int opt = !strcmp(s->arch, "opt");
    const char *sp0 = llama ? "<s>" : opt ? "<s>" : "<|endoftext|>";
    const char *sp1 = llama || opt ? "</s>" : NULL;
    *bos = llama ? base : opt ? base + 1 : -1;   /* OPT's tokenizer prepends </s> */
    *eos = llama || opt ? base + 1 : base;
    if (s->no_tokenizer) return 0;
    char path[4096];
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    fprintf(f, "{\"version\":\"1.0\",\"truncation\":null,\"padding\":null,\"added_tokens\":[");
    fprintf(f, "{\"id\":%d,\"content\":", (int)base);
    hfgen_json_str(f, sp0);
    fprintf(f, ",\"single_word\":false,\"lstrip\":false,\"rstrip\":false,\"normalized\":false,\"special\":true}");
    if (sp1) {
        fprintf(f, ",{\"id\":%d,\"content\":", (int)base + 1);
        hfgen_json_str(f, sp1);
        fprintf(f, ",\"single_word\":false,\"lstrip\":false,\"rstrip\":false,\"normalized\":false,\"special\":true}");
    }
    fprintf(f, "],\"normalizer\":null,"
               "\"pre_tokenizer\":{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"trim_offsets\":true,\"use_regex\":true},");
    if (*bos >= 0) {
        const char *b = *bos == base ? sp0 : sp1;
        fprintf(f, "\"post_processor\":{\"type\":\"TemplateProcessing\",\"single\":[{\"SpecialToken\":{\"id\":");
        hfgen_json_str(f, b);
        fprintf(f, ",\"type_id\":0}},{\"Sequence\":{\"id\":\"A\",\"type_id\":0}}],\"pair\":[{\"SpecialToken\":{\"id\":");
        hfgen_json_str(f, b);
        fprintf(f, ",\"type_id\":0}},{\"Sequence\":{\"id\":\"A\",\"type_id\":0}},{\"Sequence\":{\"id\":\"B\",\"type_id\":1}}],"
                   "\"special_tokens\":{");
        hfgen_json_str(f, b);
        fprintf(f, ":{\"id\":");
        hfgen_json_str(f, b);
        fprintf(f, ",\"ids\":[%d],\"tokens\":[", (int)*bos);
        hfgen_json_str(f, b);
        fprintf(f, "]}}},");
    } else {
        fprintf(f, "\"post_processor\":{\"type\":\"ByteLevel\",\"add_prefix_space\":true,\"trim_offsets\":false,\"use_regex\":true},");
    }
    fprintf(f, "\"decoder\":{\"type\":\"ByteLevel\",\"add_prefix_space\":true,\"trim_offsets\":true,\"use_regex\":true},"
               "\"model\":{\"type\":\"BPE\",\"dropout\":null,\"unk_token\":null,\"continuing_subword_prefix\":null,"
               "\"end_of_word_suffix\":null,\"fuse_unk\":false,\"byte_fallback\":false,\"vocab\":{");
    for (int b = 0; b < 256; b++) {
        char tk[8];
        hfgen_byte_token(b, tk);
        if (b) fputc(',', f);
        hfgen_json_str(f, tk);
        fprintf(f, ":%d", b);
    }
    for (size_t m = 0; m < HFGEN_N_MERGES; m++) {
        char tk[32];
        snprintf(tk, sizeof tk, "%s%s", hfgen_merges[m][0], hfgen_merges[m][1]);
        fputc(',', f);
        hfgen_json_str(f, tk);
        fprintf(f, ":%d", 256 + (int)m);
    }
    fprintf(f, ",");
    hfgen_json_str(f, sp0);
    fprintf(f, ":%d", (int)base);
    if (sp1) {
        fprintf(f, ",");
        hfgen_json_str(f, sp1);
        fprintf(f, ":%d", (int)base + 1);
    }
    fprintf(f, "},\"merges\":[");
    for (size_t m = 0; m < HFGEN_N_MERGES; m++) {
        char tk[32];
        snprintf(tk, sizeof tk, "%s %s", hfgen_merges[m][0], hfgen_merges[m][1]);
        if (m) fputc(',', f);
        hfgen_json_str(f, tk);
    }
    fprintf(f, "]}}\n");
    return fclose(f) == 0 ? 0 : -1;
}

/* Write the tensors [t0, t1) of the list into one safetensors file, streaming. */
static HFGEN_UNUSED int hfgen_write_file(const char *path, const hfgen_spec *s, const hfgen_tensor *t, size_t t0,
                                         size_t t1)
{
    size_t es = profs_dtype_size(s->dtype), cap = 4096, len = 0;
    char *hdr = malloc(cap);
    if (!hdr) return -1;
    uint64_t off = 0;
    len += (size_t)snprintf(hdr, cap, "{");
    for (size_t i = t0; i < t1; i++) {
        uint64_t numel = (uint64_t)t[i].shape[0] * (uint64_t)(t[i].ndim == 2 ? t[i].shape[1] : 1);
        char item[512];
        int n;
        if (t[i].ndim == 2)
            n = snprintf(item, sizeof item, "%s\"%s\":{\"dtype\":\"%s\",\"shape\":[%lld,%lld],\"data_offsets\":[%llu,%llu]}",
                         i > t0 ? "," : "", t[i].name, profs_dtype_name(s->dtype), (long long)t[i].shape[0],
                         (long long)t[i].shape[1], (unsigned long long)off, (unsigned long long)(off + numel * es));
        else
            n = snprintf(item, sizeof item, "%s\"%s\":{\"dtype\":\"%s\",\"shape\":[%lld],\"data_offsets\":[%llu,%llu]}",
                         i > t0 ? "," : "", t[i].name, profs_dtype_name(s->dtype), (long long)t[i].shape[0],
                         (unsigned long long)off, (unsigned long long)(off + numel * es));
        off += numel * es;
        while (len + (size_t)n + 64 > cap) { cap *= 2; hdr = realloc(hdr, cap); }
        memcpy(hdr + len, item, (size_t)n);
        len += (size_t)n;
    }
    len += (size_t)snprintf(hdr + len, cap - len, ",\"__metadata__\":{\"format\":\"pt\"}}");
    while (len % 8) hdr[len++] = ' ';
    FILE *f = fopen(path, "wb");
    if (!f) { free(hdr); return -1; }
    uint64_t hl = len;
    unsigned char le[8];
    for (int i = 0; i < 8; i++) le[i] = (unsigned char)(hl >> (8 * i));
    int ok = fwrite(le, 1, 8, f) == 8 && fwrite(hdr, 1, len, f) == len;
    free(hdr);
    size_t chunk = (size_t)1 << 20;
    float *buf = malloc(chunk * sizeof(float));
    unsigned char *raw = malloc(chunk * es);
    if (!buf || !raw) ok = 0;
    for (size_t i = t0; i < t1 && ok; i++) {
        uint64_t numel = (uint64_t)t[i].shape[0] * (uint64_t)(t[i].ndim == 2 ? t[i].shape[1] : 1);
        for (uint64_t o = 0; o < numel && ok; o += chunk) {
            size_t n = numel - o < chunk ? (size_t)(numel - o) : chunk;
            hfgen_fill(&t[i], s->seed, o, buf, n);
            pf_convert_from_f32(raw, buf, s->dtype, n);
            ok = fwrite(raw, es, n, f) == n;
        }
    }
    free(buf);
    free(raw);
    return (fclose(f) == 0 && ok) ? 0 : -1;
}

/* Write a complete model directory (created if missing). Returns 0 or -1. */
static HFGEN_UNUSED int hfgen_write(const char *dir, const hfgen_spec *s)
{
    mkdir(dir, 0755);
    int32_t bos, eos;
    if (hfgen_tokenizer(dir, s, &bos, &eos)) return -1;
    if (hfgen_config(dir, s, bos < 0 ? eos : bos, eos)) return -1;
    hfgen_list l = {0};
    hfgen_tensors(s, &l);
    char path[4096];
    int rc = 0;
    if (s->shards <= 1) {
        snprintf(path, sizeof path, "%s/model.safetensors", dir);
        rc = hfgen_write_file(path, s, l.t, 0, l.n);
    } else {
        size_t per = (l.n + (size_t)s->shards - 1) / (size_t)s->shards;
        snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
        FILE *ix = fopen(path, "w");
        if (!ix) { free(l.t); return -1; }
        uint64_t total = 0;
        for (size_t i = 0; i < l.n; i++)
            total += (uint64_t)l.t[i].shape[0] * (uint64_t)(l.t[i].ndim == 2 ? l.t[i].shape[1] : 1) *
                     profs_dtype_size(s->dtype);
        fprintf(ix, "{\"metadata\":{\"total_size\":%llu},\"weight_map\":{", (unsigned long long)total);
        for (int k = 0; k < s->shards && !rc; k++) {
            size_t a = (size_t)k * per, b = a + per < l.n ? a + per : l.n;
            char fname[64];
            snprintf(fname, sizeof fname, "model-%05d-of-%05d.safetensors", k + 1, s->shards);
            for (size_t i = a; i < b; i++) fprintf(ix, "%s\"%s\":\"%s\"", i ? "," : "", l.t[i].name, fname);
            snprintf(path, sizeof path, "%s/%s", dir, fname);
            if (a < b) rc = hfgen_write_file(path, s, l.t, a, b);
        }
        fprintf(ix, "}}\n");
        if (fclose(ix)) rc = -1;
    }
    free(l.t);
    return rc;
}

/* Seeded fixtures for the tests that rewrite a checkpoint (errors of opening), the bindings and the CLI
 * tests (tests/gen/gen_lm_fixtures). The goldens are made on transformers-made checkpoints instead:
 * tests/data/tf/, tests/reference/tf_goldens.py. */
static HFGEN_UNUSED const hfgen_spec *hfgen_fixture(const char *name)
{
    static const struct { const char *name; hfgen_spec s; } fx[] = {
        {"gpt2", {.arch = "gpt2", .layers = 2, .dim = 32, .heads = 4, .ffn = 128, .vocab = 300, .max_pos = 64,
                  .tied = 1, .prefix = "", .dtype = PROFS_DTYPE_F32, .seed = 101}},
        {"gpt2_bf16", {.arch = "gpt2", .layers = 2, .dim = 32, .heads = 4, .ffn = 128, .vocab = 300, .max_pos = 64,
                       .tied = 1, .dtype = PROFS_DTYPE_BF16, .shards = 2, .prefix = "transformer.", .seed = 102}},
        {"gpt2_inv", {.arch = "gpt2", .layers = 2, .dim = 32, .heads = 4, .ffn = 128, .vocab = 300, .max_pos = 64,
                      .tied = 1, .prefix = "", .gpt2_inv_scale = 1, .dtype = PROFS_DTYPE_F32, .seed = 103}},
        {"mistral", {.arch = "mistral", .layers = 2, .dim = 32, .heads = 4, .kv_heads = 2, .ffn = 64, .vocab = 300,
                     .max_pos = 64, .window = 5, .dtype = PROFS_DTYPE_F32, .seed = 201}},
        {"mistral_bf16", {.arch = "mistral", .layers = 2, .dim = 32, .heads = 4, .kv_heads = 2, .ffn = 64,
                          .vocab = 300, .max_pos = 64, .window = 5, .dtype = PROFS_DTYPE_BF16, .shards = 3,
                          .seed = 202}},
        {"llama", {.arch = "llama", .layers = 2, .dim = 32, .heads = 4, .kv_heads = 1, .head_dim = 16, .ffn = 48,
                   .vocab = 300, .max_pos = 64, .tied = 1, .attn_bias = 1, .mlp_bias = 1, .llama3_rope = 1,
                   .dtype = PROFS_DTYPE_F16, .seed = 301}},
        {"opt", {.arch = "opt", .layers = 2, .dim = 32, .heads = 4, .ffn = 64, .vocab = 300, .max_pos = 64,
                 .dtype = PROFS_DTYPE_F32, .seed = 401}},
        {"opt_proj", {.arch = "opt", .layers = 2, .dim = 32, .heads = 4, .ffn = 64, .vocab = 300, .max_pos = 64,
                      .proj_dim = 16, .post_ln = 1, .prefix = "decoder.", .dtype = PROFS_DTYPE_F32, .seed = 402}},
        {"opt_nobias", {.arch = "opt", .layers = 2, .dim = 32, .heads = 4, .ffn = 64, .vocab = 300, .max_pos = 64,
                        .no_bias = 1, .opt_head = 1, .dtype = PROFS_DTYPE_F32, .seed = 403}},
        {"gptj", {.arch = "gptj", .layers = 2, .dim = 32, .heads = 4, .ffn = 128, .vocab = 300, .max_pos = 64,
                  .rotary_dim = 4, .dtype = PROFS_DTYPE_F32, .seed = 501}},
    };
    for (size_t i = 0; i < sizeof fx / sizeof fx[0]; i++)
        if (!strcmp(fx[i].name, name)) return &fx[i].s;
    return NULL;
}

static const char *const hfgen_fixture_names[] = {"gpt2", "gpt2_bf16", "gpt2_inv", "mistral", "mistral_bf16",
                                                  "llama", "opt", "opt_proj", "opt_nobias", "gptj"};
#define HFGEN_N_FIXTURES 10

#endif
