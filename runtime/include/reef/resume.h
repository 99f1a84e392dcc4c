/* reef runtime: inference that survives power failures.
 *
 * The step table runs as a sequence of atomic UNITS: a few whole steps, or
 * one TILE of a step too costly for one charge of the capacitor (output
 * rows of a convolution or pool, output channels of a fully-connected
 * layer, elements of an ADD). Between units lie COMMIT POINTS 0..U: point
 * c means "units 0..c-1 are done". At each point the tensors still needed
 * later (live) are in NVM, and a torn-write-safe record (reef/nvm.h) holds
 * (model id, job, c). SRAM is lost at a power failure; after it the MCU
 * boots, reads the record, copies point c's live tensors back from NVM into
 * the arena and runs unit c again.
 *
 * Why a unit may run twice and still give the continuous result
 * (idempotence): the generator (src/codegen/intermittent.c) gives each
 * tensor an NVM region that stays its own from the point BEFORE the unit
 * that first writes it to the last point it is live. So the saves after
 * unit c never overwrite in NVM anything point c's restore reads, and a
 * failure anywhere in unit c or in its saves leaves point c intact; the
 * record then moves to c + 1 atomically. In SRAM a re-run starts from the
 * restored live tensors, so overlapping planned buffers (the arena plan is
 * unchanged) are harmless: dead bytes are rewritten before they are read.
 *
 * What is checkpointed: only tensors live at a point, and of those only
 * the bytes written since the previous point (a tensor live across several
 * points is saved once).
 *
 * Commits only when the energy runs low (optional): a caller may give
 * reef_resume a commit_now hook, asked at every point but the first and
 * the last of a job; when it says no, the point is passed without writing
 * anything, and the next commit saves what every passed point would have
 * saved that is still live then. On continuous power (the supply never
 * low) a job then writes its input and its output only. Why it stays
 * correct: the generator gives every checkpointed tensor an NVM region of
 * its own (no two tensors share NVM bytes), so whatever a commit writes
 * after the last committed point p never touches what p's restore reads;
 * and re-saving a tensor rewrites its region with the same bytes. Activations stay in SRAM while running: the
 * kernels then run at SRAM speed, and NVM traffic is one write per live
 * byte per point instead of every store (docs/intermittent.md has the
 * costs of the alternative, activations living in FRAM).
 *
 * C99, freestanding. */
#ifndef REEF_RT_RESUME_H
#define REEF_RT_RESUME_H

#include <stdint.h>

#include "reef/nvm.h"
#include "reef/step.h"

/* How a unit runs its step. */
typedef enum reef_tile_kind {
    REEF_TILE_NONE = 0,        /* steps [step, step + step_count), whole */
    REEF_TILE_CONV_ROWS = 1,   /* output rows [begin, end) of a CONV_2D step */
    REEF_TILE_DW_ROWS = 2,     /* ... of a DEPTHWISE_CONV_2D step */
    REEF_TILE_POOL_ROWS = 3,   /* ... of an AVERAGE_ or MAX_POOL_2D step */
    REEF_TILE_FC_CHANNELS = 4, /* output channels [begin, end) of a FULLY_CONNECTED step */
    REEF_TILE_ADD_ELEMENTS = 5 /* elements [begin, end) of an ADD step */
} reef_tile_kind;

/* Bytes [arena_at, arena_at + bytes) of the arena, kept in NVM at nvm_at. */
typedef struct reef_span {
    uint32_t arena_at;
    uint32_t nvm_at;
    uint32_t bytes;
} reef_span;

typedef struct reef_unit {
    uint16_t step;       /* first step */
    uint16_t step_count; /* whole steps (REEF_TILE_NONE), else 1 */
    uint16_t tile_kind;  /* reef_tile_kind */
    uint16_t tile;       /* index of the tile in its step (0 when whole) */
    int32_t begin, end;  /* the tile's range (see reef_tile_kind) */
} reef_unit;

/* A model's resumable schedule, generated with its step table. Point c's
 * save list is saves[save_index[c] .. save_index[c + 1]) (what becomes live
 * at c: the input at 0, unit c-1's live output after it), its restore list
 * restores[restore_index[c] .. restore_index[c + 1]). */
typedef struct reef_resumable {
    uint32_t model_id;           /* changes with the model: stale NVM is ignored */
    const reef_step *steps;
    uint8_t *arena;
    int32_t unit_count;          /* U */
    const reef_unit *units;      /* (U) */
    const reef_span *saves;
    const uint32_t *save_index;  /* (U + 2) */
    const reef_span *restores;
    const uint32_t *restore_index; /* (U + 2) */
    uint32_t input_at, input_bytes;   /* in the arena */
    uint32_t output_at, output_bytes;
    uint32_t record_at, record_slot_size; /* the progress record, in NVM */
    uint32_t nvm_bytes;          /* NVM the schedule uses: [0, nvm_bytes) */
    /* (save_index[U + 1]) for each save span, the last point where its
     * tensor is live: a commit at point c writes the spans of the points it
     * covers whose tensor is live at c. NULL: every span (commit_now must
     * then be NULL too). */
    const uint32_t *save_live_to;
} reef_resumable;

/* What a boot found, and the open record. */
typedef struct reef_resume {
    const reef_resumable *model;
    const reef_nvm *nvm;
    reef_nvm_record record;
    int has_progress;  /* NVM holds progress of this model */
    uint32_t job;      /* ... of this job (the caller's inference number) */
    uint32_t point;    /* ... up to this commit point */
    uint32_t commits;  /* commits made since boot (for reports) */
    uint32_t passed;   /* points passed without a commit since boot */
    uint32_t saved_to; /* the job's saves are done up to this point */
    /* Asked at each point c (0 < c < U): commit now? NULL: always. Set it
     * after reef_resume_boot (which clears it), e.g. from the supply
     * voltage: commit when what is left in the capacitor might not finish
     * the next unit and its commit. */
    int (*commit_now)(void *ctx, uint32_t point);
    void *commit_ctx;
} reef_resume;

enum {
    REEF_RESUME_OK = 0,
    REEF_RESUME_ARG_ERROR = -1,  /* bad schedule, NVM too small */
    REEF_RESUME_NVM_ERROR = -2,  /* a backend hook failed */
    REEF_RESUME_STEP_ERROR = -3  /* a kernel rejected its arguments */
};

/* After every boot: opens the record and reads the progress. */
int reef_resume_boot(reef_resume *r, const reef_resumable *model, const reef_nvm *nvm);

/* 1 when NVM holds progress of job (so the caller need not supply its
 * input again: it was checkpointed). */
int reef_resume_has_job(const reef_resume *r, uint32_t job);

/* Runs job to its end and copies the output (output_bytes) to output:
 * continues from NVM when it holds progress of this job, else starts from
 * input (input_bytes; may be NULL only when resuming). */
int reef_resume_run(reef_resume *r, uint32_t job, const void *input, void *output);

/* Runs one tile of a step on the arena (the unit's reef_tile_kind). */
reef_status reef_run_tile(const reef_step *step, int tile_kind, int32_t begin, int32_t end, uint8_t *arena);

#ifdef REEF_PROFILE_STEPS
/* Marks each commit for the emulator plugin (defined by the harness). */
extern void reef_mark_commit(void);
#endif

#endif
