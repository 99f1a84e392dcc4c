/* The float lowering (see lower_float.h): one step per op, arena planned by
 * reef_plan, host interpreter over the runtime's float step functions. */
#include "codegen/lower_float.h"

#include <float.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codegen/plan.h"

static const reef_step_fn fstep_fn[] = {
#define REEF_X(KIND, name, run, args_type, printer) [REEF_FSTEP_##KIND] = run,
    REEF_FLOAT_STEP_KINDS(REEF_X)
#undef REEF_X
};

/* The args of a step as its kind's struct (kinds sharing a type share the
 * union's storage). */
#define FSTEP_ARGS(s, type) ((type *)(void *)&(s)->args)

static const char *graph_name(const reef_graph *g) { return g->name && *g->name ? g->name : "model"; }

/* ---- operands ------------------------------------------------------------- */

static const reef_tensor *operand(const reef_graph *g, const reef_op *op, int k)
{
    if (k >= op->ninputs || op->inputs[k] < 0 || op->inputs[k] >= g->ntensors) return NULL;
    return &g->tensors[op->inputs[k]];
}

static const reef_tensor *result(const reef_graph *g, const reef_op *op)
{
    if (op->noutputs < 1 || op->outputs[0] < 0 || op->outputs[0] >= g->ntensors) return NULL;
    return &g->tensors[op->outputs[0]];
}

/* A 4-D activation's dims; lower ranks are padded in front with 1s. */
static int dims_of(const reef_tensor *t, reef_dims *d)
{
    int32_t v[4] = {1, 1, 1, 1};
    if (!t || t->rank > 4 || t->rank < 1 || t->type != REEF_FLOAT32) return -1;
    for (int i = 0; i < t->rank; i++) v[4 - t->rank + i] = t->shape[i];
    *d = (reef_dims){v[0], v[1], v[2], v[3]};
    return 0;
}

static float *copy_floats(const reef_tensor *t, size_t count)
{
    if (!t || !t->data || t->type != REEF_FLOAT32 || t->data_size != count * sizeof(float)) return NULL;
    float *p = malloc(count ? count * sizeof(float) : 1);
    if (p) memcpy(p, t->data, count * sizeof(float));
    return p;
}

static reef_float_act act_of(reef_fused_act act, const char **why)
{
    switch (act) {
    case REEF_ACT_NONE: return (reef_float_act){-FLT_MAX, FLT_MAX};
    case REEF_ACT_RELU: return (reef_float_act){0.0f, FLT_MAX};
    case REEF_ACT_RELU6: return (reef_float_act){0.0f, 6.0f};
    case REEF_ACT_RELU_N1_TO_1: return (reef_float_act){-1.0f, 1.0f};
    }
    *why = "unknown fused activation";
    return (reef_float_act){-FLT_MAX, FLT_MAX};
}

/* TFLite's SAME padding: the total split with the smaller half first. */
static int32_t pad_before(reef_padding p, int32_t in, int32_t out, int32_t stride, int32_t k)
{
    if (p == REEF_PAD_VALID) return 0;
    int32_t total = (out - 1) * stride + k - in;
    return total > 0 ? total / 2 : 0;
}

/* ---- one op --------------------------------------------------------------- */

static const char *lower_conv(const reef_graph *g, const reef_op *op, reef_float_step *s, int depthwise)
{
    reef_float_conv_args *a = FSTEP_ARGS(s, reef_float_conv_args); /* conv and depthwise */
    const reef_tensor *w = operand(g, op, 1), *b = operand(g, op, 2);
    const char *why = NULL;
    if (dims_of(operand(g, op, 0), &a->input_dims) || dims_of(result(g, op), &a->output_dims))
        return "input and output must be float32 tensors of rank <= 4";
    if (!w || w->rank != 4 || !w->data || w->type != REEF_FLOAT32) return "the filter must be a constant float32 4-D tensor";
    if (op->opt.dilation_w != 1 || op->opt.dilation_h != 1) return "dilation is not supported by the float kernels";
    a->filter_dims = (reef_dims){w->shape[0], w->shape[1], w->shape[2], w->shape[3]};
    a->stride = (reef_hw){op->opt.stride_h, op->opt.stride_w};
    a->padding = (reef_hw){pad_before(op->opt.padding, a->input_dims.h, a->output_dims.h, a->stride.h, w->shape[1]),
                           pad_before(op->opt.padding, a->input_dims.w, a->output_dims.w, a->stride.w, w->shape[2])};
    a->depth_multiplier = depthwise ? a->output_dims.c / a->input_dims.c : 1;
    a->act = act_of(op->opt.activation, &why);
    s->filter_count = (size_t)reef_tensor_elements(w);
    if (!(s->filter = copy_floats(w, s->filter_count))) return "the filter's data does not match its shape";
    if (b) {
        s->nbias = a->output_dims.c;
        if (!(s->bias = copy_floats(b, (size_t)s->nbias))) return "the bias must be float32 (C_OUT)";
    }
    int64_t per_out = depthwise ? (int64_t)w->shape[1] * w->shape[2] : (int64_t)w->shape[1] * w->shape[2] * w->shape[3];
    s->macs = (int64_t)reef_dims_count(&a->output_dims) * per_out;
    s->kind = depthwise ? REEF_FSTEP_DW_CONV : REEF_FSTEP_CONV;
    if (depthwise && a->depth_multiplier * a->input_dims.c != a->output_dims.c) return "output channels are not a multiple of input channels";
    return why;
}

static const char *lower_fc(const reef_graph *g, const reef_op *op, reef_float_step *s)
{
    reef_float_fc_args *a = &s->args.fc;
    const reef_tensor *in = operand(g, op, 0), *w = operand(g, op, 1), *b = operand(g, op, 2), *out = result(g, op);
    const char *why = NULL;
    if (!in || !out || in->type != REEF_FLOAT32 || out->type != REEF_FLOAT32) return "input and output must be float32";
    if (!w || w->rank != 2 || !w->data) return "the weights must be a constant float32 (OUT, IN) tensor";
    a->out_features = w->shape[0], a->in_features = w->shape[1];
    int64_t n = reef_tensor_elements(in);
    if (n % a->in_features || reef_tensor_elements(out) != n / a->in_features * a->out_features)
        return "input and output sizes do not match the weights";
    a->batches = (int32_t)(n / a->in_features);
    a->act = act_of(op->opt.activation, &why);
    s->filter_count = (size_t)a->out_features * (size_t)a->in_features;
    if (!(s->filter = copy_floats(w, s->filter_count))) return "the weights' data does not match their shape";
    if (b) {
        s->nbias = a->out_features;
        if (!(s->bias = copy_floats(b, (size_t)s->nbias))) return "the bias must be float32 (OUT)";
    }
    s->macs = (int64_t)a->batches * a->in_features * a->out_features;
    s->kind = REEF_FSTEP_FC;
    return why;
}

static const char *lower_pool(const reef_graph *g, const reef_op *op, reef_float_step *s, int is_max)
{
    reef_float_pool_args *a = FSTEP_ARGS(s, reef_float_pool_args); /* avgpool and maxpool */
    const char *why = NULL;
    if (dims_of(operand(g, op, 0), &a->input_dims) || dims_of(result(g, op), &a->output_dims))
        return "input and output must be float32 tensors of rank <= 4";
    a->stride = (reef_hw){op->opt.stride_h, op->opt.stride_w};
    a->filter = (reef_hw){op->opt.filter_h, op->opt.filter_w};
    a->padding = (reef_hw){pad_before(op->opt.padding, a->input_dims.h, a->output_dims.h, a->stride.h, a->filter.h),
                           pad_before(op->opt.padding, a->input_dims.w, a->output_dims.w, a->stride.w, a->filter.w)};
    a->act = act_of(op->opt.activation, &why);
    s->kind = is_max ? REEF_FSTEP_MAXPOOL : REEF_FSTEP_AVGPOOL;
    return why;
}

/* MEAN over axes 1 and 2 of an NHWC tensor = an average pool over all of it. */
static const char *lower_mean(const reef_graph *g, const reef_op *op, reef_float_step *s)
{
    reef_float_pool_args *a = &s->args.avgpool;
    const reef_tensor *axes = operand(g, op, 1), *in = operand(g, op, 0);
    if (!in || in->rank != 4 || dims_of(in, &a->input_dims)) return "MEAN needs a float32 NHWC input";
    if (!axes || !axes->data || axes->type != REEF_INT32 || axes->data_size != 8) return "MEAN must reduce axes 1 and 2";
    int32_t ax[2];
    memcpy(ax, axes->data, sizeof ax);
    if (!((ax[0] == 1 && ax[1] == 2) || (ax[0] == 2 && ax[1] == 1))) return "MEAN must reduce axes 1 and 2";
    a->output_dims = (reef_dims){a->input_dims.n, 1, 1, a->input_dims.c};
    a->stride = (reef_hw){1, 1};
    a->padding = (reef_hw){0, 0};
    a->filter = (reef_hw){a->input_dims.h, a->input_dims.w};
    a->act = (reef_float_act){-FLT_MAX, FLT_MAX};
    s->kind = REEF_FSTEP_AVGPOOL;
    return NULL;
}

static const char *lower_add(const reef_graph *g, const reef_op *op, reef_float_step *s)
{
    const reef_tensor *x = operand(g, op, 0), *y = operand(g, op, 1), *out = result(g, op);
    const char *why = NULL;
    if (!x || !y || !out || x->data || y->data) return "ADD needs two float32 activations";
    if (reef_tensor_elements(x) != reef_tensor_elements(out) || reef_tensor_elements(y) != reef_tensor_elements(out))
        return "ADD with broadcasting is not supported";
    s->args.add.count = (int32_t)reef_tensor_elements(out);
    s->args.add.act = act_of(op->opt.activation, &why);
    s->kind = REEF_FSTEP_ADD;
    return why;
}

static const char *lower_op(const reef_graph *g, const reef_op *op, reef_float_step *s)
{
    const reef_tensor *out = result(g, op);
    if (!out || out->type != REEF_FLOAT32) return "its output is not float32 (the float build runs float models)";
    switch (op->builtin) {
    case REEF_OP_CONV_2D: return lower_conv(g, op, s, 0);
    case REEF_OP_DEPTHWISE_CONV_2D: return lower_conv(g, op, s, 1);
    case REEF_OP_FULLY_CONNECTED: return lower_fc(g, op, s);
    case REEF_OP_AVERAGE_POOL_2D: return lower_pool(g, op, s, 0);
    case REEF_OP_MAX_POOL_2D: return lower_pool(g, op, s, 1);
    case REEF_OP_MEAN: return lower_mean(g, op, s);
    case REEF_OP_ADD: return lower_add(g, op, s);
    case REEF_OP_RESHAPE:
    case REEF_OP_SQUEEZE:
        s->kind = REEF_FSTEP_COPY;
        s->args.copy.count = (int32_t)reef_tensor_elements(out);
        return NULL;
    default: return "no float kernel for this operator";
    }
}

/* ---- arena ---------------------------------------------------------------- */

/* Live ranges of activation tensors: buffer t = tensor t (constants get
 * size 0). Graph input from step 0, output to the last step. */
static int plan_arena(const reef_graph *g, reef_float_model *m, uint32_t *at, reef_error *err)
{
    reef_plan_buffer *bufs = calloc((size_t)g->ntensors + 1, sizeof *bufs);
    if (!bufs) return reef_fail(err, "out of memory");
    for (int t = 0; t < g->ntensors; t++) bufs[t].first = INT32_MAX, bufs[t].last = -1;
    for (int i = 0; i < g->nops; i++) {
        const reef_op *op = &g->ops[i];
        for (int k = 0; k < op->ninputs + op->noutputs; k++) {
            int32_t t = k < op->ninputs ? op->inputs[k] : op->outputs[k - op->ninputs];
            if (t < 0 || t >= g->ntensors || g->tensors[t].data) continue;
            if (i < bufs[t].first) bufs[t].first = i;
            if (i > bufs[t].last) bufs[t].last = i;
        }
    }
    bufs[g->inputs[0]].first = 0;
    bufs[g->outputs[0]].last = g->nops - 1;
    for (int t = 0; t < g->ntensors; t++) {
        if (bufs[t].last < 0) bufs[t].first = bufs[t].last = 0; /* unused: no room */
        else bufs[t].size = (size_t)reef_tensor_elements(&g->tensors[t]) * sizeof(float);
    }
    reef_plan_stats st;
    int rc = reef_plan(bufs, g->ntensors, REEF_PLAN_ALIGN, &st, err);
    if (!rc) {
        m->arena_size = st.arena_size, m->arena_lower_bound = st.lower_bound;
        for (int t = 0; t < g->ntensors; t++) at[t] = (uint32_t)bufs[t].offset;
    }
    free(bufs);
    return rc;
}

/* The same for every kind: the op's activation inputs (the tensors without
 * data, in order) and its output, in the io its args start with. */
static void set_offsets(reef_float_step *s, const reef_graph *g, const reef_op *op, const uint32_t *at)
{
    reef_step_io *io = FSTEP_ARGS(s, reef_step_io);
    uint32_t *inputs[] = {&io->input_at, &io->input2_at};
    int n = 0;
    for (int j = 0; j < op->ninputs && n < 2; j++) {
        int32_t t = op->inputs[j];
        if (t >= 0 && t < g->ntensors && !g->tensors[t].data) *inputs[n++] = at[t];
    }
    io->output_at = at[op->outputs[0]];
}

static void set_pointers(reef_float_step *s)
{
    if (s->kind == REEF_FSTEP_CONV || s->kind == REEF_FSTEP_DW_CONV)
        FSTEP_ARGS(s, reef_float_conv_args)->filter = s->filter, FSTEP_ARGS(s, reef_float_conv_args)->bias = s->bias;
    else if (s->kind == REEF_FSTEP_FC)
        s->args.fc.filter = s->filter, s->args.fc.bias = s->bias;
}

/* ---- the whole model ------------------------------------------------------ */

static int describe_io(const reef_graph *g, reef_float_model *m, reef_error *err)
{
    if (g->ninputs != 1 || g->noutputs != 1)
        return reef_fail(err, "%s: has %d inputs and %d outputs; reef supports one of each", graph_name(g), g->ninputs,
                         g->noutputs);
    for (int k = 0; k < 2; k++) {
        int32_t t = k ? g->outputs[0] : g->inputs[0];
        if (t < 0 || t >= g->ntensors || g->tensors[t].type != REEF_FLOAT32 || g->tensors[t].data)
            return reef_fail(err, "%s: the %s is not a float32 activation", graph_name(g), k ? "output" : "input");
    }
    const reef_tensor *in = &g->tensors[g->inputs[0]], *out = &g->tensors[g->outputs[0]];
    m->input_count = (int32_t)reef_tensor_elements(in), m->output_count = (int32_t)reef_tensor_elements(out);
    m->input_rank = in->rank, m->output_rank = out->rank;
    memcpy(m->input_shape, in->shape, sizeof m->input_shape);
    memcpy(m->output_shape, out->shape, sizeof m->output_shape);
    return 0;
}

static int lower_all(const reef_graph *g, reef_float_model *m, reef_error *err)
{
    char problems[1024] = "";
    int nproblems = 0;
    for (int i = 0; i < g->nops; i++) {
        reef_float_step *s = &m->steps[i];
        s->op = i, s->builtin = g->ops[i].builtin;
        const char *why = g->ops[i].ninputs < 1 ? "no input" : lower_op(g, &g->ops[i], s);
        if (!why) continue;
        size_t len = strlen(problems);
        snprintf(problems + len, sizeof problems - len, " op %d %s: %s;", i, reef_builtin_name(s->builtin), why);
        nproblems++;
    }
    if (nproblems) return reef_fail(err, "%s: %d operator(s) the float build cannot run:%s", graph_name(g), nproblems, problems);
    return 0;
}

int reef_lower_float(const reef_graph *g, reef_float_model *m, reef_error *err)
{
    memset(m, 0, sizeof *m);
    if (describe_io(g, m, err)) return -1;
    if (g->nops < 1) return reef_fail(err, "%s: has no operators", graph_name(g));
    m->nsteps = g->nops;
    m->steps = calloc((size_t)g->nops, sizeof *m->steps);
    m->table = calloc((size_t)g->nops, sizeof *m->table);
    uint32_t *at = calloc((size_t)g->ntensors, sizeof *at);
    int rc = (!m->steps || !m->table || !at) ? reef_fail(err, "out of memory") : 0;
    if (!rc) rc = lower_all(g, m, err);
    if (!rc) rc = plan_arena(g, m, at, err);
    if (!rc && !(m->arena = calloc(m->arena_size ? m->arena_size : 4, 1))) rc = reef_fail(err, "out of memory");
    for (int i = 0; !rc && i < m->nsteps; i++) {
        reef_float_step *s = &m->steps[i];
        set_offsets(s, g, &g->ops[i], at);
        set_pointers(s);
        m->table[i] = (reef_step){fstep_fn[s->kind], &s->args};
        m->macs += s->macs;
        m->weights_bytes += (s->filter_count + (size_t)s->nbias) * sizeof(float);
    }
    if (!rc) m->input_at = at[g->inputs[0]], m->output_at = at[g->outputs[0]];
    free(at);
    if (rc) reef_float_model_free(m);
    return rc;
}

int reef_float_invoke(reef_float_model *m, const float *in, float *out)
{
    memcpy(m->arena + m->input_at, in, (size_t)m->input_count * sizeof(float));
    if (reef_run_steps(m->table, 0, m->nsteps, m->arena) != REEF_OK) return -1;
    memcpy(out, m->arena + m->output_at, (size_t)m->output_count * sizeof(float));
    return 0;
}

void reef_float_model_free(reef_float_model *m)
{
    for (int i = 0; m->steps && i < m->nsteps; i++) free(m->steps[i].filter), free(m->steps[i].bias);
    free(m->steps);
    free(m->table);
    free(m->arena);
    memset(m, 0, sizeof *m);
}
