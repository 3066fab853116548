/* C reference server for the peer benchmark (bench/server/run.sh): the Shockwave C core with the benchmark
 * routes answered straight from the request callback, no Swift. It stands in for `shockwave-hello` until the
 * Swift example exists, and afterwards shows what the Swift layer costs on top of the core.
 *
 *   c-hello [--port P] [--loops N] [--host ADDR] [--no-tune] [--floor]
 *
 *   GET /plaintext  -> 200 "Hello, World!"                text/plain
 *   GET /json       -> 200 {"message":"Hello, World!"}    application/json, serialized per request
 *   GET /user/:id   -> 200 "user <id>"                    text/plain, built by hand from the path
 *   POST /echo      -> 200 the request body
 *   anything else   -> 404
 *
 *   --no-tune  socket tuning off: TCP_NODELAY not set on accepted sockets (cfg.tcp_nodelay = 0)
 *   --floor    no parsing at all: every CRLF CRLF received is answered with one canned /plaintext response
 *              (cfg.floor_reply), whatever the request; the floor the kernel and the loop set
 *
 * Build (run.sh does this): every .c of Sources/CShockwave plus this file,
 *   gcc -std=c11 -D_GNU_SOURCE -O2 -ISources/CShockwave/include -ISources/CShockwave ... -lpthread
 *   (plus -DSW_HAVE_URING ... -luring once the io_uring backend is in the tree) */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shockwave.h"
#include "sw_server.h"

static const char floor_reply[] = "HTTP/1.1 200 OK\r\nContent-Length: 13\r\nContent-Type: text/plain\r\n\r\nHello, World!";

/* A JSON string literal, escaped; returns the bytes written or 0 when it does not fit. */
static size_t json_string(char *out, size_t cap, const char *s, size_t n) {
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    if (cap < 2)
        return 0;
    out[o++] = '"';
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '"' || ch == '\\') {
            if (o + 2 >= cap)
                return 0;
            out[o++] = '\\';
            out[o++] = (char)ch;
        } else if (ch < 0x20) {
            if (o + 6 >= cap)
                return 0;
            memcpy(out + o, "\\u00", 4);
            out[o + 4] = hex[ch >> 4];
            out[o + 5] = hex[ch & 15];
            o += 6;
        } else {
            if (o + 1 >= cap)
                return 0;
            out[o++] = (char)ch;
        }
    }
    out[o++] = '"';
    return o;
}

static int on_req(void *u, sw_exchange_t *c, const sw_http_request_t *r) {
    (void)u;
    const char *path = r->buf + r->head->path.off;
    size_t plen = r->head->path.len;
    if (plen == 10 && memcmp(path, "/plaintext", 10) == 0) {
        sw_resp_start(c, 200);
        sw_resp_content_type(c, SW_CT_TEXT_PLAIN);
        sw_resp_body(c, "Hello, World!", 13);
        return SW_DONE;
    }
    if (plen == 5 && memcmp(path, "/json", 5) == 0) {
        /* Serialized on each request, as the peers do (Go: json.Marshal of a struct). */
        static const char msg[] = "Hello, World!";
        char buf[128];
        size_t o = 0;
        memcpy(buf, "{\"message\":", 11);
        o = 11;
        size_t n = json_string(buf + o, sizeof buf - o - 1, msg, sizeof msg - 1);
        o += n;
        buf[o++] = '}';
        sw_resp_start(c, 200);
        sw_resp_content_type(c, SW_CT_JSON);
        sw_resp_body(c, buf, o);
        return SW_DONE;
    }
    if (plen > 6 && memcmp(path, "/user/", 6) == 0 && memchr(path + 6, '/', plen - 6) == NULL) {
        char buf[256];
        size_t idlen = plen - 6;
        if (idlen > sizeof buf - 5)
            idlen = sizeof buf - 5;
        memcpy(buf, "user ", 5);
        memcpy(buf + 5, path + 6, idlen);
        sw_resp_start(c, 200);
        sw_resp_content_type(c, SW_CT_TEXT_PLAIN);
        sw_resp_body(c, buf, 5 + idlen);
        return SW_DONE;
    }
    if (plen == 5 && memcmp(path, "/echo", 5) == 0) {
        sw_resp_start(c, 200);
        sw_resp_body(c, r->body, r->body_len);
        return SW_DONE;
    }
    sw_resp_start(c, 404);
    sw_resp_body(c, "not found", 9);
    return SW_DONE;
}

static sw_server_t *srv;
static void on_sig(int s) {
    (void)s;
    sw_server_shutdown(srv, 5000);
}

static void usage(const char *argv0) {
    fprintf(stderr, "usage: %s [--port P] [--loops N] [--host ADDR] [--no-tune] [--floor]\n", argv0);
    exit(2);
}

int main(int argc, char **argv) {
    sw_server_config_t cfg;
    sw_server_config_init(&cfg);
    cfg.port = 8080;
    cfg.loops = 1;
    cfg.host = "127.0.0.1";
    cfg.on_request = on_req;
    int floor = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--port") == 0 && i + 1 < argc)
            cfg.port = (uint16_t)atoi(argv[++i]);
        else if (strcmp(a, "--loops") == 0 && i + 1 < argc)
            cfg.loops = (uint16_t)atoi(argv[++i]);
        else if (strcmp(a, "--host") == 0 && i + 1 < argc)
            cfg.host = argv[++i];
        else if (strcmp(a, "--no-tune") == 0)
            cfg.tcp_nodelay = 0, cfg.tcp_quickack = 0;
        else if (strcmp(a, "--floor") == 0)
            floor = 1;
        else
            usage(argv[0]);
    }
    if (floor) {
        cfg.floor_reply = floor_reply;
        cfg.floor_reply_len = (uint32_t)(sizeof floor_reply - 1);
        /* Floor connections never count a request on the connection, so the head timer armed at accept is never
         * replaced and closes busy connections header_timeout_ms (10 s) after accept; wrk then counts one read
         * error per connection. Keep it out of the way of benchmark runs. */
        cfg.header_timeout_ms = 3600000;
    }
    int r = sw_server_start(&cfg, &srv);
    if (r) {
        fprintf(stderr, "start: %d (%s)\n", r, strerror(-r));
        return 1;
    }
    printf("listening on %s:%u backend %s loops %u%s%s\n", cfg.host, sw_server_port(srv),
           sw_server_backend(srv) == SW_BACKEND_URING ? "io_uring" : "epoll", sw_server_loop_count(srv),
           cfg.tcp_nodelay ? "" : " no-tune", floor ? " floor" : "");
    fflush(stdout);
    signal(SIGINT, on_sig);
    signal(SIGTERM, on_sig);
    sw_server_wait(srv);
    sw_server_free(srv);
    printf("bye\n");
    return 0;
}
