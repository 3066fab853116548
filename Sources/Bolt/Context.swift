#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// One request and its response, as a handler and its middleware see them.
///
/// ```swift
/// app.get("/users/:id") { c in
///     guard let id = c.param("id").flatMap(Int.init) else { throw HTTPError(.badRequest, "id must be a number") }
///     try c.json(User(id: id, name: "Ada"))
/// }
/// ```
///
/// Contexts are pooled per event loop and reused: a handler gets one for the length of its request. **Do not
/// keep a context, or a ``ByteView`` from it, after the handler returns** (for an `async` handler: after it
/// returns, even if a ``Timeout`` answered first); copy what you need (`String`s are copies). Touching a context
/// whose request has ended traps with a message saying so. A context belongs to its request's thread and is not
/// `Sendable`.
///
/// Request data is read in place: ``param(_:)``, ``query(_:)`` and ``header(_:)`` return `String`s made on
/// request (parameter strings are cached), and their `…Bytes` forms return views without any copy.
public final class Context {
    // MARK: binding
    //
    // The stored properties skip Swift's dynamic exclusivity checks: a context is used by one request on one
    // thread at a time, and no accessor here hands out overlapping inout access to them. The checks cost about
    // 18 runtime calls per request otherwise (docs/overhead_analysis.md).

    @exclusivity(unchecked) @usableFromInline var requestPointer: UnsafePointer<Request>?
    @exclusivity(unchecked) @usableFromInline var responsePointer: UnsafeMutablePointer<ResponseWriter>?
    /// The route's parameters (views into the request), as the router filled them.
    @exclusivity(unchecked) var routeParams = PathParameters()
    /// The route's parameters, as views into the request: valid until the handler returns.
    public var params: PathParameters {
        checkBound()
        return routeParams
    }
    /// The pattern of the matched route (`/users/:id`), or nil for 404/405 answers.
    public var route: String? { matched?._withUnsafeGuaranteedRef { $0.pattern } }
    /// The matched route, unretained (the app keeps it): no reference counting on a shared object per request.
    @exclusivity(unchecked) var matched: Unmanaged<Responder.CompiledRoute>?
    /// The loop this context belongs to.
    public let loopIndex: Int
    /// For a 405 answer: the methods the path has routes for.
    @exclusivity(unchecked) public internal(set) var allowed = MethodSet()
    /// A ``Timeout`` answered for the handler: its later writes are dropped.
    @exclusivity(unchecked) public internal(set) var timedOut = false

    /// Decoded parameter strings of this request, for the first 8 parameters (bit i of paramCached: valid).
    @exclusivity(unchecked) var paramCache = InlineArray<8, String?>(repeating: nil)
    @exclusivity(unchecked) var paramCached: UInt8 = 0
    /// Fields set before the response starts; written when it does, after the status is final.
    @exclusivity(unchecked) private var pendingHeaders: [(name: String, value: String, keepOnError: Bool)] = []
    @exclusivity(unchecked) var queryPairs = QueryPairs()
    @exclusivity(unchecked) var storage: [(key: ObjectIdentifier, value: Any)] = []
    let settings: AppSettings
    /// The JSON encoder's buffer, kept with the context (tiered sizes; see ``JSONWriter``).
    @exclusivity(unchecked) var json = JSONWriter()

    /// The request ID (``RequestID``), inline: up to 64 bytes, no allocation.
    @exclusivity(unchecked) private var requestIDBytes = InlineArray<64, UInt8>(repeating: 0)
    @exclusivity(unchecked) private var requestIDCount = 0
    /// The field that carries the request ID in the response (written with the other collected fields).
    @exclusivity(unchecked) var requestIDField: String?
    @exclusivity(unchecked) private var random: UInt64

    /// The pool this context comes from and goes back to (which outlives it: the pool holds every free context).
    unowned(unsafe) let pool: LoopContextPool

    /// Contexts of this loop's pool in use now, this one included (requests running, and tasks a ``Timeout``
    /// answered for that have not ended). For tests; read it in a handler, on the loop's thread.
    package var contextsInUseOnThisLoop: Int { pool.inUse }

    /// Where an async request's views live while its handler runs: the context's own memory (allocated once), so
    /// they stay put across suspensions. A request borrowed by an async function is valid for that call, but the
    /// address of the borrowed value is not: the caller may have passed a temporary.
    private let asyncRequest = UnsafeMutablePointer<Request>.allocate(capacity: 1)
    private let asyncResponse = UnsafeMutablePointer<ResponseWriter>.allocate(capacity: 1)

    init(pool: LoopContextPool) {
        self.pool = pool
        self.loopIndex = pool.loopIndex
        self.settings = pool.settings
        var seed = SystemRandomNumberGenerator()
        random = seed.next() | 1
        pendingHeaders.reserveCapacity(8)
        storage.reserveCapacity(4)
    }

    deinit {
        json.release()
        asyncRequest.deallocate()  // never initialized outside an async bind
        asyncResponse.deallocate()
    }

    /// Binds the context to a request for the length of `body`.
    @inline(__always)
    func bind<R>(
        _ request: borrowing Request, _ response: inout ResponseWriter, _ body: (Context) throws -> R
    ) rethrows -> R {
        try withUnsafePointer(to: request) { request in
            try withUnsafeMutablePointer(to: &response) { response in
                requestPointer = request
                responsePointer = response
                defer { unbind() }
                return try body(self)
            }
        }
    }

    /// As ``bind(_:_:_:)`` for an async body. The request's views and the writer move into the context's own
    /// storage for the length of `body` (no pointer to the caller's arguments outlives a suspension); the writer's
    /// state goes back to `response` when `body` ends.
    func bind(
        _ request: borrowing Request, _ response: inout ResponseWriter, _ body: (Context) async throws -> Void
    ) async rethrows {
        asyncRequest.initialize(to: Request(viewOf: request))
        response.lend(to: asyncResponse)
        requestPointer = UnsafePointer(asyncRequest)
        responsePointer = asyncResponse
        defer {
            unbind()
            asyncRequest.deinitialize(count: 1)
            response.restore(from: asyncResponse)
        }
        try await body(self)
    }

    /// The request is over: drop its views and everything derived from them.
    @inline(__always)
    func unbind() {
        requestPointer = nil
        responsePointer = nil
        matched = nil
        paramCached = 0
        queryPairs.reset()
        if !storage.isEmpty { storage.removeAll(keepingCapacity: true) }
        requestIDCount = 0
        requestIDField = nil
        if !pendingHeaders.isEmpty { pendingHeaders.removeAll(keepingCapacity: true) }
        allowed = MethodSet()
        timedOut = false
    }

    // MARK: request ID

    /// The request's ID, set by ``RequestID`` (nil without it).
    public var requestID: String? {
        requestIDCount == 0 ? nil : withRequestID { $0.string }
    }

    func setRequestID(_ id: ByteView) {
        requestIDCount = min(id.count, 64)
        for (i, byte) in id.prefix(64).enumerated() { requestIDBytes[i] = byte }
    }

    /// A new random ID of 16 hex digits (xorshift64*, seeded per context from the system's generator).
    func generateRequestID() {
        random ^= random >> 12
        random ^= random << 25
        random ^= random >> 27
        var value = random &* 0x2545_F491_4F6C_DD1D
        let digits: StaticString = "0123456789abcdef"
        for i in 0..<16 {
            requestIDBytes[i] = digits.utf8Start[Int(value & 0xF)]
            value >>= 4
        }
        requestIDCount = 16
    }

    func withRequestID<R>(_ body: (ByteView) throws -> R) rethrows -> R {
        try requestIDBytes.span.withUnsafeBufferPointer { buffer in
            try body(ByteView(unsafeBytes: UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: buffer[..<requestIDCount]))))
        }
    }

    @usableFromInline var request: UnsafePointer<Request> {
        guard let requestPointer else { ended() }
        return requestPointer
    }

    @usableFromInline var response: UnsafeMutablePointer<ResponseWriter> {
        guard let responsePointer else { ended() }
        return responsePointer
    }

    /// The writer, with the collected fields written into its head: call once the status is final.
    @usableFromInline var writer: UnsafeMutablePointer<ResponseWriter> {
        let response = self.response
        if !pendingHeaders.isEmpty || requestIDField != nil { flushHeaders(response) }
        return response
    }

    private func flushHeaders(_ response: UnsafeMutablePointer<ResponseWriter>) {
        for field in pendingHeaders {
            response.pointee.header(checkedName: field.name, value: field.value)  // checked by setHeader
        }
        pendingHeaders.removeAll(keepingCapacity: true)
        if let name = requestIDField {
            requestIDField = nil
            withRequestID { id in response.pointee.header(checkedName: name, value: id) }  // checked by RequestID
        }
    }

    /// Traps when the context is not bound to a request (its request ended).
    @inlinable @inline(__always) func checkBound() {
        if requestPointer == nil { ended() }
    }

    @usableFromInline func ended() -> Never {
        fatalError("Bolt: a Context was used after its request ended; copy what you keep out of it before the handler returns")
    }

    // MARK: request

    /// The request method.
    @inlinable public var method: HTTPMethod { request.pointee.method }
    /// The path as sent (still percent-encoded), without the query.
    @inlinable public var path: ByteView { request.pointee.path }
    /// The query as sent, without `?` (empty when there is none).
    @inlinable public var rawQuery: ByteView { request.pointee.query }
    /// The request's header fields.
    @inlinable public var headers: RequestHeaders { request.pointee.headers }
    /// The request body's bytes (empty when there is none); valid until the handler returns.
    @inlinable public var body: ByteView { request.pointee.body }
    /// The body as UTF-8 text (a copy).
    public var bodyString: String { body.string }
    /// The request itself, for everything else Shockwave offers (version, Host, framing facts).
    public func withRequest<R>(_ body: (borrowing Request) throws -> R) rethrows -> R {
        try body(request.pointee)
    }

    /// The path parameter `name` (`:name` or `*name` in the route), percent-decoded, or nil when the route has
    /// none. The first call per parameter decodes; later ones return the cached string.
    public func param(_ name: String) -> String? {
        var name = name
        checkBound()
        guard let index = name.withUTF8({ routeParams.index(of: $0) }) else { return nil }
        return cachedParam(index)
    }

    /// As ``param(_:)`` for a literal name.
    public func param(_ name: StaticString) -> String? {
        checkBound()
        guard let index = name.withUTF8Buffer({ routeParams.index(of: $0) }) else { return nil }
        return cachedParam(index)
    }

    /// The raw (still percent-encoded) bytes of the path parameter `name`, without a copy.
    public func paramBytes(_ name: StaticString) -> ByteView? {
        checkBound()
        return routeParams[name]
    }

    private func cachedParam(_ index: Int) -> String {
        guard index < 8 else { return routeParams.value(at: index).percentDecodedString }
        let bit = UInt8(1) << UInt8(index)
        if paramCached & bit != 0, let cached = paramCache[index] { return cached }
        let value = routeParams.value(at: index).percentDecodedString
        paramCache[index] = value
        paramCached |= bit
        return value
    }

    /// The first value of the query parameter `name`, decoded as a form value (`+` is a space, `%XX` a byte),
    /// or nil. The query is split once, on first use, into views kept with the context.
    public func query(_ name: String) -> String? {
        parseQueryIfNeeded()
        return queryPairs.first(named: name, in: rawQuery)
    }

    /// Every value of the query parameter `name`, in order.
    public func queryValues(_ name: String) -> [String] {
        parseQueryIfNeeded()
        return queryPairs.all(named: name, in: rawQuery)
    }

    private func parseQueryIfNeeded() {
        if !queryPairs.parsed { queryPairs.parse(rawQuery) }
    }

    /// The first value of the header field `name` (case-insensitive), or nil.
    public func header(_ name: String) -> String? {
        headers.first(named: name)?.string
    }

    /// The first value of the header field `name` (case-insensitive) as a view, without a copy.
    public func headerBytes(_ name: StaticString) -> ByteView? { headers[name] }

    /// The value of the cookie `name` from the `Cookie` header(s), or nil.
    public func cookie(_ name: String) -> String? {
        var name = name
        return name.withUTF8 { wanted -> String? in
            for field in headers where field.name.count == 6 && field.name.lowercasedASCII == "cookie" {
                if let value = cookieValue(named: wanted, in: field.value) { return value }
            }
            return nil
        }
    }

    /// The body's form fields (`application/x-www-form-urlencoded`): the first value of `name`, decoded.
    public func formValue(_ name: String) -> String? {
        var pairs = QueryPairs()
        pairs.parse(body)
        return pairs.first(named: name, in: body)
    }

    /// Decodes the JSON body as `T`.
    ///
    /// - Throws: ``HTTPError`` 400 with the decoder's reason when the body is not valid JSON for `T`, 415 when
    ///   the request says its body is another media type.
    public func decode<T: Decodable>(_ type: T.Type = T.self) throws -> T {
        if let contentType = headers["Content-Type"], !contentType.isEmpty, !isJSONMediaType(contentType) {
            throw HTTPError(.unsupportedMediaType, "expected an application/json body")
        }
        return try JSONBody.decode(type, from: body)
    }

    // MARK: per-request storage

    /// Typed storage for middleware and handlers, emptied when the request ends:
    /// `c[UserKey.self] = user` in an auth middleware, `c[UserKey.self]` in the handler.
    public subscript<Key: ContextKey>(key: Key.Type) -> Key.Value? {
        get {
            let id = ObjectIdentifier(key)
            for entry in storage where entry.key == id { return entry.value as? Key.Value }
            return nil
        }
        set {
            let id = ObjectIdentifier(key)
            if let index = storage.firstIndex(where: { $0.key == id }) {
                if let newValue { storage[index].value = newValue } else { storage.remove(at: index) }
            } else if let newValue {
                storage.append((id, newValue))
            }
        }
    }

    // MARK: response

    /// The status of the response, until it starts (default 200).
    public var status: HTTPStatus {
        get { response.pointee.status }
        set {
            if !timedOut && !response.pointee.isStarted { response.pointee.status = newValue }
        }
    }

    /// Whether the response has been started (its head written).
    public var isResponseStarted: Bool { response.pointee.isStarted }

    /// Whether the response is complete.
    public var isResponseComplete: Bool { response.pointee.isComplete }

    /// Adds a response header field (validated: no CR/LF smuggling; see ``ResponseWriter/header(name:value:)``).
    ///
    /// Fields are collected and written when the response starts, so the status can still be set afterwards.
    /// If the request then fails (an error reaches the error handler before the response started), the fields
    /// collected so far are dropped — a `Set-Cookie` or `Location` meant for the success must not ride on a 401
    /// or a 500 — except those set with `keepOnError: true`, which belong on every answer (``CORS`` sets its
    /// fields so, or a browser could not read the error). An ``HTTPError`` carries fields of its own for the
    /// error response.
    public func setHeader(_ name: String, _ value: String, keepOnError: Bool = false) throws {
        if timedOut { return }
        try ResponseWriter.validateField(name: name, value: value)
        if response.pointee.isStarted {
            try response.pointee.header(name: name, value: value)
        } else {
            pendingHeaders.append((name, value, keepOnError))
        }
    }

    /// Answers `error` with the app's error handler (what ``Recover`` and the app do with a thrown error).
    ///
    /// Before the response started: the collected fields not marked `keepOnError` are dropped, then the error
    /// handler answers. After it started (a stream that fails halfway): it can no longer be answered, and it
    /// must not be ended as if it were whole either, so it is aborted (``ResponseWriter/abort()``: the client
    /// sees the connection close after what was sent).
    func fail(with error: any Error) {
        if !response.pointee.isStarted, !pendingHeaders.isEmpty {
            pendingHeaders.removeAll { !$0.keepOnError }
        }
        settings.errorHandler(self, error)
        abortIfIncomplete()
    }

    /// Aborts a response that started and cannot be completed any more (see ``fail(with:)``).
    func abortIfIncomplete() {
        let response = self.response
        if response.pointee.isStarted && !response.pointee.isComplete { response.pointee.abort() }
    }

    /// Sets the status and content type (unless the response already started) and writes the collected fields:
    /// the writer, ready for the body.
    @inline(__always)
    private func begin(_ status: HTTPStatus?, _ type: ContentType?) -> UnsafeMutablePointer<ResponseWriter> {
        let response = self.response
        if !response.pointee.isStarted {
            if let status { response.pointee.status = status }
            if let type { response.pointee.contentType = type }
        }
        return writer
    }

    /// Answers with `text` as `text/plain; charset=utf-8`, with `status` (or the status set before, 200 by
    /// default). The other answering methods take `status` the same way.
    ///
    /// A string literal without interpolation goes to ``text(_:status:)-(StaticString,_)`` instead, which sends it
    /// from where it lies.
    @_disfavoredOverload
    public func text(_ text: String, status: HTTPStatus? = nil) {
        if timedOut { return }
        begin(status, .plainText).pointee.body(text)
    }

    /// Answers with static text, sent without a copy.
    public func text(_ text: StaticString, status: HTTPStatus? = nil) {
        if timedOut { return }
        begin(status, .plainText).pointee.body(text)
    }

    /// Answers with `html` as `text/html; charset=utf-8`.
    @_disfavoredOverload
    public func html(_ html: String, status: HTTPStatus? = nil) {
        if timedOut { return }
        begin(status, .html).pointee.body(html)
    }

    /// Answers with static HTML, sent without a copy (string literals come here).
    public func html(_ html: StaticString, status: HTTPStatus? = nil) {
        if timedOut { return }
        begin(status, .html).pointee.body(html)
    }

    /// Answers with `value` encoded as JSON (``JSONWriter``: straight into a pooled buffer, then the response).
    public func json<T: Encodable>(_ value: T, status: HTTPStatus? = nil) throws {
        if timedOut { return }
        try json.encode(value)
        let writer = begin(status, .json)
        json.withBytes { writer.pointee.body($0) }
    }

    /// Answers with JSON text written once, such as `#"{"ok":true}"#`: sent without encoding or copying.
    public func json(precompiled: StaticString, status: HTTPStatus? = nil) {
        if timedOut { return }
        begin(status, .json).pointee.body(precompiled)
    }

    /// Answers with bytes, as `contentType` (default `application/octet-stream`).
    public func data(_ bytes: some Collection<UInt8>, contentType: ContentType = .octetStream, status: HTTPStatus? = nil) {
        if timedOut { return }
        begin(status, contentType).pointee.body(bytes)
    }

    /// Answers with bytes of a media type the precompiled ``ContentType`` table lacks (`image/png`).
    public func data(_ bytes: some Collection<UInt8>, mediaType: String, status: HTTPStatus? = nil) throws {
        if timedOut { return }
        try setHeader("Content-Type", mediaType)
        begin(status, nil).pointee.body(bytes)
    }

    /// Answers with a status and no body.
    public func status(_ status: HTTPStatus) {
        if timedOut { return }
        begin(status, nil).pointee.end()
    }

    /// Answers 204 No Content.
    public func noContent() { status(.noContent) }

    /// Redirects to `location` (302 Found unless told otherwise: 301, 303, 307, 308).
    public func redirect(to location: String, status: HTTPStatus = .found) throws {
        if timedOut { return }
        try setHeader("Location", location)
        begin(status, nil).pointee.end()
    }

    /// Adds a `Set-Cookie` field.
    public func setCookie(_ cookie: Cookie) throws {
        try setHeader("Set-Cookie", cookie.headerValue)
    }

    /// Answers with the file at `path`, sent with `sendfile` (no copy through user space), with its media type
    /// guessed from the extension (``MediaTypes``).
    ///
    /// - Throws: ``HTTPError`` 404 when the file does not exist or is not a regular file, 403 when it cannot be
    ///   read.
    public func file(_ path: String, mediaType: String? = nil) throws {
        if timedOut { return }
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw errno == EACCES ? HTTPError(.forbidden) : HTTPError(.notFound)
        }
        var info = stat()
        guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else {
            close(fd)
            throw HTTPError(.notFound)
        }
        do {
            try setHeader("Content-Type", mediaType ?? MediaTypes.forPath(path))
        } catch {
            close(fd)
            throw error
        }
        begin(nil, nil).pointee.file(descriptor: fd, length: UInt64(info.st_size))
    }

    /// Writes to the response directly (streaming with chunks, say).
    /// After a ``Timeout`` answered, `body` gets a writer whose output goes nowhere.
    public func withResponse<R>(_ body: (inout ResponseWriter) throws -> R) rethrows -> R {
        try body(&writer.pointee)
    }
}

/// A key of a context's per-request storage, naming the type of its value.
///
/// ```swift
/// enum UserKey: ContextKey { typealias Value = User }
/// ```
public protocol ContextKey {
    associatedtype Value
}

extension ByteView {
    /// The bytes with ASCII letters lower-cased, as a String (for short tokens).
    var lowercasedASCII: String {
        String(decoding: map { $0 >= 0x41 && $0 <= 0x5A ? $0 | 0x20 : $0 }, as: UTF8.self)
    }
}

/// Whether a Content-Type value is JSON (`application/json`, `application/problem+json`, with parameters).
func isJSONMediaType(_ value: ByteView) -> Bool {
    var type = value
    if let semicolon = type.firstIndex(of: UInt8(ascii: ";")) { type = type[..<semicolon] }
    while let last = type.last, last == UInt8(ascii: " ") { type = type.dropLast() }
    let lower = type.map { $0 | 0x20 }
    let text = String(decoding: lower, as: UTF8.self)
    return text == "application/json" || (text.hasPrefix("application/") && text.hasSuffix("+json"))
}

/// The value of cookie `name` in one `Cookie` field value (`a=1; b=2`), or nil.
func cookieValue(named name: UnsafeBufferPointer<UInt8>, in field: ByteView) -> String? {
    var index = field.startIndex
    while index < field.endIndex {
        while index < field.endIndex, field[index] == UInt8(ascii: " ") || field[index] == UInt8(ascii: ";") {
            index += 1
        }
        let pairStart = index
        while index < field.endIndex, field[index] != UInt8(ascii: ";") { index += 1 }
        let pair = field[pairStart..<index]
        guard let equals = pair.firstIndex(of: UInt8(ascii: "=")) else { continue }
        let key = pair[..<equals]
        if key.count == name.count && zip(key, name).allSatisfy({ $0 == $1 }) {
            var value = pair[(equals + 1)...]
            if value.count >= 2, value.first == UInt8(ascii: "\""), value.last == UInt8(ascii: "\"") {
                value = value.dropFirst().dropLast()
            }
            return value.string
        }
    }
    return nil
}
