/* reef runtime: row-streamed (fused) execution of a chain of convolutions.
 *
 * A ROWS step runs up to REEF_ROWS_MAX_STAGES convolution or depthwise
 * layers one output row at a time (TinyEngine's fused inverted residual,
 * MCUNetV2's line buffers), e.g. expand 1x1 -> depthwise -> project 1x1,
 * or conv 3x3 -> conv 3x3 -> residual ADD. Only the chain's input T0 and
 * final output live as whole tensors in the arena; each intermediate
 * tensor T1.. is a ring of a few rows in the step's scratch, and its rows
 * are made when the next layer first needs them (each row once: nothing
 * is recomputed). The final output may overlap the chain input (in place
 * by rows): a finished row waits in a small pending ring until no later
 * read of T0 touches its destination bytes.
 *
 * Every row is computed by the layer's own kernel (reef_conv_s8,
 * reef_dw_conv_s8, reef_add_s8) on a view of the rows it needs with the
 * top padding of that view, so the values are exactly those of
 * layer-by-layer execution (each output value is the same sum).
 *
 * In a resumable (intermittent) step table a ROWS step is one whole unit,
 * never tiled: after a power failure the restore of the point before it
 * brings T0 back from NVM whole, so a re-run reads only intact input even
 * where the output overlaps it (docs/intermittent.md). */
#ifndef REEF_RT_ROWS_H
#define REEF_RT_ROWS_H

#include "reef/types.h"

enum { REEF_ROWS_MAX_STAGES = 3 };
enum { REEF_ROWS_CONV = 0, REEF_ROWS_DW = 1 };

struct reef_conv_step_args;
struct reef_dw_conv_step_args;
struct reef_add_step_args;

/* One layer of the chain; its args' io is not used (operands come from
 * the ROWS step), only its parameters, shapes and constants. */
typedef struct reef_rows_stage {
    int32_t kind;                             /* REEF_ROWS_CONV or REEF_ROWS_DW */
    const struct reef_conv_step_args *conv;   /* kind CONV, else NULL */
    const struct reef_dw_conv_step_args *dw;  /* kind DW, else NULL */
    int32_t ring_rows; /* stage >= 1: rows of its input kept in the ring (>= its window height) */
    uint32_t ring_at;  /* stage >= 1: arena offset of that ring */
} reef_rows_stage;

typedef struct reef_rows_step_args {
    reef_step_io io; /* input_at: T0, output_at: the final output, scratch: rings, pending, kernel scratch */
    int32_t nstages;
    reef_rows_stage stage[REEF_ROWS_MAX_STAGES];
    /* Residual: output row y = ADD(T0 row y, last layer's row y), or NULL.
     * With skip, the ADD's other operand is row y of the skip conv of T0
     * (a projection shortcut, e.g. 1x1 stride 2), made one row at a time
     * into skip_at. add_t0_first: 1 when that operand (T0's row or the
     * skip row) is the ADD's first input. */
    const struct reef_add_step_args *add;
    int32_t add_t0_first;
    const struct reef_conv_step_args *skip;
    uint32_t skip_at;
    int32_t pending_rows; /* finished output rows that may wait (>= 1) */
    uint32_t pending_at;
    uint32_t kernel_at; /* the kernels' scratch */
    int32_t kernel_size;
} reef_rows_step_args;

/* What a range of the arena holds, for a checker: rows row.. of tensor
 * level `level` (0: the chain input T0; i in 1..nstages-1: T_i, stage i's
 * input; nstages: the last layer's output; nstages + 1: the output after
 * the residual ADD), row_bytes each; REEF_ROWS_KERNEL_SCRATCH: the
 * kernels' scratch (no rows); nstages + 2: the skip conv's output
 * row (reef_rows_step_args.skip). */
enum { REEF_ROWS_KERNEL_SCRATCH = -1 };
typedef struct reef_rows_range {
    uint32_t at, bytes;
    int32_t level, row, row_bytes;
} reef_rows_range;

/* What a checker sees (tests, the planner): every byte range of the arena
 * the step reads or writes, in order, and the rows it keeps waiting. With
 * dry set no kernel runs and no byte moves (the planner's simulation). */
typedef struct reef_rows_observer {
    void (*read)(void *ctx, const reef_rows_range *range);
    void (*write)(void *ctx, const reef_rows_range *range);
    void *ctx;
    int dry;
    int32_t max_pending;  /* out: most finished rows waiting at once */
    int32_t kernel_bytes; /* out: the most scratch a kernel call asked for */
} reef_rows_observer;

/* Runs the step; obs may be NULL. REEF_ARG_ERROR on inconsistent args or
 * when more than pending_rows rows would have to wait (the planner sizes
 * it by a dry run). */
reef_status reef_rows_run(const reef_rows_step_args *a, uint8_t *arena, reef_rows_observer *obs);

#endif
