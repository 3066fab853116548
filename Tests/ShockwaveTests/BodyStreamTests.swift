// Streamed request bodies (RequestBodyMode.streamed) and the body-rate rule, over real sockets on both backends:
// large uploads past the buffered limit in a bounded buffer, chunked uploads, the stream limit, bodies the handler
// leaves unread, resets, 100-continue, and clients too slow for the minimum rate.

import Synchronization
import Testing

@testable import Shockwave

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// What the streaming handlers saw, for the tests to check from outside.
final class BodyEvents: Sendable {
    private let events = Mutex<[String]>([])
    func record(_ event: String) { events.withLock { $0.append(event) } }
    var all: [String] { events.withLock { $0 } }

    /// Waits up to `seconds` for an event to be recorded (a handler finishes after the client saw its answer).
    func waitFor(_ event: String, seconds: Double = 5) -> Bool {
        for _ in 0..<Int(seconds * 100) {
            if all.contains(event) { return true }
            usleep(10_000)
        }
        return false
    }
}

/// FNV-1a, 64 bits: the uploads' checksum on both sides.
struct FNV1a {
    var value: UInt64 = 0xcbf2_9ce4_8422_2325
    mutating func add(_ bytes: UnsafeRawBufferPointer) {
        var h = value
        for b in bytes {
            h ^= UInt64(b)
            h &*= 0x100_0000_01b3
        }
        value = h
    }
}

/// A deterministic body of `count` bytes.
func pattern(_ count: Int, seed: UInt32 = 1) -> [UInt8] {
    var x = seed
    return [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
        for i in 0..<count {
            x = x &* 1_664_525 &+ 1_013_904_223
            buffer[i] = UInt8(truncatingIfNeeded: x >> 24)
        }
        initialized = count
    }
}

/// The 20 MiB upload and its checksum, made once for both backends.
let twentyMebibytes = pattern(20 << 20)
let twentyMebibytesHash = fnv(twentyMebibytes)

func fnv(_ bytes: [UInt8]) -> UInt64 {
    var h = FNV1a()
    bytes.withUnsafeBytes { h.add($0) }
    return h.value
}

/// The process's resident set, in KiB (VmRSS), or 0 where /proc is unavailable.
func residentKiB() -> Int {
    let fd = open("/proc/self/status", O_RDONLY)
    guard fd >= 0 else { return 0 }
    defer { close(fd) }
    var bytes = [UInt8](repeating: 0, count: 4096)
    let n = read(fd, &bytes, bytes.count)
    guard n > 0 else { return 0 }
    let text = String(decoding: bytes[0..<n], as: UTF8.self)
    guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }) else { return 0 }
    return Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0
}

/// The routes of the streaming tests.
struct StreamRoutes: AsyncHTTPHandler {
    let events: BodyEvents

    func bodyMode(for request: borrowing Request) -> RequestBodyMode {
        let path = request.path
        if path == "/limited" { return .streamed(maxSize: 1000) }
        if path == "/upload" || path == "/ignore" || path == "/reject" || path == "/read-one" { return .streamed }
        return .buffered
    }

    func handle(_ request: borrowing Request, _ response: inout ResponseWriter) async throws {
        let path = request.path
        if path == "/upload" || path == "/limited" {
            // Counts and hashes the body piece by piece; each piece is valid until the next read.
            var hash = FNV1a()
            var bytes = 0
            var pieces = 0
            var largest = 0
            do {
                for try await chunk in request.bodyChunks {
                    chunk.withUnsafeBytes { hash.add($0) }
                    bytes += chunk.count
                    pieces += 1
                    largest = max(largest, chunk.count)
                }
            } catch {
                events.record("\(path.string) \(error.kind)")
                throw error
            }
            events.record("\(path.string) done \(bytes)")
            response.body("bytes=\(bytes) hash=\(hash.value) pieces=\(pieces) largest=\(largest) streamed=\(request.isBodyStreamed)")
        } else if path == "/read-one" {
            // Reads one piece, then answers: the rest of the body is the server's to discard.
            let first = try await request.readBodyChunk()
            response.body("first=\(first?.count ?? -1)")
        } else if path == "/ignore" {
            response.body("ignored")
        } else if path == "/reject" {
            response.status = HTTPStatus(401)
            response.body("no")
        } else if path == "/echo" {
            // A buffered body, read through the streaming API: the whole body once, then nil.
            var pieces: [Int] = []
            var collected: [UInt8] = []
            while let chunk = try await request.readBodyChunk() {
                pieces.append(chunk.count)
                collected += chunk
            }
            try response.header(name: "X-Pieces", value: pieces.map(String.init).joined(separator: ","))
            try response.header(name: "X-Same", value: collected.elementsEqual(request.body) ? "yes" : "no")
            response.body(request.body)
        } else if path == "/hello" {
            response.body("Hello, World!" as StaticString)
        } else {
            response.status = .notFound
            response.body("not found" as StaticString)
        }
    }
}

@Suite(.serialized) struct BodyStreamTests {
    @Test(arguments: TestBackend.allCases)
    func streamsATwentyMebibyteUploadPastTheBufferedLimitInABoundedBuffer(_ backend: TestBackend) throws {
        let events = BodyEvents()
        // The default limits: maxBody is 4 MiB, so only streaming lets 20 MiB through.
        try withAsyncServer(backend, handler: StreamRoutes(events: events)) { server in
            #expect(server.configuration.limits.maxBody == 4 << 20)
            let body = twentyMebibytes
            let rssBefore = residentKiB()
            let client = try SocketClient(port: server.port, timeout: 60)
            try client.send("POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: \(body.count)\r\n\r\n")
            for start in stride(from: 0, to: body.count, by: 1 << 20) {
                try client.send(Array(body[start..<min(start + (1 << 20), body.count)]))
            }
            let response = try client.readResponse()
            #expect(response.status == 200)
            let text = response.bodyString
            #expect(text.hasPrefix("bytes=\(body.count) hash=\(twentyMebibytesHash) pieces="), "\(text)")
            #expect(text.hasSuffix("streamed=true"))
            #expect(response.header("Connection") == nil)
            // The connection goes on.
            #expect(try client.request("GET /hello HTTP/1.1\r\nHost: t\r\n\r\n").bodyString == "Hello, World!")

            // The body went through one window of the input buffer, never the whole body.
            let streamedPeak = server.loopMetrics.map(\.largestInputBuffer).max() ?? 0
            #expect(streamedPeak >= 64 << 10 && streamedPeak <= 128 << 10, "largest input buffer \(streamedPeak)")
            // For the record (not asserted: the client's own buffers and a sanitizer's quarantine move RSS too).
            print("note: \(backend): 20 MiB streamed: \(text.split(separator: " ")[2...3].joined(separator: " ")), "
                + "largest input buffer \(streamedPeak >> 10) KiB, process RSS \((residentKiB() - rssBefore) >> 10) MiB more")
            // The control: a buffered body of 2 MiB on the same server does take a buffer that large.
            let buffered = pattern(2 << 20, seed: 7)
            try client.send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: \(buffered.count)\r\n\r\n")
            try client.send(buffered)
            let echo = try client.readResponse()
            #expect(echo.status == 200 && echo.body == buffered)
            let bufferedPeak = server.loopMetrics.map(\.largestInputBuffer).max() ?? 0
            #expect(bufferedPeak >= 2 << 20, "largest input buffer \(bufferedPeak)")
        }
    }

    @Test(arguments: TestBackend.allCases)
    func streamsAChunkedUploadDecodedAndThenAPipelinedRequest(_ backend: TestBackend) throws {
        let events = BodyEvents()
        try withAsyncServer(backend, configure: { $0.limits.maxBody = 1 << 20 }, handler: StreamRoutes(events: events)) {
            server in
            let body = pattern(3 << 20, seed: 3)
            // Chunks of every size class, some with extensions, sent in writes that split them anywhere.
            var wire = Array("POST /upload HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n".utf8)
            var offset = 0
            var size = 1
            while offset < body.count {
                let n = min(size, body.count - offset)
                wire += Array("\(String(n, radix: 16))\(n % 3 == 0 ? ";ext=1" : "")\r\n".utf8)
                wire += body[offset..<(offset + n)]
                wire += Array("\r\n".utf8)
                offset += n
                size = size * 7 % 100_003 + 1
            }
            wire += Array("0\r\nX-Trailer: t\r\n\r\nGET /hello HTTP/1.1\r\nHost: t\r\n\r\n".utf8)
            let client = try SocketClient(port: server.port, timeout: 60)
            var start = 0
            var piece = 1000
            while start < wire.count {
                let end = min(start + piece, wire.count)
                try client.send(Array(wire[start..<end]))
                start = end
                piece = piece * 13 % 200_000 + 1
            }
            let response = try client.readResponse()
            #expect(response.status == 200)
            #expect(response.bodyString.hasPrefix("bytes=\(body.count) hash=\(fnv(body)) "), "\(response.bodyString)")
            #expect(try client.readResponse().bodyString == "Hello, World!")

            // Content-Length, with the body and the next request in the head's packet.
            try client.send("POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhelloGET /hello HTTP/1.1\r\nHost: t\r\n\r\n")
            #expect(try client.readResponse().bodyString.hasPrefix("bytes=5 hash=\(fnv(Array("hello".utf8))) "))
            #expect(try client.readResponse().bodyString == "Hello, World!")
        }
    }

    @Test(arguments: TestBackend.allCases)
    func appliesTheConfiguredStreamLimitWhenTheHandlerNamesNone(_ backend: TestBackend) throws {
        try withAsyncServer(backend, configure: { $0.limits.maxStreamedBody = 2000 }, handler: StreamRoutes(events: BodyEvents())) {
            server in
            let fits = try SocketClient(port: server.port)
            let ok = try fits.request("POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 2000\r\n\r\n" + String(repeating: "a", count: 2000))
            #expect(ok.bodyString.hasPrefix("bytes=2000 "))
            let over = try SocketClient(port: server.port)
            let refused = try over.request("POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 2001\r\n\r\n")
            #expect(refused.status == 413)
            #expect(over.waitForClose())
        }
    }

    @Test(arguments: TestBackend.allCases)
    func answers413AndClosesWhenAStreamedBodyPassesItsLimit(_ backend: TestBackend) throws {
        let events = BodyEvents()
        try withAsyncServer(backend, handler: StreamRoutes(events: events)) { server in
            // Announced: refused before any of it is read, and before the handler runs.
            let announced = try SocketClient(port: server.port)
            try announced.send("POST /limited HTTP/1.1\r\nHost: t\r\nContent-Length: 1001\r\n\r\n")
            let early = try announced.readResponse()
            #expect(early.status == 413)
            #expect(early.header("Connection") == "close")
            #expect(announced.waitForClose())

            // At the limit: fine.
            let fits = try SocketClient(port: server.port)
            let ok = try fits.request("POST /limited HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\n" + String(repeating: "a", count: 1000))
            #expect(ok.status == 200 && ok.bodyString.hasPrefix("bytes=1000 "))

            // Chunked: cut when it passes the limit; the handler's read throws.
            let chunked = try SocketClient(port: server.port)
            try chunked.send("POST /limited HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n")
            try chunked.send("258\r\n" + String(repeating: "b", count: 600) + "\r\n")
            usleep(50_000)  // the handler has read the first 600 bytes
            try chunked.send("258\r\n" + String(repeating: "b", count: 600) + "\r\n")
            let late = try chunked.readResponse()
            #expect(late.status == 413)
            #expect(late.header("Connection") == "close")
            #expect(chunked.waitForClose())
            #expect(events.waitFor("/limited tooLarge"))
            #expect(!events.all.contains("/limited done 1200"))
            #expect(events.all.filter { $0.hasPrefix("/limited") } == ["/limited done 1000", "/limited tooLarge"])
        }
    }

    @Test(arguments: TestBackend.allCases)
    func discardsAnUnreadStreamedBodyAndServesTheNextRequest(_ backend: TestBackend) throws {
        try withAsyncServer(backend, handler: StreamRoutes(events: BodyEvents())) { server in
            let client = try SocketClient(port: server.port)
            // Content-Length: answered before the body is sent; the body and the next request follow.
            try client.send("POST /ignore HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\n\r\n")
            let ignored = try client.readResponse()
            #expect(ignored.bodyString == "ignored")
            #expect(ignored.header("Connection") == nil)
            try client.send(pattern(100_000))
            #expect(try client.request("GET /hello HTTP/1.1\r\nHost: t\r\n\r\n").bodyString == "Hello, World!")

            // Read in part: the rest is discarded, whatever bytes it holds.
            let body = Array(repeating: UInt8(ascii: "G"), count: 200_000)
            try client.send("POST /read-one HTTP/1.1\r\nHost: t\r\nContent-Length: \(body.count)\r\n\r\n")
            try client.send(Array(body[0..<1000]))
            #expect(try client.readResponse().bodyString == "first=1000")
            try client.send(Array(body[1000...]) + Array("GET /hello HTTP/1.1\r\nHost: t\r\n\r\n".utf8))
            #expect(try client.readResponse().bodyString == "Hello, World!")

            // Chunked, unread, with the next request in the same write.
            let chunked = "POST /ignore HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                + "5\r\nhello\r\n1000\r\n" + String(repeating: "x", count: 4096) + "\r\n0\r\n\r\n"
                + "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n"
            try client.send(chunked)
            #expect(try client.readResponse().bodyString == "ignored")
            #expect(try client.readResponse().bodyString == "Hello, World!")

            // More announced than is worth discarding: the response closes the connection.
            let big = try SocketClient(port: server.port)
            let closing = try big.request("POST /ignore HTTP/1.1\r\nHost: t\r\nContent-Length: 10000000\r\n\r\n")
            #expect(closing.bodyString == "ignored")
            #expect(closing.header("Connection") == "close")
            #expect(big.waitForClose())

            // Chunked past the discard allowance: closed once it passes it.
            let endless = try SocketClient(port: server.port)
            try endless.send("POST /ignore HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n")
            let answer = try endless.readResponse()
            #expect(answer.bodyString == "ignored" && answer.header("Connection") == nil)
            let chunk = "10000\r\n" + String(repeating: "y", count: 0x10000) + "\r\n"
            var sent = 0
            while sent < 40, (try? endless.send(chunk)) != nil { sent += 1 }  // 2.5 MiB offered
            #expect(endless.waitForClose())
        }
    }

    @Test(arguments: TestBackend.allCases)
    func survivesClientsThatResetInTheMiddleOfAStreamedBody(_ backend: TestBackend) throws {
        let events = BodyEvents()
        try withAsyncServer(backend, handler: StreamRoutes(events: events)) { server in
            for _ in 0..<5 {
                let client = try SocketClient(port: server.port)
                try client.send("POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\n\r\n" + String(repeating: "r", count: 3000))
                usleep(30_000)  // the handler has read what came and waits for more
                client.reset()
            }
            // A half-close in the middle of the body ends it too.
            let halfClosed = try SocketClient(port: server.port)
            try halfClosed.send("POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\n\r\nabc")
            usleep(30_000)
            halfClosed.shutdownWrite()
            #expect(halfClosed.waitForClose())
            for _ in 0..<60 where events.all.filter({ $0 == "/upload connectionClosed" }).count < 6 { usleep(50_000) }
            #expect(events.all.filter { $0 == "/upload connectionClosed" }.count == 6, "\(events.all)")
            let other = try SocketClient(port: server.port)
            for _ in 0..<3 {
                #expect(try other.request("GET /hello HTTP/1.1\r\nHost: t\r\n\r\n").status == 200)
            }
            #expect(server.loopMetrics.reduce(0) { $0 + $1.connectionsOpen } == 1)
        }
    }

    @Test(arguments: TestBackend.allCases)
    func sends100ContinueOnlyWhenTheHandlerReadsTheBody(_ backend: TestBackend) throws {
        try withAsyncServer(backend, handler: StreamRoutes(events: BodyEvents())) { server in
            let client = try SocketClient(port: server.port)
            try client.send("POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 11\r\nExpect: 100-continue\r\n\r\n")
            let interim = try client.readResponse()
            #expect(interim.status == 100)
            try client.send("hello world")
            let response = try client.readResponse()
            #expect(response.status == 200)
            #expect(response.bodyString.hasPrefix("bytes=11 hash=\(fnv(Array("hello world".utf8))) "))
            #expect(response.header("Connection") == nil)

            // A handler that answers without reading: no 100, and the connection closes, since the client may or
            // may not send the body it held back.
            let rejected = try SocketClient(port: server.port)
            try rejected.send("POST /reject HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\nExpect: 100-continue\r\n\r\n")
            let no = try rejected.readResponse()
            #expect(no.status == 401)
            #expect(no.header("Connection") == "close")
            #expect(rejected.waitForClose())
        }
    }

    @Test(arguments: TestBackend.allCases)
    func keepsBufferedBodiesOnTheSameServerBufferedAndLimited(_ backend: TestBackend) throws {
        try withAsyncServer(backend, configure: { $0.limits.maxBody = 1000 }, handler: StreamRoutes(events: BodyEvents())) {
            server in
            let client = try SocketClient(port: server.port)
            let response = try client.request("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello")
            #expect(response.bodyString == "hello")
            #expect(response.header("X-Pieces") == "5")  // the whole body in one read, then nil
            #expect(response.header("X-Same") == "yes")
            let empty = try client.request("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n")
            #expect(empty.status == 200 && empty.header("X-Pieces") == "")
            let chunked = try client.request("POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n")
            #expect(chunked.bodyString == "abcde" && chunked.header("X-Pieces") == "5")
            // The buffered limit still holds for the routes that buffer.
            try client.send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 1001\r\n\r\n")
            #expect(try client.readResponse().status == 413)
            #expect(client.waitForClose())
            // ... and not for those that stream.
            let streamer = try SocketClient(port: server.port)
            let big = try streamer.request("POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 5000\r\n\r\n" + String(repeating: "s", count: 5000))
            #expect(big.status == 200 && big.bodyString.hasPrefix("bytes=5000 "))
        }
    }

    // MARK: the body rate (slow POST)

    private static func slowPostRules(_ c: inout ServerConfiguration) {
        c.timeouts.body = .milliseconds(500)
        c.limits.minBodyRate = 1000  // 500 bytes per window
    }

    /// Sends `total` bytes of body in `piece`-byte writes `intervalMs` apart, until done or the server closes.
    private static func trickle(_ client: SocketClient, total: Int, piece: Int, intervalMs: Int) {
        var sent = 0
        while sent < total {
            let n = min(piece, total - sent)
            guard (try? client.send(Array(repeating: UInt8(ascii: "t"), count: n))) != nil else { return }
            sent += n
            usleep(UInt32(intervalMs * 1000))
        }
    }

    @Test(arguments: TestBackend.allCases)
    func cutsABufferedBodyTrickledBelowTheMinimumRateWith408(_ backend: TestBackend) throws {
        try withServer(backend, configure: Self.slowPostRules) { server in
            let client = try SocketClient(port: server.port)
            try client.send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 10000\r\n\r\n")
            Self.trickle(client, total: 600, piece: 20, intervalMs: 100)  // 200 bytes/s, for 3 s at most
            let response = try client.readResponse()
            #expect(response.status == 408)
            #expect(response.header("Connection") == "close")
            #expect(client.waitForClose())
            // the rate cut (and the lingering close's end, when the client was still sending)
            #expect(server.loopMetrics.reduce(0) { $0 + $1.timeouts } >= 1)
        }
    }

    @Test(arguments: TestBackend.allCases)
    func acceptsABodyAtAGoodRateThatTakesSeveralWindows(_ backend: TestBackend) throws {
        try withServer(backend, configure: Self.slowPostRules) { server in
            let client = try SocketClient(port: server.port)
            try client.send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 12000\r\n\r\n")
            Self.trickle(client, total: 12000, piece: 400, intervalMs: 50)  // 8 KB/s for 1.5 s: three windows
            let response = try client.readResponse()
            #expect(response.status == 200)
            #expect(response.body.count == 12000)
            #expect(server.loopMetrics.reduce(0) { $0 + $1.timeouts } == 0)
        }
    }

    @Test(arguments: TestBackend.allCases)
    func cutsAStreamedBodyThatStallsWith408AndTheReadThrows(_ backend: TestBackend) throws {
        let events = BodyEvents()
        try withAsyncServer(backend, configure: Self.slowPostRules, handler: StreamRoutes(events: events)) { server in
            // A good rate over several windows first: the stream is not cut.
            let good = try SocketClient(port: server.port)
            try good.send("POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 12000\r\n\r\n")
            Self.trickle(good, total: 12000, piece: 400, intervalMs: 50)
            #expect(try good.readResponse().bodyString.hasPrefix("bytes=12000 "))

            let stalled = try SocketClient(port: server.port)
            try stalled.send("POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 10000\r\n\r\n" + String(repeating: "s", count: 100))
            let response = try stalled.readResponse()
            #expect(response.status == 408)
            #expect(response.header("Connection") == "close")
            #expect(stalled.waitForClose())
            #expect(events.waitFor("/upload timedOut"))
        }
    }
}

/// A body sequence a handler kept past its request (misuse), for the test below.
final class KeptBodyChunks: @unchecked Sendable {
    var chunks: RequestBodyChunks?
}

@Suite struct KeptBodyChunksTests {
    /// The first connection's handler keeps its request's body sequence and answers; the connection closes and its
    /// slot serves the next client, whose request has the same number on its connection (0). Reading the kept
    /// sequence then must not hand out the new client's body.
    @Test(arguments: TestBackend.allCases)
    func aBodySequenceKeptPastItsRequestNeverReadsAnotherClientsBody(_ backend: TestBackend) throws {
        let kept = KeptBodyChunks()
        let handler = AsyncClosureHandler(bodyMode: .streamed) { request, response in
            if request.path == "/first" {
                kept.chunks = request.bodyChunks
                response.body("kept")
                return
            }
            var stale = "none"
            if let old = kept.chunks {
                var iterator = old.makeAsyncIterator()
                do {
                    let chunk = try await iterator.next()
                    stale = chunk.map { "read \($0.string)" } ?? "end"
                } catch {
                    if let error = error as? RequestBodyError { stale = "\(error.kind)" } else { stale = "\(error)" }
                }
            }
            var own = ""
            for try await chunk in request.bodyChunks { own += chunk.string }
            response.body("stale=\(stale) own=\(own)")
        }
        try withServer(backend, configure: { $0.loops = 1 }, make: { Server(configuration: $0, handler: handler) }) { server in
            let first = try SocketClient(port: server.port)
            let kept = try first.request("POST /first HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nConnection: close\r\n\r\naaaaa")
            #expect(String(decoding: kept.body, as: UTF8.self) == "kept")
            #expect(first.waitForClose())
            first.close()
            usleep(50_000)  // the server frees the first connection's slot
            let second = try SocketClient(port: server.port)
            let response = try second.request("POST /second HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nbbbbb")
            #expect(String(decoding: response.body, as: UTF8.self) == "stale=responseFinished own=bbbbb")
        }
    }
}

@Suite struct HandlerCancellationTests {
    /// A handler that waits long: the events say whether its wait was cancelled.
    static func sleeper(_ events: BodyEvents) -> AsyncClosureHandler {
        AsyncClosureHandler { request, response in
            events.record("started")
            do {
                try await Task.sleep(for: .seconds(30))
                events.record("slept")
            } catch is CancellationError {
                events.record("cancelled")
            }
            response.body("late")
        }
    }

    static func wait(for event: String, in events: BodyEvents, ms: Int) -> Bool {
        for _ in 0..<(ms / 10) {
            if events.all.contains(event) { return true }
            usleep(10_000)
        }
        return events.all.contains(event)
    }

    @Test(arguments: TestBackend.allCases)
    func aHandlerWhoseClientWentAwayIsCancelled(_ backend: TestBackend) throws {
        let events = BodyEvents()
        try withServer(backend, configure: { $0.loops = 1 }, make: { Server(configuration: $0, handler: Self.sleeper(events)) }) { server in
            let client = try SocketClient(port: server.port)
            try client.send("GET /slow HTTP/1.1\r\nHost: t\r\n\r\n")
            #expect(Self.wait(for: "started", in: events, ms: 2000))
            client.reset()
            #expect(Self.wait(for: "cancelled", in: events, ms: 2000), "\(events.all)")
        }
    }

    @Test(arguments: TestBackend.allCases)
    func theShutdownDeadlineCancelsHandlersStillRunning(_ backend: TestBackend) throws {
        let events = BodyEvents()
        var configuration = ServerConfiguration(host: "127.0.0.1", port: 0, loops: 1, backend: backend.configuration)
        configuration.loops = 1
        let server = Server(configuration: configuration, handler: Self.sleeper(events))
        try startOrSkip(server, backend)
        let client = try SocketClient(port: server.port)
        try client.send("GET /slow HTTP/1.1\r\nHost: t\r\n\r\n")
        #expect(Self.wait(for: "started", in: events, ms: 2000))
        let start = ContinuousClock.now
        server.shutdown(deadline: .milliseconds(100))
        server.wait()  // before: waited for the 30 s sleep
        #expect(ContinuousClock.now - start < .seconds(5))
        #expect(events.all.contains("cancelled"), "\(events.all)")
    }
}
