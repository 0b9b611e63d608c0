/* LD_PRELOAD shim for the outbox benchmark: turns on TCP_NODELAY for every TCP socket a process
 * accepts or connects. Neither fake_wecom nor connectors/http sets TCP_NODELAY yet; over a
 * keep-alive connection a response or request written in two pieces (headers, then body: two
 * TLS records) then waits for the peer's delayed ACK, about 40 ms, so throughput collapses to
 * connections / 40 ms. run.sh applies this to the fake by default (the test harness; wrk meets
 * the same fake) and to the gateway with BENCH_NODELAY=both, to show what the fix in
 * connectors/http is worth. Built by run.sh; not part of any product binary. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

static void nodelay(int fd)
{
    int on = 1;
    if (fd >= 0)
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
}

int accept(int s, struct sockaddr *a, socklen_t *l)
{
    static int (*real)(int, struct sockaddr *, socklen_t *);
    if (!real)
        real = (int (*)(int, struct sockaddr *, socklen_t *))dlsym(RTLD_NEXT, "accept");
    int fd = real(s, a, l);
    nodelay(fd);
    return fd;
}

int accept4(int s, struct sockaddr *a, socklen_t *l, int flags)
{
    static int (*real)(int, struct sockaddr *, socklen_t *, int);
    if (!real)
        real = (int (*)(int, struct sockaddr *, socklen_t *, int))dlsym(RTLD_NEXT, "accept4");
    int fd = real(s, a, l, flags);
    nodelay(fd);
    return fd;
}

int connect(int s, const struct sockaddr *a, socklen_t l)
{
    static int (*real)(int, const struct sockaddr *, socklen_t);
    if (!real)
        real = (int (*)(int, const struct sockaddr *, socklen_t))dlsym(RTLD_NEXT, "connect");
    if (a && (a->sa_family == AF_INET || a->sa_family == AF_INET6))
        nodelay(s); /* errors ignored: a UNIX socket, say */
    return real(s, a, l);
}
