/* The run pipeline (see pipeline.h): generate C, build for a target, run
 * every input in one emulator run, turn the counts into figures. */
#include "firmware/pipeline.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "codegen/emit.h"
#include "quant/quant.h"
#include "util/cleanup.h"
#include "util/io.h"

double reef_pipeline_timeout(int64_t macs_per_inference, int n)
{
    double per = (double)(macs_per_inference > 0 ? macs_per_inference : 1) * 20.0 / 50e6;
    return 30.0 + (per > 0.01 ? per : 0.01) * (double)(n > 0 ? n : 1);
}

int reef_argmax_i8(const int8_t *v, int n)
{
    int best = 0;
    for (int i = 1; i < n; i++)
        if (v[i] > v[best]) best = i;
    return best;
}

int reef_argmax_f32(const float *v, int n)
{
    int best = 0;
    for (int i = 1; i < n; i++)
        if (v[i] > v[best]) best = i;
    return best;
}

/* ---- the work folder ------------------------------------------------------ */

typedef struct workdir {
    char dir[4096];
    int temporary;
    char header[4200], source[4200], firmware[4200];
    char input_map[4200]; /* <name>_input_map.h (temporal context only) */
} workdir;

static int make_dirs(const char *path, reef_error *err)
{
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(buf, 0777) && errno != EEXIST) return reef_fail(err, "cannot create %s: %s", buf, strerror(errno));
        *p = '/';
    }
    if (mkdir(buf, 0777) && errno != EEXIST) return reef_fail(err, "cannot create %s: %s", buf, strerror(errno));
    return 0;
}

static int workdir_open(workdir *w, const reef_pipeline_opts *o, reef_error *err)
{
    memset(w, 0, sizeof *w);
    if (o->work_dir) {
        snprintf(w->dir, sizeof w->dir, "%s", o->work_dir);
        if (make_dirs(w->dir, err)) return -1;
    } else {
        if (reef_scratch_dir_make(w->dir, sizeof w->dir, "reef-run-"))
            return reef_fail(err, "cannot make a scratch folder: %s", strerror(errno));
        w->temporary = 1;
    }
    int host = !strcmp(o->target, "host");
    snprintf(w->header, sizeof w->header, "%s/%s.h", w->dir, o->name);
    snprintf(w->source, sizeof w->source, "%s/%s.c", w->dir, o->name);
    snprintf(w->firmware, sizeof w->firmware, "%s/%s%s", w->dir, o->name, host ? "-host" : ".elf");
    snprintf(w->input_map, sizeof w->input_map, "%s/%s_input_map.h", w->dir, o->name);
    return 0;
}

static void workdir_close(workdir *w)
{
    if (!w->temporary) return;
    remove(w->header), remove(w->source), remove(w->firmware), remove(w->input_map);
    rmdir(w->dir);
    reef_cleanup_forget_dir(w->dir);
}

static int check_opts(const reef_pipeline_opts *o, reef_error *err)
{
    if (!o->target || (strcmp(o->target, "host") && strcmp(o->target, "qemu-m4")))
        return reef_fail(err, "unknown target '%s' (host or qemu-m4)", o->target ? o->target : "");
    if (!o->name || !reef_c_name_valid(o->name)) return reef_fail(err, "'%s' is not a C identifier", o->name ? o->name : "");
    return 0;
}

/* ---- figures -------------------------------------------------------------- */

static void count_figures(const reef_run_counts *c, const reef_pipeline_opts *o, reef_firmware_figures *f)
{
    reef_cycle_model cm;
    reef_cycle_model_default(&cm, o->profile ? o->profile->flash_wait_states : 5);
    double insn = 0, cycles = 0, core = 0, flash = 0;
    f->insn_all_equal = 1;
    for (int i = 0; i < c->inferences; i++) {
        uint64_t n = c->per_inference[i].c[REEF_INSN_TOTAL];
        reef_cycle_estimate e;
        reef_cycle_estimate_counts(&cm, c->per_inference[i].c, &e);
        insn += (double)n, cycles += e.cycles, core += e.core_cycles, flash += e.flash_cycles;
        if (i == 0 || n < f->insn_min) f->insn_min = n;
        if (i == 0 || n > f->insn_max) f->insn_max = n;
    }
    f->insn_all_equal = f->insn_min == f->insn_max;
    double k = c->inferences > 0 ? 1.0 / c->inferences : 0.0;
    f->insn_mean = insn * k, f->cycles = cycles * k, f->core_cycles = core * k, f->flash_cycles = flash * k;
    if (o->profile) {
        reef_energy_estimate e;
        reef_energy_estimate_cycles(o->profile, f->cycles, &e);
        f->clock_mhz = o->profile->clock_mhz;
        f->time_ms = e.time_s * 1e3, f->power_mw = e.power_mw, f->energy_mj = e.energy_uj * 1e-3;
    }
}

/* ---- build and run -------------------------------------------------------- */

/* The model's per-channel input map as C tables for the temporal-context
 * harness: reef_harness_input_lut[c][p] is the int8 input of pixel value p
 * on channel c (reef_input_map; a lookup, integer only on the device). */
static int write_input_map(const workdir *w, const reef_pipeline_opts *o, reef_error *err)
{
    const reef_input_map *map = o->input_map;
    if (!map || map->channels != 2) return reef_fail(err, "a temporal-context firmware needs a 2-channel input map");
    FILE *fp = fopen(w->input_map, "w");
    if (!fp) return reef_fail(err, "cannot write %s: %s", w->input_map, strerror(errno));
    fprintf(fp, "/* Generated by reef: the input map of %s, channel c's int8 input for pixel\n"
                " * value p (the model's input quantization; targets/common/harness.c). */\n"
                "#include <stdint.h>\nstatic const int8_t reef_harness_input_lut[2][256] = {\n", o->source ? o->source : o->name);
    for (int c = 0; c < 2; c++) {
        fprintf(fp, "    {");
        for (int p = 0; p < 256; p++) fprintf(fp, "%d%s%s", map->lut[c][p], p < 255 ? "," : "", p % 16 == 15 && p < 255 ? "\n     " : "");
        fprintf(fp, "},\n");
    }
    fprintf(fp, "};\n");
    return fclose(fp) == 0 ? 0 : reef_fail(err, "%s: write failed", w->input_map);
}

static int build_firmware(const workdir *w, const reef_pipeline_opts *o, reef_firmware_figures *fig, reef_error *err)
{
    if (o->temporal && write_input_map(w, o, err)) return -1;
    const char *sources[1] = {w->source};
    reef_fw_spec spec = {.board = o->target, .model_header = w->header, .model_sources = sources,
                         .model_source_count = 1, .profile_steps = o->profile_steps,
                         .every_op_path = o->every_op_path, .output = w->firmware,
                         .background_diff = o->background_diff, .temporal = o->temporal,
                         .temporal_lag = o->temporal_lag, .input_map_header = o->temporal ? w->input_map : NULL};
    double t0 = reef_now();
    if (reef_m4_build(&spec, err)) return -1;
    fig->build_seconds = reef_now() - t0;
    return 0;
}

/* Runs the built firmware over raw input bytes; fills fig (and counts). */
static int run_firmware(const workdir *w, const reef_pipeline_opts *o, const int8_t *in, int n, size_t in_size,
                        int8_t *out, size_t out_size, double timeout, reef_firmware_figures *fig,
                        reef_run_counts *counts, reef_error *err)
{
    reef_run_counts local = {0};
    reef_run_counts *c = counts ? counts : &local;
    double t0 = reef_now();
    const int n_out = o->n_outputs > 0 ? o->n_outputs : n;
    fig->inferences = n_out;
    if (!strcmp(o->target, "host")) {
        int rc = reef_host_run_records(w->firmware, in, n, in_size, out, n_out, out_size, c, timeout, err);
        fig->wall_seconds = reef_now() - t0;
        return rc;
    }
    if (reef_m4_run_records(w->firmware, in, n, in_size, out, n_out, out_size, c, timeout, err)) return -1;
    fig->wall_seconds = reef_now() - t0;
    fig->emulated = 1;
    count_figures(c, o, fig);
    int rc = reef_memory_report_elf(w->firmware, c->stack_high_water, &fig->mem, err);
    if (!rc) {
        reef_error ignored; /* without nm the breakdown is left out (origin.known 0) */
        reef_memory_flash_origin(w->firmware, &fig->mem, &ignored);
    }
    if (!counts) reef_run_counts_free(&local);
    return rc;
}

int reef_pipeline_run_int8(const reef_lowered_model *m, const int8_t *inputs, int n, int8_t *outputs,
                           const reef_pipeline_opts *opts, reef_firmware_figures *fig, reef_run_counts *counts,
                           reef_error *err)
{
    memset(fig, 0, sizeof *fig);
    if (counts) memset(counts, 0, sizeof *counts);
    workdir w;
    if (check_opts(opts, err) || workdir_open(&w, opts, err)) return -1;
    double timeout = opts->timeout_s > 0 ? opts->timeout_s : reef_pipeline_timeout(m->macs, n);
    int rc = reef_emit_c(m, w.dir, opts->name, opts->source, err);
    if (!rc) rc = build_firmware(&w, opts, fig, err);
    if (!rc)
        rc = run_firmware(&w, opts, inputs, n, opts->record_size ? opts->record_size : (size_t)m->input_bytes, outputs,
                          (size_t)m->output_bytes, timeout, fig, counts, err);
    workdir_close(&w);
    return rc;
}

int reef_pipeline_run_float(const reef_float_model *m, const float *inputs, int n, float *outputs,
                            const reef_pipeline_opts *opts, reef_firmware_figures *fig, reef_error *err)
{
    memset(fig, 0, sizeof *fig);
    workdir w;
    if (check_opts(opts, err) || workdir_open(&w, opts, err)) return -1;
    /* float kernels cost more instructions per MAC than int8 ones */
    double timeout = opts->timeout_s > 0 ? opts->timeout_s : reef_pipeline_timeout(m->macs * 2, n);
    int rc = reef_emit_float_c(m, w.dir, opts->name, opts->source, err);
    if (!rc) rc = build_firmware(&w, opts, fig, err);
    /* Floats cross as their little-endian bytes (both ends are little-endian). */
    if (!rc)
        rc = run_firmware(&w, opts, (const int8_t *)(const void *)inputs, n, (size_t)m->input_count * sizeof(float),
                          (int8_t *)(void *)outputs, (size_t)m->output_count * sizeof(float), timeout, fig, NULL, err);
    workdir_close(&w);
    return rc;
}

/* ---- dataset -> int8 inputs ----------------------------------------------- */



int reef_pipeline_int8_inputs(const reef_graph *g, const reef_lowered_model *m, const reef_dataset *ds,
                              const char *data_path, int8_t **inputs, reef_error *err)
{
    *inputs = NULL;
    if (reef_dataset_check_fits(ds, data_path, m->input_shape, m->input_rank, m->output_size,
                                g->name ? g->name : "model", err))
        return -1;
    reef_input_map map;
    if (reef_input_map_from_graph(g, &map, err)) return -1;
    size_t sample = reef_dataset_sample_size(ds);
    int8_t *in = malloc(ds->count ? (size_t)ds->count * sample : 1);
    if (!in) return reef_fail(err, "out of memory (%u samples)", ds->count);
    for (uint32_t i = 0; i < ds->count; i++) reef_input_map_apply(&map, reef_dataset_sample(ds, i), sample, in + i * sample);
    *inputs = in;
    return 0;
}
