/* Intermittent execution on the emulated Cortex-M4 (issue 13), through the
 * CLI: `reef gen --intermittent` writes the schedule, or refuses a
 * capacitor too small for any unit and impossible voltages leaving nothing
 * behind; `reef run --intermittent` builds the firmware and runs it with
 * the QEMU plugin ending the emulator at chosen instructions: at every
 * commit point, at every instruction of one commit, every N instructions
 * and at random counts; every output equals the continuous run. Model: the
 * codegen tests' small model (residual branch) written as a .tflite. */
#include "testing.h"

#include "../codegen/small_model.h"
#include "tflite/graph.h"

static char out[1 << 16];

static int tools_present(void)
{
    return system("qemu-system-arm --version >/dev/null 2>&1") == 0 &&
           system("arm-none-eabi-gcc --version >/dev/null 2>&1") == 0;
}

static void write_small(const char *path)
{
    reef_graph g;
    reef_error err = {{0}};
    build_small(&g, 0);
    if (reef_tflite_write(path, &g, &err)) fail_msg("%s", err.msg);
    reef_graph_free(&g);
}

/* A fresh folder with the small model (model, 512 bytes) and n random
 * 128-byte inputs of it (raw, 512 bytes). */
static void small_with_inputs(char *dir, size_t dir_size, const char *tag, int n, uint64_t seed, char *model, char *raw)
{
    testing_tmpdir(dir, dir_size, tag);
    snprintf(model, 512, "%s/small.tflite", dir);
    write_small(model);
    snprintf(raw, 512, "%s/in.bin", dir);
    FILE *fp = fopen(raw, "wb");
    assert_non_null(fp);
    for (int i = 0; i < n * 128; i++) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        fputc((int)(seed >> 56), fp);
    }
    fclose(fp);
}

static void test_gen_intermittent(void **state)
{
    (void)state;
    const char *bin = testing_reef_bin();
    char dir[256], model[512], cmd[4096];
    if (!bin) skip();
    testing_tmpdir(dir, sizeof dir, "gen-int");
    snprintf(model, sizeof model, "%s/small.tflite", dir);
    write_small(model);
    snprintf(cmd, sizeof cmd, "%s gen --model %s -o %s/out --intermittent --capacitor 100u --v-on 3.0 --v-off 1.8", bin, model, dir);
    assert_int_equal(testing_run(cmd, out, sizeof out), 0);
    assert_non_null(strstr(out, "intermittent schedule (FRAM NVM)"));
    /* planned from step cycles measured on qemu-m4 by default, cached: the
     * second plan reads them back; 'estimate' plans from the shapes */
    assert_non_null(strstr(out, tools_present() ? "step cycles measured on qemu-m4" : "ESTIMATED"));
    assert_non_null(strstr(out, tools_present() ? "modeled from emulated step cycles" : "modeled from the estimate"));
    if (tools_present()) {
        assert_int_equal(testing_run(cmd, out, sizeof out), 0);
        assert_non_null(strstr(out, "measured on qemu-m4 earlier (cache"));
    }
    snprintf(cmd, sizeof cmd, "%s gen --model %s -o %s/est --intermittent --capacitor 100u --step-cycles estimate", bin,
             model, dir);
    assert_int_equal(testing_run(cmd, out, sizeof out), 0);
    assert_non_null(strstr(out, "modeled from the estimate"));
    snprintf(cmd, sizeof cmd, "%s/out", dir);
    assert_int_equal(testing_count_files(cmd), 4); /* small.[ch], small_resume.[ch] */
    /* a capacitor too small for any unit: refused, saying how big would do */
    snprintf(cmd, sizeof cmd, "%s gen --model %s -o %s/tiny --intermittent --capacitor 1n", bin, model, dir);
    assert_int_equal(testing_run(cmd, out, sizeof out), 1);
    assert_non_null(strstr(out, "no tiling can make progress"));
    assert_non_null(strstr(out, "a capacitor of at least"));
    snprintf(cmd, sizeof cmd, "%s/tiny", dir);
    assert_int_equal(access(cmd, F_OK), -1); /* nothing written */
    /* impossible voltages, unreadable capacitor */
    snprintf(cmd, sizeof cmd, "%s gen --model %s -o %s/bad --intermittent --capacitor 100u --v-on 1.5 --v-off 1.8", bin, model, dir);
    assert_int_equal(testing_run(cmd, out, sizeof out), 2);
    assert_non_null(strstr(out, "impossible voltages"));
    snprintf(cmd, sizeof cmd, "%s gen --model %s -o %s/bad --intermittent --capacitor lots", bin, model, dir);
    assert_int_equal(testing_run(cmd, out, sizeof out), 2);
    assert_non_null(strstr(out, "--capacitor"));
    snprintf(cmd, sizeof cmd, "%s/bad", dir);
    assert_int_equal(access(cmd, F_OK), -1);
    /* measured step cycles (reef run --steps --step-cycles writes them):
     * used when they fit the model, refused naming the file when not */
    snprintf(cmd, sizeof cmd, "%s gen --model %s -o %s/plain", bin, model, dir);
    assert_int_equal(testing_run(cmd, out, sizeof out), 0);
    const char *row = strstr(out, "\nsteps ");
    int nsteps = 0;
    assert_non_null(row);
    assert_int_equal(sscanf(row, "\nsteps %d", &nsteps), 1);
    char cycles[512];
    snprintf(cycles, sizeof cycles, "%s/cycles.txt", dir);
    FILE *fp = fopen(cycles, "w");
    assert_non_null(fp);
    fprintf(fp, "# test\nsteps %d\n", nsteps);
    for (int k = 0; k < nsteps; k++) fprintf(fp, "%d %d\n", k, 20000 + 1000 * k);
    fclose(fp);
    snprintf(cmd, sizeof cmd, "%s gen --model %s -o %s/measured --intermittent --capacitor 100u --step-cycles %s", bin, model,
             dir, cycles);
    assert_int_equal(testing_run(cmd, out, sizeof out), 0);
    assert_non_null(strstr(out, "modeled from emulated step cycles"));
    fp = fopen(cycles, "w");
    assert_non_null(fp);
    fprintf(fp, "steps %d\n0 100\n", nsteps + 1);
    fclose(fp);
    snprintf(cmd, sizeof cmd, "%s gen --model %s -o %s/wrong --intermittent --step-cycles %s", bin, model, dir, cycles);
    assert_int_equal(testing_run(cmd, out, sizeof out), 1);
    assert_non_null(strstr(out, "cycles.txt"));
    snprintf(cmd, sizeof cmd, "%s/wrong", dir);
    assert_int_equal(access(cmd, F_OK), -1);
    assert_int_equal(testing_rm_tree(dir), 0);
}

/* reef harvest on the small model: no harvest never finishes, said
 * clearly; bad input refused with nothing written; a plot otherwise. */
static void test_harvest_cli(void **state)
{
    (void)state;
    const char *bin = testing_reef_bin();
    char dir[256], model[512], cmd[4096], path[600];
    if (!bin) skip();
    testing_tmpdir(dir, sizeof dir, "harvest");
    snprintf(model, sizeof model, "%s/small.tflite", dir);
    write_small(model);
    snprintf(cmd, sizeof cmd, "%s harvest --model %s --power 0 --duration 60", bin, model);
    assert_int_equal(testing_run(cmd, out, sizeof out), 0);
    assert_non_null(strstr(out, "never finishes at 0 mW: the capacitor never charges to 3.00 V"));
    snprintf(cmd, sizeof cmd, "%s harvest --model %s --power 2m --duration 60 --json", bin, model);
    assert_int_equal(testing_run(cmd, out, sizeof out), 0);
    assert_non_null(strstr(out, "\"harvest_mw\":2,"));
    assert_null(strstr(out, "\"first_result_s\":-1"));
    /* --memory: the schedule gen --memory ships; its arena never above fast's */
    const char *key = "\"arena_bytes\":";
    char *at = strstr(out, key);
    assert_non_null(at);
    long fast_arena = strtol(at + strlen(key), NULL, 10);
    assert_non_null(strstr(out, "\"memory\":\"fast\""));
    snprintf(cmd, sizeof cmd, "%s harvest --model %s --power 2m --duration 60 --memory min --json", bin, model);
    assert_int_equal(testing_run(cmd, out, sizeof out), 0);
    assert_non_null(strstr(out, "\"memory\":\"min\""));
    at = strstr(out, key);
    assert_non_null(at);
    long min_arena = strtol(at + strlen(key), NULL, 10);
    assert_true(min_arena > 0 && min_arena <= fast_arena);
    snprintf(cmd, sizeof cmd, "%s harvest --model %s --memory tiny", bin, model);
    assert_int_equal(testing_run(cmd, out, sizeof out), 2);
    assert_non_null(strstr(out, "--memory 'tiny': expected fast, balanced or min"));
    /* bad input: nothing written */
    snprintf(cmd, sizeof cmd, "%s harvest --model %s --capacitor 1n --plot %s/a.svg", bin, model, dir);
    assert_int_equal(testing_run(cmd, out, sizeof out), 1);
    assert_non_null(strstr(out, "a capacitor of at least"));
    snprintf(cmd, sizeof cmd, "%s harvest --model %s --v-on 1 --v-off 2 --plot %s/a.svg", bin, model, dir);
    assert_int_equal(testing_run(cmd, out, sizeof out), 2);
    assert_non_null(strstr(out, "impossible voltages"));
    snprintf(cmd, sizeof cmd, "printf '0 1\\n0.5 x\\n' > %s/t.txt; %s harvest --model %s --trace %s/t.txt --plot %s/a.svg",
             dir, bin, model, dir, dir);
    assert_int_equal(testing_run(cmd, out, sizeof out), 1);
    assert_non_null(strstr(out, "t.txt:2:"));
    snprintf(path, sizeof path, "%s/a.svg", dir);
    assert_int_equal(access(path, F_OK), -1);
    if (system("gnuplot --version >/dev/null 2>&1") == 0) {
        snprintf(cmd, sizeof cmd, "%s harvest --model %s --duration 30 --plot %s", bin, model, path);
        assert_int_equal(testing_run(cmd, out, sizeof out), 0);
        assert_int_equal(access(path, F_OK), 0);
    }
    assert_int_equal(testing_rm_tree(dir), 0);
}

static void test_run_with_failures(void **state)
{
    (void)state;
    const char *bin = testing_reef_bin();
    char dir[256], model[512], raw[512], cmd[4096];
    if (!bin) skip();
    if (!tools_present()) {
        printf("[  SKIPPED ] qemu-system-arm or arm-none-eabi-gcc missing (scripts/deps.sh)\n");
        skip();
    }
    small_with_inputs(dir, sizeof dir, "run-int", 1, 42, model, raw); /* one input: every failure costs a QEMU start */
    /* per-step units: commit points are step boundaries */
    snprintf(cmd, sizeof cmd,
             "%s run --intermittent --model %s --inputs %s --fail-steps --fail-commit 2 --fail-stride 400 "
             "--fail-random 5 --json",
             bin, model, raw);
    assert_int_equal(testing_run(cmd, out, sizeof out), 0);
    printf("  %s\n", out);
    assert_non_null(strstr(out, "\"schedule\":\"at every commit point (unit boundary)\""));
    assert_non_null(strstr(out, "\"schedule\":\"at every S-th instruction of one commit\""));
    /* --fail-random 5: five failures in all, over however many runs they take */
    const char *random_run = strstr(out, "\"schedule\":\"at random instruction counts\"");
    assert_non_null(random_run);
    assert_non_null(strstr(random_run, "\"power_failures\":5,"));
    assert_null(strstr(out, "\"outputs_differing\":1"));
    const char *p = out;
    int schedules = 0;
    while ((p = strstr(p, "\"outputs_differing\":0"))) schedules++, p++;
    assert_int_equal(schedules, 4);
    static const char key[] = "\"instructions_per_inference_no_failure_emulated\":";
    const char *every_insn = strstr(out, key);
    assert_non_null(every_insn);
    double every = atof(every_insn + strlen(key));
    /* the same with the 100 uF schedule */
    snprintf(cmd, sizeof cmd, "%s run --intermittent --model %s --inputs %s --capacitor 100u --fail-steps --json", bin,
             model, raw);
    assert_int_equal(testing_run(cmd, out, sizeof out), 0);
    assert_non_null(strstr(out, "\"outputs_differing\":0"));
    assert_null(strstr(out, "\"outputs_differing\":1"));
    /* The supply taken as never low (--commit ends): points pass without a
     * commit, fewer instructions than committing at each one; failures
     * restart the job from its checkpointed input, same outputs. */
    snprintf(cmd, sizeof cmd, "%s run --intermittent --model %s --inputs %s --commit ends --fail-random 3 --json",
             bin, model, raw);
    if (testing_run(cmd, out, sizeof out)) fail_msg("%s", out);
    printf("  %s\n", out);
    const char *ends_insn = strstr(out, key);
    assert_non_null(ends_insn);
    assert_true(atof(ends_insn + strlen(key)) < every);
    assert_non_null(strstr(out, "\"power_failures\":3,"));
    assert_null(strstr(out, "\"outputs_differing\":1"));
    /* A periodic schedule: every boot fails after 120,000 instructions, so
     * the boot that first fails resumes and finishes on the next boot. */
    snprintf(cmd, sizeof cmd, "%s run --intermittent --model %s --inputs %s --fail-every 120000 --json", bin, model,
             raw);
    if (testing_run(cmd, out, sizeof out)) fail_msg("%s", out);
    printf("  %s\n", out);
    const char *periodic = strstr(out, "\"schedule\":\"every boot after N instructions\"");
    assert_non_null(periodic);
    assert_non_null(strstr(periodic, "\"outputs_differing\":0"));
    assert_null(strstr(periodic, "\"power_failures\":0,"));
    /* A period too short to commit anything is refused after two boots
     * (it ran on for 20,000 boots before). */
    snprintf(cmd, sizeof cmd, "%s run --intermittent --model %s --inputs %s --fail-every 60000 --json", bin, model,
             raw);
    assert_int_not_equal(testing_run(cmd, out, sizeof out), 0);
    if (!strstr(out, "commits no progress")) fail_msg("%s", out);
    assert_int_equal(testing_rm_tree(dir), 0);
}

/* --target host: the same runtime C with failures at the NVM writes of the
 * host (no QEMU needed), over three inputs so failures cross jobs. */
static void test_run_host(void **state)
{
    (void)state;
    const char *bin = testing_reef_bin();
    char dir[256], model[512], raw[512], cmd[4096];
    if (!bin) skip();
    small_with_inputs(dir, sizeof dir, "run-host", 3, 43, model, raw);
    for (int cap = 0; cap < 2; cap++) {
        snprintf(cmd, sizeof cmd, "%s run --intermittent --target host --model %s --inputs %s %s --fail-writes "
                 "--fail-random 500 --json", bin, model, raw, cap ? "--capacitor 100u" : "");
        if (testing_run(cmd, out, sizeof out)) fail_msg("%s", out);
        printf("  %s\n", out);
        const char *exhaustive = strstr(out, "\"failures_at\":\"every write; record bytes\"");
        const char *random = strstr(out, "\"failures_at\":\"random writes and bytes\"");
        assert_non_null(exhaustive);
        assert_non_null(random);
        assert_null(strstr(random, "\"power_failures\":0,"));
        const char *p = out;
        int clean = 0;
        while ((p = strstr(p, "\"outputs_differing\":0,\"hangs\":0"))) clean++, p++;
        assert_int_equal(clean, 2);
    }
    /* instruction-counted failures belong to qemu-m4 */
    snprintf(cmd, sizeof cmd, "%s run --intermittent --target host --model %s --inputs %s --fail-every 1000", bin,
             model, raw);
    assert_int_equal(testing_run(cmd, out, sizeof out), 2);
    assert_non_null(strstr(out, "--target qemu-m4"));
    assert_int_equal(testing_rm_tree(dir), 0);
}

int main(void)
{
    /* the measured step cycles' cache: this run's own, not the user's;
     * firmware builds stay in the shared cache (the sanitizer run's hit) */
    char cache[256];
    testing_tmpdir(cache, sizeof cache, "int-cache");
    testing_own_cache(cache);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gen_intermittent),
        cmocka_unit_test(test_harvest_cli),
        cmocka_unit_test(test_run_with_failures),
        cmocka_unit_test(test_run_host),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    testing_rm_tree(cache);
    return rc;
}
