/* The server core's private structures and every declaration shared between its C files, in one place.
 *
 * Three layers; calls go down, and up only through function pointers:
 *
 *   exchange   (exchange.c)       one request and its response: the public sw_resp_* / sw_exchange_* calls,
 *                                 the response phase kept once, completion handed to the protocol when control
 *                                 returns to it. Calls the protocol through the exchange's sw_exchange_ops_t.
 *   protocol   (h1_session.c,     HTTP/1.1: parsing, framing, bodies, pipelining order, keep-alive, timers'
 *    session    h1_body.c,        policy; turns bytes into exchanges and responses into bytes. Calls the
 *               h1_response.c)    transport directly, the application through on_request (a pointer).
 *   transport  (transport.c,      a socket (or an in-memory pipe), its buffers, output queue, timer slot and
 *               loop*.c, server.c, lifetime; knows nothing of HTTP. Calls the session above through
 *               in_process.c)     sw_session_ops_t only; the backends through sw_backend_ops_t.
 *
 * One loop per thread; nothing here is shared between loops except the server's immutable configuration and
 * the atomics named as such. */
#ifndef SW_SERVER_INTERNAL_H
#define SW_SERVER_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "include/sw_chunked.h"
#include "include/sw_server.h"
#include "include/sw_tables.h"
#include "parse_internal.h"

typedef struct sw_conn sw_conn_t;

/* ==== transport ============================================================================================== */

/* A byte buffer from the loop's pool: power-of-two size classes from 4 KiB; bigger ones come from malloc and go
 * back to it. */
typedef struct sw_buf {
    char *data;
    uint32_t cap;
    uint32_t len;
} sw_buf_t;

#define SW_POOL_CLASSES 6 /* 4, 8, 16, 32, 64, 128 KiB */
#define SW_POOL_MIN_SHIFT 12
#define SW_POOL_KEEP 256 /* buffers kept per class; more are freed */

typedef struct sw_pool {
    void **free[SW_POOL_CLASSES];
    uint32_t count[SW_POOL_CLASSES];
} sw_pool_t;

/* What waits to be sent, in order: bytes in the write buffer, borrowed bytes, or a file range. */
typedef struct sw_seg {
    const char *ptr;
    uint64_t len;
    uint64_t off; /* file offset; for SEG_WBUF, the offset in the write buffer */
    void (*release)(void *);
    void *ctx;
    int fd;
    uint8_t kind; /* SEG_WBUF, SEG_BORROWED, SEG_FILE */
} sw_seg_t;

enum { SEG_WBUF = 0, SEG_BORROWED = 1, SEG_FILE = 2 };
#define SW_INLINE_SEGS 4 /* in the connection; a response with more borrowed/file pieces gets SW_MAX_SEGS */
#define SW_MAX_SEGS 64

/* Transport flags (sw_conn_t.flags). */
enum {
    CF_READ_EOF = 1u << 0,      /* the peer half-closed */
    CF_SENDING = 1u << 1,       /* (uring) a send is in flight */
    CF_RECVING = 1u << 2,       /* (uring) a recv is in flight */
    CF_WANT_WRITE = 1u << 3,    /* (epoll) waiting for EPOLLOUT */
    CF_CLOSED = 1u << 4,        /* the fd is closed; the struct waits for in-flight ops (and holds) */
    CF_FREE_DEFERRED = 1u << 5, /* closed while held (sw__conn_hold): freed at the last release */
    CF_LINGER = 1u << 6,        /* closing: send what is queued, then stop sending, discard input a while, close */
};

/* Timer kinds: the session chooses; the transport keeps one deadline per connection. */
enum { TK_NONE = 0, TK_HEADER, TK_BODY, TK_IDLE, TK_WRITE, TK_LINGER };

/* What the transport calls in the protocol above it (the connection's session). */
typedef struct sw_session_ops {
    /* A new connection (accepted, or in-process): start the session. */
    void (*on_open)(sw_conn_t *c);
    /* `n` bytes were appended to c->in (0 = EOF, < 0 = -errno). */
    void (*on_read)(sw_conn_t *c, ssize_t n);
    /* Where the next read goes, or 0 when the session takes nothing now. */
    uint32_t (*read_space)(sw_conn_t *c, char **at);
    /* Output was sent (`all`: nothing is queued any more). */
    void (*on_sent)(sw_conn_t *c, bool all);
    /* The connection's deadline passed. Returns false when it was only a checkpoint (the timer is set again). */
    bool (*on_timeout)(sw_conn_t *c, int kind);
    /* Graceful shutdown began: close now if idle. */
    void (*on_shutdown)(sw_conn_t *c);
    /* The connection closed (before it is freed; its exchanges may still be held). */
    void (*on_close)(sw_conn_t *c);
    /* The connection is being freed: release the session's buffers. */
    void (*on_free)(sw_conn_t *c);
    /* Whether a handler is answering (the session reads nothing now, unless it asks for a streamed body): the
     * backends then watch for a reset alone, which closes the connection and tells the handler. */
    bool (*answering)(const sw_conn_t *c);
} sw_session_ops_t;

/* ==== the HTTP/1.1 session ===================================================================================== */

/* Exchange flags (sw_exchange_t.flags_). */
enum {
    EXF_IN_CALLBACK = 1u << 0, /* inside on_request: completion is acted on when it returns */
    EXF_NO_BODY = 1u << 1,     /* the head is out and the response has no body (HEAD, 1xx, 204, 304): every body
                                  call drops its bytes */
    EXF_RAW = 1u << 2,         /* a streamed response to HTTP/1.0: chunks go out unframed, the close ends it */
    EXF_HEAD_METHOD = 1u << 3, /* the request is HEAD: no body in the response */
    EXF_HTTP10 = 1u << 4,      /* the request is HTTP/1.0 */
};

enum h1_state {
    H1_HEAD = 0, /* reading a request head (or idle between requests) */
    H1_BODY,     /* reading a Content-Length body */
    H1_CHUNKED,  /* reading a chunked body */
    H1_HANDLER,  /* the request is dispatched; its response is not complete (or not acted on) yet */
    H1_CLOSING,  /* sending what is queued, then closing */
    H1_DRAIN,    /* the response is complete but the streamed body is not: discarding the rest of it */
};

/* A request's body as sw_exchange_body_read sees it (sw_h1_t.stream). */
enum {
    SB_NONE = 0, /* a buffered body (or none): the first read returns it whole */
    SB_ACTIVE,   /* a streamed body, more to come */
    SB_DONE,     /* a streamed body, read to its end */
    SB_FAILED,   /* a streamed body that failed: sb_err says how */
};

/* Session flags (sw_h1_t.flags). */
enum {
    H1F_KEEP_ALIVE = 1u << 0,    /* the current request allows the connection to persist */
    H1F_CONTINUE_SENT = 1u << 1, /* 100 Continue went out for the current request */
    H1F_BODY_WAIT = 1u << 2,     /* a streamed body's reader waits (sw_exchange_body_wait): reading is on */
    H1F_OUT_PAUSED = 1u << 3,    /* too much output queued: no more requests are parsed until it is sent */
    H1F_PARSING = 1u << 4,       /* inside the parse loop (see sw__h1_parse) */
    H1F_RESUMING = 1u << 5,      /* inside resume_output (see there) */
};

/* Bytes of an unread streamed body the connection discards after the response to keep the connection (as Go's
 * net/http does with 256 KiB); past it, or when the rest is known to be larger, the connection closes. */
#define SW_DRAIN_MAX (256u << 10)
/* A streamed body's input buffer: at least this, with at least SW_STREAM_ROOM after the head. */
#define SW_STREAM_BUF (64u << 10)
#define SW_STREAM_ROOM (32u << 10)
/* Output back-pressure: with this much of the write buffer queued (or half the segment slots taken), the
 * session parses no further pipelined request and reads nothing until all of its output is sent. Bounds what
 * a client that sends requests but does not read the answers can make the server hold: this plus one response.
 * Pipelined benchmarks (16 x ~130 B answers) stay far below it. */
#define SW_OUT_HIGH (64u << 10)

typedef struct sw_h1 {
    uint8_t state; /* h1_state */
    uint8_t stream; /* SB_* */
    int8_t sb_err;  /* SB_FAILED: the SW_BODY_* error every read returns */
    uint32_t flags; /* H1F_* */
    uint32_t requests; /* requests completed on this connection */

    uint32_t head_prev; /* prev_len for sw_parse_request, relative to in_start; 0 = fresh */
    uint32_t head_len;  /* parsed head length while reading the body */
    uint64_t body_need; /* H1_BODY: body bytes still to arrive; H1_CHUNKED: decoded bytes so far */
    uint32_t body_off;  /* offset in `in` where the (decoded) body starts */
    uint32_t chunk_off; /* H1_CHUNKED: offset in `in` of the first undecoded byte */
    sw_chunked_decoder_t dec;

    /* The body as sw_exchange_body_read serves it. Buffered: body_off/body_need are the body's offset and length
     * until the first read. Streamed: the head stays at in_start (the handler's views point into it) and
     * [sb_base, cap) is the body window, reused for every piece. In it, from body_off: sb_give bytes the last read
     * handed out (consumed by the next), then sb_avail decoded bytes not handed out yet, then (chunked) undecoded
     * bytes from chunk_off, or (Content-Length) body bytes not counted yet, body_need of them still to come; after
     * the body's end, the next request's bytes. */
    uint32_t sb_base;  /* streamed: offset in `in` of the body window (just after the head) */
    uint32_t sb_avail; /* streamed: decoded bytes at body_off not handed out yet */
    uint32_t sb_give;  /* bytes at body_off handed out by the last read; consumed by the next */
    uint64_t sb_limit; /* streamed: decoded bytes allowed */
    uint64_t sb_raw;   /* streamed: raw body bytes received (0: the body has not started, for 100-continue) */
    uint64_t drained;  /* H1_DRAIN: bytes discarded */
    void (*sb_wake)(void *);
    void *sb_ctx;
    void (*wr_wake)(void *); /* a streaming handler waits for room (sw_exchange_write_wait) */
    void *wr_ctx;

    /* Body rate (slow POST): body bytes received in the current window, the window's active time before the
     * current wait began, and when that wait began. The window's clock runs only while the server waits for
     * the body (not while a streaming handler works on a piece). */
    uint64_t win_bytes;
    uint64_t win_since;
    uint32_t win_used;

    uint32_t resp_mark; /* offset in `out` where the response being written starts (an error answer rolls back) */

    /* The parsed head. Its field table is the loop's (l->headers) while the request is handled inline; a request
     * that outlives the current event (body still to come, async handler) gets a copy in `kept`. */
    sw_request_t req;
    sw_header_t *kept;
    uint32_t kept_cap; /* bytes (a pool size class) */

    sw_exchange_t ex; /* the one exchange in flight */
} sw_h1_t;

/* ==== connections (the transport's struct; the session lives inside it) ======================================= */

struct sw_conn {
    int fd;
    uint32_t flags; /* CF_* */
    uint8_t timer_kind;
    uint16_t gen;     /* bumped on reuse; part of io_uring user_data so stale completions are recognised */
    uint32_t index;   /* slot in the loop's connection table */
    uint32_t holds;   /* exchanges pinned by code answering later: the struct is not freed or reused until 0 */
    uint32_t inflight; /* (uring) operations the kernel still holds */
    sw_loop_t *loop;
    const sw_session_ops_t *session;

    sw_buf_t in;       /* received bytes; the session still needs those from in_start */
    uint32_t in_start;

    sw_buf_t out;     /* serialized bytes */
    sw_buf_t out_old; /* (uring) the write buffer a send in flight still reads after `out` grew; returned to the
                         pool when that send completes or the connection is freed */
    sw_seg_t *segs;   /* seg_inline, or SW_MAX_SEGS from malloc once a response needed more */
    uint32_t nsegs, seg_head, segs_cap;
    uint64_t seg_sent;  /* bytes of segs[seg_head] already sent */
    uint32_t wbuf_mark; /* bytes of `out` already covered by a SEG_WBUF segment */
    uint64_t sent_window; /* bytes sent since the send-rate window (TK_WRITE) began */

    /* timer wheel links */
    sw_conn_t *tnext, *tprev;
    uint64_t deadline_ms;
    uint32_t tslot;

    sw_conn_t *next_free;
    sw_h1_t h1; /* the HTTP/1.1 session: embedded, so a connection costs no allocation of its own */
    sw_seg_t seg_inline[SW_INLINE_SEGS];
};

/* ==== loops and the server ===================================================================================== */

#define SW_WHEEL_SLOTS 1024
#define SW_TICK_MS 100

typedef struct sw_post {
    void (*fn)(void *);
    void *ctx;
    struct sw_post *next;
} sw_post_t;

typedef struct sw_backend_ops sw_backend_ops_t;

struct sw_loop {
    sw_server_t *server;
    uint32_t index;
    uint64_t exchange_ids; /* the last exchange id given on this loop (sw_exchange_t.id) */
    int listen_fd;
    pthread_t thread;
    const sw_backend_ops_t *be;
    void *be_state;
    int event_fd; /* wakes the loop for posted work and shutdown */

    sw_pool_t pool;
    sw_header_t *headers; /* the field table every connection of the loop parses into (limits.max_headers) */
    sw_conn_t **conns;    /* by index */
    uint32_t conns_cap, conns_open;
    sw_conn_t *free_conns;
    uint32_t max_conns;
    bool accept_paused;
    uint64_t accept_retry_ms;

    /* timers: a hashed wheel of SW_TICK_MS slots */
    sw_conn_t *wheel[SW_WHEEL_SLOTS];
    uint64_t wheel_now_tick;
    uint64_t now_ms;

    /* Date header cache, refreshed when the second changes */
    int64_t date_sec;
    char date[SW_IMF_FIXDATE_LEN];

    /* posted callbacks (MPSC: pushed with CAS from any thread, taken whole by the loop) */
    _Atomic(sw_post_t *) posts;

    /* shutdown */
    atomic_bool stopping;
    uint64_t stop_deadline_ms;
    bool listener_closed;

    sw_loop_metrics_t m;
};

struct sw_server {
    sw_server_config_t cfg;
    char host[64];
    char server_name[64];
    uint32_t server_name_len;
    uint16_t port;
    sw_backend_t backend;
    uint32_t nloops;
    sw_loop_t *loops;
    atomic_bool shutting_down;
};

/* The backend: how a loop waits for and performs I/O. Every backend drives the same transport. */
struct sw_backend_ops {
    const char *name;
    int (*init)(sw_loop_t *l);                       /* 0 or -errno */
    void (*run)(sw_loop_t *l);                       /* until the loop stops */
    void (*destroy)(sw_loop_t *l);
    void (*want_write)(sw_loop_t *l, sw_conn_t *c);  /* output is queued */
    void (*want_read)(sw_loop_t *l, sw_conn_t *c);   /* start or resume reading */
    void (*close)(sw_loop_t *l, sw_conn_t *c);       /* close the fd; the conn is freed when safe */
    void (*wake)(sw_loop_t *l);                      /* from any thread */
    void (*stop_accepting)(sw_loop_t *l);
};

extern const sw_backend_ops_t sw__backend_epoll;
#if defined(SW_HAVE_URING)
extern const sw_backend_ops_t sw__backend_uring;
/* 0 if io_uring can be set up here with what the uring backend needs, else -errno. */
int sw__uring_probe(void);
#endif

/* ---- server.c --------------------------------------------------------------------------------------------------- */

int sw__server_new(const sw_server_config_t *cfg, uint32_t nloops, const sw_backend_ops_t *be, bool listen,
                   sw_server_t **out);
void sw__set_current_loop(int index);

/* ---- loop.c: what every loop does whatever its backend --------------------------------------------------------- */

uint64_t sw__now_ms(void);
void sw__loop_tick(sw_loop_t *l);           /* time, Date cache, timers, posted work */
int sw__loop_next_timeout_ms(sw_loop_t *l); /* how long the backend may sleep */
bool sw__loop_done(sw_loop_t *l);           /* stopped and no connections left */
void sw__loop_begin_stop(sw_loop_t *l);
int sw__pool_init(sw_loop_t *l, uint32_t warm);
void sw__pool_destroy(sw_loop_t *l);
void *sw__pool_get(sw_loop_t *l, uint32_t *cap); /* at least *cap bytes; sets *cap to the real size */
void sw__pool_put(sw_loop_t *l, void *p, uint32_t cap);
void sw__timer_set(sw_loop_t *l, sw_conn_t *c, int kind, uint32_t ms);
void sw__timer_clear(sw_loop_t *l, sw_conn_t *c);

/* ---- transport.c: a connection's lifetime, buffers and output queue --------------------------------------------- */

sw_conn_t *sw__conn_new(sw_loop_t *l, int fd); /* after accept; NULL when over the limit (fd closed) */
void sw__conn_free(sw_conn_t *c);              /* when the backend holds no more references */
void sw__conn_close(sw_conn_t *c);             /* close now (the backend frees it when safe) */
/* Send what is queued, then stop sending, read and discard a short while, and close (RFC 9112 9.6). */
void sw__conn_close_after_output(sw_conn_t *c);
void sw__conn_hold(sw_conn_t *c);    /* the struct stays until the matching release */
void sw__conn_release(sw_conn_t *c); /* frees a connection closed while held */
void sw__conn_flush(sw_conn_t *c);   /* queued output goes out now */
void sw__conn_on_read(sw_conn_t *c, ssize_t n);    /* from the backend: n bytes appended to c->in (0 EOF, < 0 err) */
void sw__conn_on_written(sw_conn_t *c, ssize_t n); /* from the backend: n bytes of the queued output were sent */
uint32_t sw__conn_read_space(sw_conn_t *c, char **at); /* where the next recv goes; 0 = read nothing now */
bool sw__conn_answering(const sw_conn_t *c);          /* a handler is answering (sw_session_ops_t.answering) */
bool sw__conn_timeout(sw_conn_t *c, int kind);        /* from the timer wheel */
void sw__conn_shutdown_idle(sw_conn_t *c);            /* from the loop, on graceful shutdown */
int sw__conn_iov(sw_conn_t *c, struct iovec *iov, int max); /* the queued output; the count (0 = none) */
sw_seg_t *sw__conn_file_seg(sw_conn_t *c); /* the first queued segment when it is a file range, else NULL */
bool sw__conn_has_output(const sw_conn_t *c);
/* The loop is about to wait for this connection's next bytes: an empty input buffer goes back to the pool, so an
 * idle connection holds none. Returns true if the connection now holds no input buffer. */
bool sw__conn_release_input(sw_conn_t *c);
/* Takes `buf` (a pool buffer of `cap` bytes that a provided-buffer recv filled) as the input buffer; false if the
 * connection has one already (the caller keeps `buf`). */
bool sw__conn_adopt_input(sw_conn_t *c, char *buf, uint32_t cap);
/* Input buffer of at least `cap` bytes keeping the bytes from in_start, which move to offset 0. Returns the
 * distance they moved (the session shifts its own offsets by it), or -1 without memory. */
int64_t sw__in_grow(sw_conn_t *c, uint64_t cap);
/* Drops the bytes before in_start; returns the distance the rest moved. */
uint32_t sw__in_compact(sw_conn_t *c);
/* The output queue: bytes into the write buffer, then borrowed bytes or file ranges as segments. */
bool sw__out_reserve(sw_conn_t *c, size_t n);
int sw__out_append(sw_conn_t *c, const void *p, size_t n);
int sw__out_push_seg(sw_conn_t *c, const sw_seg_t *seg);
/* Drops queued segments not sent yet (an error answer replaces a response; the connection is freed). */
void sw__out_drop_segs(sw_conn_t *c);
void sw__tune_socket(sw_server_t *s, int fd);

/* ---- h1_session.c: HTTP/1.1 ------------------------------------------------------------------------------------- */

extern const sw_session_ops_t sw__h1_session;
extern const sw_exchange_ops_t sw__h1_exchange;
void sw__h1_timer(sw_conn_t *c);               /* sets the deadline that fits the session's state */
void sw__h1_parse(sw_conn_t *c);               /* parses and dispatches what is buffered */
void sw__h1_release_head(sw_conn_t *c);        /* the request's kept field table goes back to the pool */
int sw__h1_keep_head(sw_conn_t *c);
/* The server answers for the request (a parse error, a limit, a timeout, a failed body): `status` with `msg`,
 * replacing a response the handler began but did not end; the connection closes after it. */
void sw__h1_answer_error(sw_conn_t *c, int status, const char *msg);

static inline sw_conn_t *sw__h1_conn(const sw_exchange_t *ex) {
    return (sw_conn_t *)((char *)ex - offsetof(sw_conn_t, h1) - offsetof(sw_h1_t, ex));
}

static inline const sw_server_config_t *sw__cfg(const sw_conn_t *c) {
    return &c->loop->server->cfg;
}

/* ---- h1_body.c: request bodies -------------------------------------------------------------------------------- */

/* Starts the body phase after a head of `head_len` bytes, or dispatches when there is none. Returns false when
 * processing must stop. */
bool sw__h1_begin_body(sw_conn_t *c, uint32_t head_len);
/* H1_BODY / H1_CHUNKED: takes what arrived; dispatches when the body is whole. False: wait for more. */
bool sw__h1_body_progress(sw_conn_t *c);
bool sw__h1_drain(sw_conn_t *c);                     /* H1_DRAIN; true when the body ended */
void sw__h1_stream_arrived(sw_conn_t *c, uint32_t n); /* bytes for a pending handler's streamed body */
void sw__h1_stream_fail(sw_conn_t *c, int err, int status, const char *msg);
void sw__h1_stream_wake(sw_conn_t *c);
void sw__h1_stream_end(sw_conn_t *c, bool keep); /* the response is complete: the body's rest is drained or not */
bool sw__h1_stream_blocks_keep_alive(const sw_conn_t *c);
void sw__h1_body_clock_reset(sw_conn_t *c);
long sw__h1_body_read(sw_exchange_t *ex, const uint8_t **data);
int sw__h1_body_wait(sw_exchange_t *ex, void (*wake)(void *), void *ctx);
/* Dispatches the request whose head is parsed (the session's, in h1_session.c). */
void sw__h1_dispatch(sw_conn_t *c, const uint8_t *body, size_t body_len, uint32_t next_start);
void sw__h1_reject(sw_conn_t *c, int code);

/* ---- h1_response.c: the HTTP/1.1 serializer -------------------------------------------------------------------- */

int sw__h1_resp_start(sw_exchange_t *ex, int status);
int sw__h1_resp_header(sw_exchange_t *ex, const char *name, size_t nl, const char *value, size_t vl);
int sw__h1_resp_content_type(sw_exchange_t *ex, sw_content_type_t ct);
int sw__h1_resp_body(sw_exchange_t *ex, const void *body, size_t len, bool borrow, void (*release)(void *),
                     void *ctx);
int sw__h1_resp_file(sw_exchange_t *ex, int fd, uint64_t offset, uint64_t len);
int sw__h1_resp_chunk(sw_exchange_t *ex, const void *data, size_t len);
int sw__h1_resp_chunk_end(sw_exchange_t *ex);

/* ==== the exchange's interface to its protocol ================================================================= */

struct sw_exchange_ops {
    /* Serializing: each returns 0 or a negative code. exchange.c checks the phase first, so these are called only
     * in an order that makes sense (start, then fields, then one body or chunks, then chunk_end). */
    int (*start)(sw_exchange_t *ex, int status);
    int (*header)(sw_exchange_t *ex, const char *name, size_t nl, const char *value, size_t vl);
    int (*content_type)(sw_exchange_t *ex, sw_content_type_t ct);
    int (*body)(sw_exchange_t *ex, const void *body, size_t len, bool borrow, void (*release)(void *), void *ctx);
    int (*file)(sw_exchange_t *ex, int fd, uint64_t offset, uint64_t len);
    int (*chunk)(sw_exchange_t *ex, const void *data, size_t len); /* the first one ends the head */
    int (*chunk_end)(sw_exchange_t *ex);
    /* The response cannot be completed: answer 500 if nothing was written, else close after what was. */
    void (*abort)(sw_exchange_t *ex);
    /* The response is complete or aborted, and control is back with the protocol (never called while the
     * request callback runs, nor while the exchange is pinned): go on with the connection. */
    void (*done)(sw_exchange_t *ex);
    /* Send what is queued now (a pinned exchange's response completed, or a stream's chunks piled up). */
    void (*flush)(sw_exchange_t *ex);
    void (*hold)(sw_exchange_t *ex);    /* a pin: the connection's struct stays */
    void (*release)(sw_exchange_t *ex); /* the matching unpin */
    long (*body_read)(sw_exchange_t *ex, const uint8_t **data);
    int (*body_wait)(sw_exchange_t *ex, void (*wake)(void *), void *ctx);
    int (*write_wait)(sw_exchange_t *ex, void (*wake)(void *), void *ctx);
    int (*keep_request)(sw_exchange_t *ex);
    bool (*is_open)(const sw_exchange_t *ex);
    sw_loop_t *(*loop)(const sw_exchange_t *ex);
};

/* ---- the exchange's state, set by the protocol (inline: data, not a call up into exchange.c) ------------------ */

/* A new request on `ex`, before on_request. */
static inline void sw__exchange_begin(sw_exchange_t *ex, sw_loop_t *l, const sw_exchange_ops_t *ops, uint8_t flags) {
    ex->phase = SW_PHASE_IDLE;
    ex->flags_ = flags;
    ex->status = 0;
    ex->id = ++l->exchange_ids;
    ex->ops_ = ops;
}

/* The connection carrying `ex` closed: its close hook is told, once. */
static inline void sw__exchange_closed(sw_exchange_t *ex) {
    void (*fn)(void *) = ex->on_close_;
    if (fn == NULL)
        return;
    ex->on_close_ = NULL;
    fn(ex->on_close_ctx_);
}

#endif
