/* The Thumb / Thumb-2 classifier on encodings taken from arm-none-eabi-gcc
 * 12 output (objdump), one per class the cycle model weighs. */
#include "testing.h"

#include "firmware/insn_class.h"
#include "firmware/thumb.h"

typedef struct insn_case {
    const char *text;   /* what objdump prints */
    uint16_t hw[2];     /* halfwords in order */
    int size, cls, regs, pc_load;
} insn_case;

static const insn_case cases[] = {
    {"adds r0, #1", {0x3001}, 2, REEF_INSN_ALU, 0, 0},
    {"add.w ip, r4, #64", {0xf104, 0x0c40}, 4, REEF_INSN_ALU, 0, 0},
    {"sxtb16 r1, r2", {0xfa2f, 0xf182}, 4, REEF_INSN_ALU, 0, 0},
    {"muls r0, r1", {0x4348}, 2, REEF_INSN_MUL, 0, 0},
    {"mla r0, r1, r2, r3", {0xfb01, 0x3002}, 4, REEF_INSN_MUL, 0, 0},
    {"smlabb r2, ip, r0, r2", {0xfb1c, 0x2200}, 4, REEF_INSN_MAC_DSP, 0, 0},
    {"smlad r0, r1, r2, r3", {0xfb21, 0x3002}, 4, REEF_INSN_MAC_DSP, 0, 0},
    {"smull r0, r1, r2, r3", {0xfb82, 0x0103}, 4, REEF_INSN_MUL, 0, 0},
    {"smlal r0, r1, r2, r3", {0xfbc2, 0x0103}, 4, REEF_INSN_MAC_DSP, 0, 0},
    {"sdiv r0, r1, r2", {0xfb91, 0xf0f2}, 4, REEF_INSN_DIV, 0, 0},
    {"udiv r0, r1, r2", {0xfbb1, 0xf0f2}, 4, REEF_INSN_DIV, 0, 0},
    {"ldr r4, [pc, #104]", {0x4c1a}, 2, REEF_INSN_LOAD, 0, 0},
    {"ldr r0, [r1, r2]", {0x5888}, 2, REEF_INSN_LOAD, 0, 0},
    {"ldrsb.w r0, [r2, #1]!", {0xf912, 0x0f01}, 4, REEF_INSN_LOAD, 0, 0},
    {"str r0, [r1, #4]", {0x6048}, 2, REEF_INSN_STORE, 0, 0},
    {"strb.w r0, [r3], #1", {0xf803, 0x0b01}, 4, REEF_INSN_STORE, 0, 0},
    {"push {r3, r4, r5, r6, r7, lr}", {0xb5f8}, 2, REEF_INSN_STM, 6, 0},
    {"pop {r3, r4, r5, r6, r7, pc}", {0xbdf8}, 2, REEF_INSN_LDM, 6, 1},
    {"ldmia r0!, {r1, r2, r3}", {0xc80e}, 2, REEF_INSN_LDM, 3, 0},
    {"ldmia.w r0, {r1-r5}", {0xe890, 0x003e}, 4, REEF_INSN_LDM, 5, 0},
    {"ldrd r2, r3, [r0]", {0xe9d0, 0x2300}, 4, REEF_INSN_LDM, 2, 0},
    {"strd r2, r3, [r0]", {0xe9c0, 0x2300}, 4, REEF_INSN_STM, 2, 0},
    {"ldr.w pc, [sp], #4", {0xf85d, 0xfb04}, 4, REEF_INSN_LOAD, 0, 1},
    {"bne.n", {0xd1f8}, 2, REEF_INSN_BRANCH_COND, 0, 0},
    {"cbz r0, +8", {0xb120}, 2, REEF_INSN_BRANCH_COND, 0, 0},
    {"bge.w", {0xf280, 0x8010}, 4, REEF_INSN_BRANCH_COND, 0, 0},
    {"b.n", {0xe7fe}, 2, REEF_INSN_BRANCH, 0, 0},
    {"b.w", {0xf000, 0xb800}, 4, REEF_INSN_BRANCH, 0, 0},
    {"bl", {0xf7ff, 0xfffe}, 4, REEF_INSN_BRANCH, 0, 0},
    {"bx lr", {0x4770}, 2, REEF_INSN_BRANCH, 0, 0},
    {"tbb [pc, r0]", {0xe8df, 0xf000}, 4, REEF_INSN_TABLE_BRANCH, 0, 0},
    {"vadd.f32 s0, s0, s1", {0xee30, 0x0a20}, 4, REEF_INSN_FPU, 0, 0},
    {"vmul.f32 s0, s0, s1", {0xee20, 0x0a20}, 4, REEF_INSN_FPU, 0, 0},
    {"vmla.f32 s0, s1, s2", {0xee00, 0x0a81}, 4, REEF_INSN_FPU_MAC, 0, 0},
    {"vfma.f32 s0, s1, s2", {0xeea0, 0x0a81}, 4, REEF_INSN_FPU_MAC, 0, 0},
    {"vdiv.f32 s0, s0, s1", {0xee80, 0x0a20}, 4, REEF_INSN_FPU_DIV, 0, 0},
    {"vsqrt.f32 s0, s1", {0xeeb1, 0x0ae0}, 4, REEF_INSN_FPU_DIV, 0, 0},
    {"vcvt.f32.s32 s0, s0", {0xeeb8, 0x0ac0}, 4, REEF_INSN_FPU, 0, 0},
    {"vmov r0, s0", {0xee10, 0x0a10}, 4, REEF_INSN_FPU, 0, 0},
    {"vldr s0, [r0]", {0xed90, 0x0a00}, 4, REEF_INSN_LOAD, 0, 0},
    {"vstr s0, [r0]", {0xed80, 0x0a00}, 4, REEF_INSN_STORE, 0, 0},
    {"vpush {s16-s19}", {0xed2d, 0x8a04}, 4, REEF_INSN_STM, 4, 0},
    {"vpop {d8-d9}", {0xecbd, 0x8b04}, 4, REEF_INSN_LDM, 4, 0},
    {"bkpt 0x00ab", {0xbeab}, 2, REEF_INSN_SYSTEM, 0, 0},
    {"dsb sy", {0xf3bf, 0x8f4f}, 4, REEF_INSN_SYSTEM, 0, 0},
    {"mrs r0, msp", {0xf3ef, 0x8008}, 4, REEF_INSN_SYSTEM, 0, 0},
    {"nop", {0xbf00}, 2, REEF_INSN_ALU, 0, 0},
};

static void test_classes(void **state)
{
    (void)state;
    int bad = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const insn_case *c = &cases[i];
        uint8_t bytes[4] = {(uint8_t)c->hw[0], (uint8_t)(c->hw[0] >> 8), (uint8_t)c->hw[1], (uint8_t)(c->hw[1] >> 8)};
        reef_thumb_insn t;
        assert_int_equal(reef_thumb_classify(bytes, (size_t)c->size, &t), 0);
        if (t.size != c->size || t.cls != c->cls || t.regs != c->regs || t.pc_load != c->pc_load) {
            printf("%-32s got size %d %s regs %d pc_load %d, want size %d %s regs %d pc_load %d\n", c->text, t.size,
                   reef_insn_class_name(t.cls), t.regs, t.pc_load, c->size, reef_insn_class_name(c->cls), c->regs, c->pc_load);
            bad++;
        }
    }
    assert_int_equal(bad, 0);
}

static void test_it_and_truncation(void **state)
{
    (void)state;
    reef_thumb_insn t;
    const uint8_t ite_eq[2] = {0x0c, 0xbf}; /* ite eq: covers 2 */
    const uint8_t itttt[2] = {0x01, 0xbf};  /* itttt eq: covers 4 */
    assert_int_equal(reef_thumb_classify(ite_eq, 2, &t), 0);
    assert_int_equal(t.it_count, 2);
    assert_int_equal(reef_thumb_classify(itttt, 2, &t), 0);
    assert_int_equal(t.it_count, 4);
    const uint8_t wide[4] = {0x04, 0xf1, 0x40, 0x0c};
    assert_int_equal(reef_thumb_classify(wide, 2, &t), -1); /* 32-bit, only 2 bytes */
    assert_int_equal(reef_thumb_classify(wide, 0, &t), -1);
    assert_string_equal(reef_insn_class_name(REEF_INSN_BRANCH_TAKEN), "branch_cond_taken");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_classes),
        cmocka_unit_test(test_it_and_truncation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
