/* `reef prep` as a library: labelled images -> a dataset (in memory or in a
 * dataset file). Images are decoded on all cores; the output order is the
 * input's listing order whatever the thread count. */
#ifndef REEF_DATA_PREP_H
#define REEF_DATA_PREP_H

#include <stdint.h>

#include "data/dataset.h"
#include "data/image.h"
#include "util/err.h"

typedef enum reef_prep_format {
    REEF_PREP_DEEPFISH, /* root/Classification/<split>.csv + <ID>.jpg */
    REEF_PREP_FOLDERS,  /* root[/<split>]/<class>/<file>.{jpg,jpeg,png} */
    REEF_PREP_IDX,      /* root/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz */
} reef_prep_format;

/* "deepfish", "folders", "idx"; parse returns -1 for an unknown name. */
int reef_prep_format_parse(const char *name, reef_prep_format *format);
const char *reef_prep_format_name(reef_prep_format format);

typedef struct reef_prep_options {
    reef_prep_format format;
    const char *root;
    const char *split;        /* NULL: "train" (deepfish, idx), none (folders) */
    uint32_t width, height;   /* 0: 32 */
    reef_channels channels;   /* REEF_CHANNELS_GRAY is 0, the default */
    int threads;              /* 0: every online core */
    int skip_bad;             /* skip unreadable images instead of failing */
    /* Called from the calling thread about every 20 ms while decoding. */
    void (*progress)(void *ctx, uint32_t done, uint32_t total);
    void *progress_ctx;
} reef_prep_options;

typedef struct reef_prep_report {
    uint32_t listed;          /* samples the input lists */
    uint32_t skipped_count;   /* of which skipped (skip_bad only) */
    char **skipped;           /* (skipped_count) "file: what is wrong" */
    int threads;              /* decoding threads used */
    double seconds;           /* listing + decoding, not writing */
} reef_prep_report;

/* Builds the dataset in memory (free with reef_dataset_free; free the
 * report with reef_prep_report_free, also after a failure). */
int reef_prep_build(const reef_prep_options *opt, reef_dataset *ds, reef_prep_report *rep,
                    reef_error *err);
/* Builds and writes it to out_path atomically: on failure no file is left. */
int reef_prep_file(const reef_prep_options *opt, const char *out_path, reef_prep_report *rep,
                   reef_error *err);
void reef_prep_report_free(reef_prep_report *rep);
/* 0 when out_path can be written: its folder exists, and it is none of
 * the inputs (the DeepFish CSV, the IDX files, a listed image; compared by
 * inode). Otherwise -1 with err saying which input it is. */
int reef_prep_check_output(const reef_prep_options *opt, const char *out_path, reef_error *err);

/* Samples per class (counts: num_classes) and per group (num_groups). */
void reef_dataset_count(const reef_dataset *ds, uint32_t *per_class, uint32_t *per_group);

#endif
