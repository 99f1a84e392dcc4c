/* reef_m4_run and reef_host_run: run a firmware on N inputs in a scratch
 * folder, collect outputs, counts and the harness's report (firmware.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "firmware/elf.h"
#include "firmware/firmware.h"
#include "firmware/proc.h"
#include "util/cleanup.h"
#include "util/io.h"

#ifndef REEF_QEMU_PLUGIN_PATH
#define REEF_QEMU_PLUGIN_PATH ""
#endif

static const char *const scratch_files[] = {"reef-in.bin", "reef-out.bin", "stdout.txt", "stderr.txt", "counts.txt",
                                            "counts.txt.part"};

typedef struct scratch {
    char dir[512];
} scratch;

static void scratch_path(const scratch *s, const char *name, char *buf, size_t size)
{
    snprintf(buf, size, "%s/%s", s->dir, name);
}

static void scratch_remove(scratch *s)
{
    char path[600];
    for (size_t i = 0; i < sizeof scratch_files / sizeof scratch_files[0]; i++) {
        scratch_path(s, scratch_files[i], path, sizeof path);
        remove(path);
    }
    rmdir(s->dir);
    reef_cleanup_forget_dir(s->dir);
}

static int scratch_make(scratch *s, const int8_t *inputs, size_t bytes, reef_error *err)
{
    if (reef_scratch_dir_make(s->dir, sizeof s->dir, "reef-run-"))
        return reef_fail(err, "cannot make a scratch folder: %s", strerror(errno));
    char path[600];
    scratch_path(s, "reef-in.bin", path, sizeof path);
    if (reef_write_file(path, inputs, bytes, err)) {
        scratch_remove(s);
        return -1;
    }
    return 0;
}

void reef_run_counts_free(reef_run_counts *counts)
{
    if (!counts) return;
    free(counts->per_inference);
    free(counts->per_step);
    memset(counts, 0, sizeof *counts);
}

/* The first line of text starting with prefix, copied into buf (no "\n"). */
static int find_line(const char *text, const char *prefix, char *buf, size_t size)
{
    for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
        if (strncmp(p, prefix, strlen(prefix))) continue;
        size_t n = strcspn(p, "\n");
        if (n >= size) n = size - 1;
        memcpy(buf, p, n);
        buf[n] = '\0';
        return 1;
    }
    return 0;
}

/* Turns an unsuccessful run into an error naming what went wrong. */
static int explain_failure(const char *what, const char *fw, const reef_proc_result *res, const char *out,
                           const char *errtext, double timeout_s, reef_error *err)
{
    char line[512];
    if (res->timed_out)
        return reef_fail(err, "%s: %s did not finish within %.1f s and was killed (a hang, or raise the time limit)",
                         fw, what, timeout_s);
    if (find_line(out, "reef-harness: FAULT", line, sizeof line))
        return reef_fail(err, "%s: the firmware faulted: %s", fw, line + strlen("reef-harness: "));
    if (find_line(out, "reef-harness: error", line, sizeof line))
        return reef_fail(err, "%s: %s", fw, line + strlen("reef-harness: "));
    if (!res->exited)
        return reef_fail(err, "%s: %s was killed by signal %d%s%s", fw, what, res->status, *errtext ? ": " : "", errtext);
    return reef_fail(err, "%s: %s exited with status %d%s%s", fw, what, res->status, *errtext ? ": " : "", errtext);
}

static int read_outputs(const scratch *s, const char *fw, int8_t *outputs, size_t bytes, reef_error *err)
{
    char path[600];
    scratch_path(s, "reef-out.bin", path, sizeof path);
    uint8_t *data;
    size_t size;
    if (reef_read_file(path, &data, &size, err)) return reef_fail(err, "%s: the firmware wrote no outputs", fw);
    if (size != bytes) {
        free(data);
        return reef_fail(err, "%s: the firmware wrote %zu bytes of outputs, expected %zu", fw, size, bytes);
    }
    memcpy(outputs, data, bytes);
    free(data);
    return 0;
}

/* ---- the plugin's counts file ------------------------------------------- */

typedef struct mark {
    char kind;
    reef_insn_counts counts;
} mark;

static int parse_counts_line(const char *p, reef_insn_counts *c)
{
    for (int k = 0; k < REEF_INSN_CLASS_COUNT; k++) {
        char *end;
        errno = 0;
        c->c[k] = strtoull(p, &end, 10);
        if (end == p || errno) return -1;
        p = end;
    }
    return 0;
}

static void diff_counts(const reef_insn_counts *later, const reef_insn_counts *earlier, reef_insn_counts *out)
{
    for (int k = 0; k < REEF_INSN_CLASS_COUNT; k++) out->c[k] = later->c[k] - earlier->c[k];
}

/* Reads the marks; *marks is malloc'd. */
static int read_marks(const char *path, mark **marks, int *count, reef_insn_counts *final, reef_error *err)
{
    FILE *fp = fopen(path, "r");
    if (!fp) return reef_fail(err, "%s: the QEMU plugin wrote no counts (did QEMU exit normally?)", path);
    char line[1024];
    int n = 0, cap = 0, got_final = 0, rc = 0, lineno = 0;
    *marks = NULL;
    while (!rc && fgets(line, sizeof line, fp)) {
        lineno++;
        if (lineno == 1 && strncmp(line, "reef-qemu-insn 1", 16)) rc = reef_fail(err, "%s: not a reef-qemu-insn 1 file", path);
        else if (!strncmp(line, "final ", 6)) got_final = !(rc = parse_counts_line(line + 6, final));
        else if (!strncmp(line, "mark ", 5)) {
            if (n == cap) {
                cap = cap ? cap * 2 : 256;
                mark *grown = realloc(*marks, (size_t)cap * sizeof *grown);
                if (!grown) { rc = reef_fail(err, "out of memory"); break; }
                *marks = grown;
            }
            (*marks)[n].kind = line[5];
            rc = parse_counts_line(line + 7, &(*marks)[n].counts);
            n++;
        }
        if (rc && !err->msg[0]) reef_fail(err, "%s:%d: malformed counts", path, lineno);
    }
    fclose(fp);
    if (!rc && !got_final) rc = reef_fail(err, "%s: no final counts", path);
    *count = n;
    return rc;
}

/* Steps in the inference whose begin mark is at index b; -1 if the marks
 * are out of order. */
static int steps_between(const mark *m, int count, int b, int *e)
{
    int s = 0;
    for (int i = b + 1; i < count; i++) {
        if (m[i].kind == 'e') {
            *e = i;
            return s > 0 ? s - 1 : 0;
        }
        if (m[i].kind != 's') return -1;
        s++;
    }
    return -1;
}

static int fill_regions(const mark *m, int count, int n, reef_run_counts *rc, const char *fw, reef_error *err)
{
    int b = 0, inference = 0;
    for (; b < count && inference < n; inference++) {
        while (b < count && m[b].kind != 'b') b++;
        int e = -1, steps = b < count ? steps_between(m, count, b, &e) : -1;
        if (steps < 0) return reef_fail(err, "%s: inference %d: region markers out of order", fw, inference);
        if (inference == 0) {
            rc->steps = steps;
            rc->per_step = calloc((size_t)n * (size_t)(steps ? steps : 1), sizeof *rc->per_step);
            if (!rc->per_step) return reef_fail(err, "out of memory");
        } else if (steps != rc->steps) {
            return reef_fail(err, "%s: inference %d ran %d steps, inference 0 ran %d", fw, inference, steps, rc->steps);
        }
        diff_counts(&m[e].counts, &m[b].counts, &rc->per_inference[inference]);
        for (int s = 0; s < steps; s++)
            diff_counts(&m[b + 2 + s].counts, &m[b + 1 + s].counts, &rc->per_step[(size_t)inference * (size_t)steps + (size_t)s]);
        b = e + 1;
    }
    if (inference != n) return reef_fail(err, "%s: the plugin saw %d inferences, expected %d", fw, inference, n);
    return 0;
}

static int collect_counts(const scratch *s, const char *fw, int n, reef_run_counts *rc, reef_error *err)
{
    char path[600];
    scratch_path(s, "counts.txt", path, sizeof path);
    mark *marks = NULL;
    int count = 0;
    rc->per_inference = calloc((size_t)(n ? n : 1), sizeof *rc->per_inference);
    int fail = rc->per_inference ? 0 : reef_fail(err, "out of memory");
    if (!fail) fail = read_marks(path, &marks, &count, &rc->whole_run, err);
    if (!fail) fail = fill_regions(marks, count, n, rc, fw, err);
    free(marks);
    return fail;
}

static uint32_t harness_fact(const char *out, const char *prefix)
{
    char line[256];
    unsigned long v = 0;
    if (find_line(out, prefix, line, sizeof line)) sscanf(line + strlen(prefix), "%lu", &v);
    return (uint32_t)v;
}

/* ---- running ------------------------------------------------------------- */

static const char *plugin_path(void)
{
    const char *env = getenv("REEF_QEMU_PLUGIN");
    return env && *env ? env : REEF_QEMU_PLUGIN_PATH;
}

/* The plugin argument with the three marker addresses from the ELF. */
static int plugin_arg(const char *elf_path, const char *counts_path, char *buf, size_t size, reef_error *err)
{
    const char *plugin = plugin_path();
    struct stat st;
    if (!*plugin || stat(plugin, &st))
        return reef_fail(err, "the QEMU plugin '%s' is missing (build the reef_qemu_insn target, or set REEF_QEMU_PLUGIN)", plugin);
    reef_elf elf;
    uint32_t begin, end, step;
    if (reef_elf_open(elf_path, &elf, err)) return -1;
    int rc = reef_elf_symbol_value(&elf, "reef_mark_inference_begin", &begin, err);
    if (!rc) rc = reef_elf_symbol_value(&elf, "reef_mark_inference_end", &end, err);
    /* no step marker when nothing calls it (--gc-sections drops it) */
    reef_error ignored;
    if (!rc && reef_elf_symbol_value(&elf, "reef_mark_step", &step, &ignored)) step = 0;
    reef_elf_close(&elf);
    if (rc) return reef_fail_wrap(err, "not a reef firmware (no harness markers)");
    snprintf(buf, size, "%s,out=%s,begin=0x%" PRIx32 ",end=0x%" PRIx32 ",step=0x%" PRIx32, plugin, counts_path, begin, end, step);
    return 0;
}

static int absolute_path(const char *path, char *buf, size_t size, reef_error *err)
{
    if (path[0] == '/') {
        snprintf(buf, size, "%s", path);
    } else {
        char cwd[4096];
        if (!getcwd(cwd, sizeof cwd)) return reef_fail(err, "getcwd: %s", strerror(errno));
        if ((size_t)snprintf(buf, size, "%s/%s", cwd, path) >= size) return reef_fail(err, "%s: path too long", path);
    }
    if (access(buf, R_OK)) return reef_fail(err, "%s: %s", path, strerror(errno));
    return 0;
}

typedef struct run_request {
    const char *fw;            /* as the caller named it */
    const int8_t *inputs;      /* (n, input_size) */
    int n;
    size_t input_size;
    int8_t *outputs;           /* (n_out, output_size) */
    int n_out;                 /* outputs (inferences): n, or fewer for a stream */
    size_t output_size;
    double timeout_s;
} run_request;

static int run_in_scratch(const run_request *rq, char *const argv[], const char *what, scratch *s,
                          char *out, size_t out_size, reef_error *err)
{
    char out_path[600], err_path[600], errtext[2048];
    scratch_path(s, "stdout.txt", out_path, sizeof out_path);
    scratch_path(s, "stderr.txt", err_path, sizeof err_path);
    reef_proc_result res;
    if (reef_proc_run(argv, s->dir, out_path, err_path, rq->timeout_s, &res, err)) return -1;
    reef_proc_read_text(out_path, out, out_size);
    reef_proc_read_text(err_path, errtext, sizeof errtext);
    if (res.not_found)
        return reef_fail(err, "%s: %s could not be started (is it installed? scripts/deps.sh installs qemu-system-arm)", rq->fw, argv[0]);
    if (res.timed_out || !res.exited || res.status != 0 || !strstr(out, "reef-harness: ok"))
        return explain_failure(what, rq->fw, &res, out, errtext, rq->timeout_s, err);
    if (harness_fact(out, "reef-harness: inputs ") != (uint32_t)rq->n)
        return reef_fail(err, "%s: the firmware ran %u inputs, expected %d", rq->fw, harness_fact(out, "reef-harness: inputs "), rq->n);
    return read_outputs(s, rq->fw, rq->outputs, (size_t)rq->n_out * rq->output_size, err);
}

static int check_request(const run_request *rq, reef_error *err)
{
    if (rq->n < 0 || rq->n_out < 0 || rq->n_out > rq->n || rq->input_size == 0 || rq->output_size == 0 ||
        (rq->n && !rq->inputs) || (rq->n_out && !rq->outputs))
        return reef_fail(err, "%s: bad run request (n %d, input %zu bytes, output %zu bytes)", rq->fw, rq->n,
                         rq->input_size, rq->output_size);
    return 0;
}

int reef_m4_run(const char *elf, const int8_t *inputs, int n, size_t input_size, int8_t *outputs,
                size_t output_size, reef_run_counts *counts, double timeout_s, reef_error *err)
{
    return reef_m4_run_records(elf, inputs, n, input_size, outputs, n, output_size, counts, timeout_s, err);
}

int reef_m4_run_records(const char *elf, const int8_t *inputs, int n, size_t input_size, int8_t *outputs, int n_out,
                        size_t output_size, reef_run_counts *counts, double timeout_s, reef_error *err)
{
    run_request rq = {elf, inputs, n, input_size, outputs, n_out, output_size, timeout_s};
    reef_run_counts local = {0};
    reef_run_counts *rc = counts ? counts : &local;
    memset(rc, 0, sizeof *rc);
    char elf_abs[4096], kernel[4200], plugin[4600], counts_path[600], out[16384];
    if (check_request(&rq, err) || absolute_path(elf, elf_abs, sizeof elf_abs, err)) return -1;
    scratch s;
    if (scratch_make(&s, inputs, (size_t)n * input_size, err)) return -1;
    scratch_path(&s, "counts.txt", counts_path, sizeof counts_path);
    snprintf(kernel, sizeof kernel, "%s", elf_abs);
    int fail = plugin_arg(elf_abs, counts_path, plugin, sizeof plugin, err);
    char *const argv[] = {"qemu-system-arm", "-M", "mps2-an386", "-icount", "shift=0", "-nographic",
                          "-monitor", "none", "-serial", "none",
                          "-semihosting-config", "enable=on,target=native,chardev=sh0", "-chardev", "stdio,id=sh0",
                          "-plugin", plugin, "-kernel", kernel, NULL};
    if (!fail) fail = run_in_scratch(&rq, argv, "qemu-system-arm", &s, out, sizeof out, err);
    if (!fail) fail = collect_counts(&s, elf, n_out, rc, err);
    rc->inferences = n_out;
    rc->stack_high_water = harness_fact(out, "reef-harness: stack_high_water ");
    scratch_remove(&s);
    if (fail || !counts) reef_run_counts_free(rc);
    return fail;
}

int reef_host_run(const char *exe, const int8_t *inputs, int n, size_t input_size, int8_t *outputs,
                  size_t output_size, reef_run_counts *counts, double timeout_s, reef_error *err)
{
    return reef_host_run_records(exe, inputs, n, input_size, outputs, n, output_size, counts, timeout_s, err);
}

int reef_host_run_records(const char *exe, const int8_t *inputs, int n, size_t input_size, int8_t *outputs, int n_out,
                          size_t output_size, reef_run_counts *counts, double timeout_s, reef_error *err)
{
    run_request rq = {exe, inputs, n, input_size, outputs, n_out, output_size, timeout_s};
    char exe_abs[4096], out[16384];
    if (counts) memset(counts, 0, sizeof *counts);
    if (check_request(&rq, err) || absolute_path(exe, exe_abs, sizeof exe_abs, err)) return -1;
    scratch s;
    if (scratch_make(&s, inputs, (size_t)n * input_size, err)) return -1;
    char *const argv[] = {exe_abs, NULL};
    int fail = run_in_scratch(&rq, argv, "the host firmware", &s, out, sizeof out, err);
    scratch_remove(&s);
    if (!fail && counts) counts->inferences = n_out;
    return fail;
}
