/* File I/O helpers: whole-file reads, read-only mappings, and atomic writes
 * (write to a temporary beside the target, then rename, so that a failure
 * never leaves a half-written file under the target's name). */
#ifndef REEF_UTIL_IO_H
#define REEF_UTIL_IO_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "util/err.h"

/* Reads a whole file into a malloc'd buffer (caller frees). */
int reef_read_file(const char *path, uint8_t **data, size_t *size, reef_error *err);

/* A read-only memory mapping of a whole file. */
typedef struct reef_mapping {
    const uint8_t *data;
    size_t size;
} reef_mapping;
int reef_map_file(const char *path, reef_mapping *map, reef_error *err);
void reef_unmap_file(reef_mapping *map);

/* An output file written atomically. */
typedef struct reef_atomic_file {
    FILE *fp;            /* write through this */
    char path[4096];     /* final name */
    char tmp_path[4096]; /* temporary name in the same folder */
} reef_atomic_file;

int reef_atomic_open(reef_atomic_file *af, const char *path, reef_error *err);
/* Flushes, closes and renames into place; on any failure removes the
 * temporary and returns -1. */
int reef_atomic_commit(reef_atomic_file *af, reef_error *err);
/* Flushes and closes the temporary without renaming it (commit renames):
 * files written together are all finished before any is renamed. On
 * failure removes the temporary and returns -1. */
int reef_atomic_finish(reef_atomic_file *af, reef_error *err);
/* Closes and removes the temporary (safe to call after a failed commit). */
void reef_atomic_abort(reef_atomic_file *af);

/* Makes the folder path and every missing folder on the way (mkdir -p). */
int reef_make_dirs(const char *path, reef_error *err);

/* Writes a whole buffer to path atomically. */
int reef_write_file(const char *path, const void *data, size_t size, reef_error *err);

/* 1 when a and b name the same file: the same spelling, or both exist and
 * have the same device and inode (a hard link, a symlink, "./x" for "x");
 * 0 otherwise. An output that is one of the inputs would destroy it. */
int reef_same_file(const char *a, const char *b);

/* 0 when the folder that will hold the output path exists and is
 * writable, and path is not itself a folder; otherwise -1 with err naming
 * the path and the reason. Called before long work starts, so that it
 * does not fail at the end. */
int reef_check_output_path(const char *path, reef_error *err);

/* Checked fwrite/fread for a path being processed: fail with the path. */
int reef_fwrite_all(FILE *fp, const void *data, size_t size, const char *path, reef_error *err);

/* Seconds on a monotonic clock. */
double reef_now(void);

#endif
