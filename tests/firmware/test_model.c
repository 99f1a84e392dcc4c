/* Generated models on the emulated Cortex-M4: `reef gen` on every MLPerf
 * Tiny model of ../shared/models, built with the real runtime and profiled
 * per step, run on every reference vector of manifest.csv. Outputs must
 * equal TFLite's reference bytes; the figures (executed instructions per
 * inference, next to TFLite Micro + CMSIS-NN measured the same way, and
 * modeled cycles) are printed. The same C built for the host target must
 * give the same bytes. Skips without ../shared/models, the reef binary or
 * the ARM tools. */
#include "testing.h"

#include <stdlib.h>
#include <sys/wait.h>

#include "codegen/mlperf.h"
#include "firmware/cycles.h"
#include "firmware/elf.h"
#include "firmware/firmware.h"
#include "firmware/memory.h"
#include "util/io.h"

typedef struct model_case {
    const char *name;
    double tflm_insns; /* TFLite Micro + CMSIS-NN Invoke(), tflm-cortex-m4/results.csv (min, per-model resolver) */
} model_case;

static const model_case cases[] = {
    {"kws", 7.70e6},
    {"vww", 24.10e6},
    {"ic", 29.86e6},
    {"ad", 0.583e6},
};

/* The vectors of one model, read: n inputs and outputs, concatenated. */
typedef struct model_vectors {
    const char *tflite;
    int n;
    size_t input_size, output_size;
    int8_t *in, *want;
} model_vectors;

static void append_file(const char *path, int8_t **buf, size_t *size, int n)
{
    uint8_t *data;
    size_t got;
    reef_error err;
    if (reef_read_file(path, &data, &got, &err)) fail_msg("%s", err.msg);
    if (n == 0) *size = got;
    if (got != *size) fail_msg("%s: %zu bytes, the model's other vectors have %zu", path, got, *size);
    *buf = realloc(*buf, (size_t)(n + 1) * got);
    assert_non_null(*buf);
    memcpy(*buf + (size_t)n * got, data, got);
    free(data);
}

/* Every step of these models takes a fast path: the header says so and the
 * firmware links none of the scalar references. */
static void assert_no_reference_kernels(const char *header, const char *elf_path)
{
    static const char *const refs[] = {"reef_conv_s8_ref", "reef_dw_conv_s8_ref", "reef_fc_s8_ref"};
    uint8_t *text;
    size_t size;
    reef_error err = {{0}};
    if (reef_read_file(header, &text, &size, &err)) fail_msg("%s", err.msg);
    /* and reef gen checked every step's arguments (REEF_ARGS_CHECKED): the
     * firmware's outputs below still equal the vectors without the checks */
    static const char *const wants[] = {"#define REEF_NO_REFERENCE_KERNELS 1", "#define REEF_ARGS_CHECKED 1"};
    for (size_t w = 0; w < 2; w++) {
        const size_t n = strlen(wants[w]);
        int found = 0;
        for (size_t i = 0; i + n <= size && !found; i++) found = memcmp(text + i, wants[w], n) == 0;
        if (!found) fail_msg("%s lacks %s", header, wants[w]);
    }
    /* the conv loop's requantization forms its conv steps take
     * (reef_conv_rq_form): only those are linked (about 900 B each) */
    static const char forms_key[] = "#define REEF_CONV_RQ_FORMS 0x";
    unsigned forms = 0;
    int listed = 0;
    for (size_t i = 0; i + sizeof forms_key - 1 <= size && !listed; i++)
        if (memcmp(text + i, forms_key, sizeof forms_key - 1) == 0) {
            forms = (unsigned)strtoul((const char *)text + i + sizeof forms_key - 1, NULL, 16);
            listed = 1;
        }
    if (!listed) fail_msg("%s lacks REEF_CONV_RQ_FORMS", header);
    free(text);
    reef_elf elf;
    if (reef_elf_open(elf_path, &elf, &err)) fail_msg("%s", err.msg);
    for (size_t i = 0; i < sizeof refs / sizeof refs[0]; i++) {
        uint32_t at;
        reef_error miss = {{0}};
        if (reef_elf_symbol_value(&elf, refs[i], &at, &miss) == 0) fail_msg("%s is linked into %s", refs[i], elf_path);
    }
    static const char *const form_loops[] = {"conv_channels_quad_paired_asm", "conv_channels_quad_folded_asm",
                                             "conv_channels_quad_split_asm"};
    for (unsigned f = 0; f < 3; f++) {
        uint32_t at;
        reef_error miss = {{0}};
        const int linked = reef_elf_symbol_value(&elf, form_loops[f], &at, &miss) == 0;
        if (linked && !(forms & (1u << f))) fail_msg("%s is linked into %s, unused", form_loops[f], elf_path);
    }
    reef_elf_close(&elf);
}

/* Flash by origin: every part present (the C library may be empty), the
 * weights inside the model's constants, and the parts adding up to the
 * ELF's flash total. */
static void check_flash_origin(const char *elf, reef_memory_report *mem)
{
    reef_error err = {{0}};
    if (reef_memory_flash_origin(elf, mem, &err)) fail_msg("%s", err.msg);
    const reef_flash_origin *o = &mem->origin;
    printf("flash by origin: runtime code %u + tables %u, model constants %u (weights %u) + code %u, harness %u, "
           "C library %u, other %u of %u B\n", o->runtime_code, o->runtime_data, o->model_constants,
           mem->flash_weights, o->model_code, o->harness, o->libc, o->other, mem->flash_total);
    assert_true(o->known);
    assert_true(o->runtime_code > 1000 && o->harness > 100 && o->model_code > 0);
    /* the C library: at most newlib's memset (162 B, the kernels' padding
     * fills; none in ad's firmware); the startup code's copy loops call no
     * memcpy (targets/common/cortex_m4.c) */
    assert_true(o->libc <= 200);
    assert_true(o->model_constants >= mem->flash_weights);
    uint32_t sum = o->runtime_code + o->runtime_data + o->model_constants + o->model_code + o->harness + o->libc;
    assert_true(sum <= mem->flash_total);
    assert_int_equal(sum + o->other, mem->flash_total);
    assert_true(o->other < 1024); /* padding and the vector table, not whole functions */
}

/* Collects every vector of the manifest that belongs to model `name`. */
static void collect_vectors(const mlperf_vector *v, int nv, const char *name, model_vectors *mv)
{
    memset(mv, 0, sizeof *mv);
    for (int i = 0; i < nv; i++) {
        if (strcmp(v[i].model, name)) continue;
        mv->tflite = v[i].model_file;
        append_file(v[i].input_file, &mv->in, &mv->input_size, mv->n);
        append_file(v[i].output_file, &mv->want, &mv->output_size, mv->n);
        mv->n++;
    }
    if (!mv->n) fail_msg("manifest.csv has no vector of %s", name);
}

static void run_case(const model_case *mc, const model_vectors *mv, const char *tmp)
{
    char cmd[2048], header[1024], source[1024], elf[1024];
    snprintf(cmd, sizeof cmd, "'%s' gen --model '%s' -o '%s' --name %s > /dev/null", getenv("REEF_BIN"), mv->tflite, tmp,
             mc->name);
    assert_int_equal(system(cmd), 0);
    snprintf(header, sizeof header, "%s/%s.h", tmp, mc->name);
    snprintf(source, sizeof source, "%s/%s.c", tmp, mc->name);
    snprintf(elf, sizeof elf, "%s/%s.elf", tmp, mc->name);
    const char *sources[1] = {source};
    reef_fw_spec spec = {.board = "qemu-m4", .model_header = header, .model_sources = sources,
                         .model_source_count = 1, .profile_steps = 1, .output = elf};
    reef_error err = {{0}};
    if (reef_m4_build(&spec, &err)) fail_msg("%s", err.msg);
    assert_no_reference_kernels(header, elf);

    const int N = mv->n;
    const int8_t *in = mv->in, *want = mv->want;
    int8_t *out = malloc((size_t)N * mv->output_size);
    reef_run_counts c;
    double t0 = reef_now();
    if (reef_m4_run(elf, in, N, mv->input_size, out, mv->output_size, &c, 120, &err)) fail_msg("%s", err.msg);
    double took = reef_now() - t0;
    assert_int_equal(mlperf_compare(mc->name, out, want, (size_t)N * mv->output_size), 0);

    reef_cycle_model model;
    reef_cycle_model_default(&model, 5);
    reef_cycle_estimate est;
    reef_cycle_estimate_counts(&model, c.per_inference[0].c, &est);
    reef_memory_report mem;
    if (reef_memory_report_elf(elf, c.stack_high_water, &mem, &err)) fail_msg("%s", err.msg);
    check_flash_origin(elf, &mem);
    uint64_t steps_sum = 0;
    for (int s = 0; s < c.steps; s++) steps_sum += c.per_step[s].c[REEF_INSN_TOTAL];
    printf("%s: %d vectors byte-exact; %d steps, %llu instructions/inference (TFLM+CMSIS-NN %.3g, ratio %.2f), steps sum %llu; "
           "modeled %.0f cycles (%.0f flash) = %.2f ms at 120 MHz; flash %u (weights %u), RAM %u (arena %u, stack %u); "
           "%llu instructions emulated in %.2f s\n",
           mc->name, N, c.steps, (unsigned long long)c.per_inference[0].c[REEF_INSN_TOTAL], mc->tflm_insns,
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
    memset(out, 0, (size_t)N * mv->output_size);
    if (reef_host_run(exe, in, N, mv->input_size, out, mv->output_size, NULL, 60, &err)) fail_msg("%s", err.msg);
    assert_int_equal(mlperf_compare(mc->name, out, want, (size_t)N * mv->output_size), 0);
    free(out);
}

static void test_generated_models(void **state)
{
    (void)state;
    static mlperf_vector v[MLPERF_MAX_VECTORS];
    int nv = mlperf_vectors(v, MLPERF_MAX_VECTORS);
    if (!nv) skip();
    if (!testing_reef_bin() || !testing_have_arm_tools()) skip();
    char tmp[256];
    testing_tmpdir(tmp, sizeof tmp, "target-model");
    int total = 0;
    const int sanitized = testing_sanitizer_run();
    int left_out = 0; /* vectors of the models left out */
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        /* Under the sanitizers only reef gen runs instrumented (the ARM
         * compiler and the emulator do not): vww and ic, the longest
         * emulations, are left to the plain run. */
        if (sanitized && cases[i].tflm_insns > 20e6) {
            for (int k = 0; k < nv; k++) left_out += !strcmp(v[k].model, cases[i].name);
            continue;
        }
        model_vectors mv;
        collect_vectors(v, nv, cases[i].name, &mv);
        run_case(&cases[i], &mv, tmp);
        total += mv.n;
        free(mv.in);
        free(mv.want);
    }
    /* every vector of the manifest belongs to one of the four models (run,
     * or left out under the sanitizers) */
    assert_int_equal(total + left_out, nv);
    assert_int_equal(testing_rm_tree(tmp), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_generated_models)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
