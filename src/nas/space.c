/* The search space: see space.h and docs/search-space.md. */
#include "nas/space.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

const reef_nas_cand reef_nas_cands[REEF_NAS_NCAND] = {
    {3, 3, "k3e3"}, {3, 6, "k3e6"}, {5, 3, "k5e3"}, {5, 6, "k5e6"},
    {7, 3, "k7e3"}, {7, 6, "k7e6"}, {0, 0, "zero"},
};

const float reef_nas_widths[REEF_NAS_NWIDTHS] = {0.5f, 0.75f, 1.0f};
const int reef_nas_downs[REEF_NAS_NDOWNS] = {1, 2};

/* The base plan at width 1: MobileNetV2's shape shrunk for 32x32 frames
 * (fish-s's widths). Strides 2 in blocks 2 and 4 take 16x16 to 4x4. */
static const int base_stem_c = 16, base_head_c = 96;
static const struct {
    int c, s;
} base_blocks[REEF_NAS_MAX_BLOCKS] = {{16, 1}, {24, 2}, {24, 1}, {32, 2}, {32, 1}, {32, 1}};

/* Channels at a width multiplier: a multiple of 4 (the int8 kernels read
 * four channels per word), at least 4. */
static int scale_channels(int c, float width)
{
    int v = (int)lroundf((float)c * width / 4.0f) * 4;
    return v < 4 ? 4 : v;
}

static int same_out(int in, int stride) { return (in + stride - 1) / stride; }

int reef_nas_space_init(reef_nas_space *s, int in_h, int in_w, int in_c, int num_classes, float width,
                        int downsample, reef_error *err)
{
    memset(s, 0, sizeof *s);
    if (!(width >= 0.25f && width <= 2.0f)) return reef_fail(err, "width multiplier %g: must be from 0.25 to 2", width);
    if (downsample != 1 && downsample != 2) return reef_fail(err, "downsampling %d: must be 1 or 2", downsample);
    if (in_h < 8 * downsample || in_w < 8 * downsample)
        return reef_fail(err, "images of %dx%d are too small for the search space (at least %dx%d)", in_h, in_w,
                         8 * downsample, 8 * downsample);
    if (num_classes < 2) return reef_fail(err, "%d classes: a classifier needs at least 2", num_classes);
    s->in_h = in_h, s->in_w = in_w, s->in_c = in_c, s->num_classes = num_classes;
    s->width = width, s->downsample = downsample;
    s->res_h = in_h / downsample, s->res_w = in_w / downsample;
    s->stem_c = scale_channels(base_stem_c, width), s->stem_k = 3, s->stem_s = 2;
    s->head_c = scale_channels(base_head_c, width);
    s->dropout = 0.1f;
    int h = same_out(s->res_h, s->stem_s), w = same_out(s->res_w, s->stem_s), c = s->stem_c;
    s->nblocks = REEF_NAS_MAX_BLOCKS;
    for (int b = 0; b < s->nblocks; b++) {
        reef_nas_block *B = &s->blocks[b];
        B->in_h = h, B->in_w = w, B->in_c = c;
        B->stride = base_blocks[b].s;
        B->out_c = scale_channels(base_blocks[b].c, width);
        B->out_h = same_out(h, B->stride), B->out_w = same_out(w, B->stride);
        B->zero_ok = B->stride == 1 && B->out_c == c;
        h = B->out_h, w = B->out_w, c = B->out_c;
    }
    s->feat_h = h, s->feat_w = w;
    return 0;
}

int reef_nas_cand_allowed(const reef_nas_space *s, int b, int cand)
{
    if (b < 0 || b >= s->nblocks || cand < 0 || cand >= REEF_NAS_NCAND) return 0;
    return cand != REEF_NAS_ZERO || s->blocks[b].zero_ok;
}

double reef_nas_space_size(const reef_nas_space *s)
{
    double n = 1;
    for (int b = 0; b < s->nblocks; b++) n *= s->blocks[b].zero_ok ? REEF_NAS_NCAND : REEF_NAS_NCAND - 1;
    return n;
}

void reef_nas_random_choice(const reef_nas_space *s, reef_rng *rng, int *choice)
{
    for (int b = 0; b < s->nblocks; b++)
        choice[b] = (int)reef_rng_below(rng, s->blocks[b].zero_ok ? REEF_NAS_NCAND : REEF_NAS_NCAND - 1);
}

static reef_block_spec block_spec(reef_block_kind kind, int k, int s, int c, int e, reef_nn_act act)
{
    reef_block_spec b;
    memset(&b, 0, sizeof b);
    b.kind = kind, b.kernel = k, b.stride = s, b.out_c = c, b.expand = e, b.act = act;
    b.skip = -1;  // resolved by the model: residual when shapes allow
    return b;
}

reef_block_spec reef_nas_cand_spec(const reef_nas_space *s, int b, int cand)
{
    const reef_nas_cand *c = &reef_nas_cands[cand];
    reef_block_spec spec = block_spec(REEF_BLOCK_MBCONV, c->kernel, s->blocks[b].stride, s->blocks[b].out_c,
                                      c->expand, REEF_NN_ACT_RELU6);
    spec.skip = s->blocks[b].zero_ok;
    spec.skip_given = 1;
    return spec;
}

void reef_nas_space_arch(const reef_nas_space *s, const int *choice, const char *name, reef_arch *a)
{
    memset(a, 0, sizeof *a);
    snprintf(a->name, sizeof a->name, "%s", name);
    a->in_h = s->in_h, a->in_w = s->in_w, a->in_c = s->in_c;
    reef_block_spec *out = a->blocks;
    if (s->downsample == 2) *out++ = block_spec(REEF_BLOCK_AVGPOOL, 2, 2, 0, 1, REEF_NN_ACT_NONE);
    *out++ = block_spec(REEF_BLOCK_STEM, s->stem_k, s->stem_s, s->stem_c, 1, REEF_NN_ACT_RELU6);
    for (int b = 0; b < s->nblocks; b++)
        if (reef_nas_cands[choice[b]].expand) *out++ = reef_nas_cand_spec(s, b, choice[b]);
    *out++ = block_spec(REEF_BLOCK_HEAD, 1, 1, s->head_c, 1, REEF_NN_ACT_RELU6);
    *out++ = block_spec(REEF_BLOCK_GAP, 1, 1, 0, 1, REEF_NN_ACT_NONE);
    reef_block_spec *d = out++;
    *d = block_spec(REEF_BLOCK_DROPOUT, 1, 1, 0, 1, REEF_NN_ACT_NONE);
    d->dropout = s->dropout;
    *out++ = block_spec(REEF_BLOCK_FC, 1, 1, 0, 1, REEF_NN_ACT_NONE);
    a->nblocks = (int)(out - a->blocks);
    for (int i = 0; i < a->nblocks; i++) a->blocks[i].line = i + 3;
}

void reef_nas_choice_text(const reef_nas_space *s, const int *choice, char *buf, int size)
{
    int at = 0;
    buf[0] = '\0';
    for (int b = 0; b < s->nblocks && at < size; b++)
        at += snprintf(buf + at, (size_t)(size - at), "%s%s", b ? " " : "", reef_nas_cands[choice[b]].name);
}

void reef_nas_space_text(const reef_nas_space *s, char *buf, int size)
{
    snprintf(buf, (size_t)size, "w%.2f r%d", s->width, s->res_h);
}
