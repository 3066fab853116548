// The in-process server: the same connection code as a socket, fed bytes by the test thread.

import Shockwave
import Testing

/// Synchronous for /hello, async for everything else (after a suspension).
struct MixedRoutes: MixedHTTPHandler {
    func handle(_ request: borrowing Request, _ response: inout ResponseWriter) throws -> HandlerDisposition {
        if request.path == "/hello" {
            response.body("sync" as StaticString)
            return .done
        }
        return .suspend(tag: request.path.count)
    }

    func handleAsync(_ request: borrowing Request, _ response: inout ResponseWriter, tag: Int) async throws {
        try await Task.sleep(for: .milliseconds(2))
        response.body("async tag=\(tag) path=\(request.path) x=\(request.headers["X"]?.string ?? "-")")
    }
}

@Suite struct InProcessTests {
    @Test func answersSynchronousRequestsInsideSend() throws {
        let server = try InProcessServer(handler: TestRoutes())
        let connection = try server.connect()
        connection.send("GET /hello HTTP/1.1\r\nHost: t\r\n\r\n")
        // already answered: the bytes are there before any readResponse
        #expect(connection.withOutput { $0.count } > 0)
        let response = try connection.readResponse()
        #expect(response.status == 200)
        #expect(response.bodyString == "Hello, World!")
        #expect(response.header("content-type") == "text/plain; charset=utf-8")
        #expect(response.header("Date")?.hasSuffix(" GMT") == true)
        #expect(connection.isOpen)
    }

    @Test func keepsPipelinedResponsesInOrderAndDecodesChunkedBodies() throws {
        let server = try InProcessServer(handler: TestRoutes())
        let connection = try server.connect()
        var batch = ""
        for i in 0..<10 { batch += "GET /n/\(i) HTTP/1.1\r\nHost: t\r\n\r\n" }
        batch += "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
        batch += "GET /stream HTTP/1.1\r\nHost: t\r\n\r\n"
        batch += "HEAD /hello HTTP/1.1\r\nHost: t\r\n\r\n"
        // byte by byte: the parser sees every split
        for byte in Array(batch.utf8) { connection.send([byte]) }
        for i in 0..<10 { #expect(try connection.readResponse().bodyString == "\(i)") }
        let echo = try connection.readResponse()
        #expect(echo.bodyString == "abcde")
        #expect(echo.header("X-Chunked") == "yes")
        let stream = try connection.readResponse()
        #expect(stream.header("Transfer-Encoding") == "chunked")
        #expect(stream.bodyString == "abbccc")
        let head = try connection.readResponse(bodyless: true)
        #expect(head.header("Content-Length") == "13")
        #expect(head.body.isEmpty)
        #expect(connection.withOutput { $0.count } == 0)
    }

    @Test func answersBadInputWithAStatusAndCloses() throws {
        let server = try InProcessServer(handler: TestRoutes())
        let bad = try server.connect()
        bad.send("GET / HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n")
        #expect(try bad.readResponse().status == 400)
        #expect(!bad.isOpen)
        let good = try server.connect()
        good.send("GET /hello HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        let response = try good.readResponse()
        #expect(response.status == 200)
        #expect(response.header("Connection") == "close")
        #expect(!good.isOpen)
    }

    @Test func runsAsyncHandlersOnTheCallingThread() throws {
        let server = try InProcessServer(handler: AsyncRoutes())
        let connection = try server.connect()
        connection.send("GET /sleep/3 HTTP/1.1\r\nHost: t\r\n\r\nGET /hello HTTP/1.1\r\nHost: t\r\n\r\n")
        let first = try connection.readResponse()
        #expect(first.bodyString.hasPrefix("slept 3 sameThread=true"), "\(first.bodyString)")
        #expect(try connection.readResponse().bodyString == "Hello, World!")
    }

    @Test func keepsTwoAsyncServersOnOneThreadApart() throws {
        for _ in 0..<3 {
            let a = try InProcessServer(handler: AsyncRoutes())
            let b = try InProcessServer(handler: MixedRoutes())
            let ca = try a.connect()
            let cb = try b.connect()
            ca.send("GET /sleep/2 HTTP/1.1\r\nHost: t\r\n\r\n")
            cb.send("GET /b HTTP/1.1\r\nHost: t\r\n\r\n")
            #expect(try cb.readResponse().bodyString == "async tag=2 path=/b x=-")
            #expect(try ca.readResponse().bodyString.hasPrefix("slept 2 sameThread=true"))
        }
    }

    @Test func runsMixedHandlersInlineOrInATask() throws {
        let server = try InProcessServer(handler: MixedRoutes())
        let connection = try server.connect()
        connection.send("GET /later HTTP/1.1\r\nHost: t\r\nX: 1\r\n\r\nGET /hello HTTP/1.1\r\nHost: t\r\n\r\n")
        #expect(try connection.readResponse().bodyString == "async tag=6 path=/later x=1")
        #expect(try connection.readResponse().bodyString == "sync")
    }

    @Test func reportsAnIncompleteResponseInsteadOfHanging() throws {
        let server = try InProcessServer(handler: TestRoutes())
        let connection = try server.connect()
        connection.send("GET /hello HTTP/1.1\r\nHost: t\r\n")  // head not finished: no response
        #expect(throws: InProcessError.self) { try connection.readResponse(timeout: .milliseconds(50)) }
    }
}
