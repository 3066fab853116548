/* HTTP/1.1's response serializer (the exchange's ops, called by exchange.c once the phase allows): status line
 * from the table, the cached Date, precompiled Content-Type lines, framing fields, all appended straight into the
 * connection's write buffer; borrowed bodies and files are queued as segments. No printf, no intermediate
 * strings. Which responses have no body (HEAD, 1xx, 204, 304) and how a stream is framed (chunked, or raw to an
 * HTTP/1.0 client) is decided once, in end_head. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server_internal.h"

/* Borrowed bodies up to this size are copied into the write buffer instead (see sw_resp_body_borrowed). */
#define SW_BORROW_MIN 512

static const struct {
    const char *line;
    uint32_t len;
} content_types[SW_CT_COUNT_] = {
#define CT(s) {s, sizeof(s) - 1}
    [SW_CT_NONE] = {"", 0},
    [SW_CT_TEXT_PLAIN] = CT("Content-Type: text/plain; charset=utf-8\r\n"),
    [SW_CT_TEXT_HTML] = CT("Content-Type: text/html; charset=utf-8\r\n"),
    [SW_CT_JSON] = CT("Content-Type: application/json\r\n"),
    [SW_CT_OCTET_STREAM] = CT("Content-Type: application/octet-stream\r\n"),
    [SW_CT_FORM] = CT("Content-Type: application/x-www-form-urlencoded\r\n"),
#undef CT
};

#define APPEND_LIT(dst, s)                                                                                         \
    do {                                                                                                           \
        memcpy((dst), (s), sizeof(s) - 1);                                                                         \
        (dst) += sizeof(s) - 1;                                                                                    \
    } while (0)

/* Decimal digits of v at dst; returns the end. */
static char *put_u64(char *dst, uint64_t v) {
    char tmp[20];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    while (n > 0)
        *dst++ = tmp[--n];
    return dst;
}

static char *put_hex(char *dst, uint64_t v) {
    static const char hex[] = "0123456789abcdef";
    char tmp[16];
    int n = 0;
    do {
        tmp[n++] = hex[v & 15];
        v >>= 4;
    } while (v != 0);
    while (n > 0)
        *dst++ = tmp[--n];
    return dst;
}

int sw__h1_resp_start(sw_exchange_t *ex, int status) {
    sw_conn_t *c = sw__h1_conn(ex);
    sw_server_t *s = c->loop->server;
    if (!sw__out_reserve(c, SW_STATUS_LINE_MAX + 8 + SW_IMF_FIXDATE_LEN + 2 + 10 + s->server_name_len + 2))
        return -ENOMEM;
    c->h1.resp_mark = c->out.len;
    char *p = c->out.data + c->out.len;
    size_t n;
    const char *line = sw_status_line(status, &n);
    if (line != NULL) {
        memcpy(p, line, n);
        if (ex->flags_ & EXF_HTTP10)
            p[7] = '0'; /* answer an HTTP/1.0 client in its version, so it reads the framing it expects */
        p += n;
    } else {
        p += sw_write_status_line(p, status, (ex->flags_ & EXF_HTTP10) ? 0 : 1);
    }
    APPEND_LIT(p, "Date: ");
    memcpy(p, c->loop->date, SW_IMF_FIXDATE_LEN);
    p += SW_IMF_FIXDATE_LEN;
    APPEND_LIT(p, "\r\n");
    if (s->server_name_len > 0) {
        APPEND_LIT(p, "Server: ");
        memcpy(p, s->server_name, s->server_name_len);
        p += s->server_name_len;
        APPEND_LIT(p, "\r\n");
    }
    c->out.len = (uint32_t)(p - c->out.data);
    ex->flags_ &= (uint8_t)~(EXF_NO_BODY | EXF_RAW);
    return 0;
}

int sw__h1_resp_header(sw_exchange_t *ex, const char *name, size_t name_len, const char *value, size_t value_len) {
    sw_conn_t *c = sw__h1_conn(ex);
    if (!sw__out_reserve(c, name_len + value_len + 4))
        return -ENOMEM;
    char *p = c->out.data + c->out.len;
    memcpy(p, name, name_len);
    p += name_len;
    *p++ = ':';
    *p++ = ' ';
    memcpy(p, value, value_len);
    p += value_len;
    *p++ = '\r';
    *p++ = '\n';
    c->out.len = (uint32_t)(p - c->out.data);
    return 0;
}

int sw__h1_resp_content_type(sw_exchange_t *ex, sw_content_type_t ct) {
    return sw__out_append(sw__h1_conn(ex), content_types[ct].line, content_types[ct].len);
}

/* Whether a status carries content at all (RFC 9110 15.2, 15.3.5, 15.4.5). */
static bool status_has_body(int status) {
    return status >= 200 && status != 204 && status != 304;
}

/* Ends the header section: framing fields and the blank line. `len` < 0 means chunked. Decides, once for every
 * body path (bytes, borrowed, file, chunks), whether body bytes may follow: EXF_NO_BODY when the status has no
 * content or the request was HEAD, so no path can put bytes on the wire that a client or proxy would read as the
 * next response (response splitting). */
static int end_head(sw_conn_t *c, sw_exchange_t *ex, int64_t len) {
    sw_h1_t *h = &c->h1;
    if (!sw__out_reserve(c, 64))
        return -ENOMEM;
    if (c->loop->listener_closed)
        h->flags &= ~(uint32_t)H1F_KEEP_ALIVE; /* a shutdown began after dispatch (pending handler): last response */
    if (h->stream == SB_ACTIVE && sw__h1_stream_blocks_keep_alive(c))
        h->flags &= ~(uint32_t)H1F_KEEP_ALIVE; /* a streamed body left unread that is not worth discarding */
    char *p = c->out.data + c->out.len;
    if (SW_LIKELY(status_has_body(ex->status))) {
        if (len >= 0) {
            /* also for HEAD: the length a GET would get (RFC 9110 9.3.2) */
            APPEND_LIT(p, "Content-Length: ");
            p = put_u64(p, (uint64_t)len);
            APPEND_LIT(p, "\r\n");
        } else if (!(ex->flags_ & EXF_HTTP10)) {
            APPEND_LIT(p, "Transfer-Encoding: chunked\r\n");
        } else if (!(ex->flags_ & EXF_HEAD_METHOD)) {
            /* RFC 9112 6.1: no Transfer-Encoding to an HTTP/1.0 client, which cannot read chunks (a proxy would
             * pass the framing on as body bytes). A stream of unknown length is delimited by the close. */
            h->flags &= ~(uint32_t)H1F_KEEP_ALIVE;
            ex->flags_ |= EXF_RAW;
        }
        if (ex->flags_ & EXF_HEAD_METHOD)
            ex->flags_ |= EXF_NO_BODY;
    } else {
        /* 1xx, 204, 304: no content and no framing field (RFC 9110 8.6, 6.4.1), whatever the handler gave */
        ex->flags_ |= EXF_NO_BODY;
    }
    if (!(h->flags & H1F_KEEP_ALIVE)) {
        if (!(ex->flags_ & EXF_HTTP10) || (ex->flags_ & EXF_RAW))
            APPEND_LIT(p, "Connection: close\r\n");
    } else if (ex->flags_ & EXF_HTTP10) {
        APPEND_LIT(p, "Connection: keep-alive\r\n");
    }
    APPEND_LIT(p, "\r\n");
    c->out.len = (uint32_t)(p - c->out.data);
    return 0;
}

/* A whole body, copied, or (`borrow`) sent from where it is; `release(ctx)` is called in every case (once sent). */
int sw__h1_resp_body(sw_exchange_t *ex, const void *body, size_t len, bool borrow, void (*release)(void *),
                     void *ctx) {
    sw_conn_t *c = sw__h1_conn(ex);
    int r = end_head(c, ex, (int64_t)len);
    if (r == 0 && len > 0 && !(ex->flags_ & EXF_NO_BODY)) {
        /* Small bodies are copied: a memcpy of a few hundred bytes costs less than an iovec of their own, and
         * the copy keeps the segment array free. A borrowed segment also falls back to a copy when the array is
         * full (a deep pipeline of borrowed bodies), rather than failing the response. */
        r = -ENOBUFS;
        if (borrow && len > SW_BORROW_MIN) {
            sw_seg_t s = {.kind = SEG_BORROWED, .ptr = body, .len = len, .fd = -1, .release = release, .ctx = ctx};
            r = sw__out_push_seg(c, &s);
            if (r == 0)
                release = NULL; /* the segment owns it now */
        }
        if (r == -ENOBUFS || r == -ENOMEM)
            r = sw__out_append(c, body, len);
    }
    if (release != NULL)
        release(ctx);
    return r;
}

int sw__h1_resp_file(sw_exchange_t *ex, int fd, uint64_t offset, uint64_t len) {
    sw_conn_t *c = sw__h1_conn(ex);
    int r = end_head(c, ex, (int64_t)len);
    if (r == 0 && len > 0 && !(ex->flags_ & EXF_NO_BODY)) {
        sw_seg_t s = {.kind = SEG_FILE, .len = len, .off = offset, .fd = fd};
        r = sw__out_push_seg(c, &s);
        if (r == 0)
            fd = -1;
    }
    if (fd >= 0)
        close(fd);
    return r;
}

/* Bytes of the write buffer not sent yet (a stream queues nothing else). */
static inline uint32_t queued(const sw_conn_t *c) {
    return c->out.len - c->wbuf_mark;
}

int sw__h1_resp_chunk(sw_exchange_t *ex, const void *data, size_t len) {
    sw_conn_t *c = sw__h1_conn(ex);
    if (queued(c) > 0 && (uint64_t)queued(c) + len > SW_STREAM_OUT_MAX)
        return -EAGAIN; /* back-pressure: the client reads slower than the handler writes */
    if (ex->phase == SW_PHASE_HEAD) {
        int r = end_head(c, ex, -1);
        if (r != 0)
            return r;
    }
    if (len == 0 || (ex->flags_ & EXF_NO_BODY))
        return 0; /* a zero-length chunk would end the body; a response without content takes no bytes */
    if (!sw__out_reserve(c, len + 20))
        return -ENOMEM;
    char *p = c->out.data + c->out.len;
    if (SW_UNLIKELY(ex->flags_ & EXF_RAW)) {
        memcpy(p, data, len); /* HTTP/1.0: the bytes as they are, the close ends them */
        p += len;
    } else {
        p = put_hex(p, len);
        APPEND_LIT(p, "\r\n");
        memcpy(p, data, len);
        p += len;
        APPEND_LIT(p, "\r\n");
    }
    c->out.len = (uint32_t)(p - c->out.data);
    /* Stream: send what we have now, also from a handler that is still running. */
    if (c->out.len >= 16384)
        sw__conn_flush(c);
    return 0;
}

int sw__h1_resp_chunk_end(sw_exchange_t *ex) {
    sw_conn_t *c = sw__h1_conn(ex);
    if (ex->phase == SW_PHASE_HEAD) {
        int r = end_head(c, ex, -1);
        if (r != 0)
            return r;
    }
    if (!(ex->flags_ & (EXF_NO_BODY | EXF_RAW)))
        return sw__out_append(c, "0\r\n\r\n", 5);
    return 0;
}

/* An error response from the server itself. A head the handler began and did not end is taken back when none
 * of it is sent or covered by a segment (a truncated head would leave the client hanging); a response that has
 * gone further cannot be taken back in order with earlier pipelined responses: the connection closes after
 * what is queued (the phase says ABORTED). Either way the connection closes after this response. */
void sw__h1_answer_error(sw_conn_t *c, int status, const char *msg) {
    sw_h1_t *h = &c->h1;
    sw_exchange_t *ex = &h->ex;
    h->flags &= ~(uint32_t)H1F_KEEP_ALIVE;
    if (ex->phase == SW_PHASE_HEAD && !(c->flags & CF_SENDING) && c->wbuf_mark <= h->resp_mark &&
        h->resp_mark <= c->out.len) {
        c->out.len = h->resp_mark;
        ex->phase = SW_PHASE_IDLE;
    }
    if (ex->phase != SW_PHASE_IDLE) {
        if (ex->phase < SW_PHASE_COMPLETE)
            ex->phase = SW_PHASE_ABORTED;
        return;
    }
    ex->status = (uint16_t)status;
    if (sw__h1_resp_start(ex, status) == 0) {
        sw__h1_resp_content_type(ex, SW_CT_TEXT_PLAIN);
        size_t n = strlen(msg);
        char body[256];
        if (n > sizeof body - 1)
            n = sizeof body - 1;
        memcpy(body, msg, n);
        body[n++] = '\n';
        if (sw__h1_resp_body(ex, body, n, false, NULL, NULL) == 0) {
            ex->phase = SW_PHASE_COMPLETE;
            return;
        }
    }
    ex->phase = SW_PHASE_ABORTED; /* out of memory: close */
}
