/* The epoll backend: edge-triggered readiness, non-blocking recv/sendmsg/sendfile. The fallback when io_uring
 * is unavailable (containers often forbid it) and a first-class path: both backends pass the same tests. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <unistd.h>

#include "server_internal.h"

#define MAX_EVENTS 256
#define READS_PER_EVENT 16 /* then yield to other connections; the rest is read on the next turn */

/* epoll_event.data.u64: the listener and the eventfd have fixed tags; connections carry (gen << 32 | index). */
#define TAG_LISTEN UINT64_C(0xFFFFFFFFFFFFFFFF)
#define TAG_WAKE UINT64_C(0xFFFFFFFFFFFFFFFE)

typedef struct {
    int ep;
    sw_conn_t **ready; /* connections with unread input left after their read budget */
    uint32_t nready, ready_cap;
} ep_state_t;

static inline uint64_t conn_tag(const sw_conn_t *c) {
    return (uint64_t)c->gen << 32 | c->index;
}

static int ep_init(sw_loop_t *l) {
    ep_state_t *s = calloc(1, sizeof *s);
    if (s == NULL)
        return -ENOMEM;
    s->ep = epoll_create1(EPOLL_CLOEXEC);
    if (s->ep < 0) {
        int e = -errno;
        free(s);
        return e;
    }
    l->be_state = s;
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = TAG_LISTEN};
    if (epoll_ctl(s->ep, EPOLL_CTL_ADD, l->listen_fd, &ev) < 0)
        return -errno;
    ev.data.u64 = TAG_WAKE;
    if (epoll_ctl(s->ep, EPOLL_CTL_ADD, l->event_fd, &ev) < 0)
        return -errno;
    return 0;
}

static void ep_destroy(sw_loop_t *l) {
    ep_state_t *s = l->be_state;
    if (s == NULL)
        return;
    close(s->ep);
    free(s->ready);
    free(s);
    l->be_state = NULL;
}

static void do_close(sw_loop_t *l, sw_conn_t *c) {
    (void)l;
    if (c->flags & CF_CLOSED)
        return;
    c->flags |= CF_CLOSED;
    /* close() removes the fd from the epoll set; no event for it is delivered after this turn's batch, and
     * the batch checks the generation in the tag */
    close(c->fd);
    c->fd = -1;
    sw__conn_free(c);
}

static void flush(sw_conn_t *c) {
    struct iovec iov[32];
    while (!(c->flags & CF_CLOSED) && sw__conn_has_output(c)) {
        int n = sw__conn_iov(c, iov, 32);
        ssize_t w;
        if (n > 0) {
            struct msghdr mh = {.msg_iov = iov, .msg_iovlen = (size_t)n};
            w = sendmsg(c->fd, &mh, MSG_NOSIGNAL); /* never SIGPIPE */
        } else {
            sw_seg_t *f = sw__conn_file_seg(c);
            if (f == NULL)
                break;
            off_t off = (off_t)(f->off + c->seg_sent);
            uint64_t left = f->len - c->seg_sent;
            w = sendfile(c->fd, f->fd, &off, left > (1u << 30) ? (1u << 30) : (size_t)left);
            if (w == 0) {
                w = -1;
                errno = EIO; /* the file is shorter than promised */
            }
        }
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                c->flags |= CF_WANT_WRITE; /* EPOLLOUT (edge) will call again */
                return;
            }
            sw__conn_on_written(c, -errno);
            return;
        }
        sw__conn_on_written(c, w);
    }
    c->flags &= ~(uint32_t)CF_WANT_WRITE;
}

static void push_ready(ep_state_t *s, sw_conn_t *c) {
    if (s->nready == s->ready_cap) {
        uint32_t cap = s->ready_cap ? s->ready_cap * 2 : 64;
        sw_conn_t **n = realloc(s->ready, cap * sizeof *n);
        if (n == NULL)
            return; /* the connection's next edge will come with more data; rare */
        s->ready = n;
        s->ready_cap = cap;
    }
    s->ready[s->nready++] = c;
}

/* Reads until EAGAIN or the budget is spent. Returns true if input may remain. `to_eof`: a short read does not
 * prove the socket drained, since the peer's FIN may wait behind the data (EPOLLRDHUP, or an edge that arrived
 * while reading was paused): read on until EAGAIN or 0, so a half-close after a request is seen now, not at the
 * idle timeout. */
static bool read_burst(sw_conn_t *c, bool to_eof) {
    for (int i = 0; i < READS_PER_EVENT; i++) {
        if (c->flags & CF_CLOSED)
            return false;
        char *at;
        uint32_t space = sw__conn_read_space(c, &at);
        if (space == 0)
            return false; /* paused (pending handler, or full); resumed by want_read */
        ssize_t n = recv(c->fd, at, space, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return false;
            sw__conn_on_read(c, -errno);
            return false;
        }
        sw__conn_on_read(c, n);
        if (n == 0 || ((uint32_t)n < space && !to_eof))
            return false; /* a short read means the socket is drained (stream sockets) */
    }
    return true;
}

static bool read_some(sw_conn_t *c, bool to_eof) {
    if (read_burst(c, to_eof))
        return true;
    if (!(c->flags & CF_CLOSED))
        sw__conn_release_input(c); /* drained or paused: an idle connection holds no input buffer */
    return false;
}

static void on_conn_event(sw_loop_t *l, sw_conn_t *c, uint32_t events) {
    if (events & (EPOLLERR | EPOLLHUP)) {
        /* Reset or hung up. Unread input is still read first — unless a handler is answering later: reading is
         * paused then, and nothing can reach the peer, so close now, which tells the handler (sw_conn_on_close). */
        if (!(events & EPOLLIN) || sw__conn_answering(c)) {
            do_close(l, c);
            return;
        }
    }
    if ((events & EPOLLOUT) && (c->flags & CF_WANT_WRITE))
        flush(c);
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP)) {
        if (read_some(c, (events & (EPOLLRDHUP | EPOLLHUP)) != 0))
            push_ready(l->be_state, c);
    }
}

/* Accepts until the queue is empty. `draining`: the last pass before the listener closes (see ep_stop_accepting). */
static void accept_all(sw_loop_t *l, bool draining) {
    ep_state_t *s = l->be_state;
    while (draining || !l->listener_closed) {
        if (l->conns_open >= l->max_conns) {
            /* At the limit: stop watching the listener until connections close (checked each tick). */
            epoll_ctl(s->ep, EPOLL_CTL_DEL, l->listen_fd, NULL);
            l->accept_paused = true;
            return;
        }
        int fd = accept4(l->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                /* Out of descriptors: back off instead of spinning on a listener that stays readable. */
                epoll_ctl(s->ep, EPOLL_CTL_DEL, l->listen_fd, NULL);
                l->accept_paused = true;
                l->accept_retry_ms = l->now_ms + 100;
            }
            return;
        }
        sw__tune_socket(l->server, fd);
        sw_conn_t *c = sw__conn_new(l, fd);
        if (c == NULL)
            continue;
        struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, .data.u64 = conn_tag(c)};
        if (epoll_ctl(s->ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
            do_close(l, c);
            continue;
        }
    }
}

static void maybe_resume_accept(sw_loop_t *l) {
    if (!l->accept_paused || l->listener_closed)
        return;
    if (l->conns_open >= l->max_conns || l->now_ms < l->accept_retry_ms)
        return;
    ep_state_t *s = l->be_state;
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = TAG_LISTEN};
    if (epoll_ctl(s->ep, EPOLL_CTL_ADD, l->listen_fd, &ev) == 0)
        l->accept_paused = false;
}

static void ep_run(sw_loop_t *l) {
    ep_state_t *s = l->be_state;
    struct epoll_event evs[MAX_EVENTS];
    while (!sw__loop_done(l)) {
        int timeout = s->nready > 0 ? 0 : sw__loop_next_timeout_ms(l);
        int n = epoll_wait(s->ep, evs, MAX_EVENTS, timeout);
        if (n < 0 && errno != EINTR)
            break;
        l->now_ms = sw__now_ms();
        /* connections whose read budget ran out last turn go first */
        uint32_t nready = s->nready;
        s->nready = 0;
        for (uint32_t i = 0; i < nready; i++) {
            sw_conn_t *c = s->ready[i];
            if (!(c->flags & CF_CLOSED) && c->loop == l && read_some(c, true))
                push_ready(s, c);
        }
        for (int i = 0; i < n; i++) {
            uint64_t tag = evs[i].data.u64;
            if (tag == TAG_LISTEN) {
                accept_all(l, false);
            } else if (tag == TAG_WAKE) {
                uint64_t v;
                while (read(l->event_fd, &v, sizeof v) < 0 && errno == EINTR) {
                }
            } else {
                uint32_t index = (uint32_t)tag;
                sw_conn_t *c = index < l->conns_cap ? l->conns[index] : NULL;
                if (c != NULL && c->gen == (uint16_t)(tag >> 32) && !(c->flags & CF_CLOSED))
                    on_conn_event(l, c, evs[i].events);
            }
        }
        sw__loop_tick(l);
        maybe_resume_accept(l);
    }
}

static void ep_want_write(sw_loop_t *l, sw_conn_t *c) {
    (void)l;
    if (!(c->flags & CF_WANT_WRITE))
        flush(c);
}

static void ep_want_read(sw_loop_t *l, sw_conn_t *c) {
    /* Edge-triggered: bytes that arrived while reading was paused raised no new edge; read now. */
    if (read_some(c, true))
        push_ready(l->be_state, c);
}

static void ep_wake(sw_loop_t *l) {
    uint64_t one = 1;
    while (write(l->event_fd, &one, sizeof one) < 0 && errno == EINTR) {
    }
}

static void ep_stop_accepting(sw_loop_t *l) {
    ep_state_t *s = l->be_state;
    if (l->listen_fd >= 0) {
        /* Connections the kernel completed before the stop wait in the accept queue, and their clients may have
         * sent a request already; closing the listener would reset them. Take them first: they are served like
         * the connections accepted earlier (a request in the socket is answered with Connection: close). */
        if (!l->accept_paused)
            accept_all(l, true);
        if (!l->accept_paused)
            epoll_ctl(s->ep, EPOLL_CTL_DEL, l->listen_fd, NULL);
        close(l->listen_fd);
        l->listen_fd = -1;
    }
}

const sw_backend_ops_t sw__backend_epoll = {
    .name = "epoll",
    .init = ep_init,
    .run = ep_run,
    .destroy = ep_destroy,
    .want_write = ep_want_write,
    .want_read = ep_want_read,
    .close = do_close,
    .wake = ep_wake,
    .stop_accepting = ep_stop_accepting,
};
