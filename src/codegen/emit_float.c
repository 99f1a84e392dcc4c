/* The C emitter for the float build (see lower_float.h): the same file
 * layout as reef_emit_c's (emit.h) - const weights in .rodata.reef_weights,
 * one static arena, a const step table printed from the lowered args - with
 * float arrays and the float kernels' args structs. */
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "codegen/emit.h"
#include "codegen/lower_float.h"
#include "util/io.h"

typedef struct femitter {
    FILE *fp;
    const char *name;
    char upper[72];
} femitter;

/* A float literal that reads back as the same float. */
static void put_float(FILE *fp, float v)
{
    char buf[48];
    snprintf(buf, sizeof buf, "%.9g", (double)v);
    fputs(buf, fp);
    if (!strpbrk(buf, ".eE")) fputs(".0", fp);
    fputc('f', fp);
}

static void put_float_array(femitter *e, const char *what, int k, const float *v, size_t n)
{
    fprintf(e->fp, "static const float %s_s%d_%s[%zu] REEF_WEIGHTS = {", e->name, k, what, n);
    for (size_t i = 0; i < n; i++) {
        fputs(i % 8 ? " " : "\n    ", e->fp);
        put_float(e->fp, v[i]);
        if (i + 1 < n) fputc(',', e->fp);
    }
    fputs("\n};\n", e->fp);
}

static void put_dims(FILE *fp, const char *field, const reef_dims *d)
{
    fprintf(fp, "    .%s = {%" PRId32 ", %" PRId32 ", %" PRId32 ", %" PRId32 "},\n", field, d->n, d->h, d->w, d->c);
}

static void put_hw(FILE *fp, const char *field, reef_hw v)
{
    fprintf(fp, "    .%s = {%" PRId32 ", %" PRId32 "},\n", field, v.h, v.w);
}

static void put_act(FILE *fp, reef_float_act a)
{
    fputs("    .act = {", fp), put_float(fp, a.min), fputs(", ", fp), put_float(fp, a.max), fputs("},\n", fp);
}

static void put_ref(femitter *e, const char *field, int k, const char *what, const void *p)
{
    if (p)
        fprintf(e->fp, "    .%s = %s_s%d_%s,\n", field, e->name, k, what);
    else
        fprintf(e->fp, "    .%s = 0,\n", field);
}

static void put_io(FILE *fp, uint32_t in, uint32_t out)
{
    fprintf(fp, "    .input_at = %" PRIu32 "u, .output_at = %" PRIu32 "u,\n", in, out);
}

static void put_conv(femitter *e, int k, const reef_float_conv_args *a)
{
    fprintf(e->fp, "static const reef_float_conv_args %s_s%d_args = {\n", e->name, k);
    put_hw(e->fp, "stride", a->stride), put_hw(e->fp, "padding", a->padding);
    fprintf(e->fp, "    .depth_multiplier = %" PRId32 ",\n", a->depth_multiplier);
    put_act(e->fp, a->act);
    put_dims(e->fp, "input_dims", &a->input_dims), put_dims(e->fp, "filter_dims", &a->filter_dims);
    put_dims(e->fp, "output_dims", &a->output_dims);
    put_ref(e, "filter", k, "filter", a->filter), put_ref(e, "bias", k, "bias", a->bias);
    put_io(e->fp, a->input_at, a->output_at);
    fputs("};\n", e->fp);
}

static void put_fc(femitter *e, int k, const reef_float_fc_args *a)
{
    fprintf(e->fp, "static const reef_float_fc_args %s_s%d_args = {\n", e->name, k);
    put_act(e->fp, a->act);
    fprintf(e->fp, "    .batches = %" PRId32 ", .in_features = %" PRId32 ", .out_features = %" PRId32 ",\n", a->batches,
            a->in_features, a->out_features);
    put_ref(e, "filter", k, "filter", a->filter), put_ref(e, "bias", k, "bias", a->bias);
    put_io(e->fp, a->input_at, a->output_at);
    fputs("};\n", e->fp);
}

static void put_add(femitter *e, int k, const reef_float_add_args *a)
{
    fprintf(e->fp, "static const reef_float_add_args %s_s%d_args = {\n", e->name, k);
    put_act(e->fp, a->act);
    fprintf(e->fp,
            "    .count = %" PRId32 ",\n    .input1_at = %" PRIu32 "u, .input2_at = %" PRIu32 "u, .output_at = %" PRIu32
            "u,\n};\n",
            a->count, a->input1_at, a->input2_at, a->output_at);
}

static void put_pool(femitter *e, int k, const reef_float_pool_args *a)
{
    fprintf(e->fp, "static const reef_float_pool_args %s_s%d_args = {\n", e->name, k);
    put_hw(e->fp, "stride", a->stride), put_hw(e->fp, "padding", a->padding), put_hw(e->fp, "filter", a->filter);
    put_act(e->fp, a->act);
    put_dims(e->fp, "input_dims", &a->input_dims), put_dims(e->fp, "output_dims", &a->output_dims);
    put_io(e->fp, a->input_at, a->output_at);
    fputs("};\n", e->fp);
}

static void put_copy(femitter *e, int k, const reef_float_copy_args *a)
{
    fprintf(e->fp, "static const reef_float_copy_args %s_s%d_args = {\n    .count = %" PRId32 ",\n", e->name, k, a->count);
    put_io(e->fp, a->input_at, a->output_at);
    fputs("};\n", e->fp);
}

static const char *fstep_fn_name(reef_float_step_kind kind)
{
    static const char *const names[] = {
        [REEF_FSTEP_CONV] = "reef_float_conv_step",       [REEF_FSTEP_DW_CONV] = "reef_float_dw_conv_step",
        [REEF_FSTEP_FC] = "reef_float_fc_step",           [REEF_FSTEP_ADD] = "reef_float_add_step",
        [REEF_FSTEP_AVGPOOL] = "reef_float_avgpool_step", [REEF_FSTEP_MAXPOOL] = "reef_float_maxpool_step",
        [REEF_FSTEP_COPY] = "reef_float_copy_step",
    };
    return names[kind];
}

static void put_step(femitter *e, int k, const reef_float_step *s)
{
    fprintf(e->fp, "\n/* step %d: op %d %s */\n", k, s->op, reef_builtin_name(s->builtin));
    if (s->filter) put_float_array(e, "filter", k, s->filter, s->filter_count);
    if (s->bias) put_float_array(e, "bias", k, s->bias, (size_t)s->nbias);
    switch (s->kind) {
    case REEF_FSTEP_CONV:
    case REEF_FSTEP_DW_CONV: put_conv(e, k, &s->args.conv); break;
    case REEF_FSTEP_FC: put_fc(e, k, &s->args.fc); break;
    case REEF_FSTEP_ADD: put_add(e, k, &s->args.add); break;
    case REEF_FSTEP_AVGPOOL:
    case REEF_FSTEP_MAXPOOL: put_pool(e, k, &s->args.pool); break;
    case REEF_FSTEP_COPY: put_copy(e, k, &s->args.copy); break;
    }
}

static void put_shape(FILE *fp, const int32_t *shape, int rank)
{
    for (int i = 0; i < rank; i++) fprintf(fp, "%s%" PRId32, i ? "x" : "", shape[i]);
}

static void put_header(femitter *e, const reef_float_model *m, const char *source)
{
    FILE *fp = e->fp;
    const char *u = e->upper, *n = e->name;
    fprintf(fp, "/* %s.h: the float32 build, generated by reef%s%s. Do not edit.\n * Input ", n,
            source ? " from " : "", source ? source : "");
    put_shape(fp, m->input_shape, m->input_rank);
    fputs(" float, output ", fp);
    put_shape(fp, m->output_shape, m->output_rank);
    fprintf(fp,
            " float. %d steps, %lld MACs, %zu bytes of\n * constants, arena %zu bytes. Link with the reef runtime. */\n",
            m->nsteps, (long long)m->macs, m->weights_bytes, m->arena_size);
    fprintf(fp, "#ifndef %s_H\n#define %s_H\n\n#include <stdint.h>\n\n#include \"reef/float_ops.h\"\n#include \"reef/step.h\"\n\n",
            u, u);
    fprintf(fp, "#define %s_INPUT_COUNT %" PRId32 "\n#define %s_OUTPUT_COUNT %" PRId32 "\n", u, m->input_count, u,
            m->output_count);
    fprintf(fp, "#define %s_ARENA_SIZE %zu\n#define %s_STEP_COUNT %d\n\n", u, m->arena_size, u, m->nsteps);
    fprintf(fp, "extern const reef_step %s_steps[];\nextern uint8_t %s_arena[];\n\n", n, n);
    fprintf(fp,
            "/* Runs the model: in (%s_INPUT_COUNT floats), out (%s_OUTPUT_COUNT).\n"
            " * Returns 0, or the failing kernel's status. */\n"
            "int %s_invoke(const float *in, float *out);\n"
            "/* The same on raw little-endian bytes (4 per float), any alignment. */\n"
            "int %s_invoke_bytes(const int8_t *in, int8_t *out);\n\n",
            u, u, n, n);
    fprintf(fp,
            "/* For the firmware harness (-include %s.h): sizes in bytes. */\n"
            "#ifndef REEF_MODEL_INVOKE\n"
            "#define REEF_MODEL_INPUT_SIZE (4 * %s_INPUT_COUNT)\n#define REEF_MODEL_OUTPUT_SIZE (4 * %s_OUTPUT_COUNT)\n"
            "#define REEF_MODEL_ARENA_SIZE %s_ARENA_SIZE\n"
            "#define REEF_MODEL_INVOKE(in, out) %s_invoke_bytes((in), (out))\n#endif\n\n#endif\n",
            n, u, u, u, n);
}

static void put_source(femitter *e, const reef_float_model *m, const char *source)
{
    FILE *fp = e->fp;
    const char *n = e->name, *u = e->upper;
    fprintf(fp, "/* %s.c: the float32 build, generated by reef%s%s. Do not edit. */\n#include \"%s.h\"\n\n", n,
            source ? " from " : "", source ? source : "", n);
    fputs("#if defined(__GNUC__) && defined(__ELF__)\n"
          "#define REEF_WEIGHTS __attribute__((section(\".rodata.reef_weights\")))\n#else\n#define REEF_WEIGHTS\n#endif\n"
          "#if defined(__GNUC__)\n#define REEF_ARENA_ALIGN __attribute__((aligned(8)))\n#else\n#define REEF_ARENA_ALIGN\n#endif\n",
          fp);
    for (int k = 0; k < m->nsteps; k++) put_step(e, k, &m->steps[k]);
    fprintf(fp, "\nconst reef_step %s_steps[] = {\n", n);
    for (int k = 0; k < m->nsteps; k++) fprintf(fp, "    {%s, &%s_s%d_args},\n", fstep_fn_name(m->steps[k].kind), n, k);
    fputs("};\n\n", fp);
    fprintf(fp, "uint8_t %s_arena[%s_ARENA_SIZE] REEF_ARENA_ALIGN;\n\n", n, u);
    fprintf(fp,
            "int %s_invoke_bytes(const int8_t *in, int8_t *out)\n{\n"
            "    /* Byte copies: the caller's buffers need no float alignment. */\n"
            "    int8_t *x = (int8_t *)(%s_arena + %" PRIu32 "u);\n"
            "    const int8_t *y = (const int8_t *)(%s_arena + %" PRIu32 "u);\n"
            "    int32_t i;\n    reef_status status;\n"
            "    for (i = 0; i < 4 * %s_INPUT_COUNT; i++) x[i] = in[i];\n"
            "    status = reef_run_steps(%s_steps, 0, %s_STEP_COUNT, %s_arena);\n"
            "    if (status == REEF_OK)\n        for (i = 0; i < 4 * %s_OUTPUT_COUNT; i++) out[i] = y[i];\n"
            "    return (int)status;\n}\n\n",
            n, n, m->input_at, n, m->output_at, u, n, u, n, u);
    fprintf(fp, "int %s_invoke(const float *in, float *out)\n{\n    return %s_invoke_bytes((const int8_t *)in, (int8_t *)out);\n}\n",
            n, n);
}

int reef_emit_float_c(const reef_float_model *m, const char *dir, const char *name, const char *source,
                      reef_error *err)
{
    if (!reef_c_name_valid(name)) return reef_fail(err, "'%s' is not a C identifier (letters, digits, _)", name);
    femitter e = {NULL, name, {0}};
    for (size_t i = 0; name[i]; i++) e.upper[i] = (char)toupper((unsigned char)name[i]);
    char hpath[4096], cpath[4096];
    snprintf(hpath, sizeof hpath, "%s/%s.h", dir, name);
    snprintf(cpath, sizeof cpath, "%s/%s.c", dir, name);
    reef_atomic_file hf, cf;
    if (reef_atomic_open(&hf, hpath, err)) return -1;
    if (reef_atomic_open(&cf, cpath, err)) {
        reef_atomic_abort(&hf);
        return -1;
    }
    e.fp = hf.fp, put_header(&e, m, source);
    e.fp = cf.fp, put_source(&e, m, source);
    if (reef_atomic_commit(&cf, err)) {
        reef_atomic_abort(&hf);
        return -1;
    }
    return reef_atomic_commit(&hf, err);
}
