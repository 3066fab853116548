/// Turns an error thrown further in (by the handler or inner middleware) into a response right here, with the
/// app's error handler, so middleware outside it (``Logger``, ``CORS``) sees a normal answer and the connection
/// lives on. Without it the app answers the error too, but only after every middleware has unwound.
///
/// Swift traps (a failed `precondition`, a force-unwrapped nil) cannot be caught by any middleware: they end the
/// process. Keep them out of request handling.
public struct Recover: Middleware, AsyncMiddleware {
    public init() {}

    public func handle(_ c: Context, next: Next) throws {
        do { try next() } catch { c.fail(with: error) }
    }

    public func handle(_ c: Context, next: AsyncNext) async throws {
        do { try await next() } catch { c.fail(with: error) }
    }
}

/// Refuses request bodies larger than `maxBytes` with 413 (a smaller limit for some routes than the server's
/// `limits.maxBody`, which applies before any route is chosen).
public struct BodyLimit: Middleware, AsyncMiddleware {
    /// The largest body accepted, in bytes.
    public let maxBytes: Int

    public init(_ maxBytes: Int) { self.maxBytes = maxBytes }

    private func check(_ c: Context) throws {
        if c.body.count > maxBytes {
            throw HTTPError(.contentTooLarge, "the body is larger than \(maxBytes) bytes")
        }
    }

    public func handle(_ c: Context, next: Next) throws {
        try check(c)
        try next()
    }

    public func handle(_ c: Context, next: AsyncNext) async throws {
        try check(c)
        try await next()
    }
}

/// Gives every request an ID: the client's `X-Request-ID` when it is a sane token (1 to 64 of
/// `A-Z a-z 0-9 - _ . :`), else a new random one (16 hex digits); sent back in the response's `X-Request-ID`
/// and readable as ``Context/requestID``. Generating one allocates nothing.
public struct RequestID: Middleware, AsyncMiddleware {
    /// The header field carrying the ID.
    public let headerName: String

    /// - Precondition: `headerName` is a valid field name.
    public init(headerName: String = "X-Request-ID") {
        precondition((try? ResponseWriter.validateField(name: headerName, value: "")) != nil, "RequestID: invalid header name \(headerName)")
        self.headerName = headerName
    }

    private func assign(_ c: Context) {
        var name = headerName
        let incoming = name.withUTF8 { c.headers.first(named: $0) }
        if let incoming, incoming.count >= 1, incoming.count <= 64, incoming.allSatisfy(isIDByte) {
            c.setRequestID(incoming)
        } else {
            c.generateRequestID()
        }
        c.requestIDField = headerName  // written when the response starts, without a String for the value
    }

    public func handle(_ c: Context, next: Next) throws {
        assign(c)
        try next()
    }

    public func handle(_ c: Context, next: AsyncNext) async throws {
        assign(c)
        try await next()
    }
}

@inline(__always) func asciiLower(_ b: UInt8) -> UInt8 { b >= 0x41 && b <= 0x5A ? b | 0x20 : b }

private func isIDByte(_ b: UInt8) -> Bool {
    (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x2D || b == 0x5F
        || b == 0x2E || b == 0x3A
}

extension RequestHeaders {
    /// The first field named `name` (case-insensitive), given as UTF-8 bytes.
    func first(named name: UnsafeBufferPointer<UInt8>) -> ByteView? {
        for field in self where field.name.count == name.count
            && zip(field.name, name).allSatisfy({ asciiLower($0) == asciiLower($1) })
        {
            return field.value
        }
        return nil
    }
}
