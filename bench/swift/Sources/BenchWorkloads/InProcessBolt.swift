import Bolt
import Shockwave

/// The small struct the JSON routes encode.
public struct BoltMessage: Encodable, Sendable {
    public var message: String
}

/// The Bolt app every Bolt in-process case uses: one app, its routes registered once; each thread makes its own
/// in-process server from it (its own context pool).
public enum BoltBenchApp {
    public static let app: App = {
        let app = App()
        app.get("/plaintext") { c in c.text("Hello, World!") }
        app.get("/repos/:owner/:repo") { c in c.text((c.param("owner") ?? "") + "/" + (c.param("repo") ?? "")) }
        let mw = app.group("/mw", Logger(sink: DiscardingSink()), RequestID(), Recover())
        mw.get("/plaintext") { c in c.text("Hello, World!") }
        app.get("/json") { c in try c.json(BoltMessage(message: "Hello, World!")) }
        app.get("/async/plaintext") { c async throws in c.text("Hello, World!") }
        app.get("/async/repos/:owner/:repo") { c async throws in
            c.text((c.param("owner") ?? "") + "/" + (c.param("repo") ?? ""))
        }
        return app
    }()
}

/// Raw request bytes into an in-process server, the response bytes out: `send`, (drive the loop for async
/// routes), check the length (once, at start), `consume`. Use it from the thread that made it.
public final class InProcessWorkload: SyncWorkload {
    public let server: InProcessServer
    let connection: InProcessConnection
    let request: UnsafeMutableRawBufferPointer
    let async: Bool
    /// The response's length, checked at start; every later response must have it (verified after each run).
    public let responseLength: Int
    /// The first response, for display.
    public let sample: String

    /// Bolt's app answering `routeCase`.
    public convenience init(bolt routeCase: InProcessCase) throws {
        try self.init(server: BoltBenchApp.app.makeInProcessServer(), request: routeCase.requestText, async: routeCase.async)
    }

    /// A server and the request it gets, over and over.
    public init(server: InProcessServer, request text: String, async: Bool) throws {
        self.server = server
        connection = try server.connect()
        request = .allocate(byteCount: text.utf8.count, alignment: 8)
        request.copyBytes(from: text.utf8)
        self.async = async
        connection.send(UnsafeRawBufferPointer(request))
        let response = try connection.readResponse()
        precondition(response.status == 200, "\(text.debugDescription) answered \(response)")
        sample = response.bodyString
        // the same request once more, to learn the exact length of a response on the wire
        connection.send(UnsafeRawBufferPointer(request))
        while async && connection.withOutput({ $0.count }) == 0 { server.runPendingWork(timeout: .milliseconds(1)) }
        responseLength = connection.withOutput { $0.count }
        connection.consume(responseLength)
        _ = run(64)  // warm the pools
    }

    deinit { request.deallocate() }

    public func run(_ n: Int) -> Int {
        let request = UnsafeRawBufferPointer(self.request)
        let length = responseLength
        if async {
            for _ in 0..<n {
                connection.send(request)
                while connection.withOutput({ $0.count }) < length { server.runPendingWork() }
                connection.consume(length)
            }
        } else {
            for _ in 0..<n {
                connection.send(request)
                connection.consume(length)
            }
        }
        let left = connection.withOutput { $0.count }
        precondition(left == 0 && connection.isOpen, "responses changed length: \(left) bytes left over")
        return length &* n
    }
}

/// The raw Shockwave handler for the static route: what Bolt does for `c.text("Hello, World!")` with no
/// framework around it — the baseline of docs/overhead_analysis.md.
public enum RawShockwave {
    public static func makeServer() throws -> InProcessServer {
        try InProcessServer(handler: ClosureHandler { _, response in
            response.contentType = .plainText
            response.body("Hello, World!")
        })
    }

    public static func workload() throws -> InProcessWorkload {
        try InProcessWorkload(server: makeServer(), request: InProcessCase.staticRoute.requestText, async: false)
    }
}
