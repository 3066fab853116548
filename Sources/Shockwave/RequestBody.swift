internal import CShockwave

/// How the server hands a request's body to an ``AsyncHTTPHandler``: buffered whole before the handler runs, or
/// streamed to it piece by piece.
///
/// The handler chooses per request, from the head, in ``AsyncHTTPHandler/bodyMode(for:)``:
///
/// ```swift
/// struct Uploads: AsyncHTTPHandler {
///     func bodyMode(for request: borrowing Request) -> RequestBodyMode {
///         request.path == "/upload" ? .streamed(maxSize: 1 << 30) : .buffered
///     }
///
///     func handle(_ request: borrowing Request, _ response: inout ResponseWriter) async throws {
///         var hasher = Hasher()
///         for try await chunk in request.bodyChunks {  // each chunk valid until the next one
///             chunk.withUnsafeBytes { hasher.combine(bytes: $0) }
///         }
///         response.body("\(hasher.finalize())")
///     }
/// }
/// ```
///
/// - ``buffered``: the default. The server reads the whole body into the connection's input buffer, up to
///   ``ServerConfiguration/Limits/maxBody`` (413 past it), and then calls the handler, which finds it in
///   ``Request/body``.
/// - ``streamed``: the server calls the handler as soon as the head is parsed and reads the body only as the
///   handler asks for it (``Request/readBodyChunk()`` or ``Request/bodyChunks``), into one window of the input
///   buffer reused for every piece: memory stays at 64 KiB per connection whatever the body's size, and a slow
///   handler slows the client down through TCP flow control. ``ServerConfiguration/Limits/maxBody`` does not apply;
///   the stream's own limit does.
///
/// A streamed request whose handler finishes its response without reading the body to the end: the server reads
/// and discards the rest (up to 256 KiB, at the body rate) so the connection can serve the next request; when more
/// than that is announced, or the client sent `Expect: 100-continue` and the handler never read, the response says
/// `Connection: close` and the connection closes after it instead.
///
/// Synchronous ``HTTPHandler``s always get buffered bodies: a streamed body arrives over time, and a handler that
/// runs inline on the loop thread cannot wait for it without stalling every other connection of its loop.
public struct RequestBodyMode: Sendable, Hashable {
    @usableFromInline enum Storage: Sendable, Hashable {
        case buffered
        case streamed(maxSize: Int?)
    }

    @usableFromInline let storage: Storage

    @inlinable init(_ storage: Storage) { self.storage = storage }

    /// Read the whole body (up to ``ServerConfiguration/Limits/maxBody``) before calling the handler.
    public static let buffered = RequestBodyMode(.buffered)

    /// Call the handler at once and stream the body to it, up to
    /// ``ServerConfiguration/Limits/maxStreamedBody`` bytes.
    public static let streamed = RequestBodyMode(.streamed(maxSize: nil))

    /// Call the handler at once and stream the body to it, up to `maxSize` bytes (after de-chunking): a
    /// `Content-Length` above it gets 413 before any of the body is read, and a chunked body that passes it makes
    /// the read throw ``RequestBodyError/Kind/tooLarge`` while the server answers 413 and closes.
    /// ``ServerConfiguration/Limits/maxBody`` does not apply.
    public static func streamed(maxSize: Int) -> RequestBodyMode {
        RequestBodyMode(.streamed(maxSize: max(0, maxSize)))
    }
}

/// Why reading a streamed request body failed. When it is thrown, the server has already dealt with the client
/// (answered 413, 400 or 408 when no response had started, and closes the connection); whatever the handler
/// writes afterwards is discarded.
public struct RequestBodyError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What went wrong.
    public enum Kind: Sendable, Hashable {
        /// The body passed the stream's limit (``RequestBodyMode/streamed(maxSize:)``,
        /// ``ServerConfiguration/Limits/maxStreamedBody``): 413.
        case tooLarge
        /// The chunked framing is malformed: 400.
        case malformed
        /// The body arrived slower than ``ServerConfiguration/Limits/minBodyRate`` over a
        /// ``ServerConfiguration/Timeouts/body`` window: 408.
        case timedOut
        /// The client closed or reset the connection before the end of the body, or the server closed it (the
        /// shutdown deadline).
        case connectionClosed
        /// The response to this request is complete; the rest of the body was discarded.
        case responseFinished
    }

    /// What went wrong.
    public var kind: Kind

    /// An error of the given kind (for tests and adapters; the server makes its own).
    public init(kind: Kind) { self.kind = kind }

    init(code: Int) {
        switch code {
        case SW_BODY_TOO_LARGE: kind = .tooLarge
        case SW_BODY_MALFORMED: kind = .malformed
        case SW_BODY_TIMEOUT: kind = .timedOut
        case SW_BODY_FINISHED: kind = .responseFinished
        default: kind = .connectionClosed
        }
    }

    /// The status the server answered with, if it could: 413, 400 or 408.
    public var status: HTTPStatus? {
        switch kind {
        case .tooLarge: HTTPStatus(413)
        case .malformed: HTTPStatus(400)
        case .timedOut: HTTPStatus(408)
        case .connectionClosed, .responseFinished: nil
        }
    }

    public var description: String {
        switch kind {
        case .tooLarge: "the request body is larger than its limit (413)"
        case .malformed: "the request body's chunked framing is malformed (400)"
        case .timedOut: "the request body arrived slower than the minimum rate (408)"
        case .connectionClosed: "the connection closed before the end of the request body"
        case .responseFinished: "the response is complete; the rest of the request body was discarded"
        }
    }
}

extension Request {
    /// Whether the body is streamed to the handler (``RequestBodyMode/streamed``) rather than buffered in ``body``.
    public var isBodyStreamed: Bool { bodyStreamed }

    /// The next piece of the body, or `nil` at its end.
    ///
    /// For a streamed body (``RequestBodyMode/streamed``), each piece is what has arrived since the last read —
    /// de-chunked, up to the 64 KiB window — viewed in place in the connection's input buffer: no copy and no
    /// allocation. It is **valid until the next read** (or until the response is complete): copy what you keep.
    /// When nothing has arrived, the task suspends and the connection reads; only then does it read, so a handler
    /// that takes its time slows the client down instead of buffering. The first read of a request that sent
    /// `Expect: 100-continue` sends `100 Continue`. For a buffered body, the first read returns the whole
    /// ``body`` (when not empty) and the next one `nil`, so the same code reads either.
    ///
    /// The wait does not end on task cancellation; it ends when bytes arrive, the body's rate rule
    /// (``ServerConfiguration/Timeouts/body``) cuts the client, the client goes away, or the server closes the
    /// connection at its shutdown deadline. Call it from the handler's task (on its loop thread), in order.
    ///
    /// - Throws: ``RequestBodyError`` when the body is too large, malformed, too slow, cut off, or the response is
    ///   already complete. After an error, every read throws it again.
    public func readBodyChunk() async throws(RequestBodyError) -> ByteView? {
        try await bodyChunks.read()
    }

    /// The body's pieces as an asynchronous sequence: `for try await chunk in request.bodyChunks { ... }`.
    /// Each chunk is what ``readBodyChunk()`` returns, valid until the next iteration; the same rules apply.
    /// Iterate it once, inside the handler.
    public var bodyChunks: RequestBodyChunks {
        RequestBodyChunks(exchange: exchange, id: exchangeID, loopIndex: loopIndex)
    }
}

/// The pieces of a request's body (``Request/bodyChunks``); valid while the handler runs, not `Sendable`.
public struct RequestBodyChunks: AsyncSequence {
    public typealias Element = ByteView
    public typealias Failure = RequestBodyError

    // The exchange's struct stays allocated while its server runs (the loop pools connections); the id tells a
    // read whether it still belongs to this request: a sequence kept past its handler reads nothing of a later
    // request or another client (SW_BODY_FINISHED: ``RequestBodyError/Kind/responseFinished``).
    let exchange: UnsafeMutablePointer<sw_exchange_t>
    let id: UInt64
    let loopIndex: Int

    /// Reads the pieces in order.
    public struct AsyncIterator: AsyncIteratorProtocol {
        public typealias Element = ByteView
        public typealias Failure = RequestBodyError

        let chunks: RequestBodyChunks

        /// The next piece, or `nil` at the end of the body; see ``Request/readBodyChunk()``.
        public mutating func next() async throws(RequestBodyError) -> ByteView? {
            try await chunks.read()
        }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(chunks: self) }

    func read() async throws(RequestBodyError) -> ByteView? {
        precondition(
            Int(sw_current_loop_index()) == loopIndex,
            "a request body was read off its event-loop thread; read it from the handler's own task")
        while true {
            var data: UnsafePointer<UInt8>? = nil
            let n = sw_exchange_body_read(exchange, id, &data)
            if n > 0 { return ByteView(start: data, count: n) }
            if n == 0 { return nil }
            guard n == SW_BODY_AGAIN else { throw RequestBodyError(code: n) }
            let exchange = self.exchange
            let id = self.id
            await withUnsafeContinuation { (continuation: UnsafeContinuation<Void, Never>) in
                let context = unsafeBitCast(continuation, to: UnsafeMutableRawPointer.self)
                if sw_exchange_body_wait(exchange, id, resumeBodyReader, context) != 0 {
                    continuation.resume()
                }
            }
        }
    }
}

/// The wake of a body read: resumes the suspended reader (its continuation is the context).
private let resumeBodyReader: @convention(c) (UnsafeMutableRawPointer?) -> Void = { context in
    unsafeBitCast(context.unsafelyUnwrapped, to: UnsafeContinuation<Void, Never>.self).resume()
}
