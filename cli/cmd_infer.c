/* reef infer --model M.tflite --target T --input IN.bin -o OUT.bin: one raw
 * tensor (int8, or little-endian float32 when the model's input is float32
 * around a QUANTIZE) through the model on a target. Targets are a table: adding
 * one (qemu-m4) means writing one run function. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "codegen/emit.h"
#include "codegen/lower.h"
#include "firmware/pipeline.h"
#include "tflite/graph.h"
#include "util/io.h"
#include "util/json.h"

/* What a target runs: the model, lowered, and one input. */
typedef struct infer_job {
    const char *model_path;
    const reef_graph *graph;
    const reef_lowered_model *lowered;
    const void *input; /* (lowered->input_bytes): int8 or float32 values */
    void *output;      /* (lowered->output_bytes) */
    double seconds;      /* out: wall time of the run, when meaningful */
    uint64_t instructions; /* out: emulated instructions of the inference (0: not emulated) */
} infer_job;

typedef struct infer_target {
    const char *name;
    const char *summary;
    int (*run)(infer_job *job, reef_error *err);
} infer_target;

/* host: the interpreter, reef_run_steps over the lowered steps. */
static int run_host(infer_job *job, reef_error *err)
{
    reef_lowered_model *m = (reef_lowered_model *)job->lowered; /* its own arena */
    double t0 = reef_now();
    if (reef_lowered_invoke_bytes(m, m->arena, job->input, job->output))
        return reef_fail(err, "%s: a kernel rejected its arguments", job->model_path);
    job->seconds = reef_now() - t0;
    return 0;
}

/* qemu-m4: the generated C built for the emulated Cortex-M4 and run once
 * (src/firmware/pipeline.h), with the exact instruction count. */
static int run_qemu(infer_job *job, reef_error *err)
{
    char name[72];
    reef_c_name_from_path(job->model_path, name, sizeof name);
    reef_pipeline_opts o = {.target = "qemu-m4", .name = name, .source = job->model_path};
    reef_firmware_figures fig;
    if (reef_pipeline_run_int8(job->lowered, job->input, 1, job->output, &o, &fig, NULL, err)) return -1;
    job->seconds = fig.wall_seconds;
    job->instructions = fig.insn_max;
    return 0;
}

static const infer_target targets[] = {
    {"host", "this machine, reef's interpreter (the same steps as the generated C)", run_host},
    {"qemu-m4", "the generated C on the emulated Cortex-M4 (QEMU), instructions counted", run_qemu},
};

static const infer_target *find_target(const char *name)
{
    for (size_t i = 0; i < sizeof targets / sizeof targets[0]; i++)
        if (!strcmp(targets[i].name, name)) return &targets[i];
    return NULL;
}

static void usage(FILE *fp)
{
    fprintf(fp, "usage: reef infer --model M.tflite --input IN.bin -o OUT.bin [--target T] [--json]\n\n"
                "Runs one raw int8 tensor (flat NHWC, no header) through an int8 model and\n"
                "writes the raw int8 output. A model whose input or output is float32 (around\n"
                "QUANTIZE / DEQUANTIZE) takes or gives raw little-endian float32 there.\n\n"
                "  --model FILE     the .tflite model\n"
                "  --input FILE     input bytes, exactly the input tensor's size\n"
                "  -o, --output F   output bytes (written atomically)\n"
                "  --target T       where to run it (default host):\n");
    for (size_t i = 0; i < sizeof targets / sizeof targets[0]; i++)
        fprintf(fp, "                     %-6s %s\n", targets[i].name, targets[i].summary);
    fprintf(fp, "  --dump-tensors D host only: run without buffer reuse and write every\n"
                "                   activation tensor to D/tNNN.bin (NNN = tensor index, as in\n"
                "                   TFLite Micro layer dumps) to find the first op that differs\n"
                "  --json           print the result as JSON\n");
}

/* Output element i as a real value (float32 as is, int32 indices as they
 * are, int8 dequantized). */
static double output_real(const reef_lowered_model *m, const void *out, int i)
{
    if (m->output_type == REEF_FLOAT32) {
        float v;
        memcpy(&v, (const uint8_t *)out + 4 * (size_t)i, 4);
        return v;
    }
    if (m->output_type == REEF_INT32) {
        int32_t v;
        memcpy(&v, (const uint8_t *)out + 4 * (size_t)i, 4);
        return v;
    }
    return (double)m->output_scale * (((const int8_t *)out)[i] - m->output_zero_point);
}

static int argmax(const reef_lowered_model *m, const void *out)
{
    int best = 0;
    for (int i = 1; i < m->output_size; i++)
        if (output_real(m, out, i) > output_real(m, out, best)) best = i;
    return best;
}

/* Output element i as printed: the int8 value, the float, or the index. */
static void put_output_value(const reef_lowered_model *m, const void *out, int i, FILE *fp)
{
    if (m->output_type != REEF_INT8)
        fprintf(fp, "%.9g", output_real(m, out, i));
    else
        fprintf(fp, "%d", ((const int8_t *)out)[i]);
}

static void print_result(const infer_job *job, const char *target, const char *out_path, int json)
{
    const reef_lowered_model *m = job->lowered;
    int best = argmax(m, job->output);
    if (json) {
        reef_json j;
        reef_json_begin(&j, stdout);
        reef_json_object(&j);
        reef_json_kv_string(&j, "model", job->model_path);
        reef_json_kv_string(&j, "target", target);
        reef_json_kv_string(&j, "output_file", out_path);
        reef_json_kv_int(&j, "output_size", m->output_size);
        reef_json_kv_string(&j, "output_type", reef_dtype_name(m->output_type));
        reef_json_kv_number(&j, "output_scale", m->output_scale);
        reef_json_kv_int(&j, "output_zero_point", m->output_zero_point);
        reef_json_key(&j, "output");
        reef_json_array(&j);
        for (int i = 0; i < m->output_size; i++)
            if (m->output_type != REEF_INT8)
                reef_json_number(&j, output_real(m, job->output, i));
            else
                reef_json_int(&j, ((const int8_t *)job->output)[i]);
        reef_json_end(&j);
        reef_json_kv_int(&j, "argmax", best);
        reef_json_kv_number(&j, "seconds", job->seconds);
        /* what the seconds are: never the MCU's time (that is `reef run`'s modeled time) */
        reef_json_kv_string(&j, "seconds_measure", job->instructions ? "emulator wall time on this host" : "host wall time");
        if (job->instructions) reef_json_kv_int(&j, "instructions", (int64_t)job->instructions);
        reef_json_end(&j);
        reef_json_finish(&j);
        return;
    }
    printf("%s on %s: %d %s outputs -> %s, argmax %d (%.4f), %.3f ms %s\n", job->model_path, target,
           m->output_size, reef_dtype_name(m->output_type), out_path, best, output_real(m, job->output, best),
           1e3 * job->seconds,
           job->instructions ? "emulator wall time (QEMU on this host, not the MCU's time: see reef run)" : "host wall time");
    int shown = m->output_size < 32 ? m->output_size : 32;
    for (int i = 0; i < shown; i++) fputs(i ? " " : "  ", stdout), put_output_value(m, job->output, i, stdout);
    printf("%s\n", m->output_size > shown ? " ..." : "");
    if (job->instructions)
        printf("  %llu instructions executed (emulated Cortex-M4, exact)\n", (unsigned long long)job->instructions);
}

typedef struct infer_args {
    const char *model, *input, *output, *target, *dump_dir;
    int json;
} infer_args;

static int parse(int argc, char **argv, infer_args *a)
{
    static const struct option opts[] = {{"model", required_argument, NULL, 'm'},
                                         {"input", required_argument, NULL, 'i'},
                                         {"output", required_argument, NULL, 'o'},
                                         {"target", required_argument, NULL, 't'},
                                         {"dump-tensors", required_argument, NULL, 'd'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    int c;
    *a = (infer_args){NULL, NULL, NULL, "host", NULL, 0};
    while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
        if (c == 'm')
            a->model = optarg;
        else if (c == 'i')
            a->input = optarg;
        else if (c == 'o')
            a->output = optarg;
        else if (c == 't')
            a->target = optarg;
        else if (c == 'd')
            a->dump_dir = optarg;
        else if (c == 'j')
            a->json = 1;
        else if (c == 'h')
            return usage(stdout), 0;
        else
            return usage(stderr), 2;
    }
    if (optind != argc || !a->model || !a->input || !a->output) return usage(stderr), 2;
    return -1; /* go on */
}

/* Every activation tensor of a no-reuse run, as DIR/tNNN.bin. */
static int dump_tensors(const reef_lowered_model *m, const char *dir, reef_error *err)
{
    char path[4200];
    for (int t = 0; t < m->ntensors; t++) {
        if (m->tensor_at[t] == REEF_LOWER_NO_OFFSET) continue;
        snprintf(path, sizeof path, "%s/t%03d.bin", dir, t);
        if (reef_write_file(path, m->arena + m->tensor_at[t], m->tensor_bytes[t], err)) return -1;
    }
    return 0;
}

/* The --dump-tensors folder must exist and be writable before the run, so
 * that a failure there leaves neither dumps nor -o behind. */
static int check_dump_dir(const char *dir)
{
    char probe[4200];
    reef_error err;
    snprintf(probe, sizeof probe, "%s/t000.bin", dir);
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return cli_error("infer", "--dump-tensors %s: not an existing folder", dir);
    if (reef_check_output_path(probe, &err)) return cli_error("infer", "--dump-tensors %s", err.msg);
    return 0;
}

int cmd_infer(int argc, char **argv)
{
    infer_args a;
    int rc = parse(argc, argv, &a);
    if (rc >= 0) return rc;
    const infer_target *target = find_target(a.target);
    if (!target) return cli_error("infer", "unknown --target '%s' (reef infer --help lists them)", a.target);
    if (a.dump_dir && strcmp(target->name, "host"))
        return cli_error("infer", "--dump-tensors works with --target host only");
    if (cli_check_output("infer", "-o", a.output, "--model", a.model, "--input", a.input, NULL) ||
        (a.dump_dir && check_dump_dir(a.dump_dir)))
        return 1;

    reef_graph g;
    reef_lowered_model m;
    reef_error err;
    uint8_t *in = NULL;
    uint8_t *out = NULL;
    size_t in_size;
    if (reef_tflite_read(a.model, &g, &err)) return cli_error("infer", "%s", err.msg);
    rc = 1;
    reef_lower_options opt = {a.dump_dir != NULL, REEF_MEMORY_FAST, REEF_PATCH_AUTO}; /* dumps need every tensor kept */
    if (reef_lower_with(&g, &opt, &m, &err)) {
        cli_error("infer", "%s: %s", a.model, err.msg);
        goto free_graph;
    }
    if (reef_read_file(a.input, &in, &in_size, &err)) {
        cli_error("infer", "%s", err.msg);
        goto free_model;
    }
    if (in_size != (size_t)m.input_bytes) {
        cli_error("infer", "%s has %zu bytes; the model's input is %d %s values (%d bytes)", a.input, in_size,
                  m.input_size, m.input_type == REEF_FLOAT32 ? "float32" : "int8", m.input_bytes);
        goto free_model;
    }
    out = malloc((size_t)m.output_bytes);
    infer_job job = {a.model, &g, &m, in, out, 0, 0};
    if (!out)
        cli_error("infer", "out of memory");
    else if (target->run(&job, &err) || (a.dump_dir && dump_tensors(&m, a.dump_dir, &err)) ||
             reef_write_file(a.output, out, (size_t)m.output_bytes, &err))
        cli_error("infer", "%s", err.msg);
    else {
        print_result(&job, target->name, a.output, a.json);
        rc = 0;
    }
free_model:
    free(in), free(out);
    reef_lowered_free(&m);
free_graph:
    reef_graph_free(&g);
    return rc;
}
