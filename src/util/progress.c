#include "util/progress.h"

#include <stdio.h>
#include <unistd.h>

#include "util/io.h"

/* Units per second as a person reads it: "120 img/s", "2.5 img/s", or for
 * slow work (a firmware build per network) "14.2 s/network". */
static void format_rate(char *buf, size_t size, double rate, const char *unit)
{
    if (rate <= 0) snprintf(buf, size, "- %s/s", unit);
    else if (rate >= 10) snprintf(buf, size, "%.0f %s/s", rate, unit);
    else if (rate >= 1) snprintf(buf, size, "%.1f %s/s", rate, unit);
    else snprintf(buf, size, "%.1f s/%s", 1 / rate, unit);
}

static void draw(reef_progress *p, double now)
{
    const int bar_width = 30;
    double frac = p->total > 0 ? (double)p->done / (double)p->total : 0;
    if (frac > 1) frac = 1;
    int filled = (int)(frac * bar_width);
    double elapsed = now - p->start;
    double rate = elapsed > 0 ? (double)p->done / elapsed : 0;
    char rate_text[64], eta[32] = "?";  // no unit done yet: no estimate
    format_rate(rate_text, sizeof rate_text, rate, p->unit);
    if (rate > 0) snprintf(eta, sizeof eta, "%.0fs", (double)(p->total - p->done) / rate);
    fprintf(stderr, "\r%s [", p->label);
    for (int i = 0; i < bar_width; i++) fputc(i < filled ? '#' : '.', stderr);
    fprintf(stderr, "] %lld/%lld %s  %s  ETA %s \033[K", (long long)p->done, (long long)p->total, p->unit, rate_text,
            eta);
    fflush(stderr);
}

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
    /* drawn at once: work whose first unit takes long (profile-ops builds a
     * firmware per network) is not silent until that unit ends */
    if (p->enabled) draw(p, p->start), p->last_draw = p->start;
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
