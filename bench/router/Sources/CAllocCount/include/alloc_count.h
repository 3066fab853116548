/* Heap allocations made by any thread since the process started (malloc, calloc, realloc, memalign). */
#include <stdint.h>
uint64_t bench_alloc_count(void);
