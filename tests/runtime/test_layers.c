/* Runtime kernels against TFLite Micro's own outputs: for the ops whose
 * operands are all activations (SOFTMAX, AVERAGE_POOL_2D, ADD, RESHAPE),
 * every such op of the MLPerf Tiny models' layer dumps (../shared/models/
 * layers/<model>_lcg0) is recomputed from its dumped inputs, with the
 * parameters derived from the scales the way TFLite Micro derives them, and
 * compared byte for byte. (Ops with weights are checked end to end by the
 * code generator's conformance tests.) Skips when the data is absent. */
#include "testing.h"

#include <math.h>

#include "reef/reef.h"

typedef struct tensor_info {
    int index;
    int rank;
    int shape[6];
    float scale;
    int zero_point;
    char file[32];
} tensor_info;

typedef struct model_dump {
    char dir[512];
    int ntensors;
    tensor_info tensors[256];
} model_dump;

/* tensors.csv: index,name,type,shape,scale,zero_point,file (the name may
 * hold anything but the last four fields do not). */
static int load_tensors(model_dump *m)
{
    char path[600], line[4096];
    snprintf(path, sizeof path, "%s/tensors.csv", m->dir);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    m->ntensors = 0;
    assert_non_null(fgets(line, sizeof line, f)); /* header */
    while (fgets(line, sizeof line, f) && m->ntensors < 256) {
        tensor_info *t = &m->tensors[m->ntensors];
        char *fields[4];
        line[strcspn(line, "\r\n")] = 0;
        for (int k = 3; k >= 0; k--) {
            char *comma = strrchr(line, ',');
            assert_non_null(comma);
            fields[k] = comma + 1;
            *comma = 0;
        }
        t->index = atoi(line);
        t->rank = 0;
        for (char *s = fields[0]; *s && t->rank < 6; t->rank++) {
            t->shape[t->rank] = (int)strtol(s, &s, 10);
            if (*s == 'x') s++;
        }
        t->scale = strtof(fields[1], NULL);
        t->zero_point = atoi(fields[2]);
        snprintf(t->file, sizeof t->file, "%s", fields[3]);
        m->ntensors++;
    }
    fclose(f);
    return 1;
}

static const tensor_info *tensor(const model_dump *m, int index)
{
    for (int k = 0; k < m->ntensors; k++)
        if (m->tensors[k].index == index) return &m->tensors[k];
    fail_msg("tensor %d not in %s/tensors.csv", index, m->dir);
    return NULL;
}

static int elements(const tensor_info *t)
{
    int n = 1;
    for (int k = 0; k < t->rank; k++) n *= t->shape[k];
    return n;
}

static int8_t *load_tensor(const model_dump *m, const tensor_info *t)
{
    char path[600];
    snprintf(path, sizeof path, "%s/%s", m->dir, t->file);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    int n = elements(t);
    int8_t *data = malloc(n);
    assert_int_equal(fread(data, 1, n, f), n);
    fclose(f);
    return data;
}

/* TFLite's QuantizeMultiplier (double precision, round half away). */
static void quantize_multiplier(double m, int32_t *q, int32_t *shift)
{
    int e = 0;
    if (m == 0.0) {
        *q = 0;
        *shift = 0;
        return;
    }
    double frac = frexp(m, &e);
    int64_t qf = llround(frac * (double)(1ll << 31));
    if (qf == (1ll << 31)) {
        qf /= 2;
        e++;
    }
    if (e < -31) {
        e = 0;
        qf = 0;
    }
    *q = (int32_t)qf;
    *shift = e;
}

static reef_status run_softmax(const tensor_info *in_t, const int8_t *in, int8_t *out)
{
    reef_softmax_params p;
    const double beta = 1.0; /* Keras softmax */
    double real = beta * (double)in_t->scale * (double)(1 << 26);
    if (real > (double)INT32_MAX) real = (double)INT32_MAX;
    quantize_multiplier(real, &p.input_multiplier, &p.input_left_shift);
    assert_true(p.input_left_shift >= 0);
    p.diff_min = -(int32_t)floor(31.0 * (double)(1ll << 26) / (double)(1ll << p.input_left_shift));
    int depth = in_t->shape[in_t->rank - 1];
    return reef_softmax_s8(&p, elements(in_t) / depth, depth, in, out);
}

static reef_status run_avgpool(const tensor_info *in_t, const tensor_info *out_t,
                               const int8_t *in, int8_t *out)
{
    /* The three models pool globally: the window is the whole input. */
    assert_int_equal(out_t->shape[1] * out_t->shape[2], 1);
    reef_dims in_d = {in_t->shape[0], in_t->shape[1], in_t->shape[2], in_t->shape[3]};
    reef_dims out_d = {out_t->shape[0], 1, 1, out_t->shape[3]};
    reef_pool_params p = {{in_d.h, in_d.w}, {0, 0}, {-128, 127}};
    reef_hw window = {in_d.h, in_d.w};
    return reef_avgpool_s8(NULL, &p, &in_d, in, &window, &out_d, out);
}

static reef_status run_add(const tensor_info *a, const tensor_info *b, const tensor_info *o,
                           const int8_t *in1, const int8_t *in2, int8_t *out)
{
    reef_add_params p;
    const double twice_max = 2.0 * (double)(a->scale > b->scale ? a->scale : b->scale);
    p.input1_offset = -a->zero_point;
    p.input2_offset = -b->zero_point;
    p.output_offset = o->zero_point;
    p.left_shift = 20;
    quantize_multiplier((double)a->scale / twice_max, &p.input1_multiplier, &p.input1_shift);
    quantize_multiplier((double)b->scale / twice_max, &p.input2_multiplier, &p.input2_shift);
    quantize_multiplier(twice_max / ((double)(1 << 20) * (double)o->scale), &p.output_multiplier,
                        &p.output_shift);
    /* The ResNet-8 adds have a fused ReLU. */
    p.activation.min = o->zero_point > -128 ? o->zero_point : -128;
    p.activation.max = 127;
    return reef_add_s8(&p, in1, in2, elements(o), out);
}

/* Recomputes every supported op of one model's dump; returns the number
 * of ops checked (mismatches fail the test), -1 when the dump is absent. */
static int check_model(const char *model)
{
    static model_dump m;
    char rel[64], path[600], line[512];
    snprintf(rel, sizeof rel, "models/layers/%s_lcg0", model);
    if (!testing_shared_path(m.dir, sizeof m.dir, rel)) return -1;
    assert_true(load_tensors(&m));
    snprintf(path, sizeof path, "%s/ops.csv", m.dir);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    int checked = 0, bad_ops = 0;
    assert_non_null(fgets(line, sizeof line, f));
    while (fgets(line, sizeof line, f)) {
        char op[64], ins[128], outs[64];
        int op_index, in_idx[3] = {-1, -1, -1};
        if (sscanf(line, "%d,%63[^,],%127[^,],%63s", &op_index, op, ins, outs) != 4) continue;
        sscanf(ins, "%d %d %d", &in_idx[0], &in_idx[1], &in_idx[2]);
        const tensor_info *o = tensor(&m, atoi(outs)), *a = tensor(&m, in_idx[0]);
        int8_t *want = load_tensor(&m, o), *got = calloc(elements(o), 1);
        int8_t *in1 = load_tensor(&m, a), *in2 = NULL;
        reef_status st = REEF_ARG_ERROR;
        if (!strcmp(op, "SOFTMAX")) st = run_softmax(a, in1, got);
        else if (!strcmp(op, "AVERAGE_POOL_2D")) st = run_avgpool(a, o, in1, got);
        else if (!strcmp(op, "RESHAPE")) st = reef_reshape_s8(in1, elements(o), got);
        else if (!strcmp(op, "ADD")) {
            const tensor_info *b = tensor(&m, in_idx[1]);
            in2 = load_tensor(&m, b);
            st = run_add(a, b, o, in1, in2, got);
        } else {
            free(want); free(got); free(in1);
            continue;
        }
        assert_int_equal(st, REEF_OK);
        int bad = 0;
        for (int k = 0; k < elements(o); k++)
            if (got[k] != want[k] && bad++ < 5)
                printf("%s op %d %s: element %d: got %d, TFLite Micro %d\n", model, op_index, op,
                       k, got[k], want[k]);
        bad_ops += bad != 0;
        checked++;
        free(want); free(got); free(in1); free(in2);
    }
    fclose(f);
    printf("%s: %d ops matched TFLite Micro exactly\n", model, checked - bad_ops);
    assert_int_equal(bad_ops, 0);
    return checked;
}

static void test_tflm_layer_dumps(void **state)
{
    (void)state;
    /* every model's dump must be there: one missing skips the test */
    static const char *const models[] = {"kws", "vww", "ic", "ad"};
    int checked = 0, missing = 0;
    for (int i = 0; i < 4; i++) {
        int n = check_model(models[i]);
        if (n < 0) missing++;
        else checked += n;
    }
    if (missing) skip();
    assert_true(checked > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tflm_layer_dumps),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
