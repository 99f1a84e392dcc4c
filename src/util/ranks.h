/* Ranks: the processes of one `mpirun -np N reef ...` run, behind a small
 * interface so that the rest of reef has no #ifdefs. Built with Open MPI
 * (-DREEF_MPI=ON, ranks_mpi.c) these are MPI collectives over
 * MPI_COMM_WORLD; built without it (ranks.c) there is one rank and every
 * collective is a no-op. A plain `reef ...` never starts MPI even when
 * built with it: reef_ranks_init starts MPI only when mpirun launched the
 * process (it set OMPI_COMM_WORLD_SIZE or PMIX_RANK).
 *
 * Every collective must be called by every rank in the same order with the
 * same counts: reef's callers only call them at points all ranks reach
 * (after loading, after every step, before writing). Results never depend
 * on how MPI orders its own reductions: reef gathers and then adds in a
 * fixed order itself (see docs/mpi.md). */
#ifndef REEF_UTIL_RANKS_H
#define REEF_UTIL_RANKS_H

#include <stddef.h>
#include <stdint.h>

/* Starts MPI when launched by mpirun; 0, or -1 if MPI failed to start. */
int reef_ranks_init(int *argc, char ***argv);
/* Ends MPI (if started). */
void reef_ranks_finalize(void);
int reef_ranks_rank(void);   /* 0 .. size-1; 0 without MPI */
int reef_ranks_size(void);   /* 1 without MPI */
/* 1 when built with MPI (whether or not this run was launched by mpirun). */
int reef_ranks_built_with_mpi(void);

/* The share of n items (or chunks) that rank r takes: [*lo, *hi), the
 * contiguous ranges of r = 0 .. size-1 in order, sizes differing by <= 1. */
void reef_ranks_slice(uint64_t n, int rank, int size, uint64_t *lo, uint64_t *hi);

/* In place: every rank contributes bytes [displ[r], displ[r] + count[r])
 * of buf (its own range); afterwards every rank's buf holds all ranges.
 * counts and displacements in bytes, arrays of size reef_ranks_size(). */
int reef_ranks_allgather_bytes(void *buf, const size_t *count, const size_t *displ);
/* Every rank's text (mine, len bytes) concatenated in rank order into a
 * new malloc'd buffer *all (NUL-terminated, *all_len bytes without it). */
int reef_ranks_allgather_text(const char *mine, size_t len, char **all, size_t *all_len);
/* In place, element by element over all ranks: the sum of int64 values
 * (exact), or of doubles where at most one rank holds a nonzero value per
 * element (then exact too, whatever order MPI adds in): the way results
 * of work items run on one rank each are pooled. */
int reef_ranks_sum_i64(int64_t *v, size_t n);
int reef_ranks_sum_disjoint_f64(double *v, size_t n);
/* 1 on every rank if flag is nonzero on any rank, else 0. */
int reef_ranks_any(int flag);
/* Error agreement: every rank says whether it failed (msg: its message).
 * Returns 1 on every rank if any failed, and then msg on every rank is
 * the message of the lowest failing rank (prefixed "rank R: " when more
 * than one rank runs); 0 if none failed (msg untouched). msg has
 * msg_size bytes (at most 1024 are exchanged). */
int reef_ranks_agree(int failed, char *msg, size_t msg_size);
/* Waits for every rank. */
void reef_ranks_barrier(void);
/* 1 once reef_ranks_agree has returned 1 (every rank knows of the failure
 * and exits with it); a rank that fails without agreeing would leave the
 * others waiting in a collective, so reef's main aborts all instead. */
int reef_ranks_failure_agreed(void);
/* Ends every rank at once with this exit status (MPI_Abort); exit() alone
 * without MPI. */
void reef_ranks_abort(int status) __attribute__((noreturn));

#endif
