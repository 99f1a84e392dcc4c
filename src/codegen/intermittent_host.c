/* Power failures on the host: an NVM in host memory that fails at a chosen
 * write, the boot loop around the runtime's resumable step table, and the
 * exhaustive and random campaigns (intermittent_host.h). */
#define _POSIX_C_SOURCE 200809L
#include "codegen/intermittent_host.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static uint32_t rand32(uint64_t *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(*s >> 33);
}

/* ---- the NVM whose power fails ---------------------------------------- */

static int pw_read(void *ctx, uint32_t at, void *dst, uint32_t bytes)
{
    reef_power_nvm *p = ctx;
    if (at > p->size || bytes > p->size - at) return -1;
    memcpy(dst, p->mem + at, bytes);
    return 0;
}

static int trace_call(reef_power_nvm *p, uint32_t at, uint32_t bytes)
{
    if (p->ntrace == p->trace_cap) {
        long cap = p->trace_cap ? 2 * p->trace_cap : 256;
        uint32_t *a = realloc(p->trace_at, (size_t)cap * sizeof *a);
        if (a) p->trace_at = a;
        uint32_t *b = a ? realloc(p->trace_bytes, (size_t)cap * sizeof *b) : NULL;
        if (!b) return -1;
        p->trace_bytes = b, p->trace_cap = cap;
    }
    p->trace_at[p->ntrace] = at, p->trace_bytes[p->ntrace++] = bytes;
    return 0;
}

/* Bytes land in address order (as the memory-mapped backend's stores);
 * when the armed call comes, the power fails inside it. */
static int pw_write(void *ctx, uint32_t at, const void *src, uint32_t bytes)
{
    reef_power_nvm *p = ctx;
    const uint8_t *in = src;
    if (at > p->size || bytes > p->size - at) return -1;
    if (p->trace_at && trace_call(p, at, bytes)) return -1;
    if (p->fail_call < 0 || p->calls_armed++ != p->fail_call) {
        memcpy(p->mem + at, in, bytes);
        return 0;
    }
    uint32_t stop = bytes ? p->fail_byte % bytes : 0;
    memcpy(p->mem + at, in, stop);
    if (stop < bytes) p->mem[at + stop] = (uint8_t)((p->mem[at + stop] & ~p->tear) | (in[stop] & p->tear));
    p->fired_in_record = at >= p->record_at && at < p->record_end;
    p->fail_call = -1;
    longjmp(*p->off, p->tear && stop < bytes ? 2 : 1);
}

static void pw_arm(reef_power_nvm *p, long call, uint32_t byte, uint8_t tear)
{
    p->fail_call = call, p->fail_byte = byte, p->tear = tear, p->calls_armed = 0;
}

/* ---- the boot loop ----------------------------------------------------- */

/* How each boot's failure is chosen. */
typedef struct arming {
    int single;             /* 1: only boot 0 fails, at (call, byte, tear) */
    long call;
    uint32_t byte;
    uint8_t tear;
    uint64_t rng;           /* else random, like reef_host_fail_random says */
} arming;

static void arm_boot(reef_host_rig *g, arming *a, int boot)
{
    reef_power_nvm *p = &g->pw;
    if (a->single) {
        if (boot == 0) pw_arm(p, a->call, a->byte, a->tear);
        else pw_arm(p, -1, 0, 0);
        return;
    }
    long per_job_calls = g->calls_per_run / g->n + 1, per_job_bytes = g->bytes_per_run / g->n + 1;
    uint8_t tear = (uint8_t)rand32(&a->rng);
    uint32_t how = rand32(&a->rng) % 8;
    if (how < 2) {
        pw_arm(p, -1, 0, 0);
    } else if (how < 4) { /* soon after the boot: failures while recovering */
        pw_arm(p, (long)(rand32(&a->rng) % 8u), rand32(&a->rng), tear);
    } else if (how < 6) { /* by write call, a random byte of it */
        pw_arm(p, (long)(rand32(&a->rng) % (uint32_t)per_job_calls), rand32(&a->rng), tear);
    } else { /* by byte: the call holding the k-th byte a job writes (from this boot's start) */
        long k = (long)(rand32(&a->rng) % (uint32_t)per_job_bytes), call = 0;
        while (call < g->calls_per_run && k >= (long)g->run_bytes[call]) k -= g->run_bytes[call++];
        pw_arm(p, call, (uint32_t)k, tear);
    }
}

static void poison_arena(reef_host_rig *g, int boot)
{
    for (size_t i = 0; i < g->m->arena_size; i++) g->arena[i] = (uint8_t)(0xA5u ^ (unsigned)boot ^ (i * 31u));
}

typedef struct policy_ctx {
    int policy;
    uint64_t seed;
    int boot;
} policy_ctx;

static int commit_now(void *ctx, uint32_t point)
{
    const policy_ctx *p = ctx;
    if (p->policy == REEF_COMMIT_ENDS) return 0;
    uint64_t x = p->seed ^ ((uint64_t)p->boot << 32) ^ point;
    x = (x ^ (x >> 31)) * 0x9E3779B97F4A7C15ull;
    return (int)((x >> 40) & 1u);
}

/* Runs the rig's jobs from the NVM as it is to the end, booting again after
 * every failure. 0, or -1 on an error. */
static int run_jobs(reef_host_rig *g, arming *a, reef_fail_stats *st, reef_error *err)
{
    jmp_buf off;
    volatile int boots = 0;
    int kind;
    g->pw.off = &off;
    if ((kind = setjmp(off)) != 0) { /* the power failed: SRAM and the C state are gone */
        st->failures++;
        st->record_failures += g->pw.fired_in_record;
        st->torn += kind == 2;
    }
    while (boots < g->max_boots) {
        reef_resume res;
        arm_boot(g, a, boots);
        poison_arena(g, boots);
        boots++;
        st->boots++;
        if (reef_resume_boot(&res, &g->r, &g->pw.nvm) != REEF_RESUME_OK) {
            g->pw.off = NULL;
            return reef_fail(err, "intermittent: the boot found no usable NVM (geometry or I/O)");
        }
        policy_ctx pc = {g->commit_policy, g->commit_seed, boots};
        if (g->commit_policy != REEF_COMMIT_EVERY) res.commit_now = commit_now, res.commit_ctx = &pc;
        uint32_t job = res.has_progress ? res.job : 0;
        st->resumes += res.has_progress && boots > 1;
        for (; job < (uint32_t)g->n; job++) {
            int rc = reef_resume_run(&res, job, g->inputs + (size_t)job * g->m->input_bytes,
                                     g->got + (size_t)job * g->m->output_bytes);
            if (rc != REEF_RESUME_OK) {
                g->pw.off = NULL;
                return reef_fail(err, "intermittent: job %u stopped with error %d after boot %d", job, rc, boots);
            }
        }
        pw_arm(&g->pw, -1, 0, 0);
        g->pw.off = NULL;
        return 0;
    }
    pw_arm(&g->pw, -1, 0, 0);
    g->pw.off = NULL;
    st->hangs++;
    return 0;
}

/* A run from a fresh NVM, its outputs checked. */
static int fresh_run(reef_host_rig *g, arming *a, reef_fail_stats *st, reef_error *err)
{
    memset(g->pw.mem, 0, g->pw.size);
    memset(g->got, 0x5A, (size_t)g->n * g->m->output_bytes);
    long hangs = st->hangs;
    if (run_jobs(g, a, st, err)) return -1;
    st->runs++;
    if (st->hangs != hangs) return 0;
    for (int j = 0; j < g->n; j++) {
        size_t at = (size_t)j * g->m->output_bytes;
        st->outputs++;
        st->outputs_differing += memcmp(g->got + at, g->want + at, g->m->output_bytes) != 0;
    }
    return 0;
}

/* ---- the rig ----------------------------------------------------------- */

/* The failure-free run: its outputs must be the continuous ones; its write
 * calls are traced (the failure points of the exhaustive campaign). */
static int trace_run(reef_host_rig *g, reef_error *err)
{
    const reef_lowered_model *m = g->m;
    reef_fail_stats st = {0};
    arming none = {1, -1, 0, 0, 0};
    free(g->run_at), free(g->run_bytes);
    g->run_at = g->run_bytes = NULL;
    g->calls_per_run = g->bytes_per_run = g->record_calls_per_run = 0;
    g->pw.ntrace = g->pw.trace_cap = 0;
    g->pw.trace_at = malloc(sizeof *g->pw.trace_at);
    if (!g->pw.trace_at || fresh_run(g, &none, &st, err)) {
        free(g->pw.trace_at), free(g->pw.trace_bytes);
        g->pw.trace_at = g->pw.trace_bytes = NULL;
        return err->msg[0] ? -1 : reef_fail(err, "out of memory");
    }
    g->run_at = g->pw.trace_at, g->run_bytes = g->pw.trace_bytes, g->calls_per_run = g->pw.ntrace;
    g->pw.trace_at = NULL, g->pw.trace_bytes = NULL;
    for (int j = 0; j < g->n; j++)
        if (memcmp(g->got + (size_t)j * m->output_bytes, g->want + (size_t)j * m->output_bytes, m->output_bytes))
            return reef_fail(err, "intermittent: input %d: the failure-free resumable run differs from the "
                                  "continuous run", j);
    for (long k = 0; k < g->calls_per_run; k++) {
        g->bytes_per_run += g->run_bytes[k];
        g->record_calls_per_run += g->run_at[k] >= g->pw.record_at && g->run_at[k] < g->pw.record_end;
    }
    return 0;
}

int reef_host_rig_init(reef_host_rig *g, const reef_lowered_model *m, const reef_intermittent_plan *plan,
                       const int8_t *inputs, int n, const int8_t *want, reef_error *err)
{
    memset(g, 0, sizeof *g);
    g->m = m, g->plan = plan, g->inputs = inputs, g->n = n, g->want = want, g->max_boots = 100000, g->point_stride = 1;
    if (n <= 0) return reef_fail(err, "intermittent: no inputs");
    g->arena = malloc(m->arena_size + 8);
    g->got = malloc((size_t)n * m->output_bytes);
    g->pw.size = plan->nvm_bytes;
    g->pw.mem = calloc(1, plan->nvm_bytes ? plan->nvm_bytes : 1);
    if (!g->arena || !g->got || !g->pw.mem) {
        reef_host_rig_free(g);
        return reef_fail(err, "out of memory");
    }
    reef_intermittent_resumable(m, plan, g->arena, &g->r);
    reef_nvm *nvm = &g->pw.nvm;
    nvm->ctx = &g->pw, nvm->size = g->pw.size, nvm->write_unit = 1, nvm->erase_size = 0;
    nvm->read = pw_read, nvm->write = pw_write, nvm->erase = NULL;
    g->pw.record_at = plan->record_at, g->pw.record_end = plan->record_at + 2 * plan->record_slot_size;
    pw_arm(&g->pw, -1, 0, 0);
    if (trace_run(g, err)) {
        reef_host_rig_free(g);
        return -1;
    }
    return 0;
}

int reef_host_rig_policy(reef_host_rig *g, int policy, uint64_t seed, reef_error *err)
{
    g->commit_policy = policy, g->commit_seed = seed;
    return trace_run(g, err);
}

void reef_host_rig_free(reef_host_rig *g)
{
    free(g->arena), free(g->got), free(g->pw.mem), free(g->pw.trace_at), free(g->pw.trace_bytes);
    free(g->run_at), free(g->run_bytes);
    memset(g, 0, sizeof *g);
}

/* ---- campaigns --------------------------------------------------------- */

/* The failure points inside write call k: its start (clean), then torn
 * bytes: every byte of a record write, the middle and last of a save. */
static int points_in_call(const reef_host_rig *g, long k, int every_byte)
{
    uint32_t bytes = g->run_bytes[k];
    int record = g->run_at[k] >= g->pw.record_at && g->run_at[k] < g->pw.record_end;
    if (record || every_byte) return 1 + (int)bytes;
    return 1 + (bytes > 2 ? 2 : bytes > 1 ? 1 : 0);
}

static uint32_t point_byte(const reef_host_rig *g, long k, int i, int every_byte)
{
    uint32_t bytes = g->run_bytes[k];
    int record = g->run_at[k] >= g->pw.record_at && g->run_at[k] < g->pw.record_end;
    if (i == 0) return 0;
    if (record || every_byte) return (uint32_t)(i - 1);
    return i == 1 && bytes > 2 ? bytes / 2 : bytes - 1;
}

long reef_host_fail_exhaustive(reef_host_rig *g, int every_byte, reef_fail_stats *st, reef_fail_progress progress,
                               void *ctx, reef_error *err)
{
    double t0 = now_s();
    long total = 0, done = 0;
    uint64_t rng = 0x9E3779B97F4A7C15ull;
    for (long k = 0; k < g->calls_per_run; k++) total += points_in_call(g, k, every_byte);
    long stride = g->point_stride > 1 ? g->point_stride : 1, point = 0;
    total = (total + stride - 1) / stride;
    for (long k = 0; k < g->calls_per_run; k++)
        for (int i = 0; i < points_in_call(g, k, every_byte); i++) {
            if (point++ % stride) continue;
            /* a torn byte gets some bits of the new value, never none or all */
            uint8_t tear = 0;
            while (i && (tear == 0 || tear == 0xFF)) tear = (uint8_t)rand32(&rng);
            arming a = {1, k, point_byte(g, k, i, every_byte), tear, 0};
            if (fresh_run(g, &a, st, err)) return -1;
            if (progress && (done % 64 == 0 || done + 1 == total)) progress(ctx, done + 1, total);
            done++;
        }
    st->seconds += now_s() - t0;
    return total;
}

int reef_host_fail_random(reef_host_rig *g, long failures, uint64_t seed, reef_fail_stats *st,
                          reef_fail_progress progress, void *ctx, reef_error *err)
{
    double t0 = now_s();
    long start = st->failures;
    arming a = {0, 0, 0, 0, seed * 0x9E3779B97F4A7C15ull + 1};
    while (st->failures - start < failures) {
        if (fresh_run(g, &a, st, err)) return -1;
        if (progress) progress(ctx, st->failures - start < failures ? st->failures - start : failures, failures);
    }
    st->seconds += now_s() - t0;
    return 0;
}
