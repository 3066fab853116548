/* Private declarations shared by the parser's files: the character classes, the framing-field handler and
 * the per-ISA entry points. Not installed; Swift never sees this header. */
#ifndef SW_PARSE_INTERNAL_H
#define SW_PARSE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
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
    CT_TARGET = 1u << 1, /* allowed in a request target: 0x21..0x7E */
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

/* Field-name lengths the parser interprets (Host 4, Expect 6, Upgrade 7, Connection 10, Content-Length 14,
 * Transfer-Encoding 17): a field whose name length is not in this mask is never looked at again. */
#define SW_FRAMING_LEN_MASK ((1u << 4) | (1u << 6) | (1u << 7) | (1u << 10) | (1u << 14) | (1u << 17))

/* Interprets one field line if it is a framing field. Returns 0 or a negative SW_E_* code. */
int sw__framing_field(const char *buf, const sw_header_t *h, sw_framing_t *fr);
/* The checks after the last field line (CL with TE, missing Host) and the keep-alive decision. */
int sw__framing_finish(sw_framing_t *fr);

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

/* The parsers in use (set once by simd.c). */
const sw_parsers_t *sw__active_parsers(void);

#endif
