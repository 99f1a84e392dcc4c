/* The memory planner on random graphs: plans never overlap live buffers,
 * never beat the lower bound, and on chains reach it exactly. */
#include "testing.h"

#include "codegen/plan.h"
#include "util/rng.h"

#define MAX_BUFS 160

/* A random op graph: op s writes tensor s (tensor 0 is the graph input,
 * written "at" step 0 with op 0) and reads one to three earlier tensors;
 * some ops also take a scratch buffer live only at their step. */
static int random_graph(reef_rng *r, int chain, int scratch, reef_plan_buffer *bufs)
{
    int nops = 2 + (int)reef_rng_below(r, 40);
    int n = 0;
    for (int s = 0; s < nops; s++) {
        bufs[n].size = 1 + reef_rng_below(r, 4000);
        bufs[n].first = s;
        bufs[n].last = s == nops - 1 ? s : s + 1; /* read by the next op */
        n++;
    }
    if (!chain)
        for (int s = 2; s < nops; s++) {
            int extra = (int)reef_rng_below(r, 3);
            for (int k = 0; k < extra; k++) {
                int t = (int)reef_rng_below(r, (uint32_t)s); /* an earlier tensor */
                if (bufs[t].last < s) bufs[t].last = s;
            }
        }
    if (scratch)
        for (int s = 0; s < nops; s++)
            if (reef_rng_below(r, 2)) {
                bufs[n].size = reef_rng_below(r, 3000);
                bufs[n].first = bufs[n].last = s;
                n++;
            }
    return n;
}

static size_t arena_of(const reef_plan_buffer *bufs, int n)
{
    size_t a = 0;
    for (int i = 0; i < n; i++)
        if (bufs[i].offset + bufs[i].size > a) a = bufs[i].offset + bufs[i].size;
    return a;
}

static void round_sizes(reef_plan_buffer *bufs, int n)
{
    for (int i = 0; i < n; i++) bufs[i].size = (bufs[i].size + 3) & ~(size_t)3;
}

static void check_random(int chain, int scratch, int aligned_sizes)
{
    reef_rng r;
    reef_rng_seed(&r, 1000 + 10 * chain + scratch);
    int seeds = testing_sanitizer_run() ? 100 : 1000;
    for (int seed = 0; seed < seeds; seed++) {
        reef_plan_buffer bufs[MAX_BUFS];
        int n = random_graph(&r, chain, scratch, bufs);
        if (aligned_sizes) round_sizes(bufs, n);
        reef_plan_stats st;
        reef_error err;
        assert_int_equal(reef_plan(bufs, n, REEF_PLAN_ALIGN, &st, &err), 0);
        if (reef_plan_check(bufs, n, REEF_PLAN_ALIGN, &err)) fail_msg("seed %d: %s", seed, err.msg);
        assert_int_equal(st.arena_size, arena_of(bufs, n));
        assert_int_equal(st.lower_bound, reef_plan_lower_bound(bufs, n));
        assert_true(st.arena_size >= st.lower_bound);
        if (chain && aligned_sizes && st.arena_size != st.lower_bound)
            fail_msg("seed %d: chain of %d buffers: arena %zu, lower bound %zu", seed, n, st.arena_size,
                     st.lower_bound);
        /* Unaligned sizes: each live buffer may waste up to 3 bytes. */
        if (chain && st.arena_size > st.lower_bound + 3 * 3)
            fail_msg("seed %d: chain of %d buffers (unaligned): arena %zu, lower bound %zu", seed, n,
                     st.arena_size, st.lower_bound);
    }
}

static void test_random_dags(void **state)
{
    (void)state;
    check_random(0, 0, 0);
    check_random(0, 1, 0);
}

static void test_random_chains(void **state)
{
    (void)state;
    check_random(1, 0, 1);
    check_random(1, 1, 1);
    check_random(1, 1, 0);
}

/* A known case: a residual block. t0 -> conv -> t1 -> conv -> t2, t3 = t0 + t2. */
static void test_residual(void **state)
{
    (void)state;
    reef_plan_buffer b[] = {
        {1000, 0, 2, 0}, /* t0, read by the add at step 2 */
        {500, 0, 1, 0},  /* t1 */
        {1000, 1, 2, 0}, /* t2 */
        {1000, 2, 2, 0}, /* t3 */
    };
    reef_plan_stats st;
    reef_error err;
    assert_int_equal(reef_plan(b, 4, REEF_PLAN_ALIGN, &st, &err), 0);
    assert_int_equal(reef_plan_check(b, 4, REEF_PLAN_ALIGN, &err), 0);
    assert_int_equal(st.lower_bound, 3000);
    assert_int_equal(st.arena_size, 3000);
}

/* The checker catches overlaps and misalignment. */
static void test_check_catches(void **state)
{
    (void)state;
    reef_error err;
    reef_plan_buffer b[] = {{100, 0, 1, 0}, {100, 1, 2, 96}};
    assert_int_equal(reef_plan_check(b, 2, 4, &err), -1);
    assert_non_null(strstr(err.msg, "overlap"));
    b[1].offset = 100;
    assert_int_equal(reef_plan_check(b, 2, 4, &err), 0);
    b[1].offset = 102;
    assert_int_equal(reef_plan_check(b, 2, 4, &err), -1);
    b[1].first = 2, b[1].offset = 0; /* disjoint lifetimes may share bytes */
    assert_int_equal(reef_plan_check(b, 2, 4, &err), 0);
    reef_plan_buffer bad = {10, 3, 1, 0};
    assert_int_equal(reef_plan(&bad, 1, 4, NULL, &err), -1);
}

/* Grouped plans (in-place steps): on 1,000 random chains where some ops
 * write their output over their input (the output's buffer starts one step
 * later, grouped with the input's), every group shares one offset, no two
 * live buffers overlap, the arena is what the report says, and a group
 * whose lifetimes meet is refused. */
static void test_grouped(void **state)
{
    (void)state;
    reef_rng r;
    reef_rng_seed(&r, 4242);
    int seeds = testing_sanitizer_run() ? 100 : 1000, grouped = 0;
    for (int seed = 0; seed < seeds; seed++) {
        reef_plan_buffer bufs[MAX_BUFS];
        int group[MAX_BUFS];
        int n = random_graph(&r, 1, 1, bufs);
        for (int i = 0; i < n; i++) group[i] = i;
        /* chain tensors are 0..nops-1 (buffer s written at step s, read at
         * s + 1): op s + 1 in place makes tensor s + 1 start at s + 2 */
        for (int s = 0; s + 2 < n && bufs[s + 1].first == s + 1 && bufs[s + 1].last > s + 1; s++)
            if (reef_rng_below(&r, 3) == 0 && bufs[s + 1].size <= bufs[s].size && bufs[s].last == s + 1) {
                bufs[s + 1].first = s + 2;
                group[s + 1] = group[s];
                grouped++;
            }
        reef_plan_stats st;
        reef_error err;
        if (reef_plan_grouped(bufs, n, group, REEF_PLAN_ALIGN, &st, &err)) fail_msg("seed %d: %s", seed, err.msg);
        if (reef_plan_check(bufs, n, REEF_PLAN_ALIGN, &err)) fail_msg("seed %d: %s", seed, err.msg);
        for (int i = 0; i < n; i++) assert_int_equal(bufs[i].offset, bufs[group[i]].offset);
        assert_int_equal(st.arena_size, arena_of(bufs, n));
        assert_true(st.arena_size >= st.lower_bound);
    }
    printf("grouped plans: %d in-place pairs over %d random chains\n", grouped, seeds);
    assert_true(grouped > seeds / 4);
    reef_plan_buffer meet[2] = {{16, 0, 2, 0}, {8, 2, 3, 0}};
    int same[2] = {0, 0};
    reef_error err;
    assert_int_equal(reef_plan_grouped(meet, 2, same, 4, NULL, &err), -1);
    assert_non_null(strstr(err.msg, "share an offset"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_dags),
        cmocka_unit_test(test_random_chains),
        cmocka_unit_test(test_residual),
        cmocka_unit_test(test_check_catches),
        cmocka_unit_test(test_grouped),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
