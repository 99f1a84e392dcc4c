/* 3x3 depthwise convolution, stride 1 or 2, one channel at a time along
 * an output row (a sliding window), on input rows widened to int16. When
 * the output is taller than wide the same code slides down columns
 * (dw3_axes): "row" below then reads "column".
 *
 * Channels go four at a time: each input row they need is widened once
 * (input offset added, so padding is plain 0) into a ring of three row
 * slots per channel; rows above and below the input read a row of zeros.
 * Slot row j holds input column j - pad_left. Two outputs of a row take
 * per filter row three word loads and four 16-bit MACs:
 *
 *   stride 1: out[x]   += w0 a0 + w1 a1 (SMLAD) + w2 a2 (SMLABB)
 *             out[x+1] += w0 a1 + w1 a2 (SMLAD) + w2 a3 (SMLABT)
 *   stride 2: out[x]   += w0 a0 + w1 a1 + w2 a2, out[x+1] += w0 a2 + w1 a3 + w2 a4
 *
 * with (a0, a1), (a1, a2), (a2, a3) or (a0, a1), (a2, a3), (a4, a5) one
 * word each, each used as soon as loaded (few live registers). The raw
 * sums of a row go to a small int32 buffer, then a second loop, with the
 * channel's constants in registers, requantizes them into the NHWC output.
 *
 * Scratch: (C) requantization constants, (C, 5) packed filters, (4, 3,
 * ROW) slots, one (ROW) zero row and (W_OUT rounded up to even) sums,
 * ROW = stride * (W_OUT + 1) + 3 rounded up to even.
 *
 * Small maps at stride 1 (the padded plane of four channels within
 * DW3_PLANE_BYTES: VWW's 12x12, 6x6 and 3x3) widen each channel's whole
 * padded plane instead, lines PW = W_OUT + 2 apart, and slide the window
 * once over the plane as one line: flat position i = y * PW + x is output
 * (y, x) for x < W_OUT (the two positions past a line's end are computed
 * and dropped). The per-line work (calls, constants) is then paid once per
 * channel instead of once per output line. Scratch then: the constants
 * and filters, (4, H_OUT + 2, PW) planes plus 4 values of slack, and
 * ((H_OUT - 1) * PW + W_OUT rounded up to even) sums.
 *
 * The map loop (REEF_DW_PATH_3X3_MAP: planes of maps 12, 6 or 3 wide at
 * stride 1, VWW's 12x12, 6x6 and 3x3 layers, and 24 wide in bands of 7
 * output lines (9 plane lines, the two shared lines widened twice); at
 * stride 2 outputs 6 or 3
 * wide, the input's padded planes, 2 L + 2 values a line) reads the same
 * planes but requantizes each pair of outputs as soon as it is summed,
 * straight into the NHWC output: no sums buffer, no per-line calls, and no
 * position past a line's end computed. Its lines are unrolled (pairs at
 * fixed offsets), so it exists for those widths only. Session 14 added
 * the wide lines (dw3_wide), always in bands whose planes fit
 * DW3_BAND_BYTES: 48 wide at stride 1 (bands of 8 output lines, 10 plane
 * lines of 50), outputs 24 wide (bands of 4, 9 plane lines of 50) and 12
 * wide (bands of 9, 19 plane lines of 26) at stride 2, VWW's steps 1, 3
 * and 7. */
#include "dw3x3.h"

#include "dsp.h"
#include "rq.h"

/* Whether a layer may clamp to less than [-128, 127] (a model header whose
 * depthwise calls all take the whole range says 0): when not, only the
 * plain requantization loop is compiled and reef_dw3x3_run refuses a
 * clamped layer (reef_dw_conv_s8 then answers REEF_UNSUPPORTED). */
#ifndef REEF_DW_CLAMPED
#define REEF_DW_CLAMPED 1
#endif

enum { DW3_SLOTS = 3, DW3_GROUP = 4, DW3_PLANE_BYTES = 2048, DW3_SLACK = 4, DW3_BAND24 = 7,
       DW3_BAND_BYTES = 4096 };

/* The window slides along lines: rows, or columns when the output is
 * taller than wide (KWS's 25x5 maps: 5 lines of 25 instead of 25 of 5, so
 * the per-line work is spread over five times more outputs). Steps are in
 * elements of the NHWC tensors; "across" is the other spatial axis. */
typedef struct dw3_axes {
    int32_t in_len, in_lines;     /* input line length, line count */
    int32_t in_step, in_line;     /* between neighbours along / across a line */
    int32_t out_len, out_lines;
    int32_t out_step, out_line;
    int32_t pad_along, pad_across;
    int32_t f_along, f_across;    /* filter taps along / across, in bytes */
} dw3_axes;

typedef struct dw3_job {
    const reef_dw_conv_params *params;
    const reef_dims *in, *out;
    dw3_axes ax;
    const int8_t *filter;  /* (1, 3, 3, C) */
    const reef_rq *rq;     /* (C) */
    const int32_t *taps;   /* (C, 5) packed filters: dw3_pack_taps */
    int16_t *slots;        /* (GROUP, SLOTS, row) */
    const int16_t *zeros;  /* (row) */
    int32_t *sums;         /* (W_OUT rounded up to even) */
    int32_t row;           /* slot length, int16 values */
    int32_t lines;         /* slots per channel: 3, or the plane's lines */
    int32_t stride;
} dw3_job;

static int32_t dw3_row_len(int32_t stride, int32_t w_out)
{
    return (stride * (w_out + 1) + 3 + 1) & ~1;
}

/* Columns when the output is taller than wide, else rows. */
static int dw3_by_columns(const reef_dims *out) { return out->h > out->w; }

static void dw3_axes_of(const reef_dw_conv_params *p, const reef_dims *in, const reef_dims *out,
                        dw3_axes *ax)
{
    const int32_t C = in->c;
    if (dw3_by_columns(out)) {
        *ax = (dw3_axes){in->h, in->w, in->w * C, C, out->h, out->w, out->w * C, C,
                         p->padding.h, p->padding.w, 3 * C, C};
        return;
    }
    *ax = (dw3_axes){in->w, in->h, C, in->w * C, out->w, out->h, C, out->w * C,
                     p->padding.w, p->padding.h, C, 3 * C};
}

static int32_t dw3_out_len(const reef_dims *out) { return dw3_by_columns(out) ? out->h : out->w; }
static int32_t dw3_out_lines(const reef_dims *out) { return dw3_by_columns(out) ? out->w : out->h; }

/* 1 when the map is small enough for the plane mode (above). */
static int dw3_plane(const reef_dw_conv_params *p, const reef_dims *out)
{
    return p->stride.w == 1 &&
           2 * DW3_GROUP * (dw3_out_lines(out) + 2) * (dw3_out_len(out) + 2) <= DW3_PLANE_BYTES;
}

int reef_dw3x3_plane(const reef_dw_conv_params *params, const reef_dims *output_dims)
{
    return dw3_plane(params, output_dims);
}

/* The map loop's wide lines, always in bands (dw3_plane_geom): 48 wide
 * at stride 1 (VWW's 48x48x8), outputs 12 and 24 wide at stride 2 (its
 * 48x48 -> 24x24 and 24x24 -> 12x12 layers). */
static inline int dw3_wide(int32_t stride, int32_t w)
{
    return stride == 1 ? w == 48 : w == 12 || w == 24;
}

/* The planes' line length and line count: at stride 1 the output's plus
 * 2; at stride 2 the 2 L + 1 input columns and lines the outputs read,
 * lines one value longer (a pair's last word reads one past). */
static inline void dw3_plane_geom(int32_t stride, const reef_dims *out, int32_t *pw, int32_t *lines)
{
    *pw = stride == 1 ? dw3_out_len(out) + 2 : 2 * dw3_out_len(out) + 2;
    *lines = stride == 1 ? dw3_out_lines(out) + 2 : 2 * dw3_out_lines(out) + 1;
    /* 24 wide at stride 1: bands of output lines whose planes fit
     * DW3_PLANE_BYTES (7 lines: 9 plane lines of 26) */
    if (stride == 1 && dw3_out_len(out) == 24 && *lines > DW3_BAND24 + 2) *lines = DW3_BAND24 + 2;
    /* the wide maps (dw3_wide): bands of output lines whose planes fit
     * DW3_BAND_BYTES, stride * band + 3 - stride plane lines a band */
    if (dw3_wide(stride, dw3_out_len(out))) {
        const int32_t band = (DW3_BAND_BYTES / (2 * DW3_GROUP * *pw) - (3 - stride)) / stride;
        if (*lines > stride * band + 3 - stride) *lines = stride * band + 3 - stride;
    }
}

/* The map loop's shape and activation (the constants: reef_dw3x3_map):
 * stride 1 on a plane 12, 6 or 3 wide, or stride 2 on an output 6 or 3
 * wide whose input planes fit DW3_PLANE_BYTES. */
static int dw3_map_shape(const reef_dw_conv_params *p, const reef_dims *out)
{
    const int32_t w = dw3_out_len(out);
    int32_t pw, lines;
    if (dw3_by_columns(out) || p->activation.min != -128 || p->activation.max != 127) return 0;
    if (dw3_wide(p->stride.w, w)) return 1;
    if (p->stride.w == 1) return (dw3_plane(p, out) && (w == 3 || w == 6 || w == 12)) || w == 24;
    dw3_plane_geom(2, out, &pw, &lines);
    return (w == 3 || w == 6) && 2 * DW3_GROUP * lines * pw <= DW3_PLANE_BYTES;
}

/* A channel the map loop's folded requantization takes (r in 2..23). */
static int dw3_map_channel_ok(const reef_rq *q) { return q->post >= 1 && q->post <= 22; }

int reef_dw3x3_map(const reef_dw_conv_params *params, const reef_per_channel_quant *quant,
                   const reef_dims *input_dims, const reef_dims *output_dims)
{
    reef_rq q;
    int32_t c;
    if (!dw3_map_shape(params, output_dims)) return 0;
    for (c = 0; c < input_dims->c; c++)
        if (!reef_rq_init(&q, 0, quant->multiplier[c], quant->shift[c]) || !dw3_map_channel_ok(&q)) return 0;
    return 1;
}

int reef_dw3x3_applies(const reef_dw_conv_params *params, const reef_dims *input_dims,
                       const reef_dims *filter_dims, const reef_dims *output_dims)
{
    (void)input_dims;
    (void)output_dims;
    return params->depth_multiplier == 1 && filter_dims->h == 3 && filter_dims->w == 3 &&
           params->dilation.h == 1 && params->dilation.w == 1 &&
           params->stride.h == params->stride.w && (params->stride.h == 1 || params->stride.h == 2) &&
           params->input_offset >= -127 && params->input_offset <= 128;
}

int32_t reef_dw3x3_buffer_size(const reef_dw_conv_params *params, const reef_dims *input_dims,
                               const reef_dims *output_dims)
{
    const int32_t row = dw3_row_len(params->stride.w, dw3_out_len(output_dims));
    const int32_t consts = ((int32_t)sizeof(reef_rq) + 20) * input_dims->c;
    const int32_t rows = consts + 2 * row * (DW3_GROUP * DW3_SLOTS + 1) + 4 * ((dw3_out_len(output_dims) + 1) & ~1);
    int32_t pw, lines;
    if (dw3_plane(params, output_dims)) {
        dw3_plane_geom(1, output_dims, &pw, &lines);
        return consts + 2 * (DW3_GROUP * lines * pw + DW3_SLACK) +
               4 * (((lines - 3) * pw + pw - 2 + 1) & ~1);
    }
    if (DW_HAS(REEF_DW_PATH_3X3_MAP) && dw3_map_shape(params, output_dims)) {
        /* stride 2 or 24 wide: the map loop's planes, or three rows if a
         * channel's constants send the layer there (a build without the
         * map loop has no such layer: REEF_DW_PATHS) */
        dw3_plane_geom(params->stride.w, output_dims, &pw, &lines);
        const int32_t planes = consts + 2 * (DW3_GROUP * lines * pw + DW3_SLACK);
        return planes > rows ? planes : rows;
    }
    return rows;
}

/* Two int16 values as one word store (any 2-byte alignment: the M4
 * stores unaligned words). */
static inline void dw3_st(int16_t *p, uint32_t v) { __builtin_memcpy(p, &v, 4); }

/* (low halfwords of a and b) and (high halfwords of a and b), a's first. */
#if defined(REEF_ASM_LOOPS)
static inline uint32_t dw3_lows(uint32_t a, uint32_t b)
{
    uint32_t r;
    __asm__("pkhbt %0, %1, %2, lsl #16" : "=r"(r) : "r"(a), "r"(b));
    return r;
}
static inline uint32_t dw3_highs(uint32_t a, uint32_t b)
{
    uint32_t r;
    __asm__("pkhtb %0, %1, %2, asr #16" : "=r"(r) : "r"(b), "r"(a));
    return r;
}
#else
static inline uint32_t dw3_lows(uint32_t a, uint32_t b) { return (a & 0xffffu) | (b << 16); }
static inline uint32_t dw3_highs(uint32_t a, uint32_t b) { return (b & 0xffff0000u) | (a >> 16); }
#endif

/* Widens input lines y..y+count-1 of image b, channels c..c+n-1 (n <= 4),
 * into slots s..s+count-1 of each channel: one call for a plane's lines
 * (the setup, about 50 instructions, paid once instead of per line). */
static void dw3_widen(const dw3_job *job, const int8_t *input, int32_t b, int32_t y, int32_t c,
                      int32_t n, int32_t s, int32_t count)
{
    const dw3_axes *ax = &job->ax;
    const int32_t off = job->params->input_offset, pad = ax->pad_along, step = ax->in_step;
    const int32_t offsets = (int32_t)(((uint32_t)off & 0xffffu) | ((uint32_t)off << 16));
    const int32_t x_end = job->row - pad < ax->in_len ? job->row - pad : ax->in_len;
    const int32_t gap = job->lines * job->row; /* between two channels' slots */
    const int8_t *src = input + b * job->in->h * job->in->w * job->in->c + y * ax->in_line + c;
    int16_t *dst = job->slots + s * job->row + pad;
    for (; count > 0; count--, src += ax->in_line, dst += job->row) {
        int32_t x = pad < 0 ? -pad : 0, i;
        if (n == DW3_GROUP) {
            /* two columns per pass: each channel's two halfwords packed
             * (PKHBT/PKHTB) and stored as one word */
            for (; x + 1 < x_end; x += 2) {
                const uint32_t v0 = reef_load_u32(src + x * step), v1 = reef_load_u32(src + (x + 1) * step);
                const uint32_t e0 = (uint32_t)reef_sadd16(reef_sxtb16(v0), offsets);
                const uint32_t o0 = (uint32_t)reef_sadd16(reef_sxtb16_ror8(v0), offsets);
                const uint32_t e1 = (uint32_t)reef_sadd16(reef_sxtb16(v1), offsets);
                const uint32_t o1 = (uint32_t)reef_sadd16(reef_sxtb16_ror8(v1), offsets);
                dw3_st(dst + x, dw3_lows(e0, e1));
                dw3_st(dst + x + gap, dw3_lows(o0, o1));
                dw3_st(dst + x + 2 * gap, dw3_highs(e0, e1));
                dw3_st(dst + x + 3 * gap, dw3_highs(o0, o1));
            }
            for (; x < x_end; x++) {
                const uint32_t v = reef_load_u32(src + x * step);
                const int32_t e = reef_sadd16(reef_sxtb16(v), offsets);     /* (c, c+2) */
                const int32_t o = reef_sadd16(reef_sxtb16_ror8(v), offsets); /* (c+1, c+3) */
                dst[x] = (int16_t)reef_half_lo(e);
                dst[x + gap] = (int16_t)reef_half_lo(o);
                dst[x + 2 * gap] = (int16_t)reef_half_hi(e);
                dst[x + 3 * gap] = (int16_t)reef_half_hi(o);
            }
            continue;
        }
        for (; x < x_end; x++)
            for (i = 0; i < n; i++) dst[x + i * gap] = (int16_t)(src[x * step + i] + off);
    }
}

/* Every input line of image b a plane holds (line y at plane line y +
 * pad_across), one call. */
static void dw3_widen_plane(const dw3_job *job, const int8_t *input, int32_t b, int32_t c, int32_t n)
{
    const int32_t pad = job->ax.pad_across, lo = pad < 0 ? -pad : 0;
    const int32_t hi = job->ax.in_lines < job->lines - pad ? job->ax.in_lines : job->lines - pad;
    if (hi > lo) dw3_widen(job, input, b, lo, c, n, lo + pad, hi - lo);
}

/* Packs (lo, hi) int8 weights into halfwords. */
static int32_t dw3_pack(int32_t lo, int32_t hi)
{
    return (int32_t)(((uint32_t)lo & 0xffffu) | ((uint32_t)hi << 16));
}

/* Channel c's 3x3 filter as five words, wij = tap i across, j along the
 * line (a = along, x = across, in bytes): (w00, w01), (w10, w11),
 * (w20, w21), (w02, w12), (w22, 0). */
static void dw3_pack_taps(const int8_t *f, int32_t a, int32_t x, int32_t t[5])
{
    t[0] = dw3_pack(f[0], f[a]);
    t[1] = dw3_pack(f[x], f[x + a]);
    t[2] = dw3_pack(f[2 * x], f[2 * x + a]);
    t[3] = dw3_pack(f[2 * a], f[x + 2 * a]);
    t[4] = dw3_pack(f[2 * x + 2 * a], 0);
}

static int32_t dw3_ld(const int16_t *p)
{
    int32_t v;
    __builtin_memcpy(&v, p, 4);
    return v;
}

/* Sums plus the bias of an output row (pairs * 2 outputs) from the three
 * input rows r0..r2, stride 1 (int32 wrap-around, as the reference's
 * accumulator). */
static void dw3_sums_s1(const int16_t *r0, const int16_t *r1, const int16_t *r2, const int32_t t[5],
                        int32_t bias, int32_t pairs, int32_t *sums)
{
    const int32_t w0 = t[0], w1 = t[1], w2 = t[2], w3 = t[3], w4 = t[4];
    const int32_t *end = sums + 2 * pairs; /* no counter: one register fewer */
    for (; sums < end; r0 += 2, r1 += 2, r2 += 2, sums += 2) {
        int32_t a0, a1, v;
        v = dw3_ld(r0), a0 = reef_smlad(w0, v, bias);
        v = dw3_ld(r0 + 1), a1 = reef_smlad(w0, v, bias);
        v = dw3_ld(r0 + 2), a0 = reef_smlabb(w3, v, a0), a1 = reef_smlabt(w3, v, a1);
        v = dw3_ld(r1), a0 = reef_smlad(w1, v, a0);
        v = dw3_ld(r1 + 1), a1 = reef_smlad(w1, v, a1);
        v = dw3_ld(r1 + 2), a0 = reef_smlatb(w3, v, a0), a1 = reef_smlatt(w3, v, a1);
        v = dw3_ld(r2), a0 = reef_smlad(w2, v, a0);
        v = dw3_ld(r2 + 1), a1 = reef_smlad(w2, v, a1);
        v = dw3_ld(r2 + 2), a0 = reef_smlabb(w4, v, a0), a1 = reef_smlabt(w4, v, a1);
        sums[0] = a0;
        sums[1] = a1;
    }
}

/* The same for stride 2. */
static void dw3_sums_s2(const int16_t *r0, const int16_t *r1, const int16_t *r2, const int32_t t[5],
                        int32_t bias, int32_t pairs, int32_t *sums)
{
    const int32_t w0 = t[0], w1 = t[1], w2 = t[2], w3 = t[3], w4 = t[4];
    const int32_t *end = sums + 2 * pairs;
    for (; sums < end; r0 += 4, r1 += 4, r2 += 4, sums += 2) {
        int32_t a0, a1, v;
        v = dw3_ld(r0), a0 = reef_smlad(w0, v, bias);
        v = dw3_ld(r0 + 2), a0 = reef_smlabb(w3, v, a0), a1 = reef_smlad(w0, v, bias);
        v = dw3_ld(r0 + 4), a1 = reef_smlabb(w3, v, a1);
        v = dw3_ld(r1), a0 = reef_smlad(w1, v, a0);
        v = dw3_ld(r1 + 2), a0 = reef_smlatb(w3, v, a0), a1 = reef_smlad(w1, v, a1);
        v = dw3_ld(r1 + 4), a1 = reef_smlatb(w3, v, a1);
        v = dw3_ld(r2), a0 = reef_smlad(w2, v, a0);
        v = dw3_ld(r2 + 2), a0 = reef_smlabb(w4, v, a0), a1 = reef_smlad(w2, v, a1);
        v = dw3_ld(r2 + 4), a1 = reef_smlabb(w4, v, a1);
        sums[0] = a0;
        sums[1] = a1;
    }
}

#if defined(REEF_ASM_LOOPS)
/* One output of dw3_out_plain's assembly: 11 instructions. */
#define DW3_RQ_ONE                                                             \
    "ldr %[s], [%[sums]], #4\n\t"                                             \
    "mov %[l], %[clo]\n\t"                                                    \
    "mov %[h], %[chi]\n\t"                                                    \
    "smlal %[l], %[h], %[s], %[mult]\n\t"                                     \
    "lsr %[s], %[s], #31\n\t"                                                 \
    "smlal %[l], %[h], %[s], %[min]\n\t"                                      \
    "asr %[h], %[h], %[post]\n\t"                                             \
    "add %[h], %[h], %[zp]\n\t"                                               \
    "ssat %[h], #8, %[h]\n\t"                                                 \
    "strb %[h], [%[out]]\n\t"                                                 \
    "add %[out], %[out], %[C]\n\t"
#define DW3_RQ_OPERANDS                                                        \
    : [sums] "+r"(sums), [out] "+r"(out), [n] "+r"(n), [s] "=&r"(s), [l] "=&r"(l),      \
      [h] "=&r"(h)                                                             \
    : [clo] "r"(c.c_lo), [chi] "r"(c.c_hi), [mult] "r"(c.mult), [post] "r"(c.post),     \
      [zp] "r"(zp), [min] "r"(min), [C] "r"(C)                                 \
    : "cc", "memory"
#endif

#if defined(REEF_ASM_LOOPS)
/* One output of dw3_out_plain's folded loop (the output offset inside
 * chi, post 1..22): rq.h's C = 2^30 + c_hi * 2^32 plus INT32_MIN for a
 * negative sum is, for r >= 2, the low word 0x40000000 or 0xc0000000 (bit
 * 31 of S over 0x40000000) and the high word chi or chi - 1 (S >> 31
 * added), as conv.c's CONV_SMALL8_RQ: 8 instructions after the sum's
 * load, none of them a second SMLAL. */
#define DW3_RQ_FOLDED(S)                                                       \
    "and %[l], %[" S "], #0x80000000\n\t"                                     \
    "orr %[l], %[l], #0x40000000\n\t"                                         \
    "add %[h], %[chi], %[" S "], asr #31\n\t"                                 \
    "smlal %[l], %[h], %[" S "], %[mult]\n\t"                                 \
    "asr %[h], %[h], %[post]\n\t"                                             \
    "ssat %[h], #8, %[h]\n\t"                                                 \
    "strb %[h], [%[out]]\n\t"                                                 \
    "add %[out], %[out], %[C]\n\t"
#endif

/* Requantizes n sums (the bias already in) of channel q into out, C bytes
 * apart; on the M4 two outputs per pass in 21 instructions, the
 * constants in registers. When post <= 22 the output offset rides in the
 * rounding constant's high word: (h + zp * 2^post) >> post = (h >> post)
 * + zp exactly: |h| < 2^30 + 2^22 (a product of two int32 over 2^32,
 * plus C's high word 2^(post - 1)) and |zp * 2^post| <= 2^29, so the sum
 * stays within int32. */
static void dw3_out_plain(const int32_t *sums, int32_t n, const reef_rq *q, int32_t zp, int32_t C,
                          int8_t *out)
{
    reef_rq c = *q;
#if defined(REEF_ASM_LOOPS)
    const int32_t min = INT32_MIN;
    int32_t s, l, h;
    if (c.post >= 1 && c.post <= 22) {
        const int32_t chi = (int32_t)((uint32_t)c.c_hi + ((uint32_t)zp << c.post));
        int32_t t;
        if (n & 1) {
            s = *sums++;
            __asm__ volatile(DW3_RQ_FOLDED("s")
                             : [out] "+r"(out), [s] "+r"(s), [l] "=&r"(l), [h] "=&r"(h)
                             : [chi] "r"(chi), [mult] "r"(c.mult), [post] "r"(c.post), [C] "r"(C)
                             : "memory");
        }
        n >>= 1;
        if (n > 0)
            __asm__ volatile("1:\n\t"
                             "ldrd %[s], %[t], [%[sums]], #8\n\t" DW3_RQ_FOLDED("s") DW3_RQ_FOLDED("t")
                             "subs %[n], %[n], #1\n\t"
                             "bne 1b\n\t"
                             : [sums] "+r"(sums), [out] "+r"(out), [n] "+r"(n), [s] "=&r"(s), [t] "=&r"(t),
                               [l] "=&r"(l), [h] "=&r"(h)
                             : [chi] "r"(chi), [mult] "r"(c.mult), [post] "r"(c.post), [C] "r"(C)
                             : "cc", "memory");
        return;
    }
    if (n & 1) __asm__ volatile(DW3_RQ_ONE DW3_RQ_OPERANDS);
    n >>= 1;
    if (n > 0)
        __asm__ volatile("1:\n\t" DW3_RQ_ONE DW3_RQ_ONE
                         "subs %[n], %[n], #1\n\t"
                         "bne 1b\n\t" DW3_RQ_OPERANDS);
#else
    const int32_t *end = sums + n;
    c.bias = 0;
    for (; sums < end; out += C) *out = (int8_t)reef_ssat8(reef_rq_apply(*sums++, &c) + zp);
#endif
}

static void dw3_out_clamped(const int32_t *sums, int32_t n, const reef_rq *q, int32_t zp,
                            int32_t lo, int32_t hi, int32_t C, int8_t *out)
{
    reef_rq c = *q;
    c.bias = 0;
    for (; n > 0; n--, out += C) {
        int32_t v = reef_rq_apply(*sums++, &c) + zp;
        v = v < lo ? lo : v;
        *out = (int8_t)(v > hi ? hi : v);
    }
}

/* Output line y of channels c..c+n-1: line k of channel i is
 * rows[k] + i * steps[k] (steps 0 for the zero row). */
static void dw3_output_row(const dw3_job *job, const int16_t *const rows[3], const int32_t steps[3],
                           int32_t c, int32_t n, int8_t *out)
{
    const reef_dw_conv_params *p = job->params;
    const int32_t w_out = job->ax.out_len, pairs = (w_out + 1) >> 1, C = job->ax.out_step;
    const int plain = !REEF_DW_CLAMPED || (p->activation.min == -128 && p->activation.max == 127);
    int32_t i;
    for (i = 0; i < n; i++) {
        const int16_t *r0 = rows[0] + i * steps[0], *r1 = rows[1] + i * steps[1];
        const int16_t *r2 = rows[2] + i * steps[2];
        const int32_t bias = job->rq[c + i].bias;
        if (job->stride == 1 || !DW_HAS(REEF_DW_PATH_3X3_ROWS_S2))
            dw3_sums_s1(r0, r1, r2, job->taps + 5 * (c + i), bias, pairs, job->sums);
        else
            dw3_sums_s2(r0, r1, r2, job->taps + 5 * (c + i), bias, pairs, job->sums);
        if (plain)
            dw3_out_plain(job->sums, w_out, &job->rq[c + i], p->output_offset, C, out + i);
        else
            dw3_out_clamped(job->sums, w_out, &job->rq[c + i], p->output_offset, p->activation.min,
                            p->activation.max, C, out + i);
    }
}

/* Channels c..c+n-1 of image b: every output row. Padded input row j
 * (input row j - pad_top) lives in slot j % 3; slot_of[s] is the input
 * row slot s holds (-1: none). */
static void dw3_group(const dw3_job *job, const int8_t *input, int32_t b, int32_t c, int32_t n,
                      int8_t *output)
{
    const dw3_axes *ax = &job->ax;
    const reef_dims *out = job->out;
    const int32_t pad_top = ax->pad_across, slot_step = job->lines * job->row;
    int32_t slot_of[DW3_SLOTS] = {-1, -1, -1}, y, k;
    int8_t *out_row = output + (b * out->h * out->w) * out->c + c;
    for (y = 0; y < ax->out_lines; y++, out_row += ax->out_line) {
        const int16_t *rows[3];
        int32_t steps[3];
        int32_t j = y * job->stride, s = j % DW3_SLOTS;
        for (k = 0; k < 3; k++, j++, s = s == DW3_SLOTS - 1 ? 0 : s + 1) {
            const int32_t y_in = j - pad_top;
            if (y_in < 0 || y_in >= ax->in_lines) {
                rows[k] = job->zeros;
                steps[k] = 0;
                continue;
            }
            if (slot_of[s] != y_in) {
                dw3_widen(job, input, b, y_in, c, n, s, 1);
                slot_of[s] = y_in;
            }
            rows[k] = job->slots + s * job->row;
            steps[k] = slot_step;
        }
        dw3_output_row(job, rows, steps, c, n, out_row);
    }
}

/* Channels c..c+n-1 of image b in the plane mode: every input line
 * widened into line y_in + pad_top of each channel's plane, then per
 * channel one sliding pass over the plane and one requantization pass
 * per output line. */
static void dw3_group_plane(const dw3_job *job, const int8_t *input, int32_t b, int32_t c, int32_t n,
                            int8_t *output)
{
    const dw3_axes *ax = &job->ax;
    const reef_dw_conv_params *p = job->params;
    const int32_t pw = job->row, plane = job->lines * pw, w_out = ax->out_len;
    const int32_t flat = (ax->out_lines - 1) * pw + w_out, pairs = (flat + 1) >> 1;
    const int plain = !REEF_DW_CLAMPED || (p->activation.min == -128 && p->activation.max == 127);
    int8_t *out_b = output + (b * job->out->h * job->out->w) * job->out->c + c;
    int32_t y, i;
    dw3_widen_plane(job, input, b, c, n);
    for (i = 0; i < n; i++) {
        const int16_t *r0 = job->slots + i * plane;
        const reef_rq *q = &job->rq[c + i];
        int8_t *out = out_b + i;
        dw3_sums_s1(r0, r0 + pw, r0 + 2 * pw, job->taps + 5 * (c + i), q->bias, pairs, job->sums);
        for (y = 0; y < ax->out_lines; y++, out += ax->out_line)
            if (plain)
                dw3_out_plain(job->sums + y * pw, w_out, q, p->output_offset, ax->out_step, out);
            else
                dw3_out_clamped(job->sums + y * pw, w_out, q, p->output_offset, p->activation.min,
                                p->activation.max, ax->out_step, out);
    }
}

#if defined(REEF_ASM_LOOPS)
/* The map loop's assembly. Registers: R (the plane at the output line),
 * W0..W3 (taps: dw3_pack_taps), OUT, C (output step), CHI, MULT, POST
 * (DW3_RQ_FOLDED's constants), A0, A1 (two sums), V, H (loads, then the
 * requantization's words). On the stack: the bias twice at [sp], the
 * fifth taps word (w22, 0) at [sp, #8], the plane's end at [sp, #12].
 * Input lines are P1 and P2 bytes below R; K: the pair's byte offset. */
#define DW3M_RQ(ACC)                                                           \
    "and %[V], %[" ACC "], #0x80000000\n\t"                                   \
    "orr %[V], %[V], #0x40000000\n\t"                                         \
    "add %[H], %[CHI], %[" ACC "], asr #31\n\t"                               \
    "smlal %[V], %[H], %[" ACC "], %[MULT]\n\t"                               \
    "asr %[H], %[H], %[POST]\n\t"                                             \
    "ssat %[H], #8, %[H]\n\t"
/* Outputs at K and K + 2 bytes of each line (a0, a1 as in dw3_sums_s1):
 * 10 loads (two pairs of them back to back), 12 MACs, 2 x 6 for the
 * requantization, 3 for the stores: 37 instructions for 18 MACs. */
#define DW3M_PAIR(K, P1, P2)                                                   \
    "ldrd %[A0], %[A1], [sp]\n\t"                                              \
    "ldr %[V], [%[R], #(" #K ")]\n\t"                                          \
    "ldr %[H], [%[R], #(" #K "+4)]\n\t"                                        \
    "smlad %[A0], %[W0], %[V], %[A0]\n\t"                                      \
    "ldr %[V], [%[R], #(" #K "+2)]\n\t"                                        \
    "smlabb %[A0], %[W3], %[H], %[A0]\n\t"                                     \
    "smlabt %[A1], %[W3], %[H], %[A1]\n\t"                                     \
    "smlad %[A1], %[W0], %[V], %[A1]\n\t"                                      \
    "ldr %[V], [%[R], #(" #K "+" #P1 ")]\n\t"                                  \
    "ldr %[H], [%[R], #(" #K "+" #P1 "+4)]\n\t"                                \
    "smlad %[A0], %[W1], %[V], %[A0]\n\t"                                      \
    "ldr %[V], [%[R], #(" #K "+" #P1 "+2)]\n\t"                                \
    "smlatb %[A0], %[W3], %[H], %[A0]\n\t"                                     \
    "smlatt %[A1], %[W3], %[H], %[A1]\n\t"                                     \
    "smlad %[A1], %[W1], %[V], %[A1]\n\t"                                      \
    "ldr %[V], [%[R], #(" #K "+" #P2 ")]\n\t"                                  \
    "ldr %[H], [%[R], #(" #K "+" #P2 "+4)]\n\t"                                \
    "smlad %[A0], %[W2], %[V], %[A0]\n\t"                                      \
    "ldr %[V], [sp, #8]\n\t"                                                   \
    "smlabb %[A0], %[V], %[H], %[A0]\n\t"                                      \
    "smlabt %[A1], %[V], %[H], %[A1]\n\t"                                      \
    "ldr %[V], [%[R], #(" #K "+" #P2 "+2)]\n\t"                                \
    "smlad %[A1], %[W2], %[V], %[A1]\n\t" DW3M_RQ("A0")                        \
    "strb %[H], [%[OUT]]\n\t" DW3M_RQ("A1")                                    \
    "strb %[H], [%[OUT], %[C]]\n\t"                                            \
    "add %[OUT], %[OUT], %[C], lsl #1\n\t"
/* One output at K (the last of an odd line). */
#define DW3M_ONE(K, P1, P2)                                                    \
    "ldr %[A0], [sp]\n\t"                                                      \
    "ldr %[V], [%[R], #(" #K ")]\n\t"                                          \
    "ldr %[H], [%[R], #(" #K "+4)]\n\t"                                        \
    "smlad %[A0], %[W0], %[V], %[A0]\n\t"                                      \
    "smlabb %[A0], %[W3], %[H], %[A0]\n\t"                                     \
    "ldr %[V], [%[R], #(" #K "+" #P1 ")]\n\t"                                  \
    "ldr %[H], [%[R], #(" #K "+" #P1 "+4)]\n\t"                                \
    "smlad %[A0], %[W1], %[V], %[A0]\n\t"                                      \
    "smlatb %[A0], %[W3], %[H], %[A0]\n\t"                                     \
    "ldr %[V], [%[R], #(" #K "+" #P2 ")]\n\t"                                  \
    "ldr %[H], [%[R], #(" #K "+" #P2 "+4)]\n\t"                                \
    "smlad %[A0], %[W2], %[V], %[A0]\n\t"                                      \
    "ldr %[V], [sp, #8]\n\t"                                                   \
    "smlabb %[A0], %[V], %[H], %[A0]\n\t" DW3M_RQ("A0")                        \
    "strb %[H], [%[OUT]]\n\t"                                                  \
    "add %[OUT], %[OUT], %[C]\n\t"
/* Stride 2: outputs at input columns K / 2 and K / 2 + 2 (a0, a1 as in
 * dw3_sums_s2), the same count of loads and MACs. */
#define DW3M_PAIR_S2(K, P1, P2)                                                \
    "ldrd %[A0], %[A1], [sp]\n\t"                                              \
    "ldr %[V], [%[R], #(" #K ")]\n\t"                                          \
    "ldr %[H], [%[R], #(" #K "+4)]\n\t"                                        \
    "smlad %[A0], %[W0], %[V], %[A0]\n\t"                                      \
    "ldr %[V], [%[R], #(" #K "+8)]\n\t"                                        \
    "smlabb %[A0], %[W3], %[H], %[A0]\n\t"                                     \
    "smlad %[A1], %[W0], %[H], %[A1]\n\t"                                      \
    "smlabb %[A1], %[W3], %[V], %[A1]\n\t"                                     \
    "ldr %[V], [%[R], #(" #K "+" #P1 ")]\n\t"                                  \
    "ldr %[H], [%[R], #(" #K "+" #P1 "+4)]\n\t"                                \
    "smlad %[A0], %[W1], %[V], %[A0]\n\t"                                      \
    "ldr %[V], [%[R], #(" #K "+" #P1 "+8)]\n\t"                                \
    "smlatb %[A0], %[W3], %[H], %[A0]\n\t"                                     \
    "smlad %[A1], %[W1], %[H], %[A1]\n\t"                                      \
    "smlatb %[A1], %[W3], %[V], %[A1]\n\t"                                     \
    "ldr %[V], [%[R], #(" #K "+" #P2 ")]\n\t"                                  \
    "ldr %[H], [%[R], #(" #K "+" #P2 "+4)]\n\t"                                \
    "smlad %[A0], %[W2], %[V], %[A0]\n\t"                                      \
    "smlad %[A1], %[W2], %[H], %[A1]\n\t"                                      \
    "ldr %[V], [sp, #8]\n\t"                                                   \
    "smlabb %[A0], %[V], %[H], %[A0]\n\t"                                      \
    "ldr %[H], [%[R], #(" #K "+" #P2 "+8)]\n\t"                                \
    "smlabb %[A1], %[V], %[H], %[A1]\n\t" DW3M_RQ("A0")                        \
    "strb %[H], [%[OUT]]\n\t" DW3M_RQ("A1")                                    \
    "strb %[H], [%[OUT], %[C]]\n\t"                                            \
    "add %[OUT], %[OUT], %[C], lsl #1\n\t"
#define DW3M_ENTER                                                             \
    "sub sp, sp, #16\n\t"                                                      \
    "str %[A0], [sp]\n\t"                                                      \
    "str %[A0], [sp, #4]\n\t"                                                  \
    "str %[V], [sp, #8]\n\t"                                                   \
    "str %[A1], [sp, #12]\n\t"                                                 \
    "1:\n\t"
#define DW3M_NEXT(LINE)                                                        \
    "add %[R], %[R], #" #LINE "\n\t"                                           \
    "ldr %[V], [sp, #12]\n\t"                                                  \
    "cmp %[R], %[V]\n\t"                                                       \
    "blo 1b\n\t"                                                               \
    "add sp, sp, #16\n\t"
#define DW3M_OPERANDS                                                          \
    : [R] "+r"(r), [OUT] "+r"(out), [A0] "+r"(bias), [A1] "+r"(end_w), [V] "+r"(w4),  \
      [H] "=&r"(h), [W0] "+r"(w0), [W1] "+r"(w1), [W2] "+r"(w2), [W3] "+r"(w3),  \
      [C] "+r"(C), [CHI] "+r"(chi), [MULT] "+r"(mult), [POST] "+r"(post)      \
    :                                                                          \
    : "cc", "memory"

/* One map function per shape: BODY is its unrolled output line. */
#define DW3M_FN(NAME, BODY)                                                                                \
    static __attribute__((noinline)) void NAME(const int16_t *r, const int16_t *end, int8_t *out, int32_t C, \
                                               const int32_t t[5], int32_t bias, int32_t chi, int32_t mult,  \
                                               int32_t post)                                               \
    {                                                                                                      \
        int32_t w0 = t[0], w1 = t[1], w2 = t[2], w3 = t[3], w4 = t[4], h;                                  \
        int32_t end_w = (int32_t)(uintptr_t)end;                                                           \
        __asm__ volatile(DW3M_ENTER BODY DW3M_OPERANDS);                                                   \
    }

/* One channel of a 6-wide map: planes lines of 8 values (16 bytes), three
 * pairs per output line; r .. end: the plane's first lines of each output
 * line. */
DW3M_FN(dw3_map6_asm, DW3M_PAIR(0, 16, 32) DW3M_PAIR(4, 16, 32) DW3M_PAIR(8, 16, 32) DW3M_NEXT(16))

/* The same for a 12-wide map: lines of 14 values (28 bytes), six pairs. */
DW3M_FN(dw3_map12_asm, DW3M_PAIR(0, 28, 56) DW3M_PAIR(4, 28, 56) DW3M_PAIR(8, 28, 56) DW3M_PAIR(12, 28, 56)
                           DW3M_PAIR(16, 28, 56) DW3M_PAIR(20, 28, 56) DW3M_NEXT(28))

/* The same for a 3-wide map: lines of 5 values (10 bytes), a pair and one. */
DW3M_FN(dw3_map3_asm, DW3M_PAIR(0, 10, 20) DW3M_ONE(4, 10, 20) DW3M_NEXT(10))

/* The same for a 24-wide map: lines of 26 values (52 bytes), twelve pairs. */
DW3M_FN(dw3_map24_asm, DW3M_PAIR(0, 52, 104) DW3M_PAIR(4, 52, 104) DW3M_PAIR(8, 52, 104) DW3M_PAIR(12, 52, 104)
                           DW3M_PAIR(16, 52, 104) DW3M_PAIR(20, 52, 104) DW3M_PAIR(24, 52, 104)
                               DW3M_PAIR(28, 52, 104) DW3M_PAIR(32, 52, 104) DW3M_PAIR(36, 52, 104)
                                   DW3M_PAIR(40, 52, 104) DW3M_PAIR(44, 52, 104) DW3M_NEXT(52))

/* Stride 2, an output 6 wide: input planes lines of 14 values (28 bytes),
 * two lines per output line. */
DW3M_FN(dw3_map6s2_asm, DW3M_PAIR_S2(0, 28, 56) DW3M_PAIR_S2(8, 28, 56) DW3M_PAIR_S2(16, 28, 56) DW3M_NEXT(56))

/* The same for a 48-wide map (in bands): lines of 50 values (100 bytes),
 * 24 pairs. */
DW3M_FN(dw3_map48_asm,
        DW3M_PAIR(0, 100, 200) DW3M_PAIR(4, 100, 200) DW3M_PAIR(8, 100, 200) DW3M_PAIR(12, 100, 200)
            DW3M_PAIR(16, 100, 200) DW3M_PAIR(20, 100, 200) DW3M_PAIR(24, 100, 200) DW3M_PAIR(28, 100, 200)
                DW3M_PAIR(32, 100, 200) DW3M_PAIR(36, 100, 200) DW3M_PAIR(40, 100, 200) DW3M_PAIR(44, 100, 200)
                    DW3M_PAIR(48, 100, 200) DW3M_PAIR(52, 100, 200) DW3M_PAIR(56, 100, 200)
                        DW3M_PAIR(60, 100, 200) DW3M_PAIR(64, 100, 200) DW3M_PAIR(68, 100, 200)
                            DW3M_PAIR(72, 100, 200) DW3M_PAIR(76, 100, 200) DW3M_PAIR(80, 100, 200)
                                DW3M_PAIR(84, 100, 200) DW3M_PAIR(88, 100, 200) DW3M_PAIR(92, 100, 200)
                                    DW3M_NEXT(100))

/* Stride 2, an output 12 wide (in bands): input planes lines of 26 values
 * (52 bytes), six pairs. */
DW3M_FN(dw3_map12s2_asm, DW3M_PAIR_S2(0, 52, 104) DW3M_PAIR_S2(8, 52, 104) DW3M_PAIR_S2(16, 52, 104)
                             DW3M_PAIR_S2(24, 52, 104) DW3M_PAIR_S2(32, 52, 104) DW3M_PAIR_S2(40, 52, 104)
                                 DW3M_NEXT(104))

/* Stride 2, an output 24 wide (in bands): lines of 50 values (100 bytes),
 * twelve pairs. */
DW3M_FN(dw3_map24s2_asm,
        DW3M_PAIR_S2(0, 100, 200) DW3M_PAIR_S2(8, 100, 200) DW3M_PAIR_S2(16, 100, 200) DW3M_PAIR_S2(24, 100, 200)
            DW3M_PAIR_S2(32, 100, 200) DW3M_PAIR_S2(40, 100, 200) DW3M_PAIR_S2(48, 100, 200)
                DW3M_PAIR_S2(56, 100, 200) DW3M_PAIR_S2(64, 100, 200) DW3M_PAIR_S2(72, 100, 200)
                    DW3M_PAIR_S2(80, 100, 200) DW3M_PAIR_S2(88, 100, 200) DW3M_NEXT(200))

/* Stride 2, an output 3 wide: lines of 8 values (16 bytes); the single
 * output at input column 4 as at stride 1 (its taps are columns 4..6). */
DW3M_FN(dw3_map3s2_asm, DW3M_PAIR_S2(0, 16, 32) DW3M_ONE(8, 16, 32) DW3M_NEXT(32))
#else
/* The map loop in C: output (y, x) from plane lines s y..s y+2 at s x (s:
 * the stride), the sum
 * from the bias, requantized at once (rq.h's exact form). */
static void dw3_map_c(const int16_t *r, int32_t pw, int32_t stride, int32_t w_out, int32_t h_out, int8_t *out,
                      int32_t C, const int32_t t[5], const reef_rq *q, int32_t zp)
{
    int32_t y, x;
    for (y = 0; y < h_out; y++, r += stride * pw)
        for (x = 0; x < w_out; x++, out += C) {
            const int16_t *p = r + stride * x;
            int32_t a = q->bias;
            a = reef_smlad(t[0], dw3_ld(p), a), a = reef_smlabb(t[3], dw3_ld(p + 2), a);
            a = reef_smlad(t[1], dw3_ld(p + pw), a), a = reef_smlatb(t[3], dw3_ld(p + pw + 2), a);
            a = reef_smlad(t[2], dw3_ld(p + 2 * pw), a), a = reef_smlabb(t[4], dw3_ld(p + 2 * pw + 2), a);
            *out = (int8_t)reef_ssat8(reef_rq_scale(a, q) + zp);
        }
}
#endif

/* Channels c..c+n-1 of image b in the map loop: planes widened as in
 * dw3_group_plane, then each channel's outputs summed and requantized in
 * one pass. */
static void dw3_group_map(const dw3_job *job, const int8_t *input, int32_t b, int32_t c, int32_t n,
                          int8_t *output)
{
    const dw3_axes *ax = &job->ax;
    const int32_t pw = job->row, plane = job->lines * pw, zp = job->params->output_offset;
    /* output lines per band: all of them, or (24 wide) as many as the
     * planes' lines allow; a band's plane line j holds input line
     * y0 + j - pad_across (stride 1), a line outside the input zeros */
    const int32_t stride = job->stride, band = (job->lines - 3 + stride) / stride;
    int8_t *out_b = output + (b * job->out->h * job->out->w) * job->out->c + c;
    int32_t y0, y, i, k;
    for (y0 = 0; y0 < ax->out_lines; y0 += band) {
        const int32_t lines_out = ax->out_lines - y0 < band ? ax->out_lines - y0 : band;
        int8_t *out_band = out_b + y0 * ax->out_line;
        if (band >= ax->out_lines) {
            /* one band: the pads stay 0 (every group writes the same lines) */
            dw3_widen_plane(job, input, b, c, n);
        } else {
            /* bands: a line a group or band before wrote may be a pad now;
             * plane lines lo..hi-1 hold input lines, the rest zeros */
            const int32_t nl = stride * lines_out + 3 - stride, first = stride * y0 - ax->pad_across;
            const int32_t lo = first < 0 ? -first : 0;
            const int32_t hi = ax->in_lines - first < nl ? ax->in_lines - first : nl;
            if (hi > lo) dw3_widen(job, input, b, first + lo, c, n, lo, hi - lo);
            for (y = 0; y < nl; y++)
                if (y < lo || y >= hi)
                    for (i = 0; i < n; i++)
                        for (k = 0; k < pw; k++) job->slots[i * plane + y * pw + k] = 0;
        }
        for (i = 0; i < n; i++) {
            const int16_t *r = job->slots + i * plane;
            const reef_rq *q = &job->rq[c + i];
            const int32_t *t = job->taps + 5 * (c + i);
#if defined(REEF_ASM_LOOPS)
            const int32_t chi = (int32_t)((uint32_t)q->c_hi + ((uint32_t)zp << q->post));
            const int16_t *end = r + lines_out * job->stride * pw;
            void (*loop)(const int16_t *, const int16_t *, int8_t *, int32_t, const int32_t *, int32_t, int32_t,
                         int32_t, int32_t) =
                stride == 2 ? (ax->out_len == 6    ? dw3_map6s2_asm
                               : ax->out_len == 12 ? dw3_map12s2_asm
                               : ax->out_len == 24 ? dw3_map24s2_asm
                                                   : dw3_map3s2_asm)
                : ax->out_len == 6  ? dw3_map6_asm
                : ax->out_len == 12 ? dw3_map12_asm
                : ax->out_len == 24 ? dw3_map24_asm
                : ax->out_len == 48 ? dw3_map48_asm
                                    : dw3_map3_asm;
            loop(r, end, out_band + i, ax->out_step, t, q->bias, chi, q->mult, q->post);
#else
            dw3_map_c(r, pw, job->stride, ax->out_len, lines_out, out_band + i, ax->out_step, t, q, zp);
#endif
        }
    }
}

int reef_dw3x3_run(const reef_context *ctx, const reef_dw_conv_params *params,
                   const reef_per_channel_quant *quant, const reef_dims *input_dims,
                   const int8_t *input, const int8_t *filter, const int32_t *bias,
                   const reef_dims *output_dims, int8_t *output)
{
    dw3_job job;
    const int32_t C = input_dims->c;
    reef_rq *rq = (reef_rq *)ctx->buf; /* (C) */
    int32_t *taps = (int32_t *)(rq + C); /* (C, 5) */
    int16_t *slots;
    int32_t c, b, i, fast = 1, folded = 1;
    if (!REEF_DW_CLAMPED && (params->activation.min != -128 || params->activation.max != 127))
        return 0; /* left out of this build */
    for (c = 0; c < C; c++) {
        fast &= reef_rq_init(&rq[c], bias ? bias[c] : 0, quant->multiplier[c], quant->shift[c]);
        if (DW_HAS(REEF_DW_PATH_3X3_MAP)) folded &= dw3_map_channel_ok(&rq[c]);
    }
    if (!fast) return 0;
    dw3_axes_of(params, input_dims, output_dims, &job.ax);
    for (c = 0; c < C; c++) dw3_pack_taps(filter + c, job.ax.f_along, job.ax.f_across, taps + 5 * c);
    job.params = params;
    job.in = input_dims;
    job.out = output_dims;
    job.filter = filter;
    job.rq = rq;
    job.taps = taps;
    job.stride = params->stride.w;
    slots = (int16_t *)(taps + 5 * C);
    job.slots = slots;
    /* reef_dw3x3_map's choice, from the constants just made */
    const int map = DW_HAS(REEF_DW_PATH_3X3_MAP) && folded && dw3_map_shape(params, output_dims);
    if (map || dw3_plane(params, output_dims)) {
        if (!DW_HAS(map ? REEF_DW_PATH_3X3_MAP : REEF_DW_PATH_3X3_PLANE)) return 0; /* reef_dw_conv_s8 refused it */
        dw3_plane_geom(job.stride, output_dims, &job.row, &job.lines);
        const int32_t planes = DW3_GROUP * job.lines * job.row + DW3_SLACK;
        job.zeros = slots;
        job.sums = (int32_t *)(slots + planes);
        /* pads stay 0: widening writes only input lines and columns */
        for (i = 0; i < planes; i++) slots[i] = 0;
        for (b = 0; b < input_dims->n; b++)
            for (c = 0; c < C; c += DW3_GROUP)
                (map ? dw3_group_map : dw3_group_plane)(&job, input, b, c, C - c < DW3_GROUP ? C - c : DW3_GROUP,
                                                        output);
        return 1;
    }
    if (!DW_HAS(job.stride == 1 ? REEF_DW_PATH_3X3_ROWS_S1 : REEF_DW_PATH_3X3_ROWS_S2)) return 0; /* ditto */
    job.row = dw3_row_len(job.stride, job.ax.out_len);
    job.lines = DW3_SLOTS;
    job.zeros = slots + DW3_GROUP * DW3_SLOTS * job.row;
    job.sums = (int32_t *)(slots + (DW3_GROUP * DW3_SLOTS + 1) * job.row);
    /* pads (and the zero row) stay 0: widening writes only input columns */
    for (i = 0; i < (DW3_GROUP * DW3_SLOTS + 1) * job.row; i++) slots[i] = 0;
    for (b = 0; b < input_dims->n; b++)
        for (c = 0; c < input_dims->c; c += DW3_GROUP)
            dw3_group(&job, input, b, c, input_dims->c - c < DW3_GROUP ? input_dims->c - c : DW3_GROUP,
                      output);
    return 1;
}
