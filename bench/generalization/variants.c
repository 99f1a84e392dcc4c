/* bench/generalization/variants: alternative difference-to-background inputs
 * for screening levers with `reef cv` (docs/generalization.md). Reads a gray
 * `reef prep --split frames` dataset (all frames of every clip, IDs ending in
 * _f<frame>) and writes a 1-channel dataset of the same samples, in the same
 * order, whose pixels are one of:
 *
 *   diff       128 + 2 (p - b), clamped: what `prep --background running-diff`
 *              writes (the check that this tool's background is the runtime's)
 *   absdiff    4 |p - b|, clamped: the magnitude alone (the sign dropped)
 *   framenorm  128 + 32 (p - b) / max(sd, 2): the frame's difference divided by
 *              its own standard deviation over the frame (per-frame contrast
 *              normalisation)
 *   clipnorm   128 + 32 (p - b) / max(s, 2), s a running mean over the clip's
 *              frames (1/16 a frame, like b) of the frame's sd: a scale that
 *              follows the site's water and camera, not the one frame
 *   warm       the diff input, plus K = 2 copies of every frame (IDs with
 *              "#aug<k>") whose background ran with frames dropped (each frame
 *              skipped with probability 0.3: it is scored against the
 *              background but does not update it) from a random frame of the
 *              clip onwards, wrapping round to the clip's first frames (so the
 *              background's warm-up and history differ). For `reef cv
 *              --train-data`: the copies are training samples only.
 *
 * b is the runtime's running background (runtime/src/background.c: 8.8 fixed
 * point, b += (p - b) / 16, primed with the clip's first frame), recomputed
 * here so that p - b is available unclamped.
 *
 *   bench_generalization_variants MODE IN.ds OUT.ds [SEED]
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/background.h"
#include "data/dataset.h"
#include "util/err.h"

enum { MODE_DIFF, MODE_ABSDIFF, MODE_FRAMENORM, MODE_CLIPNORM, MODE_WARM };
enum { WARM_COPIES = 2 };
#define WARM_DROP 0.3

static uint8_t clamp_u8(double v) { return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : lrint(v)); }

static uint64_t rng_state = 1;
static double uniform(void)
{
    rng_state ^= rng_state << 13, rng_state ^= rng_state >> 7, rng_state ^= rng_state << 17;
    return (double)(rng_state >> 11) / 9007199254740992.0;
}

/* The runtime's step, returning p - b (the background before the update). */
static void background_delta(uint16_t *mean, int *primed, const uint8_t *frame, size_t px, int update, int *delta)
{
    if (!*primed) {
        for (size_t p = 0; p < px; p++) mean[p] = (uint16_t)(frame[p] << 8);
        *primed = 1;
    }
    for (size_t p = 0; p < px; p++) {
        const int32_t m = mean[p], x = (int32_t)frame[p] << 8;
        delta[p] = frame[p] - ((m + 128) >> 8);
        if (update) mean[p] = (uint16_t)(m + (x - m) / 16);
    }
}

static double frame_sd(const int *delta, size_t px)
{
    double s = 0, s2 = 0;
    for (size_t p = 0; p < px; p++) s += delta[p], s2 += (double)delta[p] * delta[p];
    const double mu = s / (double)px, var = s2 / (double)px - mu * mu;
    return var > 0 ? sqrt(var) : 0;
}

/* One clip (order: its n frames' sample indices, in frame order) into out
 * (a sample's pixels at index * px). */
static void clip_variant(const reef_dataset *in, const uint32_t *order, uint32_t n, int mode, uint8_t *out,
                         uint16_t *mean, int *delta)
{
    const size_t px = (size_t)in->height * in->width;
    int primed = 0;
    double scale = 0;
    for (uint32_t i = 0; i < n; i++) {
        background_delta(mean, &primed, reef_dataset_sample(in, order[i]), px, 1, delta);
        uint8_t *o = out + (size_t)order[i] * px;
        const double sd = frame_sd(delta, px);
        scale = i == 0 ? sd : scale + (sd - scale) / 16;
        for (size_t p = 0; p < px; p++) {
            const int d = delta[p];
            switch (mode) {
            case MODE_ABSDIFF: o[p] = clamp_u8(4.0 * abs(d)); break;
            case MODE_FRAMENORM: o[p] = clamp_u8(128 + 32.0 * d / (sd > 2 ? sd : 2)); break;
            case MODE_CLIPNORM: o[p] = clamp_u8(128 + 32.0 * d / (scale > 2 ? scale : 2)); break;
            default: o[p] = clamp_u8(128 + 2.0 * d); break;
            }
        }
    }
}

/* A warm-up/drop copy of one clip: start at a random frame, wrap round. */
static void clip_warm_copy(const reef_dataset *in, const uint32_t *order, uint32_t n, uint8_t *out,
                           uint32_t slot_base, uint16_t *mean, int *delta)
{
    const size_t px = (size_t)in->height * in->width;
    const uint32_t start = (uint32_t)(uniform() * n) % n;
    int primed = 0;
    for (uint32_t k = 0; k < n; k++) {
        const uint32_t i = (start + k) % n;
        const int update = uniform() >= WARM_DROP;
        background_delta(mean, &primed, reef_dataset_sample(in, order[i]), px, update, delta);
        uint8_t *o = out + (size_t)(slot_base + order[i]) * px;
        for (size_t p = 0; p < px; p++) o[p] = clamp_u8(128 + 2.0 * delta[p]);
    }
}

static int parse_mode(const char *s)
{
    const char *names[] = {"diff", "absdiff", "framenorm", "clipnorm", "warm"};
    for (int m = 0; m < 5; m++)
        if (!strcmp(s, names[m])) return m;
    return -1;
}

int main(int argc, char **argv)
{
    const int mode = argc >= 4 ? parse_mode(argv[1]) : -1;
    if (mode < 0) {
        fprintf(stderr, "usage: %s diff|absdiff|framenorm|clipnorm|warm IN.ds OUT.ds [SEED]\n", argv[0]);
        return 2;
    }
    if (argc > 4) rng_state = strtoull(argv[4], NULL, 10) * 2654435761u + 1;
    reef_error err;
    reef_dataset in, out;
    if (reef_dataset_load(argv[2], &in, &err)) return fprintf(stderr, "%s\n", err.msg), 1;
    if (in.channels != 1 || !in.ids) return fprintf(stderr, "%s: needs gray frames with IDs\n", argv[2]), 1;
    const size_t px = (size_t)in.height * in.width;
    const uint32_t copies = mode == MODE_WARM ? 1 + WARM_COPIES : 1, count = in.count * copies;
    uint8_t *pixels = malloc((size_t)count * px);
    uint16_t *mean = malloc(px * sizeof *mean), *labels = malloc(count * sizeof *labels),
             *groups = malloc(count * sizeof *groups);
    int *delta = malloc(px * sizeof *delta);
    uint32_t *order = malloc((in.count + 1) * sizeof *order), *starts = malloc((in.count + 2) * sizeof *starts), nclips;
    const char **ids = malloc(count * sizeof *ids);
    if (!pixels || !mean || !labels || !groups || !delta || !order || !starts || !ids)
        return fprintf(stderr, "out of memory\n"), 1;
    if (reef_dataset_clip_order(&in, order, starts, &nclips, &err)) return fprintf(stderr, "%s: %s\n", argv[2], err.msg), 1;
    for (uint32_t i = 0; i < in.count; i++)
        for (uint32_t c = 0; c < copies; c++) {
            const uint32_t j = c * in.count + i;
            labels[j] = in.labels[i], groups[j] = in.groups[i];
            if (c == 0) ids[j] = in.ids[i];
            else {
                char *id = malloc(strlen(in.ids[i]) + 16);
                sprintf(id, "%s#aug%u", in.ids[i], c);
                ids[j] = id;
            }
        }
    for (uint32_t k = 0; k < nclips; k++) {
        const uint32_t *clip = order + starts[k], n = starts[k + 1] - starts[k];
        clip_variant(&in, clip, n, mode == MODE_WARM ? MODE_DIFF : mode, pixels, mean, delta);
        for (uint32_t c = 1; c < copies; c++) clip_warm_copy(&in, clip, n, pixels, c * in.count, mean, delta);
    }
    out = in;
    out.owner_ = NULL;
    out.count = count, out.pixels = pixels, out.labels = labels, out.groups = groups, out.ids = ids;
    if (reef_dataset_save(argv[3], &out, &err)) return fprintf(stderr, "%s\n", err.msg), 1;
    printf("%s: %u samples (%s of %s)\n", argv[3], count, argv[1], argv[2]);
    return 0;
}
