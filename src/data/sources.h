/* Listing the samples of an input before decoding (internal to prep): the
 * DeepFish classification CSVs, a folder per class, or IDX files. */
#ifndef REEF_DATA_SOURCES_H
#define REEF_DATA_SOURCES_H

#include <stdint.h>

#include "util/err.h"

typedef struct prep_list {
    uint32_t count, cap;
    char **paths;        /* (count) image file to decode; NULL for IDX */
    char **ids;          /* (count) source ID */
    uint16_t *labels;    /* (count) */
    uint16_t *groups;    /* (count) */
    char **class_names;  /* (num_classes) */
    uint32_t num_classes;
    char **group_names;  /* (num_groups) */
    uint32_t num_groups;
    uint8_t *raw;        /* IDX only: (count, raw_h, raw_w) gray pixels */
    uint32_t raw_h, raw_w;
} prep_list;

/* root/Classification/<split>.csv (or root/<split>.csv), columns ID and
 * labels by header name; images at Classification/<ID>.jpg. */
int prep_list_deepfish(const char *root, const char *split, prep_list *l, reef_error *err);
/* root[/split]/<class>/<file>.{jpg,jpeg,png}; classes sorted by name. */
int prep_list_folders(const char *root, const char *split, prep_list *l, reef_error *err);
/* root/{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz] for split train|test. */
int prep_list_idx(const char *root, const char *split, prep_list *l, reef_error *err);
void prep_list_free(prep_list *l);

#endif
