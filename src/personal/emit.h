/* `reef gen --trainable`: the generated C of the on-device update. */
#ifndef REEF_PERSONAL_EMIT_H
#define REEF_PERSONAL_EMIT_H

#include "personal/personal.h"
#include "quant/quant.h"

/* Writes DIR/NAME.{c,h} (the inference model) and DIR/NAME_personal.{c,h}
 * (the update: tail, deployed weights, replay, buffers, session). replay
 * may be NULL (no replay). stream_map (NULL: records carry the int8 input):
 * a temporal session, whose frame records carry raw gray frames that the
 * device turns into the model's input with reef_temporal_step
 * (running-diff-slow) and this map (reef/personal.h). */
int reef_pemit(const char *dir, const char *name, const char *source, const reef_lowered_model *m,
               const reef_ptail *t, const reef_pplan *plan, const int8_t *replay, const uint8_t *replay_labels,
               const reef_input_map *stream_map, reef_error *err);

/* `reef gen --trainable PLAN [--replay DATA]`: loads the plan, cuts the
 * tail, computes the replay samples from DATA, and writes the four files;
 * a plan with `temporal 1` gets the temporal session (stream_map above,
 * from the model's input tables), which only a 2-channel [d, s] model has. */
int reef_pgen(const char *dir, const char *name, const char *model_path, const reef_graph *g,
              const reef_lowered_model *m, const char *plan_path, const char *replay_path, reef_error *err);

#endif
