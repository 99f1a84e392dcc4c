/* The check on real data: the DeepFish test split through fish-s
 * (trained briefly here, quantized) on the emulated Cortex-M4. Outputs equal
 * the host interpreter's, instruction counts are identical on two runs, and
 * the figures are printed next to the paper's. Skips without
 * ../shared/data/deepfish; the sanitizer run trains 1 epoch and runs 64
 * images. */
#include "fixture_run.h"

#include "codegen/lower.h"
#include "data/prep.h"
#include "energy/profile.h"
#include "nn/metrics.h"
#include "firmware/pipeline.h"

static void prep_split(const char *root, const char *split, reef_dataset *ds)
{
    reef_prep_options o = {.format = REEF_PREP_DEEPFISH, .root = root, .split = split};
    reef_prep_report rep = {0};
    reef_error err;
    if (reef_prep_build(&o, ds, &rep, &err)) fail_msg("%s", err.msg);
    reef_prep_report_free(&rep);
}

static void train_fish_s(const reef_dataset *train, int epochs, reef_model *m)
{
    reef_arch a;
    reef_train_cfg cfg;
    reef_trainer t;
    reef_epoch_stats st;
    reef_error err;
    reef_train_cfg_default(&cfg);
    cfg.epochs = epochs;
    if (reef_arch_resolve("fish-s", &a, &err) || reef_model_build(m, &a, 32, 32, 1, 2, cfg.seed, &err))
        fail_msg("%s", err.msg);
    reef_norm_from_dataset(&m->norm, train);
    if (reef_model_set_batch(m, cfg.batch, cfg.threads, &err) || reef_trainer_init(&t, m, train, &cfg, &err))
        fail_msg("%s", err.msg);
    for (int e = 0; e < epochs; e++) assert_int_equal(reef_trainer_epoch(&t, &st, NULL, NULL, NULL), 0);
    reef_trainer_free(&t);
}

static void test_deepfish_on_qemu(void **state)
{
    (void)state;
    char root[1024];
    if (!testing_shared_path(root, sizeof root, "data/deepfish/Classification/test.csv")) skip();
    testing_shared_path(root, sizeof root, "data/deepfish");
    const int sanitizer = testing_sanitizer_run();
    reef_dataset train, test;
    reef_model m;
    reef_graph g;
    reef_lowered_model lm;
    reef_device_profile profile;
    reef_error err = {{0}};
    prep_split(root, "train", &train);
    prep_split(root, "test", &test);
    train_fish_s(&train, sanitizer ? 1 : 6, &m);
    reef_quant_options qo;
    reef_quant_options_default(&qo);
    if (reef_quantize(&m, &train, &qo, &g, NULL, &err) || reef_lower(&g, &lm, &err) ||
        reef_profile_load("stm32l4r5", &profile, &err))
        fail_msg("%s", err.msg);

    int8_t *in;
    if (reef_pipeline_int8_inputs(&g, &lm, &test, "test split", &in, &err)) fail_msg("%s", err.msg);
    const int n = sanitizer ? 64 : (int)test.count;
    int8_t *out1 = malloc((size_t)n * lm.output_size), *out2 = malloc((size_t)n * lm.output_size);
    int8_t want[2];
    reef_pipeline_opts o = {.target = "qemu-m4", .name = "fish_s", .profile = &profile};
    reef_firmware_figures f1, f2;
    reef_run_counts c1, c2;
    if (reef_pipeline_run_int8(&lm, in, n, out1, &o, &f1, &c1, &err)) fail_msg("%s", err.msg);
    if (reef_pipeline_run_int8(&lm, in, n, out2, &o, &f2, &c2, &err)) fail_msg("%s", err.msg);

    uint16_t *pred = malloc((size_t)n * sizeof *pred);
    for (int i = 0; i < n; i++) {
        assert_int_equal(reef_lowered_invoke(&lm, in + (size_t)i * lm.input_size, want), 0);
        assert_memory_equal(out1 + (size_t)i * lm.output_size, want, 2);
        assert_memory_equal(out2 + (size_t)i * lm.output_size, want, 2);
        assert_memory_equal(&c1.per_inference[i], &c2.per_inference[i], sizeof c1.per_inference[i]);
        pred[i] = (uint16_t)reef_argmax_i8(out1 + (size_t)i * lm.output_size, 2);
    }
    reef_dataset view = test;
    view.count = (uint32_t)n;
    reef_metrics mt;
    if (reef_metrics_compute(&mt, &view, pred, &err)) fail_msg("%s", err.msg);
    printf("DeepFish test split (%d images), fish-s int8 on qemu-m4: accuracy %.2f%% (emulated); outputs = host, "
           "counts identical on two runs\n"
           "  %.0f instructions/inference (exact, %llu..%llu), %.3f ms at %.0f MHz, %.4f mJ (modeled), "
           "flash %.2f KB, RAM %.2f KB\n"
           "  paper (int8, hardware): 118 ms, 0.57 mJ, 483.82 KB flash, 70.32 KB RAM\n",
           n, 100 * mt.accuracy, f1.insn_mean, (unsigned long long)f1.insn_min, (unsigned long long)f1.insn_max,
           f1.time_ms, f1.clock_mhz, f1.energy_mj, f1.mem.flash_total / 1024.0, f1.mem.ram_total / 1024.0);
    assert_true(f1.insn_mean == f2.insn_mean && f1.mem.ram_total == f2.mem.ram_total);
    if (!sanitizer) assert_true(mt.accuracy > 0.85); /* 6 epochs; the full recipe reaches ~98% */
    reef_metrics_free(&mt);
    reef_run_counts_free(&c1), reef_run_counts_free(&c2);
    free(pred), free(in), free(out1), free(out2);
    reef_lowered_free(&lm);
    reef_graph_free(&g);
    reef_model_free(&m);
    reef_dataset_free(&train), reef_dataset_free(&test);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_deepfish_on_qemu)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
