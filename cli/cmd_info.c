/* reef info FILE: a dataset file's summary, after checking its CRCs. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "data/dataset.h"
#include "data/prep.h"
#include "util/json.h"
#include "util/table.h"

static void count_table(const char *what, const char *const *names, const uint32_t *counts,
                        uint32_t n, uint32_t total)
{
    reef_table t;
    reef_table_init(&t, what, ">count", ">share", NULL);
    for (uint32_t i = 0; i < n; i++) {
        reef_table_cell(&t, "%s", names[i]);
        reef_table_cell(&t, "%u", counts[i]);
        reef_table_cell(&t, "%.1f%%", total ? 100.0 * counts[i] / total : 0.0);
    }
    reef_table_print(&t, stdout, NULL);
}

static void count_json(reef_json *j, const char *key, const char *const *names, const uint32_t *counts,
                       uint32_t n)
{
    reef_json_key(j, key);
    reef_json_array(j);
    for (uint32_t i = 0; i < n; i++) {
        reef_json_object(j);
        reef_json_kv_string(j, "name", names[i]);
        reef_json_kv_int(j, "count", counts[i]);
        reef_json_end(j);
    }
    reef_json_end(j);
}

/* Per-class and per-group counts: tables, or "classes"/"groups" arrays. */
int info_dataset_counts(const reef_dataset *ds, reef_json *j)
{
    uint32_t *per_class = malloc(ds->num_classes * sizeof *per_class);
    uint32_t *per_group = malloc(ds->num_groups * sizeof *per_group);
    if (!per_class || !per_group) {
        free(per_class);
        free(per_group);
        return -1;
    }
    reef_dataset_count(ds, per_class, per_group);
    if (j) {
        count_json(j, "classes", ds->class_names, per_class, ds->num_classes);
        count_json(j, "groups", ds->group_names, per_group, ds->num_groups);
    } else {
        count_table("class", ds->class_names, per_class, ds->num_classes, ds->count);
        putchar('\n');
        count_table("group", ds->group_names, per_group, ds->num_groups, ds->count);
    }
    free(per_class);
    free(per_group);
    return 0;
}

static void usage(FILE *fp)
{
    fprintf(fp, "usage: reef info --data FILE [--json]\n\n"
                "Checks a dataset file (magic, version, sizes, CRCs) and prints its shape and\n"
                "per-class and per-group sample counts. Exit status 1 if it is damaged.\n"
                "(The old form, `reef info FILE`, still works.)\n");
}

static int print_info(const char *path, const reef_dataset *ds, int json)
{
    struct stat st;
    long long bytes = stat(path, &st) == 0 ? (long long)st.st_size : -1;
    if (!json) {
        printf("%s: reef dataset v%d, %lld bytes, CRC ok\n%u samples of %ux%ux%u (HxWxC), %u classes, %u groups\n\n",
               path, REEF_DATASET_VERSION, bytes, ds->count, ds->height, ds->width, ds->channels,
               ds->num_classes, ds->num_groups);
        return info_dataset_counts(ds, NULL);
    }
    reef_json j;
    reef_json_begin(&j, stdout);
    reef_json_object(&j);
    reef_json_kv_string(&j, "file", path);
    reef_json_kv_int(&j, "version", REEF_DATASET_VERSION);
    reef_json_kv_int(&j, "bytes", bytes);
    reef_json_kv_bool(&j, "crc_ok", 1);
    reef_json_kv_int(&j, "count", ds->count);
    reef_json_kv_int(&j, "height", ds->height);
    reef_json_kv_int(&j, "width", ds->width);
    reef_json_kv_int(&j, "channels", ds->channels);
    int rc = info_dataset_counts(ds, &j);
    reef_json_end(&j);
    reef_json_finish(&j);
    return rc;
}

int cmd_info(int argc, char **argv)
{
    static const struct option opts[] = {{"json", no_argument, NULL, 'j'},
                                         {"data", required_argument, NULL, 'd'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    int json = 0, c;
    const char *flagged = NULL;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 'j') json = 1;
        else if (c == 'd') flagged = optarg;
        else if (c == 'h') return usage(stdout), 0;
        else return usage(stderr), 2;
    }
    const char *path = cli_input_file("info", "--data", flagged, argc, argv);
    if (!path) return 2;
    reef_dataset ds;
    reef_error err;
    if (reef_dataset_load(path, &ds, &err)) return cli_error("info", "%s", err.msg);
    int rc = print_info(path, &ds, json);
    reef_dataset_free(&ds);
    return rc ? cli_error("info", "out of memory") : 0;
}
