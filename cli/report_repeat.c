/* reef report --repeat N: the seed paper's protocol, N independent
 * trainings (seeds 1..N) on the training split, each scored float and int8
 * on the test split: mean ± sample std of both and of the int8 drop. The
 * table says which figures are frame-random (DeepFish's shared split: near-
 * identical frames of one clip on both sides) and, with --cv, adds the
 * leave-habitat-out figures of a `reef cv --json` run. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cv/cv.h"
#include "data/dataset.h"
#include "recipe.h"
#include "util/io.h"
#include "util/json.h"
#include "util/progress.h"

static const char *NAME = "report";

static void usage(FILE *fp)
{
    fprintf(fp,
            "usage: reef report --repeat N --train T.ds --data TEST.ds [--arch A] [recipe options]\n"
            "                   [--cv CV.json] [--calib N] [--json]\n\n"
            "Trains N networks (seeds 1..N) on T.ds, scores each on TEST.ds as float and\n"
            "int8 (quantized on its training data, through the int8 path), and prints mean ±\n"
            "sample std of float and int8 accuracy and of the int8 drop, then every seed.\n"
            "DeepFish's shared split is random by frame: those figures are marked\n"
            "frame-random. --cv adds the leave-habitat-out figures of `reef cv --json`.\n\n"
            "  --repeat N        independent trainings, seeds 1..N (the paper's protocol: 10)\n"
            "  --train FILE      training split\n"
            "  --data FILE       test split\n"
            "  --arch A          fish-s (default), fish-m, fish-nas, a spec file or spec text\n"
            "  --cv FILE         JSON written by reef cv --json --int8 (leave-habitat-out rows)\n"
            "  --calib N         int8 calibration samples (default 500)\n"
            "  --json            print the result as JSON (fractions)\n\n");
    cli_recipe_usage(fp, 2);
}

typedef struct seed_result {
    double acc_float, acc_int8;
} seed_result;

static void mean_std(const double *v, int n, double *mean, double *std)
{
    double s = 0, ss = 0;
    for (int i = 0; i < n; i++) s += v[i];
    *mean = n ? s / n : 0;
    for (int i = 0; i < n; i++) ss += (v[i] - *mean) * (v[i] - *mean);
    *std = n > 1 ? sqrt(ss / (n - 1)) : 0;
}

/* "KEY":number inside the object that follows "PATH": in a reef cv JSON. */
static int cv_number(const char *text, const char *path, const char *key, double *out)
{
    const char *p = strstr(text, path);
    char k[64];
    snprintf(k, sizeof k, "\"%s\":", key);
    if (!p || !(p = strstr(p, k))) return -1;
    *out = strtod(p + strlen(k), NULL);
    return 0;
}

typedef struct cv_figures {
    int have, nfolds;
    double acc[2], acc_std[2], bal[2], bal_std[2]; /* float, int8 */
} cv_figures;

static int read_cv(const char *path, cv_figures *c)
{
    uint8_t *data;
    size_t size;
    reef_error err;
    memset(c, 0, sizeof *c);
    if (reef_read_file(path, &data, &size, &err)) return cli_error(NAME, "%s", err.msg);
    char *text = malloc(size + 1);
    if (!text) return free(data), cli_error(NAME, "out of memory");
    memcpy(text, data, size);
    text[size] = 0;
    free(data);
    double nf = 0;
    int bad = cv_number(text, "", "nfolds", &nf);
    static const char *paths[2] = {"\"float\":{", "\"int8\":{"};
    for (int q = 0; q < 2 && !bad; q++)
        bad = cv_number(text, paths[q], "mean_accuracy", &c->acc[q]) ||
              cv_number(text, paths[q], "std_accuracy", &c->acc_std[q]) ||
              cv_number(text, paths[q], "mean_balanced_accuracy", &c->bal[q]) ||
              cv_number(text, paths[q], "std_balanced_accuracy", &c->bal_std[q]);
    free(text);
    if (bad) return cli_error(NAME, "%s: not the JSON of `reef cv --json --int8`", path);
    c->have = 1, c->nfolds = (int)nf;
    return 0;
}

static void print_table(int n, const seed_result *r, const cv_figures *c, const char *arch, int epochs)
{
    double f[1024], q[1024], d[1024], fm, fs, qm, qs, dm, ds;
    for (int i = 0; i < n; i++) f[i] = 100 * r[i].acc_float, q[i] = 100 * r[i].acc_int8, d[i] = f[i] - q[i];
    mean_std(f, n, &fm, &fs), mean_std(q, n, &qm, &qs), mean_std(d, n, &dm, &ds);
    printf("%s, %d epochs (measured on this machine; the int8 model through reef's host interpreter,\n"
           "which computes what the microcontroller computes)\n\n", arch, epochs);
    printf("| protocol | figure | float | int8 | int8 drop (points) |\n|---|---|---|---|---|\n");
    printf("| frame-random (test split) | accuracy, mean ± std over %d seeds | %.2f ± %.2f%% | %.2f ± %.2f%% | %.2f ± %.2f |\n",
           n, fm, fs, qm, qs, dm, ds);
    if (c->have) {
        printf("| leave-habitat-out (%d folds) | accuracy, mean ± std over folds | %.2f ± %.2f%% | %.2f ± %.2f%% | %.2f |\n",
               c->nfolds, 100 * c->acc[0], 100 * c->acc_std[0], 100 * c->acc[1], 100 * c->acc_std[1],
               100 * (c->acc[0] - c->acc[1]));
        printf("| leave-habitat-out (%d folds) | balanced accuracy, mean ± std over folds | %.2f ± %.2f%% | %.2f ± %.2f%% | %.2f |\n",
               c->nfolds, 100 * c->bal[0], 100 * c->bal_std[0], 100 * c->bal[1], 100 * c->bal_std[1],
               100 * (c->bal[0] - c->bal[1]));
    }
    printf("| paper (Huang & Haddadi) | frame-random, 10 seeds | 97.88 ± 1.12%% | 97.78 ± 1.08%% | 0.10 |\n\n");
    printf("| seed | float | int8 | drop |\n|---|---|---|---|\n");
    for (int i = 0; i < n; i++) printf("| %d | %.2f%% | %.2f%% | %.2f |\n", i + 1, f[i], q[i], d[i]);
}

static void print_json(int n, const seed_result *r, const cv_figures *c, const char *arch, int epochs)
{
    double f[1024], q[1024], d[1024], m, s;
    for (int i = 0; i < n; i++) f[i] = r[i].acc_float, q[i] = r[i].acc_int8, d[i] = f[i] - q[i];
    reef_json j;
    reef_json_begin(&j, stdout);
    reef_json_object(&j);
    reef_json_kv_string(&j, "arch", arch);
    reef_json_kv_int(&j, "epochs", epochs);
    reef_json_key(&j, "frame_random");
    reef_json_object(&j);
    reef_json_kv_int(&j, "seeds", n);
    const double *v[3] = {f, q, d};
    static const char *names[3][2] = {{"float_mean", "float_std"}, {"int8_mean", "int8_std"}, {"drop_mean", "drop_std"}};
    for (int k = 0; k < 3; k++) {
        mean_std(v[k], n, &m, &s);
        reef_json_kv_number(&j, names[k][0], m);
        reef_json_kv_number(&j, names[k][1], s);
    }
    reef_json_key(&j, "per_seed");
    reef_json_array(&j);
    for (int i = 0; i < n; i++) {
        reef_json_object(&j);
        reef_json_kv_int(&j, "seed", i + 1);
        reef_json_kv_number(&j, "float", f[i]);
        reef_json_kv_number(&j, "int8", q[i]);
        reef_json_end(&j);
    }
    reef_json_end(&j);
    reef_json_end(&j);
    if (c->have) {
        reef_json_key(&j, "leave_habitat_out");
        reef_json_object(&j);
        reef_json_kv_int(&j, "folds", c->nfolds);
        reef_json_kv_number(&j, "float_mean_accuracy", c->acc[0]);
        reef_json_kv_number(&j, "int8_mean_accuracy", c->acc[1]);
        reef_json_kv_number(&j, "float_mean_balanced_accuracy", c->bal[0]);
        reef_json_kv_number(&j, "int8_mean_balanced_accuracy", c->bal[1]);
        reef_json_end(&j);
    }
    reef_json_end(&j);
    reef_json_finish(&j);
}

int cmd_report_repeat(int argc, char **argv)
{
    enum { O_REPEAT = 256, O_TRAIN, O_DATA, O_ARCH, O_CV, O_CALIB, O_JSON, O_HELP };
    static const struct option opts[] = {
        {"repeat", required_argument, NULL, O_REPEAT}, {"train", required_argument, NULL, O_TRAIN},
        {"data", required_argument, NULL, O_DATA},     {"arch", required_argument, NULL, O_ARCH},
        {"cv", required_argument, NULL, O_CV},         {"calib", required_argument, NULL, O_CALIB},
        {"json", no_argument, NULL, O_JSON},           {"help", no_argument, NULL, O_HELP},
        CLI_RECIPE_OPTIONS,                            {NULL, 0, NULL, 0}};
    const char *train_path = NULL, *test_path = NULL, *arch_arg = "fish-s", *cv_path = NULL;
    long repeat = 10, calib = 500;
    int json = 0, c;
    cli_recipe recipe = {0};
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        int rc = cli_recipe_option(NAME, &recipe, c, optarg);
        if (rc == 0) continue;
        if (rc == 2) return 2;
        switch (c) {
        case O_REPEAT:
            if (cli_parse_int(NAME, "--repeat", optarg, 1, 1000, &repeat)) return 2;
            break;
        case O_TRAIN: train_path = optarg; break;
        case O_DATA: test_path = optarg; break;
        case O_ARCH: arch_arg = optarg; break;
        case O_CV: cv_path = optarg; break;
        case O_CALIB:
            if (cli_parse_int(NAME, "--calib", optarg, 1, 1000000, &calib)) return 2;
            break;
        case O_JSON: json = 1; break;
        case 'h':
        case O_HELP: usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc) return cli_error(NAME, "unexpected argument '%s'", argv[optind]) + 1;
    if (!train_path || !test_path) return cli_error(NAME, "--repeat needs --train FILE and --data FILE (see --help)") + 1;
    cv_figures cvf = {0};
    if (cv_path && read_cv(cv_path, &cvf)) return 1;
    reef_error err;
    reef_arch arch;
    if (reef_arch_resolve(arch_arg, &arch, &err)) return cli_error(NAME, "%s", err.msg);
    reef_train_cfg cfg;
    cli_recipe_resolve(&recipe, &arch, &cfg);
    reef_dataset train, test;
    if (reef_dataset_load(train_path, &train, &err)) return cli_error(NAME, "%s", err.msg);
    if (reef_dataset_load(test_path, &test, &err)) {
        reef_dataset_free(&train);
        return cli_error(NAME, "%s", err.msg);
    }
    seed_result *r = calloc((size_t)repeat, sizeof *r);
    int status = r ? 0 : cli_error(NAME, "out of memory");
    reef_progress bar;
    reef_progress_begin(&bar, "seeds", "runs", repeat, !json);
    for (long i = 0; !status && i < repeat; i++) {
        cfg.seed = (uint64_t)(i + 1);
        if (reef_train_and_score(&arch, &cfg, &train, &test, (int)calib, &r[i].acc_float, &r[i].acc_int8, &err))
            status = cli_error(NAME, "seed %ld: %s", i + 1, err.msg);
        reef_progress_update(&bar, i + 1);
    }
    reef_progress_end(&bar);
    if (!status) {
        if (json) print_json((int)repeat, r, &cvf, arch.name, cfg.epochs);
        else print_table((int)repeat, r, &cvf, arch.name, cfg.epochs);
    }
    free(r);
    reef_dataset_free(&train);
    reef_dataset_free(&test);
    return status;
}
