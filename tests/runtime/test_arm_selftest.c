/* The fast kernels' DSP paths on the emulated Cortex-M4: builds
 * arm_selftest.h (random shapes, fast kernels vs the scalar references, on
 * the target) as qemu-m4 firmware and requires zero mismatching bytes.
 * Skips without arm-none-eabi-gcc or qemu-system-arm. */
#include "testing.h"

#include "firmware/firmware.h"

/* Builds a self-test header (tests/runtime/<header>) as qemu-m4 firmware
 * with the given runtime sources (NULL: all of runtime/src), runs it once
 * and returns its count of mismatching bytes. */
static int32_t run_selftest(const char *header_name, const char *const *runtime_files, int nfiles)
{
    char tmp[256], header[1024], elf[1024], paths[4][1024];
    const char *sources[4];
    testing_tmpdir(tmp, sizeof tmp, "arm-selftest");
    snprintf(header, sizeof header, "%s/tests/runtime/%s", reef_source_dir(), header_name);
    snprintf(elf, sizeof elf, "%s/selftest.elf", tmp);
    for (int i = 0; i < nfiles && i < 4; i++) {
        snprintf(paths[i], sizeof paths[i], "%s/runtime/src/%s", reef_source_dir(), runtime_files[i]);
        sources[i] = paths[i];
    }
    reef_fw_spec spec = {.board = "qemu-m4", .model_header = header, .output = elf};
    if (runtime_files) spec.model_sources = sources, spec.model_source_count = nfiles, spec.skip_runtime = 1;
    reef_error err = {{0}};
    if (reef_m4_build(&spec, &err)) fail_msg("%s", err.msg);
    int8_t in[4] = {0}, out[4] = {1, 1, 1, 1};
    reef_run_counts c;
    if (reef_m4_run(elf, in, 1, 4, out, 4, &c, 120, &err)) fail_msg("%s", err.msg);
    int32_t bad = (int32_t)((uint32_t)(uint8_t)out[0] | (uint32_t)(uint8_t)out[1] << 8 |
                            (uint32_t)(uint8_t)out[2] << 16 | (uint32_t)(uint8_t)out[3] << 24);
    printf("%s: %d mismatching bytes, %llu instructions\n", header_name, bad,
           (unsigned long long)c.per_inference[0].c[REEF_INSN_TOTAL]);
    reef_run_counts_free(&c);
    assert_int_equal(testing_rm_tree(tmp), 0);
    return bad;
}

static void test_fast_kernels_on_m4(void **state)
{
    (void)state;
    if (!testing_have_arm_tools()) skip();
    assert_int_equal(run_selftest("arm_selftest.h", NULL, 0), 0);
}

/* The K = 8 short-K loop without its four- and two-position passes
 * (REEF_CONV_SMALL8_TAIL 0, as a generated header says when every such
 * call has rows a multiple of 8 wide): counts with a remainder finish in
 * the C loop, bit for bit. Only conv.c and its reference are compiled. */
static void test_small8_without_tail_on_m4(void **state)
{
    (void)state;
    if (!testing_have_arm_tools()) skip();
    static const char *const files[] = {"conv.c", "conv_ref.c"};
    assert_int_equal(run_selftest("arm_selftest_small8.h", files, 2), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_fast_kernels_on_m4),
                                       cmocka_unit_test(test_small8_without_tail_on_m4)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
