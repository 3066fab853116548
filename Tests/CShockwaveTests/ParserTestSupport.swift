// Shared machinery for the parser tables (RequestParserTests, ResponseParserTests) and the SIMD agreement
// test: guarded buffers, snapshots of parser results, SIMD forcing, and the incremental (split / byte by
// byte) runner. The expectations themselves live in the table files; nothing here looks at parser internals.

import CShockwave
import Glibc
import Synchronization
import Testing

// MARK: - The serialized parent suite

/// Every test that calls `sw_simd_force` (a process-wide switch) lives in a suite nested in this one, so
/// they never run concurrently with each other; `simdLock` backs this up should the trait ever stop being
/// inherited by nested suites.
@Suite(.serialized) enum SimdForcingTests {}

let simdLock = Mutex<Void>(())

/// The SIMD levels this CPU and build can run, scalar first.
let supportedSimdLevels: [sw_simd_t] = [SW_SIMD_SCALAR, SW_SIMD_SSE42, SW_SIMD_AVX2].filter {
    sw_simd_supported($0) != 0
}

func simdName(_ level: sw_simd_t) -> String { String(cString: sw_simd_name(level)) }

/// Runs `body` once per supported SIMD level with that level forced, then restores the level that was
/// active before.
func forEachSimdLevel(_ body: (sw_simd_t) -> Void) {
    simdLock.withLock { _ in
        let saved = sw_simd_active()
        defer { _ = sw_simd_force(saved) }
        for level in supportedSimdLevels {
            let rc = sw_simd_force(level)
            #expect(rc == 0, "sw_simd_force(\(simdName(level))) returned \(rc) for a supported level")
            guard rc == 0 else { continue }
            body(level)
        }
    }
}

// MARK: - Bytes

/// Latin-1 bytes of `s`: each Unicode scalar must be below 256 and becomes one byte, so "\u{80}" is the
/// single byte 0x80. Lets the tables write obs-text and control bytes inline.
func latin1(_ s: String) -> [UInt8] {
    s.unicodeScalars.map { scalar in
        precondition(scalar.value < 256, "test input must be Latin-1")
        return UInt8(scalar.value)
    }
}

/// A C-style escaped rendering of bytes for failure messages, shortened in the middle if long.
func escaped(_ bytes: some Collection<UInt8>, limit: Int = 160) -> String {
    var out = ""
    let all = Array(bytes)
    func render(_ slice: ArraySlice<UInt8>) {
        for b in slice {
            switch b {
            case 0x0D: out += "\\r"
            case 0x0A: out += "\\n"
            case 0x09: out += "\\t"
            case 0x5C: out += "\\\\"
            case 0x22: out += "\\\""
            case 0x20...0x7E: out.unicodeScalars.append(Unicode.Scalar(b))
            default:
                let hex = String(b, radix: 16)
                out += "\\x" + (hex.count == 1 ? "0" + hex : hex)
            }
        }
    }
    if all.count <= limit {
        render(all[...])
    } else {
        render(all[..<(limit / 2)])
        out += "…(\(all.count) bytes)…"
        render(all[(all.count - limit / 2)...])
    }
    return "\"" + out + "\""
}

func errorName(_ code: Int32) -> String {
    if code > 0 { return "head(\(code))" }
    if code == SW_INCOMPLETE { return "INCOMPLETE" }
    return "SW_E_" + String(cString: sw_error_name(code)) + "(\(code))"
}

/// The raw value of an SW_E_* enumerator, as sw_parse_request returns it.
func code(_ e: sw_error_t) -> Int32 { Int32(truncatingIfNeeded: e.rawValue) }

// MARK: - Flags and limits

/// SW_F_* as an option set, so tables read `[.host, .keepAlive]`.
struct F: OptionSet, Sendable, CustomStringConvertible {
    let rawValue: UInt32
    static let contentLength = F(rawValue: UInt32(SW_F_CONTENT_LENGTH))
    static let chunked = F(rawValue: UInt32(SW_F_CHUNKED))
    static let connClose = F(rawValue: UInt32(SW_F_CONN_CLOSE))
    static let connKeepAlive = F(rawValue: UInt32(SW_F_CONN_KEEP_ALIVE))
    static let connUpgrade = F(rawValue: UInt32(SW_F_CONN_UPGRADE))
    static let upgrade = F(rawValue: UInt32(SW_F_UPGRADE))
    static let expectContinue = F(rawValue: UInt32(SW_F_EXPECT_CONTINUE))
    static let hasQuery = F(rawValue: UInt32(SW_F_HAS_QUERY))
    static let host = F(rawValue: UInt32(SW_F_HOST))
    static let keepAlive = F(rawValue: UInt32(SW_F_KEEP_ALIVE))

    var description: String {
        let names: [(F, String)] = [
            (.contentLength, "CONTENT_LENGTH"), (.chunked, "CHUNKED"), (.connClose, "CONN_CLOSE"),
            (.connKeepAlive, "CONN_KEEP_ALIVE"), (.connUpgrade, "CONN_UPGRADE"), (.upgrade, "UPGRADE"),
            (.expectContinue, "EXPECT_CONTINUE"), (.hasQuery, "HAS_QUERY"), (.host, "HOST"),
            (.keepAlive, "KEEP_ALIVE"),
        ]
        var parts = names.filter { contains($0.0) }.map(\.1)
        let known = names.reduce(F()) { $0.union($1.0) }
        if !subtracting(known).isEmpty { parts.append("0x" + String(subtracting(known).rawValue, radix: 16)) }
        return "[" + parts.joined(separator: ",") + "]"
    }
}

/// A custom sw_limits_t; `nil` where a table passes NULL (the defaults).
struct Limits: Sendable, CustomStringConvertible {
    var head: UInt32
    var target: UInt32
    var headers: UInt32
    var c: sw_limits_t { sw_limits_t(max_head: head, max_target: target, max_headers: headers) }
    var description: String { "limits(head \(head), target \(target), headers \(headers))" }
}

// MARK: - Guarded memory

/// An anonymous mapping whose last page is PROT_NONE. Bytes are copied so that they end right before the
/// guard page: a parser that reads (or a header array write that goes) one byte too far faults at once.
final class GuardedMemory {
    let base: UnsafeMutableRawPointer
    let usable: Int
    private let mapped: Int

    init(capacity: Int) {
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        usable = max(1, (capacity + page - 1) / page) * page
        mapped = usable + page
        let p = mmap(nil, mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
        precondition(p != nil && p != UnsafeMutableRawPointer(bitPattern: -1), "mmap failed")
        base = p!
        precondition(mprotect(base + usable, page, PROT_NONE) == 0, "mprotect failed")
    }

    deinit { munmap(base, mapped) }

    private let slack = getenv("SW_TEST_NO_GUARD") != nil ? 64 : 0
    private let slackByte: UInt8 = getenv("SW_TEST_NO_GUARD").flatMap { UInt8(String(cString: $0), radix: 16) } ?? 0xFF

    /// The first byte of the guard page.
    var end: UnsafeMutableRawPointer { base + usable }

    /// Copies `bytes[0..<count]` so they end at the guard page and returns where they start.
    /// With SW_TEST_NO_GUARD=<hex byte> set (a debugging aid only, to see past an over-read crash), 64
    /// copies of that byte sit between the bytes and the guard page instead.
    func place(_ bytes: UnsafeRawBufferPointer, count: Int) -> UnsafeRawPointer {
        precondition(count + slack <= usable && count <= bytes.count)
        if slack > 0 { (end - slack).initializeMemory(as: UInt8.self, repeating: slackByte, count: slack) }
        let dst = end - slack - count
        if count > 0 { dst.copyMemory(from: bytes.baseAddress!, byteCount: count) }
        return UnsafeRawPointer(dst)
    }
}

// MARK: - Snapshots

struct Span: Equatable, Sendable, CustomStringConvertible {
    var off: UInt32
    var len: UInt32
    init(_ s: sw_span_t) { off = s.off; len = s.len }
    init(off: Int, len: Int) { self.off = UInt32(off); self.len = UInt32(len) }
    var description: String { "{\(off),\(len)}" }
}

struct HeaderSpans: Equatable, Sendable, CustomStringConvertible {
    var name: Span
    var value: Span
    var description: String { "\(name):\(value)" }
}

/// Everything a sw_parse_request call produced. Fields other than `rc` are kept only when rc > 0 (the
/// header says `req` is only meaningful then).
struct RequestSnapshot: Equatable, CustomStringConvertible {
    var rc: Int32
    var numHeaders: UInt32 = 0
    var flags: UInt32 = 0
    var contentLength: UInt64 = 0
    var method = Span(off: 0, len: 0)
    var target = Span(off: 0, len: 0)
    var path = Span(off: 0, len: 0)
    var query = Span(off: 0, len: 0)
    var host = Span(off: 0, len: 0)
    var upgrade = Span(off: 0, len: 0)
    var methodID: UInt8 = 0
    var versionMinor: UInt8 = 0
    var targetForm: UInt8 = 0
    var headers: [HeaderSpans] = []

    init(rc: Int32) { self.rc = rc }

    init(rc: Int32, _ r: sw_request_t) {
        self.rc = rc
        guard rc > 0 else { return }
        numHeaders = r.num_headers
        flags = r.flags
        contentLength = r.content_length
        method = Span(r.method)
        target = Span(r.target)
        path = Span(r.path)
        query = Span(r.query)
        host = Span(r.host)
        upgrade = Span(r.upgrade)
        methodID = r.method_id
        versionMinor = r.version_minor
        targetForm = r.target_form
        headers = (0..<Int(r.num_headers)).map {
            HeaderSpans(name: Span(r.headers[$0].name), value: Span(r.headers[$0].value))
        }
    }

    var description: String {
        guard rc > 0 else { return errorName(rc) }
        return "head(\(rc)) method \(method) id \(methodID) target \(target) form \(targetForm) path \(path) "
            + "query \(query) minor \(versionMinor) flags \(F(rawValue: flags)) cl \(contentLength) "
            + "host \(host) upgrade \(upgrade) headers(\(numHeaders)) \(headers)"
    }
}

struct ResponseSnapshot: Equatable, CustomStringConvertible {
    var rc: Int32
    var numHeaders: UInt32 = 0
    var flags: UInt32 = 0
    var contentLength: UInt64 = 0
    var reason = Span(off: 0, len: 0)
    var upgrade = Span(off: 0, len: 0)
    var status: UInt16 = 0
    var versionMinor: UInt8 = 0
    var headers: [HeaderSpans] = []

    init(rc: Int32) { self.rc = rc }

    init(rc: Int32, _ r: sw_response_t) {
        self.rc = rc
        guard rc > 0 else { return }
        numHeaders = r.num_headers
        flags = r.flags
        contentLength = r.content_length
        reason = Span(r.reason)
        upgrade = Span(r.upgrade)
        status = r.status
        versionMinor = r.version_minor
        headers = (0..<Int(r.num_headers)).map {
            HeaderSpans(name: Span(r.headers[$0].name), value: Span(r.headers[$0].value))
        }
    }

    var description: String {
        guard rc > 0 else { return errorName(rc) }
        return "head(\(rc)) status \(status) reason \(reason) minor \(versionMinor) flags \(F(rawValue: flags)) "
            + "cl \(contentLength) upgrade \(upgrade) headers(\(numHeaders)) \(headers)"
    }
}

// MARK: - The rig

/// SW_TEST_TRACE=1 prints every parser call (bytes, prev_len) to stderr before it is made, so a crash at
/// the guard page (an over-read) can be traced to its input.
let traceParserCalls = getenv("SW_TEST_TRACE") != nil

func trace(_ what: String, _ bytes: UnsafeRawBufferPointer, count: Int, prevLen: Int) {
    guard traceParserCalls else { return }
    let line = "\(what) len \(count) prev_len \(prevLen) simd \(simdName(sw_simd_active())): "
        + escaped(UnsafeRawBufferPointer(rebasing: bytes[..<count]), limit: 2000) + "\n"
    var bytes = Array(line.utf8)
    _ = write(2, &bytes, bytes.count)
}

/// Owns a guarded input buffer and a guarded header array (exactly `max_headers` entries, ending at a guard
/// page) and calls the parsers with the input placed against the guard.
final class ParseRig {
    let input: GuardedMemory
    let headerMemory: GuardedMemory

    init(maxInput: Int = 40_000, maxHeaders: Int = 256) {
        input = GuardedMemory(capacity: maxInput)
        headerMemory = GuardedMemory(capacity: maxHeaders * MemoryLayout<sw_header_t>.stride)
    }

    private func headerArray(_ limits: Limits?) -> UnsafeMutablePointer<sw_header_t> {
        let n = Int(limits?.headers ?? SW_DEFAULT_MAX_HEADERS)
        let start = headerMemory.end - n * MemoryLayout<sw_header_t>.stride
        precondition(start >= headerMemory.base, "header array larger than the rig")
        return start.assumingMemoryBound(to: sw_header_t.self)
    }

    func request(_ bytes: [UInt8], count: Int, prevLen: Int, limits: Limits?) -> RequestSnapshot {
        bytes.withUnsafeBytes { request($0, count: count, prevLen: prevLen, limits: limits) }
    }

    func request(_ bytes: UnsafeRawBufferPointer, count: Int, prevLen: Int, limits: Limits?) -> RequestSnapshot {
        trace("request", bytes, count: count, prevLen: prevLen)
        let p = input.place(bytes, count: count)
        var req = sw_request_t()
        req.headers = headerArray(limits)
        let rc: Int32
        if var l = limits?.c {
            rc = sw_parse_request(p, count, prevLen, &l, &req)
        } else {
            rc = sw_parse_request(p, count, prevLen, nil, &req)
        }
        return RequestSnapshot(rc: rc, req)
    }

    func response(_ bytes: [UInt8], count: Int, prevLen: Int, limits: Limits?) -> ResponseSnapshot {
        bytes.withUnsafeBytes { response($0, count: count, prevLen: prevLen, limits: limits) }
    }

    func response(_ bytes: UnsafeRawBufferPointer, count: Int, prevLen: Int, limits: Limits?) -> ResponseSnapshot {
        trace("response", bytes, count: count, prevLen: prevLen)
        let p = input.place(bytes, count: count)
        var res = sw_response_t()
        res.headers = headerArray(limits)
        let rc: Int32
        if var l = limits?.c {
            rc = sw_parse_response(p, count, prevLen, &l, &res)
        } else {
            rc = sw_parse_response(p, count, prevLen, nil, &res)
        }
        return ResponseSnapshot(rc: rc, res)
    }
}

// MARK: - Outcomes and the incremental runner

/// What a table case expects from a one-shot parse of its whole input.
enum Outcome: Sendable, Equatable {
    /// A complete head of this many bytes (the input may go on with body bytes).
    case head(Int)
    /// This error. `from`: a prefix of at least this many bytes, parsed with prev_len 0, must already
    /// return it (limits are "reported as soon as" they are crossed); `fromIncremental`: the same holds
    /// for a byte-by-byte feed with prev_len (the contract promises that for crossed limits).
    case error(Int32, from: Int? = nil, fromIncremental: Bool = false)
    /// A valid head that has not ended yet.
    case incomplete

    var rc: Int32 {
        switch self {
        case .head(let n): return Int32(n)
        case .error(let e, _, _): return e
        case .incomplete: return SW_INCOMPLETE
        }
    }
}

protocol ParseSnapshot: Equatable, CustomStringConvertible { var rc: Int32 { get } }
extension RequestSnapshot: ParseSnapshot {}
extension ResponseSnapshot: ParseSnapshot {}

/// Checks one input under the current SIMD level: the one-shot result (returned, for the caller to check
/// fields against the table), then the input split at every offset (prefix with prev_len 0, then the whole
/// buffer with prev_len = prefix length), then fed byte by byte with prev_len = previous length.
/// Returns the one-shot snapshot and the problems found (at most one per mode, to keep reports readable).
func runIncremental<S: ParseSnapshot>(
    count n: Int, expected: Outcome, parse: (_ count: Int, _ prevLen: Int) -> S
) -> (S, [String]) {
    var problems: [String] = []
    let one = parse(n, 0)
    if one.rc != expected.rc {
        problems.append("one-shot: expected \(errorName(expected.rc)), got \(one)")
    }
    let headLen: Int? = if case .head(let h) = expected { h } else { nil }
    var mustFailFrom: Int? = nil
    var mustFailIncrementally = false
    if case .error(_, let from, let inc) = expected {
        mustFailFrom = from
        mustFailIncrementally = inc
    }

    // What a prefix of `p` bytes (parsed with prev_len 0, or reached byte by byte) may return.
    func prefixProblem(_ r: S, _ p: Int, incremental: Bool) -> String? {
        switch expected {
        case .head(let h):
            if p >= h { return r == one ? nil : "expected the one-shot result \(one), got \(r)" }
            return r.rc == SW_INCOMPLETE ? nil : "expected INCOMPLETE, got \(r)"
        case .error(let e, _, _):
            if let from = mustFailFrom, p >= from, !incremental || mustFailIncrementally {
                return r.rc == e ? nil : "expected \(errorName(e)) as soon as \(from) bytes are present, got \(r)"
            }
            return r.rc == SW_INCOMPLETE || r.rc == e ? nil : "expected INCOMPLETE or \(errorName(e)), got \(r)"
        case .incomplete:
            return r.rc == SW_INCOMPLETE ? nil : "expected INCOMPLETE, got \(r)"
        }
    }

    // (a) Split at every offset.
    for p in 0..<n {
        let a = parse(p, 0)
        if let problem = prefixProblem(a, p, incremental: false) {
            problems.append("split at \(p): prefix call: \(problem)")
            break
        }
        guard a.rc == SW_INCOMPLETE else { continue }
        let b = parse(n, p)
        if b != one {
            problems.append("split at \(p): second call (prev_len \(p)): expected \(one), got \(b)")
            break
        }
    }

    // (b) Byte by byte.
    var prev = 0
    var final: S? = nil
    for len in 1...max(n, 1) where len <= n {
        let r = parse(len, prev)
        if r.rc == SW_INCOMPLETE {
            if let problem = prefixProblem(r, len, incremental: true) {
                problems.append("byte by byte at \(len) (prev_len \(prev)): \(problem)")
                final = r
                break
            }
            prev = len
            if len == n { final = r }
            continue
        }
        if let problem = prefixProblem(r, len, incremental: true) {
            problems.append("byte by byte at \(len) (prev_len \(prev)): \(problem)")
        } else if let h = headLen, len != h {
            problems.append("byte by byte: head reported at \(len), expected at \(h)")
        } else if r != one {
            problems.append("byte by byte at \(len): expected the one-shot result \(one), got \(r)")
        }
        final = r
        break
    }
    if n > 0, let f = final, f.rc == SW_INCOMPLETE, one.rc != SW_INCOMPLETE {
        problems.append("byte by byte: still INCOMPLETE with all \(n) bytes, one-shot gave \(one)")
    }
    _ = headLen
    return (one, problems)
}

// MARK: - Reference helpers for expected spans

extension Array where Element == UInt8 {
    /// The index of the first occurrence of `needle` at or after `from`.
    func find(_ needle: [UInt8], from: Int = 0) -> Int? {
        guard needle.count <= count else { return nil }
        var i = from
        while i + needle.count <= count {
            if self[i..<(i + needle.count)].elementsEqual(needle) { return i }
            i += 1
        }
        return nil
    }

    func string(_ s: Span) -> String {
        let lo = Int(s.off)
        let hi = lo + Int(s.len)
        guard lo <= hi, hi <= count else { return "<span \(s) outside \(count) bytes>" }
        return String(self[lo..<hi].map { Character(Unicode.Scalar($0)) })
    }
}

let crlf: [UInt8] = [0x0D, 0x0A]

/// Expected header: name and (trimmed) value, Latin-1.
struct H: Sendable, CustomStringConvertible {
    var name: String
    var value: String
    init(_ name: String, _ value: String) { self.name = name; self.value = value }
    var description: String { "\(name): \(value)" }
}

/// Checks the header spans of a successful parse: count, contents, and offsets. The offsets are derived
/// from the input by the contract's rules: the i-th field line starts after the CRLF that ends the
/// previous line; the value starts after the colon and any SP/HTAB (at the CR for an empty value).
func headerProblems(_ input: [UInt8], firstLine: Int, expected: [H], got: [HeaderSpans]) -> [String] {
    var problems: [String] = []
    if got.count != expected.count {
        problems.append("expected \(expected.count) headers, got \(got.count): \(got.map { input.string($0.name) })")
        return problems
    }
    var lineStart = firstLine
    for (i, (e, g)) in zip(expected, got).enumerated() {
        let nameBytes = latin1(e.name)
        var v = lineStart + nameBytes.count + 1
        while v < input.count, input[v] == 0x20 || input[v] == 0x09 { v += 1 }
        let wantName = Span(off: lineStart, len: nameBytes.count)
        let wantValue = Span(off: v, len: latin1(e.value).count)
        if g.name != wantName || input.string(g.name) != e.name {
            problems.append("header \(i): name expected \(e.name.debugDescription) at \(wantName), got "
                + "\(input.string(g.name).debugDescription) at \(g.name)")
        }
        if g.value != wantValue || input.string(g.value) != e.value {
            problems.append("header \(i): value expected \(e.value.debugDescription) at \(wantValue), got "
                + "\(input.string(g.value).debugDescription) at \(g.value)")
        }
        guard let end = input.find(crlf, from: v) else {
            problems.append("test case error: no CRLF after header \(i)")
            return problems
        }
        lineStart = end + 2
    }
    return problems
}
