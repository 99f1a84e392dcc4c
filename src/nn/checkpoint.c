/* Checkpoint writer and reader: see checkpoint.h and
 * docs/formats/checkpoint.md. All integers and floats little-endian. */
#include "nn/checkpoint.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "util/io.h"

#define HEADER_SIZE 32
#define SECTION_HEADER 16

/* ---- little-endian helpers (x86 and ARM hosts are little-endian; these
 * keep the file format explicit anyway) ---------------------------------- */

static void put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static void put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static uint32_t get_u32(const uint8_t *p)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) v |= (uint32_t)p[i] << (8 * i);
    return v;
}
static uint64_t get_u64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/* ---- building the payload in memory ----------------------------------------- */

typedef struct buf {
    uint8_t *data;
    size_t size, cap;
    int failed;
} buf;

static void buf_put(buf *b, const void *src, size_t n)
{
    if (b->failed) return;
    if (b->size + n > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 4096;
        while (cap < b->size + n) cap *= 2;
        uint8_t *d = realloc(b->data, cap);
        if (!d) {
            b->failed = 1;
            return;
        }
        b->data = d, b->cap = cap;
    }
    memcpy(b->data + b->size, src, n);
    b->size += n;
}

/* A section: tag (4 chars), u32 reserved 0, u64 size, then the bytes,
 * padded with zeros to a multiple of 8. */
static void section(buf *b, const char *tag, const void *data, size_t n)
{
    uint8_t h[SECTION_HEADER] = {0};
    memcpy(h, tag, 4);
    put_u64(h + 8, n);
    buf_put(b, h, sizeof h);
    buf_put(b, data, n);
    static const uint8_t zeros[8] = {0};
    if (n % 8) buf_put(b, zeros, 8 - n % 8);
}

static void floats_le(buf *b, const char *tag, const float *v, size_t n)
{
    // Floats are stored as their IEEE-754 bits, little-endian.
    uint8_t *tmp = malloc(n * 4 + 1);
    if (!tmp) {
        b->failed = 1;
        return;
    }
    for (size_t i = 0; i < n; i++) {
        uint32_t bits;
        memcpy(&bits, &v[i], 4);
        put_u32(tmp + 4 * i, bits);
    }
    section(b, tag, tmp, n * 4);
    free(tmp);
}

static void get_floats(float *dst, const uint8_t *src, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint32_t bits = get_u32(src + 4 * i);
        memcpy(&dst[i], &bits, 4);
    }
}

/* The index of the first NaN or infinity of v, or n when there is none. */
static size_t first_nonfinite(const float *v, size_t n)
{
    size_t i = 0;
    while (i < n && isfinite(v[i])) i++;
    return i;
}

int reef_ckpt_save(const char *path, const reef_model *m, const reef_train_cfg *cfg,
                   const reef_optim *opt, int epochs_done, double val_accuracy, reef_error *err)
{
    buf b = {0};
    char text[8192];
    int len = reef_arch_format(&m->arch, text, sizeof text);
    if (len >= (int)sizeof text) return reef_fail(err, "%s: architecture spec too long", path);
    section(&b, "SPEC", text, (size_t)len);
    // SHAP: in_h, in_w, in_c, num_classes, nparams, nstats (u32 each)
    uint8_t shape[24];
    put_u32(shape, (uint32_t)m->in_h), put_u32(shape + 4, (uint32_t)m->in_w);
    put_u32(shape + 8, (uint32_t)m->in_c), put_u32(shape + 12, (uint32_t)m->num_classes);
    put_u32(shape + 16, (uint32_t)m->nparams), put_u32(shape + 20, (uint32_t)m->nstats);
    section(&b, "SHAP", shape, sizeof shape);
    float norm[2 * REEF_MAX_CHANNELS];
    for (int c = 0; c < m->in_c; c++) norm[2 * c] = m->norm.mean[c], norm[2 * c + 1] = m->norm.std[c];
    floats_le(&b, "NORM", norm, 2 * (size_t)m->in_c);
    floats_le(&b, "PARM", m->params, m->nparams);
    floats_le(&b, "STAT", m->stats, m->nstats);
    if (m->classes.count) section(&b, "CLSN", m->classes.blob, m->classes.size);
    if (cfg) {
        len = reef_train_cfg_format(cfg, text, sizeof text);
        char extra[96];
        int elen = snprintf(extra, sizeof extra, "epochs_done=%d\nval_accuracy=%.9g\n", epochs_done, val_accuracy);
        if (len + elen >= (int)sizeof text) return reef_fail(err, "%s: training configuration too long", path);
        memcpy(text + len, extra, (size_t)elen + 1);
        section(&b, "TCFG", text, (size_t)(len + elen));
    }
    if (opt) {
        uint8_t st[16];
        put_u64(st, (uint64_t)opt->step);
        put_u32(st + 8, (uint32_t)opt->cfg.kind);
        put_u32(st + 12, opt->v ? 2 : 1);
        section(&b, "OPTS", st, sizeof st);
        floats_le(&b, "OPTM", opt->m, opt->n);
        if (opt->v) floats_le(&b, "OPTV", opt->v, opt->n);
    }
    if (b.failed) {
        free(b.data);
        return reef_fail(err, "%s: out of memory", path);
    }
    // Header: magic, version, header size, payload size, CRC-32 of the payload.
    uint8_t h[HEADER_SIZE] = {0};
    memcpy(h, REEF_CKPT_MAGIC, 8);
    put_u32(h + 8, REEF_CKPT_VERSION);
    put_u32(h + 12, HEADER_SIZE);
    put_u64(h + 16, b.size);
    put_u32(h + 24, (uint32_t)crc32(0L, b.data, (uInt)b.size));
    reef_atomic_file af;
    if (reef_atomic_open(&af, path, err)) {
        free(b.data);
        return -1;
    }
    if (reef_fwrite_all(af.fp, h, sizeof h, path, err) || reef_fwrite_all(af.fp, b.data, b.size, path, err)) {
        reef_atomic_abort(&af);
        free(b.data);
        return -1;
    }
    free(b.data);
    return reef_atomic_commit(&af, err);
}

int reef_ckpt_is(const uint8_t *head, size_t size)
{
    return size >= 8 && !memcmp(head, REEF_CKPT_MAGIC, 8);
}

/* ---- reading ---------------------------------------------------------------- */

typedef struct sections {
    const uint8_t *spec, *shape, *norm, *params, *stats, *clsn, *tcfg, *opts, *optm, *optv;
    uint64_t spec_n, shape_n, norm_n, params_n, stats_n, clsn_n, tcfg_n, opts_n, optm_n, optv_n;
} sections;

static int find_sections(const uint8_t *p, size_t n, const char *name, sections *s, reef_error *err)
{
    memset(s, 0, sizeof *s);
    size_t at = 0;
    while (at < n) {
        if (n - at < SECTION_HEADER) return reef_fail(err, "%s: section header cut off at byte %zu", name, HEADER_SIZE + at);
        const uint8_t *h = p + at;
        uint64_t size = get_u64(h + 8), padded = (size + 7) / 8 * 8;
        if (size > n || padded > n - at - SECTION_HEADER)
            return reef_fail(err, "%s: section '%.4s' of %llu bytes runs past the end of the file", name, (const char *)h,
                             (unsigned long long)size);
        const uint8_t *d = h + SECTION_HEADER;
#define TAG(t, field)                                \
    if (!memcmp(h, t, 4)) s->field = d, s->field##_n = size;
        TAG("SPEC", spec) TAG("SHAP", shape) TAG("NORM", norm) TAG("PARM", params) TAG("STAT", stats)
        TAG("CLSN", clsn) TAG("TCFG", tcfg) TAG("OPTS", opts) TAG("OPTM", optm) TAG("OPTV", optv)
#undef TAG
        at += SECTION_HEADER + padded;
    }
    if (!s->spec || !s->shape || s->shape_n < 24 || !s->norm || !s->params || !s->stats)
        return reef_fail(err, "%s: a required section (SPEC, SHAP, NORM, PARM, STAT) is missing", name);
    return 0;
}

static int load_train(const sections *s, const char *name, const reef_model *m, reef_ckpt_train *t, reef_error *err)
{
    memset(t, 0, sizeof *t);
    t->val_accuracy = -1;
    if (!s->tcfg) return 0;
    char *text = malloc(s->tcfg_n + 1);
    if (!text) return reef_fail(err, "%s: out of memory", name);
    memcpy(text, s->tcfg, s->tcfg_n);
    text[s->tcfg_n] = 0;
    int rc = reef_train_cfg_parse(&t->cfg, text, err);
    const char *e = strstr(text, "epochs_done=");
    if (e) t->epochs_done = atoi(e + 12);
    const char *v = strstr(text, "val_accuracy=");
    if (v) t->val_accuracy = strtod(v + 13, NULL);
    free(text);
    if (rc) return reef_fail_wrap(err, "%s", name);
    t->has_train = 1;
    if (!s->opts || s->opts_n < 16) return 0;
    reef_optim_cfg oc = t->cfg.opt;
    oc.kind = (reef_opt_kind)get_u32(s->opts + 8);
    if (reef_optim_init(&t->opt, &oc, m->nparams, err)) return -1;
    t->opt.step = (int64_t)get_u64(s->opts);
    if (!s->optm || s->optm_n != m->nparams * 4 || (t->opt.v && (!s->optv || s->optv_n != m->nparams * 4))) {
        reef_optim_free(&t->opt);
        return reef_fail(err, "%s: optimizer state does not match the model's %zu parameters", name, m->nparams);
    }
    get_floats(t->opt.m, s->optm, m->nparams);
    if (t->opt.v) get_floats(t->opt.v, s->optv, m->nparams);
    return 0;
}

/* Section CLSN (files from before it have none: the model's classes are
 * then unknown): one name per output. */
static int load_class_names(const sections *s, const char *name, reef_model *m, reef_error *err)
{
    char what[4200];
    snprintf(what, sizeof what, "%s: section CLSN", name);
    if (reef_class_names_parse(&m->classes, s->clsn, (size_t)s->clsn_n, what, err)) return -1;
    if (m->classes.count != m->num_classes)
        return reef_fail(err, "%s holds %d class names for the model's %d classes", what, m->classes.count,
                         m->num_classes);
    return 0;
}

int reef_ckpt_load_buffer(const uint8_t *data, size_t size, const char *name, reef_model *m,
                          reef_ckpt_train *train, reef_error *err)
{
    if (size < 8 || memcmp(data, REEF_CKPT_MAGIC, 8)) return reef_fail(err, "%s: not a reef checkpoint (bad magic)", name);
    if (size < HEADER_SIZE) return reef_fail(err, "%s: truncated (%zu bytes, the header alone is %d)", name, size, HEADER_SIZE);
    uint32_t version = get_u32(data + 8), hsize = get_u32(data + 12);
    uint64_t payload = get_u64(data + 16);
    if (version != REEF_CKPT_VERSION)
        return reef_fail(err, "%s: checkpoint version %u, this reef reads version %d", name, version, REEF_CKPT_VERSION);
    if (hsize != HEADER_SIZE) return reef_fail(err, "%s: bad header size %u", name, hsize);
    if (payload != size - HEADER_SIZE)
        return reef_fail(err, "%s: truncated or padded: the header announces %llu payload bytes, the file has %zu", name,
                         (unsigned long long)payload, size - HEADER_SIZE);
    const uint8_t *p = data + HEADER_SIZE;
    uint32_t want = get_u32(data + 24), got = (uint32_t)crc32(0L, p, (uInt)payload);
    if (want != got) return reef_fail(err, "%s: corrupt (CRC-32 %08x, the header says %08x)", name, got, want);
    sections s;
    if (find_sections(p, payload, name, &s, err)) return -1;
    char *spec = malloc(s.spec_n + 1);
    if (!spec) return reef_fail(err, "%s: out of memory", name);
    memcpy(spec, s.spec, s.spec_n);
    spec[s.spec_n] = 0;
    reef_arch a;
    int rc = reef_arch_parse(spec, name, &a, err);
    free(spec);
    if (rc) return -1;
    const uint8_t *sh = s.shape;
    /* The classifier has a bias per class, so a file with P parameters has
     * at most P classes; checked before building, since a crafted class
     * count would otherwise make the build allocate gigabytes. */
    uint32_t classes = get_u32(sh + 12);
    if (classes > s.params_n / 4) {
        return reef_fail(err, "%s: %u classes, but the file holds only %llu parameters", name, classes,
                         (unsigned long long)(s.params_n / 4));
    }
    /* the spec names its input shape: the file contradicting itself is the
     * file's fault, not the data's (the build's message would blame the
     * data; sides out of range get the build's own message) */
    const int plausible = get_u32(sh) - 1 < 4096 && get_u32(sh + 4) - 1 < 4096 && get_u32(sh + 8) - 1 < REEF_MAX_CHANNELS;
    if (a.in_h && plausible && ((uint32_t)a.in_h != get_u32(sh) || (uint32_t)a.in_w != get_u32(sh + 4) ||
                   (uint32_t)a.in_c != get_u32(sh + 8)))
        return reef_fail(err, "%s: inconsistent file: section SHAP gives images of %ux%ux%u, its spec '%s' takes %dx%dx%d",
                         name, get_u32(sh), get_u32(sh + 4), get_u32(sh + 8), a.name, a.in_h, a.in_w, a.in_c);
    if (reef_model_build_within(m, &a, (int)get_u32(sh), (int)get_u32(sh + 4), (int)get_u32(sh + 8),
                                (int)get_u32(sh + 12), 0, (size_t)(s.params_n / 4), err))
        return reef_fail_wrap(err, "%s", name);
    if (m->nparams != get_u32(sh + 16) || m->nstats != get_u32(sh + 20) || s.params_n != m->nparams * 4 ||
        s.stats_n != m->nstats * 4 || s.norm_n != (uint64_t)m->in_c * 8) {
        size_t np = m->nparams;
        reef_model_free(m);
        return reef_fail(err, "%s: the weights do not match the spec (%zu parameters expected)", name, np);
    }
    get_floats(m->params, s.params, m->nparams);
    get_floats(m->stats, s.stats, m->nstats);
    float norm[2 * REEF_MAX_CHANNELS];
    get_floats(norm, s.norm, 2 * (size_t)m->in_c);
    for (int c = 0; c < m->in_c; c++) m->norm.mean[c] = norm[2 * c], m->norm.std[c] = norm[2 * c + 1];
    /* a NaN weight would make every prediction NaN and argmax class 0 */
    size_t bad_param = first_nonfinite(m->params, m->nparams), bad_stat = first_nonfinite(m->stats, m->nstats);
    size_t bad_norm = first_nonfinite(norm, 2 * (size_t)m->in_c);
    if (bad_param < m->nparams || bad_stat < m->nstats || bad_norm < 2 * (size_t)m->in_c) {
        const char *what = bad_param < m->nparams ? "parameter" : bad_stat < m->nstats ? "batch-norm statistic"
                                                                                       : "input normalization value";
        size_t at = bad_param < m->nparams ? bad_param : bad_stat < m->nstats ? bad_stat : bad_norm;
        reef_model_free(m);
        return reef_fail(err, "%s: %s %zu is not a finite number (NaN or infinity): the model is unusable", name,
                         what, at);
    }
    if (s.clsn && load_class_names(&s, name, m, err)) {
        reef_model_free(m);
        return -1;
    }
    if (train && load_train(&s, name, m, train, err)) {
        reef_model_free(m);
        return -1;
    }
    return 0;
}

int reef_ckpt_load(const char *path, reef_model *m, reef_ckpt_train *train, reef_error *err)
{
    reef_mapping map;
    if (reef_map_file(path, &map, err)) return -1;
    int rc = reef_ckpt_load_buffer(map.data, map.size, path, m, train, err);
    reef_unmap_file(&map);
    return rc;
}
