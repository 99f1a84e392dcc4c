/* reef_prep on fixture inputs the test writes: the DeepFish layout, class
 * folders and IDX files; labels, groups, ids, pixels, thread determinism;
 * every kind of bad input gives its error and leaves no output file. */
#include "testing.h"

#include "data/prep.h"
#include "fixtures.h"

/* A DeepFish-like tree: two habitats, a valid (fish) and an empty frame
 * each, flat gray levels 40, 80, 120, 160, 360x202 like the shared frames. */
static const char *const df_ids[4] = {"9908/valid/f0", "9908/empty/f1", "7117/valid/f2", "7117/empty/f3"};
static const char df_csv[] = "\xEF\xBB\xBFID,labels\n9908/valid/f0,2\n9908/empty/f1,0\n\n7117/valid/f2,1\n7117/empty/f3,0\n";

static void make_deepfish(const char *root)
{
    char path[1024];
    for (int i = 0; i < 4; i++) {
        snprintf(path, sizeof path, "%s/Classification/%s", root, df_ids[i]);
        *strrchr(path, '/') = 0;
        fx_mkdirs(path);
        snprintf(path, sizeof path, "%s/Classification/%s.jpg", root, df_ids[i]);
        fx_write_flat_jpeg(path, 360, 202, 3, (uint8_t)(40 * (i + 1)));
    }
    snprintf(path, sizeof path, "%s/Classification/train.csv", root);
    fx_write_text(path, df_csv);
}

static reef_prep_options deepfish_options(const char *root)
{
    reef_prep_options o = {.format = REEF_PREP_DEEPFISH, .root = root, .split = "train"};
    return o;
}

static void build_ok(const reef_prep_options *o, reef_dataset *ds, reef_prep_report *rep)
{
    reef_error err;
    if (reef_prep_build(o, ds, rep, &err)) fail_msg("%s", err.msg);
}

static void test_deepfish_layout(void **state)
{
    (void)state;
    char root[256];
    testing_tmpdir(root, sizeof root, "prep");
    make_deepfish(root);
    reef_prep_options o = deepfish_options(root);
    reef_dataset ds;
    reef_prep_report rep;
    build_ok(&o, &ds, &rep);
    assert_int_equal(ds.count, 4);
    assert_int_equal(rep.listed, 4);
    assert_int_equal(ds.height * ds.width * ds.channels, 32 * 32);
    assert_string_equal(ds.class_names[0], "no_fish");
    assert_string_equal(ds.class_names[1], "fish");
    assert_int_equal(ds.num_groups, 2);
    assert_string_equal(ds.group_names[0], "7117"); /* sorted */
    assert_string_equal(ds.group_names[1], "9908");
    const uint16_t want_labels[4] = {1, 0, 1, 0}, want_groups[4] = {1, 1, 0, 0};
    for (uint32_t i = 0; i < 4; i++) {
        assert_int_equal(ds.labels[i], want_labels[i]);
        assert_int_equal(ds.groups[i], want_groups[i]);
        assert_string_equal(ds.ids[i], df_ids[i]);
        const uint8_t *px = reef_dataset_sample(&ds, i);
        for (int k = 0; k < 32 * 32; k++) assert_in_range(px[k], 40 * (i + 1) - 1, 40 * (i + 1) + 1);
    }
    reef_dataset_free(&ds);
    reef_prep_report_free(&rep);
    fx_rm_rf(root);
}

/* Same bytes with 1 thread and with 3, on smooth (not flat) pictures. */
static void test_threads_do_not_change_output(void **state)
{
    (void)state;
    char root[256], path[1024];
    testing_tmpdir(root, sizeof root, "prep");
    uint8_t *img = malloc(160 * 120 * 3);
    for (int i = 0; i < 24; i++) {
        snprintf(path, sizeof path, "%s/%s", root, i % 3 ? "b" : "a");
        fx_mkdirs(path);
        snprintf(path, sizeof path, "%s/%s/img%02d.%s", root, i % 3 ? "b" : "a", i, i % 2 ? "png" : "jpg");
        fx_smooth(img, 160, 120, 3, (unsigned)i);
        if (i % 2) fx_write_png(path, img, 160, 120, 3);
        else fx_write_jpeg(path, img, 160, 120, 3, 85);
    }
    free(img);
    reef_prep_options o = {.format = REEF_PREP_FOLDERS, .root = root, .channels = REEF_CHANNELS_RGB,
                           .width = 20, .height = 12, .threads = 1};
    reef_dataset one, many;
    reef_prep_report r1, r3;
    build_ok(&o, &one, &r1);
    o.threads = 3;
    build_ok(&o, &many, &r3);
    assert_int_equal(r3.threads, 3);
    assert_int_equal(one.count, 24);
    assert_int_equal(one.channels, 3);
    assert_memory_equal(one.pixels, many.pixels, 24 * 20 * 12 * 3);
    for (uint32_t i = 0; i < 24; i++) assert_string_equal(one.ids[i], many.ids[i]);
    assert_string_equal(one.ids[0], "a/img00.jpg"); /* class a first, files sorted */
    assert_int_equal(one.labels[0], 0);
    assert_int_equal(one.labels[23], 1);
    reef_dataset_free(&one);
    reef_dataset_free(&many);
    reef_prep_report_free(&r1);
    reef_prep_report_free(&r3);
    fx_rm_rf(root);
}

static void test_folders_layout(void **state)
{
    (void)state;
    char root[256], path[1024];
    testing_tmpdir(root, sizeof root, "prep");
    const uint8_t gray[4] = {10, 20, 30, 41};
    snprintf(path, sizeof path, "%s/train/dog", root);
    fx_mkdirs(path);
    snprintf(path, sizeof path, "%s/train/cat", root);
    fx_mkdirs(path);
    snprintf(path, sizeof path, "%s/train/cat/x.PNG", root);
    fx_write_png(path, gray, 2, 2, 1);
    snprintf(path, sizeof path, "%s/train/dog/notes.txt", root); /* not an image: ignored */
    fx_write_text(path, "hello");
    snprintf(path, sizeof path, "%s/train/dog/y.jpeg", root);
    fx_write_flat_jpeg(path, 16, 16, 1, 200);
    reef_prep_options o = {.format = REEF_PREP_FOLDERS, .root = root, .split = "train", .width = 1,
                           .height = 1};
    reef_dataset ds;
    reef_prep_report rep;
    build_ok(&o, &ds, &rep);
    assert_int_equal(ds.count, 2);
    assert_int_equal(ds.num_classes, 2);
    assert_string_equal(ds.class_names[0], "cat");
    assert_string_equal(ds.class_names[1], "dog");
    assert_string_equal(ds.group_names[0], "all");
    assert_string_equal(ds.ids[0], "cat/x.PNG");
    assert_int_equal(ds.pixels[0], 25); /* (10 + 20 + 30 + 41) / 4 = 25.25 */
    assert_in_range(ds.pixels[1], 199, 201);
    reef_dataset_free(&ds);
    reef_prep_report_free(&rep);
    fx_rm_rf(root);
}

/* 3 images of 28x28: image i is all 10*i, labels 9, 0, 4. */
static void make_idx(const char *dir, const char *prefix, int gz)
{
    char path[1024];
    uint8_t px[3 * 28 * 28], lab[3] = {9, 0, 4};
    for (int i = 0; i < 3; i++) memset(px + i * 784, 10 * i, 784);
    uint32_t idims[3] = {3, 28, 28}, ldims[1] = {3};
    fx_mkdirs(dir);
    snprintf(path, sizeof path, "%s/%s-images-idx3-ubyte%s", dir, prefix, gz ? ".gz" : "");
    fx_write_idx(path, 3, idims, px);
    snprintf(path, sizeof path, "%s/%s-labels-idx1-ubyte%s", dir, prefix, gz ? ".gz" : "");
    fx_write_idx(path, 1, ldims, lab);
}

static void test_idx(void **state)
{
    (void)state;
    char root[256], dir[512];
    testing_tmpdir(root, sizeof root, "prep");
    snprintf(dir, sizeof dir, "%s/fashion-mnist", root);
    make_idx(dir, "t10k", 1);
    reef_prep_options o = {.format = REEF_PREP_IDX, .root = dir, .split = "test"};
    reef_dataset ds;
    reef_prep_report rep;
    build_ok(&o, &ds, &rep);
    assert_int_equal(ds.count, 3);
    assert_int_equal(ds.num_classes, 10);
    assert_string_equal(ds.class_names[9], "Ankle boot");
    assert_string_equal(ds.ids[2], "test/00002");
    assert_int_equal(ds.labels[0], 9);
    assert_int_equal(ds.labels[2], 4);
    assert_int_equal(reef_dataset_sample(&ds, 2)[31 * 32 + 31], 20); /* 28 -> 32 of a flat image */
    reef_dataset_free(&ds);
    reef_prep_report_free(&rep);
    snprintf(dir, sizeof dir, "%s/digits", root); /* plain files, digit names */
    make_idx(dir, "train", 0);
    o.root = dir;
    o.split = NULL; /* train */
    build_ok(&o, &ds, &rep);
    assert_string_equal(ds.class_names[9], "9");
    reef_dataset_free(&ds);
    reef_prep_report_free(&rep);
    fx_rm_rf(root);
}

/* ---- bad inputs -------------------------------------------------------------- */

typedef struct bad_case {
    const char *name;
    reef_prep_format format;
    void (*spoil)(const char *root); /* damages a good fixture */
    const char *want[2];             /* both must appear in the error */
    int skippable;                   /* --skip-bad gets past it */
} bad_case;

static void spoil_path(const char *root, const char *rel, const char *text, size_t size)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", root, rel);
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    if (size) assert_int_equal(fwrite(text, 1, size, fp), size);
    fclose(fp);
}

static void missing_image(const char *root)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/Classification/7117/valid/f2.jpg", root);
    assert_int_equal(unlink(path), 0);
}
static void garbage_image(const char *root)
{
    spoil_path(root, "Classification/9908/empty/f1.jpg", "not a picture", 13);
}
static void truncated_image(const char *root)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/Classification/9908/empty/f1.jpg", root);
    assert_int_equal(truncate(path, 300), 0);
}
static void malformed_csv(const char *root)
{
    const char csv[] = "ID,labels\n9908/valid/f0,1\n9908/empty/f1,0,extra\n";
    spoil_path(root, "Classification/train.csv", csv, sizeof csv - 1);
}
static void unknown_label(const char *root)
{
    const char csv[] = "ID,labels\r\n\r\n9908/valid/f0,1\r\n9908/empty/f1,fishy\r\n"; /* CRLF, a blank line */
    spoil_path(root, "Classification/train.csv", csv, sizeof csv - 1);
}
static void no_labels_column(const char *root)
{
    const char csv[] = "ID,label\n9908/valid/f0,1\n";
    spoil_path(root, "Classification/train.csv", csv, sizeof csv - 1);
}
static void idx_bad_magic(const char *root)
{
    uint32_t dims[1] = {3};
    uint8_t lab[3] = {1, 2, 3};
    char path[1024];
    snprintf(path, sizeof path, "%s/train-images-idx3-ubyte.gz", root); /* labels where images go */
    fx_write_idx(path, 1, dims, lab);
}
static void idx_truncated(const char *root)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/train-images-idx3-ubyte.gz", root);
    size_t size;
    uint8_t *data = fx_read(path, &size);
    spoil_path(root, "train-images-idx3-ubyte.gz", (const char *)data, size / 2);
    free(data);
}
static void idx_missing(const char *root)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/train-labels-idx1-ubyte.gz", root);
    assert_int_equal(unlink(path), 0);
}
static void idx_unknown_label(const char *root)
{
    uint32_t dims[1] = {3};
    uint8_t lab[3] = {1, 12, 3};
    char path[1024];
    snprintf(path, sizeof path, "%s/train-labels-idx1-ubyte.gz", root);
    fx_write_idx(path, 1, dims, lab);
}
static void idx_count_mismatch(const char *root)
{
    uint32_t dims[1] = {2};
    uint8_t lab[2] = {1, 3};
    char path[1024];
    snprintf(path, sizeof path, "%s/train-labels-idx1-ubyte.gz", root);
    fx_write_idx(path, 1, dims, lab);
}

/* A header whose dimensions multiply to 2^64 (4 x 2^31 x 2^31): the
 * product wrapped to 0 and passed the size check of a header-only file,
 * then the resize read far past the buffer (exit 139). */
static void idx_size_overflow(const char *root)
{
    uint32_t idims[3] = {4, 1u << 31, 1u << 31}, ldims[1] = {4};
    uint8_t lab[4] = {1, 2, 3, 4};
    char path[1024];
    snprintf(path, sizeof path, "%s/train-images-idx3-ubyte.gz", root);
    fx_write_idx_header(path, 3, idims);
    snprintf(path, sizeof path, "%s/train-labels-idx1-ubyte.gz", root);
    fx_write_idx(path, 1, ldims, lab);
}
static void idx_trailing_bytes(const char *root)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/train-labels-idx1-ubyte.gz", root);
    assert_int_equal(unlink(path), 0);
    snprintf(path, sizeof path, "%s/train-labels-idx1-ubyte", root); /* plain: 3 labels and one byte more */
    const uint8_t raw[12] = {0, 0, 8, 1, 0, 0, 0, 3, 1, 2, 3, 4};
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(raw, 1, sizeof raw, fp), sizeof raw);
    assert_int_equal(fclose(fp), 0);
}

static void unclosed_quote(const char *root)
{
    const char csv[] = "ID,labels\n9908/valid/f0,1\n\"9908/empty/f1,0\n";
    spoil_path(root, "Classification/train.csv", csv, sizeof csv - 1);
}

static const bad_case bad_cases[] = {
    {"unclosed quote", REEF_PREP_DEEPFISH, unclosed_quote, {"train.csv:3:", "quoted field is not closed"}, 0},
    {"IDX size overflow", REEF_PREP_IDX, idx_size_overflow, {"train-images-idx3-ubyte.gz", "truncated: its header promises 4x2147483648x2147483648"}, 0},
    {"IDX trailing bytes", REEF_PREP_IDX, idx_trailing_bytes, {"train-labels-idx1-ubyte", "1 bytes after the 11"}, 0},
    {"missing image", REEF_PREP_DEEPFISH, missing_image, {"f2.jpg", "cannot open"}, 1},
    {"garbage image", REEF_PREP_DEEPFISH, garbage_image, {"f1.jpg", "not a JPEG or PNG"}, 1},
    {"truncated image", REEF_PREP_DEEPFISH, truncated_image, {"f1.jpg", "corrupt JPEG"}, 1},
    {"malformed CSV line", REEF_PREP_DEEPFISH, malformed_csv, {"train.csv:3:", "malformed"}, 0},
    {"unknown label", REEF_PREP_DEEPFISH, unknown_label, {"train.csv:4:", "unknown label 'fishy'"}, 0},
    {"no labels column", REEF_PREP_DEEPFISH, no_labels_column, {"train.csv:1:", "labels"}, 0},
    {"IDX bad magic", REEF_PREP_IDX, idx_bad_magic, {"train-images-idx3-ubyte.gz", "not an IDX"}, 0},
    {"IDX truncated", REEF_PREP_IDX, idx_truncated, {"train-images-idx3-ubyte.gz", "read"}, 0},
    {"IDX missing", REEF_PREP_IDX, idx_missing, {"train-labels-idx1-ubyte.gz", "cannot open"}, 0},
    {"IDX unknown label", REEF_PREP_IDX, idx_unknown_label, {"labels-idx1-ubyte.gz", "unknown label 12"}, 0},
    {"IDX count mismatch", REEF_PREP_IDX, idx_count_mismatch, {"3 images", "2 labels"}, 0},
};

static void run_bad_case(const bad_case *t)
{
    char root[256], out[512];
    testing_tmpdir(root, sizeof root, "prepbad");
    char src[512];
    snprintf(src, sizeof src, "%s/in", root);
    if (t->format == REEF_PREP_IDX) make_idx(src, "train", 1);
    else make_deepfish(src);
    t->spoil(src);
    snprintf(out, sizeof out, "%s/out.ds", root);
    reef_prep_options o = {.format = t->format, .root = src};
    reef_prep_report rep;
    reef_error err;
    if (reef_prep_file(&o, out, &rep, &err) == 0) fail_msg("%s: accepted", t->name);
    reef_prep_report_free(&rep);
    for (int k = 0; k < 2; k++)
        if (!strstr(err.msg, t->want[k])) fail_msg("%s: error '%s' lacks '%s'", t->name, err.msg, t->want[k]);
    assert_int_equal(testing_count_files(root), 1); /* in/ only: no output, no temporary */
    o.skip_bad = 1;
    int rc = reef_prep_file(&o, out, &rep, &err);
    if (t->skippable) {
        if (rc) fail_msg("%s: --skip-bad failed: %s", t->name, err.msg);
        assert_int_equal(rep.skipped_count, 1);
        assert_non_null(strstr(rep.skipped[0], t->want[0]));
        assert_int_equal(rep.listed, 4);
    } else {
        assert_int_equal(rc, -1);
    }
    reef_prep_report_free(&rep);
    fx_rm_rf(root);
}

static void test_bad_inputs(void **state)
{
    (void)state;
    for (size_t k = 0; k < sizeof bad_cases / sizeof bad_cases[0]; k++) run_bad_case(&bad_cases[k]);
}

static void test_skip_bad_lists_and_keeps_order(void **state)
{
    (void)state;
    char root[256], out[512];
    testing_tmpdir(root, sizeof root, "prep");
    make_deepfish(root);
    missing_image(root);
    garbage_image(root);
    snprintf(out, sizeof out, "%s/out.ds", root);
    reef_prep_options o = deepfish_options(root);
    o.skip_bad = 1;
    reef_prep_report rep;
    reef_error err;
    if (reef_prep_file(&o, out, &rep, &err)) fail_msg("%s", err.msg);
    assert_int_equal(rep.skipped_count, 2);
    assert_non_null(strstr(rep.skipped[0], "f1.jpg")); /* in listing order */
    assert_non_null(strstr(rep.skipped[1], "f2.jpg"));
    reef_dataset ds;
    if (reef_dataset_load(out, &ds, &err)) fail_msg("%s", err.msg);
    assert_int_equal(ds.count, 2);
    assert_string_equal(ds.ids[0], df_ids[0]);
    assert_string_equal(ds.ids[1], df_ids[3]);
    assert_int_equal(reef_dataset_sample(&ds, 1)[0], 160);
    reef_dataset_free(&ds);
    reef_prep_report_free(&rep);
    fx_rm_rf(root);
}

/* RFC 4180 quoting: quoted IDs and labels, "" for a quote in a header
 * name, a comma inside quotes; the same samples as the plain CSV. */
static void test_quoted_csv(void **state)
{
    (void)state;
    char root[256], path[600];
    testing_tmpdir(root, sizeof root, "prepquote");
    make_deepfish(root);
    snprintf(path, sizeof path, "%s/Classification/train.csv", root);
    fx_write_text(path, "\"ID\",\"labels\",\"a \"\"note\"\", with comma\"\r\n\"9908/valid/f0\",\"2\",\"x,y\"\r\n"
                        "9908/empty/f1,0,\r\n\"7117/valid/f2\",1,\"\"\r\n7117/empty/f3,\"0\",z\r\n");
    reef_prep_options o = deepfish_options(root);
    reef_dataset ds;
    reef_prep_report rep;
    build_ok(&o, &ds, &rep);
    assert_int_equal(ds.count, 4);
    for (uint32_t i = 0; i < 4; i++) assert_string_equal(ds.ids[i], df_ids[i]);
    assert_int_equal(ds.labels[0], ds.labels[2]);
    assert_true(ds.labels[0] != ds.labels[1]);
    reef_dataset_free(&ds);
    reef_prep_report_free(&rep);
    fx_rm_rf(root);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_deepfish_layout),
        cmocka_unit_test(test_threads_do_not_change_output),
        cmocka_unit_test(test_folders_layout),
        cmocka_unit_test(test_idx),
        cmocka_unit_test(test_bad_inputs),
        cmocka_unit_test(test_skip_bad_lists_and_keeps_order),
        cmocka_unit_test(test_quoted_csv),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
