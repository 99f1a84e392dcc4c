/* The generated C: emitted for each MLPerf Tiny model and a small model,
 * compiled with the host cc (-std=c99 -Wall -Wextra -pedantic -Werror)
 * together with the runtime and a tiny main, run on the reference inputs,
 * and checked identical to the host interpreter (and so to TFLite Micro).
 * Also: the weights land in .rodata.reef_weights, and the code compiles
 * for the Cortex-M4 when arm-none-eabi-gcc is installed. */
#include "mlperf.h"

#include "codegen/emit.h"
#include "codegen/lower.h"
#include "small_model.h"
#include "firmware/firmware.h"

/* The harness: reads each input file, runs the model through the generic
 * REEF_MODEL_INVOKE (or, for the second file onward, by filling <name>_input()
 * and calling invoke(NULL, NULL)), writes each output file. */
static void write_main(const char *dir, const char *name)
{
    char path[600];
    snprintf(path, sizeof path, "%s/main.c", dir);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fprintf(fp,
            "#include <stdio.h>\n#include <string.h>\n#include \"%s.h\"\n"
            "int main(int argc, char **argv)\n{\n"
            "    static int8_t in[REEF_MODEL_INPUT_SIZE], out[REEF_MODEL_OUTPUT_SIZE];\n"
            "    int i;\n"
            "    for (i = 1; i + 1 < argc; i += 2) {\n"
            "        FILE *f = fopen(argv[i], \"rb\");\n"
            "        if (!f || fread(in, 1, sizeof in, f) != sizeof in) return 3;\n"
            "        fclose(f);\n"
            "        if (i == 1) {\n"
            "            if (REEF_MODEL_INVOKE(in, out) != 0) return 4;\n"
            "        } else {\n"
            "            memcpy(%s_input(), in, sizeof in);\n"
            "            if (%s_invoke(NULL, NULL) != 0) return 4;\n"
            "            memcpy(out, %s_output(), sizeof out);\n"
            "        }\n"
            "        f = fopen(argv[i + 1], \"wb\");\n"
            "        if (!f || fwrite(out, 1, sizeof out, f) != sizeof out) return 5;\n"
            "        fclose(f);\n"
            "    }\n"
            "    return 0;\n}\n",
            name, name, name, name);
    fclose(fp);
}

/* Emits, compiles and runs the model on n inputs; each output must equal
 * the interpreter's and, when given, the reference. */
static void check_generated(const reef_lowered_model *m, const char *name, const char **inputs,
                            const char **refs, int n)
{
    const char *src = testing_source_dir();
    char dir[256], cmd[8192], path[600];
    reef_error err;
    if (!src) skip();
    testing_tmpdir(dir, sizeof dir, "gen");
    if (reef_emit_c(m, dir, name, "test", &err)) fail_msg("%s", err.msg);
    write_main(dir, name);
    if (testing_cc_generated(src, dir, name, cmd, sizeof cmd)) fail_msg("%s: the generated C does not compile: %s", name, cmd);
    int len = snprintf(cmd, sizeof cmd, "%s/prog", dir);
    for (int i = 0; i < n; i++)
        len += snprintf(cmd + len, sizeof cmd - (size_t)len, " %s %s/out%d.bin", inputs[i], dir, i);
    assert_int_equal(testing_system(cmd), 0);

    int8_t *want = malloc((size_t)m->output_size);
    int bad = 0;
    for (int i = 0; i < n; i++) {
        int8_t *in = (int8_t *)mlperf_read(inputs[i], (size_t)m->input_size);
        snprintf(path, sizeof path, "%s/out%d.bin", dir, i);
        int8_t *got = (int8_t *)mlperf_read(path, (size_t)m->output_size);
        assert_int_equal(reef_lowered_invoke((reef_lowered_model *)m, in, want), 0);
        bad += mlperf_compare(name, got, want, (size_t)m->output_size) != 0;
        if (refs) {
            int8_t *ref = (int8_t *)mlperf_read(refs[i], (size_t)m->output_size);
            bad += mlperf_compare(name, got, ref, (size_t)m->output_size) != 0;
            free(ref);
        }
        free(in), free(got);
        unlink(path);
    }
    printf("  %-6s generated C: %d inputs, %s\n", name, n, bad ? "DIFFERS" : "identical");
    free(want);
    assert_int_equal(testing_rm_tree(dir), 0);
    assert_int_equal(bad, 0);
}

static void test_gen_mlperf(void **state)
{
    (void)state;
    static mlperf_vector v[MLPERF_MAX_VECTORS];
    int n = mlperf_vectors(v, MLPERF_MAX_VECTORS);
    if (!n) skip();
    for (int start = 0; start < n;) {
        int end = start;
        while (end < n && !strcmp(v[end].model, v[start].model)) end++;
        const char *inputs[MLPERF_MAX_VECTORS], *refs[MLPERF_MAX_VECTORS];
        for (int i = start; i < end; i++)
            inputs[i - start] = v[i].input_file, refs[i - start] = v[i].output_file;
        reef_graph g;
        reef_lowered_model m;
        reef_error err;
        if (reef_tflite_read(v[start].model_file, &g, &err) || reef_lower(&g, &m, &err))
            fail_msg("%s", err.msg);
        check_generated(&m, v[start].model, inputs, refs, testing_sanitizer_run() ? 1 : end - start);
        reef_lowered_free(&m);
        reef_graph_free(&g);
        start = end;
    }
}

static void test_gen_small(void **state)
{
    (void)state;
    reef_graph g;
    reef_lowered_model m;
    reef_error err;
    char dir[256], paths[4][300];
    const char *inputs[4];
    build_small(&g, 0);
    if (reef_lower(&g, &m, &err)) fail_msg("%s", err.msg);
    testing_tmpdir(dir, sizeof dir, "small-in");
    reef_rng r;
    reef_rng_seed(&r, 11);
    for (int i = 0; i < 4; i++) {
        int8_t in[128];
        for (int k = 0; k < 128; k++) in[k] = (int8_t)reef_rng_u32(&r);
        snprintf(paths[i], sizeof paths[i], "%s/in%d.bin", dir, i);
        assert_int_equal(reef_write_file(paths[i], in, sizeof in, &err), 0);
        inputs[i] = paths[i];
    }
    check_generated(&m, "small", inputs, NULL, 4);
    for (int i = 0; i < 4; i++) unlink(paths[i]);
    rmdir(dir);
    reef_lowered_free(&m);
    reef_graph_free(&g);
}

/* The constants sit in .rodata.reef_weights (counted by objdump), and the
 * file compiles for the Cortex-M4 too. */
static void test_gen_sections(void **state)
{
    (void)state;
    char model[512], dir[256], cmd[2048];
    if (!testing_shared_path(model, sizeof model, "models/models/kws_ref_model.tflite")) skip();
    const char *src = testing_source_dir();
    if (!src) skip();
    reef_graph g;
    reef_lowered_model m;
    reef_error err;
    if (reef_tflite_read(model, &g, &err) || reef_lower(&g, &m, &err)) fail_msg("%s", err.msg);
    testing_tmpdir(dir, sizeof dir, "gen-sec");
    assert_int_equal(reef_emit_c(&m, dir, "kws", model, &err), 0);
    snprintf(cmd, sizeof cmd,
             "cc -std=c99 -pedantic -Wall -Wextra -Werror -c -I%s/runtime/include -o %s/kws.o %s/kws.c && "
             "objdump -h %s/kws.o | awk '$2 == \".rodata.reef_weights\" {print $3}' > %s/size.txt",
             src, dir, dir, dir, dir);
    assert_int_equal(testing_system(cmd), 0);
    snprintf(cmd, sizeof cmd, "%s/size.txt", dir);
    FILE *fp = fopen(cmd, "r");
    unsigned long size = 0;
    assert_non_null(fp);
    assert_int_equal(fscanf(fp, "%lx", &size), 1);
    fclose(fp);
    printf("  kws: .rodata.reef_weights %lu bytes, model constants %zu bytes\n", size, m.weights_bytes);
    /* Equal up to alignment padding between arrays. */
    assert_true(size >= m.weights_bytes && size < m.weights_bytes + 4u * 4u * (unsigned)m.nsteps);
    if (testing_system("command -v arm-none-eabi-gcc >/dev/null 2>&1") == 0) {
        snprintf(cmd, sizeof cmd,
                 "arm-none-eabi-gcc -std=c99 -pedantic -Wall -Wextra -Werror -O2 -mcpu=cortex-m4 -mthumb "
                 "-mfpu=fpv4-sp-d16 -mfloat-abi=hard -c -I%s/runtime/include -o %s/kws_m4.o %s/kws.c",
                 src, dir, dir);
        assert_int_equal(testing_system(cmd), 0);
        printf("  kws: compiles for the Cortex-M4 (arm-none-eabi-gcc)\n");
    }
    assert_int_equal(testing_rm_tree(dir), 0);
    reef_lowered_free(&m);
    reef_graph_free(&g);
}

/* The generated C on the emulated Cortex-M4 (qemu-system-arm mps2-an386,
 * through src/firmware's harness): outputs equal TFLite Micro's. */
static void test_gen_qemu_m4(void **state)
{
    (void)state;
    static mlperf_vector v[MLPERF_MAX_VECTORS];
    int n = mlperf_vectors(v, MLPERF_MAX_VECTORS);
    if (!n) skip();
    if (!testing_have_arm_tools()) skip();
    char dir[256], h[300], c[300], elf[300];
    testing_tmpdir(dir, sizeof dir, "gen-m4");
    for (int start = 0; start < n;) {
        int end = start;
        while (end < n && !strcmp(v[end].model, v[start].model)) end++;
        int count = testing_sanitizer_run() || !strcmp(v[start].model, "vww") ? 1 : end - start;
        reef_graph g;
        reef_lowered_model m;
        reef_error err;
        if (reef_tflite_read(v[start].model_file, &g, &err) || reef_lower(&g, &m, &err))
            fail_msg("%s", err.msg);
        if (reef_emit_c(&m, dir, v[start].model, NULL, &err)) fail_msg("%s", err.msg);
        snprintf(h, sizeof h, "%s/%s.h", dir, v[start].model);
        snprintf(c, sizeof c, "%s/%s.c", dir, v[start].model);
        snprintf(elf, sizeof elf, "%s/%s.elf", dir, v[start].model);
        const char *sources[1] = {c};
        reef_fw_spec spec = {.board = "qemu-m4", .model_header = h, .model_sources = sources, .model_source_count = 1, .output = elf};
        if (reef_m4_build(&spec, &err)) fail_msg("%s", err.msg);
        int8_t *in = malloc((size_t)count * (size_t)m.input_size);
        int8_t *out = malloc((size_t)count * (size_t)m.output_size);
        for (int i = 0; i < count; i++) {
            uint8_t *x = mlperf_read(v[start + i].input_file, (size_t)m.input_size);
            memcpy(in + (size_t)i * (size_t)m.input_size, x, (size_t)m.input_size);
            free(x);
        }
        if (reef_m4_run(elf, in, count, (size_t)m.input_size, out, (size_t)m.output_size, NULL, 120, &err))
            fail_msg("%s", err.msg);
        int bad = 0;
        for (int i = 0; i < count; i++) {
            int8_t *want = (int8_t *)mlperf_read(v[start + i].output_file, (size_t)m.output_size);
            bad += mlperf_compare(v[start + i].name, out + (size_t)i * (size_t)m.output_size, want,
                                  (size_t)m.output_size) != 0;
            free(want);
        }
        printf("  %-4s on qemu-m4: %d inputs, %s\n", v[start].model, count,
               bad ? "DIFFERS" : "identical to TFLite Micro");
        assert_int_equal(bad, 0);
        free(in), free(out);
        reef_lowered_free(&m);
        reef_graph_free(&g);
        start = end;
    }
    assert_int_equal(testing_rm_tree(dir), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gen_small),
        cmocka_unit_test(test_gen_mlperf),
        cmocka_unit_test(test_gen_sections),
        cmocka_unit_test(test_gen_qemu_m4),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
