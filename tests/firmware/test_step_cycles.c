/* Step cycles for the intermittent planner (issue 13, firmware/step_cycles.h):
 * the file round-trips and a malformed one is refused naming its line; the
 * default is measured on qemu-m4 once and then read from the cache, the
 * same values; without the emulator it falls back to the estimate, saying
 * what is missing; and the estimate (reef_intermittent_step_cycles) is at
 * or above the measured cycles of every step of the small model, MLPerf
 * Tiny KWS and AD (the fallback must not plan units too big for a charge). */
#include "testing.h"

#include "../codegen/small_model.h"
#include "codegen/intermittent.h"
#include "firmware/step_cycles.h"

static void test_file(void **state)
{
    (void)state;
    char dir[256], path[512];
    double v[3] = {1200, 0, 345678}, *back = NULL;
    int n = 0;
    reef_error err = {{0}};
    testing_tmpdir(dir, sizeof dir, "stepcyc");
    snprintf(path, sizeof path, "%s/c.txt", dir);
    assert_int_equal(reef_step_cycles_write(path, v, 3, "two\nlines", &err), 0);
    assert_int_equal(reef_step_cycles_read(path, &back, &n, &err), 0);
    assert_int_equal(n, 3);
    for (int k = 0; k < 3; k++) assert_true(back[k] == v[k]);
    free(back);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs("steps 2\n0 10\n2 30\n", fp);
    fclose(fp);
    assert_int_equal(reef_step_cycles_read(path, &back, &n, &err), -1);
    assert_null(back);
    assert_non_null(strstr(err.msg, "c.txt: line 3"));
    assert_int_equal(testing_rm_tree(dir), 0);
}

static void lower_file_or_small(const char *tflite, reef_lowered_model *m)
{
    reef_graph g;
    reef_error err = {{0}};
    if (tflite) {
        if (reef_tflite_read(tflite, &g, &err)) fail_msg("%s", err.msg);
    } else {
        build_small(&g, 0);
    }
    if (reef_lower(&g, m, &err)) fail_msg("%s", err.msg);
    reef_graph_free(&g);
}

/* Measured (or cached) cycles of m; every step's estimate at or above them. */
static void check_model(const reef_lowered_model *m, const reef_device_profile *prof, const char *name)
{
    double *measured = NULL, *again = NULL;
    reef_step_cycles_source src;
    char note[4600];
    reef_error err = {{0}};
    assert_int_equal(reef_step_cycles_default(m, prof, &measured, &src, note, sizeof note, &err), 0);
    assert_int_equal(src, REEF_STEP_CYCLES_MEASURED);
    assert_non_null(measured);
    assert_int_equal(reef_step_cycles_default(m, prof, &again, &src, note, sizeof note, &err), 0);
    assert_int_equal(src, REEF_STEP_CYCLES_CACHED);
    assert_non_null(strstr(note, "cache"));
    int below = 0;
    for (int k = 0; k < m->nsteps; k++) {
        assert_true(again[k] == measured[k]);
        assert_true(measured[k] > 100);
        double est = reef_intermittent_step_cycles(&m->steps[k]);
        if (est < measured[k])
            printf("%s step %d (%s): estimate %.0f cycles below the measured %.0f\n", name, k,
                   reef_step_kind_name(m->steps[k].kind), est, measured[k]),
                below++;
    }
    assert_int_equal(below, 0);
    free(measured), free(again);
}

static void test_measured_and_bound(void **state)
{
    (void)state;
    char dir[256], path[512];
    reef_device_profile prof;
    reef_error err = {{0}};
    if (!testing_have_arm_tools()) skip();
    assert_int_equal(reef_profile_load("stm32l4r5", &prof, &err), 0);
    testing_tmpdir(dir, sizeof dir, "stepcyc-m4");
    testing_own_cache(dir); /* measured afresh; the firmware from the shared cache */
    reef_lowered_model m;
    lower_file_or_small(NULL, &m);
    check_model(&m, &prof, "small");
    reef_lowered_free(&m);
    static const char *const mlperf[] = {"models/models/kws_ref_model.tflite", "models/models/ad01_int8.tflite"};
    int missing = 0;
    for (int i = 0; i < 2; i++) {
        if (!testing_shared_path(path, sizeof path, mlperf[i])) {
            missing++;
            continue;
        }
        lower_file_or_small(path, &m);
        check_model(&m, &prof, mlperf[i]);
        reef_lowered_free(&m);
    }
    unsetenv("REEF_CACHE_DIR");
    assert_int_equal(testing_rm_tree(dir), 0);
    if (missing) skip();
}

static void test_no_emulator(void **state)
{
    (void)state;
    char dir[256], old_path[8192];
    reef_device_profile prof;
    reef_error err = {{0}};
    reef_step_cycles_source src;
    char note[4600];
    double *cycles = (double *)1;
    assert_int_equal(reef_profile_load("stm32l4r5", &prof, &err), 0);
    testing_tmpdir(dir, sizeof dir, "stepcyc-none");
    snprintf(old_path, sizeof old_path, "%s", getenv("PATH") ? getenv("PATH") : "");
    setenv("REEF_CACHE_DIR", dir, 1);
    setenv("PATH", dir, 1); /* an empty folder: no compiler, no emulator */
    reef_lowered_model m;
    lower_file_or_small(NULL, &m);
    assert_int_equal(reef_step_cycles_default(&m, &prof, &cycles, &src, note, sizeof note, &err), 0);
    setenv("PATH", old_path, 1);
    unsetenv("REEF_CACHE_DIR");
    assert_int_equal(src, REEF_STEP_CYCLES_ESTIMATED);
    assert_null(cycles);
    assert_non_null(strstr(note, "not found"));
    assert_non_null(strstr(note, "ESTIMATED"));
    reef_lowered_free(&m);
    assert_int_equal(testing_count_files(dir), 0);
    assert_int_equal(testing_rm_tree(dir), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_file),
        cmocka_unit_test(test_no_emulator),
        cmocka_unit_test(test_measured_and_bound),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
