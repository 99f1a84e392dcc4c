/* Cleanup on SIGINT and SIGTERM (see cleanup.h). The registry is a fixed
 * table of static strings: the handler reads it without allocating, and
 * the main flow changes it with both signals blocked. */
#include "util/cleanup.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_DIRS 16

static char dirs[MAX_DIRS][512];
static char *rm_argv[MAX_DIRS + 4]; /* "rm", "-rf", "--", dirs..., NULL */
static volatile pid_t child_pgid;
static int ndirs, installed;
static struct sigaction old_int, old_term;

static void rebuild_argv(void)
{
    int n = 0;
    rm_argv[n++] = "rm", rm_argv[n++] = "-rf", rm_argv[n++] = "--";
    for (int i = 0; i < MAX_DIRS; i++)
        if (dirs[i][0]) rm_argv[n++] = dirs[i];
    rm_argv[n] = NULL;
    ndirs = n - 3;
}

static void on_signal(int sig)
{
    pid_t pg = child_pgid;
    if (pg > 0) {
        /* SIGTERM first: the gcc driver removes its own temporary files on
         * it; whatever is still there after 2 s is killed */
        kill(-pg, SIGTERM);
        for (int i = 0; i < 200 && waitpid(pg, NULL, WNOHANG) == 0; i++) {
            struct timespec ts = {0, 10 * 1000000L};
            nanosleep(&ts, NULL);
        }
        kill(-pg, SIGKILL);
    }
    if (ndirs > 0) {
        char *const env[] = {NULL};
        pid_t pid = fork();
        if (pid == 0) {
            execve("/bin/rm", rm_argv, env);
            _exit(127);
        }
        if (pid > 0) waitpid(pid, NULL, 0);
    }
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigaction(sig, &dfl, NULL);
    raise(sig);
}

/* Installs the handler over a default action (never over the caller's own),
 * or restores what was there once nothing is registered. */
static void update_handlers(void)
{
    int want = ndirs > 0 || child_pgid > 0;
    if (want && !installed) {
        struct sigaction sa, cur;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_signal;
        sigfillset(&sa.sa_mask);
        installed = 1;
        sigaction(SIGINT, NULL, &cur);
        if (cur.sa_handler == SIG_DFL) sigaction(SIGINT, &sa, &old_int);
        else old_int = cur;
        sigaction(SIGTERM, NULL, &cur);
        if (cur.sa_handler == SIG_DFL) sigaction(SIGTERM, &sa, &old_term);
        else old_term = cur;
    } else if (!want && installed) {
        installed = 0;
        sigaction(SIGINT, &old_int, NULL);
        sigaction(SIGTERM, &old_term, NULL);
    }
}

static void block(sigset_t *old)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigprocmask(SIG_BLOCK, &set, old);
}

int reef_scratch_dir_make(char *dir, size_t size, const char *prefix)
{
    const char *tmp = getenv("TMPDIR");
    if (!tmp || !*tmp) tmp = "/tmp";
    if (snprintf(dir, size, "%s/%sXXXXXX", tmp, prefix) >= (int)size || strlen(dir) >= sizeof dirs[0]) {
        errno = ENAMETOOLONG;
        return -1;
    }
    sigset_t old;
    block(&old);
    int rc = mkdtemp(dir) ? 0 : -1;
    if (rc == 0)
        for (int i = 0; i < MAX_DIRS; i++)
            if (!dirs[i][0]) { /* a full table: the folder is still made, just not cleaned on a signal */
                snprintf(dirs[i], sizeof dirs[i], "%s", dir);
                break;
            }
    rebuild_argv();
    update_handlers();
    int e = errno;
    sigprocmask(SIG_SETMASK, &old, NULL);
    errno = e;
    return rc;
}

void reef_cleanup_forget_dir(const char *dir)
{
    sigset_t old;
    block(&old);
    for (int i = 0; i < MAX_DIRS; i++)
        if (dirs[i][0] && !strcmp(dirs[i], dir)) dirs[i][0] = 0;
    rebuild_argv();
    update_handlers();
    sigprocmask(SIG_SETMASK, &old, NULL);
}

void reef_cleanup_set_child(pid_t pgid)
{
    sigset_t old;
    block(&old);
    child_pgid = pgid;
    update_handlers();
    sigprocmask(SIG_SETMASK, &old, NULL);
}
