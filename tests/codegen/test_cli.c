/* `reef gen` and `reef infer`: their JSON, and bad input refused with a
 * nonzero exit and no output left behind. */
#include "testing.h"

#include <stdlib.h>

static char out[1 << 16];

static void test_gen_json(void **state)
{
    (void)state;
    const char *bin = testing_reef_bin();
    char model[512], dir[256], cmd[4096];
    if (!bin || !testing_shared_path(model, sizeof model, "models/models/kws_ref_model.tflite")) skip();
    testing_tmpdir(dir, sizeof dir, "cli-gen");
    snprintf(cmd, sizeof cmd, "%s gen --model %s -o %s/out --name kws --json", bin, model, dir);
    assert_int_equal(testing_run(cmd, out, sizeof out), 0);
    printf("  %s", out);
    assert_non_null(strstr(out, "\"ops\":{\"CONV_2D\":5,\"DEPTHWISE_CONV_2D\":4,"));
    assert_non_null(strstr(out, "\"macs\":2656768"));
    assert_non_null(strstr(out, "\"weights_bytes\":"));
    assert_non_null(strstr(out, "\"arena_bytes\":"));
    assert_non_null(strstr(out, "\"arena_lower_bound_bytes\":"));
    snprintf(cmd, sizeof cmd, "%s/out", dir);
    assert_int_equal(testing_count_files(cmd), 2);
    /* Text output has the table. */
    snprintf(cmd, sizeof cmd, "%s gen --model %s -o %s/out --name kws", bin, model, dir);
    assert_int_equal(testing_run(cmd, out, sizeof out), 0);
    assert_non_null(strstr(out, "arena lower bound (bytes)"));
    assert_non_null(strstr(out, "memory mode"));
    /* --memory min: KWS's four 1x1 convs run row by row, each output in
     * place over its input (four one-layer ROWS steps), its four depthwise
     * steps in place, a smaller arena */
    snprintf(cmd, sizeof cmd, "%s gen --model %s -o %s/out --name kws --memory min --json", bin, model, dir);
    assert_int_equal(testing_run(cmd, out, sizeof out), 0);
    printf("  %s", out);
    assert_non_null(strstr(out, "\"memory\":\"min\""));
    assert_non_null(strstr(out, "\"in_place_steps\":4"));
    assert_non_null(strstr(out, "\"rows_steps\":4,\"rows_layers\":4,\"rows_in_place_steps\":4"));
    long arena = 0, layer = 0;
    const char *a = strstr(out, "\"arena_bytes\":"), *b = strstr(out, "\"arena_layer_by_layer_bytes\":");
    assert_true(a && b);
    arena = strtol(a + strlen("\"arena_bytes\":"), NULL, 10);
    layer = strtol(b + strlen("\"arena_layer_by_layer_bytes\":"), NULL, 10);
    assert_true(arena > 0 && arena < layer);
    snprintf(cmd, sizeof cmd, "grep -c 'define REEF_DW_IN_PLACE 1' %s/out/kws.h", dir);
    assert_int_equal(testing_run(cmd, out, sizeof out), 0);
    assert_int_equal(testing_rm_tree(dir), 0);
}

static void test_gen_refuses(void **state)
{
    (void)state;
    const char *bin = testing_reef_bin();
    char model[512], dir[256], cmd[4096];
    if (!bin || !testing_shared_path(model, sizeof model, "models/models/kws_ref_model.tflite")) skip();
    testing_tmpdir(dir, sizeof dir, "cli-bad");
    snprintf(cmd, sizeof cmd, "%s gen --model %s -o %s --name 9lives", bin, model, dir);
    assert_int_equal(testing_run(cmd, out, sizeof out), 1);
    assert_non_null(strstr(out, "not a C identifier"));
    snprintf(cmd, sizeof cmd, "head -c 1000 %s > %s/cut.tflite && %s gen --model %s/cut.tflite -o %s", model, dir,
             bin, dir, dir);
    assert_int_equal(testing_run(cmd, out, sizeof out), 1);
    assert_non_null(strstr(out, "cut.tflite"));
    assert_int_equal(testing_count_files(dir), 1);      /* only cut.tflite */
    snprintf(cmd, sizeof cmd, "%s gen --model %s", bin, model); /* no -o */
    assert_int_equal(testing_run(cmd, out, sizeof out), 2);
    snprintf(cmd, sizeof cmd, "%s gen --model %s -o %s/m --memory smallest", bin, model, dir);
    assert_int_equal(testing_run(cmd, out, sizeof out), 2);
    assert_non_null(strstr(out, "expected fast, balanced or min"));
    /* --memory min --intermittent: a capacitor no tiling can use still
     * writes nothing (its steps over their input fell back, then the
     * layer-by-layer steps did not fit either) */
    snprintf(cmd, sizeof cmd, "%s gen --model %s -o %s/m --memory min --intermittent --capacitor 10u --step-cycles estimate",
             bin, model, dir);
    assert_int_equal(testing_run(cmd, out, sizeof out), 1);
    assert_non_null(strstr(out, "no tiling can make progress"));
    assert_int_equal(testing_count_files(dir), 1); /* still only cut.tflite */
    /* one that holds some of KWS's steps over their input whole and not
     * the others: those fall back to layer by layer, said with the arena */
    snprintf(cmd, sizeof cmd, "%s gen --model %s -o %s/m --memory min --intermittent --capacitor 470u --step-cycles estimate",
             bin, model, dir);
    assert_int_equal(testing_run(cmd, out, sizeof out), 0);
    assert_non_null(strstr(out, "do not fit one charge whole"));
    assert_non_null(strstr(out, "whole units over input"));
    assert_int_equal(testing_rm_tree(dir), 0);
}

/* Issue 17, defect 8: gen writes the .h and the .c to temporaries and
 * renames both only when both are complete. A full disk (here a file-size
 * limit: writes past 64 KB fail with EFBIG) while writing the big .c must
 * leave the old pair as it was, no new .h beside an old .c, and no
 * temporary behind. */
static void test_gen_failure_keeps_the_old_pair(void **state)
{
    (void)state;
    const char *bin = testing_reef_bin();
    char model[512], dir[256], cmd[4096], path[600];
    if (!bin || !testing_shared_path(model, sizeof model, "models/models/kws_ref_model.tflite")) skip();
    testing_tmpdir(dir, sizeof dir, "cli-gen-full");
    static const char *const ext[2] = {"h", "c"};
    for (int k = 0; k < 2; k++) {
        snprintf(path, sizeof path, "%s/m.%s", dir, ext[k]);
        FILE *fp = fopen(path, "w");
        assert_non_null(fp);
        fputs("old\n", fp);
        assert_int_equal(fclose(fp), 0);
    }
    snprintf(cmd, sizeof cmd, "sh -c \"trap '' XFSZ; ulimit -f 128; exec '%s' gen --model '%s' -o '%s' --name m\"",
             bin, model, dir);
    int status = testing_run(cmd, out, sizeof out);
    if (status == 0) fail_msg("gen succeeded under a 64 KB file-size limit: %s", out);
    for (int k = 0; k < 2; k++) {
        snprintf(path, sizeof path, "%s/m.%s", dir, ext[k]);
        char data[16] = "";
        FILE *fp = fopen(path, "r");
        assert_non_null(fp);
        size_t size = fread(data, 1, sizeof data, fp);
        fclose(fp);
        if (size != 4 || memcmp(data, "old\n", 4)) fail_msg("m.%s was replaced though gen failed: %s", ext[k], out);
    }
    assert_int_equal(testing_count_files(dir), 2);  // no temporary left
    printf("  gen under a full disk: exit %d, the old m.h and m.c kept, nothing else written\n", status);
    assert_int_equal(testing_rm_tree(dir), 0);
}

static void test_infer(void **state)
{
    (void)state;
    const char *bin = testing_reef_bin();
    char model[512], in[512], ref[512], dir[256], cmd[4096];
    if (!bin || !testing_shared_path(model, sizeof model, "models/models/ad01_int8.tflite") ||
        !testing_shared_path(in, sizeof in, "models/vectors/ad/ad_sample0.in.bin") ||
        !testing_shared_path(ref, sizeof ref, "models/vectors/ad/ad_sample0.out.bin"))
        skip();
    testing_tmpdir(dir, sizeof dir, "cli-infer");
    snprintf(cmd, sizeof cmd,
             "%s infer --model %s --target host --input %s -o %s/out.bin --json && cmp %s/out.bin %s", bin,
             model, in, dir, dir, ref);
    assert_int_equal(testing_run(cmd, out, sizeof out), 0);
    assert_non_null(strstr(out, "\"target\":\"host\""));
    assert_non_null(strstr(out, "\"output_size\":640"));
    /* A wrong-size input, an unknown target: exit 1, no output file. */
    snprintf(cmd, sizeof cmd, "%s infer --model %s --input %s -o %s/bad.bin", bin, model, model, dir);
    assert_int_equal(testing_run(cmd, out, sizeof out), 1);
    assert_non_null(strstr(out, "640 int8 values"));
    snprintf(cmd, sizeof cmd, "%s infer --model %s --input %s -o %s/bad.bin --target pdp11", bin, model, in,
             dir);
    assert_int_equal(testing_run(cmd, out, sizeof out), 1);
    assert_non_null(strstr(out, "unknown --target"));
    assert_int_equal(testing_count_files(dir), 1); /* only out.bin */
    assert_int_equal(testing_rm_tree(dir), 0);
}

/* --dump-tensors writes every activation; each equals TFLite Micro's. */
static void test_infer_dump(void **state)
{
    (void)state;
    const char *bin = testing_reef_bin();
    char model[512], layers[512], dir[256], cmd[4096];
    if (!bin || !testing_shared_path(model, sizeof model, "models/models/pretrainedResnet_quant.tflite") ||
        !testing_shared_path(layers, sizeof layers, "models/layers/ic_lcg0"))
        skip();
    testing_tmpdir(dir, sizeof dir, "cli-dump");
    snprintf(cmd, sizeof cmd,
             "%s infer --model %s --input %s/t000.bin -o %s/out.bin --dump-tensors %s && "
             "for f in %s/t*.bin; do cmp $f %s/$(basename $f) || exit 1; done",
             bin, model, layers, dir, dir, layers, dir);
    assert_int_equal(testing_run(cmd, out, sizeof out), 0);
    assert_int_equal(testing_count_files(dir), 18); /* 17 activations + out.bin */
    assert_int_equal(testing_rm_tree(dir), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gen_json),
        cmocka_unit_test(test_gen_refuses),
        cmocka_unit_test(test_gen_failure_keeps_the_old_pair),
        cmocka_unit_test(test_infer),
        cmocka_unit_test(test_infer_dump),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
