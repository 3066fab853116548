/* The HTTP/1.1 session: turns a connection's bytes into exchanges, one at a time and in order (pipelining), and
 * goes on with the connection when an exchange's response is done (keep-alive, or close). Reading heads, the
 * timers' policy (header, body rate, idle, write), 408s, graceful shutdown and the benchmark floor are here;
 * bodies are in h1_body.c, the response serializer in h1_response.c.
 *
 * The transport calls in through sw__h1_session (on_read, on_sent, ...), exchange.c through sw__h1_exchange.
 * Completion is never acted on inside a handler's call: the request callback returns, and the session looks at
 * the exchange's phase (sw__h1_dispatch); or an answer that came later is acted on by `done`, which exchange.c
 * calls outside any callback, at the last unpin. */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "server_internal.h"

static inline bool stopping(const sw_conn_t *c) {
    return c->loop->listener_closed;
}

/* ---- the request head's field table ------------------------------------------------------------------------- */

/* Moves the field table out of the loop's shared array into one the session owns, so the head stays valid after
 * this event (the next connection's parse overwrites the loop's array). */
int sw__h1_keep_head(sw_conn_t *c) {
    sw_h1_t *h = &c->h1;
    sw_loop_t *l = c->loop;
    if (h->req.headers != l->headers)
        return 0;
    size_t bytes = (size_t)h->req.num_headers * sizeof(sw_header_t);
    if (bytes == 0) {
        h->req.headers = NULL; /* nothing to keep; NULL marks it as not the loop's */
        return 0;
    }
    uint32_t cap = (uint32_t)bytes;
    sw_header_t *t = sw__pool_get(l, &cap);
    if (t == NULL)
        return -ENOMEM;
    memcpy(t, l->headers, bytes);
    h->kept = t;
    h->kept_cap = cap;
    h->req.headers = t;
    return 0;
}

/* The request is over: the next one parses into the loop's array again. */
void sw__h1_release_head(sw_conn_t *c) {
    sw_h1_t *h = &c->h1;
    if (h->kept != NULL) {
        sw__pool_put(c->loop, h->kept, h->kept_cap);
        h->kept = NULL;
        h->kept_cap = 0;
    }
    h->req.headers = c->loop->headers;
}

/* ---- timers ------------------------------------------------------------------------------------------------ */

/* The body rate (slow POST). While the server waits for body bytes, time is cut into windows of body_timeout_ms;
 * at the end of each, the window must have brought max(1, min_body_rate * window) bytes, else the request is cut
 * (408). One timer per connection, set once per window: received bytes are only counted (h1_on_read), never reset
 * a deadline. The clock stops while nobody waits for the body (a streaming handler works on a piece, or output
 * goes first) and goes on with the rest of the window when the wait resumes, so stopping to read cannot stretch a
 * window. */
void sw__h1_body_clock_reset(sw_conn_t *c) {
    c->h1.win_bytes = 0;
    c->h1.win_used = 0;
}

static void body_clock_run(sw_conn_t *c) {
    if (c->timer_kind == TK_BODY)
        return;
    uint32_t w = sw__cfg(c)->body_timeout_ms;
    c->h1.win_since = c->loop->now_ms;
    sw__timer_set(c->loop, c, TK_BODY, w == 0 ? 0 : c->h1.win_used < w ? w - c->h1.win_used : 1);
}

static void body_clock_pause(sw_conn_t *c) {
    if (c->timer_kind != TK_BODY)
        return;
    uint64_t used = (uint64_t)c->h1.win_used + (c->loop->now_ms - c->h1.win_since);
    c->h1.win_used = used > UINT32_MAX ? UINT32_MAX : (uint32_t)used;
    sw__timer_clear(c->loop, c);
}

/* A new send-rate window starts with the TK_WRITE timer. */
static void write_clock_start(sw_conn_t *c, uint32_t ms) {
    c->sent_window = 0;
    sw__timer_set(c->loop, c, TK_WRITE, ms);
}

/* Sets the deadline that fits the connection's state. The header deadline starts with a request's first byte
 * and is not moved by later bytes: a slowloris client gets no more time by trickling. */
void sw__h1_timer(sw_conn_t *c) {
    sw_h1_t *h = &c->h1;
    sw_loop_t *l = c->loop;
    if (c->flags & (CF_CLOSED | CF_LINGER))
        return; /* a lingering close keeps the transport's own timer */
    if (h->flags & H1F_BODY_WAIT) {
        body_clock_run(c); /* a streamed body's reader waits: the body's rate rules, even with output queued */
        return;
    }
    if (sw__conn_has_output(c)) {
        body_clock_pause(c);
        if (c->timer_kind != TK_WRITE)
            write_clock_start(c, sw__cfg(c)->write_timeout_ms);
        return;
    }
    switch (h->state) {
    case H1_HEAD:
        if (c->in.len > c->in_start) {
            if (c->timer_kind != TK_HEADER)
                sw__timer_set(l, c, TK_HEADER, sw__cfg(c)->header_timeout_ms);
        } else if (c->timer_kind != TK_IDLE && h->requests > 0) {
            sw__timer_set(l, c, TK_IDLE, sw__cfg(c)->idle_timeout_ms);
        }
        break;
    case H1_BODY:
    case H1_CHUNKED:
    case H1_DRAIN:
        body_clock_run(c);
        break;
    default:
        body_clock_pause(c);
        sw__timer_clear(l, c);
        break;
    }
}

/* The session will close: the response (if any) goes out first, then the transport lingers and closes. */
static void closing(sw_conn_t *c) {
    c->h1.state = H1_CLOSING;
    c->h1.flags &= ~(uint32_t)H1F_KEEP_ALIVE;
}

/* RFC 9110 15.5.9: tell a slow client why, then close. */
static void answer_408(sw_conn_t *c, const char *msg) {
    sw__h1_answer_error(c, 408, msg);
    closing(c);
    sw__conn_close_after_output(c);
    write_clock_start(c, 1000);
}

static bool h1_on_timeout(sw_conn_t *c, int kind) {
    sw_h1_t *h = &c->h1;
    if (kind == TK_WRITE && sw__conn_has_output(c)) {
        /* The send rate: a client that reads too slowly (or not at all) is cut; one that keeps reading at the
         * minimum rate gets the next window, however long the response. */
        const sw_server_config_t *k = sw__cfg(c);
        uint64_t need = (uint64_t)k->min_send_rate * k->write_timeout_ms / 1000;
        if (c->sent_window >= (need > 0 ? need : 1) && k->write_timeout_ms > 0) {
            write_clock_start(c, k->write_timeout_ms);
            return false;
        }
        sw__conn_close(c);
        return true;
    }
    if (kind == TK_BODY) {
        const sw_server_config_t *k = sw__cfg(c);
        uint64_t need = (uint64_t)k->min_body_rate * k->body_timeout_ms / 1000;
        if (h->win_bytes >= (need > 0 ? need : 1)) {
            /* a checkpoint, passed: the next window starts */
            sw__h1_body_clock_reset(c);
            body_clock_run(c);
            return false;
        }
        if (h->state == H1_BODY || h->state == H1_CHUNKED) {
            if (!sw__conn_has_output(c)) {
                answer_408(c, "request body not received at the minimum rate");
                return true;
            }
        } else if (h->state == H1_HANDLER && h->stream == SB_ACTIVE) {
            sw__h1_stream_fail(c, SW_BODY_TIMEOUT, 408, "request body not received at the minimum rate");
            return true;
        }
        sw__conn_close(c); /* H1_DRAIN: the response is out already */
        return true;
    }
    if (h->state == H1_HEAD && c->in.len > c->in_start && !sw__conn_has_output(c)) {
        answer_408(c, "request head not received in time");
        return true;
    }
    sw__conn_close(c);
    return true;
}

static void h1_on_shutdown(sw_conn_t *c) {
    /* Graceful shutdown: a connection between requests closes now; others finish their request and get
     * `Connection: close` (keep-alive is decided per response and refused while stopping). */
    if (c->h1.state == H1_HEAD && c->in.len == c->in_start && !sw__conn_has_output(c)) {
        /* Unless a request is already in the socket, sent before the shutdown and not read yet (its readiness
         * event or completion is still to come): then it is read and answered, with `Connection: close`. */
        char b;
        if (c->fd >= 0 && recv(c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) > 0)
            return;
        sw__conn_close(c);
    }
}

/* ---- input ------------------------------------------------------------------------------------------------- */

/* The input buffer's bytes moved down by `moved`: so do the session's offsets into it. */
static void shift(sw_h1_t *h, uint32_t moved) {
    h->body_off -= h->body_off >= moved ? moved : h->body_off;
    h->chunk_off -= h->chunk_off >= moved ? moved : h->chunk_off;
}

static uint32_t h1_read_space(sw_conn_t *c, char **at) {
    sw_h1_t *h = &c->h1;
    if (h->flags & H1F_OUT_PAUSED)
        return 0; /* output back-pressure: the next requests wait in the kernel until ours are read */
    if (h->state == H1_HANDLER) {
        /* Back-pressure: a pending handler stops reading (pipelined bytes wait in the kernel), unless it waits for
         * its streamed body: then the body window takes what fits, and is never grown. */
        if (!(h->flags & H1F_BODY_WAIT))
            return 0;
        *at = c->in.data + c->in.len;
        return c->in.cap - c->in.len;
    }
    if (c->in.data == NULL && sw__in_grow(c, 4096) < 0)
        return 0;
    if (c->in.len == c->in.cap) {
        uint64_t used = c->in.len - c->in_start;
        uint64_t want;
        const sw_server_config_t *k = sw__cfg(c);
        if (h->state == H1_BODY)
            want = (uint64_t)(h->body_off - c->in_start) + h->body_need + 4096; /* + room for a pipelined head */
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
            shift(h, sw__in_compact(c));
        } else if (want > c->in.cap) {
            int64_t moved = sw__in_grow(c, want);
            if (moved < 0)
                return 0;
            shift(h, (uint32_t)moved);
        } else {
            return 0;
        }
    }
    *at = c->in.data + c->in.len;
    return c->in.cap - c->in.len;
}

static void h1_on_read(sw_conn_t *c, ssize_t n) {
    sw_h1_t *h = &c->h1;
    if (n <= 0) {
        if (h->state == H1_HANDLER && h->stream == SB_ACTIVE) {
            /* the client went away before the end of a streamed body: the reader learns it, the connection goes */
            sw__h1_stream_fail(c, SW_BODY_CLOSED, 0, NULL);
            sw__conn_close(c);
            return;
        }
        if (n == 0 && (sw__conn_has_output(c) || h->state == H1_HANDLER)) {
            /* Half-close after a complete request: the response is still sent (RFC 9112 9.6). */
            c->flags |= CF_READ_EOF;
            return;
        }
        sw__conn_close(c);
        return;
    }
    if (c->timer_kind == TK_BODY)
        h->win_bytes += (uint64_t)n; /* the body rate's count; its checkpoint is the timer */
    if (h->state == H1_HANDLER) {
        sw__h1_stream_arrived(c, (uint32_t)n); /* only a streamed body's reader makes a pending connection read */
        return;
    }
    sw__h1_parse(c);
}

/* ---- requests ---------------------------------------------------------------------------------------------- */

/* The exchange's response is done and control is with the session: go on with the connection. */
static void finish_request(sw_conn_t *c) {
    sw_h1_t *h = &c->h1;
    h->requests++;
    c->loop->m.requests++;
    if (h->ex.phase == SW_PHASE_ABORTED)
        h->flags &= ~(uint32_t)H1F_KEEP_ALIVE; /* the response is cut short: only the close can say so */
    bool keep = (h->flags & H1F_KEEP_ALIVE) != 0;
    h->flags &= ~(uint32_t)H1F_CONTINUE_SENT;
    h->head_prev = 0;
    h->state = keep ? H1_HEAD : H1_CLOSING;
    h->ex.id = 0; /* no body reader of this request reads again */
    sw__h1_stream_end(c, keep);
    /* A handler still running after its response (it holds a pin) may read its request's views: on a connection
     * that closes, they stay until it is freed. */
    if (h->state != H1_CLOSING || c->holds == 0)
        sw__h1_release_head(c);
}

void sw__h1_dispatch(sw_conn_t *c, const uint8_t *body, size_t body_len, uint32_t next_start) {
    sw_h1_t *h = &c->h1;
    const sw_server_config_t *k = sw__cfg(c);
    sw_request_t *r = &h->req;
    bool keep = (r->flags & SW_F_KEEP_ALIVE) && !stopping(c) && !(c->flags & CF_READ_EOF);
    if (k->max_requests_per_conn != 0 && h->requests + 1 >= k->max_requests_per_conn)
        keep = false;
    h->flags = (h->flags & ~(uint32_t)H1F_KEEP_ALIVE) | (keep ? H1F_KEEP_ALIVE : 0);
    sw_exchange_t *ex = &h->ex;
    sw__exchange_begin(ex, c->loop, &sw__h1_exchange,
                       (uint8_t)(EXF_IN_CALLBACK | (r->method_id == SW_METHOD_HEAD ? EXF_HEAD_METHOD : 0) |
                                 (r->version_minor == 0 ? EXF_HTTP10 : 0)));
    h->state = H1_HANDLER;
    sw__timer_clear(c->loop, c);
    bool streamed = h->stream == SB_ACTIVE;
    if (!streamed) {
        /* sw_exchange_body_read hands a buffered body out whole */
        h->stream = SB_NONE;
        h->sb_give = 0;
        h->body_off = body != NULL ? (uint32_t)((const char *)body - c->in.data) : 0;
        h->body_need = body_len;
    }
    sw_http_request_t view = {
        .buf = c->in.data + c->in_start,
        .head = r,
        .body = body,
        .body_len = body_len,
        .exchange_id = ex->id,
        .streamed = streamed,
    };
    c->in_start = next_start; /* the next request's first byte; the view still points at this one */
    int rc = k->on_request(k->user, ex, &view);
    ex->flags_ &= (uint8_t)~EXF_IN_CALLBACK;
    if (h->state != H1_HANDLER)
        return; /* the server answered for the handler (a failed body) and closes */
    if (ex->phase < SW_PHASE_COMPLETE) {
        if (rc == SW_PENDING && !(c->flags & CF_CLOSED))
            return; /* the response comes later */
        /* SW_DONE without a complete response: answer for the handler rather than hang the connection */
        sw__h1_answer_error(c, 500, "the handler returned without a complete response");
    }
    if (ex->pins_ > 0) {
        sw__conn_flush(c); /* complete, but held: the session goes on at the last unpin */
        return;
    }
    finish_request(c);
}

void sw__h1_reject(sw_conn_t *c, int code) {
    int status = sw_error_status(code);
    uint32_t i = (uint32_t)-code;
    if (i < sizeof c->loop->m.parse_errors / sizeof c->loop->m.parse_errors[0])
        c->loop->m.parse_errors[i]++;
    sw__exchange_begin(&c->h1.ex, c->loop, &sw__h1_exchange, 0);
    c->h1.ex.id = 0; /* no request to read a body of */
    sw__h1_answer_error(c, status, sw_error_message(code));
    closing(c);
}

/* ---- the parse loop ------------------------------------------------------------------------------------------ */

/* The benchmark floor: count request ends, answer each with the canned reply, parse nothing. */
static void parse_floor(sw_conn_t *c) {
    const sw_server_config_t *k = sw__cfg(c);
    const char *p = c->in.data + c->in_start, *end = c->in.data + c->in.len;
    const char *done = p;
    while ((p = memmem(p, (size_t)(end - p), "\r\n\r\n", 4)) != NULL) {
        p += 4;
        done = p;
        sw__out_append(c, k->floor_reply, k->floor_reply_len);
        c->h1.requests++;
        c->loop->m.requests++;
    }
    c->in_start = (uint32_t)(done - c->in.data);
    if (c->in_start == c->in.len)
        c->in.len = c->in_start = 0;
    sw__conn_flush(c);
    sw__h1_timer(c); /* idle between requests, as on the real path (else the accept-time header deadline fires) */
}

/* Output back-pressure (SW_OUT_HIGH): the client is not reading its answers as fast as it sends requests. */
static inline bool out_full(const sw_conn_t *c) {
    return c->out.len >= SW_OUT_HIGH || c->nsegs >= SW_MAX_SEGS / 2;
}

/* Parses and dispatches the requests buffered, in order, until one is pending, incomplete or the output is full.
 * H1F_PARSING: the backends may send synchronously (epoll, in-process), and a send can report back to the session
 * while this runs; a nested call then leaves the work to this one. */
void sw__h1_parse(sw_conn_t *c) {
    sw_h1_t *h = &c->h1;
    if (h->flags & H1F_PARSING)
        return;
    if (SW_UNLIKELY(sw__cfg(c)->floor_reply != NULL)) {
        parse_floor(c);
        return;
    }
    h->flags |= H1F_PARSING;
    const sw_limits_t *lim = &sw__cfg(c)->limits;
    for (;;) {
        if (c->flags & CF_CLOSED)
            break;
        if (h->state == H1_HEAD) {
            uint32_t avail = c->in.len - c->in_start;
            if (avail == 0)
                break;
            if (SW_UNLIKELY(out_full(c))) {
                h->flags |= H1F_OUT_PAUSED; /* resumed by h1_on_sent once the output is all sent */
                break;
            }
            h->req.headers = c->loop->headers;
            int r = sw_parse_request(c->in.data + c->in_start, avail, h->head_prev, lim, &h->req);
            if (r == SW_INCOMPLETE) {
                h->head_prev = avail;
                break;
            }
            h->head_prev = 0;
            if (r < 0) {
                sw__h1_reject(c, r);
                break;
            }
            if (!sw__h1_begin_body(c, (uint32_t)r))
                break;
            continue;
        }
        if (h->state == H1_BODY || h->state == H1_CHUNKED) {
            if (!sw__h1_body_progress(c))
                break;
            continue;
        }
        if (h->state == H1_DRAIN) {
            if (!sw__h1_drain(c))
                break;
            continue;
        }
        break; /* H1_HANDLER (pending) or H1_CLOSING */
    }
    h->flags &= ~(uint32_t)H1F_PARSING;
    if (c->flags & CF_CLOSED)
        return;
    if ((h->state == H1_BODY || h->state == H1_CHUNKED) && sw__h1_keep_head(c) != 0) {
        sw__conn_close(c); /* out of memory: the head cannot wait for its body */
        return;
    }
    if (c->in_start == c->in.len && h->state == H1_HEAD)
        c->in.len = c->in_start = 0; /* everything consumed: start at the front again */
    if (h->state == H1_CLOSING)
        sw__conn_close_after_output(c);
    else if (sw__conn_has_output(c))
        sw__conn_flush(c);
    else if (c->flags & CF_READ_EOF)
        sw__conn_close(c);
    sw__h1_timer(c);
}

/* The output of a paused connection is all sent: parse what is buffered, then read again. The backends may send
 * synchronously (epoll, in-process), so parsing can fill and send the output again inside this call: a nested
 * call returns at once and this loop goes round instead, so the stack does not grow with the pipeline. */
static void resume_output(sw_conn_t *c) {
    sw_h1_t *h = &c->h1;
    if (h->flags & H1F_RESUMING)
        return;
    h->flags |= H1F_RESUMING;
    while ((h->flags & H1F_OUT_PAUSED) && !(c->flags & CF_CLOSED) && !sw__conn_has_output(c)) {
        h->flags &= ~(uint32_t)H1F_OUT_PAUSED;
        sw__h1_parse(c);
        if (!(c->flags & (CF_CLOSED | CF_LINGER)) && !(h->flags & H1F_OUT_PAUSED) && h->state != H1_HANDLER)
            c->loop->be->want_read(c->loop, c); /* reading stopped while paused; bytes may be waiting */
    }
    h->flags &= ~(uint32_t)H1F_RESUMING;
}

/* Calls a streaming handler's write wake, once. */
static void write_wake(sw_conn_t *c) {
    void (*fn)(void *) = c->h1.wr_wake;
    if (fn == NULL)
        return;
    c->h1.wr_wake = NULL;
    fn(c->h1.wr_ctx);
}

static void h1_on_sent(sw_conn_t *c, bool all) {
    sw_h1_t *h = &c->h1;
    if (h->wr_wake != NULL && c->out.len - c->wbuf_mark <= SW_STREAM_OUT_MAX / 2)
        write_wake(c); /* room for a streaming handler again */
    if (all) {
        h->resp_mark = UINT32_MAX; /* a head being written went out in part: no rollback (sw__h1_answer_error) */
        if (h->flags & H1F_OUT_PAUSED) {
            resume_output(c); /* parsing sets the timer */
            return;
        }
        if ((c->flags & CF_READ_EOF) && h->state != H1_HANDLER) {
            sw__conn_close(c);
            return;
        }
    }
    sw__h1_timer(c);
}

/* ---- the connection's lifetime ------------------------------------------------------------------------------- */

static void h1_on_open(sw_conn_t *c) {
    /* the session's struct is zeroed with the connection's (sw__conn_new) */
    c->h1.req.headers = c->loop->headers;
    c->h1.resp_mark = UINT32_MAX;
    c->h1.ex.ops_ = &sw__h1_exchange; /* sw_on_head_fn sees the exchange before its request begins */
    sw__timer_set(c->loop, c, TK_HEADER, sw__cfg(c)->header_timeout_ms);
}

static void h1_on_close(sw_conn_t *c) {
    sw_h1_t *h = &c->h1;
    if (h->stream == SB_ACTIVE) {
        h->stream = SB_FAILED; /* closed (reset, shutdown deadline) in the middle of a streamed body */
        h->sb_err = SW_BODY_CLOSED;
    }
    sw__h1_stream_wake(c);         /* a waiting reader learns it now; its task holds a pin, so the struct stays */
    write_wake(c);                 /* so does a waiting writer: its next write finds the connection closed */
    sw__exchange_closed(&h->ex);   /* the code answering it (a pending handler) can stop */
}

static void h1_on_free(sw_conn_t *c) {
    sw__h1_release_head(c);
}

static bool h1_answering(const sw_conn_t *c) {
    return c->h1.state == H1_HANDLER;
}

const sw_session_ops_t sw__h1_session = {
    .on_open = h1_on_open,
    .on_read = h1_on_read,
    .read_space = h1_read_space,
    .on_sent = h1_on_sent,
    .on_timeout = h1_on_timeout,
    .on_shutdown = h1_on_shutdown,
    .on_close = h1_on_close,
    .on_free = h1_on_free,
    .answering = h1_answering,
};

/* ---- the exchange's side ------------------------------------------------------------------------------------ */

static void ex_done(sw_exchange_t *ex) {
    sw_conn_t *c = sw__h1_conn(ex);
    if ((c->flags & CF_CLOSED) || c->h1.state != H1_HANDLER)
        return; /* gone, or the server answered for the handler and closes */
    finish_request(c);
    /* An answer that came later: go on with pipelined requests, then send. */
    sw__h1_parse(c);
    /* Reading paused while the handler ran (h1_read_space gave 0): resume it, or a ring backend never reads the
     * next request and an edge-triggered one misses the bytes that arrived meanwhile. */
    if (!(c->flags & (CF_CLOSED | CF_LINGER)) && c->h1.state != H1_HANDLER && !(c->h1.flags & H1F_OUT_PAUSED))
        c->loop->be->want_read(c->loop, c);
}

static void ex_flush(sw_exchange_t *ex) {
    sw__conn_flush(sw__h1_conn(ex));
}

static void ex_abort(sw_exchange_t *ex) {
    sw__h1_answer_error(sw__h1_conn(ex), 500, "the handler failed");
    ex->phase = SW_PHASE_ABORTED; /* for the handler, also when the 500 replaced what it had begun */
}

static void ex_hold(sw_exchange_t *ex) {
    sw__conn_hold(sw__h1_conn(ex));
}

static void ex_release(sw_exchange_t *ex) {
    sw__conn_release(sw__h1_conn(ex));
}

static int ex_write_wait(sw_exchange_t *ex, void (*wake)(void *), void *ctx) {
    sw_conn_t *c = sw__h1_conn(ex);
    if ((c->flags & CF_CLOSED) || c->h1.wr_wake != NULL || c->out.len - c->wbuf_mark <= SW_STREAM_OUT_MAX / 2)
        return 1;
    c->h1.wr_wake = wake;
    c->h1.wr_ctx = ctx;
    return 0;
}

static int ex_keep_request(sw_exchange_t *ex) {
    return sw__h1_keep_head(sw__h1_conn(ex));
}

static bool ex_is_open(const sw_exchange_t *ex) {
    return !(sw__h1_conn(ex)->flags & CF_CLOSED);
}

static sw_loop_t *ex_loop(const sw_exchange_t *ex) {
    return sw__h1_conn(ex)->loop;
}

const sw_exchange_ops_t sw__h1_exchange = {
    .start = sw__h1_resp_start,
    .header = sw__h1_resp_header,
    .content_type = sw__h1_resp_content_type,
    .body = sw__h1_resp_body,
    .file = sw__h1_resp_file,
    .chunk = sw__h1_resp_chunk,
    .chunk_end = sw__h1_resp_chunk_end,
    .abort = ex_abort,
    .done = ex_done,
    .flush = ex_flush,
    .hold = ex_hold,
    .release = ex_release,
    .body_read = sw__h1_body_read,
    .body_wait = sw__h1_body_wait,
    .write_wait = ex_write_wait,
    .keep_request = ex_keep_request,
    .is_open = ex_is_open,
    .loop = ex_loop,
};
