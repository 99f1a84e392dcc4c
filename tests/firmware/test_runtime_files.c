/* Which runtime files a firmware compiles (src/firmware/runtime_files.c):
 * the scan's definitions against the host compiler's symbol table of the
 * real runtime, the closure on a small made-up runtime (uses through
 * headers, macros and other files; comments, strings, declarations and
 * static names pull nothing). That the ELF is the same as with every
 * runtime file was checked on the whole suite's firmware (docs/testing.md). */
#include "testing.h"

#include <libgen.h>

#include "firmware/runtime_files.h"

static void write_text(const char *dir, const char *name, const char *text)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    assert_int_equal(fclose(fp), 0);
}

static int has_name(char **names, int count, const char *name)
{
    for (int k = 0; k < count; k++)
        if (!strcmp(names[k], name)) return 1;
    return 0;
}

/* Every global symbol nm finds in the host build of runtime/src/F.c is a
 * definition the scan finds in F.c: a name defined some way the scan does
 * not read (a macro pasting it together, say) fails here, not as a link
 * error in some firmware build. */
static void test_defines_match_the_compiler(void **state)
{
    (void)state;
    const char *bin = testing_reef_bin(), *src = testing_source_dir();
    if (!bin || !src) skip();
    char archive[4096], cmd[4400], bin_copy[4096];
    snprintf(bin_copy, sizeof bin_copy, "%s", bin);
    snprintf(archive, sizeof archive, "%s/libreef_rt.a", dirname(bin_copy));
    if (access(archive, R_OK)) {
        printf("[  SKIPPED ] %s is not built\n", archive);
        skip();
    }
    snprintf(cmd, sizeof cmd, "nm -g --defined-only '%s'", archive);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    char line[512], object[512] = "";
    char **defs = NULL;
    int def_count = 0, symbols = 0, objects = 0;
    while (fgets(line, sizeof line, p)) {
        char addr[64], kind[8], name[256];
        size_t len = strlen(line);
        if (len > 4 && !strcmp(line + len - 4, ".o:\n")) { /* "conv.c.o:": the next object's symbols */
            reef_runtime_files_free(defs, def_count);
            defs = NULL, def_count = 0;
            line[len - 4] = 0; /* "conv.c" */
            snprintf(object, sizeof object, "%s", line);
            char path[4400];
            snprintf(path, sizeof path, "%s/runtime/src/%s", src, object);
            reef_error err = {{0}};
            if (reef_runtime_file_defines(path, &defs, &def_count, &err)) fail_msg("%s", err.msg);
            objects++;
        } else if (sscanf(line, "%63s %7s %255s", addr, kind, name) == 3 && object[0]) {
            if (!has_name(defs, def_count, name)) fail_msg("runtime/src/%s defines %s (nm), the scan did not see it", object, name);
            symbols++;
        }
    }
    reef_runtime_files_free(defs, def_count);
    assert_int_equal(pclose(p), 0);
    printf("%d runtime objects, %d global symbols, each found by the scan\n", objects, symbols);
    assert_true(objects >= 30);
    assert_true(symbols >= 100);
}

/* A made-up runtime: the root needs a.c (a call), which needs b.c (through
 * a header's macro) and e.c (through a header's static inline), and g.c
 * for g_one, which needs k.c and m.c through a static table and a function
 * pointer whose name the scan does not find; c.c is named only in
 * comments, strings, a declaration and g.c's g_two, which nothing needed
 * calls (names are followed per definition, not per file); d.c defines
 * only a static function of a name the root calls (its own), f.c only a
 * name nobody uses. */
static void test_closure(void **state)
{
    (void)state;
    char dir[256], rt[300], inc[300];
    testing_tmpdir(dir, sizeof dir, "rtfiles");
    snprintf(rt, sizeof rt, "%s/rt", dir);
    snprintf(inc, sizeof inc, "%s/include", dir);
    assert_int_equal(mkdir(rt, 0700), 0);
    assert_int_equal(mkdir(inc, 0700), 0);
    write_text(inc, "api.h", "/* c_fn() is declared here */\nint a_fn(int);\nint c_fn(void);\n"
                             "static inline int inl(int x) { return e_fn(x); }\n");
    write_text(rt, "priv.h", "#define CALL_B(x) \\\n    b_fn(x)\n");
    write_text(rt, "a.c", "#include <api.h>\n#include \"priv.h\"\nint a_fn(int x) { return CALL_B(x) + inl(x); }\n");
    write_text(rt, "b.c", "int b_fn(int x) { return x; }\nconst int b_table[2] = {1, 2};\n");
    write_text(rt, "c.c", "int c_fn(void) { return 3; }\n");
    write_text(rt, "d.c", "static int helper(void) { return 4; }\nint d_other(void) { return helper(); }\n");
    write_text(rt, "e.c", "int e_fn(int x)\n{\n    return -x;\n}\n");
    write_text(rt, "f.c", "int f_fn;\n");
    write_text(rt, "g.c", "static int (*const table[1])(int) = {k_fn};\nstatic int (*fp)(void) = m_fn;\n"
                          "int g_one(void) { return table[0](1) + fp(); }\nint g_two(void) { return c_fn(); }\n");
    write_text(rt, "k.c", "int k_fn(int x) { return x; }\n");
    write_text(rt, "m.c", "int m_fn(void) { return 1; }\n");
    write_text(dir, "model.c", "#include <api.h>\n/* c_fn */\nstatic int helper(void) { return 0; }\n"
                               "int model_run(void) { const char *s = \"c_fn f_fn\"; (void)s; return a_fn(helper()) + g_one(); }\n");
    char root[300];
    snprintf(root, sizeof root, "%s/model.c", dir);
    const char *roots[] = {root}, *includes[] = {inc};
    char **files = NULL;
    int count = 0;
    reef_error err = {{0}};
    if (reef_runtime_files(rt, includes, 1, roots, 1, NULL, 0, &files, &count, &err)) fail_msg("%s", err.msg);
    const char *expect[] = {"a.c", "b.c", "e.c", "g.c", "k.c", "m.c"};
    assert_int_equal(count, 6);
    for (int k = 0; k < 6; k++) {
        char path[400];
        snprintf(path, sizeof path, "%s/%s", rt, expect[k]);
        assert_string_equal(files[k], path);
    }
    reef_runtime_files_free(files, count);
    /* a root that uses b_table (an object, in an initializer) needs b.c alone */
    write_text(dir, "model.c", "extern const int b_table[2];\nconst int *model_table = b_table;\n");
    assert_int_equal(reef_runtime_files(rt, includes, 1, roots, 1, NULL, 0, &files, &count, &err), 0);
    assert_int_equal(count, 1);
    assert_non_null(strstr(files[0], "/b.c"));
    reef_runtime_files_free(files, count);
    /* no roots: every file */
    assert_int_equal(reef_runtime_files(rt, includes, 1, NULL, 0, NULL, 0, &files, &count, &err), 0);
    assert_int_equal(count, 9);
    reef_runtime_files_free(files, count);
    assert_int_equal(testing_rm_tree(dir), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defines_match_the_compiler),
        cmocka_unit_test(test_closure),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
