/* The HTTP/1.1 server core: event loops (io_uring, epoll fallback), connections, the response serializer.
 *
 * Threading: a server runs N loops, one thread each, each with its own listener (SO_REUSEPORT), ring or epoll
 * set, buffers and connections. Everything about a connection happens on its loop's thread: the request
 * callback, the sw_resp_* calls that answer it, and the callbacks posted with sw_loop_post. Only
 * sw_server_shutdown, sw_loop_post and the sw_server_* getters may be called from other threads. */
#ifndef SW_SERVER_H
#define SW_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "sw_parse.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sw_server sw_server_t;
typedef struct sw_loop sw_loop_t;
/* One request and its response: an HTTP/1.1 request on a connection (later, one HTTP/2 stream). The request
 * callback receives it; every response call, body read and pin takes it. */
typedef struct sw_exchange sw_exchange_t;
/* How the protocol carrying an exchange serializes its response and serves its body (the engine's). */
typedef struct sw_exchange_ops sw_exchange_ops_t;

typedef enum sw_backend {
    SW_BACKEND_AUTO = 0,  /* io_uring when it sets up and probes fine, else epoll; SHOCKWAVE_BACKEND overrides */
    SW_BACKEND_URING = 1,
    SW_BACKEND_EPOLL = 2,
    SW_BACKEND_MEMORY = 3, /* in-process connections (sw_mem_server_create); never chosen otherwise */
} sw_backend_t;

/* What a request callback returns. */
enum {
    SW_DONE = 0,    /* the response is complete (a body, file or last chunk was given) */
    SW_PENDING = 1, /* the response will be completed later on this loop's thread; the connection waits and
                       later pipelined requests keep their order */
};

/* Where an exchange's response stands: kept here once, read by the layers above (Shockwave's ResponseWriter). */
enum {
    SW_PHASE_IDLE = 0,      /* nothing written yet */
    SW_PHASE_HEAD = 1,      /* sw_resp_start was called: fields may follow, then a body */
    SW_PHASE_STREAMING = 2, /* the head went out with the first chunk: chunks follow, then sw_resp_chunk_end */
    SW_PHASE_COMPLETE = 3,  /* the response is whole */
    SW_PHASE_ABORTED = 4,   /* it cannot be completed: what was written is sent, then the connection closes */
};

/* The exchange. Callers read `phase` and `status` (loop thread only) and `id`; the other fields are the
 * engine's. A response call records what the handler asked for in it; the protocol acts on it when control
 * returns to the protocol (after the request callback, or at the last sw_exchange_unpin), never in the middle
 * of a handler's call. */
struct sw_exchange {
    uint8_t phase;   /* SW_PHASE_* */
    uint8_t flags_;  /* the engine's (EXF_* in server_internal.h) */
    uint16_t status; /* the response's status from sw_resp_start on */
    uint32_t pins_;
    uint64_t id; /* the request's number on its loop, never reused: body readers pass it back (see
                    sw_exchange_body_read) so a reader that outlived its request is never served another's body */
    const sw_exchange_ops_t *ops_;
    void (*on_close_)(void *);
    void *on_close_ctx_;
};

/* The request as the callback sees it: borrowed, valid until the response is complete (copy what you keep).
 * `buf` holds the head; spans in `head` are offsets into it. */
typedef struct sw_http_request {
    const char *buf;
    const sw_request_t *head;
    const uint8_t *body; /* the whole body (Content-Length or de-chunked), or NULL when there is none or it is
                            streamed */
    size_t body_len;
    uint64_t exchange_id; /* the exchange's id at dispatch; pass it to sw_exchange_body_read and _wait */
    uint8_t streamed;     /* 1: the body is streamed (sw_on_head_fn chose it): read it with sw_exchange_body_read */
} sw_http_request_t;

/* Called on the loop thread for each complete request. Must answer with sw_resp_* on `ex`, now (return
 * SW_DONE) or later on the same thread (return SW_PENDING). */
typedef int (*sw_on_request_fn)(void *user, sw_exchange_t *ex, const sw_http_request_t *req);

/* What a sw_on_head_fn returns. */
enum {
    SW_BODY_BUFFER = 0, /* read the whole body first (max_body applies), then call on_request */
    SW_BODY_STREAM = 1, /* call on_request now; the handler reads the body with sw_exchange_body_read */
};

/* Optional. Called on the loop thread when a request head announcing a body (Content-Length > 0, or chunked)
 * has been parsed, before any of the body is read, with `req->body` NULL. Returns SW_BODY_BUFFER or
 * SW_BODY_STREAM. For a stream, `*max_stream` (preset to the configuration's max_stream_body) is the most body
 * bytes the request may have (decoded, for chunked; UINT64_MAX = no limit): a Content-Length above it gets 413
 * before anything is read, a chunked body passing it gets 413 when it does. A streamed body is not limited by
 * max_body and never held whole: the connection reads it into its input buffer only as the handler asks. */
typedef int (*sw_on_head_fn)(void *user, sw_exchange_t *ex, const sw_http_request_t *req, uint64_t *max_stream);

typedef struct sw_server_config {
    const char *host;               /* address to bind: "0.0.0.0", "::", "127.0.0.1"; NULL = "0.0.0.0" */
    uint16_t port;                  /* 0 = an ephemeral port, the same for every loop (sw_server_port) */
    uint16_t loops;                 /* 0 = online CPUs */
    uint8_t backend;                /* sw_backend_t */
    uint8_t tcp_nodelay;            /* default 1 */
    uint8_t tcp_quickack;           /* default 0 */
    uint8_t reserved_;
    sw_limits_t limits;             /* head limits (sw_default_limits) */
    uint64_t max_body;              /* default 4 MiB: larger buffered bodies (after de-chunking) get 413, before
                                       reading when Content-Length says so; 0 = no body bytes at all (an empty
                                       body, `Content-Length: 0` or only the last chunk, is fine), whatever the
                                       framing */
    uint64_t max_stream_body;       /* default 1 GiB (UINT64_MAX = none): preset limit of a streamed body */
    uint32_t max_conns;             /* default 16384 for the whole server */
    uint32_t max_requests_per_conn; /* 0 = no limit */
    uint32_t header_timeout_ms;     /* default 10000: the whole head must arrive within it (slowloris) */
    uint32_t body_timeout_ms;       /* default 10000: the body-progress window (slow POST): in every window of
                                       this length spent waiting for body bytes, at least
                                       max(1, min_body_rate * window) bytes must arrive, else 408 and close */
    uint32_t min_body_rate;         /* default 240 bytes/s; 0 = only "one byte per window" */
    uint32_t idle_timeout_ms;       /* default 60000: keep-alive connection without a request */
    uint32_t write_timeout_ms;      /* default 30000: the send-rate window: while output waits to be sent, every
                                       window of this length must send max(1, min_send_rate * window) bytes,
                                       else the connection closes (a client that reads too slowly) */
    uint32_t min_send_rate;         /* default 240 bytes/s; 0 = only "one byte per window" */
    const char *server_name;        /* Server header value, or NULL for none */
    sw_on_request_fn on_request;
    sw_on_head_fn on_head;          /* NULL: every body is buffered */
    void *user;
    /* Benchmarks only: when set, connections skip parsing and answer every CRLF CRLF they receive with these
     * bytes. It measures the floor the kernel and the loop set, below any HTTP work. */
    const char *floor_reply;
    uint32_t floor_reply_len;
} sw_server_config_t;

/* Fills `cfg` with the defaults above. */
void sw_server_config_init(sw_server_config_t *cfg);

/* Binds the listeners and starts the loop threads. Returns 0 and sets *out, or a negative errno (EADDRINUSE,
 * EACCES, ...). The configuration is copied; `host` and `server_name` need not outlive the call. If SIGPIPE
 * still has its default action, it is set to ignored (sendfile cannot suppress it per call); a disposition
 * the program chose is left alone. */
int sw_server_start(const sw_server_config_t *cfg, sw_server_t **out);

/* The bound port (useful with port 0). */
uint16_t sw_server_port(const sw_server_t *s);
/* The backend in use: SW_BACKEND_URING or SW_BACKEND_EPOLL. */
sw_backend_t sw_server_backend(const sw_server_t *s);
uint32_t sw_server_loop_count(const sw_server_t *s);

/* Graceful shutdown, from any thread: the listeners close; requests already being read or handled complete;
 * keep-alive connections get `Connection: close` on their next response; idle ones close now; after
 * `deadline_ms` the rest are closed. Returns at once; sw_server_wait joins. */
void sw_server_shutdown(sw_server_t *s, uint32_t deadline_ms);
/* Blocks until every loop thread has exited. */
void sw_server_wait(sw_server_t *s);
/* Frees the server after sw_server_wait. */
void sw_server_free(sw_server_t *s);

/* ---- responses (loop thread only) ----------------------------------------------------------------------- */

/* Common Content-Type values, written from a table. */
typedef enum sw_content_type {
    SW_CT_NONE = 0,
    SW_CT_TEXT_PLAIN,      /* text/plain; charset=utf-8 */
    SW_CT_TEXT_HTML,       /* text/html; charset=utf-8 */
    SW_CT_JSON,            /* application/json */
    SW_CT_OCTET_STREAM,    /* application/octet-stream */
    SW_CT_FORM,            /* application/x-www-form-urlencoded */
    SW_CT_COUNT_
} sw_content_type_t;

/* Starts the response: status line (from the table), Date (cached per loop), Server. Returns 0, or -1 when a
 * response was already started. */
int sw_resp_start(sw_exchange_t *ex, int status);
/* Adds a header field; name and value are copied. The caller vouches that they hold no CR or LF (Shockwave's
 * Swift layer checks). Content-Length, Transfer-Encoding, Connection and Date are written by Shockwave. */
int sw_resp_header(sw_exchange_t *ex, const char *name, size_t name_len, const char *value, size_t value_len);
int sw_resp_content_type(sw_exchange_t *ex, sw_content_type_t ct);
/* Ends the response with a body (copied), adding Content-Length and, when the connection closes, Connection:
 * close. A HEAD request gets the same headers and no body. A status without content (1xx, 204, 304) gets neither
 * body nor Content-Length, whatever is passed; this holds for every body call below (borrowed, file, chunks). */
int sw_resp_body(sw_exchange_t *ex, const void *body, size_t len);
/* As sw_resp_body, but the bytes are sent from where they are, not copied: `release(ctx)` is called on the
 * loop thread once they are sent or the connection is gone (at once for bodies of 512 bytes or less, which are
 * copied because that is cheaper than an iovec of their own). For static data pass release = NULL. */
int sw_resp_body_borrowed(sw_exchange_t *ex, const void *body, size_t len, void (*release)(void *), void *ctx);
/* Streaming: after sw_resp_start and headers, sends the head with Transfer-Encoding: chunked; then chunks;
 * sw_resp_chunk_end sends the last chunk and completes the response. Output is bounded: while more than
 * SW_STREAM_OUT_MAX bytes of the response wait to be sent, sw_resp_chunk takes nothing and returns -EAGAIN
 * (a single larger chunk is taken when nothing waits); code answering later waits for room with
 * sw_exchange_write_wait, code that cannot wait gives up with sw_resp_abort. To an HTTP/1.0 client (which cannot read
 * chunks, RFC 9112 6.1) the head has no Transfer-Encoding but `Connection: close`, the bytes go out unframed and
 * the connection closes after them. A HEAD request or a status without content gets the head only. */
int sw_resp_chunk(sw_exchange_t *ex, const void *data, size_t len);
int sw_resp_chunk_end(sw_exchange_t *ex);
#define SW_STREAM_OUT_MAX (1u << 20)
/* After -EAGAIN from sw_resp_chunk: calls wake(ctx) once, on the loop thread, when half of the queued output is
 * sent or the connection closes. Returns 0 when the wake is registered, 1 when there is room now (then wake is not
 * called). `wake` must not call sw_exchange_* or sw_resp_* itself. */
int sw_exchange_write_wait(sw_exchange_t *ex, void (*wake)(void *ctx), void *ctx);
/* A file range, sent with sendfile after the head. The fd is closed when sent or on error, and at once when the
 * response has no body (HEAD: the head says Content-Length `len`; 1xx, 204, 304: no Content-Length). */
int sw_resp_file(sw_exchange_t *ex, int fd, uint64_t offset, uint64_t len);

/* For answers that come later (SW_PENDING), loop thread only. A pin keeps the exchange, its connection's struct
 * and buffers and the request view from being freed or reused (not the connection from closing: a peer reset or
 * the shutdown deadline still closes it) until the matching unpin; the loop does not exit while an exchange is
 * pinned. A response completed while pinned is sent at once; the protocol goes on (the connection reads its
 * next request) at the last unpin, so the request view stays valid until then. */
void sw_exchange_pin(sw_exchange_t *ex);
void sw_exchange_unpin(sw_exchange_t *ex);
/* Call before answering later (SW_PENDING), from the callback: the request's field table lives in an array the
 * loop shares between its connections and reuses for the next parse; this gives the exchange its own copy
 * (released when the response is complete). 0, or -ENOMEM (then answer at once instead). */
int sw_exchange_keep_request(sw_exchange_t *ex);
/* 1 while the exchange's connection is open, 0 once it is closed (then sw_resp_* calls do nothing useful). */
int sw_exchange_is_open(const sw_exchange_t *ex);
/* For answers that come later, loop thread only: `fn(ctx)` is called once, on the loop thread, when the
 * connection closes before the code answering it is done — the client went away, or the shutdown deadline
 * closed it — so that code can stop (Shockwave cancels the handler's task). NULL clears it; set and clear it
 * while the exchange is pinned. `fn` must not call sw_exchange_* or sw_resp_* itself. */
void sw_exchange_on_close(sw_exchange_t *ex, void (*fn)(void *ctx), void *ctx);
/* Ends a response that cannot be completed (its handler failed): a 500 when none of it was sent yet, else the
 * connection closes after what was sent. Loop thread only; does nothing on a closed connection or a response
 * that is already complete. */
void sw_resp_abort(sw_exchange_t *ex);

/* ---- streamed request bodies (loop thread only) ------------------------------------------------------------ */

/* What sw_exchange_body_read returns besides a length (> 0) or 0 (the body is complete). Once an error is returned,
 * every later call returns it again. */
enum {
    SW_BODY_AGAIN = -1,     /* nothing is buffered now: sw_exchange_body_wait, then call again */
    SW_BODY_TOO_LARGE = -2, /* the body passed its stream limit: the server answered 413 and closes */
    SW_BODY_MALFORMED = -3, /* bad chunked framing: the server answered 400 and closes */
    SW_BODY_TIMEOUT = -4,   /* the body came slower than the minimum rate: the server answered 408 and closes */
    SW_BODY_CLOSED = -5,    /* the client closed or reset the connection before the end of the body */
    SW_BODY_FINISHED = -6,  /* the request's response is complete: the rest of its body is discarded */
};

/* Reads the next piece of the request body of exchange `id` (sw_http_request_t.exchange_id: a reader that
 * outlived its request — the exchange now carries another request, of this client or another — gets
 * SW_BODY_FINISHED, never those bytes). Returns its length (> 0) and sets *data: the bytes (de-chunked) are
 * borrowed from the connection's input buffer and valid until the next sw_exchange_body_* call or the response
 * is complete, whichever comes first; copy what you keep. Returns 0 at the end of the body, SW_BODY_AGAIN when
 * nothing is buffered yet, or another SW_BODY_* error. For a buffered request the whole body is the first piece.
 * Never blocks; the connection reads more of a streamed body only while its handler waits
 * (sw_exchange_body_wait), into a window of the input buffer behind the head (64 KiB in all) reused for every
 * piece: memory stays bounded by it, and TCP flow control slows the client meanwhile. While it waits, the
 * body-rate rule applies (body_timeout_ms, min_body_rate); while it does not, the rule's clock stops.
 *
 * When the response completes before the body was read to its end, the server reads and discards the rest, up
 * to SW_DRAIN_MAX (256 KiB) and at the body rate, so the connection can serve the next request; the response
 * says `Connection: close` instead when more than that is announced (Content-Length) or when the client sent
 * `Expect: 100-continue` and no read asked for the body (the client may or may not send it). */
long sw_exchange_body_read(sw_exchange_t *ex, uint64_t id, const uint8_t **data);

/* After SW_BODY_AGAIN: asks the connection to read, and to call wake(ctx) exactly once on the loop thread when
 * sw_exchange_body_read has something new to return (bytes, the end, or an error: a reset, the body rate, the
 * server closing the connection). It may be called before this function returns, when the bytes are already in
 * the socket. The first wait of a request with `Expect: 100-continue` whose body has not started sends
 * `100 Continue` (unless the response has started). Returns 0 when the wake is registered, or 1 when a read
 * would not return SW_BODY_AGAIN now (then wake is not called). `wake` must not call sw_exchange_* or sw_resp_*
 * itself; it should schedule the reader (as resuming a Swift continuation does). */
int sw_exchange_body_wait(sw_exchange_t *ex, uint64_t id, void (*wake)(void *ctx), void *ctx);

/* Loop `i` of the server (0..loops-1), or NULL. */
sw_loop_t *sw_server_loop(sw_server_t *s, uint32_t i);
/* The loop an exchange belongs to, and a loop's index (0..loops-1). */
sw_loop_t *sw_exchange_loop(const sw_exchange_t *ex);
uint32_t sw_loop_index(const sw_loop_t *l);

/* The index of the loop running on the calling thread, or -1 on any other thread (tests count allocations
 * made on loop threads with it). */
int sw_current_loop_index(void);

/* Runs fn(ctx) on the loop's thread soon (FIFO). Safe from any thread; returns 0 or -ENOMEM. */
int sw_loop_post(sw_loop_t *l, void (*fn)(void *), void *ctx);

/* ---- metrics --------------------------------------------------------------------------------------------- */

typedef struct sw_loop_metrics {
    uint64_t connections_accepted;
    uint64_t connections_open;
    uint64_t requests;
    uint64_t bytes_in;
    uint64_t bytes_out;
    uint64_t pool_hits;
    uint64_t pool_misses;
    uint64_t parse_errors[40]; /* indexed by -SW_E_* code */
    uint64_t timeouts;
    uint64_t in_buf_peak; /* the largest input buffer a connection of the loop held, in bytes */
    uint64_t out_buf_peak; /* the largest write buffer a connection of the loop held, in bytes */
} sw_loop_metrics_t;

/* Copies loop `i`'s counters (relaxed reads; each counter is exact, the set is not a snapshot). */
int sw_server_loop_metrics(const sw_server_t *s, uint32_t i, sw_loop_metrics_t *out);

/* ---- in-process connections (tests, benchmarks) --------------------------------------------------------------
 *
 * A server with one loop and no sockets: bytes sent on an sw_mem_conn_t go through the same connection code as
 * bytes from a socket (parser, limits, request callback, serializer), and what the server writes is collected
 * for the caller. The thread that creates the server is its loop thread: call everything from it. */

typedef struct sw_mem_conn sw_mem_conn_t;

/* Creates the server (cfg->host, port, loops, backend and socket options are ignored). 0 or -errno. Free with
 * sw_mem_server_free, which also closes its connections (their handles stay valid until sw_mem_disconnect). */
int sw_mem_server_create(const sw_server_config_t *cfg, sw_server_t **out);
void sw_mem_server_free(sw_server_t *s);
/* A new connection, or NULL (out of memory, or the connection limit). */
sw_mem_conn_t *sw_mem_connect(sw_server_t *s);
/* Delivers bytes as if received: complete requests are handled before this returns (synchronous handlers) and
 * their responses are in the output. Bytes sent while a pending handler runs wait, as a socket's would.
 * 0, or -EPIPE when the server closed the connection. */
int sw_mem_send(sw_mem_conn_t *m, const void *bytes, size_t len);
/* The client half-closes (as a FIN would). 0 or -EPIPE. */
int sw_mem_send_eof(sw_mem_conn_t *m);
/* What the server wrote and the caller has not consumed yet; valid until the next sw_mem_* call. */
const char *sw_mem_output(const sw_mem_conn_t *m, size_t *len);
void sw_mem_consume(sw_mem_conn_t *m, size_t n);
/* 1 while the server side is open (it closes after `Connection: close`, errors, limits). */
int sw_mem_is_open(const sw_mem_conn_t *m);
/* Closes the client side (the server sees a reset) and frees the handle. */
void sw_mem_disconnect(sw_mem_conn_t *m);
/* Waits up to timeout_ms (0: do not wait, < 0: forever) for work posted to the loop (the jobs of async
 * handlers) and runs it, with the loop's timers. Returns 1 if posted work ran, else 0. */
int sw_mem_run(sw_server_t *s, int timeout_ms);

/* ---- socket tuning --------------------------------------------------------------------------------------- */

/* Reads back the options Shockwave sets on an accepted socket: TCP_NODELAY into *nodelay, TCP_QUICKACK into
 * *quickack. Returns 0 or a negative errno. For tests. */
int sw_socket_options(int fd, int *nodelay, int *quickack);

#ifdef __cplusplus
}
#endif

#endif
