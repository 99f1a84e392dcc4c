/* The training loop: see train.h. */
#include "nn/train.h"
#include "nn/fakequant.h"
#include "nn/hot.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/io.h"
#include "util/ranks.h"
#include "util/rng.h"

void reef_train_cfg_default(reef_train_cfg *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->epochs = 20;
    cfg->batch = 64;
    cfg->threads = 2;
    cfg->seed = 1;
    reef_optim_cfg_default(&cfg->opt);
    cfg->label_smoothing = 0.05f;
    cfg->balance_classes = 0;
    // Flips only: on DeepFish, shifts cost accuracy (7 points at epoch 8 in
    // a trial) and brightness/contrast jitter did not help.
    cfg->aug = (reef_augment){.flip = 1};
    cfg->qat_lr = 1e-4f;
}

/* ---- recipe settings by name ---------------------------------------------------- */

static int why_fail(char *why, size_t size, const char *fmt, const char *a, const char *b)
{
    if (why && size) snprintf(why, size, fmt, a, b);
    return -1;
}

/* "name" or "name=value": the value (or dflt) into *out, within [lo, hi]. */
static int aug_value(const char *tok, const char *name, double dflt, double lo, double hi, double *out)
{
    size_t n = strlen(name);
    if (strncmp(tok, name, n) || (tok[n] && tok[n] != '=')) return 1;
    *out = dflt;
    if (!tok[n]) return 0;
    char *end;
    double v = strtod(tok + n + 1, &end);
    if (end == tok + n + 1 || *end || !(v >= lo && v <= hi)) return -1;
    *out = v;
    return 0;
}

int reef_augment_parse(const char *text, reef_augment *aug, char *why, size_t why_size)
{
    static const struct {
        const char *name;
        double dflt, lo, hi;
    } items[] = {{"flip", 1, 0, 1},         {"shift", 2, 0, 8},     {"jitter", 0.1, 0, 1},
                 {"bright", 0.2, 0, 1},     {"contrast", 0.3, 0, 1}, {"gamma", 0.4, 0, 2},
                 {"noise", 0.03, 0, 0.5},   {"blur", 1, 0, 1},      {"cutout", 8, 0, 64},
                 {"motion", 0.5, 0, 1}};
    memset(aug, 0, sizeof *aug);
    char buf[256];
    if (strlen(text) >= sizeof buf) return why_fail(why, why_size, "augmentation list too long%s%s", "", "");
    snprintf(buf, sizeof buf, "%s", text);
    char *save = NULL;
    for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (!strcmp(tok, "none")) continue;
        int i = 0, rc = 1;
        double v = 0;
        for (; i < (int)(sizeof items / sizeof items[0]); i++)
            if ((rc = aug_value(tok, items[i].name, items[i].dflt, items[i].lo, items[i].hi, &v)) != 1) break;
        if (rc == 1)
            return why_fail(why, why_size,
                            "unknown augmentation '%s' (flip, shift[=N], jitter, bright[=B], contrast[=C], "
                            "gamma[=G], noise[=S], blur, cutout[=N], motion[=P], none)%s", tok, "");
        if (rc < 0) return why_fail(why, why_size, "bad value in '%s'%s", tok, "");
        switch (i) {
        case 0: aug->flip = v > 0; break;
        case 1: aug->shift = (int)v; break;
        case 2: aug->brightness = aug->contrast = (float)v; break;
        case 3: aug->brightness = (float)v; break;
        case 4: aug->contrast = (float)v; break;
        case 5: aug->gamma = (float)v; break;
        case 6: aug->noise = (float)v; break;
        case 7: aug->blur = v > 0; break;
        case 8: aug->cutout = (int)v; break;
        default: aug->motion = (float)v; break;
        }
    }
    return 0;
}

const char *reef_train_cfg_keys(void)
{
    return "epochs batch threads seed optimizer lr momentum weight-decay schedule clip label-smoothing balance "
           "balance-groups augment chunk mixup qat-epochs qat-lr input-norm";
}

static int set_int(const char *value, long lo, long hi, long *out)
{
    char *end;
    long v = strtol(value, &end, 10);
    if (end == value || *end || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

static int set_float(const char *value, double lo, double hi, float *out)
{
    char *end;
    double v = strtod(value, &end);
    if (end == value || *end || !(v >= lo && v <= hi)) return -1;
    *out = (float)v;
    return 0;
}

static int set_onoff(const char *value, int *out)
{
    if (!strcmp(value, "on") || !strcmp(value, "1")) *out = 1;
    else if (!strcmp(value, "off") || !strcmp(value, "0")) *out = 0;
    else return -1;
    return 0;
}

int reef_train_cfg_set(reef_train_cfg *cfg, const char *key, const char *value, char *why, size_t why_size)
{
    long v;
    int rc = 0;
    if (!strcmp(key, "epochs")) {
        if (!(rc = set_int(value, 1, 100000, &v))) cfg->epochs = (int)v;
        else return why_fail(why, why_size, "epochs wants a whole number from 1 to 100000, not '%s'%s", value, "");
    } else if (!strcmp(key, "batch")) {
        if (!(rc = set_int(value, 1, 65536, &v))) cfg->batch = (int)v;
        else return why_fail(why, why_size, "batch wants a whole number from 1 to 65536, not '%s'%s", value, "");
    } else if (!strcmp(key, "threads")) {
        if (!(rc = set_int(value, 1, REEF_MAX_THREADS, &v))) cfg->threads = (int)v;
        else return why_fail(why, why_size, "threads wants a whole number from 1 to 16, not '%s'%s", value, "");
    } else if (!strcmp(key, "seed")) {
        if (!(rc = set_int(value, 0, 2147483647L, &v))) cfg->seed = (uint64_t)v;
        else return why_fail(why, why_size, "seed wants a whole number from 0 to 2147483647, not '%s'%s", value, "");
    } else if (!strcmp(key, "optimizer")) {
        reef_optim_cfg d;
        reef_optim_cfg_default(&d);
        if (!strcmp(value, "adamw")) cfg->opt.kind = REEF_OPT_ADAMW, cfg->opt.lr = d.lr;
        else if (!strcmp(value, "sgd")) cfg->opt.kind = REEF_OPT_SGD, cfg->opt.lr = 0.05f;
        else return why_fail(why, why_size, "optimizer is adamw or sgd, not '%s'%s", value, "");
    } else if (!strcmp(key, "lr")) {
        if (set_float(value, 1e-7, 10, &cfg->opt.lr)) return why_fail(why, why_size, "lr must be a finite number from 1e-07 to 10, not '%s'%s", value, "");
    } else if (!strcmp(key, "momentum")) {
        if (set_float(value, 0, 0.999, &cfg->opt.momentum)) return why_fail(why, why_size, "momentum must be a finite number from 0 to 0.999, not '%s'%s", value, "");
    } else if (!strcmp(key, "weight-decay")) {
        if (set_float(value, 0, 1, &cfg->opt.weight_decay)) return why_fail(why, why_size, "weight-decay must be a finite number from 0 to 1, not '%s'%s", value, "");
    } else if (!strcmp(key, "schedule")) {
        if (!strcmp(value, "cosine")) cfg->opt.sched = REEF_SCHED_COSINE;
        else if (!strcmp(value, "onecycle")) cfg->opt.sched = REEF_SCHED_ONECYCLE;
        else if (!strcmp(value, "constant")) cfg->opt.sched = REEF_SCHED_CONSTANT;
        else return why_fail(why, why_size, "schedule is cosine, onecycle or constant, not '%s'%s", value, "");
    } else if (!strcmp(key, "clip")) {
        if (set_float(value, 0, 1e6, &cfg->opt.clip_norm)) return why_fail(why, why_size, "clip must be a finite number from 0 to 1e+06, not '%s'%s", value, "");
    } else if (!strcmp(key, "label-smoothing")) {
        if (set_float(value, 0, 0.5, &cfg->label_smoothing)) return why_fail(why, why_size, "label-smoothing must be a finite number from 0 to 0.5, not '%s'%s", value, "");
    } else if (!strcmp(key, "balance")) {
        if (set_onoff(value, &cfg->balance_classes)) return why_fail(why, why_size, "balance is on or off, not '%s'%s", value, "");
    } else if (!strcmp(key, "balance-groups")) {
        if (set_onoff(value, &cfg->balance_groups)) return why_fail(why, why_size, "balance-groups is on or off, not '%s'%s", value, "");
    } else if (!strcmp(key, "augment")) {
        return reef_augment_parse(value, &cfg->aug, why, why_size);
    } else if (!strcmp(key, "mixup")) {
        if (set_float(value, 0, 10, &cfg->mixup)) return why_fail(why, why_size, "mixup must be a finite number from 0 (off) to 10, not '%s'%s", value, "");
    } else if (!strcmp(key, "input-norm")) {
        if (!strcmp(value, "channel")) cfg->norm_shared = 0;
        else if (!strcmp(value, "shared")) cfg->norm_shared = 1;
        else if (!strcmp(value, "shared-mean")) cfg->norm_shared = 2;
        else return why_fail(why, why_size, "input-norm is channel, shared or shared-mean, not '%s'%s", value, "");
    } else if (!strcmp(key, "qat-epochs")) {
        if (!(rc = set_int(value, 0, 1000, &v))) cfg->qat_epochs = (int)v;
        else return why_fail(why, why_size, "qat-epochs wants a whole number from 0 (off) to 1000, not '%s'%s", value, "");
    } else if (!strcmp(key, "qat-lr")) {
        if (set_float(value, 1e-8, 1, &cfg->qat_lr)) return why_fail(why, why_size, "qat-lr must be a finite number from 1e-08 to 1, not '%s'%s", value, "");
    } else if (!strcmp(key, "chunk")) {
        if (!(rc = set_int(value, 0, 65536, &v))) cfg->chunk = (int)v;
        else return why_fail(why, why_size, "chunk wants a whole number from 0 (off) to 65536, not '%s'%s", value, "");
    } else {
        why_fail(why, why_size, "unknown recipe setting '%s' (%s)", key, reef_train_cfg_keys());
        return 1;
    }
    return 0;
}

/* ---- the configuration as text ----------------------------------------------- */

typedef enum { F_INT, F_U64, F_FLOAT } field_type;
typedef struct cfg_field {
    const char *key;
    field_type type;
    size_t offset;
} cfg_field;

#define FIELD(key, type, member) {key, type, offsetof(reef_train_cfg, member)}
static const cfg_field fields[] = {
    FIELD("epochs", F_INT, epochs),
    FIELD("batch", F_INT, batch),
    FIELD("threads", F_INT, threads),
    FIELD("seed", F_U64, seed),
    FIELD("optimizer", F_INT, opt.kind),       /* 0 sgd, 1 adamw */
    FIELD("lr", F_FLOAT, opt.lr),
    FIELD("momentum", F_FLOAT, opt.momentum),
    FIELD("nesterov", F_INT, opt.nesterov),
    FIELD("beta1", F_FLOAT, opt.beta1),
    FIELD("beta2", F_FLOAT, opt.beta2),
    FIELD("adam_eps", F_FLOAT, opt.eps),
    FIELD("weight_decay", F_FLOAT, opt.weight_decay),
    FIELD("clip_norm", F_FLOAT, opt.clip_norm),
    FIELD("schedule", F_INT, opt.sched),       /* 0 cosine, 1 one-cycle, 2 constant */
    FIELD("warmup", F_FLOAT, opt.warmup),
    FIELD("final_frac", F_FLOAT, opt.final_frac),
    FIELD("pct_start", F_FLOAT, opt.pct_start),
    FIELD("label_smoothing", F_FLOAT, label_smoothing),
    FIELD("balance_classes", F_INT, balance_classes),
    FIELD("aug_flip", F_INT, aug.flip),
    FIELD("aug_shift", F_INT, aug.shift),
    FIELD("aug_brightness", F_FLOAT, aug.brightness),
    FIELD("aug_contrast", F_FLOAT, aug.contrast),
    FIELD("aug_gamma", F_FLOAT, aug.gamma),
    FIELD("aug_noise", F_FLOAT, aug.noise),
    FIELD("aug_blur", F_INT, aug.blur),
    FIELD("aug_cutout", F_INT, aug.cutout),
    FIELD("balance_groups", F_INT, balance_groups),
    FIELD("chunk", F_INT, chunk),  /* written only when set: older checkpoints keep their bytes */
    FIELD("mixup", F_FLOAT, mixup),  /* written only when set, as chunk */
    FIELD("qat_epochs", F_INT, qat_epochs),  /* written only when set, as chunk (with qat_lr, qat_done) */
    FIELD("qat_lr", F_FLOAT, qat_lr),
    FIELD("qat_done", F_INT, qat_done),
    FIELD("norm_shared", F_INT, norm_shared),  /* written only when set, as chunk */
    FIELD("aug_motion", F_FLOAT, aug.motion),  /* written only when set, as chunk */
};
#undef FIELD
static const int nfields = (int)(sizeof fields / sizeof fields[0]);

int reef_train_cfg_format(const reef_train_cfg *cfg, char *buf, size_t size)
{
    size_t n = 0;
    if (size) buf[0] = 0;
    for (int i = 0; i < nfields; i++) {
        const char *p = (const char *)cfg + fields[i].offset;
        if (fields[i].offset == offsetof(reef_train_cfg, chunk) && !cfg->chunk) continue;
        if (fields[i].offset == offsetof(reef_train_cfg, mixup) && !cfg->mixup) continue;
        if (fields[i].offset == offsetof(reef_train_cfg, norm_shared) && !cfg->norm_shared) continue;
        if (fields[i].offset == offsetof(reef_train_cfg, aug.motion) && !cfg->aug.motion) continue;
        if ((fields[i].offset == offsetof(reef_train_cfg, qat_epochs) ||
             fields[i].offset == offsetof(reef_train_cfg, qat_lr) ||
             fields[i].offset == offsetof(reef_train_cfg, qat_done)) && !cfg->qat_epochs)
            continue;
        char *dst = buf + (n < size ? n : size);
        size_t room = n < size ? size - n : 0;
        if (fields[i].type == F_INT) n += (size_t)snprintf(dst, room, "%s=%d\n", fields[i].key, *(const int *)p);
        else if (fields[i].type == F_U64)
            n += (size_t)snprintf(dst, room, "%s=%llu\n", fields[i].key, (unsigned long long)*(const uint64_t *)p);
        else n += (size_t)snprintf(dst, room, "%s=%.9g\n", fields[i].key, (double)*(const float *)p);
    }
    return (int)n;
}

int reef_train_cfg_parse(reef_train_cfg *cfg, const char *text, reef_error *err)
{
    reef_train_cfg_default(cfg);
    const char *s = text;
    while (*s) {
        const char *eol = strchr(s, '\n');
        size_t len = eol ? (size_t)(eol - s) : strlen(s);
        char line[128];
        if (len >= sizeof line) return reef_fail(err, "training configuration: line too long");
        memcpy(line, s, len);
        line[len] = 0;
        s += len + (eol ? 1 : 0);
        if (!len) continue;
        char *eq = strchr(line, '=');
        if (!eq) return reef_fail(err, "training configuration: '%s' is not key=value", line);
        *eq = 0;
        int i = 0;
        while (i < nfields && strcmp(fields[i].key, line)) i++;
        if (i == nfields) continue;  // a key from a newer reef: ignore
        char *p = (char *)cfg + fields[i].offset;
        if (fields[i].type == F_INT) *(int *)p = atoi(eq + 1);
        else if (fields[i].type == F_U64) *(uint64_t *)p = strtoull(eq + 1, NULL, 10);
        else if (!isfinite(*(float *)p = strtof(eq + 1, NULL)))
            return reef_fail(err, "training configuration: %s=%s is not a finite number", line, eq + 1);
    }
    return 0;
}

void reef_norm_for_recipe(reef_norm *norm, const reef_dataset *ds, const reef_train_cfg *cfg)
{
    reef_norm_from_dataset(norm, ds);
    if (!cfg->norm_shared || norm->channels < 2) return;
    // Pooled over the channels (all have the same pixel count): the mean
    // of the means, and the variance around it from each channel's
    // second moment.
    const int c = norm->channels < REEF_MAX_CHANNELS ? norm->channels : REEF_MAX_CHANNELS;
    double mean = 0, second = 0;
    for (int j = 0; j < c; j++) {
        mean += norm->mean[j] / c;
        second += ((double)norm->std[j] * norm->std[j] + (double)norm->mean[j] * norm->mean[j]) / c;
    }
    const double var = second - mean * mean;
    for (int j = 0; j < c; j++) {
        // shared-mean: each channel keeps its own std around the common mean
        const double own = (double)norm->std[j] * norm->std[j] + ((double)norm->mean[j] - mean) * (norm->mean[j] - mean);
        const double v = cfg->norm_shared == 2 ? own : var;
        norm->mean[j] = (float)mean, norm->std[j] = (float)(v > 1e-6 ? sqrt(v) : 1.0);
    }
}

/* ---- data --------------------------------------------------------------------- */

void reef_norm_from_dataset(reef_norm *norm, const reef_dataset *ds)
{
    const int c = (int)ds->channels;
    double sum[REEF_MAX_CHANNELS] = {0}, sumsq[REEF_MAX_CHANNELS] = {0};
    const size_t px = (size_t)ds->count * ds->height * ds->width;
    for (size_t i = 0; i < px; i++)
        for (int j = 0; j < c && j < REEF_MAX_CHANNELS; j++) {
            double v = ds->pixels[i * c + j] / 255.0;
            sum[j] += v, sumsq[j] += v * v;
        }
    norm->channels = c;
    for (int j = 0; j < c && j < REEF_MAX_CHANNELS; j++) {
        double mean = px ? sum[j] / px : 0, var = px ? sumsq[j] / px - mean * mean : 1;
        norm->mean[j] = (float)mean;
        norm->std[j] = (float)(var > 1e-6 ? sqrt(var) : 1.0);
    }
}

int reef_check_dataset_fits(const reef_model *m, const reef_dataset *ds, const char *what, reef_error *err)
{
    const int32_t input[4] = {1, m->in_h, m->in_w, m->in_c};
    return reef_dataset_check_fits(ds, what, input, 4, m->num_classes, m->arch.name, err);
}

/* The mean of the 3x3 window around (y, x) of channel j (edges repeat). */
static int box3(const uint8_t *px, int h, int w, int c, int y, int x, int j)
{
    int sum = 0;
    for (int dy = -1; dy <= 1; dy++) {
        int yy = y + dy < 0 ? 0 : y + dy >= h ? h - 1 : y + dy;
        for (int dx = -1; dx <= 1; dx++) {
            int xx = x + dx < 0 ? 0 : x + dx >= w ? w - 1 : x + dx;
            sum += px[((size_t)yy * w + xx) * c + j];
        }
    }
    return (sum + 4) / 9;
}

/* Writes sample `src` of ds into m->input row `row`, augmented with rng
 * (rng NULL: plain), normalized as model.h says. The draws of flip, shift,
 * contrast and brightness come first and always in that order, so recipes
 * without the later augmentations draw what they always drew (motion's
 * draws come last, before the per-pixel noise). */
REEF_HOT
static void load_sample(reef_model *m, const reef_dataset *ds, uint32_t src, int row,
                        const reef_augment *aug, reef_rng *rng)
{
    const int h = m->in_h, w = m->in_w, c = m->in_c;
    const uint8_t *px = reef_dataset_sample(ds, src);
    float *dst = m->input + (size_t)row * h * w * c;
    int flip = 0, dx = 0, dy = 0, blur = 0, cut = 0, cx = 0, cy = 0;
    float gain = 1.0f, bias = 0.0f, gexp = 1.0f, noise = 0.0f;
    const uint8_t *motion = NULL;  /* aug->motion's partner frame */
    if (rng) {
        flip = aug->flip && (reef_rng_u32(rng) & 1);
        if (aug->shift > 0) {
            dx = (int)reef_rng_below(rng, 2 * aug->shift + 1) - aug->shift;
            dy = (int)reef_rng_below(rng, 2 * aug->shift + 1) - aug->shift;
        }
        gain = 1.0f + aug->contrast * (2.0f * reef_rng_uniform(rng) - 1.0f);
        bias = aug->brightness * (2.0f * reef_rng_uniform(rng) - 1.0f);
        if (aug->gamma > 0) gexp = expf(aug->gamma * (2.0f * reef_rng_uniform(rng) - 1.0f));
        if (aug->blur) blur = reef_rng_u32(rng) & 1;
        if (aug->cutout > 0 && (reef_rng_u32(rng) & 1)) {
            cut = aug->cutout;
            cx = (int)reef_rng_below(rng, (uint32_t)w) - cut / 2;
            cy = (int)reef_rng_below(rng, (uint32_t)h) - cut / 2;
        }
        noise = aug->noise;
        if (aug->motion > 0 && reef_rng_uniform(rng) < aug->motion)
            for (int tries = 0; tries < 64 && !motion; tries++) {  // a random frame of class 0
                const uint32_t k = reef_rng_below(rng, ds->count);
                if (ds->labels[k] == 0) motion = reef_dataset_sample(ds, k);
            }
    }
    // v = ((p/255)^gexp - 0.5) * gain + 0.5 + bias, then x = (v - mean) / std
    float lut[REEF_MAX_CHANNELS][256], noise_scale[REEF_MAX_CHANNELS];
    for (int j = 0; j < c; j++) {
        const float scale = gain / (255.0f * m->norm.std[j]);
        const float shift = (0.5f - 0.5f * gain + bias - m->norm.mean[j]) / m->norm.std[j];
        for (int p = 0; p < 256; p++)
            lut[j][p] = gexp == 1.0f ? p * scale + shift : 255.0f * powf(p / 255.0f, gexp) * scale + shift;
        noise_scale[j] = noise / m->norm.std[j];
    }
    for (int y = 0; y < h; y++) {
        int sy = y + dy;
        sy = sy < 0 ? 0 : sy >= h ? h - 1 : sy;
        for (int x = 0; x < w; x++) {
            int sx = (flip ? w - 1 - x : x) + dx;
            sx = sx < 0 ? 0 : sx >= w ? w - 1 : sx;
            const uint8_t *p = px + ((size_t)sy * w + sx) * c;
            const int in_cut = cut && y >= cy && y < cy + cut && x >= cx && x < cx + cut;
            for (int j = 0; j < c; j++) {
                float v = lut[j][blur ? box3(px, h, w, c, sy, sx, j) : p[j]];
                if (motion) v += (float)(motion[((size_t)sy * w + sx) * c + j] - 128) / (255.0f * m->norm.std[j]);
                if (noise > 0) v += noise_scale[j] * reef_rng_normal(rng);
                *dst++ = in_cut ? 0.0f : v;
            }
        }
    }
}

/* ---- the trainer ---------------------------------------------------------------- */

int reef_trainer_init(reef_trainer *t, reef_model *m, const reef_dataset *train,
                      const reef_train_cfg *cfg, reef_error *err)
{
    memset(t, 0, sizeof *t);
    if (reef_check_dataset_fits(m, train, "training data", err)) return -1;
    t->chunk = cfg->chunk > 0 && cfg->chunk < cfg->batch ? cfg->chunk : cfg->batch;
    t->nchunks = (cfg->batch + t->chunk - 1) / t->chunk;
    if (!m->batch_ || m->batch_cap < t->chunk)
        return reef_fail(err, "the model's batch buffers hold %d samples, the recipe wants %d", m->batch_cap, t->chunk);
    t->m = m, t->train = train, t->cfg = *cfg;
    if (reef_optim_init(&t->opt, &cfg->opt, m->nparams, err)) return -1;
    t->order = malloc((size_t)train->count * sizeof *t->order);
    t->labels = malloc((size_t)t->chunk * sizeof *t->labels);
    t->slot_floats = m->nparams + m->nstats;
    t->slots = malloc((size_t)t->nchunks * t->slot_floats * sizeof *t->slots);
    t->stats_before = malloc((m->nstats ? m->nstats : 1) * sizeof *t->stats_before);
    t->chunk_sums = malloc((size_t)t->nchunks * 2 * sizeof *t->chunk_sums);
    if (cfg->mixup > 0) t->mix_partner = malloc((size_t)m->in_h * m->in_w * m->in_c * sizeof *t->mix_partner);
    if (!t->order || !t->labels || !t->slots || !t->stats_before || !t->chunk_sums ||
        (cfg->mixup > 0 && !t->mix_partner)) {
        reef_trainer_free(t);
        return reef_fail(err, "out of memory");
    }
    if (cfg->balance_groups && train->num_groups > 0) {
        t->group_start = calloc((size_t)train->num_groups + 1, sizeof *t->group_start);
        t->group_samples = malloc((size_t)train->count * sizeof *t->group_samples);
        if (!t->group_start || !t->group_samples) {
            reef_trainer_free(t);
            return reef_fail(err, "out of memory");
        }
        for (uint32_t i = 0; i < train->count; i++) t->group_start[train->groups[i] + 1]++;
        for (uint32_t g = 0; g < train->num_groups; g++) t->group_start[g + 1] += t->group_start[g];
        uint32_t *fill = malloc((size_t)train->num_groups * sizeof *fill);  // a cursor per group
        if (!fill) {
            reef_trainer_free(t);
            return reef_fail(err, "out of memory");
        }
        memcpy(fill, t->group_start, (size_t)train->num_groups * sizeof *fill);
        for (uint32_t i = 0; i < train->count; i++) t->group_samples[fill[train->groups[i]]++] = i;
        free(fill);
        // keep only the groups that have samples: start offsets of those, then the end
        uint32_t k = 0;
        for (uint32_t g = 0; g < train->num_groups; g++)
            if (t->group_start[g + 1] > t->group_start[g]) t->group_start[k++] = t->group_start[g];
        t->group_start[k] = train->count;
        t->ngroups = k;
    }
    const int64_t per_epoch = (train->count + cfg->batch - 1) / cfg->batch;
    t->total_steps = per_epoch * cfg->epochs;
    if (cfg->balance_classes) {
        t->class_weights = calloc(m->num_classes, sizeof *t->class_weights);
        if (!t->class_weights) {
            reef_trainer_free(t);
            return reef_fail(err, "out of memory");
        }
        for (uint32_t i = 0; i < train->count; i++) t->class_weights[train->labels[i]] += 1.0f;
        for (int k = 0; k < m->num_classes; k++)
            t->class_weights[k] = t->class_weights[k] > 0
                                      ? (float)train->count / (m->num_classes * t->class_weights[k])
                                      : 0.0f;
    }
    return 0;
}

int reef_trainer_spread(reef_trainer *t, reef_error *err)
{
    const int ranks = reef_ranks_size();
    if (ranks > 1 && t->cfg.chunk <= 0)
        return reef_fail(err, "%d ranks share a batch out by chunks: give --chunk C (samples per chunk, e.g. %d; "
                              "the result is the same for any rank count, docs/mpi.md)", ranks,
                         t->cfg.batch / ranks > 0 ? t->cfg.batch / ranks : 1);
    if (ranks > t->nchunks)
        return reef_fail(err, "%d ranks but a batch of %d has only %d chunks of %d: use a smaller --chunk or fewer ranks",
                         ranks, t->cfg.batch, t->nchunks, t->chunk);
    if (ranks > 1 && (double)t->nchunks * (double)t->slot_floats * sizeof(float) > 2147483647.0)
        return reef_fail(err, "a batch's %d chunks of %zu parameters and statistics exceed MPI's 2 GiB per exchange: "
                              "use a larger --chunk", t->nchunks, t->slot_floats);
    t->spread = ranks > 1;
    return 0;
}

void reef_trainer_free(reef_trainer *t)
{
    reef_optim_free(&t->opt);
    free(t->order);
    free(t->labels);
    free(t->class_weights);
    free(t->mix_partner);
    free(t->group_start);
    free(t->group_samples);
    free(t->slots);
    free(t->stats_before);
    free(t->chunk_sums);
    memset(t, 0, sizeof *t);
}

/* Seeds derived from (seed, epoch, purpose) so that a resumed run draws
 * exactly what an uninterrupted one would. */
static uint64_t derive_seed(uint64_t seed, int epoch, uint64_t purpose)
{
    return seed * 0x9E3779B97F4A7C15ull ^ ((uint64_t)epoch << 20) ^ purpose;
}

static void shuffle(uint32_t *order, uint32_t n, uint64_t seed)
{
    reef_rng rng;
    reef_rng_seed(&rng, seed);
    for (uint32_t i = 0; i < n; i++) order[i] = i;
    for (uint32_t i = n - 1; i > 0; i--) {
        uint32_t j = reef_rng_below(&rng, i + 1), tmp = order[i];
        order[i] = order[j], order[j] = tmp;
    }
}

/* balance_groups: count draws of a uniform non-empty group, then a uniform
 * sample of that group. */
static void draw_group_balanced(const reef_trainer *t, uint64_t seed)
{
    const reef_dataset *ds = t->train;
    reef_rng rng;
    reef_rng_seed(&rng, seed);
    for (uint32_t i = 0; i < ds->count; i++) {
        uint32_t g = reef_rng_below(&rng, t->ngroups);
        uint32_t n = t->group_start[g + 1] - t->group_start[g];
        t->order[i] = t->group_samples[t->group_start[g] + reef_rng_below(&rng, n)];
    }
}

/* Beta(a, a) by Joehnk's method: u^(1/a) / (u^(1/a) + v^(1/a)), accepted
 * when the denominator is at most 1. */
static float draw_beta_symmetric(reef_rng *rng, float a)
{
    for (;;) {
        float x = powf(reef_rng_uniform(rng), 1.0f / a), y = powf(reef_rng_uniform(rng), 1.0f / a);
        if (x + y <= 1.0f && x + y > 0.0f) return x / (x + y);
    }
}

/* mixup: row i (sample src, label y1 already loaded) blended with a
 * uniform partner of the epoch, loaded with its own augmentation; the label
 * drawn as described at reef_train_cfg.mixup. */
static void mix_sample(reef_trainer *t, int epoch, uint32_t pos, int row)
{
    reef_model *m = t->m;
    const reef_dataset *ds = t->train;
    const size_t size = (size_t)m->in_h * m->in_w * m->in_c;
    float *x = m->input + (size_t)row * size;
    reef_rng rng;
    reef_rng_seed(&rng, derive_seed(t->cfg.seed, epoch, 4 + ((uint64_t)pos << 32)));
    const uint32_t partner = t->order[reef_rng_below(&rng, ds->count)];
    const float lam = draw_beta_symmetric(&rng, t->cfg.mixup);
    const int keep_first = reef_rng_uniform(&rng) < lam;
    memcpy(t->mix_partner, x, size * sizeof *x);
    load_sample(m, ds, partner, row, &t->cfg.aug, &rng);
    for (size_t k = 0; k < size; k++) x[k] = lam * t->mix_partner[k] + (1.0f - lam) * x[k];
    if (!keep_first) t->labels[row] = ds->labels[partner];
}

/* One chunk: samples [c0, c0 + cn) of the epoch's order, of a batch of n.
 * Its slot gets the chunk's gradient weighted by cn / n and, after the
 * parameters, its batch-norm statistics laid out as m->stats (each
 * layer's batch mean where its running mean is, its unbiased variance
 * where its running variance is). The running statistics are those from
 * before the step for every chunk (batch norm sums around them), so a
 * chunk's result does not depend on which chunks ran before it here. */
static void run_chunk(reef_trainer *t, int epoch, uint32_t c0, int cn, int n, float *slot, double *sums)
{
    reef_model *m = t->m;
    const reef_dataset *ds = t->train;
    const reef_loss_cfg loss_cfg = {t->cfg.label_smoothing, t->class_weights};
    for (int i = 0; i < cn; i++) {
        uint32_t src = t->order[c0 + i];
        reef_rng rng;
        reef_rng_seed(&rng, derive_seed(t->cfg.seed, epoch, 2 + ((uint64_t)(c0 + i) << 32)));
        load_sample(m, ds, src, i, &t->cfg.aug, &rng);
        t->labels[i] = ds->labels[src];
        if (t->cfg.mixup > 0) mix_sample(t, epoch, c0 + (uint32_t)i, i);
    }
    memcpy(m->stats, t->stats_before, m->nstats * sizeof *m->stats);
    reef_model_forward(m, cn, REEF_MODE_TRAIN, derive_seed(t->cfg.seed, epoch, 3 + ((uint64_t)c0 << 32)));
    sums[0] = reef_model_loss(m, t->labels, cn, &loss_cfg) * cn;
    int64_t correct = 0;
    for (int i = 0; i < cn; i++) correct += reef_model_argmax(m, i) == t->labels[i];
    sums[1] = (double)correct;
    reef_model_backward(m, t->labels, cn, &loss_cfg);
    const float weight = (float)cn / (float)n;  // exactly 1 when the chunk is the batch
    for (size_t i = 0; i < m->nparams; i++) slot[i] = m->grads[i] * weight;
    float *stats = slot + m->nparams;
    for (int bi = 0; bi < m->nblocks; bi++)
        for (int li = 0; li < m->blocks[bi].nlayers; li++) {
            const reef_layer *L = &m->blocks[bi].layers[li];
            if (!L->has_bn || !L->run_mean) continue;
            memcpy(stats + (L->run_mean - m->stats), L->bn_mean, (size_t)L->dims.oc * sizeof *stats);
            memcpy(stats + (L->run_var - m->stats), L->bn_var, (size_t)L->dims.oc * sizeof *stats);
        }
}

/* Every rank sends its chunks' slots and sums to all (chunks [lo, hi) of
 * rank r are contiguous, so the gathered arrays are in chunk order). */
static int share_chunks(reef_trainer *t, int nchunks)
{
    const int size = t->spread ? reef_ranks_size() : 1;
    if (size == 1) return 0;
    size_t *count = malloc(4 * (size_t)size * sizeof *count), *displ = count + size;
    size_t *scount = displ + size, *sdispl = scount + size;
    if (!count) return -1;
    const size_t slot_bytes = t->slot_floats * sizeof *t->slots;
    for (int r = 0; r < size; r++) {
        uint64_t lo, hi;
        reef_ranks_slice((uint64_t)nchunks, r, size, &lo, &hi);
        count[r] = (size_t)(hi - lo) * slot_bytes, displ[r] = (size_t)lo * slot_bytes;
        scount[r] = (size_t)(hi - lo) * 2 * sizeof *t->chunk_sums, sdispl[r] = (size_t)lo * 2 * sizeof *t->chunk_sums;
    }
    int rc = reef_ranks_allgather_bytes(t->slots, count, displ) |
             reef_ranks_allgather_bytes(t->chunk_sums, scount, sdispl);
    free(count);
    return rc;
}

/* The batch's gradient and running statistics from its chunks, added in
 * chunk order (the same on every rank, whatever the rank count). With one
 * chunk this is exactly the plain step: the gradient times 1, and
 * reef_bn_update_running's formula once. */
static void combine_chunks(reef_trainer *t, int nchunks)
{
    reef_model *m = t->m;
    memcpy(m->grads, t->slots, m->nparams * sizeof *m->grads);
    for (int k = 1; k < nchunks; k++) {
        const float *g = t->slots + (size_t)k * t->slot_floats;
        for (size_t i = 0; i < m->nparams; i++) m->grads[i] += g[i];
    }
    memcpy(m->stats, t->stats_before, m->nstats * sizeof *m->stats);
    const float momentum = m->bn_momentum;
    if (momentum == 0.0f) return;  // frozen statistics (fake-quantized passes never compute batch ones)
    for (int k = 0; k < nchunks; k++) {
        const float *b = t->slots + (size_t)k * t->slot_floats + m->nparams;
        for (size_t i = 0; i < m->nstats; i++) m->stats[i] = (1.0f - momentum) * m->stats[i] + momentum * b[i];
    }
}

int reef_trainer_epoch(reef_trainer *t, reef_epoch_stats *st, volatile sig_atomic_t *stop,
                       void (*progress)(void *ctx, int64_t done), void *ctx)
{
    reef_model *m = t->m;
    const reef_dataset *ds = t->train;
    const int epoch = t->epochs_done;
    const int bs = t->cfg.batch;
    const int rank = t->spread ? reef_ranks_rank() : 0, size = t->spread ? reef_ranks_size() : 1;
    if (t->group_samples) draw_group_balanced(t, derive_seed(t->cfg.seed, epoch, 1));
    else shuffle(t->order, ds->count, derive_seed(t->cfg.seed, epoch, 1));
    double loss_sum = 0, t0 = reef_now();
    int64_t correct = 0, seen = 0;
    float lr = 0;
    memset(st, 0, sizeof *st);
    for (uint32_t start = 0; start < ds->count; start += bs) {
        int stopping = stop && *stop;
        if (t->spread) stopping = reef_ranks_any(stopping);  // Ctrl-C on any rank stops all at the same step
        if (stopping) return 1;
        int n = ds->count - start < (uint32_t)bs ? (int)(ds->count - start) : bs;
        int nchunks = (n + t->chunk - 1) / t->chunk;
        uint64_t lo, hi;
        reef_ranks_slice((uint64_t)nchunks, rank, size, &lo, &hi);
        memcpy(t->stats_before, m->stats, m->nstats * sizeof *m->stats);
        // Quantization-aware: the gradient is taken at the int8 weights and
        // applied to the float ones (straight through the rounding).
        if (m->fq) reef_fq_weights_in(m->fq, m);
        for (int k = (int)lo; k < (int)hi; k++) {
            int cn = n - k * t->chunk < t->chunk ? n - k * t->chunk : t->chunk;
            run_chunk(t, epoch, start + (uint32_t)(k * t->chunk), cn, n, t->slots + (size_t)k * t->slot_floats,
                      t->chunk_sums + 2 * k);
        }
        if (share_chunks(t, nchunks)) reef_ranks_abort(1);  // MPI failed under us: nothing sane to continue with
        combine_chunks(t, nchunks);
        if (m->fq) reef_fq_weights_out(m->fq, m);
        for (int k = 0; k < nchunks; k++) loss_sum += t->chunk_sums[2 * k], correct += (int64_t)t->chunk_sums[2 * k + 1];
        reef_clip_grad_norm(m->grads, m->nparams, t->cfg.opt.clip_norm);
        lr = reef_schedule_lr(&t->opt.cfg, t->opt.step, t->total_steps);
        reef_optim_step(&t->opt, m, lr);
        seen += n;
        if (progress) progress(ctx, seen);
    }
    t->epochs_done++;
    st->epoch = t->epochs_done;
    st->loss = loss_sum / (double)seen;
    st->train_acc = (double)correct / (double)seen;
    st->lr = lr;
    st->seconds = reef_now() - t0;
    st->images_per_s = seen / (st->seconds > 0 ? st->seconds : 1e-9);
    return 0;
}

double reef_evaluate(reef_model *m, const reef_dataset *ds, uint16_t *pred, double *loss)
{
    int64_t correct = 0;
    double loss_sum = 0;
    for (uint32_t start = 0; start < ds->count; start += m->batch_cap) {
        int n = ds->count - start < (uint32_t)m->batch_cap ? (int)(ds->count - start) : m->batch_cap;
        reef_model_normalize(m, reef_dataset_sample(ds, start), n);
        reef_model_forward(m, n, REEF_MODE_INFER, 0);
        if (loss) loss_sum += reef_model_loss(m, ds->labels + start, n, NULL) * n;
        for (int i = 0; i < n; i++) {
            int p = reef_model_argmax(m, i);
            if (pred) pred[start + i] = (uint16_t)p;
            correct += p == ds->labels[start + i];
        }
    }
    if (loss) *loss = ds->count ? loss_sum / ds->count : 0;
    return ds->count ? (double)correct / ds->count : 0;
}
