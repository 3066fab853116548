/* HTTP/1.1 message-head parser (RFC 9112, RFC 9110), strict, zero-copy, never allocates.
 *
 * Results are spans (offset, length) into the caller's buffer, so Swift can keep them as plain values.
 * The parser keeps no state between calls; `prev_len` lets a caller that appends bytes and calls again
 * skip what was already scanned, so parsing a head that arrives one byte at a time stays linear. */
#ifndef SW_PARSE_H
#define SW_PARSE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Results and errors ------------------------------------------------------------------------------ */

/* More bytes are needed. Not an error. */
#define SW_INCOMPLETE (-1)

/* Every error is negative and has its own code; sw_error_status() maps it to the status a server sends,
 * sw_error_message() to a sentence a user can act on. */
typedef enum sw_error {
    /* request line */
    SW_E_BAD_METHOD = -2,          /* 400: empty method or a non-token character in it */
    SW_E_BAD_REQUEST_LINE = -3,    /* 400: not exactly `method SP target SP version CRLF` */
    SW_E_BAD_TARGET = -4,          /* 400: a byte outside 0x21..0x7E in the target, or `"`, `#`, `<`, `>`; a
                                      form the method forbids (`*` only with OPTIONS; authority-form only, and
                                      always, with CONNECT; origin-form must start with `/`); an absolute-form
                                      with a scheme other than http/https, userinfo or no host */
    SW_E_BAD_VERSION = -5,         /* 400: not `HTTP/` DIGIT `.` DIGIT */
    SW_E_VERSION_NOT_SUPPORTED = -6, /* 505: a well-formed version other than HTTP/1.x */
    SW_E_URI_TOO_LONG = -7,        /* 414: target longer than limits->max_target */
    /* field lines */
    SW_E_BAD_HEADER_NAME = -8,     /* 400: empty field name or a non-token character in it */
    SW_E_SPACE_BEFORE_COLON = -9,  /* 400: whitespace between field name and colon (RFC 9112 5.1) */
    SW_E_OBS_FOLD = -10,           /* 400: a field line starting with SP or HTAB (obs-fold, RFC 9112 5.2) */
    SW_E_BAD_HEADER_VALUE = -11,   /* 400: NUL, DEL or a control character other than HTAB in a value */
    SW_E_BARE_CR = -12,            /* 400: CR not followed by LF */
    SW_E_BARE_LF = -13,            /* 400: LF not preceded by CR */
    SW_E_HEADERS_TOO_LARGE = -14,  /* 431: head (request line + fields + CRLF) longer than limits->max_head */
    SW_E_TOO_MANY_HEADERS = -15,   /* 431: more than limits->max_headers field lines */
    /* framing (RFC 9112 6) */
    SW_E_BAD_CONTENT_LENGTH = -16,        /* 400: Content-Length not 1*DIGIT (or a list of such), or > 2^62 */
    SW_E_CONFLICTING_CONTENT_LENGTH = -17, /* 400: Content-Length values that differ */
    SW_E_CONTENT_LENGTH_AND_TE = -18,     /* 400: both Content-Length and Transfer-Encoding (smuggling) */
    SW_E_TE_CHUNKED_NOT_LAST = -19,       /* 400: chunked not the final coding, or given twice */
    SW_E_TE_NOT_IMPLEMENTED = -20,        /* 501: a transfer coding other than chunked */
    SW_E_TE_IN_HTTP10 = -21,              /* 400: Transfer-Encoding in an HTTP/1.0 message */
    SW_E_BAD_TE = -22,                    /* 400: malformed Transfer-Encoding list (empty member, bad token) */
    SW_E_MISSING_HOST = -23,              /* 400: HTTP/1.1 request without Host (RFC 9112 3.2) */
    SW_E_DUPLICATE_HOST = -24,            /* 400: more than one Host field line */
    SW_E_BAD_HOST = -25,                  /* 400: Host value with characters no authority can hold */
    SW_E_EXPECTATION_FAILED = -26,        /* 417: an Expect value other than 100-continue */
    /* responses */
    SW_E_BAD_STATUS = -27,                /* 502: malformed status line (status code not 3 digits, 100..999) */
    /* chunked bodies (sw_chunked.h) */
    SW_E_BAD_CHUNK_SIZE = -28,            /* 400: chunk size not 1*HEXDIG */
    SW_E_CHUNK_SIZE_OVERFLOW = -29,       /* 400: chunk size beyond 2^60 */
    SW_E_BAD_CHUNK_EXT = -30,             /* 400: malformed chunk extension */
    SW_E_CHUNK_EXT_TOO_LONG = -31,        /* 400: chunk extensions beyond the decoder's limit */
    SW_E_BAD_CHUNK_END = -32,             /* 400: chunk data not followed by CRLF */
    SW_E_BAD_TRAILER = -33,               /* 400: malformed trailer field line */
    SW_E_FORBIDDEN_TRAILER = -34,         /* 400: a framing or routing field in the trailers */
    SW_E_TRAILERS_TOO_LARGE = -35,        /* 431: trailer section beyond the decoder's limit */
    SW_E_BODY_TOO_LARGE = -36,            /* 413: body beyond the configured limit */
} sw_error_t;

/* The HTTP status a server answers an error code with (400, 413, 414, 417, 431, 501, 505); 500 for a code
 * this library does not know. */
int sw_error_status(int code);
/* A static, NUL-terminated English sentence describing the code ("" is never returned). */
const char *sw_error_message(int code);
/* The enumerator's name without the prefix ("BARE_CR"), for logs and metrics labels. */
const char *sw_error_name(int code);

/* ---- Spans and limits -------------------------------------------------------------------------------- */

/* A byte range [off, off + len) of the buffer given to the parser. */
typedef struct sw_span {
    uint32_t off;
    uint32_t len;
} sw_span_t;

/* One field line. `name` is as sent (case preserved); `value` has leading and trailing SP/HTAB removed. */
typedef struct sw_header {
    sw_span_t name;
    sw_span_t value;
} sw_header_t;

typedef struct sw_limits {
    uint32_t max_head;    /* request/status line + field lines + final CRLF; default 16384 */
    uint32_t max_target;  /* request target; default 8192 */
    uint32_t max_headers; /* field lines; default 100; the caller's header array holds at least this many */
} sw_limits_t;

#define SW_DEFAULT_MAX_HEAD 16384u
#define SW_DEFAULT_MAX_TARGET 8192u
#define SW_DEFAULT_MAX_HEADERS 100u

/* The limits used when NULL is passed. */
extern const sw_limits_t sw_default_limits;

/* ---- Requests ---------------------------------------------------------------------------------------- */

typedef enum sw_method {
    SW_METHOD_OTHER = 0, /* a valid token that is none of the below; the server decides (usually 501) */
    SW_METHOD_GET,
    SW_METHOD_HEAD,
    SW_METHOD_POST,
    SW_METHOD_PUT,
    SW_METHOD_DELETE,
    SW_METHOD_CONNECT,
    SW_METHOD_OPTIONS,
    SW_METHOD_TRACE,
    SW_METHOD_PATCH,
} sw_method_t;

typedef enum sw_target_form {
    SW_FORM_ORIGIN = 0,    /* /path?query */
    SW_FORM_ABSOLUTE = 1,  /* http://host/path?query (http or https); path, query and host are taken from it */
    SW_FORM_AUTHORITY = 2, /* host:port, CONNECT only; path and query are empty */
    SW_FORM_ASTERISK = 3,  /* *, OPTIONS only; path is the `*` */
} sw_target_form_t;

/* Framing and connection facts found while scanning the fields. */
enum {
    SW_F_CONTENT_LENGTH = 1u << 0,  /* content_length is valid */
    SW_F_CHUNKED = 1u << 1,         /* Transfer-Encoding: chunked (the only coding accepted) */
    SW_F_CONN_CLOSE = 1u << 2,      /* Connection has the `close` option */
    SW_F_CONN_KEEP_ALIVE = 1u << 3, /* Connection has the `keep-alive` option */
    SW_F_CONN_UPGRADE = 1u << 4,    /* Connection has the `upgrade` option */
    SW_F_UPGRADE = 1u << 5,         /* an Upgrade field is present (see `upgrade`) */
    SW_F_EXPECT_CONTINUE = 1u << 6, /* Expect: 100-continue */
    SW_F_HAS_QUERY = 1u << 7,       /* the target has a `?` (query may still be empty) */
    SW_F_HOST = 1u << 8,            /* a Host field is present, or the target is absolute-form (see `host`) */
    SW_F_KEEP_ALIVE = 1u << 9,      /* the connection persists after this message: HTTP/1.1 without
                                       `close`, or HTTP/1.0 with `keep-alive` (RFC 9112 9.3) */
};

/* A parsed request head. The caller sets `headers` (room for limits->max_headers entries); the parser
 * fills everything else. Spans are offsets into the buffer given to sw_parse_request and are valid as
 * long as those bytes are. */
typedef struct sw_request {
    sw_header_t *headers;    /* in: caller's array; out: the field lines in order */
    uint32_t num_headers;    /* out */
    uint32_t flags;          /* out: SW_F_* */
    uint64_t content_length; /* out: valid when flags & SW_F_CONTENT_LENGTH */
    sw_span_t method;
    sw_span_t target;        /* the whole request target as sent */
    sw_span_t path;          /* origin/absolute form: from the first `/` up to `?`; may be empty for an
                                absolute-form target without a path (meaning `/`) */
    sw_span_t query;         /* after `?` (excluded) to the end of the target */
    sw_span_t host;          /* when flags & SW_F_HOST: the host the request is for. The authority of an
                                absolute-form target (RFC 9112 3.2.2: the Host field is then ignored, though
                                still required in HTTP/1.1 and checked), else the Host value */
    sw_span_t upgrade;       /* Upgrade value, when flags & SW_F_UPGRADE */
    uint8_t method_id;       /* sw_method_t */
    uint8_t version_minor;   /* 0 or 1 (HTTP/1.2..1.9 are accepted and reported as 1) */
    uint8_t target_form;     /* sw_target_form_t */
    uint8_t reserved_;
} sw_request_t;

/* Parses a request head in [buf, buf + len).
 *
 * Returns the head's length (> 0, through the blank line that ends it), SW_INCOMPLETE when more bytes are
 * needed, or a negative SW_E_* code. Leading empty lines (CRLF) before the request line are skipped
 * (RFC 9112 2.2) and count in the returned length. Never allocates, never reads outside [buf, buf + len).
 *
 * `prev_len` is the `len` of the previous call on the same (grown) buffer that returned SW_INCOMPLETE, or 0.
 * When it is non-zero, bytes before it are not rescanned until the end of the head arrives, so total work is
 * linear however the head is split; errors in earlier bytes are then reported when the head is complete (or
 * a limit is crossed). `limits` may be NULL for sw_default_limits. `req` is only meaningful after a return
 * > 0. */
int sw_parse_request(const void *buf, size_t len, size_t prev_len, const sw_limits_t *limits, sw_request_t *req);

/* ---- Responses --------------------------------------------------------------------------------------- */

typedef struct sw_response {
    sw_header_t *headers;    /* in: caller's array; out: the field lines */
    uint32_t num_headers;    /* out */
    uint32_t flags;          /* out: SW_F_CONTENT_LENGTH, SW_F_CHUNKED, SW_F_CONN_*, SW_F_UPGRADE,
                                SW_F_KEEP_ALIVE */
    uint64_t content_length; /* out */
    sw_span_t reason;        /* reason phrase, may be empty */
    sw_span_t upgrade;
    uint16_t status;         /* 100..999 */
    uint8_t version_minor;   /* 0 or 1 */
    uint8_t reserved_;
} sw_response_t;

/* Parses a response head (status line + fields), with the same contract, strictness and limits as
 * sw_parse_request (limits->max_target does not apply). Host and Expect are not interpreted. Whether the
 * response has a body (1xx, 204, 304, a reply to HEAD) is the caller's decision: see sw_response_has_body. */
int sw_parse_response(const void *buf, size_t len, size_t prev_len, const sw_limits_t *limits, sw_response_t *res);

/* 1 if a response with this status to a request with this method carries a body (RFC 9112 6.3), else 0. */
int sw_response_has_body(int status, int request_method_id);

/* ---- SIMD selection ---------------------------------------------------------------------------------- */

typedef enum sw_simd {
    SW_SIMD_SCALAR = 0,
    SW_SIMD_SSE42 = 1,
    SW_SIMD_AVX2 = 2,
} sw_simd_t;

/* The scanner in use (buffers shorter than 64 bytes always take the scalar one: too short for vectors to pay).
 * Chosen once at load time: the best the CPU supports, or SHOCKWAVE_SIMD=scalar|sse42|avx2
 * when set (an unsupported or unknown value falls back to the best). */
sw_simd_t sw_simd_active(void);
/* 1 if this CPU (and this build: x86-64 only) can run `level`. */
int sw_simd_supported(sw_simd_t level);
/* Forces a scanner for all later parses on every thread. Returns 0, or -1 if `level` is not supported here.
 * Meant for tests and benchmarks; not safe to call while other threads are parsing. */
int sw_simd_force(sw_simd_t level);
/* "scalar", "sse42" or "avx2". */
const char *sw_simd_name(sw_simd_t level);

#ifdef __cplusplus
}
#endif

#endif
