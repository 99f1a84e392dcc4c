/* Fake quantization tables and rounded weights: see fakequant.h. */
#include "nn/fakequant.h"

#include <stdlib.h>
#include <string.h>

int reef_fq_init(reef_fakequant *fq, const reef_model *m, reef_error *err)
{
    memset(fq, 0, sizeof *fq);
    fq->nblocks = m->nblocks;
    fq->nparams = m->nparams;
    fq->act = calloc((size_t)m->nblocks * REEF_BLOCK_MAX_LAYERS, sizeof *fq->act);
    fq->add = calloc((size_t)m->nblocks, sizeof *fq->add);
    fq->master = malloc((m->nparams ? m->nparams : 1) * sizeof *fq->master);
    if (!fq->act || !fq->add || !fq->master) {
        reef_fq_free(fq);
        return reef_fail(err, "out of memory for the fake-quantization table (%zu parameters)", m->nparams);
    }
    return 0;
}

void reef_fq_free(reef_fakequant *fq)
{
    free(fq->act);
    free(fq->add);
    free(fq->master);
    memset(fq, 0, sizeof *fq);
}

float reef_fq_fold_factor(const reef_layer *L, int o)
{
    if (!L->has_bn) return 1.0f;
    return (float)((double)L->gamma[o] / sqrt((double)L->run_var[o] + (double)REEF_BN_EPS));
}

/* L's weights rounded as the quantizer rounds them: folded by the batch
 * norm factor f, symmetric int8 per output channel (per tensor for fc),
 * then unfolded (the frozen batch norm multiplies f back in). */
static void round_layer_weights(reef_layer *L)
{
    const reef_conv_dims *d = &L->dims;
    const int nch = d->oc;
    size_t count, inner;  // channel of element i: (i / inner) % nch
    if (L->kind == REEF_LAYER_CONV) inner = (size_t)d->kh * d->kw * d->c, count = (size_t)nch * inner;
    else if (L->kind == REEF_LAYER_DWCONV) inner = 1, count = (size_t)d->kh * d->kw * nch;
    else if (L->kind == REEF_LAYER_FC) inner = (size_t)d->c, count = (size_t)nch * inner;
    else return;
    const int per_tensor = L->kind == REEF_LAYER_FC;
    float f[nch], scale[nch];
    for (int o = 0; o < nch; o++) f[o] = reef_fq_fold_factor(L, o), scale[o] = 0.0f;
    for (size_t i = 0; i < count; i++) {
        const int o = (int)((i / inner) % (size_t)nch);
        const float a = fabsf(L->w[i] * f[o]);
        if (a > scale[per_tensor ? 0 : o]) scale[per_tensor ? 0 : o] = a;
    }
    for (int o = 0; o < nch; o++) {
        const float s = scale[per_tensor ? 0 : o] / 127.0f;
        scale[o] = s > 0.0f ? s : 1.0f;  // a channel of zeros: scale 1, as the quantizer
    }
    if (per_tensor)
        for (int o = 1; o < nch; o++) scale[o] = scale[0];
    for (size_t i = 0; i < count; i++) {
        const int o = (int)((i / inner) % (size_t)nch);
        if (f[o] == 0.0f) continue;  // a dead channel: its int8 output is the bias alone anyway
        float q = roundf(L->w[i] * f[o] / scale[o]);
        q = q < -127.0f ? -127.0f : q > 127.0f ? 127.0f : q;
        L->w[i] = q * scale[o] / f[o];
    }
}

void reef_fq_weights_in(reef_fakequant *fq, reef_model *m)
{
    memcpy(fq->master, m->params, m->nparams * sizeof *m->params);
    for (int bi = 0; bi < m->nblocks; bi++)
        for (int li = 0; li < m->blocks[bi].nlayers; li++) {
            reef_layer *L = &m->blocks[bi].layers[li];
            if (L->w) round_layer_weights(L);
        }
    fq->weights_in = 1;
}

void reef_fq_weights_out(reef_fakequant *fq, reef_model *m)
{
    if (!fq->weights_in) return;
    memcpy(m->params, fq->master, m->nparams * sizeof *m->params);
    fq->weights_in = 0;
}
