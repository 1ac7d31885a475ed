/**
 * @file subspace.h
 * @brief Estimator (difference, centering, SVD, rank rule) and the subspaces it finds;
 *        ScreeNOT singular value thresholding.
 *
 * For one layer with pooled embeddings X+ (preferred) and X- (dispreferred),
 * both (N, D):
 *  1. T0 = (X+ - X-) / 2   (this sign is fixed; the subspace does not depend on it)
 *  2. T  = T0 (I - u u^T), u the unit "shared direction" chosen by the centering
 *     option (#PROFS_CENTER_MEAN: normalised mean of the rows of X+, the paper's
 *     definition; #PROFS_CENTER_TOP_SINGULAR: top right singular vector of X+,
 *     what the authors' released code does; #PROFS_CENTER_NONE: T = T0)
 *  3. thin SVD of T in double, T = U S V^T; singular values s_1 >= ... >= s_p,
 *     p = min(N, D)
 *  4. rank k: fixed, or ScreeNOT with an upper bound (aspect ratio
 *     min(N, D) / max(N, D) of T)
 *  5. basis = the top k right singular vectors, each with its largest-|x|
 *     component made positive (deterministic signs).
 * See docs/core.md for the derivations and edge cases.
 */
#ifndef PROFS_SUBSPACE_H
#define PROFS_SUBSPACE_H

#include "common.h"
#include "collector.h"

#ifdef __cplusplus
extern "C" {
#endif

/** How the shared direction u is chosen. Fixed numbers. */
typedef enum profs_centering {
    PROFS_CENTER_NONE = 0,         /**< no centering */
    PROFS_CENTER_MEAN = 1,         /**< u = mean(X+) / |mean(X+)| (the paper; default) */
    PROFS_CENTER_TOP_SINGULAR = 2  /**< u = top right singular vector of X+ (the authors' code) */
} profs_centering;

/** How the rank is chosen. Fixed numbers. */
typedef enum profs_rank_rule {
    PROFS_RANK_SCREENOT = 0,  /**< ScreeNOT threshold; k is the upper bound rank_max (default, k = 10) */
    PROFS_RANK_FIXED = 1      /**< exactly k directions */
} profs_rank_rule;

/** How ScreeNOT replaces the top rank_max values by pseudo-noise. Fixed numbers. */
typedef enum profs_screenot_strategy {
    PROFS_SCREENOT_IMPUTE = 0,     /**< imputation (the authors' default); needs 2 rank_max + 1 < n */
    PROFS_SCREENOT_WINSORIZE = 1,  /**< set them to the (rank_max+1)-th largest value */
    PROFS_SCREENOT_ZERO = 2        /**< set them to zero */
} profs_screenot_strategy;

/** Name of a centering ("none", "mean", "top-singular"); NULL for an unknown value. */
PROFS_API const char *profs_centering_name(int centering);
/** Parse a centering name; PROFS_ENOTFOUND for an unknown name, PROFS_EINVAL for NULL. */
PROFS_API int profs_centering_from_name(int *centering, const char *name);
/** Name of a rank rule ("screenot", "fixed"); NULL for an unknown value. */
PROFS_API const char *profs_rank_rule_name(int rule);
/** Parse a rank rule name. */
PROFS_API int profs_rank_rule_from_name(int *rule, const char *name);
/** Name of a ScreeNOT strategy ("impute", "winsorize", "zero"); NULL for an unknown value. */
PROFS_API const char *profs_screenot_strategy_name(int strategy);
/** Parse a ScreeNOT strategy name. */
PROFS_API int profs_screenot_strategy_from_name(int *strategy, const char *name);

/**
 * ScreeNOT: the MSE-optimal hard threshold for singular values in noise of
 * unknown, possibly correlated structure (Donoho, Gavish, Romanov, Annals of
 * Statistics 2023, arXiv 2009.12297).
 *
 * The values are sorted, the largest @p rank_max are replaced by a pseudo-noise
 * continuation (@p strategy), and the threshold is the unique y above the largest
 * pseudo-noise value with Psi(y) = -4, where Phi(y) = mean(y / (y^2 - z^2)),
 * D(y) = Phi(y) (g Phi(y) + (1 - g) / y), Psi(y) = y D'(y) / D(y), g = @p aspect_ratio.
 * The root is bracketed and bisected to a relative tolerance of 1e-14, so scaling all
 * values by c > 0 scales the threshold by c (to about 1e-13 relative).
 * When all pseudo-noise values are zero (an exactly low-rank input) the threshold is 0.
 *
 * @param[out] threshold  the threshold (may be NULL)
 * @param[out] rank       number of values strictly above the threshold (may be NULL)
 * @param singular_values (n) non-negative finite values, any order; not modified
 * @param n               number of values
 * @param aspect_ratio    min(rows, cols) / max(rows, cols) of the matrix, in (0, 1]
 * @param rank_max        upper bound on the signal rank: 0 <= rank_max < n,
 *                        and 2 rank_max + 1 < n for #PROFS_SCREENOT_IMPUTE when rank_max > 0
 * @param strategy        a #profs_screenot_strategy
 * @return PROFS_OK; PROFS_EINVAL (NULL values, n == 0, rank_max too large, aspect ratio
 *         out of range, unknown strategy, negative value); PROFS_ENUMERIC (NaN/Inf value);
 *         PROFS_ENOMEM. Thread-safe.
 */
PROFS_API PROFS_NODISCARD int profs_screenot(double *threshold, size_t *rank,
                                             const double *singular_values, size_t n,
                                             double aspect_ratio, size_t rank_max,
                                             profs_screenot_strategy strategy);

/* ---- estimator options ---- */

/** Opaque estimator options. */
typedef struct profs_estimator profs_estimator;

/**
 * Create estimator options with the defaults: #PROFS_CENTER_MEAN,
 * #PROFS_RANK_SCREENOT with rank_max 10, #PROFS_SCREENOT_IMPUTE.
 * @return PROFS_OK, PROFS_EINVAL (NULL), PROFS_ENOMEM.
 */
PROFS_API PROFS_NODISCARD int profs_estimator_new(profs_estimator **out);
/** Free estimator options. Accepts NULL. */
PROFS_API void profs_estimator_free(profs_estimator *e);
/** Set the centering (a #profs_centering). PROFS_EINVAL for an unknown value. */
PROFS_API int profs_estimator_set_centering(profs_estimator *e, profs_centering c);
/**
 * Set the rank rule.
 * @param rule  #PROFS_RANK_SCREENOT (k = upper bound, may be 0) or #PROFS_RANK_FIXED (k = rank)
 * @return PROFS_OK, PROFS_EINVAL (NULL, unknown rule).
 */
PROFS_API int profs_estimator_set_rank_rule(profs_estimator *e, profs_rank_rule rule, size_t k);
/** Set the ScreeNOT strategy (a #profs_screenot_strategy). */
PROFS_API int profs_estimator_set_screenot_strategy(profs_estimator *e, profs_screenot_strategy s);
/** Current centering (-1 for NULL). */
PROFS_API int profs_estimator_centering(const profs_estimator *e);
/** Current rank rule (-1 for NULL). */
PROFS_API int profs_estimator_rank_rule(const profs_estimator *e);
/** Current k (rank_max for ScreeNOT, the rank for fixed; 0 for NULL). */
PROFS_API size_t profs_estimator_rank_k(const profs_estimator *e);
/** Current ScreeNOT strategy (-1 for NULL). */
PROFS_API int profs_estimator_screenot_strategy(const profs_estimator *e);

/* ---- subspaces ---- */

/** Opaque estimated subspace of one layer. */
typedef struct profs_subspace profs_subspace;

/**
 * Estimate the subspace of one layer from the collected pairs.
 *
 * Edge cases: no pairs -> PROFS_ESTATE. ScreeNOT needs rank_max < min(N, D)
 * (and 2 rank_max + 1 < min(N, D) when imputing), else PROFS_EINVAL naming the
 * limits (so N = 1 works only with a fixed rank). A fixed rank above min(N, D)
 * is PROFS_ESHAPE; a fixed rank above the numerical rank of T is PROFS_ENUMERIC
 * naming both. Singular values at or below the numerical floor
 * max(1e-6 s_1, 256 FLT_EPSILON max(|X+|_F, |X-|_F)) are rounding noise, not
 * directions (pairs identical up to rounding have numerical rank 0).
 * ScreeNOT may select rank 0 (nothing to project): that is a valid subspace.
 * Its selected rank is capped at the numerical rank.
 *
 * @param[out] out  the new subspace (set only on success)
 * @param e         options (NULL = defaults)
 * @param c         collector
 * @param layer     layer index < profs_collector_n_layers(c)
 * @return PROFS_OK, PROFS_EINVAL, PROFS_ESTATE, PROFS_ESHAPE, PROFS_ENUMERIC, PROFS_ENOMEM.
 *         Thread-safe for distinct outputs (c is only read).
 */
PROFS_API PROFS_NODISCARD int profs_estimate(profs_subspace **out, const profs_estimator *e,
                                             const profs_collector *c, size_t layer);

/**
 * Build a subspace from a given orthonormal basis (for hosts and bindings).
 * @param basis  (rank, dim) row-major, copied; rows must be orthonormal to 1e-4
 *               (|B B^T - I| max entry), else PROFS_ENUMERIC. NULL allowed when rank == 0.
 * @return PROFS_OK, PROFS_EINVAL, PROFS_ENUMERIC, PROFS_ENOMEM.
 */
PROFS_API PROFS_NODISCARD int profs_subspace_from_basis(profs_subspace **out, const float *basis,
                                                        size_t rank, size_t dim);

/** Free a subspace. Accepts NULL. */
PROFS_API void profs_subspace_free(profs_subspace *s);
/** Number of basis vectors (0 for NULL). */
PROFS_API size_t profs_subspace_rank(const profs_subspace *s);
/** Hidden size (0 for NULL). */
PROFS_API size_t profs_subspace_dim(const profs_subspace *s);
/**
 * The basis: (rank, dim) row-major f32, orthonormal rows, valid until profs_subspace_free.
 * NULL when rank is 0.
 */
PROFS_API const float *profs_subspace_basis(const profs_subspace *s);
/** The ScreeNOT threshold, or NaN for a fixed rank or a subspace built from a basis. */
PROFS_API double profs_subspace_threshold(const profs_subspace *s);
/** Number of singular values of T (min(N, D); 0 for a subspace built from a basis). */
PROFS_API size_t profs_subspace_n_singular_values(const profs_subspace *s);
/** All singular values of T, descending: (n_singular_values) doubles, valid until free; NULL if none. */
PROFS_API const double *profs_subspace_singular_values(const profs_subspace *s);
/** Number of pairs it was estimated from (0 for a subspace built from a basis). */
PROFS_API size_t profs_subspace_n_pairs(const profs_subspace *s);

#ifdef __cplusplus
}
#endif
#endif /* PROFS_SUBSPACE_H */
