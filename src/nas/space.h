/* The search space of `reef search` (docs/search-space.md): a fixed stem,
 * REEF_NAS_MAX_BLOCKS searchable blocks and a fixed head and classifier;
 * per block the ProxylessNAS candidates MBConv k3/5/7 x e3/6, plus zero
 * (the block is skipped) where the block keeps its shape. Two space-level
 * dimensions, chosen TinyNAS-style before the supernet is trained: a width
 * multiplier on every channel count, and the resolution the network works
 * at (the 32x32 input, or half of it through a 2x2 average pool first).
 *
 *   reef_nas_space s;
 *   reef_nas_space_init(&s, 32, 32, 1, 2, 0.5f, 1, &err);
 *   int choice[REEF_NAS_MAX_BLOCKS] = {...};   // index into reef_nas_cands
 *   reef_arch a; reef_nas_space_arch(&s, choice, "fish-nas", &a);
 */
#ifndef REEF_NAS_SPACE_H
#define REEF_NAS_SPACE_H

#include <stdint.h>

#include "nn/arch.h"
#include "util/err.h"
#include "util/rng.h"

#define REEF_NAS_MAX_BLOCKS 6
#define REEF_NAS_NCAND 7       /* six MBConvs and zero */
#define REEF_NAS_ZERO 6        /* index of the zero candidate */

typedef struct reef_nas_cand {
    int kernel, expand;        /* expand 0: the zero op */
    const char *name;          /* "k3e3" ... "zero" */
} reef_nas_cand;

extern const reef_nas_cand reef_nas_cands[REEF_NAS_NCAND];

/* One searchable block, resolved for a space: input shape, output
 * channels, stride, and whether zero (skip the block) is allowed, which
 * needs stride 1 and as many output channels as input. */
typedef struct reef_nas_block {
    int in_h, in_w, in_c;
    int out_h, out_w, out_c;
    int stride;
    int zero_ok;
} reef_nas_block;

typedef struct reef_nas_space {
    int in_h, in_w, in_c, num_classes;  /* the data's images and classes */
    float width;               /* channel multiplier */
    int downsample;            /* 1, or 2: avgpool k2 s2 before the stem */
    int res_h, res_w;          /* resolution the stem sees */
    int stem_c, stem_k, stem_s;
    int nblocks;
    reef_nas_block blocks[REEF_NAS_MAX_BLOCKS];
    int head_c;
    int feat_h, feat_w;        /* spatial size at the head */
    float dropout;
} reef_nas_space;

/* The width multipliers and downsampling factors the space selection
 * considers (reef_nas_select_space). */
#define REEF_NAS_NWIDTHS 3
extern const float reef_nas_widths[REEF_NAS_NWIDTHS];
#define REEF_NAS_NDOWNS 2
extern const int reef_nas_downs[REEF_NAS_NDOWNS];

/* Lays out the space for images in_h x in_w x in_c and num_classes classes
 * at width multiplier width (0.25 .. 2) and downsampling 1 or 2. */
int reef_nas_space_init(reef_nas_space *s, int in_h, int in_w, int in_c, int num_classes, float width,
                        int downsample, reef_error *err);

/* 1 when candidate cand may sit in block b. */
int reef_nas_cand_allowed(const reef_nas_space *s, int b, int cand);

/* Number of networks in the space (product of allowed candidates). */
double reef_nas_space_size(const reef_nas_space *s);

/* A uniformly random allowed choice for every block. */
void reef_nas_random_choice(const reef_nas_space *s, reef_rng *rng, int *choice);

/* The architecture spec of one network of the space (what `reef train`
 * takes): zero blocks are left out, MBConvs that keep their shape get the
 * residual connection. */
void reef_nas_space_arch(const reef_nas_space *s, const int *choice, const char *name, reef_arch *a);

/* The spec of candidate cand (not zero) in block b: an MBConv, residual
 * when the block keeps its shape (as reef_nas_space_arch writes it). */
reef_block_spec reef_nas_cand_spec(const reef_nas_space *s, int b, int cand);

/* "k5e3 zero k3e6 ..." for logs; buf of at least 8 * nblocks bytes. */
void reef_nas_choice_text(const reef_nas_space *s, const int *choice, char *buf, int size);

/* "w0.50 r32" */
void reef_nas_space_text(const reef_nas_space *s, char *buf, int size);

#endif
