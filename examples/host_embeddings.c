/* host_embeddings: ProFS for a host that computes embeddings itself.
 *
 * A host application (PyTorch on a GPU, llama.cpp, a cluster job) already has
 * per-token hidden states of each layer. It mean-pools them under the
 * attention mask (profs_mean_pool), pushes preferred/dispreferred pairs into a
 * collector, estimates each layer's subspace with ScreeNOT, and projects it
 * out of its own weight buffers with the projector kernel -- all through the
 * public API of libprofs.so.
 *
 * The "model" here is synthetic: the dispreferred sentences carry a planted
 * rank-3 component per layer, which ScreeNOT must find.
 *
 *   host_embeddings            prints what it finds; exit status 0 when the
 *                              planted rank is recovered and the edited weights
 *                              have no component left in the subspace.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include <profs/profs.h>

enum { N_LAYERS = 3, DIM = 64, N_PAIRS = 150, MAX_TOKENS = 12, PLANTED = 3, FFN = 256 };

#define CHECK(call) do { int rc_ = (call); if (rc_ < 0) { \
    fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, profs_strerror(rc_), profs_last_error()); \
    goto fail; } } while (0)

/* A small deterministic normal generator (xorshift64* + Box-Muller). */
static uint64_t rng_state = 0x9E3779B97F4A7C15u;
static double uniform01(void)
{
    rng_state ^= rng_state >> 12; rng_state ^= rng_state << 25; rng_state ^= rng_state >> 27;
    return ((rng_state * 0x2545F4914F6CDD1Du) >> 11) * (1.0 / 9007199254740992.0) + 1e-300;
}
static float normal(void) { return (float)(sqrt(-2.0 * log(uniform01())) * cos(6.283185307179586 * uniform01())); }

/* rows (n, DIM): orthonormal by Gram-Schmidt */
static void orthonormal_rows(float *rows, int n)
{
    for (int i = 0; i < n; i++) {
        float *r = rows + (size_t)i * DIM;
        for (int j = 0; j < DIM; j++) r[j] = normal();
        for (int k = 0; k < i; k++) {
            const float *q = rows + (size_t)k * DIM;
            double d = 0; for (int j = 0; j < DIM; j++) d += (double)r[j] * q[j];
            for (int j = 0; j < DIM; j++) r[j] -= (float)(d * q[j]);
        }
        double nn = 0; for (int j = 0; j < DIM; j++) nn += (double)r[j] * r[j];
        for (int j = 0; j < DIM; j++) r[j] /= (float)sqrt(nn);
    }
}

int main(void)
{
    static float planted[N_LAYERS][PLANTED * DIM];   /* the "toxic" subspace of each layer */
    static float tokens[2][MAX_TOKENS * DIM];         /* (tokens, DIM) states of one sentence */
    static float pooled[2][N_LAYERS * DIM];           /* (N_LAYERS, DIM) per side */
    static float weight[DIM * FFN];                   /* a [DIM, FFN] MLP value matrix, like down_proj */
    uint8_t mask[MAX_TOKENS];
    profs_collector *c = NULL;
    profs_estimator *e = NULL;
    profs_subspace *s = NULL;
    int ok = 1;

    printf("libprofs %s\n", profs_version_string());
    for (int l = 0; l < N_LAYERS; l++) orthonormal_rows(planted[l], PLANTED);

    /* 1. Collect: pool each sentence's token states under its mask, add the pair. */
    CHECK(profs_collector_new(&c, N_LAYERS, DIM));
    for (int p = 0; p < N_PAIRS; p++) {
        int len = 4 + (int)(uniform01() * (MAX_TOKENS - 4));     /* real tokens; the rest is padding */
        for (int t = 0; t < MAX_TOKENS; t++) mask[t] = t < len;
        for (int l = 0; l < N_LAYERS; l++) {
            float coeff[PLANTED];
            for (int k = 0; k < PLANTED; k++) coeff[k] = 3.0f * normal();
            for (int t = 0; t < MAX_TOKENS; t++)
                for (int j = 0; j < DIM; j++) {
                    float x = t < len ? 0.5f * normal() + 1.0f : 1e3f;  /* padding: garbage */
                    float toxic = 0;
                    for (int k = 0; k < PLANTED; k++) toxic += coeff[k] * planted[l][k * DIM + j];
                    tokens[0][t * DIM + j] = x;
                    tokens[1][t * DIM + j] = x + toxic + 0.05f * normal();
                }
            CHECK(profs_mean_pool(pooled[0] + l * DIM, tokens[0], mask, MAX_TOKENS, DIM));
            CHECK(profs_mean_pool(pooled[1] + l * DIM, tokens[1], mask, MAX_TOKENS, DIM));
        }
        CHECK(profs_collector_add_pair(c, pooled[0], pooled[1]));
    }
    printf("collected %zu pairs x %zu layers x %zu\n", profs_collector_n_pairs(c),
           profs_collector_n_layers(c), profs_collector_dim(c));

    /* 2. Estimate with ScreeNOT (at most 10 directions), mean centering. */
    CHECK(profs_estimator_new(&e));
    CHECK(profs_estimator_set_centering(e, PROFS_CENTER_MEAN));
    CHECK(profs_estimator_set_rank_rule(e, PROFS_RANK_SCREENOT, 10));

    for (int l = 0; l < N_LAYERS; l++) {
        CHECK(profs_estimate(&s, e, c, (size_t)l));
        size_t k = profs_subspace_rank(s);
        const double *sv = profs_subspace_singular_values(s);
        printf("layer %d: rank %zu (planted %d), threshold %.4f, singular values %.3f %.3f %.3f %.3f\n",
               l, k, PLANTED, profs_subspace_threshold(s), sv[0], sv[1], sv[2], sv[3]);
        if (k != PLANTED) ok = 0;

        /* 3. Project it out of our own weight buffer, in place: W <- W - V (V^T W). */
        for (size_t i = 0; i < (size_t)DIM * FFN; i++) weight[i] = normal();
        double change = 0;
        CHECK(profs_project(&change, weight, PROFS_DTYPE_F32, DIM, FFN, PROFS_LAYOUT_D_FIRST,
                            profs_subspace_basis(s), k, DIM));
        /* The edited matrix can no longer write into the subspace: V^T W = 0. */
        double left = 0;
        const float *v = profs_subspace_basis(s);
        for (size_t r = 0; r < k; r++)
            for (int col = 0; col < FFN; col++) {
                double d = 0;
                for (int j = 0; j < DIM; j++) d += (double)v[r * DIM + j] * weight[(size_t)j * FFN + col];
                if (fabs(d) > left) left = fabs(d);
            }
        printf("         |change| %.3f, max |V^T W| after %.1e\n", change, left);
        if (left > 1e-4) ok = 0;
        profs_subspace_free(s);
        s = NULL;
    }
    profs_estimator_free(e);
    profs_collector_free(c);
    printf("host_embeddings: %s\n", ok ? "ok" : "FAILED");
    return ok ? 0 : 1;

fail:
    profs_subspace_free(s);
    profs_estimator_free(e);
    profs_collector_free(c);
    return 1;
}
