/* NUCLEO-L4R5ZI board support, register level (no vendor HAL): 120 MHz
 * from HSI16 through the PLL in voltage range 1 boost mode with 5 flash
 * wait states, ART prefetch and caches on; LPUART1 on PG7 (TX) / PG8 (RX),
 * AF8, wired to the ST-LINK virtual COM port (UM2179), 115200 8N1; the DWT
 * cycle counter around each inference. Inputs are compiled in
 * (reef_board_inputs, written by reef_m4_build), or with -DREEF_INPUTS_UART
 * received on LPUART1 (a little-endian uint32 count, then the inputs, after
 * the board prints "reef-harness: ready"; how `reef personalize --port`
 * sends labelled frames); outputs are printed as hex lines. Register
 * addresses and bits: RM0432. */
#include <stdint.h>

#include "harness.h"

#define REG(addr) (*(volatile uint32_t *)(addr))

#define RCC 0x40021000u
#define RCC_CR REG(RCC + 0x00u)
#define RCC_CFGR REG(RCC + 0x08u)
#define RCC_PLLCFGR REG(RCC + 0x0Cu)
#define RCC_AHB2ENR REG(RCC + 0x4Cu)
#define RCC_APB1ENR1 REG(RCC + 0x58u)
#define RCC_APB1ENR2 REG(RCC + 0x5Cu)
#define RCC_CCIPR REG(RCC + 0x88u)
#define PWR 0x40007000u
#define PWR_CR1 REG(PWR + 0x00u)
#define PWR_CR2 REG(PWR + 0x04u)
#define PWR_SR2 REG(PWR + 0x14u)
#define PWR_CR5 REG(PWR + 0x80u)
#define FLASH_ACR REG(0x40022000u)
#define GPIOG 0x48001800u
#define GPIOG_MODER REG(GPIOG + 0x00u)
#define GPIOG_AFRL REG(GPIOG + 0x20u)
#define GPIOG_AFRH REG(GPIOG + 0x24u)
#define LPUART1 0x40008000u
#define LPUART1_CR1 REG(LPUART1 + 0x00u)
#define LPUART1_BRR REG(LPUART1 + 0x0Cu)
#define LPUART1_ISR REG(LPUART1 + 0x1Cu)
#define LPUART1_RDR REG(LPUART1 + 0x24u)
#define LPUART1_TDR REG(LPUART1 + 0x28u)
#define LPUART1_ICR REG(LPUART1 + 0x20u)
#define DEMCR REG(0xE000EDFCu)
#define DWT_CTRL REG(0xE0001000u)
#define DWT_CYCCNT REG(0xE0001004u)
#define DWT_LAR REG(0xE0001FB0u)

#define HSI_HZ 16000000u
#define BAUD 115200u

#ifndef REEF_INPUTS_UART
extern const int8_t reef_board_inputs[];
extern const uint32_t reef_board_inputs_size;
static uint32_t input_at;
#endif
static uint32_t output_index;

static void wait_set(volatile uint32_t *reg, uint32_t mask) { while (!(*reg & mask)) {} }

/* RM0432 "Range 1 boost mode": above 80 MHz, switch with the AHB clock
 * divided by 2, then restore it after at least 1 us. */
static void clock_120mhz(void)
{
    RCC_APB1ENR1 |= 1u << 28;                           /* PWREN */
    PWR_CR1 = (PWR_CR1 & ~(3u << 9)) | (1u << 9);       /* VOS = range 1 */
    while (PWR_SR2 & (1u << 10)) {}                     /* VOSF */
    PWR_CR5 &= ~(1u << 8);                              /* R1MODE = 0: boost */
    RCC_CR |= 1u << 8;                                  /* HSION */
    wait_set(&RCC_CR, 1u << 10);                        /* HSIRDY */
    FLASH_ACR = (FLASH_ACR & ~0xFu) | 5u | (1u << 8) | (1u << 9) | (1u << 10); /* 5 WS, PRFTEN, ICEN, DCEN */
    while ((FLASH_ACR & 0xFu) != 5u) {}
    /* PLL: HSI16 / M=2 = 8 MHz, x N=30 = 240 MHz VCO, / R=2 = 120 MHz */
    RCC_PLLCFGR = 2u | (1u << 4) | (30u << 8) | (1u << 24); /* PLLSRC=HSI16, PLLM=2, PLLN=30, PLLR=2, PLLREN */
    RCC_CR |= 1u << 24;                                 /* PLLON */
    wait_set(&RCC_CR, 1u << 25);                        /* PLLRDY */
    RCC_CFGR = (RCC_CFGR & ~(0xFu << 4)) | (8u << 4);   /* AHB / 2 */
    RCC_CFGR = (RCC_CFGR & ~3u) | 3u;                   /* SW = PLL */
    while (((RCC_CFGR >> 2) & 3u) != 3u) {}
    for (volatile int i = 0; i < 200; i++) {}           /* > 1 us at 60 MHz */
    RCC_CFGR &= ~(0xFu << 4);                           /* AHB / 1 */
}

static void uart_init(void)
{
    PWR_CR2 |= 1u << 9;                                 /* IOSV: VDDIO2 valid, port G usable */
    RCC_AHB2ENR |= 1u << 6;                             /* GPIOGEN */
    RCC_APB1ENR2 |= 1u << 0;                            /* LPUART1EN */
    RCC_CCIPR = (RCC_CCIPR & ~(3u << 10)) | (2u << 10); /* LPUART1 clock = HSI16 */
    GPIOG_MODER = (GPIOG_MODER & ~(0xFu << 14)) | (0xAu << 14); /* PG7, PG8 alternate */
    GPIOG_AFRL = (GPIOG_AFRL & ~(0xFu << 28)) | (8u << 28);     /* PG7 AF8 */
    GPIOG_AFRH = (GPIOG_AFRH & ~0xFu) | 8u;                     /* PG8 AF8 */
    LPUART1_BRR = (uint32_t)(((uint64_t)HSI_HZ * 256u + BAUD / 2u) / BAUD);
#ifdef REEF_INPUTS_UART
    LPUART1_CR1 = (1u << 3) | (1u << 2) | 1u;           /* TE, RE, UE */
#else
    LPUART1_CR1 = (1u << 3) | 1u;                       /* TE, UE */
#endif
}

void reef_platform_init(void)
{
    clock_120mhz();
    uart_init();
    DEMCR |= 1u << 24;                                  /* TRCENA */
    DWT_LAR = 0xC5ACCE55u;                              /* unlock, where implemented */
    DWT_CYCCNT = 0;
    DWT_CTRL |= 1u;                                     /* CYCCNTENA */
}

void reef_platform_print(const char *text)
{
    for (; *text; text++) {
        if (*text == '\n') {
            wait_set(&LPUART1_ISR, 1u << 7);
            LPUART1_TDR = '\r';
        }
        wait_set(&LPUART1_ISR, 1u << 7);                /* TXE */
        LPUART1_TDR = (uint8_t)*text;
    }
    wait_set(&LPUART1_ISR, 1u << 6);                    /* TC */
}

#ifdef REEF_INPUTS_UART
/* One received byte; an overrun (the host sent faster than we read) is
 * cleared and reported by the harness as a read error through the caller. */
static int uart_byte(uint8_t *b)
{
    for (;;) {
        uint32_t isr = LPUART1_ISR;
        if (isr & (1u << 3)) {                          /* ORE */
            LPUART1_ICR = 1u << 3;
            return -1;
        }
        if (isr & (1u << 5)) {                          /* RXNE */
            *b = (uint8_t)LPUART1_RDR;
            return 0;
        }
    }
}

int reef_platform_inputs_open(uint32_t input_size, uint32_t *count)
{
    uint8_t b[4];
    (void)input_size;
    reef_platform_print("reef-harness: ready\n");
    for (int i = 0; i < 4; i++)
        if (uart_byte(&b[i])) return -1;
    *count = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
    return 0;
}

/* Flow control by request: "reef-harness: next" before each input, so the
 * host never sends more than one input ahead of the board. */
int reef_platform_input_read(int8_t *in, uint32_t size)
{
    reef_platform_print("reef-harness: next\n");
    for (uint32_t i = 0; i < size; i++) {
        uint8_t b;
        if (uart_byte(&b)) {
            reef_platform_print("reef-harness: error LPUART1 overrun\n");
            return -1;
        }
        in[i] = (int8_t)b;
    }
    return 0;
}
#else
int reef_platform_inputs_open(uint32_t input_size, uint32_t *count)
{
    if (reef_board_inputs_size % input_size) {
        reef_platform_print("reef-harness: error compiled-in inputs are not a whole number of inputs\n");
        return -1;
    }
    *count = reef_board_inputs_size / input_size;
    return 0;
}

int reef_platform_input_read(int8_t *in, uint32_t size)
{
    for (uint32_t i = 0; i < size; i++) in[i] = reef_board_inputs[input_at + i];
    input_at += size;
    return 0;
}
#endif

int reef_platform_outputs_open(void) { return 0; }

/* "reef-harness: output I <hex bytes>" */
int reef_platform_output_write(const int8_t *out, uint32_t size)
{
    char buf[24];
    reef_platform_print("reef-harness: output ");
    reef_fmt_u32(buf, output_index++);
    reef_platform_print(buf);
    reef_platform_print(" ");
    for (uint32_t i = 0; i < size; i++) {
        buf[0] = "0123456789abcdef"[((uint8_t)out[i]) >> 4];
        buf[1] = "0123456789abcdef"[((uint8_t)out[i]) & 0xFu];
        buf[2] = '\0';
        reef_platform_print(buf);
    }
    reef_platform_print("\n");
    return 0;
}

int reef_platform_outputs_close(void) { return 0; }

static uint32_t cycles_at_start;
void reef_platform_cycles_start(void) { cycles_at_start = DWT_CYCCNT; }
uint32_t reef_platform_cycles_stop(void) { return DWT_CYCCNT - cycles_at_start; }

void reef_platform_exit(int status)
{
    char buf[16];
    reef_platform_print("reef-harness: exit ");
    reef_fmt_u32(buf, (uint32_t)status);
    reef_platform_print(buf);
    reef_platform_print("\n");
    for (;;) __asm__ volatile("wfi");
}
