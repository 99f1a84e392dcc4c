/* Private to src/codegen: the printers and the two-file writer that the
 * int8 emitter (emit.c) and the float emitter (emit_float.c) share. */
#ifndef REEF_CODEGEN_EMIT_INTERNAL_H
#define REEF_CODEGEN_EMIT_INTERNAL_H

#include <stdint.h>
#include <stdio.h>

#include "reef/types.h"
#include "util/err.h"

typedef struct emitter {
    FILE *fp;         /* the file being written (.h, then .c) */
    const char *name; /* lower-case symbol prefix */
    char upper[72];   /* macro prefix */
    int out_of_memory; /* set by a printer that could not allocate: no files */
} emitter;

/* A float literal that reads back as the same float. */
void emit_float(FILE *fp, float v);
/* "    .field = {n, h, w, c},\n" */
void emit_dims(FILE *fp, const char *field, const reef_dims *d);
/* "    .field = name_sK_what,\n" when the step owns that array, else 0. */
void emit_ref(const emitter *e, const char *field, int k, const char *what, const void *p);
/* "    .io = {.input_at = Iu, .output_at = Ou, .scratch_at = Su,
 * .scratch_size = Nu, .input2_at = Ju},\n": the operands every args
 * struct starts with. */
void emit_io(FILE *fp, const reef_step_io *io);
/* "static const <ctype> name_sK_what[n] REEF_WEIGHTS = {" then the n values,
 * 8 a line, each printed by put_value(fp, values, i), then "\n};\n". */
typedef void (*emit_value_fn)(FILE *fp, const void *values, size_t i);
void emit_array(const emitter *e, const char *ctype, const char *what, int k, const void *values, size_t n,
                emit_value_fn put_value);
/* A tensor shape as "1x32x32x1". */
void emit_shape(FILE *fp, const int32_t *shape, int rank);
/* The REEF_WEIGHTS (section) and REEF_ARENA_ALIGN macros of a source file. */
void emit_section_macros(FILE *fp);

/* Writes dir/<name>.h with put_header then dir/<name>.c with put_source,
 * each to a temporary renamed into place only when both are complete. */
typedef void (*emit_file_fn)(emitter *e, const void *model, const char *source);
int emit_files(const char *dir, const char *name, emit_file_fn put_header, emit_file_fn put_source,
               const void *model, const char *source, reef_error *err);

#endif
