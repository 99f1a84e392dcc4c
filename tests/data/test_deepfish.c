/* reef_prep on the shared DeepFish frames (../shared/data/deepfish): each
 * split's frame count, labels and IDs as its CSV gives them, 18 habitats;
 * and how far the DCT-scaled decode is from a full decode on real frames.
 * Skips, saying so, when the data is absent. */
#include "testing.h"

#include "data/image.h"
#include "data/prep.h"
#include "fixtures.h"

typedef struct split_case {
    const char *split;
    uint32_t count;
} split_case;

static const split_case splits[] = {{"train", 3492}, {"val", 1165}, {"test", 1165}};

/* Checks ds against the CSV, parsed here independently of reef. */
static void check_against_csv(const char *csv, const reef_dataset *ds)
{
    size_t size;
    char *text = (char *)fx_read(csv, &size);
    text = realloc(text, size + 1);
    text[size] = 0;
    char *save = NULL, *line = strtok_r(text, "\r\n", &save); /* header: ID,labels */
    assert_string_equal(line, "ID,labels");
    uint32_t i = 0;
    while ((line = strtok_r(NULL, "\r\n", &save))) {
        char *comma = strrchr(line, ',');
        assert_non_null(comma);
        *comma = 0;
        assert_true(i < ds->count);
        assert_string_equal(ds->ids[i], line);
        assert_int_equal(ds->labels[i], atoi(comma + 1) > 0);
        size_t hlen = strcspn(line, "/");
        const char *group = ds->group_names[ds->groups[i]];
        assert_int_equal(strlen(group), hlen);
        assert_memory_equal(group, line, hlen);
        i++;
    }
    assert_int_equal(i, ds->count);
    free(text);
}

static void test_splits(void **state)
{
    (void)state;
    char root[1024], csv[1200];
    if (!testing_shared_path(root, sizeof root, "data/deepfish/Classification")) skip();
    testing_shared_path(root, sizeof root, "data/deepfish");
    /* the sanitizer build checks the smaller splits only */
    size_t n = testing_sanitizer_run() ? 1 : 3;
    for (size_t k = 3 - n; k < 3; k++) {
        reef_prep_options o = {.format = REEF_PREP_DEEPFISH, .root = root, .split = splits[k].split};
        reef_dataset ds;
        reef_prep_report rep;
        reef_error err;
        if (reef_prep_build(&o, &ds, &rep, &err)) fail_msg("%s", err.msg);
        printf("  %s: %u frames, %u habitats, %.0f frames/s\n", splits[k].split, ds.count, ds.num_groups,
               ds.count / rep.seconds);
        assert_int_equal(ds.count, splits[k].count);
        assert_int_equal(rep.skipped_count, 0);
        assert_int_equal(ds.num_groups, 18);
        assert_int_equal(ds.num_classes, 2);
        snprintf(csv, sizeof csv, "%s/Classification/%s.csv", root, splits[k].split);
        check_against_csv(csv, &ds);
        reef_dataset_free(&ds);
        reef_prep_report_free(&rep);
    }
}

/* On real frames the fast path (1/4 scale reduced IDCT, Y plane) stays near
 * a full accurate decode + BT.601 luma of the RGB + area resize: unbiased,
 * under a level on average; textured spots differ more (the reduced IDCT is
 * not an exact 4x4 mean). Prints the figures. */
static void test_scaled_decode_on_real_frames(void **state)
{
    (void)state;
    char csv[1024], path[2048];
    if (!testing_shared_path(csv, sizeof csv, "data/deepfish/Classification/test.csv")) skip();
    size_t size;
    char *text = (char *)fx_read(csv, &size);
    text = realloc(text, size + 1);
    text[size] = 0;
    reef_image_spec fast = {32, 32, REEF_CHANNELS_GRAY, 0}, full = {32, 32, REEF_CHANNELS_GRAY, 1};
    reef_image_scratch s = {0};
    reef_error err;
    uint8_t a[32 * 32], b[32 * 32];
    int maxdiff = 0, frames = 0, limit = testing_sanitizer_run() ? 20 : 200;
    double sum = 0, signed_sum = 0;
    char *save = NULL, *line = strtok_r(text, "\r\n", &save);
    while (frames < limit && (line = strtok_r(NULL, "\r\n", &save))) {
        *strrchr(line, ',') = 0;
        snprintf(path, sizeof path, "%.*s/%s.jpg", (int)(strlen(csv) - 9), csv, line);
        size_t n;
        uint8_t *jpg = fx_read(path, &n);
        if (reef_image_decode(jpg, n, path, &fast, &s, a, NULL, &err) ||
            reef_image_decode(jpg, n, path, &full, &s, b, NULL, &err))
            fail_msg("%s", err.msg);
        free(jpg);
        for (int i = 0; i < 32 * 32; i++) {
            int d = abs(a[i] - b[i]);
            signed_sum += a[i] - b[i];
            sum += d;
            if (d > maxdiff) maxdiff = d;
        }
        frames++;
    }
    double mean_abs = sum / (frames * 1024.0), bias = signed_sum / (frames * 1024.0);
    printf("  %d frames: scaled vs full decode, mean |diff| %.3f, mean diff %+.3f, max %d levels\n",
           frames, mean_abs, bias, maxdiff);
    assert_true(mean_abs < 1.0);
    assert_true(bias > -0.1 && bias < 0.1);
    assert_true(maxdiff <= 16);
    reef_image_scratch_free(&s);
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_splits),
        cmocka_unit_test(test_scaled_decode_on_real_frames),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
