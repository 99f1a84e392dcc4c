/* reef personalize: on-device personalization (docs/personalization.md).
 *   reef personalize plan --model M.tflite --ram 64K [--flash N] [--scheme float|int8] -o PLAN
 *   reef personalize split --data ALL.ds --groups G1,G2 [--exclude] -o OUT.ds
 *   reef personalize --model M.tflite --plan PLAN --site SITE.ds --labelled 50
 *                    --source TRAIN.ds [--test TEST.ds] --target host|qemu-m4 [--json]
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "energy/profile.h"
#include "personal/personal.h"
#include "personal/run.h"
#include "quant/quant.h"
#include "util/json.h"
#include "util/table.h"

static const char *NAME = "personalize";

static void usage(FILE *fp)
{
    fprintf(fp,
            "usage: reef personalize plan --model M.tflite --ram BYTES [--flash BYTES]\n"
            "                             [--scheme float|int8] [--max-seconds S] [--max-joules J]\n"
            "                             [--temporal] [--tune S1.ds,S2.ds --source TRAIN.ds --test TEST.ds\n"
            "                              [--tune-draws 1,...,12] [--labelled N] [--labelled-balance]]\n"
            "                             -o PLAN [--json]\n"
            "       reef personalize split --data FILE --groups G1,G2 [--exclude] -o OUT.ds\n"
            "       reef personalize --model M.tflite --plan PLAN --site SITE.ds --labelled N\n"
            "                        --source TRAIN.ds [--test TEST.ds] [--draw-seed N] [--labelled-balance]\n"
            "                        [--hold-back K [--guard-margin M] [--refit-epochs E]]\n"
            "                        [--target host|qemu-m4|stm32l4r5 [--port DEV]] [--work DIR]\n"
            "                        [--params-out FILE] [--stream FRAMES.ds] [--json]\n"
            "                        [--pseudo P [--pseudo-conf C] [--pseudo-cap K] [--pseudo-after E]]\n\n"
            "On-device personalization: the deployed int8 model learns a new site from N\n"
            "labelled frames. The int8 body stays frozen and bit-exact with inference; the\n"
            "tail after the plan's cut is trained by SGD on the device (in float32, or in\n"
            "int8 as deployed with a plan made with --scheme int8), mixing replay samples\n"
            "(the source data's activations at the cut, kept in flash) into every step.\n\n"
            "  plan        the deepest cut whose update fits --ram (and --flash): e.g. 64K,\n"
            "              and whose whole update is estimated within --max-seconds (30) and\n"
            "              --max-joules (1) on the STM32L4R5 profile (0: no limit)\n"
            "  --tune      measure the recipes at the chosen cut (two masks x lr x replay per\n"
            "              step, each within the budgets) on these tuning habitats' sites, on\n"
            "              the host, N labelled frames (50) per draw (draws 1-12), 3 in 10\n"
            "              held back, guard margin 1. Session 16's rule: eligible = within\n"
            "              the budgets, --test drop <= 1.0 mean and <= 3.0 worst; B = the\n"
            "              eligible one with the best site figure; of B and the recipes\n"
            "              within the paired noise of B (mean(d) <= 2 sd(d) / sqrt(runs)),\n"
            "              the lowest mean drop (tie at 0.01: lower energy). Never give the\n"
            "              habitats you report on (docs/personalization.md, session 16)\n"
            "  --temporal  the update will run as a temporal session (--stream): its RAM\n"
            "              counts the camera's two backgrounds (4 bytes a pixel), which share\n"
            "              the update's transient buffers\n"
            "  --scheme    float (default: the tail in float32 on the FPU, scheme b) or\n"
            "              int8 (the tail trained as deployed, int8 with quantization-aware\n"
            "              scaling: MCUNetV3's sparse update, scheme a; no second copy)\n"
            "  split       the samples of the given groups (habitats), or all others\n"
            "  --site      the site's frames; N of them (drawn by --draw-seed) are the\n"
            "              labelled ones, the others measure the result\n"
            "  --labelled-balance  draw the N labelled frames in equal shares per class\n"
            "              (as many with fish as without), not at random\n"
            "  --hold-back K of the N labelled frames (default 3 in 10; 0: no guard) are not\n"
            "              trained on: after the update the device scores them with the new\n"
            "              and the old model and keeps the old one unless the new answers\n"
            "              M more of them correctly (\"never below before\"; default M 1\n"
            "              since session 12; M 0: at least as many, the lower loss wins a tie)\n"
            "  --refit-epochs E  when the guard keeps the update, E more epochs over all N\n"
            "              frames, the held-back ones included (default: the plan's\n"
            "              refit_epochs, the most up to 6 that fit the time and energy budget)\n"
            "  --stream FRAMES  (temporal models: input [d, s] of reef prep --background\n"
            "              running-diff-slow --background-over clip) the camera's gray frames,\n"
            "              every frame of the site's clips (reef prep --split frames, same size):\n"
            "              the device computes the temporal input itself (reef_temporal_step,\n"
            "              as in inference) from the raw frames of each clip up to its last\n"
            "              labelled frame; the host checks the update equals the one from\n"
            "              --site's prepped inputs, bit for bit\n"
            "  --pseudo P  (session 15, self-training) the unlabelled frames of the first half\n"
            "              of each of the site's clips are an adaptation pool, the second\n"
            "              half's are measured on; after the guard, P pool frames go to the device as\n"
            "              PSEUDO: it keeps those its updated model answers with top\n"
            "              probability >= C/256 (--pseudo-conf, 230) while the class has\n"
            "              fewer than K training samples (--pseudo-cap, (N + P) / 2), and the\n"
            "              refit trains on them too. --pseudo 0: the same split, no PSEUDO;\n"
            "              --pseudo-after E: the PSEUDO frames after E epochs of the update,\n"
            "              before the guard (which then judges them too)\n"
            "  --source    the source training data the replay samples come from\n"
            "  --test      the original test split (accuracy before and after)\n"
            "              (the class names of --site, --source and --test must be the\n"
            "              model's; another order is mapped, with a note)\n"
            "  --target    host (the device's C in-process) or qemu-m4 (the emulated\n"
            "              Cortex-M4: instructions per update step, bit-identical check) or\n"
            "              stm32l4r5 (the NUCLEO-L4R5ZI: builds the firmware; with --port DEV\n"
            "              sends the records over its ST-LINK serial port, LPUART1 115200 8N1)\n"
            "  --json      the report as JSON\n");
}

static int parse_bytes(const char *opt, const char *text, uint32_t *out)
{
    char *end;
    double v = strtod(text, &end);
    if (end == text || v <= 0) return cli_error(NAME, "%s wants a size like 64K or 65536, not '%s'", opt, text);
    if (*end == 'K' || *end == 'k') v *= 1024, end++;
    else if (*end == 'M' || *end == 'm') v *= 1024 * 1024, end++;
    if (*end || v > 4294967295.0) return cli_error(NAME, "%s wants a size like 64K or 65536, not '%s'", opt, text);
    *out = (uint32_t)v;
    return 0;
}

static int load_model(const char *path, reef_graph *g, reef_lowered_model *m)
{
    reef_error err;
    if (reef_tflite_read(path, g, &err)) return cli_error(NAME, "%s", err.msg);
    if (reef_lower(g, m, &err)) {
        reef_graph_free(g);
        return cli_error(NAME, "%s: %s", path, err.msg);
    }
    return 0;
}

/* ---- plan ---------------------------------------------------------------- */

typedef struct tune_report tune_report;
typedef struct tune_args tune_args;
static void print_tune(const tune_report *tr, const tune_args *ta, reef_json *j);

static void print_plan(const reef_pplan *p, const reef_ptail *t, const reef_lowered_model *m,
                       const reef_device_profile *prof, int json,
                       const char *out, const tune_report *tr, const tune_args *ta)
{
    if (json) {
        reef_json j;
        reef_json_begin(&j, stdout);
        reef_json_object(&j);
        reef_json_kv_string(&j, "plan", out);
        reef_json_kv_string(&j, "scheme", p->scheme == REEF_SCHEME_INT8 ? "int8" : "float");
        reef_json_kv_int(&j, "boundary_step", p->boundary_step);
        reef_json_kv_int(&j, "tail_layers", t->tail.nlayers);
        reef_json_kv_int(&j, "boundary_elements", t->tail.in_count);
        reef_json_kv_int(&j, "trainable_params", reef_ptail_trainable(t));
        reef_json_kv_int(&j, "ram_update_bytes", p->ram_update);
        reef_json_kv_int(&j, "flash_update_bytes", p->flash_update);
        reef_json_kv_int(&j, "refit_epochs", p->refit_epochs);
        reef_json_kv_number(&j, "distill", p->hp.distill); /* session 16: 0 = hard labels only */
        reef_json_kv_number(&j, "distill_t", p->hp.distill_t);
        reef_json_kv_number(&j, "update_s_estimated", p->cycles_update / (prof->clock_mhz * 1e6) + p->avg_flash_s);
        reef_json_kv_number(&j, "update_j_estimated", p->cycles_update / (prof->clock_mhz * 1e6) * reef_profile_run_power_mw(prof) * 1e-3 + p->avg_flash_j);
        reef_json_kv_int(&j, "average", p->average);
        reef_json_kv_int(&j, "average_refit", p->average_refit);
        reef_json_kv_number(&j, "average_flash_s_modeled", p->avg_flash_s);
        reef_json_kv_int(&j, "inference_arena_bytes", (int64_t)m->arena_size);
        if (tr) print_tune(tr, ta, &j);
        reef_json_end(&j);
        reef_json_finish(&j);
        return;
    }
    if (tr) print_tune(tr, ta, NULL);
    printf("wrote %s: train the %s tail from step %d (%d layers, %u trainable parameters)\n", out,
           p->scheme == REEF_SCHEME_INT8 ? "int8 (QAS)" : "float32", p->boundary_step, t->tail.nlayers, reef_ptail_trainable(t));
    reef_table tb;
    reef_table_init(&tb, "figure", ">value", NULL);
    reef_table_cell(&tb, "boundary tensor (int8 elements)"), reef_table_cell(&tb, "%d", t->tail.in_count);
    reef_table_cell(&tb, "update RAM (bytes, planned)"), reef_table_cell(&tb, "%u", p->ram_update);
    reef_table_cell(&tb, "update flash: weights + replay (bytes)"), reef_table_cell(&tb, "%u", p->flash_update);
    reef_table_cell(&tb, "refit epochs after a kept guard"), reef_table_cell(&tb, "%d", p->refit_epochs);
    reef_table_cell(&tb, "replay distillation: alpha, T (0: hard labels)"),
        reef_table_cell(&tb, "%g, %g", (double)p->hp.distill, (double)p->hp.distill_t);
    reef_table_cell(&tb, "whole update (s, estimated from MACs)"),
        reef_table_cell(&tb, "%.1f", p->cycles_update / (prof->clock_mhz * 1e6) + p->avg_flash_s);
    reef_table_cell(&tb, "whole update (J, estimated from MACs)"),
        reef_table_cell(&tb, "%.2f", p->cycles_update / (prof->clock_mhz * 1e6) * reef_profile_run_power_mw(prof) * 1e-3 + p->avg_flash_j);
    if (p->average || p->average_refit) /* session 16 */
        reef_table_cell(&tb, "weight averaging: epochs (update / refit)"),
            reef_table_cell(&tb, "%d / %d", p->average, p->average_refit);
    reef_table_cell(&tb, "inference arena (bytes)"), reef_table_cell(&tb, "%zu", m->arena_size);
    reef_table_print(&tb, stdout, NULL);
}

/* ---- plan --tune (session 14; session 16's rule) --------------------------
 * The budget decides the cut and the deepest mask; which recipe at that
 * cut learns the site without forgetting differs per base model (sessions
 * 11-13 tuned it by hand on one base and the next base forgot up to 24.6
 * points with it). --tune measures the recipes reef_pplan_recipes lists on
 * the tuning habitats given (never the habitats you report on): each
 * recipe is run on the host (the device's C) over every site x draw
 * (default draws 1-12: 48 runs on 4 habitats), 50 labelled frames, 15 held
 * back for the guard (margin 1), keeping every run's site figure, and
 * reef_pplan_pick chooses by session 16's rule: among the eligible recipes
 * (budgets, test drop <= 1.0 mean, <= 3.0 worst) the best site figure B,
 * then among B and the recipes within the paired noise of B the lowest
 * mean test drop. */
static double pct(int correct, int count);
static int load_optional(const char *path, reef_dataset *ds, const reef_graph *g, const char *model_path);

struct tune_args {
    const char *model, *sites, *source, *test, *draws;
    int labelled, labelled_balance;
};

typedef struct tune_score {
    double site_after, site_before, drop_mean, drop_worst, min_gain;
    double *site_runs; /* (runs) site after per habitat x draw, in the same order for every recipe */
    int runs, kept;
} tune_score;

#define TUNE_MAX_RECIPES 32
#define TUNE_MAX_RUNS 1024

struct tune_report {
    int n, chosen;
    reef_pplan recipes[TUNE_MAX_RECIPES];
    tune_score scores[TUNE_MAX_RECIPES];
    reef_tune_result results[TUNE_MAX_RECIPES];
    double seconds[TUNE_MAX_RECIPES];
};

static int tune_one(const reef_graph *g, const reef_lowered_model *m, const reef_pplan *p, reef_dataset *sites,
                    const char **site_paths, int nsites, const tune_args *ta, const reef_dataset *source,
                    const reef_dataset *test, tune_score *sc)
{
    reef_error err;
    memset(sc, 0, sizeof *sc);
    sc->min_gain = 1e9;
    sc->site_runs = calloc(TUNE_MAX_RUNS, sizeof *sc->site_runs);
    if (!sc->site_runs) return cli_error(NAME, "out of memory");
    for (int i = 0; i < nsites; i++) {
        char draws[256];
        snprintf(draws, sizeof draws, "%s", ta->draws);
        for (char *d = strtok(draws, ","); d; d = strtok(NULL, ",")) {
            if (sc->runs == TUNE_MAX_RUNS) return cli_error(NAME, "--tune: more than %d habitat x draw runs", TUNE_MAX_RUNS);
            reef_prun_options o = {.model_path = "tune", .target = "host", .labelled = ta->labelled,
                                   .hold_back = ta->labelled * 3 / 10, .guard_margin = REEF_PGUARD_MARGIN, .refit_epochs = p->refit_epochs,
                                   .draw_seed = (uint32_t)atoi(d), .labelled_balance = ta->labelled_balance,
                                   .site_path = site_paths[i], .source = source, .test = test};
            reef_prun_report r;
            memset(&r, 0, sizeof r);
            if (reef_prun(g, m, p, &sites[i], &o, &r, &err)) {
                reef_prun_report_free(&r);
                return cli_error(NAME, "--tune %s draw %s: %s", site_paths[i], d, err.msg);
            }
            double before = pct(r.site.int8_correct, r.site.count), after = pct(r.site.after_correct, r.site.count);
            double drop = pct(r.test.int8_correct, r.test.count) - pct(r.test.after_correct, r.test.count);
            sc->site_after += after, sc->site_before += before, sc->drop_mean += drop, sc->kept += r.guard_kept;
            if (drop > sc->drop_worst || !sc->runs) sc->drop_worst = drop;
            if (after - before < sc->min_gain) sc->min_gain = after - before;
            sc->site_runs[sc->runs++] = after;
            reef_prun_report_free(&r);
        }
    }
    if (!sc->runs) return cli_error(NAME, "--tune-draws '%s' names no draw", ta->draws);
    sc->site_after /= sc->runs, sc->site_before /= sc->runs, sc->drop_mean /= sc->runs;
    return 0;
}

#define TUNE_MAX_SITES 16

static void recipe_label(const reef_pplan *p, char *buf, size_t size)
{
    int at = snprintf(buf, size, "train ");
    for (int i = 0; i < p->ntrain && at < (int)size - 8; i++) at += snprintf(buf + at, size - (size_t)at, "%s%d", i ? "," : "", p->train[i]);
    snprintf(buf + at, size - (size_t)at, ", lr %.2f, %d+%d, e %d, refit %d", (double)p->hp.lr, p->hp.batch_site,
             p->hp.batch_replay, p->hp.epochs, p->refit_epochs);
}

static int tune_plan(const reef_graph *g, const reef_lowered_model *m, const reef_pplan_budget *b, reef_pplan *p,
                     const tune_args *ta, tune_report *tr)
{
    reef_error err;
    reef_pplan *recipes = tr->recipes;
    tune_score *scores = tr->scores;
    int n = reef_pplan_recipes(g, m, b, p, recipes, TUNE_MAX_RECIPES, &err);
    tr->n = 0, tr->chosen = -1;
    if (n < 0) return cli_error(NAME, "%s", err.msg);
    char list[4096];
    const char *paths[TUNE_MAX_SITES];
    reef_dataset sites[TUNE_MAX_SITES], source, test;
    int nsites = 0, rc = 0;
    snprintf(list, sizeof list, "%s", ta->sites);
    for (char *s = strtok(list, ","); s && nsites < TUNE_MAX_SITES; s = strtok(NULL, ",")) paths[nsites++] = s;
    memset(&source, 0, sizeof source), memset(&test, 0, sizeof test);
    int loaded = 0;
    for (; loaded < nsites && !rc; loaded++) rc = load_optional(paths[loaded], &sites[loaded], g, ta->model);
    if (!rc) rc = load_optional(ta->source, &source, g, ta->model) || load_optional(ta->test, &test, g, ta->model);
    /* a source smaller than the plan's replay set: keep all of it */
    for (int k = 0; k < n && !rc; k++)
        if ((uint32_t)recipes[k].replay_count > source.count) {
            recipes[k].replay_count = (int32_t)source.count;
            if (recipes[k].hp.guard_replay >= recipes[k].replay_count) recipes[k].hp.guard_replay = 0;
        }
    for (int k = 0; k < n && !rc; k++) {
        rc = tune_one(g, m, &recipes[k], sites, paths, nsites, ta, &source, &test, &scores[k]);
        tr->n = k + 1;
        if (rc) break;
        reef_tune_result *r = &tr->results[k];
        double compute_s = recipes[k].cycles_update / (b->clock_mhz * 1e6);
        tr->seconds[k] = compute_s + recipes[k].avg_flash_s;
        *r = (reef_tune_result){.site = scores[k].site_runs, .runs = scores[k].runs, .site_mean = scores[k].site_after,
                                .drop_mean = scores[k].drop_mean, .drop_worst = scores[k].drop_worst,
                                .joules = compute_s * b->power_mw * 1e-3 + recipes[k].avg_flash_j,
                                .fits = 1}; /* recipes() lists only those that fit */
    }
    if (!rc) tr->chosen = reef_pplan_pick(tr->results, n);
    if (!rc && tr->chosen >= 0) *p = recipes[tr->chosen];
    for (int i = 0; i < loaded; i++) reef_dataset_free(&sites[i]);
    reef_dataset_free(&source);
    reef_dataset_free(&test);
    return rc;
}

static void tune_report_free(tune_report *tr)
{
    for (int k = 0; k < tr->n; k++) free(tr->scores[k].site_runs);
    tr->n = 0;
}

/* The tuning table (stderr, beside the plan's own table) or its JSON array. */
static void print_tune(const tune_report *tr, const tune_args *ta, reef_json *j)
{
    char label[160];
    if (j) {
        reef_json_key(j, "tune");
        reef_json_object(j);
        reef_json_kv_string(j, "sites", ta->sites);
        reef_json_kv_string(j, "draws", ta->draws);
        reef_json_kv_int(j, "chosen", tr->chosen + 1);
        reef_json_key(j, "recipes");
        reef_json_array(j);
        for (int k = 0; k < tr->n; k++) {
            const reef_tune_result *r = &tr->results[k];
            recipe_label(&tr->recipes[k], label, sizeof label);
            reef_json_object(j);
            reef_json_kv_int(j, "recipe", k + 1);
            reef_json_kv_string(j, "label", label);
            reef_json_kv_int(j, "average", tr->recipes[k].average);
            reef_json_kv_int(j, "average_refit", tr->recipes[k].average_refit);
            reef_json_kv_int(j, "runs", r->runs);
            reef_json_kv_number(j, "site_before", tr->scores[k].site_before);
            reef_json_kv_number(j, "S", r->site_mean);
            reef_json_kv_number(j, "D", r->drop_mean);
            reef_json_kv_number(j, "W", r->drop_worst);
            reef_json_kv_int(j, "kept", tr->scores[k].kept);
            reef_json_kv_number(j, "update_s_estimated", tr->seconds[k]);
            reef_json_kv_number(j, "update_j_estimated", r->joules);
            reef_json_kv_int(j, "ram_update_bytes", tr->recipes[k].ram_update);
            reef_json_kv_int(j, "flash_update_bytes", tr->recipes[k].flash_update);
            reef_json_kv_bool(j, "eligible", r->eligible);
            reef_json_kv_bool(j, "within_noise", r->within_noise);
            reef_json_kv_number(j, "paired_mean_d", r->noise_mean);
            reef_json_kv_number(j, "paired_bound", r->noise_bound);
            reef_json_kv_bool(j, "chosen", k == tr->chosen);
            reef_json_key(j, "site_runs");
            reef_json_array(j);
            for (int i = 0; i < r->runs; i++) reef_json_number(j, r->site[i]);
            reef_json_end(j);
            reef_json_end(j);
        }
        reef_json_end(j);
        reef_json_end(j);
        return;
    }
    reef_table tb;
    reef_table_init(&tb, ">#", "recipe", ">S %", ">D", ">W", ">kept", ">J est.", ">s est.", ">RAM", ">flash", "eligible",
                     ">mean d", ">2sd/sqrt(n)", "within noise", "choice", NULL);
    for (int k = 0; k < tr->n; k++) {
        const reef_tune_result *r = &tr->results[k];
        recipe_label(&tr->recipes[k], label, sizeof label);
        if (tr->recipes[k].average || tr->recipes[k].average_refit)
            snprintf(label + strlen(label), sizeof label - strlen(label), ", average %d/%d", tr->recipes[k].average,
                     tr->recipes[k].average_refit);
        reef_table_cell(&tb, "%d", k + 1), reef_table_cell(&tb, "%s", label);
        reef_table_cell(&tb, "%.2f", r->site_mean), reef_table_cell(&tb, "%.2f", r->drop_mean);
        reef_table_cell(&tb, "%.2f", r->drop_worst), reef_table_cell(&tb, "%d/%d", tr->scores[k].kept, r->runs);
        reef_table_cell(&tb, "%.3f", r->joules), reef_table_cell(&tb, "%.1f", tr->seconds[k]);
        reef_table_cell(&tb, "%u", tr->recipes[k].ram_update), reef_table_cell(&tb, "%u", tr->recipes[k].flash_update);
        reef_table_cell(&tb, "%s", r->eligible ? "yes" : "no");
        if (r->eligible && !(r->within_noise && r->noise_bound == 0.0 && r->noise_mean == 0.0 && k == tr->chosen))
            reef_table_cell(&tb, "%.3f", r->noise_mean), reef_table_cell(&tb, "%.3f", r->noise_bound);
        else
            reef_table_cell(&tb, "-"), reef_table_cell(&tb, "-");
        reef_table_cell(&tb, "%s", r->within_noise ? "yes" : "no");
        reef_table_cell(&tb, "%s", k == tr->chosen ? "CHOSEN" : "");
    }
    reef_table_print(&tb, stdout, "plan --tune (session 16's rule: docs/personalization.md)");
    if (tr->chosen >= 0)
        fprintf(stdout, "tune: chose recipe %d of %d (%d runs each on %s, draws %s)\n", tr->chosen + 1, tr->n,
                tr->results[tr->chosen].runs, ta->sites, ta->draws);
}

static int personalize_plan(int argc, char **argv)
{
    static const struct option opts[] = {{"model", required_argument, NULL, 'm'}, {"ram", required_argument, NULL, 'r'},
                                         {"flash", required_argument, NULL, 'f'}, {"output", required_argument, NULL, 'o'},
                                         {"json", no_argument, NULL, 'j'},        {"help", no_argument, NULL, 'h'},
                                         {"max-seconds", required_argument, NULL, 's'},
                                         {"max-joules", required_argument, NULL, 'J'},
                                         {"scheme", required_argument, NULL, 'S'},
                                         {"temporal", no_argument, NULL, 'T'},
                                         {"tune", required_argument, NULL, 'u'},
                                         {"tune-draws", required_argument, NULL, 'd'},
                                         {"source", required_argument, NULL, 'R'},
                                         {"test", required_argument, NULL, 'E'},
                                         {"labelled", required_argument, NULL, 'n'},
                                         {"labelled-balance", no_argument, NULL, 'B'},
                                         {NULL, 0, NULL, 0}};
    tune_args ta = {.draws = "1,2,3,4,5,6,7,8,9,10,11,12", .labelled = 50}; /* session 16's rule: 4 habitats x 12 draws */
    static tune_report tr; /* about 60 KB: not on the stack */
    const char *model = NULL, *out = NULL;
    int scheme = REEF_SCHEME_FLOAT;
    uint32_t ram = 0, flash = 0;
    double max_seconds = 30.0, max_joules = 1.0; /* the issue's targets */
    int json = 0, temporal = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "m:o:h", opts, NULL)) != -1) {
        if (c == 'm') model = optarg;
        else if (c == 'r') { if (parse_bytes("--ram", optarg, &ram)) return 2; }
        else if (c == 'f') { if (parse_bytes("--flash", optarg, &flash)) return 2; }
        else if (c == 'o') out = optarg;
        else if (c == 's' || c == 'J') {
            char *end;
            double v = strtod(optarg, &end);
            if (*end || !(v >= 0.0)) return cli_error(NAME, "%s wants a number >= 0, not '%s'", c == 's' ? "--max-seconds" : "--max-joules", optarg), 2;
            *(c == 's' ? &max_seconds : &max_joules) = v;
        }
        else if (c == 'S') {
            if (!strcmp(optarg, "int8")) scheme = REEF_SCHEME_INT8;
            else if (!strcmp(optarg, "float")) scheme = REEF_SCHEME_FLOAT;
            else return cli_error(NAME, "--scheme wants float or int8, not '%s'", optarg), 2;
        }
        else if (c == 'j') json = 1;
        else if (c == 'T') temporal = 1;
        else if (c == 'u') ta.sites = optarg;
        else if (c == 'd') ta.draws = optarg;
        else if (c == 'R') ta.source = optarg;
        else if (c == 'E') ta.test = optarg;
        else if (c == 'B') ta.labelled_balance = 1;
        else if (c == 'n') {
            char *end;
            long v = strtol(optarg, &end, 10);
            if (*end || v < 2 || v > 65535) return cli_error(NAME, "--labelled wants a count of frames, not '%s'", optarg), 2;
            ta.labelled = (int)v;
        }
        else if (c == 'h') return usage(stdout), 0;
        else return usage(stderr), 2;
    }
    if (!model || !out || !ram) return cli_error(NAME, "plan needs --model, --ram and -o"), 2;
    ta.model = model;
    if (ta.sites && (!ta.source || !ta.test))
        return cli_error(NAME, "--tune needs --source (the replay's training data) and --test (the source test split)"), 2;
    reef_graph g;
    reef_lowered_model m;
    if (load_model(model, &g, &m)) return 1;
    reef_pplan p;
    reef_ptail t;
    reef_error err;
    reef_device_profile prof;
    reef_pplan_default(&p);
    p.scheme = scheme;
    p.temporal = temporal;
    int rc = 0;
    if (reef_profile_load("stm32l4r5", &prof, &err)) {
        reef_lowered_free(&m);
        reef_graph_free(&g);
        return cli_error(NAME, "%s", err.msg);
    }
    reef_pplan_budget budget = {.ram_bytes = ram, .flash_bytes = flash, .max_seconds = max_seconds,
                                .max_joules = max_joules, .clock_mhz = prof.clock_mhz, .power_mw = reef_profile_run_power_mw(&prof),
                                .profile = &prof};
    if (reef_pplan_choose(&g, &m, &budget, &p, &err)) rc = cli_error(NAME, "%s: %s", model, err.msg);
    else if (ta.sites && (rc = tune_plan(&g, &m, &budget, &p, &ta, &tr))) rc = 1;
    else if (reef_ptail_build_scheme(&g, &m, p.scheme, p.boundary_step, p.train, p.ntrain, &t, &err)) rc = cli_error(NAME, "%s", err.msg);
    else {
        if (reef_pplan_save(out, &p, model, &err)) rc = cli_error(NAME, "%s", err.msg);
        else print_plan(&p, &t, &m, &prof, json, out, ta.sites ? &tr : NULL, &ta);
        reef_ptail_free(&t);
    }
    tune_report_free(&tr);
    reef_lowered_free(&m);
    reef_graph_free(&g);
    return rc;
}

/* ---- split --------------------------------------------------------------- */

static int personalize_split(int argc, char **argv)
{
    static const struct option opts[] = {{"data", required_argument, NULL, 'd'}, {"groups", required_argument, NULL, 'g'},
                                         {"exclude", no_argument, NULL, 'x'},     {"output", required_argument, NULL, 'o'},
                                         {"help", no_argument, NULL, 'h'},        {NULL, 0, NULL, 0}};
    const char *data = NULL, *groups = NULL, *out = NULL;
    int exclude = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "d:g:o:h", opts, NULL)) != -1) {
        if (c == 'd') data = optarg;
        else if (c == 'g') groups = optarg;
        else if (c == 'x') exclude = 1;
        else if (c == 'o') out = optarg;
        else if (c == 'h') return usage(stdout), 0;
        else return usage(stderr), 2;
    }
    if (!data || !groups || !out) return cli_error(NAME, "split needs --data, --groups and -o"), 2;
    reef_dataset src, sub;
    reef_error err;
    if (reef_dataset_load(data, &src, &err)) return cli_error(NAME, "%s", err.msg);
    int rc = 0;
    if (reef_dataset_by_groups(&src, data, groups, exclude, &sub, &err)) rc = cli_error(NAME, "%s", err.msg);
    else {
        if (reef_dataset_save(out, &sub, &err)) rc = cli_error(NAME, "%s", err.msg);
        else printf("wrote %s: %u of %u samples (%s groups %s)\n", out, sub.count, src.count,
                    exclude ? "outside" : "in", groups);
        reef_dataset_free(&sub);
    }
    reef_dataset_free(&src);
    return rc;
}

/* ---- the run ------------------------------------------------------------- */

typedef struct run_args {
    const char *model, *plan, *site, *source, *test, *target, *work, *params_out, *port, *stream;
    int labelled, hold_back, guard_margin, refit_epochs, json, labelled_balance;
    int pseudo, pseudo_conf, pseudo_cap, pseudo_after; /* pseudo -1: off; pseudo_after -1: after the guard */
    uint32_t draw_seed;
} run_args;

static int parse_run(int argc, char **argv, run_args *a)
{
    static const struct option opts[] = {
        {"model", required_argument, NULL, 'm'},  {"plan", required_argument, NULL, 'p'},
        {"site", required_argument, NULL, 's'},   {"source", required_argument, NULL, 'S'},
        {"test", required_argument, NULL, 'T'},   {"labelled", required_argument, NULL, 'n'},
        {"draw-seed", required_argument, NULL, 'd'}, {"target", required_argument, NULL, 't'},
        {"work", required_argument, NULL, 'w'},   {"params-out", required_argument, NULL, 'o'},
        {"json", no_argument, NULL, 'j'},         {"help", no_argument, NULL, 'h'},
        {"port", required_argument, NULL, 'P'},   {"hold-back", required_argument, NULL, 'H'},
        {"guard-margin", required_argument, NULL, 'G'}, {"refit-epochs", required_argument, NULL, 'R'},
        {"labelled-balance", no_argument, NULL, 'B'}, {"stream", required_argument, NULL, 'F'},
        {"pseudo", required_argument, NULL, 'Q'}, {"pseudo-conf", required_argument, NULL, 'C'},
        {"pseudo-cap", required_argument, NULL, 'K'}, {"pseudo-after", required_argument, NULL, 'A'},
        {NULL, 0, NULL, 0}};
    memset(a, 0, sizeof *a);
    a->target = "host";
    a->labelled = 50;
    a->draw_seed = 1;
    /* session 12 chose M 1 (the same 24 verdicts as M 0 on its base);
     * session 15 measured M 0 again on r64 and kept 1 (run.h) */
    a->guard_margin = REEF_PGUARD_MARGIN;
    a->hold_back = -1; /* default: 3 in 10 of the labelled frames (15 of 50) */
    a->refit_epochs = -1; /* default: the plan's refit_epochs */
    a->pseudo = -1, a->pseudo_conf = 230, a->pseudo_cap = -1, a->pseudo_after = -1;
    long v;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "m:p:s:n:t:o:h", opts, NULL)) != -1) {
        switch (c) {
        case 'm': a->model = optarg; break;
        case 'p': a->plan = optarg; break;
        case 's': a->site = optarg; break;
        case 'S': a->source = optarg; break;
        case 'T': a->test = optarg; break;
        case 'n':
            if (cli_parse_int(NAME, "--labelled", optarg, 1, 65535, &v)) return 2;
            a->labelled = (int)v;
            break;
        case 'G':
            if (cli_parse_int(NAME, "--guard-margin", optarg, 0, 255, &v)) return 2;
            a->guard_margin = (int)v;
            break;
        case 'R':
            if (cli_parse_int(NAME, "--refit-epochs", optarg, 0, 1000, &v)) return 2;
            a->refit_epochs = (int)v;
            break;
        case 'H':
            if (cli_parse_int(NAME, "--hold-back", optarg, 0, 65535, &v)) return 2;
            a->hold_back = (int)v;
            break;
        case 'd':
            if (cli_parse_int(NAME, "--draw-seed", optarg, 0, 2147483647L, &v)) return 2;
            a->draw_seed = (uint32_t)v;
            break;
        case 't': a->target = optarg; break;
        case 'w': a->work = optarg; break;
        case 'o': a->params_out = optarg; break;
        case 'j': a->json = 1; break;
        case 'B': a->labelled_balance = 1; break;
        case 'P': a->port = optarg; break;
        case 'F': a->stream = optarg; break;
        case 'Q':
            if (cli_parse_int(NAME, "--pseudo", optarg, 0, 65535, &v)) return 2;
            a->pseudo = (int)v;
            break;
        case 'C':
            if (cli_parse_int(NAME, "--pseudo-conf", optarg, 0, 255, &v)) return 2;
            a->pseudo_conf = (int)v;
            break;
        case 'K':
            if (cli_parse_int(NAME, "--pseudo-cap", optarg, 0, 255, &v)) return 2;
            a->pseudo_cap = (int)v;
            break;
        case 'A':
            if (cli_parse_int(NAME, "--pseudo-after", optarg, 0, 1000, &v)) return 2;
            a->pseudo_after = (int)v;
            break;
        case 'h': usage(stdout); return 1;
        default: usage(stderr); return 2;
        }
    }
    if (a->hold_back < 0) a->hold_back = a->labelled * 3 / 10;
    if (!a->model || !a->plan || !a->site) return cli_error(NAME, "needs --model, --plan and --site (see --help)"), 2;
    if (strcmp(a->target, "stm32l4r5") && cli_check_run_target(NAME, a->target)) return 2;
    if (a->port && strcmp(a->target, "stm32l4r5")) return cli_error(NAME, "--port goes with --target stm32l4r5"), 2;
    return 0;
}

static double pct(int correct, int count) { return count ? 100.0 * correct / count : 0.0; }

static void print_report(const run_args *a, const reef_prun_report *r)
{
    if (a->json) {
        reef_prun_report_json(r, stdout);
        return;
    }
    printf("site %s: %d labelled frames (draw %u), %d frames measured; target %s\n", a->site, a->labelled,
           a->draw_seed, r->site.count, a->target);
    reef_table t;
    reef_table_init(&t, "accuracy (%)", ">int8 deployed", ">before (tail)", ">after", NULL);
    reef_table_cell(&t, "site (unused frames)"), reef_table_cell(&t, "%.2f", pct(r->site.int8_correct, r->site.count)),
        reef_table_cell(&t, "%.2f", pct(r->site.before_correct, r->site.count)),
        reef_table_cell(&t, "%.2f", pct(r->site.after_correct, r->site.count));
    if (r->test.count)
        reef_table_cell(&t, "original test split"), reef_table_cell(&t, "%.2f", pct(r->test.int8_correct, r->test.count)),
            reef_table_cell(&t, "%.2f", pct(r->test.before_correct, r->test.count)),
            reef_table_cell(&t, "%.2f", pct(r->test.after_correct, r->test.count));
    for (int c = 0; c < reef_peval_nclasses(&r->site); c++)
        reef_table_cell(&t, "site recall, class %d", c),
            reef_table_cell(&t, "%.2f", pct(r->site.int8_class_correct[c], r->site.class_count[c])),
            reef_table_cell(&t, "-"), reef_table_cell(&t, "%.2f", pct(r->site.after_class_correct[c], r->site.class_count[c]));
    reef_table_print(&t, stdout, NULL);
    reef_prun_report_print_cost(r, stdout);
}

/* Loads the dataset at path (none when path is NULL) in the classes of
 * the model g read from model_path. */
static int load_optional(const char *path, reef_dataset *ds, const reef_graph *g, const char *model_path)
{
    reef_error err;
    memset(ds, 0, sizeof *ds);
    if (!path) return 0;
    if (reef_dataset_load(path, ds, &err)) return cli_error(NAME, "%s", err.msg);
    return cli_follow_classes(NAME, ds, path, &g->classes, model_path);
}

static int personalize_run(int argc, char **argv)
{
    run_args a;
    int rc = parse_run(argc, argv, &a);
    if (rc) return rc == 1 ? 0 : rc;
    reef_graph g;
    reef_lowered_model m;
    reef_dataset site, source, test, stream;
    reef_pplan plan;
    reef_error err;
    if (reef_pplan_load(a.plan, &plan, &err)) return cli_error(NAME, "%s", err.msg);
    if (a.refit_epochs < 0) a.refit_epochs = plan.refit_epochs;
    if (load_model(a.model, &g, &m)) return 1;
    memset(&source, 0, sizeof source), memset(&test, 0, sizeof test), memset(&stream, 0, sizeof stream);
    rc = load_optional(a.site, &site, &g, a.model) || load_optional(a.source, &source, &g, a.model) ||
         load_optional(a.test, &test, &g, a.model) || load_optional(a.stream, &stream, &g, a.model);
    reef_prun_options o = {.model_path = a.model, .target = a.target, .work = a.work, .port = a.port, .labelled = a.labelled,
                           .hold_back = a.hold_back, .guard_margin = a.guard_margin, .refit_epochs = a.refit_epochs,
                           .draw_seed = a.draw_seed, .labelled_balance = a.labelled_balance, .site_path = a.site, .source = a.source ? &source : NULL,
                           .test = a.test ? &test : NULL, .params_out = a.params_out, .stream = a.stream ? &stream : NULL,
                           .pseudo_split = a.pseudo >= 0, .pseudo = a.pseudo > 0 ? a.pseudo : 0, .pseudo_conf = a.pseudo_conf, .pseudo_after = a.pseudo_after,
                           .pseudo_cap = a.pseudo_cap >= 0 ? a.pseudo_cap : (a.labelled + (a.pseudo > 0 ? a.pseudo : 0)) / 2};
    reef_prun_report r;
    memset(&r, 0, sizeof r);
    if (!rc && reef_prun(&g, &m, &plan, &site, &o, &r, &err)) rc = cli_error(NAME, "%s", err.msg);
    if (!rc) print_report(&a, &r);
    reef_prun_report_free(&r);
    reef_dataset_free(&site);
    reef_dataset_free(&source);
    reef_dataset_free(&test);
    reef_dataset_free(&stream);
    reef_lowered_free(&m);
    reef_graph_free(&g);
    return rc;
}

int cmd_personalize(int argc, char **argv)
{
    if (argc >= 2 && !strcmp(argv[1], "plan")) return personalize_plan(argc - 1, argv + 1);
    if (argc >= 2 && !strcmp(argv[1], "split")) return personalize_split(argc - 1, argv + 1);
    return personalize_run(argc, argv);
}
