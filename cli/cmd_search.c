/* reef search: ProxylessNAS on a dataset under flash, RAM, latency and
 * energy targets (src/nas/search.h); writes the derived architecture spec
 * that `reef train --arch` takes. */
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "data/dataset.h"
#include "energy/profile.h"
#include "nas/cost.h"
#include "profile/profile_ops.h"
#include "nas/search.h"
#include "util/io.h"
#include "util/json.h"
#include "util/progress.h"
#include "util/table.h"

static void usage(FILE *fp)
{
    fprintf(fp,
            "usage: reef search --train TRAIN.ds --val VAL.ds -o ARCH [targets] [options]\n\n"
            "Hardware-aware architecture search (ProxylessNAS: binary gates, one sampled path\n"
            "per step) over the space of docs/search-space.md, with costs from the emulated\n"
            "Cortex-M4 (`reef profile-ops`). Writes the derived spec (for reef train --arch),\n"
            "ARCH.log.csv (per epoch), ARCH.candidates.csv and ARCH.svg (accuracy against\n"
            "modeled latency of the networks sampled).\n\n"
            "targets (0 or absent: none):\n"
            "  --max-flash KB  --max-ram KB  --max-latency-ms MS  --max-energy-mj MJ\n"
            "  --clock MHZ         core clock for latency and energy (default: the profile's)\n"
            "  --profile NAME      device profile (default stm32l4r5)\n"
            "options:\n"
            "  --costs TABLE       cost table (default reef-costs-PROFILE.table; profiled\n"
            "                      on the emulator first when missing)\n"
            "  --warmup-epochs N   supernet warm-up epochs, uniform paths (default 20)\n"
            "  --epochs N          alternating search epochs (default 40)\n"
            "  --batch N           (default 64)\n"
            "  --width W           force a width multiplier (0.5, 0.75, 1); default: chosen\n"
            "  --resolution R      force the resolution (32 or 16 for 32x32 input)\n"
            "  --lambda L          weight of the soft resource penalty (default 1)\n"
            "  --seed N            (default 1)\n"
            "  --threads N         threads training the supernet (default 2, as reef train);\n"
            "                      same seed and threads: the same result\n"
            "  --name NAME         name in the spec (default: ARCH's base name)\n"
            "  --no-measure        skip measuring the derived network on the emulator\n"
            "  --json              one JSON object on stdout\n"
            "Exit status 1 when the derived network cannot meet a target (it says which).\n");
}

typedef struct search_args {
    const char *train, *val, *out, *costs, *profile, *name;
    reef_nas_budget tg;
    double clock;
    reef_nas_search_cfg cfg;
    int resolution, measure, json;
    char cmdline[1024];
} search_args;

static int parse_num(const char *opt, const char *text, double *v)
{
    if (cli_parse_double("search", opt, text, v)) return -1;
    if (*v < 0) return cli_error("search", "%s wants a number >= 0, not '%s'", opt, text), -1;
    return 0;
}

static int parse_args(int argc, char **argv, search_args *a)
{
    static const struct option opts[] = {
        {"train", required_argument, 0, 't'},      {"val", required_argument, 0, 'v'},
        {"output", required_argument, 0, 'o'},     {"costs", required_argument, 0, 'C'},
        {"profile", required_argument, 0, 'p'},    {"max-flash", required_argument, 0, 'F'},
        {"max-ram", required_argument, 0, 'R'},    {"max-latency-ms", required_argument, 0, 'L'},
        {"max-energy-mj", required_argument, 0, 'E'}, {"clock", required_argument, 0, 'c'},
        {"warmup-epochs", required_argument, 0, 'w'}, {"epochs", required_argument, 0, 'e'},
        {"batch", required_argument, 0, 'b'},      {"width", required_argument, 0, 'W'},
        {"resolution", required_argument, 0, 'r'}, {"lambda", required_argument, 0, 'l'},
        {"seed", required_argument, 0, 's'},       {"name", required_argument, 0, 'n'},
        {"threads", required_argument, 0, 'T'},
        {"no-measure", no_argument, 0, 'M'},       {"json", no_argument, 0, 'j'},
        {"help", no_argument, 0, 'h'},             {0, 0, 0, 0}};
    memset(a, 0, sizeof *a);
    a->profile = "stm32l4r5", a->measure = 1;
    reef_nas_search_cfg_default(&a->cfg);
    int at = snprintf(a->cmdline, sizeof a->cmdline, "reef");
    for (int i = 0; i < argc && at < (int)sizeof a->cmdline; i++)
        at += snprintf(a->cmdline + at, sizeof a->cmdline - (size_t)at, " %s", argv[i]);
    long v;
    double d;
    int ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
        switch (ch) {
        case 't': a->train = optarg; break;
        case 'v': a->val = optarg; break;
        case 'o': a->out = optarg; break;
        case 'C': a->costs = optarg; break;
        case 'p': a->profile = optarg; break;
        case 'n': a->name = optarg; break;
        case 'F': if (parse_num("--max-flash", optarg, &a->tg.max_flash_kb)) return -1; break;
        case 'R': if (parse_num("--max-ram", optarg, &a->tg.max_ram_kb)) return -1; break;
        case 'L': if (parse_num("--max-latency-ms", optarg, &a->tg.max_latency_ms)) return -1; break;
        case 'E': if (parse_num("--max-energy-mj", optarg, &a->tg.max_energy_mj)) return -1; break;
        case 'c':
            if (parse_num("--clock", optarg, &a->clock)) return -1;
            if (a->clock < 1 || a->clock > 1000) return cli_error("search", "--clock wants MHz from 1 to 1000, not '%s'", optarg), -1;
            break;
        case 'w': if (cli_parse_int("search", "--warmup-epochs", optarg, 0, 1000, &v)) return -1; a->cfg.warmup_epochs = (int)v; break;
        case 'e': if (cli_parse_int("search", "--epochs", optarg, 0, 1000, &v)) return -1; a->cfg.search_epochs = (int)v; break;
        case 'b': if (cli_parse_int("search", "--batch", optarg, 1, 4096, &v)) return -1; a->cfg.batch = (int)v; break;
        case 'W':
            if (parse_num("--width", optarg, &d)) return -1;
            a->cfg.width = (float)d;
            break;
        case 'r': if (cli_parse_int("search", "--resolution", optarg, 1, 4096, &v)) return -1; a->resolution = (int)v; break;
        case 'l': if (parse_num("--lambda", optarg, &d)) return -1; a->cfg.lambda = (float)d; break;
        case 's': if (cli_parse_int("search", "--seed", optarg, 0, 1L << 30, &v)) return -1; a->cfg.seed = (uint64_t)v; break;
        case 'T': if (cli_parse_int("search", "--threads", optarg, 1, REEF_MAX_THREADS, &v)) return -1; a->cfg.threads = (int)v; break;
        case 'M': a->measure = 0; break;
        case 'j': a->json = 1; break;
        case 'h': usage(stdout); return 1;
        default: usage(stderr); return -1;
        }
    }
    if (optind < argc) return cli_error("search", "unexpected argument '%s'", argv[optind]), -1;
    if (!a->train || !a->val || !a->out) return cli_error("search", "--train, --val and -o are required (see --help)"), -1;
    return 0;
}

/* ---- costs ------------------------------------------------------------------------------ */

static void on_profiled(void *ctx, int done, int total)
{
    (void)total;
    reef_progress *p = ctx;
    reef_progress_update(p, p->done + 1);
    (void)done;
}

/* Loads the table, profiling every space first when the file is missing. */
static int load_costs(const search_args *a, const reef_device_profile *prof, const reef_dataset *ds,
                      reef_nas_table *t, const char *path, reef_error *err)
{
    FILE *fp = fopen(path, "r");
    if (fp) {
        fclose(fp);
        if (reef_nas_table_load(t, path, err)) return -1;
        char why[256];
        if (!reef_nas_table_current(t, prof, why, sizeof why) && !a->json)
            fprintf(stderr, "reef search: warning: %s is stale (%s); rerun `reef profile-ops -o %s`\n", path, why, path);
        return 0;
    }
    if (!a->json) fprintf(stderr, "reef search: no cost table at %s; profiling the search space on qemu-m4 first\n", path);
    reef_nas_table_init(t);
    reef_progress bar;
    reef_progress_begin(&bar, "profile-ops", "networks", REEF_NAS_NWIDTHS * REEF_NAS_NDOWNS * REEF_NAS_ZERO, !a->json);
    for (int wi = 0; wi < REEF_NAS_NWIDTHS; wi++)
        for (int di = 0; di < REEF_NAS_NDOWNS; di++) {
            reef_nas_space s;
            if (reef_nas_space_init(&s, (int)ds->height, (int)ds->width, (int)ds->channels, (int)ds->num_classes,
                                    reef_nas_widths[wi], reef_nas_downs[di], err) ||
                reef_nas_profile_space(t, &s, prof, NULL, on_profiled, &bar, err)) {
                reef_progress_end(&bar);
                return -1;
            }
        }
    reef_progress_end(&bar);
    reef_nas_table_stamp(t, prof);
    return reef_nas_table_save(t, path, err);
}

/* ---- output -------------------------------------------------------------------------- */

static void print_picks(const reef_nas_space_pick *picks, int n, int best)
{
    reef_table t;
    reef_table_init(&t, "space", ">networks", ">fit targets", ">mean MACs of fitting", "", NULL);
    for (int i = 0; i < n; i++) {
        if (!picks[i].ok) continue;
        char name[32];
        reef_nas_space_text(&picks[i].space, name, sizeof name);
        reef_table_cell(&t, "%s", name);
        reef_table_cell(&t, "%.3g", reef_nas_space_size(&picks[i].space));
        reef_table_cell(&t, "%.1f%%", 100 * picks[i].fit);
        reef_table_cell(&t, "%.0f", picks[i].mean_macs_fit);
        reef_table_cell(&t, "%s", i == best ? "<- chosen" : "");
    }
    reef_table_print(&t, stdout, "space selection (TinyNAS): random networks per space, predicted costs");
    reef_table_free(&t);
}

typedef struct run_ctx {
    reef_progress bar;
    const reef_nas_space *space;
    int json;
    FILE *log;
} run_ctx;

static void on_step(void *ctx, int64_t done, int64_t total)
{
    (void)total;
    reef_progress_update(&((run_ctx *)ctx)->bar, done);
}

static void on_epoch(void *ctx, const reef_nas_epoch *e)
{
    run_ctx *r = ctx;
    char argmax[64];
    reef_nas_choice_text(r->space, e->argmax, argmax, sizeof argmax);
    if (r->log)
        fprintf(r->log, "%d,%s,%.5f,%.5f,%.5f,%.4f,%.3f,%.3f,%s,%.2f\n", e->epoch, e->search ? "search" : "warmup",
                e->loss, e->train_acc, e->val_acc, e->exp_latency_ms, e->exp_flash_kb, e->exp_ram_kb, argmax,
                e->seconds);
    if (r->json) return;
    if (isatty(STDERR_FILENO)) fprintf(stderr, "\r\033[K"); /* the progress bar's line; no codes into a file */
    printf("epoch %3d %-6s loss %.4f train %.2f%% val(paths) %5.2f%%  E[lat] %6.2f ms E[flash] %5.1f KB E[RAM] %5.1f KB  %s  %.0f s\n",
           e->epoch, e->search ? "search" : "warmup", e->loss, 100 * e->train_acc, 100 * e->val_acc, e->exp_latency_ms,
           e->exp_flash_kb, e->exp_ram_kb, argmax, e->seconds);
    fflush(stdout);
}

static int write_candidates(const char *path, const reef_nas_result *r, reef_error *err)
{
    reef_atomic_file af;
    if (reef_atomic_open(&af, path, err)) return -1;
    fprintf(af.fp, "blocks,batches,val_acc,latency_ms,cycles,flash_bytes,ram_bytes,macs\n");
    for (int i = 0; i < r->nseen; i++) {
        const reef_nas_seen *s = &r->seen[i];
        char text[64];
        reef_nas_choice_text(&r->space, s->choice, text, sizeof text);
        fprintf(af.fp, "%s,%d,%.5f,%.4f,%.0f,%lld,%lld,%lld\n", text, s->n, s->total ? s->correct / s->total : 0,
                s->est.latency_ms, s->est.cycles, (long long)s->est.flash, (long long)s->est.ram, (long long)s->est.macs);
    }
    return reef_atomic_commit(&af, err);
}

/* Accuracy against modeled latency of the sampled networks, through gnuplot. */
static int plot(const char *csv, const char *svg, const reef_nas_result *r, const reef_nas_budget *tg, reef_error *err)
{
    char tmp[4400];
    snprintf(tmp, sizeof tmp, "%.4200s.tmp", svg);
    FILE *gp = popen("gnuplot 2>/dev/null", "w");
    if (!gp) return reef_fail(err, "cannot run gnuplot for %s", svg);
    fprintf(gp, "set terminal svg size 800,520 dynamic\nset output '%s'\nset datafile separator ','\n", tmp);
    fprintf(gp, "set title 'reef search: networks sampled (validation batches, supernet weights)'\n");
    fprintf(gp, "set xlabel 'modeled latency on Cortex-M4, ms (cost table)'\nset ylabel 'validation accuracy, %%'\n");
    fprintf(gp, "set key bottom right\nset grid\n");
    if (tg->max_latency_ms > 0) fprintf(gp, "set arrow from %g, graph 0 to %g, graph 1 nohead dt 2\n", tg->max_latency_ms, tg->max_latency_ms);
    fprintf(gp, "plot ");
    if (r->nseen)  // the CSV's rows, after its header line
        fprintf(gp, "'%s' every ::1 using 4:(100*$3):(sqrt($2)/2) with points pt 7 ps variable lc rgb '#4682b4' "
                    "title 'sampled (size ~ batches)', ", csv);
    fprintf(gp, "'-' using 1:2 with points pt 9 ps 2.5 lc rgb '#d62728' title 'derived'\n%g %g\ne\n", r->est.latency_ms,
            100 * r->val_acc);
    int rc = pclose(gp);
    if (rc != 0) {
        remove(tmp);
        return reef_fail(err, "gnuplot failed making %s (status %d)", svg, rc);
    }
    if (rename(tmp, svg)) return reef_fail(err, "cannot rename %s to %s", tmp, svg);
    return 0;
}

static int write_spec(const search_args *a, const reef_nas_result *r, const reef_nas_budget *tg, const char *name,
                      reef_error *err)
{
    reef_arch arch;
    reef_nas_space_arch(&r->space, r->choice, name, &arch);
    char spec[8192], space[32], blocks[64];
    reef_arch_format(&arch, spec, sizeof spec);
    reef_nas_space_text(&r->space, space, sizeof space);
    reef_nas_choice_text(&r->space, r->choice, blocks, sizeof blocks);
    reef_atomic_file af;
    if (reef_atomic_open(&af, a->out, err)) return -1;
    fprintf(af.fp, "# %s: derived by reef search (ProxylessNAS), space %s, blocks %s\n", name, space, blocks);
    fprintf(af.fp, "# command: %s\n", a->cmdline);
    fprintf(af.fp, "# predicted (cost table, %g MHz): %.0f cycles = %.2f ms, %.4f mJ, flash %.1f KB, RAM %.1f KB, %lld MACs\n",
            tg->clock_mhz, r->est.cycles, r->est.latency_ms, r->est.energy_mj, (double)r->est.flash / 1024,
            (double)r->est.ram / 1024, (long long)r->est.macs);
    fprintf(af.fp, "# supernet validation accuracy of this path (BN recalibrated): %.2f%%\n", 100 * r->val_acc);
    if (!r->met) fprintf(af.fp, "# MISSES: %s\n", r->missed);
    fputs(spec, af.fp);
    return reef_atomic_commit(&af, err);
}

static void base_name(const char *path, char *buf, size_t size)
{
    const char *s = strrchr(path, '/');
    s = s ? s + 1 : path;
    snprintf(buf, size, "%s", s);
    char *dot = strrchr(buf, '.');
    if (dot && dot != buf) *dot = '\0';
}

static volatile sig_atomic_t stop_flag;
static void on_sigint(int sig)
{
    (void)sig;
    stop_flag = 1;
}

typedef struct outcome {
    reef_nas_space_pick picks[REEF_NAS_NWIDTHS * REEF_NAS_NDOWNS];
    int best;
    reef_nas_result res;
    int measured;
    reef_nas_measure ms;
    char log_path[4200], cand_path[4200], svg_path[4200];
} outcome;

static void print_result(const outcome *o, const reef_nas_budget *tg, const char *out)
{
    const reef_nas_result *r = &o->res;
    char blocks[64], space[32];
    reef_nas_choice_text(&r->space, r->choice, blocks, sizeof blocks);
    reef_nas_space_text(&r->space, space, sizeof space);
    printf("\nderived: space %s, blocks %s -> %s\n", space, blocks, out);
    printf("supernet validation accuracy of the derived path: %.2f%% (BN recalibrated)\n", 100 * r->val_acc);
    reef_table t;
    reef_table_init(&t, "figure", ">predicted", ">emulated", ">target", NULL);
    reef_table_cell(&t, "cycles");
    reef_table_cell(&t, "%.0f", r->est.cycles);
    reef_table_cell(&t, o->measured ? "%.0f" : "-", o->ms.cycles);
    reef_table_cell(&t, "%s", "");
    reef_table_cell(&t, "latency ms (%g MHz)", tg->clock_mhz);
    reef_table_cell(&t, "%.2f", r->est.latency_ms);
    reef_table_cell(&t, o->measured ? "%.2f" : "-", o->ms.cycles / (tg->clock_mhz * 1e3));
    reef_table_cell(&t, tg->max_latency_ms > 0 ? "%g" : "-", tg->max_latency_ms);
    reef_table_cell(&t, "energy mJ");
    reef_table_cell(&t, "%.4f", r->est.energy_mj);
    reef_table_cell(&t, o->measured ? "%.4f" : "-", o->ms.cycles / (tg->clock_mhz * 1e3) * tg->power_mw * 1e-3);
    reef_table_cell(&t, tg->max_energy_mj > 0 ? "%g" : "-", tg->max_energy_mj);
    reef_table_cell(&t, "flash KB");
    reef_table_cell(&t, "%.1f", (double)r->est.flash / 1024);
    reef_table_cell(&t, o->measured ? "%.1f" : "-", o->ms.mem.flash_total / 1024.0);
    reef_table_cell(&t, tg->max_flash_kb > 0 ? "%g" : "-", tg->max_flash_kb);
    reef_table_cell(&t, "RAM KB");
    reef_table_cell(&t, "%.1f", (double)r->est.ram / 1024);
    reef_table_cell(&t, o->measured ? "%.1f" : "-", o->ms.mem.ram_total / 1024.0);
    reef_table_cell(&t, tg->max_ram_kb > 0 ? "%g" : "-", tg->max_ram_kb);
    reef_table_cell(&t, "MACs");
    reef_table_cell(&t, "%lld", (long long)r->est.macs);
    reef_table_cell(&t, o->measured ? "%lld" : "-", (long long)o->ms.macs);
    reef_table_cell(&t, "%s", "");
    reef_table_print(&t, stdout, "derived network: predicted (cost table) vs emulated (qemu-m4, random weights; cycles modeled)");
    reef_table_free(&t);
    printf("search: %.0f s; log %s, candidates %s, plot %s\n", r->seconds, o->log_path, o->cand_path, o->svg_path);
}

static void print_json(const outcome *o, const reef_nas_budget *tg, const char *out)
{
    const reef_nas_result *r = &o->res;
    char blocks[64], space[32];
    reef_nas_choice_text(&r->space, r->choice, blocks, sizeof blocks);
    reef_nas_space_text(&r->space, space, sizeof space);
    reef_json j;
    reef_json_begin(&j, stdout);
    reef_json_object(&j);
    reef_json_kv_string(&j, "arch", out);
    reef_json_kv_string(&j, "space", space);
    reef_json_kv_string(&j, "blocks", blocks);
    reef_json_kv_bool(&j, "met", r->met);
    reef_json_kv_string(&j, "missed", r->missed);
    reef_json_kv_number(&j, "supernet_val_acc", r->val_acc);
    reef_json_kv_number(&j, "cycles_predicted", r->est.cycles);
    reef_json_kv_number(&j, "latency_ms_predicted", r->est.latency_ms);
    reef_json_kv_number(&j, "energy_mj_predicted", r->est.energy_mj);
    reef_json_kv_int(&j, "flash_predicted", r->est.flash);
    reef_json_kv_int(&j, "ram_predicted", r->est.ram);
    reef_json_kv_int(&j, "macs", r->est.macs);
    if (o->measured) {
        reef_json_kv_number(&j, "cycles_emulated", o->ms.cycles);
        reef_json_kv_number(&j, "latency_ms_emulated", o->ms.cycles / (tg->clock_mhz * 1e3));
        reef_json_kv_int(&j, "flash_elf", o->ms.mem.flash_total);
        reef_json_kv_int(&j, "ram_elf", o->ms.mem.ram_total);
    }
    reef_json_kv_int(&j, "candidates_seen", r->nseen);
    reef_json_kv_number(&j, "seconds", r->seconds);
    reef_json_kv_string(&j, "log", o->log_path);
    reef_json_kv_string(&j, "plot", o->svg_path);
    reef_json_end(&j);
    reef_json_finish(&j);
}

static int run(const search_args *a, const reef_dataset *train,
               const reef_dataset *val, const reef_nas_table *table, outcome *o, reef_error *err)
{
    reef_nas_search_cfg cfg = a->cfg;
    if (a->resolution) cfg.downsample = a->resolution == (int)train->height ? 1 : a->resolution * 2 == (int)train->height ? 2 : -1;
    if (cfg.downsample < 0) return reef_fail(err, "--resolution %d: must be %u or %u", a->resolution, train->height, train->height / 2);
    if (reef_nas_select_space(table, (int)train->height, (int)train->width, (int)train->channels,
                              (int)train->num_classes, &a->tg, &cfg, o->picks, &o->best, err))
        return -1;
    if (!a->json) print_picks(o->picks, REEF_NAS_NWIDTHS * REEF_NAS_NDOWNS, o->best);
    const reef_nas_space *s = &o->picks[o->best].space;
    reef_nas_space_costs sc;
    if (reef_nas_space_costs_get(table, s, &sc, err)) return -1;
    run_ctx rc = {.space = s, .json = a->json};
    /* the log is a temporary beside ARCH.log.csv until the search ends well:
     * a failed or interrupted search leaves no partial log */
    reef_atomic_file log;
    if (reef_atomic_open(&log, o->log_path, err)) return -1;
    rc.log = log.fp;
    fprintf(rc.log, "epoch,phase,loss,train_acc,val_acc_paths,exp_latency_ms,exp_flash_kb,exp_ram_kb,argmax,seconds\n");
    int64_t total = (int64_t)(cfg.warmup_epochs + cfg.search_epochs) * (train->count / (uint32_t)cfg.batch);
    reef_progress_begin(&rc.bar, "search", "steps", total, !a->json);
    reef_nas_hooks hooks = {.step = on_step, .epoch = on_epoch, .stop = &stop_flag, .ctx = &rc};
    int ret = reef_nas_search_run(s, &sc, &a->tg, &cfg, train, val, &hooks, &o->res, err);
    reef_progress_end(&rc.bar);
    if (ret) reef_atomic_abort(&log);
    else ret = reef_atomic_commit(&log, err);
    return ret;
}

/* -o and the files derived from it (ARCH.log.csv, ARCH.candidates.csv,
 * ARCH.svg) are none of the inputs, and their folder is writable: checked
 * before the datasets load. */
static int check_outputs(const search_args *a)
{
    static const char *const ext[] = {"", ".log.csv", ".candidates.csv", ".svg"};
    for (int i = 0; i < 4; i++) {
        char path[4200];
        snprintf(path, sizeof path, "%s%s", a->out, ext[i]);
        if (cli_check_output("search", i ? "the derived" : "-o", path, "--train", a->train, "--val", a->val, "--costs",
                             a->costs, "--profile", a->profile, NULL))
            return 1;
    }
    return 0;
}

int cmd_search(int argc, char **argv)
{
    search_args a;
    int rc = parse_args(argc, argv, &a);
    if (rc) return rc > 0 ? 0 : 2;
    reef_error err;
    if (check_outputs(&a)) return 1;
    reef_device_profile prof;
    if (reef_profile_load(a.profile, &prof, &err)) return cli_error("search", "%s", err.msg);
    if (a.clock > 0) prof.clock_mhz = a.clock;
    a.tg.clock_mhz = prof.clock_mhz;
    a.tg.power_mw = reef_profile_run_power_mw(&prof);
    reef_dataset train, val;
    if (reef_dataset_load(a.train, &train, &err)) return cli_error("search", "%s", err.msg);
    if (reef_dataset_load(a.val, &val, &err)) {
        reef_dataset_free(&train);
        return cli_error("search", "%s", err.msg);
    }
    char costs[256], name[64];
    snprintf(costs, sizeof costs, "reef-costs-%s.table", prof.name);
    base_name(a.out, name, sizeof name);
    outcome *o = calloc(1, sizeof *o);
    reef_nas_table table;
    reef_nas_table_init(&table);
    rc = o ? 0 : reef_fail(&err, "out of memory");
    if (!rc) {
        snprintf(o->log_path, sizeof o->log_path, "%s.log.csv", a.out);
        snprintf(o->cand_path, sizeof o->cand_path, "%s.candidates.csv", a.out);
        snprintf(o->svg_path, sizeof o->svg_path, "%s.svg", a.out);
        rc = load_costs(&a, &prof, &train, &table, a.costs ? a.costs : costs, &err);
    }
    signal(SIGINT, on_sigint);
    if (!rc) rc = run(&a, &train, &val, &table, o, &err);
    signal(SIGINT, SIG_DFL);
    if (!rc) rc = write_spec(&a, &o->res, &a.tg, a.name ? a.name : name, &err);
    if (!rc) rc = write_candidates(o->cand_path, &o->res, &err);
    if (!rc && plot(o->cand_path, o->svg_path, &o->res, &a.tg, &err) && !a.json)
        fprintf(stderr, "reef search: warning: %s\n", err.msg);  // the plot is optional
    if (!rc && a.measure && !strcmp(table.source, "emulated")) {
        reef_arch arch;
        reef_nas_space_arch(&o->res.space, o->res.choice, name, &arch);
        o->measured = !reef_nas_measure_arch(&arch, (int)train.height, (int)train.width, (int)train.channels,
                                             (int)train.num_classes, &prof, NULL, 5, &o->ms, &err);
        if (!o->measured && !a.json) fprintf(stderr, "reef search: warning: measuring the derived network: %s\n", err.msg);
    }
    int status = rc ? cli_error("search", "%s", err.msg) : 0;
    if (!rc) {
        if (a.json) print_json(o, &a.tg, a.out);
        else print_result(o, &a.tg, a.out);
        if (!o->res.met) status = cli_error("search", "the derived network cannot meet every target: %s", o->res.missed);
    }
    if (o) reef_nas_result_free(&o->res);
    free(o);
    reef_nas_table_free(&table);
    reef_dataset_free(&train);
    reef_dataset_free(&val);
    return status;
}
