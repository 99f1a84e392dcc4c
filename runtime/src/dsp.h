/* The Cortex-M4 DSP instructions the fast kernels use, as ACLE intrinsics
 * on cores with the DSP extension and as portable C elsewhere (so the host
 * tests run the very same kernel code). Internal to the runtime. */
#ifndef REEF_RT_DSP_H
#define REEF_RT_DSP_H

#include <stdint.h>

/* An unaligned 32-bit load (LDR allows it on the M4). */
static inline uint32_t reef_load_u32(const int8_t *p)
{
    uint32_t v;
    __builtin_memcpy(&v, p, 4);
    return v;
}

/* The hand-scheduled assembly loops of conv.c, dw_conv.c and fc.c hold up
 * to 14 values in registers. Without optimization r7 is the frame pointer
 * and they cannot be allocated, so unoptimized builds take the portable
 * loops (same results, bit for bit). */
#if defined(__ARM_FEATURE_DSP) && defined(__OPTIMIZE__)
#define REEF_ASM_LOOPS 1
#endif

#if defined(__ARM_FEATURE_DSP)
#include <arm_acle.h>

/* (b0, b2) of a word, sign-extended to two halfwords. */
static inline int32_t reef_sxtb16(uint32_t x) { return (int32_t)__sxtb16((int32_t)x); }
/* (b1, b3): SXTB16 with its built-in ROR #8 (GCC 12 does not fold a
 * separate rotate into it, so say it in assembly). */
static inline int32_t reef_sxtb16_ror8(uint32_t x)
{
    int32_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(x));
    return r;
}
/* acc + lo(a) * lo(b) + hi(a) * hi(b). */
static inline int32_t reef_smlad(int32_t a, int32_t b, int32_t acc)
{
    return __smlad(a, b, acc);
}
/* Halfwise addition. */
static inline int32_t reef_sadd16(int32_t a, int32_t b) { return __sadd16(a, b); }
/* acc + lo(a) * lo(b), acc + lo(a) * hi(b). */
static inline int32_t reef_smlabb(int32_t a, int32_t b, int32_t acc) { return __smlabb(a, b, acc); }
static inline int32_t reef_smlabt(int32_t a, int32_t b, int32_t acc) { return __smlabt(a, b, acc); }
/* acc + hi(a) * lo(b), acc + hi(a) * hi(b). */
static inline int32_t reef_smlatb(int32_t a, int32_t b, int32_t acc) { return __smlatb(a, b, acc); }
static inline int32_t reef_smlatt(int32_t a, int32_t b, int32_t acc) { return __smlatt(a, b, acc); }
/* x clamped to [-128, 127] (SSAT). */
static inline int32_t reef_ssat8(int32_t x) { return __ssat(x, 8); }
/* SMMLAR: the high word of acc * 2^32 + a * b + 2^31. */
static inline int32_t reef_smmlar(int32_t a, int32_t b, int32_t acc)
{
    int32_t r;
    __asm__("smmlar %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(acc));
    return r;
}

#else

static inline int32_t reef_pack16(int32_t lo, int32_t hi)
{
    return (int32_t)(((uint32_t)lo & 0xffffu) | ((uint32_t)hi << 16));
}
static inline int32_t reef_lo16(int32_t x) { return (int16_t)((uint32_t)x & 0xffffu); }
static inline int32_t reef_hi16(int32_t x) { return (int16_t)((uint32_t)x >> 16); }

static inline int32_t reef_sxtb16(uint32_t x)
{
    return reef_pack16((int8_t)(x & 0xffu), (int8_t)((x >> 16) & 0xffu));
}
static inline int32_t reef_sxtb16_ror8(uint32_t x) { return reef_sxtb16((x >> 8) | (x << 24)); }
static inline int32_t reef_smlad(int32_t a, int32_t b, int32_t acc)
{
    /* SMLAD wraps modulo 2^32; so does this (no signed overflow). */
    return (int32_t)((uint32_t)acc + (uint32_t)(reef_lo16(a) * reef_lo16(b)) +
                     (uint32_t)(reef_hi16(a) * reef_hi16(b)));
}
static inline int32_t reef_sadd16(int32_t a, int32_t b)
{
    return reef_pack16(reef_lo16(a) + reef_lo16(b), reef_hi16(a) + reef_hi16(b));
}
static inline int32_t reef_ssat8(int32_t x) { return x < -128 ? -128 : (x > 127 ? 127 : x); }
/* Callers keep acc * 2^32 + a * b within int64. */
static inline int32_t reef_smmlar(int32_t a, int32_t b, int32_t acc)
{
    return (int32_t)((acc * 4294967296LL + (int64_t)a * b + 2147483648LL) >> 32);
}
static inline int32_t reef_smlabb(int32_t a, int32_t b, int32_t acc)
{
    return (int32_t)((uint32_t)acc + (uint32_t)(reef_lo16(a) * reef_lo16(b)));
}
static inline int32_t reef_smlabt(int32_t a, int32_t b, int32_t acc)
{
    return (int32_t)((uint32_t)acc + (uint32_t)(reef_lo16(a) * reef_hi16(b)));
}
static inline int32_t reef_smlatb(int32_t a, int32_t b, int32_t acc)
{
    return (int32_t)((uint32_t)acc + (uint32_t)(reef_hi16(a) * reef_lo16(b)));
}
static inline int32_t reef_smlatt(int32_t a, int32_t b, int32_t acc)
{
    return (int32_t)((uint32_t)acc + (uint32_t)(reef_hi16(a) * reef_hi16(b)));
}

#endif

/* Low and high signed halfwords of a packed pair. */
static inline int32_t reef_half_lo(int32_t x) { return (int16_t)((uint32_t)x & 0xffffu); }
static inline int32_t reef_half_hi(int32_t x) { return x >> 16; }

#endif
