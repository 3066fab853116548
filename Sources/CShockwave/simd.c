/* Chooses the scanner once: the best this CPU runs, unless SHOCKWAVE_SIMD names another. */
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

/* The first parse on any thread lands in these, which choose the level and then forward. Relaxed atomics
 * suffice: every value ever stored is a valid, immutable table, so a thread that reads a stale one still
 * parses correctly. */
static const sw_parsers_t resolver;

static const sw_parsers_t *choose(void) {
    const sw_parsers_t *chosen = parsers_for(from_env());
    const sw_parsers_t *expected = &resolver;
    if (!atomic_compare_exchange_strong_explicit(&sw__parsers, &expected, chosen, memory_order_relaxed,
                                                 memory_order_relaxed))
        return expected; /* forced or chosen by another thread first */
    return chosen;
}

static int resolve_request(const char *buf, size_t len, const sw_limits_t *lim, sw_request_t *req) {
    return choose()->request(buf, len, lim, req);
}

static int resolve_response(const char *buf, size_t len, const sw_limits_t *lim, sw_response_t *res) {
    return choose()->response(buf, len, lim, res);
}

static const sw_parsers_t resolver = {resolve_request, resolve_response};
const sw_parsers_t *_Atomic sw__parsers = &resolver;

sw_simd_t sw_simd_active(void) {
    const sw_parsers_t *p = sw__active_parsers();
    if (p == &resolver)
        p = choose();
#if defined(__x86_64__)
    if (p == &sw__parsers_avx2)
        return SW_SIMD_AVX2;
    if (p == &sw__parsers_sse42)
        return SW_SIMD_SSE42;
#endif
    return SW_SIMD_SCALAR;
}

int sw_simd_force(sw_simd_t level) {
    if (!sw_simd_supported(level))
        return -1;
    atomic_store_explicit(&sw__parsers, parsers_for(level), memory_order_relaxed);
    return 0;
}
