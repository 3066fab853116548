/* Reference checks shared by fuzz_request.c and fuzz_response.c: token and list helpers, the framing facts
 * recomputed from the field values by the rules of docs/parser.md, and span bounds. Included after each target
 * defines CHECK. */
#ifndef FUZZ_COMMON_H
#define FUZZ_COMMON_H

static int is_tchar(uint8_t c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static int ieq(const uint8_t *p, uint32_t len, const char *s) {
    if (strlen(s) != len) return 0;
    for (uint32_t i = 0; i < len; i++) {
        uint8_t c = p[i];
        if (c >= 'A' && c <= 'Z') c += 32;
        if (c != (uint8_t)s[i]) return 0;
    }
    return 1;
}

/* Reference checks of the framing facts against the field values, by the rules of docs/parser.md. */
static int ows(uint8_t c) { return c == ' ' || c == '\t'; }

/* Calls `on_member` for each comma-separated member of [p, e), OWS trimmed, empty members included. */
#define FOR_EACH_MEMBER(p0, e0, mp, ml, body)                                                                          \
    do {                                                                                                               \
        const uint8_t *p_ = (p0), *e_ = (e0);                                                                          \
        for (;;) {                                                                                                     \
            const uint8_t *s_ = p_;                                                                                    \
            while (p_ < e_ && *p_ != ',') p_++;                                                                        \
            const uint8_t *t_ = p_;                                                                                    \
            while (s_ < t_ && ows(*s_)) s_++;                                                                          \
            while (t_ > s_ && ows(t_[-1])) t_--;                                                                       \
            const uint8_t *mp = s_;                                                                                    \
            uint32_t ml = (uint32_t)(t_ - s_);                                                                         \
            body;                                                                                                      \
            if (p_ == e_) break;                                                                                       \
            p_++;                                                                                                      \
        }                                                                                                              \
    } while (0)

static void check_framing(const uint8_t *buf, const sw_header_t *h, uint32_t nh, uint32_t flags, uint64_t cl,
                          int is_request, int minor) {
    int has_cl = 0, has_te = 0, has_upgrade = 0, has_expect = 0;
    uint32_t conn = 0;
    for (uint32_t i = 0; i < nh; i++) {
        const uint8_t *nm = buf + h[i].name.off, *v = buf + h[i].value.off, *ve = v + h[i].value.len;
        uint32_t nl = h[i].name.len;
        if (ieq(nm, nl, "content-length")) {
            has_cl = 1;
            FOR_EACH_MEMBER(v, ve, m, ml, {
                uint64_t x = 0;
                CHECK(ml > 0, "accepted an empty Content-Length member");
                for (uint32_t k = 0; k < ml; k++) {
                    CHECK(m[k] >= '0' && m[k] <= '9', "accepted a non-digit in Content-Length");
                    CHECK(x <= ((1ull << 62) - (uint64_t)(m[k] - '0')) / 10, "accepted a Content-Length above 2^62");
                    x = x * 10 + (uint64_t)(m[k] - '0');
                }
                CHECK(x == cl, "Content-Length member %llu but content_length %llu", (unsigned long long)x,
                      (unsigned long long)cl);
            });
        } else if (ieq(nm, nl, "transfer-encoding")) {
            has_te = 1;
        } else if (ieq(nm, nl, "upgrade")) {
            has_upgrade = 1;
        } else if (ieq(nm, nl, "expect")) {
            has_expect = 1;
            if (is_request && minor == 1) CHECK(ieq(v, (uint32_t)(ve - v), "100-continue"), "accepted Expect value");
        } else if (ieq(nm, nl, "connection")) {
            FOR_EACH_MEMBER(v, ve, m, ml, {
                if (ieq(m, ml, "close")) conn |= SW_F_CONN_CLOSE;
                if (ieq(m, ml, "keep-alive")) conn |= SW_F_CONN_KEEP_ALIVE;
                if (ieq(m, ml, "upgrade")) conn |= SW_F_CONN_UPGRADE;
            });
        } else if (is_request && ieq(nm, nl, "host")) {
            for (const uint8_t *k = v; k < ve; k++)
                CHECK((*k >= 'a' && *k <= 'z') || (*k >= 'A' && *k <= 'Z') || (*k >= '0' && *k <= '9') ||
                          (*k != 0 && strchr("-._~!$&'()*+,;=:[]%", *k) != NULL),
                      "accepted Host byte 0x%02x", *k);
        }
    }
    CHECK(!!(flags & SW_F_CONTENT_LENGTH) == has_cl, "CONTENT_LENGTH flag vs fields");
    CHECK(!!(flags & SW_F_CHUNKED) == has_te, "CHUNKED flag vs Transfer-Encoding fields");
    CHECK(!(has_cl && has_te), "accepted Content-Length with Transfer-Encoding");
    CHECK(!!(flags & SW_F_UPGRADE) == has_upgrade, "UPGRADE flag vs fields");
    CHECK((flags & (SW_F_CONN_CLOSE | SW_F_CONN_KEEP_ALIVE | SW_F_CONN_UPGRADE)) == conn, "Connection flags 0x%x vs 0x%x",
          flags, conn);
    if (is_request)
        CHECK(!!(flags & SW_F_EXPECT_CONTINUE) == (has_expect && minor == 1), "EXPECT_CONTINUE flag vs fields");
}

/* The span lies in [0, end). */
static int inside(sw_span_t s, uint32_t end) { return s.off <= end && s.len <= end - s.off; }

#endif
