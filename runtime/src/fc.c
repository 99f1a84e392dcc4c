/* The fully-connected kernels: four output channels at a time against one
 * input row. With scratch (reef_fc_s8_get_buffer_size), the input row is
 * widened once to int16 with the offset added (widen.h) and the filter rows
 * run through an assembly loop: 44 instructions per 32 MACs; with one
 * multiplier for the layer the sums start at the bias and the outputs are
 * requantized in assembly (rq.h). With params->paired (reef_fc_s8_pair,
 * made by `reef gen`), two rows share each weight halfword and the loop
 * takes 30 instructions per 32 MACs. Without scratch, the input offset is
 * added to the input halfwords once per word (SADD16) and shared by the
 * four rows. */
#include "reef/fc.h"
#include "reef/requant.h"

#include "check.h"
#include "dot.h"
#include "rq.h"
#include "widen.h"

/* The paired layouts a build compiles (a model header lists its own:
 * REEF_PAIRED_LAYOUTS bit 1 fc); all without one. */
#ifndef REEF_PAIRED_LAYOUTS
#define REEF_PAIRED_LAYOUTS 3u
#endif
#define FC_PAIRED_BUILT ((REEF_PAIRED_LAYOUTS & 2u) != 0)

/* The loops a build compiles (reef/fc.h; a model header lists its own). */
#ifndef REEF_FC_PATHS
#define REEF_FC_PATHS ((1u << REEF_FC_PATH_COUNT) - 1u)
#endif
#define FC_HAS(path) ((REEF_FC_PATHS >> (path)) & 1u)

int32_t reef_fc_s8_get_buffer_size(const reef_dims *filter_dims)
{
    /* the widened input row: (K4 / 4, 2) words */
    return 2 * ((filter_dims->h * filter_dims->w * filter_dims->c + 3) & ~3);
}

#if defined(REEF_ASM_LOOPS)
/* One group of 4 values of K of fc_dot_4_main: 23 instructions per 16
 * MACs with the loop test. */
#define FC_DOT_4_GROUP                                                         \
    "ldrd %[xe], %[xo], [%[xp]], #8\n\t"                                       \
    "ldr %[w], [%[r0]], #4\n\t"                                                \
    "sxtb16 %[t], %[w]\n\t"                                                    \
    "sxtb16 %[w], %[w], ror #8\n\t"                                            \
    "smlad %[s0], %[t], %[xe], %[s0]\n\t"                                      \
    "smlad %[s0], %[w], %[xo], %[s0]\n\t"                                      \
    "ldr %[w], [%[r1]], #4\n\t"                                                \
    "sxtb16 %[t], %[w]\n\t"                                                    \
    "sxtb16 %[w], %[w], ror #8\n\t"                                            \
    "smlad %[s1], %[t], %[xe], %[s1]\n\t"                                      \
    "smlad %[s1], %[w], %[xo], %[s1]\n\t"                                      \
    "ldr %[w], [%[r2]], #4\n\t"                                                \
    "sxtb16 %[t], %[w]\n\t"                                                    \
    "sxtb16 %[w], %[w], ror #8\n\t"                                            \
    "smlad %[s2], %[t], %[xe], %[s2]\n\t"                                      \
    "smlad %[s2], %[w], %[xo], %[s2]\n\t"                                      \
    "ldr %[w], [%[r3]], #4\n\t"                                                \
    "sxtb16 %[t], %[w]\n\t"                                                    \
    "sxtb16 %[w], %[w], ror #8\n\t"                                            \
    "smlad %[s3], %[t], %[xe], %[s3]\n\t"                                      \
    "smlad %[s3], %[w], %[xo], %[s3]\n\t"

/* sums[r] += row r . x over n groups of 4 (n > 0); rows are int8, x the
 * widened input; advances the pointers. Two groups per pass (44
 * instructions per 32 MACs), an odd group first. 14 registers: inlined
 * only into fc_dot_rows, which holds nothing else across it (inlined into
 * bigger callers, -O1, -Os or -fno-builtin builds ran out of registers). */
static inline __attribute__((always_inline)) void fc_dot_4_main(const int8_t *rows[4],
                                                                const int32_t **x, int32_t n,
                                                                int32_t s[4])
{
    int32_t s0 = s[0], s1 = s[1], s2 = s[2], s3 = s[3], xe, xo, w, t;
    const int8_t *r0 = rows[0], *r1 = rows[1], *r2 = rows[2], *r3 = rows[3];
    const int32_t *xp = *x;
    __asm__ volatile(
        "lsrs %[n], %[n], #1\n\t"
        "bcc 1f\n\t"
        FC_DOT_4_GROUP
        "cmp %[n], #0\n\t"
        "beq 2f\n\t"
        "1:\n\t"
        FC_DOT_4_GROUP
        FC_DOT_4_GROUP
        "subs %[n], %[n], #1\n\t"
        "bne 1b\n\t"
        "2:\n\t"
        : [s0] "+r"(s0), [s1] "+r"(s1), [s2] "+r"(s2), [s3] "+r"(s3), [r0] "+r"(r0), [r1] "+r"(r1),
          [r2] "+r"(r2), [r3] "+r"(r3), [xp] "+r"(xp), [n] "+r"(n), [xe] "=&r"(xe), [xo] "=&r"(xo),
          [w] "=&r"(w), [t] "=&r"(t)
        :
        : "cc", "memory");
    s[0] = s0, s[1] = s1, s[2] = s2, s[3] = s3;
    rows[0] = r0, rows[1] = r1, rows[2] = r2, rows[3] = r3;
    *x = xp;
}
#else
static inline void fc_dot_4_main(const int8_t *rows[4], const int32_t **x, int32_t n, int32_t s[4])
{
    const int32_t *xp = *x;
    int32_t r;
    for (; n > 0; n--, xp += 2)
        for (r = 0; r < 4; r++) {
            const uint32_t w = reef_load_u32(rows[r]);
            s[r] = reef_smlad(reef_sxtb16_ror8(w), xp[1], reef_smlad(reef_sxtb16(w), xp[0], s[r]));
            rows[r] += 4;
        }
    *x = xp;
}
#endif

/* sums[r] += rows[r] . x for r < n (n <= 4; rows k apart), x widened.
 * Not inlined: the loop needs all fourteen registers. */
static __attribute__((noinline)) void fc_dot_rows(const int8_t *rows, int32_t n, int32_t k,
                                                  const int32_t *x, int32_t sums[4])
{
    const int8_t *row[4];
    const int32_t *xp = x;
    int32_t r;
    row[0] = rows;
    row[1] = n > 1 ? rows + k : rows;
    row[2] = n > 2 ? rows + 2 * k : rows;
    row[3] = n > 3 ? rows + 3 * k : rows;
    if (k >> 2) fc_dot_4_main(row, &xp, k >> 2, sums);
    if (k & 3)
        for (r = 0; r < 4; r++)
            sums[r] = reef_smlad(reef_tail_odd(row[r], k & 3), xp[1],
                                 reef_smlad(reef_tail_even(row[r], k & 3), xp[0], sums[r]));
}

/* The paired layout (reef/fc.h): sums[0..3] (the folded biases of rows
 * o..o+3) += the group's rows . x, x widened without the offset; k a
 * multiple of 4. Per 4 values of K, one LDM of 4 weight words, one LDRD of
 * 2 input words, 8 SMLADs and 4 SXTB16s: 14 instructions per 16 MACs, two
 * groups per pass (30 per 32 MACs with the loop test). rw: the raw
 * sums 256 * B . x + A . x of each pair, e: A . x. */
#if defined(REEF_ASM_LOOPS)
#define FC_PAIRED_QUAD                                                         \
    "ldmia %[wp]!, {r8, r9, r10, r11}\n\t"                                    \
    "ldrd %[xe], %[xo], [%[xp]], #8\n\t"                                       \
    "smlad %[rw0], r8, %[xe], %[rw0]\n\t"                                      \
    "sxtb16 r8, r8\n\t"                                                        \
    "smlad %[e0], r8, %[xe], %[e0]\n\t"                                        \
    "smlad %[rw1], r9, %[xe], %[rw1]\n\t"                                      \
    "sxtb16 r9, r9\n\t"                                                        \
    "smlad %[e1], r9, %[xe], %[e1]\n\t"                                        \
    "smlad %[rw0], r10, %[xo], %[rw0]\n\t"                                     \
    "sxtb16 r10, r10\n\t"                                                      \
    "smlad %[e0], r10, %[xo], %[e0]\n\t"                                       \
    "smlad %[rw1], r11, %[xo], %[rw1]\n\t"                                     \
    "sxtb16 r11, r11\n\t"                                                      \
    "smlad %[e1], r11, %[xo], %[e1]\n\t"

static __attribute__((noinline)) void fc_dot_paired(const int8_t *group, int32_t n, int32_t k,
                                                    const int32_t *x, int32_t sums[4])
{
    int32_t rw0 = sums[0], e0 = sums[0], rw1 = sums[2], e1 = sums[2], xe, xo, q = k >> 2;
    const int8_t *wp = group;
    const int32_t *xp = x;
    (void)n;
    __asm__ volatile(
        "lsrs %[q], %[q], #1\n\t"
        "bcc 1f\n\t"
        FC_PAIRED_QUAD
        "cmp %[q], #0\n\t"
        "beq 2f\n\t"
        "1:\n\t"
        FC_PAIRED_QUAD
        FC_PAIRED_QUAD
        "subs %[q], %[q], #1\n\t"
        "bne 1b\n\t"
        "2:\n\t"
        : [rw0] "+r"(rw0), [e0] "+r"(e0), [rw1] "+r"(rw1), [e1] "+r"(e1), [wp] "+r"(wp),
          [xp] "+r"(xp), [q] "+r"(q), [xe] "=&r"(xe), [xo] "=&r"(xo)
        :
        : "r8", "r9", "r10", "r11", "cc", "memory");
    sums[0] = e0;
    sums[1] += (int32_t)((uint32_t)rw0 - (uint32_t)e0) >> 8;
    sums[2] = e1;
    sums[3] += (int32_t)((uint32_t)rw1 - (uint32_t)e1) >> 8;
}
#else
static void fc_dot_paired(const int8_t *group, int32_t n, int32_t k, const int32_t *x,
                          int32_t sums[4])
{
    int32_t rw[2] = {sums[0], sums[2]}, e[2] = {sums[0], sums[2]}, q, p;
    (void)n;
    for (q = 0; q < k >> 2; q++, group += 16, x += 2)
        for (p = 0; p < 4; p++) {
            /* words: pair p & 1 against input word p >> 1 */
            const uint32_t w = reef_load_u32(group + 4 * p);
            rw[p & 1] = reef_smlad((int32_t)w, x[p >> 1], rw[p & 1]);
            e[p & 1] = reef_smlad(reef_sxtb16(w), x[p >> 1], e[p & 1]);
        }
    sums[0] = e[0];
    sums[1] += (int32_t)((uint32_t)rw[0] - (uint32_t)e[0]) >> 8;
    sums[2] = e[1];
    sums[3] += (int32_t)((uint32_t)rw[1] - (uint32_t)e[1]) >> 8;
}
#endif

/* rows . x into sums (holding the biases) of rows o..o+n-1 of the layer's
 * filter in either layout. */
typedef void (*fc_dot_fn)(const int8_t *rows, int32_t n, int32_t k, const int32_t *x,
                          int32_t sums[4]);

/* Every full group of four output channels of a layer with one set of
 * constants (per tensor): the sums start at the bias, the four outputs
 * requantized in two reef_rq_store2 calls. plain: the activation range is
 * [-128, 127]. Returns the channels done. */
static inline __attribute__((always_inline)) int32_t
fc_rows_shared(const reef_fc_params *params, const reef_rq *q, fc_dot_fn dot,
               const int8_t *filter, const int32_t *bias, int32_t k, int32_t c_out,
               const int32_t *x, int8_t *out, const int plain)
{
    const int32_t zp = params->output_offset, lo = params->activation.min;
    const int32_t hi = params->activation.max;
    int32_t o, sums[4];
    for (o = 0; o + 4 <= c_out; o += 4, filter += 4 * k) {
        sums[0] = bias ? bias[o] : 0;
        sums[1] = bias ? bias[o + 1] : 0;
        sums[2] = bias ? bias[o + 2] : 0;
        sums[3] = bias ? bias[o + 3] : 0;
        dot(filter, 4, k, x, sums);
        reef_rq_store2(sums[0], sums[1], q, out + o, 1, zp, lo, hi, plain);
        reef_rq_store2(sums[2], sums[3], q, out + o + 2, 1, zp, lo, hi, plain);
    }
    return o;
}

/* fc_rows_shared with the range tested once per layer. */
static __attribute__((noinline)) int32_t fc_rows_shared_layer(const reef_fc_params *params,
                                                              const reef_rq *q, fc_dot_fn dot,
                                                              const int8_t *filter,
                                                              const int32_t *bias, int32_t k,
                                                              int32_t c_out, const int32_t *x,
                                                              int8_t *out)
{
    if (params->activation.min == -128 && params->activation.max == 127)
        return fc_rows_shared(params, q, dot, filter, bias, k, c_out, x, out, 1);
    return fc_rows_shared(params, q, dot, filter, bias, k, c_out, x, out, 0);
}

/* One output: the fast requantization when it is exact, else TFLite's. */
static int8_t fc_output(const reef_fc_params *params, int32_t sum, int32_t multiplier,
                        int32_t shift)
{
    reef_rq q;
    if (reef_rq_init(&q, 0, multiplier, shift))
        return reef_rq_s8(sum, &q, params->output_offset, params->activation.min,
                          params->activation.max);
    return reef_requantize_s8(sum, multiplier, shift, params->output_offset,
                              params->activation.min, params->activation.max);
}

/* One batch row with the input widened into x; quant_step: 1 per channel,
 * 0 per tensor. Four rows at a time (a short last group repeats row 0).
 * Paired (reef/fc.h): the offset is in the bias, C_OUT a multiple of 4. */
static void fc_rows_widened(const reef_fc_params *params, const int32_t *multiplier,
                            const int8_t *shift, int32_t quant_step, const int8_t *in,
                            const int8_t *filter, const int32_t *bias, int32_t c_in,
                            int32_t c_out, int32_t *x, int8_t *out)
{
    int32_t o = 0, r, sums[4];
    reef_rq layer; /* per tensor: the constants once, the bias added to the sum */
    const int shared = reef_rq_init(&layer, 0, multiplier[0], shift[0]) && !quant_step;
    const fc_dot_fn dot = FC_PAIRED_BUILT && params->paired ? fc_dot_paired : fc_dot_rows;
    reef_widen_s8_step(in, c_in, params->paired ? 0 : params->input_offset, x, 2);
    if (shared && FC_HAS(REEF_FC_PATH_SHARED))
        o = fc_rows_shared_layer(params, &layer, dot, filter, bias, c_in, c_out, x, out);
    if (!FC_HAS(REEF_FC_PATH_ROWS)) return; /* fc_run refused a layer that needs it */
    for (; o < c_out; o += 4) {
        const int32_t n = c_out - o < 4 ? c_out - o : 4;
        for (r = 0; r < 4; r++) sums[r] = bias && r < n ? bias[o + r] : 0; /* sums start at the bias */
        dot(filter + o * c_in, n, c_in, x, sums);
        for (r = 0; r < n; r++) {
            const int32_t q = (o + r) * quant_step;
            out[o + r] = shared ? reef_rq_s8(sums[r], &layer, params->output_offset,
                                             params->activation.min, params->activation.max)
                                : fc_output(params, sums[r], multiplier[q], shift[q]);
        }
    }
}

/* quant_step: 1 per channel, 0 per tensor. */
static void fc_rows(const reef_fc_params *params, const int32_t *multiplier,
                    const int8_t *shift, int32_t quant_step, const int8_t *in,
                    const int8_t *filter, const int32_t *bias, int32_t c_in, int32_t c_out,
                    int8_t *out)
{
    int32_t o = 0, r, sums[4];
    for (; o < c_out; o += 4) {
        const int32_t n = c_out - o < 4 ? c_out - o : 4;
        if (n == 4)
            reef_dot_4x1(filter + o * c_in, in, c_in, params->input_offset, sums);
        else
            for (r = 0; r < n; r++)
                sums[r] = reef_dot_1x1(filter + (o + r) * c_in, in, c_in, params->input_offset);
        for (r = 0; r < n; r++) {
            const int32_t q = (o + r) * quant_step;
            out[o + r] = reef_requantize_s8(sums[r] + (bias ? bias[o + r] : 0), multiplier[q],
                                            shift[q], params->output_offset,
                                            params->activation.min, params->activation.max);
        }
    }
}

int reef_fc_s8_needs_reference(const reef_fc_params *params)
{
    return params->filter_offset != 0 || params->input_offset < -127 || params->input_offset > 128;
}

/* A layer for the plain loop (REEF_FC_PATH_TINY). */
static int fc_is_tiny(const reef_fc_params *params, const reef_dims *filter_dims)
{
    const int32_t c_in = filter_dims->h * filter_dims->w * filter_dims->c;
    return !params->paired && c_in > 0 && c_in <= REEF_FC_TINY_MACS && filter_dims->n <= REEF_FC_TINY_MACS / c_in;
}

/* REEF_FC_PATH_TINY: one output at a time, the sum in plain C, TFLite's
 * requantization (what every other loop computes: same int32 sums, and
 * reef_rq_s8 only where it equals reef_requantize_s8). Compiled for size:
 * it runs a few hundred MACs per inference. quant_step: 1 per channel, 0
 * per tensor. */
static REEF_SIZE_FN void fc_tiny(const reef_fc_params *params, const int32_t *multiplier,
                                 const int8_t *shift, int32_t quant_step, int32_t batches,
                                 const int8_t *in, const int8_t *filter, const int32_t *bias,
                                 int32_t c_in, int32_t c_out, int8_t *out)
{
    int32_t b, o, i;
    for (b = 0; b < batches; b++, in += c_in)
        for (o = 0; o < c_out; o++) {
            const int8_t *row = filter + o * c_in;
            int32_t sum = bias ? bias[o] : 0;
            for (i = 0; i < c_in; i++) /* wraps as the SMLAD loops do */
                sum = (int32_t)((uint32_t)sum + (uint32_t)((in[i] + params->input_offset) * row[i]));
            *out++ = reef_requantize_s8(sum, multiplier[o * quant_step], shift[o * quant_step],
                                        params->output_offset, params->activation.min,
                                        params->activation.max);
        }
}

static int fc_has_scratch(const reef_context *ctx, const reef_dims *filter_dims)
{
    return ctx && ctx->buf && ctx->size >= reef_fc_s8_get_buffer_size(filter_dims);
}

unsigned reef_fc_s8_paths(const reef_fc_params *params, const int32_t *multiplier, const int8_t *shift,
                          int per_channel, const reef_dims *filter_dims, int32_t scratch_size)
{
    const int32_t c_out = filter_dims->n;
    reef_rq layer;
    if (reef_fc_s8_needs_reference(params)) return 0;
    if (fc_is_tiny(params, filter_dims)) return 1u << REEF_FC_PATH_TINY;
    if (scratch_size < reef_fc_s8_get_buffer_size(filter_dims)) return 1u << REEF_FC_PATH_NARROW;
    /* as fc_rows_widened: groups of four on the shared loop, the rest row by row */
    if (!per_channel && reef_rq_init(&layer, 0, multiplier[0], shift[0]))
        return (c_out >= 4 ? 1u << REEF_FC_PATH_SHARED : 0u) | (c_out & 3 ? 1u << REEF_FC_PATH_ROWS : 0u);
    return 1u << REEF_FC_PATH_ROWS;
}

static reef_status fc_run(const reef_context *ctx, const reef_fc_params *params,
                          const int32_t *multiplier, const int8_t *shift, int per_channel,
                          const reef_dims *input_dims, const int8_t *input,
                          const reef_dims *filter_dims, const int8_t *filter,
                          const int32_t *bias, const reef_dims *output_dims, int8_t *output)
{
    int32_t b, c_in, c_out;
    if (!multiplier || !shift ||
        !reef_fc_args_valid(params, input_dims, input, filter_dims, filter, output_dims,
                            output))
        return REEF_ARG_ERROR;
    if (reef_fc_s8_needs_reference(params)) {
        /* Not TFLite's int8 scheme: the plain loop handles it. */
#if defined(REEF_NO_REFERENCE_KERNELS)
        return REEF_UNSUPPORTED;
#else
        reef_per_channel_quant q;
        q.multiplier = multiplier;
        q.shift = shift;
        return reef_fc_s8_ref(ctx, params, &q, per_channel, input_dims, input, filter_dims,
                              filter, bias, output_dims, output);
#endif
    }
    c_in = filter_dims->h * filter_dims->w * filter_dims->c;
    c_out = filter_dims->n;
    if (params->paired && (!bias || (c_in & 3) || (c_out & 3) || !ctx || !ctx->buf ||
                           ctx->size < reef_fc_s8_get_buffer_size(filter_dims)))
        return REEF_ARG_ERROR;
    if (params->paired && !FC_PAIRED_BUILT) return REEF_UNSUPPORTED; /* left out of this build */
    /* a loop this build left out (REEF_FC_PATHS): with the tiny loop alone
     * (the fish nets' heads) reef_fc_s8_paths answers "tiny" exactly when
     * fc_is_tiny does, the reference case having returned above, so only
     * that is asked (r64-c8e2's firmware: 132 B less) */
    if (REEF_FC_PATHS == 1u << REEF_FC_PATH_TINY) {
        if (!fc_is_tiny(params, filter_dims)) return REEF_UNSUPPORTED;
    } else if (reef_fc_s8_paths(params, multiplier, shift, per_channel, filter_dims,
                                fc_has_scratch(ctx, filter_dims) ? ctx->size : 0) &
               ~(unsigned)REEF_FC_PATHS)
        return REEF_UNSUPPORTED;
    if (FC_HAS(REEF_FC_PATH_TINY) && fc_is_tiny(params, filter_dims)) {
        fc_tiny(params, multiplier, shift, per_channel ? 1 : 0, input_dims->n, input, filter, bias,
                c_in, c_out, output);
        return REEF_OK;
    }
    if ((FC_HAS(REEF_FC_PATH_SHARED) || FC_HAS(REEF_FC_PATH_ROWS)) && fc_has_scratch(ctx, filter_dims)) {
        for (b = 0; b < input_dims->n; b++)
            fc_rows_widened(params, multiplier, shift, per_channel ? 1 : 0, input + b * c_in,
                            filter, bias, c_in, c_out, (int32_t *)ctx->buf, output + b * c_out);
        return REEF_OK;
    }
    if (FC_HAS(REEF_FC_PATH_NARROW))
        for (b = 0; b < input_dims->n; b++)
            fc_rows(params, multiplier, shift, per_channel ? 1 : 0, input + b * c_in, filter, bias,
                    c_in, c_out, output + b * c_out);
    return REEF_OK;
}

reef_status reef_fc_s8(const reef_context *ctx, const reef_fc_params *params,
                       const reef_per_tensor_quant *quant,
                       const reef_dims *input_dims, const int8_t *input,
                       const reef_dims *filter_dims, const int8_t *filter,
                       const int32_t *bias,
                       const reef_dims *output_dims, int8_t *output)
{
    int8_t shift;
    /* the per-channel arrays' int8 shift: every shift TFLite makes, [-31, 30] */
    if (!quant || quant->shift < -128 || quant->shift > 127) return REEF_ARG_ERROR;
    shift = (int8_t)quant->shift;
    return fc_run(ctx, params, &quant->multiplier, &shift, 0, input_dims, input,
                  filter_dims, filter, bias, output_dims, output);
}

reef_status reef_fc_per_channel_s8(const reef_context *ctx, const reef_fc_params *params,
                                   const reef_per_channel_quant *quant,
                                   const reef_dims *input_dims, const int8_t *input,
                                   const reef_dims *filter_dims, const int8_t *filter,
                                   const int32_t *bias,
                                   const reef_dims *output_dims, int8_t *output)
{
    if (!quant) return REEF_ARG_ERROR;
    return fc_run(ctx, params, quant->multiplier, quant->shift, 1, input_dims, input,
                  filter_dims, filter, bias, output_dims, output);
}

/* ---- the paired layout, made on the host (reef/fc.h) -------------------- */

/* Row pair (a, b) of a K-long filter: 1 when every 256 * b[k] + a[k] fits
 * int16 and 128 * sum |b[k]| < 2^23. */
static int fc_pair_fits(const int8_t *a, const int8_t *b, int32_t k)
{
    int32_t i, h, abs_sum = 0;
    for (i = 0; i < k; i++) {
        h = 256 * b[i] + a[i];
        if (h < -32768 || h > 32767) return 0;
        abs_sum += b[i] < 0 ? -b[i] : b[i];
        if (abs_sum >= (1 << 16)) return 0;
    }
    return 1;
}

int reef_fc_s8_pairable(const reef_fc_params *params, const reef_dims *filter_dims,
                        const int8_t *filter)
{
    int32_t o, k, c_out;
    if (!params || !filter_dims || !filter || params->paired || reef_fc_s8_needs_reference(params))
        return 0;
    k = filter_dims->h * filter_dims->w * filter_dims->c;
    c_out = filter_dims->n;
    if (k <= 0 || c_out <= 0 || (k & 3) || (c_out & 3)) return 0;
    for (o = 0; o < c_out; o += 2)
        if (!fc_pair_fits(filter + o * k, filter + (o + 1) * k, k)) return 0;
    return 1;
}

void reef_fc_s8_pair(const reef_fc_params *params, const reef_dims *filter_dims,
                     const int8_t *filter, const int32_t *bias, int8_t *paired,
                     int32_t *folded_bias)
{
    const int32_t k = filter_dims->h * filter_dims->w * filter_dims->c, c_out = filter_dims->n;
    int32_t o, i, p, j;
    for (o = 0; o < c_out; o++) {
        uint32_t sum = 0;
        for (i = 0; i < k; i++) sum += (uint32_t)(int32_t)filter[o * k + i];
        folded_bias[o] = (int32_t)((bias ? (uint32_t)bias[o] : 0u) + (uint32_t)params->input_offset * sum);
    }
    for (o = 0; o < c_out; o += 4)
        for (i = 0; i < k; i += 4)
            for (p = 0; p < 4; p++) {
                /* word p of the group: pair p & 1, values i + (p >> 1) and
                 * i + (p >> 1) + 2 */
                const int8_t *a = filter + (o + 2 * (p & 1)) * k, *b = a + k;
                int8_t *w = paired + o * k + 4 * i + 4 * p;
                for (j = 0; j < 2; j++) {
                    const int32_t v = i + (p >> 1) + 2 * j;
                    const uint32_t h = (uint32_t)(256 * b[v] + a[v]);
                    w[2 * j] = (int8_t)(h & 0xffu);
                    w[2 * j + 1] = (int8_t)((h >> 8) & 0xffu);
                }
            }
}
