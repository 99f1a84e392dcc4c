/* reef harvest: a model's intermittent schedule on harvested power (the
 * capacitor's voltage over time, inferences per hour), modeled with
 * src/energy/harvest.c. docs/intermittent.md. */
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "codegen/lower.h"
#include "energy/harvest.h"
#include "intermittent.h"
#include "tflite/graph.h"
#include "util/io.h"
#include "util/json.h"
#include "util/table.h"

static void usage(FILE *fp)
{
    fprintf(fp,
            "usage: reef harvest --model M.tflite [--power P | --trace FILE] [options]\n\n"
            "Simulates the model's intermittent schedule (reef gen --intermittent) on\n"
            "harvested power: the storage capacitor charges; at --v-on the MCU boots,\n"
            "restores, runs units and commits them; at --v-off it browns out and loses\n"
            "the unit in progress. Prints time to the first result, inferences per hour,\n"
            "power failures per inference and where the energy went. All figures are\n"
            "modeled (device profile, step cycles, NVM costs).\n\n"
            "  --power P         harvested power, constant (default 2m = 2 mW); several\n"
            "                    comma-separated values give one row each (1m,2m,5m)\n"
            "  --trace FILE      harvested power over time: lines 'TIME_S POWER_MW'\n"
            "  --capacitor C     storage capacitor (default 100u)\n"
            "  --v-on V, --v-off V  turn-on and brown-out voltages (default 3.0, 1.8)\n"
            "  --profile P       device profile (default stm32l4r5: 120 MHz, 1.9 V)\n"
            "  --nvm fram|flash  the NVM (default fram)\n"
            "  --memory MODE     fast (default), balanced or min: the schedule `reef gen\n"
            "                    --intermittent --memory MODE` ships; steps in place or row by\n"
            "                    row that do not fit one charge fall back to layer by layer\n"
            "  --step-cycles F   each step's cycles: default measured on qemu-m4 (cached),\n"
            "                    F a file of `reef run --step-cycles`, or 'estimate' (reef gen)\n"
            "  --duration S      simulated time in seconds (default 3600)\n"
            "  --period S        start an inference every S seconds, sleeping between\n"
            "                    (default 0: back to back)\n"
            "  --plot FILE.svg   gnuplot plot of voltage and progress (first power; the\n"
            "                    first --plot-seconds, default 60)\n"
            "  --json            print the result as JSON\n");
}

typedef struct hargs {
    const char *model, *trace, *plot, *powers;
    double duration, period, plot_s;
    int json;
    reef_lower_options lower;
    power_opts po;
} hargs;

typedef struct samples {
    double *t, *v, *p;
    int n, cap;
    double until_s; /* the plot shows the first seconds only */
} samples;

static void on_sample(void *ctx, double t, double v, double progress)
{
    samples *s = ctx;
    if (t > s->until_s) return;
    if (s->n == s->cap) {
        int cap = s->cap ? 2 * s->cap : 4096;
        double *a = realloc(s->t, (size_t)cap * sizeof *a);
        if (a) s->t = a;
        double *b = realloc(s->v, (size_t)cap * sizeof *b);
        if (b) s->v = b;
        double *c = realloc(s->p, (size_t)cap * sizeof *c);
        if (c) s->p = c;
        if (!a || !b || !c) return;
        s->cap = cap;
    }
    s->t[s->n] = t, s->v[s->n] = v, s->p[s->n] = progress, s->n++;
}

static int parse(int argc, char **argv, hargs *a)
{
    static const struct option opts[] = {
        {"model", required_argument, NULL, 'm'}, {"power", required_argument, NULL, 'w'},
        {"trace", required_argument, NULL, 't'}, {"plot", required_argument, NULL, 'o'},
        {"duration", required_argument, NULL, 'D'}, {"period", required_argument, NULL, 'T'},
        {"capacitor", required_argument, NULL, 'P'}, {"v-on", required_argument, NULL, 'P'},
        {"v-off", required_argument, NULL, 'P'}, {"profile", required_argument, NULL, 'P'},
        {"nvm", required_argument, NULL, 'P'}, {"efficiency", required_argument, NULL, 'P'},
        {"step-cycles", required_argument, NULL, 'P'},
        {"plot-seconds", required_argument, NULL, 'S'}, {"memory", required_argument, NULL, 'M'},
        {"json", no_argument, NULL, 'j'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    int c, idx = 0;
    memset(a, 0, sizeof *a);
    a->powers = "2m", a->duration = 3600, a->plot_s = 60;
    a->lower.memory = REEF_MEMORY_FAST;
    power_opts_default(&a->po);
    a->po.capacitor_f = 100e-6;
    int power_given = 0;
    while ((c = getopt_long(argc, argv, "h", opts, &idx)) != -1) {
        if (c == 'm') a->model = optarg;
        else if (c == 'w') a->powers = optarg, power_given = 1;
        else if (c == 't') a->trace = optarg;
        else if (c == 'o') a->plot = optarg;
        else if (c == 'j') a->json = 1, a->po.quiet = 1;
        else if (c == 'M') {
            int mode = reef_memory_mode_parse(optarg);
            if (mode < 0) return cli_error("harvest", "--memory '%s': expected fast, balanced or min", optarg), 2;
            a->lower.memory = (reef_memory_mode)mode;
        } else if (c == 'P') {
            if (power_opts_parse("harvest", &a->po, opts[idx].name, optarg) < 0) return 2;
        } else if (c == 'D') {
            if (cli_parse_double("harvest", "--duration", optarg, &a->duration) || !(a->duration > 0))
                return cli_error("harvest", "--duration wants a positive number of seconds"), 2;
        } else if (c == 'S') {
            if (cli_parse_double("harvest", "--plot-seconds", optarg, &a->plot_s) || !(a->plot_s > 0))
                return cli_error("harvest", "--plot-seconds wants a positive number"), 2;
        } else if (c == 'T') {
            if (cli_parse_double("harvest", "--period", optarg, &a->period) || a->period < 0)
                return cli_error("harvest", "--period wants seconds >= 0"), 2;
        } else if (c == 'h') return usage(stdout), 0;
        else return usage(stderr), 2;
    }
    if (optind != argc || !a->model) return usage(stderr), 2;
    if (a->trace && power_given) return cli_error("harvest", "--power and --trace exclude each other"), 2;
    if (!(a->po.capacitor_f > 0)) return cli_error("harvest", "--capacitor must be above 0"), 2;
    if (power_opts_check("harvest", &a->po)) return 2;
    return -1;
}

/* The plot: data file and gnuplot script beside it, SVG renamed into place. */
static int write_plot(const char *path, const samples *s, const char *title, reef_error *err)
{
    char data[4200], script[4200], tmp[4200], cmd[13000];
    snprintf(data, sizeof data, "%s.dat", path);
    snprintf(script, sizeof script, "%s.gp", path);
    snprintf(tmp, sizeof tmp, "%s.tmp.svg", path);
    FILE *fp = fopen(data, "w");
    if (!fp) return reef_fail(err, "%s: cannot write", data);
    fprintf(fp, "# time_s capacitor_V progress_inferences\n");
    for (int i = 0; i < s->n; i++) fprintf(fp, "%.6f %.4f %.4f\n", s->t[i], s->v[i], s->p[i]);
    fclose(fp);
    fp = fopen(script, "w");
    if (!fp) return remove(data), reef_fail(err, "%s: cannot write", script);
    fprintf(fp,
            "set terminal svg size 900,450\nset output '%s'\nset title '%s'\nset xlabel 'time (s, modeled)'\n"
            "set ylabel 'capacitor voltage (V)'\nset y2label 'inferences done'\nset ytics nomirror\nset y2tics\n"
            "set key left top\nplot '%s' using 1:2 with lines title 'voltage', '%s' using 1:3 axes x1y2 with "
            "lines title 'progress'\n",
            tmp, title, data, data);
    fclose(fp);
    snprintf(cmd, sizeof cmd, "gnuplot '%s' 2>/dev/null", script);
    int rc = system(cmd);
    remove(script), remove(data);
    if (rc != 0) {
        remove(tmp);
        return reef_fail(err, "gnuplot failed to draw %s (is it installed? scripts/deps.sh)", path);
    }
    if (rename(tmp, path)) return remove(tmp), reef_fail(err, "%s: cannot write", path);
    return 0;
}

typedef struct row {
    double power_mw;
    reef_harvest_result r;
} row;

static void print_rows(const hargs *a, const row *rows, int n, const reef_intermittent_plan *p, double run_mw,
                       size_t arena_bytes)
{
    if (a->json) {
        reef_json j;
        reef_json_begin(&j, stdout);
        reef_json_object(&j);
        reef_json_kv_string(&j, "model", a->model);
        reef_json_kv_number(&j, "capacitor_uf", a->po.capacitor_f * 1e6);
        reef_json_kv_number(&j, "v_on", a->po.v_on);
        reef_json_kv_number(&j, "v_off", a->po.v_off);
        reef_json_kv_int(&j, "units", p->nunits);
        reef_json_kv_string(&j, "memory", reef_memory_mode_name(a->lower.memory));
        reef_json_kv_int(&j, "arena_bytes", (int64_t)arena_bytes);
        reef_json_kv_number(&j, "run_mw", run_mw);
        reef_json_key(&j, "rows");
        reef_json_array(&j);
        for (int i = 0; i < n; i++) {
            const reef_harvest_result *r = &rows[i].r;
            reef_json_object(&j);
            if (a->trace) reef_json_kv_string(&j, "trace", a->trace);
            else reef_json_kv_number(&j, "harvest_mw", rows[i].power_mw);
            reef_json_kv_number(&j, "first_result_s", r->first_result_s);
            reef_json_kv_number(&j, "inferences_per_hour", r->inferences_per_hour);
            reef_json_kv_int(&j, "inferences", r->inferences);
            reef_json_kv_number(&j, "reboots_per_inference", r->reboots_per_inference);
            reef_json_kv_number(&j, "share_lost_to_reexecution", r->e_total > 0 ? r->e_lost / r->e_total : 0);
            reef_json_kv_number(&j, "share_commits", r->e_total > 0 ? r->e_commits / r->e_total : 0);
            reef_json_kv_number(&j, "share_boot_restore", r->e_total > 0 ? (r->e_boot + r->e_restore) / r->e_total : 0);
            reef_json_kv_int(&j, "never_charges", r->never_charges);
            reef_json_kv_int(&j, "no_progress", r->no_progress);
            reef_json_end(&j);
        }
        reef_json_end(&j);
        reef_json_end(&j);
        reef_json_finish(&j);
        return;
    }
    printf("%s on %g uF (%.2f V on, %.2f V off), %d units, --memory %s (arena %zu B), MCU %.1f mW while on; all "
           "figures modeled over %g s\n\n",
           a->model, a->po.capacitor_f * 1e6, a->po.v_on, a->po.v_off, p->nunits, reef_memory_mode_name(a->lower.memory),
           arena_bytes, run_mw, a->duration);
    reef_table t;
    reef_table_init(&t, "harvest", ">first result", ">inferences/hour", ">failures/inference", ">lost to re-execution",
                    ">commits", ">boot+restore", NULL);
    for (int i = 0; i < n; i++) {
        const reef_harvest_result *r = &rows[i].r;
        double tot = r->e_total > 0 ? r->e_total : 1;
        if (a->trace) reef_table_cell(&t, "%s", a->trace);
        else reef_table_cell(&t, "%g mW", rows[i].power_mw);
        if (r->first_result_s >= 0) reef_table_cell(&t, "%.3f s", r->first_result_s);
        else reef_table_cell(&t, "never");
        reef_table_cell(&t, "%.0f", r->inferences_per_hour);
        reef_table_cell(&t, "%.2f", r->reboots_per_inference);
        reef_table_cell(&t, "%.1f%%", 100 * r->e_lost / tot);
        reef_table_cell(&t, "%.1f%%", 100 * r->e_commits / tot);
        reef_table_cell(&t, "%.1f%%", 100 * (r->e_boot + r->e_restore) / tot);
    }
    reef_table_print(&t, stdout, NULL);
    for (int i = 0; i < n; i++) {
        const reef_harvest_result *r = &rows[i].r;
        if (r->never_charges)
            printf("never finishes at %g mW: the capacitor never charges to %.2f V\n", rows[i].power_mw, a->po.v_on);
        else if (r->no_progress)
            printf("never finishes at %g mW: a unit fails even from a full charge\n", rows[i].power_mw);
        else if (r->inferences == 0)
            printf("no result within %g s at %g mW\n", a->duration, rows[i].power_mw);
    }
}

static int simulate(const hargs *a, reef_error *err)
{
    reef_graph g;
    reef_lowered_model m;
    reef_intermittent_plan plan = {0};
    reef_intermittent_options io;
    reef_device_profile prof;
    double *tt = NULL, *tw = NULL, powers[16];
    int ntrace = 0, npowers = 0, rc = -1;
    row rows[16];
    samples s = {0};
    s.until_s = a->plot_s;
    /* inputs first: nothing is simulated (or written) on bad input */
    if (a->trace) {
        if (reef_harvest_read_trace(a->trace, &tt, &tw, &ntrace, err)) return -1;
        npowers = 1, powers[0] = 0;
    } else {
        char buf[256], *save = NULL;
        snprintf(buf, sizeof buf, "%s", a->powers);
        for (char *tok = strtok_r(buf, ",", &save); tok && npowers < 16; tok = strtok_r(NULL, ",", &save)) {
            double w;
            if (cli_parse_si("harvest", "--power", tok, &w)) return reef_fail(err, "bad --power"), -1;
            if (w < 0) return reef_fail(err, "--power %s: harvested power cannot be negative", tok);
            powers[npowers++] = w * 1e3; /* W -> mW */
        }
    }
    if (reef_tflite_read(a->model, &g, err)) goto out_trace;
    if (reef_lower_with(&g, &a->lower, &m, err)) {
        reef_graph_free(&g);
        reef_fail_wrap(err, "%s", a->model);
        goto out_trace;
    }
    int fell_back;
    if (power_plan_memory("harvest", &a->po, &g, &a->lower, &m, &prof, &io, &plan, &fell_back)) {
        reef_fail(err, "no schedule for this capacitor (above); nothing simulated");
        goto done;
    }
    reef_energy_estimate run;
    reef_energy_estimate_cycles(&prof, 1, &run);
    double sleep_mw = prof.supply_v * prof.stop_ua / 1000.0;
    reef_harvest_load L = {plan.nunits, plan.unit_uj, plan.commit_uj, plan.restore_uj, io.costs.boot_uj,
                           run.power_mw, sleep_mw};
    reef_harvest_config c = {a->po.capacitor_f, a->po.v_on, a->po.v_off, 0, a->po.efficiency, a->duration, a->period, 0};
    for (int i = 0; i < npowers; i++) {
        reef_harvest_source src = {powers[i], tt, tw, ntrace};
        rows[i].power_mw = powers[i];
        if (reef_harvest_simulate(&L, &src, &c, &rows[i].r, i == 0 && a->plot ? on_sample : NULL, &s, err)) goto done;
    }
    if (a->plot) {
        char title[512];
        snprintf(title, sizeof title, "%s: %g uF, %s (modeled)", a->model, a->po.capacitor_f * 1e6,
                 a->trace ? a->trace : "constant harvest");
        for (char *q = title; *q; q++)
            if (*q == '\'' || *q == '_') *q = ' ';
        if (write_plot(a->plot, &s, title, err)) goto done;
    }
    print_rows(a, rows, npowers, &plan, run.power_mw, m.arena_size);
    rc = 0;
done:
    reef_intermittent_plan_free(&plan);
    reef_lowered_free(&m);
    reef_graph_free(&g);
out_trace:
    free(tt), free(tw), free(s.t), free(s.v), free(s.p);
    return rc;
}

int cmd_harvest(int argc, char **argv)
{
    hargs a;
    int rc = parse(argc, argv, &a);
    if (rc >= 0) return rc;
    reef_error err = {{0}};
    if (simulate(&a, &err)) return cli_error("harvest", "%s", err.msg);
    return 0;
}
