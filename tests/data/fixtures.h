/* Test fixtures the data tests make themselves: JPEG and PNG files written
 * with libjpeg and libpng, smooth synthetic pictures, gzip'd IDX files. */
#ifndef REEF_TESTS_DATA_FIXTURES_H
#define REEF_TESTS_DATA_FIXTURES_H

#include <stddef.h>
#include <stdint.h>

/* Smooth picture (h, w, c): a few waves of periods 200-400 pixels, as in a
 * photo's large shapes, different per seed. */
void fx_smooth(uint8_t *img, int w, int h, int c, unsigned seed);
/* img (h, w, c), c = 1 or 3; quality 1..100. Asserts on failure. */
void fx_write_jpeg(const char *path, const uint8_t *img, int w, int h, int c, int quality);
/* img (h, w, c) with c = 1 (gray), 3 (RGB) or 4 (RGBA); 8-bit. */
void fx_write_png(const char *path, const uint8_t *img, int w, int h, int c);
/* A uniform-colour JPEG (gray level v, or RGB v,v,v with c = 3). */
void fx_write_flat_jpeg(const char *path, int w, int h, int c, uint8_t v);
/* IDX (gzip'd when the path ends in .gz): ubyte, ndim dims, then data. */
void fx_write_idx(const char *path, int ndim, const uint32_t *dims, const uint8_t *data);
/* An IDX header alone (ubyte, dims), gzip'd when path ends in .gz. */
void fx_write_idx_header(const char *path, int ndim, const uint32_t *dims);
void fx_write_text(const char *path, const char *text);
/* mkdir -p of the folder part of path/... joined from a format. */
void fx_mkdirs(const char *dir);
/* Whole file into a malloc'd buffer. */
uint8_t *fx_read(const char *path, size_t *size);
void fx_rm_rf(const char *dir);

#endif
