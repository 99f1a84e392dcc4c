/* Binary elementwise int8 ops with broadcasting (see reef/elementwise.h).
 *
 * One loop nest over the output (n, h, w, c) with per-input strides; the
 * per-element arithmetic is TFLite's reference arithmetic, the scalar
 * helpers of reef/requant.h. */
#include "reef/elementwise.h"
#include "reef/requant.h"

#include "check.h"

static int broadcast_valid(const reef_broadcast *b)
{
    return b && reef_dims_valid(&b->output_dims);
}

static int32_t clamp_act(int32_t v, const reef_activation *a)
{
    return v < a->min ? a->min : v > a->max ? a->max : v;
}

/* ADD and SUB share TFLite's rescaling of both inputs to twice the larger
 * scale after a left shift (integer_ops/add.h, reference/sub.h). */
static int32_t rescaled(int32_t v, int32_t offset, int32_t left_shift, int32_t multiplier, int32_t shift)
{
    return reef_requantize(reef_shift_left(v + offset, left_shift), multiplier, shift);
}

static int8_t add_one(const reef_add_params *p, int32_t x, int32_t y, int32_t sign)
{
    const int32_t a = rescaled(x, p->input1_offset, p->left_shift, p->input1_multiplier, p->input1_shift);
    const int32_t b = rescaled(y, p->input2_offset, p->left_shift, p->input2_multiplier, p->input2_shift);
    const int32_t raw = sign > 0 ? a + b : a - b;
    return (int8_t)clamp_act(reef_requantize(raw, p->output_multiplier, p->output_shift) + p->output_offset,
                             &p->activation);
}

static int8_t mul_one(const reef_mul_params *p, int32_t x, int32_t y)
{
    const int32_t prod = (x + p->input1_offset) * (y + p->input2_offset);
    return (int8_t)clamp_act(reef_requantize(prod, p->output_multiplier, p->output_shift) + p->output_offset,
                             &p->activation);
}

static int8_t prelu_one(const reef_prelu_params *p, int32_t x, int32_t alpha)
{
    const int32_t v = x + p->input_offset;
    const int32_t out = v >= 0 ? reef_requantize(v, p->positive.multiplier, p->positive.shift)
                               : reef_requantize(v * (alpha + p->alpha_offset), p->negative.multiplier,
                                                 p->negative.shift);
    const int32_t q = out + p->output_offset;
    return (int8_t)(q < -128 ? -128 : q > 127 ? 127 : q);
}

/* Runs ELEMENT(x, y) (an expression of the int32 values x, y) for every
 * output element. */
#define BROADCAST_LOOP(b, in1, in2, out, ELEMENT)                                                        \
    do {                                                                                                 \
        const reef_dims *d_ = &(b)->output_dims, *s1_ = &(b)->input1_strides, *s2_ = &(b)->input2_strides; \
        int32_t n_, h_, w_, c_;                                                                          \
        int8_t *o_ = (out);                                                                              \
        for (n_ = 0; n_ < d_->n; n_++)                                                                   \
            for (h_ = 0; h_ < d_->h; h_++)                                                               \
                for (w_ = 0; w_ < d_->w; w_++) {                                                         \
                    const int8_t *p1_ = (in1) + n_ * s1_->n + h_ * s1_->h + w_ * s1_->w;                 \
                    const int8_t *p2_ = (in2) + n_ * s2_->n + h_ * s2_->h + w_ * s2_->w;                 \
                    for (c_ = 0; c_ < d_->c; c_++) {                                                     \
                        const int32_t x = p1_[c_ * s1_->c], y = p2_[c_ * s2_->c];                        \
                        *o_++ = (ELEMENT);                                                               \
                    }                                                                                    \
                }                                                                                        \
    } while (0)

static int add_params_valid(const reef_add_params *p)
{
    return p && p->left_shift >= 0 && p->left_shift <= 30 && p->input1_shift <= 0 && p->input2_shift <= 0 &&
           p->input1_shift >= -31 && p->input2_shift >= -31 && p->output_shift >= -31 && p->output_shift <= 30 &&
           reef_activation_valid(&p->activation);
}

reef_status reef_add_broadcast_s8(const reef_add_params *params, const reef_broadcast *b,
                                  const int8_t *input1, const int8_t *input2, int8_t *output)
{
    if (!add_params_valid(params) || !broadcast_valid(b) || !input1 || !input2 || !output) return REEF_ARG_ERROR;
    BROADCAST_LOOP(b, input1, input2, output, add_one(params, x, y, 1));
    return REEF_OK;
}

reef_status reef_sub_broadcast_s8(const reef_add_params *params, const reef_broadcast *b,
                                  const int8_t *input1, const int8_t *input2, int8_t *output)
{
    if (!add_params_valid(params) || !broadcast_valid(b) || !input1 || !input2 || !output) return REEF_ARG_ERROR;
    BROADCAST_LOOP(b, input1, input2, output, add_one(params, x, y, -1));
    return REEF_OK;
}

reef_status reef_mul_broadcast_s8(const reef_mul_params *params, const reef_broadcast *b,
                                  const int8_t *input1, const int8_t *input2, int8_t *output)
{
    if (!params || params->output_shift < -31 || params->output_shift > 30 ||
        !reef_activation_valid(&params->activation) || !broadcast_valid(b) || !input1 || !input2 || !output)
        return REEF_ARG_ERROR;
    BROADCAST_LOOP(b, input1, input2, output, mul_one(params, x, y));
    return REEF_OK;
}

static int quant_valid(const reef_per_tensor_quant *q)
{
    return q->multiplier >= 0 && q->shift >= -31 && q->shift <= 30;
}

reef_status reef_prelu_broadcast_s8(const reef_prelu_params *params, const reef_broadcast *b,
                                    const int8_t *input1, const int8_t *input2, int8_t *output)
{
    if (!params || !quant_valid(&params->positive) || !quant_valid(&params->negative) || !broadcast_valid(b) ||
        !input1 || !input2 || !output)
        return REEF_ARG_ERROR;
    BROADCAST_LOOP(b, input1, input2, output, prelu_one(params, x, y));
    return REEF_OK;
}

reef_status reef_maximum_broadcast_s8(const reef_broadcast *b, const int8_t *input1, const int8_t *input2,
                                      int8_t *output)
{
    if (!broadcast_valid(b) || !input1 || !input2 || !output) return REEF_ARG_ERROR;
    BROADCAST_LOOP(b, input1, input2, output, (int8_t)(x > y ? x : y));
    return REEF_OK;
}

reef_status reef_minimum_broadcast_s8(const reef_broadcast *b, const int8_t *input1, const int8_t *input2,
                                      int8_t *output)
{
    if (!broadcast_valid(b) || !input1 || !input2 || !output) return REEF_ARG_ERROR;
    BROADCAST_LOOP(b, input1, input2, output, (int8_t)(x < y ? x : y));
    return REEF_OK;
}

/* ---- steps --------------------------------------------------------------- */

/* The two operands of a binary step: a constant, or the arena activations
 * in order (see reef/elementwise.h). */
static void binary_operands(const reef_step_io *io, const int8_t *const1, const int8_t *const2, uint8_t *arena,
                            const int8_t **in1, const int8_t **in2)
{
    const int8_t *first = (const int8_t *)(arena + io->input_at);
    if (const1) {
        *in1 = const1, *in2 = first;
    } else if (const2) {
        *in1 = first, *in2 = const2;
    } else {
        *in1 = first, *in2 = (const int8_t *)(arena + io->input2_at);
    }
}

#define STEP_OPERANDS(a, arena, in1, in2, out)                                        \
    const int8_t *in1, *in2;                                                          \
    int8_t *out = (int8_t *)((arena) + (a)->io.output_at);                            \
    binary_operands(&(a)->io, (a)->input1_const, (a)->input2_const, arena, &in1, &in2)

reef_status reef_add_bcast_step(const void *args, uint8_t *arena)
{
    const reef_addsub_step_args *a = (const reef_addsub_step_args *)args;
    STEP_OPERANDS(a, arena, in1, in2, out);
    return reef_add_broadcast_s8(&a->params, &a->bcast, in1, in2, out);
}

reef_status reef_sub_step(const void *args, uint8_t *arena)
{
    const reef_addsub_step_args *a = (const reef_addsub_step_args *)args;
    STEP_OPERANDS(a, arena, in1, in2, out);
    return reef_sub_broadcast_s8(&a->params, &a->bcast, in1, in2, out);
}

reef_status reef_mul_step(const void *args, uint8_t *arena)
{
    const reef_mul_step_args *a = (const reef_mul_step_args *)args;
    STEP_OPERANDS(a, arena, in1, in2, out);
    return reef_mul_broadcast_s8(&a->params, &a->bcast, in1, in2, out);
}

reef_status reef_maximum_step(const void *args, uint8_t *arena)
{
    const reef_minmax_step_args *a = (const reef_minmax_step_args *)args;
    STEP_OPERANDS(a, arena, in1, in2, out);
    return reef_maximum_broadcast_s8(&a->bcast, in1, in2, out);
}

reef_status reef_minimum_step(const void *args, uint8_t *arena)
{
    const reef_minmax_step_args *a = (const reef_minmax_step_args *)args;
    STEP_OPERANDS(a, arena, in1, in2, out);
    return reef_minimum_broadcast_s8(&a->bcast, in1, in2, out);
}

reef_status reef_prelu_step(const void *args, uint8_t *arena)
{
    const reef_prelu_step_args *a = (const reef_prelu_step_args *)args;
    STEP_OPERANDS(a, arena, in1, in2, out);
    return reef_prelu_broadcast_s8(&a->params, &a->bcast, in1, in2, out);
}
