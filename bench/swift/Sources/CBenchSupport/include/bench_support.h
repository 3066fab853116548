#include <stdint.h>

/* Heap allocations made by any thread since the process started (malloc, calloc, realloc, memalign,
 * aligned_alloc, posix_memalign). Linking this target interposes those functions for the whole process. */
uint64_t bench_alloc_count(void);

/* Pins the calling thread to CPU `cpu`. Returns 0, or an errno value (EINVAL when the CPU is not allowed,
 * e.g. outside the taskset). */
int bench_pin_thread(int cpu);
