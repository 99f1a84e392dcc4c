/* Argument checks shared by the kernels (internal to the runtime). */
#ifndef REEF_RT_CHECK_H
#define REEF_RT_CHECK_H

#include "reef/types.h"

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

static inline int32_t reef_clamp(int32_t v, int32_t lo, int32_t hi)
{
    return v < lo ? lo : (v > hi ? hi : v);
}

#endif
