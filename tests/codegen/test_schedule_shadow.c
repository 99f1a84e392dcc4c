/* The planner's schedules replayed on a shadow of the arena (issue 14):
 * 1,000 random int8 nets (stem, 1-3 MBConv blocks of random kernel,
 * expansion, stride and skip, pooled head), each lowered in every memory
 * mode (fast, balanced, min: depthwise steps in place). The shadow records,
 * per arena byte, which tensor's value it holds; replaying the step table
 * in order, every byte a step reads must still hold the tensor it reads
 * (nothing overwrote it since its producer wrote it), no step's scratch may
 * cover a tensor it reads or writes, and the highest byte any buffer
 * touches must be the arena the model reports (reef gen prints it). The
 * outputs of every mode must also equal a plan with no reuse at all.
 * A ROWS step (reef/rows.h: a chain run row by row, output in place over
 * its input by rows) is replayed row by row through the runtime's own
 * schedule (reef_rows_run with an observer): every row it reads must still
 * hold that row of that tensor (T0 in the arena, intermediate rows in its
 * rings, finished rows waiting), no kernel writes over what it reads in
 * the same call, and every byte it touches lies in its input, its output
 * or its scratch.
 * Resumable (intermittent) tables in balanced and min, per step and at a
 * charge that forces tiles and per-step fallbacks to layer by layer: a
 * run committing at every point saves arena bytes to a shadow NVM, then a
 * power failure before every unit restarts from a fresh shadow holding only
 * that point's restores, and the rest of the table is replayed with the
 * same read checks (a step written over its input, a restore or a save
 * that left a value wrong fails it); every 20th random net also runs the
 * host failure campaign (the runtime's resume over an NVM whose power
 * fails at every write). */
#include "mlperf.h"
#include "testing.h"

#include <stdlib.h>

#include "codegen/intermittent.h"
#include "codegen/intermittent_host.h"
#include "codegen/lower.h"
#include "reef/patch.h"
#include "reef/rows.h"
#include "data/dataset.h"
#include "nn/arch.h"
#include "nn/model.h"
#include "quant/quant.h"
#include "tflite/graph.h"
#include "util/rng.h"

enum { SCRATCH = -2, NOTHING = -1 };

static long patch_pixels; /* PATCH pixels read and checked, for the summaries */

/* The shadow's label of row `row` of a ROWS step's tensor level `level`. */
static int32_t row_label(int32_t level, int32_t row)
{
    return -16 - (level << 16 | row);
}

/* The tensor whose bytes t reads: t itself when a step writes it or it is
 * the graph input, else (a reshape alias) the latest earlier step output
 * at the same offset and size. -1 when there is none. */
static int32_t root_of(const reef_lowered_model *m, int32_t t, int before_step)
{
    if (t == m->input_tensor) return t;
    for (int k = 0; k < m->nsteps; k++)
        if (m->steps[k].output_tensor == t) return t;
    for (int k = before_step - 1; k >= 0; k--) {
        const int32_t y = m->steps[k].output_tensor;
        if (m->tensor_at[y] == m->tensor_at[t] && m->tensor_bytes[y] == m->tensor_bytes[t]) return y;
    }
    return m->input_tensor != t && m->tensor_at[m->input_tensor] == m->tensor_at[t] ? m->input_tensor : -1;
}

static int overlaps(uint32_t a, uint32_t an, uint32_t b, uint32_t bn)
{
    return an && bn && a < b + bn && b < a + an;
}

/* A ROWS step replayed on the shadow, range by range (reef_rows_observer). */
typedef struct rows_replay {
    int32_t *shadow;
    const reef_lowered_model *m;
    const reef_lowered_step *s;
    const char *what;
    int step;
    int32_t t0_root;
    size_t *top;
    uint32_t read_at[8], read_n[8]; /* what the current operation read */
    int32_t read_level[8], read_row[8];
    int nreads, writing;
    long rows_read; /* rows checked, for the summary */
} rows_replay;

static int inside(uint32_t at, uint32_t n, uint32_t lo, uint32_t len)
{
    return at >= lo && at + n <= lo + len;
}

static void rows_bounds(rows_replay *x, const reef_rows_range *g, int write)
{
    const reef_step_io *io = &x->s->args.rows.io;
    const reef_lowered_model *m = x->m;
    const int32_t out = x->s->output_tensor, t0 = x->s->input_tensors[0];
    int ok = inside(g->at, g->bytes, io->scratch_at, io->scratch_size) ||
             inside(g->at, g->bytes, m->tensor_at[out], m->tensor_bytes[out]) ||
             (!write && g->level == 0 && inside(g->at, g->bytes, m->tensor_at[t0], m->tensor_bytes[t0]));
    if (!ok)
        fail_msg("%s: ROWS step %d %s %u bytes at %u (level %d row %d) outside its input, output and scratch", x->what,
                 x->step, write ? "writes" : "reads", g->bytes, g->at, g->level, g->row);
    if (g->at + g->bytes > *x->top) *x->top = g->at + g->bytes;
}

static void rows_read(void *ctx, const reef_rows_range *g)
{
    rows_replay *x = ctx;
    rows_bounds(x, g, 0);
    if (x->writing) x->nreads = 0, x->writing = 0; /* a new operation */
    if (x->nreads < 8) {
        x->read_at[x->nreads] = g->at, x->read_n[x->nreads] = g->bytes;
        x->read_level[x->nreads] = g->level, x->read_row[x->nreads++] = g->row;
    }
    for (uint32_t b = 0; b < g->bytes; b++) {
        const int32_t want = g->level == 0 ? x->t0_root : row_label(g->level, g->row + (int32_t)b / g->row_bytes);
        if (x->shadow[g->at + b] != want)
            fail_msg("%s: ROWS step %d reads level %d row %d at arena %u, which holds %d, not %d", x->what, x->step,
                     g->level, g->row + (int32_t)b / g->row_bytes, g->at + b, x->shadow[g->at + b], want);
    }
    x->rows_read += g->bytes / (uint32_t)g->row_bytes;
}

static void rows_write(void *ctx, const reef_rows_range *g)
{
    rows_replay *x = ctx;
    rows_bounds(x, g, 1);
    x->writing = 1;
    /* a kernel must not write over what it reads in the same call; a copy
     * of rows (the same rows, moved as memmove does) and the elementwise
     * ADD in place (exactly the range it reads) may */
    for (int j = 0; j < x->nreads; j++) {
        const int same_range = x->read_at[j] == g->at && x->read_n[j] == g->bytes;
        const int copy = x->nreads == 1 && x->read_level[0] == g->level && x->read_row[0] == g->row &&
                         g->level != REEF_ROWS_KERNEL_SCRATCH;
        if (overlaps(x->read_at[j], x->read_n[j], g->at, g->bytes) && !same_range && !copy)
            fail_msg("%s: ROWS step %d writes level %d row %d at %u over bytes the same operation reads", x->what,
                     x->step, g->level, g->row, g->at);
    }
    for (uint32_t b = 0; b < g->bytes; b++)
        x->shadow[g->at + b] =
            g->level == REEF_ROWS_KERNEL_SCRATCH ? SCRATCH : row_label(g->level, g->row + (int32_t)b / g->row_bytes);
}

/* Replays ROWS step k of m on the shadow and checks its output rows. */
static long replay_rows(const reef_lowered_model *m, int k, int32_t *shadow, uint8_t *arena, const char *what,
                        size_t *top)
{
    const reef_lowered_step *s = &m->steps[k];
    const reef_rows_step_args *a = &s->args.rows;
    rows_replay x = {.shadow = shadow, .m = m, .s = s, .what = what, .step = k,
                     .t0_root = root_of(m, s->input_tensors[0], k), .top = top};
    reef_rows_observer obs = {rows_read, rows_write, &x, 0, 0, 0};
    if (reef_rows_run(a, arena, &obs) != REEF_OK) fail_msg("%s: ROWS step %d refuses to run", what, k);
    if (obs.kernel_bytes > a->kernel_size)
        fail_msg("%s: ROWS step %d's kernels ask %d bytes of scratch, it has %d", what, k, obs.kernel_bytes,
                 a->kernel_size);
    if (obs.max_pending > a->pending_rows)
        fail_msg("%s: ROWS step %d kept %d rows waiting, room for %d", what, k, obs.max_pending, a->pending_rows);
    const int32_t out = s->output_tensor, final = a->nstages + (a->add ? 1 : 0);
    const reef_dims *od = a->stage[a->nstages - 1].conv ? &a->stage[a->nstages - 1].conv->output_dims
                                                        : &a->stage[a->nstages - 1].dw->output_dims;
    const int32_t out_row = od->w * od->c;
    for (uint32_t b = 0; b < m->tensor_bytes[out]; b++) {
        const uint32_t at = m->tensor_at[out] + b;
        if (shadow[at] != row_label(final, (int32_t)b / out_row))
            fail_msg("%s: after ROWS step %d, output byte %u (row %d) holds %d", what, k, b, (int32_t)b / out_row,
                     shadow[at]);
        shadow[at] = out;
    }
    return x.rows_read;
}

/* The shadow's label of pixel (y, x) of a PATCH step's tensor level. */
static int32_t pixel_label(int32_t level, int32_t y, int32_t x)
{
    return -(1 << 26) - (level << 20 | y << 10 | x);
}

/* A PATCH step replayed on the shadow, range by range (reef_patch_observer):
 * every byte of a region it reads holds that pixel of that level (the
 * chain input's bytes: the input tensor), no kernel writes over what it
 * reads in the same call, every range lies in its input, output or scratch. */
typedef struct patch_replay {
    int32_t *shadow;
    const reef_lowered_model *m;
    const reef_lowered_step *s;
    const char *what;
    int step;
    int32_t t0_root;
    size_t *top;
    uint32_t read_at, read_n;
    long pixels; /* pixels read and checked */
} patch_replay;

static int32_t patch_byte_label(const reef_patch_range *g, uint32_t b)
{
    const uint32_t row = (uint32_t)(g->w * g->c);
    return pixel_label(g->level, g->y + (int32_t)(b / row), g->x + (int32_t)(b % row) / g->c);
}

static void patch_bounds(patch_replay *x, const reef_patch_range *g, int write)
{
    const reef_step_io *io = &x->s->args.patch.io;
    const reef_lowered_model *m = x->m;
    const int32_t out = x->s->output_tensor, t0 = x->s->input_tensors[0];
    const int ok = inside(g->at, g->bytes, io->scratch_at, io->scratch_size) ||
                   inside(g->at, g->bytes, m->tensor_at[out], m->tensor_bytes[out]) ||
                   (!write && g->level == 0 && inside(g->at, g->bytes, m->tensor_at[t0], m->tensor_bytes[t0]));
    if (!ok)
        fail_msg("%s: PATCH step %d %s %u bytes at %u (level %d) outside its input, output and scratch", x->what,
                 x->step, write ? "writes" : "reads", g->bytes, g->at, g->level);
    if (g->at + g->bytes > *x->top) *x->top = g->at + g->bytes;
}

static void patch_read(void *ctx, const reef_patch_range *g)
{
    patch_replay *x = ctx;
    const int32_t t0 = x->s->input_tensors[0];
    patch_bounds(x, g, 0);
    const int in_t0 = g->level == 0 && inside(g->at, g->bytes, x->m->tensor_at[t0], x->m->tensor_bytes[t0]);
    x->read_at = g->at, x->read_n = g->bytes;
    for (uint32_t b = 0; b < g->bytes; b++) {
        const int32_t want = in_t0 ? x->t0_root : patch_byte_label(g, b);
        if (x->shadow[g->at + b] != want)
            fail_msg("%s: PATCH step %d reads level %d near (%d, %d) at arena %u, which holds %d, not %d", x->what,
                     x->step, g->level, g->y, g->x, g->at + b, x->shadow[g->at + b], want);
    }
    x->pixels += g->bytes / (uint32_t)g->c;
}

static void patch_write(void *ctx, const reef_patch_range *g)
{
    patch_replay *x = ctx;
    patch_bounds(x, g, 1);
    if (g->level != REEF_PATCH_KERNEL_SCRATCH && overlaps(x->read_at, x->read_n, g->at, g->bytes))
        fail_msg("%s: PATCH step %d writes level %d at %u over bytes the same operation reads", x->what, x->step,
                 g->level, g->at);
    for (uint32_t b = 0; b < g->bytes; b++)
        x->shadow[g->at + b] = g->level == REEF_PATCH_KERNEL_SCRATCH ? SCRATCH : patch_byte_label(g, b);
}

/* Replays PATCH step k of m on the shadow and checks its output pixels. */
static long replay_patch(const reef_lowered_model *m, int k, int32_t *shadow, uint8_t *arena, const char *what,
                         size_t *top)
{
    const reef_lowered_step *s = &m->steps[k];
    const reef_patch_step_args *a = &s->args.patch;
    patch_replay x = {.shadow = shadow, .m = m, .s = s, .what = what, .step = k,
                      .t0_root = root_of(m, s->input_tensors[0], k), .top = top};
    reef_patch_observer obs = {patch_read, patch_write, &x, 0, 0, 0, 0, 0, 0};
    if (reef_patch_run(a, arena, &obs) != REEF_OK) fail_msg("%s: PATCH step %d refuses to run", what, k);
    if (obs.kernel_bytes > a->kernel_size || obs.buf_bytes > a->buf_size)
        fail_msg("%s: PATCH step %d needs %d + %d bytes of scratch, it has %d + %d", what, k, obs.kernel_bytes,
                 obs.buf_bytes, a->kernel_size, a->buf_size);
    if (obs.macs != s->macs + s->patch_extra_macs)
        fail_msg("%s: PATCH step %d computed %lld MACs, the planner counts %lld", what, k, (long long)obs.macs,
                 (long long)(s->macs + s->patch_extra_macs));
    const reef_patch_stage *last = &a->stage[a->nstages - 1];
    const reef_dims *od = last->conv ? &last->conv->output_dims : &last->dw->output_dims;
    const int32_t out = s->output_tensor;
    for (uint32_t b = 0; b < m->tensor_bytes[out]; b++) {
        const uint32_t at = m->tensor_at[out] + b, pixel = b / (uint32_t)od->c;
        const int32_t want = pixel_label(a->nstages, (int32_t)pixel / od->w, (int32_t)pixel % od->w);
        if (shadow[at] != want) fail_msg("%s: after PATCH step %d, output byte %u holds %d", what, k, b, shadow[at]);
        shadow[at] = out;
    }
    return x.pixels;
}

/* Replays step k of m on the shadow (its reads checked); a tile writes
 * only bytes [slice0, slice1) of its output (slice1 == 0: the whole step).
 * Returns the ROWS rows checked. */
static long replay_step(const reef_lowered_model *m, int k, int32_t *shadow, uint8_t *arena, const char *what,
                        size_t *top, uint32_t slice0, uint32_t slice1)
{
    const reef_lowered_step *s = &m->steps[k];
    const reef_step_io *io = (const reef_step_io *)&s->args;
    const int32_t out = s->output_tensor;
    const uint32_t out_at = m->tensor_at[out], out_n = m->tensor_bytes[out];
    for (int j = 0; j < 2; j++) {
        const int32_t t = s->input_tensors[j];
        if (t < 0) continue;
        const int32_t r = root_of(m, t, k);
        const uint32_t at = m->tensor_at[t], n = m->tensor_bytes[t];
        if (r < 0) fail_msg("%s: step %d reads tensor %d that nothing wrote", what, k, t);
        if (at + n > *top) *top = at + n;
        for (uint32_t i = 0; i < n; i++)
            if (shadow[at + i] != r)
                fail_msg("%s: step %d (%s) reads tensor %d byte %u (arena %u), which holds %d, not %d", what, k,
                         reef_builtin_name(s->builtin), t, i, at + i, shadow[at + i], r);
        if (overlaps(io->scratch_at, io->scratch_size, at, n))
            fail_msg("%s: step %d's scratch covers its input tensor %d", what, k, t);
    }
    if (overlaps(io->scratch_at, io->scratch_size, out_at, out_n))
        fail_msg("%s: step %d's scratch covers its output", what, k);
    if (io->scratch_size && io->scratch_at + io->scratch_size > *top) *top = io->scratch_at + io->scratch_size;
    if (out_at + out_n > *top) *top = out_at + out_n;
    if (*top > m->arena_size)
        fail_msg("%s: step %d (%s) reaches byte %zu past the arena %zu (out %u+%u, scratch %u+%u)", what, k,
                 reef_builtin_name(s->builtin), *top, m->arena_size, out_at, out_n, io->scratch_at, io->scratch_size);
    for (uint32_t i = 0; i < io->scratch_size; i++) shadow[io->scratch_at + i] = SCRATCH;
    if (s->kind == REEF_STEP_ROWS) {
        if (slice1) fail_msg("%s: ROWS step %d is cut into tiles", what, k);
        return replay_rows(m, k, shadow, arena, what, top);
    }
    if (s->kind == REEF_STEP_PATCH) {
        if (slice1) fail_msg("%s: PATCH step %d is cut into tiles", what, k);
        patch_pixels += replay_patch(m, k, shadow, arena, what, top);
        return 0;
    }
    if (!slice1) slice0 = 0, slice1 = out_n;
    for (uint32_t i = slice0; i < slice1; i++) shadow[out_at + i] = out;
    return 0;
}

/* A shadow with only the graph input written. */
static int32_t *shadow_start(const reef_lowered_model *m)
{
    int32_t *shadow = malloc((m->arena_size + 1) * sizeof *shadow);
    assert_non_null(shadow);
    for (size_t i = 0; i < m->arena_size; i++) shadow[i] = NOTHING;
    const uint32_t in_at = m->tensor_at[m->input_tensor], in_n = m->tensor_bytes[m->input_tensor];
    assert_true(in_at + in_n <= m->arena_size);
    for (uint32_t i = 0; i < in_n; i++) shadow[in_at + i] = m->input_tensor;
    return shadow;
}

static void check_output_intact(const reef_lowered_model *m, const int32_t *shadow, const char *what)
{
    const int32_t r = root_of(m, m->output_tensor, m->nsteps);
    for (uint32_t i = 0; i < m->tensor_bytes[m->output_tensor]; i++)
        if (shadow[m->tensor_at[m->output_tensor] + i] != r)
            fail_msg("%s: the output's byte %u was overwritten after it was written", what, i);
}

/* Replays m on a shadow arena, failing the test at the first violation. *top:
 * the highest byte (exclusive) any tensor or scratch of a step uses. */
static long shadow_replay(const reef_lowered_model *m, const char *what, size_t *top)
{
    int32_t *shadow = shadow_start(m);
    uint8_t *arena = calloc(m->arena_size + 1, 1); /* ROWS steps run their kernels on it */
    long rows_read = 0;
    assert_non_null(arena);
    *top = 0;
    for (int k = 0; k < m->nsteps; k++) rows_read += replay_step(m, k, shadow, arena, what, top, 0, 0);
    check_output_intact(m, shadow, what);
    free(shadow);
    free(arena);
    return rows_read;
}

/* The output bytes unit u of a resumable plan writes: [*b0, *b1), or the
 * whole step's (0, 0) when it is not a tile. */
static void unit_slice(const reef_lowered_model *m, const reef_unit *u, uint32_t *b0, uint32_t *b1)
{
    const reef_lowered_step *s = &m->steps[u->step];
    uint32_t per = 1; /* bytes per tile element: FC channels, ADD elements */
    *b0 = *b1 = 0;
    if (!u->tile_kind) return;
    if (u->tile_kind == REEF_TILE_CONV_ROWS) per = m->tensor_bytes[s->output_tensor] / (uint32_t)s->args.conv.output_dims.h;
    if (u->tile_kind == REEF_TILE_DW_ROWS) per = m->tensor_bytes[s->output_tensor] / (uint32_t)s->args.dw_conv.output_dims.h;
    if (u->tile_kind == REEF_TILE_POOL_ROWS) per = m->tensor_bytes[s->output_tensor] / (uint32_t)s->args.avgpool.output_dims.h;
    *b0 = (uint32_t)u->begin * per, *b1 = (uint32_t)u->end * per;
}

static long replay_unit(const reef_lowered_model *m, const reef_unit *u, int32_t *shadow, uint8_t *arena,
                        const char *what, size_t *top)
{
    uint32_t b0, b1;
    long rows = 0;
    unit_slice(m, u, &b0, &b1);
    for (int k = u->step; k < u->step + u->step_count; k++) rows += replay_step(m, k, shadow, arena, what, top, b0, b1);
    return rows;
}

/* The resumable schedule (reef/resume.h) on the shadow: a continuous run
 * that commits at every point saves arena bytes to NVM (labels copied: a
 * save must find a whole tensor value there, never scratch or nothing);
 * then a power failure before every unit c: a fresh shadow (SRAM lost)
 * holding only point c's restores from NVM, and units c.. replayed with
 * every read checked. So no step of a resumed run reads a value that a
 * step written over its input (in place, ROWS), a restore or a save left
 * wrong. Returns the resumed units replayed. */
static long resume_replay(const reef_lowered_model *m, const reef_intermittent_plan *p, const char *what)
{
    int32_t *shadow = shadow_start(m), *nvm = malloc((p->nvm_bytes + 1) * sizeof *nvm);
    uint8_t *arena = calloc(m->arena_size + 1, 1);
    size_t top = 0;
    long replayed = 0;
    assert_non_null(nvm);
    assert_non_null(arena);
    for (uint32_t i = 0; i < p->nvm_bytes; i++) nvm[i] = NOTHING;
    for (int pt = 0; pt <= p->nunits; pt++) {
        if (pt > 0) replay_unit(m, &p->units[pt - 1], shadow, arena, what, &top);
        for (uint32_t sv = p->save_index[pt]; sv < p->save_index[pt + 1]; sv++) {
            const reef_span *x = &p->saves[sv];
            if (x->arena_at + x->bytes > m->arena_size || x->nvm_at + x->bytes > p->nvm_bytes)
                fail_msg("%s: save %u lies outside the arena or the NVM", what, sv);
            for (uint32_t b = 0; b < x->bytes; b++) {
                if (shadow[x->arena_at + b] < 0)
                    fail_msg("%s: point %d saves arena byte %u, which holds no tensor (%d)", what, pt, x->arena_at + b,
                             shadow[x->arena_at + b]);
                nvm[x->nvm_at + b] = shadow[x->arena_at + b];
            }
        }
    }
    check_output_intact(m, shadow, what);
    for (int c = 0; c < p->nunits; c++) {
        int32_t *fresh = malloc((m->arena_size + 1) * sizeof *fresh);
        assert_non_null(fresh);
        for (size_t i = 0; i < m->arena_size; i++) fresh[i] = NOTHING;
        for (uint32_t r = p->restore_index[c]; r < p->restore_index[c + 1]; r++) {
            const reef_span *x = &p->restores[r];
            if (x->arena_at + x->bytes > m->arena_size || x->nvm_at + x->bytes > p->nvm_bytes)
                fail_msg("%s: restore %u lies outside the arena or the NVM", what, r);
            for (uint32_t b = 0; b < x->bytes; b++) {
                if (fresh[x->arena_at + b] != NOTHING)
                    fail_msg("%s: point %d restores arena byte %u twice", what, c, x->arena_at + b);
                fresh[x->arena_at + b] = nvm[x->nvm_at + b];
            }
        }
        char resumed[700];
        snprintf(resumed, sizeof resumed, "%s, resumed at point %d", what, c);
        for (int u = c; u < p->nunits; u++, replayed++) replay_unit(m, &p->units[u], fresh, arena, resumed, &top);
        check_output_intact(m, fresh, resumed);
        free(fresh);
    }
    if (top > m->arena_size) fail_msg("%s: the resumed runs reach byte %zu past the arena %zu", what, top, m->arena_size);
    free(shadow), free(nvm), free(arena);
    return replayed;
}


/* About the STM32L4R5 at 120 MHz, a 1 ms boot, FRAM at 30 MHz (as
 * test_intermittent): the planner's options for a charge of budget uJ. */
static reef_intermittent_options fram_options(double budget)
{
    reef_intermittent_options o = {0};
    o.budget_uj = budget;
    o.costs = (reef_intermittent_costs){25.08e-3 / 120e6 * 1e6, 30, 0.008, 0.04, 0.008, 0.04};
    o.write_unit = 1;
    return o;
}

typedef struct resume_figures {
    long plans, units_replayed, fallen_back, over_input, host_failures, host_outputs, patch_units;
} resume_figures;

/* g lowered in `mode` and planned resumable, per step (budget 0) or at a
 * budget of `of_fast` x the smallest charge the layer-by-layer model needs
 * (steps over their input too big for it fall back to layer by layer,
 * reef_intermittent_memory_fallback); both replayed on the shadow, resumed
 * at every point. With `in`, also every failure point of the host
 * campaign (the runtime's own resume over an NVM whose power fails). */
static void check_resumable(const reef_graph *g, reef_memory_mode mode, int patches, double of_fast,
                            const int8_t *in, const char *what, resume_figures *f)
{
    reef_error err = {{0}};
    reef_lower_options lo = {0, mode, patches};
    reef_lowered_model m;
    double budget = 0;
    if (of_fast > 0) {
        reef_intermittent_options o0 = fram_options(0);
        if (reef_lower(g, &m, &err)) fail_msg("%s: %s", what, err.msg);
        budget = reef_intermittent_min_budget(&m, &o0) * of_fast;
        reef_lowered_free(&m);
    }
    if (reef_lower_with(g, &lo, &m, &err)) fail_msg("%s: %s", what, err.msg);
    reef_intermittent_options o = fram_options(budget);
    char *plain = calloc((size_t)g->ntensors + 1, 1);
    for (int marked; (marked = reef_intermittent_memory_fallback(&m, &o, plain)) > 0;) {
        f->fallen_back += marked;
        reef_lowered_free(&m);
        if (reef_lower_plain(g, &lo, plain, &m, &err)) fail_msg("%s: %s", what, err.msg);
    }
    free(plain);
    reef_intermittent_plan p;
    if (reef_intermittent_plan_make(&m, &o, &p, &err)) fail_msg("%s: %s", what, err.msg);
    for (int u = 0; u < p.nunits; u++)
        if (p.units[u].tile_kind && reef_intermittent_step_in_place(&m.steps[p.units[u].step]))
            fail_msg("%s: unit %d cuts a step written over its input into tiles", what, u);
    for (int k = 0; k < m.nsteps; k++) f->over_input += reef_intermittent_step_in_place(&m.steps[k]);
    for (int k = 0; k < m.nsteps; k++) f->patch_units += m.steps[k].kind == REEF_STEP_PATCH;
    size_t top;
    shadow_replay(&m, what, &top);
    if (top != m.arena_size) fail_msg("%s: buffers reach byte %zu, the arena reported is %zu", what, top, m.arena_size);
    f->units_replayed += resume_replay(&m, &p, what);
    f->plans++;
    if (in) {
        int8_t want[64];
        assert_true(m.output_bytes <= (int32_t)sizeof want);
        assert_int_equal(reef_lowered_invoke_bytes(&m, m.arena, in, want), 0);
        reef_host_rig h;
        reef_fail_stats st = {0};
        if (reef_host_rig_init(&h, &m, &p, in, 1, want, &err)) fail_msg("%s: %s", what, err.msg);
        if (reef_host_fail_exhaustive(&h, 0, &st, NULL, NULL, &err) < 0) fail_msg("%s: %s", what, err.msg);
        if (st.outputs_differing || st.hangs)
            fail_msg("%s: %ld of %ld outputs differ after power failures, %ld hangs", what, st.outputs_differing,
                     st.outputs, st.hangs);
        f->host_failures += st.failures, f->host_outputs += st.outputs;
        reef_host_rig_free(&h);
    }
    reef_intermittent_plan_free(&p);
    reef_lowered_free(&m);
}

/* A random net's spec text: a stem, 1-3 MBConv blocks, a pooled head. */
static void random_arch(reef_rng *r, char *text, size_t size, int *side)
{
    static const int sides[4] = {8, 12, 16, 20}, kernels[3] = {3, 5, 7};
    *side = sides[reef_rng_below(r, 4)];
    int c = 4 + 4 * (int)reef_rng_below(r, 3);
    int n = snprintf(text, size, "name shadow; input %dx%dx1; stem k3 s%d c%d relu6;", *side, *side,
                     1 + (int)reef_rng_below(r, 2), c);
    const int blocks = 1 + (int)reef_rng_below(r, 3);
    for (int b = 0; b < blocks; b++) {
        const int s = 1 + (int)reef_rng_below(r, 2), e = 1 + (int)reef_rng_below(r, 4);
        const int co = reef_rng_below(r, 2) ? c : 4 + 4 * (int)reef_rng_below(r, 4);
        const int skip = s == 1 && co == c && reef_rng_below(r, 2);
        n += snprintf(text + n, size - (size_t)n, " mbconv k%d e%d c%d s%d%s;", kernels[reef_rng_below(r, 3)], e, co, s,
                      s == 1 && co == c && !skip ? " noskip" : "");
        c = co;
    }
    snprintf(text + n, size - (size_t)n, " head c%d relu6; gap; fc", 8 + 8 * (int)reef_rng_below(r, 2));
}

/* Four random frames of side x side, for calibration and the run. */
static void random_frames(reef_rng *r, int side, reef_dataset *ds)
{
    static const char *classes[2] = {"a", "b"};
    static const char *groups[1] = {"all"};
    static const char *ids[4] = {"0", "1", "2", "3"};
    static uint16_t labels[4] = {0, 1, 0, 1}, grp[4] = {0, 0, 0, 0};
    static uint8_t pixels[4 * 20 * 20];
    for (int i = 0; i < 4 * side * side; i++) pixels[i] = (uint8_t)reef_rng_u32(r);
    memset(ds, 0, sizeof *ds);
    ds->count = 4, ds->height = (uint32_t)side, ds->width = (uint32_t)side, ds->channels = 1;
    ds->num_classes = 2, ds->num_groups = 1;
    ds->pixels = pixels, ds->labels = labels, ds->groups = grp;
    ds->class_names = classes, ds->group_names = groups, ds->ids = ids;
}

/* This process's share (argv "P/N": part P of N; CTest runs the parts as
 * separate tests, so that none nears its timeout on a loaded machine): the
 * random nets [first, last) of the whole run's, drawn from the same seed
 * (under the sanitizers all 60 in part 1), and the MLPerf models in the
 * last part. */
static int part = 1, parts = 1;

static void test_random_schedules(void **state)
{
    (void)state;
    reef_rng r;
    reef_rng_seed(&r, 1414);
    const int all_nets = testing_sanitizer_run() ? 60 : 1000;
    /* the sanitizer run's 60 nets stay whole, in part 1: split, a part
     * would lack the one net (0) that runs the host campaign with a patch
     * stage forced */
    const int whole = testing_sanitizer_run();
    const int first = whole ? 0 : all_nets * (part - 1) / parts, last = whole ? all_nets : all_nets * part / parts;
    const int nets = last - first;
    if (whole && part != 1) {
        printf("  the random nets run in part 1/%d under the sanitizers\n", parts);
        return;
    }
    for (int k = 0; k < first; k++) { /* the earlier parts' nets: their draws only */
        char text[512];
        int side;
        reef_dataset ds;
        random_arch(&r, text, sizeof text, &side);
        random_frames(&r, side, &ds);
    }
    int in_place_steps = 0, smaller = 0, models_in_place = 0, rows_steps = 0, rows_in_place = 0, models_rows = 0;
    long rows_checked = 0;
    resume_figures rf = {0}, rpf = {0};
    int patch_lowerings = 0, patch_auto = 0;
    for (int k = first; k < last; k++) {
        char text[512], what[600];
        int side;
        random_arch(&r, text, sizeof text, &side);
        reef_arch a;
        reef_model model;
        reef_dataset ds;
        reef_graph g;
        reef_error err;
        if (reef_arch_parse(text, "random", &a, &err)) fail_msg("%s: %s", text, err.msg);
        if (reef_model_build(&model, &a, side, side, 1, 2, (uint64_t)k + 1, &err)) fail_msg("%s: %s", text, err.msg);
        model.norm.channels = 1, model.norm.mean[0] = 0.5f, model.norm.std[0] = 0.25f;
        random_frames(&r, side, &ds);
        reef_quant_options o;
        reef_quant_options_default(&o);
        o.samples = 4, o.agreement = 0;
        if (reef_quantize(&model, &ds, &o, &g, NULL, &err)) fail_msg("%s: %s", text, err.msg);
        reef_lowered_model plain;
        reef_lower_options no_reuse = {1, REEF_MEMORY_FAST, REEF_PATCH_AUTO};
        if (reef_lower_with(&g, &no_reuse, &plain, &err)) fail_msg("%s: %s", text, err.msg);
        int8_t in[20 * 20], want[2], got[2];
        for (int i = 0; i < side * side; i++) in[i] = (int8_t)(ds.pixels[i] - 128);
        assert_int_equal(reef_lowered_invoke(&plain, in, want), 0);
        size_t fast_arena = 0;
        for (int mode = REEF_MEMORY_FAST; mode <= REEF_MEMORY_MIN; mode++) {
            reef_lowered_model m;
            reef_lower_options lo = {0, (reef_memory_mode)mode, REEF_PATCH_AUTO};
            if (reef_lower_with(&g, &lo, &m, &err)) fail_msg("%s: %s", text, err.msg);
            snprintf(what, sizeof what, "net %d (%s), --memory %s", k, text, reef_memory_mode_name((reef_memory_mode)mode));
            size_t top;
            rows_checked += shadow_replay(&m, what, &top);
            if (top != m.arena_size) fail_msg("%s: buffers reach byte %zu, the arena reported is %zu", what, top, m.arena_size);
            assert_int_equal(reef_lowered_invoke(&m, in, got), 0);
            if (memcmp(got, want, sizeof got)) fail_msg("%s: outputs differ from the plan without reuse", what);
            if (mode == REEF_MEMORY_FAST) fast_arena = m.arena_size, assert_int_equal(m.in_place_steps, 0);
            if (mode == REEF_MEMORY_MIN) {
                in_place_steps += m.in_place_steps;
                models_in_place += m.in_place_steps > 0;
                smaller += m.arena_size < fast_arena;
            }
            if (mode != REEF_MEMORY_FAST) {
                rows_steps += m.rows_steps, rows_in_place += m.rows_in_place;
                models_rows += m.rows_steps > 0;
            }
            if (m.arena_size > fast_arena) fail_msg("%s: arena %zu, above fast's %zu", what, m.arena_size, fast_arena);
            patch_auto += m.patch_taken;
            if (m.patch_taken && m.arena_size >= m.arena_no_patch)
                fail_msg("%s: a patch stage taken that does not lower the arena (%zu, %zu without)", what, m.arena_size,
                         m.arena_no_patch);
            reef_lowered_free(&m);
            /* min with a patch-based stage forced (reef/patch.h); balanced
             * forces the same stages and is left to the resumable check
             * below, which keeps the test's time in bounds */
            if (mode != REEF_MEMORY_MIN) continue;
            reef_lower_options lp = {0, (reef_memory_mode)mode, REEF_PATCH_FORCE};
            if (reef_lower_with(&g, &lp, &m, &err)) fail_msg("%s: %s", text, err.msg);
            snprintf(what, sizeof what, "net %d (%s), --memory %s, patches forced", k, text,
                     reef_memory_mode_name((reef_memory_mode)mode));
            shadow_replay(&m, what, &top);
            if (top != m.arena_size) fail_msg("%s: buffers reach byte %zu, the arena reported is %zu", what, top, m.arena_size);
            if (m.patch_taken && m.arena_size != m.patch_arena)
                fail_msg("%s: arena %zu, the planner weighed %zu", what, m.arena_size, m.patch_arena);
            assert_int_equal(reef_lowered_invoke(&m, in, got), 0);
            if (memcmp(got, want, sizeof got)) fail_msg("%s: outputs differ from the plan without reuse", what);
            patch_lowerings += m.patch_taken;
            reef_lowered_free(&m);
        }
        /* resumable (intermittent) in balanced and min, per step and at a
         * budget that forces tiles and fallbacks: every 8th net, and the
         * host failure campaign on every 40th (each replays a failure at
         * every point: the suite's time in CI bounds how many) */
        if (k % 8 == 0)
            for (int mode = REEF_MEMORY_BALANCED; mode <= REEF_MEMORY_MIN; mode++)
                for (int pass = 0; pass < 2; pass++) {
                    snprintf(what, sizeof what, "net %d (%s), --memory %s, resumable %s", k, text,
                             reef_memory_mode_name((reef_memory_mode)mode), pass ? "at 1.05x fast's smallest charge" : "per step");
                    check_resumable(&g, (reef_memory_mode)mode, REEF_PATCH_AUTO, pass ? 1.05 : 0, k % 40 == 0 ? in : NULL,
                                    what, &rf);
                    /* and with a patch-based stage forced: one whole unit, or fallen back
                     * (every 16th net in min, every 32nd in balanced) */
                    if (k % (mode == REEF_MEMORY_MIN ? 16 : 32)) continue;
                    snprintf(what, sizeof what, "net %d (%s), --memory %s, patches forced, resumable %s", k, text,
                             reef_memory_mode_name((reef_memory_mode)mode), pass ? "at 1.05x fast's smallest charge" : "per step");
                    check_resumable(&g, (reef_memory_mode)mode, REEF_PATCH_FORCE, pass ? 1.05 : 0,
                                    k % 40 == 0 ? in : NULL, what, &rpf);
                }
        reef_lowered_free(&plain);
        reef_graph_free(&g);
        reef_model_free(&model);
    }
    printf("  resumable (intermittent) in balanced and min: %ld plans, %d steps over their input as whole units, "
           "%ld layers fallen back to layer by layer, %ld units replayed after a failure at every point; host "
           "campaign: %ld failures, %ld outputs equal\n",
           rf.plans, (int)rf.over_input, rf.fallen_back, rf.units_replayed, rf.host_failures, rf.host_outputs);
    assert_true(rf.over_input > 0 && rf.fallen_back > 0 && rf.units_replayed > 0 && rf.host_failures > 0);
    printf("  %d random nets (%d-%d of %d) x 3 memory modes: every read finds its tensor intact on the shadow arena, every "
           "arena is the highest byte used; under min %d nets run %d depthwise steps in place, %d with a "
           "smaller arena than fast\n",
           nets, first, last - 1, all_nets, models_in_place, in_place_steps, smaller);
    printf("  under balanced and min: %d lowerings with ROWS steps, %d ROWS steps (%d output in place over their "
           "input), %ld rows read and checked on the shadow\n",
           models_rows, rows_steps, rows_in_place, rows_checked);
    printf("  patch-based stages: %d lowerings (min) with one forced, %ld patch pixels read and checked "
           "on the shadow; %d lowerings take one unforced (it lowers the arena); resumable with one forced: %ld plans, "
           "%ld PATCH steps as whole units, %ld layers fallen back to layer by layer, %ld units replayed after a "
           "failure, host campaign %ld failures, %ld outputs equal\n",
           patch_lowerings, patch_pixels, patch_auto, rpf.plans, rpf.patch_units, rpf.fallen_back, rpf.units_replayed,
           rpf.host_failures, rpf.host_outputs);
    assert_true(models_in_place > nets / 4 && smaller > 0);
    assert_true(models_rows > nets / 4 && rows_in_place > 0 && rows_checked > 0);
    assert_true(patch_lowerings > nets * 9 / 10 && patch_pixels > 0 && rpf.patch_units > 0 && rpf.fallen_back > 0 &&
                rpf.host_failures > 0);
}

/* The four MLPerf Tiny models in every mode on the same shadow: their
 * ROWS steps include a projection shortcut (ic's 1x1 stride-2 skip conv
 * and ADD streamed with the strided chain), which the random nets lack. */
static void test_mlperf_schedules(void **state)
{
    (void)state;
    if (part != parts) {
        printf("  the MLPerf models run in part %d/%d\n", parts, parts);
        return;
    }
    static mlperf_vector v[MLPERF_MAX_VECTORS];
    const int n = mlperf_vectors(v, MLPERF_MAX_VECTORS);
    if (!n) skip();
    int skips = 0, models = 0;
    for (int i = 0; i < n; i++) {
        if (i > 0 && !strcmp(v[i].model_file, v[i - 1].model_file)) continue;
        reef_graph g;
        reef_error err;
        if (reef_tflite_read(v[i].model_file, &g, &err)) fail_msg("%s", err.msg);
        /* Under the sanitizers vww's replays take minutes (its ROWS and patch
         * steps run their kernels on the shadow arena): there it is replayed
         * in fast and min only and not resumed; the random nets cover those
         * checks under the sanitizers, and the plain run covers vww. */
        const char *model = v[i].model; /* a pointer: gcc -O1 sizes %s by the array field (-Wformat-truncation) */
        const int sanitized = testing_sanitizer_run(), heavy = sanitized && !strcmp(model, "vww");
        for (int mode = REEF_MEMORY_FAST; mode <= REEF_MEMORY_MIN; mode++) {
            if (heavy && mode == REEF_MEMORY_BALANCED) continue;
            reef_lowered_model m;
            reef_lower_options lo = {0, (reef_memory_mode)mode, REEF_PATCH_AUTO};
            if (reef_lower_with(&g, &lo, &m, &err)) fail_msg("%s", err.msg);
            char what[200];
            snprintf(what, sizeof what, "%s, --memory %s", model, reef_memory_mode_name((reef_memory_mode)mode));
            size_t top;
            const long rows = shadow_replay(&m, what, &top);
            if (top != m.arena_size) fail_msg("%s: buffers reach byte %zu, the arena reported is %zu", what, top, m.arena_size);
            int with_skip = 0;
            for (int k = 0; k < m.nsteps; k++)
                with_skip += m.steps[k].kind == REEF_STEP_ROWS && m.steps[k].args.rows.skip != NULL;
            printf("  %-4s --memory %-8s arena %6zu B, %d ROWS steps (%d with a skip conv), %ld rows checked\n",
                   model, reef_memory_mode_name((reef_memory_mode)mode), m.arena_size, m.rows_steps, with_skip,
                   rows);
            skips += with_skip;
            reef_lowered_free(&m);
            if (mode != REEF_MEMORY_FAST && !heavy) {
                resume_figures rf = {0};
                snprintf(what, sizeof what, "%s, --memory %s, resumable per step", model,
                         reef_memory_mode_name((reef_memory_mode)mode));
                check_resumable(&g, (reef_memory_mode)mode, REEF_PATCH_AUTO, 0, NULL, what, &rf);
                /* at a charge that forces tiles, and with a patch-based stage
                 * forced (replayed, resumable): in min only, and not under the
                 * sanitizers, whose run is ~10x slower (the random nets cover
                 * both in balanced and min there) */
                if (mode != REEF_MEMORY_MIN || sanitized) continue;
                snprintf(what, sizeof what, "%s, --memory %s, resumable at 1.02x fast's smallest charge", model,
                         reef_memory_mode_name((reef_memory_mode)mode));
                check_resumable(&g, (reef_memory_mode)mode, REEF_PATCH_AUTO, 1.02, NULL, what, &rf);
                reef_lower_options lp = {0, (reef_memory_mode)mode, REEF_PATCH_FORCE};
                if (reef_lower_with(&g, &lp, &m, &err)) fail_msg("%s", err.msg);
                snprintf(what, sizeof what, "%s, --memory %s, patches forced", model,
                         reef_memory_mode_name((reef_memory_mode)mode));
                const long pixels0 = patch_pixels;
                shadow_replay(&m, what, &top);
                if (top != m.arena_size) fail_msg("%s: buffers reach byte %zu, the arena reported is %zu", what, top, m.arena_size);
                printf("  %-4s --memory %-8s patches forced: %d PATCH step, arena %6zu B, %ld patch pixels checked\n",
                       model, reef_memory_mode_name((reef_memory_mode)mode), m.patch_taken, m.arena_size,
                       patch_pixels - pixels0);
                reef_lowered_free(&m);
                snprintf(what, sizeof what, "%s, --memory %s, patches forced, resumable per step", model,
                         reef_memory_mode_name((reef_memory_mode)mode));
                check_resumable(&g, (reef_memory_mode)mode, REEF_PATCH_FORCE, 0, NULL, what, &rf);
                printf("  %-4s --memory %-8s resumable: %ld units replayed after a failure at every point, %ld "
                       "layers fallen back at 1.02x\n",
                       model, reef_memory_mode_name((reef_memory_mode)mode), rf.units_replayed, rf.fallen_back);
            }
        }
        reef_graph_free(&g);
        models++;
    }
    assert_int_equal(models, 4);
    assert_true(skips > 0);
}

int main(int argc, char **argv)
{
    if (argc > 1 && (sscanf(argv[1], "%d/%d", &part, &parts) != 2 || parts < 1 || part < 1 || part > parts)) {
        fprintf(stderr, "usage: %s [P/N]   (part P of N of the random nets; the MLPerf models in part N)\n", argv[0]);
        return 2;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_schedules),
        cmocka_unit_test(test_mlperf_schedules),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
