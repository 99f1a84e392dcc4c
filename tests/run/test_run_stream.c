/* `reef run --background ... --stream FRAMES`: the camera's whole stream.
 * On real DeepFish frames (two short clips, one with fish and one empty,
 * their first CLIP_FRAMES frames, in a DeepFish-shaped folder made here
 * whose CSVs list only those frames), the firmware is fed every frame of
 * each clip, its backgrounds run over all of them, and only the test split's
 * frames are inferred. Checked, on host and qemu-m4: the target's outputs
 * on the scored frames equal, byte for byte, the host interpreter's on the
 * inputs `reef prep --split test --background M --background-over clip`
 * writes (M = running-diff-slow with a 2-channel model whose input map is
 * not p - 128, and running-diff with a 1-channel model). The check can
 * fail: fed only the split's sparse frames (no --stream), the outputs
 * differ from those, and equal instead the interpreter's on `reef prep
 * --split test --background M` (the split's own frames, backgrounds
 * restarted at each clip: two clips in one stream). Skips without
 * ../shared/data/deepfish. */
#include "fixture_run.h"

#include <math.h>
#include <sys/stat.h>
#include <unistd.h>

#include "codegen/lower.h"
#include "firmware/pipeline.h"
#include "util/io.h"

#define CLIP_FRAMES 30 /* the first frames of each clip */
#define MAX_ROWS 8192

static char dir[256];
static char out[1 << 16];

static const char arch2[] = "name tiny2; input 32x32x2; avgpool k2 s2; stem k3 s2 c8 relu6; "
                            "mbconv k3 e2 c8 s1 skip; head c16 relu6; gap; fc";
static const char arch1[] = "name tiny1; input 32x32x1; avgpool k2 s2; stem k3 s2 c8 relu6; "
                            "mbconv k3 e2 c8 s1 skip; head c16 relu6; gap; fc";

static double json_number(const char *text, const char *key)
{
    char pat[80];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *p = strstr(text, pat);
    return p ? strtod(p + strlen(pat), NULL) : NAN;
}

typedef struct csv_rows {
    char *text;          /* the file, lines cut at '\n' */
    char *line[MAX_ROWS];
    int count;           /* rows after the header */
} csv_rows;

static void read_rows(const char *path, csv_rows *r)
{
    uint8_t *data;
    size_t size;
    reef_error err;
    if (reef_read_file(path, &data, &size, &err)) fail_msg("%s", err.msg);
    r->text = realloc(data, size + 1);
    assert_non_null(r->text);
    r->text[size] = 0;
    r->count = 0;
    char *save = NULL;
    strtok_r(r->text, "\n", &save); /* the header */
    for (char *l = strtok_r(NULL, "\n", &save); l && r->count < MAX_ROWS; l = strtok_r(NULL, "\n", &save))
        r->line[r->count++] = l;
}

/* The clip of a frames.csv row: its 4th column. */
static void row_clip(const char *line, char *clip, size_t size)
{
    const char *p = line;
    for (int k = 0; k < 3 && p; k++) p = strchr(p, ','), p = p ? p + 1 : NULL;
    assert_non_null(p);
    snprintf(clip, size, "%.*s", (int)strcspn(p, ",\r"), p);
}

static int row_is_test(const char *line, const csv_rows *test)
{
    const size_t n = strcspn(line, ",");
    for (int i = 0; i < test->count; i++)
        if (!strncmp(test->line[i], line, n) && test->line[i][n] == ',') return 1;
    return 0;
}

/* Writes dir/root: Classification/<habitat> links to the shared folders,
 * frames.csv with the first CLIP_FRAMES frames of the first fish clip and
 * the first empty clip holding 4 test frames or more among those, test.csv
 * with the test split's rows of them (in its own order). Returns the
 * stream's frame count. */
static int make_root(const char *shared, char *root, size_t size)
{
    char path[1024];
    csv_rows frames, test;
    snprintf(path, sizeof path, "%s/Classification/frames.csv", shared);
    read_rows(path, &frames);
    snprintf(path, sizeof path, "%s/Classification/test.csv", shared);
    read_rows(path, &test);
    int first[2] = {-1, -1}; /* a clip's first row, by label (the 2nd column) */
    for (int i = 0; i < frames.count;) {
        char clip[256], other[256];
        row_clip(frames.line[i], clip, sizeof clip);
        int n = 0, tests = 0;
        for (int j = i; j < frames.count; j++, n++) {
            row_clip(frames.line[j], other, sizeof other);
            if (strcmp(clip, other)) break;
            if (n < CLIP_FRAMES) tests += row_is_test(frames.line[j], &test);
        }
        const int label = strchr(frames.line[i], ',')[1] == '1';
        if (n >= CLIP_FRAMES && tests >= 4 && first[label] < 0) first[label] = i;
        i += n;
    }
    assert_true(first[0] >= 0 && first[1] >= 0);
    snprintf(root, size, "%s/root", dir);
    snprintf(path, sizeof path, "%s/Classification", root);
    assert_int_equal(mkdir(root, 0777), 0);
    assert_int_equal(mkdir(path, 0777), 0);
    FILE *ff = fopen(strcat(path, "/frames.csv"), "w");
    snprintf(path, sizeof path, "%s/Classification/test.csv", root);
    FILE *ft = fopen(path, "w");
    assert_true(ff && ft);
    fprintf(ff, "ID,labels,habitat,clip\n");
    fprintf(ft, "ID,labels\n");
    for (int c = 0; c < 2; c++) {
        char habitat[64], link_path[1024], target[1024];
        snprintf(habitat, sizeof habitat, "%.*s", (int)strcspn(frames.line[first[c]], "/"), frames.line[first[c]]);
        snprintf(link_path, sizeof link_path, "%s/Classification/%s", root, habitat);
        snprintf(target, sizeof target, "%s/Classification/%s", shared, habitat);
        if (access(link_path, F_OK)) assert_int_equal(symlink(target, link_path), 0);
        for (int j = first[c]; j < first[c] + CLIP_FRAMES; j++) fprintf(ff, "%s\n", frames.line[j]);
    }
    for (int i = 0; i < test.count; i++) /* the test split's own order */
        for (int c = 0; c < 2; c++)
            for (int j = first[c]; j < first[c] + CLIP_FRAMES; j++) {
                const size_t n = strcspn(frames.line[j], ",");
                if (!strncmp(test.line[i], frames.line[j], n) && test.line[i][n] == ',') fprintf(ft, "%s\n", test.line[i]);
            }
    assert_int_equal(fclose(ff), 0);
    assert_int_equal(fclose(ft), 0);
    free(frames.text), free(test.text);
    return 2 * CLIP_FRAMES;
}

static void prep(const char *bin, const char *root, const char *split, const char *background, const char *over,
                 const char *name)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "'%s' prep --format deepfish --root %s --split %s %s%s %s%s --threads 1 --json -o %s/%s",
             bin, root, split, background ? "--background " : "", background ? background : "",
             over ? "--background-over " : "", over ? over : "", dir, name);
    if (testing_run(cmd, out, sizeof out)) fail_msg("%s", out);
}

/* A tiny net trained briefly on the data file, quantized, written. */
static void train_model(const char *arch_text, const char *data, const char *tflite, int normalise)
{
    char path[512];
    reef_dataset ds;
    reef_arch a;
    reef_model m;
    reef_graph g;
    reef_error err;
    snprintf(path, sizeof path, "%s/%s", dir, data);
    if (reef_dataset_load(path, &ds, &err) || reef_arch_parse(arch_text, "test", &a, &err) ||
        reef_model_build(&m, &a, 32, 32, ds.channels, 2, 1, &err))
        fail_msg("%s", err.msg);
    if (normalise) reef_norm_from_dataset(&m.norm, &ds);
    fixture_run_train(&m, &ds, 4);
    reef_quant_options o;
    reef_quant_options_default(&o);
    o.samples = 60, o.agreement = 0;
    if (reef_quantize(&m, &ds, &o, &g, NULL, &err)) fail_msg("%s", err.msg);
    snprintf(path, sizeof path, "%s/%s", dir, tflite);
    if (reef_tflite_write(path, &g, &err)) fail_msg("%s", err.msg);
    reef_model_free(&m), reef_graph_free(&g), reef_dataset_free(&ds);
}

/* The host interpreter's outputs on a prepped file's inputs: (count, 2). */
static int8_t *interpreter_outputs(const char *tflite, const char *data, uint32_t *count)
{
    char path[512];
    reef_graph g;
    reef_lowered_model m;
    reef_dataset ds;
    reef_error err;
    int8_t *in;
    snprintf(path, sizeof path, "%s/%s", dir, tflite);
    if (reef_tflite_read(path, &g, &err) || reef_lower(&g, &m, &err)) fail_msg("%s", err.msg);
    snprintf(path, sizeof path, "%s/%s", dir, data);
    if (reef_dataset_load(path, &ds, &err) || reef_pipeline_int8_inputs(&g, &m, &ds, path, &in, &err))
        fail_msg("%s", err.msg);
    int8_t *o = malloc((size_t)ds.count * m.output_size);
    assert_non_null(o);
    for (uint32_t i = 0; i < ds.count; i++)
        assert_int_equal(reef_lowered_invoke(&m, in + (size_t)i * m.input_size, o + (size_t)i * m.output_size), 0);
    *count = ds.count;
    free(in), reef_dataset_free(&ds), reef_lowered_free(&m), reef_graph_free(&g);
    return o;
}

/* reef run; returns the outputs it wrote (count, 2) and checks its own
 * comparison with the host interpreter passed. */
static int8_t *run_outputs(const char *bin, const char *target, const char *tflite, const char *background,
                           int stream, uint32_t count, int frames_fed)
{
    char cmd[4096], path[512];
    snprintf(path, sizeof path, "%s/outputs.bin", dir);
    remove(path);
    snprintf(cmd, sizeof cmd, "'%s' run --target %s --model %s/%s --data %s/test.ds %s%s%s --background %s --outputs %s "
             "--json", bin, target, dir, tflite, dir, stream ? "--stream " : "", stream ? dir : "",
             stream ? "/frames.ds" : "", background, path);
    if (testing_run(cmd, out, sizeof out)) fail_msg("%s", out);
    assert_non_null(strstr(out, "\"outputs_match_host\":true"));
    assert_int_equal((int)json_number(out, "samples"), (int)count);
    assert_int_equal((int)json_number(out, "frames_fed"), frames_fed);
    if (!strcmp(target, "qemu-m4")) assert_true(json_number(out, "instructions") > 0);
    uint8_t *data;
    size_t size;
    reef_error err;
    if (reef_read_file(path, &data, &size, &err)) fail_msg("%s", err.msg);
    assert_int_equal(size, (size_t)count * 2);
    return (int8_t *)data;
}

static void check_background(const char *bin, const char *background, const char *tflite, int frames)
{
    char clip_name[64], split_name[64];
    snprintf(clip_name, sizeof clip_name, "test-%s-clip.ds", background);
    snprintf(split_name, sizeof split_name, "test-%s-split.ds", background);
    uint32_t n, n2;
    int8_t *over_clip = interpreter_outputs(tflite, clip_name, &n);  /* the report's inputs */
    int8_t *over_split = interpreter_outputs(tflite, split_name, &n2); /* the split's frames alone */
    assert_int_equal(n, n2);
    for (int qemu = 0; qemu < 2; qemu++) {
        int8_t *got = run_outputs(bin, qemu ? "qemu-m4" : "host", tflite, background, 1, n, frames);
        assert_memory_equal(got, over_clip, (size_t)n * 2);
        printf("%s --background %s --stream: %u scored frames of a %d-frame stream equal the interpreter's on "
               "prep --background-over clip\n", qemu ? "qemu-m4" : "host", background, n, frames);
        free(got);
    }
    /* the sparse frames alone: not the report's inputs, so other outputs */
    int8_t *sparse = run_outputs(bin, "host", tflite, background, 0, n, (int)n);
    assert_memory_not_equal(sparse, over_clip, (size_t)n * 2);
    assert_memory_equal(sparse, over_split, (size_t)n * 2); /* restarted at the second clip, as prep does */
    free(sparse), free(over_clip), free(over_split);
}

static void test_stream_real_frames(void **state)
{
    (void)state;
    const char *bin = testing_reef_bin();
    char shared[1024], root[1024];
    if (!bin || !testing_shared_path(shared, sizeof shared, "data/deepfish/Classification/frames.csv")) skip();
    testing_shared_path(shared, sizeof shared, "data/deepfish");
    const int frames = make_root(shared, root, sizeof root);
    prep(bin, root, "frames", NULL, NULL, "frames.ds");
    prep(bin, root, "test", NULL, NULL, "test.ds");
    static const char *const modes[2] = {"running-diff-slow", "running-diff"};
    for (int k = 0; k < 2; k++) {
        char name[96];
        snprintf(name, sizeof name, "frames-%s.ds", modes[k]);
        prep(bin, root, "frames", modes[k], NULL, name);
        snprintf(name, sizeof name, "test-%s-clip.ds", modes[k]);
        prep(bin, root, "test", modes[k], "clip", name);
        snprintf(name, sizeof name, "test-%s-split.ds", modes[k]);
        prep(bin, root, "test", modes[k], NULL, name);
    }
    /* 2 channels, normalised per channel (a map that is not p - 128);
     * 1 channel with the fixed normalisation the 1-channel firmware needs */
    train_model(arch2, "frames-running-diff-slow.ds", "two.tflite", 1);
    train_model(arch1, "frames-running-diff.ds", "one.tflite", 0);
    check_background(bin, "running-diff-slow", "two.tflite", frames);
    check_background(bin, "running-diff", "one.tflite", frames);

    /* --stream without --background, and a stream that misses a frame */
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "'%s' run --target host --model %s/two.tflite --data %s/test.ds --stream %s/frames.ds",
             bin, dir, dir, dir);
    assert_int_equal(testing_run(cmd, out, sizeof out), 2);
    assert_non_null(strstr(out, "--stream"));
    snprintf(cmd, sizeof cmd, "'%s' run --target host --model %s/two.tflite --data %s/frames.ds --stream %s/test.ds "
             "--background running-diff-slow", bin, dir, dir, dir);
    assert_int_equal(testing_run(cmd, out, sizeof out), 1);
    assert_non_null(strstr(out, "is not among the frames of its clips"));
}

static int setup(void **state)
{
    (void)state;
    testing_tmpdir(dir, sizeof dir, "run-stream");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return testing_rm_tree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_stream_real_frames)};
    return cmocka_run_group_tests(tests, setup, teardown);
}
