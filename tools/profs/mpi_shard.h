/* Sharding collection over MPI processes (tools/profs/mpi_shard.c). The library
 * stays MPI-free: ranks run the same command over whole passes of the
 * single-process run, and rank 0 gathers their pooled rows through the
 * collector's public API (profs_collector_add_pairs + profs_collector_merge).
 * Built with -DPROFS_MPI (CMake option PROFS_MPI); without it, or when the tool
 * is not started by mpirun, there is one process and every call is trivial. */
#ifndef PROFS_TOOL_MPI_SHARD_H
#define PROFS_TOOL_MPI_SHARD_H

#include <stddef.h>
#include <stdint.h>

#include "profs/profs.h"

/* Start MPI when built with it and started by mpirun (Open MPI's or a PMI
 * environment); a plain run stays a single process without MPI_Init. */
void tool_mpi_init(int *argc, char ***argv);
/* This process's rank (0 without MPI) and the number of processes (1). */
int tool_mpi_rank(void);
int tool_mpi_size(void);
/* End of the command with exit status `status`. Under MPI with several ranks, a
 * failing rank (status != 0) names itself on stderr and aborts every rank
 * (MPI_Abort: all exit non-zero, mpirun with `status`); otherwise all ranks
 * wait for rank 0 and exit with its status. Returns the exit status. */
int tool_mpi_finish(int status);
/* Contiguous share [*lo, *hi) of n items for this rank, in rank order. */
void tool_mpi_share(size_t n, size_t *lo, size_t *hi);
/* Sum of v over the ranks, at every rank. */
uint64_t tool_mpi_sum(uint64_t v);
/* Rank 0: append every other rank's pairs to *c, in rank order; other ranks:
 * send theirs and free *c (set to NULL). Prints errors; returns 0 or -1. */
int tool_mpi_gather(profs_collector **c);

#endif
