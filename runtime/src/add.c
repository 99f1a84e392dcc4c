/* reef_add_s8: TFLite's int8 elementwise ADD.
 *
 * Each input is offset, shifted left and requantized to the common scale,
 * the sum requantized to the output. The fast path computes each input's
 * requantization exactly with one SMLAL on the doubled value (add_in); the
 * larger input's multiplier is 1/2 (shift 0), which rq.h cannot take. The
 * output uses rq.h. When the shifted inputs could overflow on doubling or
 * the output shift is not a right shift, every element takes the scalar
 * reference arithmetic. */
#include "reef/add.h"
#include "reef/requant.h"

#include "check.h"
#include "rq.h"

static int8_t add_one(const reef_add_params *p, int32_t a, int32_t b)
{
    const int32_t shifted1 = reef_shift_left(a + p->input1_offset, p->left_shift);
    const int32_t shifted2 = reef_shift_left(b + p->input2_offset, p->left_shift);
    const int32_t scaled1 = reef_requantize(shifted1, p->input1_multiplier, p->input1_shift);
    const int32_t scaled2 = reef_requantize(shifted2, p->input2_multiplier, p->input2_shift);
    const int32_t out = reef_requantize(scaled1 + scaled2, p->output_multiplier,
                                        p->output_shift) + p->output_offset;
    return (int8_t)reef_clamp(out, p->activation.min, p->activation.max);
}

static void add_scalar(const reef_add_params *p, const int8_t *input1, const int8_t *input2,
                       int32_t count, int8_t *output)
{
    int32_t k;
    for (k = 0; k < count; k++) output[k] = add_one(p, input1[k], input2[k]);
}

/* One input's requantization, SaturatingRoundingDoublingHighMul(acc, M)
 * then RoundingDivideByPOT by r = -shift >= 0, for acc = (v + off) << s
 * with |v + off| <= 256 and s <= 21 (so 2 * acc fits 30 bits) and M in
 * [0, 2^31) (no saturation). With y = 2 * acc * M it equals
 * floor((y + 2^31) / 2^32) for r = 0 and, for r >= 1 (rq.h's formula with
 * numerator and denominator doubled),
 * (floor((y + 2^31 + 2^(31+r)) / 2^32) - [acc < 0]) >> r.
 * y = (v << (s+1)) * M + (off << (s+1)) * M: the second term and the
 * rounding constants fold into one 64-bit start value c. */
typedef struct add_in {
    int64_t c;
    int32_t mult;
    int32_t neg;     /* -1 when r >= 1 (apply the [acc < 0] term), else 0 */
    int32_t r;
} add_in;

static void add_in_init(add_in *q, int32_t offset, int32_t mult, int32_t shift, int32_t left_shift)
{
    const int32_t off2 = (int32_t)((uint32_t)offset << (left_shift + 1));
    const int64_t c_hi = shift < 0 ? (int64_t)1 << (-shift - 1) : 0;
    q->c = (int64_t)off2 * mult + ((int64_t)1 << 31) + c_hi * ((int64_t)1 << 32);
    q->mult = mult;
    q->r = -shift;
    q->neg = shift < 0 ? -1 : 0;
}

/* v2 = v << (left_shift + 1), acc_sign = v + offset */
static inline int32_t add_in_apply(int32_t v2, int32_t acc_sign, int64_t c, int32_t mult,
                                   int32_t neg, int32_t r)
{
    const int64_t y = c + (int64_t)v2 * mult;
    const int32_t hi = (int32_t)(y >> 32) + ((acc_sign >> 31) & neg);
    return hi >> r;
}

/* The same with rq.h's output requantization; big is the input whose
 * shift is 0 (the larger scale: multiplier 1/2), which needs no sign term.
 * The constants live in locals so that the int8 stores cannot make the
 * compiler reload them. plain: the activation range is [-128, 127] (a
 * constant after inlining: each case gets its own loop). */
static inline __attribute__((always_inline)) void
add_fast(const reef_add_params *p, const add_in *big, const add_in *other, int32_t other_offset,
         const reef_rq *out_rq, const int8_t *input_big, const int8_t *input_other, int32_t count,
         int8_t *output, const int plain)
{
    const int64_t c1 = big->c, c2 = other->c;
    const int32_t m1 = big->mult, m2 = other->mult, neg2 = other->neg, r2 = other->r;
    const reef_rq rq_out = *out_rq;
    const int32_t shift = p->left_shift + 1, off2 = other_offset;
    const int32_t zp = p->output_offset, lo = p->activation.min, hi = p->activation.max;
    int32_t k;
    for (k = 0; k < count; k++) {
        const int32_t v1 = input_big[k], v2 = input_other[k];
        const int32_t scaled1 = (int32_t)((c1 + (int64_t)reef_shift_left(v1, shift) * m1) >> 32);
        const int32_t scaled2 = add_in_apply(reef_shift_left(v2, shift), v2 + off2, c2, m2, neg2, r2);
        output[k] = plain ? reef_rq_s8_plain(scaled1 + scaled2, &rq_out, zp)
                          : reef_rq_s8(scaled1 + scaled2, &rq_out, zp, lo, hi);
    }
}

/* TFLite's left shift 20 (what every converter and reef's lowering
 * use), one input with shift 0 and an output right shift r of 1..22: the
 * same arithmetic in SMMLARs, the shift an immediate. With a = (v + off)
 * << 21 (twice acc, |a| <= 2^29) the shift-0 input is SMMLAR(a, M, 0);
 * the other, with r >= 1, (SMMLAR(a, M, 2^(r-1)) - [a < 0]) >> r (add_in's
 * formula). The output takes t = 2 * (x1 + x2) (|t| < 2^30) and, rq.h's
 * formula doubled with the output offset folded in (it is a multiple of
 * 2^r), (SMMLAR(t, M, 2^(r-1) + zp * 2^r) - [t < 0]) >> r. */
typedef struct add_smm {
    int32_t off_big, off_other; /* offsets << 21 */
    int32_t m_big, m_other, c_other, r_other;
    int32_t m_out, c_out, r_out;
} add_smm;

static int add_smm_init(const reef_add_params *p, add_smm *a)
{
    const int swap = p->input1_shift != 0;
    const int32_t other_shift = swap ? p->input1_shift : p->input2_shift;
    const int32_t r_out = -p->output_shift;
    if (p->left_shift != 20 || (p->input1_shift != 0 && p->input2_shift != 0) || r_out < 1 ||
        r_out > 22 || other_shift < -31 || p->output_offset < -128 || p->output_offset > 127)
        return 0;
    a->off_big = (int32_t)((uint32_t)(swap ? p->input2_offset : p->input1_offset) << 21);
    a->off_other = (int32_t)((uint32_t)(swap ? p->input1_offset : p->input2_offset) << 21);
    a->m_big = swap ? p->input2_multiplier : p->input1_multiplier;
    a->m_other = swap ? p->input1_multiplier : p->input2_multiplier;
    a->r_other = -other_shift;
    a->c_other = other_shift < 0 ? (int32_t)(1u << (-other_shift - 1)) : 0;
    a->m_out = p->output_multiplier;
    a->r_out = r_out;
    a->c_out = (int32_t)((1u << (r_out - 1)) + ((uint32_t)p->output_offset << r_out));
    return 1;
}

/* other_shifts: the other input's shift is not 0 (a constant after
 * inlining, as is plain). */
static inline __attribute__((always_inline)) void
add_smm_run(const add_smm *s, const int8_t *input_big, const int8_t *input_other, int32_t count,
            int32_t lo, int32_t hi, int8_t *output, const int other_shifts, const int plain)
{
    const add_smm c = *s;
    int32_t k;
    for (k = 0; k < count; k++) {
        const int32_t a1 = (int32_t)(((uint32_t)input_big[k] << 21) + (uint32_t)c.off_big);
        const int32_t a2 = (int32_t)(((uint32_t)input_other[k] << 21) + (uint32_t)c.off_other);
        const int32_t x1 = reef_smmlar(a1, c.m_big, 0);
        int32_t x2 = reef_smmlar(a2, c.m_other, c.c_other);
        int32_t t, v;
        if (other_shifts) x2 = (x2 + (a2 >> 31)) >> c.r_other;
        t = 2 * (x1 + x2);
        v = (reef_smmlar(t, c.m_out, c.c_out) + (t >> 31)) >> c.r_out;
        if (plain)
            v = reef_ssat8(v);
        else
            v = v < lo ? lo : (v > hi ? hi : v);
        output[k] = (int8_t)v;
    }
}

static void add_smm_plain(const add_smm *s, const int8_t *input_big, const int8_t *input_other,
                          int32_t count, int8_t *output)
{
    add_smm_run(s, input_big, input_other, count, -128, 127, output, 1, 1);
}

static void add_smm_clamped(const add_smm *s, const int8_t *input_big, const int8_t *input_other,
                            int32_t count, int32_t lo, int32_t hi, int8_t *output)
{
    add_smm_run(s, input_big, input_other, count, lo, hi, output, 1, 0);
}

/* Equal input scales: no sign term or shift on either input. */
static void add_smm_equal(const add_smm *s, const int8_t *input_big, const int8_t *input_other,
                          int32_t count, int32_t lo, int32_t hi, int8_t *output)
{
    add_smm_run(s, input_big, input_other, count, lo, hi, output, 0, 0);
}

static void add_fast_plain(const reef_add_params *p, const add_in *big, const add_in *other,
                           int32_t other_offset, const reef_rq *out_rq, const int8_t *input_big,
                           const int8_t *input_other, int32_t count, int8_t *output)
{
    add_fast(p, big, other, other_offset, out_rq, input_big, input_other, count, output, 1);
}

static void add_fast_clamped(const reef_add_params *p, const add_in *big, const add_in *other,
                             int32_t other_offset, const reef_rq *out_rq, const int8_t *input_big,
                             const int8_t *input_other, int32_t count, int8_t *output)
{
    add_fast(p, big, other, other_offset, out_rq, input_big, input_other, count, output, 0);
}

static int add_offsets_small(const reef_add_params *p)
{
    return p->input1_offset >= -128 && p->input1_offset <= 128 && p->input2_offset >= -128 &&
           p->input2_offset <= 128;
}

static int add_params_valid(const reef_add_params *p)
{
    return p->left_shift >= 0 && p->left_shift <= 30 && p->input1_shift <= 0 && p->input2_shift <= 0 &&
           reef_activation_valid(&p->activation);
}

int reef_add_s8_path(const reef_add_params *params)
{
    const reef_add_params *p = params;
    const int plain = p->activation.min == -128 && p->activation.max == 127;
    add_smm smm;
    reef_rq out_rq;
    if (add_offsets_small(p) && add_smm_init(p, &smm))
        return smm.r_other == 0 ? REEF_ADD_PATH_SMM_EQUAL : plain ? REEF_ADD_PATH_SMM_PLAIN : REEF_ADD_PATH_SMM_CLAMPED;
    if (add_offsets_small(p) && p->left_shift <= 21 && p->input1_shift >= -31 && p->input2_shift >= -31 &&
        (p->input1_shift == 0 || p->input2_shift == 0) &&
        reef_rq_init(&out_rq, 0, p->output_multiplier, p->output_shift))
        return plain ? REEF_ADD_PATH_FAST_PLAIN : REEF_ADD_PATH_FAST_CLAMPED;
    return REEF_ADD_PATH_SCALAR;
}

#ifndef REEF_ADD_PATHS
#define REEF_ADD_PATHS ((1u << REEF_ADD_PATH_COUNT) - 1u)
#endif
#define ADD_HAS(path) ((REEF_ADD_PATHS >> (path)) & 1u)

reef_status reef_add_s8(const reef_add_params *params, const int8_t *input1,
                        const int8_t *input2, int32_t count, int8_t *output)
{
    const reef_add_params *p = params;
    add_in in[2];
    add_smm smm;
    reef_rq out_rq;
    if (!params || !input1 || !input2 || !output || count < 0 || !add_params_valid(params))
        return REEF_ARG_ERROR;
    /* the input with shift 0 first (ADD commutes) */
    const int swap = p->input1_shift != 0;
    const int8_t *input_big = swap ? input2 : input1, *input_other = swap ? input1 : input2;
    const int32_t lo = p->activation.min, hi = p->activation.max;
    const int path = reef_add_s8_path(p);
    if (path <= REEF_ADD_PATH_SMM_CLAMPED) add_smm_init(p, &smm);
    add_in_init(&in[0], p->input1_offset, p->input1_multiplier, p->input1_shift, p->left_shift);
    add_in_init(&in[1], p->input2_offset, p->input2_multiplier, p->input2_shift, p->left_shift);
    reef_rq_init(&out_rq, 0, p->output_multiplier, p->output_shift);
    const int32_t other_offset = swap ? p->input1_offset : p->input2_offset;
    switch (path) {
    case REEF_ADD_PATH_SMM_EQUAL:
        if (!ADD_HAS(REEF_ADD_PATH_SMM_EQUAL)) break;
        add_smm_equal(&smm, input_big, input_other, count, lo, hi, output);
        return REEF_OK;
    case REEF_ADD_PATH_SMM_PLAIN:
        if (!ADD_HAS(REEF_ADD_PATH_SMM_PLAIN)) break;
        add_smm_plain(&smm, input_big, input_other, count, output);
        return REEF_OK;
    case REEF_ADD_PATH_SMM_CLAMPED:
        if (!ADD_HAS(REEF_ADD_PATH_SMM_CLAMPED)) break;
        add_smm_clamped(&smm, input_big, input_other, count, lo, hi, output);
        return REEF_OK;
    case REEF_ADD_PATH_FAST_PLAIN:
        if (!ADD_HAS(REEF_ADD_PATH_FAST_PLAIN)) break;
        add_fast_plain(p, &in[swap], &in[!swap], other_offset, &out_rq, input_big, input_other, count, output);
        return REEF_OK;
    case REEF_ADD_PATH_FAST_CLAMPED:
        if (!ADD_HAS(REEF_ADD_PATH_FAST_CLAMPED)) break;
        add_fast_clamped(p, &in[swap], &in[!swap], other_offset, &out_rq, input_big, input_other, count, output);
        return REEF_OK;
    default:
        if (!ADD_HAS(REEF_ADD_PATH_SCALAR)) break;
        add_scalar(p, input1, input2, count, output);
        return REEF_OK;
    }
    return REEF_UNSUPPORTED; /* a loop this build left out (REEF_ADD_PATHS) */
}
