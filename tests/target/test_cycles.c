/* The cycle model on synthetic instruction mixes with hand-computed
 * expected cycles (weights in docs/cycle-model.md). */
#include "testing.h"

#include "target/cycles.h"

static void test_each_class_weight(void **state)
{
    (void)state;
    reef_cycle_model m;
    reef_cycle_model_default(&m, 0); /* no wait states: core cycles only */
    struct { int cls; double per_insn; } weights[] = {
        {REEF_INSN_ALU, 1}, {REEF_INSN_LOAD, 2}, {REEF_INSN_LOAD_PIPELINED, 1}, {REEF_INSN_STORE, 1},
        {REEF_INSN_MUL, 1}, {REEF_INSN_MAC_DSP, 1}, {REEF_INSN_DIV, 12}, {REEF_INSN_BRANCH, 3},
        {REEF_INSN_TABLE_BRANCH, 5}, {REEF_INSN_FPU, 1}, {REEF_INSN_FPU_MAC, 3}, {REEF_INSN_FPU_DIV, 14},
        {REEF_INSN_SYSTEM, 1},
    };
    for (size_t i = 0; i < sizeof weights / sizeof weights[0]; i++) {
        uint64_t counts[REEF_INSN_CLASS_COUNT] = {0};
        counts[weights[i].cls] = 1000;
        reef_cycle_estimate e;
        reef_cycle_estimate_counts(&m, counts, &e);
        assert_float_equal(e.cycles, 1000 * weights[i].per_insn, 1e-9);
        assert_float_equal(e.flash_cycles, 0, 1e-9);
    }
}

/* The loop fixture (tests/target/fixtures/loop.c) as counted by the
 * plugin: 1001 ALU, 2 branches, 1000 conditional of which 999 taken. */
static void test_loop_mix_with_wait_states(void **state)
{
    (void)state;
    reef_cycle_model m;
    reef_cycle_model_default(&m, 5);
    uint64_t counts[REEF_INSN_CLASS_COUNT] = {0};
    counts[REEF_INSN_TOTAL] = 2003;
    counts[REEF_INSN_ALU] = 1001;
    counts[REEF_INSN_BRANCH] = 2;
    counts[REEF_INSN_BRANCH_COND] = 1000;
    counts[REEF_INSN_BRANCH_TAKEN] = 999;
    reef_cycle_estimate e;
    reef_cycle_estimate_counts(&m, counts, &e);
    /* core: 1001 + 2 * (1 + 2) + 999 * (1 + 2) + 1 = 4005 */
    assert_float_equal(e.core_cycles, 4005, 1e-9);
    /* flash: 1001 non-sequential fetches * 5% misses * 5 wait states */
    assert_int_equal(e.taken_branches, 1001);
    assert_float_equal(e.flash_cycles, 1001 * 0.05 * 5, 1e-9);
    assert_float_equal(e.cycles, 4005 + 250.25, 1e-9);
}

/* LDM/STM are 1 + N; POP {.., pc} adds the refill P. */
static void test_multiple_transfers(void **state)
{
    (void)state;
    reef_cycle_model m;
    reef_cycle_model_default(&m, 0);
    uint64_t counts[REEF_INSN_CLASS_COUNT] = {0};
    counts[REEF_INSN_STM] = 10;       /* push {r4-r7, lr} x 10 */
    counts[REEF_INSN_STM_REGS] = 50;
    counts[REEF_INSN_LDM] = 10;       /* pop {r4-r7, pc} x 10 */
    counts[REEF_INSN_LDM_REGS] = 50;
    counts[REEF_INSN_PC_LOAD] = 10;
    reef_cycle_estimate e;
    reef_cycle_estimate_counts(&m, counts, &e);
    assert_float_equal(e.cycles, 10 * 6 + 10 * 6 + 10 * 2, 1e-9);
}

/* Data reads that miss the modeled flash data cache wait the wait states. */
static void test_flash_data_misses(void **state)
{
    (void)state;
    reef_cycle_model m;
    reef_cycle_model_default(&m, 5);
    uint64_t counts[REEF_INSN_CLASS_COUNT] = {0};
    counts[REEF_INSN_LOAD] = 100;
    counts[REEF_INSN_FLASH_READS] = 100;
    counts[REEF_INSN_FLASH_MISSES] = 10;
    reef_cycle_estimate e;
    reef_cycle_estimate_counts(&m, counts, &e);
    assert_float_equal(e.core_cycles, 200, 1e-9);
    assert_float_equal(e.flash_data_cycles, 50, 1e-9);
    assert_float_equal(e.cycles, 250, 1e-9);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_each_class_weight),
        cmocka_unit_test(test_loop_mix_with_wait_states),
        cmocka_unit_test(test_multiple_transfers),
        cmocka_unit_test(test_flash_data_misses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
