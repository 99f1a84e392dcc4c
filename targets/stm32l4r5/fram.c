/* SPI FRAM backend for the NUCLEO-L4R5ZI (see fram.h): SPI1, register
 * level (RM0432: RCC, GPIO, SPI, DMA, DMAMUX chapters). Commands are
 * polled; the data bytes of a READ or WRITE move by DMA1 (channel 1 SPI1
 * RX, channel 2 SPI1 TX through DMAMUX1) while the core waits in Sleep
 * mode (WFE, woken by the RX channel's transfer-complete interrupt pending
 * with SEVONPEND, no handler needed): polling kept the core at run power
 * for every byte, the cost that dominated the commits (docs/intermittent.md,
 * profile key fram_dma). Compiled in CI; not run on a board. */
#include <stdint.h>

#include "fram.h"

#define REG(addr) (*(volatile uint32_t *)(addr))
#define RCC 0x40021000u
#define RCC_AHB2ENR REG(RCC + 0x4Cu)
#define RCC_APB2ENR REG(RCC + 0x60u)
#define GPIOA 0x48000000u
#define GPIOD 0x48000C00u
#define GPIO_MODER(g) REG((g) + 0x00u)
#define GPIO_OSPEEDR(g) REG((g) + 0x08u)
#define GPIO_AFRL(g) REG((g) + 0x20u)
#define GPIO_BSRR(g) REG((g) + 0x18u)
#define SPI1 0x40013000u
#define SPI_CR1 REG(SPI1 + 0x00u)
#define SPI_CR2 REG(SPI1 + 0x04u)
#define SPI_SR REG(SPI1 + 0x08u)
#define SPI_DR8 (*(volatile uint8_t *)(SPI1 + 0x0Cu)) /* 8-bit access: one frame */
#define RCC_AHB1ENR REG(RCC + 0x48u)
#define DMA1 0x40020000u
#define DMA_ISR REG(DMA1 + 0x00u)
#define DMA_IFCR REG(DMA1 + 0x04u)
#define DMA_CCR(n) REG(DMA1 + 0x08u + 0x14u * ((n) - 1u))
#define DMA_CNDTR(n) REG(DMA1 + 0x0Cu + 0x14u * ((n) - 1u))
#define DMA_CPAR(n) REG(DMA1 + 0x10u + 0x14u * ((n) - 1u))
#define DMA_CMAR(n) REG(DMA1 + 0x14u + 0x14u * ((n) - 1u))
#define DMAMUX1_CCR(x) REG(0x40020800u + 0x04u * (x)) /* DMAMUX channel x feeds DMA1 channel x + 1 */
#define SCB_SCR REG(0xE000ED10u)
#define NVIC_ICPR0 REG(0xE000E280u)

#define SR_RXNE (1u << 0)
#define SR_TXE (1u << 1)
#define SR_BSY (1u << 7)
#define CS_PIN 14u /* PD14 */
#define CR2_RXDMAEN (1u << 0)
#define CR2_TXDMAEN (1u << 1)
#define CCR_EN (1u << 0)
#define CCR_TCIE (1u << 1)
#define CCR_DIR (1u << 4) /* memory to peripheral */
#define CCR_MINC (1u << 7)
#define SCR_SEVONPEND (1u << 4)

/* DMA1 channels, DMAMUX1 request lines (RM0432 DMAMUX1 table), the RX
 * channel's interrupt number, and the largest count one channel takes. */
enum { RX_CH = 1, TX_CH = 2, REQ_SPI1_RX = 10, REQ_SPI1_TX = 11, DMA1_CH1_IRQ = 11, DMA_MAX = 65535 };

enum { FRAM_WREN = 0x06, FRAM_READ = 0x03, FRAM_WRITE = 0x02 };

static void cs_low(void) { GPIO_BSRR(GPIOD) = 1u << (CS_PIN + 16u); }

/* Waits until the last frame has left before releasing /CS. */
static void cs_high(void)
{
    while (SPI_SR & SR_BSY) {}
    GPIO_BSRR(GPIOD) = 1u << CS_PIN;
}

static uint8_t transfer(uint8_t out)
{
    while (!(SPI_SR & SR_TXE)) {}
    SPI_DR8 = out;
    while (!(SPI_SR & SR_RXNE)) {}
    return SPI_DR8;
}

/* Moves bytes both ways by DMA: out (advancing when out_step) is sent,
 * what comes back lands in in (advancing when in_step). The core sleeps
 * until the RX channel has the last byte, so every frame has left too.
 * RX is enabled before TX (RM0432, SPI "communication using DMA"). */
static void dma_exchange(const uint8_t *out, int out_step, uint8_t *in, int in_step, uint32_t bytes)
{
    while (bytes) {
        uint32_t n = bytes < DMA_MAX ? bytes : DMA_MAX;
        DMA_IFCR = (0xFu << (4u * (RX_CH - 1u))) | (0xFu << (4u * (TX_CH - 1u)));
        SPI_CR2 |= CR2_RXDMAEN;
        DMA_CPAR(RX_CH) = SPI1 + 0x0Cu;
        DMA_CMAR(RX_CH) = (uint32_t)(uintptr_t)in;
        DMA_CNDTR(RX_CH) = n;
        DMA_CCR(RX_CH) = (in_step ? CCR_MINC : 0u) | CCR_TCIE | CCR_EN;
        DMA_CPAR(TX_CH) = SPI1 + 0x0Cu;
        DMA_CMAR(TX_CH) = (uint32_t)(uintptr_t)out;
        DMA_CNDTR(TX_CH) = n;
        DMA_CCR(TX_CH) = (out_step ? CCR_MINC : 0u) | CCR_DIR | CCR_EN;
        SPI_CR2 |= CR2_TXDMAEN;
        while (!(DMA_ISR & (2u << (4u * (RX_CH - 1u))))) __asm__ volatile("wfe" ::: "memory");
        NVIC_ICPR0 = 1u << DMA1_CH1_IRQ; /* the next transfer's completion must raise a new event */
        DMA_CCR(TX_CH) = 0;
        DMA_CCR(RX_CH) = 0;
        SPI_CR2 &= ~(CR2_RXDMAEN | CR2_TXDMAEN);
        if (out_step) out += n;
        if (in_step) in += n;
        bytes -= n;
    }
}

static void command_at(uint8_t opcode, uint32_t at)
{
    transfer(opcode);
    transfer((uint8_t)(at >> 16));
    transfer((uint8_t)(at >> 8));
    transfer((uint8_t)at);
}

static int fram_read(void *ctx, uint32_t at, void *dst, uint32_t bytes)
{
    uint8_t *out = (uint8_t *)dst;
    (void)ctx;
    if (at > REEF_FRAM_SIZE || bytes > REEF_FRAM_SIZE - at) return -1;
    static const uint8_t ones = 0xFF;
    cs_low();
    command_at(FRAM_READ, at);
    dma_exchange(&ones, 0, out, 1, bytes);
    cs_high();
    return 0;
}

/* The write-enable latch clears after every WRITE: set it each time. */
static int fram_write(void *ctx, uint32_t at, const void *src, uint32_t bytes)
{
    static uint8_t sink; /* what the FRAM sends back while written */
    (void)ctx;
    if (at > REEF_FRAM_SIZE || bytes > REEF_FRAM_SIZE - at) return -1;
    cs_low();
    transfer(FRAM_WREN);
    cs_high();
    cs_low();
    command_at(FRAM_WRITE, at);
    dma_exchange((const uint8_t *)src, 1, &sink, 0, bytes);
    cs_high();
    return 0;
}

/* PA5/PA6/PA7 alternate function 5 (SPI1), very high speed; PD14 output,
 * high (deselected) before it becomes an output. */
static void pins_init(void)
{
    uint32_t pin;
    RCC_AHB2ENR |= (1u << 0) | (1u << 3); /* GPIOAEN, GPIODEN */
    (void)RCC_AHB2ENR;
    for (pin = 5; pin <= 7; pin++) {
        GPIO_AFRL(GPIOA) = (GPIO_AFRL(GPIOA) & ~(0xFu << (4u * pin))) | (5u << (4u * pin));
        GPIO_OSPEEDR(GPIOA) |= 3u << (2u * pin);
        GPIO_MODER(GPIOA) = (GPIO_MODER(GPIOA) & ~(3u << (2u * pin))) | (2u << (2u * pin));
    }
    GPIO_BSRR(GPIOD) = 1u << CS_PIN;
    GPIO_OSPEEDR(GPIOD) |= 3u << (2u * CS_PIN);
    GPIO_MODER(GPIOD) = (GPIO_MODER(GPIOD) & ~(3u << (2u * CS_PIN))) | (1u << (2u * CS_PIN));
}

/* Master, BR = 001 (PCLK / 4 = 30 MHz), mode 0, software NSS (SSM, SSI),
 * 8-bit frames with RXNE at 8 bits (FRXTH). */
static void spi_init(void)
{
    RCC_APB2ENR |= 1u << 12; /* SPI1EN */
    (void)RCC_APB2ENR;
    SPI_CR1 = 0;
    SPI_CR2 = (7u << 8) | (1u << 12);
    SPI_CR1 = (1u << 2) | (1u << 3) | (1u << 8) | (1u << 9);
    SPI_CR1 |= 1u << 6; /* SPE */
}

/* DMA1 and DMAMUX1 clocks; SPI1 RX and TX requests to channels 1 and 2;
 * a pending interrupt wakes WFE (its NVIC line stays disabled). */
static void dma_init(void)
{
    RCC_AHB1ENR |= (1u << 0) | (1u << 2); /* DMA1EN, DMAMUX1EN */
    (void)RCC_AHB1ENR;
    DMAMUX1_CCR(RX_CH - 1u) = REQ_SPI1_RX;
    DMAMUX1_CCR(TX_CH - 1u) = REQ_SPI1_TX;
    SCB_SCR |= SCR_SEVONPEND;
}

void reef_fram_init(reef_nvm *nvm)
{
    pins_init();
    spi_init();
    dma_init();
    nvm->ctx = 0;
    nvm->size = REEF_FRAM_SIZE;
    nvm->write_unit = 1;
    nvm->erase_size = 0;
    nvm->read = fram_read;
    nvm->write = fram_write;
    nvm->erase = 0;
}
