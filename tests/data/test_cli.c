/* The built `reef prep` and `reef info` (REEF_BIN): JSON summary, exit
 * codes, errors on stderr, no output file after a failure, a flipped byte
 * detected by info. */
#include "testing.h"

#include "fixtures.h"

/* Runs `reef ARGS` with stdout and stderr to files in dir; returns the exit
 * status and the outputs (malloc'd, NUL-terminated). */
static int run(const char *dir, const char *args, char **out, char **errs)
{
    char cmd[4096], o[512], e[512];
    snprintf(o, sizeof o, "%s/stdout.txt", dir);
    snprintf(e, sizeof e, "%s/stderr.txt", dir);
    snprintf(cmd, sizeof cmd, "%s %s >'%s' 2>'%s'", testing_reef_bin(), args, o, e);
    const int status = testing_system(cmd);
    size_t n;
    uint8_t *a = fx_read(o, &n);
    *out = realloc(a, n + 1);
    (*out)[n] = 0;
    uint8_t *b = fx_read(e, &n);
    *errs = realloc(b, n + 1);
    (*errs)[n] = 0;
    unlink(o);
    unlink(e);
    return status;
}

static void make_folders(const char *root)
{
    char path[1024];
    for (int c = 0; c < 2; c++)
        for (int i = 0; i < 2 + c; i++) {
            snprintf(path, sizeof path, "%s/class%d", root, c);
            fx_mkdirs(path);
            snprintf(path, sizeof path, "%s/class%d/%d.jpg", root, c, i);
            fx_write_flat_jpeg(path, 64, 40, 3, (uint8_t)(50 + 20 * i));
        }
}

static void test_prep_and_info(void **state)
{
    (void)state;
    if (!testing_reef_bin()) skip();
    char dir[256], args[2048];
    testing_tmpdir(dir, sizeof dir, "cli");
    char in[512], out[512];
    snprintf(in, sizeof in, "%s/in", dir);
    snprintf(out, sizeof out, "%s/out.ds", dir);
    make_folders(in);
    char *so, *se;
    /* --size is HxW, as every shape in reef (it was WxH until 2026-12, so a
     * non-square size says which side is which) */
    snprintf(args, sizeof args, "prep --format folders --root '%s' --size 8x16 -o '%s' --json", in, out);
    assert_int_equal(run(dir, args, &so, &se), 0);
    assert_non_null(strstr(so, "\"count\":5"));
    assert_non_null(strstr(so, "\"class1\""));
    assert_non_null(strstr(se, "--size 8x16 is height 8, width 16 (HxW"));
    free(so);
    free(se);

    snprintf(args, sizeof args, "info --data '%s' --json", out);
    assert_int_equal(run(dir, args, &so, &se), 0);
    assert_non_null(strstr(so, "\"count\":5"));
    assert_non_null(strstr(so, "\"height\":8"));
    assert_non_null(strstr(so, "\"width\":16"));
    free(so);
    free(se);

    /* flip one pixel byte: info must refuse the file */
    size_t size;
    uint8_t *data = fx_read(out, &size);
    data[128 + 7] ^= 0x01;
    FILE *fp = fopen(out, "wb");
    assert_int_equal(fwrite(data, 1, size, fp), size);
    fclose(fp);
    free(data);
    snprintf(args, sizeof args, "info --data '%s'", out);
    assert_int_equal(run(dir, args, &so, &se), 1);
    assert_non_null(strstr(se, "CRC"));
    assert_non_null(strstr(se, out));
    free(so);
    free(se);
    fx_rm_rf(dir);
}

static void test_bad_input_leaves_no_file(void **state)
{
    (void)state;
    if (!testing_reef_bin()) skip();
    char dir[256], args[2048], in[512], out[512], path[1024];
    testing_tmpdir(dir, sizeof dir, "cli");
    snprintf(in, sizeof in, "%s/in", dir);
    snprintf(out, sizeof out, "%s/out.ds", dir);
    make_folders(in);
    snprintf(path, sizeof path, "%s/class1/1.jpg", in);
    fx_write_text(path, "garbage");
    char *so, *se;
    snprintf(args, sizeof args, "prep --format folders --root '%s' -o '%s'", in, out);
    assert_int_equal(run(dir, args, &so, &se), 1);
    assert_non_null(strstr(se, "class1/1.jpg"));
    assert_int_equal(testing_count_files(dir), 1); /* only in/ */
    free(so);
    free(se);

    snprintf(args, sizeof args, "prep --format folders --root '%s' -o '%s' --skip-bad", in, out);
    assert_int_equal(run(dir, args, &so, &se), 0);
    assert_non_null(strstr(so, "skipped 1 bad image"));
    assert_non_null(strstr(so, "class1/1.jpg"));
    free(so);
    free(se);

    snprintf(args, sizeof args, "prep --format nonsense --root '%s' -o '%s'", in, out);
    assert_int_equal(run(dir, args, &so, &se), 2);
    assert_non_null(strstr(se, "--format"));
    free(so);
    free(se);
    fx_rm_rf(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prep_and_info),
        cmocka_unit_test(test_bad_input_leaves_no_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
