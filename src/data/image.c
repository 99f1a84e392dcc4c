#include "data/image.h"

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <png.h>

/* ---- channels ------------------------------------------------------------ */

static const char *const channel_names[] = {"gray", "r", "g", "b", "rgb"};

uint32_t reef_channels_count(reef_channels ch) { return ch == REEF_CHANNELS_RGB ? 3 : 1; }

const char *reef_channels_name(reef_channels ch)
{
    return (unsigned)ch < 5 ? channel_names[ch] : "?";
}

int reef_channels_parse(const char *name, reef_channels *ch)
{
    for (int i = 0; i < 5; i++)
        if (!strcmp(name, channel_names[i])) {
            *ch = (reef_channels)i;
            return 0;
        }
    return -1;
}

void reef_image_scratch_free(reef_image_scratch *s)
{
    free(s->decoded);
    free(s->planar);
    free(s->rows);
    memset(s, 0, sizeof *s);
}

/* Grows *buf to at least size bytes. */
static int reserve(void **buf, size_t *cap, size_t size)
{
    if (*cap >= size) return 0;
    void *p = realloc(*buf, size);
    if (!p) return -1;
    *buf = p;
    *cap = size;
    return 0;
}

/* ---- area-averaging resize ----------------------------------------------- */

/* The resize works on a source whose pixels are `unit` long and which
 * covers `ext` units (ext <= n * unit): a JPEG decoded at scale M/8 has
 * ceil(W*M/8) pixels but covers only W*M eighths, its last pixel being
 * partly padding. Multiplying by dst_n keeps everything integer: source
 * pixel i spans [i*unit*dst_n, (i+1)*unit*dst_n), output o spans
 * [o*ext, (o+1)*ext), and the weights of one output sum to ext. */
typedef struct axis {
    uint64_t unit, ext;  /* source pixel length and covered extent */
    uint32_t dst_n;      /* output pixels */
} axis;

static inline uint64_t overlap(const axis *a, uint32_t i, uint32_t o)
{
    uint64_t lo_i = (uint64_t)i * a->unit * a->dst_n, hi_i = lo_i + a->unit * a->dst_n;
    uint64_t lo_o = (uint64_t)o * a->ext, hi_o = lo_o + a->ext;
    uint64_t lo = lo_i > lo_o ? lo_i : lo_o, hi = hi_i < hi_o ? hi_i : hi_o;
    return hi > lo ? hi - lo : 0;
}

/* First and last source pixel that output o overlaps. */
static inline void span(const axis *a, uint32_t o, uint32_t *first, uint32_t *last)
{
    uint64_t step = a->unit * a->dst_n;
    *first = (uint32_t)((uint64_t)o * a->ext / step);
    *last = (uint32_t)(((uint64_t)(o + 1) * a->ext - 1) / step);
}

/* The horizontal weights, computed once per image: output o takes
 * xcount[o] source pixels from xfirst[o] on, with weights xw[xstart[o]..]. */
typedef struct xtable {
    uint32_t *xfirst, *xcount, *xstart; // (dw) each
    uint32_t *xw;                       // (sw + dw) at most
} xtable;

static void build_xtable(const axis *ax, xtable *t)
{
    uint32_t at = 0;
    for (uint32_t o = 0; o < ax->dst_n; o++) {
        uint32_t first, last;
        span(ax, o, &first, &last);
        t->xfirst[o] = first;
        t->xcount[o] = last - first + 1;
        t->xstart[o] = at;
        for (uint32_t i = first; i <= last; i++) t->xw[at++] = (uint32_t)overlap(ax, i, o);
    }
}

/* Horizontal pass of one source row: hrow (dw, c) = weighted sums. */
static void resize_row(const uint8_t *row /* (sw, c) */, const xtable *t, uint32_t dw, uint32_t c,
                       uint64_t *hrow /* (dw, c) */)
{
    for (uint32_t o = 0; o < dw; o++) {
        const uint8_t *px = row + (size_t)t->xfirst[o] * c;
        const uint32_t *w = t->xw + t->xstart[o];
        for (uint32_t k = 0; k < c; k++) {
            uint64_t sum = 0;
            for (uint32_t i = 0; i < t->xcount[o]; i++) sum += (uint64_t)w[i] * px[i * c + k];
            hrow[o * c + k] = sum;
        }
    }
}

size_t reef_resize_scratch_size(uint32_t sw, uint32_t c, uint32_t dw, uint32_t dh)
{
    size_t table_u32 = 3 * (size_t)dw + sw + dw;
    return ((size_t)dh + 1) * dw * c + (table_u32 + 1) / 2;
}

/* An area resize fed one source row at a time (top to bottom), so that
 * a source never has to be whole in memory: a large PNG is decoded row by
 * row into it. Each source row is summed horizontally once, then added to
 * the (few) output rows it overlaps. */
typedef struct area_resize {
    axis ax, ay;
    uint32_t c;
    size_t n;            /* dw * c */
    uint64_t *acc, *hrow; /* (dh, dw, c) sums; (dw, c) one row's */
    xtable t;
    uint32_t j;          /* the next source row */
} area_resize;

/* scratch: reef_resize_scratch_size(sw, c, dw, dh) elements. */
static void area_begin(area_resize *r, const axis *ax, const axis *ay, uint32_t c, uint64_t *scratch)
{
    uint32_t dw = ax->dst_n, dh = ay->dst_n;
    r->ax = *ax, r->ay = *ay, r->c = c, r->j = 0;
    r->n = (size_t)dw * c;
    r->acc = scratch;
    r->hrow = r->acc + (size_t)dh * r->n;
    uint32_t *tab = (uint32_t *)(r->hrow + r->n);
    r->t = (xtable){tab, tab + dw, tab + 2 * (size_t)dw, tab + 3 * (size_t)dw};
    build_xtable(ax, &r->t);
    memset(r->acc, 0, (size_t)dh * r->n * sizeof *r->acc);
}

static void area_add_row(area_resize *r, const uint8_t *src_row /* (sw, c) */)
{
    const uint32_t dh = r->ay.dst_n, j = r->j++;
    const uint64_t step_y = r->ay.unit * dh;
    const uint64_t lo = (uint64_t)j * step_y; /* source row j spans [lo, lo + step_y) */
    if (lo >= r->ay.ext * dh) return;         /* wholly padding */
    resize_row(src_row, &r->t, r->ax.dst_n, r->c, r->hrow);
    for (uint32_t oy = (uint32_t)(lo / r->ay.ext); oy < dh && (uint64_t)oy * r->ay.ext < lo + step_y; oy++) {
        uint64_t wy = overlap(&r->ay, j, oy);
        uint64_t *row = r->acc + (size_t)oy * r->n;
        for (size_t x = 0; x < r->n; x++) row[x] += wy * r->hrow[x];
    }
}

static void area_end(const area_resize *r, uint8_t *dst)
{
    uint64_t area = r->ax.ext * r->ay.ext; /* sum of the weights of one output */
    for (size_t x = 0; x < (size_t)r->ay.dst_n * r->n; x++) dst[x] = (uint8_t)((r->acc[x] + area / 2) / area);
}

/* Area resize of src (sh, sw, c) covering ax.ext x ay.ext units. */
static void resize_covering(const uint8_t *src, uint32_t sw, uint32_t sh, uint32_t c, const axis *ax,
                            const axis *ay, uint8_t *dst, uint64_t *scratch)
{
    area_resize r;
    area_begin(&r, ax, ay, c, scratch);
    for (uint32_t j = 0; j < sh; j++) area_add_row(&r, src + (size_t)j * sw * c);
    area_end(&r, dst);
}

void reef_resize_area(const uint8_t *src, uint32_t sw, uint32_t sh, uint32_t c,
                      uint8_t *dst, uint32_t dw, uint32_t dh, uint64_t *scratch)
{
    axis ax = {1, sw, dw}, ay = {1, sh, dh};
    resize_covering(src, sw, sh, c, &ax, &ay, dst, scratch);
}

/* ---- channel selection then resize --------------------------------------- */

/* The channels spec asks for, from a decoded (h, w, dc) image with dc = 1
 * (gray) or 3 (RGB): img itself when it already is that, else s->planar. */
static const uint8_t *select_channels(const uint8_t *img, uint32_t w, uint32_t h, uint32_t dc,
                                      reef_channels channels, reef_image_scratch *s)
{
    uint32_t oc = reef_channels_count(channels);
    if (dc == oc) return img; /* gray for any channel choice, or RGB for rgb */
    size_t npix = (size_t)w * h;
    if (reserve((void **)&s->planar, &s->planar_cap, npix * oc)) return NULL;
    uint8_t *sel = s->planar; // (h, w, oc)
    if (dc == 1) { /* RGB from gray */
        for (size_t p = 0; p < npix; p++)
            for (uint32_t k = 0; k < oc; k++) sel[p * oc + k] = img[p];
    } else if (channels == REEF_CHANNELS_GRAY) {
        for (size_t p = 0; p < npix; p++) sel[p] = reef_luma(img[3 * p], img[3 * p + 1], img[3 * p + 2]);
    } else {
        uint32_t k = channels - REEF_CHANNELS_R; /* 0, 1, 2 */
        for (size_t p = 0; p < npix; p++) sel[p] = img[3 * p + k];
    }
    return sel;
}

/* Selects channels, then resizes a source covering ax.ext x ay.ext. */
static int convert_covering(const uint8_t *img, uint32_t w, uint32_t h, uint32_t dc, axis ax, axis ay,
                            const reef_image_spec *spec, reef_image_scratch *s, uint8_t *out,
                            const char *name, reef_error *err)
{
    uint32_t oc = reef_channels_count(spec->channels);
    const uint8_t *src = select_channels(img, w, h, dc, spec->channels, s);
    size_t need = reef_resize_scratch_size(w, oc, spec->width, spec->height) * sizeof(uint64_t);
    if (!src || reserve((void **)&s->rows, &s->rows_cap, need))
        return reef_fail(err, "%s: out of memory", name);
    ax.dst_n = spec->width;
    ay.dst_n = spec->height;
    resize_covering(src, w, h, oc, &ax, &ay, out, s->rows);
    return 0;
}

int reef_image_convert(const uint8_t *img, uint32_t w, uint32_t h, uint32_t dc,
                       const reef_image_spec *spec, reef_image_scratch *s,
                       uint8_t *out, const char *name, reef_error *err)
{
    axis ax = {1, w, 0}, ay = {1, h, 0};
    return convert_covering(img, w, h, dc, ax, ay, spec, s, out, name, err);
}

/* ---- JPEG ---------------------------------------------------------------- */

typedef struct jpeg_fail {
    struct jpeg_error_mgr mgr;
    jmp_buf jump;
    char msg[JMSG_LENGTH_MAX];
} jpeg_fail;

static void jpeg_on_error(j_common_ptr cinfo)
{
    jpeg_fail *f = (jpeg_fail *)cinfo->err;
    f->mgr.format_message(cinfo, f->msg);
    longjmp(f->jump, 1);
}

/* libjpeg reports damaged data (e.g. a truncated file, which it would fill
 * with gray) as a warning; reef treats any warning as an error. */
static void jpeg_on_message(j_common_ptr cinfo, int level)
{
    if (level < 0) jpeg_on_error(cinfo);
}

/* Smallest M in 1..8 whose M/8 scale gives at least the target size. */
static void choose_scale(struct jpeg_decompress_struct *ci, const reef_image_spec *spec)
{
    ci->scale_denom = 8;
    for (unsigned m = 1; m <= 8; m++) {
        ci->scale_num = m;
        jpeg_calc_output_dimensions(ci);
        if (ci->output_width >= spec->width && ci->output_height >= spec->height) return;
    }
}

/* Decodes into s->decoded; the caller has set up the error jump. */
static void jpeg_decode_rows(struct jpeg_decompress_struct *ci, reef_image_scratch *s)
{
    size_t stride = (size_t)ci->output_width * ci->output_components;
    JSAMPROW rows[16];
    while (ci->output_scanline < ci->output_height) {
        int n = 0;
        for (; n < 16 && ci->output_scanline + (unsigned)n < ci->output_height; n++)
            rows[n] = s->decoded + (size_t)(ci->output_scanline + n) * stride;
        jpeg_read_scanlines(ci, rows, (JDIMENSION)n);
    }
}

static int decode_jpeg(const uint8_t *data, size_t size, const char *name,
                       const reef_image_spec *spec, reef_image_scratch *s,
                       uint8_t *out, reef_image_info *info, reef_error *err)
{
    struct jpeg_decompress_struct ci;
    jpeg_fail fail;
    ci.err = jpeg_std_error(&fail.mgr);
    fail.mgr.error_exit = jpeg_on_error;
    fail.mgr.emit_message = jpeg_on_message;
    if (setjmp(fail.jump)) {
        jpeg_destroy_decompress(&ci);
        return reef_fail(err, "%s: corrupt JPEG: %s", name, fail.msg);
    }
    jpeg_create_decompress(&ci);
    jpeg_mem_src(&ci, data, (unsigned long)size);
    jpeg_read_header(&ci, TRUE);
    if (ci.jpeg_color_space == JCS_CMYK || ci.jpeg_color_space == JCS_YCCK) {
        jpeg_destroy_decompress(&ci);
        return reef_fail(err, "%s: CMYK JPEG is not supported (convert it to RGB)", name);
    }
    int want_gray = spec->channels == REEF_CHANNELS_GRAY && !spec->full_decode;
    ci.out_color_space = want_gray ? JCS_GRAYSCALE : JCS_RGB;
    if (spec->full_decode) {
        ci.scale_num = ci.scale_denom = 1;
        ci.dct_method = JDCT_ISLOW;
        ci.do_fancy_upsampling = TRUE;
    } else {
        choose_scale(&ci, spec);
        /* The method only matters at scale 8/8 (scaled IDCTs have one), i.e.
         * for images not larger than the target: there accuracy is cheap. */
        ci.dct_method = ci.scale_num == 8 ? JDCT_ISLOW : JDCT_IFAST;
        /* Chroma: box upsampling is enough for luma-only output (chroma is
         * not inverse-transformed then); colour output gets the smoother one. */
        ci.do_fancy_upsampling = want_gray ? FALSE : TRUE;
    }
    jpeg_start_decompress(&ci);
    uint32_t w = ci.output_width, h = ci.output_height, dc = (uint32_t)ci.output_components;
    if ((uint64_t)w * h > REEF_JPEG_MAX_DECODED_PIXELS) {
        jpeg_destroy_decompress(&ci);
        return reef_fail(err, "%s: JPEG of %ux%u pixels decodes to %ux%u, more than reef's %u megapixels", name,
                         ci.image_width, ci.image_height, w, h, REEF_JPEG_MAX_DECODED_PIXELS >> 20);
    }
    if (reserve((void **)&s->decoded, &s->decoded_cap, (size_t)w * h * dc)) {
        jpeg_destroy_decompress(&ci);
        return reef_fail(err, "%s: out of memory for %ux%u pixels", name, w, h);
    }
    jpeg_decode_rows(&ci, s);
    jpeg_finish_decompress(&ci);
    if (info) *info = (reef_image_info){ci.image_width, ci.image_height, w, h};
    /* at scale M/8 the decoded pixels are 8/M source pixels and the last
     * row and column may be partly padding: resize over the true extent */
    axis ax = {ci.scale_denom, (uint64_t)ci.image_width * ci.scale_num, 0};
    axis ay = {ci.scale_denom, (uint64_t)ci.image_height * ci.scale_num, 0};
    jpeg_destroy_decompress(&ci);
    return convert_covering(s->decoded, w, h, dc, ax, ay, spec, s, out, name, err);
}

/* ---- PNG ----------------------------------------------------------------- */

typedef struct png_source {
    const uint8_t *data;
    size_t size, pos;
    char msg[256];
} png_source;

static void png_read_mem(png_structp png, png_bytep out, size_t n)
{
    png_source *src = png_get_io_ptr(png);
    if (n > src->size - src->pos) png_error(png, "file is truncated");
    memcpy(out, src->data + src->pos, n);
    src->pos += n;
}

static void png_on_error(png_structp png, png_const_charp msg)
{
    png_source *src = png_get_io_ptr(png);
    snprintf(src->msg, sizeof src->msg, "%s", msg);
    png_longjmp(png, 1);
}

static void png_on_warning(png_structp png, png_const_charp msg)
{
    (void)png; /* benign (e.g. an odd colour profile) */
    (void)msg;
}

/* Transforms to 8-bit gray or RGB, without alpha. */
static void png_normalize(png_structp png, png_infop pi)
{
    png_byte type = png_get_color_type(png, pi);
    if (type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (type == PNG_COLOR_TYPE_GRAY && png_get_bit_depth(png, pi) < 8) png_set_expand_gray_1_2_4_to_8(png);
    png_set_scale_16(png);
    png_set_strip_alpha(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, pi);
}

/* A non-interlaced PNG, row by row into the area resize: memory is a few
 * rows whatever the picture's size (a 389 KB file can promise 20000x20000
 * pixels; decoded whole it took 397 MB). */
static int png_stream_rows(png_structp png, uint32_t w, uint32_t h, uint32_t dc, const reef_image_spec *spec,
                           reef_image_scratch *s, uint8_t *out)
{
    uint32_t oc = reef_channels_count(spec->channels);
    size_t need = reef_resize_scratch_size(w, oc, spec->width, spec->height) * sizeof(uint64_t);
    if (reserve((void **)&s->decoded, &s->decoded_cap, (size_t)w * dc) ||
        reserve((void **)&s->rows, &s->rows_cap, need))
        return -1;
    axis ax = {1, w, spec->width}, ay = {1, h, spec->height};
    area_resize r;
    area_begin(&r, &ax, &ay, oc, s->rows);
    for (uint32_t y = 0; y < h; y++) {
        png_read_row(png, s->decoded, NULL);
        const uint8_t *row = select_channels(s->decoded, w, 1, dc, spec->channels, s);
        if (!row) return -1;
        area_add_row(&r, row);
    }
    area_end(&r, out);
    return 0;
}

static int decode_png(const uint8_t *data, size_t size, const char *name,
                      const reef_image_spec *spec, reef_image_scratch *s,
                      uint8_t *out, reef_image_info *info, reef_error *err)
{
    png_source src = {data, size, 0, ""};
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop pi = png ? png_create_info_struct(png) : NULL;
    png_bytep *volatile rows = NULL;
    if (!pi) {
        png_destroy_read_struct(&png, NULL, NULL);
        return reef_fail(err, "%s: out of memory", name);
    }
    png_set_read_fn(png, &src, png_read_mem);
    png_set_error_fn(png, &src, png_on_error, png_on_warning);
    if (setjmp(png_jmpbuf(png))) {
        free(rows);
        png_destroy_read_struct(&png, &pi, NULL);
        if (!strcmp(src.msg, "out of memory")) return reef_fail(err, "%s: out of memory decoding the PNG", name);
        return reef_fail(err, "%s: corrupt PNG: %s", name, src.msg);
    }
    png_read_info(png, pi);
    png_normalize(png, pi);
    uint32_t w = png_get_image_width(png, pi), h = png_get_image_height(png, pi);
    uint32_t dc = png_get_channels(png, pi);
    if (png_get_interlace_type(png, pi) == PNG_INTERLACE_NONE) {
        if (png_stream_rows(png, w, h, dc, spec, s, out)) png_error(png, "out of memory");
        png_read_end(png, NULL);
        png_destroy_read_struct(&png, &pi, NULL);
        if (info) *info = (reef_image_info){w, h, w, h};
        return 0;
    }
    /* interlaced: the passes need the whole picture, so it is bounded */
    if ((uint64_t)w * h > REEF_PNG_INTERLACED_MAX_PIXELS) {
        png_destroy_read_struct(&png, &pi, NULL);
        return reef_fail(err, "%s: interlaced PNG of %ux%u pixels: reef decodes interlaced PNGs of at most %u "
                              "megapixels (save it non-interlaced: those have no size limit)",
                         name, w, h, REEF_PNG_INTERLACED_MAX_PIXELS >> 20);
    }
    if (reserve((void **)&s->decoded, &s->decoded_cap, (size_t)w * h * dc) ||
        !(rows = malloc(h * sizeof *rows)))
        png_error(png, "out of memory");
    for (uint32_t y = 0; y < h; y++) rows[y] = s->decoded + (size_t)y * w * dc;
    png_read_image(png, rows);
    png_read_end(png, NULL);
    free(rows);
    png_destroy_read_struct(&png, &pi, NULL);
    if (info) *info = (reef_image_info){w, h, w, h};
    return reef_image_convert(s->decoded, w, h, dc, spec, s, out, name, err);
}

int reef_image_decode(const uint8_t *data, size_t size, const char *name,
                      const reef_image_spec *spec, reef_image_scratch *scratch,
                      uint8_t *out, reef_image_info *info, reef_error *err)
{
    static const uint8_t png_magic[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    if (size >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF)
        return decode_jpeg(data, size, name, spec, scratch, out, info, err);
    if (size >= 8 && !memcmp(data, png_magic, 8))
        return decode_png(data, size, name, spec, scratch, out, info, err);
    if (size == 0) return reef_fail(err, "%s: empty file", name);
    return reef_fail(err, "%s: not a JPEG or PNG image", name);
}
