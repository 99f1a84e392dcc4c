/* A progress bar for long work: done/total, rate, ETA. Drawn on stderr only
 * when stderr is a terminal (and not with --json): at once when it begins,
 * then at most 10 times a second; otherwise silent. The rate reads "N
 * unit/s", or "N s/unit" for work slower than one unit a second. Thread-safe updates are the caller's job (call from one
 * thread). */
#ifndef REEF_UTIL_PROGRESS_H
#define REEF_UTIL_PROGRESS_H

#include <stdint.h>

typedef struct reef_progress {
    const char *label;
    const char *unit;  /* e.g. "frames", "img" */
    int64_t total;
    int64_t done;
    double start;
    double last_draw;
    int enabled;
} reef_progress;

/* enabled: pass 0 to silence it (e.g. under --json); it is also silent when
 * stderr is not a terminal. */
void reef_progress_begin(reef_progress *p, const char *label, const char *unit,
                         int64_t total, int enabled);
void reef_progress_update(reef_progress *p, int64_t done);
/* Draws the final state and ends the line. */
void reef_progress_end(reef_progress *p);

#endif
