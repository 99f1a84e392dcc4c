/* reef inspect --model MODEL.tflite: operators, tensors, totals and unsupported ops
 * of a .tflite model (exit 0 even when some ops are unsupported: they are
 * listed; exit 1 when the file cannot be read). */
#include <getopt.h>
#include <stdio.h>

#include "cli.h"
#include "codegen/lower.h"
#include "tflite/graph.h"

/* The lowering's verdict on one op (reef_op_check_fn). */
static int lowering_refuses(const reef_graph *g, int op, char *why, size_t size, void *ctx)
{
    reef_error err = {{0}};
    (void)ctx;
    if (reef_lower_op_check(g, op, &err) == 0) return 0;
    snprintf(why, size, "%s", err.msg);
    return 1;
}

static void usage(FILE *fp)
{
    fprintf(fp, "usage: reef inspect --model MODEL.tflite [--json]\n\n"
                "Reads a .tflite model (every offset and index checked) and prints its operators\n"
                "(inputs, outputs, options, MACs), its tensors (type, shape, scales, zero points,\n"
                "bytes, constant or activation), the totals (MACs, parameter bytes, op histogram)\n"
                "and every operator reef's runtime does not support, then every op `reef gen`\n"
                "would refuse as written (its index and the reason: an unsupported type,\n"
                "quantization, shape or option), all at once.\n\n"
                "  --model FILE  the .tflite (the old form, `reef inspect FILE`, still works)\n"
                "  --json        one JSON object instead of tables\n"
                "  --help        this text\n");
}

int cmd_inspect(int argc, char **argv)
{
    static const struct option options[] = {
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {"model", required_argument, NULL, 'm'},
        {NULL, 0, NULL, 0},
    };
    int json = 0, c;
    const char *flagged = NULL;
    optind = 1;
    while ((c = getopt_long(argc, argv, "jh", options, NULL)) != -1) {
        if (c == 'j') {
            json = 1;
        } else if (c == 'm') {
            flagged = optarg;
        } else if (c == 'h') {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return 2;
        }
    }
    const char *model = cli_input_file("inspect", "--model", flagged, argc, argv);
    if (!model) return 2;
    reef_graph g;
    reef_error err;
    if (reef_tflite_read(model, &g, &err)) return cli_error("inspect", "%s", err.msg);
    reef_graph_print_checked(&g, stdout, json, lowering_refuses, NULL);
    reef_graph_free(&g);
    return 0;
}
