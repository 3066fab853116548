// sw_parse_response against docs/parser.md ("Responses"), the same way as the request table: one-shot, split
// at every offset, byte by byte, input ending at a guard page, every SIMD path. Plus sw_response_has_body.

import CShockwave
import Glibc
import Testing

struct ExpectedResponse: Sendable {
    var status: UInt16
    var reason: String
    var minor: UInt8
    var headers: [H]
    var flags: F
    var contentLength: UInt64?
}

struct ResponseCase: Sendable, CustomTestStringConvertible {
    var note: String
    var input: [UInt8]
    var limits: Limits?
    var outcome: Outcome
    var expect: ExpectedResponse?
    var testDescription: String {
        let l = limits.map { " [\($0)]" } ?? ""
        return "\(note)\(l): \(escaped(input, limit: 60))"
    }
}

/// A valid response head; `reason` is the expected reason phrase ("" when empty or absent).
private func ok(
    _ note: String, _ head: String, body: String = "", limits: Limits? = nil, status: UInt16, reason: String,
    minor: UInt8 = 1, headers: [H] = [], flags: F, cl: UInt64? = nil
) -> ResponseCase {
    precondition(flags.contains(.contentLength) == (cl != nil), "\(note): cl iff CONTENT_LENGTH")
    let h = latin1(head)
    return ResponseCase(
        note: note, input: h + latin1(body), limits: limits, outcome: .head(h.count),
        expect: ExpectedResponse(
            status: status, reason: reason, minor: minor, headers: headers, flags: flags, contentLength: cl))
}

private func bad(
    _ note: String, _ input: String, _ e: sw_error_t, limits: Limits? = nil, from: Int? = nil,
    fromIncremental: Bool = false
) -> ResponseCase {
    ResponseCase(
        note: note, input: latin1(input), limits: limits,
        outcome: .error(code(e), from: from, fromIncremental: fromIncremental), expect: nil)
}

private func partial(_ note: String, _ input: String) -> ResponseCase {
    ResponseCase(note: note, input: latin1(input), limits: nil, outcome: .incomplete, expect: nil)
}

private func res(_ line: String, _ fields: String = "") -> String { line + "\r\n" + fields + "\r\n" }

enum ResponseTable {
    static let cases: [ResponseCase] = [
        ok("200 with Content-Length and a body", res("HTTP/1.1 200 OK", "Content-Length: 5\r\n"), body: "hello",
           status: 200, reason: "OK", headers: [H("Content-Length", "5")], flags: [.contentLength, .keepAlive], cl: 5),
        ok("status line without a reason phrase or its SP", res("HTTP/1.1 200"), status: 200, reason: "",
           flags: [.keepAlive]),
        ok("status line with an empty reason phrase", res("HTTP/1.1 204 "), status: 204, reason: "",
           flags: [.keepAlive]),
        ok("HTTP/1.0 response does not keep alive", res("HTTP/1.0 404 Not Found"), status: 404,
           reason: "Not Found", minor: 0, flags: []),
        ok("HTTP/1.0 response with keep-alive", res("HTTP/1.0 200 OK", "Connection: keep-alive\r\n"), status: 200,
           reason: "OK", minor: 0, headers: [H("Connection", "keep-alive")], flags: [.connKeepAlive, .keepAlive]),
        ok("HTTP/1.2 is reported as minor 1", res("HTTP/1.2 200 OK"), status: 200, reason: "OK", flags: [.keepAlive]),
        ok("101 with Upgrade", res("HTTP/1.1 101 Switching Protocols", "Upgrade: websocket\r\nConnection: Upgrade\r\n"),
           status: 101, reason: "Switching Protocols", headers: [H("Upgrade", "websocket"), H("Connection", "Upgrade")],
           flags: [.upgrade, .connUpgrade, .keepAlive]),
        ok("100 Continue", res("HTTP/1.1 100 Continue"), status: 100, reason: "Continue", flags: [.keepAlive]),
        ok("status 999 is in range", res("HTTP/1.1 999 Whatever"), status: 999, reason: "Whatever",
           flags: [.keepAlive]),
        ok("reason phrase with HTAB, SP and obs-text", res("HTTP/1.1 200 O\tK caf\u{e9} \u{ff}!"), status: 200,
           reason: "O\tK caf\u{e9} \u{ff}!", flags: [.keepAlive]),
        ok("reason phrase of every VCHAR", res("HTTP/1.1 200 !\"#$%&'()*+,-./09:;<=>?@AZ[\\]^_`az{|}~"), status: 200,
           reason: "!\"#$%&'()*+,-./09:;<=>?@AZ[\\]^_`az{|}~", flags: [.keepAlive]),
        ok("a 300-byte reason phrase, over a small max_target (which does not apply)",
           res("HTTP/1.1 500 " + String(repeating: "r", count: 300)), limits: Limits(head: 1024, target: 16, headers: 4),
           status: 500, reason: String(repeating: "r", count: 300), flags: [.keepAlive]),
        ok("chunked response", res("HTTP/1.1 200 OK", "Transfer-Encoding: chunked\r\n"), body: "0\r\n\r\n",
           status: 200, reason: "OK", headers: [H("Transfer-Encoding", "chunked")], flags: [.chunked, .keepAlive]),
        ok("Connection: close", res("HTTP/1.1 200 OK", "Connection: close\r\nContent-Length: 0\r\n"), status: 200,
           reason: "OK", headers: [H("Connection", "close"), H("Content-Length", "0")],
           flags: [.connClose, .contentLength], cl: 0),
        ok("Host is not interpreted in responses: two of them, one odd",
           res("HTTP/1.1 200 OK", "Host: a b\r\nHost: c\r\n"), status: 200, reason: "OK",
           headers: [H("Host", "a b"), H("Host", "c")], flags: [.keepAlive]),
        ok("Expect is not interpreted in responses", res("HTTP/1.1 200 OK", "Expect: foo\r\n"), status: 200,
           reason: "OK", headers: [H("Expect", "foo")], flags: [.keepAlive]),
        ok("trimmed values and an empty value", res("HTTP/1.1 200 OK", "X: \t a b \t\r\nY:\r\nServer: s\r\n"),
           status: 200, reason: "OK", headers: [H("X", "a b"), H("Y", ""), H("Server", "s")], flags: [.keepAlive]),
        ok("equal Content-Length list", res("HTTP/1.1 200 OK", "Content-Length: 7, 7\r\n"), status: 200,
           reason: "OK", headers: [H("Content-Length", "7, 7")], flags: [.contentLength, .keepAlive], cl: 7),
        ok("a pipelined second response is not part of the first", res("HTTP/1.1 304 Not Modified"),
           body: res("HTTP/1.1 200 OK"), status: 304, reason: "Not Modified", flags: [.keepAlive]),
        ok("4 field lines at max_headers 4", res("HTTP/1.1 200 OK", "A: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n"),
           limits: Limits(head: 1024, target: 16, headers: 4), status: 200, reason: "OK",
           headers: [H("A", "1"), H("B", "2"), H("C", "3"), H("D", "4")], flags: [.keepAlive]),
        // "HTTP/1.1 200 OK\r\n" (17) + "X: " v "\r\n" + "\r\n" = 24 + len(v)
        ok("head exactly at max_head (64)", res("HTTP/1.1 200 OK", "X: " + String(repeating: "v", count: 40) + "\r\n"),
           limits: Limits(head: 64, target: 16, headers: 4), status: 200, reason: "OK",
           headers: [H("X", String(repeating: "v", count: 40))], flags: [.keepAlive]),
        ok("a value over 256 bytes", res("HTTP/1.1 200 OK", "Set-Cookie: " + String(repeating: "c=1; ", count: 60) + "x\r\n"),
           status: 200, reason: "OK", headers: [H("Set-Cookie", String(repeating: "c=1; ", count: 60) + "x")],
           flags: [.keepAlive]),
        bad("status 099 is below 100", res("HTTP/1.1 099 Low"), SW_E_BAD_STATUS),
        bad("status 000", res("HTTP/1.1 000 Zero"), SW_E_BAD_STATUS),
        bad("four-digit status", res("HTTP/1.1 1000 Big"), SW_E_BAD_STATUS),
        bad("two-digit status", res("HTTP/1.1 20 OK"), SW_E_BAD_STATUS),
        bad("two-digit status without reason", res("HTTP/1.1 20"), SW_E_BAD_STATUS),
        bad("letter in the status", res("HTTP/1.1 2x0 OK"), SW_E_BAD_STATUS),
        bad("negative status", res("HTTP/1.1 -20 OK"), SW_E_BAD_STATUS),
        bad("two SPs before the status", res("HTTP/1.1  200 OK"), SW_E_BAD_STATUS),
        bad("no SP between status and reason", res("HTTP/1.1 200OK"), SW_E_BAD_STATUS),
        bad("control byte in the reason phrase", res("HTTP/1.1 200 O\u{01}K"), SW_E_BAD_STATUS),
        bad("DEL in the reason phrase", res("HTTP/1.1 200 OK\u{7f}"), SW_E_BAD_STATUS),
        bad("NUL in the reason phrase", res("HTTP/1.1 200 \0"), SW_E_BAD_STATUS),
        bad("HTTP/2.0 is not supported", res("HTTP/2.0 200 OK"), SW_E_VERSION_NOT_SUPPORTED),
        bad("HTTP/0.9 is not supported", res("HTTP/0.9 200 OK"), SW_E_VERSION_NOT_SUPPORTED),
        bad("two-digit minor", res("HTTP/1.10 200 OK"), SW_E_BAD_VERSION),
        bad("lower-case http", res("http/1.1 200 OK"), SW_E_BAD_VERSION),
        bad("a request line where a status line belongs", res("GET / HTTP/1.1", "Host: a\r\n"), SW_E_BAD_VERSION),
        bad("status line ends in bare LF", "HTTP/1.1 200 OK\nX: y\r\n\r\n", SW_E_BARE_LF),
        bad("bare CR in the reason phrase", res("HTTP/1.1 200 O\rK"), SW_E_BARE_CR),
        bad("bare CR in a value", res("HTTP/1.1 200 OK", "X: a\rb\r\n"), SW_E_BARE_CR),
        bad("head ends in LF LF", "HTTP/1.1 200 OK\r\nX: y\n\n", SW_E_BARE_LF),
        bad("obs-fold", res("HTTP/1.1 200 OK", "X: a\r\n b\r\n"), SW_E_OBS_FOLD),
        bad("bad field name", res("HTTP/1.1 200 OK", "X(: a\r\n"), SW_E_BAD_HEADER_NAME),
        bad("field line without a colon", res("HTTP/1.1 200 OK", "Server\r\n"), SW_E_BAD_HEADER_NAME),
        bad("SP before the colon", res("HTTP/1.1 200 OK", "Server : s\r\n"), SW_E_SPACE_BEFORE_COLON),
        bad("control byte in a value", res("HTTP/1.1 200 OK", "X: a\u{01}\r\n"), SW_E_BAD_HEADER_VALUE),
        bad("NUL in a value", res("HTTP/1.1 200 OK", "X: \0\r\n"), SW_E_BAD_HEADER_VALUE),
        bad("Content-Length with Transfer-Encoding",
            res("HTTP/1.1 200 OK", "Content-Length: 3\r\nTransfer-Encoding: chunked\r\n"), SW_E_CONTENT_LENGTH_AND_TE),
        bad("Transfer-Encoding in an HTTP/1.0 response", res("HTTP/1.0 200 OK", "Transfer-Encoding: chunked\r\n"),
            SW_E_TE_IN_HTTP10),
        bad("a transfer coding other than chunked", res("HTTP/1.1 200 OK", "Transfer-Encoding: gzip\r\n"),
            SW_E_TE_NOT_IMPLEMENTED),
        bad("chunked not last", res("HTTP/1.1 200 OK", "Transfer-Encoding: chunked, gzip\r\n"),
            SW_E_TE_CHUNKED_NOT_LAST),
        bad("empty Transfer-Encoding", res("HTTP/1.1 200 OK", "Transfer-Encoding: ,\r\n"), SW_E_BAD_TE),
        bad("Content-Length values that differ", res("HTTP/1.1 200 OK", "Content-Length: 1\r\nContent-Length: 2\r\n"),
            SW_E_CONFLICTING_CONTENT_LENGTH),
        bad("non-digit Content-Length", res("HTTP/1.1 200 OK", "Content-Length: 1e3\r\n"), SW_E_BAD_CONTENT_LENGTH),
        bad("Content-Length above 2^62", res("HTTP/1.1 200 OK", "Content-Length: 4611686018427387905\r\n"),
            SW_E_BAD_CONTENT_LENGTH),
        bad("5 field lines over max_headers 4", res("HTTP/1.1 200 OK", "A: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5\r\n"),
            SW_E_TOO_MANY_HEADERS, limits: Limits(head: 1024, target: 16, headers: 4)),
        bad("head one over max_head (64)", res("HTTP/1.1 200 OK", "X: " + String(repeating: "v", count: 41) + "\r\n"),
            SW_E_HEADERS_TOO_LARGE, limits: Limits(head: 64, target: 16, headers: 4), from: 64, fromIncremental: true),
        ok("leading empty lines are skipped, as for requests (\"the same contract\")",
           "\r\n\r\n" + res("HTTP/1.1 200 OK", "Content-Length: 0\r\n"), status: 200, reason: "OK",
           headers: [H("Content-Length", "0")], flags: [.contentLength, .keepAlive], cl: 0),
        bad("a leading bare LF", "\n" + res("HTTP/1.1 200 OK"), SW_E_BARE_LF),
        partial("a status line only", "HTTP/1.1 200 OK\r\n"),
        partial("everything but the final LF", "HTTP/1.1 200 OK\r\nX: y\r\n\r"),
    ]
}

func responseProblems(_ c: ResponseCase, _ s: ResponseSnapshot) -> [String] {
    guard let e = c.expect, case .head(let headLen) = c.outcome, s.rc == Int32(headLen) else { return [] }
    let input = c.input
    var p: [String] = []
    var lead = 0
    while lead + 1 < input.count, input[lead] == 0x0D, input[lead + 1] == 0x0A { lead += 2 }
    // "HTTP/1.x SSS" is 12 bytes; the reason starts after the SP at 12, or (absent) is empty at the CR at 12.
    let reasonOff = lead + (input[lead + 12] == 0x20 ? 13 : 12)
    let wantReason = Span(off: reasonOff, len: latin1(e.reason).count)
    if s.reason != wantReason || input.string(s.reason) != e.reason {
        p.append("reason: expected \(e.reason.debugDescription) \(wantReason), got "
            + "\(input.string(s.reason).debugDescription) \(s.reason)")
    }
    if s.status != e.status { p.append("status: expected \(e.status), got \(s.status)") }
    if s.versionMinor != e.minor { p.append("version_minor: expected \(e.minor), got \(s.versionMinor)") }
    if s.flags != e.flags.rawValue { p.append("flags: expected \(e.flags), got \(F(rawValue: s.flags))") }
    if let cl = e.contentLength, s.contentLength != cl {
        p.append("content_length: expected \(cl), got \(s.contentLength)")
    }
    let firstField = input.find(crlf, from: lead)! + 2
    p += headerProblems(input, firstLine: firstField, expected: e.headers, got: s.headers)
    if e.flags.contains(.upgrade), s.headers.count == e.headers.count,
        let i = e.headers.lastIndex(where: { $0.name.lowercased() == "upgrade" }), s.upgrade != s.headers[i].value
    {
        p.append("upgrade: expected the last Upgrade value span \(s.headers[i].value), got \(s.upgrade)")
    }
    return p
}

extension SimdForcingTests {
    @Suite struct ResponseParserTests {
        @Test func tableHasAtLeast30Cases() {
            #expect(ResponseTable.cases.count >= 30)
            print("response table: \(ResponseTable.cases.count) cases")
        }

        @Test(arguments: ResponseTable.cases)
        func parsesOneShotSplitAndByteByByteOnEverySimdPath(_ c: ResponseCase) {
            let rig = ParseRig()
            forEachSimdLevel { level in
                let (one, problems) = runIncremental(count: c.input.count, expected: c.outcome) { n, prev in
                    rig.response(c.input, count: n, prevLen: prev, limits: c.limits)
                }
                let all = problems + responseProblems(c, one)
                if !all.isEmpty {
                    Issue.record(Comment(rawValue: "[\(simdName(level))] \(c.note)\ninput: \(escaped(c.input, limit: 400))\n"
                        + all.prefix(6).joined(separator: "\n")))
                }
            }
        }

        /// RFC 9112 6.3: no body for 1xx, 204, 304, any reply to HEAD, and a 2xx reply to CONNECT (a tunnel).
        @Test(arguments: [
            (200, SW_METHOD_GET, 1), (200, SW_METHOD_POST, 1), (404, SW_METHOD_GET, 1), (500, SW_METHOD_OTHER, 1),
            (205, SW_METHOD_GET, 1), (999, SW_METHOD_GET, 1), (302, SW_METHOD_PUT, 1),
            (100, SW_METHOD_GET, 0), (101, SW_METHOD_GET, 0), (103, SW_METHOD_POST, 0), (199, SW_METHOD_GET, 0),
            (204, SW_METHOD_GET, 0), (204, SW_METHOD_POST, 0), (304, SW_METHOD_GET, 0),
            (200, SW_METHOD_HEAD, 0), (404, SW_METHOD_HEAD, 0), (500, SW_METHOD_HEAD, 0),
            (200, SW_METHOD_CONNECT, 0), (299, SW_METHOD_CONNECT, 0),
            (407, SW_METHOD_CONNECT, 1), (302, SW_METHOD_CONNECT, 1), (100, SW_METHOD_CONNECT, 0),
        ] as [(Int, sw_method_t, Int)])
        func responseHasBodyFollowsRfc9112Section6_3(_ status: Int, _ method: sw_method_t, _ expected: Int) {
            #expect(sw_response_has_body(Int32(status), Int32(method.rawValue)) == Int32(expected))
        }
    }
}
