/* Pooling: TFLite's int8 AveragePool and MaxPool reference kernels. */
#include "reef/pool.h"

#include "check.h"
#include "dsp.h"

int reef_pool_s8_args_valid(const reef_pool_params *params, const reef_dims *input_dims,
                            const int8_t *input, const reef_hw *filter,
                            const reef_dims *output_dims, const int8_t *output)
{
    if (REEF_ARGS_TRUSTED) return 1; /* reef gen checked every step (check.h) */
    return params && input && filter && output && reef_dims_valid(input_dims) &&
           reef_dims_valid(output_dims) && filter->h > 0 && filter->w > 0 &&
           input_dims->n == output_dims->n && input_dims->c == output_dims->c &&
           reef_window_valid(&params->stride, &params->padding) &&
           reef_activation_valid(&params->activation);
}

/* The window of output (y, x) clipped to the input: rows [*y0, *y1),
 * columns [*x0, *x1). */
static void pool_window(const reef_pool_params *params, const reef_dims *input_dims,
                        const reef_hw *filter, int32_t y, int32_t x, int32_t *y0,
                        int32_t *y1, int32_t *x0, int32_t *x1)
{
    const int32_t oy = y * params->stride.h - params->padding.h;
    const int32_t ox = x * params->stride.w - params->padding.w;
    *y0 = oy < 0 ? 0 : oy;
    *x0 = ox < 0 ? 0 : ox;
    *y1 = oy + filter->h < input_dims->h ? oy + filter->h : input_dims->h;
    *x1 = ox + filter->w < input_dims->w ? ox + filter->w : input_dims->w;
}

/* Rounds sum / count half away from zero, as TFLite's reference does. */
static int32_t rounded_average(int32_t sum, int32_t count)
{
    return sum > 0 ? (sum + count / 2) / count : (sum - count / 2) / count;
}

int32_t reef_avgpool_s8_get_buffer_size(const reef_dims *input_dims,
                                        const reef_dims *output_dims)
{
    (void)input_dims;
    (void)output_dims;
    return 0;
}

/* The sum and the maximum of one channel over a window: h rows of w pixels,
 * from the pixel at `at`; rows are row_stride values apart, pixels c. */
static int32_t window_sum(const int8_t *at, int32_t h, int32_t w, int32_t row_stride, int32_t c)
{
    int32_t sum = 0, iy, ix;
    for (iy = 0; iy < h; iy++)
        for (ix = 0; ix < w; ix++) sum += at[iy * row_stride + ix * c];
    return sum;
}

/* Sums of channels c..c+3 of a window (every pointer at channel c): two
 * halfword lanes per word, (c, c+2) and (c+1, c+3), one load, two SXTB16
 * and two SADD16 per pixel. Exact while the window has at most
 * POOL_LANE_MAX pixels: |sum| <= 128 * 256 fits an int16 lane. */
enum { POOL_LANE_MAX = 256 };
static void window_sum4(const int8_t *at, int32_t h, int32_t w, int32_t row_stride, int32_t c,
                        int32_t sums[4])
{
    int32_t even = 0, odd = 0, iy, ix;
    for (iy = 0; iy < h; iy++) {
        const int8_t *p = at + iy * row_stride;
        for (ix = 0; ix < w; ix++, p += c) {
            const uint32_t v = reef_load_u32(p);
            even = reef_sadd16(even, reef_sxtb16(v));
            odd = reef_sadd16(odd, reef_sxtb16_ror8(v));
        }
    }
    sums[0] = reef_half_lo(even);
    sums[1] = reef_half_lo(odd);
    sums[2] = reef_half_hi(even);
    sums[3] = reef_half_hi(odd);
}

static int32_t window_max(const int8_t *at, int32_t h, int32_t w, int32_t row_stride, int32_t c)
{
    int32_t max = -128, iy, ix;
    for (iy = 0; iy < h; iy++)
        for (ix = 0; ix < w; ix++) {
            const int32_t v = at[iy * row_stride + ix * c];
            max = v > max ? v : max;
        }
    return max;
}

/* Average pooling by 2x2 windows at stride 2 with no padding, every
 * window inside the input, any channel count (the fish nets' first op:
 * 32x32 frames, or the 2-channel temporal input, pooled to 16x16; and a
 * global average of a 2x2 map, whose one window's stride never counts). The
 * generic loop spends ~110-140 instructions per output on the window
 * bounds and a division; here TFLite's rounding of sum / 4 half away from
 * zero is (sum + (sum > 0 ? 2 : 1)) >> 2. */
static int avgpool_is_2x2(const reef_pool_params *params, const reef_dims *input_dims,
                          const reef_hw *filter, const reef_dims *output_dims)
{
    return filter->h == 2 && filter->w == 2 && (params->stride.h == 2 || output_dims->h == 1) &&
           (params->stride.w == 2 || output_dims->w == 1) && params->padding.h == 0 &&
           params->padding.w == 0 && 2 * output_dims->h <= input_dims->h && 2 * output_dims->w <= input_dims->w;
}

/* noinline: its own registers (inlined into pool_s8, GCC spilled the
 * pointers: 25,925 against 16,903 instructions on 32x32x2) */
static __attribute__((noinline)) void avgpool_2x2(const reef_pool_params *params, const reef_dims *input_dims,
                                                  const int8_t *input, const reef_dims *output_dims,
                                                  int8_t *output)
{
    const int32_t lo = params->activation.min, hi = params->activation.max;
    const int32_t c = input_dims->c, row = input_dims->w * c, below = row + c;
    int32_t b, y, x, k;
    for (b = 0; b < output_dims->n; b++)
        for (y = 0; y < output_dims->h; y++) {
            /* p: the window's top-left value of the channel; its other three
             * values are c, row and row + c further */
            const int8_t *p = input + (b * input_dims->h + 2 * y) * row;
            for (x = 0; x < output_dims->w; x++, p += c)
                for (k = 0; k < c; k++, p++) {
                    const int32_t sum = p[0] + p[c] + p[row] + p[below];
                    const int32_t v = (sum + (sum > 0 ? 2 : 1)) >> 2;
                    *output++ = (int8_t)(v < lo ? lo : v > hi ? hi : v);
                }
        }
}

/* The loops a build compiles (reef/pool.h; a model header lists its own). */
#ifndef REEF_POOL_PATHS
#define REEF_POOL_PATHS ((1u << REEF_POOL_PATH_COUNT) - 1u)
#endif
#define POOL_HAS(path) ((REEF_POOL_PATHS >> (path)) & 1u)

/* One window, the whole map (reef/pool.h: REEF_POOL_PATH_AVG_SMALL). */
static int avgpool_is_small_global(const reef_pool_params *params, const reef_dims *input_dims,
                                   const reef_hw *filter, const reef_dims *output_dims)
{
    return output_dims->h == 1 && output_dims->w == 1 && filter->h == input_dims->h && filter->w == input_dims->w &&
           params->padding.h == 0 && params->padding.w == 0 &&
           (int64_t)input_dims->h * input_dims->w * input_dims->c <= REEF_POOL_SMALL_VALUES;
}

/* The global average of each channel, rounded and clamped as the generic
 * loop does. r64-c8e2's 4x4x72 head on qemu-m4: reef_avgpool_s8 742 ->
 * 236 B, 3,292 more instructions a frame than the generic loop's four
 * channels at a time (979,495 -> 982,787; -Os: 4,529 more, for 2 B less). */
static void avgpool_small_global(const reef_pool_params *params, const reef_dims *input_dims,
                                              const int8_t *input, int8_t *output)
{
    const int32_t c = input_dims->c, count = input_dims->h * input_dims->w;
    for (int32_t b = 0; b < input_dims->n; b++, input += count * c)
        for (int32_t k = 0; k < c; k++) {
            int32_t sum = 0;
            for (int32_t i = 0; i < count; i++) sum += input[i * c + k];
            *output++ = (int8_t)reef_clamp(rounded_average(sum, count), params->activation.min,
                                           params->activation.max);
        }
}

/* A firmware's copy tests only for the loops it compiled (REEF_POOL_PATHS):
 * a shape whose own loop is left out gets the generic average, which is
 * exact for every window, or REEF_UNSUPPORTED when that is left out too,
 * as before; the host library (every loop) answers as reef gen does. */
int reef_pool_s8_path(int is_max, const reef_pool_params *params, const reef_dims *input_dims,
                      const reef_hw *filter, const reef_dims *output_dims)
{
    if (is_max) return REEF_POOL_PATH_MAX;
    if (POOL_HAS(REEF_POOL_PATH_AVG_2X2) && avgpool_is_2x2(params, input_dims, filter, output_dims))
        return REEF_POOL_PATH_AVG_2X2;
    if (POOL_HAS(REEF_POOL_PATH_AVG_SMALL) && avgpool_is_small_global(params, input_dims, filter, output_dims))
        return REEF_POOL_PATH_AVG_SMALL;
    return REEF_POOL_PATH_AVG;
}

/* Both pools: each output is the rounded average (is_max 0) or the maximum
 * (is_max 1) of its window clipped to the input, then clamped. */
static reef_status pool_s8(int is_max, const reef_pool_params *params, const reef_dims *input_dims,
                           const int8_t *input, const reef_hw *filter, const reef_dims *output_dims,
                           int8_t *output)
{
    int32_t c_in, row_stride, b, y, x, c, y0, y1, x0, x1;
    int path;
    if (!reef_pool_s8_args_valid(params, input_dims, input, filter, output_dims, output))
        return REEF_ARG_ERROR;
    path = reef_pool_s8_path(is_max, params, input_dims, filter, output_dims);
    if (!POOL_HAS(path)) return REEF_UNSUPPORTED; /* left out of this build (REEF_POOL_PATHS) */
    if (path == REEF_POOL_PATH_AVG_2X2) {
        avgpool_2x2(params, input_dims, input, output_dims, output);
        return REEF_OK;
    }
    if (path == REEF_POOL_PATH_AVG_SMALL) {
        avgpool_small_global(params, input_dims, input, output);
        return REEF_OK;
    }
    if (!POOL_HAS(REEF_POOL_PATH_AVG) && !POOL_HAS(REEF_POOL_PATH_MAX)) return REEF_UNSUPPORTED; /* not reached */
    /* the generic loop: one of the two kinds built, or both */
    is_max = !POOL_HAS(REEF_POOL_PATH_AVG) || (POOL_HAS(REEF_POOL_PATH_MAX) && is_max);
    c_in = input_dims->c;
    row_stride = input_dims->w * c_in;
    for (b = 0; b < output_dims->n; b++)
        for (y = 0; y < output_dims->h; y++)
            for (x = 0; x < output_dims->w; x++) {
                const int8_t *corner;
                pool_window(params, input_dims, filter, y, x, &y0, &y1, &x0, &x1);
                if (y1 <= y0 || x1 <= x0) return REEF_ARG_ERROR; /* empty window */
                corner = input + ((b * input_dims->h + y0) * input_dims->w + x0) * c_in;
                c = 0;
                if (!is_max && (y1 - y0) * (x1 - x0) <= POOL_LANE_MAX)
                    for (; c + 4 <= c_in; c += 4) {
                        const int32_t count = (y1 - y0) * (x1 - x0);
                        int32_t sums[4], i;
                        window_sum4(corner + c, y1 - y0, x1 - x0, row_stride, c_in, sums);
                        for (i = 0; i < 4; i++)
                            *output++ = (int8_t)reef_clamp(rounded_average(sums[i], count),
                                                           params->activation.min,
                                                           params->activation.max);
                    }
                for (; c < output_dims->c; c++) {
                    const int32_t v = is_max ? window_max(corner + c, y1 - y0, x1 - x0, row_stride, c_in)
                                             : rounded_average(window_sum(corner + c, y1 - y0, x1 - x0,
                                                                          row_stride, c_in),
                                                               (y1 - y0) * (x1 - x0));
                    *output++ = (int8_t)reef_clamp(v, params->activation.min, params->activation.max);
                }
            }
    return REEF_OK;
}

reef_status reef_avgpool_s8(const reef_context *ctx, const reef_pool_params *params,
                            const reef_dims *input_dims, const int8_t *input,
                            const reef_hw *filter,
                            const reef_dims *output_dims, int8_t *output)
{
    (void)ctx;
    return pool_s8(0, params, input_dims, input, filter, output_dims, output);
}

reef_status reef_maxpool_s8(const reef_context *ctx, const reef_pool_params *params,
                            const reef_dims *input_dims, const int8_t *input,
                            const reef_hw *filter,
                            const reef_dims *output_dims, int8_t *output)
{
    (void)ctx;
    return pool_s8(1, params, input_dims, input, filter, output_dims, output);
}
