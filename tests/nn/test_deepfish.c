/* fish-s with the default recipe on the shared DeepFish frames: at least
 * 97% accuracy on the test split (the sanitizer build trains one epoch and
 * only checks that it learns something). Skips when the data is absent. */
#include "testing.h"

#include "data/prep.h"
#include "nn/arch.h"
#include "nn/metrics.h"
#include "nn/model.h"
#include "nn/train.h"
#include "util/io.h"

static void load_split(const char *root, const char *split, reef_dataset *ds)
{
    reef_prep_options opt = {.format = REEF_PREP_DEEPFISH, .root = root, .split = split};
    reef_prep_report rep;
    reef_error err;
    int rc = reef_prep_build(&opt, ds, &rep, &err);
    reef_prep_report_free(&rep);
    if (rc) fail_msg("%s", err.msg);
}

static void test_fish_s_default_recipe(void **state)
{
    (void)state;
    char root[1024];
    if (!testing_shared_path(root, sizeof root, "data/deepfish")) skip();
    reef_dataset train, test;
    load_split(root, "train", &train);
    load_split(root, "test", &test);
    reef_train_cfg cfg;
    reef_train_cfg_default(&cfg);
    if (testing_sanitizer_run()) cfg.epochs = 1;
    reef_arch a;
    reef_error err;
    reef_model m;
    assert_int_equal(reef_arch_resolve("fish-s", &a, &err), 0);
    assert_int_equal(reef_model_build(&m, &a, 32, 32, 1, (int)train.num_classes, cfg.seed, &err), 0);
    reef_norm_from_dataset(&m.norm, &train);
    assert_int_equal(reef_model_set_batch(&m, cfg.batch, cfg.threads, &err), 0);
    reef_trainer t;
    assert_int_equal(reef_trainer_init(&t, &m, &train, &cfg, &err), 0);
    double t0 = reef_now(), ips = 0;
    for (int e = 0; e < cfg.epochs; e++) {
        reef_epoch_stats st;
        assert_int_equal(reef_trainer_epoch(&t, &st, NULL, NULL, NULL), 0);
        ips += st.images_per_s / cfg.epochs;
    }
    double seconds = reef_now() - t0;
    uint16_t *pred = malloc(test.count * sizeof *pred);
    reef_evaluate(&m, &test, pred, NULL);
    reef_metrics mt;
    assert_int_equal(reef_metrics_compute(&mt, &test, pred, &err), 0);
    printf("  fish-s (%zu parameters), %d epochs in %.1f s (%.0f img/s, %d threads): test accuracy %.2f%% (%lld of %lld)\n",
           m.nparams, cfg.epochs, seconds, ips, cfg.threads, 100 * mt.accuracy, (long long)mt.correct,
           (long long)mt.total);
    if (testing_sanitizer_run()) assert_true(mt.accuracy > 0.6);
    else assert_true(mt.accuracy >= 0.97);
    reef_metrics_free(&mt);
    free(pred);
    reef_trainer_free(&t);
    reef_model_free(&m);
    reef_dataset_free(&train);
    reef_dataset_free(&test);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_fish_s_default_recipe)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
