/* reef: images -> dataset -> float model -> int8 model -> C -> firmware. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "data/dataset.h"
#include "util/io.h"
#include "util/ranks.h"

static const reef_command commands[] = {
    {"prep", cmd_prep, "images -> dataset file (DeepFish CSVs, class folders, IDX)"},
    {"info", cmd_info, "check a dataset file and print its summary"},
    {"inspect", cmd_inspect, "show a .tflite model: ops, tensors, MACs, unsupported ops"},
    {"gen", cmd_gen, "int8 .tflite -> C: const weights, planned arena, step table"},
    {"infer", cmd_infer, "run one raw int8 tensor through a model (host interpreter or qemu-m4)"},
    {"train", cmd_train, "dataset -> float model checkpoint (fish-s, fish-m or a spec)"},
    {"cv", cmd_cv, "cross-validation over groups: leave-one-habitat-out accuracy, float and int8"},
    {"eval", cmd_eval, "accuracy, confusion matrix and per-group accuracy of a model"},
    {"quantize", cmd_quantize, "float checkpoint -> int8 .tflite (static post-training quantization)"},
    {"run", cmd_run, "every sample of a dataset through the generated C on host or qemu-m4: accuracy, cost"},
    {"report", cmd_report, "the paper's Table 1 for a model: float vs int8 accuracy, flash, RAM, power, time, energy"},
    {"search", cmd_search, "hardware-aware architecture search (ProxylessNAS) under flash/RAM/latency/energy targets"},
    {"personalize", cmd_personalize, "on-device personalization: plan, split by habitat, run the update (host or qemu-m4)"},
    {"harvest", cmd_harvest, "an intermittent model on harvested power: capacitor voltage, time to result, inferences/hour"},
    {"profile-ops", cmd_profile_ops, "the search's cost table: ops of the search space timed on the emulated Cortex-M4"},
};
static const int command_count = (int)(sizeof commands / sizeof commands[0]);

int cli_error(const char *name, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "reef %s: ", name);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 1;
}

int cli_agree(const char *name, int failed, const char *msg)
{
    char text[1024];
    snprintf(text, sizeof text, "%s", msg ? msg : "");
    if (!reef_ranks_agree(failed, text, sizeof text)) return 0;
    /* a rank that failed lowest-numbered is the one agree names; when that
     * is this rank and it printed its own message (msg NULL), say no more */
    const int this_rank_printed = failed && !msg;
    if (!this_rank_printed) cli_error(name, "%s", text);
    return 1;
}

int cli_follow_classes(const char *name, reef_dataset *ds, const char *data_path, const reef_class_names *classes,
                       const char *model_path)
{
    reef_error err;
    char note[1024];
    if (reef_dataset_follow_classes(ds, data_path, classes, model_path, note, sizeof note, &err))
        return cli_error(name, "%s", err.msg);
    if (note[0] && reef_ranks_rank() == 0) fprintf(stderr, "reef %s: %s\n", name, note);
    return 0;
}

void cli_deprecated(const char *name, const char *old_spelling, const char *new_spelling)
{
    if (reef_ranks_rank() == 0)
        fprintf(stderr, "reef %s: note: %s is deprecated; use %s (the old spelling still works)\n", name, old_spelling,
                new_spelling);
}

const char *cli_input_file(const char *name, const char *flag, const char *flagged, int argc, char **argv)
{
    const int positional = argc - optind;
    if (positional > 1 || (positional == 1 && flagged)) {
        cli_error(name, "unexpected argument '%s' (the file goes after %s)", argv[argc - 1], flag);
        return NULL;
    }
    if (flagged) return flagged;
    if (positional == 0) {
        cli_error(name, "%s FILE is required (see --help)", flag);
        return NULL;
    }
    char old[64], now[64];
    snprintf(old, sizeof old, "'reef %s FILE'", name);
    snprintf(now, sizeof now, "'reef %s %s FILE'", name, flag);
    cli_deprecated(name, old, now);
    return argv[optind];
}

int cli_parse_int(const char *name, const char *opt, const char *text, long min, long max, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno || end == text || *end || v < min || v > max) {
        cli_error(name, "%s wants a whole number from %ld to %ld, not '%s'", opt, min, max, text);
        return -1;
    }
    *out = v;
    return 0;
}

int cli_parse_double(const char *name, const char *opt, const char *text, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (errno || end == text || *end) {
        cli_error(name, "%s wants a number, not '%s'", opt, text);
        return -1;
    }
    if (!isfinite(v)) { /* strtod takes "nan" and "inf": no option means them */
        cli_error(name, "%s wants a finite number, not '%s'", opt, text);
        return -1;
    }
    *out = v;
    return 0;
}

int cli_parse_timeout(const char *name, const char *text, double *out)
{
    if (cli_parse_double(name, "--timeout", text, out)) return -1;
    if (*out <= 0) {
        cli_error(name, "--timeout wants a positive number of seconds");
        return -1;
    }
    return 0;
}

int cli_check_run_target(const char *name, const char *target)
{
    if (strcmp(target, "host") && strcmp(target, "qemu-m4")) {
        cli_error(name, "unknown --target '%s' (host or qemu-m4)", target);
        return -1;
    }
    return 0;
}

int cli_check_output(const char *name, const char *out_opt, const char *out, ...)
{
    if (!out) return 0;
    va_list ap;
    va_start(ap, out);
    const char *in_opt;
    int status = 0;
    while (!status && (in_opt = va_arg(ap, const char *))) {
        const char *in = va_arg(ap, const char *);
        if (reef_same_file(out, in))
            status = cli_error(name, "%s %s is the same file as %s %s: refusing to overwrite an input", out_opt, out,
                               in_opt, in);
    }
    va_end(ap);
    reef_error err;
    if (!status && reef_check_output_path(out, &err)) status = cli_error(name, "%s %s", out_opt, err.msg);
    return status;
}

static void usage(FILE *fp)
{
    fprintf(fp, "usage: reef COMMAND [options]   (reef COMMAND --help for its options; reef --version)\n\n"
                "Turns a folder of images into a small int8 network running on a microcontroller.\n\n"
                "commands:\n");
    for (int i = 0; i < command_count; i++) fprintf(fp, "  %-10s %s\n", commands[i].name, commands[i].summary);
}

/* Commands that split their work over `mpirun -np N` ranks (docs/mpi.md);
 * every other command refuses to run on more than one rank, which would
 * only repeat its work N times into the same output. */
static int runs_over_ranks(const char *name)
{
    static const char *const names[] = {"train", "prep", "cv", "profile-ops"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!strcmp(name, names[i])) return 1;
    return 0;
}

static int dispatch(int argc, char **argv);

/* Under mpirun: rank 0 alone prints (the others' stdout and stderr go to
 * /dev/null unless REEF_RANKS_VERBOSE is set); a failure reaches rank 0
 * through reef_ranks_agree. A rank that fails without agreeing aborts all. */
int main(int argc, char **argv)
{
    if (reef_ranks_init(&argc, &argv)) {
        fprintf(stderr, "reef: MPI failed to start (launched by mpirun?)\n");
        return 1;
    }
    const int size = reef_ranks_size();
    if (reef_ranks_rank() > 0 && !getenv("REEF_RANKS_VERBOSE")) {
        if (!freopen("/dev/null", "w", stdout) || !freopen("/dev/null", "w", stderr)) reef_ranks_abort(1);
    }
    if (size > 1 && argc >= 2 && !runs_over_ranks(argv[1])) {
        fprintf(stderr, "reef: '%s' does not run over MPI ranks (train, prep, cv and profile-ops do): run it as one process, "
                        "without mpirun -np %d\n", argv[1], size);
        reef_ranks_finalize();
        return 2;
    }
    int status = dispatch(argc, argv);
    fflush(stdout);
    fflush(stderr);
    if (status && !reef_ranks_failure_agreed()) reef_ranks_abort(status);
    reef_ranks_finalize();
    return status;
}

static int dispatch(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
        printf("reef %s (commit %s)\n", REEF_VERSION, REEF_COMMIT);
        return 0;
    }
    for (int i = 0; i < command_count; i++)
        if (!strcmp(argv[1], commands[i].name)) {
            /* getopt names argv[0] in its messages: "reef train: unrecognized option '--x'" */
            char name[64];
            snprintf(name, sizeof name, "reef %s", commands[i].name);
            argv[1] = name;
            return commands[i].run(argc - 1, argv + 1);
        }
    fprintf(stderr, "reef: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
