/* Float inputs and outputs around an int8 body (issue 6): the QUANTIZE,
 * DEQUANTIZE and int8 requantize kernels against independent references
 * (libm roundf, double arithmetic), then float32 -> QUANTIZE -> the small
 * int8 model -> DEQUANTIZE -> float32 written to .tflite, read back,
 * lowered and run by the interpreter, the generated C and `reef infer`,
 * each bit for bit equal to reference QUANTIZE + the int8 body run alone
 * + reference DEQUANTIZE. */
#include <float.h>
#include <math.h>
#include <unistd.h>

#include "codegen/emit.h"
#include "codegen/lower.h"
#include "reef/quantize.h"
#include "small_model.h"
#include "util/io.h"

/* ---- references --------------------------------------------------------- */

/* TFLite's AffineQuantize: float32 division, std::round, clamp. */
static int8_t ref_quantize(float x, float scale, int32_t zp)
{
    if (isnan(x)) return (int8_t)zp; /* reef's documented choice */
    float v = roundf(x / scale);
    if (v > 1000.0f) return 127;
    if (v < -1000.0f) return -128;
    int32_t q = (int32_t)v + zp;
    return (int8_t)(q < -128 ? -128 : q > 127 ? 127 : q);
}

/* TFLite's Dequantize: double scale times the integer, rounded to float. */
static float ref_dequantize(int8_t q, float scale, int32_t zp)
{
    return (float)((double)scale * (double)((int32_t)q - zp));
}

/* ---- kernels ------------------------------------------------------------ */

static void test_quantize_ties_and_saturation(void **state)
{
    (void)state;
    /* scale 0.5: x / scale is exact, so these are true ties; ties go away
     * from zero (banker's rounding would give 0, 0, 2, -2, 2, -2). */
    const float x[] = {0.25f, -0.25f, 0.75f, -0.75f, 1.25f, -1.25f, 0.0f, -0.0f, 1000.0f, -1000.0f};
    const int8_t want[] = {1, -1, 2, -2, 3, -3, 0, 0, 127, -128};
    int8_t got[10];
    assert_int_equal(reef_quantize_f32_s8(x, 10, 0.5f, 0, got), REEF_OK);
    assert_memory_equal(got, want, sizeof want);
    /* With zero point -2: saturation happens after adding it (x / 0.5 =
     * 128, 129, 129.5, -125, -125.5, -126.5). */
    const float y[] = {64.0f, 64.5f, 64.75f, -62.5f, -62.75f, -63.25f};
    assert_int_equal(reef_quantize_f32_s8(y, 6, 0.5f, -2, got), REEF_OK);
    assert_memory_equal(got, ((int8_t[]){126, 127, 127, -127, -128, -128}), 6);
    /* The largest float below 0.5 rounds to 0 (x + 0.5f would give 1). */
    const float below = 0.49999997f;
    assert_int_equal(reef_quantize_f32_s8(&below, 1, 1.0f, 0, got), REEF_OK);
    assert_int_equal(got[0], 0);
}

static void test_quantize_extremes(void **state)
{
    (void)state;
    const float x[] = {FLT_MAX, -FLT_MAX, INFINITY, -INFINITY, FLT_MIN, -FLT_MIN, 1e-45f, -1e-45f,
                       16777216.0f, -16777216.0f, 2147483648.0f, -2147483648.0f, NAN};
    const int n = (int)(sizeof x / sizeof x[0]);
    int8_t got[16];
    for (int zp = -128; zp <= 127; zp += 51) {
        assert_int_equal(reef_quantize_f32_s8(x, n, 0.003f, zp, got), REEF_OK);
        for (int i = 0; i < n; i++) assert_int_equal(got[i], ref_quantize(x[i], 0.003f, zp));
        assert_int_equal(got[0], 127), assert_int_equal(got[1], -128), assert_int_equal(got[12], zp);
    }
    /* Bad args are refused. */
    assert_int_equal(reef_quantize_f32_s8(x, 1, 0.0f, 0, got), REEF_ARG_ERROR);
    assert_int_equal(reef_quantize_f32_s8(x, 1, 1.0f, 128, got), REEF_ARG_ERROR);
}

/* Random values and exact ties (k + 0.5) * scale for power-of-two and
 * other scales, against roundf. */
static void test_quantize_sweep(void **state)
{
    (void)state;
    const float scales[] = {0.25f, 1.0f / 128, 0.05f, 0.0039215689f, 3.7f};
    const int32_t zps[] = {0, -128, 3, 127, -17};
    enum { N = 4096 };
    static float x[N];
    static int8_t got[N];
    reef_rng r;
    reef_rng_seed(&r, 11);
    for (int s = 0; s < 5; s++) {
        for (int i = 0; i < N; i++) {
            float k = (float)((int)reef_rng_below(&r, 400) - 200);
            x[i] = i % 2 ? (k + 0.5f) * scales[s]
                         : (float)((double)reef_rng_below(&r, 1u << 30) / (1u << 30) - 0.5) * 600.0f * scales[s];
        }
        assert_int_equal(reef_quantize_f32_s8(x, N, scales[s], zps[s], got), REEF_OK);
        for (int i = 0; i < N; i++)
            if (got[i] != ref_quantize(x[i], scales[s], zps[s]))
                fail_msg("quantize(%.9g, scale %.9g, zp %d) = %d, want %d", (double)x[i], (double)scales[s],
                         zps[s], got[i], ref_quantize(x[i], scales[s], zps[s]));
    }
}

static void test_dequantize_all_values(void **state)
{
    (void)state;
    const float scales[] = {0.05f, 1.0f / 256, 0.0039215689f, 123.456f, 1e-30f};
    int8_t q[256];
    float got[256];
    for (int i = 0; i < 256; i++) q[i] = (int8_t)(i - 128);
    for (int s = 0; s < 5; s++)
        for (int zp = -128; zp <= 127; zp += 17) {
            assert_int_equal(reef_dequantize_s8_f32(q, 256, scales[s], zp, got), REEF_OK);
            for (int i = 0; i < 256; i++) {
                float want = ref_dequantize(q[i], scales[s], zp);
                if (memcmp(&got[i], &want, 4))
                    fail_msg("dequantize(%d, %.9g, %d) = %.9g, want %.9g", q[i], (double)scales[s], zp,
                             (double)got[i], (double)want);
            }
        }
}

static void test_requantize(void **state)
{
    (void)state;
    int8_t q[256], got[256];
    for (int i = 0; i < 256; i++) q[i] = (int8_t)(i - 128);
    /* in scale = 2 x out scale: multiplier 2^30, shift 2 is exactly x 2. */
    assert_int_equal(reef_requantize_tensor_s8(q, 256, -5, 1 << 30, 2, 7, got), REEF_OK);
    for (int i = 0; i < 256; i++) {
        int32_t want = 2 * (q[i] - 5) + 7;
        assert_int_equal(got[i], want < -128 ? -128 : want > 127 ? 127 : want);
    }
    /* Equal scales, zero point moved by 10. */
    assert_int_equal(reef_requantize_tensor_s8(q, 256, 0, 1 << 30, 1, 10, got), REEF_OK);
    for (int i = 0; i < 256; i++) assert_int_equal(got[i], q[i] + 10 > 127 ? 127 : q[i] + 10);
}

/* ---- the graph ---------------------------------------------------------- */

static int add_float(reef_graph *g, const char *name, int rank, const int32_t *shape)
{
    reef_error err;
    int t = reef_graph_add_tensor(g, name, REEF_FLOAT32, rank, shape, &err);
    assert_true(t >= 0);
    return t;
}

/* The small model with a float32 input quantized into its int8 input and
 * its int8 output dequantized into a float32 output. */
static void build_qdq(reef_graph *g)
{
    reef_error err;
    build_small(g, 0);
    int32_t in8 = g->inputs[0], out8 = g->outputs[0];
    int32_t in_f = add_float(g, "input_f", 4, (int32_t[]){1, 8, 8, 2});
    int32_t out_f = add_float(g, "probs_f", 2, (int32_t[]){1, 5});
    add_op(g, REEF_OP_QUANTIZE, &in_f, 1, in8, NULL);
    add_op(g, REEF_OP_DEQUANTIZE, &out8, 1, out_f, NULL);
    /* QUANTIZE runs first: rotate it from the end to the front. */
    reef_op quantize = g->ops[g->nops - 2];
    memmove(&g->ops[1], &g->ops[0], (size_t)(g->nops - 2) * sizeof *g->ops);
    g->ops[0] = quantize;
    assert_int_equal(reef_graph_set_io(g, &in_f, 1, &out_f, 1, &err), 0);
}

typedef struct qdq_fixture {
    char dir[256], path[600];
    reef_lowered_model body; /* the int8 small model alone */
    reef_lowered_model qdq;  /* read back from dir/qdq.tflite */
    float in[128];           /* (1, 8, 8, 2) */
    float want[5];           /* (1, 5) */
} qdq_fixture;

/* Inputs covering the int8 range and beyond, with exact-tie values. */
static void make_input(float *x, int n)
{
    reef_rng r;
    reef_rng_seed(&r, 5);
    for (int i = 0; i < n; i++) {
        int k = (int)reef_rng_below(&r, 300) - 150;
        x[i] = i % 3 == 0 ? ((float)k + 0.5f) * 0.05f : (float)k * 0.0437f;
    }
}

static int setup_qdq(void **state)
{
    qdq_fixture *f = calloc(1, sizeof *f);
    reef_graph g, small, back;
    reef_error err;
    testing_tmpdir(f->dir, sizeof f->dir, "qdq");
    snprintf(f->path, sizeof f->path, "%s/qdq.tflite", f->dir);
    build_qdq(&g);
    if (reef_tflite_write(f->path, &g, &err)) fail_msg("%s", err.msg);
    reef_graph_free(&g);
    if (reef_tflite_read(f->path, &back, &err)) fail_msg("%s", err.msg);
    if (reef_lower(&back, &f->qdq, &err)) fail_msg("%s", err.msg);
    reef_graph_free(&back);
    build_small(&small, 0);
    if (reef_lower(&small, &f->body, &err)) fail_msg("%s", err.msg);
    reef_graph_free(&small);

    /* The reference: QUANTIZE by hand, the int8 body, DEQUANTIZE by hand. */
    int8_t q[128], y[5];
    make_input(f->in, 128);
    for (int i = 0; i < 128; i++) q[i] = ref_quantize(f->in[i], 0.05f, 3);
    assert_int_equal(reef_lowered_invoke(&f->body, q, y), 0);
    for (int i = 0; i < 5; i++) f->want[i] = ref_dequantize(y[i], 1.0f / 256, -128);
    *state = f;
    return 0;
}

static int teardown_qdq(void **state)
{
    qdq_fixture *f = *state;
    reef_lowered_free(&f->body);
    reef_lowered_free(&f->qdq);
    testing_rm_tree(f->dir);
    free(f);
    return 0;
}

static void test_interpreter(void **state)
{
    qdq_fixture *f = *state;
    reef_lowered_model *m = &f->qdq;
    assert_int_equal(m->input_type, REEF_FLOAT32), assert_int_equal(m->output_type, REEF_FLOAT32);
    assert_int_equal(m->input_size, 128), assert_int_equal(m->input_bytes, 512);
    assert_int_equal(m->output_size, 5), assert_int_equal(m->output_bytes, 20);
    assert_int_equal(m->nsteps, f->body.nsteps + 2);
    assert_int_equal(m->steps[0].kind, REEF_STEP_QUANTIZE);
    assert_int_equal(m->steps[m->nsteps - 1].kind, REEF_STEP_DEQUANTIZE);
    /* The planner gives float tensors 4 bytes per element, word aligned. */
    assert_int_equal(m->tensor_bytes[m->input_tensor], 512);
    assert_int_equal(m->tensor_bytes[m->output_tensor], 20);
    assert_int_equal(m->input_at % 4, 0), assert_int_equal(m->output_at % 4, 0);
    assert_true(m->arena_size >= 512 + 128); /* float input and its int8 copy are live together */

    float out[5];
    assert_int_equal(reef_lowered_invoke_bytes(m, m->arena, f->in, out), 0);
    assert_memory_equal(out, f->want, sizeof out);
    /* The int8 entry point refuses float I/O instead of overrunning. */
    int8_t in8[128] = {0}, out8[5];
    assert_int_equal(reef_lowered_invoke(m, in8, out8), -1);
    /* The values are probabilities: the float output is really dequantized. */
    float sum = 0;
    for (int i = 0; i < 5; i++) sum += out[i];
    assert_true(sum > 0.9f && sum < 1.1f);
}

static void write_main(const char *dir, const char *name)
{
    char path[600];
    snprintf(path, sizeof path, "%s/main.c", dir);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fprintf(fp,
            "#include <stdio.h>\n#include \"%s.h\"\n"
            "int main(int argc, char **argv)\n{\n"
            "    static QDQ_INPUT_TYPE in[QDQ_INPUT_SIZE];\n"
            "    static QDQ_OUTPUT_TYPE out[QDQ_OUTPUT_SIZE];\n"
            "    FILE *f;\n"
            "    if (argc != 3 || !(f = fopen(argv[1], \"rb\")) || fread(in, 1, sizeof in, f) != sizeof in) "
            "return 3;\n"
            "    fclose(f);\n"
            "    if (%s_invoke(in, out) != 0) return 4;\n"
            "    if (!(f = fopen(argv[2], \"wb\")) || fwrite(out, 1, sizeof out, f) != sizeof out) return 5;\n"
            "    return fclose(f) ? 6 : 0;\n}\n",
            name, name);
    fclose(fp);
}

static void test_generated_c(void **state)
{
    qdq_fixture *f = *state;
    const char *src = testing_source_dir();
    char cmd[8192], path[600];
    reef_error err;
    if (!src) skip();
    if (reef_emit_c(&f->qdq, f->dir, "qdq", "test", &err)) fail_msg("%s", err.msg);
    write_main(f->dir, "qdq");
    snprintf(path, sizeof path, "%s/in.bin", f->dir);
    assert_int_equal(reef_write_file(path, f->in, sizeof f->in, &err), 0);
    if (testing_cc_generated(src, f->dir, "qdq", cmd, sizeof cmd)) fail_msg("does not compile: %s", cmd);
    snprintf(cmd, sizeof cmd, "%s/prog %s/in.bin %s/out.bin", f->dir, f->dir, f->dir);
    assert_int_equal(testing_system(cmd), 0);
    snprintf(path, sizeof path, "%s/out.bin", f->dir);
    uint8_t *got;
    size_t size;
    assert_int_equal(reef_read_file(path, &got, &size, &err), 0);
    assert_int_equal(size, sizeof f->want);
    assert_memory_equal(got, f->want, sizeof f->want);
    free(got);
    /* The header says what the caller passes. */
    snprintf(cmd, sizeof cmd, "grep -q 'int qdq_invoke(const float \\*in, float \\*out);' %s/qdq.h", f->dir);
    assert_int_equal(testing_system(cmd), 0);
    /* And for the Cortex-M4 (single-precision FPU), with the kernels. */
    if (testing_system("command -v arm-none-eabi-gcc >/dev/null 2>&1") == 0) {
        snprintf(cmd, sizeof cmd,
                 "arm-none-eabi-gcc -std=c99 -pedantic -Wall -Wextra -Wdouble-promotion -Werror -O2 "
                 "-mcpu=cortex-m4 -mthumb -mfpu=fpv4-sp-d16 -mfloat-abi=hard -c -I%s/runtime/include -I%s "
                 "-o %s/qdq_m4.o %s/qdq.c && arm-none-eabi-gcc -std=c99 -pedantic -Wall -Wextra -Wdouble-promotion "
                 "-Werror -O2 -mcpu=cortex-m4 -mthumb -mfpu=fpv4-sp-d16 -mfloat-abi=hard -c -I%s/runtime/include "
                 "-o %s/quantize_m4.o %s/runtime/src/quantize.c",
                 src, f->dir, f->dir, f->dir, src, f->dir, src);
        assert_int_equal(testing_system(cmd), 0);
    }
}

static void test_reef_infer(void **state)
{
    qdq_fixture *f = *state;
    const char *bin = testing_reef_bin();
    char cmd[4096], out[4096], path[600];
    reef_error err;
    if (!bin) skip();
    snprintf(path, sizeof path, "%s/in.bin", f->dir);
    assert_int_equal(reef_write_file(path, f->in, sizeof f->in, &err), 0);
    snprintf(cmd, sizeof cmd, "%s infer --model %s --input %s -o %s/infer.bin --json", bin, f->path, path,
             f->dir);
    assert_int_equal(testing_run(cmd, out, sizeof out), 0);
    assert_non_null(strstr(out, "\"output_type\":\"float32\""));
    snprintf(path, sizeof path, "%s/infer.bin", f->dir);
    uint8_t *got;
    size_t size;
    assert_int_equal(reef_read_file(path, &got, &size, &err), 0);
    assert_int_equal(size, sizeof f->want);
    assert_memory_equal(got, f->want, sizeof f->want);
    free(got);
    /* An input of int8 size (128 bytes) is refused, naming the float size. */
    snprintf(cmd, sizeof cmd, "head -c 128 %s/in.bin > %s/short.bin && %s infer --model %s --input %s/short.bin "
             "-o %s/bad.bin", f->dir, f->dir, bin, f->path, f->dir, f->dir);
    assert_int_equal(testing_run(cmd, out, sizeof out), 1);
    assert_non_null(strstr(out, "128 float32 values (512 bytes)"));
    snprintf(path, sizeof path, "%s/bad.bin", f->dir);
    assert_int_equal(access(path, F_OK), -1);
    snprintf(cmd, sizeof cmd, "%s infer --model %s --input %s/in.bin -o %s/infer2.bin", bin, f->path, f->dir,
             f->dir);
    assert_int_equal(testing_run(cmd, out, sizeof out), 0);
    printf("%s", out);
    assert_non_null(strstr(out, "5 float32 outputs"));
    /* On the emulated M4 (QUANTIZE and DEQUANTIZE in firmware, single-precision
     * FPU): the same float32 bytes as the host. */
    if (!testing_sanitizer_run() && testing_have_arm_tools()) {
        snprintf(cmd, sizeof cmd, "%s infer --model %s --input %s/in.bin -o %s/m4.bin --target qemu-m4", bin, f->path,
                 f->dir, f->dir);
        assert_int_equal(testing_run(cmd, out, sizeof out), 0);
        printf("%s", out);
        snprintf(path, sizeof path, "%s/m4.bin", f->dir);
        assert_int_equal(reef_read_file(path, &got, &size, &err), 0);
        assert_int_equal(size, sizeof f->want);
        assert_memory_equal(got, f->want, sizeof f->want);
        free(got);
    }
    /* reef gen takes the model too, and says its I/O is float32. */
    snprintf(cmd, sizeof cmd, "%s gen --model %s -o %s/gen && grep -q 'Input 1x8x8x2 float32, output 1x5 float32' %s/gen/qdq.h",
             bin, f->path, f->dir, f->dir);
    assert_int_equal(testing_run(cmd, out, sizeof out), 0);
}

/* QUANTIZE int8 -> int8 lowers to a requantize step; a QUANTIZE into a
 * float tensor is refused with a clear reason. */
static void test_lower_requantize_and_refusals(void **state)
{
    (void)state;
    reef_graph g;
    reef_lowered_model m;
    reef_error err;
    assert_int_equal(reef_graph_init(&g, "rq", &err), 0);
    int32_t a = add_act(&g, "a", 1, 4, 0, 0, 0.1f, -5), b = add_act(&g, "b", 1, 4, 0, 0, 0.05f, 7);
    add_op(&g, REEF_OP_QUANTIZE, &a, 1, b, NULL);
    assert_int_equal(reef_graph_set_io(&g, &a, 1, &b, 1, &err), 0);
    if (reef_lower(&g, &m, &err)) fail_msg("%s", err.msg);
    assert_int_equal(m.steps[0].kind, REEF_STEP_REQUANTIZE);
    int8_t in[4] = {-128, -5, 0, 127}, out[4];
    assert_int_equal(reef_lowered_invoke(&m, in, out), 0);
    assert_memory_equal(out, ((int8_t[]){-128, 7, 17, 127}), 4); /* 2 * (q + 5) + 7, saturated */
    reef_lowered_free(&m);
    reef_graph_free(&g);

    assert_int_equal(reef_graph_init(&g, "bad", &err), 0);
    int32_t x = add_float(&g, "x", 2, (int32_t[]){1, 4}), y = add_float(&g, "y", 2, (int32_t[]){1, 4});
    add_op(&g, REEF_OP_QUANTIZE, &x, 1, y, NULL);
    assert_int_equal(reef_graph_set_io(&g, &x, 1, &y, 1, &err), 0);
    assert_int_equal(reef_lower(&g, &m, &err), -1);
    assert_non_null(strstr(err.msg, "QUANTIZE"));
    assert_non_null(strstr(err.msg, "'y' is float32, not INT8"));
    reef_graph_free(&g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quantize_ties_and_saturation),
        cmocka_unit_test(test_quantize_extremes),
        cmocka_unit_test(test_quantize_sweep),
        cmocka_unit_test(test_dequantize_all_values),
        cmocka_unit_test(test_requantize),
        cmocka_unit_test(test_lower_requantize_and_refusals),
        cmocka_unit_test_setup_teardown(test_interpreter, setup_qdq, teardown_qdq),
        cmocka_unit_test_setup_teardown(test_generated_c, setup_qdq, teardown_qdq),
        cmocka_unit_test_setup_teardown(test_reef_infer, setup_qdq, teardown_qdq),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
