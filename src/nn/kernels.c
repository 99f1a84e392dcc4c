/* Internal training kernels: see kernels.h. The vector paths work on eight
 * channels at a time (v8f, hot.h); NHWC keeps those eight contiguous. */
#include "nn/kernels.h"
#include "nn/hot.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

/* Rows of a batch-norm pass summed in float before being added in double:
 * few enough that float loses nothing that matters, many enough that the
 * double adds cost nothing. */
#define BN_CHUNK 32

/* Activation as a clamp to [lo, hi]: none (-inf, inf), relu (0, inf),
 * relu6 (0, 6). Its gradient passes where lo < y < hi. */
static void act_bounds(reef_nn_act act, float *lo, float *hi)
{
    *lo = act == REEF_NN_ACT_NONE ? -INFINITY : 0.0f;
    *hi = act == REEF_NN_ACT_RELU6 ? 6.0f : INFINITY;
}

/* ---- depthwise ----------------------------------------------------------
 * The vector path first copies its input into a zero-padded scratch image
 * P, so every output pixel sees all KxK taps and the loops have no bounds
 * tests; the tap count K is a compile-time constant (3, 5 or 7) so that a
 * channel block's KxK weights or weight-gradient sums stay in registers.
 *   forward:      out[oy][ox] = sum P[oy*s + ky][ox*s + kx] * w[ky][kx],
 *                 P = the input padded by (pad_top, pad_left) and zeros;
 *   weights:      dw[ky][kx] += sum g[oy][ox] * P[oy*s + ky][ox*s + kx];
 *   input grad:   dinp[iy][ix] = sum Q[iy + u][ix + v] * w[K-1-u][K-1-v],
 *                 Q = dout spread out by the stride (zeros between) and
 *                 shifted so that Q[a][b] = dout[(a + pad_top - K + 1) / s]... */

int reef_k_dw_fast(const reef_conv_dims *d)
{
    return d->oc == d->c && d->c % 8 == 0 && d->kh == d->kw &&
           (d->kh == 3 || d->kh == 5 || d->kh == 7);
}

/* Padded forward input: rows (OH-1)*s + K, columns (OW-1)*s + K. */
static int pad_rows(const reef_conv_dims *d) { return (d->oh - 1) * d->stride + d->kh; }
static int pad_cols(const reef_conv_dims *d) { return (d->ow - 1) * d->stride + d->kw; }

size_t reef_k_dw_scratch_floats(const reef_conv_dims *d)
{
    if (!reef_k_dw_fast(d)) return 0;
    size_t fwd = (size_t)pad_rows(d) * pad_cols(d);
    size_t bwd = (size_t)(d->h + d->kh - 1) * (d->w + d->kw - 1);
    return (size_t)d->n * (fwd > bwd ? fwd : bwd) * d->c;
}

/* P (N, PH, PW, C) = inp placed at (pad_top, pad_left), zeros around. */
static void pad_input(float *P, const float *inp, const reef_conv_dims *d)
{
    const int ph = pad_rows(d), pw = pad_cols(d), c = d->c;
    const size_t prow = (size_t)pw * c;
    int cols = d->w;
    if (d->pad_left + cols > pw) cols = pw - d->pad_left;
    const int right = pw - d->pad_left - cols;
    // Only the border is zeroed: the image is written once.
    for (int n = 0; n < d->n; n++) {
        float *img = P + (size_t)n * ph * prow;
        for (int py = 0; py < ph; py++) {
            float *row = img + (size_t)py * prow;
            int y = py - d->pad_top;
            if (y < 0 || y >= d->h) {
                memset(row, 0, prow * sizeof *row);
                continue;
            }
            memset(row, 0, (size_t)d->pad_left * c * sizeof *row);
            memcpy(row + (size_t)d->pad_left * c, inp + ((size_t)n * d->h + y) * d->w * c,
                   (size_t)cols * c * sizeof *row);
            memset(row + (size_t)(d->pad_left + cols) * c, 0, (size_t)right * c * sizeof *row);
        }
    }
}

/* Q (N, H+K-1, W+K-1, C): Q[a][b] = dout[oy][ox] where
 * a = oy*s - pad_top + K - 1 and b likewise, zeros elsewhere. */
static void spread_grad(float *Q, const float *dout, const reef_conv_dims *d)
{
    const int k = d->kh, qh = d->h + k - 1, qw = d->w + k - 1, c = d->c, s = d->stride;
    memset(Q, 0, (size_t)d->n * qh * qw * c * sizeof *Q);
    for (int n = 0; n < d->n; n++)
        for (int oy = 0; oy < d->oh; oy++) {
            int a = oy * s - d->pad_top + k - 1;
            if (a < 0 || a >= qh) continue;
            const float *src = dout + ((size_t)n * d->oh + oy) * d->ow * c;
            float *dst = Q + ((size_t)n * qh + a) * qw * c;
            int ox = 0;
            if (s == 1) {  // one row copy: b = ox + k - 1 - pad_left runs over [0, qw)
                int b0 = k - 1 - d->pad_left, ox1 = d->ow;
                if (b0 < 0) ox = -b0;
                if (b0 + ox1 > qw) ox1 = qw - b0;
                if (ox1 > ox) memcpy(dst + (size_t)(b0 + ox) * c, src + (size_t)ox * c, (size_t)(ox1 - ox) * c * sizeof *Q);
                continue;
            }
            for (; ox < d->ow; ox++) {  // c % 8 == 0 on this path: vector copies, no call per pixel
                int b = ox * s - d->pad_left + k - 1;
                if (b < 0 || b >= qw) continue;
                for (int j = 0; j < c; j += 8) st8(dst + (size_t)b * c + j, ld8(src + (size_t)ox * c + j));
            }
        }
}

/* out (N, OH, OW, C) = init + sum over the KxK taps of P (N, PH, PW, C)
 * times wk (K, K, C), windows s apart. init: 0 (NULL init, add 0), bias
 * (C) or out itself (add 1). Four output pixels at a time for four
 * independent FMA chains. */
REEF_INLINE void dw_corr(float *restrict out, const float *restrict P, const float *restrict wk,
                           const float *bias, int add, int N, int PH, int PW, int OH, int OW,
                           int C, int s, const int K)
{
    for (int n = 0; n < N; n++)
        for (int j = 0; j < C; j += 8) {
            v8f w[K * K];
            for (int t = 0; t < K * K; t++) w[t] = ld8(wk + (size_t)t * C + j);
            const v8f b0 = bias ? ld8(bias + j) : splat8(0);
            for (int oy = 0; oy < OH; oy++) {
                const float *prow = P + (((size_t)n * PH + oy * s) * PW) * C + j;
                float *orow = out + (((size_t)n * OH + oy) * OW) * C + j;
                int ox = 0;
                for (; ox + 4 <= OW; ox += 4) {
                    v8f a0 = b0, a1 = b0, a2 = b0, a3 = b0;
                    if (add) a0 = ld8(orow + (size_t)ox * C), a1 = ld8(orow + (size_t)(ox + 1) * C),
                             a2 = ld8(orow + (size_t)(ox + 2) * C), a3 = ld8(orow + (size_t)(ox + 3) * C);
                    for (int ky = 0; ky < K; ky++)
                        for (int kx = 0; kx < K; kx++) {
                            const float *p = prow + ((size_t)ky * PW + (size_t)ox * s + kx) * C;
                            const v8f wt = w[ky * K + kx];
                            a0 += ld8(p) * wt;
                            a1 += ld8(p + (size_t)s * C) * wt;
                            a2 += ld8(p + (size_t)2 * s * C) * wt;
                            a3 += ld8(p + (size_t)3 * s * C) * wt;
                        }
                    st8(orow + (size_t)ox * C, a0), st8(orow + (size_t)(ox + 1) * C, a1);
                    st8(orow + (size_t)(ox + 2) * C, a2), st8(orow + (size_t)(ox + 3) * C, a3);
                }
                for (; ox < OW; ox++) {
                    v8f a = add ? ld8(orow + (size_t)ox * C) : b0;
                    for (int ky = 0; ky < K; ky++)
                        for (int kx = 0; kx < K; kx++)
                            a += ld8(prow + ((size_t)ky * PW + (size_t)ox * s + kx) * C) * w[ky * K + kx];
                    st8(orow + (size_t)ox * C, a);
                }
            }
    }
}

/* dwk (K, K, C) += sum over output pixels of g (N, OH, OW, C) times the
 * window of P (N, PH, PW, C) under it; db (C, may be NULL) += sum g. */
REEF_INLINE void dw_corr_grad(float *restrict dwk, float *restrict db, const float *restrict g,
                                const float *restrict P, int N, int PH, int PW, int OH, int OW,
                                int C, int s, const int K)
{
    for (int n = 0; n < N; n++)
        for (int j = 0; j < C; j += 8) {
            v8f acc[K * K], bacc = splat8(0);
            for (int t = 0; t < K * K; t++) acc[t] = splat8(0);
            for (int oy = 0; oy < OH; oy++) {
                const float *prow = P + (((size_t)n * PH + oy * s) * PW) * C + j;
                const float *grow = g + (((size_t)n * OH + oy) * OW) * C + j;
                for (int ox = 0; ox < OW; ox++) {
                    const v8f gv = ld8(grow + (size_t)ox * C);
                    bacc += gv;
                    for (int ky = 0; ky < K; ky++)
                        for (int kx = 0; kx < K; kx++)
                            acc[ky * K + kx] += gv * ld8(prow + ((size_t)ky * PW + (size_t)ox * s + kx) * C);
                }
            }
        if (dwk)
            for (int t = 0; t < K * K; t++) st8(dwk + (size_t)t * C + j, ld8(dwk + (size_t)t * C + j) + acc[t]);
        if (db) st8(db + j, ld8(db + j) + bacc);
    }
}

#define DW_DISPATCH(K, call) \
    switch (K) {             \
    case 3: call(3); break;  \
    case 5: call(5); break;  \
    default: call(7); break; \
    }

REEF_HOT
void reef_k_dw_forward(float *out, const float *inp, const float *w, const float *b,
                       const reef_conv_dims *d, float *scratch)
{
    pad_input(scratch, inp, d);
#define CALL(K) dw_corr(out, scratch, w, b, 0, d->n, pad_rows(d), pad_cols(d), d->oh, d->ow, d->c, d->stride, K)
    DW_DISPATCH(d->kh, CALL)
#undef CALL
}

REEF_HOT
void reef_k_dw_backward_weights(float *dw, float *db, const float *dout, const float *inp,
                                const reef_conv_dims *d, float *scratch)
{
    pad_input(scratch, inp, d);
#define CALL(K) dw_corr_grad(dw, db, dout, scratch, d->n, pad_rows(d), pad_cols(d), d->oh, d->ow, d->c, d->stride, K)
    DW_DISPATCH(d->kh, CALL)
#undef CALL
}

REEF_HOT
void reef_k_dw_backward_input(float *dinp, const float *dout, const float *w,
                              const reef_conv_dims *d, reef_grad_mode mode, float *scratch)
{
    const int k = d->kh, c = d->c;
    spread_grad(scratch, dout, d);
    float wf[k * k * c];  // w flipped in both directions
    for (int t = 0; t < k * k; t++) memcpy(wf + (size_t)t * c, w + (size_t)(k * k - 1 - t) * c, c * sizeof *wf);
#define CALL(K) dw_corr(dinp, scratch, wf, NULL, mode == REEF_GRAD_ADD, d->n, d->h + K - 1, d->w + K - 1, d->h, d->w, c, 1, K)
    DW_DISPATCH(k, CALL)
#undef CALL
}

/* ---- convolution, fully connected, pools, dropout ---------------------------- */

void reef_k_conv2d_backward(float *dinp, float *dw, float *db, const float *dout,
                            const float *inp, const float *w, const reef_conv_dims *d,
                            float *scratch, reef_grad_mode mode)
{
    if (reef_k_pw_fast(d)) {
        reef_k_pw_backward(dinp, dw, db, dout, inp, w, d, mode);
        return;
    }
    const int pointwise = reef_conv2d_scratch_floats(d) == 0;
    if (dinp && mode == REEF_GRAD_SET && pointwise) {
        // dinp (rows, C) = dout (rows, OC) * w (OC, C)
        const int rows = d->n * d->oh * d->ow;
        reef_conv2d_backward(NULL, dw, db, dout, inp, w, d, scratch);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, d->c, d->oc, 1.0f, dout, d->oc, w,
                    d->c, 0.0f, dinp, d->c);
        return;
    }
    if (dinp && mode == REEF_GRAD_SET) memset(dinp, 0, (size_t)d->n * d->h * d->w * d->c * sizeof *dinp);
    reef_conv2d_backward(dinp, dw, db, dout, inp, w, d, scratch);
}

void reef_k_fc_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp,
                        const float *w, int n, int in, int outc, reef_grad_mode mode)
{
    reef_fc_backward(NULL, dw, db, dout, inp, w, n, in, outc);
    if (dinp)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, in, outc, 1.0f, dout, outc, w, in,
                    mode == REEF_GRAD_ADD ? 1.0f : 0.0f, dinp, in);
}

REEF_HOT
void reef_k_gap_backward(float *dinp, const float *dout, int n, int hw, int c, reef_grad_mode mode)
{
    const float inv = 1.0f / (float)hw;
    for (int i = 0; i < n; i++) {
        const float *g = dout + (size_t)i * c;
        for (int p = 0; p < hw; p++) {
            float *dv = dinp + ((size_t)i * hw + p) * c;
            if (mode == REEF_GRAD_ADD)
                for (int j = 0; j < c; j++) dv[j] += g[j] * inv;
            else
                for (int j = 0; j < c; j++) dv[j] = g[j] * inv;
        }
    }
}

void reef_k_dropout_backward(float *dinp, const float *dout, const float *mask, size_t n,
                             reef_grad_mode mode)
{
    if (mode == REEF_GRAD_ADD) reef_dropout_backward(dinp, dout, mask, n);
    else
        for (size_t i = 0; i < n; i++) dinp[i] = dout[i] * mask[i];
}

/* ---- batch norm + activation ----------------------------------------------- */

/* Vector paths of the batch-norm passes (C % 8 == 0). Reductions go
 * channel block by channel block through a chunk of rows (which stays in
 * L1), two rows at a time for two independent add chains. */
REEF_INLINE v8f act_mask8(v8f g, v8f y, v8f lo, v8f hi)
{
    return (v8f)((v8i)g & ((y > lo) & (y < hi)));
}

/* v clamped to [lo, hi] as the scalar code does: v > lo ? v : lo, then < hi */
REEF_INLINE v8f clamp8(v8f v, v8f lo, v8f hi)
{
    v8i above = v > lo;
    v = (v8f)(((v8i)v & above) | ((v8i)lo & ~above));
    v8i below = v < hi;
    return (v8f)(((v8i)v & below) | ((v8i)hi & ~below));
}

REEF_INLINE void add8_double(double *dst, v8f v)
{
    for (int k = 0; k < 8; k++) dst[k] += v[k];
}

REEF_INLINE void bn_stats8(double *sum, double *sumsq, const float *x, const float *ref, int rows, int c)
{
    for (int r0 = 0; r0 < rows; r0 += BN_CHUNK) {
        const int r1 = r0 + BN_CHUNK < rows ? r0 + BN_CHUNK : rows;
        for (int j = 0; j < c; j += 8) {
            const v8f m = ld8(ref + j);
            v8f s0 = splat8(0), s1 = s0, q0 = s0, q1 = s0;
            int r = r0;
            for (; r + 2 <= r1; r += 2) {
                v8f a = ld8(x + (size_t)r * c + j) - m, b = ld8(x + (size_t)(r + 1) * c + j) - m;
                s0 += a, q0 += a * a, s1 += b, q1 += b * b;
            }
            if (r < r1) {
                v8f a = ld8(x + (size_t)r * c + j) - m;
                s0 += a, q0 += a * a;
            }
            add8_double(sum + j, s0 + s1);
            add8_double(sumsq + j, q0 + q1);
        }
    }
}

/* g = dy where lo < z * scale + shift < hi, else 0 (the activation's gradient) */
REEF_INLINE v8f pre_mask8(v8f dy, v8f z, v8f scale, v8f shift, v8f lo, v8f hi)
{
    return act_mask8(dy, z * scale + shift, lo, hi);
}

REEF_INLINE void bn_grads8(double *sdy, double *sdyx, const float *dy, const float *z,
                           const float *mean, const float *rstd, const float *scale,
                           const float *shift, int rows, int c, float lo, float hi)
{
    const v8f vlo = splat8(lo), vhi = splat8(hi);
    for (int r0 = 0; r0 < rows; r0 += BN_CHUNK) {
        const int r1 = r0 + BN_CHUNK < rows ? r0 + BN_CHUNK : rows;
        for (int j = 0; j < c; j += 8) {
            const v8f m = ld8(mean + j), rs = ld8(rstd + j), sc = ld8(scale + j), sh = ld8(shift + j);
            v8f s0 = splat8(0), s1 = s0, x0 = s0, x1 = s0;
            int r = r0;
            for (; r + 2 <= r1; r += 2) {
                const size_t a = (size_t)r * c + j, b = a + c;
                const v8f za = ld8(z + a), zb = ld8(z + b);
                v8f ga = pre_mask8(ld8(dy + a), za, sc, sh, vlo, vhi);
                v8f gb = pre_mask8(ld8(dy + b), zb, sc, sh, vlo, vhi);
                s0 += ga, x0 += ga * ((za - m) * rs);
                s1 += gb, x1 += gb * ((zb - m) * rs);
            }
            if (r < r1) {
                const size_t a = (size_t)r * c + j;
                const v8f za = ld8(z + a);
                v8f ga = pre_mask8(ld8(dy + a), za, sc, sh, vlo, vhi);
                s0 += ga, x0 += ga * ((za - m) * rs);
            }
            add8_double(sdy + j, s0 + s1);
            add8_double(sdyx + j, x0 + x1);
        }
    }
}

REEF_HOT
void reef_k_bn_stats(double *sum, double *sumsq, const float *x, const float *ref, int rows, int c)
{
    if (c % 8 == 0) {
        bn_stats8(sum, sumsq, x, ref, rows, c);
        return;
    }
    float s[c], q[c];
    for (int r0 = 0; r0 < rows; r0 += BN_CHUNK) {
        const int r1 = r0 + BN_CHUNK < rows ? r0 + BN_CHUNK : rows;
        memset(s, 0, sizeof s);
        memset(q, 0, sizeof q);
        for (int r = r0; r < r1; r++) {
            const float *xr = x + (size_t)r * c;
            for (int j = 0; j < c; j++) {
                float v = xr[j] - ref[j];
                s[j] += v;
                q[j] += v * v;
            }
        }
        for (int j = 0; j < c; j++) sum[j] += s[j], sumsq[j] += q[j];
    }
}

void reef_k_bn_finish(float *mean, float *rstd, float *var_unbiased, const double *sum,
                      const double *sumsq, const float *ref, double count, int c)
{
    for (int j = 0; j < c; j++) {
        double m = sum[j] / count;
        double var = sumsq[j] / count - m * m;
        if (var < 0) var = 0;
        mean[j] = (float)(ref[j] + m);
        rstd[j] = (float)(1.0 / sqrt(var + REEF_BN_EPS));
        if (var_unbiased) var_unbiased[j] = (float)(count > 1 ? var * count / (count - 1) : var);
    }
}

/* scale, shift (C) of y = act(z * scale + shift); the backward passes
 * recompute the pre-activation from z with these same values, so their
 * gradient mask matches the forward's clamp exactly. */
static void bn_scale_shift(float *scale, float *shift, const float *mean, const float *rstd,
                           const float *gamma, const float *beta, int c)
{
    for (int j = 0; j < c; j++) {
        scale[j] = gamma[j] * rstd[j];
        shift[j] = beta[j] - mean[j] * scale[j];
    }
}

REEF_HOT
void reef_k_bn_act_forward(float *y, const float *z, const float *mean, const float *rstd,
                           const float *gamma, const float *beta, int rows, int c, reef_nn_act act)
{
    float lo, hi;
    act_bounds(act, &lo, &hi);
    // y = clamp(z * scale + shift, lo, hi), scale = gamma * rstd, shift = beta - mean * scale
    float scale[c], shift[c];
    bn_scale_shift(scale, shift, mean, rstd, gamma, beta, c);
    if (c % 8 == 0) {
        const v8f vlo = splat8(lo), vhi = splat8(hi);
        for (int r = 0; r < rows; r++)
            for (int j = 0; j < c; j += 8) {
                const size_t at = (size_t)r * c + j;
                v8f v = ld8(z + at) * ld8(scale + j) + ld8(shift + j);
                st8(y + at, clamp8(v, vlo, vhi));
            }
        return;
    }
    for (int r = 0; r < rows; r++) {
        const float *zr = z + (size_t)r * c;
        float *yr = y + (size_t)r * c;
        for (int j = 0; j < c; j++) {
            float v = zr[j] * scale[j] + shift[j];
            v = v > lo ? v : lo;
            yr[j] = v < hi ? v : hi;
        }
    }
}

REEF_HOT
void reef_k_bn_act_grads(double *sdy, double *sdyx, const float *dy, const float *z,
                         const float *mean, const float *rstd, const float *gamma,
                         const float *beta, int rows, int c, reef_nn_act act)
{
    float lo, hi;
    act_bounds(act, &lo, &hi);
    float scale[c], shift[c];
    bn_scale_shift(scale, shift, mean, rstd, gamma, beta, c);
    if (c % 8 == 0) {
        bn_grads8(sdy, sdyx, dy, z, mean, rstd, scale, shift, rows, c, lo, hi);
        return;
    }
    float s[c], sx[c];
    for (int r0 = 0; r0 < rows; r0 += BN_CHUNK) {
        const int r1 = r0 + BN_CHUNK < rows ? r0 + BN_CHUNK : rows;
        memset(s, 0, sizeof s);
        memset(sx, 0, sizeof sx);
        for (int r = r0; r < r1; r++) {
            const size_t at = (size_t)r * c;
            for (int j = 0; j < c; j++) {
                float v = z[at + j] * scale[j] + shift[j];
                float g = (v > lo && v < hi) ? dy[at + j] : 0.0f;
                float xhat = (z[at + j] - mean[j]) * rstd[j];
                s[j] += g;
                sx[j] += g * xhat;
            }
        }
        for (int j = 0; j < c; j++) sdy[j] += s[j], sdyx[j] += sx[j];
    }
}

REEF_HOT
void reef_k_bn_act_backward(float *dz, const float *dy, const float *z, const float *mean,
                            const float *rstd, const float *gamma, const float *beta,
                            const double *sdy, const double *sdyx, double count, int rows, int c,
                            reef_nn_act act)
{
    float lo, hi;
    act_bounds(act, &lo, &hi);
    float scale[c], shift[c];
    bn_scale_shift(scale, shift, mean, rstd, gamma, beta, c);
    // dz = k * (g - mdy - (z - mean) * rstd * mdyx) = g * k + ((z - mean) * a + b)
    // with k = gamma * rstd, a = -k * rstd * mdyx, b = -k * mdy
    float k[c], a[c], b[c];
    for (int j = 0; j < c; j++) {
        float mdy = (float)(sdy[j] / count), mdyx = (float)(sdyx[j] / count);
        k[j] = gamma[j] * rstd[j];
        a[j] = -k[j] * rstd[j] * mdyx;
        b[j] = -k[j] * mdy;
    }
    if (c % 8 == 0) {
        const v8f vlo = splat8(lo), vhi = splat8(hi);
        for (int r = 0; r < rows; r++)
            for (int j = 0; j < c; j += 8) {
                const size_t at = (size_t)r * c + j;
                const v8f zv = ld8(z + at);
                v8f g = pre_mask8(ld8(dy + at), zv, ld8(scale + j), ld8(shift + j), vlo, vhi);
                st8(dz + at, g * ld8(k + j) + ((zv - ld8(mean + j)) * ld8(a + j) + ld8(b + j)));
            }
        return;
    }
    for (int r = 0; r < rows; r++) {
        const size_t at = (size_t)r * c;
        for (int j = 0; j < c; j++) {
            float v = z[at + j] * scale[j] + shift[j];
            float g = (v > lo && v < hi) ? dy[at + j] : 0.0f;
            dz[at + j] = g * k[j] + ((z[at + j] - mean[j]) * a[j] + b[j]);
        }
    }
}

/* ---- pointwise (1x1, stride 1) convolution: own small GEMMs in NHWC ------- */

int reef_k_pw_fast(const reef_conv_dims *d)
{
    return reef_conv2d_scratch_floats(d) == 0 && d->c % 8 == 0 && d->oc % 8 == 0;
}

size_t reef_k_pw_scratch_floats(const reef_conv_dims *d)
{
    return reef_k_pw_fast(d) ? (size_t)d->c * d->oc : 0;
}

/* out (rows, N) = or += a (rows, K) * b (K, N) (+ bias (N) when not NULL),
 * N % 8 == 0. Tiles of 4 rows by NV*8 columns live in registers; b is
 * small and stays in L1. Each output sums over K in order. */
REEF_INLINE v8f bcast8(float x)
{
    const v8f v = {x};
    return __builtin_shuffle(v, (v8i){0, 0, 0, 0, 0, 0, 0, 0});
}

/* acc + x * y rounded once: the callers (PW_FMA) contract it into one
 * fused multiply-add per lane, in every build. The contraction is GCC's
 * widening-mul pass, which runs only with -fexpensive-optimizations (on at
 * -O2 and above): asking for fp-contract alone, as this code once did, gave
 * fused sums in Release (-O3) and unfused ones in the -O1 sanitizer build,
 * so a model trained in the test process differed in its last bits between
 * the two and every cached firmware build missed. PW_FMA turns both on.
 * Not __builtin_fmaf per lane: exact too, but the sanitizers stop GCC from
 * vectorizing it (training 8x slower under ASan). test_nn_layers
 * (test_pw_fused_in_order) checks the sums against a scalar fmaf chain. */
REEF_INLINE v8f fma8(v8f x, v8f y, v8f acc)
{
#ifdef __OPTIMIZE__
    return x * y + acc;
#else
    // -O0 runs no pass at all: the same bits the slow way (fmaf is exact)
    v8f r;
    for (int i = 0; i < 8; i++) r[i] = __builtin_fmaf(x[i], y[i], acc[i]);
    return r;
#endif
}
#define PW_FMA __attribute__((optimize("fp-contract=fast", "expensive-optimizations")))

REEF_INLINE void gemm_tile(float *out, const float *a, const float *b, const float *bias, int r0,
                           int nr, int j, int nv, int k, int n, int add)
{
    v8f c00 = splat8(0.0f), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00;
    float *o = out + (size_t)r0 * n + j;
    if (add || bias) {
        const float *src0 = add ? o : bias + j, *src1 = add ? o + n : src0, *src2 = add ? o + 2 * n : src0,
                    *src3 = add ? o + 3 * n : src0;
        c00 = ld8(src0);
        if (nv == 2) c01 = ld8(src0 + 8);
        if (nr == 4) {
            c10 = ld8(src1), c20 = ld8(src2), c30 = ld8(src3);
            if (nv == 2) c11 = ld8(src1 + 8), c21 = ld8(src2 + 8), c31 = ld8(src3 + 8);
        }
    }
    const float *a0 = a + (size_t)r0 * k;
    for (int kk = 0; kk < k; kk++) {
        const v8f b0 = ld8(b + (size_t)kk * n + j);
        const v8f b1 = nv == 2 ? ld8(b + (size_t)kk * n + j + 8) : b0;
        v8f x = bcast8(a0[kk]);
        c00 = fma8(x, b0, c00);
        if (nv == 2) c01 = fma8(x, b1, c01);
        if (nr == 4) {
            x = bcast8(a0[k + kk]);
            c10 = fma8(x, b0, c10);
            if (nv == 2) c11 = fma8(x, b1, c11);
            x = bcast8(a0[2 * k + kk]);
            c20 = fma8(x, b0, c20);
            if (nv == 2) c21 = fma8(x, b1, c21);
            x = bcast8(a0[3 * k + kk]);
            c30 = fma8(x, b0, c30);
            if (nv == 2) c31 = fma8(x, b1, c31);
        }
    }
    st8(o, c00);
    if (nv == 2) st8(o + 8, c01);
    if (nr == 4) {
        st8(o + n, c10), st8(o + 2 * n, c20), st8(o + 3 * n, c30);
        if (nv == 2) st8(o + n + 8, c11), st8(o + 2 * n + 8, c21), st8(o + 3 * n + 8, c31);
    }
}

/* Fused multiply-adds (fma8) here: these sums are new, no other code must
 * match them bit for bit. */
REEF_HOT PW_FMA
static void gemm_rows(float *out, const float *a, const float *b, const float *bias, int rows, int k,
                      int n, int add)
{
    int r = 0;
    for (; r + 4 <= rows; r += 4) {
        int j = 0;
        for (; j + 16 <= n; j += 16) gemm_tile(out, a, b, bias, r, 4, j, 2, k, n, add);
        if (j < n) gemm_tile(out, a, b, bias, r, 4, j, 1, k, n, add);
    }
    for (; r < rows; r++) {
        int j = 0;
        for (; j + 16 <= n; j += 16) gemm_tile(out, a, b, bias, r, 1, j, 2, k, n, add);
        if (j < n) gemm_tile(out, a, b, bias, r, 1, j, 1, k, n, add);
    }
}

void reef_k_pw_forward(float *out, const float *inp, const float *w, const float *b,
                       const reef_conv_dims *d, float *scratch)
{
    const int rows = d->n * d->oh * d->ow, c = d->c, oc = d->oc;
    // wt (C, OC) = w (OC, C) transposed, so output channels are contiguous
    float *wt = scratch;
    for (int o = 0; o < oc; o++)
        for (int k = 0; k < c; k++) wt[(size_t)k * oc + o] = w[(size_t)o * c + k];
    gemm_rows(out, inp, wt, b, rows, c, oc, 0);
}

/* dw (OC, C) += dout (rows, OC)^T * inp (rows, C): tiles of 4 output
 * channels by 16 input channels summed over a chunk of rows in registers,
 * chunks added in row order. */
#define PW_ROW_CHUNK 256
REEF_INLINE void weight_tile(float *dw, const float *dout, const float *inp, int r0, int r1, int o,
                             int k, int nv, int c, int oc)
{
    v8f acc[4][2];
    for (int i = 0; i < 4; i++) acc[i][0] = acc[i][1] = splat8(0.0f);
    for (int r = r0; r < r1; r++) {
        const float *g = dout + (size_t)r * oc + o;
        v8f x[2];
        for (int v = 0; v < nv; v++) x[v] = ld8(inp + (size_t)r * c + k + 8 * v);
        // unrolled by hand, or GCC keeps acc in memory (fma8 is 8 lanes)
#pragma GCC unroll 4
        for (int i = 0; i < 4; i++) {
            const v8f gi = bcast8(g[i]);
            acc[i][0] = fma8(gi, x[0], acc[i][0]);
            if (nv == 2) acc[i][1] = fma8(gi, x[1], acc[i][1]);
        }
    }
    for (int i = 0; i < 4; i++)
        for (int v = 0; v < nv; v++) {
            float *p = dw + (size_t)(o + i) * c + k + 8 * v;
            st8(p, ld8(p) + acc[i][v]);
        }
}

REEF_HOT PW_FMA
static void pw_weight_grads(float *dw, const float *dout, const float *inp, int rows, int c, int oc)
{
    for (int r0 = 0; r0 < rows; r0 += PW_ROW_CHUNK) {
        const int r1 = r0 + PW_ROW_CHUNK < rows ? r0 + PW_ROW_CHUNK : rows;
        for (int o = 0; o < oc; o += 4) {
            int k = 0;
            for (; k + 16 <= c; k += 16) weight_tile(dw, dout, inp, r0, r1, o, k, 2, c, oc);
            if (k < c) weight_tile(dw, dout, inp, r0, r1, o, k, 1, c, oc);
        }
    }
}

void reef_k_pw_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp,
                        const float *w, const reef_conv_dims *d, reef_grad_mode mode)
{
    const int rows = d->n * d->oh * d->ow, c = d->c, oc = d->oc;
    if (db)
        for (int r = 0; r < rows; r++)
            for (int o = 0; o < oc; o++) db[o] += dout[(size_t)r * oc + o];
    if (dw) pw_weight_grads(dw, dout, inp, rows, c, oc);
    // dinp (rows, C) = or += dout (rows, OC) * w (OC, C)
    if (dinp) gemm_rows(dinp, dout, w, NULL, rows, oc, c, mode == REEF_GRAD_ADD);
}
