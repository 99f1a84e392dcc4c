/* The difference-to-background channel: see background.h. */
#include "data/background.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reef/background.h"
#include "util/rng.h"

int reef_bg_mode_parse(const char *name, reef_bg_mode *mode)
{
    if (!strcmp(name, "median")) *mode = REEF_BG_MEDIAN;
    else if (!strcmp(name, "running")) *mode = REEF_BG_RUNNING;
    else if (!strcmp(name, "running-diff")) *mode = REEF_BG_RUNNING_DIFF;
    else if (!strcmp(name, "running-diff-previous")) *mode = REEF_BG_DIFF_PREVIOUS;
    else if (!strcmp(name, "running-diff-lag4")) *mode = REEF_BG_DIFF_LAG4;
    else if (!strcmp(name, "running-diff-slow")) *mode = REEF_BG_DIFF_SLOW;
    else return -1;
    return 0;
}

/* Splits "…/clip_f000123" into the clip's length (up to "_f") and the frame
 * number; -1 if the ID does not end that way. */
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

typedef struct frame_ref {
    const char *id;
    size_t clip_len;
    long frame;
    uint32_t index;
} frame_ref;

static int by_clip_then_frame(const void *pa, const void *pb)
{
    const frame_ref *a = pa, *b = pb;
    size_t n = a->clip_len < b->clip_len ? a->clip_len : b->clip_len;
    int c = strncmp(a->id, b->id, n);
    if (c) return c;
    if (a->clip_len != b->clip_len) return a->clip_len < b->clip_len ? -1 : 1;
    return a->frame < b->frame ? -1 : a->frame > b->frame;
}

static int same_clip(const frame_ref *a, const frame_ref *b)
{
    return a->clip_len == b->clip_len && !strncmp(a->id, b->id, a->clip_len);
}

int reef_dataset_starts_clip(const reef_dataset *ds, uint32_t i)
{
    if (i == 0) return 1;
    frame_ref a = {.id = ds->ids[i - 1]}, b = {.id = ds->ids[i]};
    long frame;
    if (clip_and_frame(a.id, &a.clip_len, &frame) || clip_and_frame(b.id, &b.clip_len, &frame)) return 0;
    return !same_clip(&a, &b);
}

static uint8_t diff_value(int p, int b)
{
    int d = 128 + 2 * (p - b);
    return (uint8_t)(d < 0 ? 0 : d > 255 ? 255 : d);
}

static int cmp_u8(const void *a, const void *b) { return (int)*(const uint8_t *)a - (int)*(const uint8_t *)b; }

/* Frames order[0..n) of one clip, in frame order: their diff channels. */
static void clip_background(const reef_dataset *in, const uint32_t *order, uint32_t n, reef_bg_mode mode,
                            uint8_t *out_px, uint8_t *column, uint16_t *mean, void *second)
{
    const size_t px = (size_t)in->height * in->width;
    if (mode == REEF_BG_MEDIAN) {
        for (size_t p = 0; p < px; p++) {
            for (uint32_t i = 0; i < n; i++) column[i] = reef_dataset_sample(in, order[i])[p];
            qsort(column, n, 1, cmp_u8);
            const int b = n % 2 ? column[n / 2] : (column[n / 2 - 1] + column[n / 2] + 1) / 2;
            for (uint32_t i = 0; i < n; i++)
                out_px[(size_t)order[i] * px * 2 + p * 2 + 1] = diff_value(reef_dataset_sample(in, order[i])[p], b);
        }
        return;
    }
    // running mean: the runtime's own step (runtime/src/background.c), so the
    // training data is what the device computes, bit for bit
    if (mode == REEF_BG_DIFF_PREVIOUS || mode == REEF_BG_DIFF_LAG4 || mode == REEF_BG_DIFF_SLOW) {
        reef_temporal t;
        if (mode == REEF_BG_DIFF_SLOW)
            reef_temporal_init(&t, REEF_TEMPORAL_SLOW, mean, NULL, 0, second, (uint32_t)px);
        else
            reef_temporal_init(&t, REEF_TEMPORAL_LAG, mean, second, mode == REEF_BG_DIFF_LAG4 ? 4 : 1, NULL,
                               (uint32_t)px);
        for (uint32_t i = 0; i < n; i++)
            reef_temporal_step(&t, reef_dataset_sample(in, order[i]), out_px + (size_t)order[i] * px * 2);
        return;
    }
    reef_background bg;
    reef_background_init(&bg, mean, (uint32_t)px);
    for (uint32_t i = 0; i < n; i++)
        reef_background_step(&bg, reef_dataset_sample(in, order[i]), out_px + (size_t)order[i] * px * 2);
}

int reef_dataset_clip_order(const reef_dataset *ds, uint32_t *order, uint32_t *starts, uint32_t *nclips,
                            reef_error *err)
{
    if (!ds->ids || !ds->count) return reef_fail(err, "a background channel needs frames with IDs");
    frame_ref *refs = malloc(ds->count * sizeof *refs);
    if (!refs) return reef_fail(err, "out of memory");
    for (uint32_t i = 0; i < ds->count; i++) {
        refs[i].id = ds->ids[i], refs[i].index = i;
        if (clip_and_frame(ds->ids[i], &refs[i].clip_len, &refs[i].frame)) {
            free(refs);
            return reef_fail(err, "sample %u's ID '%s' does not end in _f<frame number> (no clip to take a background from)",
                             i, ds->ids[i]);
        }
    }
    qsort(refs, ds->count, sizeof *refs, by_clip_then_frame);
    uint32_t n = 0;
    for (uint32_t i = 0; i < ds->count; i++) {
        if (i == 0 || !same_clip(&refs[i - 1], &refs[i])) starts[n++] = i;
        order[i] = refs[i].index;
    }
    starts[n] = ds->count, *nclips = n;
    free(refs);
    return 0;
}

int reef_dataset_with_background(const reef_dataset *in, reef_bg_mode mode, reef_dataset *out, reef_error *err)
{
    memset(out, 0, sizeof *out);
    if (in->channels != 1) return reef_fail(err, "a background channel needs 1-channel (gray) frames, not %u", in->channels);
    const size_t px = (size_t)in->height * in->width;
    uint32_t *order = malloc((in->count + 1) * sizeof *order), *starts = malloc((in->count + 2) * sizeof *starts), nclips;
    uint8_t *pixels = malloc(in->count * px * 2 + 1), *column = malloc(in->count + 1);
    uint16_t *mean = malloc(px * sizeof *mean);
    void *second = malloc(4 * px); // the temporal channel's state: up to 4 lagged uint8 frames, or px uint16
    if (!order || !starts || !pixels || !column || !mean || !second) {
        free(order), free(starts), free(pixels), free(column), free(mean), free(second);
        return reef_fail(err, "out of memory");
    }
    if (reef_dataset_clip_order(in, order, starts, &nclips, err)) {
        free(order), free(starts), free(pixels), free(column), free(mean), free(second);
        return -1;
    }
    for (uint32_t i = 0; i < in->count; i++) {
        const uint8_t *s = reef_dataset_sample(in, i);
        for (size_t p = 0; p < px; p++) pixels[(size_t)i * px * 2 + p * 2] = s[p];
    }
    for (uint32_t c = 0; c < nclips; c++)
        clip_background(in, order + starts[c], starts[c + 1] - starts[c], mode, pixels, column, mean, second);
    free(order), free(starts), free(column), free(mean), free(second);
    const int diff_only = mode == REEF_BG_RUNNING_DIFF;
    if (diff_only) // keep the difference channel alone, in place (index i reads 2i + 1 >= i)
        for (size_t i = 0; i < (size_t)in->count * px; i++) pixels[i] = pixels[2 * i + 1];
    *out = *in;
    out->owner_ = NULL;
    out->channels = diff_only ? 1 : 2;
    out->pixels = pixels;
    return reef_dataset_own(out, pixels, err);
}

typedef struct id_ref {
    const char *id;
    uint32_t index;
} id_ref;

static int by_id(const void *a, const void *b) { return strcmp(((const id_ref *)a)->id, ((const id_ref *)b)->id); }

int reef_dataset_find_ids(const reef_dataset *part, const reef_dataset *stream, uint32_t *where, reef_error *err)
{
    if (!part->ids || !stream->ids) return reef_fail(err, "a background channel needs frames with IDs");
    if (part->height != stream->height || part->width != stream->width)
        return reef_fail(err, "the frames and the clips they come from differ in shape");
    id_ref *refs = malloc((stream->count + 1) * sizeof *refs);
    if (!refs) return reef_fail(err, "out of memory");
    for (uint32_t i = 0; i < stream->count; i++) refs[i].id = stream->ids[i], refs[i].index = i;
    qsort(refs, stream->count, sizeof *refs, by_id);
    for (uint32_t i = 0; i < part->count; i++) {
        const id_ref key = {part->ids[i], 0}, *hit = bsearch(&key, refs, stream->count, sizeof *refs, by_id);
        if (!hit) {
            free(refs);
            return reef_fail(err, "frame '%s' is not among the frames of its clips", part->ids[i]);
        }
        where[i] = hit->index;
    }
    free(refs);
    return 0;
}

int reef_dataset_with_stream_background(const reef_dataset *part, const reef_dataset *stream, reef_bg_mode mode,
                                        reef_dataset *out, reef_error *err)
{
    memset(out, 0, sizeof *out);
    uint32_t *where = malloc((part->count + 1) * sizeof *where);
    if (!where) return reef_fail(err, "out of memory");
    reef_dataset all;
    if (reef_dataset_find_ids(part, stream, where, err) || reef_dataset_with_background(stream, mode, &all, err)) {
        free(where);
        return -1;
    }
    const size_t size = reef_dataset_sample_size(&all);
    uint8_t *pixels = malloc((size_t)part->count * size + 1);
    if (!pixels) {
        free(where), reef_dataset_free(&all);
        return reef_fail(err, "out of memory");
    }
    for (uint32_t i = 0; i < part->count; i++)
        memcpy(pixels + (size_t)i * size, reef_dataset_sample(&all, where[i]), size);
    free(where);
    *out = *part;
    out->owner_ = NULL;
    out->channels = all.channels;
    out->pixels = pixels;
    reef_dataset_free(&all);
    return reef_dataset_own(out, pixels, err);
}

/* One warm-up/drop pass over every clip of stream: diffs (stream->count, px). */
static void warm_pass(const reef_dataset *stream, const uint32_t *order, const uint32_t *starts, uint32_t nclips,
                      double drop, reef_rng *rng, uint16_t *mean, uint16_t *saved, uint8_t *diffs)
{
    const size_t px = (size_t)stream->height * stream->width;
    for (uint32_t c = 0; c < nclips; c++) {
        const uint32_t n = starts[c + 1] - starts[c], start = reef_rng_below(rng, n);
        reef_background bg;
        reef_background_init(&bg, mean, (uint32_t)px);
        for (uint32_t k = 0; k < n; k++) {
            const uint32_t i = order[starts[c] + (start + k) % n];
            const int dropped = k > 0 && reef_rng_uniform(rng) < drop;
            if (dropped) memcpy(saved, mean, px * sizeof *mean);
            reef_background_difference(&bg, reef_dataset_sample(stream, i), diffs + (size_t)i * px);
            if (dropped) memcpy(mean, saved, px * sizeof *mean);  // scored, but the background did not see it
        }
    }
}

int reef_dataset_with_background_copies(const reef_dataset *diff, const reef_dataset *stream, int copies,
                                        double drop, uint64_t seed, reef_dataset *out, reef_error *err)
{
    memset(out, 0, sizeof *out);
    if (diff->channels != 1 || stream->channels != 1)
        return reef_fail(err, "background copies are of the 1-channel difference (running-diff) of gray frames");
    const size_t px = (size_t)stream->height * stream->width;
    const uint32_t n = diff->count, total = n * (uint32_t)(copies + 1);
    size_t id_bytes = 0;
    for (uint32_t i = 0; i < n; i++) id_bytes += strlen(diff->ids[i]) + 16;
    uint32_t *where = malloc((n + 1) * sizeof *where), *order = malloc((stream->count + 1) * sizeof *order),
             *starts = malloc((stream->count + 2) * sizeof *starts), nclips;
    uint16_t *mean = malloc(px * sizeof *mean), *saved = malloc(px * sizeof *saved);
    uint16_t *labels = malloc(total * sizeof *labels), *groups = malloc(total * sizeof *groups);
    uint8_t *diffs = malloc(stream->count * px + 1), *pixels = malloc((size_t)total * px + 1);
    const char **ids = malloc(total * sizeof *ids);
    char *names = malloc(id_bytes * (size_t)copies + 1);
    int rc = -1;
    if (!where || !order || !starts || !mean || !saved || !labels || !groups || !diffs || !pixels || !ids || !names) {
        reef_fail(err, "out of memory");
        goto done;
    }
    if (reef_dataset_find_ids(diff, stream, where, err) || reef_dataset_clip_order(stream, order, starts, &nclips, err)) goto done;
    memcpy(pixels, diff->pixels, (size_t)n * px);
    for (uint32_t i = 0; i < n; i++) ids[i] = diff->ids[i];
    char *name = names;
    reef_rng rng;
    reef_rng_seed(&rng, seed);
    for (int k = 1; k <= copies; k++) {
        warm_pass(stream, order, starts, nclips, drop, &rng, mean, saved, diffs);
        for (uint32_t i = 0; i < n; i++) {
            memcpy(pixels + ((size_t)k * n + i) * px, diffs + (size_t)where[i] * px, px);
            ids[(size_t)k * n + i] = name;
            name += sprintf(name, "%s#aug%d", diff->ids[i], k) + 1;
        }
    }
    for (uint32_t j = 0; j < total; j++) labels[j] = diff->labels[j % n], groups[j] = diff->groups[j % n];
    *out = *diff;
    out->owner_ = NULL;
    out->count = total, out->pixels = pixels, out->labels = labels, out->groups = groups, out->ids = ids;
    rc = reef_dataset_own(out, pixels, err) || reef_dataset_own(out, labels, err) ||
         reef_dataset_own(out, groups, err) || reef_dataset_own(out, (void *)ids, err) || reef_dataset_own(out, names, err);
    pixels = NULL, labels = groups = NULL, ids = NULL, names = NULL;
    if (rc) reef_dataset_free(out), rc = -1;
done:
    free(where), free(order), free(starts), free(mean), free(saved), free(diffs);
    free(pixels), free(labels), free(groups), free(ids), free(names);
    return rc;
}
