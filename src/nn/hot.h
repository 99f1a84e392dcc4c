/* REEF_HOT marks the float kernels that dominate training time: GCC builds
 * each for AVX-512, AVX2+FMA and baseline x86-64 and picks one at load time
 * (ifunc), so one binary runs everywhere and uses the wide vectors where
 * they exist. Results are deterministic on a given machine.
 *
 * v8f is eight floats in one vector (GCC vector extension): one ymm
 * register with AVX2/AVX-512 (Zen 4 runs 512-bit ops as two 256-bit halves,
 * so eight lanes lose nothing there), two xmm registers on baseline x86-64.
 * ld8/st8 move eight floats at any alignment. */
#ifndef REEF_NN_HOT_H
#define REEF_NN_HOT_H

#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(REEF_NO_CLONES)
#define REEF_HOT __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define REEF_HOT
#endif

#if defined(__GNUC__) && !defined(__clang__)
/* v8f only crosses static inline functions, never an ABI boundary. */
#pragma GCC diagnostic ignored "-Wpsabi"
#endif

typedef float v8f __attribute__((vector_size(32)));
typedef int v8i __attribute__((vector_size(32)));

/* For helpers of REEF_HOT functions: inlined into each clone, so they are
 * built for that clone's instruction set. */
#define REEF_INLINE static inline __attribute__((always_inline))

REEF_INLINE v8f ld8(const float *p)
{
    v8f v;
    memcpy(&v, p, sizeof v);
    return v;
}

REEF_INLINE void st8(float *p, v8f v) { memcpy(p, &v, sizeof v); }

REEF_INLINE v8f splat8(float x) { return (v8f){x, x, x, x, x, x, x, x}; }

#endif
