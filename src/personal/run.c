/* A whole personalization run on the host: the records the device gets,
 * the update through the runtime's session code, and accuracy before and
 * after at the site and on the original test split. */
#include <stdlib.h>
#include <string.h>

#include "personal/run.h"
#include "data/background.h"
#include "quant/quant.h"
#include "util/rng.h"

/* Per-class quotas of a balanced draw: labelled / C each (the remainder to
 * the first classes), a class with fewer frames than its share gives the
 * rest to the others. */
static void balanced_quotas(const reef_dataset *site, int labelled, int *quota)
{
    int avail[REEF_PDRAW_MAX_CLASSES] = {0}, C = (int)site->num_classes, left = labelled, open = 0;
    for (uint32_t i = 0; i < site->count; i++) avail[site->labels[i]]++;
    for (int c = 0; c < C; c++) quota[c] = 0, open += avail[c] > 0;
    while (left > 0 && open > 0) {
        int share = left / open > 0 ? left / open : 1, given = 0;
        open = 0;
        for (int c = 0; c < C && left > 0; c++) {
            int take = avail[c] - quota[c] < share ? avail[c] - quota[c] : share;
            if (take <= 0) continue;
            quota[c] += take, left -= take, given += take;
            open += quota[c] < avail[c];
        }
        if (!given) break;
    }
}

int reef_pdraw(const reef_dataset *site, int labelled, uint32_t seed, int balance, uint8_t *is_labelled,
               reef_error *err)
{
    int quota[REEF_PDRAW_MAX_CLASSES] = {0};
    if (labelled < 1) return reef_fail(err, "--labelled must be at least 1");
    if ((uint32_t)labelled >= site->count)
        return reef_fail(err, "--labelled %d: the site has only %u frames (some must be left to measure on)",
                         labelled, site->count);
    if (balance && (site->num_classes < 1 || site->num_classes > REEF_PDRAW_MAX_CLASSES))
        return reef_fail(err, "--labelled-balance: %u classes (at most %d)", site->num_classes, REEF_PDRAW_MAX_CLASSES);
    if (balance) balanced_quotas(site, labelled, quota);
    memset(is_labelled, 0, site->count);
    reef_rng rng;
    reef_rng_seed(&rng, seed);
    for (int k = 0; k < labelled;) {
        uint32_t i = reef_rng_below(&rng, site->count);
        if (is_labelled[i] || (balance && quota[site->labels[i]] == 0)) continue;
        if (balance) quota[site->labels[i]]--;
        is_labelled[i] = 1;
        k++;
    }
    return 0;
}

int reef_pread_records(uint32_t train_count)
{
    return (int)((train_count * 4u + REEF_PERSONAL_OUT - 1) / REEF_PERSONAL_OUT);
}

/* The records after the labelled frames: the STEPs and GUARD from record k
 * on (put_steps), then REFIT and its STEPs, SAVE and the READs
 * (put_refit_save); each returns the next k. PSEUDO records go between
 * the two. */
static int put_steps(uint8_t *rec, size_t rs, int k, int hold, int margin, int nsteps)
{
    for (int s = 0; s < nsteps; s++) rec[(size_t)k++ * rs] = REEF_PERSONAL_STEP;
    if (hold > 0) {
        rec[(size_t)k * rs] = REEF_PERSONAL_GUARD;
        rec[(size_t)k++ * rs + 2] = (uint8_t)margin;
    }
    return k;
}

static int put_refit_save(uint8_t *rec, size_t rs, int k, int refit_steps, int nread)
{
    if (refit_steps > 0) {
        rec[(size_t)k++ * rs] = REEF_PERSONAL_REFIT;
        for (int s = 0; s < refit_steps; s++) rec[(size_t)k++ * rs] = REEF_PERSONAL_STEP;
    }
    rec[(size_t)k++ * rs] = REEF_PERSONAL_SAVE;
    for (int c = 0; c < nread; c++) {
        uint8_t *r = rec + (size_t)k++ * rs;
        r[0] = REEF_PERSONAL_READ;
        r[2] = (uint8_t)(c & 0xff);
        r[3] = (uint8_t)(c >> 8);
    }
    return k;
}

static int put_update_records(uint8_t *rec, size_t rs, int k, int hold, int margin, int nsteps, int refit_steps,
                              int nread)
{
    return put_refit_save(rec, rs, put_steps(rec, rs, k, hold, margin, nsteps), refit_steps, nread);
}

static int update_record_count(int hold, int nsteps, int refit_steps, int nread)
{
    return nsteps + (hold > 0) + (refit_steps > 0) + refit_steps + 1 + nread;
}

/* Held back: the labelled frame of this ordinal (0 .. labelled - 1, in the
 * order the device gets them) where floor(ordinal * hold / labelled) steps. */
static int is_held(int ordinal, int hold, int labelled)
{
    return hold > 0 && (ordinal * hold) / labelled != ((ordinal + 1) * hold) / labelled;
}

/* The phase a record stream is in after command c: 0 before the first
 * GUARD or REFIT, 1 after REFIT, 2 after a GUARD without a REFIT (its
 * STEPs are no phase's). */
static int phase_after(int at, uint8_t c)
{
    if (c == REEF_PERSONAL_REFIT) return 1;
    return c == REEF_PERSONAL_GUARD && at == 0 ? 2 : at;
}

/* How many STEPs phase (0 or 1) has. */
static int phase_steps(const uint8_t *rec, int count, size_t rs, int phase)
{
    int n = 0, at = 0;
    for (int k = 0; k < count; k++) {
        uint8_t c = rec[(size_t)k * rs];
        at = phase_after(at, c);
        n += c == REEF_PERSONAL_STEP && at == phase;
    }
    return n;
}

/* The record to put after the phase's step-th STEP (1-based): SNAP,
 * AVERAGE or 0. */
static uint8_t average_after(int step, int steps, int spe, int average)
{
    int epochs = spe > 0 ? steps / spe : 0;
    if (average > epochs) average = epochs;
    if (average < 2 || step % spe) return 0;
    int epoch = step / spe;
    return epoch == epochs ? REEF_PERSONAL_AVERAGE : epoch > epochs - average ? REEF_PERSONAL_SNAP : 0;
}

uint8_t *reef_precords_average(uint8_t *records, int *count, size_t rs, int average, int spe_main, int average_refit,
                               int spe_refit)
{
    int steps[2] = {phase_steps(records, *count, rs, 0), phase_steps(records, *count, rs, 1)};
    int spe[2] = {spe_main, spe_refit}, avg[2] = {average, average_refit}, extra = 0;
    for (int ph = 0; ph < 2; ph++)
        for (int j = 1; j <= steps[ph]; j++) extra += average_after(j, steps[ph], spe[ph], avg[ph]) != 0;
    if (!extra) return records;
    uint8_t *out = calloc((size_t)(*count + extra), rs);
    if (!out) {
        free(records);
        return NULL;
    }
    int n = 0, at = 0, seen[2] = {0, 0};
    for (int k = 0; k < *count; k++) {
        const uint8_t *r = records + (size_t)k * rs;
        memcpy(out + (size_t)n++ * rs, r, rs);
        at = phase_after(at, r[0]);
        if (r[0] == REEF_PERSONAL_STEP && at < 2) {
            uint8_t put = average_after(++seen[at], steps[at], spe[at], avg[at]);
            if (put) out[(size_t)n++ * rs] = put;
        }
    }
    free(records);
    *count = n;
    return out;
}

uint8_t *reef_precords(const reef_lowered_model *m, const reef_input_map *map, const reef_dataset *site,
                       const uint8_t *is_labelled, const uint32_t *order, int hold, int margin, int nsteps,
                       int refit_steps, uint32_t train_count, const reef_ppseudo *pseudo, int *count)
{
    size_t rs = reef_precord_size(m);
    int nread = reef_pread_records(train_count), labelled = 0, npool = 0, nsend = 0;
    for (uint32_t i = 0; i < site->count; i++) labelled += is_labelled[i], npool += pseudo && pseudo->pool[i];
    if (pseudo && hold > 0) nsend = pseudo->frames < npool ? pseudo->frames : npool;
    if (hold <= 0) refit_steps = 0;
    uint8_t *rec = calloc((size_t)(labelled + nsend + update_record_count(hold, nsteps, refit_steps, nread)), rs);
    if (!rec) return NULL;
    int k = 0;
    for (uint32_t q = 0, i = 0; (int)k < labelled; q++) {
        if (order) i = order[q];
        else
            while (!is_labelled[i]) i++;
        uint8_t *r = rec + (size_t)k * rs;
        r[0] = is_held(k++, hold, labelled) ? REEF_PERSONAL_HOLD : REEF_PERSONAL_ADD;
        r[1] = (uint8_t)site->labels[i];
        reef_input_map_apply(map, reef_dataset_sample(site, i), (size_t)m->input_size, (int8_t *)(r + REEF_PERSONAL_HEADER));
        if (!order) i++;
    }
    /* the pool frames after the guard, or after_steps STEPs (the guard then judges them too) */
    int before = pseudo && pseudo->after_steps >= 0 ? (pseudo->after_steps < nsteps ? pseudo->after_steps : nsteps) : -1;
    if (before < 0) k = put_steps(rec, rs, k, hold, margin, nsteps);
    else
        for (int s = 0; s < before; s++) rec[(size_t)k++ * rs] = REEF_PERSONAL_STEP;
    /* nsend pool frames spread evenly over the pool (in site order) */
    for (int j = 0; j < nsend; j++) {
        int target = (int)((int64_t)j * npool / nsend), seen = -1;
        uint32_t i = 0;
        while (seen < target) seen += pseudo->pool[i++];
        uint8_t *r = rec + (size_t)k++ * rs;
        r[0] = REEF_PERSONAL_PSEUDO;
        r[1] = (uint8_t)pseudo->class_cap;
        r[3] = (uint8_t)pseudo->conf;
        reef_input_map_apply(map, reef_dataset_sample(site, i - 1), (size_t)m->input_size,
                             (int8_t *)(r + REEF_PERSONAL_HEADER));
    }
    if (before >= 0) k = put_steps(rec, rs, k, hold, margin, nsteps - before);
    *count = put_refit_save(rec, rs, k, refit_steps, nread);
    return rec;
}

int reef_ppseudo_pool(const reef_dataset *site, const uint8_t *is_labelled, uint8_t *pool, uint8_t *skip,
                      reef_error *err)
{
    uint32_t *order = malloc((site->count + 1) * sizeof *order), *starts = malloc((site->count + 2) * sizeof *starts);
    uint32_t nclips = 0;
    int rc = order && starts ? 0 : reef_fail(err, "out of memory");
    if (!rc) rc = reef_dataset_clip_order(site, order, starts, &nclips, err);
    for (uint32_t c = 0; !rc && c < nclips; c++)
        for (uint32_t q = starts[c]; q < starts[c + 1]; q++) {
            uint32_t i = order[q];
            /* by time: the clip's first half (the camera saw it before) */
            pool[i] = !is_labelled[i] && 2 * (q - starts[c]) < starts[c + 1] - starts[c];
            skip[i] = is_labelled[i] || pool[i];
        }
    free(order), free(starts);
    return rc;
}

uint8_t *reef_precords_stream(const reef_lowered_model *m, const reef_dataset *site, const reef_dataset *stream,
                              const uint8_t *is_labelled, int hold, int margin, int nsteps, int refit_steps,
                              uint32_t train_count, int *count, uint32_t *labelled_order, int *frames_fed,
                              reef_error *err)
{
    const uint32_t pixels = (uint32_t)m->input_size / 2u;
    if (stream->channels != 1 || stream->height != site->height || stream->width != site->width ||
        (size_t)stream->height * stream->width != pixels) {
        reef_fail(err, "--stream holds %ux%ux%u frames; the camera's gray frames of the site are %ux%ux1",
                  stream->height, stream->width, stream->channels, site->height, site->width);
        return NULL;
    }
    size_t rs = reef_precord_size_stream(m);
    int nread = reef_pread_records(train_count), labelled = 0, fed = 0;
    uint32_t *where = malloc((site->count + 1) * sizeof *where), *order = malloc((stream->count + 1) * sizeof *order);
    uint32_t *starts = malloc((stream->count + 2) * sizeof *starts), *end = malloc((stream->count + 1) * sizeof *end);
    int32_t *site_at = malloc((stream->count + 1) * sizeof *site_at);
    uint32_t nclips = 0;
    uint8_t *rec = NULL;
    int rc = where && order && starts && end && site_at ? 0 : reef_fail(err, "out of memory");
    if (!rc && reef_dataset_find_ids(site, stream, where, err)) rc = reef_fail_wrap(err, "the site's frames in --stream");
    if (!rc) rc = reef_dataset_clip_order(stream, order, starts, &nclips, err);
    for (uint32_t j = 0; !rc && j < stream->count; j++) site_at[j] = -1;
    for (uint32_t i = 0; !rc && i < site->count; i++)
        if (is_labelled[i]) site_at[where[i]] = (int32_t)i, labelled++;
    /* each clip up to its last labelled frame: the frames after it change nothing the device keeps */
    for (uint32_t c = 0; !rc && c < nclips; c++) {
        end[c] = starts[c]; /* exclusive: no frame when the clip holds no labelled one */
        for (uint32_t k = starts[c]; k < starts[c + 1]; k++)
            if (site_at[order[k]] >= 0) end[c] = k + 1;
        fed += (int)(end[c] - starts[c]);
    }
    if (hold <= 0) refit_steps = 0;
    if (!rc && !(rec = calloc((size_t)(1 + fed + update_record_count(hold, nsteps, refit_steps, nread)), rs)))
        rc = reef_fail(err, "out of memory");
    int k = 0, ordinal = 0;
    if (!rc) rec[(size_t)k++ * rs] = REEF_PERSONAL_RESET; /* the generated firmware starts its buffers there */
    for (uint32_t c = 0; !rc && c < nclips; c++)
        for (uint32_t q = starts[c]; q < end[c]; q++) {
            uint8_t *r = rec + (size_t)k++ * rs;
            int32_t i = site_at[order[q]];
            r[0] = REEF_PERSONAL_SEE;
            if (i >= 0) {
                r[0] = is_held(ordinal, hold, labelled) ? REEF_PERSONAL_HOLD : REEF_PERSONAL_ADD;
                r[1] = (uint8_t)site->labels[i];
                labelled_order[ordinal++] = (uint32_t)i;
            }
            r[2] = q == starts[c] ? REEF_PERSONAL_CLIP_START : 0;
            memcpy(r + REEF_PERSONAL_HEADER, reef_dataset_sample(stream, order[q]), pixels);
        }
    if (!rc) *count = put_update_records(rec, rs, k, hold, margin, nsteps, refit_steps, nread), *frames_fed = fed;
    free(where), free(order), free(starts), free(end), free(site_at);
    if (rc) {
        free(rec);
        return NULL;
    }
    return rec;
}

int reef_psteps_total(const reef_pplan *plan, int labelled)
{
    int per_epoch = (labelled + plan->hp.batch_site - 1) / plan->hp.batch_site;
    return per_epoch * plan->hp.epochs;
}

int reef_pcollect_params(const int8_t *outs, const uint8_t *records, int count, size_t record_size,
                         uint32_t train_count, float *params)
{
    size_t total = (size_t)train_count * 4, got = 0;
    for (int k = 0; k < count; k++) {
        const uint8_t *r = records + (size_t)k * record_size;
        if (r[0] != REEF_PERSONAL_READ) continue;
        size_t at = ((size_t)r[2] | (size_t)r[3] << 8) * REEF_PERSONAL_OUT;
        size_t n = at >= total ? 0 : total - at < REEF_PERSONAL_OUT ? total - at : REEF_PERSONAL_OUT;
        memcpy((uint8_t *)params + at, outs + (size_t)k * REEF_PERSONAL_OUT, n);
        got += n;
    }
    return got == total ? 0 : -1;
}

int reef_prun_host(reef_psession *s, const uint8_t *records, int count, size_t record_size, float *params_out,
                   float *losses, int8_t guard_out[5], reef_error *err)
{
    size_t out_size = REEF_PERSONAL_OUT;
    int8_t *out = malloc((size_t)count * out_size);
    if (!out) return reef_fail(err, "out of memory");
    int step = 0;
    for (int k = 0; k < count; k++) {
        const int8_t *r = (const int8_t *)records + (size_t)k * record_size;
        int8_t *o = out + (size_t)k * out_size;
        int status = reef_personal_record(&s->p, r, o, (uint32_t)out_size);
        if (status) {
            free(out);
            return reef_fail(err, "the device session refused record %d (command %d): status %d", k, r[0], status);
        }
        if (r[0] == REEF_PERSONAL_STEP && losses) memcpy(&losses[step++], o, 4);
        if (r[0] == REEF_PERSONAL_GUARD && guard_out) memcpy(guard_out, o, 5);
    }
    int rc = reef_pcollect_params(out, records, count, record_size, s->p.tail->train_count, params_out);
    free(out);
    return rc ? reef_fail(err, "the records do not read back every trained parameter") : 0;
}

/* Accuracy of: the whole int8 model (deployed), the body + tail with
 * params. Only samples with use[i] (NULL: all) count. */
int reef_peval_nclasses(const reef_peval_result *r)
{
    int n = 0;
    for (int c = 0; c < REEF_PERSONAL_MAX_CLASSES; c++)
        if (r->class_count[c]) n = c + 1;
    return n;
}

int reef_peval(const reef_lowered_model *m, const reef_ptail *t, const reef_input_map *map,
               const reef_dataset *ds, const uint8_t *skip, const float *params, int refused,
               reef_peval_result *r, reef_error *err)
{
    memset(r, 0, sizeof *r);
    uint8_t *arena = malloc(m->arena_size);
    int8_t *out = malloc((size_t)m->output_size), *boundary = malloc((size_t)t->tail.in_count);
    float *acts = malloc((size_t)t->tail.act_count * sizeof(float));
    if (!arena || !out || !boundary || !acts) {
        free(arena), free(out), free(boundary), free(acts);
        return reef_fail(err, "out of memory");
    }
    int rc = 0;
    for (uint32_t i = 0; i < ds->count && !rc; i++) {
        if (skip && skip[i]) continue;
        int8_t *in = (int8_t *)(arena + m->input_at);
        reef_input_map_apply(map, reef_dataset_sample(ds, i), (size_t)m->input_size, in);
        if (reef_lowered_run_steps(m, arena, 0, t->boundary_step)) {
            rc = reef_fail(err, "the int8 body failed");
            break;
        }
        memcpy(boundary, arena + t->boundary_at, (size_t)t->tail.in_count);
        if (reef_lowered_run_steps(m, arena, t->boundary_step, m->nsteps - t->boundary_step)) {
            rc = reef_fail(err, "the int8 model failed");
            break;
        }
        memcpy(out, arena + m->output_at, (size_t)m->output_size);
        int best = 0;
        for (int k = 1; k < m->output_size; k++)
            if (out[k] > out[best]) best = k;
        int label = ds->labels[i];
        r->count++;
        int after_ok = refused ? best == label
                               : params && reef_tail_predict(&t->tail, params, t->params0, boundary, acts) == label;
        r->int8_correct += best == label;
        r->before_correct += reef_tail_predict(&t->tail, NULL, t->params0, boundary, acts) == label;
        r->after_correct += after_ok;
        if (label >= 0 && label < REEF_PERSONAL_MAX_CLASSES) {
            r->class_count[label]++;
            r->int8_class_correct[label] += best == label;
            r->after_class_correct[label] += after_ok;
        }
    }
    free(arena), free(out), free(boundary), free(acts);
    return rc;
}
