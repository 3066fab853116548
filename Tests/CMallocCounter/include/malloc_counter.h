/* Counts heap allocations made on Shockwave's loop threads, for the zero-allocation tests.
 * Linking this target interposes malloc, calloc, realloc, posix_memalign, aligned_alloc and memalign for the whole
 * process (forwarding to glibc); under AddressSanitizer or ThreadSanitizer it interposes nothing, since those
 * runtimes own the allocator, and sw_test_alloc_supported() says so. */
#ifndef MALLOC_COUNTER_H
#define MALLOC_COUNTER_H

#include <stdint.h>

/* 1 when allocations are being counted in this build, else 0. */
int sw_test_alloc_supported(void);
/* Allocations on loop threads since the last reset. */
uint64_t sw_test_alloc_count(void);
void sw_test_alloc_reset(void);

#endif
