/* The harvested-energy simulator (harvest.h). */
#include "energy/harvest.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct sim {
    const reef_harvest_load *load;
    const reef_harvest_source *src;
    const reef_harvest_config *cfg;
    reef_harvest_result *res;
    reef_harvest_sample_fn sample;
    void *ctx;
    double t, e;          /* time (s), capacitor energy (uJ) */
    double e_on, e_off;
    int point;            /* committed progress of the current job */
    int job_started;      /* its input is captured */
} sim;

/* Harvested power at t and until when it holds. */
static double power_at(const reef_harvest_source *s, double t, double *until)
{
    if (s->n <= 0) {
        *until = INFINITY;
        return s->constant_mw;
    }
    int i = 0;
    while (i + 1 < s->n && s->t_s[i + 1] <= t) i++;
    *until = i + 1 < s->n ? s->t_s[i + 1] : INFINITY;
    return s->mw[i];
}

static double volts(const sim *s) { return sqrt(2.0 * s->e * 1e-6 / s->cfg->capacitor_f); }

static void emit(sim *s)
{
    if (!s->sample) return;
    double progress = s->res->inferences + (s->load->nunits ? (double)s->point / s->load->nunits : 0);
    s->sample(s->ctx, s->t, volts(s), progress);
}

/* Draws `work` uJ at load power p_mw (plus harvest) from now; returns 1 if
 * done, 0 if the capacitor fell to v_off first (then *spent is what was
 * drawn) or the simulated time ran out (-1). */
static int draw(sim *s, double work, double p_mw, double *spent)
{
    if (work <= 0) return *spent = 0, 1;
    if (p_mw <= 0) p_mw = 1e-9; /* an idle load: time passes, nothing drawn to speak of */
    double left = work / (p_mw * 1e-3) * 1e-6; /* seconds of load still to run */
    double out = p_mw / s->cfg->efficiency * 1e-3; /* uJ per us = W */
    *spent = 0;
    while (left > 0) {
        if (s->t >= s->cfg->duration_s) return -1;
        double until, in = power_at(s->src, s->t, &until) * 1e-3;
        double dt = fmin(left, fmin(until, s->cfg->duration_s) - s->t);
        double rate = (in - out) * 1e6;                 /* uJ per s */
        s->res->e_harvested += in * 1e6 * dt;
        if (rate < 0 && s->e + rate * dt <= s->e_off) { /* brown-out inside */
            double tf = (s->e - s->e_off) / -rate;
            s->t += tf;
            s->e = s->e_off;
            *spent += p_mw * 1e-3 * 1e6 * tf;
            s->res->e_harvested -= in * 1e6 * (dt - tf);
            return 0;
        }
        s->e = fmin(s->e + rate * dt, s->e_on);
        s->t += dt;
        *spent += p_mw * 1e-3 * 1e6 * dt;
        left -= dt;
    }
    return 1;
}

/* Off: charge to v_on. Returns 0, or -1 when it never gets there. */
static int charge(sim *s)
{
    while (s->e < s->e_on) {
        if (s->t >= s->cfg->duration_s) return -1;
        double until, in = power_at(s->src, s->t, &until) * 1e-3 * 1e6; /* uJ/s */
        double end = fmin(until, s->cfg->duration_s);
        if (in <= 0) {
            if (isinf(until)) return -1;
            s->t = end;
            continue;
        }
        double need = (s->e_on - s->e) / in;
        double dt = fmin(need, end - s->t);
        s->e = dt == need ? s->e_on : s->e + in * dt;
        s->res->e_harvested += in * dt;
        s->t += dt;
    }
    emit(s);
    return 0;
}

static void failed(sim *s, double spent)
{
    s->res->e_lost += spent;
    s->res->power_failures++;
    emit(s);
}

/* One power-on: boot, restore or capture, units until the end or a
 * brown-out. Returns 1 when a brown-out ended it, 0 at the time limit. */
static int power_on(sim *s, int *progressed)
{
    const reef_harvest_load *L = s->load;
    double spent;
    int r;
    *progressed = 0;
    if ((r = draw(s, L->boot_uj, L->run_mw, &spent)) <= 0) return r < 0 ? 0 : (failed(s, spent), 1);
    s->res->e_boot += spent;
    if (s->job_started) {
        if ((r = draw(s, L->restore_uj[s->point], L->run_mw, &spent)) <= 0) return r < 0 ? 0 : (failed(s, spent), 1);
        s->res->e_restore += spent;
    }
    for (;;) {
        if (!s->job_started) {
            if ((r = draw(s, L->commit_uj[0], L->run_mw, &spent)) <= 0) return r < 0 ? 0 : (failed(s, spent), 1);
            s->res->e_commits += spent;
            s->job_started = 1, s->point = 0, *progressed = 1;
        }
        while (s->point < L->nunits) {
            double work = L->unit_uj[s->point], commit = L->commit_uj[s->point + 1];
            if ((r = draw(s, work + commit, L->run_mw, &spent)) <= 0) return r < 0 ? 0 : (failed(s, spent), 1);
            s->res->e_units += work, s->res->e_commits += commit;
            s->point++, *progressed = 1;
            emit(s);
        }
        s->res->inferences++;
        if (s->res->first_result_s < 0) s->res->first_result_s = s->t;
        s->job_started = 0, s->point = 0;
        emit(s);
        if (s->cfg->max_inferences && s->res->inferences >= s->cfg->max_inferences) return 0;
        if (s->cfg->period_s > 0) { /* sleep until the next start */
            double next = s->res->inferences * s->cfg->period_s;
            if (next > s->t) {
                double p = s->load->sleep_mw > 0 ? s->load->sleep_mw : 1e-9;
                r = draw(s, p * 1e-3 * (next - s->t) * 1e6, p, &spent);
                s->res->e_sleep += spent;
                if (r <= 0) return r < 0 ? 0 : (emit(s), 1);
            }
        }
    }
}

int reef_harvest_simulate(const reef_harvest_load *load, const reef_harvest_source *src,
                          const reef_harvest_config *cfg, reef_harvest_result *res, reef_harvest_sample_fn sample,
                          void *ctx, reef_error *err)
{
    if (!(cfg->capacitor_f > 0) || !(cfg->v_off > 0) || !(cfg->v_on > cfg->v_off) || !(cfg->efficiency > 0) ||
        cfg->efficiency > 1 || !(cfg->duration_s > 0) || cfg->v_start < 0 || load->nunits <= 0 || !(load->run_mw > 0))
        return reef_fail(err, "harvest: impossible settings (capacitor %g F, v_on %g V, v_off %g V, efficiency %g)",
                         cfg->capacitor_f, cfg->v_on, cfg->v_off, cfg->efficiency);
    memset(res, 0, sizeof *res);
    res->first_result_s = -1;
    sim s = {load, src, cfg, res, sample, ctx, 0, 0, 0, 0, 0, 0};
    s.e_on = 0.5 * cfg->capacitor_f * cfg->v_on * cfg->v_on * 1e6;
    s.e_off = 0.5 * cfg->capacitor_f * cfg->v_off * cfg->v_off * 1e6;
    s.e = fmin(0.5 * cfg->capacitor_f * cfg->v_start * cfg->v_start * 1e6, s.e_on);
    emit(&s);
    int stuck = 0;
    for (;;) {
        if (charge(&s)) break;
        int progressed;
        if (!power_on(&s, &progressed)) break;
        /* the same point failing again from a full charge: no progress */
        stuck = progressed ? 0 : stuck + 1;
        if (stuck >= 3 && src->n <= 0) {
            res->no_progress = 1;
            break;
        }
        if (stuck >= 1000) {
            res->no_progress = 1;
            break;
        }
    }
    res->sim_s = fmin(s.t, cfg->duration_s);
    /* never on: no inference, no brown-out, and the last charge fell short */
    if (res->inferences == 0 && res->power_failures == 0 && s.e < s.e_on) res->never_charges = 1;
    res->e_total = res->e_units + res->e_commits + res->e_boot + res->e_restore + res->e_lost + res->e_sleep;
    res->inferences_per_hour = res->sim_s > 0 ? res->inferences * 3600.0 / res->sim_s : 0;
    res->reboots_per_inference = res->inferences ? (double)res->power_failures / res->inferences : 0;
    return 0;
}

int reef_harvest_read_trace(const char *path, double **t_s, double **mw, int *n, reef_error *err)
{
    FILE *fp = fopen(path, "r");
    if (!fp) return reef_fail(err, "%s: cannot read the power trace", path);
    char line[512];
    int cap = 0, lineno = 0;
    *t_s = NULL, *mw = NULL, *n = 0;
    while (fgets(line, sizeof line, fp)) {
        lineno++;
        char *p = line;
        while (*p == ' ' || *p == '\t') p++;
        if (*p == '#' || *p == '\n' || *p == '\r' || !*p) continue;
        double t, w;
        char extra;
        if (sscanf(p, "%lf %lf %c", &t, &w, &extra) != 2 || !isfinite(t) || !isfinite(w) || w < 0 ||
            (*n == 0 && t != 0) || (*n > 0 && t <= (*t_s)[*n - 1])) {
            fclose(fp);
            free(*t_s), free(*mw);
            *t_s = *mw = NULL;
            return reef_fail(err, "%s:%d: want 'TIME_S POWER_MW' (times from 0, increasing; power >= 0)", path, lineno);
        }
        if (*n == cap) {
            cap = cap ? 2 * cap : 256;
            double *a = realloc(*t_s, (size_t)cap * sizeof *a), *b = a ? realloc(*mw, (size_t)cap * sizeof *b) : NULL;
            if (!a || !b) {
                fclose(fp);
                free(a ? a : *t_s), free(*mw);
                *t_s = *mw = NULL;
                return reef_fail(err, "out of memory");
            }
            *t_s = a, *mw = b;
        }
        (*t_s)[*n] = t, (*mw)[*n] = w, (*n)++;
    }
    fclose(fp);
    if (*n == 0) return reef_fail(err, "%s: no 'TIME_S POWER_MW' lines", path);
    return 0;
}
