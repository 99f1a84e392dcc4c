/* The arena memory planner: every activation tensor and kernel scratch
 * buffer of a model gets a byte offset in one static arena, so that no two
 * buffers that are live at the same step overlap.
 *
 * A buffer is live from the step that first writes it to the last step that
 * reads it, both inclusive (graph inputs from step 0, graph outputs to the
 * last step; a scratch buffer only during its own step). The planner tries
 * a few heuristics (greedy by size, TFLite Micro's GreedyMemoryPlanner idea;
 * a two-ended variant that is exact on chains) and keeps the smallest
 * arena. It also reports the lower bound no plan can beat: the largest sum
 * of sizes of buffers live at one step. */
#ifndef REEF_CODEGEN_PLAN_H
#define REEF_CODEGEN_PLAN_H

#include <stddef.h>

#include "util/err.h"

/* Offsets are multiples of 4: int32 scratch buffers (im2col columns,
 * accumulators) must be word aligned for the C types, and word-aligned int8
 * rows let the Cortex-M4 kernels read four values with one LDR. The M4 has
 * no wider loads that need more (LDRD needs only word alignment). */
#define REEF_PLAN_ALIGN 4

typedef struct reef_plan_buffer {
    size_t size;   /* bytes; 0 is allowed and takes no room */
    int first;     /* first step at which it is live */
    int last;      /* last step at which it is live (>= first) */
    size_t offset; /* out: byte offset in the arena, a multiple of align */
} reef_plan_buffer;

typedef struct reef_plan_stats {
    size_t arena_size;    /* bytes the plan needs (max offset + size) */
    size_t lower_bound;   /* max over steps of the sum of live sizes */
    const char *strategy; /* name of the heuristic that won */
} reef_plan_stats;

/* Assigns bufs[i].offset for n buffers, offsets multiples of align (a power
 * of two). Fails only on bad arguments (first > last, negative steps) or
 * when out of memory. */
int reef_plan(reef_plan_buffer *bufs, int n, size_t align, reef_plan_stats *stats, reef_error *err);

/* The same with groups: buffers i and j with group[i] == group[j] get one
 * offset (an in-place step's output over its input: their lifetimes must
 * not meet). group may be NULL (no groups). */
int reef_plan_grouped(reef_plan_buffer *bufs, int n, const int *group, size_t align, reef_plan_stats *stats,
                      reef_error *err);

/* The same with displaced groups: member i sits disp[i] bytes (a multiple
 * of align) above its group's offset, and members may be live at one step
 * (the step that writes one over the other knows which bytes are dead). */
int reef_plan_grouped_disp(reef_plan_buffer *bufs, int n, const int *group, const size_t *disp, size_t align,
                           reef_plan_stats *stats, reef_error *err);

/* The largest sum of sizes of buffers live at one step. */
size_t reef_plan_lower_bound(const reef_plan_buffer *bufs, int n);

/* Checks a plan: every offset aligned, and no two buffers live at the same
 * step overlap. Returns 0, or -1 naming the first clash. */
int reef_plan_check(const reef_plan_buffer *bufs, int n, size_t align, reef_error *err);

#endif
