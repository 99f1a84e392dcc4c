/* Building and running reef firmware: the harness (targets/common) around
 * a generated model, for the emulated Cortex-M4 (qemu-m4), the NUCLEO-
 * L4R5ZI board (stm32l4r5, build only) or natively (host).
 *
 * Figures from a qemu-m4 run are EMULATED: exact executed-instruction
 * counts from the QEMU plugin (src/firmware/plugin), deterministic run to
 * run. Cycles and time are MODELED from them (cycles.h). */
#ifndef REEF_FIRMWARE_FIRMWARE_H
#define REEF_FIRMWARE_FIRMWARE_H

#include <stddef.h>
#include <stdint.h>

#include "firmware/insn_class.h"
#include "util/err.h"

/* What to build. Paths may be relative to the current folder. */
typedef struct reef_fw_spec {
    const char *board;                  /* "qemu-m4", "stm32l4r5" or "host" */
    const char *model_header;           /* force-included; defines REEF_MODEL_* */
    const char *const *model_sources;   /* the generated model's .c files */
    int model_source_count;
    int profile_steps;                  /* -DREEF_PROFILE_STEPS: per-step counts */
    int every_op_path;                  /* 1: every depthwise and fully-connected loop compiled, whatever
                                           the model header lists (REEF_DW_PATHS, REEF_FC_PATHS): a NAS
                                           probe's flash then bounds any mix of its ops */
    int skip_runtime;                   /* 1: do not compile runtime/src (hand-written test models) */
    const char *board_inputs;           /* stm32l4r5: raw int8 inputs compiled in (NULL: none), or
                                           REEF_FW_INPUTS_UART: received on LPUART1 at run time */
    const char *output;                 /* the ELF (or host executable) to write */
    int intermittent;                   /* 1: the resumable harness (model_header is <name>_resume.h)
                                         * and the board's NVM (targets/<board>/nvm.c; issue 13) */
    int background_diff;                /* 1: -DREEF_HARNESS_BACKGROUND_DIFF: the harness turns each raw
                                           gray frame into its running-background difference
                                           (runtime reef_background_difference) before the model */
    int temporal, temporal_lag;         /* temporal != 0 (a reef_temporal_kind): -DREEF_HARNESS_TEMPORAL=kind
                                           -DREEF_HARNESS_TEMPORAL_LAG=lag: each input holds a raw gray
                                           frame (bytes p) in its second half, the harness forms the
                                           model's two channels with runtime reef_temporal_step and
                                           maps them through input_map_header's tables */
    const char *input_map_header;       /* with temporal: force-included; defines
                                           reef_harness_input_lut[2][256] (reef_pipeline writes it) */
    int commit_ends;                    /* intermittent: -DREEF_HARNESS_COMMIT_ENDS, the supply taken as
                                           never low: a job commits at its first and last point only
                                           (reef_resume.commit_now) */
} reef_fw_spec;

/* board_inputs value: the stm32l4r5 firmware receives its inputs on
 * LPUART1 (-DREEF_INPUTS_UART, targets/stm32l4r5/platform.c). */
#define REEF_FW_INPUTS_UART "<lpuart1>"

/* Compiles and links. Models that do not fit the STM32L4R5 are refused
 * with figures ("needs 2.30 MB flash (2411724 bytes), the STM32L4R5 has
 * 2 MB"). The runtime sources come from $REEF_SOURCE/runtime/src (the
 * source tree CMake was configured from when REEF_SOURCE is unset). */
int reef_m4_build(const reef_fw_spec *spec, reef_error *err);

typedef struct reef_insn_counts {
    uint64_t c[REEF_INSN_CLASS_COUNT]; /* indexed by enum reef_insn_class */
} reef_insn_counts;

/* What a run measured. Arrays are malloc'd; free with reef_run_counts_free. */
typedef struct reef_run_counts {
    int inferences;                  /* n */
    int steps;                       /* regions between step markers per inference (0 if not profiled) */
    reef_insn_counts *per_inference; /* (n): from entering reef_mark_inference_begin to entering _end */
    reef_insn_counts *per_step;      /* (n, steps) */
    reef_insn_counts whole_run;      /* start-up and I/O included */
    uint32_t stack_high_water;       /* bytes of stack ever used; 0 when unknown (host) */
} reef_run_counts;
void reef_run_counts_free(reef_run_counts *counts);

/* Runs firmware built for qemu-m4 on n inputs (n * input_size bytes),
 * writes n * output_size bytes of outputs, and fills counts (may be NULL).
 * A missing emulator, a firmware that faults (the message carries the
 * CFSR, HFSR, MMFAR, BFAR and PC it printed) or runs past timeout_s
 * seconds is an error; no figure is returned then. */
int reef_m4_run(const char *elf, const int8_t *inputs, int n, size_t input_size, int8_t *outputs,
                size_t output_size, reef_run_counts *counts, double timeout_s, reef_error *err);

/* The same for a host build (board "host"): counts->inferences only. */
int reef_host_run(const char *exe, const int8_t *inputs, int n, size_t input_size, int8_t *outputs,
                  size_t output_size, reef_run_counts *counts, double timeout_s, reef_error *err);

/* The same over a stream of n records of input_size bytes of which only
 * n_out produce an output and an inference (a firmware whose harness
 * decides per record, e.g. the camera stream of reef run --stream: every
 * frame moves the backgrounds, the scored ones are inferred): outputs
 * (n_out * output_size bytes), counts->inferences n_out. */
int reef_m4_run_records(const char *elf, const int8_t *inputs, int n, size_t input_size, int8_t *outputs, int n_out,
                        size_t output_size, reef_run_counts *counts, double timeout_s, reef_error *err);
int reef_host_run_records(const char *exe, const int8_t *inputs, int n, size_t input_size, int8_t *outputs, int n_out,
                          size_t output_size, reef_run_counts *counts, double timeout_s, reef_error *err);

/* The source tree (REEF_SOURCE, else the configured one). */
const char *reef_source_dir(void);

#endif
