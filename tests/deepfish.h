/* What the tests that train on the real DeepFish frames share
 * (tests/quant/test_quant_model.c, tests/tflite/test_tfjs_reader.c): its
 * train and test splits, smaller under the sanitizers, and fish-s trained
 * on them. */
#ifndef REEF_TESTS_DEEPFISH_H
#define REEF_TESTS_DEEPFISH_H

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testing.h"

#include "data/prep.h"
#include "nn/arch.h"
#include "nn/model.h"
#include "nn/train.h"

/* Writes dir/Classification/<split>.csv with every `every`-th row of the
 * shared split and links the habitat folders beside it: a DeepFish root
 * with a smaller split. */
static inline void deepfish_subset(const char *shared, const char *dir, const char *split, int every)
{
    char path[1024], line[512];
    snprintf(path, sizeof path, "%s/Classification", dir);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/Classification/%s.csv", shared, split);
    FILE *in = fopen(path, "r");
    assert_non_null(in);
    snprintf(path, sizeof path, "%s/Classification/%s.csv", dir, split);
    FILE *out = fopen(path, "w");
    assert_non_null(out);
    for (int row = 0; fgets(line, sizeof line, in); row++)
        if (row == 0 || row % every == 0) fputs(line, out);
    fclose(in);
    assert_int_equal(fclose(out), 0);
    snprintf(path, sizeof path, "%s/Classification", shared);
    DIR *d = opendir(path);
    assert_non_null(d);
    struct dirent *e;
    while ((e = readdir(d))) {
        char from[1024], to[1024];
        if (e->d_name[0] == '.' || strstr(e->d_name, ".csv")) continue;
        snprintf(from, sizeof from, "%s/Classification/%s", shared, e->d_name);
        snprintf(to, sizeof to, "%s/Classification/%s", dir, e->d_name);
        if (access(to, F_OK)) assert_int_equal(symlink(from, to), 0);
    }
    closedir(d);
}

/* DeepFish's train and test splits from ../shared, or the test skips. Under
 * the sanitizers (10x slower) every 10th frame of each: the subset's root
 * is then made in `subset` (named after label), for the caller to remove;
 * else subset is "". */
static inline void deepfish_splits(const char *label, char *subset, size_t subset_size, reef_dataset *train,
                                   reef_dataset *test)
{
    char root[512];
    subset[0] = '\0';
    if (!testing_shared_path(root, sizeof root, "data/deepfish/Classification/test.csv")) skip();
    testing_shared_path(root, sizeof root, "data/deepfish");
    if (testing_sanitizer_run()) {
        testing_tmpdir(subset, subset_size, label);
        deepfish_subset(root, subset, "train", 10);
        deepfish_subset(root, subset, "test", 10);
        printf("  sanitizer run: every 10th DeepFish train and test frame\n");
        snprintf(root, sizeof root, "%s", subset);
    }
    reef_prep_options po = {.format = REEF_PREP_DEEPFISH, .root = root, .split = "train", .threads = 2};
    reef_prep_report pr;
    reef_error err;
    if (reef_prep_build(&po, train, &pr, &err)) fail_msg("%s", err.msg);
    reef_prep_report_free(&pr);
    po.split = "test";
    if (reef_prep_build(&po, test, &pr, &err)) fail_msg("%s", err.msg);
    reef_prep_report_free(&pr);
}

/* fish-s trained `epochs` epochs of the default recipe on train (2 threads). */
static inline void trained_fish_s(reef_model *m, const reef_dataset *train, int epochs)
{
    reef_arch a;
    reef_error err;
    if (reef_arch_resolve("fish-s", &a, &err) || reef_model_build(m, &a, 32, 32, 1, 2, 1, &err))
        fail_msg("%s", err.msg);
    reef_norm_from_dataset(&m->norm, train);
    reef_train_cfg cfg;
    reef_train_cfg_default(&cfg);
    cfg.epochs = epochs, cfg.threads = 2;
    reef_trainer t;
    reef_epoch_stats st;
    if (reef_model_set_batch(m, cfg.batch, cfg.threads, &err) || reef_trainer_init(&t, m, train, &cfg, &err))
        fail_msg("%s", err.msg);
    for (int e = 0; e < cfg.epochs; e++) reef_trainer_epoch(&t, &st, NULL, NULL, NULL);
    reef_trainer_free(&t);
}

#endif
