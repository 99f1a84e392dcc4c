/* Writes synthetic photo-like JPEGs for the prep benchmark:
 *   bench_prep_gen_frames DIR COUNT WIDTH HEIGHT [QUALITY]
 * DIR/a/NNNN.jpg and DIR/b/NNNN.jpg (two classes, for --format folders).
 * Each picture is smooth value noise (random grids at 4 scales, bilinearly
 * interpolated, per colour channel) plus a little pixel noise, so that it
 * compresses about like a camera frame (~0.1-0.2 MB at 1920x1080, q85). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jpeglib.h>

#include "util/rng.h"

/* One octave: a (gh, gw) grid of random values, bilinear between them. */
static void add_octave(float *acc /* (h, w) */, int w, int h, int cell, float amp, reef_rng *rng)
{
    int gw = w / cell + 2, gh = h / cell + 2;
    float *grid = malloc(sizeof(float) * (size_t)gw * gh); // (gh, gw)
    for (int i = 0; i < gw * gh; i++) grid[i] = reef_rng_uniform(rng) - 0.5f;
    for (int y = 0; y < h; y++) {
        int gy = y / cell;
        float fy = (float)(y % cell) / cell;
        for (int x = 0; x < w; x++) {
            int gx = x / cell;
            float fx = (float)(x % cell) / cell;
            const float *g = grid + gy * gw + gx;
            float top = g[0] + fx * (g[1] - g[0]), bot = g[gw] + fx * (g[gw + 1] - g[gw]);
            acc[(size_t)y * w + x] += amp * (top + fy * (bot - top));
        }
    }
    free(grid);
}

static void make_picture(uint8_t *img /* (h, w, 3) */, int w, int h, reef_rng *rng)
{
    float *acc = malloc(sizeof(float) * (size_t)w * h);
    static const int cells[4] = {400, 120, 30, 8};
    static const float amps[4] = {160, 80, 40, 16};
    for (int c = 0; c < 3; c++) {
        memset(acc, 0, sizeof(float) * (size_t)w * h);
        for (int o = 0; o < 4; o++) add_octave(acc, w, h, cells[o] * w / 1920 + 2, amps[o], rng);
        for (size_t i = 0; i < (size_t)w * h; i++) {
            float v = 110 + 20 * c + acc[i] + 6 * (reef_rng_uniform(rng) - 0.5f);
            img[i * 3 + c] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
        }
    }
    free(acc);
}

static int write_jpeg(const char *path, const uint8_t *img, int w, int h, int quality)
{
    FILE *fp = fopen(path, "wb");
    if (!fp) return -1;
    struct jpeg_compress_struct ci;
    struct jpeg_error_mgr jerr;
    ci.err = jpeg_std_error(&jerr);
    jpeg_create_compress(&ci);
    jpeg_stdio_dest(&ci, fp);
    ci.image_width = (JDIMENSION)w;
    ci.image_height = (JDIMENSION)h;
    ci.input_components = 3;
    ci.in_color_space = JCS_RGB;
    jpeg_set_defaults(&ci);
    jpeg_set_quality(&ci, quality, TRUE);
    jpeg_start_compress(&ci, TRUE);
    while (ci.next_scanline < ci.image_height) {
        JSAMPROW row = (JSAMPROW)(img + (size_t)ci.next_scanline * w * 3);
        jpeg_write_scanlines(&ci, &row, 1);
    }
    jpeg_finish_compress(&ci);
    jpeg_destroy_compress(&ci);
    return fclose(fp);
}

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: %s DIR COUNT WIDTH HEIGHT [QUALITY]\n", argv[0]);
        return 2;
    }
    const char *dir = argv[1];
    int count = atoi(argv[2]), w = atoi(argv[3]), h = atoi(argv[4]);
    int quality = argc > 5 ? atoi(argv[5]) : 85;
    if (count < 1 || w < 8 || h < 8 || quality < 1 || quality > 100) {
        fprintf(stderr, "%s: bad arguments\n", argv[0]);
        return 2;
    }
    char path[4096];
    for (int c = 0; c < 2; c++) {
        snprintf(path, sizeof path, "%s/%c", dir, 'a' + c);
        if (mkdir(path, 0755) && errno != EEXIST) {
            perror(path);
            return 1;
        }
    }
    uint8_t *img = malloc((size_t)w * h * 3);
    reef_rng rng;
    reef_rng_seed(&rng, 2023);
    for (int i = 0; i < count; i++) {
        make_picture(img, w, h, &rng);
        snprintf(path, sizeof path, "%s/%c/%04d.jpg", dir, 'a' + i % 2, i);
        if (write_jpeg(path, img, w, h, quality)) {
            perror(path);
            return 1;
        }
    }
    free(img);
    return 0;
}
