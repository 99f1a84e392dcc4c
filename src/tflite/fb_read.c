/* Bounds-checked FlatBuffers reading. A FlatBuffer is a tree of tables
 * linked by unsigned 32-bit forward offsets; each table starts with a signed
 * 32-bit offset back (or forward) to its vtable, a list of 16-bit field
 * offsets: [vtable bytes, table bytes, field 0, field 1, ...]. Every value
 * read here is checked to lie inside the buffer first; values are read with
 * memcpy, so no alignment is assumed. */
#include <string.h>

#include "tflite/internal.h"

static uint16_t rd_u16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t rd_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t rd_u64(const uint8_t *p)
{
    return (uint64_t)rd_u32(p) | (uint64_t)rd_u32(p + 4) << 32;
}

static int fits(const fbr *r, size_t pos, size_t size)
{
    return pos <= r->n && size <= r->n - pos;
}

int fbr_table_at(const fbr *r, size_t pos, fbr_table *t, const char *what)
{
    if (!fits(r, pos, 4))
        return reef_fail(r->err, "%s: %s: table offset %zu is beyond the end of the file (%zu bytes)",
                         r->name, what, pos, r->n);
    int32_t soff = (int32_t)rd_u32(r->p + pos);
    int64_t vt = (int64_t)pos - soff;
    if (vt < 0 || !fits(r, (size_t)vt, 4))
        return reef_fail(r->err, "%s: %s: vtable at offset %lld is out of range (file has %zu bytes)",
                         r->name, what, (long long)vt, r->n);
    t->pos = pos;
    t->vt = (size_t)vt;
    t->vt_size = rd_u16(r->p + t->vt);
    t->size = rd_u16(r->p + t->vt + 2);
    if (t->vt_size < 4 || t->vt_size % 2 || !fits(r, t->vt, t->vt_size))
        return reef_fail(r->err, "%s: %s: vtable at offset %zu has a bad size %u", r->name, what, t->vt,
                         t->vt_size);
    if (t->size < 4 || !fits(r, pos, t->size))
        return reef_fail(r->err, "%s: %s: table at offset %zu has a bad size %u", r->name, what, pos, t->size);
    return 0;
}

int fbr_field(const fbr *r, const fbr_table *t, int id, size_t size, size_t *pos, const char *what)
{
    *pos = 0;
    size_t slot = 4 + 2 * (size_t)id;
    if (slot + 2 > t->vt_size) return 0;
    uint16_t off = rd_u16(r->p + t->vt + slot);
    if (off == 0) return 0;
    if (off < 4 || off + size > t->size)
        return reef_fail(r->err, "%s: %s: field %d at table offset %u lies outside its table (%u bytes)",
                         r->name, what, id, off, t->size);
    *pos = t->pos + off;
    return 0;
}

#define FBR_SCALAR(fn, type, reader)                                                            \
    int fn(const fbr *r, const fbr_table *t, int id, type def, type *v, const char *what)      \
    {                                                                                            \
        size_t pos;                                                                              \
        if (fbr_field(r, t, id, sizeof(type), &pos, what)) return -1;                            \
        *v = pos ? (type)reader : def;                                                           \
        return 0;                                                                                \
    }

FBR_SCALAR(fbr_u8, uint8_t, r->p[pos])
FBR_SCALAR(fbr_i8, int8_t, (int8_t)r->p[pos])
FBR_SCALAR(fbr_i32, int32_t, (int32_t)rd_u32(r->p + pos))
FBR_SCALAR(fbr_u32, uint32_t, rd_u32(r->p + pos))
FBR_SCALAR(fbr_u64, uint64_t, rd_u64(r->p + pos))

int fbr_f32(const fbr *r, const fbr_table *t, int id, float def, float *v, const char *what)
{
    size_t pos;
    if (fbr_field(r, t, id, 4, &pos, what)) return -1;
    if (!pos) {
        *v = def;
        return 0;
    }
    uint32_t bits = rd_u32(r->p + pos);
    memcpy(v, &bits, 4);
    return 0;
}

int fbr_ref(const fbr *r, const fbr_table *t, int id, size_t *target, const char *what)
{
    size_t pos;
    *target = 0;
    if (fbr_field(r, t, id, 4, &pos, what)) return -1;
    if (!pos) return 0;
    uint32_t rel = rd_u32(r->p + pos);
    if (rel == 0 || !fits(r, pos + rel, 4))
        return reef_fail(r->err, "%s: %s: offset %u (at %zu) points beyond the end of the file (%zu bytes)",
                         r->name, what, rel, pos, r->n);
    *target = pos + rel;
    return 0;
}

int fbr_vector(const fbr *r, const fbr_table *t, int id, size_t elem_size, fbr_vec *v, const char *what)
{
    size_t pos;
    v->data = 0;
    v->count = 0;
    if (fbr_ref(r, t, id, &pos, what)) return -1;
    if (!pos) return 0;
    uint32_t count = rd_u32(r->p + pos);
    size_t data = pos + 4;
    if (count > (r->n - data) / elem_size)
        return reef_fail(r->err, "%s: %s: vector of %u elements at offset %zu runs beyond the end of the file "
                         "(%zu bytes)", r->name, what, count, pos, r->n);
    v->data = data;
    v->count = count;
    return 0;
}

int fbr_subtable(const fbr *r, const fbr_table *t, int id, fbr_table *sub, int *present, const char *what)
{
    size_t pos;
    *present = 0;
    if (fbr_ref(r, t, id, &pos, what)) return -1;
    if (!pos) return 0;
    *present = 1;
    return fbr_table_at(r, pos, sub, what);
}

int fbr_vector_table(const fbr *r, const fbr_vec *v, uint32_t i, fbr_table *sub, const char *what)
{
    size_t slot = v->data + 4 * (size_t)i;
    uint32_t rel = rd_u32(r->p + slot);
    if (rel == 0 || !fits(r, slot + rel, 4))
        return reef_fail(r->err, "%s: %s: offset %u (at %zu) points beyond the end of the file (%zu bytes)",
                         r->name, what, rel, slot, r->n);
    return fbr_table_at(r, slot + rel, sub, what);
}

int fbr_string(const fbr *r, const fbr_table *t, int id, const char **s, size_t *len, const char *what)
{
    fbr_vec v;
    *s = NULL;
    *len = 0;
    if (fbr_vector(r, t, id, 1, &v, what)) return -1;
    if (!v.data) return 0;
    *s = (const char *)r->p + v.data;
    *len = v.count;
    return 0;
}

int32_t fbr_vec_i32(const fbr *r, const fbr_vec *v, uint32_t i)
{
    return (int32_t)rd_u32(r->p + v->data + 4 * (size_t)i);
}

int64_t fbr_vec_i64(const fbr *r, const fbr_vec *v, uint32_t i)
{
    return (int64_t)rd_u64(r->p + v->data + 8 * (size_t)i);
}

float fbr_vec_f32(const fbr *r, const fbr_vec *v, uint32_t i)
{
    uint32_t bits = rd_u32(r->p + v->data + 4 * (size_t)i);
    float f;
    memcpy(&f, &bits, 4);
    return f;
}
