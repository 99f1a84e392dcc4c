/* IDX files (the MNIST / Fashion-MNIST format), gzip'd or not: a big-endian
 * header (0, 0, type 0x08 = ubyte, number of dimensions, then one uint32 per
 * dimension) followed by the bytes. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <zlib.h>

#include "data/sources.h"

#define IDX_MAX_BYTES (1u << 30)

static const char *const fashion_names[10] = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                               "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
static const char *const digit_names[10] = {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"};

/* Reads a whole (possibly gzip'd) file; gzread passes plain files through. */
static int gz_slurp(const char *path, uint8_t **data, size_t *size, reef_error *err)
{
    struct stat st;
    if (stat(path, &st) != 0) return reef_fail(err, "%s: cannot open: %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode)) return reef_fail(err, "%s: is a folder, not a file", path);
    gzFile gz = gzopen(path, "rb");
    if (!gz) return reef_fail(err, "%s: cannot open: %s", path, errno ? strerror(errno) : "out of memory");
    size_t cap = 1 << 20, n = 0;
    uint8_t *buf = malloc(cap);
    int got = 0;
    while (buf && (got = gzread(gz, buf + n, (unsigned)(cap - n))) > 0) {
        n += (size_t)got;
        if (n == cap) {
            uint8_t *g = cap < IDX_MAX_BYTES ? realloc(buf, cap * 2) : NULL;
            if (!g) break;
            buf = g;
            cap *= 2;
        }
    }
    int errnum = 0;
    const char *msg = buf ? gzerror(gz, &errnum) : "out of memory";
    int bad = !buf || got < 0 || errnum != Z_OK || n == cap;
    char why[200];
    snprintf(why, sizeof why, "%s", bad && n == cap ? "too large" : msg);
    gzclose(gz);
    if (bad) {
        free(buf);
        return reef_fail(err, "%s: cannot read: %s", path, why);
    }
    *data = buf;
    *size = n;
    return 0;
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Checks the header (ubyte, ndim dimensions) and that the size matches;
 * dims gets the dimensions. The item count is a product of up to three
 * 32-bit header fields: it is checked against the bytes present before
 * each multiplication, so a crafted header cannot wrap it around. */
static int idx_check(const char *path, const uint8_t *d, size_t size, int ndim, uint32_t *dims,
                     reef_error *err)
{
    if (size < 4 + 4u * (unsigned)ndim || d[0] || d[1] || d[2] != 0x08 || d[3] != ndim)
        return reef_fail(err, "%s: not an IDX file of unsigned bytes with %d dimensions", path, ndim);
    uint64_t expect = 4 + 4u * (unsigned)ndim, present = size - expect;
    uint64_t items = 1;
    int too_many = 0;
    for (int i = 0; i < ndim; i++) {
        dims[i] = be32(d + 4 + 4 * i);
        if (dims[i] && items > present / dims[i]) too_many = 1;
        else items *= dims[i];
    }
    if (too_many || items > present) {
        char shape[64];
        int at = 0;
        for (int i = 0; i < ndim; i++) at += snprintf(shape + at, sizeof shape - at, "%s%u", i ? "x" : "", dims[i]);
        return reef_fail(err, "%s: truncated: its header promises %s bytes of data, the file has %llu", path,
                         shape, (unsigned long long)present);
    }
    if (items < present)
        return reef_fail(err, "%s: %llu bytes after the %llu its header promises", path,
                         (unsigned long long)(present - items), (unsigned long long)(expect + items));
    return 0;
}

/* root/<prefix>-<kind>-ubyte.gz, or without .gz when only that exists. */
static void idx_path(char *buf, size_t size, const char *root, const char *prefix, const char *kind)
{
    struct stat st;
    snprintf(buf, size, "%s/%s-%s-ubyte.gz", root, prefix, kind);
    if (stat(buf, &st) == 0) return;
    snprintf(buf, size, "%s/%s-%s-ubyte", root, prefix, kind);
    if (stat(buf, &st) == 0) return;
    snprintf(buf, size, "%s/%s-%s-ubyte.gz", root, prefix, kind); /* name the expected one */
}

/* Fashion-MNIST when the folder's path says so (Debian's is
 * /usr/share/datasets/fashion-mnist), digits otherwise. */
static int is_fashion(const char *root)
{
    for (const char *p = root; *p; p++)
        if (!strncasecmp(p, "fashion", 7)) return 1;
    return 0;
}

static int idx_fill(prep_list *l, const char *root, const char *split, const uint8_t *labels,
                    const char *labels_path, reef_error *err)
{
    const char *const *names = is_fashion(root) ? fashion_names : digit_names;
    l->ids = calloc(l->count ? l->count : 1, sizeof *l->ids);
    l->labels = malloc((l->count ? l->count : 1) * sizeof *l->labels);
    l->groups = calloc(l->count ? l->count : 1, sizeof *l->groups);
    l->class_names = calloc(10, sizeof *l->class_names);
    l->group_names = calloc(1, sizeof *l->group_names);
    if (!l->ids || !l->labels || !l->groups || !l->class_names || !l->group_names)
        return reef_fail(err, "out of memory");
    for (uint32_t i = 0; i < l->count; i++) {
        if (labels[i] >= 10)
            return reef_fail(err, "%s: item %u has unknown label %u (want 0..9)", labels_path, i, labels[i]);
        l->labels[i] = labels[i];
        char id[64];
        snprintf(id, sizeof id, "%s/%05u", split, i);
        if (!(l->ids[i] = strdup(id))) return reef_fail(err, "out of memory");
    }
    for (l->num_classes = 0; l->num_classes < 10; l->num_classes++)
        if (!(l->class_names[l->num_classes] = strdup(names[l->num_classes]))) return reef_fail(err, "out of memory");
    l->num_groups = 1;
    if (!(l->group_names[0] = strdup("all"))) return reef_fail(err, "out of memory");
    return 0;
}

static int idx_load(prep_list *l, const char *root, const char *split, const char *prefix,
                    reef_error *err)
{
    char ipath[4096], lpath[4096];
    idx_path(ipath, sizeof ipath, root, prefix, "images-idx3");
    idx_path(lpath, sizeof lpath, root, prefix, "labels-idx1");
    uint8_t *img = NULL, *lab = NULL;
    size_t isize, lsize;
    uint32_t idims[3], ldims[1];
    int rc = gz_slurp(ipath, &img, &isize, err);
    if (!rc) rc = idx_check(ipath, img, isize, 3, idims, err);
    if (!rc) rc = gz_slurp(lpath, &lab, &lsize, err);
    if (!rc) rc = idx_check(lpath, lab, lsize, 1, ldims, err);
    if (!rc && idims[0] != ldims[0])
        rc = reef_fail(err, "%s has %u images but %s has %u labels", ipath, idims[0], lpath, ldims[0]);
    if (!rc && (!idims[1] || !idims[2])) rc = reef_fail(err, "%s: images of size zero", ipath);
    if (!rc) {
        l->count = l->cap = idims[0];
        l->raw_h = idims[1];
        l->raw_w = idims[2];
        rc = idx_fill(l, root, split, lab + 8, lpath, err);
    }
    if (!rc) { /* keep the pixels: move them to the front of the buffer */
        memmove(img, img + 16, isize - 16);
        l->raw = img;
        img = NULL;
    }
    free(img);
    free(lab);
    return rc;
}

int prep_list_idx(const char *root, const char *split, prep_list *l, reef_error *err)
{
    memset(l, 0, sizeof *l);
    const char *prefix = !strcmp(split, "train") ? "train" : !strcmp(split, "test") ? "t10k" : NULL;
    if (!prefix) return reef_fail(err, "IDX split '%s': want train or test", split);
    int rc = idx_load(l, root, split, prefix, err);
    if (rc) prep_list_free(l);
    return rc;
}
