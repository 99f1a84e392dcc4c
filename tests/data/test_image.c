/* Luma, area resize, JPEG DCT-scaled decode and PNG decode against values
 * computed by hand or by a full-resolution reference decode. */
#include "testing.h"

#include <png.h>
#include <sys/resource.h>
#include <zlib.h>

#include "data/image.h"
#include "fixtures.h"

static void test_luma_by_hand(void **state)
{
    (void)state;
    assert_int_equal(reef_luma(0, 0, 0), 0);
    assert_int_equal(reef_luma(255, 255, 255), 255);
    assert_int_equal(reef_luma(255, 0, 0), 76);   /* 0.299 * 255 = 76.2 */
    assert_int_equal(reef_luma(0, 255, 0), 150);  /* 0.587 * 255 = 149.7 */
    assert_int_equal(reef_luma(0, 0, 255), 29);   /* 0.114 * 255 = 29.1 */
    assert_int_equal(reef_luma(100, 150, 200), 141); /* 29.9 + 88.05 + 22.8 = 140.75 */
    for (int v = 0; v < 256; v++) assert_int_equal(reef_luma((uint8_t)v, (uint8_t)v, (uint8_t)v), v);
}

typedef struct resize_case {
    const char *name;
    uint32_t sw, sh, c, dw, dh;
    uint8_t src[16];
    uint8_t want[16];
} resize_case;

static const resize_case resize_cases[] = {
    /* 2x2 blocks: means 2, 6, 10, 20.25 */
    {"4x4->2x2", 4, 4, 1, 2, 2, {0, 2, 4, 6, 2, 4, 6, 8, 10, 10, 20, 20, 10, 10, 20, 21}, {2, 6, 10, 20}},
    /* output 0 covers source [0, 1.5): (0 + 90/2) / 1.5 = 30; output 1: (45 + 180) / 1.5 = 150 */
    {"3->2", 3, 1, 1, 2, 1, {0, 90, 180}, {30, 150}},
    {"half rounds up", 2, 1, 1, 1, 1, {1, 2}, {2}},
    {"upscale 2->4", 2, 1, 1, 4, 1, {0, 100}, {0, 0, 100, 100}},
    {"upscale 2->3", 2, 1, 1, 3, 1, {0, 100}, {0, 50, 100}},
    {"rgb 2x2->1x1", 2, 2, 3, 1, 1, {10, 20, 30, 20, 30, 40, 30, 40, 50, 40, 50, 61}, {25, 35, 45}},
    {"same size", 2, 2, 1, 2, 2, {7, 8, 9, 10}, {7, 8, 9, 10}},
    /* vertical 3->1 and horizontal 1->1 */
    {"column 3->1", 1, 3, 1, 1, 1, {0, 3, 255}, {86}},
};

static void test_resize_by_hand(void **state)
{
    (void)state;
    for (size_t k = 0; k < sizeof resize_cases / sizeof resize_cases[0]; k++) {
        const resize_case *t = &resize_cases[k];
        uint8_t out[16] = {0};
        uint64_t *scratch = malloc(reef_resize_scratch_size(t->sw, t->c, t->dw, t->dh) * sizeof *scratch);
        reef_resize_area(t->src, t->sw, t->sh, t->c, out, t->dw, t->dh, scratch);
        free(scratch);
        for (uint32_t i = 0; i < t->dw * t->dh * t->c; i++)
            if (out[i] != t->want[i]) fail_msg("%s: out[%u] = %u, want %u", t->name, i, out[i], t->want[i]);
    }
}

/* ---- JPEG ------------------------------------------------------------------ */

static uint8_t *decode_file(const char *path, const reef_image_spec *spec, reef_image_info *info)
{
    size_t size;
    uint8_t *data = fx_read(path, &size);
    uint8_t *out = malloc((size_t)spec->width * spec->height * reef_channels_count(spec->channels));
    reef_image_scratch s = {0};
    reef_error err;
    if (reef_image_decode(data, size, path, spec, &s, out, info, &err)) fail_msg("%s", err.msg);
    reef_image_scratch_free(&s);
    free(data);
    return out;
}

typedef struct jpeg_case {
    int w, h, c;
    reef_channels channels;
    uint32_t want_dw, want_dh; /* decoded size after DCT scaling */
} jpeg_case;

static int check_scaled_vs_full(const char *dir, const jpeg_case *t, unsigned seed)
{
    char path[512];
    snprintf(path, sizeof path, "%s/f%dx%dx%d.jpg", dir, t->w, t->h, t->c);
    uint8_t *img = malloc((size_t)t->w * t->h * t->c);
    fx_smooth(img, t->w, t->h, t->c, seed);
    fx_write_jpeg(path, img, t->w, t->h, t->c, 90);
    free(img);
    reef_image_spec fast = {32, 32, t->channels, 0}, full = {32, 32, t->channels, 1};
    reef_image_info fi, ri;
    uint8_t *a = decode_file(path, &fast, &fi), *b = decode_file(path, &full, &ri);
    assert_int_equal(fi.src_width, t->w);
    assert_int_equal(fi.decoded_width, t->want_dw);
    assert_int_equal(fi.decoded_height, t->want_dh);
    assert_int_equal(ri.decoded_width, t->w); /* the reference really is a full decode */
    int maxdiff = 0;
    for (uint32_t i = 0; i < 32 * 32 * reef_channels_count(t->channels); i++) {
        int d = abs((int)a[i] - (int)b[i]);
        if (d > maxdiff) maxdiff = d;
    }
    printf("  %dx%dx%d %s: decoded at %ux%u, max diff vs full decode %d\n", t->w, t->h, t->c,
           reef_channels_name(t->channels), fi.decoded_width, fi.decoded_height, maxdiff);
    free(a);
    free(b);
    return maxdiff;
}

static void test_dct_scaled_matches_full_decode(void **state)
{
    (void)state;
    static const jpeg_case cases[] = {
        {360, 202, 3, REEF_CHANNELS_GRAY, 90, 51},    /* the DeepFish frame size: 1/4 */
        {1920, 1080, 3, REEF_CHANNELS_GRAY, 240, 135}, /* 1/8: never a full decode */
        {1920, 1080, 3, REEF_CHANNELS_RGB, 240, 135},
        {300, 300, 1, REEF_CHANNELS_GRAY, 38, 38},
        {64, 48, 3, REEF_CHANNELS_G, 48, 36},         /* 6/8: the smallest >= 32 high */
        {64, 48, 3, REEF_CHANNELS_GRAY, 48, 36},
        {128, 96, 3, REEF_CHANNELS_G, 48, 36},
        {20, 20, 3, REEF_CHANNELS_R, 20, 20},         /* smaller than the target: 8/8, upscaled */
    };
    char dir[256];
    testing_tmpdir(dir, sizeof dir, "image");
    int worst = 0;
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        int d = check_scaled_vs_full(dir, &cases[k], (unsigned)k);
        if (d > worst) worst = d;
    }
    assert_in_range(worst, 0, 2);
    fx_rm_rf(dir);
}

static void test_flat_jpeg_is_flat(void **state)
{
    (void)state;
    char dir[256], path[512];
    testing_tmpdir(dir, sizeof dir, "image");
    snprintf(path, sizeof path, "%s/flat.jpg", dir);
    fx_write_flat_jpeg(path, 200, 120, 3, 77);
    reef_image_spec spec = {8, 4, REEF_CHANNELS_RGB, 0};
    uint8_t *out = decode_file(path, &spec, NULL);
    for (int i = 0; i < 8 * 4 * 3; i++) assert_true(abs(out[i] - 77) <= 1);
    free(out);
    fx_rm_rf(dir);
}

/* ---- PNG ------------------------------------------------------------------- */

static void test_png_exact(void **state)
{
    (void)state;
    char dir[256], path[512];
    testing_tmpdir(dir, sizeof dir, "image");
    /* 2x2 RGB: luma 76, 150, 29, 141 -> mean 99 */
    const uint8_t rgb[12] = {255, 0, 0, 0, 255, 0, 0, 0, 255, 100, 150, 200};
    const uint8_t rgba[16] = {255, 0, 0, 9, 0, 255, 0, 0, 0, 0, 255, 200, 100, 150, 200, 255};
    const uint8_t gray[4] = {10, 20, 30, 41};
    reef_image_spec g1 = {1, 1, REEF_CHANNELS_GRAY, 0}, full = {2, 2, REEF_CHANNELS_RGB, 0};
    reef_image_spec blue = {1, 1, REEF_CHANNELS_B, 0};

    snprintf(path, sizeof path, "%s/rgb.png", dir);
    fx_write_png(path, rgb, 2, 2, 3);
    uint8_t *o = decode_file(path, &g1, NULL);
    assert_int_equal(o[0], 99); /* (76 + 150 + 29 + 141) / 4 = 99 */
    free(o);
    o = decode_file(path, &full, NULL);
    assert_memory_equal(o, rgb, 12);
    free(o);
    o = decode_file(path, &blue, NULL);
    assert_int_equal(o[0], 114); /* (0 + 0 + 255 + 200) / 4 = 113.75 */
    free(o);

    snprintf(path, sizeof path, "%s/rgba.png", dir); /* alpha is ignored */
    fx_write_png(path, rgba, 2, 2, 4);
    o = decode_file(path, &full, NULL);
    assert_memory_equal(o, rgb, 12);
    free(o);

    snprintf(path, sizeof path, "%s/gray.png", dir);
    fx_write_png(path, gray, 2, 2, 1);
    o = decode_file(path, &g1, NULL);
    assert_int_equal(o[0], 25); /* 101 / 4 = 25.25 */
    free(o);
    o = decode_file(path, &full, NULL); /* gray to RGB replicates */
    for (int i = 0; i < 4; i++)
        for (int k = 0; k < 3; k++) assert_int_equal(o[3 * i + k], gray[i]);
    free(o);
    fx_rm_rf(dir);
}

/* ---- PNG bombs ------------------------------------------------------------- */

/* A w x h gray PNG written row by row (the test never holds the picture):
 * the left half 200, the right half 40, compressed to a few hundred KB. */
static void write_big_png(const char *path, uint32_t w, uint32_t h)
{
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    assert_non_null(info);
    if (setjmp(png_jmpbuf(png))) fail_msg("libpng could not write %s", path);
    png_init_io(png, fp);
    png_set_compression_level(png, 9);
    png_set_IHDR(png, info, w, h, 8, PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    uint8_t *row = malloc(w);
    for (uint32_t x = 0; x < w; x++) row[x] = x < w / 2 ? 200 : 40;
    for (uint32_t y = 0; y < h; y++) png_write_row(png, row);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    free(row);
    assert_int_equal(fclose(fp), 0);
}

static long peak_rss_kb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

/* A 12000x12000 PNG (144 MB of pixels from a small file) decodes in a few
 * rows of memory, to the right values; an interlaced one (which must be
 * whole) above the documented limit is refused with a true message. */
static void test_png_bomb_bounded_memory(void **state)
{
    (void)state;
    char dir[256], path[512];
    testing_tmpdir(dir, sizeof dir, "image");
    snprintf(path, sizeof path, "%s/big.png", dir);
    const uint32_t side = 12000;
    write_big_png(path, side, side);
    size_t size;
    uint8_t *data = fx_read(path, &size);
    reef_image_spec spec = {32, 32, REEF_CHANNELS_GRAY, 0};
    reef_image_scratch s = {0};
    uint8_t out[32 * 32];
    reef_error err;
    long before = peak_rss_kb();
    if (reef_image_decode(data, size, path, &spec, &s, out, NULL, &err)) fail_msg("%s", err.msg);
    long grew = peak_rss_kb() - before;
    printf("  %ux%u PNG of %zu bytes: peak memory grew %ld KB (the picture is %u KB)\n", side, side, size, grew,
           side * side / 1024);
    assert_true(grew < 16 * 1024);
    for (int y = 0; y < 32; y++)
        for (int x = 0; x < 32; x++) assert_int_equal(out[y * 32 + x], x < 16 ? 200 : 40);
    reef_image_scratch_free(&s);
    free(data);

    /* interlaced, 9000x8000 (72 Mi pixels > 64 Mi): the header alone decides */
    uint8_t png[8 + 25 + 12] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13, 'I', 'H', 'D', 'R'};
    const uint32_t w = 9000, h = 8000;
    uint8_t *ihdr = png + 16;
    for (int i = 0; i < 4; i++) ihdr[i] = (uint8_t)(w >> (24 - 8 * i)), ihdr[4 + i] = (uint8_t)(h >> (24 - 8 * i));
    ihdr[8] = 8, ihdr[9] = 0, ihdr[10] = 0, ihdr[11] = 0, ihdr[12] = 1; /* 8-bit gray, Adam7 */
    uint32_t crc = (uint32_t)crc32(crc32(0, NULL, 0), png + 12, 17);
    for (int i = 0; i < 4; i++) png[29 + i] = (uint8_t)(crc >> (24 - 8 * i));
    memcpy(png + 33, "\0\0\0\0IDAT\x35\xaf\x06\x1e", 12); /* an empty IDAT with its CRC */
    assert_int_equal(reef_image_decode(png, sizeof png, "inter.png", &spec, &s, out, NULL, &err), -1);
    if (!strstr(err.msg, "inter.png") || !strstr(err.msg, "interlaced PNG of 9000x8000") ||
        !strstr(err.msg, "at most 64 megapixels"))
        fail_msg("%s", err.msg);
    reef_image_scratch_free(&s);
    fx_rm_rf(dir);
}

/* ---- damaged data ---------------------------------------------------------- */

static void expect_decode_error(const uint8_t *data, size_t size, const char *want)
{
    reef_image_spec spec = {32, 32, REEF_CHANNELS_GRAY, 0};
    reef_image_scratch s = {0};
    uint8_t out[32 * 32];
    reef_error err;
    assert_int_equal(reef_image_decode(data, size, "bad.img", &spec, &s, out, NULL, &err), -1);
    reef_image_scratch_free(&s);
    if (!strstr(err.msg, want) || !strstr(err.msg, "bad.img"))
        fail_msg("error '%s' does not say '%s' and name the file", err.msg, want);
}

static void test_damaged_images(void **state)
{
    (void)state;
    char dir[256], path[512];
    testing_tmpdir(dir, sizeof dir, "image");
    uint8_t img[64 * 64 * 3];
    fx_smooth(img, 64, 64, 3, 1);
    size_t size;
    snprintf(path, sizeof path, "%s/a.jpg", dir);
    fx_write_jpeg(path, img, 64, 64, 3, 90);
    uint8_t *jpg = fx_read(path, &size);
    expect_decode_error(jpg, size / 2, "corrupt JPEG");    /* truncated */
    expect_decode_error(jpg, 200, "corrupt JPEG");         /* headers cut short */
    free(jpg);
    snprintf(path, sizeof path, "%s/a.png", dir);
    fx_write_png(path, img, 64, 64, 3);
    uint8_t *png = fx_read(path, &size);
    expect_decode_error(png, size - 20, "corrupt PNG");
    png[20] ^= 0xFF; /* inside IHDR: its CRC no longer matches */
    expect_decode_error(png, size, "corrupt PNG");
    free(png);
    expect_decode_error((const uint8_t *)"hello, world", 12, "not a JPEG or PNG");
    expect_decode_error((const uint8_t *)"", 0, "empty");
    fx_rm_rf(dir);
}

/* A JPEG whose frame header claims 65000x65000 pixels (fuzz finding: a
 * full decode asked for a 12 GB buffer) is refused before any allocation
 * at full decode; the DCT-scaled decode (1/8: 8125x8125, under 64 MP)
 * fails on the missing data, naming the file. */
static void test_jpeg_huge_dimensions_refused(void **state)
{
    (void)state;
    char dir[256], path[512];
    testing_tmpdir(dir, sizeof dir, "image-huge");
    uint8_t img[16 * 16];
    fx_smooth(img, 16, 16, 1, 1);
    snprintf(path, sizeof path, "%s/a.jpg", dir);
    fx_write_jpeg(path, img, 16, 16, 1, 90);
    size_t size;
    uint8_t *jpg = fx_read(path, &size);
    size_t sof = 0;
    for (size_t i = 2; i + 9 < size && !sof; i++)
        if (jpg[i] == 0xFF && jpg[i + 1] == 0xC0) sof = i;
    assert_true(sof > 0);
    const uint8_t side[2] = {0xFD, 0xE8}; /* 65000, big-endian */
    memcpy(jpg + sof + 5, side, 2);       /* height */
    memcpy(jpg + sof + 7, side, 2);       /* width */
    for (int full = 0; full < 2; full++) {
        reef_image_spec spec = {32, 32, REEF_CHANNELS_GRAY, full};
        reef_image_scratch s = {0};
        uint8_t out[32 * 32];
        reef_error err;
        assert_int_equal(reef_image_decode(jpg, size, "huge.jpg", &spec, &s, out, NULL, &err), -1);
        reef_image_scratch_free(&s);
        if (!strstr(err.msg, "huge.jpg") || (full && !strstr(err.msg, "65000x65000 pixels decodes to")))
            fail_msg("%s", err.msg);
    }
    free(jpg);
    assert_int_equal(testing_rm_tree(dir), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_luma_by_hand),
        cmocka_unit_test(test_resize_by_hand),
        cmocka_unit_test(test_dct_scaled_matches_full_decode),
        cmocka_unit_test(test_flat_jpeg_is_flat),
        cmocka_unit_test(test_png_exact),
        cmocka_unit_test(test_damaged_images),
        cmocka_unit_test(test_jpeg_huge_dimensions_refused),
        cmocka_unit_test(test_png_bomb_bounded_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
