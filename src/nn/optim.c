/* Optimizers and schedules: see optim.h. */
#include "nn/optim.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void reef_optim_cfg_default(reef_optim_cfg *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->kind = REEF_OPT_ADAMW;
    cfg->lr = 3e-3f;
    cfg->momentum = 0.9f;
    cfg->nesterov = 1;
    cfg->beta1 = 0.9f, cfg->beta2 = 0.999f, cfg->eps = 1e-8f;
    cfg->weight_decay = 1e-4f;
    cfg->clip_norm = 5.0f;
    cfg->sched = REEF_SCHED_COSINE;
    cfg->warmup = 0.05f;
    cfg->final_frac = 0.0f;
    cfg->pct_start = 0.3f;
}

int reef_optim_init(reef_optim *o, const reef_optim_cfg *cfg, size_t nparams, reef_error *err)
{
    memset(o, 0, sizeof *o);
    o->cfg = *cfg;
    o->n = nparams;
    o->m = calloc(nparams + 1, sizeof *o->m);
    if (cfg->kind == REEF_OPT_ADAMW) o->v = calloc(nparams + 1, sizeof *o->v);
    if (!o->m || (cfg->kind == REEF_OPT_ADAMW && !o->v)) {
        reef_optim_free(o);
        return reef_fail(err, "out of memory for the optimizer state");
    }
    return 0;
}

void reef_optim_free(reef_optim *o)
{
    free(o->m);
    free(o->v);
    memset(o, 0, sizeof *o);
}

static double cosine(double from, double to, double frac)
{
    return to + (from - to) * 0.5 * (1.0 + cos(M_PI * frac));
}

float reef_schedule_lr(const reef_optim_cfg *cfg, int64_t step, int64_t total_steps)
{
    if (total_steps < 1) total_steps = 1;
    double t = (double)step / (double)total_steps;
    if (t > 1) t = 1;
    switch (cfg->sched) {
    case REEF_SCHED_CONSTANT: return cfg->lr;
    case REEF_SCHED_ONECYCLE: {
        // PyTorch's OneCycleLR shape: cosine up from lr/25, cosine down to lr/25e4
        double start = cfg->lr / 25.0, end = start / 1e4, p = cfg->pct_start > 0 ? cfg->pct_start : 0.3;
        if (t < p) return (float)cosine(start, cfg->lr, t / p);
        return (float)cosine(cfg->lr, end, (t - p) / (1 - p));
    }
    case REEF_SCHED_COSINE:
    default: {
        /* linear warm-up over w * total steps, capped at the peak: on a run
         * shorter than 1 / w steps that is less than one step, and the
         * uncapped ramp (step + 1) / (w * total) reached 20x the peak */
        double w = cfg->warmup;
        if (t < w) return (float)(cfg->lr * fmin(1.0, (double)(step + 1) / (w * (double)total_steps)));
        return (float)cosine(cfg->lr, cfg->lr * cfg->final_frac, (t - w) / (1 - w));
    }
    }
}

double reef_clip_grad_norm(float *grads, size_t n, float max_norm)
{
    double sq = 0;
    for (size_t i = 0; i < n; i++) sq += (double)grads[i] * grads[i];
    double norm = sqrt(sq);
    if (max_norm > 0 && norm > max_norm) {
        float s = (float)(max_norm / (norm + 1e-6));
        for (size_t i = 0; i < n; i++) grads[i] *= s;
    }
    return norm;
}

static void adamw_tensor(reef_optim *o, float *p, const float *g, float *m, float *v, size_t n,
                         float lr, float wd)
{
    const reef_optim_cfg *c = &o->cfg;
    const float b1 = c->beta1, b2 = c->beta2;
    const float corr1 = 1.0f - powf(b1, (float)o->step), corr2 = 1.0f - powf(b2, (float)o->step);
    for (size_t i = 0; i < n; i++) {
        m[i] = b1 * m[i] + (1.0f - b1) * g[i];
        v[i] = b2 * v[i] + (1.0f - b2) * g[i] * g[i];
        float mhat = m[i] / corr1, vhat = v[i] / corr2;
        p[i] -= lr * (mhat / (sqrtf(vhat) + c->eps) + wd * p[i]);
    }
}

static void sgd_tensor(reef_optim *o, float *p, const float *g, float *buf, size_t n, float lr, float wd)
{
    const float mu = o->cfg.momentum;
    for (size_t i = 0; i < n; i++) {
        float d = g[i] + wd * p[i];
        buf[i] = mu * buf[i] + d;
        d = o->cfg.nesterov ? d + mu * buf[i] : buf[i];
        p[i] -= lr * d;
    }
}

void reef_optim_step(reef_optim *o, reef_model *m, float lr)
{
    o->step++;
    for (int t = 0; t < m->nparam_tensors; t++) {
        const reef_param *pt = &m->param_tensors[t];
        size_t off = (size_t)(pt->p - m->params);
        float wd = pt->decay ? o->cfg.weight_decay : 0.0f;
        if (o->cfg.kind == REEF_OPT_ADAMW)
            adamw_tensor(o, pt->p, m->grads + off, o->m + off, o->v + off, pt->n, lr, wd);
        else
            sgd_tensor(o, pt->p, m->grads + off, o->m + off, pt->n, lr, wd);
    }
}
