/* Private to src/tflite: graph-owned allocations (with the fault hook the
 * tests use), and bounds-checked FlatBuffers reading. */
#ifndef REEF_TFLITE_INTERNAL_H
#define REEF_TFLITE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "tflite/graph.h"

/* ---- allocations ---------------------------------------------------------
 * Every allocation of this library goes through tfl_malloc/tfl_realloc, so
 * a test can make the k-th one fail (tflite/fault.h). Blocks a graph owns
 * (names, quantization arrays, constant data, the file copy) are recorded
 * in its owner and freed together by reef_graph_free; g->tensors and g->ops
 * are separate arrays so the builder can grow them. */
void *tfl_malloc(size_t size);
void *tfl_realloc(void *p, size_t size);
/* A zeroed block owned by g (freed by reef_graph_free), or NULL. */
void *tfl_graph_alloc(reef_graph *g, size_t size);
/* A copy of s[0..len) plus a NUL, owned by g, or NULL. */
char *tfl_graph_strndup(reef_graph *g, const char *s, size_t len);

/* Bytes per element of a tensor type, 0 when reef does not know it. */
int tfl_dtype_size(int32_t type);

/* ---- FlatBuffers reading -------------------------------------------------
 * Positions are byte offsets into the buffer; every access is checked
 * against its end, and a failure sets err naming the file and the object. */
typedef struct fbr {
    const uint8_t *p;
    size_t n;
    const char *name;  /* file name, for messages */
    reef_error *err;
} fbr;

typedef struct fbr_table {
    size_t pos;        /* table start */
    size_t vt;         /* its vtable */
    uint16_t vt_size;  /* bytes of vtable */
    uint16_t size;     /* bytes of table (inline part) */
} fbr_table;

typedef struct fbr_vec {
    size_t data;       /* first element */
    uint32_t count;
} fbr_vec;

int fbr_table_at(const fbr *r, size_t pos, fbr_table *t, const char *what);
/* Position of field id's value, 0 when absent; checks `size` bytes fit. */
int fbr_field(const fbr *r, const fbr_table *t, int id, size_t size, size_t *pos, const char *what);
int fbr_u8(const fbr *r, const fbr_table *t, int id, uint8_t def, uint8_t *v, const char *what);
int fbr_i8(const fbr *r, const fbr_table *t, int id, int8_t def, int8_t *v, const char *what);
int fbr_i32(const fbr *r, const fbr_table *t, int id, int32_t def, int32_t *v, const char *what);
int fbr_u32(const fbr *r, const fbr_table *t, int id, uint32_t def, uint32_t *v, const char *what);
int fbr_u64(const fbr *r, const fbr_table *t, int id, uint64_t def, uint64_t *v, const char *what);
int fbr_f32(const fbr *r, const fbr_table *t, int id, float def, float *v, const char *what);
/* An offset field: *target = position it points at, 0 when absent. */
int fbr_ref(const fbr *r, const fbr_table *t, int id, size_t *target, const char *what);
/* A vector field of elem_size-byte elements (absent: count 0). */
int fbr_vector(const fbr *r, const fbr_table *t, int id, size_t elem_size, fbr_vec *v, const char *what);
/* A table field (absent: *present = 0). */
int fbr_subtable(const fbr *r, const fbr_table *t, int id, fbr_table *sub, int *present, const char *what);
/* Element i of a vector of tables. */
int fbr_vector_table(const fbr *r, const fbr_vec *v, uint32_t i, fbr_table *sub, const char *what);
/* A string field: *s points into the buffer (not NUL-terminated), *len its
 * length; absent: *s = NULL. */
int fbr_string(const fbr *r, const fbr_table *t, int id, const char **s, size_t *len, const char *what);

int32_t fbr_vec_i32(const fbr *r, const fbr_vec *v, uint32_t i);
int64_t fbr_vec_i64(const fbr *r, const fbr_vec *v, uint32_t i);
float fbr_vec_f32(const fbr *r, const fbr_vec *v, uint32_t i);

/* BuiltinOptions union type codes (schema.fbs, 1-based; 0 = NONE). */
enum {
    TFL_OPT_NONE = 0,
    TFL_OPT_CONV2D = 1,
    TFL_OPT_DEPTHWISE_CONV2D = 2,
    TFL_OPT_POOL2D = 5,
    TFL_OPT_FULLY_CONNECTED = 8,
    TFL_OPT_SOFTMAX = 9,
    TFL_OPT_CONCATENATION = 10,
    TFL_OPT_ADD = 11,
    TFL_OPT_RESIZE_BILINEAR = 15,
    TFL_OPT_RESHAPE = 17,
    TFL_OPT_MUL = 21,
    TFL_OPT_PAD = 22,
    TFL_OPT_REDUCER = 27,
    TFL_OPT_SUB = 28,
    TFL_OPT_SQUEEZE = 30,
    TFL_OPT_STRIDED_SLICE = 32,
    TFL_OPT_SPLIT = 35,
    TFL_OPT_DEQUANTIZE = 38,
    TFL_OPT_PACK = 59,
    TFL_OPT_UNPACK = 64,
    TFL_OPT_RESIZE_NEAREST_NEIGHBOR = 74,
    TFL_OPT_LEAKY_RELU = 75,
    TFL_OPT_SPLIT_V = 79,
    TFL_OPT_QUANTIZE = 89,
};
/* The options table an op of this builtin code carries (TFL_OPT_NONE for
 * ops reef does not decode). */
int tfl_options_type(int32_t builtin);

#endif
