/* Lowering: a reef_graph (int8 TFLite model) -> the runtime's step table,
 * with every kernel argument computed on the host (requantization
 * multipliers, clamps, paddings, arena offsets from the memory planner).
 *
 * The host interpreter is reef_run_steps over these steps with a malloc'd
 * arena, and the C emitter prints the very same args structs as const
 * initializers, so host int8 results are, by construction, what the
 * microcontroller computes.
 *
 *   reef_lowered_model m;
 *   if (reef_lower(&graph, &m, &err)) ...;         // graph may be freed now
 *   reef_lowered_invoke(&m, in, out);               // (input_size), (output_size)
 *   reef_lowered_free(&m);
 */
#ifndef REEF_CODEGEN_LOWER_H
#define REEF_CODEGEN_LOWER_H

#include <stddef.h>
#include <stdint.h>

#include "reef/quantize.h"
#include "reef/step.h"
#include "tflite/graph.h"
#include "util/err.h"

/* One enum constant and one args union member per kind of
 * reef/step_kinds.h (QUANTIZE: float32 -> int8, DEQUANTIZE: int8 ->
 * float32, REQUANTIZE: QUANTIZE int8 -> int8). */
typedef enum reef_step_kind {
#define REEF_X(KIND, name, run, args_type, printer) REEF_STEP_##KIND,
    REEF_STEP_KINDS(REEF_X)
#undef REEF_X
    REEF_STEP_KIND_COUNT
} reef_step_kind;

/* Every member starts with the same reef_step_io; reef_lowered_step_io
 * reaches it whatever the kind. */
typedef union reef_step_args {
#define REEF_X(KIND, name, run, args_type, printer) args_type name;
    REEF_STEP_KINDS(REEF_X)
#undef REEF_X
} reef_step_args;

/* One step. The const arrays its args point to are owned here (copied out
 * of the graph, so the model outlives it and int32 data is aligned). */
typedef struct reef_lowered_step {
    reef_step_kind kind;
    int op;                   /* index of the graph op it runs */
    int32_t builtin;          /* that op's TFLite code */
    int32_t output_tensor;    /* graph index of the tensor it writes */
    int32_t input_tensors[2]; /* graph indices of the activations it reads (io.input_at, io.input2_at), -1 = none */
    int writes_part;          /* 1: writes part of output_tensor, the steps of the same op next to it the rest
                                 (CONCATENATION, PACK) */
    int keep_layout;          /* 1: its constants are emitted in TFLite's layout, never paired (reef/conv.h,
                                 reef/fc.h): an on-device update writes this layer's weights */
    reef_step_args args;
    int8_t *filter;      /* (C_OUT, KH, KW, C_IN) or (C_OUT, C_IN), or NULL */
    size_t filter_size;  /* bytes */
    int32_t *bias;       /* (C_OUT) or NULL */
    int64_t *bias64;     /* (C_OUT) int64 bias of a 16x8 step, or NULL (nbias values) */
    int32_t *multiplier; /* (nchannels) per-channel quant, or NULL */
    int8_t *shift;       /* (nchannels), in [-31, 30] */
    int32_t nbias, nchannels;
    int64_t macs;
    /* ROWS (reef/rows.h): its layers and residual ADD (owned; their args'
     * io unused), where the scratch parts sit in its scratch (kernel, rings
     * of stages 1.., pending rows), and the output's offset from the input
     * when it is written over it (rows_in_place). */
    struct reef_lowered_step *sub;
    int nsub;
    uint32_t rows_ring_rel[REEF_ROWS_MAX_STAGES], rows_pending_rel, rows_skip_rel;
    int rows_in_place;
    int32_t rows_disp;
    /* PATCH (reef/patch.h): its layers are sub; where its region buffers
     * sit in its scratch (the kernels' scratch first), and the MACs it
     * computes beyond its layers' (the halos recomputed). */
    uint32_t patch_buf_rel;
    int64_t patch_extra_macs;
} reef_lowered_step;

typedef struct reef_lowered_model {
    int nsteps;
    reef_lowered_step *steps; /* (nsteps) */
    reef_step *table;         /* (nsteps) {run, &steps[i].args} */
    /* The arena: planned size, the lower bound no plan beats (largest sum
     * of buffers live at one step), and which heuristic won. */
    size_t arena_size;
    size_t arena_lower_bound;
    const char *plan_strategy;
    /* The memory mode's effect: depthwise steps run in place, and the arena
     * of the layer-by-layer plan (none in place) it started from. */
    int in_place_steps;
    size_t arena_layer_by_layer;
    /* ROWS steps (layers run row by row, intermediates in rings), those of
     * them written over their input, and the layers they hold. */
    int rows_steps, rows_in_place, rows_layers;
    /* The patch-based stage the planner weighed (reef/patch.h; balanced,
     * min): steps patch_start.. patch_start + patch_layers - 1 of the
     * layer-by-layer table over a patch_grid_h x patch_grid_w grid, the
     * arena with it (patch_arena) and without it (arena_no_patch), the
     * MACs it recomputes; patch_taken: 1 when the table runs it (a PATCH
     * step). patch_layers 0: no stage was possible. */
    int patch_start, patch_layers, patch_grid_h, patch_grid_w, patch_taken;
    size_t patch_arena, arena_no_patch;
    int64_t patch_extra_macs;
    const char *plain; /* reef_lower_plain's plain while lowering, then NULL */
    /* Activation tensors: arena offset and bytes by graph tensor index
     * (tensor_at[t] == REEF_LOWER_NO_OFFSET for constants and unused). */
    int ntensors;
    uint32_t *tensor_at;    /* (ntensors) */
    uint32_t *tensor_bytes; /* (ntensors) */
    /* The single input and output. */
    int32_t input_tensor, output_tensor;
    uint32_t input_at, output_at;
    int32_t input_size, output_size; /* elements (= bytes when int8) */
    float input_scale, output_scale;
    int32_t input_zero_point, output_zero_point;
    int32_t input_shape[REEF_MAX_RANK], output_shape[REEF_MAX_RANK];
    int input_rank, output_rank;
    /* REEF_INT8, or REEF_FLOAT32 around a QUANTIZE / DEQUANTIZE (then the
     * scale and zero point above are 0 and 0); bytes = size * 1 or 4. */
    reef_dtype input_type, output_type;
    int32_t input_bytes, output_bytes;
    /* Totals for reports. weights_bytes counts every const array the steps
     * use: filters, biases, multipliers and shifts. */
    int64_t macs;
    size_t weights_bytes;
    uint8_t *arena; /* (arena_size) for reef_lowered_invoke */
} reef_lowered_model;

#define REEF_LOWER_NO_OFFSET UINT32_MAX

/* Lowers g. Refuses a model with unsupported ops, listing all of them at
 * once, and any tensor or parameter the kernels cannot take. On failure m
 * is left empty (reef_lowered_free is safe on it). */
int reef_lower(const reef_graph *g, reef_lowered_model *m, reef_error *err);

/* Lowers op i of g alone and throws the steps away: 0 when it lowers, else
 * -1 with the reason in err (what reef_lower would list for it). */
int reef_lower_op_check(const reef_graph *g, int i, reef_error *err);

/* How the planner trades instructions for RAM (reef gen --memory). */
typedef enum reef_memory_mode {
    REEF_MEMORY_FAST = 0,     /* never in place: the fastest kernels (the default) */
    REEF_MEMORY_BALANCED = 1, /* in-place depthwise only where it lowers the arena */
    REEF_MEMORY_MIN = 2,      /* every depthwise step that can runs in place */
} reef_memory_mode;

/* "fast", "balanced" or "min" -> the mode; -1 for anything else. */
int reef_memory_mode_parse(const char *text);
const char *reef_memory_mode_name(reef_memory_mode mode);

typedef struct reef_lower_options {
    /* Give every buffer bytes of its own (no reuse): every intermediate
     * tensor survives the run, for debugging and for checking the planner. */
    int no_reuse;
    /* In-place depthwise steps and ROWS chains (balanced, min). A
     * resumable (intermittent) table runs each such step as a whole unit
     * (codegen/intermittent.h); the ones too big for one charge are kept
     * layer by layer (reef_lower_plain). */
    reef_memory_mode memory;
    /* The patch-based stage (reef/patch.h; balanced, min only):
     * REEF_PATCH_AUTO takes it when it lowers the arena (balanced: by a
     * larger fraction than the MACs recomputed add), REEF_PATCH_FORCE whenever one
     * is possible (tests, bench), REEF_PATCH_OFF never. */
    int patches;
} reef_lower_options;

enum { REEF_PATCH_AUTO = 0, REEF_PATCH_FORCE = 1, REEF_PATCH_OFF = -1 };
/* reef_lower with options (opt may be NULL: the defaults). */
int reef_lower_with(const reef_graph *g, const reef_lower_options *opt, reef_lowered_model *m,
                    reef_error *err);
/* reef_lower_with, and plain (graph tensors; NULL: none) 1 where the step
 * writing that tensor stays layer by layer: not in place, in no ROWS chain
 * (the intermittent fallback, reef_intermittent_memory_fallback). */
int reef_lower_plain(const reef_graph *g, const reef_lower_options *opt, const char *plain, reef_lowered_model *m,
                     reef_error *err);

/* The arena (planned, not run) of g with its first steps up to the one
 * writing stage_output (all convolutions) run as one patch-based stage
 * (MCUNetV2): the input and the stage output whole, patch_bytes of patch
 * buffers beside them (codegen/patch_plan.h), the rest planned in opt's
 * memory mode. Kernel scratch of the stage is left out. */
int reef_lower_patch_arena(const reef_graph *g, const reef_lower_options *opt, int32_t stage_output,
                           size_t patch_bytes, size_t *arena, reef_error *err);

/* Runs one inference on the model's own arena: in (input_size) int8 values,
 * out (output_size). Returns 0, or -1 when a kernel rejected its args
 * (which lowering should have prevented) or when the input or output is
 * not int8 (use reef_lowered_invoke_bytes). Not reentrant: threads use
 * reef_lowered_invoke_arena with one arena each. */
int reef_lowered_invoke(reef_lowered_model *m, const int8_t *in, int8_t *out);
/* Same on a caller's arena of m->arena_size bytes, 4-byte aligned. */
int reef_lowered_invoke_arena(const reef_lowered_model *m, uint8_t *arena, const int8_t *in, int8_t *out);

/* Any input and output type: in (input_bytes: int8 or little-endian
 * float32 values, m->input_type), out (output_bytes). arena: m->arena or a
 * caller's as above. */
int reef_lowered_invoke_bytes(const reef_lowered_model *m, uint8_t *arena, const void *in, void *out);

/* Bytes of one element of an activation of this type (1 or 4), 0 when
 * reef has no activations of that type. */
int reef_lower_elem_size(reef_dtype type);

/* Runs steps [first, first + count) on an arena (for step-by-step
 * comparisons with a reference run). */
int reef_lowered_run_steps(const reef_lowered_model *m, uint8_t *arena, int first, int count);

/* The operands a step's args start with: arena offsets and scratch
 * (every member of reef_step_args begins with this reef_step_io). */
static inline const reef_step_io *reef_lowered_step_io(const reef_lowered_step *s)
{
    return (const reef_step_io *)(const void *)&s->args;
}

/* The runtime function and name of a step kind ("conv", "dw_conv", ...). */
reef_step_fn reef_step_kind_fn(reef_step_kind kind);
const char *reef_step_kind_name(reef_step_kind kind);

void reef_lowered_free(reef_lowered_model *m);

#endif
