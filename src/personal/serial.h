/* Records to a NUCLEO-L4R5ZI over LPUART1 (src/personal/serial.c). */
#ifndef REEF_PERSONAL_SERIAL_H
#define REEF_PERSONAL_SERIAL_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

/* Sends count records of record_size bytes to the board on port (it must be
 * running firmware built with REEF_FW_INPUTS_UART), collects its answers
 * into outs (count * out_size) and the DWT cycles of each record into
 * cycles (count, may be NULL). timeout_s: the longest silence allowed. */
int reef_serial_run(const char *port, const uint8_t *records, int count, size_t record_size, int8_t *outs,
                    size_t out_size, uint32_t *cycles, double timeout_s, reef_error *err);

#endif
