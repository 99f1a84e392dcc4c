/* Activation range observers and the clipping methods: see quant.h. */
#include <math.h>
#include <string.h>

#include "quant/quant.h"
#include "util/rng.h"

static const char *method_names[] = {"minmax", "percentile", "mse"};

int reef_calib_method_parse(const char *name, reef_calib_method *method)
{
    for (int i = 0; i < 3; i++)
        if (!strcmp(name, method_names[i])) {
            *method = (reef_calib_method)i;
            return 0;
        }
    return -1;
}

const char *reef_calib_method_name(reef_calib_method method)
{
    return (unsigned)method < 3 ? method_names[method] : "unknown";
}

int reef_calib_indices(uint32_t count, int n, uint64_t seed, uint32_t *idx)
{
    if (n < 0) n = 0;
    if ((uint32_t)n >= count) {
        for (uint32_t i = 0; i < count; i++) idx[i] = i;
        return (int)count;
    }
    // Selection sampling (Knuth's Algorithm S): each index is taken with
    // probability (still needed) / (still left), so exactly n come out, in
    // order, from a seeded generator: the same samples on every machine.
    reef_rng rng;
    reef_rng_seed(&rng, seed);
    int taken = 0;
    for (uint32_t i = 0; i < count && taken < n; i++)
        if (reef_rng_below(&rng, count - i) < (uint32_t)(n - taken)) idx[taken++] = i;
    return taken;
}

void reef_observer_init(reef_observer *o)
{
    memset(o, 0, sizeof *o);
    o->min = INFINITY;
    o->max = -INFINITY;
}

void reef_observer_range(reef_observer *o, const float *x, size_t n)
{
    float lo = (float)o->min, hi = (float)o->max;
    for (size_t i = 0; i < n; i++) {
        if (x[i] < lo) lo = x[i];
        if (x[i] > hi) hi = x[i];
    }
    o->min = lo, o->max = hi;
    o->count += (int64_t)n;
}

void reef_observer_hist(reef_observer *o, const float *x, size_t n)
{
    const double width = o->max - o->min;
    const double k = width > 0 ? REEF_CALIB_BINS / width : 0.0;
    for (size_t i = 0; i < n; i++) {
        if (x[i] == 0.0f) o->zeros++;
        int b = (int)(((double)x[i] - o->min) * k);
        b = b < 0 ? 0 : b >= REEF_CALIB_BINS ? REEF_CALIB_BINS - 1 : b;
        o->hist[b]++;
    }
}

/* ---- percentile ---------------------------------------------------------------- */

static double bin_width(const reef_observer *o) { return (o->max - o->min) / REEF_CALIB_BINS; }

static int64_t hist_total(const reef_observer *o)
{
    int64_t t = 0;
    for (int i = 0; i < REEF_CALIB_BINS; i++) t += o->hist[i];
    return t;
}

/* The value below which `tail` of the values lie, interpolated in its bin;
 * from_right mirrors it (the value above which `tail` lie). */
static double tail_edge(const reef_observer *o, double tail, int from_right)
{
    const double w = bin_width(o);
    double cum = 0;
    for (int k = 0; k < REEF_CALIB_BINS; k++) {
        const int i = from_right ? REEF_CALIB_BINS - 1 - k : k;
        const double c = (double)o->hist[i];
        if (cum + c > tail) {
            const double frac = c > 0 ? (tail - cum) / c : 0.0;
            return from_right ? o->min + (i + 1 - frac) * w : o->min + (i + frac) * w;
        }
        cum += c;
    }
    return from_right ? o->min : o->max;
}

static void choose_percentile(const reef_observer *o, double percentile, float *lo, float *hi)
{
    const double tail = (double)hist_total(o) * (100.0 - percentile) / 100.0;
    *lo = (float)tail_edge(o, tail, 0);
    *hi = (float)tail_edge(o, tail, 1);
}

/* ---- MSE-optimal clipping ------------------------------------------------------- */

/* Expected squared error of quantizing the histogram's values to 256 levels
 * over [lo, hi] (0 included): values outside are clipped (their distance
 * squared), values inside get uniform rounding noise step^2 / 12. Exact
 * zeros are left out: int8 represents them exactly whatever the range. */
static double range_error(const reef_observer *o, const double *counts, double lo, double hi)
{
    if (lo > 0) lo = 0;
    if (hi < 0) hi = 0;
    const double w = bin_width(o), step = (hi - lo) / 255.0, inside = step * step / 12.0;
    double e = 0;
    for (int i = 0; i < REEF_CALIB_BINS; i++) {
        if (counts[i] == 0) continue;
        const double x = o->min + (i + 0.5) * w;
        const double d = x < lo ? lo - x : x > hi ? x - hi : 0.0;
        e += counts[i] * (d > 0 ? d * d : inside);
    }
    return e;
}

/* Shrinks the range bin by bin from whichever end holds fewer values (the
 * other end of a one-signed range stays put: 0 is in the range anyway),
 * and keeps the range of least expected error. */
static void choose_mse(const reef_observer *o, float *lo, float *hi)
{
    double counts[REEF_CALIB_BINS];
    for (int i = 0; i < REEF_CALIB_BINS; i++) counts[i] = (double)o->hist[i];
    const double w = bin_width(o);
    if (o->zeros && w > 0) {
        int zb = (int)(-o->min / w);
        zb = zb < 0 ? 0 : zb >= REEF_CALIB_BINS ? REEF_CALIB_BINS - 1 : zb;
        counts[zb] -= (double)o->zeros;
        if (counts[zb] < 0) counts[zb] = 0;
    }
    int a = 0, b = REEF_CALIB_BINS;  // candidate range: bins [a, b)
    double best = range_error(o, counts, o->min, o->max);
    *lo = (float)o->min, *hi = (float)o->max;
    for (;;) {
        const double ea = o->min + (a + 1) * w, eb = o->min + (b - 1) * w;
        const int can_a = a + 1 < b && ea <= 0.0, can_b = b - 1 > a && eb >= 0.0;
        if (!can_a && !can_b) break;
        if (can_a && (!can_b || counts[a] <= counts[b - 1])) a++;
        else b--;
        const double e = range_error(o, counts, o->min + a * w, o->min + b * w);
        if (e < best) best = e, *lo = (float)(o->min + a * w), *hi = (float)(o->min + b * w);
    }
}

void reef_observer_choose(const reef_observer *o, reef_calib_method method, double percentile, float *lo,
                          float *hi)
{
    if (o->count == 0 || !(o->max > o->min) || method == REEF_CALIB_MINMAX) {
        *lo = o->count ? (float)o->min : 0.0f;
        *hi = o->count ? (float)o->max : 0.0f;
        return;
    }
    if (method == REEF_CALIB_PERCENTILE) choose_percentile(o, percentile, lo, hi);
    else choose_mse(o, lo, hi);
}
