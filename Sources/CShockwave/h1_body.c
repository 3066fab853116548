/* HTTP/1.1 request bodies: Content-Length and chunked, buffered whole before dispatch or streamed to a handler
 * that reads as it goes (sw_exchange_body_read / _wait), 100-continue, and draining what a handler left unread so
 * the connection can serve its next request. Chunked bytes are decoded in place, in the input buffer, by one
 * function (decode_in_place) for both the buffered and the streamed body. */
#include <errno.h>
#include <string.h>

#include "server_internal.h"

static void count_error(sw_conn_t *c, int code) {
    uint32_t i = (uint32_t)-code;
    if (i < sizeof c->loop->m.parse_errors / sizeof c->loop->m.parse_errors[0])
        c->loop->m.parse_errors[i]++;
}

/* Decodes the chunked bytes from chunk_off to the end of the input in place: the decoded bytes go to `dst`
 * (at or before chunk_off) and *out says how many. Returns the decoder's result: an error (< SW_INCOMPLETE),
 * SW_INCOMPLETE (chunk_off is then the end of the decoded bytes, where the next bytes arrive), or the count of
 * bytes after the body's end, which then follow the decoded bytes (the next request's). */
static ptrdiff_t decode_in_place(sw_conn_t *c, uint32_t dst, size_t *out) {
    sw_h1_t *h = &c->h1;
    size_t n = c->in.len - h->chunk_off;
    char *src = c->in.data + h->chunk_off;
    size_t o = n;
    ptrdiff_t rc = sw_chunked_decode(&h->dec, src, &o);
    *out = 0;
    if (rc < SW_INCOMPLETE)
        return rc;
    memmove(c->in.data + dst, src, o);
    uint32_t end = dst + (uint32_t)o;
    if (rc >= 0) {
        memmove(c->in.data + end, src + n - (size_t)rc, (size_t)rc);
        c->in.len = end + (uint32_t)rc;
    } else {
        c->in.len = end;
    }
    h->chunk_off = end;
    *out = o;
    return rc;
}

static void send_continue(sw_conn_t *c) {
    /* Expect: 100-continue, and the body has not started: invite it (RFC 9110 10.1.1) */
    sw_h1_t *h = &c->h1;
    if ((h->req.flags & SW_F_EXPECT_CONTINUE) && !(h->flags & H1F_CONTINUE_SENT) && c->in.len == h->body_off) {
        static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
        sw__out_append(c, cont, sizeof cont - 1);
        h->flags |= H1F_CONTINUE_SENT;
    }
}

/* ---- buffered bodies ------------------------------------------------------------------------------------------ */

/* Dispatches a request whose handler reads its body as it comes (sw_on_head_fn chose SW_BODY_STREAM). */
static bool begin_stream(sw_conn_t *c, uint32_t head_len, uint64_t limit) {
    sw_h1_t *h = &c->h1;
    sw_request_t *r = &h->req;
    if ((r->flags & SW_F_CONTENT_LENGTH) && r->content_length > limit) {
        sw__h1_reject(c, SW_E_BODY_TOO_LARGE); /* before reading a byte of it */
        return false;
    }
    /* The head stays where it is (the handler's views point into it) and the body comes in behind it, into a
     * window reused for every piece: at least SW_STREAM_BUF in all and SW_STREAM_ROOM free, grown now, before the
     * handler holds any pointer, and never again while it runs. */
    uint64_t want = (uint64_t)(c->in.len - c->in_start) + SW_STREAM_ROOM;
    if (want < SW_STREAM_BUF)
        want = SW_STREAM_BUF;
    if (c->in.cap - c->in_start < want && sw__in_grow(c, want) < 0) {
        sw__conn_close(c);
        return false;
    }
    h->sb_base = c->in_start + head_len;
    h->body_off = h->chunk_off = h->sb_base;
    h->sb_avail = h->sb_give = 0;
    h->sb_limit = limit;
    h->sb_raw = c->in.len - h->sb_base; /* bytes that came with the head */
    h->sb_err = 0;
    h->sb_wake = NULL;
    if (r->flags & SW_F_CHUNKED) {
        /* the decoder checks the limit at each chunk size, before the chunk's data (0 there means none) */
        sw_chunked_init(&h->dec, limit == UINT64_MAX ? 0 : limit == 0 ? 1 : limit);
        h->body_need = 0;
    } else {
        h->body_need = r->content_length;
    }
    h->stream = SB_ACTIVE;
    sw__h1_dispatch(c, NULL, 0, c->in_start);
    return true;
}

bool sw__h1_begin_body(sw_conn_t *c, uint32_t head_len) {
    sw_h1_t *h = &c->h1;
    const sw_server_config_t *k = sw__cfg(c);
    sw_request_t *r = &h->req;
    uint32_t body_start = c->in_start + head_len;
    h->head_len = head_len;
    h->body_off = body_start;
    sw__h1_body_clock_reset(c);
    if (k->on_head != NULL &&
        ((r->flags & SW_F_CHUNKED) || ((r->flags & SW_F_CONTENT_LENGTH) && r->content_length > 0))) {
        /* the exchange is not begun yet: the callback may look at the head and nothing else */
        sw_http_request_t view = {.buf = c->in.data + c->in_start, .head = r};
        uint64_t limit = k->max_stream_body;
        if (k->on_head(k->user, &h->ex, &view, &limit) == SW_BODY_STREAM)
            return begin_stream(c, head_len, limit);
    }
    if (r->flags & SW_F_CHUNKED) {
        /* max_body 0 means no body at all, as for Content-Length below; the decoder's 0 means no limit, so it
         * gets 1 and the decoding loop refuses the first body byte */
        sw_chunked_init(&h->dec, k->max_body != 0 ? k->max_body : 1);
        h->chunk_off = body_start;
        h->body_need = 0;
        h->state = H1_CHUNKED;
        return true;
    }
    if ((r->flags & SW_F_CONTENT_LENGTH) && r->content_length > 0) {
        if (r->content_length > k->max_body) {
            sw__h1_reject(c, SW_E_BODY_TOO_LARGE); /* before reading a byte of it */
            return false;
        }
        h->body_need = r->content_length;
        h->state = H1_BODY;
        return true;
    }
    sw__h1_dispatch(c, NULL, 0, body_start);
    return true;
}

bool sw__h1_body_progress(sw_conn_t *c) {
    sw_h1_t *h = &c->h1;
    if (h->state == H1_BODY) {
        uint64_t have = c->in.len - h->body_off;
        if (have < h->req.content_length) {
            send_continue(c);
            return false;
        }
        sw__h1_dispatch(c, (const uint8_t *)c->in.data + h->body_off, (size_t)h->req.content_length,
                        h->body_off + (uint32_t)h->req.content_length);
        return true;
    }
    if (c->in.len == h->chunk_off) {
        send_continue(c);
        return false;
    }
    /* decoded bytes go right after the body decoded so far */
    size_t out;
    ptrdiff_t rc = decode_in_place(c, h->body_off + (uint32_t)h->body_need, &out);
    if (SW_UNLIKELY(rc < SW_INCOMPLETE || h->dec.body_len > sw__cfg(c)->max_body)) {
        /* the second test only fires for max_body 0, which the decoder cannot express (begin_body) */
        sw__h1_reject(c, rc < SW_INCOMPLETE ? (int)rc : SW_E_BODY_TOO_LARGE);
        return false;
    }
    h->body_need += out;
    if (rc == SW_INCOMPLETE)
        return false;
    uint32_t body_end = h->body_off + (uint32_t)h->body_need;
    sw__h1_dispatch(c, (const uint8_t *)c->in.data + h->body_off, (size_t)h->body_need, body_end);
    return true;
}

/* H1_DRAIN: discards what is left of a streamed body the handler did not read, so the next request parses where
 * it starts. Returns true when the body ended (the connection reads heads again). */
bool sw__h1_drain(sw_conn_t *c) {
    sw_h1_t *h = &c->h1;
    uint32_t n = c->in.len - c->in_start;
    if (h->req.flags & SW_F_CHUNKED) {
        if (n == 0)
            return false;
        size_t out = n;
        ptrdiff_t rc = sw_chunked_decode(&h->dec, c->in.data + c->in_start, &out);
        if (rc >= 0) {
            h->drained += n - (size_t)rc;
            c->in_start = c->in.len - (uint32_t)rc;
            h->state = H1_HEAD;
            return true;
        }
        h->drained += n;
        if (rc < SW_INCOMPLETE) {
            h->state = H1_CLOSING; /* bad framing: the response is out; no next request can be found */
            h->flags &= ~(uint32_t)H1F_KEEP_ALIVE;
            return false;
        }
    } else {
        uint64_t take = n < h->body_need ? n : h->body_need;
        h->body_need -= take;
        c->in_start += (uint32_t)take;
        h->drained += take;
        if (h->body_need == 0) {
            h->state = H1_HEAD;
            return true;
        }
    }
    if (!(c->flags & CF_RECVING))
        c->in.len = c->in_start = 0; /* all of it consumed */
    if (h->drained > SW_DRAIN_MAX) {
        h->state = H1_CLOSING; /* more than a connection is worth */
        h->flags &= ~(uint32_t)H1F_KEEP_ALIVE;
    }
    return false;
}

/* ---- streamed bodies ----------------------------------------------------------------------------------------- */

/* Calls the waiting reader's wake, once. */
void sw__h1_stream_wake(sw_conn_t *c) {
    sw_h1_t *h = &c->h1;
    void (*fn)(void *) = h->sb_wake;
    h->flags &= ~(uint32_t)H1F_BODY_WAIT;
    if (fn == NULL)
        return;
    void *ctx = h->sb_ctx;
    h->sb_wake = NULL;
    h->sb_ctx = NULL;
    fn(ctx);
}

/* The streamed body failed: every later read returns `err`; a waiting reader is woken. With a status, the server
 * answers for the handler (or, if its response has begun, closes after what is queued). The handler may still read
 * its request's views: the head's bytes and field table stay until the connection is freed. */
void sw__h1_stream_fail(sw_conn_t *c, int err, int status, const char *msg) {
    sw_h1_t *h = &c->h1;
    if (h->stream != SB_ACTIVE)
        return;
    h->stream = SB_FAILED;
    h->sb_err = (int8_t)err;
    h->sb_avail = h->sb_give = 0;
    sw__h1_stream_wake(c);
    if ((c->flags & CF_CLOSED) || status == 0)
        return;
    c->in_start = c->in.len = h->sb_base; /* what else arrives is discarded behind the head */
    if (h->state == H1_HANDLER)
        sw__h1_answer_error(c, status, msg); /* the exchange's phase: complete (the error) or aborted */
    h->state = H1_CLOSING;
    h->flags &= ~(uint32_t)H1F_KEEP_ALIVE;
    if (h->flags & H1F_PARSING)
        return; /* the parse loop sends and lingers on its way out */
    sw__conn_close_after_output(c);
}

/* Makes the body bytes received so far available at body_off: counts them (Content-Length) or decodes them in place
 * (chunked), right behind the bytes already available. Runs only when no recv is in flight. */
static void stream_pump(sw_conn_t *c) {
    sw_h1_t *h = &c->h1;
    uint32_t at = h->body_off + h->sb_give + h->sb_avail;
    if (!(h->req.flags & SW_F_CHUNKED)) {
        uint64_t have = c->in.len - at;
        uint64_t take = have < h->body_need ? have : h->body_need;
        h->sb_avail += (uint32_t)take;
        h->body_need -= take;
        if (h->body_need == 0)
            h->stream = SB_DONE;
        return;
    }
    if (c->in.len == h->chunk_off)
        return;
    size_t out;
    ptrdiff_t rc = decode_in_place(c, at, &out);
    if (rc < SW_INCOMPLETE || h->dec.body_len > h->sb_limit) {
        int code = rc < SW_INCOMPLETE ? (int)rc : SW_E_BODY_TOO_LARGE;
        count_error(c, code);
        sw__h1_stream_fail(c, code == SW_E_BODY_TOO_LARGE ? SW_BODY_TOO_LARGE : SW_BODY_MALFORMED,
                           sw_error_status(code), sw_error_message(code));
        return;
    }
    h->sb_avail += (uint32_t)out;
    if (rc >= 0)
        h->stream = SB_DONE; /* the end: the next request's bytes follow the body */
}

/* Bytes arrived for a pending connection: only a waiting reader of a streamed body lets it read. */
void sw__h1_stream_arrived(sw_conn_t *c, uint32_t n) {
    sw_h1_t *h = &c->h1;
    if (h->stream != SB_ACTIVE)
        return; /* not a body (cannot happen: nothing else reads): kept for after the response */
    h->sb_raw += n;
    stream_pump(c);
    if (h->stream == SB_FAILED)
        return;
    if (h->sb_avail > 0 || h->stream == SB_DONE)
        sw__h1_stream_wake(c); /* else only chunk framing came: read on */
    sw__h1_timer(c);
}

long sw__h1_body_read(sw_exchange_t *ex, const uint8_t **data) {
    sw_conn_t *c = sw__h1_conn(ex);
    sw_h1_t *h = &c->h1;
    if (h->stream == SB_FAILED)
        return h->sb_err;
    if (ex->phase >= SW_PHASE_COMPLETE)
        return SW_BODY_FINISHED; /* its response is complete */
    if (h->stream == SB_NONE) {
        /* buffered: the whole body, once */
        long n = (long)h->body_need;
        h->body_need = 0;
        if (n > 0)
            *data = (const uint8_t *)c->in.data + h->body_off;
        return n;
    }
    if ((c->flags & CF_CLOSED) && h->stream == SB_ACTIVE) {
        h->stream = SB_FAILED;
        h->sb_err = SW_BODY_CLOSED;
        return SW_BODY_CLOSED;
    }
    /* the last piece is consumed: its bytes may be reused */
    h->body_off += h->sb_give;
    h->sb_give = 0;
    if (h->stream == SB_ACTIVE)
        stream_pump(c);
    if (h->stream == SB_FAILED)
        return h->sb_err;
    if (h->sb_avail > 0) {
        *data = (const uint8_t *)c->in.data + h->body_off;
        h->sb_give = h->sb_avail;
        h->sb_avail = 0;
        return (long)h->sb_give;
    }
    if (h->stream == SB_DONE)
        return 0;
    if (h->body_off == c->in.len && !(c->flags & CF_RECVING))
        c->in.len = h->body_off = h->chunk_off = h->sb_base; /* all consumed: the window starts over */
    return SW_BODY_AGAIN;
}

int sw__h1_body_wait(sw_exchange_t *ex, void (*wake)(void *ctx), void *ctx) {
    sw_conn_t *c = sw__h1_conn(ex);
    sw_h1_t *h = &c->h1;
    if (ex->phase >= SW_PHASE_COMPLETE || h->stream != SB_ACTIVE || h->state != H1_HANDLER ||
        (c->flags & CF_CLOSED) || h->sb_wake != NULL || h->sb_give > 0 || h->sb_avail > 0 ||
        c->in.len != h->body_off)
        return 1; /* a read has something to say now */
    h->sb_wake = wake;
    h->sb_ctx = ctx;
    h->flags |= H1F_BODY_WAIT;
    if ((h->req.flags & SW_F_EXPECT_CONTINUE) && !(h->flags & H1F_CONTINUE_SENT) &&
        ex->phase == SW_PHASE_IDLE && h->sb_raw == 0) {
        /* The handler wants the body the client holds back: invite it now (RFC 9110 10.1.1). A handler that
         * answers without reading never causes the body to be sent. */
        static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
        if (sw__out_append(c, cont, sizeof cont - 1) == 0) {
            h->flags |= H1F_CONTINUE_SENT;
            sw__conn_flush(c);
        }
    }
    sw__h1_timer(c);
    c->loop->be->want_read(c->loop, c); /* may read (and wake) at once */
    return 0;
}

/* The response is complete: a streamed body's next request starts after it; what the handler did not read is
 * discarded (H1_DRAIN) when the connection stays. */
void sw__h1_stream_end(sw_conn_t *c, bool keep) {
    sw_h1_t *h = &c->h1;
    if (h->stream != SB_ACTIVE && h->stream != SB_DONE)
        return;
    if (h->sb_wake != NULL) {
        h->stream = SB_FAILED; /* cannot happen (the reader is the handler), but never leave a reader hanging */
        h->sb_err = SW_BODY_FINISHED;
        sw__h1_stream_wake(c);
        h->stream = SB_ACTIVE;
    }
    h->body_off += h->sb_give + h->sb_avail;
    h->sb_give = h->sb_avail = 0;
    c->in_start = h->body_off; /* the head goes with the response */
    if (h->stream == SB_ACTIVE && keep) {
        h->state = H1_DRAIN;
        h->drained = 0;
        sw__h1_body_clock_reset(c);
    }
    h->stream = SB_NONE;
}

/* Called by the serializer before it writes Connection: a streamed body left unread closes the connection when
 * discarding it is not worth it: the client may still send it after an unanswered Expect: 100-continue, or more
 * of it is announced than SW_DRAIN_MAX. */
bool sw__h1_stream_blocks_keep_alive(const sw_conn_t *c) {
    const sw_h1_t *h = &c->h1;
    if (h->stream != SB_ACTIVE)
        return false;
    if ((h->req.flags & SW_F_EXPECT_CONTINUE) && !(h->flags & H1F_CONTINUE_SENT) && h->sb_raw == 0)
        return true;
    return !(h->req.flags & SW_F_CHUNKED) && h->body_need > SW_DRAIN_MAX;
}
