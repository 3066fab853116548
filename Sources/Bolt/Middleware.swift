/// Anything ``App/use(_:)`` and groups take: a ``Middleware`` (runs around synchronous routes), an
/// ``AsyncMiddleware`` (around `async` routes), or both — the built-in ones are both.
///
/// A route runs synchronously, inline on its loop thread, when its handler is synchronous and every middleware
/// around it is a ``Middleware``. It runs in a task when its handler is `async` or one of its middleware is only
/// an ``AsyncMiddleware``; every middleware around it must then be an ``AsyncMiddleware``, which the app checks
/// when it starts (an error names the route and the middleware).
public protocol MiddlewareProtocol: Sendable {}

/// Middleware around synchronous routes: does its part, calls `next()` to run the rest of the chain (the next
/// middleware, finally the handler), and may act on the outcome.
///
/// ```swift
/// struct Timing: Middleware {
///     func handle(_ c: Context, next: Next) throws {
///         let start = ContinuousClock.now
///         try next()
///         print(c.path, ContinuousClock.now - start)
///     }
/// }
/// ```
///
/// Not calling `next()` ends the request there (answer it, or throw an ``HTTPError``). Chains are composed once
/// when the app starts; running one allocates nothing.
public protocol Middleware: MiddlewareProtocol {
    func handle(_ c: Context, next: Next) throws
}

/// Middleware around `async` routes: as ``Middleware``, with `try await next()`.
public protocol AsyncMiddleware: MiddlewareProtocol {
    func handle(_ c: Context, next: AsyncNext) async throws
}

/// The rest of a synchronous chain; call it once.
public struct Next {
    @usableFromInline unowned(unsafe) let chain: SyncChain
    @usableFromInline let index: Int
    @usableFromInline unowned(unsafe) let context: Context

    @inlinable init(_ chain: SyncChain, _ index: Int, _ context: Context) {
        self.chain = chain
        self.index = index
        self.context = context
    }

    /// Runs the next middleware, or the handler. Traps when called after the request ended (a `Next` kept
    /// past its middleware's `handle`).
    @inlinable public func callAsFunction() throws {
        context.checkBound()
        try chain.run(context, from: index)
    }
}

/// The rest of an async chain; call it once.
public struct AsyncNext {
    let chain: AsyncChain
    let index: Int
    let context: Context

    /// Runs the next middleware, or the handler. Traps when called after the request ended.
    public func callAsFunction() async throws {
        context.checkBound()
        try await chain.run(context, from: index)
    }
}

/// A synchronous handler.
public typealias Handler = @Sendable (Context) throws -> Void
/// An `async` handler.
public typealias AsyncHandler = @Sendable (Context) async throws -> Void

/// A route's middleware and handler, composed when the app starts.
public final class SyncChain: @unchecked Sendable {
    @usableFromInline let middleware: [any Middleware]
    @usableFromInline let handler: Handler

    init(_ middleware: [any Middleware], _ handler: @escaping Handler) {
        self.middleware = middleware
        self.handler = handler
    }

    @inlinable func run(_ c: Context, from index: Int) throws {
        if index < middleware.count {
            try middleware[index].handle(c, next: Next(self, index + 1, c))
        } else {
            try handler(c)
        }
    }
}

/// The async counterpart of ``SyncChain``.
public final class AsyncChain: @unchecked Sendable {
    let middleware: [any AsyncMiddleware]
    let handler: AsyncHandler

    init(_ middleware: [any AsyncMiddleware], _ handler: @escaping AsyncHandler) {
        self.middleware = middleware
        self.handler = handler
    }

    func run(_ c: Context, from index: Int) async throws {
        if index < middleware.count {
            try await middleware[index].handle(c, next: AsyncNext(chain: self, index: index + 1, context: c))
        } else {
            try await handler(c)
        }
    }
}

/// A synchronous middleware made of a closure: `app.use { c, next in …; try next() }`.
public struct ClosureMiddleware: Middleware {
    let body: @Sendable (Context, Next) throws -> Void
    /// Wraps `body`.
    public init(_ body: @escaping @Sendable (Context, Next) throws -> Void) { self.body = body }
    public func handle(_ c: Context, next: Next) throws { try body(c, next) }
}

/// An async middleware made of a closure: `app.use { c, next async throws in …; try await next() }`.
public struct AsyncClosureMiddleware: AsyncMiddleware {
    let body: @Sendable (Context, AsyncNext) async throws -> Void
    /// Wraps `body`.
    public init(_ body: @escaping @Sendable (Context, AsyncNext) async throws -> Void) { self.body = body }
    public func handle(_ c: Context, next: AsyncNext) async throws { try await body(c, next) }
}
