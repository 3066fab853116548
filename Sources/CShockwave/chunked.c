/* Chunked transfer coding decoder (RFC 9112 7.1). Contract in sw_chunked.h.
 *
 * One byte-driven state machine, so any split of the input gives the same decoded bytes and the same result:
 * every check is made on a fixed byte of the stream (never "at the end of this call's buffer"), and the two
 * fast paths that peek at the next bytes (CRLF after a size, CRLF after data) fall back to the byte-wise states
 * when those bytes are absent or unexpected. Chunk data is the only multi-byte step: it is moved toward the
 * front of the buffer with one memmove per chunk piece, as picohttpparser's phr_decode_chunked does. Unlike
 * it, this decoder is strict: every byte of framing is checked against the grammar below and anything else is
 * an error, because two parsers that disagree on where a chunk ends are a request-smuggling vector.
 *
 *   chunked-body   = *chunk last-chunk trailer-section CRLF
 *   chunk          = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
 *   chunk-size     = 1*HEXDIG
 *   last-chunk     = 1*("0") [ chunk-ext ] CRLF
 *   chunk-ext      = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )
 *   chunk-ext-name = token
 *   chunk-ext-val  = token / quoted-string
 *   trailer-section = *( field-line CRLF )
 *
 * Decisions the RFC leaves to the implementation, each applied at a fixed byte:
 * - chunk-size: at most 32 digits in all (leading zeros included), else SW_E_BAD_CHUNK_SIZE at the 33rd; a
 *   value of 2^60 or more (16 significant digits) is SW_E_CHUNK_SIZE_OVERFLOW at the digit that makes it so.
 * - The body limit is checked on the byte that ends the chunk-size, before any extension or data is read.
 * - Extension bytes are every byte from the end of the chunk-size to the CR of the line (whitespace, ";" and
 *   quotes included); byte max_ext + 1 is SW_E_CHUNK_EXT_TOO_LONG.
 * - An LF not preceded by CR is SW_E_BARE_LF wherever it appears in a size or trailer line (it cannot be valid
 *   anywhere there). A CR where the line may end must be followed by LF (else SW_E_BARE_CR); a CR where the
 *   line may not end (after "=", inside a quoted-string, after BWS) is the line's grammar error.
 * - Whitespace after the size or a value must lead to another ";": "1 \r\n" and "1;a=b \r\n" are
 *   SW_E_BAD_CHUNK_EXT (BWS only exists inside chunk-ext, RFC 9112 7.1.1).
 * - The trailer section's size counts every byte after the last-chunk line, the final CRLF included.
 * - Anything but CRLF right after chunk-data, a bare LF included, is SW_E_BAD_CHUNK_END.
 * - Trailer field lines follow RFC 9112 5 as the head parser does (no whitespace before ":", no obs-fold,
 *   value bytes HTAB / SP / VCHAR / obs-text); any violation is SW_E_BAD_TRAILER. The first byte of field line
 *   max_trailer_fields + 1 is SW_E_TRAILERS_TOO_LARGE; the forbidden names are listed at `forbidden` below.
 * - On an error, *len still counts the body bytes this call decoded before the bad byte (the caller discards
 *   them with the message), so the bytes decoded before an error are the same however the input was split.
 *   Later calls repeat the error and decode nothing; after the end, later calls return all input as leftover. */
#include <string.h>

#include "sw_chunked.h"
#include "sw_parse.h"

enum {
    S_SIZE,          /* in chunk-size: count_ = digits seen, remaining_ = value so far */
    S_EXT_WS,        /* BWS after the size or after an ext-value: only BWS or ";" may follow */
    S_EXT_PRE_NAME,  /* after ";": BWS, then ext-name */
    S_EXT_NAME,      /* in ext-name */
    S_EXT_NAME_WS,   /* BWS after ext-name: "=" or ";" must follow */
    S_EXT_PRE_VALUE, /* after "=": BWS, then token or quoted-string */
    S_EXT_TOKEN,     /* in a token ext-value */
    S_EXT_QUOTED,    /* in a quoted-string ext-value */
    S_EXT_QPAIR,     /* after "\" in a quoted-string */
    S_EXT_QUOTE_END, /* after the closing quote */
    S_SIZE_LF,       /* CR of the chunk-size line seen */
    S_DATA,          /* in chunk-data: remaining_ bytes to go */
    S_DATA_CR,       /* chunk-data done, CR expected */
    S_DATA_LF,       /* CR after chunk-data seen, LF expected */
    S_TRAILER_START, /* at the start of a trailer line: a field name or the final CRLF */
    S_TRAILER_NAME,  /* in a trailer field name */
    S_TRAILER_VALUE, /* after ":", in the field value */
    S_TRAILER_LF,    /* CR of a trailer field line seen */
    S_FINAL_LF,      /* CR of the final empty line seen */
    S_DONE,          /* message ended */
    S_ERROR,         /* failed; count_ holds the negated error code */
};

/* Byte classes. HEX: HEXDIG. TCHAR: RFC 9110 5.6.2 token characters. FVAL: field-value bytes and the second
 * byte of a quoted-pair (HTAB / SP / VCHAR / obs-text). QDTEXT: RFC 9110 5.6.4 qdtext. */
enum { C_HEX = 1, C_TCHAR = 2, C_FVAL = 4, C_QDTEXT = 8 };

static const uint8_t cls[256] = {
    0,  0,  0,  0,  0,  0,  0,  0,  0,  12, 0,  0,  0,  0,  0,  0,  /* 00 */
    0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  /* 10 */
    12, 14, 4,  14, 14, 14, 14, 14, 12, 12, 14, 14, 12, 14, 14, 12, /* 20 */
    15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 12, 12, 12, 12, 12, 12, /* 30 */
    12, 15, 15, 15, 15, 15, 15, 14, 14, 14, 14, 14, 14, 14, 14, 14, /* 40 */
    14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 12, 4,  12, 14, 14, /* 50 */
    14, 15, 15, 15, 15, 15, 15, 14, 14, 14, 14, 14, 14, 14, 14, 14, /* 60 */
    14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 12, 14, 12, 14, 0,  /* 70 */
    12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, /* 80 */
    12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, /* 90 */
    12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, /* A0 */
    12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, /* B0 */
    12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, /* C0 */
    12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, /* D0 */
    12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, /* E0 */
    12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, /* F0 */
};

/* '0'..'9' are 0x30..0x39, 'A'..'F' 0x41..0x46, 'a'..'f' 0x61..0x66: the low nibble, plus 9 for letters. */
static inline unsigned hex_value(unsigned c) {
    return (c & 0xFu) + 9u * (c >> 6);
}

#define MAX_SIZE_DIGITS 32u /* leading zeros are legal but must not let a peer stall us on an endless size */
#define SIZE_LIMIT_SHIFT 56 /* a value >= 2^56 before the next digit would reach 2^60 after it */

/* Fields a sender must not put in trailers, or that a recipient must not merge from them, because they
 * control framing, routing, connection handling, request modifiers, authentication, payload processing or
 * caching (RFC 9110 6.5.1, 6.5.2), plus the de-facto hop-by-hop and cookie fields. Trailers are dropped
 * anyway; rejecting these stops a peer from hoping that some later hop merges them into the head. */
static const char forbidden[][20] = {
    /* framing (RFC 9112 6) */
    "content-length",
    "transfer-encoding",
    "trailer",
    "te",
    /* routing (RFC 9110 7.2) */
    "host",
    /* connection management (RFC 9110 7.6) */
    "connection",
    "keep-alive",
    "proxy-connection",
    "upgrade",
    /* request controls (RFC 9110 10.1) and caching (RFC 9111 5) */
    "expect",
    "max-forwards",
    "cache-control",
    "pragma",
    "range",
    /* conditionals (RFC 9110 13.1) */
    "if-match",
    "if-none-match",
    "if-modified-since",
    "if-unmodified-since",
    "if-range",
    /* authentication (RFC 9110 11) */
    "authorization",
    "proxy-authorization",
    "www-authenticate",
    "proxy-authenticate",
    /* payload processing (RFC 9110 8) */
    "content-type",
    "content-encoding",
    "content-range",
    /* cookies (RFC 6265) */
    "cookie",
    "set-cookie",
    /* response control data (RFC 9110 10.2, RFC 9111 5) */
    "date",
    "age",
    "expires",
    "location",
    "retry-after",
    "vary",
};

_Static_assert(sizeof(((sw_chunked_decoder_t *)0)->name_) >= sizeof forbidden[0], "name_ holds any forbidden name");
_Static_assert(sizeof(((sw_chunked_decoder_t *)0)->name_) < 255, "name_len_ saturates one past name_");

/* `name` is lower-cased tchars (no NUL), so a prefix match that ends at the entry's NUL is an exact match. */
static int is_forbidden(const char *name, unsigned len) {
    if (len >= sizeof forbidden[0])
        return 0;
    for (size_t i = 0; i < sizeof forbidden / sizeof forbidden[0]; i++) {
        if (forbidden[i][len] == '\0' && memcmp(forbidden[i], name, len) == 0)
            return 1;
    }
    return 0;
}

void sw_chunked_init(sw_chunked_decoder_t *d, uint64_t max_body) {
    memset(d, 0, sizeof *d);
    d->max_body = max_body;
    d->max_ext = SW_DEFAULT_MAX_CHUNK_EXT;
    d->max_trailers = SW_DEFAULT_MAX_TRAILERS;
    d->max_trailer_fields = SW_DEFAULT_MAX_TRAILER_FIELDS;
    d->state_ = S_SIZE;
}

int sw_chunked_done(const sw_chunked_decoder_t *d) {
    return d->state_ == S_DONE;
}

ptrdiff_t sw_chunked_decode(sw_chunked_decoder_t *d, void *buf, size_t *len) {
    size_t input_len = *len;
    if (d->state_ == S_DONE) { /* everything after the message belongs to the next one */
        *len = 0;
        return (ptrdiff_t)input_len;
    }
    if (d->state_ == S_ERROR) {
        *len = 0;
        return -(ptrdiff_t)d->count_;
    }
    if (input_len == 0) /* buf may be NULL: no arithmetic on it */
        return SW_INCOMPLETE;

    uint8_t *const base = buf;
    uint8_t *out = base;
    const uint8_t *p = base;
    const uint8_t *const end = base + input_len;
    uint32_t state = d->state_;
    uint32_t count = d->count_;
    uint64_t rem = d->remaining_;
    ptrdiff_t ret = SW_INCOMPLETE;
    unsigned c;

#define FAIL(code)                                                                                                     \
    do {                                                                                                               \
        ret = (code);                                                                                                  \
        goto fail;                                                                                                     \
    } while (0)

    while (p < end) {
        switch (state) {
        case S_DATA: {
            size_t avail = (size_t)(end - p);
            size_t take = rem < avail ? (size_t)rem : avail;
            if (out != p)
                memmove(out, p, take);
            out += take;
            p += take;
            rem -= take;
            d->body_len += take;
            if (rem == 0) {
                /* The CRLF after the data is usually here: skip two turns of the loop. Anything else takes
                 * the byte-wise states, which report the error. */
                if (end - p >= 2 && p[0] == '\r' && p[1] == '\n') {
                    p += 2;
                    count = 0;
                    state = S_SIZE;
                } else {
                    state = S_DATA_CR;
                }
            }
            continue;
        }

        case S_SIZE:
            /* The hot loop: most sizes are 1..5 digits. Both bounds are checked per digit so the error falls on
             * the same byte however the input is split. */
            while (p < end && (cls[c = *p] & C_HEX)) {
                if (++count > MAX_SIZE_DIGITS)
                    FAIL(SW_E_BAD_CHUNK_SIZE);
                if (rem >> SIZE_LIMIT_SHIFT)
                    FAIL(SW_E_CHUNK_SIZE_OVERFLOW);
                rem = (rem << 4) | hex_value(c);
                p++;
            }
            if (p == end)
                goto incomplete;
            if (count == 0) /* RFC 9112 7.1: chunk-size = 1*HEXDIG */
                FAIL(SW_E_BAD_CHUNK_SIZE);
            /* The size is known: refuse it before reading a byte of its data (no overflow: rem < 2^60). */
            if (d->max_body && d->body_len + rem > d->max_body)
                FAIL(SW_E_BODY_TOO_LARGE);
            c = *p++;
            if (c == '\r') {
                if (p < end && *p == '\n') { /* the common "1f40\r\n": straight to the data */
                    p++;
                    count = 0;
                    state = rem ? S_DATA : S_TRAILER_START;
                    continue;
                }
                state = S_SIZE_LF;
                continue;
            }
            if (c == '\n')
                FAIL(SW_E_BARE_LF);
            if (c != ';' && c != ' ' && c != '\t')
                FAIL(SW_E_BAD_CHUNK_SIZE);
            /* The byte that ends the size is the first extension byte. */
            count = 1;
            if (count > d->max_ext)
                FAIL(SW_E_CHUNK_EXT_TOO_LONG);
            state = c == ';' ? S_EXT_PRE_NAME : S_EXT_WS;
            continue;

        case S_EXT_WS:
        case S_EXT_PRE_NAME:
        case S_EXT_NAME:
        case S_EXT_NAME_WS:
        case S_EXT_PRE_VALUE:
        case S_EXT_TOKEN:
        case S_EXT_QUOTED:
        case S_EXT_QPAIR:
        case S_EXT_QUOTE_END:
            /* Extensions are rare and short; one byte per turn keeps every state transition in one place. */
            c = *p++;
            if (c == '\n')
                FAIL(SW_E_BARE_LF);
            if (c == '\r') {
                /* The line may end only after a complete ext-name or ext-value. */
                if (state != S_EXT_NAME && state != S_EXT_TOKEN && state != S_EXT_QUOTE_END)
                    FAIL(SW_E_BAD_CHUNK_EXT);
                state = S_SIZE_LF;
                continue;
            }
            if (++count > d->max_ext)
                FAIL(SW_E_CHUNK_EXT_TOO_LONG);
            switch (state) {
            case S_EXT_WS:
                if (c == ';')
                    state = S_EXT_PRE_NAME;
                else if (c != ' ' && c != '\t')
                    FAIL(SW_E_BAD_CHUNK_EXT);
                break;
            case S_EXT_PRE_NAME:
                if (cls[c] & C_TCHAR)
                    state = S_EXT_NAME;
                else if (c != ' ' && c != '\t')
                    FAIL(SW_E_BAD_CHUNK_EXT);
                break;
            case S_EXT_NAME:
                if (cls[c] & C_TCHAR)
                    break;
                if (c == '=')
                    state = S_EXT_PRE_VALUE;
                else if (c == ';')
                    state = S_EXT_PRE_NAME;
                else if (c == ' ' || c == '\t')
                    state = S_EXT_NAME_WS;
                else
                    FAIL(SW_E_BAD_CHUNK_EXT);
                break;
            case S_EXT_NAME_WS:
                if (c == '=')
                    state = S_EXT_PRE_VALUE;
                else if (c == ';')
                    state = S_EXT_PRE_NAME;
                else if (c != ' ' && c != '\t')
                    FAIL(SW_E_BAD_CHUNK_EXT);
                break;
            case S_EXT_PRE_VALUE:
                if (cls[c] & C_TCHAR)
                    state = S_EXT_TOKEN;
                else if (c == '"')
                    state = S_EXT_QUOTED;
                else if (c != ' ' && c != '\t')
                    FAIL(SW_E_BAD_CHUNK_EXT);
                break;
            case S_EXT_TOKEN:
                if (cls[c] & C_TCHAR)
                    break;
                if (c == ';')
                    state = S_EXT_PRE_NAME;
                else if (c == ' ' || c == '\t')
                    state = S_EXT_WS;
                else
                    FAIL(SW_E_BAD_CHUNK_EXT);
                break;
            case S_EXT_QUOTED:
                if (c == '"')
                    state = S_EXT_QUOTE_END;
                else if (c == '\\')
                    state = S_EXT_QPAIR;
                else if (!(cls[c] & C_QDTEXT))
                    FAIL(SW_E_BAD_CHUNK_EXT);
                break;
            case S_EXT_QPAIR: /* RFC 9110 5.6.4: quoted-pair = "\" ( HTAB / SP / VCHAR / obs-text ) */
                if (!(cls[c] & C_FVAL))
                    FAIL(SW_E_BAD_CHUNK_EXT);
                state = S_EXT_QUOTED;
                break;
            default: /* S_EXT_QUOTE_END */
                if (c == ';')
                    state = S_EXT_PRE_NAME;
                else if (c == ' ' || c == '\t')
                    state = S_EXT_WS;
                else
                    FAIL(SW_E_BAD_CHUNK_EXT);
                break;
            }
            continue;

        case S_SIZE_LF:
            if (*p++ != '\n')
                FAIL(SW_E_BARE_CR);
            count = 0;
            state = rem ? S_DATA : S_TRAILER_START; /* a zero size is the last-chunk */
            continue;

        case S_DATA_CR: /* RFC 9112 7.1: chunk-data is followed by exactly CRLF */
            if (*p++ != '\r')
                FAIL(SW_E_BAD_CHUNK_END);
            state = S_DATA_LF;
            continue;

        case S_DATA_LF:
            if (*p++ != '\n')
                FAIL(SW_E_BAD_CHUNK_END);
            count = 0;
            rem = 0;
            state = S_SIZE;
            continue;

        default: /* the trailer section: every byte counts toward max_trailers */
            if (++d->trailer_bytes_ > d->max_trailers)
                FAIL(SW_E_TRAILERS_TOO_LARGE);
            c = *p++;
            switch (state) {
            case S_TRAILER_START:
                if (c == '\r') {
                    state = S_FINAL_LF;
                } else if (c == '\n') {
                    FAIL(SW_E_BARE_LF);
                } else if (cls[c] & C_TCHAR) {
                    if (d->num_trailers >= d->max_trailer_fields)
                        FAIL(SW_E_TRAILERS_TOO_LARGE);
                    /* Keep a lower-cased copy of the name's start for the forbidden-field check at ":". */
                    d->name_[0] = (char)(c - 'A' < 26u ? c | 0x20u : c);
                    d->name_len_ = 1;
                    state = S_TRAILER_NAME;
                } else {
                    /* SP / HTAB here would be obs-fold (RFC 9112 5.2), ":" an empty name. */
                    FAIL(SW_E_BAD_TRAILER);
                }
                break;
            case S_TRAILER_NAME:
                if (cls[c] & C_TCHAR) {
                    if (d->name_len_ < sizeof d->name_)
                        d->name_[d->name_len_] = (char)(c - 'A' < 26u ? c | 0x20u : c);
                    if (d->name_len_ <= sizeof d->name_) /* saturates one past: longer than any listed name */
                        d->name_len_++;
                } else if (c == ':') {
                    if (is_forbidden(d->name_, d->name_len_))
                        FAIL(SW_E_FORBIDDEN_TRAILER);
                    state = S_TRAILER_VALUE;
                } else if (c == '\n') {
                    FAIL(SW_E_BARE_LF);
                } else {
                    /* Whitespace before ":" is forbidden (RFC 9112 5.1), as is a line without ":". */
                    FAIL(SW_E_BAD_TRAILER);
                }
                break;
            case S_TRAILER_VALUE:
                if (cls[c] & C_FVAL) {
                    /* Scan the rest of the value in one go, within the trailer byte budget. */
                    size_t budget = d->max_trailers - d->trailer_bytes_;
                    size_t avail = (size_t)(end - p);
                    const uint8_t *stop = p + (avail < budget ? avail : budget);
                    const uint8_t *q = p;
                    while (q < stop && (cls[*q] & C_FVAL))
                        q++;
                    d->trailer_bytes_ += (uint32_t)(q - p);
                    p = q;
                } else if (c == '\r') {
                    state = S_TRAILER_LF;
                } else if (c == '\n') {
                    FAIL(SW_E_BARE_LF);
                } else {
                    FAIL(SW_E_BAD_TRAILER); /* NUL, DEL or another control byte */
                }
                break;
            case S_TRAILER_LF:
                if (c != '\n')
                    FAIL(SW_E_BARE_CR);
                d->num_trailers++;
                state = S_TRAILER_START;
                break;
            case S_FINAL_LF:
                if (c != '\n')
                    FAIL(SW_E_BARE_CR);
                state = S_DONE;
                ret = (ptrdiff_t)(end - p);
                goto out;
            default: /* S_DONE and S_ERROR returned above; nothing else reaches here */
                FAIL(SW_E_BAD_TRAILER);
            }
            continue;
        }
    }

incomplete:
    ret = SW_INCOMPLETE;
    goto out;
fail:
    state = S_ERROR;
    count = (uint32_t)-ret;
out:
#undef FAIL
    d->state_ = state;
    d->count_ = count;
    d->remaining_ = rem;
    *len = (size_t)(out - base);
    return ret;
}
