/* Float layer kernels: see layers.h. Hot loops run over the channel axis,
 * which is contiguous in NHWC, so the compiler can vectorize them. */
#include "nn/layers.h"
#include "nn/hot.h"

#include <cblas.h>
#include <float.h>
#include <math.h>
#include <string.h>

static int ceil_div(int a, int b) { return (a + b - 1) / b; }

void reef_conv_dims_same(reef_conv_dims *d, int n, int h, int w, int c, int oc, int k, int stride)
{
    d->n = n;
    d->h = h, d->w = w, d->c = c;
    d->oh = ceil_div(h, stride), d->ow = ceil_div(w, stride), d->oc = oc;
    d->kh = k, d->kw = k;
    d->stride = stride;
    int pad_h = (d->oh - 1) * stride + k - h;
    int pad_w = (d->ow - 1) * stride + k - w;
    d->pad_top = pad_h > 0 ? pad_h / 2 : 0;
    d->pad_left = pad_w > 0 ? pad_w / 2 : 0;
}

void reef_conv_dims_valid(reef_conv_dims *d, int n, int h, int w, int c, int oc, int k, int stride)
{
    d->n = n;
    d->h = h, d->w = w, d->c = c;
    d->oh = (h - k) / stride + 1, d->ow = (w - k) / stride + 1, d->oc = oc;
    d->kh = k, d->kw = k;
    d->stride = stride;
    d->pad_top = d->pad_left = 0;
}

/* ---- convolution -------------------------------------------------------- */

static int conv_is_pointwise(const reef_conv_dims *d)
{
    return d->kh == 1 && d->kw == 1 && d->stride == 1 && d->pad_top == 0 && d->pad_left == 0 &&
           d->oh == d->h && d->ow == d->w;
}

size_t reef_conv2d_scratch_floats(const reef_conv_dims *d)
{
    if (conv_is_pointwise(d)) return 0;
    return (size_t)d->n * d->oh * d->ow * d->kh * d->kw * d->c;
}

/* col (N*OH*OW, KH*KW*C): row = output pixel, columns in the order of a
 * filter's (KH, KW, C), zeros where the window hangs over the padding. */
REEF_HOT
static void im2col(float *col, const float *inp, const reef_conv_dims *d)
{
    const size_t krow = (size_t)d->kw * d->c;
    for (int n = 0; n < d->n; n++)
        for (int oy = 0; oy < d->oh; oy++)
            for (int ox = 0; ox < d->ow; ox++) {
                for (int ky = 0; ky < d->kh; ky++) {
                    float *dst = col + ky * krow;
                    int iy = oy * d->stride - d->pad_top + ky;
                    if (iy < 0 || iy >= d->h) {
                        memset(dst, 0, krow * sizeof *dst);
                        continue;
                    }
                    const float *row = inp + ((size_t)n * d->h + iy) * d->w * d->c;
                    for (int kx = 0; kx < d->kw; kx++) {
                        int ix = ox * d->stride - d->pad_left + kx;
                        const int in = ix >= 0 && ix < d->w;
                        if (d->c == 1) dst[kx] = in ? row[ix] : 0.0f;  // e.g. a grayscale stem: no call per float
                        else if (!in) memset(dst + kx * d->c, 0, d->c * sizeof *dst);
                        else memcpy(dst + kx * d->c, row + (size_t)ix * d->c, d->c * sizeof *dst);
                    }
                }
                col += d->kh * krow;
            }
}

/* dinp += the columns of dcol scattered back to the pixels they came from */
REEF_HOT
static void col2im_add(float *dinp, const float *dcol, const reef_conv_dims *d)
{
    for (int n = 0; n < d->n; n++)
        for (int oy = 0; oy < d->oh; oy++)
            for (int ox = 0; ox < d->ow; ox++) {
                for (int ky = 0; ky < d->kh; ky++) {
                    int iy = oy * d->stride - d->pad_top + ky;
                    if (iy < 0 || iy >= d->h) continue;
                    float *row = dinp + ((size_t)n * d->h + iy) * d->w * d->c;
                    for (int kx = 0; kx < d->kw; kx++) {
                        int ix = ox * d->stride - d->pad_left + kx;
                        if (ix < 0 || ix >= d->w) continue;
                        float *dst = row + (size_t)ix * d->c;
                        const float *src = dcol + ((size_t)ky * d->kw + kx) * d->c;
                        for (int c = 0; c < d->c; c++) dst[c] += src[c];
                    }
                }
                dcol += (size_t)d->kh * d->kw * d->c;
            }
}

void reef_conv2d_forward(float *out, const float *inp, const float *w, const float *b,
                         const reef_conv_dims *d, float *scratch)
{
    const int rows = d->n * d->oh * d->ow;
    const int k = d->kh * d->kw * d->c;
    const float *col = inp;
    if (!conv_is_pointwise(d)) {
        im2col(scratch, inp, d);
        col = scratch;
    }
    float beta = 0.0f;
    if (b) {
        for (int r = 0; r < rows; r++) memcpy(out + (size_t)r * d->oc, b, d->oc * sizeof *out);
        beta = 1.0f;
    }
    // out (rows, OC) = col (rows, K) * w (OC, K)^T
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, d->oc, k, 1.0f, col, k, w, k, beta,
                out, d->oc);
}

void reef_conv2d_backward(float *dinp, float *dw, float *db, const float *dout,
                          const float *inp, const float *w, const reef_conv_dims *d, float *scratch)
{
    const int rows = d->n * d->oh * d->ow;
    const int k = d->kh * d->kw * d->c;
    const int pointwise = conv_is_pointwise(d);
    if (db)
        for (int r = 0; r < rows; r++) {
            const float *g = dout + (size_t)r * d->oc;
            for (int o = 0; o < d->oc; o++) db[o] += g[o];
        }
    if (dw) {
        const float *col = inp;
        if (!pointwise) {
            im2col(scratch, inp, d);
            col = scratch;
        }
        // dw (OC, K) += dout (rows, OC)^T * col (rows, K)
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, d->oc, k, rows, 1.0f, dout, d->oc, col,
                    k, 1.0f, dw, k);
    }
    if (!dinp) return;
    if (pointwise) {
        // dinp (rows, C) += dout (rows, OC) * w (OC, C)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, k, d->oc, 1.0f, dout, d->oc,
                    w, k, 1.0f, dinp, k);
        return;
    }
    // dcol (rows, K) = dout (rows, OC) * w (OC, K), then scattered back
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, k, d->oc, 1.0f, dout, d->oc, w, k,
                0.0f, scratch, k);
    col2im_add(dinp, scratch, d);
}

/* ---- depthwise convolution --------------------------------------------- */

REEF_HOT
void reef_dwconv2d_forward(float *out, const float *inp, const float *w, const float *b,
                           const reef_conv_dims *d)
{
    const int oc = d->oc, mult = d->oc / d->c;
    for (int n = 0; n < d->n; n++)
        for (int oy = 0; oy < d->oh; oy++)
            for (int ox = 0; ox < d->ow; ox++) {
                float *o = out + (((size_t)n * d->oh + oy) * d->ow + ox) * oc;
                if (b) memcpy(o, b, oc * sizeof *o);
                else memset(o, 0, oc * sizeof *o);
                for (int ky = 0; ky < d->kh; ky++) {
                    int iy = oy * d->stride - d->pad_top + ky;
                    if (iy < 0 || iy >= d->h) continue;
                    for (int kx = 0; kx < d->kw; kx++) {
                        int ix = ox * d->stride - d->pad_left + kx;
                        if (ix < 0 || ix >= d->w) continue;
                        const float *x = inp + (((size_t)n * d->h + iy) * d->w + ix) * d->c;
                        const float *k = w + ((size_t)ky * d->kw + kx) * oc;
                        if (mult == 1)
                            for (int c = 0; c < oc; c++) o[c] += x[c] * k[c];
                        else
                            for (int c = 0; c < oc; c++) o[c] += x[c / mult] * k[c];
                    }
                }
            }
}

REEF_HOT
void reef_dwconv2d_backward(float *dinp, float *dw, float *db, const float *dout,
                            const float *inp, const float *w, const reef_conv_dims *d)
{
    const int oc = d->oc, mult = d->oc / d->c;
    for (int n = 0; n < d->n; n++)
        for (int oy = 0; oy < d->oh; oy++)
            for (int ox = 0; ox < d->ow; ox++) {
                const float *g = dout + (((size_t)n * d->oh + oy) * d->ow + ox) * oc;
                if (db)
                    for (int c = 0; c < oc; c++) db[c] += g[c];
                for (int ky = 0; ky < d->kh; ky++) {
                    int iy = oy * d->stride - d->pad_top + ky;
                    if (iy < 0 || iy >= d->h) continue;
                    for (int kx = 0; kx < d->kw; kx++) {
                        int ix = ox * d->stride - d->pad_left + kx;
                        if (ix < 0 || ix >= d->w) continue;
                        size_t at = (((size_t)n * d->h + iy) * d->w + ix) * d->c;
                        size_t kat = ((size_t)ky * d->kw + kx) * oc;
                        for (int c = 0; dw && c < oc; c++) dw[kat + c] += g[c] * inp[at + c / mult];
                        for (int c = 0; dinp && c < oc; c++) dinp[at + c / mult] += g[c] * w[kat + c];
                    }
                }
            }
}

/* ---- fully connected ---------------------------------------------------- */

void reef_fc_forward(float *out, const float *inp, const float *w, const float *b,
                     int n, int in, int outc)
{
    float beta = 0.0f;
    if (b) {
        for (int i = 0; i < n; i++) memcpy(out + (size_t)i * outc, b, outc * sizeof *out);
        beta = 1.0f;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, outc, in, 1.0f, inp, in, w, in, beta,
                out, outc);
}

void reef_fc_backward(float *dinp, float *dw, float *db, const float *dout,
                      const float *inp, const float *w, int n, int in, int outc)
{
    if (db)
        for (int i = 0; i < n; i++)
            for (int o = 0; o < outc; o++) db[o] += dout[(size_t)i * outc + o];
    if (dw)
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, outc, in, n, 1.0f, dout, outc, inp,
                    in, 1.0f, dw, in);
    if (dinp)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, in, outc, 1.0f, dout, outc, w,
                    in, 1.0f, dinp, in);
}

/* ---- batch norm ------------------------------------------------------------ */

REEF_HOT
void reef_bn_partial_stats(double *sum, double *sumsq, const float *x, int rows, int c)
{
    for (int r = 0; r < rows; r++) {
        const float *xr = x + (size_t)r * c;
        for (int j = 0; j < c; j++) {
            double v = xr[j];
            sum[j] += v;
            sumsq[j] += v * v;
        }
    }
}

void reef_bn_finish_stats(float *mean, float *rstd, float *var_unbiased,
                          const double *sum, const double *sumsq, double count, int c)
{
    for (int j = 0; j < c; j++) {
        double m = sum[j] / count;
        double var = sumsq[j] / count - m * m;
        if (var < 0) var = 0;
        mean[j] = (float)m;
        rstd[j] = (float)(1.0 / sqrt(var + REEF_BN_EPS));
        if (var_unbiased) var_unbiased[j] = (float)(count > 1 ? var * count / (count - 1) : var);
    }
}

REEF_HOT
void reef_bn_apply(float *out, const float *x, const float *mean, const float *rstd,
                   const float *gamma, const float *beta, int rows, int c)
{
    // y = x * scale + shift with scale = gamma * rstd, shift = beta - mean * scale
    float scale[c], shift[c];
    for (int j = 0; j < c; j++) {
        scale[j] = gamma[j] * rstd[j];
        shift[j] = beta[j] - mean[j] * scale[j];
    }
    for (int r = 0; r < rows; r++) {
        const float *xr = x + (size_t)r * c;
        float *yr = out + (size_t)r * c;
        for (int j = 0; j < c; j++) yr[j] = xr[j] * scale[j] + shift[j];
    }
}

void reef_bn_update_running(float *run_mean, float *run_var, const float *mean,
                            const float *var_unbiased, float momentum, int c)
{
    for (int j = 0; j < c; j++) {
        run_mean[j] = (1.0f - momentum) * run_mean[j] + momentum * mean[j];
        run_var[j] = (1.0f - momentum) * run_var[j] + momentum * var_unbiased[j];
    }
}

void reef_bn_forward_train(float *out, float *mean, float *rstd, const float *x,
                           const float *gamma, const float *beta, int rows, int c)
{
    double sum[c], sumsq[c];
    memset(sum, 0, sizeof sum);
    memset(sumsq, 0, sizeof sumsq);
    reef_bn_partial_stats(sum, sumsq, x, rows, c);
    reef_bn_finish_stats(mean, rstd, NULL, sum, sumsq, rows, c);
    reef_bn_apply(out, x, mean, rstd, gamma, beta, rows, c);
}

void reef_bn_forward_infer(float *out, const float *x, const float *gamma, const float *beta,
                           const float *run_mean, const float *run_var, int rows, int c)
{
    float rstd[c];
    for (int j = 0; j < c; j++) rstd[j] = 1.0f / sqrtf(run_var[j] + REEF_BN_EPS);
    reef_bn_apply(out, x, run_mean, rstd, gamma, beta, rows, c);
}

REEF_HOT
void reef_bn_partial_grads(double *sdy, double *sdyx, const float *dout, const float *x,
                           const float *mean, const float *rstd, int rows, int c)
{
    for (int r = 0; r < rows; r++) {
        const float *g = dout + (size_t)r * c;
        const float *xr = x + (size_t)r * c;
        for (int j = 0; j < c; j++) {
            float xhat = (xr[j] - mean[j]) * rstd[j];
            sdy[j] += g[j];
            sdyx[j] += (double)(g[j] * xhat);
        }
    }
}

REEF_HOT
void reef_bn_apply_backward(float *dinp, const float *dout, const float *x, const float *mean,
                            const float *rstd, const float *gamma, const double *sdy,
                            const double *sdyx, double count, int rows, int c)
{
    float k[c], mdy[c], mdyx[c];
    for (int j = 0; j < c; j++) {
        k[j] = gamma[j] * rstd[j];
        mdy[j] = (float)(sdy[j] / count);
        mdyx[j] = (float)(sdyx[j] / count);
    }
    for (int r = 0; r < rows; r++) {
        const float *g = dout + (size_t)r * c;
        const float *xr = x + (size_t)r * c;
        float *dx = dinp + (size_t)r * c;
        for (int j = 0; j < c; j++) {
            float xhat = (xr[j] - mean[j]) * rstd[j];
            dx[j] += k[j] * (g[j] - mdy[j] - xhat * mdyx[j]);
        }
    }
}

void reef_bn_backward(float *dinp, float *dgamma, float *dbeta, const float *dout, const float *x,
                      const float *mean, const float *rstd, const float *gamma, int rows, int c)
{
    double sdy[c], sdyx[c];
    memset(sdy, 0, sizeof sdy);
    memset(sdyx, 0, sizeof sdyx);
    reef_bn_partial_grads(sdy, sdyx, dout, x, mean, rstd, rows, c);
    for (int j = 0; j < c; j++) {
        if (dgamma) dgamma[j] += (float)sdyx[j];
        if (dbeta) dbeta[j] += (float)sdy[j];
    }
    if (dinp) reef_bn_apply_backward(dinp, dout, x, mean, rstd, gamma, sdy, sdyx, rows, rows, c);
}

/* ---- activations -------------------------------------------------------- */

REEF_HOT
void reef_relu_forward(float *out, const float *inp, size_t n)
{
    for (size_t i = 0; i < n; i++) out[i] = inp[i] > 0.0f ? inp[i] : 0.0f;
}

REEF_HOT
void reef_relu_backward(float *dinp, const float *dout, const float *out, size_t n)
{
    for (size_t i = 0; i < n; i++) dinp[i] += out[i] > 0.0f ? dout[i] : 0.0f;
}

REEF_HOT
void reef_relu6_forward(float *out, const float *inp, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        float v = inp[i] > 0.0f ? inp[i] : 0.0f;
        out[i] = v < 6.0f ? v : 6.0f;
    }
}

REEF_HOT
void reef_relu6_backward(float *dinp, const float *dout, const float *out, size_t n)
{
    for (size_t i = 0; i < n; i++) dinp[i] += (out[i] > 0.0f && out[i] < 6.0f) ? dout[i] : 0.0f;
}

/* ---- pooling ---------------------------------------------------------------- */

/* The in-bounds window of output pixel (oy, ox): rows [y0, y1), cols [x0, x1). */
static void pool_window(const reef_conv_dims *d, int oy, int ox, int *y0, int *y1, int *x0, int *x1)
{
    int ty = oy * d->stride - d->pad_top, tx = ox * d->stride - d->pad_left;
    *y0 = ty < 0 ? 0 : ty;
    *x0 = tx < 0 ? 0 : tx;
    *y1 = ty + d->kh > d->h ? d->h : ty + d->kh;
    *x1 = tx + d->kw > d->w ? d->w : tx + d->kw;
}

REEF_HOT
void reef_avgpool_forward(float *out, const float *inp, const reef_conv_dims *d)
{
    const int c = d->c;
    for (int n = 0; n < d->n; n++)
        for (int oy = 0; oy < d->oh; oy++)
            for (int ox = 0; ox < d->ow; ox++) {
                int y0, y1, x0, x1;
                pool_window(d, oy, ox, &y0, &y1, &x0, &x1);
                float *o = out + (((size_t)n * d->oh + oy) * d->ow + ox) * c;
                memset(o, 0, c * sizeof *o);
                for (int y = y0; y < y1; y++)
                    for (int x = x0; x < x1; x++) {
                        const float *v = inp + (((size_t)n * d->h + y) * d->w + x) * c;
                        for (int j = 0; j < c; j++) o[j] += v[j];
                    }
                float inv = 1.0f / (float)((y1 - y0) * (x1 - x0));
                for (int j = 0; j < c; j++) o[j] *= inv;
            }
}

REEF_HOT
void reef_avgpool_backward(float *dinp, const float *dout, const reef_conv_dims *d)
{
    const int c = d->c;
    for (int n = 0; n < d->n; n++)
        for (int oy = 0; oy < d->oh; oy++)
            for (int ox = 0; ox < d->ow; ox++) {
                int y0, y1, x0, x1;
                pool_window(d, oy, ox, &y0, &y1, &x0, &x1);
                const float *g = dout + (((size_t)n * d->oh + oy) * d->ow + ox) * c;
                float inv = 1.0f / (float)((y1 - y0) * (x1 - x0));
                for (int y = y0; y < y1; y++)
                    for (int x = x0; x < x1; x++) {
                        float *dv = dinp + (((size_t)n * d->h + y) * d->w + x) * c;
                        for (int j = 0; j < c; j++) dv[j] += g[j] * inv;
                    }
            }
}

void reef_maxpool_forward(float *out, const float *inp, const reef_conv_dims *d)
{
    const int c = d->c;
    for (int n = 0; n < d->n; n++)
        for (int oy = 0; oy < d->oh; oy++)
            for (int ox = 0; ox < d->ow; ox++) {
                int y0, y1, x0, x1;
                pool_window(d, oy, ox, &y0, &y1, &x0, &x1);
                float *o = out + (((size_t)n * d->oh + oy) * d->ow + ox) * c;
                for (int j = 0; j < c; j++) o[j] = -FLT_MAX;
                for (int y = y0; y < y1; y++)
                    for (int x = x0; x < x1; x++) {
                        const float *v = inp + (((size_t)n * d->h + y) * d->w + x) * c;
                        for (int j = 0; j < c; j++) o[j] = v[j] > o[j] ? v[j] : o[j];
                    }
            }
}

void reef_maxpool_backward(float *dinp, const float *dout, const float *inp, const reef_conv_dims *d)
{
    const int c = d->c;
    for (int n = 0; n < d->n; n++)
        for (int oy = 0; oy < d->oh; oy++)
            for (int ox = 0; ox < d->ow; ox++) {
                int y0, y1, x0, x1;
                pool_window(d, oy, ox, &y0, &y1, &x0, &x1);
                const float *g = dout + (((size_t)n * d->oh + oy) * d->ow + ox) * c;
                for (int j = 0; j < c; j++) {
                    size_t best = 0;
                    float best_v = -FLT_MAX;
                    for (int y = y0; y < y1; y++)
                        for (int x = x0; x < x1; x++) {
                            size_t at = (((size_t)n * d->h + y) * d->w + x) * c + j;
                            if (inp[at] > best_v || (y == y0 && x == x0)) best_v = inp[at], best = at;
                        }
                    dinp[best] += g[j];
                }
            }
}

REEF_HOT
void reef_gap_forward(float *out, const float *inp, int n, int hw, int c)
{
    const float inv = 1.0f / (float)hw;
    for (int i = 0; i < n; i++) {
        float *o = out + (size_t)i * c;
        memset(o, 0, c * sizeof *o);
        for (int p = 0; p < hw; p++) {
            const float *v = inp + ((size_t)i * hw + p) * c;
            for (int j = 0; j < c; j++) o[j] += v[j];
        }
        for (int j = 0; j < c; j++) o[j] *= inv;
    }
}

REEF_HOT
void reef_gap_backward(float *dinp, const float *dout, int n, int hw, int c)
{
    const float inv = 1.0f / (float)hw;
    for (int i = 0; i < n; i++) {
        const float *g = dout + (size_t)i * c;
        for (int p = 0; p < hw; p++) {
            float *dv = dinp + ((size_t)i * hw + p) * c;
            for (int j = 0; j < c; j++) dv[j] += g[j] * inv;
        }
    }
}

/* ---- residual add, dropout ------------------------------------------------ */

REEF_HOT
void reef_add_forward(float *out, const float *a, const float *b, size_t n)
{
    for (size_t i = 0; i < n; i++) out[i] = a[i] + b[i];
}

REEF_HOT
void reef_add_backward(float *da, float *db, const float *dout, size_t n)
{
    if (da)
        for (size_t i = 0; i < n; i++) da[i] += dout[i];
    if (db)
        for (size_t i = 0; i < n; i++) db[i] += dout[i];
}

void reef_dropout_forward(float *out, float *mask, const float *inp, size_t n, float p, reef_rng *rng)
{
    const float keep = 1.0f / (1.0f - p);
    for (size_t i = 0; i < n; i++) {
        mask[i] = reef_rng_uniform(rng) < p ? 0.0f : keep;
        out[i] = inp[i] * mask[i];
    }
}

void reef_dropout_backward(float *dinp, const float *dout, const float *mask, size_t n)
{
    for (size_t i = 0; i < n; i++) dinp[i] += dout[i] * mask[i];
}

/* ---- softmax cross-entropy -------------------------------------------------- */

double reef_softmax_xent_forward(float *losses, float *probs, const float *logits,
                                 const uint16_t *labels, const float *class_weights,
                                 float smoothing, int n, int k)
{
    double total = 0;
    for (int i = 0; i < n; i++) {
        const float *z = logits + (size_t)i * k;
        float *p = probs + (size_t)i * k;
        float zmax = z[0];
        for (int j = 1; j < k; j++) zmax = z[j] > zmax ? z[j] : zmax;
        double sum = 0;
        for (int j = 0; j < k; j++) sum += exp((double)z[j] - zmax);
        double logsum = log(sum);
        double loss = 0;
        for (int j = 0; j < k; j++) {
            double logp = (double)z[j] - zmax - logsum;
            p[j] = (float)exp(logp);
            double q = smoothing / k + (j == labels[i] ? 1.0 - smoothing : 0.0);
            loss -= q * logp;
        }
        if (class_weights) loss *= class_weights[labels[i]];
        losses[i] = (float)loss;
        total += loss;
    }
    return total;
}

void reef_softmax_xent_backward(float *dlogits, const float *probs, const uint16_t *labels,
                                const float *class_weights, float smoothing, float scale,
                                int n, int k)
{
    for (int i = 0; i < n; i++) {
        float s = scale * (class_weights ? class_weights[labels[i]] : 1.0f);
        const float *p = probs + (size_t)i * k;
        float *g = dlogits + (size_t)i * k;
        for (int j = 0; j < k; j++) {
            float q = smoothing / k + (j == labels[i] ? 1.0f - smoothing : 0.0f);
            g[j] += s * (p[j] - q);
        }
    }
}
