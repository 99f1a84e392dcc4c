/* Row-streamed chains (reef/rows.h) for the planner: which runs of
 * conv / depthwise steps (and a residual ADD) can become one ROWS step,
 * and the ROWS step itself: ring sizes, where its output sits against its
 * input, and how many finished rows must wait, all from a dry run of the
 * runtime's own schedule (reef_rows_run with a dry observer). */
#include <stdlib.h>
#include <string.h>

#include "codegen/lower_internal.h"
#include "codegen/plan.h"

static const reef_dims *layer_in(const reef_lowered_step *s)
{
    return s->kind == REEF_STEP_CONV ? &s->args.conv.input_dims : &s->args.dw_conv.input_dims;
}
static const reef_dims *layer_out(const reef_lowered_step *s)
{
    return s->kind == REEF_STEP_CONV ? &s->args.conv.output_dims : &s->args.dw_conv.output_dims;
}

/* 1 when every row view of a conv layer takes the loop the whole layer
 * takes: the firmware links only the loops of REEF_CONV_PATHS, and paired
 * filters (reef/conv.h) are read right only by the loop they were made for. */
static int conv_views_keep_path(const reef_conv_step_args *a)
{
    const int path = reef_conv_s8_path(&a->params, &a->input_dims, &a->filter_dims, &a->output_dims);
    const int32_t extent = (a->filter_dims.h - 1) * a->params.dilation.h + 1;
    for (int32_t y = 0; y < a->output_dims.h; y++) {
        int32_t lo = y * a->params.stride.h - a->params.padding.h, hi = lo + extent - 1, lo_c = lo < 0 ? 0 : lo;
        if (hi > a->input_dims.h - 1) hi = a->input_dims.h - 1;
        reef_conv_params p = a->params;
        reef_dims in = a->input_dims, out = a->output_dims;
        p.padding.h = lo_c - lo, in.h = hi - lo_c + 1, out.h = 1;
        if (reef_conv_s8_path(&p, &in, &a->filter_dims, &out) != path) return 0;
    }
    return 1;
}

int fuse_rows_chain_at(const reef_lowered_model *m, const int *readers, int k, int max_layers,
                       fuse_rows_chain *c)
{
    const reef_lowered_step *s = m->steps;
    memset(c, 0, sizeof *c);
    if (k >= m->nsteps || !fuse_is_layer(&s[k])) return 0;
    int32_t t0 = s[k].input_tensors[0];
    if (t0 < 0 || t0 == m->output_tensor) return 0;
    int n = 0;
    while (n < max_layers && k + n < m->nsteps && fuse_is_layer(&s[k + n])) {
        const reef_lowered_step *l = &s[k + n];
        if (l->kind == REEF_STEP_CONV && !conv_views_keep_path(&l->args.conv)) break;
        if (n > 0) {
            int32_t prev = s[k + n - 1].output_tensor;
            if (l->input_tensors[0] != prev || readers[prev] != 1 || prev == m->output_tensor) break;
        }
        n++;
    }
    if (n == 0) return 0;
    c->start = k, c->nlayers = n;
    /* a residual ADD of the chain's input and its last layer's output */
    int a = k + n;
    int32_t last = s[a - 1].output_tensor;
    if (a < m->nsteps && s[a].kind == REEF_STEP_ADD && readers[last] == 1 && last != m->output_tensor &&
        s[a].args.add.count == reef_dims_count(layer_in(&s[k])) &&
        s[a].args.add.count == reef_dims_count(layer_out(&s[a - 1])) &&
        layer_in(&s[k])->h == layer_out(&s[a - 1])->h &&
        ((s[a].input_tensors[0] == t0 && s[a].input_tensors[1] == last) ||
         (s[a].input_tensors[1] == t0 && s[a].input_tensors[0] == last))) {
        c->has_add = 1;
        c->add_t0_first = s[a].input_tensors[0] == t0;
    } else if (a + 1 < m->nsteps && s[a].kind == REEF_STEP_CONV && fuse_is_layer(&s[a]) &&
               conv_views_keep_path(&s[a].args.conv) && s[a].input_tensors[0] == t0 &&
               reef_dims_equal(layer_in(&s[a]), layer_in(&s[k])) && reef_dims_equal(layer_out(&s[a]), layer_out(&s[a - 1])) &&
               readers[s[a].output_tensor] == 1 && s[a].output_tensor != m->output_tensor &&
               s[a + 1].kind == REEF_STEP_ADD && readers[last] == 1 && last != m->output_tensor &&
               s[a + 1].args.add.count == reef_dims_count(layer_out(&s[a - 1])) &&
               ((s[a + 1].input_tensors[0] == s[a].output_tensor && s[a + 1].input_tensors[1] == last) ||
                (s[a + 1].input_tensors[1] == s[a].output_tensor && s[a + 1].input_tensors[0] == last))) {
        /* a projection shortcut: ADD(conv(T0), last layer's output) */
        c->has_skip = 1, c->has_add = 1;
        c->add_t0_first = s[a + 1].input_tensors[0] == s[a].output_tensor;
    }
    int32_t out = s[k + n - 1 + c->has_skip + c->has_add].output_tensor;
    c->in_place = readers[t0] == 1 + c->has_add && out != m->output_tensor;
    return 1;
}

/* Fills a ROWS args struct for chain c over the (shallow) layer copies in
 * sub, scratch parts at relative offsets; returns the scratch bytes. */
static uint32_t layout(reef_rows_step_args *a, reef_lowered_step *sub, const fuse_rows_chain *c, int32_t pending,
                       int32_t kernel, uint32_t *ring_rel, uint32_t *pending_rel, uint32_t *skip_rel)
{
    uint32_t at = fuse_align4(kernel);
    a->nstages = c->nlayers;
    for (int i = 0; i < c->nlayers; i++) {
        reef_rows_stage *st = &a->stage[i];
        const reef_dims *in = layer_in(&sub[i]);
        st->kind = sub[i].kind == REEF_STEP_CONV ? REEF_ROWS_CONV : REEF_ROWS_DW;
        st->conv = sub[i].kind == REEF_STEP_CONV ? &sub[i].args.conv : NULL;
        st->dw = sub[i].kind == REEF_STEP_DW_CONV ? &sub[i].args.dw_conv : NULL;
        if (i == 0) continue;
        int32_t kh = st->conv ? st->conv->filter_dims.h : st->dw->filter_dims.h;
        int32_t dil = st->conv ? st->conv->params.dilation.h : st->dw->params.dilation.h;
        int32_t extent = (kh - 1) * dil + 1;
        st->ring_rows = extent < in->h ? extent : in->h;
        ring_rel[i] = at;
        at += fuse_align4((int64_t)st->ring_rows * in->w * in->c);
    }
    const reef_dims *out = layer_out(&sub[c->nlayers - 1]);
    a->add = c->has_add ? &sub[c->nlayers + c->has_skip].args.add : NULL;
    a->add_t0_first = c->add_t0_first;
    a->skip = c->has_skip ? &sub[c->nlayers].args.conv : NULL;
    *skip_rel = at;
    if (c->has_skip) at += fuse_align4((int64_t)out->w * out->c);
    a->pending_rows = pending;
    *pending_rel = at;
    at += fuse_align4((int64_t)pending * out->w * out->c);
    a->kernel_size = kernel;
    return at;
}

/* Dry run with the output disp bytes above the input (in place) or apart
 * (disp == INT32_MAX): the most rows that wait and the kernels' scratch. */
static int dry_run(reef_rows_step_args *a, int64_t in_bytes, int32_t disp, int32_t *pending, int32_t *kernel)
{
    reef_rows_observer obs = {NULL, NULL, NULL, 1, 0, 0};
    uint8_t dummy[4];
    a->io.input_at = 1u << 28;
    a->io.output_at = disp == INT32_MAX ? a->io.input_at + (uint32_t)fuse_align4(in_bytes) + 64u
                                        : (uint32_t)((int64_t)a->io.input_at + disp);
    a->pending_rows = 1 << 20;
    if (reef_rows_run(a, dummy, &obs) != REEF_OK) return -1;
    *pending = obs.max_pending, *kernel = obs.kernel_bytes;
    return 0;
}

int fuse_rows_make(const reef_lowered_model *m, const fuse_rows_chain *c, reef_lowered_step *out)
{
    const int nsub = c->nlayers + c->has_skip + c->has_add;
    reef_lowered_step *sub = malloc((size_t)nsub * sizeof *sub);
    if (!sub) return -1;
    memcpy(sub, &m->steps[c->start], (size_t)nsub * sizeof *sub);
    memset(out, 0, sizeof *out);
    out->kind = REEF_STEP_ROWS;
    out->op = sub[0].op, out->builtin = sub[0].builtin;
    out->input_tensors[0] = sub[0].input_tensors[0], out->input_tensors[1] = -1;
    out->output_tensor = sub[nsub - 1].output_tensor;
    out->sub = sub, out->nsub = nsub;
    for (int j = 0; j < nsub; j++) out->macs += sub[j].macs;
    reef_rows_step_args *a = &out->args.rows;
    const reef_dims *in = layer_in(&sub[0]), *o = layer_out(&sub[c->nlayers - 1]);
    const int64_t in_bytes = reef_dims_count(in), out_bytes = reef_dims_count(o);
    const int32_t out_row = o->w * o->c;
    int32_t pending = 0, kernel = 0;
    layout(a, sub, c, 1, 0, out->rows_ring_rel, &out->rows_pending_rel, &out->rows_skip_rel);
    if (!c->in_place) {
        if (dry_run(a, in_bytes, INT32_MAX, &pending, &kernel)) return free(sub), out->sub = NULL, -1;
        out->rows_in_place = 0;
        a->io.scratch_size =
            layout(a, sub, c, 0, kernel, out->rows_ring_rel, &out->rows_pending_rel, &out->rows_skip_rel);
        return 0;
    }
    /* in place: the output's offset from the input that needs the fewest
     * bytes, its span plus the rows that wait */
    int32_t cands[5] = {0, -(int32_t)fuse_align4(out_bytes > in_bytes ? out_bytes - in_bytes : 0),
                        -(int32_t)fuse_align4(out_row), -(int32_t)fuse_align4(2 * (int64_t)out_row),
                        -(int32_t)fuse_align4(3 * (int64_t)out_row)};
    int64_t best = -1;
    int32_t best_disp = 0, best_pending = 0;
    for (int i = 0; i < 5; i++) {
        int32_t d = cands[i], p, kb;
        if (dry_run(a, in_bytes, d, &p, &kb)) return free(sub), out->sub = NULL, -1;
        if (p < 1) p = 1;
        int64_t hi = in_bytes > d + out_bytes ? in_bytes : d + out_bytes, lo = d < 0 ? d : 0;
        int64_t bytes = hi - lo + fuse_align4((int64_t)p * out_row);
        if (best < 0 || bytes < best) best = bytes, best_disp = d, best_pending = p, kernel = kb;
    }
    out->rows_in_place = 1;
    out->rows_disp = best_disp;
    a->io.scratch_size =
        layout(a, sub, c, best_pending, kernel, out->rows_ring_rel, &out->rows_pending_rel, &out->rows_skip_rel);
    return 0;
}

/* The stage pointers and absolute scratch offsets, for where the step and
 * its layers sit now (after a move or a copy of the step). */
void fuse_rows_fix(reef_lowered_step *s)
{
    reef_rows_step_args *a = &s->args.rows;
    const uint32_t base = a->io.scratch_at;
    for (int i = 0; i < a->nstages; i++) {
        a->stage[i].conv = s->sub[i].kind == REEF_STEP_CONV ? &s->sub[i].args.conv : NULL;
        a->stage[i].dw = s->sub[i].kind == REEF_STEP_DW_CONV ? &s->sub[i].args.dw_conv : NULL;
        a->stage[i].ring_at = i ? base + s->rows_ring_rel[i] : 0;
    }
    const int has_skip = s->nsub > a->nstages + 1; /* layers, skip conv, ADD */
    a->skip = has_skip ? &s->sub[a->nstages].args.conv : NULL;
    a->skip_at = base + s->rows_skip_rel;
    a->add = s->nsub > a->nstages ? &s->sub[a->nstages + has_skip].args.add : NULL;
    a->pending_at = base + s->rows_pending_rel;
    a->kernel_at = base;
}
