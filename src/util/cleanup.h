/* Cleanup on SIGINT and SIGTERM: the scratch folders reef makes under
 * $TMPDIR (reef-build-*, reef-run-*) and the child process group it waits
 * for (a compiler, QEMU, host firmware). While anything is registered, a
 * handler for both signals is installed; it kills the child's group, runs
 * `rm -rf` on the folders (fork and execve: async-signal-safe) and then
 * dies of the same signal, so the caller sees 130 or 143 as usual. A
 * program that installs its own handler (train's Ctrl-C finishes the
 * epoch) keeps it: this one is installed only over the default action. */
#ifndef REEF_UTIL_CLEANUP_H
#define REEF_UTIL_CLEANUP_H

#include <stddef.h>
#include <sys/types.h>

/* Makes a scratch folder $TMPDIR/<prefix>XXXXXX (TMPDIR unset: /tmp) into
 * dir and registers it; returns 0, or -1 with errno set. */
int reef_scratch_dir_make(char *dir, size_t size, const char *prefix);
/* Unregisters a folder (after the caller removed it, or to keep it). */
void reef_cleanup_forget_dir(const char *dir);
/* The running child's process group (0: none). */
void reef_cleanup_set_child(pid_t pgid);

#endif
