/* Class names carried by models: see classes.h. */
#include "util/classes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int reef_class_names_pack(reef_class_names *c, const char *const *names, int count, reef_error *err)
{
    memset(c, 0, sizeof *c);
    if (count <= 0) return 0;
    if (count > REEF_CLASSES_MAX) return reef_fail(err, "%d class names (at most %d)", count, REEF_CLASSES_MAX);
    size_t size = 0;
    for (int i = 0; i < count; i++) size += strlen(names[i]) + 1;
    char *blob = malloc(size);
    if (!blob) return reef_fail(err, "out of memory (%zu bytes of class names)", size);
    char *at = blob;
    for (int i = 0; i < count; i++) {
        size_t n = strlen(names[i]) + 1;
        memcpy(at, names[i], n);
        at += n;
    }
    c->count = count, c->size = size, c->blob = blob;
    return 0;
}

int reef_class_names_parse(reef_class_names *c, const uint8_t *bytes, size_t size, const char *what,
                           reef_error *err)
{
    memset(c, 0, sizeof *c);
    if (size == 0 || bytes[size - 1] != 0)
        return reef_fail(err, "%s: class names must each end with a 0 byte (%zu bytes, the last not 0)", what, size);
    int count = 0;
    for (size_t i = 0; i < size; i++)
        if (bytes[i] == 0 && ++count > REEF_CLASSES_MAX)
            return reef_fail(err, "%s: more than %d class names", what, REEF_CLASSES_MAX);
    char *blob = malloc(size);
    if (!blob) return reef_fail(err, "%s: out of memory (%zu bytes of class names)", what, size);
    memcpy(blob, bytes, size);
    c->count = count, c->size = size, c->blob = blob;
    return 0;
}

void reef_class_names_free(reef_class_names *c)
{
    free(c->blob);
    memset(c, 0, sizeof *c);
}

const char *reef_class_name(const reef_class_names *c, int i)
{
    const char *at = c->blob;
    while (i-- > 0) at += strlen(at) + 1;
    return at;
}

/* Appends names to out, separated by ", ", ending in "..." when cut. */
static void list_names(const char *(*name_at)(const void *, int), const void *src, int count, char *out,
                       size_t out_size)
{
    size_t len = 0;
    if (out_size) out[0] = 0;
    for (int i = 0; i < count && out_size; i++) {
        int n = snprintf(out + len, out_size - len, "%s%s", i ? ", " : "", name_at(src, i));
        if (n < 0 || (size_t)n >= out_size - len) {
            if (out_size >= 4) strcpy(out + out_size - 4, "...");
            return;
        }
        len += (size_t)n;
    }
}

static const char *blob_name(const void *src, int i) { return reef_class_name(src, i); }
static const char *array_name(const void *src, int i) { return ((const char *const *)src)[i]; }

void reef_class_names_list(const reef_class_names *c, char *out, size_t out_size)
{
    list_names(blob_name, c, c->count, out, out_size);
}

void reef_class_names_list_array(const char *const *names, int count, char *out, size_t out_size)
{
    list_names(array_name, names, count, out, out_size);
}

int reef_class_names_compare(const reef_class_names *model, const char *const *names, int count, int *to_model)
{
    if (model->count == 0) return REEF_CLASSES_UNKNOWN;
    if (model->count != count) return REEF_CLASSES_DIFFERENT;
    int same = 1;
    const char *at = model->blob;
    for (int i = 0; i < count; i++, at += strlen(at) + 1) same &= !strcmp(at, names[i]);
    if (same) return REEF_CLASSES_SAME;
    /* Each of the data's names must occur exactly once among the model's;
     * with as many names on both sides, that makes a permutation. */
    for (int k = 0; k < count; k++) {
        int found = -1, hits = 0;
        at = model->blob;
        for (int i = 0; i < count; i++, at += strlen(at) + 1)
            if (!strcmp(at, names[k])) found = i, hits++;
        if (hits != 1) return REEF_CLASSES_DIFFERENT;
        for (int j = 0; j < k; j++)
            if (to_model[j] == found) return REEF_CLASSES_DIFFERENT;
        to_model[k] = found;
    }
    return REEF_CLASSES_REORDERED;
}
