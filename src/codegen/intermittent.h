/* Intermittent execution, the host side (issue 13): cuts a lowered model's
 * step table into atomic units that each fit one charge of the storage
 * capacitor, tiling a step that alone does not fit; lays out in NVM the
 * tensors live at each commit point so that re-running a unit never
 * destroys what it reads (reef/resume.h has the protocol and the
 * argument); prints the schedule as C beside the model; and runs it on the
 * host with the same runtime code as the MCU.
 *
 *   reef_intermittent_plan p;
 *   reef_intermittent_options o = {.budget_uj = 228, .costs = c};
 *   if (reef_intermittent_plan_make(&m, &o, &p, &err)) ...;   // m: reef_lower
 *   reef_resumable r;  reef_intermittent_resumable(&m, &p, arena, &r);
 *   reef_resume_boot(...); reef_resume_run(...);
 *   reef_intermittent_plan_free(&p);
 *
 * Every energy here is MODELED (the device profile and the per-step cycle
 * estimate below); docs/intermittent.md says how each is derived. */
#ifndef REEF_CODEGEN_INTERMITTENT_H
#define REEF_CODEGEN_INTERMITTENT_H

#include <stddef.h>
#include <stdint.h>

#include "codegen/lower.h"
#include "reef/resume.h"
#include "util/err.h"

/* What things cost, in uJ (modeled, from a device profile). */
typedef struct reef_intermittent_costs {
    double run_uj_per_cycle;       /* core in run mode */
    double boot_uj;                /* power-on to main(), once per charge */
    double write_uj_per_byte;      /* NVM writes, per byte ... */
    double write_uj_per_transfer;  /* ... and per separate write (command, WREN) */
    double read_uj_per_byte;
    double read_uj_per_transfer;
} reef_intermittent_costs;

typedef struct reef_intermittent_options {
    /* Energy one charge delivers (uJ). <= 0: no budget, a commit after
     * every step and no tiling. */
    double budget_uj;
    reef_intermittent_costs costs;
    /* NVM geometry of the record (reef/nvm.h): 1 and 0 for FRAM. */
    uint32_t write_unit, erase_size;
    int max_tiles;                 /* per step; 0: 64 */
    /* Modeled cycles of each step from measurement (reef run --steps
     * --step-cycles: the cycle model on emulated per-class counts), nsteps
     * of them; the planner adds the same 1.25 margin as to the estimate.
     * NULL: reef_intermittent_step_cycles. */
    const double *step_cycles;
    int nstep_cycles;
} reef_intermittent_options;

typedef struct reef_intermittent_plan {
    int nunits;
    reef_unit *units;            /* (nunits) */
    double *unit_uj;             /* (nunits) modeled: the unit's steps, no commit */
    double *commit_uj;           /* (nunits + 1) modeled: saves + record at point c */
    double *restore_uj;          /* (nunits + 1) modeled: reads at point c after a reboot */
    double *worst_charge_uj;     /* (nunits) boot + restore + unit + commit */
    reef_span *saves;
    uint32_t *save_live_to;      /* (nsaves) last point where each save's tensor is live */
    uint32_t *save_index;        /* (nunits + 2) */
    reef_span *restores;
    uint32_t *restore_index;     /* (nunits + 2) */
    int nsaves, nrestores;
    uint32_t record_at, record_slot_size;
    uint32_t data_at, nvm_bytes; /* NVM: the record, then the tensors' regions */
    uint32_t model_id;
    size_t saved_bytes;          /* per inference, no failure (input included) */
    double step_uj_total;        /* modeled energy of the steps, once */
    double commit_uj_total;      /* modeled energy of all commits of one inference */
    /* For commits that pass points while energy lasts (reef/resume.h
     * commit_now): the energy the capacitor must still hold above its
     * brown-out at a point for passing it to be safe: the next unit and a
     * commit of everything live after it (modeled, the margin included). */
    double pass_reserve_uj;
    /* All commits of one inference when the supply is never low (every
     * point passed but the first and last): the input's and the output's. */
    double commit_ends_uj;
    int tiled_steps;
} reef_intermittent_plan;

/* Modeled Cortex-M4 cycles of one step (an estimate from its shape,
 * calibrated against emulated per-step counts of fish-s, fish-nas and KWS
 * with a margin: docs/intermittent.md). */
double reef_intermittent_step_cycles(const reef_lowered_step *s);

/* Plans m. Fails with a plain message when some step cannot fit the
 * budget however it is tiled (the message gives the smallest budget that
 * would make progress, see reef_intermittent_min_budget). */
int reef_intermittent_plan_make(const reef_lowered_model *m, const reef_intermittent_options *o,
                                reef_intermittent_plan *p, reef_error *err);

/* The smallest charge (uJ) with which every step can make progress at the
 * finest tiling the planner allows. */
/* 1 for a step that may write over its own input: a depthwise step in
 * place (reef_dw_conv_s8_in_place) or a ROWS step (reef/rows.h; every one:
 * tile.c cuts no ROWS step either). It is re-executable as a whole unit
 * (the restore of the point before it brings its input back from NVM),
 * never cut into tiles. */
int reef_intermittent_step_in_place(const reef_lowered_step *s);

/* The per-step fallback of --memory balanced|min under a charge budget:
 * marks in plain (m->ntensors) the output tensors of every step that
 * writes over its input (reef_intermittent_step_in_place) and does not
 * fit one charge whole, and of a ROWS step's layers, so a lowering with
 * reef_lower_plain keeps them layer by layer (then tileable).
 * Returns how many tensors it newly marked, -1 on error. */
int reef_intermittent_memory_fallback(const reef_lowered_model *m, const reef_intermittent_options *o,
                                      char *plain);

double reef_intermittent_min_budget(const reef_lowered_model *m, const reef_intermittent_options *o);

void reef_intermittent_plan_free(reef_intermittent_plan *p);

/* The runtime view of a plan for the host: steps are m->table, arena a
 * caller's buffer of m->arena_size bytes. */
void reef_intermittent_resumable(const reef_lowered_model *m, const reef_intermittent_plan *p, uint8_t *arena,
                                 reef_resumable *r);

/* Writes DIR/<name>_resume.h and .c: the schedule as const tables and
 * <name>_resumable, for firmware linked with DIR/<name>.c (reef_emit_c). */
int reef_intermittent_emit(const reef_lowered_model *m, const reef_intermittent_plan *p, const char *dir,
                           const char *name, reef_error *err);

#endif
