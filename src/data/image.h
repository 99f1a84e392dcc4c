/* Image decoding and resizing for `reef prep`: JPEG (libjpeg-turbo, decoded
 * in the DCT domain at the smallest scale still at least the target size)
 * and PNG (libpng), then channel selection and area-averaging resize.
 * What is computed, exactly, is in docs/formats/dataset.md ("Pixels"). */
#ifndef REEF_DATA_IMAGE_H
#define REEF_DATA_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

typedef enum reef_channels {
    REEF_CHANNELS_GRAY, /* BT.601 luma, 1 channel */
    REEF_CHANNELS_R,
    REEF_CHANNELS_G,
    REEF_CHANNELS_B,
    REEF_CHANNELS_RGB,  /* 3 channels, R G B */
} reef_channels;

/* Channels stored per pixel for a choice (1 or 3). */
uint32_t reef_channels_count(reef_channels ch);
/* "gray", "r", "g", "b", "rgb"; parse returns -1 for an unknown name. */
const char *reef_channels_name(reef_channels ch);
int reef_channels_parse(const char *name, reef_channels *ch);

/* What to make of one image. */
typedef struct reef_image_spec {
    uint32_t width, height;   /* output size */
    reef_channels channels;
    int full_decode;          /* 1: no DCT scaling, accurate IDCT and fancy
                                 upsampling (the tests' reference path) */
} reef_image_spec;

/* What happened while decoding (for tests and diagnostics). */
typedef struct reef_image_info {
    uint32_t src_width, src_height;         /* as stored in the file */
    uint32_t decoded_width, decoded_height; /* after DCT scaling */
} reef_image_info;

/* Per-thread reusable buffers; zero-initialise, free with _free. */
/* Non-interlaced PNGs are decoded row by row (memory: a few rows, any
 * size); interlaced ones whole, so they are refused above this many pixels
 * (64 Mi: 192 MB as RGB). JPEGs are decoded with DCT scaling. */
#define REEF_PNG_INTERLACED_MAX_PIXELS (64u << 20)
/* A JPEG is decoded whole (after libjpeg's DCT-domain scaling, up to 1/8
 * per side), so the decoded picture is bounded the same way. */
#define REEF_JPEG_MAX_DECODED_PIXELS (64u << 20)

typedef struct reef_image_scratch {
    uint8_t *decoded;   /* (decoded_h, decoded_w, decoded_c) */
    size_t decoded_cap;
    uint8_t *planar;    /* (decoded_h, decoded_w, C): selected channels */
    size_t planar_cap;
    uint64_t *rows;     /* resize scratch: reef_resize_scratch_size() */
    size_t rows_cap;
} reef_image_scratch;
void reef_image_scratch_free(reef_image_scratch *s);

/* Decodes a JPEG or PNG held in memory (the type is taken from its first
 * bytes) and writes out (spec->height, spec->width, C). name is only used in
 * error messages. info may be NULL. */
int reef_image_decode(const uint8_t *data, size_t size, const char *name,
                      const reef_image_spec *spec, reef_image_scratch *scratch,
                      uint8_t *out, reef_image_info *info, reef_error *err);

/* The same from an already decoded image (h, w, dc), dc = 1 (gray) or 3
 * (RGB): takes the channels spec asks for, then resizes into out. */
int reef_image_convert(const uint8_t *img, uint32_t w, uint32_t h, uint32_t dc,
                       const reef_image_spec *spec, reef_image_scratch *scratch,
                       uint8_t *out, const char *name, reef_error *err);

/* BT.601 luma with libjpeg's integer weights, rounded half up:
 * (19595 R + 38470 G + 7471 B + 32768) >> 16. */
static inline uint8_t reef_luma(uint8_t r, uint8_t g, uint8_t b)
{
    return (uint8_t)((19595u * r + 38470u * g + 7471u * b + 32768u) >> 16);
}

/* Area-averaging resize of src (sh, sw, c) to dst (dh, dw, c): each output
 * pixel is the mean of the source rectangle it covers, each source pixel
 * weighted by its overlap, rounded half up; exact integer arithmetic. Works
 * for upscaling too. scratch: reef_resize_scratch_size(sw, c, dw, dh)
 * elements. */
void reef_resize_area(const uint8_t *src, uint32_t sw, uint32_t sh, uint32_t c,
                      uint8_t *dst, uint32_t dw, uint32_t dh, uint64_t *scratch);
size_t reef_resize_scratch_size(uint32_t sw, uint32_t c, uint32_t dw, uint32_t dh);

#endif
