/* reef runtime: int8 2-D convolution (TFLite CONV_2D, per-channel). */
#ifndef REEF_RT_CONV_H
#define REEF_RT_CONV_H

#include "reef/types.h"

/* Convolution parameters.
 *   input_offset:  -input_zero_point, [-127, 128]
 *   output_offset: output_zero_point, [-128, 127]
 *   stride:        >= 1
 *   padding:       zeros added before the first row/column (TFLite's
 *                  padding offsets: top, left); the bottom/right padding
 *                  follows from the output size. >= 0
 *   dilation:      >= 1
 *   activation:    output clamp, within [-128, 127] */
typedef struct reef_conv_params {
    int32_t input_offset;
    int32_t output_offset;
    reef_hw stride;
    reef_hw padding;
    reef_hw dilation;
    reef_activation activation;
    int32_t paired; /* 1: filter made by reef_conv_s8_pair (below) */
} reef_conv_params;

/* out[n, y, x, o] = clamp(requant_o(bias[o] + sum_{ky, kx, i}
 *     filter[o, ky, kx, i] * (input[n, y*sh - ph + ky*dh, x*sw - pw + kx*dw, i]
 *                              + input_offset)) + output_offset)
 * where taps outside the input contribute nothing.
 *
 * ctx:         scratch of reef_conv_s8_get_buffer_size() bytes
 * params:      see reef_conv_params
 * quant:       per output channel multiplier and shift, (C_OUT) each
 * input_dims:  (N, H_IN, W_IN, C_IN)
 * input:       (N, H_IN, W_IN, C_IN)
 * filter_dims: (C_OUT, KH, KW, C_IN)
 * filter:      (C_OUT, KH, KW, C_IN), [-127, 127]
 * bias:        (C_OUT) or NULL
 * output_dims: (N, H_OUT, W_OUT, C_OUT)
 * output:      (N, H_OUT, W_OUT, C_OUT); must not overlap input
 * Returns REEF_ARG_ERROR on inconsistent shapes or a too small ctx. */
reef_status reef_conv_s8(const reef_context *ctx, const reef_conv_params *params,
                         const reef_per_channel_quant *quant,
                         const reef_dims *input_dims, const int8_t *input,
                         const reef_dims *filter_dims, const int8_t *filter,
                         const int32_t *bias,
                         const reef_dims *output_dims, int8_t *output);

/* Scratch bytes reef_conv_s8 needs for these shapes (0 when none). */
int32_t reef_conv_s8_get_buffer_size(const reef_conv_params *params,
                                     const reef_dims *input_dims,
                                     const reef_dims *filter_dims,
                                     const reef_dims *output_dims);

/* 1 when reef_conv_s8 hands these parameters to reef_conv_s8_ref: an
 * input offset outside [-127, 128] or a channel whose requantization
 * shifts left (shift >= 0 with a nonzero multiplier). */
int reef_conv_s8_needs_reference(const reef_conv_params *params,
                                 const reef_per_channel_quant *quant,
                                 const reef_dims *filter_dims);

/* The loop reef_conv_s8 runs these shapes with, in [0, 22): 0 and 1 the
 * 2x2 GEMM (activation range [-128, 127] or clamped), 2 + i the short-K
 * loop i (per K rounded up to 4, clamped, gathered), REEF_CONV_PATH_C3 the
 * first-conv loop (3x3 over 3 channels, stride 2 across, range [-128,
 * 127], channels a multiple of 4: input rows widened once, windows read
 * in place; conv.c, conv_c3). A build that defines
 * REEF_CONV_PATHS (a generated model header does: the OR of 1 << path over
 * its conv steps) compiles only those loops; a layer needing another one
 * then gets REEF_UNSUPPORTED. */
#define REEF_CONV_PATH_C3 18
/* The short-K loop with K = 8 read in place, range [-128, 127] (2 + 4):
 * eight positions a pass in assembly, then four, then two. A build that
 * defines REEF_CONV_SMALL8_TAIL 0 (a generated model header does when
 * every call on it has output rows a multiple of 8 wide) leaves the four-
 * and two-position passes out: a count that is not a multiple of 8 then
 * runs its last positions in the C loop (same result, more cycles). */
#define REEF_CONV_PATH_SMALL8 6
/* Not a loop of its own: bit 19 of REEF_CONV_PATHS links the resident
 * variant of the paired 2x2 loop (path 0), which a paired layer takes
 * when reef_conv_s8_resident says its shape suits it (the scratch is
 * sized by the shape alone): the widened columns of every four positions within
 * 10 KB of scratch and at most the layer's input and output bytes, at least 16
 * positions, K at least 64; weights copied from flash to
 * scratch sixteen channels at a time and read from there by every block of
 * positions (conv.c, conv_pairs_resident). A generated header sets it when
 * a conv step takes it; reef_conv_s8_get_buffer_size counts its scratch. */
#define REEF_CONV_PATH_RESIDENT 19
int reef_conv_s8_resident(const reef_conv_params *params, const reef_dims *input_dims,
                          const reef_dims *filter_dims, const reef_dims *output_dims);
/* Not a loop of its own either: bit 20 of REEF_CONV_PATHS lets a paired
 * layer on the plain 2x2 loop (not resident) copy its whole filter from
 * flash to scratch once per call and read it from there, when its context
 * holds reef_conv_s8_weights_buffer_size() bytes (0: the shape does not
 * take it; at least 16 positions). The planner gives a step that scratch
 * only where the arena does not grow (src/codegen/lower_model.c); a
 * generated header sets the bit when a step got it. */
#define REEF_CONV_PATH_WEIGHTS 20
/* The first-conv loop of REEF_CONV_PATH_C3 over 2 input channels (3x3 at
 * stride 2 across, range [-128, 127], channels a multiple of 4; the fish
 * nets' temporal [d, s] input): its own bit, so a firmware links only the
 * channel count its model has (conv.c, conv_c2). */
#define REEF_CONV_PATH_C2 21
int32_t reef_conv_s8_weights_buffer_size(const reef_conv_params *params, const reef_dims *input_dims,
                                         const reef_dims *filter_dims, const reef_dims *output_dims);
int reef_conv_s8_path(const reef_conv_params *params, const reef_dims *input_dims,
                      const reef_dims *filter_dims, const reef_dims *output_dims);

/* The four-position loop's requantization form a layer with these
 * constants takes, as a bit: 1 rq.h's, 2 folded, 4 split (conv.c,
 * conv_prepare). A build that defines REEF_CONV_RQ_FORMS (a generated
 * model header does: the OR over its 2x2-path conv steps) links only
 * those; a layer whose form is left out takes one exact for more shifts
 * (folded -> split -> rq.h's), or gets REEF_UNSUPPORTED, never a wrong
 * output. */
unsigned reef_conv_rq_form(const reef_per_channel_quant *quant, const int32_t *bias, int32_t c_out);

/* Channel pairs, the layout of params->paired (made on the host by
 * `reef gen`; see reef_fc_s8_pair in fc.h for the arithmetic):
 * channels A = 2i and B = 2i + 1 share halfwords h[k] = 256 * B[k] + A[k],
 * per 4 values of K the words (h[k], h[k+2]) and (h[k+1], h[k+3]). The
 * 2x2 GEMM then takes 13 instructions per 16 MACs instead of 16. The
 * widened columns hold the input offset, |x| <= 255, so B's sums are
 * exact when 255 * sum |B[k]| < 2^23 (every K <= 256 qualifies).
 * A pair's rows run K8 = K rounded up to 8 values, zeros past K (so
 * first layers with K = 27 take the assembly loops too).
 * reef_conv_s8_pairable: 1 when a layer takes the plain 2x2 loop (path
 * 0), C_OUT is even, its requantization is fast for every channel and the
 * bounds hold. reef_conv_s8_pair writes paired (reef_conv_s8_paired_size
 * bytes, C_OUT * K8) of such a layer. A build that defines
 * REEF_CONV_UNPAIRED 0 (a generated model header does when every step on
 * the 2x2 loop is paired) compiles only the paired 2x2 loop: an unpaired
 * layer on paths 0 and 1 then gets REEF_UNSUPPORTED. A build that defines
 * REEF_CONV_PAIRED_TAIL 0 (a generated model header does when every
 * paired call's output rows are a multiple of 4 wide, so any cut into
 * row ranges is too) with REEF_CONV_UNPAIRED
 * 0 runs paired layers four positions at a time only: a paired layer with
 * another count then gets REEF_UNSUPPORTED. */
int reef_conv_s8_pairable(const reef_conv_params *params, const reef_per_channel_quant *quant,
                          const reef_dims *input_dims, const reef_dims *filter_dims,
                          const reef_dims *output_dims, const int8_t *filter);
int32_t reef_conv_s8_paired_size(const reef_dims *filter_dims);
void reef_conv_s8_pair(const reef_dims *filter_dims, const int8_t *filter, int8_t *paired);

/* The portable scalar reference: same contract, needs no scratch. */
reef_status reef_conv_s8_ref(const reef_context *ctx, const reef_conv_params *params,
                             const reef_per_channel_quant *quant,
                             const reef_dims *input_dims, const int8_t *input,
                             const reef_dims *filter_dims, const int8_t *filter,
                             const int32_t *bias,
                             const reef_dims *output_dims, int8_t *output);

/* TRANSPOSE_CONV (TFLite's reference_integer_ops::TransposeConv), the
 * gradient of a convolution: input pixel (y, x) scatters filter * (input +
 * input_offset) onto output rows y*sh - ph + ky and columns x*sw - pw + kx.
 * Computed here as a gather (each output sums the input pixels that
 * scatter onto it), so no int32 scratch of the output's size is needed;
 * the int32 sum is the same, only its order differs. Then as CONV_2D:
 * + bias[o], requant_o, + output_offset, clamp. params.dilation is unused
 * (TFLite has none); filter (C_OUT, KH, KW, C_IN). */
reef_status reef_transpose_conv_s8(const reef_conv_params *params, const reef_per_channel_quant *quant,
                                   const reef_dims *input_dims, const int8_t *input, const reef_dims *filter_dims,
                                   const int8_t *filter, const int32_t *bias, const reef_dims *output_dims,
                                   int8_t *output);

#endif
