internal import CShockwave

#if canImport(Glibc)
internal import Glibc
#elseif canImport(Musl)
internal import Musl
#endif

/// A server without sockets, for tests and benchmarks: request bytes go through the real parser, limits, handler
/// and serializer — the same connection code a socket feeds — on the calling thread, and the response bytes come
/// back to the caller.
///
/// ```swift
/// let server = try InProcessServer(handler: MyHandler())
/// let connection = try server.connect()
/// connection.send("GET /plaintext HTTP/1.1\r\nHost: test\r\n\r\n")
/// let response = try connection.readResponse()
/// #expect(response.status == 200)
/// ```
///
/// The thread that creates the server is its loop thread: use the server and its connections from that thread
/// only (the type is not `Sendable`). Synchronous handlers answer inside ``InProcessConnection/send(_:)-(String)``;
/// async handlers run as tasks on the server's loop, which ``InProcessConnection/readResponse(bodyless:timeout:)``
/// and ``runPendingWork(timeout:)`` drive. The configuration's limits, timeouts and server name apply; its
/// host, port, loop count, backend and socket options do not.
public final class InProcessServer {
    let pointer: OpaquePointer  // sw_server_t *
    private let dispatcher: Unmanaged<RequestDispatcher>
    let limits: sw_limits_t
    /// The loop's task executor (async handlers only). Several in-process servers may share a thread, one after
    /// the other or at once, so each entry into the loop makes this one the thread's current executor.
    private let executor: LoopExecutor?

    /// A server answering with a synchronous handler.
    public convenience init<Handler: HTTPHandler>(
        configuration: ServerConfiguration = .init(), handler: Handler
    ) throws(ServerError) {
        try self.init(configuration: configuration, dispatcher: SyncDispatcher(handler))
    }

    /// A server answering with an async handler (tasks on the server's loop, driven by the calling thread).
    public convenience init<Handler: AsyncHTTPHandler>(
        configuration: ServerConfiguration = .init(), handler: Handler
    ) throws(ServerError) {
        try self.init(configuration: configuration, dispatcher: AsyncDispatcher(handler))
    }

    /// A server answering with a handler that is synchronous or async per request.
    public convenience init<Handler: MixedHTTPHandler>(
        configuration: ServerConfiguration = .init(), handler: Handler
    ) throws(ServerError) {
        try self.init(configuration: configuration, dispatcher: MixedDispatcher(handler))
    }

    init(configuration: ServerConfiguration, dispatcher: RequestDispatcher) throws(ServerError) {
        var c = try configuration.cConfiguration()
        let user = Unmanaged.passRetained(dispatcher)
        c.on_request = requestTrampoline
        c.on_head = dispatcher.choosesBodyModes ? headTrampoline : nil  // as Server.start: streamed bodies too
        c.user = user.toOpaque()
        var server: OpaquePointer? = nil
        let rc: Int32
        if let name = configuration.serverName {
            rc = name.withCString { name in
                c.server_name = name
                return sw_mem_server_create(&c, &server)
            }
        } else {
            rc = sw_mem_server_create(&c, &server)
        }
        guard rc == 0, let server else {
            user.release()
            throw ServerError(kind: .system, code: -rc, message: "cannot create an in-process server (errno \(-rc))")
        }
        self.pointer = server
        self.dispatcher = user
        self.limits = c.limits
        let loop = sw_server_loop(server, 0).unsafelyUnwrapped
        self.executor = (dispatcher as? TaskDispatcher)?.makeExecutor(loop: loop)
    }

    /// Makes this server's loop the calling thread's: before anything that may run its handlers.
    @inline(__always)
    func enter() {
        executor?.registerOnCurrentThread()
    }

    deinit {
        // Work still posted (tasks finishing, parents to resume) runs now, not never: its tasks would leak.
        // Then the executor stops taking jobs for this loop (later ones go to the global executor), what slipped
        // in meanwhile runs, and only then is the loop freed.
        enter()
        while sw_mem_run(pointer, 0) != 0 {}
        dispatcher._withUnsafeGuaranteedRef { $0.serverStopped() }
        while sw_mem_run(pointer, 0) != 0 {}
        executor?.unregisterFromCurrentThread()
        sw_mem_server_free(pointer)
        dispatcher.release()
    }

    /// Opens a connection.
    public func connect() throws(ServerError) -> InProcessConnection {
        guard let handle = sw_mem_connect(pointer) else {
            throw ServerError(kind: .system, code: ENOMEM, message: "no in-process connection (out of memory, or at the connection limit)")
        }
        return InProcessConnection(server: self, handle: handle)
    }

    /// Runs work that async handlers posted to the loop, waiting up to `timeout` for some to arrive. Returns
    /// whether any ran.
    @discardableResult
    public func runPendingWork(timeout: Duration = .zero) -> Bool {
        let ms = timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000
        enter()
        return sw_mem_run(pointer, Int32(clamping: ms)) != 0
    }
}

/// One connection to an ``InProcessServer``: send request bytes, read the server's bytes or parsed responses.
public final class InProcessConnection {
    /// Keeps the server alive while the connection is used.
    public let server: InProcessServer
    private let handle: OpaquePointer  // sw_mem_conn_t *

    init(server: InProcessServer, handle: OpaquePointer) {
        self.server = server
        self.handle = handle
    }

    deinit { sw_mem_disconnect(handle) }

    /// Whether the server side is still open (it closes after `Connection: close`, errors and limits).
    public var isOpen: Bool { sw_mem_is_open(handle) != 0 }

    /// Delivers bytes as if the client sent them; complete requests to synchronous handlers are answered before
    /// this returns. Bytes sent to a closed connection are dropped (see ``isOpen``).
    public func send(_ bytes: UnsafeRawBufferPointer) {
        server.enter()
        _ = sw_mem_send(handle, bytes.baseAddress, bytes.count)
    }

    /// Delivers the UTF-8 bytes of `text`.
    public func send(_ text: String) {
        var text = text
        text.withUTF8 { send(UnsafeRawBufferPointer($0)) }
    }

    /// Delivers `bytes`.
    public func send(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { send($0) }
    }

    /// The client half-closes its side (as a FIN would).
    public func sendEndOfStream() {
        server.enter()
        _ = sw_mem_send_eof(handle)
    }

    /// Calls `body` with the bytes the server wrote that were not consumed yet; they stay until ``consume(_:)``.
    public func withOutput<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        var length = 0
        let start = sw_mem_output(handle, &length)
        return try body(UnsafeRawBufferPointer(start: start, count: length))
    }

    /// Drops the first `count` bytes of the output.
    public func consume(_ count: Int) {
        sw_mem_consume(handle, count)
    }

    /// Takes the whole output as bytes.
    public func takeOutput() -> [UInt8] {
        withOutput { bytes in
            defer { consume(bytes.count) }
            return Array(bytes)
        }
    }

    /// Parses and consumes the next response, running posted work (async handlers) until it is complete.
    ///
    /// - Parameters:
    ///   - bodyless: the request was HEAD, so the response has no body whatever its Content-Length says.
    ///   - timeout: how long async handlers may take.
    /// - Throws: ``InProcessError`` when the bytes are not a valid response, or none is complete in time.
    public func readResponse(bodyless: Bool = false, timeout: Duration = .seconds(10)) throws(InProcessError)
        -> InProcessResponse
    {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while true {
            if let response = try parseResponse(bodyless: bodyless) { return response }
            if clock.now >= deadline { throw InProcessError("no complete response within \(timeout)") }
            let ran = server.runPendingWork(timeout: .milliseconds(10))
            if !ran && !isOpen, try parseResponse(bodyless: bodyless) == nil {
                let pending = withOutput { $0.count }
                throw InProcessError("the server closed the connection with \(pending) bytes of an incomplete response")
            }
        }
    }

    /// One response from the output if it is complete (consumed), else nil.
    private func parseResponse(bodyless: Bool) throws(InProcessError) -> InProcessResponse? {
        let open = isOpen
        let limits = server.limits
        let result = withOutput { bytes in
            Result { () throws(InProcessError) in
                try InProcessResponse.parse(bytes, bodyless: bodyless, connectionClosed: !open, limits: limits)
            }
        }
        guard let (response, used) = try result.get() else { return nil }
        consume(used)
        return response
    }
}

/// A response read from an ``InProcessConnection``.
public struct InProcessResponse: Sendable, CustomStringConvertible {
    /// The status code.
    public var status: Int
    /// The header fields in order, names as sent.
    public var headers: [(name: String, value: String)]
    /// The body (de-chunked).
    public var body: [UInt8]

    /// The first value of the field `name` (case-insensitive).
    public func header(_ name: String) -> String? {
        let wanted = name.lowercased()
        return headers.first { $0.name.lowercased() == wanted }?.value
    }

    /// The body as UTF-8 text.
    public var bodyString: String { String(decoding: body, as: UTF8.self) }

    public var description: String { "\(status) \(headers) \(bodyString.prefix(80).debugDescription)" }

    /// Parses the response at the start of `bytes` with the strict C response parser: the response and the
    /// number of bytes it took, or nil when it is not complete yet.
    ///
    /// - Parameters:
    ///   - bodyless: the request was HEAD (no body whatever the head says).
    ///   - connectionClosed: the peer closed, so a body without length or chunking ends with `bytes`.
    /// - Throws: ``InProcessError`` when the bytes are not a valid response.
    public static func parse(
        _ bytes: UnsafeRawBufferPointer, bodyless: Bool = false, connectionClosed: Bool = false
    ) throws(InProcessError) -> (response: InProcessResponse, length: Int)? {
        try parse(bytes, bodyless: bodyless, connectionClosed: connectionClosed, limits: sw_default_limits)
    }

    static func parse(
        _ bytes: UnsafeRawBufferPointer, bodyless: Bool, connectionClosed: Bool, limits: sw_limits_t
    ) throws(InProcessError) -> (response: InProcessResponse, length: Int)? {
        guard !bytes.isEmpty else { return nil }
        var limits = limits
        limits.max_headers = 256
        var table = [sw_header_t](repeating: sw_header_t(), count: 256)
        var head = sw_response_t()
        let rc = table.withUnsafeMutableBufferPointer { table in
            head.headers = table.baseAddress
            return sw_parse_response(bytes.baseAddress, bytes.count, 0, &limits, &head)
        }
        if rc == SW_INCOMPLETE { return nil }
        guard rc > 0 else { throw InProcessError("invalid response head: \(String(cString: sw_error_message(rc)))") }
        let headLength = Int(rc)
        func text(_ span: sw_span_t) -> String {
            String(decoding: UnsafeRawBufferPointer(rebasing: bytes[Int(span.off)..<Int(span.off + span.len)]), as: UTF8.self)
        }
        var response = InProcessResponse(status: Int(head.status), headers: [], body: [])
        for field in table[..<Int(head.num_headers)] {
            response.headers.append((text(field.name), text(field.value)))
        }
        let status = Int(head.status)
        if bodyless || status < 200 || status == 204 || status == 304 {
            return (response, headLength)
        }
        let rest = UnsafeRawBufferPointer(rebasing: bytes[headLength...])
        if head.flags & UInt32(SW_F_CHUNKED) != 0 {
            var scratch = Array(rest)
            var decoder = sw_chunked_decoder_t()
            sw_chunked_init(&decoder, 0)
            var length = scratch.count
            let r = scratch.withUnsafeMutableBytes { sw_chunked_decode(&decoder, $0.baseAddress, &length) }
            if r == Int(SW_INCOMPLETE) { return nil }
            guard r >= 0 else { throw InProcessError("invalid chunked body: \(String(cString: sw_error_message(Int32(r))))") }
            response.body = Array(scratch[..<length])
            return (response, bytes.count - r)
        }
        if head.flags & UInt32(SW_F_CONTENT_LENGTH) != 0 {
            let length = Int(head.content_length)
            guard rest.count >= length else { return nil }
            response.body = Array(rest[..<length])
            return (response, headLength + length)
        }
        guard connectionClosed else { return nil }  // delimited by the close
        response.body = Array(rest)
        return (response, bytes.count)
    }
}

/// A failure of an in-process exchange: an invalid or missing response.
public struct InProcessError: Error, Sendable, CustomStringConvertible {
    /// What went wrong.
    public var description: String
    init(_ description: String) { self.description = description }
}
