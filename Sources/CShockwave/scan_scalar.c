/* The portable scanner: byte tables plus SWAR (8 bytes per step in a uint64_t). Always built, always tested;
 * the only scanner on non-x86 targets. */
#include "parse_internal.h"

#define ONES UINT64_C(0x0101010101010101)
#define HIGHS UINT64_C(0x8080808080808080)

/* Nonzero if some byte of x is below n (n <= 128); exact for the lowest such byte, which is all we need. */
static inline uint64_t has_less(uint64_t x, uint8_t n) {
    return (x - ONES * n) & ~x & HIGHS;
}

static inline uint64_t has_byte(uint64_t x, uint8_t b) {
    return has_less(x ^ (ONES * b), 1);
}

static inline const char *find_target_end(const char *p, const char *end, const char *lo, const char **q) {
    (void)lo;
    for (; end - p >= 8; p += 8) {
        uint64_t x = sw__load8(p);
        /* A word with a byte outside CT_TARGET, or a '?', goes to the byte loop (which decides exactly). Four tests,
         * as many as for 0x21..0x7E alone: below 0x24 takes SP, controls, '"' and '#' (and '!', rare before the
         * query); 0x3C..0x3F takes '<' and '>' with the '?' (and '=', rare before the query); then non-ASCII and
         * DEL. */
        if (has_less(x, 0x24) | (x & HIGHS) | has_byte(x, 0x7F) | has_less(x ^ (ONES * 0x3C), 4))
            break;
    }
    for (; p < end; p++) {
        if (!(sw__ctype[(uint8_t)*p] & CT_TARGET))
            return p;
        if (*p == '?' && *q == NULL)
            *q = p;
    }
    return end;
}

static inline const char *find_name_end(const char *p, const char *end, const char *lo) {
    (void)lo;
    for (; end - p >= 4; p += 4)
        if (!(sw__ctype[(uint8_t)p[0]] & sw__ctype[(uint8_t)p[1]] & sw__ctype[(uint8_t)p[2]] &
              sw__ctype[(uint8_t)p[3]] & CT_TCHAR))
            break;
    while (p < end && (sw__ctype[(uint8_t)*p] & CT_TCHAR))
        ++p;
    return p;
}

static inline const char *find_value_end(const char *p, const char *end, const char *lo) {
    (void)lo;
    for (;;) {
        for (; end - p >= 8; p += 8) {
            uint64_t x = sw__load8(p);
            if (has_less(x, 0x20) | has_byte(x, 0x7F))
                break;
        }
        /* up to 8 bytes, one of which is suspect (HTAB is allowed but trips the word test) */
        const char *stop = end - p > 8 ? p + 8 : end;
        for (; p < stop; p++)
            if (!(sw__ctype[(uint8_t)*p] & CT_VALUE))
                return p;
        if (p == end)
            return end;
    }
}

/* The scalar scanner keeps no state between fields. */
typedef struct {
    char unused;
} scan_t;

static inline void scan_init(scan_t *s, const char *p, const char *end, const char *lo) {
    (void)s, (void)p, (void)end, (void)lo;
}

static inline const char *scan_name_end(scan_t *s, const char *p, const char *end, const char *lo) {
    (void)s;
    return find_name_end(p, end, lo);
}

static inline const char *scan_value_end(scan_t *s, const char *p, const char *end, const char *lo) {
    (void)s;
    return find_value_end(p, end, lo);
}

#define SW_ISA scalar
#define SW_ISA_ATTR
#include "parse_impl.h"
