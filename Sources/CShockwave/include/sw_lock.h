/* A small mutex for the Swift layers' shared state (server state, loop executors, Bolt's app and log buffers).
 *
 * Why not Synchronization.Mutex: on Linux its contended path is a priority-inheritance futex that the kernel
 * hands from one thread to the next inside the uninstrumented standard library, so ThreadSanitizer sees two
 * threads touch the guarded value with nothing ordering them and reports a race that is not one. Here every
 * acquire and release is an atomic operation in this (instrumented) file. Why not a pthread mutex: it costs
 * ~20 ns more per lock and unlock, which shows on the path of a request that logs.
 *
 * Uncontended: one compare-exchange to lock, one exchange to unlock. Contended: a futex wait (no spinning).
 * Not recursive. Zero-initialized is unlocked. */
#ifndef SW_LOCK_H
#define SW_LOCK_H

#include <stdint.h>

typedef struct sw_lock {
    uint32_t state; /* 0 unlocked, 1 locked, 2 locked with waiters; only through the functions below */
} sw_lock_t;

void sw_lock_acquire(sw_lock_t *l);
void sw_lock_release(sw_lock_t *l);

#endif
