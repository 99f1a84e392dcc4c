/* The personalization session (reef/personal.h): one record at a time. */
#include "reef/personal.h"
#include "reef/train_int8.h"

static void copy_bytes(void *dst, const void *src, uint32_t n)
{
    uint8_t *d = (uint8_t *)dst;
    const uint8_t *s = (const uint8_t *)src;
    uint32_t i;
    for (i = 0; i < n; i++) d[i] = s[i];
}

static uint32_t align16(uint32_t n) { return (n + 15u) & ~15u; }

/* The int8 tail (scheme a) keeps its gradients in acts, so the session's
 * grads (train_count words: GUARD's copy of the old parameters, zeroed
 * between steps) share the region of the int8 gradients, which the
 * forward GUARD runs does not touch and which are zeroed before every
 * step anyway. */
uint32_t reef_personal_transient_bytes(const reef_tail *t)
{
    if (t->q) return align16(t->act_count * 4u);
    return align16(t->train_count * 4u) + align16(t->act_count * 4u);
}

void reef_personal_layout(reef_personal *p)
{
    const reef_tail *t = p->tail;
    if (t->q) {
        p->acts_at = 0;
        p->grads_at = t->q->grads_at * 4u; /* grad_count >= train_count: a float per trained byte or more */
        p->delta_a_at = t->ping_at * 4u;
        p->delta_b_at = p->delta_a_at + t->delta_count * 4u;
        return;
    }
    p->grads_at = 0;
    p->acts_at = p->grads_at + align16(t->train_count * 4u);
    p->delta_a_at = p->acts_at + t->ping_at * 4u;
    p->delta_b_at = p->delta_a_at + t->delta_count * 4u;
}

int32_t reef_personal_steps_per_epoch(const reef_personal *p)
{
    if (p->site_count <= 0 || p->hp.batch_site <= 0) return 0;
    return (p->site_count + p->hp.batch_site - 1) / p->hp.batch_site;
}

static reef_tail_state state_of(const reef_personal *p)
{
    reef_tail_state s;
    s.params = p->params;
    s.params0 = p->params0;
    s.grads = (float *)(void *)(p->arena + p->grads_at);
    s.velocity = p->velocity;
    s.acts = (float *)(void *)(p->arena + p->acts_at);
    s.delta_a = (float *)(void *)(p->arena + p->delta_a_at);
    s.delta_b = (float *)(void *)(p->arena + p->delta_b_at);
    return s;
}

/* Runs the int8 body on frame; the boundary tensor is then at boundary_at. */
static int run_body(reef_personal *p, const int8_t *frame)
{
    if (frame != (const int8_t *)(p->arena + p->input_at)) /* a temporal session's is there */
        copy_bytes(p->arena + p->input_at, frame, (uint32_t)p->input_size);
    return reef_run_steps(p->steps, 0, p->body_steps, p->arena) == REEF_OK ? 0 : 3;
}

/* A small deterministic generator (xorshift32) for the per-epoch shuffle. */
static uint32_t next_random(uint32_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 17;
    *x ^= *x << 5;
    return *x;
}

static void shuffle(reef_personal *p, int32_t epoch)
{
    uint32_t x = p->hp.seed * 2654435761u + (uint32_t)epoch * 40503u + 1u;
    int32_t i;
    for (i = 0; i < p->site_count; i++) p->order[i] = (uint16_t)i;
    for (i = p->site_count - 1; i > 0; i--) {
        int32_t j = (int32_t)(next_random(&x) % (uint32_t)(i + 1));
        uint16_t tmp = p->order[i];
        p->order[i] = p->order[j];
        p->order[j] = tmp;
    }
}

/* The next frame primes the backgrounds again (a clip start). */
static void restart_backgrounds(reef_personal *p)
{
    reef_temporal *t = p->temporal;
    reef_temporal_init(t, t->kind, t->bg.mean, t->history, t->lag, t->slow, t->bg.pixels);
}

/* A temporal session's frame record: the gray frame is read into the
 * input tensor's second half, reef_temporal_step writes [d, s] over the
 * whole tensor (reading each pixel before writing over it, as the
 * inference harness does) and each byte is mapped to the int8 input.
 * Returns the input, now in place in the arena. */
static const int8_t *temporal_input(reef_personal *p, const int8_t *record)
{
    reef_temporal *t = p->temporal;
    uint32_t n = t->bg.pixels, i;
    uint8_t *in = p->arena + p->input_at;
    if ((uint8_t)record[2] & REEF_PERSONAL_CLIP_START) restart_backgrounds(p);
    if (record + REEF_PERSONAL_HEADER != (const int8_t *)(in + n)) /* the firmware reads the frame there */
        copy_bytes(in + n, record + REEF_PERSONAL_HEADER, n);
    reef_temporal_step(t, in + n, in);
    for (i = 0; i < 2u * n; i += 2) {
        in[i] = (uint8_t)p->input_map[0][in[i]];
        in[i + 1] = (uint8_t)p->input_map[1][in[i + 1]];
    }
    return (const int8_t *)in;
}

/* ADD keeps the sample at the bottom of the site buffer, HOLD (held) at
 * the top; the two never meet. */
static int do_add(reef_personal *p, const int8_t *frame, uint8_t label, int held)
{
    int32_t n = p->tail->in_count, at;
    int status;
    if (label >= p->tail->nclasses) return 1;
    if (p->site_count + p->hold_count >= p->site_cap) return 2;
    if ((status = run_body(p, frame))) return status;
    at = held ? p->site_cap - 1 - p->hold_count++ : p->site_count++;
    copy_bytes(p->site + at * n, p->arena + p->boundary_at, (uint32_t)n);
    p->site_labels[at] = label;
    return 0;
}

/* PSEUDO (reef/personal.h): self-training on the frames the camera sees
 * anyway. The boundary is copied out of the arena first: the tail's
 * transient buffers lie over it. */
static int do_pseudo(reef_personal *p, const int8_t *frame, uint8_t class_cap, uint8_t conf, int8_t *out)
{
    reef_tail_state s = state_of(p);
    float probs[REEF_PERSONAL_MAX_CLASSES];
    int32_t n = p->tail->in_count, c, best = 0, have = 0, k;
    const float *logits;
    int status;
    if (p->refused || p->site_count + p->hold_count >= p->site_cap) return 0;
    if (p->tail->nclasses > REEF_PERSONAL_MAX_CLASSES) return 1;
    if ((status = run_body(p, frame))) return status;
    copy_bytes(p->boundary, p->arena + p->boundary_at, (uint32_t)n);
    logits = reef_tail_forward(p->tail, p->params, p->params0, p->boundary, s.acts);
    for (c = 1; c < p->tail->nclasses; c++)
        if (logits[c] > logits[best]) best = c;
    (void)reef_train_softmax_xent(probs, logits, p->tail->nclasses, best);
    for (k = 0; k < p->site_count; k++) have += p->site_labels[k] == best;
    out[0] = (int8_t)best;
    out[2] = (int8_t)(uint8_t)(probs[best] * 255.0f);
    if (probs[best] * 256.0f < (float)conf || have >= class_cap) return 0;
    copy_bytes(p->site + p->site_count * n, p->boundary, (uint32_t)n);
    p->site_labels[p->site_count++] = (uint8_t)best;
    p->step = 0; /* the next STEP begins a whole epoch over every sample (the order holds the old ones only) */
    out[1] = 1;
    return 0;
}

static reef_nvm_status restore_into(const reef_personal *p, const reef_nvm_record *rec, float *params)
{
    uint32_t length = 0;
    if (!rec || rec->newest < 0) return REEF_NVM_EMPTY;
    if (rec->newest_length != p->tail->train_count * 4u) return REEF_NVM_ARG_ERROR;
    return reef_nvm_record_load(rec, params, p->tail->train_count * 4u, &length, 0);
}

/* Replay samples GUARD scores (the first ones in flash): hp.guard_replay,
 * at most all of them but one when steps mix replay in. */
static int32_t guarded_replay(const reef_personal *p)
{
    int32_t r = p->hp.guard_replay, most = p->hp.batch_replay > 0 ? p->replay_count - 1 : p->replay_count;
    if (r < 0) r = 0;
    return r < most ? r : most < 0 ? 0 : most;
}

/* Adds one sample's loss under params to *loss; 1 when params answer its label. */
static int32_t score_one(reef_personal *p, const float *params, const int8_t *sample, int32_t label, float *loss)
{
    reef_tail_state s = state_of(p);
    float probs[REEF_PERSONAL_MAX_CLASSES];
    int32_t c, best = 0;
    const float *logits = reef_tail_forward(p->tail, params, p->params0, sample, s.acts);
    for (c = 1; c < p->tail->nclasses; c++)
        if (logits[c] > logits[best]) best = c;
    *loss += reef_train_softmax_xent(probs, logits, p->tail->nclasses, label);
    return best == label;
}

/* Correct answers and summed loss of params on the held-back samples. */
static int32_t score_held(reef_personal *p, const float *params, float *loss)
{
    int32_t k, correct = 0, n = p->tail->in_count;
    *loss = 0.0f;
    for (k = 0; k < p->hold_count; k++) {
        int32_t at = p->site_cap - 1 - k;
        correct += score_one(p, params, p->site + at * n, p->site_labels[at], loss);
    }
    return correct;
}

/* Correct answers of params on the first count replay samples. */
static int32_t score_replay(reef_personal *p, const float *params, int32_t count)
{
    int32_t k, correct = 0, n = p->tail->in_count;
    float loss = 0.0f;
    for (k = 0; k < count; k++) correct += score_one(p, params, p->replay + k * n, p->replay_labels[k], &loss);
    return correct;
}

static int8_t clamp127(int32_t v) { return (int8_t)(v > 127 ? 127 : v); }

/* GUARD (reef/personal.h). The old parameters are rebuilt in the grads
 * buffer, which holds nothing between steps. With hp.guard_replay the
 * source samples in flash vote too: an update that gains at the site but
 * forgets more than hp.guard_forget of them is refused (forgetting shows on
 * the source data, never on the site's frames). */
static int do_guard(reef_personal *p, int32_t margin, int8_t *out)
{
    reef_tail_state s = state_of(p);
    float loss_new, loss_old;
    int32_t correct_new, correct_old, replay_new = 0, replay_old = 0;
    int32_t nreplay = guarded_replay(p);
    uint32_t k, n = p->tail->train_count;
    int keep;
    if (p->hold_count == 0) return 2;
    if (p->tail->nclasses > REEF_PERSONAL_MAX_CLASSES) return 1;
    correct_new = score_held(p, p->params, &loss_new);
    if (nreplay) replay_new = score_replay(p, p->params, nreplay);
    reef_tail_deployed(p->tail, p->params0, s.grads);
    if (p->store) (void)restore_into(p, p->store, s.grads); /* stays deployed unless a valid copy loads */
    correct_old = score_held(p, s.grads, &loss_old);
    if (nreplay) replay_old = score_replay(p, s.grads, nreplay);
    keep = margin > 0 ? correct_new >= correct_old + margin
                      : correct_new > correct_old || (correct_new == correct_old && loss_new <= loss_old);
    if (replay_new + p->hp.guard_forget < replay_old) keep = 0;
    if (!keep) copy_bytes(p->params, s.grads, n * 4u);
    p->refused = !keep;
    for (k = 0; k < n; k++) s.grads[k] = 0.0f;
    out[0] = (int8_t)keep;
    out[1] = clamp127(correct_new);
    out[2] = clamp127(correct_old);
    out[3] = clamp127(replay_new);
    out[4] = clamp127(replay_old);
    return 0;
}

/* The site sample at epoch position i. Plain: the shuffled order. With
 * hp.balance the positions take the classes present in turn (class
 * present[i % npresent]), each class its own samples in shuffled order,
 * wrapping round, so every batch holds the classes in equal shares and the
 * rarer class is seen more than once per epoch (the deployed model's
 * failure at a new site is answering the commoner class for everything). */
int32_t reef_personal_site_pick(const reef_personal *p, int32_t i)
{
    int32_t count[REEF_PERSONAL_MAX_CLASSES] = {0}, present[REEF_PERSONAL_MAX_CLASSES] = {0};
    int32_t npresent = 0, c, k, rank;
    if (!p->hp.balance || p->tail->nclasses > REEF_PERSONAL_MAX_CLASSES) return p->order[i];
    for (k = 0; k < p->site_count; k++) count[p->site_labels[k]]++;
    for (c = 0; c < p->tail->nclasses; c++)
        if (count[c]) present[npresent++] = c;
    if (npresent == 0) return p->order[i];
    c = present[i % npresent];
    rank = (i / npresent) % count[c];
    for (k = 0; k < p->site_count; k++)
        if (p->site_labels[p->order[k]] == c && rank-- == 0) break;
    return p->order[k];
}

/* REFIT (reef/personal.h): the held-back block, site[site_cap - hold_count,
 * site_cap), moves down to site[site_count, ...) in ascending order, so no
 * sample is overwritten before it is copied (site_count + hold_count <=
 * site_cap: the destination never passes the source). */
static int do_refit(reef_personal *p, int8_t *out)
{
    int32_t n = p->tail->in_count, top = p->site_cap - p->hold_count, k;
    if (p->hold_count == 0) return 2;
    if (!p->refused) {
        for (k = 0; k < p->hold_count; k++) {
            copy_bytes(p->site + (p->site_count + k) * n, p->site + (top + k) * n, (uint32_t)n);
            p->site_labels[p->site_count + k] = p->site_labels[top + k];
        }
        p->site_count += p->hold_count;
        p->hold_count = 0;
        p->step = 0; /* the refit's epochs are whole epochs over every sample */
    }
    out[0] = (int8_t)(p->site_count > 127 ? 127 : p->site_count);
    return 0;
}

/* lr * decay^epoch by repeated multiplication: the same float operations,
 * so the same bits, on the host and the M4 (no libm powf). */
static float decayed_lr(const reef_tail_hparams *hp, int32_t epoch)
{
    float lr = hp->lr;
    int32_t e;
    if (hp->lr_decay <= 0.0f || hp->lr_decay == 1.0f) return lr;
    for (e = 0; e < epoch; e++) lr *= hp->lr_decay;
    return lr;
}

static int do_step(reef_personal *p, float *loss)
{
    const int8_t *batch[REEF_PERSONAL_MAX_BATCH];
    const float *teachers[REEF_PERSONAL_MAX_BATCH]; /* NULL: the hard label alone */
    uint8_t labels[REEF_PERSONAL_MAX_BATCH];
    int32_t spe = reef_personal_steps_per_epoch(p), n = 0, i, pos, in_count = p->tail->in_count;
    reef_tail_state s = state_of(p);
    reef_tail_hparams hp;
    /* the first guard_replay replay samples are GUARD's: never trained on,
     * so they can show forgetting (the ones trained on stay right) */
    int32_t replay_first = guarded_replay(p), replay_pool = p->replay_count - replay_first;
    uint32_t k;
    if (p->refused) return 0; /* the guard's refusal holds until RESET */
    if (spe == 0) return 2;
    if (p->hp.batch_site + p->hp.batch_replay > REEF_PERSONAL_MAX_BATCH) return 1;
    pos = (p->step % spe) * p->hp.batch_site;
    if (pos == 0) {
        shuffle(p, p->step / spe);
        p->epoch++; /* a refit's epochs go on counting */
    }
    for (i = pos; i < pos + p->hp.batch_site && i < p->site_count; i++) {
        int32_t at = reef_personal_site_pick(p, i);
        batch[n] = p->site + at * in_count;
        teachers[n] = 0;
        labels[n++] = p->site_labels[at];
    }
    for (i = 0; i < p->hp.batch_replay && replay_pool > 0; i++) {
        int32_t at = replay_first + p->replay_next;
        batch[n] = p->replay + at * in_count;
        teachers[n] = p->replay_teacher ? p->replay_teacher + at * p->tail->nclasses : 0;
        labels[n++] = p->replay_labels[at];
        p->replay_next = (p->replay_next + 1) % replay_pool;
    }
    for (k = 0; k < p->tail->train_count; k++) s.grads[k] = 0.0f; /* the arena held the body */
    hp = p->hp;
    hp.lr = decayed_lr(&p->hp, p->epoch - 1);
    *loss = reef_tail_train_batch_distill(p->tail, &s, &hp, batch, labels, teachers, n);
    p->step++;
    return *loss < 0.0f ? 1 : 0;
}

/* The deployed int8 model's class (argmax of its output, first wins). */
static int eval_int8(reef_personal *p, const int8_t *frame, int8_t *out)
{
    const int8_t *y = (const int8_t *)(p->arena + p->output_at);
    int32_t k, best = 0;
    if (frame != (const int8_t *)(p->arena + p->input_at))
        copy_bytes(p->arena + p->input_at, frame, (uint32_t)p->input_size);
    if (reef_run_steps(p->steps, 0, p->model_steps, p->arena) != REEF_OK) return 3;
    for (k = 1; k < p->output_size; k++)
        if (y[k] > y[best]) best = k;
    out[0] = (int8_t)best;
    return 0;
}

static int do_eval(reef_personal *p, const int8_t *frame, const float *params, int8_t *out)
{
    reef_tail_state s = state_of(p);
    int status;
    if (params && p->refused && p->model_steps > 0) return eval_int8(p, frame, out);
    status = run_body(p, frame);
    if (status) return status;
    copy_bytes(p->boundary, p->arena + p->boundary_at, (uint32_t)p->tail->in_count);
    out[0] = (int8_t)reef_tail_predict(p->tail, params, p->params0, p->boundary, s.acts);
    return 0;
}

/* ---- weight averaging (session 16) ----------------------------------------
 * The snapshots never sit in RAM (9.1 KB at r64's 2,282 parameters against
 * about 3.6 KB left): SNAP programs the parameters straight from params
 * into the next slot, AVERAGE reads the slots back through a window of
 * REEF_PERSONAL_AVG_WINDOW floats and sums, per parameter,
 * s_0 + s_1 + ... + s_{c-1} + params in that order, then divides by c + 1
 * (a float division, as the host's check computes it). */
uint32_t reef_personal_avg_slot_bytes(const reef_tail *t, const reef_nvm *nvm)
{
    uint32_t unit = nvm && nvm->write_unit ? nvm->write_unit : 4u, bytes = t->train_count * 4u;
    return (bytes + unit - 1u) / unit * unit;
}

static int do_snap(reef_personal *p, int8_t *out)
{
    const reef_nvm *nvm = p->avg;
    uint32_t slot, at, end;
    if (p->refused) return 0;
    if (!nvm || p->avg_count >= p->avg_slots) return 2;
    slot = reef_personal_avg_slot_bytes(p->tail, nvm);
    at = p->avg_at + (uint32_t)p->avg_count * slot;
    end = at + slot;
    if (end > nvm->size) return 2;
    if (nvm->erase_size) { /* flash: the pages this slot reaches, not erased since the slots were freed */
        uint32_t page = nvm->erase_size, from = p->avg_at + p->avg_erased;
        uint32_t upto = (end + page - 1u) / page * page;
        if (p->avg_at % page) return 2; /* the area starts on a page: erasing never reaches what lies before it */
        if (upto > from && nvm->erase(nvm->ctx, from, upto - from)) return 5;
        if (upto > from) p->avg_erased = upto - p->avg_at;
    }
    /* params are whole floats, the slot a multiple of the write unit: the
     * last unit may reach past the parameters, so it goes through a copy */
    {
        uint32_t bytes = p->tail->train_count * 4u, head = bytes / nvm->write_unit * nvm->write_unit;
        uint8_t tail[16] = {0};
        if (head && nvm->write(nvm->ctx, at, p->params, head)) return 5;
        if (head < slot) {
            copy_bytes(tail, (const uint8_t *)p->params + head, bytes - head);
            if (nvm->write(nvm->ctx, at + head, tail, slot - head)) return 5;
        }
    }
    p->avg_count++;
    out[0] = (int8_t)(p->avg_count > 127 ? 127 : p->avg_count);
    return 0;
}

static int do_average(reef_personal *p, int8_t *out)
{
    float sum[REEF_PERSONAL_AVG_WINDOW], window[REEF_PERSONAL_AVG_WINDOW];
    uint32_t n = p->tail->train_count, k, i, slot;
    int32_t c = p->avg_count, s;
    out[0] = 1;
    if (p->refused || c == 0 || !p->avg) {
        p->avg_count = 0, p->avg_erased = 0;
        return 0;
    }
    slot = reef_personal_avg_slot_bytes(p->tail, p->avg);
    for (k = 0; k < n; k += REEF_PERSONAL_AVG_WINDOW) {
        uint32_t m = n - k < REEF_PERSONAL_AVG_WINDOW ? n - k : REEF_PERSONAL_AVG_WINDOW;
        for (s = 0; s < c; s++) {
            if (p->avg->read(p->avg->ctx, p->avg_at + (uint32_t)s * slot + k * 4u, s ? window : sum, m * 4u)) return 5;
            if (s)
                for (i = 0; i < m; i++) sum[i] += window[i];
        }
        for (i = 0; i < m; i++) p->params[k + i] = (sum[i] + p->params[k + i]) / (float)(c + 1);
    }
    p->avg_count = 0, p->avg_erased = 0;
    out[0] = (int8_t)(c + 1 > 127 ? 127 : c + 1);
    return 0;
}

static void do_reset(reef_personal *p)
{
    reef_tail_state s = state_of(p);
    reef_tail_reset(p->tail, &s);
    p->site_count = 0;
    p->step = 0;
    p->replay_next = 0;
    p->hold_count = 0;
    p->refused = 0;
    p->epoch = 0;
    p->avg_count = 0;
    p->avg_erased = 0;
}

void reef_personal_init(reef_personal *p)
{
    reef_personal_layout(p);
    do_reset(p);
}

reef_nvm_status reef_personal_persist(const reef_personal *p, reef_nvm_record *rec)
{
    return reef_nvm_record_commit(rec, p->params, p->tail->train_count * 4u);
}

reef_nvm_status reef_personal_restore(reef_personal *p, const reef_nvm_record *rec)
{
    return restore_into(p, rec, p->params);
}

/* command and label are read before a temporal session's step writes over
 * the header (the firmware reads the record into the input tensor). */
static int record_command(reef_personal *p, uint8_t command, uint8_t label, uint8_t conf, const int8_t *record,
                          const int8_t *frame, int8_t *out, uint32_t out_size)
{
    float loss = 0.0f;
    int status;
    switch (command) {
    case REEF_PERSONAL_SEE: return p->temporal ? 0 : 1;
    case REEF_PERSONAL_ADD: return do_add(p, frame, label, 0);
    case REEF_PERSONAL_HOLD: return do_add(p, frame, label, 1);
    case REEF_PERSONAL_GUARD: return do_guard(p, (uint8_t)record[2], out);
    case REEF_PERSONAL_REFIT: return do_refit(p, out);
    case REEF_PERSONAL_PSEUDO: return do_pseudo(p, frame, label, conf, out);
    case REEF_PERSONAL_STEP:
        status = do_step(p, &loss);
        copy_bytes(out, &loss, 4);
        return status;
    case REEF_PERSONAL_EVAL: return do_eval(p, frame, p->params, out);
    case REEF_PERSONAL_BEFORE: return do_eval(p, frame, 0, out);
    case REEF_PERSONAL_SAVE: {
        uint32_t crc = reef_crc32(0, p->params, p->tail->train_count * 4u), n = p->tail->train_count;
        if (p->store && reef_personal_persist(p, p->store) != REEF_NVM_OK) return 5;
        copy_bytes(out, &crc, 4);
        copy_bytes(out + 4, &n, 4);
        return 0;
    }
    case REEF_PERSONAL_READ: {
        uint32_t at = ((uint32_t)(uint8_t)record[2] | (uint32_t)(uint8_t)record[3] << 8) * out_size;
        uint32_t total = p->tail->train_count * 4u, k;
        for (k = 0; k < out_size; k++) out[k] = at + k < total ? (int8_t)((const uint8_t *)p->params)[at + k] : 0;
        return 0;
    }
    case REEF_PERSONAL_RESET: do_reset(p); return 0;
    case REEF_PERSONAL_SNAP: return do_snap(p, out);
    case REEF_PERSONAL_AVERAGE: return do_average(p, out);
    default: return 1;
    }
}

int reef_personal_record(reef_personal *p, const int8_t *record, int8_t *out, uint32_t out_size)
{
    uint8_t command = (uint8_t)record[0], label = (uint8_t)record[1], conf = (uint8_t)record[3];
    const int8_t *frame = record + REEF_PERSONAL_HEADER;
    int status;
    if (out_size < 8) return 4;
    out[0] = out[1] = out[2] = out[3] = 0;
    if (p->temporal && (command == REEF_PERSONAL_SEE || command == REEF_PERSONAL_ADD || command == REEF_PERSONAL_HOLD ||
                        command == REEF_PERSONAL_EVAL || command == REEF_PERSONAL_BEFORE ||
                        command == REEF_PERSONAL_PSEUDO))
        frame = temporal_input(p, record);
    status = record_command(p, command, label, conf, record, frame, out, out_size);
    /* the tail's transient buffers may lie over the backgrounds (the
     * generated firmware shares them: only the intake needs both) */
    if (p->temporal && (command == REEF_PERSONAL_STEP || command == REEF_PERSONAL_GUARD ||
                        command == REEF_PERSONAL_EVAL || command == REEF_PERSONAL_BEFORE ||
                        command == REEF_PERSONAL_PSEUDO))
        restart_backgrounds(p);
    return status;
}
