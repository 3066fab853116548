internal import CShockwave

/// A request as the parser saw it: method, target, version, header fields and body, viewed in place in the
/// connection's read buffer.
///
/// A handler receives it `borrowing`. Every ``ByteView`` it hands out is **valid until the handler returns**
/// (for an async handler, until its response is complete): copy what you keep. Reading any part of it
/// allocates nothing; the `String` accessors (``ByteView/string``) allocate on demand.
///
/// It belongs to the loop thread that runs the handler and is neither copyable nor `Sendable`.
public struct Request: ~Copyable {
    /// An (offset, length) pair into the head buffer, as the C parser reports it.
    @usableFromInline struct Extent {
        @usableFromInline let offset: UInt32
        @usableFromInline let length: UInt32
        @inlinable init(offset: UInt32, length: UInt32) {
            self.offset = offset
            self.length = length
        }
    }

    @usableFromInline let buffer: UnsafePointer<UInt8>
    /// The parser's field table: `count` entries of four UInt32 (name offset, name length, value offset,
    /// value length); Server checks this layout of `sw_header_t` once at start.
    @usableFromInline let fieldTable: UnsafeRawPointer?
    @usableFromInline let fieldCount: Int
    @usableFromInline let methodExtent: Extent
    @usableFromInline let targetExtent: Extent
    @usableFromInline let pathExtent: Extent
    @usableFromInline let queryExtent: Extent
    @usableFromInline let hostExtent: Extent
    @usableFromInline let flags: UInt32
    @usableFromInline let contentLengthValue: UInt64
    @usableFromInline let bodyStart: UnsafePointer<UInt8>?
    @usableFromInline let bodyCount: Int
    @usableFromInline let versionMinor: UInt8
    /// The exchange and the request's id on it, for body reads (``readBodyChunk()``).
    let exchange: UnsafeMutablePointer<sw_exchange_t>
    let exchangeID: UInt64
    let bodyStreamed: Bool

    /// The method; for ``HTTPMethod/other``, ``methodBytes`` has the token.
    public let method: HTTPMethod
    /// The index of the event loop (0 up to the loop count) running this request; per-loop state such as a
    /// pool can be indexed by it without locks.
    public let loopIndex: Int

    /// A view of the C request. Only the trampoline builds one, on the loop thread.
    init(_ view: UnsafePointer<sw_http_request_t>, exchange: UnsafeMutablePointer<sw_exchange_t>, loopIndex: Int) {
        let head = view.pointee.head.unsafelyUnwrapped
        let buffer = UnsafeRawPointer(view.pointee.buf.unsafelyUnwrapped).assumingMemoryBound(to: UInt8.self)
        self.buffer = buffer
        self.fieldTable = UnsafeRawPointer(head.pointee.headers)
        self.fieldCount = Int(head.pointee.num_headers)
        self.methodExtent = Extent(offset: head.pointee.method.off, length: head.pointee.method.len)
        self.targetExtent = Extent(offset: head.pointee.target.off, length: head.pointee.target.len)
        self.pathExtent = Extent(offset: head.pointee.path.off, length: head.pointee.path.len)
        self.queryExtent = Extent(offset: head.pointee.query.off, length: head.pointee.query.len)
        self.hostExtent = Extent(offset: head.pointee.host.off, length: head.pointee.host.len)
        self.flags = head.pointee.flags
        self.contentLengthValue = head.pointee.content_length
        self.bodyStart = view.pointee.body
        self.bodyCount = Int(view.pointee.body_len)
        self.versionMinor = head.pointee.version_minor
        self.method = HTTPMethod(cMethod: head.pointee.method_id)
        self.loopIndex = loopIndex
        self.exchange = exchange
        self.exchangeID = view.pointee.exchange_id
        self.bodyStreamed = view.pointee.streamed != 0
    }

    /// A second view of the same request, with the same lifetime rules: for a framework that keeps the request
    /// in storage of its own, where a handler's suspensions cannot move it (Bolt's async contexts). A borrowed
    /// `Request` is valid for the call that received it; its address is not, once that call suspends.
    package init(viewOf other: borrowing Request) {
        buffer = other.buffer
        fieldTable = other.fieldTable
        fieldCount = other.fieldCount
        methodExtent = other.methodExtent
        targetExtent = other.targetExtent
        pathExtent = other.pathExtent
        queryExtent = other.queryExtent
        hostExtent = other.hostExtent
        flags = other.flags
        contentLengthValue = other.contentLengthValue
        bodyStart = other.bodyStart
        bodyCount = other.bodyCount
        versionMinor = other.versionMinor
        exchange = other.exchange
        exchangeID = other.exchangeID
        bodyStreamed = other.bodyStreamed
        method = other.method
        loopIndex = other.loopIndex
    }

    @inlinable func bytes(_ extent: Extent) -> ByteView {
        ByteView(start: buffer + Int(extent.offset), count: Int(extent.length))
    }

    /// The method token as sent (`GET`, `PROPFIND`).
    @inlinable public var methodBytes: ByteView { bytes(methodExtent) }

    /// The request target as sent: `/search?q=swift`, `http://example.com/x`, `example.com:443` (CONNECT) or
    /// `*` (OPTIONS).
    @inlinable public var target: ByteView { bytes(targetExtent) }

    /// The path, from the first `/` up to `?` or the end, not percent-decoded. Empty for an absolute-form
    /// target without a path (which means `/`) and for CONNECT; `*` for an asterisk-form OPTIONS.
    @inlinable public var path: ByteView { bytes(pathExtent) }

    /// The query after `?`, not percent-decoded; empty when there is none (see ``hasQuery``).
    @inlinable public var query: ByteView { bytes(queryExtent) }

    /// The request's HTTP version: ``HTTPVersion/http1_1`` or ``HTTPVersion/http1_0``.
    @inlinable public var version: HTTPVersion { HTTPVersion(major: 1, minor: Int(versionMinor)) }

    /// The header fields in the order sent, names as sent; values without surrounding whitespace.
    @inlinable public var headers: RequestHeaders {
        RequestHeaders(buffer: buffer, table: fieldTable, count: fieldCount)
    }

    /// The whole body: `Content-Length` bytes, or a chunked body already de-chunked. Empty when there is none, and
    /// when the handler streams it (``RequestBodyMode/streamed``; read it with ``readBodyChunk()`` then).
    @inlinable public var body: ByteView { ByteView(start: bodyStart, count: bodyCount) }

    /// The host the request is for: the `Host` field's value, or `nil` when absent (allowed in HTTP/1.0 only). For
    /// an absolute-form target (`GET http://example.com/x`) it is the target's authority (`example.com`, with the
    /// port when one is given), whatever the `Host` field says (RFC 9112 3.2.2).
    public var host: ByteView? { flags & UInt32(SW_F_HOST) != 0 ? bytes(hostExtent) : nil }

    /// Whether the target has a `?` (the query may still be empty).
    public var hasQuery: Bool { flags & UInt32(SW_F_HAS_QUERY) != 0 }

    /// Whether the client allows the connection to persist after this exchange: HTTP/1.1 without
    /// `Connection: close`, or HTTP/1.0 with `Connection: keep-alive`. The server may still close it (limits,
    /// shutdown).
    public var keepAlive: Bool { flags & UInt32(SW_F_KEEP_ALIVE) != 0 }

    /// The announced `Content-Length`, or `nil` when the request had none (no body, or chunked).
    public var contentLength: Int? {
        flags & UInt32(SW_F_CONTENT_LENGTH) != 0 ? Int(truncatingIfNeeded: contentLengthValue) : nil
    }

    /// Whether the body came with `Transfer-Encoding: chunked` (``body`` holds it de-chunked).
    public var isChunked: Bool { flags & UInt32(SW_F_CHUNKED) != 0 }

    /// Whether the client sent `Expect: 100-continue` (the server answers `100 Continue` when it starts reading
    /// the body: before a buffered body, at the handler's first read of a streamed one).
    public var expectsContinue: Bool { flags & UInt32(SW_F_EXPECT_CONTINUE) != 0 }

    /// The raw value of the first query parameter called `name` (`q` in `?q=swift&page=2` gives `swift`),
    /// not percent-decoded; an empty view for `?q` or `?q=`; `nil` when absent.
    @inlinable public func queryParameter(_ name: StaticString) -> ByteView? {
        let query = self.query
        var start = query.startIndex
        while start < query.endIndex {
            var end = start
            while end < query.endIndex && query[end] != 0x26 { end += 1 }  // '&'
            let pair = query[start..<end]
            var equals = pair.startIndex
            while equals < pair.endIndex && pair[equals] != 0x3D { equals += 1 }  // '='
            if pair[pair.startIndex..<equals] == name {
                return equals < pair.endIndex ? pair[(equals + 1)..<pair.endIndex] : pair[equals..<equals]
            }
            start = end + 1
        }
        return nil
    }
}

extension HTTPMethod {
    init(cMethod id: UInt8) {
        switch UInt32(id) {
        case SW_METHOD_GET.rawValue: self = .get
        case SW_METHOD_HEAD.rawValue: self = .head
        case SW_METHOD_POST.rawValue: self = .post
        case SW_METHOD_PUT.rawValue: self = .put
        case SW_METHOD_DELETE.rawValue: self = .delete
        case SW_METHOD_CONNECT.rawValue: self = .connect
        case SW_METHOD_OPTIONS.rawValue: self = .options
        case SW_METHOD_TRACE.rawValue: self = .trace
        case SW_METHOD_PATCH.rawValue: self = .patch
        default: self = .other
        }
    }
}
