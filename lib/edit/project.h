/* Internal: the projector with a choice of implementation (for tests and benchmarks). */
#ifndef PF_PROJECT_H
#define PF_PROJECT_H

#include <stddef.h>

/* profs_project(); allow_kernel = 0 forces the portable sgemm path for D_FIRST
 * (otherwise the AVX2/FMA vector kernel is used where the CPU has it). */
int pf_project(double *delta_norm, void *weight, int dtype, size_t rows, size_t cols, int layout,
               const float *basis, size_t rank, size_t dim, int allow_kernel);

#endif
