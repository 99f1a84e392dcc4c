/* Classification metrics from predicted labels and the dataset they were
 * predicted for: accuracy, confusion matrix, accuracy per group (DeepFish
 * habitat). Any model (float checkpoint or int8 .tflite) that yields one
 * predicted class per sample gets the same report, as a table or as JSON. */
#ifndef REEF_NN_METRICS_H
#define REEF_NN_METRICS_H

#include <stdint.h>
#include <stdio.h>

#include "data/dataset.h"
#include "util/err.h"
#include "util/json.h"

typedef struct reef_metrics {
    int num_classes, num_groups;
    int64_t total, correct;
    double accuracy;            /* correct / total, a fraction */
    int64_t *confusion;         /* (num_classes, num_classes): [true][predicted] */
    int64_t *group_total;       /* (num_groups) */
    int64_t *group_correct;     /* (num_groups) */
    const char **class_names;   /* borrowed from the dataset */
    const char **group_names;
} reef_metrics;

/* pred: (ds->count) predicted class of each sample. Fails if a prediction
 * is out of range. */
int reef_metrics_compute(reef_metrics *mt, const reef_dataset *ds, const uint16_t *pred, reef_error *err);
void reef_metrics_free(reef_metrics *mt);
/* Accuracy line, confusion matrix and per-group table. */
void reef_metrics_print(const reef_metrics *mt, FILE *fp);
/* Writes keys accuracy, correct, count, confusion (rows = true class),
 * classes, groups [{name, count, accuracy}] into the open JSON object. */
void reef_metrics_json(const reef_metrics *mt, reef_json *j);

#endif
