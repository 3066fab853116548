import Bolt
internal import FoundationEssentials

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// How ``TestClient`` reaches the app.
public enum TestMode: Sendable {
    /// In process: the real parser, router, middleware and serializer, no sockets (fast, deterministic).
    case inProcess
    /// Over loopback: a real server on 127.0.0.1 with a kernel-chosen port, one loop, and a socket per client.
    case live
}

/// A response an app gave in a test.
public struct TestResponse: Sendable, CustomStringConvertible {
    /// The status.
    public var status: HTTPStatus
    /// The header fields in order.
    public var headers: [(name: String, value: String)]
    /// The body (de-chunked).
    public var body: [UInt8]

    init(_ response: InProcessResponse) {
        status = HTTPStatus(response.status)
        headers = response.headers
        body = response.body
    }

    /// The first value of the header field `name` (case-insensitive).
    public func header(_ name: String) -> String? {
        let wanted = name.lowercased()
        return headers.first { $0.name.lowercased() == wanted }?.value
    }

    /// The body as UTF-8 text.
    public var text: String { String(decoding: body, as: UTF8.self) }

    /// The body decoded from JSON.
    public func json<T: Decodable>(_ type: T.Type = T.self) throws -> T {
        try JSONDecoder().decode(type, from: Data(body))
    }

    public var description: String { "\(status.code) \(headers) \(text.prefix(100).debugDescription)" }
}

/// Sends requests to an app and returns its responses, in process or over loopback; one connection, kept alive.
///
/// ```swift
/// let client = try app.testClient()           // or app.testClient(.live)
/// let response = try client.send(.get, "/users/42")
/// #expect(response.status == .ok)
/// ```
///
/// Use a client from one thread (the in-process mode runs the app's loop on it).
public final class TestClient {
    private enum Transport {
        case inProcess(InProcessConnection)
        case live(Server, LiveConnection)
    }

    private var transport: Transport
    /// The port of the live server (0 in process).
    public let port: Int

    init(app: App, mode: TestMode) throws {
        switch mode {
        case .inProcess:
            transport = .inProcess(try app.makeInProcessServer().connect())
            port = 0
        case .live:
            var configuration = app.configuration.server
            configuration.host = "127.0.0.1"
            configuration.port = 0
            configuration.loops = 1
            let server = try app.makeServer(configuration: configuration)
            try server.start()
            port = server.port
            transport = .live(server, try LiveConnection(port: server.port))
        }
    }

    deinit {
        if case .live(let server, let connection) = transport {
            connection.close()
            server.shutdown(deadline: .seconds(1))
            server.wait()
        }
    }

    /// Sends a request and returns the response.
    ///
    /// - Parameters:
    ///   - headers: fields to send besides `Host` and `Content-Length`, which are added.
    ///   - body: the request body.
    public func send(
        _ method: HTTPMethod, _ path: String, headers: [(String, String)] = [], body: [UInt8] = []
    ) throws -> TestResponse {
        guard method != .other else {
            // .other names no token: sending GET instead would test another route than the caller meant
            throw TestClientError(description: "send(.other, …) has no method token to send; use sendRaw with the request's bytes")
        }
        var head = "\(method.description) \(path) HTTP/1.1\r\nHost: test\r\n"
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        if !body.isEmpty || method == .post || method == .put || method == .patch {
            head += "Content-Length: \(body.count)\r\n"
        }
        head += "\r\n"
        let bytes = Array(head.utf8) + body
        return try sendRaw(bytes, bodyless: method == .head)
    }

    /// Sends a request with `value` encoded as its JSON body.
    public func send(
        _ method: HTTPMethod, _ path: String, headers: [(String, String)] = [], json value: some Encodable
    ) throws -> TestResponse {
        let body = try JSONEncoder().encode(value)
        return try send(method, path, headers: headers + [("Content-Type", "application/json")], body: Array(body))
    }

    /// Sends raw bytes (any request, valid or not) and returns the next response.
    public func sendRaw(_ bytes: [UInt8], bodyless: Bool = false) throws -> TestResponse {
        switch transport {
        case .inProcess(let connection):
            connection.send(bytes)
            return TestResponse(try connection.readResponse(bodyless: bodyless))
        case .live(_, let connection):
            try connection.send(bytes)
            return TestResponse(try connection.readResponse(bodyless: bodyless))
        }
    }
}

extension App {
    /// A test client for this app: in process by default, or live over loopback (compiles the app).
    public func testClient(_ mode: TestMode = .inProcess) throws -> TestClient {
        try TestClient(app: self, mode: mode)
    }

    /// Sends one request to the app in process and returns the response: the real parser, router, middleware
    /// and serializer, without sockets.
    ///
    /// ```swift
    /// let response = try app.test(.get, "/users/42")
    /// ```
    public func test(
        _ method: HTTPMethod, _ path: String, headers: [(String, String)] = [], body: [UInt8] = [],
        mode: TestMode = .inProcess
    ) throws -> TestResponse {
        try testClient(mode).send(method, path, headers: headers, body: body)
    }

    /// As ``test(_:_:headers:body:mode:)`` with a UTF-8 text body.
    public func test(
        _ method: HTTPMethod, _ path: String, headers: [(String, String)] = [], body: String,
        mode: TestMode = .inProcess
    ) throws -> TestResponse {
        try testClient(mode).send(method, path, headers: headers, body: Array(body.utf8))
    }

    /// As ``test(_:_:headers:body:mode:)`` with `value` encoded as a JSON body.
    public func test(
        _ method: HTTPMethod, _ path: String, headers: [(String, String)] = [], json value: some Encodable,
        mode: TestMode = .inProcess
    ) throws -> TestResponse {
        try testClient(mode).send(method, path, headers: headers, json: value)
    }
}

/// A failure of a live test connection, or a request ``TestClient`` cannot send as asked.
public struct TestClientError: Error, CustomStringConvertible {
    public var description: String
}

/// A blocking loopback connection with timeouts.
final class LiveConnection {
    private var fd: Int32
    private var buffer: [UInt8] = []
    private var closed = false

    init(port: Int) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw TestClientError(description: "socket: errno \(errno)") }
        var tv = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = in_addr_t(0x7F00_0001).bigEndian
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard rc == 0 else {
            Glibc.close(fd)
            throw TestClientError(description: "connect to 127.0.0.1:\(port): errno \(errno)")
        }
    }

    func send(_ bytes: [UInt8]) throws {
        var sent = 0
        while sent < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + sent, $0.count - sent, Int32(MSG_NOSIGNAL)) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw TestClientError(description: "send: errno \(errno)") }
            sent += n
        }
    }

    func readResponse(bodyless: Bool) throws -> InProcessResponse {
        while true {
            let closed = self.closed
            if let (response, used) = try buffer.withUnsafeBytes({
                try InProcessResponse.parse($0, bodyless: bodyless, connectionClosed: closed)
            }) {
                buffer.removeFirst(used)
                return response
            }
            guard !closed else { throw TestClientError(description: "the server closed the connection") }
            var chunk = [UInt8](repeating: 0, count: 65536)
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n > 0 {
                buffer += chunk[..<n]
            } else if n == 0 {
                self.closed = true
            } else if errno != EINTR {
                throw TestClientError(description: "no response in time (errno \(errno))")
            }
        }
    }

    func close() {
        if fd >= 0 { Glibc.close(fd) }
        fd = -1
    }
}
