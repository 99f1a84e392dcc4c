/* The float lowering: a float32 reef_graph (the float model, batch norm
 * folded, e.g. built from a checkpoint) -> steps running the float kernels
 * of runtime/include/reef/float_ops.h, an arena planned by the same planner
 * as the int8 model, a host interpreter, and a C emitter printing the same
 * args structs. It exists to measure the float model on the same core the
 * same way as the int8 one; it is kept apart from the int8 lowering.
 *
 *   reef_float_model m;
 *   if (reef_lower_float(&graph, &m, &err)) ...;   // graph may be freed now
 *   reef_float_invoke(&m, in, out);                 // (input_count), (output_count) floats
 *   reef_emit_float_c(&m, dir, "fish_f32", "model.ckpt", &err);
 *   reef_float_model_free(&m);
 *
 * Supported ops: CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED, ADD,
 * AVERAGE_POOL_2D, MAX_POOL_2D, MEAN (over H and W), RESHAPE, SQUEEZE;
 * fused NONE/RELU/RELU6. Others are refused, all listed at once. */
#ifndef REEF_CODEGEN_LOWER_FLOAT_H
#define REEF_CODEGEN_LOWER_FLOAT_H

#include <stddef.h>
#include <stdint.h>

#include "reef/float_ops.h"
#include "reef/step.h"
#include "tflite/graph.h"
#include "util/err.h"

/* One enum constant and one args union member per kind of
 * reef/step_kinds.h's REEF_FLOAT_STEP_KINDS (MEAN is an AVGPOOL step). */
typedef enum reef_float_step_kind {
#define REEF_X(KIND, name, run, args_type, printer) REEF_FSTEP_##KIND,
    REEF_FLOAT_STEP_KINDS(REEF_X)
#undef REEF_X
    REEF_FSTEP_KIND_COUNT
} reef_float_step_kind;

/* Every member starts with the same reef_step_io. */
typedef union reef_float_step_args {
#define REEF_X(KIND, name, run, args_type, printer) args_type name;
    REEF_FLOAT_STEP_KINDS(REEF_X)
#undef REEF_X
} reef_float_step_args;

typedef struct reef_float_step {
    reef_float_step_kind kind;
    int op;                  /* index of the graph op it runs */
    int32_t builtin;
    reef_float_step_args args;
    float *filter;           /* owned copy, or NULL */
    size_t filter_count;     /* floats */
    float *bias;             /* (nbias) owned copy, or NULL */
    int32_t nbias;
    int64_t macs;
} reef_float_step;

typedef struct reef_float_model {
    int nsteps;
    reef_float_step *steps;  /* (nsteps) */
    reef_step *table;        /* (nsteps) {run, &steps[i].args} */
    size_t arena_size, arena_lower_bound;
    uint32_t input_at, output_at;
    int32_t input_count, output_count;   /* floats */
    int32_t input_shape[REEF_MAX_RANK], output_shape[REEF_MAX_RANK];
    int input_rank, output_rank;
    int64_t macs;
    size_t weights_bytes;    /* filters and biases */
    uint8_t *arena;          /* (arena_size) for reef_float_invoke */
} reef_float_model;

/* Lowers a float32 graph. On failure m is empty (freeing it is safe). */
int reef_lower_float(const reef_graph *g, reef_float_model *m, reef_error *err);

/* One inference on the model's own arena: in (input_count), out
 * (output_count). Returns 0, or -1 when a kernel refused its args. */
int reef_float_invoke(reef_float_model *m, const float *in, float *out);

void reef_float_model_free(reef_float_model *m);

/* Writes DIR/<name>.h and DIR/<name>.c like reef_emit_c, for the float
 * kernels. The header's REEF_MODEL_INPUT_SIZE / OUTPUT_SIZE are BYTES
 * (4 per float) and REEF_MODEL_INVOKE takes byte pointers, so the firmware
 * harness moves float tensors as raw little-endian bytes. */
int reef_emit_float_c(const reef_float_model *m, const char *dir, const char *name, const char *source,
                      reef_error *err);

#endif
