/* Every runtime kernel against the independent reference (ref_kernels.c)
 * on a table of cases: named shapes plus random sweeps of strides,
 * padding, dilation, depth multipliers, odd channel counts and saturating
 * values. The fast kernels run through their step functions in an arena
 * (so the step layer is tested too) and the scalar references directly;
 * both must equal the reference exactly. */
#include "testing.h"

#include <math.h>

#include "reef/reef.h"
#include "ref_kernels.h"

typedef enum { K_CONV, K_DW, K_FC, K_ADD, K_AVGPOOL, K_MAXPOOL, K_MEAN, K_SOFTMAX, K_PAD } kind;

/* A case: fixed shapes, or (random > 0) that many random variants. */
typedef struct kcase {
    const char *name;
    kind kind;
    int n, h, w, c;          /* input */
    int kh, kw, sh, sw;      /* window, stride */
    int dh, dw, ph, pw;      /* dilation, padding */
    int out_c;               /* conv/fc: C_OUT; dw: depth multiplier */
    int random;
} kcase;

static const kcase cases[] = {
    {"conv 1x1 (kws pointwise)", K_CONV, 1, 25, 5, 64, 1, 1, 1, 1, 1, 1, 0, 0, 64, 0},
    {"conv 10x4 s2 same (kws first)", K_CONV, 1, 49, 10, 1, 10, 4, 2, 2, 1, 1, 4, 1, 64, 0},
    {"conv 3x3 s2 pad1 rgb (vww first)", K_CONV, 1, 24, 24, 3, 3, 3, 2, 2, 1, 1, 0, 0, 8, 0},
    {"conv 3x3 s1 pad1 (ic)", K_CONV, 1, 8, 8, 16, 3, 3, 1, 1, 1, 1, 1, 1, 16, 0},
    {"conv 1x1 s2 (ic shortcut)", K_CONV, 1, 8, 8, 16, 1, 1, 2, 2, 1, 1, 0, 0, 32, 0},
    {"conv dilated 3x3 d2", K_CONV, 2, 9, 7, 5, 3, 3, 1, 1, 2, 2, 2, 2, 7, 0},
    {"conv odd channels", K_CONV, 1, 5, 6, 7, 2, 3, 1, 2, 1, 1, 1, 1, 5, 0},
    {"conv random", K_CONV, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 300},
    {"dw 3x3 s1 (kws)", K_DW, 1, 25, 5, 64, 3, 3, 1, 1, 1, 1, 1, 1, 1, 0},
    {"dw 3x3 s2 (vww)", K_DW, 1, 12, 12, 32, 3, 3, 2, 2, 1, 1, 0, 0, 1, 0},
    {"dw multiplier 3", K_DW, 1, 6, 7, 5, 3, 3, 1, 1, 1, 1, 1, 1, 3, 0},
    {"dw dilated, odd channels", K_DW, 2, 9, 8, 7, 3, 2, 2, 1, 2, 3, 2, 1, 1, 0},
    {"dw random", K_DW, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 300},
    {"fc kws (1x1600 -> 12)", K_FC, 1, 1, 1, 64, 0, 0, 0, 0, 0, 0, 0, 0, 12, 0},
    {"fc ad (640 -> 128)", K_FC, 1, 1, 1, 640, 0, 0, 0, 0, 0, 0, 0, 0, 128, 0},
    {"fc batched odd", K_FC, 3, 1, 1, 13, 0, 0, 0, 0, 0, 0, 0, 0, 7, 0},
    {"fc fish head (72 -> 2, the plain loop of tiny layers)", K_FC, 1, 1, 1, 72, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0},
    {"fc random", K_FC, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 300},
    {"add (ic)", K_ADD, 1, 8, 8, 16, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
    {"add random", K_ADD, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 100},
    {"avgpool global (kws)", K_AVGPOOL, 1, 25, 5, 64, 25, 5, 25, 5, 1, 1, 0, 0, 0, 0},
    {"avgpool 3x3 s2 same", K_AVGPOOL, 1, 9, 8, 6, 3, 3, 2, 2, 1, 1, 1, 1, 0, 0},
    {"avgpool random", K_AVGPOOL, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 200},
    {"maxpool 2x2 s2", K_MAXPOOL, 1, 8, 8, 5, 2, 2, 2, 2, 1, 1, 0, 0, 0, 0},
    {"maxpool random", K_MAXPOOL, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 200},
    {"mean hw", K_MEAN, 1, 4, 4, 32, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
    {"mean random", K_MEAN, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 200},
    {"softmax 12 (kws)", K_SOFTMAX, 1, 1, 1, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
    {"softmax random", K_SOFTMAX, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 300},
    {"pad random", K_PAD, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 100},
};

/* ---- deterministic random numbers ------------------------------------ */
static uint64_t rng_state;
static uint32_t rnd(void)
{
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(rng_state >> 33);
}
static int rnd_in(int lo, int hi) { return lo + (int)(rnd() % (uint32_t)(hi - lo + 1)); }
static void fill_s8(int8_t *v, int n, int lo, int hi)
{
    for (int k = 0; k < n; k++) v[k] = (int8_t)rnd_in(lo, hi);
}

/* Random variant of a kind: small shapes covering the options. */
static kcase random_case(kind k)
{
    kcase c = {"random", k, rnd_in(1, 2), rnd_in(1, 11), rnd_in(1, 11), rnd_in(1, 13),
               rnd_in(1, 5), rnd_in(1, 5), rnd_in(1, 3), rnd_in(1, 3),
               rnd_in(1, 2), rnd_in(1, 2), 0, 0, rnd_in(1, 11), 0};
    if (k == K_DW) c.out_c = rnd_in(1, 3);
    if (k == K_FC) c.c = rnd_in(1, 70);
    if (k == K_AVGPOOL || k == K_MAXPOOL) c.dh = c.dw = 1;
    c.ph = rnd_in(0, c.kh - 1);
    c.pw = rnd_in(0, c.kw - 1);
    return c;
}

static int out_size(int in, int k, int stride, int dilation, int pad)
{
    /* TFLite's output size for top padding pad and at most as much below. */
    int span = dilation * (k - 1) + 1;
    int n = (in + 2 * pad - span) / stride + 1;
    return n < 1 ? 1 : n;
}

/* Random requantization for accumulators of k products: shifts chosen so
 * that outputs spread over the int8 range, some saturating. */
static void random_quant(int32_t *mult, int8_t *shift, int n, int k)
{
    int base = -(int)(7.5 + 0.5 * log2((double)(k > 0 ? k : 1)));
    for (int i = 0; i < n; i++) {
        mult[i] = (int32_t)((1u << 30) | (rnd() >> 2));
        shift[i] = (int8_t)(base + rnd_in(-2, 2));
    }
}

static reef_activation random_activation(int32_t zero_point)
{
    reef_activation a = {-128, 127};
    switch (rnd() % 3) {
    case 1: a.min = zero_point; break;                          /* ReLU */
    case 2: a.min = zero_point; a.max = zero_point + 40 > 127 ? 127 : zero_point + 40; break;
    }
    return a;
}

/* ---- checking ---------------------------------------------------------- */

/* Counts mismatches and prints the first few positions (as NHWC). */
static int compare(const char *what, const char *name, const reef_dims *d, const int8_t *got,
                   const int8_t *want)
{
    int bad = 0, total = reef_dims_count(d);
    for (int k = 0; k < total; k++)
        if (got[k] != want[k] && bad++ < 5)
            printf("%s: %s: mismatch at (n %d, y %d, x %d, c %d): got %d, want %d\n", name, what,
                   k / (d->h * d->w * d->c), k / (d->w * d->c) % d->h, k / d->c % d->w, k % d->c,
                   got[k], want[k]);
    return bad;
}

/* An arena [input | guard | output | guard | scratch | guard]. */
typedef struct arena {
    uint8_t *mem;
    uint32_t in_at, out_at, scratch_at, end;
} arena;

enum { GUARD = 16 };
static uint32_t up4(uint32_t v) { return (v + 3u) & ~3u; }

static arena arena_make(int in_bytes, int out_bytes, int scratch_bytes)
{
    arena a;
    a.in_at = 0;
    a.out_at = up4(in_bytes + GUARD);
    a.scratch_at = up4(a.out_at + out_bytes + GUARD);
    a.end = up4(a.scratch_at + scratch_bytes + GUARD);
    a.mem = malloc(a.end);
    assert_non_null(a.mem);
    memset(a.mem, 0x5a, a.end);
    return a;
}

/* arena_make's arena with its input bytes drawn at random; returns the input. */
static int8_t *arena_with_input(arena *a, int in_bytes, int out_bytes, int scratch_bytes)
{
    *a = arena_make(in_bytes, out_bytes, scratch_bytes);
    int8_t *input = (int8_t *)a->mem + a->in_at;
    fill_s8(input, in_bytes, -128, 127);
    return input;
}

/* Bytes outside the regions a step may write must be untouched. */
static int arena_guards_ok(const arena *a, int in_bytes, int out_bytes, int scratch_bytes)
{
    for (uint32_t k = 0; k < a->end; k++) {
        int in_region = (k >= a->in_at && k < a->in_at + (uint32_t)in_bytes) ||
                        (k >= a->out_at && k < a->out_at + (uint32_t)out_bytes) ||
                        (k >= a->scratch_at && k < a->scratch_at + (uint32_t)scratch_bytes);
        if (!in_region && a->mem[k] != 0x5a) return 0;
    }
    return 1;
}

static int run_step(reef_step_fn fn, const void *args, arena *a, int in_bytes, int out_bytes,
                    int scratch_bytes)
{
    reef_step step = {fn, args};
    assert_int_equal(reef_run_steps(&step, 0, 1, a->mem), REEF_OK);
    int ok = arena_guards_ok(a, in_bytes, out_bytes, scratch_bytes);
    if (!ok) printf("step wrote outside its regions\n");
    return ok ? 0 : 1;
}

/* A filter kernel's random constants, drawn in this order: filter (f_n
 * values), bias (n_out, within +-bias_range), per-channel multiplier and
 * shift for sums of k products, then whether the bias is used (4 times in 5);
 * and the expected and reference outputs (out_n). */
typedef struct filter_consts {
    int8_t *filter, *want, *got_ref;
    int32_t *bias, *mult;
    int8_t *shift;
    const int32_t *bias_used; /* bias or NULL */
} filter_consts;

static filter_consts filter_consts_make(int f_n, int n_out, int32_t bias_range, int k, int out_n)
{
    filter_consts f = {malloc(f_n), malloc(out_n), malloc(out_n), malloc(4 * n_out), malloc(4 * n_out),
                       malloc(4 * n_out), NULL};
    fill_s8(f.filter, f_n, -127, 127);
    for (int o = 0; o < n_out; o++) f.bias[o] = rnd_in(-bias_range, bias_range);
    random_quant(f.mult, f.shift, n_out, k);
    f.bias_used = (rnd() % 5) ? f.bias : NULL;
    return f;
}

static void filter_consts_free(filter_consts *f)
{
    free(f->filter); free(f->want); free(f->got_ref); free(f->bias); free(f->mult); free(f->shift);
}

/* ---- one case per kind ------------------------------------------------- */

/* The end of a filter kernel's case: the step's output (after `bad` from
 * run_step) and the reference kernel's (returned ref_status, wrote
 * f->got_ref) against f->want; frees f and the arena. */
static int filter_case_end(const char *kernel, const kcase *c, const reef_dims *out, arena *a, filter_consts *f,
                           int bad, int ref_status)
{
    char ref_name[64];
    snprintf(ref_name, sizeof ref_name, "%s_ref", kernel);
    bad += compare(kernel, c->name, out, (int8_t *)a->mem + a->out_at, f->want);
    assert_int_equal(ref_status, REEF_OK);
    bad += compare(ref_name, c->name, out, f->got_ref, f->want);
    filter_consts_free(f);
    free(a->mem);
    return bad;
}

static int check_conv(const kcase *c)
{
    reef_conv_step_args s;
    memset(&s, 0, sizeof s);
    s.input_dims = (reef_dims){c->n, c->h, c->w, c->c};
    s.filter_dims = (reef_dims){c->out_c, c->kh, c->kw, c->c};
    s.output_dims = (reef_dims){c->n, out_size(c->h, c->kh, c->sh, c->dh, c->ph),
                                out_size(c->w, c->kw, c->sw, c->dw, c->pw), c->out_c};
    s.params = (reef_conv_params){rnd_in(-127, 128), rnd_in(-128, 127), {c->sh, c->sw},
                                  {c->ph, c->pw}, {c->dh, c->dw}, {-128, 127}, 0};
    s.params.activation = random_activation(s.params.output_offset);
    int in_n = reef_dims_count(&s.input_dims), out_n = reef_dims_count(&s.output_dims);
    filter_consts f = filter_consts_make(reef_dims_count(&s.filter_dims), c->out_c, 20000, c->kh * c->kw * c->c,
                                         out_n);
    int8_t *filter = f.filter, *want = f.want, *got_ref = f.got_ref;
    int32_t *mult = f.mult;
    int8_t *shift = f.shift;
    s.filter = filter;
    s.bias = f.bias_used;
    s.quant = (reef_per_channel_quant){mult, shift};
    int scratch = reef_conv_s8_get_buffer_size(&s.params, &s.input_dims, &s.filter_dims,
                                               &s.output_dims);
    arena a;
    int8_t *input = arena_with_input(&a, in_n, out_n, scratch);
    s.io.input_at = a.in_at;
    s.io.output_at = a.out_at;
    s.io.scratch_at = a.scratch_at;
    s.io.scratch_size = scratch;

    ref_conv(&s.params, mult, shift, &s.input_dims, input, &s.filter_dims, filter, s.bias,
             &s.output_dims, want);
    int bad = run_step(reef_conv_step, &s, &a, in_n, out_n, scratch);
    int ref_status = reef_conv_s8_ref(NULL, &s.params, &s.quant, &s.input_dims, input,
                                      &s.filter_dims, filter, s.bias, &s.output_dims, got_ref);
    return filter_case_end("reef_conv_s8", c, &s.output_dims, &a, &f, bad, ref_status);
}

static int check_dw(const kcase *c)
{
    reef_dw_conv_step_args s;
    memset(&s, 0, sizeof s);
    const int c_out = c->c * c->out_c;
    s.input_dims = (reef_dims){c->n, c->h, c->w, c->c};
    s.filter_dims = (reef_dims){1, c->kh, c->kw, c_out};
    s.output_dims = (reef_dims){c->n, out_size(c->h, c->kh, c->sh, c->dh, c->ph),
                                out_size(c->w, c->kw, c->sw, c->dw, c->pw), c_out};
    s.params = (reef_dw_conv_params){rnd_in(-127, 128), rnd_in(-128, 127), c->out_c,
                                     {c->sh, c->sw}, {c->ph, c->pw}, {c->dh, c->dw}, {-128, 127}};
    s.params.activation = random_activation(s.params.output_offset);
    int in_n = reef_dims_count(&s.input_dims), out_n = reef_dims_count(&s.output_dims);
    filter_consts f = filter_consts_make(reef_dims_count(&s.filter_dims), c_out, 5000, c->kh * c->kw, out_n);
    int8_t *filter = f.filter, *want = f.want, *got_ref = f.got_ref;
    int32_t *mult = f.mult;
    int8_t *shift = f.shift;
    s.filter = filter;
    s.bias = f.bias_used;
    s.quant = (reef_per_channel_quant){mult, shift};
    int scratch = reef_dw_conv_s8_get_buffer_size(&s.params, &s.input_dims, &s.filter_dims,
                                                  &s.output_dims);
    arena a;
    int8_t *input = arena_with_input(&a, in_n, out_n, scratch);
    s.io.input_at = a.in_at;
    s.io.output_at = a.out_at;
    s.io.scratch_at = a.scratch_at;
    s.io.scratch_size = scratch;

    ref_dw_conv(&s.params, mult, shift, &s.input_dims, input, &s.filter_dims, filter, s.bias,
                &s.output_dims, want);
    int bad = run_step(reef_dw_conv_step, &s, &a, in_n, out_n, scratch);
    int ref_status = reef_dw_conv_s8_ref(NULL, &s.params, &s.quant, &s.input_dims, input,
                                         &s.filter_dims, filter, s.bias, &s.output_dims, got_ref);
    return filter_case_end("reef_dw_conv_s8", c, &s.output_dims, &a, &f, bad, ref_status);
}

static int check_fc(const kcase *c)
{
    reef_fc_step_args s;
    memset(&s, 0, sizeof s);
    const int per_channel = rnd() % 2;
    s.input_dims = (reef_dims){c->n, 1, 1, c->c};
    s.filter_dims = (reef_dims){c->out_c, 1, 1, c->c};
    s.output_dims = (reef_dims){c->n, 1, 1, c->out_c};
    s.params = (reef_fc_params){rnd_in(-127, 128), 0, rnd_in(-128, 127), {-128, 127}, 0};
    s.params.activation = random_activation(s.params.output_offset);
    int in_n = c->n * c->c, out_n = c->n * c->out_c;
    filter_consts f = filter_consts_make(c->out_c * c->c, c->out_c, 20000, c->c, out_n);
    int8_t *filter = f.filter, *want = f.want, *got_ref = f.got_ref;
    int32_t *mult = f.mult;
    int8_t *shift = f.shift;
    s.filter = filter;
    s.bias = f.bias_used;
    s.quant = (reef_per_tensor_quant){mult[0], shift[0]};
    if (per_channel) s.channel_quant = (reef_per_channel_quant){mult, shift};
    arena a;
    int8_t *input = arena_with_input(&a, in_n, out_n, 0);
    s.io.input_at = a.in_at;
    s.io.output_at = a.out_at;
    s.io.scratch_at = a.scratch_at;

    ref_fc(&s.params, mult, shift, per_channel, c->n, c->c, c->out_c, input, filter, s.bias, want);
    int bad = run_step(reef_fc_step, &s, &a, in_n, out_n, 0);
    reef_per_channel_quant q = {mult, shift};
    int ref_status = reef_fc_s8_ref(NULL, &s.params, &q, per_channel, &s.input_dims, input,
                                    &s.filter_dims, filter, s.bias, &s.output_dims, got_ref);
    return filter_case_end("reef_fc_s8", c, &s.output_dims, &a, &f, bad, ref_status);
}

static int check_add(const kcase *c)
{
    reef_add_step_args s;
    memset(&s, 0, sizeof s);
    const int n = c->n * c->h * c->w * c->c;
    /* As TFLite derives them: left shift 20, inputs scaled by < 1. */
    s.params.input1_offset = rnd_in(-127, 128);
    s.params.input2_offset = rnd_in(-127, 128);
    s.params.left_shift = 20;
    s.params.input1_multiplier = (int32_t)((1u << 30) | (rnd() >> 2));
    s.params.input2_multiplier = (int32_t)((1u << 30) | (rnd() >> 2));
    s.params.input1_shift = rnd_in(-3, 0);
    s.params.input2_shift = rnd_in(-3, 0);
    s.params.output_offset = rnd_in(-128, 127);
    s.params.output_multiplier = (int32_t)((1u << 30) | (rnd() >> 2));
    s.params.output_shift = rnd_in(-21, -17);
    s.params.activation = random_activation(s.params.output_offset);
    s.count = n;
    arena a = arena_make(2 * n, n, 0);
    int8_t *in1 = (int8_t *)a.mem, *in2 = in1 + n, *want = malloc(n);
    fill_s8(in1, 2 * n, -128, 127);
    s.io.input_at = 0;
    s.io.input2_at = n;
    s.io.output_at = a.out_at;
    ref_add(&s.params, in1, in2, n, want);
    reef_dims d = {1, 1, 1, n};
    int bad = run_step(reef_add_step, &s, &a, 2 * n, n, 0);
    bad += compare("reef_add_s8", c->name, &d, (int8_t *)a.mem + a.out_at, want);
    /* In place, as the planner may place it. */
    assert_int_equal(reef_add_s8(&s.params, in1, in2, n, in1), REEF_OK);
    bad += compare("reef_add_s8 in place", c->name, &d, in1, want);
    free(want); free(a.mem);
    return bad;
}

static int check_pool(const kcase *c)
{
    reef_pool_step_args s;
    memset(&s, 0, sizeof s);
    const int is_max = c->kind == K_MAXPOOL;
    s.filter = (reef_hw){c->kh, c->kw};
    s.input_dims = (reef_dims){c->n, c->h, c->w, c->c};
    s.output_dims = (reef_dims){c->n, out_size(c->h, c->kh, c->sh, 1, c->ph),
                                out_size(c->w, c->kw, c->sw, 1, c->pw), c->c};
    s.params = (reef_pool_params){{c->sh, c->sw}, {c->ph, c->pw}, {-128, 127}};
    s.params.activation = random_activation(rnd_in(-128, 100));
    /* Every window must touch the input (TFLite fails otherwise). */
    if ((s.output_dims.h - 1) * c->sh - c->ph >= c->h) s.output_dims.h--;
    if ((s.output_dims.w - 1) * c->sw - c->pw >= c->w) s.output_dims.w--;
    int in_n = reef_dims_count(&s.input_dims), out_n = reef_dims_count(&s.output_dims);
    int scratch = reef_avgpool_s8_get_buffer_size(&s.input_dims, &s.output_dims);
    arena a;
    int8_t *input = arena_with_input(&a, in_n, out_n, scratch), *want = malloc(out_n);
    s.io.output_at = a.out_at;
    s.io.scratch_at = a.scratch_at;
    s.io.scratch_size = scratch;
    ref_pool(is_max, &s.params, &s.input_dims, input, s.filter, &s.output_dims, want);
    int bad = run_step(is_max ? reef_maxpool_step : reef_avgpool_step, &s, &a, in_n, out_n,
                       scratch);
    bad += compare(is_max ? "reef_maxpool_s8" : "reef_avgpool_s8", c->name, &s.output_dims,
                   (int8_t *)a.mem + a.out_at, want);
    free(want); free(a.mem);
    return bad;
}

static int check_mean(const kcase *c)
{
    reef_mean_step_args s;
    memset(&s, 0, sizeof s);
    s.input_dims = (reef_dims){c->n, c->h, c->w, c->c};
    s.output_dims = (reef_dims){c->n, 1, 1, c->c};
    s.params.input_offset = rnd_in(-127, 128);
    s.params.output_offset = rnd_in(-128, 127);
    s.params.multiplier = (int32_t)((1u << 30) | (rnd() >> 2));
    s.params.shift = rnd_in(-2, 1);
    int in_n = reef_dims_count(&s.input_dims), out_n = c->n * c->c;
    arena a;
    int8_t *input = arena_with_input(&a, in_n, out_n, 0), *want = malloc(out_n);
    s.io.output_at = a.out_at;
    ref_mean(&s.params, &s.input_dims, input, want);
    int bad = run_step(reef_mean_step, &s, &a, in_n, out_n, 0);
    bad += compare("reef_mean_hw_s8", c->name, &s.output_dims, (int8_t *)a.mem + a.out_at, want);
    free(want); free(a.mem);
    return bad;
}

static int check_softmax(const kcase *c)
{
    reef_softmax_step_args s;
    memset(&s, 0, sizeof s);
    s.rows = c->n * c->h * c->w;
    s.depth = c->c;
    /* beta * input_scale * 2^26 as TFLite's PreprocessSoftmaxScaling gives
     * it, for input scales from 1/1024 to 1: left shifts 16..26. */
    s.params.input_multiplier = (int32_t)((1u << 30) | (rnd() >> 2));
    s.params.input_left_shift = rnd_in(16, 26);
    s.params.diff_min = -(int32_t)floor(31.0 * (double)(1 << 26) /
                                        (double)(1 << s.params.input_left_shift));
    int n = s.rows * s.depth;
    arena a = arena_make(n, n, 0);
    int8_t *input = (int8_t *)a.mem, *want = malloc(n);
    int spread = rnd_in(1, 255);
    int lo = rnd_in(-128, 127 - (spread > 255 ? 255 : 0));
    for (int k = 0; k < n; k++) {
        int v = lo + rnd_in(0, spread);
        input[k] = (int8_t)(v > 127 ? 127 : v);
    }
    s.io.output_at = a.out_at;
    ref_softmax(&s.params, s.rows, s.depth, input, want);
    reef_dims d = {1, 1, s.rows, s.depth};
    int bad = run_step(reef_softmax_step, &s, &a, n, n, 0);
    bad += compare("reef_softmax_s8", c->name, &d, (int8_t *)a.mem + a.out_at, want);
    free(want); free(a.mem);
    return bad;
}

static int check_pad(const kcase *c)
{
    reef_pad_step_args s;
    memset(&s, 0, sizeof s);
    s.input_dims = (reef_dims){c->n, c->h, c->w, c->c};
    s.params.before = (reef_dims){rnd_in(0, 1), rnd_in(0, 2), rnd_in(0, 2), rnd_in(0, 1)};
    s.params.after = (reef_dims){rnd_in(0, 1), rnd_in(0, 2), rnd_in(0, 2), rnd_in(0, 1)};
    s.params.pad_value = rnd_in(-128, 127);
    s.output_dims = (reef_dims){c->n + s.params.before.n + s.params.after.n,
                                c->h + s.params.before.h + s.params.after.h,
                                c->w + s.params.before.w + s.params.after.w,
                                c->c + s.params.before.c + s.params.after.c};
    int in_n = reef_dims_count(&s.input_dims), out_n = reef_dims_count(&s.output_dims);
    arena a;
    int8_t *input = arena_with_input(&a, in_n, out_n, 0), *want = malloc(out_n);
    s.io.output_at = a.out_at;
    ref_pad(&s.params, &s.input_dims, input, &s.output_dims, want);
    int bad = run_step(reef_pad_step, &s, &a, in_n, out_n, 0);
    bad += compare("reef_pad_s8", c->name, &s.output_dims, (int8_t *)a.mem + a.out_at, want);
    free(want); free(a.mem);
    return bad;
}

static int check_case(const kcase *c)
{
    switch (c->kind) {
    case K_CONV: return check_conv(c);
    case K_DW: return check_dw(c);
    case K_FC: return check_fc(c);
    case K_ADD: return check_add(c);
    case K_AVGPOOL:
    case K_MAXPOOL: return check_pool(c);
    case K_MEAN: return check_mean(c);
    case K_SOFTMAX: return check_softmax(c);
    case K_PAD: return check_pad(c);
    }
    return 1;
}

/* The runner: each table row, or its random variants. */
static void test_kernel_table(void **state)
{
    (void)state;
    int failures = 0, runs = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const kcase *c = &cases[i];
        rng_state = 1000 + i;
        int variants = c->random ? c->random : 1;
        if (c->random && testing_sanitizer_run()) variants = c->random / 5;
        int bad_cases = 0;
        for (int v = 0; v < variants; v++) {
            kcase r = c->random ? random_case(c->kind) : *c;
            r.name = c->name;
            int bad = check_case(&r);
            if (bad && bad_cases++ < 3 && c->random)
                printf("  (random variant %d: in %dx%dx%dx%d window %dx%d stride %dx%d "
                       "dilation %dx%d pad %dx%d out_c %d)\n",
                       v, r.n, r.h, r.w, r.c, r.kh, r.kw, r.sh, r.sw, r.dh, r.dw, r.ph, r.pw,
                       r.out_c);
            runs++;
        }
        failures += bad_cases;
        if (bad_cases) printf("FAILED: %s (%d of %d)\n", c->name, bad_cases, variants);
    }
    printf("%d kernel runs checked\n", runs);
    assert_int_equal(failures, 0);
}

/* Bad arguments give REEF_ARG_ERROR, never a crash or a write. */
static void test_argument_errors(void **state)
{
    (void)state;
    int8_t in[64] = {0}, out[64] = {0}, filter[64] = {0};
    int32_t mult[4] = {1 << 30, 1 << 30, 1 << 30, 1 << 30};
    int8_t shift[4] = {0};
    uint8_t scratch[256];
    reef_context ctx = {scratch, sizeof scratch}, tiny = {scratch, 4};
    reef_per_channel_quant q = {mult, shift};
    reef_conv_params cp = {0, 0, {1, 1}, {1, 1}, {1, 1}, {-128, 127}, 0};
    reef_dims in_d = {1, 4, 4, 2}, f_d = {2, 3, 3, 2}, out_d = {1, 4, 4, 2};
    reef_dims bad_f = {2, 3, 3, 3};
    assert_int_equal(reef_conv_s8(&ctx, &cp, &q, &in_d, in, &f_d, filter, NULL, &out_d, out), REEF_OK);
    assert_int_equal(reef_conv_s8(&tiny, &cp, &q, &in_d, in, &f_d, filter, NULL, &out_d, out),
                     REEF_ARG_ERROR);
    assert_int_equal(reef_conv_s8(&ctx, &cp, &q, &in_d, in, &bad_f, filter, NULL, &out_d, out),
                     REEF_ARG_ERROR);
    assert_int_equal(reef_conv_s8_ref(NULL, &cp, &q, &in_d, NULL, &f_d, filter, NULL, &out_d, out),
                     REEF_ARG_ERROR);
    cp.stride.h = 0;
    assert_int_equal(reef_conv_s8(&ctx, &cp, &q, &in_d, in, &f_d, filter, NULL, &out_d, out),
                     REEF_ARG_ERROR);
    reef_dw_conv_params dp = {0, 0, 2, {1, 1}, {0, 0}, {1, 1}, {-128, 127}};
    reef_dims dw_f = {1, 3, 3, 2};
    assert_int_equal(reef_dw_conv_s8(&ctx, &dp, &q, &in_d, in, &dw_f, filter, NULL, &out_d, out),
                     REEF_ARG_ERROR); /* C_OUT must be C_IN * multiplier */
    reef_pool_params pp = {{1, 1}, {5, 5}, {-128, 127}};
    reef_hw win = {1, 1};
    reef_dims pool_out = {1, 4, 4, 2};
    assert_int_equal(reef_avgpool_s8(&ctx, &pp, &in_d, in, &win, &pool_out, out),
                     REEF_ARG_ERROR); /* a window entirely in the padding */
    reef_softmax_params sp = {1 << 30, 40, -10};
    assert_int_equal(reef_softmax_s8(&sp, 1, 4, in, out), REEF_ARG_ERROR);
    reef_activation bad_act = {10, 5};
    reef_fc_params fp = {0, 0, 0, bad_act, 0};
    reef_per_tensor_quant tq = {1 << 30, 0};
    reef_dims fc_in = {1, 1, 1, 4}, fc_f = {2, 1, 1, 4}, fc_out = {1, 1, 1, 2};
    assert_int_equal(reef_fc_s8(&ctx, &fp, &tq, &fc_in, in, &fc_f, filter, NULL, &fc_out, out),
                     REEF_ARG_ERROR);
    for (int k = 0; k < 64; k++) assert_int_equal(out[k], 0);
}

/* reef_run_steps: runs [first, first + count), stops at the first error
 * (a later issue resumes at step k after a power failure). */
static int calls[8];
static reef_status count_step(const void *args, uint8_t *arena)
{
    (void)arena;
    calls[*(const int *)args]++;
    return REEF_OK;
}
static reef_status failing_step(const void *args, uint8_t *arena)
{
    (void)args;
    (void)arena;
    return REEF_ARG_ERROR;
}

static void test_run_steps(void **state)
{
    (void)state;
    static const int ids[4] = {0, 1, 2, 3};
    const reef_step steps[5] = {{count_step, &ids[0]}, {count_step, &ids[1]},
                                {count_step, &ids[2]}, {failing_step, NULL},
                                {count_step, &ids[3]}};
    uint8_t arena[4];
    memset(calls, 0, sizeof calls);
    assert_int_equal(reef_run_steps(steps, 1, 2, arena), REEF_OK);
    assert_int_equal(calls[0], 0);
    assert_int_equal(calls[1], 1);
    assert_int_equal(calls[2], 1);
    assert_int_equal(reef_run_steps(steps, 0, 5, arena), REEF_ARG_ERROR);
    assert_int_equal(calls[0], 1);
    assert_int_equal(calls[3], 0); /* never reached */
    assert_int_equal(reef_run_steps(steps, 0, 0, arena), REEF_OK);
    assert_int_equal(reef_run_steps(steps, -1, 1, arena), REEF_ARG_ERROR);

    /* A reshape step: a copy, or nothing in place. */
    uint8_t buf[16] = {1, 2, 3, 4, 5, 6, 7, 8};
    const reef_reshape_step_args copy = {{0, 8, 0, 0, 0}, 8}, same = {{0, 0, 0, 0, 0}, 8};
    const reef_step reshape[2] = {{reef_reshape_step, &copy}, {reef_reshape_step, &same}};
    assert_int_equal(reef_run_steps(reshape, 0, 2, buf), REEF_OK);
    assert_memory_equal(buf, buf + 8, 8);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kernel_table),
        cmocka_unit_test(test_argument_errors),
        cmocka_unit_test(test_run_steps),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
