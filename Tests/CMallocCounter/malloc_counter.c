/* See malloc_counter.h. glibc exports its allocator under __libc_* names, so the wrappers forward without dlsym
 * (which would itself allocate). */
#include <errno.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "malloc_counter.h"

#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || __has_feature(memory_sanitizer)
#define NO_INTERPOSE 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define NO_INTERPOSE 1
#endif

static _Atomic uint64_t allocations;

uint64_t sw_test_alloc_count(void) {
    return atomic_load_explicit(&allocations, memory_order_relaxed);
}

void sw_test_alloc_reset(void) {
    atomic_store_explicit(&allocations, 0, memory_order_relaxed);
}

#if defined(NO_INTERPOSE) || !defined(__GLIBC__)

int sw_test_alloc_supported(void) {
    return 0;
}

#else

int sw_test_alloc_supported(void) {
    return 1;
}

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void __libc_free(void *);
extern void *__libc_memalign(size_t, size_t);

int sw_current_loop_index(void); /* CShockwave: -1 off the loop threads */

static inline void note(void) {
    if (sw_current_loop_index() >= 0)
        atomic_fetch_add_explicit(&allocations, 1, memory_order_relaxed);
}

void *malloc(size_t n) {
    note();
    return __libc_malloc(n);
}

void *calloc(size_t n, size_t size) {
    note();
    return __libc_calloc(n, size);
}

void *realloc(void *p, size_t n) {
    note();
    return __libc_realloc(p, n);
}

void free(void *p) {
    __libc_free(p);
}

void *memalign(size_t alignment, size_t n) {
    note();
    return __libc_memalign(alignment, n);
}

void *aligned_alloc(size_t alignment, size_t n) {
    note();
    return __libc_memalign(alignment, n);
}

int posix_memalign(void **out, size_t alignment, size_t n) {
    if (alignment < sizeof(void *) || (alignment & (alignment - 1)) != 0)
        return EINVAL;
    note();
    void *p = __libc_memalign(alignment, n);
    if (p == NULL)
        return ENOMEM;
    *out = p;
    return 0;
}

#endif
