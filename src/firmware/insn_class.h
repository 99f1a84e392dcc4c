/* Instruction classes counted by the QEMU plugin and weighed by the cycle
 * model (docs/cycle-model.md). Shared by the plugin (which decodes Thumb
 * and Thumb-2 at translation time) and the host side. Each class counts
 * executed instructions, except the *_REGS entries (registers moved by the
 * multiple-transfer instructions), BRANCH_TAKEN (conditional branches
 * that were taken, a subset of BRANCH_COND) and the FLASH_* entries (data
 * accesses, not instructions: reads whose address is in flash, and those
 * of them that miss a modeled 8-line x 32-byte LRU cache, like the
 * STM32L4's ART data cache; see docs/cycle-model.md). */
#ifndef REEF_FIRMWARE_INSN_CLASS_H
#define REEF_FIRMWARE_INSN_CLASS_H

#define REEF_INSN_CLASSES(X)                                                        \
    X(TOTAL, "total")                   /* every executed instruction */            \
    X(ALU, "alu")                       /* data processing, moves, SIMD, IT, NOP */ \
    X(LOAD, "load")                     /* single LDR*, VLDR.32, LDREX */           \
    X(LOAD_PIPELINED, "load_pipelined") /* a single load right after a load */      \
    X(STORE, "store")                   /* single STR*, VSTR.32, STREX */           \
    X(LDM, "ldm")                       /* LDM, POP, LDRD, VLDM, VPOP, VLDR.64 */   \
    X(LDM_REGS, "ldm_regs")             /* registers they load */                   \
    X(STM, "stm")                       /* STM, PUSH, STRD, VSTM, VPUSH, VSTR.64 */ \
    X(STM_REGS, "stm_regs")             /* registers they store */                  \
    X(MUL, "mul")                       /* MUL, MLA, MLS, SMULL, UMULL */           \
    X(MAC_DSP, "mac_dsp")               /* SMLAD, SMLAL, SMLABB, SMMLA, USADA8... */\
    X(DIV, "div")                       /* SDIV, UDIV */                            \
    X(BRANCH, "branch")                 /* unconditional: B, BL, BX, BLX, to PC */  \
    X(BRANCH_COND, "branch_cond")       /* conditional: B<c>, CBZ, CBNZ, in IT */   \
    X(BRANCH_TAKEN, "branch_cond_taken")/* of which taken */                        \
    X(PC_LOAD, "pc_load")               /* loads into PC: POP {pc}, LDR pc, LDM */  \
    X(TABLE_BRANCH, "table_branch")     /* TBB, TBH */                              \
    X(FPU, "fpu")                       /* VADD, VMUL, VCVT, VCMP, VMOV, VMRS... */ \
    X(FPU_MAC, "fpu_mac")               /* VMLA, VMLS, VFMA, VFMS, VNMLA... */      \
    X(FPU_DIV, "fpu_div")               /* VDIV, VSQRT */                           \
    X(SYSTEM, "system")                 /* SVC, BKPT, MRS, MSR, CPS, barriers, WFI */\
    X(FLASH_READS, "flash_data_reads")  /* data reads from flash (weights, literals) */\
    X(FLASH_MISSES, "flash_data_misses")/* of which miss the modeled ART data cache */

#define REEF_INSN_ENUM(name, text) REEF_INSN_##name,
enum reef_insn_class { REEF_INSN_CLASSES(REEF_INSN_ENUM) REEF_INSN_CLASS_COUNT };
#undef REEF_INSN_ENUM

#endif
