/* reef train: dataset file(s) -> float model checkpoint. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "quant/quant.h"
#include "recipe.h"
#include "data/dataset.h"
#include "nn/arch.h"
#include "nn/checkpoint.h"
#include "nn/model.h"
#include "nn/train.h"
#include "util/io.h"
#include "util/json.h"
#include "util/progress.h"
#include "util/ranks.h"

static const char *NAME = "train";

static void usage(FILE *fp)
{
    fprintf(fp,
            "usage: reef train --train FILE [--val FILE] -o MODEL.ckpt [options]\n\n"
            "Trains a float network on a dataset file from `reef prep`. After every epoch it\n"
            "prints a table row, appends the CSV log and saves the checkpoint (atomically:\n"
            "Ctrl-C leaves the last complete epoch's checkpoint intact).\n\n"
            "  --arch A            fish-s (default), fish-m, fish-nas, a spec file, or spec\n"
            "                      text with ';'\n"
            "  --train FILE        training dataset\n"
            "  --val FILE          validation dataset (accuracy per epoch)\n"
            "  -o, --output FILE   checkpoint to write\n"
            "  --resume CKPT       continue from a checkpoint written by reef train\n"
            "  --log FILE          CSV log (default: OUTPUT with .csv)\n"
            "  --plot FILE         curves through gnuplot, .svg or .png (default: OUTPUT .svg)\n"
            "  --json              print the summary as JSON (no table, no progress bar)\n");
    cli_recipe_usage(fp, 2);
}

typedef struct train_args {
    const char *arch, *train, *val, *output, *resume, *log, *plot;
    cli_recipe recipe;
    reef_train_cfg cfg;  /* resolved in setup_model (it needs the spec) */
    int json;
    char ignored_by_resume[256]; /* options given that --resume would ignore, in order */
} train_args;

static int parse_args(int argc, char **argv, train_args *a)
{
    memset(a, 0, sizeof *a);
    a->arch = "fish-s";
    enum { O_ARCH = 256, O_TRAIN, O_VAL, O_RESUME, O_LOG, O_PLOT, O_JSON, O_HELP };
    static const struct option opts[] = {
        {"arch", required_argument, NULL, O_ARCH}, {"train", required_argument, NULL, O_TRAIN},
        {"val", required_argument, NULL, O_VAL}, {"output", required_argument, NULL, 'o'},
        {"resume", required_argument, NULL, O_RESUME}, {"log", required_argument, NULL, O_LOG},
        {"plot", required_argument, NULL, O_PLOT}, {"json", no_argument, NULL, O_JSON},
        {"help", no_argument, NULL, O_HELP}, CLI_RECIPE_OPTIONS, {NULL, 0, NULL, 0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
        int rc = cli_recipe_option(NAME, &a->recipe, c, optarg);
        if (rc == 2) return 2;
        const char *ignored = rc == 0 ? a->recipe.key[a->recipe.n - 1] : c == O_ARCH ? "arch" : NULL;
        // --resume takes more epochs, or a quantization-aware fine-tuning of a trained model
        if (ignored && strcmp(ignored, "epochs") && strcmp(ignored, "qat-epochs") && strcmp(ignored, "qat-lr")) {
            size_t n = strlen(a->ignored_by_resume);
            snprintf(a->ignored_by_resume + n, sizeof a->ignored_by_resume - n, "%s--%s", n ? ", " : "", ignored);
        }
        if (rc == 0) continue;
        switch (c) {
        case O_ARCH: a->arch = optarg; break;
        case O_TRAIN: a->train = optarg; break;
        case O_VAL: a->val = optarg; break;
        case 'o': a->output = optarg; break;
        case O_RESUME: a->resume = optarg; break;
        case O_LOG: a->log = optarg; break;
        case O_PLOT: a->plot = optarg; break;
        case O_JSON: a->json = 1; break;
        case 'h':
        case O_HELP: usage(stdout); return -1;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc) return cli_error(NAME, "unexpected argument '%s'", argv[optind]) + 1;
    if (!a->train) return cli_error(NAME, "--train FILE is required") + 1;
    if (!a->output) return cli_error(NAME, "-o MODEL.ckpt is required") + 1;
    cli_recipe_resolve(&a->recipe, NULL, &a->cfg);  // --resume keeps the checkpoint's recipe
    if (a->resume && a->ignored_by_resume[0])
        return cli_error(NAME, "--resume continues the checkpoint's own recipe: %s would be ignored (drop it, or "
                               "start a new run without --resume)", a->ignored_by_resume) + 1;
    return 0;
}

/* ---- Ctrl-C: finish the current step, keep the last checkpoint -------------- */

static volatile sig_atomic_t stop_flag;
static void on_sigint(int sig)
{
    (void)sig;
    stop_flag = 1;
}

/* ---- the log ------------------------------------------------------------------ */

typedef struct epoch_row {
    reef_epoch_stats st;
    double val_acc, val_loss;  /* -1 without --val */
} epoch_row;

/* OUTPUT with its extension replaced by ext (m.ckpt -> m.csv); when that
 * is the output itself or one of the inputs (-o m.csv), OUTPUT.<what><ext>
 * (m.csv.log.csv) instead: a derived path never overwrites the model or
 * an input. */
static void derive_path(char *buf, size_t size, const train_args *a, const char *what, const char *ext)
{
    snprintf(buf, size, "%s", a->output);
    char *dot = strrchr(buf, '.'), *slash = strrchr(buf, '/');
    if (dot && (!slash || dot > slash)) *dot = 0;
    size_t len = strlen(buf);
    snprintf(buf + len, size - len, "%s", ext);
    if (reef_same_file(buf, a->output) || reef_same_file(buf, a->train) || reef_same_file(buf, a->val) ||
        reef_same_file(buf, a->resume))
        snprintf(buf, size, "%s.%s%s", a->output, what, ext);
}

/* Every file train writes is checked before the first epoch: none is an
 * input (by inode) or another output, and each folder is writable. */
static int check_outputs(const train_args *a, const char *log, const char *plot)
{
    if (cli_check_output(NAME, "-o", a->output, "--train", a->train, "--val", a->val, NULL) ||
        cli_check_output(NAME, "--log", log, "--train", a->train, "--val", a->val, "--resume", a->resume, "-o",
                         a->output, NULL) ||
        cli_check_output(NAME, "--plot", plot, "--train", a->train, "--val", a->val, "--resume", a->resume, "-o",
                         a->output, "--log", log, NULL))
        return 1;
    return 0;
}

static int write_csv(const char *path, const epoch_row *rows, int n, reef_error *err)
{
    size_t cap = 128 + (size_t)n * 160, len = 0;
    char *text = malloc(cap);
    if (!text) return reef_fail(err, "out of memory");
    len += (size_t)snprintf(text + len, cap - len, "epoch,loss,train_acc,val_loss,val_acc,lr,seconds,images_per_s\n");
    for (int i = 0; i < n; i++) {
        const epoch_row *r = &rows[i];
        len += (size_t)snprintf(text + len, cap - len, "%d,%.6f,%.6f,%.6f,%.6f,%.6g,%.3f,%.1f\n", r->st.epoch, r->st.loss,
                                r->st.train_acc, r->val_loss, r->val_acc, r->st.lr, r->st.seconds, r->st.images_per_s);
    }
    int rc = reef_write_file(path, text, len, err);
    free(text);
    return rc;
}

/* Rows of an earlier run's log, for --resume (up to `upto` epochs). */
static int read_csv(const char *path, epoch_row *rows, int upto)
{
    FILE *fp = fopen(path, "r");
    if (!fp) return 0;
    char line[512];
    int n = 0;
    while (n < upto && fgets(line, sizeof line, fp)) {
        epoch_row r;
        memset(&r, 0, sizeof r);
        if (sscanf(line, "%d,%lf,%lf,%lf,%lf,%lf,%lf,%lf", &r.st.epoch, &r.st.loss, &r.st.train_acc, &r.val_loss,
                   &r.val_acc, &r.st.lr, &r.st.seconds, &r.st.images_per_s) == 8 && r.st.epoch == n + 1)
            rows[n++] = r;
    }
    fclose(fp);
    return n;
}

/* Renders the CSV with gnuplot: loss on the left, accuracies on the right. */
static void plot_curves(const char *csv, const char *out, int has_val, int quiet)
{
    if (system("command -v gnuplot >/dev/null 2>&1") != 0) {
        if (!quiet) fprintf(stderr, "reef train: gnuplot is not installed; no plot (the CSV log is %s)\n", csv);
        return;
    }
    const char *ext = strrchr(out, '.');
    int png = ext && !strcmp(ext, ".png");
    char script[] = "/tmp/reef-plot-XXXXXX";
    int fd = mkstemp(script);
    if (fd < 0) return;
    FILE *fp = fdopen(fd, "w");
    if (!fp) {
        close(fd);
        unlink(script);
        return;
    }
    fprintf(fp, "set terminal %s size 900,360\n", png ? "png" : "svg");
    fprintf(fp, "set output '%s'\nset datafile separator ','\nset key autotitle columnhead\n", out);
    fprintf(fp, "set multiplot layout 1,2\nset xlabel 'epoch'\nset grid\n");
    fprintf(fp, "set title 'loss'\nplot '%s' using 1:2 with lines lw 2 title 'train'%s\n", csv,
            has_val ? ", '' using 1:4 with lines lw 2 title 'val'" : "");
    fprintf(fp, "set title 'accuracy'\nset yrange [*:1]\nplot '%s' using 1:3 with lines lw 2 title 'train'%s\n", csv,
            has_val ? ", '' using 1:5 with lines lw 2 title 'val'" : "");
    fprintf(fp, "unset multiplot\n");
    fclose(fp);
    char cmd[8400];
    snprintf(cmd, sizeof cmd, "gnuplot '%s' 2>/dev/null", script);
    int rc = system(cmd);
    unlink(script);
    if (rc != 0 && !quiet) fprintf(stderr, "reef train: gnuplot failed; no plot (the CSV log is %s)\n", csv);
}

/* ---- the run ------------------------------------------------------------------- */

static void on_progress(void *ctx, int64_t done) { reef_progress_update(ctx, done); }

typedef struct run_state {
    train_args *a;
    reef_dataset train, val;
    int has_val;
    reef_model m;
    reef_trainer t;
    epoch_row *rows;
    char log[4096], plot[4096];
} run_state;

/* Makes ds (at path) speak the classes of model m (from model_path). A
 * model from a checkpoint without class names takes ds's, so the
 * checkpoints this run writes carry them. */
static int follow_classes(reef_dataset *ds, const char *path, reef_model *m, const char *model_path, reef_error *err)
{
    char note[1024];
    if (reef_dataset_follow_classes(ds, path, &m->classes, model_path, note, sizeof note, err)) return -1;
    if (note[0] && reef_ranks_rank() == 0) fprintf(stderr, "reef train: %s\n", note);
    if (m->classes.count) return 0;
    return reef_class_names_pack(&m->classes, ds->class_names, (int)ds->num_classes, err);
}

static int setup_model(run_state *s, reef_error *err)
{
    train_args *a = s->a;
    if (a->resume) {
        reef_ckpt_train ct;
        if (reef_ckpt_load(a->resume, &s->m, &ct, err)) return -1;
        if (!ct.has_train || !ct.opt.m) {
            reef_optim_free(&ct.opt);
            return reef_fail(err, "%s: has no training state to resume from", a->resume);
        }
        if (cli_recipe_has(&a->recipe, "epochs") && a->cfg.epochs <= ct.epochs_done) {
            reef_optim_free(&ct.opt);
            return reef_fail(err, "--epochs %d: %s has done %d epochs already; ask for more to train on", a->cfg.epochs,
                             a->resume, ct.epochs_done);
        }
        /* the schedule is laid over the steps of the checkpoint's dataset:
         * another dataset (another count of steps per epoch) would run off
         * its end, at learning rate 0 */
        const int64_t per_epoch = ((int64_t)s->train.count + ct.cfg.batch - 1) / ct.cfg.batch;
        if (ct.opt.step != per_epoch * ct.epochs_done) {
            reef_optim_free(&ct.opt);
            return reef_fail(err, "--resume %s: its %d epochs took %lld steps of batch %d, but %s gives %lld steps "
                                  "per epoch: resume on the dataset it was trained on",
                             a->resume, ct.epochs_done, (long long)ct.opt.step, ct.cfg.batch, a->train,
                             (long long)per_epoch);
        }
        const int more_qat = cli_recipe_has(&a->recipe, "qat-epochs") && a->cfg.qat_epochs > 0;
        if (ct.cfg.qat_done && (more_qat || cli_recipe_has(&a->recipe, "epochs"))) {
            reef_optim_free(&ct.opt);
            return reef_fail(err, "--resume %s: its weights have had %d epochs of quantization-aware fine-tuning "
                                  "already; train a new model for more", a->resume, ct.cfg.qat_epochs);
        }
        if (cli_recipe_has(&a->recipe, "epochs")) ct.cfg.epochs = a->cfg.epochs;
        if (cli_recipe_has(&a->recipe, "qat-epochs")) ct.cfg.qat_epochs = a->cfg.qat_epochs;
        if (cli_recipe_has(&a->recipe, "qat-lr")) ct.cfg.qat_lr = a->cfg.qat_lr;
        a->cfg = ct.cfg;
        if (follow_classes(&s->train, a->train, &s->m, a->resume, err)) {
            reef_optim_free(&ct.opt);
            return -1;
        }
        if (reef_check_dataset_fits(&s->m, &s->train, a->train, err) ||
            reef_model_set_batch(&s->m, a->cfg.batch, a->cfg.threads, err) ||
            reef_trainer_init(&s->t, &s->m, &s->train, &a->cfg, err) || reef_trainer_spread(&s->t, err)) {
            reef_optim_free(&ct.opt);
            return -1;
        }
        reef_optim_free(&s->t.opt);
        s->t.opt = ct.opt;
        s->t.epochs_done = ct.epochs_done;
        return 0;
    }
    reef_arch arch;
    if (reef_arch_resolve(a->arch, &arch, err)) return -1;
    cli_recipe_resolve(&a->recipe, &arch, &a->cfg);  // defaults < the spec's recipe < flags
    if (reef_model_build(&s->m, &arch, (int)s->train.height, (int)s->train.width, (int)s->train.channels,
                         (int)s->train.num_classes, a->cfg.seed, err))
        return -1;
    reef_norm_for_recipe(&s->m.norm, &s->train, &a->cfg);
    if (reef_class_names_pack(&s->m.classes, s->train.class_names, (int)s->train.num_classes, err)) return -1;
    if (reef_model_set_batch(&s->m, a->cfg.batch, a->cfg.threads, err)) return -1;
    return reef_trainer_init(&s->t, &s->m, &s->train, &a->cfg, err) || reef_trainer_spread(&s->t, err) ? -1 : 0;
}

static void print_header(const run_state *s)
{
    const reef_model *m = &s->m;
    printf("%s: %zu parameters, %.2f M MACs per image, %dx%dx%d -> %d classes; %u training images%s\n",
           m->arch.name, m->nparams, reef_model_macs(m) / 1e6, m->in_h, m->in_w, m->in_c, m->num_classes,
           s->train.count, s->has_val ? "" : " (no --val)");
    printf("%5s %8s %9s %8s %9s %9s %8s %7s\n", "epoch", "loss", "train acc", "val loss", "val acc", "lr",
           "img/s", "time s");
}

static void print_row(const epoch_row *r)
{
    char va[16] = "-", vl[16] = "-";
    if (r->val_acc >= 0) snprintf(va, sizeof va, "%.2f%%", 100 * r->val_acc), snprintf(vl, sizeof vl, "%.4f", r->val_loss);
    printf("%5d %8.4f %8.2f%% %8s %9s %9.2e %8.0f %7.1f\n", r->st.epoch, r->st.loss, 100 * r->st.train_acc, vl, va,
           r->st.lr, r->st.images_per_s, r->st.seconds);
    fflush(stdout);
}

static void print_json(const run_state *s, int nrows, double seconds, int interrupted)
{
    const reef_model *m = &s->m;
    reef_json j;
    reef_json_begin(&j, stdout);
    reef_json_object(&j);
    reef_json_kv_string(&j, "output", s->a->output);
    reef_json_kv_string(&j, "arch", m->arch.name);
    reef_json_kv_int(&j, "params", (int64_t)m->nparams);
    reef_json_kv_int(&j, "macs", reef_model_macs(m));
    reef_json_kv_int(&j, "epochs", nrows);
    reef_json_kv_bool(&j, "interrupted", interrupted);
    reef_json_kv_int(&j, "qat_epochs", s->a->cfg.qat_done ? s->a->cfg.qat_epochs : 0);  // fine-tuning run
    reef_json_kv_number(&j, "seconds", seconds);
    // data parallelism (docs/mpi.md): ranks, samples per chunk, and the bytes
    // of every chunk's gradient and statistics that all ranks hold after a step
    reef_json_kv_int(&j, "ranks", reef_ranks_size());
    reef_json_kv_int(&j, "chunk", s->t.chunk);
    reef_json_kv_int(&j, "chunks_per_batch", s->t.nchunks);
    reef_json_kv_int(&j, "chunk_bytes", (int64_t)(s->t.slot_floats * sizeof(float)));
    if (nrows) {
        const epoch_row *r = &s->rows[nrows - 1];
        reef_json_kv_number(&j, "loss", r->st.loss);
        reef_json_kv_number(&j, "train_accuracy", r->st.train_acc);
        if (r->val_acc >= 0) reef_json_kv_number(&j, "val_accuracy", r->val_acc);
        reef_json_kv_number(&j, "images_per_s", r->st.images_per_s);
    }
    reef_json_key(&j, "history");
    reef_json_array(&j);
    for (int i = 0; i < nrows; i++) {
        const epoch_row *r = &s->rows[i];
        reef_json_object(&j);
        reef_json_kv_int(&j, "epoch", r->st.epoch);
        reef_json_kv_number(&j, "loss", r->st.loss);
        reef_json_kv_number(&j, "train_accuracy", r->st.train_acc);
        if (r->val_acc >= 0) reef_json_kv_number(&j, "val_accuracy", r->val_acc);
        reef_json_kv_number(&j, "images_per_s", r->st.images_per_s);
        reef_json_end(&j);
    }
    reef_json_end(&j);
    reef_json_kv_string(&j, "log", s->log);
    reef_json_end(&j);
    reef_json_finish(&j);
}

static void print_qat_row(void *ctx, const reef_epoch_stats *st)
{
    const train_args *a = ctx;
    if (!a->json && reef_ranks_rank() == 0)
        printf("  qat %d/%d %8.4f %8.2f%% %28.2e %8.0f %7.1f\n", st->epoch, a->cfg.qat_epochs, st->loss,
               100 * st->train_acc, st->lr, st->images_per_s, st->seconds);
    fflush(stdout);
}

/* The quantization-aware fine-tuning after the float epochs (every rank
 * runs the same; rank 0 saves); returns an exit status. */
static int run_qat(run_state *s, int *interrupted)
{
    train_args *a = s->a;
    reef_error err = {""};
    if (!a->json && reef_ranks_rank() == 0)
        printf("quantization-aware fine-tuning: %d epochs, lr %.2e, int8 grids of `reef quantize` "
               "(minmax, 500 samples of %s)\n", a->cfg.qat_epochs, a->cfg.qat_lr, a->train);
    int rc = reef_qat_finetune(&s->m, &s->train, &a->cfg, NULL, NULL, print_qat_row, a, &stop_flag, &err);
    if (rc == 1) {
        *interrupted = 1;  // the checkpoint keeps the float model of the last epoch
        return 0;
    }
    if (cli_agree(NAME, rc != 0, err.msg)) return 1;
    a->cfg.qat_done = 1;
    s->t.cfg.qat_done = 1, s->t.cfg.qat_epochs = a->cfg.qat_epochs, s->t.cfg.qat_lr = a->cfg.qat_lr;
    int failed = reef_ranks_rank() == 0 &&
                 reef_ckpt_save(a->output, &s->m, &s->t.cfg, &s->t.opt, s->t.epochs_done, -1, &err);
    return cli_agree(NAME, failed, err.msg) ? 1 : 0;
}

/* Trains the remaining epochs; returns an exit status. */
static int run_epochs(run_state *s)
{
    train_args *a = s->a;
    reef_error err = {""};
    const int rank = reef_ranks_rank();
    int nrows = read_csv(s->log, s->rows, s->t.epochs_done);
    if (nrows != s->t.epochs_done) nrows = 0;  // no usable earlier log: start a new one
    if (!a->json) {
        print_header(s);
        for (int i = 0; i < nrows; i++) print_row(&s->rows[i]);
    }
    struct sigaction sa = {0}, old;
    sa.sa_handler = on_sigint;
    sigaction(SIGINT, &sa, &old);
    double t0 = reef_now();
    int interrupted = 0, status = 0;
    while (s->t.epochs_done < a->cfg.epochs) {
        reef_progress bar;
        char label[32];
        snprintf(label, sizeof label, "epoch %d", s->t.epochs_done + 1);
        reef_progress_begin(&bar, label, "img", s->train.count, !a->json && rank == 0);
        epoch_row r;
        interrupted = reef_trainer_epoch(&s->t, &r.st, &stop_flag, on_progress, &bar);
        reef_progress_end(&bar);
        if (interrupted) break;
        r.val_acc = r.val_loss = -1;
        // rank 0 evaluates and writes; every rank then learns whether that worked
        if (s->has_val && rank == 0) r.val_acc = reef_evaluate(&s->m, &s->val, NULL, &r.val_loss);
        s->rows[nrows++] = r;
        int failed = rank == 0 && (reef_ckpt_save(a->output, &s->m, &s->t.cfg, &s->t.opt, s->t.epochs_done,
                                                  r.val_acc, &err) ||
                                   write_csv(s->log, s->rows, nrows, &err));
        if (cli_agree(NAME, failed, err.msg)) {
            status = 1;
            break;
        }
        if (!a->json) print_row(&r);
    }
    if (!status && !interrupted && a->cfg.qat_epochs > 0 && !a->cfg.qat_done) status = run_qat(s, &interrupted);
    sigaction(SIGINT, &old, NULL);
    if (nrows && rank == 0) plot_curves(s->log, s->plot, s->has_val, a->json);
    if (interrupted)
        fprintf(stderr, "reef train: interrupted; %s holds the last complete epoch (%d)\n", a->output, s->t.epochs_done);
    if (a->json) print_json(s, nrows, reef_now() - t0, interrupted);
    else if (!status && !interrupted)
        printf("saved %s (log %s, plot %s)\n", a->output, s->log, s->plot);
    return status ? status : interrupted ? 130 : 0;
}

int cmd_train(int argc, char **argv)
{
    train_args a;
    int rc = parse_args(argc, argv, &a);
    if (cli_agree(NAME, rc > 0, NULL)) return rc;  // every rank parsed the same arguments
    if (rc) return 0;
    run_state s;
    memset(&s, 0, sizeof s);
    s.a = &a;
    reef_error err = {""};
    /* under mpirun every rank loads the datasets (each draws its chunks of
     * every batch from them) and builds the same model; any rank's failure
     * stops all, named by rank 0 */
    int failed = reef_dataset_load(a.train, &s.train, &err);
    if (!failed && a.val) {
        if (reef_dataset_load(a.val, &s.val, &err)) failed = 1;
        else s.has_val = 1;
    }
    derive_path(s.log, sizeof s.log, &a, "log", ".csv");
    derive_path(s.plot, sizeof s.plot, &a, "plot", ".svg");
    if (a.log) snprintf(s.log, sizeof s.log, "%s", a.log);
    if (a.plot) snprintf(s.plot, sizeof s.plot, "%s", a.plot);
    int status = 0;
    if (cli_agree(NAME, failed, err.msg)) {
        status = 1;
    } else if (cli_agree(NAME, check_outputs(&a, s.log, s.plot), NULL)) {
        status = 1;
    } else if (cli_agree(NAME, setup_model(&s, &err) ||
                                   (s.has_val && (follow_classes(&s.val, a.val, &s.m, a.output, &err) ||
                                                  reef_check_dataset_fits(&s.m, &s.val, a.val, &err))),
                         err.msg)) {
        status = 1;
    } else if (cli_agree(NAME, !(s.rows = calloc((size_t)a.cfg.epochs + 1, sizeof *s.rows)), "out of memory")) {
        status = 1;
    } else {
        status = run_epochs(&s);
    }
    free(s.rows);
    reef_trainer_free(&s.t);
    reef_model_free(&s.m);
    reef_dataset_free(&s.train);
    if (s.has_val) reef_dataset_free(&s.val);
    return status;
}
