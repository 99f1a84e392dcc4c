/* The NVM record: a failure after any single byte or word written during a
 * commit (the word being written torn: each bit old or new) leaves the old
 * record or the new one, never anything else; exhaustively over every
 * failure point of a few commits, and over random failure points of random
 * commit sequences. Backends: FRAM-like (byte writes in place), word
 * writes, and flash-like (erase to 0xFF, program each unit once, clearing
 * bits only). */
#include "testing.h"

#include "reef/nvm.h"

/* A backend over a host array that loses power after `budget` write units
 * (or erased pages): the unit in flight is torn, later calls fail. */
typedef struct faulty {
    uint8_t *mem;
    uint32_t size;
    long budget; /* units still written before the failure; < 0: never fails */
    int failed;
    int misuse;  /* flash unit programmed without an erase first */
    long units;  /* units written (and pages erased) so far */
    uint64_t rng;
    reef_nvm nvm;
} faulty;

static uint32_t next_rand(uint64_t *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(*s >> 33);
}

/* Each bit of the torn unit is old or new at random. */
static void tear(faulty *f, uint8_t *dst, const uint8_t *want, uint32_t bytes)
{
    for (uint32_t i = 0; i < bytes; i++) {
        uint8_t mask = (uint8_t)next_rand(&f->rng);
        dst[i] = (uint8_t)((dst[i] & ~mask) | (want[i] & mask));
    }
}

/* Spends one unit of budget; returns 0 when the unit may complete. */
static int spend(faulty *f)
{
    if (f->failed) return -1;
    if (f->budget == 0) {
        f->failed = 1;
        return 1;
    }
    if (f->budget > 0) f->budget--;
    f->units++;
    return 0;
}

static int f_read(void *ctx, uint32_t at, void *dst, uint32_t bytes)
{
    faulty *f = ctx;
    assert_true(at + bytes <= f->size);
    memcpy(dst, f->mem + at, bytes);
    return 0;
}

static int f_write(void *ctx, uint32_t at, const void *src, uint32_t bytes)
{
    faulty *f = ctx;
    uint32_t unit = f->nvm.write_unit;
    const uint8_t *in = src;
    assert_int_equal(at % unit, 0);
    assert_int_equal(bytes % unit, 0);
    assert_true(at + bytes <= f->size);
    for (uint32_t u = 0; u < bytes; u += unit) {
        uint8_t want[16];
        memcpy(want, in + u, unit);
        if (f->nvm.erase_size) { /* programming only clears bits, once per erase */
            for (uint32_t i = 0; i < unit; i++) {
                if (f->mem[at + u + i] != 0xFF) f->misuse = 1;
                want[i] &= f->mem[at + u + i];
            }
        }
        int s = spend(f);
        if (s < 0) return -1;
        if (s > 0) {
            tear(f, f->mem + at + u, want, unit);
            return -1;
        }
        memcpy(f->mem + at + u, want, unit);
    }
    return 0;
}

static int f_erase(void *ctx, uint32_t at, uint32_t bytes)
{
    faulty *f = ctx;
    uint32_t page = f->nvm.erase_size;
    uint8_t ones[4096];
    assert_true(page <= sizeof ones);
    memset(ones, 0xFF, sizeof ones);
    assert_int_equal(at % page, 0);
    assert_int_equal(bytes % page, 0);
    for (uint32_t p = 0; p < bytes; p += page) {
        int s = spend(f);
        if (s < 0) return -1;
        if (s > 0) {
            tear(f, f->mem + at + p, ones, page);
            return -1;
        }
        memset(f->mem + at + p, 0xFF, page);
    }
    return 0;
}

typedef struct geometry {
    const char *name;
    uint32_t write_unit, erase_size;
} geometry;

static const geometry geometries[] = {
    {"fram (byte writes)", 1, 0},
    {"word writes", 4, 0},
    {"flash (8-byte units, 256-byte pages)", 8, 256},
};

enum { NVM_SIZE = 4096, REC_AT = 512, CAPACITY = 200 };

static void faulty_init(faulty *f, uint8_t *mem, const geometry *g, uint64_t seed)
{
    memset(f, 0, sizeof *f);
    f->mem = mem;
    f->size = NVM_SIZE;
    f->budget = -1;
    f->rng = seed;
    f->nvm.ctx = f;
    f->nvm.size = NVM_SIZE;
    f->nvm.write_unit = g->write_unit;
    f->nvm.erase_size = g->erase_size;
    f->nvm.read = f_read;
    f->nvm.write = f_write;
    f->nvm.erase = g->erase_size ? f_erase : NULL;
}

/* A fresh device: flash erased, FRAM holding garbage. */
static void fresh_memory(uint8_t *mem, const geometry *g, uint64_t seed)
{
    if (g->erase_size) {
        memset(mem, 0xFF, NVM_SIZE);
        return;
    }
    for (int i = 0; i < NVM_SIZE; i++) mem[i] = (uint8_t)next_rand(&seed);
}

/* "Reboot" and load: returns the length, or -1 when empty. */
static int reboot_load(faulty *f, uint32_t slot_size, uint8_t *out)
{
    reef_nvm_record rec;
    uint32_t length = 0;
    f->failed = 0;
    f->budget = -1;
    assert_int_equal(reef_nvm_record_init(&rec, &f->nvm, REC_AT, slot_size), REEF_NVM_OK);
    reef_nvm_status s = reef_nvm_record_load(&rec, out, CAPACITY, &length, NULL);
    if (s == REEF_NVM_EMPTY) return -1;
    assert_int_equal(s, REEF_NVM_OK);
    return (int)length;
}

static int same(int length, const uint8_t *got, int want_length, const uint8_t *want)
{
    return length == want_length && (length <= 0 || memcmp(got, want, (size_t)length) == 0);
}

static void random_payload(uint8_t *p, int *length, uint64_t *rng)
{
    *length = (int)(next_rand(rng) % (CAPACITY + 1));
    for (int i = 0; i < *length; i++) p[i] = (uint8_t)next_rand(rng);
}

static void test_crc32_check_value(void **state)
{
    (void)state;
    assert_int_equal(reef_crc32(0, "123456789", 9), 0xCBF43926u);
    assert_int_equal(reef_crc32(reef_crc32(0, "1234", 4), "56789", 5), 0xCBF43926u);
}

static void test_empty_then_commit_load(void **state)
{
    (void)state;
    for (size_t g = 0; g < sizeof geometries / sizeof *geometries; g++) {
        static uint8_t mem[NVM_SIZE];
        uint8_t out[CAPACITY];
        faulty f;
        reef_nvm_record rec;
        fresh_memory(mem, &geometries[g], 7);
        faulty_init(&f, mem, &geometries[g], 1);
        uint32_t slot = reef_nvm_record_slot_size(&f.nvm, CAPACITY);
        assert_int_equal(reef_nvm_record_init(&rec, &f.nvm, REC_AT, slot), REEF_NVM_OK);
        uint32_t length;
        assert_int_equal(reef_nvm_record_load(&rec, out, CAPACITY, &length, NULL), REEF_NVM_EMPTY);
        assert_int_equal(reef_nvm_record_commit(&rec, "hello", 5), REEF_NVM_OK);
        assert_int_equal(reef_nvm_record_commit(&rec, "world!", 6), REEF_NVM_OK);
        assert_int_equal(reboot_load(&f, slot, out), 6);
        assert_memory_equal(out, "world!", 6);
        assert_int_equal(f.misuse, 0);
        /* the cost model counts exactly what the backend wrote */
        long before = f.units;
        assert_int_equal(reef_nvm_record_init(&rec, &f.nvm, REC_AT, slot), REEF_NVM_OK);
        assert_int_equal(reef_nvm_record_commit(&rec, out, 37), REEF_NVM_OK);
        if (!geometries[g].erase_size)
            assert_int_equal((f.units - before) * (long)geometries[g].write_unit,
                             (long)reef_nvm_record_commit_bytes(&f.nvm, 37));
    }
}

/* Every failure point of every commit of a sequence: old or new. */
static void test_every_failure_point(void **state)
{
    (void)state;
    long cases = 0;
    for (size_t g = 0; g < sizeof geometries / sizeof *geometries; g++) {
        static uint8_t mem[NVM_SIZE], saved[NVM_SIZE];
        uint8_t old[CAPACITY], new[CAPACITY], out[CAPACITY];
        int old_length = -1, new_length;
        uint64_t rng = 1234 + g;
        faulty f;
        fresh_memory(mem, &geometries[g], rng);
        faulty_init(&f, mem, &geometries[g], rng);
        uint32_t slot = reef_nvm_record_slot_size(&f.nvm, CAPACITY);
        for (int commit = 0; commit < 8; commit++) {
            random_payload(new, &new_length, &rng);
            memcpy(saved, mem, NVM_SIZE);
            /* how many units a complete commit writes */
            reef_nvm_record rec;
            assert_int_equal(reef_nvm_record_init(&rec, &f.nvm, REC_AT, slot), REEF_NVM_OK);
            f.units = 0;
            assert_int_equal(reef_nvm_record_commit(&rec, new, (uint32_t)new_length), REEF_NVM_OK);
            long total = f.units;
            assert_true(total >= 3);
            for (long fail_at = 0; fail_at <= total; fail_at++) {
                for (int tearing = 0; tearing < 3; tearing++) { /* three tearings of the unit in flight */
                    memcpy(mem, saved, NVM_SIZE);
                    assert_int_equal(reef_nvm_record_init(&rec, &f.nvm, REC_AT, slot), REEF_NVM_OK);
                    f.budget = fail_at;
                    f.failed = 0;
                    reef_nvm_status s = reef_nvm_record_commit(&rec, new, (uint32_t)new_length);
                    assert_int_equal(s, fail_at < total ? REEF_NVM_IO_ERROR : REEF_NVM_OK);
                    /* The argument does not rest on the CRC: until the
                     * commit word's own units, the target slot's commit
                     * word is not MAGIC (tearing those units may complete
                     * it, after the whole body is written). */
                    long word_units = geometries[g].write_unit < 4 ? 4 / (long)geometries[g].write_unit : 1;
                    int32_t target = rec.newest == 0 ? 1 : 0;
                    uint32_t word;
                    memcpy(&word, mem + REC_AT + (uint32_t)target * slot, 4);
                    uint32_t target_at = REC_AT + (uint32_t)target * slot;
                    int untouched = memcmp(mem + target_at, saved + target_at, slot) == 0;
                    if (fail_at < total - word_units && word == REEF_NVM_RECORD_MAGIC && !untouched)
                        fail_msg("%s: commit word complete after %ld of %ld units", geometries[g].name,
                                 fail_at, total);
                    int got = reboot_load(&f, slot, out);
                    int is_old = same(got, out, old_length, old), is_new = same(got, out, new_length, new);
                    if (!is_old && !is_new)
                        fail_msg("%s, commit %d, failure after %ld of %ld units: neither old nor new",
                                 geometries[g].name, commit, fail_at, total);
                    if (fail_at == total) assert_true(is_new);
                    /* and the next commit on the torn state works */
                    assert_int_equal(reef_nvm_record_init(&rec, &f.nvm, REC_AT, slot), REEF_NVM_OK);
                    assert_int_equal(reef_nvm_record_commit(&rec, "next", 4), REEF_NVM_OK);
                    assert_int_equal(reboot_load(&f, slot, out), 4);
                    assert_int_equal(f.misuse, 0);
                    cases++;
                    if (fail_at == total) break;
                }
            }
            /* move on from the committed new record */
            memcpy(mem, saved, NVM_SIZE);
            assert_int_equal(reef_nvm_record_init(&rec, &f.nvm, REC_AT, slot), REEF_NVM_OK);
            assert_int_equal(reef_nvm_record_commit(&rec, new, (uint32_t)new_length), REEF_NVM_OK);
            memcpy(old, new, (size_t)new_length);
            old_length = new_length;
        }
    }
    printf("[ INFO     ] %ld failure points checked, all old-or-new\n", cases);
}

/* Random sequences of commits, each cut at a random point or not at all. */
static void test_random_failure_points(void **state)
{
    (void)state;
    int scenarios = testing_sanitizer_run() ? 300 : 3000;
    long failures = 0;
    for (int sc = 0; sc < scenarios; sc++) {
        static uint8_t mem[NVM_SIZE];
        uint8_t cur[CAPACITY], new[CAPACITY], out[CAPACITY];
        int cur_length = -1, new_length;
        uint64_t rng = 99991u * (uint64_t)sc + 17u;
        const geometry *g = &geometries[next_rand(&rng) % 3u];
        faulty f;
        fresh_memory(mem, g, rng);
        faulty_init(&f, mem, g, rng ^ 0x5555);
        uint32_t slot = reef_nvm_record_slot_size(&f.nvm, CAPACITY);
        for (int step = 0; step < 12; step++) {
            reef_nvm_record rec;
            random_payload(new, &new_length, &rng);
            assert_int_equal(reef_nvm_record_init(&rec, &f.nvm, REC_AT, slot), REEF_NVM_OK);
            int cut = next_rand(&rng) % 3u != 0;
            f.budget = cut ? (long)(next_rand(&rng) % 80u) : -1;
            f.failed = 0;
            reef_nvm_status s = reef_nvm_record_commit(&rec, new, (uint32_t)new_length);
            failures += s != REEF_NVM_OK;
            int got = reboot_load(&f, slot, out);
            int is_old = same(got, out, cur_length, cur), is_new = same(got, out, new_length, new);
            if (!is_old && !is_new) fail_msg("scenario %d step %d (%s): neither old nor new", sc, step, g->name);
            if (s == REEF_NVM_OK) assert_true(is_new);
            if (got >= 0) memcpy(cur, out, (size_t)got);
            cur_length = got;
            assert_int_equal(f.misuse, 0);
        }
    }
    printf("[ INFO     ] %d random scenarios, %ld commits cut by a failure\n", scenarios, failures);
    assert_true(failures > scenarios);
}

static void test_sequence_wraps(void **state)
{
    (void)state;
    static uint8_t mem[NVM_SIZE];
    uint8_t out[CAPACITY];
    uint32_t seq = 0, length = 0;
    faulty f;
    reef_nvm_record rec;
    fresh_memory(mem, &geometries[0], 3);
    faulty_init(&f, mem, &geometries[0], 3);
    uint32_t slot = reef_nvm_record_slot_size(&f.nvm, CAPACITY);
    assert_int_equal(reef_nvm_record_init(&rec, &f.nvm, REC_AT, slot), REEF_NVM_OK);
    assert_int_equal(reef_nvm_record_commit(&rec, "a", 1), REEF_NVM_OK);
    rec.newest_seq = 0xFFFFFFFEu; /* pretend 2^32 - 2 commits happened */
    assert_int_equal(reef_nvm_record_commit(&rec, "b", 1), REEF_NVM_OK); /* seq 0xFFFFFFFF */
    assert_int_equal(reef_nvm_record_commit(&rec, "c", 1), REEF_NVM_OK); /* seq 0 */
    assert_int_equal(reef_nvm_record_init(&rec, &f.nvm, REC_AT, slot), REEF_NVM_OK);
    assert_int_equal(reef_nvm_record_load(&rec, out, CAPACITY, &length, &seq), REEF_NVM_OK);
    assert_int_equal(seq, 0);
    assert_int_equal(out[0], 'c');
}

static void test_bad_geometry(void **state)
{
    (void)state;
    static uint8_t mem[NVM_SIZE];
    uint8_t big[CAPACITY + 64] = {0};
    faulty f;
    reef_nvm_record rec;
    faulty_init(&f, mem, &geometries[2], 1);
    uint32_t slot = reef_nvm_record_slot_size(&f.nvm, CAPACITY);
    assert_int_equal(reef_nvm_record_init(&rec, &f.nvm, 100, slot), REEF_NVM_ARG_ERROR); /* not page aligned */
    assert_int_equal(reef_nvm_record_init(&rec, &f.nvm, REC_AT, 3000), REEF_NVM_ARG_ERROR);
    assert_int_equal(reef_nvm_record_init(&rec, &f.nvm, NVM_SIZE - slot, slot), REEF_NVM_ARG_ERROR);
    f.nvm.write_unit = 3;
    assert_int_equal(reef_nvm_record_init(&rec, &f.nvm, REC_AT, slot), REEF_NVM_ARG_ERROR);
    f.nvm.write_unit = 8;
    memset(mem, 0xFF, NVM_SIZE);
    assert_int_equal(reef_nvm_record_init(&rec, &f.nvm, REC_AT, slot), REEF_NVM_OK);
    assert_int_equal(reef_nvm_record_commit(&rec, big, slot), REEF_NVM_ARG_ERROR); /* larger than a slot */
}

static void test_memory_backend(void **state)
{
    (void)state;
    static uint32_t words[NVM_SIZE / 4];
    uint8_t *mem = (uint8_t *)words, out[CAPACITY];
    reef_nvm nvm;
    reef_nvm_record rec;
    uint32_t length = 0;
    reef_nvm_mem_init(&nvm, mem, NVM_SIZE);
    uint32_t slot = reef_nvm_record_slot_size(&nvm, CAPACITY);
    assert_int_equal(reef_nvm_record_init(&rec, &nvm, 0, slot), REEF_NVM_OK);
    assert_int_equal(reef_nvm_record_commit(&rec, "odd length", 10), REEF_NVM_OK);
    assert_int_equal(reef_nvm_record_init(&rec, &nvm, 0, slot), REEF_NVM_OK);
    assert_int_equal(reef_nvm_record_load(&rec, out, CAPACITY, &length, NULL), REEF_NVM_OK);
    assert_int_equal(length, 10);
    assert_memory_equal(out, "odd length", 10);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc32_check_value),
        cmocka_unit_test(test_empty_then_commit_load),
        cmocka_unit_test(test_every_failure_point),
        cmocka_unit_test(test_random_failure_points),
        cmocka_unit_test(test_sequence_wraps),
        cmocka_unit_test(test_bad_geometry),
        cmocka_unit_test(test_memory_backend),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
