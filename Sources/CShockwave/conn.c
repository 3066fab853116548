/* The HTTP/1.1 connection: reading heads and bodies, dispatching to the request callback, pipelining,
 * keep-alive, timeouts and closing. Backend-independent: the backends feed bytes in (sw__conn_on_read) and take
 * queued output (sw__conn_iov / sw__conn_on_written). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "server_internal.h"

#define IN_MIN 4096u
#define OUT_MIN 4096u

static void process(sw_conn_t *c);
static void update_timer(sw_conn_t *c);
static void stream_arrived(sw_conn_t *c, uint32_t n);
void sw__resp_error(sw_conn_t *c, int status, const char *msg);
void sw__resp_reset(sw_conn_t *c);
int sw__out_append(sw_conn_t *c, const void *p, size_t n);
void sw__conn_response_done(sw_conn_t *c);

static inline const sw_server_config_t *cfg(const sw_conn_t *c) {
    return &c->loop->server->cfg;
}

static inline bool stopping(const sw_conn_t *c) {
    return c->loop->listener_closed;
}

/* ---- lifecycle ------------------------------------------------------------------------------------------ */

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
    c->serial = ++l->conn_serial;
    c->fd = fd;
    c->loop = l;
    c->req.headers = l->headers;
    c->segs = c->seg_inline;
    c->segs_cap = SW_INLINE_SEGS;
    l->conns_open++;
    l->m.connections_accepted++;
    l->m.connections_open = l->conns_open;
    sw__timer_set(l, c, TK_HEADER, cfg(c)->header_timeout_ms);
    return c;
}

/* The write buffer a finished send was reading, if `out` grew meanwhile (see out_reserve). */
static void release_out_old(sw_conn_t *c) {
    if (c->out_old.data != NULL) {
        sw__pool_put(c->loop, c->out_old.data, c->out_old.cap);
        c->out_old.data = NULL;
        c->out_old.cap = 0;
    }
}

/* ---- the parsed head's field table ------------------------------------------------------------------------ */

/* Moves the field table out of the loop's shared array into one the connection owns, so the head stays valid
 * after this event (the next connection's parse overwrites the loop's array). */
int sw__conn_keep_head(sw_conn_t *c) {
    sw_loop_t *l = c->loop;
    if (c->req.headers != l->headers)
        return 0;
    size_t bytes = (size_t)c->req.num_headers * sizeof(sw_header_t);
    if (bytes == 0) {
        c->req.headers = NULL; /* nothing to keep; NULL marks it as not the loop's */
        return 0;
    }
    uint32_t cap = (uint32_t)bytes;
    sw_header_t *h = sw__pool_get(l, &cap);
    if (h == NULL)
        return -ENOMEM;
    memcpy(h, l->headers, bytes);
    c->kept = h;
    c->kept_cap = cap;
    c->req.headers = h;
    return 0;
}

int sw_conn_keep_request(sw_conn_t *c) {
    return sw__conn_keep_head(c);
}

/* The request is over: the next one parses into the loop's array again. */
static void release_head(sw_conn_t *c) {
    if (c->kept != NULL) {
        sw__pool_put(c->loop, c->kept, c->kept_cap);
        c->kept = NULL;
        c->kept_cap = 0;
    }
    c->req.headers = c->loop->headers;
}

static void stream_wake(sw_conn_t *c);

void sw__conn_free(sw_conn_t *c) {
    sw_loop_t *l = c->loop;
    sw__timer_clear(l, c);
    if (c->stream == SB_ACTIVE) {
        c->stream = SB_FAILED; /* closed (reset, shutdown deadline) in the middle of a streamed body */
        c->sb_err = SW_BODY_CLOSED;
    }
    stream_wake(c); /* a waiting reader learns it now; its task holds a pin, so the struct stays */
    if (c->on_closed != NULL) {
        void (*fn)(void *) = c->on_closed;
        c->on_closed = NULL;
        fn(c->on_closed_ctx); /* the code answering it (a pending handler) can stop */
    }
    if (c->pins > 0) {
        /* A pending handler still holds the struct and reads its request view: free at the last unpin. */
        c->flags |= CF_FREE_DEFERRED;
        return;
    }
    sw__resp_reset(c); /* releases borrowed bodies and files */
    release_out_old(c);
    sw__pool_put(l, c->in.data, c->in.cap);
    sw__pool_put(l, c->out.data, c->out.cap);
    c->in.data = c->out.data = NULL;
    c->in.cap = c->out.cap = 0;
    release_head(c);
    if (c->segs != c->seg_inline)
        free(c->segs);
    c->segs = c->seg_inline;
    l->conns[c->index] = NULL;
    l->conns_open--;
    l->m.connections_open = l->conns_open;
    c->next_free = l->free_conns;
    l->free_conns = c;
}

void sw_conn_pin(sw_conn_t *c) {
    c->pins++;
}

void sw_conn_unpin(sw_conn_t *c) {
    if (--c->pins > 0)
        return;
    if (c->flags & CF_FREE_DEFERRED) {
        c->flags &= ~(uint32_t)CF_FREE_DEFERRED;
        sw__conn_free(c);
        return;
    }
    if (c->flags & CF_DONE_PINNED) {
        c->flags &= ~(uint32_t)CF_DONE_PINNED;
        if (!(c->flags & CF_CLOSED))
            sw__conn_response_done(c); /* the deferred end of the request: go on with the next one */
    }
}

int sw_conn_is_open(const sw_conn_t *c) {
    return !(c->flags & CF_CLOSED);
}

void sw_conn_on_close(sw_conn_t *c, void (*fn)(void *ctx), void *ctx) {
    c->on_closed = fn;
    c->on_closed_ctx = ctx;
}

static void close_conn(sw_conn_t *c) {
    if (!(c->flags & CF_CLOSED))
        c->loop->be->close(c->loop, c);
}

/* A closing connection whose output is all sent: stop sending, then read and discard a short while (the peer may
 * still be sending a body), so the peer reads the response before any RST (RFC 9112 9.6). The CS_CLOSING timer
 * ends it. */
static void linger(sw_conn_t *c) {
    shutdown(c->fd, SHUT_WR);
    c->loop->be->want_read(c->loop, c);
}

/* ---- timers ------------------------------------------------------------------------------------------------ */

/* The body rate (slow POST). While the server waits for body bytes, time is cut into windows of body_timeout_ms;
 * at the end of each, the window must have brought max(1, min_body_rate * window) bytes, else the request is cut
 * (408). One timer per connection, set once per window: received bytes are only counted (sw__conn_on_read), never
 * reset a deadline. The clock stops while nobody waits for the body (a streaming handler works on a piece, or
 * output goes first) and goes on with the rest of the window when the wait resumes, so stopping to read cannot
 * stretch a window. */
static void body_clock_reset(sw_conn_t *c) {
    c->win_bytes = 0;
    c->win_used = 0;
}

static void body_clock_run(sw_conn_t *c) {
    if (c->timer_kind == TK_BODY)
        return;
    uint32_t w = cfg(c)->body_timeout_ms;
    c->win_since = c->loop->now_ms;
    sw__timer_set(c->loop, c, TK_BODY, w == 0 ? 0 : c->win_used < w ? w - c->win_used : 1);
}

static void body_clock_pause(sw_conn_t *c) {
    if (c->timer_kind != TK_BODY)
        return;
    uint64_t used = (uint64_t)c->win_used + (c->loop->now_ms - c->win_since);
    c->win_used = used > UINT32_MAX ? UINT32_MAX : (uint32_t)used;
    sw__timer_clear(c->loop, c);
}

/* Sets the deadline that fits the connection's state. The header deadline starts with a request's first byte
 * and is not moved by later bytes: a slowloris client gets no more time by trickling. */
static void update_timer(sw_conn_t *c) {
    sw_loop_t *l = c->loop;
    if (c->flags & CF_CLOSED)
        return;
    if (c->flags & CF_BODY_WAIT) {
        body_clock_run(c); /* a streamed body's reader waits: the body's rate rules, even with output queued */
        return;
    }
    if (sw__conn_has_output(c)) {
        body_clock_pause(c);
        if (c->timer_kind != TK_WRITE)
            sw__timer_set(l, c, TK_WRITE, cfg(c)->write_timeout_ms);
        return;
    }
    switch (c->state) {
    case CS_HEAD:
        if (c->in.len > c->in_start) {
            if (c->timer_kind != TK_HEADER)
                sw__timer_set(l, c, TK_HEADER, cfg(c)->header_timeout_ms);
        } else if (c->timer_kind != TK_IDLE && c->requests > 0) {
            sw__timer_set(l, c, TK_IDLE, cfg(c)->idle_timeout_ms);
        }
        break;
    case CS_BODY:
    case CS_CHUNKED:
    case CS_DRAIN:
        body_clock_run(c);
        break;
    case CS_CLOSING:
        if (c->timer_kind != TK_WRITE)
            sw__timer_set(l, c, TK_WRITE, 2000); /* lingering close: drain the peer's bytes a little while */
        break;
    default:
        body_clock_pause(c);
        sw__timer_clear(l, c);
        break;
    }
}

static void stream_fail(sw_conn_t *c, int err, int status, const char *msg);

/* RFC 9110 15.5.9: tell a slow client why, then close. */
static void answer_408(sw_conn_t *c, const char *msg) {
    sw__resp_error(c, 408, msg);
    c->state = CS_CLOSING;
    c->loop->be->want_write(c->loop, c);
    sw__timer_set(c->loop, c, TK_WRITE, 1000);
}

bool sw__conn_timeout(sw_conn_t *c, int kind) {
    if (kind == TK_BODY) {
        const sw_server_config_t *k = cfg(c);
        uint64_t need = (uint64_t)k->min_body_rate * k->body_timeout_ms / 1000;
        if (c->win_bytes >= (need > 0 ? need : 1)) {
            /* a checkpoint, passed: the next window starts */
            body_clock_reset(c);
            body_clock_run(c);
            return false;
        }
        if (c->state == CS_BODY || c->state == CS_CHUNKED) {
            if (!sw__conn_has_output(c)) {
                answer_408(c, "request body not received at the minimum rate");
                return true;
            }
        } else if (c->state == CS_HANDLER && c->stream == SB_ACTIVE) {
            stream_fail(c, SW_BODY_TIMEOUT, 408, "request body not received at the minimum rate");
            return true;
        }
        close_conn(c); /* CS_DRAIN: the response is out already */
        return true;
    }
    if (c->state == CS_HEAD && c->in.len > c->in_start && !sw__conn_has_output(c)) {
        answer_408(c, "request head not received in time");
        return true;
    }
    close_conn(c);
    return true;
}

void sw__conn_shutdown_idle(sw_conn_t *c) {
    /* Graceful shutdown: a connection between requests closes now; others finish their request and get
     * `Connection: close` (keep-alive is decided per response and refused while stopping). */
    if (c->state == CS_HEAD && c->in.len == c->in_start && !sw__conn_has_output(c)) {
        /* Unless a request is already in the socket, sent before the shutdown and not read yet (its readiness
         * event or completion is still to come): then it is read and answered, with `Connection: close`. */
        char b;
        if (recv(c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) > 0)
            return;
        close_conn(c);
    }
}

/* ---- input ----------------------------------------------------------------------------------------------- */

static bool grow_in(sw_conn_t *c, uint64_t need_total) {
    sw_loop_t *l = c->loop;
    if (need_total > UINT32_MAX - 1)
        return false;
    uint32_t cap = (uint32_t)need_total;
    if (cap < IN_MIN)
        cap = IN_MIN;
    char *n = sw__pool_get(l, &cap);
    if (n == NULL)
        return false;
    uint32_t keep = c->in.len - c->in_start;
    if (c->in.data != NULL) {
        memcpy(n, c->in.data + c->in_start, keep);
        sw__pool_put(l, c->in.data, c->in.cap);
    }
    /* offsets into the old buffer move down by in_start */
    c->body_off -= c->body_off >= c->in_start ? c->in_start : c->body_off;
    c->chunk_off -= c->chunk_off >= c->in_start ? c->in_start : c->chunk_off;
    c->in.data = n;
    c->in.cap = cap;
    c->in.len = keep;
    c->in_start = 0;
    if (cap > l->m.in_buf_peak)
        l->m.in_buf_peak = cap;
    return true;
}

bool sw__conn_release_input(sw_conn_t *c) {
    if (c->in.data != NULL && c->in.len == 0 && c->state == CS_HEAD && !(c->flags & CF_RECVING)) {
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
    if (c->flags & (CF_CLOSED | CF_OUT_PAUSED))
        return 0; /* closed, or output back-pressure: the next requests wait in the kernel until ours are read */
    if (c->state == CS_HANDLER) {
        /* Back-pressure: a pending handler stops reading (pipelined bytes wait in the kernel), unless it waits for
         * its streamed body: then the body window takes what fits, and is never grown. */
        if (!(c->flags & CF_BODY_WAIT))
            return 0;
        *at = c->in.data + c->in.len;
        return c->in.cap - c->in.len;
    }
    if (c->in.data == NULL && !grow_in(c, IN_MIN))
        return 0;
    if (c->in.len == c->in.cap && c->state == CS_CLOSING) {
        /* lingering close: discard, but keep the bytes before in_start while a handler that may still read its
         * request's views holds the connection */
        if (c->pins == 0)
            c->in_start = 0;
        c->in.len = c->in_start;
        if (c->in.len == c->in.cap)
            return 0;
    }
    if (c->in.len == c->in.cap) {
        uint64_t used = c->in.len - c->in_start;
        uint64_t want;
        const sw_server_config_t *k = cfg(c);
        if (c->state == CS_BODY)
            want = (uint64_t)(c->body_off - c->in_start) + c->body_need + 4096; /* + room for a pipelined head */
        else if (c->state == CS_CLOSING)
            want = 0;
        else
            want = used * 2;
        uint64_t limit = (uint64_t)k->limits.max_head + k->max_body + 4096; /* + chunk framing slack */
        if (want > limit)
            want = limit;
        /* Compact when the bytes kept are few (cheap), or when the current request fits the buffer once the
         * consumed requests' bytes are gone; grow only when it does not. Without the second case a buffer whose
         * consumed start lay below half its size, holding a request that fits it (a second pipelined POST after
         * a first one), was neither compacted nor grown: nothing more was read until the body timer's 408. */
        if (c->in_start > 0 && (used < c->in.cap / 2 || want <= c->in.cap)) {
            /* compact: the consumed requests' bytes go */
            memmove(c->in.data, c->in.data + c->in_start, used);
            c->body_off -= c->body_off >= c->in_start ? c->in_start : c->body_off;
            c->chunk_off -= c->chunk_off >= c->in_start ? c->in_start : c->chunk_off;
            c->in.len = (uint32_t)used;
            c->in_start = 0;
        } else if (want > c->in.cap) {
            if (!grow_in(c, want))
                return 0;
        } else {
            return 0;
        }
    }
    *at = c->in.data + c->in.len;
    return c->in.cap - c->in.len;
}

void sw__conn_on_read(sw_conn_t *c, ssize_t n) {
    if (c->flags & CF_CLOSED)
        return;
    if (n <= 0) {
        if (c->state == CS_HANDLER && c->stream == SB_ACTIVE) {
            /* the client went away before the end of a streamed body: the reader learns it, the connection goes */
            stream_fail(c, SW_BODY_CLOSED, 0, NULL);
            close_conn(c);
            return;
        }
        if (n == 0 && c->state != CS_CLOSING && (sw__conn_has_output(c) || c->state == CS_HANDLER)) {
            /* Half-close after a complete request: the response is still sent (RFC 9112 9.6). */
            c->flags |= CF_READ_EOF;
            return;
        }
        close_conn(c);
        return;
    }
    c->in.len += (uint32_t)n;
    c->loop->m.bytes_in += (uint64_t)n;
    if (c->timer_kind == TK_BODY)
        c->win_bytes += (uint64_t)n; /* the body rate's count; its checkpoint is the timer */
    if (c->state == CS_CLOSING) {
        c->in.len = c->in_start; /* lingering close: discard */
        return;
    }
    if (c->state == CS_HANDLER) {
        stream_arrived(c, (uint32_t)n); /* only a streamed body's reader makes a pending connection read */
        return;
    }
    process(c);
}

/* ---- requests ----------------------------------------------------------------------------------------------- */

static void finish_request(sw_conn_t *c) {
    c->requests++;
    c->loop->m.requests++;
    bool keep = (c->flags & CF_KEEP_ALIVE) != 0;
    c->flags &= ~(uint32_t)(CF_RESP_STARTED | CF_RESP_CHUNKED | CF_RESP_NO_BODY | CF_RESP_RAW | CF_HEAD_METHOD |
                            CF_CONTINUE_SENT | CF_HTTP10);
    c->head_prev = 0;
    c->state = keep ? CS_HEAD : CS_CLOSING;
    if (c->stream == SB_ACTIVE || c->stream == SB_DONE) {
        /* A streamed body: the next request starts after it. What the handler did not read is discarded. */
        if (c->sb_wake != NULL) {
            c->stream = SB_FAILED; /* cannot happen (the reader is the handler), but never leave a reader hanging */
            c->sb_err = SW_BODY_FINISHED;
            stream_wake(c);
            c->stream = SB_ACTIVE;
        }
        c->body_off += c->sb_give + c->sb_avail;
        c->sb_give = c->sb_avail = 0;
        c->in_start = c->body_off; /* the head goes with the response */
        if (c->stream == SB_ACTIVE && keep) {
            c->state = CS_DRAIN;
            c->drained = 0;
            body_clock_reset(c);
        }
        c->stream = SB_NONE;
    }
    /* A handler still running after its response (it holds a pin) may read its request's views: on a connection
     * that closes, they stay until it is freed. */
    if (c->state != CS_CLOSING || c->pins == 0)
        release_head(c);
}

/* Called by the response code when a response is complete. */
void sw__conn_response_done(sw_conn_t *c) {
    if (c->pins > 0 && c->state == CS_HANDLER && !(c->flags & CF_IN_PROCESS)) {
        /* The code that answered later still holds the request (its views into the input buffer and the kept
         * field table): send the response now, but move on to the next request only at the last unpin, so those
         * views stay valid until that code is done (a handler a timeout answered for may run on a while). */
        c->flags |= CF_DONE_PINNED;
        if (sw__conn_has_output(c))
            c->loop->be->want_write(c->loop, c);
        return;
    }
    bool was_pending = c->state == CS_HANDLER && !(c->flags & CF_IN_PROCESS);
    finish_request(c);
    if (was_pending) {
        /* An async handler finished: go on with pipelined requests, then send. */
        process(c);
        /* Reading paused while the handler ran (sw__conn_read_space gave 0): resume it, or a ring backend never
         * reads the next request and an edge-triggered one misses the bytes that arrived meanwhile. */
        if (!(c->flags & CF_CLOSED) && c->state != CS_HANDLER)
            c->loop->be->want_read(c->loop, c);
    }
}

bool sw__conn_keep_alive(const sw_conn_t *c) {
    return (c->flags & CF_KEEP_ALIVE) != 0;
}

static void dispatch(sw_conn_t *c, const uint8_t *body, size_t body_len, uint32_t next_start) {
    const sw_server_config_t *k = cfg(c);
    sw_request_t *r = &c->req;
    bool keep = (r->flags & SW_F_KEEP_ALIVE) && !stopping(c) && !(c->flags & CF_READ_EOF);
    if (k->max_requests_per_conn != 0 && c->requests + 1 >= k->max_requests_per_conn)
        keep = false;
    c->flags = (c->flags & ~(uint32_t)CF_KEEP_ALIVE) | (keep ? CF_KEEP_ALIVE : 0);
    if (r->method_id == SW_METHOD_HEAD)
        c->flags |= CF_HEAD_METHOD;
    if (r->version_minor == 0)
        c->flags |= CF_HTTP10;
    c->state = CS_HANDLER;
    sw__timer_clear(c->loop, c);
    c->seq = c->requests;
    bool streamed = c->stream == SB_ACTIVE;
    if (!streamed) {
        /* sw_conn_body_read hands a buffered body out whole */
        c->stream = SB_NONE;
        c->sb_give = 0;
        c->body_off = body != NULL ? (uint32_t)((const char *)body - c->in.data) : 0;
        c->body_need = body_len;
    }
    sw_http_request_t view = {
        .buf = c->in.data + c->in_start,
        .head = r,
        .body = body,
        .body_len = body_len,
        .seq = c->seq,
        .conn_serial = c->serial,
        .streamed = streamed,
    };
    uint32_t start = c->in_start;
    c->in_start = next_start; /* the next request's first byte; the view still points at this one */
    int rc = k->on_request(k->user, c, &view);
    (void)start;
    if (rc == SW_PENDING && c->state == CS_HANDLER)
        return; /* the response comes later */
    if (c->state == CS_HANDLER) {
        /* SW_DONE without a complete response: answer for the handler rather than hang the connection */
        sw__resp_error(c, 500, "the handler returned without a complete response");
    }
}

static void reject(sw_conn_t *c, int code) {
    int status = sw_error_status(code);
    uint32_t i = (uint32_t)-code;
    if (i < sizeof c->loop->m.parse_errors / sizeof c->loop->m.parse_errors[0])
        c->loop->m.parse_errors[i]++;
    c->flags &= ~(uint32_t)CF_KEEP_ALIVE;
    c->state = CS_HANDLER;
    sw__resp_error(c, status, sw_error_message(code));
    c->state = CS_CLOSING;
}

/* Dispatches a request whose handler reads its body as it comes (sw_on_head_fn chose SW_BODY_STREAM). */
static bool begin_stream(sw_conn_t *c, uint32_t head_len, uint64_t limit) {
    sw_request_t *r = &c->req;
    if ((r->flags & SW_F_CONTENT_LENGTH) && r->content_length > limit) {
        reject(c, SW_E_BODY_TOO_LARGE); /* before reading a byte of it */
        return false;
    }
    /* The head stays where it is (the handler's views point into it) and the body comes in behind it, into a
     * window reused for every piece: at least SW_STREAM_BUF in all and SW_STREAM_ROOM free, grown now, before the
     * handler holds any pointer, and never again while it runs. */
    uint64_t want = (uint64_t)(c->in.len - c->in_start) + SW_STREAM_ROOM;
    if (want < SW_STREAM_BUF)
        want = SW_STREAM_BUF;
    if (c->in.cap - c->in_start < want && !grow_in(c, want)) {
        close_conn(c);
        return false;
    }
    c->sb_base = c->in_start + head_len;
    c->body_off = c->chunk_off = c->sb_base;
    c->sb_avail = c->sb_give = 0;
    c->sb_limit = limit;
    c->sb_raw = c->in.len - c->sb_base; /* bytes that came with the head */
    c->sb_err = 0;
    c->sb_wake = NULL;
    if (r->flags & SW_F_CHUNKED) {
        /* the decoder checks the limit at each chunk size, before the chunk's data (0 there means none) */
        sw_chunked_init(&c->dec, limit == UINT64_MAX ? 0 : limit == 0 ? 1 : limit);
        c->body_need = 0;
    } else {
        c->body_need = r->content_length;
    }
    c->stream = SB_ACTIVE;
    dispatch(c, NULL, 0, c->in_start);
    return true;
}

/* Starts the body phase, or dispatches when there is none. Returns false when processing must stop. */
static bool begin_body(sw_conn_t *c, uint32_t head_len) {
    const sw_server_config_t *k = cfg(c);
    sw_request_t *r = &c->req;
    uint32_t body_start = c->in_start + head_len;
    c->head_len = head_len;
    c->body_off = body_start;
    body_clock_reset(c);
    if (k->on_head != NULL &&
        ((r->flags & SW_F_CHUNKED) || ((r->flags & SW_F_CONTENT_LENGTH) && r->content_length > 0))) {
        sw_http_request_t view = {.buf = c->in.data + c->in_start, .head = r, .seq = c->requests, .conn_serial = c->serial};
        uint64_t limit = k->max_stream_body;
        if (k->on_head(k->user, c, &view, &limit) == SW_BODY_STREAM)
            return begin_stream(c, head_len, limit);
    }
    if (r->flags & SW_F_CHUNKED) {
        /* max_body 0 means no body at all, as for Content-Length below; the decoder's 0 means no limit, so it
         * gets 1 and the decoding loop refuses the first body byte */
        sw_chunked_init(&c->dec, k->max_body != 0 ? k->max_body : 1);
        c->chunk_off = body_start;
        c->body_need = 0;
        c->state = CS_CHUNKED;
        return true;
    }
    if ((r->flags & SW_F_CONTENT_LENGTH) && r->content_length > 0) {
        if (r->content_length > k->max_body) {
            reject(c, SW_E_BODY_TOO_LARGE); /* before reading a byte of it */
            return false;
        }
        c->body_need = r->content_length;
        c->state = CS_BODY;
        return true;
    }
    dispatch(c, NULL, 0, body_start);
    return true;
}

static void send_continue(sw_conn_t *c) {
    /* Expect: 100-continue, and the body has not started: invite it (RFC 9110 10.1.1) */
    if ((c->req.flags & SW_F_EXPECT_CONTINUE) && !(c->flags & CF_CONTINUE_SENT) && c->in.len == c->body_off) {
        static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
        sw__out_append(c, cont, sizeof cont - 1);
        c->flags |= CF_CONTINUE_SENT;
    }
}

/* CS_DRAIN: discards what is left of a streamed body the handler did not read, so the next request parses
 * where it starts. Returns true when the body ended (the connection reads heads again). */
static bool drain(sw_conn_t *c) {
    uint32_t n = c->in.len - c->in_start;
    if (c->req.flags & SW_F_CHUNKED) {
        if (n == 0)
            return false;
        size_t out = n;
        ptrdiff_t rc = sw_chunked_decode(&c->dec, c->in.data + c->in_start, &out);
        if (rc >= 0) {
            c->drained += n - (size_t)rc;
            c->in_start = c->in.len - (uint32_t)rc;
            c->state = CS_HEAD;
            return true;
        }
        c->drained += n;
        if (rc < SW_INCOMPLETE) {
            c->state = CS_CLOSING; /* bad framing: the response is out; no next request can be found */
            c->flags &= ~(uint32_t)CF_KEEP_ALIVE;
            return false;
        }
    } else {
        uint64_t take = n < c->body_need ? n : c->body_need;
        c->body_need -= take;
        c->in_start += (uint32_t)take;
        c->drained += take;
        if (c->body_need == 0) {
            c->state = CS_HEAD;
            return true;
        }
    }
    if (!(c->flags & CF_RECVING))
        c->in.len = c->in_start = 0; /* all of it consumed */
    if (c->drained > SW_DRAIN_MAX) {
        c->state = CS_CLOSING; /* more than a connection is worth */
        c->flags &= ~(uint32_t)CF_KEEP_ALIVE;
    }
    return false;
}

/* ---- streamed bodies ---------------------------------------------------------------------------------------- */

/* Calls the waiting reader's wake, once. */
static void stream_wake(sw_conn_t *c) {
    void (*fn)(void *) = c->sb_wake;
    c->flags &= ~(uint32_t)CF_BODY_WAIT;
    if (fn == NULL)
        return;
    void *ctx = c->sb_ctx;
    c->sb_wake = NULL;
    c->sb_ctx = NULL;
    fn(ctx);
}

/* The streamed body failed: every later read returns `err`; a waiting reader is woken. With a status, the server
 * answers for the handler (or, if its response has begun, closes after what is queued). The handler may still read
 * its request's views: the head's bytes and field table stay until the connection is freed. */
static void stream_fail(sw_conn_t *c, int err, int status, const char *msg) {
    if (c->stream != SB_ACTIVE)
        return;
    c->stream = SB_FAILED;
    c->sb_err = (int8_t)err;
    c->sb_avail = c->sb_give = 0;
    stream_wake(c);
    if ((c->flags & CF_CLOSED) || status == 0)
        return;
    c->in_start = c->in.len = c->sb_base; /* what else arrives is discarded behind the head */
    if (c->state == CS_HANDLER)
        sw__resp_error(c, status, msg); /* completes the response (or marks the connection closing) */
    c->state = CS_CLOSING;
    c->flags &= ~(uint32_t)CF_KEEP_ALIVE;
    if (c->flags & (CF_IN_PROCESS | CF_CLOSED))
        return; /* process() sends or lingers on its way out */
    if (sw__conn_has_output(c))
        c->loop->be->want_write(c->loop, c); /* lingers once it is sent (sw__conn_on_written) */
    else
        linger(c);
    update_timer(c);
}

/* Makes the body bytes received so far available at body_off: counts them (Content-Length) or decodes them in place
 * (chunked), right behind the bytes already available. Runs only when no recv is in flight. */
static void stream_pump(sw_conn_t *c) {
    uint32_t at = c->body_off + c->sb_give + c->sb_avail;
    if (!(c->req.flags & SW_F_CHUNKED)) {
        uint64_t have = c->in.len - at;
        uint64_t take = have < c->body_need ? have : c->body_need;
        c->sb_avail += (uint32_t)take;
        c->body_need -= take;
        if (c->body_need == 0)
            c->stream = SB_DONE;
        return;
    }
    size_t n = c->in.len - c->chunk_off;
    if (n == 0)
        return;
    char *src = c->in.data + c->chunk_off;
    size_t out = n;
    ptrdiff_t rc = sw_chunked_decode(&c->dec, src, &out);
    if (rc < SW_INCOMPLETE || c->dec.body_len > c->sb_limit) {
        int code = rc < SW_INCOMPLETE ? (int)rc : SW_E_BODY_TOO_LARGE;
        uint32_t i = (uint32_t)-code;
        if (i < sizeof c->loop->m.parse_errors / sizeof c->loop->m.parse_errors[0])
            c->loop->m.parse_errors[i]++;
        stream_fail(c, code == SW_E_BODY_TOO_LARGE ? SW_BODY_TOO_LARGE : SW_BODY_MALFORMED, sw_error_status(code),
                    sw_error_message(code));
        return;
    }
    memmove(c->in.data + at, src, out);
    c->sb_avail += (uint32_t)out;
    uint32_t end = at + (uint32_t)out;
    if (rc >= 0) {
        /* the end: the next request's bytes follow the body */
        memmove(c->in.data + end, src + n - (size_t)rc, (size_t)rc);
        c->in.len = end + (uint32_t)rc;
        c->stream = SB_DONE;
    } else {
        c->in.len = end;
    }
    c->chunk_off = end;
}

/* Bytes arrived for a pending connection: only a waiting reader of a streamed body lets it read. */
static void stream_arrived(sw_conn_t *c, uint32_t n) {
    if (c->stream != SB_ACTIVE)
        return; /* not a body (cannot happen: nothing else reads): kept for after the response */
    c->sb_raw += n;
    stream_pump(c);
    if (c->stream == SB_FAILED)
        return;
    if (c->sb_avail > 0 || c->stream == SB_DONE)
        stream_wake(c); /* else only chunk framing came: read on */
    update_timer(c);
}

long sw_conn_body_read(sw_conn_t *c, uint32_t serial, uint32_t seq, const uint8_t **data) {
    *data = NULL;
    if (serial != c->serial)
        return SW_BODY_FINISHED; /* a reader of an earlier connection in this slot: its request is long over */
    if (seq != c->seq)
        return SW_BODY_FINISHED; /* an older request of the connection */
    if (c->stream == SB_FAILED)
        return c->sb_err;
    if (c->requests != seq)
        return SW_BODY_FINISHED; /* its response is complete */
    if (c->stream == SB_NONE) {
        /* buffered: the whole body, once */
        long n = (long)c->body_need;
        c->body_need = 0;
        if (n > 0)
            *data = (const uint8_t *)c->in.data + c->body_off;
        return n;
    }
    if ((c->flags & CF_CLOSED) && c->stream == SB_ACTIVE) {
        c->stream = SB_FAILED;
        c->sb_err = SW_BODY_CLOSED;
        return SW_BODY_CLOSED;
    }
    /* the last piece is consumed: its bytes may be reused */
    c->body_off += c->sb_give;
    c->sb_give = 0;
    if (c->stream == SB_ACTIVE)
        stream_pump(c);
    if (c->stream == SB_FAILED)
        return c->sb_err;
    if (c->sb_avail > 0) {
        *data = (const uint8_t *)c->in.data + c->body_off;
        c->sb_give = c->sb_avail;
        c->sb_avail = 0;
        return (long)c->sb_give;
    }
    if (c->stream == SB_DONE)
        return 0;
    if (c->body_off == c->in.len && !(c->flags & CF_RECVING))
        c->in.len = c->body_off = c->chunk_off = c->sb_base; /* all consumed: the window starts over */
    return SW_BODY_AGAIN;
}

int sw_conn_body_wait(sw_conn_t *c, uint32_t serial, uint32_t seq, void (*wake)(void *ctx), void *ctx) {
    if (wake == NULL || serial != c->serial || seq != c->seq || c->requests != seq || c->stream != SB_ACTIVE || c->state != CS_HANDLER ||
        (c->flags & CF_CLOSED) || c->sb_wake != NULL || c->sb_give > 0 || c->sb_avail > 0 ||
        c->in.len != c->body_off)
        return 1; /* a read has something to say now */
    c->sb_wake = wake;
    c->sb_ctx = ctx;
    c->flags |= CF_BODY_WAIT;
    if ((c->req.flags & SW_F_EXPECT_CONTINUE) && !(c->flags & (CF_CONTINUE_SENT | CF_RESP_STARTED)) &&
        c->sb_raw == 0) {
        /* The handler wants the body the client holds back: invite it now (RFC 9110 10.1.1). A handler that
         * answers without reading never causes the body to be sent. */
        static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
        if (sw__out_append(c, cont, sizeof cont - 1) == 0) {
            c->flags |= CF_CONTINUE_SENT;
            c->loop->be->want_write(c->loop, c);
        }
    }
    update_timer(c);
    c->loop->be->want_read(c->loop, c); /* may read (and wake) at once */
    return 0;
}

/* Called by the response code before it writes Connection: a streamed body left unread closes the connection
 * when discarding it is not worth it: the client may still send it after an unanswered Expect: 100-continue, or
 * more of it is announced than SW_DRAIN_MAX. */
bool sw__conn_stream_blocks_keep_alive(const sw_conn_t *c) {
    if (c->stream != SB_ACTIVE || c->requests != c->seq)
        return false;
    if ((c->req.flags & SW_F_EXPECT_CONTINUE) && !(c->flags & CF_CONTINUE_SENT) && c->sb_raw == 0)
        return true;
    return !(c->req.flags & SW_F_CHUNKED) && c->body_need > SW_DRAIN_MAX;
}

/* The benchmark floor: count request ends, answer each with the canned reply, parse nothing. */
static void process_floor(sw_conn_t *c) {
    extern int sw__out_append(sw_conn_t * c, const void *p, size_t n);
    const sw_server_config_t *k = cfg(c);
    const char *p = c->in.data + c->in_start, *end = c->in.data + c->in.len;
    const char *done = p;
    while ((p = memmem(p, (size_t)(end - p), "\r\n\r\n", 4)) != NULL) {
        p += 4;
        done = p;
        sw__out_append(c, k->floor_reply, k->floor_reply_len);
        c->requests++;
        c->loop->m.requests++;
    }
    c->in_start = (uint32_t)(done - c->in.data);
    if (c->in_start == c->in.len)
        c->in.len = c->in_start = 0;
    if (sw__conn_has_output(c))
        c->loop->be->want_write(c->loop, c);
    update_timer(c); /* idle between requests, as on the real path (else the accept-time header deadline fires) */
}

/* Output back-pressure (SW_OUT_HIGH): the client is not reading its answers as fast as it sends requests. */
static inline bool out_full(const sw_conn_t *c) {
    return c->out.len >= SW_OUT_HIGH || c->nsegs >= SW_MAX_SEGS / 2;
}

/* The output of a paused connection is all sent: parse what is buffered, then read again. The backends may send
 * synchronously (epoll, in-process), so parsing can fill and send the output again inside this call: a nested
 * call returns at once and this loop goes round instead, so the stack does not grow with the pipeline. */
static void resume_output(sw_conn_t *c) {
    if (c->flags & CF_RESUMING)
        return;
    c->flags |= CF_RESUMING;
    while ((c->flags & (CF_OUT_PAUSED | CF_CLOSED)) == CF_OUT_PAUSED && !sw__conn_has_output(c)) {
        c->flags &= ~(uint32_t)CF_OUT_PAUSED;
        process(c);
        if ((c->flags & (CF_CLOSED | CF_OUT_PAUSED)) == 0 && c->state != CS_HANDLER)
            c->loop->be->want_read(c->loop, c); /* reading stopped while paused; bytes may be waiting */
    }
    c->flags &= ~(uint32_t)CF_RESUMING;
}

static void process(sw_conn_t *c) {
    if (c->flags & CF_IN_PROCESS)
        return;
    if (SW_UNLIKELY(cfg(c)->floor_reply != NULL)) {
        process_floor(c);
        return;
    }
    c->flags |= CF_IN_PROCESS;
    const sw_limits_t *lim = &cfg(c)->limits;
    for (;;) {
        if (c->flags & CF_CLOSED)
            break;
        if (c->state == CS_HEAD) {
            uint32_t avail = c->in.len - c->in_start;
            if (avail == 0)
                break;
            if (SW_UNLIKELY(out_full(c))) {
                c->flags |= CF_OUT_PAUSED; /* resumed by sw__conn_on_written once the output is all sent */
                break;
            }
            c->req.headers = c->loop->headers;
            int r = sw_parse_request(c->in.data + c->in_start, avail, c->head_prev, lim, &c->req);
            if (r == SW_INCOMPLETE) {
                c->head_prev = avail;
                break;
            }
            c->head_prev = 0;
            if (r < 0) {
                reject(c, r);
                break;
            }
            if (!begin_body(c, (uint32_t)r))
                break;
            continue;
        }
        if (c->state == CS_BODY) {
            uint64_t have = c->in.len - c->body_off;
            if (have < c->req.content_length) {
                send_continue(c);
                break;
            }
            dispatch(c, (const uint8_t *)c->in.data + c->body_off, (size_t)c->req.content_length,
                     c->body_off + (uint32_t)c->req.content_length);
            continue;
        }
        if (c->state == CS_CHUNKED) {
            size_t n = c->in.len - c->chunk_off;
            if (n == 0) {
                send_continue(c);
                break;
            }
            char *src = c->in.data + c->chunk_off;
            size_t out = n;
            ptrdiff_t rc = sw_chunked_decode(&c->dec, src, &out);
            if (SW_UNLIKELY(rc < SW_INCOMPLETE || c->dec.body_len > cfg(c)->max_body)) {
                /* the second test only fires for max_body 0, which the decoder cannot express (begin_body) */
                reject(c, rc < SW_INCOMPLETE ? (int)rc : SW_E_BODY_TOO_LARGE);
                break;
            }
            /* decoded bytes go right after the body decoded so far */
            char *dst = c->in.data + c->body_off + c->body_need;
            memmove(dst, src, out);
            c->body_need += out;
            uint32_t body_end = c->body_off + (uint32_t)c->body_need;
            if (rc == SW_INCOMPLETE) {
                c->in.len = body_end;
                c->chunk_off = body_end;
                break;
            }
            /* done: the next message's bytes follow the body */
            memmove(c->in.data + body_end, src + n - (size_t)rc, (size_t)rc);
            c->in.len = body_end + (uint32_t)rc;
            dispatch(c, (const uint8_t *)c->in.data + c->body_off, (size_t)c->body_need, body_end);
            continue;
        }
        if (c->state == CS_DRAIN) {
            if (!drain(c))
                break;
            continue;
        }
        break; /* CS_HANDLER (pending) or CS_CLOSING */
    }
    c->flags &= ~(uint32_t)CF_IN_PROCESS;
    if (c->flags & CF_CLOSED)
        return;
    if ((c->state == CS_BODY || c->state == CS_CHUNKED) && sw__conn_keep_head(c) != 0) {
        close_conn(c); /* out of memory: the head cannot wait for its body */
        return;
    }
    if (c->in_start == c->in.len && c->state == CS_HEAD) {
        c->in.len = c->in_start = 0; /* everything consumed: start at the front again */
    }
    if (sw__conn_has_output(c))
        c->loop->be->want_write(c->loop, c);
    else if (c->state == CS_CLOSING)
        linger(c); /* the response went out already (a drain given up) or nothing could be queued */
    else if (c->flags & CF_READ_EOF)
        close_conn(c);
    update_timer(c);
}

/* ---- output --------------------------------------------------------------------------------------------------- */

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

static void release_seg(sw_seg_t *s) {
    if (s->kind == SEG_BORROWED && s->release != NULL)
        s->release(s->ctx);
    if (s->kind == SEG_FILE && s->fd >= 0)
        close(s->fd);
    s->release = NULL;
    s->fd = -1;
}

void sw__conn_on_written(sw_conn_t *c, ssize_t n) {
    release_out_old(c);
    if (c->flags & CF_CLOSED)
        return;
    if (n < 0) {
        close_conn(c); /* EPIPE, ECONNRESET: the peer is gone, and so is this connection only */
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
            c->resp_mark = UINT32_MAX; /* a head being written went out in part: no rollback (sw__resp_error) */
            /* Everything is out: the write buffer goes back to the pool, so an idle connection holds none. */
            sw__pool_put(c->loop, c->out.data, c->out.cap);
            c->out.data = NULL;
            c->out.cap = 0;
        }
    }
    if (n > 0 && c->timer_kind == TK_WRITE)
        sw__timer_clear(c->loop, c); /* progress: the write deadline starts again */
    if (!sw__conn_has_output(c)) {
        if (c->state == CS_CLOSING) {
            /* Lingering close: stop sending, keep reading (and discarding) until the peer closes or the short
             * timer fires, so the peer reads our response before any RST (RFC 9112 9.6). */
            shutdown(c->fd, SHUT_WR);
            update_timer(c);
            c->loop->be->want_read(c->loop, c);
            return;
        }
        if (c->flags & CF_OUT_PAUSED) {
            resume_output(c); /* process sets the timer */
            return;
        }
        if (c->flags & CF_READ_EOF) {
            close_conn(c);
            return;
        }
    }
    update_timer(c);
}
