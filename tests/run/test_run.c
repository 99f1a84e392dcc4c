/* The run pipeline (src/firmware/pipeline.h) on a tiny synthetic model:
 *  - int8 on qemu-m4 and on the host build: outputs identical to each other
 *    and to the host interpreter; instruction counts identical on two runs;
 *    figures filled (instructions, modeled cycles/time/energy, flash, RAM);
 *  - the float build: the float32 graph (batch norm folded) agrees with the
 *    training engine's forward pass (tolerance, maxdiff printed), and the
 *    emulated float build equals the host float interpreter bit for bit;
 *  - bad input: a dataset that does not fit the model, an emulator that is
 *    missing, a run past its time limit. */
#include "fixture_run.h"

#include <math.h>

#include "codegen/lower.h"
#include "codegen/lower_float.h"
#include "energy/profile.h"
#include "firmware/float_graph.h"
#include "firmware/pipeline.h"

enum { N = 6 };

typedef struct run_fixture {
    reef_dataset ds;
    reef_model model;
    reef_graph g;
    reef_lowered_model m;
    reef_device_profile profile;
    int8_t *inputs; /* (N, input_size) */
    char dir[256];
} run_fixture;

static int setup(void **state)
{
    run_fixture *f = calloc(1, sizeof *f);
    reef_error err;
    assert_non_null(f);
    fixture_run_dataset(&f->ds, 32, 11);
    fixture_run_model(&f->model);
    fixture_run_quantize(&f->model, &f->ds, &f->g);
    if (reef_lower(&f->g, &f->m, &err)) fail_msg("%s", err.msg);
    if (reef_profile_load("stm32l4r5", &f->profile, &err)) fail_msg("%s", err.msg);
    if (reef_pipeline_int8_inputs(&f->g, &f->m, &f->ds, "fixture", &f->inputs, &err)) fail_msg("%s", err.msg);
    testing_tmpdir(f->dir, sizeof f->dir, "run");
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    run_fixture *f = *state;
    free(f->inputs);
    reef_lowered_free(&f->m);
    reef_graph_free(&f->g);
    reef_model_free(&f->model);
    reef_dataset_free(&f->ds);
    const int rc = testing_rm_tree(f->dir);
    free(f);
    return rc;
}

static reef_pipeline_opts opts_for(run_fixture *f, const char *target, const char *sub, char *dir, size_t size)
{
    snprintf(dir, size, "%s/%s", f->dir, sub);
    reef_pipeline_opts o = {.target = target, .work_dir = dir, .name = "tiny", .source = "fixture",
                            .profile = &f->profile, .timeout_s = 60};
    return o;
}

static void assert_interpreter_outputs(run_fixture *f, const int8_t *out)
{
    int8_t want[16];
    assert_true(f->m.output_size <= 16);
    for (int i = 0; i < N; i++) {
        assert_int_equal(reef_lowered_invoke(&f->m, f->inputs + i * f->m.input_size, want), 0);
        assert_memory_equal(out + i * f->m.output_size, want, (size_t)f->m.output_size);
    }
}

static void test_int8_qemu_matches_host(void **state)
{
    run_fixture *f = *state;
    char dir[400];
    reef_error err = {{0}};
    int8_t out_q[N * 16], out_q2[N * 16], out_h[N * 16];
    reef_firmware_figures fig, figh;
    reef_run_counts c1, c2;
    reef_pipeline_opts o = opts_for(f, "qemu-m4", "q", dir, sizeof dir);
    if (reef_pipeline_run_int8(&f->m, f->inputs, N, out_q, &o, &fig, &c1, &err)) fail_msg("%s", err.msg);
    /* the same firmware again */
    char elf[500];
    snprintf(elf, sizeof elf, "%s/tiny.elf", dir);
    if (reef_m4_run(elf, f->inputs, N, (size_t)f->m.input_size, out_q2, (size_t)f->m.output_size, &c2, 60, &err))
        fail_msg("%s", err.msg);
    reef_pipeline_opts oh = opts_for(f, "host", "h", dir, sizeof dir);
    if (reef_pipeline_run_int8(&f->m, f->inputs, N, out_h, &oh, &figh, NULL, &err)) fail_msg("%s", err.msg);

    assert_interpreter_outputs(f, out_q);
    assert_memory_equal(out_q, out_h, (size_t)N * f->m.output_size);
    assert_memory_equal(out_q, out_q2, (size_t)N * f->m.output_size);
    assert_int_equal(c1.inferences, N);
    for (int i = 0; i < N; i++)
        for (int k = 0; k < REEF_INSN_CLASS_COUNT; k++)
            assert_int_equal(c1.per_inference[i].c[k], c2.per_inference[i].c[k]);

    printf("tiny int8 on qemu-m4: %.0f instructions (%llu-%llu), %.0f cycles, %.4f ms, %.6f mJ modeled, "
           "flash %u B, RAM %u B (arena %u, stack %u), %lld MACs\n",
           fig.insn_mean, (unsigned long long)fig.insn_min, (unsigned long long)fig.insn_max, fig.cycles, fig.time_ms,
           fig.energy_mj, fig.mem.flash_total, fig.mem.ram_total, fig.mem.ram_activations, fig.mem.ram_stack,
           (long long)f->m.macs);
    assert_true(fig.emulated && !figh.emulated);
    /* every MAC is at least one instruction; a handful of inferences of a
     * model this small stay far below 10 M */
    assert_true(fig.insn_mean > (double)f->m.macs && fig.insn_mean < 10e6);
    assert_true(fig.cycles >= fig.insn_mean);
    assert_true(fabs(fig.time_ms - fig.cycles / (f->profile.clock_mhz * 1e3)) < 1e-9 * fig.time_ms + 1e-12);
    assert_true(fabs(fig.energy_mj - fig.time_ms * fig.power_mw * 1e-3) < 1e-9);
    assert_true(fig.mem.flash_weights >= f->m.weights_bytes && fig.mem.flash_total > fig.mem.flash_weights);
    assert_true(fig.mem.ram_activations >= f->m.arena_size && fig.mem.ram_stack > 0);
    /* the harness reads each input into the arena and writes the output
     * from it (REEF_MODEL_INPUT_BUFFER): no copy of either in RAM, only
     * the harness's few words of state */
    printf("RAM beside the arena and stack: .data %u B, other .bss %u B (input %d B)\n", fig.mem.ram_data,
           fig.mem.ram_bss_other, (int)f->m.input_size);
    assert_true(fig.mem.ram_data + fig.mem.ram_bss_other < 16);
    reef_run_counts_free(&c1);
    reef_run_counts_free(&c2);
}

/* The float graph against the training engine's own forward pass. */
static void test_float_graph_matches_model(void **state)
{
    run_fixture *f = *state;
    reef_error err;
    reef_graph g;
    reef_float_model fm;
    if (reef_float_graph_from_model(&f->model, &g, &err)) fail_msg("%s", err.msg);
    if (reef_lower_float(&g, &fm, &err)) fail_msg("%s", err.msg);
    reef_graph_free(&g);
    if (reef_model_set_batch(&f->model, 1, 1, &err)) fail_msg("%s", err.msg);
    const size_t count = FIX_H * FIX_W;
    float in[FIX_H * FIX_W], logits[2];
    double maxdiff = 0;
    for (uint32_t i = 0; i < f->ds.count; i++) {
        reef_float_input(&f->model.norm, reef_dataset_sample(&f->ds, i), count, in);
        reef_model_normalize(&f->model, reef_dataset_sample(&f->ds, i), 1);
        assert_memory_equal(in, f->model.input, sizeof in);
        reef_model_forward(&f->model, 1, REEF_MODE_INFER, 0);
        assert_int_equal(reef_float_invoke(&fm, in, logits), 0);
        for (int k = 0; k < 2; k++) maxdiff = fmax(maxdiff, fabs((double)logits[k] - f->model.logits[k]));
    }
    printf("float graph (BN folded) vs the training engine's forward: maxdiff %.3g over %u samples\n", maxdiff,
           f->ds.count);
    assert_true(maxdiff < 1e-4);
    assert_int_equal(fm.output_count, 2);
    reef_float_model_free(&fm);
}

static void test_float_build_on_qemu(void **state)
{
    run_fixture *f = *state;
    reef_error err = {{0}};
    reef_graph g;
    reef_float_model fm;
    if (reef_float_graph_from_model(&f->model, &g, &err)) fail_msg("%s", err.msg);
    if (reef_lower_float(&g, &fm, &err)) fail_msg("%s", err.msg);
    reef_graph_free(&g);
    const size_t count = FIX_H * FIX_W;
    float in[N * FIX_H * FIX_W], out[N * 2], want[2];
    for (int i = 0; i < N; i++)
        reef_float_input(&f->model.norm, reef_dataset_sample(&f->ds, (uint32_t)i), count, in + i * count);
    char dir[400];
    reef_pipeline_opts o = opts_for(f, "qemu-m4", "f", dir, sizeof dir);
    o.name = "tiny_f32";
    reef_firmware_figures fig;
    if (reef_pipeline_run_float(&fm, in, N, out, &o, &fig, &err)) fail_msg("%s", err.msg);
    /* ISO C (-std=c99/c11) compiles without FMA contraction on both ends:
     * the same IEEE single operations in the same order. */
    for (int i = 0; i < N; i++) {
        assert_int_equal(reef_float_invoke(&fm, in + i * count, want), 0);
        assert_memory_equal(out + i * 2, want, sizeof want);
    }
    printf("tiny float32 on qemu-m4: %.0f instructions, flash %u B, RAM %u B\n", fig.insn_mean, fig.mem.flash_total,
           fig.mem.ram_total);
    assert_true(fig.emulated && fig.insn_mean > (double)fm.macs);
    assert_true(fig.mem.flash_weights >= fm.weights_bytes);
    reef_float_model_free(&fm);
}

static void test_dataset_must_fit(void **state)
{
    run_fixture *f = *state;
    reef_dataset other = f->ds;
    reef_error err = {{0}};
    int8_t *in = (int8_t *)1;
    other.height = 4, other.width = 16; /* same pixel count, other shape */
    assert_int_equal(reef_pipeline_int8_inputs(&f->g, &f->m, &other, "other.ds", &in, &err), -1);
    assert_null(in);
    printf("refused: %s\n", err.msg);
    assert_non_null(strstr(err.msg, "other.ds: images are 4x16x1"));
    assert_non_null(strstr(err.msg, "1x8x8x1"));
    other = f->ds, other.num_classes = 3;
    assert_int_equal(reef_pipeline_int8_inputs(&f->g, &f->m, &other, "other.ds", &in, &err), -1);
    assert_non_null(strstr(err.msg, "3 classes"));
}

/* An emulator that runs past the limit, and one that is not installed (on
 * the firmware the first test built). */
static void test_emulator_missing_or_slow(void **state)
{
    run_fixture *f = *state;
    char elf[500];
    reef_error err = {{0}};
    int8_t out[N * 16];
    reef_run_counts c;
    snprintf(elf, sizeof elf, "%s/q/tiny.elf", f->dir);
    if (access(elf, R_OK)) skip();
    /* QEMU cannot even start in 50 ms of wall time on this machine; if it
     * ever did, the outputs must be right */
    int rc = reef_m4_run(elf, f->inputs, N, (size_t)f->m.input_size, out, (size_t)f->m.output_size, &c, 0.05, &err);
    printf("time limit: %s\n", err.msg);
    if (rc == 0) {
        assert_interpreter_outputs(f, out);
        reef_run_counts_free(&c);
    } else {
        assert_non_null(strstr(err.msg, "did not finish within"));
        assert_null(c.per_inference); /* no figure after a failure */
    }
    const char *path = getenv("PATH");
    char *saved = strdup(path ? path : "");
    setenv("PATH", f->dir, 1); /* a folder without qemu-system-arm */
    rc = reef_m4_run(elf, f->inputs, N, (size_t)f->m.input_size, out, (size_t)f->m.output_size, NULL, 60, &err);
    setenv("PATH", saved, 1);
    free(saved);
    printf("no emulator: %s\n", err.msg);
    assert_int_equal(rc, -1);
    assert_non_null(strstr(err.msg, "qemu-system-arm"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_int8_qemu_matches_host),
        cmocka_unit_test(test_float_graph_matches_model),
        cmocka_unit_test(test_float_build_on_qemu),
        cmocka_unit_test(test_dataset_must_fit),
        cmocka_unit_test(test_emulator_missing_or_slow),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
