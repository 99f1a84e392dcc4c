#include "data/prep.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "data/sources.h"
#include "util/io.h"
#include "util/ranks.h"

#define MAX_THREADS 64

static const char *const format_names[] = {"deepfish", "folders", "idx"};
static char oom_message[] = "out of memory"; /* when even strdup fails */

int reef_prep_format_parse(const char *name, reef_prep_format *format)
{
    for (int i = 0; i < 3; i++)
        if (!strcmp(name, format_names[i])) {
            *format = (reef_prep_format)i;
            return 0;
        }
    return -1;
}

const char *reef_prep_format_name(reef_prep_format format)
{
    return (unsigned)format < 3 ? format_names[format] : "?";
}

void reef_prep_report_free(reef_prep_report *rep)
{
    for (uint32_t i = 0; i < rep->skipped_count; i++) free(rep->skipped[i]);
    free(rep->skipped);
    memset(rep, 0, sizeof *rep);
}

void reef_dataset_count(const reef_dataset *ds, uint32_t *per_class, uint32_t *per_group)
{
    memset(per_class, 0, ds->num_classes * sizeof *per_class);
    memset(per_group, 0, ds->num_groups * sizeof *per_group);
    for (uint32_t i = 0; i < ds->count; i++) {
        per_class[ds->labels[i]]++;
        per_group[ds->groups[i]]++;
    }
}

/* ---- the decoding pool ----------------------------------------------------- */

typedef struct pool {
    const prep_list *list;
    reef_image_spec spec;
    size_t sample_size;
    uint8_t *pixels;          // (count, H, W, C) one slot per listed sample
    char **errors;            // (count) NULL, or what went wrong with sample i
    int skip_bad;
    uint32_t end;             // this rank's samples are [next's start, end)
    atomic_uint next;         // next sample to claim
    atomic_uint done;
    atomic_int stop;          // a sample failed and we are not skipping
    uint32_t total;           // end - first sample: what the progress counts to
} pool;

typedef struct file_buf {
    uint8_t *data;
    size_t cap, size;
} file_buf;

/* Reads a whole file into a reusable buffer. */
static int read_into(const char *path, file_buf *fb, reef_error *err)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0) return reef_fail(err, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    int rc = 0;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        rc = reef_fail(err, "%s: not a regular file", path);
    } else if ((size_t)st.st_size > fb->cap) {
        uint8_t *g = realloc(fb->data, (size_t)st.st_size);
        if (!g) rc = reef_fail(err, "%s: out of memory", path);
        else fb->data = g, fb->cap = (size_t)st.st_size;
    }
    fb->size = 0;
    while (!rc && fb->size < (size_t)st.st_size) {
        ssize_t n = read(fd, fb->data + fb->size, (size_t)st.st_size - fb->size);
        if (n <= 0) rc = reef_fail(err, "%s: read failed: %s", path, n ? strerror(errno) : "short read");
        else fb->size += (size_t)n;
    }
    close(fd);
    return rc;
}

static int make_sample(pool *p, uint32_t i, file_buf *fb, reef_image_scratch *s, reef_error *err)
{
    const prep_list *l = p->list;
    uint8_t *out = p->pixels + (size_t)i * p->sample_size;
    if (l->raw) {
        const uint8_t *img = l->raw + (size_t)i * l->raw_h * l->raw_w;
        return reef_image_convert(img, l->raw_w, l->raw_h, 1, &p->spec, s, out, l->ids[i], err);
    }
    if (read_into(l->paths[i], fb, err)) return -1;
    return reef_image_decode(fb->data, fb->size, l->paths[i], &p->spec, s, out, NULL, err);
}

static void *worker(void *arg)
{
    pool *p = arg;
    file_buf fb = {0};
    reef_image_scratch scratch = {0};
    reef_error err;
    for (;;) {
        unsigned i = atomic_fetch_add(&p->next, 1);
        if (i >= p->end || atomic_load(&p->stop)) break;
        if (make_sample(p, i, &fb, &scratch, &err)) {
            p->errors[i] = strdup(err.msg);
            if (!p->errors[i]) p->errors[i] = oom_message;
            if (!p->skip_bad) atomic_store(&p->stop, 1);
        }
        atomic_fetch_add(&p->done, 1);
    }
    free(fb.data);
    reef_image_scratch_free(&scratch);
    return NULL;
}

static int thread_count(const reef_prep_options *opt, uint32_t count)
{
    long n = opt->threads > 0 ? opt->threads : sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1) n = 1;
    if (n > MAX_THREADS) n = MAX_THREADS;
    if ((uint32_t)n > count) n = count ? (long)count : 1;
    return (int)n;
}

static void watch_progress(pool *p, const reef_prep_options *opt, atomic_int *running)
{
    struct timespec nap = {0, 20 * 1000 * 1000};
    while (atomic_load(running) > 0) {
        opt->progress(opt->progress_ctx, atomic_load(&p->done), p->total);
        nanosleep(&nap, NULL);
    }
    opt->progress(opt->progress_ctx, atomic_load(&p->done), p->total);
}

typedef struct worker_arg {
    pool *p;
    atomic_int *running;
} worker_arg;

static void *counted_worker(void *arg)
{
    worker_arg *a = arg;
    worker(a->p);
    atomic_fetch_sub(a->running, 1);
    return NULL;
}

/* Runs the pool to completion; returns the number of threads used or -1. */
static int run_pool(pool *p, const reef_prep_options *opt, reef_error *err)
{
    int n = thread_count(opt, p->total);
    pthread_t tid[MAX_THREADS];
    atomic_int running = n;
    worker_arg arg = {p, &running};
    int started = 0;
    for (; started < n; started++)
        if (pthread_create(&tid[started], NULL, counted_worker, &arg)) break;
    atomic_fetch_sub(&running, n - started);
    if (started == 0) return reef_fail(err, "cannot start a decoding thread");
    if (opt->progress) watch_progress(p, opt, &running);
    for (int t = 0; t < started; t++) pthread_join(tid[t], NULL);
    return started;
}

/* ---- assembling the dataset ------------------------------------------------ */

/* Copies names into one block of chars and points dst at them. */
static char *pack_strings(const char **dst, char *const *const *srcs, const uint32_t *counts,
                          const uint32_t *const *keep, int nsrc)
{
    size_t total = 1;
    for (int s = 0; s < nsrc; s++)
        for (uint32_t i = 0; i < counts[s]; i++)
            if (!keep[s] || keep[s][i] != UINT32_MAX) total += strlen(srcs[s][i]) + 1;
    char *chars = malloc(total), *at = chars;
    if (!chars) return NULL;
    for (int s = 0; s < nsrc; s++)
        for (uint32_t i = 0; i < counts[s]; i++) {
            if (keep[s] && keep[s][i] == UINT32_MAX) continue;
            size_t len = strlen(srcs[s][i]) + 1;
            memcpy(at, srcs[s][i], len);
            *dst++ = at;
            at += len;
        }
    return chars;
}

/* keep[i]: the output index of listed sample i, UINT32_MAX if skipped. */
static int assemble(const prep_list *l, pool *p, const uint32_t *keep, uint32_t kept,
                    reef_dataset *ds, reef_error *err)
{
    uint16_t *labels = malloc((kept ? kept : 1) * sizeof *labels);
    uint16_t *groups = malloc((kept ? kept : 1) * sizeof *groups);
    const char **strs = malloc(((size_t)l->num_classes + l->num_groups + kept) * sizeof *strs);
    int rc = reef_dataset_own(ds, labels, err) | reef_dataset_own(ds, groups, err) |
             reef_dataset_own(ds, strs, err);
    if (rc || !labels || !groups || !strs) return reef_fail(err, "out of memory");
    for (uint32_t i = 0; i < l->count; i++) {
        if (keep[i] == UINT32_MAX) continue;
        memmove(p->pixels + (size_t)keep[i] * p->sample_size, p->pixels + (size_t)i * p->sample_size,
                p->sample_size);
        labels[keep[i]] = l->labels[i];
        groups[keep[i]] = l->groups[i];
    }
    char *const *srcs[3] = {l->class_names, l->group_names, l->ids};
    uint32_t counts[3] = {l->num_classes, l->num_groups, l->count};
    const uint32_t *keeps[3] = {NULL, NULL, keep};
    char *chars = pack_strings(strs, srcs, counts, keeps, 3);
    if (reef_dataset_own(ds, chars, err) || !chars) return reef_fail(err, "out of memory");
    ds->count = kept;
    ds->num_classes = l->num_classes;
    ds->num_groups = l->num_groups;
    ds->labels = labels;
    ds->groups = groups;
    ds->class_names = strs;
    ds->group_names = strs + l->num_classes;
    ds->ids = strs + l->num_classes + l->num_groups;
    return 0;
}

/* After the pool: the first failure (lowest index, whatever the threads
 * did) is the error, or with skip_bad the failures go to the report. */
static int collect_failures(const prep_list *l, pool *p, uint32_t *keep, uint32_t *kept,
                            reef_prep_report *rep, reef_error *err)
{
    *kept = 0;
    for (uint32_t i = 0; i < l->count; i++) {
        if (!p->errors[i]) {
            keep[i] = (*kept)++;
            continue;
        }
        if (!p->skip_bad) return reef_fail(err, "%s", p->errors[i]);
        keep[i] = UINT32_MAX;
        char **g = realloc(rep->skipped, (rep->skipped_count + 1) * sizeof *g);
        if (!g) return reef_fail(err, "out of memory");
        rep->skipped = g;
        if (!(g[rep->skipped_count] = strdup(p->errors[i]))) return reef_fail(err, "out of memory");
        rep->skipped_count++;
    }
    if (*kept == 0) return reef_fail(err, "no samples left: all %u images are bad", l->count);
    return 0;
}

static int list_inputs(const reef_prep_options *opt, prep_list *l, reef_error *err)
{
    if (!opt->root) return reef_fail(err, "no input folder given");
    switch (opt->format) {
    case REEF_PREP_DEEPFISH: return prep_list_deepfish(opt->root, opt->split ? opt->split : "train", l, err);
    case REEF_PREP_FOLDERS: return prep_list_folders(opt->root, opt->split, l, err);
    case REEF_PREP_IDX: return prep_list_idx(opt->root, opt->split ? opt->split : "train", l, err);
    }
    return reef_fail(err, "unknown input format %d", (int)opt->format);
}

/* This rank's errors as "index\tmessage\0" records. */
static char *pack_errors(const pool *p, uint32_t lo, uint32_t hi, size_t *len)
{
    size_t cap = 1;
    for (uint32_t i = lo; i < hi; i++)
        if (p->errors[i]) cap += strlen(p->errors[i]) + 16;
    char *text = malloc(cap);
    if (!text) return NULL;
    *len = 0;
    for (uint32_t i = lo; i < hi; i++)
        if (p->errors[i]) *len += (size_t)snprintf(text + *len, cap - *len, "%u\t%s", i, p->errors[i]) + 1;
    return text;
}

/* Under mpirun: every rank decoded its slice of the list; a failure on
 * any rank fails all (named by the lowest failing rank); then every rank
 * gets every slice's pixels and (with skip_bad) errors, so all continue
 * with the same complete pool, as one process would have it. */
static int share_slices(const prep_list *l, pool *p, uint32_t lo, uint32_t hi, int failed, reef_error *err)
{
    const int size = reef_ranks_size();
    if (size == 1) return failed ? -1 : 0;
    for (uint32_t i = lo; i < hi && !p->skip_bad && !failed; i++)
        if (p->errors[i]) failed = reef_fail(err, "%s", p->errors[i]);
    if (reef_ranks_agree(failed, err->msg, sizeof err->msg)) return -1;
    size_t *count = malloc(2 * (size_t)size * sizeof *count), *displ = count + size;
    if (!count) failed = reef_fail(err, "out of memory");
    for (int r = 0; !failed && r < size; r++) {
        uint64_t a, b;
        reef_ranks_slice(l->count, r, size, &a, &b);
        count[r] = (size_t)(b - a) * p->sample_size, displ[r] = (size_t)a * p->sample_size;
    }
    if (!failed && reef_ranks_allgather_bytes(p->pixels, count, displ))
        failed = reef_fail(err, "sharing the decoded images between ranks failed");
    free(count);
    char *mine = NULL, *all = NULL;
    size_t len = 0, all_len = 0;
    if (!failed && p->skip_bad && (!(mine = pack_errors(p, lo, hi, &len)) ||
                                   reef_ranks_allgather_text(mine, len, &all, &all_len)))
        failed = reef_fail(err, "sharing the skipped images between ranks failed");
    for (size_t at = 0; !failed && p->skip_bad && at < all_len; at += strlen(all + at) + 1) {
        char *tab;
        unsigned long i = strtoul(all + at, &tab, 10);
        if (i >= lo && i < hi) continue;  // this rank's own are there already
        p->errors[i] = strdup(tab + 1);
        if (!p->errors[i]) p->errors[i] = oom_message;
    }
    free(mine);
    free(all);
    return reef_ranks_agree(failed, err->msg, sizeof err->msg) ? -1 : 0;
}

static int decode_all(const reef_prep_options *opt, const prep_list *l, reef_dataset *ds,
                      reef_prep_report *rep, reef_error *err)
{
    if (l->count == 0) return reef_fail(err, "%s: lists no samples", opt->root);
    pool p = {.list = l, .skip_bad = opt->skip_bad};
    uint64_t lo, hi;  // this rank's slice of the list (all of it in one process)
    reef_ranks_slice(l->count, reef_ranks_rank(), reef_ranks_size(), &lo, &hi);
    p.end = (uint32_t)hi, p.total = (uint32_t)(hi - lo);
    atomic_store(&p.next, (unsigned)lo);
    p.spec = (reef_image_spec){opt->width ? opt->width : 32, opt->height ? opt->height : 32,
                               opt->channels, 0};
    ds->width = p.spec.width;
    ds->height = p.spec.height;
    ds->channels = reef_channels_count(opt->channels);
    p.sample_size = reef_dataset_sample_size(ds);
    p.pixels = malloc(l->count * p.sample_size);
    p.errors = calloc(l->count, sizeof *p.errors);
    uint32_t *keep = malloc(l->count * sizeof *keep);
    int rc = reef_dataset_own(ds, p.pixels, err);
    if (!rc && (!p.pixels || !p.errors || !keep)) rc = reef_fail(err, "out of memory");
    rc = reef_ranks_agree(rc, err->msg, sizeof err->msg) ? -1 : 0;
    if (!rc) rc = (rep->threads = run_pool(&p, opt, err)) < 0 ? -1 : 0;
    if (reef_ranks_size() > 1) rc = share_slices(l, &p, (uint32_t)lo, (uint32_t)hi, rc, err);
    uint32_t kept = 0;
    if (!rc) rc = collect_failures(l, &p, keep, &kept, rep, err);
    if (!rc) rc = assemble(l, &p, keep, kept, ds, err);
    ds->pixels = p.pixels;
    for (uint32_t i = 0; p.errors && i < l->count; i++)
        if (p.errors[i] != oom_message) free(p.errors[i]);
    free(p.errors);
    free(keep);
    return rc;
}

int reef_prep_build(const reef_prep_options *opt, reef_dataset *ds, reef_prep_report *rep,
                    reef_error *err)
{
    memset(ds, 0, sizeof *ds);
    memset(rep, 0, sizeof *rep);
    if (opt->width > 4096 || opt->height > 4096)
        return reef_fail(err, "output size %ux%u is too large (at most 4096x4096)", opt->width, opt->height);
    if ((unsigned)opt->channels > REEF_CHANNELS_RGB) return reef_fail(err, "unknown channels choice");
    double start = reef_now();
    prep_list l;
    if (list_inputs(opt, &l, err)) return -1;
    rep->listed = l.count;
    int rc = decode_all(opt, &l, ds, rep, err);
    prep_list_free(&l);
    rep->seconds = reef_now() - start;
    if (rc) reef_dataset_free(ds);
    return rc;
}

/* An output that already exists must be none of the inputs (by inode):
 * the list file (DeepFish CSV, IDX files) or any listed image. Only an
 * existing output can be an input, so the inputs are listed only then. */
int reef_prep_check_output(const reef_prep_options *opt, const char *out_path, reef_error *err)
{
    struct stat st;
    if (reef_check_output_path(out_path, err)) return -1;
    if (stat(out_path, &st) != 0 || !opt->root) return 0;
    const char *split = opt->split ? opt->split : "train";
    char path[4200];
    static const char *const lists[] = {"%s/Classification/%s.csv", "%s/%s.csv"};
    for (int k = 0; opt->format == REEF_PREP_DEEPFISH && k < 2; k++) {
        snprintf(path, sizeof path, lists[k], opt->root, split);
        if (reef_same_file(out_path, path))
            return reef_fail(err, "%s is the list of images (%s): refusing to overwrite an input", out_path, path);
    }
    static const char *const idx[] = {"images-idx3", "labels-idx1"};
    const char *prefix = !strcmp(split, "test") ? "t10k" : "train";
    for (int k = 0; opt->format == REEF_PREP_IDX && k < 4; k++) {
        snprintf(path, sizeof path, "%s/%s-%s-ubyte%s", opt->root, prefix, idx[k / 2], k % 2 ? ".gz" : "");
        if (reef_same_file(out_path, path))
            return reef_fail(err, "%s is an input IDX file: refusing to overwrite it", out_path);
    }
    if (opt->format == REEF_PREP_IDX) return 0;
    prep_list l;
    if (list_inputs(opt, &l, err)) return -1;
    int rc = 0;
    for (uint32_t i = 0; i < l.count && !rc; i++)
        if (l.paths && l.paths[i] && reef_same_file(out_path, l.paths[i]))
            rc = reef_fail(err, "%s is an input image (sample %s): refusing to overwrite it", out_path, l.ids[i]);
    prep_list_free(&l);
    return rc;
}

int reef_prep_file(const reef_prep_options *opt, const char *out_path, reef_prep_report *rep,
                   reef_error *err)
{
    reef_dataset ds;
    memset(rep, 0, sizeof *rep);
    if (reef_ranks_agree(reef_prep_check_output(opt, out_path, err), err->msg, sizeof err->msg)) return -1;
    if (reef_prep_build(opt, &ds, rep, err)) return -1;
    int rc = reef_ranks_rank() == 0 ? reef_dataset_save(out_path, &ds, err) : 0;  // rank 0 writes
    reef_dataset_free(&ds);
    return reef_ranks_agree(rc, err->msg, sizeof err->msg) ? -1 : 0;
}
