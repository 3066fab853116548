/* sw_lock_t: the three-state futex mutex (0 free, 1 held, 2 held and maybe waited for). */
#include <stdbool.h>
#include "sw_lock.h"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

void sw_lock_acquire(sw_lock_t *l) {
    uint32_t expected = 0;
    if (__atomic_compare_exchange_n(&l->state, &expected, 1, false, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
        return;
    /* Contended: mark it waited for, and sleep until the holder's release wakes us; the exchange that finds
     * it free takes it (still marked, so our own release wakes the next waiter, if any). */
    while (__atomic_exchange_n(&l->state, 2, __ATOMIC_ACQUIRE) != 0)
        syscall(SYS_futex, &l->state, FUTEX_WAIT_PRIVATE, 2, NULL, NULL, 0);
}

void sw_lock_release(sw_lock_t *l) {
    if (__atomic_exchange_n(&l->state, 0, __ATOMIC_RELEASE) == 2)
        syscall(SYS_futex, &l->state, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}
