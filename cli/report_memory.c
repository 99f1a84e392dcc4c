/* reef report --memory --int8 M.tflite --data D.ds: what each memory mode
 * of the planner (reef gen --memory) costs and saves for one model. Every
 * mode is lowered, emitted as C, built and run on the emulated Cortex-M4
 * on the same samples; the table gives the layer-by-layer arena (the
 * bound where TFLite Micro and TinyEngine start), the mode's arena and
 * firmware RAM, and the instructions paid for it against fast. The
 * outputs of every mode must equal the host interpreter's byte for byte,
 * or nothing is printed. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "codegen/lower.h"
#include "codegen/patch_plan.h"
#include "data/dataset.h"
#include "energy/profile.h"
#include "firmware/pipeline.h"
#include "tflite/graph.h"
#include "util/json.h"

static const char *NAME = "report";

enum { MODES = 3 };

static void usage(FILE *fp)
{
    fprintf(fp,
            "usage: reef report --memory --int8 M.tflite --data D.ds [--limit N] [--profile P] [--json]\n\n"
            "The planner's memory modes (reef gen --memory fast|balanced|min) side by side:\n"
            "per mode the layer-by-layer arena (no step in place: the bound layer-by-layer\n"
            "execution cannot beat), the mode's arena, the depthwise steps run in place,\n"
            "firmware RAM and flash, and the instructions per inference (emulated on\n"
            "qemu-m4, exact) and modeled time against fast. Every mode's outputs must\n"
            "equal the host interpreter's byte for byte.\n\n"
            "  --int8 FILE      int8 .tflite\n"
            "  --data FILE      dataset file the inputs come from\n"
            "  --limit N        samples per mode (default 20)\n"
            "  --profile P      device profile for the modeled time (default stm32l4r5)\n"
            "  --timeout S      time limit of each emulated run\n"
            "  --json           print the result as JSON\n");
}

typedef struct memory_args {
    const char *tflite, *data, *profile;
    long limit;
    double timeout;
    int json;
} memory_args;

static int parse(int argc, char **argv, memory_args *a)
{
    static const struct option opts[] = {
        {"memory", no_argument, NULL, 'm'},          {"int8", required_argument, NULL, 'i'},
        {"data", required_argument, NULL, 'd'},      {"limit", required_argument, NULL, 'n'},
        {"profile", required_argument, NULL, 'p'},   {"timeout", required_argument, NULL, 'T'},
        {"json", no_argument, NULL, 'j'},            {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    int c;
    *a = (memory_args){NULL, NULL, "stm32l4r5", 20, 0, 0};
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 'm') continue;
        else if (c == 'i') a->tflite = optarg;
        else if (c == 'd') a->data = optarg;
        else if (c == 'p') a->profile = optarg;
        else if (c == 'j') a->json = 1;
        else if (c == 'n') {
            if (cli_parse_int(NAME, "--limit", optarg, 1, 100000, &a->limit)) return 2;
        } else if (c == 'T') {
            if (cli_parse_timeout(NAME, optarg, &a->timeout)) return 2;
        } else if (c == 'h') return usage(stdout), 0;
        else return usage(stderr), 2;
    }
    if (optind != argc || !a->tflite || !a->data) return usage(stderr), 2;
    return -1;
}

/* One mode's figures. */
typedef struct mode_row {
    reef_memory_mode mode;
    size_t arena, arena_layer_by_layer, lower_bound;
    int in_place_steps, rows_steps, rows_layers;
    reef_firmware_figures fig;
    reef_patch_plan patch; /* fast only: the first stage patch by patch (planned) */
    double insn_per_mac;   /* fast only: emulated instructions per MAC */
} mode_row;

/* Lowers g in mode, runs the samples on qemu-m4 and checks the outputs
 * against the host interpreter's. */
static int run_mode(const memory_args *a, const reef_graph *g, const reef_dataset *ds, int n,
                    const reef_device_profile *prof, mode_row *r, reef_error *err)
{
    reef_lower_options lo = {0, r->mode, REEF_PATCH_AUTO};
    reef_lowered_model m;
    int8_t *in = NULL, *out = NULL, *host = NULL;
    if (reef_lower_with(g, &lo, &m, err)) return reef_fail_wrap(err, "%s", a->tflite);
    int rc = reef_pipeline_int8_inputs(g, &m, ds, a->data, &in, err);
    out = malloc((size_t)n * (size_t)m.output_bytes), host = malloc((size_t)m.output_bytes);
    if (!rc && (!out || !host)) rc = reef_fail(err, "out of memory");
    reef_pipeline_opts o = {.target = "qemu-m4", .name = "reef_memory_model", .source = a->tflite,
                            .profile = prof, .timeout_s = a->timeout};
    if (!rc) rc = reef_pipeline_run_int8(&m, in, n, out, &o, &r->fig, NULL, err);
    for (int i = 0; !rc && i < n; i++) {
        if (reef_lowered_invoke(&m, in + (size_t)i * (size_t)m.input_bytes, host))
            rc = reef_fail(err, "the host interpreter refused the model");
        else if (memcmp(host, out + (size_t)i * (size_t)m.output_bytes, (size_t)m.output_bytes))
            rc = reef_fail(err, "%s, --memory %s: sample %d's outputs on qemu-m4 differ from the host interpreter's",
                           a->tflite, reef_memory_mode_name(r->mode), i);
    }
    r->arena = m.arena_size, r->arena_layer_by_layer = m.arena_layer_by_layer;
    r->lower_bound = m.arena_lower_bound, r->in_place_steps = m.in_place_steps;
    r->rows_steps = m.rows_steps, r->rows_layers = m.rows_layers;
    if (r->mode == REEF_MEMORY_FAST) {
        reef_patch_plan_first_stage(g, &m, REEF_MEMORY_MIN, 8, &r->patch);
        r->insn_per_mac = m.macs > 0 ? r->fig.insn_mean / (double)m.macs : 0;
    }
    free(in), free(out), free(host);
    reef_lowered_free(&m);
    return rc;
}

static double percent_over(double v, double base)
{
    return base > 0 ? 100.0 * (v - base) / base : 0;
}

static void print_table(const memory_args *a, const mode_row *rows, int n)
{
    const mode_row *fast = &rows[0];
    printf("\n## %s: memory modes (%d samples, qemu-m4)\n\n", a->tflite, n);
    printf("| mode | arena B | layer by layer B | arena / layer by layer | in place | row by row (layers) | RAM KB | "
           "flash KB | instructions | vs fast | time ms |\n|---|---|---|---|---|---|---|---|---|---|---|\n");
    for (int k = 0; k < MODES; k++) {
        const mode_row *r = &rows[k];
        printf("| %s | %zu | %zu | %.3f | %d | %d (%d) | %.2f | %.2f | %.0f | %+.1f%% | %.3f |\n",
               reef_memory_mode_name(r->mode), r->arena, r->arena_layer_by_layer,
               r->arena_layer_by_layer ? (double)r->arena / (double)r->arena_layer_by_layer : 0, r->in_place_steps,
               r->rows_steps, r->rows_layers,
               r->fig.mem.ram_total / 1024.0, r->fig.mem.flash_total / 1024.0, r->fig.insn_mean,
               percent_over(r->fig.insn_mean, fast->fig.insn_mean), r->fig.time_ms);
    }
    printf("\n- arena: the planned activation arena (scratch included); layer by layer: the same model with no "
           "step in place (the bound of layer-by-layer execution); in place: depthwise steps whose output "
           "overwrites their input; row by row: ROWS steps, chains of conv / depthwise layers (and a residual ADD) "
           "run one output row at a time with ring buffers (reef/rows.h), nothing recomputed.\n");
    printf("- RAM and flash: the firmware ELF, RAM with the stack high-water of the emulated run (measured); "
           "instructions: exact, emulated (qemu-m4), mean per inference; time: modeled cycles at the profile's "
           "clock (docs/cycle-model.md).\n");
    printf("- every mode's outputs equal the host interpreter's, byte for byte, on every sample.\n");
    const reef_patch_plan *p = &fast->patch;
    if (!p->layers) return;
    const mode_row *min = &rows[MODES - 1];
    printf("\nPatch-based first stage (MCUNetV2; planned, not built): the best of the first 2-%d conv / depthwise "
           "layers in 2x2..8x8 patches, the rest under min, is %d layers in %dx%d: arena %zu B (the stage %zu: input "
           "%zu + stage output %zu + patch buffers %zu; its kernels' scratch left out), %+lld MACs recomputed in the "
           "halos (%+.1f%% of the stage), about %+.0f instructions at fast's %.2f per MAC (modeled). Row by row "
           "(min): %zu B, nothing recomputed, %+.0f instructions (emulated). %s\n",
           p->layers, p->layers, p->grid, p->grid, p->arena, p->peak_bound, p->input_bytes, p->output_bytes,
           p->patch_bytes,
           (long long)p->extra_macs, p->stage_macs ? 100.0 * (double)p->extra_macs / (double)p->stage_macs : 0,
           (double)p->extra_macs * fast->insn_per_mac, fast->insn_per_mac, min->arena,
           min->fig.insn_mean - fast->fig.insn_mean,
           p->arena >= min->arena ? "Patches do not lower this model's peak below row by row."
                                  : "Patches would lower the peak: NOT BUILT.");
}

static void print_json(const memory_args *a, const mode_row *rows, int n)
{
    reef_json j;
    reef_json_begin(&j, stdout);
    reef_json_object(&j);
    reef_json_kv_string(&j, "model", a->tflite);
    reef_json_kv_int(&j, "samples", n);
    reef_json_kv_string(&j, "target", "qemu-m4");
    reef_json_key(&j, "modes");
    reef_json_array(&j);
    for (int k = 0; k < MODES; k++) {
        const mode_row *r = &rows[k];
        reef_json_object(&j);
        reef_json_kv_string(&j, "mode", reef_memory_mode_name(r->mode));
        reef_json_kv_int(&j, "arena_bytes", (int64_t)r->arena);
        reef_json_kv_int(&j, "arena_layer_by_layer_bytes", (int64_t)r->arena_layer_by_layer);
        reef_json_kv_int(&j, "arena_lower_bound_bytes", (int64_t)r->lower_bound);
        reef_json_kv_int(&j, "in_place_steps", r->in_place_steps);
        reef_json_kv_int(&j, "rows_steps", r->rows_steps);
        reef_json_kv_int(&j, "rows_layers", r->rows_layers);
        reef_json_kv_int(&j, "ram_bytes", r->fig.mem.ram_total);
        reef_json_kv_int(&j, "flash_bytes", r->fig.mem.flash_total);
        reef_json_kv_number(&j, "instructions", r->fig.insn_mean);
        reef_json_kv_number(&j, "instructions_vs_fast", rows[0].fig.insn_mean > 0 ? r->fig.insn_mean / rows[0].fig.insn_mean : 0);
        reef_json_kv_number(&j, "time_ms_modeled", r->fig.time_ms);
        reef_json_end(&j);
    }
    reef_json_end(&j);
    if (rows[0].patch.layers) {
        const reef_patch_plan *p = &rows[0].patch;
        reef_json_key(&j, "patch_first_stage_planned");
        reef_json_object(&j);
        reef_json_kv_int(&j, "layers", p->layers);
        reef_json_kv_int(&j, "grid", p->grid);
        reef_json_kv_int(&j, "stage_bytes", (int64_t)p->peak_bound);
        reef_json_kv_int(&j, "arena_bytes", (int64_t)p->arena);
        reef_json_kv_int(&j, "extra_macs", p->extra_macs);
        reef_json_kv_number(&j, "extra_instructions_modeled", (double)p->extra_macs * rows[0].insn_per_mac);
        reef_json_kv_int(&j, "rows_min_arena_bytes", (int64_t)rows[MODES - 1].arena);
        reef_json_end(&j);
    }
    reef_json_end(&j);
    reef_json_finish(&j);
}

int cmd_report_memory(int argc, char **argv)
{
    memory_args a;
    int rc = parse(argc, argv, &a);
    if (rc >= 0) return rc;
    reef_error err = {{0}};
    reef_device_profile prof;
    reef_dataset ds;
    reef_graph g;
    int have_ds = 0, have_g = 0;
    mode_row rows[MODES];
    memset(rows, 0, sizeof rows);
    rc = reef_profile_load(a.profile, &prof, &err);
    if (!rc) rc = reef_dataset_load(a.data, &ds, &err), have_ds = !rc;
    if (!rc) rc = reef_tflite_read(a.tflite, &g, &err), have_g = !rc;
    const int n = have_ds ? (a.limit < (long)ds.count ? (int)a.limit : (int)ds.count) : 0;
    if (!rc && n == 0) rc = reef_fail(&err, "%s has no samples", a.data);
    if (!rc) ds.count = (uint32_t)n;
    for (int k = 0; !rc && k < MODES; k++) {
        rows[k].mode = (reef_memory_mode)k;
        if (!a.json) fprintf(stderr, "reef report: --memory %s: building and running %d samples on qemu-m4...\n",
                             reef_memory_mode_name(rows[k].mode), n);
        rc = run_mode(&a, &g, &ds, n, &prof, &rows[k], &err);
    }
    if (rc) rc = cli_error(NAME, "%s", err.msg);
    else if (a.json) print_json(&a, rows, n);
    else print_table(&a, rows, n);
    if (have_g) reef_graph_free(&g);
    if (have_ds) reef_dataset_free(&ds);
    return rc;
}
