/* The reef command against a user's own files (issue 17): an output that
 * is one of the inputs (by any spelling or a hard link) is refused and the
 * input is left byte for byte as it was; derived paths never replace the
 * model; NaN and infinity are refused as option values; missing output
 * folders are found before the work; --resume refuses what it would
 * silently get wrong. Everything runs the built `reef` on a tiny dataset
 * made here (12 PNG pictures of two classes, 8x8 gray). */
#define _XOPEN_SOURCE 700  // posix_openpt: a pseudo-terminal for the progress bar
#include "testing.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>

#include "fixtures.h"

static const char tiny_arch[] = "stem k3 s2 c4 relu6; gap; fc";

typedef struct fixture {
    char dir[256];
    char images[300], ds[300], small_ds[300], ckpt[300], tflite[300], input[300];
} fixture;

#include "cli_fixture.h"

/* The bytes of a file, to prove it unchanged. */
typedef struct snapshot {
    uint8_t *data;
    size_t size;
} snapshot;

static snapshot take(const char *path)
{
    snapshot s;
    s.data = fx_read(path, &s.size);
    return s;
}

static void assert_unchanged(const char *path, snapshot *s)
{
    size_t size;
    uint8_t *now = fx_read(path, &size);
    if (size != s->size || memcmp(now, s->data, size)) fail_msg("%s was changed (%zu bytes, was %zu)", path, size, s->size);
    free(now);
    free(s->data);
}

static int setup(void **state)
{
    if (!testing_reef_bin()) return 0; /* each test skips */
    fixture *f = calloc(1, sizeof *f);
    testing_tmpdir(f->dir, sizeof f->dir, "cli-safety");
    snprintf(f->images, sizeof f->images, "%s/images", f->dir);
    snprintf(f->ds, sizeof f->ds, "%s/a.ds", f->dir);
    snprintf(f->small_ds, sizeof f->small_ds, "%s/small.ds", f->dir);
    snprintf(f->ckpt, sizeof f->ckpt, "%s/m.ckpt", f->dir);
    snprintf(f->tflite, sizeof f->tflite, "%s/m.tflite", f->dir);
    snprintf(f->input, sizeof f->input, "%s/in.bin", f->dir);
    char path[600], out[8192];
    two_class_pictures(f->images);
    int rc = reef(out, sizeof out, "prep --format folders --root '%s' --size 8x8 -o '%s'", f->images, f->ds);
    if (rc) fail_msg("prep: %s", out);
    /* a dataset of another size: 8 of the 12 images (2 batches of 4, not 3) */
    for (int k = 0; k < 4; k++) {
        char moved[600];
        snprintf(path, sizeof path, "%s/%s/%d.png", f->images, k % 2 ? "fish" : "nofish", 4 + k / 2);
        snprintf(moved, sizeof moved, "%s/moved%d.png", f->dir, k);
        assert_int_equal(rename(path, moved), 0);
    }
    rc = reef(out, sizeof out, "prep --format folders --root '%s' --size 8x8 -o '%s'", f->images, f->small_ds);
    if (rc) fail_msg("prep: %s", out);
    rc = reef(out, sizeof out, "train --arch '%s' --train '%s' --epochs 1 --batch 4 -o '%s' --json", tiny_arch, f->ds,
              f->ckpt);
    if (rc) fail_msg("train: %s", out);
    rc = reef(out, sizeof out, "quantize --model '%s' --calib '%s' -o '%s'", f->ckpt, f->ds, f->tflite);
    if (rc) fail_msg("quantize: %s", out);
    uint8_t in[64] = {0};
    FILE *fp = fopen(f->input, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(in, 1, sizeof in, fp), sizeof in);
    assert_int_equal(fclose(fp), 0);
    *state = f;
    return 0;
}

/* Defect 2: every command refuses an output that is one of its inputs,
 * by any spelling (./, a hard link), and leaves the input as it was. */
static void test_output_equal_to_input_is_refused(void **state)
{
    FIXTURE(f);
    char hard[400], respelled[400], image[400];
    snprintf(hard, sizeof hard, "%s/hardlink.ds", f->dir);
    assert_int_equal(link(f->ds, hard), 0);
    snprintf(respelled, sizeof respelled, "%s/./images/../a.ds", f->dir);
    snprintf(image, sizeof image, "%s/fish/0.png", f->images);
    snapshot ds = take(f->ds), ckpt = take(f->ckpt), tfl = take(f->tflite), in = take(f->input), png = take(image);
    expect(reef(out, sizeof out, "train --arch '%s' --train '%s' -o '%s'", tiny_arch, f->ds, respelled), out, 1,
           "same file as --train");
    expect(reef(out, sizeof out, "train --arch '%s' --train '%s' -o '%s'", tiny_arch, f->ds, hard), out, 1,
           "same file as --train");
    expect(reef(out, sizeof out, "train --arch '%s' --train '%s' --val '%s' --epochs 1 -o %s/x.ckpt", tiny_arch,
                f->small_ds, f->ds, f->dir), out, 0, "");
    expect(reef(out, sizeof out, "train --arch '%s' --train '%s' --val '%s' -o '%s'", tiny_arch, f->small_ds, f->ds,
                hard), out, 1, "same file as --val");
    expect(reef(out, sizeof out, "train --arch '%s' --train '%s' -o %s/y.ckpt --log '%s'", tiny_arch, f->ds, f->dir,
                hard), out, 1, "--log");
    expect(reef(out, sizeof out, "train --arch '%s' --train '%s' --val '%s' -o %s/y.ckpt --plot '%s'", tiny_arch,
                f->small_ds, f->ds, f->dir, f->ds), out, 1, "--plot");
    expect(reef(out, sizeof out, "quantize --model '%s' --calib '%s' -o '%s'", f->ckpt, f->ds, f->ckpt), out, 1,
           "same file as --model");
    expect(reef(out, sizeof out, "quantize --model '%s' --calib '%s' -o '%s'", f->ckpt, f->ds, hard), out, 1,
           "same file as --calib");
    expect(reef(out, sizeof out, "infer --model '%s' --input '%s' -o '%s'", f->tflite, f->input, f->tflite), out, 1,
           "same file as --model");
    expect(reef(out, sizeof out, "infer --model '%s' --input '%s' -o '%s'", f->tflite, f->input, f->input), out, 1,
           "same file as --input");
    expect(reef(out, sizeof out, "prep --format folders --root '%s' --size 8x8 -o '%s'", f->images, image), out, 1,
           "is an input image");
    assert_unchanged(f->ds, &ds);
    assert_unchanged(f->ckpt, &ckpt);
    assert_unchanged(f->tflite, &tfl);
    assert_unchanged(f->input, &in);
    assert_unchanged(image, &png);
    unlink(hard);
}

/* Defect 3: -o m.csv (or .svg): the log and plot go beside it, never over it. */
static void test_derived_paths_never_replace_the_model(void **state)
{
    FIXTURE(f);
    char model[400], log[450];
    snprintf(model, sizeof model, "%s/m.csv", f->dir);
    snprintf(log, sizeof log, "%s/m.csv.log.csv", f->dir);
    expect(reef(out, sizeof out, "train --arch '%s' --train '%s' --epochs 1 -o '%s'", tiny_arch, f->ds, model), out, 0,
           "log ");
    assert_int_equal(access(log, R_OK), 0);
    expect(reef(out, sizeof out, "eval --model '%s' --data '%s'", model, f->ds), out, 0, "");
    unlink(model), unlink(log);
    snprintf(log, sizeof log, "%s/m.csv.plot.svg", f->dir);
    unlink(log);
}

/* Defect 7: NaN and infinity are no option values (and search refuses a
 * thread count out of range). */
static void test_nonfinite_options_are_refused(void **state)
{
    FIXTURE(f);
    static const char *const cases[] = {"--lambda nan", "--max-flash nan", "--clock inf", "--max-latency-ms -inf"};
    for (int i = 0; i < 4; i++)
        expect(reef(out, sizeof out, "search --train '%s' --val '%s' -o %s/s.arch %s", f->ds, f->ds, f->dir, cases[i]),
               out, 2, "finite");
    expect(reef(out, sizeof out, "search --train '%s' --val '%s' -o %s/s.arch --threads 0", f->ds, f->ds, f->dir), out, 2,
           "--threads wants a whole number from 1 to 16");
    expect(reef(out, sizeof out, "run --model '%s' --data '%s' --timeout nan", f->tflite, f->ds), out, 2, "");
    expect(reef(out, sizeof out, "train --train '%s' -o %s/n.ckpt --lr nan", f->ds, f->dir), out, 2, "not 'nan'");
    char path[400];
    snprintf(path, sizeof path, "%s/s.arch.log.csv", f->dir);
    assert_int_equal(access(path, F_OK), -1);
}

/* Defect 8: a missing output folder is found before the work, and a
 * failure leaves no partial output. */
static void test_missing_folders_fail_before_work(void **state)
{
    FIXTURE(f);
    char o[400];
    expect(reef(out, sizeof out, "train --arch '%s' --train '%s' --epochs 50 -o %s/nodir/m.ckpt", tiny_arch, f->ds,
                f->dir), out, 1, "nodir");
    if (strstr(out, "epoch 1") || strstr(out, "    1 ")) fail_msg("trained before failing:\n%s", out);
    snprintf(o, sizeof o, "%s/out.bin", f->dir);
    expect(reef(out, sizeof out, "infer --model '%s' --input '%s' -o '%s' --dump-tensors %s/nodir", f->tflite,
                f->input, o, f->dir), out, 1, "nodir");
    assert_int_equal(access(o, F_OK), -1);
    expect(reef(out, sizeof out, "quantize --model '%s' --calib '%s' -o %s/nodir/m.tflite", f->ckpt, f->ds, f->dir),
           out, 1, "nodir");
    expect(reef(out, sizeof out, "prep --format folders --root '%s' -o %s/nodir/x.ds", f->images, f->dir), out, 1,
           "nodir");
    /* gen -o creates every missing level */
    expect(reef(out, sizeof out, "gen --model '%s' -o %s/g/h/i", f->tflite, f->dir), out, 0, "wrote");
    snprintf(o, sizeof o, "%s/g/h/i", f->dir);
    assert_int_equal(testing_count_files(o), 2);
}

/* Defect 5: --resume refuses another dataset, recipe options it would
 * ignore, and --epochs at or below the epochs done. */
static void test_resume_misuse_is_refused(void **state)
{
    FIXTURE(f);
    char r[400];
    snprintf(r, sizeof r, "%s/r.ckpt", f->dir);
    snapshot ckpt = take(f->ckpt);
    expect(reef(out, sizeof out, "train --resume '%s' --train '%s' --epochs 3 -o '%s'", f->ckpt, f->small_ds, r), out,
           1, "resume on the dataset it was trained on");
    expect(reef(out, sizeof out, "train --resume '%s' --train '%s' --epochs 3 --optimizer sgd --arch fish-m -o '%s'",
                f->ckpt, f->ds, r), out, 2, "--optimizer, --arch would be ignored");
    expect(reef(out, sizeof out, "train --resume '%s' --train '%s' --epochs 1 -o '%s'", f->ckpt, f->ds, r), out, 1,
           "has done 1 epochs already");
    assert_int_equal(access(r, F_OK), -1);
    expect(reef(out, sizeof out, "train --resume '%s' --train '%s' --epochs 2 -o '%s' --json", f->ckpt, f->ds, r), out,
           0, "\"epochs\":");
    assert_unchanged(f->ckpt, &ckpt);
    unlink(r);
}

/* Defects 11 and 12 (in part): reef --version; getopt's messages carry
 * "reef <cmd>:"; a folder given for a file says so; nothing written to a
 * pipe carries terminal control codes. */
static void test_messages(void **state)
{
    FIXTURE(f);
    expect(reef(out, sizeof out, "--version"), out, 0, "reef 0.1 (commit ");
    expect(reef(out, sizeof out, "train --bogus"), out, 2, "reef train: unrecognized option '--bogus'");
    expect(reef(out, sizeof out, "info --data '%s'", f->dir), out, 1, "is a folder, not a file");
    expect(reef(out, sizeof out, "quantize --model '%s' --calib '%s' -o %s/q.tflite", f->dir, f->ds, f->dir), out, 1,
           "is a folder, not a file");
    expect(reef(out, sizeof out, "train --arch '%s' --train '%s' --epochs 2 -o %s/p.ckpt", tiny_arch, f->ds, f->dir),
           out, 0, "saved");
    expect(reef(out, sizeof out, "prep --format folders --root '%s' --size 8x8 -o %s/p.ds", f->images, f->dir), out, 0,
           "");
    if (strchr(out, '\033') || strchr(out, '\r')) fail_msg("terminal control codes written to a pipe:\n%s", out);
}

/* Defect 12: one convention. Files are flagged (--model, --data) in every
 * command; info, inspect and gen still take the old positional file, with
 * a note; profile-ops' folder is --work like run's, report's and
 * personalize's (--work-dir still works, with a note). */
static void test_one_convention(void **state)
{
    FIXTURE(f);
    expect(reef(out, sizeof out, "info --data '%s'", f->ds), out, 0, "12 samples of 8x8x1 (HxWxC)");
    if (strstr(out, "deprecated")) fail_msg("a note on the flagged form:\n%s", out);
    expect(reef(out, sizeof out, "info '%s'", f->ds), out, 0, "note: 'reef info FILE' is deprecated; use 'reef info --data FILE'");
    expect(reef(out, sizeof out, "inspect --model '%s' --json", f->tflite), out, 0, "\"model\":\"m\"");
    expect(reef(out, sizeof out, "inspect '%s'", f->tflite), out, 0, "use 'reef inspect --model FILE'");
    expect(reef(out, sizeof out, "inspect --model '%s' '%s'", f->tflite, f->tflite), out, 2, "unexpected argument");
    expect(reef(out, sizeof out, "gen -o %s/g2", f->dir), out, 2, "reef gen: --model FILE is required");
    expect(reef(out, sizeof out, "gen --model '%s'", f->tflite), out, 2, "reef gen: -o DIR is required");
    expect(reef(out, sizeof out, "gen '%s' -o %s/g2", f->tflite, f->dir), out, 0, "use 'reef gen --model FILE'");
    expect(reef(out, sizeof out, "profile-ops --analytic --work-dir '%s' -o %s/c.table", f->dir, f->dir), out, 0,
           "note: --work-dir DIR is deprecated; use --work DIR");
    expect(reef(out, sizeof out, "profile-ops --analytic --work '%s' -o %s/c.table", f->dir, f->dir), out, 0, "ops");
    if (strstr(out, "deprecated")) fail_msg("a note on --work:\n%s", out);
}

/* Runs `reef ARGS` with stderr on a pseudo-terminal (progress bars draw
 * only on a terminal) and stdout into the same buffer after it; returns
 * the exit status. */
static int reef_on_a_terminal(char *out, size_t size, const char *args)
{
    int master = posix_openpt(O_RDWR | O_NOCTTY);
    if (master < 0 || grantpt(master) || unlockpt(master)) return -1;
    char cmd[3400];
    snprintf(cmd, sizeof cmd, "'%s' %s", getenv("REEF_BIN"), args);
    fflush(stdout), fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        int slave = open(ptsname(master), O_RDWR | O_NOCTTY);
        int devnull = open("/dev/null", O_WRONLY);
        if (slave < 0 || devnull < 0) _exit(127);
        dup2(slave, STDERR_FILENO), dup2(devnull, STDOUT_FILENO);
        close(master), close(slave), close(devnull);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    size_t len = 0;
    for (;;) {  // read until the child's end closes the terminal (EIO)
        ssize_t got = read(master, out + len, size - 1 - len);
        if (got <= 0) break;
        len += (size_t)got;
        if (len == size - 1) len = 0;  // keep the tail
    }
    out[len] = 0;
    close(master);
    int status;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Defect 12: profile-ops --check measures networks on the emulator, seconds
 * each, silently before; on a terminal it now shows a bar from the start
 * ("checking 0/1 networks") to the end ("1/1"). */
static void test_profile_ops_check_shows_progress(void **state)
{
    FIXTURE(f);
    if (!testing_have_arm_tools()) skip();
    char args[1200];
    snprintf(args, sizeof args, "profile-ops --analytic --check 1 --work '%s/po' -o '%s/po.table'", f->dir, f->dir);
    int status = reef_on_a_terminal(out, sizeof out, args);
    if (status) fail_msg("profile-ops --check 1 on a terminal: exit %d:\n%s", status, out);
    if (!strstr(out, "checking") || !strstr(out, "0/1 networks") || !strstr(out, "1/1 networks"))
        fail_msg("no progress bar from 0/1 to 1/1 networks on the terminal:\n%s", out);
    printf("  profile-ops --check 1 on a terminal drew its bar from 0/1 to 1/1 networks\n");
    /* not a terminal: no control codes */
    snprintf(args, sizeof args, "profile-ops --analytic --check 1 --work '%s/po' -o '%s/po.table' 2>&1 >/dev/null",
             f->dir, f->dir);
    expect(reef(out, sizeof out, "%s", args), out, 0, "");
    if (strchr(out, '\r') || strchr(out, '\033')) fail_msg("control codes when stderr is not a terminal:\n%s", out);
}

/* 1 when a process's command line mentions text (a leftover child). */
static int process_mentions(const char *text)
{
    DIR *d = opendir("/proc");
    struct dirent *e;
    int found = 0;
    while (d && !found && (e = readdir(d))) {
        char path[300], cmd[4096];
        if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
        snprintf(path, sizeof path, "/proc/%s/cmdline", e->d_name);
        FILE *fp = fopen(path, "rb");
        if (!fp) continue;
        size_t n = fread(cmd, 1, sizeof cmd - 1, fp);
        fclose(fp);
        for (size_t i = 0; i < n; i++)
            if (!cmd[i]) cmd[i] = ' ';
        cmd[n] = 0;
        found = strstr(cmd, text) != NULL;
    }
    if (d) closedir(d);
    return found;
}

/* Defect 9: SIGINT or SIGTERM while `reef run --target host` builds its
 * firmware leaves no reef-build-* / reef-run-* folder and no compiler
 * behind, and reef dies of the signal. TMPDIR points at a folder of the
 * test's own, so other runs on the machine do not interfere. */
static void test_interrupt_cleans_up(void **state)
{
    FIXTURE(f);
    const int sigs[2] = {SIGINT, SIGTERM};
    for (int k = 0; k < 2; k++) {
        char tmp[400];
        snprintf(tmp, sizeof tmp, "%s/tmp%d", f->dir, k);
        assert_int_equal(mkdir(tmp, 0755), 0);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            setenv("TMPDIR", tmp, 1);
            setenv("REEF_FIRMWARE_CACHE", "0", 1); /* the compiler must run, to be interrupted */
            int null = open("/dev/null", O_WRONLY);
            dup2(null, 1), dup2(null, 2);
            execl(getenv("REEF_BIN"), "reef", "run", "--model", f->tflite, "--data", f->ds, "--target", "host",
                  (char *)NULL);
            _exit(127);
        }
        /* wait for its scratch folder, then for the compiler to start */
        int seen = 0;
        for (int ms = 0; ms < 60000 && !seen; ms += 5) {
            seen = testing_count_files(tmp) > 0 && process_mentions(tmp);
            if (!seen) usleep(5000);
        }
        int status;
        if (!seen) {
            waitpid(pid, &status, 0);
            fail_msg("reef run never showed a scratch folder with a child working in it");
        }
        kill(pid, sigs[k]);
        assert_int_equal(waitpid(pid, &status, 0), pid);
        if (!WIFSIGNALED(status) || WTERMSIG(status) != sigs[k])
            fail_msg("reef did not die of signal %d (status 0x%x)", sigs[k], status);
        usleep(200000);
        if (testing_count_files(tmp)) {
            char cmd[600];
            snprintf(cmd, sizeof cmd, "ls -la %s", tmp);
            testing_system(cmd);
            fail_msg("%s: scratch folders left after signal %d", tmp, sigs[k]);
        }
        if (process_mentions(tmp)) fail_msg("a child working in %s outlived reef (signal %d)", tmp, sigs[k]);
        printf("  signal %d: reef died of it, %s empty, no child left\n", sigs[k], tmp);
        rmdir(tmp);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_output_equal_to_input_is_refused),
        cmocka_unit_test(test_derived_paths_never_replace_the_model),
        cmocka_unit_test(test_nonfinite_options_are_refused),
        cmocka_unit_test(test_missing_folders_fail_before_work),
        cmocka_unit_test(test_resume_misuse_is_refused),
        cmocka_unit_test(test_interrupt_cleans_up),
        cmocka_unit_test(test_messages),
        cmocka_unit_test(test_one_convention),
        cmocka_unit_test(test_profile_ops_check_shows_progress),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
