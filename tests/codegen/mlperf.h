/* Test helpers: the MLPerf Tiny models and reference vectors of
 * ../shared/models (manifest.csv), read into memory. */
#ifndef REEF_TESTS_CODEGEN_MLPERF_H
#define REEF_TESTS_CODEGEN_MLPERF_H

#include "testing.h"

#include "util/io.h"

#define MLPERF_MAX_VECTORS 64

typedef struct mlperf_vector {
    char model[16];        /* kws, vww, ic, ad */
    char model_file[1024]; /* paths */
    char input_file[1024];
    char output_file[1024];
    char name[64]; /* e.g. kws_lcg0 */
} mlperf_vector;

/* Reads manifest.csv; returns the number of vectors, 0 (after printing a
 * SKIPPED line) when the shared models are absent. */
static inline int mlperf_vectors(mlperf_vector *v, int max)
{
    char dir[512], line[2048];
    if (!testing_shared_path(dir, sizeof dir, "models/manifest.csv")) return 0;
    FILE *fp = fopen(dir, "r");
    assert_non_null(fp);
    dir[strlen(dir) - strlen("/manifest.csv")] = 0;
    int n = 0;
    assert_non_null(fgets(line, sizeof line, fp)); /* header */
    while (n < max && fgets(line, sizeof line, fp)) {
        char *field[4], *save = NULL, *p = line;
        for (int i = 0; i < 4; i++, p = NULL) field[i] = strtok_r(p, ",", &save);
        if (!field[3]) continue;
        mlperf_vector *x = &v[n++];
        snprintf(x->model, sizeof x->model, "%s", field[0]);
        snprintf(x->model_file, sizeof x->model_file, "%.500s/%.500s", dir, field[1]);
        snprintf(x->input_file, sizeof x->input_file, "%.500s/%.500s", dir, field[2]);
        snprintf(x->output_file, sizeof x->output_file, "%.500s/%.500s", dir, field[3]);
        const char *base = strrchr(field[2], '/');
        snprintf(x->name, sizeof x->name, "%.*s", (int)strcspn(base + 1, "."), base + 1);
    }
    fclose(fp);
    return n;
}

/* A whole file, which must have `size` bytes. */
static inline uint8_t *mlperf_read(const char *path, size_t size)
{
    uint8_t *data;
    size_t got;
    reef_error err;
    if (reef_read_file(path, &data, &got, &err)) fail_msg("%s", err.msg);
    if (got != size) fail_msg("%s: %zu bytes, expected %zu", path, got, size);
    return data;
}

/* Prints the first differences of two int8 tensors; returns how many differ. */
static inline int mlperf_compare(const char *what, const int8_t *got, const int8_t *want, size_t n)
{
    int bad = 0;
    for (size_t i = 0; i < n; i++)
        if (got[i] != want[i] && bad++ < 5) printf("  %s: [%zu] got %d, want %d\n", what, i, got[i], want[i]);
    if (bad) printf("  %s: %d of %zu values differ\n", what, bad, n);
    return bad;
}

#endif
