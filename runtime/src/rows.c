/* Row-streamed execution of a chain of convolutions (reef/rows.h). */
#include "reef/rows.h"

#include "reef/step.h"

/* Per stage i: its input T_i, output T_{i+1} and window. */
typedef struct rows_layer {
    const reef_dims *in, *out;
    int32_t stride, pad, extent; /* rows: stride, top padding, dilated kernel height */
    int32_t in_row, out_row;     /* bytes of one row */
} rows_layer;

typedef struct rows_run {
    const reef_rows_step_args *a;
    uint8_t *arena;
    reef_rows_observer *obs;
    int dry;
    rows_layer layer[REEF_ROWS_MAX_STAGES];
    rows_layer skip; /* the skip conv (a->skip), reading T0 */
    /* ring of stage i's input (i >= 1): rows base .. base + count - 1 */
    int32_t base[REEF_ROWS_MAX_STAGES], count[REEF_ROWS_MAX_STAGES];
    int32_t current[REEF_ROWS_MAX_STAGES]; /* output row stage i computes now or next */
    /* pending output rows: first .. first + waiting - 1, slot = row % pending_rows */
    int32_t first, waiting;
} rows_run;

static void copy_bytes(uint8_t *dst, const uint8_t *src, int32_t n)
{
    int32_t i;
    if (dst == src) return;
    if (dst < src)
        for (i = 0; i < n; i++) dst[i] = src[i];
    else
        for (i = n - 1; i >= 0; i--) dst[i] = src[i];
}

/* Tells the observer (if any) that rows row.. of tensor level `level`
 * (reef_rows_range) are read or written at `at`. */
static void note(rows_run *r, int write, uint32_t at, int32_t bytes, int32_t level, int32_t row, int32_t row_bytes)
{
    reef_rows_range range;
    void (*seen)(void *, const reef_rows_range *);
    if (!r->obs || bytes <= 0) return;
    seen = write ? r->obs->write : r->obs->read;
    if (!seen) return;
    range.at = at, range.bytes = (uint32_t)bytes, range.level = level, range.row = row, range.row_bytes = row_bytes;
    seen(r->obs->ctx, &range);
}
static void note_read(rows_run *r, uint32_t at, int32_t bytes, int32_t level, int32_t row, int32_t row_bytes)
{
    note(r, 0, at, bytes, level, row, row_bytes);
}
static void note_write(rows_run *r, uint32_t at, int32_t bytes, int32_t level, int32_t row, int32_t row_bytes)
{
    note(r, 1, at, bytes, level, row, row_bytes);
}

/* The level of the step's output rows (after the ADD, if any). */
static int32_t final_level(const rows_run *r)
{
    return r->a->nstages + (r->a->add ? 1 : 0);
}

/* l's shapes and row window from a conv or depthwise layer's args. */
static int describe(rows_layer *l, const struct reef_conv_step_args *conv, const struct reef_dw_conv_step_args *dw)
{
    int32_t kh, dil;
    if (conv) {
        l->in = &conv->input_dims, l->out = &conv->output_dims;
        l->stride = conv->params.stride.h, l->pad = conv->params.padding.h;
        kh = conv->filter_dims.h, dil = conv->params.dilation.h;
    } else if (dw) {
        l->in = &dw->input_dims, l->out = &dw->output_dims;
        l->stride = dw->params.stride.h, l->pad = dw->params.padding.h;
        kh = dw->filter_dims.h, dil = dw->params.dilation.h;
    } else {
        return -1;
    }
    if (l->in->n != 1 || l->stride < 1 || dil < 1 || kh < 1) return -1;
    l->extent = (kh - 1) * dil + 1;
    l->in_row = l->in->w * l->in->c;
    l->out_row = l->out->w * l->out->c;
    return 0;
}

static int set_layers(rows_run *r)
{
    const reef_rows_step_args *a = r->a;
    const reef_dims *last;
    int32_t i;
    if (a->nstages < 1 || a->nstages > REEF_ROWS_MAX_STAGES) return -1;
    for (i = 0; i < a->nstages; i++) {
        const reef_rows_stage *s = &a->stage[i];
        rows_layer *l = &r->layer[i];
        if (describe(l, s->kind == REEF_ROWS_CONV ? s->conv : 0, s->kind == REEF_ROWS_DW ? s->dw : 0)) return -1;
        if (i > 0 && !reef_dims_equal(l->in, r->layer[i - 1].out)) return -1;
        if (i > 0 && s->ring_rows < l->extent && s->ring_rows < l->in->h) return -1;
    }
    last = r->layer[a->nstages - 1].out;
    if (a->skip && (!a->add || describe(&r->skip, a->skip, 0) || !reef_dims_equal(r->skip.in, r->layer[0].in) ||
                    !reef_dims_equal(r->skip.out, last)))
        return -1;
    if (a->add && (a->add->count != reef_dims_count(last) ||
                   (!a->skip && (a->add->count != reef_dims_count(r->layer[0].in) || r->layer[0].in->h != last->h))))
        return -1;
    return a->pending_rows >= 0 ? 0 : -1; /* 0: rows go straight to an output apart from T0 */
}

/* The first input row output row y of layer i reads (clipped to 0). */
static int32_t window_lo(const rows_layer *l, int32_t y)
{
    int32_t lo = y * l->stride - l->pad;
    return lo < 0 ? 0 : lo;
}

/* Arena offset of row j of stage i's input. */
static uint32_t input_row_at(const rows_run *r, int32_t i, int32_t j)
{
    if (i == 0) return r->a->io.input_at + (uint32_t)(j * r->layer[0].in_row);
    return r->a->stage[i].ring_at + (uint32_t)((j - r->base[i]) * r->layer[i].in_row);
}

static reef_status compute_row(rows_run *r, int32_t i, int32_t y, uint32_t dst_at);

/* Makes rows up to hi of stage i's input (i >= 1) sit in its ring. */
static reef_status ensure_rows(rows_run *r, int32_t i, int32_t hi)
{
    const rows_layer *l = &r->layer[i];
    while (r->base[i] + r->count[i] <= hi) {
        int32_t row = r->base[i] + r->count[i];
        reef_status st;
        if (r->count[i] == r->a->stage[i].ring_rows) {
            /* full: drop the rows no later output row of layer i reads */
            int32_t keep_from = window_lo(l, r->current[i]), drop = keep_from - r->base[i];
            if (drop <= 0) return REEF_ARG_ERROR;
            if (drop > r->count[i]) drop = r->count[i];
            note_read(r, input_row_at(r, i, r->base[i] + drop), (r->count[i] - drop) * l->in_row, i,
                      r->base[i] + drop, l->in_row);
            if (!r->dry)
                copy_bytes(r->arena + r->a->stage[i].ring_at, r->arena + input_row_at(r, i, r->base[i] + drop),
                           (r->count[i] - drop) * l->in_row);
            note_write(r, r->a->stage[i].ring_at, (r->count[i] - drop) * l->in_row, i, r->base[i] + drop, l->in_row);
            r->base[i] += drop, r->count[i] -= drop;
            if (r->count[i] == 0) r->base[i] = row;
        }
        st = compute_row(r, i - 1, row, input_row_at(r, i, row));
        if (st != REEF_OK) return st;
        r->count[i]++;
    }
    return REEF_OK;
}

static reef_status layer_row(rows_run *r, const rows_layer *l, const struct reef_conv_step_args *conv,
                             const struct reef_dw_conv_step_args *dw, int32_t in_level, uint32_t in_at, int32_t y,
                             uint32_t dst_at, int32_t dst_level);

/* Output row y of layer i, written at dst_at. */
static reef_status compute_row(rows_run *r, int32_t i, int32_t y, uint32_t dst_at)
{
    const reef_rows_stage *s = &r->a->stage[i];
    const rows_layer *l = &r->layer[i];
    int32_t hi = y * l->stride - l->pad + l->extent - 1;
    reef_status st;
    if (hi > l->in->h - 1) hi = l->in->h - 1;
    r->current[i] = y;
    if (i > 0) {
        st = ensure_rows(r, i, hi);
        if (st != REEF_OK) return st;
    }
    return layer_row(r, l, s->kind == REEF_ROWS_CONV ? s->conv : 0, s->kind == REEF_ROWS_DW ? s->dw : 0, i,
                     input_row_at(r, i, window_lo(l, y)), y, dst_at, i + 1);
}

/* Row y of layer l (conv or dw) from its input rows at in_at (the first
 * row its window reads, tensor level in_level), written at dst_at. */
static reef_status layer_row(rows_run *r, const rows_layer *l, const struct reef_conv_step_args *conv,
                             const struct reef_dw_conv_step_args *dw, int32_t in_level, uint32_t in_at, int32_t y,
                             uint32_t dst_at, int32_t dst_level)
{
    int32_t lo = y * l->stride - l->pad, hi = lo + l->extent - 1, lo_c = lo < 0 ? 0 : lo;
    reef_dims in_view = *l->in, out_view = *l->out;
    reef_context ctx;
    reef_status st;
    int32_t need;
    if (hi > l->in->h - 1) hi = l->in->h - 1;
    in_view.h = hi - lo_c + 1;
    out_view.h = 1;
    ctx.buf = r->arena + r->a->kernel_at;
    ctx.size = r->a->kernel_size;
    note_read(r, in_at, in_view.h * l->in_row, in_level, lo_c, l->in_row);
    if (conv) {
        reef_conv_params p = conv->params;
        p.padding.h = lo_c - lo;
        need = reef_conv_s8_get_buffer_size(&p, &in_view, &conv->filter_dims, &out_view);
        st = r->dry ? REEF_OK
                    : reef_conv_s8(&ctx, &p, &conv->quant, &in_view, (const int8_t *)(r->arena + in_at),
                                   &conv->filter_dims, conv->filter, conv->bias, &out_view,
                                   (int8_t *)(r->arena + dst_at));
    } else {
        reef_dw_conv_params p = dw->params;
        p.padding.h = lo_c - lo;
        need = reef_dw_conv_s8_get_buffer_size(&p, &in_view, &dw->filter_dims, &out_view);
        st = r->dry ? REEF_OK
                    : reef_dw_conv_s8(&ctx, &p, &dw->quant, &in_view, (const int8_t *)(r->arena + in_at),
                                      &dw->filter_dims, dw->filter, dw->bias, &out_view, (int8_t *)(r->arena + dst_at));
    }
    if (r->obs && need > r->obs->kernel_bytes) r->obs->kernel_bytes = need;
    if (need > 0) note_write(r, r->a->kernel_at, need, REEF_ROWS_KERNEL_SCRATCH, 0, 0);
    note_write(r, dst_at, l->out_row, dst_level, y, l->out_row);
    return st;
}

/* The first row of T0 a later read may still touch. */
static int32_t t0_live_from(const rows_run *r, int32_t next_out)
{
    const int32_t n = r->a->nstages;
    /* layer 0's next output row: the next row of T1, or of the output */
    int32_t next0 = n > 1 ? r->base[1] + r->count[1] : next_out;
    int32_t from = next0 >= r->layer[0].out->h ? r->layer[0].in->h : window_lo(&r->layer[0], next0);
    if (r->a->skip) {
        if (next_out < r->layer[n - 1].out->h && window_lo(&r->skip, next_out) < from)
            from = window_lo(&r->skip, next_out);
    } else if (r->a->add && next_out < from) {
        from = next_out;
    }
    return from;
}

/* Writes the waiting rows whose destination no later read of T0 needs. */
static void commit_rows(rows_run *r, int32_t next_out, int all)
{
    const reef_rows_step_args *a = r->a;
    const int32_t out_row = r->layer[a->nstages - 1].out_row, in_row = r->layer[0].in_row;
    const uint32_t live_lo = a->io.input_at + (uint32_t)(t0_live_from(r, next_out) * in_row);
    const uint32_t live_hi = a->io.input_at + (uint32_t)(r->layer[0].in->h * in_row);
    while (r->waiting > 0) {
        uint32_t dst = a->io.output_at + (uint32_t)(r->first * out_row);
        uint32_t slot = a->pending_at + (uint32_t)((r->first % a->pending_rows) * out_row);
        if (!all && dst < live_hi && live_lo < dst + (uint32_t)out_row) return;
        note_read(r, slot, out_row, final_level(r), r->first, out_row);
        if (!r->dry) copy_bytes(r->arena + dst, r->arena + slot, out_row);
        note_write(r, dst, out_row, final_level(r), r->first, out_row);
        r->first++, r->waiting--;
    }
}

reef_status reef_rows_run(const reef_rows_step_args *a, uint8_t *arena, reef_rows_observer *obs)
{
    rows_run r;
    int32_t y, i, rows;
    if (!a || !arena) return REEF_ARG_ERROR;
    r.a = a, r.arena = arena, r.obs = obs, r.dry = obs ? obs->dry : 0;
    r.first = 0, r.waiting = 0;
    for (i = 0; i < REEF_ROWS_MAX_STAGES; i++) r.base[i] = 0, r.count[i] = 0, r.current[i] = 0;
    if (set_layers(&r)) return REEF_ARG_ERROR;
    rows = r.layer[a->nstages - 1].out->h;
    for (y = 0; y < rows; y++) {
        const int32_t out_row = r.layer[a->nstages - 1].out_row;
        uint32_t slot;
        reef_status st;
        if (a->pending_rows == 0) {
            slot = a->io.output_at + (uint32_t)(y * out_row);
        } else {
            if (r.waiting >= a->pending_rows && !r.dry) return REEF_ARG_ERROR;
            slot = a->pending_at + (uint32_t)((y % a->pending_rows) * out_row);
        }
        st = compute_row(&r, a->nstages - 1, y, slot);
        if (st != REEF_OK) return st;
        if (a->add) {
            /* the ADD's other operand: T0's row y, or the skip conv's */
            uint32_t t0 = a->io.input_at + (uint32_t)(y * r.layer[0].in_row);
            int32_t t0_level = 0;
            if (a->skip) {
                st = layer_row(&r, &r.skip, a->skip, 0, 0, input_row_at(&r, 0, window_lo(&r.skip, y)), y, a->skip_at,
                               a->nstages + 2);
                if (st != REEF_OK) return st;
                t0 = a->skip_at, t0_level = a->nstages + 2;
            }
            note_read(&r, t0, out_row, t0_level, y, out_row);
            note_read(&r, slot, out_row, a->nstages, y, out_row);
            if (!r.dry) {
                const int8_t *x0 = (const int8_t *)(arena + t0), *x1 = (const int8_t *)(arena + slot);
                st = reef_add_s8(&a->add->params, a->add_t0_first ? x0 : x1, a->add_t0_first ? x1 : x0, out_row,
                                 (int8_t *)(arena + slot));
                if (st != REEF_OK) return st;
            }
            note_write(&r, slot, out_row, a->nstages + 1, y, out_row);
        }
        if (a->pending_rows == 0) continue;
        r.waiting++;
        if (obs && r.waiting > obs->max_pending) obs->max_pending = r.waiting;
        commit_rows(&r, y + 1, 0);
    }
    commit_rows(&r, rows, 1);
    return REEF_OK;
}

reef_status reef_rows_step(const void *args, uint8_t *arena)
{
    return reef_rows_run((const reef_rows_step_args *)args, arena, (reef_rows_observer *)0);
}
