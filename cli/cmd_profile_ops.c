/* reef profile-ops: the search's cost table, from emulated Cortex-M4 runs
 * of the search space's networks (src/profile/profile_ops.h). */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "energy/profile.h"
#include "nas/cost.h"
#include "profile/profile_ops.h"
#include "util/ranks.h"
#include "nas/space.h"
#include "util/io.h"
#include "util/json.h"
#include "util/progress.h"
#include "util/rng.h"
#include "util/table.h"

static void usage(FILE *fp)
{
    fprintf(fp,
            "usage: reef profile-ops [-o TABLE] [--profile NAME] [--input HxWxC] [--classes N]\n"
            "                        [--analytic] [--check N] [--work DIR] [--json]\n\n"
            "Builds the cost table `reef search` uses: for each op of the search space at\n"
            "each of its shapes (docs/search-space.md), modeled Cortex-M4 cycles from exact\n"
            "emulated instruction counts (qemu-m4, per-step profiling), weight bytes and\n"
            "arena bytes. Six networks per space (36 firmware builds) cover every op.\n\n"
            "  -o, --output TABLE  where to write it (default reef-costs-PROFILE.table)\n"
            "  --profile NAME      device profile (default stm32l4r5): wait states, clock\n"
            "  --input HxWxC       image shape (default 32x32x1)\n"
            "  --classes N         classes (default 2)\n"
            "  --analytic          no emulator: costs from MACs (for trying things out)\n"
            "  --check N           then measure N random networks of the space on the\n"
            "                      emulator and compare with the table's predictions\n"
            "  --costs TABLE       check against this table instead of profiling anew\n"
            "  --check-choice \"wW rR B1 B2 ...\"\n"
            "                      also measure this network (as the check prints it,\n"
            "                      e.g. fish-nas: \"w0.75 r16 zero k7e6 k3e3 k7e3 k3e3 zero\")\n"
            "  --work DIR          keep generated C and firmware there (--work-dir, the old\n"
            "                      spelling, still works, with a note)\n"
            "  --json              one JSON object on stdout\n");
}

typedef struct po_args {
    const char *output, *profile, *work_dir;
    const char *costs;        /* reuse this table instead of profiling */
    const char *check_choice; /* "w0.75 r16 zero k7e6 ...": one network to check */
    int h, w, c, classes, analytic, check, json;
} po_args;

static int parse_shape(const char *text, int *h, int *w, int *c)
{
    char tail;
    return sscanf(text, "%dx%dx%d%c", h, w, c, &tail) == 3 && *h > 0 && *w > 0 && *c > 0 && *c <= 4 ? 0 : -1;
}

static int parse_args(int argc, char **argv, po_args *a)
{
    static const struct option opts[] = {
        {"output", required_argument, 0, 'o'}, {"profile", required_argument, 0, 'p'},
        {"input", required_argument, 0, 'i'},  {"classes", required_argument, 0, 'n'},
        {"analytic", no_argument, 0, 'a'},     {"check", required_argument, 0, 'k'},
        {"work", required_argument, 0, 'd'},   {"json", no_argument, 0, 'j'},
        {"work-dir", required_argument, 0, 'D'},
        {"costs", required_argument, 0, 'c'},  {"check-choice", required_argument, 0, 'x'},
        {"help", no_argument, 0, 'h'},         {0, 0, 0, 0}};
    *a = (po_args){.profile = "stm32l4r5", .h = 32, .w = 32, .c = 1, .classes = 2};
    long v;
    int ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
        switch (ch) {
        case 'o': a->output = optarg; break;
        case 'p': a->profile = optarg; break;
        case 'i':
            if (parse_shape(optarg, &a->h, &a->w, &a->c))
                return cli_error("profile-ops", "--input wants HxWxC (e.g. 32x32x1), not '%s'", optarg), -1;
            break;
        case 'n':
            if (cli_parse_int("profile-ops", "--classes", optarg, 2, 8, &v)) return -1;
            a->classes = (int)v;
            break;
        case 'a': a->analytic = 1; break;
        case 'k':
            if (cli_parse_int("profile-ops", "--check", optarg, 0, 100, &v)) return -1;
            a->check = (int)v;
            break;
        case 'D':
            cli_deprecated("profile-ops", "--work-dir DIR", "--work DIR");
            /* fall through */
        case 'd': a->work_dir = optarg; break;
        case 'c': a->costs = optarg; break;
        case 'x': a->check_choice = optarg; break;
        case 'j': a->json = 1; break;
        case 'h': usage(stdout); return 1;
        default: usage(stderr); return -1;
        }
    }
    if (optind < argc) return cli_error("profile-ops", "unexpected argument '%s'", argv[optind]), -1;
    return 0;
}

typedef struct po_progress {
    reef_progress bar;
    int base;
} po_progress;

static void on_network(void *ctx, int done, int total)
{
    (void)total;
    po_progress *p = ctx;
    reef_progress_update(&p->bar, p->base + done);
}

static int profile_all(reef_nas_table *t, const po_args *a, const reef_device_profile *prof, reef_error *err)
{
    po_progress p = {.base = 0};
    uint64_t lo, hi; /* this rank's networks (all of them in one process) */
    reef_ranks_slice(REEF_NAS_NWIDTHS * REEF_NAS_NDOWNS * REEF_NAS_ZERO, reef_ranks_rank(), reef_ranks_size(), &lo, &hi);
    reef_progress_begin(&p.bar, "profile-ops", "networks", (int64_t)(hi - lo), !a->json);
    int rc = reef_nas_profile_grid(t, a->h, a->w, a->c, a->classes, prof, a->work_dir, on_network, &p, err);
    reef_progress_end(&p.bar);
    if (!rc) reef_nas_table_stamp(t, prof);
    return rc;
}

typedef struct check_row {
    char space[32], choice[64];
    reef_nas_estimate est;
    reef_nas_measure ms;
} check_row;

static double rel(double predicted, double measured) { return measured ? (predicted - measured) / measured : 0; }

/* Predicts one network of space s from the table and measures it. */
static int check_one(const reef_nas_table *t, const po_args *a, const reef_device_profile *prof,
                     const reef_nas_space *s, const int *choice, uint64_t seed, check_row *row, reef_error *err)
{
    reef_nas_budget tg = {.clock_mhz = prof->clock_mhz,
                           .power_mw = reef_profile_run_power_mw(prof)};
    reef_nas_space_costs sc;
    if (reef_nas_space_costs_get(t, s, &sc, err)) return -1;
    reef_nas_estimate_choice(&sc, s, choice, &tg, &row->est);
    reef_nas_space_text(s, row->space, sizeof row->space);
    reef_nas_choice_text(s, choice, row->choice, sizeof row->choice);
    reef_arch arch;
    reef_nas_space_arch(s, choice, "nas-check", &arch);
    return reef_nas_measure_arch(&arch, a->h, a->w, a->c, a->classes, prof, a->work_dir, seed, &row->ms, err);
}

static int check_random(const reef_nas_table *t, const po_args *a, const reef_device_profile *prof, check_row *rows,
                        reef_progress *bar, reef_error *err)
{
    reef_rng rng;
    reef_rng_seed(&rng, 2024);
    for (int i = 0; i < a->check; i++) {
        reef_nas_space s;
        int choice[REEF_NAS_MAX_BLOCKS];
        if (reef_nas_space_init(&s, a->h, a->w, a->c, a->classes, reef_nas_widths[reef_rng_below(&rng, REEF_NAS_NWIDTHS)],
                                reef_nas_downs[reef_rng_below(&rng, REEF_NAS_NDOWNS)], err))
            return -1;
        reef_nas_random_choice(&s, &rng, choice);
        if (check_one(t, a, prof, &s, choice, 77 + (uint64_t)i, &rows[i], err)) return -1;
        reef_progress_update(bar, i + 1);
    }
    return 0;
}

/* --check-choice "w0.75 r16 zero k7e6 ...": the space and the candidate of
 * each block, in the form the check table prints. */
static int check_named(const reef_nas_table *t, const po_args *a, const reef_device_profile *prof, check_row *row,
                       reef_error *err)
{
    char text[256];
    snprintf(text, sizeof text, "%s", a->check_choice);
    float width;
    int res;
    char *save, *tok = strtok_r(text, " ", &save);
    if (!tok || sscanf(tok, "w%f", &width) != 1 || !(tok = strtok_r(NULL, " ", &save)) || sscanf(tok, "r%d", &res) != 1 ||
        res <= 0 || a->h % res)
        return reef_fail(err, "--check-choice '%s': want \"wW rR B1 B2 ...\" (e.g. w0.75 r16 zero k7e6)",
                         a->check_choice);
    reef_nas_space s;
    if (reef_nas_space_init(&s, a->h, a->w, a->c, a->classes, width, a->h / res, err)) return -1;
    int choice[REEF_NAS_MAX_BLOCKS], n = 0;
    while ((tok = strtok_r(NULL, " ", &save))) {
        int j = 0;
        while (j < REEF_NAS_NCAND && strcmp(reef_nas_cands[j].name, tok)) j++;
        if (j == REEF_NAS_NCAND || n == s.nblocks)
            return reef_fail(err, "--check-choice: '%s' is not a candidate, or more than %d blocks", tok, s.nblocks);
        choice[n++] = j;
    }
    if (n != s.nblocks) return reef_fail(err, "--check-choice: %d blocks given, the space has %d", n, s.nblocks);
    return check_one(t, a, prof, &s, choice, 99, row, err);
}

static void print_check(const check_row *rows, int n)
{
    reef_table t;
    reef_table_init(&t, "space", "blocks", ">cycles pred", ">cycles emu", ">err", ">flash pred", ">flash ELF",
                    ">RAM pred", ">RAM ELF", NULL);
    for (int i = 0; i < n; i++) {
        const check_row *r = &rows[i];
        reef_table_cell(&t, "%s", r->space);
        reef_table_cell(&t, "%s", r->choice);
        reef_table_cell(&t, "%.0f", r->est.cycles);
        reef_table_cell(&t, "%.0f", r->ms.cycles);
        reef_table_cell(&t, "%+.2f%%", 100 * rel(r->est.cycles, r->ms.cycles));
        reef_table_cell(&t, "%lld", (long long)r->est.flash);
        reef_table_cell(&t, "%u", r->ms.mem.flash_total);
        reef_table_cell(&t, "%lld", (long long)r->est.ram);
        reef_table_cell(&t, "%u", r->ms.mem.ram_total);
    }
    reef_table_print(&t, stdout, "predicted (cost table) vs emulated (qemu-m4; cycles modeled from exact counts)");
    reef_table_free(&t);
}

static void json_check(reef_json *j, const check_row *rows, int n)
{
    reef_json_key(j, "check");
    reef_json_array(j);
    for (int i = 0; i < n; i++) {
        const check_row *r = &rows[i];
        reef_json_object(j);
        reef_json_kv_string(j, "space", r->space);
        reef_json_kv_string(j, "blocks", r->choice);
        reef_json_kv_number(j, "cycles_predicted", r->est.cycles);
        reef_json_kv_number(j, "cycles_emulated", r->ms.cycles);
        reef_json_kv_number(j, "cycles_error", rel(r->est.cycles, r->ms.cycles));
        reef_json_kv_int(j, "flash_predicted", r->est.flash);
        reef_json_kv_int(j, "flash_elf", r->ms.mem.flash_total);
        reef_json_kv_int(j, "ram_predicted", r->est.ram);
        reef_json_kv_int(j, "ram_elf", r->ms.mem.ram_total);
        reef_json_end(j);
    }
    reef_json_end(j);
}

int cmd_profile_ops(int argc, char **argv)
{
    po_args a;
    int rc = parse_args(argc, argv, &a);
    if (cli_agree("profile-ops", rc < 0, NULL)) return 2; /* every rank parsed the same arguments */
    if (rc) return 0;
    reef_error err;
    reef_device_profile prof;
    const int spread = reef_ranks_size() > 1;
    if (spread && (a.costs || a.analytic || a.check || a.check_choice)) {
        rc = reef_fail(&err, "under mpirun only the grid's profiling runs over ranks: --costs, --analytic, "
                             "--check and --check-choice run as one process");
        return cli_agree("profile-ops", 1, err.msg), 2;
    }
    if (cli_agree("profile-ops", reef_profile_load(a.profile, &prof, &err), err.msg)) return 1;
    char default_out[256];
    snprintf(default_out, sizeof default_out, "reef-costs-%s.table", prof.name);
    const char *out = a.output ? a.output : default_out;
    reef_nas_table t;
    reef_nas_table_init(&t);
    double t0 = reef_now();
    if (a.costs) {
        rc = reef_nas_table_load(&t, a.costs, &err);
        out = a.costs;
    } else {
        rc = a.analytic ? reef_nas_table_analytic(&t, a.h, a.w, a.c, a.classes, &err) : profile_all(&t, &a, &prof, &err);
        if (rc && spread) { /* the ranks agreed on it: every rank holds the lowest failing rank's message */
            reef_nas_table_free(&t);
            return cli_error("profile-ops", "%s", err.msg), 1;
        }
        /* rank 0 alone writes the table (every rank holds the same one) */
        if (!rc && reef_ranks_rank() == 0) rc = reef_nas_table_save(&t, out, &err);
        if (spread && cli_agree("profile-ops", rc != 0, err.msg)) return reef_nas_table_free(&t), 1;
    }
    double seconds = reef_now() - t0;
    int nrows = a.check + (a.check_choice != NULL);
    reef_progress bar = {0};
    check_row *rows = nrows ? calloc((size_t)nrows, sizeof *rows) : NULL;
    if (!rc && nrows && !rows) rc = reef_fail(&err, "out of memory");
    // each check builds and runs a firmware: seconds to minutes
    if (!rc && nrows) reef_progress_begin(&bar, "checking", "networks", nrows, !a.json);
    if (!rc && a.check) rc = check_random(&t, &a, &prof, rows, &bar, &err);
    if (!rc && a.check_choice) rc = check_named(&t, &a, &prof, &rows[a.check], &err);
    if (bar.label) {  // ended on failure too, so the message starts its own line
        if (!rc) reef_progress_update(&bar, nrows);
        reef_progress_end(&bar);
    }
    if (rc) {
        free(rows);
        reef_nas_table_free(&t);
        return cli_error("profile-ops", "%s", err.msg);
    }
    if (a.json) {
        reef_json j;
        reef_json_begin(&j, stdout);
        reef_json_object(&j);
        reef_json_kv_string(&j, "table", out);
        reef_json_kv_string(&j, "source", t.source);
        reef_json_kv_int(&j, "ops", t.n);
        reef_json_kv_number(&j, "overhead_cycles", t.overhead_cycles);
        reef_json_kv_int(&j, "flash_fixed", t.flash_fixed);
        reef_json_kv_int(&j, "ram_fixed", t.ram_fixed);
        reef_json_kv_number(&j, "seconds", seconds);
        if (nrows) json_check(&j, rows, nrows);
        reef_json_end(&j);
        reef_json_finish(&j);
    } else {
        printf("%s: %d ops (%s, %s, runtime crc %08x), %.0f s\n", out, t.n, t.source, t.toolchain, t.runtime_crc,
               seconds);
        printf("fixed parts: %.0f cycles per inference, %lld B flash besides weights, %lld B RAM besides the arena\n",
               t.overhead_cycles, (long long)t.flash_fixed, (long long)t.ram_fixed);
        if (nrows) print_check(rows, nrows);
    }
    free(rows);
    reef_nas_table_free(&t);
    return 0;
}
