/* Intermittent execution, host side: units, tiles, NVM layout, host view
 * (see intermittent.h; the runtime protocol in reef/resume.h). */
#include "codegen/intermittent.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codegen/plan.h"
#include "reef/nvm.h"

enum { PROGRESS_BYTES = 12, DEFAULT_MAX_TILES = 64, TILE_CALL_CYCLES = 2000 };
#define STEP_MARGIN 1.25 /* on a step's cycles, estimated or measured */
#define NO_ATOM (-1000000)
#define LIVE_TO_END 0x3fffffff

/* ---- the cycle estimate of one step ----------------------------------- */

/* Output rows (or columns) whose window lies wholly inside the input: the
 * kernels' fast path; the others touch the padding. */
static int32_t inside(int32_t out, int32_t in, int32_t k, int32_t stride, int32_t pad, int32_t dilation)
{
    int32_t n = 0;
    for (int32_t r = 0; r < out; r++)
        n += r * stride - pad >= 0 && r * stride - pad + (k - 1) * dilation < in;
    return n;
}

/* Modeled cycles of one step from its shape, before the planner's margin:
 * a bound fitted by hand ABOVE the emulated per-step counts (x the cycle
 * model) of fish-s, fish-nas, MLPerf Tiny KWS, AD, VWW and IC and the
 * tests' small model, 5 December 2026 (docs/intermittent.md;
 * tests/firmware/test_step_cycles.c checks it against fresh counts of the
 * small model, KWS and AD). It errs high, 1.5-2.5x on whole models, and is
 * no bound for shapes unlike those (the kernels' generic paths differ):
 * the planner's default is the measured counts (firmware/step_cycles.h),
 * this is the fallback when the emulator is missing. */
double reef_intermittent_step_cycles(const reef_lowered_step *s)
{
    const reef_step_args *a = &s->args;
    double cycles, macs = (double)s->macs;
    switch (s->kind) {
    case REEF_STEP_CONV: {
        const reef_dims *f = &a->conv.filter_dims;
        double depth = (double)f->h * f->w * f->c, out = (double)reef_dims_count(&a->conv.output_dims);
        int32_t oc = f->n;
        /* small reductions and few output channels leave the inner loops short */
        double per_mac = oc < 8 ? 13.0 : depth < 16 ? 9.0 : oc <= 16 ? 6.2 : depth >= 64 && oc >= 32 ? 2.6 : depth >= 32 && oc >= 32 ? 3.0 : 4.2;
        cycles = per_mac * macs + 30.0 * out;
        break;
    }
    case REEF_STEP_ROWS: {
        /* the chain's layers, x 2 for the per-row kernel calls and ring
         * moves (MLPerf under --memory min: +3.6% to +60% instructions) */
        double sum = 0;
        for (int j = 0; j < s->nsub; j++) sum += reef_intermittent_step_cycles(&s->sub[j]) - 2500.0;
        cycles = 2.0 * sum;
        break;
    }
    case REEF_STEP_PATCH: {
        /* the stage's layers, scaled by the MACs recomputed in the halos,
         * x 2 for the per-patch kernel calls and region copies */
        double sum = 0;
        for (int j = 0; j < s->nsub; j++) sum += reef_intermittent_step_cycles(&s->sub[j]) - 2500.0;
        cycles = 2.0 * sum * (macs > 0 ? 1.0 + (double)s->patch_extra_macs / macs : 1.0);
        break;
    }
    case REEF_STEP_DW_CONV: {
        const reef_dw_conv_step_args *d = &a->dw_conv;
        const reef_dims *o = &d->output_dims;
        double window = (double)d->filter_dims.h * d->filter_dims.w, pixels = (double)o->h * o->w;
        double inner = (double)inside(o->h, d->input_dims.h, d->filter_dims.h, d->params.stride.h, d->params.padding.h, d->params.dilation.h) *
                       inside(o->w, d->input_dims.w, d->filter_dims.w, d->params.stride.w, d->params.padding.w, d->params.dilation.w);
        double border = pixels > 0 ? 1.0 - inner / pixels : 1.0;
        /* per output element: the window, plus the padding's slow path (a
         * depth multiplier other than 1 takes the generic path throughout) */
        double per_tap = d->params.depth_multiplier != 1 ? 70.0 : 6.0 + 14.0 * border;
        cycles = (double)reef_dims_count(o) * (window * per_tap + 60.0);
        /* in place (reef_dw_conv_s8_in_place): one window at a time, about
         * 13 instructions a MAC on KWS's 3x3 layers */
        if (reef_intermittent_step_in_place(s)) cycles = (double)reef_dims_count(o) * (window * 16.0 + 80.0);
        break;
    }
    case REEF_STEP_FC: cycles = 5.0 * macs + 40.0 * reef_dims_count(&a->fc.output_dims); break;
    case REEF_STEP_ADD: cycles = 31.0 * a->add.count; break;
    case REEF_STEP_AVGPOOL:
    case REEF_STEP_MAXPOOL: {
        const reef_dims *o = &a->avgpool.output_dims;
        cycles = 16.0 * reef_dims_count(o) * a->avgpool.filter.h * a->avgpool.filter.w + 210.0 * o->h * o->w;
        break;
    }
    case REEF_STEP_MEAN: cycles = 6.0 * reef_dims_count(&a->mean.input_dims) + 60.0 * a->mean.output_dims.c; break;
    case REEF_STEP_SOFTMAX: cycles = 400.0 * a->softmax.rows * a->softmax.depth; break;
    case REEF_STEP_RESHAPE: cycles = 2.0 * a->reshape.count; break;
    case REEF_STEP_PAD: cycles = 80.0 * reef_dims_count(&a->pad.output_dims); break;
    default: cycles = 42.0 * 1024; break; /* quantize / dequantize: float per element, small tensors */
    }
    return cycles + 2500.0;
}

int reef_intermittent_step_in_place(const reef_lowered_step *s)
{
    /* ROWS and PATCH steps run as one whole unit (reef/rows.h, reef/patch.h) */
    if (s->kind == REEF_STEP_ROWS || s->kind == REEF_STEP_PATCH) return 1;
    /* a depthwise step in place, or a 2x2 average pool over its input (lower_model.c) */
    if (s->kind == REEF_STEP_AVGPOOL) return s->args.avgpool.io.input_at == s->args.avgpool.io.output_at;
    return s->kind == REEF_STEP_DW_CONV && s->args.dw_conv.io.input_at == s->args.dw_conv.io.output_at;
}

/* ---- atoms: whole steps, or tiles of one ------------------------------ */

typedef struct atom {
    int step;
    int tile_kind, tile;
    int32_t begin, end;     /* the tile's range */
    uint32_t byte0, byte1;  /* the slice of the step's output it writes */
    double uj;
} atom;

typedef struct ctx {
    const reef_lowered_model *m;
    const reef_intermittent_options *o;
    int nt;                 /* graph tensors */
    int *producer;          /* (nt) step writing it, -1 for the input, -2 none */
    int *root;              /* (nt) the tensor whose bytes it is (reshape aliases) */
    int *last_reader_step;  /* (nt) by root */
    atom *atoms;
    int natoms, cap;
    int *first_atom;        /* (nt) by root */
    int *last_reader_atom;  /* (nt) by root; LIVE_TO_END for the output */
    double record_write_uj, record_read_uj;
} ctx;

static double write_cost(const ctx *c, double bytes, double transfers)
{
    return bytes * c->o->costs.write_uj_per_byte + transfers * c->o->costs.write_uj_per_transfer;
}

static double read_cost(const ctx *c, double bytes, double transfers)
{
    return bytes * c->o->costs.read_uj_per_byte + transfers * c->o->costs.read_uj_per_transfer;
}

/* A tensor a step reads but no step writes is a reshape alias: the bytes
 * are those of the latest earlier tensor at the same offset and size. */
static int resolve(const ctx *c, int t, int before_step)
{
    const reef_lowered_model *m = c->m;
    int best = -1, best_step = -3;
    if (c->producer[t] != -2) return t;
    for (int y = 0; y < c->nt; y++) {
        if (c->producer[y] == -2 || c->producer[y] >= before_step) continue;
        if (m->tensor_at[y] != m->tensor_at[t] || m->tensor_bytes[y] != m->tensor_bytes[t]) continue;
        if (c->producer[y] > best_step) best = y, best_step = c->producer[y];
    }
    return best;
}

static int trace_tensors(ctx *c, reef_error *err)
{
    const reef_lowered_model *m = c->m;
    for (int t = 0; t < c->nt; t++) c->producer[t] = -2, c->last_reader_step[t] = -1;
    c->producer[m->input_tensor] = -1;
    /* CONCATENATION and PACK: several steps write parts of one tensor; the
     * last is its producer, the first its first atom (index_atoms), and
     * the planner puts no point between them (cut_allowed) */
    for (int k = 0; k < m->nsteps; k++) c->producer[m->steps[k].output_tensor] = k;
    for (int t = 0; t < c->nt; t++) c->root[t] = t;
    for (int k = 0; k < m->nsteps; k++)
        for (int j = 0; j < 2; j++) {
            int t = m->steps[k].input_tensors[j];
            if (t < 0) continue;
            int r = resolve(c, t, k);
            if (r < 0) return reef_fail(err, "intermittent: step %d reads tensor %d that no earlier step writes", k, t);
            c->root[t] = r;
            if (c->last_reader_step[r] < k) c->last_reader_step[r] = k;
        }
    int out = resolve(c, m->output_tensor, m->nsteps);
    if (out < 0) return reef_fail(err, "intermittent: no step writes the output");
    c->root[m->output_tensor] = out;
    c->last_reader_step[out] = LIVE_TO_END;
    return 0;
}

static int push_atom(ctx *c, atom a)
{
    if (c->natoms == c->cap) {
        int cap = c->cap ? 2 * c->cap : 64;
        atom *grown = realloc(c->atoms, (size_t)cap * sizeof *grown);
        if (!grown) return -1;
        c->atoms = grown, c->cap = cap;
    }
    c->atoms[c->natoms++] = a;
    return 0;
}

/* How a step can be cut: kind, the range's length, the bytes per range
 * element, and the alignment (in range elements) tile edges need so every
 * moved pointer stays word aligned. 0 when it cannot. */
static int tiling_of(const reef_lowered_step *s, int32_t *length, uint32_t *elem_bytes, int32_t *align)
{
    const reef_step_args *a = &s->args;
    const reef_dims *in = NULL, *out = NULL;
    int kind = REEF_TILE_NONE;
    /* a step that writes over its own input cannot be cut: a later tile
     * would read input rows an earlier tile overwrote, and the restore of
     * its input would land on the output prefix (docs/intermittent.md) */
    if (reef_intermittent_step_in_place(s)) return 0;
    switch (s->kind) {
    case REEF_STEP_CONV: kind = REEF_TILE_CONV_ROWS, in = &a->conv.input_dims, out = &a->conv.output_dims; break;
    case REEF_STEP_DW_CONV: kind = REEF_TILE_DW_ROWS, in = &a->dw_conv.input_dims, out = &a->dw_conv.output_dims; break;
    case REEF_STEP_AVGPOOL:
    case REEF_STEP_MAXPOOL: kind = REEF_TILE_POOL_ROWS, in = &a->avgpool.input_dims, out = &a->avgpool.output_dims; break;
    case REEF_STEP_FC:
        if (a->fc.output_dims.n != 1 || a->fc.output_dims.c < 8) return 0;
        *length = a->fc.output_dims.c, *elem_bytes = 1;
        /* 4: filter rows stay word aligned, and the paired layout's groups
         * of 4 rows (reef/fc.h, made by gen) stay whole */
        *align = 4;
        return REEF_TILE_FC_CHANNELS;
    case REEF_STEP_ADD:
        if (a->add.count < 16) return 0;
        *length = a->add.count, *elem_bytes = 1, *align = 4;
        return REEF_TILE_ADD_ELEMENTS;
    default: return 0;
    }
    if (in->n != 1 || out->n != 1 || out->h < 2) return 0;
    if ((in->w * in->c) % 4 || (out->w * out->c) % 4) return 0;
    *length = out->h, *elem_bytes = (uint32_t)(out->w * out->c), *align = 1;
    return kind;
}

/* Input row where a tile starting at output row `begin` starts reading
 * (tile.c refuses a tile whose first window lies wholly in the padding). */
static int tile_start_ok(const reef_lowered_step *s, int kind, int32_t begin)
{
    const reef_step_args *a = &s->args;
    int32_t stride, pad, in_h;
    if (kind == REEF_TILE_CONV_ROWS) stride = a->conv.params.stride.h, pad = a->conv.params.padding.h, in_h = a->conv.input_dims.h;
    else if (kind == REEF_TILE_DW_ROWS) stride = a->dw_conv.params.stride.h, pad = a->dw_conv.params.padding.h, in_h = a->dw_conv.input_dims.h;
    else if (kind == REEF_TILE_POOL_ROWS) stride = a->avgpool.params.stride.h, pad = a->avgpool.params.padding.h, in_h = a->avgpool.input_dims.h;
    else return 1;
    return begin * stride - pad < in_h;
}

/* Bytes live before step k (produced earlier, read at k or later): what a
 * reboot before k restores. Step granularity: used to size tiles. */
static double live_bytes_before_step(const ctx *c, int k)
{
    double bytes = 0;
    for (int t = 0; t < c->nt; t++)
        if (c->root[t] == t && c->producer[t] != -2 && c->producer[t] < k && c->last_reader_step[t] >= k)
            bytes += c->m->tensor_bytes[t];
    return bytes;
}

static double step_uj(const ctx *c, int k)
{
    double cycles = c->o->step_cycles ? c->o->step_cycles[k] : reef_intermittent_step_cycles(&c->m->steps[k]);
    return cycles * STEP_MARGIN * c->o->costs.run_uj_per_cycle;
}

/* The worst charge a step cut into `tiles` tiles needs: boot, restore of
 * everything live (its whole output included), the largest tile, its save
 * and the record. */
static double tiled_charge(const ctx *c, int k, int32_t length, uint32_t elem_bytes, int32_t align, int tiles,
                           int kind)
{
    int32_t per = (length + tiles - 1) / tiles;
    per = (per + align - 1) / align * align;
    if (per >= length && tiles > 1) return DBL_MAX;
    for (int32_t b = 0; b < length; b += per)
        if (!tile_start_ok(&c->m->steps[k], kind, b)) return DBL_MAX;
    double out = (double)length * elem_bytes;
    double frac = (double)per / length;
    return c->o->costs.boot_uj + c->record_read_uj + read_cost(c, live_bytes_before_step(c, k) + out, 3) +
           step_uj(c, k) * frac + TILE_CALL_CYCLES * c->o->costs.run_uj_per_cycle +
           write_cost(c, (double)per * elem_bytes, 1) + c->record_write_uj;
}

static int add_step_atoms(ctx *c, int k, int tiles, int kind, int32_t length, uint32_t elem_bytes, int32_t align)
{
    const reef_lowered_step *s = &c->m->steps[k];
    uint32_t out_bytes = c->m->tensor_bytes[s->output_tensor];
    if (tiles <= 1) return push_atom(c, (atom){k, REEF_TILE_NONE, 0, 0, 0, 0, out_bytes, step_uj(c, k)});
    int32_t per = (length + tiles - 1) / tiles;
    per = (per + align - 1) / align * align;
    int t = 0;
    for (int32_t b = 0; b < length; b += per, t++) {
        int32_t e = b + per < length ? b + per : length;
        atom a = {k, kind, t, b, e, (uint32_t)b * elem_bytes, (uint32_t)e * elem_bytes,
                  step_uj(c, k) * (double)(e - b) / length + TILE_CALL_CYCLES * c->o->costs.run_uj_per_cycle};
        if (push_atom(c, a)) return -1;
    }
    return 0;
}

/* The fewest tiles that fit the budget, 1 when the whole step fits, 0
 * when none does. */
static int tiles_needed(const ctx *c, int k, int *kind, int32_t *length, uint32_t *elem_bytes, int32_t *align)
{
    double whole = c->o->costs.boot_uj + c->record_read_uj + read_cost(c, live_bytes_before_step(c, k), 3) +
                   step_uj(c, k) + write_cost(c, c->m->tensor_bytes[c->m->steps[k].output_tensor], 1) +
                   c->record_write_uj;
    *kind = tiling_of(&c->m->steps[k], length, elem_bytes, align);
    if (whole <= c->o->budget_uj) return 1;
    if (!*kind) return 0;
    int max_tiles = c->o->max_tiles > 0 ? c->o->max_tiles : DEFAULT_MAX_TILES;
    for (int tiles = 2; tiles <= max_tiles && tiles <= *length; tiles++)
        if (tiled_charge(c, k, *length, *elem_bytes, *align, tiles, *kind) <= c->o->budget_uj) return tiles;
    return 0;
}

/* ---- liveness at atom boundaries -------------------------------------- */

static void index_atoms(ctx *c)
{
    for (int t = 0; t < c->nt; t++) c->first_atom[t] = NO_ATOM, c->last_reader_atom[t] = NO_ATOM;
    for (int i = c->natoms - 1; i >= 0; i--) c->first_atom[c->m->steps[c->atoms[i].step].output_tensor] = i;
    for (int i = 0; i < c->natoms; i++) {
        const reef_lowered_step *s = &c->m->steps[c->atoms[i].step];
        for (int j = 0; j < 2; j++)
            if (s->input_tensors[j] >= 0) {
                int r = c->root[s->input_tensors[j]];
                if (c->last_reader_atom[r] < i) c->last_reader_atom[r] = i;
            }
    }
    c->last_reader_atom[c->root[c->m->output_tensor]] = LIVE_TO_END;
}

/* First atom writing root tensor t: -1 for the model input. */
static int produced_from(const ctx *c, int t) { return t == c->m->input_tensor ? -1 : c->first_atom[t]; }

/* Bytes of t written by atoms before boundary i (a prefix: tiles are in
 * order). A tensor written in parts (CONCATENATION, PACK) is whole at any
 * point after its first part: no point falls between parts (cut_allowed). */
static uint32_t prefix_bytes(const ctx *c, int t, int i)
{
    if (t == c->m->input_tensor) return c->m->tensor_bytes[t];
    if (c->m->steps[c->producer[t]].writes_part) return c->first_atom[t] < i ? c->m->tensor_bytes[t] : 0;
    uint32_t end = 0;
    for (int a = c->first_atom[t]; a < i && a < c->natoms && c->atoms[a].step == c->producer[t]; a++)
        end = c->atoms[a].byte1;
    return end;
}

/* Is t live at boundary i (written before it, read at or after it)? */
static int live_at(const ctx *c, int t, int i)
{
    if (c->root[t] != t || c->producer[t] == -2 || !c->m->tensor_bytes[t]) return 0;
    int from = produced_from(c, t);
    return from != NO_ATOM && from < i && c->last_reader_atom[t] >= i;
}

static void restore_at(const ctx *c, int i, double *bytes, double *transfers)
{
    *bytes = 0, *transfers = 0;
    for (int t = 0; t < c->nt; t++)
        if (live_at(c, t, i)) *bytes += prefix_bytes(c, t, i), *transfers += 1;
}

static int cut_allowed(const ctx *c, int i);

/* Whether atom a writes a part of a tensor that atom a + 1 goes on
 * writing: the tensor is saved once, after its last part. */
static int part_continues(const ctx *c, int a)
{
    return a + 1 < c->natoms && !cut_allowed(c, a + 1);
}

/* What the unit [i, j) leaves live at j. */
static void saves_of(const ctx *c, int i, int j, double *bytes, double *transfers)
{
    *bytes = 0, *transfers = 0;
    for (int a = i; a < j; a++) {
        if (part_continues(c, a)) continue;
        int t = c->m->steps[c->atoms[a].step].output_tensor;
        if (c->last_reader_atom[t] >= j) *bytes += c->atoms[a].byte1 - c->atoms[a].byte0, *transfers += 1;
    }
}

/* Modeled charge the unit [i, j) needs after a reboot, and its commit. */
static double unit_charge(const ctx *c, int i, int j, double *commit)
{
    double rb, rt, sb, st, run = 0;
    restore_at(c, i, &rb, &rt);
    saves_of(c, i, j, &sb, &st);
    for (int a = i; a < j; a++) run += c->atoms[a].uj;
    *commit = write_cost(c, sb, st) + c->record_write_uj;
    return c->o->costs.boot_uj + c->record_read_uj + read_cost(c, rb, rt) + run + *commit;
}

/* May a commit point fall at boundary i? Not between two steps that write
 * parts of one tensor (CONCATENATION, PACK): the parts interleave, so a
 * point there would have to save the tensor whole over the copy its own
 * restore reads; a unit holds all the parts (cheap copies) instead. */
static int cut_allowed(const ctx *c, int i)
{
    if (i <= 0 || i >= c->natoms) return 1;
    const reef_lowered_step *before = &c->m->steps[c->atoms[i - 1].step], *after = &c->m->steps[c->atoms[i].step];
    return !(before->writes_part && after->writes_part && before->output_tensor == after->output_tensor);
}

/* Cut points minimising the commits' energy with every unit within the
 * budget (dynamic programming over atom boundaries); a tile is a unit of
 * its own. No budget: a unit per atom (the parts of one tensor together). */
static int choose_cuts(const ctx *c, int *cut, int *ncut, reef_error *err)
{
    int n = c->natoms;
    if (c->o->budget_uj <= 0) {
        int k = 0;
        for (int i = 0; i <= n; i++)
            if (cut_allowed(c, i)) cut[k++] = i;
        *ncut = k;
        return 0;
    }
    double *best = malloc((size_t)(n + 1) * sizeof *best);
    int *from = malloc((size_t)(n + 1) * sizeof *from);
    if (!best || !from) {
        free(best), free(from);
        return reef_fail(err, "out of memory");
    }
    best[0] = 0;
    for (int j = 1; j <= n; j++) {
        best[j] = DBL_MAX, from[j] = -1;
        if (!cut_allowed(c, j)) continue;
        for (int i = j - 1; i >= 0; i--) {
            if (best[i] == DBL_MAX) continue;
            if (j - i > 1 && (c->atoms[i].tile_kind || c->atoms[j - 1].tile_kind)) break;
            double commit, charge = unit_charge(c, i, j, &commit);
            if (charge > c->o->budget_uj) {
                if (j - i > 1) break; /* longer units only cost more */
                continue;
            }
            if (best[i] + commit < best[j]) best[j] = best[i] + commit, from[j] = i;
        }
        if (from[j] < 0) {
            double commit, need = unit_charge(c, j - 1, j, &commit);
            free(best), free(from);
            return reef_fail(err, "intermittent: step %d needs %.1f uJ in one charge (budget %.1f uJ)",
                             c->atoms[j - 1].step, need, c->o->budget_uj);
        }
    }
    int k = 0;
    for (int j = n; j > 0; j = from[j]) cut[k++] = j;
    cut[k++] = 0;
    for (int a = 0, b = k - 1; a < b; a++, b--) {
        int t = cut[a];
        cut[a] = cut[b], cut[b] = t;
    }
    *ncut = k;
    free(best), free(from);
    return 0;
}

/* ---- the plan --------------------------------------------------------- */

static uint32_t fnv1a(uint32_t h, const void *data, size_t n)
{
    const uint8_t *p = data;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 16777619u;
    return h;
}

static uint32_t model_id(const reef_lowered_model *m, const reef_intermittent_plan *p)
{
    uint32_t h = 2166136261u;
    h = fnv1a(h, &m->nsteps, sizeof m->nsteps);
    h = fnv1a(h, &m->arena_size, sizeof m->arena_size);
    for (int k = 0; k < m->nsteps; k++) {
        const reef_lowered_step *s = &m->steps[k];
        h = fnv1a(h, &s->kind, sizeof s->kind);
        if (s->filter) h = fnv1a(h, s->filter, s->filter_size);
        if (s->bias) h = fnv1a(h, s->bias, (size_t)s->nbias * sizeof *s->bias);
        if (s->multiplier) h = fnv1a(h, s->multiplier, (size_t)s->nchannels * sizeof *s->multiplier);
    }
    h = fnv1a(h, p->units, (size_t)p->nunits * sizeof *p->units);
    h = fnv1a(h, p->saves, (size_t)p->nsaves * sizeof *p->saves);
    return h ? h : 1;
}

static void record_geometry(const reef_intermittent_options *o, reef_nvm *geom)
{
    memset(geom, 0, sizeof *geom);
    geom->write_unit = o->write_unit ? o->write_unit : 1;
    geom->erase_size = o->erase_size;
}

static int alloc_plan(reef_intermittent_plan *p, int nunits, int ntensors)
{
    size_t maxspans = (size_t)(nunits + 1) * (size_t)(ntensors + 1) + (size_t)ntensors + 1;
    p->units = calloc((size_t)nunits, sizeof *p->units);
    p->unit_uj = calloc((size_t)nunits, sizeof *p->unit_uj);
    p->worst_charge_uj = calloc((size_t)nunits, sizeof *p->worst_charge_uj);
    p->commit_uj = calloc((size_t)nunits + 1, sizeof *p->commit_uj);
    p->restore_uj = calloc((size_t)nunits + 1, sizeof *p->restore_uj);
    p->save_index = calloc((size_t)nunits + 2, sizeof *p->save_index);
    p->restore_index = calloc((size_t)nunits + 2, sizeof *p->restore_index);
    p->saves = calloc(maxspans, sizeof *p->saves);
    p->save_live_to = calloc(maxspans, sizeof *p->save_live_to);
    p->restores = calloc(maxspans, sizeof *p->restores);
    return p->units && p->unit_uj && p->worst_charge_uj && p->commit_uj && p->restore_uj && p->save_index &&
                   p->restore_index && p->saves && p->save_live_to && p->restores
               ? 0
               : -1;
}

/* NVM regions: every tensor live at some point owns bytes of its own, for
 * the whole schedule (no two tensors share NVM bytes). Sharing bytes
 * between tensors whose live points do not overlap would be safe if a
 * commit followed every unit; with commits that may pass points (resume.h:
 * commit_now) a save after the last committed point p could overwrite a
 * tensor that p's restore reads. NVM is not scarce (a 256 KB FRAM); what
 * it costs is in the plan's nvm_bytes. */
static int layout_nvm(const ctx *c, const int *cut, int ncut, uint32_t *nvm_at, uint32_t *data_bytes,
                      reef_error *err)
{
    int nbuf = 0;
    reef_plan_buffer *bufs = calloc((size_t)c->nt + 1, sizeof *bufs);
    int *buf_tensor = calloc((size_t)c->nt + 1, sizeof *buf_tensor);
    if (!bufs || !buf_tensor) {
        free(bufs), free(buf_tensor);
        return reef_fail(err, "out of memory");
    }
    for (int t = 0; t < c->nt; t++) {
        nvm_at[t] = UINT32_MAX;
        int live = 0;
        for (int pt = 0; pt < ncut && !live; pt++) live = live_at(c, t, cut[pt]);
        if (!live) continue;
        /* one interval for all: the regions are disjoint (this also keeps the
         * next job's input, saved while the record still says "this job,
         * last point", apart from the output that point's restore reads) */
        bufs[nbuf] = (reef_plan_buffer){c->m->tensor_bytes[t], 0, ncut - 1, 0};
        buf_tensor[nbuf++] = t;
    }
    reef_plan_stats st = {0, 0, NULL};
    int rc = nbuf ? reef_plan(bufs, nbuf, 4, &st, err) : 0;
    if (rc == 0 && nbuf) rc = reef_plan_check(bufs, nbuf, 4, err);
    for (int b = 0; rc == 0 && b < nbuf; b++) nvm_at[buf_tensor[b]] = (uint32_t)bufs[b].offset;
    *data_bytes = (uint32_t)st.arena_size;
    free(bufs), free(buf_tensor);
    return rc;
}

/* The last point where t is live (ncut - 1 for the output). */
static uint32_t last_live_point(const ctx *c, int t, const int *cut, int ncut)
{
    uint32_t last = 0;
    for (int pt = 0; pt < ncut; pt++)
        if (live_at(c, t, cut[pt])) last = (uint32_t)pt;
    return last;
}

static void fill_spans(ctx *c, const int *cut, int ncut, const uint32_t *nvm_at, reef_intermittent_plan *p)
{
    const reef_lowered_model *m = c->m;
    int ns = 0, nr = 0;
    for (int pt = 0; pt < ncut; pt++) {
        int i = cut[pt];
        p->save_index[pt] = (uint32_t)ns;
        p->restore_index[pt] = (uint32_t)nr;
        if (pt == 0) {
            int t = c->root[m->input_tensor];
            if (nvm_at[t] != UINT32_MAX) {
                p->save_live_to[ns] = last_live_point(c, t, cut, ncut);
                p->saves[ns++] = (reef_span){m->tensor_at[t], p->data_at + nvm_at[t], m->tensor_bytes[t]};
            }
        } else {
            for (int a = cut[pt - 1]; a < i; a++) {
                int t = m->steps[c->atoms[a].step].output_tensor;
                if (part_continues(c, a) || c->last_reader_atom[t] < i || nvm_at[t] == UINT32_MAX) continue;
                const atom *at = &c->atoms[a];
                p->save_live_to[ns] = last_live_point(c, t, cut, ncut);
                p->saves[ns++] = (reef_span){m->tensor_at[t] + at->byte0, p->data_at + nvm_at[t] + at->byte0,
                                             at->byte1 - at->byte0};
            }
        }
        for (int t = 0; t < c->nt; t++)
            if (live_at(c, t, i) && prefix_bytes(c, t, i))
                p->restores[nr++] = (reef_span){m->tensor_at[t], p->data_at + nvm_at[t], prefix_bytes(c, t, i)};
    }
    p->save_index[ncut] = (uint32_t)ns;
    p->restore_index[ncut] = (uint32_t)nr;
    p->nsaves = ns, p->nrestores = nr;
}

static void fill_units_and_costs(ctx *c, const int *cut, int ncut, reef_intermittent_plan *p)
{
    p->step_uj_total = 0, p->commit_uj_total = 0, p->saved_bytes = 0;
    for (int u = 0; u + 1 < ncut; u++) {
        const atom *a = &c->atoms[cut[u]];
        p->units[u] = (reef_unit){(uint16_t)a->step, (uint16_t)(a->tile_kind ? 1 : c->atoms[cut[u + 1] - 1].step - a->step + 1),
                                  (uint16_t)a->tile_kind, (uint16_t)a->tile, a->begin, a->end};
        double commit;
        p->worst_charge_uj[u] = unit_charge(c, cut[u], cut[u + 1], &commit);
        for (int i = cut[u]; i < cut[u + 1]; i++) p->unit_uj[u] += c->atoms[i].uj;
        p->step_uj_total += p->unit_uj[u];
    }
    for (int u = 0; u < p->nunits; u++) {
        double live = 0;
        for (uint32_t s = p->restore_index[u + 1]; s < p->restore_index[u + 2]; s++) live += p->restores[s].bytes;
        double need = p->unit_uj[u] + write_cost(c, live, p->restore_index[u + 2] - p->restore_index[u + 1]) +
                      c->record_write_uj;
        if (need > p->pass_reserve_uj) p->pass_reserve_uj = need;
    }
    for (int pt = 0; pt < ncut; pt++) {
        double bytes = 0, rb = 0;
        for (uint32_t s = p->save_index[pt]; s < p->save_index[pt + 1]; s++) bytes += p->saves[s].bytes;
        for (uint32_t s = p->restore_index[pt]; s < p->restore_index[pt + 1]; s++) rb += p->restores[s].bytes;
        p->commit_uj[pt] = write_cost(c, bytes, p->save_index[pt + 1] - p->save_index[pt]) + c->record_write_uj;
        p->restore_uj[pt] = read_cost(c, rb, p->restore_index[pt + 1] - p->restore_index[pt]) + c->record_read_uj;
        p->commit_uj_total += p->commit_uj[pt];
        p->saved_bytes += (size_t)bytes;
    }
    p->commit_ends_uj = p->commit_uj[0] + p->commit_uj[ncut - 1];
}

static int ctx_init(ctx *c, const reef_lowered_model *m, const reef_intermittent_options *o, reef_error *err)
{
    memset(c, 0, sizeof *c);
    c->m = m, c->o = o, c->nt = m->ntensors;
    size_t n = (size_t)(m->ntensors ? m->ntensors : 1);
    c->producer = malloc(n * sizeof *c->producer);
    c->root = malloc(n * sizeof *c->root);
    c->last_reader_step = malloc(n * sizeof *c->last_reader_step);
    c->first_atom = malloc(n * sizeof *c->first_atom);
    c->last_reader_atom = malloc(n * sizeof *c->last_reader_atom);
    if (!c->producer || !c->root || !c->last_reader_step || !c->first_atom || !c->last_reader_atom)
        return reef_fail(err, "out of memory");
    if (o->step_cycles && o->nstep_cycles != m->nsteps)
        return reef_fail(err, "intermittent: %d measured step cycles for a model of %d steps (another model's?)",
                         o->nstep_cycles, m->nsteps);
    reef_nvm geom;
    record_geometry(o, &geom);
    /* a commit's writes: invalidate, fields, payload, commit word */
    c->record_write_uj = write_cost(c, reef_nvm_record_commit_bytes(&geom, PROGRESS_BYTES), 4);
    /* a boot reads both slots' commit words, fields and payloads */
    c->record_read_uj = read_cost(c, 2.0 * (reef_nvm_record_header_size(&geom) + PROGRESS_BYTES), 8);
    return trace_tensors(c, err);
}

static void ctx_free(ctx *c)
{
    free(c->producer), free(c->root), free(c->last_reader_step), free(c->first_atom), free(c->last_reader_atom);
    free(c->atoms);
}

static int build_atoms(ctx *c, reef_error *err)
{
    for (int k = 0; k < c->m->nsteps; k++) {
        int kind = 0, tiles = 1;
        int32_t length = 0, align = 1;
        uint32_t elem = 0;
        if (c->o->budget_uj > 0) {
            tiles = tiles_needed(c, k, &kind, &length, &elem, &align);
            if (!tiles)
                return reef_fail(err,
                                 "intermittent: step %d (%s) cannot make progress: even cut as finely as it "
                                 "can be, one piece needs more than the %.1f uJ one charge delivers",
                                 k, reef_step_kind_name(c->m->steps[k].kind), c->o->budget_uj);
        }
        if (add_step_atoms(c, k, tiles, kind, length, elem, align)) return reef_fail(err, "out of memory");
    }
    index_atoms(c);
    return 0;
}

int reef_intermittent_plan_make(const reef_lowered_model *m, const reef_intermittent_options *o,
                                reef_intermittent_plan *p, reef_error *err)
{
    ctx c;
    int *cut = NULL, ncut = 0, rc = -1;
    uint32_t *nvm_at = NULL, data_bytes = 0;
    memset(p, 0, sizeof *p);
    if (m->nsteps <= 0 || m->nsteps > 65535) return reef_fail(err, "intermittent: %d steps", m->nsteps);
    if (ctx_init(&c, m, o, err) || build_atoms(&c, err)) goto done;
    cut = malloc((size_t)(c.natoms + 1) * sizeof *cut);
    nvm_at = malloc((size_t)(c.nt ? c.nt : 1) * sizeof *nvm_at);
    if (!cut || !nvm_at) {
        reef_fail(err, "out of memory");
        goto done;
    }
    if (choose_cuts(&c, cut, &ncut, err) || layout_nvm(&c, cut, ncut, nvm_at, &data_bytes, err)) goto done;
    if (alloc_plan(p, ncut - 1, c.nt)) {
        reef_fail(err, "out of memory");
        goto done;
    }
    p->nunits = ncut - 1;
    reef_nvm geom;
    record_geometry(o, &geom);
    p->record_at = 0;
    p->record_slot_size = reef_nvm_record_slot_size(&geom, PROGRESS_BYTES);
    uint32_t align = geom.erase_size ? geom.erase_size : 4u;
    p->data_at = (2u * p->record_slot_size + align - 1u) / align * align;
    p->nvm_bytes = p->data_at + data_bytes;
    fill_spans(&c, cut, ncut, nvm_at, p);
    fill_units_and_costs(&c, cut, ncut, p);
    for (int k = 0; k < m->nsteps; k++) {
        int tiled = 0;
        for (int u = 0; u < p->nunits; u++) tiled |= p->units[u].step == k && p->units[u].tile_kind;
        p->tiled_steps += tiled;
    }
    p->model_id = model_id(m, p);
    rc = 0;
done:
    if (rc) reef_intermittent_plan_free(p);
    free(cut), free(nvm_at);
    ctx_free(&c);
    return rc;
}

int reef_intermittent_memory_fallback(const reef_lowered_model *m, const reef_intermittent_options *o,
                                      char *plain)
{
    ctx c;
    reef_error err;
    int marked = 0;
    if (o->budget_uj <= 0) return 0;
    if (ctx_init(&c, m, o, &err)) {
        ctx_free(&c);
        return -1;
    }
    for (int k = 0; k < m->nsteps; k++) {
        const reef_lowered_step *s = &m->steps[k];
        if (!reef_intermittent_step_in_place(s)) continue;
        double whole = c.o->costs.boot_uj + c.record_read_uj + read_cost(&c, live_bytes_before_step(&c, k), 3) +
                       step_uj(&c, k) + write_cost(&c, m->tensor_bytes[s->output_tensor], 1) + c.record_write_uj;
        if (whole <= o->budget_uj) continue;
        if (s->output_tensor >= 0 && !plain[s->output_tensor]) plain[s->output_tensor] = 1, marked++;
        for (int j = 0; j < s->nsub; j++)
            if (s->sub[j].output_tensor >= 0 && !plain[s->sub[j].output_tensor])
                plain[s->sub[j].output_tensor] = 1, marked++;
    }
    ctx_free(&c);
    return marked;
}

double reef_intermittent_min_budget(const reef_lowered_model *m, const reef_intermittent_options *o)
{
    ctx c;
    reef_error err;
    double worst = 0;
    if (ctx_init(&c, m, o, &err)) {
        ctx_free(&c);
        return -1;
    }
    int max_tiles = o->max_tiles > 0 ? o->max_tiles : DEFAULT_MAX_TILES;
    for (int k = 0; k < m->nsteps; k++) {
        if (m->steps[k].writes_part) { /* the parts of one tensor run in one unit (cut_allowed) */
            const int first = k;
            double run = step_uj(&c, k);
            while (k + 1 < m->nsteps && m->steps[k + 1].writes_part &&
                   m->steps[k + 1].output_tensor == m->steps[first].output_tensor)
                run += step_uj(&c, ++k);
            double need = c.o->costs.boot_uj + c.record_read_uj + read_cost(&c, live_bytes_before_step(&c, first), 3) +
                          run + write_cost(&c, m->tensor_bytes[m->steps[k].output_tensor], 1) + c.record_write_uj;
            if (need > worst) worst = need;
            continue;
        }
        int32_t length = 0, align = 1;
        uint32_t elem = 0;
        int kind = tiling_of(&m->steps[k], &length, &elem, &align);
        double best = c.o->costs.boot_uj + c.record_read_uj + read_cost(&c, live_bytes_before_step(&c, k), 3) +
                      step_uj(&c, k) + write_cost(&c, m->tensor_bytes[m->steps[k].output_tensor], 1) +
                      c.record_write_uj;
        for (int tiles = 2; kind && tiles <= max_tiles && tiles <= length; tiles++) {
            double need = tiled_charge(&c, k, length, elem, align, tiles, kind);
            if (need < best) best = need;
        }
        if (best > worst) worst = best;
    }
    ctx_free(&c);
    return worst;
}

void reef_intermittent_plan_free(reef_intermittent_plan *p)
{
    free(p->units), free(p->unit_uj), free(p->commit_uj), free(p->restore_uj), free(p->worst_charge_uj);
    free(p->saves), free(p->save_live_to), free(p->save_index), free(p->restores), free(p->restore_index);
    memset(p, 0, sizeof *p);
}

void reef_intermittent_resumable(const reef_lowered_model *m, const reef_intermittent_plan *p, uint8_t *arena,
                                 reef_resumable *r)
{
    memset(r, 0, sizeof *r);
    r->model_id = p->model_id;
    r->steps = m->table;
    r->arena = arena;
    r->unit_count = p->nunits;
    r->units = p->units;
    r->saves = p->saves;
    r->save_index = p->save_index;
    r->restores = p->restores;
    r->restore_index = p->restore_index;
    r->input_at = m->input_at;
    r->input_bytes = (uint32_t)m->input_bytes;
    r->output_at = m->output_at;
    r->output_bytes = (uint32_t)m->output_bytes;
    r->record_at = p->record_at;
    r->record_slot_size = p->record_slot_size;
    r->nvm_bytes = p->nvm_bytes;
    r->save_live_to = p->save_live_to;
}
