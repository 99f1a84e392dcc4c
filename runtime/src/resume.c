/* Resumable execution of the step table: units, saves, commits, restores
 * (the protocol and why it is idempotent: reef/resume.h). */
#include "reef/resume.h"

/* The record's payload: which model, which job, which commit point. */
enum { PROGRESS_BYTES = 12 };

static void put_u32(uint8_t *dst, uint32_t v)
{
    dst[0] = (uint8_t)v;
    dst[1] = (uint8_t)(v >> 8);
    dst[2] = (uint8_t)(v >> 16);
    dst[3] = (uint8_t)(v >> 24);
}

static uint32_t get_u32(const uint8_t *s)
{
    return (uint32_t)s[0] | (uint32_t)s[1] << 8 | (uint32_t)s[2] << 16 | (uint32_t)s[3] << 24;
}

#ifdef REEF_PROFILE_STEPS
#define MARK_COMMIT() reef_mark_commit()
#else
#define MARK_COMMIT() ((void)0)
#endif

int reef_resume_boot(reef_resume *r, const reef_resumable *model, const reef_nvm *nvm)
{
    uint8_t progress[PROGRESS_BYTES];
    uint32_t length = 0;
    reef_nvm_status status;
    if (!r || !model || !nvm || model->unit_count <= 0 || nvm->size < model->nvm_bytes)
        return REEF_RESUME_ARG_ERROR;
    r->model = model;
    r->nvm = nvm;
    r->has_progress = 0;
    r->job = 0;
    r->point = 0;
    r->commits = 0;
    r->passed = 0;
    r->saved_to = 0;
    r->commit_now = 0;
    r->commit_ctx = 0;
    status = reef_nvm_record_init(&r->record, nvm, model->record_at, model->record_slot_size);
    if (status == REEF_NVM_ARG_ERROR) return REEF_RESUME_ARG_ERROR;
    if (status != REEF_NVM_OK) return REEF_RESUME_NVM_ERROR;
    status = reef_nvm_record_load(&r->record, progress, sizeof progress, &length, 0);
    if (status == REEF_NVM_IO_ERROR) return REEF_RESUME_NVM_ERROR;
    /* Another model's progress (or none) means starting afresh. */
    if (status == REEF_NVM_OK && length == PROGRESS_BYTES && get_u32(progress) == model->model_id &&
        get_u32(progress + 8) <= (uint32_t)model->unit_count) {
        r->has_progress = 1;
        r->job = get_u32(progress + 4);
        r->point = get_u32(progress + 8);
    }
    return REEF_RESUME_OK;
}

int reef_resume_has_job(const reef_resume *r, uint32_t job) { return r && r->has_progress && r->job == job; }

/* Copies spans [first, last) between arena and NVM; to NVM only those
 * whose tensor is still live at point live_at (see save_live_to). */
static int copy_spans(const reef_resume *r, const reef_span *spans, uint32_t first, uint32_t last, int to_nvm,
                      uint32_t live_at)
{
    const reef_nvm *nvm = r->nvm;
    const uint32_t *live_to = r->model->save_live_to;
    uint8_t *arena = r->model->arena;
    uint32_t i;
    for (i = first; i < last; i++) {
        const reef_span *s = &spans[i];
        if (to_nvm && live_to && live_to[i] < live_at) continue; /* died since a passed point */
        int failed = to_nvm ? nvm->write(nvm->ctx, s->nvm_at, arena + s->arena_at, s->bytes)
                            : nvm->read(nvm->ctx, s->nvm_at, arena + s->arena_at, s->bytes);
        if (failed) return REEF_RESUME_NVM_ERROR;
    }
    return REEF_RESUME_OK;
}

/* Saves what became live since the last commit and is live at point c,
 * then makes c the progress; or passes c when commit_now says so. */
static int commit_point(reef_resume *r, uint32_t job, uint32_t c)
{
    const reef_resumable *m = r->model;
    uint8_t progress[PROGRESS_BYTES];
    uint32_t first = c == 0 ? 0 : r->saved_to + 1;
    int status = REEF_RESUME_OK;
    if (c > 0 && c < (uint32_t)m->unit_count && r->commit_now && m->save_live_to &&
        !r->commit_now(r->commit_ctx, c)) {
        r->passed++;
        return REEF_RESUME_OK;
    }
    MARK_COMMIT();
    for (; first <= c && status == REEF_RESUME_OK; first++)
        status = copy_spans(r, m->saves, m->save_index[first], m->save_index[first + 1], 1, c);
    if (status != REEF_RESUME_OK) return status;
    put_u32(progress, m->model_id);
    put_u32(progress + 4, job);
    put_u32(progress + 8, c);
    if (reef_nvm_record_commit(&r->record, progress, sizeof progress) != REEF_NVM_OK)
        return REEF_RESUME_NVM_ERROR;
    MARK_COMMIT();
    r->has_progress = 1;
    r->job = job;
    r->point = c;
    r->saved_to = c;
    r->commits++;
    return REEF_RESUME_OK;
}

static int run_unit(const reef_resumable *m, const reef_unit *u)
{
    reef_status status;
    if (u->tile_kind == REEF_TILE_NONE)
        status = reef_run_steps(m->steps, u->step, u->step_count, m->arena);
    else
        status = reef_run_tile(&m->steps[u->step], u->tile_kind, u->begin, u->end, m->arena);
    return status == REEF_OK ? REEF_RESUME_OK : REEF_RESUME_STEP_ERROR;
}

int reef_resume_run(reef_resume *r, uint32_t job, const void *input, void *output)
{
    const reef_resumable *m;
    uint32_t c, i;
    int status;
    if (!r || !r->model || !output) return REEF_RESUME_ARG_ERROR;
    m = r->model;
    if (reef_resume_has_job(r, job)) {
        c = r->point;
        r->saved_to = c;
        status = copy_spans(r, m->restores, m->restore_index[c], m->restore_index[c + 1], 0, 0);
    } else {
        if (!input) return REEF_RESUME_ARG_ERROR;
        for (i = 0; i < m->input_bytes; i++) m->arena[m->input_at + i] = ((const uint8_t *)input)[i];
        c = 0;
        status = commit_point(r, job, 0); /* the input is checkpointed: no need to sense it again */
    }
    for (; status == REEF_RESUME_OK && c < (uint32_t)m->unit_count; c++) {
        status = run_unit(m, &m->units[c]);
        if (status == REEF_RESUME_OK) status = commit_point(r, job, c + 1);
    }
    if (status != REEF_RESUME_OK) return status;
    for (i = 0; i < m->output_bytes; i++) ((uint8_t *)output)[i] = m->arena[m->output_at + i];
    return REEF_RESUME_OK;
}
