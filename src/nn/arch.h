/* Architecture specs: a small text language for the MobileNetV2 /
 * ProxylessNAS family (grammar: docs/formats/arch-spec.md). One statement
 * per line (or separated by ';'), '#' starts a comment:
 *
 *   name fish-s
 *   input 32x32x1
 *   stem k3 s2 c16            # conv kxk + BN + ReLU6
 *   mbconv k3 e3 c16 s2       # 1x1 expand, kxk depthwise, 1x1 project
 *   mbconv k5 e3 c16 s1 skip  # residual (the default when shapes allow)
 *   head c64                  # 1x1 conv + BN + ReLU6
 *   gap
 *   dropout 0.1
 *   fc                        # classifier: as many outputs as classes
 *   recipe epochs 60          # how to train it: `reef train` applies these,
 *   recipe augment flip,shift #   explicit flags override them
 *
 * `reef search` emits this; `reef train --arch` reads it. */
#ifndef REEF_NN_ARCH_H
#define REEF_NN_ARCH_H

#include <stddef.h>

#include "util/err.h"

#define REEF_ARCH_MAX_BLOCKS 64

typedef enum reef_block_kind {
    REEF_BLOCK_STEM,     /* conv kxk (stride s) + BN + act */
    REEF_BLOCK_CONV,     /* same as stem, any place */
    REEF_BLOCK_DWCONV,   /* depthwise kxk + BN + act, channels kept */
    REEF_BLOCK_MBCONV,   /* [1x1 expand + BN + act] dw kxk + BN + act, 1x1 project + BN [+ input] */
    REEF_BLOCK_HEAD,     /* conv 1x1 + BN + act */
    REEF_BLOCK_AVGPOOL,  /* k x k window, stride s, VALID */
    REEF_BLOCK_MAXPOOL,
    REEF_BLOCK_GAP,      /* global average pooling: (H,W,C) -> (C) */
    REEF_BLOCK_DROPOUT,
    REEF_BLOCK_FC,       /* fully connected (+ bias), act; the last one is the classifier */
} reef_block_kind;

typedef enum reef_nn_act { REEF_NN_ACT_NONE, REEF_NN_ACT_RELU, REEF_NN_ACT_RELU6 } reef_nn_act;

typedef struct reef_block_spec {
    reef_block_kind kind;
    int kernel;        /* k */
    int stride;        /* s */
    int out_c;         /* c; 0 on fc = number of classes; 0 on dwconv/pools = same */
    int expand;        /* e, mbconv expansion ratio (1 = no expand conv) */
    int skip;          /* mbconv: 1 residual, 0 none (resolved when the model is built) */
    int skip_given;    /* 1 when the spec said skip/noskip */
    reef_nn_act act;
    float dropout;     /* dropout probability */
    int line;          /* source line, for messages */
} reef_block_spec;

#define REEF_ARCH_MAX_RECIPE 16

/* A `recipe KEY VALUE` line: how the network is meant to be trained
 * (reef_train_cfg_set's keys, e.g. "recipe epochs 60"). */
typedef struct reef_recipe_line {
    char key[32];
    char value[96];
    int line;
} reef_recipe_line;

typedef struct reef_arch {
    char name[64];
    int in_h, in_w, in_c;  /* 0 when the spec has no input line */
    int nblocks;
    reef_block_spec blocks[REEF_ARCH_MAX_BLOCKS];
    int nrecipe;           /* recipe lines, in order (checked when parsed) */
    reef_recipe_line recipe[REEF_ARCH_MAX_RECIPE];
} reef_arch;

/* Parses spec text. source names it in messages ("fish.arch", "--arch").
 * A syntax error reads "SOURCE:LINE:COL: what", then the line and a caret
 * under the offending token. */
int reef_arch_parse(const char *text, const char *source, reef_arch *a, reef_error *err);
/* The shipped specs: "fish-s" (<= 25k parameters) and "fish-m". NULL if
 * name is not one of them. */
const char *reef_arch_builtin_text(const char *name);
/* --arch's argument: a built-in name, else a file if one exists by that
 * name, else spec text itself (';' separates statements). */
int reef_arch_resolve(const char *arg, reef_arch *a, reef_error *err);
/* Canonical text of a's network (round-trips through reef_arch_parse;
 * recipe lines are not part of it: a checkpoint keeps the resolved recipe
 * itself); returns the length it needed, like snprintf. */
int reef_arch_format(const reef_arch *a, char *buf, size_t size);
const char *reef_block_kind_name(reef_block_kind k);

#endif
