/* Sharding collection over MPI processes (see mpi_shard.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mpi_shard.h"
#include "tool.h"
#include "util.h"

#ifdef PROFS_MPI
#include <mpi.h>

static int mpi_on, mpi_rank, mpi_size = 1;

void tool_mpi_init(int *argc, char ***argv)
{
    /* only under a launcher: a plain run never initialises MPI */
    if (!getenv("OMPI_COMM_WORLD_SIZE") && !getenv("PMIX_RANK") && !getenv("PMI_RANK")) return;
    if (MPI_Init(argc, argv) != MPI_SUCCESS) return;
    mpi_on = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &mpi_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &mpi_size);
}

int tool_mpi_rank(void) { return mpi_rank; }
int tool_mpi_size(void) { return mpi_size; }

int tool_mpi_finish(int status)
{
    if (!mpi_on) return status;
    if (mpi_size > 1 && status != 0) {
        if (!tool_interrupted()) /* not a rank that the launcher is already stopping */
            fprintf(stderr, "profs: rank %d of %d failed (exit status %d): stopping every rank\n", mpi_rank,
                    mpi_size, status);
        fflush(stderr);
        fflush(stdout);
        MPI_Abort(MPI_COMM_WORLD, status);
    }
    int st = status;
    MPI_Bcast(&st, 1, MPI_INT, 0, MPI_COMM_WORLD);
    fflush(stdout);
    MPI_Finalize();
    return st;
}

uint64_t tool_mpi_sum(uint64_t v)
{
    if (!mpi_on || mpi_size == 1) return v;
    unsigned long long in = v, out = 0;
    MPI_Allreduce(&in, &out, 1, MPI_UNSIGNED_LONG_LONG, MPI_SUM, MPI_COMM_WORLD);
    return out;
}

/* Tags of the gather: a rank's pair count, then per layer its preferred and dispreferred rows. */
enum { TAG_COUNT = 1, TAG_ROWS = 2 };

static int send_rows(const float *rows, size_t n)
{
    /* in pieces that fit an int count */
    const size_t piece = (size_t)1 << 30;
    for (size_t i = 0; i < n; i += piece) {
        size_t k = n - i < piece ? n - i : piece;
        if (MPI_Send(rows + i, (int)k, MPI_FLOAT, 0, TAG_ROWS, MPI_COMM_WORLD) != MPI_SUCCESS) return -1;
    }
    return 0;
}

static int recv_rows(float *rows, size_t n, int from)
{
    const size_t piece = (size_t)1 << 30;
    for (size_t i = 0; i < n; i += piece) {
        size_t k = n - i < piece ? n - i : piece;
        if (MPI_Recv(rows + i, (int)k, MPI_FLOAT, from, TAG_ROWS, MPI_COMM_WORLD, MPI_STATUS_IGNORE) != MPI_SUCCESS)
            return -1;
    }
    return 0;
}

int tool_mpi_gather(profs_collector **c)
{
    if (!mpi_on || mpi_size == 1) return 0;
    size_t L = profs_collector_n_layers(*c), D = profs_collector_dim(*c);
    if (mpi_rank > 0) {
        unsigned long long n = profs_collector_n_pairs(*c);
        int bad = MPI_Send(&n, 1, MPI_UNSIGNED_LONG_LONG, 0, TAG_COUNT, MPI_COMM_WORLD) != MPI_SUCCESS;
        for (size_t l = 0; l < L && n && !bad; l++)
            bad = send_rows(profs_collector_preferred(*c, l), (size_t)n * D) ||
                  send_rows(profs_collector_dispreferred(*c, l), (size_t)n * D);
        profs_collector_free(*c);
        *c = NULL;
        if (bad) { fprintf(stderr, "profs: rank %d: sending the embeddings to rank 0 failed\n", mpi_rank); return -1; }
        return 0;
    }
    for (int r = 1; r < mpi_size; r++) {
        unsigned long long n = 0;
        if (MPI_Recv(&n, 1, MPI_UNSIGNED_LONG_LONG, r, TAG_COUNT, MPI_COMM_WORLD, MPI_STATUS_IGNORE) != MPI_SUCCESS) {
            fprintf(stderr, "profs: receiving the embeddings of rank %d failed\n", r);
            return -1;
        }
        if (n == 0) continue;
        /* per-layer rows (n, D) into the collector's pair layout (n, L, D) */
        size_t N = (size_t)n;
        float *pref = malloc(N * L * D * sizeof(float)), *disp = malloc(N * L * D * sizeof(float));
        float *rows = malloc(N * D * sizeof(float));
        profs_collector *shard = NULL;
        int rc = 0;
        if (!pref || !disp || !rows) { fprintf(stderr, "profs: out of memory gathering rank %d\n", r); rc = -1; }
        for (size_t l = 0; l < L && !rc; l++)
            for (int side = 0; side < 2 && !rc; side++) {
                if (recv_rows(rows, N * D, r)) {
                    fprintf(stderr, "profs: receiving the embeddings of rank %d failed\n", r);
                    rc = -1;
                    break;
                }
                float *dst = side ? disp : pref;
                for (size_t i = 0; i < N; i++) memcpy(dst + (i * L + l) * D, rows + i * D, D * sizeof(float));
            }
        int e = 0;
        if (!rc && !(e = profs_collector_new(&shard, L, D)) && !(e = profs_collector_add_pairs(shard, N, pref, disp)))
            e = profs_collector_merge(*c, shard);
        if (!rc && e) { tool_fail_lib(e, "gathering the embeddings of the ranks"); rc = -1; }
        profs_collector_free(shard);
        free(pref);
        free(disp);
        free(rows);
        if (rc) return -1;
    }
    return 0;
}

#else /* one process */

void tool_mpi_init(int *argc, char ***argv) { (void)argc; (void)argv; }
int tool_mpi_rank(void) { return 0; }
int tool_mpi_size(void) { return 1; }
int tool_mpi_finish(int status) { return status; }
uint64_t tool_mpi_sum(uint64_t v) { return v; }
int tool_mpi_gather(profs_collector **c) { (void)c; return 0; }

#endif

void tool_mpi_share(size_t n, size_t *lo, size_t *hi)
{
    size_t r = (size_t)tool_mpi_rank(), s = (size_t)tool_mpi_size();
    *lo = n * r / s;
    *hi = n * (r + 1) / s;
}
