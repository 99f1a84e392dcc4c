#include "util/progress.h"

#include <stdio.h>
#include <unistd.h>

#include "util/io.h"

void reef_progress_begin(reef_progress *p, const char *label, const char *unit,
                         int64_t total, int enabled)
{
    p->label = label;
    p->unit = unit;
    p->total = total;
    p->done = 0;
    p->start = reef_now();
    p->last_draw = 0;
    p->enabled = enabled && isatty(STDERR_FILENO);
}

static void draw(reef_progress *p, double now)
{
    const int bar_width = 30;
    double frac = p->total > 0 ? (double)p->done / (double)p->total : 0;
    if (frac > 1) frac = 1;
    int filled = (int)(frac * bar_width);
    double elapsed = now - p->start;
    double rate = elapsed > 0 ? (double)p->done / elapsed : 0;
    double eta = rate > 0 ? (double)(p->total - p->done) / rate : 0;
    fprintf(stderr, "\r%s [", p->label);
    for (int i = 0; i < bar_width; i++) fputc(i < filled ? '#' : '.', stderr);
    fprintf(stderr, "] %lld/%lld %s  %.0f %s/s  ETA %.0fs \033[K",
            (long long)p->done, (long long)p->total, p->unit, rate, p->unit, eta);
    fflush(stderr);
}

void reef_progress_update(reef_progress *p, int64_t done)
{
    p->done = done;
    if (!p->enabled) return;
    double now = reef_now();
    if (now - p->last_draw < 0.1 && done < p->total) return;
    p->last_draw = now;
    draw(p, now);
}

void reef_progress_end(reef_progress *p)
{
    if (!p->enabled) return;
    draw(p, reef_now());
    fputc('\n', stderr);
}
