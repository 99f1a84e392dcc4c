/* Elementwise ops (ADD with broadcasting or a constant operand, SUB,
 * MUL, MAXIMUM, MINIMUM, and the standalone activations) against a reference written here, separately
 * from the runtime: TFLite Micro's reference arithmetic (integer_ops/add.h,
 * reference/sub.h, integer_ops/mul.h, maximum_minimum.h) restated in int64
 * with explicit rounding, TFLite's QuantizeMultiplier and
 * CalculateActivationRangeQuantized restated from their definitions, and
 * broadcasting by multi-index (not by strides).
 *
 *  - kernels: reef_*_broadcast_s8 on random 4-D broadcast shapes, random
 *    scales over five decades, zero points over all of [-128, 127] and
 *    every fused activation;
 *  - activations: RELU, RELU_N1_TO_1, RELU6, LEAKY_RELU in random chains
 *    of four, through the writer, reader, interpreter and generated C;
 *  - models: random .tflite graphs written with reef's writer and read
 *    back (x op C -> t, t op x: a constant operand on either side and two
 *    activations broadcast), lowered and run by the host interpreter, and
 *    for a few of them the generated C compiled with the host cc and run. */
#include "testing.h"

#include <math.h>

#include "codegen/emit.h"
#include "codegen/lower.h"
#include "reef/elementwise.h"
#include "tflite/graph.h"
#include "util/io.h"
#include "util/rng.h"

enum { OP_ADD, OP_SUB, OP_MUL, OP_MAX, OP_MIN, NOPS };
static const int32_t op_code[NOPS] = {REEF_OP_ADD, REEF_OP_SUB, REEF_OP_MUL, REEF_OP_MAXIMUM, REEF_OP_MINIMUM};
static const char *op_name[NOPS] = {"ADD", "SUB", "MUL", "MAXIMUM", "MINIMUM"};

/* ---- the reference ------------------------------------------------------ */

/* v / 2^e rounded to nearest, ties away from zero (e >= 0). */
static int64_t round_div_pow2(int64_t v, int e)
{
    if (e == 0) return v;
    int64_t d = (int64_t)1 << e, q = (v < 0 ? -v : v) / d, r = (v < 0 ? -v : v) % d;
    if (2 * r >= d) q++;
    return v < 0 ? -q : q;
}

/* MultiplyByQuantizedMultiplier: SaturatingRoundingDoublingHighMul (2ab /
 * 2^32, ties away from zero, saturating at the one overflow) of x * 2^left
 * (int32 wrap) and m, then RoundingDivideByPOT (ties away from zero). */
static int32_t ref_mbqm(int32_t x, int32_t m, int shift)
{
    int left = shift > 0 ? shift : 0, right = shift > 0 ? 0 : -shift;
    int32_t a = (int32_t)(uint32_t)((uint64_t)(uint32_t)x << left);
    if (a == INT32_MIN && m == INT32_MIN) return INT32_MAX;
    int64_t high = round_div_pow2((int64_t)a * m, 31);
    return (int32_t)round_div_pow2(high, right);
}

/* tflite::QuantizeMultiplier from its definition. */
static void ref_quantize_multiplier(double m, int32_t *mult, int *shift)
{
    if (m == 0) {
        *mult = 0, *shift = 0;
        return;
    }
    int e;
    double q = frexp(m, &e);
    int64_t qf = llround(q * 2147483648.0);
    if (qf == ((int64_t)1 << 31)) qf /= 2, e++;
    if (e < -31) qf = 0, e = 0;
    if (e > 30) qf = INT32_MAX, e = 30;
    *mult = (int32_t)qf, *shift = e;
}

typedef struct qtensor {
    int rank;
    int32_t shape[4];
    float scale;
    int32_t zp;
    int8_t *data; /* (count) */
} qtensor;

static int32_t count_of(const qtensor *t)
{
    int32_t n = 1;
    for (int i = 0; i < t->rank; i++) n *= t->shape[i];
    return n;
}

/* The clamp of a fused activation (CalculateActivationRangeQuantized). */
static void ref_clamp(int act, const qtensor *out, int32_t *lo, int32_t *hi)
{
    float s = out->scale;
    int32_t zp = out->zp;
    *lo = -128, *hi = 127;
    if (act == REEF_ACT_RELU) *lo = zp > -128 ? zp : -128;
    if (act == REEF_ACT_RELU6) {
        *lo = zp > -128 ? zp : -128;
        int32_t six = zp + (int32_t)roundf(6.0f / s);
        *hi = six < 127 ? six : 127;
    }
    if (act == REEF_ACT_RELU_N1_TO_1) {
        int32_t m1 = zp + (int32_t)roundf(-1.0f / s), p1 = zp + (int32_t)roundf(1.0f / s);
        *lo = m1 > -128 ? m1 : -128, *hi = p1 < 127 ? p1 : 127;
    }
}

/* Element k of out read from t (same rank-4 alignment, size-1 dims
 * repeat). */
static int8_t at_broadcast(const qtensor *t, const qtensor *out, int32_t k)
{
    int32_t idx[4], off = 0;
    for (int i = out->rank - 1; i >= 0; i--) idx[i] = k % out->shape[i], k /= out->shape[i];
    for (int i = 0; i < t->rank; i++) {
        int j = out->rank - t->rank + i;
        off = off * t->shape[i] + (t->shape[i] == 1 ? 0 : idx[j]);
    }
    return t->data[off];
}

typedef struct add_q {
    int32_t m1, m2, mo;
    int s1, s2, so;
} add_q;

/* add.cc / sub.cc Prepare: left shift 20, inputs to twice the larger
 * scale, the sum to the output. */
static add_q ref_add_q(const qtensor *x, const qtensor *y, const qtensor *out)
{
    add_q q;
    double twice = 2.0 * (double)(x->scale > y->scale ? x->scale : y->scale);
    ref_quantize_multiplier((double)x->scale / twice, &q.m1, &q.s1);
    ref_quantize_multiplier((double)y->scale / twice, &q.m2, &q.s2);
    ref_quantize_multiplier(twice / ((double)(1 << 20) * (double)out->scale), &q.mo, &q.so);
    return q;
}

static void ref_binary(int op, int act, const qtensor *x, const qtensor *y, qtensor *out)
{
    int32_t lo, hi, mm;
    int ms;
    add_q q = ref_add_q(x, y, out);
    ref_quantize_multiplier((double)x->scale * (double)y->scale / (double)out->scale, &mm, &ms);
    ref_clamp(act, out, &lo, &hi);
    for (int32_t k = 0, n = count_of(out); k < n; k++) {
        int32_t a = at_broadcast(x, out, k), b = at_broadcast(y, out, k), v;
        if (op == OP_ADD || op == OP_SUB) {
            int32_t ra = ref_mbqm((a - x->zp) * (1 << 20), q.m1, q.s1);
            int32_t rb = ref_mbqm((b - y->zp) * (1 << 20), q.m2, q.s2);
            v = ref_mbqm(op == OP_ADD ? ra + rb : ra - rb, q.mo, q.so) + out->zp;
        } else if (op == OP_MUL) {
            v = ref_mbqm((a - x->zp) * (b - y->zp), mm, ms) + out->zp;
        } else {
            v = op == OP_MAX ? (a > b ? a : b) : (a < b ? a : b);
        }
        out->data[k] = (int8_t)(v < lo ? lo : v > hi ? hi : v);
    }
}

/* ---- random cases ------------------------------------------------------- */

static int rand_int(reef_rng *r, int lo, int hi)
{
    return lo + (int)reef_rng_below(r, (uint32_t)(hi - lo + 1));
}

/* Scales log-uniform over two decades, [0.005, 0.5], or in one case in
 * four over five, [1e-4, 10] (extreme multipliers, saturation); zero
 * points at the ends or -1, 0 half the time. */
static void rand_quant(reef_rng *r, qtensor *t)
{
    static const int32_t edge[] = {-128, 127, 0, -1};
    int wide = reef_rng_below(r, 4) == 0;
    double u = (double)reef_rng_uniform(r);
    t->scale = (float)(wide ? pow(10.0, -4.0 + 5.0 * u) : pow(10.0, log10(0.005) + 2.0 * u));
    t->zp = reef_rng_below(r, 2) ? edge[reef_rng_below(r, 4)] : rand_int(r, -128, 127);
}

static void rand_fill(reef_rng *r, qtensor *t)
{
    t->data = malloc((size_t)count_of(t));
    for (int32_t k = 0; k < count_of(t); k++) t->data[k] = (int8_t)reef_rng_u32(r);
}

/* out: rank 1..4, dims 1..6; x and y: out with dims set to 1 and leading
 * dims dropped, so that each dim of out is in x or in y. */
static void rand_shapes(reef_rng *r, qtensor *x, qtensor *y, qtensor *out)
{
    out->rank = rand_int(r, 1, 4);
    for (int i = 0; i < out->rank; i++) out->shape[i] = rand_int(r, 1, 6);
    x->rank = rand_int(r, 1, out->rank), y->rank = out->rank;
    if (reef_rng_below(r, 2)) y->rank = rand_int(r, 1, out->rank), x->rank = out->rank;
    for (int i = 0; i < out->rank; i++) {
        int ix = i - (out->rank - x->rank), iy = i - (out->rank - y->rank);
        int which = rand_int(r, 0, 2); /* 0 both full, 1 x broadcast, 2 y broadcast */
        if (ix < 0) which = 1;
        if (iy < 0) which = 2;
        if (ix >= 0) x->shape[ix] = which == 1 ? 1 : out->shape[i];
        if (iy >= 0) y->shape[iy] = which == 2 ? 1 : out->shape[i];
    }
}

static void to_broadcast(const qtensor *x, const qtensor *y, const qtensor *out, reef_broadcast *b)
{
    int32_t d[3][4], s[2][4];
    const qtensor *t[3] = {x, y, out};
    for (int j = 0; j < 3; j++)
        for (int i = 0; i < 4; i++) {
            int k = i - (4 - t[j]->rank);
            d[j][i] = k >= 0 ? t[j]->shape[k] : 1;
        }
    for (int j = 0; j < 2; j++)
        for (int i = 3, p = 1; i >= 0; i--) s[j][i] = d[j][i] == 1 ? 0 : p, p *= d[j][i];
    b->output_dims = (reef_dims){d[2][0], d[2][1], d[2][2], d[2][3]};
    b->input1_strides = (reef_dims){s[0][0], s[0][1], s[0][2], s[0][3]};
    b->input2_strides = (reef_dims){s[1][0], s[1][1], s[1][2], s[1][3]};
}

static reef_status run_kernel(int op, int act, const qtensor *x, const qtensor *y, qtensor *out)
{
    reef_broadcast b;
    int32_t lo, hi, mm;
    int ms;
    to_broadcast(x, y, out, &b);
    ref_clamp(act, out, &lo, &hi);
    if (op == OP_MAX) return reef_maximum_broadcast_s8(&b, x->data, y->data, out->data);
    if (op == OP_MIN) return reef_minimum_broadcast_s8(&b, x->data, y->data, out->data);
    if (op == OP_MUL) {
        ref_quantize_multiplier((double)x->scale * (double)y->scale / (double)out->scale, &mm, &ms);
        reef_mul_params p = {-x->zp, -y->zp, out->zp, mm, ms, {lo, hi}};
        return reef_mul_broadcast_s8(&p, &b, x->data, y->data, out->data);
    }
    add_q q = ref_add_q(x, y, out);
    reef_add_params p = {-x->zp, q.m1, q.s1, -y->zp, q.m2, q.s2, 20, out->zp, q.mo, q.so, {lo, hi}};
    return op == OP_ADD ? reef_add_broadcast_s8(&p, &b, x->data, y->data, out->data)
                        : reef_sub_broadcast_s8(&p, &b, x->data, y->data, out->data);
}

static int cases_run[NOPS], kernel_saturated[2], kernel_inside;

static void test_kernels_random(void **state)
{
    (void)state;
    reef_rng r;
    reef_rng_seed(&r, 16);
    int per_op = testing_sanitizer_run() ? 60 : 400;
    for (int op = 0; op < NOPS; op++)
        for (int c = 0; c < per_op; c++) {
            qtensor x, y, out, want;
            rand_shapes(&r, &x, &y, &out);
            rand_quant(&r, &x), rand_quant(&r, &y), rand_quant(&r, &out);
            if (op == OP_MAX || op == OP_MIN) y.scale = out.scale = x.scale, y.zp = out.zp = x.zp;
            int act = op >= OP_MAX ? 0 : rand_int(&r, 0, 3);
            rand_fill(&r, &x), rand_fill(&r, &y);
            want = out;
            out.data = malloc((size_t)count_of(&out)), want.data = malloc((size_t)count_of(&out));
            ref_binary(op, act, &x, &y, &want);
            assert_int_equal(run_kernel(op, act, &x, &y, &out), REEF_OK);
            for (int32_t k = 0; k < count_of(&out); k++) {
                if (out.data[k] != want.data[k])
                    fail_msg("%s case %d element %d: %d, reference %d", op_name[op], c, k, out.data[k],
                             want.data[k]);
                kernel_saturated[0] += want.data[k] == -128, kernel_saturated[1] += want.data[k] == 127;
                kernel_inside += want.data[k] != -128 && want.data[k] != 127;
            }
            cases_run[op]++;
            free(x.data), free(y.data), free(out.data), free(want.data);
        }
    printf("  kernels: %d random cases per op (ADD, SUB, MUL, MAXIMUM, MINIMUM) bit-exact; "
           "outputs: %d inside (-128, 127), %d at -128, %d at 127\n",
           per_op, kernel_inside, kernel_saturated[0], kernel_saturated[1]);
    assert_true(kernel_saturated[0] > 0 && kernel_saturated[1] > 0 && kernel_inside > kernel_saturated[0]);
}

/* Bad arguments are refused, not run. */
static void test_kernels_refuse(void **state)
{
    (void)state;
    int8_t a[4] = {0}, o[4];
    reef_broadcast b = {{1, 1, 1, 4}, {0, 0, 0, 1}, {0, 0, 0, 1}};
    reef_mul_params mp = {0, 0, 0, 1 << 30, 0, {-128, 127}};
    assert_int_equal(reef_mul_broadcast_s8(&mp, &b, a, NULL, o), REEF_ARG_ERROR);
    b.output_dims.c = 0;
    assert_int_equal(reef_maximum_broadcast_s8(&b, a, a, o), REEF_ARG_ERROR);
    b.output_dims.c = 4;
    mp.activation.min = 5, mp.activation.max = 4;
    assert_int_equal(reef_mul_broadcast_s8(&mp, &b, a, a, o), REEF_ARG_ERROR);
}

/* ---- models ------------------------------------------------------------- */

static int add_tensor(reef_graph *g, const char *name, const qtensor *t, int constant)
{
    reef_error err;
    int i = reef_graph_add_tensor(g, name, REEF_INT8, t->rank, t->shape, &err);
    int64_t zp = t->zp;
    assert_true(i >= 0);
    assert_int_equal(reef_graph_set_quant(g, i, 1, &t->scale, &zp, 0, &err), 0);
    if (constant) assert_int_equal(reef_graph_set_data(g, i, t->data, (size_t)count_of(t), &err), 0);
    return i;
}

typedef struct model_case {
    int op1, op2, act1, act2, const_first, x_first;
    qtensor x, c, t, out;
} model_case;

/* t = op1(x, C) (or op1(C, x)), out = op2(t, x) (or op2(x, t)): x and C
 * broadcast into t; x broadcasts into t again in op2. */
static void rand_model_case(reef_rng *r, model_case *m)
{
    m->op1 = rand_int(r, 0, NOPS - 1), m->op2 = rand_int(r, 0, 2);
    m->act1 = m->op1 >= OP_MAX ? 0 : rand_int(r, 0, 3), m->act2 = rand_int(r, 0, 3);
    m->const_first = rand_int(r, 0, 1), m->x_first = rand_int(r, 0, 1);
    rand_shapes(r, &m->x, &m->c, &m->t);
    rand_quant(r, &m->x), rand_quant(r, &m->c), rand_quant(r, &m->t), rand_quant(r, &m->out);
    if (m->op1 >= OP_MAX) m->c.scale = m->t.scale = m->x.scale, m->c.zp = m->t.zp = m->x.zp;
    m->out.rank = m->t.rank;
    memcpy(m->out.shape, m->t.shape, sizeof m->t.shape);
    rand_fill(r, &m->x), rand_fill(r, &m->c);
    m->t.data = malloc((size_t)count_of(&m->t)), m->out.data = malloc((size_t)count_of(&m->out));
}

static void build_model(const model_case *m, reef_graph *g)
{
    reef_error err;
    reef_op_options o;
    assert_int_equal(reef_graph_init(g, "ew", &err), 0);
    int32_t x = add_tensor(g, "x", &m->x, 0), c = add_tensor(g, "c", &m->c, 1);
    int32_t t = add_tensor(g, "t", &m->t, 0), out = add_tensor(g, "out", &m->out, 0);
    int32_t in1[2] = {m->const_first ? c : x, m->const_first ? x : c};
    int32_t in2[2] = {m->x_first ? x : t, m->x_first ? t : x};
    reef_op_options_init(&o), o.activation = (reef_fused_act)m->act1;
    assert_true(reef_graph_add_op(g, op_code[m->op1], in1, 2, &t, 1, &o, &err) >= 0);
    reef_op_options_init(&o), o.activation = (reef_fused_act)m->act2;
    assert_true(reef_graph_add_op(g, op_code[m->op2], in2, 2, &out, 1, &o, &err) >= 0);
    assert_int_equal(reef_graph_set_io(g, &x, 1, &out, 1, &err), 0);
}

static void model_reference(model_case *m)
{
    ref_binary(m->op1, m->act1, m->const_first ? &m->c : &m->x, m->const_first ? &m->x : &m->c, &m->t);
    ref_binary(m->op2, m->act2, m->x_first ? &m->x : &m->t, m->x_first ? &m->t : &m->x, &m->out);
}

/* The generated C of m, compiled with the host cc, on input x: its output
 * must equal want. */
static int check_generated(const reef_lowered_model *m, const int8_t *x, const int8_t *want)
{
    const char *src = testing_source_dir();
    char dir[256], cmd[8192], path[600];
    reef_error err;
    if (!src) return 0;
    testing_tmpdir(dir, sizeof dir, "ew");
    if (reef_emit_c(m, dir, "ew", "test", &err)) fail_msg("%s", err.msg);
    snprintf(path, sizeof path, "%s/main.c", dir);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs("#include <stdio.h>\n#include \"ew.h\"\n"
          "int main(int argc, char **argv)\n{\n"
          "    static int8_t in[REEF_MODEL_INPUT_SIZE], out[REEF_MODEL_OUTPUT_SIZE];\n"
          "    FILE *f = fopen(argv[1], \"rb\");\n"
          "    if (argc < 3 || !f || fread(in, 1, sizeof in, f) != sizeof in) return 3;\n"
          "    fclose(f);\n"
          "    if (REEF_MODEL_INVOKE(in, out) != 0) return 4;\n"
          "    f = fopen(argv[2], \"wb\");\n"
          "    return f && fwrite(out, 1, sizeof out, f) == sizeof out && fclose(f) == 0 ? 0 : 5;\n}\n",
          fp);
    fclose(fp);
    if (testing_cc_generated(src, dir, "ew", cmd, sizeof cmd)) fail_msg("generated C does not compile: %s", cmd);
    snprintf(path, sizeof path, "%s/in.bin", dir);
    assert_int_equal(reef_write_file(path, x, (size_t)m->input_size, &err), 0);
    snprintf(cmd, sizeof cmd, "%s/prog %s/in.bin %s/out.bin", dir, dir, dir);
    assert_int_equal(testing_system(cmd), 0);
    snprintf(path, sizeof path, "%s/out.bin", dir);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    int8_t got[1296];
    assert_int_equal(fread(got, 1, (size_t)m->output_size, f), (size_t)m->output_size);
    fclose(f);
    assert_memory_equal(got, want, (size_t)m->output_size);
    assert_int_equal(testing_rm_tree(dir), 0);
    return 1;
}

static void test_models_random(void **state)
{
    (void)state;
    reef_rng r;
    reef_rng_seed(&r, 1616);
    int n = testing_sanitizer_run() ? 40 : 300, generated = 0, const_ops = 0;
    for (int c = 0; c < n; c++) {
        model_case m;
        reef_graph g, back;
        reef_lowered_model lm;
        reef_error err;
        rand_model_case(&r, &m);
        build_model(&m, &g);
        /* through the .tflite writer and reader */
        uint8_t *bytes;
        size_t size;
        assert_int_equal(reef_tflite_serialize(&g, &bytes, &size, &err), 0);
        if (reef_tflite_read_buffer(bytes, size, "ew.tflite", &back, &err)) fail_msg("%s", err.msg);
        if (reef_lower(&back, &lm, &err)) fail_msg("case %d (%s, %s): %s", c, op_name[m.op1], op_name[m.op2], err.msg);
        assert_int_equal(lm.nsteps, 2);
        const_ops += lm.steps[0].filter != NULL;
        model_reference(&m);
        int8_t *got = malloc((size_t)count_of(&m.out));
        assert_int_equal(reef_lowered_invoke(&lm, m.x.data, got), 0);
        if (memcmp(got, m.out.data, (size_t)count_of(&m.out)))
            fail_msg("model case %d (%s then %s): interpreter differs from the reference", c, op_name[m.op1],
                     op_name[m.op2]);
        if (c % 150 == 0 && !testing_sanitizer_run()) generated += check_generated(&lm, m.x.data, m.out.data);
        free(got), free(bytes);
        reef_lowered_free(&lm), reef_graph_free(&back), reef_graph_free(&g);
        free(m.x.data), free(m.c.data), free(m.t.data), free(m.out.data);
    }
    printf("  models: %d random 2-op graphs (writer -> reader -> lower -> interpreter) bit-exact, %d with "
           "a constant operand step; %d also as generated C (host cc)\n",
           n, const_ops, generated);
    assert_int_equal(const_ops, n);
    if (!generated && !testing_sanitizer_run()) skip(); /* no source tree: the generated C was not checked */
}

/* ---- standalone activations --------------------------------------------- */

enum { A_RELU, A_RELU_N1_TO_1, A_RELU6, A_LEAKY, NACTS };
static const int32_t act_code[NACTS] = {REEF_OP_RELU, REEF_OP_RELU_N1_TO_1, REEF_OP_RELU6, REEF_OP_LEAKY_RELU};
static const char *act_name[NACTS] = {"RELU", "RELU_N1_TO_1", "RELU6", "LEAKY_RELU"};

/* TFLite Micro's activations: RELU, RELU_N1_TO_1 requantize then clamp to
 * the output's range; RELU6 clamps the raw input to [zp_in, q_in(6)];
 * LEAKY_RELU requantizes by in/out (>= 0) or in*alpha/out (< 0). */
static void ref_activation(int kind, float alpha, const qtensor *in, qtensor *out)
{
    int32_t m_id, m_alpha, lo, hi;
    int s_id, s_alpha;
    ref_quantize_multiplier((double)in->scale / (double)out->scale, &m_id, &s_id);
    ref_quantize_multiplier((double)in->scale * (double)alpha / (double)out->scale, &m_alpha, &s_alpha);
    ref_clamp(kind == A_RELU ? REEF_ACT_RELU : kind == A_RELU_N1_TO_1 ? REEF_ACT_RELU_N1_TO_1 : 0, out, &lo, &hi);
    int32_t six = in->zp + (int32_t)roundf(6.0f / in->scale);
    six = six > 127 ? 127 : six;
    for (int32_t k = 0, n = count_of(in); k < n; k++) {
        int32_t x = in->data[k], v;
        if (kind == A_RELU6) {
            v = x < in->zp ? in->zp : x > six ? six : x;
        } else {
            int neg = x - in->zp < 0 && kind == A_LEAKY;
            v = out->zp + ref_mbqm(x - in->zp, neg ? m_alpha : m_id, neg ? s_alpha : s_id);
            v = v < lo ? lo : v > hi ? hi : v;
        }
        out->data[k] = (int8_t)v;
    }
}

static float rand_alpha(reef_rng *r)
{
    static const float edge[] = {0.0f, 0.01f, 0.2f, 1.0f, 3.5f};
    return reef_rng_below(r, 2) ? edge[reef_rng_below(r, 5)] : 2.0f * reef_rng_uniform(r);
}

/* Chains of four random activations (RELU6 keeps its input's quantization,
 * as the converter writes it) as .tflite graphs: the interpreter and, for
 * a few, the generated C against the reference. */
static void test_activations_random(void **state)
{
    (void)state;
    reef_rng r;
    reef_rng_seed(&r, 98);
    int n = testing_sanitizer_run() ? 40 : 400, generated = 0, per_kind[NACTS] = {0};
    for (int c = 0; c < n; c++) {
        qtensor t[5];
        int kind[4];
        float alpha[4];
        reef_graph g, back;
        reef_lowered_model lm;
        reef_error err;
        int32_t ids[5];
        t[0].rank = rand_int(&r, 1, 4);
        for (int i = 0; i < t[0].rank; i++) t[0].shape[i] = rand_int(&r, 1, 7);
        rand_quant(&r, &t[0]);
        rand_fill(&r, &t[0]);
        assert_int_equal(reef_graph_init(&g, "act", &err), 0);
        ids[0] = add_tensor(&g, "x", &t[0], 0);
        for (int j = 0; j < 4; j++) {
            kind[j] = rand_int(&r, 0, NACTS - 1), alpha[j] = rand_alpha(&r);
            t[j + 1] = t[j];
            if (kind[j] != A_RELU6) rand_quant(&r, &t[j + 1]);
            t[j + 1].data = malloc((size_t)count_of(&t[0]));
            char name[16];
            snprintf(name, sizeof name, "t%d", j + 1);
            ids[j + 1] = add_tensor(&g, name, &t[j + 1], 0);
            reef_op_options o;
            reef_op_options_init(&o), o.alpha = alpha[j];
            assert_true(reef_graph_add_op(&g, act_code[kind[j]], &ids[j], 1, &ids[j + 1], 1, &o, &err) >= 0);
            ref_activation(kind[j], alpha[j], &t[j], &t[j + 1]);
            per_kind[kind[j]]++;
        }
        assert_int_equal(reef_graph_set_io(&g, &ids[0], 1, &ids[4], 1, &err), 0);
        uint8_t *bytes;
        size_t size;
        assert_int_equal(reef_tflite_serialize(&g, &bytes, &size, &err), 0);
        if (reef_tflite_read_buffer(bytes, size, "act.tflite", &back, &err)) fail_msg("%s", err.msg);
        if (reef_lower(&back, &lm, &err)) fail_msg("case %d: %s", c, err.msg);
        int8_t *got = malloc((size_t)count_of(&t[0]));
        assert_int_equal(reef_lowered_invoke(&lm, t[0].data, got), 0);
        if (memcmp(got, t[4].data, (size_t)count_of(&t[0])))
            fail_msg("activation case %d (%s %s %s %s): interpreter differs from the reference", c,
                     act_name[kind[0]], act_name[kind[1]], act_name[kind[2]], act_name[kind[3]]);
        if (c % 200 == 0 && !testing_sanitizer_run()) generated += check_generated(&lm, t[0].data, t[4].data);
        free(got), free(bytes);
        reef_lowered_free(&lm), reef_graph_free(&back), reef_graph_free(&g);
        for (int j = 0; j < 5; j++) free(t[j].data);
    }
    printf("  activations: %d random 4-op chains bit-exact (RELU %d, RELU_N1_TO_1 %d, RELU6 %d, LEAKY_RELU %d "
           "ops); %d also as generated C (host cc)\n",
           n, per_kind[0], per_kind[1], per_kind[2], per_kind[3], generated);
    if (!generated && !testing_sanitizer_run()) skip();
}

/* ---- EXPAND_DIMS then PAD or PADV2 --------------------------------------- */

/* x (rank 1..3) -> EXPAND_DIMS at a random axis -> PAD (the output zero
 * point) or PADV2 (a constant in the output's quantization) with random
 * paddings; the reference pads by multi-index. */
static void test_expand_pad_random(void **state)
{
    (void)state;
    reef_rng r;
    reef_rng_seed(&r, 60);
    int n = testing_sanitizer_run() ? 30 : 200, v2 = 0;
    for (int c = 0; c < n; c++) {
        qtensor x, e, out, cv;
        reef_graph g, back;
        reef_lowered_model lm;
        reef_error err;
        x.rank = rand_int(&r, 1, 3);
        for (int i = 0; i < x.rank; i++) x.shape[i] = rand_int(&r, 1, 5);
        rand_quant(&r, &x), rand_fill(&r, &x);
        int32_t axis = rand_int(&r, 0, x.rank);
        e = x, e.rank = x.rank + 1;
        for (int i = 0, j = 0; i < e.rank; i++) e.shape[i] = i == axis ? 1 : x.shape[j++];
        int32_t pads[8];
        out = e;
        for (int i = 0; i < e.rank; i++) {
            pads[2 * i] = rand_int(&r, 0, 2), pads[2 * i + 1] = rand_int(&r, 0, 2);
            out.shape[i] = e.shape[i] + pads[2 * i] + pads[2 * i + 1];
        }
        int padv2 = rand_int(&r, 0, 1);
        int8_t value = padv2 ? (int8_t)reef_rng_u32(&r) : (int8_t)x.zp;
        v2 += padv2;
        out.data = malloc((size_t)count_of(&out));
        for (int32_t k = 0; k < count_of(&out); k++) {
            int32_t rest = k, idx[4], inside = 1, off = 0;
            for (int i = out.rank - 1; i >= 0; i--) idx[i] = rest % out.shape[i], rest /= out.shape[i];
            for (int i = 0; i < out.rank; i++) {
                int32_t j = idx[i] - pads[2 * i];
                inside &= j >= 0 && j < e.shape[i];
                off = off * e.shape[i] + j;
            }
            out.data[k] = inside ? x.data[off] : value;
        }
        assert_int_equal(reef_graph_init(&g, "pad", &err), 0);
        int32_t tx = add_tensor(&g, "x", &x, 0), te = add_tensor(&g, "e", &e, 0), to = add_tensor(&g, "out", &out, 0);
        int32_t one = 1, pshape[2] = {e.rank, 2};
        int32_t ta = reef_graph_add_tensor(&g, "axis", REEF_INT32, 1, &one, &err);
        assert_int_equal(reef_graph_set_data(&g, ta, &axis, 4, &err), 0);
        int32_t tp = reef_graph_add_tensor(&g, "pads", REEF_INT32, 2, pshape, &err);
        assert_int_equal(reef_graph_set_data(&g, tp, pads, (size_t)e.rank * 8, &err), 0);
        cv = x, cv.rank = 0, cv.data = &value;
        int32_t tc = add_tensor(&g, "value", &cv, 1);
        assert_true(reef_graph_add_op(&g, REEF_OP_EXPAND_DIMS, (int32_t[]){tx, ta}, 2, &te, 1, NULL, &err) >= 0);
        assert_true(reef_graph_add_op(&g, padv2 ? REEF_OP_PADV2 : REEF_OP_PAD, (int32_t[]){te, tp, tc},
                                      padv2 ? 3 : 2, &to, 1, NULL, &err) >= 0);
        assert_int_equal(reef_graph_set_io(&g, &tx, 1, &to, 1, &err), 0);
        uint8_t *bytes;
        size_t size;
        assert_int_equal(reef_tflite_serialize(&g, &bytes, &size, &err), 0);
        if (reef_tflite_read_buffer(bytes, size, "pad.tflite", &back, &err)) fail_msg("%s", err.msg);
        if (reef_lower(&back, &lm, &err)) fail_msg("case %d: %s", c, err.msg);
        int8_t *got = malloc((size_t)count_of(&out));
        assert_int_equal(reef_lowered_invoke(&lm, x.data, got), 0);
        if (memcmp(got, out.data, (size_t)count_of(&out)))
            fail_msg("pad case %d (%s): interpreter differs from the reference", c, padv2 ? "PADV2" : "PAD");
        free(got), free(bytes);
        reef_lowered_free(&lm), reef_graph_free(&back), reef_graph_free(&g);
        free(x.data), free(out.data);
    }
    printf("  EXPAND_DIMS + PAD/PADV2: %d random graphs bit-exact (%d PADV2 with a constant value)\n", n, v2);
}

/* What lowering refuses, with the reason. */
static void test_models_refused(void **state)
{
    (void)state;
    reef_rng r;
    reef_rng_seed(&r, 3);
    model_case m;
    reef_graph g;
    reef_lowered_model lm;
    reef_error err;
    rand_model_case(&r, &m);
    m.op1 = OP_MAX, m.act1 = 0;
    m.t.scale = m.x.scale * 2; /* MAXIMUM of differently quantized tensors */
    build_model(&m, &g);
    assert_int_not_equal(reef_lower(&g, &lm, &err), 0);
    assert_non_null(strstr(err.msg, "quantization differ"));
    reef_graph_free(&g);
    /* shapes that do not broadcast */
    m.op1 = OP_ADD, m.t.scale = m.x.scale;
    free(m.c.data);
    m.c.rank = 1, m.c.shape[0] = 7;
    rand_fill(&r, &m.c);
    build_model(&m, &g);
    assert_int_not_equal(reef_lower(&g, &lm, &err), 0);
    assert_non_null(strstr(err.msg, "broadcast"));
    reef_graph_free(&g);
    free(m.x.data), free(m.c.data), free(m.t.data), free(m.out.data);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kernels_random),
        cmocka_unit_test(test_kernels_refuse),
        cmocka_unit_test(test_models_random),
        cmocka_unit_test(test_models_refused),
        cmocka_unit_test(test_activations_random),
        cmocka_unit_test(test_expand_pad_random),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
