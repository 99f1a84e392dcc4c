/* The device's personalization session built on the host: the same
 * reef_personal the generated firmware declares statically, here with
 * malloc'd buffers; and the replay samples. */
#include <stdlib.h>
#include <string.h>

#include "personal/personal.h"
#include "quant/quant.h"
#include "util/rng.h"

size_t reef_precord_size(const reef_lowered_model *m) { return REEF_PERSONAL_HEADER + (size_t)m->input_size; }

size_t reef_precord_size_stream(const reef_lowered_model *m)
{
    return REEF_PERSONAL_HEADER + (size_t)m->input_size / 2;
}

size_t reef_pout_size(const reef_ptail *t)
{
    (void)t;
    return REEF_PERSONAL_OUT;
}

/* Runs the body on one sample's pixels; the boundary is then in arena. */
static int body_on_pixels(const reef_lowered_model *m, const reef_ptail *t, const reef_input_map *map,
                          const uint8_t *pixels, uint8_t *arena, int8_t *boundary)
{
    reef_input_map_apply(map, pixels, (size_t)m->input_size, (int8_t *)(arena + m->input_at));
    if (reef_lowered_run_steps(m, arena, 0, t->boundary_step)) return -1;
    memcpy(boundary, arena + t->boundary_at, (size_t)t->tail.in_count);
    return 0;
}

/* The next sample of stratum want in order from *next on (stratum: the
 * class, or with groups the (group, class) pair); src->count when none. */
static uint32_t next_in_stratum(const reef_dataset *src, const uint32_t *order, uint32_t from, uint32_t want,
                                int by_group)
{
    uint32_t i;
    for (i = from; i < src->count; i++) {
        uint32_t at = order[i], stratum = src->labels[at];
        if (by_group && src->groups) stratum += (uint32_t)src->groups[at] * src->num_classes;
        if (stratum == want) break;
    }
    return i;
}

int reef_replay_build(const reef_graph *g, const reef_lowered_model *m, const reef_ptail *t, const reef_dataset *src,
                      int32_t replay_count, uint32_t seed, int by_group, int8_t *replay, uint8_t *labels,
                      reef_error *err)
{
    if (replay_count <= 0) return 0;
    if (src->count < (uint32_t)replay_count)
        return reef_fail(err, "the replay source has %u samples, fewer than the %d asked for", src->count, replay_count);
    /* a source without habitats is one habitat: class-balanced */
    uint32_t nstrata = src->num_classes * (by_group && src->groups && src->num_groups > 1 ? src->num_groups : 1);
    reef_input_map map;
    uint32_t *order = malloc(src->count * sizeof *order);
    uint8_t *arena = malloc(m->arena_size);
    uint32_t *next = calloc(nstrata, sizeof *next);
    int rc = !order || !arena || !next ? reef_fail(err, "out of memory") : 0;
    /* a fixed shuffle, then the strata taken in turn: the classes
     * (class-balanced), or every habitat's classes (habitat- and
     * class-balanced), an exhausted stratum giving its turn to the next */
    reef_rng rng;
    reef_rng_seed(&rng, seed);
    for (uint32_t i = 0; !rc && i < src->count; i++) order[i] = i;
    for (uint32_t i = src->count - 1; !rc && i > 0; i--) {
        uint32_t j = reef_rng_below(&rng, i + 1);
        uint32_t tmp = order[i];
        order[i] = order[j];
        order[j] = tmp;
    }
    if (!rc) rc = reef_input_map_from_graph(g, &map, err);
    uint32_t turn = 0;
    for (int32_t k = 0; !rc && k < replay_count; k++) {
        uint32_t i = src->count, tried;
        for (tried = 0; tried < nstrata && i == src->count; tried++, turn++) {
            uint32_t want = turn % nstrata;
            i = next_in_stratum(src, order, next[want], want, by_group);
            next[want] = i < src->count ? i + 1 : src->count;
        }
        if (i == src->count) {
            rc = reef_fail(err, "the replay source has too few samples per class");
            break;
        }
        labels[k] = (uint8_t)src->labels[order[i]];
        if (body_on_pixels(m, t, &map, reef_dataset_sample(src, order[i]), arena, replay + (size_t)k * t->tail.in_count))
            rc = reef_fail(err, "the int8 body failed on a replay sample");
    }
    free(next);
    free(order);
    free(arena);
    return rc;
}

int reef_replay_teacher(const reef_ptail *t, const int8_t *replay, int32_t replay_count, float *teacher,
                        reef_error *err)
{
    if (t->tail.q) return reef_fail(err, "distillation needs the float tail (scheme float)");
    float *acts = malloc(((size_t)t->tail.act_count + 1) * sizeof *acts);
    if (!acts) return reef_fail(err, "out of memory");
    for (int32_t k = 0; k < replay_count; k++) {
        const float *logits =
            reef_tail_forward(&t->tail, NULL, t->params0, replay + (size_t)k * (size_t)t->tail.in_count, acts);
        memcpy(teacher + (size_t)k * (size_t)t->tail.nclasses, logits, (size_t)t->tail.nclasses * sizeof *logits);
    }
    free(acts);
    return 0;
}

static void *own(reef_psession *s, size_t bytes)
{
    for (int i = 0; i < 12; i++)
        if (!s->blocks[i]) return s->blocks[i] = calloc(1, bytes ? bytes : 1);
    return NULL;
}

void reef_psession_free(reef_psession *s)
{
    for (int i = 0; i < 12; i++) free(s->blocks[i]);
    memset(s, 0, sizeof *s);
}

int reef_psession_init(reef_psession *s, const reef_lowered_model *m, const reef_ptail *t,
                       const reef_pplan *plan, const int8_t *replay, const uint8_t *replay_labels,
                       reef_error *err)
{
    memset(s, 0, sizeof *s);
    reef_personal *p = &s->p;
    uint32_t transient = reef_personal_transient_bytes(&t->tail);
    p->arena_size = (uint32_t)(m->arena_size > transient ? m->arena_size : transient);
    p->steps = m->table;
    p->body_steps = t->boundary_step;
    p->model_steps = m->nsteps;
    p->output_at = m->output_at;
    p->output_size = m->output_size;
    p->input_at = m->input_at;
    p->input_size = m->input_size;
    p->boundary_at = t->boundary_at;
    p->tail = &t->tail;
    p->hp = plan->hp;
    p->params0 = t->params0;
    p->site_cap = plan->site_cap;
    p->replay = replay;
    p->replay_labels = replay_labels;
    p->replay_count = replay ? plan->replay_count : 0;
    size_t nparam = t->tail.train_count, in = (size_t)t->tail.in_count;
    p->arena = own(s, p->arena_size);
    p->params = own(s, nparam * sizeof(float));
    p->velocity = plan->hp.momentum != 0.0f ? own(s, nparam * sizeof(float)) : NULL;
    p->site = own(s, (size_t)plan->site_cap * in);
    p->site_labels = own(s, (size_t)plan->site_cap);
    p->order = own(s, (size_t)plan->site_cap * sizeof(uint16_t));
    p->boundary = own(s, in);
    int32_t slots = reef_pplan_avg_slots(plan);
    uint8_t *area = NULL;
    if (slots > 0) { /* the device's flash area, here host memory (written once per slot, as programmed flash) */
        uint32_t bytes = reef_pplan_avg_bytes(plan, (uint32_t)nparam, 4096u);
        area = own(s, bytes);
        if (area) {
            reef_nvm_mem_init(&s->avg_nvm, area, bytes);
            p->avg = &s->avg_nvm, p->avg_at = 0, p->avg_slots = slots;
        }
    }
    if ((slots > 0 && !area) || !p->arena || !p->params || (plan->hp.momentum != 0.0f && !p->velocity) || !p->site || !p->site_labels ||
        !p->order || !p->boundary) {
        reef_psession_free(s);
        return reef_fail(err, "out of memory");
    }
    if (plan->hp.distill > 0.0f && p->replay_count > 0) { /* session 16: what the device keeps in flash */
        float *teacher = own(s, (size_t)p->replay_count * (size_t)t->tail.nclasses * sizeof(float));
        if (!teacher) {
            reef_psession_free(s);
            return reef_fail(err, "out of memory");
        }
        if (reef_replay_teacher(t, replay, p->replay_count, teacher, err)) {
            reef_psession_free(s);
            return -1;
        }
        p->replay_teacher = teacher;
    }
    reef_personal_init(p);
    return 0;
}

int reef_psession_temporal(reef_psession *s, const reef_lowered_model *m, const reef_input_map *map, reef_error *err)
{
    if (m->input_rank != 4 || m->input_shape[3] != 2 || map->channels != 2)
        return reef_fail(err, "a temporal session needs a model whose input has 2 channels [d, s]");
    uint32_t pixels = (uint32_t)m->input_size / 2u;
    uint16_t *mean = own(s, pixels * sizeof(uint16_t)), *slow = own(s, pixels * sizeof(uint16_t));
    if (!mean || !slow) return reef_fail(err, "out of memory");
    memcpy(s->input_lut[0], map->lut[0], 256);
    memcpy(s->input_lut[1], map->lut[1], 256);
    reef_temporal_init(&s->temporal, REEF_TEMPORAL_SLOW, mean, NULL, 1, slow, pixels);
    s->p.temporal = &s->temporal;
    s->p.input_map = (const int8_t(*)[256])s->input_lut;
    return 0;
}
