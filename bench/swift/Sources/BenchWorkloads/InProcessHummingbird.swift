import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import NIOEmbedded

/// The small struct the JSON route encodes.
struct HBMessage: ResponseEncodable, Sendable {
    var message: String
}

/// Adds `X-Request-ID` (Hummingbird's own `RequestID`) to the response, like Bolt's `RequestID`.
struct HBRequestIDMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response = try await next(request, context)
        response.headers[HTTPField.Name("X-Request-ID")!] = RequestID().description
        return response
    }
}

/// Turns any error into a 500, like Bolt's `Recover`.
struct HBRecoverMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch {
            return Response(status: .internalServerError)
        }
    }
}

/// A log handler that formats nothing and writes nothing, at level info: loggers build the messages logged at
/// info and above, then drop them (the peers' equivalent of Bolt's Logger with a DiscardingSink).
public struct DiscardingLogHandler: LogHandler {
    public var metadata: Logging.Logger.Metadata = [:]
    public var logLevel: Logging.Logger.Level = .info
    public init() {}
    public subscript(metadataKey key: String) -> Logging.Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }
    public func log(event: LogEvent) {}
}

/// Hummingbird 2 in process, its cheapest honest path: the Application's responder (router, middleware, handler)
/// called directly with a `Request` built from the method and path, a fresh `BasicRequestContext` and request
/// logger per request as `Application.run` makes them, the Date header set, and the response body written out
/// to a counting writer. No HTTP parsing and no response-head serialization (NIO's codec): those are not counted
/// for Hummingbird, so its figures are lower bounds next to Bolt's bytes-in/bytes-out.
public final class HummingbirdInProcessWorkload: AsyncWorkload, @unchecked Sendable {
    let responder: RouterResponder<BasicRequestContext>
    let channel = EmbeddedChannel()
    let logger = Logging.Logger(label: "bench.hummingbird") { _ in DiscardingLogHandler() }
    let head: HTTPRequest
    let counter = ByteCounter()

    final class ByteCounter: @unchecked Sendable { var bytes = 0 }
    struct CountingWriter: ResponseBodyWriter {
        let counter: ByteCounter
        mutating func write(_ buffer: ByteBuffer) async throws { counter.bytes &+= buffer.readableBytes }
        consuming func finish(_ trailingHeaders: HTTPFields?) async throws {}
    }

    static func makeResponder() -> RouterResponder<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        router.get("/plaintext") { _, _ in "Hello, World!" }
        router.get("/repos/:owner/:repo") { _, context in
            (context.parameters.get("owner") ?? "") + "/" + (context.parameters.get("repo") ?? "")
        }
        router.group("/mw")
            .add(middleware: LogRequestsMiddleware(.info))
            .add(middleware: HBRequestIDMiddleware())
            .add(middleware: HBRecoverMiddleware())
            .get("/plaintext") { _, _ in "Hello, World!" }
        router.get("/json") { _, _ in HBMessage(message: "Hello, World!") }
        return router.buildResponder()
    }

    public init(_ routeCase: InProcessCase) {
        responder = Self.makeResponder()
        head = HTTPRequest(method: HTTPRequest.Method(routeCase.method)!, scheme: "http", authority: "localhost", path: routeCase.path)
    }

    /// The first response's status and body length.
    public func check() async throws -> (status: Int, bodyBytes: Int) {
        let before = counter.bytes
        let status = try await respondOnce()
        return (status, counter.bytes - before)
    }

    @inline(__always)
    func respondOnce() async throws -> Int {
        var logger = self.logger
        logger[metadataKey: "hb.request.id"] = .stringConvertible(RequestID())
        let request = Request(head: head, body: RequestBody(buffer: ByteBuffer()))
        let context = BasicRequestContext(source: .init(channel: channel, logger: logger))
        var response = try await responder.respond(to: request, context: context)
        response.headers[.date] = "Sun, 30 Nov 2026 07:40:12 GMT"
        try await response.body.write(CountingWriter(counter: counter))
        return response.status.code
    }

    public func run(_ n: Int) async throws -> Int {
        var sink = 0
        for _ in 0..<n { sink &+= try await respondOnce() }
        return sink &+ counter.bytes
    }
}
