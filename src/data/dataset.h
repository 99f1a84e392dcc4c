/* The dataset file: what `reef prep` writes and training, calibration and
 * evaluation read. Format: docs/formats/dataset.md. A loaded dataset is a
 * read-only view of a memory mapping (or of malloc'd memory for one built
 * in memory); pixels are uint8, NHWC. */
#ifndef REEF_DATA_DATASET_H
#define REEF_DATA_DATASET_H

#include <stddef.h>
#include <stdint.h>

#include "util/classes.h"
#include "util/err.h"

#define REEF_DATASET_MAGIC "REEFDS\r\n" /* 8 bytes */
#define REEF_DATASET_VERSION 1

typedef struct reef_dataset {
    uint32_t count;       /* samples */
    uint32_t height, width, channels;
    uint32_t num_classes;
    uint32_t num_groups;  /* e.g. DeepFish habitats; 1 when there are none */
    const uint8_t *pixels;   /* (count, height, width, channels) */
    const uint16_t *labels;  /* (count) class index < num_classes */
    const uint16_t *groups;  /* (count) group index < num_groups */
    const char **class_names; /* (num_classes) */
    const char **group_names; /* (num_groups) */
    const char **ids;         /* (count) source ID of each sample */
    void *owner_;             /* mapping / allocations; private */
} reef_dataset;

/* Bytes of one sample's pixels. */
static inline size_t reef_dataset_sample_size(const reef_dataset *ds)
{
    return (size_t)ds->height * ds->width * ds->channels;
}
static inline const uint8_t *reef_dataset_sample(const reef_dataset *ds, uint32_t i)
{
    return ds->pixels + (size_t)i * reef_dataset_sample_size(ds);
}

/* The one check that a dataset fits a model, for the float network, the
 * int8 model and the firmware alike: the model's input holds one image
 * (H*W*C values; when its rank is 3 or more, its last three dimensions are
 * H, W, C), it has one output per class, and the data is not empty. The
 * error names data_name (the file, or its role) and model_name. */
int reef_dataset_check_fits(const reef_dataset *ds, const char *data_name, const int32_t *input_shape,
                            int input_rank, int64_t outputs, const char *model_name, reef_error *err);

/* Makes ds speak the model's classes. The model's class names (from its
 * checkpoint or .tflite) against ds's:
 *   the same list: nothing to do;
 *   the same set in another order: ds's labels and class names are
 *     rewritten in the model's order (ds then owns the new arrays), and
 *     note says so;
 *   the model has none (a file from before reef stored them): note warns
 *     that the classes are not checked;
 *   anything else: an error naming data_name, model_name and both lists.
 * note (may be NULL) is set to "" when there is nothing to say. */
int reef_dataset_follow_classes(reef_dataset *ds, const char *data_name, const reef_class_names *model,
                                const char *model_name, char *note, size_t note_size, reef_error *err);

/* Maps and validates a dataset file (magic, version, sizes, CRC unless
 * skip_crc). Errors name the file and what is wrong. */
int reef_dataset_load(const char *path, reef_dataset *ds, reef_error *err);
void reef_dataset_free(reef_dataset *ds);

/* Writes ds to path atomically (temporary file, then rename). Works for any
 * reef_dataset whose arrays are filled in, e.g. one built in memory. */
int reef_dataset_save(const char *path, const reef_dataset *ds, reef_error *err);

/* For a dataset built in memory: hands a malloc'd block (e.g. its pixels)
 * to ds, so that reef_dataset_free frees it. Up to 8 blocks; on failure the
 * block is freed. */
int reef_dataset_own(reef_dataset *ds, void *block, reef_error *err);

#endif
