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

#ifdef REEF_HARNESS_BACKGROUND_DIFF
/* The camera's running background (runtime/include/reef/background.h): the
 * inputs are raw gray frames as int8 (p - 128, the model's input map when it
 * is the identity), one continuous stream, and the model sees each frame's
 * difference to the frames before it. 2 bytes a pixel. */
#include "reef/background.h"

static uint16_t harness_background_mean[REEF_MODEL_INPUT_SIZE];
static reef_background harness_background;

static void frame_to_difference(int8_t *in)
{
    uint8_t *px = (uint8_t *)in;
    for (uint32_t i = 0; i < REEF_MODEL_INPUT_SIZE; i++) px[i] ^= 0x80u; /* q + 128 = p */
    reef_background_difference(&harness_background, px, px);
    for (uint32_t i = 0; i < REEF_MODEL_INPUT_SIZE; i++) px[i] ^= 0x80u; /* d - 128 */
}
#endif

#ifdef REEF_HARNESS_TEMPORAL
/* Temporal context (reef_temporal_step): each input holds a raw gray frame
 * (its bytes p) in the input tensor's second half (of the first half only
 * byte 0 is read: nonzero at a clip's first frame, a new placement, where
 * the backgrounds start afresh); the step writes the two interleaved
 * channels [d, s] over the whole tensor, and each byte is mapped to the model's int8 input through its
 * channel's table (reef_harness_input_lut, force-included from
 * <name>_input_map.h: the model's input quantization, which for a
 * reef-trained model normalises each channel, so it is not p - 128).
 * kind REEF_TEMPORAL_LAG keeps LAG frames (LAG bytes a pixel),
 * REEF_TEMPORAL_SLOW a second mean (2 bytes a pixel), beside the running
 * mean's 2 bytes a pixel; the tables are 512 bytes of flash. */
#include "reef/background.h"

#define HARNESS_PIXELS (REEF_MODEL_INPUT_SIZE / 2)
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

static void temporal_start(void)
{
    reef_temporal_init(&harness_temporal, (reef_temporal_kind)REEF_HARNESS_TEMPORAL, harness_temporal_mean,
                       HARNESS_TEMPORAL_HISTORY, REEF_HARNESS_TEMPORAL_LAG, HARNESS_TEMPORAL_SLOW, HARNESS_PIXELS);
}

static void frame_to_temporal(int8_t *in)
{
    uint8_t *px = (uint8_t *)in;
    if (in[0]) temporal_start(); /* the host marks a clip's first frame: a new placement */
    reef_temporal_step(&harness_temporal, px + HARNESS_PIXELS, px); /* in place: reads the frame first */
    for (uint32_t i = 0; i < REEF_MODEL_INPUT_SIZE; i += 2) {
        in[i] = reef_harness_input_lut[0][px[i]];
        in[i + 1] = reef_harness_input_lut[1][px[i + 1]];
    }
}
#endif

static int run_one(uint32_t index)
{
    int8_t *input = HARNESS_INPUT, *output = HARNESS_OUTPUT;
    if (reef_platform_input_read(input, REEF_MODEL_INPUT_SIZE)) return REEF_EXIT_IO;
    reef_platform_cycles_start();
    reef_mark_inference_begin();
#ifdef REEF_HARNESS_BACKGROUND_DIFF
    frame_to_difference(input); /* counted with the inference: it runs for every frame */
#endif
#ifdef REEF_HARNESS_TEMPORAL
    frame_to_temporal(input); /* counted with the inference, likewise */
#endif
    int status = REEF_MODEL_INVOKE(input, output);
    reef_mark_inference_end();
    uint32_t cycles = reef_platform_cycles_stop();
    if (status != 0) {
        reef_harness_print_error("model invoke returned nonzero");
        return REEF_EXIT_MODEL;
    }
    if (cycles) reef_harness_print_pair("inference", index, "cycles", cycles);
    if (reef_platform_output_write(output, REEF_MODEL_OUTPUT_SIZE)) return REEF_EXIT_IO;
    return REEF_EXIT_OK;
}

int reef_harness_run(void)
{
    uint32_t count = 0;
    if (reef_platform_inputs_open(REEF_MODEL_INPUT_SIZE, &count)) return REEF_EXIT_IO;
    reef_harness_print_fact("inputs", count);
#ifdef REEF_HARNESS_BACKGROUND_DIFF
    reef_background_init(&harness_background, harness_background_mean, REEF_MODEL_INPUT_SIZE);
#endif
#ifdef REEF_HARNESS_TEMPORAL
    temporal_start();
#endif
    if (reef_platform_outputs_open()) return REEF_EXIT_IO;
    for (uint32_t i = 0; i < count; i++) {
        int status = run_one(i);
        if (status != REEF_EXIT_OK) return status;
    }
    if (reef_platform_outputs_close()) return REEF_EXIT_IO;
    uint32_t high_water = reef_platform_stack_high_water();
    if (high_water) reef_harness_print_fact("stack_high_water", high_water);
    reef_platform_print("reef-harness: ok\n");
    return REEF_EXIT_OK;
}
