/* The class names a model was trained on, as checkpoints (section CLSN) and
 * reef's .tflite files (metadata "reef_class_names") carry them: count
 * names, each UTF-8 bytes followed by one 0 byte, back to back, in the
 * order of the model's outputs. A model read from an older file has none
 * (count 0): its data is then not checked by name.
 *
 * reef_class_names is a view: who owns blob depends on where it lives (a
 * reef_model frees its own; a reef_graph's belongs to the graph). */
#ifndef REEF_UTIL_CLASSES_H
#define REEF_UTIL_CLASSES_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

#define REEF_CLASSES_MAX 65536 /* as many as a dataset file can hold */

typedef struct reef_class_names {
    int count;        /* 0: unknown */
    size_t size;      /* bytes of blob */
    char *blob;
} reef_class_names;

/* Packs names[0..count) into a malloc'd blob (free with
 * reef_class_names_free). count 0 leaves c empty. */
int reef_class_names_pack(reef_class_names *c, const char *const *names, int count, reef_error *err);
/* Checks that bytes[0..size) are 1..REEF_CLASSES_MAX names each ended by a
 * 0 byte, and copies them into a malloc'd blob. what names the source in
 * the error ("x.ckpt: section CLSN"). */
int reef_class_names_parse(reef_class_names *c, const uint8_t *bytes, size_t size, const char *what,
                           reef_error *err);
void reef_class_names_free(reef_class_names *c);
/* Name i (0 <= i < count). */
const char *reef_class_name(const reef_class_names *c, int i);
/* "no_fish, fish" into out (cut with "..." when it does not fit). */
void reef_class_names_list(const reef_class_names *c, char *out, size_t out_size);
void reef_class_names_list_array(const char *const *names, int count, char *out, size_t out_size);

/* How data whose classes are names[0..count) relates to the model's:
 *   REEF_CLASSES_SAME      the same names in the same order;
 *   REEF_CLASSES_REORDERED the same set in another order: to_model[k] is
 *                          the model's index of the data's class k;
 *   REEF_CLASSES_UNKNOWN   the model has no names (an older file);
 *   REEF_CLASSES_DIFFERENT anything else (another count, other names, or
 *                          a repeated name that makes the mapping unsure).
 * to_model has room for count entries (may be NULL unless reordered is
 * possible). */
enum { REEF_CLASSES_SAME, REEF_CLASSES_REORDERED, REEF_CLASSES_UNKNOWN, REEF_CLASSES_DIFFERENT };
int reef_class_names_compare(const reef_class_names *model, const char *const *names, int count, int *to_model);

#endif
