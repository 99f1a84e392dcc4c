/* The int8 model's predictions through the host interpreter (the lowered
 * steps, i.e. what the microcontroller computes): see quant.h. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "codegen/lower.h"
#include "quant/quant.h"

#define MAX_THREADS 4

typedef struct predict_job {
    const reef_lowered_model *lm;
    const reef_input_map *map;
    const reef_dataset *ds;
    const uint32_t *idx;   /* (n) or NULL */
    int first, last;       /* this thread's samples [first, last) */
    uint16_t *pred;
    int failed;
} predict_job;

static int argmax_s8(const int8_t *v, int n)
{
    int best = 0;
    for (int k = 1; k < n; k++)
        if (v[k] > v[best]) best = k;
    return best;
}

static void *predict_slice(void *arg)
{
    predict_job *j = arg;
    const reef_lowered_model *lm = j->lm;
    uint8_t *arena = malloc(lm->arena_size ? lm->arena_size : 1);
    int8_t *in = malloc((size_t)lm->input_size), *out = malloc((size_t)lm->output_size);
    if (!arena || !in || !out) j->failed = 1;
    const size_t ss = reef_dataset_sample_size(j->ds);
    for (int i = j->first; i < j->last && !j->failed; i++) {
        const uint32_t s = j->idx ? j->idx[i] : (uint32_t)i;
        reef_input_map_apply(j->map, reef_dataset_sample(j->ds, s), ss, in);
        if (reef_lowered_invoke_arena(lm, arena, in, out)) j->failed = 2;
        j->pred[i] = (uint16_t)argmax_s8(out, lm->output_size);
    }
    free(arena), free(in), free(out);
    return NULL;
}


int reef_int8_predict(const reef_graph *g, const reef_dataset *ds, const uint32_t *idx, int n, uint16_t *pred,
                      reef_error *err)
{
    reef_lowered_model lm;
    reef_input_map map;
    if (reef_lower(g, &lm, err)) return -1;
    if (reef_dataset_check_fits(ds, "the data", lm.input_shape, lm.input_rank, lm.output_size,
                                g->name ? g->name : "?", err) || reef_input_map_from_graph(g, &map, err)) {
        reef_lowered_free(&lm);
        return -1;
    }
    if (!idx) n = (int)ds->count;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    int nt = cores < 1 ? 1 : cores > MAX_THREADS ? MAX_THREADS : (int)cores;
    if (nt > n / 64) nt = n / 64 > 0 ? n / 64 : 1;  // a thread is worth it for 64 samples or more
    predict_job jobs[MAX_THREADS];
    pthread_t threads[MAX_THREADS];
    int started[MAX_THREADS] = {0};
    for (int t = 0; t < nt; t++) {
        jobs[t] = (predict_job){&lm, &map, ds, idx, (int)((int64_t)n * t / nt), (int)((int64_t)n * (t + 1) / nt),
                                pred, 0};
        if (t > 0) started[t] = pthread_create(&threads[t], NULL, predict_slice, &jobs[t]) == 0;
    }
    predict_slice(&jobs[0]);
    int failed = jobs[0].failed;
    for (int t = 1; t < nt; t++) {
        if (started[t]) pthread_join(threads[t], NULL);
        else predict_slice(&jobs[t]);  // no thread: run its share here
        if (jobs[t].failed) failed = jobs[t].failed;
    }
    reef_lowered_free(&lm);
    if (failed == 1) return reef_fail(err, "out of memory");
    if (failed) return reef_fail(err, "a kernel of model '%s' rejected its arguments", g->name ? g->name : "?");
    return 0;
}

int reef_is_tflite(const uint8_t *head, size_t size)
{
    return size >= 8 && !memcmp(head + 4, "TFL3", 4);
}
