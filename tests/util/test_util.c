#include "testing.h"

#include <math.h>

#include "util/err.h"
#include "util/io.h"
#include "util/json.h"
#include "util/rng.h"
#include "util/table.h"

static void json_nesting_and_escapes(void **state)
{
    (void)state;
    char *buf = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&buf, &len);
    reef_json j;
    reef_json_begin(&j, fp);
    reef_json_object(&j);
    reef_json_kv_int(&j, "count", 3492);
    reef_json_key(&j, "xs");
    reef_json_array(&j);
    reef_json_number(&j, 0.5);
    reef_json_string(&j, "a\"b\n");
    reef_json_object(&j);
    reef_json_end(&j);
    reef_json_end(&j);
    reef_json_kv_bool(&j, "ok", 1);
    reef_json_end(&j);
    reef_json_finish(&j);
    fclose(fp);
    assert_string_equal(buf, "{\"count\":3492,\"xs\":[0.5,\"a\\\"b\\n\",{}],\"ok\":true}\n");
    free(buf);
}

/* Bytes that are not UTF-8 (a Latin-1 folder name, a cut sequence, an
 * overlong form, a surrogate) become U+FFFD; valid UTF-8 passes as it is. */
static void json_strings_are_valid_utf8(void **state)
{
    (void)state;
    char *buf = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&buf, &len);
    reef_json j;
    reef_json_begin(&j, fp);
    reef_json_array(&j);
    reef_json_string(&j, "caf\xe9/ok");          /* Latin-1 e-acute */
    reef_json_string(&j, "caf\xc3\xa9 \xf0\x9f\x90\x9f"); /* UTF-8 e-acute and a fish */
    reef_json_string(&j, "\xc3");                 /* cut short */
    reef_json_string(&j, "\xc0\xaf\xed\xa0\x80");     /* overlong '/', a surrogate */
    reef_json_end(&j);
    reef_json_finish(&j);
    fclose(fp);
    assert_string_equal(buf, "[\"caf\\ufffd/ok\",\"caf\xc3\xa9 \xf0\x9f\x90\x9f\",\"\\ufffd\",\"\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd\"]\n");
    free(buf);
}

static void atomic_write_leaves_no_partial_file(void **state)
{
    (void)state;
    char dir[256], path[300];
    testing_tmpdir(dir, sizeof dir, "util");
    snprintf(path, sizeof path, "%s/out.bin", dir);
    reef_atomic_file af;
    reef_error err;
    assert_int_equal(reef_atomic_open(&af, path, &err), 0);
    fputs("half", af.fp);
    reef_atomic_abort(&af);
    assert_int_equal(testing_count_files(dir), 0);

    assert_int_equal(reef_write_file(path, "hello", 5, &err), 0);
    uint8_t *data;
    size_t size;
    assert_int_equal(reef_read_file(path, &data, &size, &err), 0);
    assert_int_equal(size, 5);
    assert_memory_equal(data, "hello", 5);
    free(data);
    assert_int_equal(testing_count_files(dir), 1);
    unlink(path);
    rmdir(dir);
}

static void read_missing_file_names_it(void **state)
{
    (void)state;
    reef_error err;
    uint8_t *data;
    size_t size;
    assert_int_equal(reef_read_file("/nonexistent/x.bin", &data, &size, &err), -1);
    assert_non_null(strstr(err.msg, "/nonexistent/x.bin"));
}

static void rng_is_deterministic_and_unbiased(void **state)
{
    (void)state;
    reef_rng a, b;
    reef_rng_seed(&a, 42);
    reef_rng_seed(&b, 42);
    for (int i = 0; i < 100; i++) assert_int_equal(reef_rng_u32(&a), reef_rng_u32(&b));
    int hist[10] = {0};
    for (int i = 0; i < 100000; i++) hist[reef_rng_below(&a, 10)]++;
    for (int i = 0; i < 10; i++) assert_in_range(hist[i], 9500, 10500);
    double sum = 0, sq = 0;
    for (int i = 0; i < 100000; i++) {
        double x = reef_rng_normal(&a);
        sum += x;
        sq += x * x;
    }
    assert_true(fabs(sum / 1e5) < 0.02);
    assert_true(fabs(sq / 1e5 - 1.0) < 0.03);
}

static void table_aligns_columns(void **state)
{
    (void)state;
    char *buf = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&buf, &len);
    reef_table t;
    reef_table_init(&t, "class", ">count", NULL);
    reef_table_cell(&t, "fish");
    reef_table_cell(&t, "%d", 12);
    reef_table_cell(&t, "no fish");
    reef_table_cell(&t, "%d", 3);
    reef_table_print(&t, fp, NULL);
    fclose(fp);
    assert_string_equal(buf, "class    count\n--------------\nfish        12\nno fish      3\n");
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(json_nesting_and_escapes),
        cmocka_unit_test(json_strings_are_valid_utf8),
        cmocka_unit_test(atomic_write_leaves_no_partial_file),
        cmocka_unit_test(read_missing_file_names_it),
        cmocka_unit_test(rng_is_deterministic_and_unbiased),
        cmocka_unit_test(table_aligns_columns),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
