/* The cost table against emulated runs: two networks of a small space
 * (w0.5, 16x16) measured on qemu-m4 fill the table; a third network mixing
 * their ops (and a zero block) is predicted from it and then measured.
 * Needs arm-none-eabi-gcc and qemu-system-arm (skips without them). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "testing.h"

#include "energy/profile.h"
#include "nas/cost.h"
#include "profile/profile_ops.h"
#include "nas/space.h"

static int tools_present(void)
{
    if (system("command -v arm-none-eabi-gcc >/dev/null && command -v qemu-system-arm >/dev/null") != 0) {
        printf("[  SKIPPED ] arm-none-eabi-gcc or qemu-system-arm missing (scripts/deps.sh)\n");
        return 0;
    }
    return 1;
}

static void measure(const reef_nas_space *s, const int *choice, const reef_device_profile *p, reef_nas_measure *ms)
{
    reef_error err;
    reef_arch a;
    reef_nas_space_arch(s, choice, "probe", &a);
    if (reef_nas_measure_arch(&a, s->in_h, s->in_w, s->in_c, s->num_classes, p, NULL, 3, ms, &err))
        fail_msg("%s", err.msg);
    printf("measured in %.1f s: %.0f instructions, %.0f cycles, flash %u, RAM %u\n", ms->seconds, ms->insns,
           ms->cycles, ms->mem.flash_total, ms->mem.ram_total);
}

static void test_table_predicts_emulated(void **state)
{
    (void)state;
    if (!tools_present()) skip();
    reef_error err;
    reef_device_profile prof;
    if (reef_profile_load("stm32l4r5", &prof, &err)) fail_msg("%s", err.msg);
    reef_nas_space s;
    assert_int_equal(reef_nas_space_init(&s, 32, 32, 1, 2, 0.5f, 2, &err), 0);
    // analytic entries for the ops not measured here, then the measured ones
    reef_nas_table t;
    reef_nas_table_init(&t);
    assert_int_equal(reef_nas_table_analytic(&t, 32, 32, 1, 2, &err), 0);
    t.overhead_cycles = 0, t.flash_fixed = t.ram_fixed = 0;
    const int a[REEF_NAS_MAX_BLOCKS] = {0, 0, 0, 0, 0, 0}, b[REEF_NAS_MAX_BLOCKS] = {3, 3, 3, 3, 3, 3};
    reef_nas_measure ma, mb, mc;
    measure(&s, a, &prof, &ma);
    measure(&s, b, &prof, &mb);
    assert_int_equal(reef_nas_table_put_measure(&t, &s, a, &ma, &err), 0);
    assert_int_equal(reef_nas_table_put_measure(&t, &s, b, &mb, &err), 0);
    // per-step attribution covers the run: overhead is small and positive
    assert_true(ma.cycles > ma.step_cycles && ma.cycles - ma.step_cycles < 0.02 * ma.cycles);
    // each measured op: MACs and weights as the analytic model computes them
    for (int i = 0; i < t.n; i++) {
        if (t.costs[i].insns == 0.8 * t.costs[i].cycles) continue;  // analytic
        reef_nas_cost an;
        reef_nas_op_cost_analytic(&t.ops[i], &an);
        char text[128];
        reef_nas_op_text(&t.ops[i], text, sizeof text);
        printf("%-40s %9.0f cycles %7.0f insns %6lld B weights %6lld B arena %7lld MACs\n", text, t.costs[i].cycles,
               t.costs[i].insns, (long long)t.costs[i].weights, (long long)t.costs[i].arena,
               (long long)t.costs[i].macs);
        assert_int_equal(t.costs[i].macs, an.macs);
        assert_true(t.costs[i].cycles > 0 && t.costs[i].arena > 0);
    }
    // a mix: zero in block 0, the two candidates alternating elsewhere
    const int c[REEF_NAS_MAX_BLOCKS] = {REEF_NAS_ZERO, 3, 0, 3, 0, 3};
    reef_nas_space_costs sc;
    assert_int_equal(reef_nas_space_costs_get(&t, &s, &sc, &err), 0);
    reef_nas_budget tg = {.clock_mhz = prof.clock_mhz, .power_mw = 25};
    reef_nas_estimate e;
    reef_nas_estimate_choice(&sc, &s, c, &tg, &e);
    measure(&s, c, &prof, &mc);
    double cyc_err = (e.cycles - mc.cycles) / mc.cycles;
    printf("mix: predicted %.0f cycles, emulated %.0f (%+.2f%%); flash %lld vs %u; RAM %lld vs %u\n", e.cycles,
           mc.cycles, 100 * cyc_err, (long long)e.flash, mc.mem.flash_total, (long long)e.ram, mc.mem.ram_total);
    assert_true(fabs(cyc_err) < 0.03);
    assert_int_equal(e.macs, mc.macs);
    assert_int_equal(e.weights, mc.weights);
    // flash and RAM: the fixed parts are the largest seen, so the
    // prediction is an upper bound, and a close one
    assert_true(e.flash >= (int64_t)mc.mem.flash_total && e.flash - (int64_t)mc.mem.flash_total < 2048);
    assert_true(e.ram >= (int64_t)mc.mem.ram_total && e.ram - (int64_t)mc.mem.ram_total < 2048);
    reef_nas_table_free(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table_predicts_emulated),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
