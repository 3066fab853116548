/* Public entry points of the head parser, the incremental (prev_len) logic, and the parts of parsing that
 * do not depend on the SIMD level: framing fields, target forms, method ids. The hot loops are in
 * parse_impl.h, compiled per ISA by scan_*.c. */
#include "parse_internal.h"

const sw_limits_t sw_default_limits = {
    .max_head = SW_DEFAULT_MAX_HEAD,
    .max_target = SW_DEFAULT_MAX_TARGET,
    .max_headers = SW_DEFAULT_MAX_HEADERS,
};

/* ---- small helpers --------------------------------------------------------------------------------------- */

static inline uint8_t lower(uint8_t c) {
    return (uint8_t)(c | ((uint8_t)(c - 'A') < 26 ? 0x20 : 0));
}

/* Case-insensitive compare of p[0, len) with a lower-case literal of the same length. */
static int eq_nocase(const char *p, const char *lit, size_t len) {
    for (size_t i = 0; i < len; i++)
        if (lower((uint8_t)p[i]) != (uint8_t)lit[i])
            return 0;
    return 1;
}

static inline int is_ows(char c) {
    return c == ' ' || c == '\t';
}

/* Splits a comma list (RFC 9110 5.6.1) into members without surrounding OWS. Returns 1 and sets
 * [*ms, *me) to the next member (possibly empty), advancing *pos; 0 at the end. */
static int next_member(const char **pos, const char *end, const char **ms, const char **me) {
    const char *p = *pos;
    if (p > end)
        return 0;
    while (p < end && is_ows(*p))
        ++p;
    const char *s = p;
    while (p < end && *p != ',')
        ++p;
    const char *e = p;
    while (e > s && is_ows(e[-1]))
        --e;
    *ms = s;
    *me = e;
    *pos = p + 1; /* past the comma; past `end` after the last member */
    return 1;
}

/* ---- framing fields -------------------------------------------------------------------------------------- */

#define CL_MAX (UINT64_C(1) << 62)

static int on_content_length(const char *v, const char *end, sw_framing_t *fr) {
    const char *pos = v, *s, *e;
    while (next_member(&pos, end, &s, &e)) {
        if (s == e)
            return SW_E_BAD_CONTENT_LENGTH;
        uint64_t n = 0;
        for (const char *p = s; p < e; p++) {
            if (!(sw__ctype[(uint8_t)*p] & CT_DIGIT))
                return SW_E_BAD_CONTENT_LENGTH;
            uint64_t d = (uint64_t)(*p - '0');
            if (n > (CL_MAX - d) / 10) /* checked before the multiplication, so it never wraps */
                return SW_E_BAD_CONTENT_LENGTH;
            n = n * 10 + d;
        }
        if ((fr->flags & SW_F_CONTENT_LENGTH) && fr->content_length != n)
            return SW_E_CONFLICTING_CONTENT_LENGTH;
        fr->flags |= SW_F_CONTENT_LENGTH;
        fr->content_length = n;
    }
    return 0;
}

static int on_transfer_encoding(const char *v, const char *end, sw_framing_t *fr) {
    if (fr->flags & FR_HTTP10)
        return SW_E_TE_IN_HTTP10; /* RFC 9112 6.1: an HTTP/1.0 peer cannot mean it; treat as smuggling */
    fr->flags |= FR_TE_PRESENT;
    const char *pos = v, *s, *e;
    while (next_member(&pos, end, &s, &e)) {
        if (s == e)
            continue;
        for (const char *p = s; p < e; p++)
            if (!(sw__ctype[(uint8_t)*p] & CT_TCHAR))
                return SW_E_BAD_TE; /* parameters included: no coding we accept takes any */
        if (fr->flags & SW_F_CHUNKED)
            return SW_E_TE_CHUNKED_NOT_LAST; /* RFC 9112 6.3: chunked must be final, and only once */
        if (e - s == 7 && eq_nocase(s, "chunked", 7))
            fr->flags |= SW_F_CHUNKED;
        else
            return SW_E_TE_NOT_IMPLEMENTED;
    }
    return 0;
}

static void on_connection(const char *v, const char *end, sw_framing_t *fr) {
    /* The two values nearly every request carries, without splitting the list. */
    if (end - v == 10 && (sw__load8(v) | SW_FOLD8) == SW_LIT8("keep-ali") && (v[8] | 0x20) == 'v' &&
        (v[9] | 0x20) == 'e') {
        fr->flags |= SW_F_CONN_KEEP_ALIVE;
        return;
    }
    if (end - v == 5 && (sw__load4(v) | SW_FOLD4) == SW_LIT4("clos") && (v[4] | 0x20) == 'e') {
        fr->flags |= SW_F_CONN_CLOSE;
        return;
    }
    const char *pos = v, *s, *e;
    while (next_member(&pos, end, &s, &e)) {
        size_t n = (size_t)(e - s);
        if (n == 5 && eq_nocase(s, "close", 5))
            fr->flags |= SW_F_CONN_CLOSE;
        else if (n == 10 && eq_nocase(s, "keep-alive", 10))
            fr->flags |= SW_F_CONN_KEEP_ALIVE;
        else if (n == 7 && eq_nocase(s, "upgrade", 7))
            fr->flags |= SW_F_CONN_UPGRADE;
    }
}

int sw__framing_field(const char *buf, const sw_header_t *h, int id, sw_framing_t *fr) {
    const char *v = buf + h->value.off, *ve = v + h->value.len;
    switch (id) {
    case FIELD_HOST:
        if (!(fr->flags & FR_IS_REQUEST))
            return 0;
        if (fr->flags & SW_F_HOST)
            return SW_E_DUPLICATE_HOST; /* RFC 9112 3.2: two hosts, two routing decisions */
        {
            /* branch-free, four at a time: hosts are short and almost always valid */
            unsigned ok = CT_HOST;
            const char *p = v;
            for (; ve - p >= 4; p += 4)
                ok &= sw__ctype[(uint8_t)p[0]] & sw__ctype[(uint8_t)p[1]] & sw__ctype[(uint8_t)p[2]] &
                      sw__ctype[(uint8_t)p[3]];
            for (; p < ve; p++)
                ok &= sw__ctype[(uint8_t)*p];
            if (SW_UNLIKELY(!ok))
                return SW_E_BAD_HOST;
        }
        fr->flags |= SW_F_HOST;
        fr->host = h->value;
        return 0;
    case FIELD_EXPECT:
        if (!(fr->flags & FR_IS_REQUEST) || (fr->flags & FR_HTTP10))
            return 0; /* RFC 9110 10.1.1: ignore 100-continue from HTTP/1.0 */
        if (h->value.len == 12 && eq_nocase(v, "100-continue", 12)) {
            fr->flags |= SW_F_EXPECT_CONTINUE;
            return 0;
        }
        return SW_E_EXPECTATION_FAILED;
    case FIELD_UPGRADE:
        fr->flags |= SW_F_UPGRADE;
        fr->upgrade = h->value;
        return 0;
    case FIELD_CONNECTION:
        on_connection(v, ve, fr);
        return 0;
    case FIELD_CONTENT_LENGTH:
        return on_content_length(v, ve, fr);
    case FIELD_TRANSFER_ENCODING:
        return on_transfer_encoding(v, ve, fr);
    default:
        return 0;
    }
}

/* ---- request line pieces ----------------------------------------------------------------------------------- */

int sw__method_id(const char *p, size_t len) {
    static const struct {
        const char *name;
        uint8_t len, id;
    } methods[] = {
        {"GET", 3, SW_METHOD_GET},         {"HEAD", 4, SW_METHOD_HEAD},     {"POST", 4, SW_METHOD_POST},
        {"PUT", 3, SW_METHOD_PUT},         {"DELETE", 6, SW_METHOD_DELETE}, {"CONNECT", 7, SW_METHOD_CONNECT},
        {"OPTIONS", 7, SW_METHOD_OPTIONS}, {"TRACE", 5, SW_METHOD_TRACE},   {"PATCH", 5, SW_METHOD_PATCH},
    };
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++)
        if (methods[i].len == len && memcmp(methods[i].name, p, len) == 0)
            return methods[i].id;
    return SW_METHOD_OTHER;
}

/* Checks the authority of an absolute-form target: uri-host [ ":" port ] (RFC 3986 3.2), where uri-host is an
 * IP-literal in brackets or a reg-name / IPv4 address of unreserved, sub-delims and pct-encoded bytes, and port is
 * *DIGIT. An empty host is refused (RFC 9110 4.2.1: a recipient must reject an http URI without one), and so is
 * userinfo (`user@host`: RFC 9110 4.2.4 deprecates it, and it is how a target hides its real host). 0 or -1. */
static int check_authority(const char *a, const char *end) {
    const char *p = a;
    if (p < end && *p == '[') {
        const char *close = memchr(p, ']', (size_t)(end - p));
        if (close == NULL || close == p + 1)
            return -1;
        for (++p; p < close; p++)
            if (!(sw__ctype[(uint8_t)*p] & CT_HOST) || *p == '[')
                return -1;
        p = close + 1;
    } else {
        for (; p < end && *p != ':'; p++)
            if (!(sw__ctype[(uint8_t)*p] & CT_HOST) || *p == '[' || *p == ']')
                return -1; /* '@' (userinfo) is not CT_HOST either */
        if (p == a)
            return -1;
    }
    if (p == end)
        return 0;
    if (*p != ':')
        return -1;
    for (++p; p < end; p++)
        if (!(sw__ctype[(uint8_t)*p] & CT_DIGIT))
            return -1;
    return 0;
}

/* Sets path and query from [s, tend) where s is the first byte after the authority. */
static void split_path_query(const char *buf, const char *s, const char *tend, sw_request_t *req) {
    const char *q = memchr(s, '?', (size_t)(tend - s));
    req->path.off = (uint32_t)(s - buf);
    if (q != NULL) {
        req->flags = SW_F_HAS_QUERY;
        req->path.len = (uint32_t)(q - s);
        req->query.off = (uint32_t)(q + 1 - buf);
        req->query.len = (uint32_t)(tend - q - 1);
    } else {
        req->flags = 0;
        req->path.len = (uint32_t)(tend - s);
        req->query.off = (uint32_t)(tend - buf);
        req->query.len = 0;
    }
}

int sw__classify_target(const char *buf, sw_request_t *req) {
    const char *t = buf + req->target.off, *tend = t + req->target.len;
    size_t n = req->target.len;
    req->flags = 0;
    if (req->method_id == SW_METHOD_CONNECT) {
        /* authority-form: uri-host ":" port (RFC 9112 3.2.3) */
        const char *colon = NULL;
        for (const char *p = t; p < tend; p++) {
            if (*p == '/' || *p == '?' || *p == '@' || !(sw__ctype[(uint8_t)*p] & CT_HOST))
                return SW_E_BAD_TARGET;
            if (*p == ':')
                colon = p;
        }
        if (colon == NULL || colon == t || colon + 1 == tend)
            return SW_E_BAD_TARGET;
        for (const char *p = colon + 1; p < tend; p++)
            if (!(sw__ctype[(uint8_t)*p] & CT_DIGIT))
                return SW_E_BAD_TARGET;
        req->target_form = SW_FORM_AUTHORITY;
        req->path.off = req->query.off = (uint32_t)(tend - buf);
        req->path.len = req->query.len = 0;
        return 0;
    }
    if (n == 1 && *t == '*') {
        if (req->method_id != SW_METHOD_OPTIONS)
            return SW_E_BAD_TARGET; /* RFC 9112 3.2.4 */
        req->target_form = SW_FORM_ASTERISK;
        req->path = req->target;
        req->query.off = (uint32_t)(tend - buf);
        req->query.len = 0;
        return 0;
    }
    /* absolute-form: scheme "://" authority path-abempty [ "?" query ], for the schemes a server answers: http and
     * https, case-insensitive (RFC 9110 4.2). Another scheme (`foo://x/`) is no resource of ours. */
    const char *p = t;
    while (p < tend && (sw__ctype[(uint8_t)*p] & CT_SCHEME))
        ++p;
    size_t scheme_len = (size_t)(p - t);
    if (!((scheme_len == 4 && eq_nocase(t, "http", 4)) || (scheme_len == 5 && eq_nocase(t, "https", 5))))
        return SW_E_BAD_TARGET;
    if (tend - p < 3 || p[0] != ':' || p[1] != '/' || p[2] != '/')
        return SW_E_BAD_TARGET;
    p += 3;
    const char *auth = p;
    while (p < tend && *p != '/' && *p != '?')
        ++p;
    if (check_authority(auth, p) != 0)
        return SW_E_BAD_TARGET;
    req->target_form = SW_FORM_ABSOLUTE;
    /* RFC 9112 3.2.2: the target's authority is the request's host, and the Host field is ignored (parse_impl.h
     * keeps this span instead of the field's) */
    req->host.off = (uint32_t)(auth - buf);
    req->host.len = (uint32_t)(p - auth);
    split_path_query(buf, p, tend, req);
    return 0;
}

/* ---- incremental parsing ----------------------------------------------------------------------------------- */

static inline unsigned high_bit(size_t x) {
    return x == 0 ? 0 : (unsigned)(8 * sizeof(size_t)) - (unsigned)__builtin_clzl(x);
}

/* Decides, for a caller that appended bytes [prev, len) to a head that was incomplete at prev, whether the
 * head must be parsed again: when the new bytes end the head (CRLF CRLF not inside the leading empty lines),
 * hold a bare CR or LF, reach the head limit, or cross a power of two of the length. The last rule bounds the
 * delay before an earlier error shows to a doubling while keeping total work linear. */
static int needs_parse(const char *buf, size_t len, size_t prev, uint32_t max_head) {
    if (len >= max_head || high_bit(prev) != high_bit(len))
        return 1;
    size_t i = prev >= 3 ? prev - 3 : 0;
    for (; i < len; i++) {
        char c = buf[i];
        if (c == '\n') {
            if (i == 0 || buf[i - 1] != '\r')
                return 1;
            if (i >= 4 && buf[i - 2] == '\n' && buf[i - 3] == '\r' && buf[i - 4] != '\n')
                return 1;
        } else if (c == '\r') {
            if (i + 1 < len && buf[i + 1] != '\n')
                return 1;
        }
    }
    return 0;
}

/* Below 64 bytes the vector scanners cannot load a full window without copying, and the copy costs more than
 * the scalar scan of so few bytes; measured on minimal.http (35 B) in bench/c. */
#define SW_VECTOR_MIN_LEN 64

static inline const sw_parsers_t *parsers_for_len(size_t len) {
    return SW_UNLIKELY(len < SW_VECTOR_MIN_LEN) ? &sw__parsers_scalar : sw__active_parsers();
}

int sw_parse_request(const void *buf, size_t len, size_t prev_len, const sw_limits_t *limits, sw_request_t *req) {
    const sw_limits_t *lim = limits != NULL ? limits : &sw_default_limits;
    if (prev_len != 0 && prev_len <= len && !needs_parse(buf, len, prev_len, lim->max_head))
        return SW_INCOMPLETE;
    return parsers_for_len(len)->request(buf, len, lim, req);
}

int sw_parse_response(const void *buf, size_t len, size_t prev_len, const sw_limits_t *limits, sw_response_t *res) {
    const sw_limits_t *lim = limits != NULL ? limits : &sw_default_limits;
    if (prev_len != 0 && prev_len <= len && !needs_parse(buf, len, prev_len, lim->max_head))
        return SW_INCOMPLETE;
    return parsers_for_len(len)->response(buf, len, lim, res);
}

int sw_response_has_body(int status, int request_method_id) {
    /* RFC 9112 6.3: HEAD replies, 1xx, 204 and 304 never have content; a 2xx to CONNECT switches to a tunnel */
    if (request_method_id == SW_METHOD_HEAD)
        return 0;
    if (status < 200 || status == 204 || status == 304)
        return 0;
    if (request_method_id == SW_METHOD_CONNECT && status >= 200 && status < 300)
        return 0;
    return 1;
}
