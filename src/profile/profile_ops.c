/* Emulated measurements of search-space networks: see profile_ops.h. */
#include "profile/profile_ops.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "codegen/lower.h"
#include "nn/model.h"
#include "quant/quant.h"
#include "firmware/cycles.h"
#include "firmware/firmware.h"
#include "firmware/pipeline.h"
#include "util/io.h"
#include "util/ranks.h"
#include "util/rng.h"

#define CALIB_IMAGES 4

/* ---- a random calibration set in memory ----------------------------------------- */

typedef struct random_set {
    reef_dataset ds;
    uint8_t *pixels;
    uint16_t labels[CALIB_IMAGES], groups[CALIB_IMAGES];
    const char *class_names[8], *group_names[1], *ids[CALIB_IMAGES];
} random_set;

static int random_set_make(random_set *r, int h, int w, int c, int classes, uint64_t seed, reef_error *err)
{
    memset(r, 0, sizeof *r);
    if (classes > 8) return reef_fail(err, "profiling supports up to 8 classes, not %d", classes);
    size_t n = (size_t)CALIB_IMAGES * h * w * c;
    r->pixels = malloc(n);
    if (!r->pixels) return reef_fail(err, "out of memory");
    reef_rng rng;
    reef_rng_seed(&rng, seed);
    for (size_t i = 0; i < n; i++) r->pixels[i] = (uint8_t)reef_rng_below(&rng, 256);
    static const char *names[8] = {"c0", "c1", "c2", "c3", "c4", "c5", "c6", "c7"};
    for (int i = 0; i < classes; i++) r->class_names[i] = names[i];
    r->group_names[0] = "all";
    for (int i = 0; i < CALIB_IMAGES; i++) r->labels[i] = (uint16_t)(i % classes), r->ids[i] = "random";
    r->ds = (reef_dataset){.count = CALIB_IMAGES, .height = (uint32_t)h, .width = (uint32_t)w,
                           .channels = (uint32_t)c, .num_classes = (uint32_t)classes, .num_groups = 1,
                           .pixels = r->pixels, .labels = r->labels, .groups = r->groups,
                           .class_names = r->class_names, .group_names = r->group_names, .ids = r->ids};
    return 0;
}

/* ---- steps -> spec blocks ----------------------------------------------------------- */

/* The spec block a step belongs to, from its output tensor's name. */
static int step_block(const reef_graph *g, const reef_lowered_step *st, int nblocks)
{
    const char *name = st->output_tensor >= 0 && st->output_tensor < g->ntensors ? g->tensors[st->output_tensor].name
                                                                                  : NULL;
    int b;
    if (name && sscanf(name, "b%d.", &b) == 1 && b >= 0 && b < nblocks) return b;
    return nblocks - 1;  // "logits" reshape and "probs" softmax: the classifier
}

/* Bytes of the union of [at, at + bytes) over the tensors live at step s
 * (aliased tensors, e.g. a reshape's, count once), plus the step's scratch. */
static int64_t live_bytes(const reef_lowered_model *m, const int *first, const int *last, int s)
{
    int64_t total = reef_lowered_step_io(&m->steps[s])->scratch_size;
    uint32_t lo[256], hi[256];
    int n = 0;
    for (int t = 0; t < m->ntensors && n < 256; t++)
        if (m->tensor_at[t] != REEF_LOWER_NO_OFFSET && first[t] <= s && s <= last[t] && m->tensor_bytes[t])
            lo[n] = m->tensor_at[t], hi[n] = m->tensor_at[t] + m->tensor_bytes[t], n++;
    for (int i = 1; i < n; i++)  // insertion sort by start
        for (int j = i; j > 0 && lo[j] < lo[j - 1]; j--) {
            uint32_t a = lo[j], b = hi[j];
            lo[j] = lo[j - 1], hi[j] = hi[j - 1], lo[j - 1] = a, hi[j - 1] = b;
        }
    uint32_t end = 0;
    for (int i = 0; i < n; i++) {
        uint32_t from = lo[i] > end ? lo[i] : end;
        if (hi[i] > from) total += hi[i] - from;
        if (hi[i] > end) end = hi[i];
    }
    return total;
}

/* Live ranges of the activation tensors over the steps. */
static int live_ranges(const reef_lowered_model *m, int **first, int **last, reef_error *err)
{
    *first = malloc((size_t)m->ntensors * sizeof **first);
    *last = malloc((size_t)m->ntensors * sizeof **last);
    if (!*first || !*last) return reef_fail(err, "out of memory");
    for (int t = 0; t < m->ntensors; t++) (*first)[t] = m->nsteps, (*last)[t] = -1;
    for (int s = 0; s < m->nsteps; s++) {
        const reef_lowered_step *st = &m->steps[s];
        if (st->output_tensor >= 0 && s < (*first)[st->output_tensor]) (*first)[st->output_tensor] = s;
        for (int k = 0; k < 2; k++) {
            int t = st->input_tensors[k];
            if (t >= 0 && s > (*last)[t]) (*last)[t] = s;
        }
    }
    if (m->input_tensor >= 0) (*first)[m->input_tensor] = 0;
    if (m->output_tensor >= 0) (*last)[m->output_tensor] = m->nsteps - 1;
    for (int t = 0; t < m->ntensors; t++)
        if ((*last)[t] < (*first)[t]) (*last)[t] = (*first)[t];  // written, never read
    return 0;
}

static void attribute_steps(const reef_graph *g, const reef_lowered_model *lm, const reef_run_counts *rc,
                            const reef_cycle_model *cm, const int *first, const int *last, reef_nas_measure *out)
{
    for (int s = 0; s < lm->nsteps; s++) {
        const reef_lowered_step *st = &lm->steps[s];
        int b = step_block(g, st, out->nblocks);
        reef_cycle_estimate e;
        reef_cycle_estimate_counts(cm, rc->per_step[s].c, &e);
        out->block_cycles[b] += e.cycles;
        out->block_insns[b] += (double)rc->per_step[s].c[REEF_INSN_TOTAL];
        out->step_cycles += e.cycles;
        /* as lower_model's weights_bytes: int32 bias, per channel an int32 multiplier and an int8 shift */
        out->block_weights[b] += (int64_t)st->filter_size + (int64_t)st->nbias * (st->bias64 ? 8 : 4) +
                                 5 * (int64_t)st->nchannels;
        out->block_macs[b] += st->macs;
        int64_t live = live_bytes(lm, first, last, s);
        if (live > out->block_live[b]) out->block_live[b] = live;
        if (live > out->arena_lower) out->arena_lower = live;
    }
}

/* Runs the steps on the host first: a step whose kernel rejects its
 * arguments is named here rather than as a bare failure on the target. */
static int host_check(const reef_graph *g, reef_lowered_model *lm, const int8_t *in, reef_error *err)
{
    memcpy(lm->arena + lm->input_at, in, (size_t)lm->input_size);
    for (int s = 0; s < lm->nsteps; s++)
        if (reef_lowered_run_steps(lm, lm->arena, s, 1)) {
            const reef_lowered_step *st = &lm->steps[s];
            return reef_fail(err, "step %d (%s writing %s) rejected its arguments on the host", s,
                             reef_step_kind_name(st->kind),
                             st->output_tensor >= 0 ? g->tensors[st->output_tensor].name : "?");
        }
    return 0;
}

static int run_lowered(const reef_graph *g, const reef_lowered_model *lm, const reef_device_profile *p,
                       const char *work_dir, uint64_t seed, reef_nas_measure *out, reef_error *err)
{
    int8_t *in = malloc((size_t)lm->input_size), *outp = malloc((size_t)lm->output_size);
    int *first = NULL, *last = NULL;
    reef_run_counts rc = {0};
    int ret = -1;
    if (!in || !outp) {
        reef_fail(err, "out of memory");
        goto done;
    }
    reef_rng rng;
    reef_rng_seed(&rng, seed);
    for (int i = 0; i < lm->input_size; i++) in[i] = (int8_t)((int)reef_rng_below(&rng, 256) - 128);
    if (host_check(g, (reef_lowered_model *)lm, in, err)) goto done;
    reef_pipeline_opts po = {.target = "qemu-m4", .work_dir = work_dir, .name = "nas_probe",
                             .source = "reef profile-ops", .profile = p, .profile_steps = 1,
                             /* a search mixes the ops of several probes: their flash must bound it */
                             .every_op_path = 1};
    reef_firmware_figures fig;
    if (reef_pipeline_run_int8(lm, in, 1, outp, &po, &fig, &rc, err)) goto done;
    if (rc.steps != lm->nsteps) {
        reef_fail(err, "the firmware ran %d profiled steps, the model has %d", rc.steps, lm->nsteps);
        goto done;
    }
    if (live_ranges(lm, &first, &last, err)) goto done;
    reef_cycle_model cm;
    reef_cycle_model_default(&cm, p->flash_wait_states);
    attribute_steps(g, lm, &rc, &cm, first, last, out);
    out->insns = fig.insn_mean, out->cycles = fig.cycles;
    out->latency_ms = fig.time_ms, out->energy_mj = fig.energy_mj;
    out->mem = fig.mem;
    ret = 0;
done:
    free(in), free(outp), free(first), free(last);
    reef_run_counts_free(&rc);
    return ret;
}

int reef_nas_measure_arch(const reef_arch *a, int in_h, int in_w, int in_c, int num_classes,
                          const reef_device_profile *p, const char *work_dir, uint64_t seed, reef_nas_measure *out,
                          reef_error *err)
{
    memset(out, 0, sizeof *out);
    double t0 = reef_now();
    reef_model m;
    random_set rs;
    reef_graph g = {0};
    reef_lowered_model lm = {0};
    if (reef_model_build(&m, a, in_h, in_w, in_c, num_classes, seed, err)) return -1;
    int rc = random_set_make(&rs, in_h, in_w, in_c, num_classes, seed + 1, err);
    if (!rc) {
        reef_quant_options qo;
        reef_quant_options_default(&qo);
        qo.samples = CALIB_IMAGES, qo.batch = CALIB_IMAGES, qo.agreement = 0, qo.name = "nas_probe";
        rc = reef_quantize(&m, &rs.ds, &qo, &g, NULL, err);
    }
    if (!rc) rc = reef_lower(&g, &lm, err);
    if (!rc) {
        out->nblocks = a->nblocks;
        out->arena = (int64_t)lm.arena_size, out->weights = (int64_t)lm.weights_bytes, out->macs = lm.macs;
        rc = run_lowered(&g, &lm, p, work_dir, seed + 2, out, err);
    }
    reef_lowered_free(&lm);
    reef_graph_free(&g);
    free(rs.pixels);
    reef_model_free(&m);
    out->seconds = reef_now() - t0;
    return rc;
}

/* ---- the table ------------------------------------------------------------------------ */

static reef_nas_cost cost_of(const reef_nas_measure *ms, int from, int to)
{
    reef_nas_cost c = {0};
    for (int b = from; b <= to; b++) {
        c.cycles += ms->block_cycles[b], c.insns += ms->block_insns[b];
        c.weights += ms->block_weights[b], c.macs += ms->block_macs[b];
        if (ms->block_live[b] > c.arena) c.arena = ms->block_live[b];
    }
    return c;
}

int reef_nas_table_put_measure(reef_nas_table *t, const reef_nas_space *s, const int *choice,
                               const reef_nas_measure *ms, reef_error *err)
{
    // Spec blocks: [pool] stem, an mbconv per non-zero block, head gap dropout fc.
    reef_nas_op fixed[4];
    int nf = reef_nas_fixed_ops(s, fixed), at = 0;
    if (s->downsample == 2) {
        reef_nas_cost c = cost_of(ms, at, at);
        if (reef_nas_table_put(t, &fixed[at], &c, err)) return -1;
        at++;
    }
    reef_nas_cost stem = cost_of(ms, at, at);
    if (reef_nas_table_put(t, &fixed[nf - 3], &stem, err)) return -1;
    at++;
    for (int b = 0; b < s->nblocks; b++) {
        if (choice[b] == REEF_NAS_ZERO) continue;
        reef_nas_op op;
        reef_nas_block_op(s, b, choice[b], &op);
        reef_nas_cost c = cost_of(ms, at, at);
        if (reef_nas_table_put(t, &op, &c, err)) return -1;
        at++;
    }
    reef_nas_cost hc = cost_of(ms, at, at), cls = cost_of(ms, at + 1, ms->nblocks - 1);
    if (reef_nas_table_put(t, &fixed[nf - 2], &hc, err) || reef_nas_table_put(t, &fixed[nf - 1], &cls, err)) return -1;
    // What no op accounts for: per-inference overhead, code and harness
    // flash, static RAM and stack. Kept at the largest seen (conservative).
    double overhead = ms->cycles - ms->step_cycles;
    int64_t flash_fixed = (int64_t)ms->mem.flash_total - ms->weights;
    int64_t ram_fixed = (int64_t)ms->mem.ram_total - ms->arena_lower;
    if (overhead > t->overhead_cycles) t->overhead_cycles = overhead;
    if (flash_fixed > t->flash_fixed) t->flash_fixed = flash_fixed;
    if (ram_fixed > t->ram_fixed) t->ram_fixed = ram_fixed;
    return 0;
}

/* Measures column network j of space s (candidate j in every block). */
static int measure_column(const reef_nas_space *s, int j, const reef_device_profile *p, const char *work_dir,
                          reef_nas_measure *ms, reef_error *err)
{
    int choice[REEF_NAS_MAX_BLOCKS];
    for (int b = 0; b < s->nblocks; b++) choice[b] = j;
    reef_arch a;
    reef_nas_space_arch(s, choice, "nas-probe", &a);
    if (reef_nas_measure_arch(&a, s->in_h, s->in_w, s->in_c, s->num_classes, p, work_dir, 1000 + (uint64_t)j, ms,
                              err)) {
        char space[32];
        reef_nas_space_text(s, space, sizeof space);
        return reef_fail_wrap(err, "profiling space %s, all blocks %s", space, reef_nas_cands[j].name);
    }
    return 0;
}

int reef_nas_profile_space(reef_nas_table *t, const reef_nas_space *s, const reef_device_profile *p,
                           const char *work_dir, void (*progress)(void *ctx, int done, int total), void *ctx,
                           reef_error *err)
{
    for (int j = 0; j < REEF_NAS_ZERO; j++) {
        int choice[REEF_NAS_MAX_BLOCKS];
        for (int b = 0; b < s->nblocks; b++) choice[b] = j;
        reef_nas_measure ms;
        if (measure_column(s, j, p, work_dir, &ms, err) || reef_nas_table_put_measure(t, s, choice, &ms, err))
            return -1;
        if (progress) progress(ctx, j + 1, REEF_NAS_ZERO);
    }
    snprintf(t->source, sizeof t->source, "emulated");
    return 0;
}

/* The grid's network n: space (width n / (NDOWNS * ZERO), downsampling next)
 * and candidate n % ZERO in every block. */
static int grid_network(int n, int h, int w, int c, int classes, reef_nas_space *s, int *choice, reef_error *err)
{
    const int j = n % REEF_NAS_ZERO, space = n / REEF_NAS_ZERO;
    if (reef_nas_space_init(s, h, w, c, classes, reef_nas_widths[space / REEF_NAS_NDOWNS],
                            reef_nas_downs[space % REEF_NAS_NDOWNS], err))
        return -1;
    for (int b = 0; b < s->nblocks; b++) choice[b] = j;
    return 0;
}

int reef_nas_profile_grid(reef_nas_table *t, int h, int w, int c, int classes, const reef_device_profile *p,
                          const char *work_dir, void (*progress)(void *ctx, int done, int total), void *ctx,
                          reef_error *err)
{
    const int total = REEF_NAS_NWIDTHS * REEF_NAS_NDOWNS * REEF_NAS_ZERO;
    const int rank = reef_ranks_rank(), ranks = reef_ranks_size();
    uint64_t lo, hi;
    reef_ranks_slice((uint64_t)total, rank, ranks, &lo, &hi);
    reef_nas_measure *all = calloc((size_t)total, sizeof *all);
    int failed = !all;
    if (failed) reef_fail(err, "out of memory");
    /* ranks share one --work folder: each builds in its own subfolder (the
     * firmware pipeline creates it) */
    char dir[4096];
    if (work_dir && ranks > 1) snprintf(dir, sizeof dir, "%s/rank%d", work_dir, rank);
    for (int n = (int)lo; n < (int)hi && !failed; n++) {
        reef_nas_space s;
        int choice[REEF_NAS_MAX_BLOCKS];
        failed = grid_network(n, h, w, c, classes, &s, choice, err) ||
                 measure_column(&s, n % REEF_NAS_ZERO, p, work_dir && ranks > 1 ? dir : work_dir, &all[n], err);
        if (progress) progress(ctx, n + 1 - (int)lo, (int)(hi - lo));
    }
    if (reef_ranks_agree(failed, err->msg, sizeof err->msg)) {
        free(all);
        return -1;
    }
    /* every rank gets every measurement, then fills the table in grid order:
     * the same table as one process */
    size_t *count = calloc((size_t)ranks, sizeof *count), *displ = calloc((size_t)ranks, sizeof *displ);
    for (int r = 0; r < ranks && count && displ; r++) {
        uint64_t rlo, rhi;
        reef_ranks_slice((uint64_t)total, r, ranks, &rlo, &rhi);
        displ[r] = rlo * sizeof *all, count[r] = (rhi - rlo) * sizeof *all;
    }
    int rc = !count || !displ ? -1 : ranks > 1 ? reef_ranks_allgather_bytes(all, count, displ) : 0;
    free(count);
    free(displ);
    if (rc) reef_fail(err, "exchanging the measurements between ranks failed");
    for (int n = 0; n < total && !rc; n++) {
        reef_nas_space s;
        int choice[REEF_NAS_MAX_BLOCKS];
        rc = grid_network(n, h, w, c, classes, &s, choice, err) || reef_nas_table_put_measure(t, &s, choice, &all[n], err);
    }
    free(all);
    if (!rc) snprintf(t->source, sizeof t->source, "emulated");
    return rc ? -1 : 0;
}

/* ---- provenance ------------------------------------------------------------------------- */

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* crc32 over the files of dir (sorted by name), into crc. */
static uLong crc_dir(uLong crc, const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return crc;
    char *names[512];
    int n = 0;
    for (struct dirent *e; (e = readdir(d)) && n < 512;)
        if (e->d_name[0] != '.') names[n++] = strdup(e->d_name);
    closedir(d);
    qsort(names, (size_t)n, sizeof *names, cmp_str);
    for (int i = 0; i < n; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        uint8_t *data;
        size_t size;
        reef_error err;
        if (names[i] && !reef_read_file(path, &data, &size, &err)) {
            crc = crc32(crc, (const Bytef *)names[i], (uInt)strlen(names[i]));
            crc = crc32(crc, data, (uInt)size);
            free(data);
        }
        free(names[i]);
    }
    return crc;
}

static uint32_t runtime_crc(void)
{
    char path[4096];
    uLong crc = crc32(0L, Z_NULL, 0);
    snprintf(path, sizeof path, "%s/runtime/src", reef_source_dir());
    crc = crc_dir(crc, path);
    snprintf(path, sizeof path, "%s/runtime/include/reef", reef_source_dir());
    return (uint32_t)crc_dir(crc, path);
}

static void toolchain_version(char *buf, int size)
{
    snprintf(buf, (size_t)size, "unknown");
    FILE *fp = popen("arm-none-eabi-gcc -dumpversion 2>/dev/null", "r");
    if (!fp) return;
    char line[64];
    if (fgets(line, sizeof line, fp)) {
        line[strcspn(line, "\r\n ")] = '\0';
        if (line[0]) snprintf(buf, (size_t)size, "arm-none-eabi-gcc-%.24s", line);
    }
    pclose(fp);
}

void reef_nas_table_stamp(reef_nas_table *t, const reef_device_profile *p)
{
    t->runtime_crc = runtime_crc();
    toolchain_version(t->toolchain, sizeof t->toolchain);
    t->flash_wait_states = p->flash_wait_states;
}

int reef_nas_table_current(const reef_nas_table *t, const reef_device_profile *p, char *why, int size)
{
    reef_nas_table now;
    memset(&now, 0, sizeof now);
    reef_nas_table_stamp(&now, p);
    if (strcmp(t->source, "emulated"))
        return snprintf(why, (size_t)size, "the table is %s, not emulated", t->source), 0;
    if (now.runtime_crc != t->runtime_crc)
        return snprintf(why, (size_t)size, "the runtime changed (crc %08x, table %08x)", now.runtime_crc,
                        t->runtime_crc),
               0;
    if (strcmp(now.toolchain, t->toolchain))
        return snprintf(why, (size_t)size, "the toolchain is %.40s, table %.40s", now.toolchain, t->toolchain), 0;
    if (now.flash_wait_states != t->flash_wait_states)
        return snprintf(why, (size_t)size, "%d flash wait states, table %d", now.flash_wait_states,
                        t->flash_wait_states),
               0;
    return 1;
}
