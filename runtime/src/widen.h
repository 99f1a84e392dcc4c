/* Column helpers of the fast kernels (internal): word-wise copies and the
 * int8 -> int16 widening with the input offset added, in SXTB16 order. */
#ifndef REEF_RT_WIDEN_H
#define REEF_RT_WIDEN_H

#include <stdint.h>

#include "dsp.h"

static inline void reef_store_u32(int8_t *p, uint32_t v) { __builtin_memcpy(p, &v, 4); }

/* dst[0..n) = src[0..n), a word at a time (LDR/STR allow unaligned
 * addresses on the M4). */
static inline void reef_copy_s8(int8_t *dst, const int8_t *src, int32_t n)
{
    for (; n >= 4; n -= 4, src += 4, dst += 4) reef_store_u32(dst, reef_load_u32(src));
    for (; n > 0; n--) *dst++ = *src++;
}

static inline void reef_fill_s8(int8_t *dst, int8_t v, int32_t n)
{
    const uint32_t word = 0x01010101u * (uint8_t)v;
    for (; n >= 4; n -= 4, dst += 4) reef_store_u32(dst, word);
    for (; n > 0; n--) *dst++ = v;
}

/* The halfword pairs SXTB16 makes of the last n (1-3) values of a row,
 * zeros past them: (v0, v2) and (v1, v3). Reads only n bytes. */
static inline int32_t reef_tail_even(const int8_t *v, int32_t n)
{
    return (int32_t)(((uint32_t)v[0] & 0xffffu) | ((uint32_t)(n > 2 ? v[2] : 0) << 16));
}
static inline int32_t reef_tail_odd(const int8_t *v, int32_t n)
{
    return n > 1 ? (int32_t)((uint32_t)v[1] & 0xffffu) : 0;
}

#if defined(REEF_ASM_LOOPS)
/* The main loop of reef_widen_s8_step on the M4, 8 values per pass in 14
 * instructions (LDR, not LDRD: the source may be unaligned); inc: the
 * bytes between two groups' words, "32", "16" or "8". Leaves src and dst past
 * the values done and n at 0. */
#define REEF_WIDEN_ASM(inc)                                                    \
    do {                                                                       \
        uint32_t v_, u_, e_, f_;                                               \
        __asm__ volatile("1:\n\t"                                              \
                         "ldr %[v], [%[src]], #4\n\t"                          \
                         "ldr %[u], [%[src]], #4\n\t"                          \
                         "sxtb16 %[e], %[v]\n\t"                               \
                         "sxtb16 %[v], %[v], ror #8\n\t"                       \
                         "sadd16 %[e], %[e], %[off]\n\t"                       \
                         "sadd16 %[v], %[v], %[off]\n\t"                       \
                         "strd %[e], %[v], [%[dst]], #" inc "\n\t"             \
                         "sxtb16 %[f], %[u]\n\t"                               \
                         "sxtb16 %[u], %[u], ror #8\n\t"                       \
                         "sadd16 %[f], %[f], %[off]\n\t"                       \
                         "sadd16 %[u], %[u], %[off]\n\t"                       \
                         "strd %[f], %[u], [%[dst]], #" inc "\n\t"             \
                         "subs %[n], %[n], #1\n\t"                             \
                         "bne 1b\n\t"                                          \
                         : [src] "+r"(src), [dst] "+r"(dst), [n] "+r"(n),      \
                           [v] "=&r"(v_), [u] "=&r"(u_), [e] "=&r"(e_),        \
                           [f] "=&r"(f_)                                       \
                         : [off] "r"(offsets)                                  \
                         : "cc", "memory");                                    \
    } while (0)
#endif

/* Widens k int8 values plus offset (in [-127, 128], so sums fit int16)
 * into dst: per 4 values the words (x0, x2) and (x1, x3), the next 4 values
 * step words further (step 8: four columns interleave; 4: two; 2: one). The
 * last group is padded with zeros; reads exactly k bytes. */
static inline void reef_widen_s8_step(const int8_t *src, int32_t k, int32_t offset, int32_t *dst,
                                      int32_t step)
{
    const int32_t offsets = (int32_t)(((uint32_t)offset & 0xffffu) | ((uint32_t)offset << 16));
    int32_t n;
    if ((k >> 2) & 1) {
        const uint32_t v = reef_load_u32(src);
        dst[0] = reef_sadd16(reef_sxtb16(v), offsets);
        dst[1] = reef_sadd16(reef_sxtb16_ror8(v), offsets);
        src += 4, dst += step;
    }
    n = k >> 3;
#if defined(REEF_ASM_LOOPS)
    if (n && step == 8)
        REEF_WIDEN_ASM("32");
    else if (n && step == 4)
        REEF_WIDEN_ASM("16");
    else if (n && step == 2)
        REEF_WIDEN_ASM("8");
    else
#endif
    /* two groups per pass: one loop test per 8 values */
    for (; n > 0; n--, src += 8, dst += 2 * step) {
        const uint32_t v = reef_load_u32(src), u = reef_load_u32(src + 4);
        dst[0] = reef_sadd16(reef_sxtb16(v), offsets);
        dst[1] = reef_sadd16(reef_sxtb16_ror8(v), offsets);
        dst[step] = reef_sadd16(reef_sxtb16(u), offsets);
        dst[step + 1] = reef_sadd16(reef_sxtb16_ror8(u), offsets);
    }
    if (k & 3) {
        const int32_t e = reef_tail_even(src, k & 3), o = reef_tail_odd(src, k & 3);
        /* offsets only on the halfwords that hold values */
        dst[0] = reef_sadd16(e, (k & 3) > 2 ? offsets : (offset & 0xffff));
        dst[1] = reef_sadd16(o, (k & 3) > 1 ? (offset & 0xffff) : 0);
    }
}

/* Two interleaved columns (conv). */
static inline void reef_widen_s8(const int8_t *src, int32_t k, int32_t offset, int32_t *dst)
{
    reef_widen_s8_step(src, k, offset, dst, 4);
}

#endif
