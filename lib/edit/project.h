/* Internal: the projector with a choice of implementation (for tests and benchmarks). */
#ifndef PF_PROJECT_H
#define PF_PROJECT_H

#include <stddef.h>

/* profs_project(); allow_kernel = 0 forces the portable dgemm path for D_FIRST
 * (otherwise the AVX2/FMA vector kernel is used where the CPU has it); results
 * are rounded to nearest even. */
int pf_project(double *delta_norm, void *weight, int dtype, size_t rows, size_t cols, int layout,
               const float *basis, size_t rank, size_t dim, int allow_kernel);
/* pf_project() with the rounding of the results chosen: round_odd = 0 rounds each double to
 * nearest even in dtype; round_odd = 1 (F32 only; profs_project_f32) rounds to odd in f32. */
int pf_project_mode(double *delta_norm, void *weight, int dtype, size_t rows, size_t cols, int layout,
                    const float *basis, size_t rank, size_t dim, int allow_kernel, int round_odd);

#endif
