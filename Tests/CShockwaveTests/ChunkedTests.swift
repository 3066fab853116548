// Tests for the chunked transfer coding decoder (sw_chunked.h, RFC 9112 7.1).
//
// Every table case is decoded in one call, split in two at every offset, and one byte per call; each piece is
// copied so it ends right before a PROT_NONE page, so a read past `buf + *len` faults at once. All ways must
// give the same decoded bytes, the same result (error, SW_INCOMPLETE, or leftover count) and the same
// body_len / num_trailers. Helpers live inside the suite so they cannot clash with other files in this target.

import CShockwave
import Glibc
import Testing

@Suite struct ChunkedTests {

    // MARK: - Table

    /// What decoding the whole input must return.
    enum Expected: Sendable, Equatable, CustomStringConvertible {
        /// The message ended and this many input bytes follow it.
        case done(leftover: Int)
        /// The body goes on.
        case incomplete
        /// This SW_E_* code.
        case error(sw_error_t)

        var code: Int {
            switch self {
            case .done(let n): return n
            case .incomplete: return Int(SW_INCOMPLETE)
            case .error(let e): return Int(e.rawValue)
            }
        }

        var description: String { ChunkedTests.describe(code) }
    }

    /// Limits other than sw_chunked_init's defaults.
    struct Limits: Sendable {
        var maxBody: UInt64 = 0
        var maxExt: UInt32? = nil
        var maxTrailers: UInt32? = nil
        var maxTrailerFields: UInt32? = nil
    }

    struct Case: Sendable, CustomTestStringConvertible {
        let note: String
        let input: [UInt8]
        /// Decoded bytes: the whole body, or for an error the bytes decoded before it (nil: not checked).
        let body: [UInt8]?
        let result: Expected
        var limits = Limits()
        var trailers: UInt32? = nil

        var testDescription: String { note }

        static func ok(
            _ note: String, _ input: [UInt8], _ body: [UInt8], leftover: Int = 0, trailers: UInt32? = nil,
            limits: Limits = Limits()
        ) -> Case {
            Case(
                note: note, input: input, body: body, result: .done(leftover: leftover), limits: limits,
                trailers: trailers)
        }

        static func more(_ note: String, _ input: [UInt8], _ body: [UInt8], limits: Limits = Limits()) -> Case {
            Case(note: note, input: input, body: body, result: .incomplete, limits: limits)
        }

        static func fail(
            _ note: String, _ input: [UInt8], _ error: sw_error_t, body: [UInt8]? = [], limits: Limits = Limits()
        ) -> Case {
            Case(note: note, input: input, body: body, result: .error(error), limits: limits)
        }
    }

    /// Latin-1 bytes: every scalar below 256 becomes one byte, so tables can write "\u{80}" or "\u{0}".
    static func b(_ s: String) -> [UInt8] {
        s.unicodeScalars.map { scalar in
            precondition(scalar.value < 256, "test input must be Latin-1")
            return UInt8(scalar.value)
        }
    }

    static let fields32 = (0..<32).map { "X-\($0): v\r\n" }.joined()
    /// "X: aaa…\r\n\r\n" of exactly `total` bytes: the whole trailer section.
    static func trailerSection(total: Int) -> String { "X: " + String(repeating: "a", count: total - 7) + "\r\n\r\n" }
    /// A chunk-size line for one byte whose extensions are exactly `ext` bytes: ";" then a name.
    static func extLine(ext: Int) -> String { "1;" + String(repeating: "e", count: ext - 1) + "\r\n" }

    static let cases: [Case] = [
        // Valid bodies.
        .ok("A single chunk decodes to its data", b("5\r\nhello\r\n0\r\n\r\n"), b("hello")),
        .ok("Two chunks are concatenated", b("5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"), b("hello world")),
        .ok("An empty body is just the last chunk", b("0\r\n\r\n"), []),
        .ok(
            "Hex sizes accept upper and lower case",
            b("a\r\n0123456789\r\nF\r\n0123456789abcde\r\n0\r\n\r\n"), b("01234567890123456789abcde")),
        .ok("Leading zeros in sizes are allowed", b("0005\r\nhello\r\n000\r\n\r\n"), b("hello")),
        .ok(
            "A size of 32 digits with leading zeros is allowed",
            b(String(repeating: "0", count: 31) + "1\r\nz\r\n0\r\n\r\n"), b("z")),
        .ok(
            "Chunk data may contain CR, LF, NUL and bytes that look like framing",
            b("9\r\n\r\n0\r\n\r\n\u{0}\u{FF}\r\n0\r\n\r\n"), b("\r\n0\r\n\r\n\u{0}\u{FF}")),
        .ok(
            "A pipelined request after the body is left over",
            b("1\r\na\r\n0\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n"), b("a"), leftover: 27),
        .ok("One byte after the message is left over", b("1\r\na\r\n0\r\n\r\nG"), b("a"), leftover: 1),
        .ok(
            "Bytes after trailers are left over",
            b("2\r\nab\r\n0\r\nX-Sum: 1\r\n\r\n0\r\n\r\n"), b("ab"), leftover: 5, trailers: 1),
        .ok("An extension without a value is accepted", b("3;flag\r\nabc\r\n0\r\n\r\n"), b("abc")),
        .ok("An extension with a token value is accepted", b("3;name=val-1.x\r\nabc\r\n0\r\n\r\n"), b("abc")),
        .ok(
            "An extension with a quoted value and quoted pairs is accepted",
            b("3;q=\"a \\\"b\\\\ ;=\"\r\nabc\r\n0\r\n\r\n"), b("abc")),
        .ok(
            "Several extensions with whitespace around ; and = are accepted",
            b("3 \t; a = b ;c=\"d\"\t; e;f\r\nabc\r\n0\r\n\r\n"), b("abc")),
        .ok("Extensions on the last chunk are accepted", b("1\r\nx\r\n0;done=\"yes\"\r\n\r\n"), b("x")),
        .ok("obs-text is allowed in quoted extension values", b("1;e=\"\u{80}\u{FF}\"\r\nx\r\n0\r\n\r\n"), b("x")),
        .ok(
            "Allowed trailer fields are validated and dropped",
            b("1\r\nx\r\n0\r\nX-Checksum: abc\r\nServer-Timing: db;dur=5\r\n\r\n"), b("x"), trailers: 2),
        .ok(
            "A trailer value may be empty or carry HTAB, SP and obs-text",
            b("0\r\nA:\r\nB: \t\u{80}x y\u{FF}\t\r\n\r\n"), [], trailers: 2),
        .ok(
            "A trailer name that only starts like a forbidden one is allowed",
            b("0\r\nContent-Lengthy: 1\r\nHosts: 2\r\n\r\n"), [], trailers: 2),
        .ok("Thirty-two trailer fields are allowed", b("0\r\n" + fields32 + "\r\n"), [], trailers: 32),
        .ok(
            "A trailer section of exactly 8192 bytes is allowed", b("0\r\n" + trailerSection(total: 8192)), [],
            trailers: 1),
        .ok("Extensions of exactly 1024 bytes are allowed", b(extLine(ext: 1024) + "x\r\n0\r\n\r\n"), b("x")),
        .ok(
            "Extensions at a custom limit are allowed", b("1;abcd\r\nx\r\n0;wxyz\r\n\r\n"), b("x"),
            limits: Limits(maxExt: 5)),
        .ok(
            "A body exactly at the limit is accepted", b("3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"), b("abcde"),
            limits: Limits(maxBody: 5)),

        // Incomplete bodies.
        .more("A body cut inside the size asks for more", b("1"), []),
        .more("A body cut inside the data returns what it has", b("5\r\nhel"), b("hel")),
        .more("A body cut before the final CRLF asks for more", b("1\r\nx\r\n0\r\n"), b("x")),
        .more("A body cut inside a trailer asks for more", b("0\r\nX-A: 1"), []),
        .more("The largest size, 2^60 - 1, is accepted", b("FFFFFFFFFFFFFFF\r\nab"), b("ab")),
        .more(
            "A size of 15 significant digits after zeros is accepted",
            b("00000FFFFFFFFFFFFFFF\r\na"), b("a")),

        // Sizes.
        .fail("An empty size is rejected", b("\r\n"), SW_E_BAD_CHUNK_SIZE),
        .fail("A non-hex size is rejected", b("g\r\n"), SW_E_BAD_CHUNK_SIZE),
        .fail("A 0x prefix is rejected", b("0x5\r\nhello\r\n"), SW_E_BAD_CHUNK_SIZE),
        .fail("A negative size is rejected", b("-5\r\n"), SW_E_BAD_CHUNK_SIZE),
        .fail("A plus sign is rejected", b("+5\r\n"), SW_E_BAD_CHUNK_SIZE),
        .fail("Whitespace before the size is rejected", b(" 5\r\nhello\r\n"), SW_E_BAD_CHUNK_SIZE),
        .fail("Garbage after the size is rejected", b("5x\r\nhello\r\n"), SW_E_BAD_CHUNK_SIZE),
        .fail("Whitespace after the size without an extension is rejected", b("5 \r\nhello\r\n"), SW_E_BAD_CHUNK_EXT),
        .fail("A size of 2^60 (16 significant digits) overflows", b("1000000000000000\r\n"), SW_E_CHUNK_SIZE_OVERFLOW),
        .fail("A size that would wrap 64 bits overflows", b("10000000000000005\r\n"), SW_E_CHUNK_SIZE_OVERFLOW),
        .fail("Sixteen F digits overflow", b("FFFFFFFFFFFFFFFF\r\n"), SW_E_CHUNK_SIZE_OVERFLOW),
        .fail(
            "Thirty-three digits are rejected even when they are zeros",
            b(String(repeating: "0", count: 32) + "1\r\nz\r\n"), SW_E_BAD_CHUNK_SIZE),
        .fail(
            "A size that fails after earlier data keeps that data",
            b("2\r\nab\r\nZ\r\n"), SW_E_BAD_CHUNK_SIZE, body: b("ab")),

        // Line endings and chunk ends.
        .fail("A bare LF after the size is rejected", b("5\nhello\r\n"), SW_E_BARE_LF),
        .fail("A bare CR after the size is rejected", b("5\rhello\r\n"), SW_E_BARE_CR),
        .fail("A bare LF after an extension is rejected", b("5;a=b\nhello\r\n"), SW_E_BARE_LF),
        .fail("A bare CR after an extension is rejected", b("5;a\rhello\r\n"), SW_E_BARE_CR),
        .fail(
            "Data followed by LF only is rejected", b("5\r\nhello\n0\r\n\r\n"), SW_E_BAD_CHUNK_END,
            body: b("hello")),
        .fail(
            "Data longer than its size is rejected", b("5\r\nhelloX\r\n0\r\n\r\n"), SW_E_BAD_CHUNK_END,
            body: b("hello")),
        .fail(
            "Data followed by CR and not LF is rejected", b("5\r\nhello\r\r\n"), SW_E_BAD_CHUNK_END, body: b("hello")),
        .fail(
            "Data shorter than its size swallows the framing that follows",
            b("5\r\nhi\r\n0\r\n\r\n"), SW_E_BAD_CHUNK_SIZE, body: b("hi\r\n0")),
        .fail("A bare LF as the final line is rejected", b("0\r\n\n"), SW_E_BARE_LF),
        .fail("A bare CR as the final line is rejected", b("0\r\n\rX"), SW_E_BARE_CR),

        // Extensions.
        .fail("An empty extension is rejected", b("5;\r\nhello\r\n"), SW_E_BAD_CHUNK_EXT),
        .fail("An extension without a name is rejected", b("5;=x\r\nhello\r\n"), SW_E_BAD_CHUNK_EXT),
        .fail("A non-token character in an extension name is rejected", b("5;a@b\r\nhello\r\n"), SW_E_BAD_CHUNK_EXT),
        .fail("An extension with = and no value is rejected", b("5;a=\r\nhello\r\n"), SW_E_BAD_CHUNK_EXT),
        .fail("Whitespace after an extension value at the line end is rejected", b("5;a=b \r\n"), SW_E_BAD_CHUNK_EXT),
        .fail("Whitespace after an extension name at the line end is rejected", b("5;a\t\r\n"), SW_E_BAD_CHUNK_EXT),
        .fail("An unterminated quoted value is rejected", b("5;a=\"x\r\nhello\r\n"), SW_E_BAD_CHUNK_EXT),
        .fail("A control byte in a quoted value is rejected", b("5;a=\"\u{1}\"\r\n"), SW_E_BAD_CHUNK_EXT),
        .fail("A quoted pair escaping a control byte is rejected", b("5;a=\"\\\u{7F}\"\r\n"), SW_E_BAD_CHUNK_EXT),
        .fail("Garbage after a quoted value is rejected", b("5;a=\"x\"y\r\n"), SW_E_BAD_CHUNK_EXT),
        .fail(
            "Extensions of 1025 bytes are too long", b(extLine(ext: 1025) + "x\r\n0\r\n\r\n"), SW_E_CHUNK_EXT_TOO_LONG),
        .fail(
            "Extensions one byte over a custom limit are too long", b("1;abcde\r\nx\r\n"),
            SW_E_CHUNK_EXT_TOO_LONG, limits: Limits(maxExt: 5)),
        .fail(
            "The extension limit applies to the last chunk too", b("1;abcd\r\nx\r\n0;abcde\r\n\r\n"),
            SW_E_CHUNK_EXT_TOO_LONG, body: b("x"), limits: Limits(maxExt: 5)),
        .fail(
            "A zero extension limit rejects any extension", b("1;a\r\nx\r\n"), SW_E_CHUNK_EXT_TOO_LONG,
            limits: Limits(maxExt: 0)),

        // Trailers.
        .fail("Content-Length in trailers is forbidden", b("0\r\nContent-Length: 5\r\n\r\n"), SW_E_FORBIDDEN_TRAILER),
        .fail(
            "Transfer-Encoding in trailers is forbidden", b("0\r\nTransfer-Encoding: chunked\r\n\r\n"),
            SW_E_FORBIDDEN_TRAILER),
        .fail("Host in trailers is forbidden in any case", b("0\r\nhOsT: evil\r\n\r\n"), SW_E_FORBIDDEN_TRAILER),
        .fail(
            "Authorization in trailers is forbidden", b("0\r\nX-A: 1\r\nAuthorization: x\r\n\r\n"),
            SW_E_FORBIDDEN_TRAILER),
        .fail("If-None-Match in trailers is forbidden", b("0\r\nIf-None-Match: *\r\n\r\n"), SW_E_FORBIDDEN_TRAILER),
        .fail("Whitespace before the colon is rejected", b("0\r\nX-A : 1\r\n\r\n"), SW_E_BAD_TRAILER),
        .fail("A trailer line without a colon is rejected", b("0\r\nX-A\r\n\r\n"), SW_E_BAD_TRAILER),
        .fail("A trailer with an empty name is rejected", b("0\r\n: x\r\n\r\n"), SW_E_BAD_TRAILER),
        .fail("obs-fold in trailers is rejected", b("0\r\nX-A: 1\r\n 2\r\n\r\n"), SW_E_BAD_TRAILER),
        .fail("A control byte in a trailer value is rejected", b("0\r\nX-A: 1\u{1}\r\n\r\n"), SW_E_BAD_TRAILER),
        .fail("DEL in a trailer value is rejected", b("0\r\nX-A: \u{7F}\r\n\r\n"), SW_E_BAD_TRAILER),
        .fail(
            "A request line where trailers should be is rejected", b("0\r\nGET / HTTP/1.1\r\n\r\n"), SW_E_BAD_TRAILER),
        .fail("A bare LF ending a trailer is rejected", b("0\r\nX-A: 1\n\r\n"), SW_E_BARE_LF),
        .fail("A bare CR ending a trailer is rejected", b("0\r\nX-A: 1\rX\r\n\r\n"), SW_E_BARE_CR),
        .fail(
            "Thirty-three trailer fields are too many", b("0\r\n" + fields32 + "X: 1\r\n\r\n"), SW_E_TRAILERS_TOO_LARGE),
        .fail(
            "A trailer section of 8193 bytes is too large", b("0\r\n" + trailerSection(total: 8193)),
            SW_E_TRAILERS_TOO_LARGE),
        .fail(
            "Trailer limits can be lowered", b("0\r\nA: 1\r\nB: 2\r\n\r\n"), SW_E_TRAILERS_TOO_LARGE,
            limits: Limits(maxTrailerFields: 1)),

        // Body limit.
        .fail(
            "A body one byte over the limit is refused at the size line", b("3\r\nabc\r\n3\r\ndef\r\n0\r\n\r\n"),
            SW_E_BODY_TOO_LARGE, body: b("abc"), limits: Limits(maxBody: 5)),
        .fail(
            "The body limit is enforced before the data arrives", b("6\r\n"), SW_E_BODY_TOO_LARGE,
            limits: Limits(maxBody: 5)),
        .fail(
            "A huge size is refused by the body limit", b("FFFFFFFFFFFFFFF;x\r\n"), SW_E_BODY_TOO_LARGE,
            limits: Limits(maxBody: 1 << 30)),
    ]

    // MARK: - Guarded memory and the decode driver

    /// An anonymous mapping whose last page is PROT_NONE; bytes are placed to end right before it.
    final class Guarded {
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

        /// Copies `bytes` so they end at the guard page; returns where they start.
        func place(_ bytes: ArraySlice<UInt8>) -> UnsafeMutableRawPointer {
            precondition(bytes.count <= usable)
            let dst = base + usable - bytes.count
            bytes.withUnsafeBytes { if !$0.isEmpty { dst.copyMemory(from: $0.baseAddress!, byteCount: $0.count) } }
            return dst
        }
    }

    struct Outcome: Equatable, CustomStringConvertible {
        /// SW_INCOMPLETE, an SW_E_* code, or the leftover count relative to the whole input.
        var code: Int
        var body: [UInt8]
        var bodyLen: UInt64
        var trailers: UInt32
        var done: Bool

        var description: String {
            "\(ChunkedTests.describe(code)), \(body.count) bytes decoded, body_len \(bodyLen), trailers \(trailers)"
        }
    }

    static func describe(_ code: Int) -> String {
        if code >= 0 { return "done(leftover: \(code))" }
        if code == Int(SW_INCOMPLETE) { return "INCOMPLETE" }
        return "SW_E_" + String(cString: sw_error_name(Int32(code))) + "(\(code))"
    }

    static func makeDecoder(_ limits: Limits) -> sw_chunked_decoder_t {
        var d = sw_chunked_decoder_t()
        sw_chunked_init(&d, limits.maxBody)
        if let v = limits.maxExt { d.max_ext = v }
        if let v = limits.maxTrailers { d.max_trailers = v }
        if let v = limits.maxTrailerFields { d.max_trailer_fields = v }
        return d
    }

    /// Feeds `input` in pieces that end at each of `cuts` (ascending) and then at the end, each piece placed
    /// against the guard page. Checks the per-call contract (decoded bytes fit, leftover bytes untouched).
    static func decode(_ input: [UInt8], cuts: [Int], limits: Limits, memory: Guarded) -> Outcome {
        var d = makeDecoder(limits)
        var body: [UInt8] = []
        var code = Int(SW_INCOMPLETE)
        var start = 0
        for stop in cuts + [input.count] {
            let piece = input[start..<stop]
            let p = memory.place(piece)
            var len = piece.count
            let ret = sw_chunked_decode(&d, p, &len)
            #expect(len <= piece.count, "decoded more bytes than the piece holds")
            body.append(contentsOf: UnsafeRawBufferPointer(start: p, count: len))
            if ret != Int(SW_INCOMPLETE) {
                if ret >= 0 {
                    #expect(len + ret <= piece.count, "decoded bytes overlap the leftover")
                    let tail = Array(UnsafeRawBufferPointer(start: p + piece.count - ret, count: ret))
                    #expect(tail[...] == input[(stop - ret)..<stop], "leftover bytes were modified")
                    code = ret + (input.count - stop)
                } else {
                    code = ret
                }
                break
            }
            start = stop
        }
        return Outcome(
            code: code, body: body, bodyLen: d.body_len, trailers: d.num_trailers, done: sw_chunked_done(&d) != 0)
    }

    // MARK: - Tests

    @Test("Each table case decodes the same whole, split at every offset, and one byte per call", arguments: cases)
    func table(_ c: Case) {
        let memory = Guarded(capacity: c.input.count + 1)
        let whole = Self.decode(c.input, cuts: [], limits: c.limits, memory: memory)
        #expect(whole.code == c.result.code, "expected \(c.result), got \(whole)")
        if let body = c.body { #expect(whole.body == body, "decoded bytes differ") }
        #expect(whole.bodyLen == UInt64(whole.body.count), "body_len is not the number of decoded bytes")
        #expect(whole.done == (whole.code >= 0))
        if let t = c.trailers { #expect(whole.trailers == t) }

        let n = c.input.count
        for k in 0...n {
            let split = Self.decode(c.input, cuts: [k], limits: c.limits, memory: memory)
            if split != whole {
                Issue.record("split at \(k): expected \(whole), got \(split)")
                break
            }
        }
        let bytewise = Self.decode(c.input, cuts: n > 1 ? Array(1..<n) : [], limits: c.limits, memory: memory)
        #expect(bytewise == whole, "one byte per call")
    }

    @Test("The table has at least forty cases and no duplicate notes")
    func tableShape() {
        #expect(Self.cases.count >= 40)
        #expect(Set(Self.cases.map(\.note)).count == Self.cases.count)
    }

    @Test("Init sets the documented default limits")
    func defaults() {
        var d = sw_chunked_decoder_t()
        sw_chunked_init(&d, 77)
        #expect(d.max_body == 77)
        #expect(d.max_ext == SW_DEFAULT_MAX_CHUNK_EXT)
        #expect(d.max_trailers == SW_DEFAULT_MAX_TRAILERS)
        #expect(d.max_trailer_fields == SW_DEFAULT_MAX_TRAILER_FIELDS)
        #expect(d.body_len == 0 && d.num_trailers == 0)
        #expect(sw_chunked_done(&d) == 0)
    }

    @Test("An empty input asks for more, even with a null buffer")
    func emptyInput() {
        var d = sw_chunked_decoder_t()
        sw_chunked_init(&d, 0)
        var len = 0
        #expect(sw_chunked_decode(&d, nil, &len) == Int(SW_INCOMPLETE))
        #expect(len == 0)
    }

    @Test("Decoded data is moved to the front and the leftover stays at the end of the buffer")
    func inPlaceLayout() {
        var bytes = Self.b("3\r\nabc\r\n2;x\r\nde\r\n0\r\n\r\nNEXT")
        var d = sw_chunked_decoder_t()
        sw_chunked_init(&d, 0)
        let count = bytes.count
        bytes.withUnsafeMutableBytes { buf in
            var len = count
            let ret = sw_chunked_decode(&d, buf.baseAddress, &len)
            #expect(ret == 4)
            #expect(Array(buf[0..<len]) == Self.b("abcde"))
            #expect(Array(buf[(count - 4)...]) == Self.b("NEXT"))
        }
    }

    @Test("A finished decoder hands every later byte back as leftover")
    func stickyDone() {
        var d = sw_chunked_decoder_t()
        sw_chunked_init(&d, 0)
        var first = Self.b("0\r\n\r\n")
        var len = first.count
        #expect(sw_chunked_decode(&d, &first, &len) == 0)
        #expect(sw_chunked_done(&d) == 1)
        var more = Self.b("5\r\nhello")
        let moreCount = more.count
        len = moreCount
        #expect(sw_chunked_decode(&d, &more, &len) == moreCount)
        #expect(len == 0)
    }

    @Test("A failed decoder keeps returning its error and decodes nothing more")
    func stickyError() {
        var d = sw_chunked_decoder_t()
        sw_chunked_init(&d, 0)
        var bad = Self.b("z\r\n")
        var len = bad.count
        let code = Int(SW_E_BAD_CHUNK_SIZE.rawValue)
        #expect(sw_chunked_decode(&d, &bad, &len) == code)
        var good = Self.b("5\r\nhello\r\n0\r\n\r\n")
        len = good.count
        #expect(sw_chunked_decode(&d, &good, &len) == code)
        #expect(len == 0)
        #expect(sw_chunked_done(&d) == 0)
    }

    /// The documented forbidden-trailer list (chunked.c); each must be refused in any letter case.
    static let forbiddenTrailers = [
        "content-length", "transfer-encoding", "trailer", "te", "host", "connection", "keep-alive",
        "proxy-connection", "upgrade", "expect", "max-forwards", "cache-control", "pragma", "range", "if-match",
        "if-none-match", "if-modified-since", "if-unmodified-since", "if-range", "authorization",
        "proxy-authorization", "www-authenticate", "proxy-authenticate", "content-type", "content-encoding",
        "content-range", "cookie", "set-cookie", "date", "age", "expires", "location", "retry-after", "vary",
    ]

    @Test("Every forbidden trailer is refused in any case, and near misses are allowed")
    func forbiddenTrailerList() {
        let memory = Guarded(capacity: 256)
        for name in Self.forbiddenTrailers {
            for spelling in [
                name, name.uppercased(),
                String(name.enumerated().map { $0 % 2 == 0 ? Character($1.uppercased()) : $1 }),
            ] {
                let input = Self.b("0\r\n" + spelling + ": x\r\n\r\n")
                let r = Self.decode(input, cuts: [], limits: Limits(), memory: memory)
                #expect(r.code == Int(SW_E_FORBIDDEN_TRAILER.rawValue), "\(spelling)")
            }
            for near in ["x" + name, name + "x", String(name.dropLast())] where !Self.forbiddenTrailers.contains(near) {
                let input = Self.b("0\r\n" + near + ": x\r\n\r\n")
                let r = Self.decode(input, cuts: [], limits: Limits(), memory: memory)
                #expect(r.code == 0, "\(near) should be allowed")
            }
        }
        let long = String(repeating: "content-length", count: 3)
        let r = Self.decode(Self.b("0\r\n" + long + ": x\r\n\r\n"), cuts: [], limits: Limits(), memory: memory)
        #expect(r.code == 0, "a long name that merely starts with a forbidden one is allowed")
    }

    @Test("Every size from 1 to 2^60 - 1 in powers of two is accepted and 2^60 overflows at its 16th digit")
    func sizeBounds() {
        let memory = Guarded(capacity: 64)
        for shift in 0..<60 {
            let size = UInt64(1) << shift
            let input = Self.b(String(size, radix: 16) + "\r\nx")
            let r = Self.decode(input, cuts: [], limits: Limits(), memory: memory)
            #expect(r.code == Int(SW_INCOMPLETE) && r.body == [UInt8(ascii: "x")], "size \(size)")
        }
        let r = Self.decode(Self.b("100000000000000"), cuts: [], limits: Limits(), memory: memory)
        #expect(r.code == Int(SW_INCOMPLETE), "15 digits: no verdict yet")
        let r2 = Self.decode(Self.b("1000000000000000"), cuts: [], limits: Limits(), memory: memory)
        #expect(r2.code == Int(SW_E_CHUNK_SIZE_OVERFLOW.rawValue), "the 16th significant digit overflows")
    }

    // MARK: - Random round trips

    /// SplitMix64: small, seeded, reproducible.
    struct SplitMix: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    static let tchars = Array("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ".utf8)

    static func token(_ rng: inout SplitMix, max: Int = 8) -> [UInt8] {
        (0..<Int.random(in: 1...max, using: &rng)).map { _ in tchars.randomElement(using: &rng)! }
    }

    static func bws(_ rng: inout SplitMix) -> [UInt8] {
        (0..<Int.random(in: 0...2, using: &rng)).map { _ in Bool.random(using: &rng) ? 0x20 : 0x09 }
    }

    /// A random valid chunk-ext.
    static func extensions(_ rng: inout SplitMix) -> [UInt8] {
        var out: [UInt8] = []
        for _ in 0..<Int.random(in: 0...3, using: &rng) {
            out += bws(&rng) + [UInt8(ascii: ";")] + bws(&rng) + token(&rng)
            switch Int.random(in: 0...2, using: &rng) {
            case 0: break
            case 1: out += bws(&rng) + [UInt8(ascii: "=")] + bws(&rng) + token(&rng)
            default:
                out += bws(&rng) + [UInt8(ascii: "=")] + bws(&rng) + [UInt8(ascii: "\"")]
                for _ in 0..<Int.random(in: 0...6, using: &rng) {
                    let c = UInt8.random(in: 0x20...0xFF, using: &rng)
                    if c == 0x7F { continue }
                    if c == UInt8(ascii: "\"") || c == UInt8(ascii: "\\") { out.append(UInt8(ascii: "\\")) }
                    out.append(c)
                }
                out.append(UInt8(ascii: "\""))
            }
        }
        return out
    }

    static func hexSize(_ n: Int, _ rng: inout SplitMix) -> [UInt8] {
        var s = String(n, radix: 16, uppercase: Bool.random(using: &rng))
        s = String(repeating: "0", count: Int.random(in: 0...3, using: &rng)) + s
        return Array(s.utf8)
    }

    @Test("Random bodies with random chunking, extensions and trailers round-trip under random splits")
    func randomRoundTrips() {
        var rng = SplitMix(state: 0x5348_4F43_4B57_4156)
        let memory = Guarded(capacity: 64 * 1024)
        for iteration in 0..<3000 {
            let body = (0..<Int.random(in: 0...3000, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            var wire: [UInt8] = []
            var pos = 0
            while pos < body.count {
                let size = min(
                    body.count - pos, Int.random(in: 1...(Bool.random(using: &rng) ? 16 : 1500), using: &rng))
                wire += Self.hexSize(size, &rng) + Self.extensions(&rng) + Self.b("\r\n")
                wire += body[pos..<(pos + size)] + Self.b("\r\n")
                pos += size
            }
            wire += Self.hexSize(0, &rng) + Self.extensions(&rng) + Self.b("\r\n")
            let trailerCount = Int.random(in: 0...3, using: &rng)
            for _ in 0..<trailerCount {
                wire +=
                    Self.b("X-") + Self.token(&rng) + Self.b(":") + Self.bws(&rng) + Self.token(&rng, max: 20)
                    + Self.b("\r\n")
            }
            wire += Self.b("\r\n")
            let leftover = Self.b(["", "G", "GET / HTTP/1.1\r\n\r\n", "0\r\n\r\n"].randomElement(using: &rng)!)
            wire += leftover

            var limits = Limits()
            if Bool.random(using: &rng) { limits.maxBody = UInt64(max(body.count, 1)) }
            var cuts = (0..<Int.random(in: 0...6, using: &rng)).map { _ in Int.random(in: 0...wire.count, using: &rng) }
            cuts.sort()
            let r = Self.decode(wire, cuts: cuts, limits: limits, memory: memory)
            let expected = Outcome(
                code: leftover.count, body: body, bodyLen: UInt64(body.count), trailers: UInt32(trailerCount),
                done: true)
            if r != expected {
                Issue.record("iteration \(iteration), cuts \(cuts): expected \(expected), got \(r)")
                return
            }
        }
    }

    @Test("Randomly corrupted bodies decode the same whole, split and byte by byte")
    func randomCorruptions() {
        var rng = SplitMix(state: 0xC0FF_EE00_1234_5678)
        let memory = Guarded(capacity: 4096)
        let alphabet = Self.b("0123456789abcdefABCDEFxX;= \t\"\\\r\n:\u{0}\u{7F}\u{80}")
        for iteration in 0..<2000 {
            var wire =
                Self.b("5;a=\"b\"\r\nhello\r\n1A\r\n") + Array(repeating: UInt8(ascii: "z"), count: 26)
                + Self.b("\r\n0;z\r\nX-T: v\r\nY: w\r\n\r\nNEXT")
            for _ in 0..<Int.random(in: 1...3, using: &rng) {
                let i = Int.random(in: 0..<wire.count, using: &rng)
                switch Int.random(in: 0...2, using: &rng) {
                case 0: wire[i] = alphabet.randomElement(using: &rng)!
                case 1: wire.insert(alphabet.randomElement(using: &rng)!, at: i)
                default: wire.remove(at: i)
                }
            }
            let limits = Limits(maxBody: Bool.random(using: &rng) ? 0 : 40, maxExt: 8)
            let whole = Self.decode(wire, cuts: [], limits: limits, memory: memory)
            let split = Self.decode(
                wire, cuts: [Int.random(in: 0...wire.count, using: &rng)], limits: limits, memory: memory)
            let bytewise = Self.decode(
                wire, cuts: wire.count > 1 ? Array(1..<wire.count) : [], limits: limits, memory: memory)
            if split != whole || bytewise != whole {
                Issue.record(
                    "iteration \(iteration), input \(wire): whole \(whole), split \(split), bytewise \(bytewise)")
                return
            }
        }
    }
}
