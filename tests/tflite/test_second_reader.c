/* A second, independent reader of the .tflite files reef writes (issue 17):
 * Arm NN's TfLiteParser with its CpuRef reference backend (Debian 12's
 * python3-pyarmnn, libarmnn-cpuref-backend22; tests/tflite/second_reader.py)
 * reads them and runs them. Checked:
 *  - the four MLPerf Tiny models, read and written again by reef: Arm NN
 *    sees the input and output shapes, scales and zero points reef has,
 *    and on TFLite Micro's shared vectors plus random inputs its outputs
 *    give the same class as reef's (the int8 interpreter, bit-exact with
 *    TFLite Micro) on every input, within a few LSB;
 *  - a network reef quantized itself (fish-nas, random weights, calibrated
 *    on random pictures): cut after each of its ops, Arm NN's tensor and
 *    reef's agree within 1 LSB (Arm NN's reference kernels requantize in
 *    float, TFLite's in fixed point: they may round one step apart).
 * Skipped, visibly, when Arm NN is not installed (scripts/deps.sh installs it).
 * Real TensorFlow Lite (tfjs-tflite) is the second reader: test_tfjs_reader.c;
 * Arm NN is a third, whose reference kernels are not XNNPACK's. */
#include "testing.h"

#include "readers.h"

#include <math.h>

#include "codegen/lower.h"
#include "data/dataset.h"
#include "nn/arch.h"
#include "nn/model.h"
#include "quant/quant.h"
#include "tflite/graph.h"
#include "util/io.h"
#include "util/rng.h"

/* What Arm NN read and computed. */
typedef struct second {
    float scale[2];     /* input, output */
    int zero_point[2];
    int rank[2];
    int32_t shape[2][REEF_MAX_RANK];
    int n;              /* outputs read */
    int8_t *outputs;    /* (n, output elements) */
} second;

static int reader_present(void)
{
    if (system("/usr/bin/python3 -c 'import pyarmnn' >/dev/null 2>&1") == 0) return 1;
    printf("[  SKIPPED ] Arm NN (python3-pyarmnn) is not installed: scripts/deps.sh installs it\n");
    return 0;
}

/* Runs the reader on model with n inputs of in_size bytes. */
static void run_second(const char *dir, const char *model, const int8_t *inputs, int n, int in_size, int out_size,
                       second *s)
{
    char in_path[512], cmd[2048], line[65536];
    snprintf(in_path, sizeof in_path, "%s/inputs.bin", dir);
    FILE *fp = fopen(in_path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(inputs, 1, (size_t)n * in_size, fp), (size_t)n * in_size);
    fclose(fp);
    const char *src = getenv("REEF_SOURCE");
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s/tests/tflite/second_reader.py '%s' '%s' 2>/dev/null",
             src ? src : "../..", model, in_path);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    memset(s, 0, sizeof *s);
    s->outputs = calloc((size_t)n * out_size + 1, 1);
    while (fgets(line, sizeof line, p)) {
        char *at = line, *end;
        int role = !strncmp(line, "input ", 6) ? 0 : !strncmp(line, "output ", 7) ? 1 : -1;
        if (role >= 0) {
            at = strchr(line, ' ');
            s->scale[role] = strtof(at, &at);
            s->zero_point[role] = (int)strtol(at, &at, 10);
            s->rank[role] = (int)strtol(at, &at, 10);
            for (int d = 0; d < s->rank[role] && d < REEF_MAX_RANK; d++) s->shape[role][d] = (int32_t)strtol(at, &at, 10);
        } else if (!strncmp(line, "out ", 4) && s->n < n) {
            at = line + 4;
            for (int k = 0; k < out_size; k++, at = end) s->outputs[(size_t)s->n * out_size + k] = (int8_t)strtol(at, &end, 10);
            s->n++;
        }
    }
    assert_int_equal(pclose(p), 0);
    if (s->n != n) fail_msg("%s: Arm NN gave %d outputs for %d inputs", model, s->n, n);
}

/* Arm NN's view of a tensor against reef's graph. */
static void same_tensor(const second *s, int role, const reef_tensor *t, const char *model)
{
    if (s->rank[role] != t->rank || memcmp(s->shape[role], t->shape, (size_t)t->rank * sizeof(int32_t)))
        fail_msg("%s: Arm NN reads %s %s with another shape", model, role ? "output" : "input", t->name);
    if (fabsf(s->scale[role] - t->scale[0]) > 1e-6f * t->scale[0] || s->zero_point[role] != t->zero_point[0])
        fail_msg("%s: %s scale/zero point: Arm NN %g/%d, reef %g/%lld", model, t->name, s->scale[role],
                 s->zero_point[role], t->scale[0], (long long)t->zero_point[0]);
}

/* Writes g with reef's writer, runs both readers on the inputs, compares. */
static agreement compare(const char *dir, const reef_graph *g, const int8_t *inputs, int n, const char *label)
{
    char path[600];
    reef_error err;
    snprintf(path, sizeof path, "%s/%s.tflite", dir, label);
    if (reef_tflite_write(path, g, &err)) fail_msg("%s", err.msg);
    reef_lowered_model lm;
    if (reef_lower(g, &lm, &err)) fail_msg("%s: %s", label, err.msg);
    int8_t *ours = malloc((size_t)n * lm.output_size);
    for (int i = 0; i < n; i++)
        assert_int_equal(reef_lowered_invoke(&lm, inputs + (size_t)i * lm.input_size, ours + (size_t)i * lm.output_size), 0);
    second s;
    run_second(dir, path, inputs, n, lm.input_size, lm.output_size, &s);
    same_tensor(&s, 0, &g->tensors[g->inputs[0]], label);
    same_tensor(&s, 1, &g->tensors[g->outputs[0]], label);
    agreement a = {n, 0, 0};
    for (int i = 0; i < n; i++) {
        const int8_t *x = ours + (size_t)i * lm.output_size, *y = s.outputs + (size_t)i * lm.output_size;
        a.same_class += argmax(x, lm.output_size) == argmax(y, lm.output_size);
        for (int k = 0; k < lm.output_size; k++) {
            int d = abs(x[k] - y[k]);
            if (d > a.max_diff) a.max_diff = d;
        }
    }
    free(ours), free(s.outputs);
    reef_lowered_free(&lm);
    unlink(path);
    return a;
}

/* The shared vectors' inputs of one model, then `extra` random ones. */
static int8_t *model_inputs(const char *vectors, int in_size, int extra, int *n)
{
    int8_t *all = NULL;
    *n = 0;
    for (int k = 0; k < 16; k++) {
        char path[1300];
        static const char *const kinds[2] = {"lcg", "sample"};
        for (int kind = 0; kind < 2; kind++) {
            snprintf(path, sizeof path, "%s_%s%d.in.bin", vectors, kinds[kind], k);
            if (access(path, R_OK)) continue;
            size_t size;
            uint8_t *data = NULL;
            reef_error err;
            if (reef_read_file(path, &data, &size, &err) || size != (size_t)in_size) fail_msg("%s: %zu bytes, the model takes %d", path, size, in_size);
            all = realloc(all, (size_t)(*n + 1) * in_size);
            memcpy(all + (size_t)*n * in_size, data, (size_t)in_size);
            (*n)++;
            free(data);
        }
    }
    reef_rng rng;
    reef_rng_seed(&rng, 17);
    all = realloc(all, (size_t)(*n + extra) * in_size);
    for (int i = 0; i < extra * in_size; i++) all[(size_t)*n * in_size + i] = (int8_t)(reef_rng_below(&rng, 256) - 128);
    *n += extra;
    return all;
}

static void test_mlperf_models_written_by_reef(void **state)
{
    (void)state;
    if (!reader_present()) skip();
    static const char *const models[4][2] = {{"kws_ref_model", "kws"}, {"vww_96_int8", "vww"},
                                             {"pretrainedResnet_quant", "ic"}, {"ad01_int8", "ad"}};
    char dir[256];
    testing_tmpdir(dir, sizeof dir, "second-reader");
    int found = 0;
    for (int m = 0; m < 4; m++) {
        char rel[256], path[1024], vectors[1200];
        snprintf(rel, sizeof rel, "models/models/%s.tflite", models[m][0]);
        if (!testing_shared_path(path, sizeof path, rel)) continue;
        found++;
        snprintf(vectors, sizeof vectors, "%.*s/vectors/%s/%s", (int)(strstr(path, "/models/models/") - path) + 7,
                 path, models[m][1], models[m][1]);
        reef_graph g;
        reef_error err;
        if (reef_tflite_read(path, &g, &err)) fail_msg("%s", err.msg);
        const int in_size = (int)reef_tensor_elements(&g.tensors[g.inputs[0]]);
        int n;
        int8_t *inputs = model_inputs(vectors, in_size, 4, &n);
        agreement a = compare(dir, &g, inputs, n, models[m][1]);
        printf("%s (written by reef): Arm NN agrees on the class of %d of %d inputs, outputs within %d LSB\n",
               models[m][1], a.same_class, a.inputs, a.max_diff);
        /* ad is an autoencoder: its "class" means nothing, its values do */
        if (strcmp(models[m][1], "ad") && a.same_class * 100 < a.inputs * 99)
            fail_msg("%s: the same class on only %d of %d inputs", models[m][1], a.same_class, a.inputs);
        if (a.max_diff > 8) fail_msg("%s: outputs %d LSB apart", models[m][1], a.max_diff);
        free(inputs);
        reef_graph_free(&g);
    }
    testing_rm_tree(dir);
    if (!found) skip();
}

/* The op that writes tensor t, or -1 (a graph input or a constant). */
static int producer(const reef_graph *g, int t)
{
    for (int i = 0; i < g->nops; i++)
        if (g->ops[i].outputs[0] == t) return i;
    return -1;
}

/* reef's values of activation t for the n inputs of g: g cut after the op
 * that writes t, run by reef's interpreter. (n, elements of t) */
static int8_t *reef_values(const reef_graph *g, int t, const int8_t *inputs, int n)
{
    const int size = (int)reef_tensor_elements(&g->tensors[t]), in_size = (int)reef_tensor_elements(&g->tensors[g->inputs[0]]);
    int8_t *v = malloc((size_t)n * size);
    int p = producer(g, t);
    if (p < 0) return memcpy(v, inputs, (size_t)n * in_size);
    reef_graph cut = *g;
    cut.nops = p + 1, cut.noutputs = 1, cut.outputs[0] = t;
    reef_lowered_model lm;
    reef_error err;
    if (reef_lower(&cut, &lm, &err)) fail_msg("cut after op %d: %s", p, err.msg);
    for (int i = 0; i < n; i++) assert_int_equal(reef_lowered_invoke(&lm, inputs + (size_t)i * in_size, v + (size_t)i * size), 0);
    reef_lowered_free(&lm);
    return v;
}

/* Op i of g alone, on reef's own values of its inputs, in both readers.
 * A second activation input (ADD's residual) becomes a constant holding
 * one sample's values, so that op runs once per sample. */
static int op_alone(const char *dir, const reef_graph *g, int i, const int8_t *inputs, int n)
{
    const reef_op *op = &g->ops[i];
    int act[2], nact = 0;
    for (int k = 0; k < op->ninputs; k++)
        if (op->inputs[k] >= 0 && !g->tensors[op->inputs[k]].data && nact < 2) act[nact++] = op->inputs[k];
    assert_true(nact >= 1);
    reef_graph one = *g;
    one.ops = &g->ops[i], one.nops = 1, one.ninputs = 1, one.inputs[0] = act[0], one.noutputs = 1,
    one.outputs[0] = op->outputs[0];
    int8_t *first = reef_values(g, act[0], inputs, n);
    const int first_size = (int)reef_tensor_elements(&g->tensors[act[0]]);
    char label[32];
    snprintf(label, sizeof label, "op%02d", i);
    int worst = 0;
    if (nact == 1) {
        worst = compare(dir, &one, first, n, label).max_diff;
    } else {
        int8_t *second_values = reef_values(g, act[1], inputs, n);
        const int second_size = (int)reef_tensor_elements(&g->tensors[act[1]]);
        reef_tensor *tensors = malloc((size_t)g->ntensors * sizeof *tensors);
        memcpy(tensors, g->tensors, (size_t)g->ntensors * sizeof *tensors);
        one.tensors = tensors;
        for (int s = 0; s < n; s++) {
            tensors[act[1]].data = (const uint8_t *)second_values + (size_t)s * second_size;
            tensors[act[1]].data_size = (size_t)second_size;
            agreement a = compare(dir, &one, first + (size_t)s * first_size, 1, label);
            if (a.max_diff > worst) worst = a.max_diff;
        }
        free(tensors), free(second_values);
    }
    free(first);
    return worst;
}

static void test_every_op_of_a_reef_quantized_net(void **state)
{
    (void)state;
    if (!reader_present()) skip();
    char dir[256];
    testing_tmpdir(dir, sizeof dir, "second-reader-ops");
    reef_graph g;
    quantized_fish_nas(&g);
    const int in_size = (int)reef_tensor_elements(&g.tensors[g.inputs[0]]), n = 6;
    reef_rng rng;
    reef_rng_seed(&rng, 9);
    int8_t *inputs = malloc((size_t)n * in_size);
    for (int i = 0; i < n * in_size; i++) inputs[i] = (int8_t)(reef_rng_below(&rng, 256) - 128);
    int worst = 0;
    for (int i = 0; i < g.nops; i++) {
        int d = op_alone(dir, &g, i, inputs, n);
        printf("op %2d %-17s alone: within %d LSB\n", i, reef_builtin_name(g.ops[i].builtin), d);
        if (d > worst) worst = d;
        if (d > 1) fail_msg("op %d (%s): Arm NN and reef %d LSB apart", i, reef_builtin_name(g.ops[i].builtin), d);
    }
    /* the whole net: differences of one step may add up along the way */
    agreement a = compare(dir, &g, inputs, n, "whole");
    printf("%d ops of reef's fish-nas int8: every op alone within %d LSB; the whole net within %d LSB, the same "
           "class on %d of %d inputs\n", g.nops, worst, a.max_diff, a.same_class, a.inputs);
    free(inputs);
    reef_graph_free(&g);
    testing_rm_tree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mlperf_models_written_by_reef),
        cmocka_unit_test(test_every_op_of_a_reef_quantized_net),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
