/* On-device training of the float32 tail (reef/train.h): layer forward and
 * backward kernels for one sample, softmax cross-entropy, SGD, and one
 * update step over a batch. No libm, no malloc: the caller's buffers. */
#include "reef/train.h"
#include "reef/train_int8.h"

/* ---- helpers ---------------------------------------------------------------- */

/* The element-wise passes go 4 elements a pass: on the M4 a rolled float
 * loop loads and stores with writeback (VLDMIA/VSTMIA, 2 cycles each, no
 * pipelining) and branches back every element. */
static void zero(float *x, uint32_t n)
{
    uint32_t i = 0;
    for (; i + 4 <= n; i += 4) x[i] = 0.0f, x[i + 1] = 0.0f, x[i + 2] = 0.0f, x[i + 3] = 0.0f;
    for (; i < n; i++) x[i] = 0.0f;
}

/* The clamp's backward in place: the gradient passes where the output is
 * strictly inside (act_min, act_max), as src/nn's relu6_backward. */
static void clamp_backward(float *dout, const float *out, int32_t n, const reef_tail_layer *L)
{
    int32_t i;
    for (i = 0; i < n; i++)
        if (!(out[i] > L->act_min && out[i] < L->act_max)) dout[i] = 0.0f;
}

/* x = clamp(x) over n elements; with mask, also one bit per element, 1
 * where the clamp lets the gradient through (act_min < x < act_max, as
 * src/nn's relu6_backward). One pass for both. */
static void activate(float *x, int32_t n, const reef_tail_layer *L, uint32_t *mask)
{
    const float lo = L->act_min, hi = L->act_max;
    int32_t w0, i;
    for (w0 = 0; w0 < n; w0 += 32) {
        int32_t end = n - w0 < 32 ? n : w0 + 32;
        uint32_t bits = 0, bit = 1;
        for (i = w0; i < end; i++, bit <<= 1) {
            float v = x[i];
            if (v <= lo) x[i] = lo;
            else if (v >= hi) x[i] = hi;
            else bits |= bit;
        }
        if (mask) mask[w0 >> 5] = bits;
    }
}

/* The helpers run once per output pixel and channel: inlined, the call
 * overhead goes (same arithmetic, same order, so the same results). */
#if defined(__GNUC__)
#define TRAIN_INLINE static inline __attribute__((always_inline))
#else
#define TRAIN_INLINE static inline
#endif

/* sum_i x[i] * y[i] in four interleaved partial sums (fewer loop
 * instructions on the M4; the same order on every target, so results stay
 * bit-identical across them). */
TRAIN_INLINE float dot(const float *x, const float *y, int32_t n)
{
    float s0 = 0.0f, s1 = 0.0f, s2 = 0.0f, s3 = 0.0f;
    int32_t i = 0;
    for (; i + 4 <= n; i += 4) {
        s0 += x[i] * y[i];
        s1 += x[i + 1] * y[i + 1];
        s2 += x[i + 2] * y[i + 2];
        s3 += x[i + 3] * y[i + 3];
    }
    for (; i < n; i++) s0 += x[i] * y[i];
    return (s0 + s1) + (s2 + s3);
}

/* y[i] += a * x[i] */
TRAIN_INLINE void axpy(float *y, float a, const float *x, int32_t n)
{
    int32_t i = 0;
    for (; i + 4 <= n; i += 4) {
        y[i] += a * x[i];
        y[i + 1] += a * x[i + 1];
        y[i + 2] += a * x[i + 2];
        y[i + 3] += a * x[i + 3];
    }
    for (; i < n; i++) y[i] += a * x[i];
}

static int32_t out_count(const reef_tail_layer *L) { return L->out_h * L->out_w * L->out_c; }
static int32_t in_count(const reef_tail_layer *L) { return L->in_h * L->in_w * L->in_c; }

/* ---- matrix products in 4x4 register blocks --------------------------------
 * A 1x1 convolution and a fully connected layer are matrix products, and so
 * are their backward passes. gemm_add computes
 *     c[i * ldc + j] += sum_k a[i * a.step_block + k * a.step_k]
 *                           * b[j * b.step_block + k * b.step_k]
 * a 4x4 block of c at a time in 16 accumulators (the M4F has 32 single
 * registers): per k, 4 + 4 loads feed 16 multiply-adds, where a dot product
 * loads 2 operands (one of them often a frozen weight in flash) for each.
 * Rows and columns left over from the blocks go one element at a time. The
 * order of every sum is fixed by the shapes alone, so results stay
 * bit-identical across targets. */
typedef struct gemm_operand {
    const float *at;
    int32_t step_block; /* between the rows (a) or columns (b) of c it feeds */
    int32_t step_k;     /* between successive k */
    int32_t slow;       /* 1: the deployed weights in flash (2.15 modeled cycles a read) */
} gemm_operand;

#define MAC_ROW(i)                                                                                                     \
    do {                                                                                                               \
        s##i##0 += a##i * b0;                                                                                          \
        s##i##1 += a##i * b1;                                                                                          \
        s##i##2 += a##i * b2;                                                                                          \
        s##i##3 += a##i * b3;                                                                                          \
    } while (0)
#define ADD_ROW(i)                                                                                                     \
    do {                                                                                                               \
        c[(i) * ldc] = init[(i) * ldi] + s##i##0;                                                                      \
        c[(i) * ldc + 1] = init[(i) * ldi + 1] + s##i##1;                                                              \
        c[(i) * ldc + 2] = init[(i) * ldi + 2] + s##i##2;                                                              \
        c[(i) * ldc + 3] = init[(i) * ldi + 3] + s##i##3;                                                              \
    } while (0)

TRAIN_INLINE void gemm_block4x4(float *c, int32_t ldc, const float *init, int32_t ldi, const float *a, int32_t as,
                                int32_t ak, const float *b, int32_t bs, int32_t bk, int32_t K)
{
    float s00 = 0.0f, s01 = 0.0f, s02 = 0.0f, s03 = 0.0f, s10 = 0.0f, s11 = 0.0f, s12 = 0.0f, s13 = 0.0f;
    float s20 = 0.0f, s21 = 0.0f, s22 = 0.0f, s23 = 0.0f, s30 = 0.0f, s31 = 0.0f, s32 = 0.0f, s33 = 0.0f;
    int32_t k;
    for (k = 0; k < K; k++) {
        float a0 = a[0], a1 = a[as], a2 = a[2 * as], a3 = a[3 * as];
        float b0 = b[0], b1 = b[bs], b2 = b[2 * bs], b3 = b[3 * bs];
        MAC_ROW(0);
        MAC_ROW(1);
        MAC_ROW(2);
        MAC_ROW(3);
        a += ak;
        b += bk;
    }
    ADD_ROW(0);
    ADD_ROW(1);
    ADD_ROW(2);
    ADD_ROW(3);
}

/* The 4x4 blocks of c: as or bs of 1 (the block's rows or columns adjacent)
 * become constants, so their loads take immediate offsets from one pointer.
 * When a's rows are apart (a 1x1 conv's input pixels forward, its output
 * gradient's pixels backward), each row block of a is first gathered into
 * rows (K, 4) on the stack, so that every column block reads it adjacent:
 * on the M4 the 8 loads of a step then run back to back (pipelined) with
 * no address arithmetic between them (about 70 -> 50 modeled cycles per
 * 16 multiply-adds). The same values in the same order: the same sums. */
#define GEMM_GATHER_FLOATS 288 /* of stack: a row block of K <= 72 (4x4, r64's widest) */
#define GEMM_GATHER8_FLOATS 384 /* of stack: a row block of K <= 48 (8x2) */

static void gemm_blocks(float *c, int32_t ldc, const float *init, int32_t ldi, int32_t m4, int32_t n4, int32_t K,
                        gemm_operand a, gemm_operand b)
{
    float rows[GEMM_GATHER_FLOATS];
    int32_t i, j, k, gather = a.step_block != 1 && 4 * K <= GEMM_GATHER_FLOATS;
    for (i = 0; i < m4; i += 4) {
        const float *ai = a.at + i * a.step_block;
        int32_t as = a.step_block, ak = a.step_k;
        if (gather) {
            for (k = 0; k < K; k++) {
                const float *v = ai + k * ak;
                rows[4 * k] = v[0], rows[4 * k + 1] = v[as], rows[4 * k + 2] = v[2 * as], rows[4 * k + 3] = v[3 * as];
            }
        }
        for (j = 0; j < n4; j += 4) {
            float *cb = c + i * ldc + j;
            const float *ib = init + i * ldi + j, *bb = b.at + j * b.step_block;
            if (gather && b.step_block == 1)
                gemm_block4x4(cb, ldc, ib, ldi, rows, 1, 4, bb, 1, b.step_k, K);
            else if (gather)
                gemm_block4x4(cb, ldc, ib, ldi, rows, 1, 4, bb, b.step_block, b.step_k, K);
            else if (as == 1 && b.step_block == 1)
                gemm_block4x4(cb, ldc, ib, ldi, ai, 1, ak, bb, 1, b.step_k, K);
            else if (b.step_block == 1)
                gemm_block4x4(cb, ldc, ib, ldi, ai, as, ak, bb, 1, b.step_k, K);
            else
                gemm_block4x4(cb, ldc, ib, ldi, ai, as, ak, bb, b.step_block, b.step_k, K);
        }
    }
}

/* An 8x2 block: 8 rows of a gathered (K, 8), 2 columns of b. Per k, 8
 * adjacent loads from the stack and 2 of b: a 1x1 conv's forward reads
 * half as many weights per multiply-add as in 4x4 blocks (2.15 modeled
 * cycles a read when they are frozen, in flash). */
#define MAC2_ROW(i)                                                                                                    \
    do {                                                                                                               \
        s##i##0 += r[i] * b0;                                                                                          \
        s##i##1 += r[i] * b1;                                                                                          \
    } while (0)
#define ADD2_ROW(i)                                                                                                    \
    do {                                                                                                               \
        c[(i) * ldc] = init[(i) * ldi] + s##i##0;                                                                      \
        c[(i) * ldc + 1] = init[(i) * ldi + 1] + s##i##1;                                                              \
    } while (0)

TRAIN_INLINE void gemm_block8x2(float *c, int32_t ldc, const float *init, int32_t ldi, const float *r, const float *b,
                                int32_t bs, int32_t bk, int32_t K)
{
    float s00 = 0.0f, s01 = 0.0f, s10 = 0.0f, s11 = 0.0f, s20 = 0.0f, s21 = 0.0f, s30 = 0.0f, s31 = 0.0f;
    float s40 = 0.0f, s41 = 0.0f, s50 = 0.0f, s51 = 0.0f, s60 = 0.0f, s61 = 0.0f, s70 = 0.0f, s71 = 0.0f;
    int32_t k;
    for (k = 0; k < K; k++) {
        float b0 = b[0], b1 = b[bs];
        MAC2_ROW(0);
        MAC2_ROW(1);
        MAC2_ROW(2);
        MAC2_ROW(3);
        MAC2_ROW(4);
        MAC2_ROW(5);
        MAC2_ROW(6);
        MAC2_ROW(7);
        r += 8;
        b += bk;
    }
    ADD2_ROW(0);
    ADD2_ROW(1);
    ADD2_ROW(2);
    ADD2_ROW(3);
    ADD2_ROW(4);
    ADD2_ROW(5);
    ADD2_ROW(6);
    ADD2_ROW(7);
}

/* c's m8 x n2 corner in 8x2 blocks (a's rows apart, 8 K <= GEMM_GATHER8_FLOATS);
 * bs a constant in each caller below */
TRAIN_INLINE void gemm_blocks8x2_body(float *c, int32_t ldc, const float *init, int32_t ldi, int32_t m8, int32_t n2,
                                     int32_t K, gemm_operand a, gemm_operand b, int32_t bs)
{
    float rows[GEMM_GATHER8_FLOATS];
    int32_t i, j, k, q;
    for (i = 0; i < m8; i += 8) {
        const float *ai = a.at + i * a.step_block;
        for (k = 0; k < K; k++)
            for (q = 0; q < 8; q++) rows[8 * k + q] = ai[q * a.step_block + k * a.step_k];
        for (j = 0; j < n2; j += 2)
            gemm_block8x2(c + i * ldc + j, ldc, init + i * ldi + j, ldi, rows, b.at + j * bs, bs, b.step_k, K);
    }
}
/* b's columns apart (the forward's weight rows) */
static void gemm_blocks8x2(float *c, int32_t ldc, const float *init, int32_t ldi, int32_t m8, int32_t n2, int32_t K,
                           gemm_operand a, gemm_operand b)
{
    gemm_blocks8x2_body(c, ldc, init, ldi, m8, n2, K, a, b, b.step_block);
}
/* b's columns adjacent (the input gradient's weight rows, frozen in flash) */
static void gemm_blocks8x2_adjacent(float *c, int32_t ldc, const float *init, int32_t ldi, int32_t m8, int32_t n2,
                                    int32_t K, gemm_operand a, gemm_operand b)
{
    gemm_blocks8x2_body(c, ldc, init, ldi, m8, n2, K, a, b, 1);
}

TRAIN_INLINE float gemm_dot(const float *a, int32_t ak, const float *b, int32_t bk, int32_t K)
{
    float s = 0.0f;
    int32_t k;
    for (k = 0; k < K; k++) s += a[k * ak] * b[k * bk];
    return s;
}

/* c (m rows of ldc) = init (m rows of ldi) + the product of a (m x K) and
 * b (K x n), as above. init = c, ldi = ldc accumulates; ldi = 0 starts
 * every row from the same values (a bias). */
static void gemm_add(float *c, int32_t ldc, const float *init, int32_t ldi, int32_t m, int32_t n, int32_t K,
                     gemm_operand a, gemm_operand b)
{
    int32_t i, j, m4 = m & ~3, n4 = n & ~3;
    /* 8x2 when b's 4 loads a step in 4x4 would cost more than a's 4 extra:
     * b apart (address arithmetic) or in flash */
    if (a.step_block != 1 && (b.step_block != 1 || b.slow) && 8 * K <= GEMM_GATHER8_FLOATS && m >= 8) {
        m4 = m & ~7, n4 = n & ~1;
        if (b.step_block == 1)
            gemm_blocks8x2_adjacent(c, ldc, init, ldi, m4, n4, K, a, b);
        else
            gemm_blocks8x2(c, ldc, init, ldi, m4, n4, K, a, b);
    } else
        gemm_blocks(c, ldc, init, ldi, m4, n4, K, a, b);
    for (i = 0; i < m; i++)
        for (j = i < m4 ? n4 : 0; j < n; j++)
            c[i * ldc + j] =
                init[i * ldi + j] + gemm_dot(a.at + i * a.step_block, a.step_k, b.at + j * b.step_block, b.step_k, K);
}

static gemm_operand operand(const float *at, int32_t step_block, int32_t step_k)
{
    gemm_operand o;
    o.at = at;
    o.step_block = step_block;
    o.step_k = step_k;
    o.slow = 0;
    return o;
}

/* db[o] += dout[p][o] over the P pixels, p ascending: 4 channels' sums in
 * registers through the pixels, not a load and a store of db per term
 * (the same additions in the same order). */
static void bias_grad(float *db, const float *dout, int32_t P, int32_t OC)
{
    int32_t p, o = 0;
    for (; o + 4 <= OC; o += 4) {
        float s0 = db[o], s1 = db[o + 1], s2 = db[o + 2], s3 = db[o + 3];
        const float *d = dout + o;
        for (p = 0; p < P; p++, d += OC) s0 += d[0], s1 += d[1], s2 += d[2], s3 += d[3];
        db[o] = s0, db[o + 1] = s1, db[o + 2] = s2, db[o + 3] = s3;
    }
    for (; o < OC; o++)
        for (p = 0; p < P; p++) db[o] += dout[p * OC + o];
}

/* out (P, OC) = inp (P, K) w (OC, K)^T + b, before the clamp: a 1x1
 * convolution over P pixels, or a fully connected layer (P = 1). */
static void matmul_forward(float *out, const float *inp, const float *w, const float *b, int32_t P, int32_t K,
                           const reef_tail_layer *L)
{
    int32_t OC = L->out_c;
    if (!b) zero(out, (uint32_t)(P * OC));
    gemm_add(out, OC, b ? b : out, b ? 0 : OC, P, OC, K, operand(inp, K, 1), operand(w, K, 1));
}

/* Its backward: db[o] += sum_p dout[p][o]; dw[o][k] += sum_p dout[p][o]
 * inp[p][k]; dinp[p][k] += sum_o dout[p][o] w[o][k]. */
static void matmul_backward(float *dinp, float *dw, float *db, float *dout, const float *out, const float *inp,
                            const float *w, int32_t P, int32_t K, const reef_tail_layer *L)
{
    int32_t OC = L->out_c;
    if (out) clamp_backward(dout, out, P * OC, L);
    if (db) bias_grad(db, dout, P, OC);
    if (dw) gemm_add(dw, K, dw, K, OC, K, P, operand(dout, 1, OC), operand(inp, 1, K));
    if (dinp) {
        gemm_operand wk = operand(w, 1, K);
        wk.slow = !dw; /* frozen: the deployed copy in flash */
        gemm_add(dinp, K, dinp, K, P, K, OC, operand(dout, OC, 1), wk);
    }
}

/* ---- convolution ------------------------------------------------------------ */

static int is_pointwise(const reef_tail_layer *L)
{
    return L->kh == 1 && L->kw == 1 && L->stride == 1 && L->pad_top == 0 && L->pad_left == 0 &&
           L->out_h == L->in_h && L->out_w == L->in_w;
}

/* The layers' forward passes write their sums before the clamp; activate
 * then clamps them and, for training, keeps the mask in the same pass. */
static void conv_sum(float *out, const float *inp, const float *w, const float *b, const reef_tail_layer *L)
{
    int32_t oy, ox, oc, ky, kx;
    if (is_pointwise(L)) {
        matmul_forward(out, inp, w, b, L->out_h * L->out_w, L->in_c, L);
        return;
    }
    for (oy = 0; oy < L->out_h; oy++)
        for (ox = 0; ox < L->out_w; ox++)
            for (oc = 0; oc < L->out_c; oc++) {
                float sum = b ? b[oc] : 0.0f;
                for (ky = 0; ky < L->kh; ky++) {
                    int32_t iy = oy * L->stride - L->pad_top + ky;
                    if (iy < 0 || iy >= L->in_h) continue;
                    for (kx = 0; kx < L->kw; kx++) {
                        int32_t ix = ox * L->stride - L->pad_left + kx;
                        const float *x, *k;
                        if (ix < 0 || ix >= L->in_w) continue;
                        x = inp + (iy * L->in_w + ix) * L->in_c;
                        k = w + ((oc * L->kh + ky) * L->kw + kx) * L->in_c;
                        sum += dot(x, k, L->in_c);
                    }
                }
                out[(oy * L->out_w + ox) * L->out_c + oc] = sum;
            }
}

void reef_tail_conv_forward(float *out, const float *inp, const float *w, const float *b,
                            const reef_tail_layer *L)
{
    conv_sum(out, inp, w, b, L);
    activate(out, out_count(L), L, 0);
}

void reef_tail_conv_backward(float *dinp, float *dw, float *db, float *dout, const float *out,
                             const float *inp, const float *w, const reef_tail_layer *L)
{
    int32_t oy, ox, oc, ky, kx;
    if (is_pointwise(L)) {
        matmul_backward(dinp, dw, db, dout, out, inp, w, L->out_h * L->out_w, L->in_c, L);
        return;
    }
    if (out) clamp_backward(dout, out, out_count(L), L);
    for (oy = 0; oy < L->out_h; oy++)
        for (ox = 0; ox < L->out_w; ox++)
            for (oc = 0; oc < L->out_c; oc++) {
                float g = dout[(oy * L->out_w + ox) * L->out_c + oc];
                if (g == 0.0f) continue;
                if (db) db[oc] += g;
                for (ky = 0; ky < L->kh; ky++) {
                    int32_t iy = oy * L->stride - L->pad_top + ky;
                    if (iy < 0 || iy >= L->in_h) continue;
                    for (kx = 0; kx < L->kw; kx++) {
                        int32_t ix = ox * L->stride - L->pad_left + kx;
                        int32_t at, kat;
                        if (ix < 0 || ix >= L->in_w) continue;
                        at = (iy * L->in_w + ix) * L->in_c;
                        kat = ((oc * L->kh + ky) * L->kw + kx) * L->in_c;
                        if (dw) axpy(dw + kat, g, inp + at, L->in_c);
                        if (dinp) axpy(dinp + at, g, w + kat, L->in_c);
                    }
                }
            }
}

/* ---- depthwise convolution (multiplier 1) ----------------------------------- */
/* Forward, input gradient and weight gradient are each, per output pixel,
 * input pixel or tap, a sum over a grid of taps of 4 contiguous channels
 * (NHWC) times 4 others, kept in registers: mac_grid. The grid's bounds are
 * found once per pixel (no test per tap, no division per channel). */

/* The x in [0, limit) with 0 <= x * step + off < size: returns their count,
 * the first in *first (step > 0). */
static int32_t span(int32_t off, int32_t step, int32_t size, int32_t limit, int32_t *first)
{
    int32_t x0 = off >= 0 ? 0 : (-off + step - 1) / step, x1;
    x1 = size - 1 - off < 0 ? 0 : (size - 1 - off) / step + 1;
    if (x1 > limit) x1 = limit;
    *first = x0;
    return x1 > x0 ? x1 - x0 : 0;
}

/* The taps through which outputs read input i (t = i + pad = o * stride + k):
 * k = *k0, *k0 + stride, ... read outputs *o0, *o0 - 1, ...; returns their count. */
static int32_t taps_reading(int32_t i, int32_t stride, int32_t pad, int32_t kernel, int32_t out_size, int32_t *k0,
                            int32_t *o0)
{
    int32_t t = i + pad, o = t / stride, k = t - o * stride, n;
    if (o >= out_size) {
        k += (o - out_size + 1) * stride;
        o = out_size - 1;
    }
    *k0 = k;
    *o0 = o;
    if (k >= kernel || o < 0) return 0;
    n = (kernel - 1 - k) / stride + 1;
    return n < o + 1 ? n : o + 1;
}

/* ny x nx taps; tap (j, i) pairs a + j * a_row + i * a_col with b + j * b_row
 * + i * b_col (floats). */
typedef struct tap_grid {
    int32_t ny, nx;
    const float *a, *b;
    int32_t a_row, a_col, b_row, b_col;
} tap_grid;

/* s[0..n) += sum over the grid of a[c..c+n) * b[c..c+n); n is a constant
 * (4, or 1 for the channels left) where this is inlined. */
TRAIN_INLINE void mac_grid(float *s, const tap_grid *g, int32_t c, int32_t n)
{
    int32_t j, i, q;
    for (j = 0; j < g->ny; j++) {
        const float *a = g->a + j * g->a_row + c, *b = g->b + j * g->b_row + c;
        for (i = 0; i < g->nx; i++) {
            for (q = 0; q < n; q++) s[q] += a[q] * b[q];
            a += g->a_col;
            b += g->b_col;
        }
    }
}

/* The same for 4 channels, the sums in 4 named locals: arm-gcc -O2 kept
 * mac_grid's s[4] on the stack (a load and a store per multiply-add, about
 * 29 modeled cycles per depthwise MAC). Same products, same order. */
TRAIN_INLINE void mac_grid4(float *s, const tap_grid *g, int32_t c)
{
    float s0 = s[0], s1 = s[1], s2 = s[2], s3 = s[3];
    int32_t j, i, a_col = g->a_col, b_col = g->b_col, nx = g->nx;
    for (j = 0; j < g->ny; j++) {
        const float *a = g->a + j * g->a_row + c, *b = g->b + j * g->b_row + c;
        for (i = 0; i < nx; i++) {
            s0 += a[0] * b[0];
            s1 += a[1] * b[1];
            s2 += a[2] * b[2];
            s3 += a[3] * b[3];
            a += a_col;
            b += b_col;
        }
    }
    s[0] = s0, s[1] = s1, s[2] = s2, s[3] = s3;
}

/* dst[c] = init[c] + the grid's sum, for every channel c (init = dst
 * accumulates; NULL starts from 0). */
static void grid_channels(float *dst, const tap_grid *g, const float *init, int32_t C)
{
    int32_t c, q;
    for (c = 0; c + 4 <= C; c += 4) {
        float s[4] = {0.0f, 0.0f, 0.0f, 0.0f};
        mac_grid4(s, g, c);
        for (q = 0; q < 4; q++) dst[c + q] = (init ? init[c + q] : 0.0f) + s[q];
    }
    for (; c < C; c++) {
        float s[1] = {0.0f};
        mac_grid(s, g, c, 1);
        dst[c] = (init ? init[c] : 0.0f) + s[0];
    }
}

/* ---- 3x3 depthwise, stride 1, pad 1, on small maps (r64's 4x4) -------------
 * On a 4x4 map 12 of 16 pixels are at the border, so the tap grid above
 * spends more on its bounds and loops than on its 6.25 taps a pixel, and
 * reads every weight from flash once per pixel. Here 2 channels at a time
 * are copied into a zero-bordered block on the stack, their 9 x 2 weights
 * are held in registers, and every pixel takes all 9 taps, unrolled, with
 * constant offsets. A border tap adds x * w = +-0 to a sum that started
 * at +0 (so is never -0): the sum is unchanged, and the valid taps come in
 * the grid's order (ky, then kx, ascending), so the results are bit for
 * bit the grid's. */
#define DW3_MAX_PADDED 36 /* (h + 2) (w + 2) pixels: maps up to 4x4 */

static int dw3_small(const reef_tail_layer *L)
{
    return L->kh == 3 && L->kw == 3 && L->stride == 1 && L->pad_top == 1 && L->pad_left == 1 &&
           L->out_h == L->in_h && L->out_w == L->in_w && (L->in_h + 2) * (L->in_w + 2) <= DW3_MAX_PADDED &&
           (L->out_c & 1) == 0;
}

#define DW3_TAP(t, off)                                                                                                \
    do {                                                                                                               \
        s0 += at[(off)] * w##t##0;                                                                                     \
        s1 += at[(off) + 1] * w##t##1;                                                                                 \
    } while (0)

/* dst (H, W, C) = init + the 3x3 depthwise sum of src with w. mirrored 0:
 * the forward (output (y, x) reads input (y - 1 + ky, x - 1 + kx)); 1: the
 * input gradient (input (y, x) gets dout (y + 1 - ky, x + 1 - kx)).
 * init may be dst (accumulate) or NULL. */
TRAIN_INLINE void dw3_small_sum(float *dst, const float *src, const float *w, const float *init,
                                const reef_tail_layer *L, int mirrored)
{
    float pad[DW3_MAX_PADDED * 2];
    int32_t H = L->in_h, W = L->in_w, C = L->out_c, PW = W + 2, c, y, x, t;
    /* tap (ky, kx) at pad offset ky * row + kx * col from the window's corner */
    int32_t row = mirrored ? -2 * PW : 2 * PW, col = mirrored ? -2 : 2;
    for (t = 0; t < (H + 2) * PW * 2; t++) pad[t] = 0.0f;
    for (c = 0; c < C; c += 2) {
        const float w00 = w[c], w01 = w[c + 1], w10 = w[C + c], w11 = w[C + c + 1], w20 = w[2 * C + c],
                    w21 = w[2 * C + c + 1], w30 = w[3 * C + c], w31 = w[3 * C + c + 1], w40 = w[4 * C + c],
                    w41 = w[4 * C + c + 1], w50 = w[5 * C + c], w51 = w[5 * C + c + 1], w60 = w[6 * C + c],
                    w61 = w[6 * C + c + 1], w70 = w[7 * C + c], w71 = w[7 * C + c + 1], w80 = w[8 * C + c],
                    w81 = w[8 * C + c + 1];
        for (y = 0; y < H; y++)
            for (x = 0; x < W; x++) {
                float *d = pad + ((y + 1) * PW + x + 1) * 2;
                const float *v = src + (y * W + x) * C + c;
                d[0] = v[0], d[1] = v[1];
            }
        for (y = 0; y < H; y++)
            for (x = 0; x < W; x++) {
                /* forward: the window's top-left (y, x) in pad; mirrored: its
                 * bottom-right (y + 2, x + 2), walked backwards */
                const float *at = pad + ((mirrored ? y + 2 : y) * PW + (mirrored ? x + 2 : x)) * 2;
                float *o = dst + (y * W + x) * C + c;
                const float *i0 = init ? (init == dst ? o : init + c) : 0;
                float s0 = 0.0f, s1 = 0.0f;
                DW3_TAP(0, 0);
                DW3_TAP(1, col);
                DW3_TAP(2, 2 * col);
                DW3_TAP(3, row);
                DW3_TAP(4, row + col);
                DW3_TAP(5, row + 2 * col);
                DW3_TAP(6, 2 * row);
                DW3_TAP(7, 2 * row + col);
                DW3_TAP(8, 2 * row + 2 * col);
                o[0] = (i0 ? i0[0] : 0.0f) + s0;
                o[1] = (i0 ? i0[1] : 0.0f) + s1;
            }
    }
}

/* mirrored a constant in each (its offsets become immediates) */
static void dw3_small_forward(float *out, const float *inp, const float *w, const float *b, const reef_tail_layer *L)
{
    dw3_small_sum(out, inp, w, b, L, 0);
}
static void dw3_small_input_grad(float *dinp, const float *dout, const float *w, const reef_tail_layer *L)
{
    dw3_small_sum(dinp, dout, w, dinp, L, 1);
}

static void dw_sum(float *out, const float *inp, const float *w, const float *b, const reef_tail_layer *L)
{
    if (dw3_small(L)) {
        dw3_small_forward(out, inp, w, b, L);
        return;
    }
    int32_t oy, ox, ky, kx, C = L->out_c;
    tap_grid g;
    for (oy = 0; oy < L->out_h; oy++)
        for (ox = 0; ox < L->out_w; ox++) {
            int32_t iy = oy * L->stride - L->pad_top, ix = ox * L->stride - L->pad_left;
            g.ny = span(iy, 1, L->in_h, L->kh, &ky);
            g.nx = span(ix, 1, L->in_w, L->kw, &kx);
            g.a = inp + ((iy + ky) * L->in_w + ix + kx) * C, g.a_row = L->in_w * C, g.a_col = C;
            g.b = w + (ky * L->kw + kx) * C, g.b_row = L->kw * C, g.b_col = C;
            grid_channels(out + (oy * L->out_w + ox) * C, &g, b, C);
        }
}

void reef_tail_dw_forward(float *out, const float *inp, const float *w, const float *b,
                          const reef_tail_layer *L)
{
    dw_sum(out, inp, w, b, L);
    activate(out, out_count(L), L, 0);
}

void reef_tail_dw_backward(float *dinp, float *dw, float *db, float *dout, const float *out,
                           const float *inp, const float *w, const reef_tail_layer *L)
{
    int32_t y, x, oy, ox, C = L->out_c, s = L->stride;
    tap_grid g;
    if (out) clamp_backward(dout, out, out_count(L), L);
    if (db) bias_grad(db, dout, L->out_h * L->out_w, C);
    if (dw) /* per tap (y, x): every output pixel times the input it read there */
        for (y = 0; y < L->kh; y++)
            for (x = 0; x < L->kw; x++) {
                g.ny = span(y - L->pad_top, s, L->in_h, L->out_h, &oy);
                g.nx = span(x - L->pad_left, s, L->in_w, L->out_w, &ox);
                if (!g.ny || !g.nx) continue;
                g.a = dout + (oy * L->out_w + ox) * C, g.a_row = L->out_w * C, g.a_col = C;
                g.b = inp + ((oy * s - L->pad_top + y) * L->in_w + ox * s - L->pad_left + x) * C;
                g.b_row = s * L->in_w * C, g.b_col = s * C;
                grid_channels(dw + (y * L->kw + x) * C, &g, dw + (y * L->kw + x) * C, C);
            }
    if (dinp && dw3_small(L)) {
        dw3_small_input_grad(dinp, dout, w, L);
        return;
    }
    if (dinp) /* per input pixel (y, x): the taps of the outputs that read it */
        for (y = 0; y < L->in_h; y++)
            for (x = 0; x < L->in_w; x++) {
                int32_t ky, kx;
                g.ny = taps_reading(y, s, L->pad_top, L->kh, L->out_h, &ky, &oy);
                g.nx = taps_reading(x, s, L->pad_left, L->kw, L->out_w, &kx, &ox);
                if (!g.ny || !g.nx) continue;
                g.a = dout + (oy * L->out_w + ox) * C, g.a_row = -L->out_w * C, g.a_col = -C;
                g.b = w + (ky * L->kw + kx) * C, g.b_row = s * L->kw * C, g.b_col = s * C;
                grid_channels(dinp + (y * L->in_w + x) * C, &g, dinp + (y * L->in_w + x) * C, C);
            }
}

/* ---- global average pooling -------------------------------------------------- */

void reef_tail_gap_forward(float *out, const float *inp, const reef_tail_layer *L)
{
    int32_t p, c = 0, hw = L->in_h * L->in_w, C = L->in_c;
    float inv = 1.0f / (float)hw;
    for (; c + 4 <= C; c += 4) { /* 4 channels' sums in registers, pixels in order */
        float s0 = 0.0f, s1 = 0.0f, s2 = 0.0f, s3 = 0.0f;
        const float *x = inp + c;
        for (p = 0; p < hw; p++, x += C) s0 += x[0], s1 += x[1], s2 += x[2], s3 += x[3];
        out[c] = s0 * inv, out[c + 1] = s1 * inv, out[c + 2] = s2 * inv, out[c + 3] = s3 * inv;
    }
    for (; c < C; c++) {
        float sum = 0.0f;
        for (p = 0; p < hw; p++) sum += inp[p * C + c];
        out[c] = sum * inv;
    }
}

void reef_tail_gap_backward(float *dinp, const float *dout, const reef_tail_layer *L)
{
    int32_t p, c, hw = L->in_h * L->in_w;
    float inv = 1.0f / (float)hw;
    for (p = 0; p < hw; p++)
        for (c = 0; c < L->in_c; c++) dinp[p * L->in_c + c] += dout[c] * inv;
}

static void copy_floats(float *dst, const float *src, int32_t n)
{
    int32_t i = 0;
    for (; i + 4 <= n; i += 4) {
        float a = src[i], b = src[i + 1], c = src[i + 2], d = src[i + 3];
        dst[i] = a, dst[i + 1] = b, dst[i + 2] = c, dst[i + 3] = d;
    }
    for (; i < n; i++) dst[i] = src[i];
}

/* The same into a dinp not yet written: dinp = dout * inv, what 0 + dout
 * * inv gives but for the sign of a zero, which no later sum keeps (every
 * sum starts from +0). Saves the zero pass and a load per element. */
static void gap_backward_set(float *dinp, float *dout, const reef_tail_layer *L)
{
    int32_t p, c, hw = L->in_h * L->in_w, C = L->in_c;
    float inv = 1.0f / (float)hw;
    for (c = 0; c < C; c++) dout[c] *= inv; /* once, in place: dout is not read again */
    for (p = 0; p < hw; p++) copy_floats(dinp + p * C, dout, C);
}

/* ---- fully connected: a 1x1 convolution of one pixel ------------------------ */

void reef_tail_fc_forward(float *out, const float *inp, const float *w, const float *b,
                          const reef_tail_layer *L)
{
    matmul_forward(out, inp, w, b, 1, in_count(L), L);
    activate(out, L->out_c, L, 0);
}

void reef_tail_fc_backward(float *dinp, float *dw, float *db, float *dout, const float *out,
                           const float *inp, const float *w, const reef_tail_layer *L)
{
    matmul_backward(dinp, dw, db, dout, out, inp, w, 1, in_count(L), L);
}

/* ---- softmax cross-entropy ---------------------------------------------------- */

float reef_train_expf(float x)
{
    /* e^x = 2^k e^r with k = round(x / ln 2), |r| <= ln2 / 2; e^r by its
     * Taylor series to r^7 (truncation below 3e-8 relative); 2^k by the
     * exponent bits. ln 2 in two parts keeps r exact. */
    union {
        float f;
        uint32_t u;
    } scale;
    float t, r, p;
    int32_t k;
    if (x > 88.0f) x = 88.0f;
    if (x < -87.0f) x = -87.0f;
    t = x * 1.44269504f;
    k = (int32_t)(t < 0.0f ? t - 0.5f : t + 0.5f);
    r = x - (float)k * 0.693145752f;
    r = r - (float)k * 1.42860677e-6f;
    p = 1.0f + r * (1.0f + r * (0.5f + r * (0.166666672f + r * (0.0416666679f + r * (0.00833333377f + r * (0.00138888892f + r * 0.000198412701f))))));
    scale.u = (uint32_t)(k + 127) << 23;
    return p * scale.f;
}

/* ln x for x > 0, deterministic: x = 2^e m with m in [sqrt(1/2), sqrt(2)),
 * ln m = 2 atanh((m-1)/(m+1)) by its series. Only used for the reported loss. */
static float train_logf(float x)
{
    union {
        float f;
        uint32_t u;
    } v;
    int32_t e;
    float m, s, s2, sum;
    if (!(x > 1e-30f)) x = 1e-30f;
    v.f = x;
    e = (int32_t)((v.u >> 23) & 0xffu) - 127;
    v.u = (v.u & 0x007fffffu) | 0x3f800000u;
    m = v.f;
    if (m > 1.41421356f) {
        m *= 0.5f;
        e++;
    }
    s = (m - 1.0f) / (m + 1.0f);
    s2 = s * s;
    sum = s * (2.0f + s2 * (0.666666687f + s2 * (0.4f + s2 * (0.285714298f + s2 * 0.222222224f))));
    return sum + (float)e * 0.693147182f;
}

float reef_train_softmax_xent(float *probs, const float *logits, int32_t n, int32_t label)
{
    int32_t k;
    float max = logits[0], sum = 0.0f;
    for (k = 1; k < n; k++)
        if (logits[k] > max) max = logits[k];
    for (k = 0; k < n; k++) {
        probs[k] = reef_train_expf(logits[k] - max);
        sum += probs[k];
    }
    for (k = 0; k < n; k++) probs[k] /= sum;
    return -train_logf(probs[label]);
}

/* The softened softmax's normalizer: *max = max z, returns sum_k e^((z_k - max) / T). */
static float soft_sum(const float *z, int32_t n, float temperature, float *max)
{
    int32_t k;
    float m = z[0], sum = 0.0f;
    for (k = 1; k < n; k++)
        if (z[k] > m) m = z[k];
    for (k = 0; k < n; k++) sum += reef_train_expf((z[k] - m) / temperature);
    *max = m;
    return sum;
}

/* Learning without Forgetting's loss (Li & Hoiem; Hinton et al.'s T^2).
 * The soft term's loss uses ln softmax(z / T)_k = (z_k - max) / T - ln sum,
 * so no probability is taken a logarithm of; the gradient needs no log. */
float reef_train_distill_xent(float *dlogits, const float *logits, const float *teacher, int32_t n,
                              int32_t label, float alpha, float temperature, float scale)
{
    const float T = temperature > 0.0f ? temperature : 1.0f;
    float hard = reef_train_softmax_xent(dlogits, logits, n, label), soft = 0.0f;
    float zmax, tmax, zsum, tsum, log_zsum;
    int32_t k;
    if (!teacher || alpha == 0.0f) {
        for (k = 0; k < n; k++) dlogits[k] = scale * (dlogits[k] - (k == label ? 1.0f : 0.0f));
        return hard;
    }
    zsum = soft_sum(logits, n, T, &zmax);
    tsum = soft_sum(teacher, n, T, &tmax);
    log_zsum = train_logf(zsum);
    for (k = 0; k < n; k++) {
        float zs = (logits[k] - zmax) / T;
        float p_soft = reef_train_expf(zs) / zsum, q = reef_train_expf((teacher[k] - tmax) / T) / tsum;
        float g_hard = dlogits[k] - (k == label ? 1.0f : 0.0f);
        dlogits[k] = scale * ((1.0f - alpha) * g_hard + alpha * T * (p_soft - q));
        soft -= q * (zs - log_zsum);
    }
    return (1.0f - alpha) * hard + alpha * T * T * soft;
}

/* ---- the tail --------------------------------------------------------------------- */

/* A layer's weights and bias: the trained copy or the deployed one. */
static const float *weights_of(const reef_tail_layer *L, const float *params, const float *params0)
{
    return params && (L->train & REEF_TRAIN_WEIGHTS) ? params + L->tw_at : params0 + L->w_at;
}
static const float *bias_of(const reef_tail_layer *L, const float *params, const float *params0)
{
    return params && (L->train & REEF_TRAIN_BIAS) ? params + L->tb_at : params0 + L->b_at;
}

static uint32_t *mask_of(float *acts, const reef_tail_layer *L) { return (uint32_t *)(void *)(acts + L->mask_at); }

/* One layer's forward, its clamp mask kept in acts. */
static int keeps_input(const reef_tail_layer *L) { return (L->train & REEF_TRAIN_WEIGHTS) || L->keep_input; }

/* One layer's forward, its clamp mask kept in acts. */
static void layer_forward(const reef_tail *t, const reef_tail_layer *L, const float *params, const float *params0,
                          const float *inp, float *out, float *acts)
{
    const float *w = weights_of(L, params, params0), *b = bias_of(L, params, params0);
    int32_t i;
    switch (L->kind) {
    case REEF_TAIL_CONV: conv_sum(out, inp, w, b, L); break;
    case REEF_TAIL_DW_CONV: dw_sum(out, inp, w, b, L); break;
    case REEF_TAIL_GAP: reef_tail_gap_forward(out, inp, L); return;
    case REEF_TAIL_ADD: {
        const float *skip = acts + t->layers[L->skip_from].save_at;
        int32_t n = out_count(L);
        for (i = 0; i + 4 <= n; i += 4) {
            float a0 = inp[i] + skip[i], a1 = inp[i + 1] + skip[i + 1], a2 = inp[i + 2] + skip[i + 2],
                  a3 = inp[i + 3] + skip[i + 3];
            out[i] = a0, out[i + 1] = a1, out[i + 2] = a2, out[i + 3] = a3;
        }
        for (; i < n; i++) out[i] = inp[i] + skip[i];
        break;
    }
    default: matmul_forward(out, inp, w, b, 1, in_count(L), L); break;
    }
    activate(out, out_count(L), L, mask_of(acts, L));
}


/* The index of x's lowest set bit (x != 0): RBIT + CLZ on the M4. */
static int32_t lowest_bit(uint32_t x)
{
#if defined(__GNUC__)
    return __builtin_ctz(x);
#else
    int32_t n = 0;
    while (!(x & 1u)) x >>= 1, n++;
    return n;
#endif
}

/* dout = 0 where the mask bit is 0; whole words of ones are skipped. */
static void apply_mask(float *dout, const uint32_t *mask, int32_t n)
{
    int32_t w0, i;
    for (w0 = 0; w0 < n; w0 += 32) {
        int32_t end = n - w0 < 32 ? n : w0 + 32;
        uint32_t bits = mask[w0 >> 5];
        if (bits == 0xffffffffu) continue;
        if (end - w0 == 32) { /* only the cleared bits: one step per zero */
            uint32_t zeros = ~bits;
            while (zeros) {
                dout[w0 + lowest_bit(zeros)] = 0.0f;
                zeros &= zeros - 1u;
            }
            continue;
        }
        for (i = w0; i < end; i++, bits >>= 1)
            if (!(bits & 1u)) dout[i] = 0.0f;
    }
}

const float *reef_tail_forward(const reef_tail *t, const float *params, const float *params0,
                               const int8_t *boundary, float *acts)
{
    int32_t i;
    float *x = acts + t->ping_at, *y = x + t->delta_count, *swap;
    if (t->q) return reef_qtail_forward(t, params, boundary, acts);
    {
        /* locals: x's float stores could alias t->in_scale otherwise */
        const float scale = t->in_scale;
        const int32_t zp = t->in_zero_point, n = t->in_count;
        for (i = 0; i + 4 <= n; i += 4) {
            float a0 = scale * (float)((int32_t)boundary[i] - zp), a1 = scale * (float)((int32_t)boundary[i + 1] - zp),
                  a2 = scale * (float)((int32_t)boundary[i + 2] - zp), a3 = scale * (float)((int32_t)boundary[i + 3] - zp);
            x[i] = a0, x[i + 1] = a1, x[i + 2] = a2, x[i + 3] = a3;
        }
        for (; i < n; i++) x[i] = scale * (float)((int32_t)boundary[i] - zp);
    }
    for (i = 0; i < t->nlayers; i++) {
        const reef_tail_layer *L = &t->layers[i];
        if (keeps_input(L)) copy_floats(acts + L->save_at, x, in_count(L));
        layer_forward(t, L, params, params0, x, y, acts);
        swap = x;
        x = y;
        y = swap;
    }
    copy_floats(acts + t->logits_at, x, t->nclasses);
    return acts + t->logits_at;
}

int32_t reef_tail_predict(const reef_tail *t, const float *params, const float *params0,
                          const int8_t *boundary, float *acts)
{
    const float *logits = reef_tail_forward(t, params, params0, boundary, acts);
    int32_t k, best = 0;
    for (k = 1; k < t->nclasses; k++)
        if (logits[k] > logits[best]) best = k;
    return best;
}

/* The first layer whose input gradient is needed: backward stops at the
 * earliest trainable layer. */
static int32_t first_trained(const reef_tail *t)
{
    int32_t i;
    for (i = 0; i < t->nlayers; i++)
        if (t->layers[i].train) return i;
    return t->nlayers;
}

static void layer_backward(const reef_tail_layer *L, const reef_tail_state *s, float *dinp, float *dout)
{
    const float *inp = (L->train & REEF_TRAIN_WEIGHTS) ? s->acts + L->save_at : 0;
    const float *w = weights_of(L, s->params, s->params0);
    float *dw = (L->train & REEF_TRAIN_WEIGHTS) ? s->grads + L->tw_at : 0;
    float *db = (L->train & REEF_TRAIN_BIAS) ? s->grads + L->tb_at : 0;
    if (L->kind != REEF_TAIL_GAP) apply_mask(dout, mask_of(s->acts, L), out_count(L));
    switch (L->kind) {
    case REEF_TAIL_CONV: reef_tail_conv_backward(dinp, dw, db, dout, 0, inp, w, L); break;
    case REEF_TAIL_DW_CONV: reef_tail_dw_backward(dinp, dw, db, dout, 0, inp, w, L); break;
    case REEF_TAIL_GAP:
        if (dinp) reef_tail_gap_backward(dinp, dout, L);
        break;
    case REEF_TAIL_ADD: /* the gradient goes both ways: on, and to the skip's source */
        copy_floats(s->acts + L->dskip_at, dout, out_count(L));
        if (dinp) copy_floats(dinp, dout, out_count(L));
        break;
    default: reef_tail_fc_backward(dinp, dw, db, dout, 0, inp, w, L); break;
    }
}

/* dinp of layer i += what every ADD reading its input sent back (those
 * ADDs come later in the tail, so their backward already ran). */
static void add_skip_gradients(const reef_tail *t, const reef_tail_state *s, int32_t i, float *dinp)
{
    int32_t j, k, n = in_count(&t->layers[i]);
    for (j = i + 1; j < t->nlayers; j++) {
        const reef_tail_layer *A = &t->layers[j];
        if (A->kind != REEF_TAIL_ADD || A->skip_from != i) continue;
        const float *d = s->acts + A->dskip_at;
        for (k = 0; k + 4 <= n; k += 4) {
            float a0 = dinp[k] + d[k], a1 = dinp[k + 1] + d[k + 1], a2 = dinp[k + 2] + d[k + 2], a3 = dinp[k + 3] + d[k + 3];
            dinp[k] = a0, dinp[k + 1] = a1, dinp[k + 2] = a2, dinp[k + 3] = a3;
        }
        for (; k < n; k++) dinp[k] += d[k];
    }
}

float reef_tail_backward(const reef_tail *t, const reef_tail_state *s, int32_t label, float scale)
{
    return reef_tail_backward_distill(t, s, label, 0, 0.0f, 1.0f, scale);
}

float reef_tail_backward_distill(const reef_tail *t, const reef_tail_state *s, int32_t label,
                                 const float *teacher, float alpha, float temperature, float scale)
{
    int32_t i, stop = first_trained(t);
    const float *logits = s->acts + t->logits_at;
    float *dout = s->delta_a, *dinp = s->delta_b;
    float loss;
    if (t->q) return reef_qtail_backward(t, s, label, scale);
    loss = reef_train_distill_xent(dout, logits, teacher, t->nclasses, label, alpha, temperature, scale);
    for (i = t->nlayers - 1; i >= stop; i--) {
        const reef_tail_layer *L = &t->layers[i];
        float *swap;
        int32_t need_dinp = i > stop;
        if (need_dinp && L->kind == REEF_TAIL_GAP)
            gap_backward_set(dinp, dout, L); /* every element written once: no zero pass */
        else {
            /* an ADD copies its gradient into dinp: no zero pass either */
            if (need_dinp && L->kind != REEF_TAIL_ADD) zero(dinp, (uint32_t)in_count(L));
            layer_backward(L, s, need_dinp ? dinp : 0, dout);
        }
        if (need_dinp) add_skip_gradients(t, s, i, dinp);
        swap = dout;
        dout = dinp;
        dinp = swap;
    }
    return loss;
}

/* n trained floats at at (trainable arrays), deployed at at0 (params0). */
static void sgd_range(const reef_tail_state *s, const reef_tail_hparams *hp, uint32_t at, uint32_t at0, uint32_t n)
{
    /* locals: the stores below are floats, as hp's fields are, so the
     * compiler would reload those every element otherwise */
    const float lr = hp->lr, anchor = hp->anchor, momentum = hp->momentum;
    float *params = s->params + at, *grads = s->grads + at, *velocity = s->velocity ? s->velocity + at : 0;
    const float *params0 = s->params0 + at0;
    uint32_t i;
    for (i = 0; i < n; i++) {
        float g = grads[i] + anchor * (params[i] - params0[i]);
        if (velocity) {
            velocity[i] = momentum * velocity[i] + g;
            g = velocity[i];
        }
        params[i] -= lr * g;
        grads[i] = 0.0f;
    }
}

static uint32_t weight_count(const reef_tail_layer *L)
{
    switch (L->kind) {
    case REEF_TAIL_CONV: return (uint32_t)(L->out_c * L->kh * L->kw * L->in_c);
    case REEF_TAIL_DW_CONV: return (uint32_t)(L->kh * L->kw * L->out_c);
    case REEF_TAIL_FC: return (uint32_t)(L->out_c * in_count(L));
    default: return 0;
    }
}

void reef_tail_sgd(const reef_tail *t, const reef_tail_state *s, const reef_tail_hparams *hp)
{
    int32_t i;
    if (t->q) {
        reef_qtail_sgd(t, s, hp);
        return;
    }
    for (i = 0; i < t->nlayers; i++) {
        const reef_tail_layer *L = &t->layers[i];
        if (L->kind == REEF_TAIL_GAP || L->kind == REEF_TAIL_ADD) continue;
        if (L->train & REEF_TRAIN_WEIGHTS) sgd_range(s, hp, L->tw_at, L->w_at, weight_count(L));
        if (L->train & REEF_TRAIN_BIAS) sgd_range(s, hp, L->tb_at, L->b_at, (uint32_t)L->out_c);
    }
}

void reef_tail_deployed(const reef_tail *t, const float *params0, float *params)
{
    int32_t l;
    uint32_t i;
    if (t->q) {
        reef_qtail_deployed(t, params);
        return;
    }
    for (l = 0; l < t->nlayers; l++) {
        const reef_tail_layer *L = &t->layers[l];
        if (L->train & REEF_TRAIN_WEIGHTS)
            for (i = 0; i < weight_count(L); i++) params[L->tw_at + i] = params0[L->w_at + i];
        if (L->train & REEF_TRAIN_BIAS)
            for (i = 0; i < (uint32_t)L->out_c; i++) params[L->tb_at + i] = params0[L->b_at + i];
    }
}

void reef_tail_reset(const reef_tail *t, const reef_tail_state *s)
{
    uint32_t i;
    reef_tail_deployed(t, s->params0, s->params);
    for (i = 0; i < t->train_count; i++) {
        s->grads[i] = 0.0f;
        if (s->velocity) s->velocity[i] = 0.0f;
    }
    if (t->q) reef_qtail_zero_grads(t, s->acts);
}

float reef_tail_train_batch(const reef_tail *t, const reef_tail_state *s,
                            const reef_tail_hparams *hp, const int8_t *const *boundaries,
                            const uint8_t *labels, int32_t n)
{
    return reef_tail_train_batch_distill(t, s, hp, boundaries, labels, 0, n);
}

float reef_tail_train_batch_distill(const reef_tail *t, const reef_tail_state *s,
                                    const reef_tail_hparams *hp, const int8_t *const *boundaries,
                                    const uint8_t *labels, const float *const *teachers, int32_t n)
{
    int32_t i;
    float loss = 0.0f, scale;
    if (!t || !s || !hp || !boundaries || !labels || n <= 0) return -1.0f;
    scale = 1.0f / (float)n;
    if (t->q) reef_qtail_zero_grads(t, s->acts); /* the session's arena held the body */
    for (i = 0; i < n; i++) {
        const float *teacher = teachers && hp->distill != 0.0f ? teachers[i] : 0;
        if (labels[i] >= t->nclasses) return -1.0f;
        reef_tail_forward(t, s->params, s->params0, boundaries[i], s->acts);
        loss += reef_tail_backward_distill(t, s, labels[i], teacher, hp->distill, hp->distill_t, scale);
    }
    reef_tail_sgd(t, s, hp);
    return loss * scale;
}
