/* ELF32 reading (see elf.h). Every offset is checked against the file
 * size, so a truncated or foreign file is refused, never over-read. */
#include "firmware/elf.h"

#include <string.h>

static uint32_t rd32(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }
static uint32_t rd16(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8; }

int reef_elf_open(const char *path, reef_elf *elf, reef_error *err)
{
    memset(elf, 0, sizeof *elf);
    if (reef_map_file(path, &elf->map, err)) return -1;
    elf->path = path;
    const uint8_t *h = elf->map.data;
    if (elf->map.size < 52 || memcmp(h, "\177ELF", 4) != 0 || h[4] != 1 || h[5] != 1) {
        reef_elf_close(elf);
        return reef_fail(err, "%s: not a 32-bit little-endian ELF file", path);
    }
    elf->shoff = rd32(h + 32);
    elf->shentsize = rd16(h + 46);
    elf->shnum = rd16(h + 48);
    elf->shstrndx = rd16(h + 50);
    if (elf->shentsize < 40 || (uint64_t)elf->shoff + (uint64_t)elf->shnum * elf->shentsize > elf->map.size ||
        elf->shstrndx >= elf->shnum) {
        reef_elf_close(elf);
        return reef_fail(err, "%s: section header table is truncated or corrupt", path);
    }
    return 0;
}

void reef_elf_close(reef_elf *elf)
{
    if (elf->map.data) reef_unmap_file(&elf->map);
    memset(elf, 0, sizeof *elf);
}

static const uint8_t *section_header(const reef_elf *elf, uint32_t index)
{
    return elf->map.data + elf->shoff + (size_t)index * elf->shentsize;
}

/* A NUL-terminated string at offset off of string table section strndx. */
static const char *string_at(const reef_elf *elf, uint32_t strndx, uint32_t off)
{
    if (strndx >= elf->shnum) return "";
    const uint8_t *sh = section_header(elf, strndx);
    uint32_t base = rd32(sh + 16), size = rd32(sh + 20);
    if ((uint64_t)base + size > elf->map.size || off >= size) return "";
    const char *s = (const char *)elf->map.data + base + off;
    return memchr(s, '\0', size - off) ? s : "";
}

int reef_elf_section_at(const reef_elf *elf, uint32_t index, reef_elf_section *sec)
{
    if (index >= elf->shnum) return -1;
    const uint8_t *sh = section_header(elf, index);
    sec->name = string_at(elf, elf->shstrndx, rd32(sh));
    sec->type = rd32(sh + 4);
    sec->flags = rd32(sh + 8);
    sec->addr = rd32(sh + 12);
    sec->size = rd32(sh + 20);
    return 0;
}

int reef_elf_symbols(const reef_elf *elf, int (*fn)(const reef_elf_symbol *sym, void *ctx), void *ctx,
                     reef_error *err)
{
    for (uint32_t i = 0; i < elf->shnum; i++) {
        const uint8_t *sh = section_header(elf, i);
        if (rd32(sh + 4) != REEF_SHT_SYMTAB) continue;
        uint32_t off = rd32(sh + 16), size = rd32(sh + 20), link = rd32(sh + 24), entsize = rd32(sh + 36);
        if (entsize < 16 || (uint64_t)off + size > elf->map.size)
            return reef_fail(err, "%s: symbol table is truncated or corrupt", elf->path);
        for (uint32_t at = 0; at + entsize <= size; at += entsize) {
            const uint8_t *s = elf->map.data + off + at;
            reef_elf_symbol sym = {string_at(elf, link, rd32(s)), rd32(s + 4), rd32(s + 8), s[12] & 0xF, (int)rd16(s + 14)};
            if (fn(&sym, ctx)) return 0;
        }
        return 0;
    }
    return reef_fail(err, "%s: no symbol table (was it stripped?)", elf->path);
}

typedef struct find_ctx {
    const char *name;
    int found;
    uint32_t value;
} find_ctx;

static int find_symbol(const reef_elf_symbol *sym, void *ctx)
{
    find_ctx *f = ctx;
    if (strcmp(sym->name, f->name) != 0) return 0;
    f->found = 1;
    f->value = sym->value;
    return 1;
}

int reef_elf_symbol_value(const reef_elf *elf, const char *name, uint32_t *value, reef_error *err)
{
    find_ctx f = {name, 0, 0};
    if (reef_elf_symbols(elf, find_symbol, &f, err)) return -1;
    if (!f.found) return reef_fail(err, "%s: no symbol %s", elf->path, name);
    *value = f.value;
    return 0;
}
