/* arm_selftest.h's short-K 1x1 conv cases (st_conv_small) in a firmware
 * built as a model header with REEF_CONV_SMALL8_TAIL 0 builds it: the K = 8
 * assembly runs eight positions a pass only, and a count that is not a
 * multiple of 8 (most of the random 1-2 x 1-12 x 1-12 shapes) runs its last
 * positions in the C loop. Output: mismatching bytes against the
 * reference, as arm_selftest.h's. Compiled with conv.c and conv_ref.c only
 * (test_arm_selftest.c). */
#define REEF_CONV_SMALL8_TAIL 0
#define ARM_SELFTEST_SMALL8_ONLY 1
#pragma GCC diagnostic ignored "-Wunused-function"
#include "arm_selftest.h"
