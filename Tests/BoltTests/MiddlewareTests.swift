// The built-in middleware, each through the real request path (BoltTesting, in process).

import Bolt
import BoltTesting
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Lines a Logger wrote, for inspection.
final class MemorySink: LogSink {
    let lines = Mutex<[String]>([])
    func write(_ text: String) {
        lines.withLock { $0 += text.split(separator: "\n").map(String.init) }
    }
}

@Suite struct MiddlewareTests {
    @Test func recoverAnswersInsideTheChainSoOuterMiddlewareSeesTheStatus() throws {
        let app = App()
        let sink = MemorySink()
        let logger = Logger(sink: sink)
        app.use(logger, Recover())
        app.get("/boom") { _ in throw HTTPError(.conflict, "taken") }
        let response = try app.test(.get, "/boom")
        #expect(response.status == .conflict)
        logger.flush()
        let line = try #require(sink.lines.withLock { $0.last })
        #expect(line.contains("status=409"), "\(line)")
    }

    @Test func loggerWritesSwiftLogShapedLinesOffTheRequestPath() throws {
        let app = App()
        let sink = MemorySink()
        let logger = Logger(sink: sink, flushInterval: .seconds(3600))
        app.use(RequestID(), logger)
        app.get("/users/:id") { c in c.text("ok") }
        let client = try app.testClient()
        _ = try client.send(.get, "/users/1", headers: [("X-Request-ID", "abc-123")])
        let missing = try client.send(.get, "/nope")
        #expect(missing.status == .notFound)
        #expect(missing.header("X-Request-ID")?.count == 16)
        let longPath = "/" + String(repeating: "x", count: 300)
        _ = try client.send(.get, longPath)
        #expect(sink.lines.withLock { $0.isEmpty })  // nothing formatted or written until a flush
        logger.flush()
        let lines = sink.lines.withLock { $0 }
        #expect(lines.count == 3)
        let first = try #require(lines.first)
        // 2026-11-30T07:40:12Z info bolt.access : duration_us=… method=GET path=/users/1 request_id=abc-123 status=200 [Bolt] request
        #expect(first.range(of: #"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ info bolt\.access : duration_us=\d+ method=GET path=/users/1 request_id=abc-123 status=200 \[Bolt\] request$"#, options: .regularExpression) != nil, "\(first)")
        #expect(lines[1].contains("path=/nope") && lines[1].contains("status=404"), "\(lines[1])")
        #expect(lines[2].contains("path=/" + String(repeating: "x", count: 199) + "…"))
    }

    @Test func requestIDKeepsASaneIncomingIDAndMakesOneOtherwise() throws {
        let app = App()
        app.use(RequestID())
        app.get("/") { c in c.text(c.requestID ?? "-") }
        let kept = try app.test(.get, "/", headers: [("X-Request-ID", "trace.42:a_b-c")])
        #expect(kept.text == "trace.42:a_b-c")
        #expect(kept.header("X-Request-ID") == "trace.42:a_b-c")
        let made = try app.test(.get, "/", headers: [("X-Request-ID", "bad id with spaces")])
        #expect(made.text.count == 16 && made.text.allSatisfy(\.isHexDigit))
        #expect(made.header("X-Request-ID") == made.text)
        let other = try app.test(.get, "/")
        #expect(other.text != made.text)
    }

    @Test func corsAnswersPreflightsEvenWithoutAnOptionsRoute() throws {
        let app = App()
        app.use(CORS(origins: .list(["https://app.example"]), allowCredentials: true, maxAge: 60))
        app.post("/items") { c in c.text("created", status: .created) }
        let preflight = try app.test(.options, "/items", headers: [
            ("Origin", "https://app.example"), ("Access-Control-Request-Method", "POST"),
        ])
        #expect(preflight.status == .noContent)
        #expect(preflight.header("Access-Control-Allow-Origin") == "https://app.example")
        #expect(preflight.header("Access-Control-Allow-Methods")?.contains("POST") == true)
        #expect(preflight.header("Access-Control-Allow-Credentials") == "true")
        #expect(preflight.header("Access-Control-Max-Age") == "60")
        #expect(preflight.header("Vary") == "Origin")
        let simple = try app.test(.post, "/items", headers: [("Origin", "https://app.example")], body: "x")
        #expect(simple.status == .created)
        #expect(simple.header("Access-Control-Allow-Origin") == "https://app.example")
        let stranger = try app.test(.post, "/items", headers: [("Origin", "https://evil.example")], body: "x")
        #expect(stranger.header("Access-Control-Allow-Origin") == nil)
    }

    @Test func basicAuthLetsTheRightUserInAndChallengesTheRest() throws {
        let app = App()
        let admin = app.group("/admin", BasicAuth(username: "ada", password: "s3cret"))
        admin.get("/") { c in c.text("hello \(c.user ?? "?")") }
        // "ada:s3cret"
        let ok = try app.test(.get, "/admin/", headers: [("Authorization", "Basic YWRhOnMzY3JldA==")])
        #expect(ok.text == "hello ada")
        for bad in ["Basic YWRhOndyb25n", "Basic !!!", "Bearer x", "Basic "] {
            let refused = try app.test(.get, "/admin/", headers: [("Authorization", bad)])
            #expect(refused.status == .unauthorized, "\(bad)")
            #expect(refused.header("WWW-Authenticate") == #"Basic realm="restricted", charset="UTF-8""#)
        }
        #expect(try app.test(.get, "/admin/").status == .unauthorized)
    }

    @Test func bodyLimitRefusesLargerBodies() throws {
        let app = App()
        let small = app.group("/small", BodyLimit(8))
        small.post("/") { c in c.text("got \(c.body.count)") }
        #expect(try app.test(.post, "/small/", body: "12345678").text == "got 8")
        #expect(try app.test(.post, "/small/", body: "123456789").status == .contentTooLarge)
    }

    @Test func timeoutAnswers503AndKeepsTheContextUntilTheTaskEnds() throws {
        let app = App()
        let finished = Mutex<[String]>([])
        let slow = app.group("/slow", Timeout(.milliseconds(50)))
        slow.get("/:mode") { c async throws in
            if c.param("mode") == "stuck" {
                // Waits up to 5 s (sleep wake-ups go through the global concurrency pool, which parallel tests
                // can keep busy for a second), then, once cancelled, keeps running 20 ms more as a handler stuck
                // in non-cooperative work would (each cancelled sleep throws at once and is swallowed).
                let start = ContinuousClock.now
                while ContinuousClock.now - start < .seconds(5) && !Task.isCancelled { try? await Task.sleep(for: .milliseconds(2)) }
                let cancelled = ContinuousClock.now
                while ContinuousClock.now - cancelled < .milliseconds(20) { try? await Task.sleep(for: .milliseconds(1)) }
            }
            c.text("done")  // after a timeout: dropped
            finished.withLock { $0.append("\(c.param("mode")!) timedOut=\(c.timedOut)") }
        }
        let client = try app.testClient()
        let late = try client.send(.get, "/slow/stuck")
        #expect(late.status == .serviceUnavailable)
        #expect(late.text.contains("took longer"))
        // the connection goes on only after the stuck task has finished and given its context back
        let quick = try client.send(.get, "/slow/fast")
        #expect(quick.text == "done")
        #expect(finished.withLock { $0 } == ["stuck timedOut=true", "fast timedOut=false"])
    }
}

@Suite(.serialized) struct StaticTests {
    let root: String
    let outside: String

    init() throws {
        let base = "/tmp/bolt-static-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        root = base + "/public"
        outside = base + "/private"
        mkdir(base, 0o755)
        mkdir(root, 0o755)
        mkdir(root + "/docs", 0o755)
        mkdir(outside, 0o755)
        try write(root + "/hello.txt", "Hello, static world!")
        try write(root + "/docs/index.html", "<h1>docs</h1>")
        try write(outside + "/secret.txt", "secret")
        symlink(outside + "/secret.txt", root + "/leak.txt")
    }

    func write(_ path: String, _ text: String) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw HTTPError(.internalServerError, "cannot write \(path)") }
        var text = text
        text.withUTF8 { _ = Glibc.write(fd, $0.baseAddress, $0.count) }
        close(fd)
    }

    func makeApp() -> App {
        let app = App()
        app.use(Static(root: root, prefix: "/assets"))
        app.get("/assets/fallback") { c in c.text("route") }
        return app
    }

    @Test func servesFilesWithTypesETagsAndIndexPages() throws {
        let app = makeApp()
        let file = try app.test(.get, "/assets/hello.txt")
        #expect(file.status == .ok)
        #expect(file.text == "Hello, static world!")
        #expect(file.header("Content-Type") == "text/plain; charset=utf-8")
        let etag = try #require(file.header("ETag"))
        #expect(etag.hasPrefix("W/\""))
        let cached = try app.test(.get, "/assets/hello.txt", headers: [("If-None-Match", "\"x\", \(etag)")])
        #expect(cached.status == .notModified)
        #expect(cached.body.isEmpty)
        #expect(try app.test(.get, "/assets/docs").text == "<h1>docs</h1>")
        #expect(try app.test(.get, "/assets/fallback").text == "route")
        let head = try app.test(.head, "/assets/hello.txt")
        #expect(head.header("Content-Length") == "20" && head.body.isEmpty)
    }

    @Test func servesRanges() throws {
        let app = makeApp()
        let part = try app.test(.get, "/assets/hello.txt", headers: [("Range", "bytes=7-12")])
        #expect(part.status == .partialContent)
        #expect(part.text == "static")
        #expect(part.header("Content-Range") == "bytes 7-12/20")
        #expect(try app.test(.get, "/assets/hello.txt", headers: [("Range", "bytes=-6")]).text == "world!")
        #expect(try app.test(.get, "/assets/hello.txt", headers: [("Range", "bytes=15-")]).text == "orld!")
        let unsatisfiable = try app.test(.get, "/assets/hello.txt", headers: [("Range", "bytes=50-60")])
        #expect(unsatisfiable.status == .rangeNotSatisfiable)
        #expect(unsatisfiable.header("Content-Range") == "bytes */20")
        #expect(try app.test(.get, "/assets/hello.txt", headers: [("Range", "bytes=0-1,4-5")]).status == .ok)
    }

    @Test func refusesTraversalEncodedSeparatorsAndSymlinksOut() throws {
        let app = makeApp()
        for path in ["/assets/../private/secret.txt", "/assets/docs/../../private/secret.txt", "/assets/%2e%2e/private/secret.txt",
                     "/assets/..%2fprivate%2fsecret.txt", "/assets/docs%2f..%2f..%2fprivate/secret.txt",
                     "/assets/..%5cprivate", "/assets/hello.txt%00.png", "/assets/leak.txt", "/assets/./hello.txt"] {
            let response = try app.test(.get, path)
            #expect(response.status == .notFound, "\(path)")
            #expect(!response.text.contains("secret"), "\(path)")
        }
    }
}

/// A wait that ignores cancellation and ends only when the test opens it: a handler that never completes on its
/// own.
final class Gate: Sendable {
    private let state = Mutex<(open: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

    func wait() async {
        await withCheckedContinuation { (k: CheckedContinuation<Void, Never>) in
            let resumeNow = state.withLock { s in
                if s.open { return true }
                s.waiters.append(k)
                return false
            }
            if resumeNow { k.resume() }
        }
    }

    func open() {
        let waiters = state.withLock { s in
            s.open = true
            defer { s.waiters = [] }
            return s.waiters
        }
        waiters.forEach { $0.resume() }
    }
}

/// One HTTP/1.1 connection over loopback, read with a deadline (Content-Length bodies only).
final class RawConnection {
    private var fd: Int32
    private var input: [UInt8] = []

    init(port: Int) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = in_addr_t(UInt32(0x7F00_0001).bigEndian)
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else { throw HTTPError(.badGateway, "connect failed") }
    }

    deinit { close() }

    func close() {
        if fd >= 0 { Glibc.close(fd) }
        fd = -1
    }

    func send(_ text: String) {
        let bytes = Array(text.utf8)
        var off = 0
        while off < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + off, $0.count - off, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { return }
            off += n
        }
    }

    /// Everything the server sends until it closes the connection, and whether it did within `ms` milliseconds.
    func readUntilClose(within ms: Int32) -> (bytes: [UInt8], closed: Bool) {
        var deadline = timespec()
        clock_gettime(CLOCK_MONOTONIC, &deadline)
        let end = deadline.tv_sec * 1000 + deadline.tv_nsec / 1_000_000 + Int(ms)
        while true {
            var now = timespec()
            clock_gettime(CLOCK_MONOTONIC, &now)
            let left = end - (now.tv_sec * 1000 + now.tv_nsec / 1_000_000)
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard left > 0, poll(&pfd, 1, Int32(left)) > 0 else { return (input, false) }
            var chunk = [UInt8](repeating: 0, count: 4096)
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            guard n > 0 else { return (input, true) }
            input += chunk[0..<n]
        }
    }

    /// The next response's status and body, or nil when none is complete within `ms` milliseconds.
    func response(within ms: Int32) -> (status: Int, body: String)? {
        var deadline = timespec()
        clock_gettime(CLOCK_MONOTONIC, &deadline)
        let end = deadline.tv_sec * 1000 + deadline.tv_nsec / 1_000_000 + Int(ms)
        while true {
            if let head = input.firstRange(of: Array("\r\n\r\n".utf8)) {
                let text = String(decoding: input[..<head.lowerBound], as: UTF8.self)
                let length = text.split(separator: "\r\n").first { $0.lowercased().hasPrefix("content-length:") }
                    .flatMap { Int($0.split(separator: ":")[1].drop { $0 == " " }) } ?? 0
                if input.count >= head.upperBound + length {
                    let status = Int(text.split(separator: " ")[1]) ?? 0
                    let body = String(decoding: input[head.upperBound..<(head.upperBound + length)], as: UTF8.self)
                    input.removeFirst(head.upperBound + length)
                    return (status, body)
                }
            }
            var now = timespec()
            clock_gettime(CLOCK_MONOTONIC, &now)
            let left = end - (now.tv_sec * 1000 + now.tv_nsec / 1_000_000)
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard left > 0, poll(&pfd, 1, Int32(left)) > 0 else { return nil }
            var chunk = [UInt8](repeating: 0, count: 4096)
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            guard n > 0 else { return nil }
            input += chunk[0..<n]
        }
    }
}

@Suite struct TimeoutOverLoopbackTests {
    @Test func answersAHandlerThatNeverCompletesWith503AndFreesEverythingOnceItEnds() throws {
        let app = App()
        let gate = Gate()
        let ended = Mutex(false)
        app.group("/hang", Timeout(.milliseconds(100))).get("/") { c async in
            await gate.wait()  // ignores the timeout's cancellation: hangs until the test opens the gate
            c.text("too late")  // dropped: the 503 went out
            ended.withLock { $0 = true }
        }
        app.get("/in-use") { c in c.text("\(c.contextsInUseOnThisLoop)") }
        let server = try app.makeServer(configuration: .init(host: "127.0.0.1", port: 0, loops: 1))
        try server.start()
        defer {
            server.shutdown(deadline: .seconds(1))
            server.wait()
        }

        let hung = try RawConnection(port: server.port)
        hung.send("GET /hang/ HTTP/1.1\r\nHost: t\r\n\r\n")
        let answer = hung.response(within: 5000)
        #expect(answer?.status == 503)
        #expect(answer?.body.contains("took longer") == true)

        // The loop serves everyone else meanwhile; the hung task holds one context (the other is this request's).
        let other = try RawConnection(port: server.port)
        other.send("GET /in-use HTTP/1.1\r\nHost: t\r\n\r\n")
        #expect(other.response(within: 5000)?.body == "2")
        // The hung connection's next request waits for the task: its request views stay valid until it ends.
        hung.send("GET /in-use HTTP/1.1\r\nHost: t\r\n\r\n")
        #expect(hung.response(within: 300) == nil)
        #expect(!ended.withLock { $0 })

        // The task ends: the waiting request is answered, the context is back in its pool ...
        gate.open()
        #expect(hung.response(within: 5000)?.body == "1")
        #expect(ended.withLock { $0 })
        other.send("GET /in-use HTTP/1.1\r\nHost: t\r\n\r\n")
        #expect(other.response(within: 5000)?.body == "1")
        // ... and once the clients go, no connection is left.
        hung.close()
        other.close()
        var open = -1
        for _ in 0..<250 where open != 0 {
            open = server.loopMetrics.reduce(0) { $0 + $1.connectionsOpen }
            if open != 0 { usleep(20_000) }
        }
        #expect(open == 0)
    }
}
