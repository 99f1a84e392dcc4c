/* reef runtime: the step table, how a model runs.
 *
 * A model is a const array of steps; each step is one kernel call with its
 * operands. The C generator (src/codegen) prints the table and every args
 * struct as const initializers; the host interpreter fills the very same
 * structs at run time and calls the same step functions, so the host and
 * the MCU run identical code. Because a step's function pointer names its
 * kernel, only the kernels a model uses get linked. A later issue resumes
 * execution at step k after a power failure: reef_run_steps(steps, k, ...).
 *
 * Activations live in one arena (uint8_t *, 4-byte aligned) planned
 * offline: every args struct starts with a reef_step_io (reef/types.h),
 * its tensor operands as arena byte offsets; constants (weights, biases,
 * multipliers, shifts) are const pointers. The kinds are listed once, in
 * reef/step_kinds.h.
 *
 * RULE for every args struct here: it must be printable as a C99 const
 * initializer, i.e. made only of plain integers, const pointers to const
 * arrays, and nested structs of the same; no unions, no flexible arrays,
 * no pointers into the arena.
 */
#ifndef REEF_RT_STEP_H
#define REEF_RT_STEP_H

#include "reef/add.h"
#include "reef/conv.h"
#include "reef/activation.h"
#include "reef/dw_conv.h"
#include "reef/elementwise.h"
#include "reef/lut.h"
#include "reef/permute.h"
#include "reef/reduce.h"
#include "reef/fc.h"
#include "reef/mean.h"
#include "reef/patch.h"
#include "reef/pool.h"
#include "reef/reshape_pad.h"
#include "reef/rows.h"
#include "reef/s16x8.h"
#include "reef/softmax.h"
#include "reef/step_kinds.h"
#include "reef/types.h"

typedef reef_status (*reef_step_fn)(const void *args, uint8_t *arena);

typedef struct reef_step {
    reef_step_fn run;
    const void *args; /* the args struct matching run */
} reef_step;

/* Runs steps[first], ..., steps[first + count - 1] in order on the arena;
 * stops at and returns the first status that is not REEF_OK. */
reef_status reef_run_steps(const reef_step *steps, int first, int count, uint8_t *arena);

#ifdef REEF_PROFILE_STEPS
/* Defined (noinline) by the firmware harness; with -DREEF_PROFILE_STEPS,
 * reef_run_steps calls it before each step and once after the last, so an
 * emulator plugin can count instructions per step. */
extern void reef_mark_step(void);
#endif

/* ---- args structs and step functions, one per op --------------------
 * Tensor operands: io.input_at (and [1]) in, io.output_at out. */

/* CONV_2D. Scratch: io.scratch_size bytes at io.scratch_at, at least
 * reef_conv_s8_get_buffer_size(). */
typedef struct reef_conv_step_args {
    reef_step_io io;
    reef_conv_params params;
    reef_per_channel_quant quant;
    reef_dims input_dims;   /* (N, H_IN, W_IN, C_IN) */
    reef_dims filter_dims;  /* (C_OUT, KH, KW, C_IN) */
    reef_dims output_dims;  /* (N, H_OUT, W_OUT, C_OUT) */
    const int8_t *filter;   /* (C_OUT, KH, KW, C_IN) */
    const int32_t *bias;    /* (C_OUT) or NULL */
} reef_conv_step_args;
reef_status reef_conv_step(const void *args, uint8_t *arena);

/* ROWS: a chain of conv / depthwise layers (and a residual ADD) run row by
 * row, intermediates in rings (reef/rows.h). */
reef_status reef_rows_step(const void *args, uint8_t *arena);

/* PATCH: a chain of conv / depthwise layers run patch by patch, halos
 * recomputed, intermediates in scratch (reef/patch.h). */
reef_status reef_patch_step(const void *args, uint8_t *arena);

/* TRANSPOSE_CONV: a reef_conv_step_args (filter (C_OUT, KH, KW, C_IN),
 * dilation unused). */
reef_status reef_transpose_conv_step(const void *args, uint8_t *arena);

/* DEPTHWISE_CONV_2D. */
typedef struct reef_dw_conv_step_args {
    reef_step_io io;
    reef_dw_conv_params params;
    reef_per_channel_quant quant;
    reef_dims input_dims;   /* (N, H_IN, W_IN, C_IN) */
    reef_dims filter_dims;  /* (1, KH, KW, C_OUT) */
    reef_dims output_dims;  /* (N, H_OUT, W_OUT, C_OUT) */
    const int8_t *filter;   /* (1, KH, KW, C_OUT) */
    const int32_t *bias;    /* (C_OUT) or NULL */
} reef_dw_conv_step_args;
reef_status reef_dw_conv_step(const void *args, uint8_t *arena);

/* FULLY_CONNECTED. Per tensor (quant) unless channel_quant.multiplier is
 * not NULL, then per output channel (channel_quant). A build that defines
 * REEF_FC_QUANTS (a generated model header does: bit 0 when a step is per
 * tensor, bit 1 when one is per channel) links only that kernel
 * (reef_fc_s8, reef_fc_per_channel_s8); a step of the other kind gets
 * REEF_UNSUPPORTED. */
typedef struct reef_fc_step_args {
    reef_step_io io;
    reef_fc_params params;
    reef_per_tensor_quant quant;
    reef_per_channel_quant channel_quant;
    reef_dims input_dims;   /* (N, 1, 1, C_IN) */
    reef_dims filter_dims;  /* (C_OUT, 1, 1, C_IN) */
    reef_dims output_dims;  /* (N, 1, 1, C_OUT) */
    const int8_t *filter;   /* (C_OUT, C_IN) */
    const int32_t *bias;    /* (C_OUT) or NULL */
} reef_fc_step_args;
reef_status reef_fc_step(const void *args, uint8_t *arena);

/* ADD of two same-shaped tensors of count elements (io.input_at and
 * io.input2_at). */
typedef struct reef_add_step_args {
    reef_step_io io;
    reef_add_params params;
    int32_t count;
} reef_add_step_args;
reef_status reef_add_step(const void *args, uint8_t *arena);

/* AVERAGE_POOL_2D (reef_avgpool_step) and MAX_POOL_2D (reef_maxpool_step). */
typedef struct reef_pool_step_args {
    reef_step_io io;
    reef_pool_params params;
    reef_hw filter;         /* window (KH, KW) */
    reef_dims input_dims;   /* (N, H_IN, W_IN, C) */
    reef_dims output_dims;  /* (N, H_OUT, W_OUT, C) */
} reef_pool_step_args;
reef_status reef_avgpool_step(const void *args, uint8_t *arena);
reef_status reef_maxpool_step(const void *args, uint8_t *arena);

/* MEAN over H and W. */
typedef struct reef_mean_step_args {
    reef_step_io io;
    reef_mean_params params;
    reef_dims input_dims;   /* (N, H, W, C) */
    reef_dims output_dims;  /* (N, 1, 1, C) */
} reef_mean_step_args;
reef_status reef_mean_step(const void *args, uint8_t *arena);

/* SOFTMAX over the last dimension: input and output (rows, depth). */
typedef struct reef_softmax_step_args {
    reef_step_io io;
    reef_softmax_params params;
    int32_t rows;
    int32_t depth;
} reef_softmax_step_args;
reef_status reef_softmax_step(const void *args, uint8_t *arena);

/* RESHAPE (and SQUEEZE): a copy unless io.input_at == io.output_at. */
typedef struct reef_reshape_step_args {
    reef_step_io io;
    int32_t count;
} reef_reshape_step_args;
reef_status reef_reshape_step(const void *args, uint8_t *arena);

/* PAD. */
typedef struct reef_pad_step_args {
    reef_step_io io;
    reef_pad_params params;
    reef_dims input_dims;
    reef_dims output_dims;
} reef_pad_step_args;
reef_status reef_pad_step(const void *args, uint8_t *arena);

/* ---- the 16x8 steps (reef/s16x8.h): int16 activations, int8 weights,
 * an int64 bias or none (or, acc32, TFLite's 32-bit path of CONV_2D and
 * FULLY_CONNECTED: an int32 bias or none); no scratch. */

/* CONV_2D, int16 in and out. */
typedef struct reef_conv_s16_step_args {
    reef_step_io io;
    reef_conv_params params;      /* offsets 0 */
    reef_per_channel_quant quant; /* (C_OUT) */
    reef_dims input_dims;         /* (N, H_IN, W_IN, C_IN) */
    reef_dims filter_dims;        /* (C_OUT, KH, KW, C_IN) */
    reef_dims output_dims;        /* (N, H_OUT, W_OUT, C_OUT) */
    const int8_t *filter;
    const int64_t *bias;          /* (C_OUT) or NULL */
    const int32_t *bias32;        /* (C_OUT) or NULL, with acc32 */
    int32_t acc32;                /* 1: 32-bit accumulator (reef_conv_s16x8_acc32) */
} reef_conv_s16_step_args;
reef_status reef_conv_s16_step(const void *args, uint8_t *arena);

/* DEPTHWISE_CONV_2D, int16 in and out. */
typedef struct reef_dw_conv_s16_step_args {
    reef_step_io io;
    reef_dw_conv_params params;   /* offsets 0 */
    reef_per_channel_quant quant; /* (C_OUT) */
    reef_dims input_dims;         /* (N, H_IN, W_IN, C_IN) */
    reef_dims filter_dims;        /* (1, KH, KW, C_OUT) */
    reef_dims output_dims;        /* (N, H_OUT, W_OUT, C_OUT) */
    const int8_t *filter;
    const int64_t *bias;          /* (C_OUT) or NULL */
} reef_dw_conv_s16_step_args;
reef_status reef_dw_conv_s16_step(const void *args, uint8_t *arena);

/* FULLY_CONNECTED, int16 in and out; a per-tensor quantization is one
 * multiplier and shift repeated over the channels. */
typedef struct reef_fc_s16_step_args {
    reef_step_io io;
    reef_fc_params params;        /* offsets 0 */
    reef_per_channel_quant quant; /* (C_OUT) */
    reef_dims input_dims;         /* (N, 1, 1, C_IN) */
    reef_dims filter_dims;        /* (C_OUT, 1, 1, C_IN) */
    reef_dims output_dims;        /* (N, 1, 1, C_OUT) */
    const int8_t *filter;
    const int64_t *bias;          /* (C_OUT) or NULL */
    const int32_t *bias32;        /* (C_OUT) or NULL, with acc32 */
    int32_t acc32;                /* 1: 32-bit accumulator (reef_fc_s16x8_acc32) */
} reef_fc_s16_step_args;
reef_status reef_fc_s16_step(const void *args, uint8_t *arena);

/* ADD of two same-shaped int16 tensors: a reef_add_step_args (left_shift
 * 15, offsets 0). */
reef_status reef_add_s16_step(const void *args, uint8_t *arena);

#endif
