/* The field-line scanner shared by the vector ISAs: the bytes are classified 64 at a time into two bit masks,
 * T (not a tchar) and V (not allowed in a value: controls other than HTAB, and DEL; so CR and LF too), and
 * every field line is then found with bit scans over the cached masks: the name ends at the first T bit (which
 * must be the colon), the value at the first V bit after it (which must be the CR). Each byte of the head is
 * classified once, whatever the lengths of names and values.
 *
 * Included by scan_sse42.c and scan_avx2.c after they define SW_ISA_ATTR and
 *   classify64(p, &t, &v): the masks for the 64 bytes at p (all readable). */

typedef struct {
    const char *base; /* the masks describe [base, base + 64), bit i for base[i]; no bits at or past `end` */
    uint64_t t, v;
} scan_t;

SW_ISA_ATTR static inline void scan_load(scan_t *s, const char *at, const char *end, const char *lo) {
    if (SW_LIKELY(end - at >= 64)) {
        classify64(at, &s->t, &s->v);
    } else if (end - lo >= 64) {
        /* Near the end of the buffer: classify the last 64 bytes and shift away those before `at`, so nothing
         * outside [lo, end) is read. */
        unsigned shift = (unsigned)(64 - (end - at));
        classify64(end - 64, &s->t, &s->v);
        s->t >>= shift;
        s->v >>= shift;
    } else {
        /* A buffer shorter than 64 bytes: classify byte by byte (a copy to the stack would cost a store-forwarding
         * stall, more than these few bytes take). */
        uint64_t t = 0, v = 0;
        for (size_t i = 0, n = (size_t)(end - at); i < n; i++) {
            uint8_t c = sw__ctype[(uint8_t)at[i]];
            t |= (uint64_t)!(c & CT_TCHAR) << i;
            v |= (uint64_t)!(c & CT_VALUE) << i;
        }
        s->t = t;
        s->v = v;
    }
    s->base = at;
}

SW_ISA_ATTR static inline void scan_init(scan_t *s, const char *p, const char *end, const char *lo) {
    scan_load(s, p, end, lo);
}

SW_ISA_ATTR static inline const char *scan_find(scan_t *s, const char *p, const char *end, const char *lo,
                                                int value) {
    for (;;) {
        size_t off = (size_t)(p - s->base);
        if (SW_LIKELY(off < 64)) {
            uint64_t m = (value ? s->v : s->t) >> off;
            if (SW_LIKELY(m != 0))
                return p + __builtin_ctzll(m);
            p = s->base + 64;
        }
        if (p >= end)
            return end;
        scan_load(s, p, end, lo);
    }
}

SW_ISA_ATTR static inline const char *scan_name_end(scan_t *s, const char *p, const char *end, const char *lo) {
    return scan_find(s, p, end, lo, 0);
}

SW_ISA_ATTR static inline const char *scan_value_end(scan_t *s, const char *p, const char *end, const char *lo) {
    return scan_find(s, p, end, lo, 1);
}
