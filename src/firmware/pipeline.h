/* The pipeline behind `reef run`, `reef report` and `reef infer --target
 * qemu-m4`: a lowered model (int8, or the float build) -> generated C ->
 * firmware for a target (reef_m4_build) -> one run over all inputs
 * (reef_m4_run / reef_host_run, with a time limit) -> outputs and figures.
 *
 * Figures and how each is obtained:
 *   instructions   EMULATED: exact executed instructions per inference (QEMU
 *                  plugin, qemu-m4 only), mean over the inferences run
 *   cycles, time   MODELED: the cycle model (cycles.h) on those counts, at
 *                  the device profile's clock and flash wait states
 *   power, energy  MODELED: the profile's run power; energy = time x power
 *   flash, RAM     from the firmware ELF (memory.h), RAM with the measured
 *                  stack high-water (qemu-m4 only)
 */
#ifndef REEF_FIRMWARE_PIPELINE_H
#define REEF_FIRMWARE_PIPELINE_H

#include <stddef.h>
#include <stdint.h>

#include "codegen/lower.h"
#include "codegen/lower_float.h"
#include "data/dataset.h"
#include "energy/profile.h"
#include "firmware/cycles.h"
#include "firmware/firmware.h"
#include "firmware/memory.h"
#include "tflite/graph.h"
#include "util/err.h"

typedef struct reef_pipeline_opts {
    const char *target;       /* "host" or "qemu-m4" */
    const char *work_dir;     /* generated C and firmware go here (created if
                                 missing); NULL: a temporary folder, removed */
    const char *name;         /* C symbol prefix of the generated model */
    const char *source;       /* names the model in generated comments (may be NULL) */
    const reef_device_profile *profile; /* clock, wait states, power (NULL: no modeled figures) */
    double timeout_s;         /* of the emulated run; <= 0: reef_pipeline_timeout() */
    int profile_steps;        /* per-step instruction counts */
    int every_op_path;        /* reef_fw_spec.every_op_path */
    int background_diff;      /* inputs are raw gray frames (p - 128); the firmware forms the
                                 running-background difference itself (reef_fw_spec) */
    int temporal, temporal_lag; /* inputs hold a raw gray frame (its bytes p) in their second half;
                                 the firmware forms the temporal channels itself (reef_fw_spec) */
    const struct reef_input_map *input_map; /* with temporal: the model's per-channel input map,
                                 built into the firmware as tables (<name>_input_map.h) */
    size_t record_size;       /* with background_diff or temporal: bytes of one input record (a control
                                 byte and a raw frame, targets/common/harness.c); 0: the model's input */
    int n_outputs;            /* records that are inferred (control bit 1); 0: every record */
} reef_pipeline_opts;

typedef struct reef_firmware_figures {
    int emulated;             /* 1: counts and memory figures below are filled */
    int inferences;
    double insn_mean;         /* executed instructions per inference (mean) */
    uint64_t insn_min, insn_max;
    int insn_all_equal;       /* every inference ran the same count */
    double cycles;            /* modeled, mean per inference */
    double core_cycles, flash_cycles;
    double time_ms, power_mw, energy_mj; /* modeled, per inference */
    double clock_mhz;
    reef_memory_report mem;
    double wall_seconds;      /* build excluded */
    double build_seconds;
} reef_firmware_figures;

/* The default time limit of one run: generous for the slowest plausible
 * emulation (20 instructions per MAC at 50 M instructions/s) plus 30 s. */
double reef_pipeline_timeout(int64_t macs_per_inference, int n);

/* The int8 body: runs n inputs (n, m->input_bytes bytes: int8 values, or
 * float32 ones around a QUANTIZE; or n records of opts->record_size bytes)
 * through the generated C of m on opts->target; outputs (n, or
 * opts->n_outputs, times m->output_bytes bytes: int8, float32 or int32
 * values, little-endian). counts (may be NULL) gets the raw counts of a
 * qemu-m4 run (free with reef_run_counts_free). */
int reef_pipeline_run_int8(const reef_lowered_model *m, const int8_t *inputs, int n, int8_t *outputs,
                           const reef_pipeline_opts *opts, reef_firmware_figures *fig, reef_run_counts *counts,
                           reef_error *err);

/* The float build: n inputs (n, m->input_count floats); outputs (n,
 * m->output_count). */
int reef_pipeline_run_float(const reef_float_model *m, const float *inputs, int n, float *outputs,
                            const reef_pipeline_opts *opts, reef_firmware_figures *fig, reef_error *err);

/* The int8 input tensors of every sample of ds for graph g (the quantizer's
 * input map: q = pixel - 128 for reef models and for graphs from other
 * tools). Refuses a dataset whose image shape does not fit the model's
 * input, or whose class count differs from the model's outputs, naming
 * both. *inputs: malloc'd (ds->count, input_size). */
int reef_pipeline_int8_inputs(const reef_graph *g, const reef_lowered_model *m, const reef_dataset *ds,
                              const char *data_path, int8_t **inputs, reef_error *err);

/* Index of the largest of n values, the first on ties. */
int reef_argmax_i8(const int8_t *v, int n);
int reef_argmax_f32(const float *v, int n);

#endif
