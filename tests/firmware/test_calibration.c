/* The cycle and energy models against board measurements: reads
 * bench/calibration/l4r5zi.csv (emulated per-class counts of MLPerf Tiny
 * code beside that code's measured latency and energy on a NUCLEO-L4R5ZI),
 * refits the two fitted constants leaving each point out, and checks the
 * held-out errors against the targets and against the figures the
 * code and docs state (cycles.h, profiles/stm32l4r5.profile). */
#include "testing.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "energy/profile.h"
#include "firmware/cycles.h"

enum { MAX_POINTS = 32 };

typedef struct point {
    char name[64], engine[32], model[32];
    uint64_t counts[REEF_INSN_CLASS_COUNT];
    double measured_ms, measured_uj;
} point;

static const char *const class_names[] = {
#define NAME(name, text) text,
    REEF_INSN_CLASSES(NAME)
#undef NAME
};

static int load_points(point *pts)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/bench/calibration/l4r5zi.csv", getenv("REEF_SOURCE") ? getenv("REEF_SOURCE") : ".");
    FILE *f = fopen(path, "r");
    if (!f) fail_msg("cannot open %s", path);
    char line[4096], *cols[64];
    int ncols = 0, n = 0, column_class[64];
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#') continue;
        line[strcspn(line, "\r\n")] = '\0';
        int k = 0;
        for (char *tok = strtok(line, ","); tok && k < 64; tok = strtok(NULL, ",")) cols[k++] = tok;
        if (!ncols) { /* the header: map columns to instruction classes */
            ncols = k;
            for (int c = 0; c < k; c++) {
                column_class[c] = -1;
                for (int i = 0; i < REEF_INSN_CLASS_COUNT; i++)
                    if (!strcmp(cols[c], class_names[i])) column_class[c] = i;
                if (!strcmp(cols[c], "measured_ms")) column_class[c] = 1000;
                if (!strcmp(cols[c], "measured_uj")) column_class[c] = 1001;
            }
            continue;
        }
        assert_int_equal(k, ncols);
        assert_true(n < MAX_POINTS);
        point *p = &pts[n++];
        memset(p, 0, sizeof *p);
        snprintf(p->name, sizeof p->name, "%s/%s", cols[0], cols[1]);
        snprintf(p->engine, sizeof p->engine, "%s", cols[0]);
        snprintf(p->model, sizeof p->model, "%s", cols[1]);
        for (int c = 0; c < k; c++) {
            if (column_class[c] == 1000) p->measured_ms = atof(cols[c]);
            else if (column_class[c] == 1001) p->measured_uj = atof(cols[c]);
            else if (column_class[c] >= 0) p->counts[column_class[c]] = strtoull(cols[c], NULL, 10);
        }
        assert_true(p->counts[REEF_INSN_TOTAL] > 0 && p->measured_ms > 0 && p->measured_uj > 0);
    }
    fclose(f);
    return n;
}

static double modeled_ms(const point *p, double flash_data_read)
{
    reef_cycle_model m;
    reef_cycle_model_default(&m, 5);
    m.flash_data_read = flash_data_read;
    reef_cycle_estimate e;
    reef_cycle_estimate_counts(&m, p->counts, &e);
    return e.cycles / 120e3;
}

/* flash_data_read minimising the squared log error over the points not
 * held out (held[i] != 0; NULL: none) on a grid of 0.01 cycles (the loss
 * is convex in it). */
static double fit_flash_read(const point *pts, int n, const int *held)
{
    double best = 0, best_loss = INFINITY;
    for (int g = 0; g <= 600; g++) {
        double loss = 0;
        for (int i = 0; i < n; i++)
            if (!held || !held[i]) loss += pow(log(modeled_ms(&pts[i], g * 0.01) / pts[i].measured_ms), 2);
        if (loss < best_loss) best_loss = loss, best = g * 0.01;
    }
    return best;
}

/* Board power (mW at the measured 1.8 V): geometric mean of measured
 * energy / modeled time over the points not held out. */
static double fit_power_mw(const point *pts, int n, const int *held, double flash_data_read)
{
    double sum = 0;
    int k = 0;
    for (int i = 0; i < n; i++)
        if (!held || !held[i]) sum += log(pts[i].measured_uj / modeled_ms(&pts[i], flash_data_read)), k++;
    return exp(sum / k);
}

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, by_value);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void test_leave_one_out(void **state)
{
    (void)state;
    point pts[MAX_POINTS];
    int n = load_points(pts);
    assert_true(n >= 4);
    double time_err[MAX_POINTS], energy_err[MAX_POINTS], worst_t = 0, worst_e = 0;
    for (int i = 0; i < n; i++) {
        int held[MAX_POINTS] = {0};
        held[i] = 1;
        double fr = fit_flash_read(pts, n, held), mw = fit_power_mw(pts, n, held, fr);
        double ms = modeled_ms(&pts[i], fr);
        time_err[i] = fabs(ms / pts[i].measured_ms - 1) * 100;
        energy_err[i] = fabs(ms * mw / pts[i].measured_uj - 1) * 100;
        printf("  %-22s measured %9.3f ms %9.1f uJ | modeled %9.3f ms (%+5.1f%%) %9.1f uJ (%+5.1f%%)\n", pts[i].name,
               pts[i].measured_ms, pts[i].measured_uj, ms, (ms / pts[i].measured_ms - 1) * 100, ms * mw,
               (ms * mw / pts[i].measured_uj - 1) * 100);
        worst_t = fmax(worst_t, time_err[i]), worst_e = fmax(worst_e, energy_err[i]);
    }
    double med_t = median(time_err, n), med_e = median(energy_err, n);
    printf("  leave-one-out over %d points: time median %.1f%% worst %.1f%%, energy median %.1f%% worst %.1f%%\n", n,
           med_t, worst_t, med_e, worst_e);
    /* the targets */
    assert_true(med_t <= 10 && worst_t <= 20 && med_e <= 10 && worst_e <= 20);
    /* the figures the code and the profile state */
    assert_int_equal(n, REEF_CALIBRATION_POINTS);
    assert_float_equal(med_t, REEF_CALIBRATION_TIME_MEDIAN_PCT, 0.05);
    assert_float_equal(worst_t, REEF_CALIBRATION_TIME_WORST_PCT, 0.05);
    reef_device_profile prof;
    reef_error err = {{0}};
    if (reef_profile_load("stm32l4r5", &prof, &err)) fail_msg("%s", err.msg);
    assert_int_equal(prof.board_points, n);
    assert_float_equal(prof.board_energy_error_pct, worst_e, 0.05);
}

/* Held-out errors when a whole group is left out at once: each engine (fit
 * on the other engine's code only) and each model (fit on the other
 * models). Both must meet the targets too. */
static void leave_group_out(const point *pts, int n, int by_engine, double *med_t, double *worst_t, double *worst_e)
{
    double terr[MAX_POINTS], eerr[MAX_POINTS];
    *worst_t = *worst_e = 0;
    for (int g = 0; g < n; g++) {
        const char *key = by_engine ? pts[g].engine : pts[g].model;
        int held[MAX_POINTS] = {0}, first = 1;
        for (int i = 0; i < n; i++) {
            held[i] = !strcmp(by_engine ? pts[i].engine : pts[i].model, key);
            if (held[i] && i < g) first = 0;
        }
        if (!first) continue; /* each group once, at its first point */
        double fr = fit_flash_read(pts, n, held), mw = fit_power_mw(pts, n, held, fr);
        for (int i = 0; i < n; i++) {
            if (!held[i]) continue;
            double ms = modeled_ms(&pts[i], fr);
            terr[i] = fabs(ms / pts[i].measured_ms - 1) * 100;
            eerr[i] = fabs(ms * mw / pts[i].measured_uj - 1) * 100;
            *worst_t = fmax(*worst_t, terr[i]), *worst_e = fmax(*worst_e, eerr[i]);
        }
    }
    *med_t = median(terr, n);
}

static void test_leave_engine_and_model_out(void **state)
{
    (void)state;
    point pts[MAX_POINTS];
    int n = load_points(pts);
    for (int by_engine = 0; by_engine < 2; by_engine++) {
        double med_t, worst_t, worst_e;
        leave_group_out(pts, n, by_engine, &med_t, &worst_t, &worst_e);
        printf("  leave one %s out: time median %.1f%% worst %.1f%%, energy worst %.1f%%\n",
               by_engine ? "engine" : "model", med_t, worst_t, worst_e);
        assert_true(med_t <= 10 && worst_t <= 20 && worst_e <= 20);
    }
}

/* Fitted on all points, the constants are the ones the model ships. */
static void test_shipped_constants_are_the_fit(void **state)
{
    (void)state;
    point pts[MAX_POINTS];
    int n = load_points(pts);
    double fr = fit_flash_read(pts, n, NULL), mw = fit_power_mw(pts, n, NULL, fr);
    reef_cycle_model m;
    reef_cycle_model_default(&m, 5);
    assert_float_equal(m.flash_data_read, fr, 0.005);
    reef_device_profile prof;
    reef_error err = {{0}};
    if (reef_profile_load("stm32l4r5", &prof, &err)) fail_msg("%s", err.msg);
    /* measured at 1.8 V: current = power / 1.8 V / 120 MHz */
    assert_float_equal(prof.run_ua_per_mhz_board, mw / 1.8 / 120 * 1000, 0.1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_leave_one_out),
        cmocka_unit_test(test_leave_engine_and_model_out),
        cmocka_unit_test(test_shipped_constants_are_the_fit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
