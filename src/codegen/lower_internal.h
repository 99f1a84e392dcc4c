/* Private to src/codegen: lowering one op (lower.c) for the whole-model
 * pass (lower_model.c). */
#ifndef REEF_CODEGEN_LOWER_INTERNAL_H
#define REEF_CODEGEN_LOWER_INTERNAL_H

#include "codegen/lower.h"
#include "codegen/plan.h"

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

/* Row-streamed chains (fuse_rows.c, reef/rows.h): steps start ..
 * start + nlayers - 1 (conv / depthwise, each reading the one before) and,
 * with has_add, the residual ADD after them; with has_skip, a conv of the
 * chain's input (a projection shortcut) sits between the last layer and
 * the ADD, which adds the two; in_place: the chain's input dies in it, so
 * its output may go over it. Steps: nlayers + has_skip + has_add. */
typedef struct fuse_rows_chain {
    int start, nlayers, has_add, has_skip, add_t0_first, in_place;
} fuse_rows_chain;
/* The longest chain of at most max_layers layers at step k (readers:
 * steps reading each tensor); 0 when none starts there. */
int fuse_rows_chain_at(const reef_lowered_model *m, const int *readers, int k, int max_layers,
                       fuse_rows_chain *c);
/* out: the ROWS step of chain c, its layers shallow copies of m's steps
 * (out->sub, owned by out only once those steps are dropped); -1 when out
 * of memory or the runtime refuses the chain. */
int fuse_rows_make(const reef_lowered_model *m, const fuse_rows_chain *c, reef_lowered_step *out);
/* Points a ROWS step's args at its layers and its scratch (io.scratch_at). */
void fuse_rows_fix(reef_lowered_step *s);

/* Patch-based stages (fuse_patch.c, reef/patch.h): the number of layers
 * (at most max_layers) of the plain chain of conv / depthwise steps at
 * step k that a PATCH step can run (one reader for every intermediate,
 * none of them the model output); 0 when under 1. */
int fuse_patch_chain_at(const reef_lowered_model *m, const int *readers, int k, int max_layers);
/* out: the PATCH step of steps k .. k + nlayers - 1 over a gh x gw grid,
 * its layers shallow copies of m's steps (out->sub), region buffers and
 * kernel scratch sized by a dry run of the runtime's own schedule. 1 when
 * a patch view would take another kernel loop than its layer (the
 * firmware links only those, reef/conv.h, reef/dw_conv.h), -1 when out of
 * memory or the runtime refuses it. */
int fuse_patch_make(const reef_lowered_model *m, int k, int nlayers, int gh, int gw, reef_lowered_step *out);
/* Points a PATCH step's args at its layers and its scratch (io.scratch_at). */
void fuse_patch_fix(reef_lowered_step *s);

/* The args of a step as its kind's struct (every union member starts at
 * the union's address), and their operands, for filling them. */
#define STEP_ARGS(s, type) ((type *)(void *)&(s)->args)
static inline reef_step_io *step_io(reef_lowered_step *s)
{
    return STEP_ARGS(s, reef_step_io);
}

/* Bytes rounded up to the planner's alignment (plan.h). */
static inline uint32_t fuse_align4(int64_t v)
{
    return (uint32_t)((v + REEF_PLAN_ALIGN - 1) & ~(int64_t)(REEF_PLAN_ALIGN - 1));
}

/* A conv or depthwise layer a ROWS or PATCH chain may take: one image,
 * its own layout, writing its whole output. */
static inline int fuse_is_layer(const reef_lowered_step *s)
{
    if (s->keep_layout || s->writes_part) return 0;
    if (s->kind == REEF_STEP_CONV) return s->args.conv.input_dims.n == 1;
    if (s->kind == REEF_STEP_DW_CONV) return s->args.dw_conv.input_dims.n == 1;
    return 0;
}

#endif
