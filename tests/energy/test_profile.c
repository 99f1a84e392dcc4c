/* Device profiles: the shipped STM32L4R5 profile, the energy arithmetic,
 * and malformed profiles refused naming the line. */
#include "testing.h"

#include "energy/profile.h"

static void test_stm32l4r5_by_name(void **state)
{
    (void)state;
    reef_device_profile p;
    reef_error err = {{0}};
    if (reef_profile_load("stm32l4r5", &p, &err)) fail_msg("%s", err.msg);
    assert_string_equal(p.name, "stm32l4r5");
    assert_non_null(strstr(p.datasheet, "DS12023"));
    assert_float_equal(p.clock_mhz, 120, 1e-9);
    assert_int_equal(p.flash_bytes, 2048u * 1024u);
    assert_int_equal(p.ram_bytes, 640u * 1024u);
    assert_int_equal(p.flash_wait_states, 5);
    /* both run currents, each named: the datasheet's and the board-fitted */
    assert_float_equal(p.run_ua_per_mhz, 110, 1e-9);
    assert_float_equal(p.run_ua_per_mhz_board, 243.8, 1e-9);
    assert_int_equal(p.board_points, 8);
    assert_non_null(strstr(p.board_source, "MLPerf Tiny"));
}

static const char *good =
    "# a test device\n"
    "reef-profile 1\n"
    "name testchip\n"
    "datasheet Test DS0001 rev 1\n"
    "clock_mhz 100\n"
    "supply_v 2.0\n"
    "run_ua_per_mhz 100\n"
    "sleep_ua 1000\n"
    "stop_ua 1.5\n"
    "flash_kb 1024\n"
    "ram_kb 256\n"
    "flash_wait_states 4\n";

static void test_energy_arithmetic(void **state)
{
    (void)state;
    reef_device_profile p;
    reef_error err = {{0}};
    if (reef_profile_parse(good, "test.profile", &p, &err)) fail_msg("%s", err.msg);
    reef_energy_estimate e;
    reef_energy_estimate_cycles(&p, 1e6, &e); /* 1 M cycles at 100 MHz */
    assert_float_equal(e.time_s, 0.01, 1e-12);
    assert_float_equal(e.power_mw, 2.0 * 100 * 100 / 1000.0, 1e-9); /* 2 V x 10 mA = 20 mW */
    assert_float_equal(e.energy_uj, 200, 1e-9);                       /* 20 mW x 10 ms */
    assert_int_equal(e.power_from_board, 0);
    assert_float_equal(e.power_datasheet_mw, 20, 1e-9);
}

/* With a board calibration the board current sets the power; the
 * datasheet's stays beside it. */
static void test_energy_from_board_current(void **state)
{
    (void)state;
    char text[1024];
    snprintf(text, sizeof text, "%srun_ua_per_mhz_board 250\nboard_source bench rig\nboard_points 3\n"
             "board_energy_error_pct 5\n", good);
    reef_device_profile p;
    reef_error err = {{0}};
    if (reef_profile_parse(text, "board.profile", &p, &err)) fail_msg("%s", err.msg);
    reef_energy_estimate e;
    reef_energy_estimate_cycles(&p, 1e6, &e);
    assert_int_equal(e.power_from_board, 1);
    assert_float_equal(e.power_mw, 2.0 * 250 * 100 / 1000.0, 1e-9);  /* 50 mW */
    assert_float_equal(e.power_datasheet_mw, 20, 1e-9);
    assert_float_equal(e.energy_uj, 500, 1e-9);                       /* 50 mW x 10 ms */
    /* half a calibration is refused */
    snprintf(text, sizeof text, "%srun_ua_per_mhz_board 250\n", good);
    assert_int_equal(reef_profile_parse(text, "half.profile", &p, &err), -1);
    assert_non_null(strstr(err.msg, "half.profile: run_ua_per_mhz_board, board_source"));
}

/* NVM cost, by hand: FRAM at 10 MHz, 4 command bytes: writing 100 bytes in
 * 2 transfers clocks 100 + 2 x (4 + 1 WREN) = 110 frames = 880 bits = 88 us;
 * power 20 mW (MCU) + 2 V x 1 mA (FRAM) = 22 mW -> 1.936 uJ. Flash: 100
 * bytes = 13 program units of 8 (13 x 100 us) + 1 page erase (20 ms) =
 * 21.3 ms at 20 mW + 2 V x 3 mA = 26 mW -> 553.8 uJ. A profile without
 * them says so. */
static void test_nvm_cost(void **state)
{
    (void)state;
    char text[2048];
    snprintf(text, sizeof text, "%sfram_spi_mhz 10\nfram_active_ua 1000\nfram_standby_ua 10\nfram_cmd_bytes 4\n"
             "fram_kb 256\nflash_page_kb 2\nflash_program_us 100\nflash_program_bytes 8\nflash_erase_ms 20\n"
             "flash_program_ua 3000\nflash_endurance_kcycles 10\nboot_us 500\n", good);
    reef_device_profile p;
    reef_error err = {{0}};
    if (reef_profile_parse(text, "nvm.profile", &p, &err)) fail_msg("%s", err.msg);
    double t, e;
    assert_int_equal(reef_nvm_cost(&p, REEF_NVM_FRAM, 1, 100, 2, &t, &e), 0);
    assert_float_equal(t, 88e-6, 1e-12);
    assert_float_equal(e, 1.936, 1e-9);
    assert_int_equal(reef_nvm_cost(&p, REEF_NVM_FLASH, 1, 100, 1, &t, &e), 0);
    assert_float_equal(t, 0.0213, 1e-12);
    assert_float_equal(e, 553.8, 1e-9);
    assert_int_equal(p.fram_bytes, 256u * 1024u);
    /* With DMA (fram_dma 1), by hand: the 10 command frames (8 us) and 2 x
     * 200 cycles of set-up at 100 MHz (4 us) at 22 mW = 0.264 uJ; the 100
     * data frames (80 us) with the core in Sleep: 2 V x 1 mA (sleep_ua, no
     * board current to scale it by) + 2 mW (FRAM) = 4 mW -> 0.32 uJ. */
    char dma[2200];
    snprintf(dma, sizeof dma, "%sfram_dma 1\n", text);
    if (reef_profile_parse(dma, "dma.profile", &p, &err)) fail_msg("%s", err.msg);
    assert_int_equal(reef_nvm_cost(&p, REEF_NVM_FRAM, 1, 100, 2, &t, &e), 0);
    assert_float_equal(t, 92e-6, 1e-12);
    assert_float_equal(e, 0.584, 1e-9);
    if (reef_profile_parse(good, "plain.profile", &p, &err)) fail_msg("%s", err.msg);
    assert_int_equal(reef_nvm_cost(&p, REEF_NVM_FRAM, 1, 100, 1, &t, &e), -1);
    if (reef_profile_load("stm32l4r5", &p, &err)) fail_msg("%s", err.msg);
    assert_int_equal(reef_nvm_cost(&p, REEF_NVM_FRAM, 0, 1024, 1, &t, &e), 0);
}

/* Replaces line `lineno` (1-based) of good with `text` and checks that the
 * parse fails with a message containing `want`. */
static void expect_refused(int lineno, const char *text, const char *want)
{
    char buf[2048] = "", *at = buf;
    const char *p = good;
    for (int line = 1; *p; line++) {
        size_t n = strcspn(p, "\n");
        at += sprintf(at, "%s\n", line == lineno ? text : "");
        if (line != lineno) {
            at--;
            at += sprintf(at, "%.*s\n", (int)n, p);
        }
        p += n + 1;
    }
    reef_device_profile prof;
    reef_error err = {{0}};
    assert_int_equal(reef_profile_parse(buf, "bad.profile", &prof, &err), -1);
    if (!strstr(err.msg, want)) fail_msg("message '%s' lacks '%s'", err.msg, want);
}

static void test_malformed_refused_naming_the_line(void **state)
{
    (void)state;
    expect_refused(5, "clock_mhz fast", "bad.profile:5: clock_mhz wants a number");
    expect_refused(6, "supply_v -1", "bad.profile:6: supply_v");
    expect_refused(7, "run_current 3", "bad.profile:7: unknown key 'run_current'");
    expect_refused(12, "flash_wait_states 2.5", "bad.profile:12: flash_wait_states wants a whole number");
    expect_refused(3, "name stm32l4r5\nname again", "bad.profile:4: name given twice");
    expect_refused(11, "# ram_kb removed", "bad.profile: missing ram_kb");
    expect_refused(2, "reef-profile 9", "bad.profile:2: expected 'reef-profile 1'");
    reef_device_profile p;
    reef_error err = {{0}};
    assert_int_equal(reef_profile_load("no-such-device", &p, &err), -1);
    assert_non_null(strstr(err.msg, "no-such-device"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stm32l4r5_by_name),
        cmocka_unit_test(test_energy_arithmetic),
        cmocka_unit_test(test_energy_from_board_current),
        cmocka_unit_test(test_nvm_cost),
        cmocka_unit_test(test_malformed_refused_naming_the_line),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
