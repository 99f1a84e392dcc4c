/* The planner's schedules replayed on a shadow of the arena (issue 14):
 * 1,000 random int8 nets (stem, 1-3 MBConv blocks of random kernel,
 * expansion, stride and skip, pooled head), each lowered in every memory
 * mode (fast, balanced, min: depthwise steps in place). The shadow records,
 * per arena byte, which tensor's value it holds; replaying the step table
 * in order, every byte a step reads must still hold the tensor it reads
 * (nothing overwrote it since its producer wrote it), no step's scratch may
 * cover a tensor it reads or writes, and the highest byte any buffer
 * touches must be the arena the model reports (reef gen prints it). The
 * outputs of every mode must also equal a plan with no reuse at all. */
#include "testing.h"

#include <stdlib.h>

#include "codegen/lower.h"
#include "data/dataset.h"
#include "nn/arch.h"
#include "nn/model.h"
#include "quant/quant.h"
#include "util/rng.h"

enum { SCRATCH = -2, NOTHING = -1 };

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

/* Replays m on a shadow arena, failing the test at the first violation. *top:
 * the highest byte (exclusive) any tensor or scratch of a step uses. */
static void shadow_replay(const reef_lowered_model *m, const char *what, size_t *top)
{
    int32_t *shadow = malloc((m->arena_size + 1) * sizeof *shadow);
    assert_non_null(shadow);
    for (size_t i = 0; i < m->arena_size; i++) shadow[i] = NOTHING;
    *top = 0;
    const uint32_t in_at = m->tensor_at[m->input_tensor], in_n = m->tensor_bytes[m->input_tensor];
    assert_true(in_at + in_n <= m->arena_size);
    for (uint32_t i = 0; i < in_n; i++) shadow[in_at + i] = m->input_tensor;
    for (int k = 0; k < m->nsteps; k++) {
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
        for (uint32_t i = 0; i < out_n; i++) shadow[out_at + i] = out;
    }
    const int32_t r = root_of(m, m->output_tensor, m->nsteps);
    for (uint32_t i = 0; i < m->tensor_bytes[m->output_tensor]; i++)
        if (shadow[m->tensor_at[m->output_tensor] + i] != r)
            fail_msg("%s: the output's byte %u was overwritten after it was written", what, i);
    free(shadow);
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

static void test_random_schedules(void **state)
{
    (void)state;
    reef_rng r;
    reef_rng_seed(&r, 1414);
    const int nets = testing_sanitizer_run() ? 60 : 1000;
    int in_place_steps = 0, smaller = 0, models_in_place = 0;
    for (int k = 0; k < nets; k++) {
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
        reef_lower_options no_reuse = {1, REEF_MEMORY_FAST};
        if (reef_lower_with(&g, &no_reuse, &plain, &err)) fail_msg("%s: %s", text, err.msg);
        int8_t in[20 * 20], want[2], got[2];
        for (int i = 0; i < side * side; i++) in[i] = (int8_t)(ds.pixels[i] - 128);
        assert_int_equal(reef_lowered_invoke(&plain, in, want), 0);
        size_t fast_arena = 0;
        for (int mode = REEF_MEMORY_FAST; mode <= REEF_MEMORY_MIN; mode++) {
            reef_lowered_model m;
            reef_lower_options lo = {0, (reef_memory_mode)mode};
            if (reef_lower_with(&g, &lo, &m, &err)) fail_msg("%s: %s", text, err.msg);
            snprintf(what, sizeof what, "net %d (%s), --memory %s", k, text, reef_memory_mode_name((reef_memory_mode)mode));
            size_t top;
            shadow_replay(&m, what, &top);
            if (top != m.arena_size) fail_msg("%s: buffers reach byte %zu, the arena reported is %zu", what, top, m.arena_size);
            assert_int_equal(reef_lowered_invoke(&m, in, got), 0);
            if (memcmp(got, want, sizeof got)) fail_msg("%s: outputs differ from the plan without reuse", what);
            if (mode == REEF_MEMORY_FAST) fast_arena = m.arena_size, assert_int_equal(m.in_place_steps, 0);
            if (mode == REEF_MEMORY_MIN) {
                in_place_steps += m.in_place_steps;
                models_in_place += m.in_place_steps > 0;
                smaller += m.arena_size < fast_arena;
            }
            if (m.arena_size > fast_arena) fail_msg("%s: arena %zu, above fast's %zu", what, m.arena_size, fast_arena);
            reef_lowered_free(&m);
        }
        reef_lowered_free(&plain);
        reef_graph_free(&g);
        reef_model_free(&model);
    }
    printf("  %d random nets x 3 memory modes: every read finds its tensor intact on the shadow arena, every "
           "arena is the highest byte used; under min %d nets run %d depthwise steps in place, %d with a "
           "smaller arena than fast\n",
           nets, models_in_place, in_place_steps, smaller);
    assert_true(models_in_place > nets / 4 && smaller > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_schedules),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
