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

#include "data/dataset.h"
#include "util/err.h"

enum { MODE_DIFF, MODE_ABSDIFF, MODE_FRAMENORM, MODE_CLIPNORM, MODE_WARM };
enum { WARM_COPIES = 2 };
#define WARM_DROP 0.3

typedef struct frame_ref {
    const char *id;
    size_t clip_len;
    long frame;
    uint32_t index;
} frame_ref;

static int clip_and_frame(const char *id, size_t *clip_len, long *frame)
{
    const char *f = strrchr(id, '_');
    if (!f || f[1] != 'f' || !f[2]) return -1;
    char *end;
    long v = strtol(f + 2, &end, 10);
    if (*end || v < 0) return -1;
    *clip_len = (size_t)(f - id), *frame = v;
    return 0;
}

static int by_clip_then_frame(const void *pa, const void *pb)
{
    const frame_ref *a = pa, *b = pb;
    size_t n = a->clip_len < b->clip_len ? a->clip_len : b->clip_len;
    int c = strncmp(a->id, b->id, n);
    if (c) return c;
    if (a->clip_len != b->clip_len) return a->clip_len < b->clip_len ? -1 : 1;
    return a->frame < b->frame ? -1 : a->frame > b->frame;
}

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

/* One clip (refs, n frames in order) into out (one sample's pixels at
 * index * px). */
static void clip_variant(const reef_dataset *in, const frame_ref *refs, uint32_t n, int mode, uint8_t *out,
                         uint16_t *mean, int *delta)
{
    const size_t px = (size_t)in->height * in->width;
    int primed = 0;
    double scale = 0;
    for (uint32_t i = 0; i < n; i++) {
        background_delta(mean, &primed, reef_dataset_sample(in, refs[i].index), px, 1, delta);
        uint8_t *o = out + (size_t)refs[i].index * px;
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
static void clip_warm_copy(const reef_dataset *in, const frame_ref *refs, uint32_t n, uint8_t *out,
                           const uint32_t *slot, uint16_t *mean, int *delta)
{
    const size_t px = (size_t)in->height * in->width;
    const uint32_t start = (uint32_t)(uniform() * n) % n;
    int primed = 0;
    for (uint32_t k = 0; k < n; k++) {
        const uint32_t i = (start + k) % n;
        const int update = uniform() >= WARM_DROP;
        background_delta(mean, &primed, reef_dataset_sample(in, refs[i].index), px, update, delta);
        uint8_t *o = out + (size_t)slot[refs[i].index] * px;
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
    frame_ref *refs = malloc(in.count * sizeof *refs);
    uint8_t *pixels = malloc((size_t)count * px);
    uint16_t *mean = malloc(px * sizeof *mean), *labels = malloc(count * sizeof *labels),
             *groups = malloc(count * sizeof *groups);
    int *delta = malloc(px * sizeof *delta);
    uint32_t *slot = malloc(in.count * sizeof *slot);
    const char **ids = malloc(count * sizeof *ids);
    if (!refs || !pixels || !mean || !labels || !groups || !delta || !slot || !ids) return fprintf(stderr, "out of memory\n"), 1;
    for (uint32_t i = 0; i < in.count; i++) {
        refs[i].id = in.ids[i], refs[i].index = i;
        if (clip_and_frame(in.ids[i], &refs[i].clip_len, &refs[i].frame))
            return fprintf(stderr, "%s: sample %u's ID '%s' has no _f<frame>\n", argv[2], i, in.ids[i]), 1;
        for (uint32_t c = 0; c < copies; c++) {
            const uint32_t j = c * in.count + i;
            labels[j] = in.labels[i], groups[j] = in.groups[i];
            if (c == 0) ids[j] = in.ids[i];
            else {
                char *id = malloc(strlen(in.ids[i]) + 8);
                sprintf(id, "%s#aug%u", in.ids[i], c);
                ids[j] = id;
            }
        }
    }
    qsort(refs, in.count, sizeof *refs, by_clip_then_frame);
    for (uint32_t a = 0, b; a < in.count; a = b) {
        for (b = a + 1; b < in.count && refs[b].clip_len == refs[a].clip_len &&
                        !strncmp(refs[a].id, refs[b].id, refs[a].clip_len);)
            b++;
        clip_variant(&in, refs + a, b - a, mode == MODE_WARM ? MODE_DIFF : mode, pixels, mean, delta);
        for (uint32_t c = 1; c < copies; c++) {
            for (uint32_t i = 0; i < in.count; i++) slot[i] = c * in.count + i;
            clip_warm_copy(&in, refs + a, b - a, pixels, slot, mean, delta);
        }
    }
    out = in;
    out.owner_ = NULL;
    out.count = count, out.pixels = pixels, out.labels = labels, out.groups = groups, out.ids = ids;
    if (reef_dataset_save(argv[3], &out, &err)) return fprintf(stderr, "%s\n", err.msg), 1;
    printf("%s: %u samples (%s of %s)\n", argv[3], count, argv[1], argv[2]);
    return 0;
}
