/* Argument checks shared by the kernels (internal to the runtime). */
#ifndef REEF_RT_CHECK_H
#define REEF_RT_CHECK_H

#include "reef/conv.h"
#include "reef/dw_conv.h"
#include "reef/float_ops.h"
#include "reef/fc.h"
#include "reef/types.h"

/* Once-per-step code (the step table's dispatch, softmax over a handful
 * of classes) compiled for size on the M4, where flash is the budget and
 * these run a few hundred instructions per inference: write
 * REEF_OPTIMIZE_SIZE after a file's includes. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__ARM_ARCH)
#define REEF_OPTIMIZE_SIZE _Pragma("GCC optimize(\"Os\")")
#else
#define REEF_OPTIMIZE_SIZE
#endif

/* The same for one function (a cold loop in a file of hot ones). */
#if defined(__GNUC__) && !defined(__clang__) && defined(__ARM_ARCH)
#define REEF_SIZE_FN __attribute__((optimize("Os")))
#else
#define REEF_SIZE_FN
#endif

/* 1 in a firmware whose step table reef gen checked (REEF_ARGS_CHECKED,
 * reef/types.h): the *_args_valid functions answer yes without looking. */
#if defined(REEF_ARGS_CHECKED)
#define REEF_ARGS_TRUSTED 1
#else
#define REEF_ARGS_TRUSTED 0
#endif

static inline int reef_dims_valid(const reef_dims *d)
{
    return d && d->n > 0 && d->h > 0 && d->w > 0 && d->c > 0;
}

static inline int reef_window_valid(const reef_hw *stride, const reef_hw *padding)
{
    return stride->h > 0 && stride->w > 0 && padding->h >= 0 && padding->w >= 0;
}

static inline int reef_activation_valid(const reef_activation *a)
{
    return a->min >= -128 && a->max <= 127 && a->min <= a->max;
}

/* The tensors of a kernel with a filter (conv, depthwise, fc) are given and
 * their shapes are positive. */
static inline int reef_filter_args_present(const int8_t *input, const int8_t *filter, const int8_t *output,
                                           const reef_dims *input_dims, const reef_dims *filter_dims,
                                           const reef_dims *output_dims)
{
    return input && filter && output && reef_dims_valid(input_dims) && reef_dims_valid(filter_dims) &&
           reef_dims_valid(output_dims);
}

/* A convolution window (conv, depthwise): stride, padding, dilation and
 * activation in range. */
static inline int reef_conv_window_valid(const reef_hw *stride, const reef_hw *padding, const reef_hw *dilation,
                                         const reef_activation *activation)
{
    return dilation->h > 0 && dilation->w > 0 && reef_window_valid(stride, padding) &&
           reef_activation_valid(activation);
}

static inline int32_t reef_clamp(int32_t v, int32_t lo, int32_t hi)
{
    return v < lo ? lo : (v > hi ? hi : v);
}

static inline float reef_clampf(float v, reef_float_act act)
{
    return v < act.min ? act.min : (v > act.max ? act.max : v);
}

/* Argument checks shared by each fast kernel and its scalar reference:
 * reef/args.h. */
#include "reef/args.h"

#endif
