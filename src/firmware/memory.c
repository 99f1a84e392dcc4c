/* The memory report (see memory.h). Sections are classified by their ELF
 * flags, not their names, so any section the compiler invents is counted:
 * allocated + no bits = .bss (RAM), allocated + writable = .data (RAM and
 * its load image in flash), executable = code, the rest = read-only data. */
#include "firmware/memory.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "firmware/elf.h"
#include "firmware/proc.h"

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

static void add_section(const reef_elf_section *sec, reef_memory_report *r, uint32_t *bss)
{
    if (!(sec->flags & REEF_SHF_ALLOC) || sec->size == 0) return;
    if (!strcmp(sec->name, ".reef_flash_scratch")) { /* flash, NOLOAD: neither RAM nor the image */
        r->flash_scratch += sec->size;
        return;
    }
    if (sec->type == REEF_SHT_NOBITS) *bss += sec->size;
    else if (sec->flags & REEF_SHF_WRITE) r->ram_data += sec->size;
    else if ((sec->flags & REEF_SHF_EXECINSTR) || !strcmp(sec->name, ".isr_vector")) r->flash_code += sec->size;
    else if (!strcmp(sec->name, ".reef_weights")) r->flash_weights += sec->size;
    else r->flash_rodata += sec->size;
}

static int add_arena(const reef_elf_symbol *sym, void *ctx)
{
    if (sym->type == REEF_STT_OBJECT && ends_with(sym->name, "_arena")) *(uint32_t *)ctx += sym->size;
    return 0;
}

int reef_memory_report_elf(const char *elf_path, uint32_t stack_high_water, reef_memory_report *r,
                           reef_error *err)
{
    memset(r, 0, sizeof *r);
    reef_elf elf;
    if (reef_elf_open(elf_path, &elf, err)) return -1;
    uint32_t bss = 0, arena = 0;
    for (uint32_t i = 0; i < elf.shnum; i++) {
        reef_elf_section sec;
        if (reef_elf_section_at(&elf, i, &sec) == 0) add_section(&sec, r, &bss);
    }
    int rc = reef_elf_symbols(&elf, add_arena, &arena, err);
    reef_elf_close(&elf);
    if (rc) return -1;
    if (arena > bss + r->ram_data) arena = bss + r->ram_data; /* a corrupt symbol cannot exceed RAM */
    r->flash_data_init = r->ram_data;
    r->flash_total = r->flash_code + r->flash_weights + r->flash_rodata + r->flash_data_init;
    r->ram_activations = arena;
    r->ram_bss_other = bss > arena ? bss - arena : 0;
    r->ram_stack = stack_high_water;
    r->ram_total = r->ram_data + bss + stack_high_water;
    return 0;
}

/* One line of `nm -l -S --defined-only`: "addr size type name[\tfile:line]". */
static void add_origin(const char *line, reef_flash_origin *o, uint32_t *covered)
{
    unsigned long addr, size;
    char type, name[256];
    if (sscanf(line, "%lx %lx %c %255s", &addr, &size, &type, name) != 4) return; /* no size */
    const int code = strchr("tTwW", type) != NULL, rodata = strchr("rR", type) != NULL;
    if (!code && !rodata && !strchr("dD", type)) return; /* RAM only, absolute, debug */
    const char *file = strchr(line, '\t');
    uint32_t n = (uint32_t)size;
    if (!file || strstr(file, "newlib") || strstr(file, "libgcc") || strstr(file, "/gcc/")) o->libc += n;
    else if (strstr(file, "/runtime/src/")) *(code ? &o->runtime_code : &o->runtime_data) += n;
    else if (strstr(file, "/targets/")) o->harness += n;
    else *(code ? &o->model_code : &o->model_constants) += n;
    *covered += n;
}

int reef_memory_flash_origin(const char *elf_path, reef_memory_report *r, reef_error *err)
{
    char out[4096];
    memset(&r->origin, 0, sizeof r->origin);
    if (snprintf(out, sizeof out, "%s.syms", elf_path) >= (int)sizeof out) return reef_fail(err, "path too long: %s", elf_path);
    char *argv[] = {"arm-none-eabi-nm", "-l", "-S", "--defined-only", (char *)elf_path, NULL};
    reef_proc_result res;
    if (reef_proc_run(argv, NULL, out, NULL, 60, &res, err)) return -1;
    if (res.not_found || !res.exited || res.status) {
        remove(out);
        return reef_fail(err, "arm-none-eabi-nm could not list the symbols of %s", elf_path);
    }
    FILE *fp = fopen(out, "r");
    if (!fp) return reef_fail(err, "cannot read %s", out);
    char line[2048];
    uint32_t covered = 0;
    while (fgets(line, sizeof line, fp)) add_origin(line, &r->origin, &covered);
    fclose(fp);
    remove(out);
    if (!covered) return reef_fail(err, "no sized symbols in %s (stripped?)", elf_path);
    r->origin.other = r->flash_total > covered ? r->flash_total - covered : 0;
    r->origin.known = 1;
    return 0;
}
