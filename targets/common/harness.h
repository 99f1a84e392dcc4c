/* The firmware harness shared by every target (qemu-m4, stm32l4r5, host).
 *
 * The harness runs a model on N inputs and writes the N outputs. The model
 * comes from a header force-included with `-include <model>.h` that defines
 *   REEF_MODEL_INPUT_SIZE    bytes of one int8 input tensor
 *   REEF_MODEL_OUTPUT_SIZE   bytes of one int8 output tensor
 *   REEF_MODEL_INVOKE(in, out)  an int-returning call, 0 = ok
 *
 * Each target supplies the platform functions below (targets/<t>/platform.c).
 * Region markers: the harness calls reef_mark_inference_begin() right before
 * and reef_mark_inference_end() right after each invoke; the runtime, built
 * with -DREEF_PROFILE_STEPS, calls reef_mark_step() before each step and
 * after the last. They are empty noinline functions whose addresses the
 * QEMU plugin (src/firmware/plugin) watches.
 *
 * Lines the harness prints, one fact each (src/firmware parses them):
 *   reef-harness: inputs N
 *   reef-harness: inference I cycles C        (targets with a cycle counter)
 *   reef-harness: stack_high_water BYTES      (targets with a painted stack)
 *   reef-harness: ok
 *   reef-harness: error WHAT                  (then a nonzero exit)
 *   reef-harness: FAULT ... CFSR=... HFSR=... MMFAR=... BFAR=... PC=...
 */
#ifndef REEF_TARGETS_HARNESS_H
#define REEF_TARGETS_HARNESS_H

#include <stdint.h>

/* Exit statuses the host side recognises. */
enum {
    REEF_EXIT_OK = 0,
    REEF_EXIT_IO = 2,      /* inputs missing, wrong size, output not written */
    REEF_EXIT_MODEL = 3,   /* REEF_MODEL_INVOKE returned nonzero */
    REEF_EXIT_FAULT = 90   /* a Cortex-M fault handler ran */
};

/* Markers must stay distinct functions at distinct addresses: noinline
 * alone would let GCC's identical-code folding (-fipa-icf, on at -O2) merge
 * the empty bodies into one, so use noipa where GCC has it. The asm keeps
 * each body from being optimised into nothing at the call site. */
#if defined(__GNUC__) && !defined(__clang__)
#define REEF_MARKER __attribute__((noinline, noipa, used))
#else
#define REEF_MARKER __attribute__((noinline, used))
#endif

/* harness_common.c, linked with either harness */
void reef_mark_inference_begin(void);
void reef_mark_inference_end(void);
void reef_mark_step(void);

/* Runs the whole harness; returns the exit status. */
int reef_harness_run(void);

/* ---- what each platform provides ---------------------------------------- */
void reef_platform_init(void);
void reef_platform_print(const char *text);
/* Opens the inputs; sets *count to how many tensors of input_size bytes
 * there are. Returns 0, or -1 after printing why. */
int reef_platform_inputs_open(uint32_t input_size, uint32_t *count);
int reef_platform_input_read(int8_t *in, uint32_t size);   /* (input_size) */
int reef_platform_outputs_open(void);
int reef_platform_output_write(const int8_t *out, uint32_t size);
int reef_platform_outputs_close(void);
/* Cycle counter around one inference; returns 0 when the target has none. */
void reef_platform_cycles_start(void);
uint32_t reef_platform_cycles_stop(void);
/* Bytes of stack ever used (painted-stack scan), or 0 when unknown. */
uint32_t reef_platform_stack_high_water(void);
void reef_platform_exit(int status) __attribute__((noreturn));

/* Formats helpers for freestanding targets (no printf there). */
char *reef_fmt_u32(char *dst, uint32_t value);          /* decimal */
char *reef_fmt_hex32(char *dst, uint32_t value);        /* 0x%08x */
char *reef_harness_append(char *dst, const char *text); /* returns the new end */
void reef_harness_print_fact(const char *what, uint32_t value); /* "reef-harness: WHAT VALUE" */
void reef_harness_print_pair(const char *what, uint32_t value, const char *then,
                             uint32_t next);             /* "reef-harness: WHAT VALUE THEN NEXT" */
void reef_harness_print_error(const char *what);        /* "reef-harness: error WHAT" */

#endif
