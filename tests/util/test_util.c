/* posix_openpt and friends (the progress bar is tested on a pseudo-terminal) */
#define _XOPEN_SOURCE 700
#include "testing.h"

#include <fcntl.h>
#include <math.h>
#include <poll.h>

#include "util/classes.h"
#include "util/err.h"
#include "util/io.h"
#include "util/json.h"
#include "util/progress.h"
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

/* Everything the terminal's other side holds now (waits up to 200 ms for more). */
static void drain(int master, char *buf, size_t size)
{
    size_t len = 0;
    struct pollfd pfd = {.fd = master, .events = POLLIN};
    while (len + 1 < size && poll(&pfd, 1, 200) > 0) {
        ssize_t n = read(master, buf + len, size - 1 - len);
        if (n <= 0) break;
        len += (size_t)n;
    }
    buf[len] = 0;
}

/* Runs a bar with stderr on a pseudo-terminal (the bar draws only on a
 * terminal) and returns what it drew. Steps: begin with total 3, then
 * sleep_ms, then one unit done, then end. */
static void progress_on_a_terminal(int sleep_ms, char *text, size_t size, char *after_begin, size_t begin_size)
{
    int master = posix_openpt(O_RDWR | O_NOCTTY);
    if (master < 0 || grantpt(master) || unlockpt(master)) skip();
    int slave = open(ptsname(master), O_RDWR | O_NOCTTY);
    assert_true(slave >= 0);
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    dup2(slave, STDERR_FILENO);
    reef_progress p;
    reef_progress_begin(&p, "profile-ops", "networks", 3, 1);
    drain(master, after_begin, begin_size);
    usleep((useconds_t)sleep_ms * 1000);
    reef_progress_update(&p, 1);
    reef_progress_end(&p);
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved), close(slave);
    drain(master, text, size);
    close(master);
}

/* Defect 12: long work shows progress on a terminal at once (profile-ops'
 * first network takes seconds), and a slow rate reads as seconds per unit,
 * not "0 networks/s". Silent when stderr is not a terminal. */
static void progress_draws_at_once_and_slow_rates(void **state)
{
    (void)state;
    char text[2048], first[2048];
    progress_on_a_terminal(1200, text, sizeof text, first, sizeof first);
    if (!strstr(first, "0/3 networks") || !strstr(first, "ETA ?")) fail_msg("nothing drawn at begin: '%s'", first);
    if (!strstr(text, "1/3 networks") || !strstr(text, " s/networks")) fail_msg("after 1 unit in 1.2 s: '%s'", text);
    reef_progress p;  // stderr of a test run is a pipe or file: nothing drawn, nothing kept enabled
    reef_progress_begin(&p, "x", "y", 1, 1);
    if (!isatty(STDERR_FILENO)) assert_int_equal(p.enabled, 0);
    reef_progress_end(&p);
}

/* Class names carried by models: packing, parsing, listing, comparing. */
static void class_names_compare_and_list(void **state)
{
    (void)state;
    reef_error err;
    reef_class_names c;
    static const char *const model[3] = {"no_fish", "fish", "eel"};
    assert_int_equal(reef_class_names_pack(&c, model, 3, &err), 0);
    assert_int_equal(c.size, 17);
    assert_string_equal(reef_class_name(&c, 2), "eel");
    char list[64];
    reef_class_names_list(&c, list, sizeof list);
    assert_string_equal(list, "no_fish, fish, eel");
    reef_class_names_list(&c, list, 10);
    assert_string_equal(list, "no_fis...");
    int to_model[3];
    static const char *const same[3] = {"no_fish", "fish", "eel"}, *const moved[3] = {"eel", "no_fish", "fish"};
    static const char *const other[3] = {"no_fish", "fish", "cod"}, *const twice[3] = {"fish", "fish", "eel"};
    assert_int_equal(reef_class_names_compare(&c, same, 3, to_model), REEF_CLASSES_SAME);
    assert_int_equal(reef_class_names_compare(&c, moved, 3, to_model), REEF_CLASSES_REORDERED);
    assert_int_equal(to_model[0], 2), assert_int_equal(to_model[1], 0), assert_int_equal(to_model[2], 1);
    assert_int_equal(reef_class_names_compare(&c, other, 3, to_model), REEF_CLASSES_DIFFERENT);
    assert_int_equal(reef_class_names_compare(&c, twice, 3, to_model), REEF_CLASSES_DIFFERENT);
    assert_int_equal(reef_class_names_compare(&c, same, 2, to_model), REEF_CLASSES_DIFFERENT);
    reef_class_names_free(&c);
    assert_int_equal(reef_class_names_compare(&c, same, 3, to_model), REEF_CLASSES_UNKNOWN);
    /* parsing a stored blob: every name ended by a 0 byte */
    assert_int_equal(reef_class_names_parse(&c, (const uint8_t *)"a\0bc\0", 5, "x", &err), 0);
    assert_int_equal(c.count, 2);
    reef_class_names_free(&c);
    assert_int_equal(reef_class_names_parse(&c, (const uint8_t *)"a\0bc", 4, "x.ckpt: section CLSN", &err), -1);
    assert_non_null(strstr(err.msg, "x.ckpt: section CLSN: class names must each end with a 0 byte"));
    assert_int_equal(reef_class_names_parse(&c, (const uint8_t *)"", 0, "x", &err), -1);
}

/* Defect 11: a long path does not cut the reason off a message; the
 * middle goes instead (reef_fail and reef_fail_wrap). */
static void long_paths_keep_the_reason(void **state)
{
    (void)state;
    char path[3001];
    memset(path, 'd', 3000);
    path[0] = '/', path[3000] = 0;
    reef_error err;
    assert_int_equal(reef_fail(&err, "%s: cannot open: %s", path, "No such file or directory"), -1);
    assert_true(strlen(err.msg) < sizeof err.msg);
    assert_true(strncmp(err.msg, "/ddd", 4) == 0);
    assert_non_null(strstr(err.msg, " ... "));
    assert_non_null(strstr(err.msg, "d: cannot open: No such file or directory"));
    assert_int_equal(reef_fail_wrap(&err, "%s", path), -1);  // a long prefix on a long message
    assert_true(strlen(err.msg) < sizeof err.msg);
    assert_non_null(strstr(err.msg, "d: cannot open: No such file or directory"));
    assert_int_equal(reef_fail(&err, "short %d", 1), -1);
    assert_string_equal(err.msg, "short 1");
    assert_int_equal(reef_fail_wrap(&err, "x.ckpt"), -1);
    assert_string_equal(err.msg, "x.ckpt: short 1");
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
        cmocka_unit_test(progress_draws_at_once_and_slow_rates),
        cmocka_unit_test(class_names_compare_and_list),
        cmocka_unit_test(long_paths_keep_the_reason),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
