/* Which runtime/src files a firmware build compiles (build.c).
 *
 * A firmware used to compile all of runtime/src (36 files) and let the
 * linker's --gc-sections drop what the model never calls: the fish net's
 * ELF keeps code from about half of them. Now a file is compiled only when
 * it defines a name that the build's other sources use, directly or
 * through another compiled runtime file.
 *
 * The scan reads C as written, without preprocessing: every #if branch
 * counts, so it can keep a file too many (the linker drops its code, as
 * before) but, for names written out in the source, never one too few.
 * Names are followed per definition: a root (a source compiled whole: the
 * harness, the generated model) needs the names every definition in it
 * uses; a runtime file is compiled when it defines, without `static`, a
 * name needed, and then the names that definition uses are needed. A
 * definition's uses are the names in its function body or initializer,
 * and, where it uses a macro or static inline function of its file, of a
 * header it includes ("..." and <...>, found beside it or in include_dirs)
 * or of a force-included header, that one's uses too. Comments, strings
 * and declarations do not count. test_runtime_files checks the
 * definitions against the host compiler's own symbol table. */
#ifndef REEF_FIRMWARE_RUNTIME_FILES_H
#define REEF_FIRMWARE_RUNTIME_FILES_H

#include "util/err.h"

/* The runtime files (runtime_dir/NAME.c, in name order) needed by roots
 * (the build's other sources), with forced (the headers -include'd into
 * every file); roots NULL: every file. *files is a malloc'd array of
 * malloc'd paths (reef_runtime_files_free). */
int reef_runtime_files(const char *runtime_dir, const char *const *include_dirs, int include_count,
                       const char *const *roots, int root_count, const char *const *forced, int forced_count,
                       char ***files, int *file_count, reef_error *err);

/* The names one C file defines at file scope without `static` (for the
 * test), as above. */
int reef_runtime_file_defines(const char *path, char ***names, int *count, reef_error *err);

void reef_runtime_files_free(char **files, int count);

#endif
