import NIOCore
import NIOEmbedded
import Vapor

/// The small struct the JSON route encodes.
struct VaporMessage: Content {
    var message: String
}

/// Adds `X-Request-ID` (the request's own `id`) to the response, like Bolt's `RequestID`.
struct VaporRequestIDMiddleware: Middleware {
    func respond(to request: Request, chainingTo next: any Responder) -> EventLoopFuture<Response> {
        next.respond(to: request).map { response in
            response.headers.replaceOrAdd(name: "X-Request-ID", value: request.id)
            return response
        }
    }
}

/// Vapor 4 in process, its cheapest honest path: the app's responder (what `HTTPServer` calls: router,
/// middleware, handler) with a `Request` built as `HTTPServerRequestDecoder` builds it (method, `URI` parsed from
/// the path, headers, the app's logger) on an `EmbeddedEventLoop`, so the synchronous routes' futures complete
/// inline and no thread hop is measured; the response body's length is read. No HTTP parsing and no response
/// serialization (NIO's codec): those are not counted for Vapor, so its figures are lower bounds next to Bolt's
/// bytes-in/bytes-out. The app's default middleware (route logging to stdout, errors) is replaced by exactly
/// the middleware each route names.
public final class VaporInProcessWorkload: SyncWorkload, @unchecked Sendable {
    nonisolated(unsafe) static let app: Application = {
        LoggingSystem.bootstrap { _ in DiscardingLogHandler() }
        let app = Application(.testing)
        app.middleware = Middlewares()
        app.get("plaintext") { _ in "Hello, World!" }
        app.get("repos", ":owner", ":repo") { req in
            (req.parameters.get("owner") ?? "") + "/" + (req.parameters.get("repo") ?? "")
        }
        app.grouped(RouteLoggingMiddleware(logLevel: .info), VaporRequestIDMiddleware(), ErrorMiddleware.default(environment: .testing))
            .get("mw", "plaintext") { _ in "Hello, World!" }
        app.get("json") { _ in VaporMessage(message: "Hello, World!") }
        do { try app.boot() } catch { fatalError("Vapor: \(error)") }
        return app
    }()

    let responder: any Responder
    let loop = EmbeddedEventLoop()
    let method: HTTPMethod
    let path: String
    let headers: HTTPHeaders = ["Host": "localhost"]
    var bytes = 0
    var status = 0

    public init(_ routeCase: InProcessCase) {
        responder = Self.app.responder.current  // HTTPServer takes it once, at start
        method = HTTPMethod(rawValue: routeCase.method)
        path = routeCase.path
    }

    /// The first response's status and body length.
    public func check() -> (status: Int, bodyBytes: Int) {
        let before = bytes
        respondOnce()
        return (status, bytes - before)
    }

    @inline(__always)
    func respondOnce() {
        let app = Self.app
        let request = Request(
            application: app, method: method, url: URI(string: path), headersNoUpdate: headers, logger: app.logger, on: loop)
        responder.respond(to: request).whenComplete { [self] result in
            switch result {
            case .success(let response):
                status = Int(response.status.code)
                bytes &+= response.body.count
            case .failure:
                status = 500
            }
        }
    }

    public func run(_ n: Int) -> Int {
        for _ in 0..<n { respondOnce() }
        loop.run()
        return bytes &+ status
    }
}
