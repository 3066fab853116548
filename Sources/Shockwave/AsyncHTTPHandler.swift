/// Answers requests with `async` code, in a task that runs on the event-loop thread that read the request.
///
/// Each request gets a `Task` whose preferred executor is its loop (``Server`` feeds the loop's jobs through
/// the C core's post queue), so the handler starts on the loop thread, may `await` anything — a database
/// client, an actor, `Task.sleep` — and comes back to the loop thread to write the response. Meanwhile the
/// connection is parked: it reads nothing more, and later pipelined requests wait their turn in order. Other
/// connections of the loop go on being served.
///
/// ```swift
/// struct Slow: AsyncHTTPHandler {
///     func handle(_ request: borrowing Request, _ response: inout ResponseWriter) async throws {
///         try await Task.sleep(for: .milliseconds(10))
///         response.body("done")
///     }
/// }
/// ```
///
/// Costs: the task (one allocation, plus one per suspension the runtime needs) and a post per resumption;
/// nothing else. The request's views stay valid until the response is complete. Finishing, throwing and the
/// response rules are those of ``HTTPHandler``. If the client goes away while the handler runs, writes to the
/// response do nothing; ``ResponseWriter/isConnectionOpen`` tells. The writer must be used on the loop thread:
/// keep `handle` nonisolated (do not isolate it to the main actor or another global actor), which the compiler
/// enforces for the `inout` writer.
///
/// When the connection closes under a running handler — the client reset it or hung up, or the shutdown
/// deadline closed it — the handler's task is **cancelled**: `Task.sleep`, `Task.checkCancellation()` and most
/// async I/O throw `CancellationError` at once, so it stops working for nobody. (A client that only half-closes,
/// sending FIN after its request, still gets its answer: HTTP/1.1 allows that.) Graceful shutdown waits for
/// handlers until they return: one that ignores cancellation keeps ``Server/wait()`` waiting.
///
/// Bodies are buffered whole before `handle` runs, up to ``ServerConfiguration/Limits/maxBody``, unless
/// ``bodyMode(for:)`` asks for a request's body to be streamed: then `handle` runs as soon as the head is parsed
/// and reads the body with ``Request/readBodyChunk()`` or ``Request/bodyChunks`` (see ``RequestBodyMode``).
public protocol AsyncHTTPHandler: Sendable {
    /// Answers one request. `request` and every view taken from it are valid until the response is complete.
    func handle(_ request: borrowing Request, _ response: inout ResponseWriter) async throws

    /// How this request's body reaches ``handle(_:_:)``: buffered (the default) or streamed. Called on the loop
    /// thread for each head that announces a body (`Content-Length` above 0, or chunked), before any of the body
    /// is read; the head's views are valid, ``Request/body`` is empty. Keep it quick: it runs inline, like a
    /// synchronous handler.
    func bodyMode(for request: borrowing Request) -> RequestBodyMode
}

extension AsyncHTTPHandler {
    /// Every body is buffered (``RequestBodyMode/buffered``).
    @inlinable public func bodyMode(for request: borrowing Request) -> RequestBodyMode { .buffered }
}

/// An ``AsyncHTTPHandler`` made of a closure.
public struct AsyncClosureHandler: AsyncHTTPHandler {
    @usableFromInline let body: @Sendable (borrowing Request, inout ResponseWriter) async throws -> Void
    @usableFromInline let mode: RequestBodyMode

    /// Wraps `body`, stored once and called for every request; every body reaches it in `bodyMode`.
    @inlinable public init(
        bodyMode: RequestBodyMode = .buffered,
        _ body: @escaping @Sendable (borrowing Request, inout ResponseWriter) async throws -> Void
    ) {
        self.body = body
        self.mode = bodyMode
    }

    /// The mode given at creation.
    @inlinable public func bodyMode(for request: borrowing Request) -> RequestBodyMode { mode }

    /// Calls the closure.
    @inlinable public func handle(_ request: borrowing Request, _ response: inout ResponseWriter) async throws {
        try await body(request, &response)
    }
}

/// What a ``MixedHTTPHandler`` decided for a request.
public enum HandlerDisposition: Sendable, Equatable {
    /// The response is written (or the server finishes it, as after an ``HTTPHandler``).
    case done
    /// Continue in a task on the loop thread: the server calls ``MixedHTTPHandler/handleAsync(_:_:tag:)`` with
    /// `tag`, which carries what the synchronous part found out (a route index, say).
    case suspend(tag: Int)
}

/// A handler that answers inline on the loop thread when it can, and in a task when it must — what a framework
/// with both synchronous and `async` routes needs (Bolt is one).
///
/// For each request the server calls ``handle(_:_:)`` inline. Returning ``HandlerDisposition/done`` is the
/// ``HTTPHandler`` path, with its cost (no allocation). Returning ``HandlerDisposition/suspend(tag:)`` parks the
/// connection and runs ``handleAsync(_:_:tag:)`` in a task on the same loop thread, as an ``AsyncHTTPHandler``
/// would. The synchronous part must not have started the response when it suspends (a debug build traps; a
/// release build finishes that response and does not suspend).
public protocol MixedHTTPHandler: Sendable {
    /// Answers now, or says to continue in a task.
    func handle(_ request: borrowing Request, _ response: inout ResponseWriter) throws -> HandlerDisposition
    /// Answers in a task on the loop thread; `tag` is what ``handle(_:_:)`` returned.
    func handleAsync(_ request: borrowing Request, _ response: inout ResponseWriter, tag: Int) async throws
}
