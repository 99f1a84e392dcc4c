/* libFuzzer target: the .tflite reader, then, on what it accepts, the
 * inspect printing (text and JSON, to /dev/null), the unsupported-op check
 * and a write/re-read round trip. ASan/UBSan catch memory errors; the round
 * trip is an oracle too: a graph the reader accepted must be written and
 * read back (abort otherwise, so libFuzzer records the input). */
#include <stdio.h>
#include <stdlib.h>

#include "tflite/graph.h"

static FILE *devnull;

static void roundtrip(const reef_graph *g)
{
    uint8_t *bytes;
    size_t size;
    reef_error err;
    reef_graph back;
    if (reef_tflite_serialize(g, &bytes, &size, &err)) {
        fprintf(stderr, "accepted graph not written: %s\n", err.msg);
        abort();
    }
    if (reef_tflite_read_buffer(bytes, size, "rewritten.tflite", &back, &err)) {
        fprintf(stderr, "rewritten graph not read back: %s\n", err.msg);
        abort();
    }
    if (back.ntensors != g->ntensors || back.nops != g->nops) abort();
    reef_graph_free(&back);
    free(bytes);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!devnull) devnull = fopen("/dev/null", "w");
    reef_graph g;
    reef_error err;
    if (reef_tflite_read_buffer(data, size, "fuzz.tflite", &g, &err)) return 0;
    reef_graph_print(&g, devnull, 0);
    reef_graph_print(&g, devnull, 1);
    reef_graph_unsupported_ops(&g, &err);
    roundtrip(&g);
    reef_graph_free(&g);
    return 0;
}
