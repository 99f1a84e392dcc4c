/* A firmware "model" for the qemu-m4 harness that checks the fast kernels
 * (which use the DSP instructions on the Cortex-M4) against the portable
 * scalar references on random shapes, on the target itself. Output: the
 * number of mismatching bytes (int32, little-endian); 0 means all equal.
 * Build and run: see the end of tests/runtime/CMakeLists.txt. */
#include <stdint.h>

#include "reef/background.h"
#include "reef/pool.h"
#include "reef/reef.h"
#include "reef/requant.h"

#include "../../runtime/src/rq.h"

#define REEF_MODEL_INPUT_SIZE 4
#define REEF_MODEL_OUTPUT_SIZE 4
#define REEF_MODEL_INVOKE(in, out) arm_selftest_run((in), (out))

static uint32_t st_rng = 12345u;
static uint32_t st_rnd(void) { st_rng = st_rng * 1664525u + 1013904223u; return st_rng >> 8; }
static int st_in(int lo, int hi) { return lo + (int)(st_rnd() % (uint32_t)(hi - lo + 1)); }

static int8_t st_input[26 * 26 * 24]; /* st_dw3_map's 24-wide maps; others 2 * 12 * 12 * 24 */
static int8_t st_filter[24 * 5 * 5 * 24 * 2] __attribute__((aligned(8)));
static int32_t st_bias[72], st_mult[72];
static int8_t st_shift[72];
static int8_t st_out_fast[2 * 12 * 12 * 72], st_out_ref[2 * 12 * 12 * 72];
static uint32_t st_scratch[4096];

static int32_t st_diff(int n)
{
    int32_t bad = 0;
    for (int k = 0; k < n; k++) bad += st_out_fast[k] != st_out_ref[k];
    return bad;
}

static void st_fill(int n_in, int n_f, int n_c, int k)
{
    for (int i = 0; i < n_in; i++) st_input[i] = (int8_t)st_in(-128, 127);
    for (int i = 0; i < n_f; i++) st_filter[i] = (int8_t)st_in(-127, 127);
    for (int i = 0; i < n_c; i++) {
        st_bias[i] = st_in(-20000, 20000);
        st_mult[i] = (int32_t)(0x40000000u | (st_rnd() << 6 >> 2));
        st_shift[i] = (int8_t)(-(7 + (k > 16 ? 2 : 0) + (k > 256 ? 2 : 0)) + st_in(-1, 1));
    }
}

/* One channel of n_c moved off the folded requantization: a shift of -1,
 * one of -24..-31 or a zero multiplier (with any shift). */
static void st_other_requant(int n_c)
{
    const int o = st_in(0, n_c - 1), kind = st_in(0, 2);
    if (kind == 2) st_mult[o] = 0, st_shift[o] = (int8_t)st_in(-31, 3);
    else st_shift[o] = (int8_t)(kind ? -1 : -st_in(24, 31));
}

static int32_t st_conv(void)
{
    reef_dims in = {st_in(1, 2), st_in(1, 12), st_in(1, 12), st_in(1, 24)};
    reef_dims f = {st_in(1, 24), st_in(1, 5), st_in(1, 5), in.c};
    if (st_in(0, 2) == 0) {
        /* K a multiple of 8 with more than one channel: conv.c's assembly
         * channel loop (when the range is plain) */
        in.c = 8 * st_in(1, 4);
        f = (reef_dims){st_in(2, 24), st_in(1, 2), 1, in.c};
    }
    reef_conv_params p = {st_in(-127, 128), st_in(-128, 127), {st_in(1, 2), st_in(1, 2)},
                          {st_in(0, f.h - 1), st_in(0, f.w - 1)}, {1, 1}, {-128, 127}, 0};
    if (st_in(0, 2) == 0) p.activation.min = p.output_offset, p.activation.max = st_in(p.output_offset, 127);
    reef_dims out = {in.n, (in.h + 2 * p.padding.h - f.h) / p.stride.h + 1,
                     (in.w + 2 * p.padding.w - f.w) / p.stride.w + 1, f.n};
    reef_per_channel_quant q = {st_mult, st_shift};
    reef_context ctx = {st_scratch, sizeof st_scratch};
    if (out.h < 1 || out.w < 1) return 0;
    st_fill(in.n * in.h * in.w * in.c, f.n * f.h * f.w * f.c, f.n, f.h * f.w * f.c);
    if (reef_conv_s8_get_buffer_size(&p, &in, &f, &out) > (int32_t)sizeof st_scratch) return 0;
    if (reef_conv_s8(&ctx, &p, &q, &in, st_input, &f, st_filter, st_bias, &out, st_out_fast) ||
        reef_conv_s8_ref(0, &p, &q, &in, st_input, &f, st_filter, st_bias, &out, st_out_ref))
        return 1000000;
    return st_diff(out.n * out.h * out.w * out.c);
}

static int32_t st_dw(void)
{
    reef_dims in = {st_in(1, 2), st_in(1, 12), st_in(1, 12), st_in(1, 24)};
    reef_dims f = {1, st_in(1, 5), st_in(1, 5), in.c};
    reef_dw_conv_params p = {st_in(-127, 128), st_in(-128, 127), 1, {st_in(1, 2), st_in(1, 2)},
                             {st_in(0, f.h - 1), st_in(0, f.w - 1)}, {1, 1}, {-128, 127}};
    reef_dims out = {in.n, (in.h + 2 * p.padding.h - f.h) / p.stride.h + 1,
                     (in.w + 2 * p.padding.w - f.w) / p.stride.w + 1, in.c};
    reef_per_channel_quant q = {st_mult, st_shift};
    if (out.h < 1 || out.w < 1) return 0;
    st_fill(in.n * in.h * in.w * in.c, f.h * f.w * f.c, f.c, f.h * f.w);
    if (reef_dw_conv_s8(0, &p, &q, &in, st_input, &f, st_filter, st_bias, &out, st_out_fast) ||
        reef_dw_conv_s8_ref(0, &p, &q, &in, st_input, &f, st_filter, st_bias, &out, st_out_ref))
        return 1000000;
    return st_diff(out.n * out.h * out.w * out.c);
}

/* 3x3 depthwise with scratch (the sliding-window path; small maps at
 * stride 1 over whole planes), random activation ranges and channel counts
 * that are not multiples of 4. */
static int32_t st_dw3(void)
{
    reef_dims in = {st_in(1, 2), st_in(1, 12), st_in(1, 12), st_in(1, 24)};
    reef_dims f = {1, 3, 3, in.c};
    int s = st_in(1, 2);
    reef_dw_conv_params p = {st_in(-127, 128), st_in(-128, 127), 1, {s, s},
                             {st_in(0, 2), st_in(0, 2)}, {1, 1}, {-128, 127}};
    if (st_in(0, 2) == 0) p.activation.min = p.output_offset, p.activation.max = st_in(p.output_offset, 127);
    reef_dims out = {in.n, (in.h + 2 * p.padding.h - 3) / s + 1, (in.w + 2 * p.padding.w - 3) / s + 1, in.c};
    reef_per_channel_quant q = {st_mult, st_shift};
    reef_context ctx = {st_scratch, sizeof st_scratch};
    if (out.h < 1 || out.w < 1) return 0;
    st_fill(in.n * in.h * in.w * in.c, 9 * f.c, f.c, 9);
    /* one case in three: shifts from -20 to -31, so the requantization
     * runs both with the output offset folded into its constant (post <=
     * 22) and without (dw3x3.c, dw3_out_plain) */
    if (st_in(0, 2) == 0)
        for (int i = 0; i < f.c; i++) st_shift[i] = -st_in(20, 31);
    /* and one in four puts some channels at a shift of -1 (post 0: the
     * unfolded loop beside the folded one in a layer) */
    if (st_in(0, 3) == 0)
        for (int i = 0; i < f.c; i += 3) st_shift[i] = -1;
    if (reef_dw_conv_s8_get_buffer_size(&p, &in, &f, &out) > (int32_t)sizeof st_scratch) return 0;
    if (reef_dw_conv_s8(&ctx, &p, &q, &in, st_input, &f, st_filter, st_bias, &out, st_out_fast) ||
        reef_dw_conv_s8_ref(0, &p, &q, &in, st_input, &f, st_filter, st_bias, &out, st_out_ref))
        return 1000000;
    return st_diff(out.n * out.h * out.w * out.c);
}

/* The map loop (dw3x3.c, REEF_DW_PATH_3X3_MAP: its assembly on the M4):
 * a map 24 (in bands), 12, 6 or 3 wide at stride 1, 6 or 3 wide at stride 2, every call
 * asserted to reach it; one case in three
 * with every channel's shift at -2 or -23 (the folded form's bounds). */
static int32_t st_dw3_map(void)
{
    const int s = st_in(1, 2), w = s == 1 && st_in(0, 1) == 0 ? 12 << st_in(0, 1) : st_in(0, 1) ? 6 : 3;
    const int pad_h = w >= 12 || st_in(0, 1), pad_w = w >= 12 || st_in(0, 1);
    /* st_input: two 12x12 images or one up to 24x24 (pads of 1 from 12 wide) */
    reef_dims out = {s == 2 || w == 24 ? 1 : st_in(1, 2), st_in(1, w), w, st_in(1, 24)};
    reef_dims in = {out.n, out.h + 2 - 2 * pad_h, out.w + 2 - 2 * pad_w, out.c}, f = {1, 3, 3, out.c};
    if (s == 2) in.h = 2 * out.h + 1 - pad_h - st_in(0, 1), in.w = 2 * out.w + 1 - pad_w - st_in(0, 1);
    reef_dw_conv_params p = {st_in(-127, 128), st_in(-128, 127), 1, {s, s}, {pad_h, pad_w}, {1, 1}, {-128, 127}};
    reef_per_channel_quant q = {st_mult, st_shift};
    reef_context ctx = {st_scratch, sizeof st_scratch};
    st_fill(in.n * in.h * in.w * in.c, 9 * f.c, f.c, 9);
    if (st_in(0, 2) == 0)
        for (int i = 0; i < f.c; i++) st_shift[i] = (int8_t)(st_in(0, 1) ? -2 : -23);
    if (reef_dw_conv_s8_path(&p, &q, &in, &f, &out, sizeof st_scratch) != REEF_DW_PATH_3X3_MAP) return 1000000;
    if (reef_dw_conv_s8(&ctx, &p, &q, &in, st_input, &f, st_filter, st_bias, &out, st_out_fast) ||
        reef_dw_conv_s8_ref(0, &p, &q, &in, st_input, &f, st_filter, st_bias, &out, st_out_ref))
        return 1000000;
    return st_diff(out.n * out.h * out.w * out.c);
}

/* The map loop's wide lines, in bands (dw3x3.c, dw3_wide): 48 wide at
 * stride 1, outputs 24 or 12 wide at stride 2; one image, channels so
 * that the input fits st_input (50x50x6, 49x49x6, 25x25x24). */
static int32_t st_dw3_map_wide(void)
{
    const int kind = st_in(0, 2), s = kind == 0 ? 1 : 2, w = kind == 0 ? 48 : kind == 1 ? 24 : 12;
    const int pad_h = st_in(0, 1), pad_w = st_in(0, 1);
    reef_dims out = {1, st_in(1, w), w, st_in(1, kind == 2 ? 24 : 6)};
    reef_dims in = {1, out.h + 2 - 2 * pad_h, out.w + 2 - 2 * pad_w, out.c}, f = {1, 3, 3, out.c};
    if (s == 2) in.h = 2 * out.h + 1 - pad_h - st_in(0, 1), in.w = 2 * out.w + 1 - pad_w - st_in(0, 1);
    reef_dw_conv_params p = {st_in(-127, 128), st_in(-128, 127), 1, {s, s}, {pad_h, pad_w}, {1, 1}, {-128, 127}};
    reef_per_channel_quant q = {st_mult, st_shift};
    reef_context ctx = {st_scratch, sizeof st_scratch};
    st_fill(in.n * in.h * in.w * in.c, 9 * f.c, f.c, 9);
    if (st_in(0, 2) == 0)
        for (int i = 0; i < f.c; i++) st_shift[i] = (int8_t)(st_in(0, 1) ? -2 : -23);
    if (reef_dw_conv_s8_path(&p, &q, &in, &f, &out, sizeof st_scratch) != REEF_DW_PATH_3X3_MAP) return 1000000;
    if (reef_dw_conv_s8(&ctx, &p, &q, &in, st_input, &f, st_filter, st_bias, &out, st_out_fast) ||
        reef_dw_conv_s8_ref(0, &p, &q, &in, st_input, &f, st_filter, st_bias, &out, st_out_ref))
        return 1000000;
    return st_diff(out.n * out.h * out.w * out.c);
}

/* In place (dw_in_place.c): the input copied to the output buffer is
 * overwritten by the output; one batch, any kernel, stride, dilation. */
static int32_t st_dw_in_place(void)
{
    reef_dims in = {1, st_in(1, 12), st_in(1, 12), st_in(1, 24)};
    reef_dims f = {1, st_in(1, 7), st_in(1, 7), in.c};
    reef_dw_conv_params p = {st_in(-127, 128), st_in(-128, 127), 1, {st_in(1, 3), st_in(1, 3)},
                             {st_in(0, 3), st_in(0, 3)}, {st_in(1, 2), st_in(1, 2)}, {-128, 127}};
    if (st_in(0, 2) == 0) p.activation.min = p.output_offset, p.activation.max = st_in(p.output_offset, 127);
    if (st_in(0, 1)) f.h = f.w = 3 + 2 * st_in(0, 2), p.dilation.w = 1; /* the unrolled square windows */
    reef_dims out = {1, (in.h + 2 * p.padding.h - (f.h - 1) * p.dilation.h - 1) / p.stride.h + 1,
                     (in.w + 2 * p.padding.w - (f.w - 1) * p.dilation.w - 1) / p.stride.w + 1, in.c};
    reef_per_channel_quant q = {st_mult, st_shift};
    reef_context ctx = {st_scratch, sizeof st_scratch};
    if (in.h + 2 * p.padding.h < (f.h - 1) * p.dilation.h + 1 || in.w + 2 * p.padding.w < (f.w - 1) * p.dilation.w + 1)
        return 0;
    if (!reef_dw_conv_s8_can_run_in_place(&p, &in, &f, &out) ||
        reef_dw_conv_s8_in_place_buffer_size(&p, &f, &out) > (int32_t)sizeof st_scratch)
        return 0;
    st_fill(in.h * in.w * in.c, f.h * f.w * f.c, in.c, f.h * f.w);
    for (int i = 0; i < in.h * in.w * in.c; i++) st_out_fast[i] = st_input[i];
    if (reef_dw_conv_s8_in_place(&ctx, &p, &q, &in, st_out_fast, &f, st_filter, st_bias, &out) ||
        reef_dw_conv_s8_ref(0, &p, &q, &in, st_input, &f, st_filter, st_bias, &out, st_out_ref))
        return 1000000;
    return st_diff(out.h * out.w * out.c);
}

static int32_t st_fc(void)
{
    reef_dims in = {st_in(1, 3), 1, 1, st_in(1, 200)};
    reef_dims f = {st_in(1, 40), 1, 1, in.c};
    reef_dims out = {in.n, 1, 1, f.n};
    reef_fc_params p = {st_in(-127, 128), 0, st_in(-128, 127), {-128, 127}, 0};
    reef_per_channel_quant q = {st_mult, st_shift};
    st_fill(in.n * in.c, f.n * in.c, f.n, in.c);
    if (reef_fc_per_channel_s8(0, &p, &q, &in, st_input, &f, st_filter, st_bias, &out, st_out_fast) ||
        reef_fc_s8_ref(0, &p, &q, 1, &in, st_input, &f, st_filter, st_bias, &out, st_out_ref))
        return 1000000;
    int32_t bad = st_diff(out.n * out.c);
    /* with scratch: the widened-input path */
    reef_context ctx = {st_scratch, sizeof st_scratch};
    if (reef_fc_per_channel_s8(&ctx, &p, &q, &in, st_input, &f, st_filter, st_bias, &out, st_out_fast))
        return 1000000;
    bad += st_diff(out.n * out.c);
    /* one multiplier for the layer (the per-tensor loop), plain or clamped */
    reef_per_tensor_quant t = {st_mult[0], st_shift[0]};
    if (st_in(0, 1)) p.activation.min = p.output_offset, p.activation.max = st_in(p.output_offset, 127);
    if (reef_fc_s8(&ctx, &p, &t, &in, st_input, &f, st_filter, st_bias, &out, st_out_fast) ||
        reef_fc_s8_ref(0, &p, &q, 0, &in, st_input, &f, st_filter, st_bias, &out, st_out_ref))
        return 1000000;
    return bad + st_diff(out.n * out.c);
}

/* The channel-pair layout (reef_conv_s8_pair; conv_channels_paired_asm,
 * and four positions at a time in conv_dot_quad_paired) on the plain 2x2
 * loop against the reference on the unpaired filter: 1x1 read in place or
 * 3x3 gathered with padding, stride 1 or 2, any K (rows run K8); every
 * sixth case at the bound (weights +-127, K = 256, |x + offset| = 255). */
static int st_conv_paired_calls;
static int32_t st_conv_paired(void)
{
    const int edge = st_in(0, 5) == 0, k3 = !edge && st_in(0, 2) == 0;
    /* sizes within st_input (6,912 B) and half of st_filter */
    const int side = edge ? 3 : k3 ? 8 : 4;
    /* one case in three any channel count (rows padded to K8 with zeros) */
    const int any_c = !edge && st_in(0, 2) == 0;
    const int c_in = any_c ? st_in(k3 ? 2 : 17, k3 ? 24 : 96) : 8 * st_in(k3 ? 1 : 2, k3 ? 3 : 12);
    reef_dims in = {edge ? 1 : st_in(1, 2), st_in(2, side), st_in(2, side), edge ? 256 : c_in};
    reef_dims f = {2 * st_in(1, edge ? 2 : 12), k3 ? 3 : 1, k3 ? 3 : 1, in.c};
    const int pad = k3 ? st_in(0, 1) : 0, stride = st_in(1, 2);
    reef_conv_params p = {st_in(-127, 128), st_in(-128, 127), {stride, stride}, {pad, pad}, {1, 1}, {-128, 127}, 0};
    reef_dims out = {in.n, (in.h + 2 * pad - f.h) / stride + 1, (in.w + 2 * pad - f.w) / stride + 1, f.n};
    reef_per_channel_quant q = {st_mult, st_shift};
    reef_context ctx = {st_scratch, sizeof st_scratch};
    const int32_t k = f.h * f.w * in.c;
    int8_t *paired = st_filter + sizeof st_filter / 2;
    if (in.h + 2 * pad < f.h || in.w + 2 * pad < f.w) return 0;
    st_fill(in.n * in.h * in.w * in.c, f.n * k, f.n, k);
    /* shifts -2..-23 everywhere take the folded requantization of the
     * four-position loop (conv_channels_quad_folded_asm); one call in
     * three changes one channel: a shift of -1 (conv_channels_quad_paired_asm),
     * -24..-31 (conv_channels_quad_split_asm) or a zero multiplier (folded) */
    if (st_conv_paired_calls++ % 3 == 2) st_other_requant(f.n);
    if (edge) {
        for (int i = 0; i < f.n * k; i++) st_filter[i] = (int8_t)(st_rnd() % 2 ? 127 : -127);
        for (int i = 0; i < in.n * in.h * in.w * in.c; i++) st_input[i] = (int8_t)(st_rnd() % 4 ? -128 : 127);
        p.input_offset = -127;
    }
    /* 3x3 over 3 or 2 channels at stride 2 across takes a first-conv loop
     * (st_conv_c3), never the paired layout */
    if (reef_conv_s8_path(&p, &in, &f, &out) == REEF_CONV_PATH_C3 ||
        reef_conv_s8_path(&p, &in, &f, &out) == REEF_CONV_PATH_C2)
        return 0;
    if (!reef_conv_s8_pairable(&p, &q, &in, &f, &out, st_filter)) return 1000000;
    reef_conv_s8_pair(&f, st_filter, paired);
    reef_conv_params pp = p;
    pp.paired = 1;
    if (reef_conv_s8(&ctx, &pp, &q, &in, st_input, &f, paired, st_bias, &out, st_out_fast) ||
        reef_conv_s8_ref(0, &p, &q, &in, st_input, &f, st_filter, st_bias, &out, st_out_ref))
        return 1000000;
    return st_diff(out.n * out.h * out.w * out.c);
}

/* The resident variant of the paired loop (conv.c, conv_pairs_resident):
 * 16-64 positions (tails of 1-3), 1x1 with K = 64 over 64-72 channels (a
 * last run of fewer than eight pairs); each case asserted to take it; one
 * in three with one channel on another requantization form. (Gathered 3x3
 * columns: the host test, test_conv_resident; the assembly is the
 * four-position loop's.) */
static int32_t st_conv_resident(void)
{
    const int k3 = 0, pad = 0;
    /* K = 64 and 64-72 channels: the columns (128 bytes a position) within the input and output bytes */
    reef_dims in = {1, st_in(4, 8), st_in(4, 8), 64};
    reef_dims f = {2 * st_in(32, 36), 1, 1, in.c};
    reef_conv_params p = {st_in(-127, 128), st_in(-128, 127), {1, 1}, {pad, pad}, {1, 1}, {-128, 127}, 0};
    reef_dims out = {1, in.h, in.w, f.n};
    reef_per_channel_quant q = {st_mult, st_shift};
    reef_context ctx = {st_scratch, sizeof st_scratch};
    const int32_t k = f.h * f.w * in.c;
    int8_t *paired = st_filter + sizeof st_filter / 2;
    st_fill(in.n * in.h * in.w * in.c, f.n * k, f.n, k);
    if (st_in(0, 2) == 0) st_other_requant(f.n);
    if (!reef_conv_s8_pairable(&p, &q, &in, &f, &out, st_filter)) return 1000000;
    reef_conv_s8_pair(&f, st_filter, paired);
    reef_conv_params pp = p;
    pp.paired = 1;
    if (!reef_conv_s8_resident(&pp, &in, &f, &out) ||
        reef_conv_s8_get_buffer_size(&pp, &in, &f, &out) > (int32_t)sizeof st_scratch)
        return 1000000;
    if (reef_conv_s8(&ctx, &pp, &q, &in, st_input, &f, paired, st_bias, &out, st_out_fast) ||
        reef_conv_s8_ref(0, &p, &q, &in, st_input, &f, st_filter, st_bias, &out, st_out_ref))
        return 1000000;
    return st_diff(out.n * out.h * out.w * out.c);
}

/* The filter read from scratch (REEF_CONV_PATH_WEIGHTS: the paired plain
 * loop, the filter copied once after its buffers): 16-64 positions (tails
 * of 1-3), 1x1 with K = 32 (VWW's 24x24 layer) over 16-32 channels; each
 * case asserted to take it (the copy found in the scratch); one in three
 * with one channel on another requantization form; one in four with the
 * filter off a word boundary (the byte copy). (Gathered 3x3 and other
 * K: the host test, test_conv_weights; the assembly is the four-position
 * loop's.) */
static int32_t st_conv_weights(void)
{
    reef_dims in = {1, st_in(4, 8), st_in(4, 8), 32};
    reef_dims f = {2 * st_in(8, 16), 1, 1, in.c};
    reef_conv_params p = {st_in(-127, 128), st_in(-128, 127), {1, 1}, {0, 0}, {1, 1}, {-128, 127}, 0};
    reef_dims out = {1, in.h, in.w, f.n};
    reef_per_channel_quant q = {st_mult, st_shift};
    const int32_t k = f.h * f.w * in.c;
    /* one in four filters off a word boundary: the copy's byte loop, not LDM/STM */
    int8_t *paired = st_filter + sizeof st_filter / 2 + (st_in(0, 3) == 0);
    st_fill(in.n * in.h * in.w * in.c, f.n * k, f.n, k);
    if (st_in(0, 2) == 0) st_other_requant(f.n);
    if (!reef_conv_s8_pairable(&p, &q, &in, &f, &out, st_filter)) return 1000000;
    reef_conv_s8_pair(&f, st_filter, paired);
    reef_conv_params pp = p;
    pp.paired = 1;
    const int32_t size = reef_conv_s8_weights_buffer_size(&pp, &in, &f, &out), copy_at = size - f.n * k;
    if (size <= 0 || size > (int32_t)sizeof st_scratch) return 1000000;
    for (int32_t i = copy_at; i < size; i++) ((int8_t *)st_scratch)[i] = (int8_t)~paired[i - copy_at];
    reef_context ctx = {st_scratch, size};
    if (reef_conv_s8(&ctx, &pp, &q, &in, st_input, &f, paired, st_bias, &out, st_out_fast) ||
        reef_conv_s8_ref(0, &p, &q, &in, st_input, &f, st_filter, st_bias, &out, st_out_ref))
        return 1000000;
    for (int32_t i = copy_at; i < size; i++)
        if (((int8_t *)st_scratch)[i] != paired[i - copy_at]) return 1000000; /* it did not take the copy */
    return st_diff(out.n * out.h * out.w * out.c);
}

/* The row-pair layout (reef_fc_s8_pair; its assembly loop) against the
 * reference on the unpaired filter; every sixth case at the bound
 * (weights +-127, K = 512, inputs -128 or 127). */
static int32_t st_fc_paired(void)
{
    static int32_t folded[40];
    const int edge = st_in(0, 5) == 0;
    reef_dims in = {st_in(1, 3), 1, 1, edge ? 512 : 4 * st_in(1, 64)};
    reef_dims f = {edge ? 8 : 4 * st_in(1, 10), 1, 1, in.c};
    reef_dims out = {in.n, 1, 1, f.n};
    reef_fc_params p = {st_in(-127, 128), 0, st_in(-128, 127), {-128, 127}, 0};
    reef_per_channel_quant q = {st_mult, st_shift};
    reef_context ctx = {st_scratch, sizeof st_scratch};
    int8_t *paired = st_filter + sizeof st_filter / 2;
    st_fill(in.n * in.c, f.n * in.c, f.n, in.c);
    if (edge) {
        for (int i = 0; i < f.n * in.c; i++) st_filter[i] = (int8_t)(st_rnd() % 2 ? 127 : -127);
        for (int i = 0; i < in.n * in.c; i++) st_input[i] = (int8_t)(st_rnd() % 4 ? -128 : 127);
    }
    if (st_in(0, 1)) p.activation.min = p.output_offset, p.activation.max = st_in(p.output_offset, 127);
    if (!reef_fc_s8_pairable(&p, &f, st_filter)) return 1000000;
    reef_fc_s8_pair(&p, &f, st_filter, st_bias, paired, folded);
    reef_fc_params pp = p;
    pp.paired = 1;
    if (reef_fc_per_channel_s8(&ctx, &pp, &q, &in, st_input, &f, paired, folded, &out, st_out_fast) ||
        reef_fc_s8_ref(0, &p, &q, 1, &in, st_input, &f, st_filter, st_bias, &out, st_out_ref))
        return 1000000;
    int32_t bad = st_diff(out.n * out.c);
    /* one multiplier for the layer: the per-tensor loop */
    reef_per_tensor_quant t = {st_mult[0], st_shift[0]};
    if (reef_fc_s8(&ctx, &pp, &t, &in, st_input, &f, paired, folded, &out, st_out_fast) ||
        reef_fc_s8_ref(0, &p, &q, 0, &in, st_input, &f, st_filter, st_bias, &out, st_out_ref))
        return 1000000;
    return bad + st_diff(out.n * out.c);
}

/* Short-K 1x1 convolutions read in place (conv.c's conv_small_channel):
 * K = 4, 8, 12 or 16, stride 1, no padding; K = 8 with the range [-128,
 * 127] runs pairs of positions in conv_small8_asm when a channel's shift
 * is -2..-23 (post 1..22), the rest (and an odd last position) in C.
 * Case i: i % 4 == 3 draws shifts of -1 and -24..-31 for some channels
 * (the C loop beside the assembly in one layer); i % 8 == 5 clamps the
 * range (C loop); i % 6 == 4 takes K = 4, 12 or 16; otherwise K = 8,
 * shifts -6..-10: of 60 calls, 28 are K = 8 with every channel on the
 * assembly and 15 K = 8 with the C loop beside it. Inputs and filters at the extremes in every fourth call. */
static int st_conv_small_calls;
static int32_t st_conv_small(void)
{
    const int i = st_conv_small_calls++;
    const int32_t c_in = i % 6 == 4 ? 4 * st_in(1, 4) : 8;
    reef_dims in = {st_in(1, 2), st_in(1, 12), st_in(1, 12), c_in};
    reef_dims f = {st_in(1, 24), 1, 1, c_in};
    reef_conv_params p = {st_in(-127, 128), st_in(-128, 127), {1, 1}, {0, 0}, {1, 1}, {-128, 127}, 0};
    if (i % 8 == 5) p.activation.min = p.output_offset, p.activation.max = st_in(p.output_offset, 127);
    reef_dims out = {in.n, in.h, in.w, f.n};
    reef_per_channel_quant q = {st_mult, st_shift};
    reef_context ctx = {st_scratch, sizeof st_scratch};
    st_fill(in.n * in.h * in.w * in.c, f.n * c_in, f.n, c_in);
    for (int o = 0; o < f.n; o++) {
        st_shift[o] = (int8_t)-st_in(6, 10);
        if (i % 4 == 3 && st_in(0, 2) == 0) st_shift[o] = (int8_t)(st_in(0, 1) ? -1 : -st_in(24, 31));
    }
    if (i % 4 == 1) {
        for (int k = 0; k < f.n * c_in; k++) st_filter[k] = (int8_t)(st_rnd() % 2 ? 127 : -127);
        for (int k = 0; k < in.n * in.h * in.w * c_in; k++) st_input[k] = (int8_t)(st_rnd() % 4 ? -128 : 127);
    }
    if (reef_conv_s8_get_buffer_size(&p, &in, &f, &out) > (int32_t)sizeof st_scratch) return 1000000;
    if (reef_conv_s8(&ctx, &p, &q, &in, st_input, &f, st_filter, st_bias, &out, st_out_fast) ||
        reef_conv_s8_ref(0, &p, &q, &in, st_input, &f, st_filter, st_bias, &out, st_out_ref))
        return 1000000;
    return st_diff(out.n * out.h * out.w * out.c);
}

/* The first-conv loops (conv.c, conv_c3 and conv_c2): 3x3 over 3 or 2
 * channels (one call in two each), stride 2 across, 1 or 2 down, padding 0-2 (odd left padding: the value-by-value
 * widening), outputs past the right and bottom edges in one call in three,
 * 4-16 channels, every call asserted to reach it. */
static int st_conv_c3_calls;
static int32_t st_conv_c3(void)
{
    const int c = 2 + (st_conv_c3_calls++ & 1);
    reef_dims in = {st_in(1, 2), st_in(1, 21), st_in(1, 25), c}, f = {4 * st_in(1, 4), 3, 3, c};
    const int sh = st_in(1, 2), ph = st_in(0, 2), pw = st_in(0, 2);
    reef_conv_params p = {st_in(-127, 128), st_in(-128, 127), {sh, 2}, {ph, pw}, {1, 1}, {-128, 127}, 0};
    reef_dims out = {in.n, (in.h + 2 * ph - 3) / sh + 1, (in.w + 2 * pw - 3) / 2 + 1, f.n};
    reef_per_channel_quant q = {st_mult, st_shift};
    reef_context ctx = {st_scratch, sizeof st_scratch};
    if (in.h + 2 * ph < 3) in.h = 3;
    if (in.w + 2 * pw < 3) in.w = 3;
    out.h = (in.h + 2 * ph - 3) / sh + 1 + (st_in(0, 2) == 0), out.w = (in.w + 2 * pw - 3) / 2 + 1 + (st_in(0, 2) == 0);
    st_fill(in.n * in.h * in.w * in.c, f.n * 9 * c, f.n, 9 * c);
    if (reef_conv_s8_path(&p, &in, &f, &out) != (c == 3 ? REEF_CONV_PATH_C3 : REEF_CONV_PATH_C2) ||
        reef_conv_s8_get_buffer_size(&p, &in, &f, &out) > (int32_t)sizeof st_scratch)
        return 1000000;
    if (reef_conv_s8(&ctx, &p, &q, &in, st_input, &f, st_filter, st_bias, &out, st_out_fast) ||
        reef_conv_s8_ref(0, &p, &q, &in, st_input, &f, st_filter, st_bias, &out, st_out_ref))
        return 1000000;
    return st_diff(out.n * out.h * out.w * out.c);
}

/* The SMLAL requantization (rq.h, assembly on the M4) against TFLite's
 * arithmetic: random accumulators over all of int32, ties included. */
static int32_t st_rq(void)
{
    int32_t bad = 0;
    for (int i = 0; i < 2000; i++) {
        int32_t shift = -st_in(1, 31), mult = (int32_t)(0x40000000u | (st_rnd() << 6 >> 2));
        if (i % 7 == 0) mult = 1 << 30;
        if (i % 50 == 0) mult = 0, shift = st_in(-31, 3);
        int32_t acc = (int32_t)(st_rnd() << 8 ^ st_rnd()), bias = (int32_t)(st_rnd() << 8) >> st_in(0, 31);
        if (i % 3 == 0) acc >>= st_in(0, 31);
        reef_rq q;
        if (!reef_rq_init(&q, bias, mult, shift)) return 1000000;
        bad += reef_rq_apply((int32_t)((uint32_t)acc - (uint32_t)bias), &q) != reef_requantize(acc, mult, shift);
    }
    return bad;
}

/* The temporal step fused with the 2x2 pool (background.c, slow_pair: SLOW
 * two pixels a lane pair, USUB16 / SEL / UQADD16 / UQSUB16 / USAT16)
 * against the unfused scalar chain: reef_temporal_step, the two maps,
 * reef_avgpool_s8. 24 frames of 8x12, random (every sixth all 0 or 255:
 * jumps of up to 255), random maps and clamp; pooled bytes and both
 * buffers compared every frame. */
static int32_t st_temporal_pool2(void)
{
    enum { H = 8, W = 12, N = H * W };
    static uint16_t mean_a[N], mean_b[N], slow_a[N], slow_b[N];
    static uint8_t frame[N], bytes[2 * N];
    static int8_t map[2][256];
    const int32_t lo = st_in(-128, -60), hi = st_in(40, 127);
    const reef_pool_params params = {.stride = {2, 2}, .padding = {0, 0}, .activation = {lo, hi}};
    const reef_dims in = {1, H, W, 2}, pooled = {1, H / 2, W / 2, 2};
    const reef_hw window = {2, 2};
    const reef_context ctx = {0, 0};
    reef_temporal a, b;
    int32_t bad = 0;
    for (int c = 0; c < 2; c++)
        for (int v = 0; v < 256; v++) map[c][v] = (int8_t)(st_rnd() & 0xffu);
    reef_temporal_init(&a, REEF_TEMPORAL_SLOW, mean_a, 0, 0, slow_a, N);
    reef_temporal_init(&b, REEF_TEMPORAL_SLOW, mean_b, 0, 0, slow_b, N);
    for (int f = 0; f < 24; f++) {
        const uint8_t flat = st_rnd() % 2 ? 255 : 0;
        for (int p = 0; p < N; p++) frame[p] = f % 6 == 5 ? flat : (uint8_t)st_rnd(), bytes[N + p] = frame[p];
        reef_temporal_step(&a, bytes + N, bytes);
        for (int i = 0; i < 2 * N; i++) bytes[i] = (uint8_t)map[i & 1][bytes[i]];
        if (reef_avgpool_s8(&ctx, &params, &in, (const int8_t *)bytes, &window, &pooled, st_out_ref)) return 1000000;
        reef_temporal_step_pool2(&b, frame, W, (const int8_t(*)[256])map, lo, hi, st_out_fast);
        bad += st_diff(N / 2);
        for (int p = 0; p < N; p++) bad += (mean_a[p] != mean_b[p]) + (slow_a[p] != slow_b[p]);
    }
    return bad;
}

static int arm_selftest_run(const int8_t *in, int8_t *out)
{
    int32_t bad = 0;
    (void)in;
#if defined(ARM_SELFTEST_SMALL8_ONLY)
    for (int k = 0; k < 120; k++) bad += st_conv_small(); /* arm_selftest_small8.h */
#else
    /* session 14's wide depthwise lines, resident weights and weights
     * read from scratch: 20 layers each (their layers are larger; the test stays within its time) */
    for (int k = 0; k < 20; k++) bad += st_dw3_map_wide() + st_conv_resident() + st_conv_weights();
    for (int k = 0; k < 4; k++) bad += st_temporal_pool2(); /* session 15: 96 frames */
    for (int k = 0; k < 60; k++) bad += st_conv() + st_dw() + st_dw3() + st_dw3_map() + st_dw_in_place() + st_fc() + st_fc_paired() +
                                     st_conv_paired() + st_rq() + st_conv_small() + st_conv_c3();
#endif
    out[0] = (int8_t)(bad & 0xff);
    out[1] = (int8_t)((bad >> 8) & 0xff);
    out[2] = (int8_t)((bad >> 16) & 0xff);
    out[3] = (int8_t)((bad >> 24) & 0xff);
    return 0;
}
