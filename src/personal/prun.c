/* reef personalize: one whole run. The update runs on the host in-process
 * (the device's C); with target qemu-m4 it also runs on the emulated
 * Cortex-M4 from generated C, whose trained weights must equal the host's
 * bit for bit, and whose instruction counts give the cost. Accuracy is
 * measured with those (identical) weights through the same C on the host. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "energy/profile.h"
#include "personal/emit.h"
#include "personal/run.h"
#include "personal/serial.h"
#include "firmware/cycles.h"
#include "firmware/elf.h"
#include "firmware/firmware.h"
#include "firmware/memory.h"
#include "util/io.h"
#include "util/json.h"

static int check_inputs(const reef_lowered_model *m, const reef_ptail *t, const reef_pplan *plan,
                        const reef_dataset *site, const reef_prun_options *o, reef_error *err)
{
    const char *path = o->site_path ? o->site_path : "the site";
    int32_t h = m->input_rank == 4 ? m->input_shape[1] : -1, w = m->input_rank == 4 ? m->input_shape[2] : -1;
    int32_t c = m->input_rank == 4 ? m->input_shape[3] : -1;
    if ((int32_t)site->height != h || (int32_t)site->width != w || (int32_t)site->channels != c)
        return reef_fail(err, "%s: frames are %ux%ux%u (HxWxC), the model %s takes %dx%dx%d", path, site->height,
                         site->width, site->channels, o->model_path, h, w, c);
    if (o->hold_back < 0 || o->hold_back >= o->labelled)
        return reef_fail(err, "--hold-back %d: must be at least 0 and below --labelled %d (some frames must train)",
                         o->hold_back, o->labelled);
    if (o->guard_margin < 0 || o->guard_margin > 255)
        return reef_fail(err, "--guard-margin %d: must be 0 to 255", o->guard_margin);
    if ((int32_t)site->num_classes != t->tail.nclasses)
        return reef_fail(err, "%s: %u classes, the model %s has %d", path, site->num_classes, o->model_path,
                         t->tail.nclasses);
    if ((uint32_t)o->labelled >= site->count)
        return reef_fail(err, "%s: --labelled %d but the site has only %u frames (some must be left to measure on)",
                         path, o->labelled, site->count);
    if (o->labelled > plan->site_cap)
        return reef_fail(err, "--labelled %d is more than the plan's site buffer holds (site_cap %d)", o->labelled,
                         plan->site_cap);
    if (plan->hp.batch_replay > 0 && !o->source)
        return reef_fail(err, "the plan mixes %d replay samples into every step: give --source (the training data)",
                         plan->hp.batch_replay);
    if (o->test && (o->test->height != site->height || o->test->width != site->width ||
                    o->test->channels != site->channels || o->test->num_classes != site->num_classes))
        return reef_fail(err, "--test: its frames or classes differ from the site's");
    return 0;
}

static int make_dir(const char *dir, reef_error *err)
{
    struct stat st;
    if (stat(dir, &st) == 0) return S_ISDIR(st.st_mode) ? 0 : reef_fail(err, "%s is not a folder", dir);
    if (mkdir(dir, 0777)) return reef_fail(err, "cannot create %s: %s", dir, strerror(errno));
    return 0;
}

/* Flash of the update beyond inference: deployed tail weights and replay. */
static void fill_memory(reef_prun_report *r, const char *elf, uint32_t stack, const reef_ptail *t,
                        const reef_pplan *plan, const reef_lowered_model *m, reef_error *err)
{
    reef_memory_report mr;
    if (reef_memory_report_elf(elf, stack, &mr, err)) return;
    r->flash_total = mr.flash_total;
    r->flash_scratch = mr.flash_scratch;
    r->flash_code = mr.flash_code;
    r->flash_params0 = t->tail.param_count * 4;
    r->flash_replay = r->replay_count * (uint32_t)(t->tail.in_count + 1);
    if (plan->hp.distill > 0.0f) /* session 16: and their teacher logits */
        r->flash_replay += r->replay_count * (uint32_t)t->tail.nclasses * 4u;
    r->flash_weights_model = mr.flash_weights - r->flash_params0 - r->flash_replay;
    r->ram_total = mr.ram_total;
    r->ram_stack = mr.ram_stack;
    (void)m;
}

static void add_costs(reef_prun_report *r, const reef_run_counts *c, const uint8_t *records, size_t rs,
                      const reef_device_profile *prof)
{
    reef_cycle_model cm;
    reef_cycle_model_default(&cm, prof->flash_wait_states);
    r->clock_mhz = prof->clock_mhz;
    int refit = 0;
    for (int k = 0; k < r->nrecords; k++) {
        reef_cycle_estimate e;
        reef_cycle_estimate_counts(&cm, c->per_inference[k].c, &e);
        reef_prun_record_cost *rc = &r->records[k];
        rc->command = records[(size_t)k * rs];
        rc->insns = c->per_inference[k].c[REEF_INSN_TOTAL];
        rc->cycles = e.cycles;
        if (rc->command == REEF_PERSONAL_SEE) { /* the camera's step on every frame: inference's, not the update's */
            r->see_insns += rc->insns;
            continue;
        }
        r->total_insns += rc->insns;
        r->total_cycles += rc->cycles;
        if (rc->command == REEF_PERSONAL_ADD || rc->command == REEF_PERSONAL_HOLD)
            r->intake_insns += rc->insns, r->intake_cycles += rc->cycles;
        if (rc->command == REEF_PERSONAL_GUARD) r->guard_insns += rc->insns;
        refit |= rc->command == REEF_PERSONAL_REFIT;
        if (refit) r->refit_insns += rc->insns;
        if (rc->command == REEF_PERSONAL_STEP) {
            r->update_insns += rc->insns, r->update_cycles += rc->cycles;
            if (rc->insns > r->step_insns_max) r->step_insns_max = rc->insns;
            double s = rc->cycles / (prof->clock_mhz * 1e6);
            if (s > r->step_time_s_max) r->step_time_s_max = s;
        }
    }
    reef_energy_estimate e;
    reef_energy_estimate_cycles(prof, r->total_cycles, &e);
    r->total_time_s = e.time_s;
    r->total_energy_j = e.energy_uj * 1e-6;
    r->power_mw = e.power_mw;
    r->energy_j_datasheet = e.time_s * e.power_datasheet_mw * 1e-3;
}

static int run_qemu(const reef_lowered_model *m, const reef_ptail *t, const reef_pplan *plan, const int8_t *replay,
                    const uint8_t *replay_labels, const uint8_t *records, int count, const float *host_params,
                    const reef_input_map *stream_map, const reef_prun_options *o, reef_prun_report *r,
                    reef_error *err)
{
    char dir[4096], header[4200], src1[4200], src2[4200], elf[4200];
    if (o->work) {
        snprintf(dir, sizeof dir, "%s", o->work);
        if (make_dir(dir, err)) return -1;
    } else {
        snprintf(dir, sizeof dir, "/tmp/reef-personal-XXXXXX");
        if (!mkdtemp(dir)) return reef_fail(err, "cannot make a scratch folder: %s", strerror(errno));
    }
    snprintf(header, sizeof header, "%s/fish_personal.h", dir);
    snprintf(src1, sizeof src1, "%s/fish.c", dir);
    snprintf(src2, sizeof src2, "%s/fish_personal.c", dir);
    snprintf(elf, sizeof elf, "%s/personal.elf", dir);
    if (reef_pemit(dir, "fish", o->model_path, m, t, plan, replay, replay_labels, stream_map, err)) return -1;
    const char *sources[2] = {src1, src2};
    reef_fw_spec spec = {.board = "qemu-m4", .model_header = header, .model_sources = sources,
                         .model_source_count = 2, .output = elf};
    if (reef_m4_build(&spec, err)) return -1;
    size_t rs = stream_map ? reef_precord_size_stream(m) : reef_precord_size(m), os = reef_pout_size(t);
    int8_t *outs = malloc((size_t)count * os);
    if (!outs) return reef_fail(err, "out of memory");
    reef_run_counts c;
    memset(&c, 0, sizeof c);
    int rc = reef_m4_run(elf, (const int8_t *)records, count, rs, outs, os, &c, 900.0, err);
    if (!rc) {
        r->emulated = 1;
        float *got = malloc((size_t)t->tail.train_count * sizeof(float) + 4);
        r->bit_identical = got && !reef_pcollect_params(outs, records, count, rs, t->tail.train_count, got) &&
                           !memcmp(got, host_params, (size_t)t->tail.train_count * 4);
        free(got);
        if (getenv("REEF_PERSONAL_DUMP")) {
            FILE *fp = fopen(getenv("REEF_PERSONAL_DUMP"), "wb");
            if (fp) fwrite(outs, os, (size_t)count, fp), fclose(fp);
        }
        r->nrecords = count;
        r->records = calloc((size_t)count, sizeof *r->records);
        reef_device_profile prof;
        if (!r->records) rc = reef_fail(err, "out of memory");
        else if (!(rc = reef_profile_load(o->profile ? o->profile : "stm32l4r5", &prof, err))) {
            add_costs(r, &c, records, rs, &prof);
            /* the averaging's flash work is not in the emulated counts (the board's flash is RAM to qemu) */
            reef_pplan_avg_flash_cost(plan, t->tail.train_count, &prof, &r->avg_flash_s, &r->avg_flash_j);
            r->total_time_s += r->avg_flash_s, r->total_energy_j += r->avg_flash_j;
            fill_memory(r, elf, c.stack_high_water, t, plan, m, err);
        }
    }
    reef_run_counts_free(&c);
    free(outs);
    if (!o->work) { /* our own scratch folder: every qemu-m4 run left one in /tmp before session 14 */
        const char *made[] = {header, src1, src2, elf};
        char other[4200];
        for (int i = 0; i < 4; i++) remove(made[i]);
        snprintf(other, sizeof other, "%s/fish.h", dir), remove(other);
        snprintf(other, sizeof other, "%s/build.log", dir), remove(other);
        rmdir(dir);
    }
    return rc;
}

/* The NUCLEO-L4R5ZI: the same generated C, inputs on LPUART1. Without a
 * port only the firmware is built (flash it, then run again with --port). */
static int run_board(const reef_lowered_model *m, const reef_ptail *t, const reef_pplan *plan, const int8_t *replay,
                     const uint8_t *replay_labels, const uint8_t *records, int count, const float *host_params,
                     const reef_input_map *stream_map, const reef_prun_options *o, reef_prun_report *r,
                     reef_error *err)
{
    char dir[4096], header[4200], src1[4200], src2[4200];
    snprintf(dir, sizeof dir, "%s", o->work ? o->work : "personal-stm32l4r5");
    if (make_dir(dir, err)) return -1;
    snprintf(header, sizeof header, "%s/fish_personal.h", dir);
    snprintf(src1, sizeof src1, "%s/fish.c", dir);
    snprintf(src2, sizeof src2, "%s/fish_personal.c", dir);
    snprintf(r->board_elf, sizeof r->board_elf, "%s/personal-stm32l4r5.elf", dir);
    if (reef_pemit(dir, "fish", o->model_path, m, t, plan, replay, replay_labels, stream_map, err)) return -1;
    const char *sources[2] = {src1, src2};
    reef_fw_spec spec = {.board = "stm32l4r5", .model_header = header, .model_sources = sources,
                         .model_source_count = 2, .board_inputs = REEF_FW_INPUTS_UART, .output = r->board_elf};
    if (reef_m4_build(&spec, err)) return -1;
    r->board_built = 1;
    if (!o->port) return 0;
    size_t rs = stream_map ? reef_precord_size_stream(m) : reef_precord_size(m), os = reef_pout_size(t);
    int8_t *outs = calloc((size_t)count, os);
    uint32_t *cycles = calloc((size_t)count, sizeof *cycles);
    float *got = malloc((size_t)t->tail.train_count * sizeof(float) + 4);
    int rc = !outs || !cycles || !got ? reef_fail(err, "out of memory") : 0;
    if (!rc) rc = reef_serial_run(o->port, records, count, rs, outs, os, cycles, 600.0, err);
    if (!rc) {
        r->board_ran = 1;
        r->bit_identical = !reef_pcollect_params(outs, records, count, rs, t->tail.train_count, got) &&
                           !memcmp(got, host_params, (size_t)t->tail.train_count * 4);
        for (int k = 0; k < count; k++) r->board_cycles_total += cycles[k];
        if (!r->bit_identical) rc = reef_fail(err, "the weights trained on the board differ from the host's");
    }
    free(outs), free(cycles), free(got);
    return rc;
}

static int build_replay(const reef_graph *g, const reef_lowered_model *m, const reef_ptail *t,
                        const reef_pplan *plan, const reef_prun_options *o, int8_t **replay, uint8_t **labels,
                        reef_error *err)
{
    *replay = NULL;
    *labels = NULL;
    if (!o->source || plan->replay_count <= 0) return 0;
    *replay = malloc((size_t)plan->replay_count * (size_t)t->tail.in_count);
    *labels = malloc((size_t)plan->replay_count);
    if (!*replay || !*labels) return reef_fail(err, "out of memory");
    return reef_replay_build(g, m, t, o->source, plan->replay_count, plan->hp.seed, plan->replay_groups, *replay, *labels, err);
}

static int save_params(const char *path, const float *params, uint32_t n, reef_error *err)
{
    return reef_write_file(path, params, (size_t)n * sizeof(float), err);
}

/* --stream: the records of a temporal session (the camera's frames);
 * order gets the labelled frames in the order the records send them. */
static int stream_records(const reef_lowered_model *m, const reef_dataset *site, const uint8_t *is_labelled,
                          int nsteps, int refit_steps, const reef_ptail *t, const reef_prun_options *o,
                          uint32_t *order, uint8_t **records, int *count, reef_prun_report *r, reef_error *err)
{
    *records = reef_precords_stream(m, site, o->stream, is_labelled, o->hold_back, o->guard_margin, nsteps, refit_steps,
                                    t->tail.train_count, count, order, &r->stream_frames, err);
    return *records ? 0 : -1;
}

/* Session 16: the plan's SNAP and AVERAGE records among the STEPs. */
static uint8_t *put_averaging(uint8_t *records, int *count, size_t rs, const reef_pplan *plan, const reef_prun_options *o)
{
    int b = plan->hp.batch_site, refit_frames = o->labelled < plan->site_cap ? o->labelled : plan->site_cap;
    if (!plan->average && !plan->average_refit) return records;
    return reef_precords_average(records, count, rs, plan->average, (o->labelled - o->hold_back + b - 1) / b,
                                 plan->average_refit, (refit_frames + b - 1) / b);
}

/* --stream: the same update from the site's prepped inputs of the same
 * labelled frames in the same order (stream_records' order), on a session
 * without the temporal step; stream_same_as_prep says whether the weights
 * are the same bits. */
static int compare_with_prep(const reef_lowered_model *m, const reef_input_map *map, const reef_ptail *t,
                             const reef_pplan *plan, const reef_dataset *site, const uint8_t *is_labelled,
                             const uint32_t *order, const int8_t *replay, const uint8_t *replay_labels, int nsteps,
                             int refit_steps, const reef_prun_options *o, const float *params, reef_prun_report *r,
                             reef_error *err)
{
    float *got = malloc((size_t)t->tail.train_count * sizeof(float) + 4);
    uint8_t *prec = NULL;
    int pcount = 0, rc = got ? 0 : reef_fail(err, "out of memory");
    reef_psession s;
    memset(&s, 0, sizeof s);
    if (!rc && !(prec = reef_precords(m, map, site, is_labelled, order, o->hold_back, o->guard_margin, nsteps,
                                      refit_steps, t->tail.train_count, NULL, &pcount)))
        rc = reef_fail(err, "out of memory");
    if (!rc && !(prec = put_averaging(prec, &pcount, reef_precord_size(m), plan, o)))
        rc = reef_fail(err, "out of memory");
    if (!rc) rc = reef_psession_init(&s, m, t, plan, replay, replay_labels, err);
    if (!rc) rc = reef_prun_host(&s, prec, pcount, reef_precord_size(m), got, NULL, NULL, err);
    if (!rc) r->stream_same_as_prep = !memcmp(got, params, (size_t)t->tail.train_count * 4);
    reef_psession_free(&s);
    free(got), free(prec);
    return rc;
}

int reef_prun(const reef_graph *g, const reef_lowered_model *m, const reef_pplan *plan,
              const reef_dataset *site, const reef_prun_options *o, reef_prun_report *r, reef_error *err)
{
    memset(r, 0, sizeof *r);
    reef_ptail t;
    if (reef_ptail_build_scheme(g, m, plan->scheme, plan->boundary_step, plan->train, plan->ntrain, &t, err)) return -1;
    reef_input_map map;
    int8_t *replay = NULL;
    uint8_t *replay_labels = NULL, *is_labelled = NULL, *records = NULL;
    uint32_t *order = NULL; /* --stream: the labelled frames in the records' order */
    float *params = NULL, *losses = NULL;
    reef_psession s;
    memset(&s, 0, sizeof s);
    int count = 0, nsteps = reef_psteps_total(plan, o->labelled - o->hold_back);
    /* the refit: refit_epochs whole epochs over every labelled frame */
    int refit_frames = o->labelled + (o->pseudo_split && o->pseudo > 0 ? o->pseudo : 0);
    if (refit_frames > plan->site_cap) refit_frames = plan->site_cap;
    int refit_steps = o->hold_back > 0 && o->refit_epochs > 0
                          ? (refit_frames + plan->hp.batch_site - 1) / plan->hp.batch_site * o->refit_epochs : 0;
    uint8_t *pool = NULL, *skip = NULL; /* pseudo_split: the adaptation pool, the frames not measured on */
    reef_ppseudo pseudo = {0};
    int8_t guard[5] = {1, 0, 0, 0, 0};
    int rc = check_inputs(m, &t, plan, site, o, err);
    if (!rc) rc = reef_input_map_from_graph(g, &map, err);
    if (!rc) rc = build_replay(g, m, &t, plan, o, &replay, &replay_labels, err);
    if (!rc && !(is_labelled = malloc(site->count))) rc = reef_fail(err, "out of memory");
    if (!rc) rc = reef_pdraw(site, o->labelled, o->draw_seed, o->labelled_balance, is_labelled, err);
    if (!rc && o->pseudo_split && o->stream)
        rc = reef_fail(err, "--pseudo: not with --stream yet (the pool's clips would need their own frames sent)");
    if (!rc && o->pseudo_split && (!(pool = calloc(site->count, 1)) || !(skip = calloc(site->count, 1))))
        rc = reef_fail(err, "out of memory");
    if (!rc && o->pseudo_split) rc = reef_ppseudo_pool(site, is_labelled, pool, skip, err);
    pseudo.pool = pool, pseudo.frames = o->pseudo, pseudo.class_cap = o->pseudo_cap, pseudo.conf = o->pseudo_conf;
    pseudo.after_steps = o->pseudo_after >= 0 ? o->pseudo_after * ((o->labelled - o->hold_back + plan->hp.batch_site - 1) / plan->hp.batch_site) : -1;
    if (!rc && o->stream && !(order = malloc(((size_t)o->labelled + 1) * sizeof *order))) rc = reef_fail(err, "out of memory");
    if (!rc && o->stream) rc = stream_records(m, site, is_labelled, nsteps, refit_steps, &t, o, order, &records, &count, r, err);
    else if (!rc && !(records = reef_precords(m, &map, site, is_labelled, NULL, o->hold_back, o->guard_margin, nsteps, refit_steps, t.tail.train_count, o->pseudo_split && o->pseudo > 0 ? &pseudo : NULL, &count))) rc = reef_fail(err, "out of memory");
    if (!rc && (plan->average || plan->average_refit) && o->pseudo_split)
        rc = reef_fail(err, "weight averaging (average, average_refit) is not built for --pseudo");
    if (!rc && records && !(records = put_averaging(records, &count, o->stream ? reef_precord_size_stream(m) : reef_precord_size(m), plan, o)))
        rc = reef_fail(err, "out of memory");
    params = malloc((size_t)t.tail.train_count * sizeof(float) + 4);
    losses = malloc((size_t)(nsteps + refit_steps + 1) * sizeof(float));
    if (!rc && (!params || !losses)) rc = reef_fail(err, "out of memory");
    if (!rc) rc = reef_psession_init(&s, m, &t, plan, replay, replay_labels, err);
    if (!rc && o->stream) rc = reef_psession_temporal(&s, m, &map, err);
    if (!rc) rc = reef_prun_host(&s, records, count, o->stream ? reef_precord_size_stream(m) : reef_precord_size(m), params, losses, guard, err);
    if (!rc && o->stream) rc = compare_with_prep(m, &map, &t, plan, site, is_labelled, order, replay, replay_labels, nsteps, refit_steps, o, params, r, err);
    if (!rc) {
        r->labelled = o->labelled;
        r->labelled_balance = o->labelled_balance;
        r->hold_back = o->hold_back;
        r->guard_kept = guard[0];
        r->held_correct_after = guard[1];
        r->held_correct_before = guard[2];
        r->guard_replay = plan->hp.guard_replay;
        r->replay_correct_after = guard[3];
        r->replay_correct_before = guard[4];
        r->refit_epochs = refit_steps ? o->refit_epochs : 0;
        r->pseudo_split = o->pseudo_split;
        r->pseudo_frames = o->pseudo_split && o->hold_back > 0 ? o->pseudo : 0;
        r->refit_steps = refit_steps;
        r->steps = nsteps;
        r->boundary_step = t.boundary_step;
        r->tail_layers = t.tail.nlayers;
        r->param_count = t.scheme == REEF_SCHEME_INT8 ? t.qparam_count : t.tail.param_count;
        r->trainable = reef_ptail_trainable(&t);
        r->replay_count = replay ? (uint32_t)plan->replay_count : 0;
        r->first_loss = nsteps ? losses[0] : 0.0f;
        r->last_loss = nsteps ? losses[nsteps - 1] : 0.0f;
        if (refit_steps && guard[0]) r->last_loss = losses[nsteps + refit_steps - 1];
        reef_pplan cost = *plan;
        reef_pplan_cost(&cost, m, &t, NULL); /* RAM only */
        r->planned_ram = cost.ram_update;
    }
    if (!rc && !strcmp(o->target, "qemu-m4"))
        rc = run_qemu(m, &t, plan, replay, replay_labels, records, count, params, o->stream ? &map : NULL, o, r, err);
    if (!rc && !strcmp(o->target, "stm32l4r5"))
        rc = run_board(m, &t, plan, replay, replay_labels, records, count, params, o->stream ? &map : NULL, o, r, err);
    if (!rc && r->emulated && !r->bit_identical)
        rc = reef_fail(err, "the weights trained on qemu-m4 differ from the host's: the update is not bit-identical");
    /* a refused update leaves the device on its deployed int8 model (EVAL) */
    int refused = !rc && o->hold_back > 0 && !r->guard_kept;
    if (!rc) rc = reef_peval(m, &t, &map, site, skip ? skip : is_labelled, params, refused, &r->site, err);
    if (!rc && o->test) rc = reef_peval(m, &t, &map, o->test, NULL, params, refused, &r->test, err);
    if (!rc && o->params_out) rc = save_params(o->params_out, params, t.tail.train_count, err);
    reef_psession_free(&s);
    free(replay), free(replay_labels), free(is_labelled), free(records), free(order), free(params), free(losses);
    free(pool), free(skip);
    reef_ptail_free(&t);
    return rc;
}

void reef_prun_report_free(reef_prun_report *r)
{
    free(r->records);
    memset(r, 0, sizeof *r);
}

static double pct(int correct, int count) { return count ? 100.0 * correct / count : 0.0; }

static void json_eval(reef_json *j, const char *key, const reef_peval_result *e)
{
    reef_json_key(j, key);
    reef_json_object(j);
    reef_json_kv_int(j, "count", e->count);
    reef_json_kv_number(j, "int8_deployed", pct(e->int8_correct, e->count));
    reef_json_kv_number(j, "before_tail", pct(e->before_correct, e->count));
    reef_json_kv_number(j, "after", pct(e->after_correct, e->count));
    int nclasses = reef_peval_nclasses(e);
    for (int pass = 0; pass < 2; pass++) {
        const int *correct = pass ? e->after_class_correct : e->int8_class_correct;
        reef_json_key(j, pass ? "recall_after" : "recall_int8_deployed");
        reef_json_array(j);
        for (int c = 0; c < nclasses; c++) reef_json_number(j, pct(correct[c], e->class_count[c]));
        reef_json_end(j);
    }
    reef_json_end(j);
}

void reef_prun_report_json(const reef_prun_report *r, FILE *fp)
{
    reef_json j;
    reef_json_begin(&j, fp);
    reef_json_object(&j);
    reef_json_kv_int(&j, "labelled", r->labelled);
    reef_json_kv_bool(&j, "labelled_balance", r->labelled_balance);
    reef_json_kv_int(&j, "update_steps", r->steps);
    reef_json_kv_int(&j, "hold_back", r->hold_back);
    if (r->hold_back) {
        reef_json_kv_bool(&j, "guard_kept_update", r->guard_kept);
        reef_json_kv_int(&j, "held_back_correct_after", r->held_correct_after);
        reef_json_kv_int(&j, "held_back_correct_before", r->held_correct_before);
        if (r->guard_replay) {
            reef_json_kv_int(&j, "guard_replay", r->guard_replay);
            reef_json_kv_int(&j, "guard_replay_correct_after", r->replay_correct_after);
            reef_json_kv_int(&j, "guard_replay_correct_before", r->replay_correct_before);
        }
        reef_json_kv_int(&j, "refit_epochs", r->refit_epochs);
        reef_json_kv_int(&j, "refit_steps", r->refit_steps);
    }
    if (r->pseudo_split) { /* the site figures are then on the clips' second halves only */
        reef_json_kv_bool(&j, "site_measured_on_second_halves", 1);
        reef_json_kv_int(&j, "pseudo_frames", r->pseudo_frames);
    }
    reef_json_kv_int(&j, "boundary_step", r->boundary_step);
    reef_json_kv_int(&j, "tail_layers", r->tail_layers);
    reef_json_kv_int(&j, "tail_params", r->param_count);
    reef_json_kv_int(&j, "trainable_params", r->trainable);
    reef_json_kv_int(&j, "replay_samples", r->replay_count);
    reef_json_kv_number(&j, "first_step_loss", r->first_loss);
    reef_json_kv_number(&j, "last_step_loss", r->last_loss);
    json_eval(&j, "site_accuracy_pct", &r->site);
    if (r->test.count) json_eval(&j, "test_accuracy_pct", &r->test);
    reef_json_kv_int(&j, "planned_update_ram_bytes", r->planned_ram);
    if (r->stream_frames) {
        reef_json_kv_int(&j, "stream_frames", r->stream_frames);
        reef_json_kv_bool(&j, "stream_same_as_prep", r->stream_same_as_prep);
    }
    if (r->emulated) {
        reef_json_kv_bool(&j, "bit_identical_to_host", r->bit_identical);
        reef_json_key(&j, "emulated_instructions");
        reef_json_object(&j);
        reef_json_kv_int(&j, "intake", (int64_t)r->intake_insns);
        reef_json_kv_int(&j, "update_steps", (int64_t)r->update_insns);
        reef_json_kv_int(&j, "step_max", (int64_t)r->step_insns_max);
        reef_json_kv_int(&j, "guard", (int64_t)r->guard_insns);
        reef_json_kv_int(&j, "refit", (int64_t)r->refit_insns);
        reef_json_kv_int(&j, "total", (int64_t)r->total_insns);
        if (r->stream_frames) reef_json_kv_int(&j, "see_frames", (int64_t)r->see_insns);
        reef_json_key(&j, "per_step");
        reef_json_array(&j);
        for (int k = 0; k < r->nrecords; k++)
            if (r->records[k].command == REEF_PERSONAL_STEP) reef_json_int(&j, (int64_t)r->records[k].insns);
        reef_json_end(&j);
        reef_json_end(&j);
        reef_json_key(&j, "modeled");
        reef_json_object(&j);
        reef_json_kv_number(&j, "clock_mhz", r->clock_mhz);
        reef_json_kv_number(&j, "cycles_total", r->total_cycles);
        reef_json_kv_number(&j, "time_s_total", r->total_time_s);
        reef_json_kv_number(&j, "time_s_intake", r->intake_cycles / (r->clock_mhz * 1e6));
        reef_json_kv_number(&j, "time_s_update_steps", r->update_cycles / (r->clock_mhz * 1e6));
        reef_json_kv_number(&j, "time_s_step_max", r->step_time_s_max);
        reef_json_kv_number(&j, "energy_j_total", r->total_energy_j);
        reef_json_kv_number(&j, "average_flash_s", r->avg_flash_s);
        reef_json_kv_number(&j, "average_flash_j", r->avg_flash_j);
        reef_json_kv_int(&j, "flash_scratch", r->flash_scratch);
        reef_json_kv_number(&j, "energy_j_total_datasheet_current", r->energy_j_datasheet);
        reef_json_kv_number(&j, "run_power_mw", r->power_mw);
        reef_json_kv_number(&j, "energy_j_step_max", r->step_time_s_max * r->power_mw * 1e-3);
        reef_json_end(&j);
        reef_json_key(&j, "memory_bytes");
        reef_json_object(&j);
        reef_json_kv_int(&j, "flash_total", r->flash_total);
        reef_json_kv_int(&j, "flash_code", r->flash_code);
        reef_json_kv_int(&j, "flash_int8_model_weights", r->flash_weights_model);
        reef_json_kv_int(&j, "flash_tail_weights_copy", r->flash_params0);
        reef_json_kv_int(&j, "flash_replay", r->flash_replay);
        reef_json_kv_int(&j, "ram_total_peak", r->ram_total);
        reef_json_kv_int(&j, "ram_stack", r->ram_stack);
        reef_json_end(&j);
    }
    reef_json_end(&j);
    reef_json_finish(&j);
}

void reef_prun_report_print_cost(const reef_prun_report *r, FILE *fp)
{
    fprintf(fp, "\nupdate: cut at step %d, %d tail layers, %u of %u parameters trained, %u replay samples, %d steps;"
                " loss %.4f -> %.4f\n",
            r->boundary_step, r->tail_layers, r->trainable, r->param_count, r->replay_count, r->steps,
            (double)r->first_loss, (double)r->last_loss);
    if (r->hold_back)
        fprintf(fp, "guard: %d held-back frames, %d correct after the update against %d before: %s\n", r->hold_back,
                r->held_correct_after, r->held_correct_before,
                r->guard_kept ? "the update is kept" : "the old model is kept");
    if (r->hold_back && r->guard_replay)
        fprintf(fp, "guard: %d replay samples, %d correct after the update against %d before\n", r->guard_replay,
                r->replay_correct_after, r->replay_correct_before);
    if (r->refit_steps)
        fprintf(fp, "refit: %d epochs over all %d labelled frames (%d steps)%s\n", r->refit_epochs, r->labelled,
                r->refit_steps, r->guard_kept ? "" : ", not run: the guard refused the update");
    if (r->board_built)
        fprintf(fp, "NUCLEO-L4R5ZI firmware (records on LPUART1): %s%s\n", r->board_elf,
                r->board_ran ? "" : " (not run: flash it, reset the board, and run again with --port DEV)");
    if (r->board_ran)
        fprintf(fp, "board: weights bit-identical to the host's: %s; %.0f cycles measured (DWT), %.3f s at 120 MHz\n",
                r->bit_identical ? "yes" : "NO", r->board_cycles_total, r->board_cycles_total / 120e6);
    if (!r->emulated) {
        fprintf(fp, "(instructions, time, energy and memory: --target qemu-m4)\n");
        return;
    }
    fprintf(fp, "qemu-m4 weights bit-identical to the host's: %s\n", r->bit_identical ? "yes" : "NO");
    if (r->stream_frames)
        fprintf(fp, "the camera's temporal step on the device: %d frames fed (the step on the %d not labelled: %llu "
                    "instructions, not counted below: inference runs it on every frame)\n",
                r->stream_frames, r->stream_frames - r->labelled, (unsigned long long)r->see_insns);
    fprintf(fp, "emulated instructions: intake %llu (labelled frames through the int8 body), update steps %llu"
                " (max %llu per step; refit included), guard %llu, refit %llu, total %llu\n",
            (unsigned long long)r->intake_insns, (unsigned long long)r->update_insns,
            (unsigned long long)r->step_insns_max, (unsigned long long)r->guard_insns,
            (unsigned long long)r->refit_insns, (unsigned long long)r->total_insns);
    fprintf(fp, "modeled at %.0f MHz: %.3f s total (update steps %.3f s, max %.4f s per step), %.4f J at %.1f mW"
                " (%.4f J with the datasheet's run current)\n",
            r->clock_mhz, r->total_time_s, r->update_cycles / (r->clock_mhz * 1e6), r->step_time_s_max,
            r->total_energy_j, r->power_mw, r->energy_j_datasheet);
    if (r->avg_flash_s > 0.0)
        fprintf(fp, "weight averaging: flash erase + program %.3f s, %.4f J (modeled, in the totals); %u bytes of flash "
                    "for the snapshots\n", r->avg_flash_s, r->avg_flash_j, r->flash_scratch);
    fprintf(fp, "memory: flash %u bytes (code %u, int8 weights %u, tail weights copy %u, replay %u); RAM peak %u bytes"
                " (stack %u)\n",
            r->flash_total, r->flash_code, r->flash_weights_model, r->flash_params0, r->flash_replay, r->ram_total,
            r->ram_stack);
}
