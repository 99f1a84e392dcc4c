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
 * before) but, for names written out in the source, never one too few. A
 * file's uses are the names in its function bodies, its initializers and
 * its #define bodies, and those of every header it includes ("..." and
 * <...>, found beside it or in include_dirs); comments, strings and
 * declarations do not count. Its definitions are the functions and objects
 * it defines at file scope without `static`. test_runtime_files checks the
 * definitions against the host compiler's own symbol table. */
#ifndef REEF_FIRMWARE_RUNTIME_FILES_H
#define REEF_FIRMWARE_RUNTIME_FILES_H

#include "util/err.h"

/* The runtime files (runtime_dir/NAME.c, in name order) needed by roots:
 * the build's other sources and its force-included headers; roots NULL:
 * every file. *files is a malloc'd array of malloc'd paths
 * (reef_runtime_files_free). */
int reef_runtime_files(const char *runtime_dir, const char *const *include_dirs, int include_count,
                       const char *const *roots, int root_count, char ***files, int *file_count, reef_error *err);

/* The names one C file defines at file scope without `static` (for the
 * test), as above. */
int reef_runtime_file_defines(const char *path, char ***names, int *count, reef_error *err);

void reef_runtime_files_free(char **files, int count);

#endif
