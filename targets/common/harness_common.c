/* What both firmware harnesses share (harness.c: continuous power;
 * harness_resume.c: intermittent): the region markers the emulator plugin
 * watches, and the freestanding number formatting and line printing. C99,
 * freestanding apart from the platform functions. */
#include <stdint.h>

#include "harness.h"

REEF_MARKER void reef_mark_inference_begin(void) { __asm__ volatile("" ::: "memory"); }
REEF_MARKER void reef_mark_inference_end(void) { __asm__ volatile("" ::: "memory"); }
REEF_MARKER void reef_mark_step(void) { __asm__ volatile("" ::: "memory"); }

char *reef_fmt_u32(char *dst, uint32_t value)
{
    char digits[10];
    int n = 0;
    do {
        digits[n++] = (char)('0' + value % 10u);
        value /= 10u;
    } while (value);
    while (n) *dst++ = digits[--n];
    *dst = '\0';
    return dst;
}

char *reef_fmt_hex32(char *dst, uint32_t value)
{
    *dst++ = '0';
    *dst++ = 'x';
    for (int shift = 28; shift >= 0; shift -= 4) *dst++ = "0123456789abcdef"[(value >> shift) & 0xfu];
    *dst = '\0';
    return dst;
}

char *reef_harness_append(char *dst, const char *text)
{
    while (*text) *dst++ = *text++;
    *dst = '\0';
    return dst;
}

void reef_harness_print_fact(const char *what, uint32_t value)
{
    char line[96];
    char *p = reef_harness_append(line, "reef-harness: ");
    p = reef_harness_append(p, what);
    p = reef_harness_append(p, " ");
    p = reef_fmt_u32(p, value);
    reef_harness_append(p, "\n");
    reef_platform_print(line);
}

void reef_harness_print_pair(const char *what, uint32_t value, const char *then, uint32_t next)
{
    char line[128];
    char *p = reef_harness_append(line, "reef-harness: ");
    p = reef_harness_append(p, what);
    p = reef_harness_append(p, " ");
    p = reef_fmt_u32(p, value);
    p = reef_harness_append(p, " ");
    p = reef_harness_append(p, then);
    p = reef_harness_append(p, " ");
    p = reef_fmt_u32(p, next);
    reef_harness_append(p, "\n");
    reef_platform_print(line);
}

void reef_harness_print_error(const char *what)
{
    reef_platform_print("reef-harness: error ");
    reef_platform_print(what);
    reef_platform_print("\n");
}
