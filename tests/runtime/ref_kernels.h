/* An independent reference of TFLite's int8 arithmetic for the runtime
 * tests: plain loop nests, int64 accumulation, and requantization written
 * from its definition (not with the runtime's helpers). */
#ifndef REEF_TESTS_RUNTIME_REF_KERNELS_H
#define REEF_TESTS_RUNTIME_REF_KERNELS_H

#include <stdint.h>

#include "reef/reef.h"

/* round(acc * multiplier * 2^(shift - 31)) the TFLite way: x = acc << max(shift,0)
 * (int32 wrap), high = x * M / 2^31 rounded half up (saturating M = x =
 * INT32_MIN), then high / 2^max(-shift,0) rounded half away from zero. */
int32_t ref_requant(int32_t acc, int32_t multiplier, int32_t shift);
int32_t ref_high_mul(int32_t a, int32_t b);
int32_t ref_round_shift(int32_t x, int exponent);

void ref_conv(const reef_conv_params *p, const int32_t *mult, const int8_t *shift,
              const reef_dims *in_d, const int8_t *in, const reef_dims *f_d,
              const int8_t *filter, const int32_t *bias, const reef_dims *out_d, int8_t *out);
void ref_dw_conv(const reef_dw_conv_params *p, const int32_t *mult, const int8_t *shift,
                 const reef_dims *in_d, const int8_t *in, const reef_dims *f_d,
                 const int8_t *filter, const int32_t *bias, const reef_dims *out_d,
                 int8_t *out);
/* per_channel: mult/shift are (C_OUT), else one value. */
void ref_fc(const reef_fc_params *p, const int32_t *mult, const int8_t *shift, int per_channel,
            int32_t batches, int32_t c_in, int32_t c_out, const int8_t *in,
            const int8_t *filter, const int32_t *bias, int8_t *out);
void ref_add(const reef_add_params *p, const int8_t *a, const int8_t *b, int32_t n, int8_t *out);
/* is_max: 1 max pool, 0 average pool. */
void ref_pool(int is_max, const reef_pool_params *p, const reef_dims *in_d, const int8_t *in,
              reef_hw filter, const reef_dims *out_d, int8_t *out);
void ref_mean(const reef_mean_params *p, const reef_dims *in_d, const int8_t *in, int8_t *out);
void ref_softmax(const reef_softmax_params *p, int32_t rows, int32_t depth, const int8_t *in,
                 int8_t *out);
void ref_pad(const reef_pad_params *p, const reef_dims *in_d, const int8_t *in,
             const reef_dims *out_d, int8_t *out);

#endif
