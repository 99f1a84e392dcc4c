/* The .tflite reader on the four MLPerf Tiny models: op histograms, graph
 * inputs and outputs, quantization, constant sizes and MAC totals. */
#include "testing.h"

#include <math.h>

#include "models.h"
#include "tflite/graph.h"

static int load(const mlperf_model *m, reef_graph *g)
{
    char path[1024];
    if (!testing_shared_path(path, sizeof path, m->file)) return 0;
    reef_error err;
    int rc = reef_tflite_read(path, g, &err);
    if (rc) fail_msg("%s", err.msg);
    return 1;
}

static void check_tensor_io(const reef_tensor *t, int rank, const int32_t *shape, double scale, int zp)
{
    assert_int_equal(t->type, REEF_INT8);
    assert_int_equal(t->rank, rank);
    for (int i = 0; i < rank; i++) assert_int_equal(t->shape[i], shape[i]);
    assert_int_equal(t->nquant, 1);
    assert_true(fabs(t->scale[0] - scale) <= 1e-6 * scale);
    assert_int_equal(t->zero_point[0], zp);
    assert_null(t->data);
}

static void check_histogram(const mlperf_model *m, const reef_graph *g)
{
    int total = 0;
    for (int k = 0; k < 8 && m->ops[k].count; k++) {
        int n = 0;
        for (int i = 0; i < g->nops; i++) n += g->ops[i].builtin == m->ops[k].builtin;
        if (n != m->ops[k].count)
            fail_msg("%s: %d x %s, expected %d", m->key, n, reef_builtin_name(m->ops[k].builtin), m->ops[k].count);
        total += n;
    }
    assert_int_equal(total, g->nops);
}

/* Every constant's size matches its shape; weights are int8 per channel
 * where TFLite's int8 spec says so. */
static void check_constants(const reef_graph *g)
{
    for (int i = 0; i < g->nops; i++) {
        const reef_op *op = &g->ops[i];
        if (op->builtin != REEF_OP_CONV_2D && op->builtin != REEF_OP_DEPTHWISE_CONV_2D &&
            op->builtin != REEF_OP_FULLY_CONNECTED)
            continue;
        const reef_tensor *w = &g->tensors[op->inputs[1]];
        assert_non_null(w->data);
        assert_int_equal(w->type, REEF_INT8);
        assert_int_equal(w->data_size, reef_tensor_elements(w));
        assert_int_equal((uintptr_t)w->data % 16, 0);
        assert_true(w->nquant >= 1);
        if (op->ninputs > 2 && op->inputs[2] >= 0) {
            const reef_tensor *b = &g->tensors[op->inputs[2]];
            assert_int_equal(b->type, REEF_INT32);
            assert_int_equal(b->data_size, 4 * reef_tensor_elements(b));
        }
        if (op->builtin != REEF_OP_FULLY_CONNECTED) {
            assert_true(op->opt.stride_w >= 1 && op->opt.stride_h >= 1);
            if (w->nquant > 1) assert_int_equal(w->nquant, w->shape[w->quant_dim]);
        }
    }
}

static void test_mlperf_models(void **state)
{
    (void)state;
    for (int k = 0; k < MLPERF_NMODELS; k++) {
        const mlperf_model *m = &mlperf_models[k];
        reef_graph g;
        if (!load(m, &g)) {
            skip();
            return;
        }
        assert_int_equal(g.nsubgraphs, 1);
        assert_int_equal(g.ninputs, 1);
        assert_int_equal(g.noutputs, 1);
        check_tensor_io(&g.tensors[g.inputs[0]], m->in_rank, m->in_shape, m->in_scale, m->in_zp);
        check_tensor_io(&g.tensors[g.outputs[0]], m->out_rank, m->out_shape, m->out_scale, m->out_zp);
        check_histogram(m, &g);
        check_constants(&g);
        double macs = (double)reef_graph_macs(&g);
        printf("%s: %d ops, %d tensors, %.4g MACs (anchor %.3g), %zu parameter bytes\n", m->key, g.nops,
               g.ntensors, macs, m->anchor_macs, reef_graph_param_bytes(&g));
        /* the anchors are rounded figures: within half their last digit */
        assert_true(fabs(macs - m->anchor_macs) <= m->anchor_tol);
        assert_int_equal(reef_graph_macs(&g), m->macs);
        reef_error err;
        assert_int_equal(reef_graph_unsupported_ops(&g, &err), 0);
        reef_graph_free(&g);
    }
}

/* The first conv of KWS, by hand from the file: 10x4 filter, stride 2,
 * 64 channels, per-channel weights along dimension 0. */
static void test_kws_first_conv(void **state)
{
    (void)state;
    reef_graph g;
    if (!load(&mlperf_models[0], &g)) {
        skip();
        return;
    }
    const reef_op *op = &g.ops[0];
    assert_int_equal(op->builtin, REEF_OP_CONV_2D);
    const reef_tensor *w = &g.tensors[op->inputs[1]];
    assert_int_equal(w->rank, 4);
    assert_int_equal(w->shape[0], 64);
    assert_int_equal(w->shape[1], 10);
    assert_int_equal(w->shape[2], 4);
    assert_int_equal(w->shape[3], 1);
    assert_int_equal(w->nquant, 64);
    assert_int_equal(w->quant_dim, 0);
    assert_int_equal(op->opt.stride_w, 2);
    assert_int_equal(op->opt.stride_h, 2);
    assert_int_equal(op->opt.padding, REEF_PAD_SAME);
    assert_int_equal(op->opt.activation, REEF_ACT_RELU);
    reef_graph_free(&g);
}

/* ---- ../shared/models/layers/<model>_lcg0: TFLite Micro's own view ---- */

/* Splits line at commas from the right: the last n fields go to f[0..n),
 * the rest (which may hold commas) is left in line. */
static void split_right(char *line, char **f, int n)
{
    for (int k = n - 1; k >= 0; k--) {
        char *comma = strrchr(line, ',');
        assert_non_null(comma);
        *comma = '\0';
        f[k] = comma + 1;
    }
}

static void check_index_list(const char *text, const int32_t *list, int n, int op)
{
    char copy[256];
    snprintf(copy, sizeof copy, "%s", text);
    int count = 0;
    for (char *tok = strtok(copy, " "); tok; tok = strtok(NULL, " "), count++)
        if (count >= n || atoi(tok) != list[count]) fail_msg("op %d: tensor list '%s' differs", op, text);
    assert_int_equal(count, n);
}

static void check_layer_ops(const reef_graph *g, const char *path)
{
    FILE *fp = fopen(path, "r");
    assert_non_null(fp);
    char line[4096];
    assert_non_null(fgets(line, sizeof line, fp)); /* header */
    int rows = 0;
    while (fgets(line, sizeof line, fp)) {
        line[strcspn(line, "\r\n")] = '\0';
        char *f[3];
        split_right(line, f, 3); /* op, inputs, outputs */
        int i = atoi(line);
        assert_true(i >= 0 && i < g->nops);
        assert_string_equal(f[0], reef_builtin_name(g->ops[i].builtin));
        check_index_list(f[1], g->ops[i].inputs, g->ops[i].ninputs, i);
        check_index_list(f[2], g->ops[i].outputs, g->ops[i].noutputs, i);
        rows++;
    }
    fclose(fp);
    assert_int_equal(rows, g->nops);
}

static void check_layer_tensors(const reef_graph *g, const char *path)
{
    FILE *fp = fopen(path, "r");
    assert_non_null(fp);
    static char line[1 << 16];
    assert_non_null(fgets(line, sizeof line, fp));
    int rows = 0;
    while (fgets(line, sizeof line, fp)) {
        line[strcspn(line, "\r\n")] = '\0';
        char *f[5];
        split_right(line, f, 5); /* type, shape, scale, zero_point, file */
        char *comma = strchr(line, ',');
        assert_non_null(comma);
        *comma = '\0';
        int i = atoi(line);
        assert_true(i >= 0 && i < g->ntensors);
        const reef_tensor *t = &g->tensors[i];
        assert_string_equal(comma + 1, t->name);
        assert_string_equal(f[0], "INT8");
        assert_int_equal(t->type, REEF_INT8);
        char shape[64] = "";
        for (int d = 0; d < t->rank; d++)
            snprintf(shape + strlen(shape), sizeof shape - strlen(shape), d ? "x%d" : "%d", t->shape[d]);
        assert_string_equal(f[1], shape);
        assert_int_equal(t->nquant, 1);
        double scale = atof(f[2]);
        assert_true(fabs(t->scale[0] - scale) <= 1e-7 * scale);
        assert_int_equal(t->zero_point[0], atoi(f[3]));
        assert_null(t->data);
        rows++;
    }
    fclose(fp);
    assert_true(rows > 0);
}

/* Every operator (code, inputs, outputs) and every activation tensor (name,
 * type, shape, scale, zero point) as TFLite Micro reported them. */
static void test_layers_match_tflm(void **state)
{
    (void)state;
    for (int k = 0; k < MLPERF_NMODELS; k++) {
        const mlperf_model *m = &mlperf_models[k];
        char ops[1024], tensors[1024], rel[256];
        snprintf(rel, sizeof rel, "models/layers/%s_lcg0/ops.csv", m->key);
        if (!testing_shared_path(ops, sizeof ops, rel)) {
            skip();
            return;
        }
        snprintf(rel, sizeof rel, "models/layers/%s_lcg0/tensors.csv", m->key);
        if (!testing_shared_path(tensors, sizeof tensors, rel)) {
            skip();
            return;
        }
        reef_graph g;
        assert_int_equal(load(m, &g), 1);
        check_layer_ops(&g, ops);
        check_layer_tensors(&g, tensors);
        reef_graph_free(&g);
    }
}

/* MACs of ops on 2^31-element tensors: each op near 2^62, the total
 * saturates rather than overflowing (a hostile file can do this). */
static void test_macs_saturate(void **state)
{
    (void)state;
    reef_graph g;
    reef_error err;
    assert_int_equal(reef_graph_init(&g, "huge", &err), 0);
    int32_t big[2] = {1, INT32_MAX};
    int x = reef_graph_add_tensor(&g, "x", REEF_INT8, 2, big, &err);
    int w = reef_graph_add_tensor(&g, "w", REEF_INT8, 2, big, &err);
    int32_t ins[2] = {x, w};
    for (int i = 0; i < 3; i++) assert_int_equal(reef_graph_add_op(&g, REEF_OP_FULLY_CONNECTED, ins, 2, &x, 1, NULL, &err), i);
    assert_int_equal(reef_op_macs(&g, &g.ops[0]), (int64_t)INT32_MAX * INT32_MAX);
    assert_int_equal(reef_graph_macs(&g), INT64_MAX);
    reef_graph_free(&g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_macs_saturate),
        cmocka_unit_test(test_layers_match_tflm),
        cmocka_unit_test(test_mlperf_models),
        cmocka_unit_test(test_kws_first_conv),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
