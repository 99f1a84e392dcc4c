/* The qemu-m4 target's platform: ARM semihosting (bkpt 0xab) for output,
 * host files and the exit status. QEMU opens host files relative to its
 * working directory; src/firmware runs it in a folder holding reef-in.bin
 * (N raw int8 inputs, concatenated) and collects reef-out.bin. */
#include <stdint.h>

#include "harness.h"

enum {
    SYS_OPEN = 0x01,
    SYS_CLOSE = 0x02,
    SYS_WRITE0 = 0x04,
    SYS_WRITE = 0x05,
    SYS_READ = 0x06,
    SYS_FLEN = 0x0C,
    SYS_EXIT_EXTENDED = 0x20
};
enum { MODE_RB = 1, MODE_WB = 5 };
#define ADP_STOPPED_APPLICATION_EXIT 0x20026u

static const char input_name[] = "reef-in.bin";
static const char output_name[] = "reef-out.bin";
static int input_handle = -1;
static int output_handle = -1;

static int semihost(uint32_t op, const void *arg)
{
    register uint32_t r0 __asm__("r0") = op;
    register const void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
    return (int)r0;
}

static int open_file(const char *name, uint32_t length, uint32_t mode)
{
    uint32_t args[3] = {(uint32_t)(uintptr_t)name, mode, length};
    return semihost(SYS_OPEN, args);
}

void reef_platform_init(void) {}

void reef_platform_print(const char *text) { semihost(SYS_WRITE0, text); }

int reef_platform_inputs_open(uint32_t input_size, uint32_t *count)
{
    input_handle = open_file(input_name, sizeof input_name - 1, MODE_RB);
    if (input_handle < 0) {
        reef_platform_print("reef-harness: error cannot open reef-in.bin\n");
        return -1;
    }
    uint32_t args[1] = {(uint32_t)input_handle};
    int length = semihost(SYS_FLEN, args);
    if (length < 0 || (uint32_t)length % input_size) {
        reef_platform_print("reef-harness: error reef-in.bin is not a whole number of inputs\n");
        return -1;
    }
    *count = (uint32_t)length / input_size;
    return 0;
}

int reef_platform_input_read(int8_t *in, uint32_t size)
{
    uint32_t args[3] = {(uint32_t)input_handle, (uint32_t)(uintptr_t)in, size};
    if (semihost(SYS_READ, args) != 0) { /* returns the bytes NOT read */
        reef_platform_print("reef-harness: error short read from reef-in.bin\n");
        return -1;
    }
    return 0;
}

int reef_platform_outputs_open(void)
{
    output_handle = open_file(output_name, sizeof output_name - 1, MODE_WB);
    if (output_handle < 0) {
        reef_platform_print("reef-harness: error cannot create reef-out.bin\n");
        return -1;
    }
    return 0;
}

int reef_platform_output_write(const int8_t *out, uint32_t size)
{
    uint32_t args[3] = {(uint32_t)output_handle, (uint32_t)(uintptr_t)out, size};
    if (semihost(SYS_WRITE, args) != 0) {
        reef_platform_print("reef-harness: error short write to reef-out.bin\n");
        return -1;
    }
    return 0;
}

int reef_platform_outputs_close(void)
{
    uint32_t args[1] = {(uint32_t)output_handle};
    uint32_t in_args[1] = {(uint32_t)input_handle};
    semihost(SYS_CLOSE, in_args);
    return semihost(SYS_CLOSE, args) == 0 ? 0 : -1;
}

/* QEMU 7.2's DWT cycle counter reads zero: the plugin counts instead. */
void reef_platform_cycles_start(void) {}
uint32_t reef_platform_cycles_stop(void) { return 0; }

void reef_platform_exit(int status)
{
    uint32_t args[2] = {ADP_STOPPED_APPLICATION_EXIT, (uint32_t)status};
    for (;;) semihost(SYS_EXIT_EXTENDED, args);
}
