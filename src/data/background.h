/* Temporal context for a fixed camera: a second input channel holding each
 * frame's difference to the scene's background, d = clamp(128 + 2 (p - b)).
 * A camera that never moves sees the same background, so what differs from
 * it is what came into view; the difference does not depend on how bright
 * or green a site's water is, which is what changes from one site to the
 * next.
 *
 * Backgrounds (per pixel, over the frames of one clip, i.e. one camera
 * placement; DeepFish IDs end in "_f<frame number>", the rest names the
 * clip):
 *  - REEF_BG_MEDIAN: the clip's median frame. On a microcontroller: a
 *    background captured at installation (the median of N frames, N KB at
 *    32x32), not updated afterwards.
 *  - REEF_BG_RUNNING: causal; the frame is compared with the running mean
 *    of the clip's earlier frames, b += (p - b) / 16 after each frame
 *    (b starts at the clip's first frame). On a microcontroller: 2 KB
 *    (uint16 fixed point at 32x32) and two adds per pixel per frame.
 *  - REEF_BG_RUNNING_DIFF: as REEF_BG_RUNNING, but the difference channel
 *    ALONE (1 channel, the frame itself dropped): the scene of a habitat
 *    never reaches the net, only what changed in it. Screened best for
 *    habitats never seen in training (docs/generalization.md).
 *  - REEF_BG_DIFF_PREVIOUS, _LAG4, _SLOW: temporal context, two channels
 *    [d, s]: d the running difference, s the difference to the clip's
 *    previous frame (PREVIOUS), to its frame 4 steps back (LAG4; the clip's
 *    first frame until then) or to a running background 8 times slower,
 *    b += (p - b) / 128 (SLOW): runtime reef_temporal_step.
 * Caveat for DeepFish: its clips are all-fish or all-empty, so a clip's
 * background is computed from frames of one label only; at a real site the
 * background also sees the fish that pass. */
#ifndef REEF_DATA_BACKGROUND_H
#define REEF_DATA_BACKGROUND_H

#include "data/dataset.h"
#include "util/err.h"

typedef enum reef_bg_mode {
    REEF_BG_MEDIAN,
    REEF_BG_RUNNING,
    REEF_BG_RUNNING_DIFF,
    REEF_BG_DIFF_PREVIOUS,
    REEF_BG_DIFF_LAG4,
    REEF_BG_DIFF_SLOW
} reef_bg_mode;

/* "median" / "running" / "running-diff" / "running-diff-previous" /
 * "running-diff-lag4" / "running-diff-slow"; -1 for anything else. */
int reef_bg_mode_parse(const char *name, reef_bg_mode *mode);
/* The samples of ds grouped by clip (IDs "<clip>_f<frame>"), each clip's
 * frames in frame order: order (count entries) holds sample indices, and clip
 * c is order[starts[c] .. starts[c + 1]) (starts: room for count + 1). */
int reef_dataset_clip_order(const reef_dataset *ds, uint32_t *order, uint32_t *starts, uint32_t *nclips,
                            reef_error *err);
/* 1 if sample i starts a clip in ds's own order: the first sample, or one
 * whose clip (ID "<clip>_f<frame>") differs from sample i - 1's; IDs that
 * name no clip all belong to one stream. A camera placed at a new site is
 * one clip: its firmware starts its backgrounds afresh there. */
int reef_dataset_starts_clip(const reef_dataset *ds, uint32_t i);
/* where[i]: the index in stream of part's sample i, found by ID (every ID of
 * part must be in stream, e.g. a split's frames among all frames of their
 * clips; both need IDs and the same height and width). */
int reef_dataset_find_ids(const reef_dataset *part, const reef_dataset *stream, uint32_t *where, reef_error *err);
/* out: in's samples with a second channel, the difference to the
 * background (in must have 1 channel and IDs naming clip and frame). */
int reef_dataset_with_background(const reef_dataset *in, reef_bg_mode mode, reef_dataset *out, reef_error *err);
/* The same, with every background computed over the frames of stream (e.g.
 * every frame of every clip, as the camera sees them) instead of over part's
 * own frames: out holds part's samples, in part's order, their pixels taken
 * from stream's background dataset (every ID of part must be in stream).
 * A split that keeps every fifth frame of a clip otherwise gets a
 * background that moves five times as fast as the device's. */
int reef_dataset_with_stream_background(const reef_dataset *part, const reef_dataset *stream, reef_bg_mode mode,
                                        reef_dataset *out, reef_error *err);
/* Training copies for the difference input that do not rely on a clean
 * background: out holds diff's samples (a running-diff dataset), then
 * `copies` more copies of each, computed over stream's gray frames (the
 * frames the background runs over: diff's own, or every frame of its clips;
 * every ID of diff must be in stream). In each copy, every clip's background
 * starts at a random frame of the clip and runs on, wrapping round to the
 * clip's first frames (a different warm-up and history for every frame), and
 * a frame is dropped with probability drop (scored against the background,
 * but not added to it: a missed frame, a power failure). Copies' IDs are
 * "<id>#aug<k>"; labels and groups their frame's. For training only: never
 * score a held-out site on them (reef cv --train-data). */
int reef_dataset_with_background_copies(const reef_dataset *diff, const reef_dataset *stream, int copies,
                                        double drop, uint64_t seed, reef_dataset *out, reef_error *err);

#endif
