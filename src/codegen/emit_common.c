/* The printers and the two-file writer shared by the int8 and float
 * emitters (see emit_internal.h). */
#include "codegen/emit_internal.h"

#include <ctype.h>
#include <inttypes.h>
#include <string.h>

#include "codegen/emit.h"
#include "util/io.h"

void emit_float(FILE *fp, float v)
{
    char buf[48];
    snprintf(buf, sizeof buf, "%.9g", (double)v);
    fputs(buf, fp);
    if (!strpbrk(buf, ".eE")) fputs(".0", fp);
    fputc('f', fp);
}

void emit_dims(FILE *fp, const char *field, const reef_dims *d)
{
    fprintf(fp, "    .%s = {%" PRId32 ", %" PRId32 ", %" PRId32 ", %" PRId32 "},\n", field, d->n, d->h, d->w,
            d->c);
}

void emit_ref(const emitter *e, const char *field, int k, const char *what, const void *p)
{
    if (p)
        fprintf(e->fp, "    .%s = %s_s%d_%s,\n", field, e->name, k, what);
    else
        fprintf(e->fp, "    .%s = 0,\n", field);
}

void emit_io(FILE *fp, const reef_step_io *io)
{
    fprintf(fp,
            "    .io = {.input_at = %" PRIu32 "u, .output_at = %" PRIu32 "u, .scratch_at = %" PRIu32
            "u, .scratch_size = %" PRIu32 "u, .input2_at = %" PRIu32 "u},\n",
            io->input_at, io->output_at, io->scratch_at, io->scratch_size, io->input2_at);
}

void emit_array(const emitter *e, const char *ctype, const char *what, int k, const void *values, size_t n,
                emit_value_fn put_value)
{
    fprintf(e->fp, "static const %s %s_s%d_%s[%zu] REEF_WEIGHTS = {", ctype, e->name, k, what, n);
    for (size_t i = 0; i < n; i++) {
        fputs(i % 8 ? " " : "\n    ", e->fp);
        put_value(e->fp, values, i);
        if (i + 1 < n) fputc(',', e->fp);
    }
    fputs("\n};\n", e->fp);
}

void emit_shape(FILE *fp, const int32_t *shape, int rank)
{
    for (int i = 0; i < rank; i++) fprintf(fp, "%s%" PRId32, i ? "x" : "", shape[i]);
}

void emit_section_macros(FILE *fp)
{
    fputs("#if defined(__GNUC__) && defined(__ELF__)\n"
          "#define REEF_WEIGHTS __attribute__((section(\".rodata.reef_weights\")))\n#else\n#define REEF_WEIGHTS\n#endif\n"
          "#if defined(__GNUC__)\n#define REEF_ARENA_ALIGN __attribute__((aligned(8)))\n#else\n#define REEF_ARENA_ALIGN\n#endif\n",
          fp);
}

int emit_files(const char *dir, const char *name, emit_file_fn put_header, emit_file_fn put_source,
               const void *model, const char *source, reef_error *err)
{
    if (!reef_c_name_valid(name))
        return reef_fail(err, "'%s' is not a C identifier (letters, digits, _)", name);
    emitter e = {NULL, name, {0}, 0};
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
    e.fp = hf.fp, put_header(&e, model, source);
    e.fp = cf.fp, put_source(&e, model, source);
    if (e.out_of_memory) {
        reef_atomic_abort(&cf);
        reef_atomic_abort(&hf);
        return reef_fail(err, "%s: out of memory", cpath);
    }
    /* Both written, flushed and closed before either is renamed into place:
     * a failure (a full disk) leaves the old pair, never a new .c beside an
     * old .h. Only a failed rename between the two could split them. */
    if (reef_atomic_finish(&cf, err) || reef_atomic_finish(&hf, err)) {
        reef_atomic_abort(&cf);
        reef_atomic_abort(&hf);
        return -1;
    }
    if (reef_atomic_commit(&cf, err)) {
        reef_atomic_abort(&hf);
        return -1;
    }
    return reef_atomic_commit(&hf, err);
}
