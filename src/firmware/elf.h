/* A minimal ELF32 (little-endian, ARM) reader: section headers and the
 * symbol table, enough for marker addresses and the memory report. */
#ifndef REEF_FIRMWARE_ELF_H
#define REEF_FIRMWARE_ELF_H

#include <stdint.h>

#include "util/err.h"
#include "util/io.h"

typedef struct reef_elf {
    reef_mapping map;
    const char *path;
    uint32_t shoff, shnum, shentsize, shstrndx;
} reef_elf;

typedef struct reef_elf_section {
    const char *name;
    uint32_t type, flags, addr, size;
} reef_elf_section;

typedef struct reef_elf_symbol {
    const char *name;
    uint32_t value, size;
    int type;       /* STT_* */
    int section;    /* section index */
} reef_elf_symbol;

int reef_elf_open(const char *path, reef_elf *elf, reef_error *err);
void reef_elf_close(reef_elf *elf);
int reef_elf_section_at(const reef_elf *elf, uint32_t index, reef_elf_section *sec);
/* Calls fn for each symbol; stops early if fn returns nonzero. */
int reef_elf_symbols(const reef_elf *elf, int (*fn)(const reef_elf_symbol *sym, void *ctx), void *ctx,
                     reef_error *err);
/* Value of a named symbol; -1 with err if absent. */
int reef_elf_symbol_value(const reef_elf *elf, const char *name, uint32_t *value, reef_error *err);

enum { REEF_SHT_SYMTAB = 2, REEF_SHT_STRTAB = 3, REEF_SHT_NOBITS = 8 };
enum { REEF_SHF_WRITE = 1, REEF_SHF_ALLOC = 2, REEF_SHF_EXECINSTR = 4 };
enum { REEF_STT_OBJECT = 1, REEF_STT_FUNC = 2 };

#endif
