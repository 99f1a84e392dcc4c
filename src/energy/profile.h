/* Device profiles and the energy model. A profile is a small text file
 * (docs/formats/device-profile.md) naming an MCU's clock, supply, currents
 * and memories, with the datasheet they come from; profiles/<name>.profile
 * in the source tree. Energy per inference = modeled time x run power,
 * always labelled "modeled". */
#ifndef REEF_ENERGY_PROFILE_H
#define REEF_ENERGY_PROFILE_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

typedef struct reef_device_profile {
    char name[64];
    char datasheet[256];      /* where the figures come from */
    double clock_mhz;         /* core clock the figures are for */
    double supply_v;          /* VDD */
    double run_ua_per_mhz;    /* run-mode supply current per MHz at clock_mhz: the datasheet's */
    /* Optional: run current implied by board measurements (measured energy /
     * measured time / supply, fitted over board_points runs), where they came
     * from, and the energy model's worst leave-one-out error against them.
     * 0 / "" when the profile has none: the datasheet current is used. */
    double run_ua_per_mhz_board;
    char board_source[256];
    int board_points;
    double board_energy_error_pct;
    double sleep_ua;          /* sleep-mode current at clock_mhz */
    double stop_ua;           /* stop-mode current (Stop 2) */
    uint32_t flash_bytes;
    uint32_t ram_bytes;
    int flash_wait_states;    /* at clock_mhz */
    /* Optional (0 when the file does not give them): the non-volatile
     * memories and the boot, for intermittent execution (issue 13,
     * docs/intermittent.md). */
    double boot_us;           /* power-on to main(), clocks set (modeled) */
    double fram_spi_mhz;      /* SPI clock to an external FRAM */
    double fram_active_ua;    /* FRAM current while clocked at fram_spi_mhz */
    double fram_standby_ua;
    int fram_cmd_bytes;       /* opcode + address bytes of a READ or WRITE */
    uint32_t fram_bytes;
    int fram_dma;             /* 1: data bytes move by DMA with the core in Sleep (commands polled) */
    double flash_page_kb;     /* internal flash erase page */
    double flash_program_us;  /* one program unit (flash_program_bytes) */
    int flash_program_bytes;
    double flash_erase_ms;    /* one page */
    double flash_program_ua;  /* extra supply current while programming or erasing */
    double flash_endurance_kcycles;
} reef_device_profile;

/* Modeled cost of moving bytes to or from NVM: time (s) and energy (uJ)
 * at run power while the core waits (the MCU polls the SPI or stalls on
 * flash), plus the memory's own current; with fram_dma, FRAM data bytes
 * at Sleep power (the driver sleeps while DMA moves them). transfers: separate commands (each
 * pays the command bytes and, for writes, a WREN frame). Returns -1 when
 * the profile lacks that memory's figures. */
typedef enum reef_nvm_kind { REEF_NVM_FRAM = 0, REEF_NVM_FLASH = 1 } reef_nvm_kind;
int reef_nvm_cost(const reef_device_profile *p, reef_nvm_kind kind, int write, double bytes, double transfers,
                  double *time_s, double *energy_uj);

/* Loads a profile by name ("stm32l4r5": $REEF_SOURCE/profiles/NAME.profile)
 * or by path (anything with a '/' or ending in .profile). A malformed file
 * is refused naming the line. */
int reef_profile_load(const char *name_or_path, reef_device_profile *p, reef_error *err);

/* Parses profile text; path is only used in messages. */
int reef_profile_parse(const char *text, const char *path, reef_device_profile *p, reef_error *err);

typedef struct reef_energy_estimate {
    double time_s;            /* modeled: cycles / clock */
    double power_mw;          /* run power: supply x run current (board-fitted if the profile has it) */
    double power_datasheet_mw;/* supply x the datasheet's run current, for comparison */
    int power_from_board;     /* 1: power_mw uses run_ua_per_mhz_board */
    double energy_uj;         /* modeled: time x power */
} reef_energy_estimate;

/* Run-mode power, mW: supply x the board-fitted run current if the profile
 * has one, else the datasheet's. */
double reef_profile_run_power_mw(const reef_device_profile *p);

/* The modeled energy's expected error, for a figure's label: "+-8.5% against
 * 8 board measurements" or "uncalibrated (datasheet current)". */
void reef_profile_energy_error_note(const reef_device_profile *p, char *buf, size_t size);

/* Modeled time and energy of `cycles` core cycles in run mode. */
void reef_energy_estimate_cycles(const reef_device_profile *p, double cycles, reef_energy_estimate *e);

#endif
