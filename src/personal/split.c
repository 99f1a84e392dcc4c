/* Subsets of a dataset by group (habitat): the site of a personalization
 * run, or the source data without the held-out sites. */
#include <stdlib.h>
#include <string.h>

#include "personal/personal.h"

/* Index of the group named name, or -1. */
static int find_group(const reef_dataset *ds, const char *name)
{
    for (uint32_t g = 0; g < ds->num_groups; g++)
        if (!strcmp(ds->group_names[g], name)) return (int)g;
    return -1;
}

/* Parses "7398,7623" into a mask over ds's groups. */
static int group_mask(const reef_dataset *ds, const char *path, const char *list, uint8_t *mask,
                      reef_error *err)
{
    char *copy = strdup(list), *save = NULL;
    if (!copy) return reef_fail(err, "out of memory");
    int n = 0;
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        int g = find_group(ds, tok);
        if (g < 0) {
            int rc = reef_fail(err, "%s: no group (habitat) named '%s' (it has %u groups, the first '%s')", path,
                               tok, ds->num_groups, ds->num_groups ? ds->group_names[0] : "");
            free(copy);
            return rc;
        }
        mask[g] = 1;
        n++;
    }
    free(copy);
    return n ? 0 : reef_fail(err, "no group names given");
}

int reef_dataset_by_groups(const reef_dataset *src, const char *src_path, const char *groups,
                           int exclude, reef_dataset *out, reef_error *err)
{
    memset(out, 0, sizeof *out);
    uint8_t *mask = calloc(src->num_groups ? src->num_groups : 1, 1);
    if (!mask) return reef_fail(err, "out of memory");
    if (group_mask(src, src_path, groups, mask, err)) {
        free(mask);
        return -1;
    }
    uint32_t n = 0;
    for (uint32_t i = 0; i < src->count; i++) n += (mask[src->groups[i]] != 0) != (exclude != 0);
    if (!n) {
        free(mask);
        return reef_fail(err, "%s: no samples %s groups %s", src_path, exclude ? "outside" : "in", groups);
    }
    size_t sample = reef_dataset_sample_size(src);
    uint8_t *pixels = malloc(n * sample);
    uint16_t *labels = malloc(n * sizeof *labels), *grp = malloc(n * sizeof *grp);
    const char **ids = malloc(n * sizeof *ids);
    *out = *src;
    out->owner_ = NULL;
    out->count = n;
    int rc = reef_dataset_own(out, pixels, err) | reef_dataset_own(out, labels, err) |
             reef_dataset_own(out, grp, err) | reef_dataset_own(out, (void *)ids, err);
    if (rc || !pixels || !labels || !grp || !ids) {
        free(mask);
        reef_dataset_free(out);
        return reef_fail(err, "out of memory");
    }
    uint32_t k = 0;
    for (uint32_t i = 0; i < src->count; i++) {
        if ((mask[src->groups[i]] != 0) == (exclude != 0)) continue;
        memcpy(pixels + k * sample, reef_dataset_sample(src, i), sample);
        labels[k] = src->labels[i];
        grp[k] = src->groups[i];
        ids[k++] = src->ids[i];
    }
    out->pixels = pixels;
    out->labels = labels;
    out->groups = grp;
    out->ids = ids;
    free(mask);
    return 0;
}
