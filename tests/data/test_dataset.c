/* The dataset file: round trip, and every flipped byte and every
 * truncation refused; failed saves leave no file. */
#include "testing.h"

#include <zlib.h>

#include "data/dataset.h"
#include "fixtures.h"

/* A small dataset built in memory: 3 samples of 2x3x1. */
static const uint8_t pixels[3 * 6] = {1, 2, 3, 4, 5, 6, 10, 20, 30, 40, 50, 60, 255, 0, 255, 0, 255, 0};
static const uint16_t labels[3] = {1, 0, 1};
static const uint16_t groups[3] = {0, 1, 1};
static const char *class_names[2] = {"no_fish", "fish"};
static const char *group_names[2] = {"7117", "9908"};
static const char *ids[3] = {"7117/valid/a", "9908/empty/b", "9908/valid/c"};

static reef_dataset small_dataset(void)
{
    reef_dataset ds = {.count = 3, .height = 2, .width = 3, .channels = 1, .num_classes = 2,
                       .num_groups = 2, .pixels = pixels, .labels = labels, .groups = groups,
                       .class_names = class_names, .group_names = group_names, .ids = ids};
    return ds;
}

static void save_small(const char *path)
{
    reef_dataset ds = small_dataset();
    reef_error err;
    if (reef_dataset_save(path, &ds, &err)) fail_msg("%s", err.msg);
}

static void test_round_trip(void **state)
{
    (void)state;
    char dir[256], path[512];
    testing_tmpdir(dir, sizeof dir, "dataset");
    snprintf(path, sizeof path, "%s/small.ds", dir);
    save_small(path);
    assert_int_equal(testing_count_files(dir), 1); /* no temporary left */
    reef_dataset ds;
    reef_error err;
    if (reef_dataset_load(path, &ds, &err)) fail_msg("%s", err.msg);
    assert_int_equal(ds.count, 3);
    assert_int_equal(ds.height, 2);
    assert_int_equal(ds.width, 3);
    assert_int_equal(ds.channels, 1);
    assert_memory_equal(ds.pixels, pixels, sizeof pixels);
    assert_memory_equal(ds.labels, labels, sizeof labels);
    assert_memory_equal(ds.groups, groups, sizeof groups);
    assert_int_equal((uintptr_t)ds.pixels % 64, 0); /* mapped, aligned */
    assert_string_equal(ds.class_names[1], "fish");
    assert_string_equal(ds.group_names[1], "9908");
    for (int i = 0; i < 3; i++) assert_string_equal(ds.ids[i], ids[i]);
    assert_memory_equal(reef_dataset_sample(&ds, 1), pixels + 6, 6);
    reef_dataset_free(&ds);
    fx_rm_rf(dir);
}

static void expect_load_error(const char *path, const char *want)
{
    reef_dataset ds;
    reef_error err;
    assert_int_equal(reef_dataset_load(path, &ds, &err), -1);
    if (!strstr(err.msg, path) || (want && !strstr(err.msg, want)))
        fail_msg("error '%s' should name the file and say '%s'", err.msg, want ? want : "");
    assert_null(ds.pixels);
}

static void test_every_flipped_byte_is_refused(void **state)
{
    (void)state;
    char dir[256], path[512], bad[600];
    testing_tmpdir(dir, sizeof dir, "dataset");
    snprintf(path, sizeof path, "%s/small.ds", dir);
    snprintf(bad, sizeof bad, "%s/bad.ds", dir);
    save_small(path);
    size_t size;
    uint8_t *data = fx_read(path, &size);
    for (size_t i = 0; i < size; i++) { /* header, pixels, padding, strings alike */
        data[i] ^= 0x10;
        FILE *fp = fopen(bad, "wb");
        assert_int_equal(fwrite(data, 1, size, fp), size);
        fclose(fp);
        expect_load_error(bad, NULL);
        data[i] ^= 0x10;
    }
    data[200] ^= 1; /* a pixel byte: the payload CRC catches it */
    FILE *fp = fopen(bad, "wb");
    assert_int_equal(fwrite(data, 1, size, fp), size);
    fclose(fp);
    expect_load_error(bad, "CRC");
    free(data);
    fx_rm_rf(dir);
}

static void put_le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

/* A header with a valid CRC whose count x height x width x channels is
 * 2^31 x 65536 x 65536 x 4 = 2^65: in 64 bits it wrapped to 0 and the
 * section checks passed on it. Refused by the sizes, naming the file. */
static void test_size_product_overflow_is_refused(void **state)
{
    (void)state;
    char dir[256], path[512];
    testing_tmpdir(dir, sizeof dir, "dataset");
    snprintf(path, sizeof path, "%s/small.ds", dir);
    save_small(path);
    size_t size;
    uint8_t *data = fx_read(path, &size);
    put_le32(data + 16, 1u << 31); /* count */
    put_le32(data + 20, 65536);    /* height */
    put_le32(data + 24, 65536);    /* width */
    put_le32(data + 28, 4);        /* channels */
    put_le32(data + 124, (uint32_t)crc32(crc32(0, NULL, 0), data, 124));
    FILE *fp = fopen(path, "wb");
    assert_int_equal(fwrite(data, 1, size, fp), size);
    assert_int_equal(fclose(fp), 0);
    expect_load_error(path, "promises 2147483648 samples of 65536x65536x4");
    free(data);
    fx_rm_rf(dir);
}

static void test_every_truncation_is_refused(void **state)
{
    (void)state;
    char dir[256], path[512], cut[600];
    testing_tmpdir(dir, sizeof dir, "dataset");
    snprintf(path, sizeof path, "%s/small.ds", dir);
    snprintf(cut, sizeof cut, "%s/cut.ds", dir);
    save_small(path);
    size_t size;
    uint8_t *data = fx_read(path, &size);
    for (size_t n = 0; n < size; n++) {
        FILE *fp = fopen(cut, "wb");
        if (n) assert_int_equal(fwrite(data, 1, n, fp), n);
        fclose(fp);
        expect_load_error(cut, n < 128 ? "too short" : "truncated");
    }
    /* a byte more is not called truncated */
    FILE *fp = fopen(cut, "wb");
    assert_int_equal(fwrite(data, 1, size, fp), size);
    fputc(0, fp);
    fclose(fp);
    expect_load_error(cut, "bytes after the end");
    /* a short file of another kind (a checkpoint) is named as not a dataset,
     * not as a truncated one */
    fp = fopen(cut, "wb");
    fputs("REEFCKPT and 100 bytes of a checkpoint ......................................................", fp);
    fclose(fp);
    expect_load_error(cut, "not a reef dataset file (bad magic)");
    free(data);
    expect_load_error("/nonexistent/reef.ds", "cannot open");
    expect_load_error(dir, "is a folder, not a file");
    fx_rm_rf(dir);
}

static void test_failed_save_leaves_nothing(void **state)
{
    (void)state;
    char dir[256], path[512];
    testing_tmpdir(dir, sizeof dir, "dataset");
    snprintf(path, sizeof path, "%s/out.ds", dir);
    reef_dataset ds = small_dataset();
    uint16_t bad_labels[3] = {0, 2, 1}; /* 2 >= num_classes */
    ds.labels = bad_labels;
    reef_error err;
    assert_int_equal(reef_dataset_save(path, &ds, &err), -1);
    assert_non_null(strstr(err.msg, "out of range"));
    snprintf(path, sizeof path, "%s/no/such/folder/out.ds", dir);
    ds = small_dataset();
    assert_int_equal(reef_dataset_save(path, &ds, &err), -1);
    assert_int_equal(testing_count_files(dir), 0);
    fx_rm_rf(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_every_flipped_byte_is_refused),
        cmocka_unit_test(test_every_truncation_is_refused),
        cmocka_unit_test(test_size_product_overflow_is_refused),
        cmocka_unit_test(test_failed_save_leaves_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
