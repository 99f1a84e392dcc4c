/* Patch-based execution of a model's first stage (MCUNetV2), planned but
 * not built: what running the first k conv / depthwise layers patch by
 * patch (a grid x grid split of layer k's output, each patch computed from
 * its receptive field, the overlapping halos recomputed) would need at
 * least, set beside the planner's own plan (docs/architecture.md, "Row by
 * row: ROWS steps"). */
#ifndef REEF_CODEGEN_PATCH_PLAN_H
#define REEF_CODEGEN_PATCH_PLAN_H

#include <stddef.h>
#include <stdint.h>

#include "codegen/lower.h"

typedef struct reef_patch_plan {
    int layers;            /* the first `layers` steps run patch by patch */
    int grid;              /* grid x grid patches of the last one's output */
    size_t input_bytes;    /* the model input, whole (as in MCUNetV2) */
    size_t output_bytes;   /* the stage output, whole: the rest runs on it */
    size_t patch_bytes;    /* the largest patch buffers live at once */
    size_t peak_bound;     /* input + stage output + patch buffers: the
                              stage's own bound (kernel scratch left out) */
    size_t arena;          /* the whole model's arena, planned: the stage
                              as one step with the patch buffers as its
                              scratch, the rest in the mode asked for
                              (reef_lower_patch_arena) */
    int64_t stage_macs;    /* the stage's MACs layer by layer */
    int64_t extra_macs;    /* recomputed in the halos */
} reef_patch_plan;

/* The patch plan of smallest whole-model arena over stages of
 * 2..max_layers layers (at least one intermediate in patches), each with
 * the grid of 2x2..8x8 whose stage bound is smallest (ties: fewer extra
 * MACs), the rest of g planned in `mode`; m: g lowered layer by layer
 * (--memory fast). 0 when m starts with no such stage (the plan is then
 * zeroed), -1 when planning fails. */
int reef_patch_plan_first_stage(const reef_graph *g, const reef_lowered_model *m, reef_memory_mode mode,
                                int max_layers, reef_patch_plan *best);

#endif
