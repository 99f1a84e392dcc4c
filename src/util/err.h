/* Errors in libreef: functions return 0 on success and -1 on failure, and
 * describe the failure in a caller-owned reef_error. Library code never
 * prints or exits; only cli/ does. */
#ifndef REEF_UTIL_ERR_H
#define REEF_UTIL_ERR_H

typedef struct reef_error {
    char msg[1024];
} reef_error;

/* Sets err->msg from a printf format (err may be NULL) and returns -1, so
 * callers can write `return reef_fail(err, "%s: truncated", path);`. */
int reef_fail(reef_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Prefixes an existing message: "context: old message". Returns -1. */
int reef_fail_wrap(reef_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
