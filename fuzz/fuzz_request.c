// libFuzzer target for sw_parse_request.
//
// Build (from the repository root; or `make -C fuzz build`):
//   /opt/swift/usr/bin/clang -std=c11 -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -ISources/CShockwave/include fuzz/fuzz_request.c Sources/CShockwave/*.c -o fuzz/build/fuzz_request
// Run:
//   fuzz/build/fuzz_request -max_total_time=60 fuzz/build/corpus-request fuzz/corpus/request

/*
 * Every input is parsed
 *   - one-shot with the default limits, and its spans checked against docs/parser.md (inside the head,
 *     path and query inside the target, names are tokens, values trimmed and free of controls, flags
 *     consistent with each other and with the version);
 *   - split at an offset derived from the input: the prefix (copied to a buffer of exactly that size, so
 *     ASan sees any read past it) with prev_len 0, then the whole input with prev_len = prefix length; for
 *     a complete head the result must be identical to the one-shot result;
 *   - byte by byte (inputs up to 1 KiB), with prev_len = previous length: same rule;
 *   - with small limits derived from the input (header array of exactly max_headers entries on the heap);
 *   - under every SIMD path the CPU supports, which must agree with scalar exactly.
 * Any violation aborts with a message. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sw_parse.h"

#define FAIL(...)                                                                                                      \
    do {                                                                                                               \
        fprintf(stderr, "fuzz_request: ");                                                                             \
        fprintf(stderr, __VA_ARGS__);                                                                                  \
        fputc('\n', stderr);                                                                                           \
        abort();                                                                                                       \
    } while (0)
#define CHECK(cond, ...)                                                                                               \
    do {                                                                                                               \
        if (!(cond)) FAIL(__VA_ARGS__);                                                                                \
    } while (0)

typedef struct result {
    int rc;
    sw_request_t r;
    sw_header_t *h; /* exactly max_headers entries on the heap, so ASan sees a write past them */
    uint32_t cap;
} result_t;

static void parse(result_t *out, const uint8_t *buf, size_t len, size_t prev, const sw_limits_t *lim) {
    uint32_t cap = lim ? lim->max_headers : SW_DEFAULT_MAX_HEADERS;
    if (out->h == NULL || out->cap != cap) {
        free(out->h);
        out->h = malloc(cap ? cap * sizeof(sw_header_t) : 1);
        out->cap = cap;
    }
    memset(&out->r, 0, sizeof out->r);
    out->r.headers = out->h;
    out->rc = sw_parse_request(buf, len, prev, lim, &out->r);
}

static int span_eq(sw_span_t a, sw_span_t b) { return a.off == b.off && a.len == b.len; }

static int same(const result_t *a, const result_t *b) {
    if (a->rc != b->rc) return 0;
    if (a->rc <= 0) return 1;
    const sw_request_t *x = &a->r, *y = &b->r;
    if (x->num_headers != y->num_headers || x->flags != y->flags || x->content_length != y->content_length ||
        !span_eq(x->method, y->method) || !span_eq(x->target, y->target) || !span_eq(x->path, y->path) ||
        !span_eq(x->query, y->query) || !span_eq(x->host, y->host) || !span_eq(x->upgrade, y->upgrade) ||
        x->method_id != y->method_id || x->version_minor != y->version_minor || x->target_form != y->target_form)
        return 0;
    for (uint32_t i = 0; i < x->num_headers; i++)
        if (!span_eq(a->h[i].name, b->h[i].name) || !span_eq(a->h[i].value, b->h[i].value)) return 0;
    return 1;
}

#include "fuzz_common.h"

/* The span lies inside the span `outer`. */
static int within(sw_span_t s, sw_span_t outer) {
    return s.off >= outer.off && s.off <= outer.off + outer.len && s.len <= outer.off + outer.len - s.off;
}

static void check_spans(const uint8_t *buf, size_t len, const result_t *res, const sw_limits_t *lim) {
    const sw_request_t *r = &res->r;
    uint32_t n = (uint32_t)res->rc;
    uint32_t max_head = lim ? lim->max_head : SW_DEFAULT_MAX_HEAD;
    uint32_t max_target = lim ? lim->max_target : SW_DEFAULT_MAX_TARGET;
    uint32_t max_headers = lim ? lim->max_headers : SW_DEFAULT_MAX_HEADERS;

    CHECK(n <= len && n <= max_head, "head length %u beyond len %zu or max_head %u", n, len, max_head);
    CHECK(n >= 16 && memcmp(buf + n - 4, "\r\n\r\n", 4) == 0, "head does not end with CRLF CRLF");
    /* Request line: method SP target SP HTTP/1.x CRLF, after leading CRLFs. */
    CHECK(r->method.off % 2 == 0, "method offset %u is odd", r->method.off);
    for (uint32_t i = 0; i < r->method.off; i += 2) CHECK(buf[i] == '\r' && buf[i + 1] == '\n', "junk before method");
    CHECK(r->method.len > 0 && inside(r->method, n), "method span");
    for (uint32_t i = 0; i < r->method.len; i++) CHECK(is_tchar(buf[r->method.off + i]), "non-tchar in method");
    CHECK(r->target.off == r->method.off + r->method.len + 1 && buf[r->target.off - 1] == ' ', "target offset");
    CHECK(r->target.len > 0 && r->target.len <= max_target && inside(r->target, n), "target span");
    uint32_t tend = r->target.off + r->target.len;
    for (uint32_t i = r->target.off; i < tend; i++) CHECK(buf[i] >= 0x21 && buf[i] <= 0x7E, "bad byte in target");
    CHECK(buf[tend] == ' ' && memcmp(buf + tend + 1, "HTTP/", 5) == 0, "no version after target");
    CHECK(r->version_minor <= 1 && r->method_id <= SW_METHOD_PATCH && r->target_form <= SW_FORM_ASTERISK,
          "enum out of range");
    CHECK(buf[tend + 6] == '1' && buf[tend + 7] == '.', "major version not 1");
    CHECK(r->version_minor == (buf[tend + 8] == '0' ? 0 : 1), "version_minor");
    /* Path and query. */
    CHECK(within(r->path, r->target) && within(r->query, r->target), "path or query outside the target");
    if (r->flags & SW_F_HAS_QUERY) {
        CHECK(r->query.off + r->query.len == tend && buf[r->query.off - 1] == '?', "query span");
        CHECK(r->path.off + r->path.len <= r->query.off - 1, "path runs into the query");
    } else {
        CHECK(r->query.off == tend && r->query.len == 0, "query without HAS_QUERY");
        CHECK(memchr(buf + r->target.off, '?', r->target.len) == NULL || r->target_form == SW_FORM_AUTHORITY,
              "? in target without HAS_QUERY");
    }
    switch (r->target_form) {
    case SW_FORM_ORIGIN:
        CHECK(r->path.off == r->target.off && buf[r->path.off] == '/', "origin-form path");
        break;
    case SW_FORM_ASTERISK:
        CHECK(r->target.len == 1 && buf[r->target.off] == '*' && r->method_id == SW_METHOD_OPTIONS, "asterisk-form");
        break;
    case SW_FORM_AUTHORITY:
        CHECK(r->method_id == SW_METHOD_CONNECT && r->path.off == tend && r->path.len == 0 && !(r->flags & SW_F_HAS_QUERY),
              "authority-form");
        break;
    case SW_FORM_ABSOLUTE:
        CHECK(r->path.len == 0 || buf[r->path.off] == '/', "absolute-form path");
        CHECK(r->method_id != SW_METHOD_CONNECT, "CONNECT with absolute-form");
        break;
    }
    if (r->method_id == SW_METHOD_CONNECT) CHECK(r->target_form == SW_FORM_AUTHORITY, "CONNECT without authority-form");
    /* Field lines. */
    CHECK(r->num_headers <= max_headers, "num_headers %u > max_headers %u", r->num_headers, max_headers);
    uint32_t prev_end = tend;
    int hosts = 0, host_ok = 0, upgrade_ok = 0;
    for (uint32_t i = 0; i < r->num_headers; i++) {
        sw_span_t nm = res->h[i].name, v = res->h[i].value;
        CHECK(nm.len > 0 && inside(nm, n) && inside(v, n), "header %u span", i);
        CHECK(nm.off > prev_end && buf[nm.off - 1] == '\n' && buf[nm.off - 2] == '\r', "header %u not at a line start", i);
        for (uint32_t k = 0; k < nm.len; k++) CHECK(is_tchar(buf[nm.off + k]), "header %u name byte", i);
        CHECK(buf[nm.off + nm.len] == ':' && v.off > nm.off + nm.len, "header %u colon", i);
        for (uint32_t k = nm.off + nm.len + 1; k < v.off; k++) CHECK(buf[k] == ' ' || buf[k] == '\t', "header %u OWS", i);
        uint32_t vend = v.off + v.len;
        if (v.len > 0) {
            CHECK(buf[v.off] != ' ' && buf[v.off] != '\t' && buf[vend - 1] != ' ' && buf[vend - 1] != '\t',
                  "header %u value not trimmed", i);
        } else {
            CHECK(buf[v.off] == '\r', "header %u: empty value not at the CR", i);
        }
        for (uint32_t k = v.off; k < vend; k++) {
            uint8_t c = buf[k];
            CHECK(c == '\t' || (c >= 0x20 && c != 0x7F), "header %u value byte 0x%02x", i, c);
        }
        uint32_t e = vend;
        while (buf[e] == ' ' || buf[e] == '\t') e++;
        CHECK(buf[e] == '\r' && buf[e + 1] == '\n', "header %u: value not followed by OWS CRLF", i);
        prev_end = e;
        if (ieq(buf + nm.off, nm.len, "host")) {
            hosts++;
            host_ok |= span_eq(v, r->host);
        }
        if (ieq(buf + nm.off, nm.len, "upgrade")) upgrade_ok = span_eq(v, r->upgrade); /* the last one wins */
    }
    CHECK(prev_end + 4 == n || (r->num_headers == 0 && tend + 13 == n), "head does not end after the last field");
    /* Flags. */
    CHECK(hosts <= 1, "two Host fields accepted");
    if (r->target_form == SW_FORM_ABSOLUTE) {
        /* RFC 9112 3.2.2: the target's authority is the host; the Host field is still required and checked */
        const uint8_t *t = buf + r->target.off, *sep = memmem(t, r->target.len, "://", 3);
        CHECK(sep != NULL && (r->flags & SW_F_HOST), "absolute-form without a host");
        uint32_t a = (uint32_t)(sep + 3 - buf), e = a;
        while (e < tend && buf[e] != '/' && buf[e] != '?') e++;
        CHECK(r->host.off == a && r->host.len == e - a && e > a, "absolute-form host is not the authority");
        CHECK(memchr(buf + a, '@', e - a) == NULL, "userinfo accepted");
    } else {
        CHECK(!!(r->flags & SW_F_HOST) == (hosts == 1), "HOST flag vs Host fields");
        if (r->flags & SW_F_HOST) CHECK(host_ok, "host span is not the Host value");
    }
    for (uint32_t k = r->target.off; k < tend; k++)
        CHECK(buf[k] != '#' && buf[k] != '"' && buf[k] != '<' && buf[k] != '>', "target byte 0x%02x", buf[k]);
    if (r->version_minor == 1) CHECK(hosts == 1, "HTTP/1.1 request without Host accepted");
    if (r->flags & SW_F_UPGRADE) CHECK(upgrade_ok, "upgrade span is not the last Upgrade value");
    if (r->flags & SW_F_CONTENT_LENGTH) {
        CHECK(!(r->flags & SW_F_CHUNKED), "Content-Length and chunked accepted together");
        CHECK(r->content_length <= (1ull << 62), "content_length above 2^62");
    }
    if (r->flags & SW_F_CHUNKED) CHECK(r->version_minor == 1, "chunked in HTTP/1.0");
    if (r->flags & SW_F_EXPECT_CONTINUE) CHECK(r->version_minor == 1, "Expect honoured in HTTP/1.0");
    check_framing(buf, res->h, r->num_headers, r->flags, r->content_length, 1, r->version_minor);
    int ka = r->version_minor == 1 ? !(r->flags & SW_F_CONN_CLOSE)
                                   : (r->flags & SW_F_CONN_KEEP_ALIVE) && !(r->flags & SW_F_CONN_CLOSE);
    CHECK(!!(r->flags & SW_F_KEEP_ALIVE) == ka, "KEEP_ALIVE flag inconsistent");
}

/* Split at `s` and compare with the one-shot result `one`. */
static void check_split(const uint8_t *data, size_t size, size_t s, const sw_limits_t *lim, const result_t *one,
                        result_t *a, result_t *b) {
    uint8_t *prefix = malloc(s ? s : 1);
    memcpy(prefix, data, s);
    parse(a, prefix, s, 0, lim);
    free(prefix);
    if (a->rc > 0) {
        CHECK(same(a, one), "split at %zu: prefix holds a head (%d) but differs from one-shot (%d)", s, a->rc, one->rc);
        return;
    }
    if (a->rc != SW_INCOMPLETE) {
        CHECK(a->rc == one->rc, "split at %zu: prefix error %s differs from one-shot %d", s, sw_error_name(a->rc),
              one->rc);
        return;
    }
    parse(b, data, size, s, lim);
    if (one->rc > 0 || one->rc == SW_INCOMPLETE)
        CHECK(same(b, one), "split at %zu: prev_len result %d differs from one-shot %d", s, b->rc, one->rc);
    else
        CHECK(b->rc == one->rc || b->rc == SW_INCOMPLETE, "split at %zu: prev_len result %d, one-shot error %s", s,
              b->rc, sw_error_name(one->rc));
}

static uint64_t hash(const uint8_t *p, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

/* Byte by byte with prev_len; the first result other than SW_INCOMPLETE must be the one-shot result. */
static void check_bytewise(const uint8_t *data, size_t size, const result_t *one, result_t *a) {
    size_t prev = 0;
    for (size_t len = 1; len <= size; len++) {
        parse(a, data, len, prev, NULL);
        if (a->rc == SW_INCOMPLETE) {
            prev = len;
            continue;
        }
        if (one->rc > 0)
            CHECK(same(a, one) && len == (size_t)one->rc, "byte by byte: %d at %zu, one-shot %d", a->rc, len, one->rc);
        else
            CHECK(a->rc == one->rc, "byte by byte: %d at %zu, one-shot %d", a->rc, len, one->rc);
        return;
    }
    CHECK(one->rc < SW_INCOMPLETE || one->rc == SW_INCOMPLETE || size == 0, "byte by byte: never complete, one-shot %d",
          one->rc);
}

static void check_result(const uint8_t *data, size_t size, const result_t *res, const sw_limits_t *lim) {
    if (res->rc > 0)
        check_spans(data, size, res, lim);
    else
        CHECK(res->rc == SW_INCOMPLETE || (res->rc <= SW_E_BAD_METHOD && res->rc >= SW_E_EXPECTATION_FAILED),
              "unexpected return value %d", res->rc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static result_t one, small_one, a, b, alt;
    uint64_t h = hash(data, size);
    size_t split = (size_t)(h % (size + 1));
    sw_limits_t small = {16 + (uint32_t)(h >> 8) % 600, 1 + (uint32_t)(h >> 20) % 200, (uint32_t)(h >> 32) % 12};
    sw_simd_t saved = sw_simd_active();

    sw_simd_force(SW_SIMD_SCALAR);
    parse(&one, data, size, 0, NULL);
    check_result(data, size, &one, NULL);
    check_split(data, size, split, NULL, &one, &a, &b);
    if (size <= 1024) check_bytewise(data, size, &one, &a);
    parse(&small_one, data, size, 0, &small);
    check_result(data, size, &small_one, &small);
    check_split(data, size, split, &small, &small_one, &a, &b);

    static const sw_simd_t others[] = {SW_SIMD_SSE42, SW_SIMD_AVX2};
    for (size_t i = 0; i < sizeof others / sizeof others[0]; i++) {
        if (!sw_simd_supported(others[i])) continue;
        sw_simd_force(others[i]);
        parse(&alt, data, size, 0, NULL);
        CHECK(same(&alt, &one), "%s disagrees with scalar: %d vs %d", sw_simd_name(others[i]), alt.rc, one.rc);
        check_split(data, size, split, NULL, &one, &a, &b);
        parse(&alt, data, size, 0, &small);
        CHECK(same(&alt, &small_one), "%s disagrees with scalar (small limits): %d vs %d", sw_simd_name(others[i]),
              alt.rc, small_one.rc);
    }
    sw_simd_force(saved);
    return 0;
}
