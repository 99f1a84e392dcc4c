/* Running intermittent firmware on the emulated Cortex-M4 with injected
 * power failures (issue 13).
 *
 * The NVM is the mps2-an386 board's PSRAM mapped onto a file
 * (-object memory-backend-file,share=on -machine memory-backend=nvm); a
 * power failure is the QEMU plugin ending the process after exactly N
 * executed instructions (fail_at=N, under -icount); the next boot is a new
 * QEMU process: registers, SRAM and peripherals start from reset, the
 * harness poisons the arena, and only the file survived. Every count is
 * EMULATED (exact instructions). */
#ifndef REEF_FIRMWARE_INTERMITTENT_H
#define REEF_FIRMWARE_INTERMITTENT_H

#include <stddef.h>
#include <stdint.h>

#include "codegen/intermittent.h"
#include "codegen/lower.h"
#include "util/err.h"

/* Writes dir/<name>.[ch] and dir/<name>_resume.[ch] and builds the
 * intermittent qemu-m4 firmware elf (commit markers on: the plugin counts
 * to each commit). commit_ends: the harness takes the supply as never low
 * (commits at each job's first and last point only: reef/resume.h). */
int reef_intermittent_build(const reef_lowered_model *m, const reef_intermittent_plan *p, const char *dir,
                            const char *name, const char *elf, int commit_ends, reef_error *err);

typedef enum reef_fail_kind {
    REEF_FAIL_NONE = 0,
    REEF_FAIL_EVERY,  /* every boot ends after `every` instructions (until one finishes) */
    REEF_FAIL_RANDOM, /* the first random_count boots end at a random count in [1, random_max] */
    REEF_FAIL_AT      /* boot i ends after at[i] instructions (i < nat), later boots run on */
} reef_fail_kind;

typedef struct reef_fail_schedule {
    reef_fail_kind kind;
    uint64_t every;
    int random_count;
    uint64_t random_max;
    uint64_t seed;
    const uint64_t *at;
    int nat;
    int max_boots;      /* a run needing more boots is reported as a hang; 0: 100000 */
} reef_fail_schedule;

typedef struct reef_intermittent_report {
    int boots, failures;
    uint64_t instructions;           /* all boots, failed ones included */
    uint64_t last_boot_instructions; /* the boot that finished */
    uint64_t inference_instructions; /* in the finishing boot, inside inference markers */
    int inferences_in_last_boot;
    /* Instruction counts (from the finishing boot's start) at each entry of
     * reef_mark_commit, called before and after every commit: marks[2c] is
     * where commit c starts, marks[2c + 1] where it has finished. */
    uint64_t *marks;
    int nmarks;
} reef_intermittent_report;

void reef_intermittent_report_free(reef_intermittent_report *rep);

/* Runs n inputs through the firmware (built with reef_fw_spec.intermittent)
 * until it finishes, failing as fs says; outputs (n, output_size). A hang
 * (max_boots reached), a fault or a timeout of one boot is an error. */
int reef_m4_run_intermittent(const char *elf, const int8_t *inputs, int n, size_t input_size, int8_t *outputs,
                             size_t output_size, const reef_fail_schedule *fs, reef_intermittent_report *rep,
                             double timeout_s, reef_error *err);

#endif
