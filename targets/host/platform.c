/* The host target: the same harness compiled natively, files through
 * stdio. Like qemu-m4 it reads reef-in.bin and writes reef-out.bin in the
 * current folder (src/firmware runs it inside a scratch folder), so that
 * `reef run --target host` and `--target qemu-m4` differ only in the CPU. */
#include <stdio.h>
#include <stdlib.h>

#include "harness.h"

static FILE *inputs;
static FILE *outputs;

void reef_platform_init(void) {}

void reef_platform_print(const char *text)
{
    fputs(text, stdout);
    fflush(stdout);
}

int reef_platform_inputs_open(uint32_t input_size, uint32_t *count)
{
    inputs = fopen("reef-in.bin", "rb");
    if (!inputs || fseek(inputs, 0, SEEK_END) != 0) {
        reef_platform_print("reef-harness: error cannot open reef-in.bin\n");
        return -1;
    }
    long length = ftell(inputs);
    rewind(inputs);
    if (length < 0 || (unsigned long)length % input_size) {
        reef_platform_print("reef-harness: error reef-in.bin is not a whole number of inputs\n");
        return -1;
    }
    *count = (uint32_t)((unsigned long)length / input_size);
    return 0;
}

int reef_platform_input_read(int8_t *in, uint32_t size)
{
    if (fread(in, 1, size, inputs) != size) {
        reef_platform_print("reef-harness: error short read from reef-in.bin\n");
        return -1;
    }
    return 0;
}

int reef_platform_outputs_open(void)
{
    outputs = fopen("reef-out.bin", "wb");
    if (!outputs) {
        reef_platform_print("reef-harness: error cannot create reef-out.bin\n");
        return -1;
    }
    return 0;
}

int reef_platform_output_write(const int8_t *out, uint32_t size)
{
    if (fwrite(out, 1, size, outputs) != size) {
        reef_platform_print("reef-harness: error short write to reef-out.bin\n");
        return -1;
    }
    return 0;
}

int reef_platform_outputs_close(void)
{
    fclose(inputs);
    return fclose(outputs) == 0 ? 0 : -1;
}

void reef_platform_cycles_start(void) {}
uint32_t reef_platform_cycles_stop(void) { return 0; }
uint32_t reef_platform_stack_high_water(void) { return 0; }

void reef_platform_exit(int status) { exit(status); }

int main(void)
{
    reef_platform_init();
    reef_platform_exit(reef_harness_run());
}
