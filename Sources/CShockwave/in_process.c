/* In-process connections: a server with one loop and no sockets, driven by the thread that created it. Bytes a
 * test (or a benchmark) sends go through the same connection code as bytes from a socket — parser, limits,
 * request callback, serializer — and what the server writes is collected per connection instead of sent. It
 * is the third backend: the transport and the sessions above it cannot tell it from epoll or io_uring.
 *
 * The creating thread is the loop thread: every sw_mem_* call and every request callback runs on it. Async
 * handlers post their jobs to the loop (sw_loop_post, from any thread); sw_mem_run waits for and runs them. */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server_internal.h"

struct sw_mem_conn {
    sw_loop_t *loop;
    sw_conn_t *conn; /* NULL once the server side closed */
    char *out;       /* bytes the server wrote and the caller has not consumed: [out_off, out_len) */
    size_t out_off, out_len, out_cap;
    char *inbox; /* bytes sent while the connection was not reading (a pending handler), fed on want_read */
    size_t in_len, in_cap;
};

typedef struct {
    sw_mem_conn_t **by_index; /* the caller's handle of each connection slot */
    uint32_t cap;
} mem_state_t;

static sw_mem_conn_t *handle_of(sw_loop_t *l, const sw_conn_t *c) {
    mem_state_t *s = l->be_state;
    return c->index < s->cap ? s->by_index[c->index] : NULL;
}

static bool reserve(char **buf, size_t *cap, size_t need) {
    if (need <= *cap)
        return true;
    size_t n = *cap ? *cap : 4096;
    while (n < need)
        n *= 2;
    char *p = realloc(*buf, n);
    if (p == NULL)
        return false;
    *buf = p;
    *cap = n;
    return true;
}

/* ---- the backend ------------------------------------------------------------------------------------------------ */

static int mem_init(sw_loop_t *l) {
    mem_state_t *s = calloc(1, sizeof *s);
    if (s == NULL)
        return -ENOMEM;
    l->be_state = s;
    return 0;
}

static void mem_destroy(sw_loop_t *l) {
    mem_state_t *s = l->be_state;
    if (s == NULL)
        return;
    free(s->by_index);
    free(s);
    l->be_state = NULL;
}

static void mem_close(sw_loop_t *l, sw_conn_t *c) {
    if (c->flags & CF_CLOSED)
        return;
    c->flags |= CF_CLOSED;
    sw_mem_conn_t *m = handle_of(l, c);
    if (m != NULL) {
        m->conn = NULL;
        ((mem_state_t *)l->be_state)->by_index[c->index] = NULL;
    }
    sw__conn_free(c);
}

/* "Sends" everything queued: appends it to the handle's output. */
static void mem_want_write(sw_loop_t *l, sw_conn_t *c) {
    sw_mem_conn_t *m = handle_of(l, c);
    if (m == NULL)
        return; /* closed: nothing goes anywhere */
    while (!(c->flags & CF_CLOSED) && sw__conn_has_output(c)) {
        struct iovec iov[32];
        int n = sw__conn_iov(c, iov, 32);
        ssize_t total = 0;
        if (n > 0) {
            for (int i = 0; i < n; i++) {
                if (!reserve(&m->out, &m->out_cap, m->out_len + iov[i].iov_len)) {
                    sw__conn_on_written(c, -ENOMEM);
                    return;
                }
                memcpy(m->out + m->out_len, iov[i].iov_base, iov[i].iov_len);
                m->out_len += iov[i].iov_len;
                total += (ssize_t)iov[i].iov_len;
            }
        } else {
            sw_seg_t *f = sw__conn_file_seg(c);
            if (f == NULL)
                return;
            size_t left = (size_t)(f->len - c->seg_sent);
            if (!reserve(&m->out, &m->out_cap, m->out_len + left)) {
                sw__conn_on_written(c, -ENOMEM);
                return;
            }
            total = pread(f->fd, m->out + m->out_len, left, (off_t)(f->off + c->seg_sent));
            if (total <= 0) {
                sw__conn_on_written(c, total == 0 ? -EIO : -errno);
                return;
            }
            m->out_len += (size_t)total;
        }
        sw__conn_on_written(c, total);
    }
}

/* Feeds `n` bytes as if received; what does not fit now (reading paused) waits in the inbox. */
static void deliver(sw_mem_conn_t *m, const char *p, size_t n) {
    while (n > 0 && m->conn != NULL) {
        sw_conn_t *c = m->conn;
        char *at;
        uint32_t room = sw__conn_read_space(c, &at);
        if (room == 0) {
            if (reserve(&m->inbox, &m->in_cap, m->in_len + n)) {
                memcpy(m->inbox + m->in_len, p, n);
                m->in_len += n;
            }
            return;
        }
        uint32_t k = n < room ? (uint32_t)n : room;
        memcpy(at, p, k);
        p += k;
        n -= k;
        sw__conn_on_read(c, (ssize_t)k);
    }
}

static void mem_want_read(sw_loop_t *l, sw_conn_t *c) {
    sw_mem_conn_t *m = handle_of(l, c);
    if ((c->flags & CF_LINGER) && !sw__conn_has_output(c)) {
        mem_close(l, c); /* the response before the close is out; an in-process peer needs no lingering */
        return;
    }
    if (m == NULL || m->in_len == 0)
        return;
    /* take the inbox first: deliver may refill it */
    char *bytes = m->inbox;
    size_t n = m->in_len;
    m->inbox = NULL;
    m->in_len = m->in_cap = 0;
    deliver(m, bytes, n);
    free(bytes);
}

static void mem_wake(sw_loop_t *l) {
    uint64_t one = 1;
    while (write(l->event_fd, &one, sizeof one) < 0 && errno == EINTR) {
    }
}

static void mem_stop_accepting(sw_loop_t *l) {
    (void)l;
}

static const sw_backend_ops_t backend_memory = {
    .name = "memory",
    .init = mem_init,
    .destroy = mem_destroy,
    .want_write = mem_want_write,
    .want_read = mem_want_read,
    .close = mem_close,
    .wake = mem_wake,
    .stop_accepting = mem_stop_accepting,
};

/* ---- the API ---------------------------------------------------------------------------------------------------- */

int sw_mem_server_create(const sw_server_config_t *cfg, sw_server_t **out) {
    if (cfg->on_request == NULL)
        return -EINVAL;
    sw_server_t *s;
    int r = sw__server_new(cfg, 1, &backend_memory, false, &s);
    if (r != 0)
        return r;
    s->backend = SW_BACKEND_MEMORY;
    sw_loop_t *l = &s->loops[0];
    r = mem_init(l);
    if (r != 0) {
        sw_server_free(s);
        return r;
    }
    sw__set_current_loop(0);
    l->now_ms = sw__now_ms();
    l->wheel_now_tick = l->now_ms / SW_TICK_MS;
    sw__loop_tick(l);
    *out = s;
    return 0;
}

sw_mem_conn_t *sw_mem_connect(sw_server_t *s) {
    sw_loop_t *l = &s->loops[0];
    mem_state_t *st = l->be_state;
    sw_mem_conn_t *m = calloc(1, sizeof *m);
    if (m == NULL)
        return NULL;
    sw_conn_t *c = sw__conn_new(l, -1);
    if (c == NULL) {
        free(m);
        return NULL;
    }
    if (c->index >= st->cap) {
        uint32_t cap = st->cap ? st->cap : 16;
        while (cap <= c->index)
            cap *= 2;
        sw_mem_conn_t **n = realloc(st->by_index, cap * sizeof *n);
        if (n == NULL) {
            mem_close(l, c);
            free(m);
            return NULL;
        }
        memset(n + st->cap, 0, (cap - st->cap) * sizeof *n);
        st->by_index = n;
        st->cap = cap;
    }
    st->by_index[c->index] = m;
    m->loop = l;
    m->conn = c;
    return m;
}

int sw_mem_send(sw_mem_conn_t *m, const void *bytes, size_t len) {
    if (m->conn == NULL)
        return -EPIPE;
    sw_loop_t *l = m->loop;
    if (sw__now_ms() / SW_TICK_MS != l->wheel_now_tick)
        sw__loop_tick(l); /* the Date header and the timers, as a loop turn would */
    deliver(m, bytes, len);
    return 0;
}

int sw_mem_send_eof(sw_mem_conn_t *m) {
    if (m->conn == NULL)
        return -EPIPE;
    sw__conn_on_read(m->conn, 0);
    return 0;
}

const char *sw_mem_output(const sw_mem_conn_t *m, size_t *len) {
    *len = m->out_len - m->out_off;
    return m->out + m->out_off;
}

void sw_mem_consume(sw_mem_conn_t *m, size_t n) {
    size_t have = m->out_len - m->out_off;
    m->out_off += n < have ? n : have;
    if (m->out_off == m->out_len)
        m->out_off = m->out_len = 0;
}

int sw_mem_is_open(const sw_mem_conn_t *m) {
    return m->conn != NULL;
}

void sw_mem_disconnect(sw_mem_conn_t *m) {
    if (m->conn != NULL)
        mem_close(m->loop, m->conn);
    free(m->out);
    free(m->inbox);
    free(m);
}

int sw_mem_run(sw_server_t *s, int timeout_ms) {
    sw_loop_t *l = &s->loops[0];
    if (atomic_load_explicit(&l->posts, memory_order_acquire) == NULL && timeout_ms != 0) {
        struct pollfd p = {.fd = l->event_fd, .events = POLLIN};
        if (poll(&p, 1, timeout_ms) <= 0 && atomic_load_explicit(&l->posts, memory_order_acquire) == NULL) {
            sw__loop_tick(l);
            return 0;
        }
    }
    uint64_t v;
    while (read(l->event_fd, &v, sizeof v) < 0 && errno == EINTR) {
    }
    bool had = atomic_load_explicit(&l->posts, memory_order_acquire) != NULL;
    sw__loop_tick(l);
    return had ? 1 : 0;
}

void sw_mem_server_free(sw_server_t *s) {
    if (s == NULL)
        return;
    sw_loop_t *l = &s->loops[0];
    for (uint32_t i = 0; i < l->conns_cap; i++) {
        sw_conn_t *c = l->conns[i];
        if (c != NULL && !(c->flags & CF_CLOSED))
            mem_close(l, c);
    }
    sw_server_free(s);
}
