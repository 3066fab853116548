// sw_parse_request against docs/parser.md, case by case: a table of (input, expected spans or error, note).
// Every case runs one-shot, split at every offset, and byte by byte, with the input ending at a guard page,
// under every SIMD path the CPU supports.

import CShockwave
import Glibc
import Testing

// MARK: - Table types

/// What a successful parse must report. Method and target strings default to the request line's words;
/// path and query offsets are derived from the target by the contract's rules (see `referenceSpans`).
struct ExpectedRequest: Sendable {
    var method: String
    var methodID: UInt8
    var target: String
    var form: UInt8
    var path: String?
    var query: String?
    var minor: UInt8
    var headers: [H]
    var flags: F
    var contentLength: UInt64?
}

struct RequestCase: Sendable, CustomTestStringConvertible {
    var note: String
    var input: [UInt8]
    var limits: Limits?
    var outcome: Outcome
    var expect: ExpectedRequest?
    var testDescription: String {
        let l = limits.map { " [\($0)]" } ?? ""
        return "\(note)\(l): \(escaped(input, limit: 60))"
    }
}

private func id(_ m: sw_method_t) -> UInt8 { UInt8(m.rawValue) }
private func form(_ f: sw_target_form_t) -> UInt8 { UInt8(f.rawValue) }

/// A valid head. `body` bytes follow it in the input; the parser must stop at the head.
private func ok(
    _ note: String, _ head: String, body: String = "", limits: Limits? = nil,
    method: String? = nil, id methodID: sw_method_t = SW_METHOD_GET, target: String? = nil,
    form f: sw_target_form_t = SW_FORM_ORIGIN, path: String? = nil, query: String? = nil, minor: UInt8 = 1,
    headers: [H], flags: F, cl: UInt64? = nil
) -> RequestCase {
    let headBytes = latin1(head)
    precondition(flags.contains(.contentLength) == (cl != nil), "\(note): cl iff CONTENT_LENGTH")
    // Defaults from the request line (after leading CRLFs): the first two SP-separated words.
    var start = 0
    while start + 1 < headBytes.count, headBytes[start] == 0x0D, headBytes[start + 1] == 0x0A { start += 2 }
    let lineEnd = headBytes.find(crlf, from: start)!
    let words = headBytes[start..<lineEnd].split(separator: 0x20, omittingEmptySubsequences: false)
    let m = method ?? String(words[0].map { Character(Unicode.Scalar($0)) })
    let t = target ?? String(words[1].map { Character(Unicode.Scalar($0)) })
    return RequestCase(
        note: note, input: headBytes + latin1(body), limits: limits, outcome: .head(headBytes.count),
        expect: ExpectedRequest(
            method: m, methodID: id(methodID), target: t, form: form(f), path: path, query: query,
            minor: minor, headers: headers, flags: flags, contentLength: cl))
}

/// An input whose one-shot parse must fail with `e`.
private func bad(
    _ note: String, _ input: String, _ e: sw_error_t, limits: Limits? = nil, from: Int? = nil,
    fromIncremental: Bool = false
) -> RequestCase {
    RequestCase(
        note: note, input: latin1(input), limits: limits,
        outcome: .error(code(e), from: from, fromIncremental: fromIncremental), expect: nil)
}

/// A valid head that has not ended: every call must return SW_INCOMPLETE.
private func partial(_ note: String, _ input: String, limits: Limits? = nil) -> RequestCase {
    RequestCase(note: note, input: latin1(input), limits: limits, outcome: .incomplete, expect: nil)
}

private let hostKA: F = [.host, .keepAlive]
private let hostA = [H("Host", "a")]
private let small = Limits(head: 64, target: 16, headers: 4)

private func req(_ line: String, _ fields: String = "Host: a\r\n") -> String { line + "\r\n" + fields + "\r\n" }
private func rep(_ s: String, _ n: Int) -> String { String(repeating: s, count: n) }

// MARK: - The table

enum RequestTable {
    static let cases: [RequestCase] =
        requestLine + versions + leadingLines + targets + targetForms + fieldLines + fieldValues + limitsCases
        + contentLength + transferEncoding + host + connection + expect + upgrade + ordering + bodies
        + benchRequests + generated

    static let requestLine: [RequestCase] = [
        ok("minimal request", req("GET / HTTP/1.1"), headers: hostA, flags: hostKA),
        ok("HEAD gets its id", req("HEAD / HTTP/1.1"), id: SW_METHOD_HEAD, headers: hostA, flags: hostKA),
        ok("POST gets its id", req("POST /submit HTTP/1.1", "Host: a\r\nContent-Length: 0\r\n"),
           id: SW_METHOD_POST, headers: [H("Host", "a"), H("Content-Length", "0")],
           flags: [.host, .keepAlive, .contentLength], cl: 0),
        ok("PUT gets its id", req("PUT /x HTTP/1.1"), id: SW_METHOD_PUT, headers: hostA, flags: hostKA),
        ok("DELETE gets its id", req("DELETE /x HTTP/1.1"), id: SW_METHOD_DELETE, headers: hostA, flags: hostKA),
        ok("TRACE gets its id", req("TRACE / HTTP/1.1"), id: SW_METHOD_TRACE, headers: hostA, flags: hostKA),
        ok("PATCH gets its id", req("PATCH /x HTTP/1.1"), id: SW_METHOD_PATCH, headers: hostA, flags: hostKA),
        ok("OPTIONS with an origin-form target", req("OPTIONS /x HTTP/1.1"), id: SW_METHOD_OPTIONS,
           headers: hostA, flags: hostKA),
        ok("methods are case-sensitive: get is OTHER", req("get / HTTP/1.1"), id: SW_METHOD_OTHER,
           headers: hostA, flags: hostKA),
        ok("an unknown token method is OTHER", req("PROPFIND /dav HTTP/1.1"), id: SW_METHOD_OTHER,
           headers: hostA, flags: hostKA),
        ok("a method that extends GET is OTHER", req("GETX / HTTP/1.1"), id: SW_METHOD_OTHER,
           headers: hostA, flags: hostKA),
        ok("a prefix of GET is OTHER", req("GE / HTTP/1.1"), id: SW_METHOD_OTHER, headers: hostA, flags: hostKA),
        ok("CONNECTX is OTHER and may take origin-form", req("CONNECTX / HTTP/1.1"), id: SW_METHOD_OTHER,
           headers: hostA, flags: hostKA),
        ok("a one-byte method", req("M / HTTP/1.1"), id: SW_METHOD_OTHER, headers: hostA, flags: hostKA),
        ok("every tchar is allowed in a method", req("!#$%&'*+-.^_`|~0123456789abcXYZ / HTTP/1.1"),
           id: SW_METHOD_OTHER, headers: hostA, flags: hostKA),
        ok("a 100-byte method", req(rep("M", 100) + " / HTTP/1.1"), id: SW_METHOD_OTHER, headers: hostA,
           flags: hostKA),
        bad("empty method (line starts with SP)", req(" / HTTP/1.1"), SW_E_BAD_METHOD),
        bad("request line starting with SP before the method", req(" GET / HTTP/1.1"), SW_E_BAD_METHOD),
        bad("DQUOTE in the method", req("G\"T / HTTP/1.1"), SW_E_BAD_METHOD),
        bad("parenthesis in the method", req("GE(T / HTTP/1.1"), SW_E_BAD_METHOD),
        bad("HTAB after the method", req("GET\t/ HTTP/1.1"), SW_E_BAD_METHOD),
        bad("NUL in the method", req("G\0T / HTTP/1.1"), SW_E_BAD_METHOD),
        bad("obs-text in the method", req("G\u{80}T / HTTP/1.1"), SW_E_BAD_METHOD),
        bad("DEL in the method", req("GE\u{7f}T / HTTP/1.1"), SW_E_BAD_METHOD),
        bad("@ in the method", req("G@T / HTTP/1.1"), SW_E_BAD_METHOD),
        bad("colon after the method", req("GET: / HTTP/1.1"), SW_E_BAD_METHOD),
        bad("braces in the method", req("{GET} / HTTP/1.1"), SW_E_BAD_METHOD),
        bad("non-token byte at the end of a long method", req(rep("M", 70) + "/ / HTTP/1.1"), SW_E_BAD_METHOD),
        bad("two SPs: empty target", req("GET  / HTTP/1.1"), SW_E_BAD_REQUEST_LINE),
        bad("two SPs after a long method: empty target", req("PROPPATCH  / HTTP/1.1"), SW_E_BAD_REQUEST_LINE),
        bad("HTTP/0.9 style request line (CRLF in the target)", "GET /\r\nHost: a\r\n\r\n",
            SW_E_BAD_REQUEST_LINE),
        bad("HTTP/0.9 style request line, longer target", "GET /index.html\r\n\r\n", SW_E_BAD_REQUEST_LINE),
    ]

    static let versions: [RequestCase] = [
        ok("HTTP/1.0 needs no Host and does not keep alive", "GET / HTTP/1.0\r\n\r\n", minor: 0, headers: [],
           flags: []),
        ok("HTTP/1.0 with Host", req("GET / HTTP/1.0"), minor: 0, headers: hostA, flags: [.host]),
        ok("HTTP/1.2 is accepted as minor 1", req("GET / HTTP/1.2"), minor: 1, headers: hostA, flags: hostKA),
        ok("HTTP/1.9 is accepted as minor 1", req("GET / HTTP/1.9"), minor: 1, headers: hostA, flags: hostKA),
        bad("HTTP/0.9 is not supported", req("GET / HTTP/0.9"), SW_E_VERSION_NOT_SUPPORTED),
        bad("HTTP/2.0 is not supported", req("GET / HTTP/2.0"), SW_E_VERSION_NOT_SUPPORTED),
        bad("HTTP/3.0 is not supported", req("GET / HTTP/3.0"), SW_E_VERSION_NOT_SUPPORTED),
        bad("HTTP/9.9 is not supported", req("GET / HTTP/9.9"), SW_E_VERSION_NOT_SUPPORTED),
        bad("HTTP/0.0 is not supported", "GET / HTTP/0.0\r\n\r\n", SW_E_VERSION_NOT_SUPPORTED),
        bad("lower-case http", req("GET / http/1.1"), SW_E_BAD_VERSION),
        bad("two-digit minor", req("GET / HTTP/1.10"), SW_E_BAD_VERSION),
        bad("two-digit major", req("GET / HTTP/10.0"), SW_E_BAD_VERSION),
        bad("no dot", req("GET / HTTP/11"), SW_E_BAD_VERSION),
        bad("no minor", req("GET / HTTP/1."), SW_E_BAD_VERSION),
        bad("major only", req("GET / HTTP/1"), SW_E_BAD_VERSION),
        bad("HTTP/2 without minor", req("GET / HTTP/2"), SW_E_BAD_VERSION),
        bad("letter as minor", req("GET / HTTP/1.x"), SW_E_BAD_VERSION),
        bad("HTTPS/1.1", req("GET / HTTPS/1.1"), SW_E_BAD_VERSION),
        bad("HTT/1.1", req("GET / HTT/1.1"), SW_E_BAD_VERSION),
        bad("backslash instead of slash", req("GET / HTTP\\1.1"), SW_E_BAD_VERSION),
        bad("SP inside the version", req("GET / HTTP/ 1.1"), SW_E_BAD_VERSION),
        bad("trailing SP after the version", req("GET / HTTP/1.1 "), SW_E_BAD_VERSION),
        bad("trailing HTAB after the version", req("GET / HTTP/1.1\t"), SW_E_BAD_VERSION),
        bad("trailing letter after the version", req("GET / HTTP/1.1x"), SW_E_BAD_VERSION),
        bad("a fourth word after the version", req("GET / HTTP/1.1 extra"), SW_E_BAD_VERSION),
        bad("SP inside the target leaves junk as the version", req("GET /a b HTTP/1.1"), SW_E_BAD_VERSION),
        bad("request line ends in CR CR LF", "GET / HTTP/1.1\r\r\nHost: a\r\n\r\n", SW_E_BARE_CR),
        bad("request line ends in bare LF", "GET / HTTP/1.1\nHost: a\r\n\r\n", SW_E_BARE_LF),
        bad("HTTP/1.1 without Host", "GET / HTTP/1.1\r\n\r\n", SW_E_MISSING_HOST),
        bad("HTTP/1.1 with other fields but no Host", req("GET / HTTP/1.1", "Accept: */*\r\nX: y\r\n"),
            SW_E_MISSING_HOST),
    ]

    static let leadingLines: [RequestCase] = [
        ok("one leading CRLF is skipped", "\r\n" + req("GET / HTTP/1.1"), headers: hostA, flags: hostKA),
        ok("three leading CRLFs are skipped", "\r\n\r\n\r\n" + req("GET /x HTTP/1.1"), headers: hostA,
           flags: hostKA),
        bad("leading bare LF", "\n" + req("GET / HTTP/1.1"), SW_E_BARE_LF),
        bad("CRLF then a bare LF", "\r\n\n" + req("GET / HTTP/1.1"), SW_E_BARE_LF),
        bad("leading bare CR", "\r" + req("GET / HTTP/1.1"), SW_E_BARE_CR),
        bad("leading CR CR LF", "\r\r\n" + req("GET / HTTP/1.1"), SW_E_BARE_CR),
        partial("only empty lines so far", "\r\n\r\n\r\n"),
        partial("request line and one field, no blank line yet", "GET / HTTP/1.1\r\nHost: a\r\n"),
        partial("everything but the final LF", "GET / HTTP/1.1\r\nHost: a\r\n\r"),
        partial("request line cut in the version", "GET / HTTP/1."),
    ]

    static let targets: [RequestCase] = [
        ok("path and query", req("GET /a/b?c=d HTTP/1.1"), path: "/a/b", query: "c=d", headers: hostA,
           flags: [.host, .keepAlive, .hasQuery]),
        ok("an empty query still sets HAS_QUERY", req("GET /? HTTP/1.1"), path: "/", query: "", headers: hostA,
           flags: [.host, .keepAlive, .hasQuery]),
        ok("the query runs from the first ? to the end", req("GET /a?b?c HTTP/1.1"), path: "/a", query: "b?c",
           headers: hostA, flags: [.host, .keepAlive, .hasQuery]),
        bad("a fragment is never sent (RFC 9112 3.2)", req("GET /a#frag HTTP/1.1"), SW_E_BAD_TARGET),
        bad("a fragment after the query", req("GET /a?b#c HTTP/1.1"), SW_E_BAD_TARGET),
        bad("a lone #", req("GET /# HTTP/1.1"), SW_E_BAD_TARGET),
        bad("a double quote in the target", req("GET /a\"b HTTP/1.1"), SW_E_BAD_TARGET),
        bad("< in the target", req("GET /<script> HTTP/1.1"), SW_E_BAD_TARGET),
        bad("> in the query", req("GET /a?b> HTTP/1.1"), SW_E_BAD_TARGET),
        bad("# after 40 target bytes (vector loop)", req("GET /" + rep("a", 40) + "#f HTTP/1.1"), SW_E_BAD_TARGET),
        bad("\" after 70 target bytes", req("GET /" + rep("a", 70) + "\" HTTP/1.1"), SW_E_BAD_TARGET),
        ok("bytes browsers send unencoded are allowed", req("GET /a|b[c]?ids[]=1&f={x|y}&c=^`\\ HTTP/1.1"),
           path: "/a|b[c]", query: "ids[]=1&f={x|y}&c=^`\\", headers: hostA, flags: [.host, .keepAlive, .hasQuery]),
        ok("percent-encoding is not judged by the parser", req("GET /100%?x=%zz%4 HTTP/1.1"), path: "/100%",
           query: "x=%zz%4", headers: hostA, flags: [.host, .keepAlive, .hasQuery]),
        ok("double slash path", req("GET //double HTTP/1.1"), path: "//double", headers: hostA, flags: hostKA),
        ok("percent-encoded bytes", req("GET /%20%FF?q=%00 HTTP/1.1"), path: "/%20%FF", query: "q=%00",
           headers: hostA, flags: [.host, .keepAlive, .hasQuery]),
        ok("every VCHAR but \", #, <, > is allowed in the target",
           req("GET /!$%&'()*+,-./0123456789:;=?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~ HTTP/1.1"),
           path: "/!$%&'()*+,-./0123456789:;=",
           query: "@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~", headers: hostA,
           flags: [.host, .keepAlive, .hasQuery]),
        ok("a 300-byte path with a query", req("GET /" + rep("p", 299) + "?" + rep("q", 40) + " HTTP/1.1"),
           headers: hostA, flags: [.host, .keepAlive, .hasQuery]),
        bad("DEL in the target", req("GET /\u{7f} HTTP/1.1"), SW_E_BAD_TARGET),
        bad("obs-text 0x80 in the target", req("GET /\u{80} HTTP/1.1"), SW_E_BAD_TARGET),
        bad("obs-text 0xFF in the target", req("GET /a\u{ff} HTTP/1.1"), SW_E_BAD_TARGET),
        bad("control byte in the target", req("GET /\u{01} HTTP/1.1"), SW_E_BAD_TARGET),
        bad("HTAB in the target", req("GET /a\tb HTTP/1.1"), SW_E_BAD_TARGET),
        bad("NUL in the target", req("GET /\0 HTTP/1.1"), SW_E_BAD_TARGET),
        bad("ESC in the query", req("GET /a?b\u{1b}c HTTP/1.1"), SW_E_BAD_TARGET),
        bad("bad byte after 70 target bytes", req("GET /" + rep("a", 70) + "\u{7f} HTTP/1.1"), SW_E_BAD_TARGET),
        bad("origin-form must start with /", req("GET a/b HTTP/1.1"), SW_E_BAD_TARGET),
        bad("target that is only a query", req("GET ?a HTTP/1.1"), SW_E_BAD_TARGET),
        bad("percent-encoded slash is not a slash", req("GET %2F HTTP/1.1"), SW_E_BAD_TARGET),
    ]

    static let targetForms: [RequestCase] = [
        ok("asterisk-form with OPTIONS", req("OPTIONS * HTTP/1.1"), id: SW_METHOD_OPTIONS, form: SW_FORM_ASTERISK,
           path: "*", query: "", headers: hostA, flags: hostKA),
        bad("asterisk-form with GET", req("GET * HTTP/1.1"), SW_E_BAD_TARGET),
        bad("asterisk-form with lower-case options (OTHER)", req("options * HTTP/1.1"), SW_E_BAD_TARGET),
        bad("asterisk followed by more bytes", req("OPTIONS *a HTTP/1.1"), SW_E_BAD_TARGET),
        bad("two asterisks", req("OPTIONS ** HTTP/1.1"), SW_E_BAD_TARGET),
        bad("asterisk then slash", req("OPTIONS */ HTTP/1.1"), SW_E_BAD_TARGET),
        ok("authority-form with CONNECT", req("CONNECT example.com:443 HTTP/1.1"), id: SW_METHOD_CONNECT,
           form: SW_FORM_AUTHORITY, path: "", query: "", headers: hostA, flags: hostKA),
        ok("authority-form with an IPv6 literal", req("CONNECT [::1]:8080 HTTP/1.1"), id: SW_METHOD_CONNECT,
           form: SW_FORM_AUTHORITY, path: "", query: "", headers: hostA, flags: hostKA),
        ok("shortest authority-form", req("CONNECT a:1 HTTP/1.1"), id: SW_METHOD_CONNECT, form: SW_FORM_AUTHORITY,
           path: "", query: "", headers: hostA, flags: hostKA),
        ok("authority-form with an IPv4 address", req("CONNECT 127.0.0.1:65535 HTTP/1.1"),
           id: SW_METHOD_CONNECT, form: SW_FORM_AUTHORITY, path: "", query: "", headers: hostA, flags: hostKA),
        bad("CONNECT without a port", req("CONNECT example.com HTTP/1.1"), SW_E_BAD_TARGET),
        bad("CONNECT with an empty port", req("CONNECT example.com: HTTP/1.1"), SW_E_BAD_TARGET),
        bad("CONNECT with a non-digit port", req("CONNECT example.com:44a HTTP/1.1"), SW_E_BAD_TARGET),
        bad("CONNECT with userinfo", req("CONNECT user@example.com:443 HTTP/1.1"), SW_E_BAD_TARGET),
        bad("CONNECT with a path", req("CONNECT example.com:443/ HTTP/1.1"), SW_E_BAD_TARGET),
        bad("CONNECT with a query", req("CONNECT a:1?x HTTP/1.1"), SW_E_BAD_TARGET),
        bad("CONNECT with origin-form", req("CONNECT / HTTP/1.1"), SW_E_BAD_TARGET),
        bad("CONNECT with absolute-form", req("CONNECT http://a:1/ HTTP/1.1"), SW_E_BAD_TARGET),
        bad("CONNECT with asterisk-form", req("CONNECT * HTTP/1.1"), SW_E_BAD_TARGET),
        bad("authority-form with GET", req("GET example.com:443 HTTP/1.1"), SW_E_BAD_TARGET),
        bad("authority-form with lower-case connect (OTHER)", req("connect a:1 HTTP/1.1"), SW_E_BAD_TARGET),
        ok("absolute-form with path and query", req("GET http://example.com/a?b HTTP/1.1"),
           form: SW_FORM_ABSOLUTE, path: "/a", query: "b", headers: hostA, flags: [.host, .keepAlive, .hasQuery]),
        ok("absolute-form without a path: path empty at the end", req("GET http://example.com HTTP/1.1"),
           form: SW_FORM_ABSOLUTE, path: "", query: "", headers: hostA, flags: hostKA),
        ok("absolute-form with a query but no path", req("GET http://example.com?x HTTP/1.1"),
           form: SW_FORM_ABSOLUTE, path: "", query: "x", headers: hostA, flags: [.host, .keepAlive, .hasQuery]),
        ok("absolute-form with a port", req("GET https://a:8080/p/q HTTP/1.1"), form: SW_FORM_ABSOLUTE,
           path: "/p/q", query: "", headers: hostA, flags: hostKA),
        ok("absolute-form with an upper-case scheme", req("GET HTTP://A/ HTTP/1.1"), form: SW_FORM_ABSOLUTE,
           path: "/", query: "", headers: hostA, flags: hostKA),
        bad("a scheme other than http or https", req("GET svn+ssh.x-1://h/r HTTP/1.1"), SW_E_BAD_TARGET),
        bad("scheme foo", req("GET foo://x/ HTTP/1.1"), SW_E_BAD_TARGET),
        bad("scheme ftp", req("GET ftp://x/ HTTP/1.1"), SW_E_BAD_TARGET),
        bad("scheme httpx", req("GET httpx://x/ HTTP/1.1"), SW_E_BAD_TARGET),
        bad("scheme htt", req("GET htt://x/ HTTP/1.1"), SW_E_BAD_TARGET),
        ok("scheme HtTpS", req("GET HtTpS://x/ HTTP/1.1"), form: SW_FORM_ABSOLUTE, path: "/", query: "",
           headers: hostA, flags: hostKA),
        bad("absolute-form with a fragment", req("GET http://a/b?c#d HTTP/1.1"), SW_E_BAD_TARGET),
        bad("absolute-form with userinfo", req("GET http://user@evil.example/ HTTP/1.1"), SW_E_BAD_TARGET),
        bad("absolute-form with user and password", req("GET http://u:p@a/ HTTP/1.1"), SW_E_BAD_TARGET),
        bad("absolute-form with an empty host and a port", req("GET http://:80/ HTTP/1.1"), SW_E_BAD_TARGET),
        bad("absolute-form with no host", req("GET http:///a HTTP/1.1"), SW_E_BAD_TARGET),
        bad("absolute-form with a non-digit port", req("GET http://a:8x/ HTTP/1.1"), SW_E_BAD_TARGET),
        bad("absolute-form with two ports", req("GET http://a:1:2/ HTTP/1.1"), SW_E_BAD_TARGET),
        bad("absolute-form with a bracket in a reg-name", req("GET http://a]b/ HTTP/1.1"), SW_E_BAD_TARGET),
        bad("absolute-form with an unclosed IP-literal", req("GET http://[::1/ HTTP/1.1"), SW_E_BAD_TARGET),
        bad("absolute-form with an empty IP-literal", req("GET http://[]/ HTTP/1.1"), SW_E_BAD_TARGET),
        bad("absolute-form with junk after an IP-literal", req("GET http://[::1]x/ HTTP/1.1"), SW_E_BAD_TARGET),
        ok("absolute-form with an IPv6 literal and a port", req("GET http://[::1]:8080/p HTTP/1.1"),
           form: SW_FORM_ABSOLUTE, path: "/p", query: "", headers: hostA, flags: hostKA),
        ok("absolute-form with an empty port", req("GET http://a:/p HTTP/1.1"), form: SW_FORM_ABSOLUTE,
           path: "/p", query: "", headers: hostA, flags: hostKA),
        ok("absolute-form in HTTP/1.0 without Host: the authority is the host", "GET http://a.example/p HTTP/1.0\r\n\r\n",
           form: SW_FORM_ABSOLUTE, path: "/p", query: "", minor: 0, headers: [], flags: [.host]),
        bad("absolute-form in HTTP/1.1 still needs a Host field", "GET http://a/ HTTP/1.1\r\n\r\n",
            SW_E_MISSING_HOST),
        bad("absolute-form with two Host fields", req("GET http://a/ HTTP/1.1", "Host: a\r\nHost: b\r\n"),
            SW_E_DUPLICATE_HOST),
        bad("absolute-form with a bad Host field", req("GET http://a/ HTTP/1.1", "Host: a b\r\n"), SW_E_BAD_HOST),
        ok("absolute-form: the target's authority is the host, not the Host field",
           req("GET http://evil.example/admin HTTP/1.1", "Host: good.example\r\n"), form: SW_FORM_ABSOLUTE,
           path: "/admin", query: "", headers: [H("Host", "good.example")], flags: hostKA),
        ok("absolute-form: the authority keeps its port", req("GET https://evil.example:8443?q HTTP/1.1"),
           form: SW_FORM_ABSOLUTE, path: "", query: "q", headers: hostA, flags: [.host, .keepAlive, .hasQuery]),
        ok("absolute-form with OPTIONS", req("OPTIONS http://a/ HTTP/1.1"), id: SW_METHOD_OPTIONS,
           form: SW_FORM_ABSOLUTE, path: "/", query: "", headers: hostA, flags: hostKA),
        bad("scheme starting with a digit", req("GET 1http://a/ HTTP/1.1"), SW_E_BAD_TARGET),
        bad("empty scheme", req("GET ://a/ HTTP/1.1"), SW_E_BAD_TARGET),
        bad("scheme with only one slash", req("GET http:/a HTTP/1.1"), SW_E_BAD_TARGET),
        bad("underscore in the scheme", req("GET ht_tp://a/ HTTP/1.1"), SW_E_BAD_TARGET),
        bad("scheme without a colon", req("GET http//a/ HTTP/1.1"), SW_E_BAD_TARGET),
    ]

    static let fieldLines: [RequestCase] = [
        bad("obs-fold right after the request line", "GET / HTTP/1.1\r\n Host: a\r\n\r\n", SW_E_OBS_FOLD),
        bad("obs-fold with SP after a field", req("GET / HTTP/1.1", "Host: a\r\n X: b\r\n"), SW_E_OBS_FOLD),
        bad("obs-fold with HTAB continuing a value", req("GET / HTTP/1.1", "Host: a\r\nX: b\r\n\tc\r\n"),
            SW_E_OBS_FOLD),
        bad("a field line of only SP", req("GET / HTTP/1.1", "Host: a\r\n \r\n"), SW_E_OBS_FOLD),
        ok("every tchar in a field name", req("GET / HTTP/1.1", "Host: a\r\n!#$%&'*+-.^_`|~09azAZ: v\r\n"),
           headers: [H("Host", "a"), H("!#$%&'*+-.^_`|~09azAZ", "v")], flags: hostKA),
        ok("field names keep their case", req("GET / HTTP/1.1", "hOsT: a\r\nX-MiXeD: b\r\n"),
           headers: [H("hOsT", "a"), H("X-MiXeD", "b")], flags: hostKA),
        ok("a one-byte field name", req("GET / HTTP/1.1", "Host: a\r\nX: 1\r\n"),
           headers: [H("Host", "a"), H("X", "1")], flags: hostKA),
        ok("a 100-byte field name", req("GET / HTTP/1.1", "Host: a\r\n" + rep("N", 100) + ": v\r\n"),
           headers: [H("Host", "a"), H(rep("N", 100), "v")], flags: hostKA),
        bad("empty field name", req("GET / HTTP/1.1", "Host: a\r\n: b\r\n"), SW_E_BAD_HEADER_NAME),
        bad("field line without a colon", req("GET / HTTP/1.1", "Host: a\r\nNoColon\r\n"), SW_E_BAD_HEADER_NAME),
        bad("field line of a name and SP, no colon", req("GET / HTTP/1.1", "Host a\r\n"), SW_E_BAD_HEADER_NAME),
        bad("DQUOTE in a field name", req("GET / HTTP/1.1", "Host: a\r\nX\"Y: b\r\n"), SW_E_BAD_HEADER_NAME),
        bad("parenthesis in a field name", req("GET / HTTP/1.1", "Ho(st: a\r\n"), SW_E_BAD_HEADER_NAME),
        bad("DEL in a field name", req("GET / HTTP/1.1", "Host: a\r\nX\u{7f}: b\r\n"), SW_E_BAD_HEADER_NAME),
        bad("obs-text in a field name", req("GET / HTTP/1.1", "Host: a\r\nX\u{80}: b\r\n"), SW_E_BAD_HEADER_NAME),
        bad("control byte in a field name", req("GET / HTTP/1.1", "Host: a\r\nX\u{01}: b\r\n"),
            SW_E_BAD_HEADER_NAME),
        bad("NUL in a field name", req("GET / HTTP/1.1", "Host: a\r\nX\0: b\r\n"), SW_E_BAD_HEADER_NAME),
        bad("@ in a field name", req("GET / HTTP/1.1", "Host: a\r\nX@: b\r\n"), SW_E_BAD_HEADER_NAME),
        bad("slash in a field name", req("GET / HTTP/1.1", "Host: a\r\nX/Y: b\r\n"), SW_E_BAD_HEADER_NAME),
        bad("= in a field name", req("GET / HTTP/1.1", "Host: a\r\nX=Y: b\r\n"), SW_E_BAD_HEADER_NAME),
        bad("brackets in a field name", req("GET / HTTP/1.1", "Host: a\r\n[X]: b\r\n"), SW_E_BAD_HEADER_NAME),
        bad("bad byte after 80 name bytes", req("GET / HTTP/1.1", "Host: a\r\n" + rep("N", 80) + ",: b\r\n"),
            SW_E_BAD_HEADER_NAME),
        bad("SP before the colon", req("GET / HTTP/1.1", "Host : a\r\n"), SW_E_SPACE_BEFORE_COLON),
        bad("HTAB before the colon", req("GET / HTTP/1.1", "Host: a\r\nX\t: b\r\n"), SW_E_SPACE_BEFORE_COLON),
        bad("two SPs before the colon", req("GET / HTTP/1.1", "Host: a\r\nX  : b\r\n"), SW_E_SPACE_BEFORE_COLON),
        bad("SP and HTAB before the colon", req("GET / HTTP/1.1", "Host: a\r\nX-Long-Name \t: b\r\n"),
            SW_E_SPACE_BEFORE_COLON),
    ]

    static let fieldValues: [RequestCase] = [
        ok("internal SP is kept", req("GET / HTTP/1.1", "Host: a\r\nX: a b  c\r\n"),
           headers: [H("Host", "a"), H("X", "a b  c")], flags: hostKA),
        ok("no SP after the colon", req("GET / HTTP/1.1", "Host:a\r\nX:b\r\n"),
           headers: [H("Host", "a"), H("X", "b")], flags: hostKA),
        ok("HTAB around the value is trimmed", req("GET / HTTP/1.1", "Host: a\r\nX:\tb\t\r\n"),
           headers: [H("Host", "a"), H("X", "b")], flags: hostKA),
        ok("several SP around the value are trimmed", req("GET / HTTP/1.1", "Host: a\r\nX:   b   \r\n"),
           headers: [H("Host", "a"), H("X", "b")], flags: hostKA),
        ok("mixed trailing SP and HTAB are trimmed", req("GET / HTTP/1.1", "Host: a\r\nX: b \t \t\r\n"),
           headers: [H("Host", "a"), H("X", "b")], flags: hostKA),
        ok("HTAB inside the value is kept", req("GET / HTTP/1.1", "Host: a\r\nX: b\tc\r\n"),
           headers: [H("Host", "a"), H("X", "b\tc")], flags: hostKA),
        ok("empty value: len 0 at the CR", req("GET / HTTP/1.1", "Host: a\r\nX:\r\n"),
           headers: [H("Host", "a"), H("X", "")], flags: hostKA),
        ok("whitespace-only value is empty, at the CR", req("GET / HTTP/1.1", "Host: a\r\nX: \t \r\n"),
           headers: [H("Host", "a"), H("X", "")], flags: hostKA),
        ok("empty value in the last field", req("GET / HTTP/1.1", "Host: a\r\nX: \r\n"),
           headers: [H("Host", "a"), H("X", "")], flags: hostKA),
        ok("obs-text in a value", req("GET / HTTP/1.1", "Host: a\r\nX: caf\u{e9}\r\n"),
           headers: [H("Host", "a"), H("X", "caf\u{e9}")], flags: hostKA),
        ok("obs-text 0x80 and 0xFF at the edges of a value", req("GET / HTTP/1.1", "Host: a\r\nX: \u{80}a\u{ff}\r\n"),
           headers: [H("Host", "a"), H("X", "\u{80}a\u{ff}")], flags: hostKA),
        ok("every VCHAR in a value",
           req("GET / HTTP/1.1",
               "Host: a\r\nX: !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~\r\n"),
           headers: [H("Host", "a"),
                     H("X", "!\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~")],
           flags: hostKA),
        ok("colons inside the value", req("GET / HTTP/1.1", "Host: a\r\nX: a:b::c\r\n"),
           headers: [H("Host", "a"), H("X", "a:b::c")], flags: hostKA),
        bad("NUL in a value", req("GET / HTTP/1.1", "Host: a\r\nX: a\0b\r\n"), SW_E_BAD_HEADER_VALUE),
        bad("DEL in a value", req("GET / HTTP/1.1", "Host: a\r\nX: a\u{7f}b\r\n"), SW_E_BAD_HEADER_VALUE),
        bad("SOH in a value", req("GET / HTTP/1.1", "Host: a\r\nX: a\u{01}b\r\n"), SW_E_BAD_HEADER_VALUE),
        bad("US (0x1F) in a value", req("GET / HTTP/1.1", "Host: a\r\nX: a\u{1f}b\r\n"), SW_E_BAD_HEADER_VALUE),
        bad("VT in a value", req("GET / HTTP/1.1", "Host: a\r\nX: a\u{0b}b\r\n"), SW_E_BAD_HEADER_VALUE),
        bad("FF in a value", req("GET / HTTP/1.1", "Host: a\r\nX: a\u{0c}b\r\n"), SW_E_BAD_HEADER_VALUE),
        bad("ESC in a value", req("GET / HTTP/1.1", "Host: a\r\nX: \u{1b}[0m\r\n"), SW_E_BAD_HEADER_VALUE),
        bad("control byte leading a value", req("GET / HTTP/1.1", "Host: a\r\nX: \u{01}a\r\n"),
            SW_E_BAD_HEADER_VALUE),
        bad("DEL ending a value", req("GET / HTTP/1.1", "Host: a\r\nX: a\u{7f}\r\n"), SW_E_BAD_HEADER_VALUE),
        bad("control byte as the whole value", req("GET / HTTP/1.1", "X:\u{02}\r\nHost: a\r\n"),
            SW_E_BAD_HEADER_VALUE),
        bad("bare CR inside a value", req("GET / HTTP/1.1", "Host: a\r\nX: a\rb\r\n"), SW_E_BARE_CR),
        bad("value ends in CR CR LF", req("GET / HTTP/1.1", "Host: a\r\nX: a\r\r\n"), SW_E_BARE_CR),
        bad("CR then SP inside a value", req("GET / HTTP/1.1", "Host: a\r\nX: a\r \r\n"), SW_E_BARE_CR),
        bad("blank line is CR CR LF", "GET / HTTP/1.1\r\nHost: a\r\n\r\r\n", SW_E_BARE_CR),
        bad("bare LF inside a value", req("GET / HTTP/1.1", "Host: a\r\nX: a\nb\r\n"), SW_E_BARE_LF),
        bad("value ends in LF CR LF", req("GET / HTTP/1.1", "Host: a\r\nX: a\n\r\n"), SW_E_BARE_LF),
        bad("field line ends in bare LF", "GET / HTTP/1.1\r\nHost: a\nX: b\r\n\r\n", SW_E_BARE_LF),
        bad("head ends in LF LF", "GET / HTTP/1.1\r\nHost: a\n\n", SW_E_BARE_LF),
        bad("head ends in CRLF LF", "GET / HTTP/1.1\r\nHost: a\r\n\n", SW_E_BARE_LF),
    ]

    static let limitsCases: [RequestCase] = {
        var out: [RequestCase] = []
        // max_target (custom 16): exactly 16 target bytes, then 17.
        let t16 = "/" + rep("t", 15)
        let big = Limits(head: 1024, target: 16, headers: 4)
        out.append(ok("target exactly at max_target (16)", "GET \(t16) HTTP/1.0\r\n\r\n", limits: big, minor: 0,
                      headers: [], flags: []))
        out.append(bad("target one over max_target (17)", "GET \(t16)t HTTP/1.0\r\n\r\n", SW_E_URI_TOO_LONG,
                       limits: big, from: 4 + 17))
        out.append(bad("absolute-form target one over max_target",
                       req("GET http://a/" + rep("b", 4) + " HTTP/1.1"), SW_E_URI_TOO_LONG,
                       limits: Limits(head: 1024, target: 12, headers: 4), from: 4 + 13))
        out.append(ok("absolute-form target exactly at max_target (12)", req("GET http://a/bbb HTTP/1.1"),
                      limits: Limits(head: 1024, target: 12, headers: 4), form: SW_FORM_ABSOLUTE, path: "/bbb",
                      headers: hostA, flags: hostKA))
        out.append(bad("a long target way over max_target", req("GET /" + rep("u", 200) + " HTTP/1.1"),
                       SW_E_URI_TOO_LONG, limits: big, from: 4 + 17))
        // max_target at the default 8192.
        let t8192 = "/" + rep("d", 8191)
        out.append(ok("target exactly at the default max_target (8192)", req("GET \(t8192) HTTP/1.1"),
                      headers: hostA, flags: hostKA))
        out.append(bad("target one over the default max_target (8193)", req("GET \(t8192)d HTTP/1.1"),
                       SW_E_URI_TOO_LONG, from: 4 + 8193))

        // max_headers (custom 4): 4 lines, then 5.
        let four = "Host: a\r\nB: 2\r\nC: 3\r\nD: 4\r\n"
        out.append(ok("field lines exactly at max_headers (4)", req("GET / HTTP/1.1", four),
                      limits: Limits(head: 1024, target: 64, headers: 4),
                      headers: [H("Host", "a"), H("B", "2"), H("C", "3"), H("D", "4")], flags: hostKA))
        out.append(bad("field lines one over max_headers (5)", req("GET / HTTP/1.1", four + "E: 5\r\n"),
                       SW_E_TOO_MANY_HEADERS, limits: Limits(head: 1024, target: 64, headers: 4)))
        out.append(bad("field lines far over max_headers (4)", req("GET / HTTP/1.1", four + rep("E: 5\r\n", 20)),
                       SW_E_TOO_MANY_HEADERS, limits: Limits(head: 1024, target: 64, headers: 4)))
        out.append(ok("max_headers 0 and no field lines", "GET / HTTP/1.0\r\n\r\n",
                      limits: Limits(head: 1024, target: 64, headers: 0), minor: 0, headers: [], flags: []))
        out.append(bad("max_headers 0 and one field line", req("GET / HTTP/1.0"), SW_E_TOO_MANY_HEADERS,
                       limits: Limits(head: 1024, target: 64, headers: 0)))
        // max_headers at the default 100.
        let hundred = (1...99).map { "X-Header-\($0): value-\($0)\r\n" }.joined()
        out.append(ok("100 field lines at the default max_headers", req("GET / HTTP/1.1", "Host: a\r\n" + hundred),
                      headers: [H("Host", "a")] + (1...99).map { H("X-Header-\($0)", "value-\($0)") },
                      flags: hostKA))
        out.append(bad("101 field lines over the default max_headers",
                       req("GET / HTTP/1.1", "Host: a\r\n" + hundred + "X-Last: 1\r\n"), SW_E_TOO_MANY_HEADERS))

        // max_head (custom 64): a head of exactly 64 bytes, then 65.
        // "GET / HTTP/1.1\r\n" (16) + "Host: a\r\n" (9) + "X: " + v + "\r\n" + "\r\n" (2) = 32 + len(v)
        let h64 = req("GET / HTTP/1.1", "Host: a\r\nX: " + rep("v", 32) + "\r\n")
        precondition(latin1(h64).count == 64)
        out.append(ok("head exactly at max_head (64)", h64, limits: small,
                      headers: [H("Host", "a"), H("X", rep("v", 32))], flags: hostKA))
        let h65 = req("GET / HTTP/1.1", "Host: a\r\nX: " + rep("v", 33) + "\r\n")
        out.append(bad("head one over max_head (65)", h65, SW_E_HEADERS_TOO_LARGE, limits: small, from: 64,
                       fromIncremental: true))
        out.append(bad("head far over max_head (64), with a body-like tail",
                       req("GET / HTTP/1.1", "Host: a\r\nX: " + rep("v", 200) + "\r\n") + "body",
                       SW_E_HEADERS_TOO_LARGE, limits: small, from: 64, fromIncremental: true))
        out.append(ok("head with leading CRLFs exactly at max_head (64)",
                      "\r\n\r\n" + req("GET / HTTP/1.1", "Host: a\r\nX: " + rep("v", 28) + "\r\n"), limits: small,
                      headers: [H("Host", "a"), H("X", rep("v", 28))], flags: hostKA))
        out.append(bad("leading CRLFs push the head over max_head (64)",
                       "\r\n\r\n\r\n" + req("GET / HTTP/1.1", "Host: a\r\nX: " + rep("v", 28) + "\r\n"),
                       SW_E_HEADERS_TOO_LARGE, limits: small, from: 64, fromIncremental: true))
        out.append(bad("only empty lines until past max_head (64)", rep("\r\n", 40), SW_E_HEADERS_TOO_LARGE,
                       limits: small, from: 64, fromIncremental: true))
        // max_head at the default 16384.
        // "GET / HTTP/1.1\r\n" (16) + "Host: a\r\n" (9) + "X: " v "\r\n" + "\r\n" = 32 + len(v)
        let big16k = req("GET / HTTP/1.1", "Host: a\r\nX: " + rep("w", 16384 - 32) + "\r\n")
        precondition(latin1(big16k).count == 16384)
        out.append(ok("head exactly at the default max_head (16384)", big16k,
                      headers: [H("Host", "a"), H("X", rep("w", 16384 - 32))], flags: hostKA))
        out.append(bad("head one over the default max_head (16385)",
                       req("GET / HTTP/1.1", "Host: a\r\nX: " + rep("w", 16384 - 31) + "\r\n"),
                       SW_E_HEADERS_TOO_LARGE, from: 16384, fromIncremental: true))
        return out
    }()

    static let contentLength: [RequestCase] = {
        func cl(_ note: String, _ value: String, _ n: UInt64) -> RequestCase {
            ok(note, req("POST / HTTP/1.1", "Host: a\r\nContent-Length:\(value)\r\n"), id: SW_METHOD_POST,
               headers: [H("Host", "a"), H("Content-Length", value.trimmingOWS)],
               flags: [.host, .keepAlive, .contentLength], cl: n)
        }
        func badCL(_ note: String, _ value: String, _ e: sw_error_t = SW_E_BAD_CONTENT_LENGTH) -> RequestCase {
            bad(note, req("POST / HTTP/1.1", "Host: a\r\nContent-Length:\(value)\r\n"), e)
        }
        return [
            cl("Content-Length 5", " 5", 5),
            cl("Content-Length 0", " 0", 0),
            cl("leading zeros", " 005", 5),
            cl("many leading zeros", " 0000000000000000000000000005", 5),
            cl("OWS around the value", " \t 7 \t", 7),
            cl("a list of equal values", " 5, 5", 5),
            cl("a list of equal values with OWS", " 5 ,\t5 , 5", 5),
            cl("exactly 2^62", " 4611686018427387904", 4_611_686_018_427_387_904),
            cl("a large value below 2^62", " 4611686018427387903", 4_611_686_018_427_387_903),
            ok("two equal Content-Length lines", req("POST / HTTP/1.1",
                                                     "Host: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n"),
               id: SW_METHOD_POST, headers: [H("Host", "a"), H("Content-Length", "5"), H("Content-Length", "5")],
               flags: [.host, .keepAlive, .contentLength], cl: 5),
            ok("lower-case content-length", req("POST / HTTP/1.1", "Host: a\r\ncontent-length: 12\r\n"),
               id: SW_METHOD_POST, headers: [H("Host", "a"), H("content-length", "12")],
               flags: [.host, .keepAlive, .contentLength], cl: 12),
            ok("upper-case CONTENT-LENGTH", req("POST / HTTP/1.1", "Host: a\r\nCONTENT-LENGTH: 3\r\n"),
               id: SW_METHOD_POST, headers: [H("Host", "a"), H("CONTENT-LENGTH", "3")],
               flags: [.host, .keepAlive, .contentLength], cl: 3),
            ok("Content-Length in HTTP/1.0", "POST / HTTP/1.0\r\nContent-Length: 4\r\n\r\n", body: "abcd",
               id: SW_METHOD_POST, minor: 0, headers: [H("Content-Length", "4")], flags: [.contentLength], cl: 4),
            ok("a field named like Content-Length but longer is not it",
               req("POST / HTTP/1.1", "Host: a\r\nContent-Lengthy: x\r\n"), id: SW_METHOD_POST,
               headers: [H("Host", "a"), H("Content-Lengthy", "x")], flags: hostKA),
            badCL("one over 2^62", " 4611686018427387905"),
            badCL("20 digits", " 99999999999999999999"),
            badCL("2^64 + 5 (wraps in 64 bits)", " 18446744073709551621"),
            badCL("empty Content-Length", ""),
            badCL("whitespace-only Content-Length", "   "),
            badCL("negative", " -5"),
            badCL("plus sign", " +5"),
            badCL("trailing letter", " 5a"),
            badCL("hex", " 0x5"),
            badCL("trailing comma (empty member)", " 5,"),
            badCL("leading comma (empty member)", " ,5"),
            badCL("empty member in the middle", " 5,,5"),
            badCL("two numbers separated by SP", " 5 5"),
            badCL("decimal point", " 5.0"),
            badCL("a list member that differs", " 5, 6", SW_E_CONFLICTING_CONTENT_LENGTH),
            bad("two Content-Length lines that differ",
                req("POST / HTTP/1.1", "Host: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n"),
                SW_E_CONFLICTING_CONTENT_LENGTH),
            bad("a second Content-Length line with a differing list member",
                req("POST / HTTP/1.1", "Host: a\r\nContent-Length: 5\r\ncontent-length: 5, 6\r\n"),
                SW_E_CONFLICTING_CONTENT_LENGTH),
            bad("Content-Length 0 and 00 are equal, 0 and 1 are not",
                req("POST / HTTP/1.1", "Host: a\r\nContent-Length: 0\r\nContent-Length: 00\r\nContent-Length: 1\r\n"),
                SW_E_CONFLICTING_CONTENT_LENGTH),
        ]
    }()

    static let transferEncoding: [RequestCase] = {
        func te(_ note: String, _ fields: String, _ headers: [H]) -> RequestCase {
            ok(note, req("POST / HTTP/1.1", "Host: a\r\n" + fields), id: SW_METHOD_POST,
               headers: [H("Host", "a")] + headers, flags: [.host, .keepAlive, .chunked])
        }
        func badTE(_ note: String, _ fields: String, _ e: sw_error_t) -> RequestCase {
            bad(note, req("POST / HTTP/1.1", "Host: a\r\n" + fields), e)
        }
        return [
            te("chunked", "Transfer-Encoding: chunked\r\n", [H("Transfer-Encoding", "chunked")]),
            te("CHUNKED in upper case", "transfer-encoding: CHUNKED\r\n", [H("transfer-encoding", "CHUNKED")]),
            te("chunked with OWS", "Transfer-Encoding: \t chunked \t\r\n", [H("Transfer-Encoding", "chunked")]),
            te("an empty member before chunked is skipped", "Transfer-Encoding: , chunked\r\n",
               [H("Transfer-Encoding", ", chunked")]),
            te("an empty member after chunked is skipped", "Transfer-Encoding: chunked,\r\n",
               [H("Transfer-Encoding", "chunked,")]),
            te("an empty TE line, then chunked", "Transfer-Encoding:\r\nTransfer-Encoding: chunked\r\n",
               [H("Transfer-Encoding", ""), H("Transfer-Encoding", "chunked")]),
            badTE("gzip before chunked is not implemented", "Transfer-Encoding: gzip, chunked\r\n",
                  SW_E_TE_NOT_IMPLEMENTED),
            badTE("gzip alone is not implemented", "Transfer-Encoding: gzip\r\n", SW_E_TE_NOT_IMPLEMENTED),
            badTE("identity is not implemented", "Transfer-Encoding: identity\r\n", SW_E_TE_NOT_IMPLEMENTED),
            badTE("a coding that starts like chunked", "Transfer-Encoding: chunkedx\r\n", SW_E_TE_NOT_IMPLEMENTED),
            badTE("gzip on a line before chunked", "Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n",
                  SW_E_TE_NOT_IMPLEMENTED),
            badTE("gzip after chunked", "Transfer-Encoding: chunked, gzip\r\n", SW_E_TE_CHUNKED_NOT_LAST),
            badTE("chunked twice in one list", "Transfer-Encoding: chunked, chunked\r\n", SW_E_TE_CHUNKED_NOT_LAST),
            badTE("chunked on two lines", "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
                  SW_E_TE_CHUNKED_NOT_LAST),
            badTE("a coding on a line after chunked",
                  "Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n", SW_E_TE_CHUNKED_NOT_LAST),
            badTE("empty Transfer-Encoding", "Transfer-Encoding:\r\n", SW_E_BAD_TE),
            badTE("only commas", "Transfer-Encoding: , ,\r\n", SW_E_BAD_TE),
            badTE("chunked with a parameter", "Transfer-Encoding: chunked;q=1\r\n", SW_E_BAD_TE),
            badTE("SP inside a coding", "Transfer-Encoding: chu nked\r\n", SW_E_BAD_TE),
            badTE("DQUOTE in a coding", "Transfer-Encoding: \"chunked\"\r\n", SW_E_BAD_TE),
            bad("Transfer-Encoding in HTTP/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
                SW_E_TE_IN_HTTP10),
            bad("Transfer-Encoding in HTTP/1.0 with Host",
                "POST / HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", SW_E_TE_IN_HTTP10),
            badTE("Content-Length then Transfer-Encoding",
                  "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n", SW_E_CONTENT_LENGTH_AND_TE),
            badTE("Transfer-Encoding then Content-Length",
                  "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n", SW_E_CONTENT_LENGTH_AND_TE),
            badTE("Content-Length 0 with Transfer-Encoding",
                  "Transfer-Encoding: chunked\r\nContent-Length: 0\r\n", SW_E_CONTENT_LENGTH_AND_TE),
        ]
    }()

    static let host: [RequestCase] = [
        ok("Host with a port", req("GET / HTTP/1.1", "Host: example.com:8080\r\n"),
           headers: [H("Host", "example.com:8080")], flags: hostKA),
        ok("lower-case host", req("GET / HTTP/1.1", "host: a.b\r\n"), headers: [H("host", "a.b")], flags: hostKA),
        ok("upper-case HOST", req("GET / HTTP/1.1", "HOST: a.b\r\n"), headers: [H("HOST", "a.b")], flags: hostKA),
        ok("Host with an IPv6 literal", req("GET / HTTP/1.1", "Host: [::1]:80\r\n"),
           headers: [H("Host", "[::1]:80")], flags: hostKA),
        ok("every byte Host allows", req("GET / HTTP/1.1", "Host: aZ09-._~!$&'()*+,;=:[]%\r\n"),
           headers: [H("Host", "aZ09-._~!$&'()*+,;=:[]%")], flags: hostKA),
        ok("empty Host is allowed", req("GET / HTTP/1.1", "Host:\r\n"), headers: [H("Host", "")], flags: hostKA),
        ok("Host with OWS only is empty", req("GET / HTTP/1.1", "Host:  \t\r\n"), headers: [H("Host", "")],
           flags: hostKA),
        ok("Host after other fields", req("GET / HTTP/1.1", "Accept: */*\r\nHost: late\r\n"),
           headers: [H("Accept", "*/*"), H("Host", "late")], flags: hostKA),
        ok("a field that starts like Host is not Host", req("GET / HTTP/1.0", "Hostname: x\r\n"), minor: 0,
           headers: [H("Hostname", "x")], flags: []),
        bad("SP inside Host", req("GET / HTTP/1.1", "Host: a b\r\n"), SW_E_BAD_HOST),
        bad("slash in Host", req("GET / HTTP/1.1", "Host: a/b\r\n"), SW_E_BAD_HOST),
        bad("userinfo in Host", req("GET / HTTP/1.1", "Host: u@a\r\n"), SW_E_BAD_HOST),
        bad("obs-text in Host", req("GET / HTTP/1.1", "Host: a\u{e9}\r\n"), SW_E_BAD_HOST),
        bad("DQUOTE in Host", req("GET / HTTP/1.1", "Host: a\"b\r\n"), SW_E_BAD_HOST),
        bad("angle bracket in Host", req("GET / HTTP/1.1", "Host: a<b\r\n"), SW_E_BAD_HOST),
        bad("HTAB inside Host", req("GET / HTTP/1.1", "Host: a\tb\r\n"), SW_E_BAD_HOST),
        bad("bad Host in HTTP/1.0", req("GET / HTTP/1.0", "Host: a?b\r\n"), SW_E_BAD_HOST),
        bad("two Host lines", req("GET / HTTP/1.1", "Host: a\r\nHost: a\r\n"), SW_E_DUPLICATE_HOST),
        bad("two Host lines, differing case", req("GET / HTTP/1.1", "Host: a\r\nhost: b\r\n"), SW_E_DUPLICATE_HOST),
        bad("a second, empty Host line", req("GET / HTTP/1.1", "Host: a\r\nHost:\r\n"), SW_E_DUPLICATE_HOST),
        bad("two Host lines in HTTP/1.0", req("GET / HTTP/1.0", "Host: a\r\nHost: b\r\n"), SW_E_DUPLICATE_HOST),
    ]

    static let connection: [RequestCase] = [
        ok("Connection: close clears KEEP_ALIVE", req("GET / HTTP/1.1", "Host: a\r\nConnection: close\r\n"),
           headers: [H("Host", "a"), H("Connection", "close")], flags: [.host, .connClose]),
        ok("Connection: keep-alive in HTTP/1.1", req("GET / HTTP/1.1", "Host: a\r\nConnection: keep-alive\r\n"),
           headers: [H("Host", "a"), H("Connection", "keep-alive")], flags: [.host, .keepAlive, .connKeepAlive]),
        ok("Connection: Keep-Alive in HTTP/1.0 keeps alive", "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n",
           minor: 0, headers: [H("Connection", "Keep-Alive")], flags: [.connKeepAlive, .keepAlive]),
        ok("HTTP/1.0 with keep-alive and close does not keep alive",
           "GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n", minor: 0,
           headers: [H("Connection", "keep-alive, close")], flags: [.connKeepAlive, .connClose]),
        ok("HTTP/1.0 with an unrelated option", "GET / HTTP/1.0\r\nConnection: foo\r\n\r\n", minor: 0,
           headers: [H("Connection", "foo")], flags: []),
        ok("Connection: Upgrade", req("GET / HTTP/1.1", "Host: a\r\nConnection: Upgrade\r\n"),
           headers: [H("Host", "a"), H("Connection", "Upgrade")], flags: [.host, .keepAlive, .connUpgrade]),
        ok("unknown options are ignored", req("GET / HTTP/1.1", "Host: a\r\nConnection: foo, bar\r\n"),
           headers: [H("Host", "a"), H("Connection", "foo, bar")], flags: hostKA),
        ok("a list with OWS and upper case", req("GET / HTTP/1.1", "Host: a\r\nConnection:  CLOSE ,upgrade\t\r\n"),
           headers: [H("Host", "a"), H("Connection", "CLOSE ,upgrade")], flags: [.host, .connClose, .connUpgrade]),
        ok("an option that extends close is not close", req("GET / HTTP/1.1", "Host: a\r\nConnection: closed\r\n"),
           headers: [H("Host", "a"), H("Connection", "closed")], flags: hostKA),
        ok("options over two Connection lines",
           req("GET / HTTP/1.1", "Host: a\r\nConnection: keep-alive\r\nConnection: close\r\n"),
           headers: [H("Host", "a"), H("Connection", "keep-alive"), H("Connection", "close")],
           flags: [.host, .connKeepAlive, .connClose]),
        ok("all three options", req("GET / HTTP/1.1", "Host: a\r\nconnection: upgrade, keep-alive, close\r\n"),
           headers: [H("Host", "a"), H("connection", "upgrade, keep-alive, close")],
           flags: [.host, .connUpgrade, .connKeepAlive, .connClose]),
    ]

    static let expect: [RequestCase] = [
        ok("Expect: 100-continue", req("PUT /f HTTP/1.1", "Host: a\r\nExpect: 100-continue\r\nContent-Length: 9\r\n"),
           id: SW_METHOD_PUT, headers: [H("Host", "a"), H("Expect", "100-continue"), H("Content-Length", "9")],
           flags: [.host, .keepAlive, .expectContinue, .contentLength], cl: 9),
        ok("Expect is case-insensitive", req("PUT /f HTTP/1.1", "Host: a\r\nexpect: 100-Continue\r\n"),
           id: SW_METHOD_PUT, headers: [H("Host", "a"), H("expect", "100-Continue")],
           flags: [.host, .keepAlive, .expectContinue]),
        ok("Expect with OWS", req("PUT /f HTTP/1.1", "Host: a\r\nExpect:  100-continue \t\r\n"),
           id: SW_METHOD_PUT, headers: [H("Host", "a"), H("Expect", "100-continue")],
           flags: [.host, .keepAlive, .expectContinue]),
        ok("Expect is ignored in HTTP/1.0, whatever its value", "PUT /f HTTP/1.0\r\nExpect: foo\r\n\r\n",
           id: SW_METHOD_PUT, minor: 0, headers: [H("Expect", "foo")], flags: []),
        ok("Expect: 100-continue is ignored in HTTP/1.0", "PUT /f HTTP/1.0\r\nExpect: 100-continue\r\n\r\n",
           id: SW_METHOD_PUT, minor: 0, headers: [H("Expect", "100-continue")], flags: []),
        bad("an empty Expect", req("PUT /f HTTP/1.1", "Host: a\r\nExpect:\r\n"), SW_E_EXPECTATION_FAILED),
        bad("an unknown expectation", req("PUT /f HTTP/1.1", "Host: a\r\nExpect: foo\r\n"), SW_E_EXPECTATION_FAILED),
        bad("100-continue plus another expectation", req("PUT /f HTTP/1.1", "Host: a\r\nExpect: 100-continue, foo\r\n"),
            SW_E_EXPECTATION_FAILED),
        bad("a value that extends 100-continue", req("PUT /f HTTP/1.1", "Host: a\r\nExpect: 100-continuex\r\n"),
            SW_E_EXPECTATION_FAILED),
    ]

    static let upgrade: [RequestCase] = [
        ok("Upgrade: websocket", req("GET /ws HTTP/1.1", "Host: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"),
           headers: [H("Host", "a"), H("Connection", "Upgrade"), H("Upgrade", "websocket")],
           flags: [.host, .keepAlive, .connUpgrade, .upgrade]),
        ok("the last Upgrade wins", req("GET / HTTP/1.1", "Upgrade: h2c\r\nHost: a\r\nupgrade:  websocket \r\n"),
           headers: [H("Upgrade", "h2c"), H("Host", "a"), H("upgrade", "websocket")],
           flags: [.host, .keepAlive, .upgrade]),
        ok("an empty Upgrade is still reported", req("GET / HTTP/1.1", "Host: a\r\nUpgrade:\r\n"),
           headers: [H("Host", "a"), H("Upgrade", "")], flags: [.host, .keepAlive, .upgrade]),
    ]

    /// Which of several broken rules is reported, where docs/parser.md fixes the order.
    static let ordering: [RequestCase] = [
        bad("CL+TE is checked before the missing Host", "POST / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
            SW_E_CONTENT_LENGTH_AND_TE),
        bad("a bad Content-Length line comes before a later bad TE",
            req("POST / HTTP/1.1", "Host: a\r\nContent-Length: x\r\nTransfer-Encoding: gzip\r\n"),
            SW_E_BAD_CONTENT_LENGTH),
        bad("a bad TE line comes before a later bad Content-Length",
            req("POST / HTTP/1.1", "Host: a\r\nTransfer-Encoding: gzip\r\nContent-Length: x\r\n"),
            SW_E_TE_NOT_IMPLEMENTED),
        bad("a bad Host line comes before a later bad TE",
            req("POST / HTTP/1.1", "Host: a b\r\nTransfer-Encoding: gzip\r\n"), SW_E_BAD_HOST),
        bad("a duplicate Host line comes before the end check for CL+TE",
            req("POST / HTTP/1.1", "Host: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\nHost: b\r\n"),
            SW_E_DUPLICATE_HOST),
        bad("a failed expectation comes before the end check for CL+TE",
            req("POST / HTTP/1.1", "Host: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\nExpect: x\r\n"),
            SW_E_EXPECTATION_FAILED),
        bad("a missing Host is reported after a complete, otherwise valid head",
            "GET / HTTP/1.1\r\nContent-Length: 5\r\n\r\n", SW_E_MISSING_HOST),
    ]

    static let bodies: [RequestCase] = [
        ok("a body after the head is not part of it",
           req("POST / HTTP/1.1", "Host: a\r\nContent-Length: 5\r\n"), body: "hello", id: SW_METHOD_POST,
           headers: [H("Host", "a"), H("Content-Length", "5")], flags: [.host, .keepAlive, .contentLength], cl: 5),
        ok("body bytes that would be errors in a head", req("POST / HTTP/1.1", "Host: a\r\nContent-Length: 6\r\n"),
           body: "\n\r\0\u{7f} x", id: SW_METHOD_POST, headers: [H("Host", "a"), H("Content-Length", "6")],
           flags: [.host, .keepAlive, .contentLength], cl: 6),
        ok("a pipelined second request is not part of the first", req("GET /1 HTTP/1.1"),
           body: req("GET /2 HTTP/1.1"), headers: hostA, flags: hostKA),
        ok("a chunked body after the head", req("POST / HTTP/1.1", "Host: a\r\nTransfer-Encoding: chunked\r\n"),
           body: "5\r\nhello\r\n0\r\n\r\n", id: SW_METHOD_POST,
           headers: [H("Host", "a"), H("Transfer-Encoding", "chunked")], flags: [.host, .keepAlive, .chunked]),
        ok("a long body after a short head", req("POST / HTTP/1.1", "Host: a\r\nContent-Length: 300\r\n"),
           body: rep("b", 300), id: SW_METHOD_POST, headers: [H("Host", "a"), H("Content-Length", "300")],
           flags: [.host, .keepAlive, .contentLength], cl: 300),
    ]

    static let benchRequests: [RequestCase] = [
        ok("bench minimal.http", "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n", headers: [H("Host", "localhost")],
           flags: hostKA),
        ok("bench browser.http",
           "GET /static/css/main.4f1c2a.css?v=20240611 HTTP/1.1\r\n"
               + "Host: www.example.com\r\n"
               + "Connection: keep-alive\r\n"
               + "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36\r\n"
               + "Accept: text/css,*/*;q=0.1\r\n"
               + "Referer: https://www.example.com/products/index.html\r\n"
               + "Accept-Encoding: gzip, deflate, br\r\n"
               + "Accept-Language: en-US,en;q=0.9,de;q=0.8\r\n"
               + "Cookie: sid=9f8e7d6c5b4a39281706f5e4d3c2b1a0; theme=dark; _ga=GA1.2.1234567890.1717000000\r\n"
               + "Sec-Fetch-Mode: no-cors\r\n"
               + "Cache-Control: no-cache\r\n\r\n",
           path: "/static/css/main.4f1c2a.css", query: "v=20240611",
           headers: [
               H("Host", "www.example.com"), H("Connection", "keep-alive"),
               H("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"),
               H("Accept", "text/css,*/*;q=0.1"), H("Referer", "https://www.example.com/products/index.html"),
               H("Accept-Encoding", "gzip, deflate, br"), H("Accept-Language", "en-US,en;q=0.9,de;q=0.8"),
               H("Cookie", "sid=9f8e7d6c5b4a39281706f5e4d3c2b1a0; theme=dark; _ga=GA1.2.1234567890.1717000000"),
               H("Sec-Fetch-Mode", "no-cors"), H("Cache-Control", "no-cache"),
           ],
           flags: [.host, .keepAlive, .connKeepAlive, .hasQuery]),
        ok("bench picobench.http",
           "GET /wp-content/uploads/2010/03/hello-kitty-darth-vader-pink.jpg HTTP/1.1\r\n"
               + "Host: www.kittyhell.com\r\n"
               + "User-Agent: Mozilla/5.0 (Macintosh; U; Intel Mac OS X 10.6; ja-JP-mac; rv:1.9.2.3) Gecko/20100401 Firefox/3.6.3 Pathtraq/0.9\r\n"
               + "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n"
               + "Accept-Language: ja,en-us;q=0.7,en;q=0.3\r\n"
               + "Accept-Encoding: gzip,deflate\r\n"
               + "Accept-Charset: Shift_JIS,utf-8;q=0.7,*;q=0.7\r\n"
               + "Keep-Alive: 115\r\n"
               + "Connection: keep-alive\r\n"
               + "Cookie: wp_ozh_wsa_visits=2; wp_ozh_wsa_visit_lasttime=xxxxxxxxxx; __utma=xxxxxxxxx.xxxxxxxxxx.xxxxxxxxxx.xxxxxxxxxx.xxxxxxxxxx.x; __utmz=xxxxxxxxx.xxxxxxxxxx.x.x.utmccn=(referral)|utmcsr=reader.livedoor.com|utmcct=/reader/|utmcmd=referral\r\n\r\n",
           headers: [
               H("Host", "www.kittyhell.com"),
               H("User-Agent", "Mozilla/5.0 (Macintosh; U; Intel Mac OS X 10.6; ja-JP-mac; rv:1.9.2.3) Gecko/20100401 Firefox/3.6.3 Pathtraq/0.9"),
               H("Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"),
               H("Accept-Language", "ja,en-us;q=0.7,en;q=0.3"), H("Accept-Encoding", "gzip,deflate"),
               H("Accept-Charset", "Shift_JIS,utf-8;q=0.7,*;q=0.7"), H("Keep-Alive", "115"),
               H("Connection", "keep-alive"),
               H("Cookie", "wp_ozh_wsa_visits=2; wp_ozh_wsa_visit_lasttime=xxxxxxxxxx; __utma=xxxxxxxxx.xxxxxxxxxx.xxxxxxxxxx.xxxxxxxxxx.xxxxxxxxxx.x; __utmz=xxxxxxxxx.xxxxxxxxxx.x.x.utmccn=(referral)|utmcsr=reader.livedoor.com|utmcct=/reader/|utmcmd=referral"),
           ],
           flags: [.host, .keepAlive, .connKeepAlive]),
        ok("bench post-head.http",
           "POST /api/v1/orders/12345/items HTTP/1.1\r\n"
               + "Host: api.example.com\r\n"
               + "User-Agent: curl/8.5.0\r\n"
               + "Accept: application/json\r\n"
               + "Content-Type: application/json; charset=utf-8\r\n"
               + "Content-Length: 348\r\n"
               + "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U\r\n"
               + "X-Request-Id: 7f3c9a2e-1b4d-4c8e-9f2a-3d5e6f7a8b9c\r\n"
               + "Accept-Encoding: gzip\r\n\r\n",
           id: SW_METHOD_POST,
           headers: [
               H("Host", "api.example.com"), H("User-Agent", "curl/8.5.0"), H("Accept", "application/json"),
               H("Content-Type", "application/json; charset=utf-8"), H("Content-Length", "348"),
               H("Authorization", "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"),
               H("X-Request-Id", "7f3c9a2e-1b4d-4c8e-9f2a-3d5e6f7a8b9c"), H("Accept-Encoding", "gzip"),
           ],
           flags: [.host, .keepAlive, .contentLength], cl: 348),
    ]

    /// Long values and errors at every alignment, so the 16- and 32-byte SIMD loops run several iterations
    /// and end in tails of every length.
    static let generated: [RequestCase] = {
        var out: [RequestCase] = []
        let alphabet = latin1("abcdefghijklmnopqrstuvwxyz0123456789-_.;=,/ ")
        func value(_ n: Int, seed: Int) -> String {
            var s = ""
            for i in 0..<n {
                var b = alphabet[(i * 7 + seed * 13) % alphabet.count]
                if b == 0x20 && (i == 0 || i == n - 1) { b = 0x61 }  // no OWS at the edges
                s.unicodeScalars.append(Unicode.Scalar(b))
            }
            return s
        }
        for k in 0..<64 {
            let v = value(256 + k, seed: k)
            out.append(ok("value of \(256 + k) bytes", req("GET / HTTP/1.1", "Host: a\r\nX-Long: \(v)\r\n"),
                          headers: [H("Host", "a"), H("X-Long", v)], flags: hostKA))
        }
        for k in 0..<64 {
            let v = value(64 + k, seed: k)
            out.append(ok("\(k) bytes of path, \(64 + k) bytes of value, trailing OWS",
                          req("GET /" + rep("p", k) + " HTTP/1.1", "Host: a\r\nX: \(v) \t \r\nY: z\r\n"),
                          headers: [H("Host", "a"), H("X", v), H("Y", "z")], flags: hostKA))
        }
        for k in 0..<64 {
            var v = Array(latin1(value(200, seed: k)))
            v[k + 64] = 0x01
            let s = String(v.map { Character(Unicode.Scalar($0)) })
            out.append(bad("control byte at offset \(k + 64) of a 200-byte value",
                           req("GET / HTTP/1.1", "Host: a\r\nX: \(s)\r\n"), SW_E_BAD_HEADER_VALUE))
        }
        for k in stride(from: 0, to: 64, by: 3) {
            let v = value(150, seed: k)
            let pre = String(v.prefix(64 + k))
            let post = String(v.dropFirst(64 + k))
            out.append(bad("bare CR at offset \(64 + k) of a 150-byte value",
                           req("GET / HTTP/1.1", "Host: a\r\nX: \(pre)\r\(post)\r\n"), SW_E_BARE_CR))
            out.append(bad("bare LF at offset \(64 + k) of a 150-byte value",
                           req("GET / HTTP/1.1", "Host: a\r\nX: \(pre)\n\(post)\r\n"), SW_E_BARE_LF))
            out.append(bad("DEL at offset \(64 + k) of a 150-byte target",
                           req("GET /" + pre.replacingOccurrences(" ", "_") + "\u{7f}" + " HTTP/1.1"),
                           SW_E_BAD_TARGET))
        }
        for k in stride(from: 0, to: 64, by: 7) {
            let v = String((0..<(300 + k)).map { Character(Unicode.Scalar(UInt8(0x80 + ($0 * 5 + k) % 128))) })
            out.append(ok("obs-text value of \(300 + k) bytes", req("GET / HTTP/1.1", "Host: a\r\nX: \(v)\r\n"),
                          headers: [H("Host", "a"), H("X", v)], flags: hostKA))
            let n = String(repeating: "n", count: 65 + k)
            out.append(ok("field name of \(65 + k) bytes", req("GET / HTTP/1.1", "Host: a\r\n\(n): v\r\n"),
                          headers: [H("Host", "a"), H(n, "v")], flags: hostKA))
        }
        return out
    }()
}

extension String {
    /// The string without leading and trailing SP/HTAB.
    var trimmingOWS: String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" { s.removeFirst() }
        while let l = s.last, l == " " || l == "\t" { s.removeLast() }
        return String(s)
    }

    func replacingOccurrences(_ a: Character, _ b: Character) -> String { String(map { $0 == a ? b : $0 }) }
}

// MARK: - Expected spans by the contract's rules

/// The path and query spans the contract prescribes for a target at `off` of the given form.
func referenceSpans(target t: [UInt8], off: Int, form f: UInt8) -> (path: Span, query: Span) {
    let end = off + t.count
    let q = t.firstIndex(of: UInt8(ascii: "?"))
    let query = q.map { Span(off: off + $0 + 1, len: t.count - $0 - 1) } ?? Span(off: end, len: 0)
    switch f {
    case form(SW_FORM_AUTHORITY):
        return (Span(off: end, len: 0), Span(off: end, len: 0))
    case form(SW_FORM_ASTERISK):
        return (Span(off: off, len: 1), Span(off: end, len: 0))
    case form(SW_FORM_ABSOLUTE):
        let sep = t.find(latin1("://"))!
        var a = sep + 3
        while a < t.count, t[a] != UInt8(ascii: "/"), t[a] != UInt8(ascii: "?") { a += 1 }
        let pathEnd = q ?? t.count
        return (Span(off: off + a, len: max(0, pathEnd - a)), query)
    default:
        return (Span(off: off, len: (q ?? t.count)), query)
    }
}

/// Every difference between a successful parse and the table's expectation.
func requestProblems(_ c: RequestCase, _ s: RequestSnapshot) -> [String] {
    guard let e = c.expect, case .head(let headLen) = c.outcome, s.rc == Int32(headLen) else { return [] }
    let input = c.input
    var p: [String] = []
    var lead = 0
    while lead + 1 < input.count, input[lead] == 0x0D, input[lead + 1] == 0x0A { lead += 2 }
    let m = latin1(e.method)
    let t = latin1(e.target)
    let wantMethod = Span(off: lead, len: m.count)
    let wantTarget = Span(off: lead + m.count + 1, len: t.count)
    if s.method != wantMethod || input.string(s.method) != e.method {
        p.append("method: expected \(e.method.debugDescription) \(wantMethod), got "
            + "\(input.string(s.method).debugDescription) \(s.method)")
    }
    if s.target != wantTarget || input.string(s.target) != e.target {
        p.append("target: expected \(e.target.debugDescription) \(wantTarget), got "
            + "\(input.string(s.target).debugDescription) \(s.target)")
    }
    let (wantPath, wantQuery) = referenceSpans(target: t, off: Int(wantTarget.off), form: e.form)
    if s.path != wantPath || (e.path != nil && input.string(s.path) != e.path!) {
        p.append("path: expected \(wantPath) \((e.path ?? input.string(wantPath)).debugDescription), got \(s.path) "
            + "\(input.string(s.path).debugDescription)")
    }
    if s.query != wantQuery || (e.query != nil && input.string(s.query) != e.query!) {
        p.append("query: expected \(wantQuery) \((e.query ?? input.string(wantQuery)).debugDescription), got "
            + "\(s.query) \(input.string(s.query).debugDescription)")
    }
    if s.methodID != e.methodID { p.append("method_id: expected \(e.methodID), got \(s.methodID)") }
    if s.targetForm != e.form { p.append("target_form: expected \(e.form), got \(s.targetForm)") }
    if s.versionMinor != e.minor { p.append("version_minor: expected \(e.minor), got \(s.versionMinor)") }
    if s.flags != e.flags.rawValue { p.append("flags: expected \(e.flags), got \(F(rawValue: s.flags))") }
    if let cl = e.contentLength, s.contentLength != cl {
        p.append("content_length: expected \(cl), got \(s.contentLength)")
    }
    if s.numHeaders != UInt32(e.headers.count) {
        p.append("num_headers: expected \(e.headers.count), got \(s.numHeaders)")
    }
    let firstField = input.find(crlf, from: Int(wantTarget.off))! + 2
    p += headerProblems(input, firstLine: firstField, expected: e.headers, got: s.headers)
    if e.flags.contains(.host), e.form == form(SW_FORM_ABSOLUTE) {
        // RFC 9112 3.2.2: the target's authority, whatever the Host field says
        let sep = t.find(latin1("://"))!
        var a = sep + 3
        while a < t.count, t[a] != UInt8(ascii: "/"), t[a] != UInt8(ascii: "?") { a += 1 }
        let want = Span(off: Int(wantTarget.off) + sep + 3, len: a - sep - 3)
        if s.host != want { p.append("host: expected the target's authority \(want), got \(s.host)") }
    } else if e.flags.contains(.host), s.headers.count == e.headers.count {
        if let i = e.headers.firstIndex(where: { $0.name.lowercased() == "host" }), s.host != s.headers[i].value {
            p.append("host: expected the Host value span \(s.headers[i].value), got \(s.host)")
        }
    }
    if e.flags.contains(.upgrade), s.headers.count == e.headers.count {
        if let i = e.headers.lastIndex(where: { $0.name.lowercased() == "upgrade" }), s.upgrade != s.headers[i].value {
            p.append("upgrade: expected the last Upgrade value span \(s.headers[i].value), got \(s.upgrade)")
        }
    }
    return p
}

// MARK: - Tests

extension SimdForcingTests {
    @Suite struct RequestParserTests {
        @Test func tableHasAtLeast150CasesAndSeveralInputsPerRequestError() {
            #expect(RequestTable.cases.count >= 150)
            var perError: [Int32: Int] = [:]
            for c in RequestTable.cases {
                if case .error(let e, _, _) = c.outcome { perError[e, default: 0] += 1 }
            }
            let requestErrors: [sw_error_t] = [
                SW_E_BAD_METHOD, SW_E_BAD_REQUEST_LINE, SW_E_BAD_TARGET, SW_E_BAD_VERSION,
                SW_E_VERSION_NOT_SUPPORTED, SW_E_URI_TOO_LONG, SW_E_BAD_HEADER_NAME, SW_E_SPACE_BEFORE_COLON,
                SW_E_OBS_FOLD, SW_E_BAD_HEADER_VALUE, SW_E_BARE_CR, SW_E_BARE_LF, SW_E_HEADERS_TOO_LARGE,
                SW_E_TOO_MANY_HEADERS, SW_E_BAD_CONTENT_LENGTH, SW_E_CONFLICTING_CONTENT_LENGTH,
                SW_E_CONTENT_LENGTH_AND_TE, SW_E_TE_CHUNKED_NOT_LAST, SW_E_TE_NOT_IMPLEMENTED, SW_E_TE_IN_HTTP10,
                SW_E_BAD_TE, SW_E_MISSING_HOST, SW_E_DUPLICATE_HOST, SW_E_BAD_HOST, SW_E_EXPECTATION_FAILED,
            ]
            for e in requestErrors {
                #expect(perError[code(e), default: 0] >= 2, "\(errorName(code(e))) has too few cases")
            }
            let valid = RequestTable.cases.filter { if case .head = $0.outcome { true } else { false } }.count
            print("request table: \(RequestTable.cases.count) cases, \(valid) valid heads, "
                + "\(perError.values.reduce(0, +)) errors over \(perError.count) codes")
        }

        @Test(arguments: RequestTable.cases)
        func parsesOneShotSplitAndByteByByteOnEverySimdPath(_ c: RequestCase) {
            let rig = ParseRig()
            forEachSimdLevel { level in
                let (one, problems) = runIncremental(count: c.input.count, expected: c.outcome) { n, prev in
                    rig.request(c.input, count: n, prevLen: prev, limits: c.limits)
                }
                let all = problems + requestProblems(c, one)
                if !all.isEmpty {
                    Issue.record(Comment(rawValue: "[\(simdName(level))] \(c.note)\ninput: \(escaped(c.input, limit: 400))\n"
                        + all.prefix(6).joined(separator: "\n")))
                }
            }
        }

        /// Every byte value in a target, at offsets that land in the vector loops, their tails and the scalar
        /// loop, on every SIMD path: the scanners classify target bytes exactly as docs/parser.md says.
        @Test func everyByteValueInTheTargetIsClassifiedByTheDocumentedSetOnEverySimdPath() {
            let rig = ParseRig()
            func allowed(_ b: UInt8) -> Bool { b >= 0x21 && b <= 0x7E && !latin1("\"#<>").contains(b) }
            forEachSimdLevel { level in
                var wrong: [String] = []
                for before in [0, 1, 7, 8, 15, 16, 30, 31, 32, 33, 47, 63, 64, 65, 100] {
                    for after in [0, 3, 40] {
                        for b in 0...255 {
                            let byte = UInt8(b)
                            let input = latin1("GET /" + String(repeating: "a", count: before)) + [byte]
                                + latin1(String(repeating: "z", count: after) + " HTTP/1.1\r\nHost: a\r\n"
                                    + "X-Pad: " + String(repeating: "p", count: 60) + "\r\n\r\n")
                            let rc = rig.request(input, count: input.count, prevLen: 0, limits: nil).rc
                            let ok: Bool
                            if allowed(byte) {
                                ok = rc == Int32(input.count)
                            } else if byte == 0x0D || byte == 0x0A {
                                ok = rc == code(SW_E_BAD_REQUEST_LINE)
                            } else if byte == 0x20 {
                                ok = rc < 0
                            } else {
                                ok = rc == code(SW_E_BAD_TARGET)
                            }
                            if !ok { wrong.append("0x\(String(b, radix: 16)) after \(before), \(after) after: \(errorName(rc))") }
                        }
                    }
                }
                #expect(wrong.isEmpty, "[\(simdName(level))] \(wrong.prefix(8))")
            }
        }

        @Test func minimalRequestHasTheseExactOffsets() {
            // "GET / HTTP/1.1\r\n" is 16 bytes, "Host: a\r\n" 9, then the blank line: 27.
            let rig = ParseRig()
            forEachSimdLevel { level in
                let s = rig.request(latin1("GET /?q HTTP/1.1\r\nHost: a\r\n\r\nBODY"), count: 33, prevLen: 0, limits: nil)
                #expect(s.rc == 29, "\(simdName(level))")
                #expect(s.method == Span(off: 0, len: 3))
                #expect(s.target == Span(off: 4, len: 3))
                #expect(s.path == Span(off: 4, len: 1))
                #expect(s.query == Span(off: 6, len: 1))
                #expect(s.headers == [HeaderSpans(name: Span(off: 18, len: 4), value: Span(off: 24, len: 1))])
                #expect(s.host == Span(off: 24, len: 1))
                #expect(s.flags == (F.host.rawValue | F.keepAlive.rawValue | F.hasQuery.rawValue))
                #expect(s.methodID == UInt8(SW_METHOD_GET.rawValue))
                #expect(s.versionMinor == 1)
                #expect(s.targetForm == UInt8(SW_FORM_ORIGIN.rawValue))
            }
        }

        @Test func defaultLimitsAreThoseOfTheHeader() {
            #expect(sw_default_limits.max_head == SW_DEFAULT_MAX_HEAD)
            #expect(sw_default_limits.max_target == SW_DEFAULT_MAX_TARGET)
            #expect(sw_default_limits.max_headers == SW_DEFAULT_MAX_HEADERS)
        }

        @Test func errorCodesMapToTheirStatusNameAndMessage() {
            let table: [(sw_error_t, Int32, String)] = [
                (SW_E_BAD_METHOD, 400, "BAD_METHOD"), (SW_E_BAD_REQUEST_LINE, 400, "BAD_REQUEST_LINE"),
                (SW_E_BAD_TARGET, 400, "BAD_TARGET"), (SW_E_BAD_VERSION, 400, "BAD_VERSION"),
                (SW_E_VERSION_NOT_SUPPORTED, 505, "VERSION_NOT_SUPPORTED"), (SW_E_URI_TOO_LONG, 414, "URI_TOO_LONG"),
                (SW_E_BAD_HEADER_NAME, 400, "BAD_HEADER_NAME"), (SW_E_SPACE_BEFORE_COLON, 400, "SPACE_BEFORE_COLON"),
                (SW_E_OBS_FOLD, 400, "OBS_FOLD"), (SW_E_BAD_HEADER_VALUE, 400, "BAD_HEADER_VALUE"),
                (SW_E_BARE_CR, 400, "BARE_CR"), (SW_E_BARE_LF, 400, "BARE_LF"),
                (SW_E_HEADERS_TOO_LARGE, 431, "HEADERS_TOO_LARGE"), (SW_E_TOO_MANY_HEADERS, 431, "TOO_MANY_HEADERS"),
                (SW_E_BAD_CONTENT_LENGTH, 400, "BAD_CONTENT_LENGTH"),
                (SW_E_CONFLICTING_CONTENT_LENGTH, 400, "CONFLICTING_CONTENT_LENGTH"),
                (SW_E_CONTENT_LENGTH_AND_TE, 400, "CONTENT_LENGTH_AND_TE"),
                (SW_E_TE_CHUNKED_NOT_LAST, 400, "TE_CHUNKED_NOT_LAST"),
                (SW_E_TE_NOT_IMPLEMENTED, 501, "TE_NOT_IMPLEMENTED"), (SW_E_TE_IN_HTTP10, 400, "TE_IN_HTTP10"),
                (SW_E_BAD_TE, 400, "BAD_TE"), (SW_E_MISSING_HOST, 400, "MISSING_HOST"),
                (SW_E_DUPLICATE_HOST, 400, "DUPLICATE_HOST"), (SW_E_BAD_HOST, 400, "BAD_HOST"),
                (SW_E_EXPECTATION_FAILED, 417, "EXPECTATION_FAILED"), (SW_E_BAD_STATUS, 502, "BAD_STATUS"),
                (SW_E_BAD_CHUNK_SIZE, 400, "BAD_CHUNK_SIZE"), (SW_E_CHUNK_SIZE_OVERFLOW, 400, "CHUNK_SIZE_OVERFLOW"),
                (SW_E_BAD_CHUNK_EXT, 400, "BAD_CHUNK_EXT"), (SW_E_CHUNK_EXT_TOO_LONG, 400, "CHUNK_EXT_TOO_LONG"),
                (SW_E_BAD_CHUNK_END, 400, "BAD_CHUNK_END"), (SW_E_BAD_TRAILER, 400, "BAD_TRAILER"),
                (SW_E_FORBIDDEN_TRAILER, 400, "FORBIDDEN_TRAILER"), (SW_E_TRAILERS_TOO_LARGE, 431, "TRAILERS_TOO_LARGE"),
                (SW_E_BODY_TOO_LARGE, 413, "BODY_TOO_LARGE"),
            ]
            for (e, status, name) in table {
                #expect(sw_error_status(code(e)) == status, "\(name)")
                #expect(String(cString: sw_error_name(code(e))) == name)
                #expect(!String(cString: sw_error_message(code(e))).isEmpty, "\(name)")
            }
            #expect(sw_error_status(-999) == 500)
            #expect(!String(cString: sw_error_message(-999)).isEmpty)
        }

        @Test func simdSelectionReportsAndForcesEverySupportedLevel() {
            #expect(sw_simd_supported(SW_SIMD_SCALAR) != 0)
            #expect(supportedSimdLevels.contains(sw_simd_active()))
            #expect(simdName(SW_SIMD_SCALAR) == "scalar")
            #expect(simdName(SW_SIMD_SSE42) == "sse42")
            #expect(simdName(SW_SIMD_AVX2) == "avx2")
            forEachSimdLevel { level in #expect(sw_simd_active() == level) }
        }

        /// A 16 KB head arriving one byte at a time (the buffer grows in place, prev_len = previous len).
        /// With the prev_len contract this is linear; a quadratic parser would make this test crawl, which is
        /// the signal (no time is asserted: timing belongs in benchmarks).
        @Test func sixteenKilobyteHeadFedOneByteAtATimeCompletes() {
            var head = Array(latin1("GET / HTTP/1.1\r\nHost: a\r\n"))
            var i = 0
            while head.count < 16384 - 40 {
                head += latin1("X-Field-\(i): " + rep("v", 50) + "\r\n")
                i += 1
            }
            head += latin1("X-Pad: ")
            head += [UInt8](repeating: 0x70, count: 16384 - head.count - 4)
            head += latin1("\r\n\r\n")
            #expect(head.count == 16384)
            let limits = Limits(head: 16384, target: 8192, headers: UInt32(i + 2))
            var headers = [sw_header_t](repeating: sw_header_t(), count: i + 2)
            var l = limits.c
            forEachSimdLevel { level in
                var prev = 0
                var calls = 0
                var rc: Int32 = SW_INCOMPLETE
                head.withUnsafeBytes { buf in
                    headers.withUnsafeMutableBufferPointer { hp in
                        var req = sw_request_t()
                        req.headers = hp.baseAddress
                        for len in 1...buf.count {
                            rc = sw_parse_request(buf.baseAddress, len, prev, &l, &req)
                            calls += 1
                            if rc != SW_INCOMPLETE { break }
                            prev = len
                        }
                        if rc > 0 { #expect(req.num_headers == UInt32(i + 2), "\(simdName(level))") }
                    }
                }
                #expect(rc == 16384, "\(simdName(level)): \(errorName(rc))")
                #expect(calls == 16384)
            }
        }
    }
}
