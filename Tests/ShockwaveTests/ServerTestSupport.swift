// The server side of the socket tests: a route table exercising the API, and a helper that runs a test body
// against a server on 127.0.0.1 with a kernel-chosen port, on the backend a test case asks for.

import Shockwave
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The backends every server test runs on.
enum TestBackend: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case epoll
    case uring

    var testDescription: String { rawValue }

    var configuration: ServerConfiguration.Backend { self == .epoll ? .epoll : .uring }
}

/// 4 MiB of body for the response that a client abandons half way.
let bigBody = [UInt8](repeating: UInt8(ascii: "x"), count: 4 << 20)

struct TestError: Error {}

/// The routes the socket tests call.
struct TestRoutes: HTTPHandler {
    func handle(_ request: borrowing Request, _ response: inout ResponseWriter) throws {
        let path = request.path
        if path == "/hello" {
            response.contentType = .plainText
            response.body("Hello, World!" as StaticString)
        } else if path == "/echo" {
            // The body back, with what the server knew about it.
            response.contentType = .octetStream
            try response.header(name: "X-Chunked", value: request.isChunked ? "yes" : "no")
            try response.header(name: "X-Expect-Continue", value: request.expectsContinue ? "yes" : "no")
            response.body(request.body)
        } else if path.hasPrefix("/n/") {
            response.body(path.dropFirst(3))
        } else if path == "/inspect" {
            var text = "method=\(request.method) raw=\(request.methodBytes) target=\(request.target) path=\(path)"
            text += " query=\(request.query) hasQuery=\(request.hasQuery) version=\(request.version)"
            text += " keepAlive=\(request.keepAlive) host=\(request.host?.string ?? "-")"
            text += " x-test=\(request.headers["x-TEST"]?.string ?? "-") q=\(request.queryParameter("q")?.string ?? "-")"
            text += " fields=\(request.headers.count) names=\(request.headers.map { $0.name.string }.joined(separator: ","))"
            response.body(text)
        } else if path == "/stream" {
            response.contentType = .plainText
            response.writeChunk("a")
            response.writeChunk("bb")
            response.writeChunk([UInt8]("ccc".utf8))
            response.finishChunks()
        } else if path == "/unfinished-stream" {
            response.writeChunk("partial")
        } else if path == "/status" {
            response.status = HTTPStatus(request.queryParameter("code")?.decimalInteger ?? 0)
            response.body("status")
        } else if path == "/no-content" {
            response.status = .noContent
        } else if path == "/empty" {
            // nothing written: the server ends the response
        } else if path == "/big" {
            response.contentType = .octetStream
            response.body(bigBody)
        } else if path == "/throw" {
            throw TestError()
        } else if path == "/throw-after-header" {
            try response.header(name: "X-Before", value: "1")
            throw TestError()
        } else if path == "/bad-header" {
            var refused: [String] = []
            for (name, value) in [("X-Ok", "fine\tvalue"), ("X-Split", "a\r\nInjected: yes"), ("X-Lf", "a\nb"),
                                  ("X-Nul", "a\u{0}b"), ("Bad Name", "v"), ("", "v"), ("content-length", "5"),
                                  ("Transfer-Encoding", "chunked"), ("Connection", "close"), ("Date", "today")] {
                do {
                    try response.header(name: name, value: value)
                } catch {
                    refused.append("\(name.isEmpty ? "<empty>" : name):\(error.kind)")
                }
            }
            response.body(refused.joined(separator: "|"))
        } else {
            response.status = .notFound
            response.body("not found" as StaticString)
        }
    }
}

/// Runs `body` against a started server on 127.0.0.1, port 0, two loops, on `backend`; shuts the server down
/// afterwards. Cancels (skips) the test case, with a message, when the backend cannot run here.
func withServer(
    _ backend: TestBackend, configure: (inout ServerConfiguration) -> Void = { _ in },
    handler: some HTTPHandler = TestRoutes(), _ body: (Server) throws -> Void
) throws {
    try withServer(backend, configure: configure, make: { Server(configuration: $0, handler: handler) }, body)
}

/// As ``withServer(_:configure:handler:_:)`` with an async handler.
func withAsyncServer(
    _ backend: TestBackend, configure: (inout ServerConfiguration) -> Void = { _ in },
    handler: some AsyncHTTPHandler = AsyncRoutes(), _ body: (Server) throws -> Void
) throws {
    try withServer(backend, configure: configure, make: { Server(configuration: $0, handler: handler) }, body)
}

func withServer(
    _ backend: TestBackend, configure: (inout ServerConfiguration) -> Void,
    make: (ServerConfiguration) -> Server, _ body: (Server) throws -> Void
) throws {
    var configuration = ServerConfiguration(host: "127.0.0.1", port: 0, loops: 2, backend: backend.configuration)
    configure(&configuration)
    let server = make(configuration)
    try startOrSkip(server, backend)
    defer {
        server.shutdown(deadline: .seconds(2))
        server.wait()
    }
    if server.backend != backend.configuration {
        // SHOCKWAVE_BACKEND overrides the configuration, or auto fell back to epoll.
        try skip("asked for \(backend.rawValue), got \(server.backend) (SHOCKWAVE_BACKEND or no io_uring here)")
    }
    try body(server)
}

/// Starts `server`; cancels the test case when io_uring was asked for and cannot run here.
func startOrSkip(_ server: Server, _ backend: TestBackend) throws {
    var failure: ServerError? = nil
    do { try server.start() } catch { failure = error }
    if let failure {
        if failure.kind == .backendUnavailable && backend == .uring {
            try skip(failure.message)
        }
        throw failure
    }
}

/// Cancels the current test case with `message`, which is printed too: this Swift Testing release reports a
/// cancelled case as passed without showing why.
func skip(_ message: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> Never {
    print("note: skipping \(Test.current?.name ?? "test") case: \(message)")
    try Test.cancel(Comment(rawValue: message), sourceLocation: sourceLocation)
}

/// An actor the async routes visit, so a handler leaves its loop thread and must come back to it.
actor Visits {
    static let shared = Visits()
    private var count = 0
    func record() -> Int {
        count += 1
        return count
    }
}

/// The routes of the async-handler tests.
struct AsyncRoutes: AsyncHTTPHandler {
    func handle(_ request: borrowing Request, _ response: inout ResponseWriter) async throws {
        let path = request.path
        if path == "/hello" {
            response.contentType = .plainText
            response.body("Hello, World!" as StaticString)
        } else if path.hasPrefix("/sleep/") {
            // /sleep/<ms>: suspends (a timer, an actor) and reports whether it came back to the same thread.
            let before = pthread_self()
            let ms = path.dropFirst(7).decimalInteger ?? 0
            try await Task.sleep(for: .milliseconds(ms))
            _ = await Visits.shared.record()
            let same = pthread_equal(before, pthread_self()) != 0
            let thread = currentThreadName()
            response.body("slept \(ms) sameThread=\(same) thread=\(thread) loop=\(request.loopIndex) path=\(request.path)")
        } else if path == "/echo" {
            await Task.yield()
            response.body(request.body)
        } else if path == "/inspect-later" {
            // Reads the head only after other requests of the loop were parsed meanwhile.
            try await Task.sleep(for: .milliseconds(20))
            let names = request.headers.map { $0.name.string }.joined(separator: ",")
            response.body("x-test=\(request.headers["X-Test"]?.string ?? "-") names=\(names)")
        } else if path == "/stream" {
            for part in ["one ", "two ", "three"] {
                try await Task.sleep(for: .milliseconds(2))
                response.writeChunk(part)
            }
            response.finishChunks()
        } else if path == "/throw" {
            try await Task.sleep(for: .milliseconds(1))
            throw TestError()
        } else if path == "/throw-after-header" {
            try response.header(name: "X-Before", value: "1")
            try await Task.sleep(for: .milliseconds(1))
            throw TestError()
        } else if path == "/closed" {
            // The client resets during the sleep; writing afterwards must do nothing.
            try await Task.sleep(for: .milliseconds(300))
            response.body(response.isConnectionOpen ? "open" : "closed")
        } else {
            response.status = .notFound
            response.body("not found" as StaticString)
        }
    }
}

/// The calling thread's name, from /proc (loop threads are named sw-loop-N).
func currentThreadName() -> String {
    let fd = open("/proc/thread-self/comm", O_RDONLY)
    guard fd >= 0 else { return "?" }
    defer { close(fd) }
    var bytes = [UInt8](repeating: 0, count: 32)
    let n = read(fd, &bytes, bytes.count)
    guard n > 0 else { return "?" }
    return String(decoding: bytes[0..<n].filter { $0 != 10 }, as: UTF8.self)
}
