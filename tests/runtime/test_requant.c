/* Requantization: TFLite's rounding at its edges (ties, shifts, saturation,
 * multipliers near 2^31), checked against hand-worked values and the
 * reference written from the formula. */
#include "testing.h"

#include "reef/requant.h"
#include "ref_kernels.h"

typedef struct requant_case {
    const char *what;
    int32_t acc, multiplier, shift;
    int32_t expected;
} requant_case;

static const requant_case requant_cases[] = {
    {"tie +1.5 rounds up", 3, 1 << 30, 0, 2},
    {"tie -1.5 rounds up (high mul)", -3, 1 << 30, 0, -1},
    {"tie +0.5 in the shift rounds away", 1, INT32_MAX, -1, 1},
    {"tie -0.5 in the shift rounds away", -2, 1 << 30, -1, -1},
    {"tie +2.5 in the shift", 5 << 1, 1 << 30, -1, 3},
    {"tie -2.5 in the shift", -(5 << 1), 1 << 30, -1, -3},
    {"below tie -2.25", -9, 1 << 30, -1, -2},
    {"shift 0 identity-ish", 1000, INT32_MAX, 0, 1000},
    {"largest right shift", INT32_MAX, INT32_MAX, -31, 1},
    {"largest right shift, negative", INT32_MIN, INT32_MAX, -31, -1},
    {"positive shift", 100, 1 << 30, 3, 400},
    {"left shift wraps like TFLite", 3, 1 << 30, 30, -(1 << 29)},
    {"INT32_MIN * INT32_MIN saturates", INT32_MIN, INT32_MIN, 0, INT32_MAX},
    {"multiplier near 2^31", INT32_MIN, INT32_MAX, 0, -INT32_MAX},
    {"multiplier near 2^31, +max", INT32_MAX, INT32_MAX, 0, INT32_MAX - 1},
    {"zero multiplier", 123456, 0, -5, 0},
    {"small negative", -1, 1 << 30, 0, 0},
};

static void test_requant_cases(void **state)
{
    (void)state;
    int failures = 0;
    for (size_t k = 0; k < sizeof requant_cases / sizeof requant_cases[0]; k++) {
        const requant_case *c = &requant_cases[k];
        int32_t got = reef_requantize(c->acc, c->multiplier, c->shift);
        int32_t ref = ref_requant(c->acc, c->multiplier, c->shift);
        if (got != c->expected || ref != c->expected) {
            printf("case '%s': acc %d M %d shift %d: runtime %d, reference %d, expected %d\n",
                   c->what, c->acc, c->multiplier, c->shift, got, ref, c->expected);
            failures++;
        }
    }
    assert_int_equal(failures, 0);
}

static void test_helpers_edges(void **state)
{
    (void)state;
    assert_int_equal(reef_doubling_high_mul(INT32_MIN, INT32_MIN), INT32_MAX);
    assert_int_equal(reef_doubling_high_mul(1 << 15, 1 << 15), 1);      /* +0.5 -> 1 */
    assert_int_equal(reef_doubling_high_mul(-(1 << 15), 1 << 15), 0);   /* -0.5 -> 0 */
    assert_int_equal(reef_divide_by_pot(5, 1), 3);
    assert_int_equal(reef_divide_by_pot(-5, 1), -3);
    assert_int_equal(reef_divide_by_pot(-1, 1), -1);
    assert_int_equal(reef_divide_by_pot(7, 0), 7);
    assert_int_equal(reef_divide_by_pot(INT32_MIN, 31), -1);
    assert_int_equal(reef_divide_by_pot(1 << 30, 31), 1);
    assert_int_equal(reef_divide_by_pot((1 << 30) - 1, 31), 0);
    assert_int_equal(reef_requantize_s8(1 << 20, 1 << 30, 0, 5, -128, 127), 127);
    assert_int_equal(reef_requantize_s8(-(1 << 20), 1 << 30, 0, 5, -128, 127), -128);
    assert_int_equal(reef_requantize_s8(20, 1 << 30, 0, 5, 0, 6), 6);
}

static uint64_t lcg_state = 88172645463325252ull;
static uint32_t next_u32(void)
{
    lcg_state ^= lcg_state << 13;
    lcg_state ^= lcg_state >> 7;
    lcg_state ^= lcg_state << 17;
    return (uint32_t)(lcg_state >> 16);
}

/* Random sweep, biased toward the edges: small and extreme accumulators,
 * multipliers in [2^30, 2^31) and at the ends, shifts over [-31, 30]. */
static void test_random_sweep(void **state)
{
    (void)state;
    const int n = testing_sanitizer_run() ? 200000 : 2000000;
    int failures = 0;
    for (int k = 0; k < n; k++) {
        uint32_t r = next_u32();
        int32_t acc = (int32_t)next_u32();
        if (r % 4 == 0) acc >>= next_u32() % 31;
        if (r % 97 == 0) acc = (r & 128) ? INT32_MIN : INT32_MAX;
        int32_t m = (int32_t)((1u << 30) | (next_u32() >> 2));
        if (r % 89 == 0) m = (r & 256) ? INT32_MAX : (1 << 30);
        if (r % 101 == 0) m = INT32_MIN; /* only reachable through the high mul */
        int32_t shift = (int32_t)(next_u32() % 62) - 31;
        if (m == INT32_MIN) shift = 0;
        int32_t got = reef_requantize(acc, m, shift), ref = ref_requant(acc, m, shift);
        if (got != ref && failures++ < 10)
            printf("acc %d M %d shift %d: runtime %d reference %d\n", acc, m, shift, got, ref);
    }
    assert_int_equal(failures, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_requant_cases),
        cmocka_unit_test(test_helpers_edges),
        cmocka_unit_test(test_random_sweep),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
