/* Per-step cycles for the intermittent planner: the file, the qemu-m4
 * measurement and its cache (step_cycles.h). */
#include "firmware/step_cycles.h"

#include "firmware/cache.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "firmware/cycles.h"
#include "firmware/pipeline.h"
#include "util/io.h"

int reef_step_cycles_read(const char *path, double **cycles, int *n, reef_error *err)
{
    FILE *fp = fopen(path, "r");
    char line[256];
    int steps = -1, seen = 0, lineno = 0;
    *cycles = NULL, *n = 0;
    if (!fp) return reef_fail(err, "%s: cannot open: %s", path, strerror(errno));
    while (fgets(line, sizeof line, fp)) {
        int k;
        double v;
        char extra;
        lineno++;
        if (line[0] == '#' || line[0] == '\n') continue;
        if (steps < 0) {
            if (sscanf(line, "steps %d %c", &steps, &extra) != 1 || steps < 1 || steps > 65535) break;
            if (!(*cycles = calloc((size_t)steps, sizeof **cycles))) break;
            continue;
        }
        if (sscanf(line, "%d %lf %c", &k, &v, &extra) != 2 || k != seen || !(v >= 0 && v < 1e12)) break;
        (*cycles)[seen++] = v;
        if (seen == steps) {
            lineno = 0;
            break;
        }
    }
    fclose(fp);
    if (steps >= 1 && seen == steps && lineno == 0) return *n = steps, 0;
    free(*cycles);
    *cycles = NULL;
    if (steps < 1)
        return reef_fail(err, "%s: line %d: expected 'steps N' (reef run --steps --step-cycles writes this file)", path,
                         lineno);
    return reef_fail(err, "%s: line %d: expected step %d's cycles ('%d CYCLES'), of %d steps", path, lineno, seen, seen,
                     steps);
}

int reef_step_cycles_write(const char *path, const double *cycles, int n, const char *comment, reef_error *err)
{
    reef_atomic_file af;
    if (reef_atomic_open(&af, path, err)) return -1;
    for (const char *c = comment; c && *c;) {
        const char *eol = strchr(c, '\n');
        int len = eol ? (int)(eol - c) : (int)strlen(c);
        fprintf(af.fp, "# %.*s\n", len, c);
        c += len + (eol ? 1 : 0);
    }
    fprintf(af.fp, "steps %d\n", n);
    for (int k = 0; k < n; k++) fprintf(af.fp, "%d %.0f\n", k, cycles[k]);
    return reef_atomic_commit(&af, err);
}

int reef_step_cycles_from_counts(const reef_run_counts *counts, const reef_device_profile *prof, double **cycles,
                                 reef_error *err)
{
    reef_cycle_model cm;
    *cycles = NULL;
    if (!counts->per_step || counts->steps < 1 || counts->inferences < 1)
        return reef_fail(err, "no per-step counts (the firmware was not built with step markers)");
    if (!(*cycles = calloc((size_t)counts->steps, sizeof **cycles))) return reef_fail(err, "out of memory");
    reef_cycle_model_default(&cm, prof->flash_wait_states);
    for (int k = 0; k < counts->steps; k++) {
        double sum = 0;
        for (int i = 0; i < counts->inferences; i++) {
            reef_cycle_estimate e;
            reef_cycle_estimate_counts(&cm, counts->per_step[(size_t)i * counts->steps + k].c, &e);
            sum += e.cycles;
        }
        (*cycles)[k] = ceil(sum / counts->inferences); /* whole cycles, as the file keeps them */
    }
    return 0;
}

/* ---- can we measure? ---------------------------------------------------- */

static int on_path(const char *name)
{
    const char *path = getenv("PATH");
    char buf[4096];
    while (path && *path) {
        const char *colon = strchr(path, ':');
        size_t len = colon ? (size_t)(colon - path) : strlen(path);
        if (len && len < sizeof buf - strlen(name) - 2) {
            snprintf(buf, sizeof buf, "%.*s/%s", (int)len, path, name);
            if (access(buf, X_OK) == 0) return 1;
        }
        path = colon ? colon + 1 : NULL;
    }
    return 0;
}

int reef_step_cycles_can_measure(char *missing, size_t size)
{
    const char *env = getenv("REEF_QEMU_PLUGIN");
    const char *plugin = env && *env ? env : REEF_QEMU_PLUGIN_PATH;
    struct stat st;
    missing[0] = 0;
    if (!on_path("arm-none-eabi-gcc")) snprintf(missing, size, "arm-none-eabi-gcc");
    else if (!on_path("qemu-system-arm")) snprintf(missing, size, "qemu-system-arm");
    else if (!*plugin || stat(plugin, &st)) snprintf(missing, size, "the QEMU counting plugin (%s)", *plugin ? plugin : "not built");
    return missing[0] == 0;
}

/* ---- the cache key ------------------------------------------------------ */

/* The lowered model (kinds, shapes, constants), the sources the firmware
 * is built from, and what the cycle model takes from the profile. */
static uint64_t cache_key(const reef_lowered_model *m, const reef_device_profile *prof)
{
    static const char *const dirs[] = {"runtime/src", "runtime/include", "targets/common", "targets/qemu-m4"};
    uint64_t h = REEF_HASH_INIT;
    h = reef_hash_bytes(h, &m->nsteps, sizeof m->nsteps);
    h = reef_hash_bytes(h, &m->arena_size, sizeof m->arena_size);
    h = reef_hash_bytes(h, &m->input_bytes, sizeof m->input_bytes);
    for (int k = 0; k < m->nsteps; k++) {
        const reef_lowered_step *s = &m->steps[k];
        h = reef_hash_bytes(h, &s->kind, sizeof s->kind);
        h = reef_hash_bytes(h, &s->macs, sizeof s->macs);
        h = reef_hash_bytes(h, &m->tensor_bytes[s->output_tensor], sizeof m->tensor_bytes[s->output_tensor]);
        for (int j = 0; j < 2; j++)
            if (s->input_tensors[j] >= 0) h = reef_hash_bytes(h, &m->tensor_bytes[s->input_tensors[j]], sizeof(uint32_t));
        if (s->filter) h = reef_hash_bytes(h, s->filter, s->filter_size);
        if (s->bias) h = reef_hash_bytes(h, s->bias, (size_t)s->nbias * sizeof *s->bias);
        if (s->multiplier) h = reef_hash_bytes(h, s->multiplier, (size_t)s->nchannels * sizeof *s->multiplier);
    }
    for (size_t i = 0; i < sizeof dirs / sizeof *dirs; i++) {
        char dir[4096];
        snprintf(dir, sizeof dir, "%s/%s", reef_source_dir(), dirs[i]);
        h = reef_hash_dir(h, dir);
    }
    h = reef_hash_bytes(h, &prof->clock_mhz, sizeof prof->clock_mhz);
    h = reef_hash_bytes(h, &prof->flash_wait_states, sizeof prof->flash_wait_states);
    return h;
}

int reef_step_cycles_cache_path(const reef_lowered_model *m, const reef_device_profile *prof, char *path,
                                size_t size)
{
    char dir[3072];
    if (reef_cache_dir(dir, sizeof dir)) return -1;
    snprintf(path, size, "%s/step-cycles-%016llx.txt", dir, (unsigned long long)cache_key(m, prof));
    return 0;
}

/* ---- measuring ---------------------------------------------------------- */

/* A fixed pseudo-random input: int8 values, or float32 values in [-1, 1)
 * for a model whose input is float (a QUANTIZE first). */
static int8_t *profiling_input(const reef_lowered_model *m)
{
    int8_t *in = malloc((size_t)m->input_bytes);
    uint32_t x = 12345u;
    if (!in) return NULL;
    int fl = m->input_type == REEF_FLOAT32;
    int count = fl ? m->input_bytes / 4 : m->input_bytes;
    for (int i = 0; i < count; i++) {
        x = x * 1664525u + 1013904223u;
        if (fl) {
            float v = (float)(x >> 8) / 8388608.0f - 1.0f;
            memcpy(in + 4 * i, &v, sizeof v);
        } else {
            in[i] = (int8_t)(x >> 24);
        }
    }
    return in;
}

static int measure(const reef_lowered_model *m, const reef_device_profile *prof, double **cycles, reef_error *err)
{
    int8_t *in = profiling_input(m), *out = malloc((size_t)m->output_bytes);
    reef_run_counts counts;
    reef_firmware_figures fig;
    memset(&counts, 0, sizeof counts);
    if (!in || !out) return free(in), free(out), reef_fail(err, "out of memory");
    reef_pipeline_opts o = {.target = "qemu-m4", .name = "reef_step_cycles", .profile = prof, .profile_steps = 1};
    int rc = reef_pipeline_run_int8(m, in, 1, out, &o, &fig, &counts, err);
    if (!rc && counts.steps != m->nsteps)
        rc = reef_fail(err, "the profiling run counted %d steps, the model has %d", counts.steps, m->nsteps);
    if (!rc) rc = reef_step_cycles_from_counts(&counts, prof, cycles, err);
    reef_run_counts_free(&counts);
    free(in), free(out);
    return rc;
}

int reef_step_cycles_default(const reef_lowered_model *m, const reef_device_profile *prof, double **cycles,
                             reef_step_cycles_source *source, char *note, size_t note_size, reef_error *err)
{
    char path[4096], missing[256];
    int n = 0;
    *cycles = NULL;
    int cached = reef_step_cycles_cache_path(m, prof, path, sizeof path) == 0;
    if (cached && access(path, R_OK) == 0) {
        reef_error stale;
        if (reef_step_cycles_read(path, cycles, &n, &stale) == 0 && n == m->nsteps) {
            *source = REEF_STEP_CYCLES_CACHED;
            snprintf(note, note_size, "step cycles measured on qemu-m4 earlier (cache %s)", path);
            return 0;
        }
        free(*cycles);
        *cycles = NULL; /* unreadable or another model's: measure again */
    }
    if (!reef_step_cycles_can_measure(missing, sizeof missing)) {
        *source = REEF_STEP_CYCLES_ESTIMATED;
        snprintf(note, note_size,
                 "%s not found: step cycles ESTIMATED from the steps' shapes (calibrated to stay above the emulated "
                 "counts of the models checked, not a bound for every model; install it, or give --step-cycles F)",
                 missing);
        return 0;
    }
    if (measure(m, prof, cycles, err)) return reef_fail_wrap(err, "measuring step cycles on qemu-m4");
    *source = REEF_STEP_CYCLES_MEASURED;
    snprintf(note, note_size, "step cycles measured on qemu-m4 (one run, emulated counts x the cycle model)");
    if (cached) {
        reef_error ignored; /* a cache that cannot be written only costs the next run a measurement */
        char dir[3072];
        if (!reef_cache_dir(dir, sizeof dir) && !reef_make_dirs(dir, &ignored) &&
            reef_step_cycles_write(path, *cycles, m->nsteps,
                                   "reef step cycles: modeled cycles (docs/cycle-model.md) from the emulated\n"
                                   "per-class instruction counts of one qemu-m4 run on a fixed pseudo-random input",
                                   &ignored) == 0) {
            size_t used = strlen(note);
            snprintf(note + used, note_size - used, ", cached in %s", path);
        }
    }
    return 0;
}
