/* The dataset file (docs/formats/dataset.md): a 128-byte header, then
 * pixels, labels, groups and a string table, each section 64-byte aligned.
 * All integers little-endian. */
#include "data/dataset.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "util/io.h"

#define HEADER_SIZE 128
#define SECTION_ALIGN 64
#define HEADER_CRC_AT 124 /* crc32 of header bytes [0, 124) */

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the dataset file is little-endian and is mapped in place"
#endif

/* The header as laid out in the file (all fields little-endian). */
typedef struct ds_header {
    char magic[8];
    uint32_t version;
    uint32_t header_size;
    uint32_t count, height, width, channels;
    uint32_t num_classes, num_groups;
    uint32_t payload_crc;   /* crc32 of bytes [header_size, file_size) */
    uint32_t reserved0;
    uint64_t file_size;
    uint64_t pixels_offset, labels_offset, groups_offset, strings_offset;
    uint64_t strings_size;
    uint8_t reserved[HEADER_CRC_AT - 96];
    uint32_t header_crc;
} ds_header;
_Static_assert(sizeof(ds_header) == HEADER_SIZE, "dataset header must be 128 bytes");

/* Private owner of a loaded or built dataset: a mapping and/or blocks. */
typedef struct ds_owner {
    reef_mapping map;
    void *blocks[8];
    int nblocks;
} ds_owner;

static uint64_t align_up(uint64_t x) { return (x + SECTION_ALIGN - 1) & ~(uint64_t)(SECTION_ALIGN - 1); }

/* ---- layout ---------------------------------------------------------------- */

static uint64_t strings_bytes(const reef_dataset *ds)
{
    uint64_t n = 0;
    for (uint32_t i = 0; i < ds->num_classes; i++) n += strlen(ds->class_names[i]) + 1;
    for (uint32_t i = 0; i < ds->num_groups; i++) n += strlen(ds->group_names[i]) + 1;
    for (uint32_t i = 0; i < ds->count; i++) n += strlen(ds->ids[i]) + 1;
    return n;
}

/* Fills the header's shape and offsets for ds (CRCs left at 0). */
static void plan_layout(const reef_dataset *ds, ds_header *h)
{
    memset(h, 0, sizeof *h);
    memcpy(h->magic, REEF_DATASET_MAGIC, 8);
    h->version = REEF_DATASET_VERSION;
    h->header_size = HEADER_SIZE;
    h->count = ds->count;
    h->height = ds->height;
    h->width = ds->width;
    h->channels = ds->channels;
    h->num_classes = ds->num_classes;
    h->num_groups = ds->num_groups;
    h->pixels_offset = HEADER_SIZE;
    h->labels_offset = align_up(h->pixels_offset + (uint64_t)ds->count * reef_dataset_sample_size(ds));
    h->groups_offset = align_up(h->labels_offset + 2ull * ds->count);
    h->strings_offset = align_up(h->groups_offset + 2ull * ds->count);
    h->strings_size = strings_bytes(ds);
    h->file_size = h->strings_offset + h->strings_size;
}

/* ---- save ------------------------------------------------------------------ */

typedef struct ds_writer {
    FILE *fp;
    const char *path;
    uint64_t pos;
    uLong crc;
    reef_error *err;
} ds_writer;

static int put(ds_writer *w, const void *data, size_t size)
{
    if (reef_fwrite_all(w->fp, data, size, w->path, w->err)) return -1;
    for (size_t done = 0; done < size;) { /* crc32 takes uInt lengths */
        size_t n = size - done > (1u << 30) ? (1u << 30) : size - done;
        w->crc = crc32(w->crc, (const Bytef *)data + done, (uInt)n);
        done += n;
    }
    w->pos += size;
    return 0;
}

static int pad_to(ds_writer *w, uint64_t offset)
{
    static const uint8_t zeros[SECTION_ALIGN];
    return put(w, zeros, (size_t)(offset - w->pos));
}

static int put_strings(ds_writer *w, const char *const *s, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        if (put(w, s[i], strlen(s[i]) + 1)) return -1;
    return 0;
}

static int write_payload(ds_writer *w, const reef_dataset *ds, const ds_header *h)
{
    if (put(w, ds->pixels, (size_t)ds->count * reef_dataset_sample_size(ds)) ||
        pad_to(w, h->labels_offset) || put(w, ds->labels, 2ull * ds->count) ||
        pad_to(w, h->groups_offset) || put(w, ds->groups, 2ull * ds->count) ||
        pad_to(w, h->strings_offset) || put_strings(w, ds->class_names, ds->num_classes) ||
        put_strings(w, ds->group_names, ds->num_groups) || put_strings(w, ds->ids, ds->count))
        return -1;
    return 0;
}

static int check_before_save(const char *path, const reef_dataset *ds, reef_error *err)
{
    if (!ds->height || !ds->width || !ds->channels || !ds->num_classes || !ds->num_groups)
        return reef_fail(err, "%s: refusing to write a dataset with a zero dimension", path);
    if (ds->num_classes > 65536 || ds->num_groups > 65536)
        return reef_fail(err, "%s: more than 65536 classes or groups", path);
    for (uint32_t i = 0; i < ds->count; i++)
        if (ds->labels[i] >= ds->num_classes || ds->groups[i] >= ds->num_groups)
            return reef_fail(err, "%s: sample %u has label %u / group %u out of range", path, i,
                             ds->labels[i], ds->groups[i]);
    return 0;
}

int reef_dataset_save(const char *path, const reef_dataset *ds, reef_error *err)
{
    if (check_before_save(path, ds, err)) return -1;
    ds_header h;
    plan_layout(ds, &h);
    reef_atomic_file af;
    if (reef_atomic_open(&af, path, err)) return -1;
    ds_writer w = {af.fp, path, 0, crc32(0, NULL, 0), err};
    /* The header goes first as a placeholder, rewritten once the CRC is known. */
    if (reef_fwrite_all(af.fp, &h, sizeof h, path, err)) goto fail;
    w.pos = HEADER_SIZE;
    if (write_payload(&w, ds, &h)) goto fail;
    h.payload_crc = (uint32_t)w.crc;
    h.header_crc = (uint32_t)crc32(crc32(0, NULL, 0), (const Bytef *)&h, HEADER_CRC_AT);
    if (fseek(af.fp, 0, SEEK_SET) || reef_fwrite_all(af.fp, &h, sizeof h, path, err)) {
        reef_fail(err, "%s: cannot rewrite header", path);
        goto fail;
    }
    return reef_atomic_commit(&af, err);
fail:
    reef_atomic_abort(&af);
    return -1;
}

/* ---- load ------------------------------------------------------------------ */

static int check_header(const char *path, const ds_header *h, size_t file_size, reef_error *err)
{
    if (memcmp(h->magic, REEF_DATASET_MAGIC, 8))
        return reef_fail(err, "%s: not a reef dataset file (bad magic)", path);
    if (h->header_crc != (uint32_t)crc32(crc32(0, NULL, 0), (const Bytef *)h, HEADER_CRC_AT))
        return reef_fail(err, "%s: header is corrupt (CRC mismatch)", path);
    if (h->version != REEF_DATASET_VERSION)
        return reef_fail(err, "%s: format version %u, this reef reads version %u", path,
                         h->version, REEF_DATASET_VERSION);
    if (h->header_size != HEADER_SIZE)
        return reef_fail(err, "%s: header of %u bytes, this reef reads %d", path, h->header_size, HEADER_SIZE);
    if (h->file_size != file_size)
        return reef_fail(err, "%s: %s: %zu bytes, its header says %llu", path,
                         file_size < h->file_size ? "truncated" : "bytes after the end", file_size,
                         (unsigned long long)h->file_size);
    if (!h->height || !h->width || !h->channels || !h->num_classes || !h->num_groups ||
        h->height > 65536 || h->width > 65536 || h->channels > 4 || h->num_classes > 65536 ||
        h->num_groups > 65536)
        return reef_fail(err, "%s: implausible shape %ux%ux%u, %u classes, %u groups", path,
                         h->height, h->width, h->channels, h->num_classes, h->num_groups);
    /* every product and sum below stays far from 2^64: the sample size is
     * at most 2^34, the count is checked against the file by division and
     * every offset is at most the file size before anything is added */
    uint64_t sample = (uint64_t)h->height * h->width * h->channels;
    if (h->count > file_size / sample)
        return reef_fail(err, "%s: its header promises %u samples of %ux%ux%u, more than the file's %zu bytes hold",
                         path, h->count, h->height, h->width, h->channels, file_size);
    uint64_t pixels = h->count * sample;
    if (h->pixels_offset > file_size || h->labels_offset > file_size || h->groups_offset > file_size ||
        h->strings_offset > file_size)
        return reef_fail(err, "%s: section offsets are inconsistent", path);
    if (h->pixels_offset < HEADER_SIZE || h->pixels_offset % SECTION_ALIGN ||
        h->labels_offset < h->pixels_offset + pixels || h->labels_offset % 2 ||
        h->groups_offset < h->labels_offset + 2ull * h->count || h->groups_offset % 2 ||
        h->strings_offset < h->groups_offset + 2ull * h->count ||
        h->strings_size > file_size || h->strings_offset != file_size - h->strings_size)
        return reef_fail(err, "%s: section offsets are inconsistent", path);
    return 0;
}

/* Points n strings at consecutive NUL-terminated strings in [*p, end). */
static int cut_strings(const char **out, uint32_t n, const char **p, const char *end)
{
    for (uint32_t i = 0; i < n; i++) {
        const char *nul = memchr(*p, 0, (size_t)(end - *p));
        if (!nul) return -1;
        out[i] = *p;
        *p = nul + 1;
    }
    return 0;
}

static int attach_sections(const char *path, const uint8_t *base, const ds_header *h,
                           reef_dataset *ds, ds_owner *own, reef_error *err)
{
    ds->count = h->count;
    ds->height = h->height;
    ds->width = h->width;
    ds->channels = h->channels;
    ds->num_classes = h->num_classes;
    ds->num_groups = h->num_groups;
    ds->pixels = base + h->pixels_offset;
    ds->labels = (const uint16_t *)(base + h->labels_offset);
    ds->groups = (const uint16_t *)(base + h->groups_offset);
    size_t nstr = (size_t)h->num_classes + h->num_groups + h->count;
    const char **strs = malloc((nstr ? nstr : 1) * sizeof *strs);
    if (!strs) return reef_fail(err, "%s: out of memory", path);
    own->blocks[own->nblocks++] = strs;
    const char *p = (const char *)base + h->strings_offset, *end = p + h->strings_size;
    if (cut_strings(strs, (uint32_t)nstr, &p, end) || p != end)
        return reef_fail(err, "%s: string table is malformed", path);
    ds->class_names = strs;
    ds->group_names = strs + h->num_classes;
    ds->ids = strs + h->num_classes + h->num_groups;
    for (uint32_t i = 0; i < ds->count; i++)
        if (ds->labels[i] >= ds->num_classes || ds->groups[i] >= ds->num_groups)
            return reef_fail(err, "%s: sample %u has label %u or group %u out of range", path, i,
                             ds->labels[i], ds->groups[i]);
    return 0;
}

static uint32_t payload_crc(const uint8_t *data, size_t size)
{
    uLong crc = crc32(0, NULL, 0);
    for (size_t done = 0; done < size;) {
        size_t n = size - done > (1u << 30) ? (1u << 30) : size - done;
        crc = crc32(crc, data + done, (uInt)n);
        done += n;
    }
    return (uint32_t)crc;
}

int reef_dataset_load(const char *path, reef_dataset *ds, reef_error *err)
{
    memset(ds, 0, sizeof *ds);
    ds_owner *own = calloc(1, sizeof *own);
    if (!own) return reef_fail(err, "%s: out of memory", path);
    ds->owner_ = own;
    if (reef_map_file(path, &own->map, err)) goto fail;
    /* another kind of file (a checkpoint, a .tflite) is named as such
     * before its size is held against it */
    const size_t head = own->map.size < 8 ? own->map.size : 8;
    if (head && memcmp(own->map.data, REEF_DATASET_MAGIC, head)) {
        reef_fail(err, "%s: not a reef dataset file (bad magic)", path);
        goto fail;
    }
    if (own->map.size < HEADER_SIZE) {
        reef_fail(err, "%s: %zu bytes is too short for a dataset header: the file is truncated", path,
                  own->map.size);
        goto fail;
    }
    ds_header h;
    memcpy(&h, own->map.data, sizeof h);
    if (check_header(path, &h, own->map.size, err)) goto fail;
    if (payload_crc(own->map.data + HEADER_SIZE, own->map.size - HEADER_SIZE) != h.payload_crc) {
        reef_fail(err, "%s: data is corrupt (CRC mismatch)", path);
        goto fail;
    }
    if (attach_sections(path, own->map.data, &h, ds, own, err)) goto fail;
    return 0;
fail:
    reef_dataset_free(ds);
    return -1;
}

void reef_dataset_free(reef_dataset *ds)
{
    ds_owner *own = ds->owner_;
    if (own) {
        reef_unmap_file(&own->map);
        for (int i = 0; i < own->nblocks; i++) free(own->blocks[i]);
        free(own);
    }
    memset(ds, 0, sizeof *ds);
}

/* ---- datasets built in memory (used by prep) -------------------------------- */

int reef_dataset_own(reef_dataset *ds, void *block, reef_error *err)
{
    ds_owner *own = ds->owner_;
    if (!own && !(own = ds->owner_ = calloc(1, sizeof *own))) {
        free(block);
        return reef_fail(err, "out of memory");
    }
    if (own->nblocks == (int)(sizeof own->blocks / sizeof own->blocks[0])) {
        free(block);
        return reef_fail(err, "dataset owns too many blocks");
    }
    own->blocks[own->nblocks++] = block;
    return 0;
}

static void shape_text(const int32_t *shape, int rank, char *buf, size_t size)
{
    size_t n = 0;
    buf[0] = 0;
    for (int i = 0; i < rank && n < size; i++) n += (size_t)snprintf(buf + n, size - n, "%s%d", i ? "x" : "", shape[i]);
}

int reef_dataset_check_fits(const reef_dataset *ds, const char *data_name, const int32_t *input_shape,
                            int input_rank, int64_t outputs, const char *model_name, reef_error *err)
{
    int64_t values = 1;
    for (int i = 0; i < input_rank; i++) values *= input_shape[i];
    int fits = values == (int64_t)reef_dataset_sample_size(ds);
    if (input_rank >= 3) {
        const int32_t *hwc = input_shape + input_rank - 3;
        fits = fits && hwc[0] == (int32_t)ds->height && hwc[1] == (int32_t)ds->width && hwc[2] == (int32_t)ds->channels;
    }
    if (!fits) {
        char shape[96];
        shape_text(input_shape, input_rank, shape, sizeof shape);
        return reef_fail(err, "%s: images are %ux%ux%u but the model '%s' takes %s (%lld values)", data_name,
                         ds->height, ds->width, ds->channels, model_name, shape, (long long)values);
    }
    if (outputs != (int64_t)ds->num_classes)
        return reef_fail(err, "%s: %u classes but the model '%s' has %lld outputs", data_name, ds->num_classes,
                         model_name, (long long)outputs);
    if (ds->count == 0) return reef_fail(err, "%s: no samples", data_name);
    return 0;
}

/* Rewrites ds's labels and class names so that data class k becomes model
 * class to_model[k]; the new arrays are owned by ds. */
static int relabel(reef_dataset *ds, const int *to_model, reef_error *err)
{
    uint16_t *labels = malloc(((size_t)ds->count + 1) * sizeof *labels);
    const char **names = malloc((size_t)ds->num_classes * sizeof *names);
    if (!labels || !names) {
        free(labels), free(names);
        return reef_fail(err, "out of memory");
    }
    for (uint32_t i = 0; i < ds->count; i++) labels[i] = (uint16_t)to_model[ds->labels[i]];
    /* the model's names, pointing into ds's own strings so they live as long */
    for (uint32_t k = 0; k < ds->num_classes; k++) names[to_model[k]] = ds->class_names[k];
    if (reef_dataset_own(ds, labels, err)) {
        free(names);
        return -1;
    }
    if (reef_dataset_own(ds, names, err)) return -1;
    ds->labels = labels, ds->class_names = names;
    return 0;
}

int reef_dataset_follow_classes(reef_dataset *ds, const char *data_name, const reef_class_names *model,
                                const char *model_name, char *note, size_t note_size, reef_error *err)
{
    if (note && note_size) note[0] = 0;
    char theirs[400], ours[400];
    reef_class_names_list(model, theirs, sizeof theirs);
    reef_class_names_list_array(ds->class_names, (int)ds->num_classes, ours, sizeof ours);
    int *to_model = malloc(((size_t)ds->num_classes + 1) * sizeof *to_model);
    if (!to_model) return reef_fail(err, "out of memory");
    int how = reef_class_names_compare(model, ds->class_names, (int)ds->num_classes, to_model);
    int rc = 0;
    if (how == REEF_CLASSES_DIFFERENT) {
        rc = reef_fail(err, "%s: its %u classes (%s) are not the %d classes model %s was trained on (%s)", data_name,
                       ds->num_classes, ours, model->count, model_name, theirs);
    } else if (how == REEF_CLASSES_REORDERED) {
        rc = relabel(ds, to_model, err);
        if (!rc && note)
            snprintf(note, note_size, "note: %s lists the classes of model %s in another order (%s; the model: %s): "
                     "its labels are mapped to the model's", data_name, model_name, ours, theirs);
    } else if (how == REEF_CLASSES_UNKNOWN && note) {
        snprintf(note, note_size, "warning: model %s carries no class names (written before reef stored them): "
                 "the classes of %s (%s) are not checked against it", model_name, data_name, ours);
    }
    free(to_model);
    return rc;
}
