/* reef runtime: every step kind, declared once.
 *
 * REEF_STEP_KINDS(X) expands X(KIND, name, run, args_type, printer) once
 * per int8 step kind, REEF_FLOAT_STEP_KINDS(X) once per kind of the float
 * build (reef/float_ops.h):
 *
 *   KIND       the enum constant's suffix: REEF_STEP_<KIND> or
 *              REEF_FSTEP_<KIND> (src/codegen/lower.h, lower_float.h)
 *   name       lower case: the kind's member of the lowering's args union
 *              and the name reports print (`reef run --steps`, profile-ops)
 *   run        the runtime step function (a reef_step_fn)
 *   args_type  its args struct, which starts with a reef_step_io
 *              (reef/types.h): the arena offsets of its tensor operands
 *   printer    the C emitter prints the args fields after the io with
 *              put_<printer> (src/codegen/emit.c, emit_float.c); kinds
 *              that share an args type share it
 *
 * Everything a kind-generic pass needs comes from here: the enum, the args
 * union, the function table of the host interpreter, the function and type
 * names the emitter prints, the names reports print. The planner fills
 * every kind's reef_step_io alike, and reef_run_steps only calls run.
 *
 * Adding a step kind: write the kernel and its step function (runtime),
 * its args struct starting with `reef_step_io io;`, one line here, its
 * lowering (src/codegen/lower.c) and, for a new args type, its printer
 * (src/codegen/emit.c). docs/architecture.md has the details.
 *
 * This header only defines the two lists; it includes nothing and declares
 * nothing, so the runtime, the lowering and the emitter can all expand it.
 */
#ifndef REEF_RT_STEP_KINDS_H
#define REEF_RT_STEP_KINDS_H

/* clang-format off */
#define REEF_STEP_KINDS(X)                                                             \
    X(CONV,       conv,       reef_conv_step,       reef_conv_step_args,       conv)       \
    X(DW_CONV,    dw_conv,    reef_dw_conv_step,    reef_dw_conv_step_args,    dw_conv)    \
    X(FC,         fc,         reef_fc_step,         reef_fc_step_args,         fc)         \
    X(ADD,        add,        reef_add_step,        reef_add_step_args,        add)        \
    X(AVGPOOL,    avgpool,    reef_avgpool_step,    reef_pool_step_args,       pool)       \
    X(MAXPOOL,    maxpool,    reef_maxpool_step,    reef_pool_step_args,       pool)       \
    X(MEAN,       mean,       reef_mean_step,       reef_mean_step_args,       mean)       \
    X(SOFTMAX,    softmax,    reef_softmax_step,    reef_softmax_step_args,    softmax)    \
    X(RESHAPE,    reshape,    reef_reshape_step,    reef_reshape_step_args,    reshape)    \
    X(PAD,        pad,        reef_pad_step,        reef_pad_step_args,        pad)        \
    X(QUANTIZE,   quantize,   reef_quantize_step,   reef_quantize_step_args,   quantize)   \
    X(DEQUANTIZE, dequantize, reef_dequantize_step, reef_quantize_step_args,   quantize)   \
    X(REQUANTIZE, requantize, reef_requantize_step, reef_requantize_step_args, requantize) \
    X(ADD_BCAST,  add_bcast,  reef_add_bcast_step,  reef_addsub_step_args,     addsub)     \
    X(SUB,        sub,        reef_sub_step,        reef_addsub_step_args,     addsub)     \
    X(MUL,        mul,        reef_mul_step,        reef_mul_step_args,        mul)        \
    X(MAXIMUM,    maximum,    reef_maximum_step,    reef_minmax_step_args,     minmax)     \
    X(MINIMUM,    minimum,    reef_minimum_step,    reef_minmax_step_args,     minmax)     \
    X(ACT,        act,        reef_act_step,        reef_act_step_args,        act_step)   \
    X(LUT,        lut,        reef_lut_step,        reef_lut_step_args,        lut)        \
    X(PRELU,      prelu,      reef_prelu_step,      reef_prelu_step_args,      prelu)      \
    X(STRIDED,    strided,    reef_strided_step,    reef_strided_step_args,    strided)    \
    X(REDUCE_MAX, reduce_max, reef_reduce_max_step, reef_reduce_step_args,     reduce)     \
    X(COPY_ROWS,  copy_rows,  reef_copy_rows_step,  reef_copy_rows_step_args,  copy_rows)  \
    X(ARG_MAX,    arg_max,    reef_arg_max_step,    reef_arg_max_step_args,    arg_max)    \
    X(RESIZE_NEAREST, resize_nearest, reef_resize_nearest_step, reef_resize_nearest_step_args, resize_nearest) \
    X(RESIZE_BILINEAR, resize_bilinear, reef_resize_bilinear_step, reef_resize_bilinear_step_args, resize_bilinear) \
    X(TRANSPOSE_CONV, transpose_conv, reef_transpose_conv_step, reef_conv_step_args, conv) \
    X(CONV_S16,    conv_s16,    reef_conv_s16_step,    reef_conv_s16_step_args,    conv_s16)    \
    X(DW_CONV_S16, dw_conv_s16, reef_dw_conv_s16_step, reef_dw_conv_s16_step_args, dw_conv_s16) \
    X(FC_S16,      fc_s16,      reef_fc_s16_step,      reef_fc_s16_step_args,      fc_s16)      \
    X(ADD_S16,     add_s16,     reef_add_s16_step,     reef_add_step_args,         add)         \
    X(QUANTIZE_S16,   quantize_s16,   reef_quantize_s16_step,   reef_quantize_step_args, quantize) \
    X(DEQUANTIZE_S16, dequantize_s16, reef_dequantize_s16_step, reef_quantize_step_args, quantize) \
    X(ROWS,       rows,       reef_rows_step,       reef_rows_step_args,       rows)       \
    X(PATCH,      patch,      reef_patch_step,      reef_patch_step_args,      patch)

#define REEF_FLOAT_STEP_KINDS(X)                                                        \
    X(CONV,    conv,    reef_float_conv_step,    reef_float_conv_args, conv)               \
    X(DW_CONV, dw_conv, reef_float_dw_conv_step, reef_float_conv_args, conv)               \
    X(FC,      fc,      reef_float_fc_step,      reef_float_fc_args,   fc)                 \
    X(ADD,     add,     reef_float_add_step,     reef_float_add_args,  add)                \
    X(AVGPOOL, avgpool, reef_float_avgpool_step, reef_float_pool_args, pool)               \
    X(MAXPOOL, maxpool, reef_float_maxpool_step, reef_float_pool_args, pool)               \
    X(COPY,    copy,    reef_float_copy_step,    reef_float_copy_args, copy)
/* clang-format on */

#endif
