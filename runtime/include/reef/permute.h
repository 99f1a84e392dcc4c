/* reef runtime: data movement.
 *
 * STRIDED, index remapping (TFLite TRANSPOSE and SLICE): for every output
 * element (n, h, w, c) in row-major order
 *   output[k] = input[offset + n*s.n + h*s.h + w*s.w + c*s.c]
 * with the input strides s and the offset computed on the host (a
 * permutation of the input's row-major strides for TRANSPOSE, the
 * begin offset for SLICE). Values are copied, never requantized.
 *
 * COPY_ROWS, one operand of an op with several (CONCATENATION and PACK:
 * one step per input, each writing its part of the output; SPLIT, SPLIT_V
 * and UNPACK: one step per output): rows blocks of row_size elements,
 *   output[output_offset + r*output_stride + i] =
 *       rq(input[input_offset + r*input_stride + i])
 * where rq is the identity when the two tensors share their quantization
 * (TFLite Micro's kernels are then plain copies) and otherwise TFLite's
 * Requantize, as its int8 -> int8 QUANTIZE kernel computes it. */
#ifndef REEF_RT_PERMUTE_H
#define REEF_RT_PERMUTE_H

#include "reef/types.h"

/* input and output must not overlap. */
reef_status reef_strided_copy_s8(const reef_dims *output_dims, const reef_dims *input_strides, int32_t input_offset,
                                 const int8_t *input, int8_t *output);

typedef struct reef_strided_step_args {
    reef_step_io io;
    reef_dims output_dims;
    reef_dims input_strides; /* elements */
    int32_t input_offset;    /* elements */
} reef_strided_step_args;
reef_status reef_strided_step(const void *args, uint8_t *arena);

/* RESIZE_NEAREST_NEIGHBOR: output (n, y, x, :) = input (n, index[y],
 * index[output h + x], :), the C values of a pixel copied; index (output h
 * + output w) is TFLite's GetNearestNeighbor for every output row and
 * column, computed on the host (float arithmetic stays off the device). */
reef_status reef_resize_nearest_s8(const reef_dims *input_dims, const reef_dims *output_dims, const int32_t *index,
                                   const int8_t *input, int8_t *output);

typedef struct reef_resize_nearest_step_args {
    reef_step_io io;
    reef_dims input_dims;  /* (N, H_IN, W_IN, C) */
    reef_dims output_dims; /* (N, H_OUT, W_OUT, C) */
    const int32_t *index;  /* (H_OUT + W_OUT) input row, then input column */
} reef_resize_nearest_step_args;
reef_status reef_resize_nearest_step(const void *args, uint8_t *arena);

/* RESIZE_BILINEAR, int8 (TFLite's ResizeBilinearInteger): output row y
 * samples input row y * y_scale_10 / 1024 in 10-bit fixed point, plus
 * (y_scale_10 / 2 - 512) with half_pixel_centers; the four neighbours
 * weighted by the 10-bit fractions, the sum rounded half away from zero
 * at bit 20 (TFLite's default double rounding). Columns likewise. The
 * scales are the host's: round(1024 * in / out), or (in - 1) / (out - 1)
 * with align_corners. Every sampled row and column must lie inside the
 * input (the lowering checks it). */
typedef struct reef_resize_bilinear_geometry {
    int32_t y_scale_10, x_scale_10;
    int32_t half_pixel_centers;
} reef_resize_bilinear_geometry;

reef_status reef_resize_bilinear_s8(const reef_dims *input_dims, const reef_dims *output_dims,
                                    const reef_resize_bilinear_geometry *geometry, const int8_t *input,
                                    int8_t *output);

typedef struct reef_resize_bilinear_step_args {
    reef_step_io io;
    reef_dims input_dims;  /* (N, H_IN, W_IN, C) */
    reef_dims output_dims; /* (N, H_OUT, W_OUT, C) */
    reef_resize_bilinear_geometry geometry;
} reef_resize_bilinear_step_args;
reef_status reef_resize_bilinear_step(const void *args, uint8_t *arena);

/* One requantization, or none (requantize 0: a copy). */
typedef struct reef_copy_quant {
    int32_t requantize;
    int32_t input_offset;  /* -input zero point */
    int32_t multiplier;
    int32_t shift;
    int32_t output_offset; /* output zero point */
} reef_copy_quant;

/* input and output must not overlap. */
reef_status reef_copy_rows_s8(int32_t rows, int32_t row_size, const int8_t *input, int32_t input_stride,
                              int8_t *output, int32_t output_stride, const reef_copy_quant *quant);

typedef struct reef_copy_rows_step_args {
    reef_step_io io;
    int32_t rows, row_size;                /* elements */
    int32_t input_offset, input_stride;   /* elements */
    int32_t output_offset, output_stride; /* elements */
    reef_copy_quant quant;
} reef_copy_rows_step_args;
reef_status reef_copy_rows_step(const void *args, uint8_t *arena);

#endif
