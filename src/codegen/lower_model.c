/* The whole-model lowering pass: lower every op (listing all that cannot
 * be), alias reshapes whose input dies there, plan the arena, fill arena
 * offsets, and the host interpreter over the result. */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codegen/lower_internal.h"
#include "codegen/plan.h"

static const struct {
    reef_step_fn fn;
    const char *name;
} kind_info[] = {
#define REEF_X(KIND, name, run, args_type, printer) [REEF_STEP_##KIND] = {run, #name},
    REEF_STEP_KINDS(REEF_X)
#undef REEF_X
};

reef_step_fn reef_step_kind_fn(reef_step_kind kind)
{
    return kind_info[kind].fn;
}
const char *reef_step_kind_name(reef_step_kind kind)
{
    return kind_info[kind].name;
}

static const char *model_name(const reef_graph *g)
{
    return g->name && *g->name ? g->name : "model";
}

/* ---- inputs and outputs ------------------------------------------------- */

static int io_tensor(const reef_graph *g, int32_t t, const char *what, reef_error *err)
{
    if (t < 0 || t >= g->ntensors)
        return reef_fail(err, "%s: %s tensor index %d is out of range", model_name(g), what, t);
    const reef_tensor *x = &g->tensors[t];
    int is_int8 = (x->type == REEF_INT8 || x->type == REEF_INT16) && x->nquant >= 1; /* int16: 16x8 */
    int is_index = x->type == REEF_INT32 && !strcmp(what, "output"); /* ARG_MAX */
    if (!(is_int8 || is_index || x->type == REEF_FLOAT32) || x->data)
        return reef_fail(err,
                         "%s: the %s tensor '%s' is %s%s; reef runs int8 models with int8 %ss "
                         "(or int16 ones (16x8), float32 ones around QUANTIZE / DEQUANTIZE, or int32 indices out "
                         "of ARG_MAX)",
                         model_name(g), what, x->name, reef_dtype_name(x->type), x->data ? " (constant)" : "",
                         what);
    return 0;
}

int reef_lower_elem_size(reef_dtype type)
{
    return type == REEF_INT8 ? 1 : type == REEF_INT16 ? 2 : type == REEF_FLOAT32 || type == REEF_INT32 ? 4 : 0;
}

/* Bytes of an activation tensor in the arena. */
static size_t tensor_size(const reef_tensor *t)
{
    int elem = reef_lower_elem_size(t->type);
    return (size_t)reef_tensor_elements(t) * (size_t)(elem ? elem : 1);
}

static int describe_io(const reef_graph *g, reef_lowered_model *m, reef_error *err)
{
    if (g->ninputs != 1 || g->noutputs != 1)
        return reef_fail(err, "%s: has %d inputs and %d outputs; reef supports one of each", model_name(g),
                         g->ninputs, g->noutputs);
    if (io_tensor(g, g->inputs[0], "input", err) || io_tensor(g, g->outputs[0], "output", err)) return -1;
    const reef_tensor *in = &g->tensors[g->inputs[0]], *out = &g->tensors[g->outputs[0]];
    m->input_tensor = g->inputs[0], m->output_tensor = g->outputs[0];
    m->input_size = (int32_t)reef_tensor_elements(in), m->output_size = (int32_t)reef_tensor_elements(out);
    m->input_type = in->type, m->output_type = out->type;
    m->input_bytes = (int32_t)tensor_size(in), m->output_bytes = (int32_t)tensor_size(out);
    if (in->type == REEF_INT8 || in->type == REEF_INT16)
        m->input_scale = in->scale[0], m->input_zero_point = (int32_t)in->zero_point[0];
    if (out->type == REEF_INT8 || out->type == REEF_INT16)
        m->output_scale = out->scale[0], m->output_zero_point = (int32_t)out->zero_point[0];
    m->input_rank = in->rank, m->output_rank = out->rank;
    memcpy(m->input_shape, in->shape, sizeof m->input_shape);
    memcpy(m->output_shape, out->shape, sizeof m->output_shape);
    return 0;
}

/* ---- lowering every op -------------------------------------------------- */

static void append_problem(char *buf, size_t size, int op, const char *name, const char *why)
{
    size_t len = strlen(buf);
    /* Truncation is fine: the message leads with the count of problems. */
    if (len + 1 < size && snprintf(buf + len, size - len, " op %d %s: %s;", op, name, why) < 0) buf[len] = 0;
}

/* Steps op i lowers to at most: one per operand for the ops lower_pieces
 * takes, else one. */
static int max_steps(const reef_op *op)
{
    if (!lower_is_pieces(op->builtin)) return 1;
    return op->ninputs > op->noutputs ? op->ninputs : op->noutputs > 0 ? op->noutputs : 1;
}

/* Lowers all ops into m->steps; when some cannot be, fails listing every
 * one of them with its reason. */
static int lower_all_ops(const reef_graph *g, reef_lowered_model *m, reef_error *err)
{
    size_t cap = 1;
    for (int i = 0; i < g->nops; i++) cap += (size_t)max_steps(&g->ops[i]);
    m->steps = calloc(cap, sizeof *m->steps);
    if (!m->steps) return reef_fail(err, "%s: out of memory", model_name(g));
    char list[sizeof err->msg];
    list[0] = 0;
    int nbad = 0;
    for (int i = 0; i < g->nops; i++) {
        reef_error e = {{0}};
        reef_lowered_step *s = &m->steps[m->nsteps];
        int n = 1;
        if ((lower_is_pieces(g->ops[i].builtin) ? lower_pieces(g, i, s, &n, &e) : lower_one_op(g, i, s, &e)) == 0) {
            m->nsteps += n;
            continue;
        }
        const char *custom = g->ops[i].custom_code;
        append_problem(list, sizeof list, i, custom ? custom : reef_builtin_name(g->ops[i].builtin), e.msg);
        nbad++;
        lower_step_free(s);
    }
    if (nbad) {
        size_t len = strlen(list);
        if (len && list[len - 1] == ';') list[len - 1] = 0;
        return reef_fail(err, "%s: %d of %d ops are not supported:%s", model_name(g), nbad, g->nops, list);
    }
    return 0;
}

int reef_lower_op_check(const reef_graph *g, int i, reef_error *err)
{
    if (i < 0 || i >= g->nops) return reef_fail(err, "op %d is out of range", i);
    const int cap = max_steps(&g->ops[i]);
    reef_lowered_step *steps = calloc((size_t)cap, sizeof *steps);
    if (!steps) return reef_fail(err, "out of memory");
    int n = 1;
    const int rc = lower_is_pieces(g->ops[i].builtin) ? lower_pieces(g, i, steps, &n, err) : lower_one_op(g, i, steps, err);
    for (int k = 0; k < (rc == 0 ? n : 1); k++) lower_step_free(&steps[k]);
    free(steps);
    return rc ? -1 : 0;
}

/* ---- lifetimes, reshape aliasing, planning ------------------------------ */

typedef struct lifetimes {
    int32_t *root; /* (ntensors) the tensor whose buffer it uses */
    int *first;    /* (ntensors) by root: first step live, INT_MAX = no buffer */
    int *last;     /* (ntensors) by root */
    char *written; /* (ntensors) */
    int *readers;  /* (ntensors) number of steps reading it */
    int32_t *pin;  /* (ntensors) by root: the root whose offset it must share (in place), or -1 */
    int32_t *disp; /* (ntensors) by root: its offset minus pin's (a ROWS step's output over its input) */
} lifetimes;

static int32_t find_root(const lifetimes *lt, int32_t t)
{
    while (lt->root[t] != t) t = lt->root[t];
    return t;
}

/* A reshape whose input is read by nothing else and is not the model
 * output needs no copy: its output takes over the input's buffer. */
static int reshape_can_alias(const reef_lowered_step *s, const lifetimes *lt, int32_t graph_output)
{
    int32_t x = s->input_tensors[0];
    return s->kind == REEF_STEP_RESHAPE && lt->readers[x] == 1 && x != graph_output;
}

/* A depthwise step whose input dies there may write its output over it
 * (reef_dw_conv_s8_in_place) when the kernel can and the output fits the
 * input's buffer; wanted[k] says whether the memory mode asks for it. */
static int dw_can_be_in_place(const reef_graph *g, const reef_lowered_step *s, const lifetimes *lt,
                              int32_t graph_output, const char *wanted, int k)
{
    const reef_dw_conv_step_args *a = &s->args.dw_conv;
    int32_t x = s->input_tensors[0];
    return wanted && wanted[k] && s->kind == REEF_STEP_DW_CONV && x >= 0 && lt->readers[x] == 1 &&
           x != graph_output && s->output_tensor != graph_output &&
           reef_dw_conv_s8_can_run_in_place(&a->params, &a->input_dims, &a->filter_dims, &a->output_dims) &&
           tensor_size(&g->tensors[s->output_tensor]) <= tensor_size(&g->tensors[find_root(lt, x)]);
}

/* Whether step s, an average pool on the runtime's 2x2 loop (avgpool_2x2,
 * runtime/src/pool.c), writes its output over its input: the loop always
 * can, since every output byte it writes lies at or before the first input
 * byte of its window, which it has read (the fish nets' first step: the
 * arena of fish-nas-2ch-r64-c8e2 10,240 -> 8,192 B, and a temporal harness
 * then reads its frame in place, harness.c). Not when its input has another
 * reader, when either is the graph output, or when the resumable planner
 * asked for the layer plain (reef_lower_plain). */
static int pool_can_be_in_place(const reef_graph *g, const reef_lowered_model *m, const reef_lowered_step *s,
                                const lifetimes *lt)
{
    if (s->kind != REEF_STEP_AVGPOOL) return 0;
    const reef_pool_step_args *a = &s->args.avgpool;
    int32_t x = s->input_tensors[0];
    return x >= 0 && lt->readers[x] == 1 && x != m->output_tensor && s->output_tensor != m->output_tensor &&
           !(m->plain && m->plain[s->output_tensor]) &&
           reef_pool_s8_path(0, &a->params, &a->input_dims, &a->filter, &a->output_dims) == REEF_POOL_PATH_AVG_2X2 &&
           tensor_size(&g->tensors[s->output_tensor]) <= tensor_size(&g->tensors[find_root(lt, x)]);
}

static void count_readers(const reef_lowered_model *m, lifetimes *lt)
{
    for (int k = 0; k < m->nsteps; k++)
        for (int j = 0; j < 2; j++)
            if (m->steps[k].input_tensors[j] >= 0) lt->readers[m->steps[k].input_tensors[j]]++;
}

/* Walks the steps in order: checks every activation is written before it
 * is read, drops aliased reshapes (compacting m->steps), puts the wanted
 * depthwise steps in place (their output takes over their input's buffer,
 * their scratch becomes the in-place kernel's) and records each buffer's
 * first and last step. dry: m->steps is a shallow copy to try a choice on,
 * whose dropped steps must not be freed. */
static int trace_lifetimes(const reef_graph *g, reef_lowered_model *m, lifetimes *lt, const char *wanted,
                           int dry, reef_error *err)
{
    int kept = 0, prev_op = -1;
    lt->written[m->input_tensor] = 1;
    lt->first[m->input_tensor] = 0;
    for (int k = 0; k < m->nsteps; k++) {
        reef_lowered_step s = m->steps[k];
        for (int j = 0; j < 2; j++) {
            int32_t t = s.input_tensors[j];
            if (t >= 0 && !lt->written[t])
                return reef_fail(err, "%s: op %d reads tensor %d '%s' before any op writes it", model_name(g),
                                 s.op, t, g->tensors[t].name);
        }
        /* the parts of one CONCATENATION or PACK output come from adjacent steps of its op */
        int next_part = s.writes_part && s.op == prev_op;
        prev_op = s.op;
        if (lt->written[s.output_tensor] && !next_part)
            return reef_fail(err, "%s: tensor %d '%s' is written twice (op %d)", model_name(g),
                             s.output_tensor, g->tensors[s.output_tensor].name, s.op);
        lt->written[s.output_tensor] = 1;
        if (reshape_can_alias(&s, lt, m->output_tensor)) {
            lt->root[s.output_tensor] = find_root(lt, s.input_tensors[0]);
            if (!dry) lower_step_free(&m->steps[k]);
            continue;
        }
        int in_place = dw_can_be_in_place(g, &s, lt, m->output_tensor, wanted, k);
        if (pool_can_be_in_place(g, m, &s, lt)) {
            lt->pin[s.output_tensor] = find_root(lt, s.input_tensors[0]);
            in_place = 1;
        } else if (in_place) {
            /* the output is its own (smaller) buffer from the next step on,
             * at the input's offset: the input's buffer holds it during this
             * step, so the two never meet in time */
            reef_dw_conv_step_args *a = &s.args.dw_conv;
            lt->pin[s.output_tensor] = find_root(lt, s.input_tensors[0]);
            a->io.scratch_size =
                (uint32_t)reef_dw_conv_s8_in_place_buffer_size(&a->params, &a->filter_dims, &a->output_dims);
        }
        if (s.kind == REEF_STEP_ROWS && s.rows_in_place) {
            /* live at this step as the input is: the step writes only rows
             * no later read of the input needs (reef/rows.h) */
            lt->pin[s.output_tensor] = find_root(lt, s.input_tensors[0]);
            lt->disp[s.output_tensor] = s.rows_disp;
        }
        for (int j = 0; j < 2; j++)
            if (s.input_tensors[j] >= 0) {
                int32_t r = find_root(lt, s.input_tensors[j]);
                if (lt->last[r] < kept) lt->last[r] = kept;
            }
        int32_t r = find_root(lt, s.output_tensor);
        if (lt->first[r] == INT_MAX) lt->first[r] = kept + in_place;
        /* Move, leaving no second owner of the step's arrays behind. */
        m->steps[kept++] = s;
        if (kept - 1 != k && !dry) memset(&m->steps[k], 0, sizeof m->steps[k]);
    }
    m->nsteps = kept;
    int32_t r = find_root(lt, m->output_tensor);
    if (!lt->written[m->output_tensor])
        return reef_fail(err, "%s: no op writes the output tensor '%s'", model_name(g),
                         g->tensors[m->output_tensor].name);
    if (lt->last[r] < kept - 1) lt->last[r] = kept - 1;
    for (int t = 0; t < g->ntensors; t++)
        if (lt->first[t] != INT_MAX && lt->last[t] < lt->first[t]) lt->last[t] = lt->first[t];
    return 0;
}

/* The same for every kind: the operands are the io its args start with. */
static void set_step_offsets(reef_lowered_step *s, const uint32_t *at, uint32_t scratch_at)
{
    reef_step_io *io = step_io(s);
    io->input_at = s->input_tensors[0] >= 0 ? at[s->input_tensors[0]] : 0;
    io->input2_at = s->input_tensors[1] >= 0 ? at[s->input_tensors[1]] : 0;
    io->output_at = at[s->output_tensor];
    io->scratch_at = io->scratch_size ? scratch_at : 0;
    if (s->kind == REEF_STEP_ROWS) fuse_rows_fix(s);
    if (s->kind == REEF_STEP_PATCH) fuse_patch_fix(s);
}

/* One planner buffer per root tensor, then one per step with scratch. */
/* Every buffer after the previous one: the no-reuse layout. */
static void plan_no_reuse(reef_plan_buffer *bufs, int n, reef_plan_stats *st)
{
    size_t at = 0;
    for (int i = 0; i < n; i++) {
        bufs[i].offset = at;
        at = (at + bufs[i].size + REEF_PLAN_ALIGN - 1) & ~(size_t)(REEF_PLAN_ALIGN - 1);
    }
    *st = (reef_plan_stats){at, reef_plan_lower_bound(bufs, n), "no-reuse"};
}

static int plan_arena(const reef_graph *g, reef_lowered_model *m, const lifetimes *lt, int no_reuse,
                      reef_error *err)
{
    int n = 0, cap = g->ntensors + m->nsteps;
    reef_plan_buffer *bufs = calloc((size_t)(cap ? cap : 1), sizeof *bufs);
    int32_t *buf_of = malloc((size_t)(g->ntensors ? g->ntensors : 1) * sizeof *buf_of);
    m->tensor_at = malloc((size_t)(g->ntensors ? g->ntensors : 1) * sizeof *m->tensor_at);
    m->tensor_bytes = calloc((size_t)(g->ntensors ? g->ntensors : 1), sizeof *m->tensor_bytes);
    if (!bufs || !buf_of || !m->tensor_at || !m->tensor_bytes) {
        free(bufs), free(buf_of);
        return reef_fail(err, "%s: out of memory", model_name(g));
    }
    for (int t = 0; t < g->ntensors; t++) {
        buf_of[t] = -1;
        if (lt->root[t] != t || lt->first[t] == INT_MAX) continue;
        bufs[n] = (reef_plan_buffer){tensor_size(&g->tensors[t]), lt->first[t], lt->last[t], 0};
        buf_of[t] = n++;
    }
    int *group = malloc((size_t)(cap ? cap : 1) * sizeof *group);
    int64_t *rel = calloc((size_t)(cap ? cap : 1), sizeof *rel);
    size_t *disp = calloc((size_t)(cap ? cap : 1), sizeof *disp);
    if (!group || !rel || !disp) {
        free(bufs), free(buf_of), free(group), free(rel), free(disp);
        return reef_fail(err, "%s: out of memory", model_name(g));
    }
    for (int b = 0; b < cap; b++) group[b] = b;
    /* an in-place output shares its input's group (chains of them too),
     * displaced when a ROWS step puts it off its input's offset */
    int any_disp = 0;
    for (int k = 0; k < m->nsteps; k++) any_disp |= m->steps[k].kind == REEF_STEP_ROWS;
    for (int t = 0; t < g->ntensors; t++) {
        int32_t head = t;
        int64_t d = 0;
        while (lt->pin[head] >= 0) d += lt->disp[head], head = lt->pin[head];
        if (buf_of[t] >= 0 && head != t && buf_of[head] >= 0) group[buf_of[t]] = buf_of[head], rel[buf_of[t]] = d;
        any_disp |= d != 0;
    }
    /* displacements from the group's lowest member (a group is named by
     * a buffer index, so low[] is indexed by it) */
    int64_t *low = calloc((size_t)(cap ? cap : 1), sizeof *low);
    if (!low) {
        free(bufs), free(buf_of), free(group), free(rel), free(disp);
        return reef_fail(err, "%s: out of memory", model_name(g));
    }
    for (int b = 0; b < cap; b++)
        if (rel[b] < low[group[b]]) low[group[b]] = rel[b];
    for (int b = 0; b < cap; b++) disp[b] = (size_t)(rel[b] - low[group[b]]);
    free(low);
    int first_scratch = n;
    for (int k = 0; k < m->nsteps; k++) {
        uint32_t scratch = reef_lowered_step_io(&m->steps[k])->scratch_size;
        if (scratch) bufs[n++] = (reef_plan_buffer){scratch, k, k, 0};
    }
    reef_plan_stats st;
    int rc = 0;
    if (no_reuse)
        plan_no_reuse(bufs, n, &st);
    else
        rc = any_disp ? reef_plan_grouped_disp(bufs, n, group, disp, REEF_PLAN_ALIGN, &st, err)
                                       : reef_plan_grouped(bufs, n, group, REEF_PLAN_ALIGN, &st, err);
    if (rc == 0) {
        m->arena_size = st.arena_size, m->arena_lower_bound = st.lower_bound, m->plan_strategy = st.strategy;
        for (int t = 0; t < g->ntensors; t++) {
            int b = buf_of[find_root(lt, t)];
            m->tensor_at[t] = b >= 0 && lt->written[t] ? (uint32_t)bufs[b].offset : REEF_LOWER_NO_OFFSET;
            if (b >= 0 && lt->written[t]) m->tensor_bytes[t] = (uint32_t)tensor_size(&g->tensors[t]);
        }
        for (int k = 0, sb = first_scratch; k < m->nsteps; k++)
            set_step_offsets(&m->steps[k], m->tensor_at,
                             reef_lowered_step_io(&m->steps[k])->scratch_size ? (uint32_t)bufs[sb++].offset : 0);
    }
    free(bufs), free(buf_of), free(group), free(rel), free(disp);
    return rc;
}

static int plan_with(const reef_graph *g, reef_lowered_model *m, int no_reuse, const char *wanted, int dry,
                     reef_error *err)
{
    size_t n = (size_t)(g->ntensors ? g->ntensors : 1);
    lifetimes lt = {malloc(n * sizeof(int32_t)), malloc(n * sizeof(int)), malloc(n * sizeof(int)),
                    calloc(n, 1), calloc(n, sizeof(int)), malloc(n * sizeof(int32_t)), calloc(n, sizeof(int32_t))};
    int rc = -1;
    if (!lt.root || !lt.first || !lt.last || !lt.written || !lt.readers || !lt.pin || !lt.disp) {
        reef_fail(err, "%s: out of memory", model_name(g));
        goto done;
    }
    for (int t = 0; t < g->ntensors; t++) lt.root[t] = t, lt.first[t] = INT_MAX, lt.last[t] = -1, lt.pin[t] = -1;
    count_readers(m, &lt);
    if (trace_lifetimes(g, m, &lt, wanted, dry, err) || plan_arena(g, m, &lt, no_reuse, err)) goto done;
    rc = 0;
done:
    free(lt.root), free(lt.first), free(lt.last), free(lt.written), free(lt.readers), free(lt.pin), free(lt.disp);
    return rc;
}

/* The arena a choice of in-place steps would need, planned on a shallow
 * copy of the steps (m is untouched); SIZE_MAX when planning fails. */
static size_t arena_if(const reef_graph *g, const reef_lowered_model *m, const char *wanted)
{
    reef_lowered_model tmp = *m;
    reef_error err = {{0}};
    size_t size = SIZE_MAX;
    tmp.steps = malloc((size_t)(m->nsteps ? m->nsteps : 1) * sizeof *tmp.steps);
    tmp.tensor_at = NULL, tmp.tensor_bytes = NULL;
    if (tmp.steps) {
        memcpy(tmp.steps, m->steps, (size_t)m->nsteps * sizeof *tmp.steps);
        if (plan_with(g, &tmp, 0, wanted, 1, &err) == 0) size = tmp.arena_size;
    }
    free(tmp.steps), free(tmp.tensor_at), free(tmp.tensor_bytes);
    return size;
}

/* Which depthwise steps run in place. min: every one that can, except
 * those whose leaving out shrinks the arena. balanced: only those the arena
 * needs (all of them first; then each one left out again when the arena
 * does not grow without it, since the in-place kernel is the slower one).
 * fast: none. Neither ends above the layer-by-layer arena. */
static int choose_in_place(const reef_graph *g, const reef_lowered_model *m, reef_memory_mode mode, char *wanted)
{
    int any = 0;
    for (int k = 0; k < m->nsteps; k++)
        any |= wanted[k] = m->steps[k].kind == REEF_STEP_DW_CONV && !(m->plain && m->plain[m->steps[k].output_tensor]);
    if (mode == REEF_MEMORY_FAST || !any) {
        memset(wanted, 0, (size_t)m->nsteps);
        return 0;
    }
    /* From every step in place, each taken out again: by balanced when the
     * arena does not grow without it, by min only when it shrinks (a small
     * step's int16 plane in scratch can cost more than its input frees). */
    size_t best = arena_if(g, m, wanted);
    for (int k = 0; k < m->nsteps; k++) {
        if (!wanted[k]) continue;
        wanted[k] = 0;
        size_t without = arena_if(g, m, wanted);
        if (mode == REEF_MEMORY_MIN ? without >= best : without > best) wanted[k] = 1;
        else best = without;
    }
    /* never above the layer-by-layer plan (seen on random nets: 548 B in
     * place against 384 B without) */
    char *none = calloc((size_t)m->nsteps, 1);
    if (none && arena_if(g, m, none) < best) memset(wanted, 0, (size_t)m->nsteps);
    free(none);
    return 0;
}

/* ---- row-streamed chains (reef/rows.h) ---------------------------------- */

typedef struct fuse_plan {
    int n;
    fuse_rows_chain *chain; /* (n) */
    reef_lowered_step *rows; /* (n) the ROWS step of each */
    char *on;                /* (n) 1: taken */
} fuse_plan;

/* m's steps with the chains that are on replaced by their ROWS steps
 * (shallow copies); NULL when out of memory. */
static reef_lowered_step *fused_steps(const reef_lowered_model *m, const fuse_plan *fp, int *nsteps)
{
    reef_lowered_step *out = malloc((size_t)(m->nsteps ? m->nsteps : 1) * sizeof *out);
    if (!out) return NULL;
    int n = 0, c = 0;
    for (int k = 0; k < m->nsteps;) {
        while (c < fp->n && fp->chain[c].start < k) c++;
        if (c < fp->n && fp->chain[c].start == k && fp->on[c]) {
            out[n++] = fp->rows[c];
            k += fp->chain[c].nlayers + fp->chain[c].has_skip + fp->chain[c].has_add;
        } else {
            out[n++] = m->steps[k++];
        }
    }
    *nsteps = n;
    return out;
}

static size_t arena_if(const reef_graph *g, const reef_lowered_model *m, const char *wanted);
static int choose_in_place(const reef_graph *g, const reef_lowered_model *m, reef_memory_mode mode, char *wanted);

/* The arena with the chains that are on and the depthwise steps the mode
 * puts in place; SIZE_MAX on failure. */
static size_t arena_fused(const reef_graph *g, const reef_lowered_model *m, const fuse_plan *fp,
                          reef_memory_mode mode)
{
    reef_lowered_model tmp = *m;
    size_t size = SIZE_MAX;
    tmp.steps = fused_steps(m, fp, &tmp.nsteps);
    char *wanted = calloc((size_t)(m->nsteps ? m->nsteps : 1), 1);
    if (tmp.steps && wanted) {
        choose_in_place(g, &tmp, mode, wanted);
        size = arena_if(g, &tmp, wanted);
    }
    free(tmp.steps), free(wanted);
    return size;
}

/* Frees fp; the layer copies of the chains that are on too unless
 * keep_on (they then belong to the model's ROWS steps). */
static void fuse_plan_release(fuse_plan *fp, int keep_on)
{
    for (int i = 0; i < fp->n; i++)
        if (!keep_on || !fp->on[i]) free(fp->rows[i].sub); /* shallow: the layers stay m's */
    free(fp->chain), free(fp->rows), free(fp->on);
}

static void fuse_plan_free(fuse_plan *fp)
{
    fuse_plan_release(fp, 1);
}

/* 1 when a step of chain c must stay layer by layer (reef_lower_options.plain). */
static int chain_is_plain(const reef_lowered_model *m, const fuse_rows_chain *c)
{
    for (int j = 0; m->plain && j < c->nlayers + c->has_skip + c->has_add; j++)
        if (m->plain[m->steps[c->start + j].output_tensor]) return 1;
    return 0;
}

/* Chains of up to max_layers layers, formed greedily from the first step,
 * then each taken out again when the arena does not grow without it (a
 * ROWS step costs instructions: kernel calls per row, ring moves); *best:
 * the arena. Returns -1 when out of memory. */
static int plan_chains(const reef_graph *g, const reef_lowered_model *m, const int *readers, int max_layers,
                       reef_memory_mode mode, fuse_plan *fp_out, size_t *best_out)
{
    fuse_plan fp = {0, calloc((size_t)(m->nsteps ? m->nsteps : 1), sizeof(fuse_rows_chain)),
                    calloc((size_t)(m->nsteps ? m->nsteps : 1), sizeof(reef_lowered_step)),
                    calloc((size_t)(m->nsteps ? m->nsteps : 1), 1)};
    if (!fp.chain || !fp.rows || !fp.on) return fuse_plan_free(&fp), -1;
    for (int k = 0; k < m->nsteps;) {
        fuse_rows_chain c;
        if (!fuse_rows_chain_at(m, readers, k, max_layers, &c) ||
            !(c.nlayers > 1 || c.has_add || c.in_place) || chain_is_plain(m, &c) ||
            fuse_rows_make(m, &c, &fp.rows[fp.n])) {
            k++;
            continue;
        }
        fp.chain[fp.n] = c;
        fp.on[fp.n++] = 1;
        k += c.nlayers + c.has_skip + c.has_add;
    }
    size_t best = arena_fused(g, m, &fp, mode);
    for (int i = 0; i < fp.n; i++) {
        fp.on[i] = 0;
        size_t without = arena_fused(g, m, &fp, mode);
            if (without <= best) best = without;
        else fp.on[i] = 1;
    }
    /* never above the plan without any (each left out alone may grow it) */
    char *on = malloc((size_t)(fp.n ? fp.n : 1));
    if (on) {
        memcpy(on, fp.on, (size_t)fp.n);
        memset(fp.on, 0, (size_t)fp.n);
        size_t none = arena_fused(g, m, &fp, mode);
        if (none > best) memcpy(fp.on, on, (size_t)fp.n);
        else best = none;
        free(on);
    }
    *fp_out = fp, *best_out = best;
    return 0;
}

/* Replaces chains of conv / depthwise steps (and a residual ADD) with ROWS
 * steps where that lowers the arena: chains of at most 3, 2 or 1 layers
 * (plan_chains), the smallest arena kept (a tie keeps the longer chains:
 * fewer ROWS steps). */
static int fuse_rows(const reef_graph *g, reef_lowered_model *m, reef_memory_mode mode, reef_error *err)
{
    int *readers = calloc((size_t)(g->ntensors ? g->ntensors : 1), sizeof *readers);
    fuse_plan fp = {0, NULL, NULL, NULL};
    size_t best = SIZE_MAX;
    if (!readers) return reef_fail(err, "%s: out of memory", model_name(g));
    for (int k = 0; k < m->nsteps; k++)
        for (int j = 0; j < 2; j++)
            if (m->steps[k].input_tensors[j] >= 0) readers[m->steps[k].input_tensors[j]]++;
    for (int max_layers = REEF_ROWS_MAX_STAGES; max_layers >= 1; max_layers--) {
        fuse_plan cand;
        size_t arena;
        if (plan_chains(g, m, readers, max_layers, mode, &cand, &arena)) {
            free(readers), fuse_plan_release(&fp, 0);
            return reef_fail(err, "%s: out of memory", model_name(g));
        }
        if (arena < best) {
            if (fp.chain) fuse_plan_release(&fp, 0);
            fp = cand, best = arena;
        } else {
            fuse_plan_release(&cand, 0);
        }
    }
    free(readers);
    int nsteps = 0;
    reef_lowered_step *steps = fused_steps(m, &fp, &nsteps);
    if (!steps) {
        fuse_plan_release(&fp, 0);
        return reef_fail(err, "%s: out of memory", model_name(g));
    }
    free(m->steps);
    m->steps = steps, m->nsteps = nsteps;
    fuse_plan_free(&fp);
    return 0;
}

/* ---- patch-based stages (reef/patch.h) --------------------------------- */

static int *count_step_readers(const reef_graph *g, const reef_lowered_model *m)
{
    int *readers = calloc((size_t)(g->ntensors ? g->ntensors : 1), sizeof *readers);
    for (int k = 0; readers && k < m->nsteps; k++)
        for (int j = 0; j < 2; j++)
            if (m->steps[k].input_tensors[j] >= 0) readers[m->steps[k].input_tensors[j]]++;
    return readers;
}

/* The arena fuse_rows reaches on m (chains, then depthwise in place),
 * leaving m as it is; SIZE_MAX on failure. */
static size_t arena_rows(const reef_graph *g, const reef_lowered_model *m, reef_memory_mode mode)
{
    int *readers = count_step_readers(g, m);
    size_t best = SIZE_MAX;
    for (int max_layers = REEF_ROWS_MAX_STAGES; readers && max_layers >= 1; max_layers--) {
        fuse_plan cand;
        size_t arena;
        if (plan_chains(g, m, readers, max_layers, mode, &cand, &arena)) break;
        if (arena < best) best = arena;
        fuse_plan_release(&cand, 0);
    }
    free(readers);
    return best;
}

/* m's steps with steps k .. k + n - 1 replaced by the PATCH step p
 * (shallow copies); NULL when out of memory. */
static reef_lowered_step *patched_steps(const reef_lowered_model *m, int k, int n, const reef_lowered_step *p,
                                        int *nsteps)
{
    reef_lowered_step *out = malloc((size_t)m->nsteps * sizeof *out);
    if (!out) return NULL;
    memcpy(out, m->steps, (size_t)k * sizeof *out);
    out[k] = *p;
    memcpy(out + k + 1, m->steps + k + n, (size_t)(m->nsteps - k - n) * sizeof *out);
    *nsteps = m->nsteps - n + 1;
    return out;
}

static size_t arena_patched(const reef_graph *g, const reef_lowered_model *m, int k, int n,
                            const reef_lowered_step *p, reef_memory_mode mode)
{
    reef_lowered_model tmp = *m;
    tmp.steps = patched_steps(m, k, n, p, &tmp.nsteps);
    if (!tmp.steps) return SIZE_MAX;
    size_t arena = arena_rows(g, &tmp, mode);
    free(tmp.steps);
    return arena;
}

/* The grid of the PATCH step over steps k .. k + n - 1 whose scratch is
 * smallest (ties: fewer MACs recomputed), in *best (its sub owned); 0 when
 * no grid keeps every kernel loop, -1 when out of memory. */
static int best_grid(const reef_lowered_model *m, int k, int n, reef_lowered_step *best)
{
    int found = 0;
    for (int gh = 1; gh <= 8; gh++)
        for (int gw = 1; gw <= 8; gw++) {
            if (gh * gw == 1) continue;
            reef_lowered_step p;
            int rc = fuse_patch_make(m, k, n, gh, gw, &p);
            if (rc < 0) return found ? free(best->sub), -1 : -1;
            if (rc > 0) {
                free(p.sub);
                continue;
            }
            const uint32_t size = p.args.patch.io.scratch_size;
            if (!found || size < best->args.patch.io.scratch_size ||
                (size == best->args.patch.io.scratch_size && p.patch_extra_macs < best->patch_extra_macs)) {
                if (found) free(best->sub);
                *best = p, found = 1;
            } else {
                free(p.sub);
            }
        }
    return found;
}

/* 1 when a step of k .. k + n - 1 must stay layer by layer. */
static int stage_is_plain(const reef_lowered_model *m, int k, int n)
{
    for (int j = 0; m->plain && j < n; j++)
        if (m->plain[m->steps[k + j].output_tensor]) return 1;
    return 0;
}

/* Weighs a patch-based stage at every plain chain of conv / depthwise
 * steps (any start: the stage goes where the peak is), 2..8 layers, its
 * grid the one of least scratch; the stage of smallest arena (the rest
 * chained and in place as the mode does) is recorded in m->patch_*, and
 * replaces its steps when `patches` says so (REEF_PATCH_AUTO: min when it
 * lowers the arena, balanced when it lowers it by a larger fraction than
 * the model's MACs grow). */
static int choose_patch(const reef_graph *g, reef_lowered_model *m, reef_memory_mode mode, int patches,
                        reef_error *err)
{
    if (patches == REEF_PATCH_OFF) return 0;
    int *readers = count_step_readers(g, m);
    if (!readers) return reef_fail(err, "%s: out of memory", model_name(g));
    const size_t without = arena_rows(g, m, mode);
    reef_lowered_step best;
    int best_k = -1, best_n = 0;
    size_t best_arena = SIZE_MAX;
    m->arena_no_patch = without;
    for (int k = 0; k < m->nsteps; k++) {
        const int chain = fuse_patch_chain_at(m, readers, k, REEF_PATCH_MAX_STAGES);
        for (int n = 2; n <= chain; n++) {
            if (stage_is_plain(m, k, n)) break;
            reef_lowered_step p;
            const int rc = best_grid(m, k, n, &p);
            if (rc < 0) {
                free(readers);
                if (best_k >= 0) free(best.sub);
                return reef_fail(err, "%s: out of memory", model_name(g));
            }
            if (rc == 0) continue;
            /* the step's own input, output and scratch bound its arena */
            const size_t own = tensor_size(&g->tensors[p.input_tensors[0]]) +
                               tensor_size(&g->tensors[p.output_tensor]) + p.args.patch.io.scratch_size;
            size_t arena = SIZE_MAX;
            if (own < (best_arena < without ? best_arena : without) || patches == REEF_PATCH_FORCE)
                arena = arena_patched(g, m, k, n, &p, mode);
            if (arena != SIZE_MAX && (arena < best_arena || (arena == best_arena &&
                                                             p.patch_extra_macs < best.patch_extra_macs))) {
                if (best_k >= 0) free(best.sub);
                best = p, best_k = k, best_n = n, best_arena = arena;
            } else {
                free(p.sub);
            }
        }
    }
    free(readers);
    if (best_k < 0) return 0;
    m->patch_start = best_k, m->patch_layers = best_n;
    m->patch_grid_h = best.args.patch.grid_h, m->patch_grid_w = best.args.patch.grid_w;
    m->patch_arena = best_arena, m->patch_extra_macs = best.patch_extra_macs;
    /* balanced: when the arena falls by a larger fraction than the MACs grow */
    int64_t macs = 0;
    for (int k = 0; k < m->nsteps; k++) macs += m->steps[k].macs;
    const int pays = best_arena < without && macs > 0 &&
                     (double)(without - best_arena) / (double)without >= (double)best.patch_extra_macs / (double)macs;
    const int take = patches == REEF_PATCH_FORCE || (mode == REEF_MEMORY_MIN ? best_arena < without : pays);
    if (!take) return free(best.sub), 0;
    int nsteps;
    reef_lowered_step *steps = patched_steps(m, best_k, best_n, &best, &nsteps);
    if (!steps) return free(best.sub), reef_fail(err, "%s: out of memory", model_name(g));
    free(m->steps);
    m->steps = steps, m->nsteps = nsteps;
    m->patch_taken = 1;
    return 0;
}

/* The conv steps that may read their filter from scratch instead of flash
 * (reef_conv_s8_weights_buffer_size, REEF_CONV_PATH_WEIGHTS) get that
 * scratch, one at a time, each only when the arena does not grow with it:
 * the arena stays what it was in every mode (VWW's 24x24 and 12x12 1x1
 * convs lie below its peak; KWS's 1x1 convs are at theirs). */
static void grow_conv_scratch(const reef_graph *g, reef_lowered_model *m, const char *wanted)
{
    size_t base = SIZE_MAX;
    for (int k = 0; k < m->nsteps; k++) {
        reef_conv_step_args *a = &m->steps[k].args.conv;
        if (m->steps[k].kind != REEF_STEP_CONV) continue;
        const int32_t size = reef_conv_s8_weights_buffer_size(&a->params, &a->input_dims, &a->filter_dims,
                                                              &a->output_dims);
        const uint32_t old = a->io.scratch_size;
        if (size <= 0 || (uint32_t)size <= old) continue;
        if (base == SIZE_MAX && (base = arena_if(g, m, wanted)) == SIZE_MAX) return;
        a->io.scratch_size = (uint32_t)size;
        if (arena_if(g, m, wanted) > base) a->io.scratch_size = old;
    }
}

static int plan_model(const reef_graph *g, reef_lowered_model *m, const reef_lower_options *opt, reef_error *err)
{
    int no_reuse = opt && opt->no_reuse;
    const reef_memory_mode mode = opt ? opt->memory : REEF_MEMORY_FAST;
    char *wanted = calloc((size_t)(m->nsteps ? m->nsteps : 1), 1);
    if (!wanted) return reef_fail(err, "%s: out of memory", model_name(g));
    int any = 0;
    if (!no_reuse && mode != REEF_MEMORY_FAST) {
        m->arena_layer_by_layer = arena_if(g, m, wanted); /* none in place, nothing fused */
        if (choose_patch(g, m, mode, opt ? opt->patches : REEF_PATCH_AUTO, err) || fuse_rows(g, m, mode, err)) {
            free(wanted);
            return -1;
        }
        any = 1;
        choose_in_place(g, m, mode, wanted);
    }
    if (!no_reuse) grow_conv_scratch(g, m, wanted);
    int rc = plan_with(g, m, no_reuse, wanted, 0, err);
    free(wanted);
    m->plain = NULL;
    if (rc) return rc;
    for (int k = 0; k < m->nsteps; k++) {
        const reef_lowered_step *s = &m->steps[k];
        m->in_place_steps += s->kind == REEF_STEP_DW_CONV && s->args.dw_conv.io.input_at == s->args.dw_conv.io.output_at;
        m->rows_steps += s->kind == REEF_STEP_ROWS;
        m->rows_in_place += s->kind == REEF_STEP_ROWS && s->rows_in_place;
        m->rows_layers += s->kind == REEF_STEP_ROWS ? s->args.rows.nstages : 0;
    }
    if (!any) m->arena_layer_by_layer = m->arena_size;
    return 0;
}

/* ---- the model ---------------------------------------------------------- */

static int finish_model(const reef_graph *g, reef_lowered_model *m, reef_error *err)
{
    m->table = calloc((size_t)(m->nsteps ? m->nsteps : 1), sizeof *m->table);
    m->arena = malloc(m->arena_size ? m->arena_size : 4);
    if (!m->table || !m->arena) return reef_fail(err, "%s: out of memory", model_name(g));
    for (int k = 0; k < m->nsteps; k++) {
        reef_lowered_step *s = &m->steps[k];
        m->table[k] = (reef_step){reef_step_kind_fn(s->kind), &s->args};
        m->macs += s->macs;
        m->weights_bytes += s->filter_size + (size_t)s->nbias * (s->bias64 ? 8 : 4) + (size_t)s->nchannels * 5; /* int32 multiplier, int8 shift */
        for (int j = 0; j < s->nsub; j++)
            m->weights_bytes += s->sub[j].filter_size + (size_t)s->sub[j].nbias * (s->sub[j].bias64 ? 8 : 4) +
                                (size_t)s->sub[j].nchannels * 5;
    }
    m->input_at = m->tensor_at[m->input_tensor];
    m->output_at = m->tensor_at[m->output_tensor];
    return 0;
}

int reef_memory_mode_parse(const char *text)
{
    if (!text) return -1;
    if (!strcmp(text, "fast")) return REEF_MEMORY_FAST;
    if (!strcmp(text, "balanced")) return REEF_MEMORY_BALANCED;
    if (!strcmp(text, "min")) return REEF_MEMORY_MIN;
    return -1;
}

const char *reef_memory_mode_name(reef_memory_mode mode)
{
    return mode == REEF_MEMORY_MIN ? "min" : mode == REEF_MEMORY_BALANCED ? "balanced" : "fast";
}

int reef_lower(const reef_graph *g, reef_lowered_model *m, reef_error *err)
{
    return reef_lower_with(g, NULL, m, err);
}

int reef_lower_with(const reef_graph *g, const reef_lower_options *opt, reef_lowered_model *m,
                    reef_error *err)
{
    return reef_lower_plain(g, opt, NULL, m, err);
}

int reef_lower_plain(const reef_graph *g, const reef_lower_options *opt, const char *plain, reef_lowered_model *m,
                     reef_error *err)
{
    memset(m, 0, sizeof *m);
    m->ntensors = g->ntensors;
    m->plain = plain;
    if (describe_io(g, m, err) || lower_all_ops(g, m, err) || plan_model(g, m, opt, err) ||
        finish_model(g, m, err)) {
        reef_lowered_free(m);
        return -1;
    }
    return 0;
}

int reef_lower_patch_arena(const reef_graph *g, const reef_lower_options *opt, int32_t stage_output,
                           size_t patch_bytes, size_t *arena, reef_error *err)
{
    reef_lowered_model m;
    memset(&m, 0, sizeof m);
    m.ntensors = g->ntensors;
    int rc = describe_io(g, &m, err) || lower_all_ops(g, &m, err) ? -1 : 0;
    int last = -1;
    for (int k = 0; rc == 0 && k < m.nsteps && last < 0; k++) {
        if (m.steps[k].kind != REEF_STEP_CONV && m.steps[k].kind != REEF_STEP_DW_CONV)
            rc = reef_fail(err, "%s: step %d before the stage output is no convolution", model_name(g), k);
        if (m.steps[k].output_tensor == stage_output) last = k;
    }
    if (rc == 0 && last < 0) rc = reef_fail(err, "%s: no step writes tensor %d", model_name(g), stage_output);
    if (rc == 0) {
        /* the stage as one step that plans like it (input whole, stage
         * output whole, the patch buffers its scratch) and that neither
         * a chain nor the in-place choice takes */
        for (int k = 0; k <= last; k++) lower_step_free(&m.steps[k]);
        reef_lowered_step stage;
        memset(&stage, 0, sizeof stage);
        stage.kind = REEF_STEP_MEAN;
        stage.input_tensors[0] = m.input_tensor, stage.input_tensors[1] = -1;
        stage.output_tensor = stage_output;
        step_io(&stage)->scratch_size = (uint32_t)patch_bytes;
        m.steps[0] = stage;
        memmove(&m.steps[1], &m.steps[last + 1], (size_t)(m.nsteps - last - 1) * sizeof *m.steps);
        m.nsteps -= last;
        rc = plan_model(g, &m, opt, err);
    }
    *arena = rc == 0 ? m.arena_size : 0;
    reef_lowered_free(&m);
    return rc;
}

int reef_lowered_run_steps(const reef_lowered_model *m, uint8_t *arena, int first, int count)
{
    if (first < 0 || count < 0 || first + count > m->nsteps) return -1;
    return reef_run_steps(m->table, first, count, arena) == REEF_OK ? 0 : -1;
}

int reef_lowered_invoke_bytes(const reef_lowered_model *m, uint8_t *arena, const void *in, void *out)
{
    memcpy(arena + m->input_at, in, (size_t)m->input_bytes);
    if (reef_lowered_run_steps(m, arena, 0, m->nsteps)) return -1;
    memcpy(out, arena + m->output_at, (size_t)m->output_bytes);
    return 0;
}

int reef_lowered_invoke_arena(const reef_lowered_model *m, uint8_t *arena, const int8_t *in, int8_t *out)
{
    /* int8 buffers of input_size / output_size: a float model would overrun them */
    if (m->input_type != REEF_INT8 || m->output_type != REEF_INT8) return -1;
    return reef_lowered_invoke_bytes(m, arena, in, out);
}

int reef_lowered_invoke(reef_lowered_model *m, const int8_t *in, int8_t *out)
{
    return reef_lowered_invoke_arena(m, m->arena, in, out);
}

void reef_lowered_free(reef_lowered_model *m)
{
    for (int k = 0; m->steps && k < m->nsteps; k++) lower_step_free(&m->steps[k]);
    free(m->steps);
    free(m->table);
    free(m->tensor_at);
    free(m->tensor_bytes);
    free(m->arena);
    memset(m, 0, sizeof *m);
}
