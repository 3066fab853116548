/* Chooses the scanner once: the best this CPU runs, unless SHOCKWAVE_SIMD names another. */
#include <stdatomic.h>
#include <stdlib.h>

#include "parse_internal.h"

static const sw_parsers_t *parsers_for(sw_simd_t level) {
#if defined(__x86_64__)
    if (level == SW_SIMD_AVX2)
        return &sw__parsers_avx2;
    if (level == SW_SIMD_SSE42)
        return &sw__parsers_sse42;
#endif
    (void)level;
    return &sw__parsers_scalar;
}

int sw_simd_supported(sw_simd_t level) {
    switch (level) {
    case SW_SIMD_SCALAR:
        return 1;
#if defined(__x86_64__)
    case SW_SIMD_SSE42:
        __builtin_cpu_init();
        return __builtin_cpu_supports("sse4.2") != 0;
    case SW_SIMD_AVX2:
        __builtin_cpu_init(); /* libgcc's check includes the OS saving YMM state (XGETBV) */
        return __builtin_cpu_supports("avx2") != 0;
#endif
    default:
        return 0;
    }
}

const char *sw_simd_name(sw_simd_t level) {
    switch (level) {
    case SW_SIMD_SCALAR:
        return "scalar";
    case SW_SIMD_SSE42:
        return "sse42";
    case SW_SIMD_AVX2:
        return "avx2";
    }
    return "unknown";
}

static sw_simd_t best(void) {
    if (sw_simd_supported(SW_SIMD_AVX2))
        return SW_SIMD_AVX2;
    if (sw_simd_supported(SW_SIMD_SSE42))
        return SW_SIMD_SSE42;
    return SW_SIMD_SCALAR;
}

static sw_simd_t from_env(void) {
    const char *e = getenv("SHOCKWAVE_SIMD");
    if (e != NULL) {
        for (int l = SW_SIMD_SCALAR; l <= SW_SIMD_AVX2; l++)
            if (strcmp(e, sw_simd_name((sw_simd_t)l)) == 0 && sw_simd_supported((sw_simd_t)l))
                return (sw_simd_t)l;
    }
    return best();
}

/* -1 until the first parse; then the level. Relaxed atomics suffice: every value ever stored is a valid,
 * immutable parser table, so a thread that reads a stale one still parses correctly. */
static _Atomic int active_level = -1;

static sw_simd_t level_now(void) {
    int l = atomic_load_explicit(&active_level, memory_order_relaxed);
    if (SW_UNLIKELY(l < 0)) {
        l = (int)from_env();
        int expected = -1;
        if (!atomic_compare_exchange_strong_explicit(&active_level, &expected, l, memory_order_relaxed,
                                                     memory_order_relaxed))
            l = expected; /* someone forced or initialised first */
    }
    return (sw_simd_t)l;
}

const sw_parsers_t *sw__active_parsers(void) {
    return parsers_for(level_now());
}

sw_simd_t sw_simd_active(void) {
    return level_now();
}

int sw_simd_force(sw_simd_t level) {
    if (!sw_simd_supported(level))
        return -1;
    atomic_store_explicit(&active_level, (int)level, memory_order_relaxed);
    return 0;
}
