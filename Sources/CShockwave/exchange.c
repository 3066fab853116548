/* The exchange: one request and its response, whatever protocol carries it. The public response and body calls
 * land here; the phase of the response is kept here once (sw_exchange_t.phase, read by Shockwave's Swift layer),
 * each call is checked against it, and what the handler asked for is passed down to the protocol through the
 * exchange's ops. Completing a response only records it: the protocol acts on it when control returns to it —
 * after the request callback (it looks at the phase), or at the last unpin — never inside a handler's call. */
#include <errno.h>
#include <unistd.h>

#include "server_internal.h"

/* The response is whole (or aborted). Inside the callback the protocol sees it when the callback returns; a
 * pinned exchange's bytes go out now and the protocol goes on at the last unpin; otherwise it goes on now. */
static void completed(sw_exchange_t *ex, uint8_t phase) {
    ex->phase = phase;
    if (ex->flags_ & EXF_IN_CALLBACK)
        return;
    if (ex->pins_ > 0)
        ex->ops_->flush(ex);
    else
        ex->ops_->done(ex);
}

int sw_resp_start(sw_exchange_t *ex, int status) {
    if (ex->phase != SW_PHASE_IDLE || status < 100 || status > 999)
        return -1;
    int r = ex->ops_->start(ex, status);
    if (r != 0)
        return r;
    ex->phase = SW_PHASE_HEAD;
    ex->status = (uint16_t)status;
    return 0;
}

int sw_resp_header(sw_exchange_t *ex, const char *name, size_t name_len, const char *value, size_t value_len) {
    if (ex->phase != SW_PHASE_HEAD)
        return -1;
    return ex->ops_->header(ex, name, name_len, value, value_len);
}

int sw_resp_content_type(sw_exchange_t *ex, sw_content_type_t ct) {
    if (ex->phase != SW_PHASE_HEAD || (unsigned)ct >= SW_CT_COUNT_)
        return -1;
    return ex->ops_->content_type(ex, ct);
}

int sw_resp_body(sw_exchange_t *ex, const void *body, size_t len) {
    if (ex->phase != SW_PHASE_HEAD)
        return -1;
    int r = ex->ops_->body(ex, body, len, false, NULL, NULL);
    if (r != 0)
        return r;
    completed(ex, SW_PHASE_COMPLETE);
    return 0;
}

int sw_resp_body_borrowed(sw_exchange_t *ex, const void *body, size_t len, void (*release)(void *), void *ctx) {
    if (ex->phase != SW_PHASE_HEAD) {
        if (release != NULL)
            release(ctx);
        return -1;
    }
    int r = ex->ops_->body(ex, body, len, true, release, ctx); /* calls release itself, whatever happens */
    if (r != 0)
        return r;
    completed(ex, SW_PHASE_COMPLETE);
    return 0;
}

int sw_resp_file(sw_exchange_t *ex, int fd, uint64_t offset, uint64_t len) {
    if (ex->phase != SW_PHASE_HEAD) {
        close(fd);
        return -1;
    }
    int r = ex->ops_->file(ex, fd, offset, len); /* closes fd itself, whatever happens */
    if (r != 0)
        return r;
    completed(ex, SW_PHASE_COMPLETE);
    return 0;
}

int sw_resp_chunk(sw_exchange_t *ex, const void *data, size_t len) {
    if (ex->phase != SW_PHASE_HEAD && ex->phase != SW_PHASE_STREAMING)
        return -1;
    int r = ex->ops_->chunk(ex, data, len);
    if (r != 0)
        return r;
    ex->phase = SW_PHASE_STREAMING;
    return 0;
}

int sw_resp_chunk_end(sw_exchange_t *ex) {
    if (ex->phase != SW_PHASE_HEAD && ex->phase != SW_PHASE_STREAMING)
        return -1;
    int r = ex->ops_->chunk_end(ex);
    if (r != 0)
        return r;
    completed(ex, SW_PHASE_COMPLETE);
    return 0;
}

void sw_resp_abort(sw_exchange_t *ex) {
    if (ex->phase >= SW_PHASE_COMPLETE)
        return;
    if (!ex->ops_->is_open(ex)) {
        ex->phase = SW_PHASE_ABORTED; /* later writes do nothing; nothing to send */
        return;
    }
    ex->ops_->abort(ex); /* a 500 if nothing was written, else close after what was */
    completed(ex, SW_PHASE_ABORTED);
}

void sw_exchange_pin(sw_exchange_t *ex) {
    ex->pins_++;
    ex->ops_->hold(ex);
}

void sw_exchange_unpin(sw_exchange_t *ex) {
    if (--ex->pins_ == 0 && ex->phase >= SW_PHASE_COMPLETE && !(ex->flags_ & EXF_IN_CALLBACK))
        ex->ops_->done(ex); /* the deferred end of the request: the protocol goes on */
    ex->ops_->release(ex);  /* may free a connection that closed meanwhile: last */
}

int sw_exchange_keep_request(sw_exchange_t *ex) {
    return ex->ops_->keep_request(ex);
}

int sw_exchange_is_open(const sw_exchange_t *ex) {
    return ex->ops_->is_open(ex) ? 1 : 0;
}

void sw_exchange_on_close(sw_exchange_t *ex, void (*fn)(void *ctx), void *ctx) {
    ex->on_close_ = fn;
    ex->on_close_ctx_ = ctx;
}

long sw_exchange_body_read(sw_exchange_t *ex, uint64_t id, const uint8_t **data) {
    *data = NULL;
    if (id != ex->id)
        return SW_BODY_FINISHED; /* a reader of an earlier request: it is long over */
    return ex->ops_->body_read(ex, data);
}

int sw_exchange_body_wait(sw_exchange_t *ex, uint64_t id, void (*wake)(void *ctx), void *ctx) {
    if (wake == NULL || id != ex->id)
        return 1; /* a read has something to say now (SW_BODY_FINISHED) */
    return ex->ops_->body_wait(ex, wake, ctx);
}

int sw_exchange_write_wait(sw_exchange_t *ex, void (*wake)(void *ctx), void *ctx) {
    if (wake == NULL || ex->phase != SW_PHASE_STREAMING)
        return 1;
    return ex->ops_->write_wait(ex, wake, ctx);
}

sw_loop_t *sw_exchange_loop(const sw_exchange_t *ex) {
    return ex->ops_->loop(ex);
}
