/* libFuzzer targets for reef's readers other than .tflite (fuzz_tflite.c),
 * one per build: compile with -DFUZZ_<NAME> (bench/fuzz/run.sh does).
 *   DATASET     reef_dataset_load (a temporary file) then every sample,
 *               label, group and string touched
 *   CHECKPOINT  reef_ckpt_load_buffer with the training state
 *   ARCH        reef_arch_parse; an accepted spec is formatted and must
 *               parse again (an oracle: abort otherwise)
 *   COSTS       reef_nas_table_load (a temporary file)
 *   PROFILE     reef_profile_parse
 *   DEEPFISH    the DeepFish CSV lister (Classification/train.csv)
 *   IDX         reef_prep_build --format idx: the two IDX files (the input
 *               split at a point its first two bytes choose), then the
 *               resize to 8x8
 *   IMAGE       reef_image_decode (JPEG and PNG; the first byte picks the
 *               output size and channels, the rest is the file)
 * The dataset and checkpoint files carry CRC-32s, which random bytes never
 * match: for inputs of even size the harness writes the right CRCs into a
 * copy first, so the fuzzer reaches the section checks behind them (odd
 * sizes exercise the CRC refusal itself).
 * ASan and UBSan catch memory errors and undefined behaviour; a failure
 * must set an error message (abort otherwise). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "data/dataset.h"
#include "data/image.h"
#include "data/prep.h"
#include "data/sources.h"
#include "energy/profile.h"
#include "nas/cost.h"
#include "nn/arch.h"
#include "nn/checkpoint.h"
#include "nn/model.h"

#include <zlib.h>

/* A per-process scratch folder in /dev/shm (or /tmp) for the file readers. */
static const char *scratch_dir(void)
{
    static char dir[64];
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "/dev/shm/reef-fuzz-XXXXXX");
        if (!mkdtemp(dir)) {
            snprintf(dir, sizeof dir, "/tmp/reef-fuzz-XXXXXX");
            if (!mkdtemp(dir)) abort();
        }
    }
    return dir;
}

static void write_bytes(const char *path, const uint8_t *data, size_t size)
{
    FILE *fp = fopen(path, "wb");
    if (!fp) abort();
    if (size && fwrite(data, 1, size, fp) != size) abort();
    if (fclose(fp)) abort();
}

static char *nul_terminated(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text) abort();
    memcpy(text, data, size);
    text[size] = 0;
    return text;
}

static void expect_message(const reef_error *err)
{
    if (!err->msg[0]) abort(); /* a failure always says why */
}

static void put_le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

#if defined(FUZZ_DATASET)
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[128];
    snprintf(path, sizeof path, "%s/in.ds", scratch_dir());
    if (size >= 128 && size % 2 == 0) { /* payload CRC at 40 over [128, size), header CRC at 124 over [0, 124) */
        uint8_t *copy = malloc(size);
        if (!copy) abort();
        memcpy(copy, data, size);
        put_le32(copy + 40, (uint32_t)crc32(crc32(0, NULL, 0), copy + 128, (uInt)(size - 128)));
        put_le32(copy + 124, (uint32_t)crc32(crc32(0, NULL, 0), copy, 124));
        write_bytes(path, copy, size);
        free(copy);
    } else {
        write_bytes(path, data, size);
    }
    reef_dataset ds;
    reef_error err = {{0}};
    if (reef_dataset_load(path, &ds, &err)) {
        expect_message(&err);
        return 0;
    }
    volatile unsigned sum = 0;
    const size_t sample = reef_dataset_sample_size(&ds);
    for (uint32_t i = 0; i < ds.count; i++) {
        const uint8_t *px = reef_dataset_sample(&ds, i);
        sum += px[0] + px[sample - 1] + ds.labels[i] + ds.groups[i] + (unsigned)strlen(ds.ids[i]);
        if (ds.labels[i] >= ds.num_classes || ds.groups[i] >= ds.num_groups) abort(); /* the loader checks these */
    }
    for (uint32_t k = 0; k < ds.num_classes; k++) sum += (unsigned)strlen(ds.class_names[k]);
    for (uint32_t k = 0; k < ds.num_groups; k++) sum += (unsigned)strlen(ds.group_names[k]);
    reef_dataset_free(&ds);
    return 0;
}
#elif defined(FUZZ_CHECKPOINT)
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy) abort();
    memcpy(copy, data, size);
    if (size >= 32 && size % 2 == 0) /* payload CRC at 24 over [32, size) */
        put_le32(copy + 24, (uint32_t)crc32(crc32(0, NULL, 0), copy + 32, (uInt)(size - 32)));
    reef_model m;
    reef_ckpt_train t;
    reef_error err = {{0}};
    int rc = reef_ckpt_load_buffer(copy, size, "fuzz.ckpt", &m, &t, &err);
    free(copy);
    if (rc) {
        expect_message(&err);
        return 0;
    }
    reef_optim_free(&t.opt);
    reef_model_free(&m);
    return 0;
}
#elif defined(FUZZ_ARCH)
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = nul_terminated(data, size);
    reef_arch a, back;
    reef_error err = {{0}};
    if (reef_arch_parse(text, "fuzz.arch", &a, &err)) {
        expect_message(&err);
    } else {
        static char buf[1 << 16];
        if (reef_arch_format(&a, buf, sizeof buf) < (int)sizeof buf && reef_arch_parse(buf, "formatted", &back, &err)) {
            fprintf(stderr, "an accepted spec, formatted, does not parse: %s\n%s\n", err.msg, buf);
            abort();
        }
    }
    free(text);
    return 0;
}
#elif defined(FUZZ_COSTS)
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[128];
    snprintf(path, sizeof path, "%s/in.table", scratch_dir());
    write_bytes(path, data, size);
    reef_nas_table t;
    reef_error err = {{0}};
    if (reef_nas_table_load(&t, path, &err)) {
        expect_message(&err);
        return 0;
    }
    for (int i = 0; i < t.n; i++)
        if (!(t.costs[i].cycles >= 0) || !(t.costs[i].insns >= 0)) abort(); /* no NaN or negative cost */
    reef_nas_table_free(&t);
    return 0;
}
#elif defined(FUZZ_PROFILE)
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = nul_terminated(data, size);
    reef_device_profile p;
    reef_error err = {{0}};
    if (reef_profile_parse(text, "fuzz.profile", &p, &err)) expect_message(&err);
    free(text);
    return 0;
}
#elif defined(FUZZ_DEEPFISH)
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[160];
    snprintf(path, sizeof path, "%s/Classification", scratch_dir());
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/Classification/train.csv", scratch_dir());
    write_bytes(path, data, size);
    prep_list l;
    reef_error err = {{0}};
    if (prep_list_deepfish(scratch_dir(), "train", &l, &err)) {
        expect_message(&err);
        return 0;
    }
    for (uint32_t i = 0; i < l.count; i++)
        if (l.labels[i] >= l.num_classes || l.groups[i] >= l.num_groups || !l.paths[i] || !l.ids[i]) abort();
    prep_list_free(&l);
    return 0;
}
#elif defined(FUZZ_IDX)
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) return 0;
    size_t cut = ((size_t)data[0] << 8 | data[1]) % (size - 1);
    data += 2, size -= 2;
    char images[160], labels[160];
    snprintf(images, sizeof images, "%s/train-images-idx3-ubyte", scratch_dir());
    snprintf(labels, sizeof labels, "%s/train-labels-idx1-ubyte", scratch_dir());
    write_bytes(images, data, cut);
    write_bytes(labels, data + cut, size - cut);
    reef_prep_options o = {.format = REEF_PREP_IDX, .root = scratch_dir(), .split = "train",
                           .width = 8, .height = 8, .threads = 1};
    reef_dataset ds;
    reef_prep_report rep;
    reef_error err = {{0}};
    if (reef_prep_build(&o, &ds, &rep, &err)) expect_message(&err);
    else reef_dataset_free(&ds);
    reef_prep_report_free(&rep);
    return 0;
}
#elif defined(FUZZ_IMAGE)
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    static const uint32_t sides[4] = {1, 7, 32, 96};
    const reef_image_spec spec = {sides[data[0] & 3], sides[(data[0] >> 2) & 3], (reef_channels)((data[0] >> 4) % 5),
                                  (data[0] >> 7) & 1};
    static uint8_t out[96 * 96 * 3];
    static reef_image_scratch s;
    reef_image_info info;
    reef_error err = {{0}};
    if (reef_image_decode(data + 1, size - 1, "fuzz.img", &spec, &s, out, &info, &err)) expect_message(&err);
    return 0;
}
#else
#error "define one FUZZ_<NAME> (see the top of this file)"
#endif
