/* reef run --target host|qemu-m4 --model M.tflite --data D.ds: every sample
 * through the generated C on a target, in one run; accuracy, and on
 * qemu-m4 the emulated instruction counts, modeled cycles, time and energy,
 * and flash and RAM from the firmware. The outputs are checked byte for
 * byte against reef's host interpreter. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "codegen/emit.h"
#include "intermittent.h"
#include "codegen/lower.h"
#include "data/background.h"
#include "data/dataset.h"
#include "energy/profile.h"
#include "nn/metrics.h"
#include "quant/quant.h"
#include "reef/background.h"
#include "firmware/cycles.h"
#include "firmware/pipeline.h"
#include "firmware/step_cycles.h"
#include "tflite/graph.h"
#include "util/io.h"
#include "util/json.h"
#include "util/table.h"

static void usage(FILE *fp)
{
    fprintf(fp,
            "usage: reef run --model M.tflite --data D.ds [--target host|qemu-m4] [options]\n\n"
            "Runs every sample of a dataset through the model's generated C on a target\n"
            "(one build, one run) and prints the accuracy. On qemu-m4 (the emulated\n"
            "Cortex-M4) also: executed instructions per inference (exact, emulated),\n"
            "cycles, time and energy per inference (modeled, device profile), flash and\n"
            "RAM (from the firmware). Outputs must equal reef's host interpreter's.\n\n"
            "  --model FILE     int8 .tflite (reef's own or e.g. MLPerf Tiny's)\n"
            "  --data FILE      dataset file (reef prep); its images must fit the input\n"
            "                   and its class names be the model's (another order is mapped)\n"
            "  --target T       host or qemu-m4 (default qemu-m4)\n"
            "  --profile P      device profile for the modeled figures (default stm32l4r5)\n"
            "  --limit N        only the first N samples\n"
            "  --work DIR       keep the generated C and the firmware in DIR\n"
            "  --timeout S      time limit of the run in seconds (default from the MACs)\n"
            "  --memory MODE    fast (default), balanced or min: depthwise steps in place\n"
            "                   (reef gen --help)\n"
            "  --steps          also count instructions per step (slower build, same run)\n"
            "  --step-cycles F  (qemu-m4, implies --steps) write each step's modeled cycles\n"
            "                   (the cycle model on its emulated counts) to F, for the\n"
            "                   intermittent planner: reef gen --intermittent --step-cycles F\n"
            "  --background running-diff\n"
            "                   the data are raw gray frames of a camera, in order; the\n"
            "                   firmware keeps the running background and feeds the model the\n"
            "                   difference (as `reef prep --background running-diff` does),\n"
            "                   starting afresh at each clip's first frame (IDs <clip>_f<N>)\n"
            "  --background running-diff-previous|running-diff-lag4|running-diff-slow\n"
            "                   the same for temporal context (a 2-channel model): the\n"
            "                   firmware keeps the running background and a lagged frame or a\n"
            "                   slower background (runtime reef_temporal_step) and maps both\n"
            "                   channels through the model's input map (a table per channel)\n"
            "  --stream FILE    with --background: the camera's whole stream, every frame of\n"
            "                   the clips (e.g. `reef prep --split frames`, gray): the firmware\n"
            "                   is fed every frame of each clip holding a --data frame, in\n"
            "                   frame order, its backgrounds run over all of them, and only\n"
            "                   --data's frames (found by ID) are inferred and scored: what\n"
            "                   `reef prep --background-over clip` computes\n"
            "  --intermittent   with injected power failures (reef run --intermittent --help)\n"
            "  --outputs FILE   write the target's int8 outputs: (samples, outputs) bytes, in\n"
            "                   --data's order (atomically)\n"
            "  --json           print the result as JSON\n");
}

typedef struct run_args {
    const char *model, *data, *target, *profile, *work, *step_cycles, *stream, *outputs;
    long limit;
    double timeout;
    int steps, json, background_diff;
    int temporal, temporal_lag; /* --background running-diff-*: a reef_temporal_kind, its lag */
    reef_memory_mode memory;
} run_args;

static int parse(int argc, char **argv, run_args *a)
{
    static const struct option opts[] = {
        {"model", required_argument, NULL, 'm'}, {"data", required_argument, NULL, 'd'},
        {"target", required_argument, NULL, 't'}, {"profile", required_argument, NULL, 'p'},
        {"limit", required_argument, NULL, 'n'}, {"work", required_argument, NULL, 'w'},
        {"timeout", required_argument, NULL, 'T'}, {"steps", no_argument, NULL, 's'},
        {"background", required_argument, NULL, 'B'}, {"step-cycles", required_argument, NULL, 'C'},
        {"json", no_argument, NULL, 'j'}, {"help", no_argument, NULL, 'h'},
        {"memory", required_argument, NULL, 'M'}, {"stream", required_argument, NULL, 'S'},
        {"outputs", required_argument, NULL, 'O'}, {NULL, 0, NULL, 0}};
    int c;
    *a = (run_args){NULL, NULL, "qemu-m4", "stm32l4r5", NULL, NULL, NULL, NULL, 0, 0, 0, 0, 0, 0, 0, REEF_MEMORY_FAST};
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 'm') a->model = optarg;
        else if (c == 'd') a->data = optarg;
        else if (c == 't') a->target = optarg;
        else if (c == 'p') a->profile = optarg;
        else if (c == 'w') a->work = optarg;
        else if (c == 's') a->steps = 1;
        else if (c == 'M') {
            int mode = reef_memory_mode_parse(optarg);
            if (mode < 0) return cli_error("run", "--memory '%s': expected fast, balanced or min", optarg), 2;
            a->memory = (reef_memory_mode)mode;
        }
        else if (c == 'C') a->step_cycles = optarg, a->steps = 1;
        else if (c == 'B') {
            if (!strcmp(optarg, "running-diff")) a->background_diff = 1;
            else if (!strcmp(optarg, "running-diff-previous")) a->temporal = REEF_TEMPORAL_LAG, a->temporal_lag = 1;
            else if (!strcmp(optarg, "running-diff-lag4")) a->temporal = REEF_TEMPORAL_LAG, a->temporal_lag = 4;
            else if (!strcmp(optarg, "running-diff-slow")) a->temporal = REEF_TEMPORAL_SLOW, a->temporal_lag = 0;
            else
                return cli_error("run", "--background wants running-diff, running-diff-previous, running-diff-lag4 or "
                                        "running-diff-slow (the firmware's running background), not '%s'", optarg) + 1;
        }
        else if (c == 'S') a->stream = optarg;
        else if (c == 'O') a->outputs = optarg;
        else if (c == 'j') a->json = 1;
        else if (c == 'n') {
            if (cli_parse_int("run", "--limit", optarg, 1, 100000000, &a->limit)) return 2;
        } else if (c == 'T') {
            if (cli_parse_timeout("run", optarg, &a->timeout)) return 2;
        } else if (c == 'h') return usage(stdout), 0;
        else return usage(stderr), 2;
    }
    if (optind != argc || !a->model || !a->data) return usage(stderr), 2;
    if (cli_check_run_target("run", a->target)) return 2;
    if (a->stream && !a->background_diff && !a->temporal)
        return cli_error("run", "--stream is the camera's stream for --background (the frames its backgrounds run "
                                "over)"), 2;
    if ((a->background_diff || a->temporal) && a->steps)
        return cli_error("run", "--steps is not available with --background (the firmware skips the model on "
                                "frames that only move the backgrounds)"), 2;
    if (a->step_cycles && strcmp(a->target, "qemu-m4"))
        return cli_error("run", "--step-cycles counts instructions: --target qemu-m4"), 2;
    return -1;
}

/* Everything one run holds. */
typedef struct run_state {
    reef_graph g;
    reef_lowered_model m;
    reef_dataset ds;
    reef_device_profile profile;
    int n;                 /* samples run (scored) */
    int8_t *inputs;        /* (n, input_size): what the target is given; with --background
                              (records, record_size): the camera's frames, see stream_inputs */
    int records;           /* --background: frames fed (n, or more with --stream) */
    size_t record_size;    /* --background: a control byte and a raw gray frame */
    uint32_t *sample_of;   /* --background: (n) the --data sample of the k-th scored record */
    reef_dataset stream;   /* --stream */
    int8_t *model_inputs;  /* (n, input_size): what the model sees (== inputs unless --background) */
    int8_t *outputs;       /* (n, output_size) from the target */
    int8_t *expected;      /* (n, output_size) from the host interpreter */
    uint16_t *pred;        /* (n) */
    reef_firmware_figures fig;
    reef_run_counts counts;  /* with --steps on qemu-m4: per-step counts */
    reef_metrics metrics;
    int first_mismatch;    /* sample index, -1 when all outputs match */
    reef_input_map input_map; /* --background running-diff-*: built into the firmware */
} run_state;

static int interpreter_outputs(run_state *s)
{
    for (int i = 0; i < s->n; i++)
        if (reef_lowered_invoke(&s->m, s->model_inputs + (size_t)i * s->m.input_size,
                                s->expected + (size_t)i * s->m.output_size))
            return -1;
    s->first_mismatch = -1;
    for (int i = 0; i < s->n && s->first_mismatch < 0; i++)
        if (memcmp(s->outputs + (size_t)i * s->m.output_size, s->expected + (size_t)i * s->m.output_size,
                   (size_t)s->m.output_size))
            s->first_mismatch = i;
    return 0;
}

/* The dataset restricted to the samples run (a view: same arrays). */
static reef_dataset first_samples(const reef_dataset *ds, int n)
{
    reef_dataset v = *ds;
    v.count = (uint32_t)n;
    return v;
}

/* Mean instructions of step k over the inferences (per_step is (n, steps)). */
static double step_mean(const reef_run_counts *c, int k)
{
    double sum = 0;
    for (int i = 0; i < c->inferences; i++) sum += (double)c->per_step[(size_t)i * c->steps + k].c[REEF_INSN_TOTAL];
    return c->inferences ? sum / c->inferences : 0;
}

static int profiled_steps(const run_state *s)
{
    return s->counts.per_step && s->counts.steps == s->m.nsteps ? s->m.nsteps : 0;
}

static void json_steps(reef_json *j, const run_state *s)
{
    reef_json_key(j, "steps");
    reef_json_array(j);
    for (int k = 0; k < profiled_steps(s); k++) {
        reef_json_object(j);
        reef_json_kv_string(j, "kind", reef_step_kind_name(s->m.steps[k].kind));
        reef_json_kv_string(j, "op", reef_builtin_name(s->m.steps[k].builtin));
        reef_json_kv_int(j, "macs", s->m.steps[k].macs);
        reef_json_kv_number(j, "instructions", step_mean(&s->counts, k));
        reef_json_end(j);
    }
    reef_json_end(j);
}

static void print_steps(const run_state *s)
{
    if (!profiled_steps(s)) return;
    reef_table t;
    reef_table_init(&t, ">step", "kernel", ">MACs", ">instructions", ">share", ">MACs/instr", NULL);
    for (int k = 0; k < s->m.nsteps; k++) {
        double insn = step_mean(&s->counts, k);
        reef_table_cell(&t, "%d", k), reef_table_cell(&t, "%s", reef_step_kind_name(s->m.steps[k].kind));
        reef_table_cell(&t, "%lld", (long long)s->m.steps[k].macs), reef_table_cell(&t, "%.0f", insn);
        reef_table_cell(&t, "%.1f%%", s->fig.insn_mean > 0 ? 100.0 * insn / s->fig.insn_mean : 0);
        reef_table_cell(&t, "%.3f", insn > 0 ? (double)s->m.steps[k].macs / insn : 0);
    }
    putchar('\n');
    reef_table_print(&t, stdout, "per step (emulated instructions, mean per inference):");
}

static void print_json(const run_args *a, const run_state *s)
{
    const reef_firmware_figures *f = &s->fig;
    reef_json j;
    reef_json_begin(&j, stdout);
    reef_json_object(&j);
    reef_json_kv_string(&j, "model", a->model);
    reef_json_kv_string(&j, "data", a->data);
    reef_json_kv_string(&j, "target", a->target);
    reef_json_kv_int(&j, "samples", s->n);
    reef_json_kv_int(&j, "frames_fed", s->records); /* --stream: every frame of the clips */
    reef_json_kv_number(&j, "accuracy", s->metrics.accuracy);
    reef_json_kv_int(&j, "correct", s->metrics.correct);
    reef_json_kv_bool(&j, "outputs_match_host", s->first_mismatch < 0);
    reef_json_kv_int(&j, "macs", s->m.macs);
#define KV_EMULATED(key, value) (f->emulated ? reef_json_kv_number(&j, key, value) : (reef_json_key(&j, key), reef_json_null(&j)))
    KV_EMULATED("instructions", f->insn_mean);
    KV_EMULATED("instructions_min", (double)f->insn_min);
    KV_EMULATED("instructions_max", (double)f->insn_max);
    KV_EMULATED("cycles_modeled", f->cycles);
    KV_EMULATED("time_ms_modeled", f->time_ms);
    KV_EMULATED("power_mw_modeled", f->power_mw);
    KV_EMULATED("energy_mj_modeled", f->energy_mj);
    if (f->emulated) {
        char note[128];
        reef_cycle_error_note(&s->profile, note, sizeof note);
        reef_json_kv_string(&j, "time_modeled_error", note);
        reef_profile_energy_error_note(&s->profile, note, sizeof note);
        reef_json_kv_string(&j, "energy_modeled_error", note);
        reef_json_kv_number(&j, "power_mw_datasheet",
                            s->profile.supply_v * s->profile.run_ua_per_mhz * s->profile.clock_mhz * 1e-3);
    }
    KV_EMULATED("clock_mhz", f->clock_mhz);
    KV_EMULATED("flash_bytes", f->mem.flash_total);
    KV_EMULATED("ram_bytes", f->mem.ram_total);
    KV_EMULATED("flash_weights_bytes", f->mem.flash_weights);
    KV_EMULATED("flash_code_bytes", f->mem.flash_code);
    if (f->mem.origin.known) {
        KV_EMULATED("flash_runtime_code_bytes", f->mem.origin.runtime_code);
        KV_EMULATED("flash_runtime_data_bytes", f->mem.origin.runtime_data);
        KV_EMULATED("flash_model_constants_bytes", f->mem.origin.model_constants);
        KV_EMULATED("flash_model_code_bytes", f->mem.origin.model_code);
        KV_EMULATED("flash_harness_bytes", f->mem.origin.harness);
        KV_EMULATED("flash_libc_bytes", f->mem.origin.libc);
        KV_EMULATED("flash_other_bytes", f->mem.origin.other);
    }
    KV_EMULATED("ram_activations_bytes", f->mem.ram_activations);
    KV_EMULATED("ram_stack_bytes", f->mem.ram_stack);
#undef KV_EMULATED
    if (profiled_steps(s)) json_steps(&j, s);
    reef_json_kv_number(&j, "run_seconds", f->wall_seconds);
    reef_json_kv_number(&j, "build_seconds", f->build_seconds);
    reef_json_end(&j);
    reef_json_finish(&j);
}

static void print_text(const run_args *a, const run_state *s)
{
    const reef_firmware_figures *f = &s->fig;
    printf("%s on %s: %d samples of %s, accuracy %.2f%% (%lld correct); outputs %s the host interpreter's\n",
           a->model, a->target, s->n, a->data, 100.0 * s->metrics.accuracy, (long long)s->metrics.correct,
           s->first_mismatch < 0 ? "identical to" : "DIFFER from");
    if (a->stream)
        printf("the camera's stream: %d frames of the clips in %s fed in order (the backgrounds ran over all of "
               "them), the %d of %s scored\n", s->records, a->stream, s->n, a->data);
    putchar('\n');
    reef_metrics_print(&s->metrics, stdout);
    putchar('\n');
    if (!f->emulated) {
        printf("run took %.2f s (build %.1f s); instruction counts need --target qemu-m4\n", f->wall_seconds,
               f->build_seconds);
        return;
    }
    reef_table t;
    reef_table_init(&t, "per inference", ">value", "how", NULL);
    reef_table_cell(&t, "instructions"), reef_table_cell(&t, "%.0f", f->insn_mean);
    reef_table_cell(&t, f->insn_all_equal ? "emulated, exact (every sample the same)" : "emulated, exact (mean; %llu-%llu)",
                    (unsigned long long)f->insn_min, (unsigned long long)f->insn_max);
    reef_table_cell(&t, "MACs / instruction"), reef_table_cell(&t, "%.3f", f->insn_mean > 0 ? (double)s->m.macs / f->insn_mean : 0);
    reef_table_cell(&t, "%lld MACs", (long long)s->m.macs);
    reef_table_cell(&t, "cycles"), reef_table_cell(&t, "%.0f", f->cycles);
    reef_table_cell(&t, "modeled (core %.0f + flash wait %.0f)", f->core_cycles, f->flash_cycles);
    char time_note[128], energy_note[128];
    reef_cycle_error_note(&s->profile, time_note, sizeof time_note);
    reef_profile_energy_error_note(&s->profile, energy_note, sizeof energy_note);
    reef_table_cell(&t, "time"), reef_table_cell(&t, "%.3f ms", f->time_ms);
    reef_table_cell(&t, "modeled at %.0f MHz, %s", f->clock_mhz, time_note);
    reef_table_cell(&t, "power"), reef_table_cell(&t, "%.2f mW", f->power_mw);
    if (s->profile.run_ua_per_mhz_board > 0)
        reef_table_cell(&t, "modeled, run mode (%s): board-fitted %.1f uA/MHz; datasheet %.0f uA/MHz gives %.2f mW",
                        s->profile.name, s->profile.run_ua_per_mhz_board, s->profile.run_ua_per_mhz,
                        s->profile.supply_v * s->profile.run_ua_per_mhz * s->profile.clock_mhz * 1e-3);
    else
        reef_table_cell(&t, "modeled, run mode (%s): datasheet %.0f uA/MHz", s->profile.name, s->profile.run_ua_per_mhz);
    reef_table_cell(&t, "energy"), reef_table_cell(&t, "%.4f mJ", f->energy_mj);
    reef_table_cell(&t, "modeled, time x power, %s", energy_note);
    reef_table_cell(&t, "flash"), reef_table_cell(&t, "%.2f KB", f->mem.flash_total / 1024.0);
    reef_table_cell(&t, "firmware ELF: code %u, weights %u, other %u B", f->mem.flash_code, f->mem.flash_weights,
                    f->mem.flash_rodata + f->mem.flash_data_init);
    if (f->mem.origin.known) {
        const reef_flash_origin *o = &f->mem.origin;
        reef_table_cell(&t, "flash by origin"), reef_table_cell(&t, "runtime %u B", o->runtime_code + o->runtime_data);
        reef_table_cell(&t, "runtime code %u + tables %u, model constants %u + code %u, harness %u, C library %u, "
                        "other %u B", o->runtime_code, o->runtime_data, o->model_constants, o->model_code, o->harness,
                        o->libc, o->other);
    }
    reef_table_cell(&t, "RAM"), reef_table_cell(&t, "%.2f KB", f->mem.ram_total / 1024.0);
    reef_table_cell(&t, "firmware ELF + run: arena %u, stack %u, other %u B", f->mem.ram_activations, f->mem.ram_stack,
                    f->mem.ram_total - f->mem.ram_activations - f->mem.ram_stack);
    reef_table_print(&t, stdout, NULL);
    print_steps(s);
    printf("emulator wall time (QEMU on this host, not the MCU's time) for %d inferences: %.2f s (build %.1f s)\n", s->n,
           f->wall_seconds, f->build_seconds);
}

/* The control byte of a --background record (targets/common/harness.c). */
#define RECORD_CLIP_START 1
#define RECORD_SCORED 2

/* What the firmware is given with --background: a stream of records, each
 * a control byte (a clip's first frame: the backgrounds start afresh; a
 * scored frame: the model runs on it) and one raw gray frame (its bytes p).
 * Without --stream the stream is --data's first n frames in dataset order,
 * every one scored, a clip starting where the clip part of the ID changes
 * (reef_dataset_starts_clip). With --stream it is every frame of each of
 * the stream's clips that holds a --data frame, clip by clip in frame order
 * (reef_dataset_clip_order, as prep --background-over clip runs them), and
 * the --data frames alone are scored. */
typedef struct stream_plan {
    const reef_dataset *frames; /* the dataset the records' frames come from */
    uint32_t *order;            /* (records) its sample indices, in stream order */
    int32_t *scored;            /* (records) the --data sample scored there, or -1 */
    uint8_t *starts;            /* (records) 1 at a clip's first frame */
    int records;
} stream_plan;

static void stream_plan_free(stream_plan *p) { free(p->order), free(p->scored), free(p->starts); }

static int plan_alloc(stream_plan *p, uint32_t records, reef_error *err)
{
    p->order = malloc((records + 1) * sizeof *p->order);
    p->scored = malloc((records + 1) * sizeof *p->scored);
    p->starts = malloc(records + 1);
    return p->order && p->scored && p->starts ? 0 : reef_fail(err, "out of memory");
}

static int plan_from_data(const run_state *s, stream_plan *p, reef_error *err)
{
    p->frames = &s->ds, p->records = s->n;
    if (plan_alloc(p, (uint32_t)s->n, err)) return -1;
    for (int i = 0; i < s->n; i++)
        p->order[i] = (uint32_t)i, p->scored[i] = i, p->starts[i] = (uint8_t)reef_dataset_starts_clip(&s->ds, (uint32_t)i);
    return 0;
}

static int plan_from_stream(const run_args *a, run_state *s, stream_plan *p, reef_error *err)
{
    const reef_dataset *st = &s->stream, *ds = &s->ds;
    if (st->channels != 1 || st->height != ds->height || st->width != ds->width)
        return reef_fail(err, "--stream %s holds %ux%ux%u frames; the camera's gray frames of --data %s are %ux%ux1",
                         a->stream, st->height, st->width, st->channels, a->data, ds->height, ds->width);
    uint32_t *where = malloc((ds->count + 1) * sizeof *where), *order = malloc((st->count + 1) * sizeof *order);
    uint32_t *starts = malloc((st->count + 2) * sizeof *starts), nclips = 0;
    int32_t *scored_at = malloc((st->count + 1) * sizeof *scored_at);
    int rc = where && order && starts && scored_at ? 0 : reef_fail(err, "out of memory");
    if (!rc && reef_dataset_find_ids(ds, st, where, err)) rc = reef_fail_wrap(err, "--data %s in --stream %s", a->data, a->stream);
    if (!rc) rc = reef_dataset_clip_order(st, order, starts, &nclips, err);
    const size_t px = (size_t)st->height * st->width;
    for (uint32_t j = 0; !rc && j < st->count; j++) scored_at[j] = -1;
    for (int i = 0; !rc && i < s->n; i++) {
        if (scored_at[where[i]] >= 0)
            rc = reef_fail(err, "--data %s: samples %d and %d are the same frame '%s'", a->data, scored_at[where[i]], i, ds->ids[i]);
        else if (memcmp(reef_dataset_sample(ds, (uint32_t)i), reef_dataset_sample(st, where[i]), px))
            rc = reef_fail(err, "frame '%s' differs between --data %s and --stream %s (prepped with other options?)",
                           ds->ids[i], a->data, a->stream);
        else scored_at[where[i]] = i;
    }
    if (!rc) rc = plan_alloc(p, st->count, err);
    p->frames = st, p->records = 0;
    for (uint32_t c = 0; !rc && c < nclips; c++) {
        int holds = 0; /* only clips the camera saw while a scored frame was taken */
        for (uint32_t k = starts[c]; k < starts[c + 1]; k++) holds |= scored_at[order[k]] >= 0;
        for (uint32_t k = starts[c]; holds && k < starts[c + 1]; k++, p->records++) {
            p->order[p->records] = order[k], p->scored[p->records] = scored_at[order[k]];
            p->starts[p->records] = k == starts[c];
        }
    }
    free(where), free(order), free(starts), free(scored_at);
    return rc;
}

/* The model fits --background: 1 channel with the map p - 128 (the
 * 1-channel firmware maps by an xor), or 2 channels with any map (the
 * temporal firmware maps by tables); --data's gray frames fit its input. */
static int check_background_model(const run_args *a, run_state *s, reef_input_map *map, reef_error *err)
{
    if (reef_input_map_from_graph(&s->g, map, err)) return -1;
    const int32_t *shape = s->m.input_shape;
    if (a->background_diff) {
        if (s->ds.channels != 1 || !map->exact)
            return reef_fail(err, "--background running-diff needs 1-channel (gray) frames and a model whose input is "
                                  "the pixel minus 128 (%s: %u channels; %s: input map %s)",
                             a->data, s->ds.channels, a->model, map->exact ? "p - 128" : "not p - 128");
        return reef_dataset_check_fits(&s->ds, a->data, s->m.input_shape, s->m.input_rank, s->m.output_size, a->model, err);
    }
    if (s->m.input_rank != 4 || shape[3] != 2 || map->channels != 2)
        return reef_fail(err, "--background %s needs a model whose input has 2 channels (%s: input %s)",
                         a->temporal == REEF_TEMPORAL_SLOW ? "running-diff-slow" : "running-diff-lag*", a->model,
                         s->m.input_rank == 4 ? "of another channel count" : "not NHWC");
    const int32_t frame_shape[4] = {shape[0], shape[1], shape[2], 1}; /* the camera's gray frames */
    return reef_dataset_check_fits(&s->ds, a->data, frame_shape, 4, s->m.output_size, a->model, err);
}

/* --background: the records the target is given (s->inputs), and what the
 * model must see on each scored one (s->model_inputs, in record order;
 * s->sample_of maps them to --data), computed here with the runtime's own
 * steps, the firmware's code. map is what the firmware is built with. */
static int stream_inputs(const run_args *a, run_state *s, reef_input_map *map, reef_error *err)
{
    if (check_background_model(a, s, map, err)) return -1;
    if (a->stream && reef_dataset_load(a->stream, &s->stream, err)) return -1;
    stream_plan p = {0};
    if (a->stream ? plan_from_stream(a, s, &p, err) : plan_from_data(s, &p, err)) return stream_plan_free(&p), -1;
    const size_t px = (size_t)s->ds.height * s->ds.width, size = (size_t)s->m.input_size;
    s->records = p.records, s->record_size = 1 + px;
    uint16_t *mean = malloc(px * sizeof *mean), *slow = malloc(px * sizeof *slow);
    uint8_t *history = malloc(4 * px), *steps = malloc(size);
    s->inputs = malloc((size_t)p.records * s->record_size);
    s->model_inputs = malloc((size_t)s->n * size);
    s->sample_of = malloc((size_t)s->n * sizeof *s->sample_of);
    if (!mean || !slow || !history || !steps || !s->inputs || !s->model_inputs || !s->sample_of) {
        free(mean), free(slow), free(history), free(steps), stream_plan_free(&p);
        return reef_fail(err, "out of memory");
    }
    reef_background bg;
    reef_temporal t;
    int k = 0; /* scored records so far */
    for (int r = 0; r < p.records; r++) {
        const uint8_t *frame = reef_dataset_sample(p.frames, p.order[r]);
        int8_t *record = s->inputs + (size_t)r * s->record_size;
        record[0] = (int8_t)((r == 0 || p.starts[r] ? RECORD_CLIP_START : 0) | (p.scored[r] >= 0 ? RECORD_SCORED : 0));
        memcpy(record + 1, frame, px); /* raw bytes: the device maps after the step */
        if (record[0] & RECORD_CLIP_START) { /* a new clip: the camera starts afresh */
            if (a->temporal)
                reef_temporal_init(&t, (reef_temporal_kind)a->temporal, mean, history, (uint32_t)a->temporal_lag, slow,
                                   (uint32_t)px);
            else reef_background_init(&bg, mean, (uint32_t)px);
        }
        if (a->temporal) reef_temporal_step(&t, frame, steps);
        else reef_background_difference(&bg, frame, steps);
        if (p.scored[r] < 0) continue;
        reef_input_map_apply(map, steps, size, s->model_inputs + (size_t)k * size);
        s->sample_of[k++] = (uint32_t)p.scored[r];
    }
    free(mean), free(slow), free(history), free(steps), stream_plan_free(&p);
    return k == s->n ? 0 : reef_fail(err, "internal: %d of %d frames scored", k, s->n);
}

static int prepare(const run_args *a, run_state *s, reef_error *err)
{
    if (reef_profile_load(a->profile, &s->profile, err)) return -1;
    if (reef_tflite_read(a->model, &s->g, err)) return -1;
    reef_lower_options lower_opt = {0, a->memory, REEF_PATCH_AUTO};
    if (reef_lower_with(&s->g, &lower_opt, &s->m, err)) return reef_fail_wrap(err, "%s", a->model);
    if (reef_dataset_load(a->data, &s->ds, err)) return -1;
    char note[1024];
    if (reef_dataset_follow_classes(&s->ds, a->data, &s->g.classes, a->model, note, sizeof note, err)) return -1;
    if (note[0]) fprintf(stderr, "reef run: %s\n", note);
    s->n = (int)s->ds.count;
    if (a->limit && a->limit < s->n) s->n = (int)a->limit;
    if (s->n == 0) return reef_fail(err, "%s has no samples", a->data);
    const int background = a->background_diff || a->temporal;
    if (background ? stream_inputs(a, s, &s->input_map, err)
                   : reef_pipeline_int8_inputs(&s->g, &s->m, &s->ds, a->data, &s->inputs, err))
        return -1;
    s->outputs = malloc((size_t)s->n * s->m.output_size);
    s->expected = malloc((size_t)s->n * s->m.output_size);
    s->pred = malloc((size_t)s->n * sizeof *s->pred);
    if (!s->outputs || !s->expected || !s->pred) return reef_fail(err, "out of memory");
    if (!background) s->model_inputs = s->inputs, s->records = s->n;
    return 0;
}

static int execute(const run_args *a, run_state *s, reef_error *err)
{
    char name[72];
    reef_c_name_from_path(a->model, name, sizeof name);
    reef_pipeline_opts o = {.target = a->target, .work_dir = a->work, .name = name, .source = a->model,
                            .profile = &s->profile, .timeout_s = a->timeout, .profile_steps = a->steps,
                            .background_diff = a->background_diff, .temporal = a->temporal,
                            .temporal_lag = a->temporal_lag, .input_map = a->temporal ? &s->input_map : NULL,
                            .record_size = s->record_size, .n_outputs = s->n};
    if (!a->json) {
        fprintf(stderr, "reef run: building %s for %s, running %d samples", a->model, a->target, s->n);
        if (s->records > s->n) fprintf(stderr, " (in a stream of %d frames)", s->records);
        fprintf(stderr, "...\n");
    }
    if (reef_pipeline_run_int8(&s->m, s->inputs, s->records, s->outputs, &o, &s->fig, a->steps ? &s->counts : NULL, err))
        return -1;
    if (interpreter_outputs(s)) return reef_fail(err, "%s: the host interpreter refused the model", a->model);
    for (int k = 0; k < s->n; k++) /* outputs are in stream order; pred in --data's */
        s->pred[s->sample_of ? s->sample_of[k] : (uint32_t)k] =
            (uint16_t)reef_argmax_i8(s->outputs + (size_t)k * s->m.output_size, s->m.output_size);
    if (s->first_mismatch >= 0 && s->sample_of) s->first_mismatch = (int)s->sample_of[s->first_mismatch];
    reef_dataset view = first_samples(&s->ds, s->n);
    return reef_metrics_compute(&s->metrics, &view, s->pred, err);
}

/* --outputs: the target's outputs in --data's order (they come in stream
 * order with --background). Written whole or not at all. */
static int write_outputs(const run_args *a, const run_state *s, reef_error *err)
{
    const size_t size = (size_t)s->m.output_size;
    int8_t *ordered = malloc((size_t)s->n * size + 1);
    if (!ordered) return reef_fail(err, "out of memory");
    for (int k = 0; k < s->n; k++)
        memcpy(ordered + (s->sample_of ? s->sample_of[k] : (uint32_t)k) * size, s->outputs + (size_t)k * size, size);
    int rc = reef_write_file(a->outputs, ordered, (size_t)s->n * size, err);
    free(ordered);
    return rc;
}

/* Each step's modeled cycles, mean per inference: the cycle model applied
 * to its emulated per-class counts. Written whole or not at all. */
static int write_step_cycles(const run_args *a, const run_state *s, reef_error *err)
{
    double *cycles = NULL;
    char comment[4200];
    if (!profiled_steps(s)) return reef_fail(err, "%s: no per-step counts to write", a->step_cycles);
    if (reef_step_cycles_from_counts(&s->counts, &s->profile, &cycles, err)) return -1;
    snprintf(comment, sizeof comment,
             "reef step cycles: modeled cycles (docs/cycle-model.md) from the emulated per-class\n"
             "instruction counts of qemu-m4, mean of %d inferences; model %s",
             s->counts.inferences, a->model);
    int rc = reef_step_cycles_write(a->step_cycles, cycles, s->counts.steps, comment, err);
    free(cycles);
    return rc;
}

int cmd_run(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--intermittent")) return run_intermittent(argc, argv);
    run_args a;
    int rc = parse(argc, argv, &a);
    if (rc >= 0) return rc;
    run_state s;
    memset(&s, 0, sizeof s);
    reef_error err = {{0}};
    rc = prepare(&a, &s, &err) || execute(&a, &s, &err) ? cli_error("run", "%s", err.msg) : 0;
    if (!rc && s.first_mismatch >= 0) {
        rc = cli_error("run", "%s on %s: sample %d's output differs from the host interpreter's (the generated code "
                              "or the target is wrong; no figure is trustworthy)",
                       a.model, a.target, s.first_mismatch);
    } else if (!rc) {
        if ((a.step_cycles && write_step_cycles(&a, &s, &err)) || (a.outputs && write_outputs(&a, &s, &err)))
            rc = cli_error("run", "%s", err.msg);
        else if (a.json) print_json(&a, &s);
        else print_text(&a, &s);
    }
    reef_metrics_free(&s.metrics);
    reef_run_counts_free(&s.counts);
    if (s.model_inputs != s.inputs) free(s.model_inputs);
    free(s.inputs), free(s.outputs), free(s.expected), free(s.pred), free(s.sample_of);
    reef_dataset_free(&s.ds);
    if (a.stream) reef_dataset_free(&s.stream);
    reef_lowered_free(&s.m);
    reef_graph_free(&s.g);
    return rc;
}
