/* Ranks over Open MPI (see ranks.h). Compiled only with -DREEF_MPI=ON,
 * which defines REEF_HAVE_MPI; ranks.c holds the one-process version. */
#include "util/ranks.h"

#ifdef REEF_HAVE_MPI

#include <limits.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int started, my_rank, world_size = 1, agreed_failure;

int reef_ranks_init(int *argc, char ***argv)
{
    /* a plain `reef` run stays a plain process: no MPI start-up cost, and
     * it works where MPI cannot start (no network namespace, sandbox) */
    if (!getenv("OMPI_COMM_WORLD_SIZE") && !getenv("PMIX_RANK")) return 0;
    if (MPI_Init(argc, argv) != MPI_SUCCESS) return -1;
    started = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &my_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &world_size);
    return 0;
}

void reef_ranks_finalize(void)
{
    if (started) MPI_Finalize();
    started = 0;
}

int reef_ranks_rank(void) { return my_rank; }
int reef_ranks_size(void) { return world_size; }
int reef_ranks_built_with_mpi(void) { return 1; }

int reef_ranks_allgather_bytes(void *buf, const size_t *count, const size_t *displ)
{
    if (world_size == 1) return 0;
    int *c = malloc(2 * (size_t)world_size * sizeof *c), *d = c + world_size;
    if (!c) return -1;
    int rc = 0;
    for (int r = 0; r < world_size; r++) {
        if (count[r] > INT_MAX || displ[r] > INT_MAX) rc = -1;  // MPI counts are int
        c[r] = (int)count[r], d[r] = (int)displ[r];
    }
    if (!rc && MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, buf, c, d, MPI_BYTE, MPI_COMM_WORLD) != MPI_SUCCESS)
        rc = -1;
    free(c);
    return rc;
}

int reef_ranks_allgather_text(const char *mine, size_t len, char **all, size_t *all_len)
{
    unsigned long long my_len = len, *lens = calloc((size_t)world_size, sizeof *lens);
    size_t *count = malloc(2 * (size_t)world_size * sizeof *count), *displ = count + world_size;
    if (!lens || !count) {
        free(lens), free(count);
        return -1;
    }
    int rc = MPI_Allgather(&my_len, 1, MPI_UNSIGNED_LONG_LONG, lens, 1, MPI_UNSIGNED_LONG_LONG, MPI_COMM_WORLD) ==
                     MPI_SUCCESS ? 0 : -1;
    size_t total = 0;
    for (int r = 0; r < world_size; r++) count[r] = lens[r], displ[r] = total, total += lens[r];
    *all = malloc(total + 1);
    if (!*all) rc = -1;
    if (!rc) {
        memcpy(*all + displ[my_rank], mine, len);
        rc = reef_ranks_allgather_bytes(*all, count, displ);
        (*all)[total] = 0;
        *all_len = total;
    }
    free(lens), free(count);
    return rc;
}

/* MPI counts are int: large arrays go in pieces. */
static int sum_in_place(void *v, size_t n, size_t elem, MPI_Datatype type)
{
    if (world_size == 1) return 0;
    for (size_t at = 0; at < n; at += (size_t)INT_MAX / 2) {
        size_t part = n - at < (size_t)INT_MAX / 2 ? n - at : (size_t)INT_MAX / 2;
        if (MPI_Allreduce(MPI_IN_PLACE, (char *)v + at * elem, (int)part, type, MPI_SUM, MPI_COMM_WORLD) !=
            MPI_SUCCESS)
            return -1;
    }
    return 0;
}

int reef_ranks_sum_i64(int64_t *v, size_t n) { return sum_in_place(v, n, sizeof *v, MPI_INT64_T); }
int reef_ranks_sum_disjoint_f64(double *v, size_t n) { return sum_in_place(v, n, sizeof *v, MPI_DOUBLE); }

int reef_ranks_any(int flag)
{
    if (world_size == 1) return flag != 0;
    int mine = flag != 0, any = 0;
    MPI_Allreduce(&mine, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    return any;
}

int reef_ranks_agree(int failed, char *msg, size_t msg_size)
{
    if (world_size == 1) return failed != 0;
    int mine = failed ? my_rank : world_size, first = world_size;
    MPI_Allreduce(&mine, &first, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    if (first == world_size) return 0;
    char text[1024] = "";
    if (my_rank == first) snprintf(text, sizeof text, "rank %d: %s", first, msg ? msg : "failed");
    MPI_Bcast(text, (int)sizeof text, MPI_CHAR, first, MPI_COMM_WORLD);
    if (msg_size) snprintf(msg, msg_size, "%s", text);
    agreed_failure = 1;
    return 1;
}

int reef_ranks_failure_agreed(void) { return world_size == 1 || agreed_failure; }

void reef_ranks_abort(int status)
{
    if (started) MPI_Abort(MPI_COMM_WORLD, status);
    exit(status);
}

void reef_ranks_barrier(void)
{
    if (world_size > 1) MPI_Barrier(MPI_COMM_WORLD);
}

#endif
