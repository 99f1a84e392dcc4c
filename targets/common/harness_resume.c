/* The intermittent firmware harness (issue 13): the same inputs and outputs
 * as harness.c, but every inference runs through the resumable step table
 * (reef/resume.h) with its progress in NVM, so the firmware can lose power
 * at any instruction and, restarted from reset, continue where the last
 * commit left it. Built instead of harness.c when the model header is
 * <name>_resume.h (it defines REEF_MODEL_RESUMABLE).
 *
 * At every boot the model's arena is poisoned (SRAM does not survive a
 * power failure; a missing restore then shows as a wrong result), the
 * record is read, the job in progress continues (its input came from NVM,
 * checkpointed when it started), and each finished job's output is stored
 * in NVM after the model's own bytes. When all jobs are done the outputs
 * go from NVM to reef-out.bin, so a failure while writing them only means
 * writing them again.
 *
 * Extra line it prints:  reef-harness: boot job J point P   (resuming) */
#include <stdint.h>

#include "harness.h"
#include "reef/nvm.h"
#include "reef/resume.h"

#if !defined(REEF_MODEL_RESUMABLE) || !defined(REEF_MODEL_ARENA_SIZE)
#error "force-include <name>_resume.h (reef gen --intermittent): it defines REEF_MODEL_RESUMABLE"
#endif

/* The plugin counts to each commit (resume.c calls it before and after). */
REEF_MARKER void reef_mark_commit(void) { __asm__ volatile("" ::: "memory"); }

#ifdef REEF_HARNESS_COMMIT_ENDS
/* The supply is taken as never low (continuous power): every point but a
 * job's first and last is passed without a commit (reef/resume.h). A board
 * on harvested power would answer from its supply voltage instead. */
static int supply_low(void *ctx, uint32_t point)
{
    (void)ctx, (void)point;
    return 0;
}
#endif

/* Where the NVM is: targets/<board>/nvm.c. */
void reef_platform_nvm(reef_nvm *nvm);

static int8_t harness_input[REEF_MODEL_INPUT_SIZE] __attribute__((aligned(8)));
static int8_t harness_output[REEF_MODEL_OUTPUT_SIZE] __attribute__((aligned(8)));

/* SRAM after a power failure holds nothing useful: make that visible. */
static void poison_arena(void)
{
    uint8_t *arena = (REEF_MODEL_RESUMABLE)->arena;
    for (uint32_t i = 0; i < (uint32_t)REEF_MODEL_ARENA_SIZE; i++) arena[i] = (uint8_t)(0xA5u ^ i);
}

/* Inputs are read in order; job j needs the (j+1)-th. */
static uint32_t inputs_read;

static int read_input(uint32_t job)
{
    while (inputs_read <= job) {
        if (reef_platform_input_read(harness_input, REEF_MODEL_INPUT_SIZE)) return -1;
        inputs_read++;
    }
    return 0;
}

static uint32_t results_at(void) { return ((uint32_t)REEF_MODEL_NVM_BYTES + 3u) & ~3u; }

static int write_outputs(const reef_nvm *nvm, uint32_t count)
{
    if (reef_platform_outputs_open()) return REEF_EXIT_IO;
    for (uint32_t j = 0; j < count; j++) {
        if (nvm->read(nvm->ctx, results_at() + j * REEF_MODEL_OUTPUT_SIZE, harness_output, REEF_MODEL_OUTPUT_SIZE))
            return REEF_EXIT_IO;
        if (reef_platform_output_write(harness_output, REEF_MODEL_OUTPUT_SIZE)) return REEF_EXIT_IO;
    }
    return reef_platform_outputs_close() ? REEF_EXIT_IO : REEF_EXIT_OK;
}

static int run_jobs(reef_resume *r, const reef_nvm *nvm, uint32_t job, uint32_t count)
{
    for (; job < count; job++) {
        const int8_t *in = 0;
        if (!reef_resume_has_job(r, job)) {
            if (read_input(job)) return REEF_EXIT_IO;
            in = harness_input;
        }
        reef_mark_inference_begin();
        int status = reef_resume_run(r, job, in, harness_output);
        reef_mark_inference_end();
        if (status != REEF_RESUME_OK) {
            reef_harness_print_error(status == REEF_RESUME_NVM_ERROR ? "NVM failed" : "model invoke returned nonzero");
            return REEF_EXIT_MODEL;
        }
        if (nvm->write(nvm->ctx, results_at() + job * REEF_MODEL_OUTPUT_SIZE, harness_output,
                       REEF_MODEL_OUTPUT_SIZE)) {
            reef_harness_print_error("NVM failed");
            return REEF_EXIT_IO;
        }
    }
    return REEF_EXIT_OK;
}

int reef_harness_run(void)
{
    reef_nvm nvm;
    reef_resume r;
    uint32_t count = 0;
    poison_arena();
    reef_platform_nvm(&nvm);
    if (reef_platform_inputs_open(REEF_MODEL_INPUT_SIZE, &count)) return REEF_EXIT_IO;
    reef_harness_print_fact("inputs", count);
    if (results_at() + count * (uint32_t)REEF_MODEL_OUTPUT_SIZE > nvm.size) {
        reef_harness_print_error("the outputs do not fit the NVM");
        return REEF_EXIT_IO;
    }
    if (reef_resume_boot(&r, REEF_MODEL_RESUMABLE, &nvm) != REEF_RESUME_OK) {
        reef_harness_print_error("NVM too small for the model's schedule, or unreadable");
        return REEF_EXIT_IO;
    }
#ifdef REEF_HARNESS_COMMIT_ENDS
    r.commit_now = supply_low;
#endif
    if (r.has_progress) reef_harness_print_pair("boot job", r.job, "point", r.point);
    int status = run_jobs(&r, &nvm, r.has_progress ? r.job : 0, count);
    if (status != REEF_EXIT_OK) return status;
    status = write_outputs(&nvm, count);
    if (status != REEF_EXIT_OK) return status;
    uint32_t high_water = reef_platform_stack_high_water();
    if (high_water) reef_harness_print_fact("stack_high_water", high_water);
    reef_platform_print("reef-harness: ok\n");
    return REEF_EXIT_OK;
}
