/* The harvested-energy simulator against hand-computed cases. */
#include "testing.h"

#include "energy/harvest.h"

/* 100 uF, on at 3 V (450 uJ), off at 1.8 V (162 uJ); one unit of 100 uJ at
 * 10 mW, nothing else. */
static const double unit[1] = {100}, zero[2] = {0, 0};

static reef_harvest_load one_unit(void)
{
    return (reef_harvest_load){1, unit, zero, zero, 0, 10, 0};
}

static reef_harvest_config config(void)
{
    return (reef_harvest_config){100e-6, 3.0, 1.8, 0, 1.0, 10, 0, 0};
}

/* 1 mW: 450 uJ take 0.45 s; the unit then runs 10 ms, harvesting 10 uJ:
 * the first result at 0.46 s with 360 uJ left; the second at 0.47 s
 * (270 uJ), the third at 0.48 s (180 uJ); the fourth browns out after
 * (180 - 162) / 9 mW = 2 ms, losing 20 uJ of work. */
static void test_constant_harvest_one_load(void **state)
{
    (void)state;
    reef_harvest_load L = one_unit();
    reef_harvest_source src = {1.0, NULL, NULL, 0};
    reef_harvest_config c = config();
    c.max_inferences = 3;
    reef_harvest_result r;
    reef_error err = {{0}};
    assert_int_equal(reef_harvest_simulate(&L, &src, &c, &r, NULL, NULL, &err), 0);
    assert_float_equal(r.first_result_s, 0.46, 1e-9);
    assert_int_equal(r.inferences, 3);
    assert_int_equal(r.power_failures, 0);
    assert_float_equal(r.sim_s, 0.48, 1e-9);
    c.max_inferences = 4;
    assert_int_equal(reef_harvest_simulate(&L, &src, &c, &r, NULL, NULL, &err), 0);
    assert_int_equal(r.power_failures, 1);
    assert_float_equal(r.e_lost, 20, 1e-6);
    /* after the brown-out at 0.482 s: recharge 162 -> 450 uJ = 0.288 s,
     * then 10 ms: the fourth result at 0.78 s */
    assert_float_equal(r.sim_s, 0.482 + 0.288 + 0.010, 1e-9);
    /* steady state: each result costs 100 uJ at 1 mW in = 0.1 s... plus
     * losses: over an hour, fewer than 36000 and more than 30000 */
    c.max_inferences = 0, c.duration_s = 3600;
    assert_int_equal(reef_harvest_simulate(&L, &src, &c, &r, NULL, NULL, &err), 0);
    assert_true(r.inferences_per_hour < 36000 && r.inferences_per_hour > 30000);
    assert_float_equal(r.e_harvested, 1.0e-3 * 3600 * 1e6, 450 + 1); /* all harvested is used (within a charge) */
}

static void test_no_harvest_never_finishes(void **state)
{
    (void)state;
    reef_harvest_load L = one_unit();
    reef_harvest_source src = {0, NULL, NULL, 0};
    reef_harvest_config c = config();
    reef_harvest_result r;
    reef_error err = {{0}};
    assert_int_equal(reef_harvest_simulate(&L, &src, &c, &r, NULL, NULL, &err), 0);
    assert_int_equal(r.never_charges, 1);
    assert_int_equal(r.inferences, 0);
    assert_float_equal(r.first_result_s, -1, 0);
    /* already charged but no harvest: 2 results (450 -> 350 -> 250 -> 150:
     * the third browns out) and then never again */
    c.v_start = 3.0;
    assert_int_equal(reef_harvest_simulate(&L, &src, &c, &r, NULL, NULL, &err), 0);
    assert_int_equal(r.inferences, 2);
    assert_int_equal(r.power_failures, 1);
    assert_int_equal(r.never_charges, 0);
}

/* A unit larger than one charge never completes: said, not looped on. */
static void test_unit_too_big_no_progress(void **state)
{
    (void)state;
    static const double big[1] = {400};
    reef_harvest_load L = {1, big, zero, zero, 0, 10, 0};
    reef_harvest_source src = {0.1, NULL, NULL, 0};
    reef_harvest_config c = config();
    c.duration_s = 1e6;
    reef_harvest_result r;
    reef_error err = {{0}};
    assert_int_equal(reef_harvest_simulate(&L, &src, &c, &r, NULL, NULL, &err), 0);
    assert_int_equal(r.no_progress, 1);
    assert_int_equal(r.inferences, 0);
}

/* A trace: 0 mW for 1 s, then 2 mW: on at 1 + 450 uJ / 2 mW = 1.225 s. */
static void test_trace(void **state)
{
    (void)state;
    char dir[256], path[512];
    testing_tmpdir(dir, sizeof dir, "trace");
    snprintf(path, sizeof path, "%s/trace.txt", dir);
    FILE *fp = fopen(path, "w");
    fprintf(fp, "# time_s power_mW\n0 0\n1.0 2\n");
    fclose(fp);
    double *t, *mw;
    int n;
    reef_error err = {{0}};
    assert_int_equal(reef_harvest_read_trace(path, &t, &mw, &n, &err), 0);
    reef_harvest_load L = one_unit();
    reef_harvest_source src = {0, t, mw, n};
    reef_harvest_config c = config();
    c.max_inferences = 1;
    reef_harvest_result r;
    assert_int_equal(reef_harvest_simulate(&L, &src, &c, &r, NULL, NULL, &err), 0);
    assert_float_equal(r.first_result_s, 1.225 + 0.010, 1e-9);
    free(t), free(mw);
    /* unreadable traces: named with the line */
    fp = fopen(path, "w");
    fprintf(fp, "0 1\n0.5 -2\n");
    fclose(fp);
    assert_int_equal(reef_harvest_read_trace(path, &t, &mw, &n, &err), -1);
    assert_non_null(strstr(err.msg, "trace.txt:2:"));
    snprintf(path, sizeof path, "%s/missing.txt", dir);
    assert_int_equal(reef_harvest_read_trace(path, &t, &mw, &n, &err), -1);
    assert_non_null(strstr(err.msg, "missing.txt"));
    /* impossible settings */
    c.v_on = 1.0;
    assert_int_equal(reef_harvest_simulate(&L, &src, &c, &r, NULL, NULL, &err), -1);
    assert_int_equal(testing_rm_tree(dir), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_constant_harvest_one_load),
        cmocka_unit_test(test_no_harvest_never_finishes),
        cmocka_unit_test(test_unit_too_big_no_progress),
        cmocka_unit_test(test_trace),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
