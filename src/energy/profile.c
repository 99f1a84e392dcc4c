/* Device profiles (see profile.h and docs/formats/device-profile.md). */
#include "energy/profile.h"

#include <errno.h>
#include <stddef.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/io.h"

#ifndef REEF_SOURCE_DIR
#define REEF_SOURCE_DIR "."
#endif

#define PROFILE_MAGIC "reef-profile 1"

enum field_kind { TEXT, NUMBER, KBYTES, INTEGER };

typedef struct field {
    const char *key;
    enum field_kind kind;
    size_t offset;
    double min, max;
    int optional;
} field;

#define F(key, kind, member, min, max) {key, kind, offsetof(reef_device_profile, member), min, max, 0}
#define OPT(key, kind, member, min, max) {key, kind, offsetof(reef_device_profile, member), min, max, 1}
#define NVM(key, kind, member, min, max) {key, kind, offsetof(reef_device_profile, member), min, max, 2}
static const field fields[] = {
    F("name", TEXT, name, 0, 0),
    F("datasheet", TEXT, datasheet, 0, 0),
    F("clock_mhz", NUMBER, clock_mhz, 0.001, 10000),
    F("supply_v", NUMBER, supply_v, 0.5, 6),
    F("run_ua_per_mhz", NUMBER, run_ua_per_mhz, 0.01, 100000),
    F("sleep_ua", NUMBER, sleep_ua, 0, 1e7),
    F("stop_ua", NUMBER, stop_ua, 0, 1e7),
    F("flash_kb", KBYTES, flash_bytes, 1, 4194304),
    F("ram_kb", KBYTES, ram_bytes, 1, 4194304),
    F("flash_wait_states", INTEGER, flash_wait_states, 0, 15),
    OPT("run_ua_per_mhz_board", NUMBER, run_ua_per_mhz_board, 0.01, 100000),
    OPT("board_source", TEXT, board_source, 0, 0),
    OPT("board_points", INTEGER, board_points, 1, 100000),
    OPT("board_energy_error_pct", NUMBER, board_energy_error_pct, 0, 1000),
    NVM("boot_us", NUMBER, boot_us, 0, 1e7),
    NVM("fram_spi_mhz", NUMBER, fram_spi_mhz, 0.001, 1000),
    NVM("fram_active_ua", NUMBER, fram_active_ua, 0, 1e6),
    NVM("fram_standby_ua", NUMBER, fram_standby_ua, 0, 1e6),
    NVM("fram_cmd_bytes", INTEGER, fram_cmd_bytes, 1, 16),
    NVM("fram_kb", KBYTES, fram_bytes, 1, 4194304),
    NVM("fram_dma", INTEGER, fram_dma, 0, 1),
    NVM("flash_page_kb", NUMBER, flash_page_kb, 0.125, 1024),
    NVM("flash_program_us", NUMBER, flash_program_us, 0.001, 1e6),
    NVM("flash_program_bytes", INTEGER, flash_program_bytes, 1, 4096),
    NVM("flash_erase_ms", NUMBER, flash_erase_ms, 0.001, 1e5),
    NVM("flash_program_ua", NUMBER, flash_program_ua, 0, 1e6),
    NVM("flash_endurance_kcycles", NUMBER, flash_endurance_kcycles, 0.001, 1e9),
};
#undef F
#undef OPT
#undef NVM
enum { FIELD_COUNT = (int)(sizeof fields / sizeof fields[0]) };

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t') s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r')) s[--n] = '\0';
    return s;
}

static int set_field(const field *f, const char *value, reef_device_profile *p, const char *path, int lineno,
                     reef_error *err)
{
    char *base = (char *)p + f->offset;
    if (f->kind == TEXT) {
        size_t cap = f->offset == offsetof(reef_device_profile, name) ? sizeof p->name
                   : f->offset == offsetof(reef_device_profile, board_source) ? sizeof p->board_source : sizeof p->datasheet;
        if (!*value || strlen(value) >= cap) return reef_fail(err, "%s:%d: %s must be 1 to %zu characters", path, lineno, f->key, cap - 1);
        memcpy(base, value, strlen(value) + 1);
        return 0;
    }
    char *end;
    errno = 0;
    double v = strtod(value, &end);
    if (end == value || *end || errno || !isfinite(v) || v < f->min || v > f->max)
        return reef_fail(err, "%s:%d: %s wants a number from %g to %g, not '%s'", path, lineno, f->key, f->min, f->max, value);
    if (f->kind == NUMBER) *(double *)(void *)base = v;
    else if (f->kind == KBYTES) *(uint32_t *)(void *)base = (uint32_t)(v * 1024.0);
    else if (v != floor(v)) return reef_fail(err, "%s:%d: %s wants a whole number, not '%s'", path, lineno, f->key, value);
    else *(int *)(void *)base = (int)v;
    return 0;
}

static int parse_line(char *line, int lineno, const char *path, reef_device_profile *p, int *seen, reef_error *err)
{
    char *key = trim(line);
    if (!*key || *key == '#') return 0;
    size_t klen = strcspn(key, " \t");
    char *value = key[klen] ? trim(key + klen + 1) : key + klen;
    key[klen] = '\0';
    for (int i = 0; i < FIELD_COUNT; i++) {
        if (strcmp(key, fields[i].key)) continue;
        if (seen[i]) return reef_fail(err, "%s:%d: %s given twice", path, lineno, key);
        seen[i] = 1;
        return set_field(&fields[i], value, p, path, lineno, err);
    }
    return reef_fail(err, "%s:%d: unknown key '%s'", path, lineno, key);
}

int reef_profile_parse(const char *text, const char *path, reef_device_profile *p, reef_error *err)
{
    memset(p, 0, sizeof *p);
    int seen[FIELD_COUNT] = {0}, lineno = 0, magic = 0;
    const char *at = text;
    while (*at) {
        size_t n = strcspn(at, "\n");
        char line[512];
        lineno++;
        if (n >= sizeof line) return reef_fail(err, "%s:%d: line too long", path, lineno);
        memcpy(line, at, n);
        line[n] = '\0';
        at += n + (at[n] == '\n');
        char *t = trim(line);
        if (!magic && *t && *t != '#') {
            if (strcmp(t, PROFILE_MAGIC)) return reef_fail(err, "%s:%d: expected '" PROFILE_MAGIC "' first, not '%s'", path, lineno, t);
            magic = 1;
            continue;
        }
        if (parse_line(line, lineno, path, p, seen, err)) return -1;
    }
    if (!magic) return reef_fail(err, "%s: empty profile (no '" PROFILE_MAGIC "' line)", path);
    for (int i = 0; i < FIELD_COUNT; i++)
        if (!seen[i] && !fields[i].optional) return reef_fail(err, "%s: missing %s", path, fields[i].key);
    /* the board calibration comes whole or not at all */
    int optional = 0, optional_seen = 0;
    for (int i = 0; i < FIELD_COUNT; i++) optional += fields[i].optional == 1, optional_seen += fields[i].optional == 1 && seen[i];
    if (optional_seen && optional_seen < optional)
        return reef_fail(err, "%s: run_ua_per_mhz_board, board_source, board_points and board_energy_error_pct go together", path);
    return 0;
}

int reef_profile_load(const char *name_or_path, reef_device_profile *p, reef_error *err)
{
    char path[4096];
    size_t len = strlen(name_or_path);
    if (strchr(name_or_path, '/') || (len > 8 && !strcmp(name_or_path + len - 8, ".profile"))) {
        snprintf(path, sizeof path, "%s", name_or_path);
    } else {
        const char *src = getenv("REEF_SOURCE");
        snprintf(path, sizeof path, "%s/profiles/%s.profile", src && *src ? src : REEF_SOURCE_DIR, name_or_path);
    }
    uint8_t *data;
    size_t size;
    if (reef_read_file(path, &data, &size, err))
        return reef_fail_wrap(err, "device profile '%s'", name_or_path);
    char *text = realloc(data, size + 1);
    if (!text) {
        free(data);
        return reef_fail(err, "out of memory");
    }
    text[size] = '\0';
    int rc = strlen(text) != size ? reef_fail(err, "%s: not a text file", path) : reef_profile_parse(text, path, p, err);
    free(text);
    return rc;
}

double reef_profile_run_power_mw(const reef_device_profile *p)
{
    double ua_per_mhz = p->run_ua_per_mhz_board > 0 ? p->run_ua_per_mhz_board : p->run_ua_per_mhz;
    return p->supply_v * ua_per_mhz * p->clock_mhz / 1000.0;
}

void reef_profile_energy_error_note(const reef_device_profile *p, char *buf, size_t size)
{
    if (p->board_points > 0)
        snprintf(buf, size, "+-%.1f%% against %d board measurements", p->board_energy_error_pct, p->board_points);
    else
        snprintf(buf, size, "uncalibrated (datasheet current, no board measurements)");
}

void reef_energy_estimate_cycles(const reef_device_profile *p, double cycles, reef_energy_estimate *e)
{
    e->time_s = cycles / (p->clock_mhz * 1e6);
    e->power_datasheet_mw = p->supply_v * p->run_ua_per_mhz * p->clock_mhz / 1000.0;
    e->power_from_board = p->run_ua_per_mhz_board > 0;
    e->power_mw = reef_profile_run_power_mw(p);
    e->energy_uj = e->time_s * e->power_mw * 1000.0;
}

/* Cycles a DMA transfer of the FRAM driver spends at run power: channel
 * set-up, enabling, and the wake-up and clean-up after it (modeled). */
enum { DMA_SETUP_CYCLES = 200 };

int reef_nvm_cost(const reef_device_profile *p, reef_nvm_kind kind, int write, double bytes, double transfers,
                  double *time_s, double *energy_uj)
{
    reef_energy_estimate run;
    reef_energy_estimate_cycles(p, 1, &run); /* the run power the energy model uses (board-fitted if given) */
    double run_mw = run.power_mw;
    if (kind == REEF_NVM_FRAM) {
        if (p->fram_spi_mhz <= 0 || p->fram_cmd_bytes <= 0) return -1;
        double command_frames = transfers * (p->fram_cmd_bytes + (write ? 1 : 0)); /* + WREN */
        double t_command = command_frames * 8.0 / (p->fram_spi_mhz * 1e6), t_data = bytes * 8.0 / (p->fram_spi_mhz * 1e6);
        double fram_mw = p->supply_v * p->fram_active_ua / 1000.0, core_data_mw = run_mw, t_setup = 0;
        if (p->fram_dma) {
            /* The core sleeps while DMA moves the data bytes; Sleep current
             * is scaled like the run current (board-fitted / datasheet), as
             * a board draws more than the datasheet's figure. The DMA set-up
             * and wake-up: DMA_SETUP_CYCLES at run power per transfer. */
            double board = p->run_ua_per_mhz_board > 0 ? p->run_ua_per_mhz_board / p->run_ua_per_mhz : 1.0;
            core_data_mw = p->supply_v * p->sleep_ua * board / 1000.0;
            t_setup = transfers * DMA_SETUP_CYCLES / (p->clock_mhz * 1e6);
        }
        *time_s = t_command + t_data + t_setup;
        *energy_uj = ((t_command + t_setup) * (run_mw + fram_mw) + t_data * (core_data_mw + fram_mw)) * 1000.0;
        return 0;
    }
    if (p->flash_program_us <= 0 || p->flash_program_bytes <= 0 || p->flash_page_kb <= 0) return -1;
    if (!write) { /* memory-mapped reads: a wait-stated load per word, about a cycle per byte */
        *time_s = bytes / (p->clock_mhz * 1e6);
        *energy_uj = *time_s * run_mw * 1000.0;
        return 0;
    }
    double units = ceil(bytes / p->flash_program_bytes);
    double pages = ceil(bytes / (p->flash_page_kb * 1024.0));
    double t = units * p->flash_program_us * 1e-6 + pages * p->flash_erase_ms * 1e-3;
    *time_s = t;
    *energy_uj = t * (run_mw + p->supply_v * p->flash_program_ua / 1000.0) * 1000.0;
    return 0;
}
