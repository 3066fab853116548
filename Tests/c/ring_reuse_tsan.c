/* Four threads start and stop io_uring servers over and over, so a new ring is mapped where another thread's
 * ring was unmapped. Built with -fsanitize=thread by .ci/run: ThreadSanitizer must stay silent (it reported the
 * first reads and writes of a reused ring as races with the old owner's before loop_uring.c told it the order;
 * see ring_generation there). Exits 1 if a server cannot start, 0 otherwise; TSan's exit code flags a report. */
#include <pthread.h>
#include <stdio.h>

#include "sw_server.h"

static int on_request(void *user, sw_exchange_t *ex, const sw_http_request_t *req) {
    (void)user;
    (void)ex;
    (void)req;
    return SW_DONE;
}

static void *cycle(void *failed) {
    for (int i = 0; i < 60; i++) {
        sw_server_config_t cfg;
        sw_server_config_init(&cfg);
        cfg.host = "127.0.0.1";
        cfg.loops = 1;
        cfg.backend = SW_BACKEND_URING;
        cfg.on_request = on_request;
        sw_server_t *s;
        int r = sw_server_start(&cfg, &s);
        if (r != 0) {
            fprintf(stderr, "ring_reuse_tsan: sw_server_start: %d\n", r);
            *(int *)failed = 1;
            return NULL;
        }
        sw_server_shutdown(s, 0);
        sw_server_wait(s);
        sw_server_free(s);
    }
    return NULL;
}

int main(void) {
    pthread_t t[4];
    int failed[4] = {0};
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, cycle, &failed[i]);
    int bad = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        bad |= failed[i];
    }
    puts(bad ? "ring_reuse_tsan: a server did not start" : "ring_reuse_tsan: 240 rings started and stopped");
    return bad;
}
