/* reef prep: labelled images -> one dataset file (docs/formats/dataset.md). */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "util/ranks.h"
#include "data/background.h"
#include "data/prep.h"
#include "util/io.h"
#include "util/json.h"
#include "util/progress.h"
#include "util/table.h"

#define IDX_DEFAULT_ROOT "/usr/share/datasets/fashion-mnist"

static void usage(FILE *fp)
{
    fprintf(fp,
            "usage: reef prep --format deepfish|folders|idx --root DIR [--split NAME]\n"
            "                 [--size HxW] [--channels gray|r|g|b|rgb] -o FILE\n"
            "                 [--skip-bad] [--threads N] [--json]\n\n"
            "Decodes labelled images (JPEG, PNG) on all cores, resizes them by area averaging\n"
            "and writes one dataset file (see docs/formats/dataset.md).\n\n"
            "  --format deepfish  ROOT/Classification/SPLIT.csv (columns ID, labels; > 0 = fish),\n"
            "                     images ROOT/Classification/ID.jpg, group = habitat (default split train)\n"
            "  --format folders   ROOT[/SPLIT]/CLASS/*.jpg|jpeg|png, classes = folder names sorted\n"
            "  --format idx       ROOT/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz, --split train|test\n"
            "                     (ROOT defaults to " IDX_DEFAULT_ROOT ")\n"
            "  --size HxW         output height x width, as every shape in reef (default\n"
            "                     32x32; aspect ratio is not kept). Before 2026-12 prep read\n"
            "                     WxH: a value with H != W prints a note saying which is which\n"
            "  --channels C       gray (BT.601 luma, default), r, g, b, or rgb\n"
            "  -o, --output FILE  dataset file to write (atomically: never half-written)\n"
            "  --skip-bad         skip missing or corrupt images and list them, instead of failing\n"
            "  --background M     add a second channel: 128 + 2 x (frame - background of its clip),\n"
            "                     M = median (the clip's median frame) or running (causal running\n"
            "                     mean of the clip's earlier frames), or running-diff (running, and\n"
            "                     the difference ALONE: 1 channel, the fish default's input; the\n"
            "                     device computes it with runtime/ reef_background_difference);\n"
            "                     running-diff-previous / -lag4 / -slow: temporal context, 2\n"
            "                     channels [running difference, difference to the previous frame /\n"
            "                     the frame 4 back / a background 8x slower] (runtime/\n"
            "                     reef_temporal_step);\n"
            "                     gray only, IDs ..._f<N>\n"
            "  --background-over W  split (default): the background runs over the split's own\n"
            "                     frames of each clip; clip (deepfish): over every frame of the\n"
            "                     clip (all splits, as the camera saw them), then the split's\n"
            "                     frames are kept: what a device that sees every frame computes\n"
            "  --background-copies N  with running-diff, for TRAINING data: N more copies of every\n"
            "                     frame whose clip background started at a random frame and missed\n"
            "                     30%% of the frames (IDs <id>#aug<k>), so the net does not rely on a\n"
            "                     clean background (docs/generalization.md); never score on them\n"
            "  --threads N        decoding threads (default: all cores)\n"
            "  --json             print the summary as JSON (the sample count is \"count\")\n");
}

typedef struct prep_args {
    reef_prep_options opt;
    const char *background;
    int background_over_clip;
    long background_copies;
    const char *output;
    int json;
} prep_args;

/* --size HxW. It was WxH until 2026-12 (the one shape in reef given
 * width first): a non-square size says which side is which, so an old
 * command line that meant the other way round is noticed. */
static int parse_size(const char *text, uint32_t *h, uint32_t *w)
{
    unsigned a, b;
    char tail;
    if (sscanf(text, "%ux%u%c", &a, &b, &tail) != 2 || !a || !b || a > 4096 || b > 4096)
        return cli_error("prep", "--size wants HxW (height x width) with each side 1..4096, e.g. 32x32, not '%s'", text);
    *h = a;
    *w = b;
    if (a != b)
        fprintf(stderr, "reef prep: note: --size %s is height %u, width %u (HxW, as every shape in reef; before "
                        "2026-12 prep read WxH)\n", text, a, b);
    return 0;
}

/* Returns 0 to go on, or an exit status + 1: 1 after --help, 3 for a bad
 * option (exit status 2). */
static int parse_one(prep_args *a, int c, const char *arg)
{
    long n;
    switch (c) {
    case 'f':
        if (reef_prep_format_parse(arg, &a->opt.format))
            return 2 + cli_error("prep", "--format wants deepfish, folders or idx, not '%s'", arg);
        return 0;
    case 'r': a->opt.root = arg; return 0;
    case 's': a->opt.split = arg; return 0;
    case 'S': return parse_size(arg, &a->opt.height, &a->opt.width) ? 3 : 0;
    case 'c':
        if (reef_channels_parse(arg, &a->opt.channels))
            return 2 + cli_error("prep", "--channels wants gray, r, g, b or rgb, not '%s'", arg);
        return 0;
    case 'o': a->output = arg; return 0;
    case 'k': a->opt.skip_bad = 1; return 0;
    case 't':
        if (cli_parse_int("prep", "--threads", arg, 1, 64, &n)) return 3;
        a->opt.threads = (int)n;
        return 0;
    case 'j': a->json = 1; return 0;
    case 'B': {
        reef_bg_mode mode;
        if (reef_bg_mode_parse(arg, &mode)) return 2 + cli_error("prep", "--background wants median, running, running-diff, running-diff-previous, running-diff-lag4 or running-diff-slow, not '%s'", arg);
        a->background = arg;
        return 0;
    }
    case 'O':
        if (strcmp(arg, "split") && strcmp(arg, "clip"))
            return 2 + cli_error("prep", "--background-over wants split or clip, not '%s'", arg);
        a->background_over_clip = !strcmp(arg, "clip");
        return 0;
    case 'C': return cli_parse_int("prep", "--background-copies", arg, 0, 16, &a->background_copies) ? 3 : 0;
    case 'h': usage(stdout); return 1;
    default: usage(stderr); return 3;
    }
}

static int parse_args(int argc, char **argv, prep_args *a)
{
    static const struct option opts[] = {
        {"format", required_argument, NULL, 'f'},  {"root", required_argument, NULL, 'r'},
        {"split", required_argument, NULL, 's'},   {"size", required_argument, NULL, 'S'},
        {"channels", required_argument, NULL, 'c'}, {"output", required_argument, NULL, 'o'},
        {"skip-bad", no_argument, NULL, 'k'},      {"threads", required_argument, NULL, 't'},
        {"json", no_argument, NULL, 'j'},          {"help", no_argument, NULL, 'h'},
        {"background", required_argument, NULL, 'B'}, {"background-over", required_argument, NULL, 'O'},
        {"background-copies", required_argument, NULL, 'C'}, {NULL, 0, NULL, 0}};
    int c, have_format = 0;
    while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
        int rc = parse_one(a, c, optarg);
        if (rc) return rc - 1;
        have_format |= c == 'f';
    }
    if (optind != argc) return usage(stderr), 2;
    if (!have_format) return cli_error("prep", "--format is required (deepfish, folders or idx)") + 1;
    if (!a->opt.root && a->opt.format == REEF_PREP_IDX) a->opt.root = IDX_DEFAULT_ROOT;
    if (!a->opt.root) return cli_error("prep", "--root DIR is required") + 1;
    if (!a->output) return cli_error("prep", "-o FILE is required") + 1;
    if (a->background_over_clip && (!a->background || a->opt.format != REEF_PREP_DEEPFISH))
        return cli_error("prep", "--background-over clip goes with --format deepfish and --background") + 1;
    if (a->background_copies && (!a->background || strcmp(a->background, "running-diff")))
        return cli_error("prep", "--background-copies goes with --background running-diff") + 1;
    return -1; /* go on */
}

static void on_progress(void *ctx, uint32_t done, uint32_t total)
{
    reef_progress *bar = ctx;
    bar->total = total; /* known only once the input is listed */
    reef_progress_update(bar, done);
}

static void print_summary(const prep_args *a, const reef_dataset *ds, const reef_prep_report *rep,
                          double write_seconds)
{
    double total = rep->seconds + write_seconds;
    printf("%s: %u samples of %ux%ux%u (%s) from %s %s\n\n", a->output, ds->count, ds->height,
           ds->width, ds->channels, reef_channels_name(a->opt.channels),
           reef_prep_format_name(a->opt.format), a->opt.root);
    info_dataset_counts(ds, NULL);
    if (rep->skipped_count) {
        printf("\nskipped %u bad image%s:\n", rep->skipped_count, rep->skipped_count > 1 ? "s" : "");
        for (uint32_t i = 0; i < rep->skipped_count; i++) printf("  %s\n", rep->skipped[i]);
    }
    reef_table t;
    reef_table_init(&t, "listed", ">kept", ">skipped", ">threads", ">decode s", ">write s",
                    ">frames/s", NULL);
    reef_table_cell(&t, "%u", rep->listed);
    reef_table_cell(&t, "%u", ds->count);
    reef_table_cell(&t, "%u", rep->skipped_count);
    reef_table_cell(&t, "%d", rep->threads);
    reef_table_cell(&t, "%.3f", rep->seconds);
    reef_table_cell(&t, "%.3f", write_seconds);
    reef_table_cell(&t, "%.0f", total > 0 ? rep->listed / total : 0.0);
    putchar('\n');
    reef_table_print(&t, stdout, NULL);
}

static void print_json(const prep_args *a, const reef_dataset *ds, const reef_prep_report *rep,
                       double write_seconds)
{
    double total = rep->seconds + write_seconds;
    reef_json j;
    reef_json_begin(&j, stdout);
    reef_json_object(&j);
    reef_json_kv_string(&j, "output", a->output);
    reef_json_kv_string(&j, "format", reef_prep_format_name(a->opt.format));
    reef_json_kv_string(&j, "root", a->opt.root);
    reef_json_kv_int(&j, "count", ds->count);
    reef_json_kv_int(&j, "listed", rep->listed);
    reef_json_kv_int(&j, "height", ds->height);
    reef_json_kv_int(&j, "width", ds->width);
    reef_json_kv_int(&j, "channels", ds->channels);
    reef_json_kv_string(&j, "channel_mode", reef_channels_name(a->opt.channels));
    info_dataset_counts(ds, &j);
    reef_json_key(&j, "skipped");
    reef_json_array(&j);
    for (uint32_t i = 0; i < rep->skipped_count; i++) reef_json_string(&j, rep->skipped[i]);
    reef_json_end(&j);
    reef_json_kv_int(&j, "threads", rep->threads);
    reef_json_kv_number(&j, "decode_seconds", rep->seconds);
    reef_json_kv_number(&j, "write_seconds", write_seconds);
    reef_json_kv_number(&j, "seconds", total);
    reef_json_kv_number(&j, "frames_per_second", total > 0 ? rep->listed / total : 0.0);
    reef_json_end(&j);
    reef_json_finish(&j);
}

/* --background-over clip: the backgrounds over every frame of each clip
 * (DeepFish's "frames" list), then the split's frames; --background-copies:
 * the warm-up/drop training copies appended, over the same frames. */
static int with_background(const prep_args *a, const reef_dataset *ds, reef_bg_mode mode, reef_dataset *out,
                           reef_error *err)
{
    reef_dataset stream = *ds, diff;
    if (a->background_over_clip) {
        reef_prep_options o = a->opt;
        o.split = "frames", o.progress = NULL, o.progress_ctx = NULL;
        reef_prep_report rep;
        int rc = reef_prep_build(&o, &stream, &rep, err);
        reef_prep_report_free(&rep);
        if (rc) return reef_fail_wrap(err, "the clips' frames");
    }
    int rc = a->background_over_clip ? reef_dataset_with_stream_background(ds, &stream, mode, &diff, err)
                                     : reef_dataset_with_background(ds, mode, &diff, err);
    if (!rc && a->background_copies) {
        rc = reef_dataset_with_background_copies(&diff, &stream, (int)a->background_copies, 0.3, 1, out, err);
        reef_dataset_free(&diff);
    } else if (!rc) *out = diff;
    if (a->background_over_clip) reef_dataset_free(&stream);
    return rc;
}

int cmd_prep(int argc, char **argv)
{
    prep_args a = {.opt = {.format = REEF_PREP_DEEPFISH}};
    int rc = parse_args(argc, argv, &a);
    if (cli_agree("prep", rc > 0, NULL)) return rc;  // every rank parsed the same arguments
    if (rc >= 0) return rc;
    reef_error err = {""};
    /* under mpirun every rank decodes its slice of the list and ends with
     * the whole dataset; rank 0 alone writes it (util/ranks.h) */
    const int rank = reef_ranks_rank();
    char msg[sizeof err.msg + 16];
    int failed = reef_prep_check_output(&a.opt, a.output, &err);
    snprintf(msg, sizeof msg, "-o %s", err.msg);
    if (cli_agree("prep", failed, msg)) return 1;
    reef_progress bar;
    reef_progress_begin(&bar, "prep", "frames", 0, !a.json && rank == 0);
    if (bar.enabled) {
        a.opt.progress = on_progress;
        a.opt.progress_ctx = &bar;
    }
    reef_dataset ds;
    reef_prep_report rep;
    if (reef_prep_build(&a.opt, &ds, &rep, &err)) {
        reef_prep_report_free(&rep);
        if (bar.enabled) fputc('\n', stderr);
        /* ranks agreed on a decoding failure inside (it names the rank); a
         * listing failure is the same on every rank */
        return cli_error("prep", "%s", err.msg);
    }
    reef_progress_end(&bar);
    double t0 = reef_now();
    reef_dataset with_bg;  // borrows labels, groups, names and IDs from ds
    reef_bg_mode mode;
    int has_bg = a.background && !reef_bg_mode_parse(a.background, &mode);
    failed = has_bg && with_background(&a, &ds, mode, &with_bg, &err);
    snprintf(msg, sizeof msg, "--background: %s", err.msg);
    if (cli_agree("prep", failed, msg)) {
        reef_dataset_free(&ds);
        reef_prep_report_free(&rep);
        return 1;
    }
    failed = rank == 0 && reef_dataset_save(a.output, has_bg ? &with_bg : &ds, &err);
    double write_seconds = reef_now() - t0;
    if (cli_agree("prep", failed, err.msg)) rc = 1;
    else if (a.json) print_json(&a, has_bg ? &with_bg : &ds, &rep, write_seconds);
    else print_summary(&a, has_bg ? &with_bg : &ds, &rep, write_seconds);
    if (has_bg) reef_dataset_free(&with_bg);
    reef_dataset_free(&ds);
    reef_prep_report_free(&rep);
    return rc > 0 ? rc : 0;
}
