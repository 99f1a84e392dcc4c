/* `reef run --background running-diff-slow` on real frames: a reef-trained
 * 2-channel model (its input map normalises each channel, so it is not
 * p - 128) is fed raw gray DeepFish frames of two clips in one stream (the
 * device restarts its backgrounds at the second); the firmware forms
 * [d, s] with the runtime's temporal step and maps them through the model's
 * per-channel tables. Checked on host and qemu-m4: the target's outputs equal
 * the host interpreter's on every frame (exit 0, outputs_match_host), and the
 * accuracy equals the int8 predictions on the same clips prepped as `reef prep
 * --background running-diff-slow` does (so the channels and the map the
 * device applies are the training data's). Skips without
 * ../shared/data/deepfish. A few seconds (two firmware builds). */
#include "fixture_run.h"

#include <math.h>

#include "data/background.h"
#include "data/prep.h"
#include "nn/metrics.h"

#define CLIP_FRAMES 40 /* at most, of one clip */

static char dir[256];
static char out[1 << 16];

static const char arch_text[] = "name tiny2; input 32x32x2; avgpool k2 s2; stem k3 s2 c8 relu6; "
                                "mbconv k3 e2 c8 s1 skip; head c16 relu6; gap; fc";

static double json_number(const char *text, const char *key)
{
    char pat[80];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *p = strstr(text, pat);
    return p ? strtod(p + strlen(pat), NULL) : NAN;
}

/* dst: src's samples idx[0..n) in that order (pixels, labels, groups copied;
 * names and IDs borrowed from src, which must outlive dst). */
static void take_samples(const reef_dataset *src, const uint32_t *idx, uint32_t n, reef_dataset *dst)
{
    reef_error err;
    const size_t size = reef_dataset_sample_size(src);
    *dst = *src;
    dst->owner_ = NULL, dst->count = n;
    uint8_t *pixels = malloc(n * size);
    uint16_t *labels = malloc(n * sizeof *labels), *groups = malloc(n * sizeof *groups);
    const char **ids = malloc(n * sizeof *ids);
    assert_true(pixels && labels && groups && ids);
    for (uint32_t i = 0; i < n; i++) {
        memcpy(pixels + i * size, reef_dataset_sample(src, idx[i]), size);
        labels[i] = src->labels[idx[i]], groups[i] = src->groups[idx[i]], ids[i] = src->ids[idx[i]];
    }
    dst->pixels = pixels, dst->labels = labels, dst->groups = groups, dst->ids = ids;
    if (reef_dataset_own(dst, pixels, &err) || reef_dataset_own(dst, labels, &err) ||
        reef_dataset_own(dst, groups, &err) || reef_dataset_own(dst, ids, &err))
        fail_msg("%s", err.msg);
}

/* A small 2-channel net trained briefly on the slow-background channels,
 * with a per-channel normalisation far from p - 128, quantized. */
static void train_two_channel(const reef_dataset *train, reef_graph *g)
{
    reef_arch a;
    reef_model m;
    reef_error err;
    if (reef_arch_parse(arch_text, "test", &a, &err) || reef_model_build(&m, &a, 32, 32, 2, 2, 1, &err))
        fail_msg("%s", err.msg);
    reef_norm_from_dataset(&m.norm, train);
    fixture_run_train(&m, train, 2);
    reef_quant_options o;
    reef_quant_options_default(&o);
    o.samples = 200, o.agreement = 0;
    if (reef_quantize(&m, train, &o, g, NULL, &err)) fail_msg("%s", err.msg);
    reef_model_free(&m);
}

static void test_temporal_real_frames(void **state)
{
    (void)state;
    const char *bin = testing_reef_bin();
    char root[1024];
    if (!bin || !testing_shared_path(root, sizeof root, "data/deepfish/Classification/test.csv")) skip();
    testing_shared_path(root, sizeof root, "data/deepfish");
    reef_error err;
    reef_dataset gray, slow, gray_clip, slow_clip;
    reef_prep_options po = {.format = REEF_PREP_DEEPFISH, .root = root, .split = "test", .threads = 1};
    reef_prep_report rep = {0};
    if (reef_prep_build(&po, &gray, &rep, &err)) fail_msg("%s", err.msg);
    reef_prep_report_free(&rep);
    if (reef_dataset_with_background(&gray, REEF_BG_DIFF_SLOW, &slow, &err)) fail_msg("%s", err.msg);

    reef_graph g;
    train_two_channel(&slow, &g);
    reef_input_map map;
    if (reef_input_map_from_graph(&g, &map, &err)) fail_msg("%s", err.msg);
    assert_int_equal(map.channels, 2);
    assert_false(map.exact); /* the case the firmware needs its tables for */

    /* one clip in frame order (one camera's stream), prepped on its own: the
     * first of 12 frames or more on which the model answers both classes, so
     * the accuracy below depends on every frame's input; then a second clip */
    uint32_t *order = malloc(gray.count * sizeof *order), *starts = malloc((gray.count + 1) * sizeof *starts), nclips;
    assert_true(order && starts);
    if (reef_dataset_clip_order(&gray, order, starts, &nclips, &err)) fail_msg("%s", err.msg);
    uint16_t pred[2 * CLIP_FRAMES];
    uint32_t n = 0, clip = 0;
    int mixed = 0;
    for (uint32_t c = 0; c < nclips && !mixed; c++) {
        if (n) reef_dataset_free(&slow_clip), reef_dataset_free(&gray_clip);
        n = starts[c + 1] - starts[c], clip = c;
        if (n < 12) {
            n = 0;
            continue;
        }
        if (n > CLIP_FRAMES) n = CLIP_FRAMES;
        take_samples(&gray, order + starts[c], n, &gray_clip);
        if (reef_dataset_with_background(&gray_clip, REEF_BG_DIFF_SLOW, &slow_clip, &err) ||
            reef_int8_predict(&g, &slow_clip, NULL, (int)n, pred, &err))
            fail_msg("%s", err.msg);
        for (uint32_t i = 1; i < n; i++) mixed |= pred[i] != pred[0];
    }
    assert_true(n > 0);
    /* then the frames of the next clip of 12 frames or more: one stream of two
     * camera placements; the device must start its backgrounds afresh at the
     * second (the record's first byte), as prep does for each clip */
    uint32_t two_clips[2 * CLIP_FRAMES];
    const uint32_t n_first = n;
    for (uint32_t i = 0; i < n; i++) two_clips[i] = order[starts[clip] + i];
    for (uint32_t c = clip + 1; c < nclips && n == n_first; c++) {
        uint32_t m = starts[c + 1] - starts[c];
        if (m < 12) continue;
        if (m > CLIP_FRAMES) m = CLIP_FRAMES;
        for (uint32_t i = 0; i < m; i++) two_clips[n + i] = order[starts[c] + i];
        n += m;
    }
    assert_true(n > n_first);
    reef_dataset_free(&slow_clip), reef_dataset_free(&gray_clip);
    take_samples(&gray, two_clips, n, &gray_clip);
    if (reef_dataset_with_background(&gray_clip, REEF_BG_DIFF_SLOW, &slow_clip, &err) ||
        reef_int8_predict(&g, &slow_clip, NULL, (int)n, pred, &err))
        fail_msg("%s", err.msg);
    for (uint32_t i = 0; i < n; i++) assert_int_equal(reef_dataset_starts_clip(&gray_clip, i), i == 0 || i == n_first);
    reef_metrics mt;
    if (reef_metrics_compute(&mt, &slow_clip, pred, &err)) fail_msg("%s", err.msg);
    const double want = mt.accuracy;
    reef_metrics_free(&mt);
    if (!mixed) printf("note: the model answers one class on every clip; the accuracy check is weaker\n");

    char path[512], cmd[4096];
    snprintf(path, sizeof path, "%s/clip.ds", dir);
    if (reef_dataset_save(path, &gray_clip, &err)) fail_msg("%s", err.msg);
    snprintf(path, sizeof path, "%s/two.tflite", dir);
    if (reef_tflite_write(path, &g, &err)) fail_msg("%s", err.msg);
    for (int qemu = 0; qemu < 2; qemu++) {
        snprintf(cmd, sizeof cmd, "'%s' run --target %s --model %s/two.tflite --data %s/clip.ds --json "
                 "--background running-diff-slow", bin, qemu ? "qemu-m4" : "host", dir, dir);
        int rc = testing_run(cmd, out, sizeof out);
        if (rc) fail_msg("%s", out);
        printf("%s: %u frames of clips %s... (2 clips), accuracy %.4f (prepped clip through the host interpreter: %.4f)\n",
               qemu ? "qemu-m4" : "host", n, gray_clip.ids[0], json_number(out, "accuracy"), want);
        assert_non_null(strstr(out, "\"outputs_match_host\":true"));
        assert_true(fabs(json_number(out, "accuracy") - want) < 1e-9);
        if (qemu) assert_true(json_number(out, "instructions") > 0);
    }
    /* a 1-channel model is refused with a message naming the channels */
    snprintf(cmd, sizeof cmd, "'%s' run --target host --model %s/two.tflite --data %s/clip.ds "
             "--background running-diff", bin, dir, dir);
    assert_int_not_equal(testing_run(cmd, out, sizeof out), 0);
    reef_graph_free(&g);
    free(order), free(starts);
    reef_dataset_free(&slow_clip), reef_dataset_free(&gray_clip), reef_dataset_free(&slow), reef_dataset_free(&gray);
}

static int setup(void **state)
{
    (void)state;
    testing_tmpdir(dir, sizeof dir, "run-temporal");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return testing_rm_tree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_temporal_real_frames)};
    return cmocka_run_group_tests(tests, setup, teardown);
}
