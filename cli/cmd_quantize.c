/* reef quantize: a float checkpoint + calibration data -> an int8 .tflite
 * (static post-training quantization, src/quant). */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "data/dataset.h"
#include "nn/checkpoint.h"
#include "quant/quant.h"
#include "tflite/graph.h"
#include "util/json.h"
#include "util/progress.h"
#include "util/table.h"

static const char *NAME = "quantize";

static void usage(FILE *fp)
{
    fprintf(fp, "usage: reef quantize --model CKPT --calib DATA -o MODEL.tflite [options]\n\n"
                "Static post-training int8 quantization: folds batch norm, calibrates activation\n"
                "ranges on training samples, quantizes weights per channel, and writes an int8\n"
                "TFLite model for reef gen / reef eval / TFLite Micro. docs/quantization.md.\n\n"
                "  --model CKPT        float checkpoint from reef train\n"
                "  --calib DATA        dataset file to calibrate on (the training set); its class\n"
                "                      names must be the checkpoint's (another order is mapped)\n"
                "  -n, --samples N     calibration samples, a fixed choice (default 500)\n"
                "  --method M          minmax (default), percentile, mse\n"
                "  --percentile P      for --method percentile (default 99.99)\n"
                "  -o, --output FILE   the int8 .tflite to write\n"
                "  --name NAME         model name for generated C symbols (default: the arch's)\n"
                "  --seed S            which samples (default 1)\n"
                "  --threads N         float forward threads (default 2)\n"
                "  --no-compare        skip running the int8 model on the calibration samples\n"
                "  --json              print the summary as JSON\n");
}

typedef struct quant_args {
    const char *model, *calib, *output;
    reef_quant_options opt;
    int json;
} quant_args;

/* Returns 0, 1 (--help printed) or 2 (bad usage, message printed). */
static int parse_args(int argc, char **argv, quant_args *a)
{
    static const struct option opts[] = {
        {"model", required_argument, NULL, 'm'},   {"calib", required_argument, NULL, 'c'},
        {"samples", required_argument, NULL, 'n'}, {"method", required_argument, NULL, 'M'},
        {"percentile", required_argument, NULL, 'p'}, {"output", required_argument, NULL, 'o'},
        {"name", required_argument, NULL, 'N'},    {"seed", required_argument, NULL, 's'},
        {"threads", required_argument, NULL, 't'}, {"no-compare", no_argument, NULL, 'C'},
        {"json", no_argument, NULL, 'j'},          {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    memset(a, 0, sizeof *a);
    reef_quant_options_default(&a->opt);
    a->opt.threads = 2;
    long v;
    double d;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "n:o:h", opts, NULL)) != -1) {
        switch (c) {
        case 'm': a->model = optarg; break;
        case 'c': a->calib = optarg; break;
        case 'o': a->output = optarg; break;
        case 'N': a->opt.name = optarg; break;
        case 'j': a->json = 1; break;
        case 'C': a->opt.agreement = 0; break;
        case 'n':
            if (cli_parse_int(NAME, "--samples", optarg, 1, 1000000, &v)) return 2;
            a->opt.samples = (int)v;
            break;
        case 's':
            if (cli_parse_int(NAME, "--seed", optarg, 0, 2147483647L, &v)) return 2;
            a->opt.seed = (uint64_t)v;
            break;
        case 't':
            if (cli_parse_int(NAME, "--threads", optarg, 1, REEF_MAX_THREADS, &v)) return 2;
            a->opt.threads = (int)v;
            break;
        case 'p':
            if (cli_parse_double(NAME, "--percentile", optarg, &d)) return 2;
            if (!(d > 50 && d <= 100)) return cli_error(NAME, "--percentile wants a number in (50, 100], not '%s'", optarg) + 1;
            a->opt.percentile = d;
            break;
        case 'M':
            if (reef_calib_method_parse(optarg, &a->opt.method))
                return cli_error(NAME, "--method wants minmax, percentile or mse, not '%s'", optarg) + 1;
            break;
        case 'h': usage(stdout); return 1;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc) return cli_error(NAME, "unexpected argument '%s'", argv[optind]) + 1;
    if (!a->model || !a->calib || !a->output) return cli_error(NAME, "--model, --calib and -o are required (see --help)") + 1;
    return 0;
}

static void progress_cb(void *ctx, int64_t done, int64_t total)
{
    reef_progress *p = ctx;
    p->total = total;
    reef_progress_update(p, done);
}

static void print_table(const quant_args *a, const reef_model *m, const reef_graph *g, const reef_quant_report *r)
{
    printf("%s (%s) -> %s (int8, model name %s)\n", a->model, m->arch.name, a->output, g->name);
    printf("calibration: %s", reef_calib_method_name(r->method));
    if (r->method == REEF_CALIB_PERCENTILE) printf(" %g%%", r->percentile);
    printf(", %d samples of %s\n", r->samples, a->calib);
    printf("input: scale %.6g, zero point %d: %s\n\n", r->input_scale, r->input_zero_point,
           r->input_exact ? "q = pixel - 128" : "q = quantize(normalized pixel)");
    reef_table t;
    reef_table_init(&t, "tensor", "op", ">observed min", ">max", ">int8 range lo", ">hi", ">scale", ">zp",
                    ">weight scales", ">weight bytes", NULL);
    for (int i = 0; i < r->nlayers; i++) {
        const reef_quant_layer *l = &r->layers[i];
        reef_table_cell(&t, "%s", l->name);
        reef_table_cell(&t, "%s", l->op);
        if (isnan(l->min)) reef_table_cell(&t, "-"), reef_table_cell(&t, "-");
        else reef_table_cell(&t, "%.4g", l->min), reef_table_cell(&t, "%.4g", l->max);
        reef_table_cell(&t, "%.4g", l->lo);
        reef_table_cell(&t, "%.4g", l->hi);
        reef_table_cell(&t, "%.4g", l->scale);
        reef_table_cell(&t, "%d", l->zero_point);
        if (l->weight_bytes) reef_table_cell(&t, "%.3g..%.3g", l->wscale_min, l->wscale_max);
        else reef_table_cell(&t, "-");
        if (l->weight_bytes) reef_table_cell(&t, "%lld", (long long)l->weight_bytes);
        else reef_table_cell(&t, "-");
    }
    reef_table_print(&t, stdout, NULL);
    printf("\nweights: %lld bytes (int8 weights + int32 biases), %lld MACs per image\n", (long long)r->weight_bytes,
           (long long)r->macs);
    if (r->samples_compared)
        printf("on the %d calibration samples: float and int8 agree on %.2f%%; accuracy float %.2f%%, int8 %.2f%%\n",
               r->samples_compared, 100 * r->agreement, 100 * r->float_accuracy, 100 * r->int8_accuracy);
    printf("%.2f s\n", r->seconds);
}

static void print_json(const quant_args *a, const reef_model *m, const reef_graph *g, const reef_quant_report *r)
{
    reef_json j;
    reef_json_begin(&j, stdout);
    reef_json_object(&j);
    reef_json_kv_string(&j, "model", a->model);
    reef_json_kv_string(&j, "arch", m->arch.name);
    reef_json_kv_string(&j, "output", a->output);
    reef_json_kv_string(&j, "name", g->name);
    reef_json_kv_string(&j, "calib", a->calib);
    reef_json_kv_string(&j, "method", reef_calib_method_name(r->method));
    if (r->method == REEF_CALIB_PERCENTILE) reef_json_kv_number(&j, "percentile", r->percentile);
    reef_json_kv_int(&j, "samples", r->samples);
    reef_json_key(&j, "input");
    reef_json_object(&j);
    reef_json_kv_number(&j, "scale", r->input_scale);
    reef_json_kv_int(&j, "zero_point", r->input_zero_point);
    reef_json_kv_bool(&j, "pixel_minus_128", r->input_exact);
    reef_json_end(&j);
    reef_json_key(&j, "layers");
    reef_json_array(&j);
    for (int i = 0; i < r->nlayers; i++) {
        const reef_quant_layer *l = &r->layers[i];
        reef_json_object(&j);
        reef_json_kv_string(&j, "tensor", l->name);
        reef_json_kv_string(&j, "op", l->op);
        reef_json_kv_number(&j, "observed_min", l->min);  // null when not calibrated (pools, softmax)
        reef_json_kv_number(&j, "observed_max", l->max);
        reef_json_kv_number(&j, "lo", l->lo);
        reef_json_kv_number(&j, "hi", l->hi);
        reef_json_kv_number(&j, "scale", l->scale);
        reef_json_kv_int(&j, "zero_point", l->zero_point);
        if (l->weight_bytes) {
            reef_json_kv_number(&j, "weight_scale_min", l->wscale_min);
            reef_json_kv_number(&j, "weight_scale_max", l->wscale_max);
        }
        reef_json_kv_int(&j, "weight_bytes", l->weight_bytes);
        reef_json_end(&j);
    }
    reef_json_end(&j);
    reef_json_kv_int(&j, "weight_bytes", r->weight_bytes);
    reef_json_kv_int(&j, "macs", r->macs);
    if (r->samples_compared) {
        reef_json_kv_int(&j, "compared_samples", r->samples_compared);
        reef_json_kv_number(&j, "agreement", r->agreement);
        reef_json_kv_number(&j, "float_accuracy", r->float_accuracy);
        reef_json_kv_number(&j, "int8_accuracy", r->int8_accuracy);
    }
    reef_json_kv_number(&j, "seconds", r->seconds);
    reef_json_end(&j);
    reef_json_finish(&j);
}

int cmd_quantize(int argc, char **argv)
{
    quant_args a;
    int rc = parse_args(argc, argv, &a);
    if (rc) return rc == 1 ? 0 : 2;
    reef_error err;
    reef_model m;
    if (cli_check_output(NAME, "-o", a.output, "--model", a.model, "--calib", a.calib, NULL)) return 1;
    if (reef_ckpt_load(a.model, &m, NULL, &err)) return cli_error(NAME, "%s", err.msg);
    reef_dataset ds;
    if (reef_dataset_load(a.calib, &ds, &err)) {
        reef_model_free(&m);
        return cli_error(NAME, "%s", err.msg);
    }
    if (cli_follow_classes(NAME, &ds, a.calib, &m.classes, a.model)) {
        reef_dataset_free(&ds);
        reef_model_free(&m);
        return 1;
    }
    reef_progress bar;
    reef_progress_begin(&bar, "calibrating", "img", 0, !a.json);
    a.opt.progress = progress_cb, a.opt.progress_ctx = &bar;
    reef_graph g;
    reef_quant_report rep;
    int status = 0;
    if (reef_quantize(&m, &ds, &a.opt, &g, &rep, &err)) {
        reef_progress_end(&bar);
        status = cli_error(NAME, "%s: %s", a.model, err.msg);
    } else {
        reef_progress_end(&bar);
        if (reef_tflite_write(a.output, &g, &err)) status = cli_error(NAME, "%s", err.msg);
        else if (a.json) print_json(&a, &m, &g, &rep);
        else print_table(&a, &m, &g, &rep);
        reef_quant_report_free(&rep);
        reef_graph_free(&g);
    }
    reef_dataset_free(&ds);
    reef_model_free(&m);
    return status;
}
