/* How a uint8 pixel becomes the int8 model input: see quant.h. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quant/quant.h"

/* Tolerance for "this channel's std is the one the scale was made from". */
#define SAME_SCALE_REL 1e-5

void reef_input_quant(const reef_norm *norm, float *scale, int32_t *zero_point, reef_input_map *map)
{
    const int c = norm->channels;
    float lo = 0, hi = 0;
    int same_std = 1;
    for (int k = 0; k < c; k++) {
        const float l = -norm->mean[k] / norm->std[k], h = (1.0f - norm->mean[k]) / norm->std[k];
        if (k == 0 || l < lo) lo = l;
        if (k == 0 || h > hi) hi = h;
        if (norm->std[k] != norm->std[0]) same_std = 0;
    }
    if (same_std) {
        // real = s (q - zp) with q = p - 128 wants s = 1 / (255 std) and
        // zp = 255 mean - 128, rounded to an integer.
        *scale = 1.0f / (255.0f * norm->std[0]);
        const double z = round(255.0 * norm->mean[0] - 128.0);
        *zero_point = (int32_t)(z < -128 ? -128 : z > 127 ? 127 : z);
    } else {
        reef_choose_qparams(lo, hi, scale, zero_point);
    }
    map->channels = c;
    map->exact = 1;
    for (int k = 0; k < c; k++) {
        const double zk = round(255.0 * norm->mean[k] - 128.0);
        const int exact = fabs((double)*scale * 255.0 * norm->std[k] - 1.0) < SAME_SCALE_REL && zk == *zero_point;
        map->exact &= exact;
        for (int p = 0; p < 256; p++) {
            const float x = ((float)p / 255.0f - norm->mean[k]) / norm->std[k];
            map->lut[k][p] = exact ? (int8_t)(p - 128) : reef_quantize_value(x, *scale, *zero_point);
        }
    }
}

void reef_norm_describe(const reef_norm *norm, char *buf, size_t size)
{
    int at = snprintf(buf, size, "reef-norm mean=");
    for (int k = 0; k < norm->channels && at < (int)size; k++)
        at += snprintf(buf + at, size - at, "%s%.9g", k ? "," : "", norm->mean[k]);
    if (at < (int)size) at += snprintf(buf + at, size - at, " std=");
    for (int k = 0; k < norm->channels && at < (int)size; k++)
        at += snprintf(buf + at, size - at, "%s%.9g", k ? "," : "", norm->std[k]);
}

/* Reads "v1,v2,..." after key in text into v; returns how many. */
static int parse_list(const char *text, const char *key, float *v, int max)
{
    const char *p = strstr(text, key);
    if (!p) return 0;
    p += strlen(key);
    int n = 0;
    while (n < max) {
        char *end;
        double x = strtod(p, &end);
        if (end == p || !isfinite(x)) break; /* a NaN mean or std is no normalization */
        v[n++] = (float)x;
        if (*end != ',') break;
        p = end + 1;
    }
    return n;
}

/* The normalization recorded in a description, if there is one. */
static int norm_from_description(const char *desc, int channels, reef_norm *norm)
{
    const char *line = desc ? strstr(desc, "reef-norm ") : NULL;
    if (!line) return 0;
    norm->channels = channels;
    if (parse_list(line, "mean=", norm->mean, REEF_MAX_CHANNELS) != channels ||
        parse_list(line, "std=", norm->std, REEF_MAX_CHANNELS) != channels)
        return 0;
    for (int k = 0; k < channels; k++)
        if (!(norm->std[k] > 0)) return 0;
    return 1;
}

int reef_input_map_from_graph(const reef_graph *g, reef_input_map *map, reef_error *err)
{
    if (g->ninputs != 1 || g->inputs[0] < 0 || g->inputs[0] >= g->ntensors)
        return reef_fail(err, "model '%s' has %d inputs (one expected)", g->name ? g->name : "?", g->ninputs);
    const reef_tensor *t = &g->tensors[g->inputs[0]];
    if (t->type != REEF_INT8 || t->rank != 4 || t->nquant < 1)
        return reef_fail(err, "model input '%s' is not a quantized int8 NHWC image tensor", t->name);
    const int c = t->shape[3];
    if (c < 1 || c > REEF_MAX_CHANNELS)
        return reef_fail(err, "model input '%s' has %d channels (at most %d)", t->name, c, REEF_MAX_CHANNELS);
    reef_norm norm;
    map->channels = c;
    if (!norm_from_description(g->description, c, &norm)) {
        // Another tool's model: the usual int8 image convention.
        map->exact = 1;
        for (int k = 0; k < c; k++)
            for (int p = 0; p < 256; p++) map->lut[k][p] = (int8_t)(p - 128);
        return 0;
    }
    float scale;
    int32_t zp;
    reef_input_quant(&norm, &scale, &zp, map);
    // The map must produce what the tensor's own quantization says.
    if (fabsf(scale - t->scale[0]) > 1e-6f * scale || zp != t->zero_point[0])
        return reef_fail(err, "model input '%s': quantization (%g, %lld) does not match its recorded normalization (%g, %d)",
                         t->name, t->scale[0], (long long)t->zero_point[0], scale, zp);
    return 0;
}

void reef_input_map_apply(const reef_input_map *map, const uint8_t *pixels, size_t count, int8_t *out)
{
    const int c = map->channels;
    for (size_t i = 0; i < count; i++) out[i] = map->lut[i % (size_t)c][pixels[i]];
}
