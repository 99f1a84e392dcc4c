# STM32L4R5 (the MCU of Huang & Haddadi, MobiSys 2023, and of the MLPerf
# Tiny NUCLEO-L4R5ZI results). Format: docs/formats/device-profile.md.
reef-profile 1
name stm32l4r5
datasheet ST DS12023 (STM32L4R5xx/STM32L4S5xx datasheet) and RM0432 (flash latency table)
# 120 MHz needs voltage range 1 boost mode and 5 flash wait states (RM0432).
clock_mhz 120
# The paper ran the board at 1.9 V; the chip takes 1.71 V to 3.6 V.
supply_v 1.9
# Run mode, range 1 boost, code from flash with ART on, typical, 25 C
# (DS12023 front page: "110 uA/MHz Run mode (LDO mode)"). Not re-checked
# against the full current table in this session: see the doc's caveat.
run_ua_per_mhz 110
# Sleep mode at 120 MHz, typical (DS12023 sleep-mode table; approximate).
sleep_ua 3000
# Stop 2 mode, typical, 25 C (DS12023 front page; approximate).
stop_ua 2.8
flash_kb 2048
ram_kb 640
flash_wait_states 5
# Run current implied by board measurements: MLPerf Tiny v1.0 (OctoML,
# microTVM native and + CMSIS-NN, 4 models each) on a NUCLEO-L4R5ZI at
# 120 MHz, energy measured with an LPM01A at 1.8 V: 50.6-55.2 mW during
# inference, fitted 52.65 mW = 243.8 uA/MHz (energy / modeled time, geometric
# mean); reef takes the current as independent of the supply (internal LDO)
# and scales power with supply_v. Modeled energy vs measured, leave one of the
# 8 out: median 3.5%, worst 8.5% (docs/cycle-model.md, Calibration;
# bench/calibration/l4r5zi.csv). The datasheet's 110 uA/MHz above stays for
# comparison: the board draws 2.2x more than the headline figure.
run_ua_per_mhz_board 243.8
board_source MLPerf Tiny v1.0 closed, OctoML microTVM on NUCLEO-L4R5ZI, LPM01A at 1.8 V (mlcommons/tiny_results_v1.0 c7761cf)
board_points 8
board_energy_error_pct 8.5
# ---- intermittent execution (issue 13; docs/intermittent.md) ----------
# Power-on reset to main() with the PLL at 120 MHz: reset temporization
# plus clock set-up, modeled (not measured on a board).
boot_us 1000
# External SPI FRAM (targets/stm32l4r5/fram.c): Fujitsu MB85RS family,
# figures from the MB85RS256TY datasheet DS501-00046-6v1-E (40 MHz max,
# 1.8-3.6 V, 2.5 mA max at 40 MHz, standby 50 uA max); a 2 Mbit part of the
# family (MB85RS2MTA, 256 KB) is assumed to draw the same. SPI1 runs at
# PCLK/4 = 30 MHz (power-of-two prescaler under the 40 MHz limit); the
# current is the 40 MHz maximum (conservative).
fram_spi_mhz 30
fram_active_ua 2500
fram_standby_ua 50
fram_cmd_bytes 4
fram_kb 256
# The driver moves data bytes by DMA with the core in Sleep mode (sleep_ua,
# scaled by the board-fitted / datasheet run current ratio), commands polled
# at run power, 200 cycles of DMA set-up a transfer (modeled). 0: polled.
fram_dma 1
# Internal flash (RM0432 / STM32L4 datasheets' flash tables, typical):
# 64-bit double-word programming 81.7 us, page erase 22 ms, about 3.4 mA
# while programming or erasing, 4 KB pages (dual-bank mode), 10 kcycles
# endurance. STM32L4 family figures, not re-read from DS12023.
flash_page_kb 4
flash_program_us 81.7
flash_program_bytes 8
flash_erase_ms 22
flash_program_ua 3400
flash_endurance_kcycles 10
