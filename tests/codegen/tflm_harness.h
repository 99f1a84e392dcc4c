/* Shared by the tests against TFLite Micro vectors (test_tflm_ops.c,
 * test_tflm_copy_ops.c): reading hex vectors, building small graphs, and
 * running a lowered model as generated C on qemu-m4 and the host. */
#ifndef REEF_TESTS_TFLM_HARNESS_H
#define REEF_TESTS_TFLM_HARNESS_H

#include "testing.h"

#include "codegen/emit.h"
#include "codegen/lower.h"
#include "firmware/firmware.h"
#include "tflite/graph.h"

static inline int hex_value(char c) { return c <= '9' ? c - '0' : c - 'a' + 10; }

static inline int8_t *hex_bytes(const char *hex, size_t n)
{
    if (strlen(hex) != 2 * n) return NULL;
    int8_t *v = malloc(n ? n : 1);
    assert_non_null(v);
    for (size_t i = 0; i < n; i++) v[i] = (int8_t)(hex_value(hex[2 * i]) * 16 + hex_value(hex[2 * i + 1]));
    return v;
}

/* tests/codegen/data/<name> of the source tree, open for reading (its
 * name in path, for messages); skips (77) without the source tree. */
static inline FILE *open_vectors(const char *name, char *path, size_t size)
{
    const char *src = testing_source_dir();
    if (!src) skip();
    snprintf(path, size, "%s/tests/codegen/data/%s", src, name);
    FILE *fp = fopen(path, "r");
    if (!fp) fail_msg("%s: cannot open", path);
    return fp;
}

/* The generated C of m on qemu-m4 (emulated Cortex-M4) and, when host,
 * also built for the host, on n inputs of in_size bytes: each must give
 * the m->output_bytes bytes of want. Returns 0 when
 * the ARM tools are missing (or under the sanitizers), 1 when checked. */
static inline int run_targets(const reef_lowered_model *m, const char *name, const int8_t *in, int n, size_t in_size,
                       const int8_t *want, int host)
{
    if (testing_sanitizer_run() || !testing_have_arm_tools()) return 0;
    char dir[256], header[600], source[600], elf[600], exe[600];
    reef_error err;
    const size_t out_size = (size_t)m->output_bytes;
    int8_t *got = calloc((size_t)n, out_size);
    assert_non_null(got);
    testing_tmpdir(dir, sizeof dir, name);
    if (reef_emit_c(m, dir, name, "test", &err)) fail_msg("%s", err.msg);
    snprintf(header, sizeof header, "%s/%s.h", dir, name);
    snprintf(source, sizeof source, "%s/%s.c", dir, name);
    snprintf(elf, sizeof elf, "%s/%s.elf", dir, name);
    snprintf(exe, sizeof exe, "%s/%s-host", dir, name);
    const char *sources[1] = {source};
    reef_fw_spec spec = {.board = "qemu-m4", .model_header = header, .model_sources = sources,
                         .model_source_count = 1, .output = elf};
    if (reef_m4_build(&spec, &err)) fail_msg("%s", err.msg);
    reef_run_counts c;
    if (reef_m4_run(elf, in, n, in_size, got, out_size, &c, 120, &err)) fail_msg("%s", err.msg);
    assert_memory_equal(got, want, (size_t)n * out_size);
    printf("  %s on qemu-m4 (emulated): %d vectors bit-exact, %llu instructions per inference\n", name, n,
           (unsigned long long)c.per_inference[0].c[REEF_INSN_TOTAL]);
    reef_run_counts_free(&c);
    if (host) {
        spec.board = "host", spec.output = exe;
        if (reef_m4_build(&spec, &err)) fail_msg("%s", err.msg);
        memset(got, 0, (size_t)n * out_size);
        if (reef_host_run(exe, in, n, in_size, got, out_size, NULL, 60, &err)) fail_msg("%s", err.msg);
        assert_memory_equal(got, want, (size_t)n * out_size);
    }
    free(got);
    assert_int_equal(testing_rm_tree(dir), 0);
    return 1;
}

static inline int32_t add_int_const(reef_graph *g, const char *name, const int64_t *v, int n, int is64)
{
    reef_error err;
    int32_t shape[1] = {n};
    int32_t t = reef_graph_add_tensor(g, name, is64 ? REEF_INT64 : REEF_INT32, 1, shape, &err);
    assert_true(t >= 0);
    uint8_t bytes[8 * 16];
    assert_true(n >= 0 && n <= 16);
    for (int i = 0; i < n; i++)
        for (int b = 0; b < (is64 ? 8 : 4); b++) bytes[i * (is64 ? 8 : 4) + b] = (uint8_t)((uint64_t)v[i] >> (8 * b));
    assert_int_equal(reef_graph_set_data(g, t, bytes, (size_t)n * (is64 ? 8 : 4), &err), 0);
    return t;
}

/* The next space-separated field of a vector line, failing on a short one. */
static inline const char *next_token(char **save, const char *path, int k)
{
    const char *tok = strtok_r(NULL, " \n", save);
    if (!tok) fail_msg("%s: case %d is short", path, k);
    return tok;
}

/* A graph through the writer and reader, lowered. */
static inline void round_trip_lower(const reef_graph *g, reef_graph *back, reef_lowered_model *m, const char *what, int k)
{
    uint8_t *bytes;
    size_t size;
    reef_error err;
    assert_int_equal(reef_tflite_serialize(g, &bytes, &size, &err), 0);
    if (reef_tflite_read_buffer(bytes, size, what, back, &err)) fail_msg("%s", err.msg);
    free(bytes);
    if (reef_lower(back, m, &err)) fail_msg("%s case %d: %s", what, k, err.msg);
}

#endif
