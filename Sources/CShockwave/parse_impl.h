/* The request and response head parsers, written once and compiled once per ISA.
 *
 * Included by scan_scalar.c, scan_sse42.c and scan_avx2.c after they define:
 *   SW_ISA        suffix of the generated names (scalar, sse42, avx2)
 *   SW_ISA_ATTR   function attribute enabling the ISA (empty for scalar)
 *   find_target_end(p, end, lo, &q)  first byte in [p, end) outside CT_TARGET, or end; *q = first '?' before it
 *   scan_t                           the scanner's state over the field lines (a cached window of masks)
 *   scan_init(&s, p, end, lo)        prepares the state to scan from p (p < end)
 *   scan_name_end(&s, p, end, lo)    first non-tchar byte in [p, end), or end
 *   scan_value_end(&s, p, end, lo)   first byte in [p, end) that is not HTAB, SP, VCHAR or obs-text, or end
 * The scan_* calls come with non-decreasing p. `lo` is the start of the buffer: kernels may load any bytes in
 * [lo, end), never outside.
 * Compiling the whole parser per ISA lets the kernels inline into the loops, and the dispatch happens once
 * per call instead of once per field. */

#define SW_CAT2(a, b) a##_##b
#define SW_CAT(a, b) SW_CAT2(a, b)
#define SW_FN(name) SW_CAT(name, SW_ISA)

#define SW_STR8(a, b, c, d, e, f, g, h)                                                                            \
    ((uint64_t)(a) | (uint64_t)(b) << 8 | (uint64_t)(c) << 16 | (uint64_t)(d) << 24 | (uint64_t)(e) << 32 |         \
     (uint64_t)(f) << 40 | (uint64_t)(g) << 48 | (uint64_t)(h) << 56)

/* What to return when the bytes ran out at `end`: the head is incomplete, unless `end` is the head limit. */
#define SW_OUT_OF_BYTES() return (len >= max_head ? SW_E_HEADERS_TOO_LARGE : SW_INCOMPLETE)

/* Skips leading empty lines (RFC 9112 2.2). Returns the position of the start line, or NULL with *err set. */
SW_ISA_ATTR static inline const char *SW_FN(skip_empty_lines)(const char *p, const char *end, int *err) {
    while (p < end && (*p == '\r' || *p == '\n')) {
        if (*p == '\n') {
            *err = SW_E_BARE_LF;
            return NULL;
        }
        if (end - p < 2) {
            *err = SW_INCOMPLETE;
            return NULL;
        }
        if (p[1] != '\n') {
            *err = SW_E_BARE_CR;
            return NULL;
        }
        p += 2;
    }
    return p;
}

/* Reads "HTTP/" DIGIT "." DIGIT at p (8 bytes available). Returns the minor version (0 or 1), or a
 * negative SW_E_* code. */
static inline int SW_FN(parse_version)(const char *p) {
    uint64_t v = sw__load8(p);
    if (SW_LIKELY(v == SW_STR8('H', 'T', 'T', 'P', '/', '1', '.', '1')))
        return 1;
    if (v == SW_STR8('H', 'T', 'T', 'P', '/', '1', '.', '0'))
        return 0;
    if ((v & 0xFFFFFFFFFFull) != SW_STR8('H', 'T', 'T', 'P', '/', 0, 0, 0) || p[6] != '.' ||
        !(sw__ctype[(uint8_t)p[5]] & CT_DIGIT) || !(sw__ctype[(uint8_t)p[7]] & CT_DIGIT))
        return SW_E_BAD_VERSION;
    if (p[5] != '1')
        return SW_E_VERSION_NOT_SUPPORTED;
    return 1; /* HTTP/1.2 .. 1.9: a higher minor of the same major is understood as 1.1 (RFC 9110 2.5) */
}

/* Parses the field lines from p to the empty line. Returns the head length or a negative code. */
SW_ISA_ATTR static inline int SW_FN(parse_fields)(const char *buf, size_t len, const char *p, const char *end,
                                                 scan_t *sc, uint32_t max_head, uint32_t max_headers,
                                                 sw_header_t *headers, uint32_t *num_headers, sw_framing_t *fr) {
    uint32_t n = 0;
    for (;;) {
        /* The name runs to the first non-tchar; when that is the first byte, the line is something else. */
        const char *name = p;
        p = scan_name_end(sc, p, end, buf);
        if (SW_UNLIKELY(p == name)) {
            if (p == end)
                goto out_of_bytes;
            if (*p == '\r') {
                if (end - p < 2)
                    goto out_of_bytes;
                if (p[1] != '\n')
                    return SW_E_BARE_CR;
                p += 2;
                break; /* the empty line: end of the head */
            }
            if (*p == '\n')
                return SW_E_BARE_LF;
            if (*p == ' ' || *p == '\t')
                return SW_E_OBS_FOLD; /* RFC 9112 5.2: reject rather than unfold */
            return SW_E_BAD_HEADER_NAME;
        }
        if (SW_UNLIKELY(p == end))
            goto out_of_bytes;
        if (SW_UNLIKELY(*p != ':')) {
            if (*p == ' ' || *p == '\t') {
                /* whitespace then a colon is the classic smuggling vector (RFC 9112 5.1); without a colon the
                 * line is simply not a field line */
                while (p < end && (*p == ' ' || *p == '\t'))
                    ++p;
                if (p == end)
                    goto out_of_bytes;
                return *p == ':' ? SW_E_SPACE_BEFORE_COLON : SW_E_BAD_HEADER_NAME;
            }
            return SW_E_BAD_HEADER_NAME;
        }
        if (SW_UNLIKELY(n == max_headers))
            return SW_E_TOO_MANY_HEADERS;
        uint32_t name_len = (uint32_t)(p - name);
        /* The value ends at the first byte a value cannot hold, which must be the CR of CRLF; SP and HTAB
         * around it are OWS, not value. */
        const char *value = p + 1;
        p = scan_value_end(sc, value, end, buf);
        if (SW_UNLIKELY(end - p < 2))
            goto out_of_bytes_or_error;
        if (SW_UNLIKELY(p[0] != '\r' || p[1] != '\n')) {
            if (p[0] == '\r')
                return SW_E_BARE_CR;
            return p[0] == '\n' ? SW_E_BARE_LF : SW_E_BAD_HEADER_VALUE;
        }
        const char *vend = p;
        /* *vend is the CR, so these reads stay inside the line; the usual single SP costs no branch */
        value += *value == ' ';
        if (SW_UNLIKELY(*value == ' ' || *value == '\t')) {
            while (value < vend && (*value == ' ' || *value == '\t'))
                ++value;
        }
        if (SW_UNLIKELY(vend[-1] == ' ' || vend[-1] == '\t')) {
            while (vend > value && (vend[-1] == ' ' || vend[-1] == '\t'))
                --vend;
        }
        sw_header_t *h = &headers[n++];
        h->name.off = (uint32_t)(name - buf);
        h->name.len = name_len;
        h->value.off = (uint32_t)(value - buf);
        h->value.len = (uint32_t)(vend - value);
        p += 2;
        int id = sw__framing_id(name, name_len);
        if (id != 0) {
            int r = sw__framing_field(buf, h, id, fr);
            if (SW_UNLIKELY(r != 0))
                return r;
        }
    }
    *num_headers = n;
    {
        int r = sw__framing_finish(fr);
        if (SW_UNLIKELY(r != 0))
            return r;
    }
    return (int)(p - buf);

out_of_bytes_or_error:
    /* One byte left: a CR waits for its LF; anything else is already wrong. */
    if (p < end && *p != '\r')
        return *p == '\n' ? SW_E_BARE_LF : SW_E_BAD_HEADER_VALUE;
out_of_bytes:
    SW_OUT_OF_BYTES();
}

/* Matches a standard method followed by SP at p (8 bytes available). Returns its length, or 0. */
static inline uint32_t SW_FN(match_method)(const char *p, uint8_t *id) {
    uint64_t v = sw__load8(p);
    if ((uint32_t)v == (uint32_t)SW_STR8('G', 'E', 'T', ' ', 0, 0, 0, 0)) {
        *id = SW_METHOD_GET;
        return 3;
    }
    if ((v & 0xFFFFFFFFFFull) == SW_STR8('P', 'O', 'S', 'T', ' ', 0, 0, 0)) {
        *id = SW_METHOD_POST;
        return 4;
    }
    if ((uint32_t)v == (uint32_t)SW_STR8('P', 'U', 'T', ' ', 0, 0, 0, 0)) {
        *id = SW_METHOD_PUT;
        return 3;
    }
    if ((v & 0xFFFFFFFFFFull) == SW_STR8('H', 'E', 'A', 'D', ' ', 0, 0, 0)) {
        *id = SW_METHOD_HEAD;
        return 4;
    }
    if ((v & 0xFFFFFFFFFFFFFFull) == SW_STR8('D', 'E', 'L', 'E', 'T', 'E', ' ', 0)) {
        *id = SW_METHOD_DELETE;
        return 6;
    }
    if ((v & 0xFFFFFFFFFFFFull) == SW_STR8('P', 'A', 'T', 'C', 'H', ' ', 0, 0)) {
        *id = SW_METHOD_PATCH;
        return 5;
    }
    return 0;
}

SW_ISA_ATTR static int SW_FN(parse_request)(const char *buf, size_t len, const sw_limits_t *lim,
                                            sw_request_t *req) {
    const uint32_t max_head = lim->max_head;
    /* Never look past the head limit: a longer head is an error whatever follows. */
    const char *end = buf + (len < max_head ? len : max_head);
    int err = 0;
    const char *p = SW_FN(skip_empty_lines)(buf, end, &err);
    if (SW_UNLIKELY(p == NULL)) {
        if (err == SW_INCOMPLETE)
            SW_OUT_OF_BYTES();
        return err;
    }

    /* method */
    const char *method = p;
    uint8_t method_id;
    uint32_t mlen;
    if (SW_LIKELY(end - p >= 8) && (mlen = SW_FN(match_method)(p, &method_id)) != 0) {
        p += mlen + 1;
    } else {
        while (p < end && (sw__ctype[(uint8_t)*p] & CT_TCHAR))
            ++p;
        if (p == end)
            SW_OUT_OF_BYTES();
        if (*p != ' ' || p == method)
            return SW_E_BAD_METHOD;
        mlen = (uint32_t)(p - method);
        method_id = (uint8_t)sw__method_id(method, mlen);
        ++p;
    }

    /* request target */
    const char *target = p, *q = NULL;
    p = find_target_end(p, end, buf, &q);
    if (SW_UNLIKELY((size_t)(p - target) > lim->max_target))
        return SW_E_URI_TOO_LONG;
    if (SW_UNLIKELY(p == end))
        SW_OUT_OF_BYTES();
    if (SW_UNLIKELY(*p != ' ')) {
        if (*p == '\r' || *p == '\n')
            return SW_E_BAD_REQUEST_LINE; /* HTTP/0.9 style, or a missing version */
        return SW_E_BAD_TARGET;
    }
    if (SW_UNLIKELY(p == target))
        return SW_E_BAD_REQUEST_LINE;
    const char *tend = p;
    ++p;

    /* version */
    if (SW_UNLIKELY(end - p < 10)) {
        /* Report what the bytes present already show; otherwise wait. */
        if (end - p >= 8) {
            int minor = SW_FN(parse_version)(p);
            if (minor < 0)
                return minor;
            if (end - p >= 9 && p[8] != '\r')
                return p[8] == '\n' ? SW_E_BARE_LF : SW_E_BAD_VERSION;
        }
        SW_OUT_OF_BYTES();
    }
    int minor = SW_FN(parse_version)(p);
    if (SW_UNLIKELY(minor < 0))
        return minor;
    if (SW_UNLIKELY(p[8] != '\r' || p[9] != '\n')) {
        if (p[8] == '\r')
            return SW_E_BARE_CR;
        return p[8] == '\n' ? SW_E_BARE_LF : SW_E_BAD_VERSION;
    }
    p += 10;

    req->method.off = (uint32_t)(method - buf);
    req->method.len = mlen;
    req->method_id = method_id;
    req->version_minor = (uint8_t)minor;
    req->target.off = (uint32_t)(target - buf);
    req->target.len = (uint32_t)(tend - target);
    uint32_t flags = 0;
    if (SW_LIKELY(*target == '/')) {
        /* origin-form, the common case; CONNECT takes only authority-form (RFC 9112 3.2.3) */
        if (SW_UNLIKELY(method_id == SW_METHOD_CONNECT))
            return SW_E_BAD_TARGET;
        req->target_form = SW_FORM_ORIGIN;
        req->path.off = req->target.off;
        if (q != NULL) {
            flags = SW_F_HAS_QUERY;
            req->path.len = (uint32_t)(q - target);
            req->query.off = (uint32_t)(q + 1 - buf);
            req->query.len = (uint32_t)(tend - q - 1);
        } else {
            req->path.len = req->target.len;
            req->query.off = (uint32_t)(tend - buf);
            req->query.len = 0;
        }
    } else {
        int r = sw__classify_target(buf, req);
        if (SW_UNLIKELY(r != 0))
            return r;
        flags = req->flags;
    }

    sw_framing_t fr = {.flags = flags | FR_IS_REQUEST | (minor == 0 ? FR_HTTP10 : 0)};
    if (SW_UNLIKELY(p == end))
        SW_OUT_OF_BYTES();
    scan_t sc;
    scan_init(&sc, p, end, buf);
    int r = SW_FN(parse_fields)(buf, len, p, end, &sc, max_head, lim->max_headers, req->headers, &req->num_headers,
                                &fr);
    if (SW_UNLIKELY(r < 0))
        return r;
    req->flags = fr.flags;
    req->content_length = fr.content_length;
    if (SW_LIKELY(req->target_form != SW_FORM_ABSOLUTE))
        req->host = fr.host;
    else
        req->flags |= SW_F_HOST; /* the target's authority, set by sw__classify_target (RFC 9112 3.2.2) */
    req->upgrade = fr.upgrade;
    return r;
}

SW_ISA_ATTR static int SW_FN(parse_response)(const char *buf, size_t len, const sw_limits_t *lim,
                                             sw_response_t *res) {
    const uint32_t max_head = lim->max_head;
    const char *end = buf + (len < max_head ? len : max_head);
    int err = 0;
    const char *p = SW_FN(skip_empty_lines)(buf, end, &err);
    if (SW_UNLIKELY(p == NULL)) {
        if (err == SW_INCOMPLETE)
            SW_OUT_OF_BYTES();
        return err;
    }

    /* "HTTP/1.1 200" then SP reason or CRLF: 12 bytes before the line can end */
    if (end - p < 13) {
        if (end - p >= 8) {
            int minor = SW_FN(parse_version)(p);
            if (minor < 0)
                return minor;
        }
        SW_OUT_OF_BYTES();
    }
    int minor = SW_FN(parse_version)(p);
    if (SW_UNLIKELY(minor < 0))
        return minor;
    if (SW_UNLIKELY(p[8] != ' '))
        return SW_E_BAD_VERSION;
    p += 9;
    if (!(sw__ctype[(uint8_t)p[0]] & CT_DIGIT) || !(sw__ctype[(uint8_t)p[1]] & CT_DIGIT) ||
        !(sw__ctype[(uint8_t)p[2]] & CT_DIGIT) || p[0] == '0')
        return SW_E_BAD_STATUS;
    res->status = (uint16_t)((p[0] - '0') * 100 + (p[1] - '0') * 10 + (p[2] - '0'));
    res->version_minor = (uint8_t)minor;
    p += 3;
    const char *reason = p;
    scan_t sc;
    scan_init(&sc, p, end, buf);
    if (*p == ' ') {
        reason = ++p;
        p = scan_value_end(&sc, p, end, buf);
        if (p == end)
            SW_OUT_OF_BYTES();
    }
    if (SW_UNLIKELY(*p != '\r')) {
        if (*p == '\n')
            return SW_E_BARE_LF;
        return SW_E_BAD_STATUS;
    }
    if (end - p < 2)
        SW_OUT_OF_BYTES();
    if (SW_UNLIKELY(p[1] != '\n'))
        return SW_E_BARE_CR;
    res->reason.off = (uint32_t)(reason - buf);
    res->reason.len = (uint32_t)(p - reason);
    p += 2;

    sw_framing_t fr = {.flags = minor == 0 ? FR_HTTP10 : 0};
    int r = SW_FN(parse_fields)(buf, len, p, end, &sc, max_head, lim->max_headers, res->headers, &res->num_headers,
                                &fr);
    if (SW_UNLIKELY(r < 0))
        return r;
    res->flags = fr.flags;
    res->content_length = fr.content_length;
    res->upgrade = fr.upgrade;
    return r;
}

const sw_parsers_t SW_CAT(sw__parsers, SW_ISA) = {SW_FN(parse_request), SW_FN(parse_response)};

#undef SW_OUT_OF_BYTES
