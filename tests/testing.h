/* Helpers shared by reef's tests (include after cmocka's prerequisites). */
#ifndef REEF_TESTS_TESTING_H
#define REEF_TESTS_TESTING_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* Tests that cannot lie: a case that calls skip() (its data or tool is
 * missing) makes the whole program exit with CTest's skip code 77
 * (SKIP_RETURN_CODE in tests/CMakeLists.txt) once nothing failed, so CTest
 * lists it as "Not Run (Skipped)" rather than Passed. skip() and
 * cmocka_run_group_tests are cmocka's, wrapped to count. */
static int testing_skipped_cases;

static inline void testing_skip_at(const char *file, int line)
{
    testing_skipped_cases++;
    _skip(file, line);
}
#undef skip
#define skip() testing_skip_at(__FILE__, __LINE__)

static inline int testing_run_group(const char *name, const struct CMUnitTest *tests, size_t count,
                                    CMFixtureFunction setup, CMFixtureFunction teardown)
{
    int failed = _cmocka_run_group_tests(name, tests, count, setup, teardown);
    if (failed) return failed;
    if (testing_skipped_cases) {
        printf("[  SKIPPED ] %d case(s) skipped: exit %d so CTest reports this test as skipped\n",
               testing_skipped_cases, 77);
        return 77;
    }
    return 0;
}
#undef cmocka_run_group_tests
#define cmocka_run_group_tests(group_tests, group_setup, group_teardown)                                    \
    testing_run_group(#group_tests, group_tests, sizeof(group_tests) / sizeof((group_tests)[0]), group_setup, \
                      group_teardown)

/* The shared data folder (REEF_SHARED, set by CTest), or NULL. */
static inline const char *testing_shared_dir(void)
{
    const char *d = getenv("REEF_SHARED");
    return d && *d ? d : NULL;
}

/* Writes into buf the path of shared/<rel>, returning 1 if it exists. When
 * it does not, prints why and the caller should skip(). */
static inline int testing_shared_path(char *buf, size_t size, const char *rel)
{
    const char *dir = testing_shared_dir();
    struct stat st;
    snprintf(buf, size, "%s/%s", dir ? dir : "../shared", rel);
    if (stat(buf, &st) == 0) return 1;
    printf("[  SKIPPED ] %s is not there (put the data in ../shared or set REEF_SHARED)\n", buf);
    return 0;
}

/* A fresh empty temporary folder for one test; path written to buf. */
static inline void testing_tmpdir(char *buf, size_t size, const char *tag)
{
    snprintf(buf, size, "/tmp/reef-test-%s-XXXXXX", tag);
    assert_non_null(mkdtemp(buf));
}

/* Gives reef the cache folder dir of the test's own (measured step cycles
 * start afresh there) but keeps firmware builds in the shared firmware
 * cache (REEF_FIRMWARE_CACHE_DIR, src/firmware/build.c: the folder reef
 * used before, by reef_cache_dir's rule), so the sanitizer run copies the
 * ELFs the plain run built instead of compiling them again. */
static inline void testing_own_cache(const char *dir)
{
    const char *env = getenv("REEF_CACHE_DIR"), *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    char shared[4096] = "";
    if (env && *env) snprintf(shared, sizeof shared, "%s", env);
    else if (xdg && *xdg) snprintf(shared, sizeof shared, "%s/reef", xdg);
    else if (home && *home) snprintf(shared, sizeof shared, "%s/.cache/reef", home);
    if (shared[0] && !getenv("REEF_FIRMWARE_CACHE_DIR")) setenv("REEF_FIRMWARE_CACHE_DIR", shared, 1);
    setenv("REEF_CACHE_DIR", dir, 1);
}

/* 1 when running the sanitizer build (tests may shrink heavy work). */
static inline int testing_sanitizer_run(void) { return getenv("REEF_SANITIZE_RUN") != NULL; }

/* Counts the entries of a folder (to check that no stray file was left). */
static inline int testing_count_files(const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    closedir(d);
    return n;
}

/* Runs a shell command; returns its exit status (-1 when it did not exit). */
static inline int testing_system(const char *cmd)
{
    int rc = system(cmd);
    return rc == -1 ? -1 : WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

/* Runs a shell command with its stdout and stderr read into buf (truncated
 * to size - 1 bytes, NUL-terminated); returns its exit status. */
static inline int testing_run(const char *cmd, char *buf, size_t size)
{
    char full[4200];
    snprintf(full, sizeof full, "%s 2>&1", cmd);
    FILE *p = popen(full, "r");
    assert_non_null(p);
    size_t n = fread(buf, 1, size - 1, p);
    buf[n] = '\0';
    int status = pclose(p);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* The built reef executable (REEF_BIN, set by CTest), or NULL after a
 * SKIPPED line. */
static inline const char *testing_reef_bin(void)
{
    const char *bin = getenv("REEF_BIN");
    if (!bin || access(bin, X_OK) != 0) {
        printf("[  SKIPPED ] the reef executable is not built\n");
        return NULL;
    }
    return bin;
}

/* The source tree (REEF_SOURCE, set by CTest), or NULL after a SKIPPED line. */
static inline const char *testing_source_dir(void)
{
    const char *src = getenv("REEF_SOURCE");
    if (!src) printf("[  SKIPPED ] REEF_SOURCE (the source tree) is not set\n");
    return src;
}

/* 1 when arm-none-eabi-gcc and qemu-system-arm are installed; otherwise
 * prints a SKIPPED line and returns 0. */
static inline int testing_have_arm_tools(void)
{
    if (system("command -v arm-none-eabi-gcc >/dev/null 2>&1 && command -v qemu-system-arm >/dev/null 2>&1") == 0)
        return 1;
    printf("[  SKIPPED ] arm-none-eabi-gcc or qemu-system-arm missing (scripts/deps.sh)\n");
    return 0;
}

/* Compiles generated C (dir/main.c + dir/<name>.c) with the runtime of the
 * source tree src into dir/prog, with the host cc as strict ISO C99. The
 * command is left in cmd (for a failure message); returns its exit status. */
static inline int testing_cc_generated(const char *src, const char *dir, const char *name, char *cmd, size_t size)
{
    snprintf(cmd, size,
             "cc -std=c99 -Wall -Wextra -pedantic -Werror -O1 -I%s/runtime/include -I%s -o %s/prog %s/main.c %s/%s.c "
             "%s/runtime/src/*.c",
             src, dir, dir, dir, dir, name, src);
    return testing_system(cmd);
}

/* Removes a test's temporary folder and everything in it; 0 or -1. */
static inline int testing_rm_tree(const char *dir)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

#endif
