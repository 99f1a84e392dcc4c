#include "fixtures.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "testing.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jpeglib.h>
#include <png.h>
#include <zlib.h>

void fx_smooth(uint8_t *img, int w, int h, int c, unsigned seed)
{
    (void)h;
    double phase = seed * 0.7;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int k = 0; k < c; k++) {
                double u = x / 400.0, v = y / 300.0; /* smooth at any size */
                double s = 128 + 50 * sin(6.28 * (u + 0.5 * v) + phase + k) +
                           30 * cos(6.28 * 1.5 * v - 3.0 * u + 2 * phase + 0.5 * k);
                img[((size_t)y * w + x) * c + k] = (uint8_t)(s < 0 ? 0 : s > 255 ? 255 : s);
            }
}

void fx_write_jpeg(const char *path, const uint8_t *img, int w, int h, int c, int quality)
{
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    struct jpeg_compress_struct ci;
    struct jpeg_error_mgr jerr;
    ci.err = jpeg_std_error(&jerr);
    jpeg_create_compress(&ci);
    jpeg_stdio_dest(&ci, fp);
    ci.image_width = (JDIMENSION)w;
    ci.image_height = (JDIMENSION)h;
    ci.input_components = c;
    ci.in_color_space = c == 1 ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_set_defaults(&ci);
    jpeg_set_quality(&ci, quality, TRUE);
    jpeg_start_compress(&ci, TRUE);
    while (ci.next_scanline < ci.image_height) {
        JSAMPROW row = (JSAMPROW)(img + (size_t)ci.next_scanline * w * c);
        jpeg_write_scanlines(&ci, &row, 1);
    }
    jpeg_finish_compress(&ci);
    jpeg_destroy_compress(&ci);
    assert_int_equal(fclose(fp), 0);
}

void fx_write_flat_jpeg(const char *path, int w, int h, int c, uint8_t v)
{
    uint8_t *img = malloc((size_t)w * h * c);
    assert_non_null(img);
    memset(img, v, (size_t)w * h * c);
    fx_write_jpeg(path, img, w, h, c, 95);
    free(img);
}

void fx_write_png(const char *path, const uint8_t *img, int w, int h, int c)
{
    static const int types[5] = {0, PNG_COLOR_TYPE_GRAY, PNG_COLOR_TYPE_GRAY_ALPHA, PNG_COLOR_TYPE_RGB,
                                 PNG_COLOR_TYPE_RGB_ALPHA};
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    assert_non_null(info);
    assert_int_equal(setjmp(png_jmpbuf(png)), 0);
    png_init_io(png, fp);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, 8, types[c], PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (int y = 0; y < h; y++) png_write_row(png, img + (size_t)y * w * c);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    assert_int_equal(fclose(fp), 0);
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* data NULL: the header alone (a size its dimensions do not have). */
static void write_idx(const char *path, int ndim, const uint32_t *dims, const uint8_t *data)
{
    uint8_t head[4 + 4 * 4] = {0, 0, 0x08, (uint8_t)ndim};
    size_t n = 1;
    for (int i = 0; i < ndim; i++) {
        put_be32(head + 4 + 4 * i, dims[i]);
        n *= dims[i];
    }
    if (!data) n = 0;
    size_t len = strlen(path);
    if (len > 3 && !strcmp(path + len - 3, ".gz")) {
        gzFile gz = gzopen(path, "wb");
        assert_non_null(gz);
        assert_int_equal(gzwrite(gz, head, 4 + 4 * (unsigned)ndim), 4 + 4 * ndim);
        if (n) assert_int_equal(gzwrite(gz, data, (unsigned)n), (int)n);
        assert_int_equal(gzclose(gz), Z_OK);
    } else {
        FILE *fp = fopen(path, "wb");
        assert_non_null(fp);
        assert_int_equal(fwrite(head, 1, 4 + 4 * (size_t)ndim, fp), 4 + 4 * (size_t)ndim);
        if (n) assert_int_equal(fwrite(data, 1, n, fp), n);
        assert_int_equal(fclose(fp), 0);
    }
}

void fx_write_idx(const char *path, int ndim, const uint32_t *dims, const uint8_t *data)
{
    assert_non_null(data);
    write_idx(path, ndim, dims, data);
}

void fx_write_idx_header(const char *path, int ndim, const uint32_t *dims)
{
    write_idx(path, ndim, dims, NULL);
}

void fx_write_text(const char *path, const char *text)
{
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    fputs(text, fp);
    assert_int_equal(fclose(fp), 0);
}

void fx_mkdirs(const char *dir)
{
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", dir);
    for (char *p = buf + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            mkdir(buf, 0755);
            *p = '/';
        }
    assert_true(mkdir(buf, 0755) == 0 || errno == EEXIST);
}

uint8_t *fx_read(const char *path, size_t *size)
{
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    rewind(fp);
    uint8_t *buf = malloc(n > 0 ? (size_t)n : 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, fp), (size_t)n);
    fclose(fp);
    *size = (size_t)n;
    return buf;
}

void fx_rm_rf(const char *dir)
{
    if (strncmp(dir, "/tmp/reef-test-", 15)) return; /* only our own temporaries */
    assert_int_equal(testing_rm_tree(dir), 0);
}
