/* The C emitter: a lowered model -> <name>.h and <name>.c, plain C99 that
 * runs the model on the runtime with no malloc: const weights in the
 * section .rodata.reef_weights (ELF + GCC-compatible compilers), one static
 * arena, and a const step table printed from the very same args structs the
 * host interpreter runs. docs/formats/generated-c.md describes the files. */
#ifndef REEF_CODEGEN_EMIT_H
#define REEF_CODEGEN_EMIT_H

#include <stddef.h>

#include "codegen/lower.h"
#include "util/err.h"

/* Writes DIR/<name>.h and DIR/<name>.c (each atomically). name must be a C
 * identifier (reef_c_name_valid); source names the model in the header
 * comment (may be NULL). */
int reef_emit_c(const reef_lowered_model *m, const char *dir, const char *name, const char *source,
                reef_error *err);

/* 1 when name is a C identifier of at most 64 characters. */
int reef_c_name_valid(const char *name);

/* A C identifier from a file path: its base name without extension, other
 * characters replaced by '_' ("models/kws-ref.tflite" -> "kws_ref"). */
void reef_c_name_from_path(const char *path, char *buf, size_t size);

#endif
