/* Lowering of int8 LOGISTIC, TANH and HARD_SWISH to the LUT step
 * (reef/lut.h): the table holds TFLite Micro's reference output for every
 * input value (codegen/lut.h). */
#include <stdlib.h>
#include <string.h>

#include "codegen/lower_internal.h"
#include "codegen/lut.h"

static int lut_tensor(const reef_graph *g, int32_t t, const reef_tensor **out, reef_error *err)
{
    if (t < 0 || t >= g->ntensors) return reef_fail(err, "tensor index %d is out of range", t);
    const reef_tensor *x = &g->tensors[t];
    if (x->data) return reef_fail(err, "tensor %d '%s' is constant where an activation is expected", t, x->name);
    if (x->type != REEF_INT8 || x->nquant != 1 || !(x->scale[0] > 0))
        return reef_fail(err, "tensor %d '%s' is not per-tensor quantized INT8", t, x->name);
    *out = x;
    return 0;
}

/* LOGISTIC and TANH compute on a fixed output grid; TFLite Micro checks
 * only LOGISTIC's zero point, reef refuses any other output quantization
 * rather than mislabel the values. */
static int fixed_output(const reef_tensor *out, float scale, int32_t zero_point, const char *op, reef_error *err)
{
    if (out->scale[0] != scale || out->zero_point[0] != zero_point)
        return reef_fail(err, "int8 %s output must have scale %g and zero point %d (tensor '%s' has %g, %lld)", op,
                         (double)scale, (int)zero_point, out->name, (double)out->scale[0],
                         (long long)out->zero_point[0]);
    return 0;
}

int lower_lut(const reef_graph *g, const reef_op *op, reef_lowered_step *s, reef_error *err)
{
    const reef_tensor *in, *out;
    if (op->ninputs != 1 || op->noutputs < 1) return reef_fail(err, "needs an input and an output");
    if (lut_tensor(g, op->inputs[0], &in, err) || lut_tensor(g, op->outputs[0], &out, err)) return -1;
    if (reef_tensor_elements(in) != reef_tensor_elements(out) || reef_tensor_elements(in) > INT32_MAX)
        return reef_fail(err, "input has %lld values, output %lld", (long long)reef_tensor_elements(in),
                         (long long)reef_tensor_elements(out));
    int8_t table[256];
    const float in_scale = in->scale[0];
    const int32_t in_zp = (int32_t)in->zero_point[0];
    int rc;
    switch (op->builtin) {
    case REEF_OP_LOGISTIC:
        rc = fixed_output(out, 1.0f / 256.0f, -128, "LOGISTIC", err) || reef_lut_logistic(in_scale, in_zp, table, err);
        break;
    case REEF_OP_TANH:
        rc = fixed_output(out, 1.0f / 128.0f, 0, "TANH", err) || reef_lut_tanh(in_scale, in_zp, table, err);
        break;
    default: /* HARD_SWISH */
        rc = reef_lut_hard_swish(in_scale, in_zp, out->scale[0], (int32_t)out->zero_point[0], table, err);
        break;
    }
    if (rc) return -1;
    s->filter = malloc(sizeof table);
    if (!s->filter) return reef_fail(err, "out of memory");
    memcpy(s->filter, table, sizeof table);
    s->filter_size = sizeof table;
    s->kind = REEF_STEP_LUT;
    s->args.lut.table = s->filter;
    s->args.lut.count = (int32_t)reef_tensor_elements(in);
    return 0;
}
