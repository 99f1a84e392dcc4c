/* A harvested-energy simulator (issue 13): the storage capacitor's voltage
 * under harvested power (constant, or a trace of time and power) while the
 * MCU turns on at v_on, runs the units of an intermittent schedule (boot,
 * restore, units and their commits, sleep between inferences) and browns
 * out at v_off, losing the unit in progress. Event driven and exact for
 * piecewise-constant power. Every figure from it is MODELED.
 *
 * Energy: E = C V^2 / 2 in the capacitor; harvested power flows in (capped
 * at v_on: the charger stops there); the MCU's power P draws P / efficiency
 * out. The MCU is off (draws nothing) from brown-out until v_on again. */
#ifndef REEF_ENERGY_HARVEST_H
#define REEF_ENERGY_HARVEST_H

#include "util/err.h"

typedef struct reef_harvest_load {
    int nunits;
    const double *unit_uj;    /* (nunits) a unit's steps */
    const double *commit_uj;  /* (nunits + 1) point c's commit; 0 = the input's capture */
    const double *restore_uj; /* (nunits + 1) restoring point c after a boot */
    double boot_uj;           /* reset to main() */
    double run_mw;            /* power while on and busy */
    double sleep_mw;          /* waiting for the next inference */
} reef_harvest_load;

/* Harvested power: constant_mw, or a trace (n > 0): power mw[i] from
 * t_s[i] on (t_s increasing, t_s[0] = 0); the last value holds. */
typedef struct reef_harvest_source {
    double constant_mw;
    const double *t_s, *mw;
    int n;
} reef_harvest_source;

typedef struct reef_harvest_config {
    double capacitor_f, v_on, v_off, v_start, efficiency;
    double duration_s;     /* simulated time */
    double period_s;       /* one inference starts every period_s (0: back to back) */
    int max_inferences;    /* stop after this many (0: no limit) */
} reef_harvest_config;

typedef struct reef_harvest_result {
    int inferences;
    double first_result_s;   /* -1: none within duration_s */
    double inferences_per_hour;
    long power_failures;     /* brown-outs while on */
    double reboots_per_inference;
    int never_charges;       /* the capacitor never reached v_on */
    int no_progress;         /* a unit fails even from a full charge */
    /* energy drawn from the capacitor, uJ */
    double e_units, e_commits, e_boot, e_restore, e_lost, e_sleep, e_total, e_harvested;
    double sim_s;            /* time simulated */
} reef_harvest_result;

/* Called at every event: time, capacitor voltage, progress (inferences
 * done + fraction of the current one). */
typedef void (*reef_harvest_sample_fn)(void *ctx, double t_s, double v, double progress);

int reef_harvest_simulate(const reef_harvest_load *load, const reef_harvest_source *src,
                          const reef_harvest_config *cfg, reef_harvest_result *res, reef_harvest_sample_fn sample,
                          void *ctx, reef_error *err);

/* Reads a trace: lines "TIME_S POWER_MW" ('#' comments), times from 0,
 * increasing; powers >= 0. *t_s and *mw malloc'd. Names the file and line
 * of anything wrong. */
int reef_harvest_read_trace(const char *path, double **t_s, double **mw, int *n, reef_error *err);

#endif
