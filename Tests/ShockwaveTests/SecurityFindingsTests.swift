// Regression tests for the findings of a security review of the C core, over real sockets on both backends:
// a body after a status that has none (response splitting), chunked framing sent to an HTTP/1.0 client, a
// complete pipelined request left unread until a timeout, maxBody = 0 meaning two things, the Host of an
// absolute-form target, and target bytes RFC 3986 does not allow. Each test failed before its fix.

import Synchronization
import Testing

@testable import Shockwave

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The descriptors the file routes handed to the response, so a test can check that each was closed.
final class DescriptorLog: Sendable {
    private let fds = Mutex<[Int32]>([])
    func add(_ fd: Int32) { fds.withLock { $0.append(fd) } }
    var all: [Int32] { fds.withLock { $0 } }
}

/// A file with known bytes, removed when the test ends.
final class TestFile: Sendable {
    let path: String
    let contents: String

    init(_ contents: String) {
        path = "/tmp/shockwave-security-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).txt"
        self.contents = contents
        let fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0o600)
        precondition(fd >= 0, "cannot create \(path)")
        _ = Array(contents.utf8).withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        close(fd)
    }

    deinit { unlink(path) }

    /// Whether `fd` still refers to this file (a descriptor the server should have closed).
    func isOpen(_ fd: Int32) -> Bool {
        var buf = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/fd/\(fd)", &buf, buf.count - 1)
        guard n > 0 else { return false }
        return String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self) == path
    }
}

/// The routes of these tests. `?code=N` sets the status where a route takes one.
struct SecurityRoutes: HTTPHandler {
    let file: TestFile
    let descriptors: DescriptorLog

    func handle(_ request: borrowing Request, _ response: inout ResponseWriter) throws {
        let path = request.path
        let code = request.queryParameter("code")?.decimalInteger ?? 200
        if path == "/file" {
            // A handler that answers a conditional GET with 304 but still hands over the file.
            response.status = HTTPStatus(code)
            let fd = open(file.path, O_RDONLY)
            descriptors.add(fd)
            response.file(descriptor: fd, length: UInt64(file.contents.utf8.count))
        } else if path == "/chunks" {
            response.status = HTTPStatus(code)
            response.contentType = .plainText
            response.writeChunk("abc")
            response.writeChunk("defg")
            response.finishChunks()
        } else if path == "/length" {
            response.body("length=\(request.body.count)")
        } else if path == "/host" {
            response.body("host=\(request.host?.string ?? "-") path=\(request.path) target=\(request.target)")
        } else if path == "/hello" {
            response.body("Hello, World!" as StaticString)
        } else {
            response.status = .notFound
            response.body("not found" as StaticString)
        }
    }
}

@Suite(.serialized) struct SecurityFindingsTests {
    private func withRoutes(
        _ backend: TestBackend, configure: (inout ServerConfiguration) -> Void = { _ in },
        _ body: (Server, TestFile, DescriptorLog) throws -> Void
    ) throws {
        let file = TestFile("HTTP/1.1 200 OK\r\nContent-Length: 8\r\nX-Injected: yes\r\n\r\nsmuggled")
        let descriptors = DescriptorLog()
        try withServer(backend, configure: configure, handler: SecurityRoutes(file: file, descriptors: descriptors)) {
            try body($0, file, descriptors)
        }
    }

    // MARK: 1. no body after 1xx/204/304, head only for HEAD

    @Test(arguments: TestBackend.allCases)
    func aFileGivenToA304Or204ResponseIsNeverSentAndItsDescriptorIsClosed(_ backend: TestBackend) throws {
        try withRoutes(backend) { server, file, descriptors in
            let client = try SocketClient(port: server.port, timeout: 5)
            for code in [304, 204] {
                // The next request on the connection must read its own answer, not the file's bytes (which hold
                // a whole response a client or proxy would take for the next one).
                try client.send("GET /file?code=\(code) HTTP/1.1\r\nHost: t\r\n\r\n" + get)
                let first = try client.readResponse()
                #expect(first.status == code)
                #expect(first.header("Content-Length") == nil && first.header("Transfer-Encoding") == nil)
                let second = try client.readResponse()
                #expect(second.status == 200 && second.header("X-Injected") == nil)
                #expect(second.bodyString == "Hello, World!")
            }
            #expect(descriptors.all.count == 2)
            for fd in descriptors.all { #expect(!file.isOpen(fd), "descriptor \(fd) of a no-body response leaked") }
        }
    }

    @Test(arguments: TestBackend.allCases)
    func aStreamedResponseWithA304Or204SendsNoFramingAndNoChunks(_ backend: TestBackend) throws {
        try withRoutes(backend) { server, _, _ in
            let client = try SocketClient(port: server.port, timeout: 5)
            for code in [304, 204] {
                try client.send("GET /chunks?code=\(code) HTTP/1.1\r\nHost: t\r\n\r\n" + get)
                let first = try client.readResponse()
                #expect(first.status == code)
                #expect(first.header("Transfer-Encoding") == nil && first.header("Content-Length") == nil)
                let second = try client.readResponse()
                #expect(second.status == 200)
                #expect(second.bodyString == "Hello, World!")
            }
        }
    }

    @Test(arguments: TestBackend.allCases)
    func aHeadRequestForAFileGetsItsContentLengthAndNoBody(_ backend: TestBackend) throws {
        try withRoutes(backend) { server, file, descriptors in
            let client = try SocketClient(port: server.port, timeout: 5)
            try client.send("HEAD /file HTTP/1.1\r\nHost: t\r\n\r\n" + get)
            let head = try client.readResponse(bodyless: true)
            #expect(head.status == 200)
            #expect(head.header("Content-Length") == "\(file.contents.utf8.count)")
            let second = try client.readResponse()
            #expect(second.status == 200 && second.bodyString == "Hello, World!")
            for fd in descriptors.all { #expect(!file.isOpen(fd)) }
        }
    }

    // MARK: 2. no chunked framing for HTTP/1.0

    @Test(arguments: TestBackend.allCases)
    func aStreamedResponseToHTTP10IsCloseDelimitedEvenWithKeepAlive(_ backend: TestBackend) throws {
        try withRoutes(backend) { server, _, _ in
            for request in ["GET /chunks HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", "GET /chunks HTTP/1.0\r\n\r\n"] {
                let client = try SocketClient(port: server.port, timeout: 5)
                try client.send(request)
                let raw = String(decoding: client.readUntilClose(), as: UTF8.self)
                let parts = raw.split(separator: "\r\n\r\n", maxSplits: 1, omittingEmptySubsequences: false)
                try #require(parts.count == 2, "\(raw.debugDescription)")
                let head = parts[0].lowercased()
                #expect(head.hasPrefix("http/1.0 200"))
                #expect(!head.contains("transfer-encoding"), "\(head)")
                #expect(!head.contains("content-length"), "\(head)")
                #expect(head.contains("connection: close"), "\(head)")
                // The bytes as written, no chunk framing; the end of the body is the close.
                #expect(parts[1] == "abcdefg")
            }
        }
    }

    @Test(arguments: TestBackend.allCases)
    func aStreamedResponseToHTTP11KeepsChunkedFraming(_ backend: TestBackend) throws {
        try withRoutes(backend) { server, _, _ in
            let client = try SocketClient(port: server.port, timeout: 5)
            let response = try client.request("GET /chunks HTTP/1.1\r\nHost: t\r\n\r\n")
            #expect(response.header("Transfer-Encoding") == "chunked")
            #expect(response.bodyString == "abcdefg")
            #expect(try client.request(get).status == 200)
        }
    }

    // MARK: 3. a complete pipelined request is always read

    @Test(arguments: TestBackend.allCases)
    func twoPipelinedPostsOf7000And10000BytesAreBothAnswered(_ backend: TestBackend) throws {
        // Before the fix: after the first POST the input buffer was full, its consumed start between 4 KiB and
        // half the buffer, and the second body fit the buffer: neither compacted nor grown, nothing more was
        // read, and the request ended in 408 when the body timer fired.
        try withRoutes(backend, configure: { $0.timeouts.body = .seconds(1) }) { server, _, _ in
            let client = try SocketClient(port: server.port, timeout: 5)
            let a = String(repeating: "a", count: 7000), b = String(repeating: "b", count: 10000)
            try client.send(
                "POST /length HTTP/1.1\r\nHost: t\r\nContent-Length: 7000\r\n\r\n" + a
                    + "POST /length HTTP/1.1\r\nHost: t\r\nContent-Length: 10000\r\n\r\n" + b)
            let first = try client.readResponse()
            #expect(first.status == 200 && first.bodyString == "length=7000")
            let second = try client.readResponse()
            #expect(second.status == 200 && second.bodyString == "length=10000")
        }
    }

    @Test(arguments: TestBackend.allCases)
    func pipelinedPostsOfManySizesAreAllAnswered(_ backend: TestBackend) throws {
        // The same shape at other offsets: whatever the sizes, every complete request is read and answered.
        try withRoutes(backend, configure: { $0.timeouts.body = .seconds(1) }) { server, _, _ in
            for (x, y) in [(3000, 6000), (5000, 9000), (6000, 14000), (7900, 8000), (12000, 20000), (20000, 30000)] {
                let client = try SocketClient(port: server.port, timeout: 5)
                try client.send(
                    "POST /length HTTP/1.1\r\nHost: t\r\nContent-Length: \(x)\r\n\r\n" + String(repeating: "x", count: x)
                        + "POST /length HTTP/1.1\r\nHost: t\r\nContent-Length: \(y)\r\n\r\n"
                        + String(repeating: "y", count: y) + get)
                #expect(try client.readResponse().bodyString == "length=\(x)")
                let second = try client.readResponse()
                #expect(second.status == 200 && second.bodyString == "length=\(y)", "\(x), \(y)")
                #expect(try client.readResponse().bodyString == "Hello, World!")
            }
        }
    }

    // MARK: 4. maxBody = 0 accepts no body, whatever the framing

    @Test(arguments: TestBackend.allCases)
    func maxBodyZeroRefusesEveryBodyByContentLengthAndChunked(_ backend: TestBackend) throws {
        try withRoutes(backend, configure: { $0.limits.maxBody = 0 }) { server, _, _ in
            let empty = try SocketClient(port: server.port, timeout: 5)
            let none = try empty.request("POST /length HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n")
            #expect(none.status == 200 && none.bodyString == "length=0")
            let emptyChunked = try empty.request("POST /length HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
            #expect(emptyChunked.status == 200 && emptyChunked.bodyString == "length=0")

            let cl = try SocketClient(port: server.port, timeout: 5)
            let one = try cl.request("POST /length HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\n\r\nx")
            #expect(one.status == 413)
            #expect(cl.waitForClose())

            for chunked in ["1\r\nx\r\n0\r\n\r\n", "5\r\nhello\r\n0\r\n\r\n"] {
                let client = try SocketClient(port: server.port, timeout: 5)
                let response = try client.request(
                    "POST /length HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked)
                #expect(response.status == 413, "\(chunked.debugDescription): \(response)")
                #expect(client.waitForClose())
            }
        }
    }

    @Test(arguments: TestBackend.allCases)
    func maxBodyOneAcceptsOneByteByContentLengthAndChunked(_ backend: TestBackend) throws {
        try withRoutes(backend, configure: { $0.limits.maxBody = 1 }) { server, _, _ in
            let client = try SocketClient(port: server.port, timeout: 5)
            #expect(try client.request("POST /length HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\n\r\nx").bodyString == "length=1")
            let chunked = try client.request(
                "POST /length HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n")
            #expect(chunked.bodyString == "length=1")
            let two = try client.request(
                "POST /length HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n1\r\ny\r\n0\r\n\r\n")
            #expect(two.status == 413)
            let cl = try SocketClient(port: server.port, timeout: 5)
            #expect(try cl.request("POST /length HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\nxy").status == 413)
        }
    }

    // MARK: 5. absolute-form: the target's authority is the host; http and https only

    @Test(arguments: TestBackend.allCases)
    func anAbsoluteFormTargetsAuthorityWinsOverTheHostField(_ backend: TestBackend) throws {
        try withRoutes(backend) { server, _, _ in
            let client = try SocketClient(port: server.port, timeout: 5)
            let evil = try client.request("GET http://evil.example/host HTTP/1.1\r\nHost: good.example\r\n\r\n")
            #expect(evil.status == 200)
            #expect(evil.bodyString == "host=evil.example path=/host target=http://evil.example/host")
            let port = try client.request("GET HTTPS://Evil.Example:8443/host?x HTTP/1.1\r\nHost: good.example\r\n\r\n")
            #expect(port.bodyString == "host=Evil.Example:8443 path=/host target=HTTPS://Evil.Example:8443/host?x")
            // HTTP/1.0 needs no Host field: the authority is the host.
            let old = try SocketClient(port: server.port, timeout: 5)
            #expect(try old.request("GET http://a.example/host HTTP/1.0\r\n\r\n").bodyString
                == "host=a.example path=/host target=http://a.example/host")
            // origin-form is unchanged
            #expect(try client.request("GET /host HTTP/1.1\r\nHost: good.example\r\n\r\n").bodyString
                == "host=good.example path=/host target=/host")
        }
    }

    @Test(arguments: TestBackend.allCases)
    func anAbsoluteFormTargetWithAnotherSchemeOrUserinfoIsRefused(_ backend: TestBackend) throws {
        try withRoutes(backend) { server, _, _ in
            for target in ["foo://x/host", "ftp://x/host", "httpx://x/host", "http://user@x/host", "http://:80/host"] {
                let client = try SocketClient(port: server.port, timeout: 5)
                let response = try client.request("GET \(target) HTTP/1.1\r\nHost: x\r\n\r\n")
                #expect(response.status == 400, "\(target): \(response)")
                #expect(client.waitForClose())
            }
        }
    }

    // MARK: 6. request-target bytes

    @Test(arguments: TestBackend.allCases)
    func aTargetWithAFragmentOrAByteAClientMustEncodeIsRefused(_ backend: TestBackend) throws {
        try withRoutes(backend) { server, _, _ in
            for target in ["/hello#frag", "/hello?q=#x", "/a\"b", "/a<b>", "http://x/hello#f"] {
                let client = try SocketClient(port: server.port, timeout: 5)
                let response = try client.request("GET \(target) HTTP/1.1\r\nHost: t\r\n\r\n")
                #expect(response.status == 400, "\(target): \(response)")
                #expect(client.waitForClose())
            }
            // What real clients send unencoded still routes; percent-encoding is not judged by the parser.
            let client = try SocketClient(port: server.port, timeout: 5)
            for target in ["/host?ids[]=1&f={a|b}", "/host?p=100%", "/host?x=%zz"] {
                let response = try client.request("GET \(target) HTTP/1.1\r\nHost: t\r\n\r\n")
                #expect(response.status == 200, "\(target): \(response)")
            }
        }
    }
}
