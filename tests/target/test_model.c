/* A generated model on the emulated Cortex-M4: `reef gen` on the MLPerf
 * KWS and AD models, built with the real runtime and profiled per step.
 * Outputs must equal TFLite's reference bytes; the figures (executed
 * instructions per inference, next to TFLite Micro + CMSIS-NN measured
 * the same way, and modeled cycles) are printed. The same C built for the
 * host target must give the same bytes. Skips without
 * ../shared/models or the reef binary. */
#include "testing.h"

#include <sys/wait.h>

#include "target/cycles.h"
#include "target/firmware.h"
#include "target/memory.h"
#include "util/io.h"

typedef struct model_case {
    const char *name, *tflite;
    size_t input_size, output_size;
    double tflm_insns; /* TFLite Micro + CMSIS-NN Invoke(), tflm-cortex-m4/results.csv */
} model_case;

static const model_case cases[] = {
    {"kws", "kws_ref_model.tflite", 490, 12, 7.70e6},
    {"ad", "ad01_int8.tflite", 640, 640, 0.583e6},
};

static void read_exact(const char *path, int8_t *buf, size_t size)
{
    uint8_t *data;
    size_t got;
    reef_error err;
    if (reef_read_file(path, &data, &got, &err)) fail_msg("%s", err.msg);
    assert_int_equal(got, size);
    memcpy(buf, data, size);
    free(data);
}

static void run_case(const model_case *mc, const char *shared, const char *tmp)
{
    char cmd[2048], header[1024], source[1024], elf[1024], path[1024];
    snprintf(cmd, sizeof cmd, "'%s' gen '%s/models/models/%s' -o '%s' --name %s > /dev/null", getenv("REEF_BIN"),
             shared, mc->tflite, tmp, mc->name);
    assert_int_equal(system(cmd), 0);
    snprintf(header, sizeof header, "%s/%s.h", tmp, mc->name);
    snprintf(source, sizeof source, "%s/%s.c", tmp, mc->name);
    snprintf(elf, sizeof elf, "%s/%s.elf", tmp, mc->name);
    const char *sources[1] = {source};
    reef_fw_spec spec = {.board = "qemu-m4", .model_header = header, .model_sources = sources,
                         .model_source_count = 1, .profile_steps = 1, .output = elf};
    reef_error err = {{0}};
    if (reef_m4_build(&spec, &err)) fail_msg("%s", err.msg);

    enum { N = 5 };
    int8_t *in = malloc(N * mc->input_size), *out = malloc(N * mc->output_size), *want = malloc(N * mc->output_size);
    for (int k = 0; k < N; k++) {
        snprintf(path, sizeof path, "%s/models/vectors/%s/%s_lcg%d.in.bin", shared, mc->name, mc->name, k);
        read_exact(path, in + k * mc->input_size, mc->input_size);
        snprintf(path, sizeof path, "%s/models/vectors/%s/%s_lcg%d.out.bin", shared, mc->name, mc->name, k);
        read_exact(path, want + k * mc->output_size, mc->output_size);
    }
    reef_run_counts c;
    double t0 = reef_now();
    if (reef_m4_run(elf, in, N, mc->input_size, out, mc->output_size, &c, 60, &err)) fail_msg("%s", err.msg);
    double took = reef_now() - t0;
    assert_memory_equal(out, want, N * mc->output_size);

    reef_cycle_model model;
    reef_cycle_model_default(&model, 5);
    reef_cycle_estimate est;
    reef_cycle_estimate_counts(&model, c.per_inference[0].c, &est);
    reef_memory_report mem;
    if (reef_memory_report_elf(elf, c.stack_high_water, &mem, &err)) fail_msg("%s", err.msg);
    uint64_t steps_sum = 0;
    for (int s = 0; s < c.steps; s++) steps_sum += c.per_step[s].c[REEF_INSN_TOTAL];
    printf("%s: %d steps, %llu instructions/inference (TFLM+CMSIS-NN %.3g, ratio %.2f), steps sum %llu; "
           "modeled %.0f cycles (%.0f flash) = %.2f ms at 120 MHz; flash %u (weights %u), RAM %u (arena %u, stack %u); "
           "%llu instructions emulated in %.2f s\n",
           mc->name, c.steps, (unsigned long long)c.per_inference[0].c[REEF_INSN_TOTAL], mc->tflm_insns,
           (double)c.per_inference[0].c[REEF_INSN_TOTAL] / mc->tflm_insns, (unsigned long long)steps_sum,
           est.cycles, est.flash_cycles, est.cycles / 120e3, mem.flash_total, mem.flash_weights, mem.ram_total,
           mem.ram_activations, mem.ram_stack, (unsigned long long)c.whole_run.c[REEF_INSN_TOTAL], took);
    assert_true(c.steps > 0);
    assert_true(steps_sum <= c.per_inference[0].c[REEF_INSN_TOTAL]);
    /* every input runs the same kernels: counts vary little between inputs */
    for (int k = 1; k < N; k++) {
        double a = (double)c.per_inference[k].c[REEF_INSN_TOTAL], b = (double)c.per_inference[0].c[REEF_INSN_TOTAL];
        assert_true(a > 0.9 * b && a < 1.1 * b);
    }
    reef_run_counts_free(&c);

    /* the same generated C built natively gives the same bytes */
    char exe[1024];
    snprintf(exe, sizeof exe, "%s/%s-host", tmp, mc->name);
    reef_fw_spec host = spec;
    host.board = "host";
    host.profile_steps = 0;
    host.output = exe;
    if (reef_m4_build(&host, &err)) fail_msg("%s", err.msg);
    memset(out, 0, N * mc->output_size);
    if (reef_host_run(exe, in, N, mc->input_size, out, mc->output_size, NULL, 60, &err)) fail_msg("%s", err.msg);
    assert_memory_equal(out, want, N * mc->output_size);
    free(in);
    free(out);
    free(want);
}

static void test_generated_models(void **state)
{
    (void)state;
    char shared[1024];
    if (!testing_shared_path(shared, sizeof shared, "models")) skip();
    shared[strlen(shared) - strlen("/models")] = '\0';
    const char *bin = getenv("REEF_BIN");
    if (!bin || access(bin, X_OK)) {
        printf("[  SKIPPED ] the reef command is not built (REEF_BIN)\n");
        skip();
    }
    if (!testing_have_arm_tools()) skip();
    char tmp[256];
    testing_tmpdir(tmp, sizeof tmp, "target-model");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) run_case(&cases[i], shared, tmp);
    assert_int_equal(testing_rm_tree(tmp), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_generated_models)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
