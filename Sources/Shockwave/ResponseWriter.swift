internal import CShockwave

#if canImport(Glibc)
internal import Glibc
#elseif canImport(Musl)
internal import Musl
#endif

/// Writes the response to one request, straight into the connection's output buffer.
///
/// Set ``status`` and ``contentType`` first, add fields with ``header(name:value:)``, then finish with
/// one `body(_:)` call — or stream with ``writeChunk(_:)-(String)`` and ``finishChunks()``:
///
/// ```swift
/// response.status = .created
/// response.contentType = .json
/// try response.header(name: "Location", value: "/users/42")
/// response.body(#"{"id":42}"#)
/// ```
///
/// The status line comes from a precomputed table; `Date`, `Server`, `Content-Length`, `Transfer-Encoding`
/// and `Connection` are written by the server, so those names are refused by ``header(name:value:)``. A
/// response to `HEAD` gets the same fields and no body.
///
/// If a handler returns without finishing, the server finishes for it: an empty body with the status set
/// (200 by default), or the last chunk of a stream. If a handler throws before anything was written, the
/// client gets `500 Internal Server Error`; after a stream began, the connection is closed. A response that
/// cannot be completed (a failure halfway through a stream) is ended with ``abort()``, never passed off as whole.
///
/// The final status is 200 to 999; an informational status (100–199) is not a final one (103 would desync
/// the client, a 101 without an upgrade makes a proxy open a tunnel), so the server answers 500 for it.
///
/// The writer belongs to the loop thread that runs the handler; it is neither copyable nor `Sendable`.
public struct ResponseWriter: ~Copyable {
    /// Where the response stands. Kept once, in the C exchange (`sw_exchange_t.phase`), and read from there.
    enum Phase: UInt8 {
        case idle = 0       // nothing written yet
        case head = 1       // status line and some fields written
        case streaming = 2  // chunked head sent, chunks follow
        case complete = 3   // the response is whole
        case aborted = 4    // the response cannot be completed: the connection closes after what was sent
    }

    /// The exchange this writer answers; the C core keeps its phase.
    let exchange: UnsafeMutablePointer<sw_exchange_t>
    var phase: Phase { Phase(rawValue: exchange.pointee.phase).unsafelyUnwrapped }
    /// For async handlers: the loop thread that owns the connection, checked before each write.
    let owner: LoopThread?

    /// The status of the response. Set it before the first field or body; later changes are ignored (and
    /// trap in debug builds). Default ``HTTPStatus/ok``.
    public var status: HTTPStatus = .ok {
        didSet { assert(phase == .idle, "ResponseWriter.status set after the response started") }
    }

    /// A `Content-Type` from the precompiled table, or `nil` for none (or for one set with
    /// ``header(name:value:)``). Set it before the first field or body. Default `nil`.
    public var contentType: ContentType? = nil {
        didSet { assert(phase == .idle, "ResponseWriter.contentType set after the response started") }
    }

    init(exchange: UnsafeMutablePointer<sw_exchange_t>, owner: LoopThread? = nil) {
        self.exchange = exchange
        self.owner = owner
    }

    /// A writer carrying `status` and `contentType` as they are (no setter checks: the response may have started).
    private init(exchange: UnsafeMutablePointer<sw_exchange_t>, owner: LoopThread?, status: HTTPStatus, contentType: ContentType?) {
        self.exchange = exchange
        self.owner = owner
        self.status = status
        self.contentType = contentType
    }

    /// Whether the response has been finished (a body was given, or the last chunk sent).
    public var isComplete: Bool { phase == .complete }

    /// Whether the response was aborted (``abort()``): the client sees the connection close, not a whole response.
    public var isAborted: Bool { phase == .aborted }

    /// Whether the response has begun: a field, a body or a chunk was written, so ``status`` and
    /// ``contentType`` can no longer change.
    public var isStarted: Bool { phase != .idle }

    /// Whether the response can still reach the client. Always true in a synchronous handler; in an async
    /// handler, false once the client has gone away or the server's shutdown deadline closed the connection
    /// (writes then do nothing).
    public var isConnectionOpen: Bool { owner == nil || sw_exchange_is_open(exchange) != 0 }

    /// For async handlers: traps off the loop thread; false when the connection is gone.
    private func usable() -> Bool {
        guard phase != .aborted else { return false }
        guard let owner else { return true }
        owner.check()
        return sw_exchange_is_open(exchange) != 0
    }

    /// Writes the status line and the table-driven fields, once. False when the head cannot take more fields.
    private mutating func startIfNeeded() -> Bool {
        guard usable() else { return false }
        guard phase == .idle else { return phase == .head }
        let code = (200...999).contains(status.code) ? status.code : 500  // 1xx is never final
        guard sw_resp_start(exchange, Int32(code)) == 0 else { return false }
        if let contentType {
            sw_resp_content_type(exchange, contentType.cValue)
        }
        return true
    }

    // MARK: fields

    /// Adds a header field. The name must be a token (RFC 9110 5.1) and the value must hold no control
    /// characters other than horizontal tab — in particular no CR or LF, which would let a value smuggle in
    /// fields of its own. Fields the server writes itself (`Content-Length`, `Transfer-Encoding`,
    /// `Connection`, `Date`) are refused.
    ///
    /// - Throws: ``ResponseWriterError`` when the name or value is refused, or the head was already sent.
    public mutating func header(name: String, value: String) throws(ResponseWriterError) {
        var name = name
        var value = value
        var failure: ResponseWriterError? = nil
        name.withUTF8 { n in
            value.withUTF8 { v in
                do throws(ResponseWriterError) { try addField(UnsafeRawBufferPointer(n), UnsafeRawBufferPointer(v)) } catch { failure = error }
            }
        }
        if let failure { throw failure }
    }

    /// Adds a header field whose value is bytes, such as a request header echoed back. The same rules as
    /// ``header(name:value:)`` apply.
    public mutating func header(name: String, value: ByteView) throws(ResponseWriterError) {
        var name = name
        var failure: ResponseWriterError? = nil
        name.withUTF8 { n in
            value.withUnsafeBytes { v in
                do throws(ResponseWriterError) { try addField(UnsafeRawBufferPointer(n), v) } catch { failure = error }
            }
        }
        if let failure { throw failure }
    }

    /// Checks a field by the rules of ``header(name:value:)`` without writing it (for code that collects
    /// fields before the response starts).
    public static func validateField(name: String, value: String) throws(ResponseWriterError) {
        var name = name
        var value = value
        var failure: ResponseWriterError? = nil
        name.withUTF8 { n in
            value.withUTF8 { v in
                do throws(ResponseWriterError) { try check(UnsafeRawBufferPointer(n), UnsafeRawBufferPointer(v)) } catch { failure = error }
            }
        }
        if let failure { throw failure }
    }

    private static func check(_ name: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) throws(ResponseWriterError) {
        guard !name.isEmpty, name.allSatisfy(isTokenByte) else {
            throw ResponseWriterError(.invalidName, String(decoding: name, as: UTF8.self))
        }
        guard value.allSatisfy({ $0 >= 0x20 && $0 != 0x7F || $0 == 0x09 }) else {
            throw ResponseWriterError(.invalidValue, String(decoding: name, as: UTF8.self))
        }
        if isReservedFieldName(name) {
            throw ResponseWriterError(.reservedName, String(decoding: name, as: UTF8.self))
        }
    }

    private mutating func addField(_ name: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer)
        throws(ResponseWriterError)
    {
        try Self.check(name, value)
        try addCheckedField(name, value)
    }

    /// Adds a field that ``validateField(name:value:)`` (or an equivalent check) already passed: no second
    /// scan of its bytes. For Bolt, which checks fields when they are set and writes them later.
    package mutating func header(checkedName name: String, value: String) {
        var name = name
        var value = value
        name.withUTF8 { n in
            value.withUTF8 { v in try? addCheckedField(UnsafeRawBufferPointer(n), UnsafeRawBufferPointer(v)) }
        }
    }

    /// As ``header(checkedName:value:)-(String,String)`` with a byte view for the value.
    package mutating func header(checkedName name: String, value: ByteView) {
        var name = name
        name.withUTF8 { n in
            value.withUnsafeBytes { v in try? addCheckedField(UnsafeRawBufferPointer(n), v) }
        }
    }

    private mutating func addCheckedField(_ name: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer)
        throws(ResponseWriterError)
    {
        guard phase == .idle || phase == .head else {
            throw ResponseWriterError(.headSent, String(decoding: name, as: UTF8.self))
        }
        guard startIfNeeded(),
            sw_resp_header(
                exchange, name.baseAddress?.assumingMemoryBound(to: CChar.self), name.count,
                value.baseAddress?.assumingMemoryBound(to: CChar.self), value.count) == 0
        else {
            throw ResponseWriterError(.outOfMemory, String(decoding: name, as: UTF8.self))
        }
    }

    // MARK: whole bodies

    /// Finishes the response with `text`'s UTF-8 bytes as the body (copied into the output buffer). A string
    /// literal without interpolation goes to ``body(_:)-(StaticString)`` instead, sent from where it lies.
    @_disfavoredOverload
    public mutating func body(_ text: String) {
        var text = text
        text.withUTF8 { finish(UnsafeRawBufferPointer($0)) }
    }

    /// Finishes the response with a static string as the body, sent from where it is: no copy at all.
    public mutating func body(_ text: StaticString) {
        guard text.hasPointerRepresentation else {
            text.withUTF8Buffer { finish(UnsafeRawBufferPointer($0)) }
            return
        }
        guard startIfNeeded() else { return }
        // Static data lives as long as the process: no release callback.
        sw_resp_body_borrowed(exchange, text.utf8Start, text.utf8CodeUnitCount, nil, nil)
    }

    /// Finishes the response with `bytes` as the body (copied into the output buffer).
    public mutating func body(_ bytes: UnsafeRawBufferPointer) {
        finish(bytes)
    }

    /// Finishes the response with `bytes` as the body (copied into the output buffer). Contiguous
    /// collections (`[UInt8]`, `ByteView`, `ArraySlice`) are copied once; others go through an array first.
    public mutating func body(_ bytes: some Collection<UInt8>) {
        let done: Void? = bytes.withContiguousStorageIfAvailable { finish(UnsafeRawBufferPointer($0)) }
        if done == nil {
            Array(bytes).withUnsafeBytes { finish($0) }
        }
    }

    /// Finishes the response with `length` bytes of the open file `descriptor` from `offset`, sent by
    /// `sendfile` from the page cache without passing through user space. The response takes the descriptor:
    /// it is closed once sent, or at once if the response cannot take it. For `HEAD`, 204 and 304 only the head
    /// is sent (and the descriptor closed).
    public mutating func file(descriptor: Int32, offset: UInt64 = 0, length: UInt64) {
        guard phase != .streaming, startIfNeeded() else {
            close(descriptor)
            return
        }
        sw_resp_file(exchange, descriptor, offset, length)
    }

    /// Finishes the response with no body (`Content-Length: 0`).
    public mutating func end() {
        finish(UnsafeRawBufferPointer(start: nil, count: 0))
    }

    private mutating func finish(_ bytes: UnsafeRawBufferPointer) {
        guard phase != .streaming else {
            // A stream began: the bytes are its last chunk.
            if writeChunkBytes(bytes) || bytes.isEmpty { finishChunks() }
            return
        }
        guard startIfNeeded() else { return }
        sw_resp_body(exchange, bytes.baseAddress, bytes.count)
    }

    // MARK: streaming

    /// Sends `text`'s UTF-8 bytes as one chunk of a chunked body. The first call sends the head with
    /// `Transfer-Encoding: chunked`; output is flushed as it grows, so long streams leave while the handler
    /// runs. Empty chunks are skipped (an empty chunk would end the body). An HTTP/1.0 client, which cannot read
    /// chunked framing, gets the bytes close-delimited instead (`Connection: close`, the connection closes after
    /// the body); a response to HEAD, or with status 204 or 304, gets the head only.
    ///
    /// Output is bounded: while more than 1 MiB of the response waits for a client that reads slowly, a
    /// chunk cannot be taken. This call cannot wait (it may run on the loop thread), so the response is then
    /// aborted (``abort()``: the client sees the connection close, never a truncated body passed off as whole):
    /// ``isAborted`` turns true and later writes do nothing. An async handler streaming much data should use
    /// ``streamChunk(_:)-(UnsafeRawBufferPointer)``, which waits for room instead.
    public mutating func writeChunk(_ text: String) {
        var text = text
        text.withUTF8 { _ = writeChunkBytes(UnsafeRawBufferPointer($0)) }
    }

    /// Sends `bytes` as one chunk of a chunked body; see ``writeChunk(_:)-(String)``.
    public mutating func writeChunk(_ bytes: some Collection<UInt8>) {
        let done: Void? = bytes.withContiguousStorageIfAvailable { _ = writeChunkBytes(UnsafeRawBufferPointer($0)) }
        if done == nil {
            Array(bytes).withUnsafeBytes { _ = writeChunkBytes($0) }
        }
    }

    /// Sends `bytes` as one chunk of a chunked body; see ``writeChunk(_:)-(String)``.
    public mutating func writeChunk(_ bytes: UnsafeRawBufferPointer) {
        _ = writeChunkBytes(bytes)
    }

    private mutating func writeChunkBytes(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard phase == .streaming ? usable() : startIfNeeded() else { return false }
        let rc = sw_resp_chunk(exchange, bytes.baseAddress, bytes.count)
        if rc == -EAGAIN {
            sw_resp_abort(exchange)  // full, and this caller cannot wait: cut short rather than grow without bound
        }
        return rc == 0
    }

    /// For async handlers: sends `bytes` as one chunk of a chunked body (as ``writeChunk(_:)-(String)``),
    /// suspending first while more than 1 MiB of the response waits to be sent, until half of it is. Memory stays
    /// bounded however slowly the client reads; a client slower than ``ServerConfiguration/Limits/minSendRate``
    /// is disconnected. The bytes are taken before this returns.
    /// - Returns: false when the chunk could not be sent: the connection is gone, or the response was
    ///   finished or aborted.
    @discardableResult
    public mutating func streamChunk(_ bytes: UnsafeRawBufferPointer) async -> Bool {
        while true {
            guard phase == .streaming ? usable() : startIfNeeded() else { return false }
            let rc = sw_resp_chunk(exchange, bytes.baseAddress, bytes.count)
            guard rc == -EAGAIN else { return rc == 0 }
            precondition(owner != nil, "ResponseWriter.streamChunk needs an async handler's writer")
            let exchange = self.exchange
            await withUnsafeContinuation { (continuation: UnsafeContinuation<Void, Never>) in
                let context = unsafeBitCast(continuation, to: UnsafeMutableRawPointer.self)
                if sw_exchange_write_wait(exchange, resumeWriter, context) != 0 {
                    continuation.resume()
                }
            }
        }
    }

    /// As ``streamChunk(_:)-(UnsafeRawBufferPointer)`` with `text`'s UTF-8 bytes.
    @discardableResult
    public mutating func streamChunk(_ text: String) async -> Bool {
        await streamChunk(Array(text.utf8))
    }

    /// As ``streamChunk(_:)-(UnsafeRawBufferPointer)`` with a collection of bytes.
    @discardableResult
    public mutating func streamChunk(_ bytes: some Collection<UInt8> & Sendable) async -> Bool {
        let array = Array(bytes)
        let pointer = UnsafeMutableRawBufferPointer.allocate(byteCount: array.count, alignment: 1)
        defer { pointer.deallocate() }
        array.withUnsafeBytes { pointer.copyMemory(from: $0) }  // a pointer into the array may not cross the await
        return await streamChunk(UnsafeRawBufferPointer(pointer))
    }

    /// Sends the last chunk and finishes a chunked response. Without earlier chunks, the response is a
    /// chunked one with an empty body.
    public mutating func finishChunks() {
        guard phase == .streaming ? usable() : startIfNeeded() else { return }
        sw_resp_chunk_end(exchange)
    }

    // MARK: lending

    /// Moves the writer's state into `slot` (uninitialized memory): a framework that keeps the writer in storage
    /// of its own for an async handler lends it there and gets it back with ``restore(from:)``; `self` must not be
    /// used in between.
    package func lend(to slot: UnsafeMutablePointer<ResponseWriter>) {
        slot.initialize(to: ResponseWriter(exchange: exchange, owner: owner, status: status, contentType: contentType))
    }

    /// Takes back the state lent with ``lend(to:)``, leaving `slot` uninitialized.
    package mutating func restore(from slot: UnsafeMutablePointer<ResponseWriter>) {
        self = slot.move()
    }

    // MARK: server side

    /// Abandons a response that cannot be completed — a stream that failed halfway, say — so the client sees it
    /// cut short instead of a well-formed, truncated answer: what was written is sent, then the connection
    /// closes (HTTP/1.1 has no other way to say "incomplete"). If nothing was written yet, the client gets
    /// `500 Internal Server Error` and the connection closes. Later writes do nothing. No effect on a complete
    /// response.
    public mutating func abort() {
        guard phase != .complete, phase != .aborted else { return }
        owner?.check()
        // The core records it: 500 if nothing was sent, else close after what was; it goes on with the
        // connection when the handler returns (or, for an async handler, when its task lets go of the request).
        sw_resp_abort(exchange)
    }

    /// Finishes what the handler left open (see the type's discussion).
    mutating func finishForHandler() {
        switch phase {
        case .complete, .aborted: return
        case .streaming: finishChunks()
        case .idle, .head: end()
        }
    }

    /// A handler threw: answer 500 when nothing was written; otherwise leave the response incomplete, which
    /// makes the core replace an unsent head with its own 500 or close the connection.
    mutating func fail() {
        guard phase == .idle else { return }
        status = .internalServerError
        contentType = .plainText
        body("Internal Server Error\n" as StaticString)
    }

    /// An async handler threw: as ``fail()``, but a pending connection has no caller to finish it, so an
    /// incomplete response is aborted here (500 if none of it was sent, else close).
    mutating func failPending() {
        guard usable(), phase != .complete else { return }  // an aborted response was aborted already
        if phase == .idle {
            fail()
        } else {
            sw_resp_abort(exchange)
        }
    }
}

/// Why ``ResponseWriter/header(name:value:)`` refused a field.
public struct ResponseWriterError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Why the field was refused.
    public enum Kind: Sendable, Hashable {
        /// The name is empty or has a character outside the token set (RFC 9110 5.6.2).
        case invalidName
        /// The value has a control character: CR, LF, NUL, DEL or another below 0x20 except HTAB.
        case invalidValue
        /// The server writes this field itself: `Content-Length`, `Transfer-Encoding`, `Connection`, `Date`.
        case reservedName
        /// The head is already sent: a body or a chunk was written.
        case headSent
        /// The output buffer could not grow.
        case outOfMemory
    }

    /// Why the field was refused.
    public var kind: Kind
    /// The field name concerned.
    public var name: String

    init(_ kind: Kind, _ name: String) {
        self.kind = kind
        self.name = name
    }

    public var description: String {
        switch kind {
        case .invalidName: "invalid header field name \(name.debugDescription)"
        case .invalidValue: "the value of header field \(name) holds a control character (CR, LF, NUL...)"
        case .reservedName: "header field \(name) is written by the server"
        case .headSent: "header field \(name) comes after the response head was sent"
        case .outOfMemory: "no memory for header field \(name)"
        }
    }
}

/// tchar (RFC 9110 5.6.2): ALPHA, DIGIT and !#$%&'*+-.^_`|~
private func isTokenByte(_ b: UInt8) -> Bool {
    switch b {
    case 0x30...0x39, 0x41...0x5A, 0x61...0x7A: true
    case 0x21, 0x23, 0x24, 0x25, 0x26, 0x27, 0x2A, 0x2B, 0x2D, 0x2E, 0x5E, 0x5F, 0x60, 0x7C, 0x7E: true
    default: false
    }
}

private func isReservedFieldName(_ name: UnsafeRawBufferPointer) -> Bool {
    let view = ByteView(unsafeBytes: name)
    for reserved: StaticString in ["Content-Length", "Transfer-Encoding", "Connection", "Date"] {
        let match = reserved.withUTF8Buffer { view.equalsIgnoringCase(ByteView(unsafeBytes: UnsafeRawBufferPointer($0))) }
        if match { return true }
    }
    return false
}

extension ContentType {
    var cValue: sw_content_type_t {
        switch self {
        case .plainText: SW_CT_TEXT_PLAIN
        case .html: SW_CT_TEXT_HTML
        case .json: SW_CT_JSON
        case .octetStream: SW_CT_OCTET_STREAM
        case .form: SW_CT_FORM
        }
    }
}

/// The wake of a streaming write: resumes the suspended writer (its continuation is the context).
private let resumeWriter: @convention(c) (UnsafeMutableRawPointer?) -> Void = { context in
    unsafeBitCast(context.unsafelyUnwrapped, to: UnsafeContinuation<Void, Never>.self).resume()
}
