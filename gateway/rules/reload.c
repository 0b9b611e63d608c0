/* Rule-set reloads through a spawned `wegate rules compile` (see reload.h). */
#include "gateway/rules/reload.h"

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* A rule set or a compiled file larger than this is refused (50,000 words compile to ~15 MB). */
#define RULES_MAX_BYTES (256u * 1024 * 1024)

/* Reads path whole into a new buffer (NUL-terminated); NULL with err on failure. */
static char *read_all(const char *path, size_t *len, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = NULL;
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (size_t)st.st_size > RULES_MAX_BYTES) {
        snprintf(err, errlen, "%s: not a regular file of at most %u bytes", path, RULES_MAX_BYTES);
        goto out;
    }
    buf = malloc((size_t)st.st_size + 1);
    if (!buf) {
        snprintf(err, errlen, "%s: out of memory", path);
        goto out;
    }
    size_t got = 0;
    while (got < (size_t)st.st_size) {
        ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            snprintf(err, errlen, "%s: %s", path,
                     n < 0 ? strerror(errno) : "shorter than its size");
            free(buf);
            buf = NULL;
            goto out;
        }
        got += (size_t)n;
    }
    buf[got] = '\0';
    *len = got;
out:
    close(fd);
    return buf;
}

/* Runs `exe rules compile rules_file -o out`; 0 when it exited 0, else -1 with err holding the
 * first line the child wrote on stderr. */
static int run_compile(const char *exe, const char *rules_file, const char *out, char *err,
                       size_t errlen)
{
    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC) != 0) {
        snprintf(err, errlen, "pipe: %s", strerror(errno));
        return -1;
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, pipefd[1], STDERR_FILENO);
    char *const argv[] = {(char *)"wegate",
                          (char *)"rules",
                          (char *)"compile",
                          (char *)rules_file,
                          (char *)"-o",
                          (char *)out,
                          NULL};
    pid_t pid;
    int rc = posix_spawn(&pid, exe, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(pipefd[1]);
    if (rc != 0) {
        close(pipefd[0]);
        snprintf(err, errlen, "cannot run %s: %s", exe, strerror(rc));
        return -1;
    }
    char msg[512];
    size_t used = 0;
    for (;;) { /* drain stderr so the child never blocks on it; keep the start */
        char chunk[512];
        ssize_t n = read(pipefd[0], chunk, sizeof chunk);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        size_t take = (size_t)n < sizeof msg - 1 - used ? (size_t)n : sizeof msg - 1 - used;
        memcpy(msg + used, chunk, take);
        used += take;
    }
    close(pipefd[0]);
    msg[used] = '\0';
    msg[strcspn(msg, "\n")] = '\0';
    int status;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            snprintf(err, errlen, "waitpid: %s", strerror(errno));
            return -1;
        }
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 0;
    if (WIFEXITED(status))
        snprintf(err, errlen, "rules compile exited %d: %s", WEXITSTATUS(status),
                 msg[0] ? msg : "(no message)");
    else
        snprintf(err, errlen, "rules compile killed by signal %d", WTERMSIG(status));
    return -1;
}

int wg_rules_reload(wg_audit_live_t *live, const char *wegate_exe, const char *rules_file,
                    char *err, size_t errlen)
{
    int rc = -1;
    size_t json_len = 0, bin_len = 0;
    char *bin = NULL;
    char *json = read_all(rules_file, &json_len, err, errlen);
    if (!json)
        return -1;

    const char *dir = getenv("TMPDIR");
    char out[4096];
    snprintf(out, sizeof out, "%s/wegate-rules-XXXXXX", dir && *dir ? dir : "/tmp");
    int fd = mkstemp(out);
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s", out, strerror(errno));
        goto done;
    }
    close(fd);
    if (run_compile(wegate_exe, rules_file, out, err, errlen) != 0)
        goto unlink;
    bin = read_all(out, &bin_len, err, errlen);
    if (!bin)
        goto unlink;
    char aerr[WG_AUDIT_ERR_MAX];
    /* the hash check refuses a file compiled from other contents than the ones read above */
    wg_audit_ruleset_t *rs = wg_audit_ruleset_load_compiled(bin, bin_len, json, json_len, aerr);
    if (!rs) {
        snprintf(err, errlen, "loading the compiled rules: %s", aerr);
        goto unlink;
    }
    wg_audit_live_swap(live, rs);
    rc = 0;
unlink:
    unlink(out);
done:
    free(bin);
    free(json);
    return rc;
}
