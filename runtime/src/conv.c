/* reef_conv_s8: convolution as a matrix product, two output positions by
 * two output channels at a time.
 *
 * Each output position's receptive field (K = KH*KW*C_IN int8 values, read
 * in place for 1x1 convolutions without padding, else gathered with padded
 * taps holding -input_offset) is widened once to int16 with the input
 * offset added (a padded tap becomes 0, which matches TFLite skipping it),
 * and stored in the order SXTB16 unpacks the filter: per 4 values, the
 * halfword pairs (x0, x2) and (x1, x3). The two columns of a pair are
 * interleaved, so the inner loop reads 16 bytes of columns and one word of
 * each of two filter rows per 4 steps of K: 8 SMLADs for 16 MACs, the
 * widening amortized over every output channel. The sums start at the
 * bias; with the range [-128, 127] and K a multiple of 8, every channel
 * pair of a position pair, requantization included, runs in one assembly
 * loop (conv_channels_asm). A layer `reef gen` wrote in the paired layout
 * (conv.h; its rows run K8 = K rounded up to 8, zeros past K, the columns
 * too) takes four positions per pass over a pair's weights
 * (conv_channels_quad_paired_asm), the last one to three positions two at
 * a time (conv_channels_paired_asm).
 *
 * Scratch: (C_OUT) requantization constants, (K4 / 4, 2 columns, 2 words)
 * widened columns (4 columns when the shape may be paired: the paired
 * layout takes four positions at a time), then (K4) bytes of gathered column (K4 = K rounded up to
 * 4). The short-K path (below) works channel by channel and makes each
 * channel's constants when it starts it, so it needs no table: its scratch
 * is only the gathered block, none when the columns are read in place (an
 * expanding 1x1 convolution, often the arena's peak, then needs nothing
 * beside its input and output). Channels the fast requantization cannot
 * take (rq.h) make the whole call use the scalar reference. */
#include "reef/conv.h"
#include "reef/requant.h"

#include "check.h"
#include "dsp.h"
#include "rq.h"
#include "widen.h"

/* The paired layouts a build compiles (a model header lists its own:
 * REEF_PAIRED_LAYOUTS bit 0 conv, bit 1 fc); all without one. */
#ifndef REEF_PAIRED_LAYOUTS
#define REEF_PAIRED_LAYOUTS 3u
#endif
#define CONV_PAIRED_BUILT ((REEF_PAIRED_LAYOUTS & 1u) != 0)

/* Whether the 2x2 loop takes the plain filter layout (reef/conv.h; a
 * model header whose 2x2 steps are all paired says 0); all builds without
 * one. */
#ifndef REEF_CONV_UNPAIRED
#define REEF_CONV_UNPAIRED 1
#endif

/* Whether a paired layer may have a number of output positions that is not
 * a multiple of 4 (a model header whose paired calls all have a multiple
 * of 4 says 0): with REEF_CONV_UNPAIRED 0 too, the two-position loop is
 * then left out (a layer needing it gets REEF_UNSUPPORTED). */
#ifndef REEF_CONV_PAIRED_TAIL
#define REEF_CONV_PAIRED_TAIL 1
#endif

/* Whether a K = 8 short-K call (the assembly loops, eight positions a
 * pass) may have a position count that is not a multiple of 8 (a model
 * header whose such calls all have output rows a multiple of 8 wide says
 * 0): the four- and two-position loops are then left out, and a count
 * with a remainder runs its last positions in the C loop (the same sums
 * and requantization: slower, never different). */
#ifndef REEF_CONV_SMALL8_TAIL
#define REEF_CONV_SMALL8_TAIL 1
#endif

typedef struct conv_job {
    const reef_conv_params *params;
    const reef_dims *input_dims;
    const reef_dims *filter_dims;
    const reef_dims *output_dims;
    const int8_t *input;  /* (N, H_IN, W_IN, C_IN) */
    const int8_t *filter; /* (C_OUT, K) */
    const reef_rq *rq;    /* (C_OUT), made up front; NULL on the short-K path */
    const reef_per_channel_quant *quant; /* (C_OUT) each, for the short-K path */
    const int32_t *bias;  /* (C_OUT) or NULL */
    int32_t k;            /* KH * KW * C_IN */
    int direct;           /* columns read in place (1x1, no padding) */
    int paired;           /* filter in channel pairs (reef_conv_s8_pair) */
    int folded;           /* the four-position loop's requantization (conv_prepare) */
} conv_job;

static REEF_SIZE_FN int conv_is_direct(const reef_conv_params *p, const reef_dims *in,
                          const reef_dims *f, const reef_dims *out)
{
    return f->h == 1 && f->w == 1 && p->padding.h == 0 && p->padding.w == 0 &&
           (out->h - 1) * p->stride.h < in->h && (out->w - 1) * p->stride.w < in->w;
}

/* Columns gathered at a time by the short-K path (below). */
enum { SMALL_BLOCK = 16 };

static int conv_is_small_gathered(const reef_conv_params *p, const reef_dims *in,
                                  const reef_dims *f, const reef_dims *out)
{
    return !conv_is_direct(p, in, f, out) && f->h * f->w * f->c <= 16;
}

static int32_t round4(int32_t v) { return (v + 3) & ~3; }
static int32_t round8(int32_t v) { return (v + 7) & ~7; }

/* The path bits of REEF_CONV_PATHS (conv.h): the 2x2 GEMM plain or
 * clamped, then the short-K loop per (K4, clamped, gathered), then the
 * first-conv loop over 3 input channels (conv_c3), the resident and the
 * weights-in-RAM paths, and the first-conv loop over 2 channels (conv_c2,
 * bit 21). A firmware whose model header lists its paths compiles only
 * those loops. */
enum { CONV_PATH_PAIRS = 0, CONV_PATH_PAIRS_CLAMPED = 1, CONV_PATH_SMALL = 2, CONV_PATH_C3 = REEF_CONV_PATH_C3,
       CONV_PATH_RESIDENT = REEF_CONV_PATH_RESIDENT, CONV_PATH_WEIGHTS = REEF_CONV_PATH_WEIGHTS,
       CONV_PATH_C2 = REEF_CONV_PATH_C2, CONV_PATH_COUNT = 22 };

/* conv.h's name for short-K loop 4 (K4 8, plain, in place) */
typedef char conv_small8_path_is_6[REEF_CONV_PATH_SMALL8 == CONV_PATH_SMALL + ((2 - 1) * 2 + 0) * 2 ? 1 : -1];

#ifndef REEF_CONV_PATHS
#define REEF_CONV_PATHS ((1u << CONV_PATH_COUNT) - 1u)
#endif
#define CONV_HAS(path) ((REEF_CONV_PATHS >> (path)) & 1u)

/* The first-conv paths (conv_first, below): 3x3 over C = 3 (conv_c3) or
 * 2 (conv_c2) input channels at stride 2 across (any stride down),
 * dilation 1, the range [-128, 127], channels a multiple of 4. A filter
 * row is 3 C values, run as FIRST_ROW(C) halfwords (C = 3: a zero weight
 * last) in FIRST_WORDS(C) words. */
#define FIRST_ROW(c) ((3 * (c) + 1) & ~1)
#define FIRST_WORDS(c) (FIRST_ROW(c) >> 1)
#define FIRST_KWORDS(c) (3 * FIRST_WORDS(c))

static int conv_is_first(const reef_conv_params *p, const reef_dims *in, const reef_dims *f, int32_t c)
{
    return f->h == 3 && f->w == 3 && f->c == c && in->c == c && p->stride.w == 2 && p->stride.h >= 1 &&
           p->dilation.h == 1 && p->dilation.w == 1 && p->activation.min == -128 &&
           p->activation.max == 127 && f->n >= 4 && (f->n & 3) == 0 && p->padding.h >= 0 && p->padding.w >= 0;
}

/* Halfwords of one widened input row (conv_first_row): up to the window
 * of the last pair's second position (past the output when OUT_W is odd:
 * positions go two at a time), 2 C (OUT_W rounded up to even) + FIRST_ROW
 * - 2 C; even, so rows stay word aligned. */
static int32_t conv_first_row_halves(const reef_dims *out, int32_t c)
{
    return 2 * c * ((out->w + 1) & ~1) + FIRST_ROW(c) - 2 * c;
}

/* A plain 2x2-loop shape reef_conv_s8_pairable may pair: an even number
 * of channels. */
static int conv_may_pair(const reef_dims *f)
{
    return CONV_PAIRED_BUILT && f->h * f->w * f->c > 0 && f->n >= 2 && (f->n & 1) == 0;
}

/* ---- resident weights (REEF_CONV_PATH_RESIDENT: conv_pairs_resident) ----
 * The four-position loop reads every filter word from flash once per four
 * positions: VWW's 6x6 K = 128 1x1 convs read their 16 KB nine times
 * (37,600 flash reads, 104 k of their 827 k modeled cycles: 2.15 cycles a
 * read plus 5 a data-cache miss, docs/cycle-model.md). When every block of
 * four positions' widened columns fits CONV_RESIDENT_BYTES, they are
 * widened once up front, and CONV_RESIDENT_PAIRS (8) channel pairs at a time
 * are copied from flash to scratch (once) and run over every block from
 * there. Blocks: at least 4 (with fewer the copy costs more than it
 * saves); K at least 64 (below, the extra calls of the four-position loop
 * cost about what the flash reads did: IC's K = 16 and 32 1x1 convs and
 * KWS's K = 40 first conv took it for +57 k and +12 k instructions, IC's
 * modeled time 174.36 -> 174.43 ms); the columns at most the layer's
 * input and output bytes together (the row views of `--memory balanced`
 * and min, a few input rows and one output row, took it on IC's 3x3
 * convs: their arena 22,176 -> 33,696 B). The shape decides the scratch
 * (the planner sizes it before `reef gen` pairs the filter); only a
 * paired filter takes the path. */
enum { CONV_RESIDENT_BYTES = 10240, CONV_RESIDENT_PAIRS = 8, CONV_RESIDENT_MIN_BLOCKS = 4, CONV_RESIDENT_MIN_K = 64 };

static int32_t conv_resident_blocks(const reef_dims *out) { return (out->n * out->h * out->w) >> 2; }

REEF_SIZE_FN int reef_conv_s8_resident(const reef_conv_params *params, const reef_dims *input_dims,
                                       const reef_dims *filter_dims, const reef_dims *output_dims)
{
    const int32_t blocks = conv_resident_blocks(output_dims);
    const int32_t k8 = round8(filter_dims->h * filter_dims->w * filter_dims->c);
    return CONV_HAS(CONV_PATH_RESIDENT) && conv_may_pair(filter_dims) &&
           reef_conv_s8_path(params, input_dims, filter_dims, output_dims) == CONV_PATH_PAIRS &&
           k8 >= CONV_RESIDENT_MIN_K && blocks >= CONV_RESIDENT_MIN_BLOCKS && blocks * 8 * k8 <= CONV_RESIDENT_BYTES &&
           blocks * 8 * k8 <= reef_dims_count(input_dims) + reef_dims_count(output_dims);
}

/* Bytes of the resident path's columns (every block) and weights (the
 * scratch after the constants and before the gathered column). */
static int32_t conv_resident_cols(const reef_dims *f, const reef_dims *out)
{
    return conv_resident_blocks(out) * 8 * round8(f->h * f->w * f->c);
}
static int32_t conv_resident_weights(const reef_dims *f)
{
    return CONV_RESIDENT_PAIRS * 2 * round8(f->h * f->w * f->c);
}

/* reef_conv_s8_get_buffer_size, with the resident path's scratch when
 * resident (and the shape takes it), else the least reef_conv_s8 needs. */
static REEF_SIZE_FN int32_t conv_buffer_size(const reef_conv_params *params, const reef_dims *input_dims,
                                             const reef_dims *filter_dims, const reef_dims *output_dims,
                                             int resident)
{
    const int32_t k4 = round4(filter_dims->h * filter_dims->w * filter_dims->c);
    int32_t size;
    if ((CONV_HAS(CONV_PATH_C3) || CONV_HAS(CONV_PATH_C2)) &&
        (reef_conv_s8_path(params, input_dims, filter_dims, output_dims) == CONV_PATH_C3 ||
         reef_conv_s8_path(params, input_dims, filter_dims, output_dims) == CONV_PATH_C2))
        return ((int32_t)sizeof(reef_rq) + 4 * FIRST_KWORDS(filter_dims->c)) * filter_dims->n +
               3 * 2 * conv_first_row_halves(output_dims, filter_dims->c);
    if (reef_conv_s8_path(params, input_dims, filter_dims, output_dims) >= CONV_PATH_SMALL)
        return conv_is_small_gathered(params, input_dims, filter_dims, output_dims) ? SMALL_BLOCK * k4 : 0;
    /* shapes the paired layout may take (reef_conv_s8_pairable) widen four
     * columns at a time (conv_quad_paired) */
    size = (int32_t)sizeof(reef_rq) * filter_dims->n +
           (conv_may_pair(filter_dims) ? 8 * round8(k4) : 4 * k4);
    if (CONV_HAS(CONV_PATH_RESIDENT) && resident && reef_conv_s8_resident(params, input_dims, filter_dims, output_dims))
        size = (int32_t)sizeof(reef_rq) * filter_dims->n + conv_resident_cols(filter_dims, output_dims) +
               conv_resident_weights(filter_dims);
    if (!conv_is_direct(params, input_dims, filter_dims, output_dims)) size += k4;
    return size;
}

/* The weights in RAM (REEF_CONV_PATH_WEIGHTS): the plain paired loop
 * reads every filter word once per four positions; from flash that costs
 * 2.15 modeled cycles a read plus 5 a data-cache miss (VWW's 24x24 K = 32
 * and 12x12 K = 64 1x1 convs: 37 k flash reads each, about 100 k of
 * their 1.12 M and 0.92 M cycles). Copying the filter (C_OUT x K8 bytes)
 * to scratch after the plain loop's buffers once per call reads it once.
 * At least 16 positions (four blocks): the copy (a flash read, a store
 * and the loop's share a word) costs about what two blocks' flash reads
 * do (VWW's 3x3 K = 128, 256-channel conv, 9 positions: 499.6 k -> 514.4 k
 * modeled cycles with it). 0 when the shape does not take it. */
REEF_SIZE_FN int32_t reef_conv_s8_weights_buffer_size(const reef_conv_params *params, const reef_dims *input_dims,
                                                      const reef_dims *filter_dims, const reef_dims *output_dims)
{
    if (!CONV_HAS(CONV_PATH_WEIGHTS) || !conv_may_pair(filter_dims) ||
        reef_conv_s8_path(params, input_dims, filter_dims, output_dims) != CONV_PATH_PAIRS ||
        reef_conv_s8_resident(params, input_dims, filter_dims, output_dims) ||
        output_dims->n * output_dims->h * output_dims->w < 16)
        return 0;
    return conv_buffer_size(params, input_dims, filter_dims, output_dims, 0) +
           filter_dims->n * round8(filter_dims->h * filter_dims->w * filter_dims->c);
}

/* n bytes (a multiple of 16: C_OUT even, K8) of filter to scratch: four
 * words per LDM/STM when both are word aligned (the copy's instructions
 * are the path's only extra ones: 1 a word instead of reef_copy_s8's 4.4). */
static void conv_copy_filter(int8_t *dst, const int8_t *src, int32_t n)
{
#if defined(REEF_ASM_LOOPS)
    if (n >= 16 && !(n & 15) && !(((uintptr_t)dst | (uintptr_t)src) & 3u)) {
        __asm__ volatile("1:\n\tldmia %[s]!, {r4, r5, r6, r7}\n\tstmia %[d]!, {r4, r5, r6, r7}\n\t"
                         "subs %[n], %[n], #16\n\tbgt 1b"
                         : [s] "+r"(src), [d] "+r"(dst), [n] "+r"(n)
                         :
                         : "r4", "r5", "r6", "r7", "cc", "memory");
        return;
    }
#endif
    reef_copy_s8(dst, src, n);
}

REEF_SIZE_FN int32_t reef_conv_s8_get_buffer_size(const reef_conv_params *params,
                                     const reef_dims *input_dims,
                                     const reef_dims *filter_dims,
                                     const reef_dims *output_dims)
{
    return conv_buffer_size(params, input_dims, filter_dims, output_dims, 1);
}

/* The int8 column of output position p (flat over N, H_OUT, W_OUT), in
 * place or gathered into buf. */
static const int8_t *conv_column(const conv_job *job, int32_t p, int8_t *buf)
{
    const reef_conv_params *prm = job->params;
    const reef_dims *in = job->input_dims, *f = job->filter_dims;
    const int32_t out_x = p % job->output_dims->w;
    const int32_t out_y = (p / job->output_dims->w) % job->output_dims->h;
    const int32_t b = p / (job->output_dims->w * job->output_dims->h);
    const int32_t y0 = out_y * prm->stride.h - prm->padding.h;
    const int32_t x0 = out_x * prm->stride.w - prm->padding.w;
    const int8_t pad = (int8_t)(-prm->input_offset);
    int32_t ky, kx;
    int8_t *dst = buf;
    if (job->direct) return job->input + ((b * in->h + y0) * in->w + x0) * in->c;
    for (ky = 0; ky < f->h; ky++) {
        const int32_t y = y0 + ky * prm->dilation.h;
        if (prm->dilation.w == 1 && y >= 0 && y < in->h && x0 >= 0 && x0 + f->w <= in->w) {
            /* the whole filter row is inside: one contiguous run */
            const int32_t run = f->w * in->c;
            reef_copy_s8(dst, job->input + ((b * in->h + y) * in->w + x0) * in->c, run);
            dst += run;
            continue;
        }
        for (kx = 0; kx < f->w; kx++, dst += in->c) {
            const int32_t x = x0 + kx * prm->dilation.w;
            if (y < 0 || y >= in->h || x < 0 || x >= in->w)
                reef_fill_s8(dst, pad, in->c);
            else
                reef_copy_s8(dst, job->input + ((b * in->h + y) * in->w + x) * in->c, in->c);
        }
    }
    return buf;
}

#if defined(REEF_ASM_LOOPS)
/* 4 values of K of a 2x2 block (conv_dot_2x2_main8, conv_channels_asm):
 * columns X0..X3, filter rows R0 and R1, sums S0..S3. */
#define CONV_LOOP_K4                                                           \
    "ldrd %[X0], %[X1], [%[C]], #8\n\t"                                        \
    "ldrd %[X2], %[X3], [%[C]], #8\n\t"                                        \
    "ldr %[W], [%[R0]], #4\n\t"                                                \
    "sxtb16 %[T], %[W]\n\t"                                                    \
    "sxtb16 %[W], %[W], ror #8\n\t"                                            \
    "smlad %[S0], %[T], %[X0], %[S0]\n\t"                                      \
    "smlad %[S0], %[W], %[X1], %[S0]\n\t"                                      \
    "smlad %[S1], %[T], %[X2], %[S1]\n\t"                                      \
    "smlad %[S1], %[W], %[X3], %[S1]\n\t"                                      \
    "ldr %[W], [%[R1]], #4\n\t"                                                \
    "sxtb16 %[T], %[W]\n\t"                                                    \
    "sxtb16 %[W], %[W], ror #8\n\t"                                            \
    "smlad %[S2], %[T], %[X0], %[S2]\n\t"                                      \
    "smlad %[S2], %[W], %[X1], %[S2]\n\t"                                      \
    "smlad %[S3], %[T], %[X2], %[S3]\n\t"                                      \
    "smlad %[S3], %[W], %[X3], %[S3]\n\t"

/* The main loop of conv_dot_2x2 on the M4, 8 values of K per pass: 34
 * instructions per 32 MACs (four LDRDs of columns, two words of each filter
 * row split by SXTB16, sixteen SMLADs, one loop test), all fourteen
 * registers busy. n: groups of 8 along K, > 0. */
static inline void conv_dot_2x2_main8(const int8_t **row0, const int8_t **row1,
                                      const int32_t **cols, int32_t n, int32_t s[4])
{
    int32_t s00 = s[0], s01 = s[1], s10 = s[2], s11 = s[3], x0, x1, x2, x3, w, t;
    const int8_t *r0 = *row0, *r1 = *row1;
    const int32_t *c = *cols;
    __asm__ volatile("1:\n\t" CONV_LOOP_K4 CONV_LOOP_K4
                     "subs %[N], %[N], #1\n\t"
                     "bne 1b\n\t"
                     : [S0] "+r"(s00), [S1] "+r"(s01), [S2] "+r"(s10), [S3] "+r"(s11),
                       [R0] "+r"(r0), [R1] "+r"(r1), [C] "+r"(c), [N] "+r"(n), [X0] "=&r"(x0),
                       [X1] "=&r"(x1), [X2] "=&r"(x2), [X3] "=&r"(x3), [W] "=&r"(w), [T] "=&r"(t)
                     :
                     : "cc", "memory");
    s[0] = s00, s[1] = s01, s[2] = s10, s[3] = s11;
    *row0 = r0, *row1 = r1, *cols = c;
}
#endif

/* 4 values of K: rows r0 and r1 against the two interleaved columns. */
static inline __attribute__((always_inline)) void conv_dot_2x2_step(const int8_t **row0,
                                                                    const int8_t **row1,
                                                                    const int32_t **cols,
                                                                    int32_t s[4])
{
    const int32_t *c = *cols;
    uint32_t w = reef_load_u32(*row0);
    int32_t we = reef_sxtb16(w), wo = reef_sxtb16_ror8(w);
    s[0] = reef_smlad(wo, c[1], reef_smlad(we, c[0], s[0]));
    s[1] = reef_smlad(wo, c[3], reef_smlad(we, c[2], s[1]));
    w = reef_load_u32(*row1);
    we = reef_sxtb16(w);
    wo = reef_sxtb16_ror8(w);
    s[2] = reef_smlad(wo, c[1], reef_smlad(we, c[0], s[2]));
    s[3] = reef_smlad(wo, c[3], reef_smlad(we, c[2], s[3]));
    *row0 += 4, *row1 += 4, *cols = c + 4;
}

#if !defined(REEF_ASM_LOOPS)
static inline void conv_dot_2x2_main8(const int8_t **row0, const int8_t **row1,
                                      const int32_t **cols, int32_t n, int32_t s[4])
{
    for (; n > 0; n--) {
        conv_dot_2x2_step(row0, row1, cols, s);
        conv_dot_2x2_step(row0, row1, cols, s);
    }
}
#endif

/* sums[2*r + c] += row_r . col_c over K, the columns widened and
 * interleaved (widen.h); rows are int8 of length k. */
static inline __attribute__((always_inline)) void conv_dot_2x2(const int8_t *row0,
                                                               const int8_t *row1,
                                                               const int32_t *cols, int32_t k,
                                                               int32_t sums[4])
{
    if (k & 4) conv_dot_2x2_step(&row0, &row1, &cols, sums);
    if (k >> 3) conv_dot_2x2_main8(&row0, &row1, &cols, k >> 3, sums);
    if (k & 3) {
        /* the last 1-3 values: the column words hold zeros past K */
        const int32_t we0 = reef_tail_even(row0, k & 3), wo0 = reef_tail_odd(row0, k & 3);
        const int32_t we1 = reef_tail_even(row1, k & 3), wo1 = reef_tail_odd(row1, k & 3);
        sums[0] = reef_smlad(wo0, cols[1], reef_smlad(we0, cols[0], sums[0]));
        sums[1] = reef_smlad(wo0, cols[3], reef_smlad(we0, cols[2], sums[1]));
        sums[2] = reef_smlad(wo1, cols[1], reef_smlad(we1, cols[0], sums[2]));
        sums[3] = reef_smlad(wo1, cols[3], reef_smlad(we1, cols[2], sums[3]));
    }
}

/* Which requantization the four-position loop takes (conv_prepare):
 * CONV_RQ_FOLDED when every channel has post = r - 1 in 1..22 (the low
 * word of C is 0x40000000, and the output offset fits in the high word:
 * dw3x3.c's dw3_out_plain), CONV_RQ_SPLIT when every post is at least 1
 * (the offset added after the shift), else CONV_RQ_PAIRS (rq.h's form; a
 * shift of -1). */
enum { CONV_RQ_PAIRS = 0, CONV_RQ_FOLDED = 1, CONV_RQ_SPLIT = 2 };

/* The forms of the four-position loop a build links, bit CONV_RQ_*: a
 * model header lists only those its layers take (reef_conv_rq_form; each
 * form is about 900 bytes of flash); all without one. A layer whose form
 * is left out takes one exact for more shifts (folded -> split -> rq.h's);
 * with none built it gets REEF_UNSUPPORTED, never a wrong output. */
#ifndef REEF_CONV_RQ_FORMS
#define REEF_CONV_RQ_FORMS 7u
#endif
#define CONV_RQ_BUILT(form) ((REEF_CONV_RQ_FORMS >> (form)) & 1u)
#define CONV_RQ_EXACT(form)                                                              \
    ((form) == CONV_RQ_FOLDED  ? (REEF_CONV_RQ_FORMS & 7u) != 0                        \
     : (form) == CONV_RQ_SPLIT ? (REEF_CONV_RQ_FORMS & 5u) != 0                        \
                               : (REEF_CONV_RQ_FORMS & 1u) != 0)

/* Channel o's requantization constants into *q (a zero multiplier gives 0
 * with any r >= 1: C's high word over 2^post is 0 or 1/2 rounded down, so
 * r = 2 keeps the layer on the folded requantization) and the form the
 * layer can still take after it, from the form so far. Returns 0 in *fast
 * when the channel needs the reference kernel. */
static int conv_rq_channel(const reef_per_channel_quant *quant, const int32_t *bias, int32_t o,
                           int form, reef_rq *q, int *fast)
{
    *fast &= reef_rq_init(q, bias ? bias[o] : 0, quant->multiplier[o], quant->shift[o]);
    if (q->mult == 0) q->c_lo = 0x40000000u, q->c_hi = 1, q->post = 1;
    if (q->post < 1) return CONV_RQ_PAIRS;
    if (q->post > 22 && form == CONV_RQ_FOLDED) return CONV_RQ_SPLIT;
    return form;
}

/* Requantization constants of every channel; 0 when one needs the
 * reference kernel. *kind: the four-position loop's requantization. */
static int conv_prepare(const reef_per_channel_quant *quant, const int32_t *bias, int32_t c_out,
                        reef_rq *rq, int *kind)
{
    int32_t o;
    int fast = 1, k = CONV_RQ_FOLDED;
    for (o = 0; o < c_out; o++) k = conv_rq_channel(quant, bias, o, k, &rq[o], &fast);
    *kind = k;
    return fast;
}

unsigned reef_conv_rq_form(const reef_per_channel_quant *quant, const int32_t *bias, int32_t c_out)
{
    int32_t o;
    int fast = 1, k = CONV_RQ_FOLDED;
    for (o = 0; o < c_out; o++) {
        reef_rq q;
        k = conv_rq_channel(quant, bias, o, k, &q, &fast);
    }
    return 1u << k;
}

#if defined(REEF_ASM_LOOPS)
/* The state of conv_channels_asm, read and written by byte offset. */
typedef struct conv_loop {
    const int8_t *row;  /* 0: the next channel pair's first filter row */
    const reef_rq *rq;  /* 4: its constants */
    int8_t *out;        /* 8: its first output */
    int8_t *end;        /* 12: out past the last pair */
    int32_t k;          /* 16: filter row length, a multiple of 8 */
    int32_t n8;         /* 20: k / 8 */
    const int32_t *cols; /* 24: the widened column pair */
    int32_t gap;        /* 28: between the two positions' outputs */
    int32_t zp;         /* 32: output offset */
} conv_loop;

/* One requantized value in the assembly loops below: sum S (clobbered),
 * the channel's constants at Q (c_lo, c_hi at byte cl) into the pair L, H,
 * with MULT, MIN (0x80000000), POST and ZP in registers; clamped to int8,
 * into H. Operand names as strings. */
#define CONV_RQ_ASM(S, cl, Q, L, H, MULT, MIN, POST, ZP)                       \
    "ldrd %[" L "], %[" H "], [%[" Q "], #" cl "]\n\t"                         \
    "smlal %[" L "], %[" H "], %[" S "], %[" MULT "]\n\t"                      \
    "lsr %[" S "], %[" S "], #31\n\t"                                          \
    "smlal %[" L "], %[" H "], %[" S "], %[" MIN "]\n\t"                       \
    "asr %[" H "], %[" H "], %[" POST "]\n\t"                                  \
    "add %[" H "], %[" H "], %[" ZP "]\n\t"                                    \
    "ssat %[" H "], #8, %[" H "]\n\t"

/* conv_channels_asm and conv_channels_paired_asm: mult in X2, post in X3,
 * MIN in X1, zp in X0, the constants at R1, into T. */
#define CONV_LOOP_RQ(S, cl) CONV_RQ_ASM(S, cl, "R1", "W", "T", "X2", "X1", "X3", "X0")

/* The end of a channel pair in conv_channels_asm and
 * conv_channels_paired_asm, the state at R0 and the constants at R1: A's
 * sums SA0, SA1 and B's SB0, SB1 (positions 0, 1) requantized and stored
 * at out[0], out[gap] and out[1], out[gap + 1], the state moved to the
 * next pair, and back to the pair loop (label 2) until out reaches end. */
#define CONV_PAIR_STORE(SA0, SA1, SB0, SB1)                                    \
    "ldr %[C], [%[R0], #8]\n\t"                                                \
    "ldr %[N], [%[R0], #28]\n\t"                                               \
    "ldr %[X0], [%[R0], #32]\n\t"                                              \
    "mov %[X1], #0x80000000\n\t"                                               \
    "ldr %[X2], [%[R1], #4]\n\t"                                               \
    "ldr %[X3], [%[R1], #16]\n\t"                                              \
    CONV_LOOP_RQ(SA0, "8")                                                     \
    "strb %[T], [%[C]]\n\t"                                                    \
    CONV_LOOP_RQ(SA1, "8")                                                     \
    "strb %[T], [%[C], %[N]]\n\t"                                              \
    "ldr %[X2], [%[R1], #24]\n\t"                                              \
    "ldr %[X3], [%[R1], #36]\n\t"                                              \
    "add %[C], %[C], #1\n\t"                                                   \
    CONV_LOOP_RQ(SB0, "28")                                                    \
    "strb %[T], [%[C]]\n\t"                                                    \
    CONV_LOOP_RQ(SB1, "28")                                                    \
    "strb %[T], [%[C], %[N]]\n\t"                                              \
    "add %[C], %[C], #1\n\t"                                                   \
    "add %[R1], %[R1], #40\n\t"                                                \
    "str %[R1], [%[R0], #4]\n\t"                                               \
    "str %[C], [%[R0], #8]\n\t"                                                \
    "ldr %[X0], [%[R0], #12]\n\t"                                              \
    "cmp %[C], %[X0]\n\t"                                                      \
    "blo 2b\n\t"

/* The operands of conv_channels_asm and conv_channels_paired_asm (their
 * locals s0..s3, r1, c, n, x0..x3, w, t and the state pointer st). */
#define CONV_LOOP_OPERANDS                                                     \
    : [R0] "+r"(st), [S0] "=&r"(s0), [S1] "=&r"(s1), [S2] "=&r"(s2), [S3] "=&r"(s3),        \
      [R1] "=&r"(r1), [C] "=&r"(c), [N] "=&r"(n), [X0] "=&r"(x0), [X1] "=&r"(x1),           \
      [X2] "=&r"(x2), [X3] "=&r"(x3), [W] "=&r"(w), [T] "=&r"(t)                            \
    :                                                                          \
    : "cc", "memory"

/* Every channel pair of a plain 2x2 block row in one assembly loop: the
 * sums start at the bias, 34 instructions per 8 values of K, then the
 * four outputs requantized and stored; the loop state lives in *st (its
 * address pushed on the stack), so all fourteen registers serve the
 * loop. About 60 instructions per pair outside the K loop, against 80
 * for the same work in C around conv_dot_2x2. */
static __attribute__((noinline)) void conv_channels_asm(conv_loop *st)
{
    int32_t s0, s1, s2, s3, r1, c, n, x0, x1, x2, x3, w, t;
    __asm__ volatile(
        "push {%[R0]}\n\t"
        "2:\n\t"
        "ldr %[R1], [%[R0], #4]\n\t"
        "ldr %[S0], [%[R1]]\n\t"
        "mov %[S1], %[S0]\n\t"
        "ldr %[S2], [%[R1], #20]\n\t"
        "mov %[S3], %[S2]\n\t"
        "ldr %[C], [%[R0], #24]\n\t"
        "ldr %[N], [%[R0], #20]\n\t"
        "ldr %[X0], [%[R0], #16]\n\t"
        "ldr %[R0], [%[R0]]\n\t"
        "add %[R1], %[R0], %[X0]\n\t"
        "1:\n\t"
        CONV_LOOP_K4
        CONV_LOOP_K4
        "subs %[N], %[N], #1\n\t"
        "bne 1b\n\t"
        "ldr %[R0], [sp]\n\t"
        "str %[R1], [%[R0]]\n\t"
        "ldr %[R1], [%[R0], #4]\n\t"
        CONV_PAIR_STORE("S0", "S1", "S2", "S3")
        "add sp, sp, #4\n\t"
        CONV_LOOP_OPERANDS);
}
#endif

#if defined(REEF_ASM_LOOPS)
/* 4 values of K of a channel pair in the paired layout (conv.h): the two
 * words of the pair (W, T) against columns X0..X3; S0/S2 the raw sums
 * 256 * B . x + A . x of positions 0/1, S1/S3 A . x. 13 instructions per
 * 16 MACs. */
#define CONV_PAIRED_K4                                                         \
    "ldrd %[X0], %[X1], [%[C]], #8\n\t"                                        \
    "ldrd %[X2], %[X3], [%[C]], #8\n\t"                                        \
    "ldrd %[W], %[T], [%[R0]], #8\n\t"                                         \
    "smlad %[S0], %[W], %[X0], %[S0]\n\t"                                      \
    "smlad %[S2], %[W], %[X2], %[S2]\n\t"                                      \
    "sxtb16 %[W], %[W]\n\t"                                                    \
    "smlad %[S1], %[W], %[X0], %[S1]\n\t"                                      \
    "smlad %[S3], %[W], %[X2], %[S3]\n\t"                                      \
    "smlad %[S0], %[T], %[X1], %[S0]\n\t"                                      \
    "smlad %[S2], %[T], %[X3], %[S2]\n\t"                                      \
    "sxtb16 %[T], %[T]\n\t"                                                    \
    "smlad %[S1], %[T], %[X1], %[S1]\n\t"                                      \
    "smlad %[S3], %[T], %[X3], %[S3]\n\t"

/* conv_channels_asm for the paired layout: every sum starts at A's bias;
 * after the K loop B's sums are B's bias + (raw - A) / 256 (exact, conv.h),
 * then the four outputs are requantized and stored as there. 28
 * instructions per 8 values of K (34 unpaired). */
static __attribute__((noinline)) void conv_channels_paired_asm(conv_loop *st)
{
    int32_t s0, s1, s2, s3, r1, c, n, x0, x1, x2, x3, w, t;
    __asm__ volatile(
        "push {%[R0]}\n\t"
        "2:\n\t"
        "ldr %[R1], [%[R0], #4]\n\t"
        "ldr %[S0], [%[R1]]\n\t"
        "mov %[S1], %[S0]\n\t"
        "mov %[S2], %[S0]\n\t"
        "mov %[S3], %[S0]\n\t"
        "ldr %[C], [%[R0], #24]\n\t"
        "ldr %[N], [%[R0], #20]\n\t"
        "ldr %[R0], [%[R0]]\n\t"
        "1:\n\t"
        CONV_PAIRED_K4
        CONV_PAIRED_K4
        "subs %[N], %[N], #1\n\t"
        "bne 1b\n\t"
        "ldr %[X0], [%[R1], #20]\n\t"
        "sub %[S0], %[S0], %[S1]\n\t"
        "add %[S0], %[X0], %[S0], asr #8\n\t"
        "sub %[S2], %[S2], %[S3]\n\t"
        "add %[S2], %[X0], %[S2], asr #8\n\t"
        "ldr %[X0], [sp]\n\t"
        "str %[R0], [%[X0]]\n\t"
        "mov %[R0], %[X0]\n\t"
        CONV_PAIR_STORE("S1", "S3", "S0", "S2")
        "add sp, sp, #4\n\t"
        CONV_LOOP_OPERANDS);
}
#endif

#if !defined(REEF_ASM_LOOPS)
/* The paired layout in C (hosts; the same arithmetic): sums as
 * conv_dot_2x2's, s[0] = s[1] holding A's bias, s[2] = s[3] B's. */
static void conv_dot_paired(const int8_t *pair, const int32_t *cols, int32_t k, int32_t s[4])
{
    int32_t raw0 = s[0], e0 = s[0], raw1 = s[1], e1 = s[1], i, j;
    for (i = 0; i < k; i += 4, pair += 8, cols += 4)
        for (j = 0; j < 2; j++) {
            const uint32_t w = reef_load_u32(pair + 4 * j);
            raw0 = reef_smlad((int32_t)w, cols[j], raw0);
            raw1 = reef_smlad((int32_t)w, cols[2 + j], raw1);
            e0 = reef_smlad(reef_sxtb16(w), cols[j], e0);
            e1 = reef_smlad(reef_sxtb16(w), cols[2 + j], e1);
        }
    s[0] = e0, s[1] = e1;
    s[2] += (int32_t)((uint32_t)raw0 - (uint32_t)e0) >> 8;
    s[3] += (int32_t)((uint32_t)raw1 - (uint32_t)e1) >> 8;
}
#endif

#if defined(REEF_ASM_LOOPS)
/* One filter word of a channel pair in the paired layout against the
 * column words of four positions at byte offsets o0..o3 from C: R0..R3 the
 * raw sums 256 * B . x + A . x, A0..A3 the A . x sums. 12 instructions per
 * 16 MACs, one filter word read (from flash) per 16 MACs. */
#define CONV_QUAD_WORD(o0, o1, o2, o3)                                         \
    "ldr %[W], [%[P]], #4\n\t"                                                 \
    "ldr %[X], [%[C], #" o0 "]\n\t"                                           \
    "ldr %[Y], [%[C], #" o1 "]\n\t"                                           \
    "smlad %[R0], %[W], %[X], %[R0]\n\t"                                      \
    "smlad %[R1], %[W], %[Y], %[R1]\n\t"                                      \
    "sxtb16 %[E], %[W]\n\t"                                                   \
    "smlad %[A0], %[E], %[X], %[A0]\n\t"                                      \
    "smlad %[A1], %[E], %[Y], %[A1]\n\t"                                      \
    "ldr %[X], [%[C], #" o2 "]\n\t"                                           \
    "ldr %[Y], [%[C], #" o3 "]\n\t"                                           \
    "smlad %[R2], %[W], %[X], %[R2]\n\t"                                      \
    "smlad %[R3], %[W], %[Y], %[R3]\n\t"                                      \
    "smlad %[A2], %[E], %[X], %[A2]\n\t"                                      \
    "smlad %[A3], %[E], %[Y], %[A3]\n\t"
#endif

#if defined(REEF_ASM_LOOPS)
/* The state of conv_channels_quad_paired_asm, read and written by byte
 * offset. */
typedef struct conv_quad {
    const int8_t *row;   /* 0: the next channel pair (2K bytes, paired layout) */
    const reef_rq *rq;   /* 4: its constants */
    int8_t *out;         /* 8: its output at position 0 */
    int8_t *end;         /* 12: out past the last pair */
    int32_t n8;          /* 16: K / 8 */
    const int32_t *cols; /* 20: the four widened columns */
    int32_t gap;         /* 24: C_OUT, between two positions' outputs */
    int32_t zp;          /* 28: output offset */
} conv_quad;

/* conv_channels_quad_paired_asm's requantization: mult in X, post in E,
 * MIN in R3, zp in R2, the constants at Y, into R1. */
#define CONV_QUAD_RQ(S, cl) CONV_RQ_ASM(S, cl, "Y", "R0", "R1", "X", "R3", "E", "R2")

/* Every channel pair of four output positions (paired layout, plain
 * range, rows of K8 values, C_OUT even) in one assembly loop: the eight
 * sums start at A's bias, 116 instructions per 16 values of K (each
 * filter word read once per four positions, where the two-position loop
 * reads it once per two; an odd number of 8 values enters the loop
 * halfway), then B's sums are B's bias + (raw - A) / 256 (exact,
 * conv.h), parked on the stack while A's four outputs are requantized,
 * and the eight outputs stored at out[j * C_OUT] (A) and out[j * C_OUT +
 * 1] (B), position j. The state lives in *st (its address pushed), so all
 * fourteen registers serve the loop; about 110 instructions per pair
 * outside the K loop. */
/* The asm body of conv_channels_quad_paired_asm (below) with the
 * requantization RQ(sum, constants' byte offset) of its channels A and B
 * after SETUP_A and SETUP_B (mult in X, post in E, zp in R2). */
#define CONV_QUAD_ASM(RQ, SETUP_A, SETUP_B)                                 \
        "push {%[X]}\n\t"                                                   \
        /* the pair's row and constants stay in P and Y from one pair to    \
         * the next (P is not the output gap: W is) */                      \
        "ldr %[Y], [%[X], #4]\n\t"                                          \
        "ldr %[P], [%[X]]\n\t"                                              \
        "2:\n\t"                                                            \
        "ldr %[A0], [%[Y]]\n\t"                                             \
        "mov %[A1], %[A0]\n\t"                                              \
        "mov %[A2], %[A0]\n\t"                                              \
        "mov %[A3], %[A0]\n\t"                                              \
        "mov %[R0], %[A0]\n\t"                                              \
        "mov %[R1], %[A0]\n\t"                                              \
        "mov %[R2], %[A0]\n\t"                                              \
        "mov %[R3], %[A0]\n\t"                                              \
        "ldr %[C], [%[X], #20]\n\t"                                         \
        "ldr %[W], [%[X], #16]\n\t"                                         \
        "tst %[W], #1\n\t"                                                  \
        "add %[W], %[P], %[W], lsl #4\n\t"                                  \
        "push {%[W]}\n\t"                                                   \
        /* 16 values of K per pass; an odd count of 8 enters at the second  \
         * half, the columns one half back */                               \
        "it ne\n\t"                                                         \
        "subne %[C], %[C], #64\n\t"                                         \
        "bne 3f\n\t"                                                        \
        "1:\n\t"                                                            \
        CONV_QUAD_WORD("0", "8", "16", "24")                                \
        CONV_QUAD_WORD("4", "12", "20", "28")                               \
        CONV_QUAD_WORD("32", "40", "48", "56")                              \
        CONV_QUAD_WORD("36", "44", "52", "60")                              \
        "3:\n\t"                                                            \
        CONV_QUAD_WORD("64", "72", "80", "88")                              \
        CONV_QUAD_WORD("68", "76", "84", "92")                              \
        CONV_QUAD_WORD("96", "104", "112", "120")                           \
        CONV_QUAD_WORD("100", "108", "116", "124")                          \
        "add %[C], %[C], #128\n\t"                                          \
        "ldr %[W], [sp]\n\t"                                                \
        "cmp %[P], %[W]\n\t"                                                \
        "bne 1b\n\t"                                                        \
        "ldr %[X], [sp, #4]\n\t"                                            \
        "add sp, sp, #4\n\t"                                                \
        "ldr %[Y], [%[X], #4]\n\t"                                          \
        "ldr %[W], [%[Y], #20]\n\t"                                         \
        "sub %[R0], %[R0], %[A0]\n\t"                                       \
        "add %[R0], %[W], %[R0], asr #8\n\t"                                \
        "sub %[R1], %[R1], %[A1]\n\t"                                       \
        "add %[R1], %[W], %[R1], asr #8\n\t"                                \
        "sub %[R2], %[R2], %[A2]\n\t"                                       \
        "add %[R2], %[W], %[R2], asr #8\n\t"                                \
        "sub %[R3], %[R3], %[A3]\n\t"                                       \
        "add %[R3], %[W], %[R3], asr #8\n\t"                                \
        "strd %[R2], %[R3], [sp, #-8]!\n\t"                                 \
        "strd %[R0], %[R1], [sp, #-8]!\n\t"                                 \
        "ldr %[C], [%[X], #8]\n\t"                                          \
        "ldr %[W], [%[X], #24]\n\t"                                         \
        "ldr %[R2], [%[X], #28]\n\t"                                        \
        "ldr %[X], [%[Y], #4]\n\t"                                          \
        "ldr %[E], [%[Y], #16]\n\t"                                         \
        SETUP_A                                                             \
        RQ("A0", "8")                                                       \
        "strb %[R1], [%[C]]\n\t"                                            \
        RQ("A1", "8")                                                       \
        "strb %[R1], [%[C], %[W]]\n\t"                                      \
        "add %[C], %[C], %[W], lsl #1\n\t"                                  \
        RQ("A2", "8")                                                       \
        "strb %[R1], [%[C]]\n\t"                                            \
        RQ("A3", "8")                                                       \
        "strb %[R1], [%[C], %[W]]\n\t"                                      \
        "ldr %[X], [%[Y], #24]\n\t"                                         \
        "ldr %[E], [%[Y], #36]\n\t"                                         \
        SETUP_B                                                             \
        "ldrd %[A0], %[A1], [sp], #8\n\t"                                   \
        "ldrd %[A2], %[A3], [sp], #8\n\t"                                   \
        "add %[C], %[C], #1\n\t"                                            \
        RQ("A2", "28")                                                      \
        "strb %[R1], [%[C]]\n\t"                                            \
        RQ("A3", "28")                                                      \
        "strb %[R1], [%[C], %[W]]\n\t"                                      \
        "sub %[C], %[C], %[W], lsl #1\n\t"                                  \
        RQ("A0", "28")                                                      \
        "strb %[R1], [%[C]]\n\t"                                            \
        RQ("A1", "28")                                                      \
        "strb %[R1], [%[C], %[W]]\n\t"                                      \
        "add %[C], %[C], #1\n\t"                                            \
        "add %[Y], %[Y], #40\n\t"                                           \
        "ldr %[X], [sp]\n\t"                                                \
        "str %[Y], [%[X], #4]\n\t"                                          \
        "str %[C], [%[X], #8]\n\t"                                          \
        "ldr %[W], [%[X], #12]\n\t"                                         \
        "cmp %[C], %[W]\n\t"                                                \
        "blo 2b\n\t"                                                        \
        "add sp, sp, #4\n\t"                                                \

#define CONV_QUAD_OPERANDS                                                  \
        : [X] "+r"(st), [R0] "=&r"(r0), [R1] "=&r"(r1), [R2] "=&r"(r2), [R3] "=&r"(r3),\
          [A0] "=&r"(a0), [A1] "=&r"(a1), [A2] "=&r"(a2), [A3] "=&r"(a3), [W] "=&r"(w),\
          [E] "=&r"(e), [Y] "=&r"(y), [P] "=&r"(pp), [C] "=&r"(c)           \
        :                                                                   \
        : "cc", "memory"

static __attribute__((noinline)) void conv_channels_quad_paired_asm(conv_quad *st)
{
    int32_t r0, r1, r2, r3, a0, a1, a2, a3, w, e, y, pp, c;
    __asm__ volatile(CONV_QUAD_ASM(CONV_QUAD_RQ, "mov %[R3], #0x80000000\n\t", "") CONV_QUAD_OPERANDS);
}

/* conv_channels_quad_paired_asm's folded requantization (as
 * CONV_SMALL8_RQ: every channel's shift -2..-23): S into R1 with the
 * channel's c_hi + zp * 2^post in R3, made by SETUP (zp in R2, post in
 * E, the constants at Y plus cl); 6 instructions per output instead of
 * 9, one of them a 3-cycle LDRD. */
#define CONV_QUAD_RQ_FOLDED(S, cl)                                             \
    "and %[R0], %[" S "], #0x80000000\n\t"                                    \
    "orr %[R0], %[R0], #0x40000000\n\t"                                       \
    "add %[R1], %[R3], %[" S "], asr #31\n\t"                                 \
    "smlal %[R0], %[R1], %[" S "], %[X]\n\t"                                  \
    "asr %[R1], %[R1], %[E]\n\t"                                              \
    "ssat %[R1], #8, %[R1]\n\t"
#define CONV_QUAD_CHI(hi)                                                      \
    "ldr %[R3], [%[Y], #" hi "]\n\t"                                          \
    "lsl %[R1], %[R2], %[E]\n\t"                                              \
    "add %[R3], %[R3], %[R1]\n\t"

static __attribute__((noinline)) void conv_channels_quad_folded_asm(conv_quad *st)
{
    int32_t r0, r1, r2, r3, a0, a1, a2, a3, w, e, y, pp, c;
    __asm__ volatile(CONV_QUAD_ASM(CONV_QUAD_RQ_FOLDED, CONV_QUAD_CHI("12"), CONV_QUAD_CHI("32"))
                         CONV_QUAD_OPERANDS);
}

/* The same for any shift -2..-31 (post 1..30, where zp * 2^post may
 * overflow): c_hi alone in R3, the output offset added after the shift;
 * 7 instructions per output. */
#define CONV_QUAD_RQ_SPLIT(S, cl)                                              \
    "and %[R0], %[" S "], #0x80000000\n\t"                                    \
    "orr %[R0], %[R0], #0x40000000\n\t"                                       \
    "add %[R1], %[R3], %[" S "], asr #31\n\t"                                 \
    "smlal %[R0], %[R1], %[" S "], %[X]\n\t"                                  \
    "asr %[R1], %[R1], %[E]\n\t"                                              \
    "add %[R1], %[R1], %[R2]\n\t"                                             \
    "ssat %[R1], #8, %[R1]\n\t"

static __attribute__((noinline)) void conv_channels_quad_split_asm(conv_quad *st)
{
    int32_t r0, r1, r2, r3, a0, a1, a2, a3, w, e, y, pp, c;
    __asm__ volatile(CONV_QUAD_ASM(CONV_QUAD_RQ_SPLIT, "ldr %[R3], [%[Y], #12]\n\t", "ldr %[R3], [%[Y], #32]\n\t")
                         CONV_QUAD_OPERANDS);
}
#else
/* A channel pair of the paired layout (pair: 2K bytes) against four
 * positions' widened columns (per 4 values of K, 8 words: position j's
 * (x0, x2), (x1, x3) at words 2j, 2j + 1; reef_widen_s8_step with step 8),
 * k a multiple of 8 (K8). Every sum starts at start (A's bias); on return
 * raw[j] = start + 256 * B . x_j + A . x_j and a[j] = start + A . x_j. */
static void conv_dot_quad_paired(const int8_t *pair, const int32_t *cols, int32_t k, int32_t start,
                                 int32_t raw[4], int32_t a[4])
{
    int32_t i, j, q;
    for (q = 0; q < 4; q++) raw[q] = a[q] = start;
    for (i = 0; i < k; i += 4, pair += 8, cols += 8)
        for (j = 0; j < 2; j++) {
            const uint32_t w = reef_load_u32(pair + 4 * j);
            for (q = 0; q < 4; q++) {
                raw[q] = reef_smlad((int32_t)w, cols[2 * q + j], raw[q]);
                a[q] = reef_smlad(reef_sxtb16(w), cols[2 * q + j], a[q]);
            }
        }
}
#endif

/* Every channel pair of four output positions whose widened columns are
 * in cols (conv_dot_quad_paired's layout; paired layout, plain range,
 * rows of K8 values, C_OUT even): each filter word read once per four
 * positions instead of two, out[j * C_OUT + o] for position j. */
static void conv_channels_quad_paired(const conv_job *job, const int32_t *cols, int8_t *out)
{
    const int32_t c_out = job->filter_dims->n, k = job->k, zp = job->params->output_offset;
#if defined(REEF_ASM_LOOPS)
    conv_quad st;
    st.row = job->filter, st.rq = job->rq, st.out = out, st.end = out + c_out, st.n8 = round8(k) >> 3;
    st.cols = cols, st.gap = c_out, st.zp = zp;
    /* a form left out of the build falls back to one that is exact for
     * more shifts (folded -> split -> rq.h's) */
    if (CONV_RQ_BUILT(CONV_RQ_FOLDED) && job->folded == CONV_RQ_FOLDED)
        conv_channels_quad_folded_asm(&st);
    else if (CONV_RQ_BUILT(CONV_RQ_SPLIT) && job->folded != CONV_RQ_PAIRS)
        conv_channels_quad_split_asm(&st);
    else if (CONV_RQ_BUILT(CONV_RQ_PAIRS))
        conv_channels_quad_paired_asm(&st); /* reef_conv_s8 refused the layer otherwise */
#else
    const int8_t *pair = job->filter;
    const reef_rq *rq = job->rq;
    int8_t *const end = out + c_out;
    for (; out < end; out += 2, pair += 2 * round8(k), rq += 2) {
        int32_t raw[4], a[4], b[4], j;
        conv_dot_quad_paired(pair, cols, round8(k), rq[0].bias, raw, a);
        /* B . x = (raw - A . x) / 256, exact (reef_conv_s8_pairable) */
        for (j = 0; j < 4; j++) b[j] = rq[1].bias + ((int32_t)((uint32_t)raw[j] - (uint32_t)a[j]) >> 8);
        reef_rq_store2(a[0], a[1], rq, out, c_out, zp, -128, 127, 1);
        reef_rq_store2(a[2], a[3], rq, out + 2 * c_out, c_out, zp, -128, 127, 1);
        reef_rq_store2(b[0], b[1], rq + 1, out + 1, c_out, zp, -128, 127, 1);
        reef_rq_store2(b[2], b[3], rq + 1, out + 1 + 2 * c_out, c_out, zp, -128, 127, 1);
    }
#endif
}

/* Every channel of two output positions whose widened columns are in cols:
 * out[o] and out[gap + o] (gap = 0: one position, computed twice and
 * stored at the same place). The sums start at the bias. A lone last
 * channel is paired with itself. */
static inline __attribute__((always_inline)) void
conv_channels(const conv_job *job, const int32_t *cols, int8_t *out, int32_t gap, const int plain)
{
    const reef_conv_params *prm = job->params;
    const int32_t c_out = job->filter_dims->n, k = job->k, zp = prm->output_offset;
    const int32_t lo = prm->activation.min, hi = prm->activation.max;
    /* the paired layout runs K8 = K rounded up to 8 (zeros past K) */
    const int32_t k_run = job->paired ? round8(k) : k;
    const int8_t *row = job->filter;
    const reef_rq *rq = job->rq;
    int8_t *const end = out + (c_out & ~1);
#if defined(REEF_ASM_LOOPS)
    if (plain && (k_run & 7) == 0 && k > 0 && out < end) {
        conv_loop st;
        st.row = row, st.rq = rq, st.out = out, st.end = end, st.k = k, st.n8 = k_run >> 3;
        st.cols = cols, st.gap = gap, st.zp = zp;
        if (CONV_PAIRED_BUILT && job->paired)
            conv_channels_paired_asm(&st);
        else if (REEF_CONV_UNPAIRED)
            conv_channels_asm(&st);
        row = st.row, rq = st.rq, out = st.out;
    }
    /* only paired layers here (reef_conv_s8 refused the others): the
     * assembly loop took every channel (C_OUT even, K8 a multiple of 8) */
    if (!REEF_CONV_UNPAIRED) return;
#endif
    for (; out < end; out += 2, row += 2 * k_run, rq += 2) {
        int32_t s[4];
        s[0] = s[1] = rq[0].bias;
        s[2] = s[3] = rq[1].bias;
#if !defined(REEF_ASM_LOOPS)
        /* on the M4 a paired layer never gets here: the assembly loop took it */
        if (job->paired)
            conv_dot_paired(row, cols, k_run, s);
        else
#endif
            conv_dot_2x2(row, row + k, cols, k, s);
        reef_rq_store2(s[0], s[1], rq, out, gap, zp, lo, hi, plain);
        reef_rq_store2(s[2], s[3], rq + 1, out + 1, gap, zp, lo, hi, plain);
    }
    if (c_out & 1) {
        int32_t s[4];
        s[0] = s[1] = s[2] = s[3] = rq[0].bias;
        conv_dot_2x2(row, row, cols, k, s);
        reef_rq_store2(s[0], s[1], rq, out, gap, zp, lo, hi, plain);
    }
}

/* Widens position p's column into dst (reef_widen_s8_step); for the
 * paired layout also the zero group up to K8 (its filter rows run K8
 * values). */
static inline __attribute__((always_inline)) void conv_widen(const conv_job *job, int32_t p, int8_t *gather,
                                                             int32_t *dst, int32_t step)
{
    const int32_t k4 = round4(job->k);
    reef_widen_s8_step(conv_column(job, p, gather), job->k, job->params->input_offset, dst, step);
    if (job->paired && (k4 & 4)) dst[step * (k4 >> 2)] = dst[step * (k4 >> 2) + 1] = 0;
}

/* Output positions p and p + 1 (two = 0: p alone), every channel. plain:
 * the activation range is [-128, 127] (a constant after inlining, so each
 * case gets its own loop). */
static inline __attribute__((always_inline)) void conv_pair(const conv_job *job, int32_t p, int two,
                                                            int32_t *cols, int8_t *gather,
                                                            int8_t *out0, const int plain)
{
    conv_widen(job, p, gather, cols, 4);
    conv_widen(job, two ? p + 1 : p, gather, cols + 2, 4);
    conv_channels(job, cols, out0, two ? job->filter_dims->n : 0, plain);
}

/* Convolutions with a short K (at most 16: 1x1 with few input channels,
 * first layers with one input channel), where the per-output work
 * (requantization, setup) of the 2x2 GEMM would dominate: channel by
 * channel, the channel's filter row widened once into registers and its
 * constants read once, then every position of a run of columns: K4 / 4
 * words of column, two SXTB16 and two SMLADs each, the requantization and
 * one store. The input offset is folded into the bias (sum (x + off) * w =
 * sum x * w + off * sum w, exact modulo 2^32 like the reference's int32
 * accumulator; a padded tap holds -off and still adds 0). Columns are read
 * in place for 1x1 convolutions with stride 1 and no padding (position p's
 * column is input + p * K, K a multiple of 4); otherwise SMALL_BLOCK
 * columns at a time are gathered into scratch, K4 bytes apart, the bytes
 * past K meeting zero filter halfwords. */
static int conv_is_small_direct(const reef_conv_params *p, const reef_dims *in,
                                const reef_dims *f, const reef_dims *out)
{
    const int32_t k = f->h * f->w * f->c;
    return conv_is_direct(p, in, f, out) && (k & 3) == 0 && k <= 16 && p->stride.h == 1 &&
           p->stride.w == 1 && out->h == in->h && out->w == in->w;
}

/* Word i of a filter row of k values, split by SXTB16 (zeros past k; reads
 * only k bytes). */
#define SMALL_WORD(i)                                                          \
    int32_t we##i = 0, wo##i = 0;                                              \
    if (k4 > 4 * (i)) {                                                        \
        if (k >= 4 * (i) + 4) {                                                \
            const uint32_t w = reef_load_u32(row + 4 * (i));                   \
            we##i = reef_sxtb16(w), wo##i = reef_sxtb16_ror8(w);               \
        } else {                                                               \
            we##i = reef_tail_even(row + 4 * (i), k - 4 * (i));                \
            wo##i = reef_tail_odd(row + 4 * (i), k - 4 * (i));                 \
        }                                                                      \
    }
/* Word i of a column into the sum. */
#define SMALL_MAC(i)                                                           \
    if (k4 > 4 * (i)) {                                                        \
        const uint32_t x = reef_load_u32(col + 4 * (i));                       \
        sum = reef_smlad(we##i, reef_sxtb16(x), sum);                          \
        sum = reef_smlad(wo##i, reef_sxtb16_ror8(x), sum);                     \
    }

/* Channel o's requantization constants, out of line: once per channel,
 * and the loop below keeps more registers than with them inlined. */
static __attribute__((noinline)) void conv_channel_rq(const conv_job *job, int32_t o, reef_rq *q)
{
    reef_rq_init(q, job->bias ? job->bias[o] : 0, job->quant->multiplier[o], job->quant->shift[o]);
}

#if defined(REEF_ASM_LOOPS)
/* conv_small8_asm's requantization of ACC into H, exact for a shift r >= 2
 * with the output offset in CHI (rq.h: post = r - 1 <= 22, as dw3x3.c's
 * folded loop): rq.h adds C = 2^30 + c_hi * 2^32 and, for a negative
 * accumulator, INT32_MIN, which for r >= 2 are the low word 0x40000000 or
 * 0xc0000000 (bit 31 of ACC over 0x40000000) and the high word c_hi or
 * c_hi - 1 (ACC >> 31 added): three one-cycle instructions instead of a
 * constant pair's load, a shift and a second SMLAL. */
#define CONV_SMALL8_RQ                                                         \
    "and %[L], %[ACC], #0x80000000\n\t"                                       \
    "orr %[L], %[L], #0x40000000\n\t"                                         \
    "add %[H], %[CHI], %[ACC], asr #31\n\t"                                   \
    "smlal %[L], %[H], %[ACC], %[MULT]\n\t"                                   \
    "asr %[H], %[H], %[POST]\n\t"                                             \
    "ssat %[H], #8, %[H]\n\t"
/* One position's 8 values of K against the filter row's SXTB16 halves in
 * W0..W3, the sum from START into ACC. */
#define CONV_SMALL8_DOT                                                        \
    "ldr %[X], [%[COL]], #4\n\t"                                              \
    "sxtb16 %[L], %[X]\n\t"                                                   \
    "smlad %[ACC], %[W0], %[L], %[START]\n\t"                                 \
    "sxtb16 %[X], %[X], ror #8\n\t"                                           \
    "smlad %[ACC], %[W1], %[X], %[ACC]\n\t"                                   \
    "ldr %[X], [%[COL]], #4\n\t"                                              \
    "sxtb16 %[L], %[X]\n\t"                                                   \
    "smlad %[ACC], %[W2], %[L], %[ACC]\n\t"                                   \
    "sxtb16 %[X], %[X], ror #8\n\t"                                           \
    "smlad %[ACC], %[W3], %[X], %[ACC]\n\t"

/* One channel of a K = 8 1x1 convolution read in place (range [-128,
 * 127]) at positions col .. end (8 bytes each, an even number, at least
 * two), two per pass: outputs out, out + c_out, ...; w: the filter row's
 * SXTB16 halves, start: the bias with the input offset folded in. All 14
 * registers serve the loop: c_out and end wait on the stack. About 23.5
 * modeled cycles per output, against 32 for the C loop. */
static __attribute__((noinline)) void conv_small8_asm(const int8_t *col, const int8_t *end, int8_t *out,
                                                     int32_t c_out, const int32_t w[4], int32_t start,
                                                     int32_t chi, int32_t mult, int32_t post)
{
    int32_t w0 = w[0], w1 = w[1], w2 = w[2], w3 = w[3], acc, h;
    int32_t x = c_out;
    const int8_t *l = end;
    __asm__ volatile("sub sp, sp, #8\n\t"
                     "str %[X], [sp]\n\t"
                     "str %[L], [sp, #4]\n\t"
                     "1:\n\t" CONV_SMALL8_DOT CONV_SMALL8_RQ
                     "strb %[H], [%[OUT]]\n\t" CONV_SMALL8_DOT CONV_SMALL8_RQ
                     "ldr %[X], [sp]\n\t"
                     "ldr %[L], [sp, #4]\n\t"
                     "strb %[H], [%[OUT], %[X]]\n\t"
                     "add %[OUT], %[OUT], %[X], lsl #1\n\t"
                     "cmp %[COL], %[L]\n\t"
                     "blo 1b\n\t"
                     "add sp, sp, #8\n\t"
                     : [COL] "+r"(col), [OUT] "+r"(out), [X] "+r"(x), [L] "+r"(l), [ACC] "=&r"(acc),
                       [H] "=&r"(h), [W0] "+r"(w0), [W1] "+r"(w1), [W2] "+r"(w2), [W3] "+r"(w3),
                       [START] "+r"(start), [CHI] "+r"(chi), [MULT] "+r"(mult), [POST] "+r"(post)
                     :
                     : "cc", "memory");
}
#endif

#if defined(REEF_ASM_LOOPS)
/* CONV_SMALL8_DOT with the column's two words loaded back to back (the
 * second load pipelines) and H as the third temporary. */
#define CONV_SMALL8_DOT2                                                       \
    "ldr %[X], [%[COL]], #4\n\t"                                              \
    "ldr %[L], [%[COL]], #4\n\t"                                              \
    "sxtb16 %[H], %[X]\n\t"                                                   \
    "smlad %[ACC], %[W0], %[H], %[START]\n\t"                                 \
    "sxtb16 %[X], %[X], ror #8\n\t"                                           \
    "smlad %[ACC], %[W1], %[X], %[ACC]\n\t"                                   \
    "sxtb16 %[H], %[L]\n\t"                                                   \
    "smlad %[ACC], %[W2], %[H], %[ACC]\n\t"                                   \
    "sxtb16 %[L], %[L], ror #8\n\t"                                           \
    "smlad %[ACC], %[W3], %[L], %[ACC]\n\t"

/* conv_small8_asm four positions per pass (col .. end: a multiple of 32
 * bytes, at least 32): the loop's end and c_out read from the stack once
 * per two positions instead of once per position pair's every pass, and
 * each column's words loaded back to back: about 20.75 modeled cycles per
 * output against 23.5. */
static __attribute__((noinline)) void conv_small8x4_asm(const int8_t *col, const int8_t *end, int8_t *out,
                                                       int32_t c_out, const int32_t w[4], int32_t start,
                                                       int32_t chi, int32_t mult, int32_t post)
{
    int32_t w0 = w[0], w1 = w[1], w2 = w[2], w3 = w[3], acc, h;
    int32_t x = c_out;
    const int8_t *l = end;
    __asm__ volatile("sub sp, sp, #8\n\t"
                     "str %[X], [sp]\n\t"
                     "str %[L], [sp, #4]\n\t"
                     "1:\n\t" CONV_SMALL8_DOT2 CONV_SMALL8_RQ
                     "strb %[H], [%[OUT]]\n\t" CONV_SMALL8_DOT2 CONV_SMALL8_RQ
                     "ldr %[X], [sp]\n\t"
                     "strb %[H], [%[OUT], %[X]]\n\t"
                     "add %[OUT], %[OUT], %[X], lsl #1\n\t" CONV_SMALL8_DOT2 CONV_SMALL8_RQ
                     "strb %[H], [%[OUT]]\n\t" CONV_SMALL8_DOT2 CONV_SMALL8_RQ
                     "ldr %[X], [sp]\n\t"
                     "ldr %[L], [sp, #4]\n\t"
                     "strb %[H], [%[OUT], %[X]]\n\t"
                     "add %[OUT], %[OUT], %[X], lsl #1\n\t"
                     "cmp %[COL], %[L]\n\t"
                     "blo 1b\n\t"
                     "add sp, sp, #8\n\t"
                     : [COL] "+r"(col), [OUT] "+r"(out), [X] "+r"(x), [L] "+r"(l), [ACC] "=&r"(acc),
                       [H] "=&r"(h), [W0] "+r"(w0), [W1] "+r"(w1), [W2] "+r"(w2), [W3] "+r"(w3),
                       [START] "+r"(start), [CHI] "+r"(chi), [MULT] "+r"(mult), [POST] "+r"(post)
                     :
                     : "cc", "memory");
}
#endif

#if defined(REEF_ASM_LOOPS)
/* Two positions of conv_small8x8_asm: the second output's store waits for
 * c_out from the stack, then OUT steps past both. */
#define CONV_SMALL8_TWO                                                        \
    CONV_SMALL8_DOT2 CONV_SMALL8_RQ "strb %[H], [%[OUT]]\n\t" CONV_SMALL8_DOT2 CONV_SMALL8_RQ \
    "ldr %[X], [sp]\n\t"                                                      \
    "strb %[H], [%[OUT], %[X]]\n\t"                                          \
    "add %[OUT], %[OUT], %[X], lsl #1\n\t"

/* conv_small8x4_asm eight positions per pass (col .. end: a multiple of 64
 * bytes, at least 64): 17 modeled cycles of loop and stack per eight
 * outputs instead of 22 (VWW's 48x48 K = 8 layer: 2,304 positions a
 * channel). */
static __attribute__((noinline)) void conv_small8x8_asm(const int8_t *col, const int8_t *end, int8_t *out,
                                                       int32_t c_out, const int32_t w[4], int32_t start,
                                                       int32_t chi, int32_t mult, int32_t post)
{
    int32_t w0 = w[0], w1 = w[1], w2 = w[2], w3 = w[3], acc, h;
    int32_t x = c_out;
    const int8_t *l = end;
    __asm__ volatile("sub sp, sp, #8\n\t"
                     "str %[X], [sp]\n\t"
                     "str %[L], [sp, #4]\n\t"
                     "1:\n\t" CONV_SMALL8_TWO CONV_SMALL8_TWO CONV_SMALL8_TWO CONV_SMALL8_DOT2 CONV_SMALL8_RQ
                     "strb %[H], [%[OUT]]\n\t" CONV_SMALL8_DOT2 CONV_SMALL8_RQ
                     "ldr %[X], [sp]\n\t"
                     "ldr %[L], [sp, #4]\n\t"
                     "strb %[H], [%[OUT], %[X]]\n\t"
                     "add %[OUT], %[OUT], %[X], lsl #1\n\t"
                     "cmp %[COL], %[L]\n\t"
                     "blo 1b\n\t"
                     "add sp, sp, #8\n\t"
                     : [COL] "+r"(col), [OUT] "+r"(out), [X] "+r"(x), [L] "+r"(l), [ACC] "=&r"(acc),
                       [H] "=&r"(h), [W0] "+r"(w0), [W1] "+r"(w1), [W2] "+r"(w2), [W3] "+r"(w3),
                       [START] "+r"(start), [CHI] "+r"(chi), [MULT] "+r"(mult), [POST] "+r"(post)
                     :
                     : "cc", "memory");
}
#endif

/* Channel o at count positions: columns col_step bytes apart, outputs
 * C_OUT apart. k4: K rounded up to 4, a constant after inlining; exact:
 * K = k4 (then K is a constant too). */
static inline __attribute__((always_inline)) void
conv_small_channel(const conv_job *job, int32_t o, const int8_t *col, int32_t col_step,
                   int32_t count, int8_t *out, const int k4, const int exact, const int plain)
{
    const reef_conv_params *prm = job->params;
    const int32_t c_out = job->filter_dims->n, zp = prm->output_offset, k = exact ? k4 : job->k;
    const int32_t lo = prm->activation.min, hi = prm->activation.max;
    const int8_t *row = job->filter + o * k; /* (K) */
    const int8_t *end = col + count * col_step;
    uint32_t weight_sum;
    int32_t i;
    reef_rq q;
    conv_channel_rq(job, o, &q);
    SMALL_WORD(0)
    SMALL_WORD(1)
    SMALL_WORD(2)
    SMALL_WORD(3)
    if (exact) {
        /* once per channel and layer: the plainest code */
        for (i = 0, weight_sum = 0; i < k; i++) weight_sum += (uint32_t)row[i];
    } else {
        /* once per block of columns: from the halfwords (16 int8 values
         * fit int16; the halfwords past K are 0) */
        int32_t halves = reef_sadd16(we0, wo0);
        if (k4 > 4) halves = reef_sadd16(halves, reef_sadd16(we1, wo1));
        if (k4 > 8) halves = reef_sadd16(halves, reef_sadd16(we2, wo2));
        if (k4 > 12) halves = reef_sadd16(halves, reef_sadd16(we3, wo3));
        weight_sum = (uint32_t)(reef_half_lo(halves) + reef_half_hi(halves));
    }
    /* the sum starts at the bias with the offset folded in */
    const int32_t start = (int32_t)((uint32_t)q.bias + weight_sum * (uint32_t)prm->input_offset);
    q.bias = 0;
#if defined(REEF_ASM_LOOPS)
    /* K = 8 read in place: pairs of positions in assembly when the shift
     * and the output offset fit its requantization (CONV_SMALL8_RQ) */
    if (k4 == 8 && exact && plain && col_step == 8 && count >= 2 && q.post >= 1 && q.post <= 22) {
        const int32_t w[4] = {we0, wo0, we1, wo1};
        const int32_t chi = (int32_t)((uint32_t)q.c_hi + ((uint32_t)zp << q.post));
        const int32_t eights = count >> 3, quads = (count >> 2) & 1, pairs = (count >> 1) & 1;
        if (eights > 0) conv_small8x8_asm(col, col + 64 * eights, out, c_out, w, start, chi, q.mult, q.post);
        col += 64 * eights;
        out += 8 * eights * c_out;
        /* (left out when no call has a count that is not a multiple of 8:
         * such a count's last positions then take the C loop below) */
        if (REEF_CONV_SMALL8_TAIL && quads > 0)
            conv_small8x4_asm(col, col + 32 * quads, out, c_out, w, start, chi, q.mult, q.post);
        col += REEF_CONV_SMALL8_TAIL ? 32 * quads : 0;
        out += REEF_CONV_SMALL8_TAIL ? 4 * quads * c_out : 0;
        if (REEF_CONV_SMALL8_TAIL && pairs) conv_small8_asm(col, col + 16, out, c_out, w, start, chi, q.mult, q.post);
        col += REEF_CONV_SMALL8_TAIL ? 16 * pairs : 0;
        out += REEF_CONV_SMALL8_TAIL ? 2 * pairs * c_out : 0;
    }
#endif
    for (; col < end; col += col_step, out += c_out) {
        int32_t sum = start;
        SMALL_MAC(0)
        SMALL_MAC(1)
        SMALL_MAC(2)
        SMALL_MAC(3)
        *out = plain ? reef_rq_s8_plain(sum, &q, zp) : reef_rq_s8(sum, &q, zp, lo, hi);
    }
}

/* Every channel at count positions, the columns col_step bytes apart. */
static inline __attribute__((always_inline)) void
conv_small_run(const conv_job *job, const int8_t *col, int32_t col_step, int32_t count,
               int8_t *output, const int k4, const int exact, const int plain)
{
    int32_t o;
    for (o = 0; o < job->filter_dims->n; o++)
        conv_small_channel(job, o, col, col_step, count, output + o, k4, exact, plain);
}

static inline __attribute__((always_inline)) void
conv_small_k4(const conv_job *job, int32_t positions, int8_t *block, int8_t *output,
              const int k4, const int plain, const int gathered)
{
    const int32_t c_out = job->filter_dims->n;
    int32_t p0, i;
    if (!gathered) {
        conv_small_run(job, job->input, k4, positions, output, k4, 1, plain);
        return;
    }
    for (i = 0; i < SMALL_BLOCK * k4; i++) block[i] = 0; /* the bytes past K */
    for (p0 = 0; p0 < positions; p0 += SMALL_BLOCK) {
        const int32_t n = positions - p0 < SMALL_BLOCK ? positions - p0 : SMALL_BLOCK;
        for (i = 0; i < n; i++) conv_column(job, p0 + i, block + i * k4);
        conv_small_run(job, block, k4, n, output + p0 * c_out, k4, 0, plain);
    }
}

REEF_SIZE_FN int reef_conv_s8_path(const reef_conv_params *params, const reef_dims *input_dims,
                      const reef_dims *filter_dims, const reef_dims *output_dims)
{
    const int clamped = !(params->activation.min == -128 && params->activation.max == 127);
    const int32_t k4 = round4(filter_dims->h * filter_dims->w * filter_dims->c);
    /* (a build without the loop has no layer that takes it) */
    if (CONV_HAS(CONV_PATH_C3) && conv_is_first(params, input_dims, filter_dims, 3)) return CONV_PATH_C3;
    if (CONV_HAS(CONV_PATH_C2) && conv_is_first(params, input_dims, filter_dims, 2)) return CONV_PATH_C2;
    /* K = 16 with more than one channel: the 2x2 assembly loop beats the
     * short-K loop when the range is plain (VWW's 16->32 1x1 conv: 742,594
     * -> 667,151 instructions; with K = 8 it loses, 997,518 -> 1,129,789) */
    if (!clamped && k4 == 16 && k4 == filter_dims->h * filter_dims->w * filter_dims->c &&
        filter_dims->n >= 2)
        return CONV_PATH_PAIRS;
    if (conv_is_small_direct(params, input_dims, filter_dims, output_dims))
        return CONV_PATH_SMALL + (((k4 >> 2) - 1) * 2 + clamped) * 2;
    if (conv_is_small_gathered(params, input_dims, filter_dims, output_dims))
        return CONV_PATH_SMALL + (((k4 >> 2) - 1) * 2 + clamped) * 2 + 1;
    return clamped ? CONV_PATH_PAIRS_CLAMPED : CONV_PATH_PAIRS;
}

/* Short-K path i = path - CONV_PATH_SMALL: K4 = 4 * (i / 4 + 1), clamped
 * (i / 2) % 2, gathered i % 2; each loop exists only if its bit is set. */
#define CONV_SMALL_CASE(i)                                                                \
    case i:                                                                               \
        if (CONV_HAS(CONV_PATH_SMALL + (i)))                                              \
            conv_small_k4(job, positions, block, output, 4 * ((i) / 4 + 1), !(((i) >> 1) & 1), \
                          (i) & 1);                                                       \
        break;

static __attribute__((noinline)) void conv_small(const conv_job *job, int path, int32_t positions, int8_t *block,
                       int8_t *output)
{
    switch (path - CONV_PATH_SMALL) {
        CONV_SMALL_CASE(0) CONV_SMALL_CASE(1) CONV_SMALL_CASE(2) CONV_SMALL_CASE(3)
        CONV_SMALL_CASE(4) CONV_SMALL_CASE(5) CONV_SMALL_CASE(6) CONV_SMALL_CASE(7)
        CONV_SMALL_CASE(8) CONV_SMALL_CASE(9) CONV_SMALL_CASE(10) CONV_SMALL_CASE(11)
        CONV_SMALL_CASE(12) CONV_SMALL_CASE(13) CONV_SMALL_CASE(14) CONV_SMALL_CASE(15)
    default: break;
    }
}

/* The output positions in order without a division per position: the
 * layer's geometry read once from its (flash) descriptors, the position's
 * coordinates stepped along. */
typedef struct conv_walk {
    const int8_t *input;
    int32_t in_h, in_w, c_in, sy, sx, py, px, out_h, out_w;
    int32_t kh, run, row_bytes; /* filter rows, bytes per filter row, per input row */
    int32_t b, oy, ox;          /* the next position */
    int plain;                  /* dilation 1: a filter row is one contiguous run */
} conv_walk;

static void conv_walk_init(conv_walk *w, const conv_job *job)
{
    const reef_conv_params *prm = job->params;
    const reef_dims *in = job->input_dims, *f = job->filter_dims;
    w->input = job->input;
    w->in_h = in->h, w->in_w = in->w, w->c_in = in->c;
    w->sy = prm->stride.h, w->sx = prm->stride.w, w->py = prm->padding.h, w->px = prm->padding.w;
    w->out_h = job->output_dims->h, w->out_w = job->output_dims->w;
    w->kh = f->h, w->run = f->w * in->c, w->row_bytes = in->w * in->c;
    w->b = w->oy = w->ox = 0;
    w->plain = prm->dilation.h == 1 && prm->dilation.w == 1;
}

/* Position p's column (p: the walk's next position), as conv_column:
 * in place for 1x1 convolutions, gathered row by row when the whole
 * window is inside the input, else by conv_column; the walk steps on. */
static inline __attribute__((always_inline)) const int8_t *conv_walk_column(conv_walk *w, const conv_job *job,
                                                                             int32_t p, int8_t *buf)
{
    const int32_t y0 = w->oy * w->sy - w->py, x0 = w->ox * w->sx - w->px;
    const int8_t *col;
    if (job->direct)
        col = w->input + ((w->b * w->in_h + y0) * w->in_w + x0) * w->c_in;
    else if (w->plain && y0 >= 0 && x0 >= 0 && y0 + w->kh <= w->in_h && x0 * w->c_in + w->run <= w->row_bytes) {
        const int8_t *src = w->input + ((w->b * w->in_h + y0) * w->in_w + x0) * w->c_in;
        int8_t *dst = buf;
        int32_t ky;
        for (ky = 0; ky < w->kh; ky++, src += w->row_bytes, dst += w->run) reef_copy_s8(dst, src, w->run);
        col = buf;
    } else
        col = conv_column(job, p, buf);
    if (++w->ox == w->out_w) {
        w->ox = 0;
        if (++w->oy == w->out_h) w->oy = 0, w->b++;
    }
    return col;
}

static __attribute__((noinline)) void conv_pairs_plain(const conv_job *job, int32_t positions, int32_t *cols, int8_t *gather,
                             int8_t *output)
{
    const int32_t c_out = job->filter_dims->n, k = job->k, k4 = round4(k);
    const int32_t offset = job->params->input_offset;
    int32_t p = 0, j;
    if (CONV_PAIRED_BUILT && job->paired) {
        /* four positions at a time, the rest two at a time */
        conv_walk w;
        conv_walk_init(&w, job);
        for (; p + 4 <= positions; p += 4) {
            for (j = 0; j < 4; j++) {
                int32_t *dst = cols + 2 * j;
                reef_widen_s8_step(conv_walk_column(&w, job, p + j, gather), k, offset, dst, 8);
                /* the zero group up to K8 (conv_widen) */
                if (k4 & 4) dst[8 * (k4 >> 2)] = dst[8 * (k4 >> 2) + 1] = 0;
            }
            conv_channels_quad_paired(job, cols, output + p * c_out);
        }
    }
    /* reef_conv_s8 refused unpaired layers and paired ones whose count is
     * not a multiple of 4 when both are left out */
    if (!REEF_CONV_UNPAIRED && !REEF_CONV_PAIRED_TAIL) return;
    for (; p < positions; p += 2)
        conv_pair(job, p, p + 1 < positions, cols, gather, output + p * c_out, 1);
}

/* Channel pairs [o, o + n) of the four positions whose columns are in
 * cols, the pairs' weights at row (scratch): out[j * C_OUT + o'] for
 * position j. conv_channels_quad_paired for a run of pairs. */
static void conv_quad_pairs(const conv_job *job, const int8_t *row, int32_t o, int32_t n, const int32_t *cols,
                            int8_t *out)
{
    const int32_t c_out = job->filter_dims->n, k = job->k, zp = job->params->output_offset;
#if defined(REEF_ASM_LOOPS)
    conv_quad st;
    st.row = row, st.rq = job->rq + o, st.out = out + o, st.end = out + o + 2 * n, st.n8 = round8(k) >> 3;
    st.cols = cols, st.gap = c_out, st.zp = zp;
    if (CONV_RQ_BUILT(CONV_RQ_FOLDED) && job->folded == CONV_RQ_FOLDED)
        conv_channels_quad_folded_asm(&st);
    else if (CONV_RQ_BUILT(CONV_RQ_SPLIT) && job->folded != CONV_RQ_PAIRS)
        conv_channels_quad_split_asm(&st);
    else if (CONV_RQ_BUILT(CONV_RQ_PAIRS))
        conv_channels_quad_paired_asm(&st);
#else
    const reef_rq *rq = job->rq + o;
    int8_t *const end = out + o + 2 * n;
    for (out += o; out < end; out += 2, row += 2 * round8(k), rq += 2) {
        int32_t raw[4], a[4], b[4], j;
        conv_dot_quad_paired(row, cols, round8(k), rq[0].bias, raw, a);
        for (j = 0; j < 4; j++) b[j] = rq[1].bias + ((int32_t)((uint32_t)raw[j] - (uint32_t)a[j]) >> 8);
        reef_rq_store2(a[0], a[1], rq, out, c_out, zp, -128, 127, 1);
        reef_rq_store2(a[2], a[3], rq, out + 2 * c_out, c_out, zp, -128, 127, 1);
        reef_rq_store2(b[0], b[1], rq + 1, out + 1, c_out, zp, -128, 127, 1);
        reef_rq_store2(b[2], b[3], rq + 1, out + 1 + 2 * c_out, c_out, zp, -128, 127, 1);
    }
#endif
}

/* The resident path (reef_conv_s8_resident): every block's columns
 * widened once into cols (blocks 2 K8 words apart, conv_pairs_plain's
 * layout), then CONV_RESIDENT_PAIRS channel pairs at a time copied to
 * weights and run over every block; the last one to three positions two
 * at a time (conv_pair, from flash). */
static __attribute__((noinline)) void conv_pairs_resident(const conv_job *job, int32_t positions, int32_t *cols,
                                                          int8_t *weights, int8_t *gather, int8_t *output)
{
    const int32_t c_out = job->filter_dims->n, k = job->k, k4 = round4(k), k8 = round8(k);
    const int32_t offset = job->params->input_offset, blocks = positions >> 2, block_words = 2 * k8;
    int32_t b, j, o, p;
    conv_walk w;
    conv_walk_init(&w, job);
    for (b = 0; b < blocks; b++)
        for (j = 0; j < 4; j++) {
            int32_t *dst = cols + b * block_words + 2 * j;
            reef_widen_s8_step(conv_walk_column(&w, job, 4 * b + j, gather), k, offset, dst, 8);
            if (k4 & 4) dst[8 * (k4 >> 2)] = dst[8 * (k4 >> 2) + 1] = 0; /* the zero group up to K8 */
        }
    for (o = 0; o < c_out; o += 2 * CONV_RESIDENT_PAIRS) {
        const int32_t n = (c_out - o) / 2 < CONV_RESIDENT_PAIRS ? (c_out - o) / 2 : CONV_RESIDENT_PAIRS;
        reef_copy_s8(weights, job->filter + o * k8, 2 * n * k8);
        for (b = 0; b < blocks; b++)
            conv_quad_pairs(job, weights, o, n, cols + b * block_words, output + 4 * b * c_out);
    }
    for (p = 4 * blocks; p < positions; p += 2)
        conv_pair(job, p, p + 1 < positions, cols, gather, output + p * c_out, 1);
}

static __attribute__((noinline)) void conv_pairs_clamped(const conv_job *job, int32_t positions, int32_t *cols,
                               int8_t *gather, int8_t *output)
{
    int32_t p;
    for (p = 0; p < positions; p += 2)
        conv_pair(job, p, p + 1 < positions, cols, gather, output + p * job->filter_dims->n, 0);
}

/* ---- first convolutions: 3x3 over 2 or 3 channels at stride 2 (conv_is_first) ----
 * The 2x2 loop gathers and widens each position's 9 C values (run as K8)
 * before its channel pairs use them; with 8 output channels that costs
 * more than the MACs (VWW's first conv: 3.74 modeled cycles per MAC; the
 * fish net's 2-channel one, r64-c8e2 step 1: 3.9 instructions per MAC).
 * Here each input row is widened once to int16 (input offset added,
 * padding 0) in natural order into one of three row buffers (row y in
 * slot y mod 3, so a row two output rows share is widened once). At
 * stride 2 over C channels, position ox's window in a widened row starts
 * at halfword 2 C ox, a word boundary: its 3 C values are read in place as
 * FIRST_WORDS(C) words (C = 3: the tenth halfword meets a zero weight),
 * nothing gathered. The filter is made int16 once per call: per 4
 * channels, filter row and word, 4 words (one a channel). Two positions
 * by four channels at a time: FIRST_KWORDS(C) x (2 column words, 4 filter
 * words, 8 SMLADs), then rq.h's requantization. Scratch: (C_OUT) rq
 * constants, (C_OUT, FIRST_KWORDS(C)) filter words, 3 rows of
 * conv_first_row_halves halfwords. C = 3 and C = 2 are two paths (bits
 * REEF_CONV_PATH_C3 and REEF_CONV_PATH_C2), each compiled from one body
 * with C a constant, so a firmware links only the one its model takes. */

/* Input row y of batch b widened into dst (halves halfwords): halfword h
 * holds input value h - C px of the row plus the offset, 0 outside the
 * input (padding, and rows above or below it). */
static inline __attribute__((always_inline)) void conv_first_row(const conv_job *job, int32_t b, int32_t y,
                                                                 int32_t *dst, int32_t halves, const int32_t c)
{
    const reef_dims *in = job->input_dims;
    const int32_t off = job->params->input_offset, lead = c * job->params->padding.w;
    const int inside = y >= 0 && y < in->h;
    const int8_t *row = job->input + (b * in->h + (inside ? y : 0)) * in->w * c;
    int32_t end = inside ? lead + c * in->w : 0, h = 0; /* values at halfwords [lead, end) */
    if (end > halves) end = halves;
    if ((lead & 1) == 0 && lead <= end) {
        const int32_t off2 = (int32_t)(((uint32_t)off & 0xffffu) | ((uint32_t)off << 16));
        for (; h < lead; h += 2) *dst++ = 0;
        /* 4 values a word: (x0, x2) and (x1, x3) by SXTB16, repacked */
        for (; h + 4 <= end; h += 4) {
            const uint32_t v = reef_load_u32(row + h - lead);
            const uint32_t e = (uint32_t)reef_sadd16(reef_sxtb16(v), off2);
            const uint32_t o = (uint32_t)reef_sadd16(reef_sxtb16_ror8(v), off2);
            dst[0] = (int32_t)((e & 0xffffu) | (o << 16));
            dst[1] = (int32_t)((e >> 16) | (o & 0xffff0000u));
            dst += 2;
        }
    }
    /* the rest (all of it with an odd left padding), a pair at a time */
    for (; h < halves; h += 2) {
        const int32_t v0 = h >= lead && h < end ? row[h - lead] + off : 0;
        const int32_t v1 = h + 1 >= lead && h + 1 < end ? row[h + 1 - lead] + off : 0;
        *dst++ = (int32_t)(((uint32_t)v0 & 0xffffu) | ((uint32_t)v1 << 16));
    }
}

/* The filter (C_OUT, 3, 3, C) as conv_first's int16 words into w16. */
static inline __attribute__((always_inline)) void conv_first_filter(const int8_t *filter, int32_t c_out,
                                                                    int32_t *w16, const int32_t c)
{
    int32_t q, ky, i, j;
    for (q = 0; q < c_out; q += 4)
        for (ky = 0; ky < 3; ky++)
            for (i = 0; i < FIRST_WORDS(c); i++)
                for (j = 0; j < 4; j++) {
                    const int8_t *f = filter + (q + j) * 9 * c + 3 * c * ky;
                    const int32_t lo = f[2 * i], hi = 2 * i + 1 < 3 * c ? f[2 * i + 1] : 0;
                    *w16++ = (int32_t)(((uint32_t)lo & 0xffffu) | ((uint32_t)hi << 16));
                }
}

#if defined(REEF_ASM_LOOPS)
/* The sums of conv_first_block_asm, read and written by byte offset. */
typedef struct conv_c3_block {
    const int32_t *c[3]; /* 0, 4, 8: position 0's window in each filter row's widened input row */
    const int32_t *w;    /* 12: the four channels' filter words */
    int32_t s[8];        /* 16: the sums of channels 0-3 at position 0, then at position 1 */
    const reef_rq *rq;   /* 48: the four channels' constants (the sums start at their biases) */
} conv_c3_block;

/* the assembly reads the biases 20 bytes apart */
typedef char conv_c3_rq_is_20_bytes[sizeof(reef_rq) == 20 ? 1 : -1];

/* Word i of a filter row on the M4: X and Y the two positions' column
 * words, E and P two filter words; 17 modeled cycles per 8 SMLADs. */
#define C3_ASM_WORD(i, i1)                                                     \
    "ldr %[X], [%[C], #" i "]\n\t"                                             \
    "ldr %[Y], [%[C], #" i1 "]\n\t"                                            \
    "ldrd %[E], %[P], [%[W]], #8\n\t"                                         \
    "smlad %[A0], %[E], %[X], %[A0]\n\t"                                      \
    "smlad %[B0], %[E], %[Y], %[B0]\n\t"                                      \
    "smlad %[A1], %[P], %[X], %[A1]\n\t"                                      \
    "smlad %[B1], %[P], %[Y], %[B1]\n\t"                                      \
    "ldrd %[E], %[P], [%[W]], #8\n\t"                                         \
    "smlad %[A2], %[E], %[X], %[A2]\n\t"                                      \
    "smlad %[B2], %[E], %[Y], %[B2]\n\t"                                      \
    "smlad %[A3], %[P], %[X], %[A3]\n\t"                                      \
    "smlad %[B3], %[P], %[Y], %[B3]\n\t"
/* A filter row: 5 words, the second position 12 bytes on (C = 3), or 3
 * words, 8 bytes on (C = 2). */
#define C3_ASM_ROW                                                             \
    C3_ASM_WORD("0", "12") C3_ASM_WORD("4", "16") C3_ASM_WORD("8", "20")       \
    C3_ASM_WORD("12", "24") C3_ASM_WORD("16", "28")
#define C2_ASM_ROW C3_ASM_WORD("0", "8") C3_ASM_WORD("4", "12") C3_ASM_WORD("8", "16")

/* The three filter rows of two positions by four channels: all fourteen
 * registers serve the sums and operands (the state's address is pushed,
 * its register a column word meanwhile). */
#define CONV_FIRST_BLOCK_ASM(ROW)                                                                        \
    int32_t a0, a1, a2, a3, b0, b1, b2, b3, w, c, y, e, pp;                                              \
    __asm__ volatile("push {%[X]}\n\t"                                                                   \
                     "ldr %[C], [%[X], #48]\n\t"                                                         \
                     "ldr %[W], [%[X], #12]\n\t"                                                         \
                     "ldr %[A0], [%[C], #0]\n\t"                                                         \
                     "ldr %[A1], [%[C], #20]\n\t"                                                        \
                     "ldr %[A2], [%[C], #40]\n\t"                                                        \
                     "ldr %[A3], [%[C], #60]\n\t"                                                        \
                     "mov %[B0], %[A0]\n\t"                                                              \
                     "mov %[B1], %[A1]\n\t"                                                              \
                     "mov %[B2], %[A2]\n\t"                                                              \
                     "mov %[B3], %[A3]\n\t"                                                              \
                     "ldr %[C], [%[X], #0]\n\t"                                                          \
                     ROW                                                                                 \
                     "ldr %[X], [sp]\n\t"                                                                \
                     "ldr %[C], [%[X], #4]\n\t"                                                          \
                     ROW                                                                                 \
                     "ldr %[X], [sp]\n\t"                                                                \
                     "ldr %[C], [%[X], #8]\n\t"                                                          \
                     ROW                                                                                 \
                     "pop {%[X]}\n\t"                                                                    \
                     "str %[W], [%[X], #12]\n\t"                                                         \
                     "strd %[A0], %[A1], [%[X], #16]\n\t"                                                \
                     "strd %[A2], %[A3], [%[X], #24]\n\t"                                                \
                     "strd %[B0], %[B1], [%[X], #32]\n\t"                                                \
                     "strd %[B2], %[B3], [%[X], #40]\n\t"                                                \
                     : [X] "+r"(st), [A0] "=&r"(a0), [A1] "=&r"(a1), [A2] "=&r"(a2), [A3] "=&r"(a3),   \
                       [B0] "=&r"(b0), [B1] "=&r"(b1), [B2] "=&r"(b2), [B3] "=&r"(b3), [W] "=&r"(w),    \
                       [C] "=&r"(c), [Y] "=&r"(y), [E] "=&r"(e), [P] "=&r"(pp)                          \
                     :                                                                                   \
                     : "cc", "memory")

static inline __attribute__((always_inline)) void conv_first_block_asm(conv_c3_block *st, const int32_t cin)
{
    if (cin == 3) {
        CONV_FIRST_BLOCK_ASM(C3_ASM_ROW);
    } else {
        CONV_FIRST_BLOCK_ASM(C2_ASM_ROW);
    }
}
#endif

/* Word i of a filter row: the two positions' column words (c, c1) against
 * the four channels' filter words. */
#define C3_WORD(i)                                                             \
    {                                                                          \
        const int32_t x0 = c[i], x1 = c1[i];                                   \
        a0 = reef_smlad(w[4 * (i)], x0, a0), b0 = reef_smlad(w[4 * (i)], x1, b0);             \
        a1 = reef_smlad(w[4 * (i) + 1], x0, a1), b1 = reef_smlad(w[4 * (i) + 1], x1, b1);     \
        a2 = reef_smlad(w[4 * (i) + 2], x0, a2), b2 = reef_smlad(w[4 * (i) + 2], x1, b2);     \
        a3 = reef_smlad(w[4 * (i) + 3], x0, a3), b3 = reef_smlad(w[4 * (i) + 3], x1, b3);     \
    }

/* The whole layer (C input channels, a constant in each caller): the
 * filter made int16 into w16, then the rows. */
static inline __attribute__((always_inline)) void conv_first(const conv_job *job, int32_t *w16, int8_t *output,
                                                             const int32_t cin)
{
    const reef_dims *out = job->output_dims;
    const int32_t c_out = job->filter_dims->n, zp = job->params->output_offset;
    const int32_t sy = job->params->stride.h, py = job->params->padding.h;
    const int32_t halves = conv_first_row_halves(out, cin), words = halves >> 1;
    int32_t *const rows = w16 + FIRST_KWORDS(cin) * c_out;
    int32_t b, oy, ox, q, ky;
    conv_first_filter(job->filter, c_out, w16, cin);
    for (b = 0; b < out->n; b++) {
        int32_t held[3] = {INT32_MIN, INT32_MIN, INT32_MIN}; /* the input row each slot holds */
        for (oy = 0; oy < out->h; oy++) {
            const int32_t *r[3];
            int8_t *o = output + (b * out->h + oy) * out->w * c_out;
            for (ky = 0; ky < 3; ky++) {
                const int32_t y = oy * sy - py + ky, slot = ((y % 3) + 3) % 3;
                if (held[slot] != y) conv_first_row(job, b, y, rows + slot * words, halves, cin), held[slot] = y;
                r[ky] = rows + slot * words;
            }
            for (ox = 0; ox < out->w; ox += 2, o += 2 * c_out) {
                /* a lone last position: the second window (past the
                 * output, inside the row buffer) is computed, not stored */
                const int32_t gap = ox + 1 < out->w ? c_out : 0;
                const reef_rq *rq = job->rq;
#if defined(REEF_ASM_LOOPS)
                conv_c3_block st;
                st.c[0] = r[0] + cin * ox, st.c[1] = r[1] + cin * ox, st.c[2] = r[2] + cin * ox, st.w = w16;
                for (q = 0; q < c_out; q += 4, rq += 4) {
                    int32_t *const a = st.s, *const b = st.s + 4;
                    st.rq = rq;
                    conv_first_block_asm(&st, cin);
                    if (!gap) b[0] = a[0], b[1] = a[1], b[2] = a[2], b[3] = a[3];
                    if (cin == 2) {
                        /* the fish firmware's path: one requantization
                         * looped over the four channels (-570 B of code
                         * for ~4 instructions a channel) */
                        for (int32_t j = 0; j < 4; j++)
                            reef_rq_store2(a[j], b[j], rq + j, o + q + j, gap, zp, -128, 127, 1);
                        continue;
                    }
                    reef_rq_store2(a[0], b[0], rq, o + q, gap, zp, -128, 127, 1);
                    reef_rq_store2(a[1], b[1], rq + 1, o + q + 1, gap, zp, -128, 127, 1);
                    reef_rq_store2(a[2], b[2], rq + 2, o + q + 2, gap, zp, -128, 127, 1);
                    reef_rq_store2(a[3], b[3], rq + 3, o + q + 3, gap, zp, -128, 127, 1);
                }
#else
                const int32_t *w = w16;
                for (q = 0; q < c_out; q += 4, rq += 4) {
                    int32_t a0 = rq[0].bias, a1 = rq[1].bias, a2 = rq[2].bias, a3 = rq[3].bias;
                    int32_t b0 = a0, b1 = a1, b2 = a2, b3 = a3;
                    for (ky = 0; ky < 3; ky++, w += 4 * FIRST_WORDS(cin)) {
                        const int32_t *c = r[ky] + cin * ox, *c1 = c + cin;
                        C3_WORD(0) C3_WORD(1) C3_WORD(2)
                        if (cin == 3) {
                            C3_WORD(3) C3_WORD(4)
                        }
                    }
                    if (!gap) b0 = a0, b1 = a1, b2 = a2, b3 = a3;
                    reef_rq_store2(a0, b0, rq, o + q, gap, zp, -128, 127, 1);
                    reef_rq_store2(a1, b1, rq + 1, o + q + 1, gap, zp, -128, 127, 1);
                    reef_rq_store2(a2, b2, rq + 2, o + q + 2, gap, zp, -128, 127, 1);
                    reef_rq_store2(a3, b3, rq + 3, o + q + 3, gap, zp, -128, 127, 1);
                }
#endif
            }
        }
    }
}

static __attribute__((noinline)) void conv_c3(const conv_job *job, int32_t *w16, int8_t *output)
{
    conv_first(job, w16, output, 3);
}

static __attribute__((noinline)) void conv_c2(const conv_job *job, int32_t *w16, int8_t *output)
{
    conv_first(job, w16, output, 2);
}

/* 1 when the fast requantization is exact for every channel (rq.h). */
static int conv_quant_fast(const reef_per_channel_quant *quant, int32_t c_out)
{
    int32_t o;
    int fast = 1;
    reef_rq q;
    for (o = 0; o < c_out; o++) fast &= reef_rq_init(&q, 0, quant->multiplier[o], quant->shift[o]);
    return fast;
}

int reef_conv_s8_needs_reference(const reef_conv_params *params,
                                 const reef_per_channel_quant *quant, const reef_dims *filter_dims)
{
    int32_t o;
    if (params->input_offset < -127 || params->input_offset > 128) return 1;
    for (o = 0; o < filter_dims->n; o++)
        if (quant->multiplier[o] != 0 && (quant->shift[o] >= 0 || quant->shift[o] < -31)) return 1;
    return 0;
}

REEF_SIZE_FN reef_status reef_conv_s8(const reef_context *ctx, const reef_conv_params *params,
                         const reef_per_channel_quant *quant,
                         const reef_dims *input_dims, const int8_t *input,
                         const reef_dims *filter_dims, const int8_t *filter,
                         const int32_t *bias,
                         const reef_dims *output_dims, int8_t *output)
{
    conv_job job;
    reef_rq *rq;        /* (C_OUT) */
    int32_t *cols;      /* (K4 / 4, 2 or 4, 2) widened columns */
    int8_t *gather;     /* (K4) */
    int32_t positions, k4, need;
    int path, fast, resident = 0;
    if (!reef_conv_args_valid(params, quant, input_dims, input, filter_dims, filter,
                              output_dims, output) || !ctx)
        return REEF_ARG_ERROR;
    /* the least this call needs: a view of a layer (an intermittent
     * tile) may suit the resident path where the scratch planned for the
     * whole layer does not hold its columns; it then takes the plain loop */
    need = conv_buffer_size(params, input_dims, filter_dims, output_dims, 0);
    if ((need > 0 && !ctx->buf) || ctx->size < need) return REEF_ARG_ERROR;
    job.params = params;
    job.input_dims = input_dims;
    job.filter_dims = filter_dims;
    job.output_dims = output_dims;
    job.input = input;
    job.filter = filter;
    job.k = filter_dims->h * filter_dims->w * filter_dims->c;
    job.direct = conv_is_direct(params, input_dims, filter_dims, output_dims);
    job.quant = quant;
    job.bias = bias;
    job.paired = params->paired;
    job.folded = 0;
    k4 = round4(job.k);
    path = reef_conv_s8_path(params, input_dims, filter_dims, output_dims);
    /* the paired layout runs only on the plain 2x2 loop, never the reference */
    if (params->paired && (path != CONV_PATH_PAIRS || (filter_dims->n & 1) ||
                           !conv_quant_fast(quant, filter_dims->n)))
        return REEF_ARG_ERROR;
    if (params->paired && !CONV_PAIRED_BUILT) return REEF_UNSUPPORTED; /* left out of this build */
    if (!params->paired && path < CONV_PATH_SMALL && !REEF_CONV_UNPAIRED) return REEF_UNSUPPORTED; /* ditto */
    if ((CONV_HAS(CONV_PATH_C3) && path == CONV_PATH_C3) || (CONV_HAS(CONV_PATH_C2) && path == CONV_PATH_C2)) {
        rq = (reef_rq *)ctx->buf;
        cols = (int32_t *)(rq + filter_dims->n); /* the int16 filter, then the rows */
        gather = 0;
        fast = conv_prepare(quant, bias, filter_dims->n, rq, &job.folded);
    } else if (path >= CONV_PATH_SMALL) {
        /* channel by channel: constants made per channel, no table */
        rq = 0;
        cols = 0;
        gather = 0;
        fast = conv_quant_fast(quant, filter_dims->n);
    } else {
        rq = (reef_rq *)ctx->buf;
        cols = (int32_t *)(rq + filter_dims->n);
        gather = (int8_t *)(cols + (conv_may_pair(filter_dims) ? 2 * round8(k4) : k4));
        resident = CONV_HAS(CONV_PATH_RESIDENT) && params->paired &&
                   reef_conv_s8_resident(params, input_dims, filter_dims, output_dims) &&
                   ctx->size >= conv_buffer_size(params, input_dims, filter_dims, output_dims, 1);
        if (resident)
            gather = (int8_t *)cols + conv_resident_cols(filter_dims, output_dims) + conv_resident_weights(filter_dims);
        else if (CONV_HAS(CONV_PATH_WEIGHTS) && params->paired) {
            /* the filter copied once after the plain loop's buffers */
            const int32_t weights = reef_conv_s8_weights_buffer_size(params, input_dims, filter_dims, output_dims);
            if (weights > 0 && ctx->size >= weights) {
                int8_t *copy = (int8_t *)ctx->buf + need;
                conv_copy_filter(copy, filter, weights - need);
                job.filter = copy;
            }
        }
        fast = conv_prepare(quant, bias, filter_dims->n, rq, &job.folded);
#if defined(REEF_ASM_LOOPS)
        if (fast && !CONV_RQ_EXACT(job.folded)) return REEF_UNSUPPORTED; /* its form left out of this build */
#endif
    }
    job.rq = rq;
    if (params->input_offset < -127 || params->input_offset > 128 || !fast)
#if defined(REEF_NO_REFERENCE_KERNELS)
        return REEF_UNSUPPORTED;
#else
        return reef_conv_s8_ref(ctx, params, quant, input_dims, input, filter_dims, filter, bias,
                                output_dims, output);
#endif
    positions = output_dims->n * output_dims->h * output_dims->w;
    if (!CONV_HAS(path)) return REEF_UNSUPPORTED; /* left out of this build */
    if (path == CONV_PATH_PAIRS && !REEF_CONV_UNPAIRED && !REEF_CONV_PAIRED_TAIL && (positions & 3)) return REEF_UNSUPPORTED; /* ditto */
    if (CONV_HAS(CONV_PATH_C3) && path == CONV_PATH_C3)
        conv_c3(&job, cols, output);
    else if (CONV_HAS(CONV_PATH_C2) && path == CONV_PATH_C2)
        conv_c2(&job, cols, output);
    else if (path >= CONV_PATH_SMALL)
        conv_small(&job, path, positions, (int8_t *)ctx->buf /* (SMALL_BLOCK, K4), when gathered */, output);
    else if (path == CONV_PATH_PAIRS) {
        if (resident) {
            /* the weights between the columns and the gathered column */
            conv_pairs_resident(&job, positions, cols, (int8_t *)cols + conv_resident_cols(filter_dims, output_dims),
                                gather, output);
            return REEF_OK;
        }
        if (CONV_HAS(CONV_PATH_PAIRS)) conv_pairs_plain(&job, positions, cols, gather, output);
    } else if (CONV_HAS(CONV_PATH_PAIRS_CLAMPED))
        conv_pairs_clamped(&job, positions, cols, gather, output);
    return REEF_OK;
}

/* ---- the paired layout, made on the host (reef/conv.h) ------------------ */

int reef_conv_s8_pairable(const reef_conv_params *params, const reef_per_channel_quant *quant,
                          const reef_dims *input_dims, const reef_dims *filter_dims,
                          const reef_dims *output_dims, const int8_t *filter)
{
    const int32_t k = filter_dims->h * filter_dims->w * filter_dims->c, c_out = filter_dims->n;
    int32_t o, i;
    if (params->paired || k <= 0 || c_out < 2 || (c_out & 1) ||
        reef_conv_s8_path(params, input_dims, filter_dims, output_dims) != CONV_PATH_PAIRS ||
        reef_conv_s8_needs_reference(params, quant, filter_dims) || !conv_quant_fast(quant, c_out))
        return 0;
    for (o = 0; o < c_out; o += 2) {
        const int8_t *a = filter + o * k, *b = a + k;
        int32_t abs_sum = 0;
        for (i = 0; i < k; i++) {
            const int32_t h = 256 * b[i] + a[i];
            if (h < -32768 || h > 32767) return 0;
            abs_sum += b[i] < 0 ? -b[i] : b[i];
        }
        if (255 * abs_sum >= (1 << 23)) return 0;
    }
    return 1;
}

int32_t reef_conv_s8_paired_size(const reef_dims *filter_dims)
{
    return filter_dims->n * round8(filter_dims->h * filter_dims->w * filter_dims->c);
}

void reef_conv_s8_pair(const reef_dims *filter_dims, const int8_t *filter, int8_t *paired)
{
    const int32_t k = filter_dims->h * filter_dims->w * filter_dims->c, c_out = filter_dims->n;
    const int32_t k8 = round8(k);
    int32_t o, i, j;
    for (o = 0; o + 1 < c_out; o += 2) {
        const int8_t *a = filter + o * k, *b = a + k;
        int8_t *w = paired + o * k8;
        for (i = 0; i < k8; i += 4)
            for (j = 0; j < 4; j++) {
                /* byte pairs in word order: values i, i+2, i+1, i+3; zeros past K */
                const int32_t idx = i + (j >> 1) + 2 * (j & 1);
                const uint32_t h = idx < k ? (uint32_t)(256 * b[idx] + a[idx]) : 0u;
                w[2 * i + 2 * j] = (int8_t)(h & 0xffu);
                w[2 * i + 2 * j + 1] = (int8_t)((h >> 8) & 0xffu);
            }
    }
}
