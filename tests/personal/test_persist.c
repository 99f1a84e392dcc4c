/* Persisting the trained tail (reef_personal_persist / _restore over the
 * NVM record of reef/nvm.h): a power failure after every single byte of a
 * commit leaves, after reboot, exactly the old or exactly the new
 * parameters; a corrupted copy is refused (the other one, or the deployed
 * weights, are used); a record of another length is refused and leaves the
 * parameters alone. Byte-granular (FRAM-like) and 8-byte, page-erased
 * (flash-like) backends. */
#include "testing.h"

#include "reef/personal.h"

#define NPARAM 37
#define NVM_BYTES 4096

/* A memory-backed NVM whose writes stop (the power fails) after budget
 * bytes: the write in progress is cut there, a prefix of it done. */
typedef struct failing_nvm {
    uint8_t mem[NVM_BYTES];
    long budget; /* bytes still allowed; < 0: unlimited */
} failing_nvm;

static int f_read(void *ctx, uint32_t at, void *dst, uint32_t n)
{
    memcpy(dst, ((failing_nvm *)ctx)->mem + at, n);
    return 0;
}

static int f_write(void *ctx, uint32_t at, const void *src, uint32_t n)
{
    failing_nvm *f = ctx;
    uint32_t k = n;
    if (f->budget >= 0 && (long)n > f->budget) k = (uint32_t)f->budget;
    memcpy(f->mem + at, src, k);
    if (f->budget >= 0) f->budget -= k;
    return k == n ? 0 : 1;
}

static int f_erase(void *ctx, uint32_t at, uint32_t n)
{
    failing_nvm *f = ctx;
    /* an erase is cut like a write: a prefix of the page turns to 0xFF */
    uint32_t k = n;
    if (f->budget >= 0 && (long)n > f->budget) k = (uint32_t)f->budget;
    memset(f->mem + at, 0xFF, k);
    if (f->budget >= 0) f->budget -= k;
    return k == n ? 0 : 1;
}

typedef struct backend_case {
    const char *name;
    uint32_t write_unit, erase_size;
} backend_case;

static const backend_case backends[] = {{"fram (byte)", 1, 0}, {"flash (8-byte units, 256-byte pages)", 8, 256}};

static void make_nvm(reef_nvm *nvm, failing_nvm *f, const backend_case *b)
{
    memset(nvm, 0, sizeof *nvm);
    nvm->ctx = f;
    nvm->size = NVM_BYTES;
    nvm->write_unit = b->write_unit;
    nvm->erase_size = b->erase_size;
    nvm->read = f_read;
    nvm->write = f_write;
    nvm->erase = b->erase_size ? f_erase : NULL;
}

/* A session with only what persistence touches: the tail's train_count. */
static reef_tail tail = {.train_count = NPARAM};

static void fill_params(float *p, float base)
{
    for (int i = 0; i < NPARAM; i++) p[i] = base + 0.25f * (float)i;
}

static uint32_t slot_bytes(const reef_nvm *nvm) { return reef_nvm_record_slot_size(nvm, NPARAM * 4); }

/* Reboot: a fresh record over the same memory, params restored from it. */
static reef_nvm_status reboot_restore(const reef_nvm *nvm, float *params)
{
    reef_nvm_record rec;
    reef_personal p;
    memset(&p, 0, sizeof p);
    p.tail = &tail;
    p.params = params;
    assert_true(reef_nvm_record_init(&rec, nvm, 0, slot_bytes(nvm)) >= 0);
    return reef_personal_restore(&p, &rec);
}

static void test_failure_at_every_byte(void **state)
{
    (void)state;
    for (size_t b = 0; b < sizeof backends / sizeof backends[0]; b++) {
        float old_p[NPARAM], new_p[NPARAM], got[NPARAM];
        fill_params(old_p, 1.0f);
        fill_params(new_p, -7.0f);
        static failing_nvm f;
        reef_nvm nvm;
        make_nvm(&nvm, &f, &backends[b]);
        long total = -1;
        int saw_old = 0, saw_new = 0;
        for (long cut = 0; total < 0 || cut <= total; cut++) {
            memset(f.mem, 0xFF, sizeof f.mem);
            f.budget = -1;
            reef_nvm_record rec;
            reef_personal p = {.tail = &tail, .params = old_p};
            assert_true(reef_nvm_record_init(&rec, &nvm, 0, slot_bytes(&nvm)) >= 0);
            assert_int_equal(reef_personal_persist(&p, &rec), REEF_NVM_OK); /* the old model, committed */
            f.budget = cut;
            p.params = new_p;
            reef_nvm_status st = reef_personal_persist(&p, &rec);
            if (st == REEF_NVM_OK && total < 0) total = cut; /* the first cut that lets the commit finish */
            f.budget = -1;
            memset(got, 0, sizeof got);
            assert_int_equal(reboot_restore(&nvm, got), REEF_NVM_OK);
            int is_old = !memcmp(got, old_p, sizeof got), is_new = !memcmp(got, new_p, sizeof got);
            if (!is_old && !is_new) fail_msg("%s: power failure after %ld bytes: a mix of old and new", backends[b].name, cut);
            if (st == REEF_NVM_OK && !is_new) fail_msg("%s: a finished commit restored the old model", backends[b].name);
            saw_old += is_old, saw_new += is_new;
        }
        printf("%s: %ld failure points, old %d, new %d\n", backends[b].name, total + 1, saw_old, saw_new);
        assert_true(saw_old > 0 && saw_new > 0);
    }
}

static void test_corrupt_copy_refused(void **state)
{
    (void)state;
    const backend_case *b = &backends[0];
    static failing_nvm f;
    reef_nvm nvm;
    make_nvm(&nvm, &f, b);
    memset(f.mem, 0xFF, sizeof f.mem);
    f.budget = -1;
    float a[NPARAM], bb[NPARAM], got[NPARAM];
    fill_params(a, 1.0f);
    fill_params(bb, 2.0f);
    reef_nvm_record rec;
    reef_personal p = {.tail = &tail, .params = a};
    assert_true(reef_nvm_record_init(&rec, &nvm, 0, slot_bytes(&nvm)) >= 0);
    assert_int_equal(reef_personal_persist(&p, &rec), REEF_NVM_OK); /* slot 0: a */
    p.params = bb;
    assert_int_equal(reef_personal_persist(&p, &rec), REEF_NVM_OK); /* slot 1: b, newest */
    uint32_t hdr = reef_nvm_record_header_size(&nvm), slot = slot_bytes(&nvm);
    f.mem[slot + hdr + 5] ^= 0x10; /* one flipped bit in b's payload */
    assert_int_equal(reboot_restore(&nvm, got), REEF_NVM_OK);
    assert_memory_equal(got, a, sizeof got); /* b refused, a loaded */
    f.mem[hdr + 9] ^= 0x01;                  /* and a corrupt too */
    float deployed[NPARAM];
    fill_params(deployed, 5.0f);
    memcpy(got, deployed, sizeof got);
    assert_int_equal(reboot_restore(&nvm, got), REEF_NVM_EMPTY);
    assert_memory_equal(got, deployed, sizeof got); /* nothing loaded: the deployed weights stay */
}

static void test_other_length_refused(void **state)
{
    (void)state;
    static failing_nvm f;
    reef_nvm nvm;
    make_nvm(&nvm, &f, &backends[0]);
    memset(f.mem, 0xFF, sizeof f.mem);
    f.budget = -1;
    float a[NPARAM], got[NPARAM];
    fill_params(a, 3.0f);
    reef_tail other = {.train_count = NPARAM - 1};
    reef_nvm_record rec;
    reef_personal p = {.tail = &other, .params = a};
    assert_true(reef_nvm_record_init(&rec, &nvm, 0, slot_bytes(&nvm)) >= 0);
    assert_int_equal(reef_personal_persist(&p, &rec), REEF_NVM_OK);
    memset(got, 0x5A, sizeof got);
    float before[NPARAM];
    memcpy(before, got, sizeof got);
    assert_int_equal(reboot_restore(&nvm, got), REEF_NVM_ARG_ERROR);
    assert_memory_equal(got, before, sizeof got);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_failure_at_every_byte),
        cmocka_unit_test(test_corrupt_copy_refused),
        cmocka_unit_test(test_other_length_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
