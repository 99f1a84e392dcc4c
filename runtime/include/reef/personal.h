/* reef runtime: the personalization session, what the device does with each
 * record it receives (docs/personalization.md).
 *
 * The device gets records one at a time (a host file over semihosting on
 * the emulated M4, LPUART1 on the NUCLEO board); each is a 4-byte header
 * {command, label, 0, 0} followed by one int8 input tensor of the deployed
 * model (the frame, zero bytes for commands without one):
 *
 *   ADD    run the int8 body on the frame (the inference steps, unchanged)
 *          and keep its boundary tensor with the label (site buffer, RAM)
 *   STEP   one update step: the next batch_site site samples (shuffled per
 *          epoch; hp.balance: the classes in equal shares)
 *          plus batch_replay replay samples (flash), forward,
 *          backward, SGD; out: the mean loss (float). With hp.distill
 *          (session 16) a replay sample's loss mixes in the deployed
 *          model's softened outputs (replay_teacher)
 *   EVAL   run body and tail with the trained weights; out[0] = class.
 *          After a refused update (GUARD, until RESET) the device keeps
 *          its deployed model: EVAL runs the whole int8 model (when
 *          model_steps is set) so it answers exactly what it answered
 *          before the update
 *   BEFORE the same with the deployed weights (params0)
 *   SAVE   commit the trained parameters to NVM (store, when set);
 *          out: their CRC-32 and train_count (two uint32)
 *   READ   out: bytes [k * out_size, (k + 1) * out_size) of the trained
 *          parameters (train_count little-endian floats, zero-padded),
 *          k = header bytes 2 and 3 (little-endian): how they leave
 *   RESET  back to the deployed weights, site buffer emptied
 *   HOLD   like ADD, but the sample is held back: never trained on, only
 *          scored by GUARD (kept at the top of the site buffer)
 *   GUARD  "never below before": scores the held-back samples with the
 *          trained parameters and with the old ones (the newest valid copy
 *          in the NVM store, else the deployed weights) and keeps the
 *          trained ones only when they answer at least m = header byte 2
 *          more samples correctly (m = 0: at least as many, and a tie is
 *          won by the lower loss); otherwise the old ones are put back, so
 *          SAVE then keeps the old model. With hp.guard_replay = R > 0 it
 *          also scores the first R replay samples (source data, flash;
 *          STEP mixes in only the others, so these are never trained on),
 *          and the update must in addition answer at least as many of them
 *          correctly as the old parameters less hp.guard_forget (what it
 *          may forget). out: byte 0 = 1 kept the update, 0 put the old back;
 *          bytes 1, 2 = held-back samples correct after, before; bytes
 *          3, 4 = replay samples correct after, before. A refusal
 *          holds until RESET: later STEPs do nothing (answer loss 0)
 *   SEE    (session 13, temporal sessions only) the frame only moves the
 *          camera's backgrounds: no body run, nothing kept
 *   REFIT  after a GUARD that kept the update: the held-back samples join
 *          the training samples and the step count restarts, so the STEPs
 *          that follow (the host sends refit_epochs * steps per epoch of
 *          them) go on training the accepted parameters on all the
 *          labelled frames; after a refusal it does nothing. out: byte 0 =
 *          the samples now trained on (clamped to 127)
 *   PSEUDO (session 15) an unlabelled frame the camera saw: body and tail
 *          with the trained parameters; when the top class's softmax
 *          probability is at least header byte 3 / 256 and fewer than
 *          header byte 1 training samples of that class are in the site
 *          buffer (class-balanced self-training), the sample joins the
 *          training samples with that class as its label and the step
 *          count restarts (the STEPs after it are whole epochs over every
 *          training sample, as after REFIT). Nothing is kept after a refused update
 *          or when the buffer is full (not an error: the host sends a
 *          fixed pool). out: byte 0 = the class, byte 1 = 1 kept, byte
 *          2 = the top probability * 255
 *   SNAP   (session 16, weight averaging) copy the trained parameters into
 *          the next snapshot slot of the averaging area (avg, NVM: the
 *          device's flash), erasing its pages first where the backend
 *          erases; out: byte 0 = the snapshots now held. Nothing after a
 *          refused update. Code 2 when every slot is full, 5 NVM failed
 *   AVERAGE the trained parameters become the mean of the snapshots and
 *          themselves, (s_0 + s_1 + ... + s_{c-1} + params) / (c + 1),
 *          summed in that order in float, chunk by chunk through a RAM
 *          window of REEF_PERSONAL_AVG_WINDOW floats (the snapshots are
 *          read from NVM, never held in RAM); the slots are then free.
 *          out: byte 0 = c + 1, the parameter sets averaged (1: nothing
 *          to average). Nothing after a refused update
 *
 * Temporal sessions (temporal != NULL, session 13): the model's input is
 * the camera's temporal context [d, s] (reef/background.h), and every
 * frame record (SEE, ADD, HOLD, EVAL, BEFORE) carries one raw gray frame
 * (temporal->bg.pixels bytes) instead of the int8 input: the device runs
 * reef_temporal_step on it, as the inference firmware does on every frame
 * (the backgrounds move), and maps [d, s] to the int8 input through
 * input_map (the model's input quantization, one table per channel).
 * Header byte 2 bit 0 (REEF_PERSONAL_CLIP_START) on a frame record starts
 * the backgrounds afresh: a clip's first frame, a new camera placement.
 * The host sends every frame of each clip that holds a labelled frame, in
 * frame order, the unlabelled ones as SEE: the inputs are then exactly
 * the ones `reef prep --background running-diff-slow --background-over
 * clip` writes.
 *
 * Everything is caller-owned and sized by the generator. arena is shared:
 * the body's activations during ADD and EVAL, the update's transient
 * buffers (acts, deltas, grads) during STEP.
 */
#ifndef REEF_RT_PERSONAL_H
#define REEF_RT_PERSONAL_H

#include <stdint.h>

#include "reef/background.h"
#include "reef/nvm.h"
#include "reef/step.h"
#include "reef/train.h"

enum {
    REEF_PERSONAL_ADD = 1,
    REEF_PERSONAL_STEP = 2,
    REEF_PERSONAL_EVAL = 3,
    REEF_PERSONAL_BEFORE = 4,
    REEF_PERSONAL_SAVE = 5,
    REEF_PERSONAL_RESET = 6,
    REEF_PERSONAL_READ = 7,
    REEF_PERSONAL_HOLD = 8,
    REEF_PERSONAL_GUARD = 9,
    REEF_PERSONAL_REFIT = 10,
    REEF_PERSONAL_SEE = 11,
    REEF_PERSONAL_PSEUDO = 12,
    REEF_PERSONAL_SNAP = 13,
    REEF_PERSONAL_AVERAGE = 14,
};
#define REEF_PERSONAL_AVG_WINDOW 16 /* floats: AVERAGE's RAM window (two on the stack) */
#define REEF_PERSONAL_CLIP_START 1u /* header byte 2 of a temporal session's frame record */
#define REEF_PERSONAL_MAX_CLASSES 16
#define REEF_PERSONAL_OUT 256    /* bytes the device answers per record */
#define REEF_PERSONAL_HEADER 4   /* bytes before the frame in a record */
#define REEF_PERSONAL_MAX_BATCH 64

typedef struct reef_personal {
    /* the frozen int8 body: steps [0, body_steps) of the inference table */
    const reef_step *steps;
    int32_t body_steps;
    /* the whole int8 model: steps [0, model_steps), its int8 output
     * (output_size values) at output_at; EVAL answers with it after a
     * refused update (0: the float tail with the old parameters instead) */
    int32_t model_steps;
    uint32_t output_at;
    int32_t output_size;
    uint8_t *arena;            /* (arena_size), 8-byte aligned */
    uint32_t arena_size;
    uint32_t input_at;         /* the model's int8 input in the arena */
    int32_t input_size;
    uint32_t boundary_at;      /* the boundary tensor (tail->in_count int8) */
    const reef_tail *tail;
    reef_tail_hparams hp;
    /* persistent buffers */
    float *params;             /* (train_count) RAM: the trained parameters */
    const float *params0;      /* (param_count) flash: every deployed weight */
    float *velocity;           /* (train_count), NULL when hp.momentum == 0 */
    int8_t *site;              /* (site_cap, in_count) boundary tensors */
    uint8_t *site_labels;      /* (site_cap) */
    uint16_t *order;           /* (site_cap) shuffled site indices */
    int8_t *boundary;          /* (in_count) EVAL's copy out of the arena */
    int32_t site_cap;
    const int8_t *replay;      /* (replay_count, in_count) flash */
    const uint8_t *replay_labels; /* (replay_count) */
    int32_t replay_count;
    /* (replay_count, nclasses) flash, session 16: the deployed model's tail
     * logits of each replay sample, computed on the host through the same
     * tail forward; with hp.distill STEP trains the replay samples towards
     * them too (Learning without Forgetting). NULL: hard labels only */
    const float *replay_teacher;
    /* transient buffers, float offsets into arena (4-byte aligned) */
    uint32_t grads_at, acts_at, delta_a_at, delta_b_at;
    /* the camera's temporal step (NULL: frame records carry the int8
     * input); its buffers are the caller's, started by reef_temporal_init
     * before the first record (a clip start also starts them) */
    reef_temporal *temporal;
    const int8_t (*input_map)[256]; /* (2, 256): channel c's int8 input of byte v */
    /* where SAVE persists the trained parameters (NULL: nowhere) */
    reef_nvm_record *store;
    /* session 16: the averaging area, avg_slots snapshots of train_count
     * floats from avg_at (each slot rounded up to the write unit), in NVM
     * (NULL: SNAP refused) */
    const reef_nvm *avg;
    uint32_t avg_at;
    int32_t avg_slots;
    /* run state */
    int32_t site_count;
    int32_t step;
    int32_t replay_next;
    int32_t hold_count;        /* held-back samples: site[site_cap - 1 - k] */
    int32_t refused;           /* GUARD put the old parameters back: STEP does nothing */
    int32_t epoch;             /* epochs begun since RESET (REFIT does not restart the count): lr_decay */
    int32_t avg_count;         /* snapshots held (SNAP), until AVERAGE or RESET */
    uint32_t avg_erased;       /* bytes of the area erased since the slots were last freed */
} reef_personal;

/* Bytes one snapshot slot takes in NVM (train_count floats, rounded up to
 * the backend's write unit). */
uint32_t reef_personal_avg_slot_bytes(const reef_tail *t, const reef_nvm *nvm);

/* Bytes the arena needs for the update's transient buffers (grads, acts,
 * two deltas), laid out from offset 0; reef_personal_layout sets the
 * *_at fields. */
uint32_t reef_personal_transient_bytes(const reef_tail *t);
void reef_personal_layout(reef_personal *p);

/* Ready for the first record: lays out the arena, copies the deployed
 * values of the trained parameters into params, zeroes the velocity and
 * the counters. */
void reef_personal_init(reef_personal *p);

/* Persisting the trained parameters. The payload of the NVM record
 * (reef/nvm.h: two slots, sequence number, CRC, commit word last) is the
 * train_count floats, so a power failure at any byte of a commit leaves
 * the old or the new parameters, and a copy that fails its CRC is never
 * loaded. restore loads the newest valid copy into params; a record of
 * another length (another tail or plan) is refused with
 * REEF_NVM_ARG_ERROR and params stay as they are; REEF_NVM_EMPTY when
 * nothing was ever saved (params stay the deployed ones). */
reef_nvm_status reef_personal_persist(const reef_personal *p, reef_nvm_record *rec);
reef_nvm_status reef_personal_restore(reef_personal *p, const reef_nvm_record *rec);

/* Update steps in one epoch (ceil(site_count / batch_site)). */
int32_t reef_personal_steps_per_epoch(const reef_personal *p);

/* The site sample (index into site) that epoch position i (0 <=
 * i < site_count) trains on, from the epoch's shuffled order: order[i],
 * or with hp.balance the classes present in turn, each cycling through
 * its own samples in shuffled order. */
int32_t reef_personal_site_pick(const reef_personal *p, int32_t i);

/* Handles one record (REEF_PERSONAL_HEADER + input_size bytes); out gets
 * out_size bytes (at least 8). Returns 0, or a
 * nonzero code: 1 bad command or label, 2 site buffer full or empty
 * (GUARD, REFIT: nothing held back; SNAP: every slot full), 3 a
 * body step failed, 4 out too small, 5 the NVM commit (SAVE) or a
 * snapshot's write or read (SNAP, AVERAGE) failed. */
int reef_personal_record(reef_personal *p, const int8_t *record, int8_t *out, uint32_t out_size);

#endif
