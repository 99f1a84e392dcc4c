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

void reef_background_step(reef_background *bg, const uint8_t *frame, uint8_t *out)
{
    uint16_t *mean = bg->mean;
    if (!bg->primed) {
        for (uint32_t p = 0; p < bg->pixels; p++) mean[p] = (uint16_t)(frame[p] << 8);
        bg->primed = 1;
    }
    for (uint32_t p = 0; p < bg->pixels; p++) {
        const int32_t m = mean[p], x = (int32_t)frame[p] << 8;
        out[2 * p] = frame[p];
        out[2 * p + 1] = difference(frame[p], (m + 128) >> 8);
        // the mean stays within [0, 255 << 8]: it moves a sixteenth of the way to x, rounding toward m
        mean[p] = (uint16_t)(m + (x - m) / 16);
    }
}
