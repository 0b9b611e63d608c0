/* Test helpers for tests that talk to fake_wecom: make a throwaway CA with make_test_ca.sh, start
 * the fake as a child process (it dies with the test), learn its ports, stop it and check that
 * it exited cleanly (under ASan, a leak makes that fail). Header-only; POSIX and Linux. */
#ifndef WG_FAKE_PROC_H
#define WG_FAKE_PROC_H

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct fake_proc {
    pid_t pid;
    int port;      /* --port: TLS when started with a certificate */
    int http_port; /* --http-port, 0 if none */
} fake_proc_t;

/* Runs argv (argv[0] a path) and waits for its "READY port=P http_port=Q" line. 0 or -1. */
static inline int fake_proc_start(fake_proc_t *fp, char *const argv[])
{
    int pipefd[2];
    char line[128];
    size_t used = 0;
    memset(fp, 0, sizeof(*fp));
    if (pipe(pipefd) != 0)
        return -1;
    fp->pid = fork();
    if (fp->pid < 0) {
        close(pipefd[0]);
        close(pipefd[1]);
        return -1;
    }
    if (fp->pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGTERM); /* never outlive the test */
        dup2(pipefd[1], STDOUT_FILENO);
        close(pipefd[0]);
        close(pipefd[1]);
        execv(argv[0], argv);
        _exit(127);
    }
    close(pipefd[1]);
    while (used < sizeof(line) - 1) {
        struct pollfd p = {pipefd[0], POLLIN, 0};
        ssize_t n;
        if (poll(&p, 1, 10000) <= 0)
            break;
        n = read(pipefd[0], line + used, sizeof(line) - 1 - used);
        if (n <= 0)
            break;
        used += (size_t)n;
        line[used] = '\0';
        if (strchr(line, '\n') != NULL)
            break;
    }
    line[used] = '\0';
    close(pipefd[0]);
    if (sscanf(line, "READY port=%d http_port=%d", &fp->port, &fp->http_port) != 2) {
        kill(fp->pid, SIGKILL);
        waitpid(fp->pid, NULL, 0);
        fp->pid = 0;
        return -1;
    }
    return 0;
}

/* SIGTERM and wait: the exit status (0 when the fake shut down cleanly), or -1. */
static inline int fake_proc_stop(fake_proc_t *fp)
{
    int status = 0;
    if (fp->pid <= 0)
        return -1;
    kill(fp->pid, SIGTERM);
    if (waitpid(fp->pid, &status, 0) != fp->pid)
        return -1;
    fp->pid = 0;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Makes a temporary folder and the test CA in it with script (make_test_ca.sh). dir gets the
 * folder's path. 0 or -1. */
static inline int test_ca_make(const char *script, char *dir, size_t dirlen)
{
    char cmd[1024];
    snprintf(dir, dirlen, "/tmp/wegate-test-ca.XXXXXX");
    if (mkdtemp(dir) == NULL)
        return -1;
    snprintf(cmd, sizeof(cmd), "sh '%s' '%s'", script, dir);
    return system(cmd) == 0 ? 0 : -1;
}

static inline void test_ca_remove(const char *dir)
{
    static const char *files[] = {"ca.pem",     "ca.key",        "server.pem",
                                  "server.key", "wronghost.pem", "wronghost.key"};
    char path[512];
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
        unlink(path);
    }
    rmdir(dir);
}

#endif
