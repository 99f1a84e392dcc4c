/* What the tests of the reef command (tests/cli) share: running the built
 * `reef` (REEF_BIN), checking its exit status and output, the pictures of
 * their fixture, and the fixture's teardown. The including file defines
 * `typedef struct fixture { char dir[256]; ... } fixture;` first. */
#ifndef REEF_TESTS_CLI_FIXTURE_H
#define REEF_TESTS_CLI_FIXTURE_H

#include "testing.h"

#include "fixtures.h"

/* Runs `reef ARGS` (2>&1 into out); returns the exit status. */
static inline int reef(char *out, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static inline int reef(char *out, size_t size, const char *fmt, ...)
{
    char args[3000], cmd[3400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(cmd, sizeof cmd, "'%s' %s", getenv("REEF_BIN"), args);
    return testing_run(cmd, out, size);
}

static inline void expect(int status, const char *out, int want_status, const char *want)
{
    if (status != want_status || !strstr(out, want))
        fail_msg("exit %d (want %d), output lacks '%s':\n%s", status, want_status, want, out);
}

/* 12 gray 16x16 PNG pictures of two classes a model tells apart at once:
 * ROOT/fish/0..5.png (stripes) and ROOT/nofish/0..5.png (flat). */
static inline void two_class_pictures(const char *root)
{
    char path[4200];
    uint8_t img[16 * 16];
    for (int c = 0; c < 2; c++)
        for (int i = 0; i < 6; i++) {
            snprintf(path, sizeof path, "%s/%s", root, c ? "fish" : "nofish");
            fx_mkdirs(path);
            snprintf(path, sizeof path, "%s/%s/%d.png", root, c ? "fish" : "nofish", i);
            for (int k = 0; k < 16 * 16; k++) img[k] = (uint8_t)(c ? (k % 16 < 8 ? 200 : 40) : 90 + 3 * i);
            fx_write_png(path, img, 16, 16, 1);
        }
}

static inline int teardown(void **state)
{
    fixture *f = *state;
    if (f) {
        fx_rm_rf(f->dir);
        free(f);
    }
    return 0;
}

/* A test's start: its fixture (skipped when setup could not make it) and
 * a buffer for the command's output. */
#define FIXTURE(f)                      \
    fixture *f = *state;                \
    if (!f) skip();                     \
    char out[16384];                    \
    (void)out

#endif
