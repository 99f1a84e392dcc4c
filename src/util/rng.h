/* A small deterministic random generator (xoshiro128** seeded by
 * splitmix64): same seed, same numbers, on every machine. */
#ifndef REEF_UTIL_RNG_H
#define REEF_UTIL_RNG_H

#include <stdint.h>

typedef struct reef_rng {
    uint32_t s[4];
} reef_rng;

void reef_rng_seed(reef_rng *r, uint64_t seed);
uint32_t reef_rng_u32(reef_rng *r);
/* Uniform in [0, n), n > 0, without modulo bias. */
uint32_t reef_rng_below(reef_rng *r, uint32_t n);
/* Uniform float in [0, 1). */
float reef_rng_uniform(reef_rng *r);
/* Standard normal (Box-Muller). */
float reef_rng_normal(reef_rng *r);

#endif
