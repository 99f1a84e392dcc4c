/* The data-movement ops with several operands against TFLite Micro:
 * CONCATENATION, SPLIT, SPLIT_V, PACK, UNPACK (one COPY_ROWS step per
 * operand, reef/permute.h), STRIDED_SLICE (a STRIDED step), ARG_MAX and
 * RESIZE_NEAREST_NEIGHBOR.
 *
 *  - CONCATENATION: every case of data/tflm_concat_vectors.txt, which
 *    TFLite Micro's reference kernels generated (see the file's header);
 *  - SPLIT, SPLIT_V, UNPACK, then CONCATENATION or PACK: random graphs
 *    against a reference written here (the kernels are pure copies in
 *    TFLite Micro);
 *  - STRIDED_SLICE: every case of data/tflm_strided_slice_vectors.txt,
 *    from TFLite Micro's reference kernel, and the refusals;
 *  - ARG_MAX (int32 indices, the model's output): every case of
 *    data/tflm_arg_max_vectors.txt;
 *  - RESIZE_NEAREST_NEIGHBOR: every case of
 *    data/tflm_resize_nearest_vectors.txt;
 *  each also as generated C on qemu-m4 once (CONCATENATION and ARG_MAX
 *  also on the host).
 * Skips (77) when the source tree (the vectors) is not found; the qemu-m4
 * part skips without the ARM tools. */
#include "testing.h"
#include "tflm_harness.h"

#include "util/rng.h"

/* The next field of the vector line being read (save, path, n in scope). */
#define NEXT() next_token(&save, path, n + 1)

/* ---- CONCATENATION, SPLIT, SPLIT_V, PACK, UNPACK (COPY_ROWS steps) ------- */

/* x -> SPLIT_V (along axis, extents) -> parts -> CONCATENATION (same axis)
 * -> y: one graph input, so the concatenation's inputs can be the parts.
 * x is in y's quantization; part k in (scale[k], zp[k]). Returns y. */
static int32_t split_concat_graph(reef_graph *g, int rank, const int32_t *out_shape, int axis, int nparts,
                                  const int32_t *extents, const float *scale, const int64_t *zp, float out_scale,
                                  int64_t out_zp)
{
    reef_error err;
    const int ax = axis < 0 ? axis + rank : axis;
    int32_t parts[8], x, y, sizes_shape[1] = {nparts};
    assert_int_equal(reef_graph_init(g, "pieces", &err), 0);
    x = reef_graph_add_tensor(g, "x", REEF_INT8, rank, out_shape, &err);
    assert_int_equal(reef_graph_set_quant(g, x, 1, &out_scale, &out_zp, 0, &err), 0);
    for (int k = 0; k < nparts; k++) {
        int32_t shape[4];
        for (int i = 0; i < rank; i++) shape[i] = i == ax ? extents[k] : out_shape[i];
        parts[k] = reef_graph_add_tensor(g, "part", REEF_INT8, rank, shape, &err);
        assert_int_equal(reef_graph_set_quant(g, parts[k], 1, &scale[k], &zp[k], 0, &err), 0);
    }
    y = reef_graph_add_tensor(g, "y", REEF_INT8, rank, out_shape, &err);
    assert_int_equal(reef_graph_set_quant(g, y, 1, &out_scale, &out_zp, 0, &err), 0);
    int32_t sizes = reef_graph_add_tensor(g, "size_splits", REEF_INT32, 1, sizes_shape, &err);
    assert_int_equal(reef_graph_set_data(g, sizes, extents, (size_t)nparts * 4, &err), 0);
    int32_t axis_shape[1] = {1}, axis_value = axis;
    int32_t at = reef_graph_add_tensor(g, "axis", REEF_INT32, 1, axis_shape, &err);
    assert_int_equal(reef_graph_set_data(g, at, &axis_value, 4, &err), 0);
    reef_op_options o;
    reef_op_options_init(&o), o.count = nparts;
    int32_t split_in[3] = {x, sizes, at};
    assert_true(reef_graph_add_op(g, REEF_OP_SPLIT_V, split_in, 3, parts, nparts, &o, &err) >= 0);
    reef_op_options_init(&o), o.axis = axis;
    assert_true(reef_graph_add_op(g, REEF_OP_CONCATENATION, parts, nparts, &y, 1, &o, &err) >= 0);
    assert_int_equal(reef_graph_set_io(g, &x, 1, &y, 1, &err), 0);
    return y;
}

/* Every case of data/tflm_concat_vectors.txt (1 to 8 inputs, rank 1-4,
 * negative axes; inputs requantized where their scale or zero point differ
 * from the output's: saturation at both ends, extreme ratios). The
 * CONCATENATION steps run on the vector's inputs written into their
 * tensors. The whole x -> SPLIT_V -> CONCATENATION model is the identity
 * when nothing is requantized; for the first case with requantized inputs
 * (one is not) its generated C on qemu-m4 and the host must equal the
 * interpreter. */
static void test_concat_match_tflm(void **state)
{
    (void)state;
    char path[1024];
    static char line[65536];
    FILE *fp = open_vectors("tflm_concat_vectors.txt", path, sizeof path);
    int n = 0, requantized = 0, emulated = 0;
    while (fgets(line, sizeof line, fp)) {
        if (line[0] == '#') continue;
        char *save = NULL;
        assert_string_equal(strtok_r(line, " \n", &save), "CONCAT");
        int axis = atoi(NEXT()), rank = atoi(NEXT()), nin = atoi(NEXT());
        float os = strtof(NEXT(), NULL), scale[8];
        int64_t oz = atoi(NEXT()), zp[8];
        assert_true(nin >= 1 && nin <= 8 && rank >= 1 && rank <= 4);
        const int ax = axis < 0 ? axis + rank : axis;
        int32_t out_shape[4] = {0, 0, 0, 0}, extents[8], in_count[8], out_count = 1, case_rq = 0;
        for (int k = 0; k < nin; k++) {
            int32_t shape[4];
            scale[k] = strtof(NEXT(), NULL), zp[k] = atoi(NEXT());
            in_count[k] = 1;
            for (int i = 0; i < 4; i++) shape[i] = atoi(NEXT());
            for (int i = 0; i < rank; i++) in_count[k] *= shape[i], out_shape[i] = i == ax ? out_shape[i] + shape[i] : shape[i];
            extents[k] = shape[ax];
            case_rq |= scale[k] != os || zp[k] != oz;
        }
        for (int i = 0; i < rank; i++) out_count *= out_shape[i];
        int8_t *x[8], *want, *got = malloc((size_t)out_count);
        for (int k = 0; k < nin; k++)
            if (!(x[k] = hex_bytes(NEXT(), (size_t)in_count[k]))) fail_msg("%s: case %d: bad input %d", path, n + 1, k);
        if (!(want = hex_bytes(NEXT(), (size_t)out_count))) fail_msg("%s: case %d: bad output", path, n + 1);
        reef_graph g, back;
        reef_lowered_model m;
        int32_t y = split_concat_graph(&g, rank, out_shape, axis, nin, extents, scale, zp, os, oz);
        round_trip_lower(&g, &back, &m, "concat", n + 1);
        assert_int_equal(m.nsteps, 2 * nin); /* a COPY_ROWS step per part, split then concatenation */
        for (int k = 0; k < m.nsteps; k++) assert_int_equal(m.steps[k].kind, REEF_STEP_COPY_ROWS);
        for (int k = 0; k < nin; k++) memcpy(m.arena + m.tensor_at[back.ops[1].inputs[k]], x[k], (size_t)in_count[k]);
        assert_int_equal(reef_lowered_run_steps(&m, m.arena, nin, nin), 0);
        memcpy(got, m.arena + m.tensor_at[y], (size_t)out_count);
        for (int i = 0; i < out_count; i++)
            if (got[i] != want[i]) fail_msg("CONCATENATION case %d element %d: %d, TFLite Micro %d", n + 1, i, got[i], want[i]);
        if (!case_rq) { /* the whole model: split then concatenation, the identity */
            assert_int_equal(reef_lowered_invoke(&m, want, got), 0);
            assert_memory_equal(got, want, (size_t)out_count);
        }
        /* the whole model on generated C: x is the reference output of this case */
        if (case_rq && !requantized) {
            int8_t *expect = malloc((size_t)out_count);
            assert_int_equal(reef_lowered_invoke(&m, want, expect), 0);
            emulated += run_targets(&m, "concat_rq", want, 1, (size_t)out_count, expect, 1);
            free(expect);
        }
        requantized += case_rq;
        n++;
        free(want), free(got);
        for (int k = 0; k < nin; k++) free(x[k]);
        reef_lowered_free(&m), reef_graph_free(&back), reef_graph_free(&g);
    }
    fclose(fp);
    printf("  CONCATENATION: %d cases (%d with requantized inputs) equal TFLite Micro's reference%s\n", n, requantized,
           emulated ? "; x -> SPLIT_V -> CONCATENATION also as generated C on the host and qemu-m4" : "");
    assert_true(n >= 10 && requantized >= 4);
    if (!emulated && !testing_sanitizer_run()) skip();
}

/* Random x -> SPLIT | SPLIT_V | UNPACK -> parts -> CONCATENATION | PACK of
 * the parts in reverse order, along the same axis (given as a positive or
 * negative index) -> y, one quantization: y is x with the blocks along the
 * axis in reverse order. Ranks 1-4 (UNPACK of rank 1 gives scalars), 1 to
 * 10 parts (TFLite Micro's most). The first rank-4 UNPACK -> PACK also on qemu-m4. */
static void test_split_pack_random(void **state)
{
    (void)state;
    reef_rng r;
    reef_rng_seed(&r, 1616);
    const int32_t split_ops[3] = {REEF_OP_SPLIT, REEF_OP_SPLIT_V, REEF_OP_UNPACK};
    int n = testing_sanitizer_run() ? 30 : 240, per_op[3] = {0}, emulated = 0, most = 0;
    for (int k = 0; k < n; k++) {
        const int kind = k % 3, rank = 1 + (int)reef_rng_below(&r, 4);
        const int ax = (int)reef_rng_below(&r, (uint32_t)rank);
        const int axis = reef_rng_below(&r, 2) ? ax : ax - rank;
        int32_t shape[4], extents[REEF_MAX_OP_IO], nparts, count = 1;
        for (int i = 0; i < rank; i++) shape[i] = 1 + (int)reef_rng_below(&r, 4);
        if (kind == 0) { /* SPLIT: equal parts */
            nparts = 1 + (int)reef_rng_below(&r, 4);
            int32_t e = 1 + (int)reef_rng_below(&r, 3);
            shape[ax] = nparts * e;
            for (int p = 0; p < nparts; p++) extents[p] = e;
        } else if (kind == 1) {
            nparts = 1 + (int)reef_rng_below(&r, REEF_MAX_OP_IO), shape[ax] = 0;
            for (int p = 0; p < nparts; p++) extents[p] = 1 + (int)reef_rng_below(&r, 3), shape[ax] += extents[p];
        } else {
            nparts = shape[ax] = 1 + (int)reef_rng_below(&r, REEF_MAX_OP_IO);
            for (int p = 0; p < nparts; p++) extents[p] = 1;
        }
        for (int i = 0; i < rank; i++) count *= shape[i];
        int32_t outer = 1, inner = 1;
        for (int i = 0; i < ax; i++) outer *= shape[i];
        for (int i = ax + 1; i < rank; i++) inner *= shape[i];
        int8_t *x = malloc((size_t)count), *want = malloc((size_t)count), *got = malloc((size_t)count);
        for (int i = 0; i < count; i++) x[i] = (int8_t)reef_rng_u32(&r);
        for (int o = 0, at = 0; o < outer; o++) /* reference: per outer row, the blocks from the last part back */
            for (int p = nparts - 1; p >= 0; p--) {
                int begin = 0;
                for (int q = 0; q < p; q++) begin += extents[q];
                for (int i = 0; i < extents[p] * inner; i++) want[at++] = x[(o * shape[ax] + begin) * inner + i];
            }
        reef_graph g, back;
        reef_error err;
        float scale = 0.03f;
        int64_t zp = -9;
        assert_int_equal(reef_graph_init(&g, "pieces", &err), 0);
        int32_t tx = reef_graph_add_tensor(&g, "x", REEF_INT8, rank, shape, &err), parts[REEF_MAX_OP_IO], reversed[REEF_MAX_OP_IO];
        assert_int_equal(reef_graph_set_quant(&g, tx, 1, &scale, &zp, 0, &err), 0);
        for (int p = 0; p < nparts; p++) {
            int32_t ps[4], pr = 0;
            for (int i = 0; i < rank; i++)
                if (i != ax || kind != 2) ps[pr++] = i == ax ? extents[p] : shape[i];
            parts[p] = reef_graph_add_tensor(&g, "part", REEF_INT8, pr, ps, &err);
            assert_int_equal(reef_graph_set_quant(&g, parts[p], 1, &scale, &zp, 0, &err), 0);
            reversed[nparts - 1 - p] = parts[p];
        }
        int32_t ty = reef_graph_add_tensor(&g, "y", REEF_INT8, rank, shape, &err);
        assert_int_equal(reef_graph_set_quant(&g, ty, 1, &scale, &zp, 0, &err), 0);
        int64_t axis64 = axis, ext64[REEF_MAX_OP_IO];
        for (int p = 0; p < nparts; p++) ext64[p] = extents[p];
        int32_t ins[3] = {tx, -1, -1}, nins = 1;
        if (kind == 0) ins[0] = add_int_const(&g, "axis", &axis64, 1, 0), ins[1] = tx, nins = 2;
        if (kind == 1) ins[1] = add_int_const(&g, "size_splits", ext64, nparts, 0), ins[2] = add_int_const(&g, "axis", &axis64, 1, 0), nins = 3;
        reef_op_options o;
        reef_op_options_init(&o), o.count = nparts, o.axis = axis;
        assert_true(reef_graph_add_op(&g, split_ops[kind], ins, nins, parts, nparts, &o, &err) >= 0);
        assert_true(reef_graph_add_op(&g, kind == 2 ? REEF_OP_PACK : REEF_OP_CONCATENATION, reversed, nparts, &ty, 1, &o,
                                      &err) >= 0);
        assert_int_equal(reef_graph_set_io(&g, &tx, 1, &ty, 1, &err), 0);
        reef_lowered_model m;
        round_trip_lower(&g, &back, &m, "pieces", k);
        assert_int_equal(back.ops[0].opt.count, nparts); /* the options written and read back */
        assert_int_equal(back.ops[1].opt.axis, axis);
        assert_int_equal(m.nsteps, 2 * nparts);
        assert_int_equal(reef_lowered_invoke(&m, x, got), 0);
        if (memcmp(got, want, (size_t)count))
            fail_msg("%s case %d (rank %d, axis %d, %d parts) differs from the reference", reef_builtin_name(split_ops[kind]),
                     k, rank, axis, nparts);
        if (kind == 2 && rank == 4 && nparts >= 3 && !emulated)
            emulated = run_targets(&m, "unpack_pack", x, 1, (size_t)count, want, 0);
        per_op[kind]++;
        most += nparts == REEF_MAX_OP_IO;
        free(x), free(want), free(got);
        reef_lowered_free(&m), reef_graph_free(&back), reef_graph_free(&g);
    }
    printf("  SPLIT %d, SPLIT_V %d, UNPACK %d random graphs, then CONCATENATION or PACK in reverse, equal the "
           "reference (%d with %d parts)%s\n",
           per_op[0], per_op[1], per_op[2], most, REEF_MAX_OP_IO, emulated ? "; one UNPACK -> PACK also on qemu-m4" : "");
    if (!testing_sanitizer_run()) assert_true(most > 0);
    if (!emulated && !testing_sanitizer_run()) skip();
}

/* ---- STRIDED_SLICE (the STRIDED step) ------------------------------------ */

/* Every case of data/tflm_strided_slice_vectors.txt (rank 1-4, negative
 * and out-of-range begin and end, negative strides, begin, end and
 * shrink-axis masks) through the writer, reader, lowering and interpreter;
 * the first rank-4 case with a negative stride also as generated C on
 * qemu-m4. Then the refusals: what TFLite Micro ignores or
 * would write nothing for. */
static int32_t strided_slice_graph(reef_graph *g, int rank, const int32_t *shape, const int64_t *b, const int64_t *e,
                                   const int64_t *st, const reef_op_options *o, int out_rank, const int32_t *out_shape)
{
    reef_error err;
    float scale = 0.04f;
    int64_t zp = -17;
    assert_int_equal(reef_graph_init(g, "sslice", &err), 0);
    int32_t tx = reef_graph_add_tensor(g, "x", REEF_INT8, rank, shape, &err);
    assert_int_equal(reef_graph_set_quant(g, tx, 1, &scale, &zp, 0, &err), 0);
    int32_t ty = reef_graph_add_tensor(g, "y", REEF_INT8, out_rank, out_shape, &err);
    assert_int_equal(reef_graph_set_quant(g, ty, 1, &scale, &zp, 0, &err), 0);
    int32_t ins[4] = {tx, add_int_const(g, "begin", b, rank, 0), add_int_const(g, "end", e, rank, 0),
                      add_int_const(g, "strides", st, rank, 0)};
    assert_true(reef_graph_add_op(g, REEF_OP_STRIDED_SLICE, ins, 4, &ty, 1, o, &err) >= 0);
    assert_int_equal(reef_graph_set_io(g, &tx, 1, &ty, 1, &err), 0);
    return ty;
}

static void test_strided_slice_match_tflm(void **state)
{
    (void)state;
    char path[1024];
    static char line[16384];
    FILE *fp = open_vectors("tflm_strided_slice_vectors.txt", path, sizeof path);
    int n = 0, negative = 0, shrunk = 0, emulated = 0;
    while (fgets(line, sizeof line, fp)) {
        if (line[0] == '#') continue;
        char *save = NULL;
        assert_string_equal(strtok_r(line, " \n", &save), "SSLICE");
        int rank = atoi(NEXT()), out_rank, in_count = 1, out_count = 1, case_negative = 0;
        int32_t shape[4], out_shape[4];
        int64_t b[4], e[4], st[4];
        reef_op_options o;
        reef_op_options_init(&o);
        for (int i = 0; i < 4; i++) shape[i] = atoi(NEXT());
        for (int i = 0; i < 4; i++) b[i] = atoi(NEXT());
        for (int i = 0; i < 4; i++) e[i] = atoi(NEXT());
        for (int i = 0; i < 4; i++) st[i] = atoi(NEXT()), case_negative |= st[i] < 0;
        o.begin_mask = atoi(NEXT()), o.end_mask = atoi(NEXT()), o.shrink_axis_mask = atoi(NEXT());
        out_rank = atoi(NEXT());
        for (int i = 0; i < 4; i++) out_shape[i] = atoi(NEXT());
        for (int i = 0; i < rank; i++) in_count *= shape[i];
        for (int i = 0; i < out_rank; i++) out_count *= out_shape[i];
        int8_t *x = hex_bytes(NEXT(), (size_t)in_count), *want = hex_bytes(NEXT(), (size_t)out_count);
        if (!x || !want) fail_msg("%s: case %d has the wrong number of bytes", path, n + 1);
        int8_t *got = malloc((size_t)out_count);
        reef_graph g, back;
        reef_lowered_model m;
        strided_slice_graph(&g, rank, shape, b, e, st, &o, out_rank, out_shape);
        round_trip_lower(&g, &back, &m, "sslice", n + 1);
        assert_int_equal(back.ops[0].opt.shrink_axis_mask, o.shrink_axis_mask); /* options written and read back */
        assert_int_equal(back.ops[0].opt.begin_mask, o.begin_mask);
        assert_int_equal(m.steps[0].kind, REEF_STEP_STRIDED);
        assert_int_equal(reef_lowered_invoke(&m, x, got), 0);
        for (int i = 0; i < out_count; i++)
            if (got[i] != want[i]) fail_msg("STRIDED_SLICE case %d element %d: %d, TFLite Micro %d", n + 1, i, got[i], want[i]);
        if (rank == 4 && case_negative && !emulated) emulated = run_targets(&m, "sslice", x, 1, (size_t)in_count, want, 0);
        negative += case_negative, shrunk += o.shrink_axis_mask != 0;
        n++;
        free(x), free(want), free(got);
        reef_lowered_free(&m), reef_graph_free(&back), reef_graph_free(&g);
    }
    fclose(fp);
    printf("  STRIDED_SLICE: %d cases (%d with negative strides, %d shrinking axes) equal TFLite Micro's reference%s\n", n,
           negative, shrunk, emulated ? "; one also on qemu-m4" : "");
    assert_true(n >= 60 && negative >= 20 && shrunk >= 5);
    /* refusals: an empty slice, a shrunk axis with a negative stride, the masks TFLite Micro ignores */
    const int32_t shape[2] = {3, 4}, one[2] = {1, 4}, two[2] = {3, 2};
    const int64_t b0[2] = {0, 0}, e_empty[2] = {0, 4}, e_full[2] = {3, 4}, st1[2] = {1, 1}, st_neg[2] = {-1, 1},
                  st2[2] = {1, 2};
    struct {
        const int64_t *e, *st;
        int shrink, ellipsis;
        const int32_t *out;
        int out_rank;
        const char *why;
    } bad[] = {
        {e_empty, st1, 0, 0, one, 2, "select no element"},
        {e_full, st_neg, 1, 0, shape + 1, 1, "negative stride"},
        {e_full, st1, 0, 1, shape, 2, "ellipsis_mask"},
        {e_full, st2, 0, 0, one, 2, "output shape does not match"},
    };
    (void)two;
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        reef_graph g;
        reef_lowered_model m;
        reef_error err;
        reef_op_options o;
        reef_op_options_init(&o), o.shrink_axis_mask = bad[k].shrink, o.ellipsis_mask = bad[k].ellipsis;
        strided_slice_graph(&g, 2, shape, b0, bad[k].e, bad[k].st, &o, bad[k].out_rank, bad[k].out);
        assert_int_equal(reef_lower(&g, &m, &err), -1);
        if (!strstr(err.msg, bad[k].why) || !strstr(err.msg, "STRIDED_SLICE"))
            fail_msg("refusal %zu: '%s' does not say '%s'", k, err.msg, bad[k].why);
        reef_graph_free(&g);
    }
    if (!emulated && !testing_sanitizer_run()) skip();
}

/* ---- ARG_MAX ----------------------------------------------------------- */

/* Every case of data/tflm_arg_max_vectors.txt (rank 1-4, negative axes,
 * ties, values at both int8 ends): int8 in, int32 indices out (the model's
 * output), through the writer, reader, lowering and interpreter; the first
 * rank-4 case also as generated C on qemu-m4 and the host (an int32 output
 * through the firmware harness). */
static void test_arg_max_match_tflm(void **state)
{
    (void)state;
    char path[1024];
    static char line[16384];
    FILE *fp = open_vectors("tflm_arg_max_vectors.txt", path, sizeof path);
    int n = 0, ties = 0, emulated = 0;
    while (fgets(line, sizeof line, fp)) {
        if (line[0] == '#') continue;
        char *save = NULL;
        assert_string_equal(strtok_r(line, " \n", &save), "ARG_MAX");
        int rank = atoi(NEXT()), in_count = 1, out_count = 1, out_rank = 0;
        int32_t shape[4], out_shape[4];
        for (int i = 0; i < 4; i++) shape[i] = atoi(NEXT());
        int64_t axis = atoi(NEXT());
        const int ax = axis < 0 ? (int)axis + rank : (int)axis;
        for (int i = 0; i < rank; i++) {
            in_count *= shape[i];
            if (i != ax) out_shape[out_rank++] = shape[i], out_count *= shape[i];
        }
        int8_t *x = hex_bytes(NEXT(), (size_t)in_count), *idx = hex_bytes(NEXT(), (size_t)out_count);
        if (!x || !idx) fail_msg("%s: case %d has the wrong number of bytes", path, n + 1);
        int32_t *want = malloc((size_t)out_count * 4), *got = malloc((size_t)out_count * 4);
        for (int i = 0; i < out_count; i++) want[i] = idx[i];
        reef_graph g, back;
        reef_error err;
        float scale = 0.1f;
        int64_t zp = 3;
        assert_int_equal(reef_graph_init(&g, "argmax", &err), 0);
        int32_t tx = reef_graph_add_tensor(&g, "x", REEF_INT8, rank, shape, &err);
        assert_int_equal(reef_graph_set_quant(&g, tx, 1, &scale, &zp, 0, &err), 0);
        int32_t ty = reef_graph_add_tensor(&g, "indices", REEF_INT32, out_rank, out_shape, &err);
        int32_t ins[2] = {tx, add_int_const(&g, "axis", &axis, 1, 0)};
        reef_op_options o;
        reef_op_options_init(&o);
        assert_true(reef_graph_add_op(&g, REEF_OP_ARG_MAX, ins, 2, &ty, 1, &o, &err) >= 0);
        assert_int_equal(reef_graph_set_io(&g, &tx, 1, &ty, 1, &err), 0);
        reef_lowered_model m;
        round_trip_lower(&g, &back, &m, "argmax", n + 1);
        assert_int_equal(m.output_type, REEF_INT32), assert_int_equal(m.output_bytes, 4 * out_count);
        assert_int_equal(reef_lowered_invoke_bytes(&m, m.arena, x, got), 0);
        for (int i = 0; i < out_count; i++)
            if (got[i] != want[i]) fail_msg("ARG_MAX case %d output %d: %d, TFLite Micro %d", n + 1, i, got[i], want[i]);
        for (int i = 0; i < in_count; i++) /* a tie: some later value equals an earlier maximum */
            ties += i + 1 < in_count && x[i] == x[i + 1];
        if (rank == 4 && !emulated) emulated = run_targets(&m, "arg_max", x, 1, (size_t)in_count, (const int8_t *)want, 1);
        n++;
        free(x), free(idx), free(want), free(got);
        reef_lowered_free(&m), reef_graph_free(&back), reef_graph_free(&g);
    }
    fclose(fp);
    printf("  ARG_MAX: %d cases equal TFLite Micro's reference (int32 indices)%s\n", n,
           emulated ? "; one also on the host and qemu-m4" : "");
    assert_true(n >= 50 && ties > 0);
    if (!emulated && !testing_sanitizer_run()) skip();
}

/* ---- RESIZE_NEAREST_NEIGHBOR ---------------------------------------------- */

/* Every case of data/tflm_resize_nearest_vectors.txt (align_corners and
 * half_pixel_centers in all four combinations, up- and downsampling)
 * through the writer, reader, lowering and interpreter; the first 2x case
 * with half_pixel_centers also as generated C on qemu-m4. */
static void test_resize_nearest_match_tflm(void **state)
{
    (void)state;
    char path[1024];
    static char line[65536];
    FILE *fp = open_vectors("tflm_resize_nearest_vectors.txt", path, sizeof path);
    int n = 0, per_mode[4] = {0}, emulated = 0;
    while (fgets(line, sizeof line, fp)) {
        if (line[0] == '#') continue;
        char *save = NULL;
        assert_string_equal(strtok_r(line, " \n", &save), "RESIZE_NN");
        reef_op_options o;
        reef_op_options_init(&o);
        o.align_corners = atoi(NEXT()), o.half_pixel_centers = atoi(NEXT());
        int32_t shape[4], out_shape[4];
        for (int i = 0; i < 4; i++) shape[i] = atoi(NEXT());
        int64_t size[2];
        size[0] = atoi(NEXT()), size[1] = atoi(NEXT());
        out_shape[0] = shape[0], out_shape[1] = (int32_t)size[0], out_shape[2] = (int32_t)size[1], out_shape[3] = shape[3];
        const int in_count = shape[0] * shape[1] * shape[2] * shape[3];
        const int out_count = out_shape[0] * out_shape[1] * out_shape[2] * out_shape[3];
        int8_t *x = hex_bytes(NEXT(), (size_t)in_count), *want = hex_bytes(NEXT(), (size_t)out_count);
        if (!x || !want) fail_msg("%s: case %d has the wrong number of bytes", path, n + 1);
        int8_t *got = malloc((size_t)out_count);
        reef_graph g, back;
        reef_error err;
        float scale = 0.02f;
        int64_t zp = 5;
        assert_int_equal(reef_graph_init(&g, "resize", &err), 0);
        int32_t tx = reef_graph_add_tensor(&g, "x", REEF_INT8, 4, shape, &err);
        assert_int_equal(reef_graph_set_quant(&g, tx, 1, &scale, &zp, 0, &err), 0);
        int32_t ty = reef_graph_add_tensor(&g, "y", REEF_INT8, 4, out_shape, &err);
        assert_int_equal(reef_graph_set_quant(&g, ty, 1, &scale, &zp, 0, &err), 0);
        int32_t ins[2] = {tx, add_int_const(&g, "size", size, 2, 0)};
        assert_true(reef_graph_add_op(&g, REEF_OP_RESIZE_NEAREST_NEIGHBOR, ins, 2, &ty, 1, &o, &err) >= 0);
        assert_int_equal(reef_graph_set_io(&g, &tx, 1, &ty, 1, &err), 0);
        reef_lowered_model m;
        round_trip_lower(&g, &back, &m, "resize", n + 1);
        assert_int_equal(back.ops[0].opt.align_corners, o.align_corners); /* options written and read back */
        assert_int_equal(back.ops[0].opt.half_pixel_centers, o.half_pixel_centers);
        assert_int_equal(m.steps[0].kind, REEF_STEP_RESIZE_NEAREST);
        assert_int_equal(reef_lowered_invoke(&m, x, got), 0);
        for (int i = 0; i < out_count; i++)
            if (got[i] != want[i])
                fail_msg("RESIZE_NEAREST_NEIGHBOR case %d (align_corners %d, half_pixel_centers %d) output %d: %d, "
                         "TFLite Micro %d", n + 1, o.align_corners, o.half_pixel_centers, i, got[i], want[i]);
        if (o.half_pixel_centers && size[0] == 2 * shape[1] && !emulated)
            emulated = run_targets(&m, "resize", x, 1, (size_t)in_count, want, 0);
        per_mode[o.align_corners + 2 * o.half_pixel_centers]++, n++;
        free(x), free(want), free(got);
        reef_lowered_free(&m), reef_graph_free(&back), reef_graph_free(&g);
    }
    fclose(fp);
    printf("  RESIZE_NEAREST_NEIGHBOR: %d cases (%d, %d, %d, %d by align_corners / half_pixel_centers) equal TFLite "
           "Micro's reference%s\n",
           n, per_mode[0], per_mode[1], per_mode[2], per_mode[3], emulated ? "; one also on qemu-m4" : "");
    assert_true(n >= 60 && per_mode[0] && per_mode[1] && per_mode[2] && per_mode[3]);
    if (!emulated && !testing_sanitizer_run()) skip();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_concat_match_tflm),
        cmocka_unit_test(test_split_pack_random),
        cmocka_unit_test(test_strided_slice_match_tflm),
        cmocka_unit_test(test_arg_max_match_tflm),
        cmocka_unit_test(test_resize_nearest_match_tflm),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
