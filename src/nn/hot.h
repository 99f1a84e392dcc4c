/* REEF_HOT marks the float kernels that dominate training time: GCC builds
 * each for AVX-512, AVX2+FMA and baseline x86-64 and picks one at load time
 * (ifunc), so one binary runs everywhere and uses the wide vectors where
 * they exist. Results are deterministic on a given machine. */
#ifndef REEF_NN_HOT_H
#define REEF_NN_HOT_H

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(REEF_NO_CLONES)
#define REEF_HOT __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define REEF_HOT
#endif

#endif
