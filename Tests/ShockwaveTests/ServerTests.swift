// Socket tests of the server: real connections on 127.0.0.1, raw bytes for pipelining and malformed input,
// curl and Python's http.client as real clients. Every test with a backend argument runs on epoll and on
// io_uring; the io_uring case is cancelled with a message where io_uring is not available.

import Synchronization
import Testing

@testable import Shockwave

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The request most socket tests send.
let get = "GET /hello HTTP/1.1\r\nHost: test\r\n\r\n"

/// Requests the parser must refuse with 400 and a close: each is a way to make two parsers disagree on where a
/// message ends (request smuggling, RFC 9112 6.3 and 11.2).
enum SmugglingCase: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case contentLengthAndTransferEncoding
    case differingContentLengths
    case transferEncodingInHTTP10
    case obsFold
    case spaceBeforeColon

    var testDescription: String { rawValue }

    var request: String {
        switch self {
        case .contentLengthAndTransferEncoding:
            "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
        case .differingContentLengths:
            "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!"
        case .transferEncodingInHTTP10:
            "POST /echo HTTP/1.0\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
        case .obsFold:
            "GET /hello HTTP/1.1\r\nHost: t\r\nX-Folded: a\r\n  b\r\n\r\n"
        case .spaceBeforeColon:
            "GET /hello HTTP/1.1\r\nHost: t\r\nContent-Length : 0\r\n\r\n"
        }
    }
}

/// The load client's result, handed from its thread to the test.
final class SharedResult: Sendable {
    private let mutex = Mutex<LoadResult?>(nil)
    func set(_ result: LoadResult) { mutex.withLock { $0 = result } }
    var value: LoadResult? { mutex.withLock { $0 } }
}

@Suite(.serialized) struct ServerTests {
    // MARK: configuration and lifecycle

    @Test func configurationDefaultsEqualTheCoreDefaults() {
        let swift = ServerConfiguration()
        let core = ServerConfiguration.coreDefaults()
        #expect(swift == core)
        // and the documented values
        #expect(swift.host == "0.0.0.0" && swift.port == 0 && swift.loops == nil && swift.backend == .auto)
        #expect(swift.limits.maxHead == 16384 && swift.limits.maxTarget == 8192 && swift.limits.maxHeaders == 100)
        #expect(swift.limits.maxBody == 4 << 20 && swift.limits.maxConnections == 16384)
        #expect(swift.limits.maxRequestsPerConnection == nil)
        #expect(swift.limits.maxStreamedBody == 1 << 30 && swift.limits.minBodyRate == 240)
        #expect(swift.timeouts.header == .seconds(10) && swift.timeouts.body == .seconds(10))
        #expect(swift.timeouts.idle == .seconds(60) && swift.timeouts.write == .seconds(30))
        #expect(swift.tcpNoDelay && !swift.tcpQuickAck && swift.serverName == nil)
    }

    @Test func startFailsWithAddressInUseWhenThePortIsTaken() throws {
        // A plain listener without SO_REUSEPORT holds the port, so the server's listeners cannot share it.
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = loopback(port: 0)
        let bound = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        try #require(bound == 0 && listen(fd, 1) == 0)
        var got = sockaddr_in()
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &got) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
        }
        let takenPort = Int(UInt16(bigEndian: got.sin_port))
        let server = Server(configuration: .init(host: "127.0.0.1", port: takenPort)) { _, r in r.end() }
        let error = #expect(throws: ServerError.self) { try server.start() }
        #expect(error?.kind == .addressInUse)
        #expect(error?.code == EADDRINUSE)
        #expect(error?.message == "cannot listen on 127.0.0.1:\(takenPort): Address already in use")
        #expect(!server.isRunning)
    }

    @Test func startRefusesConfigurationValuesOutOfRange() {
        var bad = ServerConfiguration(host: "127.0.0.1")
        bad.limits.maxHeaders = 0
        let server = Server(configuration: bad) { _, r in r.end() }
        let error = #expect(throws: ServerError.self) { try server.start() }
        #expect(error?.kind == .invalidConfiguration)
        #expect(error?.message.contains("limits.maxHeaders") == true)

        let badHost = Server(configuration: .init(host: "localhost name")) { _, r in r.end() }
        #expect(throws: ServerError.self) { try badHost.start() }
        let notLiteral = Server(configuration: .init(host: "example.invalid")) { _, r in r.end() }
        let hostError = #expect(throws: ServerError.self) { try notLiteral.start() }
        #expect(hostError?.kind == .invalidAddress)
    }

    @Test(arguments: TestBackend.allCases)
    func reportsTheBoundPortBackendAndLoops(_ backend: TestBackend) throws {
        try withServer(backend) { server in
            #expect(server.port > 0)
            #expect(server.backend == backend.configuration)
            #expect(server.loopCount == 2)
            #expect(server.isRunning)
            #expect(throws: ServerError.self) { try server.start() }
        }
    }

    @Test(arguments: TestBackend.allCases)
    func stopsAfterShutdownAndWait(_ backend: TestBackend) throws {
        var configuration = ServerConfiguration(host: "127.0.0.1", loops: 1, backend: backend.configuration)
        configuration.serverName = "shockwave-test"
        let server = Server(configuration: configuration, handler: TestRoutes())
        try startOrSkip(server, backend)
        if server.backend != backend.configuration {
            server.shutdown(deadline: .zero)
            server.wait()
            try skip("asked for \(backend.rawValue), got \(server.backend)")
        }
        let client = try SocketClient(port: server.port)
        let response = try client.request(get)
        #expect(response.header("Server") == "shockwave-test")
        server.shutdown(deadline: .seconds(1))
        server.wait()
        #expect(!server.isRunning)
        #expect(client.waitForClose())
        #expect(throws: (any Error).self) { try SocketClient(port: server.port).request(get) }
    }

    @Test(arguments: TestBackend.allCases)
    func countsConnectionsRequestsAndBytesPerLoop(_ backend: TestBackend) throws {
        try withServer(backend) { server in
            #expect(server.loopMetrics.count == 2)
            let client = try SocketClient(port: server.port)
            for _ in 0..<3 { #expect(try client.request(get).status == 200) }
            let metrics = server.loopMetrics
            #expect(metrics.reduce(0) { $0 + $1.connectionsAccepted } == 1)
            #expect(metrics.reduce(0) { $0 + $1.connectionsOpen } == 1)
            #expect(metrics.reduce(0) { $0 + $1.requests } == 3)
            #expect(metrics.reduce(0) { $0 + $1.bytesIn } == 3 * get.utf8.count)
            #expect(metrics.reduce(0) { $0 + $1.bytesOut } > 0)  // io_uring counts a send when its completion is reaped
            #expect(metrics.reduce(0) { $0 + $1.rejectedRequests } == 0)
        }
    }

    // MARK: HTTP/1.1 behaviour

    @Test(arguments: TestBackend.allCases)
    func answersKeepAliveRequestsOnOneConnection(_ backend: TestBackend) throws {
        try withServer(backend) { server in
            let client = try SocketClient(port: server.port)
            for _ in 0..<5 {
                let response = try client.request(get)
                #expect(response.status == 200)
                #expect(response.version == "HTTP/1.1")
                #expect(response.bodyString == "Hello, World!")
                #expect(response.header("Content-Type") == "text/plain; charset=utf-8")
                #expect(response.header("Content-Length") == "13")
                #expect(response.header("Date")?.hasSuffix(" GMT") == true)
                #expect(response.header("Connection") == nil)
            }
            let last = try client.request("GET /hello HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            #expect(last.status == 200)
            #expect(last.header("Connection") == "close")
            #expect(client.waitForClose())
        }
    }

    @Test(arguments: TestBackend.allCases)
    func answersThirtyTwoPipelinedRequestsInOrder(_ backend: TestBackend) throws {
        try withServer(backend) { server in
            let client = try SocketClient(port: server.port)
            var batch = ""
            for i in 0..<32 { batch += "GET /n/\(i) HTTP/1.1\r\nHost: t\r\n\r\n" }
            try client.send(batch)  // one write
            for i in 0..<32 {
                let response = try client.readResponse()
                #expect(response.status == 200)
                #expect(response.bodyString == "\(i)")
            }
            #expect(try client.request(get).status == 200)
        }
    }

    @Test(arguments: TestBackend.allCases)
    func closesAnHTTP10ConnectionAfterTheResponse(_ backend: TestBackend) throws {
        try withServer(backend) { server in
            let client = try SocketClient(port: server.port)
            let response = try client.request("GET /hello HTTP/1.0\r\n\r\n")
            #expect(response.version == "HTTP/1.0")
            #expect(response.status == 200)
            #expect(response.bodyString == "Hello, World!")
            #expect(response.header("Connection") == nil)
            #expect(client.waitForClose())
        }
    }

    @Test(arguments: TestBackend.allCases)
    func keepsAnHTTP10ConnectionAliveWhenAsked(_ backend: TestBackend) throws {
        try withServer(backend) { server in
            let client = try SocketClient(port: server.port)
            for _ in 0..<3 {
                let response = try client.request("GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
                #expect(response.version == "HTTP/1.0")
                #expect(response.header("Connection")?.lowercased() == "keep-alive")
                #expect(response.bodyString == "Hello, World!")
            }
            let last = try client.request("GET /hello HTTP/1.0\r\n\r\n")
            #expect(last.status == 200)
            #expect(client.waitForClose())
        }
    }

    @Test(arguments: TestBackend.allCases)
    func answersHeadWithTheHeadersOfGetAndNoBody(_ backend: TestBackend) throws {
        try withServer(backend) { server in
            let client = try SocketClient(port: server.port)
            let head = try client.request("HEAD /hello HTTP/1.1\r\nHost: t\r\n\r\n", bodyless: true)
            #expect(head.status == 200)
            #expect(head.header("Content-Length") == "13")
            let streamed = try client.request("HEAD /stream HTTP/1.1\r\nHost: t\r\n\r\n", bodyless: true)
            #expect(streamed.header("Transfer-Encoding") == "chunked")
            // Had any body bytes been sent, this would read them as its status line.
            let next = try client.request(get)
            #expect(next.status == 200)
            #expect(next.bodyString == "Hello, World!")
        }
    }

    @Test(arguments: TestBackend.allCases)
    func sendsContinueBeforeTheClientSendsAnExpectedBody(_ backend: TestBackend) throws {
        try withServer(backend) { server in
            let client = try SocketClient(port: server.port)
            try client.send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
            let interim = try client.readResponse()
            #expect(interim.status == 100)
            try client.send("hello")
            let response = try client.readResponse()
            #expect(response.status == 200)
            #expect(response.bodyString == "hello")
            #expect(response.header("X-Expect-Continue") == "yes")
            // A body sent at once with the head needs no 100 (and gets none).
            let direct = try client.request("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\nhi")
            #expect(direct.status == 200)
            #expect(direct.bodyString == "hi")
        }
    }

    @Test(arguments: TestBackend.allCases)
    func echoesAChunkedUpload(_ backend: TestBackend) throws {
        try withServer(backend) { server in
            let client = try SocketClient(port: server.port)
            try client.send("POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n")
            try client.send("5\r\nhello\r\n")
            try client.send("1;ext=1\r\n,\r\n")
            try client.send("6\r\n world\r\n0\r\nX-Trailer: ok\r\n\r\n")
            let response = try client.readResponse()
            #expect(response.status == 200)
            #expect(response.bodyString == "hello, world")
            #expect(response.header("X-Chunked") == "yes")
            // The connection goes on after a chunked body, including a pipelined one.
            try client.send("POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n" + get)
            #expect(try client.readResponse().bodyString == "abc")
            #expect(try client.readResponse().bodyString == "Hello, World!")
        }
    }

    @Test(arguments: TestBackend.allCases)
    func streamsAChunkedResponse(_ backend: TestBackend) throws {
        try withServer(backend) { server in
            let client = try SocketClient(port: server.port)
            let response = try client.request("GET /stream HTTP/1.1\r\nHost: t\r\n\r\n")
            #expect(response.header("Transfer-Encoding") == "chunked")
            #expect(response.header("Content-Length") == nil)
            #expect(response.bodyString == "abbccc")
            #expect(try client.request(get).status == 200)
        }
    }

    @Test(arguments: TestBackend.allCases)
    func exposesMethodTargetVersionHeadersAndQuery(_ backend: TestBackend) throws {
        try withServer(backend) { server in
            let client = try SocketClient(port: server.port)
            let response = try client.request(
                "PROPFIND /inspect?q=swift&page=2 HTTP/1.1\r\nHost: example.com\r\nX-Test:  value  \r\nAccept: */*\r\n\r\n")
            let text = response.bodyString
            #expect(text.contains("method=OTHER raw=PROPFIND"))
            #expect(text.contains("target=/inspect?q=swift&page=2 path=/inspect query=q=swift&page=2 hasQuery=true"))
            #expect(text.contains("version=HTTP/1.1 keepAlive=true host=example.com"))
            #expect(text.contains("x-test=value q=swift"))
            #expect(text.contains("fields=3 names=Host,X-Test,Accept"))
            let plain = try client.request("GET /inspect HTTP/1.0\r\n\r\n").bodyString
            #expect(plain.contains("method=GET"))
            #expect(plain.contains("hasQuery=false version=HTTP/1.0 keepAlive=false host=-"))
        }
    }

    @Test(arguments: TestBackend.allCases)
    func refusesHeaderValuesWithControlCharactersAndReservedNames(_ backend: TestBackend) throws {
        try withServer(backend) { server in
            let client = try SocketClient(port: server.port)
            let response = try client.request("GET /bad-header HTTP/1.1\r\nHost: t\r\n\r\n")
            #expect(response.header("X-Ok") == "fine\tvalue")
            #expect(response.header("Injected") == nil)
            #expect(response.headers.count(where: { $0.name.lowercased() == "content-length" }) == 1)
            let refused = response.bodyString.split(separator: "|").map(String.init)
            #expect(refused == [
                "X-Split:invalidValue", "X-Lf:invalidValue", "X-Nul:invalidValue", "Bad Name:invalidName",
                "<empty>:invalidName", "content-length:reservedName", "Transfer-Encoding:reservedName",
                "Connection:reservedName", "Date:reservedName",
            ])
        }
    }

    @Test(arguments: TestBackend.allCases)
    func answers500WhenTheHandlerThrowsAndKeepsTheConnection(_ backend: TestBackend) throws {
        try withServer(backend) { server in
            let client = try SocketClient(port: server.port)
            let response = try client.request("GET /throw HTTP/1.1\r\nHost: t\r\n\r\n")
            #expect(response.status == 500)
            #expect(try client.request(get).status == 200)
        }
    }

    @Test(arguments: TestBackend.allCases)
    func answers500WhenTheHandlerThrowsAfterAddingAField(_ backend: TestBackend) throws {
        try withServer(backend) { server in
            let client = try SocketClient(port: server.port)
            let response = try client.request("GET /throw-after-header HTTP/1.1\r\nHost: t\r\n\r\n")
            #expect(response.status == 500)
            #expect(response.header("X-Before") == nil)
        }
    }

    @Test(arguments: TestBackend.allCases)
    func finishesResponsesTheHandlerLeftOpen(_ backend: TestBackend) throws {
        try withServer(backend) { server in
            let client = try SocketClient(port: server.port)
            let empty = try client.request("GET /empty HTTP/1.1\r\nHost: t\r\n\r\n")
            #expect(empty.status == 200)
            #expect(empty.header("Content-Length") == "0")
            let noContent = try client.request("GET /no-content HTTP/1.1\r\nHost: t\r\n\r\n")
            #expect(noContent.status == 204)
            #expect(noContent.header("Content-Length") == nil)
            let stream = try client.request("GET /unfinished-stream HTTP/1.1\r\nHost: t\r\n\r\n")
            #expect(stream.bodyString == "partial")
            #expect(try client.request(get).status == 200)
        }
    }

    @Test(arguments: TestBackend.allCases)
    func writesStatusLinesForAnyCode(_ backend: TestBackend) throws {
        try withServer(backend) { server in
            let client = try SocketClient(port: server.port)
            #expect(try client.request("GET /status?code=418 HTTP/1.1\r\nHost: t\r\n\r\n").status == 418)
            #expect(try client.request("GET /status?code=299 HTTP/1.1\r\nHost: t\r\n\r\n").status == 299)
            #expect(try client.request("GET /status?code=1000 HTTP/1.1\r\nHost: t\r\n\r\n").status == 500)
            #expect(try client.request("GET /nowhere HTTP/1.1\r\nHost: t\r\n\r\n").status == 404)
        }
    }

    @Test(arguments: TestBackend.allCases)
    func closesAConnectionAfterItsRequestLimit(_ backend: TestBackend) throws {
        try withServer(backend, configure: { $0.limits.maxRequestsPerConnection = 3 }) { server in
            let client = try SocketClient(port: server.port)
            #expect(try client.request(get).header("Connection") == nil)
            #expect(try client.request(get).header("Connection") == nil)
            #expect(try client.request(get).header("Connection") == "close")
            #expect(client.waitForClose())
        }
    }

    @Test(arguments: TestBackend.allCases)
    func closesAnIdleKeepAliveConnectionAtTheIdleTimeout(_ backend: TestBackend) throws {
        try withServer(backend, configure: { $0.timeouts.idle = .milliseconds(300) }) { server in
            let client = try SocketClient(port: server.port)
            #expect(try client.request(get).status == 200)
            #expect(client.waitForClose(timeout: 10))
        }
    }

    // MARK: limits over the wire

    private static func limited(_ c: inout ServerConfiguration) {
        c.limits.maxTarget = 100
        c.limits.maxHead = 1024
        c.limits.maxHeaders = 8
        c.limits.maxBody = 1000
    }

    @Test(arguments: TestBackend.allCases)
    func rejectsATargetOverTheLimitWith414(_ backend: TestBackend) throws {
        try withServer(backend, configure: Self.limited) { server in
            let client = try SocketClient(port: server.port)
            let ok = try client.request("GET /n/\(String(repeating: "a", count: 90)) HTTP/1.1\r\nHost: t\r\n\r\n")
            #expect(ok.status == 200)
            let response = try client.request("GET /n/\(String(repeating: "a", count: 200)) HTTP/1.1\r\nHost: t\r\n\r\n")
            #expect(response.status == 414)
            #expect(client.waitForClose())
        }
    }

    @Test(arguments: TestBackend.allCases)
    func rejectsAHeadOverTheLimitWith431(_ backend: TestBackend) throws {
        try withServer(backend, configure: Self.limited) { server in
            let client = try SocketClient(port: server.port)
            var request = "GET /hello HTTP/1.1\r\nHost: t\r\n"
            for i in 0..<5 { request += "X-Big-\(i): \(String(repeating: "v", count: 300))\r\n" }
            let response = try client.request(request + "\r\n")
            #expect(response.status == 431)
            #expect(client.waitForClose())
        }
    }

    @Test(arguments: TestBackend.allCases)
    func rejectsTooManyHeaderFieldsWith431(_ backend: TestBackend) throws {
        try withServer(backend, configure: Self.limited) { server in
            let client = try SocketClient(port: server.port)
            var request = "GET /hello HTTP/1.1\r\nHost: t\r\n"
            for i in 0..<7 { request += "X-\(i): v\r\n" }
            #expect(try client.request(request + "\r\n").status == 200)  // 8 fields: at the limit
            request += "X-7: v\r\n"
            let response = try client.request(request + "\r\n")
            #expect(response.status == 431)
            #expect(client.waitForClose())
        }
    }

    @Test(arguments: TestBackend.allCases)
    func rejectsAnAnnouncedBodyOverTheLimitWith413BeforeReadingIt(_ backend: TestBackend) throws {
        try withServer(backend, configure: Self.limited) { server in
            let client = try SocketClient(port: server.port)
            // No body follows: the answer can only come from the Content-Length.
            try client.send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\n\r\n")
            let response = try client.readResponse()
            #expect(response.status == 413)
            #expect(response.header("Connection") == "close")
            #expect(client.waitForClose())
        }
    }

    @Test(arguments: TestBackend.allCases)
    func rejectsAChunkedBodyOverTheLimitWith413(_ backend: TestBackend) throws {
        try withServer(backend, configure: Self.limited) { server in
            let client = try SocketClient(port: server.port)
            try client.send("POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n")
            let chunk = "200\r\n" + String(repeating: "z", count: 0x200) + "\r\n"
            try client.send(chunk + chunk)  // 1024 bytes decoded, over 1000
            let response = try client.readResponse()
            #expect(response.status == 413)
            #expect(client.waitForClose())
        }
    }

    // MARK: malformed and hostile input

    @Test(arguments: TestBackend.allCases, SmugglingCase.allCases)
    func rejectsSmugglingAttemptsWith400AndClose(_ backend: TestBackend, _ attempt: SmugglingCase) throws {
        try withServer(backend) { server in
            let client = try SocketClient(port: server.port)
            let response = try client.request(attempt.request)
            #expect(response.status == 400)
            #expect(server.loopMetrics.reduce(0) { $0 + $1.rejectedRequests } == 1)
            #expect(response.header("Connection") == "close")
            #expect(client.waitForClose())
        }
    }

    @Test(arguments: TestBackend.allCases)
    func rejectsATLSClientHelloOnThePlainPortWith400(_ backend: TestBackend) throws {
        try withServer(backend) { server in
            let client = try SocketClient(port: server.port)
            // The start of a TLS 1.2 ClientHello record: handshake (0x16), version 3.1, length, ClientHello (1).
            var hello: [UInt8] = [0x16, 0x03, 0x01, 0x00, 0xA5, 0x01, 0x00, 0x00, 0xA1, 0x03, 0x03]
            hello += (0..<32).map { UInt8($0) }
            hello += [0x00, 0x00, 0x20, 0xC0, 0x2B, 0xC0, 0x2F, 0x00, 0x9E, 0xCC, 0xA9, 0x01, 0x00]
            try client.send(hello)
            let response = try client.readResponse()
            #expect(response.status == 400)
            #expect(client.waitForClose())
        }
    }

    @Test(arguments: TestBackend.allCases)
    func cutsASlowlorisClientAtTheHeaderTimeout(_ backend: TestBackend) throws {
        try withServer(backend, configure: { $0.timeouts.header = .milliseconds(300) }) { server in
            let client = try SocketClient(port: server.port)
            try client.send("GET /hello HTTP/1.1\r\nHost: t\r\n")
            // Trickle a field line every 100 ms; the server must end this before the 100th (10 s).
            var cut = false
            var answer: [UInt8] = []
            for i in 0..<100 {
                usleep(100_000)
                do {
                    try client.send("X-\(i): v\r\n")
                } catch {
                    cut = true
                    break
                }
                var pfd = pollfd(fd: client.fd, events: Int16(POLLIN), revents: 0)
                if poll(&pfd, 1, 0) > 0 {
                    answer = client.readUntilClose()
                    cut = true
                    break
                }
            }
            #expect(cut, "the server kept a trickling client past 100 field lines")
            #expect(server.loopMetrics.reduce(0) { $0 + $1.timeouts } >= 1)
            if !answer.isEmpty {
                #expect(String(decoding: answer.prefix(12), as: UTF8.self) == "HTTP/1.1 408")
            }
            // and serves others meanwhile and after
            #expect(try SocketClient(port: server.port).request(get).status == 200)
        }
    }

    @Test(arguments: TestBackend.allCases)
    func survivesAClientResetInTheMiddleOfTheHeaders(_ backend: TestBackend) throws {
        try withServer(backend) { server in
            for _ in 0..<20 {
                let client = try SocketClient(port: server.port)
                try client.send("GET /hello HTTP/1.1\r\nHost: t\r\nX-Half: ")
                client.reset()
            }
            let other = try SocketClient(port: server.port)
            #expect(try other.request(get).status == 200)
        }
    }

    @Test(arguments: TestBackend.allCases)
    func survivesAClientResetInTheMiddleOfAResponse(_ backend: TestBackend) throws {
        try withServer(backend) { server in
            for _ in 0..<5 {
                let client = try SocketClient(port: server.port)
                try client.send("GET /big HTTP/1.1\r\nHost: t\r\n\r\n")
                _ = try client.readRaw(64 << 10)
                client.reset()
            }
            // Also a reset with pipelined requests still queued.
            let pipelined = try SocketClient(port: server.port)
            try pipelined.send(String(repeating: "GET /big HTTP/1.1\r\nHost: t\r\n\r\n", count: 4))
            _ = try pipelined.readRaw(1024)
            pipelined.reset()
            let other = try SocketClient(port: server.port)
            for _ in 0..<3 { #expect(try other.request(get).status == 200) }
            let big = try other.request("GET /big HTTP/1.1\r\nHost: t\r\n\r\n")
            #expect(big.body.count == bigBody.count)
        }
    }

    // MARK: load

    @Test(arguments: TestBackend.allCases)
    func servesAThousandConcurrentConnectionsTenRequestsEachWithoutErrors(_ backend: TestBackend) throws {
        try withServer(backend) { server in
            let result = runLoad(
                port: server.port, connections: 1000, requestsPerConnection: 10, request: Array(get.utf8),
                expectedBody: Array("Hello, World!".utf8), timeLimit: 120)
            #expect(result.errors.isEmpty, "\(result.errors.count) errors, first: \(result.errors.prefix(5))")
            #expect(result.answered == 10_000)
        }
    }

    @Test(arguments: TestBackend.allCases)
    func answersEveryRequestSentBeforeAGracefulShutdownUnderLoad(_ backend: TestBackend) throws {
        var configuration = ServerConfiguration(host: "127.0.0.1", loops: 2, backend: backend.configuration)
        configuration.timeouts.idle = .seconds(30)
        let server = Server(configuration: configuration, handler: TestRoutes())
        try startOrSkip(server, backend)
        if server.backend != backend.configuration {
            server.shutdown(deadline: .zero)
            server.wait()
            try skip("asked for \(backend.rawValue), got \(server.backend)")
        }
        let shutdownStarted = SharedFlag()
        let progress = SharedCounter()
        let port = server.port
        let outcome = SharedResult()
        let clients = TestThread {
            let result = runLoad(
                port: port, connections: 200, requestsPerConnection: Int.max, request: Array(get.utf8),
                expectedBody: Array("Hello, World!".utf8), timeLimit: 60, shutdownStarted: shutdownStarted,
                onProgress: { progress.store($0) })
            outcome.set(result)
        }
        // Shut down in the middle of the traffic.
        var waited = 0
        while progress.value < 5_000 && waited < 30_000 {
            usleep(1_000)
            waited += 1
        }
        shutdownStarted.set()
        server.shutdown(deadline: .seconds(20))
        server.wait()
        clients.join()
        let result = try #require(outcome.value)
        #expect(result.answered >= 5_000)
        #expect(result.lostBeforeShutdown == 0, "first errors: \(result.errors.prefix(5))")
        #expect(result.errors.isEmpty, "\(result.errors.prefix(5))")
    }

    // MARK: real clients

    @Test(arguments: TestBackend.allCases)
    func servesCurl(_ backend: TestBackend) throws {
        guard let curl = findExecutable("curl") else { try skip("curl is not installed") }
        try withServer(backend) { server in
            let base = "http://127.0.0.1:\(server.port)"
            let run = try runProcess(curl, [
                "-sS", "--max-time", "20", "-w", "|%{http_code}|%{num_connects}\\n",
                "\(base)/hello", "\(base)/hello",  // the same connection
                "-X", "POST", "--data-binary", "payload from curl", "\(base)/echo",
            ])
            #expect(run.status == 0, "\(run.output)")
            let lines = run.output.split(separator: "\n").map(String.init)
            #expect(lines == ["Hello, World!|200|1", "Hello, World!|200|0", "payload from curl|200|0"], "\(run.output)")
            let chunked = try runProcess(curl, [
                "-sS", "--max-time", "20", "-H", "Transfer-Encoding: chunked", "--data-binary", "chunked body",
                "\(base)/echo",
            ])
            #expect(chunked.output == "chunked body")
            let expect = try runProcess(curl, [
                "-sS", "--max-time", "20", "-H", "Expect: 100-continue", "--data-binary", "continued",
                "\(base)/echo",
            ])
            #expect(expect.output == "continued")
        }
    }

    @Test(arguments: TestBackend.allCases)
    func servesPythonHTTPClient(_ backend: TestBackend) throws {
        guard let python = findExecutable("python3") else { try skip("python3 is not installed") }
        try withServer(backend) { server in
            let script = """
                import http.client, sys
                c = http.client.HTTPConnection("127.0.0.1", \(server.port), timeout=20)
                out = []
                for i in range(3):
                    c.request("GET", "/hello")
                    r = c.getresponse()
                    out.append("%d %s %s" % (r.status, r.getheader("Content-Type"), r.read().decode()))
                c.request("POST", "/echo", body=b"from python", headers={"Content-Type": "text/plain"})
                r = c.getresponse()
                out.append("%d %s" % (r.status, r.read().decode()))
                c.request("POST", "/echo", body=iter([b"chunk", b"ed"]), encode_chunked=True)
                r = c.getresponse()
                out.append("%d %s %s" % (r.status, r.read().decode(), r.getheader("X-Chunked")))
                c.request("GET", "/stream")
                r = c.getresponse()
                out.append("%d %s" % (r.status, r.read().decode()))
                c.request("HEAD", "/hello")
                r = c.getresponse()
                out.append("%d %s %r" % (r.status, r.getheader("Content-Length"), r.read()))
                c.request("GET", "/missing")
                r = c.getresponse()
                out.append("%d %s" % (r.status, r.read().decode()))
                print("\\n".join(out))
                """
            let run = try runProcess(python, ["-c", script])
            #expect(run.status == 0, "\(run.output)")
            #expect(run.output.split(separator: "\n").map(String.init) == [
                "200 text/plain; charset=utf-8 Hello, World!",
                "200 text/plain; charset=utf-8 Hello, World!",
                "200 text/plain; charset=utf-8 Hello, World!",
                "200 from python",
                "200 chunked yes",
                "200 abbccc",
                "200 13 b''",
                "404 not found",
            ], "\(run.output)")
        }
    }
}

extension ServerTests {
    @Test(arguments: TestBackend.allCases)
    func keepsAHeadWhoseBodyArrivesLaterWhileTheLoopParsesOthers(_ backend: TestBackend) throws {
        try withServer(backend, configure: { $0.loops = 1 }) { server in
            let slow = try SocketClient(port: server.port)
            try slow.send("POST /inspect HTTP/1.1\r\nHost: a\r\nX-Test: slow\r\nContent-Length: 4\r\n\r\nab")
            usleep(20_000)
            let other = try SocketClient(port: server.port)
            for _ in 0..<3 {
                let text = try other.request("GET /inspect HTTP/1.1\r\nHost: b\r\nX-Other: 1\r\nX-Test: fast\r\n\r\n").bodyString
                #expect(text.contains("x-test=fast"))
            }
            try slow.send("cd")
            let text = try slow.readResponse().bodyString
            #expect(text.contains("host=a x-test=slow"), "\(text)")
            #expect(text.hasSuffix("fields=3 names=Host,X-Test,Content-Length"), "\(text)")
        }
    }
}

@Suite(.serialized) struct AsyncHandlerTests {
    @Test(arguments: TestBackend.allCases)
    func keepsEachSuspendedRequestsHeadersWhileTheLoopParsesOthers(_ backend: TestBackend) throws {
        // One loop: every head is parsed into the same field table, which a suspended request must not share.
        try withAsyncServer(backend, configure: { $0.loops = 1 }) { server in
            let clients = try (0..<8).map { _ in try SocketClient(port: server.port) }
            for (i, client) in clients.enumerated() {
                let padding = String(repeating: "X-Pad-\(i): p\r\n", count: i)
                try client.send("GET /inspect-later HTTP/1.1\r\nHost: t\r\n\(padding)X-Test: \(i)\r\n\r\n")
            }
            for (i, client) in clients.enumerated() {
                let names = ["Host"] + Array(repeating: "X-Pad-\(i)", count: i) + ["X-Test"]
                let text = try client.readResponse().bodyString
                #expect(text == "x-test=\(i) names=\(names.joined(separator: ","))")
            }
        }
    }

    @Test(arguments: TestBackend.allCases)
    func runsAnAsyncHandlerOnItsLoopThreadAcrossSuspensions(_ backend: TestBackend) throws {
        try withAsyncServer(backend) { server in
            let client = try SocketClient(port: server.port)
            for _ in 0..<3 {
                let response = try client.request("GET /sleep/5 HTTP/1.1\r\nHost: t\r\n\r\n")
                #expect(response.status == 200)
                let text = response.bodyString
                #expect(text.hasPrefix("slept 5 sameThread=true thread=sw-loop-"), "\(text)")
                #expect(text.hasSuffix("path=/sleep/5"))
            }
            #expect(try client.request(get).bodyString == "Hello, World!")
        }
    }

    @Test(arguments: TestBackend.allCases)
    func keepsPipelinedResponsesInOrderWhileHandlersSuspend(_ backend: TestBackend) throws {
        try withAsyncServer(backend) { server in
            let client = try SocketClient(port: server.port)
            var batch = ""
            for i in 0..<16 { batch += "GET /sleep/\(16 - i) HTTP/1.1\r\nHost: t\r\n\r\n" }
            batch += "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n\r\nlast"
            try client.send(batch)
            for i in 0..<16 {
                let response = try client.readResponse()
                #expect(response.bodyString.hasPrefix("slept \(16 - i) sameThread=true"), "\(response.bodyString)")
            }
            #expect(try client.readResponse().bodyString == "last")
        }
    }

    @Test(arguments: TestBackend.allCases)
    func streamsChunksWrittenBetweenSuspensions(_ backend: TestBackend) throws {
        try withAsyncServer(backend) { server in
            let client = try SocketClient(port: server.port)
            let response = try client.request("GET /stream HTTP/1.1\r\nHost: t\r\n\r\n")
            #expect(response.header("Transfer-Encoding") == "chunked")
            #expect(response.bodyString == "one two three")
            #expect(try client.request(get).status == 200)
        }
    }

    @Test(arguments: TestBackend.allCases)
    func answers500WhenAnAsyncHandlerThrows(_ backend: TestBackend) throws {
        try withAsyncServer(backend) { server in
            let client = try SocketClient(port: server.port)
            #expect(try client.request("GET /throw HTTP/1.1\r\nHost: t\r\n\r\n").status == 500)
            #expect(try client.request(get).status == 200)  // the connection lives on
            let late = try SocketClient(port: server.port)
            let response = try late.request("GET /throw-after-header HTTP/1.1\r\nHost: t\r\n\r\n")
            #expect(response.status == 500)
            #expect(response.header("X-Before") == nil)
        }
    }

    @Test(arguments: TestBackend.allCases)
    func survivesAClientThatResetsWhileItsHandlerIsSuspended(_ backend: TestBackend) throws {
        try withAsyncServer(backend) { server in
            for _ in 0..<10 {
                let client = try SocketClient(port: server.port)
                try client.send("GET /closed HTTP/1.1\r\nHost: t\r\n\r\n")
                usleep(20_000)
                client.reset()
            }
            let other = try SocketClient(port: server.port)
            for _ in 0..<3 { #expect(try other.request(get).status == 200) }
            // Those handlers finish after their connections are gone; the server must still stop cleanly.
            usleep(400_000)
            #expect(try other.request("GET /sleep/1 HTTP/1.1\r\nHost: t\r\n\r\n").status == 200)
        }
    }

    @Test(arguments: TestBackend.allCases)
    func servesTwoHundredConcurrentConnectionsWithAsyncHandlers(_ backend: TestBackend) throws {
        try withAsyncServer(backend) { server in
            let result = runLoad(
                port: server.port, connections: 200, requestsPerConnection: 10,
                request: Array("GET /sleep/1 HTTP/1.1\r\nHost: t\r\n\r\n".utf8), expectedBody: nil, timeLimit: 120)
            #expect(result.errors.isEmpty, "\(result.errors.count) errors, first: \(result.errors.prefix(5))")
            #expect(result.answered == 2_000)
        }
    }

    @Test(arguments: TestBackend.allCases)
    func answersSuspendedHandlersDuringAGracefulShutdown(_ backend: TestBackend) throws {
        var configuration = ServerConfiguration(host: "127.0.0.1", loops: 2, backend: backend.configuration)
        configuration.timeouts.idle = .seconds(30)
        let server = Server(configuration: configuration, handler: AsyncRoutes())
        try startOrSkip(server, backend)
        if server.backend != backend.configuration {
            server.shutdown(deadline: .zero)
            server.wait()
            try skip("asked for \(backend.rawValue), got \(server.backend)")
        }
        let clients = try (0..<20).map { _ in try SocketClient(port: server.port) }
        for client in clients { try client.send("GET /sleep/200 HTTP/1.1\r\nHost: t\r\n\r\n") }
        usleep(50_000)  // the handlers are sleeping now
        server.shutdown(deadline: .seconds(10))
        for client in clients {
            let response = try client.readResponse()
            #expect(response.status == 200)
            #expect(response.header("Connection") == "close")
            #expect(client.waitForClose())
        }
        server.wait()
    }

    @Test func acceptsAsyncAndSyncClosures() throws {
        let sync = Server(configuration: .init(host: "127.0.0.1", backend: .epoll)) { _, response in
            response.body("sync")
        }
        let async = Server(configuration: .init(host: "127.0.0.1", backend: .epoll)) { _, response in
            await Task.yield()
            response.body("async")
        }
        for (server, expected) in [(sync, "sync"), (async, "async")] {
            try server.start()
            defer {
                server.shutdown(deadline: .seconds(1))
                server.wait()
            }
            #expect(try SocketClient(port: server.port).request(get).bodyString == expected)
        }
    }
}
