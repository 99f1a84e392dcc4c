/* Running a child process (compiler, emulator, host firmware) with a time
 * limit, its stdout and stderr collected into files. Internal to src/firmware. */
#ifndef REEF_FIRMWARE_PROC_H
#define REEF_FIRMWARE_PROC_H

#include <stddef.h>

#include "util/err.h"

typedef struct reef_proc_result {
    int exited;       /* 1 if it exited (then status is its exit code) */
    int status;       /* exit code, or the signal that ended it */
    int timed_out;    /* 1 if it was killed at the time limit */
    int not_found;    /* 1 if the program could not be started */
} reef_proc_result;

/* Runs argv (argv[0] looked up on PATH) in folder cwd (NULL: here), with
 * stdout and stderr sent to the files out_path and err_path (NULL: to
 * /dev/null). Kills the whole process group after timeout_s seconds (0: no
 * limit). Returns 0 if it ran (whatever its status), -1 if it could not
 * be run at all. */
int reef_proc_run(char *const argv[], const char *cwd, const char *out_path, const char *err_path,
                  double timeout_s, reef_proc_result *res, reef_error *err);
/* The same with TMPDIR set to tmpdir for the child (NULL: unchanged): a
 * compiler's temporary files then sit in a folder the caller removes, also
 * when a signal cuts the build short (util/cleanup.h removes its scratch
 * folders; files in the user's TMPDIR it cannot know). */
int reef_proc_run_tmpdir(char *const argv[], const char *cwd, const char *tmpdir, const char *out_path,
                         const char *err_path, double timeout_s, reef_proc_result *res, reef_error *err);

/* Reads up to max bytes of a text file (the tail if longer) into buf, NUL
 * terminated; "" when absent. */
void reef_proc_read_text(const char *path, char *buf, size_t max);

#endif
