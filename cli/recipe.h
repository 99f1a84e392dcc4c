/* The training recipe's options, shared by `reef train` and `reef cv`:
 * --epochs, --batch, --threads, --seed, --optimizer, --lr, --momentum,
 * --weight-decay, --schedule, --clip, --label-smoothing, --balance,
 * --balance-groups, --augment, --chunk. They are collected as (key, value) pairs and
 * applied after the defaults and the architecture spec's recipe lines, so an
 * explicit flag always wins (docs/formats/arch-spec.md). */
#ifndef REEF_CLI_RECIPE_H
#define REEF_CLI_RECIPE_H

#include <getopt.h>
#include <stdio.h>

#include "nn/arch.h"
#include "nn/train.h"

#define CLI_RECIPE_CODE 1000 /* getopt codes CLI_RECIPE_CODE + i */
#define CLI_RECIPE_MAX 64

/* getopt_long entries; put them into a command's option table. */
#define CLI_RECIPE_OPTIONS                                                                                      \
    {"epochs", required_argument, NULL, CLI_RECIPE_CODE + 0},                                                   \
        {"batch", required_argument, NULL, CLI_RECIPE_CODE + 1},                                                \
        {"threads", required_argument, NULL, CLI_RECIPE_CODE + 2},                                              \
        {"seed", required_argument, NULL, CLI_RECIPE_CODE + 3},                                                 \
        {"optimizer", required_argument, NULL, CLI_RECIPE_CODE + 4},                                            \
        {"lr", required_argument, NULL, CLI_RECIPE_CODE + 5},                                                   \
        {"momentum", required_argument, NULL, CLI_RECIPE_CODE + 6},                                             \
        {"weight-decay", required_argument, NULL, CLI_RECIPE_CODE + 7},                                         \
        {"schedule", required_argument, NULL, CLI_RECIPE_CODE + 8},                                             \
        {"clip", required_argument, NULL, CLI_RECIPE_CODE + 9},                                                 \
        {"label-smoothing", required_argument, NULL, CLI_RECIPE_CODE + 10},                                     \
        {"balance", no_argument, NULL, CLI_RECIPE_CODE + 11},                                                   \
        {"balance-groups", no_argument, NULL, CLI_RECIPE_CODE + 12},                                            \
        {"augment", required_argument, NULL, CLI_RECIPE_CODE + 13},                                             \
        {"chunk", required_argument, NULL, CLI_RECIPE_CODE + 14},                                               \
        {"mixup", required_argument, NULL, CLI_RECIPE_CODE + 15},                                               \
        {"qat-epochs", required_argument, NULL, CLI_RECIPE_CODE + 16},                                          \
        {"qat-lr", required_argument, NULL, CLI_RECIPE_CODE + 17},                                              \
        {"input-norm", required_argument, NULL, CLI_RECIPE_CODE + 18}

typedef struct cli_recipe {
    int n;
    const char *key[CLI_RECIPE_MAX];
    const char *value[CLI_RECIPE_MAX];
} cli_recipe;

/* For getopt code c: records the setting (checking its value; prints
 * "reef NAME: ..." and returns 2 when bad) and returns 0; returns 1 when c
 * is not a recipe option. */
int cli_recipe_option(const char *name, cli_recipe *r, int c, const char *arg);
/* 1 if the flags set key. */
int cli_recipe_has(const cli_recipe *r, const char *key);
/* The defaults, then the spec's recipe lines (arch may be NULL), then the
 * flags: optimizer settings first (choosing an optimizer sets its default
 * lr), then the rest in order. Errors cannot happen here (values were
 * checked when parsed). */
void cli_recipe_resolve(const cli_recipe *r, const reef_arch *arch, reef_train_cfg *cfg);
/* The options' --help lines. */
void cli_recipe_usage(FILE *fp, int default_threads);

#endif
