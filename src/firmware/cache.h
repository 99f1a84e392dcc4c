/* reef's cache folder and the content hashes that key its entries: the
 * per-step cycles of a model (step_cycles.c) and built firmware (build.c).
 * An entry's key covers everything its content depends on, so a stale
 * entry is never found, only a missing one. */
#ifndef REEF_FIRMWARE_CACHE_H
#define REEF_FIRMWARE_CACHE_H

#include <stddef.h>
#include <stdint.h>

#define REEF_HASH_INIT 14695981039346656037ull /* FNV-1a 64 offset basis */

/* FNV-1a 64 of n bytes, continuing from h. */
uint64_t reef_hash_bytes(uint64_t h, const void *data, size_t n);

/* The file's contents (a missing or unreadable file hashes as "-"). */
uint64_t reef_hash_file(uint64_t h, const char *path);

/* Every file under dir, subfolders included, in name order: names and
 * contents (a missing folder hashes as "-"). */
uint64_t reef_hash_dir(uint64_t h, const char *dir);

/* $REEF_CACHE_DIR, else $XDG_CACHE_HOME/reef, else $HOME/.cache/reef;
 * -1 when none is set. */
int reef_cache_dir(char *dir, size_t size);

#endif
