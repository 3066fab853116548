// What a failure puts on the wire: a response that cannot be completed is aborted (the connection closes after
// what was sent), never ended as if whole; fields meant for the success do not ride on the error answer; an
// informational status is never a final one.

import Bolt
import BoltTesting
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

struct ExportFailed: Error {}

@Suite struct FailureTests {
    static let backends: [ServerConfiguration.Backend] = [.epoll, .uring]

    func liveServer(_ app: App, _ backend: ServerConfiguration.Backend) throws -> Server? {
        var configuration = app.configuration.server
        configuration.host = "127.0.0.1"
        configuration.port = 0
        configuration.loops = 1
        configuration.backend = backend
        let server = try app.makeServer(configuration: configuration)
        do { try server.start() } catch {
            print("FailureTests: \(backend) unavailable here (\(error)); skipped")
            return nil
        }
        return server
    }

    func makeApp() -> App {
        let app = App()
        app.use(Recover())
        app.get("/export") { c in
            try c.withResponse { r in
                for row in 0..<3 { r.writeChunk("row \(row)\n") }
                throw ExportFailed()
            }
        }
        app.get("/export-async") { c async throws in
            c.withResponse { r in r.writeChunk("row 0\n") }
            try await Task.sleep(for: .milliseconds(2))
            c.withResponse { r in r.writeChunk("row 1\n") }
            throw ExportFailed()
        }
        let slow = app.group("/slow", Timeout(.milliseconds(50)))
        slow.get("/stream") { c async throws in
            c.withResponse { r in r.writeChunk("first\n") }
            try await Task.sleep(for: .seconds(5))
            c.withResponse { r in r.writeChunk("never\n") }
        }
        app.get("/fine") { c in c.text("fine") }
        return app
    }

    /// The bytes a client gets for `path` on a new connection, and whether the server closed it.
    func fetch(_ port: Int, _ path: String) throws -> (text: String, closed: Bool) {
        let connection = try RawConnection(port: port)
        connection.send("GET \(path) HTTP/1.1\r\nHost: t\r\n\r\n")
        let (bytes, closed) = connection.readUntilClose(within: 3000)
        return (String(decoding: bytes, as: UTF8.self), closed)
    }

    @Test(arguments: backends) func aStreamThatFailsHalfwayIsCutShortNotEnded(_ backend: ServerConfiguration.Backend) throws {
        guard let server = try liveServer(makeApp(), backend) else { return }
        defer { server.shutdown(deadline: .seconds(1)); server.wait() }
        for path in ["/export", "/export-async", "/slow/stream"] {
            let (text, closed) = try fetch(server.port, path)
            #expect(text.hasPrefix("HTTP/1.1 200 OK\r\n"), "\(path): \(text.debugDescription)")
            #expect(text.contains("Transfer-Encoding: chunked"), "\(path)")
            #expect(text.contains(path == "/slow/stream" ? "first" : "row 0"), "\(path)")
            #expect(!text.hasSuffix("0\r\n\r\n"), "\(path): a failed stream was ended as if whole: \(text.debugDescription)")
            #expect(!text.contains("never"))
            #expect(closed, "\(path): the connection stayed open after a failed stream")
        }
        // the server goes on serving
        let (fine, _) = try fetch(server.port, "/fine")
        #expect(fine.hasPrefix("HTTP/1.1 200 OK\r\n") && fine.hasSuffix("fine"))
    }

    @Test func fieldsForTheSuccessDoNotRideOnTheErrorAnswer() throws {
        let app = App()
        app.use(CORS())
        app.get("/login") { c in
            try c.setCookie(Cookie(name: "session", value: "abc"))
            try c.setHeader("Location", "/home")
            throw HTTPError(.unauthorized, headers: [("WWW-Authenticate", "Basic")])
        }
        let response = try app.test(.get, "/login", headers: [("Origin", "https://app.example")])
        #expect(response.status == .unauthorized)
        #expect(response.header("Set-Cookie") == nil)
        #expect(response.header("Location") == nil)
        #expect(response.header("WWW-Authenticate") == "Basic")
        #expect(response.header("Access-Control-Allow-Origin") == "*", "CORS fields belong on the error too")
    }

    @Test func anInformationalStatusIsNeverTheFinalOne() throws {
        let app = App()
        app.get("/early") { c in c.text("hints", status: HTTPStatus(103)) }
        app.get("/switch") { c in c.status(HTTPStatus(101)) }
        let client = try app.testClient()
        #expect(try client.send(.get, "/early").status == .internalServerError)
        #expect(try client.send(.get, "/switch").status == .internalServerError)
    }
}
