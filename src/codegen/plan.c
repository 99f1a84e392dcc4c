/* The arena memory planner (see plan.h). Buffers are placed one at a time;
 * a placement is valid when it overlaps no already-placed buffer whose
 * lifetime intersects. Candidate offsets are 0 and the aligned ends of the
 * placed buffers that meet it in time (and, two-ended, the top of the
 * target arena); each candidate is checked against those buffers only, so a
 * plan costs O(n * d^2) for d buffers met, at most O(n^3). */
#include "codegen/plan.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static size_t align_up(size_t v, size_t align)
{
    return (v + align - 1) & ~(align - 1);
}
static size_t align_down(size_t v, size_t align)
{
    return v & ~(align - 1);
}

static int lifetimes_meet(const reef_plan_buffer *a, const reef_plan_buffer *b)
{
    return a->first <= b->last && b->first <= a->last;
}

static int bytes_meet(size_t off_a, size_t size_a, size_t off_b, size_t size_b)
{
    if (size_a == 0 || size_b == 0) return 0;
    return off_a < off_b + size_b && off_b < off_a + size_a;
}

size_t reef_plan_lower_bound(const reef_plan_buffer *bufs, int n)
{
    int steps = 0;
    for (int i = 0; i < n; i++)
        if (bufs[i].last + 1 > steps) steps = bufs[i].last + 1;
    size_t best = 0;
    for (int s = 0; s < steps; s++) {
        size_t live = 0;
        for (int i = 0; i < n; i++)
            if (bufs[i].first <= s && s <= bufs[i].last) live += bufs[i].size;
        if (live > best) best = live;
    }
    return best;
}

int reef_plan_check(const reef_plan_buffer *bufs, int n, size_t align, reef_error *err)
{
    for (int i = 0; i < n; i++) {
        if (bufs[i].offset % align)
            return reef_fail(err, "plan: buffer %d at offset %zu is not %zu-byte aligned", i, bufs[i].offset,
                             align);
        for (int j = i + 1; j < n; j++)
            if (lifetimes_meet(&bufs[i], &bufs[j]) &&
                bytes_meet(bufs[i].offset, bufs[i].size, bufs[j].offset, bufs[j].size))
                return reef_fail(err,
                                 "plan: buffers %d [%zu,+%zu) steps %d..%d and %d [%zu,+%zu) "
                                 "steps %d..%d overlap",
                                 i, bufs[i].offset, bufs[i].size, bufs[i].first, bufs[i].last, j,
                                 bufs[j].offset, bufs[j].size, bufs[j].first, bufs[j].last);
    }
    return 0;
}

/* ---- one placement run -------------------------------------------------- */

/* Buffer lists built once per plan, so a candidate offset is checked
 * against only the buffers whose lifetimes meet (a chain's tensor meets a
 * handful, not all n) and a group is walked through its own members.
 * Before these, checking one candidate cost O(n^2) and planning vww's
 * hundreds of buffers, many times over per lowering, dominated reef gen
 * and the planner's tests; the offsets chosen are unchanged. */
typedef struct placer {
    const reef_plan_buffer *bufs;
    int n;
    size_t align;
    const size_t *disp; /* (n) a member's offset above its group's, NULL: all 0 */
    const int *lead;    /* (n) the lowest-index member of i's group (i alone: i) */
    const int *next;    /* (n) the next member of i's group by index, -1 after the last */
    const int *meet_at; /* (n + 1) meets[meet_at[i] .. meet_at[i+1]) lists the buffers i meets in time */
    const int *meets;
    size_t *offset;     /* (n) offsets being assigned */
    char *placed;       /* (n) 1 once placed */
    char *seen;         /* (n) all 0 between calls: lowest_fit's marks */
} placer;

#define FOR_MEMBERS(p, i, b) for (int i = (p)->lead[b]; i >= 0; i = (p)->next[i])

static int one_fits_at(const placer *p, int b, size_t off)
{
    for (int k = p->meet_at[b]; k < p->meet_at[b + 1]; k++) {
        int i = p->meets[k];
        if (p->placed[i] && bytes_meet(p->offset[i], p->bufs[i].size, off, p->bufs[b].size)) return 0;
    }
    return 1;
}

static size_t disp_of(const placer *p, int i)
{
    return p->disp ? p->disp[i] : 0;
}

/* Buffer b and every buffer of its group fit with the group at off. */
static int fits_at(const placer *p, int b, size_t off)
{
    FOR_MEMBERS(p, i, b)
    if (!one_fits_at(p, i, off + disp_of(p, i))) return 0;
    return 1;
}

/* The bytes b's group spans above its offset. */
static size_t group_size(const placer *p, int b)
{
    size_t size = 0;
    FOR_MEMBERS(p, i, b)
    if (disp_of(p, i) + p->bufs[i].size > size) size = disp_of(p, i) + p->bufs[i].size;
    return size;
}

/* Candidate offsets for b's group on top of placed buffer i (its aligned
 * end, and that end less each displaced member's displacement): the lowest
 * that fits and is below best, else best. */
static size_t lowest_above(const placer *p, int b, int i, size_t best)
{
    size_t end = align_up(p->offset[i] + p->bufs[i].size, p->align);
    if (end < best && fits_at(p, b, end)) best = end;
    /* a displaced member just above buffer i */
    FOR_MEMBERS(p, j, b)
    if (disp_of(p, j) && disp_of(p, j) <= end) {
        size_t cand = end - disp_of(p, j);
        if (cand < best && fits_at(p, b, cand)) best = cand;
    }
    return best;
}

/* The lowest aligned offset where buffer b (and its group) fits: 0, or on
 * top of a placed buffer that meets one of the group in time. The minimum
 * over the candidates does not depend on the order they are tried in. */
static size_t lowest_fit(const placer *p, int b)
{
    size_t best = SIZE_MAX;
    if (fits_at(p, b, 0)) return 0;
    FOR_MEMBERS(p, j, b)
    for (int k = p->meet_at[j]; k < p->meet_at[j + 1]; k++) {
        int i = p->meets[k];
        if (!p->placed[i] || p->seen[i]) continue;
        p->seen[i] = 1;
        best = lowest_above(p, b, i, best);
    }
    FOR_MEMBERS(p, j, b)
    for (int k = p->meet_at[j]; k < p->meet_at[j + 1]; k++) p->seen[p->meets[k]] = 0;
    return best; /* always found: above every conflicting buffer is free */
}

/* Strategies: the order buffers are placed in, and whether to try the two
 * ends of a target arena first. Placing each buffer at offset 0 or flush
 * against the top of an arena of lower-bound size alternates the tensors of
 * a chain between the two ends, which reaches the lower bound exactly;
 * scratch buffers then fill the gap between. */
typedef enum { ORDER_SIZE, ORDER_TIME } order_kind;

typedef struct strategy {
    const char *name;
    order_kind order;
    int two_ended;
} strategy;

static const strategy strategies[] = {
    {"greedy-by-size", ORDER_SIZE, 0},
    {"greedy-by-time", ORDER_TIME, 0},
    {"two-ended-by-time", ORDER_TIME, 1},
    {"two-ended-by-size", ORDER_SIZE, 1},
};

static int compare_size(const reef_plan_buffer *a, const reef_plan_buffer *b)
{
    if (a->size != b->size) return a->size > b->size ? -1 : 1;
    int la = a->last - a->first, lb = b->last - b->first;
    if (la != lb) return la > lb ? -1 : 1;
    return (a->first > b->first) - (a->first < b->first);
}

static int compare_index(const reef_plan_buffer *bufs, order_kind order, int ia, int ib)
{
    const reef_plan_buffer *a = &bufs[ia], *b = &bufs[ib];
    int c = 0;
    /* By time: by first step, and among buffers born at one step the one
     * that lives longest first, so a scratch buffer never takes an end of
     * the arena before its step's output tensor does. */
    if (order == ORDER_TIME) c = (a->first > b->first) - (a->first < b->first);
    if (order == ORDER_TIME && !c) c = (a->last < b->last) - (a->last > b->last);
    if (!c) c = compare_size(a, b);
    if (!c) c = (ia > ib) - (ia < ib);
    return c;
}

/* Insertion sort: qsort takes no context in C11, and n is small. */
static void order_buffers(const reef_plan_buffer *bufs, int n, order_kind order, int *idx)
{
    for (int i = 0; i < n; i++) {
        int j = i;
        while (j > 0 && compare_index(bufs, order, idx[j - 1], i) > 0) {
            idx[j] = idx[j - 1];
            j--;
        }
        idx[j] = i;
    }
}

static size_t place_one(placer *p, int b, int two_ended, size_t target)
{
    if (two_ended) {
        if (fits_at(p, b, 0)) return 0;
        size_t size = align_up(group_size(p, b), p->align);
        if (size <= target) {
            size_t top = align_down(target - size, p->align);
            if (fits_at(p, b, top)) return top;
        }
    }
    return lowest_fit(p, b);
}

/* Runs one strategy, writing offsets; returns the arena size. */
static size_t run_strategy(placer *p, const strategy *s, const int *idx, size_t target)
{
    memset(p->placed, 0, (size_t)p->n);
    size_t arena = 0;
    for (int k = 0; k < p->n; k++) {
        int b = idx[k];
        if (p->placed[b]) continue; /* with its group */
        size_t off = place_one(p, b, s->two_ended, target);
        FOR_MEMBERS(p, i, b) {
            p->offset[i] = off + disp_of(p, i);
            p->placed[i] = 1;
            if (p->offset[i] + p->bufs[i].size > arena) arena = p->offset[i] + p->bufs[i].size;
        }
    }
    return arena;
}

/* The lower bound with every size rounded up to the alignment: the arena
 * the two-ended strategies aim for. */
static size_t aligned_lower_bound(const reef_plan_buffer *bufs, int n, size_t align)
{
    reef_plan_buffer *copy = malloc((size_t)n * sizeof *copy);
    if (!copy) return 0;
    for (int i = 0; i < n; i++) {
        copy[i] = bufs[i];
        copy[i].size = align_up(bufs[i].size, align);
    }
    size_t lb = reef_plan_lower_bound(copy, n);
    free(copy);
    return lb;
}

/* lead[i]: the lowest-index buffer of i's group; next[i]: the next member
 * after i by index, or -1. Without groups every buffer is its own. */
static void link_groups(const int *group, int n, int *lead, int *next)
{
    for (int i = 0; i < n; i++) {
        lead[i] = i, next[i] = -1;
        for (int j = 0; group && j < i; j++)
            if (group[j] == group[i]) {
                lead[i] = lead[j];
                break;
            }
        if (lead[i] == i) continue;
        int tail = lead[i];
        while (next[tail] >= 0) tail = next[tail];
        next[tail] = i;
    }
}

/* The buffers each buffer meets in time (itself left out), as one list:
 * buffer i's are at [meet_at[i], meet_at[i+1]). NULL when out of memory. */
static int *list_meets(const reef_plan_buffer *bufs, int n, int *meet_at)
{
    size_t total = 0;
    for (int i = 0; i < n; i++) {
        meet_at[i] = (int)total;
        for (int j = 0; j < n; j++) total += j != i && lifetimes_meet(&bufs[i], &bufs[j]);
    }
    meet_at[n] = (int)total;
    int *meets = malloc((total ? total : 1) * sizeof *meets);
    for (int i = 0, k = 0; meets && i < n; i++)
        for (int j = 0; j < n; j++)
            if (j != i && lifetimes_meet(&bufs[i], &bufs[j])) meets[k++] = j;
    return meets;
}

int reef_plan(reef_plan_buffer *bufs, int n, size_t align, reef_plan_stats *stats, reef_error *err)
{
    return reef_plan_grouped(bufs, n, NULL, align, stats, err);
}

int reef_plan_grouped(reef_plan_buffer *bufs, int n, const int *group, size_t align, reef_plan_stats *stats,
                      reef_error *err)
{
    return reef_plan_grouped_disp(bufs, n, group, NULL, align, stats, err);
}

int reef_plan_grouped_disp(reef_plan_buffer *bufs, int n, const int *group, const size_t *disp, size_t align,
                           reef_plan_stats *stats, reef_error *err)
{
    if (n < 0 || align == 0 || (align & (align - 1)))
        return reef_fail(err, "plan: bad arguments (n=%d, align=%zu)", n, align);
    for (int i = 0; i < n; i++)
        if (bufs[i].first < 0 || bufs[i].last < bufs[i].first)
            return reef_fail(err, "plan: buffer %d has a bad lifetime %d..%d", i, bufs[i].first,
                             bufs[i].last);
    reef_plan_stats result = {0, reef_plan_lower_bound(bufs, n), "none"};
    if (n == 0) {
        if (stats) *stats = result;
        return 0;
    }
    for (int i = 0; disp && i < n; i++)
        if (disp[i] % align)
            return reef_fail(err, "plan: buffer %d has a bad displacement %zu", i, disp[i]);
    /* members of a displaced group may meet in time: a row-streamed step
     * writes its output over its input's dead rows (reef/rows.h) */
    for (int i = 0; group && !disp && i < n; i++)
        for (int j = i + 1; j < n; j++)
            if (group[i] == group[j] && lifetimes_meet(&bufs[i], &bufs[j]))
                return reef_fail(err, "plan: buffers %d and %d share an offset but are live at one step", i, j);
    int *lead = malloc((size_t)n * sizeof *lead), *next = malloc((size_t)n * sizeof *next);
    int *meet_at = calloc((size_t)n + 1, sizeof *meet_at), *meets = NULL;
    size_t *best = calloc((size_t)n, sizeof *best);
    int *idx = calloc((size_t)n, sizeof *idx);
    placer p = {bufs, n, align, disp, lead, next, meet_at, NULL, calloc((size_t)n, sizeof(size_t)),
                calloc((size_t)n, 1), calloc((size_t)n, 1)};
    if (lead && next && meet_at) link_groups(group, n, lead, next), meets = list_meets(bufs, n, meet_at);
    p.meets = meets;
    if (!meets || !p.offset || !p.placed || !p.seen || !best || !idx) {
        free(lead), free(next), free(meet_at), free(meets);
        free(p.offset), free(p.placed), free(p.seen), free(best), free(idx);
        return reef_fail(err, "plan: out of memory for %d buffers", n);
    }
    size_t target = aligned_lower_bound(bufs, n, align);
    result.arena_size = SIZE_MAX;
    for (size_t s = 0; s < sizeof strategies / sizeof strategies[0]; s++) {
        order_buffers(bufs, n, strategies[s].order, idx);
        size_t arena = run_strategy(&p, &strategies[s], idx, target);
        if (arena < result.arena_size) {
            result.arena_size = arena;
            result.strategy = strategies[s].name;
            memcpy(best, p.offset, (size_t)n * sizeof *best);
        }
    }
    for (int i = 0; i < n; i++) bufs[i].offset = best[i];
    free(lead), free(next), free(meet_at), free(meets);
    free(p.offset), free(p.placed), free(p.seen), free(best), free(idx);
    if (stats) *stats = result;
    return 0;
}
