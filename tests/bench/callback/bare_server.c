/* The ceiling of the callback benchmark: a bare libevent evhttp server that answers every request
 * 200 with an empty body, with the gateway's threading (one event_base and evhttp per thread on
 * SO_REUSEPORT sockets) and nothing else: no crypto, no XML, no database.
 *   bench_bare_server PORT [THREADS]     runs until SIGTERM or SIGINT */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>
#include <event2/thread.h>

#define MAX_THREADS 64

typedef struct worker {
    pthread_t thread;
    struct event_base *base;
    struct evhttp *http;
} worker_t;

static worker_t workers[MAX_THREADS];
static int n_workers;

static void on_request(struct evhttp_request *req, void *arg)
{
    (void)arg;
    evhttp_send_reply(req, 200, "OK", NULL);
}

static void *run(void *arg)
{
    worker_t *w = arg;
    event_base_dispatch(w->base);
    return NULL;
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)sig;
    (void)what;
    (void)arg;
    for (int i = 0; i < n_workers; i++)
        event_base_loopbreak(workers[i].base);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_bare_server PORT [THREADS]\n");
        return 2;
    }
    int port = atoi(argv[1]);
    n_workers = argc > 2 ? atoi(argv[2]) : 2;
    if (port <= 0 || port > 65535 || n_workers < 1 || n_workers > MAX_THREADS) {
        fprintf(stderr, "bench_bare_server: bad port or thread count\n");
        return 2;
    }
    evthread_use_pthreads();
    signal(SIGPIPE, SIG_IGN);

    struct sockaddr_in sin;
    memset(&sin, 0, sizeof sin);
    sin.sin_family = AF_INET;
    sin.sin_port = htons((uint16_t)port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

    for (int i = 0; i < n_workers; i++) {
        worker_t *w = &workers[i];
        w->base = event_base_new();
        w->http = w->base ? evhttp_new(w->base) : NULL;
        struct evconnlistener *l =
            w->base ? evconnlistener_new_bind(w->base, NULL, NULL,
                                              LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE |
                                                  LEV_OPT_REUSEABLE_PORT | LEV_OPT_CLOSE_ON_EXEC,
                                              1024, (struct sockaddr *)&sin, sizeof sin)
                    : NULL;
        if (!w->http || !l || !evhttp_bind_listener(w->http, l)) {
            fprintf(stderr, "bench_bare_server: cannot listen on 127.0.0.1:%d\n", port);
            return 1;
        }
        evhttp_set_max_body_size(w->http, 1 << 20);
        evhttp_set_gencb(w->http, on_request, NULL);
    }
    struct event *sigterm = evsignal_new(workers[0].base, SIGTERM, on_signal, NULL);
    struct event *sigint = evsignal_new(workers[0].base, SIGINT, on_signal, NULL);
    event_add(sigterm, NULL);
    event_add(sigint, NULL);
    for (int i = 1; i < n_workers; i++)
        pthread_create(&workers[i].thread, NULL, run, &workers[i]);
    fprintf(stderr, "bench_bare_server: 127.0.0.1:%d, %d threads\n", port, n_workers);
    run(&workers[0]);
    for (int i = 1; i < n_workers; i++)
        pthread_join(workers[i].thread, NULL);
    event_free(sigterm);
    event_free(sigint);
    for (int i = 0; i < n_workers; i++) {
        evhttp_free(workers[i].http);
        event_base_free(workers[i].base);
    }
    return 0;
}
