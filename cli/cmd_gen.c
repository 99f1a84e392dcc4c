/* reef gen --model MODEL.tflite -o DIR: the int8 model as C (DIR/<name>.h, .c). */
#include <errno.h>
#include <math.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "codegen/emit.h"
#include "codegen/intermittent.h"
#include "codegen/patch_plan.h"
#include "intermittent.h"
#include "codegen/lower.h"
#include "personal/emit.h"
#include "tflite/graph.h"
#include "util/io.h"
#include "util/json.h"
#include "util/table.h"

static void usage(FILE *fp)
{
    fprintf(fp, "usage: reef gen --model MODEL.tflite -o DIR [--name NAME] [--memory MODE] [--json]\n"
                "       [--trainable PLAN [--replay DATA]]\n"
                "       [--intermittent [--capacitor C --v-on V --v-off V] [--nvm fram|flash]\n"
                "        [--profile NAME] [--efficiency E] [--step-cycles FILE|estimate]]\n\n"
                "Writes DIR/NAME.h and DIR/NAME.c: the int8 model as C99 for the reef runtime,\n"
                "with const weights, one statically planned arena and a const step table.\n"
                "Prints the ops, MACs, weight bytes, the arena and its lower bound.\n\n"
                "  --model FILE      the int8 .tflite (the old form, `reef gen FILE`, still works)\n"
                "  -o, --output DIR  folder for the two files (created if missing)\n"
                "  --name NAME       C symbol prefix (default: the model file's name)\n"
                "  --trainable PLAN  also write DIR/NAME_personal.{h,c}: the on-device update of\n"
                "                    `reef personalize plan` (tail table, deployed tail weights and\n"
                "                    replay in flash, every RAM buffer static; docs/personalization.md);\n"
                "                    a plan made with --temporal gets the temporal session: records\n"
                "                    carry the camera's gray frames, the device forms [d, s] itself\n"
                "  --replay DATA     the training data the plan's replay samples come from\n"
                "  --memory MODE     fast (default): the fastest kernels, arena planned layer by\n"
                "                    layer; balanced: depthwise convolutions run in place (their\n"
                "                    output over their input) and chains of up to 3 conv /\n"
                "                    depthwise layers (and a residual ADD) run row by row with\n"
                "                    small ring buffers, where that lowers the arena; min: also\n"
                "                    every depthwise convolution that can runs in place. Both\n"
                "                    cost instructions (`reef report --memory`; docs/architecture.md)\n"
                "  --json            print the summary as JSON\n\n"
                "Intermittent power (docs/intermittent.md): --intermittent also writes\n"
                "DIR/NAME_resume.h and .c, the schedule that lets the model survive power\n"
                "failures (progress and live tensors committed to NVM). With --capacitor,\n"
                "steps are grouped and tiled so that each unit, commit included, fits the\n"
                "energy the capacitor delivers between --v-on (default 3.0) and --v-off\n"
                "(default 1.8); if none can, it says so and how big a capacitor would do.\n"
                "Without it, a commit follows every step. Values take SI suffixes (100u).\n"
                "With --memory balanced|min a step written over its input (in place, row by\n"
                "row) runs as one whole unit, its input restored from NVM; one too big for a\n"
                "charge falls back to layer by layer (printed with the arena it leaves).\n"
                "  --nvm fram|flash  the NVM (default fram; flash is modeled, no code)\n"
                "  --profile NAME    device profile for the energy model (default stm32l4r5)\n"
                "  --step-cycles F   what each step costs, for the cuts: by default measured\n"
                "                    once on qemu-m4 (emulated counts x the cycle model) and\n"
                "                    cached (REEF_CACHE_DIR, else ~/.cache/reef); F: a file of\n"
                "                    `reef run --step-cycles`; 'estimate': from the shapes (also\n"
                "                    what is used, with a note, when qemu-m4 is not installed)\n");
}

/* Op counts by TFLite name, in first-seen order. */
typedef struct op_count {
    const char *name;
    int count;
} op_count;

static int count_ops(const reef_graph *g, op_count *counts)
{
    int n = 0;
    for (int i = 0; i < g->nops; i++) {
        const char *name = reef_builtin_name(g->ops[i].builtin);
        int k = 0;
        while (k < n && strcmp(counts[k].name, name)) k++;
        if (k == n) counts[n++] = (op_count){name, 0};
        counts[k].count++;
    }
    return n;
}

static void print_summary(const reef_graph *g, const reef_lowered_model *m, reef_memory_mode memory,
                          const char *h, const char *c, int json)
{
    op_count *counts = calloc((size_t)(g->nops ? g->nops : 1), sizeof *counts);
    int n = counts ? count_ops(g, counts) : 0;
    double ratio = m->arena_lower_bound ? (double)m->arena_size / (double)m->arena_lower_bound : 1.0;
    /* the first stage patch by patch (MCUNetV2), planned on the
     * layer-by-layer steps, beside this mode's arena */
    reef_patch_plan patch = {0};
    if (memory != REEF_MEMORY_FAST) {
        reef_lowered_model fast;
        reef_error err;
        if (reef_lower(g, &fast, &err) == 0) reef_patch_plan_first_stage(g, &fast, memory, 8, &patch), reef_lowered_free(&fast);
    }
    if (json) {
        reef_json j;
        reef_json_begin(&j, stdout);
        reef_json_object(&j);
        reef_json_kv_string(&j, "header", h);
        reef_json_kv_string(&j, "source", c);
        reef_json_key(&j, "ops");
        reef_json_object(&j);
        for (int i = 0; i < n; i++) reef_json_kv_int(&j, counts[i].name, counts[i].count);
        reef_json_end(&j);
        reef_json_kv_int(&j, "steps", m->nsteps);
        reef_json_kv_int(&j, "macs", m->macs);
        reef_json_kv_int(&j, "weights_bytes", (int64_t)m->weights_bytes);
        reef_json_kv_int(&j, "arena_bytes", (int64_t)m->arena_size);
        reef_json_kv_int(&j, "arena_lower_bound_bytes", (int64_t)m->arena_lower_bound);
        reef_json_kv_number(&j, "arena_ratio", ratio);
        reef_json_kv_string(&j, "memory", reef_memory_mode_name(memory));
        reef_json_kv_int(&j, "in_place_steps", m->in_place_steps);
        reef_json_kv_int(&j, "arena_layer_by_layer_bytes", (int64_t)m->arena_layer_by_layer);
        reef_json_kv_int(&j, "rows_steps", m->rows_steps);
        reef_json_kv_int(&j, "rows_layers", m->rows_layers);
        reef_json_kv_int(&j, "rows_in_place_steps", m->rows_in_place);
        if (m->patch_layers) {
            /* the patch-based stage the planner weighed (reef/patch.h), built */
            reef_json_kv_int(&j, "patch_stage_start", m->patch_start);
            reef_json_kv_int(&j, "patch_stage_layers", m->patch_layers);
            reef_json_kv_int(&j, "patch_stage_grid_h", m->patch_grid_h);
            reef_json_kv_int(&j, "patch_stage_grid_w", m->patch_grid_w);
            reef_json_kv_int(&j, "patch_stage_arena_bytes", (int64_t)m->patch_arena);
            reef_json_kv_int(&j, "arena_without_patch_bytes", (int64_t)m->arena_no_patch);
            reef_json_kv_int(&j, "patch_stage_extra_macs", m->patch_extra_macs);
            reef_json_kv_int(&j, "patch_stage_taken", m->patch_taken);
        }
        if (patch.layers) {
            reef_json_kv_int(&j, "patch_first_stage_layers", patch.layers);
            reef_json_kv_int(&j, "patch_first_stage_grid", patch.grid);
            reef_json_kv_int(&j, "patch_first_stage_stage_bytes", (int64_t)patch.peak_bound);
            reef_json_kv_int(&j, "patch_first_stage_arena_bytes", (int64_t)patch.arena);
            reef_json_kv_int(&j, "patch_first_stage_extra_macs", patch.extra_macs);
        }
        reef_json_end(&j);
        reef_json_finish(&j);
    } else {
        printf("wrote %s and %s\n\n", h, c);
        reef_table t;
        reef_table_init(&t, "op", ">count", NULL);
        for (int i = 0; i < n; i++)
            reef_table_cell(&t, "%s", counts[i].name), reef_table_cell(&t, "%d", counts[i].count);
        reef_table_print(&t, stdout, NULL);
        putchar('\n');
        reef_table_init(&t, "total", ">value", NULL);
        reef_table_cell(&t, "steps"), reef_table_cell(&t, "%d", m->nsteps);
        reef_table_cell(&t, "MACs"), reef_table_cell(&t, "%lld", (long long)m->macs);
        reef_table_cell(&t, "weights (bytes, flash)"), reef_table_cell(&t, "%zu", m->weights_bytes);
        reef_table_cell(&t, "arena (bytes, RAM)"), reef_table_cell(&t, "%zu", m->arena_size);
        reef_table_cell(&t, "arena lower bound (bytes)"), reef_table_cell(&t, "%zu", m->arena_lower_bound);
        reef_table_cell(&t, "arena / lower bound"), reef_table_cell(&t, "%.3f", ratio);
        reef_table_cell(&t, "memory mode"), reef_table_cell(&t, "%s", reef_memory_mode_name(memory));
        reef_table_cell(&t, "depthwise steps in place"), reef_table_cell(&t, "%d", m->in_place_steps);
        reef_table_cell(&t, "arena, layer by layer (bytes)"), reef_table_cell(&t, "%zu", m->arena_layer_by_layer);
        reef_table_cell(&t, "row-by-row steps (layers)"), reef_table_cell(&t, "%d (%d)", m->rows_steps, m->rows_layers);
        if (m->patch_layers) {
            reef_table_cell(&t, "arena without a patch stage (bytes)"), reef_table_cell(&t, "%zu", m->arena_no_patch);
            reef_table_cell(&t, "best patch stage (built, reef/patch.h)"),
                reef_table_cell(&t, "steps %d..%d on %dx%d: arena %zu, %+lld MACs (%+.1f%%): %s", m->patch_start,
                                m->patch_start + m->patch_layers - 1, m->patch_grid_h, m->patch_grid_w, m->patch_arena,
                                (long long)m->patch_extra_macs,
                                m->macs ? 100.0 * (double)m->patch_extra_macs / (double)m->macs : 0,
                                m->patch_taken ? "taken" : "not taken");
        }
        if (patch.layers) {
            reef_table_cell(&t, "estimate: first stage in patches (patch_plan.c)"),
                reef_table_cell(&t, "%zu (stage %zu), %d layers %dx%d, %+lld MACs (%+.1f%%)%s", patch.arena,
                                patch.peak_bound, patch.layers, patch.grid, patch.grid, (long long)patch.extra_macs,
                                patch.stage_macs ? 100.0 * (double)patch.extra_macs / (double)patch.stage_macs : 0,
                                patch.arena >= m->arena_size ? ": not lower" : ": lower");
        }
        reef_table_print(&t, stdout, NULL);
    }
    free(counts);
}

/* The capacitor voltage above which a point may pass without a commit
 * (reef/resume.h commit_now): it still holds the next unit and a commit of
 * everything live after it above --v-off. */
static double pass_above_v(const reef_intermittent_plan *p, const power_opts *po)
{
    if (po->capacitor_f <= 0) return 0;
    return sqrt(po->v_off * po->v_off + 2.0 * p->pass_reserve_uj * 1e-6 / (po->efficiency * po->capacitor_f));
}

/* The intermittent schedule: units, commits, modeled energies. */
static void print_plan(const reef_intermittent_plan *p, const power_opts *po, const reef_intermittent_options *o,
                       const reef_lowered_model *m, reef_memory_mode memory, int fell_back, int json)
{
    int whole = 0; /* units written over their input: depthwise in place, ROWS */
    for (int k = 0; k < m->nsteps; k++) whole += reef_intermittent_step_in_place(&m->steps[k]);
    double worst = 0;
    for (int u = 0; u < p->nunits; u++)
        if (p->worst_charge_uj[u] > worst) worst = p->worst_charge_uj[u];
    double share = p->step_uj_total > 0 ? p->commit_uj_total / p->step_uj_total : 0;
    if (json) {
        reef_json j;
        reef_json_begin(&j, stdout);
        reef_json_object(&j);
        reef_json_kv_int(&j, "units", p->nunits);
        reef_json_kv_int(&j, "tiled_steps", p->tiled_steps);
        reef_json_kv_string(&j, "memory", reef_memory_mode_name(memory));
        reef_json_kv_int(&j, "arena_bytes", (int64_t)m->arena_size);
        reef_json_kv_int(&j, "arena_layer_by_layer_bytes", (int64_t)m->arena_layer_by_layer);
        reef_json_kv_int(&j, "steps_over_their_input", whole);
        reef_json_kv_int(&j, "layers_fallen_back", fell_back);
        reef_json_kv_int(&j, "nvm_bytes", p->nvm_bytes);
        reef_json_kv_int(&j, "nvm_bytes_written_per_inference", (int64_t)p->saved_bytes);
        reef_json_kv_number(&j, "charge_budget_uj", o->budget_uj);
        reef_json_kv_number(&j, "worst_unit_charge_uj_modeled", worst);
        reef_json_kv_number(&j, "steps_uj_modeled", p->step_uj_total);
        reef_json_kv_number(&j, "commits_uj_modeled", p->commit_uj_total);
        reef_json_kv_number(&j, "commit_overhead_modeled", share);
        reef_json_kv_number(&j, "pass_reserve_uj_modeled", p->pass_reserve_uj);
        reef_json_kv_number(&j, "commits_supply_never_low_uj_modeled", p->commit_ends_uj);
        if (o->budget_uj > 0) reef_json_kv_number(&j, "pass_above_v", pass_above_v(p, po));
        reef_json_end(&j);
        reef_json_finish(&j);
        return;
    }
    reef_table t;
    printf("\nintermittent schedule (%s NVM%s)\n", po->nvm == REEF_NVM_FRAM ? "FRAM" : "flash",
           o->budget_uj > 0 ? "" : ", a commit after every step");
    reef_table_init(&t, "what", ">value", "how", NULL);
    reef_table_cell(&t, "units"), reef_table_cell(&t, "%d", p->nunits), reef_table_cell(&t, "%d steps tiled", p->tiled_steps);
    if (memory != REEF_MEMORY_FAST) {
        reef_table_cell(&t, "arena (peak)"), reef_table_cell(&t, "%zu B", m->arena_size),
            reef_table_cell(&t, "--memory %s; layer by layer %zu B", reef_memory_mode_name(memory), m->arena_layer_by_layer);
        reef_table_cell(&t, "whole units over input"), reef_table_cell(&t, "%d", whole),
            reef_table_cell(&t, "in place / ROWS: restored from NVM, never tiled");
        reef_table_cell(&t, "fallen back"), reef_table_cell(&t, "%d layers", fell_back),
            reef_table_cell(&t, "too big for one charge whole: layer by layer");
    }
    reef_table_cell(&t, "NVM used"), reef_table_cell(&t, "%u B", p->nvm_bytes), reef_table_cell(&t, "record + live tensors");
    reef_table_cell(&t, "NVM written / inference"), reef_table_cell(&t, "%zu B", p->saved_bytes),
        reef_table_cell(&t, "live bytes at commits, input included");
    if (o->budget_uj > 0) {
        reef_table_cell(&t, "one charge"), reef_table_cell(&t, "%.1f uJ", o->budget_uj),
            reef_table_cell(&t, "%g uF, %.2f V -> %.2f V", po->capacitor_f * 1e6, po->v_on, po->v_off);
        reef_table_cell(&t, "largest unit"), reef_table_cell(&t, "%.1f uJ", worst),
            reef_table_cell(&t, "modeled: boot + restore + unit + commit");
        reef_table_cell(&t, "pass a point above"), reef_table_cell(&t, "%.2f V", pass_above_v(p, po)),
            reef_table_cell(&t, "%.1f uJ left: next unit + its commit", p->pass_reserve_uj);
    }
    reef_table_cell(&t, "steps"), reef_table_cell(&t, "%.1f uJ", p->step_uj_total), reef_table_cell(&t, o->step_cycles ? "modeled from emulated step cycles, x 1.25" : "modeled from the estimate, x 1.25");
    reef_table_cell(&t, "commits"), reef_table_cell(&t, "%.1f uJ", p->commit_uj_total),
        reef_table_cell(&t, "modeled, %.1f%% of the steps", 100 * share);
    reef_table_cell(&t, "... supply never low"), reef_table_cell(&t, "%.1f uJ", p->commit_ends_uj),
        reef_table_cell(&t, "modeled: input and output only, the other points passed");
    reef_table_print(&t, stdout, NULL);
}

/* Creates dir and any missing parents (mkdir -p). */
static int make_dir(const char *dir)
{
    struct stat st;
    if (stat(dir, &st) == 0) return S_ISDIR(st.st_mode) ? 0 : cli_error("gen", "-o %s is not a folder", dir);
    char path[4096];
    if (snprintf(path, sizeof path, "%s", dir) >= (int)sizeof path) return cli_error("gen", "-o %s: path too long", dir);
    for (char *p = path + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (stat(path, &st) != 0 && mkdir(path, 0777) != 0)
            return cli_error("gen", "-o %s: cannot create %s: %s", dir, path, strerror(errno));
        *p = '/';
    }
    if (mkdir(path, 0777) != 0 && errno != EEXIST)
        return cli_error("gen", "-o %s: cannot create it: %s", dir, strerror(errno));
    return 0;
}

int cmd_gen(int argc, char **argv)
{
    static const struct option opts[] = {{"output", required_argument, NULL, 'o'},
                                         {"name", required_argument, NULL, 'n'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"trainable", required_argument, NULL, 't'},
                                         {"replay", required_argument, NULL, 'r'},
                                         {"intermittent", no_argument, NULL, 'I'},
                                         {"capacitor", required_argument, NULL, 'P'},
                                         {"v-on", required_argument, NULL, 'P'},
                                         {"v-off", required_argument, NULL, 'P'},
                                         {"nvm", required_argument, NULL, 'P'},
                                         {"step-cycles", required_argument, NULL, 'P'},
                                         {"profile", required_argument, NULL, 'P'},
                                         {"efficiency", required_argument, NULL, 'P'},
                                         {"help", no_argument, NULL, 'h'},
                                         {"model", required_argument, NULL, 'm'},
                                         {"memory", required_argument, NULL, 'M'},
                                         {NULL, 0, NULL, 0}};
    const char *dir = NULL, *name = NULL, *trainable = NULL, *replay = NULL, *flagged = NULL;
    int json = 0, c, idx = 0, intermittent = 0, power_given = 0;
    reef_lower_options lower_opt = {0, REEF_MEMORY_FAST, REEF_PATCH_AUTO};
    power_opts po;
    power_opts_default(&po);
    while ((c = getopt_long(argc, argv, "o:h", opts, &idx)) != -1) {
        if (c == 'P') {
            if (power_opts_parse("gen", &po, opts[idx].name, optarg) < 0) return 2;
            power_given = 1;
        } else if (c == 'I')
            intermittent = 1;
        else if (c == 'o')
            dir = optarg;
        else if (c == 'm')
            flagged = optarg;
        else if (c == 'n')
            name = optarg;
        else if (c == 'j')
            json = 1, po.quiet = 1;
        else if (c == 't')
            trainable = optarg;
        else if (c == 'r')
            replay = optarg;
        else if (c == 'M') {
            int mode = reef_memory_mode_parse(optarg);
            if (mode < 0) return cli_error("gen", "--memory '%s': expected fast, balanced or min", optarg), 2;
            lower_opt.memory = (reef_memory_mode)mode;
        }
        else if (c == 'h')
            return usage(stdout), 0;
        else
            return usage(stderr), 2;
    }
    const char *model = cli_input_file("gen", "--model", flagged, argc, argv);
    if (!model) return 2;
    if (!dir) return cli_error("gen", "-o DIR is required (see --help)"), 2;
    if (power_given && !intermittent) return cli_error("gen", "--capacitor, --v-on, --v-off, --nvm and --profile need --intermittent"), 2;
    if (intermittent && power_opts_check("gen", &po)) return 2;
    if (intermittent && trainable)
        return cli_error("gen", "--trainable and --intermittent cannot be combined yet (the update is not resumable)"), 2;
    char default_name[72];
    reef_c_name_from_path(model, default_name, sizeof default_name);
    if (!name) name = default_name;
    if (!reef_c_name_valid(name)) return cli_error("gen", "--name '%s' is not a C identifier", name);

    char hpath[4200], cpath[4200];
    snprintf(hpath, sizeof hpath, "%s/%s.h", dir, name);
    snprintf(cpath, sizeof cpath, "%s/%s.c", dir, name);
    if (reef_same_file(hpath, model) || reef_same_file(cpath, model))
        return cli_error("gen", "%s is the model itself: refusing to overwrite an input (choose -o or --name)",
                         reef_same_file(hpath, model) ? hpath : cpath);

    reef_graph g;
    reef_lowered_model m;
    reef_error err;
    if (reef_tflite_read(model, &g, &err)) return cli_error("gen", "%s", err.msg);
    if (reef_lower_with(&g, &lower_opt, &m, &err)) {
        reef_graph_free(&g);
        return cli_error("gen", "%s: %s", model, err.msg);
    }
    /* The schedule first: a model that cannot make progress writes nothing. */
    reef_intermittent_plan plan = {0};
    reef_intermittent_options io;
    reef_device_profile prof;
    int fell_back = 0;
    int rc = intermittent && power_plan_memory("gen", &po, &g, &lower_opt, &m, &prof, &io, &plan, &fell_back) ? 1 : 0;
    if (rc == 0 && intermittent && po.nvm == REEF_NVM_FLASH) {
        print_plan(&plan, &po, &io, &m, lower_opt.memory, fell_back, json);
        rc = cli_error("gen", "internal flash is modeled only (docs/intermittent.md: its page erase makes every "
                              "commit cost more than it saves); no code written");
    }
    if (rc == 0) rc = make_dir(dir);
    if (rc == 0 && !trainable && reef_emit_c(&m, dir, name, model, &err)) rc = cli_error("gen", "%s", err.msg);
    if (rc == 0 && trainable && reef_pgen(dir, name, model, &g, &m, trainable, replay, &err))
        rc = cli_error("gen", "%s", err.msg);
    if (rc == 0 && intermittent && reef_intermittent_emit(&m, &plan, dir, name, &err))
        rc = cli_error("gen", "%s", err.msg);
    if (rc == 0) {
        char h[4200], src[4200];
        snprintf(h, sizeof h, "%s/%s.h", dir, name);
        snprintf(src, sizeof src, "%s/%s.c", dir, name);
        if (!(intermittent && json)) print_summary(&g, &m, lower_opt.memory, h, src, json);
        if (intermittent) print_plan(&plan, &po, &io, &m, lower_opt.memory, fell_back, json);
    }
    reef_intermittent_plan_free(&plan);
    reef_lowered_free(&m);
    reef_graph_free(&g);
    return rc;
}
