/* The transport: a connection's lifetime, its input buffer, its output queue and its timer slot, driven by a
 * backend (epoll, io_uring, in-process). It knows nothing of HTTP: what the bytes mean is the session's
 * (c->session, called only through its function pointers), and the session decides how much to read and when
 * to close. Lingering close is the transport's: after the last byte is sent, stop sending, read and discard a
 * short while, then close, so the peer reads the response before any RST (RFC 9112 9.6). */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "server_internal.h"

#define IN_MIN 4096u
#define LINGER_MS 2000u

/* ---- lifetime ---------------------------------------------------------------------------------------------- */

sw_conn_t *sw__conn_new(sw_loop_t *l, int fd) {
    if (l->conns_open >= l->max_conns) {
        close(fd);
        return NULL;
    }
    sw_conn_t *c = l->free_conns;
    if (c != NULL) {
        l->free_conns = c->next_free;
        l->m.pool_hits++;
    } else {
        /* a new slot in the connection table */
        if (l->conns_open == l->conns_cap) {
            uint32_t ncap = l->conns_cap ? l->conns_cap * 2 : 64;
            sw_conn_t **n = realloc(l->conns, ncap * sizeof *n);
            if (n == NULL) {
                close(fd);
                return NULL;
            }
            memset(n + l->conns_cap, 0, (ncap - l->conns_cap) * sizeof *n);
            l->conns = n;
            l->conns_cap = ncap;
        }
        c = calloc(1, sizeof *c);
        if (c == NULL) {
            close(fd);
            return NULL;
        }
        l->m.pool_misses++;
        c->index = UINT32_MAX;
    }
    if (c->index == UINT32_MAX) {
        for (uint32_t i = 0; i < l->conns_cap; i++) {
            if (l->conns[i] == NULL) {
                c->index = i;
                break;
            }
        }
    }
    l->conns[c->index] = c;
    uint16_t gen = (uint16_t)(c->gen + 1);
    uint32_t index = c->index;
    memset(c, 0, offsetof(sw_conn_t, seg_inline));
    c->gen = gen;
    c->index = index;
    c->fd = fd;
    c->loop = l;
    c->segs = c->seg_inline;
    c->segs_cap = SW_INLINE_SEGS;
    l->conns_open++;
    l->m.connections_accepted++;
    l->m.connections_open = l->conns_open;
    /* HTTP/1.1 is the only session so far; a second protocol is chosen here (ALPN, the HTTP/2 preface). */
    c->session = &sw__h1_session;
    c->session->on_open(c);
    return c;
}

/* The write buffer a finished send was reading, if `out` grew meanwhile (see sw__out_reserve). */
static void release_out_old(sw_conn_t *c) {
    if (c->out_old.data != NULL) {
        sw__pool_put(c->loop, c->out_old.data, c->out_old.cap);
        c->out_old.data = NULL;
        c->out_old.cap = 0;
    }
}

void sw__conn_free(sw_conn_t *c) {
    sw_loop_t *l = c->loop;
    sw__timer_clear(l, c);
    c->session->on_close(c); /* tells the exchanges (a waiting body reader, a pending handler's close hook) */
    if (c->holds > 0) {
        /* Code answering later still holds the struct and reads its request view: free at the last release. */
        c->flags |= CF_FREE_DEFERRED;
        return;
    }
    c->session->on_free(c);
    sw__out_drop_segs(c); /* releases borrowed bodies and files */
    release_out_old(c);
    sw__pool_put(l, c->in.data, c->in.cap);
    sw__pool_put(l, c->out.data, c->out.cap);
    c->in.data = c->out.data = NULL;
    c->in.cap = c->out.cap = 0;
    if (c->segs != c->seg_inline)
        free(c->segs);
    c->segs = c->seg_inline;
    l->conns[c->index] = NULL;
    l->conns_open--;
    l->m.connections_open = l->conns_open;
    c->next_free = l->free_conns;
    l->free_conns = c;
}

void sw__conn_hold(sw_conn_t *c) {
    c->holds++;
}

void sw__conn_release(sw_conn_t *c) {
    if (--c->holds > 0 || !(c->flags & CF_FREE_DEFERRED))
        return;
    c->flags &= ~(uint32_t)CF_FREE_DEFERRED;
    sw__conn_free(c);
}

void sw__conn_close(sw_conn_t *c) {
    if (!(c->flags & CF_CLOSED))
        c->loop->be->close(c->loop, c);
}

static void linger(sw_conn_t *c) {
    shutdown(c->fd, SHUT_WR);
    sw__timer_set(c->loop, c, TK_LINGER, LINGER_MS);
    c->loop->be->want_read(c->loop, c);
}

void sw__conn_close_after_output(sw_conn_t *c) {
    if (c->flags & (CF_CLOSED | CF_LINGER))
        return;
    c->flags |= CF_LINGER;
    if (sw__conn_has_output(c))
        c->loop->be->want_write(c->loop, c); /* lingers once it is sent (sw__conn_on_written) */
    else
        linger(c);
}

void sw__conn_flush(sw_conn_t *c) {
    if (!(c->flags & CF_CLOSED) && sw__conn_has_output(c))
        c->loop->be->want_write(c->loop, c);
}

bool sw__conn_answering(const sw_conn_t *c) {
    return c->session->answering(c);
}

bool sw__conn_timeout(sw_conn_t *c, int kind) {
    if (kind == TK_LINGER) {
        sw__conn_close(c); /* lingered long enough */
        return true;
    }
    return c->session->on_timeout(c, kind);
}

void sw__conn_shutdown_idle(sw_conn_t *c) {
    if (!(c->flags & CF_LINGER))
        c->session->on_shutdown(c);
}

/* ---- input ------------------------------------------------------------------------------------------------- */

int64_t sw__in_grow(sw_conn_t *c, uint64_t need_total) {
    sw_loop_t *l = c->loop;
    if (need_total > UINT32_MAX - 1)
        return -1;
    uint32_t cap = (uint32_t)need_total;
    if (cap < IN_MIN)
        cap = IN_MIN;
    char *n = sw__pool_get(l, &cap);
    if (n == NULL)
        return -1;
    uint32_t moved = c->in_start;
    uint32_t keep = c->in.len - c->in_start;
    if (c->in.data != NULL) {
        memcpy(n, c->in.data + c->in_start, keep);
        sw__pool_put(l, c->in.data, c->in.cap);
    }
    c->in.data = n;
    c->in.cap = cap;
    c->in.len = keep;
    c->in_start = 0;
    if (cap > l->m.in_buf_peak)
        l->m.in_buf_peak = cap;
    return moved;
}

uint32_t sw__in_compact(sw_conn_t *c) {
    uint32_t moved = c->in_start;
    if (moved == 0)
        return 0;
    uint32_t used = c->in.len - c->in_start;
    memmove(c->in.data, c->in.data + c->in_start, used);
    c->in.len = used;
    c->in_start = 0;
    return moved;
}

bool sw__conn_release_input(sw_conn_t *c) {
    if (c->in.data != NULL && c->in.len == 0 && !(c->flags & (CF_RECVING | CF_LINGER)) && !sw__conn_answering(c)) {
        sw__pool_put(c->loop, c->in.data, c->in.cap);
        c->in.data = NULL;
        c->in.cap = 0;
        c->in_start = 0;
    }
    return c->in.data == NULL;
}

bool sw__conn_adopt_input(sw_conn_t *c, char *buf, uint32_t cap) {
    if (c->in.data != NULL)
        return false; /* only a connection without an input buffer reads into a provided one */
    c->in.data = buf;
    c->in.cap = cap;
    c->in.len = c->in_start = 0;
    if (cap > c->loop->m.in_buf_peak)
        c->loop->m.in_buf_peak = cap;
    return true;
}

uint32_t sw__conn_read_space(sw_conn_t *c, char **at) {
    if (c->flags & CF_CLOSED)
        return 0;
    if (c->flags & CF_LINGER) {
        /* discarding: keep the bytes before in_start while code that may still read its request's views holds the
         * connection */
        if (c->in.data == NULL && sw__in_grow(c, IN_MIN) < 0)
            return 0;
        if (c->holds == 0)
            c->in_start = 0;
        c->in.len = c->in_start;
        *at = c->in.data + c->in.len;
        return c->in.cap - c->in.len;
    }
    return c->session->read_space(c, at);
}

void sw__conn_on_read(sw_conn_t *c, ssize_t n) {
    if (c->flags & CF_CLOSED)
        return;
    if (c->flags & CF_LINGER) {
        if (n <= 0)
            sw__conn_close(c); /* the peer closed too: done */
        else
            c->in.len = c->in_start; /* discard */
        return;
    }
    if (n > 0) {
        c->in.len += (uint32_t)n;
        c->loop->m.bytes_in += (uint64_t)n;
    }
    c->session->on_read(c, n);
}

/* ---- output ------------------------------------------------------------------------------------------------ */

bool sw__out_reserve(sw_conn_t *c, size_t n) {
    sw_buf_t *b = &c->out;
    if ((size_t)b->cap - b->len >= n)
        return true;
    uint64_t need = (uint64_t)b->len + n;
    if (need > UINT32_MAX / 2)
        return false;
    uint32_t cap = b->cap ? b->cap : 4096;
    while (cap < need)
        cap *= 2;
    char *p = sw__pool_get(c->loop, &cap);
    if (p == NULL)
        return false;
    if (b->data != NULL) {
        memcpy(p, b->data, b->len);
        if ((c->flags & CF_SENDING) && c->out_old.data == NULL)
            c->out_old = *b; /* an io_uring send in flight still reads the old bytes: keep them until it completes */
        else
            sw__pool_put(c->loop, b->data, b->cap);
    }
    b->data = p;
    b->cap = cap;
    if (cap > c->loop->m.out_buf_peak)
        c->loop->m.out_buf_peak = cap;
    return true;
}

int sw__out_append(sw_conn_t *c, const void *p, size_t n) {
    if (!sw__out_reserve(c, n))
        return -ENOMEM;
    memcpy(c->out.data + c->out.len, p, n);
    c->out.len += (uint32_t)n;
    return 0;
}

/* Seals the write buffer's uncovered tail into a segment so a borrowed or file segment can follow it. */
int sw__out_push_seg(sw_conn_t *c, const sw_seg_t *seg) {
    if (c->nsegs + 2 > c->segs_cap) {
        /* more pieces than the connection's inline array holds: move to a full-size one (kept until close) */
        if (c->segs_cap >= SW_MAX_SEGS)
            return -ENOBUFS;
        sw_seg_t *big = malloc(SW_MAX_SEGS * sizeof *big);
        if (big == NULL)
            return -ENOMEM;
        memcpy(big, c->segs, c->nsegs * sizeof *big);
        c->segs = big;
        c->segs_cap = SW_MAX_SEGS;
    }
    if (c->out.len > c->wbuf_mark) {
        sw_seg_t *w = &c->segs[c->nsegs++];
        memset(w, 0, sizeof *w);
        w->kind = SEG_WBUF;
        w->off = c->wbuf_mark;
        w->len = c->out.len - c->wbuf_mark;
        w->fd = -1;
        c->wbuf_mark = c->out.len;
    }
    c->segs[c->nsegs++] = *seg;
    return 0;
}

static void release_seg(sw_seg_t *s) {
    if (s->kind == SEG_BORROWED && s->release != NULL)
        s->release(s->ctx);
    if (s->kind == SEG_FILE && s->fd >= 0)
        close(s->fd);
    s->release = NULL;
    s->fd = -1;
}

void sw__out_drop_segs(sw_conn_t *c) {
    for (uint32_t i = c->seg_head; i < c->nsegs; i++)
        release_seg(&c->segs[i]);
    c->nsegs = c->seg_head = 0;
    c->seg_sent = 0;
}

bool sw__conn_has_output(const sw_conn_t *c) {
    return c->out.len > 0 || c->nsegs > c->seg_head;
}

int sw__conn_iov(sw_conn_t *c, struct iovec *iov, int max) {
    int n = 0;
    uint64_t skip = c->seg_sent;
    uint32_t i;
    for (i = c->seg_head; i < c->nsegs && n < max; i++) {
        sw_seg_t *s = &c->segs[i];
        if (s->kind == SEG_FILE)
            return n; /* sent by sendfile once everything before it is out */
        const char *p = s->kind == SEG_WBUF ? c->out.data + s->off : s->ptr;
        iov[n].iov_base = (void *)(p + skip);
        iov[n].iov_len = (size_t)(s->len - skip);
        skip = 0;
        n++;
    }
    /* then the write buffer's tail that no segment covers yet */
    if (i == c->nsegs && n < max && c->out.len > c->wbuf_mark) {
        iov[n].iov_base = c->out.data + c->wbuf_mark;
        iov[n].iov_len = c->out.len - c->wbuf_mark;
        n++;
    }
    return n;
}

sw_seg_t *sw__conn_file_seg(sw_conn_t *c) {
    if (c->seg_head < c->nsegs && c->segs[c->seg_head].kind == SEG_FILE)
        return &c->segs[c->seg_head];
    return NULL;
}

void sw__conn_on_written(sw_conn_t *c, ssize_t n) {
    release_out_old(c);
    if (c->flags & CF_CLOSED)
        return;
    if (n < 0) {
        sw__conn_close(c); /* EPIPE, ECONNRESET: the peer is gone, and so is this connection only */
        return;
    }
    c->loop->m.bytes_out += (uint64_t)n;
    uint64_t left = (uint64_t)n;
    while (left > 0 && c->seg_head < c->nsegs) {
        sw_seg_t *s = &c->segs[c->seg_head];
        uint64_t rest = s->len - c->seg_sent;
        if (left < rest) {
            c->seg_sent += left;
            left = 0;
            break;
        }
        left -= rest;
        release_seg(s);
        c->seg_head++;
        c->seg_sent = 0;
    }
    if (left > 0) {
        /* from the uncovered tail of the write buffer */
        c->wbuf_mark += (uint32_t)left;
    }
    if (c->seg_head == c->nsegs) {
        c->seg_head = c->nsegs = 0;
        c->seg_sent = 0;
        if (c->wbuf_mark >= c->out.len) {
            c->out.len = 0;
            c->wbuf_mark = 0;
            /* Everything is out: the write buffer goes back to the pool, so an idle connection holds none. */
            sw__pool_put(c->loop, c->out.data, c->out.cap);
            c->out.data = NULL;
            c->out.cap = 0;
        }
    }
    c->sent_window += (uint64_t)n; /* the send rate's count; its checkpoint is the TK_WRITE timer */
    bool all = !sw__conn_has_output(c);
    if (all && (c->flags & CF_LINGER)) {
        linger(c);
        return;
    }
    c->session->on_sent(c, all);
}

/* ---- sockets ----------------------------------------------------------------------------------------------- */

void sw__tune_socket(sw_server_t *s, int fd) {
    int one = 1;
    if (s->cfg.tcp_nodelay)
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one); /* responses go out whole, no Nagle wait */
    if (s->cfg.tcp_quickack)
        setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
}

int sw_socket_options(int fd, int *nodelay, int *quickack) {
    socklen_t len = sizeof(int);
    if (getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, nodelay, &len) < 0)
        return -errno;
    len = sizeof(int);
    if (getsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, quickack, &len) < 0)
        return -errno;
    return 0;
}
