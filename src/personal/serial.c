/* Records to a NUCLEO-L4R5ZI over its ST-LINK virtual COM port (LPUART1,
 * 115200 8N1): the host side of targets/stm32l4r5/platform.c's
 * REEF_INPUTS_UART protocol. The board prints "reef-harness: ready", reads
 * a little-endian uint32 count, then before each record prints
 * "reef-harness: next" and reads it; after each it prints
 * "reef-harness: inference I cycles C" (DWT: measured) and
 * "reef-harness: output I <hex>". Not yet run against a board. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "personal/serial.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int open_port(const char *port, reef_error *err)
{
    int fd = open(port, O_RDWR | O_NOCTTY);
    if (fd < 0) return reef_fail(err, "%s: cannot open: %s", port, strerror(errno)), -1;
    struct termios tio;
    if (tcgetattr(fd, &tio)) {
        close(fd);
        return reef_fail(err, "%s: not a serial port: %s", port, strerror(errno)), -1;
    }
    cfmakeraw(&tio);
    cfsetispeed(&tio, B115200);
    cfsetospeed(&tio, B115200);
    tio.c_cc[VMIN] = 0;
    tio.c_cc[VTIME] = 1; /* reads return after 0.1 s without data */
    if (tcsetattr(fd, TCSANOW, &tio)) {
        close(fd);
        return reef_fail(err, "%s: cannot set 115200 8N1: %s", port, strerror(errno)), -1;
    }
    tcflush(fd, TCIOFLUSH);
    return fd;
}

/* One line (without "\r\n") into line; -1 on timeout or error. */
static int read_line(int fd, char *line, size_t size, double deadline, const char *port, reef_error *err)
{
    size_t n = 0;
    while (now_s() < deadline) {
        char c;
        ssize_t got = read(fd, &c, 1);
        if (got < 0 && errno != EINTR) return reef_fail(err, "%s: read failed: %s", port, strerror(errno));
        if (got <= 0) continue;
        if (c == '\r') continue;
        if (c == '\n') {
            line[n] = '\0';
            return 0;
        }
        if (n + 1 < size) line[n++] = c;
    }
    return reef_fail(err, "%s: the board said nothing for too long (is the firmware flashed and the board reset?)", port);
}

static int write_all(int fd, const void *data, size_t size, const char *port, reef_error *err)
{
    const uint8_t *p = data;
    while (size) {
        ssize_t put = write(fd, p, size);
        if (put < 0 && errno == EINTR) continue;
        if (put <= 0) return reef_fail(err, "%s: write failed: %s", port, strerror(errno));
        p += put;
        size -= (size_t)put;
    }
    return 0;
}

static int hex_value(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Waits for `want` (a line prefix); records board output and cycles met on the way. */
static int expect(int fd, const char *want, int8_t *outs, size_t os, uint32_t *cycles, int count, double timeout_s,
                  const char *port, reef_error *err)
{
    char line[8192];
    double deadline = now_s() + timeout_s;
    for (;;) {
        if (read_line(fd, line, sizeof line, deadline, port, err)) return -1;
        unsigned idx;
        unsigned long cyc;
        int at = 0;
        if (!strncmp(line, want, strlen(want))) return 0;
        if (!strncmp(line, "reef-harness: error", 19) || !strncmp(line, "reef-harness: FAULT", 19) ||
            !strncmp(line, "reef-harness: exit", 18))
            return reef_fail(err, "%s: the board says '%s'", port, line);
        if (sscanf(line, "reef-harness: inference %u cycles %lu", &idx, &cyc) == 2 && (int)idx < count && cycles)
            cycles[idx] = (uint32_t)cyc;
        if (sscanf(line, "reef-harness: output %u %n", &idx, &at) == 1 && at > 0 && (int)idx < count) {
            const char *h = line + at;
            for (size_t k = 0; k < os; k++) {
                int hi = hex_value(h[2 * k]), lo = hi < 0 ? -1 : hex_value(h[2 * k + 1]);
                if (lo < 0) return reef_fail(err, "%s: output %u is short or not hex", port, idx);
                outs[(size_t)idx * os + k] = (int8_t)(hi << 4 | lo);
            }
        }
    }
}

int reef_serial_run(const char *port, const uint8_t *records, int count, size_t record_size, int8_t *outs,
                    size_t out_size, uint32_t *cycles, double timeout_s, reef_error *err)
{
    int fd = open_port(port, err);
    if (fd < 0) return -1;
    uint8_t n[4] = {(uint8_t)count, (uint8_t)(count >> 8), (uint8_t)(count >> 16), (uint8_t)(count >> 24)};
    int rc = expect(fd, "reef-harness: ready", outs, out_size, cycles, count, timeout_s, port, err);
    if (!rc) rc = write_all(fd, n, 4, port, err);
    for (int k = 0; k < count && !rc; k++) {
        rc = expect(fd, "reef-harness: next", outs, out_size, cycles, count, timeout_s, port, err);
        if (!rc) rc = write_all(fd, records + (size_t)k * record_size, record_size, port, err);
    }
    if (!rc) rc = expect(fd, "reef-harness: ok", outs, out_size, cycles, count, timeout_s, port, err);
    close(fd);
    return rc;
}
