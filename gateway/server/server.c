/* The HTTP server's threads, listening sockets, startup barrier, signals and shutdown.
 *
 * Listeners: one SO_REUSEPORT socket per worker thread, all bound to the same address. The
 * kernel spreads incoming connections evenly over them (by flow hash) and wakes one thread per
 * connection; with one shared (dup'ed) socket every idle thread wakes for each connection and
 * the first awake takes a burst, which skews keep-alive load (a benchmark's connections all
 * arrive at once). SO_REUSEPORT would also let a second wegate join our port silently, so we
 * first bind a probe socket without it: that fails with EADDRINUSE when anyone (a stale wegate
 * included) listens there already.
 *
 * Threads: the main thread creates the sockets (so that bind errors are reported before any
 * thread starts), starts the workers and waits at a barrier until each has built its loop,
 * evhttp, store and crypt objects and attached its socket (or failed: then all are told to quit
 * and the error is returned). Only then is "listening" logged. Afterwards the main thread only
 * waits on a signalfd (SIGTERM, SIGINT; blocked in every thread) and on an eventfd the workers
 * write when their loop ends, and retries the migrations when they failed at start.
 *
 * Shutdown: on the first signal every worker is told to drain (worker.c: remove its accept
 * socket, which closes it; answer with Connection: close; leave its loop when its in-flight
 * count reaches 0 or after http_shutdown_grace_ms). A second signal stops them at once. */
#include "gateway/server/server.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/util.h>

#include "connectors/pg/store.h"
#include "gateway/log.h"
#include "gateway/server/background.h"
#include "gateway/server/worker.h"

#define LISTEN_BACKLOG 1024
#define MIGRATE_RETRY_MIN_MS 1000
#define MIGRATE_RETRY_MAX_MS 30000

typedef struct server server_t;

typedef struct slot {
    server_t *server;
    wg_worker_t worker;
    int listen_fd; /* handed to the worker at init */
    int notify_fd; /* the worker's eventfd; closed after the join */
} slot_t;

struct server {
    const wg_config_t *cfg;
    slot_t *slots;
    int n_slots;
    int n_started; /* threads created */
    int exit_fd;   /* eventfd: a worker's loop ended */

    pthread_mutex_t mu;
    pthread_cond_t cv;
    int n_reported; /* workers past init */
    int n_failed;
    int go; /* 0 wait, 1 run, -1 quit */

    wg_background_t *bg; /* the background loop (outbox), started once the workers listen */

    _Atomic int unready; /* workers whose store is not ready: /readyz answers for them all */
};

static void *worker_main(void *arg)
{
    slot_t *slot = arg;
    server_t *s = slot->server;
    wg_worker_t *w = &slot->worker;
    int fd = slot->listen_fd;
    slot->listen_fd = -1; /* the worker owns it now */
    int rc = wg_worker_init(w, (int)(slot - s->slots), s->cfg, fd, slot->notify_fd);

    pthread_mutex_lock(&s->mu);
    s->n_reported++;
    if (rc != 0) {
        w->init_failed_ = 1;
        s->n_failed++;
    }
    pthread_cond_broadcast(&s->cv);
    while (s->go == 0)
        pthread_cond_wait(&s->cv, &s->mu);
    int go = s->go;
    pthread_mutex_unlock(&s->mu);

    if (rc == 0 && go > 0)
        wg_worker_run(w);
    wg_worker_destroy(w);

    uint64_t one = 1;
    ssize_t r = write(s->exit_fd, &one, sizeof one);
    (void)r;
    return NULL;
}

/* ---- sockets ---- */

static int set_flag(int fd, int level, int opt)
{
    int on = 1;
    return setsockopt(fd, level, opt, &on, sizeof on);
}

/* A bound socket (listening unless probe), or -1 with err. */
static int open_socket(const struct sockaddr *sa, socklen_t salen, int probe, char *err,
                       size_t errlen)
{
    const char *step = "socket";
    int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        goto fail;
    step = "SO_REUSEADDR";
    if (set_flag(fd, SOL_SOCKET, SO_REUSEADDR) != 0)
        goto fail;
    step = "SO_REUSEPORT";
    if (!probe && set_flag(fd, SOL_SOCKET, SO_REUSEPORT) != 0)
        goto fail;
    step = "bind";
    if (bind(fd, sa, salen) != 0)
        goto fail;
    if (probe)
        return fd;
    step = "listen";
    if (listen(fd, LISTEN_BACKLOG) != 0)
        goto fail;
    step = "nonblocking";
    if (evutil_make_socket_nonblocking(fd) != 0)
        goto fail;
    return fd;
fail:
    snprintf(err, errlen, "%s: %s", step, strerror(errno));
    if (fd >= 0)
        close(fd);
    return -1;
}

static void format_addr(const struct sockaddr *sa, socklen_t salen, char *out, size_t outlen)
{
    char host[64], port[16]; /* numeric: INET6_ADDRSTRLEN is 46 */
    if (getnameinfo(sa, salen, host, sizeof host, port, sizeof port,
                    NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
        snprintf(out, outlen, "?");
        return;
    }
    if (sa->sa_family == AF_INET6)
        snprintf(out, outlen, "[%s]:%s", host, port);
    else
        snprintf(out, outlen, "%s:%s", host, port);
}

/* Opens n listening sockets on the configured address into fds[]; writes the bound address
 * (with the real port when the config says 0) to addr. 0, or -1 with err (nothing left open). */
static int open_listeners(const wg_config_t *cfg, int *fds, int n, char *addr, size_t addrlen,
                          char *err, size_t errlen)
{
    const char *host = cfg->listen_host && *cfg->listen_host ? cfg->listen_host : "127.0.0.1";
    char port[8];
    snprintf(port, sizeof port, "%u", (unsigned)cfg->listen_port);
    struct addrinfo hints = {0}, *ai = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    int gai = getaddrinfo(host, port, &hints, &ai);
    if (gai != 0 || ai == NULL) {
        snprintf(err, errlen, "listen %s:%s: %s", host, port, gai_strerror(gai));
        return -1;
    }
    struct sockaddr_storage ss;
    socklen_t sslen = (socklen_t)ai->ai_addrlen;
    memcpy(&ss, ai->ai_addr, ai->ai_addrlen);
    freeaddrinfo(ai);
    char where[128];
    format_addr((struct sockaddr *)&ss, sslen, where, sizeof where);

    char why[160];
    for (int i = 0; i < n; i++)
        fds[i] = -1;
    if (cfg->listen_port != 0) {
        int probe = open_socket((struct sockaddr *)&ss, sslen, 1, why, sizeof why);
        if (probe < 0) {
            snprintf(err, errlen, "listen %s: %s", where, why);
            return -1;
        }
        close(probe);
    }
    for (int i = 0; i < n; i++) {
        fds[i] = open_socket((struct sockaddr *)&ss, sslen, 0, why, sizeof why);
        if (fds[i] < 0) {
            snprintf(err, errlen, "listen %s: %s", where, why);
            for (int j = 0; j < i; j++) {
                close(fds[j]);
                fds[j] = -1;
            }
            return -1;
        }
        if (i == 0) { /* the others bind to the port the first one got (config port 0) */
            sslen = sizeof ss;
            if (getsockname(fds[0], (struct sockaddr *)&ss, &sslen) != 0) {
                snprintf(err, errlen, "listen %s: getsockname: %s", where, strerror(errno));
                close(fds[0]);
                fds[0] = -1;
                return -1;
            }
        }
    }
    format_addr((struct sockaddr *)&ss, sslen, addr, addrlen);
    return 0;
}

const char *wg_text_for_log(char *dst, size_t dstlen, const char *src)
{
    size_t i = 0;
    if (dstlen == 0)
        return dst;
    for (; src && src[i] && i + 1 < dstlen; i++) {
        unsigned char c = (unsigned char)src[i];
        dst[i] = c < 0x20 || c == 0x7f ? ' ' : c == '"' ? '\'' : (char)c;
    }
    dst[i] = '\0';
    return dst;
}

/* ---- run ---- */

static void command_all(server_t *s, wg_worker_cmd_t cmd)
{
    for (int i = 0; i < s->n_started; i++)
        wg_worker_command(&s->slots[i].worker, cmd);
    wg_background_command(s->bg, cmd);
}

static const char *signal_name(unsigned signo)
{
    return signo == SIGTERM ? "SIGTERM" : signo == SIGINT ? "SIGINT" : "signal";
}

static void try_migrate(const wg_config_t *cfg, int *pending, int *delay_ms)
{
    int applied = 0;
    char err[256];
    if (wg_pg_migrate(cfg->database_url, &applied, err, sizeof err) == 0) {
        wg_log(WG_LOG_INFO, "migrations applied", "count=%d", applied);
        *pending = 0;
        return;
    }
    *delay_ms = *delay_ms * 2 > MIGRATE_RETRY_MAX_MS ? MIGRATE_RETRY_MAX_MS : *delay_ms * 2;
    char text[256];
    wg_log(WG_LOG_WARN, "migrations failed", "retry_ms=%d error=\"%s\"", *delay_ms,
           wg_text_for_log(text, sizeof text, err));
}

/* The main thread's wait: signals, workers ending, migration retries. Returns 0 after a
 * signal-driven shutdown, -1 when a worker stopped on its own. */
static int main_loop(server_t *s, int sigfd, int migrate_pending)
{
    enum { RUNNING, DRAINING, STOPPING } state = RUNNING;
    int rc = 0;
    int n_exited = 0;
    int delay_ms = MIGRATE_RETRY_MIN_MS;
    while (n_exited < s->n_started) {
        struct pollfd pfd[2] = {{.fd = sigfd, .events = POLLIN},
                                {.fd = s->exit_fd, .events = POLLIN}};
        int timeout = migrate_pending && state == RUNNING ? delay_ms : -1;
        int n = poll(pfd, 2, timeout);
        if (n < 0 && errno != EINTR) {
            wg_log(WG_LOG_ERROR, "poll failed", "error=\"%s\"", strerror(errno));
            command_all(s, WG_WORKER_STOP);
            state = STOPPING;
            continue;
        }
        if (n == 0) {
            try_migrate(s->cfg, &migrate_pending, &delay_ms);
            continue;
        }
        if (pfd[0].revents & POLLIN) {
            struct signalfd_siginfo si;
            while (read(sigfd, &si, sizeof si) == (ssize_t)sizeof si) {
                if (state == RUNNING) {
                    wg_log(WG_LOG_INFO, "shutting down", "signal=%s grace_ms=%d",
                           signal_name(si.ssi_signo), s->cfg->http_shutdown_grace_ms);
                    command_all(s, WG_WORKER_DRAIN);
                    state = DRAINING;
                } else if (state == DRAINING) {
                    wg_log(WG_LOG_WARN, "stopping now", "signal=%s", signal_name(si.ssi_signo));
                    command_all(s, WG_WORKER_STOP);
                    state = STOPPING;
                }
            }
        }
        if (pfd[1].revents & POLLIN) {
            uint64_t v = 0;
            if (read(s->exit_fd, &v, sizeof v) == (ssize_t)sizeof v)
                n_exited += (int)v;
            if (state == RUNNING && n_exited < s->n_started) {
                wg_log(WG_LOG_ERROR, "worker stopped unexpectedly; shutting down", "exited=%d",
                       n_exited);
                command_all(s, WG_WORKER_DRAIN);
                state = DRAINING;
                rc = -1;
            } else if (state == RUNNING) {
                rc = -1;
            }
        }
    }
    return rc;
}

int wg_server_run(const wg_config_t *cfg, const wg_server_options_t *opts, char *err, size_t errlen)
{
    int n = cfg->workers > 0 ? cfg->workers : 1;
    int rc = -1;
    int sigfd = -1;
    int *fds = NULL;
    int mu_ready = 0;
    server_t s = {.cfg = cfg, .exit_fd = -1};
    char addr[128];

    /* Signals: blocked here before any thread exists (the workers inherit the mask), read from
     * a signalfd by this thread only. SIGPIPE is ignored: peers vanish mid-write. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (sigfd < 0) {
        snprintf(err, errlen, "signalfd: %s", strerror(errno));
        goto out;
    }

    fds = calloc((size_t)n, sizeof *fds);
    s.slots = calloc((size_t)n, sizeof *s.slots);
    if (!fds || !s.slots) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    s.n_slots = n;
    atomic_init(&s.unready, n); /* each worker counts itself ready on its first ready tick */
    for (int i = 0; i < n; i++) {
        s.slots[i].listen_fd = -1;
        s.slots[i].notify_fd = -1;
        s.slots[i].worker.unready_ = &s.unready;
    }
    if (open_listeners(cfg, fds, n, addr, sizeof addr, err, errlen) != 0)
        goto out;
    s.exit_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (s.exit_fd < 0) {
        snprintf(err, errlen, "eventfd: %s", strerror(errno));
        goto out;
    }
    for (int i = 0; i < n; i++) {
        s.slots[i].server = &s;
        s.slots[i].listen_fd = fds[i];
        fds[i] = -1; /* the slot owns it */
        s.slots[i].notify_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (s.slots[i].notify_fd < 0) {
            snprintf(err, errlen, "eventfd: %s", strerror(errno));
            goto out;
        }
    }

    pthread_mutex_init(&s.mu, NULL);
    pthread_cond_init(&s.cv, NULL);
    mu_ready = 1;
    for (int i = 0; i < n; i++) {
        int e = pthread_create(&s.slots[i].worker.thread_, NULL, worker_main, &s.slots[i]);
        if (e != 0) {
            snprintf(err, errlen, "starting worker %d: %s", i, strerror(e));
            break;
        }
        s.slots[i].worker.started_ = 1;
        s.n_started++;
    }

    /* The barrier: every started worker has reported; run only if all n are good. */
    pthread_mutex_lock(&s.mu);
    while (s.n_reported < s.n_started)
        pthread_cond_wait(&s.cv, &s.mu);
    s.go = s.n_started == n && s.n_failed == 0 ? 1 : -1;
    pthread_cond_broadcast(&s.cv);
    pthread_mutex_unlock(&s.mu);

    if (s.go < 0) {
        for (int i = 0; i < s.n_started; i++) {
            if (s.slots[i].worker.init_failed_) {
                snprintf(err, errlen, "%s", s.slots[i].worker.err_);
                break;
            }
        }
        for (int i = 0; i < s.n_started; i++)
            pthread_join(s.slots[i].worker.thread_, NULL);
        s.n_started = 0;
        goto out;
    }

    s.bg = wg_background_start(cfg, err, errlen);
    if (!s.bg) {
        command_all(&s, WG_WORKER_STOP);
        for (int i = 0; i < s.n_started; i++)
            pthread_join(s.slots[i].worker.thread_, NULL);
        s.n_started = 0;
        goto out;
    }

    wg_log(WG_LOG_INFO, "listening", "addr=%s workers=%d", addr, n);
    int loop_rc = main_loop(&s, sigfd, opts && opts->migrate_pending);
    for (int i = 0; i < s.n_started; i++)
        pthread_join(s.slots[i].worker.thread_, NULL);
    s.n_started = 0;
    if (loop_rc != 0) /* the workers ended on their own: the loop may not have told it */
        wg_background_command(s.bg, WG_WORKER_DRAIN);
    wg_background_join(s.bg); /* told to drain or stop with the workers */
    s.bg = NULL;
    if (loop_rc != 0) {
        snprintf(err, errlen, "a worker stopped unexpectedly");
        goto out;
    }
    rc = 0;

out:
    if (s.slots) {
        for (int i = 0; i < s.n_slots; i++) {
            if (s.slots[i].listen_fd >= 0)
                close(s.slots[i].listen_fd);
            if (s.slots[i].notify_fd >= 0)
                close(s.slots[i].notify_fd);
        }
        free(s.slots);
    }
    if (fds) {
        for (int i = 0; i < n; i++)
            if (fds[i] >= 0)
                close(fds[i]);
        free(fds);
    }
    if (mu_ready) {
        pthread_mutex_destroy(&s.mu);
        pthread_cond_destroy(&s.cv);
    }
    if (s.exit_fd >= 0)
        close(s.exit_fd);
    if (sigfd >= 0)
        close(sigfd);
    /* SIGTERM/SIGINT stay blocked: one more signal may be pending, and unblocking it now would
     * kill the process on its way to a clean exit. The caller is about to exit anyway. */
    return rc;
}
