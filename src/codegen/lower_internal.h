/* Private to src/codegen: lowering one op (lower.c) for the whole-model
 * pass (lower_model.c). */
#ifndef REEF_CODEGEN_LOWER_INTERNAL_H
#define REEF_CODEGEN_LOWER_INTERNAL_H

#include "codegen/lower.h"

/* Fills s (zeroed first) for op `index` of g: kind, args without arena
 * offsets, owned const arrays, scratch size, MACs. On failure err says why
 * (without the op's name; the caller adds it) and s may hold arrays to
 * free with lower_step_free. */
int lower_one_op(const reef_graph *g, int index, reef_lowered_step *s, reef_error *err);
void lower_step_free(reef_lowered_step *s);
/* ADD (broadcast or with a constant), SUB, MUL, MAXIMUM, MINIMUM
 * (lower_elementwise.c). */
int lower_binary(const reef_graph *g, const reef_op *op, reef_lowered_step *s, reef_error *err);
/* RELU, RELU_N1_TO_1, RELU6, LEAKY_RELU (lower_activation.c). */
int lower_activation(const reef_graph *g, const reef_op *op, reef_lowered_step *s, reef_error *err);
/* LOGISTIC, TANH, HARD_SWISH as a table lookup (lower_lut.c). */
int lower_lut(const reef_graph *g, const reef_op *op, reef_lowered_step *s, reef_error *err);

/* CONCATENATION, PACK, SPLIT, SPLIT_V, UNPACK: one COPY_ROWS step per
 * input or output (lower_pieces.c). lower_pieces fills steps[0, *nsteps),
 * room for max(ninputs, noutputs) steps, like lower_one_op (op, io,
 * tensors set too); the steps of CONCATENATION and PACK each write part of
 * the output (writes_part). */
int lower_is_pieces(int32_t builtin);
int lower_pieces(const reef_graph *g, int index, reef_lowered_step *steps, int *nsteps, reef_error *err);

/* The args of a step as its kind's struct (every union member starts at
 * the union's address), and their operands, for filling them. */
#define STEP_ARGS(s, type) ((type *)(void *)&(s)->args)
static inline reef_step_io *step_io(reef_lowered_step *s)
{
    return STEP_ARGS(s, reef_step_io);
}

#endif
