/* Static post-training int8 quantization (docs/quantization.md): a float
 * reef_model -> a TFLite int8 graph that reef's runtime, TFLite Micro and
 * the generated C run, plus the int8 model's evaluation.
 *
 *   reef_quant_options o; reef_quant_options_default(&o);
 *   reef_graph g; reef_quant_report rep;
 *   if (reef_quantize(&model, &train, &o, &g, &rep, &err)) ...;
 *   reef_tflite_write("fish.tflite", &g, &err);
 *
 * What the graph holds (TFLite's int8 scheme):
 *  - batch norm folded into the conv / depthwise / fully-connected before it;
 *  - weights symmetric int8 in [-127, 127]: per output channel for CONV_2D
 *    (quantized_dimension 0, OHWI) and DEPTHWISE_CONV_2D (dimension 3,
 *    1HWC), per tensor for FULLY_CONNECTED (what TFLite Micro's reference
 *    kernel loads); int32 biases of scale input_scale * weight_scale[c];
 *  - activations asymmetric int8 per tensor, range calibrated over training
 *    samples (min/max, percentile or MSE-optimal clipping), always holding 0;
 *    fused ReLU/ReLU6 clamp in the op;
 *  - residual blocks end in ADD with its own output range; global average
 *    pooling is AVERAGE_POOL_2D over the whole map (same quantization in and
 *    out); the classifier is FULLY_CONNECTED then SOFTMAX (int8, scale 1/256,
 *    zero point -128); argmax of the output is the predicted class;
 *  - the input: q = pixel - 128 (see reef_input_map). */
#ifndef REEF_QUANT_QUANT_H
#define REEF_QUANT_QUANT_H

#include <stddef.h>
#include <stdint.h>

#include "data/dataset.h"
#include "nn/fakequant.h"
#include "nn/model.h"
#include "nn/train.h"
#include "tflite/graph.h"
#include "util/err.h"

/* ---- scalar helpers --------------------------------------------------------- */

/* q = clamp(round(x / scale) + zero_point, -128, 127), ties away from zero
 * (as TFLite's QUANTIZE). */
int8_t reef_quantize_value(float x, float scale, int32_t zero_point);
static inline float reef_dequantize_value(int8_t q, float scale, int32_t zero_point)
{
    return scale * (float)((int32_t)q - zero_point);
}
/* Activation quantization of the range [lo, hi] as TFLite's converter
 * chooses it: the range is first widened to hold 0, scale = (hi - lo) / 255,
 * zero_point = round(-128 - lo / scale) clamped to [-128, 127]. An empty
 * range gets a tiny positive scale. */
void reef_choose_qparams(float lo, float hi, float *scale, int32_t *zero_point);

/* ---- batch-norm folding --------------------------------------------------- */

/* The folded weights and bias of a conv / depthwise / fc layer: with
 * f[o] = gamma[o] / sqrt(var[o] + eps) per output channel o,
 *   w'[o, ...] = w[o, ...] * f[o],  b'[o] = beta[o] + (b[o] - mean[o]) * f[o]
 * (b = 0 when the layer has none). Without batch norm w' = w and b' = b (or
 * 0). w: same layout and size as L->w; b: (OC). Returns -1 for a layer
 * without weights. */
int reef_fold_bn(const reef_layer *L, float *w, float *b);

/* ---- weights ------------------------------------------------------------------ */

/* Symmetric int8 quantization of count weights in nch channels, channel of
 * element i = (i / inner) % nch: conv OHWI has inner = KH*KW*C (channel =
 * output channel), depthwise 1HWC inner = 1 (channel = last dimension),
 * per tensor nch = 1. scale[c] = max|w_c| / 127, raised to min_scale[c]
 * when given (min_scale may be NULL); a channel of zeros gets scale 1.
 * q: (count), scale: (nch). */
void reef_quant_symmetric(int8_t *q, float *scale, const float *w, size_t count, int nch, size_t inner,
                          const float *min_scale);

/* ---- calibration ---------------------------------------------------------------- */

typedef enum reef_calib_method {
    REEF_CALIB_MINMAX,     /* the observed range */
    REEF_CALIB_PERCENTILE, /* clip both tails at the given percentile (99.99) */
    REEF_CALIB_MSE,        /* clip where the expected squared error (clipping + rounding) is least */
} reef_calib_method;

/* "minmax", "percentile", "mse"; parse returns -1 for an unknown name. */
int reef_calib_method_parse(const char *name, reef_calib_method *method);
const char *reef_calib_method_name(reef_calib_method method);

#define REEF_CALIB_BINS 2048

/* Statistics of one float tensor over the calibration samples: its range,
 * then (second pass) a histogram over that range. */
typedef struct reef_observer {
    double min, max;
    int64_t count;
    int64_t zeros;                    /* values exactly 0 (always exact in int8) */
    int64_t hist[REEF_CALIB_BINS];    /* over [min, max] */
} reef_observer;

void reef_observer_init(reef_observer *o);
/* Pass 1: widen the range by x (n values). */
void reef_observer_range(reef_observer *o, const float *x, size_t n);
/* Pass 2: histogram of x over the range of pass 1. */
void reef_observer_hist(reef_observer *o, const float *x, size_t n);
/* The clipping range [lo, hi] the method chooses (before 0 is added).
 * percentile: e.g. 99.99 keeps 99.99% of the values on each side. */
void reef_observer_choose(const reef_observer *o, reef_calib_method method, double percentile, float *lo,
                          float *hi);

/* ---- the graph's input -------------------------------------------------------- */

/* How a uint8 pixel becomes the model's int8 input: one table per image
 * channel. For a reef model with normalization x = (p/255 - mean) / std the
 * input tensor has scale 1 / (255 std) and zero point round(255 mean - 128),
 * so that q = p - 128 exactly (the int8 model sees the mean rounded to a
 * whole grey level: at most half an input step, as any int8 input). Channels
 * whose std differ cannot share one scale: then q = quantize(x). */
typedef struct reef_input_map {
    int channels;
    int exact;                                 /* q = p - 128 on every channel */
    int8_t lut[REEF_MAX_CHANNELS][256];        /* (C, 256) q of pixel value */
} reef_input_map;

/* The input quantization for a normalization: scale and zero point of the
 * input tensor, and the map. */
void reef_input_quant(const reef_norm *norm, float *scale, int32_t *zero_point, reef_input_map *map);
/* The map of a graph: from the normalization reef records in the graph's
 * description ("reef-norm mean=... std=..."); a graph without one (made by
 * another tool) gets q = p - 128. Fails if the input is not int8 NHWC or
 * has more than REEF_MAX_CHANNELS channels. */
int reef_input_map_from_graph(const reef_graph *g, reef_input_map *map, reef_error *err);
/* out (H*W*C) int8 input tensor from pixels (H*W*C, HWC uint8). */
void reef_input_map_apply(const reef_input_map *map, const uint8_t *pixels, size_t count, int8_t *out);
/* The description line recording norm (buf of at least 256 bytes). */
void reef_norm_describe(const reef_norm *norm, char *buf, size_t size);

/* ---- quantizing a model ---------------------------------------------------------- */

typedef struct reef_quant_options {
    reef_calib_method method;   /* REEF_CALIB_MINMAX */
    double percentile;          /* 99.99 (percentile method) */
    int samples;                /* 500 calibration samples; all when the dataset has fewer */
    uint64_t seed;              /* which samples (1) */
    int batch;                  /* float forward batch (64) */
    int threads;                /* float forward threads (1) */
    const char *name;           /* graph name (C symbols); NULL: the arch name, made a C identifier */
    int agreement;              /* also run the int8 model on the samples and compare (1) */
    /* progress(ctx, done, total) over calibration forward passes (may be NULL) */
    void (*progress)(void *ctx, int64_t done, int64_t total);
    void *progress_ctx;
} reef_quant_options;

void reef_quant_options_default(reef_quant_options *opt);

/* One op's output tensor, as the report lists it. */
typedef struct reef_quant_layer {
    char name[40];              /* graph tensor name, e.g. "b3.l1" (block 3, layer 1) */
    const char *op;             /* "CONV_2D", "ADD", ... */
    float min, max;             /* observed float range */
    float lo, hi;               /* chosen range (holds 0) */
    float scale;
    int32_t zero_point;
    float wscale_min, wscale_max; /* weight scales (0 when the op has none) */
    int64_t weight_bytes;       /* int8 weights + int32 biases */
} reef_quant_layer;

typedef struct reef_quant_report {
    reef_calib_method method;
    double percentile;
    int samples;                /* calibration samples used */
    float input_scale;
    int32_t input_zero_point;
    int input_exact;            /* q = pixel - 128 */
    int nlayers;
    reef_quant_layer *layers;   /* (nlayers) */
    int64_t weight_bytes;       /* constant data of the graph */
    int64_t macs;
    /* with opt.agreement (else samples_compared = 0): on the calibration samples */
    int samples_compared;
    double agreement;           /* fraction where int8 argmax == float argmax */
    double float_accuracy, int8_accuracy;
    double seconds;
} reef_quant_report;

void reef_quant_report_free(reef_quant_report *rep);

/* Calibrates m (in inference mode; its batch is set to opt->batch) on
 * samples of calib and builds the int8 graph g (free with reef_graph_free;
 * empty on failure). calib must fit m (image shape, class count). rep may
 * be NULL. */
int reef_quantize(reef_model *m, const reef_dataset *calib, const reef_quant_options *opt, reef_graph *g,
                  reef_quant_report *rep, reef_error *err);

/* The deterministic calibration sample choice: n distinct indices of
 * [0, count), sorted (all of them when n >= count). idx: (min(n, count)).
 * Returns how many. */
int reef_calib_indices(uint32_t count, int n, uint64_t seed, uint32_t *idx);

/* A multi-channel input normalized with one mean and per-channel stds
 * (`input-norm shared-mean`): the int8 input tensor holds every channel at
 * channel 0's std, so q = pixel - 128 on all of them, and the first conv or
 * depthwise (reached through pools only, no residual block reading the
 * input) takes factor[k] = std[0] / std[k] into its weights of input
 * channel k. Returns 1 and fills in_norm (the normalization the graph's
 * input holds) and factor (channels); 0 (in_norm = m's, factors 1) when the
 * model's input is not of that kind. */
int reef_quant_input_fold(const reef_model *m, reef_norm *in_norm, float *factor);

/* ---- quantization-aware fine-tuning (docs/quantization.md) ----------------------- */

/* Fills fq with the int8 grids reef_quantize would give m now: the input's,
 * every calibrated tensor's (calibrated on the float model, as
 * reef_quantize does with the same options), and each average pool's (its
 * input's). Sets m's batch to opt's. */
int reef_quant_fakequant_ranges(reef_model *m, const reef_dataset *calib, const reef_quant_options *opt,
                                reef_fakequant *fq, reef_error *err);

/* Quantization-aware fine-tuning of a trained float model: cfg->qat_epochs
 * epochs of cfg's recipe (augmentation, batch, threads, seed, optimizer) at
 * peak learning rate cfg->qat_lr on a cosine schedule, with batch norm
 * frozen and the forward pass fake-quantized (nn/fakequant.h). Before every
 * epoch the activation grids are recalibrated on train as `reef quantize
 * --calib` with opt would (opt NULL: the defaults). m keeps float weights;
 * `reef quantize` then rounds them to the int8 values training saw. stats
 * (qat_epochs, may be NULL) gets each epoch's figures; epoch_done (may be
 * NULL) is called after each. Returns 1 when *stop interrupted it (m is
 * left as the last complete epoch made it), 0 when done, -1 on error. */
int reef_qat_finetune(reef_model *m, const reef_dataset *train, const reef_train_cfg *cfg,
                      const reef_quant_options *opt, reef_epoch_stats *stats,
                      void (*epoch_done)(void *ctx, const reef_epoch_stats *st), void *ctx,
                      volatile sig_atomic_t *stop, reef_error *err);

/* ---- running the int8 model ------------------------------------------------------ */

/* Predicted class (argmax of the output, first on ties) of samples of ds
 * through the host interpreter (what the microcontroller computes). idx
 * (n) picks the samples, or NULL for all (n = ds->count). pred (n).
 * Refuses a dataset whose image shape or class count does not fit g,
 * naming both. */
int reef_int8_predict(const reef_graph *g, const reef_dataset *ds, const uint32_t *idx, int n, uint16_t *pred,
                      reef_error *err);
/* 1 if the bytes start like a .tflite file ("TFL3" at offset 4). */
int reef_is_tflite(const uint8_t *head, size_t size);

#endif
