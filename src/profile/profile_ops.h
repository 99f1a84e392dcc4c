/* The op profiler, its own stage: measures networks of the search space on
 * the emulated Cortex-M4 and fills the cost table from those runs (`reef
 * profile-ops`). The search (src/nas) only reads that table (nas/cost.h);
 * it never builds or runs firmware, so it does not depend on this stage.
 *
 * A network is measured the way it ships: the float model of its spec
 * (random weights) is quantized by src/quant on a few random images,
 * lowered (src/codegen), emitted as C, built into qemu-m4 firmware with
 * per-step profiling and run once (src/firmware). Each step's exact
 * instruction counts go through the cycle model, and steps are attributed
 * to the spec's blocks by their output tensor's name ("b3.l1", "b3.add";
 * "logits"/"probs" to the classifier). The table is filled from six
 * "column" networks per space, network j using candidate j in every
 * block, so 36 firmware builds cover the 6 spaces of the selection grid. */
#ifndef REEF_PROFILE_PROFILE_OPS_H
#define REEF_PROFILE_PROFILE_OPS_H

#include <stdint.h>

#include "energy/profile.h"
#include "nas/cost.h"
#include "nn/arch.h"
#include "firmware/memory.h"
#include "util/err.h"

typedef struct reef_nas_measure {
    int nblocks;                                   /* of the spec */
    double block_cycles[REEF_ARCH_MAX_BLOCKS];     /* modeled cycles of each spec block's steps */
    double block_insns[REEF_ARCH_MAX_BLOCKS];      /* emulated instructions */
    int64_t block_weights[REEF_ARCH_MAX_BLOCKS];   /* const bytes its steps use */
    int64_t block_live[REEF_ARCH_MAX_BLOCKS];      /* most arena bytes live during its steps */
    int64_t block_macs[REEF_ARCH_MAX_BLOCKS];
    double insns, cycles;       /* per inference: emulated, modeled */
    double step_cycles;         /* the steps' sum (cycles - step_cycles = per-inference overhead) */
    double latency_ms, energy_mj; /* modeled, at the profile's clock */
    int64_t arena, arena_lower; /* planned arena, and the most bytes live at one step */
    int64_t weights, macs;
    reef_memory_report mem;     /* flash and RAM of the firmware (RAM with stack high-water) */
    double seconds;             /* quantize + build + run, wall clock */
} reef_nas_measure;

/* Measures spec a for images in_h x in_w x in_c and num_classes classes.
 * work_dir keeps the generated C and firmware (NULL: a temporary folder). */
int reef_nas_measure_arch(const reef_arch *a, int in_h, int in_w, int in_c, int num_classes,
                          const reef_device_profile *p, const char *work_dir, uint64_t seed, reef_nas_measure *out,
                          reef_error *err);

/* Profiles every op of space s into t (six column networks), and raises
 * t's fixed parts (overhead cycles, flash and RAM besides weights and
 * arena) to the largest seen. progress (may be NULL) after each network. */
int reef_nas_profile_space(reef_nas_table *t, const reef_nas_space *s, const reef_device_profile *p,
                           const char *work_dir, void (*progress)(void *ctx, int done, int total), void *ctx,
                           reef_error *err);

/* Profiles the whole selection grid (every width x downsampling space,
 * six column networks each) for images h x w x c into t. Under mpirun the
 * networks are split over the ranks in contiguous slices and every rank
 * ends with the same table as one process (measurements are exchanged and
 * put in grid order); work_dir gets a rankR/ subfolder per rank. progress
 * (may be NULL) after each of this rank's networks: (done, this rank's). */
int reef_nas_profile_grid(reef_nas_table *t, int h, int w, int c, int classes, const reef_device_profile *p,
                          const char *work_dir, void (*progress)(void *ctx, int done, int total), void *ctx,
                          reef_error *err);

/* Puts the ops of network choice of space s, measured as ms, into t, and
 * raises t's fixed parts to this network's if larger. */
int reef_nas_table_put_measure(reef_nas_table *t, const reef_nas_space *s, const int *choice,
                               const reef_nas_measure *ms, reef_error *err);

/* Stamps t with what it is measured with: crc32 of the runtime sources,
 * the arm-none-eabi-gcc version, the profile's wait states. */
void reef_nas_table_stamp(reef_nas_table *t, const reef_device_profile *p);
/* 1 when t was measured with this runtime, toolchain and wait states. */
int reef_nas_table_current(const reef_nas_table *t, const reef_device_profile *p, char *why, int size);

#endif
