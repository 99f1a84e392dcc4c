/* The cycle model on synthetic instruction mixes with hand-computed
 * expected cycles (weights in docs/cycle-model.md). */
#include "testing.h"

#include "firmware/cycles.h"

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

/* The loop fixture (tests/firmware/fixtures/loop.c) as counted by the
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

/* Data reads that miss the modeled flash data cache wait the wait states;
 * every data read from flash also costs the fitted flash_data_read (2.15). */
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
    /* 10 misses x 5 + 100 reads x 2.15 = 265 */
    assert_float_equal(e.flash_data_cycles, 265, 1e-9);
    assert_float_equal(e.cycles, 465, 1e-9);
}

/* Zero wait states: flash keeps up with the core, neither misses nor reads
 * cost anything beyond the load itself. */
static void test_flash_reads_free_without_wait_states(void **state)
{
    (void)state;
    reef_cycle_model m;
    reef_cycle_model_default(&m, 0);
    uint64_t counts[REEF_INSN_CLASS_COUNT] = {0};
    counts[REEF_INSN_LOAD] = 100;
    counts[REEF_INSN_FLASH_READS] = 100;
    counts[REEF_INSN_FLASH_MISSES] = 10;
    reef_cycle_estimate e;
    reef_cycle_estimate_counts(&m, counts, &e);
    assert_float_equal(e.flash_data_cycles, 0, 1e-9);
    assert_float_equal(e.cycles, 200, 1e-9);
}

/* One calibration row by hand: microTVM + CMSIS-NN, AD autoencoder
 * (bench/calibration/l4r5zi.csv), 5 wait states.
 * core = alu 286576 + load 2 x 117850 + pipelined 5758 + store 5759
 *      + (ldm 1570 + stm 1639) + regs (2783 + 2941) + mul 20 + mac 133768
 *      + branch 3 x 2775 + taken 3 x 36640 + not taken (42131 - 36640)
 *      + pc_load 2 x 32 + fpu 7680                       = 807,994
 * flash = 5% x (2775 + 36640 + 32) x 5 + 9077 x 5 + 68484 x 2.15
 *       = 9861.75 + 45385 + 147240.6                    = 202,487.35
 * 1,010,481.35 cycles = 8.421 ms at 120 MHz; the board measured 8.605 ms. */
static void test_calibration_row_by_hand(void **state)
{
    (void)state;
    reef_cycle_model m;
    reef_cycle_model_default(&m, 5);
    uint64_t c[REEF_INSN_CLASS_COUNT] = {0};
    c[REEF_INSN_TOTAL] = 605526, c[REEF_INSN_ALU] = 286576, c[REEF_INSN_LOAD] = 117850;
    c[REEF_INSN_LOAD_PIPELINED] = 5758, c[REEF_INSN_STORE] = 5759, c[REEF_INSN_LDM] = 1570;
    c[REEF_INSN_LDM_REGS] = 2783, c[REEF_INSN_STM] = 1639, c[REEF_INSN_STM_REGS] = 2941;
    c[REEF_INSN_MUL] = 20, c[REEF_INSN_MAC_DSP] = 133768, c[REEF_INSN_BRANCH] = 2775;
    c[REEF_INSN_BRANCH_COND] = 42131, c[REEF_INSN_BRANCH_TAKEN] = 36640, c[REEF_INSN_PC_LOAD] = 32;
    c[REEF_INSN_FPU] = 7680, c[REEF_INSN_FLASH_READS] = 68484, c[REEF_INSN_FLASH_MISSES] = 9077;
    reef_cycle_estimate e;
    reef_cycle_estimate_counts(&m, c, &e);
    assert_float_equal(e.core_cycles, 807994, 1e-6);
    assert_float_equal(e.flash_cycles, 202487.35, 1e-6);
    assert_float_equal(e.cycles, 1010481.35, 1e-6);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_each_class_weight),
        cmocka_unit_test(test_loop_mix_with_wait_states),
        cmocka_unit_test(test_multiple_transfers),
        cmocka_unit_test(test_flash_data_misses),
        cmocka_unit_test(test_flash_reads_free_without_wait_states),
        cmocka_unit_test(test_calibration_row_by_hand),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
