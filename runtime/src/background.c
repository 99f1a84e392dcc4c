/* The running background and the difference channel: see background.h. */
#include "reef/background.h"

void reef_background_init(reef_background *bg, uint16_t *mean, uint32_t pixels)
{
    bg->mean = mean;
    bg->pixels = pixels;
    bg->primed = 0;
}

static uint8_t difference(int32_t pixel, int32_t background)
{
    const int32_t d = 128 + 2 * (pixel - background);
    return (uint8_t)(d < 0 ? 0 : d > 255 ? 255 : d);
}

/* out: [frame, difference] per pixel (with_frame) or the difference alone. */
static void step(reef_background *bg, const uint8_t *frame, uint8_t *out, int with_frame)
{
    uint16_t *mean = bg->mean;
    if (!bg->primed) {
        for (uint32_t p = 0; p < bg->pixels; p++) mean[p] = (uint16_t)(frame[p] << 8);
        bg->primed = 1;
    }
    for (uint32_t p = 0; p < bg->pixels; p++) {
        const int32_t m = mean[p], x = (int32_t)frame[p] << 8;
        const uint8_t d = difference(frame[p], (m + 128) >> 8);
        if (with_frame) out[2 * p] = frame[p], out[2 * p + 1] = d;
        else out[p] = d;
        // the mean stays within [0, 255 << 8]: it moves a sixteenth of the way to x, rounding toward m
        mean[p] = (uint16_t)(m + (x - m) / 16);
    }
}

void reef_background_step(reef_background *bg, const uint8_t *frame, uint8_t *out) { step(bg, frame, out, 1); }

void reef_background_difference(reef_background *bg, const uint8_t *frame, uint8_t *out) { step(bg, frame, out, 0); }

void reef_temporal_init(reef_temporal *t, reef_temporal_kind kind, uint16_t *mean, uint8_t *history, uint32_t lag,
                        uint16_t *slow, uint32_t pixels)
{
    reef_background_init(&t->bg, mean, pixels);
    t->kind = kind;
    t->history = history;
    t->lag = lag ? lag : 1;
    t->slot = 0;
    t->slow = slow;
}

/* A firmware that runs one kind (the build defines REEF_TEMPORAL_KIND to the
 * harness's, which also passes it to reef_temporal_init) compiles only that
 * kind's branch: no per-pixel test (fish-nas-2ch on qemu-m4: 396 -> 220 B
 * of code, 5,543 fewer instructions a frame). */
#if defined(REEF_TEMPORAL_KIND)
#define TEMPORAL_IS_LAG(t) (REEF_TEMPORAL_KIND == REEF_TEMPORAL_LAG)
#else
#define TEMPORAL_IS_LAG(t) ((t)->kind == REEF_TEMPORAL_LAG)
#endif

void reef_temporal_step(reef_temporal *t, const uint8_t *frame, uint8_t *out)
{
    uint16_t *mean = t->bg.mean, *slow = t->slow;
    const uint32_t pixels = t->bg.pixels;
    uint8_t *back = TEMPORAL_IS_LAG(t) ? t->history + t->slot * pixels : 0; /* the frame lag steps back */
    if (!t->bg.primed) {
        for (uint32_t p = 0; p < pixels; p++) {
            mean[p] = (uint16_t)(frame[p] << 8);
            if (TEMPORAL_IS_LAG(t))
                for (uint32_t k = 0; k < t->lag; k++) t->history[k * pixels + p] = frame[p];
            else slow[p] = (uint16_t)(frame[p] << 8);
        }
        t->bg.primed = 1;
    }
    for (uint32_t p = 0; p < pixels; p++) {
        const int32_t pixel = frame[p], m = mean[p], x = pixel << 8;
        const uint8_t d = difference(pixel, (m + 128) >> 8);
        uint8_t s;
        if (TEMPORAL_IS_LAG(t)) {
            s = difference(pixel, back[p]);
            back[p] = (uint8_t)pixel; /* the oldest slot becomes the newest */
        } else {
            const int32_t q = slow[p];
            s = difference(pixel, (q + 128) >> 8);
            slow[p] = (uint16_t)(q + (x - q) / 128);
        }
        mean[p] = (uint16_t)(m + (x - m) / 16);
        out[2 * p] = d, out[2 * p + 1] = s;
    }
    if (TEMPORAL_IS_LAG(t)) t->slot = t->slot + 1 == t->lag ? 0 : t->slot + 1;
}
