/* Fixture firmware built with arm-none-eabi-gcc and run on qemu-system-arm
 * (mps2-an386) with the instruction-count plugin, and natively (host):
 * outputs, determinism, regions, a hand-counted loop, the memory report,
 * refusal of a model too big for flash, faults and hangs, and the board
 * build for the NUCLEO-L4R5ZI. */
#include "testing.h"

#include <sys/wait.h>

#include "firmware/firmware.h"
#include "firmware/memory.h"
#include "util/io.h"

#define N_INPUTS 3
#define INPUT_SIZE 64
#define OUTPUT_SIZE 4

static char tmp[256];

static const char *fixture(const char *name)
{
    static char paths[8][4096];
    static int next;
    char *p = paths[next++ % 8];
    snprintf(p, sizeof paths[0], "%s/tests/firmware/fixtures/%s", reef_source_dir(), name);
    return p;
}

/* Builds fixture `source` for board into tmp/<out>; returns the path. */
static const char *build(const char *board, const char *source, const char *out, int steps, reef_error *err, int *rc)
{
    static char path[8][512];
    static int next;
    char *p = path[next++ % 8];
    snprintf(p, sizeof path[0], "%s/%s", tmp, out);
    const char *sources[1] = {fixture(source)};
    reef_fw_spec spec = {.board = board, .model_header = fixture("fixture.h"), .model_sources = sources,
                         .model_source_count = 1, .profile_steps = steps, .skip_runtime = 1, .output = p};
    *rc = reef_m4_build(&spec, err);
    return p;
}

static const char *build_ok(const char *board, const char *source, const char *out, int steps)
{
    reef_error err = {{0}};
    int rc;
    const char *p = build(board, source, out, steps, &err, &rc);
    if (rc) fail_msg("%s", err.msg);
    return p;
}

static void make_inputs(int8_t *in, int n)
{
    uint32_t x = 12345;
    for (int i = 0; i < n * INPUT_SIZE; i++) {
        x = x * 1664525u + 1013904223u;
        in[i] = (int8_t)(x >> 24);
    }
}

/* The dot fixture's arithmetic, independently. */
static void dot_reference(const int8_t *in, int8_t *out)
{
    for (int o = 0; o < OUTPUT_SIZE; o++) {
        int32_t acc = 0;
        for (int i = 0; i < INPUT_SIZE; i++) acc += in[i] * ((i * (o + 1)) % 7 - 3);
        acc >>= 6;
        out[o] = (int8_t)(acc > 127 ? 127 : acc < -128 ? -128 : acc);
    }
}

static int setup(void **state)
{
    (void)state;
    if (!testing_have_arm_tools()) exit(77);
    testing_tmpdir(tmp, sizeof tmp, "target");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return testing_rm_tree(tmp);
}

static void test_outputs_and_counts_repeat(void **state)
{
    (void)state;
    const char *elf = build_ok("qemu-m4", "dot.c", "dot.elf", 1);
    int8_t in[N_INPUTS * INPUT_SIZE], out[N_INPUTS * OUTPUT_SIZE], out2[N_INPUTS * OUTPUT_SIZE], want[OUTPUT_SIZE];
    make_inputs(in, N_INPUTS);
    reef_run_counts a, b;
    reef_error err = {{0}};
    if (reef_m4_run(elf, in, N_INPUTS, INPUT_SIZE, out, OUTPUT_SIZE, &a, 10, &err)) fail_msg("%s", err.msg);
    if (reef_m4_run(elf, in, N_INPUTS, INPUT_SIZE, out2, OUTPUT_SIZE, &b, 10, &err)) fail_msg("%s", err.msg);
    for (int i = 0; i < N_INPUTS; i++) {
        dot_reference(in + i * INPUT_SIZE, want);
        assert_memory_equal(out + i * OUTPUT_SIZE, want, OUTPUT_SIZE);
    }
    assert_memory_equal(out, out2, sizeof out);
    assert_int_equal(a.inferences, N_INPUTS);
    assert_int_equal(a.steps, 4);
    /* identical counts run to run, in every class and region */
    assert_memory_equal(&a.whole_run, &b.whole_run, sizeof a.whole_run);
    assert_memory_equal(a.per_inference, b.per_inference, N_INPUTS * sizeof *a.per_inference);
    assert_memory_equal(a.per_step, b.per_step, (size_t)N_INPUTS * 4 * sizeof *a.per_step);
    for (int i = 0; i < N_INPUTS; i++) {
        uint64_t inference = a.per_inference[i].c[REEF_INSN_TOTAL], steps = 0;
        for (int s = 0; s < 4; s++) {
            const reef_insn_counts *st = &a.per_step[i * 4 + s];
            steps += st->c[REEF_INSN_TOTAL];
            /* every step is the same 64-long dot product */
            assert_int_equal(st->c[REEF_INSN_TOTAL], a.per_step[0].c[REEF_INSN_TOTAL]);
            assert_int_equal(st->c[REEF_INSN_MAC_DSP] + st->c[REEF_INSN_MUL], 64);
            /* 64 weight bytes from flash, each read once, at least 2 lines */
            assert_true(st->c[REEF_INSN_FLASH_READS] >= 64 && st->c[REEF_INSN_FLASH_READS] <= 66);
            assert_true(st->c[REEF_INSN_FLASH_MISSES] >= 2 && st->c[REEF_INSN_FLASH_MISSES] <= 4);
            if (i == 0) printf("step %d: %llu flash reads, %llu misses\n", s, (unsigned long long)st->c[REEF_INSN_FLASH_READS],
                               (unsigned long long)st->c[REEF_INSN_FLASH_MISSES]);
        }
        /* the steps cover the inference but for the input copy and the
         * calls around them, a few hundred instructions */
        assert_true(steps < inference && inference - steps < 400);
        printf("inference %d: %llu instructions, steps %llu\n", i, (unsigned long long)inference, (unsigned long long)steps);
    }
    assert_true(a.stack_high_water > 0 && a.stack_high_water < 4096);
    reef_run_counts_free(&a);
    reef_run_counts_free(&b);
}

static void test_hand_counted_loop(void **state)
{
    (void)state;
    const char *elf = build_ok("qemu-m4", "loop.c", "loop.elf", 1);
    int8_t in[INPUT_SIZE] = {1, 2, 3, 4}, out[OUTPUT_SIZE];
    reef_run_counts c;
    reef_error err = {{0}};
    if (reef_m4_run(elf, in, 1, INPUT_SIZE, out, OUTPUT_SIZE, &c, 10, &err)) fail_msg("%s", err.msg);
    assert_memory_equal(out, in, OUTPUT_SIZE);
    assert_int_equal(c.steps, 1);
    const uint64_t *s = c.per_step[0].c;
    assert_int_equal(s[REEF_INSN_TOTAL], 2003);
    assert_int_equal(s[REEF_INSN_ALU], 1001);
    assert_int_equal(s[REEF_INSN_BRANCH_COND], 1000);
    assert_int_equal(s[REEF_INSN_BRANCH_TAKEN], 999);
    assert_int_equal(s[REEF_INSN_BRANCH], 2);
    assert_int_equal(s[REEF_INSN_FLASH_READS], 0); /* no loads in the loop */
    reef_run_counts_free(&c);
}

static void test_host_target_matches(void **state)
{
    (void)state;
    const char *elf = build_ok("qemu-m4", "dot.c", "dot-noprof.elf", 0);
    const char *exe = build_ok("host", "dot.c", "dot-host", 0);
    int8_t in[N_INPUTS * INPUT_SIZE], m4[N_INPUTS * OUTPUT_SIZE], host[N_INPUTS * OUTPUT_SIZE];
    make_inputs(in, N_INPUTS);
    reef_run_counts c;
    reef_error err = {{0}};
    if (reef_m4_run(elf, in, N_INPUTS, INPUT_SIZE, m4, OUTPUT_SIZE, &c, 10, &err)) fail_msg("%s", err.msg);
    assert_int_equal(c.steps, 0);
    reef_run_counts_free(&c);
    if (reef_host_run(exe, in, N_INPUTS, INPUT_SIZE, host, OUTPUT_SIZE, NULL, 10, &err)) fail_msg("%s", err.msg);
    assert_memory_equal(m4, host, sizeof m4);
}

/* Sums the allocated sections arm-none-eabi-size -A lists by name. */
static unsigned long size_tool_sum(const char *elf, const char *const *names)
{
    char cmd[1024], line[256];
    snprintf(cmd, sizeof cmd, "arm-none-eabi-size -A %s", elf);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    unsigned long sum = 0;
    while (fgets(line, sizeof line, p)) {
        char name[64];
        unsigned long size, addr;
        if (sscanf(line, "%63s %lu %lu", name, &size, &addr) != 3) continue;
        for (const char *const *n = names; *n; n++)
            if (!strcmp(name, *n)) sum += size;
    }
    pclose(p);
    return sum;
}

static void test_memory_report(void **state)
{
    (void)state;
    const char *elf = build_ok("qemu-m4", "dot.c", "dot-mem.elf", 0);
    reef_memory_report r;
    reef_error err = {{0}};
    if (reef_memory_report_elf(elf, 300, &r, &err)) fail_msg("%s", err.msg);
    static const char *const flash[] = {".isr_vector", ".text", ".reef_weights", ".rodata", ".ARM.exidx", ".data", NULL};
    static const char *const ram[] = {".data", ".bss", NULL};
    static const char *const code[] = {".isr_vector", ".text", NULL};
    assert_int_equal(r.flash_total, size_tool_sum(elf, flash));
    assert_int_equal(r.flash_code, size_tool_sum(elf, code));
    assert_int_equal(r.ram_total, size_tool_sum(elf, ram) + 300);
    assert_int_equal(r.flash_weights, 4 * 64);  /* dot_weights */
    assert_int_equal(r.ram_activations, 64);    /* dot_arena */
    assert_int_equal(r.ram_stack, 300);
    printf("flash %u (code %u, weights %u, rodata %u, data %u), RAM %u (arena %u, data %u, bss %u, stack %u)\n",
           r.flash_total, r.flash_code, r.flash_weights, r.flash_rodata, r.flash_data_init, r.ram_total,
           r.ram_activations, r.ram_data, r.ram_bss_other, r.ram_stack);
}

static void test_too_big_is_refused(void **state)
{
    (void)state;
    reef_error err = {{0}};
    int rc;
    const char *elf = build("qemu-m4", "big.c", "big.elf", 0, &err, &rc);
    assert_int_equal(rc, -1);
    printf("refused: %s\n", err.msg);
    assert_non_null(strstr(err.msg, "needs 3.0"));
    assert_non_null(strstr(err.msg, "MB flash"));
    assert_non_null(strstr(err.msg, "STM32L4R5 has 2 MB"));
    assert_int_equal(access(elf, F_OK), -1); /* no half-written firmware */
}

static void test_fault_is_reported(void **state)
{
    (void)state;
    const char *elf = build_ok("qemu-m4", "fault.c", "fault.elf", 0);
    int8_t in[INPUT_SIZE] = {0}, out[OUTPUT_SIZE];
    reef_run_counts c;
    reef_error err = {{0}};
    assert_int_equal(reef_m4_run(elf, in, 1, INPUT_SIZE, out, OUTPUT_SIZE, &c, 10, &err), -1);
    printf("fault: %s\n", err.msg);
    assert_non_null(strstr(err.msg, "faulted"));
    assert_non_null(strstr(err.msg, "CFSR=0x02000000")); /* UFSR DIVBYZERO */
    assert_non_null(strstr(err.msg, "HFSR="));
    assert_non_null(strstr(err.msg, "MMFAR="));
    assert_non_null(strstr(err.msg, "BFAR="));
    assert_non_null(strstr(err.msg, "PC=0x"));
    assert_null(c.per_inference); /* no figures from a failed run */
}

static void test_hang_is_killed(void **state)
{
    (void)state;
    const char *elf = build_ok("qemu-m4", "hang.c", "hang.elf", 0);
    int8_t in[INPUT_SIZE] = {0}, out[OUTPUT_SIZE];
    reef_error err = {{0}};
    double t0 = reef_now();
    assert_int_equal(reef_m4_run(elf, in, 1, INPUT_SIZE, out, OUTPUT_SIZE, NULL, 0.5, &err), -1);
    double took = reef_now() - t0;
    printf("hang: %s (%.2f s)\n", err.msg, took);
    assert_non_null(strstr(err.msg, "did not finish within 0.5 s"));
    assert_true(took < 5);
}

static void test_missing_inputs_and_emulator(void **state)
{
    (void)state;
    const char *elf = build_ok("qemu-m4", "dot.c", "dot-env.elf", 0);
    int8_t in[INPUT_SIZE] = {0}, out[OUTPUT_SIZE];
    reef_error err = {{0}};
    char *saved = getenv("PATH") ? strdup(getenv("PATH")) : NULL;
    setenv("PATH", "/nonexistent", 1);
    assert_int_equal(reef_m4_run(elf, in, 1, INPUT_SIZE, out, OUTPUT_SIZE, NULL, 10, &err), -1);
    if (saved) setenv("PATH", saved, 1);
    free(saved);
    printf("no emulator: %s\n", err.msg);
    assert_non_null(strstr(err.msg, "qemu-system-arm could not be started"));
    assert_int_equal(reef_m4_run("/nonexistent.elf", in, 1, INPUT_SIZE, out, OUTPUT_SIZE, NULL, 10, &err), -1);
    assert_non_null(strstr(err.msg, "/nonexistent.elf"));
}

static void test_board_links(void **state)
{
    (void)state;
    char inputs[600];
    snprintf(inputs, sizeof inputs, "%s/board-in.bin", tmp);
    int8_t in[2 * INPUT_SIZE];
    make_inputs(in, 2);
    FILE *fp = fopen(inputs, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(in, 1, sizeof in, fp), sizeof in);
    fclose(fp);
    char out[600];
    snprintf(out, sizeof out, "%s/board.elf", tmp);
    const char *sources[1] = {fixture("dot.c")};
    reef_fw_spec spec = {.board = "stm32l4r5", .model_header = fixture("fixture.h"), .model_sources = sources,
                         .model_source_count = 1, .skip_runtime = 1, .board_inputs = inputs, .output = out};
    reef_error err = {{0}};
    if (reef_m4_build(&spec, &err)) fail_msg("%s", err.msg);
    reef_memory_report r;
    if (reef_memory_report_elf(out, 0, &r, &err)) fail_msg("%s", err.msg);
    assert_true(r.flash_rodata >= sizeof in); /* the compiled-in inputs */
    /* the vector table sits at the STM32's flash, 0x08000000 */
    char cmd[700], line[256];
    snprintf(cmd, sizeof cmd, "arm-none-eabi-size -A %s", out);
    FILE *p = popen(cmd, "r");
    int found = 0;
    while (fgets(line, sizeof line, p))
        if (!strncmp(line, ".isr_vector", 11) && strstr(line, "134217728")) found = 1;
    pclose(p);
    assert_true(found);
}

/* How many times the counting compiler (see test_build_cache) ran. */
static int compiles_counted(const char *count_path)
{
    uint8_t *data = NULL;
    size_t size = 0;
    reef_error err;
    if (reef_read_file(count_path, &data, &size, &err)) return 0;
    free(data);
    return (int)size; /* one byte per run */
}

static int file_equal(const char *a, const char *b)
{
    uint8_t *x = NULL, *y = NULL;
    size_t nx = 0, ny = 0;
    reef_error err;
    int same = !reef_read_file(a, &x, &nx, &err) && !reef_read_file(b, &y, &ny, &err) && nx == ny && !memcmp(x, y, nx);
    free(x), free(y);
    return same;
}

/* The firmware cache (build.c): an identical build is copied from the
 * cache without running the compiler, byte for byte; a changed source is
 * a new entry, a changed comment is not; a damaged entry is rebuilt, never used; and
 * REEF_FIRMWARE_CACHE=0 neither reads nor writes it. The host board's
 * compiler is $CC, here a script that counts its runs. */
static void test_build_cache(void **state)
{
    (void)state;
    char cache[400], cc[400], count[400], dot2[400], cmd[4000];
    snprintf(cache, sizeof cache, "%s/cache", tmp);
    snprintf(cc, sizeof cc, "%s/counting-cc", tmp);
    snprintf(count, sizeof count, "%s/cc-runs", tmp);
    snprintf(dot2, sizeof dot2, "%s/dot.c", tmp);
    snprintf(cmd, sizeof cmd, "printf '#!/bin/sh\\nprintf x >> %s\\nexec cc \"$@\"\\n' > %s && chmod +x %s && "
             "printf '#include \"%s\"\n/* changed */\n' > %s", count, cc, cc, fixture("dot.c"), dot2);
    assert_int_equal(testing_system(cmd), 0);
    const char *old_cc = getenv("CC");
    char saved_cc[400] = "";
    if (old_cc) snprintf(saved_cc, sizeof saved_cc, "%s", old_cc);
    setenv("CC", cc, 1);
    setenv("REEF_CACHE_DIR", cache, 1);
    unsetenv("REEF_FIRMWARE_CACHE_DIR"); /* the firmware cache in cache, whatever the caller set */
    char first[600];
    snprintf(first, sizeof first, "%s", build_ok("host", "dot.c", "cache-1", 0));
    assert_int_equal(compiles_counted(count), 1);
    assert_int_equal(testing_count_files(cache), 1);
    const char *second = build_ok("host", "dot.c", "cache-2", 0);
    assert_int_equal(compiles_counted(count), 1); /* copied, not compiled */
    assert_true(file_equal(first, second));
    assert_int_equal(access(second, X_OK), 0);

    const char *sources[1] = {dot2};
    char changed[600];
    snprintf(changed, sizeof changed, "%s/cache-3", tmp);
    reef_fw_spec spec = {.board = "host", .model_header = fixture("fixture.h"), .model_sources = sources,
                         .model_source_count = 1, .skip_runtime = 1, .output = changed};
    reef_error err = {{0}};
    if (reef_m4_build(&spec, &err)) fail_msg("%s", err.msg);
    assert_int_equal(compiles_counted(count), 2);
    assert_int_equal(testing_count_files(cache), 2);
    /* the same source but for a comment (a generated file naming another
     * scratch path): the same build, copied */
    snprintf(cmd, sizeof cmd, "printf '#include \"%s\"\n/* from /tmp/elsewhere */\n' > %s", fixture("dot.c"), dot2);
    assert_int_equal(testing_system(cmd), 0);
    char same[600];
    snprintf(same, sizeof same, "%s/cache-3b", tmp);
    spec.output = same;
    if (reef_m4_build(&spec, &err)) fail_msg("%s", err.msg);
    assert_int_equal(compiles_counted(count), 2);
    assert_true(file_equal(changed, same));

    /* damage every entry's last byte (its checksum): rebuilt, same bytes */
    snprintf(cmd, sizeof cmd, "for f in %s/firmware-*.elf; do printf '\\377' | dd of=$f bs=1 seek=$(($(stat -c %%s $f) - 1)) "
             "conv=notrunc status=none; done", cache);
    assert_int_equal(testing_system(cmd), 0);
    const char *rebuilt = build_ok("host", "dot.c", "cache-4", 0);
    assert_int_equal(compiles_counted(count), 3);
    assert_true(file_equal(first, rebuilt));

    setenv("REEF_FIRMWARE_CACHE", "0", 1);
    build_ok("host", "dot.c", "cache-5", 0);
    assert_int_equal(compiles_counted(count), 4);
    unsetenv("REEF_FIRMWARE_CACHE");

    /* REEF_FIRMWARE_CACHE_DIR moves the firmware cache (testing_own_cache):
     * a new folder, so compiled once and copied after */
    char moved[400];
    snprintf(moved, sizeof moved, "%s/fw-cache", tmp);
    setenv("REEF_FIRMWARE_CACHE_DIR", moved, 1);
    build_ok("host", "dot.c", "cache-6", 0);
    build_ok("host", "dot.c", "cache-7", 0);
    assert_int_equal(compiles_counted(count), 5);
    assert_int_equal(testing_count_files(moved), 1);
    unsetenv("REEF_FIRMWARE_CACHE_DIR");
    unsetenv("REEF_CACHE_DIR");
    if (saved_cc[0]) setenv("CC", saved_cc, 1);
    else unsetenv("CC");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_outputs_and_counts_repeat),
        cmocka_unit_test(test_hand_counted_loop),
        cmocka_unit_test(test_host_target_matches),
        cmocka_unit_test(test_memory_report),
        cmocka_unit_test(test_too_big_is_refused),
        cmocka_unit_test(test_fault_is_reported),
        cmocka_unit_test(test_hang_is_killed),
        cmocka_unit_test(test_missing_inputs_and_emulator),
        cmocka_unit_test(test_board_links),
        cmocka_unit_test(test_build_cache),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
