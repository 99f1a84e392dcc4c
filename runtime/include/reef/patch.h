/* reef runtime: patch-based execution of a model's first, memory-heavy
 * stage (MCUNetV2).
 *
 * A PATCH step runs a chain of up to REEF_PATCH_MAX_STAGES convolution or
 * depthwise layers one spatial patch at a time: the last layer's output is
 * cut into grid_h x grid_w patches, and for each patch every layer
 * computes only the region of its output that patch needs (its receptive
 * field traced back layer by layer; where neighbouring patches' fields
 * overlap, the halo is computed again for each). Only the chain's input
 * and its final output are whole tensors in the arena; every intermediate
 * region lives in the step's scratch, two at a time (the one a layer reads
 * and the one it writes).
 *
 * Every region is computed by the layer's own kernel (reef_conv_s8,
 * reef_dw_conv_s8) on a compact view of the region it reads, with that
 * view's top and left padding, so every output value is the sum layer by
 * layer computes, bit for bit. The output never overlaps the input, so in
 * a resumable (intermittent) step table a PATCH step is one whole unit: a
 * re-run after a power failure reads the intact input and recomputes
 * everything else (docs/intermittent.md).
 *
 * Scratch layout (offsets in the arena): the regions of even levels (the
 * input's copy, T2, ..) start at buf_at, those of odd levels (T1, T3, ..)
 * end at buf_at + buf_size, so a layer's input and output never meet when
 * their sizes (each rounded up to 4 bytes) sum to at most buf_size; the
 * kernels' scratch at kernel_at. */
#ifndef REEF_RT_PATCH_H
#define REEF_RT_PATCH_H

#include "reef/types.h"

enum { REEF_PATCH_MAX_STAGES = 8, REEF_PATCH_MAX_GRID = 16 };
enum { REEF_PATCH_CONV = 0, REEF_PATCH_DW = 1 };

struct reef_conv_step_args;
struct reef_dw_conv_step_args;

/* One layer; its args' io is not used, only parameters, shapes, constants. */
typedef struct reef_patch_stage {
    int32_t kind;                            /* REEF_PATCH_CONV or REEF_PATCH_DW */
    const struct reef_conv_step_args *conv;  /* kind CONV, else NULL */
    const struct reef_dw_conv_step_args *dw; /* kind DW, else NULL */
} reef_patch_stage;

typedef struct reef_patch_step_args {
    reef_step_io io; /* input_at: the chain input, output_at: its output, scratch: regions and kernel scratch */
    int32_t nstages;
    reef_patch_stage stage[REEF_PATCH_MAX_STAGES];
    int32_t grid_h, grid_w; /* patches of the last layer's output */
    uint32_t buf_at;
    int32_t buf_size;
    uint32_t kernel_at;
    int32_t kernel_size;
} reef_patch_step_args;

/* A rectangle of tensor level `level` (0: the chain input, i: layer i's
 * input, nstages: the output) at arena offset `at`: rows y.. y + h - 1,
 * columns x.. x + w - 1, c channels, stored with row pitch `pitch` bytes
 * (w * c for a compact region, the tensor's row for the whole input or
 * output, where a range is one row's segment: h == 1).
 * REEF_PATCH_KERNEL_SCRATCH: the kernels' scratch (bytes only). */
enum { REEF_PATCH_KERNEL_SCRATCH = -1 };
typedef struct reef_patch_range {
    uint32_t at, bytes;
    int32_t level, y, x, h, w, c;
} reef_patch_range;

/* What a checker sees (tests, the planner): every range the step reads or
 * writes, in order. With dry set no kernel runs and no byte moves. */
typedef struct reef_patch_observer {
    void (*read)(void *ctx, const reef_patch_range *range);
    void (*write)(void *ctx, const reef_patch_range *range);
    void *ctx;
    int dry;
    int32_t buf_bytes;    /* out: the most region bytes live at once (<= buf_size needed) */
    int32_t kernel_bytes; /* out: the most scratch a kernel call asked for */
    int32_t kernel_calls; /* out: kernel calls made */
    int64_t macs;         /* out: MACs computed, halos included */
    int32_t path_changes; /* out: kernel calls on a view whose loop differs from its layer's
                             (reef_conv_s8_path, reef_dw_conv_s8_path at kernel_size) */
} reef_patch_observer;

/* Runs the step; obs may be NULL. REEF_ARG_ERROR on inconsistent args or
 * when the regions or a kernel's scratch do not fit (a dry run sizes them). */
reef_status reef_patch_run(const reef_patch_step_args *a, uint8_t *arena, reef_patch_observer *obs);

#endif
