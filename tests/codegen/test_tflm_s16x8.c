/* The 16x8 scheme (int16 activations, int8 weights, int64 bias):
 * FULLY_CONNECTED, ADD, CONV_2D and DEPTHWISE_CONV_2D against TFLite
 * Micro's reference kernels and against a reference written here.
 *
 *  - TFLite Micro: every case of data/tflm_s16x8_vectors.txt (see its
 *    header for the commit and flags) as a .tflite written with reef's
 *    writer, read back, lowered and run by the host interpreter; the first
 *    case of each op also as generated C on qemu-m4 (emulated Cortex-M4),
 *    ADD's (two FCs and the ADD) also compiled for the host. Cases cover per-tensor and per-channel weights, bias
 *    and none (biases of +-2^38), every fused activation, scales from 1e-6
 *    to 2, inputs saturating at both ends and outputs saturating at
 *    -32768 and 32767, batches, SAME/VALID, strides, dilations and depth
 *    multipliers. ADD's two operands come out of two 16x8 FCs whose
 *    weights pick one half of the input exactly (64 * 2^-6 = 1).
 *  - reference: random shapes (reductions past 256 terms, so the kernels'
 *    32-bit blocks are crossed), random multipliers over the whole shift
 *    range [-31, 7], against loop nests and a 64-bit requantization
 *    restated here from TFLite's definitions (plain floor division, no
 *    shifts of negative values, one accumulator).
 *  - float32 I/O: a conv case as float32 -> QUANTIZE (int16) -> CONV_2D ->
 *    DEQUANTIZE -> float32 (a converter's default 16x8 model), host and
 *    qemu-m4; QUANTIZE and DEQUANTIZE int16 against roundf and double.
 *  - TFLite's 32-bit path of CONV_2D and FULLY_CONNECTED (an int32 bias,
 *    or none with quantized_bias_type INT32): the FC32 and CONV32 cases
 *    of the vectors, and random cases whose int32 sums wrap.
 *  - refusals: an int32 bias on a depthwise conv, an int16 zero point, a
 *    shift outside [-31, 7], an int16 ADD whose output multiplier is not
 *    below 1, a broadcasting int16 ADD.
 * Skips (77) without the source tree; the qemu-m4 part without the ARM
 * tools or under the sanitizers. */
#include "testing.h"
#include "tflm_harness.h"

#include <math.h>

#include "reef/quantize.h"
#include "reef/s16x8.h"
#include "util/rng.h"

/* ---- reading the vectors ---------------------------------------------- */

#define MAXC 64

typedef struct case16 {
    char op[8];
    int32_t n, h, w, ic, oc, kh, kw, oh, ow, sh, sw, dh, dw, same, act, dm; /* CONV, DW */
    int32_t rows, nin, nout, per_channel, count;                             /* FC, ADD */
    float in_scale, out_scale, in2_scale;
    float fs[MAXC];
    int nfs, has_bias, bias32; /* bias32: FC32 / CONV32, TFLite's 32-bit path */
    int64_t bias[MAXC];
    int8_t *filter;
    int16_t *x, *x2, *y;
    int32_t nx, ny, nfilter;
} case16;

static int16_t *hex16(const char *hex, int32_t n)
{
    if (strlen(hex) != 4 * (size_t)n) return NULL;
    int16_t *v = malloc((size_t)(n ? n : 1) * 2);
    assert_non_null(v);
    for (int32_t i = 0; i < n; i++) {
        const char *p = hex + 4 * i;
        v[i] = (int16_t)(uint16_t)((hex_value(p[0]) * 16 + hex_value(p[1])) |
                                   (hex_value(p[2]) * 16 + hex_value(p[3])) << 8);
    }
    return v;
}

static int parse_floats(const char *s, float *v)
{
    int n = 0;
    for (const char *p = s; *p && n < MAXC; n++) {
        char *end;
        v[n] = strtof(p, &end);
        p = *end == ',' ? end + 1 : end;
    }
    return n;
}

static int parse_biases(const char *s, int64_t *v)
{
    int n = 0;
    if (!strcmp(s, "-")) return 0;
    for (const char *p = s; *p && n < MAXC; n++) {
        char *end;
        v[n] = strtoll(p, &end, 10);
        p = *end == ',' ? end + 1 : end;
    }
    return n;
}

static int ints(char **save, const char *path, int k, int32_t *v, int n)
{
    for (int i = 0; i < n; i++) v[i] = (int32_t)strtol(next_token(save, path, k), NULL, 10);
    return n;
}

/* One line into c (arrays malloc'd); fails on a malformed line. */
static void parse_case(char *line, case16 *c, const char *path, int k)
{
    char *save;
    memset(c, 0, sizeof *c);
    snprintf(c->op, sizeof c->op, "%s", strtok_r(line, " \n", &save));
    c->bias32 = !strcmp(c->op, "FC32") || !strcmp(c->op, "CONV32");
    if (!strcmp(c->op, "FC") || !strcmp(c->op, "FC32")) {
        int32_t v[5];
        ints(&save, path, k, v, 5);
        c->rows = v[0], c->nin = v[1], c->nout = v[2], c->per_channel = v[3], c->act = v[4];
        c->nx = c->rows * c->nin, c->ny = c->rows * c->nout, c->nfilter = c->nout * c->nin;
    } else if (!strcmp(c->op, "ADD")) {
        int32_t v[2];
        ints(&save, path, k, v, 2);
        c->count = v[0], c->act = v[1];
        c->nx = c->ny = c->count;
        c->in_scale = strtof(next_token(&save, path, k), NULL);
        c->in2_scale = strtof(next_token(&save, path, k), NULL);
        c->out_scale = strtof(next_token(&save, path, k), NULL);
        c->x = hex16(next_token(&save, path, k), c->nx);
        c->x2 = hex16(next_token(&save, path, k), c->nx);
        c->y = hex16(next_token(&save, path, k), c->ny);
        if (!c->x || !c->x2 || !c->y) fail_msg("%s: case %d: bad hex", path, k);
        return;
    } else if (!strcmp(c->op, "CONV") || !strcmp(c->op, "CONV32") || !strcmp(c->op, "DW")) {
        int32_t v[17];
        ints(&save, path, k, v, 17);
        c->n = v[0], c->h = v[1], c->w = v[2], c->ic = v[3], c->oc = v[4], c->kh = v[5], c->kw = v[6];
        c->oh = v[7], c->ow = v[8], c->sh = v[9], c->sw = v[10], c->dh = v[11], c->dw = v[12];
        c->same = v[13], c->act = v[14], c->dm = v[15]; /* v[16]: TFLite Micro's padding, recomputed by reef */
        c->nx = c->n * c->h * c->w * c->ic, c->ny = c->n * c->oh * c->ow * c->oc;
        c->nfilter = c->oc * c->kh * c->kw * (strcmp(c->op, "DW") ? c->ic : 1);
    } else {
        fail_msg("%s: case %d: unknown op %s", path, k, c->op);
    }
    c->in_scale = strtof(next_token(&save, path, k), NULL);
    c->out_scale = strtof(next_token(&save, path, k), NULL);
    c->nfs = parse_floats(next_token(&save, path, k), c->fs);
    c->has_bias = parse_biases(next_token(&save, path, k), c->bias) > 0;
    c->filter = hex_bytes(next_token(&save, path, k), (size_t)c->nfilter);
    c->x = hex16(next_token(&save, path, k), c->nx);
    c->y = hex16(next_token(&save, path, k), c->ny);
    if (!c->filter || !c->x || !c->y) fail_msg("%s: case %d: bad hex", path, k);
}

static void case_free(case16 *c)
{
    free(c->filter), free(c->x), free(c->x2), free(c->y);
}

/* ---- graphs ------------------------------------------------------------- */

static int32_t t16(reef_graph *g, const char *name, int rank, const int32_t *shape, float scale)
{
    reef_error err;
    int64_t zp = 0;
    int32_t t = reef_graph_add_tensor(g, name, REEF_INT16, rank, shape, &err);
    assert_true(t >= 0);
    assert_int_equal(reef_graph_set_quant(g, t, 1, &scale, &zp, 0, &err), 0);
    return t;
}

static int32_t weights(reef_graph *g, const char *name, int rank, const int32_t *shape, const int8_t *w, size_t n,
                       const float *scales, int nscales, int axis)
{
    reef_error err;
    int64_t zeros[MAXC] = {0};
    int32_t t = reef_graph_add_tensor(g, name, REEF_INT8, rank, shape, &err);
    assert_true(t >= 0);
    assert_int_equal(reef_graph_set_quant(g, t, nscales, scales, zeros, axis, &err), 0);
    assert_int_equal(reef_graph_set_data(g, t, w, n, &err), 0);
    return t;
}

/* The bias as int64 or (is32) int32 data. */
static int32_t bias_tensor(reef_graph *g, const int64_t *b, int32_t n, int is32)
{
    reef_error err;
    int32_t t = reef_graph_add_tensor(g, "bias", is32 ? REEF_INT32 : REEF_INT64, 1, &n, &err);
    assert_true(t >= 0);
    if (is32) {
        int32_t v[MAXC];
        for (int32_t i = 0; i < n; i++) v[i] = (int32_t)b[i];
        assert_int_equal(reef_graph_set_data(g, t, v, (size_t)n * 4, &err), 0);
    } else {
        assert_int_equal(reef_graph_set_data(g, t, b, (size_t)n * 8, &err), 0);
    }
    return t;
}

/* x -> FC/CONV/DW -> y for one case; float_io: the model's input and
 * output are float32, through QUANTIZE (float32 -> int16) before and
 * DEQUANTIZE (int16 -> float32) after, as TensorFlow's converter writes
 * a 16x8 model by default. */
static void op_graph_io(reef_graph *g, const case16 *c, int float_io)
{
    reef_error err;
    reef_op_options o;
    reef_op_options_init(&o);
    o.activation = c->act;
    assert_int_equal(reef_graph_init(g, c->op, &err), 0);
    int32_t ins[3], x, y, op;
    if (c->bias32 && !c->has_bias) o.quantized_bias_type = REEF_INT32; /* no bias, the 32-bit path */
    if (!strncmp(c->op, "FC", 2)) {
        int32_t xs[2] = {c->rows, c->nin}, ys[2] = {c->rows, c->nout}, fs[2] = {c->nout, c->nin};
        x = t16(g, "x", 2, xs, c->in_scale), y = t16(g, "y", 2, ys, c->out_scale);
        ins[1] = weights(g, "w", 2, fs, c->filter, (size_t)c->nfilter, c->fs, c->nfs, 0);
        op = REEF_OP_FULLY_CONNECTED;
    } else {
        const int dw = !strcmp(c->op, "DW");
        int32_t xs[4] = {c->n, c->h, c->w, c->ic}, ys[4] = {c->n, c->oh, c->ow, c->oc};
        int32_t fs[4] = {dw ? 1 : c->oc, c->kh, c->kw, dw ? c->oc : c->ic};
        x = t16(g, "x", 4, xs, c->in_scale), y = t16(g, "y", 4, ys, c->out_scale);
        ins[1] = weights(g, "w", 4, fs, c->filter, (size_t)c->nfilter, c->fs, c->nfs, dw ? 3 : 0);
        o.padding = c->same ? REEF_PAD_SAME : REEF_PAD_VALID;
        o.stride_h = c->sh, o.stride_w = c->sw, o.dilation_h = c->dh, o.dilation_w = c->dw, o.depth_multiplier = c->dm;
        op = dw ? REEF_OP_DEPTHWISE_CONV_2D : REEF_OP_CONV_2D;
    }
    ins[0] = x;
    if (c->has_bias) ins[2] = bias_tensor(g, c->bias, c->nout ? c->nout : c->oc, c->bias32);
    if (!float_io) {
        assert_true(reef_graph_add_op(g, op, ins, c->has_bias ? 3 : 2, &y, 1, &o, &err) >= 0);
        assert_int_equal(reef_graph_set_io(g, &x, 1, &y, 1, &err), 0);
        return;
    }
    int32_t xshape[4], yshape[4];
    const int xrank = g->tensors[x].rank, yrank = g->tensors[y].rank;
    memcpy(xshape, g->tensors[x].shape, sizeof(int32_t) * (size_t)xrank);
    memcpy(yshape, g->tensors[y].shape, sizeof(int32_t) * (size_t)yrank);
    int32_t xf = reef_graph_add_tensor(g, "xf", REEF_FLOAT32, xrank, xshape, &err);
    int32_t yf = reef_graph_add_tensor(g, "yf", REEF_FLOAT32, yrank, yshape, &err);
    assert_true(xf >= 0 && yf >= 0);
    reef_op_options q;
    reef_op_options_init(&q);
    assert_true(reef_graph_add_op(g, REEF_OP_QUANTIZE, &xf, 1, &x, 1, &q, &err) >= 0);
    assert_true(reef_graph_add_op(g, op, ins, c->has_bias ? 3 : 2, &y, 1, &o, &err) >= 0);
    assert_true(reef_graph_add_op(g, REEF_OP_DEQUANTIZE, &y, 1, &yf, 1, &q, &err) >= 0);
    assert_int_equal(reef_graph_set_io(g, &xf, 1, &yf, 1, &err), 0);
}

static void op_graph(reef_graph *g, const case16 *c)
{
    op_graph_io(g, c, 0);
}

/* The case with float32 input and output: x * in_scale quantizes back to
 * x exactly (|x| < 2^15: the float error is below 0.01), so the model
 * must give out_scale * y, TFLite Micro's output dequantized as its
 * DEQUANTIZE does. Returns 1 when qemu-m4 ran it. */
static int check_float_io(const case16 *c, const char *name)
{
    reef_graph g, back;
    reef_lowered_model m;
    op_graph_io(&g, c, 1);
    round_trip_lower(&g, &back, &m, name, 0);
    assert_int_equal(m.input_type, REEF_FLOAT32);
    assert_int_equal(m.output_type, REEF_FLOAT32);
    float *in = malloc((size_t)c->nx * 4), *want = malloc((size_t)c->ny * 4), *got = malloc((size_t)c->ny * 4);
    uint8_t *arena = malloc(m.arena_size ? m.arena_size : 4);
    assert_true(in && want && got && arena);
    for (int32_t i = 0; i < c->nx; i++) in[i] = (float)c->x[i] * c->in_scale;
    for (int32_t i = 0; i < c->ny; i++) want[i] = c->out_scale * (float)c->y[i];
    assert_int_equal(reef_lowered_invoke_bytes(&m, arena, in, got), 0);
    assert_memory_equal(got, want, (size_t)c->ny * 4);
    int emulated = run_targets(&m, name, (const int8_t *)(const void *)in, 1, (size_t)m.input_bytes,
                               (const int8_t *)(const void *)want, 1);
    free(in), free(want), free(got), free(arena);
    reef_lowered_free(&m), reef_graph_free(&back), reef_graph_free(&g);
    return emulated;
}

/* x = in1 ++ in2 (scale 1) -> FC_a -> a (scale s1), FC_b -> b (scale s2);
 * ADD(a, b) -> y. FC_a's weights are 64 on (i, i), FC_b's 64 on
 * (i, count + i), filter scales s1/64 and s2/64: both requantize by
 * exactly 2^-6, so a = in1 and b = in2 bit for bit. */
static void add_graph(reef_graph *g, const case16 *c, int8_t *wa, int8_t *wb)
{
    reef_error err;
    reef_op_options o;
    const int32_t n = c->count;
    int32_t xs[2] = {1, 2 * n}, hs[2] = {1, n}, fs[2] = {n, 2 * n};
    memset(wa, 0, (size_t)2 * n * n), memset(wb, 0, (size_t)2 * n * n);
    for (int32_t i = 0; i < n; i++) wa[i * 2 * n + i] = 64, wb[i * 2 * n + n + i] = 64;
    const float sa = c->in_scale / 64.0f, sb = c->in2_scale / 64.0f;
    assert_int_equal(reef_graph_init(g, "add16", &err), 0);
    int32_t x = t16(g, "x", 2, xs, 1.0f), a = t16(g, "a", 2, hs, c->in_scale), b = t16(g, "b", 2, hs, c->in2_scale);
    int32_t y = t16(g, "y", 2, hs, c->out_scale);
    int32_t fa[2] = {x, weights(g, "wa", 2, fs, wa, (size_t)2 * n * n, &sa, 1, 0)};
    int32_t fb[2] = {x, weights(g, "wb", 2, fs, wb, (size_t)2 * n * n, &sb, 1, 0)};
    reef_op_options_init(&o);
    assert_true(reef_graph_add_op(g, REEF_OP_FULLY_CONNECTED, fa, 2, &a, 1, &o, &err) >= 0);
    assert_true(reef_graph_add_op(g, REEF_OP_FULLY_CONNECTED, fb, 2, &b, 1, &o, &err) >= 0);
    o.activation = c->act;
    int32_t ab[2] = {a, b};
    assert_true(reef_graph_add_op(g, REEF_OP_ADD, ab, 2, &y, 1, &o, &err) >= 0);
    assert_int_equal(reef_graph_set_io(g, &x, 1, &y, 1, &err), 0);
}

/* ---- TFLite Micro's vectors --------------------------------------------- */

static void test_match_tflm(void **state)
{
    (void)state;
    char path[1024];
    static char line[1 << 17];
    FILE *fp = open_vectors("tflm_s16x8_vectors.txt", path, sizeof path);
    int k = 0, per_op[6] = {0}, emulated[6] = {0}, saturated = 0, emulated_float = 0;
    static const char *ops[6] = {"FC", "ADD", "CONV", "DW", "FC32", "CONV32"};
    while (fgets(line, sizeof line, fp)) {
        if (line[0] == '#' || line[0] == '\n') continue;
        case16 c;
        parse_case(line, &c, path, ++k);
        int which = 0;
        while (which < 6 && strcmp(ops[which], c.op)) which++;
        reef_graph g, back;
        reef_lowered_model m;
        int8_t *wa = NULL, *wb = NULL;
        int16_t *in = c.x;
        if (which == 1) {
            wa = malloc((size_t)2 * c.count * c.count), wb = malloc((size_t)2 * c.count * c.count);
            in = malloc((size_t)4 * c.count);
            assert_true(wa && wb && in);
            memcpy(in, c.x, (size_t)2 * c.count), memcpy(in + c.count, c.x2, (size_t)2 * c.count);
            add_graph(&g, &c, wa, wb);
        } else {
            op_graph(&g, &c);
        }
        round_trip_lower(&g, &back, &m, c.op, k);
        assert_int_equal(m.input_type, REEF_INT16);
        assert_int_equal(m.output_bytes, 2 * c.ny);
        int16_t *got = calloc((size_t)c.ny, 2);
        uint8_t *arena = malloc(m.arena_size ? m.arena_size : 4);
        assert_true(got && arena);
        assert_int_equal(reef_lowered_invoke_bytes(&m, arena, in, got), 0);
        for (int32_t i = 0; i < c.ny; i++) {
            if (got[i] != c.y[i])
                fail_msg("%s case %d (%s): output %d is %d, TFLite Micro %d", path, k, c.op, i, got[i], c.y[i]);
            saturated += c.y[i] == 32767 || c.y[i] == -32768;
        }
        if (which == 2 && per_op[2] == 1) emulated_float = check_float_io(&c, "conv16_float_io");
        static const char *names[6] = {"fc16", "add16", "conv16", "dw16", "fc16_acc32", "conv16_acc32"};
        if (!per_op[which]++ && which != 4)
            emulated[which] = run_targets(&m, names[which],
                                          (const int8_t *)in, 1, (size_t)m.input_bytes, (const int8_t *)c.y, which == 1);
        free(got), free(arena), free(wa), free(wb);
        if (in != c.x) free(in);
        reef_lowered_free(&m), reef_graph_free(&back), reef_graph_free(&g);
        case_free(&c);
    }
    fclose(fp);
    for (int i = 0; i < 6; i++) assert_true(per_op[i] >= (i < 4 ? 30 : 15));
    assert_true(saturated > 100);
    printf("  %d TFLite Micro 16x8 cases bit-exact (FC %d, ADD %d, CONV %d, DW %d, int32 bias FC %d, CONV %d; %d "
           "outputs saturated), qemu-m4 %s; float32 I/O (QUANTIZE/DEQUANTIZE int16) %s\n",
           k, per_op[0], per_op[1], per_op[2], per_op[3], per_op[4], per_op[5], saturated,
           emulated[0] && emulated[1] && emulated[2] && emulated[3] && emulated[5] ? "checked" : "skipped",
           emulated_float ? "also on qemu-m4 and the host C" : "on the interpreter");
}

/* ---- the reference written here ---------------------------------------- */

/* floor(a / 2^t), t in [1, 62], without shifting a negative value */
static int64_t floor_div_pow2(int64_t a, int t)
{
    const int64_t d = (int64_t)1 << t;
    int64_t q = a / d;
    if (a % d != 0 && a < 0) q--;
    return q;
}

/* TFLite's MultiplyByQuantizedMultiplier(int64_t x, ...), without
 * TFLITE_SINGLE_ROUNDING: the multiplier rounded to 15 bits, then
 * floor((x * m15 + 2^(t-1)) / 2^t) with t = 15 - shift, kept as int32. */
static int32_t ref_requant64(int64_t x, int32_t multiplier, int32_t shift)
{
    const int64_t m15 = multiplier < 0x7FFF0000 ? ((int64_t)multiplier + 32768) / 65536 : 0x7FFF;
    const int t = 15 - shift;
    const int64_t r = floor_div_pow2(x * m15 + ((int64_t)1 << (t - 1)), t);
    return (int32_t)(uint32_t)(uint64_t)r;
}

static int16_t ref_clamp(int32_t v, reef_activation a)
{
    return (int16_t)(v < a.min ? a.min : v > a.max ? a.max : v);
}

/* The double-rounding int32 MultiplyByQuantizedMultiplier, as rounding
 * divisions: round-half-up of x * m / 2^31, then round-half-away by 2^r. */
static int32_t ref_requant32(int32_t x, int32_t m, int32_t shift)
{
    const int left = shift > 0 ? shift : 0, right = shift > 0 ? 0 : -shift;
    const int64_t xs = (int64_t)x * ((int64_t)1 << left);
    const int64_t high = floor_div_pow2(xs * m + ((int64_t)1 << 30), 31);
    if (right == 0) return (int32_t)high;
    const int64_t d = (int64_t)1 << right, mag = high < 0 ? -high : high;
    const int64_t q = (mag + d / 2) / d; /* ties away from zero */
    return (int32_t)(high < 0 ? -q : q);
}

typedef struct rand_quant {
    int32_t mult[MAXC], shift[MAXC];
} rand_quant;

static void random_quant(reef_rng *r, rand_quant *q, int n)
{
    for (int i = 0; i < n; i++) {
        q->mult[i] = reef_rng_below(r, 8) == 0 ? 0x7FFF8000 + (int32_t)reef_rng_below(r, 0x7FFF)
                                                : (int32_t)(0x40000000u + reef_rng_below(r, 0x40000000u));
        q->shift[i] = (int32_t)reef_rng_below(r, 39) - 31; /* [-31, 7] */
    }
}

static reef_activation random_act(reef_rng *r)
{
    int32_t a = (int32_t)reef_rng_below(r, 65536) - 32768, b = (int32_t)reef_rng_below(r, 65536) - 32768;
    if (reef_rng_below(r, 2)) return (reef_activation){-32768, 32767};
    return (reef_activation){a < b ? a : b, a < b ? b : a};
}

static int16_t random16(reef_rng *r, int mode)
{
    if (mode == 0) return (int16_t)(reef_rng_below(r, 2) ? 32767 : -32768);
    if (mode == 1) return (int16_t)((int32_t)reef_rng_below(r, 256) - 128);
    return (int16_t)((int32_t)reef_rng_below(r, 65536) - 32768);
}

static void test_kernels_random(void **state)
{
    (void)state;
    reef_rng r;
    reef_rng_seed(&r, 1608);
    int checked = 0;
    for (int trial = 0; trial < 300; trial++) {
        const int kind = trial % 3, mode = (int)reef_rng_below(&r, 3);
        const int32_t n = 1 + (int32_t)reef_rng_below(&r, 2), h = 1 + (int32_t)reef_rng_below(&r, 5),
                      w = 1 + (int32_t)reef_rng_below(&r, 5);
        const int32_t ic = kind == 0 ? 1 + (int32_t)reef_rng_below(&r, trial % 7 == 0 ? 700 : 40)
                                     : 1 + (int32_t)reef_rng_below(&r, trial % 7 == 1 ? 300 : 6);
        const int32_t dm = kind == 2 ? 1 + (int32_t)reef_rng_below(&r, 3) : 1;
        const int32_t oc = kind == 2 ? ic * dm : 1 + (int32_t)reef_rng_below(&r, 6);
        if (oc > MAXC) continue;
        const int32_t kh = 1 + (int32_t)reef_rng_below(&r, kind == 2 && trial % 5 == 0 ? 18 : 3),
                      kw = 1 + (int32_t)reef_rng_below(&r, kind == 2 && trial % 5 == 0 ? 18 : 3);
        const reef_hw stride = {1 + (int32_t)reef_rng_below(&r, 2), 1 + (int32_t)reef_rng_below(&r, 2)};
        const reef_hw dil = {1 + (int32_t)reef_rng_below(&r, 2), 1 + (int32_t)reef_rng_below(&r, 2)};
        const reef_hw pad = {(int32_t)reef_rng_below(&r, 2), (int32_t)reef_rng_below(&r, 2)};
        const int32_t oh = kind == 0 ? 1 : (h + 2 * pad.h - dil.h * (kh - 1) - 1) / stride.h + 1;
        const int32_t ow = kind == 0 ? 1 : (w + 2 * pad.w - dil.w * (kw - 1) - 1) / stride.w + 1;
        if (oh < 1 || ow < 1) continue;
        rand_quant q;
        random_quant(&r, &q, oc);
        const reef_per_channel_quant quant = {q.mult, q.shift};
        const reef_activation act = random_act(&r);
        int64_t bias[MAXC];
        for (int i = 0; i < oc; i++)
            bias[i] = ((int64_t)reef_rng_u32(&r) << 8) - ((int64_t)1 << 39); /* +-2^39 */
        const int has_bias = reef_rng_below(&r, 4) != 0;
        const reef_s16_bias b64 = {has_bias ? bias : NULL, NULL, 0};
        const int32_t in_count = kind == 0 ? n * ic : n * h * w * ic;
        const int32_t out_count = kind == 0 ? n * oc : n * oh * ow * oc;
        const int32_t f_count = kind == 0 ? oc * ic : kind == 1 ? oc * kh * kw * ic : kh * kw * oc;
        int16_t *x = malloc((size_t)in_count * 2), *got = malloc((size_t)out_count * 2),
                *want = malloc((size_t)out_count * 2);
        int8_t *f = malloc((size_t)f_count);
        assert_true(x && got && want && f);
        for (int32_t i = 0; i < in_count; i++) x[i] = random16(&r, mode);
        for (int32_t i = 0; i < f_count; i++) f[i] = (int8_t)((int32_t)reef_rng_below(&r, 255) - 127);
        if (kind == 0) {
            const reef_fc_params p = {0, 0, 0, act, 0};
            const reef_dims id = {n, 1, 1, ic}, fd = {oc, 1, 1, ic}, od = {n, 1, 1, oc};
            assert_int_equal(reef_fc_s16x8(&p, &quant, &id, x, &fd, f, &b64, &od, got), REEF_OK);
            for (int32_t b = 0; b < n; b++)
                for (int32_t o = 0; o < oc; o++) {
                    int64_t acc = has_bias ? bias[o] : 0;
                    for (int32_t i = 0; i < ic; i++) acc += (int64_t)f[o * ic + i] * x[b * ic + i];
                    want[b * oc + o] = ref_clamp(ref_requant64(acc, q.mult[o], q.shift[o]), act);
                }
        } else {
            const reef_dims id = {n, h, w, ic}, od = {n, oh, ow, oc};
            const reef_dims fd = kind == 1 ? (reef_dims){oc, kh, kw, ic} : (reef_dims){1, kh, kw, oc};
            if (kind == 1) {
                const reef_conv_params p = {0, 0, stride, pad, dil, act, 0};
                assert_int_equal(reef_conv_s16x8(&p, &quant, &id, x, &fd, f, &b64, &od, got),
                                 REEF_OK);
            } else {
                const reef_dw_conv_params p = {0, 0, dm, stride, pad, dil, act};
                const reef_s16_bias acc32 = {NULL, NULL, 1}; /* depthwise has no 32-bit path */
                assert_int_equal(reef_dw_conv_s16x8(&p, &quant, &id, x, &fd, f, &acc32, &od, got),
                                 REEF_ARG_ERROR);
                assert_int_equal(reef_dw_conv_s16x8(&p, &quant, &id, x, &fd, f, &b64, &od, got),
                                 REEF_OK);
            }
            for (int32_t b = 0; b < n; b++)
                for (int32_t y = 0; y < oh; y++)
                    for (int32_t xo = 0; xo < ow; xo++)
                        for (int32_t o = 0; o < oc; o++) {
                            int64_t acc = has_bias ? bias[o] : 0;
                            for (int32_t ky = 0; ky < kh; ky++)
                                for (int32_t kx = 0; kx < kw; kx++) {
                                    const int32_t iy = y * stride.h - pad.h + ky * dil.h,
                                                  ix = xo * stride.w - pad.w + kx * dil.w;
                                    if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
                                    if (kind == 1)
                                        for (int32_t i = 0; i < ic; i++)
                                            acc += (int64_t)f[((o * kh + ky) * kw + kx) * ic + i] *
                                                   x[((b * h + iy) * w + ix) * ic + i];
                                    else
                                        acc += (int64_t)f[(ky * kw + kx) * oc + o] *
                                               x[((b * h + iy) * w + ix) * ic + o / dm];
                                }
                            want[((b * oh + y) * ow + xo) * oc + o] =
                                ref_clamp(ref_requant64(acc, q.mult[o], q.shift[o]), act);
                        }
        }
        assert_memory_equal(got, want, (size_t)out_count * 2);
        checked += out_count;
        free(x), free(got), free(want), free(f);
    }
    /* the 32-bit path (int32 bias): TFLite's wrapping int32 accumulator
     * and int32 requantization, right shifts */
    for (int trial = 0; trial < 100; trial++) {
        const int conv = trial % 2, mode = (int)reef_rng_below(&r, 3);
        const int32_t h = 1 + (int32_t)reef_rng_below(&r, 4), w = 1 + (int32_t)reef_rng_below(&r, 4);
        const int32_t ic = 1 + (int32_t)reef_rng_below(&r, conv ? 8 : 200), oc = 1 + (int32_t)reef_rng_below(&r, 6);
        const int32_t k = conv ? 1 + (int32_t)reef_rng_below(&r, 3) : 1, oh = conv ? h : 1, ow = conv ? w : 1;
        const reef_hw one = {1, 1}, pad = {conv ? (k - 1) / 2 : 0, conv ? (k - 1) / 2 : 0};
        int32_t mult[MAXC], shift[MAXC], b32[MAXC];
        for (int i = 0; i < oc; i++) {
            mult[i] = (int32_t)(0x40000000u + reef_rng_below(&r, 0x40000000u));
            shift[i] = -(int32_t)reef_rng_below(&r, 32);
            b32[i] = (int32_t)reef_rng_u32(&r); /* any int32: the sum wraps */
        }
        const reef_per_channel_quant quant = {mult, shift};
        const reef_activation act = random_act(&r);
        const int has_bias = trial % 5 != 0;
        const reef_s16_bias bias32 = {NULL, has_bias ? b32 : NULL, 1};
        const int32_t nx = conv ? h * w * ic : ic, ny = oh * ow * oc, nf = oc * k * k * ic;
        int16_t *x = malloc((size_t)nx * 2), *got = malloc((size_t)ny * 2), *want = malloc((size_t)ny * 2);
        int8_t *f = malloc((size_t)nf);
        assert_true(x && got && want && f);
        for (int32_t i = 0; i < nx; i++) x[i] = random16(&r, mode);
        for (int32_t i = 0; i < nf; i++) f[i] = (int8_t)((int32_t)reef_rng_below(&r, 255) - 127);
        if (conv) {
            const reef_conv_params p = {0, 0, one, pad, one, act, 0};
            const reef_dims id = {1, h, w, ic}, fd = {oc, k, k, ic}, od = {1, oh, ow, oc};
            assert_int_equal(reef_conv_s16x8(&p, &quant, &id, x, &fd, f, &bias32, &od, got),
                             REEF_OK);
        } else {
            const reef_fc_params p = {0, 0, 0, act, 0};
            const reef_dims id = {1, 1, 1, ic}, fd = {oc, 1, 1, ic}, od = {1, 1, 1, oc};
            assert_int_equal(reef_fc_s16x8(&p, &quant, &id, x, &fd, f, &bias32, &od, got), REEF_OK);
        }
        for (int32_t y = 0; y < oh; y++)
            for (int32_t xo = 0; xo < ow; xo++)
                for (int32_t o = 0; o < oc; o++) {
                    uint32_t acc = has_bias ? (uint32_t)b32[o] : 0; /* TFLite's int32, wrapping */
                    for (int32_t ky = 0; ky < k; ky++)
                        for (int32_t kx = 0; kx < k; kx++) {
                            const int32_t iy = y - pad.h + ky, ix = xo - pad.w + kx;
                            if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
                            for (int32_t i = 0; i < ic; i++)
                                acc += (uint32_t)((int32_t)f[((o * k + ky) * k + kx) * ic + i] *
                                                  x[(iy * w + ix) * ic + i]);
                        }
                    want[(y * ow + xo) * oc + o] = ref_clamp(ref_requant32((int32_t)acc, mult[o], shift[o]), act);
                }
        assert_memory_equal(got, want, (size_t)ny * 2);
        checked += ny;
        free(x), free(got), free(want), free(f);
    }
    /* the largest sums: 3,000 products of 127 * 32767 (1.25e10, far past
     * int32, under TFLite's 2^47), one channel of each sign, requantized
     * into range: the kernels' 32-bit blocks must not wrap */
    {
        enum { NIN = 3000 };
        static int16_t x[NIN];
        static int8_t f[2 * NIN];
        int16_t got[2], want[2];
        int32_t mult[2] = {0x40000000, 0x7FFFFFFF}, shift[2] = {-20, -21};
        const reef_per_channel_quant quant = {mult, shift};
        const reef_fc_params p = {0, 0, 0, {-32768, 32767}, 0};
        const reef_dims id = {1, 1, 1, NIN}, fd = {2, 1, 1, NIN}, od = {1, 1, 1, 2};
        for (int i = 0; i < NIN; i++) x[i] = 32767, f[i] = 127, f[NIN + i] = -127;
        assert_int_equal(reef_fc_s16x8(&p, &quant, &id, x, &fd, f, NULL, &od, got), REEF_OK);
        for (int o = 0; o < 2; o++)
            want[o] = ref_clamp(ref_requant64((int64_t)(o ? -127 : 127) * 32767 * NIN, mult[o], shift[o]), p.activation);
        assert_true(want[0] > 0 && want[0] < 32767 && want[1] < 0 && want[1] > -32768);
        assert_memory_equal(got, want, sizeof got);
    }
    /* ADD: random scales' multipliers as the host computes them */
    for (int trial = 0; trial < 200; trial++) {
        const int32_t count = 1 + (int32_t)reef_rng_below(&r, 64);
        const int mode = (int)reef_rng_below(&r, 3);
        reef_add_params p = {0};
        p.left_shift = 15;
        p.input1_multiplier = (int32_t)(0x40000000u + reef_rng_below(&r, 0x40000000u));
        p.input2_multiplier = (int32_t)(0x40000000u + reef_rng_below(&r, 0x40000000u));
        p.input1_shift = reef_rng_below(&r, 2) ? 0 : -(int32_t)reef_rng_below(&r, 20);
        p.input2_shift = p.input1_shift ? 0 : -(int32_t)reef_rng_below(&r, 20);
        p.output_multiplier = (int32_t)(0x40000000u + reef_rng_below(&r, 0x40000000u));
        p.output_shift = -(int32_t)reef_rng_below(&r, 31);
        p.activation = random_act(&r);
        int16_t a[64], b[64], got[64], want[64];
        for (int32_t i = 0; i < count; i++) a[i] = random16(&r, mode), b[i] = random16(&r, mode);
        assert_int_equal(reef_add_s16(&p, a, b, count, got), REEF_OK);
        for (int32_t i = 0; i < count; i++) {
            const int32_t s1 = ref_requant32(a[i] * 32768, p.input1_multiplier, p.input1_shift);
            const int32_t s2 = ref_requant32(b[i] * 32768, p.input2_multiplier, p.input2_shift);
            want[i] = ref_clamp(ref_requant32(s1 + s2, p.output_multiplier, p.output_shift), p.activation);
        }
        assert_memory_equal(got, want, (size_t)count * 2);
        checked += count;
    }
    /* QUANTIZE float32 -> int16 and back: roundf (ties away) and clamp,
     * inputs past both ends (+-1e30) and a tie at the top */
    for (int trial = 0; trial < 50; trial++) {
        enum { N = 64 };
        float x[N], back[N];
        int16_t got[N];
        const float scale = powf(10.0f, -6.0f + 6.0f * reef_rng_uniform(&r));
        const int32_t zp = trial % 2 ? 0 : (int32_t)reef_rng_below(&r, 65536) - 32768;
        for (int i = 0; i < N; i++)
            x[i] = i == 0 ? 1e30f : i == 1 ? -1e30f : (reef_rng_uniform(&r) - 0.5f) * 80000.0f * scale;
        x[2] = (float)(32767 - zp) * scale + 0.5f * scale; /* a tie, rounded away from zero */
        assert_int_equal(reef_quantize_f32_s16(x, N, scale, zp, got), REEF_OK);
        for (int i = 0; i < N; i++) {
            const float q = roundf(x[i] / scale) + (float)zp;
            const int16_t want = (int16_t)(q < -32768.0f ? -32768 : q > 32767.0f ? 32767 : (int32_t)q);
            if (got[i] != want) fail_msg("QUANTIZE int16: %a / %a + %d gave %d, want %d", x[i], scale, zp, got[i], want);
        }
        assert_int_equal(got[0], 32767);
        assert_int_equal(got[1], -32768);
        assert_int_equal(reef_dequantize_s16_f32(got, N, scale, zp, back), REEF_OK);
        for (int i = 0; i < N; i++) assert_true(back[i] == (float)((double)scale * (double)(got[i] - zp)));
        checked += N;
    }
    printf("  %d outputs of random 16x8 FC, CONV, DW, ADD, QUANTIZE and DEQUANTIZE equal the reference written "
           "here\n",
           checked);
}

/* ---- refusals ----------------------------------------------------------- */

static void expect_refused(reef_graph *g, const char *what)
{
    reef_lowered_model m;
    reef_error err;
    assert_int_not_equal(reef_lower(g, &m, &err), 0);
    if (!strstr(err.msg, what)) fail_msg("expected '%s' in: %s", what, err.msg);
    reef_graph_free(g);
}

static void test_refusals(void **state)
{
    (void)state;
    int8_t w[4] = {1, 2, 3, 4}, wa[2 * 2 * 2], wb[2 * 2 * 2];
    int16_t zeros16[2] = {0};
    case16 c = {.op = "FC", .rows = 1, .nin = 2, .nout = 2, .in_scale = 0.01f, .out_scale = 0.02f, .nfs = 1,
                .fs = {0.01f}, .has_bias = 1, .bias = {5, -5}, .filter = w, .x = zeros16, .nx = 2, .ny = 2,
                .nfilter = 4};
    reef_graph g;
    /* an int32 bias on a depthwise conv: TFLite Micro would read it as int64 */
    int8_t wd[2] = {1, -1};
    int16_t xd[2] = {0};
    case16 d = {.op = "DW", .n = 1, .h = 1, .w = 1, .ic = 2, .oc = 2, .kh = 1, .kw = 1, .oh = 1, .ow = 1, .sh = 1,
                .sw = 1, .dh = 1, .dw = 1, .dm = 1, .in_scale = 0.01f, .out_scale = 0.02f, .nfs = 1, .fs = {0.01f},
                .has_bias = 1, .bias32 = 1, .bias = {5, -5}, .filter = wd, .x = xd, .nx = 2, .ny = 2, .nfilter = 2};
    op_graph(&g, &d);
    expect_refused(&g, "int32 bias is not supported for 16x8 DEPTHWISE_CONV_2D");
    c.has_bias = 0;
    op_graph(&g, &c);
    g.tensors[g.ops[0].inputs[0]].zero_point[0] = 3;
    expect_refused(&g, "zero point 3");
    /* input * filter / output = 0.01 * 2 / 1e-6 = 20000 needs shift 15 */
    c.fs[0] = 2.0f, c.out_scale = 1e-6f;
    op_graph(&g, &c);
    expect_refused(&g, "[-31, 7]");
    /* an int16 ADD whose output scale TFLite's multiplier cannot take */
    case16 a = {.op = "ADD", .count = 2, .in_scale = 1.0f, .in2_scale = 1.0f, .out_scale = 1e-5f};
    add_graph(&g, &a, wa, wb);
    expect_refused(&g, "below 1");
    /* broadcasting int16 ADD */
    a.out_scale = 1.0f;
    add_graph(&g, &a, wa, wb);
    int32_t one[2] = {1, 1};
    int32_t t = t16(&g, "c", 2, one, 1.0f);
    g.ops[2].inputs[1] = t;
    expect_refused(&g, "int16 ADD with a constant operand or broadcasting");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_match_tflm),
        cmocka_unit_test(test_kernels_random),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
