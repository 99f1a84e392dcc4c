/* Per-step cycles for the intermittent planner (issue 13).
 *
 * `reef gen --intermittent` (and harvest, run --intermittent) cuts a model
 * into units that must each fit one charge of the capacitor; how big a
 * unit can be depends on what each step costs. The default is MEASURED:
 * one qemu-m4 run of the model with per-step instruction counts (EMULATED,
 * exact), turned into cycles by the cycle model (MODELED,
 * docs/cycle-model.md), kept in a cache keyed by the lowered model, the
 * runtime and harness sources the firmware is built from, and the device
 * profile's clock and wait states. Without the emulator the planner falls
 * back to the per-step estimate (reef_intermittent_step_cycles), which is
 * calibrated to stay at or above the measured counts of the models it was
 * checked on, and says so.
 *
 * The file format (also written by `reef run --step-cycles F`):
 *   # comments
 *   steps N
 *   0 CYCLES
 *   ...
 *   N-1 CYCLES */
#ifndef REEF_FIRMWARE_STEP_CYCLES_H
#define REEF_FIRMWARE_STEP_CYCLES_H

#include <stddef.h>
#include <stdint.h>

#include "codegen/lower.h"
#include "energy/profile.h"
#include "firmware/firmware.h"
#include "util/err.h"

/* Reads a step-cycles file; *cycles malloc'd. -1 with the file and line
 * named. */
int reef_step_cycles_read(const char *path, double **cycles, int *n, reef_error *err);

/* Writes one atomically (whole or not at all); comment: one or more
 * lines, each written after "# ". */
int reef_step_cycles_write(const char *path, const double *cycles, int n, const char *comment, reef_error *err);

/* Each step's modeled cycles from per-step counts of a qemu-m4 run (mean
 * over its inferences). *cycles malloc'd (counts->steps). */
int reef_step_cycles_from_counts(const reef_run_counts *counts, const reef_device_profile *prof, double **cycles,
                                 reef_error *err);

/* 1 when the cross compiler, qemu-system-arm and the counting plugin are
 * all found; else 0 and missing names what is not. */
int reef_step_cycles_can_measure(char *missing, size_t size);

/* The cache file for m under prof (cache folder: $REEF_CACHE_DIR, else
 * $XDG_CACHE_HOME/reef, else $HOME/.cache/reef). -1 when no folder can be
 * named. */
int reef_step_cycles_cache_path(const reef_lowered_model *m, const reef_device_profile *prof, char *path,
                                size_t size);

/* How the default step cycles were obtained. */
typedef enum reef_step_cycles_source {
    REEF_STEP_CYCLES_MEASURED = 0, /* a qemu-m4 run just now (and cached) */
    REEF_STEP_CYCLES_CACHED,       /* the cache of an earlier run */
    REEF_STEP_CYCLES_ESTIMATED     /* no emulator: *cycles is NULL, plan from the estimate */
} reef_step_cycles_source;

/* The planner's default: the cache, else one qemu-m4 run of m on a fixed
 * pseudo-random input (written to the cache), else (no emulator) NULL with
 * REEF_STEP_CYCLES_ESTIMATED and why in note. A run that fails for any
 * other reason is an error. note gets a sentence for the user (the cache
 * file, or what is missing). */
int reef_step_cycles_default(const reef_lowered_model *m, const reef_device_profile *prof, double **cycles,
                             reef_step_cycles_source *source, char *note, size_t note_size, reef_error *err);

#endif
