/* Fault injection on the .tflite reader (SQLite style): truncation at every
 * byte, random byte flips, failed allocations at every k, and malformed
 * files that must each give their own error. Run under ASan/UBSan too
 * (make test-sanitize): there "no crash" and "no leak" are checked. */
#include "testing.h"

#include "graph_compare.h"
#include "models.h"
#include "tflite/fault.h"
#include "tflite/internal.h"
#include "util/io.h"
#include "util/rng.h"

static int load_bytes(const char *rel, uint8_t **data, size_t *size)
{
    char path[1024];
    if (!testing_shared_path(path, sizeof path, rel)) return 0;
    reef_error err;
    if (reef_read_file(path, data, size, &err)) fail_msg("%s", err.msg);
    return 1;
}

/* Reads bytes that may be damaged: success or a clean error naming the
 * file; after a failure the graph is empty. Returns 1 if it read. */
static int read_damaged(const uint8_t *data, size_t size)
{
    reef_graph g;
    reef_error err;
    err.msg[0] = '\0';
    if (reef_tflite_read_buffer(data, size, "damaged.tflite", &g, &err) == 0) {
        /* whatever was read must be usable: print it (to nowhere) */
        FILE *null = fopen("/dev/null", "w");
        reef_graph_print(&g, null, 0);
        reef_graph_print(&g, null, 1);
        fclose(null);
        reef_graph_free(&g);
        return 1;
    }
    if (strncmp(err.msg, "damaged.tflite: ", 16)) fail_msg("error without the file name: '%s'", err.msg);
    assert_null(g.tensors);
    assert_null(g.owner_);
    return 0;
}

static void truncate_model(const char *rel, size_t stride)
{
    uint8_t *data;
    size_t size;
    if (!load_bytes(rel, &data, &size)) {
        skip();
        return;
    }
    int read_ok = 0, tried = 0;
    for (size_t len = 0; len < size; len += stride, tried++) read_ok += read_damaged(data, len);
    printf("%s: %d truncations, %d still read (trailing bytes unused)\n", rel, tried, read_ok);
    /* the converter puts buffers last, so nearly every cut must fail */
    assert_true(read_ok <= 16);
    assert_int_equal(read_damaged(data, size), 1);
    free(data);
}

static void test_truncate_every_byte(void **state)
{
    (void)state;
    /* KWS is the smallest model: every offset (every 5th under sanitizers) */
    truncate_model(mlperf_models[0].file, testing_sanitizer_run() ? 5 : 1);
}

static void test_truncate_strided(void **state)
{
    (void)state;
    for (int k = 1; k < MLPERF_NMODELS; k++) truncate_model(mlperf_models[k].file, testing_sanitizer_run() ? 1999 : 211);
}

static void test_random_flips(void **state)
{
    (void)state;
    int iterations = testing_sanitizer_run() ? 1500 : 20000;
    for (int k = 0; k < MLPERF_NMODELS; k += 3) { /* kws and ad: convolutions and FC */
        uint8_t *data;
        size_t size;
        if (!load_bytes(mlperf_models[k].file, &data, &size)) {
            skip();
            return;
        }
        uint8_t *copy = malloc(size);
        reef_rng rng;
        reef_rng_seed(&rng, 20240601u + (uint64_t)k);
        int read_ok = 0;
        for (int it = 0; it < iterations; it++) {
            memcpy(copy, data, size);
            int flips = 1 + (int)reef_rng_below(&rng, 8);
            /* mostly in the FlatBuffers structure before the weights, where
             * a flip changes offsets and indices rather than values */
            size_t span = reef_rng_below(&rng, 4) ? (size < 4096 ? size : 4096) : size;
            for (int f = 0; f < flips; f++) copy[reef_rng_below(&rng, (uint32_t)span)] ^= (uint8_t)(1u << reef_rng_below(&rng, 8));
            read_ok += read_damaged(copy, size);
        }
        printf("%s: %d flipped copies, %d read, %d refused cleanly\n", mlperf_models[k].key, iterations, read_ok,
               iterations - read_ok);
        assert_true(read_ok < iterations); /* the flips must reach checked fields */
        free(copy);
        free(data);
    }
}

/* Every allocation of the reader in turn fails: a clean "out of memory"
 * error, an empty graph, and (under ASan) no leak. */
static void test_failed_allocations(void **state)
{
    (void)state;
    uint8_t *data;
    size_t size;
    if (!load_bytes(mlperf_models[0].file, &data, &size)) {
        skip();
        return;
    }
    int k;
    for (k = 1;; k++) {
        reef_graph g;
        reef_error err;
        reef_tflite_fail_alloc(k);
        int rc = reef_tflite_read_buffer(data, size, "kws.tflite", &g, &err);
        int fired = reef_tflite_alloc_failed();
        reef_tflite_fail_alloc(0);
        if (!fired) {
            assert_int_equal(rc, 0);
            reef_graph_free(&g);
            break;
        }
        assert_int_equal(rc, -1);
        if (!strstr(err.msg, "out of memory")) fail_msg("allocation %d: '%s'", k, err.msg);
        assert_null(g.owner_);
    }
    printf("reader: %d allocations, each failed in turn\n", k - 1);
    assert_true(k > 10);

    /* the writer too */
    reef_graph g;
    reef_error err;
    assert_int_equal(reef_tflite_read_buffer(data, size, "kws.tflite", &g, &err), 0);
    for (k = 1;; k++) {
        uint8_t *out = NULL;
        size_t out_size;
        reef_tflite_fail_alloc(k);
        int rc = reef_tflite_serialize(&g, &out, &out_size, &err);
        int fired = reef_tflite_alloc_failed();
        reef_tflite_fail_alloc(0);
        if (!fired) {
            assert_int_equal(rc, 0);
            free(out);
            break;
        }
        assert_int_equal(rc, -1);
        assert_null(out);
    }
    printf("writer: %d allocations, each failed in turn\n", k - 1);
    reef_graph_free(&g);
    free(data);
}

/* ---- malformed files, each with its own message ------------------------ */

/* A small valid model written by reef: x -> FULLY_CONNECTED -> y. */
static void small_model(uint8_t **bytes, size_t *size)
{
    reef_graph g;
    reef_error err;
    assert_int_equal(reef_graph_init(&g, "small", &err), 0);
    int32_t s_in[2] = {1, 4}, s_w[2] = {2, 4}, s_out[2] = {1, 2};
    int x = reef_graph_add_tensor(&g, "x", REEF_INT8, 2, s_in, &err);
    int w = reef_graph_add_tensor(&g, "w", REEF_INT8, 2, s_w, &err);
    int y = reef_graph_add_tensor(&g, "y", REEF_INT8, 2, s_out, &err);
    int8_t wd[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    assert_int_equal(reef_graph_set_data(&g, w, wd, 8, &err), 0);
    int32_t ins[2] = {x, w};
    assert_int_equal(reef_graph_add_op(&g, REEF_OP_FULLY_CONNECTED, ins, 2, &y, 1, NULL, &err), 0);
    assert_int_equal(reef_graph_set_io(&g, &x, 1, &y, 1, &err), 0);
    assert_int_equal(reef_tflite_serialize(&g, bytes, size, &err), 0);
    reef_graph_free(&g);
}

static void expect_error(const uint8_t *data, size_t size, const char *want)
{
    reef_graph g;
    reef_error err;
    assert_int_equal(reef_tflite_read_buffer(data, size, "bad.tflite", &g, &err), -1);
    if (!strstr(err.msg, want)) fail_msg("expected '%s' in '%s'", want, err.msg);
    printf("  %s\n", err.msg);
}

static void put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

/* Position of Model.subgraphs[0].<field> (a vector) in the file. */
static size_t subgraph_vector(const uint8_t *bytes, size_t size, int field)
{
    reef_error err;
    fbr r = {bytes, size, "small", &err};
    fbr_table model, sg;
    fbr_vec subgraphs, v;
    uint32_t root = (uint32_t)bytes[0] | (uint32_t)bytes[1] << 8 | (uint32_t)bytes[2] << 16 | (uint32_t)bytes[3] << 24;
    assert_int_equal(fbr_table_at(&r, root, &model, "model"), 0);
    assert_int_equal(fbr_vector(&r, &model, 2, 4, &subgraphs, "subgraphs"), 0);
    assert_int_equal(fbr_vector_table(&r, &subgraphs, 0, &sg, "subgraph"), 0);
    assert_int_equal(fbr_vector(&r, &sg, field, 4, &v, "vector"), 0);
    return v.data - 4; /* its length word */
}

static void test_malformed(void **state)
{
    (void)state;
    uint8_t *good, *bad;
    size_t size;
    small_model(&good, &size);
    bad = malloc(size);
    uint32_t root = (uint32_t)good[0] | (uint32_t)good[1] << 8 | (uint32_t)good[2] << 16 | (uint32_t)good[3] << 24;

    expect_error(good, 5, "only 5 bytes");

    memcpy(bad, good, size);
    memcpy(bad + 4, "XXXX", 4);
    expect_error(bad, size, "file identifier is 'XXXX', expected 'TFL3'");

    memcpy(bad, good, size);
    put_u32(bad, (uint32_t)size + 100);
    expect_error(bad, size, "bad root table offset");

    memcpy(bad, good, size);
    put_u32(bad + root, 0x80000000u); /* the model table's vtable offset */
    expect_error(bad, size, "vtable at offset");

    memcpy(bad, good, size);
    size_t inputs = subgraph_vector(good, size, 1); /* subgraph inputs */
    put_u32(bad + inputs + 4, 999);
    expect_error(bad, size, "inputs index 999 is out of range (subgraph has 3 tensors)");

    memcpy(bad, good, size);
    size_t tensors = subgraph_vector(good, size, 0);
    put_u32(bad + tensors, 0x7fffffffu);
    expect_error(bad, size, "vector of 2147483647 elements");

    memcpy(bad, good, size);
    put_u32(bad + tensors + 4, 0xfffffff0u); /* tensor 0's offset */
    expect_error(bad, size, "points beyond the end of the file");

    reef_graph g;
    reef_error err;
    assert_int_equal(reef_tflite_read_buffer(good, size, "good.tflite", &g, &err), 0);
    reef_graph_free(&g);
    assert_int_equal(reef_tflite_read("/nonexistent/model.tflite", &g, &err), -1);
    assert_non_null(strstr(err.msg, "/nonexistent/model.tflite"));
    free(bad);
    free(good);
}

/* Files the fuzzer found crashing (or nearly) stay as regression tests. */
static void test_crash_regressions(void **state)
{
    (void)state;
    const char *src = getenv("REEF_SOURCE");
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/tests/tflite/crashes", src ? src : "../..");
    DIR *d = opendir(dir);
    if (!d) {
        printf("[  SKIPPED ] %s is not there\n", dir);
        skip();
        return;
    }
    struct dirent *e;
    int n = 0;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' || !strstr(e->d_name, ".tflite")) continue;
        char path[2048];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        uint8_t *data;
        size_t size;
        reef_error err;
        if (reef_read_file(path, &data, &size, &err)) fail_msg("%s", err.msg);
        read_damaged(data, size);
        free(data);
        n++;
    }
    closedir(d);
    printf("%d crash files read without crashing (see crashes/README.md)\n", n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_failed_allocations),
        cmocka_unit_test(test_truncate_every_byte),
        cmocka_unit_test(test_truncate_strided),
        cmocka_unit_test(test_random_flips),
        cmocka_unit_test(test_crash_regressions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
