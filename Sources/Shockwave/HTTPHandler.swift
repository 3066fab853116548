/// Answers requests synchronously, inline on the event-loop thread that read them — the fastest path.
///
/// `handle` runs once per request on one of the server's loop threads, several of them at once, so a
/// handler must be `Sendable`; keep per-request work free of locks and blocking calls (a blocked handler
/// stalls every connection of its loop). Answer through `response` before returning; whatever is left
/// unfinished is finished for you (see ``ResponseWriter``). A thrown error becomes a 500.
///
/// ```swift
/// struct Hello: HTTPHandler {
///     func handle(_ request: borrowing Request, _ response: inout ResponseWriter) {
///         response.contentType = .plainText
///         response.body("Hello, World!" as StaticString)
///     }
/// }
/// ```
///
/// The server is specialized for the handler's concrete type: each request costs one class-method call
/// into it, with no existential, closure context or allocation in between.
///
/// Request bodies are always buffered whole before `handle` runs (up to ``ServerConfiguration/Limits/maxBody``):
/// a handler that runs inline on the loop thread cannot wait for a body that arrives over time. To stream large
/// bodies, use an ``AsyncHTTPHandler`` and ``RequestBodyMode/streamed``.
public protocol HTTPHandler: Sendable {
    /// Answers one request. `request` and every view taken from it are valid until this returns.
    func handle(_ request: borrowing Request, _ response: inout ResponseWriter) throws
}

/// An ``HTTPHandler`` made of a closure (what ``Server/init(configuration:handler:)-(_,(Request,ResponseWriter)->())``
/// builds). The closure is stored once; calling it per request allocates nothing.
public struct ClosureHandler: HTTPHandler {
    @usableFromInline let body: @Sendable (borrowing Request, inout ResponseWriter) throws -> Void

    /// Wraps `body`, stored once and called for every request.
    @inlinable public init(_ body: @escaping @Sendable (borrowing Request, inout ResponseWriter) throws -> Void) {
        self.body = body
    }

    /// Calls the closure.
    @inlinable public func handle(_ request: borrowing Request, _ response: inout ResponseWriter) throws {
        try body(request, &response)
    }
}
