/* Patch-based execution of a chain of convolutions (reef/patch.h). */
#include "reef/patch.h"

#include "reef/step.h"

/* Per layer i: its input (level i) and output (level i + 1) and window. */
typedef struct patch_layer {
    const reef_dims *in, *out;
    int32_t sh, sw, ph, pw, eh, ew; /* strides, paddings, dilated kernel extents */
} patch_layer;

/* A region of every level for one patch: rows r0..r1, columns c0..c1. */
typedef struct patch_regions {
    int32_t r0[REEF_PATCH_MAX_STAGES + 1], r1[REEF_PATCH_MAX_STAGES + 1];
    int32_t c0[REEF_PATCH_MAX_STAGES + 1], c1[REEF_PATCH_MAX_STAGES + 1];
} patch_regions;

typedef struct patch_run {
    const reef_patch_step_args *a;
    uint8_t *arena;
    reef_patch_observer *obs;
    int dry;
    patch_layer layer[REEF_PATCH_MAX_STAGES];
    const reef_dims *out; /* the last layer's output (level nstages) */
} patch_run;

static void note(patch_run *r, int write, uint32_t at, uint32_t bytes, int32_t level, int32_t y, int32_t x,
                 int32_t h, int32_t w, int32_t c)
{
    reef_patch_range range;
    void (*seen)(void *, const reef_patch_range *);
    if (!r->obs || bytes == 0) return;
    seen = write ? r->obs->write : r->obs->read;
    if (!seen) return;
    range.at = at, range.bytes = bytes, range.level = level;
    range.y = y, range.x = x, range.h = h, range.w = w, range.c = c;
    seen(r->obs->ctx, &range);
}

static int describe(patch_layer *l, const reef_patch_stage *s)
{
    int32_t kh, kw, dh, dw;
    if (s->kind == REEF_PATCH_CONV && s->conv) {
        const struct reef_conv_step_args *a = s->conv;
        l->in = &a->input_dims, l->out = &a->output_dims;
        l->sh = a->params.stride.h, l->sw = a->params.stride.w, l->ph = a->params.padding.h, l->pw = a->params.padding.w;
        kh = a->filter_dims.h, kw = a->filter_dims.w, dh = a->params.dilation.h, dw = a->params.dilation.w;
    } else if (s->kind == REEF_PATCH_DW && s->dw) {
        const struct reef_dw_conv_step_args *a = s->dw;
        l->in = &a->input_dims, l->out = &a->output_dims;
        l->sh = a->params.stride.h, l->sw = a->params.stride.w, l->ph = a->params.padding.h, l->pw = a->params.padding.w;
        kh = a->filter_dims.h, kw = a->filter_dims.w, dh = a->params.dilation.h, dw = a->params.dilation.w;
    } else {
        return -1;
    }
    if (l->in->n != 1 || l->sh < 1 || l->sw < 1 || dh < 1 || dw < 1 || kh < 1 || kw < 1) return -1;
    l->eh = (kh - 1) * dh + 1, l->ew = (kw - 1) * dw + 1;
    return 0;
}

static int set_layers(patch_run *r)
{
    const reef_patch_step_args *a = r->a;
    int32_t i;
    if (a->nstages < 1 || a->nstages > REEF_PATCH_MAX_STAGES || a->grid_h < 1 || a->grid_w < 1 ||
        a->grid_h > REEF_PATCH_MAX_GRID || a->grid_w > REEF_PATCH_MAX_GRID)
        return -1;
    for (i = 0; i < a->nstages; i++) {
        if (describe(&r->layer[i], &a->stage[i])) return -1;
        if (i > 0 && !reef_dims_equal(r->layer[i].in, r->layer[i - 1].out)) return -1;
    }
    r->out = r->layer[a->nstages - 1].out;
    return 0;
}

/* The input range [*lo, *hi] the output range [*lo, *hi] of a layer reads. */
static void back(int32_t *lo, int32_t *hi, int32_t stride, int32_t pad, int32_t extent, int32_t in)
{
    int32_t a = *lo * stride - pad, b = *hi * stride - pad + extent - 1;
    *lo = a < 0 ? 0 : a;
    *hi = b > in - 1 ? in - 1 : b;
}

/* Patch (py, px)'s region at every level; 0 when the patch is empty. */
static int regions(const patch_run *r, int32_t py, int32_t px, patch_regions *g)
{
    const int32_t n = r->a->nstages;
    const reef_dims *o = r->layer[n - 1].out;
    int32_t i;
    g->r0[n] = py * o->h / r->a->grid_h, g->r1[n] = (py + 1) * o->h / r->a->grid_h - 1;
    g->c0[n] = px * o->w / r->a->grid_w, g->c1[n] = (px + 1) * o->w / r->a->grid_w - 1;
    if (g->r1[n] < g->r0[n] || g->c1[n] < g->c0[n]) return 0;
    for (i = n - 1; i >= 0; i--) {
        const patch_layer *l = &r->layer[i];
        g->r0[i] = g->r0[i + 1], g->r1[i] = g->r1[i + 1], g->c0[i] = g->c0[i + 1], g->c1[i] = g->c1[i + 1];
        back(&g->r0[i], &g->r1[i], l->sh, l->ph, l->eh, l->in->h);
        back(&g->c0[i], &g->c1[i], l->sw, l->pw, l->ew, l->in->w);
    }
    return 1;
}

/* Level i's tensor shape. */
static const reef_dims *level_dims(const patch_run *r, int32_t i)
{
    return i < r->a->nstages ? r->layer[i].in : r->out;
}

/* 1 when level i's region spans whole rows: the input is then read where
 * it lies, the output written where it goes (no copy). */
static int whole_rows(const patch_run *r, const patch_regions *g, int32_t i)
{
    return g->c0[i] == 0 && g->c1[i] == level_dims(r, i)->w - 1;
}

static uint32_t region_bytes(const patch_run *r, const patch_regions *g, int32_t i)
{
    return (uint32_t)((g->r1[i] - g->r0[i] + 1) * (g->c1[i] - g->c0[i] + 1) * level_dims(r, i)->c);
}

/* Where level i's region sits: in the input or output tensor (whole rows),
 * else at its end of the region buffers. */
static uint32_t region_at(const patch_run *r, const patch_regions *g, int32_t i)
{
    const reef_dims *d = level_dims(r, i);
    if (i == 0 && whole_rows(r, g, 0)) return r->a->io.input_at + (uint32_t)(g->r0[0] * d->w * d->c);
    if (i == r->a->nstages && whole_rows(r, g, i)) return r->a->io.output_at + (uint32_t)(g->r0[i] * d->w * d->c);
    if (i % 2 == 0) return r->a->buf_at;
    return r->a->buf_at + (uint32_t)r->a->buf_size - ((region_bytes(r, g, i) + 3u) & ~3u);
}

/* Bytes level i's region takes of the region buffers (4-byte aligned). */
static uint32_t buffered(const patch_run *r, const patch_regions *g, int32_t i)
{
    if ((i == 0 || i == r->a->nstages) && whole_rows(r, g, i)) return 0;
    return (region_bytes(r, g, i) + 3u) & ~3u;
}

static void copy_bytes(uint8_t *dst, const uint8_t *src, int32_t n)
{
    int32_t i;
    for (i = 0; i < n; i++) dst[i] = src[i];
}

/* Moves level i's region row by row between its whole tensor at `whole`
 * and its compact copy at `compact` (to_compact: the input's rows in). */
static void move_rows(patch_run *r, const patch_regions *g, int32_t i, uint32_t whole, uint32_t compact,
                      int to_compact)
{
    const reef_dims *d = level_dims(r, i);
    const int32_t w = g->c1[i] - g->c0[i] + 1, seg = w * d->c;
    int32_t y;
    for (y = g->r0[i]; y <= g->r1[i]; y++) {
        const uint32_t t = whole + (uint32_t)((y * d->w + g->c0[i]) * d->c);
        const uint32_t c = compact + (uint32_t)((y - g->r0[i]) * seg);
        const uint32_t from = to_compact ? t : c, to = to_compact ? c : t;
        note(r, 0, from, (uint32_t)seg, i, y, g->c0[i], 1, w, d->c);
        if (!r->dry) copy_bytes(r->arena + to, r->arena + from, seg);
        note(r, 1, to, (uint32_t)seg, i, y, g->c0[i], 1, w, d->c);
    }
}

/* Layer i over the patch: level i's region at in_at -> level i + 1's at out_at. */
static reef_status layer_patch(patch_run *r, const patch_regions *g, int32_t i, uint32_t in_at, uint32_t out_at)
{
    const reef_patch_stage *s = &r->a->stage[i];
    const patch_layer *l = &r->layer[i];
    reef_dims in_view = *l->in, out_view = *l->out;
    const int32_t pad_h = g->r0[i] - (g->r0[i + 1] * l->sh - l->ph);
    const int32_t pad_w = g->c0[i] - (g->c0[i + 1] * l->sw - l->pw);
    const int in_whole = i == 0 && whole_rows(r, g, 0);
    const int out_whole = i + 1 == r->a->nstages && whole_rows(r, g, i + 1);
    reef_context ctx;
    reef_status st = REEF_OK;
    int32_t need;
    in_view.h = g->r1[i] - g->r0[i] + 1, in_view.w = g->c1[i] - g->c0[i] + 1;
    out_view.h = g->r1[i + 1] - g->r0[i + 1] + 1, out_view.w = g->c1[i + 1] - g->c0[i + 1] + 1;
    ctx.buf = r->arena + r->a->kernel_at;
    ctx.size = r->a->kernel_size;
    if (in_whole) {
        int32_t y;
        for (y = g->r0[0]; y <= g->r1[0]; y++)
            note(r, 0, in_at + (uint32_t)((y - g->r0[0]) * in_view.w * in_view.c), (uint32_t)(in_view.w * in_view.c), 0,
                 y, 0, 1, in_view.w, in_view.c);
    } else {
        note(r, 0, in_at, region_bytes(r, g, i), i, g->r0[i], g->c0[i], in_view.h, in_view.w, in_view.c);
    }
    if (s->kind == REEF_PATCH_CONV) {
        const struct reef_conv_step_args *c = s->conv;
        reef_conv_params p = c->params;
        p.padding.h = pad_h, p.padding.w = pad_w;
        need = reef_conv_s8_get_buffer_size(&p, &in_view, &c->filter_dims, &out_view);
        if (r->obs) {
            r->obs->macs += (int64_t)reef_dims_count(&out_view) * c->filter_dims.h * c->filter_dims.w * c->filter_dims.c;
            r->obs->path_changes += reef_conv_s8_path(&p, &in_view, &c->filter_dims, &out_view) !=
                                    reef_conv_s8_path(&c->params, &c->input_dims, &c->filter_dims, &c->output_dims);
        }
        if (!r->dry && need <= ctx.size)
            st = reef_conv_s8(&ctx, &p, &s->conv->quant, &in_view, (const int8_t *)(r->arena + in_at),
                              &s->conv->filter_dims, s->conv->filter, s->conv->bias, &out_view,
                              (int8_t *)(r->arena + out_at));
    } else {
        const struct reef_dw_conv_step_args *d = s->dw;
        reef_dw_conv_params p = d->params;
        p.padding.h = pad_h, p.padding.w = pad_w;
        need = reef_dw_conv_s8_get_buffer_size(&p, &in_view, &d->filter_dims, &out_view);
        if (r->obs) {
            r->obs->macs += (int64_t)reef_dims_count(&out_view) * d->filter_dims.h * d->filter_dims.w;
            r->obs->path_changes +=
                reef_dw_conv_s8_path(&p, &d->quant, &in_view, &d->filter_dims, &out_view, ctx.size) !=
                reef_dw_conv_s8_path(&d->params, &d->quant, &d->input_dims, &d->filter_dims, &d->output_dims,
                                     (int32_t)d->io.scratch_size);
        }
        if (!r->dry && need <= ctx.size)
            st = reef_dw_conv_s8(&ctx, &p, &s->dw->quant, &in_view, (const int8_t *)(r->arena + in_at),
                                 &s->dw->filter_dims, s->dw->filter, s->dw->bias, &out_view,
                                 (int8_t *)(r->arena + out_at));
    }
    if (!r->dry && need > ctx.size) return REEF_ARG_ERROR;
    if (r->obs) {
        if (need > r->obs->kernel_bytes) r->obs->kernel_bytes = need;
        r->obs->kernel_calls++;
    }
    if (need > 0) note(r, 1, r->a->kernel_at, (uint32_t)need, REEF_PATCH_KERNEL_SCRATCH, 0, 0, 0, 0, 0);
    if (out_whole) {
        int32_t y;
        for (y = g->r0[i + 1]; y <= g->r1[i + 1]; y++)
            note(r, 1, out_at + (uint32_t)((y - g->r0[i + 1]) * out_view.w * out_view.c),
                 (uint32_t)(out_view.w * out_view.c), i + 1, y, 0, 1, out_view.w, out_view.c);
    } else {
        note(r, 1, out_at, region_bytes(r, g, i + 1), i + 1, g->r0[i + 1], g->c0[i + 1], out_view.h, out_view.w,
             out_view.c);
    }
    return st;
}

/* One patch, layer by layer through the region buffers. */
static reef_status run_patch(patch_run *r, const patch_regions *g)
{
    const int32_t n = r->a->nstages;
    int32_t i;
    for (i = 0; i < n; i++) {
        const uint32_t live = buffered(r, g, i) + buffered(r, g, i + 1);
        if (r->obs && (int32_t)live > r->obs->buf_bytes) r->obs->buf_bytes = (int32_t)live;
        if (!r->dry && live > (uint32_t)r->a->buf_size) return REEF_ARG_ERROR;
    }
    if (!whole_rows(r, g, 0)) move_rows(r, g, 0, r->a->io.input_at, region_at(r, g, 0), 1);
    for (i = 0; i < n; i++) {
        reef_status st = layer_patch(r, g, i, region_at(r, g, i), region_at(r, g, i + 1));
        if (st != REEF_OK) return st;
    }
    if (!whole_rows(r, g, n)) move_rows(r, g, n, r->a->io.output_at, region_at(r, g, n), 0);
    return REEF_OK;
}

reef_status reef_patch_run(const reef_patch_step_args *a, uint8_t *arena, reef_patch_observer *obs)
{
    patch_run r;
    patch_regions g;
    int32_t py, px;
    if (!a || !arena) return REEF_ARG_ERROR;
    r.a = a, r.arena = arena, r.obs = obs, r.dry = obs ? obs->dry : 0;
    if (set_layers(&r)) return REEF_ARG_ERROR;
    for (py = 0; py < a->grid_h; py++)
        for (px = 0; px < a->grid_w; px++) {
            reef_status st;
            if (!regions(&r, py, px, &g)) continue;
            st = run_patch(&r, &g);
            if (st != REEF_OK) return st;
        }
    return REEF_OK;
}

reef_status reef_patch_step(const void *args, uint8_t *arena)
{
    return reef_patch_run((const reef_patch_step_args *)args, arena, (reef_patch_observer *)0);
}
