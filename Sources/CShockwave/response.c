/* The response serializer: status line from the table, the cached Date, precompiled Content-Type lines,
 * Content-Length, all appended straight into the connection's write buffer. No printf, no intermediate
 * strings. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server_internal.h"

void sw__conn_response_done(sw_conn_t *c);
bool sw__conn_stream_blocks_keep_alive(const sw_conn_t *c);

/* Borrowed bodies up to this size are copied into the write buffer instead (see sw_resp_body_borrowed). */
#define SW_BORROW_MIN 512
bool sw__conn_keep_alive(const sw_conn_t *c);

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

/* Makes room for `n` more bytes in the write buffer. */
static bool out_reserve(sw_conn_t *c, size_t n) {
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
    if (!out_reserve(c, n))
        return -ENOMEM;
    memcpy(c->out.data + c->out.len, p, n);
    c->out.len += (uint32_t)n;
    return 0;
}

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

/* Drops whatever the current response queued (used before an error response replaces it, and on free). */
void sw__resp_reset(sw_conn_t *c) {
    for (uint32_t i = c->seg_head; i < c->nsegs; i++) {
        sw_seg_t *s = &c->segs[i];
        if (s->kind == SEG_BORROWED && s->release != NULL)
            s->release(s->ctx);
        if (s->kind == SEG_FILE && s->fd >= 0)
            close(s->fd);
    }
    c->nsegs = c->seg_head = 0;
    c->seg_sent = 0;
}

int sw_resp_start(sw_conn_t *c, int status) {
    if (c->state != CS_HANDLER || (c->flags & CF_RESP_STARTED) || status < 100 || status > 999)
        return -1;
    sw_server_t *s = c->loop->server;
    if (!out_reserve(c, SW_STATUS_LINE_MAX + 8 + SW_IMF_FIXDATE_LEN + 2 + 10 + s->server_name_len + 2))
        return -ENOMEM;
    c->resp_mark = c->out.len;
    char *p = c->out.data + c->out.len;
    size_t n;
    const char *line = sw_status_line(status, &n);
    if (line != NULL) {
        memcpy(p, line, n);
        if (c->flags & CF_HTTP10)
            p[7] = '0'; /* answer an HTTP/1.0 client in its version, so it reads the framing it expects */
        p += n;
    } else {
        p += sw_write_status_line(p, status, (c->flags & CF_HTTP10) ? 0 : 1);
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
    c->flags = (c->flags & ~(uint32_t)(CF_RESP_NO_BODY | CF_RESP_RAW)) | CF_RESP_STARTED;
    c->resp_status = (uint32_t)status; /* the status, for the framing decisions in end_head */
    return 0;
}

int sw_resp_header(sw_conn_t *c, const char *name, size_t name_len, const char *value, size_t value_len) {
    if (c->state != CS_HANDLER || !(c->flags & CF_RESP_STARTED) || (c->flags & CF_RESP_CHUNKED))
        return -1;
    if (!out_reserve(c, name_len + value_len + 4))
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

int sw_resp_content_type(sw_conn_t *c, sw_content_type_t ct) {
    if ((unsigned)ct >= SW_CT_COUNT_)
        return -1;
    if (c->state != CS_HANDLER || !(c->flags & CF_RESP_STARTED) || (c->flags & CF_RESP_CHUNKED))
        return -1;
    return sw__out_append(c, content_types[ct].line, content_types[ct].len);
}

/* Whether a status carries content at all (RFC 9110 15.2, 15.3.5, 15.4.5). */
static bool status_has_body(int status) {
    return status >= 200 && status != 204 && status != 304;
}

/* Ends the header section: framing fields and the blank line. `len` < 0 means chunked. Decides, once for every
 * body path (bytes, borrowed, file, chunks), whether body bytes may follow: CF_RESP_NO_BODY when the status has
 * no content or the request was HEAD, so no path can put bytes on the wire that a client or proxy would read as
 * the next response (response splitting). */
static int end_head(sw_conn_t *c, int64_t len) {
    int status = (int)c->resp_status;
    if (!out_reserve(c, 64))
        return -ENOMEM;
    if (c->loop->listener_closed)
        c->flags &= ~(uint32_t)CF_KEEP_ALIVE; /* a shutdown began after dispatch (pending handler): last response */
    if (c->stream == SB_ACTIVE && sw__conn_stream_blocks_keep_alive(c))
        c->flags &= ~(uint32_t)CF_KEEP_ALIVE; /* a streamed body left unread that is not worth discarding */
    char *p = c->out.data + c->out.len;
    if (SW_LIKELY(status_has_body(status))) {
        if (len >= 0) {
            /* also for HEAD: the length a GET would get (RFC 9110 9.3.2) */
            APPEND_LIT(p, "Content-Length: ");
            p = put_u64(p, (uint64_t)len);
            APPEND_LIT(p, "\r\n");
        } else if (!(c->flags & CF_HTTP10)) {
            APPEND_LIT(p, "Transfer-Encoding: chunked\r\n");
        } else if (!(c->flags & CF_HEAD_METHOD)) {
            /* RFC 9112 6.1: no Transfer-Encoding to an HTTP/1.0 client, which cannot read chunks (a proxy would
             * pass the framing on as body bytes). A stream of unknown length is delimited by the close. */
            c->flags = (c->flags & ~(uint32_t)CF_KEEP_ALIVE) | CF_RESP_RAW;
        }
        if (c->flags & CF_HEAD_METHOD)
            c->flags |= CF_RESP_NO_BODY;
    } else {
        /* 1xx, 204, 304: no content and no framing field (RFC 9110 8.6, 6.4.1), whatever the handler gave */
        c->flags |= CF_RESP_NO_BODY;
    }
    if (!sw__conn_keep_alive(c)) {
        if (!(c->flags & CF_HTTP10) || (c->flags & CF_RESP_RAW))
            APPEND_LIT(p, "Connection: close\r\n");
    } else if (c->flags & CF_HTTP10) {
        APPEND_LIT(p, "Connection: keep-alive\r\n");
    }
    APPEND_LIT(p, "\r\n");
    c->out.len = (uint32_t)(p - c->out.data);
    return 0;
}

static void complete(sw_conn_t *c) {
    sw__conn_response_done(c);
}

int sw_resp_body(sw_conn_t *c, const void *body, size_t len) {
    if (c->state != CS_HANDLER || !(c->flags & CF_RESP_STARTED) || (c->flags & CF_RESP_CHUNKED))
        return -1;
    int r = end_head(c, (int64_t)len);
    if (r != 0)
        return r;
    if (len > 0 && !(c->flags & CF_RESP_NO_BODY)) {
        r = sw__out_append(c, body, len);
        if (r != 0)
            return r;
    }
    complete(c);
    return 0;
}

/* Seals the write buffer's uncovered tail into a segment so a borrowed or file segment can follow it. */
static int push_seg(sw_conn_t *c, const sw_seg_t *seg) {
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

int sw_resp_body_borrowed(sw_conn_t *c, const void *body, size_t len, void (*release)(void *), void *ctx) {
    if (c->state != CS_HANDLER || !(c->flags & CF_RESP_STARTED) || (c->flags & CF_RESP_CHUNKED)) {
        if (release != NULL)
            release(ctx);
        return -1;
    }
    int r = end_head(c, (int64_t)len);
    if (r == 0 && len > 0 && !(c->flags & CF_RESP_NO_BODY)) {
        /* Small bodies are copied: a memcpy of a few hundred bytes costs less than an iovec of their own, and
         * the copy keeps the segment array free. A borrowed segment also falls back to a copy when the array is
         * full (a deep pipeline of borrowed bodies), rather than failing the response. */
        if (len > SW_BORROW_MIN) {
            sw_seg_t s = {.kind = SEG_BORROWED, .ptr = body, .len = len, .fd = -1, .release = release, .ctx = ctx};
            r = push_seg(c, &s);
            if (r == 0)
                release = NULL; /* the segment owns it now */
        } else {
            r = -ENOBUFS;
        }
        if (r == -ENOBUFS || r == -ENOMEM)
            r = sw__out_append(c, body, len);
    }
    if (release != NULL)
        release(ctx);
    if (r != 0)
        return r;
    complete(c);
    return 0;
}

int sw_resp_file(sw_conn_t *c, int fd, uint64_t offset, uint64_t len) {
    if (c->state != CS_HANDLER || !(c->flags & CF_RESP_STARTED) || (c->flags & CF_RESP_CHUNKED)) {
        close(fd);
        return -1;
    }
    int r = end_head(c, (int64_t)len);
    if (r == 0 && len > 0 && !(c->flags & CF_RESP_NO_BODY)) {
        sw_seg_t s = {.kind = SEG_FILE, .len = len, .off = offset, .fd = fd};
        r = push_seg(c, &s);
        if (r == 0)
            fd = -1;
    }
    if (fd >= 0)
        close(fd);
    if (r != 0)
        return r;
    complete(c);
    return 0;
}

int sw_resp_chunk(sw_conn_t *c, const void *data, size_t len) {
    if (c->state != CS_HANDLER || !(c->flags & CF_RESP_STARTED))
        return -1;
    if (!(c->flags & CF_RESP_CHUNKED)) {
        int r = end_head(c, -1);
        if (r != 0)
            return r;
        c->flags |= CF_RESP_CHUNKED;
    }
    if (len == 0 || (c->flags & CF_RESP_NO_BODY))
        return 0; /* a zero-length chunk would end the body; a response without content takes no bytes */
    if (!out_reserve(c, len + 20))
        return -ENOMEM;
    char *p = c->out.data + c->out.len;
    if (SW_UNLIKELY(c->flags & CF_RESP_RAW)) {
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
        c->loop->be->want_write(c->loop, c);
    return 0;
}

int sw_resp_chunk_end(sw_conn_t *c) {
    if (c->state != CS_HANDLER || !(c->flags & CF_RESP_STARTED))
        return -1;
    if (!(c->flags & CF_RESP_CHUNKED)) {
        int r = end_head(c, -1);
        if (r != 0)
            return r;
    }
    if (!(c->flags & (CF_RESP_NO_BODY | CF_RESP_RAW))) {
        int r = sw__out_append(c, "0\r\n\r\n", 5);
        if (r != 0)
            return r;
    }
    complete(c);
    return 0;
}

/* An error response from the server itself, replacing anything the current response had queued. */
void sw__resp_error(sw_conn_t *c, int status, const char *msg) {
    if ((c->flags & CF_RESP_STARTED) && !(c->flags & CF_RESP_CHUNKED) && !(c->flags & CF_SENDING) &&
        c->wbuf_mark <= c->resp_mark && c->resp_mark <= c->out.len) {
        /* The handler began a head and gave up before ending it: no byte of it is sent or covered by a segment,
         * so take it back and answer with the error instead (a truncated head would leave the client hanging). */
        c->out.len = c->resp_mark;
        c->flags &= ~(uint32_t)CF_RESP_STARTED;
    }
    if (c->flags & CF_RESP_STARTED) {
        /* The handler began a response; what it queued for this request cannot be taken back in order with
         * earlier pipelined responses, so close after what is queued. */
        c->flags &= ~(uint32_t)CF_KEEP_ALIVE;
        c->state = CS_CLOSING;
        return;
    }
    c->flags &= ~(uint32_t)CF_KEEP_ALIVE;
    c->state = CS_HANDLER;
    if (sw_resp_start(c, status) == 0) {
        sw_resp_content_type(c, SW_CT_TEXT_PLAIN);
        size_t n = strlen(msg);
        char body[256];
        if (n > sizeof body - 1)
            n = sizeof body - 1;
        memcpy(body, msg, n);
        body[n++] = '\n';
        sw_resp_body(c, body, n);
    }
    c->state = CS_CLOSING;
}

void sw_resp_abort(sw_conn_t *c) {
    if ((c->flags & CF_CLOSED) || c->state != CS_HANDLER)
        return;
    sw__resp_error(c, 500, "the handler failed");
    if (c->flags & CF_RESP_STARTED) {
        /* Part of the response was queued or sent: sw__resp_error marked the connection closing; nothing else
         * runs for a pending connection, so send what is queued (then close) or close now. */
        if (sw__conn_has_output(c))
            c->loop->be->want_write(c->loop, c);
        else
            c->loop->be->close(c->loop, c);
    }
}
