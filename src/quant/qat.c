/* Quantization-aware fine-tuning: see quant.h and nn/fakequant.h. */
#include <string.h>

#include "nn/fakequant.h"
#include "nn/train.h"
#include "quant/quant.h"

int reef_qat_finetune(reef_model *m, const reef_dataset *train, const reef_train_cfg *cfg,
                      const reef_quant_options *opt, reef_epoch_stats *stats,
                      void (*epoch_done)(void *ctx, const reef_epoch_stats *st), void *ctx,
                      volatile sig_atomic_t *stop, reef_error *err)
{
    if (cfg->qat_epochs <= 0) return 0;
    reef_quant_options dflt;
    reef_quant_options_default(&dflt);
    if (!opt) opt = &dflt;
    reef_quant_options calib_opt = *opt;
    calib_opt.agreement = 0, calib_opt.progress = NULL;
    // The fine-tuning recipe: the training one at a small learning rate,
    // from the start of a fresh cosine schedule without warm-up, and its
    // own shuffles (not a replay of the first float epochs').
    reef_train_cfg qcfg = *cfg;
    qcfg.epochs = cfg->qat_epochs;
    qcfg.opt.lr = cfg->qat_lr;
    qcfg.opt.sched = REEF_SCHED_COSINE;
    qcfg.opt.warmup = 0.0f;
    qcfg.seed = cfg->seed ^ 0x5151A7ull;
    reef_fakequant fq;
    if (reef_fq_init(&fq, m, err)) return -1;
    const float momentum = m->bn_momentum;
    reef_trainer t;
    memset(&t, 0, sizeof t);
    int rc = 0, have_trainer = 0;
    for (int e = 0; e < qcfg.epochs && !rc; e++) {
        m->fq = NULL;
        if (reef_quant_fakequant_ranges(m, train, &calib_opt, &fq, err)) {
            rc = -1;
            break;
        }
        const int cap = qcfg.chunk > 0 && qcfg.chunk < qcfg.batch ? qcfg.chunk : qcfg.batch;
        if (reef_model_set_batch(m, cap, qcfg.threads, err)) {
            rc = -1;
            break;
        }
        if (!have_trainer) {
            if (reef_trainer_init(&t, m, train, &qcfg, err)) {
                rc = -1;
                break;
            }
            have_trainer = 1;
        }
        m->fq = &fq;
        m->bn_momentum = 0.0f;  // frozen: the running statistics are what the int8 graph folds
        reef_epoch_stats st;
        rc = reef_trainer_epoch(&t, &st, stop, NULL, NULL);
        m->fq = NULL;
        m->bn_momentum = momentum;
        if (rc) break;  // interrupted: the weights of the last complete step stand
        if (stats) stats[e] = st;
        if (epoch_done) epoch_done(ctx, &st);
    }
    reef_fq_weights_out(&fq, m);
    m->fq = NULL;
    m->bn_momentum = momentum;
    if (have_trainer) reef_trainer_free(&t);
    reef_fq_free(&fq);
    return rc;
}
