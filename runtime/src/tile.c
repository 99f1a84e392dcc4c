/* One tile of a step: the step's own args with the output cut to a range
 * and the input window moved to match, then the step's own function. No
 * kernel is named here, so tiling links nothing a model does not use. */
#include "reef/resume.h"

/* Output rows [begin, end) of a windowed op on a batch-1 NHWC tensor: the
 * input starts at the first row the tile's first window touches (or stays
 * at row 0 with a smaller top padding), and keeps every row below, so the
 * bottom padding and clipping are what the whole step has. */
static int cut_rows(reef_dims *in, reef_dims *out, uint32_t *in_at, uint32_t *out_at, int32_t *pad_h,
                    int32_t stride_h, int32_t begin, int32_t end)
{
    int32_t start;
    if (in->n != 1 || out->n != 1 || begin < 0 || end > out->h || begin >= end) return -1;
    start = begin * stride_h - *pad_h;
    if (start >= in->h) return -1;
    if (start > 0) {
        *in_at += (uint32_t)(start * in->w * in->c);
        in->h -= start;
        *pad_h = 0;
    } else {
        *pad_h = -start;
    }
    *out_at += (uint32_t)(begin * out->w * out->c);
    out->h = end - begin;
    return 0;
}

/* A conv tile's input ends at the last row its windows read (when that
 * lies inside the input: no bottom padding to keep): the view then takes
 * the loop, and needs the scratch, of the whole step. Keeping every row
 * below made a 1x1 tile look unlike its step (out rows != in rows) to the
 * short-K loop, which then asked more scratch than the step has. */
static reef_status conv_rows(const reef_step *step, int32_t begin, int32_t end, uint8_t *arena)
{
    reef_conv_step_args a = *(const reef_conv_step_args *)step->args;
    const int32_t last = (end - 1) * a.params.stride.h - a.params.padding.h +
                         (a.filter_dims.h - 1) * a.params.dilation.h;
    const int32_t in_h = a.input_dims.h;
    if (cut_rows(&a.input_dims, &a.output_dims, &a.io.input_at, &a.io.output_at, &a.params.padding.h,
                 a.params.stride.h, begin, end))
        return REEF_ARG_ERROR;
    if (last < in_h - 1) a.input_dims.h -= in_h - 1 - last;
    return step->run(&a, arena);
}

static reef_status dw_rows(const reef_step *step, int32_t begin, int32_t end, uint8_t *arena)
{
    reef_dw_conv_step_args a = *(const reef_dw_conv_step_args *)step->args;
    if (cut_rows(&a.input_dims, &a.output_dims, &a.io.input_at, &a.io.output_at, &a.params.padding.h,
                 a.params.stride.h, begin, end))
        return REEF_ARG_ERROR;
    return step->run(&a, arena);
}

static reef_status pool_rows(const reef_step *step, int32_t begin, int32_t end, uint8_t *arena)
{
    reef_pool_step_args a = *(const reef_pool_step_args *)step->args;
    if (cut_rows(&a.input_dims, &a.output_dims, &a.io.input_at, &a.io.output_at, &a.params.padding.h,
                 a.params.stride.h, begin, end))
        return REEF_ARG_ERROR;
    return step->run(&a, arena);
}

/* Output channels [begin, end): filter rows, biases and per-channel
 * multipliers from begin on. */
static reef_status fc_channels(const reef_step *step, int32_t begin, int32_t end, uint8_t *arena)
{
    reef_fc_step_args a = *(const reef_fc_step_args *)step->args;
    if (a.output_dims.n != 1 || begin < 0 || end > a.output_dims.c || begin >= end) return REEF_ARG_ERROR;
    /* the paired layout (fc.h) keeps groups of 4 rows whole: the planner's
     * tile edges are multiples of 4 */
    if (a.params.paired && (begin & 3)) return REEF_ARG_ERROR;
    a.filter += begin * a.filter_dims.c;
    if (a.bias) a.bias += begin;
    if (a.channel_quant.multiplier) {
        a.channel_quant.multiplier += begin;
        a.channel_quant.shift += begin;
    }
    a.filter_dims.n = end - begin;
    a.output_dims.c = end - begin;
    a.io.output_at += (uint32_t)begin;
    return step->run(&a, arena);
}

static reef_status add_elements(const reef_step *step, int32_t begin, int32_t end, uint8_t *arena)
{
    reef_add_step_args a = *(const reef_add_step_args *)step->args;
    if (begin < 0 || end > a.count || begin >= end) return REEF_ARG_ERROR;
    a.io.input_at += (uint32_t)begin;
    a.io.input2_at += (uint32_t)begin;
    a.io.output_at += (uint32_t)begin;
    a.count = end - begin;
    return step->run(&a, arena);
}

reef_status reef_run_tile(const reef_step *step, int tile_kind, int32_t begin, int32_t end, uint8_t *arena)
{
    if (!step || !arena) return REEF_ARG_ERROR;
    switch (tile_kind) {
    case REEF_TILE_CONV_ROWS: return conv_rows(step, begin, end, arena);
    case REEF_TILE_DW_ROWS: return dw_rows(step, begin, end, arena);
    case REEF_TILE_POOL_ROWS: return pool_rows(step, begin, end, arena);
    case REEF_TILE_FC_CHANNELS: return fc_channels(step, begin, end, arena);
    case REEF_TILE_ADD_ELEMENTS: return add_elements(step, begin, end, arena);
    default: return REEF_ARG_ERROR;
    }
}
