/* A Thumb / Thumb-2 (ARMv7E-M) instruction classifier for the cycle model:
 * which reef_insn_class an encoding belongs to, how many registers a
 * multiple transfer moves, and whether it is a conditional branch. Used at
 * translation time by the QEMU plugin and by the tests; encodings from the
 * ARMv7-M Architecture Reference Manual (ARM DDI 0403), chapter A5. */
#ifndef REEF_FIRMWARE_THUMB_H
#define REEF_FIRMWARE_THUMB_H

#include <stddef.h>
#include <stdint.h>

typedef struct reef_thumb_insn {
    int size;            /* 2 or 4 bytes */
    int cls;             /* enum reef_insn_class */
    int regs;            /* registers moved, for the LDM and STM classes */
    int single_load;     /* a single LDR-type load (pipelines a next load/store) */
    int single_access;   /* a single load or store (may pipeline behind a load) */
    int pc_load;         /* also loads PC (a branch on top of the transfer) */
    int it_count;        /* IT: how many following instructions it covers */
    int writes_pc;       /* any transfer of control (branch, load to PC) */
} reef_thumb_insn;

/* Classifies the instruction at bytes (little-endian halfwords; size is
 * how many bytes are readable). Returns 0, or -1 if size is too short. A
 * conditional branch inside an IT block is reported by the caller, which
 * tracks IT state across instructions. */
int reef_thumb_classify(const uint8_t *bytes, size_t size, reef_thumb_insn *out);

/* Name of a class ("load", ...), as in insn_class.h. */
const char *reef_insn_class_name(int cls);

#endif
