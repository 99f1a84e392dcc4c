/* The C emitter (see emit.h). Every args struct is printed field by field
 * with designated initializers from the lowered model, so the generated
 * table is the host interpreter's table, constant for constant. */
#include "codegen/emit.h"
#include "codegen/emit_internal.h"
#include "reef/args.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


int reef_c_name_valid(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > 64 || !(isalpha((unsigned char)name[0]) || name[0] == '_')) return 0;
    for (size_t i = 0; i < n; i++)
        if (!(isalnum((unsigned char)name[i]) || name[i] == '_')) return 0;
    return 1;
}

void reef_c_name_from_path(const char *path, char *buf, size_t size)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t n = 0;
    if (size == 0) return;
    if (!isalpha((unsigned char)base[0]) && base[0] != '_' && size > 1) buf[n++] = 'm';
    for (const char *p = base; *p && *p != '.' && n + 1 < size && n < 64; p++)
        buf[n++] = isalnum((unsigned char)*p) ? *p : '_';
    buf[n] = 0;
    if (n == 0 && size > 5) strcpy(buf, "model");
}

/* ---- small printers ----------------------------------------------------- */

/* An int32 as a C99 constant: INT32_MIN cannot be written as a literal. */
static void put_i32(FILE *fp, int32_t v)
{
    if (v == INT32_MIN)
        fputs("(-2147483647 - 1)", fp);
    else
        fprintf(fp, "%" PRId32, v);
}

static void put_i8_array(emitter *e, const char *what, int k, const int8_t *v, size_t n)
{
    fprintf(e->fp, "static const int8_t %s_s%d_%s[%zu] REEF_WEIGHTS = {", e->name, k, what, n);
    for (size_t i = 0; i < n; i++)
        fprintf(e->fp, "%s%d%s", i % 24 ? "" : "\n    ", v[i], i + 1 < n ? "," : "");
    fputs("\n};\n", e->fp);
}

static void put_i8_at(FILE *fp, const void *values, size_t i)
{
    fprintf(fp, "%d", ((const int8_t *)values)[i]);
}

static void put_i32_at(FILE *fp, const void *values, size_t i)
{
    put_i32(fp, ((const int32_t *)values)[i]);
}

/* An int64 as a C99 constant (INT64_C; INT64_MIN has no literal). */
static void put_i64_at(FILE *fp, const void *values, size_t i)
{
    const int64_t v = ((const int64_t *)values)[i];
    if (v == INT64_MIN)
        fputs("(-INT64_C(9223372036854775807) - 1)", fp);
    else
        fprintf(fp, "INT64_C(%" PRId64 ")", v);
}

static void put_hw(FILE *fp, const char *field, reef_hw v)
{
    fprintf(fp, ".%s = {%" PRId32 ", %" PRId32 "}", field, v.h, v.w);
}

static void put_act(FILE *fp, reef_activation a)
{
    fprintf(fp, ".activation = {%" PRId32 ", %" PRId32 "}", a.min, a.max);
}

/* ---- one printer per args type ------------------------------------------
 * Each prints its struct's fields after the io, one initializer line per
 * group; put_step prints the declaration, the io and the closing brace. */

static void put_channel_quant(emitter *e, const char *field, int k, const reef_lowered_step *s)
{
    if (s->multiplier)
        fprintf(e->fp, "    .%s = {%s_s%d_multiplier, %s_s%d_shift},\n", field, e->name, k, e->name, k);
    else
        fprintf(e->fp, "    .%s = {0, 0},\n", field);
}

/* "    .params = {.input_offset = I, .output_offset = O, " of conv and
 * depthwise. */
static void put_window_head(FILE *fp, int32_t input_offset, int32_t output_offset)
{
    fprintf(fp, "    .params = {.input_offset = %" PRId32 ", .output_offset = %" PRId32 ", ", input_offset,
            output_offset);
}

/* The rest of a conv, depthwise or fc params initializer: "stride, padding,
 * dilation, activation},\n". */
static void put_window(FILE *fp, reef_hw stride, reef_hw padding, reef_hw dilation, reef_activation act,
                       int paired)
{
    put_hw(fp, "stride", stride), fputs(", ", fp);
    put_hw(fp, "padding", padding), fputs(", ", fp);
    put_hw(fp, "dilation", dilation), fputs(", ", fp);
    put_act(fp, act), fputs(paired ? ", .paired = 1},\n" : "},\n", fp);
}

/* The fields the conv, depthwise and fc args structs share, from input_dims
 * to the end (a macro: three struct types with the same field names). */
#define PUT_FILTER_STEP_TAIL(e, k, a)                                  \
    do {                                                               \
        emit_dims((e)->fp, "input_dims", &(a)->input_dims);            \
        emit_dims((e)->fp, "filter_dims", &(a)->filter_dims);          \
        emit_dims((e)->fp, "output_dims", &(a)->output_dims);          \
        emit_ref((e), "filter", (k), "filter", (a)->filter);           \
        emit_ref((e), "bias", (k), "bias", (a)->bias);                 \
    } while (0)

/* 1 when a conv step's filter goes out in channel pairs (reef/conv.h: the
 * same bytes, fewer instructions); the lowered step keeps TFLite's. */
static int conv_paired(const reef_lowered_step *s)
{
    const reef_conv_step_args *a = &s->args.conv;
    return s->kind == REEF_STEP_CONV && !s->keep_layout && reef_conv_s8_pairable(&a->params, &a->quant, &a->input_dims,
                                                              &a->filter_dims, &a->output_dims, a->filter);
}

static void put_conv(emitter *e, int k, const reef_lowered_step *s, const void *args)
{
    const reef_conv_step_args *a = args;
    const reef_conv_params *p = &a->params;
    put_window_head(e->fp, p->input_offset, p->output_offset);
    put_window(e->fp, p->stride, p->padding, p->dilation, p->activation, conv_paired(s));
    put_channel_quant(e, "quant", k, s);
    PUT_FILTER_STEP_TAIL(e, k, a);
}

/* A depthwise step's params and per-channel quant (int8 and 16x8 alike). */
static void put_dw_head(emitter *e, int k, const reef_lowered_step *s, const reef_dw_conv_params *p)
{
    put_window_head(e->fp, p->input_offset, p->output_offset);
    fprintf(e->fp, ".depth_multiplier = %" PRId32 ", ", p->depth_multiplier);
    put_window(e->fp, p->stride, p->padding, p->dilation, p->activation, 0);
    put_channel_quant(e, "quant", k, s);
}

static void put_dw_conv(emitter *e, int k, const reef_lowered_step *s, const void *args)
{
    const reef_dw_conv_step_args *a = args;
    put_dw_head(e, k, s, &a->params);
    PUT_FILTER_STEP_TAIL(e, k, a);
}

/* 1 when an fc step's constants go out in the row-pair layout (reef/fc.h:
 * the same bytes, fewer instructions); the lowered step keeps TFLite's. */
static int fc_paired(const reef_lowered_step *s)
{
    const reef_fc_step_args *a = &s->args.fc;
    return s->kind == REEF_STEP_FC && !s->keep_layout && reef_fc_s8_pairable(&a->params, &a->filter_dims, a->filter);
}

static void put_fc(emitter *e, int k, const reef_lowered_step *s, const void *args)
{
    const reef_fc_step_args *a = args;
    const reef_fc_params *p = &a->params;
    const int paired = fc_paired(s);
    fprintf(e->fp,
            "    .params = {.input_offset = %" PRId32 ", .filter_offset = %" PRId32
            ", .output_offset = %" PRId32 ", ",
            p->input_offset, p->filter_offset, p->output_offset);
    put_act(e->fp, p->activation);
    fputs(paired ? ", .paired = 1},\n" : "},\n", e->fp);
    fprintf(e->fp, "    .quant = {%" PRId32 ", %" PRId32 "},\n", a->quant.multiplier, a->quant.shift);
    put_channel_quant(e, "channel_quant", k, s);
    emit_dims(e->fp, "input_dims", &a->input_dims);
    emit_dims(e->fp, "filter_dims", &a->filter_dims);
    emit_dims(e->fp, "output_dims", &a->output_dims);
    emit_ref(e, "filter", k, "filter", a->filter);
    /* paired: the bias with the input offset folded in, never NULL */
    if (paired)
        fprintf(e->fp, "    .bias = %s_s%d_bias,\n", e->name, k);
    else
        emit_ref(e, "bias", k, "bias", a->bias);
}

/* An fc step's filter and folded bias in the row-pair layout. */
static int put_fc_paired_consts(emitter *e, int k, const reef_lowered_step *s)
{
    const reef_fc_step_args *a = &s->args.fc;
    const int32_t c_out = a->filter_dims.n;
    int8_t *filter = malloc(s->filter_size ? s->filter_size : 1);
    int32_t *bias = malloc((size_t)c_out * sizeof *bias);
    if (!filter || !bias) {
        free(filter), free(bias);
        e->out_of_memory = 1;
        return -1;
    }
    reef_fc_s8_pair(&a->params, &a->filter_dims, a->filter, a->bias, filter, bias);
    put_i8_array(e, "filter", k, filter, s->filter_size);
    emit_array(e, "int32_t", "bias", k, bias, (size_t)c_out, put_i32_at);
    free(filter), free(bias);
    return 0;
}

/* The 16x8 steps: the int8 printers' fields with a per-channel quant
 * always and an int64 bias. */
static void put_conv_s16(emitter *e, int k, const reef_lowered_step *s, const void *args)
{
    const reef_conv_s16_step_args *a = args;
    const reef_conv_params *p = &a->params;
    put_window_head(e->fp, p->input_offset, p->output_offset);
    put_window(e->fp, p->stride, p->padding, p->dilation, p->activation, 0);
    put_channel_quant(e, "quant", k, s);
    PUT_FILTER_STEP_TAIL(e, k, a);
    emit_ref(e, "bias32", k, "bias", a->bias32);
    fprintf(e->fp, "    .acc32 = %" PRId32 ",\n", a->acc32);
}

static void put_dw_conv_s16(emitter *e, int k, const reef_lowered_step *s, const void *args)
{
    const reef_dw_conv_s16_step_args *a = args;
    put_dw_head(e, k, s, &a->params);
    PUT_FILTER_STEP_TAIL(e, k, a);
}

static void put_fc_s16(emitter *e, int k, const reef_lowered_step *s, const void *args)
{
    const reef_fc_s16_step_args *a = args;
    const reef_fc_params *p = &a->params;
    fprintf(e->fp,
            "    .params = {.input_offset = %" PRId32 ", .filter_offset = %" PRId32
            ", .output_offset = %" PRId32 ", ",
            p->input_offset, p->filter_offset, p->output_offset);
    put_act(e->fp, p->activation), fputs("},\n", e->fp);
    put_channel_quant(e, "quant", k, s);
    PUT_FILTER_STEP_TAIL(e, k, a);
    emit_ref(e, "bias32", k, "bias", a->bias32);
    fprintf(e->fp, "    .acc32 = %" PRId32 ",\n", a->acc32);
}

/* "    .params = {...},\n" of ADD and SUB. */
static void put_add_params(emitter *e, const reef_add_params *p)
{
    fprintf(e->fp,
            "    .params = {.input1_offset = %" PRId32 ", .input1_multiplier = %" PRId32
            ", .input1_shift = %" PRId32 ",\n"
            "               .input2_offset = %" PRId32 ", .input2_multiplier = %" PRId32
            ", .input2_shift = %" PRId32 ",\n"
            "               .left_shift = %" PRId32 ", .output_offset = %" PRId32
            ", .output_multiplier = %" PRId32 ", .output_shift = %" PRId32 ",\n               ",
            p->input1_offset, p->input1_multiplier, p->input1_shift, p->input2_offset, p->input2_multiplier,
            p->input2_shift, p->left_shift, p->output_offset, p->output_multiplier, p->output_shift);
    put_act(e->fp, p->activation), fputs("},\n", e->fp);
}

static void put_add(emitter *e, int k, const reef_lowered_step *s, const void *args)
{
    const reef_add_step_args *a = args;
    (void)k, (void)s;
    put_add_params(e, &a->params);
    fprintf(e->fp, "    .count = %" PRId32 ",\n", a->count);
}

/* The broadcast and constant operand of the binary ops (reef/elementwise.h):
 * the constant is the step's "filter" array. */
static void put_binary_tail(emitter *e, int k, const reef_broadcast *b, const int8_t *c1, const int8_t *c2)
{
    fputs("    .bcast = {\n", e->fp);
    emit_dims(e->fp, "output_dims", &b->output_dims);
    emit_dims(e->fp, "input1_strides", &b->input1_strides);
    emit_dims(e->fp, "input2_strides", &b->input2_strides);
    fputs("    },\n", e->fp);
    emit_ref(e, "input1_const", k, "filter", c1);
    emit_ref(e, "input2_const", k, "filter", c2);
}

static void put_addsub(emitter *e, int k, const reef_lowered_step *s, const void *args)
{
    const reef_addsub_step_args *a = args;
    (void)s;
    put_add_params(e, &a->params);
    put_binary_tail(e, k, &a->bcast, a->input1_const, a->input2_const);
}

static void put_mul(emitter *e, int k, const reef_lowered_step *s, const void *args)
{
    const reef_mul_step_args *a = args;
    const reef_mul_params *p = &a->params;
    (void)s;
    fprintf(e->fp,
            "    .params = {.input1_offset = %" PRId32 ", .input2_offset = %" PRId32 ", .output_offset = %" PRId32
            ", .output_multiplier = %" PRId32 ", .output_shift = %" PRId32 ", ",
            p->input1_offset, p->input2_offset, p->output_offset, p->output_multiplier, p->output_shift);
    put_act(e->fp, p->activation), fputs("},\n", e->fp);
    put_binary_tail(e, k, &a->bcast, a->input1_const, a->input2_const);
}

static void put_act_step(emitter *e, int k, const reef_lowered_step *s, const void *args)
{
    const reef_act_step_args *a = args;
    const reef_act_params *p = &a->params;
    (void)k, (void)s;
    fprintf(e->fp,
            "    .params = {.input_zero_point = %" PRId32 ", .output_zero_point = %" PRId32
            ", .positive = {%" PRId32 ", %" PRId32 "}, .negative = {%" PRId32 ", %" PRId32 "}, ",
            p->input_zero_point, p->output_zero_point, p->positive.multiplier, p->positive.shift,
            p->negative.multiplier, p->negative.shift);
    put_act(e->fp, p->activation), fputs("},\n", e->fp);
    fprintf(e->fp, "    .count = %" PRId32 ",\n", a->count);
}

static void put_prelu(emitter *e, int k, const reef_lowered_step *s, const void *args)
{
    const reef_prelu_step_args *a = args;
    const reef_prelu_params *p = &a->params;
    (void)s;
    fprintf(e->fp,
            "    .params = {.input_offset = %" PRId32 ", .alpha_offset = %" PRId32 ", .output_offset = %" PRId32
            ", .positive = {%" PRId32 ", %" PRId32 "}, .negative = {%" PRId32 ", %" PRId32 "}},\n",
            p->input_offset, p->alpha_offset, p->output_offset, p->positive.multiplier, p->positive.shift,
            p->negative.multiplier, p->negative.shift);
    put_binary_tail(e, k, &a->bcast, a->input1_const, a->input2_const);
}

static void put_strided(emitter *e, int k, const reef_lowered_step *s, const void *args)
{
    const reef_strided_step_args *a = args;
    (void)k, (void)s;
    emit_dims(e->fp, "output_dims", &a->output_dims);
    emit_dims(e->fp, "input_strides", &a->input_strides);
    fprintf(e->fp, "    .input_offset = %" PRId32 ",\n", a->input_offset);
}

static void put_copy_rows(emitter *e, int k, const reef_lowered_step *s, const void *args)
{
    const reef_copy_rows_step_args *a = args;
    const reef_copy_quant *q = &a->quant;
    (void)k, (void)s;
    fprintf(e->fp,
            "    .rows = %" PRId32 ", .row_size = %" PRId32 ",\n    .input_offset = %" PRId32 ", .input_stride = %" PRId32
            ",\n    .output_offset = %" PRId32 ", .output_stride = %" PRId32 ",\n",
            a->rows, a->row_size, a->input_offset, a->input_stride, a->output_offset, a->output_stride);
    fprintf(e->fp,
            "    .quant = {.requantize = %" PRId32 ", .input_offset = %" PRId32 ", .multiplier = %" PRId32
            ", .shift = %" PRId32 ", .output_offset = %" PRId32 "},\n",
            q->requantize, q->input_offset, q->multiplier, q->shift, q->output_offset);
}

static void put_resize_nearest(emitter *e, int k, const reef_lowered_step *s, const void *args)
{
    const reef_resize_nearest_step_args *a = args;
    (void)s;
    emit_dims(e->fp, "input_dims", &a->input_dims);
    emit_dims(e->fp, "output_dims", &a->output_dims);
    emit_ref(e, "index", k, "bias", a->index);
}

static void put_resize_bilinear(emitter *e, int k, const reef_lowered_step *s, const void *args)
{
    const reef_resize_bilinear_step_args *a = args;
    const reef_resize_bilinear_geometry *q = &a->geometry;
    (void)k, (void)s;
    emit_dims(e->fp, "input_dims", &a->input_dims);
    emit_dims(e->fp, "output_dims", &a->output_dims);
    fprintf(e->fp,
            "    .geometry = {.y_scale_10 = %" PRId32 ", .x_scale_10 = %" PRId32 ", .half_pixel_centers = %" PRId32
            "},\n",
            q->y_scale_10, q->x_scale_10, q->half_pixel_centers);
}

static void put_arg_max(emitter *e, int k, const reef_lowered_step *s, const void *args)
{
    const reef_arg_max_step_args *a = args;
    (void)k, (void)s;
    fprintf(e->fp, "    .outer = %" PRId32 ", .axis_size = %" PRId32 ", .inner = %" PRId32 ",\n", a->outer, a->axis_size,
            a->inner);
}

static void put_reduce(emitter *e, int k, const reef_lowered_step *s, const void *args)
{
    const reef_reduce_step_args *a = args;
    (void)k, (void)s;
    emit_dims(e->fp, "input_dims", &a->input_dims);
    fprintf(e->fp, "    .axes = %" PRId32 ",\n", a->axes);
}

static void put_lut(emitter *e, int k, const reef_lowered_step *s, const void *args)
{
    const reef_lut_step_args *a = args;
    (void)s;
    emit_ref(e, "table", k, "filter", a->table);
    fprintf(e->fp, "    .count = %" PRId32 ",\n", a->count);
}

static void put_minmax(emitter *e, int k, const reef_lowered_step *s, const void *args)
{
    const reef_minmax_step_args *a = args;
    (void)s;
    put_binary_tail(e, k, &a->bcast, a->input1_const, a->input2_const);
}

static void put_pool(emitter *e, int k, const reef_lowered_step *s, const void *args)
{
    const reef_pool_step_args *a = args;
    (void)k, (void)s;
    fputs("    .params = {", e->fp);
    put_hw(e->fp, "stride", a->params.stride), fputs(", ", e->fp);
    put_hw(e->fp, "padding", a->params.padding), fputs(", ", e->fp);
    put_act(e->fp, a->params.activation), fputs("},\n    ", e->fp);
    put_hw(e->fp, "filter", a->filter), fputs(",\n", e->fp);
    emit_dims(e->fp, "input_dims", &a->input_dims);
    emit_dims(e->fp, "output_dims", &a->output_dims);
}

static void put_mean(emitter *e, int k, const reef_lowered_step *s, const void *args)
{
    const reef_mean_step_args *a = args;
    (void)k, (void)s;
    fprintf(e->fp,
            "    .params = {.input_offset = %" PRId32 ", .output_offset = %" PRId32 ", .multiplier = %" PRId32
            ", .shift = %" PRId32 "},\n",
            a->params.input_offset, a->params.output_offset, a->params.multiplier, a->params.shift);
    emit_dims(e->fp, "input_dims", &a->input_dims);
    emit_dims(e->fp, "output_dims", &a->output_dims);
}

static void put_softmax(emitter *e, int k, const reef_lowered_step *s, const void *args)
{
    const reef_softmax_step_args *a = args;
    (void)k, (void)s;
    fprintf(e->fp, "    .params = {.input_multiplier = %" PRId32 ", .input_left_shift = %" PRId32 ", .diff_min = ",
            a->params.input_multiplier, a->params.input_left_shift);
    put_i32(e->fp, a->params.diff_min);
    fprintf(e->fp, "},\n    .rows = %" PRId32 ", .depth = %" PRId32 ",\n", a->rows, a->depth);
}

static void put_reshape(emitter *e, int k, const reef_lowered_step *s, const void *args)
{
    const reef_reshape_step_args *a = args;
    (void)k, (void)s;
    fprintf(e->fp, "    .count = %" PRId32 ",\n", a->count);
}

static void put_pad(emitter *e, int k, const reef_lowered_step *s, const void *args)
{
    const reef_pad_step_args *a = args;
    const reef_dims *b = &a->params.before, *f = &a->params.after;
    (void)k, (void)s;
    fprintf(e->fp,
            "    .params = {.before = {%" PRId32 ", %" PRId32 ", %" PRId32 ", %" PRId32 "}, "
            ".after = {%" PRId32 ", %" PRId32 ", %" PRId32 ", %" PRId32 "}, .pad_value = %" PRId32 "},\n",
            b->n, b->h, b->w, b->c, f->n, f->h, f->w, f->c, a->params.pad_value);
    emit_dims(e->fp, "input_dims", &a->input_dims);
    emit_dims(e->fp, "output_dims", &a->output_dims);
}

static void put_quantize(emitter *e, int k, const reef_lowered_step *s, const void *args)
{
    const reef_quantize_step_args *a = args;
    (void)k, (void)s;
    fputs("    .scale = ", e->fp);
    emit_float(e->fp, a->scale);
    fprintf(e->fp, ", .zero_point = %" PRId32 ", .count = %" PRId32 ",\n", a->zero_point, a->count);
}

static void put_requantize(emitter *e, int k, const reef_lowered_step *s, const void *args)
{
    const reef_requantize_step_args *a = args;
    (void)k, (void)s;
    fprintf(e->fp,
            "    .input_offset = %" PRId32 ", .multiplier = %" PRId32 ", .shift = %" PRId32
            ", .output_offset = %" PRId32 ", .count = %" PRId32 ",\n",
            a->input_offset, a->multiplier, a->shift, a->output_offset, a->count);
}

/* The C index of layer j of ROWS step k: its constants and args are named
 * like a step's, past every real step index. */
static int sub_index(int k, int j)
{
    return (j + 1) * 100000 + k;
}

static void put_rows(emitter *e, int k, const reef_lowered_step *s, const void *args)
{
    const reef_rows_step_args *a = args;
    fprintf(e->fp, "    .nstages = %" PRId32 ",\n    .stage = {", a->nstages);
    for (int i = 0; i < a->nstages; i++) {
        const reef_rows_stage *st = &a->stage[i];
        fprintf(e->fp, "%s{.kind = %" PRId32 ", ", i ? ", " : "", st->kind);
        if (st->conv)
            fprintf(e->fp, ".conv = &%s_s%d_args, .dw = 0, ", e->name, sub_index(k, i));
        else
            fprintf(e->fp, ".conv = 0, .dw = &%s_s%d_args, ", e->name, sub_index(k, i));
        fprintf(e->fp, ".ring_rows = %" PRId32 ", .ring_at = %" PRIu32 "u}", st->ring_rows, st->ring_at);
    }
    fputs("},\n", e->fp);
    const int skip = a->skip != NULL; /* s->sub: the layers, the skip conv, the ADD */
    if (a->add)
        fprintf(e->fp, "    .add = &%s_s%d_args, .add_t0_first = %" PRId32 ",\n", e->name,
                sub_index(k, a->nstages + skip), a->add_t0_first);
    else
        fputs("    .add = 0, .add_t0_first = 0,\n", e->fp);
    if (skip)
        fprintf(e->fp, "    .skip = &%s_s%d_args, .skip_at = %" PRIu32 "u,\n", e->name, sub_index(k, a->nstages),
                a->skip_at);
    else
        fputs("    .skip = 0, .skip_at = 0u,\n", e->fp);
    fprintf(e->fp,
            "    .pending_rows = %" PRId32 ", .pending_at = %" PRIu32 "u, .kernel_at = %" PRIu32
            "u, .kernel_size = %" PRId32 ",\n",
            a->pending_rows, a->pending_at, a->kernel_at, a->kernel_size);
    (void)s;
}

static void put_patch(emitter *e, int k, const reef_lowered_step *s, const void *args)
{
    const reef_patch_step_args *a = args;
    fprintf(e->fp, "    .nstages = %" PRId32 ",\n    .stage = {", a->nstages);
    for (int i = 0; i < a->nstages; i++) {
        fprintf(e->fp, "%s{.kind = %" PRId32 ", ", i ? ", " : "", a->stage[i].kind);
        if (a->stage[i].conv)
            fprintf(e->fp, ".conv = &%s_s%d_args, .dw = 0}", e->name, sub_index(k, i));
        else
            fprintf(e->fp, ".conv = 0, .dw = &%s_s%d_args}", e->name, sub_index(k, i));
    }
    fprintf(e->fp,
            "},\n    .grid_h = %" PRId32 ", .grid_w = %" PRId32 ", .buf_at = %" PRIu32 "u, .buf_size = %" PRId32
            ", .kernel_at = %" PRIu32 "u, .kernel_size = %" PRId32 ",\n",
            a->grid_h, a->grid_w, a->buf_at, a->buf_size, a->kernel_at, a->kernel_size);
    (void)s;
}

/* Per kind (reef/step_kinds.h): the names the generated C uses and the
 * printer of its args. */
typedef void (*put_args_fn)(emitter *e, int k, const reef_lowered_step *s, const void *args);
static const struct {
    const char *run;       /* the step function */
    const char *args_type; /* its args struct */
    put_args_fn put_args;
} kind_c[] = {
#define REEF_X(KIND, name, run, args_type, printer) [REEF_STEP_##KIND] = {#run, #args_type, put_##printer},
    REEF_STEP_KINDS(REEF_X)
#undef REEF_X
};

static void put_step_args(emitter *e, int k, const reef_lowered_step *s);

static void put_step(emitter *e, int k, const reef_lowered_step *s)
{
    fprintf(e->fp, "\n/* step %d: op %d %s%s */\n", k, s->op, reef_builtin_name(s->builtin),
            s->kind == REEF_STEP_ROWS    ? " and the next layers, row by row"
            : s->kind == REEF_STEP_PATCH ? " and the next layers, patch by patch"
                                         : "");
    for (int j = 0; j < s->nsub; j++) {
        fprintf(e->fp, "\n/* step %d, layer %d: op %d %s */\n", k, j, s->sub[j].op, reef_builtin_name(s->sub[j].builtin));
        put_step_args(e, sub_index(k, j), &s->sub[j]);
    }
    put_step_args(e, k, s);
}

static void put_step_args(emitter *e, int k, const reef_lowered_step *s)
{
    if (fc_paired(s)) {
        if (put_fc_paired_consts(e, k, s)) return;
    } else if (conv_paired(s)) {
        /* C_OUT * K8 bytes: K rounded up to 8, zeros past K (reef/conv.h) */
        const size_t size = (size_t)reef_conv_s8_paired_size(&s->args.conv.filter_dims);
        int8_t *paired = malloc(size);
        if (!paired) {
            e->out_of_memory = 1;
            return;
        }
        reef_conv_s8_pair(&s->args.conv.filter_dims, s->filter, paired);
        put_i8_array(e, "filter", k, paired, size);
        free(paired);
        if (s->bias) emit_array(e, "int32_t", "bias", k, s->bias, (size_t)s->nbias, put_i32_at);
    } else {
        if (s->filter) put_i8_array(e, "filter", k, s->filter, s->filter_size);
        if (s->bias) emit_array(e, "int32_t", "bias", k, s->bias, (size_t)s->nbias, put_i32_at);
    }
    if (s->bias64) emit_array(e, "int64_t", "bias", k, s->bias64, (size_t)s->nbias, put_i64_at);
    if (s->multiplier) emit_array(e, "int32_t", "multiplier", k, s->multiplier, (size_t)s->nchannels, put_i32_at);
    if (s->shift) emit_array(e, "int8_t", "shift", k, s->shift, (size_t)s->nchannels, put_i8_at);
    fprintf(e->fp, "static const %s %s_s%d_args = {\n", kind_c[s->kind].args_type, e->name, k);
    emit_io(e->fp, reef_lowered_step_io(s));
    kind_c[s->kind].put_args(e, k, s, &s->args);
    fputs("};\n", e->fp);
}

/* ---- the two files ------------------------------------------------------ */

/* The C type of the model's input or output ("int8_t" or "float"), and
 * its name in the header comment. */
static const char *c_type(reef_dtype t)
{
    return t == REEF_FLOAT32 ? "float" : t == REEF_INT32 ? "int32_t" : t == REEF_INT16 ? "int16_t" : "int8_t";
}
static const char *type_word(reef_dtype t)
{
    return t == REEF_FLOAT32 ? "float32" : t == REEF_INT32 ? "int32" : t == REEF_INT16 ? "int16" : "int8";
}

/* Float input or output, or an int32 output (ARG_MAX): 4-byte elements. */
static int has_wide_io(const reef_lowered_model *m)
{
    return m->input_type != REEF_INT8 || m->output_type != REEF_INT8;
}

static int uses_quantize_ops(const reef_lowered_model *m)
{
    for (int k = 0; k < m->nsteps; k++)
        if (m->steps[k].kind == REEF_STEP_QUANTIZE || m->steps[k].kind == REEF_STEP_DEQUANTIZE ||
            m->steps[k].kind == REEF_STEP_REQUANTIZE || m->steps[k].kind == REEF_STEP_QUANTIZE_S16 ||
            m->steps[k].kind == REEF_STEP_DEQUANTIZE_S16)
            return 1;
    return 0;
}

/* 1 when a step hands its layer to a scalar reference kernel (the fast
 * kernels' *_needs_reference predicates); else the header tells the
 * runtime to leave them out of the firmware. */
/* Step k's i-th kernel step: itself, or a ROWS step's layers; NULL past the last. */
static const reef_lowered_step *leaf(const reef_lowered_model *m, int k, int i)
{
    const reef_lowered_step *s = &m->steps[k];
    if (s->kind != REEF_STEP_ROWS && s->kind != REEF_STEP_PATCH) return i == 0 ? s : NULL;
    return i < s->nsub ? &s->sub[i] : NULL;
}

static int needs_reference_kernels(const reef_lowered_model *m)
{
    for (int k = 0; k < m->nsteps; k++)
    for (int i = 0; leaf(m, k, i); i++) {
        const reef_lowered_step *s = leaf(m, k, i);
        if (s->kind == REEF_STEP_CONV &&
            reef_conv_s8_needs_reference(&s->args.conv.params, &s->args.conv.quant, &s->args.conv.filter_dims))
            return 1;
        if (s->kind == REEF_STEP_DW_CONV && reef_dw_conv_s8_needs_reference(&s->args.dw_conv.params)) return 1;
        if (s->kind == REEF_STEP_FC && reef_fc_s8_needs_reference(&s->args.fc.params)) return 1;
    }
    return 0;
}

/* One conv or depthwise kernel call as the runtime makes it: a step's own
 * args, or, for a layer of a ROWS step, one output row (runtime/src/rows.c,
 * layer_row): the input rows its window reads, clipped, the top padding
 * the clip left, one output row, the step's kernel scratch. A row view can
 * take another loop than the whole layer, so the gating below takes the
 * path of every call. */
typedef struct kernel_call {
    const reef_lowered_step *s; /* the layer (kind, quant, filter, layout) */
    reef_conv_params conv;
    reef_dw_conv_params dw;
    reef_dims in, out;
    int32_t scratch; /* bytes of scratch the kernel gets */
} kernel_call;

typedef void (*kernel_call_fn)(const kernel_call *c, void *ctx);

static void visit_rows_layer(const reef_lowered_step *layer, int32_t scratch, kernel_call_fn visit, void *ctx)
{
    const int conv = layer->kind == REEF_STEP_CONV;
    kernel_call c = {.s = layer, .scratch = scratch};
    if (conv) c.conv = layer->args.conv.params;
    else c.dw = layer->args.dw_conv.params;
    const reef_dims *in = conv ? &layer->args.conv.input_dims : &layer->args.dw_conv.input_dims;
    const reef_dims *out = conv ? &layer->args.conv.output_dims : &layer->args.dw_conv.output_dims;
    const reef_dims *f = conv ? &layer->args.conv.filter_dims : &layer->args.dw_conv.filter_dims;
    const int32_t stride = conv ? c.conv.stride.h : c.dw.stride.h, pad = conv ? c.conv.padding.h : c.dw.padding.h;
    const int32_t dil = conv ? c.conv.dilation.h : c.dw.dilation.h, extent = (f->h - 1) * dil + 1;
    for (int32_t y = 0; y < out->h; y++) {
        int32_t lo = y * stride - pad, hi = lo + extent - 1, lo_c = lo < 0 ? 0 : lo;
        if (hi > in->h - 1) hi = in->h - 1;
        c.in = *in, c.out = *out;
        c.in.h = hi - lo_c + 1, c.out.h = 1;
        if (conv) c.conv.padding.h = lo_c - lo;
        else c.dw.padding.h = lo_c - lo;
        visit(&c, ctx);
    }
}

/* A conv or depthwise layer called on its whole shape: a step, or a PATCH
 * step's layer (its views take the layer's own loop: fuse_patch.c refuses
 * a stage otherwise). A step's depthwise in place takes dw_in_place.c
 * (REEF_DW_IN_PLACE); a PATCH layer's io is unused, so not asked. */
static void visit_whole(const reef_lowered_step *s, int is_step, kernel_call_fn visit, void *ctx)
{
    kernel_call c = {.s = s};
    if (s->kind == REEF_STEP_CONV) {
        const reef_conv_step_args *a = &s->args.conv;
        c.conv = a->params, c.in = a->input_dims, c.out = a->output_dims, c.scratch = (int32_t)a->io.scratch_size;
    } else if (s->kind == REEF_STEP_DW_CONV) {
        const reef_dw_conv_step_args *a = &s->args.dw_conv;
        if (is_step && a->io.output_at == a->io.input_at) return;
        c.dw = a->params, c.in = a->input_dims, c.out = a->output_dims, c.scratch = (int32_t)a->io.scratch_size;
    } else {
        return;
    }
    visit(&c, ctx);
}

/* Every conv and depthwise kernel call of the model, in step order. */
static void each_kernel_call(const reef_lowered_model *m, kernel_call_fn visit, void *ctx)
{
    for (int k = 0; k < m->nsteps; k++) {
        const reef_lowered_step *s = &m->steps[k];
        if (s->kind == REEF_STEP_ROWS) {
            for (int i = 0; i < s->nsub; i++)
                if (s->sub[i].kind == REEF_STEP_CONV || s->sub[i].kind == REEF_STEP_DW_CONV)
                    visit_rows_layer(&s->sub[i], s->args.rows.kernel_size, visit, ctx);
        } else if (s->kind == REEF_STEP_PATCH) {
            for (int i = 0; i < s->nsub; i++) visit_whole(&s->sub[i], 0, visit, ctx);
        } else {
            visit_whole(s, 1, visit, ctx);
        }
    }
}

static int call_conv_path(const kernel_call *c)
{
    return reef_conv_s8_path(&c->conv, &c->in, &c->s->args.conv.filter_dims, &c->out);
}

/* The OR of 1 << reef_conv_s8_path over the conv calls. */
static void add_conv_path(const kernel_call *c, void *ctx)
{
    if (c->s->kind != REEF_STEP_CONV) return;
    *(unsigned *)ctx |= 1u << call_conv_path(c);
    /* the resident variant of the paired loop (reef/conv.h) */
    if (conv_paired(c->s) && reef_conv_s8_resident(&c->conv, &c->in, &c->s->args.conv.filter_dims, &c->out))
        *(unsigned *)ctx |= 1u << REEF_CONV_PATH_RESIDENT;
    /* the filter read from scratch, where the planner gave the step its room */
    else if (conv_paired(c->s)) {
        const int32_t size = reef_conv_s8_weights_buffer_size(&c->conv, &c->in, &c->s->args.conv.filter_dims, &c->out);
        if (size > 0 && c->scratch >= size) *(unsigned *)ctx |= 1u << REEF_CONV_PATH_WEIGHTS;
    }
}
static unsigned conv_paths(const reef_lowered_model *m)
{
    unsigned paths = 0;
    each_kernel_call(m, add_conv_path, &paths);
    return paths;
}

/* The OR of reef_conv_rq_form over the conv calls on the 2x2 loop (the
 * only one with more than one requantization form). */
static void add_conv_rq_form(const kernel_call *c, void *ctx)
{
    const reef_conv_step_args *a = &c->s->args.conv;
    if (c->s->kind == REEF_STEP_CONV && call_conv_path(c) < 2)
        *(unsigned *)ctx |= reef_conv_rq_form(&a->quant, a->bias, a->filter_dims.n);
}
static unsigned conv_rq_forms(const reef_lowered_model *m)
{
    unsigned forms = 0;
    each_kernel_call(m, add_conv_rq_form, &forms);
    return forms;
}

/* The OR of 1 << reef_add_s8_path over the ADD steps. */
static unsigned add_paths(const reef_lowered_model *m)
{
    unsigned paths = 0;
    for (int k = 0; k < m->nsteps; k++)
        for (int i = 0; leaf(m, k, i); i++)
            if (leaf(m, k, i)->kind == REEF_STEP_ADD)
                paths |= 1u << reef_add_s8_path(&leaf(m, k, i)->args.add.params);
    return paths;
}

/* 1 when a conv call takes the 2x2 loop (path 0 or 1, reef/conv.h) in the
 * plain filter layout, not paired. */
static void note_unpaired_2x2(const kernel_call *c, void *ctx)
{
    if (c->s->kind == REEF_STEP_CONV && !conv_paired(c->s) && call_conv_path(c) <= 1) *(int *)ctx = 1;
}
static int conv_unpaired_2x2(const reef_lowered_model *m)
{
    int any = 0;
    each_kernel_call(m, note_unpaired_2x2, &any);
    return any;
}

/* 1 when a paired conv call's output rows are not a multiple of 4 wide
 * (the paired loop's two-position tail may run: an intermittent table's
 * tiles cut a step into row ranges, so the width decides, not the count),
 * or a PATCH step holds a paired conv (its patches' counts vary: kept, not
 * asked). */
static void note_paired_tail(const kernel_call *c, void *ctx)
{
    if (conv_paired(c->s) && c->out.w % 4 != 0) *(int *)ctx = 1; /* rows of 4k: so is every count */
}
static int conv_paired_tail(const reef_lowered_model *m)
{
    int any = 0;
    each_kernel_call(m, note_paired_tail, &any);
    for (int k = 0; k < m->nsteps; k++)
        for (int i = 0; m->steps[k].kind == REEF_STEP_PATCH && i < m->steps[k].nsub; i++)
            if (conv_paired(&m->steps[k].sub[i])) any = 1;
    return any;
}

/* 1 when a conv call on the K = 8 short-K loop read in place (the
 * assembly loops, eight positions a pass) has output rows that are not a
 * multiple of 8 wide (its four- and two-position loops may run; rows, not
 * counts, for the same reason as note_paired_tail), or a PATCH step holds
 * a conv on that loop (its patches' counts vary). */
static int is_small8_direct(int path) { return path == REEF_CONV_PATH_SMALL8; }
static void note_small8_tail(const kernel_call *c, void *ctx)
{
    if (c->s->kind == REEF_STEP_CONV && is_small8_direct(call_conv_path(c)) && c->out.w % 8 != 0) *(int *)ctx = 1;
}
static int conv_small8_tail(const reef_lowered_model *m)
{
    int any = 0;
    each_kernel_call(m, note_small8_tail, &any);
    for (int k = 0; k < m->nsteps; k++)
        for (int i = 0; m->steps[k].kind == REEF_STEP_PATCH && i < m->steps[k].nsub; i++) {
            const reef_lowered_step *s = &m->steps[k].sub[i];
            if (s->kind == REEF_STEP_CONV &&
                is_small8_direct(reef_conv_s8_path(&s->args.conv.params, &s->args.conv.input_dims,
                                                   &s->args.conv.filter_dims, &s->args.conv.output_dims)))
                any = 1;
        }
    return any;
}

/* The OR of 1 << reef_dw_conv_s8_path over the depthwise calls that do
 * not run in place (those take dw_in_place.c, REEF_DW_IN_PLACE). */
static void add_dw_path(const kernel_call *c, void *ctx)
{
    if (c->s->kind != REEF_STEP_DW_CONV) return;
    const reef_dw_conv_step_args *a = &c->s->args.dw_conv;
    const int path = reef_dw_conv_s8_path(&c->dw, &a->quant, &c->in, &a->filter_dims, &c->out, c->scratch);
    if (path < REEF_DW_PATH_COUNT) *(unsigned *)ctx |= 1u << path;
}
static unsigned dw_paths(const reef_lowered_model *m)
{
    unsigned paths = 0;
    each_kernel_call(m, add_dw_path, &paths);
    return paths;
}

/* 1 when a depthwise call not run in place clamps to less than [-128, 127]
 * (dw3x3.c's clamped requantization loop runs). */
static void note_dw_clamped(const kernel_call *c, void *ctx)
{
    if (c->s->kind == REEF_STEP_DW_CONV && (c->dw.activation.min != -128 || c->dw.activation.max != 127))
        *(int *)ctx = 1;
}
static int dw_clamped(const reef_lowered_model *m)
{
    int any = 0;
    each_kernel_call(m, note_dw_clamped, &any);
    return any;
}

static int pool2_first(const reef_lowered_model *m);

/* The OR of 1 << reef_pool_s8_path over the pool steps from step first. */
static unsigned pool_paths(const reef_lowered_model *m, int first)
{
    unsigned paths = 0;
    for (int k = first; k < m->nsteps; k++) {
        const reef_lowered_step *s = &m->steps[k];
        const reef_pool_step_args *a = s->kind == REEF_STEP_AVGPOOL ? &s->args.avgpool : &s->args.maxpool;
        if (s->kind == REEF_STEP_AVGPOOL || s->kind == REEF_STEP_MAXPOOL)
            paths |= 1u << reef_pool_s8_path(s->kind == REEF_STEP_MAXPOOL, &a->params, &a->input_dims, &a->filter,
                                              &a->output_dims);
    }
    return paths;
}

/* The OR of reef_fc_s8_paths over the FC steps. */
static unsigned fc_paths(const reef_lowered_model *m)
{
    unsigned paths = 0;
    for (int k = 0; k < m->nsteps; k++) {
        const reef_fc_step_args *a = &m->steps[k].args.fc;
        if (m->steps[k].kind != REEF_STEP_FC) continue;
        if (a->channel_quant.multiplier) {
            paths |= reef_fc_s8_paths(&a->params, a->channel_quant.multiplier, a->channel_quant.shift, 1,
                                      &a->filter_dims, (int32_t)a->io.scratch_size);
        } else {
            /* reef_fc_s8 takes the layer's shift as int8 (and refuses others) */
            const int8_t shift = (int8_t)(a->quant.shift < -128 ? -128 : a->quant.shift > 127 ? 127 : a->quant.shift);
            paths |= reef_fc_s8_paths(&a->params, &a->quant.multiplier, &shift, 0, &a->filter_dims,
                                      (int32_t)a->io.scratch_size);
        }
    }
    return paths;
}

/* The OR over the FC steps of 1 (per tensor) or 2 (per channel). */
static unsigned fc_quants(const reef_lowered_model *m)
{
    unsigned kinds = 0;
    for (int k = 0; k < m->nsteps; k++)
        for (int i = 0; leaf(m, k, i); i++)
            if (leaf(m, k, i)->kind == REEF_STEP_FC) kinds |= leaf(m, k, i)->args.fc.channel_quant.multiplier ? 2u : 1u;
    return kinds;
}

/* 1 when every conv, depthwise, fully-connected and pool step passes its
 * kernel's argument check (the runtime's own functions, on the constant
 * arguments the header will hold; tensors live in the arena, never NULL,
 * so a placeholder stands for them): the header then lets the firmware
 * leave the checks out (REEF_ARGS_CHECKED, reef/types.h). */
static int steps_args_valid(const reef_lowered_model *m)
{
    static const int8_t tensor[1];
    for (int k = 0; k < m->nsteps; k++)
        for (int i = 0; leaf(m, k, i); i++) {
            const reef_lowered_step *s = leaf(m, k, i);
            int ok = 1;
            if (s->kind == REEF_STEP_CONV) {
                const reef_conv_step_args *a = &s->args.conv;
                ok = reef_conv_args_valid(&a->params, &a->quant, &a->input_dims, tensor, &a->filter_dims, a->filter,
                                          &a->output_dims, tensor);
            } else if (s->kind == REEF_STEP_DW_CONV) {
                const reef_dw_conv_step_args *a = &s->args.dw_conv;
                ok = reef_dw_conv_args_valid(&a->params, &a->quant, &a->input_dims, tensor, &a->filter_dims,
                                             a->filter, &a->output_dims, tensor);
            } else if (s->kind == REEF_STEP_FC) {
                const reef_fc_step_args *a = &s->args.fc;
                ok = reef_fc_args_valid(&a->params, &a->input_dims, tensor, &a->filter_dims, a->filter,
                                        &a->output_dims, tensor);
            } else if (s->kind == REEF_STEP_AVGPOOL || s->kind == REEF_STEP_MAXPOOL) {
                const reef_pool_step_args *a = s->kind == REEF_STEP_AVGPOOL ? &s->args.avgpool : &s->args.maxpool;
                ok = reef_pool_s8_args_valid(&a->params, &a->input_dims, tensor, &a->filter, &a->output_dims, tensor);
            }
            if (!ok) return 0;
        }
    return 1;
}

/* What a firmware built with -include of the header may leave out. */
static void put_kernel_paths(emitter *e, const reef_lowered_model *m)
{
    fprintf(e->fp,
            "/* The conv loops this model runs (reef/conv.h): built with -include of\n"
            " * this header, the runtime compiles no other. */\n"
            "#ifndef REEF_CONV_PATHS\n#define REEF_CONV_PATHS 0x%xu\n#endif\n\n",
            conv_paths(m));
    fprintf(e->fp,
            "/* The requantization forms of its four-position conv loop (conv.h,\n"
            " * reef_conv_rq_form). */\n"
            "#ifndef REEF_CONV_RQ_FORMS\n#define REEF_CONV_RQ_FORMS 0x%xu\n#endif\n\n",
            conv_rq_forms(m));
    fprintf(e->fp,
            "/* The ADD loops this model runs (reef/add.h). */\n"
            "#ifndef REEF_ADD_PATHS\n#define REEF_ADD_PATHS 0x%xu\n#endif\n\n",
            add_paths(m));
    fprintf(e->fp,
            "/* The depthwise loops this model runs (reef/dw_conv.h). */\n"
            "#ifndef REEF_DW_PATHS\n#define REEF_DW_PATHS 0x%xu\n#endif\n\n",
            dw_paths(m));
    if (!dw_clamped(m))
        fputs("/* Every depthwise call takes the whole int8 range: the 3x3 loops\n"
              " * compile only their plain requantization (reef/dw_conv.h). */\n"
              "#ifndef REEF_DW_CLAMPED\n#define REEF_DW_CLAMPED 0\n#endif\n\n",
              e->fp);
    /* A temporal harness never runs step 0 of a REEF_MODEL_POOL2_FIRST model
     * (targets/common/harness.c): its pool loop is left out when a later
     * average pool keeps one that can still run step 0 (r64-c8e2: the
     * 2x2 loop, 308 B) */
    const unsigned pools = pool_paths(m, 0), after = pool2_first(m) ? pool_paths(m, 1) : pools;
    const unsigned avg = (1u << REEF_POOL_PATH_AVG_2X2) | (1u << REEF_POOL_PATH_AVG) | (1u << REEF_POOL_PATH_AVG_SMALL);
    if (after != pools && (after & avg))
        fprintf(e->fp,
                "/* The pooling loops this model runs (reef/pool.h); a temporal harness\n"
                " * makes step 0's output itself (REEF_MODEL_POOL2_FIRST). */\n"
                "#ifndef REEF_POOL_PATHS\n#ifdef REEF_HARNESS_TEMPORAL\n#define REEF_POOL_PATHS 0x%xu\n#else\n"
                "#define REEF_POOL_PATHS 0x%xu\n#endif\n#endif\n\n",
                after, pools);
    else
        fprintf(e->fp,
                "/* The pooling loops this model runs (reef/pool.h). */\n"
                "#ifndef REEF_POOL_PATHS\n#define REEF_POOL_PATHS 0x%xu\n#endif\n\n",
                pools);
    fprintf(e->fp,
            "/* The fully-connected loops this model runs (reef/fc.h). */\n"
            "#ifndef REEF_FC_PATHS\n#define REEF_FC_PATHS 0x%xu\n#endif\n\n",
            fc_paths(m));
    fprintf(e->fp,
            "/* The fully-connected quantizations its steps use (1 per tensor, 2 per\n"
            " * channel; reef/step.h): the runtime links only that kernel. */\n"
            "#ifndef REEF_FC_QUANTS\n#define REEF_FC_QUANTS %uu\n#endif\n\n",
            fc_quants(m));
    fprintf(e->fp,
            "/* Whether a depthwise step runs in place (reef gen --memory): when not,\n"
            " * the runtime links no in-place kernel. */\n"
            "#ifndef REEF_DW_IN_PLACE\n#define REEF_DW_IN_PLACE %d\n#endif\n\n",
            m->in_place_steps > 0);
    unsigned paired = 0;
    for (int k = 0; k < m->nsteps; k++)
        for (int i = 0; leaf(m, k, i); i++)
            paired |= (conv_paired(leaf(m, k, i)) ? 1u : 0u) | (fc_paired(leaf(m, k, i)) ? 2u : 0u);
    fprintf(e->fp,
            "/* The paired weight layouts this model's steps use (1 conv, 2 fully\n"
            " * connected; reef/conv.h, reef/fc.h): the runtime compiles no other loop. */\n"
            "#ifndef REEF_PAIRED_LAYOUTS\n#define REEF_PAIRED_LAYOUTS %uu\n#endif\n\n",
            paired);
    fprintf(e->fp,
            "/* Whether a conv step takes the 2x2 loop in the plain filter layout\n"
            " * (reef/conv.h): when not, the runtime compiles only the paired loop. */\n"
            "#ifndef REEF_CONV_UNPAIRED\n#define REEF_CONV_UNPAIRED %d\n#endif\n\n",
            conv_unpaired_2x2(m));
    if (!conv_paired_tail(m))
        fputs("/* Every paired conv call has output rows a multiple of 4 wide\n"
              " * (reef/conv.h): the runtime leaves the paired two-position loop out. */\n"
              "#ifndef REEF_CONV_PAIRED_TAIL\n#define REEF_CONV_PAIRED_TAIL 0\n#endif\n\n",
              e->fp);
    if ((conv_paths(m) >> REEF_CONV_PATH_SMALL8 & 1u) && !conv_small8_tail(m))
        fputs("/* Every K = 8 short-K conv call has output rows a multiple of 8 wide\n"
              " * (reef/conv.h): the runtime leaves that loop's four- and two-position\n"
              " * passes out. */\n"
              "#ifndef REEF_CONV_SMALL8_TAIL\n#define REEF_CONV_SMALL8_TAIL 0\n#endif\n\n",
              e->fp);
    if (steps_args_valid(m))
        fputs("/* reef gen ran the kernels' argument checks on every conv, depthwise,\n"
              " * fully-connected and pool step of this table, and all passed: the\n"
              " * firmware links the checks as \"valid\" (reef/types.h). */\n"
              "#ifndef REEF_ARGS_CHECKED\n#define REEF_ARGS_CHECKED 1\n#endif\n\n",
              e->fp);
    if (needs_reference_kernels(m)) return;
    fputs("/* Every conv, depthwise and fully-connected step takes a fast path: built\n"
          " * with -include of this header, the runtime links no scalar reference. */\n"
          "#ifndef REEF_NO_REFERENCE_KERNELS\n#define REEF_NO_REFERENCE_KERNELS 1\n#endif\n\n",
          e->fp);
}

/* Float or int32 I/O only: the element types, so callers can size their
 * buffers (int8 models keep the header they always had). */
static void put_io_types(emitter *e, const reef_lowered_model *m)
{
    if (!has_wide_io(m)) return;
    fprintf(e->fp,
            "/* Element types of the input and output: float32 values are quantized by\n"
            " * the model's own QUANTIZE / DEQUANTIZE steps (TFLite's arithmetic); an\n"
            " * int32 output holds indices (ARG_MAX). */\n"
            "#define %s_INPUT_TYPE %s\n#define %s_OUTPUT_TYPE %s\n\n",
            e->upper, c_type(m->input_type), e->upper, c_type(m->output_type));
}

/* Whether step 0 is a 2x2 average pool of stride 2, no padding, over the
 * whole of a 2-channel int8 input of even height and width (fish-nas-2ch
 * and its 64x64 variant): a temporal harness then writes the pooled tensor
 * itself (reef_temporal_step_pool2) and runs the steps after it. */
static int pool2_first(const reef_lowered_model *m)
{
    if (m->nsteps < 2 || m->steps[0].kind != REEF_STEP_AVGPOOL || m->input_type != REEF_INT8) return 0;
    const reef_pool_step_args *a = &m->steps[0].args.avgpool;
    const reef_dims *in = &a->input_dims, *out = &a->output_dims;
    return a->io.input_at == m->input_at && a->filter.h == 2 && a->filter.w == 2 && a->params.stride.h == 2 &&
           a->params.stride.w == 2 && a->params.padding.h == 0 && a->params.padding.w == 0 && in->n == 1 &&
           in->c == 2 && out->c == 2 && in->h == 2 * out->h && in->w == 2 * out->w && out->n == 1 &&
           (int64_t)in->h * in->w * in->c == m->input_size;
}

/* Step 0 of a pool2_first model written over its input (lower_model.c): a
 * temporal harness can then read each raw frame at step 0's output and
 * step it there in place (reef_temporal_step_pool2). */
static int pool2_in_place(const reef_lowered_model *m)
{
    return pool2_first(m) && m->steps[0].args.avgpool.io.output_at == m->steps[0].args.avgpool.io.input_at;
}

/* The arena such a harness needs: the raw frame (one byte a pixel, half the
 * 2-channel input) at step 0's output, and every buffer of the steps after
 * step 0, which never runs there (r64-c8e2: 10,240 -> 7,520 B). */
static uint32_t pool2_arena_size(const reef_lowered_model *m)
{
    const reef_step_io *io0 = reef_lowered_step_io(&m->steps[0]);
    uint32_t top = io0->output_at + (uint32_t)(m->input_size / 2);
    for (int k = 1; k < m->nsteps; k++) {
        const reef_lowered_step *s = &m->steps[k];
        const reef_step_io *io = reef_lowered_step_io(s);
        uint32_t end[4] = {0, 0, 0, io->scratch_size ? io->scratch_at + io->scratch_size : 0};
        if (s->input_tensors[0] >= 0) end[0] = io->input_at + m->tensor_bytes[s->input_tensors[0]];
        if (s->input_tensors[1] >= 0) end[1] = io->input2_at + m->tensor_bytes[s->input_tensors[1]];
        end[2] = io->output_at + m->tensor_bytes[s->output_tensor];
        for (int j = 0; j < 4; j++) top = end[j] > top ? end[j] : top;
    }
    return (top + 7u) & ~7u;
}

static void put_pool2_first(emitter *e, const reef_lowered_model *m)
{
    if (!pool2_first(m)) return;
    const reef_pool_step_args *a = &m->steps[0].args.avgpool;
    fprintf(e->fp,
            "/* Step 0 is a 2x2 average pool of the whole input: a temporal harness\n"
            " * writes its output itself (reef_temporal_step_pool2) and runs the rest. */\n"
            "#define REEF_MODEL_POOL2_FIRST 1\n"
            "#define REEF_MODEL_POOL2_WIDTH %" PRId32 "\n"
            "#define REEF_MODEL_POOL2_MIN (%" PRId32 ")\n#define REEF_MODEL_POOL2_MAX (%" PRId32 ")\n"
            "#define REEF_MODEL_POOL2_OUTPUT() ((int8_t *)(%s_arena + %" PRIu32 "u))\n"
            "#define REEF_MODEL_INVOKE_AFTER_POOL2() reef_run_steps(%s_steps, 1, %s_STEP_COUNT - 1, %s_arena)\n",
            a->input_dims.w, a->params.activation.min, a->params.activation.max, e->name, a->io.output_at,
            e->name, e->upper, e->name);
    if (pool2_in_place(m))
        fprintf(e->fp,
                "/* Step 0 runs over its input: a temporal harness reads each frame at\n"
                " * REEF_MODEL_POOL2_OUTPUT() and steps it there in place, in an arena of\n"
                " * %s_ARENA_AFTER_POOL2 bytes (%s.c). */\n"
                "#define REEF_MODEL_POOL2_IN_PLACE 1\n",
                e->upper, e->name);
}

static void put_header(emitter *e, const void *model, const char *source)
{
    const reef_lowered_model *m = model;
    FILE *fp = e->fp;
    const char *u = e->upper;
    fprintf(fp, "/* %s.h: generated by `reef gen`%s%s. Do not edit.\n", e->name, source ? " from " : "",
            source ? source : "");
    fprintf(fp, " * Input ");
    emit_shape(fp, m->input_shape, m->input_rank);
    fprintf(fp, " %s, output ", type_word(m->input_type));
    emit_shape(fp, m->output_shape, m->output_rank);
    fprintf(fp,
            " %s; real = scale * (q - zero_point).\n"
            " * %d steps, %lld MACs, %zu bytes of constants, arena %zu bytes\n"
            " * (lower bound %zu). Link with the reef runtime (runtime/src/ *.c). */\n",
            type_word(m->output_type), m->nsteps, (long long)m->macs, m->weights_bytes, m->arena_size,
            m->arena_lower_bound);
    fprintf(fp, "#ifndef %s_H\n#define %s_H\n\n#include <stdint.h>\n\n", u, u);
    if (uses_quantize_ops(m)) fputs("#include \"reef/quantize.h\"\n", fp);
    fputs("#include \"reef/step.h\"\n\n", fp);
    put_kernel_paths(e, m);
    fprintf(fp, "#define %s_INPUT_SIZE %" PRId32 "\n#define %s_OUTPUT_SIZE %" PRId32 "\n", u, m->input_size,
            u, m->output_size);
    fprintf(fp, "#define %s_ARENA_SIZE %zu\n#define %s_STEP_COUNT %d\n", u, m->arena_size, u, m->nsteps);
    if (pool2_in_place(m)) fprintf(fp, "#define %s_ARENA_AFTER_POOL2 %" PRIu32 "\n", u, pool2_arena_size(m));
    fprintf(fp, "#define %s_INPUT_SCALE ", u), emit_float(fp, m->input_scale);
    fprintf(fp, "\n#define %s_INPUT_ZERO_POINT (%" PRId32 ")\n", u, m->input_zero_point);
    fprintf(fp, "#define %s_OUTPUT_SCALE ", u), emit_float(fp, m->output_scale);
    fprintf(fp, "\n#define %s_OUTPUT_ZERO_POINT (%" PRId32 ")\n\n", u, m->output_zero_point);
    put_io_types(e, m);
    fprintf(fp,
            "/* The step table and the arena, for callers that run steps themselves\n"
            " * (reef_run_steps(%s_steps, k, %s_STEP_COUNT - k, %s_arena) resumes at\n"
            " * step k). */\n"
            "extern const reef_step %s_steps[];\nextern uint8_t %s_arena[];\n\n",
            e->name, u, e->name, e->name, e->name);
    fprintf(fp,
            "/* The input and output tensors inside the arena: fill %s_input() before\n"
            " * every run (later steps reuse its bytes), read %s_output() after. */\n"
            "%s *%s_input(void);\n%s *%s_output(void);\n\n",
            e->name, e->name, c_type(m->input_type), e->name, c_type(m->output_type), e->name);
    fprintf(fp,
            "/* Copies in (%s_INPUT_SIZE values) into the arena unless it is NULL or\n"
            " * %s_input(), runs every step, and copies the result to out\n"
            " * (%s_OUTPUT_SIZE values) unless it is NULL. Returns 0 (REEF_OK), or\n"
            " * the failing kernel's status. Not reentrant: one static arena. */\n"
            "int %s_invoke(const %s *in, %s *out);\n\n",
            u, e->name, u, e->name, c_type(m->input_type), c_type(m->output_type));
    if (has_wide_io(m)) /* the harness moves bytes: sizes in bytes, buffers cast */
        fprintf(fp,
                "/* Generic names for a firmware harness built with -include %s.h: sizes\n"
                " * in bytes, the harness's byte buffers (8-byte aligned) cast. */\n"
                "#ifndef REEF_MODEL_INVOKE\n"
                "#define REEF_MODEL_INPUT_SIZE (%d * %s_INPUT_SIZE)\n#define REEF_MODEL_OUTPUT_SIZE (%d * %s_OUTPUT_SIZE)\n"
                "#define REEF_MODEL_ARENA_SIZE %s_ARENA_SIZE\n"
                "#define REEF_MODEL_INVOKE(in, out) %s_invoke((const %s *)(const void *)(in), (%s *)(void *)(out))\n"
                "#define REEF_MODEL_INPUT_BUFFER() ((int8_t *)(void *)%s_input())\n"
                "#define REEF_MODEL_OUTPUT_BUFFER() ((int8_t *)(void *)%s_output())\n"
                "#endif\n\n#endif\n",
                e->name, reef_lower_elem_size(m->input_type), u, reef_lower_elem_size(m->output_type), u, u, e->name,
                c_type(m->input_type), c_type(m->output_type), e->name, e->name);
    else {
        fprintf(fp,
                "/* Generic names for a firmware harness built with -include %s.h. */\n"
                "#ifndef REEF_MODEL_INVOKE\n"
                "#define REEF_MODEL_INPUT_SIZE %s_INPUT_SIZE\n#define REEF_MODEL_OUTPUT_SIZE %s_OUTPUT_SIZE\n"
                "#define REEF_MODEL_ARENA_SIZE %s_ARENA_SIZE\n"
                "#define REEF_MODEL_INVOKE(in, out) %s_invoke((in), (out))\n"
                "#define REEF_MODEL_INPUT_BUFFER() %s_input()\n#define REEF_MODEL_OUTPUT_BUFFER() %s_output()\n",
                e->name, u, u, u, e->name, e->name, e->name);
        put_pool2_first(e, m);
        fputs("#endif\n\n#endif\n", fp);
    }
}

static void put_source(emitter *e, const void *model, const char *source)
{
    const reef_lowered_model *m = model;
    FILE *fp = e->fp;
    fprintf(fp, "/* %s.c: generated by `reef gen`%s%s. Do not edit. */\n#include \"%s.h\"\n\n", e->name,
            source ? " from " : "", source ? source : "", e->name);
    fputs("/* Constants go to their own section so a memory report can count them;\n"
          " * the arena must be word aligned (int32 scratch, word loads). */\n",
          fp);
    emit_section_macros(fp);
    for (int k = 0; k < m->nsteps; k++) put_step(e, k, &m->steps[k]);
    fprintf(fp, "\nconst reef_step %s_steps[] = {\n", e->name);
    for (int k = 0; k < m->nsteps; k++)
        fprintf(fp, "    {%s, &%s_s%d_args},\n", kind_c[m->steps[k].kind].run, e->name, k);
    if (m->nsteps == 0) fputs("    {0, 0},\n", fp); /* C99 has no empty arrays */
    fputs("};\n\n", fp);
    if (pool2_in_place(m))
        fprintf(fp,
                "/* A temporal harness never runs step 0 (REEF_MODEL_POOL2_FIRST): it reads\n"
                " * each frame at step 0's output and runs the steps after it, whose\n"
                " * buffers end at %s_ARENA_AFTER_POOL2; there %s_invoke is not\n"
                " * available (the arena cannot hold the whole input). */\n"
                "#ifdef REEF_HARNESS_TEMPORAL\n#define %s_ARENA_BYTES %s_ARENA_AFTER_POOL2\n#else\n"
                "#define %s_ARENA_BYTES %s_ARENA_SIZE\n#endif\n",
                e->upper, e->name, e->upper, e->upper, e->upper, e->upper);
    else
        fprintf(fp, "#define %s_ARENA_BYTES (%s_ARENA_SIZE > 0 ? %s_ARENA_SIZE : 4)\n", e->upper, e->upper,
                e->upper);
    fprintf(fp, "uint8_t %s_arena[%s_ARENA_BYTES] REEF_ARENA_ALIGN;\n\n", e->name, e->upper);
    const char *in_t = c_type(m->input_type), *out_t = c_type(m->output_type);
    /* Through void *: float tensors sit at multiples of 4 in the aligned arena. */
    const char *via = has_wide_io(m) ? "(void *)" : "";
    fprintf(fp, "%s *%s_input(void) { return (%s *)%s(%s_arena + %" PRIu32 "u); }\n", in_t, e->name, in_t, via,
            e->name, m->input_at);
    fprintf(fp, "%s *%s_output(void) { return (%s *)%s(%s_arena + %" PRIu32 "u); }\n\n", out_t, e->name, out_t,
            via, e->name, m->output_at);
    fprintf(fp, "int %s_invoke(const %s *in, %s *out)\n{\n", e->name, in_t, out_t);
    if (pool2_in_place(m))
        fprintf(fp, "#ifdef REEF_HARNESS_TEMPORAL\n    if (%s_ARENA_BYTES < %s_ARENA_SIZE) return (int)REEF_UNSUPPORTED;\n#endif\n",
                e->upper, e->upper);
    if (strcmp(in_t, out_t))
        fprintf(fp, "    %s *x = %s_input();\n    %s *y = %s_output();\n", in_t, e->name, out_t, e->name);
    else
        fprintf(fp, "    %s *x = %s_input(), *y = %s_output();\n", in_t, e->name, e->name);
    fprintf(fp,
            "    int32_t i;\n"
            "    reef_status status;\n"
            "    if (in && in != x)\n        for (i = 0; i < %s_INPUT_SIZE; i++) x[i] = in[i];\n"
            "    status = reef_run_steps(%s_steps, 0, %s_STEP_COUNT, %s_arena);\n"
            "    if (status == REEF_OK && out && out != y)\n        for (i = 0; i < %s_OUTPUT_SIZE; i++) "
            "out[i] = y[i];\n"
            "    return (int)status;\n}\n",
            e->upper, e->name, e->upper, e->name, e->upper);
}

int reef_emit_c(const reef_lowered_model *m, const char *dir, const char *name, const char *source,
                reef_error *err)
{
    return emit_files(dir, name, put_header, put_source, m, source, err);
}
