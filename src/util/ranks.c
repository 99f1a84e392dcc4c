/* Ranks without MPI: one process, every collective a no-op (see ranks.h).
 * Compiled when reef is built without Open MPI; ranks_mpi.c otherwise. */
#include "util/ranks.h"

#include <stdlib.h>
#include <string.h>

void reef_ranks_slice(uint64_t n, int rank, int size, uint64_t *lo, uint64_t *hi)
{
    *lo = n * (uint64_t)rank / (uint64_t)size;
    *hi = n * (uint64_t)(rank + 1) / (uint64_t)size;
}

#ifndef REEF_HAVE_MPI

int reef_ranks_init(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    return 0;
}

void reef_ranks_finalize(void) {}
int reef_ranks_rank(void) { return 0; }
int reef_ranks_size(void) { return 1; }
int reef_ranks_built_with_mpi(void) { return 0; }

int reef_ranks_allgather_bytes(void *buf, const size_t *count, const size_t *displ)
{
    (void)buf, (void)count, (void)displ;
    return 0;
}

int reef_ranks_allgather_text(const char *mine, size_t len, char **all, size_t *all_len)
{
    *all = malloc(len + 1);
    if (!*all) return -1;
    memcpy(*all, mine, len);
    (*all)[len] = 0;
    *all_len = len;
    return 0;
}

int reef_ranks_any(int flag) { return flag != 0; }

int reef_ranks_sum_i64(int64_t *v, size_t n)
{
    (void)v, (void)n;
    return 0;
}

int reef_ranks_sum_disjoint_f64(double *v, size_t n)
{
    (void)v, (void)n;
    return 0;
}

int reef_ranks_agree(int failed, char *msg, size_t msg_size)
{
    (void)msg, (void)msg_size;
    return failed != 0;
}

void reef_ranks_barrier(void) {}
int reef_ranks_failure_agreed(void) { return 1; }
void reef_ranks_abort(int status) { exit(status); }

#endif
