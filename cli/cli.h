/* The reef command: one subcommand per pipeline stage. Each subcommand is a
 * function `int cmd_<name>(int argc, char **argv)` (argv[0] is the
 * subcommand's name) returning the process exit status; it parses its own
 * options with getopt_long, and takes --help and --json. */
#ifndef REEF_CLI_H
#define REEF_CLI_H

#include <stdio.h>

typedef struct reef_command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} reef_command;

/* Prints "reef NAME: message" to stderr and returns 1 (an exit status). */
int cli_error(const char *name, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Says on stderr (rank 0 only) that an old spelling still works but is
 * deprecated: "reef NAME: note: OLD is deprecated; use NEW". */
void cli_deprecated(const char *name, const char *old_spelling, const char *new_spelling);

/* The one input file of info, inspect and gen: `FLAG FILE` (flagged, the
 * form every command takes its files in), or the old form, one positional
 * FILE after the options, with a deprecation note. flagged is the value
 * given with flag (or NULL); argv[optind..] are the positional arguments.
 * Returns the file, or NULL after a message (exit status 2). */
const char *cli_input_file(const char *name, const char *flag, const char *flagged, int argc, char **argv);

/* Parses a positive integer option value; on error prints and returns -1. */
int cli_parse_int(const char *name, const char *opt, const char *text, long min, long max, long *out);
int cli_parse_double(const char *name, const char *opt, const char *text, double *out);
/* Parses --timeout (seconds, > 0); on error prints and returns -1. */
int cli_parse_timeout(const char *name, const char *text, double *out);
/* Checks an output path before any work: it must not be one of the
 * command's inputs (compared by device and inode, not spelling: see
 * reef_same_file), and its folder must exist and be writable. After out
 * come (option, path) pairs naming the inputs, ended by NULL; NULL paths
 * are skipped. Returns 0, or 1 (an exit status) after a message like
 * "reef train: -o a.ds is the same file as --train a.ds: refusing to
 * overwrite an input". */
int cli_check_output(const char *name, const char *out_opt, const char *out, ...) __attribute__((sentinel));

/* Under mpirun (util/ranks.h): every rank says whether it failed, with its
 * message in msg (may be NULL when the rank printed it already). If any
 * rank failed, prints "reef NAME: rank R: message" (rank 0's stderr is
 * the one shown) and returns 1 on every rank; else 0. One process: prints
 * msg when failed (if not NULL) and returns failed != 0. */
int cli_agree(const char *name, int failed, const char *msg);

/* Makes a dataset speak a model's classes (reef_dataset_follow_classes):
 * the same list passes; the same set in another order is mapped, with a
 * note on stderr; a model without class names (an older file) passes with
 * a warning; anything else prints an error naming both files and both
 * lists and returns 1 (an exit status). Notes go to stderr (rank 0 only),
 * so --json output on stdout stays JSON. */
struct reef_dataset;
struct reef_class_names;
int cli_follow_classes(const char *name, struct reef_dataset *ds, const char *data_path,
                       const struct reef_class_names *classes, const char *model_path);

/* 0 when target names an emulated-run target (host or qemu-m4); otherwise
 * prints and returns -1. */
int cli_check_run_target(const char *name, const char *target);

/* The subcommands. Add one line here and one in reef.c's table. */
int cmd_prep(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_inspect(int argc, char **argv);
int cmd_gen(int argc, char **argv);
int cmd_infer(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_quantize(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_profile_ops(int argc, char **argv);
int cmd_search(int argc, char **argv);
int cmd_personalize(int argc, char **argv);
int cmd_cv(int argc, char **argv);
/* reef report --repeat N (report_repeat.c) */
int cmd_report_repeat(int argc, char **argv);
/* reef report --memory (report_memory.c) */
int cmd_report_memory(int argc, char **argv);
int cmd_harvest(int argc, char **argv);

/* A dataset's per-class and per-group counts: tables on stdout, or the
 * "classes" and "groups" arrays into j when j is not NULL (cmd_info.c). */
struct reef_json;
int info_dataset_counts(const struct reef_dataset *ds, struct reef_json *j);

#endif
