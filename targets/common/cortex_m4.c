/* Cortex-M4 start-up shared by the qemu-m4 and stm32l4r5 targets: the
 * vector table, the reset handler (copy .data, zero .bss, enable the FPU,
 * paint the stack), fault handlers that print the fault status registers,
 * and the painted-stack high-water scan. Symbols come from sections.ld. */
#include <stdint.h>

#include "harness.h"

extern uint32_t _sidata[], _sdata[], _edata[], _sbss[], _ebss[];
extern uint32_t _stack_bottom[], _estack[];

#define STACK_PAINT 0xC5C5C5C5u

/* System control block registers (ARMv7-M ARM, B3.2). */
#define SCB_CPACR (*(volatile uint32_t *)0xE000ED88u)
#define SCB_CCR   (*(volatile uint32_t *)0xE000ED14u)
#define SCB_SHCSR (*(volatile uint32_t *)0xE000ED24u)
#define SCB_CFSR  (*(volatile uint32_t *)0xE000ED28u)
#define SCB_HFSR  (*(volatile uint32_t *)0xE000ED2Cu)
#define SCB_MMFAR (*(volatile uint32_t *)0xE000ED34u)
#define SCB_BFAR  (*(volatile uint32_t *)0xE000ED38u)

void Reset_Handler(void) __attribute__((noreturn));
void Fault_Handler(void) __attribute__((naked));
void Default_Handler(void);

/* Only the top of the stack is painted: kernels use little stack (about
 * 1 KB; arenas are static), and painting all of a 640 KB part's free RAM
 * cost ~0.7 M instructions on every boot, which dominated intermittent runs
 * that boot after every power failure. A run that reaches the window's
 * floor is reported as using the whole stack (an upper bound, never an
 * underestimate). */
#define STACK_PAINT_WINDOW (32u * 1024u)

/* In addresses, not pointers: _estack - N points before the array GCC
 * takes _estack to be, which -Warray-bounds reports. */
static uint32_t *paint_floor(void)
{
    uintptr_t floor = (uintptr_t)_estack - STACK_PAINT_WINDOW;
    return floor > (uintptr_t)_stack_bottom ? (uint32_t *)floor : _stack_bottom;
}

/* Paints [paint_floor, sp - 64) with STACK_PAINT. Runs first, before
 * anything has a frame worth keeping. */
static void __attribute__((noinline)) paint_stack(void)
{
    uint32_t sp;
    __asm__ volatile("mov %0, sp" : "=r"(sp));
    for (uint32_t *w = paint_floor(); (uint32_t)w < sp - 64u; w++) *w = STACK_PAINT;
}

uint32_t reef_platform_stack_high_water(void)
{
    const uint32_t *w = paint_floor();
    if (*w != STACK_PAINT) return (uint32_t)((const uint8_t *)_estack - (const uint8_t *)_stack_bottom);
    while (w < _estack && *w == STACK_PAINT) w++;
    return (uint32_t)((const uint8_t *)_estack - (const uint8_t *)w);
}

/* no-tree-loop-distribute-patterns: GCC would turn the two copy loops into
 * calls of newlib's memcpy and memset, and memcpy (308 B, speed-unrolled)
 * has no other caller in a reef firmware (fish-nas-2ch, qemu-m4): the word
 * loops below are 8 bytes of .data and a few KB of .bss, once per boot. */
__attribute__((optimize("no-tree-loop-distribute-patterns"))) void Reset_Handler(void)
{
    for (uint32_t *src = _sidata, *dst = _sdata; dst < _edata;) *dst++ = *src++;
    for (uint32_t *dst = _sbss; dst < _ebss;) *dst++ = 0;
    /* CP10 and CP11 full access, before any float instruction (else
     * UsageFault NOCP). */
    SCB_CPACR |= 0xFu << 20;
    __asm__ volatile("dsb\n\tisb" ::: "memory");
    /* Trap divide by zero (else SDIV returns 0 silently), and report
     * usage, bus and memory faults as themselves. */
    SCB_CCR |= 1u << 4;
    SCB_SHCSR |= (1u << 16) | (1u << 17) | (1u << 18);
    paint_stack();
    reef_platform_init();
    reef_platform_exit(reef_harness_run());
}

/* Called with the exception stack frame (r0-r3, r12, lr, pc, xpsr). */
void __attribute__((used, noreturn)) fault_report(const uint32_t *frame)
{
    static const char *const names[] = {"CFSR=", " HFSR=", " MMFAR=", " BFAR=", " PC=", " LR="};
    uint32_t values[6] = {SCB_CFSR, SCB_HFSR, SCB_MMFAR, SCB_BFAR, frame[6], frame[5]};
    char line[160], *p = line;
    reef_platform_print("reef-harness: FAULT ");
    for (int i = 0; i < 6; i++) {
        for (const char *n = names[i]; *n;) *p++ = *n++;
        p = reef_fmt_hex32(p, values[i]);
    }
    *p++ = '\n';
    *p = '\0';
    reef_platform_print(line);
    reef_platform_exit(REEF_EXIT_FAULT);
}

/* Picks the stack the fault frame was pushed on (EXC_RETURN bit 2). */
void Fault_Handler(void)
{
    __asm__ volatile("tst lr, #4\n\t"
                     "ite eq\n\t"
                     "mrseq r0, msp\n\t"
                     "mrsne r0, psp\n\t"
                     "b fault_report\n\t");
}

void Default_Handler(void)
{
    reef_platform_print("reef-harness: FAULT unexpected interrupt\n");
    reef_platform_exit(REEF_EXIT_FAULT);
}

typedef void (*vector)(void);

/* 16 system vectors; the harness enables no peripheral interrupt. */
__attribute__((section(".isr_vector"), used)) const vector reef_vectors[16] = {
    (vector)(uintptr_t)_estack,
    Reset_Handler,
    Fault_Handler,   /* NMI */
    Fault_Handler,   /* HardFault */
    Fault_Handler,   /* MemManage */
    Fault_Handler,   /* BusFault */
    Fault_Handler,   /* UsageFault */
    0, 0, 0, 0,
    Default_Handler, /* SVCall */
    Default_Handler, /* DebugMon */
    0,
    Default_Handler, /* PendSV */
    Default_Handler, /* SysTick */
};
