/* The NUCLEO-L4R5ZI's SPI FRAM driver (targets/stm32l4r5/fram.c) compiles
 * for the Cortex-M4, with the NVM record, at the runtime's strictness (C99,
 * freestanding, -pedantic -Werror); it has not been run on a board. */
#include "testing.h"

static int have_arm_gcc(void) { return system("arm-none-eabi-gcc --version >/dev/null 2>&1") == 0; }

static void test_fram_driver_compiles(void **state)
{
    (void)state;
    const char *src = getenv("REEF_SOURCE");
    assert_non_null(src);
    char tmp[256], cmd[2048];
    testing_tmpdir(tmp, sizeof tmp, "fram");
    const char *opt[] = {"-O0", "-O2", "-Os"};
    for (int i = 0; i < 3; i++) {
        snprintf(cmd, sizeof cmd,
                 "cd %s && arm-none-eabi-gcc -mcpu=cortex-m4 -mthumb -mfpu=fpv4-sp-d16 -mfloat-abi=hard %s "
                 "-std=c99 -ffreestanding -pedantic -Wall -Wextra -Werror -I%s/runtime/include "
                 "-I%s/targets/common -c %s/targets/stm32l4r5/fram.c %s/runtime/src/nvm.c",
                 tmp, opt[i], src, src, src, src);
        assert_int_equal(system(cmd), 0);
    }
    snprintf(cmd, sizeof cmd, "arm-none-eabi-nm %s/fram.o | grep -q ' T reef_fram_init'", tmp);
    assert_int_equal(system(cmd), 0);
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    if (!have_arm_gcc()) {
        printf("[  SKIPPED ] arm-none-eabi-gcc is not installed (scripts/deps.sh)\n");
        return 77;
    }
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_fram_driver_compiles)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
