/* reef under `mpirun -np N` (issue 18, docs/mpi.md). On a tiny
 * DeepFish-style set made here (3 habitats x 2 classes x 8 JPEGs):
 *  - prep: 2 ranks write the same dataset bytes as one process;
 *  - train --chunk: 1 process and 2 and 4 ranks write the same checkpoint
 *    bytes; more ranks without --chunk are refused, nothing written;
 *  - cv: folds over 2 ranks print the same table as one process;
 *  - a rank that cannot read an image of its slice: every rank exits
 *    nonzero, rank 0 names the file, no output file exists.
 * mpirun runs with --oversubscribe (and --allow-run-as-root as root). */
#include "testing.h"

#include <stdarg.h>

#include "fixtures.h"

/* a batch-normed stem so that the chunks' statistics are exercised */
static const char tiny_arch[] = "stem k3 s2 c8 relu6; gap; fc";

typedef struct fixture {
    char dir[256], root[300], ds[300];
    char bad_image[700];  /* the last listed image: in the last rank's slice */
} fixture;

static const char *mpirun_prefix(void)
{
    static char prefix[256];
    snprintf(prefix, sizeof prefix, "mpirun --oversubscribe%s", getuid() == 0 ? " --allow-run-as-root" : "");
    return prefix;
}

/* Runs `[mpirun -np N] reef ARGS` (N = 0: no mpirun), output into out;
 * returns the exit status. */
static int reef(int ranks, char *out, size_t size, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int reef(int ranks, char *out, size_t size, const char *fmt, ...)
{
    char args[3000], cmd[3600], pre[300] = "";
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    if (ranks) snprintf(pre, sizeof pre, "%s -np %d ", mpirun_prefix(), ranks);
    snprintf(cmd, sizeof cmd, "%s'%s' %s", pre, getenv("REEF_BIN"), args);
    return testing_run(cmd, out, size);
}

static void assert_same_bytes(const char *a, const char *b)
{
    size_t na, nb;
    uint8_t *da = fx_read(a, &na), *db = fx_read(b, &nb);
    if (na != nb || memcmp(da, db, na)) fail_msg("%s (%zu bytes) and %s (%zu bytes) differ", a, na, b, nb);
    free(da);
    free(db);
}

static int exists(const char *path) { return access(path, F_OK) == 0; }

static int setup(void **state)
{
    if (!REEF_TEST_MPI_BUILT) {
        printf("[  SKIPPED ] reef is built without MPI (-DREEF_MPI=OFF)\n");
        return 0;
    }
    if (testing_system("command -v mpirun >/dev/null 2>&1") != 0) {
        printf("[  SKIPPED ] mpirun is not installed (scripts/deps.sh installs openmpi-bin)\n");
        return 0;
    }
    if (!testing_reef_bin()) return 0;
    /* for the sanitizer build: Open MPI's own allocations at exit are not
     * reef's leaks; keep its plugins loaded so their frames have names */
    char lsan[1200];
    snprintf(lsan, sizeof lsan, "%s%ssuppressions=%s/tests/mpi/lsan-openmpi.supp:print_suppressions=0:fast_unwind_on_malloc=0",
             getenv("LSAN_OPTIONS") ? getenv("LSAN_OPTIONS") : "", getenv("LSAN_OPTIONS") ? ":" : "",
             getenv("REEF_SOURCE") ? getenv("REEF_SOURCE") : "../..");
    setenv("LSAN_OPTIONS", lsan, 1);
    setenv("OMPI_MCA_mca_base_component_disable_dlclose", "1", 1);
    setenv("PMIX_MCA_mca_base_component_disable_dlclose", "1", 1);
    fixture *f = calloc(1, sizeof *f);
    testing_tmpdir(f->dir, sizeof f->dir, "mpi");
    snprintf(f->root, sizeof f->root, "%s/deepfish", f->dir);
    snprintf(f->ds, sizeof f->ds, "%s/d.ds", f->dir);
    char path[700], csv[8192] = "ID,labels\n", out[8192];
    static const char *const habitats[] = {"7117", "7393", "9852"};
    uint8_t img[48 * 48];
    for (int h = 0; h < 3; h++)
        for (int c = 0; c < 2; c++)
            for (int i = 0; i < 8; i++) {
                const char *cls = c ? "valid" : "empty";
                snprintf(path, sizeof path, "%s/Classification/%s/%s", f->root, habitats[h], cls);
                fx_mkdirs(path);
                char id[128];
                snprintf(id, sizeof id, "%s/%s/%s_%d", habitats[h], cls, habitats[h], i);
                snprintf(path, sizeof path, "%s/Classification/%s.jpg", f->root, id);
                fx_smooth(img, 48, 48, 1, (unsigned)(h * 100 + c * 10 + i));
                for (int k = 0; c && k < 48 * 48; k++)  // a bright "fish" in the valid frames
                    if (k % 48 > 16 && k % 48 < 32 && k / 48 > 16 && k / 48 < 32) img[k] = 230;
                fx_write_jpeg(path, img, 48, 48, 1, 90);
                snprintf(csv + strlen(csv), sizeof csv - strlen(csv), "%s,%d\n", id, c);
                snprintf(f->bad_image, sizeof f->bad_image, "%s", path);
            }
    snprintf(path, sizeof path, "%s/Classification/train.csv", f->root);
    fx_write_text(path, csv);
    if (reef(0, out, sizeof out, "prep --format deepfish --root '%s' --threads 1 -o '%s'", f->root, f->ds))
        fail_msg("prep: %s", out);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    if (f) {
        fx_rm_rf(f->dir);
        free(f);
    }
    return 0;
}

#define FIXTURE(f)                      \
    fixture *f = *state;                \
    if (!f) {                           \
        skip();                         \
        return;                         \
    }

static void test_prep_same_bytes(void **state)
{
    FIXTURE(f);
    char out[8192], two[400];
    snprintf(two, sizeof two, "%s/two.ds", f->dir);
    int rc = reef(2, out, sizeof out, "prep --format deepfish --root '%s' --threads 1 -o '%s'", f->root, two);
    if (rc) fail_msg("mpirun -np 2 reef prep: exit %d\n%s", rc, out);
    assert_same_bytes(f->ds, two);
    // rank 0 alone prints: one summary table, not two
    const char *first = strstr(out, "listed"), *second = first ? strstr(first + 1, "listed") : NULL;
    assert_non_null(first);
    assert_null(second);
}

static void test_train_same_bits(void **state)
{
    FIXTURE(f);
    char out[8192], one[400], path[400];
    snprintf(one, sizeof one, "%s/t1.ckpt", f->dir);
    const char *recipe = "--epochs 2 --batch 16 --chunk 4 --threads 1 --augment flip,shift";
    int rc = reef(0, out, sizeof out, "train --arch '%s' --train '%s' %s -o '%s'", tiny_arch, f->ds, recipe, one);
    if (rc) fail_msg("reef train: exit %d\n%s", rc, out);
    const int most = testing_sanitizer_run() ? 2 : 4;  // ASan makes every rank's start-up slow
    for (int n = 1; n <= most; n *= 2) {
        snprintf(path, sizeof path, "%s/t%d-ranks.ckpt", f->dir, n);
        rc = reef(n, out, sizeof out, "train --arch '%s' --train '%s' %s -o '%s'", tiny_arch, f->ds, recipe, path);
        if (rc) fail_msg("mpirun -np %d reef train: exit %d\n%s", n, rc, out);
        assert_same_bytes(one, path);
    }
    // without chunks the batch cannot be shared out: refused before any work
    snprintf(path, sizeof path, "%s/nochunk.ckpt", f->dir);
    rc = reef(2, out, sizeof out, "train --arch '%s' --train '%s' --epochs 1 --batch 16 --threads 1 -o '%s'",
              tiny_arch, f->ds, path);
    if (rc == 0 || !strstr(out, "--chunk")) fail_msg("2 ranks without --chunk: exit %d\n%s", rc, out);
    assert_false(exists(path));
    // a different chunk size is a different recipe: the bits must change (the test can fail)
    snprintf(path, sizeof path, "%s/chunk8.ckpt", f->dir);
    rc = reef(2, out, sizeof out, "train --arch '%s' --train '%s' --epochs 2 --batch 16 --chunk 8 --threads 1 "
              "--augment flip,shift -o '%s'", tiny_arch, f->ds, path);
    if (rc) fail_msg("--chunk 8: exit %d\n%s", rc, out);
    size_t na, nb;
    uint8_t *a = fx_read(one, &na), *b = fx_read(path, &nb);
    assert_true(na != nb || memcmp(a, b, na) != 0);
    free(a);
    free(b);
}

/* The output without its first line (it says how many folds run at once)
 * and its last (the wall time). */
static char *table_of(char *out)
{
    char *body = strchr(out, '\n');
    assert_non_null(body);
    size_t len = strlen(body);
    while (len > 1 && body[len - 1] == '\n') body[--len] = 0;
    char *last = strrchr(body, '\n');
    assert_non_null(last);
    if (!strstr(last, " s")) fail_msg("the last line is not the wall time:\n%s", out);
    *last = 0;
    return body;
}

static void test_cv_same_table(void **state)
{
    FIXTURE(f);
    static char one[16384], two[16384];
    const char *args = "--epochs 4 --batch 8 --lr 0.01 --threads 1 --jobs 1";
    int rc = reef(0, one, sizeof one, "cv --arch '%s' --data '%s' %s", tiny_arch, f->ds, args);
    if (rc) fail_msg("reef cv: exit %d\n%s", rc, one);
    rc = reef(2, two, sizeof two, "cv --arch '%s' --data '%s' %s", tiny_arch, f->ds, args);
    if (rc) fail_msg("mpirun -np 2 reef cv: exit %d\n%s", rc, two);
    const char *t1 = table_of(one), *t2 = table_of(two);
    print_message("%s\n", t1);
    assert_non_null(strstr(t1, "7393"));  // the table names the held-out habitats
    assert_string_equal(t1, t2);
}

static void test_failing_rank_fails_all(void **state)
{
    FIXTURE(f);
    char out[16384], bad[400], status_dir[400], cmd[4000], path[500];
    snprintf(bad, sizeof bad, "%s/bad.ds", f->dir);
    snprintf(status_dir, sizeof status_dir, "%s/status", f->dir);
    fx_mkdirs(status_dir);
    size_t size;
    uint8_t *good = fx_read(f->bad_image, &size);
    fx_write_text(f->bad_image, "not a JPEG");
    // each rank records its own exit status (mpirun reports only the first)
    snprintf(cmd, sizeof cmd,
             "%s -np 2 sh -c '\"%s\" prep --format deepfish --root \"%s\" --threads 1 -o \"%s\"; "
             "echo $? > \"%s/rank.$OMPI_COMM_WORLD_RANK\"'",
             mpirun_prefix(), getenv("REEF_BIN"), f->root, bad, status_dir);
    testing_run(cmd, out, sizeof out);
    for (int r = 0; r < 2; r++) {
        snprintf(path, sizeof path, "%s/rank.%d", status_dir, r);
        size_t n;
        char *text = (char *)fx_read(path, &n);
        if (atoi(text) == 0) fail_msg("rank %d exited %s with a bad image in rank 1's slice:\n%s", r, text, out);
        free(text);
    }
    if (!strstr(out, f->bad_image) || !strstr(out, "rank 1")) fail_msg("the failing file is not named:\n%s", out);
    assert_false(exists(bad));
    // and through reef alone: mpirun's own status is nonzero too
    if (!testing_sanitizer_run()) {
        int rc = reef(2, out, sizeof out, "prep --format deepfish --root '%s' --threads 1 -o '%s'", f->root, bad);
        assert_int_not_equal(rc, 0);
        assert_false(exists(bad));
    }
    FILE *fp = fopen(f->bad_image, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(good, 1, size, fp), size);
    fclose(fp);
    free(good);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prep_same_bytes),
        cmocka_unit_test(test_train_same_bits),
        cmocka_unit_test(test_cv_same_table),
        cmocka_unit_test(test_failing_rank_fails_all),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
