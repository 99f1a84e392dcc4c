/* Power failures on the host (issue 13): the runtime's resumable step table
 * (runtime/src/resume.c, nvm.c: the very C the MCU runs) over an NVM in
 * host memory that loses power at a chosen write, so failure campaigns of
 * hundreds of thousands of failures cost milliseconds each instead of a
 * QEMU start (src/firmware/run_intermittent.c).
 *
 * A power failure is a longjmp out of the NVM write hook, after a chosen
 * number of write calls since the boot and a chosen number of bytes of the
 * call in flight; the byte in flight is TORN (each bit old or new, by a
 * mask). Then the "MCU" reboots: the arena (SRAM) is filled with a poison
 * pattern, the reef_resume state is made anew by reef_resume_boot, and only
 * the NVM array survived.
 *
 * Why failing at NVM writes covers every instant of the run: between two
 * NVM writes the NVM does not change and SRAM is lost anyway, so a failure
 * anywhere between write call k and k + 1 leaves exactly the state of a
 * failure just before call k + 1. So failing before every write call of a
 * run, and inside a call at every byte (the record's writes) or at some
 * bytes (the tensors' saves), is exhaustive over the instants of that run.
 *
 *   reef_host_rig g;
 *   reef_host_rig_init(&g, &m, &plan, inputs, n, want, &err);   // want: continuous outputs
 *   reef_host_fail_exhaustive(&g, &stats, NULL, NULL, &err);
 *   reef_host_fail_random(&g, 100000, seed, &stats, NULL, NULL, &err);
 *   reef_host_rig_free(&g);
 *
 * Times are MEASURED wall time of this host. */
#ifndef REEF_CODEGEN_INTERMITTENT_HOST_H
#define REEF_CODEGEN_INTERMITTENT_HOST_H

#include <setjmp.h>
#include <stdint.h>

#include "codegen/intermittent.h"
#include "codegen/lower.h"
#include "reef/nvm.h"
#include "reef/resume.h"
#include "util/err.h"

/* An NVM in host memory, byte-write (FRAM-like), whose power can fail. */
typedef struct reef_power_nvm {
    reef_nvm nvm;           /* hooks over mem; nvm.ctx points here */
    uint8_t *mem;
    uint32_t size;
    uint32_t record_at, record_end; /* the progress record's slots */
    /* The armed failure: power fails in write call fail_call (counted from
     * arming), after fail_byte % length of its bytes landed, the next byte
     * torn to (old & ~tear) | (new & tear). fail_call < 0: none armed. */
    long fail_call;
    uint32_t fail_byte;
    uint8_t tear;
    long calls_armed;       /* write calls since arming */
    int fired_in_record;    /* where the last failure struck */
    jmp_buf *off;           /* where a failure jumps to */
    /* a trace of the write calls of a run, when trace != NULL */
    uint32_t *trace_at, *trace_bytes;
    long ntrace, trace_cap;
} reef_power_nvm;

/* Figures of a campaign (cumulative over calls). */
typedef struct reef_fail_stats {
    long runs;              /* sequences of jobs from a fresh NVM to the end */
    long failures;          /* power failures injected (longjmps taken) */
    long record_failures;   /* ... of them inside a write to the progress record */
    long torn;              /* ... of them tearing a byte (the rest fell between writes) */
    long boots;             /* all boots, the first of each run included */
    long resumes;           /* boots that continued a job from NVM progress */
    long outputs, outputs_differing; /* jobs' outputs checked against the continuous run */
    long hangs;             /* runs that needed more than the boot limit */
    double seconds;         /* measured wall time */
} reef_fail_stats;

typedef void (*reef_fail_progress)(void *ctx, long done, long total);

/* Which points of a job commit (reef_resume.commit_now, reef/resume.h). */
typedef enum reef_commit_policy {
    REEF_COMMIT_EVERY = 0,  /* every point (no commit_now) */
    REEF_COMMIT_ENDS = 1,   /* the supply never low: a job commits at its first and last point only */
    REEF_COMMIT_RANDOM = 2  /* each point commits or passes at random (commit_seed, the boot, the point) */
} reef_commit_policy;

typedef struct reef_host_rig {
    const reef_lowered_model *m;
    const reef_intermittent_plan *plan;
    uint8_t *arena;         /* m->arena_size (+ slack) */
    reef_resumable r;
    reef_power_nvm pw;
    const int8_t *inputs;   /* (n, input_bytes) */
    const int8_t *want;     /* (n, output_bytes): the continuous run */
    int8_t *got;
    int n;
    long calls_per_run, bytes_per_run, record_calls_per_run; /* of a failure-free run */
    uint32_t *run_at, *run_bytes; /* its write calls */
    int max_boots;          /* per run; more is a hang (default 100000) */
    int point_stride;       /* exhaustive campaign: every point_stride-th point only (default 1: all) */
    int commit_policy;      /* reef_commit_policy: which points commit (default every one) */
    uint64_t commit_seed;   /* REEF_COMMIT_RANDOM's */
} reef_host_rig;

/* Makes the rig and does one failure-free run: its outputs must equal
 * want (else an error naming the job), and its write calls are traced. */
int reef_host_rig_init(reef_host_rig *g, const reef_lowered_model *m, const reef_intermittent_plan *plan,
                       const int8_t *inputs, int n, const int8_t *want, reef_error *err);
void reef_host_rig_free(reef_host_rig *g);

/* Sets which points commit (reef_commit_policy; seed for RANDOM) and traces
 * the failure-free run again under it. */
int reef_host_rig_policy(reef_host_rig *g, int policy, uint64_t seed, reef_error *err);

/* One run per failure point of the failure-free run: before every write
 * call; inside every write to the progress record at every byte (torn);
 * inside every tensor save at its middle and last byte (torn), or at every
 * byte with every_byte. Then the run goes on without failure. Returns the
 * number of points, or -1 on an error (a kernel or the NVM refusing: not a
 * differing output, which is counted). */
long reef_host_fail_exhaustive(reef_host_rig *g, int every_byte, reef_fail_stats *st, reef_fail_progress progress,
                               void *ctx, reef_error *err);

/* Runs from a fresh NVM in which every boot but one in four fails at a
 * random point, drawn in equal shares: within the boot's first 8 write
 * calls (failures while recovering), at any write call of a job, or by
 * byte over the bytes a job writes; a random byte of the call is torn.
 * Until `failures` failures have been injected. 0, or -1 on an error. */
int reef_host_fail_random(reef_host_rig *g, long failures, uint64_t seed, reef_fail_stats *st,
                          reef_fail_progress progress, void *ctx, reef_error *err);

#endif
