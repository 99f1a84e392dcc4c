/* reef runtime: shared types of the int8 kernels (C99, freestanding).
 *
 * Conventions, as in CMSIS-NN:
 *  - activations are NHWC int8, asymmetric per tensor:
 *      real = scale * (q - zero_point);
 *    kernels take the *offsets* -zero_point (input) and +zero_point (output);
 *  - conv weights are OHWI int8, symmetric per output channel; depthwise
 *    weights are (1, KH, KW, C_IN * M); fully-connected weights (OUT, IN);
 *  - biases are int32 with scale input_scale * weight_scale;
 *  - requantization uses a Q31 multiplier and a power-of-two shift (see
 *    reef/requant.h); fused ReLU/ReLU6 are the clamp [activation.min, max];
 *  - inputs are const, the output comes last, scratch memory is passed in
 *    a reef_context sized by the kernel's *_get_buffer_size() sibling;
 *  - kernels return a reef_status and never allocate, print or exit.
 */
#ifndef REEF_RT_TYPES_H
#define REEF_RT_TYPES_H

/* REEF_NO_REFERENCE_KERNELS: defined by a generated model header when no
 * step of the model needs the scalar references (reef_conv_s8_ref,
 * reef_dw_conv_s8_ref, reef_fc_s8_ref; see the *_needs_reference
 * predicates), so a firmware built with it links none of them; the fast
 * kernels then return REEF_UNSUPPORTED where they would have called one.
 *
 * REEF_ARGS_CHECKED: defined by a generated model header when reef gen has
 * run the kernels' argument checks (reef_conv_args_valid,
 * reef_dw_conv_args_valid, reef_fc_args_valid, reef_pool_s8_args_valid) on
 * every step of its constant step table and all passed; a firmware built
 * with it links those checks as "valid" (about 0.8 KB of code that could
 * only ever answer yes). Shape and scratch-size checks inside the kernels
 * stay. */

#include <stdint.h>

typedef enum reef_status {
    REEF_OK = 0,
    REEF_ARG_ERROR = -1, /* a shape, parameter or buffer is invalid */
    REEF_UNSUPPORTED = -2, /* needs a scalar reference kernel this build left out
                            * (REEF_NO_REFERENCE_KERNELS, below) */
} reef_status;

/* A 4-D shape. Unused leading dimensions are 1. */
typedef struct reef_dims {
    int32_t n;
    int32_t h;
    int32_t w;
    int32_t c;
} reef_dims;

/* A (height, width) pair: strides, paddings, dilations, filter sizes. */
typedef struct reef_hw {
    int32_t h;
    int32_t w;
} reef_hw;

/* Clamp of the output, in output quantized units: [-128, 127] for none,
 * [zero_point, 127] for ReLU, [zp, zp + 6/scale] for ReLU6 (clipped). */
typedef struct reef_activation {
    int32_t min;
    int32_t max;
} reef_activation;

/* Scratch memory for a kernel. buf may be NULL when size is 0. buf must be
 * 4-byte aligned. */
typedef struct reef_context {
    void *buf;
    int32_t size;
} reef_context;

/* Per-output-channel requantization: (C_OUT) arrays. */
typedef struct reef_per_channel_quant {
    const int32_t *multiplier; /* (C_OUT) Q31, in [2^30, 2^31) or 0 */
    const int8_t *shift;       /* (C_OUT) in [-31, 30]; > 0 = left shift (int8: a quarter of
                                * int32's flash in a generated model) */
} reef_per_channel_quant;

/* Per-tensor requantization. */
typedef struct reef_per_tensor_quant {
    int32_t multiplier; /* Q31, in [2^30, 2^31) or 0 */
    int32_t shift;      /* in [-31, 30]; > 0 = left shift */
} reef_per_tensor_quant;

/* The tensor operands of a step, as arena byte offsets: the first member
 * of every step args struct (as TinyMaix's layer head), so the planner
 * fills them for every kind alike and each step finds them in one place.
 * A second input (ADD) and scratch are 0 when a kind has none. The order
 * keeps input, output and scratch adjacent, as the kernels load them. */
typedef struct reef_step_io {
    uint32_t input_at;
    uint32_t output_at;
    uint32_t scratch_at;   /* kernel scratch: scratch_size bytes */
    uint32_t scratch_size;
    uint32_t input2_at;
} reef_step_io;

/* Number of elements of a shape. */
static inline int32_t reef_dims_count(const reef_dims *d)
{
    return d->n * d->h * d->w * d->c;
}

/* 1 when two shapes are the same. */
static inline int reef_dims_equal(const reef_dims *x, const reef_dims *y)
{
    return x->n == y->n && x->h == y->h && x->w == y->w && x->c == y->c;
}

#endif
