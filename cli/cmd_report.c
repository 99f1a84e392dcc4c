/* reef report --float M.ckpt --int8 M.tflite --data D.ds: the paper's
 * Table 1 for one model - accuracy, flash, RAM, power, time, energy of the
 * float model and of the int8 model - each cell labelled by how it was
 * obtained, next to the paper's figures.
 *
 * The float model is measured the same way as the int8 one: the checkpoint
 * becomes a float32 graph (batch norm folded), lowered to the runtime's
 * float kernels, emitted as C and built for the same core (FPU on), then
 * every sample runs on the emulated Cortex-M4. */
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "codegen/lower.h"
#include "codegen/lower_float.h"
#include "data/dataset.h"
#include "energy/profile.h"
#include "nn/checkpoint.h"
#include "nn/metrics.h"
#include "nn/train.h"
#include "firmware/cycles.h"
#include "firmware/float_graph.h"
#include "firmware/pipeline.h"
#include "tflite/graph.h"
#include "util/json.h"

static void usage(FILE *fp)
{
    fprintf(fp,
            "usage: reef report --float M.ckpt --int8 M.tflite --data D.ds [options]\n\n"
            "The paper's Table 1 for this model, float and int8: accuracy, flash KB,\n"
            "RAM KB, power mW, time ms, energy mJ, each labelled emulated / measured /\n"
            "modeled, next to Huang & Haddadi's figures (MobiSys 2023). Both models run\n"
            "every sample as generated C on the emulated Cortex-M4 (the float one as a\n"
            "float32 build on the FPU). Markdown on stdout.\n\n"
            "  --float FILE     float checkpoint (reef train)\n"
            "  --int8 FILE      int8 .tflite (reef quantize)\n"
            "  --data FILE      dataset file (the test split)\n"
            "  --profile P      device profile (default stm32l4r5)\n"
            "  --target T       qemu-m4 (default) or host (accuracy only)\n"
            "  --limit N        only the first N samples\n"
            "  --work DIR       keep generated C and firmware in DIR/float, DIR/int8\n"
            "  --timeout S      time limit of each emulated run (default from the MACs)\n"
            "  --json           print the result as JSON\n\n"
            "reef report --repeat N --train T.ds --data TEST.ds [...]: N trainings, float and\n"
            "int8 accuracy mean ± std and the int8 drop (reef report --repeat 1 --help).\n"
            "reef report --memory --int8 M.tflite --data D.ds: the memory modes' arena, RAM and\n"
            "instruction cost side by side (reef report --memory --help).\n");
}

typedef struct report_args {
    const char *ckpt, *tflite, *data, *profile, *target, *work;
    long limit;
    double timeout;
    int json;
} report_args;

static int parse(int argc, char **argv, report_args *a)
{
    static const struct option opts[] = {
        {"float", required_argument, NULL, 'f'}, {"int8", required_argument, NULL, 'i'},
        {"data", required_argument, NULL, 'd'}, {"profile", required_argument, NULL, 'p'},
        {"target", required_argument, NULL, 't'}, {"limit", required_argument, NULL, 'n'},
        {"work", required_argument, NULL, 'w'}, {"timeout", required_argument, NULL, 'T'},
        {"json", no_argument, NULL, 'j'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    int c;
    *a = (report_args){NULL, NULL, NULL, "stm32l4r5", "qemu-m4", NULL, 0, 0, 0};
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 'f') a->ckpt = optarg;
        else if (c == 'i') a->tflite = optarg;
        else if (c == 'd') a->data = optarg;
        else if (c == 'p') a->profile = optarg;
        else if (c == 't') a->target = optarg;
        else if (c == 'w') a->work = optarg;
        else if (c == 'j') a->json = 1;
        else if (c == 'n') {
            if (cli_parse_int("report", "--limit", optarg, 1, 100000000, &a->limit)) return 2;
        } else if (c == 'T') {
            if (cli_parse_timeout("report", optarg, &a->timeout)) return 2;
        } else if (c == 'h') return usage(stdout), 0;
        else return usage(stderr), 2;
    }
    if (optind != argc || !a->ckpt || !a->tflite || !a->data) return usage(stderr), 2;
    if (cli_check_run_target("report", a->target)) return 2;
    return -1;
}

/* One column of Table 1. */
typedef struct table_row {
    const char *label;
    double accuracy;          /* fraction, from the target run */
    double accuracy_check;    /* the same model on the host, another path (-1: none) */
    const char *check_how;
    int outputs_identical;    /* target outputs == host interpreter's, byte for byte */
    double max_abs_diff;      /* float: largest |target - host| logit */
    int64_t macs;
    reef_firmware_figures fig;
} table_row;

typedef struct report_state {
    reef_device_profile profile;
    reef_dataset ds, view;    /* view: the first n samples */
    int n;
    reef_model model;
    int model_built;
    reef_float_model fm;      /* the float32 build */
    reef_graph g8;            /* the int8 model */
    int g8_read;
    reef_lowered_model m8;
    table_row rows[2];        /* float, int8 */
} report_state;

static void stage(const report_args *a, const char *what)
{
    if (!a->json) fprintf(stderr, "reef report: %s\n", what);
}

/* The pipeline options of one build: work files in dir (a->work/sub) when
 * --work was given. */
static reef_pipeline_opts build_opts(const report_args *a, report_state *s, const char *sub, const char *name,
                                     const char *source, char *dir, size_t size)
{
    if (a->work) snprintf(dir, size, "%s/%s", a->work, sub);
    reef_pipeline_opts o = {.target = a->target, .work_dir = a->work ? dir : NULL, .name = name,
                            .source = source, .profile = &s->profile, .timeout_s = a->timeout};
    return o;
}

/* r->accuracy from every sample's predicted class (unless rc already failed). */
static int row_accuracy(report_state *s, table_row *r, const uint16_t *pred, int rc, reef_error *err)
{
    reef_metrics mt = {0};
    if (!rc) rc = reef_metrics_compute(&mt, &s->view, pred, err);
    r->accuracy = mt.accuracy;
    reef_metrics_free(&mt);
    return rc;
}

/* ---- the float model ------------------------------------------------------ */

/* Host check of the float build: the training engine's own forward pass. */
static int host_float_accuracy(report_state *s, double *acc, reef_error *err)
{
    uint16_t *pred = malloc((size_t)s->n * sizeof *pred);
    if (!pred) return reef_fail(err, "out of memory");
    int rc = reef_model_set_batch(&s->model, 64, 2, err);
    if (!rc) *acc = reef_evaluate(&s->model, &s->view, pred, NULL);
    free(pred);
    return rc;
}

static int run_float_on_target(const report_args *a, report_state *s, reef_float_model *fm, reef_error *err)
{
    table_row *r = &s->rows[0];
    size_t in_count = (size_t)fm->input_count, out_count = (size_t)fm->output_count;
    float *in = malloc((size_t)s->n * in_count * sizeof *in), *out = malloc((size_t)s->n * out_count * sizeof *out);
    float *host = malloc(out_count * sizeof *host);
    uint16_t *pred = malloc((size_t)s->n * sizeof *pred);
    char dir[4096];
    reef_pipeline_opts o = build_opts(a, s, "float", "reef_float_model", a->ckpt, dir, sizeof dir);
    int rc = (!in || !out || !host || !pred) ? reef_fail(err, "out of memory") : 0;
    for (int i = 0; !rc && i < s->n; i++)
        reef_float_input(&s->model.norm, reef_dataset_sample(&s->ds, (uint32_t)i), in_count, in + i * in_count);
    if (!rc) rc = reef_pipeline_run_float(fm, in, s->n, out, &o, &r->fig, err);
    r->outputs_identical = 1;
    for (int i = 0; !rc && i < s->n; i++) {
        if (reef_float_invoke(fm, in + i * in_count, host)) rc = reef_fail(err, "the float host interpreter refused the model");
        for (size_t k = 0; !rc && k < out_count; k++) {
            double d = fabs((double)out[i * out_count + k] - (double)host[k]);
            if (d > r->max_abs_diff) r->max_abs_diff = d;
            if (memcmp(&out[i * out_count + k], &host[k], sizeof(float))) r->outputs_identical = 0;
        }
        pred[i] = (uint16_t)reef_argmax_f32(out + i * out_count, (int)out_count);
    }
    rc = row_accuracy(s, r, pred, rc, err);
    free(in), free(out), free(host), free(pred);
    return rc;
}

/* Makes the data speak the classes of the model at path (both models
 * must: the second then finds them in its order already). */
static int follow_classes(const report_args *a, report_state *s, const reef_class_names *classes, const char *path,
                          reef_error *err)
{
    char note[1024];
    if (reef_dataset_follow_classes(&s->ds, a->data, classes, path, note, sizeof note, err)) return -1;
    if (note[0]) fprintf(stderr, "reef report: %s\n", note);
    s->view.labels = s->ds.labels, s->view.class_names = s->ds.class_names;  // the view of the first samples
    return 0;
}

/* Loads the checkpoint and lowers its float32 graph into s->fm. */
static int float_prepare(const report_args *a, report_state *s, reef_error *err)
{
    if (reef_ckpt_load(a->ckpt, &s->model, NULL, err)) return -1;
    s->model_built = 1;
    if (follow_classes(a, s, &s->model.classes, a->ckpt, err)) return -1;
    if (reef_check_dataset_fits(&s->model, &s->ds, a->data, err)) return -1;
    reef_graph g;
    if (reef_float_graph_from_model(&s->model, &g, err)) return reef_fail_wrap(err, "%s", a->ckpt);
    int rc = reef_lower_float(&g, &s->fm, err);
    reef_graph_free(&g);
    if (rc) return reef_fail_wrap(err, "%s", a->ckpt);
    s->rows[0].label = "float32";
    s->rows[0].macs = s->fm.macs;
    return 0;
}

static int float_run(const report_args *a, report_state *s, reef_error *err)
{
    table_row *r = &s->rows[0];
    stage(a, "float32 build: running every sample...");
    int rc = run_float_on_target(a, s, &s->fm, err);
    r->check_how = "training engine's forward on the host";
    if (!rc) rc = host_float_accuracy(s, &r->accuracy_check, err);
    return rc;
}

/* ---- the int8 model ------------------------------------------------------- */

static int int8_prepare(const report_args *a, report_state *s, reef_error *err)
{
    if (reef_tflite_read(a->tflite, &s->g8, err)) return -1;
    s->g8_read = 1;
    if (follow_classes(a, s, &s->g8.classes, a->tflite, err)) return -1;
    if (reef_lower(&s->g8, &s->m8, err)) return reef_fail_wrap(err, "%s", a->tflite);
    s->rows[1].label = "int8";
    s->rows[1].accuracy_check = -1;
    s->rows[1].macs = s->m8.macs;
    return 0;
}

static int int8_run(const report_args *a, report_state *s, reef_error *err)
{
    table_row *r = &s->rows[1];
    const reef_lowered_model *m = &s->m8;
    int8_t *in = NULL, *out = malloc((size_t)s->n * m->output_size), *host = malloc((size_t)m->output_size);
    uint16_t *pred = malloc((size_t)s->n * sizeof *pred);
    char dir[4096];
    reef_pipeline_opts o = build_opts(a, s, "int8", "reef_int8_model", a->tflite, dir, sizeof dir);
    int rc = (!out || !host || !pred) ? reef_fail(err, "out of memory") : 0;
    if (!rc) rc = reef_pipeline_int8_inputs(&s->g8, m, &s->ds, a->data, &in, err);
    if (!rc) stage(a, "int8 build: running every sample...");
    if (!rc) rc = reef_pipeline_run_int8(m, in, s->n, out, &o, &r->fig, NULL, err);
    r->outputs_identical = 1;
    for (int i = 0; !rc && i < s->n; i++) {
        if (reef_lowered_invoke(&s->m8, in + (size_t)i * m->input_size, host))
            rc = reef_fail(err, "the host interpreter refused the model");
        if (memcmp(host, out + (size_t)i * m->output_size, (size_t)m->output_size)) r->outputs_identical = 0;
        pred[i] = (uint16_t)reef_argmax_i8(out + (size_t)i * m->output_size, m->output_size);
    }
    rc = row_accuracy(s, r, pred, rc, err);
    free(in), free(out), free(host), free(pred);
    return rc;
}

/* Both models, checked to be the same network before anything runs. */
static int run_both(const report_args *a, report_state *s, reef_error *err)
{
    if (float_prepare(a, s, err) || int8_prepare(a, s, err)) return -1;
    if (s->fm.macs != s->m8.macs)
        return reef_fail(err, "%s (%lld MACs) and %s (%lld MACs) are not the same network", a->ckpt,
                         (long long)s->fm.macs, a->tflite, (long long)s->m8.macs);
    return float_run(a, s, err) || int8_run(a, s, err) ? -1 : 0;
}

/* ---- printing --------------------------------------------------------------- */

/* The paper's Table 1 (Huang & Haddadi, MobiSys 2023): measured on an
 * STM32L4R5 at 1.9 V with a Monsoon power monitor, X-CUBE-AI. */
typedef struct paper_row {
    const char *label;
    double accuracy, flash_kb, ram_kb, power_mw, time_ms, energy_mj;
} paper_row;
static const paper_row paper[2] = {
    {"float32 (paper)", 0.9788, 1350.25, 80.20, 13.32, 248, 3.29},
    {"int8 (paper)", 0.9778, 483.82, 70.32, 4.83, 118, 0.57},
};

static void print_markdown(const report_args *a, const report_state *s)
{
    const int emu = s->rows[1].fig.emulated;
    printf("## %s: float32 vs int8 on the %s (%d samples of %s)\n\n", s->model.arch.name, s->profile.name, s->n, a->data);
    /* every cell says what it is: reef's time and energy are modeled (with
     * the model's error against board measurements), the paper's measured */
    const int calibrated = s->profile.board_points > 0;
    char time_label[64] = "modeled, uncalibrated", energy_label[64] = "modeled, uncalibrated";
    if (calibrated) {
        snprintf(time_label, sizeof time_label, "modeled, +-%.1f%%", REEF_CALIBRATION_TIME_WORST_PCT);
        snprintf(energy_label, sizeof energy_label, "modeled, +-%.1f%%", s->profile.board_energy_error_pct);
    }
    printf("| model | accuracy | flash KB | RAM KB | power mW | time ms | energy mJ | instructions |\n");
    printf("|---|---|---|---|---|---|---|---|\n");
    for (int k = 0; k < 2; k++) {
        const table_row *r = &s->rows[k];
        const reef_firmware_figures *f = &r->fig;
        printf("| reef %s | %.2f%% (%s) ", r->label, 100.0 * r->accuracy, emu ? "emulated" : "host build");
        if (emu)
            printf("| %.2f (measured, ELF) | %.2f (emulated) | %.2f (modeled, %s) | %.2f (%s) | %.4f (%s) | %.0f (emulated) |\n",
                   f->mem.flash_total / 1024.0, f->mem.ram_total / 1024.0, f->power_mw,
                   s->profile.run_ua_per_mhz_board > 0 ? "board-fitted" : "datasheet", f->time_ms, time_label,
                   f->energy_mj, energy_label, f->insn_mean);
        else
            printf("| - | - | - | - | - | - |\n");
    }
    for (int k = 0; k < 2; k++)
        printf("| %s | %.2f%% (measured) | %.2f (measured) | %.2f (measured) | %.2f (measured) | %.0f (measured) | %.2f (measured) | - |\n",
               paper[k].label, 100 * paper[k].accuracy,
               paper[k].flash_kb, paper[k].ram_kb, paper[k].power_mw, paper[k].time_ms, paper[k].energy_mj);
    printf("\n");
    const table_row *fr = &s->rows[0], *ir = &s->rows[1];
    printf("- accuracy: every sample through the generated C on %s; float32 on the host (%s): %.2f%%.\n",
           a->target, fr->check_how, 100.0 * fr->accuracy_check);
    printf("- outputs vs reef's host interpreter: int8 %s; float32 %s (largest logit difference %.3g).\n",
           ir->outputs_identical ? "identical byte for byte" : "DIFFERENT",
           fr->outputs_identical ? "identical bit for bit" : "differ", fr->max_abs_diff);
    if (emu) {
        printf("- instructions: exact executed Cortex-M4 instructions per inference (QEMU mps2-an386 + reef's plugin), "
               "mean over the samples; MACs float %lld, int8 %lld.\n", (long long)fr->macs, (long long)ir->macs);
        char time_note[128], energy_note[128];
        reef_cycle_error_note(&s->profile, time_note, sizeof time_note);
        reef_profile_energy_error_note(&s->profile, energy_note, sizeof energy_note);
        printf("- time: modeled cycles (Cortex-M4 TRM timings on the emulated instruction mix, %d flash wait states, "
               "flash data reads fitted to board measurements; docs/cycle-model.md) at %.0f MHz: float %.0f, int8 %.0f "
               "cycles; expected error %s (leave-one-out, MLPerf Tiny on a NUCLEO-L4R5ZI).\n",
               s->profile.flash_wait_states, s->profile.clock_mhz, fr->fig.cycles, ir->fig.cycles, time_note);
        if (calibrated)
            printf("- power: modeled run-mode power %.1f V x %.1f uA/MHz x %.0f MHz (run current fitted to %d board "
                   "measurements: %s); the datasheet's %.0f uA/MHz (%s) would give %.2f mW. Energy = time x power, "
                   "modeled, expected error %s.\n",
                   s->profile.supply_v, s->profile.run_ua_per_mhz_board, s->profile.clock_mhz, s->profile.board_points,
                   s->profile.board_source, s->profile.run_ua_per_mhz, s->profile.datasheet,
                   s->profile.supply_v * s->profile.run_ua_per_mhz * s->profile.clock_mhz * 1e-3, energy_note);
        else
            printf("- power: modeled run-mode power of the profile (%.1f V x %.0f uA/MHz x %.0f MHz; %s); energy = time x "
                   "power, modeled, %s.\n",
                   s->profile.supply_v, s->profile.run_ua_per_mhz, s->profile.clock_mhz, s->profile.datasheet, energy_note);
        printf("- flash and RAM: the firmware ELF (the whole program: code, weights, runtime, harness, start-up); "
               "RAM adds the stack high-water measured in the emulated run.\n");
        for (int k = 0; k < 2; k++) {
            const reef_flash_origin *o = &s->rows[k].fig.mem.origin;
            if (!o->known) continue;
            printf("- flash of the %s firmware by origin (ELF symbols and their source files): runtime code %u B "
                   "(+ %u B of tables), model constants %u B, model code %u B, harness and start-up %u B, "
                   "C library %u B, other %u B.\n",
                   s->rows[k].label, o->runtime_code, o->runtime_data, o->model_constants, o->model_code,
                   o->harness, o->libc, o->other);
        }
        printf("- int8 vs float32 (reef): %.2fx less flash, %.2fx less RAM, %.2fx faster, %.2fx less energy.\n",
               (double)fr->fig.mem.flash_total / ir->fig.mem.flash_total, (double)fr->fig.mem.ram_total / ir->fig.mem.ram_total,
               fr->fig.time_ms / ir->fig.time_ms, fr->fig.energy_mj / ir->fig.energy_mj);
    }
    printf("- paper: Huang & Haddadi, MobiSys 2023, Table 1: DeepFish fish / no fish (32x32 grey), ProxylessNAS model, "
           "X-CUBE-AI on an STM32L4R5 at 1.9 V, measured on hardware with a Monsoon power monitor.\n");
}

static void json_row(reef_json *j, const char *key, const table_row *r, const reef_device_profile *prof)
{
    const reef_firmware_figures *f = &r->fig;
    reef_json_key(j, key);
    reef_json_object(j);
    reef_json_kv_number(j, "accuracy", r->accuracy);
    if (r->accuracy_check >= 0) reef_json_kv_number(j, "accuracy_host", r->accuracy_check);
    reef_json_kv_bool(j, "outputs_match_host", r->outputs_identical);
    reef_json_kv_int(j, "macs", r->macs);
    if (f->emulated) {
        reef_json_kv_number(j, "instructions", f->insn_mean);
        reef_json_kv_number(j, "cycles_modeled", f->cycles);
        reef_json_kv_number(j, "time_ms_modeled", f->time_ms);
        reef_json_kv_number(j, "power_mw_modeled", f->power_mw);
        reef_json_kv_number(j, "energy_mj_modeled", f->energy_mj);
        char note[128];
        reef_cycle_error_note(prof, note, sizeof note);
        reef_json_kv_string(j, "time_modeled_error", note);
        reef_profile_energy_error_note(prof, note, sizeof note);
        reef_json_kv_string(j, "energy_modeled_error", note);
        reef_json_kv_int(j, "flash_bytes", f->mem.flash_total);
        reef_json_kv_int(j, "ram_bytes", f->mem.ram_total);
        reef_json_kv_int(j, "flash_weights_bytes", f->mem.flash_weights);
        if (f->mem.origin.known) {
            reef_json_kv_int(j, "flash_runtime_code_bytes", f->mem.origin.runtime_code);
            reef_json_kv_int(j, "flash_runtime_data_bytes", f->mem.origin.runtime_data);
            reef_json_kv_int(j, "flash_model_constants_bytes", f->mem.origin.model_constants);
            reef_json_kv_int(j, "flash_model_code_bytes", f->mem.origin.model_code);
            reef_json_kv_int(j, "flash_harness_bytes", f->mem.origin.harness);
            reef_json_kv_int(j, "flash_libc_bytes", f->mem.origin.libc);
            reef_json_kv_int(j, "flash_other_bytes", f->mem.origin.other);
        }
        reef_json_kv_int(j, "ram_activations_bytes", f->mem.ram_activations);
        reef_json_kv_int(j, "ram_stack_bytes", f->mem.ram_stack);
    }
    reef_json_end(j);
}

static void print_json(const report_args *a, const report_state *s)
{
    reef_json j;
    reef_json_begin(&j, stdout);
    reef_json_object(&j);
    reef_json_kv_string(&j, "arch", s->model.arch.name);
    reef_json_kv_string(&j, "data", a->data);
    reef_json_kv_string(&j, "target", a->target);
    reef_json_kv_string(&j, "profile", s->profile.name);
    reef_json_kv_int(&j, "samples", s->n);
    json_row(&j, "float", &s->rows[0], &s->profile);
    json_row(&j, "int8", &s->rows[1], &s->profile);
    reef_json_key(&j, "paper");
    reef_json_object(&j);
    for (int k = 0; k < 2; k++) {
        reef_json_key(&j, k ? "int8" : "float");
        reef_json_object(&j);
        reef_json_kv_number(&j, "accuracy", paper[k].accuracy);
        reef_json_kv_number(&j, "flash_kb", paper[k].flash_kb);
        reef_json_kv_number(&j, "ram_kb", paper[k].ram_kb);
        reef_json_kv_number(&j, "power_mw", paper[k].power_mw);
        reef_json_kv_number(&j, "time_ms", paper[k].time_ms);
        reef_json_kv_number(&j, "energy_mj", paper[k].energy_mj);
        reef_json_kv_string(&j, "kind", "measured (STM32L4R5, X-CUBE-AI, Monsoon at 1.9 V)");
        reef_json_end(&j);
    }
    reef_json_end(&j);
    reef_json_end(&j);
    reef_json_finish(&j);
}

int cmd_report(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)  // the repeated-trainings protocol: report_repeat.c
        if (!strcmp(argv[i], "--repeat") || !strncmp(argv[i], "--repeat=", 9)) return cmd_report_repeat(argc, argv);
    for (int i = 1; i < argc; i++)  // the planner's memory modes side by side: report_memory.c
        if (!strcmp(argv[i], "--memory")) return cmd_report_memory(argc, argv);
    report_args a;
    int rc = parse(argc, argv, &a);
    if (rc >= 0) return rc;
    report_state s;
    memset(&s, 0, sizeof s);
    reef_error err = {{0}};
    rc = reef_profile_load(a.profile, &s.profile, &err) || reef_dataset_load(a.data, &s.ds, &err);
    if (!rc) {
        s.n = a.limit && a.limit < (long)s.ds.count ? (int)a.limit : (int)s.ds.count;
        s.view = s.ds, s.view.count = (uint32_t)s.n;
        if (s.n == 0) rc = reef_fail(&err, "%s has no samples", a.data);
    }
    if (!rc) rc = run_both(&a, &s, &err);
    if (rc) rc = cli_error("report", "%s", err.msg);
    else if (!s.rows[1].outputs_identical)
        rc = cli_error("report", "%s: the int8 outputs on %s differ from the host interpreter's; no figure is trustworthy",
                       a.tflite, a.target);
    else if (a.json) print_json(&a, &s);
    else print_markdown(&a, &s);
    if (s.model_built) reef_model_free(&s.model);
    reef_float_model_free(&s.fm);
    reef_lowered_free(&s.m8);
    if (s.g8_read) reef_graph_free(&s.g8);
    reef_dataset_free(&s.ds);
    return rc;
}
