/* Private declarations shared by the parser's files: the character classes, the framing-field handler and
 * the per-ISA entry points. Not installed; Swift never sees this header. */
#ifndef SW_PARSE_INTERNAL_H
#define SW_PARSE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <stdatomic.h>
#include <string.h>

#include "include/sw_parse.h"

#if defined(__GNUC__)
#define SW_LIKELY(x) __builtin_expect(!!(x), 1)
#define SW_UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#define SW_LIKELY(x) (x)
#define SW_UNLIKELY(x) (x)
#endif

/* Character classes, one bit each, in sw__ctype[256]. */
enum {
    CT_TCHAR = 1u << 0,  /* token character (RFC 9110 5.6.2) */
    CT_TARGET = 1u << 1, /* allowed in a request target: 0x21..0x7E except '"', '#', '<', '>' (docs/parser.md) */
    CT_VALUE = 1u << 2,  /* allowed in a field value or reason phrase: HTAB, SP, VCHAR, obs-text */
    CT_HOST = 1u << 3,   /* allowed in a Host value: unreserved, sub-delims, ":", "[", "]", "%" */
    CT_DIGIT = 1u << 4,
    CT_SCHEME = 1u << 5, /* ALPHA / DIGIT / "+" / "-" / "." */
};
extern const uint8_t sw__ctype[256];

/* What the field lines told about framing, shared by requests and responses. */
typedef struct sw_framing {
    uint32_t flags;          /* SW_F_* plus the private bits below */
    uint64_t content_length;
    sw_span_t host;
    sw_span_t upgrade;
} sw_framing_t;

enum {
    FR_TE_PRESENT = 1u << 30, /* a Transfer-Encoding line was seen */
    FR_IS_REQUEST = 1u << 29, /* Host and Expect are interpreted */
    FR_HTTP10 = 1u << 28,
    FR_PRIVATE = FR_TE_PRESENT | FR_IS_REQUEST | FR_HTTP10,
};


enum { FIELD_HOST = 1, FIELD_EXPECT, FIELD_UPGRADE, FIELD_CONNECTION, FIELD_CONTENT_LENGTH, FIELD_TRANSFER_ENCODING };

static inline uint32_t sw__load4(const char *p) {
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

static inline uint64_t sw__load8(const char *p) {
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

#define SW_LIT4(s) ((uint32_t)(s)[0] | (uint32_t)(s)[1] << 8 | (uint32_t)(s)[2] << 16 | (uint32_t)(s)[3] << 24)
#define SW_LIT8(s) ((uint64_t)SW_LIT4(s) | (uint64_t)SW_LIT4((s) + 4) << 32)
/* OR-ing 0x20 into each byte lower-cases letters and leaves '-' alone; on token characters it is an exact
 * case-insensitive compare against these names, which hold only letters and '-'. */
#define SW_FOLD4 UINT32_C(0x20202020)
#define SW_FOLD8 UINT64_C(0x2020202020202020)

/* The FIELD_* id of a field name the parser interprets, else 0. Word compares, no loop. */
static inline int sw__framing_id(const char *p, uint32_t len) {
    switch (len) {
    case 4:
        return (sw__load4(p) | SW_FOLD4) == SW_LIT4("host") ? FIELD_HOST : 0;
    case 6:
        return (sw__load4(p) | SW_FOLD4) == SW_LIT4("expe") && (sw__load4(p + 2) | SW_FOLD4) == SW_LIT4("pect")
                   ? FIELD_EXPECT
                   : 0;
    case 7:
        return (sw__load4(p) | SW_FOLD4) == SW_LIT4("upgr") && (sw__load4(p + 3) | SW_FOLD4) == SW_LIT4("rade")
                   ? FIELD_UPGRADE
                   : 0;
    case 10:
        return (sw__load8(p) | SW_FOLD8) == SW_LIT8("connecti") && (sw__load4(p + 6) | SW_FOLD4) == SW_LIT4("tion")
                   ? FIELD_CONNECTION
                   : 0;
    case 14:
        return (sw__load8(p) | SW_FOLD8) == SW_LIT8("content-") && (sw__load8(p + 6) | SW_FOLD8) == SW_LIT8("t-length")
                   ? FIELD_CONTENT_LENGTH
                   : 0;
    case 17:
        return (sw__load8(p) | SW_FOLD8) == SW_LIT8("transfer") &&
                       (sw__load8(p + 8) | SW_FOLD8) == SW_LIT8("-encodin") && (p[16] | 0x20) == 'g'
                   ? FIELD_TRANSFER_ENCODING
                   : 0;
    default:
        return 0;
    }
}

/* Interprets a framing field line (id from sw__framing_id). Returns 0 or a negative SW_E_* code. */
int sw__framing_field(const char *buf, const sw_header_t *h, int id, sw_framing_t *fr);
/* The checks after the last field line (CL with TE, missing Host) and the keep-alive decision. */
static inline int sw__framing_finish(sw_framing_t *fr) {
    uint32_t f = fr->flags;
    if (SW_UNLIKELY(f & FR_TE_PRESENT)) {
        if (!(f & SW_F_CHUNKED))
            return SW_E_BAD_TE; /* only empty members */
        if (f & SW_F_CONTENT_LENGTH)
            return SW_E_CONTENT_LENGTH_AND_TE; /* RFC 9112 6.3: the request smuggling pattern */
    }
    if ((f & FR_IS_REQUEST) && !(f & FR_HTTP10) && !(f & SW_F_HOST))
        return SW_E_MISSING_HOST;
    if (f & FR_HTTP10) {
        if ((f & SW_F_CONN_KEEP_ALIVE) && !(f & SW_F_CONN_CLOSE))
            f |= SW_F_KEEP_ALIVE;
    } else if (!(f & SW_F_CONN_CLOSE)) {
        f |= SW_F_KEEP_ALIVE;
    }
    fr->flags = f & ~(uint32_t)FR_PRIVATE;
    return 0;
}


/* The method id of a token, SW_METHOD_OTHER when it is not a standard method. */
int sw__method_id(const char *p, size_t len);
/* Validates a non-origin request target and fills path/query/form. Returns 0 or SW_E_BAD_TARGET. */
int sw__classify_target(const char *buf, sw_request_t *req);

/* One set of parsers per ISA; full parses of the whole buffer (no prev_len logic). */
typedef struct sw_parsers {
    int (*request)(const char *buf, size_t len, const sw_limits_t *lim, sw_request_t *req);
    int (*response)(const char *buf, size_t len, const sw_limits_t *lim, sw_response_t *res);
} sw_parsers_t;

extern const sw_parsers_t sw__parsers_scalar;
#if defined(__x86_64__)
extern const sw_parsers_t sw__parsers_sse42;
extern const sw_parsers_t sw__parsers_avx2;
#endif

/* The parsers in use: set by simd.c, starting with a table that chooses on first use. */
extern const sw_parsers_t *_Atomic sw__parsers;

static inline const sw_parsers_t *sw__active_parsers(void) {
    return atomic_load_explicit(&sw__parsers, memory_order_relaxed);
}

#endif
