/* reef_m4_run_intermittent: boot after boot of QEMU on one NVM file, each
 * ended by the plugin at the scheduled instruction (intermittent.h). */
#include "firmware/intermittent.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "codegen/emit.h"
#include "firmware/elf.h"
#include "firmware/firmware.h"
#include "firmware/proc.h"
#include "util/io.h"

#ifndef REEF_QEMU_PLUGIN_PATH
#define REEF_QEMU_PLUGIN_PATH ""
#endif

enum { PLUGIN_POWER_FAIL = 75, NVM_MB = 16 };

typedef struct boot_dir {
    char dir[64];
    char path[6][128]; /* reef-in.bin, reef-out.bin, nvm.bin, counts.txt, stdout.txt, stderr.txt */
} boot_dir;
enum { IN_BIN, OUT_BIN, NVM_BIN, COUNTS, STDOUT, STDERR };

static void dir_remove(boot_dir *d)
{
    for (int i = 0; i < 6; i++) remove(d->path[i]);
    char part[160];
    snprintf(part, sizeof part, "%s.part", d->path[COUNTS]);
    remove(part);
    rmdir(d->dir);
}

static int dir_make(boot_dir *d, const int8_t *inputs, size_t bytes, reef_error *err)
{
    static const char *const names[6] = {"reef-in.bin", "reef-out.bin", "nvm.bin", "counts.txt", "stdout.txt",
                                         "stderr.txt"};
    snprintf(d->dir, sizeof d->dir, "/tmp/reef-intermittent-XXXXXX");
    if (!mkdtemp(d->dir)) return reef_fail(err, "cannot make a scratch folder: %s", strerror(errno));
    char dir[sizeof d->dir]; /* a copy: gcc -O1 -fsanitize=address sees d->dir and d->path as one object (-Wrestrict) */
    memcpy(dir, d->dir, sizeof dir);
    for (int i = 0; i < 6; i++) snprintf(d->path[i], sizeof d->path[i], "%s/%s", dir, names[i]);
    if (reef_write_file(d->path[IN_BIN], inputs, bytes, err)) return dir_remove(d), -1;
    /* a fresh NVM: 16 MB of zeros, the size of the board's PSRAM */
    int fd = open(d->path[NVM_BIN], O_CREAT | O_WRONLY | O_TRUNC, 0600);
    if (fd < 0 || ftruncate(fd, (off_t)NVM_MB << 20)) {
        if (fd >= 0) close(fd);
        dir_remove(d);
        return reef_fail(err, "%s: cannot make the NVM file", d->dir);
    }
    close(fd);
    return 0;
}

static const char *plugin_path(void)
{
    const char *env = getenv("REEF_QEMU_PLUGIN");
    return env && *env ? env : REEF_QEMU_PLUGIN_PATH;
}

/* Instructions at boot b's failure, 0 for none. */
static uint64_t fail_point(const reef_fail_schedule *fs, int boot, uint64_t *rng)
{
    switch (fs->kind) {
    case REEF_FAIL_EVERY: return fs->every;
    case REEF_FAIL_RANDOM:
        if (boot >= fs->random_count || !fs->random_max) return 0;
        *rng = *rng * 6364136223846793005ull + 1442695040888963407ull;
        return 1 + (*rng >> 11) % fs->random_max;
    case REEF_FAIL_AT: return boot < fs->nat ? fs->at[boot] : 0;
    default: return 0;
    }
}

/* "mark b|e TOTAL ..." lines of the counts file: inference regions. */
static int read_counts(const char *path, reef_intermittent_report *rep, reef_error *err)
{
    FILE *fp = fopen(path, "r");
    if (!fp) return reef_fail(err, "%s: the plugin wrote no counts", path);
    char line[1024];
    uint64_t begin = 0, v;
    char mark;
    rep->inference_instructions = 0, rep->inferences_in_last_boot = 0, rep->last_boot_instructions = 0;
    free(rep->marks);
    rep->marks = NULL, rep->nmarks = 0;
    int cap = 0;
    while (fgets(line, sizeof line, fp)) {
        if (sscanf(line, "mark %c %" SCNu64, &mark, &v) == 2) {
            if (mark == 's') {
                if (rep->nmarks == cap) {
                    cap = cap ? 2 * cap : 256;
                    uint64_t *grown = realloc(rep->marks, (size_t)cap * sizeof *grown);
                    if (!grown) {
                        fclose(fp);
                        return reef_fail(err, "out of memory");
                    }
                    rep->marks = grown;
                }
                rep->marks[rep->nmarks++] = v;
            }
            if (mark == 'b') begin = v;
            if (mark == 'e') rep->inference_instructions += v - begin, rep->inferences_in_last_boot++;
        } else if (sscanf(line, "final %" SCNu64, &v) == 1) {
            rep->last_boot_instructions = v;
        }
    }
    fclose(fp);
    return 0;
}

static int explain(const char *elf, int boot, const reef_proc_result *res, const boot_dir *d, reef_error *err)
{
    char out[4096], errtext[2048];
    reef_proc_read_text(d->path[STDOUT], out, sizeof out);
    reef_proc_read_text(d->path[STDERR], errtext, sizeof errtext);
    if (res->not_found) return reef_fail(err, "%s: qemu-system-arm could not be started (scripts/deps.sh)", elf);
    if (res->timed_out) return reef_fail(err, "%s: boot %d ran past the time limit", elf, boot);
    const char *fault = strstr(out, "reef-harness: FAULT");
    const char *error = strstr(out, "reef-harness: error");
    return reef_fail(err, "%s: boot %d ended with status %d: %.300s%.300s", elf, boot, res->status,
                     fault ? fault : error ? error : out, errtext);
}

static int one_boot(const char *elf, const char *markers, boot_dir *d, uint64_t fail_at, double timeout_s,
                    int boot, int *failed, reef_error *err)
{
    char plugin[4600], kernel[4200], backend[256];
    if (fail_at)
        snprintf(plugin, sizeof plugin, "%s,out=%s,%s,fail_at=%" PRIu64, plugin_path(), d->path[COUNTS], markers, fail_at);
    else
        snprintf(plugin, sizeof plugin, "%s,out=%s,%s", plugin_path(), d->path[COUNTS], markers);
    snprintf(kernel, sizeof kernel, "%s", elf);
    snprintf(backend, sizeof backend, "memory-backend-file,id=nvm,size=%dM,mem-path=%s,share=on", NVM_MB,
             d->path[NVM_BIN]);
    char *const argv[] = {"qemu-system-arm", "-M", "mps2-an386", "-icount", "shift=0", "-nographic",
                          "-monitor", "none", "-serial", "none",
                          "-semihosting-config", "enable=on,target=native,chardev=sh0", "-chardev", "stdio,id=sh0",
                          "-object", backend, "-machine", "memory-backend=nvm",
                          "-plugin", plugin, "-kernel", kernel, NULL};
    reef_proc_result res;
    remove(d->path[COUNTS]);
    if (reef_proc_run(argv, d->dir, d->path[STDOUT], d->path[STDERR], timeout_s, &res, err)) return -1;
    *failed = res.exited && res.status == PLUGIN_POWER_FAIL;
    if (*failed) return 0;
    char out[4096];
    reef_proc_read_text(d->path[STDOUT], out, sizeof out);
    if (!res.exited || res.status != 0 || !strstr(out, "reef-harness: ok")) return explain(elf, boot, &res, d, err);
    return 0;
}

static int marker_args(const char *elf, char *buf, size_t size, reef_error *err)
{
    struct stat st;
    if (!*plugin_path() || stat(plugin_path(), &st))
        return reef_fail(err, "the QEMU plugin '%s' is missing (build the reef_qemu_insn target, or set REEF_QEMU_PLUGIN)",
                         plugin_path());
    reef_elf e;
    uint32_t begin, end;
    if (reef_elf_open(elf, &e, err)) return -1;
    int rc = reef_elf_symbol_value(&e, "reef_mark_inference_begin", &begin, err);
    if (!rc) rc = reef_elf_symbol_value(&e, "reef_mark_inference_end", &end, err);
    reef_error ignored;
    uint32_t commit = 0;
    if (!rc && reef_elf_symbol_value(&e, "reef_resume_run", &commit, &ignored))
        rc = reef_fail(err, "%s: not an intermittent firmware (no reef_resume_run)", elf);
    /* commit markers: only when built with REEF_PROFILE_STEPS */
    if (!rc && reef_elf_symbol_value(&e, "reef_mark_commit", &commit, &ignored)) commit = 0;
    reef_elf_close(&e);
    if (rc) return -1;
    snprintf(buf, size, "begin=0x%" PRIx32 ",end=0x%" PRIx32 ",step=0x%" PRIx32, begin, end, commit);
    return 0;
}

void reef_intermittent_report_free(reef_intermittent_report *rep)
{
    free(rep->marks);
    rep->marks = NULL, rep->nmarks = 0;
}

/* FNV-1a over the NVM file's 64-bit words: two equal digests mean the boot
 * between them left NVM as it found it (no progress was committed). */
static int nvm_digest(const char *path, uint64_t *digest, reef_error *err)
{
    uint8_t *data;
    size_t size;
    if (reef_read_file(path, &data, &size, err)) return -1;
    uint64_t h = 14695981039346656037ull;
    for (size_t i = 0; i + 8 <= size; i += 8) {
        uint64_t word;
        memcpy(&word, data + i, 8);
        h = (h ^ word) * 1099511628211ull;
    }
    free(data);
    *digest = h;
    return 0;
}

int reef_m4_run_intermittent(const char *elf, const int8_t *inputs, int n, size_t input_size, int8_t *outputs,
                             size_t output_size, const reef_fail_schedule *fs, reef_intermittent_report *rep,
                             double timeout_s, reef_error *err)
{
    char elf_abs[4096], markers[160];
    memset(rep, 0, sizeof *rep);
    if (n <= 0 || !input_size || !output_size) return reef_fail(err, "%s: nothing to run", elf);
    if (elf[0] != '/') {
        char cwd[2048];
        if (!getcwd(cwd, sizeof cwd)) return reef_fail(err, "getcwd: %s", strerror(errno));
        snprintf(elf_abs, sizeof elf_abs, "%s/%s", cwd, elf);
    } else {
        snprintf(elf_abs, sizeof elf_abs, "%s", elf);
    }
    if (marker_args(elf_abs, markers, sizeof markers, err)) return -1;
    boot_dir d;
    if (dir_make(&d, inputs, (size_t)n * input_size, err)) return -1;
    int max_boots = fs->max_boots > 0 ? fs->max_boots : 100000, rc = -1;
    uint64_t rng = fs->seed * 2654435761u + 12345u, last_digest = 0;
    for (int boot = 0;; boot++) {
        if (boot >= max_boots) {
            reef_fail(err, "%s: no result after %d boots (%d power failures): the firmware makes no progress", elf,
                      boot, rep->failures);
            break;
        }
        uint64_t fail_at = fail_point(fs, boot, &rng);
        int failed = 0;
        if (one_boot(elf_abs, markers, &d, fail_at, timeout_s, boot, &failed, err)) break;
        rep->boots++;
        if (failed) {
            rep->failures++;
            rep->instructions += fail_at;
            /* Emulation is deterministic: under a fixed period, a boot that
             * commits nothing is followed by identical boots forever. */
            if (fs->kind == REEF_FAIL_EVERY) {
                uint64_t digest;
                if (nvm_digest(d.path[NVM_BIN], &digest, err)) break;
                if (boot > 0 && digest == last_digest) {
                    reef_fail(err, "%s: a boot of %" PRIu64 " instructions commits no progress (boot %d left NVM "
                                   "unchanged): the period is shorter than boot plus the longest unit",
                              elf, fs->every, boot);
                    break;
                }
                last_digest = digest;
            }
            continue;
        }
        if (read_counts(d.path[COUNTS], rep, err)) break;
        rep->instructions += rep->last_boot_instructions;
        uint8_t *data;
        size_t size;
        if (reef_read_file(d.path[OUT_BIN], &data, &size, err)) break;
        if (size != (size_t)n * output_size) {
            free(data);
            reef_fail(err, "%s: %zu bytes of outputs, expected %zu", elf, size, (size_t)n * output_size);
            break;
        }
        memcpy(outputs, data, size);
        free(data);
        rc = 0;
        break;
    }
    dir_remove(&d);
    return rc;
}

int reef_intermittent_build(const reef_lowered_model *m, const reef_intermittent_plan *p, const char *dir,
                            const char *name, const char *elf, int commit_ends, reef_error *err)
{
    char header[4200], model_c[4200], resume_c[4200];
    if (reef_emit_c(m, dir, name, NULL, err) || reef_intermittent_emit(m, p, dir, name, err)) return -1;
    snprintf(header, sizeof header, "%s/%s_resume.h", dir, name);
    snprintf(model_c, sizeof model_c, "%s/%s.c", dir, name);
    snprintf(resume_c, sizeof resume_c, "%s/%s_resume.c", dir, name);
    const char *sources[2] = {model_c, resume_c};
    reef_fw_spec spec = {.board = "qemu-m4", .model_header = header, .model_sources = sources,
                         .model_source_count = 2, .profile_steps = 1, .output = elf, .intermittent = 1,
                         .commit_ends = commit_ends};
    return reef_m4_build(&spec, err);
}
