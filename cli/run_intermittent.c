/* reef run --intermittent: the model's resumable firmware on the emulated
 * Cortex-M4 with power failures injected by the QEMU plugin, or (--target
 * host) the same runtime C on the host with failures injected at its NVM
 * writes (codegen/intermittent_host.h), fast enough for 100,000 failures;
 * outputs checked against the continuous run (reef's host interpreter,
 * which the continuous firmware matches byte for byte).
 * docs/intermittent.md. */
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "codegen/emit.h"
#include "codegen/intermittent_host.h"
#include "data/dataset.h"
#include "intermittent.h"
#include "firmware/intermittent.h"
#include "firmware/pipeline.h"
#include "tflite/graph.h"
#include "util/io.h"
#include "util/json.h"
#include "util/table.h"

static void usage(FILE *fp)
{
    fprintf(fp,
            "usage: reef run --intermittent --model M.tflite (--data D.ds | --inputs RAW) [failures] [options]\n\n"
            "Builds the model's intermittent firmware (reef gen --intermittent) for qemu-m4\n"
            "and runs the inputs through it with power failures: the QEMU plugin ends the\n"
            "emulator after exactly N instructions, and the next boot starts from reset with\n"
            "only the NVM file kept. Every output is compared with the continuous run.\n"
            "With --target host the same runtime C runs on the host over an NVM in memory\n"
            "whose power fails inside chosen writes (SRAM poisoned at each boot).\n\n"
            "  --target T         qemu-m4 (default) or host\n"
            "  --fail-writes      (host) one run per failure point: before every NVM write\n"
            "                     of a failure-free run, at every byte of each write to the\n"
            "                     progress record (torn), at the middle and last byte of each\n"
            "                     tensor save (every byte with --every-byte)\n"
            "  --fail-every N     every boot fails after N instructions (until one finishes)\n"
            "  --fail-random K    K power failures at random instruction counts in [1, M]\n"
            "                     (host: at random NVM writes and bytes of them)\n"
            "                     (--fail-max M, default one failure-free run's length;\n"
            "                     --seed S): runs from a fresh NVM, each failing boot after\n"
            "                     boot until one finishes, until K failures in all\n"
            "  --fail-steps       one run per commit point, failing where it starts (every\n"
            "                     unit boundary: with no --capacitor, every step boundary)\n"
            "  --fail-commit C    one run per instruction of commit C (0 = the input's)\n"
            "  --fail-stride S    ... per S-th instruction of it (default 1: every one)\n"
            "  --inputs FILE      raw int8 inputs (n x input size) instead of --data\n"
            "  --limit N          only the first N inputs\n"
            "  --capacitor C, --v-on V, --v-off V, --profile P, --step-cycles F|estimate:\n"
            "                     the schedule (reef gen; step cycles measured by default)\n"
            "  --commit P         which points commit: every (default), ends (the supply\n"
            "                     taken as never low: a job commits its input and output\n"
            "                     only, the rest passed: reef/resume.h commit_now), random\n"
            "                     (host: each point at random, --seed)\n"
            "  --memory MODE      fast (default), balanced or min (reef gen --memory): steps\n"
            "                     written over their input run as whole units\n"
            "  --work DIR         keep the generated C and firmware in DIR\n"
            "  --timeout S        time limit of one boot (default 120 s)\n"
            "  --json             print the result as JSON\n");
}

typedef struct irun {
    const char *model, *data, *raw, *work;
    long limit, fail_every, fail_random, fail_commit, seed, fail_stride;
    double fail_max, timeout;
    int fail_steps, json, host, fail_writes, every_byte, commit;
    reef_memory_mode memory;
    power_opts po;
} irun;

typedef struct outcome {
    const char *what;
    long runs, boots, failures, differing;
    uint64_t instructions;
} outcome;

static int parse(int argc, char **argv, irun *a)
{
    static const struct option opts[] = {
        {"intermittent", no_argument, NULL, 'I'}, {"model", required_argument, NULL, 'm'},
        {"data", required_argument, NULL, 'd'}, {"inputs", required_argument, NULL, 'i'},
        {"limit", required_argument, NULL, 'n'}, {"work", required_argument, NULL, 'w'},
        {"timeout", required_argument, NULL, 'T'}, {"fail-every", required_argument, NULL, 'E'},
        {"fail-random", required_argument, NULL, 'R'}, {"fail-max", required_argument, NULL, 'M'},
        {"fail-commit", required_argument, NULL, 'C'}, {"fail-steps", no_argument, NULL, 'S'},
        {"seed", required_argument, NULL, 's'}, {"fail-stride", required_argument, NULL, 'D'}, {"target", required_argument, NULL, 't'},
        {"fail-writes", no_argument, NULL, 'W'}, {"every-byte", no_argument, NULL, 'B'},
        {"capacitor", required_argument, NULL, 'P'}, {"v-on", required_argument, NULL, 'P'},
        {"v-off", required_argument, NULL, 'P'}, {"profile", required_argument, NULL, 'P'},
        {"efficiency", required_argument, NULL, 'P'}, {"nvm", required_argument, NULL, 'P'},
        {"step-cycles", required_argument, NULL, 'P'}, {"commit", required_argument, NULL, 'K'},
        {"memory", required_argument, NULL, 'Y'},
        {"json", no_argument, NULL, 'j'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    int c, idx = 0;
    memset(a, 0, sizeof *a);
    a->fail_commit = -1, a->timeout = 120, a->seed = 1, a->fail_stride = 1;
    power_opts_default(&a->po);
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, &idx)) != -1) {
        if (c == 'm') a->model = optarg;
        else if (c == 'd') a->data = optarg;
        else if (c == 'i') a->raw = optarg;
        else if (c == 'w') a->work = optarg;
        else if (c == 'j') a->json = 1, a->po.quiet = 1;
        else if (c == 'S') a->fail_steps = 1;
        else if (c == 'I') continue;
        else if (c == 'W') a->fail_writes = 1;
        else if (c == 'B') a->every_byte = 1;
        else if (c == 'Y') {
            int mode = reef_memory_mode_parse(optarg);
            if (mode < 0) return cli_error("run", "--memory '%s': expected fast, balanced or min", optarg), 2;
            a->memory = (reef_memory_mode)mode;
        }
        else if (c == 'K') {
            if (!strcmp(optarg, "every")) a->commit = REEF_COMMIT_EVERY;
            else if (!strcmp(optarg, "ends")) a->commit = REEF_COMMIT_ENDS;
            else if (!strcmp(optarg, "random")) a->commit = REEF_COMMIT_RANDOM;
            else return cli_error("run", "--commit wants every, ends or random, not '%s'", optarg), 2;
        }
        else if (c == 't') {
            a->host = strcmp(optarg, "host") == 0;
            if (!a->host && strcmp(optarg, "qemu-m4"))
                return cli_error("run", "--intermittent runs on --target qemu-m4 or host, not '%s'", optarg), 2;
        } else if (c == 'P') {
            if (power_opts_parse("run", &a->po, opts[idx].name, optarg) < 0) return 2;
        } else if (c == 'n') {
            if (cli_parse_int("run", "--limit", optarg, 1, 100000000, &a->limit)) return 2;
        } else if (c == 'E') {
            if (cli_parse_int("run", "--fail-every", optarg, 1, 2000000000, &a->fail_every)) return 2;
        } else if (c == 'R') {
            if (cli_parse_int("run", "--fail-random", optarg, 1, 10000000, &a->fail_random)) return 2;
        } else if (c == 'C') {
            if (cli_parse_int("run", "--fail-commit", optarg, 0, 1000000, &a->fail_commit)) return 2;
        } else if (c == 'D') {
            if (cli_parse_int("run", "--fail-stride", optarg, 1, 1000000, &a->fail_stride)) return 2;
        } else if (c == 's') {
            if (cli_parse_int("run", "--seed", optarg, 0, 2000000000, &a->seed)) return 2;
        } else if (c == 'M') {
            if (cli_parse_double("run", "--fail-max", optarg, &a->fail_max) || a->fail_max < 1)
                return cli_error("run", "--fail-max wants a count of instructions"), 2;
        } else if (c == 'T') {
            if (cli_parse_timeout("run", optarg, &a->timeout)) return 2;
        } else if (c == 'h') return usage(stdout), 0;
        else return usage(stderr), 2;
    }
    if (optind != argc || !a->model || (!a->data == !a->raw)) return usage(stderr), 2;
    if (a->host && (a->fail_steps || a->fail_commit >= 0 || a->fail_every))
        return cli_error("run", "--fail-steps, --fail-commit and --fail-every count instructions: --target qemu-m4 "
                                "(on the host use --fail-writes or --fail-random)"), 2;
    if (!a->host && a->commit == REEF_COMMIT_RANDOM)
        return cli_error("run", "--commit random is for --target host (qemu-m4: every or ends)"), 2;
    if (!a->host && (a->fail_writes || a->every_byte))
        return cli_error("run", "--fail-writes and --every-byte are for --target host"), 2;
    if (power_opts_check("run", &a->po)) return 2;
    return -1;
}

static int load_inputs(const irun *a, const reef_graph *g, const reef_lowered_model *m, int8_t **inputs, int *n,
                       reef_error *err)
{
    if (a->raw) {
        uint8_t *data;
        size_t size;
        if (reef_read_file(a->raw, &data, &size, err)) return -1;
        if (!size || size % (size_t)m->input_bytes) {
            free(data);
            return reef_fail(err, "%s: %zu bytes is not a whole number of %d-byte inputs", a->raw, size, m->input_bytes);
        }
        *inputs = (int8_t *)data;
        *n = (int)(size / (size_t)m->input_bytes);
    } else {
        reef_dataset ds;
        if (reef_dataset_load(a->data, &ds, err)) return -1;
        int rc = reef_pipeline_int8_inputs(g, m, &ds, a->data, inputs, err);
        *n = (int)ds.count;
        reef_dataset_free(&ds);
        if (rc) return -1;
    }
    if (a->limit && a->limit < *n) *n = (int)a->limit;
    return 0;
}

/* One run with a failure schedule; counts outcome. */
static int run_once(const char *elf, const int8_t *in, int n, const reef_lowered_model *m, const int8_t *want,
                    int8_t *got, const reef_fail_schedule *fs, double timeout, outcome *o, reef_error *err)
{
    reef_intermittent_report rep;
    if (reef_m4_run_intermittent(elf, in, n, (size_t)m->input_bytes, got, (size_t)m->output_bytes, fs, &rep, timeout,
                                 err)) {
        reef_intermittent_report_free(&rep);
        return -1;
    }
    o->runs++, o->boots += rep.boots, o->failures += rep.failures, o->instructions += rep.instructions;
    for (int i = 0; i < n; i++)
        o->differing += memcmp(got + (size_t)i * m->output_bytes, want + (size_t)i * m->output_bytes,
                               (size_t)m->output_bytes) != 0;
    reef_intermittent_report_free(&rep);
    return 0;
}

static void progress(const irun *a, const char *what, long done, long total)
{
    if (a->json || !isatty(2)) return;
    fprintf(stderr, "\r  %s: %ld/%ld runs", what, done, total);
    if (done == total) fputc('\n', stderr);
}

static void print_result(const irun *a, const reef_intermittent_plan *p, int n, const reef_intermittent_report *base,
                         const outcome *o, int no)
{
    double per = (double)base->inference_instructions / (base->inferences_in_last_boot ? base->inferences_in_last_boot : 1);
    if (a->json) {
        reef_json j;
        reef_json_begin(&j, stdout);
        reef_json_object(&j);
        reef_json_kv_string(&j, "model", a->model);
        reef_json_kv_int(&j, "inputs", n);
        reef_json_kv_int(&j, "units", p->nunits);
        reef_json_kv_number(&j, "instructions_per_inference_no_failure_emulated", per);
        reef_json_key(&j, "failure_runs");
        reef_json_array(&j);
        for (int i = 0; i < no; i++) {
            reef_json_object(&j);
            reef_json_kv_string(&j, "schedule", o[i].what);
            reef_json_kv_int(&j, "runs", o[i].runs);
            reef_json_kv_int(&j, "boots", o[i].boots);
            reef_json_kv_int(&j, "power_failures", o[i].failures);
            reef_json_kv_int(&j, "outputs_differing", o[i].differing);
            reef_json_kv_int(&j, "instructions_emulated", (int64_t)o[i].instructions);
            reef_json_end(&j);
        }
        reef_json_end(&j);
        reef_json_end(&j);
        reef_json_finish(&j);
        return;
    }
    printf("%s: %d inputs, %d units; no failure: %.0f instructions per inference (emulated, commits included)\n\n",
           a->model, n, p->nunits, per);
    reef_table t;
    reef_table_init(&t, "failures", ">runs", ">boots", ">power failures", ">outputs differing", ">instructions", NULL);
    for (int i = 0; i < no; i++) {
        reef_table_cell(&t, "%s", o[i].what), reef_table_cell(&t, "%ld", o[i].runs);
        reef_table_cell(&t, "%ld", o[i].boots), reef_table_cell(&t, "%ld", o[i].failures);
        reef_table_cell(&t, "%ld of %ld", o[i].differing, o[i].runs * n);
        reef_table_cell(&t, "%" PRIu64, o[i].instructions);
    }
    reef_table_print(&t, stdout, NULL);
    printf("(instructions: emulated, all boots; every run finished: no hang)\n");
}

static int failure_runs(const irun *a, const char *elf, const int8_t *in, int n, const reef_lowered_model *m,
                        const int8_t *want, const reef_intermittent_report *base, outcome *o, int *no, reef_error *err)
{
    int8_t *got = malloc((size_t)n * m->output_bytes);
    if (!got) return reef_fail(err, "out of memory");
    int rc = 0, commits = base->nmarks / 2;
    if (a->fail_steps) {
        outcome *x = &o[(*no)++];
        x->what = "at every commit point (unit boundary)";
        for (int c = 0; c < commits && !rc; c++) {
            uint64_t at = base->marks[2 * c];
            reef_fail_schedule fs = {.kind = REEF_FAIL_AT, .at = &at, .nat = 1};
            rc = run_once(elf, in, n, m, want, got, &fs, a->timeout, x, err);
            progress(a, x->what, c + 1, commits);
        }
    }
    if (!rc && a->fail_commit >= 0) {
        if (a->fail_commit >= commits) {
            free(got);
            return reef_fail(err, "--fail-commit %ld: the run has commits 0 to %d", a->fail_commit, commits - 1);
        }
        outcome *x = &o[(*no)++];
        x->what = a->fail_stride == 1 ? "at every instruction of one commit" : "at every S-th instruction of one commit";
        uint64_t from = base->marks[2 * a->fail_commit], to = base->marks[2 * a->fail_commit + 1];
        for (uint64_t at = from; at <= to && !rc; at += (uint64_t)a->fail_stride) {
            reef_fail_schedule fs = {.kind = REEF_FAIL_AT, .at = &at, .nat = 1};
            rc = run_once(elf, in, n, m, want, got, &fs, a->timeout, x, err);
            progress(a, x->what, (long)(at - from + 1), (long)(to - from + 1));
        }
    }
    if (!rc && a->fail_every) {
        outcome *x = &o[(*no)++];
        x->what = "every boot after N instructions";
        reef_fail_schedule fs = {.kind = REEF_FAIL_EVERY, .every = (uint64_t)a->fail_every, .max_boots = 20000};
        rc = run_once(elf, in, n, m, want, got, &fs, a->timeout, x, err);
    }
    if (!rc && a->fail_random) {
        /* K failures at random counts: runs (each from a fresh NVM) whose boots
         * fail at random points until one finishes, until K failures in all */
        outcome *x = &o[(*no)++];
        x->what = "at random instruction counts";
        uint64_t max = a->fail_max > 0 ? (uint64_t)a->fail_max : base->last_boot_instructions;
        for (long seed = a->seed; !rc && x->failures < a->fail_random; seed++) {
            /* at most the failures still owed, so the total is exactly K */
            reef_fail_schedule fs = {.kind = REEF_FAIL_RANDOM, .random_count = (int)(a->fail_random - x->failures), .random_max = max,
                                     .seed = (uint64_t)seed, .max_boots = 100000};
            rc = run_once(elf, in, n, m, want, got, &fs, a->timeout, x, err);
            progress(a, x->what, x->failures < a->fail_random ? x->failures : a->fail_random, a->fail_random);
        }
    }
    free(got);
    return rc;
}

/* The model, its schedule, the inputs and the continuous run's outputs:
 * what both targets start from. */
typedef struct prepared {
    reef_graph g;
    reef_lowered_model m;
    reef_intermittent_plan plan;
    int8_t *in, *want;
    int n, lowered;
} prepared;

static void prepared_free(prepared *p)
{
    if (p->lowered) {
        reef_intermittent_plan_free(&p->plan);
        reef_lowered_free(&p->m);
        reef_graph_free(&p->g);
    }
    free(p->in), free(p->want);
    memset(p, 0, sizeof *p);
}

static int prepare(const irun *a, prepared *p, reef_error *err)
{
    reef_intermittent_options io;
    reef_device_profile prof;
    memset(p, 0, sizeof *p);
    if (reef_tflite_read(a->model, &p->g, err)) return -1;
    reef_lower_options lopt = {0, a->memory, REEF_PATCH_AUTO};
    if (reef_lower_with(&p->g, &lopt, &p->m, err)) {
        reef_graph_free(&p->g);
        return reef_fail_wrap(err, "%s", a->model);
    }
    p->lowered = 1;
    int fell_back = 0;
    if (power_plan_memory("run", &a->po, &p->g, &lopt, &p->m, &prof, &io, &p->plan, &fell_back))
        return reef_fail(err, "no schedule (above)");
    if (a->memory != REEF_MEMORY_FAST && !a->json)
        fprintf(stderr, "reef run: --memory %s: arena %zu B (layer by layer %zu B), %d steps in place, %d ROWS steps, "
                        "%d layers fallen back\n",
                reef_memory_mode_name(a->memory), p->m.arena_size, p->m.arena_layer_by_layer, p->m.in_place_steps,
                p->m.rows_steps, fell_back);
    if (load_inputs(a, &p->g, &p->m, &p->in, &p->n, err)) return -1;
    if (!(p->want = malloc((size_t)p->n * p->m.output_bytes))) return reef_fail(err, "out of memory");
    for (int i = 0; i < p->n; i++)
        if (reef_lowered_invoke_bytes(&p->m, p->m.arena, p->in + (size_t)i * p->m.input_bytes,
                                      p->want + (size_t)i * p->m.output_bytes))
            return reef_fail(err, "%s: the host interpreter refused the model", a->model);
    return 0;
}

static int run_all(const irun *a, reef_error *err)
{
    prepared p;
    int8_t *got = NULL;
    int rc = -1, no = 0;
    char dir[4096] = "", elf[4200], name[72];
    outcome o[4];
    memset(o, 0, sizeof o);
    reef_intermittent_report base = {0};
    if (prepare(a, &p, err)) goto done;
    const reef_lowered_model *m = &p.m;
    int n = p.n;
    if (!(got = malloc((size_t)n * m->output_bytes))) goto done;
    snprintf(dir, sizeof dir, "%s", a->work ? a->work : "/tmp/reef-run-intermittent-XXXXXX");
    if (a->work ? mkdir(dir, 0777) && access(dir, W_OK) : !mkdtemp(dir)) {
        reef_fail(err, "%s: cannot make the work folder", dir);
        dir[0] = 0;
        goto done;
    }
    reef_c_name_from_path(a->model, name, sizeof name);
    snprintf(elf, sizeof elf, "%s/%s-intermittent.elf", dir, name);
    if (!a->json) fprintf(stderr, "reef run: building %s's intermittent firmware (%d units)...\n", a->model, p.plan.nunits);
    if (reef_intermittent_build(m, &p.plan, dir, name, elf, a->commit == REEF_COMMIT_ENDS, err)) goto done;
    /* a failure-free run: the baseline counts and the commit marks */
    reef_fail_schedule none = {.kind = REEF_FAIL_NONE};
    if (reef_m4_run_intermittent(elf, p.in, n, (size_t)m->input_bytes, got, (size_t)m->output_bytes, &none, &base,
                                 a->timeout, err))
        goto done;
    o[no].what = "none";
    o[no].runs = 1, o[no].boots = base.boots, o[no].instructions = base.instructions;
    for (int i = 0; i < n; i++)
        o[no].differing += memcmp(got + (size_t)i * m->output_bytes, p.want + (size_t)i * m->output_bytes,
                                  (size_t)m->output_bytes) != 0;
    no++;
    if (failure_runs(a, elf, p.in, n, m, p.want, &base, o, &no, err)) goto done;
    print_result(a, &p.plan, n, &base, o, no);
    rc = 0;
    for (int i = 0; i < no; i++)
        if (o[i].differing) rc = reef_fail(err, "%ld outputs differ from the continuous run (%s)", o[i].differing, o[i].what);
done:
    if (!a->work && dir[0] == '/') {
        char cmd[4300];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (strncmp(dir, "/tmp/reef-run-intermittent-", 27) == 0 && system(cmd)) {}
    }
    reef_intermittent_report_free(&base);
    free(got);
    prepared_free(&p);
    return rc;
}

/* ---- --target host: the runtime C over an NVM in host memory ------------ */

static void host_progress(void *ctx, long done, long total)
{
    const char *what = ctx;
    if (!isatty(2)) return;
    fprintf(stderr, "\r  %s: %ld/%ld", what, done, total);
    if (done == total) fputc('\n', stderr);
}

static void host_row(reef_table *t, const char *what, const reef_fail_stats *s)
{
    reef_table_cell(t, "%s", what), reef_table_cell(t, "%ld", s->runs), reef_table_cell(t, "%ld", s->failures);
    reef_table_cell(t, "%ld", s->record_failures), reef_table_cell(t, "%ld", s->torn);
    reef_table_cell(t, "%ld", s->resumes);
    reef_table_cell(t, "%ld of %ld", s->outputs - s->outputs_differing, s->outputs);
    reef_table_cell(t, "%ld", s->hangs), reef_table_cell(t, "%.1f", s->seconds);
}

static void host_json_row(reef_json *j, const char *what, const reef_fail_stats *s)
{
    reef_json_object(j);
    reef_json_kv_string(j, "failures_at", what);
    reef_json_kv_int(j, "runs", s->runs);
    reef_json_kv_int(j, "power_failures", s->failures);
    reef_json_kv_int(j, "in_record_writes", s->record_failures);
    reef_json_kv_int(j, "torn_bytes", s->torn);
    reef_json_kv_int(j, "boots", s->boots);
    reef_json_kv_int(j, "resumes", s->resumes);
    reef_json_kv_int(j, "outputs", s->outputs);
    reef_json_kv_int(j, "outputs_differing", s->outputs_differing);
    reef_json_kv_int(j, "hangs", s->hangs);
    reef_json_kv_number(j, "seconds_measured", s->seconds);
    reef_json_end(j);
}

static void host_print(const irun *a, const reef_intermittent_plan *p, const reef_host_rig *g,
                       const reef_fail_stats *s, const char *const *what, int ns)
{
    if (a->json) {
        reef_json j;
        reef_json_begin(&j, stdout);
        reef_json_object(&j);
        reef_json_kv_string(&j, "model", a->model);
        reef_json_kv_string(&j, "target", "host");
        reef_json_kv_int(&j, "inputs", g->n);
        reef_json_kv_int(&j, "units", p->nunits);
        reef_json_kv_int(&j, "nvm_write_calls_per_run", g->calls_per_run);
        reef_json_kv_int(&j, "nvm_record_write_calls_per_run", g->record_calls_per_run);
        reef_json_kv_int(&j, "nvm_bytes_written_per_run", g->bytes_per_run);
        reef_json_key(&j, "failure_runs");
        reef_json_array(&j);
        for (int i = 0; i < ns; i++) host_json_row(&j, what[i], &s[i]);
        reef_json_end(&j);
        reef_json_end(&j);
        reef_json_finish(&j);
        return;
    }
    printf("%s on the host: %d inputs, %d units; a failure-free run makes %ld NVM writes (%ld to the progress "
           "record), %ld bytes\n\n",
           a->model, g->n, p->nunits, g->calls_per_run, g->record_calls_per_run, g->bytes_per_run);
    reef_table t;
    reef_table_init(&t, "failures at", ">runs", ">power failures", ">in record writes", ">torn bytes", ">resumes",
                    ">outputs equal", ">hangs", ">seconds", NULL);
    for (int i = 0; i < ns; i++) host_row(&t, what[i], &s[i]);
    reef_table_print(&t, stdout, NULL);
    printf("(seconds: measured wall time on this host; outputs against the continuous run)\n");
}

static int run_host(const irun *a, reef_error *err)
{
    prepared p;
    reef_host_rig rig = {0};
    int rc = -1, ns = 0;
    reef_fail_stats st[2];
    const char *what[2];
    memset(st, 0, sizeof st);
    if (prepare(a, &p, err) || reef_host_rig_init(&rig, &p.m, &p.plan, p.in, p.n, p.want, err)) goto done;
    if (a->commit != REEF_COMMIT_EVERY && reef_host_rig_policy(&rig, a->commit, (uint64_t)a->seed * 7919u + 1u, err))
        goto done;
    if (a->fail_writes) {
        what[ns] = a->every_byte ? "every write, every byte" : "every write; record bytes";
        if (reef_host_fail_exhaustive(&rig, a->every_byte, &st[ns], a->json ? NULL : host_progress,
                                      (void *)what[ns], err) < 0)
            goto done;
        ns++;
    }
    if (a->fail_random) {
        what[ns] = "random writes and bytes";
        if (reef_host_fail_random(&rig, a->fail_random, (uint64_t)a->seed, &st[ns], a->json ? NULL : host_progress,
                                  (void *)what[ns], err))
            goto done;
        ns++;
    }
    host_print(a, &p.plan, &rig, st, what, ns);
    rc = 0;
    for (int i = 0; i < ns; i++) {
        if (st[i].outputs_differing)
            rc = reef_fail(err, "%ld outputs differ from the continuous run (%s)", st[i].outputs_differing, what[i]);
        if (st[i].hangs) rc = reef_fail(err, "%ld runs hung (%s)", st[i].hangs, what[i]);
    }
done:
    reef_host_rig_free(&rig);
    prepared_free(&p);
    return rc;
}

int run_intermittent(int argc, char **argv)
{
    irun a;
    int rc = parse(argc, argv, &a);
    if (rc >= 0) return rc;
    reef_error err = {{0}};
    if ((a.host ? run_host(&a, &err) : run_all(&a, &err))) return cli_error("run", "%s", err.msg);
    return 0;
}
