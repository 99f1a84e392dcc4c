/* reef_model -> float32 graph with batch norm folded (see float_graph.h). */
#include "firmware/float_graph.h"

#include <stdio.h>
#include <stdlib.h>

#include "quant/quant.h"

typedef struct fbuild {
    reef_graph *g;
    int cur;               /* tensor index of the current activation */
    reef_error *err;
} fbuild;

static int add_act(fbuild *fb, const char *name, int rank, int h, int w, int c)
{
    int32_t shape4[4] = {1, h, w, c}, shape2[2] = {1, c};
    return reef_graph_add_tensor(fb->g, name, REEF_FLOAT32, rank, rank == 2 ? shape2 : shape4, fb->err);
}

static int add_const(fbuild *fb, const char *name, int rank, const int32_t *shape, const float *data, size_t count)
{
    int t = reef_graph_add_tensor(fb->g, name, REEF_FLOAT32, rank, shape, fb->err);
    if (t < 0 || reef_graph_set_data(fb->g, t, data, count * sizeof(float), fb->err)) return -1;
    return t;
}

static reef_fused_act fused(reef_nn_act a)
{
    return a == REEF_NN_ACT_RELU6 ? REEF_ACT_RELU6 : a == REEF_NN_ACT_RELU ? REEF_ACT_RELU : REEF_ACT_NONE;
}

/* Weight tensor shape and element count of a weighted layer. */
static size_t weight_shape(const reef_layer *L, int32_t shape[4], int *rank)
{
    const reef_conv_dims *d = &L->dims;
    *rank = 4;
    if (L->kind == REEF_LAYER_CONV) {
        shape[0] = d->oc, shape[1] = d->kh, shape[2] = d->kw, shape[3] = d->c;
    } else if (L->kind == REEF_LAYER_DWCONV) {
        shape[0] = 1, shape[1] = d->kh, shape[2] = d->kw, shape[3] = d->oc;
    } else {
        shape[0] = d->oc, shape[1] = d->c, *rank = 2;
    }
    return (size_t)shape[0] * shape[1] * (*rank == 4 ? (size_t)shape[2] * shape[3] : 1);
}

/* CONV_2D / DEPTHWISE_CONV_2D / FULLY_CONNECTED, folded, activation fused. */
static int add_weighted(fbuild *fb, const reef_layer *L, const char *name)
{
    const reef_conv_dims *d = &L->dims;
    int32_t wshape[4], bshape[1] = {d->oc};
    int wrank, rc = -1;
    size_t count = weight_shape(L, wshape, &wrank);
    float *w = malloc(count * sizeof *w), *b = malloc((size_t)d->oc * sizeof *b);
    char wname[48], bname[48];
    snprintf(wname, sizeof wname, "%s.w", name), snprintf(bname, sizeof bname, "%s.b", name);
    if (!w || !b) {
        reef_fail(fb->err, "out of memory");
        goto done;
    }
    reef_fold_bn(L, w, b);
    const int is_fc = L->kind == REEF_LAYER_FC;
    int wt = add_const(fb, wname, wrank, wshape, w, count);
    int bt = wt < 0 ? -1 : add_const(fb, bname, 1, bshape, b, (size_t)d->oc);
    int out = bt < 0 ? -1 : add_act(fb, name, is_fc ? 2 : 4, d->oh, d->ow, d->oc);
    if (out < 0) goto done;
    reef_op_options o;
    reef_op_options_init(&o);
    o.activation = fused(L->act);
    o.padding = REEF_PAD_SAME; /* the float layers pad as TFLite's SAME */
    o.stride_w = o.stride_h = d->stride;
    int32_t builtin = is_fc ? REEF_OP_FULLY_CONNECTED : L->kind == REEF_LAYER_CONV ? REEF_OP_CONV_2D : REEF_OP_DEPTHWISE_CONV_2D;
    if (L->kind == REEF_LAYER_DWCONV) o.depth_multiplier = d->oc / d->c;
    int32_t ins[3] = {fb->cur, wt, bt}, outs[1] = {out};
    if (reef_graph_add_op(fb->g, builtin, ins, 3, outs, 1, &o, fb->err) < 0) goto done;
    fb->cur = out;
    rc = 0;
done:
    free(w), free(b);
    return rc;
}

/* Pools (VALID) and global average pooling (a pool over the whole map). */
static int add_pool(fbuild *fb, const reef_layer *L, const char *name)
{
    const reef_conv_dims *d = &L->dims;
    int out = add_act(fb, name, 4, d->oh, d->ow, d->oc);
    if (out < 0) return -1;
    reef_op_options o;
    reef_op_options_init(&o);
    o.padding = REEF_PAD_VALID;
    if (L->kind == REEF_LAYER_GAP)
        o.filter_h = d->h, o.filter_w = d->w, o.stride_h = o.stride_w = 1;
    else
        o.filter_h = d->kh, o.filter_w = d->kw, o.stride_h = o.stride_w = d->stride;
    int32_t builtin = L->kind == REEF_LAYER_MAXPOOL ? REEF_OP_MAX_POOL_2D : REEF_OP_AVERAGE_POOL_2D;
    int32_t ins[1] = {fb->cur}, outs[1] = {out};
    if (reef_graph_add_op(fb->g, builtin, ins, 1, outs, 1, &o, fb->err) < 0) return -1;
    fb->cur = out;
    return 0;
}

static int add_residual(fbuild *fb, const reef_block *b, int bi, int block_in)
{
    char name[40];
    snprintf(name, sizeof name, "b%d.add", bi);
    int out = add_act(fb, name, 4, b->out_h, b->out_w, b->out_c);
    int32_t ins[2] = {fb->cur, block_in}, outs[1] = {out};
    if (out < 0 || reef_graph_add_op(fb->g, REEF_OP_ADD, ins, 2, outs, 1, NULL, fb->err) < 0) return -1;
    fb->cur = out;
    return 0;
}

/* A 4-D (1, 1, 1, classes) tail becomes (1, classes). */
static int add_logits(fbuild *fb, int classes)
{
    const reef_tensor *in = &fb->g->tensors[fb->cur];
    if (reef_tensor_elements(in) != classes)
        return reef_fail(fb->err, "the network's last layer has %lld outputs for %d classes",
                         (long long)reef_tensor_elements(in), classes);
    if (in->rank == 2) return 0;
    int32_t sshape[1] = {2}, shape_data[2] = {1, classes};
    int out = add_act(fb, "logits", 2, 1, 1, classes);
    int st = out < 0 ? -1 : reef_graph_add_tensor(fb->g, "logits.shape", REEF_INT32, 1, sshape, fb->err);
    if (st < 0 || reef_graph_set_data(fb->g, st, shape_data, sizeof shape_data, fb->err)) return -1;
    reef_op_options o;
    reef_op_options_init(&o);
    o.nnew_shape = 2, o.new_shape[0] = 1, o.new_shape[1] = classes;
    int32_t ins[2] = {fb->cur, st}, outs[1] = {out};
    if (reef_graph_add_op(fb->g, REEF_OP_RESHAPE, ins, 2, outs, 1, &o, fb->err) < 0) return -1;
    fb->cur = out;
    return 0;
}

static int build_blocks(fbuild *fb, const reef_model *m)
{
    for (int bi = 0; bi < m->nblocks; bi++) {
        const reef_block *b = &m->blocks[bi];
        const int block_in = fb->cur;
        for (int li = 0; li < b->nlayers; li++) {
            const reef_layer *L = &b->layers[li];
            char name[40];
            snprintf(name, sizeof name, "b%d.l%d", bi, li);
            int rc = 0;
            if (L->kind == REEF_LAYER_CONV || L->kind == REEF_LAYER_DWCONV || L->kind == REEF_LAYER_FC)
                rc = add_weighted(fb, L, name);
            else if (L->kind != REEF_LAYER_DROPOUT) /* dropout is the identity in inference */
                rc = add_pool(fb, L, name);
            if (rc) return -1;
        }
        if (b->residual && add_residual(fb, b, bi, block_in)) return -1;
    }
    return 0;
}

int reef_float_graph_from_model(const reef_model *m, reef_graph *g, reef_error *err)
{
    fbuild fb = {g, -1, err};
    char name[72];
    size_t n = 0;
    for (const char *p = m->arch.name[0] ? m->arch.name : "model"; *p && n + 5 < sizeof name; p++)
        name[n++] = (char)((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ? *p : '_');
    snprintf(name + n, sizeof name - n, "_f32");
    if (reef_graph_init(g, name, err)) return -1;
    int input = add_act(&fb, "input", 4, m->in_h, m->in_w, m->in_c);
    fb.cur = input;
    int rc = input < 0 || reef_graph_set_description(g, "reef float32 build (batch norm folded), logits out", err) ||
             build_blocks(&fb, m) || add_logits(&fb, m->num_classes);
    int32_t in[1] = {input}, out[1] = {fb.cur};
    if (!rc) rc = reef_graph_set_io(g, in, 1, out, 1, err);
    if (rc) reef_graph_free(g);
    return rc ? -1 : 0;
}

void reef_float_input(const reef_norm *norm, const uint8_t *pixels, size_t count, float *out)
{
    /* The same arithmetic as reef_model_normalize, so host results agree. */
    const int channels = norm->channels > 0 ? norm->channels : 1;
    float scale[REEF_MAX_CHANNELS], shift[REEF_MAX_CHANNELS];
    for (int j = 0; j < channels && j < REEF_MAX_CHANNELS; j++) {
        scale[j] = 1.0f / (255.0f * norm->std[j]);
        shift[j] = -norm->mean[j] / norm->std[j];
    }
    for (size_t i = 0; i < count; i++) {
        int c = (int)(i % (size_t)channels);
        out[i] = pixels[i] * scale[c] + shift[c];
    }
}
