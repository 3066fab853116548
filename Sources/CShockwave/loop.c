/* What every loop does whatever its backend: the buffer pool, the timer wheel, the Date cache, posted work,
 * and the shutdown sequence. */
#include <errno.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "server_internal.h"

uint64_t sw__now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts); /* a few ms of slack is fine for timeouts; no syscall */
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ---- buffer pool ------------------------------------------------------------------------------------------ */

static int size_class(uint32_t cap) {
    for (int i = 0; i < SW_POOL_CLASSES; i++)
        if (cap <= (1u << (SW_POOL_MIN_SHIFT + i)))
            return i;
    return -1;
}

void *sw__pool_get(sw_loop_t *l, uint32_t *cap) {
    int k = size_class(*cap);
    if (k < 0) {
        l->m.pool_misses++;
        return malloc(*cap);
    }
    *cap = 1u << (SW_POOL_MIN_SHIFT + k);
    sw_pool_t *p = &l->pool;
    if (p->count[k] > 0) {
        l->m.pool_hits++;
        return p->free[k][--p->count[k]];
    }
    l->m.pool_misses++;
    return malloc(*cap);
}

void sw__pool_put(sw_loop_t *l, void *ptr, uint32_t cap) {
    if (ptr == NULL)
        return;
    int k = size_class(cap);
    sw_pool_t *p = &l->pool;
    if (k < 0 || (1u << (SW_POOL_MIN_SHIFT + k)) != cap || p->count[k] == SW_POOL_KEEP) {
        free(ptr);
        return;
    }
    p->free[k][p->count[k]++] = ptr;
}

int sw__pool_init(sw_loop_t *l, uint32_t warm) {
    for (int k = 0; k < SW_POOL_CLASSES; k++) {
        l->pool.free[k] = calloc(SW_POOL_KEEP, sizeof(void *));
        if (l->pool.free[k] == NULL)
            return -ENOMEM;
    }
    /* Warm-up: the first connections find buffers ready (in and out of the smallest class). */
    for (uint32_t i = 0; i < warm && i < SW_POOL_KEEP; i++) {
        void *b = malloc(1u << SW_POOL_MIN_SHIFT);
        if (b == NULL)
            return -ENOMEM;
        l->pool.free[0][l->pool.count[0]++] = b;
    }
    return 0;
}

void sw__pool_destroy(sw_loop_t *l) {
    for (int k = 0; k < SW_POOL_CLASSES; k++) {
        for (uint32_t i = 0; i < l->pool.count[k]; i++)
            free(l->pool.free[k][i]);
        free(l->pool.free[k]);
        l->pool.free[k] = NULL;
        l->pool.count[k] = 0;
    }
}

/* ---- timer wheel -------------------------------------------------------------------------------------------
 * One deadline per connection (header, body, idle or write), in a hashed wheel of SW_WHEEL_SLOTS slots of
 * SW_TICK_MS each: insert and remove are O(1); a deadline further than one turn away stays in its slot and is
 * skipped until its turn comes. */

void sw__timer_clear(sw_loop_t *l, sw_conn_t *c) {
    if (c->timer_kind == TK_NONE)
        return;
    if (c->tprev != NULL)
        c->tprev->tnext = c->tnext;
    else
        l->wheel[c->tslot] = c->tnext;
    if (c->tnext != NULL)
        c->tnext->tprev = c->tprev;
    c->tnext = c->tprev = NULL;
    c->timer_kind = TK_NONE;
}

void sw__timer_set(sw_loop_t *l, sw_conn_t *c, int kind, uint32_t ms) {
    sw__timer_clear(l, c);
    if (ms == 0)
        return;
    c->deadline_ms = l->now_ms + ms;
    uint64_t tick = (c->deadline_ms + SW_TICK_MS - 1) / SW_TICK_MS;
    if (tick <= l->wheel_now_tick)
        tick = l->wheel_now_tick + 1;
    c->tslot = (uint32_t)(tick % SW_WHEEL_SLOTS);
    c->timer_kind = (uint8_t)kind;
    c->tprev = NULL;
    c->tnext = l->wheel[c->tslot];
    if (c->tnext != NULL)
        c->tnext->tprev = c;
    l->wheel[c->tslot] = c;
}

static void run_timers(sw_loop_t *l) {
    uint64_t target = l->now_ms / SW_TICK_MS;
    /* After a long stall, one pass over the wheel covers every slot. */
    if (target - l->wheel_now_tick > SW_WHEEL_SLOTS)
        l->wheel_now_tick = target - SW_WHEEL_SLOTS;
    while (l->wheel_now_tick < target) {
        l->wheel_now_tick++;
        uint32_t slot = (uint32_t)(l->wheel_now_tick % SW_WHEEL_SLOTS);
        sw_conn_t *c = l->wheel[slot];
        while (c != NULL) {
            sw_conn_t *next = c->tnext;
            if (c->deadline_ms <= l->now_ms) {
                int kind = c->timer_kind;
                sw__timer_clear(l, c);
                if (sw__conn_timeout(c, kind)) /* may free c; `next` was read before */
                    l->m.timeouts++;
            }
            c = next;
        }
    }
}

int sw__loop_next_timeout_ms(sw_loop_t *l) {
    if (atomic_load_explicit(&l->posts, memory_order_relaxed) != NULL)
        return 0;
    return SW_TICK_MS;
}

/* ---- Date cache ---------------------------------------------------------------------------------------------- */

static void refresh_date(sw_loop_t *l) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME_COARSE, &ts);
    if (ts.tv_sec != l->date_sec) {
        l->date_sec = ts.tv_sec;
        sw_format_imf_fixdate(ts.tv_sec, l->date);
    }
}

/* ---- posted work ------------------------------------------------------------------------------------------------ */

int sw_loop_post(sw_loop_t *l, void (*fn)(void *), void *ctx) {
    sw_post_t *p = malloc(sizeof *p);
    if (p == NULL)
        return -ENOMEM;
    p->fn = fn;
    p->ctx = ctx;
    sw_post_t *head = atomic_load_explicit(&l->posts, memory_order_relaxed);
    do {
        p->next = head;
    } while (!atomic_compare_exchange_weak_explicit(&l->posts, &head, p, memory_order_release, memory_order_relaxed));
    if (head == NULL)
        l->be->wake(l); /* the first post since the loop last looked wakes it */
    return 0;
}

static void run_posts(sw_loop_t *l) {
    sw_post_t *p = atomic_exchange_explicit(&l->posts, NULL, memory_order_acquire);
    if (p == NULL)
        return;
    /* The stack came newest first; reverse it so posts run in the order they were made. */
    sw_post_t *fifo = NULL;
    while (p != NULL) {
        sw_post_t *next = p->next;
        p->next = fifo;
        fifo = p;
        p = next;
    }
    while (fifo != NULL) {
        sw_post_t *next = fifo->next;
        fifo->fn(fifo->ctx);
        free(fifo);
        fifo = next;
    }
}

/* ---- the loop's periodic work -------------------------------------------------------------------------------------- */

void sw__loop_begin_stop(sw_loop_t *l) {
    if (l->listener_closed)
        return;
    l->listener_closed = true;
    l->be->stop_accepting(l);
    for (uint32_t i = 0; i < l->conns_cap; i++) {
        sw_conn_t *c = l->conns[i];
        if (c != NULL && !(c->flags & CF_CLOSED))
            sw__conn_shutdown_idle(c);
    }
}

void sw__loop_tick(sw_loop_t *l) {
    l->now_ms = sw__now_ms();
    refresh_date(l);
    run_posts(l);
    if (atomic_load_explicit(&l->stopping, memory_order_acquire)) {
        sw__loop_begin_stop(l);
        if (l->now_ms >= l->stop_deadline_ms) {
            for (uint32_t i = 0; i < l->conns_cap; i++) {
                sw_conn_t *c = l->conns[i];
                if (c != NULL && !(c->flags & CF_CLOSED))
                    l->be->close(l, c);
            }
        }
    }
    if (l->now_ms / SW_TICK_MS != l->wheel_now_tick)
        run_timers(l);
}

bool sw__loop_done(sw_loop_t *l) {
    return l->listener_closed && l->conns_open == 0 && atomic_load_explicit(&l->posts, memory_order_acquire) == NULL;
}

uint32_t sw_loop_index(const sw_loop_t *l) {
    return l->index;
}
