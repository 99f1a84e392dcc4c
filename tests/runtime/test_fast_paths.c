/* The fast kernels' special paths against TFLite's arithmetic and the
 * scalar references: the two-SMLAL requantization (rq.h) over the whole
 * int32 range, layers with biases near 2^30 and left shifts (which must
 * fall back), the widened-input fully-connected path, and the 3x3
 * depthwise sliding window with every padding, stride, batch, odd channel
 * count and activation range, and the first-conv loop (conv.c, conv_c3). */
#include "testing.h"

#include <math.h>
#include <string.h>

#include "../../runtime/src/rq.h"
#include "reef/reef.h"
#include "reef/requant.h"

static uint64_t rng = 88172645463325252ull;
static uint32_t rnd(void)
{
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (uint32_t)(rng >> 16);
}
static int rnd_in(int lo, int hi) { return lo + (int)(rnd() % (uint32_t)(hi - lo + 1)); }

static int32_t random_acc(void)
{
    switch (rnd() % 4) {
    case 0: return (int32_t)rnd() ^ (int32_t)(rnd() << 16);         /* anywhere */
    case 1: return rnd_in(-100000, 100000);                        /* typical */
    case 2: return (int32_t)((uint32_t)(rnd() % 2 ? INT32_MAX : INT32_MIN) + (uint32_t)rnd_in(-3, 3)); /* wraps */
    default: return (int32_t)((rnd() % 2 ? 1 : -1) * ((1 << rnd_in(0, 20)) + rnd_in(-1, 1)));
    }
}

/* Ties sit at acc * M = k * 2^(31 + r) -/+ 2^(30 + r): pick accumulators
 * near them for small multipliers so both rounding steps are exercised. */
static void test_rq_matches_tflite(void **state)
{
    (void)state;
    int64_t checked = 0;
    for (int i = 0; i < 2000000; i++) {
        int32_t shift = rnd_in(-31, -1), mult = (int32_t)(0x40000000u | (rnd() >> 2));
        if (i % 7 == 0) mult = 1 << 30; /* exact powers of two: many ties */
        if (i % 50 == 0) mult = 0, shift = rnd_in(-31, 5);
        int32_t acc = random_acc(), bias = (int32_t)rnd() >> rnd_in(0, 31);
        reef_rq q;
        assert_true(reef_rq_init(&q, bias, mult, shift));
        int32_t sum = (int32_t)((uint32_t)acc - (uint32_t)bias);
        int32_t want = reef_requantize(acc, mult, shift), got = reef_rq_apply(sum, &q);
        if (got != want) fail_msg("acc %d M %d shift %d: got %d, want %d", acc, mult, shift, got, want);
        checked++;
    }
    reef_rq q;
    assert_false(reef_rq_init(&q, 0, 1 << 30, 0));
    assert_false(reef_rq_init(&q, 0, 1 << 30, 3));
    printf("requantization: %lld cases identical to TFLite's\n", (long long)checked);
}

static int count_diff(const int8_t *a, const int8_t *b, int n)
{
    int bad = 0;
    for (int i = 0; i < n; i++) bad += a[i] != b[i];
    return bad;
}

static void fill(int8_t *v, int n)
{
    for (int i = 0; i < n; i++) v[i] = (int8_t)rnd_in(-128, 127);
}

static void quant(int32_t *mult, int8_t *shift, int32_t *bias, int n, int k, int extreme)
{
    int base = -(int)(7.5 + 0.5 * log2((double)k));
    for (int i = 0; i < n; i++) {
        mult[i] = (int32_t)(0x40000000u | (rnd() >> 2));
        shift[i] = (int8_t)(base + rnd_in(-2, 2));
        bias[i] = rnd_in(-20000, 20000);
        if (extreme && rnd() % 3 == 0) bias[i] = (rnd() % 2 ? 1 : -1) * ((1 << 30) + rnd_in(0, 1000));
        if (extreme && rnd() % 5 == 0) shift[i] = (int8_t)-rnd_in(24, 31);
        if (extreme && rnd() % 7 == 0) mult[i] = 0, shift[i] = 0;
    }
}

static reef_activation activation(int32_t zp)
{
    reef_activation a = {-128, 127};
    if (rnd() % 3 == 1) a.min = zp;
    if (rnd() % 3 == 2) a.min = zp, a.max = zp + 40 > 127 ? 127 : zp + 40;
    return a;
}

/* Biases near 2^30, shifts down to -31, zero multipliers; and a left shift
 * in one channel, which must send the layer to the reference. */
static void test_conv_extremes(void **state)
{
    (void)state;
    /* outputs grow with padding: at most (9 + 2 * 2 - 1) squared positions */
    static int8_t in[2 * 9 * 9 * 12], f[20 * 3 * 3 * 12], got[2 * 12 * 12 * 20], want[2 * 12 * 12 * 20];
    static int8_t shift[20];
    static int32_t mult[20], bias[20], scratch[8192];
    int bad = 0;
    for (int t = 0; t < 300; t++) {
        reef_dims id = {rnd_in(1, 2), rnd_in(1, 9), rnd_in(1, 9), rnd_in(1, 12)};
        int kh = rnd_in(1, 3), kw = rnd_in(1, 3), s = rnd_in(1, 2);
        reef_dims fd = {rnd_in(1, 20), kh, kw, id.c};
        reef_conv_params p = {rnd_in(-127, 128), rnd_in(-128, 127), {s, s}, {rnd_in(0, kh - 1), rnd_in(0, kw - 1)},
                              {1, 1}, {-128, 127}, 0};
        p.activation = activation(p.output_offset);
        reef_dims od = {id.n, (id.h + 2 * p.padding.h - kh) / s + 1, (id.w + 2 * p.padding.w - kw) / s + 1, fd.n};
        if (od.h < 1 || od.w < 1) continue;
        assert_true(reef_dims_count(&od) <= (int)sizeof got);
        fill(in, reef_dims_count(&id));
        fill(f, reef_dims_count(&fd));
        quant(mult, shift, bias, fd.n, kh * kw * id.c, 1);
        if (t % 10 == 0) shift[rnd_in(0, fd.n - 1)] = (int8_t)rnd_in(0, 2), mult[0] |= 1 << 30;
        reef_per_channel_quant q = {mult, shift};
        reef_context ctx = {scratch, sizeof scratch};
        assert_true(reef_conv_s8_get_buffer_size(&p, &id, &fd, &od) <= (int32_t)sizeof scratch);
        assert_int_equal(reef_conv_s8(&ctx, &p, &q, &id, in, &fd, f, bias, &od, got), REEF_OK);
        assert_int_equal(reef_conv_s8_ref(NULL, &p, &q, &id, in, &fd, f, bias, &od, want), REEF_OK);
        int d = count_diff(got, want, reef_dims_count(&od));
        if (d) printf("conv case %d: %d bytes differ\n", t, d);
        bad += d;
    }
    assert_int_equal(bad, 0);
}

/* Short-K 1x1 convolutions read in place (conv.c's conv_small_channel):
 * K = 4..16, stride 1, no padding. On the M4, K = 8 with the range [-128,
 * 127] and a shift of -2..-23 runs pairs of positions in conv_small8_asm;
 * this host build runs the C loop on the same shapes (the M4 run of the
 * same cases: tests/runtime/arm_selftest.h, st_conv_small). Shifts -1 and
 * -24..-31 in some channels, extreme inputs and filters, odd position
 * counts. */
static void test_conv_small_k(void **state)
{
    (void)state;
    static int8_t in[2 * 12 * 12 * 16], f[24 * 16], got[2 * 12 * 12 * 24], want[2 * 12 * 12 * 24];
    static int8_t shift[24];
    static int32_t mult[24], bias[24], scratch[4096];
    int bad = 0, k8_asm = 0, k8_mixed = 0, odd = 0;
    for (int t = 0; t < 400; t++) {
        const int32_t c_in = t % 6 == 4 ? 4 * rnd_in(1, 4) : 8;
        reef_dims id = {rnd_in(1, 2), rnd_in(1, 12), rnd_in(1, 12), c_in};
        reef_dims fd = {rnd_in(1, 24), 1, 1, c_in};
        reef_conv_params p = {rnd_in(-127, 128), rnd_in(-128, 127), {1, 1}, {0, 0}, {1, 1}, {-128, 127}, 0};
        if (t % 8 == 5) p.activation = activation(p.output_offset);
        const int plain = p.activation.min == -128 && p.activation.max == 127;
        reef_dims od = {id.n, id.h, id.w, fd.n};
        int fallback = 0;
        fill(in, reef_dims_count(&id));
        fill(f, reef_dims_count(&fd));
        quant(mult, shift, bias, fd.n, c_in, 1);
        for (int o = 0; o < fd.n; o++) {
            shift[o] = (int8_t)-rnd_in(6, 10);
            if (t % 4 == 3 && rnd_in(0, 2) == 0) shift[o] = (int8_t)(rnd_in(0, 1) ? -1 : -rnd_in(24, 31)), fallback = 1;
        }
        if (t % 4 == 1) {
            for (int k = 0; k < reef_dims_count(&fd); k++) f[k] = (int8_t)(rnd() % 2 ? 127 : -127);
            for (int k = 0; k < reef_dims_count(&id); k++) in[k] = (int8_t)(rnd() % 4 ? -128 : 127);
        }
        reef_per_channel_quant q = {mult, shift};
        reef_context ctx = {scratch, sizeof scratch};
        /* the short-K loop, but for K = 16 plain with two or more channels (the 2x2 loop) */
        assert_true(reef_conv_s8_path(&p, &id, &fd, &od) >= 2 || (c_in == 16 && plain && fd.n >= 2));
        assert_true(reef_conv_s8_get_buffer_size(&p, &id, &fd, &od) <= (int32_t)sizeof scratch);
        assert_int_equal(reef_conv_s8(&ctx, &p, &q, &id, in, &fd, f, bias, &od, got), REEF_OK);
        assert_int_equal(reef_conv_s8_ref(NULL, &p, &q, &id, in, &fd, f, bias, &od, want), REEF_OK);
        int d = count_diff(got, want, reef_dims_count(&od));
        if (d) printf("conv short-K case %d: %d bytes differ\n", t, d);
        bad += d;
        if (c_in == 8 && plain && id.n * id.h * id.w >= 2) {
            k8_asm += !fallback;
            k8_mixed += fallback;
        }
        odd += (id.n * id.h * id.w) & 1;
    }
    printf("conv short-K: 400 random cases (K = 8 plain, pairs on the M4's assembly: %d for every channel, %d beside "
           "the C loop; %d with an odd position count)\n",
           k8_asm, k8_mixed, odd);
    assert_true(k8_asm >= 100 && k8_mixed >= 30);
    assert_int_equal(bad, 0);
}

/* The first-conv loops (conv.c, conv_c3 and conv_c2: 3x3 over 3 or 2
 * channels, stride 2 across) against the reference on random shapes, each
 * asserted to take the loop of its channel count (one case in two each): stride 1 or 2 down, left and top padding 0-2 (odd left padding
 * takes the value-by-value widening), outputs past the input's right and
 * bottom edges (TFLite's uneven SAME padding), odd output widths (a lone
 * last position), batches, 4-16 channels, extreme biases, shifts and
 * inputs; then the shapes that must not take it. */
/* The resident variant of the paired loop (conv.c, conv_pairs_resident:
 * every block's columns widened once, 16 channels' weights at a time
 * copied to scratch): 1x1 with K 64-96 and C_OUT >= 2 K8 - K, 3x3 over 8
 * channels (K = 72) with C_OUT >= 136, batches, tails of 1-3 positions,
 * a last run of fewer than 8 channel pairs; each case asserted to take it,
 * against the reference. Then the shapes that must not: K < 64, fewer
 * than 16 positions, columns over 10 KB, columns over the layer's input
 * and output bytes. */
static void test_conv_resident(void **state)
{
    (void)state;
    static int8_t in[2 * 9 * 9 * 96], f[160 * 96], paired[160 * 96], got[2 * 9 * 9 * 160], want[2 * 9 * 9 * 160];
    static int8_t shift[160];
    static int32_t mult[160], bias[160], scratch[4096];
    const int cases = testing_sanitizer_run() ? 20 : 120;
    int bad = 0, three = 0, tails = 0, runs = 0, batched = 0, done = 0;
    for (int t = 0; t < cases; t++) {
        const int k3 = t % 4 == 3;
        reef_dims id = {rnd_in(1, 2), rnd_in(2, 8), rnd_in(2, 8), k3 ? 8 : rnd_in(64, 96)};
        const int k = k3 ? 72 : id.c, k8 = (k + 7) & ~7;
        /* columns (2 K8 bytes a position) within the input and output bytes: C_OUT >= 2 K8 - C_IN */
        reef_dims fd = {2 * rnd_in(k3 ? 68 : (2 * k8 - k + 1) / 2, 80), k3 ? 3 : 1, k3 ? 3 : 1, id.c};
        reef_conv_params p = {rnd_in(-127, 128), rnd_in(-128, 127), {1, 1}, {k3, k3}, {1, 1}, {-128, 127}, 0};
        reef_dims od = {id.n, id.h, id.w, fd.n};
        /* at least 4 blocks, within 10 KB of columns */
        const int blocks = id.n * id.h * id.w / 4;
        if (blocks < 4 || blocks * 8 * k8 > 10240) continue;
        fill(in, reef_dims_count(&id));
        for (int i = 0; i < fd.n * k; i++) f[i] = (int8_t)rnd_in(-127, 127);
        quant(mult, shift, bias, fd.n, k, 0);
        if (t % 3 == 1) shift[rnd_in(0, fd.n - 1)] = (int8_t)(rnd() % 2 ? -1 : -rnd_in(24, 31)); /* other forms */
        reef_per_channel_quant q = {mult, shift};
        reef_context ctx = {scratch, sizeof scratch};
        assert_true(reef_conv_s8_pairable(&p, &q, &id, &fd, &od, f));
        reef_conv_s8_pair(&fd, f, paired);
        reef_conv_params pp = p;
        pp.paired = 1;
        assert_true(reef_conv_s8_resident(&pp, &id, &fd, &od));
        assert_true(reef_conv_s8_get_buffer_size(&pp, &id, &fd, &od) <= (int32_t)sizeof scratch);
        const int32_t *b = t % 5 ? bias : NULL;
        assert_int_equal(reef_conv_s8(&ctx, &pp, &q, &id, in, &fd, paired, b, &od, got), REEF_OK);
        assert_int_equal(reef_conv_s8_ref(NULL, &p, &q, &id, in, &fd, f, b, &od, want), REEF_OK);
        bad += count_diff(got, want, reef_dims_count(&od));
        three += k3, tails += (id.n * id.h * id.w) % 4 != 0, runs += fd.n % 16 != 0, batched += id.n > 1, done++;
    }
    printf("conv resident: %d random cases (%d 3x3, %d with a tail of positions, %d with a short last run of "
           "channels, %d batched) identical to the reference\n", done, three, tails, runs, batched);
    assert_true(done > cases / 2 && three > cases / 20 && tails > cases / 20 && runs > cases / 20);
    assert_int_equal(bad, 0);
    /* the shapes that must not take it */
    reef_conv_params p = {0, 0, {1, 1}, {0, 0}, {1, 1}, {-128, 127}, 1};
    reef_dims id = {1, 6, 6, 128}, fd = {128, 1, 1, 128}, od = {1, 6, 6, 128};
    assert_true(reef_conv_s8_resident(&p, &id, &fd, &od)); /* VWW's 6x6 K = 128 layers */
    id.c = fd.c = 32;
    assert_false(reef_conv_s8_resident(&p, &id, &fd, &od)); /* K < 64 */
    id.c = fd.c = 128, id.h = od.h = 2, id.w = od.w = 7;
    assert_false(reef_conv_s8_resident(&p, &id, &fd, &od)); /* 14 positions */
    id.h = od.h = id.w = od.w = 12, id.c = fd.c = 64, fd.n = od.c = 64;
    assert_false(reef_conv_s8_resident(&p, &id, &fd, &od)); /* 18 KB of columns */
    id.h = od.h = id.w = od.w = 6, fd.n = od.c = 16;
    assert_false(reef_conv_s8_resident(&p, &id, &fd, &od)); /* columns over the input and output */
}

/* The filter read from scratch (REEF_CONV_PATH_WEIGHTS: the paired plain
 * loop with the filter copied once after its buffers) against the
 * reference: 1x1 and 3x3 (padded, gathered) layers off the resident
 * path (K 8-96, 2-48 channels, 16-162 positions, batches, tails of 1-3
 * positions, one in three with a channel on another requantization
 * form), each asserted to take it (the copy found in the scratch) with
 * exactly reef_conv_s8_weights_buffer_size bytes; with a byte less, the
 * filter stays in place (flash) and the output is the same. Then the
 * shapes that must not: fewer than 16 positions, resident ones. */
static void test_conv_weights(void **state)
{
    (void)state;
    static int8_t in[2 * 9 * 9 * 96], f[48 * 9 * 96], paired[48 * 9 * 96], got[2 * 9 * 9 * 48],
        want[2 * 9 * 9 * 48], less[2 * 9 * 9 * 48];
    static int8_t shift[48];
    static int32_t mult[48], bias[48], scratch[16384];
    const int cases = testing_sanitizer_run() ? 30 : 200;
    int bad = 0, three = 0, tails = 0, batched = 0, done = 0;
    for (int t = 0; t < cases; t++) {
        const int k3 = t % 4 == 3;
        reef_dims id = {rnd_in(1, 2), rnd_in(2, 9), rnd_in(2, 9), k3 ? rnd_in(1, 12) : rnd_in(8, 96)};
        reef_dims fd = {2 * rnd_in(1, 24), k3 ? 3 : 1, k3 ? 3 : 1, id.c};
        reef_conv_params p = {rnd_in(-127, 128), rnd_in(-128, 127), {1, 1}, {k3, k3}, {1, 1}, {-128, 127}, 0};
        reef_dims od = {id.n, id.h, id.w, fd.n};
        const int k = fd.h * fd.w * fd.c, k8 = (k + 7) & ~7;
        fill(in, reef_dims_count(&id));
        for (int i = 0; i < fd.n * k; i++) f[i] = (int8_t)rnd_in(-127, 127);
        quant(mult, shift, bias, fd.n, k, 0);
        if (t % 3 == 1) shift[rnd_in(0, fd.n - 1)] = (int8_t)(rnd() % 2 ? -1 : -rnd_in(24, 31)); /* other forms */
        reef_per_channel_quant q = {mult, shift};
        if (!reef_conv_s8_pairable(&p, &q, &id, &fd, &od, f)) continue;
        reef_conv_s8_pair(&fd, f, paired);
        reef_conv_params pp = p;
        pp.paired = 1;
        const int32_t size = reef_conv_s8_weights_buffer_size(&pp, &id, &fd, &od);
        if (id.n * id.h * id.w < 16 || reef_conv_s8_resident(&pp, &id, &fd, &od)) {
            assert_int_equal(size, 0);
            continue;
        }
        assert_true(size > 0 && size <= (int32_t)sizeof scratch);
        const int32_t copy_at = size - fd.n * k8; /* the plain loop's buffers, then the filter */
        assert_int_equal(copy_at, reef_conv_s8_get_buffer_size(&pp, &id, &fd, &od));
        const int32_t *b = t % 5 ? bias : NULL;
        memset(scratch, 0x5a, (size_t)size);
        reef_context ctx = {scratch, size};
        assert_int_equal(reef_conv_s8(&ctx, &pp, &q, &id, in, &fd, paired, b, &od, got), REEF_OK);
        assert_memory_equal((int8_t *)scratch + copy_at, paired, (size_t)(fd.n * k8)); /* it took the copy */
        assert_int_equal(reef_conv_s8_ref(NULL, &p, &q, &id, in, &fd, f, b, &od, want), REEF_OK);
        bad += count_diff(got, want, reef_dims_count(&od));
        /* a byte short: the filter read in place */
        memset(scratch, 0x5a, (size_t)size);
        ctx.size = size - 1;
        assert_int_equal(reef_conv_s8(&ctx, &pp, &q, &id, in, &fd, paired, b, &od, less), REEF_OK);
        assert_int_equal(((int8_t *)scratch)[size - 1], 0x5a);
        bad += count_diff(less, want, reef_dims_count(&od));
        three += k3, tails += (id.n * id.h * id.w) % 4 != 0, batched += id.n > 1, done++;
    }
    printf("conv weights from scratch: %d random cases (%d 3x3, %d with a tail of positions, %d batched) "
           "identical to the reference\n", done, three, tails, batched);
    assert_true(done > cases / 2 && three > cases / 20 && tails > cases / 20 && batched > cases / 20);
    assert_int_equal(bad, 0);
    /* the shapes that must not take it */
    reef_conv_params p = {0, 0, {1, 1}, {0, 0}, {1, 1}, {-128, 127}, 1};
    reef_dims id = {1, 12, 12, 64}, fd = {64, 1, 1, 64}, od = {1, 12, 12, 64};
    assert_true(reef_conv_s8_weights_buffer_size(&p, &id, &fd, &od) > 0); /* VWW's 12x12 K = 64 layer */
    id.h = od.h = 3, id.w = od.w = 5;
    assert_int_equal(reef_conv_s8_weights_buffer_size(&p, &id, &fd, &od), 0); /* 15 positions */
    id.h = od.h = id.w = od.w = 6, id.c = fd.c = 128, fd.n = od.c = 128;
    assert_int_equal(reef_conv_s8_weights_buffer_size(&p, &id, &fd, &od), 0); /* resident */
}

static void test_conv_c3(void **state)
{
    (void)state;
    static int8_t in[2 * 21 * 25 * 3], f[16 * 27], got[2 * 22 * 14 * 16], want[2 * 22 * 14 * 16];
    static int8_t shift[16];
    static int32_t mult[16], bias[16], scratch[2048];
    const int cases = testing_sanitizer_run() ? 60 : 400;
    int bad = 0, odd_lead = 0, odd_w = 0, past_edge = 0, batched = 0, down1 = 0, two = 0;
    for (int t = 0; t < cases; t++) {
        const int c = 2 + (t & 1);
        reef_dims id = {rnd_in(1, 2), rnd_in(1, 21), rnd_in(1, 25), c};
        const int sh = rnd_in(1, 2), ph = rnd_in(0, 2), pw = rnd_in(0, 2);
        reef_dims fd = {4 * rnd_in(1, 4), 3, 3, c};
        reef_conv_params p = {rnd_in(-127, 128), rnd_in(-128, 127), {sh, 2}, {ph, pw}, {1, 1}, {-128, 127}, 0};
        reef_dims od = {id.n, (id.h + 2 * ph - 3) / sh + 1, (id.w + 2 * pw - 3) / 2 + 1, fd.n};
        if (id.h + 2 * ph < 3 || id.w + 2 * pw < 3) od.h = od.w = 0;
        if (rnd() % 3 == 0) od.h++, od.w++, past_edge++;
        if (od.h < 1 || od.w < 1) {
            t--;
            continue;
        }
        fill(in, reef_dims_count(&id));
        fill(f, reef_dims_count(&fd));
        quant(mult, shift, bias, fd.n, 9 * c, 1);
        if (t % 4 == 1) {
            for (int k = 0; k < reef_dims_count(&fd); k++) f[k] = (int8_t)(rnd() % 2 ? 127 : -128);
            for (int k = 0; k < reef_dims_count(&id); k++) in[k] = (int8_t)(rnd() % 4 ? -128 : 127);
        }
        reef_per_channel_quant q = {mult, shift};
        reef_context ctx = {scratch, sizeof scratch};
        assert_int_equal(reef_conv_s8_path(&p, &id, &fd, &od), c == 3 ? REEF_CONV_PATH_C3 : REEF_CONV_PATH_C2);
        assert_true(reef_conv_s8_get_buffer_size(&p, &id, &fd, &od) <= (int32_t)sizeof scratch);
        assert_true(reef_dims_count(&od) <= (int)sizeof got);
        assert_int_equal(reef_conv_s8(&ctx, &p, &q, &id, in, &fd, f, bias, &od, got), REEF_OK);
        assert_int_equal(reef_conv_s8_ref(NULL, &p, &q, &id, in, &fd, f, bias, &od, want), REEF_OK);
        int d = count_diff(got, want, reef_dims_count(&od));
        if (d) printf("conv c%d case %d: %d bytes differ\n", c, t, d);
        bad += d;
        odd_lead += pw & 1, odd_w += od.w & 1, batched += id.n > 1, down1 += sh == 1, two += c == 2;
    }
    printf("conv first-conv loops: %d random cases, each on its loop (%d over 2 channels, %d over 3; %d odd left "
           "padding, %d odd output widths, %d past the right and bottom edges, %d batched, %d at stride 1 down)\n",
           cases, two, cases - two, odd_lead, odd_w, past_edge, batched, down1);
    assert_int_equal(bad, 0);
    /* not on it: clamped, 2 or 4 input channels, stride 1 across, 6 channels, 3x2 */
    reef_dims id = {1, 9, 9, 3}, fd = {8, 3, 3, 3}, od = {1, 4, 4, 8};
    reef_conv_params p = {0, 0, {2, 2}, {0, 0}, {1, 1}, {-128, 127}, 0};
    assert_int_equal(reef_conv_s8_path(&p, &id, &fd, &od), REEF_CONV_PATH_C3);
    p.activation.min = 0;
    assert_true(reef_conv_s8_path(&p, &id, &fd, &od) != REEF_CONV_PATH_C3);
    p.activation.min = -128, p.stride.w = 1;
    assert_true(reef_conv_s8_path(&p, &id, &fd, &od) != REEF_CONV_PATH_C3);
    p.stride.w = 2, fd.n = 6;
    assert_true(reef_conv_s8_path(&p, &id, &fd, &od) != REEF_CONV_PATH_C3);
    fd.n = 8, fd.c = id.c = 4;
    assert_true(reef_conv_s8_path(&p, &id, &fd, &od) != REEF_CONV_PATH_C3);
    assert_true(reef_conv_s8_path(&p, &id, &fd, &od) != REEF_CONV_PATH_C2);
    fd.c = id.c = 2;
    assert_int_equal(reef_conv_s8_path(&p, &id, &fd, &od), REEF_CONV_PATH_C2);
    p.activation.max = 100; /* clamped: not on the 2-channel loop either */
    assert_true(reef_conv_s8_path(&p, &id, &fd, &od) != REEF_CONV_PATH_C2);
    p.activation.max = 127, fd.n = 6;
    assert_true(reef_conv_s8_path(&p, &id, &fd, &od) != REEF_CONV_PATH_C2);
    fd.n = 8;
    fd.c = id.c = 3, fd.w = 2;
    assert_true(reef_conv_s8_path(&p, &id, &fd, &od) != REEF_CONV_PATH_C3);
}

/* 1 when one of the positions conv.c takes four at a time (all but the
 * last positions % 4) has its 3x3 window wholly inside the input. */
static int any_interior_quad(const reef_dims *id, const reef_dims *od, int st, int pad)
{
    const int quads = od->n * od->h * od->w / 4 * 4;
    for (int p = 0; p < quads; p++) {
        const int y0 = p / od->w % od->h * st - pad, x0 = p % od->w * st - pad;
        if (y0 >= 0 && x0 >= 0 && y0 + 3 <= id->h && x0 + 3 <= id->w) return 1;
    }
    return 0;
}

/* The channel-pair layout (reef_conv_s8_pair) on the plain 2x2 loop
 * against the reference on the unpaired filter: 1x1 convs read in place
 * and 3x3 convs with padding (gathered columns, padded taps), K a
 * multiple of 8, and the bound (weights +-127, K = 256, inputs -128 with
 * offset -127, so |x| = 255); then the layers that must stay unpaired. */
static void test_conv_paired(void **state)
{
    (void)state;
    static int8_t in[2 * 8 * 8 * 256], f[24 * 288], paired[24 * 288], got[2 * 8 * 8 * 24], want[2 * 8 * 8 * 24];
    static int8_t shift[24];
    static int32_t mult[24], bias[24], scratch[4096];
    int bad = 0, three = 0, edges = 0, cases = 0, strided = 0, quads = 0, padded = 0, interior = 0;
    for (int t = 0; t < 300; t++) {
        const int edge = t % 10 == 5, k3 = t % 3 == 0 && !edge, st = t % 4 == 1 ? 2 : 1;
        /* every third case any channel count (K8 > K: the rows padded with zeros) */
        const int any_c = t % 3 == 2 && !edge;
        const int c_in = any_c ? rnd_in(k3 ? 2 : 17, k3 ? 32 : 96) : 8 * rnd_in(k3 ? 1 : 2, k3 ? 4 : 12);
        reef_dims id = {rnd_in(1, 2), rnd_in(1, 8), rnd_in(1, 8), edge ? 256 : c_in};
        reef_dims fd = {2 * rnd_in(1, 12), k3 ? 3 : 1, k3 ? 3 : 1, id.c};
        const int pad = k3 ? rnd_in(0, 1) : 0;
        reef_conv_params p = {rnd_in(-127, 128), rnd_in(-128, 127), {st, st}, {pad, pad}, {1, 1}, {-128, 127}, 0};
        reef_dims od = {id.n, (id.h + 2 * pad - fd.h) / st + 1, (id.w + 2 * pad - fd.w) / st + 1, fd.n};
        if (id.h + 2 * pad < fd.h || id.w + 2 * pad < fd.w) continue;
        const int k = fd.h * fd.w * id.c;
        assert_true(fd.n * k <= (int)sizeof f);
        fill(in, reef_dims_count(&id));
        for (int i = 0; i < fd.n * k; i++) f[i] = (int8_t)rnd_in(-127, 127);
        quant(mult, shift, bias, fd.n, k, 0);
        if (edge) {
            for (int i = 0; i < fd.n * k; i++) f[i] = (int8_t)(rnd() % 2 ? 127 : -127);
            for (int i = 0; i < reef_dims_count(&id); i++) in[i] = (int8_t)(rnd() % 4 ? -128 : 127);
            p.input_offset = -127;
            edges++;
        }
        reef_per_channel_quant q = {mult, shift};
        reef_context ctx = {scratch, sizeof scratch};
        assert_true(reef_conv_s8_get_buffer_size(&p, &id, &fd, &od) <= (int32_t)sizeof scratch);
        assert_true(reef_conv_s8_pairable(&p, &q, &id, &fd, &od, f));
        assert_true(reef_conv_s8_paired_size(&fd) <= (int32_t)sizeof paired);
        reef_conv_s8_pair(&fd, f, paired);
        reef_conv_params pp = p;
        pp.paired = 1;
        const int32_t *b = t % 7 ? bias : NULL;
        assert_int_equal(reef_conv_s8(&ctx, &pp, &q, &id, in, &fd, paired, b, &od, got), REEF_OK);
        assert_int_equal(reef_conv_s8_ref(NULL, &p, &q, &id, in, &fd, f, b, &od, want), REEF_OK);
        assert_int_equal(reef_conv_s8_ref(NULL, &pp, &q, &id, in, &fd, paired, b, &od, want + 0 * 1),
                         REEF_ARG_ERROR);
        int d = count_diff(got, want, reef_dims_count(&od));
        if (d) printf("conv paired case %d: %d bytes differ\n", t, d);
        bad += d;
        three += k3;
        strided += st == 2;
        padded += (k & 7) != 0;
        quads += od.n * od.h * od.w >= 4; /* four positions at a time (conv_channels_quad_paired) */

        /* a 3x3 window wholly inside the input among the four-at-a-time
         * positions: gathered row by row (conv_walk_column) */
        interior += k3 && any_interior_quad(&id, &od, st, pad);
        cases++;
    }
    printf("conv paired: %d random cases (%d 3x3, %d stride 2, %d at the bound, %d with 4 positions at a time, "
           "%d with K not a multiple of 8, %d with 3x3 windows gathered row by row) identical to the reference\n",
           cases, three, strided, edges, quads, padded, interior);
    assert_true(cases > 250);
    assert_true(interior > 40);
    assert_true(quads > 200);
    assert_true(padded > 50);
    assert_int_equal(bad, 0);

    reef_conv_params p = {0, 0, {1, 1}, {0, 0}, {1, 1}, {-128, 127}, 0};
    reef_dims id = {1, 4, 4, 264}, fd = {4, 1, 1, 264}, od = {1, 4, 4, 4};
    reef_per_channel_quant q = {mult, shift};
    for (int i = 0; i < 4; i++) mult[i] = 1 << 30, shift[i] = -8;
    for (int i = 0; i < 4 * 264; i++) f[i] = 127;
    assert_false(reef_conv_s8_pairable(&p, &q, &id, &fd, &od, f)); /* 255 * 127 * 264 >= 2^23 */
    id.c = fd.c = 256;
    assert_true(reef_conv_s8_pairable(&p, &q, &id, &fd, &od, f));
    f[256 + 3] = -128, f[3] = -5; /* 256 * -128 - 5 does not fit int16 */
    assert_false(reef_conv_s8_pairable(&p, &q, &id, &fd, &od, f));
    f[3] = 5;
    assert_true(reef_conv_s8_pairable(&p, &q, &id, &fd, &od, f));
    shift[2] = 1; /* a left shift: the reference kernel */
    assert_false(reef_conv_s8_pairable(&p, &q, &id, &fd, &od, f));
    shift[2] = -8;
    p.activation.min = 0; /* clamped: the C 2x2 loop */
    assert_false(reef_conv_s8_pairable(&p, &q, &id, &fd, &od, f));
    p.activation.min = -128;
    fd.n = od.c = 3; /* odd C_OUT */
    assert_false(reef_conv_s8_pairable(&p, &q, &id, &fd, &od, f));
    fd.n = od.c = 4, id.c = fd.c = 12; /* K = 12: the short-K loop takes it */
    assert_false(reef_conv_s8_pairable(&p, &q, &id, &fd, &od, f));
    id.c = fd.c = 20; /* K = 20: paired, rows run 24 values */
    assert_true(reef_conv_s8_pairable(&p, &q, &id, &fd, &od, f));
    assert_int_equal(reef_conv_s8_paired_size(&fd), 4 * 24);
}

static void test_fc_widened(void **state)
{
    (void)state;
    static int8_t in[3 * 300], f[40 * 300], got[3 * 40], want[3 * 40];
    static int8_t shift[40];
    static int32_t mult[40], bias[40], scratch[256];
    int bad = 0;
    for (int t = 0; t < 600; t++) {
        reef_dims id = {rnd_in(1, 3), 1, 1, rnd_in(1, 300)}, fd = {rnd_in(1, 40), 1, 1, id.c};
        reef_dims od = {id.n, 1, 1, fd.n};
        reef_fc_params p = {rnd_in(-127, 128), 0, rnd_in(-128, 127), {-128, 127}, 0};
        p.activation = activation(p.output_offset);
        fill(in, id.n * id.c);
        fill(f, fd.n * id.c);
        quant(mult, shift, bias, fd.n, id.c, t % 2);
        if (t % 17 == 0) shift[0] = (int8_t)rnd_in(0, 3);
        int per_channel = t % 3 != 0;
        reef_per_channel_quant q = {mult, shift};
        reef_per_tensor_quant qt = {mult[0], shift[0]};
        reef_context ctx = {scratch, sizeof scratch};
        assert_true(reef_fc_s8_get_buffer_size(&fd) <= (int32_t)sizeof scratch);
        const int32_t *b = t % 5 ? bias : NULL;
        if (per_channel)
            assert_int_equal(reef_fc_per_channel_s8(&ctx, &p, &q, &id, in, &fd, f, b, &od, got), REEF_OK);
        else
            assert_int_equal(reef_fc_s8(&ctx, &p, &qt, &id, in, &fd, f, b, &od, got), REEF_OK);
        assert_int_equal(reef_fc_s8_ref(NULL, &p, &q, per_channel, &id, in, &fd, f, b, &od, want), REEF_OK);
        bad += count_diff(got, want, id.n * fd.n);
    }
    assert_int_equal(bad, 0);
}

/* The row-pair layout (reef_fc_s8_pair) against the reference on the
 * unpaired filter: random shapes, and the edges of its bounds (weights
 * +-127 with sum |B| just under 2^16, inputs at -128). */
static void test_fc_paired(void **state)
{
    (void)state;
    static int8_t in[3 * 512], f[40 * 512], paired[40 * 512], got[3 * 40], want[3 * 40];
    static int8_t shift[40];
    static int32_t mult[40], bias[40], folded[40], scratch[512];
    int bad = 0, edges = 0;
    for (int t = 0; t < 400; t++) {
        const int edge = t % 8 == 0;
        reef_dims id = {rnd_in(1, 3), 1, 1, edge ? 512 : 4 * rnd_in(1, 75)};
        reef_dims fd = {4 * rnd_in(1, 10), 1, 1, id.c}, od = {id.n, 1, 1, fd.n};
        reef_fc_params p = {rnd_in(-127, 128), 0, rnd_in(-128, 127), {-128, 127}, 0};
        p.activation = activation(p.output_offset);
        fill(in, id.n * id.c);
        for (int i = 0; i < fd.n * id.c; i++) f[i] = (int8_t)rnd_in(-127, 127); /* TFLite's weights */
        if (edge) {
            /* 128 * 127 * 512 = 2^23 - 65536: the largest B . x that is paired */
            for (int i = 0; i < fd.n * id.c; i++) f[i] = (int8_t)(rnd() % 2 ? 127 : -127);
            for (int i = 0; i < id.n * id.c; i++) in[i] = (int8_t)(rnd() % 4 ? -128 : 127);
            p.input_offset = rnd_in(-127, 128);
            edges++;
        }
        quant(mult, shift, bias, fd.n, id.c, t % 2);
        int per_channel = t % 3 != 0;
        reef_per_channel_quant q = {mult, shift};
        reef_per_tensor_quant qt = {mult[0], shift[0]};
        reef_context ctx = {scratch, sizeof scratch};
        const int32_t *b = t % 5 ? bias : NULL;
        assert_true(reef_fc_s8_get_buffer_size(&fd) <= (int32_t)sizeof scratch);
        assert_true(reef_fc_s8_pairable(&p, &fd, f));
        reef_fc_s8_pair(&p, &fd, f, b, paired, folded);
        reef_fc_params pp = p;
        pp.paired = 1;
        if (per_channel)
            assert_int_equal(reef_fc_per_channel_s8(&ctx, &pp, &q, &id, in, &fd, paired, folded, &od, got), REEF_OK);
        else
            assert_int_equal(reef_fc_s8(&ctx, &pp, &qt, &id, in, &fd, paired, folded, &od, got), REEF_OK);
        assert_int_equal(reef_fc_s8_ref(NULL, &p, &q, per_channel, &id, in, &fd, f, b, &od, want), REEF_OK);
        bad += count_diff(got, want, id.n * fd.n);
        /* paired needs its scratch; the reference refuses the layout */
        assert_int_equal(reef_fc_s8(NULL, &pp, &qt, &id, in, &fd, paired, folded, &od, got), REEF_ARG_ERROR);
        assert_int_equal(reef_fc_s8_ref(NULL, &pp, &q, 0, &id, in, &fd, paired, folded, &od, want),
                         REEF_ARG_ERROR);
    }
    printf("fc paired: 400 random cases (%d at the bound) identical to the reference\n", edges);
    assert_int_equal(bad, 0);

    /* layers that must stay unpaired */
    reef_fc_params p = {0, 0, 0, {-128, 127}, 0};
    reef_dims fd = {4, 1, 1, 520};
    for (int i = 0; i < 4 * 520; i++) f[i] = 127;
    assert_false(reef_fc_s8_pairable(&p, &fd, f)); /* sum |B| = 66,040 >= 2^16 */
    fd.c = 512;
    assert_true(reef_fc_s8_pairable(&p, &fd, f));
    f[512 + 7] = -128, f[7] = -1; /* 256 * -128 - 1 does not fit int16 */
    assert_false(reef_fc_s8_pairable(&p, &fd, f));
    f[7] = 0;
    assert_true(reef_fc_s8_pairable(&p, &fd, f));
    fd.c = 510;
    assert_false(reef_fc_s8_pairable(&p, &fd, f)); /* K not a multiple of 4 */
    fd = (reef_dims){6, 1, 1, 8};
    assert_false(reef_fc_s8_pairable(&p, &fd, f)); /* C_OUT not a multiple of 4 */
    fd.n = 4;
    p.filter_offset = 1;
    assert_false(reef_fc_s8_pairable(&p, &fd, f)); /* not TFLite's scheme */
}

/* With its scratch (sliding window) and without (the per-pixel path). */
static void test_dw3x3(void **state)
{
    (void)state;
    static int8_t in[2 * 14 * 14 * 19], f[9 * 19], got[2 * 16 * 16 * 19], want[2 * 16 * 16 * 19];
    static int8_t shift[19];
    static int32_t mult[19], bias[19], scratch[4096];
    int bad = 0, fast = 0, columns = 0, left = 0, planes = 0;
    for (int t = 0; t < 600; t++) {
        reef_dims id = {rnd_in(1, 2), rnd_in(1, 14), rnd_in(1, 14), rnd_in(1, 19)};
        int s = rnd_in(1, 2);
        reef_dims fd = {1, 3, 3, id.c};
        reef_dw_conv_params p = {rnd_in(-127, 128), rnd_in(-128, 127), 1, {s, s}, {rnd_in(0, 2), rnd_in(0, 2)},
                                 {1, 1}, {-128, 127}};
        p.activation = activation(p.output_offset);
        reef_dims od = {id.n, (id.h + 2 * p.padding.h - 3) / s + 1, (id.w + 2 * p.padding.w - 3) / s + 1, id.c};
        if (od.h < 1 || od.w < 1) continue;
        assert_true(reef_dims_count(&od) <= (int)sizeof got);
        fill(in, reef_dims_count(&id));
        fill(f, 9 * id.c);
        quant(mult, shift, bias, id.c, 9, t % 2);
        if (t % 10 == 3) shift[rnd_in(0, id.c - 1)] = (int8_t)rnd_in(0, 2); /* the per-pixel path takes the layer */
        reef_per_channel_quant q = {mult, shift};
        int32_t need = reef_dw_conv_s8_get_buffer_size(&p, &id, &fd, &od);
        assert_true(need > 0 && need <= (int32_t)sizeof scratch);
        reef_context ctx = {scratch, t % 4 ? need : 0};
        fast += t % 4 != 0 && t % 10 != 3;
        columns += t % 4 != 0 && t % 10 != 3 && od.h > od.w; /* it slides down columns */
        left += t % 10 == 3;
        /* small maps at stride 1 slide over whole padded planes (dw3x3.c, DW3_PLANE_BYTES) */
        planes += t % 4 != 0 && t % 10 != 3 && s == 1 && 8 * (od.h + 2) * (od.w + 2) <= 2048;
        const int32_t *b = t % 5 ? bias : NULL;
        assert_int_equal(reef_dw_conv_s8(&ctx, &p, &q, &id, in, &fd, f, b, &od, got), REEF_OK);
        assert_int_equal(reef_dw_conv_s8_ref(NULL, &p, &q, &id, in, &fd, f, b, &od, want), REEF_OK);
        int d = count_diff(got, want, reef_dims_count(&od));
        if (d)
            printf("dw case %d: in %dx%dx%dx%d stride %d pad %d,%d act [%d,%d] scratch %d: %d bytes differ\n", t, id.n,
                   id.h, id.w, id.c, s, p.padding.h, p.padding.w, p.activation.min, p.activation.max, (int)ctx.size, d);
        bad += d;
    }
    printf("dw 3x3: %d cases on the sliding-window path, %d of them by columns, %d over whole planes; %d with a "
           "left shift\n", fast, columns, planes, left);
    assert_true(columns > 50 && fast - columns > 50);
    assert_true(planes > 50 && fast - planes > 50);
    assert_int_equal(bad, 0);
}

/* The map loop (dw3x3.c, REEF_DW_PATH_3X3_MAP): maps 48 and 24 (in bands), 12, 6
 * or 3 wide at stride 1, outputs 24 and 12 (in bands), 6 or 3 wide at stride 2 (height up to the width), every case
 * asserted to take it, against the
 * reference; shifts at the folded form's bounds (-2 and -23) and biases
 * near +-2^30 (int32 wrap-around of the sums) included. */
static void test_dw3x3_map(void **state)
{
    (void)state;
    static int8_t in[2 * 50 * 50 * 37], f[9 * 37], got[2 * 48 * 48 * 37], want[2 * 48 * 48 * 37];
    static int8_t shift[37];
    static int32_t mult[37], bias[37], scratch[4096];
    const int cases = testing_sanitizer_run() ? 60 : 400;
    int bad = 0, banded = 0, twelve = 0, six = 0, three = 0, tails = 0, edges = 0, strided = 0;
    int wide48 = 0, wide_s2 = 0, wide_s2_banded = 0;
    for (int t = 0; t < cases; t++) {
        /* stride 2 one case in three: outputs 24, 12, 6 or 3 wide, inputs 2 L - 1 .. 2 L + 1 with a top pad of 0
         * or 1 */
        const int s = t % 3 == 2 ? 2 : 1;
        const int w = s == 2 ? 3 << rnd_in(0, 3)
                      : t % 3 == 0 ? (t % 9 == 0 ? 48 : rnd() % 2 ? 24 : 12)
                                   : 6 - 3 * (int)(rnd() % 2);
        const int pad_h = rnd_in(0, 1), pad_w = rnd_in(0, 1);
        /* the wide maps: one image, few channels (the test stays fast) */
        const int big = w == 48 || (s == 2 && w >= 12);
        reef_dims od = {big ? 1 : rnd_in(1, 2), rnd_in(1, w), w, rnd_in(1, big ? 9 : 37)};
        reef_dims id = {od.n, od.h + 2 - 2 * pad_h, od.w + 2 - 2 * pad_w, od.c}, fd = {1, 3, 3, od.c};
        if (s == 2) id.h = 2 * od.h + 1 - pad_h - rnd_in(0, 1), id.w = 2 * od.w + 1 - pad_w - rnd_in(0, 1);
        reef_dw_conv_params p = {rnd_in(-127, 128), rnd_in(-128, 127), 1, {s, s}, {pad_h, pad_w}, {1, 1},
                                 {-128, 127}};
        fill(in, reef_dims_count(&id));
        fill(f, 9 * id.c);
        quant(mult, shift, bias, id.c, 9, t % 3 == 0);
        for (int i = 0; i < id.c; i++) {
            if (mult[i] == 0) mult[i] = 1 << 30;
            if (shift[i] < -23 || shift[i] > -2) shift[i] = -23;
            if (t % 5 == 2 && i % 2) shift[i] = (int8_t)(rnd() % 2 ? -2 : -23), edges++;
        }
        reef_per_channel_quant q = {mult, shift};
        const int32_t need = reef_dw_conv_s8_get_buffer_size(&p, &id, &fd, &od);
        assert_true(need > 0 && need <= (int32_t)sizeof scratch);
        reef_context ctx = {scratch, need};
        assert_int_equal(reef_dw_conv_s8_path(&p, &q, &id, &fd, &od, need), REEF_DW_PATH_3X3_MAP);
        const int32_t *b = t % 7 ? bias : NULL;
        assert_int_equal(reef_dw_conv_s8(&ctx, &p, &q, &id, in, &fd, f, b, &od, got), REEF_OK);
        assert_int_equal(reef_dw_conv_s8_ref(NULL, &p, &q, &id, in, &fd, f, b, &od, want), REEF_OK);
        bad += count_diff(got, want, reef_dims_count(&od));
        banded += s == 1 && w == 24 && od.h > 7, twelve += w == 12, six += w == 6, three += w == 3, tails += od.c % 4 != 0, strided += s == 2;
        /* bands: 8 output lines at 48 wide, 4 at 24 wide stride 2, 9 at 12 wide stride 2 (DW3_BAND_BYTES) */
        wide48 += w == 48, wide_s2 += s == 2 && w >= 12;
        wide_s2_banded += s == 2 && ((w == 24 && od.h > 4) || (w == 12 && od.h > 9));
    }
    /* what leaves it: a clamped activation, a shift of -1, a map 4 wide,
     * taller than wide, too large for a plane and not 24 (25 wide) */
    reef_dims id = {1, 6, 6, 8}, fd = {1, 3, 3, 8}, od = {1, 6, 6, 8};
    reef_dw_conv_params p = {0, 0, 1, {1, 1}, {1, 1}, {1, 1}, {-128, 127}};
    quant(mult, shift, bias, 8, 9, 0);
    for (int i = 0; i < 8; i++) shift[i] = -8;
    reef_per_channel_quant q = {mult, shift};
    assert_int_equal(reef_dw_conv_s8_path(&p, &q, &id, &fd, &od, sizeof scratch), REEF_DW_PATH_3X3_MAP);
    p.activation.min = 0;
    assert_int_equal(reef_dw_conv_s8_path(&p, &q, &id, &fd, &od, sizeof scratch), REEF_DW_PATH_3X3_PLANE);
    p.activation.min = -128, shift[3] = -1;
    assert_int_equal(reef_dw_conv_s8_path(&p, &q, &id, &fd, &od, sizeof scratch), REEF_DW_PATH_3X3_PLANE);
    shift[3] = -8, id.w = od.w = 4;
    assert_int_equal(reef_dw_conv_s8_path(&p, &q, &id, &fd, &od, sizeof scratch), REEF_DW_PATH_3X3_PLANE);
    id.w = od.w = 3;
    assert_int_equal(reef_dw_conv_s8_path(&p, &q, &id, &fd, &od, sizeof scratch), REEF_DW_PATH_3X3_PLANE);
    id.w = od.w = 25, id.h = od.h = 25;
    assert_int_equal(reef_dw_conv_s8_path(&p, &q, &id, &fd, &od, sizeof scratch), REEF_DW_PATH_3X3_ROWS_S1);
    id.w = od.w = 47, id.h = od.h = 47;
    assert_int_equal(reef_dw_conv_s8_path(&p, &q, &id, &fd, &od, sizeof scratch), REEF_DW_PATH_3X3_ROWS_S1);
    /* stride 2: 6, 12 (bands) and 24 wide take it, 10 and 4 wide do not */
    p.stride.h = p.stride.w = 2, id.h = id.w = 12, od.h = od.w = 6;
    assert_int_equal(reef_dw_conv_s8_path(&p, &q, &id, &fd, &od, sizeof scratch), REEF_DW_PATH_3X3_MAP);
    id.h = id.w = 24, od.h = od.w = 12;
    assert_int_equal(reef_dw_conv_s8_path(&p, &q, &id, &fd, &od, sizeof scratch), REEF_DW_PATH_3X3_MAP);
    id.h = id.w = 20, od.h = od.w = 10;
    assert_int_equal(reef_dw_conv_s8_path(&p, &q, &id, &fd, &od, sizeof scratch), REEF_DW_PATH_3X3_ROWS_S2);
    id.h = id.w = 8, od.h = od.w = 4;
    assert_int_equal(reef_dw_conv_s8_path(&p, &q, &id, &fd, &od, sizeof scratch), REEF_DW_PATH_3X3_ROWS_S2);
    printf("dw 3x3 map loop: %d random cases (%d at stride 2; %d 24 wide in two bands or more, %d 12 wide, %d 6 "
           "wide, %d 3 wide; %d with channels not a multiple of 4, %d channels at shift -2 or -23) identical to the "
           "reference\n", cases, strided, banded, twelve, six, three, tails, edges);
    printf("dw 3x3 map loop, wide lines: %d 48 wide at stride 1, %d 24 or 12 wide at stride 2 (%d in two bands or "
           "more)\n", wide48, wide_s2, wide_s2_banded);
    assert_true(banded > cases / 40);
    assert_true(wide48 > cases / 40 && wide_s2_banded > cases / 40);
    assert_int_equal(bad, 0);
}

/* In-place depthwise (dw_in_place.c): the output written over its own
 * input must equal the reference computed from an untouched copy, on
 * random kernels (1-7), strides (1-3), dilations (1-2), paddings, channel
 * counts and activation ranges, with layers whose left shift takes the
 * exact scalar requantization. Shapes it cannot take are refused. */
static void test_dw_in_place(void **state)
{
    (void)state;
    static int8_t in[14 * 14 * 19], data[14 * 14 * 19], f[49 * 19], want[14 * 14 * 19];
    static int8_t shift[19];
    static int32_t mult[19], bias[19], scratch[2048];
    int cases = 0, strided = 0, dilated = 0, square = 0, bad = 0;
    for (int t = 0; t < 800; t++) {
        reef_dims id = {1, rnd_in(1, 14), rnd_in(1, 14), rnd_in(1, 19)};
        reef_dims fd = {1, rnd_in(1, 7), rnd_in(1, 7), id.c};
        reef_dw_conv_params p = {rnd_in(-127, 128), rnd_in(-128, 127), 1, {rnd_in(1, 3), rnd_in(1, 3)},
                                 {rnd_in(0, 3), rnd_in(0, 3)}, {rnd_in(1, 2), rnd_in(1, 2)}, {-128, 127}};
        p.activation = activation(p.output_offset);
        if (t % 3 == 0) {
            /* 3x3, 5x5, 7x7 without dilation along rows: dw_in_place.c's
             * unrolled whole-window rows */
            fd.h = fd.w = 3 + 2 * rnd_in(0, 2);
            p.dilation.w = 1;
        }
        const int32_t span_h = (fd.h - 1) * p.dilation.h + 1, span_w = (fd.w - 1) * p.dilation.w + 1;
        if (id.h + 2 * p.padding.h < span_h || id.w + 2 * p.padding.w < span_w) continue;
        reef_dims od = {1, (id.h + 2 * p.padding.h - span_h) / p.stride.h + 1,
                        (id.w + 2 * p.padding.w - span_w) / p.stride.w + 1, id.c};
        if (!reef_dw_conv_s8_can_run_in_place(&p, &id, &fd, &od)) continue;
        fill(in, reef_dims_count(&id));
        memcpy(data, in, (size_t)reef_dims_count(&id));
        fill(f, fd.h * fd.w * id.c);
        quant(mult, shift, bias, id.c, fd.h * fd.w, t % 2);
        if (t % 10 == 3) shift[rnd_in(0, id.c - 1)] = (int8_t)rnd_in(0, 2);
        reef_per_channel_quant q = {mult, shift};
        int32_t need = reef_dw_conv_s8_in_place_buffer_size(&p, &fd, &od);
        assert_true(need > 0 && need <= (int32_t)sizeof scratch);
        reef_context ctx = {scratch, need};
        const int32_t *b = t % 5 ? bias : NULL;
        assert_int_equal(reef_dw_conv_s8_in_place(&ctx, &p, &q, &id, data, &fd, f, b, &od), REEF_OK);
        assert_int_equal(reef_dw_conv_s8_ref(NULL, &p, &q, &id, in, &fd, f, b, &od, want), REEF_OK);
        bad += count_diff(data, want, reef_dims_count(&od));
        cases++, strided += p.stride.h > 1 || p.stride.w > 1, dilated += p.dilation.h > 1 || p.dilation.w > 1;
        square += fd.h == fd.w && (fd.h == 3 || fd.h == 5 || fd.h == 7) && p.dilation.w == 1;
        if (t == 7) { /* too little scratch, and shapes it cannot take */
            reef_context small = {scratch, need - 1};
            assert_int_equal(reef_dw_conv_s8_in_place(&small, &p, &q, &id, data, &fd, f, b, &od), REEF_ARG_ERROR);
            reef_dw_conv_params m2 = p;
            m2.depth_multiplier = 2;
            assert_false(reef_dw_conv_s8_can_run_in_place(&m2, &id, &fd, &od));
            reef_dims two = id;
            two.n = 2;
            assert_false(reef_dw_conv_s8_can_run_in_place(&p, &two, &fd, &od));
        }
    }
    printf("dw in place: %d random cases (%d strided, %d dilated, %d square 3/5/7 undilated along rows)\n", cases,
           strided, dilated, square);
    assert_true(cases > 300 && strided > 100 && dilated > 100 && square > 100);
    assert_int_equal(bad, 0);
}

/* Average pooling four channels at a time in int16 lanes (pool.c), and
 * by 2x2 windows at stride 2 (the fish nets' first op, one or more
 * channels; and a global average of a 2x2 map at any stride), on
 * windows up to and past its 256-pixel limit, with random and saturated
 * inputs (all -128 or all 127: the largest lane sums), against the scalar
 * definition: the rounded (half away from zero) mean of the clipped
 * window, clamped. The 2x2 path also in place (output over its input);
 * global averages of at most REEF_POOL_SMALL_VALUES values take the small
 * global loop. */
static void test_avgpool_lanes(void **state)
{
    (void)state;
    static int8_t in[20 * 20 * 11], got[20 * 20 * 11], want[20 * 20 * 11];
    int bad = 0, lanes = 0, single = 0, small = 0;
    for (int t = 0; t < 400; t++) {
        reef_dims id = {1, rnd_in(1, 20), rnd_in(1, 20), rnd_in(1, 11)};
        reef_hw f = {rnd_in(1, id.h), rnd_in(1, id.w)};
        if (t % 4 == 0) f = (reef_hw){id.h, id.w}; /* global, up to 400 pixels */
        reef_pool_params p = {{rnd_in(1, 3), rnd_in(1, 3)}, {0, 0}, {-128, 127}};
        if (t % 4 == 3 && id.h >= 2 && id.w >= 2) { /* 2x2 at stride 2: one channel, or 1-11 */
            if (t % 8 == 3) id.c = 1;
            f = (reef_hw){2, 2}, p.stride = (reef_hw){2, 2};
        }
        if (t % 16 == 0 && id.h >= 2 && id.w >= 2) { /* global average of a 2x2 map, any stride */
            id.h = id.w = 2, f = (reef_hw){2, 2};
        }
        p.activation = activation(rnd_in(-128, 100));
        reef_dims od = {1, (id.h - f.h) / p.stride.h + 1, (id.w - f.w) / p.stride.w + 1, id.c};
        const int two_by_two = reef_pool_s8_path(0, &p, &id, &f, &od) == REEF_POOL_PATH_AVG_2X2;
        single += two_by_two;
        const int small_global = reef_pool_s8_path(0, &p, &id, &f, &od) == REEF_POOL_PATH_AVG_SMALL;
        small += small_global;
        int n = reef_dims_count(&id);
        if (t % 5 == 1) memset(in, 0x80, (size_t)n);
        else if (t % 5 == 2) memset(in, 0x7f, (size_t)n);
        else fill(in, n);
        assert_int_equal(reef_avgpool_s8(NULL, &p, &id, in, &f, &od, got), REEF_OK);
        for (int y = 0; y < od.h; y++)
            for (int x = 0; x < od.w; x++)
                for (int c = 0; c < id.c; c++) {
                    int32_t sum = 0, count = f.h * f.w;
                    for (int ky = 0; ky < f.h; ky++)
                        for (int kx = 0; kx < f.w; kx++)
                            sum += in[((y * p.stride.h + ky) * id.w + x * p.stride.w + kx) * id.c + c];
                    int32_t v = sum > 0 ? (sum + count / 2) / count : (sum - count / 2) / count;
                    v = v < p.activation.min ? p.activation.min : (v > p.activation.max ? p.activation.max : v);
                    want[(y * od.w + x) * id.c + c] = (int8_t)v;
                }
        lanes += !two_by_two && !small_global && id.c >= 4 && f.h * f.w <= 256;
        bad += count_diff(got, want, reef_dims_count(&od));
        if (two_by_two) { /* in place, as reef gen plans it (lower_model.c): output over input */
            memcpy(got, in, (size_t)n);
            assert_int_equal(reef_avgpool_s8(NULL, &p, &id, got, &f, &od, got), REEF_OK);
            bad += count_diff(got, want, reef_dims_count(&od));
        }
    }
    printf("avgpool: %d of 400 random cases on the four-channel lane path, %d on the 2x2 path (also in place), "
           "%d on the small global one\n",
           lanes, single, small);
    assert_true(lanes > 120 && single > 50 && small > 30);
    assert_int_equal(bad, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rq_matches_tflite),
        cmocka_unit_test(test_conv_extremes),
        cmocka_unit_test(test_conv_small_k),
        cmocka_unit_test(test_conv_paired),
        cmocka_unit_test(test_conv_resident),
        cmocka_unit_test(test_conv_weights),
        cmocka_unit_test(test_conv_c3),
        cmocka_unit_test(test_fc_widened),
        cmocka_unit_test(test_fc_paired),
        cmocka_unit_test(test_dw3x3),
        cmocka_unit_test(test_dw3x3_map),
        cmocka_unit_test(test_dw_in_place),
        cmocka_unit_test(test_avgpool_lanes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
