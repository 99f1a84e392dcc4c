/* Patch-based first stage (MCUNetV2), planned (see patch_plan.h). */
#include "codegen/patch_plan.h"

#include <string.h>

typedef struct stage_layer {
    const reef_dims *in, *out;
    int32_t kh, kw, sh, sw, ph, pw, dh, dw;
    int64_t macs_per_out; /* MACs of one output value */
} stage_layer;

static int describe(const reef_lowered_step *s, stage_layer *l)
{
    if (s->kind == REEF_STEP_CONV) {
        const reef_conv_step_args *a = &s->args.conv;
        *l = (stage_layer){&a->input_dims, &a->output_dims, a->filter_dims.h, a->filter_dims.w, a->params.stride.h,
                           a->params.stride.w, a->params.padding.h, a->params.padding.w, a->params.dilation.h,
                           a->params.dilation.w, (int64_t)a->filter_dims.h * a->filter_dims.w * a->filter_dims.c};
        return a->input_dims.n == 1;
    }
    if (s->kind == REEF_STEP_DW_CONV) {
        const reef_dw_conv_step_args *a = &s->args.dw_conv;
        *l = (stage_layer){&a->input_dims, &a->output_dims, a->filter_dims.h, a->filter_dims.w, a->params.stride.h,
                           a->params.stride.w, a->params.padding.h, a->params.padding.w, a->params.dilation.h,
                           a->params.dilation.w, (int64_t)a->filter_dims.h * a->filter_dims.w};
        return a->input_dims.n == 1;
    }
    return 0;
}

/* The input range [*lo, *hi] output range [lo, hi] of a layer reads. */
static void back(int32_t *lo, int32_t *hi, int32_t stride, int32_t pad, int32_t k, int32_t dil, int32_t in)
{
    int32_t a = *lo * stride - pad, b = *hi * stride - pad + (k - 1) * dil;
    *lo = a < 0 ? 0 : a;
    *hi = b > in - 1 ? in - 1 : b;
}

/* Peak patch buffers and MACs of the patch grid over a stage of n layers. */
static void plan_grid(const stage_layer *l, int n, int grid, size_t *patch_bytes, int64_t *macs)
{
    const reef_dims *o = l[n - 1].out;
    *patch_bytes = 0, *macs = 0;
    for (int py = 0; py < grid; py++)
        for (int px = 0; px < grid; px++) {
            /* the patch's rows and columns at every level, last to first */
            int32_t r0[9], r1[9], c0[9], c1[9];
            r0[n] = py * o->h / grid, r1[n] = (py + 1) * o->h / grid - 1;
            c0[n] = px * o->w / grid, c1[n] = (px + 1) * o->w / grid - 1;
            if (r1[n] < r0[n] || c1[n] < c0[n]) continue;
            for (int i = n - 1; i >= 0; i--) {
                r0[i] = r0[i + 1], r1[i] = r1[i + 1], c0[i] = c0[i + 1], c1[i] = c1[i + 1];
                back(&r0[i], &r1[i], l[i].sh, l[i].ph, l[i].kh, l[i].dh, l[i].in->h);
                back(&c0[i], &c1[i], l[i].sw, l[i].pw, l[i].kw, l[i].dw, l[i].in->w);
            }
            /* layer i reads level i and writes level i + 1: levels 1..n-1 are
             * patch buffers (0 is the whole input, n the whole output) */
            for (int i = 0; i < n; i++) {
                size_t live = 0;
                if (i > 0) live += (size_t)(r1[i] - r0[i] + 1) * (size_t)(c1[i] - c0[i] + 1) * (size_t)l[i].in->c;
                if (i + 1 < n)
                    live += (size_t)(r1[i + 1] - r0[i + 1] + 1) * (size_t)(c1[i + 1] - c0[i + 1] + 1) *
                            (size_t)l[i].out->c;
                if (live > *patch_bytes) *patch_bytes = live;
                *macs += (int64_t)(r1[i + 1] - r0[i + 1] + 1) * (c1[i + 1] - c0[i + 1] + 1) * l[i].out->c *
                         l[i].macs_per_out;
            }
        }
}

int reef_patch_plan_first_stage(const reef_graph *g, const reef_lowered_model *m, reef_memory_mode mode,
                                int max_layers, reef_patch_plan *best)
{
    stage_layer l[8];
    memset(best, 0, sizeof *best);
    if (max_layers > 8) max_layers = 8;
    int n = 0;
    while (n < max_layers && n < m->nsteps && describe(&m->steps[n], &l[n])) {
        const reef_lowered_step *s = &m->steps[n];
        int32_t want = n == 0 ? m->input_tensor : m->steps[n - 1].output_tensor;
        if (s->input_tensors[0] != want || s->input_tensors[1] >= 0) break;
        /* an intermediate read by a later step too cannot live in patches */
        if (n > 0) {
            int readers = 0;
            for (int k = 0; k < m->nsteps; k++)
                readers += m->steps[k].input_tensors[0] == want || m->steps[k].input_tensors[1] == want;
            if (readers != 1) break;
        }
        n++;
    }
    if (n < 2) return 0;
    reef_lower_options lo = {0, mode, REEF_PATCH_OFF};
    for (int layers = 2; layers <= n; layers++) {
        int64_t stage_macs = 0;
        for (int i = 0; i < layers; i++) stage_macs += reef_dims_count(l[i].out) * l[i].macs_per_out;
        reef_patch_plan pick = {0};
        for (int grid = 2; grid <= 8; grid++) {
            size_t patch;
            int64_t macs;
            plan_grid(l, layers, grid, &patch, &macs);
            reef_patch_plan p = {layers, grid, (size_t)m->input_bytes, (size_t)reef_dims_count(l[layers - 1].out),
                                 patch, 0, 0, stage_macs, macs - stage_macs};
            p.peak_bound = p.input_bytes + p.output_bytes + p.patch_bytes;
            if (!pick.layers || p.peak_bound < pick.peak_bound ||
                (p.peak_bound == pick.peak_bound && p.extra_macs < pick.extra_macs))
                pick = p;
        }
        reef_error err;
        if (reef_lower_patch_arena(g, &lo, m->steps[layers - 1].output_tensor, pick.patch_bytes, &pick.arena, &err))
            return memset(best, 0, sizeof *best), -1;
        if (!best->layers || pick.arena < best->arena ||
            (pick.arena == best->arena && pick.extra_macs < best->extra_macs))
            *best = pick;
    }
    return 1;
}
