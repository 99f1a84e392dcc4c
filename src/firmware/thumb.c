/* Thumb / Thumb-2 classification for the cycle model (see thumb.h). Only
 * what the cycle model needs is decoded; everything else is ALU, which on
 * the Cortex-M4 is one cycle. Section numbers: ARMv7-M ARM (DDI 0403E). */
#include "firmware/thumb.h"

#include "firmware/insn_class.h"

static int popcount16(uint32_t v)
{
    int n = 0;
    for (v &= 0xFFFFu; v; v &= v - 1) n++;
    return n;
}

static void set_transfer(reef_thumb_insn *t, int cls, int regs)
{
    t->cls = cls;
    t->regs = regs;
}

static void set_single(reef_thumb_insn *t, int is_load)
{
    t->cls = is_load ? REEF_INSN_LOAD : REEF_INSN_STORE;
    t->single_load = is_load;
    t->single_access = 1;
}

/* A5.2.3: special data instructions and branch and exchange (010001xx). */
static void classify16_special(uint32_t hw1, reef_thumb_insn *t)
{
    uint32_t op = (hw1 >> 8) & 3u;
    uint32_t rd = (hw1 & 7u) | ((hw1 >> 4) & 8u);
    if (op == 3 || (op != 1 && rd == 15)) { /* BX, BLX, ADD/MOV to PC */
        t->cls = REEF_INSN_BRANCH;
        t->writes_pc = 1;
    }
}

/* A5.2.5: miscellaneous 16-bit instructions (1011xxxx). */
static void classify16_misc(uint32_t hw1, reef_thumb_insn *t)
{
    if ((hw1 & 0xF500u) == 0xB100u) { /* CBZ, CBNZ */
        t->cls = REEF_INSN_BRANCH_COND;
        t->writes_pc = 1;
    } else if ((hw1 & 0xFE00u) == 0xB400u) { /* PUSH */
        set_transfer(t, REEF_INSN_STM, popcount16(hw1 & 0xFFu) + (int)((hw1 >> 8) & 1u));
    } else if ((hw1 & 0xFE00u) == 0xBC00u) { /* POP */
        set_transfer(t, REEF_INSN_LDM, popcount16(hw1 & 0xFFu) + (int)((hw1 >> 8) & 1u));
        t->pc_load = t->writes_pc = (int)((hw1 >> 8) & 1u);
    } else if ((hw1 & 0xFF00u) == 0xBE00u || (hw1 & 0xFFE8u) == 0xB660u) { /* BKPT, CPS */
        t->cls = REEF_INSN_SYSTEM;
    } else if ((hw1 & 0xFF00u) == 0xBF00u && (hw1 & 0xFu)) { /* IT */
        uint32_t mask = hw1 & 0xFu;
        t->it_count = (mask & 1u) ? 4 : (mask & 2u) ? 3 : (mask & 4u) ? 2 : 1;
    } else if ((hw1 & 0xFF00u) == 0xBF00u && (hw1 & 0xF0u) >= 0x20u && (hw1 & 0xF0u) <= 0x30u) {
        t->cls = REEF_INSN_SYSTEM; /* WFE, WFI */
    }
}

/* A5.2: 16-bit encodings. */
static void classify16(uint32_t hw1, reef_thumb_insn *t)
{
    uint32_t top6 = hw1 >> 10;
    if ((hw1 & 0xFFC0u) == 0x4340u) t->cls = REEF_INSN_MUL;        /* MULS */
    else if (top6 == 0x11) classify16_special(hw1, t);
    else if ((hw1 >> 11) == 0x09) set_single(t, 1);                 /* LDR literal */
    else if ((hw1 >> 12) == 0x5) set_single(t, ((hw1 >> 9) & 7u) >= 3); /* register offset */
    else if ((hw1 >> 13) == 0x3 || (hw1 >> 12) == 0x8 || (hw1 >> 12) == 0x9)
        set_single(t, (int)((hw1 >> 11) & 1u));                      /* immediate, SP-relative */
    else if ((hw1 >> 12) == 0xB) classify16_misc(hw1, t);
    else if ((hw1 >> 12) == 0xC)                                     /* STM, LDM */
        set_transfer(t, (hw1 & 0x0800u) ? REEF_INSN_LDM : REEF_INSN_STM, popcount16(hw1 & 0xFFu));
    else if ((hw1 >> 12) == 0xD) {                                   /* B<c>, UDF, SVC */
        if (((hw1 >> 8) & 0xFu) >= 0xE) t->cls = REEF_INSN_SYSTEM;
        else {
            t->cls = REEF_INSN_BRANCH_COND;
            t->writes_pc = 1;
        }
    } else if ((hw1 >> 11) == 0x1C) {                                /* B */
        t->cls = REEF_INSN_BRANCH;
        t->writes_pc = 1;
    }
}

/* A5.3.5 and A5.3.6: load/store multiple; dual, exclusive, table branch. */
static void classify32_multiple(uint32_t hw1, uint32_t hw2, reef_thumb_insn *t)
{
    int load = (int)((hw1 >> 4) & 1u);
    if ((hw1 & 0xFE40u) == 0xE800u) { /* LDM, STM (and SRS/RFE, not on M) */
        set_transfer(t, load ? REEF_INSN_LDM : REEF_INSN_STM, popcount16(hw2));
        t->pc_load = t->writes_pc = load && (hw2 & 0x8000u);
        return;
    }
    uint32_t op1 = (hw1 >> 7) & 3u, op2 = (hw1 >> 4) & 3u;
    if (op1 == 1 && op2 == 1 && ((hw2 >> 4) & 0xFu) <= 1) { /* TBB, TBH */
        t->cls = REEF_INSN_TABLE_BRANCH;
        t->writes_pc = 1;
    } else if (op1 <= 1 && op2 <= 1) { /* LDREX, STREX (B, H) */
        set_single(t, load);
    } else { /* LDRD, STRD */
        set_transfer(t, load ? REEF_INSN_LDM : REEF_INSN_STM, 2);
    }
}

/* A6.4 (VFP data processing), A6.5 (extension register load/store), A6.6
 * (core <-> extension register transfers). Coprocessors 10 and 11. */
static void classify32_coprocessor(uint32_t hw1, uint32_t hw2, reef_thumb_insn *t)
{
    uint32_t coproc = (hw2 >> 8) & 0xFu;
    if (coproc != 10 && coproc != 11) {
        t->cls = REEF_INSN_SYSTEM;
        return;
    }
    int load = (int)((hw1 >> 4) & 1u);
    if ((hw1 & 0xEF00u) == 0xEE00u) { /* data processing or register transfer */
        if (hw2 & 0x10u) {
            t->cls = REEF_INSN_FPU; /* VMOV core<->S, VMRS, VMSR */
            return;
        }
        uint32_t opc1 = (((hw1 >> 7) & 1u) << 3) | ((hw1 >> 4) & 3u);
        uint32_t opc2 = hw1 & 0xFu, opc3 = (hw2 >> 6) & 3u;
        if (opc1 == 0 || opc1 == 1 || opc1 == 9 || opc1 == 10) t->cls = REEF_INSN_FPU_MAC;
        else if (opc1 == 8 || (opc1 == 11 && opc2 == 1 && opc3 == 3)) t->cls = REEF_INSN_FPU_DIV;
        else t->cls = REEF_INSN_FPU;
        return;
    }
    if ((hw1 & 0xFFE0u) == 0xEC40u) { /* VMOV two core registers */
        t->cls = REEF_INSN_FPU;
    } else if ((hw1 & 0xFF20u) == 0xED00u) { /* VLDR, VSTR */
        if (coproc == 11) set_transfer(t, load ? REEF_INSN_LDM : REEF_INSN_STM, 2);
        else set_single(t, load);
    } else { /* VLDM, VSTM, VPUSH, VPOP: imm8 counts words */
        set_transfer(t, load ? REEF_INSN_LDM : REEF_INSN_STM, (int)(hw2 & 0xFFu));
    }
}

/* A5.3.4: branches and miscellaneous control (op1 = 10, op = 1). */
static void classify32_branch(uint32_t hw1, uint32_t hw2, reef_thumb_insn *t)
{
    if ((hw2 & 0x5000u) == 0x0000u) {
        if (((hw1 >> 7) & 7u) == 7u) t->cls = REEF_INSN_SYSTEM; /* MSR, MRS, hints, barriers */
        else {
            t->cls = REEF_INSN_BRANCH_COND; /* B<c>.W */
            t->writes_pc = 1;
        }
    } else if ((hw2 & 0x1000u) != 0) { /* B.W, BL */
        t->cls = REEF_INSN_BRANCH;
        t->writes_pc = 1;
    } else {
        t->cls = REEF_INSN_SYSTEM; /* UDF and the like */
    }
}

/* A5.3.12, A5.3.13, A5.3.14: multiplies, long multiplies, divides. */
static void classify32_multiply(uint32_t hw1, reef_thumb_insn *t)
{
    uint32_t op1 = (hw1 >> 4) & 7u;
    if ((hw1 & 0xFF80u) == 0xFB00u) {
        t->cls = op1 == 0 ? REEF_INSN_MUL : REEF_INSN_MAC_DSP; /* MUL/MLA/MLS vs SMLAxy, SMLAD... */
    } else {
        if (op1 == 1 || op1 == 3) t->cls = REEF_INSN_DIV;
        else if (op1 == 0 || op1 == 2) t->cls = REEF_INSN_MUL; /* SMULL, UMULL */
        else t->cls = REEF_INSN_MAC_DSP;                       /* SMLAL*, UMLAL, UMAAL */
    }
}

/* A5.3: 32-bit encodings. */
static void classify32(uint32_t hw1, uint32_t hw2, reef_thumb_insn *t)
{
    uint32_t op1 = (hw1 >> 11) & 3u;
    if (op1 == 1) {
        if ((hw1 & 0xFE00u) == 0xE800u) classify32_multiple(hw1, hw2, t);
        else if ((hw1 & 0xEC00u) == 0xEC00u) classify32_coprocessor(hw1, hw2, t);
        return; /* data processing (shifted register): ALU */
    }
    if (op1 == 2) {
        if (hw2 & 0x8000u) classify32_branch(hw1, hw2, t);
        return; /* data processing (immediate): ALU */
    }
    if ((hw1 & 0xFE00u) == 0xF800u) { /* load/store single (A5.3.7-A5.3.10) */
        int load = (int)((hw1 >> 4) & 1u);
        if (load && ((hw2 >> 12) & 0xFu) == 15u) {
            if (((hw1 >> 5) & 3u) == 2u) { /* LDR pc */
                set_single(t, 1);
                t->pc_load = t->writes_pc = 1;
            } else {
                t->cls = REEF_INSN_ALU; /* PLD, PLI: hints */
            }
        } else {
            set_single(t, load);
        }
    } else if ((hw1 & 0xFF00u) == 0xFB00u) {
        classify32_multiply(hw1, t);
    } else if ((hw1 & 0xEC00u) == 0xEC00u) {
        classify32_coprocessor(hw1, hw2, t);
    }
    /* 0xFA00: data processing (register), parallel add/sub, SXTB16...: ALU */
}

int reef_thumb_classify(const uint8_t *bytes, size_t size, reef_thumb_insn *out)
{
    reef_thumb_insn t = {0};
    t.cls = REEF_INSN_ALU;
    if (size < 2) return -1;
    uint32_t hw1 = (uint32_t)bytes[0] | ((uint32_t)bytes[1] << 8);
    if ((hw1 >> 11) >= 0x1D) {
        if (size < 4) return -1;
        uint32_t hw2 = (uint32_t)bytes[2] | ((uint32_t)bytes[3] << 8);
        t.size = 4;
        classify32(hw1, hw2, &t);
    } else {
        t.size = 2;
        classify16(hw1, &t);
    }
    *out = t;
    return 0;
}

const char *reef_insn_class_name(int cls)
{
#define REEF_INSN_NAME(name, text) text,
    static const char *const names[] = {REEF_INSN_CLASSES(REEF_INSN_NAME)};
#undef REEF_INSN_NAME
    return cls >= 0 && cls < REEF_INSN_CLASS_COUNT ? names[cls] : "?";
}
