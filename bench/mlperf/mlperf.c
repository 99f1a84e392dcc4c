/* bench_mlperf: the four MLPerf Tiny models on the emulated Cortex-M4.
 *
 * For each model: lower it and emit C (the `reef gen` path), build qemu-m4
 * firmware with per-step markers, run every reference input of
 * ../shared/models/vectors, require outputs byte-identical to TFLite
 * Micro's, then print instructions per inference next to TFLite Micro +
 * CMSIS-NN measured the same way (tflm-cortex-m4/results.csv), MACs per
 * instruction, modeled cycles and ms at 120 MHz next to the MLPerf Tiny
 * latencies on the same MCU (shared/notes/anchors.md), and where the
 * instructions go by op type.
 *
 * Instruction counts are EXACT (QEMU plugin, -icount shift=0); cycles and
 * ms are MODELED (src/firmware/cycles.h, 5 flash wait states).
 *
 *   bench_mlperf [--shared DIR] [--models kws,vww,ic,ad] [--steps] [--memory fast|balanced|min] [--json]
 */
#include <dirent.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "codegen/emit.h"
#include "codegen/lower.h"
#include "firmware/cycles.h"
#include "firmware/firmware.h"
#include "firmware/memory.h"
#include "tflite/graph.h"
#include "util/io.h"
#include "util/json.h"
#include "util/table.h"

#define MAX_VECTORS 16
#define MAX_GROUPS 32

typedef struct model_info {
    const char *name, *tflite;
    /* MLPerf Tiny v0.5-v1.1 latencies on NUCLEO-L4R5ZI at 120 MHz, ms
     * (anchors.md): TFLM 2.3.1 + CMSIS-NN, X-CUBE-AI 8.1, Plumerai */
    double ms_tflm, ms_xcube, ms_plumerai;
} model_info;

static const model_info models[] = {
    {"kws", "kws_ref_model.tflite", 181.9, 62.9, 47.8},
    {"vww", "vww_96_int8.tflite", 600.6, 118.7, 98.8},
    {"ic", "pretrainedResnet_quant.tflite", 704.0, 214.0, 167.8},
    {"ad", "ad01_int8.tflite", 10.05, 6.86, 4.05},
};

/* Instructions of one op type over a run. */
typedef struct op_group {
    char label[32];
    int steps;
    int64_t macs;
    double insns;
} op_group;

typedef struct model_result {
    const model_info *info;
    int64_t macs;
    int nvectors;
    double insns;       /* mean per inference */
    double insns_min, insns_max;
    double tflm_insns;  /* mean of results.csv's permodel row */
    double cycles, flash_cycles;
    reef_memory_report mem;
    int ngroups;
    op_group groups[MAX_GROUPS];
} model_result;

static void die(const char *fmt, const char *a, const char *b)
{
    fprintf(stderr, "bench_mlperf: ");
    fprintf(stderr, fmt, a, b);
    fputc('\n', stderr);
    exit(1);
}

/* Mean of the space-separated invoke_insns of the permodel row of model. */
static double tflm_insns(const char *shared, const char *model)
{
    char path[1024], line[4096];
    snprintf(path, sizeof path, "%s/models/tflm-cortex-m4/results.csv", shared);
    FILE *fp = fopen(path, "r");
    if (!fp) die("cannot open %s%s", path, "");
    double mean = 0;
    while (fgets(line, sizeof line, fp)) {
        char *resolver = strtok(line, ","), *name = strtok(NULL, ","), *insns = strtok(NULL, ",");
        if (!resolver || !name || !insns || strcmp(resolver, "permodel") || strcmp(name, model)) continue;
        int n = 0;
        double sum = 0;
        for (char *tok = strtok(insns, " "); tok; tok = strtok(NULL, " ")) sum += atof(tok), n++;
        mean = n ? sum / n : 0;
        break;
    }
    fclose(fp);
    if (mean <= 0) die("%s has no permodel row for %s", path, model);
    return mean;
}

/* Names of the model's vectors (without .in.bin), sorted. */
static int list_vectors(const char *dir, char names[MAX_VECTORS][64])
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;
    if (!d) die("cannot open %s%s", dir, "");
    while ((e = readdir(d)) && n < MAX_VECTORS) {
        size_t len = strlen(e->d_name);
        if (len > 7 && len < 64 + 7 && !strcmp(e->d_name + len - 7, ".in.bin")) {
            memcpy(names[n], e->d_name, len - 7);
            names[n++][len - 7] = '\0';
        }
    }
    closedir(d);
    qsort(names, (size_t)n, 64, (int (*)(const void *, const void *))strcmp);
    return n;
}

static void read_exact(const char *path, int8_t *buf, size_t size)
{
    uint8_t *data;
    size_t got;
    reef_error err;
    if (reef_read_file(path, &data, &got, &err)) die("%s%s", err.msg, "");
    if (got != size) die("%s: size differs from the model's tensor%s", path, "");
    memcpy(buf, data, size);
    free(data);
}

/* "conv 3x3 s2", "dw 3x3", "fc", ... */
static void step_label(const reef_lowered_step *s, char *buf, size_t size)
{
    const reef_conv_step_args *c = &s->args.conv;
    const reef_dw_conv_step_args *d = &s->args.dw_conv;
    if (s->kind == REEF_STEP_CONV)
        snprintf(buf, size, "conv %dx%d%s%s", c->filter_dims.h, c->filter_dims.w,
                 c->params.stride.h > 1 ? " s2" : "", c->input_dims.c == 1 ? " c1" : "");
    else if (s->kind == REEF_STEP_DW_CONV)
        snprintf(buf, size, "dw %dx%d%s", d->filter_dims.h, d->filter_dims.w, d->params.stride.h > 1 ? " s2" : "");
    else
        snprintf(buf, size, "%s", reef_step_kind_name(s->kind));
}

static void add_to_group(model_result *r, const char *label, int64_t macs, double insns)
{
    int g = 0;
    while (g < r->ngroups && strcmp(r->groups[g].label, label)) g++;
    if (g == r->ngroups) {
        if (g == MAX_GROUPS) return;
        memset(&r->groups[g], 0, sizeof r->groups[g]);
        snprintf(r->groups[g].label, sizeof r->groups[g].label, "%s", label);
        r->ngroups++;
    }
    r->groups[g].steps++;
    r->groups[g].macs += macs;
    r->groups[g].insns += insns;
}

/* Emits, builds, runs and checks one model; fills r. */
static reef_memory_mode memory_mode = REEF_MEMORY_FAST; /* --memory */
static int patch_mode = REEF_PATCH_AUTO;                 /* --patches auto|force|off */

static void run_model(const model_info *mi, const char *shared, const char *tmp, int print_steps, model_result *r)
{
    reef_lower_options lower_opt = {0, memory_mode, patch_mode};
    char path[2200], header[1024], source[1024], elf[1024], vecdir[1024], names[MAX_VECTORS][64];
    reef_error err = {{0}};
    reef_graph g;
    reef_lowered_model m;
    snprintf(path, sizeof path, "%s/models/models/%s", shared, mi->tflite);
    if (reef_tflite_read(path, &g, &err) || reef_lower_with(&g, &lower_opt, &m, &err)) die("%s: %s", path, err.msg);
    if (reef_emit_c(&m, tmp, mi->name, path, &err)) die("%s%s", err.msg, "");
    snprintf(header, sizeof header, "%s/%s.h", tmp, mi->name);
    snprintf(source, sizeof source, "%s/%s.c", tmp, mi->name);
    snprintf(elf, sizeof elf, "%s/%s.elf", tmp, mi->name);
    const char *sources[1] = {source};
    reef_fw_spec spec = {.board = "qemu-m4", .model_header = header, .model_sources = sources,
                         .model_source_count = 1, .profile_steps = 1, .output = elf};
    if (reef_m4_build(&spec, &err)) die("%s%s", err.msg, "");

    snprintf(vecdir, sizeof vecdir, "%s/models/vectors/%s", shared, mi->name);
    int n = list_vectors(vecdir, names);
    if (n == 0) die("no vectors in %s%s", vecdir, "");
    size_t isz = (size_t)m.input_size, osz = (size_t)m.output_size;
    int8_t *in = malloc(n * isz), *out = malloc(n * osz), *want = malloc(n * osz);
    if (!in || !out || !want) die("out of memory%s%s", "", "");
    for (int k = 0; k < n; k++) {
        snprintf(path, sizeof path, "%s/%s.in.bin", vecdir, names[k]);
        read_exact(path, in + k * isz, isz);
        snprintf(path, sizeof path, "%s/%s.out.bin", vecdir, names[k]);
        read_exact(path, want + k * osz, osz);
    }
    reef_run_counts c;
    if (reef_m4_run(elf, in, n, isz, out, osz, &c, 300, &err)) die("%s%s", err.msg, "");
    for (int k = 0; k < n; k++)
        if (memcmp(out + k * osz, want + k * osz, osz)) die("%s: output differs from TFLite Micro's", names[k], "");
    if (c.steps != m.nsteps) die("%s: step count differs from the model's%s", mi->name, "");

    memset(r, 0, sizeof *r);
    r->info = mi;
    r->macs = m.macs;
    r->nvectors = n;
    r->tflm_insns = tflm_insns(shared, mi->name);
    r->insns_min = 1e300;
    reef_insn_counts mean = {{0}};
    for (int k = 0; k < n; k++) {
        double v = (double)c.per_inference[k].c[REEF_INSN_TOTAL];
        r->insns += v / n;
        r->insns_min = v < r->insns_min ? v : r->insns_min;
        r->insns_max = v > r->insns_max ? v : r->insns_max;
        for (int i = 0; i < REEF_INSN_CLASS_COUNT; i++) mean.c[i] += c.per_inference[k].c[i];
    }
    for (int i = 0; i < REEF_INSN_CLASS_COUNT; i++) mean.c[i] /= (uint64_t)n;
    reef_cycle_model cm;
    reef_cycle_estimate est;
    reef_cycle_model_default(&cm, 5);
    reef_cycle_estimate_counts(&cm, mean.c, &est);
    r->cycles = est.cycles;
    r->flash_cycles = est.flash_cycles;
    if (reef_memory_report_elf(elf, c.stack_high_water, &r->mem, &err)) die("%s%s", err.msg, "");

    reef_table t;
    if (print_steps)
        reef_table_init(&t, ">step", "op", ">MACs", ">instructions", ">instr/MAC", ">cycles (modeled)",
                        ">cycles/MAC", ">flash reads", NULL);
    for (int s = 0; s < m.nsteps; s++) {
        char label[32];
        double insns = 0;
        for (int k = 0; k < n; k++) insns += (double)c.per_step[(size_t)k * c.steps + s].c[REEF_INSN_TOTAL] / n;
        step_label(&m.steps[s], label, sizeof label);
        add_to_group(r, label, m.steps[s].macs, insns);
        if (!print_steps) continue;
        reef_table_cell(&t, "%d", s), reef_table_cell(&t, "%s", label);
        reef_table_cell(&t, "%lld", (long long)m.steps[s].macs), reef_table_cell(&t, "%.0f", insns);
        if (m.steps[s].macs) reef_table_cell(&t, "%.2f", insns / (double)m.steps[s].macs);
        else reef_table_cell(&t, "-");
        reef_insn_counts sc = {{0}};
        for (int k = 0; k < n; k++)
            for (int i = 0; i < REEF_INSN_CLASS_COUNT; i++) sc.c[i] += c.per_step[(size_t)k * c.steps + s].c[i];
        for (int i = 0; i < REEF_INSN_CLASS_COUNT; i++) sc.c[i] /= (uint64_t)n;
        reef_cycle_estimate_counts(&cm, sc.c, &est);
        reef_table_cell(&t, "%.0f", est.cycles);
        if (m.steps[s].macs) reef_table_cell(&t, "%.2f", est.cycles / (double)m.steps[s].macs);
        else reef_table_cell(&t, "-");
        reef_table_cell(&t, "%llu", (unsigned long long)sc.c[REEF_INSN_FLASH_READS]);
        if (getenv("REEF_STEP_CLASSES")) { fprintf(stderr, "%s step %d:", mi->name, s);
#define PRC(name, text) fprintf(stderr, " %s=%llu", text, (unsigned long long)sc.c[REEF_INSN_##name]);
            REEF_INSN_CLASSES(PRC)
            fprintf(stderr, "\n"); }
    }
    if (print_steps) {
        snprintf(path, sizeof path, "%s: per step (mean over %d inputs)", mi->name, n);
        reef_table_print(&t, stdout, path);
        putchar('\n');
    }
    reef_run_counts_free(&c);
    free(in), free(out), free(want);
    reef_lowered_free(&m);
    reef_graph_free(&g);
}

static void print_summary(const model_result *rs, int n)
{
    reef_table t;
    char reef_ms[64];
    snprintf(reef_ms, sizeof reef_ms, ">reef ms (modeled, +-%.1f%%)", REEF_CALIBRATION_TIME_WORST_PCT);
    reef_table_init(&t, "model", ">MACs", ">reef instr (emulated)", ">TFLM+CMSIS instr (emulated)", ">ratio", ">MAC/instr",
                    ">cycles (modeled)", reef_ms, ">TFLM 2.3.1 ms (measured)", ">X-CUBE-AI ms (measured)",
                    ">Plumerai ms (measured)", ">flash B", ">RAM B", NULL);
    for (int i = 0; i < n; i++) {
        const model_result *r = &rs[i];
        reef_table_cell(&t, "%s", r->info->name);
        reef_table_cell(&t, "%lld", (long long)r->macs);
        reef_table_cell(&t, "%.0f", r->insns);
        reef_table_cell(&t, "%.0f", r->tflm_insns);
        reef_table_cell(&t, "%.3f", r->insns / r->tflm_insns);
        reef_table_cell(&t, "%.3f", (double)r->macs / r->insns);
        reef_table_cell(&t, "%.0f", r->cycles);
        reef_table_cell(&t, "%.2f", r->cycles / 120e3);
        reef_table_cell(&t, "%.2f", r->info->ms_tflm);
        reef_table_cell(&t, "%.2f", r->info->ms_xcube);
        reef_table_cell(&t, "%.2f", r->info->ms_plumerai);
        reef_table_cell(&t, "%u", r->mem.flash_total);
        reef_table_cell(&t, "%u", r->mem.ram_total);
    }
    reef_table_print(&t, stdout,
                     "Instructions per inference: exact (qemu mps2-an386, -icount shift=0, mean over the vectors); "
                     "cycles and reef ms: modeled (5 flash wait states; expected error: worst leave-one-out of "
                     "docs/cycle-model.md, Calibration); other engines' ms: measured on a NUCLEO-L4R5ZI (anchors.md)");
    putchar('\n');
    for (int i = 0; i < n; i++) {
        const model_result *r = &rs[i];
        reef_table_init(&t, "op", ">steps", ">MACs", ">instructions", ">share", ">instr/MAC", NULL);
        for (int g = 0; g < r->ngroups; g++) {
            const op_group *o = &r->groups[g];
            reef_table_cell(&t, "%s", o->label), reef_table_cell(&t, "%d", o->steps);
            reef_table_cell(&t, "%lld", (long long)o->macs), reef_table_cell(&t, "%.0f", o->insns);
            reef_table_cell(&t, "%.1f%%", 100.0 * o->insns / r->insns);
            if (o->macs) reef_table_cell(&t, "%.2f", o->insns / (double)o->macs);
            else reef_table_cell(&t, "-");
        }
        char title[128];
        snprintf(title, sizeof title, "%s by op type (%d vectors, all byte-identical to TFLite Micro)", r->info->name,
                 r->nvectors);
        reef_table_print(&t, stdout, title);
        putchar('\n');
    }
}

static void print_json(const model_result *rs, int n)
{
    reef_json j;
    reef_json_begin(&j, stdout);
    reef_json_array(&j);
    for (int i = 0; i < n; i++) {
        const model_result *r = &rs[i];
        reef_json_object(&j);
        reef_json_kv_string(&j, "model", r->info->name);
        reef_json_kv_int(&j, "macs", r->macs);
        reef_json_kv_int(&j, "vectors", r->nvectors);
        reef_json_kv_number(&j, "instructions", r->insns);
        reef_json_kv_number(&j, "instructions_min", r->insns_min);
        reef_json_kv_number(&j, "instructions_max", r->insns_max);
        reef_json_kv_number(&j, "tflm_cmsis_instructions", r->tflm_insns);
        reef_json_kv_number(&j, "ratio", r->insns / r->tflm_insns);
        reef_json_kv_number(&j, "macs_per_instruction", (double)r->macs / r->insns);
        reef_json_kv_number(&j, "modeled_cycles", r->cycles);
        reef_json_kv_number(&j, "modeled_ms_120mhz", r->cycles / 120e3);
        reef_json_kv_int(&j, "flash_bytes", r->mem.flash_total);
        reef_json_kv_int(&j, "ram_bytes", r->mem.ram_total);
        reef_json_key(&j, "ops");
        reef_json_array(&j);
        for (int g = 0; g < r->ngroups; g++) {
            reef_json_object(&j);
            reef_json_kv_string(&j, "op", r->groups[g].label);
            reef_json_kv_int(&j, "steps", r->groups[g].steps);
            reef_json_kv_int(&j, "macs", r->groups[g].macs);
            reef_json_kv_number(&j, "instructions", r->groups[g].insns);
            reef_json_end(&j);
        }
        reef_json_end(&j);
        reef_json_end(&j);
    }
    reef_json_end(&j);
    reef_json_finish(&j);
}

static void usage(FILE *fp)
{
    fprintf(fp, "usage: bench_mlperf [--shared DIR] [--models kws,vww,ic,ad] [--steps] [--memory MODE] [--patches auto|force|off] [--json]\n\n"
                "Generates, builds and runs the MLPerf Tiny models on the emulated Cortex-M4,\n"
                "checks every output against TFLite Micro's, and prints instructions per\n"
                "inference next to TFLite Micro + CMSIS-NN's.\n");
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {{"shared", required_argument, NULL, 's'},
                                         {"models", required_argument, NULL, 'm'},
                                         {"steps", no_argument, NULL, 'p'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"memory", required_argument, NULL, 'M'},
                                         {"patches", required_argument, NULL, 'P'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *shared = getenv("REEF_SHARED"), *wanted = "kws,vww,ic,ad";
    int steps = 0, json = 0, c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 's') shared = optarg;
        else if (c == 'm') wanted = optarg;
        else if (c == 'p') steps = 1;
        else if (c == 'j') json = 1;
        else if (c == 'M') {
            int mode = reef_memory_mode_parse(optarg);
            if (mode < 0) die("--memory '%s': expected fast, balanced or min%s", optarg, "");
            memory_mode = (reef_memory_mode)mode;
        }
        else if (c == 'P') {
            if (!strcmp(optarg, "auto")) patch_mode = REEF_PATCH_AUTO;
            else if (!strcmp(optarg, "force")) patch_mode = REEF_PATCH_FORCE;
            else if (!strcmp(optarg, "off")) patch_mode = REEF_PATCH_OFF;
            else die("--patches '%s': expected auto, force or off%s", optarg, "");
        }
        else if (c == 'h') return usage(stdout), 0;
        else return usage(stderr), 2;
    }
    if (!shared) shared = REEF_SHARED_DEFAULT;
    char tmp[] = "/tmp/reef-mlperf-XXXXXX";
    if (!mkdtemp(tmp)) die("cannot create a folder in /tmp%s%s", "", "");
    model_result results[4];
    int n = 0;
    for (size_t i = 0; i < sizeof models / sizeof models[0]; i++) {
        const char *p = strstr(wanted, models[i].name);
        size_t len = strlen(models[i].name);
        if (!p || (p != wanted && p[-1] != ',') || (p[len] && p[len] != ',')) continue;
        run_model(&models[i], shared, tmp, steps && !json, &results[n++]);
    }
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    if (system(cmd) != 0) fprintf(stderr, "bench_mlperf: could not remove %s\n", tmp);
    if (json) print_json(results, n);
    else print_summary(results, n);
    return 0;
}
