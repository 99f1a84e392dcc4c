/* A personalization run: which site frames are labelled, the records sent
 * to the device, the update (host in-process), and the evaluation. */
#ifndef REEF_PERSONAL_RUN_H
#define REEF_PERSONAL_RUN_H

#include "personal/personal.h"
#include "quant/quant.h"

/* Marks `labelled` distinct frames of site (is_labelled: count bytes),
 * drawn from seed. With balance (session 12) the draw takes the site's
 * classes in equal shares (as an operator who labels as many frames with
 * fish as without; a class with fewer frames gives its share to the
 * others). Fails when the site has no frame left to measure on. */
#define REEF_PDRAW_MAX_CLASSES 256
int reef_pdraw(const reef_dataset *site, int labelled, uint32_t seed, int balance, uint8_t *is_labelled,
               reef_error *err);

/* Update steps of the plan for `labelled` frames. */
int reef_psteps_total(const reef_pplan *plan, int labelled);

/* Self-training (session 15): after the GUARD, `frames` PSEUDO records of
 * the site's pool frames (spread evenly over them), each with the class
 * cap (training samples of one class, header byte 1) and the confidence
 * (top softmax probability * 256, header byte 3) the device keeps it at. */
typedef struct reef_ppseudo {
    const uint8_t *pool; /* (site count) 1: an unlabelled frame of the adaptation pool */
    int frames, class_cap, conf;
    int after_steps; /* -1: after the GUARD; else after this many of the update's STEPs (before the GUARD, which then judges them too) */
} reef_ppseudo;

/* The adaptation pool and the frames measured on (session 15), split by
 * time: in each of the site's clips (frame order) the unlabelled frames of
 * the first half are the pool (pool[i] = 1), those of the second half are
 * measured on (skip[i] = 0); labelled frames are skipped. */
int reef_ppseudo_pool(const reef_dataset *site, const uint8_t *is_labelled, uint8_t *pool, uint8_t *skip,
                      reef_error *err);

/* The records: ADD per labelled frame (HOLD for `hold` of them, spread
 * evenly over the order sent: the site's, or order's, the labelled frames'
 * site indices, when not NULL), nsteps STEP, GUARD when hold > 0, then
 * (hold > 0 and refit_steps > 0) REFIT and refit_steps STEP, one SAVE,
 * then the READs of train_count floats (malloc'd, count *
 * reef_precord_size(m) bytes; NULL when out of memory). With pseudo (may be
 * NULL) and hold > 0, its PSEUDO records come between GUARD and REFIT. */
/* Session 16, weight averaging: puts SNAP after the STEP that ends each of
 * the last average - 1 epochs of the update before the guard (the STEPs
 * before the first GUARD or REFIT, spe_main a epoch) and AVERAGE after the
 * last one, and the same over the refit's STEPs (after REFIT, spe_refit
 * an epoch) with average_refit; an average larger than the phase's epochs
 * takes them all, below 2 does nothing. Reallocates records (count grows);
 * NULL when out of memory (records is then freed). */
uint8_t *reef_precords_average(uint8_t *records, int *count, size_t rs, int average, int spe_main, int average_refit,
                               int spe_refit);
uint8_t *reef_precords(const reef_lowered_model *m, const reef_input_map *map, const reef_dataset *site,
                       const uint8_t *is_labelled, const uint32_t *order, int hold, int margin, int nsteps,
                       int refit_steps, uint32_t train_count, const reef_ppseudo *pseudo, int *count);
/* The same update for a temporal session (session 13, reef/personal.h):
 * every frame of each of stream's clips (a gray dataset of every frame the
 * camera saw, e.g. `reef prep --split frames`, same size as the site) that
 * holds a labelled site frame, in frame order up to the clip's last
 * labelled frame, each record one raw frame: SEE, or ADD/HOLD with the
 * site's label; a clip's first frame carries REEF_PERSONAL_CLIP_START.
 * A RESET record comes first (the generated firmware requires it: its
 * init writes over the buffer the first record is read into).
 * labelled_order (room for the labelled count) gets the site indices of the
 * labelled frames in the order sent (reef_precords with that order sends
 * the prepped inputs of the same frames in the same order), frames_fed the
 * frame records. Records of reef_precord_size_stream(m) bytes; NULL with
 * err set on a stream of another size or a site frame it lacks. */
uint8_t *reef_precords_stream(const reef_lowered_model *m, const reef_dataset *site, const reef_dataset *stream,
                              const uint8_t *is_labelled, int hold, int margin, int nsteps, int refit_steps,
                              uint32_t train_count, int *count, uint32_t *labelled_order, int *frames_fed,
                              reef_error *err);
int reef_pread_records(uint32_t train_count);
/* The trained parameters from the READ records' outputs (REEF_PERSONAL_OUT
 * bytes each); -1 when some are missing. */
int reef_pcollect_params(const int8_t *outs, const uint8_t *records, int count, size_t record_size,
                         uint32_t train_count, float *params);

/* Feeds the records to the session in-process (the device's code on the
 * host); params_out (param_count) gets what SAVE returns, losses (one per
 * STEP, may be NULL) the step losses. */
int reef_prun_host(reef_psession *s, const uint8_t *records, int count, size_t record_size, float *params_out,
                   float *losses, int8_t guard_out[5], reef_error *err);

typedef struct reef_peval_result {
    int count;
    int int8_correct;   /* the deployed int8 model */
    int before_correct; /* int8 body + float tail, deployed weights */
    int after_correct;  /* int8 body + float tail, trained weights */
    /* per class (true label; the first REEF_PERSONAL_MAX_CLASSES): samples,
     * and correct answers of the deployed model and after the update, so a
     * report shows whether the update moves the rarer class at all */
    int class_count[REEF_PERSONAL_MAX_CLASSES];
    int int8_class_correct[REEF_PERSONAL_MAX_CLASSES];
    int after_class_correct[REEF_PERSONAL_MAX_CLASSES];
} reef_peval_result;

/* Evaluates every sample of ds not marked in skip (may be NULL). "after"
 * is the tail with params, or with refused set the int8 model itself
 * (what the device's EVAL answers after a refused update). */
int reef_peval(const reef_lowered_model *m, const reef_ptail *t, const reef_input_map *map,
               const reef_dataset *ds, const uint8_t *skip, const float *params, int refused,
               reef_peval_result *r, reef_error *err);

/* Classes up to the last one with samples in r (per-class figures). */
int reef_peval_nclasses(const reef_peval_result *r);

/* ---- a whole run (reef personalize) ---------------------------------------- */

/* The guard's default margin (`reef personalize --guard-margin`, and what
 * `plan --tune` measures with): 1 since session 12. Session 15 measured 0
 * (at least as many held-back frames right, the lower loss wins a tie):
 * it keeps 4 of the 6 updates margin 1 refuses at a site the deployed
 * model already answers at 97%, but its gain on the tuning habitats is
 * inside their noise and it flips plan --tune's choice on 0.07 points
 * (docs/personalization.md, "Session 15"): not adopted. */
#define REEF_PGUARD_MARGIN 1
#include <stdio.h>

typedef struct reef_prun_options {
    const char *model_path;      /* for messages and the generated C */
    const char *site_path;
    const char *target;          /* "host", "qemu-m4" or "stm32l4r5" */
    const char *port;            /* stm32l4r5: the board's serial port (NULL: build the firmware only) */
    const char *work;            /* qemu-m4: folder for the generated C and firmware (NULL: a temporary) */
    const char *params_out;      /* write the trained tail weights here (NULL: no) */
    const char *profile;         /* device profile (NULL: stm32l4r5) */
    int labelled;
    int hold_back;               /* of the labelled frames, held back for the GUARD (0: no guard) */
    int guard_margin;            /* the update must answer this many more of them correctly */
    int refit_epochs;            /* after a kept GUARD, epochs over all labelled frames (REFIT; 0: none) */
    uint32_t draw_seed;
    int labelled_balance;        /* the labelled frames drawn class-balanced (reef_pdraw) */
    const reef_dataset *source;  /* replay samples come from here (NULL: no replay) */
    const reef_dataset *test;    /* original test split (NULL: not measured) */
    /* (session 13) the camera's gray frames, every frame of the site's
     * clips: the device computes the temporal input itself (a temporal
     * session, reef_precords_stream); NULL: records carry the site's
     * prepped inputs */
    const reef_dataset *stream;
    /* (session 15) self-training: pseudo_split splits the site's unlabelled
     * frames into an adaptation pool and the frames measured on
     * (reef_ppseudo_pool) and sends `pseudo` PSEUDO records of the pool
     * after the guard, kept at top probability >= pseudo_conf / 256 up to
     * pseudo_cap training samples a class; the refit then runs
     * refit_epochs epochs over labelled + pseudo frames (its step count
     * fixed in advance: the cost does not depend on how many are kept).
     * pseudo_split 0: every unlabelled frame measured on, no PSEUDO */
    int pseudo_split, pseudo, pseudo_conf, pseudo_cap;
    int pseudo_after;            /* -1: PSEUDO after the GUARD; E >= 0: after E epochs of the update */
} reef_prun_options;

typedef struct reef_prun_record_cost {
    int command;
    uint64_t insns;              /* emulated */
    double cycles;               /* modeled */
} reef_prun_record_cost;

typedef struct reef_prun_report {
    int labelled, labelled_balance, steps, boundary_step, tail_layers;
    uint32_t param_count, trainable, replay_count;
    float first_loss, last_loss;
    int hold_back, guard_kept, held_correct_after, held_correct_before; /* GUARD's answer */
    int guard_replay, replay_correct_after, replay_correct_before;     /* replay samples it scored */
    int refit_epochs, refit_steps;  /* refit_steps: STEP records after REFIT (no-ops when refused) */
    int pseudo_split, pseudo_frames; /* session 15: site figures on the clips' second halves; PSEUDO records sent */
    reef_peval_result site, test;
    /* stm32l4r5 */
    int board_built, board_ran;  /* firmware built; run on the board through port */
    char board_elf[4200];
    double board_cycles_total;   /* measured (DWT), when board_ran */
    /* qemu-m4 only */
    int emulated;
    int bit_identical;           /* trained weights equal the host's, bit for bit */
    int nrecords;
    reef_prun_record_cost *records; /* (nrecords) */
    uint64_t intake_insns, update_insns, total_insns; /* ADD records, STEP records, all */
    double intake_cycles, update_cycles, total_cycles;
    uint64_t step_insns_max, guard_insns; /* the largest STEP record; the GUARD record */
    uint64_t refit_insns;        /* the REFIT record and the STEP records after it */
    double clock_mhz, power_mw;  /* the profile's */
    double total_time_s, total_energy_j, step_time_s_max; /* modeled */
    double avg_flash_s, avg_flash_j; /* session 16: the averaging's flash erase + program (modeled), in the totals */
    uint32_t flash_scratch;          /* the averaging's flash area (bytes; not in flash_total) */
    double energy_j_datasheet;   /* the same time at the datasheet's run current */
    uint32_t flash_total, flash_code, flash_weights_model, flash_params0, flash_replay;
    uint32_t ram_total, ram_stack, ram_update_buffers;
    uint32_t planned_ram;
    /* --stream: frame records sent (SEE + ADD + HOLD), and 1 when the update
     * from them equals, bit for bit, the one from the site's prepped inputs
     * of the same frames in the same order (the device's temporal step
     * computed exactly what reef prep wrote) */
    int stream_frames, stream_same_as_prep;
    uint64_t see_insns;          /* qemu-m4: the SEE records (the step on frames not labelled) */
} reef_prun_report;

int reef_prun(const reef_graph *g, const reef_lowered_model *m, const reef_pplan *plan,
              const reef_dataset *site, const reef_prun_options *o, reef_prun_report *r, reef_error *err);
void reef_prun_report_json(const reef_prun_report *r, FILE *fp);
void reef_prun_report_print_cost(const reef_prun_report *r, FILE *fp);
void reef_prun_report_free(reef_prun_report *r);

#endif
