/* reef eval: a model on a dataset file -> accuracy, confusion matrix,
 * accuracy per group. Dispatches on the model file's magic. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "data/dataset.h"
#include "nn/checkpoint.h"
#include "nn/metrics.h"
#include "nn/model.h"
#include "nn/train.h"
#include "quant/quant.h"
#include "tflite/graph.h"
#include "util/io.h"
#include "util/json.h"

static const char *NAME = "eval";

static void usage(FILE *fp)
{
    fprintf(fp, "usage: reef eval --model MODEL --data FILE [--threads N] [--batch N] [--json]\n\n"
                "Evaluates a model on a dataset file from `reef prep`: accuracy, confusion\n"
                "matrix and accuracy per group (habitat). The data's class names must be the\n"
                "model's: in another order they are mapped (with a note); other names are refused.\n\n"
                "  --model MODEL   a float checkpoint from reef train, or an int8 .tflite\n"
                "  --data FILE     dataset file\n"
                "  --threads N     threads (default 2)\n"
                "  --batch N       samples per forward pass (default 256)\n"
                "  --json          print the report as JSON (\"accuracy\" is a fraction)\n");
}

/* Float checkpoint: predictions for every sample of ds, once ds speaks the
 * model's classes. Returns an exit status (message printed). */
static int predict_float(const char *path, reef_dataset *ds, const char *data_path, int threads, int batch,
                         uint16_t *pred, char *arch_name, size_t name_size)
{
    reef_error err;
    reef_model m;
    if (reef_ckpt_load(path, &m, NULL, &err)) return cli_error(NAME, "%s", err.msg);
    snprintf(arch_name, name_size, "%s", m.arch.name);
    int status = cli_follow_classes(NAME, ds, data_path, &m.classes, path);
    if (!status && (reef_check_dataset_fits(&m, ds, "the data", &err) || reef_model_set_batch(&m, batch, threads, &err)))
        status = cli_error(NAME, "%s: %s", path, err.msg);
    if (!status) reef_evaluate(&m, ds, pred, NULL);
    reef_model_free(&m);
    return status;
}

/* Int8 .tflite: predictions through the host interpreter (src/quant). */
static int predict_int8(const char *path, reef_dataset *ds, const char *data_path, uint16_t *pred, char *arch_name,
                        size_t name_size)
{
    reef_error err;
    reef_graph g;
    if (reef_tflite_read(path, &g, &err)) return cli_error(NAME, "%s", err.msg);
    snprintf(arch_name, name_size, "%s", g.name ? g.name : "");
    int status = cli_follow_classes(NAME, ds, data_path, &g.classes, path);
    if (!status && reef_int8_predict(&g, ds, NULL, 0, pred, &err)) status = cli_error(NAME, "%s: %s", path, err.msg);
    reef_graph_free(&g);
    return status;
}

/* Reads the first bytes of a file to tell the model formats apart. */
static int sniff(const char *path, uint8_t *head, size_t size, size_t *got, reef_error *err)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) return reef_fail(err, "%s: cannot open: %s", path, strerror(errno));
    *got = fread(head, 1, size, fp);
    fclose(fp);
    return 0;
}

int cmd_eval(int argc, char **argv)
{
    static const struct option opts[] = {
        {"model", required_argument, NULL, 'm'}, {"data", required_argument, NULL, 'd'},
        {"threads", required_argument, NULL, 't'}, {"batch", required_argument, NULL, 'b'},
        {"json", no_argument, NULL, 'j'},          {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    const char *model = NULL, *data = NULL;
    int json = 0, c;
    long threads = 2, batch = 256;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'm': model = optarg; break;
        case 'd': data = optarg; break;
        case 't':
            if (cli_parse_int(NAME, "--threads", optarg, 1, REEF_MAX_THREADS, &threads)) return 2;
            break;
        case 'b':
            if (cli_parse_int(NAME, "--batch", optarg, 1, 65536, &batch)) return 2;
            break;
        case 'j': json = 1; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc) return cli_error(NAME, "unexpected argument '%s'", argv[optind]) + 1;
    if (!model || !data) return cli_error(NAME, "--model and --data are required (see --help)") + 1;
    reef_error err;
    uint8_t head[8];
    size_t got = 0;
    if (sniff(model, head, sizeof head, &got, &err)) return cli_error(NAME, "%s", err.msg);
    const int int8 = reef_is_tflite(head, got);  // an int8 .tflite: the host interpreter (src/quant)
    if (!reef_ckpt_is(head, got) && !int8)
        return cli_error(NAME, "%s: neither a reef checkpoint nor a .tflite model", model);
    reef_dataset ds;
    if (reef_dataset_load(data, &ds, &err)) return cli_error(NAME, "%s", err.msg);
    uint16_t *pred = malloc((ds.count + 1) * sizeof *pred);
    char arch_name[64] = "";
    int status = 0;
    reef_metrics mt;
    if (!pred) status = cli_error(NAME, "out of memory");
    else status = int8 ? predict_int8(model, &ds, data, pred, arch_name, sizeof arch_name)
                       : predict_float(model, &ds, data, (int)threads, (int)batch, pred, arch_name, sizeof arch_name);
    if (!status && reef_metrics_compute(&mt, &ds, pred, &err)) status = cli_error(NAME, "%s: %s", model, err.msg);
    if (!status) {
        if (json) {
            reef_json j;
            reef_json_begin(&j, stdout);
            reef_json_object(&j);
            reef_json_kv_string(&j, "model", model);
            reef_json_kv_string(&j, "format", int8 ? "int8" : "float");
            reef_json_kv_string(&j, "arch", arch_name);
            reef_json_kv_string(&j, "data", data);
            reef_metrics_json(&mt, &j);
            reef_json_end(&j);
            reef_json_finish(&j);
        } else {
            printf("%s (%s %s) on %s\n", model, int8 ? "int8" : "float", arch_name, data);
            reef_metrics_print(&mt, stdout);
        }
        reef_metrics_free(&mt);
    }
    free(pred);
    reef_dataset_free(&ds);
    return status;
}
