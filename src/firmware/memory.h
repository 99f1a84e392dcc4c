/* The memory report of a firmware ELF, like X-CUBE-AI's analyze report:
 * flash = .text + .rodata + .data (its load image); RAM = .data + .bss +
 * stack high-water; each broken down into the model's share and the rest.
 *
 * Weights are the bytes in the .reef_weights output section (the code
 * generator puts const weight arrays in sections .rodata.reef_weights*,
 * targets/common/sections.ld gathers them). Activations are the data
 * symbols whose names end in "_arena" (the generator's <name>_arena). */
#ifndef REEF_FIRMWARE_MEMORY_H
#define REEF_FIRMWARE_MEMORY_H

#include <stdint.h>

#include "util/err.h"

/* Flash by where it comes from, from the symbols and the source file each
 * one's debug information names (the toolchain's nm -l): runtime/src, the
 * generated model (its weights, per-channel constants, step arguments and
 * code), targets/ (harness, start-up, board) and symbols without a source
 * file or one in newlib or libgcc; "other" is what no sized symbol covers (vector
 * table padding, alignment). */
typedef struct reef_flash_origin {
    int known;                  /* 1 when filled (nm ran) */
    uint32_t runtime_code;      /* runtime/src functions */
    uint32_t runtime_data;      /* runtime/src constant tables */
    uint32_t model_constants;   /* generated C: weights, quantization, step table */
    uint32_t model_code;        /* generated C: <name>_invoke and friends */
    uint32_t harness;           /* targets/: harness, start-up, board */
    uint32_t libc;              /* C library and compiler runtime */
    uint32_t other;
} reef_flash_origin;

typedef struct reef_memory_report {
    /* flash, bytes */
    uint32_t flash_code;        /* executable sections and the vector table */
    uint32_t flash_weights;     /* .reef_weights */
    uint32_t flash_rodata;      /* other read-only data */
    uint32_t flash_data_init;   /* initial values of .data */
    uint32_t flash_total;
    uint32_t flash_scratch;     /* .reef_flash_scratch: written at run time, not in flash_total */
    /* RAM, bytes */
    uint32_t ram_activations;   /* *_arena symbols */
    uint32_t ram_data;          /* .data */
    uint32_t ram_bss_other;     /* .bss apart from the arena */
    uint32_t ram_stack;         /* stack high-water (0 when not measured) */
    uint32_t ram_total;         /* .data + .bss + stack */
    reef_flash_origin origin;   /* flash_total by origin (reef_memory_flash_origin) */
} reef_memory_report;

/* Fills r from the ELF's sections and symbols; stack_high_water comes from
 * a run (reef_m4_run), 0 if none. */
int reef_memory_report_elf(const char *elf_path, uint32_t stack_high_water, reef_memory_report *r,
                           reef_error *err);

/* Fills r->origin by running arm-none-eabi-nm on the ELF (its output goes
 * to elf_path + ".syms", removed after). Leaves origin.known 0 and returns
 * -1 with err when nm cannot run or prints nothing usable. */
int reef_memory_flash_origin(const char *elf_path, reef_memory_report *r, reef_error *err);

#endif
