/* The memory report of a firmware ELF, like X-CUBE-AI's analyze report:
 * flash = .text + .rodata + .data (its load image); RAM = .data + .bss +
 * stack high-water; each broken down into the model's share and the rest.
 *
 * Weights are the bytes in the .reef_weights output section (the code
 * generator puts const weight arrays in sections .rodata.reef_weights*,
 * targets/common/sections.ld gathers them). Activations are the data
 * symbols whose names end in "_arena" (the generator's <name>_arena). */
#ifndef REEF_TARGET_MEMORY_H
#define REEF_TARGET_MEMORY_H

#include <stdint.h>

#include "util/err.h"

typedef struct reef_memory_report {
    /* flash, bytes */
    uint32_t flash_code;        /* executable sections and the vector table */
    uint32_t flash_weights;     /* .reef_weights */
    uint32_t flash_rodata;      /* other read-only data */
    uint32_t flash_data_init;   /* initial values of .data */
    uint32_t flash_total;
    /* RAM, bytes */
    uint32_t ram_activations;   /* *_arena symbols */
    uint32_t ram_data;          /* .data */
    uint32_t ram_bss_other;     /* .bss apart from the arena */
    uint32_t ram_stack;         /* stack high-water (0 when not measured) */
    uint32_t ram_total;         /* .data + .bss + stack */
} reef_memory_report;

/* Fills r from the ELF's sections and symbols; stack_high_water comes from
 * a run (reef_m4_run), 0 if none. */
int reef_memory_report_elf(const char *elf_path, uint32_t stack_high_water, reef_memory_report *r,
                           reef_error *err);

#endif
