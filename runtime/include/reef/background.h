/* reef runtime: the running background of a fixed camera, and the
 * difference-to-background input channel.
 *
 * A camera bolted to a reef sees the same scene frame after frame; what
 * moves (a fish) is what differs from the recent past. Per pixel the
 * runtime keeps an exponential running mean of the frames seen so far, in
 * 8.8 fixed point (uint16: 2 bytes a pixel, 2 KB at 32x32):
 *
 *   first frame:  mean = p << 8
 *   every frame:  d    = clamp(128 + 2 (p - ((mean + 128) >> 8)), 0, 255)
 *                 mean = mean + ((p << 8) - mean) / 16   (C division: toward zero)
 *
 * the difference taken BEFORE the update (the frame is compared with the
 * frames before it). The model input is two interleaved uint8 channels per
 * pixel: [p, d] (HWC, as `reef prep --background running` writes them),
 * or d alone (`--background running-diff`;
 * src/data/background.c calls this same code, so host and device agree bit
 * for bit). Integer only, no allocation: the caller owns the mean buffer
 * (keep it in NVM-backed RAM, or start over after a long power loss: a
 * stale background costs one frame of warm-up, nothing else).
 *
 * Cost on the M4 (emulated, fish-nas firmware at 32x32, with the harness's
 * two int8/uint8 flips): 26,136 instructions a frame (~25 a pixel, 0.29 ms
 * modeled at 120 MHz), 2 KB of RAM, 0.24 KB of flash. The temporal step
 * (below) adds a second channel from a second buffer. */
#ifndef REEF_BACKGROUND_H
#define REEF_BACKGROUND_H

#include <stdint.h>

typedef struct reef_background {
    uint16_t *mean;  /* (pixels) 8.8 fixed point, owned by the caller */
    uint32_t pixels; /* H x W */
    int primed;      /* 0 until the first frame has been seen */
} reef_background;

/* Starts a background over mean (pixels entries); the next frame primes it. */
void reef_background_init(reef_background *bg, uint16_t *mean, uint32_t pixels);

/* One frame of pixels uint8 gray values in, 2 x pixels uint8 out ([frame,
 * difference] per pixel), and the background updated. out may not alias
 * frame. */
void reef_background_step(reef_background *bg, const uint8_t *frame, uint8_t *out);

/* The same step with the difference alone as output (pixels uint8: the
 * 1-channel input of `reef prep --background running-diff`, the shipped
 * fish default's input). out may alias frame. */
void reef_background_difference(reef_background *bg, const uint8_t *frame, uint8_t *out);

/* Temporal context: the long-term difference above (to the running
 * background, b += (p - b) / 16) beside a second difference that sees
 * another time scale, so that motion that is local and transient (a fish)
 * can differ from motion that is global or periodic (water, weed, camera):
 *
 *   REEF_TEMPORAL_LAG       s = clamp(128 + 2 (p - q)), q the frame `lag`
 *                           steps back (lag 1: the previous frame; until
 *                           then, the first frame): +lag bytes a pixel (lag
 *                           KB at 32x32)
 *   REEF_TEMPORAL_SLOW      s = clamp(128 + 2 (p - ((slow + 128) >> 8))), slow
 *                           a second running mean in 8.8 fixed point that
 *                           moves an eighth as fast, slow += ((p << 8) - slow)
 *                           / 128: +2 bytes a pixel (2 KB at 32x32)
 *
 * The model input is two interleaved uint8 channels per pixel, [d, s] (HWC,
 * as `reef prep --background running-diff-previous|-lag4|-slow` writes
 * them; src/data/background.c calls this code). Integer only, no
 * allocation: the caller owns every buffer. */
typedef enum reef_temporal_kind { REEF_TEMPORAL_LAG = 1, REEF_TEMPORAL_SLOW = 2 } reef_temporal_kind;

typedef struct reef_temporal {
    reef_background bg;      /* the long-term (running) background */
    reef_temporal_kind kind;
    uint8_t *history;        /* LAG: (lag, pixels) the last lag frames, a ring, owned by the caller */
    uint16_t *slow;          /* SLOW: (pixels) 8.8 fixed point, owned by the caller */
    uint32_t lag, slot;      /* LAG: frames back (>= 1); the ring's slot holding the oldest frame */
} reef_temporal;

/* Starts over (the next frame primes every buffer). mean holds pixels
 * entries; LAG: history lag x pixels (slow unused, may be NULL); SLOW: slow
 * pixels (history and lag unused). */
void reef_temporal_init(reef_temporal *t, reef_temporal_kind kind, uint16_t *mean, uint8_t *history, uint32_t lag,
                        uint16_t *slow, uint32_t pixels);

/* One frame of pixels uint8 gray values in, 2 x pixels uint8 out ([d, s] per
 * pixel), every buffer updated. The frame may sit in the second half of out
 * (out + pixels: the firmware reads the camera's frame there), not elsewhere
 * in it: pixel p is read before out[2p] and out[2p + 1] are written, and
 * 2p + 1 <= pixels + p. */
void reef_temporal_step(reef_temporal *t, const uint8_t *frame, uint8_t *out);

/* The same step fused with the model's first layer when that is a 2x2
 * average pool of stride 2 (fish-nas-2ch and its 64x64 variant): each
 * pixel's [d, s] is mapped to the model's int8 input through map (one table
 * per channel) and each 2x2 window pooled as reef_avgpool_step does, clamped
 * to [lo, hi]. out: (H/2, W/2, 2) int8, exactly what the unfused input step
 * and the pool step write; the (H, W, 2) input tensor is never made. The
 * frame is (H, W) with W = width, H and W even. out may be the frame itself
 * (in place: window (r, c) writes bytes r*W + 2c and r*W + 2c + 1 after
 * reading its four pixels, all at or after 2r*W + 2c, and no later window
 * reads before 2r*W + 2c + 2), not elsewhere in it. */
void reef_temporal_step_pool2(reef_temporal *t, const uint8_t *frame, uint32_t width, const int8_t map[2][256],
                              int32_t lo, int32_t hi, int8_t *out);

#endif
