/* Server start and stop: listeners (one SO_REUSEPORT socket per loop), loop threads, backend choice, graceful
 * shutdown, metrics. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <semaphore.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "server_internal.h"

void sw_server_config_init(sw_server_config_t *cfg) {
    memset(cfg, 0, sizeof *cfg);
    cfg->backend = SW_BACKEND_AUTO;
    cfg->tcp_nodelay = 1;
    cfg->limits = sw_default_limits;
    cfg->max_body = 4u << 20;
    cfg->max_conns = 16384;
    cfg->header_timeout_ms = 10000;
    cfg->max_stream_body = 1ull << 30;
    cfg->body_timeout_ms = 10000;
    cfg->min_body_rate = 240;
    cfg->idle_timeout_ms = 60000;
    cfg->write_timeout_ms = 30000;
    cfg->min_send_rate = 240;
}

/* Binds one listener. `port` 0 asks the kernel for one; the caller passes the port it got to the next loops. */
static int make_listener(const char *host, uint16_t port, uint16_t *bound) {
    struct sockaddr_storage ss;
    socklen_t sl;
    memset(&ss, 0, sizeof ss);
    struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons(port);
        sl = sizeof *a4;
    } else if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons(port);
        sl = sizeof *a6;
    } else {
        return -EINVAL;
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    /* each loop has its own listener on the same port; the kernel spreads connections over them */
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0 ||
        bind(fd, (struct sockaddr *)&ss, sl) < 0 || listen(fd, 4096) < 0) {
        int e = -errno;
        close(fd);
        return e;
    }
    if (bound != NULL) {
        struct sockaddr_storage got;
        socklen_t gl = sizeof got;
        getsockname(fd, (struct sockaddr *)&got, &gl);
        *bound = ntohs(got.ss_family == AF_INET ? ((struct sockaddr_in *)&got)->sin_port
                                                : ((struct sockaddr_in6 *)&got)->sin6_port);
    }
    return fd;
}

typedef struct {
    sw_loop_t *loop;
    sem_t ready;
    int result;
} start_ctx_t;

static _Thread_local int current_loop = -1;

int sw_current_loop_index(void) {
    return current_loop;
}

void sw__set_current_loop(int index) {
    current_loop = index;
}

static void *loop_main(void *arg) {
    start_ctx_t *sc = arg;
    sw_loop_t *l = sc->loop;
    current_loop = (int)l->index;
    char name[16];
    snprintf(name, sizeof name, "sw-loop-%u", l->index);
    pthread_setname_np(pthread_self(), name); /* visible in top -H, perf, gdb */
    /* The backend is set up on its own thread: io_uring's SINGLE_ISSUER ties the ring to it. */
    int r = l->be->init(l);
    sc->result = r;
    sem_post(&sc->ready); /* sc is gone after this */
    if (r != 0)
        return NULL;
    l->now_ms = sw__now_ms();
    l->wheel_now_tick = l->now_ms / SW_TICK_MS;
    sw__loop_tick(l);
    l->be->run(l);
    return NULL;
}

static void destroy_loop(sw_loop_t *l) {
    /* connections still open after the run (only when the backend failed) are closed here */
    for (uint32_t i = 0; i < l->conns_cap; i++) {
        sw_conn_t *c = l->conns[i];
        if (c != NULL && !(c->flags & CF_CLOSED)) {
            close(c->fd);
            c->flags |= CF_CLOSED;
            sw__conn_free(c);
        }
    }
    while (l->free_conns != NULL) {
        sw_conn_t *c = l->free_conns;
        l->free_conns = c->next_free;
        free(c);
    }
    free(l->conns);
    l->conns = NULL;
    if (l->be != NULL && l->be_state != NULL)
        l->be->destroy(l);
    sw__pool_destroy(l);
    free(l->headers);
    l->headers = NULL;
    if (l->listen_fd >= 0)
        close(l->listen_fd);
    if (l->event_fd >= 0)
        close(l->event_fd);
    l->listen_fd = l->event_fd = -1;
}

static const sw_backend_ops_t *choose_backend(const sw_server_config_t *cfg, sw_backend_t *which) {
    sw_backend_t want = (sw_backend_t)cfg->backend;
    const char *env = getenv("SHOCKWAVE_BACKEND");
    if (env != NULL) {
        if (strcmp(env, "uring") == 0)
            want = SW_BACKEND_URING;
        else if (strcmp(env, "epoll") == 0)
            want = SW_BACKEND_EPOLL;
    }
    if (want == SW_BACKEND_EPOLL) {
        *which = SW_BACKEND_EPOLL;
        return &sw__backend_epoll;
    }
#if defined(SW_HAVE_URING)
    if (sw__uring_probe() == 0) {
        *which = SW_BACKEND_URING;
        return &sw__backend_uring;
    }
#endif
    if (want == SW_BACKEND_URING)
        return NULL; /* asked for explicitly and not available */
    *which = SW_BACKEND_EPOLL;
    return &sw__backend_epoll;
}

/* The server struct and its loops' resources (pool, field table, wake eventfd); listeners when `listen`. Shared by
 * sw_server_start and the in-process server (memory.c). On error, whatever was made is freed. */
int sw__server_new(const sw_server_config_t *cfg, uint32_t nloops, const sw_backend_ops_t *be, bool listen,
                   sw_server_t **out) {
    sw_server_t *s = calloc(1, sizeof *s);
    if (s == NULL)
        return -ENOMEM;
    s->cfg = *cfg;
    snprintf(s->host, sizeof s->host, "%s", cfg->host != NULL ? cfg->host : "0.0.0.0");
    s->cfg.host = s->host;
    if (cfg->server_name != NULL) {
        size_t n = strnlen(cfg->server_name, sizeof s->server_name - 1);
        memcpy(s->server_name, cfg->server_name, n);
        s->server_name_len = (uint32_t)n;
    }
    s->cfg.server_name = s->server_name;
    if (s->cfg.limits.max_head == 0)
        s->cfg.limits = sw_default_limits;
    s->nloops = nloops;
    s->loops = calloc(s->nloops, sizeof *s->loops);
    if (s->loops == NULL) {
        free(s);
        return -ENOMEM;
    }
    int err = 0;
    uint16_t port = cfg->port;
    uint32_t per_loop = s->cfg.max_conns / s->nloops;
    for (uint32_t i = 0; i < s->nloops; i++) {
        sw_loop_t *l = &s->loops[i];
        l->server = s;
        l->index = i;
        l->be = be;
        l->listen_fd = l->event_fd = -1;
        l->max_conns = per_loop > 0 ? per_loop : 1;
        atomic_init(&l->posts, NULL);
        atomic_init(&l->stopping, false);
        if (err == 0 && listen) {
            int fd = make_listener(s->host, port, i == 0 ? &port : NULL);
            if (fd < 0)
                err = fd;
            l->listen_fd = fd;
        }
        if (err == 0) {
            l->event_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
            if (l->event_fd < 0)
                err = -errno;
        }
        if (err == 0)
            err = sw__pool_init(l, 16); /* a loop serves one request at a time: few buffers are out at once */
        if (err == 0) {
            uint32_t nh = s->cfg.limits.max_headers ? s->cfg.limits.max_headers : 1;
            l->headers = malloc(nh * sizeof(sw_header_t));
            if (l->headers == NULL)
                err = -ENOMEM;
        }
    }
    s->port = port;
    if (err != 0) {
        sw_server_free(s);
        return err;
    }
    *out = s;
    return 0;
}

int sw_server_start(const sw_server_config_t *cfg, sw_server_t **out) {
    if (cfg->on_request == NULL && cfg->floor_reply == NULL)
        return -EINVAL;
    /* sendmsg carries MSG_NOSIGNAL, but sendfile has no such flag: a peer that resets during a file response
     * would raise SIGPIPE, whose default action kills the process. Ignore it unless the program chose a
     * disposition of its own. */
    struct sigaction old_action;
    if (sigaction(SIGPIPE, NULL, &old_action) == 0 && old_action.sa_handler == SIG_DFL) {
        struct sigaction ignore = {.sa_handler = SIG_IGN};
        sigemptyset(&ignore.sa_mask);
        sigaction(SIGPIPE, &ignore, NULL);
    }
    sw_backend_t which;
    const sw_backend_ops_t *be = choose_backend(cfg, &which);
    if (be == NULL)
        return -ENOSYS;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    uint32_t nloops = cfg->loops != 0 ? cfg->loops : (uint32_t)(cpus > 0 ? cpus : 1);
    sw_server_t *s;
    int err = sw__server_new(cfg, nloops, be, true, &s);
    if (err != 0)
        return err;
    s->backend = which;
    for (uint32_t i = 0; i < s->nloops && err == 0; i++) {
        start_ctx_t sc = {.loop = &s->loops[i]};
        sem_init(&sc.ready, 0, 0);
        if (pthread_create(&s->loops[i].thread, NULL, loop_main, &sc) != 0) {
            err = -EAGAIN;
        } else {
            while (sem_wait(&sc.ready) != 0 && errno == EINTR) {
            }
            if (sc.result != 0) {
                pthread_join(s->loops[i].thread, NULL);
                s->loops[i].thread = 0;
                err = sc.result;
            }
        }
        sem_destroy(&sc.ready);
    }
    if (err != 0) {
        sw_server_shutdown(s, 0);
        sw_server_wait(s);
        sw_server_free(s);
        return err;
    }
    *out = s;
    return 0;
}

uint16_t sw_server_port(const sw_server_t *s) {
    return s->port;
}

sw_backend_t sw_server_backend(const sw_server_t *s) {
    return s->backend;
}

uint32_t sw_server_loop_count(const sw_server_t *s) {
    return s->nloops;
}

sw_loop_t *sw_server_loop(sw_server_t *s, uint32_t i) {
    return i < s->nloops ? &s->loops[i] : NULL;
}

void sw_server_shutdown(sw_server_t *s, uint32_t deadline_ms) {
    atomic_store(&s->shutting_down, true);
    uint64_t deadline = sw__now_ms() + deadline_ms;
    for (uint32_t i = 0; i < s->nloops; i++) {
        sw_loop_t *l = &s->loops[i];
        l->stop_deadline_ms = deadline;
        atomic_store_explicit(&l->stopping, true, memory_order_release);
        if (l->thread != 0 && l->event_fd >= 0)
            l->be->wake(l);
    }
}

void sw_server_wait(sw_server_t *s) {
    for (uint32_t i = 0; i < s->nloops; i++) {
        if (s->loops[i].thread != 0) {
            pthread_join(s->loops[i].thread, NULL);
            s->loops[i].thread = 0;
        }
    }
}

void sw_server_free(sw_server_t *s) {
    if (s == NULL)
        return;
    for (uint32_t i = 0; i < s->nloops; i++)
        destroy_loop(&s->loops[i]);
    free(s->loops);
    free(s);
}

int sw_server_loop_metrics(const sw_server_t *s, uint32_t i, sw_loop_metrics_t *out) {
    if (i >= s->nloops)
        return -EINVAL;
    /* plain copies of counters written by one thread: a torn read of a 64-bit counter cannot happen on x86-64
     * or arm64 for aligned words */
    memcpy(out, &s->loops[i].m, sizeof *out);
    return 0;
}
