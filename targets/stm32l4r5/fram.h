/* An SPI FRAM on the NUCLEO-L4R5ZI's Arduino header as reef's NVM backend.
 *
 * Part: a Fujitsu MB85RS-family SPI FRAM (MB85RS2MTA: 256 KB, 3 address
 * bytes, 1.8-3.6 V, 40 MHz; opcodes WREN 0x06, READ 0x03, WRITE 0x02).
 * Wiring (UM2179, Arduino header CN7): SCK D13 = PA5, MISO D12 = PA6,
 * MOSI D11 = PA7 (SPI1, AF5), /CS D10 = PD14 (a GPIO), VDD from the 1.9 V
 * rail. SPI1 runs at PCLK2 / 4 = 30 MHz (120 MHz core; the FRAM's 40 MHz
 * limit and the SPI's power-of-two prescaler), mode 0, 8-bit frames.
 *
 * FRAM writes each byte as its 8th bit is clocked in and needs no busy
 * wait, so a write is durable when /CS rises, and a power failure during
 * a write leaves a prefix of it written: the failure model the record
 * protocol (reef/nvm.h) is proven against, with write_unit 1.
 *
 * Compiled in CI (tests/target), not run on a board yet. */
#ifndef REEF_TARGETS_STM32L4R5_FRAM_H
#define REEF_TARGETS_STM32L4R5_FRAM_H

#include "reef/nvm.h"

#define REEF_FRAM_SIZE (256u * 1024u)

/* Clocks SPI1 and the pins, sets up the backend (write_unit 1, no erase). */
void reef_fram_init(reef_nvm *nvm);

#endif
