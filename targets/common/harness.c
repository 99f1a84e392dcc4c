/* The firmware harness: N inputs in, N outputs out, regions marked for the
 * emulator plugin. See harness.h for the model interface and the lines it
 * prints. C99, freestanding apart from the platform functions. */
#include <stdint.h>

#include "harness.h"

#if !defined(REEF_MODEL_INPUT_SIZE) || !defined(REEF_MODEL_OUTPUT_SIZE) || !defined(REEF_MODEL_INVOKE)
#error "force-include the model header (-include model.h): it defines REEF_MODEL_INPUT_SIZE, REEF_MODEL_OUTPUT_SIZE, REEF_MODEL_INVOKE"
#endif

/* One tensor at a time, so N inputs cost no more RAM than one. A model
 * whose header names its input and output tensors inside the arena
 * (REEF_MODEL_INPUT_BUFFER/REEF_MODEL_OUTPUT_BUFFER, reef gen's int8
 * models) is read into and written from the arena itself, as TFLite
 * Micro's interpreter does: no second copy of the input in RAM. Else
 * the harness's own buffers, aligned like the arena, in case the model
 * reads its input in words. */
#if defined(REEF_MODEL_INPUT_BUFFER) && defined(REEF_MODEL_OUTPUT_BUFFER)
#define HARNESS_INPUT REEF_MODEL_INPUT_BUFFER()
#define HARNESS_OUTPUT REEF_MODEL_OUTPUT_BUFFER()
#else
static int8_t harness_input[REEF_MODEL_INPUT_SIZE] __attribute__((aligned(8)));   /* (INPUT_SIZE) */
static int8_t harness_output[REEF_MODEL_OUTPUT_SIZE] __attribute__((aligned(8))); /* (OUTPUT_SIZE) */
#define HARNESS_INPUT harness_input
#define HARNESS_OUTPUT harness_output
#endif

#if defined(REEF_HARNESS_BACKGROUND_DIFF) || defined(REEF_HARNESS_TEMPORAL)
/* The camera's stream (reef run --background): each record is a control
 * byte, then one raw gray frame (its bytes p). The control byte's bit 0
 * marks a clip's first frame (a new camera placement: the backgrounds start
 * afresh), bit 1 a frame that is scored: the model runs on it and its output
 * is written. A frame without bit 1 only moves the backgrounds (reef run
 * --stream: every frame of a clip passes through them, as at a site, and
 * only the frames being evaluated are inferred; the model keeps no state
 * from frame to frame, so skipping it there changes no scored output). */
#include "reef/background.h"

#define HARNESS_CLIP_START 1u
#define HARNESS_SCORED 2u
#endif

#ifdef REEF_HARNESS_BACKGROUND_DIFF
/* The running background (runtime/include/reef/background.h): the model's
 * input is each frame's difference to the frames before it, mapped by
 * p - 128 (the model's input map must be the identity). 2 bytes a pixel. */
#define HARNESS_FRAME_BYTES REEF_MODEL_INPUT_SIZE
static uint16_t harness_background_mean[REEF_MODEL_INPUT_SIZE];
static reef_background harness_background;

static void background_start(void)
{
    reef_background_init(&harness_background, harness_background_mean, REEF_MODEL_INPUT_SIZE);
}

/* The frame is in the input tensor; scored: the model's input replaces it. */
static void frame_step(int8_t *in, unsigned control)
{
    uint8_t *px = (uint8_t *)in;
    if (control & HARNESS_CLIP_START) background_start();
    reef_background_difference(&harness_background, px, px); /* in place */
    if (control & HARNESS_SCORED)
        for (uint32_t i = 0; i < REEF_MODEL_INPUT_SIZE; i++) px[i] ^= 0x80u; /* d - 128 */
}
#endif

#ifdef REEF_HARNESS_TEMPORAL
/* Temporal context (reef_temporal_step): the frame is read into the input
 * tensor's second half; the step writes the two interleaved channels [d, s]
 * over the whole tensor, and each byte is mapped to the model's int8 input
 * through its channel's table (reef_harness_input_lut, force-included from
 * <name>_input_map.h: the model's input quantization, which for a
 * reef-trained model normalises each channel, so it is not p - 128).
 * kind REEF_TEMPORAL_LAG keeps LAG frames (LAG bytes a pixel),
 * REEF_TEMPORAL_SLOW a second mean (2 bytes a pixel), beside the running
 * mean's 2 bytes a pixel; the tables are 512 bytes of flash. */
#define HARNESS_PIXELS (REEF_MODEL_INPUT_SIZE / 2)
#define HARNESS_FRAME_BYTES HARNESS_PIXELS
static uint16_t harness_temporal_mean[HARNESS_PIXELS];
#if REEF_HARNESS_TEMPORAL == 2 /* REEF_TEMPORAL_SLOW */
static uint16_t harness_temporal_slow[HARNESS_PIXELS];
#define HARNESS_TEMPORAL_HISTORY 0
#define HARNESS_TEMPORAL_SLOW harness_temporal_slow
#else
static uint8_t harness_temporal_history[REEF_HARNESS_TEMPORAL_LAG * HARNESS_PIXELS];
#define HARNESS_TEMPORAL_HISTORY harness_temporal_history
#define HARNESS_TEMPORAL_SLOW 0
#endif
static reef_temporal harness_temporal;

static void background_start(void)
{
    reef_temporal_init(&harness_temporal, (reef_temporal_kind)REEF_HARNESS_TEMPORAL, harness_temporal_mean,
                       HARNESS_TEMPORAL_HISTORY, REEF_HARNESS_TEMPORAL_LAG, HARNESS_TEMPORAL_SLOW, HARNESS_PIXELS);
}

/* A model whose first step is a 2x2 average pool of its input (reef gen's
 * REEF_MODEL_POOL2_FIRST): on a scored frame the step writes the pooled
 * tensor itself, mapped and pooled in one pass, and the model runs from its
 * second step: the input tensor's mapped copy and the pool step's pass over
 * it are never made (outputs unchanged, bit for bit). */
#if defined(REEF_MODEL_POOL2_FIRST)
#define HARNESS_POOL2_FIRST 1
#endif
/* When step 0 runs over its input (REEF_MODEL_POOL2_IN_PLACE), the frame
 * is read at the pooled tensor itself, which the step writes in place (each
 * window's two bytes land on pixels it has read); the arena then holds only
 * the frame and the steps after step 0 (the model's .c: ARENA_AFTER_POOL2;
 * r64-c8e2 10,240 -> 7,520 B). Else in the input tensor's second half. */
#if defined(HARNESS_POOL2_FIRST) && defined(REEF_MODEL_POOL2_IN_PLACE)
#define HARNESS_FRAME(in) ((uint8_t *)REEF_MODEL_POOL2_OUTPUT())
#else
#define HARNESS_FRAME(in) ((uint8_t *)(in) + HARNESS_PIXELS)
#endif

static void frame_step(int8_t *in, unsigned control)
{
    uint8_t *px = (uint8_t *)in;
    if (control & HARNESS_CLIP_START) background_start();
#ifdef HARNESS_POOL2_FIRST
    /* every frame (an unscored one's pooled tensor is simply not used): the
     * firmware links one step, not two */
    reef_temporal_step_pool2(&harness_temporal, HARNESS_FRAME(in), REEF_MODEL_POOL2_WIDTH, reef_harness_input_lut,
                             REEF_MODEL_POOL2_MIN, REEF_MODEL_POOL2_MAX, REEF_MODEL_POOL2_OUTPUT());
    return;
#endif
    reef_temporal_step(&harness_temporal, HARNESS_FRAME(in), px); /* in place: reads the frame first */
    if (!(control & HARNESS_SCORED)) return;
    for (uint32_t i = 0; i < REEF_MODEL_INPUT_SIZE; i += 2) {
        in[i] = reef_harness_input_lut[0][px[i]];
        in[i + 1] = reef_harness_input_lut[1][px[i + 1]];
    }
}
#endif

/* After one inference: the model's status, its cycles (0 where the board
 * cannot count them) and its output written back to the host. */
static int inference_done(uint32_t index, int status, uint32_t cycles, const int8_t *output)
{
    if (status != 0) {
        reef_harness_print_error("model invoke returned nonzero");
        return REEF_EXIT_MODEL;
    }
    if (cycles) reef_harness_print_pair("inference", index, "cycles", cycles);
    if (reef_platform_output_write(output, REEF_MODEL_OUTPUT_SIZE)) return REEF_EXIT_IO;
    return REEF_EXIT_OK;
}

#ifdef HARNESS_FRAME_BYTES
#define HARNESS_RECORD_SIZE (1 + HARNESS_FRAME_BYTES)
#ifdef REEF_HARNESS_TEMPORAL
#define HARNESS_FRAME_AT ((int8_t *)HARNESS_FRAME(HARNESS_INPUT) - HARNESS_INPUT)
#else
#define HARNESS_FRAME_AT 0
#endif

/* One record of the stream: the backgrounds always move; the model runs
 * (and its output is written) on scored frames only. The step is counted
 * with the inference: it runs for every frame. */
static int run_frame(uint32_t index)
{
    int8_t *input = HARNESS_INPUT, *output = HARNESS_OUTPUT, control;
    if (reef_platform_input_read(&control, 1) || reef_platform_input_read(input + HARNESS_FRAME_AT, HARNESS_FRAME_BYTES))
        return REEF_EXIT_IO;
    const unsigned flags = (unsigned)(uint8_t)control;
    if (!(flags & HARNESS_SCORED)) {
        frame_step(input, flags);
        return REEF_EXIT_OK;
    }
    reef_platform_cycles_start();
    reef_mark_inference_begin();
    frame_step(input, flags);
#ifdef HARNESS_POOL2_FIRST
    int status = REEF_MODEL_INVOKE_AFTER_POOL2();
#else
    int status = REEF_MODEL_INVOKE(input, output);
#endif
    reef_mark_inference_end();
    uint32_t cycles = reef_platform_cycles_stop();
    return inference_done(index, status, cycles, output);
}
#else
#define HARNESS_RECORD_SIZE REEF_MODEL_INPUT_SIZE
#endif

#ifndef HARNESS_FRAME_BYTES
static int run_one(uint32_t index)
{
    int8_t *input = HARNESS_INPUT, *output = HARNESS_OUTPUT;
    if (reef_platform_input_read(input, REEF_MODEL_INPUT_SIZE)) return REEF_EXIT_IO;
    reef_platform_cycles_start();
    reef_mark_inference_begin();
    int status = REEF_MODEL_INVOKE(input, output);
    reef_mark_inference_end();
    uint32_t cycles = reef_platform_cycles_stop();
    return inference_done(index, status, cycles, output);
}
#endif

int reef_harness_run(void)
{
    uint32_t count = 0;
    if (reef_platform_inputs_open(HARNESS_RECORD_SIZE, &count)) return REEF_EXIT_IO;
    reef_harness_print_fact("inputs", count);
#ifdef HARNESS_FRAME_BYTES
    background_start(); /* at boot; a clip's first record also says so */
#endif
    if (reef_platform_outputs_open()) return REEF_EXIT_IO;
    for (uint32_t i = 0; i < count; i++) {
#ifdef HARNESS_FRAME_BYTES
        int status = run_frame(i);
#else
        int status = run_one(i);
#endif
        if (status != REEF_EXIT_OK) return status;
    }
    if (reef_platform_outputs_close()) return REEF_EXIT_IO;
    uint32_t high_water = reef_platform_stack_high_water();
    if (high_water) reef_harness_print_fact("stack_high_water", high_water);
    reef_platform_print("reef-harness: ok\n");
    return REEF_EXIT_OK;
}
