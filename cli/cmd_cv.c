/* reef cv: cross-validation over a dataset's groups (leave-one-habitat-out
 * on DeepFish): per fold, train the recipe on the other groups and score the
 * held-out ones, float and (--int8) int8. */
#include <errno.h>
#include <getopt.h>
#include <sys/stat.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "util/ranks.h"
#include "cv/cv.h"
#include "data/dataset.h"
#include "recipe.h"
#include "util/io.h"
#include "util/json.h"
#include "util/progress.h"
#include "util/table.h"

static const char *NAME = "cv";

static void usage(FILE *fp)
{
    fprintf(fp,
            "usage: reef cv --data FILE [--arch A] [--folds group|K] [--repeat R] [--int8]\n"
            "               [--calibrate inner [--inner-groups K]] [recipe options] [--jobs N]\n"
            "               [--keep DIR] [--plot FILE] [--json]\n\n"
            "Cross-validation over the dataset's groups (DeepFish: habitats). Each fold trains\n"
            "the recipe (as `reef train` would) on every group it does not hold out and scores\n"
            "the held-out group(s): the accuracy a model reaches at a site it never saw. Prints\n"
            "per group: frames, share of the last class, accuracy, balanced accuracy (mean of\n"
            "the per-class recalls) and each class's recall; then the mean and sample standard\n"
            "deviation over folds. Folds run in parallel; results do not depend on --jobs.\n\n"
            "  --data FILE       dataset file from `reef prep` (e.g. --split frames: all of DeepFish)\n"
            "  --arch A          fish-s (default), fish-m, fish-nas, a spec file or spec text\n"
            "  --folds group     one fold per group: leave-one-group-out (default)\n"
            "  --folds K         each fold holds out K random groups; --repeat R folds (default 5)\n"
            "  --repeat R        folds for --folds K\n"
            "  --train-data FILE train every fold on FILE's samples of the groups it does not\n"
            "                    hold out, instead of --data's (same shape, classes and groups;\n"
            "                    e.g. --data plus training-only augmented copies); the\n"
            "                    held-out groups are still scored on --data\n"
            "  --groups LIST     with --folds group: only the folds holding out these groups\n"
            "                    (comma list of names; e.g. to screen recipes on a subset and\n"
            "                    report on the rest); training still uses every other group\n"
            "  --int8            also quantize every fold's model (calibrated on its training\n"
            "                    samples) and score it through the int8 path; tables show int8\n"
            "  --calib N         int8 calibration samples (default 500)\n"
            "  --calibrate inner set each fold's decision bias on inner held-out groups (2 classes):\n"
            "                    the fold also trains on its training groups minus K of them and\n"
            "                    picks the offset to the last class's classifier bias that\n"
            "                    maximizes their mean (accuracy + balanced accuracy) / 2; the\n"
            "                    fold's model gets it in its fc bias (and so in the int8 bias).\n"
            "                    The held-out groups never take part. About 1.8x the training.\n"
            "  --inner-groups K  groups held out inside each fold for --calibrate (default 4)\n"
            "  --jobs N          folds at once (default: the number of cores)\n"
            "  --keep DIR        keep DIR/fold-NN.ckpt (.tflite with --int8) and fold-NN.txt\n"
            "                    (held-out groups, then every train and test sample ID)\n"
            "  --plot FILE       per-group bars through gnuplot, .svg or .png\n"
            "  --json            print the result as JSON (fractions; no table, no progress)\n\n");
    cli_recipe_usage(fp, 1);
}

typedef struct cv_args {
    const char *data, *train_data, *arch, *keep, *plot, *groups;
    int folds_k;  /* 0: one fold per group */
    long repeat, jobs, calib, inner_groups;
    int int8, json, calibrate;
    cli_recipe recipe;
} cv_args;

static int parse(int argc, char **argv, cv_args *a)
{
    enum { O_DATA = 256, O_ARCH, O_FOLDS, O_REPEAT, O_INT8, O_CALIB, O_JOBS, O_KEEP, O_PLOT, O_JSON, O_HELP, O_GROUPS, O_TRAIN_DATA, O_CALIBRATE, O_INNER };
    static const struct option opts[] = {
        {"data", required_argument, NULL, O_DATA},   {"arch", required_argument, NULL, O_ARCH},
        {"folds", required_argument, NULL, O_FOLDS}, {"repeat", required_argument, NULL, O_REPEAT},
        {"int8", no_argument, NULL, O_INT8},         {"calib", required_argument, NULL, O_CALIB},
        {"jobs", required_argument, NULL, O_JOBS},   {"keep", required_argument, NULL, O_KEEP},
        {"plot", required_argument, NULL, O_PLOT},   {"json", no_argument, NULL, O_JSON},
        {"help", no_argument, NULL, O_HELP},         {"groups", required_argument, NULL, O_GROUPS},
        {"train-data", required_argument, NULL, O_TRAIN_DATA},
        {"calibrate", required_argument, NULL, O_CALIBRATE}, {"inner-groups", required_argument, NULL, O_INNER},
        CLI_RECIPE_OPTIONS,
        {NULL, 0, NULL, 0}};
    memset(a, 0, sizeof *a);
    a->arch = "fish-s", a->calib = 500, a->repeat = 0, a->inner_groups = 4;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    a->jobs = cores > 0 ? cores : 1;
    int c;
    long v;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        int rc = cli_recipe_option(NAME, &a->recipe, c, optarg);
        if (rc == 0) continue;
        if (rc == 2) return 2;
        switch (c) {
        case O_DATA: a->data = optarg; break;
        case O_TRAIN_DATA: a->train_data = optarg; break;
        case O_ARCH: a->arch = optarg; break;
        case O_FOLDS:
            if (!strcmp(optarg, "group")) a->folds_k = 0;
            else if (cli_parse_int(NAME, "--folds", optarg, 1, 65535, &v)) return 2;
            else a->folds_k = (int)v;
            break;
        case O_REPEAT:
            if (cli_parse_int(NAME, "--repeat", optarg, 1, 10000, &a->repeat)) return 2;
            break;
        case O_INT8: a->int8 = 1; break;
        case O_CALIB:
            if (cli_parse_int(NAME, "--calib", optarg, 1, 1000000, &a->calib)) return 2;
            break;
        case O_JOBS:
            if (cli_parse_int(NAME, "--jobs", optarg, 1, 64, &a->jobs)) return 2;
            break;
        case O_CALIBRATE:
            if (strcmp(optarg, "inner") && strcmp(optarg, "none"))
                return cli_error(NAME, "--calibrate '%s': expected inner or none", optarg) + 1;
            a->calibrate = !strcmp(optarg, "inner");
            break;
        case O_INNER:
            if (cli_parse_int(NAME, "--inner-groups", optarg, 1, 65535, &a->inner_groups)) return 2;
            break;
        case O_KEEP: a->keep = optarg; break;
        case O_GROUPS: a->groups = optarg; break;
        case O_PLOT: a->plot = optarg; break;
        case O_JSON: a->json = 1; break;
        case O_HELP:
        case 'h': usage(stdout); return -1;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc) return cli_error(NAME, "unexpected argument '%s'", argv[optind]) + 1;
    if (!a->data) return cli_error(NAME, "--data FILE is required (see --help)") + 1;
    if (a->repeat && !a->folds_k) return cli_error(NAME, "--repeat goes with --folds K (random groups per fold)") + 1;
    if (a->groups && a->folds_k) return cli_error(NAME, "--groups goes with --folds group") + 1;
    if (!a->repeat) a->repeat = 5;
    return 0;
}

/* Keeps only the folds that hold out a group named in list (comma list). */
static int keep_listed_folds(reef_cv_plan *p, const reef_dataset *ds, const char *list)
{
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", list);
    uint8_t *want = calloc((size_t)p->num_groups + 1, 1);
    if (!want) return cli_error(NAME, "out of memory");
    char *save = NULL;
    for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        int g = 0;
        while (g < p->num_groups && strcmp(ds->group_names[g], tok)) g++;
        if (g == p->num_groups) {
            free(want);
            return cli_error(NAME, "--groups: the dataset has no group '%s'", tok);
        }
        want[g] = 1;
    }
    int n = 0;
    for (int f = 0; f < p->nfolds; f++) {
        const uint8_t *held = p->held + (size_t)f * p->num_groups;
        int keep = 0;
        for (int g = 0; g < p->num_groups; g++) keep |= held[g] && want[g];
        if (keep) memmove(p->held + (size_t)n++ * p->num_groups, held, (size_t)p->num_groups);
    }
    p->nfolds = n;
    free(want);
    return 0;
}

/* ---- output ----------------------------------------------------------------- */

static void pct_cell(reef_table *t, double v)
{
    if (v < 0) reef_table_cell(t, "-");
    else reef_table_cell(t, "%.1f%%", 100 * v);
}

/* Share of the last class among group g's samples (fish share on DeepFish). */
static double last_class_share(const reef_dataset *ds, int g)
{
    int64_t n = 0, last = 0;
    for (uint32_t i = 0; i < ds->count; i++)
        if (ds->groups[i] == g) n++, last += ds->labels[i] == ds->num_classes - 1;
    return n ? (double)last / (double)n : 0;
}

static void print_tables(const reef_dataset *ds, const reef_cv_plan *p, const reef_cv_result *r, int by_group)
{
    const int int8 = r->has_int8, k = r->num_classes, two = k == 2;
    char share[80], rec1[80], rec0[80];
    snprintf(share, sizeof share, ">%s share", ds->class_names[k - 1]);
    snprintf(rec1, sizeof rec1, ">%s recall", ds->class_names[k - 1]);
    snprintf(rec0, sizeof rec0, ">%s recall", ds->class_names[0]);
    double *recall = calloc((size_t)k, sizeof *recall);
    if (!recall) return;
    reef_table t;
    if (two) reef_table_init(&t, "group", ">frames", share, ">accuracy", ">balanced", rec1, rec0, NULL);
    else reef_table_init(&t, "group", ">frames", ">accuracy", ">balanced", NULL);
    for (int g = 0; g < r->num_groups; g++) {
        reef_cv_score sc = reef_cv_score_of(r, int8, -1, g, recall);
        if (!sc.count) continue;
        reef_table_cell(&t, "%s", ds->group_names[g]);
        reef_table_cell(&t, "%lld", (long long)sc.count);
        if (two) pct_cell(&t, last_class_share(ds, g));
        pct_cell(&t, sc.accuracy);
        pct_cell(&t, sc.balanced);
        if (two) pct_cell(&t, recall[1]), pct_cell(&t, recall[0]);
    }
    char title[128];
    snprintf(title, sizeof title, "held-out groups (%s; a group held out by several folds: summed)",
             int8 ? "int8" : "float");
    reef_table_print(&t, stdout, title);
    if (!by_group) {
        if (r->has_offset) reef_table_init(&t, ">fold", "held out", ">frames", ">accuracy", ">balanced", ">offset", NULL);
        else reef_table_init(&t, ">fold", "held out", ">frames", ">accuracy", ">balanced", NULL);
        for (int f = 0; f < r->nfolds; f++) {
            reef_cv_score sc = reef_cv_score_of(r, int8, f, -1, NULL);
            char name[1024];
            reef_cv_fold_name(p, f, ds, name, sizeof name);
            reef_table_cell(&t, "%d", f);
            reef_table_cell(&t, "%s", name);
            reef_table_cell(&t, "%lld", (long long)sc.count);
            pct_cell(&t, sc.accuracy);
            pct_cell(&t, sc.balanced);
            if (r->has_offset) reef_table_cell(&t, "%+.3f", r->offset[f]);
        }
        printf("\n");
        reef_table_print(&t, stdout, "folds");
    }
    printf("\nover %d folds (mean ± sample std of the per-fold figures):\n", r->nfolds);
    for (int q = 0; q <= int8; q++) {
        double am, as, bm, bs;
        reef_cv_mean_std(r, q, 0, &am, &as);
        reef_cv_mean_std(r, q, 1, &bm, &bs);
        printf("  %-5s accuracy %.2f ± %.2f%%   balanced accuracy %.2f ± %.2f%%\n", q ? "int8" : "float", 100 * am,
               100 * as, 100 * bm, 100 * bs);
    }
    free(recall);
}

static void json_score(reef_json *j, const reef_cv_score *sc)
{
    reef_json_kv_int(j, "count", sc->count);
    reef_json_kv_number(j, "accuracy", sc->accuracy);
    reef_json_kv_number(j, "balanced_accuracy", sc->balanced);
}

static void json_path(reef_json *j, const reef_dataset *ds, const reef_cv_plan *p, const reef_cv_result *r, int q)
{
    double am, as, bm, bs;
    reef_cv_mean_std(r, q, 0, &am, &as);
    reef_cv_mean_std(r, q, 1, &bm, &bs);
    reef_json_object(j);
    reef_json_kv_number(j, "mean_accuracy", am);
    reef_json_kv_number(j, "std_accuracy", as);
    reef_json_kv_number(j, "mean_balanced_accuracy", bm);
    reef_json_kv_number(j, "std_balanced_accuracy", bs);
    double *recall = calloc((size_t)r->num_classes, sizeof *recall);
    reef_json_key(j, "groups");
    reef_json_array(j);
    for (int g = 0; g < r->num_groups && recall; g++) {
        reef_cv_score sc = reef_cv_score_of(r, q, -1, g, recall);
        if (!sc.count) continue;
        reef_json_object(j);
        reef_json_kv_string(j, "group", ds->group_names[g]);
        json_score(j, &sc);
        reef_json_kv_number(j, "last_class_share", last_class_share(ds, g));
        reef_json_key(j, "recall");
        reef_json_array(j);
        for (int c = 0; c < r->num_classes; c++) recall[c] < 0 ? reef_json_null(j) : reef_json_number(j, recall[c]);
        reef_json_end(j);
        reef_json_end(j);
    }
    reef_json_end(j);
    reef_json_key(j, "folds");
    reef_json_array(j);
    for (int f = 0; f < r->nfolds; f++) {
        reef_cv_score sc = reef_cv_score_of(r, q, f, -1, NULL);
        char name[1024];
        reef_cv_fold_name(p, f, ds, name, sizeof name);
        reef_json_object(j);
        reef_json_kv_string(j, "held_out", name);
        reef_json_kv_int(j, "train_count", r->ntrain[f]);
        if (r->has_offset) {
            char inner[1024];
            size_t len = 0;
            inner[0] = 0;
            for (int g = 0; g < r->num_groups; g++)
                if (r->inner[(size_t)f * r->num_groups + g] && len < sizeof inner)
                    len += (size_t)snprintf(inner + len, sizeof inner - len, "%s%s", len ? "+" : "", ds->group_names[g]);
            reef_json_kv_string(j, "inner", inner);
            reef_json_kv_number(j, "offset", r->offset[f]);
        }
        json_score(j, &sc);
        reef_json_end(j);
    }
    reef_json_end(j);
    reef_json_end(j);
    free(recall);
}

static void print_json(const cv_args *a, const reef_dataset *ds, const reef_cv_plan *p, const reef_cv_result *r,
                       const reef_train_cfg *cfg, double seconds)
{
    reef_json j;
    reef_json_begin(&j, stdout);
    reef_json_object(&j);
    reef_json_kv_string(&j, "data", a->data);
    if (a->train_data) reef_json_kv_string(&j, "train_data", a->train_data);
    reef_json_kv_string(&j, "arch", a->arch);
    reef_json_kv_string(&j, "folds", a->folds_k ? "random" : "group");
    reef_json_kv_int(&j, "nfolds", r->nfolds);
    reef_json_kv_int(&j, "epochs", cfg->epochs);
    reef_json_kv_int(&j, "seed", (int64_t)cfg->seed);
    if (a->calibrate) reef_json_kv_int(&j, "inner_groups", a->inner_groups);
    reef_json_key(&j, "classes");
    reef_json_array(&j);
    for (uint32_t c = 0; c < ds->num_classes; c++) reef_json_string(&j, ds->class_names[c]);
    reef_json_end(&j);
    reef_json_key(&j, "float");
    json_path(&j, ds, p, r, 0);
    if (r->has_int8) {
        reef_json_key(&j, "int8");
        json_path(&j, ds, p, r, 1);
    }
    reef_json_kv_number(&j, "seconds", seconds);
    reef_json_end(&j);
    reef_json_finish(&j);
}

/* Per-group bars: accuracy and balanced accuracy of the shown path. */
static void plot_groups(const char *out, const reef_dataset *ds, const reef_cv_result *r, int quiet)
{
    if (system("command -v gnuplot >/dev/null 2>&1") != 0) {
        fprintf(stderr, "reef cv: gnuplot is not installed; no plot\n");
        return;
    }
    char data[] = "/tmp/reef-cv-XXXXXX", script[] = "/tmp/reef-cvplot-XXXXXX";
    int fd = mkstemp(data), fs = mkstemp(script);
    FILE *fp = fd >= 0 ? fdopen(fd, "w") : NULL, *sp = fs >= 0 ? fdopen(fs, "w") : NULL;
    if (!fp || !sp) {
        if (fp) fclose(fp);
        if (sp) fclose(sp);
        if (fd >= 0) unlink(data);
        if (fs >= 0) unlink(script);
        return;
    }
    for (int g = 0; g < r->num_groups; g++) {
        reef_cv_score sc = reef_cv_score_of(r, r->has_int8, -1, g, NULL);
        if (sc.count)
            fprintf(fp, "\"%s\" %.4f %.4f %.4f\n", ds->group_names[g], 100 * sc.accuracy, 100 * sc.balanced,
                    100 * last_class_share(ds, g));
    }
    fclose(fp);
    const char *ext = strrchr(out, '.');
    fprintf(sp, "set terminal %s size 1000,400\nset output '%s'\n", ext && !strcmp(ext, ".png") ? "png" : "svg", out);
    fprintf(sp, "set style data histograms\nset style histogram cluster gap 1\nset style fill solid 0.8 border -1\n"
                "set yrange [0:100]\nset ylabel '%%'\nset grid ytics\nset xtics rotate by -45\n"
                "set key outside top center horizontal\n");
    fprintf(sp, "set title 'held-out groups (%s): %d folds'\n", r->has_int8 ? "int8" : "float", r->nfolds);
    fprintf(sp, "plot '%s' using 2:xtic(1) title 'accuracy', '' using 3 title 'balanced accuracy', "
                "'' using 4 title 'share of %s'\n", data, ds->class_names[ds->num_classes - 1]);
    fclose(sp);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "gnuplot '%s' 2>/dev/null", script);
    int rc = system(cmd);
    unlink(data);
    unlink(script);
    if (rc != 0) fprintf(stderr, "reef cv: gnuplot failed; no plot\n");
    else if (!quiet) printf("plot: %s\n", out);
}

/* ---- the run ------------------------------------------------------------------ */

static volatile sig_atomic_t stop_flag;
static void on_sigint(int sig)
{
    (void)sig;
    stop_flag = 1;
}
static void on_progress(void *ctx, int64_t done) { reef_progress_update(ctx, done); }

static int run(const cv_args *a, const reef_dataset *ds, const reef_dataset *train_data)
{
    reef_error err;
    reef_cv_options opt;
    reef_cv_options_default(&opt);
    if (reef_arch_resolve(a->arch, &opt.arch, &err)) return cli_error(NAME, "%s", err.msg);  // same on every rank
    cli_recipe_resolve(&a->recipe, &opt.arch, &opt.cfg);
    if (!cli_recipe_has(&a->recipe, "threads")) opt.cfg.threads = 1;
    opt.int8 = a->int8, opt.calib_samples = (int)a->calib, opt.jobs = (int)a->jobs, opt.keep_dir = a->keep;
    opt.stop = &stop_flag;
    opt.train_data = train_data;
    opt.inner_groups = a->calibrate ? (int)a->inner_groups : 0;
    reef_cv_plan p;
    if ((a->folds_k ? reef_cv_plan_random(&p, ds, a->folds_k, (int)a->repeat, opt.cfg.seed, &err)
                    : reef_cv_plan_groups(&p, ds, &err)))
        return cli_error(NAME, "%s: %s", a->data, err.msg);
    if (a->groups && keep_listed_folds(&p, ds, a->groups)) {
        reef_cv_plan_free(&p);
        return 1;
    }
    if (a->keep && mkdir(a->keep, 0777) && errno != EEXIST) {
        reef_cv_plan_free(&p);
        return cli_error(NAME, "cannot create %s: %s", a->keep, strerror(errno));
    }
    reef_progress bar;
    reef_progress_begin(&bar, "cv", "epochs", (int64_t)p.nfolds * opt.cfg.epochs * (a->calibrate ? 2 : 1), !a->json);
    opt.progress = on_progress, opt.progress_ctx = &bar;
    if (!a->json)
        printf("%s on %s: %d folds (%s), %d epochs each, %ld at once%s\n", opt.arch.name, a->data, p.nfolds,
               a->folds_k ? "random groups" : "one per group", opt.cfg.epochs,
               (a->jobs < p.nfolds ? a->jobs : p.nfolds) * reef_ranks_size(),
               a->int8 ? ", float and int8" : "");
    if (!a->json && a->calibrate)
        printf("decision bias chosen per fold on %ld inner held-out training groups\n", a->inner_groups);
    fflush(stdout);
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigaction(SIGINT, &sa, &old);
    double t0 = reef_now();
    reef_cv_result r;
    int rc = reef_cv_run(ds, &p, &opt, &r, &err);
    sigaction(SIGINT, &old, NULL);
    reef_progress_end(&bar);
    if (rc) {  // under mpirun the ranks agreed on it inside reef_cv_run
        reef_cv_plan_free(&p);
        return stop_flag ? (fprintf(stderr, "reef cv: interrupted\n"), 130) : cli_error(NAME, "%s", err.msg);
    }
    if (a->json) print_json(a, ds, &p, &r, &opt.cfg, reef_now() - t0);
    else {
        print_tables(ds, &p, &r, !a->folds_k);
        printf("%.0f s\n", reef_now() - t0);
    }
    if (a->plot && reef_ranks_rank() == 0) plot_groups(a->plot, ds, &r, a->json);
    reef_cv_result_free(&r);
    reef_cv_plan_free(&p);
    return 0;
}

int cmd_cv(int argc, char **argv)
{
    cv_args a;
    int rc = parse(argc, argv, &a);
    if (cli_agree(NAME, rc > 0, NULL)) return rc;  // every rank parsed the same arguments
    if (rc) return 0;
    reef_dataset ds;
    reef_error err;
    if (cli_agree(NAME, reef_dataset_load(a.data, &ds, &err), err.msg)) return 1;  // every rank loads it
    reef_dataset train = {0};
    if (a.train_data) {
        if (cli_agree(NAME, reef_dataset_load(a.train_data, &train, &err), err.msg)) {
            reef_dataset_free(&ds);
            return 1;
        }
        if (reef_cv_check_train_data(&ds, &train, &err)) {
            cli_error(NAME, "--train-data %s does not match --data %s: %s", a.train_data, a.data, err.msg);
            reef_dataset_free(&train);
            reef_dataset_free(&ds);
            return 1;
        }
    }
    rc = run(&a, &ds, a.train_data ? &train : NULL);
    reef_dataset_free(&train);
    reef_dataset_free(&ds);
    return rc;
}
