/* reef runtime: float32 kernels, the float build of a model.
 *
 * They exist for one purpose: to measure the float model the int8 model is
 * compared with (`reef report`'s float column), compiled for the same core
 * the same way (the Cortex-M4's FPU is single precision, so everything here
 * is float, never double). Simple and correct first; the int8 kernels are
 * where speed matters. The int8 path never includes this header.
 *
 * Layouts as in the int8 kernels: activations NHWC, conv filters OHWI,
 * depthwise filters (1, KH, KW, C_IN * M), fully connected (OUT, IN). A
 * fused activation is the clamp [act_min, act_max] (-FLT_MAX/FLT_MAX for
 * none, [0, 6] for ReLU6). Paddings are the top/left zero rows/columns.
 *
 * Every args struct follows step.h's rule: plain numbers, const pointers
 * to const arrays and nested structs, so the C emitter prints it as a
 * const initializer. Tensor operands are the reef_step_io every args
 * struct starts with: arena byte offsets (multiples of 4, so float loads
 * are aligned).
 */
#ifndef REEF_RT_FLOAT_OPS_H
#define REEF_RT_FLOAT_OPS_H

#include "reef/types.h"

typedef struct reef_float_act {
    float min;
    float max;
} reef_float_act;

/* CONV_2D and DEPTHWISE_CONV_2D (depth_multiplier used by depthwise only). */
typedef struct reef_float_conv_args {
    reef_step_io io;
    reef_hw stride;
    reef_hw padding;         /* top, left */
    int32_t depth_multiplier;
    reef_float_act act;
    reef_dims input_dims;    /* (N, H_IN, W_IN, C_IN) */
    reef_dims filter_dims;   /* conv (C_OUT, KH, KW, C_IN); depthwise (1, KH, KW, C_OUT) */
    reef_dims output_dims;   /* (N, H_OUT, W_OUT, C_OUT) */
    const float *filter;     /* layout of filter_dims */
    const float *bias;       /* (C_OUT) or NULL */
} reef_float_conv_args;

reef_status reef_float_conv_step(const void *args, uint8_t *arena);
reef_status reef_float_dw_conv_step(const void *args, uint8_t *arena);

/* FULLY_CONNECTED: output (N, C_OUT) = input (N, C_IN) x filter^T + bias. */
typedef struct reef_float_fc_args {
    reef_step_io io;
    reef_float_act act;
    int32_t batches;
    int32_t in_features;
    int32_t out_features;
    const float *filter;     /* (C_OUT, C_IN) */
    const float *bias;       /* (C_OUT) or NULL */
} reef_float_fc_args;

reef_status reef_float_fc_step(const void *args, uint8_t *arena);

/* ADD of two same-shaped tensors of count elements. */
typedef struct reef_float_add_args {
    reef_step_io io;
    reef_float_act act;
    int32_t count;
} reef_float_add_args;

reef_status reef_float_add_step(const void *args, uint8_t *arena);

/* AVERAGE_POOL_2D and MAX_POOL_2D; an average counts only the window's
 * cells inside the input, as TFLite does. MEAN over H and W is an average
 * pool whose window is the whole input. */
typedef struct reef_float_pool_args {
    reef_step_io io;
    reef_hw stride;
    reef_hw padding;         /* top, left */
    reef_hw filter;          /* (KH, KW) */
    reef_float_act act;
    reef_dims input_dims;    /* (N, H_IN, W_IN, C) */
    reef_dims output_dims;   /* (N, H_OUT, W_OUT, C) */
} reef_float_pool_args;

reef_status reef_float_avgpool_step(const void *args, uint8_t *arena);
reef_status reef_float_maxpool_step(const void *args, uint8_t *arena);

/* RESHAPE: a copy of count floats unless io.input_at == io.output_at. */
typedef struct reef_float_copy_args {
    reef_step_io io;
    int32_t count;
} reef_float_copy_args;

reef_status reef_float_copy_step(const void *args, uint8_t *arena);

/* The kernels behind the steps, on plain pointers. */
reef_status reef_float_conv(const reef_float_conv_args *a, const float *input, float *output);
reef_status reef_float_dw_conv(const reef_float_conv_args *a, const float *input, float *output);
reef_status reef_float_fc(const reef_float_fc_args *a, const float *input, float *output);
reef_status reef_float_pool(const reef_float_pool_args *a, int is_max, const float *input,
                            float *output);

#endif
