/* Whole models: a tiny network trained on synthetic images, quantized with
 * each calibration method and evaluated int8 against float; the .tflite
 * written and read back; the generated C compiled on the host and checked
 * byte for byte against the interpreter on every test image (also on the
 * DeepFish test split with fish-s when ../shared has it); bad input. */
#include "fixture.h"
#include "deepfish.h"

#include <math.h>

#include "codegen/emit.h"
#include "codegen/lower.h"
#include "data/prep.h"
#include "quant/quant.h"
#include "tflite/graph.h"
#include "util/io.h"

static reef_dataset train_set, test_set;
static reef_model trained;

static int setup(void **state)
{
    (void)state;
    const int big = !testing_sanitizer_run();
    // Training is the same under the sanitizers: a half-trained network
    // would make the float/int8 comparison mean little.
    fixture_dataset(&train_set, 768, 21);
    fixture_dataset(&test_set, big ? 512 : 128, 22);
    fixture_model(&trained, &train_set, 6);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    reef_model_free(&trained);
    reef_dataset_free(&train_set);
    reef_dataset_free(&test_set);
    return 0;
}

static double accuracy(const uint16_t *pred, const reef_dataset *ds)
{
    int ok = 0;
    for (uint32_t i = 0; i < ds->count; i++) ok += pred[i] == ds->labels[i];
    return (double)ok / ds->count;
}

static double float_accuracy(reef_model *m, const reef_dataset *ds)
{
    uint16_t *pred = malloc(ds->count * sizeof *pred);
    double acc = reef_evaluate(m, ds, pred, NULL);
    assert_float_equal(acc, accuracy(pred, ds), 1e-12);
    free(pred);
    return acc;
}

/* Quantized with each method: int8 test accuracy within 2 points of float,
 * and int8 agrees with float on nearly every calibration sample. */
static void test_methods_accuracy(void **state)
{
    (void)state;
    const double facc = float_accuracy(&trained, &test_set);
    printf("  float test accuracy %.4f (%u synthetic images)\n", facc, test_set.count);
    assert_true(facc > 0.75);  // it learned the task (chance is 0.5) without being perfect: the comparison means something
    for (int method = 0; method < 3; method++) {
        reef_quant_options o;
        reef_quant_options_default(&o);
        o.method = (reef_calib_method)method;
        o.samples = 200;
        reef_graph g;
        reef_quant_report rep;
        reef_error err;
        if (reef_quantize(&trained, &train_set, &o, &g, &rep, &err)) fail_msg("%s", err.msg);
        uint16_t *pred = malloc(test_set.count * sizeof *pred);
        if (reef_int8_predict(&g, &test_set, NULL, 0, pred, &err)) fail_msg("%s", err.msg);
        const double qacc = accuracy(pred, &test_set);
        printf("  %-10s int8 test accuracy %.4f (drop %+.2f points); calibration: %d samples, agreement %.4f, "
               "%lld weight bytes, %d layers\n",
               reef_calib_method_name(o.method), qacc, 100 * (facc - qacc), rep.samples, rep.agreement,
               (long long)rep.weight_bytes, rep.nlayers);
        assert_int_equal(rep.samples, 200);
        assert_int_equal(rep.samples_compared, 200);
        assert_true(rep.agreement >= 0.97);
        assert_true(fabs(qacc - facc) <= 0.02);
        assert_true(rep.input_exact);
        free(pred);
        reef_quant_report_free(&rep);
        reef_graph_free(&g);
    }
}

static const reef_tensor *find_tensor(const reef_graph *g, const char *name)
{
    for (int i = 0; i < g->ntensors; i++)
        if (!strcmp(g->tensors[i].name, name)) return &g->tensors[i];
    fail_msg("no tensor '%s'", name);
    return NULL;
}

/* What the graph holds: ops in order, per-channel filters, biases of scale
 * input * weight, the fixed softmax output; written, read back, and the
 * read-back model predicts the same. */
static void test_graph_contents(void **state)
{
    (void)state;
    reef_quant_options o;
    reef_quant_options_default(&o);
    o.samples = 100;
    o.agreement = 0;
    reef_graph g, back;
    reef_quant_report rep;
    reef_error err;
    if (reef_quantize(&trained, &train_set, &o, &g, &rep, &err)) fail_msg("%s", err.msg);
    assert_string_equal(g.name, "tiny_q");
    assert_non_null(strstr(g.description, "reef-norm mean="));
    static const int32_t want_ops[] = {
        REEF_OP_CONV_2D,                                                         /* stem */
        REEF_OP_CONV_2D, REEF_OP_DEPTHWISE_CONV_2D, REEF_OP_CONV_2D, REEF_OP_ADD, /* mbconv skip */
        REEF_OP_AVERAGE_POOL_2D,                                                 /* avgpool */
        REEF_OP_CONV_2D, REEF_OP_DEPTHWISE_CONV_2D, REEF_OP_CONV_2D,             /* mbconv s2 */
        REEF_OP_CONV_2D,                                                         /* head */
        REEF_OP_AVERAGE_POOL_2D,                                                 /* gap */
        REEF_OP_FULLY_CONNECTED, REEF_OP_SOFTMAX};
    const int nops = (int)(sizeof want_ops / sizeof want_ops[0]);
    assert_int_equal(g.nops, nops);
    for (int i = 0; i < nops; i++) assert_int_equal(g.ops[i].builtin, want_ops[i]);
    assert_int_equal(g.ops[0].opt.activation, REEF_ACT_RELU6);
    assert_int_equal(g.ops[3].opt.activation, REEF_ACT_NONE);  // projection
    assert_int_equal(g.ops[10].opt.filter_h, 4);               // gap over 4x4
    // stem filter: per channel along dimension 0; depthwise along 3; fc per tensor
    const reef_tensor *sw = find_tensor(&g, "b0.l0.w"), *dw = find_tensor(&g, "b1.l1.w");
    const reef_tensor *fw = find_tensor(&g, "b7.l0.w"), *sb = find_tensor(&g, "b0.l0.b");
    assert_int_equal(sw->nquant, 8);
    assert_int_equal(sw->quant_dim, 0);
    assert_int_equal(dw->nquant, 16);
    assert_int_equal(dw->quant_dim, 3);
    assert_int_equal(fw->nquant, 1);
    const reef_tensor *in = find_tensor(&g, "input");
    for (int c = 0; c < 8; c++) {
        assert_float_equal(sb->scale[c], in->scale[0] * sw->scale[c], 1e-12);
        assert_int_equal(sb->zero_point[c], 0);
        assert_int_equal(sw->zero_point[c], 0);
        // the largest weight of each channel is +-127
        int big = 0;
        for (int k = 0; k < 9; k++) {
            int v = abs((int)(int8_t)sw->data[c * 9 + k]);
            if (v > big) big = v;
        }
        assert_int_equal(big, 127);
    }
    // the input: q = pixel - 128 for this normalization
    assert_float_equal(in->scale[0], 1.0f / (255.0f * trained.norm.std[0]), 1e-9);
    assert_int_equal(in->zero_point[0], (int)lround(255.0 * trained.norm.mean[0] - 128.0));
    const reef_tensor *probs = &g.tensors[g.outputs[0]];
    assert_float_equal(probs->scale[0], 1.0f / 256.0f, 0);
    assert_int_equal(probs->zero_point[0], -128);
    // report rows: one per op output
    assert_int_equal(rep.nlayers, nops);
    assert_string_equal(rep.layers[4].op, "ADD");
    assert_true(rep.layers[0].min >= 0.0f && rep.layers[0].max <= 6.0f);  // ReLU6 output
    assert_true(rep.weight_bytes > 0 && rep.weight_bytes == (int64_t)reef_graph_param_bytes(&g));

    char dir[256], path[300];
    testing_tmpdir(dir, sizeof dir, "quant-rt");
    snprintf(path, sizeof path, "%s/tiny.tflite", dir);
    if (reef_tflite_write(path, &g, &err)) fail_msg("%s", err.msg);
    if (reef_tflite_read(path, &back, &err)) fail_msg("%s", err.msg);
    assert_int_equal(back.nops, g.nops);
    assert_int_equal(back.ntensors, g.ntensors);
    assert_string_equal(back.description, g.description);
    // the converter's int8 op versions survive the file
    assert_int_equal(back.ops[0].version, 3);   // CONV_2D
    assert_int_equal(back.ops[2].version, 3);   // DEPTHWISE_CONV_2D
    assert_int_equal(back.ops[4].version, 2);   // ADD
    assert_int_equal(back.ops[11].version, 4);  // FULLY_CONNECTED
    assert_int_equal(back.ops[12].version, 2);  // SOFTMAX
    uint16_t *p1 = malloc(test_set.count * 2), *p2 = malloc(test_set.count * 2);
    if (reef_int8_predict(&g, &test_set, NULL, 0, p1, &err) || reef_int8_predict(&back, &test_set, NULL, 0, p2, &err))
        fail_msg("%s", err.msg);
    assert_memory_equal(p1, p2, test_set.count * 2);
    reef_input_map map;
    assert_int_equal(reef_input_map_from_graph(&back, &map, &err), 0);
    assert_true(map.exact);
    free(p1), free(p2);
    unlink(path);
    rmdir(dir);
    reef_graph_free(&back);
    reef_graph_free(&g);
    reef_quant_report_free(&rep);
}

/* A dataset that does not fit: refused with both shapes, g left empty. */
static void test_bad_input(void **state)
{
    (void)state;
    reef_dataset other;
    fixture_dataset(&other, 8, 1);
    other.height = other.width = 4;  // pretend 4x4 images
    reef_quant_options o;
    reef_quant_options_default(&o);
    reef_graph g;
    reef_quant_report rep;
    reef_error err;
    assert_int_equal(reef_quantize(&trained, &other, &o, &g, &rep, &err), -1);
    printf("  %s\n", err.msg);
    assert_non_null(strstr(err.msg, "4x4x1"));
    assert_non_null(strstr(err.msg, "16x16x1"));
    assert_int_equal(g.nops, 0);
    assert_null(rep.layers);
    o.method = REEF_CALIB_PERCENTILE, o.percentile = 30;
    assert_int_equal(reef_quantize(&trained, &train_set, &o, &g, NULL, &err), -1);
    assert_non_null(strstr(err.msg, "percentile"));
    // int8 predictions refuse it too
    reef_quant_options_default(&o);
    o.samples = 50, o.agreement = 0;
    if (reef_quantize(&trained, &train_set, &o, &g, NULL, &err)) fail_msg("%s", err.msg);
    uint16_t pred[8];
    assert_int_equal(reef_int8_predict(&g, &other, NULL, 0, pred, &err), -1);
    assert_non_null(strstr(err.msg, "4x4x1"));
    reef_graph_free(&g);
    reef_dataset_free(&other);
}

/* ---- the generated C against the interpreter ----------------------------------------- */

/* A harness main: reads N inputs back to back from argv[1], writes N outputs
 * to argv[2]. */
static void write_main(const char *dir, const char *name)
{
    char path[600];
    snprintf(path, sizeof path, "%s/main.c", dir);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fprintf(fp,
            "#include <stdio.h>\n#include \"%s.h\"\n"
            "int main(int argc, char **argv)\n{\n"
            "    static int8_t in[REEF_MODEL_INPUT_SIZE], out[REEF_MODEL_OUTPUT_SIZE];\n"
            "    FILE *fi, *fo;\n"
            "    if (argc != 3 || !(fi = fopen(argv[1], \"rb\")) || !(fo = fopen(argv[2], \"wb\"))) return 2;\n"
            "    while (fread(in, 1, sizeof in, fi) == sizeof in) {\n"
            "        if (REEF_MODEL_INVOKE(in, out) != 0) return 4;\n"
            "        if (fwrite(out, 1, sizeof out, fo) != sizeof out) return 5;\n"
            "    }\n"
            "    fclose(fi);\n"
            "    return fclose(fo) ? 6 : 0;\n}\n",
            name);
    fclose(fp);
}

/* Emits g as C, compiles it with the runtime and the harness, runs it on
 * every sample of ds (through the input map) and compares every output
 * byte with the host interpreter's. */
static void check_generated_c(const reef_graph *g, const reef_dataset *ds, uint32_t count, const char *what)
{
    const char *src = testing_source_dir();
    if (!src) skip();
    reef_lowered_model lm;
    reef_input_map map;
    reef_error err;
    if (reef_lower(g, &lm, &err) || reef_input_map_from_graph(g, &map, &err)) fail_msg("%s", err.msg);
    char dir[256], cmd[4096], path[600];
    testing_tmpdir(dir, sizeof dir, "quant-gen");
    if (reef_emit_c(&lm, dir, g->name, what, &err)) fail_msg("%s", err.msg);
    write_main(dir, g->name);
    const size_t ss = reef_dataset_sample_size(ds), os = (size_t)lm.output_size;
    int8_t *inputs = malloc(count * ss), *want = malloc(count * os);
    for (uint32_t i = 0; i < count; i++) {
        reef_input_map_apply(&map, reef_dataset_sample(ds, i), ss, inputs + i * ss);
        assert_int_equal(reef_lowered_invoke(&lm, inputs + i * ss, want + i * os), 0);
    }
    snprintf(path, sizeof path, "%s/inputs.bin", dir);
    if (reef_write_file(path, inputs, count * ss, &err)) fail_msg("%s", err.msg);
    if (testing_cc_generated(src, dir, g->name, cmd, sizeof cmd))
        fail_msg("%s: the generated C does not build: %s", what, cmd);
    snprintf(cmd, sizeof cmd, "%s/prog %s/inputs.bin %s/outputs.bin", dir, dir, dir);
    if (testing_system(cmd)) fail_msg("%s: the generated C does not run: %s", what, cmd);
    snprintf(path, sizeof path, "%s/outputs.bin", dir);
    uint8_t *got;
    size_t got_size;
    if (reef_read_file(path, &got, &got_size, &err)) fail_msg("%s", err.msg);
    assert_int_equal(got_size, count * os);
    int bad = 0;
    for (uint32_t i = 0; i < count; i++)
        if (memcmp(got + i * os, want + i * os, os)) {
            if (bad++ < 5) printf("  %s: sample %u differs (first byte %d vs %d)\n", what, i, (int8_t)got[i * os], want[i * os]);
        }
    printf("  %s: generated C vs interpreter on %u images x %zu outputs: %s\n", what, count, os,
           bad ? "DIFFERENT" : "identical");
    assert_int_equal(bad, 0);
    free(inputs), free(want), free(got);
    assert_int_equal(testing_rm_tree(dir), 0);
    reef_lowered_free(&lm);
}

static void test_generated_c_synthetic(void **state)
{
    (void)state;
    reef_quant_options o;
    reef_quant_options_default(&o);
    o.samples = 100, o.agreement = 0;
    reef_graph g;
    reef_error err;
    if (reef_quantize(&trained, &train_set, &o, &g, NULL, &err)) fail_msg("%s", err.msg);
    check_generated_c(&g, &test_set, test_set.count, "tiny-q synthetic");
    reef_graph_free(&g);
}

/* fish-s on the DeepFish test split: trained briefly here (bit-exactness
 * does not need a good model), quantized, and its generated C checked on
 * every test image. Under the sanitizers (10x slower) on every 10th row
 * of the train and test splits. */
static void test_generated_c_deepfish(void **state)
{
    (void)state;
    char subset[256];
    reef_dataset train, test;
    deepfish_splits("quant-deepfish", subset, sizeof subset, &train, &test);
    reef_model m;
    trained_fish_s(&m, &train, 1);
    reef_error err;
    reef_quant_options o;
    reef_quant_options_default(&o);
    o.threads = 2;
    reef_graph g;
    reef_quant_report rep;
    if (reef_quantize(&m, &train, &o, &g, &rep, &err)) fail_msg("%s", err.msg);
    printf("  fish-s after 1 epoch: calibration agreement float/int8 %.4f on %d samples\n", rep.agreement,
           rep.samples);
    check_generated_c(&g, &test, test.count, "fish-s DeepFish test");
    reef_quant_report_free(&rep);
    reef_graph_free(&g);
    reef_model_free(&m);
    reef_dataset_free(&train);
    reef_dataset_free(&test);
    if (*subset) assert_int_equal(testing_rm_tree(subset), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_methods_accuracy),     cmocka_unit_test(test_graph_contents),
        cmocka_unit_test(test_bad_input),            cmocka_unit_test(test_generated_c_synthetic),
        cmocka_unit_test(test_generated_c_deepfish),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
