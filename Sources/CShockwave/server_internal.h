/* Private structures of the server core: loops, connections, buffers, timers, and the backend interface.
 * One loop per thread; nothing here is shared between loops except the server's immutable configuration and
 * the atomics named as such. */
#ifndef SW_SERVER_INTERNAL_H
#define SW_SERVER_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "include/sw_chunked.h"
#include "include/sw_server.h"
#include "include/sw_tables.h"
#include "parse_internal.h"

/* ---- buffers ---------------------------------------------------------------------------------------------- */

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

/* ---- output segments ---------------------------------------------------------------------------------------- */

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
/* Output back-pressure: with this much of the write buffer queued (or half the segment slots taken), the
 * connection parses no further pipelined request and reads nothing until all of its output is sent. Bounds what
 * a client that sends requests but does not read the answers can make the server hold: this plus one response.
 * Pipelined benchmarks (16 x ~130 B answers) stay far below it. */
#define SW_OUT_HIGH (64u << 10)

/* ---- connections ------------------------------------------------------------------------------------------- */

enum conn_state {
    CS_HEAD = 0, /* reading a request head (or idle between requests) */
    CS_BODY,     /* reading a Content-Length body */
    CS_CHUNKED,  /* reading a chunked body */
    CS_HANDLER,  /* the handler answered SW_PENDING (with a streamed body: and reads it as it asks) */
    CS_CLOSING,  /* sending what is queued, then closing */
    CS_DRAIN,    /* the response is complete but the streamed body is not: discarding the rest of it */
};

/* A request's body as sw_conn_body_read sees it (sw_conn_t.stream). */
enum {
    SB_NONE = 0, /* a buffered body (or none): the first read returns it whole */
    SB_ACTIVE,   /* a streamed body, more to come */
    SB_DONE,     /* a streamed body, read to its end */
    SB_FAILED,   /* a streamed body that failed: sb_err says how */
};

/* Bytes of an unread streamed body the connection discards after the response to keep the connection (as Go's
 * net/http does with 256 KiB); past it, or when the rest is known to be larger, the connection closes. */
#define SW_DRAIN_MAX (256u << 10)
/* A streamed body's input buffer: at least this, with at least SW_STREAM_ROOM after the head. */
#define SW_STREAM_BUF (64u << 10)
#define SW_STREAM_ROOM (32u << 10)

enum {
    CF_KEEP_ALIVE = 1u << 0,   /* the current request allows the connection to persist */
    CF_HEAD_METHOD = 1u << 1,  /* the current request is HEAD: no body in the response */
    CF_RESP_STARTED = 1u << 2, /* sw_resp_start was called for the current request */
    CF_RESP_CHUNKED = 1u << 3, /* the current response streams chunks */
    CF_READ_EOF = 1u << 4,     /* the peer half-closed */
    CF_SENDING = 1u << 5,      /* (uring) a send is in flight */
    CF_RECVING = 1u << 6,      /* (uring) a recv is in flight */
    CF_WANT_WRITE = 1u << 7,   /* (epoll) waiting for EPOLLOUT */
    CF_CLOSED = 1u << 8,       /* the fd is closed; the struct waits for in-flight ops */
    CF_CONTINUE_SENT = 1u << 9,
    CF_HTTP10 = 1u << 10,
    CF_IN_PROCESS = 1u << 11,  /* inside conn_process: do not re-enter */
    CF_FREE_DEFERRED = 1u << 12, /* closed while pinned (sw_conn_pin): freed at the last sw_conn_unpin */
    CF_BODY_WAIT = 1u << 13,     /* a streamed body's reader waits (sw_conn_body_wait): reading is on */
    CF_DONE_PINNED = 1u << 14,   /* the response completed while pinned: the request ends at the last unpin */
    CF_OUT_PAUSED = 1u << 15,    /* too much output queued: no more requests are read or parsed until it is sent */
    CF_RESUMING = 1u << 16,      /* inside resume_output (conn.c): a nested call leaves the work to the outer one */
    CF_RESP_NO_BODY = 1u << 17,  /* the response's head is out and it has no body (HEAD, 1xx, 204, 304): every
                                    body call drops its bytes (response.c, end_head) */
    CF_RESP_RAW = 1u << 18,      /* a streamed response to HTTP/1.0: chunks go out unframed, the close ends it */
};

struct sw_conn {
    int fd;
    uint32_t flags;
    uint8_t state;
    uint8_t timer_kind;
    uint16_t gen; /* bumped on reuse; part of io_uring user_data so stale completions are recognised */
    uint32_t index; /* slot in the loop's connection table */
    uint32_t serial; /* this connection's number on its loop (the slot's reuses differ): a body reader that
                        outlived its request and connection is told so, never served another client's body */
    uint32_t requests;
    uint32_t pins; /* sw_conn_pin: code answering later holds the struct; it is not freed or reused until 0 */
    uint32_t inflight; /* (uring) operations the kernel still holds */
    sw_loop_t *loop;

    sw_buf_t in;        /* received bytes; the current request starts at in_start */
    uint32_t in_start;  /* offset of the current request's first byte */
    uint32_t head_prev; /* prev_len for sw_parse_request, relative to in_start; 0 = fresh */
    uint32_t head_len;  /* parsed head length while reading the body */
    uint64_t body_need; /* CS_BODY: body bytes still to arrive; CS_CHUNKED: decoded bytes so far */
    uint32_t body_off;  /* offset in `in` where the (decoded) body starts */
    uint32_t chunk_off; /* CS_CHUNKED: offset in `in` of the first undecoded byte */
    sw_chunked_decoder_t dec;

    /* The body as sw_conn_body_read serves it. Buffered: body_off/body_need are the body's offset and length
     * until the first read. Streamed: the head stays at in_start (the handler's views point into it) and
     * [sb_base, cap) is the body window, reused for every piece. In it, from body_off: sb_give bytes the last read
     * handed out (consumed by the next), then sb_avail decoded bytes not handed out yet, then (chunked) undecoded
     * bytes from chunk_off, or (Content-Length) body bytes not counted yet, body_need of them still to come; after
     * the body's end, the next request's bytes. */
    uint8_t stream;       /* SB_* */
    int8_t sb_err;        /* SB_FAILED: the SW_BODY_* error every read returns */
    uint32_t seq;         /* the request sw_conn_body_read serves (c->requests at dispatch) */
    uint32_t sb_base;     /* streamed: offset in `in` of the body window (just after the head) */
    uint32_t sb_avail;    /* streamed: decoded bytes at body_off not handed out yet */
    uint32_t sb_give;     /* bytes at body_off handed out by the last read; consumed by the next */
    uint64_t sb_limit;    /* streamed: decoded bytes allowed */
    uint64_t sb_raw;      /* streamed: raw body bytes received (0: the body has not started, for 100-continue) */
    uint64_t drained;     /* CS_DRAIN: bytes discarded */
    void (*sb_wake)(void *);
    void *sb_ctx;
    void (*on_closed)(void *); /* sw_conn_on_close: told once when the connection closes under a pending answer */
    void *on_closed_ctx;

    /* Body rate (slow POST): body bytes received in the current window, the window's active time before the
     * current wait began, and when that wait began. The window's clock runs only while the server waits for
     * the body (not while a streaming handler works on a piece). */
    uint64_t win_bytes;
    uint64_t win_since;
    uint32_t win_used;

    sw_buf_t out;         /* serialized response bytes */
    sw_buf_t out_old;     /* (uring) the write buffer a send in flight still reads after `out` grew; returned to the
                             pool when that send completes (sw__conn_on_written) or the connection is freed */
    sw_seg_t *segs; /* seg_inline, or SW_MAX_SEGS from malloc once a response needed more */
    uint32_t nsegs, seg_head, segs_cap;
    uint64_t seg_sent;    /* bytes of segs[seg_head] already sent */
    uint32_t wbuf_mark;   /* bytes of `out` already covered by a SEG_WBUF segment */
    uint32_t resp_status; /* status of the response being written */
    uint32_t resp_mark;   /* offset in `out` where the response being written starts (sw__resp_error rolls back) */

    /* The parsed head. Its field table is the loop's (l->headers) while the request is handled inline; a request
     * that outlives the current event (body still to come, async handler) gets a copy in `kept` (sw__conn_keep_head). */
    sw_request_t req;
    sw_header_t *kept;
    uint32_t kept_cap; /* bytes (a pool size class) */

    /* timer wheel links */
    sw_conn_t *tnext, *tprev;
    uint64_t deadline_ms;
    uint32_t tslot;

    sw_conn_t *next_free;
    sw_seg_t seg_inline[SW_INLINE_SEGS];
};

enum { TK_NONE = 0, TK_HEADER, TK_BODY, TK_IDLE, TK_WRITE };

/* ---- loops ----------------------------------------------------------------------------------------------- */

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
    uint32_t conn_serial; /* the last connection's serial (sw_conn_t.serial) */
    int listen_fd;
    pthread_t thread;
    const sw_backend_ops_t *be;
    void *be_state;
    int event_fd; /* wakes the loop for posted work and shutdown */

    sw_pool_t pool;
    sw_header_t *headers; /* the field table every connection of the loop parses into (limits.max_headers) */
    sw_conn_t **conns; /* by index */
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

/* The backend: how a loop waits for and performs I/O. Both backends drive the same connection logic. */
struct sw_backend_ops {
    const char *name;
    int (*init)(sw_loop_t *l);                 /* 0 or -errno */
    void (*run)(sw_loop_t *l);                 /* until the loop stops */
    void (*destroy)(sw_loop_t *l);
    void (*conn_opened)(sw_loop_t *l, sw_conn_t *c); /* start reading */
    void (*want_write)(sw_loop_t *l, sw_conn_t *c);  /* output is queued */
    void (*want_read)(sw_loop_t *l, sw_conn_t *c);   /* resume reading after a pause */
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

/* ---- shared loop/connection functions (loop.c, conn.c) ---------------------------------------------------- */

uint64_t sw__now_ms(void);
void sw__loop_tick(sw_loop_t *l);              /* time, Date cache, timers, posted work */
int sw__loop_next_timeout_ms(sw_loop_t *l);    /* how long the backend may sleep */
bool sw__loop_done(sw_loop_t *l);              /* stopped and no connections left */
void sw__loop_begin_stop(sw_loop_t *l);

sw_conn_t *sw__conn_new(sw_loop_t *l, int fd);  /* after accept; NULL when over the limit (fd closed) */
void sw__conn_free(sw_conn_t *c);               /* when the backend holds no more references */
void sw__conn_on_read(sw_conn_t *c, ssize_t n); /* n bytes were appended to c->in (0 = EOF, < 0 = -errno) */
void sw__conn_on_written(sw_conn_t *c, ssize_t n); /* n bytes of the queued output were sent (< 0 = -errno) */
/* Where the next recv goes; grows the input buffer as the state allows. Returns free space (0 = none). */
uint32_t sw__conn_read_space(sw_conn_t *c, char **at);
/* Fills an iovec array from the queued output; returns the count (0 = nothing to send). */
int sw__conn_iov(sw_conn_t *c, struct iovec *iov, int max);
/* The first queued segment when it is a file range (for sendfile), else NULL. */
sw_seg_t *sw__conn_file_seg(sw_conn_t *c);
/* A connection's deadline passed (`kind`: the TK_* it was set with). Returns false when it was only a body-rate
 * checkpoint that passed (the timer is set again), true when the connection was cut. */
bool sw__conn_timeout(sw_conn_t *c, int kind);
bool sw__conn_has_output(const sw_conn_t *c);
void sw__conn_shutdown_idle(sw_conn_t *c);     /* on graceful shutdown */
/* The loop is about to wait for this connection's next bytes: an empty input buffer goes back to the pool, so an
 * idle connection holds none. Returns true if the connection now holds no input buffer. */
bool sw__conn_release_input(sw_conn_t *c);
/* Takes `buf` (a pool buffer of `cap` bytes that a provided-buffer recv filled) as the input buffer; the bytes
 * are then reported by sw__conn_on_read. False if the connection has an input buffer already (the caller keeps
 * `buf`). */
bool sw__conn_adopt_input(sw_conn_t *c, char *buf, uint32_t cap);
int sw__conn_keep_head(sw_conn_t *c);

void sw__timer_set(sw_loop_t *l, sw_conn_t *c, int kind, uint32_t ms);
void sw__timer_clear(sw_loop_t *l, sw_conn_t *c);

void *sw__pool_get(sw_loop_t *l, uint32_t *cap);  /* at least *cap bytes; sets *cap to the real size */
void sw__pool_put(sw_loop_t *l, void *p, uint32_t cap);

void sw__tune_socket(sw_server_t *s, int fd);

#endif
