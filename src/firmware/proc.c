/* Child processes with a time limit (see proc.h). */
#define _GNU_SOURCE /* execvpe */
#include "firmware/proc.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util/cleanup.h"
#include "util/io.h"

/* Exit code the child uses when exec fails (as shells do). */
#define EXEC_FAILED 127

static void redirect(const char *path, int fd)
{
    int f = open(path ? path : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (f < 0) _exit(EXEC_FAILED);
    dup2(f, fd);
    close(f);
}

static void run_child(char *const argv[], const char *cwd, const char *out_path, const char *err_path,
                      const sigset_t *mask, char *const envp[])
{
    setpgid(0, 0); /* its own group, so a kill reaches QEMU's threads and children */
    signal(SIGINT, SIG_DFL); /* not the parent's cleanup handler */
    signal(SIGTERM, SIG_DFL);
    sigprocmask(SIG_SETMASK, mask, NULL);
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) {
        dup2(devnull, 0);
        close(devnull);
    }
    redirect(out_path, 1);
    redirect(err_path, 2);
    if (cwd && chdir(cwd) != 0) _exit(EXEC_FAILED);
    if (envp) execvpe(argv[0], argv, envp);
    else execvp(argv[0], argv);
    _exit(EXEC_FAILED);
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Waits for pid until the deadline; kills its group when it passes. */
static int wait_child(pid_t pid, double timeout_s, reef_proc_result *res)
{
    double deadline = reef_now() + timeout_s;
    int status, pause_ms = 1;
    for (;;) {
        pid_t got = waitpid(pid, &status, timeout_s > 0 ? WNOHANG : 0);
        if (got == pid) break;
        if (got < 0 && errno != EINTR) return -1;
        if (timeout_s > 0 && reef_now() > deadline && !res->timed_out) {
            res->timed_out = 1;
            kill(-pid, SIGKILL);
            kill(pid, SIGKILL);
        }
        if (got == 0) {
            sleep_ms(pause_ms);
            if (pause_ms < 20) pause_ms *= 2;
        }
    }
    res->exited = WIFEXITED(status);
    res->status = res->exited ? WEXITSTATUS(status) : WIFSIGNALED(status) ? WTERMSIG(status) : -1;
    return 0;
}

/* This process's environment with TMPDIR=tmpdir instead of its own, made
 * before fork (the child only execs). NULL when out of memory. */
static char **env_with_tmpdir(const char *tmpdir)
{
    extern char **environ;
    size_t n = 0;
    while (environ[n]) n++;
    char **envp = malloc((n + 2) * sizeof *envp);
    size_t len = strlen(tmpdir) + 8;
    char *assign = malloc(len);
    if (!envp || !assign) {
        free(envp), free(assign);
        return NULL;
    }
    snprintf(assign, len, "TMPDIR=%s", tmpdir);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (strncmp(environ[i], "TMPDIR=", 7)) envp[k++] = environ[i];
    envp[k++] = assign;
    envp[k] = NULL;
    return envp;
}

static void free_env(char **envp)
{
    if (!envp) return;
    size_t k = 0;
    while (envp[k + 1]) k++;
    free(envp[k]);  // the TMPDIR assignment, always last
    free(envp);
}

int reef_proc_run(char *const argv[], const char *cwd, const char *out_path, const char *err_path,
                  double timeout_s, reef_proc_result *res, reef_error *err)
{
    return reef_proc_run_tmpdir(argv, cwd, NULL, out_path, err_path, timeout_s, res, err);
}

int reef_proc_run_tmpdir(char *const argv[], const char *cwd, const char *tmpdir, const char *out_path,
                         const char *err_path, double timeout_s, reef_proc_result *res, reef_error *err)
{
    memset(res, 0, sizeof *res);
    char **envp = tmpdir ? env_with_tmpdir(tmpdir) : NULL;
    if (tmpdir && !envp) return reef_fail(err, "cannot start %s: out of memory", argv[0]);
    /* SIGINT/SIGTERM wait until the child's group is registered, so the
     * cleanup handler (util/cleanup.h) kills it: no orphaned compiler */
    sigset_t stop, old;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    sigprocmask(SIG_BLOCK, &stop, &old);
    pid_t pid = fork();
    if (pid == 0) run_child(argv, cwd, out_path, err_path, &old, envp);
    free_env(envp);
    if (pid < 0) {
        int e = errno;
        sigprocmask(SIG_SETMASK, &old, NULL);
        return reef_fail(err, "cannot start %s: %s", argv[0], strerror(e));
    }
    setpgid(pid, pid); /* also here, so kill(-pid) works even before the child ran */
    reef_cleanup_set_child(pid);
    sigprocmask(SIG_SETMASK, &old, NULL);
    int waited = wait_child(pid, timeout_s, res);
    reef_cleanup_set_child(0);
    if (waited) return reef_fail(err, "waiting for %s: %s", argv[0], strerror(errno));
    /* 127 with nothing said: execvp failed (program missing). */
    if (res->exited && res->status == EXEC_FAILED) {
        struct stat st;
        if (!err_path || (stat(err_path, &st) == 0 && st.st_size == 0)) res->not_found = 1;
    }
    return 0;
}

void reef_proc_read_text(const char *path, char *buf, size_t max)
{
    buf[0] = '\0';
    FILE *fp = fopen(path, "rb");
    if (!fp || max == 0) {
        if (fp) fclose(fp);
        return;
    }
    if (fseek(fp, 0, SEEK_END) == 0) {
        long size = ftell(fp);
        long start = size > (long)(max - 1) ? size - (long)(max - 1) : 0;
        fseek(fp, start, SEEK_SET);
    }
    size_t n = fread(buf, 1, max - 1, fp);
    buf[n] = '\0';
    fclose(fp);
}
