/* SPI FRAM backend for the NUCLEO-L4R5ZI (see fram.h): SPI1 polled,
 * register level (RM0432: RCC, GPIO, SPI chapters). */
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

#define SR_RXNE (1u << 0)
#define SR_TXE (1u << 1)
#define SR_BSY (1u << 7)
#define CS_PIN 14u /* PD14 */

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
    cs_low();
    command_at(FRAM_READ, at);
    while (bytes--) *out++ = transfer(0xFF);
    cs_high();
    return 0;
}

/* The write-enable latch clears after every WRITE: set it each time. */
static int fram_write(void *ctx, uint32_t at, const void *src, uint32_t bytes)
{
    const uint8_t *in = (const uint8_t *)src;
    (void)ctx;
    if (at > REEF_FRAM_SIZE || bytes > REEF_FRAM_SIZE - at) return -1;
    cs_low();
    transfer(FRAM_WREN);
    cs_high();
    cs_low();
    command_at(FRAM_WRITE, at);
    while (bytes--) transfer(*in++);
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

void reef_fram_init(reef_nvm *nvm)
{
    pins_init();
    spi_init();
    nvm->ctx = 0;
    nvm->size = REEF_FRAM_SIZE;
    nvm->write_unit = 1;
    nvm->erase_size = 0;
    nvm->read = fram_read;
    nvm->write = fram_write;
    nvm->erase = 0;
}
